//! Fetch: read whole stored batches from each partition (by name, or by topic id from v13),
//! honouring `max_bytes`, per-partition `partition_max_bytes` and Kafka's rule that the first
//! partition with data returns at least one batch. When less than `min_bytes` is available the
//! request waits (long poll) until an append to one of its partitions wakes it, `max_wait_ms`
//! passes or the broker shuts down.
//!
//! Fetch sessions (KIP-227) are not implemented yet: every answer carries session id 0, which
//! tells clients to keep sending full fetch requests.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use minikafka_storage::StorageError;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::storage_error;
use crate::broker::Broker;
use crate::topics::Partition;

/// One requested partition, resolved once per request.
struct Wanted {
    topic_pos: usize,
    partition: Option<Arc<Partition>>,
    index: i32,
    offset: i64,
    max_bytes: usize,
    error: Option<ResponseError>,
}

pub(crate) async fn handle(
    b: &Broker,
    req: FetchRequest,
    version: i16,
    shutdown: &CancellationToken,
) -> FetchResponse {
    let mut wanted = Vec::new();
    let mut topics_out = Vec::with_capacity(req.topics.len());
    for (pos, ft) in req.topics.iter().enumerate() {
        let topic = if version >= 13 {
            b.topics.get_by_id(&ft.topic_id)
        } else {
            b.topics.get(ft.topic.0.as_str())
        };
        let unknown = if version >= 13 {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        for fp in &ft.partitions {
            let partition = topic.as_ref().and_then(|t| t.partition(fp.partition));
            let error = if partition.is_none() {
                Some(unknown)
            } else if fp.current_leader_epoch > 0 {
                Some(ResponseError::UnknownLeaderEpoch)
            } else {
                None
            };
            wanted.push(Wanted {
                topic_pos: pos,
                partition,
                index: fp.partition,
                offset: fp.fetch_offset,
                max_bytes: usize::try_from(fp.partition_max_bytes).unwrap_or(0),
                error,
            });
        }
        topics_out.push(
            FetchableTopicResponse::default()
                .with_topic(ft.topic.clone())
                .with_topic_id(ft.topic_id),
        );
    }
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
    let mut error_code = 0;
    if req.session_epoch > 0 || (req.session_id != 0 && req.session_epoch != -1) {
        error_code = ResponseError::FetchSessionIdNotFound.code();
        wanted.clear();
    }
    let parts = loop {
        let (parts, bytes, any_error) = read_all(&wanted, max_bytes, read_committed);
        if error_code != 0
            || any_error
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
    for (w, pd) in wanted.iter().zip(parts) {
        topics_out[w.topic_pos].partitions.push(pd);
    }
    let mut r = FetchResponse::default()
        .with_error_code(error_code)
        .with_responses(topics_out);
    if version < 7 {
        r.session_id = 0;
    }
    r
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
        pd.high_watermark = hw;
        pd.last_stable_offset = hw;
        pd.log_start_offset = log.log_start_offset();
        let budget = w.max_bytes.min(max_bytes.saturating_sub(total));
        let min_one = total == 0;
        match log.read(w.offset, budget, min_one) {
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
