//! The background log cleaner (Kafka's `LogCleaner` thread): every `log.cleaner.backoff.ms`, each partition
//! whose `cleanup.policy` contains `compact` is compacted by [`minikafka_storage::cleaner`] (its key map bounded by
//! `log.cleaner.dedupe.buffer.size`), through the replica layer
//! ([`crate::replica::Partition::clean`]).
//!
//! One partition at a time, in three steps so that produce and fetch are blocked only briefly: the plan is
//! made under the partition's read lock, the cleaned segments are written on a blocking thread without any
//! lock, and the swap is committed under the write lock (renames and two directory fsyncs). Nothing runs when
//! `log.cleaner.enable` is false. The cleaner checkpoint lives in each log's memory: after a restart every
//! compacted log is cleaned once from its start, which is harmless.

use std::sync::Arc;
use std::time::Duration;

use minikafka_storage::StorageError;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info};

use crate::clock::now_ms;
use crate::context::Broker;

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
        for p in broker.replicas.all() {
            if shutdown.is_cancelled() {
                return;
            }
            if p.is_deleted() || !p.is_compacted() {
                continue;
            }
            let part = Arc::clone(&p);
            let key_map = broker.config.cleaner_dedupe_buffer_size;
            match tokio::task::spawn_blocking(move || part.clean(now_ms(), key_map)).await {
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
