//! Broker leases: registration, heartbeats and fencing (Kafka's `BrokerHeartbeatManager` on the
//! controller side, `BrokerLifecycleManager` on the broker side).
//!
//! It exists because a cluster must know which brokers are alive: a partition led by a dead
//! broker must show no leader (until replication gives it another), and clients must not be sent
//! to a broker that is gone. A broker registers with a new incarnation id at every start
//! ([`MetadataRecord::RegisterBroker`]) and is unfenced at once (it has applied the log up to its
//! registration). Afterwards it heartbeats the active controller every
//! `broker.heartbeat.interval.ms` ([`super::rpc::BROKER_HEARTBEAT`] when another node leads).
//! The active controller keeps, in memory only, when it last heard from each broker; a broker
//! not heard from for `broker.session.timeout.ms` is fenced ([`MetadataRecord::FenceBroker`]).
//! A fenced broker that heartbeats again is unfenced; one whose registration the controller
//! does not know (another incarnation registered since) is told to register again.
//!
//! A controller never fences the node it runs on (it is alive: it is running this), and a new
//! active controller counts every broker as heard from when it took over, so an election does
//! not fence the cluster.
//!
//! Leadership follows in the records themselves (see [`super::records`]): applying a fence or
//! unfence moves the broker's partitions' leaders and bumps their epochs on every node alike.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Raft};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

use super::records::MetadataRecord;
use super::store::Applied;
use super::{ClusterState, MetadataBatch, TypeConfig};

/// A broker's heartbeat ([`super::rpc::BROKER_HEARTBEAT`]'s request body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The broker's id.
    pub id: i32,
    /// Its incarnation (from its registration).
    pub incarnation: Uuid,
}

/// The active controller's answer to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeartbeatAnswer {
    /// Heard; the broker is unfenced (again, if it was fenced).
    Alive,
    /// The controller knows no registration of this incarnation: register again.
    Reregister,
    /// This node is not the active controller (the leader, if known).
    NotController(Option<u64>),
}

/// The active controller's record of when it last heard from each broker (see the module docs).
#[derive(Debug)]
pub struct Leases {
    /// `broker.session.timeout.ms`.
    session_timeout: Duration,
    /// Broker id → (incarnation, when its last heartbeat arrived).
    seen: Mutex<HashMap<i32, (Uuid, Instant)>>,
}

impl Leases {
    /// Leases that expire after `session_timeout`.
    pub fn new(session_timeout: Duration) -> Leases {
        Leases {
            session_timeout,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<i32, (Uuid, Instant)>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When `id`'s incarnation `incarnation` was last heard from, if it was.
    fn last_heard(&self, id: i32, incarnation: Uuid) -> Option<Instant> {
        self.seen()
            .get(&id)
            .filter(|(i, _)| *i == incarnation)
            .map(|(_, at)| *at)
    }
}

/// Whether `raft` is the active controller now, else who is.
fn leader_elsewhere(raft: &Raft<TypeConfig>) -> Option<Option<u64>> {
    let m = raft.metrics().borrow().clone();
    (m.current_leader != Some(m.id)).then_some(m.current_leader)
}

/// Answer a heartbeat on the active controller: note it, unfence a fenced broker of that
/// incarnation, or ask an unknown incarnation to register again.
pub(super) async fn heartbeat(
    raft: &Raft<TypeConfig>,
    applied: &watch::Receiver<Applied<TypeConfig, ClusterState>>,
    leases: &Leases,
    hb: Heartbeat,
) -> Result<HeartbeatAnswer, RaftError<u64, ClientWriteError<u64, BasicNode>>> {
    if let Some(leader) = leader_elsewhere(raft) {
        return Ok(HeartbeatAnswer::NotController(leader));
    }
    let state = applied.borrow().state.clone();
    let Some(b) = state
        .brokers
        .get(&hb.id)
        .filter(|b| b.incarnation == hb.incarnation)
    else {
        return Ok(HeartbeatAnswer::Reregister);
    };
    leases
        .seen()
        .insert(hb.id, (hb.incarnation, Instant::now()));
    if b.fenced {
        raft.client_write(MetadataBatch(vec![MetadataRecord::UnfenceBroker {
            id: hb.id,
            incarnation: hb.incarnation,
        }]))
        .await?;
        info!(broker = hb.id, incarnation = %hb.incarnation, "unfenced broker: heartbeats resumed");
    }
    Ok(HeartbeatAnswer::Alive)
}

/// The active controller's fencing loop: every quarter session timeout, fence each unfenced
/// broker (other than `node`) not heard from within the session timeout. Runs until `stop`.
pub(super) async fn fence_expired(
    raft: Raft<TypeConfig>,
    applied: watch::Receiver<Applied<TypeConfig, ClusterState>>,
    leases: std::sync::Arc<Leases>,
    node: i32,
    stop: CancellationToken,
) {
    let tick = (leases.session_timeout / 4).max(Duration::from_millis(20));
    // When this node last became the active controller (None: it is not).
    let mut leading_since: Option<Instant> = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(tick) => {}
        }
        if leader_elsewhere(&raft).is_some() {
            leading_since = None;
            continue;
        }
        let since = *leading_since.get_or_insert_with(Instant::now);
        let state = applied.borrow().state.clone();
        let now = Instant::now();
        let mut records = Vec::new();
        for (id, b) in state.live_brokers().filter(|(id, _)| *id != node) {
            let heard = leases
                .last_heard(id, b.incarnation)
                .map_or(since, |at| at.max(since));
            if now.duration_since(heard) > leases.session_timeout {
                warn!(broker = id, incarnation = %b.incarnation,
                    session_timeout_ms = u64::try_from(leases.session_timeout.as_millis()).unwrap_or(u64::MAX),
                    "fencing broker: no heartbeat within broker.session.timeout.ms");
                records.push(MetadataRecord::FenceBroker {
                    id,
                    incarnation: b.incarnation,
                    controlled: false,
                });
            }
        }
        if !records.is_empty() {
            if let Err(e) = raft.client_write(MetadataBatch(records)).await {
                warn!(error = %e, "cannot record the fencing of brokers");
            }
        }
    }
}
