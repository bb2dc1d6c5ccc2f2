//! One hosted partition (Kafka's `Partition`): its local log and leader-epoch cache, the leader
//! epoch it is served under, the high watermark, the log end offset and the in-sync replica set.
//!
//! This is the only code that appends to or reads from a [`Log`]: the Produce and Fetch paths,
//! the coordinators, retention, the cleaner and the flusher all call the methods below, which
//! take the log lock for as long as one storage call needs and never across an `.await`.
//!
//! On this single node the partition is always the leader and its in-sync replica set is just
//! this node, so the high watermark follows the log end offset at once; the fields exist so that
//! replication can move them (follower fetches will raise the high watermark, a leader change
//! the epoch). Readers are capped at the high watermark (read_uncommitted) or the last stable
//! offset (read_committed), as in Kafka.
//!
//! Leader epochs: each time this node takes leadership ([`Partition::make_leader`]) the epoch
//! and the log end offset at that moment are recorded in the `leader-epoch-checkpoint` file
//! ([`LeaderEpochCache`]), appends stamp the current epoch on every batch, and
//! OffsetForLeaderEpoch is answered from the cache.
//!
//! Locking: `log` (a std `RwLock`: reads share, appends exclude), then `epochs`; the
//! group-commit state is taken before the log. Conditions that requests wait for are the
//! [`WatchList`]s `appended` (new data or a moved high watermark) and `durable` (an fsync
//! finished).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use kafka_protocol::error::ResponseError;
use minikafka_storage::batch::{iter_headers, BatchHeader};
use minikafka_storage::{
    AbortedTxn, AppendInfo, CleanStats, DeletedSegment, FileSlice, LeaderEpochCache, Log,
    LogConfig, ProducerSnapshotEntry, StorageError, SyncJob, TxnMarker,
};
use tracing::info;
use uuid::Uuid;

use super::group_commit::GroupCommit;
use super::log_dir::LogDir;
use super::purgatory::{DelayedOperation, WatchList};

/// Test hook run at the start of every append to a partition, on the thread doing the append
/// and under the partition's write lock: it may block, to hold an append in progress.
pub type AppendHook = Arc<dyn Fn() + Send + Sync>;

/// The partition's [`AppendHook`], if one is installed.
#[derive(Default)]
struct AppendHookSlot(Mutex<Option<AppendHook>>);

impl std::fmt::Debug for AppendHookSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = unpoison(self.0.lock()).is_some();
        f.debug_tuple("AppendHookSlot").field(&set).finish()
    }
}

/// Who is appending: a client's Produce, or a coordinator writing its own records (Kafka's
/// `AppendOrigin`). Coordinator appends skip the idempotence sequence check, as in Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A producer's record set.
    Client,
    /// The group or transaction coordinator.
    Coordinator,
}

/// Fetch isolation (Kafka's `FetchIsolation` for a consumer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Up to the high watermark.
    ReadUncommitted,
    /// Up to the last stable offset, with the aborted transactions that overlap the answer.
    ReadCommitted,
}

impl Isolation {
    /// From the wire's `isolation_level` (1 = read_committed).
    pub fn from_level(level: i8) -> Isolation {
        if level == 1 {
            Isolation::ReadCommitted
        } else {
            Isolation::ReadUncommitted
        }
    }
}

/// What one read of a partition found ([`Partition::read`]).
#[derive(Debug)]
pub struct LogReadResult {
    /// High watermark at the time of the read.
    pub high_watermark: i64,
    /// Last stable offset at the time of the read.
    pub last_stable_offset: i64,
    /// Log start offset at the time of the read.
    pub log_start_offset: i64,
    /// Whole batches in a segment file; `None` when there are none to return.
    pub records: Option<FileSlice>,
    /// read_committed only: the aborted transactions overlapping the returned batches.
    pub aborted: Vec<AbortedTxn>,
}

/// One partition hosted by this broker.
#[derive(Debug)]
pub struct Partition {
    /// Topic name (for logs).
    pub topic: String,
    /// Topic id.
    pub topic_id: Uuid,
    /// Partition index.
    pub index: i32,
    /// This node's id: the leader and the only in-sync replica for now.
    node_id: i32,
    /// The local log; readers share, appenders exclude.
    log: RwLock<Log>,
    /// Epoch → start offset history, persisted; taken after `log`.
    epochs: Mutex<LeaderEpochCache>,
    /// The epoch this partition is led under (stamped on appended batches).
    leader_epoch: AtomicI32,
    /// Offsets below it are replicated to every in-sync replica (here: written locally).
    high_watermark: AtomicI64,
    /// In-sync replicas (node ids).
    isr: Mutex<Vec<i32>>,
    /// Delayed fetches waiting for data, delayed produces waiting for the high watermark.
    appended: WatchList,
    /// Requests waiting for an fsync round to finish (group commit).
    durable: WatchList,
    /// Set when the topic is deleted; appends and reads are refused afterwards.
    deleted: AtomicBool,
    /// Shares fsyncs among concurrent requests that need this log durable.
    group_commit: GroupCommit,
    /// The log directory: an I/O error here takes it offline, and then nothing is served.
    log_dir: Arc<LogDir>,
    /// See [`AppendHook`].
    append_hook: AppendHookSlot,
}

fn unpoison<T>(r: Result<T, PoisonError<T>>) -> T {
    r.unwrap_or_else(PoisonError::into_inner)
}

impl Partition {
    /// Open (recovering if `clean` is false) the log in `dir` and its leader-epoch cache.
    /// A partition written before the cache existed gets one with its data under epoch 0. The
    /// partition is not led until [`Partition::make_leader`]. Blocking file I/O.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        dir: &Path,
        topic: &str,
        topic_id: Uuid,
        index: i32,
        config: LogConfig,
        clean: bool,
        node_id: i32,
        log_dir: Arc<LogDir>,
    ) -> Result<Partition, StorageError> {
        let log = Log::open(dir, config, clean)?;
        let start = log.log_start_offset();
        let end = log.log_end_offset();
        let epochs = match LeaderEpochCache::load(dir)? {
            Some(mut c) => {
                // Entries past the log end are gone (a crash lost the tail they started in). An
                // epoch that started exactly at the log end stays: it is why the next start
                // leads at a newer epoch even when nothing was written in between.
                // On a full disk the cache is changed in memory only (see `resume_writes`).
                let what = "leader-epoch checkpoint write";
                log_dir.tolerate_full_at_start(what, c.truncate_from_end(end.saturating_add(1)))?;
                log_dir.tolerate_full_at_start(what, c.truncate_from_start(start))?;
                c
            }
            None => {
                let mut c = LeaderEpochCache::empty(dir);
                if end > start {
                    info!(
                        topic,
                        partition = index,
                        log_start_offset = start,
                        "no leader-epoch checkpoint: existing data is epoch 0"
                    );
                    let assigned = c.assign(0, start);
                    log_dir.tolerate_full_at_start("leader-epoch checkpoint write", assigned)?;
                }
                c
            }
        };
        Ok(Partition {
            topic: topic.to_string(),
            topic_id,
            index,
            node_id,
            high_watermark: AtomicI64::new(end),
            log: RwLock::new(log),
            epochs: Mutex::new(epochs),
            leader_epoch: AtomicI32::new(-1),
            isr: Mutex::new(Vec::new()),
            appended: WatchList::default(),
            durable: WatchList::default(),
            deleted: AtomicBool::new(false),
            group_commit: GroupCommit::default(),
            log_dir,
            append_hook: AppendHookSlot::default(),
        })
    }

    fn read_log(&self) -> RwLockReadGuard<'_, Log> {
        unpoison(self.log.read())
    }

    fn write_log(&self) -> RwLockWriteGuard<'_, Log> {
        unpoison(self.log.write())
    }

    fn epochs(&self) -> MutexGuard<'_, LeaderEpochCache> {
        unpoison(self.epochs.lock())
    }

    /// The epoch this node would lead under next: one past the newest it has recorded (0 for a
    /// new partition).
    pub fn next_leader_epoch(&self) -> i32 {
        self.epochs()
            .latest_epoch()
            .map_or(0, |e| e.saturating_add(1))
    }

    /// Take leadership at `epoch`: record it as starting at the log end offset, make this node
    /// the only in-sync replica and the high watermark the log end offset. Blocking (writes the
    /// checkpoint).
    pub fn make_leader(&self, epoch: i32) -> Result<(), StorageError> {
        self.lead(epoch, false)
    }

    /// [`Partition::make_leader`] for an existing log at start-up: on a full disk the epoch is
    /// taken in memory only and the log directory becomes read-only (nothing is appended under
    /// the unrecorded epoch until [`Partition::resume_writes`] records it, once space frees).
    pub(crate) fn make_leader_at_start(&self, epoch: i32) -> Result<(), StorageError> {
        self.lead(epoch, true)
    }

    fn lead(&self, epoch: i32, at_start: bool) -> Result<(), StorageError> {
        let log = self.write_log();
        let end = log.log_end_offset();
        let assigned = self.epochs().assign(epoch, end);
        let what = "leader-epoch checkpoint write";
        if at_start {
            self.log_dir.tolerate_full_at_start(what, assigned)?;
        } else {
            self.log_dir.guard(what, assigned)?;
        }
        self.leader_epoch.store(epoch, Ordering::Release);
        *unpoison(self.isr.lock()) = vec![self.node_id];
        self.high_watermark.store(end, Ordering::Release);
        drop(log);
        info!(topic = %self.topic, partition = self.index, leader_epoch = epoch, log_end_offset = end, "leading partition");
        self.appended.check_and_complete();
        Ok(())
    }

    /// The current leader epoch.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// The in-sync replicas.
    pub fn isr(&self) -> Vec<i32> {
        unpoison(self.isr.lock()).clone()
    }

    /// The high watermark.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// The log end offset.
    pub fn log_end_offset(&self) -> i64 {
        self.read_log().log_end_offset()
    }

    /// Total size of the partition's `.log` files in bytes (DescribeLogDirs).
    pub fn size_bytes(&self) -> u64 {
        self.read_log().size_bytes()
    }

    /// The log start offset.
    pub fn log_start_offset(&self) -> i64 {
        self.read_log().log_start_offset()
    }

    /// The last stable offset: the first offset of an open transaction, capped at the high
    /// watermark.
    pub fn last_stable_offset(&self) -> i64 {
        self.read_log()
            .last_stable_offset()
            .min(self.high_watermark())
    }

    /// The offset below which everything is fsynced.
    pub fn flushed_offset(&self) -> i64 {
        self.read_log().flushed_offset()
    }

    /// Check a request's `current_leader_epoch` (-1: not given) against ours, as Kafka's
    /// `Partition.checkCurrentLeaderEpoch`: older → FENCED_LEADER_EPOCH, newer →
    /// UNKNOWN_LEADER_EPOCH. A partition whose log directory is offline is not served at any
    /// epoch: KAFKA_STORAGE_ERROR (Kafka's `getPartitionOrException` checks that first).
    pub fn check_leader_epoch(&self, current: i32) -> Result<(), ResponseError> {
        if self.log_dir.is_offline() {
            return Err(ResponseError::KafkaStorageError);
        }
        let ours = self.leader_epoch();
        if current == -1 || current == ours {
            Ok(())
        } else if current < ours {
            Err(ResponseError::FencedLeaderEpoch)
        } else {
            Err(ResponseError::UnknownLeaderEpoch)
        }
    }

    /// The single-node high watermark: every in-sync replica (this node) has the log end offset.
    fn maybe_increment_high_watermark(&self, log: &Log) {
        self.high_watermark
            .fetch_max(log.log_end_offset(), Ordering::AcqRel);
    }

    /// Validate and append a record set as leader under the current epoch. Wakes delayed
    /// fetches. Blocking file I/O and CPU work (validation decompresses compressed batches):
    /// call it from the blocking pool ([`super::on_blocking_pool`]).
    pub fn append_as_leader(
        &self,
        records: &[u8],
        origin: AppendOrigin,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let mut log = self.write_log();
        let hook = unpoison(self.append_hook.0.lock()).clone();
        if let Some(hook) = hook {
            hook();
        }
        self.log_dir.check_writable()?;
        let epoch = self.leader_epoch();
        let segments = log.segment_count();
        let info = self.log_dir.guard(
            "append",
            match origin {
                AppendOrigin::Client => log.append(records, epoch, now_ms),
                AppendOrigin::Coordinator => log.append_from_coordinator(records, epoch, now_ms),
            },
        )?;
        self.maybe_increment_high_watermark(&log);
        self.note_roll(&log, segments);
        drop(log);
        if !info.duplicate {
            self.appended.check_and_complete();
        }
        Ok(info)
    }

    /// Write a transaction marker as leader (see [`Log::append_txn_marker`]). Wakes delayed
    /// fetches. Blocking file I/O.
    pub fn append_txn_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        marker: TxnMarker,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let mut log = self.write_log();
        self.log_dir.check_writable()?;
        let segments = log.segment_count();
        let info = self.log_dir.guard(
            "append",
            log.append_txn_marker(
                producer_id,
                producer_epoch,
                coordinator_epoch,
                marker,
                self.leader_epoch(),
                now_ms,
            ),
        )?;
        self.maybe_increment_high_watermark(&log);
        self.note_roll(&log, segments);
        drop(log);
        self.appended.check_and_complete();
        Ok(info)
    }

    /// Read whole batches from `offset`, at most `max_bytes` (at least one batch if `min_one`),
    /// up to the high watermark or, read_committed, the last stable offset. The records are
    /// located, not read ([`Log::read_slice`]). `&self`, positional reads under the read lock.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        isolation: Isolation,
    ) -> Result<LogReadResult, StorageError> {
        self.log_dir.check()?;
        let log = self.read_log();
        let hw = self.high_watermark();
        let lso = log.last_stable_offset().min(hw);
        let max_offset = match isolation {
            Isolation::ReadUncommitted => hw,
            Isolation::ReadCommitted => lso,
        };
        let read = log.read_slice(offset, max_bytes, min_one, max_offset)?;
        let aborted = match (isolation, read.next_offset) {
            (Isolation::ReadCommitted, Some(end)) => log.aborted_transactions(offset, end)?,
            _ => Vec::new(),
        };
        Ok(LogReadResult {
            high_watermark: hw,
            last_stable_offset: lso,
            log_start_offset: log.log_start_offset(),
            records: read.records,
            aborted,
        })
    }

    /// ListOffsets for one partition (Kafka's `fetchOffsetForTimestamp`): the offset (and its
    /// timestamp and leader epoch) for `timestamp`, which is a time or one of Kafka's special
    /// values (-1 latest, -2 earliest, -3 max timestamp, -4 earliest local). A lookup by time
    /// finds nothing at or past the last offset the isolation level may fetch. `None`: no such
    /// offset.
    pub fn fetch_offset_for_timestamp(
        &self,
        timestamp: i64,
        isolation: Isolation,
    ) -> Result<Option<(i64, i64, i32)>, StorageError> {
        const LATEST: i64 = -1;
        const EARLIEST: i64 = -2;
        const MAX_TIMESTAMP: i64 = -3;
        const EARLIEST_LOCAL: i64 = -4;
        self.log_dir.check()?;
        let log = self.read_log();
        let hw = self.high_watermark();
        let fetchable = match isolation {
            Isolation::ReadUncommitted => hw,
            Isolation::ReadCommitted => log.last_stable_offset().min(hw),
        };
        let found = match timestamp {
            LATEST => Some((fetchable, -1)),
            EARLIEST | EARLIEST_LOCAL => Some((log.log_start_offset(), -1)),
            MAX_TIMESTAMP => log
                .max_timestamp()?
                .filter(|(offset, _)| *offset < fetchable),
            ts if ts >= 0 => log
                .offset_for_timestamp(ts)?
                .filter(|(offset, _)| *offset < fetchable),
            _ => None,
        };
        drop(log);
        Ok(found.map(|(offset, ts)| {
            // Kafka: the latest offset carries the current leader epoch, any other the epoch
            // it was written under.
            let epoch = if timestamp == LATEST {
                self.leader_epoch()
            } else {
                self.epochs().epoch_for_offset(offset).unwrap_or(-1)
            };
            (offset, ts, epoch)
        }))
    }

    /// OffsetForLeaderEpoch: the largest epoch ≤ `requested` and its end offset
    /// ([`LeaderEpochCache::end_offset_for`]).
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        let log = self.read_log();
        let end = log.log_end_offset();
        let r = self.epochs().end_offset_for(requested, end);
        drop(log);
        r
    }

    /// The idempotent producers tracked (DescribeProducers).
    pub fn producers(&self) -> Vec<ProducerSnapshotEntry> {
        self.read_log().producers()
    }

    /// Drop producers idle past `expiration_ms`; returns how many.
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        self.write_log().expire_producers(now_ms, expiration_ms)
    }

    /// The log's config.
    pub fn log_config(&self) -> LogConfig {
        self.read_log().config().clone()
    }

    /// Apply a changed topic config.
    pub fn set_log_config(&self, config: LogConfig) {
        self.write_log().set_config(config);
    }

    /// Roll the active segment if `segment.ms` passed, then apply retention; the leader-epoch
    /// cache follows a moved log start. Returns the deleted segments. Blocking file I/O.
    pub fn roll_and_retain(
        &self,
        now_ms: i64,
    ) -> Result<Vec<DeletedSegment>, (StorageError, &'static str)> {
        let mut log = self.write_log();
        let dir = &self.log_dir;
        if dir.check_writable().is_err() {
            // Offline or read-only: nothing may change on disk (the cause was logged once).
            return Ok(Vec::new());
        }
        let segments = log.segment_count();
        dir.guard("segment roll", log.maybe_roll(now_ms))
            .map_err(|e| (e, "segment roll"))?;
        self.note_roll(&log, segments);
        let deleted = dir
            .guard("retention", log.enforce_retention(now_ms))
            .map_err(|e| (e, "retention"))?;
        if !deleted.is_empty() {
            let truncated = self.epochs().truncate_from_start(log.log_start_offset());
            dir.guard("leader-epoch checkpoint write", truncated)
                .map_err(|e| (e, "leader-epoch checkpoint"))?;
        }
        Ok(deleted)
    }

    /// DeleteRecords: move the log start offset up to `offset` (clamped to the high watermark
    /// by the caller). Returns the deleted segments and the new start. Blocking.
    pub fn advance_log_start_offset(
        &self,
        offset: i64,
    ) -> Result<(Vec<DeletedSegment>, i64), StorageError> {
        let mut log = self.write_log();
        self.log_dir.check_writable()?;
        // After an unclean shutdown the log may end below a recorded start: clamp.
        let offset = offset.min(log.log_end_offset());
        let deleted = self
            .log_dir
            .guard("log start offset", log.advance_log_start_offset(offset))?;
        let start = log.log_start_offset();
        let truncated = self.epochs().truncate_from_start(start);
        self.log_dir
            .guard("leader-epoch checkpoint write", truncated)?;
        Ok((deleted, start))
    }

    /// At start, apply the log start offset persisted in the log-start checkpoint. A read-only
    /// directory (full disk) takes it in memory only: reads answer from it, and the segments
    /// below it and the leader-epoch checkpoint wait for [`Partition::resume_writes`]. Blocking.
    pub(crate) fn restore_log_start_offset(&self, offset: i64) -> Result<(), StorageError> {
        if !self.log_dir.is_read_only() {
            return self.advance_log_start_offset(offset).map(|_| ());
        }
        let mut log = self.write_log();
        let offset = offset.min(log.log_end_offset());
        if log.raise_log_start_offset(offset)? {
            self.epochs()
                .truncate_from_start_in_memory(log.log_start_offset());
        }
        Ok(())
    }

    /// The directory takes writes again after a read-only start: write what was kept in memory
    /// (the leader-epoch checkpoint, the segments below a restored log start offset). Blocking.
    pub(crate) fn resume_writes(&self) -> Result<(), StorageError> {
        let mut log = self.write_log();
        let deleted = log.delete_segments_below_log_start()?;
        for d in deleted {
            info!(topic = %self.topic, partition = self.index, base_offset = d.base_offset, size = d.size, "deleted segment below the log start offset");
        }
        self.epochs().flush()
    }

    /// Whether the time-based flusher should fsync now (`flush.ms` passed with unflushed data).
    pub fn flush_due(&self, now_ms: i64) -> bool {
        let log = self.read_log();
        let flush_ms = log.config().flush_ms;
        flush_ms != i64::MAX
            && log.unflushed_messages() > 0
            && now_ms.saturating_sub(log.last_flush_ms()) >= flush_ms
    }

    /// Whether the cleaner should look at this log.
    pub fn is_compacted(&self) -> bool {
        self.read_log().config().cleanup_policy.compact
    }

    /// One clean: plan under the read lock, run without a lock, commit under the write lock.
    /// `None` when nothing is cleanable, the log directory is offline or the topic was deleted
    /// meanwhile. The key map holds at most `dedupe_buffer_size` bytes
    /// (`log.cleaner.dedupe.buffer.size`). Blocking.
    pub fn clean(
        &self,
        now_ms: i64,
        dedupe_buffer_size: usize,
    ) -> Result<Option<CleanStats>, StorageError> {
        if self.log_dir.check_writable().is_err() {
            return Ok(None);
        }
        let Some(plan) = self.read_log().plan_clean(now_ms)? else {
            return Ok(None);
        };
        let cleaned = self.log_dir.guard(
            "log clean",
            plan.with_dedupe_buffer_size(dedupe_buffer_size).run(),
        )?;
        if self.is_deleted() {
            cleaned.discard();
            return Ok(None);
        }
        let stats = self
            .log_dir
            .guard("log clean", self.write_log().commit_clean(cleaned))?;
        Ok(Some(stats))
    }

    /// Call `f` with the header and bytes of every whole batch, oldest first (the coordinators'
    /// replay of their internal topics at start). Blocking; holds the read lock.
    pub fn for_each_batch(
        &self,
        mut f: impl FnMut(&BatchHeader, &[u8]),
    ) -> Result<(), StorageError> {
        self.log_dir.check()?;
        let log = self.read_log();
        let mut offset = log.log_start_offset();
        let end = log.log_end_offset();
        while offset < end {
            let read = log.read(offset, 1 << 20, true)?;
            let mut next = offset;
            for item in iter_headers(&read.records) {
                let (at, h) = item?;
                next = h.next_offset();
                f(&h, &read.records[at..at + h.size()]);
            }
            if next <= offset {
                break;
            }
            offset = next;
        }
        Ok(())
    }

    /// Flush and fsync the log (clean shutdown). Blocking. Refused when the log directory is
    /// offline (a retried fsync proves nothing) or read-only.
    pub fn close(&self) -> Result<(), StorageError> {
        let mut log = self.write_log();
        self.log_dir.check_writable()?;
        self.log_dir
            .guard("flush at shutdown", log.close_in_place())
    }

    /// Mark the partition deleted (its topic is gone) and remove its files by renaming the
    /// directory to `trash_name` first. Wakes waiters so they see it. Blocking.
    pub(crate) fn delete_files(&self, trash_name: &str) -> std::io::Result<()> {
        self.deleted.store(true, Ordering::Release);
        let log = self.write_log();
        let dir = log.dir().to_path_buf();
        let trash = dir.with_file_name(trash_name);
        let res = std::fs::rename(&dir, &trash).and_then(|()| std::fs::remove_dir_all(&trash));
        drop(log);
        self.appended.check_and_complete();
        res
    }

    /// Whether the topic was deleted while this handle was held.
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// Register a delayed operation to be woken by the next append (or a moved high watermark).
    pub fn watch_appended(&self, op: &DelayedOperation) {
        op.watch(&self.appended);
    }

    /// Register a delayed operation to be woken when an fsync round finishes.
    pub(super) fn watch_durable(&self, op: &DelayedOperation) {
        op.watch(&self.durable);
    }

    /// An fsync round finished (or was abandoned): wake the requests waiting for one.
    pub(super) fn durable_changed(&self) {
        self.durable.check_and_complete();
    }

    /// The partition's group-commit state.
    pub(super) fn group_commit(&self) -> &GroupCommit {
        &self.group_commit
    }

    /// The next fsync to run, if anything is unflushed (group commit driver).
    pub(super) fn sync_job(&self) -> Option<SyncJob> {
        self.read_log().sync_job()
    }

    /// Record a finished fsync (group commit driver).
    pub(super) fn mark_flushed(&self, offset: i64, now_ms: i64) {
        self.write_log().mark_flushed(offset, now_ms);
    }

    /// The partition's log directory.
    pub fn log_dir(&self) -> &Arc<LogDir> {
        &self.log_dir
    }

    /// The base offset of the active segment: every segment below it is closed.
    pub fn active_segment_base(&self) -> i64 {
        self.read_log()
            .segments()
            .last()
            .map_or(0, minikafka_storage::segment::Segment::base_offset)
    }

    /// A write under the log lock added a segment (a roll): have the closed one fsynced in the
    /// background (Kafka flushes a rolled segment asynchronously).
    fn note_roll(&self, log: &Log, segments_before: usize) {
        if log.segment_count() > segments_before {
            self.log_dir.segment_rolled();
        }
    }

    /// fsyncs of this partition's log started by the group commit so far (produce, offset and
    /// transaction acknowledgements, `flush.ms`); not those of shutdown or deletion. For tests
    /// and diagnostics.
    pub fn fsync_count(&self) -> u64 {
        self.group_commit.fsync_count()
    }

    /// Test hook: run `hook` at the start of each append to this partition, under its write
    /// lock (`None` removes it). See [`AppendHook`].
    #[doc(hidden)]
    pub fn set_append_hook(&self, hook: Option<AppendHook>) {
        *unpoison(self.append_hook.0.lock()) = hook;
    }

    /// Test hook: run `hook` on the blocking thread before each group-commit fsync of this
    /// partition (`None` removes it). See [`super::FsyncHook`].
    #[doc(hidden)]
    pub fn set_fsync_hook(&self, hook: Option<super::FsyncHook>) {
        self.group_commit.set_hook(hook);
    }
}
