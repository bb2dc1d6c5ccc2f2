//! Fetch: read whole stored batches from each partition (by name, or by topic id from v13),
//! honouring `max_bytes`, per-partition `partition_max_bytes` and Kafka's rule that the first
//! partition with data returns at least one batch. When less than `min_bytes` is available the
//! request waits (long poll) until an append to one of its partitions wakes it, `max_wait_ms`
//! passes or the broker shuts down.
//!
//! Fetch sessions (KIP-227) are served from [`crate::fetch_sessions`]: full fetches may open a
//! session, incremental ones send only what changed.
//!
//! Isolation: every answer carries the last stable offset; a `read_committed` fetch (isolation
//! level 1) returns only batches below it, plus the aborted transactions overlapping them (from
//! the `.txnindex` files) so the client can drop aborted records. Control batches are returned
//! as stored; clients never hand them to applications.
//!
//! Records are found without reading them ([`minikafka_storage::Log::read_slice`]: indexes and
//! batch headers only). A range of at least `fetch.zero.copy.min.bytes` is sent from the segment
//! file to the socket by [`crate::zero_copy`]; a smaller one is copied into the answer after the
//! partition lock is released.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName};
use minikafka_storage::{FileSlice, StorageError};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use uuid::Uuid;

use super::cluster::LEADER_EPOCH;
use super::storage_error;
use crate::broker::Broker;
use crate::fetch_sessions::{FetchContext, PartitionKey, SessionPartition};
use crate::topics::Partition;
use crate::zero_copy::{placeholder, Reply};

/// One partition to read, resolved once per request.
struct Wanted {
    partition: Option<Arc<Partition>>,
    index: i32,
    offset: i64,
    max_bytes: usize,
    error: Option<ResponseError>,
}

fn resolve(b: &Broker, key: &PartitionKey, sp: &SessionPartition, by_id: bool) -> Wanted {
    let topic = if by_id {
        b.topics.get_by_id(&key.topic_id)
    } else {
        b.topics.get(&key.topic)
    };
    let partition = topic.as_ref().and_then(|t| t.partition(key.partition));
    let error = if partition.is_none() {
        Some(if by_id {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        })
    } else if sp.current_leader_epoch > LEADER_EPOCH {
        Some(ResponseError::UnknownLeaderEpoch)
    } else {
        None
    };
    Wanted {
        partition,
        index: key.partition,
        offset: sp.fetch_offset,
        max_bytes: usize::try_from(sp.max_bytes).unwrap_or(0),
        error,
    }
}

pub(crate) async fn handle(
    b: &Broker,
    req: FetchRequest,
    version: i16,
    shutdown: &CancellationToken,
) -> Reply {
    let by_id = version >= 13;
    let key = |topic: &TopicName, topic_id: Uuid, partition: i32| PartitionKey {
        topic_id: if by_id { topic_id } else { Uuid::nil() },
        topic: if by_id {
            String::new()
        } else {
            topic.0.to_string()
        },
        partition,
    };
    let requested: Vec<(PartitionKey, SessionPartition)> = req
        .topics
        .iter()
        .flat_map(|ft| {
            ft.partitions.iter().map(move |fp| {
                (
                    key(&ft.topic, ft.topic_id, fp.partition),
                    SessionPartition::new(
                        fp.fetch_offset,
                        fp.partition_max_bytes,
                        fp.current_leader_epoch,
                    ),
                )
            })
        })
        .collect();
    let (session_id, epoch) = if version >= 7 {
        (req.session_id, req.session_epoch)
    } else {
        (0, -1)
    };
    let forgotten: Vec<PartitionKey> = req
        .forgotten_topics_data
        .iter()
        .flat_map(|ft| {
            ft.partitions
                .iter()
                .map(move |p| key(&ft.topic, ft.topic_id, *p))
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
    let wanted: Vec<Wanted> = list
        .iter()
        .map(|(k, sp)| resolve(b, k, sp, by_id))
        .collect();
    let read_committed = req.isolation_level == 1;
    let max_bytes = usize::try_from(req.max_bytes).unwrap_or(0);
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let deadline =
        Instant::now() + Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
    let waiter = Arc::new(Notify::new());
    for w in &wanted {
        if let Some(p) = &w.partition {
            p.watch(&waiter);
        }
    }
    let zero_copy_min = b.config.fetch_zero_copy_min_bytes;
    let parts = loop {
        let (parts, bytes, any_error) = read_all(&wanted, max_bytes, read_committed, zero_copy_min);
        if any_error
            || bytes >= min_bytes
            || wanted.is_empty()
            || Instant::now() >= deadline
            || shutdown.is_cancelled()
        {
            break parts;
        }
        tokio::select! {
            () = waiter.notified() => {}
            () = tokio::time::sleep_until(deadline) => {}
            () = shutdown.cancelled() => {}
        }
    };
    // Group answers by topic (consecutive partitions of one topic share an entry); an
    // incremental answer carries only partitions with data, an error or a changed offset. File
    // ranges are collected in the order the encoder will meet their placeholders.
    let mut topics_out: Vec<FetchableTopicResponse> = Vec::new();
    let mut files = Vec::new();
    let mut last_topic: Option<(Uuid, String)> = None;
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
                        .with_topic(TopicName(super::s(k.topic.clone())))
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

/// Read every wanted partition once. Returns the partition answers (with the file range to send for each whose
/// records are a zero-copy placeholder), the record bytes found and whether any partition has an error (which
/// makes the fetch answer at once, as Kafka does). Ranges of at least `zero_copy_min` bytes are sent from the
/// file; smaller ones are copied into the answer, outside the log lock.
fn read_all(
    wanted: &[Wanted],
    max_bytes: usize,
    read_committed: bool,
    zero_copy_min: usize,
) -> (Vec<(PartitionData, Option<FileSlice>)>, usize, bool) {
    let mut total = 0usize;
    let mut any_error = false;
    let mut out = Vec::with_capacity(wanted.len());
    for w in wanted {
        let mut pd = PartitionData::default().with_partition_index(w.index);
        pd.aborted_transactions = if read_committed {
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
        let log = p.read();
        let hw = log.log_end_offset();
        let lso = log.last_stable_offset();
        pd.high_watermark = hw;
        pd.last_stable_offset = lso;
        pd.log_start_offset = log.log_start_offset();
        let budget = w.max_bytes.min(max_bytes.saturating_sub(total));
        let min_one = total == 0;
        // read_committed: only whole batches below the last stable offset, with the aborted
        // transactions that overlap what is returned (the client drops their records).
        let max_offset = if read_committed { lso } else { i64::MAX };
        let read = log
            .read_slice(w.offset, budget, min_one, max_offset)
            .and_then(|read| {
                if let (true, Some(end)) = (read_committed, read.next_offset) {
                    pd.aborted_transactions = Some(
                        log.aborted_transactions(w.offset, end)?
                            .into_iter()
                            .map(|a| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(a.producer_id))
                                    .with_first_offset(a.first_offset)
                            })
                            .collect(),
                    );
                }
                Ok(read.records)
            });
        drop(log);
        let read = read.and_then(|slice| match slice {
            Some(s) if s.len() >= zero_copy_min => Ok((placeholder(), Some(s))),
            Some(s) => Ok((s.read()?, None)),
            None => Ok((Bytes::new(), None)),
        });
        let mut file = None;
        match read {
            Ok((records, slice)) => {
                total += slice.as_ref().map_or(records.len(), FileSlice::len);
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
