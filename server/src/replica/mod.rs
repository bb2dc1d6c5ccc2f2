//! The replica layer (Kafka's `ReplicaManager` → `Partition` → `Log`): the one owner of every
//! partition this broker hosts, and the only way to its logs.
//!
//! - [`ReplicaManager`] opens, creates and deletes partitions (the log manager's part: one
//!   directory per partition in one of the log directories of `log.dirs` — the one that holds
//!   it, or for a new one the one with the fewest partitions —, Kafka's `partition.metadata` and
//!   per-directory `log-start-offset-checkpoint` files), moves a replica to another log
//!   directory (AlterReplicaLogDirs, through a `-future` copy), makes this node their leader,
//!   and runs Produce's one entry point, [`ReplicaManager::append_records`].
//! - [`Partition`] (`partition.rs`) holds the log, the leader epoch and its checkpoint, the high
//!   watermark and the in-sync replicas; every read and append goes through it.
//! - [`purgatory`] is the one mechanism for requests that wait on a partition: a Fetch below
//!   `min_bytes`, a Produce waiting for its data to be replicated (acks=all), an fsync.
//! - `group_commit` shares fsyncs among concurrent requests.
//! - [`LogDir`] (`log_dir.rs`) is a log directory's health: the first fsync or write error
//!   takes it offline (Kafka's `LogDirFailureChannel`), after which nothing in it is
//!   acknowledged; the other directories keep serving.
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
pub mod quota;
mod stats;

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use bytes::Bytes;
use minikafka_storage::{AppendInfo, Log, LogConfig, StorageError};

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
/// Kafka's high watermark checkpoint file, one per log directory.
pub const HW_CHECKPOINT: &str = "replication-offset-checkpoint";

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
    /// The log directories (`log.dirs`, in order) and their health.
    dirs: Vec<Arc<LogDir>>,
    node_id: i32,
    partitions: RwLock<HashMap<(Uuid, i32), Arc<Partition>>>,
    /// ISR change counters shared by every partition.
    counters: Arc<ReplicationCounters>,
    /// Replicas being moved to another directory (AlterReplicaLogDirs).
    moving: std::sync::Mutex<HashMap<(Uuid, i32), Arc<FutureReplica>>>,
    /// Set at shutdown: moves stop at their next step.
    stopping: std::sync::atomic::AtomicBool,
    /// Replication throttles (leader, follower, log-dir moves).
    quotas: quota::ReplicationQuotas,
}

/// A replica being moved to another log directory (Kafka's future replica), as DescribeLogDirs
/// shows it.
#[derive(Debug)]
pub struct FutureReplica {
    /// Where it goes.
    pub dest: Arc<LogDir>,
    /// Bytes copied so far.
    pub size: std::sync::atomic::AtomicU64,
    /// Its log end offset so far.
    pub log_end: std::sync::atomic::AtomicI64,
}

fn partition_dir(data_dir: &Path, topic: &str, index: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{index}"))
}

/// The suffix of a future replica's directory (Kafka's `-future`), while a move copies it.
pub const FUTURE_SUFFIX: &str = "-future";
/// The suffix of a directory being removed (Kafka's `-delete`).
const DELETE_SUFFIX: &str = "-delete";

/// How much a move copies per step, holding the source log's read lock only for the read.
const MOVE_STEP_BYTES: usize = 1 << 20;

impl ReplicaManager {
    /// A manager for the partitions in one directory, `data_dir` (none open yet).
    pub fn new(data_dir: &Path, node_id: i32) -> ReplicaManager {
        ReplicaManager::with_dirs(&[data_dir.to_path_buf()], node_id)
    }

    /// A manager for the partitions in the log directories `dirs` (`log.dirs`; none open yet).
    /// Leftovers of an interrupted move (`-future`) or removal (`-delete`) are removed: the
    /// replica they came from is intact in its directory.
    pub fn with_dirs(dirs: &[PathBuf], node_id: i32) -> ReplicaManager {
        let signals = Arc::new(log_dir::DirSignals::default());
        let dirs: Vec<Arc<LogDir>> = dirs
            .iter()
            .map(|d| Arc::new(LogDir::sharing(d, signals.clone())))
            .collect();
        for d in &dirs {
            remove_leftovers(d.path());
        }
        ReplicaManager {
            dirs,
            node_id,
            partitions: RwLock::new(HashMap::new()),
            counters: Arc::new(ReplicationCounters::default()),
            moving: std::sync::Mutex::new(HashMap::new()),
            stopping: std::sync::atomic::AtomicBool::new(false),
            quotas: quota::ReplicationQuotas::default(),
        }
    }

    /// The replication throttles of this broker.
    pub fn quotas(&self) -> &quota::ReplicationQuotas {
        &self.quotas
    }

    /// The log directories, in `log.dirs` order.
    pub fn log_dirs(&self) -> &[Arc<LogDir>] {
        &self.dirs
    }

    /// The log directory at `path` (absolute, as AlterReplicaLogDirs names it), if it is one.
    pub fn log_dir_at(&self, path: &Path) -> Option<&Arc<LogDir>> {
        self.dirs
            .iter()
            .find(|d| std::path::absolute(d.path()).is_ok_and(|a| a == path))
    }

    /// Whether every log directory is offline (the broker then has nothing to serve).
    pub fn all_offline(&self) -> bool {
        self.dirs.iter().all(|d| d.is_offline())
    }

    /// `Ok` when a new partition can be created: some directory takes writes.
    ///
    /// # Errors
    /// The first directory's refusal when none does (KAFKA_STORAGE_ERROR).
    pub fn check_can_create(&self) -> Result<(), StorageError> {
        let mut first = None;
        for d in &self.dirs {
            match d.check_writable() {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// The partitions hosted in `dir`.
    pub fn partitions_in(&self, dir: &Arc<LogDir>) -> Vec<Arc<Partition>> {
        self.all()
            .into_iter()
            .filter(|p| Arc::ptr_eq(&p.log_dir(), dir))
            .collect()
    }

    /// A replica being moved (AlterReplicaLogDirs): where it goes and how far it is.
    pub fn future_replica(&self, topic_id: &Uuid, index: i32) -> Option<Arc<FutureReplica>> {
        self.moving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(*topic_id, index))
            .cloned()
    }

    fn map(&self) -> RwLockReadGuard<'_, HashMap<(Uuid, i32), Arc<Partition>>> {
        self.partitions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Where a partition's log is: the directory that holds `<topic>-<index>`, or, for a new
    /// one, the online writable directory with the fewest partitions (Kafka's
    /// `LogManager.nextLogDirs`; ties go to the earlier one of `log.dirs`). The same partition
    /// in two directories is an error, as Kafka refuses to start on one.
    fn place(&self, topic: &str, index: i32, new: bool) -> Result<Arc<LogDir>, StorageError> {
        let found: Vec<&Arc<LogDir>> = self
            .dirs
            .iter()
            .filter(|d| partition_dir(d.path(), topic, index).exists())
            .collect();
        if found.len() > 1 {
            let paths: Vec<String> = found
                .iter()
                .map(|d| d.path().display().to_string())
                .collect();
            error!(topic, partition = index, dirs = ?paths, "the same partition is in two log directories");
            return Err(StorageError::Io(io::Error::other(format!(
                "duplicate log directories for {topic}-{index} are found in both {}",
                paths.join(" and ")
            ))));
        }
        if !new {
            if let Some(d) = found.first() {
                return Ok((*d).clone());
            }
        }
        let counts = {
            let map = self.map();
            self.dirs
                .iter()
                .map(|d| {
                    map.values()
                        .filter(|p| Arc::ptr_eq(&p.log_dir(), d))
                        .count()
                })
                .collect::<Vec<_>>()
        };
        let best = self
            .dirs
            .iter()
            .zip(counts)
            .filter(|(d, _)| d.check_writable().is_ok())
            .min_by_key(|(_, n)| *n)
            .map(|(d, _)| d.clone());
        match best {
            Some(d) => Ok(d),
            None => {
                self.check_can_create()?;
                Err(StorageError::Io(io::Error::other(
                    "no log directory takes writes",
                )))
            }
        }
    }

    /// Open an existing partition's log (recovering it unless `clean`), or create it when
    /// `new` (a stale directory of an earlier topic of that name is removed first), apply its
    /// `placement` (replicas, ISR), and, with
    /// `lead`, take its leadership at that epoch (the metadata log's), or at the next epoch of its
    /// own history if that is later; without, it waits to be made a follower. An existing log is
    /// opened in whichever log directory holds it; a new one goes to the directory with the fewest
    /// partitions. An existing log is recovered unless both `clean` and its directory's
    /// clean-shutdown marker ([`LogDir::set_was_clean`]) say otherwise. Blocking file I/O.
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
        if new {
            for d in &self.dirs {
                let stale = partition_dir(d.path(), topic, index);
                if stale.exists() {
                    warn!(dir = %stale.display(), topic, partition = index, "removing stale partition directory left by an earlier topic");
                    d.guard_io("stale partition removal", fs::remove_dir_all(&stale))?;
                }
            }
        }
        let log_dir = self.place(topic, index, new)?;
        if new {
            log_dir.check_writable()?;
        }
        let dir = partition_dir(log_dir.path(), topic, index);
        let p = Partition::open(
            &dir,
            topic,
            topic_id,
            index,
            config,
            new || (clean && log_dir.was_clean()),
            self.node_id,
            log_dir.clone(),
            self.counters.clone(),
        );
        let p = log_dir.guard("open log", p)?;
        let meta = dir.join("partition.metadata");
        if !meta.exists() {
            let written = write_atomically(
                &meta,
                format!("version: 0\ntopic_id: {}\n", kafka_uuid_string(topic_id)).as_bytes(),
            );
            log_dir.guard_io("partition.metadata write", written)?;
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
        if !new {
            debug!(topic, partition = index, log_dir = %log_dir.path().display(), "opened partition");
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

    /// AlterReplicaLogDirs: begin moving `p` to `dest` (Kafka's future replica). `Ok(false)`
    /// when it is already there or already moving there; a move to another directory replaces
    /// nothing (the first one finishes). Refused when `dest` (or the current directory) is
    /// offline or read-only.
    ///
    /// # Errors
    /// KAFKA_STORAGE_ERROR through [`StorageError`].
    pub fn begin_move(&self, p: &Arc<Partition>, dest: &Arc<LogDir>) -> Result<bool, StorageError> {
        dest.check_writable()?;
        let current = p.log_dir();
        current.check()?;
        if Arc::ptr_eq(&current, dest) {
            return Ok(false);
        }
        let mut moving = self.moving.lock().unwrap_or_else(PoisonError::into_inner);
        if moving.contains_key(&(p.topic_id, p.index)) {
            return Ok(false);
        }
        moving.insert(
            (p.topic_id, p.index),
            Arc::new(FutureReplica {
                dest: dest.clone(),
                size: 0.into(),
                log_end: 0.into(),
            }),
        );
        Ok(true)
    }

    /// Run a move [`ReplicaManager::begin_move`] accepted: copy `p`'s batches into a
    /// `-future` directory in `dest` while the partition keeps serving, then swap it in under
    /// the write lock and remove the old directory. Any failure leaves the partition where it
    /// was (the future directory removed; an I/O error in `dest` takes `dest` offline).
    /// Blocking; shutdown ([`ReplicaManager::stop_moves`]) ends it early.
    pub fn run_move(&self, p: &Arc<Partition>, dest: &Arc<LogDir>) {
        use std::sync::atomic::Ordering;
        let key = (p.topic_id, p.index);
        let progress = self.future_replica(&p.topic_id, p.index);
        let from = p.log_dir();
        let future_dir = dest.path().join(format!(
            "{}-{}.{}{FUTURE_SUFFIX}",
            p.topic,
            p.index,
            Uuid::new_v4().simple()
        ));
        info!(topic = %p.topic, partition = p.index, from = %from.path().display(),
            to = %dest.path().display(), "moving replica to another log directory");
        let result = (|| -> Result<Option<PathBuf>, StorageError> {
            let mut future = dest.guard(
                "future replica",
                Log::open(&future_dir, p.log_config(), true),
            )?;
            let truncations = dest.guard("future replica", p.start_future(&mut future))?;
            loop {
                if self.stopping.load(Ordering::Acquire) || p.is_deleted() {
                    return Ok(None);
                }
                // replica.alter.log.dirs.io.max.bytes.per.second: wait while over the rate.
                while self.quotas.alter_log_dirs.exceeded() {
                    if self.stopping.load(Ordering::Acquire) || p.is_deleted() {
                        return Ok(None);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                let before = future.size_bytes();
                let done = dest.guard(
                    "future replica copy",
                    p.copy_to_future(&mut future, MOVE_STEP_BYTES),
                )?;
                self.quotas
                    .alter_log_dirs
                    .record(future.size_bytes().saturating_sub(before));
                if let Some(f) = &progress {
                    f.size.store(future.size_bytes(), Ordering::Release);
                    f.log_end.store(future.log_end_offset(), Ordering::Release);
                }
                if done {
                    break;
                }
            }
            let final_dir = partition_dir(dest.path(), &p.topic, p.index);
            p.swap_in_future(future, truncations, dest.clone(), &final_dir)
                .map(Some)
        })();
        self.moving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
        match result {
            Ok(Some(old)) => {
                let trash = old.with_file_name(format!(
                    "{}-{}.{}{DELETE_SUFFIX}",
                    p.topic,
                    p.index,
                    Uuid::new_v4().simple()
                ));
                if let Err(e) = fs::rename(&old, &trash).and_then(|()| fs::remove_dir_all(&trash)) {
                    warn!(topic = %p.topic, partition = p.index, dir = %old.display(), error = %e,
                        "could not remove the moved replica's old directory");
                }
                for d in [&from, dest] {
                    if let Err(e) = self.write_start_checkpoint_of(d) {
                        warn!(log_dir = %d.path().display(), error = %e, "log-start-offset-checkpoint write failed after a move");
                    }
                }
                info!(topic = %p.topic, partition = p.index, from = %from.path().display(),
                    to = %dest.path().display(), log_end_offset = p.log_end_offset(),
                    "moved replica to another log directory");
            }
            Ok(None) => {
                let _ = fs::remove_dir_all(&future_dir);
                info!(topic = %p.topic, partition = p.index, "replica move abandoned (shutdown or topic deleted)");
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&future_dir);
                error!(topic = %p.topic, partition = p.index, to = %dest.path().display(), error = %e,
                    "replica move failed; the replica stays where it was");
            }
        }
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
        let ours = format!("topic_id: {}", kafka_uuid_string(topic_id));
        for log_dir in self.log_dirs() {
            let dir = partition_dir(log_dir.path(), topic, index);
            let Ok(meta) = fs::read_to_string(dir.join("partition.metadata")) else {
                continue;
            };
            if !meta.lines().any(|l| l.trim() == ours) {
                continue;
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
        // Nothing is acknowledged once its log directory failed, even data appended before.
        for (r, e) in results.iter_mut().zip(&entries) {
            if let (Ok(_), Err(err)) = (&r, e.partition.log_dir().check()) {
                *r = Err(AppendError::Sync(io::Error::other(err.to_string())));
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
    /// `log-start-offset-checkpoint`, one per log directory). A directory that refuses writes is
    /// skipped (its error is the result). Blocking.
    pub fn write_start_checkpoint(&self) -> io::Result<()> {
        let mut first = Ok(());
        for d in &self.dirs {
            if let Err(e) = self.write_start_checkpoint_of(d) {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    /// [`ReplicaManager::write_start_checkpoint`] of one directory.
    fn write_start_checkpoint_of(&self, dir: &Arc<LogDir>) -> io::Result<()> {
        self.write_checkpoint_of(dir, LOG_START_CHECKPOINT, |p| {
            let start = p.log_start_offset();
            (start > 0).then_some(start)
        })
    }

    /// Persist every partition's high watermark (Kafka's `replication-offset-checkpoint`, one
    /// per log directory, written every `replica.high.watermark.checkpoint.interval.ms` and at
    /// shutdown): a restarted replica starts from it instead of its log start, so it serves
    /// what was committed at once. Offline or read-only directories are skipped. Blocking.
    pub fn write_hw_checkpoint(&self) -> io::Result<()> {
        let mut first = Ok(());
        for d in self
            .dirs
            .iter()
            .filter(|d| !d.is_offline() && !d.is_read_only())
        {
            let written = self.write_checkpoint_of(d, HW_CHECKPOINT, |p| Some(p.high_watermark()));
            if let Err(e) = written {
                first = first.and(Err(e));
            }
        }
        first
    }

    /// Write checkpoint `file` of `dir`: a line `topic partition offset` for each partition of
    /// the directory that `offset` gives a value for, in Kafka's format (version 0, count).
    fn write_checkpoint_of(
        &self,
        dir: &Arc<LogDir>,
        file: &str,
        offset: impl Fn(&Partition) -> Option<i64>,
    ) -> io::Result<()> {
        if let Err(e) = dir.check_writable() {
            return Err(io::Error::other(e.to_string()));
        }
        let mut text = String::new();
        let mut lines = 0;
        for p in self.partitions_in(dir) {
            if let Some(o) = offset(&p) {
                text.push_str(&format!("{} {} {o}\n", p.topic, p.index));
                lines += 1;
            }
        }
        let written = write_atomically(
            &dir.path().join(file),
            format!("0\n{lines}\n{text}").as_bytes(),
        );
        dir.guard_io(file, written)
    }

    /// Start each open partition's high watermark at its checkpointed value (at most its log
    /// end), as Kafka's `Partition.createLogIfNotExists` does. A missing or unreadable file only
    /// means the replicas start from their log start offsets (logged). Blocking.
    pub fn load_hw_checkpoint(&self, find: impl Fn(&str, i32) -> Option<Arc<Partition>>) {
        for d in self.dirs.iter().filter(|d| !d.is_offline()) {
            let path = d.path().join(HW_CHECKPOINT);
            let entries = match read_start_checkpoint(&path) {
                Ok(e) => e,
                Err(e) => {
                    warn!(file = %path.display(), error = %e, "cannot read the high watermark checkpoint; replicas start from their log start");
                    continue;
                }
            };
            for (topic, partition, offset) in entries {
                if let Some(p) = find(&topic, partition).filter(|p| Arc::ptr_eq(&p.log_dir(), d)) {
                    p.restore_high_watermark(offset);
                }
            }
        }
    }

    /// Apply the persisted log start offsets (each directory's checkpoint, to the partitions
    /// in it) to the open partitions (at start; in memory only when a directory is read-only).
    /// Blocking.
    pub fn load_start_checkpoint(
        &self,
        find: impl Fn(&str, i32) -> Option<Arc<Partition>>,
    ) -> Result<(), StorageError> {
        for d in &self.dirs {
            if d.is_offline() {
                continue;
            }
            for (topic, partition, offset) in
                read_start_checkpoint(&d.path().join(LOG_START_CHECKPOINT))?
            {
                if let Some(p) = find(&topic, partition).filter(|p| Arc::ptr_eq(&p.log_dir(), d)) {
                    p.restore_log_start_offset(offset)?;
                }
            }
        }
        Ok(())
    }

    /// Shutdown: replica moves stop at their next step (their future directories are removed),
    /// and this waits for them, at most `timeout`. Blocking.
    pub fn stop_moves(&self, timeout: Duration) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Release);
        let deadline = std::time::Instant::now() + timeout;
        while !self
            .moving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Flush, fsync and close every log of `dir` (clean shutdown). Blocking. With the
    /// directory offline (or read-only) nothing is flushed and the error says so: the caller
    /// must not mark its shutdown clean, so the next start recovers its logs.
    pub fn close_dir(&self, dir: &Arc<LogDir>) -> Result<(), StorageError> {
        dir.check_writable()?;
        let mut first_err = None;
        let partitions = self.partitions_in(dir);
        for p in &partitions {
            if let Err(e) = p.close() {
                warn!(topic = %p.topic, partition = p.index, error = %e, "flush at shutdown failed");
                first_err.get_or_insert(e);
            }
        }
        info!(log_dir = %dir.path().display(), partitions = partitions.len(), "closed every log of the directory");
        first_err.map_or(Ok(()), Err)
    }
}

/// Remove what an interrupted move (`-future`) or removal (`-delete`) left in `dir`.
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let future = name.ends_with(FUTURE_SUFFIX);
        if (future || name.ends_with(DELETE_SUFFIX)) && e.path().is_dir() {
            match fs::remove_dir_all(e.path()) {
                Ok(()) if future => {
                    warn!(dir = %e.path().display(), "removed the future replica of a move interrupted by the last stop");
                }
                Ok(()) => {}
                Err(err) => {
                    warn!(dir = %e.path().display(), error = %err, "could not remove a leftover directory")
                }
            }
        }
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
