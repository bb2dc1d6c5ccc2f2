//! Replication between brokers (Kafka's `ReplicaFetcherManager`, `ReplicaFetcherThread` and the
//! ISR management of `Partition`/`AlterPartitionManager`).
//!
//! - **Replica fetchers.** For every partition this node follows, a fetcher task per leader
//!   broker (`num.replica.fetchers` = 1: one task per leader) copies the leader's log with the
//!   Fetch API over the inter-broker listener, as a follower (`replica_state.replica_id` = this
//!   node): `replica.fetch.max.bytes` per partition, `replica.fetch.response.max.bytes` per
//!   answer, `replica.fetch.wait.max.ms` / `replica.fetch.min.bytes` for the long poll,
//!   `replica.fetch.backoff.ms` after an error. Batches are stored byte for byte
//!   ([`Partition::append_as_follower`]); the answer's high watermark and log start offset are
//!   followed. Before a partition's first fetch at a leader epoch, the fetcher asks the leader
//!   where its log diverges (OffsetForLeaderEpoch with the latest epoch of the local history,
//!   KIP-101/279) and truncates there, so a replica never keeps records the leader does not have.
//!   A fetch out of the leader's range truncates to the leader's log start (behind it) or to its
//!   high watermark (ahead of it).
//! - **ISR.** A leader proposes a follower that caught up back into the ISR when its fetch says so
//!   ([`expand_isr`], from the Fetch handler), and every `replica.lag.time.max.ms / 2` drops the
//!   followers that have not caught up for `replica.lag.time.max.ms` ([`isr_shrink_task`]). Both
//!   are `AlterPartition` records proposed to the quorum with the partition epoch they are based
//!   on; a stale one is skipped when applied.
//!
//! The fetchers follow the metadata image: they wake whenever [`Topics`] publishes one, and work
//! out which partitions to fetch from whom from the replica layer's leader/follower state.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::config::BrokerConfig;
use crate::interbroker::InterBrokerClient;
use crate::replica::{on_blocking_pool, quota, Partition, ReplicaManager};

/// The topic config naming the replicas whose follower-side replication is throttled.
const FOLLOWER_THROTTLED: &str = "follower.replication.throttled.replicas";
use crate::topics::Topics;

/// Fetch version used between brokers: topic ids and `replica_state` (v15+).
const FETCH_VERSION: i16 = 15;
/// OffsetForLeaderEpoch version used between brokers.
const OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 4;

/// Propose `isr` (this leader's ISR plus a follower that caught up) at partition epoch
/// `based_on`, in the background. At most one change per partition is in flight.
pub(crate) fn expand_isr(topics: &Arc<Topics>, p: &Arc<Partition>, isr: Vec<i32>, based_on: i32) {
    propose(topics, p, isr, based_on, "expand");
}

fn propose(topics: &Arc<Topics>, p: &Arc<Partition>, isr: Vec<i32>, based_on: i32, why: &str) {
    if !p.propose_isr(&isr, based_on) {
        return;
    }
    let (topics, p, why) = (topics.clone(), p.clone(), why.to_string());
    tokio::task::spawn_blocking(move || {
        let old = p.isr();
        match topics.alter_isr(&p, isr.clone(), based_on) {
            Ok(true) => {
                info!(topic = %p.topic, partition = p.index, from = ?old, to = ?isr, change = %why,
                    "in-sync replicas changed");
            }
            Ok(false) => {
                debug!(topic = %p.topic, partition = p.index, to = ?isr, "ISR change not applied (stale or refused)");
                p.clear_pending_isr(based_on);
            }
            Err(e) => {
                warn!(topic = %p.topic, partition = p.index, to = ?isr, error = %e, "cannot propose an ISR change");
                p.clear_pending_isr(based_on);
            }
        }
    });
}

/// Every `replica.lag.time.max.ms / 2`, drop from the ISR of each partition led here the
/// followers that have not caught up for `replica.lag.time.max.ms` (Kafka's `maybeShrinkIsr`).
pub async fn isr_shrink_task(
    topics: Arc<Topics>,
    replicas: Arc<ReplicaManager>,
    config: Arc<BrokerConfig>,
    stop: CancellationToken,
) {
    let lag = i64::try_from(config.replica_lag_time_max_ms).unwrap_or(i64::MAX);
    let period = Duration::from_millis((config.replica_lag_time_max_ms / 2).max(10));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
        let now = crate::clock::now_ms();
        for p in replicas.all() {
            if let Some((keep, out, based_on)) = p.lagging_followers(now, lag) {
                warn!(topic = %p.topic, partition = p.index, out_of_sync = ?out, lag_ms = lag,
                    "followers fell behind; shrinking the in-sync replicas");
                propose(&topics, &p, keep, based_on, "shrink");
            }
        }
    }
}

/// When a log directory fails, tell the controller (Kafka's broker heartbeat with offline
/// directories, KIP-858): one [`MetadataRecord::OfflineReplicas`] naming every partition hosted
/// in the failed directories, so that the partitions led here move to another in-sync replica
/// and this broker leaves the ISRs. Not on a single node (no one else could lead; the broker
/// answers KAFKA_STORAGE_ERROR as before). Runs until `stop`; each failure is reported once.
pub async fn offline_dir_task(
    topics: Arc<Topics>,
    replicas: Arc<ReplicaManager>,
    config: Arc<BrokerConfig>,
    incarnation: Uuid,
    stop: CancellationToken,
) {
    if config.quorum.single_node() {
        return;
    }
    let Some(first) = replicas.log_dirs().first().cloned() else {
        return;
    };
    let mut reported: Vec<std::path::PathBuf> = Vec::new();
    loop {
        let failed: Vec<Arc<crate::replica::LogDir>> = replicas
            .log_dirs()
            .iter()
            .filter(|d| d.is_offline() && !reported.iter().any(|r| r == d.path()))
            .cloned()
            .collect();
        if !failed.is_empty() {
            let mut partitions = Vec::new();
            for d in &failed {
                reported.push(d.path().to_path_buf());
                for p in replicas.partitions_in(d) {
                    partitions.push((p.topic_id, p.index));
                    warn!(topic = %p.topic, partition = p.index, broker = config.node_id,
                        log_dir = %d.path().display(), "replica offline: its log directory failed; reporting it to the controller");
                }
            }
            if !partitions.is_empty() {
                let record = crate::controller::MetadataRecord::OfflineReplicas {
                    broker: config.node_id,
                    incarnation,
                    partitions,
                };
                let quorum = topics.quorum().clone();
                let proposed =
                    tokio::task::spawn_blocking(move || quorum.propose_blocking(vec![record]))
                        .await;
                match proposed {
                    Ok(Ok(_)) => info!(
                        broker = config.node_id,
                        "offline replicas reported to the controller"
                    ),
                    Ok(Err(e)) => {
                        warn!(broker = config.node_id, error = %e, "cannot report offline replicas to the controller")
                    }
                    Err(e) => {
                        warn!(broker = config.node_id, error = %e, "offline replica report task failed")
                    }
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = first.wait_for_failure() => {}
        }
    }
}

/// A running fetcher: the partitions it is given, and its stop.
type FetcherHandle = (
    tokio::sync::watch::Sender<Vec<Arc<Partition>>>,
    CancellationToken,
);

/// One followed partition, as a fetcher sees it.
#[derive(Debug, Clone)]
struct Followed {
    p: Arc<Partition>,
    /// The leader epoch it follows at.
    epoch: i32,
    /// Truncated to the leader's log at this epoch: fetching.
    truncated: bool,
    /// Not fetched before this time (after an error).
    backoff_until: Option<tokio::time::Instant>,
}

/// Start and stop the fetcher tasks as leaders move (Kafka's `ReplicaFetcherManager`), until
/// `stop`.
pub async fn fetcher_manager(
    topics: Arc<Topics>,
    replicas: Arc<ReplicaManager>,
    config: Arc<BrokerConfig>,
    stop: CancellationToken,
) {
    let node = config.node_id;
    let client = InterBrokerClient::new(
        node,
        &config.listeners.inter_broker,
        crate::net::tls::inter_broker_client(&config),
    );
    let mut changes = topics.subscribe();
    let mut fetchers: HashMap<i32, FetcherHandle> = HashMap::new();
    loop {
        let mut by_leader: BTreeMap<i32, Vec<Arc<Partition>>> = BTreeMap::new();
        for p in replicas.all() {
            let leader = p.leader();
            if !p.is_leader() && leader >= 0 && leader != node {
                by_leader.entry(leader).or_default().push(p);
            }
        }
        fetchers.retain(|leader, (_, cancel)| {
            let keep = by_leader.contains_key(leader);
            if !keep {
                cancel.cancel();
            }
            keep
        });
        for (leader, parts) in by_leader {
            match fetchers.get(&leader) {
                Some((tx, _)) => {
                    tx.send_replace(parts);
                }
                None => {
                    let (tx, rx) = tokio::sync::watch::channel(parts);
                    let cancel = stop.child_token();
                    tokio::spawn(fetcher(
                        leader,
                        rx,
                        topics.clone(),
                        replicas.clone(),
                        client.clone(),
                        config.clone(),
                        cancel.clone(),
                    ));
                    info!(broker = node, leader, "started replica fetcher");
                    fetchers.insert(leader, (tx, cancel));
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
    }
}

/// The fetcher of the partitions led by `leader` (Kafka's `ReplicaFetcherThread`).
async fn fetcher(
    leader: i32,
    mut assigned: tokio::sync::watch::Receiver<Vec<Arc<Partition>>>,
    topics: Arc<Topics>,
    replicas: Arc<ReplicaManager>,
    client: Arc<InterBrokerClient>,
    config: Arc<BrokerConfig>,
    stop: CancellationToken,
) {
    let node = config.node_id;
    let backoff = Duration::from_millis(config.replica_fetch_backoff_ms.max(1));
    let mut state: HashMap<(Uuid, i32), Followed> = HashMap::new();
    loop {
        if stop.is_cancelled() {
            debug!(broker = node, leader, "replica fetcher stopped");
            return;
        }
        // The partitions to follow now; a new epoch starts with a truncation.
        {
            let now: Vec<Arc<Partition>> = assigned.borrow_and_update().clone();
            let mut next = HashMap::with_capacity(now.len());
            for p in now {
                if p.is_leader() || p.leader() != leader || p.is_deleted() {
                    continue;
                }
                let key = (p.topic_id, p.index);
                let epoch = p.leader_epoch();
                let f = match state.remove(&key) {
                    Some(f) if f.epoch == epoch => f,
                    _ => Followed {
                        p,
                        epoch,
                        truncated: false,
                        backoff_until: None,
                    },
                };
                next.insert(key, f);
            }
            state = next;
        }
        if state.is_empty() {
            tokio::select! {
                () = stop.cancelled() => {}
                changed = assigned.changed() => if changed.is_err() { return },
            }
            continue;
        }
        let now = tokio::time::Instant::now();
        let ready = |f: &Followed| f.backoff_until.is_none_or(|t| t <= now);
        let image = topics.image();
        // Truncation first (KIP-101): where does each new follower's history diverge?
        let to_truncate: Vec<(Uuid, i32)> = state
            .iter()
            .filter(|(_, f)| !f.truncated && ready(f))
            .map(|(k, _)| *k)
            .collect();
        let mut failed = false;
        if !to_truncate.is_empty() {
            failed |= !truncate(leader, &to_truncate, &mut state, &image, &client, node).await;
        }
        let mut fetching: Vec<(Uuid, i32)> = state
            .iter()
            .filter(|(_, f)| f.truncated && ready(f))
            .map(|(k, _)| *k)
            .collect();
        // Kafka's `shouldFollowerThrottle`: out-of-sync replicas the topic's
        // follower.replication.throttled.replicas names wait while the quota is exceeded.
        let quota = &replicas.quotas().follower;
        let throttled: Vec<(Uuid, i32)> = if quota.bounded() {
            fetching
                .iter()
                .copied()
                .filter(|(id, index)| {
                    image.topic_by_id(id).is_some_and(|t| {
                        quota::names_replica(t, FOLLOWER_THROTTLED, *index, node)
                            && t.partition(*index).is_some_and(|p| !p.isr.contains(&node))
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        if !throttled.is_empty() && quota.exceeded() {
            fetching.retain(|k| !throttled.contains(k));
        }
        if !fetching.is_empty() {
            let ok = fetch(leader, &fetching, &mut state, &image, &client, &config).await;
            failed |= ok.is_none();
            if let Some(fetched) = ok {
                let bytes: u64 = fetched
                    .iter()
                    .filter(|(k, _)| throttled.contains(k))
                    .map(|(_, n)| *n)
                    .sum();
                quota.record(bytes);
            }
        }
        if failed || fetching.is_empty() {
            // Nothing fetchable right now, or the leader failed: wait a little (or for a change).
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(backoff) => {}
                _ = assigned.changed() => {}
            }
        }
    }
}

/// OffsetForLeaderEpoch for `keys` and truncate each where it diverges from the leader. False
/// when the leader could not be asked.
async fn truncate(
    leader: i32,
    keys: &[(Uuid, i32)],
    state: &mut HashMap<(Uuid, i32), Followed>,
    image: &crate::metadata::MetadataImage,
    client: &InterBrokerClient,
    node: i32,
) -> bool {
    let mut by_topic: BTreeMap<String, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
    let mut asked: HashMap<(String, i32), ((Uuid, i32), i32)> = HashMap::new();
    for k in keys {
        let f = &state[k];
        match f.p.latest_epoch() {
            None => {
                // No history: nothing to truncate.
                if let Some(f) = state.get_mut(k) {
                    f.truncated = true;
                }
            }
            Some(latest) => {
                by_topic.entry(f.p.topic.clone()).or_default().push(
                    OffsetForLeaderPartition::default()
                        .with_partition(k.1)
                        .with_current_leader_epoch(f.epoch)
                        .with_leader_epoch(latest),
                );
                asked.insert((f.p.topic.clone(), k.1), (*k, latest));
            }
        }
    }
    if asked.is_empty() {
        return true;
    }
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(node))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, parts)| {
                    OffsetForLeaderTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(t)))
                        .with_partitions(parts)
                })
                .collect(),
        );
    let response = match client
        .send(image, leader, OFFSET_FOR_LEADER_EPOCH_VERSION, &request)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            debug!(leader, error = %e, "OffsetForLeaderEpoch to the leader failed");
            return false;
        }
    };
    let backoff_until = tokio::time::Instant::now() + Duration::from_millis(500);
    for t in response.topics {
        for r in t.partitions {
            let Some((k, latest)) = asked.get(&(t.topic.0.to_string(), r.partition)).copied()
            else {
                continue;
            };
            let Some(f) = state.get_mut(&k) else { continue };
            if r.error_code != 0 {
                debug!(topic = %f.p.topic, partition = k.1, leader, error = ?ResponseError::try_from_code(r.error_code),
                    "leader refused OffsetForLeaderEpoch; waiting for metadata");
                f.backoff_until = Some(backoff_until);
                continue;
            }
            let p = f.p.clone();
            let own_end = p.log_end_offset();
            let target = if r.leader_epoch < 0 || r.end_offset < 0 {
                // The leader knows no epoch this old: keep what is committed.
                p.high_watermark()
            } else if r.leader_epoch == latest {
                r.end_offset.min(own_end)
            } else {
                r.end_offset.min(p.end_offset_for_epoch(r.leader_epoch).1)
            };
            let done = on_blocking_pool(move || p.truncate_to(target)).await;
            match done {
                Ok(Ok(())) => f.truncated = true,
                Ok(Err(e)) | Err(e) => {
                    warn!(topic = %f.p.topic, partition = k.1, error = %e, "cannot truncate the replica");
                    f.backoff_until = Some(backoff_until);
                }
            }
        }
    }
    true
}

/// One Fetch of `keys` from the leader; append what it returns. False when the leader could
/// not be asked.
async fn fetch(
    leader: i32,
    keys: &[(Uuid, i32)],
    state: &mut HashMap<(Uuid, i32), Followed>,
    image: &crate::metadata::MetadataImage,
    client: &InterBrokerClient,
    config: &BrokerConfig,
) -> Option<Vec<((Uuid, i32), u64)>> {
    let mut fetched = Vec::new();
    let mut by_topic: BTreeMap<Uuid, Vec<FetchPartition>> = BTreeMap::new();
    let mut asked: HashMap<(Uuid, i32), (i64, i32)> = HashMap::new();
    for k in keys {
        let f = &state[k];
        let offset = f.p.log_end_offset();
        by_topic.entry(k.0).or_default().push(
            FetchPartition::default()
                .with_partition(k.1)
                .with_current_leader_epoch(f.epoch)
                .with_fetch_offset(offset)
                .with_log_start_offset(f.p.log_start_offset())
                .with_partition_max_bytes(config.replica_fetch_max_bytes),
        );
        asked.insert(*k, (offset, f.epoch));
    }
    let request = FetchRequest::default()
        .with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(config.node_id))
                .with_replica_epoch(-1),
        )
        .with_max_wait_ms(config.replica_fetch_wait_max_ms)
        .with_min_bytes(config.replica_fetch_min_bytes)
        .with_max_bytes(config.replica_fetch_response_max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(id, parts)| {
                    FetchTopic::default()
                        .with_topic_id(id)
                        .with_partitions(parts)
                })
                .collect(),
        );
    let response = match client.send(image, leader, FETCH_VERSION, &request).await {
        Ok(r) => r,
        Err(e) => {
            debug!(leader, error = %e, "fetch from the leader failed");
            return None;
        }
    };
    if response.error_code != 0 {
        debug!(
            leader,
            error_code = response.error_code,
            "leader refused the fetch"
        );
        return None;
    }
    let backoff_until =
        tokio::time::Instant::now() + Duration::from_millis(config.replica_fetch_backoff_ms);
    for t in response.responses {
        for pd in t.partitions {
            let k = (t.topic_id, pd.partition_index);
            let (Some(f), Some((offset, epoch))) = (state.get_mut(&k), asked.get(&k).copied())
            else {
                continue;
            };
            let p = f.p.clone();
            // The partition moved on while the fetch was in flight: drop the answer.
            if p.is_leader() || p.leader_epoch() != epoch || p.log_end_offset() != offset {
                continue;
            }
            match ResponseError::try_from_code(pd.error_code) {
                None => {}
                Some(ResponseError::OffsetOutOfRange) => {
                    let (start, hw) = (pd.log_start_offset, pd.high_watermark);
                    let fix = on_blocking_pool(move || {
                        if start >= 0 && offset < start {
                            p.truncate_fully_and_start_at(start)
                        } else if hw >= 0 && offset > hw {
                            p.truncate_to(hw)
                        } else {
                            Ok(())
                        }
                    })
                    .await;
                    if let Ok(Err(e)) | Err(e) = fix {
                        warn!(topic = %f.p.topic, partition = k.1, error = %e, "cannot reset the replica");
                    }
                    f.backoff_until = Some(backoff_until);
                    continue;
                }
                Some(e) => {
                    debug!(topic = %f.p.topic, partition = k.1, leader, error = ?e, "leader refused the partition's fetch");
                    f.backoff_until = Some(backoff_until);
                    continue;
                }
            }
            let records = pd.records.unwrap_or_default();
            fetched.push((k, records.len() as u64));
            let (hw, start) = (pd.high_watermark, pd.log_start_offset);
            let done = on_blocking_pool(move || {
                if !records.is_empty() {
                    p.append_as_follower(&records, crate::clock::now_ms())?;
                }
                p.follower_high_watermark(hw);
                p.follow_log_start(start)
            })
            .await;
            match done {
                Ok(Ok(())) => f.backoff_until = None,
                Ok(Err(e)) | Err(e) => {
                    warn!(topic = %f.p.topic, partition = k.1, leader, error = %e,
                        "cannot append the leader's records; retrying from the log end");
                    f.backoff_until = Some(backoff_until);
                    // Re-check where the logs diverge before the next fetch.
                    f.truncated = false;
                }
            }
        }
    }
    Some(fetched)
}
