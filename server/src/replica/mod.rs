//! The replica layer (Kafka's `ReplicaManager` → `Partition` → `Log`): the one owner of every
//! partition this broker hosts, and the only way to its logs.
//!
//! - [`ReplicaManager`] opens, creates and deletes partitions (the log manager's part: one
//!   directory per partition in the data directory, Kafka's `partition.metadata` and
//!   `log-start-offset-checkpoint` files), makes this node their leader, and runs Produce's one
//!   entry point, [`ReplicaManager::append_records`].
//! - [`Partition`] (`partition.rs`) holds the log, the leader epoch and its checkpoint, the high
//!   watermark and the in-sync replicas; every read and append goes through it.
//! - [`purgatory`] is the one mechanism for requests that wait on a partition: a Fetch below
//!   `min_bytes`, a Produce waiting for its data to be replicated (acks=all), an fsync.
//! - `group_commit` shares fsyncs among concurrent requests.
//! - [`LogDir`] (`log_dir.rs`) is the log directory's health: the first fsync or write error
//!   takes it offline (Kafka's `LogDirFailureChannel`), after which nothing is acknowledged.
//!
//! Layering: handlers and coordinators call down into this module; it calls down into
//! `minikafka-storage`; it knows topic configs only as the [`LogConfig`] it is handed.
//!
//! Threads: storage calls block (file I/O, and validation that decompresses every compressed
//! batch), so requests run them on tokio's blocking pool through [`on_blocking_pool`] — a
//! Produce's appends in one task ([`ReplicaManager::append_records`]), a Fetch's reads, a
//! ListOffsets lookup — never on the async threads that serve every connection (Kafka keeps
//! them apart too: network threads never touch logs, request handler threads do). A slow disk
//! or a large batch then delays the requests that wait for it, not unrelated ones.

mod group_commit;
mod log_dir;
mod partition;
pub mod purgatory;
mod stats;

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use bytes::Bytes;
use minikafka_storage::{AppendInfo, LogConfig, StorageError};

use tokio::time::Instant;
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use crate::meta::{kafka_uuid_string, write_atomically};
use purgatory::{Attempt, DelayedOperation};

pub use group_commit::FsyncHook;
pub(crate) use group_commit::{sync_partition, sync_partition_to};
pub use log_dir::LogDir;
pub use partition::AppendHook;
pub use partition::{
    AppendOrigin, FollowerFetch, Isolation, LogReadResult, Partition, Placement, ReadReplica,
};
pub use stats::{ReplicationCounters, ReplicationStats};

/// Kafka's file of log start offsets moved by DeleteRecords (`0`, count, `topic partition offset`
/// lines).
pub const LOG_START_CHECKPOINT: &str = "log-start-offset-checkpoint";

/// Why one partition's part of a Produce failed.
#[derive(Debug)]
pub enum AppendError {
    /// Validation or the write failed: nothing was appended.
    Storage(StorageError),
    /// Appended, but the fsync that had to precede the acknowledgement failed.
    Sync(io::Error),
    /// Appended, but not replicated to the in-sync replicas within the request's timeout.
    Timeout,
    /// acks=all with fewer in-sync replicas than `min.insync.replicas`: nothing appended
    /// (NOT_ENOUGH_REPLICAS).
    NotEnoughReplicas,
    /// Appended and replicated, but the ISR shrank below `min.insync.replicas` meanwhile
    /// (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    NotEnoughReplicasAfterAppend,
    /// This node stopped leading the partition while the produce waited (NOT_LEADER_OR_FOLLOWER).
    NotLeader,
}

/// One partition's part of a Produce, for [`ReplicaManager::append_records`].
#[derive(Debug, Clone)]
pub struct AppendEntry {
    /// The partition (led by this node).
    pub partition: Arc<Partition>,
    /// The record set, as received (shared with the request's buffer, not copied).
    pub records: Bytes,
}

/// Run blocking storage work (file I/O, decompression) on tokio's blocking pool and wait for
/// it, so the async threads keep serving other connections meanwhile. A task that panicked or
/// was cancelled by the runtime's shutdown is answered as a storage error.
pub(crate) async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Io(io::Error::other(format!("storage task failed: {e}"))))
}

/// Every partition hosted here, by topic id and index.
#[derive(Debug)]
pub struct ReplicaManager {
    data_dir: PathBuf,
    /// The one log directory (the data directory) and its health.
    log_dir: Arc<LogDir>,
    node_id: i32,
    partitions: RwLock<HashMap<(Uuid, i32), Arc<Partition>>>,
    /// ISR change counters shared by every partition.
    counters: Arc<ReplicationCounters>,
}

fn partition_dir(data_dir: &Path, topic: &str, index: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{index}"))
}

impl ReplicaManager {
    /// A manager for the partitions in `data_dir` (none open yet).
    pub fn new(data_dir: &Path, node_id: i32) -> ReplicaManager {
        ReplicaManager {
            data_dir: data_dir.to_path_buf(),
            log_dir: Arc::new(LogDir::new(data_dir)),
            node_id,
            partitions: RwLock::new(HashMap::new()),
            counters: Arc::new(ReplicationCounters::default()),
        }
    }

    /// The log directory every partition lives in.
    pub fn log_dir(&self) -> &Arc<LogDir> {
        &self.log_dir
    }

    fn map(&self) -> RwLockReadGuard<'_, HashMap<(Uuid, i32), Arc<Partition>>> {
        self.partitions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Open an existing partition's log (recovering it unless `clean`), or create it when
    /// `new` (a stale directory of an earlier topic of that name is removed first), apply its
    /// `placement` (replicas, ISR), and, with
    /// `lead`, take its leadership at that epoch (the metadata log's), or at the next epoch of its
    /// own history if that is later; without, it waits to be made a follower. Blocking file I/O.
    #[allow(clippy::too_many_arguments)]
    pub fn open_partition(
        &self,
        topic: &str,
        topic_id: Uuid,
        index: i32,
        config: LogConfig,
        clean: bool,
        new: bool,
        placement: &Placement,
        lead: Option<i32>,
    ) -> Result<Arc<Partition>, StorageError> {
        let dir = partition_dir(&self.data_dir, topic, index);
        if new {
            self.log_dir.check_writable()?;
        }
        if new && dir.exists() {
            warn!(dir = %dir.display(), "removing stale partition directory left by an earlier topic");
            fs::remove_dir_all(&dir)?;
        }
        let p = Partition::open(
            &dir,
            topic,
            topic_id,
            index,
            config,
            clean,
            self.node_id,
            self.log_dir.clone(),
            self.counters.clone(),
        );
        let p = self.log_dir.guard("open log", p)?;
        let meta = dir.join("partition.metadata");
        if !meta.exists() {
            let written = write_atomically(
                &meta,
                format!("version: 0\ntopic_id: {}\n", kafka_uuid_string(topic_id)).as_bytes(),
            );
            self.log_dir.guard_io("partition.metadata write", written)?;
        }
        p.set_placement(placement);
        if let Some(leader_epoch) = lead {
            let epoch = leader_epoch.max(p.next_leader_epoch());
            if new {
                p.make_leader(epoch)?;
            } else {
                p.make_leader_at_start(epoch)?;
            }
        }
        let p = Arc::new(p);
        self.partitions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((topic_id, index), p.clone());
        Ok(p)
    }

    /// The replication gauges of the partitions led here and the ISR counters (see
    /// [`ReplicationStats`]; `offline_partitions` is left 0: it comes from the metadata image).
    /// O(hosted partitions), one replica-set lock each; not for the request path.
    pub fn replication_stats(&self) -> ReplicationStats {
        let mut out = ReplicationStats {
            isr_shrinks: self.counters.isr_shrinks(),
            isr_expands: self.counters.isr_expands(),
            ..ReplicationStats::default()
        };
        for p in self.all() {
            let Some(s) = p.leader_replication_state() else {
                continue;
            };
            out.under_replicated_partitions += usize::from(s.isr < s.replicas);
            out.under_min_isr_partitions += usize::from(s.isr < s.min_isr);
            out.at_min_isr_partitions += usize::from(s.isr == s.min_isr);
            out.max_follower_lag = out.max_follower_lag.max(s.max_follower_lag);
        }
        out
    }

    /// The partition `index` of the topic `topic_id`, if hosted here and not deleted.
    pub fn partition(&self, topic_id: &Uuid, index: i32) -> Option<Arc<Partition>> {
        self.map()
            .get(&(*topic_id, index))
            .filter(|p| !p.is_deleted())
            .cloned()
    }

    /// Every hosted partition, by topic name then index.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        let mut v: Vec<_> = self.map().values().cloned().collect();
        v.sort_by(|a, b| (&a.topic, a.index).cmp(&(&b.topic, b.index)));
        v
    }

    /// Every hosted partition of a topic, by index.
    pub fn partitions_of(&self, topic_id: &Uuid) -> Vec<Arc<Partition>> {
        let mut v: Vec<_> = self
            .map()
            .values()
            .filter(|p| p.topic_id == *topic_id)
            .cloned()
            .collect();
        v.sort_by_key(|p| p.index);
        v
    }

    /// Stop hosting every partition of a deleted topic and remove their files. Blocking.
    pub fn delete_topic(&self, topic_id: &Uuid) {
        let removed: Vec<Arc<Partition>> = {
            let mut map = self
                .partitions
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let keys: Vec<_> = map
                .keys()
                .filter(|(id, _)| id == topic_id)
                .copied()
                .collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        for p in removed {
            let trash = format!("{}-{}.{}-delete", p.topic, p.index, topic_id.simple());
            if let Err(e) = p.delete_files(&trash) {
                warn!(topic = %p.topic, partition = p.index, error = %e, "could not remove deleted partition's files");
            }
        }
    }

    /// Stop hosting one partition (this broker is no longer one of its replicas after a
    /// reassignment) and remove its files. Blocking.
    pub fn delete_partition(&self, topic_id: &Uuid, index: i32) {
        let removed = self
            .partitions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(*topic_id, index));
        if let Some(p) = removed {
            let trash = format!("{}-{}.{}-delete", p.topic, p.index, topic_id.simple());
            if let Err(e) = p.delete_files(&trash) {
                warn!(topic = %p.topic, partition = p.index, error = %e, "could not remove a reassigned partition's files");
            }
        }
    }

    /// At start: remove the directory of partition `index` of topic `topic` (`topic_id`) if one
    /// is on disk although this broker is not one of its replicas (it was reassigned away while
    /// this broker was down: Kafka's stray replica). Only a directory whose `partition.metadata`
    /// names this topic id is removed. Blocking.
    pub fn remove_stray(&self, topic: &str, topic_id: Uuid, index: i32) {
        let dir = partition_dir(&self.data_dir, topic, index);
        let Ok(meta) = fs::read_to_string(dir.join("partition.metadata")) else {
            return;
        };
        let ours = format!("topic_id: {}", kafka_uuid_string(topic_id));
        if !meta.lines().any(|l| l.trim() == ours) {
            return;
        }
        let trash = dir.with_file_name(format!("{topic}-{index}.{}-stray", topic_id.simple()));
        match fs::rename(&dir, &trash).and_then(|()| fs::remove_dir_all(&trash)) {
            Ok(()) => {
                info!(topic, partition = index, broker = self.node_id, "removed a stray replica: this broker is no longer one of the partition's replicas");
            }
            Err(e) => {
                warn!(topic, partition = index, error = %e, "could not remove a stray replica's files");
            }
        }
    }

    /// Apply a changed topic config to every partition of the topic.
    pub fn set_log_config(&self, topic_id: &Uuid, config: &LogConfig) {
        for p in self.partitions_of(topic_id) {
            p.set_log_config(config.clone());
        }
    }

    /// Produce's entry point (Kafka's `appendRecords`): append each entry as leader, then wait
    /// until each appended entry is acknowledged under `acks`, at most `timeout` for
    /// replication:
    /// - its log reached `flush.messages`: an fsync covering its last offset has succeeded
    ///   (shared with concurrent requests, `group_commit`); never cut short by `timeout`;
    /// - acks=-1: the high watermark passed its last offset (every in-sync replica has it; on
    ///   this single node at once), else [`AppendError::Timeout`];
    ///
    /// Results come back in the entries' order. Blocking file I/O for the appends; waits are
    /// delayed operations.
    pub async fn append_records(
        &self,
        acks: i16,
        timeout: Duration,
        origin: AppendOrigin,
        entries: Vec<AppendEntry>,
        now_ms: i64,
    ) -> Vec<Result<AppendInfo, AppendError>> {
        // Validation and writes of every partition in one blocking task: one hand-off per
        // request, not per partition.
        let work = entries.clone();
        let appended = on_blocking_pool(move || {
            work.iter()
                .map(|e| {
                    // Kafka's `appendRecordsToLeader`: acks=all needs min.insync.replicas in
                    // sync before anything is written.
                    if acks == -1 && e.partition.below_min_isr() {
                        return Err(None);
                    }
                    e.partition
                        .append_as_leader(&e.records, origin, now_ms)
                        .map_err(Some)
                })
                .collect::<Vec<_>>()
        })
        .await;
        let appended = match appended {
            Ok(appended) => appended,
            Err(e) => {
                error!(error = %e, "produce not appended");
                let failed = |_: &AppendEntry| {
                    Err(AppendError::Storage(StorageError::Io(io::Error::other(
                        e.to_string(),
                    ))))
                };
                return entries.iter().map(failed).collect();
            }
        };
        let mut results: Vec<Result<AppendInfo, AppendError>> = Vec::with_capacity(entries.len());
        let mut syncs = Vec::new();
        for (i, (e, appended)) in entries.iter().zip(appended).enumerate() {
            let p = &e.partition;
            match appended {
                Ok(info) => {
                    if info.duplicate {
                        debug!(topic = %p.topic, partition = p.index, base_offset = info.base_offset,
                            "duplicate batch from an idempotent producer; answered with its original offsets");
                    }
                    if info.needs_flush {
                        // Join every partition's fsync round first, then wait: they overlap.
                        syncs.push((i, sync_partition_to(p, info.last_offset + 1)));
                    }
                    results.push(Ok(info));
                }
                Err(Some(err)) => {
                    warn!(topic = %p.topic, partition = p.index, error = %err, "produce rejected");
                    results.push(Err(AppendError::Storage(err)));
                }
                Err(None) => {
                    warn!(topic = %p.topic, partition = p.index, isr = ?p.isr(),
                        "produce with acks=all refused: fewer in-sync replicas than min.insync.replicas");
                    results.push(Err(AppendError::NotEnoughReplicas));
                }
            }
        }
        for (i, wait) in syncs {
            if let Err(err) = wait.await {
                let p = &entries[i].partition;
                error!(topic = %p.topic, partition = p.index, error = %err, "fsync failed; produce not acknowledged");
                results[i] = Err(AppendError::Sync(err));
            }
        }
        if acks == -1 {
            self.wait_for_replication(timeout, &entries, &mut results)
                .await;
        }
        // Nothing is acknowledged once the log directory failed, even data appended before.
        if let Err(e) = self.log_dir.check() {
            for r in results.iter_mut().filter(|r| r.is_ok()) {
                *r = Err(AppendError::Sync(io::Error::other(e.to_string())));
            }
        }
        results
    }

    /// DelayedProduce for one partition: wait until its high watermark reaches `end` (every in-sync
    /// replica has the records below it), at most `timeout` (a coordinator's acks=all write).
    pub(crate) async fn replicated(
        p: &Arc<Partition>,
        end: i64,
        timeout: Duration,
    ) -> Result<(), AppendError> {
        let done = || !p.is_leader() || p.high_watermark() >= end;
        if !done() {
            let op = DelayedOperation::new(Some(Instant::now() + timeout), None);
            p.watch_appended(&op);
            op.run(|attempt| (done() || attempt == Attempt::Expired).then_some(()))
                .await;
        }
        if p.high_watermark() >= end {
            if p.below_min_isr() {
                return Err(AppendError::NotEnoughReplicasAfterAppend);
            }
            Ok(())
        } else if !p.is_leader() {
            Err(AppendError::NotLeader)
        } else {
            Err(AppendError::Timeout)
        }
    }

    /// DelayedProduce: wait until the high watermark of every appended partition passes its
    /// last offset, or `timeout`.
    async fn wait_for_replication(
        &self,
        timeout: Duration,
        entries: &[AppendEntry],
        results: &mut [Result<AppendInfo, AppendError>],
    ) {
        let required: Vec<(usize, i64)> = results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().ok().map(|info| (i, info.last_offset + 1)))
            .collect();
        // Done (Kafka's `checkEnoughReplicasReachOffset`): replicated, or no longer led here.
        let done = |(i, end): &(usize, i64)| {
            let p = &entries[*i].partition;
            !p.is_leader() || p.high_watermark() >= *end
        };
        // Kafka's tryComplete before watching: on one node this is the only check that runs.
        let short: Vec<usize> = if required.iter().all(done) {
            Vec::new()
        } else {
            let op = DelayedOperation::new(Some(Instant::now() + timeout), None);
            for (i, _) in &required {
                entries[*i].partition.watch_appended(&op);
            }
            op.run(|attempt| {
                let short: Vec<usize> = required
                    .iter()
                    .filter(|r| !done(r))
                    .map(|(i, _)| *i)
                    .collect();
                (short.is_empty() || attempt == Attempt::Expired).then_some(short)
            })
            .await
        };
        for (i, end) in &required {
            let p = &entries[*i].partition;
            results[*i] = if short.contains(i) {
                Err(AppendError::Timeout)
            } else if p.high_watermark() < *end {
                Err(AppendError::NotLeader)
            } else if p.below_min_isr() {
                Err(AppendError::NotEnoughReplicasAfterAppend)
            } else {
                continue;
            };
        }
    }

    /// Persist every partition's moved log start offset (Kafka's
    /// `log-start-offset-checkpoint`). Blocking.
    pub fn write_start_checkpoint(&self) -> io::Result<()> {
        if let Err(e) = self.log_dir.check_writable() {
            return Err(io::Error::other(e.to_string()));
        }
        let mut text = String::new();
        let mut lines = 0;
        for p in self.all() {
            let start = p.log_start_offset();
            if start > 0 {
                text.push_str(&format!("{} {} {start}\n", p.topic, p.index));
                lines += 1;
            }
        }
        let written = write_atomically(
            &self.data_dir.join(LOG_START_CHECKPOINT),
            format!("0\n{lines}\n{text}").as_bytes(),
        );
        self.log_dir
            .guard_io("log-start-offset-checkpoint write", written)
    }

    /// Apply the persisted log start offsets to the open partitions (at start; in memory only
    /// when the directory is read-only). Blocking.
    pub fn load_start_checkpoint(
        &self,
        find: impl Fn(&str, i32) -> Option<Arc<Partition>>,
    ) -> Result<(), StorageError> {
        for (topic, partition, offset) in
            read_start_checkpoint(&self.data_dir.join(LOG_START_CHECKPOINT))?
        {
            if let Some(p) = find(&topic, partition) {
                p.restore_log_start_offset(offset)?;
            }
        }
        Ok(())
    }

    /// Flush, fsync and close every log (clean shutdown). Blocking. With the log directory
    /// offline (or read-only) nothing is flushed and the error says so: the caller must not
    /// mark the shutdown clean, so the next start recovers every log.
    pub fn close_all(&self) -> Result<(), StorageError> {
        self.log_dir.check_writable()?;
        let mut first_err = None;
        for p in self.all() {
            if let Err(e) = p.close() {
                warn!(topic = %p.topic, partition = p.index, error = %e, "flush at shutdown failed");
                first_err.get_or_insert(e);
            }
        }
        info!(partitions = self.map().len(), "closed every log");
        first_err.map_or(Ok(()), Err)
    }
}

/// Read Kafka's log-start-offset checkpoint; a missing file means no moved start offsets.
pub(crate) fn read_start_checkpoint(path: &Path) -> io::Result<Vec<(String, i32, i64)>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: malformed checkpoint", path.display()),
        )
    };
    let mut lines = text.lines();
    if lines.next() != Some("0") {
        return Err(bad());
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(bad)?;
    let mut out = Vec::with_capacity(count.min(1 << 16));
    for line in lines.take(count) {
        let mut f = line.rsplitn(3, ' ');
        let offset = f.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let partition = f.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let topic = f.next().ok_or_else(bad)?.to_string();
        out.push((topic, partition, offset));
    }
    Ok(out)
}
