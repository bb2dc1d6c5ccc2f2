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

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName};
use minikafka_storage::batch::BatchHeader;
use minikafka_storage::StorageError;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use uuid::Uuid;

use super::cluster::LEADER_EPOCH;
use super::storage_error;
use crate::broker::Broker;
use crate::fetch_sessions::{FetchContext, PartitionKey, SessionPartition};
use crate::topics::Partition;

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
) -> FetchResponse {
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
                return FetchResponse::default().with_error_code(e.code());
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
    let parts = loop {
        let (parts, bytes, any_error) = read_all(&wanted, max_bytes, read_committed);
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
    // incremental answer carries only partitions with data, an error or a changed offset.
    let mut topics_out: Vec<FetchableTopicResponse> = Vec::new();
    let mut last_topic: Option<(Uuid, String)> = None;
    let mut sent = Vec::with_capacity(list.len());
    for ((k, mut sp), pd) in list.into_iter().zip(parts) {
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
            }
        }
        sent.push((k, sp));
    }
    let session = new_session.or(incremental);
    if let Some(id) = session {
        b.fetch_sessions.finish(id, sent);
    }
    FetchResponse::default()
        .with_session_id(session.unwrap_or(0))
        .with_responses(topics_out)
}

/// Read every wanted partition once. Returns the partition answers, the record bytes found and
/// whether any partition has an error (which makes the fetch answer at once, as Kafka does).
fn read_all(
    wanted: &[Wanted],
    max_bytes: usize,
    read_committed: bool,
) -> (Vec<PartitionData>, usize, bool) {
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
                out.push(pd);
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
        let read = if read_committed {
            log.read_upto(w.offset, budget, min_one, lso)
                .and_then(|read| {
                    let end = end_offset(&read.records).unwrap_or(w.offset);
                    let aborted = if end > w.offset {
                        log.aborted_transactions(w.offset, end)?
                    } else {
                        Vec::new()
                    };
                    pd.aborted_transactions = Some(
                        aborted
                            .into_iter()
                            .map(|a| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(a.producer_id))
                                    .with_first_offset(a.first_offset)
                            })
                            .collect(),
                    );
                    Ok(read)
                })
        } else {
            log.read(w.offset, budget, min_one)
        };
        match read {
            Ok(read) => {
                total += read.records.len();
                pd.records = Some(read.records);
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
        out.push(pd);
    }
    (out, total, any_error)
}

/// The offset after the last whole batch of `records` (None when there is none).
fn end_offset(records: &[u8]) -> Option<i64> {
    let mut pos = 0usize;
    let mut end = None;
    while pos + BatchHeader::SIZE <= records.len() {
        let h = BatchHeader::parse(&records[pos..]).ok()?;
        if pos + h.size() > records.len() {
            break;
        }
        end = Some(h.next_offset());
        pos += h.size();
    }
    end
}
