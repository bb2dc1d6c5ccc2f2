//! Fetch: read whole stored batches from each partition (by name, or by topic id from v13),
//! honouring `max_bytes` (capped by the broker's `fetch.max.bytes`), per-partition `partition_max_bytes` and Kafka's rule that the first
//! partition with data returns at least one batch, up to each partition's high watermark. When
//! less than `min_bytes` is available the request becomes a delayed operation
//! ([`crate::replica::purgatory`]) that an append to one of its partitions completes, or
//! `max_wait_ms` or the broker's shutdown ends. A `current_leader_epoch` other than the
//! partition's is answered FENCED_LEADER_EPOCH (older) or UNKNOWN_LEADER_EPOCH (newer).
//!
//! Fetch sessions (KIP-227) are served from [`crate::fetch_sessions`]: full fetches may open a
//! session, incremental ones send only what changed.
//!
//! Work is bounded by the distinct partitions, not by the request's size: a partition listed
//! several times is fetched and answered once, at its first place, with its last entry's offset
//! and limits (Kafka's `FetchRequest.fetchData` is a `LinkedHashMap`, and a session's partitions
//! a map); the long poll watches each distinct partition once; a topic's name is shared
//! (`Arc<str>`) by its partitions' keys, never copied per partition.
//!
//! A fetch whose replica id (v15+: `replica_state.replica_id`) is a broker id is a follower's
//! (Kafka's replica fetcher): it reads up to the log end offset, not the high watermark, and
//! tells the partition where that follower's log ends
//! ([`crate::replica::Partition::follower_fetched`]): the high watermark moves, waiting acks=all
//! produces complete, and a follower that caught up is proposed back into the ISR
//! ([`crate::replication::expand_isr`]). Only a replica of the partition counts.
//!
//! Fetch from the closest replica (KIP-392). A consumer's fetch from v11 carries client
//! metadata (its `rack_id`, maybe empty). A follower serves it like the leader does, up to its
//! own high watermark (the one its leader sent it) or, read_committed, its last stable offset; an
//! offset between that and its log end waits (empty answer), one past its log end or below its
//! log start is OFFSET_OUT_OF_RANGE (the client then goes back to the leader), as Kafka answers.
//! Without client metadata (older versions) a follower answers NOT_LEADER_OR_FOLLOWER. With
//! `replica.selector.class` = the rack-aware selector and a rack given, the leader answers a
//! partition for which [`crate::replica_selector`] prefers a follower with that follower's id
//! in `preferred_read_replica`, no records, and at once (Kafka's `hasPreferredReadReplica`).
//!
//! With an authorizer (issue 14), as Kafka: a follower's fetch needs CLUSTER_ACTION on the
//! cluster, a consumer's READ on each topic (TOPIC_AUTHORIZATION_FAILED).
//!
//! Isolation: every answer carries the last stable offset; a `read_committed` fetch (isolation
//! level 1) returns only batches below it, plus the aborted transactions overlapping them (from
//! the `.txnindex` files) so the client can drop aborted records. Control batches are returned
//! as stored; clients never hand them to applications.
//!
//! Records are found without reading them ([`crate::replica::Partition::read`]: indexes and
//! batch headers only). A range of at least `fetch.zero.copy.min.bytes` is sent from the segment
//! file to the socket by [`crate::zero_copy`]; a smaller one is copied into the answer after the
//! partition lock is released.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId, TopicName};
use minikafka_storage::{FileSlice, StorageError};
use tokio::time::Instant;

use uuid::Uuid;

use super::{storage_error, RequestContext};
use crate::acl;
use crate::config::ReplicaSelector;
use crate::context::Broker;
use crate::fetch_sessions::{FetchContext, PartitionKey, SessionPartition};
use crate::replica::purgatory::{Attempt, DelayedOperation};
use crate::replica::quota::{self, RateQuota};
use crate::replica::{on_blocking_pool, Isolation, Partition};

/// The topic config naming the replicas whose leader-side replication is throttled.
const LEADER_THROTTLED: &str = "leader.replication.throttled.replicas";
use crate::replica_selector::{preferred_read_replica, ReplicaView};
use crate::zero_copy::{placeholder, Reply};

/// One partition to read, resolved once per request.
struct Wanted {
    partition: Option<Arc<Partition>>,
    index: i32,
    offset: i64,
    /// A follower's log start offset (-1 from consumers).
    log_start_offset: i64,
    max_bytes: usize,
    error: Option<ResponseError>,
    /// KIP-392: the replica this consumer should read the partition from instead (answered
    /// with no records and `preferred_read_replica`).
    preferred: Option<i32>,
    /// A follower's fetch of a replica `leader.replication.throttled.replicas` throttles: its
    /// records are left out while the leader's replication quota is exceeded.
    throttled: bool,
}

/// Resolve one partition of the request: led here, or, for a consumer's fetch with client
/// metadata (`any_replica`), hosted here as leader or follower (Kafka's `fetchOnlyFromLeader`
/// is false for it).
fn resolve(
    b: &Broker,
    key: &PartitionKey,
    sp: &SessionPartition,
    by_id: bool,
    any_replica: bool,
) -> Wanted {
    let topic = if by_id {
        b.topics.get_by_id(&key.topic_id)
    } else {
        b.topics.get(&key.topic)
    };
    let unknown = if by_id {
        ResponseError::UnknownTopicId
    } else {
        ResponseError::UnknownTopicOrPartition
    };
    let found = if any_replica {
        b.hosted(topic.as_deref(), key.partition, unknown)
    } else {
        b.led(topic.as_deref(), key.partition, unknown)
    };
    let (partition, error) = match found {
        Err(e) => (None, Some(e)),
        Ok(p) => {
            let error = p.check_leader_epoch(sp.current_leader_epoch).err();
            (Some(p), error)
        }
    };
    Wanted {
        partition,
        index: key.partition,
        offset: sp.fetch_offset,
        log_start_offset: sp.log_start_offset,
        max_bytes: usize::try_from(sp.max_bytes).unwrap_or(0),
        error,
        preferred: None,
        throttled: false,
    }
}

/// KIP-392 on the leader (Kafka's `findPreferredReadReplica`): for each partition led here,
/// the replica the selector prefers for a consumer in `rack` among the in-sync followers that
/// hold the fetch offset and are alive with an endpoint on this request's listener. Once per
/// request, before any wait.
fn choose_read_replicas(ctx: &RequestContext<'_>, rack: &str, wanted: &mut [Wanted]) {
    let b = ctx.broker;
    let image = b.topics.image();
    let now = crate::clock::now_ms();
    for w in wanted.iter_mut().filter(|w| w.error.is_none()) {
        let Some(p) = &w.partition else { continue };
        let Some((leader_end, candidates)) = p.read_replicas(w.offset, now) else {
            continue;
        };
        let leader = ReplicaView {
            id: b.config.node_id,
            rack: b.config.broker_rack.as_deref(),
            log_end_offset: leader_end,
            since_caught_up_ms: 0,
        };
        let followers: Vec<ReplicaView<'_>> = candidates
            .iter()
            .filter_map(|c| {
                let broker = image
                    .broker(c.id)
                    .filter(|r| !r.fenced && r.endpoint(ctx.listener).is_some())?;
                Some(ReplicaView {
                    id: c.id,
                    rack: broker.rack.as_deref(),
                    log_end_offset: c.log_end_offset,
                    since_caught_up_ms: c.since_caught_up_ms,
                })
            })
            .collect();
        w.preferred = preferred_read_replica(b.config.replica_selector, rack, &leader, &followers);
        if let Some(replica) = w.preferred {
            tracing::debug!(topic = %p.topic, partition = p.index, leader = b.config.node_id,
                preferred_read_replica = replica, client_rack = rack,
                "consumer sent to a replica in its rack");
        }
    }
}

/// Kafka's Fetch authorization (issue 14): a follower's fetch needs CLUSTER_ACTION on the
/// cluster, else every partition is TOPIC_AUTHORIZATION_FAILED; a consumer's READ on each topic
/// (checked before existence for names; an unknown topic id stays UNKNOWN_TOPIC_ID).
fn authorize(
    ctx: &RequestContext<'_>,
    list: &[(PartitionKey, SessionPartition)],
    wanted: &mut [Wanted],
    follower: bool,
    by_id: bool,
) {
    if ctx.broker.config.authorizer.is_none() {
        return;
    }
    let cluster_ok = follower && ctx.authorized_cluster(acl::op::CLUSTER_ACTION);
    let mut decided: HashMap<Arc<str>, bool> = HashMap::new();
    for ((k, _), w) in list.iter().zip(wanted.iter_mut()) {
        let allowed = if follower {
            cluster_ok
        } else {
            let name: Option<Arc<str>> = if by_id {
                ctx.broker
                    .topics
                    .get_by_id(&k.topic_id)
                    .map(|t| Arc::from(t.name.as_str()))
            } else {
                Some(k.topic.clone())
            };
            match name {
                None => true,
                Some(name) => *decided
                    .entry(name.clone())
                    .or_insert_with(|| ctx.authorized_topic(acl::op::READ, &name)),
            }
        };
        if !allowed {
            w.partition = None;
            w.error = Some(ResponseError::TopicAuthorizationFailed);
        }
    }
}

pub(crate) async fn handle(ctx: &RequestContext<'_>, req: FetchRequest) -> Reply {
    let b = ctx.broker;
    let version = ctx.version;
    let replica_id = if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    let follower = (replica_id >= 0).then_some(replica_id);
    let shutdown = ctx.shutdown;
    let by_id = version >= 13;
    // One shared name per topic entry of the request; each partition's key clones the `Arc`.
    let topic_key = |topic: &TopicName, topic_id: Uuid| -> (Uuid, Arc<str>) {
        if by_id {
            (topic_id, Arc::from(""))
        } else {
            (Uuid::nil(), Arc::from(topic.0.as_str()))
        }
    };
    let requested = distinct(req.topics.iter().flat_map(|ft| {
        let (topic_id, topic) = topic_key(&ft.topic, ft.topic_id);
        ft.partitions.iter().map(move |fp| {
            (
                PartitionKey {
                    topic_id,
                    topic: topic.clone(),
                    partition: fp.partition,
                },
                SessionPartition::new(
                    fp.fetch_offset,
                    fp.partition_max_bytes,
                    fp.current_leader_epoch,
                    fp.log_start_offset,
                ),
            )
        })
    }));
    let (session_id, epoch) = if version >= 7 {
        (req.session_id, req.session_epoch)
    } else {
        (0, -1)
    };
    let forgotten: Vec<PartitionKey> = req
        .forgotten_topics_data
        .iter()
        .flat_map(|ft| {
            let (topic_id, topic) = topic_key(&ft.topic, ft.topic_id);
            ft.partitions.iter().map(move |p| PartitionKey {
                topic_id,
                topic: topic.clone(),
                partition: *p,
            })
        })
        .collect();
    let (list, new_session, incremental) =
        match b
            .fetch_sessions
            .begin(session_id, epoch, requested.clone(), &forgotten)
        {
            FetchContext::Full(created) => (requested, created, None),
            FetchContext::Incremental(id, parts) => (parts, None, Some(id)),
            FetchContext::Error(e) => {
                tracing::debug!(session_id, epoch, error = ?e, "fetch session refused");
                return FetchResponse::default().with_error_code(e.code()).into();
            }
        };
    // KIP-392: from v11 a consumer's fetch carries client metadata (its rack, maybe empty), and
    // then any replica hosted here serves it, bounded by this replica's high watermark; without
    // (older versions) only the leader does.
    let client_metadata = follower.is_none() && version >= 11;
    let mut wanted: Vec<Wanted> = list
        .iter()
        .map(|(k, sp)| resolve(b, k, sp, by_id, client_metadata))
        .collect();
    authorize(ctx, &list, &mut wanted, follower.is_some(), by_id);
    let rack = req.rack_id.as_str();
    if client_metadata && b.config.replica_selector != ReplicaSelector::Leader && !rack.is_empty() {
        choose_read_replicas(ctx, rack, &mut wanted);
    }
    let isolation = if follower.is_some() {
        Isolation::LogEnd
    } else {
        Isolation::from_level(req.isolation_level)
    };
    if let Some(replica) = follower {
        // Kafka's `updateFollowerFetchState`, once per request, before any wait. A fenced
        // broker may not join an ISR (the controller would refuse it): not proposed.
        let live = b.topics.image().broker(replica).is_some_and(|r| !r.fenced);
        let now = crate::clock::now_ms();
        // Kafka's `followerReplicaOrThrow`: a replica fetch names one of the partition's
        // replicas, else NOT_LEADER_OR_FOLLOWER (it would read past the high watermark and move
        // it for a replica that does not exist).
        for w in &mut wanted {
            if w.partition
                .as_ref()
                .is_some_and(|p| !p.has_follower(replica))
            {
                w.error = Some(ResponseError::NotLeaderOrFollower);
            }
        }
        // Kafka's `shouldLeaderThrottle`: a throttled replica of an out-of-sync follower.
        if b.replicas.quotas().leader.bounded() {
            let image = b.topics.image();
            for w in wanted.iter_mut().filter(|w| w.error.is_none()) {
                if let Some(p) = &w.partition {
                    w.throttled = image.topic_by_id(&p.topic_id).is_some_and(|t| {
                        quota::names_replica(t, LEADER_THROTTLED, p.index, b.config.node_id)
                    }) && !p.isr().contains(&replica);
                }
            }
        }
        for w in wanted.iter().filter(|w| w.error.is_none()) {
            if let Some(p) = &w.partition {
                let fetched = p.follower_fetched(replica, w.offset, w.log_start_offset, now);
                if let Some((isr, based_on)) = fetched.expand.filter(|_| live) {
                    crate::replication::expand_isr(&b.topics, p, isr, based_on);
                }
            }
        }
    }
    // Kafka: min(request max_bytes, fetch.max.bytes); the copied part of the answer is bounded
    // by it however many partitions the request names.
    let max_bytes = usize::try_from(req.max_bytes)
        .unwrap_or(0)
        .min(b.config.fetch_max_bytes);
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let deadline =
        Instant::now() + Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
    // DelayedFetch: answer at once if there is enough data (or an error, or nothing to wait
    // for), else park until an append to one of the partitions, the deadline or shutdown.
    let op = DelayedOperation::new(Some(deadline), Some(shutdown.clone()));
    // The keys are distinct, so each partition is watched once: registration is linear in the
    // distinct partitions however often the request repeats one.
    for w in &wanted {
        if let Some(p) = &w.partition {
            p.watch_appended(&op);
        }
    }
    let zero_copy_min = b.config.fetch_zero_copy_min_bytes;
    let replicas = b.replicas.clone();
    // Each check reads on the blocking pool: index lookups, batch headers and small copies are
    // file reads, and a partition's lock may be held by an append.
    let wanted = Arc::new(wanted);
    let parts = op
        .run_async(|attempt| {
            let wanted = wanted.clone();
            let replicas = replicas.clone();
            async move {
                let reading = wanted.clone();
                let read = on_blocking_pool(move || {
                    let quota = &replicas.quotas().leader;
                    read_all(&reading, max_bytes, isolation, zero_copy_min, quota)
                })
                .await;
                let (parts, bytes, any_error) = read.unwrap_or_else(|e| {
                    tracing::error!(error = %e, "fetch read failed");
                    (failed_reads(&wanted), 0, true)
                });
                let done = any_error
                    || bytes >= min_bytes
                    || wanted.is_empty()
                    || attempt == Attempt::Expired;
                done.then_some(parts)
            }
        })
        .await;
    // Group answers by topic (consecutive partitions of one topic share an entry); an
    // incremental answer carries only partitions with data, an error or a changed offset. File
    // ranges are collected in the order the encoder will meet their placeholders.
    let mut topics_out: Vec<FetchableTopicResponse> = Vec::new();
    let mut files = Vec::new();
    let mut last_topic: Option<(Uuid, Arc<str>)> = None;
    let mut sent = Vec::with_capacity(list.len());
    for ((k, mut sp), (pd, file)) in list.into_iter().zip(parts) {
        let now = (
            pd.high_watermark,
            pd.last_stable_offset,
            pd.log_start_offset,
        );
        let changed = pd.error_code != 0
            || pd.records.as_ref().is_some_and(|r| !r.is_empty())
            || sp.last_sent != now;
        sp.last_sent = now;
        if incremental.is_none() || changed {
            let this = (k.topic_id, k.topic.clone());
            if last_topic.as_ref() != Some(&this) {
                topics_out.push(
                    FetchableTopicResponse::default()
                        .with_topic(TopicName(super::s(&*k.topic)))
                        .with_topic_id(k.topic_id),
                );
                last_topic = Some(this);
            }
            if let Some(t) = topics_out.last_mut() {
                t.partitions.push(pd);
                files.extend(file);
            }
        }
        sent.push((k, sp));
    }
    let session = new_session.or(incremental);
    if let Some(id) = session {
        b.fetch_sessions.finish(id, sent);
    }
    Reply {
        body: FetchResponse::default()
            .with_session_id(session.unwrap_or(0))
            .with_responses(topics_out)
            .into(),
        files,
    }
}

/// The request's partitions with each distinct one once, at its first place, carrying its last
/// entry's offset and limits, as Kafka's `LinkedHashMap` of fetch data keeps them.
fn distinct(
    entries: impl Iterator<Item = (PartitionKey, SessionPartition)>,
) -> Vec<(PartitionKey, SessionPartition)> {
    let mut at: HashMap<PartitionKey, usize> = HashMap::new();
    let mut out: Vec<(PartitionKey, SessionPartition)> = Vec::new();
    for (key, sp) in entries {
        match at.entry(key) {
            Entry::Occupied(e) => {
                if let Some(slot) = out.get_mut(*e.get()) {
                    slot.1 = sp;
                }
            }
            Entry::Vacant(e) => {
                out.push((e.key().clone(), sp));
                e.insert(out.len() - 1);
            }
        }
    }
    out
}

/// Every partition answered KAFKA_STORAGE_ERROR: the read task itself failed (the runtime is
/// shutting down).
fn failed_reads(wanted: &[Wanted]) -> Vec<(PartitionData, Option<FileSlice>)> {
    wanted
        .iter()
        .map(|w| {
            let pd = PartitionData::default()
                .with_partition_index(w.index)
                .with_error_code(ResponseError::KafkaStorageError.code())
                .with_high_watermark(-1);
            (pd, None)
        })
        .collect()
}

/// Read every wanted partition once. Returns the partition answers (with the file range to send for each whose
/// records are a zero-copy placeholder), the record bytes found and whether any partition has an error (which
/// makes the fetch answer at once, as Kafka does; so does a preferred read replica). Ranges of at least `zero_copy_min` bytes are sent from the
/// file; smaller ones are copied into the answer, outside the log lock.
fn read_all(
    wanted: &[Wanted],
    max_bytes: usize,
    isolation: Isolation,
    zero_copy_min: usize,
    leader_quota: &RateQuota,
) -> (Vec<(PartitionData, Option<FileSlice>)>, usize, bool) {
    let mut total = 0usize;
    let mut any_error = false;
    let mut out = Vec::with_capacity(wanted.len());
    for w in wanted {
        let mut pd = PartitionData::default().with_partition_index(w.index);
        pd.aborted_transactions = if isolation == Isolation::ReadCommitted {
            Some(Vec::new())
        } else {
            None
        };
        let p = match (&w.error, &w.partition) {
            (None, Some(p)) if !p.is_deleted() => p,
            (err, _) => {
                pd.error_code = err.unwrap_or(ResponseError::UnknownTopicOrPartition).code();
                pd.high_watermark = -1;
                any_error = true;
                out.push((pd, None));
                continue;
            }
        };
        // Reported even when the read fails (as before the read), refined by the read itself.
        pd.high_watermark = p.high_watermark();
        pd.last_stable_offset = p.last_stable_offset();
        pd.log_start_offset = p.log_start_offset();
        if let Some(replica) = w.preferred {
            // KIP-392: no read; the consumer goes to `replica`, and the fetch answers at once.
            pd.preferred_read_replica = BrokerId(replica);
            pd.records = Some(Bytes::new());
            any_error = true;
            out.push((pd, None));
            continue;
        }
        if w.throttled && leader_quota.exceeded() {
            // Held back (Kafka leaves the partition's records out); the offsets still move.
            pd.records = Some(Bytes::new());
            out.push((pd, None));
            continue;
        }
        let budget = w.max_bytes.min(max_bytes.saturating_sub(total));
        let min_one = total == 0;
        // read_committed: only whole batches below the last stable offset, with the aborted
        // transactions that overlap what is returned (the client drops their records).
        let read = p.read(w.offset, budget, min_one, isolation).and_then(|r| {
            pd.high_watermark = r.high_watermark;
            pd.last_stable_offset = r.last_stable_offset;
            pd.log_start_offset = r.log_start_offset;
            if isolation == Isolation::ReadCommitted {
                pd.aborted_transactions = Some(
                    r.aborted
                        .into_iter()
                        .map(|a| {
                            AbortedTransaction::default()
                                .with_producer_id(ProducerId(a.producer_id))
                                .with_first_offset(a.first_offset)
                        })
                        .collect(),
                );
            }
            match r.records {
                Some(s) if s.len() >= zero_copy_min => Ok((placeholder(), Some(s))),
                Some(s) => Ok((s.read()?, None)),
                None => Ok((Bytes::new(), None)),
            }
        });
        let mut file = None;
        match read {
            Ok((records, slice)) => {
                let read = slice.as_ref().map_or(records.len(), FileSlice::len);
                total += read;
                if w.throttled {
                    leader_quota.record(read as u64);
                }
                pd.records = Some(records);
                file = slice;
            }
            Err(e @ StorageError::OffsetOutOfRange { .. }) => {
                tracing::debug!(topic = %p.topic, partition = p.index, offset = w.offset, error = %e, "fetch out of range");
                pd.error_code = ResponseError::OffsetOutOfRange.code();
                any_error = true;
            }
            Err(e) => {
                tracing::error!(topic = %p.topic, partition = p.index, offset = w.offset, error = %e, "fetch read failed");
                pd.error_code = storage_error(&e).code();
                any_error = true;
            }
        }
        out.push((pd, file));
    }
    (out, total, any_error)
}
