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
    pub(super) session_timeout: Duration,
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

    /// When `id`'s incarnation `incarnation` was last heard from; an incarnation not heard from
    /// yet (it registered a moment ago: registering unfences it) counts as heard from now, so it
    /// gets a whole session to send its first heartbeat.
    fn last_heard(&self, id: i32, incarnation: Uuid) -> Instant {
        let mut seen = self.seen();
        match seen.get(&id) {
            Some((i, at)) if *i == incarnation => *at,
            _ => {
                let now = Instant::now();
                seen.insert(id, (incarnation, now));
                now
            }
        }
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
            let heard = leases.last_heard(id, b.incarnation).max(since);
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

/// A periodic task of the active controller: every `tick`, while this node leads the quorum,
/// propose the records `plan` makes of the applied state (nothing when it makes none); `what`
/// names them in the logs. Runs until `stop`. The automatic preferred-leader election
/// (`auto.leader.rebalance.enable`, [`preferred_elections`]) and the unclean elections
/// ([`unclean_elections`]) run on it.
pub(super) async fn on_active_controller(
    raft: Raft<TypeConfig>,
    applied: watch::Receiver<Applied<TypeConfig, ClusterState>>,
    tick: Duration,
    what: &'static str,
    plan: impl Fn(&ClusterState) -> Vec<MetadataRecord> + Send + 'static,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(tick) => {}
        }
        if leader_elsewhere(&raft).is_some() {
            continue;
        }
        let state = applied.borrow().state.clone();
        let records = plan(&state);
        if records.is_empty() {
            continue;
        }
        warn!(partitions = records.len(), "{what}");
        if let Err(e) = raft.client_write(MetadataBatch(records)).await {
            warn!(error = %e, "cannot record: {what}");
        }
    }
}

/// The unclean elections for `state`: a partition left without a leader (its last in-sync
/// replica fenced) whose topic enables `unclean.leader.election.enable` (its own override, else
/// `default`, the controller's broker setting) gets its first live replica, out of sync or not
/// ([`MetadataRecord::ElectLeader`] logs what may be lost).
pub(super) fn unclean_elections(state: &ClusterState, default: bool) -> Vec<MetadataRecord> {
    let live: Vec<i32> = state.live_brokers().map(|(id, _)| id).collect();
    let mut records = Vec::new();
    for t in state.topics.values() {
        let enabled = t
            .configs
            .get("unclean.leader.election.enable")
            .map_or(default, |v| v.eq_ignore_ascii_case("true"));
        if !enabled {
            continue;
        }
        for (i, p) in t.partitions.iter().enumerate() {
            if p.leader == -1 && p.replicas.iter().any(|r| live.contains(r)) {
                records.push(MetadataRecord::ElectLeader {
                    topic_id: t.id,
                    partition: i32::try_from(i).unwrap_or(i32::MAX),
                    unclean: true,
                });
            }
        }
    }
    records
}

/// The preferred-leader elections for `state` (Kafka's `checkAndTriggerAutoLeaderRebalance`):
/// for each live broker whose share of partitions it prefers but does not lead exceeds
/// `percentage` (`leader.imbalance.per.broker.percentage`), elect it where it is in sync.
pub(super) fn preferred_elections(state: &ClusterState, percentage: i32) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for (broker, _) in state.live_brokers() {
        let mut preferred = 0usize;
        let mut movable = Vec::new();
        let mut imbalanced = 0usize;
        for t in state.topics.values() {
            for (i, p) in t.partitions.iter().enumerate() {
                if p.replicas.first() != Some(&broker) {
                    continue;
                }
                preferred += 1;
                if p.leader != broker {
                    imbalanced += 1;
                    if p.isr.contains(&broker) {
                        movable.push((t.id, i32::try_from(i).unwrap_or(i32::MAX)));
                    }
                }
            }
        }
        let limit = usize::try_from(percentage.max(0)).unwrap_or(0);
        if preferred > 0 && imbalanced * 100 > limit * preferred {
            records.extend(movable.into_iter().map(|(topic_id, partition)| {
                MetadataRecord::ElectLeader {
                    topic_id,
                    partition,
                    unclean: false,
                }
            }));
        }
    }
    records
}

#[cfg(test)]
mod rebalance_tests {
    use super::*;

    #[test]
    fn preferred_elections_only_above_the_imbalance_percentage() {
        let id = Uuid::new_v4();
        let inc = [Uuid::new_v4(), Uuid::new_v4()];
        let mut batch = vec![MetadataRecord::Topic {
            name: "t".into(),
            id,
        }];
        for (b, incarnation) in [(1, inc[0]), (2, inc[1])] {
            batch.push(MetadataRecord::RegisterBroker {
                id: b,
                incarnation,
                listeners: vec![],
                rack: None,
            });
            batch.push(MetadataRecord::UnfenceBroker { id: b, incarnation });
        }
        // Broker 1 prefers partitions 0..4; 2 of them are led by broker 2, one of those with 1
        // out of sync.
        for (partition, leader, isr) in [
            (0, 1, vec![1, 2]),
            (1, 1, vec![1, 2]),
            (2, 2, vec![2, 1]),
            (3, 2, vec![2]),
        ] {
            batch.push(MetadataRecord::Partition {
                topic_id: id,
                partition,
                replicas: vec![1, 2],
                isr,
                leader,
                leader_epoch: 1,
                partition_epoch: 1,
            });
        }
        let mut s = ClusterState::default();
        s.apply_batch(&batch);
        // 2 of 4 (50 %) imbalanced: above 10 %, only the in-sync one moves.
        assert_eq!(
            preferred_elections(&s, 10),
            vec![MetadataRecord::ElectLeader {
                topic_id: id,
                partition: 2,
                unclean: false
            }]
        );
        assert!(
            preferred_elections(&s, 50).is_empty(),
            "50 % is not above 50 %"
        );
    }
}

#[cfg(test)]
mod unclean_tests {
    use super::*;

    #[test]
    fn unclean_elections_follow_the_topic_setting_then_the_default() {
        let (on, off) = (Uuid::new_v4(), Uuid::new_v4());
        let inc = Uuid::new_v4();
        let mut batch = vec![
            MetadataRecord::Topic {
                name: "on".into(),
                id: on,
            },
            MetadataRecord::Topic {
                name: "off".into(),
                id: off,
            },
            MetadataRecord::TopicConfig {
                topic: "on".into(),
                name: "unclean.leader.election.enable".into(),
                value: Some("true".into()),
            },
            MetadataRecord::RegisterBroker {
                id: 2,
                incarnation: inc,
                listeners: vec![],
                rack: None,
            },
            MetadataRecord::UnfenceBroker {
                id: 2,
                incarnation: inc,
            },
        ];
        for topic_id in [on, off] {
            // Its last in-sync replica (1) is gone; 2 is alive but out of sync.
            batch.push(MetadataRecord::Partition {
                topic_id,
                partition: 0,
                replicas: vec![1, 2],
                isr: vec![1],
                leader: -1,
                leader_epoch: 3,
                partition_epoch: 3,
            });
        }
        let mut s = ClusterState::default();
        s.apply_batch(&batch);
        let elect = |topic_id| MetadataRecord::ElectLeader {
            topic_id,
            partition: 0,
            unclean: true,
        };
        assert_eq!(unclean_elections(&s, false), vec![elect(on)]);
        let mut both = unclean_elections(&s, true);
        both.sort_by_key(|r| format!("{r:?}"));
        let mut want = vec![elect(on), elect(off)];
        want.sort_by_key(|r| format!("{r:?}"));
        assert_eq!(both, want);
        s.apply_batch(&unclean_elections(&s, false));
        let p = &s.topics[&on].partitions[0];
        assert_eq!((p.leader, p.isr.clone(), p.leader_epoch), (2, vec![2], 4));
    }
}
