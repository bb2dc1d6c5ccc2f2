//! The background log cleaner (Kafka's `LogCleaner` thread): every `log.cleaner.backoff.ms`, each partition
//! whose `cleanup.policy` contains `compact` is compacted by [`minikafka_storage::cleaner`].
//!
//! One partition at a time, in three steps so that produce and fetch are blocked only briefly: the plan is
//! made under the partition's read lock, the cleaned segments are written on a blocking thread without any
//! lock, and the swap is committed under the write lock (renames and two directory fsyncs). Nothing runs when
//! `log.cleaner.enable` is false. The cleaner checkpoint lives in each log's memory: after a restart every
//! compacted log is cleaned once from its start, which is harmless.

use std::sync::Arc;
use std::time::Duration;

use minikafka_storage::{CleanStats, StorageError};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info};

use crate::broker::{now_ms, Broker};
use crate::topics::Partition;

/// Run the log cleaner until `shutdown` is cancelled.
pub(crate) async fn cleaner_task(broker: Arc<Broker>, shutdown: CancellationToken) {
    if !broker.config.cleaner_enable {
        return;
    }
    let period = Duration::from_millis(broker.config.cleaner_backoff_ms);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
        for p in broker.topics.all_partitions() {
            if shutdown.is_cancelled() {
                return;
            }
            if p.is_deleted() || !p.read().config().cleanup_policy.compact {
                continue;
            }
            let part = Arc::clone(&p);
            match tokio::task::spawn_blocking(move || clean_partition(&part)).await {
                Ok(Ok(Some(s))) => info!(
                    topic = %p.topic,
                    partition = p.index,
                    first_dirty_offset = s.first_dirty_offset,
                    end_offset = s.end_offset,
                    segments_before = s.segments_before,
                    segments_after = s.segments_after,
                    bytes_before = s.bytes_before,
                    bytes_after = s.bytes_after,
                    records_removed = s.records_removed,
                    tombstones_removed = s.tombstones_removed,
                    "cleaned log"
                ),
                Ok(Ok(None)) => {}
                Ok(Err(StorageError::CleanAborted(reason))) => {
                    debug!(topic = %p.topic, partition = p.index, %reason, "log clean aborted; retrying later");
                }
                Ok(Err(e)) => {
                    error!(topic = %p.topic, partition = p.index, error = %e, "log clean failed");
                }
                Err(e) => {
                    error!(topic = %p.topic, partition = p.index, error = %e, "log cleaner panicked")
                }
            }
        }
    }
}

/// Plan (read lock), run (no lock), commit (write lock) one clean of `p`. Blocking.
fn clean_partition(p: &Partition) -> Result<Option<CleanStats>, StorageError> {
    let Some(plan) = p.read().plan_clean(now_ms())? else {
        return Ok(None);
    };
    let cleaned = plan.run()?;
    if p.is_deleted() {
        cleaned.discard();
        return Ok(None);
    }
    let stats = p.write().commit_clean(cleaned)?;
    Ok(Some(stats))
}
