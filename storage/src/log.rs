//! [`Log`]: one partition's segmented log (Kafka's `UnifiedLog` + `LocalLog`, local storage only).
//!
//! Segments live in a `BTreeMap` keyed by base offset; the last one is the active segment that takes appends. The
//! log start offset is the first segment's base offset; the log end offset (LEO) is the active segment's next
//! offset.
//!
//! Thread-safety: `Log` is `Send + Sync`. Methods that change the log take `&mut self` (the server wraps the log in
//! a lock); [`Log::read`], [`Log::read_upto`], [`Log::offset_for_timestamp`] and [`Log::max_timestamp`] take `&self`
//! and use positional reads, and [`Log::last_stable_offset`] and [`Log::aborted_transactions`] take `&self` and do
//! no I/O, so many readers can share a read lock.
//!
//! Durability: appends land in the page cache. [`Log::sync_job`] collects the files that hold unflushed data, to be
//! fsynced outside the lock ([`SyncJob::run`], on a blocking thread); [`Log::mark_flushed`] then records the new
//! recovery point. [`Log::flush`] and [`Log::close`] do all of that in place. After a crash, open with
//! `clean_shutdown = false`: the last segment is validated and truncated at the first bad byte.
//!
//! Idempotent producers: the log keeps a [`crate::producer_state`] map (Kafka's `ProducerStateManager`). Appends
//! are checked against it before anything is written (duplicates answered with the original offsets, sequence
//! gaps and stale epochs rejected); a `%020d.snapshot` of it is written when a segment rolls and at close, and
//! opening or truncating the log reloads the newest usable snapshot and replays the batch headers after it.
//!
//! Transactions: [`Log::append_txn_marker`] writes a coordinator's COMMIT/ABORT marker, [`Log::append_from_coordinator`]
//! the group coordinator's transactional offset commits. The producer state tracks each producer's ongoing
//! transaction, which gives [`Log::last_stable_offset`] (single node: high watermark = log end offset). An ABORT
//! that ends a transaction gets an entry in the marker's segment's `.txnindex`, queried by
//! [`Log::aborted_transactions`]; [`Log::read_upto`] bounds a `read_committed` fetch at the LSO. The replay that
//! rebuilds producer state after a crash or a truncation also rewrites the `.txnindex` entries from the replay
//! start on, so they always match the log.
//!
//! Replication: a follower copies its leader's batches byte for byte with [`Log::append_as_follower`] (offsets,
//! epochs and CRCs as the leader stored them; producer state, markers and `.txnindex` entries derived as the
//! leader derived them), cuts a divergent tail with [`Log::truncate_to`] and restarts from the leader's log start
//! with [`Log::truncate_fully_and_start_at`].

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{self, BatchHeader, TxnMarker};
use crate::cleaner::{
    check_fail_point, complete_interrupted_swaps, rename_all, CleanPlan, CleanStats,
    CleanedSegments, FailPoint, Source, CLEANED_SUFFIX, DELETED_SUFFIX, SWAP_SUFFIX,
};
use crate::config::{LogConfig, TimestampType};
use crate::error::{Result, StorageError};
use crate::open_files::CachedFile;
use crate::producer_state::{
    AppendPlan, IncomingBatch, Origin, ProducerSnapshotEntry, ProducerStateEntry,
    ProducerStateManager,
};
use crate::segment::{
    file_name, parse_file_name, segment_paths, wall_clock_ms, FileSlice, OpenMode, Segment,
    INDEX_SUFFIX, LEFTOVER_SUFFIXES, LOG_SUFFIX, TIME_INDEX_SUFFIX,
};
use crate::txn_index::{AbortedTxn, TXN_INDEX_SUFFIX};

/// Result of a successful [`Log::append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the first record.
    pub base_offset: i64,
    /// Offset assigned to the last record.
    pub last_offset: i64,
    /// The append time stamped on the batches with `LogAppendTime`, else -1.
    pub log_append_time: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// Number of records appended.
    pub record_count: u64,
    /// Whether the unflushed messages reached `flush.messages` (the caller should schedule a flush).
    pub needs_flush: bool,
    /// The record set repeated a batch an idempotent producer had already written (one of its last 5): nothing
    /// was written, `base_offset`/`last_offset` are those of the original batch, `log_append_time` is its stored
    /// max timestamp (as Kafka answers) and `record_count` is 0.
    pub duplicate: bool,
}

/// Result of a successful [`Log::read`].
#[derive(Debug, Clone)]
pub struct ReadInfo {
    /// Whole batches, exactly as stored (empty at the log end).
    pub records: Bytes,
    /// Log start offset at the time of the read.
    pub log_start_offset: i64,
    /// Log end offset at the time of the read.
    pub log_end_offset: i64,
}

/// Result of a successful [`Log::read_slice`].
#[derive(Debug, Clone)]
pub struct SliceInfo {
    /// Where the whole batches lie in a segment file; `None` when there are none to return.
    pub records: Option<FileSlice>,
    /// The offset after the last returned batch; `None` when there are none.
    pub next_offset: Option<i64>,
    /// Log start offset at the time of the read.
    pub log_start_offset: i64,
    /// Log end offset at the time of the read.
    pub log_end_offset: i64,
}

/// A segment removed by [`Log::enforce_retention`].
#[derive(Debug, Clone)]
pub struct DeletedSegment {
    /// Base offset of the deleted segment.
    pub base_offset: i64,
    /// Size of its `.log` in bytes.
    pub size: u64,
    /// Why it was deleted (retention time or size breach).
    pub reason: String,
}

/// Files to fsync outside the log lock: get one from [`Log::sync_job`], [`SyncJob::run`] it on a blocking thread
/// (`tokio::task::spawn_blocking`), then call [`Log::mark_flushed`] with the offset it returns.
#[derive(Debug)]
pub struct SyncJob {
    /// Segment files, reopened through the cache of open files if it closed them meanwhile.
    files: Vec<CachedFile>,
    /// Producer snapshot files.
    snapshots: Vec<Arc<File>>,
    dir: Option<PathBuf>,
    dir_generation: u64,
    dir_synced: Arc<AtomicU64>,
    offset: i64,
}

impl SyncJob {
    /// `fdatasync` every file (and `fsync` the directory if segment files were created or deleted). Blocking.
    /// Returns the offset everything below which is now durable.
    pub fn run(self) -> io::Result<i64> {
        for file in &self.files {
            file.sync_data()?;
        }
        for file in &self.snapshots {
            file.sync_data()?;
        }
        if let Some(dir) = &self.dir {
            File::open(dir)?.sync_all()?;
            self.dir_synced
                .fetch_max(self.dir_generation, Ordering::AcqRel);
        }
        Ok(self.offset)
    }

    /// The offset [`SyncJob::run`] will report as durable.
    pub fn offset(&self) -> i64 {
        self.offset
    }
}

/// One partition's log. See the module docs for the thread-safety and durability contract.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    /// Never empty: the last entry is the active segment.
    segments: BTreeMap<i64, Segment>,
    /// Everything below this offset is durable.
    recovery_point: i64,
    last_flush_ms: i64,
    /// Count of file creations/deletions in `dir`.
    dir_changes: u64,
    /// The `dir_changes` value covered by the last directory fsync (shared with sync jobs).
    dir_synced: Arc<AtomicU64>,
    /// Idempotent producers' state and its snapshot files.
    producer_state: ProducerStateManager,
    /// Log start offset moved past the first segment's base by DeleteRecords (0 = not moved).
    /// The first segment's base wins when it is higher. Persisted by the caller (Kafka keeps it
    /// in the data directory's `log-start-offset-checkpoint`).
    start_offset: i64,
    /// The log cleaner's checkpoint: the first dirty offset (Kafka's `cleaner-offset-checkpoint`); 0 = the log
    /// start. In memory only unless the caller persists it.
    cleaner_checkpoint: i64,
    /// Earliest delete horizon of a tombstone the last clean kept: once passed, the log is worth cleaning again
    /// whatever its dirty ratio (Kafka's `latestDeleteHorizon`).
    min_delete_horizon: Option<i64>,
}

/// Kafka's `LogValidator` checks for `AppendOrigin.CLIENT`: no control batch (only coordinators write markers),
/// and a batch with a producer id must carry a sequence.
fn check_client_batches(headers: &[BatchHeader]) -> Result<()> {
    for h in headers {
        if h.is_control() {
            return Err(StorageError::InvalidRecord(
                "Clients are not allowed to write control records".into(),
            ));
        }
        if h.producer_id >= 0 && h.base_sequence < 0 {
            return Err(StorageError::InvalidRecord(format!(
                "Invalid sequence number {} in record batch with producerId {}",
                h.base_sequence, h.producer_id
            )));
        }
    }
    Ok(())
}

/// Whether an I/O error says the disk (or the quota) is full: ENOSPC or EDQUOT.
pub fn is_disk_full(e: &io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
        || matches!(
            e.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
        )
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Log {
    /// Open (or create) the log in `dir`.
    ///
    /// `clean_shutdown = false` runs recovery: the last segment (and the one before it if the last is empty) is
    /// validated batch by batch (length framing, magic, offsets, CRC) and truncated at the first bad byte, its
    /// indexes rebuilt. In every mode, a segment whose index files are missing or damaged gets them rebuilt, and
    /// leftover `.deleted`/`.cleaned`/`.swap` files and orphan index files are deleted. With
    /// `clean_shutdown = true` no segment is rescanned: only the tail of the last segment after its last index entry
    /// is read, to find the log end offset. An empty directory gives a new log with segment 0.
    ///
    /// A full disk does not fail the open: an index that cannot be rebuilt on disk is kept in memory (its file
    /// removed, so the next open rebuilds it; see [`crate::index`]), and a producer snapshot that cannot be written
    /// is skipped. The log then serves reads; the caller refuses writes until space frees.
    ///
    /// Blocking (file I/O, fsync after recovery). The returned log has everything on disk marked flushed.
    pub fn open(dir: &Path, config: LogConfig, clean_shutdown: bool) -> Result<Log> {
        let created = !dir.exists();
        std::fs::create_dir_all(dir)?;
        if created {
            if let Some(parent) = dir.parent() {
                fsync_dir(parent)?;
            }
        }
        let mut bases = Vec::new();
        let mut index_files = Vec::new();
        // Total `.log` bytes before recovery, to report what it cut.
        let mut bytes_before = 0u64;
        let mut changed = complete_interrupted_swaps(dir)?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if LEFTOVER_SUFFIXES.iter().any(|s| name.ends_with(s)) {
                tracing::info!(dir = %dir.display(), file = name, "deleting leftover file");
                std::fs::remove_file(entry.path())?;
                changed = true;
            } else if let Some(base) = parse_file_name(name, LOG_SUFFIX) {
                bases.push(base);
                bytes_before += entry.metadata()?.len();
            } else if let Some(base) = parse_file_name(name, INDEX_SUFFIX)
                .or_else(|| parse_file_name(name, TIME_INDEX_SUFFIX))
                .or_else(|| parse_file_name(name, TXN_INDEX_SUFFIX))
            {
                index_files.push((base, entry.path()));
            }
        }
        bases.sort_unstable();
        for (base, path) in index_files {
            if bases.binary_search(&base).is_err() {
                tracing::info!(dir = %dir.display(), file = %path.display(), "deleting orphan index file");
                std::fs::remove_file(path)?;
                changed = true;
            }
        }
        let now = wall_clock_ms();
        let mut segments = BTreeMap::new();
        if bases.is_empty() {
            segments.insert(0, Segment::create(dir, 0, now)?);
            changed = true;
        }
        let last = bases.len().saturating_sub(1);
        for (i, &base) in bases.iter().enumerate() {
            let mode = match (i == last, clean_shutdown) {
                (true, true) => OpenMode::ActiveClean,
                (true, false) => OpenMode::Recover,
                (false, _) => OpenMode::Inactive,
            };
            segments.insert(base, Segment::open(dir, base, mode, &config, true)?);
        }
        if !clean_shutdown
            && bases.len() >= 2
            && segments.get(&bases[last]).is_some_and(|s| s.size() == 0)
        {
            // A crash right after a roll: the previous segment may have a torn tail too.
            if let Some(prev) = segments.get_mut(&bases[last - 1]) {
                prev.recover(&config)?;
            }
        }
        let mut following = None;
        for seg in segments.values_mut().rev() {
            if let Some(next) = following {
                if seg.next_offset() < next {
                    seg.set_next_offset(next);
                }
            }
            following = Some(seg.base_offset());
        }
        let mut log = Log {
            dir: dir.to_path_buf(),
            config,
            segments,
            recovery_point: 0,
            last_flush_ms: now,
            dir_changes: u64::from(changed),
            dir_synced: Arc::new(AtomicU64::new(0)),
            producer_state: ProducerStateManager::new(dir)?,
            start_offset: 0,
            cleaner_checkpoint: 0,
            min_delete_horizon: None,
        };
        if !clean_shutdown || changed {
            // Make what recovery produced durable before anything new is appended on top of it (and what the
            // previous process wrote may still be only in the page cache).
            for seg in log.segments.values().rev().take(2) {
                for f in seg.files() {
                    f.sync_data()?;
                }
            }
            fsync_dir(dir)?;
            log.dir_synced.store(log.dir_changes, Ordering::Release);
        }
        log.recovery_point = log.log_end_offset();
        if !clean_shutdown && bytes_before > 0 {
            let bytes_after: u64 = log.segments.values().map(Segment::size).sum();
            tracing::info!(dir = %dir.display(), log_end_offset = log.log_end_offset(),
                segments = log.segments.len(), bytes_truncated = bytes_before.saturating_sub(bytes_after),
                "recovered log after an unclean shutdown: last segment's batches validated, its indexes rebuilt");
        }
        let bases: Vec<i64> = log.segments.keys().copied().collect();
        if log.producer_state.remove_stray_snapshots(&bases)? {
            log.dir_changes += 1;
        }
        log.rebuild_producer_state(clean_shutdown, true)?;
        for seg in log.segments.values_mut() {
            seg.set_tolerate_full(false);
            // Whatever the open wrote (a cut tail, rebuilt indexes, replayed `.txnindex` entries), in any segment.
            for f in seg.files() {
                if f.has_unsynced_writes() {
                    f.sync_data()?;
                }
            }
        }
        Ok(log)
    }

    /// Kafka's `UnifiedLog.rebuildProducerState` up to the log end offset.
    ///
    /// Without any snapshot after a clean shutdown (a log written before producer state existed) nothing is
    /// scanned: empty snapshots are taken at the bases of the last two segments and at the log end. Otherwise
    /// snapshots above the log end (or at/below the log start) are deleted, the newest readable one is loaded
    /// (corrupt ones are deleted) and the batch headers from its offset to the log end are replayed, taking
    /// snapshots at the last two segment bases on the way and one at the log end. Snapshots are fsynced. Each
    /// replayed segment's `.txnindex` entries from the replay start on are rewritten from the replayed markers
    /// (Kafka's `LogSegment.recover` rebuilds them the same way).
    ///
    /// `at_open`: a snapshot that cannot be written because the disk is full is skipped with a warning (snapshots
    /// only shorten the next recovery, which replays from an older one or from the log start), so a log can be
    /// opened, and read, on a full disk.
    fn rebuild_producer_state(
        &mut self,
        reload_from_clean_shutdown: bool,
        at_open: bool,
    ) -> Result<()> {
        let dir = self.dir.clone();
        let snapshot = |psm: &mut ProducerStateManager| -> Result<()> {
            match psm.take_snapshot(true) {
                Err(e) if at_open && is_disk_full(&e) => {
                    tracing::warn!(dir = %dir.display(), offset = psm.map_end_offset(), error = %e,
                        "disk full: producer snapshot not written while opening the log");
                    Ok(())
                }
                r => r.map(|_| ()).map_err(StorageError::from),
            }
        };
        let (log_start, last_offset) = (self.log_start_offset(), self.log_end_offset());
        let mut to_snapshot: Vec<i64> = self.segments.keys().rev().take(2).copied().collect();
        to_snapshot.reverse();
        let before = self.producer_state.snapshot_offsets();
        let psm = &mut self.producer_state;
        if psm.latest_snapshot_offset().is_none() && reload_from_clean_shutdown {
            for offset in to_snapshot.into_iter().chain([last_offset]) {
                psm.update_map_end_offset(offset);
                snapshot(psm)?;
            }
        } else {
            psm.truncate_and_reload(log_start, last_offset)?;
            if last_offset > psm.map_end_offset() {
                let from = psm.map_end_offset();
                let floor = self
                    .segments
                    .range(..=from)
                    .next_back()
                    .map_or(log_start, |(b, _)| *b);
                for (&base, seg) in self.segments.range_mut(floor..last_offset) {
                    let start = base.max(psm.map_end_offset()).max(log_start);
                    psm.update_map_end_offset(start);
                    if to_snapshot.contains(&base) {
                        snapshot(psm)?;
                    }
                    let mut aborted = Vec::new();
                    seg.for_each_header_from(start, |h, whole| {
                        if h.base_offset < last_offset {
                            aborted.extend(psm.replay(h, whole));
                        }
                    })?;
                    seg.truncate_txn_index(start)?;
                    for entry in aborted {
                        seg.append_aborted_txn(entry)?;
                    }
                }
            }
            psm.update_map_end_offset(last_offset);
            snapshot(psm)?;
        }
        if self.producer_state.snapshot_offsets() != before {
            self.dir_changes += 1;
        }
        Ok(())
    }

    fn active(&self) -> &Segment {
        // `segments` is never empty (every path that removes segments creates a new active one first).
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        // See `active`.
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current configuration.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replace the configuration; it applies from the next append/roll/retention check. `&mut self`, no I/O.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// First offset still in the log: the first segment's base offset, or a higher offset set by
    /// [`Log::advance_log_start_offset`].
    pub fn log_start_offset(&self) -> i64 {
        self.segments
            .keys()
            .next()
            .copied()
            .unwrap_or(0)
            .max(self.start_offset)
    }

    /// Move the log start offset forward to `offset` (Kafka's DeleteRecords): records below it are
    /// no longer readable, and whole segments entirely below it are deleted at once. `offset` may be
    /// at most the log end offset; an offset at or below the current start changes nothing. Returns
    /// the deleted segments. The new start offset is in memory only: the caller persists it and
    /// passes it back through this method after reopening. `&mut self`; blocking file I/O.
    pub fn advance_log_start_offset(&mut self, offset: i64) -> Result<Vec<DeletedSegment>> {
        if !self.raise_log_start_offset(offset)? {
            return Ok(Vec::new());
        }
        self.delete_segments_below_log_start()
    }

    /// [`Log::advance_log_start_offset`] in memory only (Kafka's `maybeIncrementLogStartOffset`): records below
    /// `offset` are no longer readable, but no segment is deleted (a log directory that takes no writes;
    /// [`Log::delete_segments_below_log_start`] does it later). Returns whether the start moved. `&mut self`; no I/O.
    pub fn raise_log_start_offset(&mut self, offset: i64) -> Result<bool> {
        let end = self.log_end_offset();
        if offset > end || offset < 0 {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start: self.log_start_offset(),
                log_end: end,
            });
        }
        if offset <= self.log_start_offset() {
            return Ok(false);
        }
        self.start_offset = offset;
        self.producer_state
            .on_log_start_offset_incremented(self.log_start_offset());
        Ok(true)
    }

    /// Delete the segments wholly below the log start offset (Kafka's `deleteLogStartOffsetBreachedSegments`): a
    /// segment goes when the next one starts at or below it. Returns the deleted segments. `&mut self`; blocking
    /// file I/O.
    pub fn delete_segments_below_log_start(&mut self) -> Result<Vec<DeletedSegment>> {
        let start = self.log_start_offset();
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let count = bases.windows(2).take_while(|w| w[1] <= start).count();
        let reason = format!("log start offset {start} moved by DeleteRecords");
        self.delete_oldest(count, &reason, 0)
    }

    /// Offset the next appended record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    /// Total size of the `.log` files in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(Segment::size).sum()
    }

    /// Number of segments (at least 1).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The segments, oldest first (for tools and tests).
    pub fn segments(&self) -> impl Iterator<Item = &Segment> + '_ {
        self.segments.values()
    }

    /// Append a Produce record set as leader.
    ///
    /// Validates it ([`batch::validate`], plus the whole set against `segment.bytes`), rolls if needed
    /// (segment.bytes, segment.ms, index full, relative offset overflow), assigns offsets from the log end offset by
    /// patching each batch's base offset (and `partition_leader_epoch = leader_epoch`); with `LogAppendTime` sets
    /// attributes bit 3 and `max_timestamp = now_ms` and recomputes the CRC. The input is copied once, then written
    /// to the `.log` (page cache, no fsync); index entries are added every `index.interval.bytes`, time index
    /// entries when the largest timestamp grows. On error nothing of the record set is written.
    ///
    /// With a `compression.type` other than `producer`, a batch in another codec is first rebuilt with the topic's
    /// codec and level (Kafka's `LogValidator`, see [`batch::recompress`]): then the record set must be a single
    /// batch ([`StorageError::InvalidRecord`] otherwise) and the rebuilt batch must fit `max.message.bytes`
    /// ([`StorageError::RecompressedTooLarge`]); producer id, epoch, sequence and transactional bit are kept, so
    /// the producer state below sees the batch the client sent. Control batches are never rebuilt.
    ///
    /// Transactional batches start or continue their producer's transaction (see [`crate::producer_state`]). As
    /// Kafka's `LogValidator` for client appends, a control batch, or a batch with a producer id but base sequence
    /// -1, is [`StorageError::InvalidRecord`].
    ///
    /// `&mut self`; blocking file I/O (a write, possibly a roll).
    pub fn append(&mut self, records: &[u8], leader_epoch: i32, now_ms: i64) -> Result<AppendInfo> {
        self.append_with_origin(records, leader_epoch, now_ms, Origin::Client)
    }

    /// [`Log::append`] for a record set written by the group coordinator (Kafka's `AppendOrigin.COORDINATOR`):
    /// the same validation, offsets and transaction tracking, and the producer epoch check, but no duplicate
    /// detection and no sequence check (transactional offset commits carry the producer's id and epoch with base
    /// sequence -1).
    ///
    /// `&mut self`; blocking file I/O.
    pub fn append_from_coordinator(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        self.append_with_origin(records, leader_epoch, now_ms, Origin::Coordinator)
    }

    /// Write a transaction marker for `producer_id` (Kafka's `WriteTxnMarkers` append): one control batch
    /// (transactional + control bits, producer id/epoch, base sequence -1, timestamp `now_ms`) holding the
    /// control record `(version 0, ABORT = 0 | COMMIT = 1)` → `EndTxnMarker(version 0, coordinator_epoch)`.
    ///
    /// Refused, with nothing written: a `producer_epoch` below the producer's current epoch
    /// ([`StorageError::InvalidProducerEpoch`]), a `coordinator_epoch` below the one recorded by the producer's last
    /// marker ([`StorageError::TransactionCoordinatorFenced`]). Otherwise the producer's epoch becomes
    /// `producer_epoch` (so a coordinator-side epoch bump fences the old epoch's data batches), its ongoing
    /// transaction ends (moving [`Log::last_stable_offset`]), the coordinator epoch is recorded, and an ABORT of an
    /// ongoing transaction adds a `.txnindex` entry to the segment holding the marker. A marker for a producer
    /// without an ongoing transaction here is still written (a coordinator retrying markers after a crash).
    ///
    /// `&mut self`; blocking file I/O.
    pub fn append_txn_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        marker: TxnMarker,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        let batch = batch::build_txn_marker(
            producer_id,
            producer_epoch,
            coordinator_epoch,
            marker,
            now_ms,
        )?;
        self.append_with_origin(&batch, leader_epoch, now_ms, Origin::Coordinator)
    }

    /// Append record batches copied from the leader's log, as a follower replica (Kafka's
    /// `UnifiedLog.appendAsFollower`, `AppendOrigin.REPLICATION`, no offset assignment). The batches are written
    /// byte for byte as the leader stored them: offsets, partition leader epochs, timestamps, codecs and CRCs
    /// unchanged (no leader-epoch patching, no recompression, no `LogAppendTime` stamping).
    ///
    /// `records`: batches as a fetch response holds them. Only the whole batches are appended: a trailing partial
    /// batch (a fetch cut by its byte budget) is ignored, not an error, so the caller simply fetches again from
    /// [`Log::log_end_offset`] (= `last_offset + 1` of the result). Empty `records`, or ones holding no whole
    /// batch, write nothing and give `record_count == 0`, `base_offset == log_end_offset`,
    /// `last_offset == log_end_offset - 1`.
    ///
    /// Checks, all before anything is written ([`batch::validate_replicated`]): framing, magic and CRC of every
    /// whole batch ([`StorageError::CorruptMessage`] / [`StorageError::InvalidRecord`]); a first base offset at or
    /// above the log end offset ([`StorageError::UnexpectedAppendOffset`] otherwise); each batch starting after the
    /// previous one's last offset ([`StorageError::InvalidRecord`]); transaction markers readable
    /// ([`StorageError::InvalidRecord`]). No `max.message.bytes`, timestamp, compacted-key or client-only check:
    /// a follower takes what its leader accepted, control batches included. Gaps between batches (a compacted
    /// leader) and above the log end offset are kept: the log end offset becomes the last batch's last offset + 1,
    /// and reads of an offset in a gap return the next batch.
    ///
    /// Producer state is updated as the leader updated it, batch by batch (the path that rebuilds it from the log
    /// after a crash, so reopening gives the same state): no duplicate detection, no sequence check, an older
    /// producer or coordinator epoch only logged; markers end their producer's transaction and an ABORT that ends
    /// one gets its `.txnindex` entry, so [`Log::last_stable_offset`] and [`Log::aborted_transactions`] answer as on
    /// the leader.
    ///
    /// Rolls: before each batch, as [`Log::append`] before a record set (`segment.bytes`, `segment.ms`, index full,
    /// relative offset range), so with the leader's config and single-batch leader appends the segments match the
    /// leader's byte for byte; a new segment starts at the batch's base offset (an empty active segment that cannot
    /// hold the batch's offsets is kept, as Kafka does). Runs of batches that need no roll are written with one
    /// `pwritev`. All or nothing on validation errors; an I/O error may leave a prefix of whole batches appended
    /// (the log end offset says how far). The batches' partition leader epochs are the caller's business: walk
    /// [`batch::iter_headers`] of the appended bytes to update a leader epoch cache.
    ///
    /// `&mut self`; blocking file I/O (writes, possibly rolls).
    pub fn append_as_follower(&mut self, records: &[u8], now_ms: i64) -> Result<AppendInfo> {
        let headers = batch::validate_replicated(records)?;
        let log_end = self.log_end_offset();
        let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
            return Ok(AppendInfo {
                base_offset: log_end,
                last_offset: log_end - 1,
                log_append_time: -1,
                log_start_offset: self.log_start_offset(),
                record_count: 0,
                needs_flush: self.unflushed_messages() >= self.config.flush_messages,
                duplicate: false,
            });
        };
        let (base_offset, last_offset) = (first.base_offset, last.last_offset());
        if base_offset < log_end {
            return Err(StorageError::UnexpectedAppendOffset {
                first: base_offset,
                log_end,
            });
        }
        let mut positions = Vec::with_capacity(headers.len());
        let mut pos = 0usize;
        for (i, h) in headers.iter().enumerate() {
            if let Some(prev) = i.checked_sub(1).map(|p| &headers[p]) {
                if h.base_offset <= prev.last_offset() {
                    return Err(StorageError::InvalidRecord(format!(
                        "out of order offsets in a follower append: batch {}..={} after batch {}..={}",
                        h.base_offset,
                        h.last_offset(),
                        prev.base_offset,
                        prev.last_offset()
                    )));
                }
            }
            if h.is_control() && h.producer_id >= 0 {
                batch::parse_control_batch(&records[pos..pos + h.size()])?;
            }
            positions.push(pos);
            pos += h.size();
        }
        let config = self.config.clone();
        let mut i = 0;
        while i < headers.len() {
            let h = &headers[i];
            let active = self.active();
            if h.last_offset() - active.base_offset() > i64::from(i32::MAX)
                || active.should_roll(
                    h.size() as u64,
                    h.last_offset(),
                    h.max_timestamp,
                    now_ms,
                    &config,
                )
            {
                self.roll_at(h.base_offset, now_ms)?;
            }
            let n = self
                .active()
                .batches_before_roll(&headers[i..], now_ms, &config);
            let run = &headers[i..i + n];
            let start = positions[i];
            let batches: Vec<(usize, BatchHeader)> = run
                .iter()
                .zip(&positions[i..])
                .map(|(h, at)| (at - start, *h))
                .collect();
            let end = positions[i + n - 1] + run[n - 1].size();
            self.active_mut()
                .append(&[&records[start..end]], &batches, &config)?;
            let mut aborted = Vec::new();
            for (h, &at) in run.iter().zip(&positions[i..]) {
                let whole = h.is_control().then(|| &records[at..at + h.size()]);
                aborted.extend(self.producer_state.replay(h, whole));
            }
            for entry in aborted {
                self.active_mut().append_aborted_txn(entry)?;
            }
            self.producer_state
                .update_map_end_offset(run[n - 1].next_offset());
            i += n;
        }
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time: -1,
            log_start_offset: self.log_start_offset(),
            record_count: headers
                .iter()
                .map(|h| u64::from(h.records_count.unsigned_abs()))
                .sum(),
            needs_flush: self.unflushed_messages() >= self.config.flush_messages,
            duplicate: false,
        })
    }

    fn append_with_origin(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        origin: Origin,
    ) -> Result<AppendInfo> {
        let window = (origin == Origin::Client
            && self.config.timestamp_type == TimestampType::CreateTime)
            .then_some(batch::TimestampWindow {
                now_ms,
                before_max_ms: self.config.message_timestamp_before_max_ms,
                after_max_ms: self.config.message_timestamp_after_max_ms,
            });
        let headers = batch::validate_with(records, self.config.max_message_bytes, window)?;
        if origin == Origin::Client {
            check_client_batches(&headers)?;
        }
        if self.config.cleanup_policy.compact {
            let limit = batch::decompressed_limit(self.config.max_message_bytes);
            let mut pos = 0;
            for h in &headers {
                if !batch::null_key_records(&records[pos..pos + h.size()], h, limit)?.is_empty() {
                    let name = self.dir.file_name().unwrap_or_default();
                    return Err(StorageError::NullKeyInCompactedTopic(
                        name.to_string_lossy().into_owned(),
                    ));
                }
                pos += h.size();
            }
        }
        // A topic `compression.type` other than the batch's own codec: the batch is rebuilt, and everything below
        // (size against segment.bytes, producer state, offsets, LogAppendTime) sees the rebuilt one, as in Kafka.
        let rebuilt = match origin {
            Origin::Client => self.recompress_for_topic(records, &headers)?,
            Origin::Coordinator => None,
        };
        let (records, headers): (&[u8], Vec<BatchHeader>) = match &rebuilt {
            Some(b) => (b, vec![BatchHeader::parse(b)?]),
            None => (records, headers),
        };
        if records.len() as u64 > self.config.roll_bytes() {
            return Err(StorageError::RecordListTooLarge {
                size: records.len(),
                segment_bytes: self.config.roll_bytes(),
            });
        }
        let log_append_time = self.config.timestamp_type == TimestampType::LogAppendTime;
        let offsets: i64 = headers
            .iter()
            .map(|h| i64::from(h.last_offset_delta) + 1)
            .sum();
        let record_count: u64 = headers
            .iter()
            .map(|h| h.records_count.unsigned_abs() as u64)
            .sum();
        let base_offset = self.log_end_offset();
        let last_offset = base_offset + offsets - 1;
        let max_timestamp = if log_append_time {
            now_ms
        } else {
            headers.iter().map(|h| h.max_timestamp).max().unwrap_or(-1)
        };
        let mut incoming = Vec::with_capacity(headers.len());
        let (mut first_offset, mut pos) = (base_offset, 0usize);
        for h in &headers {
            let marker = if h.is_control() && h.producer_id >= 0 {
                batch::parse_control_batch(&records[pos..pos + h.size()])?
            } else {
                None
            };
            incoming.push(IncomingBatch {
                header: h,
                first_offset,
                max_timestamp: if log_append_time {
                    now_ms
                } else {
                    h.max_timestamp
                },
                marker,
            });
            first_offset += i64::from(h.last_offset_delta) + 1;
            pos += h.size();
        }
        let update = match self.producer_state.analyze(&incoming, origin)? {
            AppendPlan::Duplicate(original) => {
                tracing::debug!(dir = %self.dir.display(), first_offset = original.first_offset(),
                    last_offset = original.last_offset, "duplicate batch from an idempotent producer");
                return Ok(AppendInfo {
                    base_offset: original.first_offset(),
                    last_offset: original.last_offset,
                    log_append_time: original.timestamp,
                    log_start_offset: self.log_start_offset(),
                    record_count: 0,
                    needs_flush: self.unflushed_messages() >= self.config.flush_messages,
                    duplicate: true,
                });
            }
            AppendPlan::Update(updates) => updates,
        };
        if self.active().should_roll(
            records.len() as u64,
            last_offset,
            max_timestamp,
            now_ms,
            &self.config,
        ) {
            self.roll(now_ms)?;
        }
        // Patch offsets and leader epoch (outside the CRC) in a copy of each batch header only; the records are
        // written from the request's buffer. LogAppendTime changes the CRC, so those batches are copied whole.
        let mut patched = Vec::with_capacity(headers.len());
        let mut copies: Vec<Vec<u8>> = Vec::with_capacity(headers.len());
        let (mut pos, mut next) = (0usize, base_offset);
        for h in &headers {
            let copy_len = if log_append_time {
                h.size()
            } else {
                BatchHeader::SIZE
            };
            let mut b = records[pos..pos + copy_len].to_vec();
            batch::set_base_offset(&mut b, next);
            batch::set_partition_leader_epoch(&mut b, leader_epoch);
            if log_append_time {
                batch::set_log_append_time(&mut b, now_ms);
            }
            patched.push((pos, BatchHeader::parse(&b)?));
            copies.push(b);
            pos += h.size();
            next += i64::from(h.last_offset_delta) + 1;
        }
        let mut parts: Vec<&[u8]> = Vec::with_capacity(headers.len() * 2);
        for ((at, h), copy) in patched.iter().zip(&copies) {
            parts.push(copy);
            parts.push(&records[at + copy.len()..at + h.size()]);
        }
        let config = self.config.clone();
        self.active_mut().append(&parts, &patched, &config)?;
        self.producer_state.apply(update.entries);
        for txn in update.completed.iter().filter(|t| t.aborted) {
            let entry = self.producer_state.aborted_entry(txn);
            self.active_mut().append_aborted_txn(entry)?;
        }
        self.producer_state.update_map_end_offset(last_offset + 1);
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time: if log_append_time { now_ms } else { -1 },
            log_start_offset: self.log_start_offset(),
            record_count,
            needs_flush: self.unflushed_messages() >= self.config.flush_messages,
            duplicate: false,
        })
    }

    /// The client record set `records` (validated, batch headers `headers`) rebuilt with the topic's
    /// `compression.type` and level ([`batch::recompress`]), or `None` when every batch already has its target
    /// codec and keeps the in-place path. As Kafka's `LogValidator`, a rebuilt record set must be one batch
    /// ([`StorageError::InvalidRecord`] "Compressed outer record has more than one batch"), and the rebuilt batch
    /// must fit `max.message.bytes` ([`StorageError::RecompressedTooLarge`]).
    fn recompress_for_topic(
        &self,
        records: &[u8],
        headers: &[BatchHeader],
    ) -> Result<Option<Bytes>> {
        let topic = self.config.compression_type;
        let Some(target) = headers
            .iter()
            .map(|h| (batch::target_codec(topic, h), h.compression()))
            .find(|(target, source)| target != source)
            .map(|(target, _)| target)
        else {
            return Ok(None);
        };
        let [h] = headers else {
            return Err(StorageError::InvalidRecord(
                "Compressed outer record has more than one batch".into(),
            ));
        };
        let level = match target {
            batch::Compression::Gzip => self.config.compression_gzip_level,
            batch::Compression::Lz4 => self.config.compression_lz4_level,
            batch::Compression::Zstd => self.config.compression_zstd_level,
            batch::Compression::None | batch::Compression::Snappy => 0,
        };
        let limit = batch::decompressed_limit(self.config.max_message_bytes);
        let rebuilt = batch::recompress(&records[..h.size()], h, target, level, limit)?;
        if rebuilt.len() > self.config.max_message_bytes as usize {
            return Err(StorageError::RecompressedTooLarge {
                size: rebuilt.len(),
                partition: self
                    .dir
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                max: self.config.max_message_bytes,
            });
        }
        Ok(Some(rebuilt))
    }

    /// Start a new active segment at the log end offset (no-op if the active segment is empty).
    fn roll(&mut self, now_ms: i64) -> Result<()> {
        let active = self.active();
        if active.size() == 0 {
            return Ok(());
        }
        let at = active.next_offset();
        self.roll_at(at, now_ms)
    }

    /// Start a new active segment at `offset`, or at the log end offset if that is higher (Kafka's
    /// `LocalLog.roll(expectedNextOffset)`; a follower rolls at the base offset of the batch it appends next, which
    /// lies above the log end after a gap). No-op if the active segment is empty and starts there already; an empty
    /// active segment that starts lower is kept (as an empty inactive segment, as in Kafka).
    fn roll_at(&mut self, offset: i64, now_ms: i64) -> Result<()> {
        let config = self.config.clone();
        let active = self.active_mut();
        let base = offset.max(active.next_offset());
        if active.size() == 0 && base == active.base_offset() {
            return Ok(());
        }
        active.on_become_inactive(&config)?;
        let seg = Segment::create(&self.dir, base, now_ms)?;
        let previous = self.segments.keys().next_back().copied();
        self.segments.insert(base, seg);
        self.dir_changes += 1;
        tracing::info!(dir = %self.dir.display(), base_offset = base, "rolled new log segment");
        // Kafka's `roll`: a snapshot at the new segment's base, so that recovering that segment can start from it.
        // It is fsynced by the next sync job, not under the caller's lock. Snapshots below the previous segment's
        // base are no longer needed: recovery only rescans the last two segments.
        self.producer_state.update_map_end_offset(base);
        if let Some(file) = self.producer_state.take_snapshot(false)? {
            self.dir_changes += 1;
            self.producer_state.add_unsynced(self.dir_changes, file);
        }
        if let Some(previous) = previous {
            if self.producer_state.delete_snapshots_before(previous)? {
                self.dir_changes += 1;
            }
        }
        Ok(())
    }

    /// Read whole batches starting at the batch containing `offset`, up to `max_bytes` in total, from one segment;
    /// with `min_one` the first batch is returned even if larger than `max_bytes`. `offset == log_end_offset` gives
    /// empty records; `offset` below the log start or above the log end gives
    /// [`StorageError::OffsetOutOfRange`]. Uses the offset index (no scan from the segment start).
    ///
    /// `&self`: positional reads only, safe under a shared read lock.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadInfo> {
        let records = self
            .read_from_segments(offset, |seg| seg.read(offset, max_bytes, min_one))?
            .unwrap_or_default();
        Ok(ReadInfo {
            records,
            log_start_offset: self.log_start_offset(),
            log_end_offset: self.log_end_offset(),
        })
    }

    /// The first answer of `read` for a read at `offset`: [`StorageError::OffsetOutOfRange`] below the log start or
    /// above the log end, `None` at the log end; otherwise each segment from the one holding `offset` on is asked
    /// until one has something at or after it.
    fn read_from_segments<T>(
        &self,
        offset: i64,
        mut read: impl FnMut(&Segment) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        let (log_start_offset, log_end_offset) = (self.log_start_offset(), self.log_end_offset());
        if offset < log_start_offset || offset > log_end_offset {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start: log_start_offset,
                log_end: log_end_offset,
            });
        }
        if offset == log_end_offset {
            return Ok(None);
        }
        let floor = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(log_start_offset, |(b, _)| *b);
        for seg in self.segments.range(floor..).map(|(_, s)| s) {
            if let Some(r) = read(seg)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// [`Log::read`] bounded for `read_committed` (Kafka caps such a fetch at the last stable offset): only the
    /// whole batches with a base offset below `max_offset` are returned, so reading at `offset >= max_offset` (but
    /// within the log) gives empty records, not an error. Pass [`Log::last_stable_offset`] as `max_offset`.
    ///
    /// `&self`: positional reads only, safe under a shared read lock.
    pub fn read_upto(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Result<ReadInfo> {
        let (log_start_offset, log_end_offset) = (self.log_start_offset(), self.log_end_offset());
        if offset >= max_offset && (log_start_offset..=log_end_offset).contains(&offset) {
            return Ok(ReadInfo {
                records: Bytes::new(),
                log_start_offset,
                log_end_offset,
            });
        }
        let mut info = self.read(offset, max_bytes, min_one)?;
        let mut end = 0;
        for item in batch::iter_headers(&info.records) {
            let (at, h) = item?;
            if h.base_offset >= max_offset {
                break;
            }
            end = at + h.size();
        }
        info.records.truncate(end);
        Ok(info)
    }

    /// [`Log::read_upto`] (pass `i64::MAX` as `max_offset` for [`Log::read`]) without reading the records: where
    /// they lie in a segment file, as a [`FileSlice`] that stays readable after the lock is released. The fetch path
    /// sends it from the file to the socket (`sendfile`) or copies it with [`FileSlice::read`]. Reads only batch
    /// headers (see [`Segment::read_range`]).
    ///
    /// `&self`: positional reads only, safe under a shared read lock.
    pub fn read_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Result<SliceInfo> {
        let (log_start_offset, log_end_offset) = (self.log_start_offset(), self.log_end_offset());
        let mut info = SliceInfo {
            records: None,
            next_offset: None,
            log_start_offset,
            log_end_offset,
        };
        if offset >= max_offset && (log_start_offset..=log_end_offset).contains(&offset) {
            return Ok(info);
        }
        let found = self.read_from_segments(offset, |seg| {
            seg.read_range(offset, max_bytes, min_one, max_offset)
        })?;
        if let Some(r) = found.filter(|r| !r.slice.is_empty()) {
            info.records = Some(r.slice);
            info.next_offset = r.next_offset;
        }
        Ok(info)
    }

    /// The last stable offset (single node: the high watermark is the log end offset): the first offset of the
    /// earliest ongoing transaction (not below the log start offset, as Kafka's `maybeIncrementFirstUnstableOffset`
    /// clamps it), else the log end offset. O(log n) in the number of ongoing transactions, no I/O.
    pub fn last_stable_offset(&self) -> i64 {
        let leo = self.log_end_offset();
        self.producer_state
            .first_unstable_offset()
            .map_or(leo, |first| first.max(self.log_start_offset()).min(leo))
    }

    /// The ongoing transactions as `(first offset, producer id)`, by first offset (for DescribeTransactions-style
    /// tools and tests). No I/O.
    pub fn ongoing_transactions(&self) -> Vec<(i64, i64)> {
        self.producer_state.ongoing_transactions().collect()
    }

    /// The aborted transactions a `read_committed` fetch of `[from, upto)` must report (Kafka's
    /// `collectAbortedTransactions`): the `.txnindex` entries with `last_offset >= from && first_offset < upto`,
    /// looking in the segment containing `from` and the following ones until an entry's last stable offset reaches
    /// `upto`. In marker order. `&self`, no I/O (the entries are held in memory).
    pub fn aborted_transactions(&self, from: i64, upto: i64) -> Result<Vec<AbortedTxn>> {
        let floor = self
            .segments
            .range(..=from)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        let mut out = Vec::new();
        for seg in self.segments.range(floor..).map(|(_, s)| s) {
            if seg.txn_index().collect(from, upto, &mut out) {
                break;
            }
        }
        Ok(out)
    }

    /// First record (exact record offset, decompressing the one batch if needed) with timestamp `>= ts`, via the
    /// time index: `(offset, timestamp)`, or `None` if no record is that recent.
    ///
    /// `&self`: positional reads only.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>> {
        let limit = batch::decompressed_limit(self.config.max_message_bytes);
        for seg in self.segments.values().filter(|s| s.max_timestamp() >= ts) {
            if let Some(found) = seg.find_offset_by_timestamp(ts, limit)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The first record with the largest timestamp: `(offset, timestamp)`; `None` on an empty log (or when no batch
    /// carries a timestamp).
    ///
    /// `&self`: positional reads only.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>> {
        let mut best: Option<&Segment> = None;
        for seg in self.segments.values() {
            if best.is_none_or(|b| seg.max_timestamp() > b.max_timestamp()) {
                best = Some(seg);
            }
        }
        match best {
            Some(seg) if seg.max_timestamp() >= 0 => {
                seg.max_timestamp_record(batch::decompressed_limit(self.config.max_message_bytes))
            }
            _ => Ok(None),
        }
    }

    /// Delete whole segments by `retention.ms` (the segment's largest timestamp older than `now_ms - retention_ms`)
    /// then `retention.bytes` (oldest first while `size - segment size >= retention_bytes`), oldest first and
    /// stopping at the first segment to keep. The active segment is rolled first if it must go and is non-empty, so
    /// the log end offset never moves backwards; an empty active segment is never deleted. Advances the log start
    /// offset; files are removed from disk at once.
    ///
    /// `&mut self`; blocking file I/O.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<Vec<DeletedSegment>> {
        let mut deleted = Vec::new();
        if !self.config.cleanup_policy.delete {
            return Ok(deleted);
        }
        if self.config.retention_ms >= 0 {
            let mut count = 0;
            for seg in self.deletable_candidates() {
                if now_ms.saturating_sub(seg.largest_timestamp()?) <= self.config.retention_ms {
                    break;
                }
                count += 1;
            }
            let reason = format!(
                "retention time {}ms breach based on the largest record timestamp in the segment",
                self.config.retention_ms
            );
            deleted.extend(self.delete_oldest(count, &reason, now_ms)?);
        }
        if self.config.retention_bytes >= 0 {
            let retention = u64::try_from(self.config.retention_bytes).unwrap_or(0);
            let mut size = self.size_bytes();
            let mut count = 0;
            for seg in self.deletable_candidates() {
                if size.saturating_sub(retention) < seg.size() || size < retention {
                    break;
                }
                size -= seg.size();
                count += 1;
            }
            let reason = format!(
                "retention size in bytes {retention} breach; log size after deletion {size}"
            );
            deleted.extend(self.delete_oldest(count, &reason, now_ms)?);
        }
        Ok(deleted)
    }

    /// Segments oldest first, without an empty active segment.
    fn deletable_candidates(&self) -> impl Iterator<Item = &Segment> + '_ {
        let n = self.segments.len();
        self.segments
            .values()
            .enumerate()
            .filter(move |(i, s)| *i + 1 < n || s.size() > 0)
            .map(|(_, s)| s)
    }

    fn delete_oldest(
        &mut self,
        count: usize,
        reason: &str,
        now_ms: i64,
    ) -> Result<Vec<DeletedSegment>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        if count >= self.segments.len() {
            self.roll(now_ms)?;
        }
        let mut deleted = Vec::with_capacity(count);
        for _ in 0..count {
            let Some((base, seg)) = self.segments.pop_first() else {
                break;
            };
            let size = seg.size();
            seg.delete_files()?;
            // Kafka's `deleteProducerSnapshots`: the snapshot at a deleted segment's base goes with it.
            self.producer_state.delete_snapshot(base)?;
            self.dir_changes += 1;
            tracing::info!(dir = %self.dir.display(), base_offset = base, size, reason, "deleted log segment");
            deleted.push(DeletedSegment {
                base_offset: base,
                size,
                reason: reason.to_string(),
            });
        }
        let log_start = self.log_start_offset();
        self.producer_state
            .on_log_start_offset_incremented(log_start);
        Ok(deleted)
    }

    /// Roll now if `segment.ms` elapsed for the active segment (called by a background task). `&mut self`.
    pub fn maybe_roll(&mut self, now_ms: i64) -> Result<()> {
        let active = self.active();
        if active.size() > 0 && active.time_waited_for_roll(now_ms, now_ms) > self.config.segment_ms
        {
            self.roll(now_ms)?;
        }
        Ok(())
    }

    /// Messages appended but not yet marked flushed (`log_end_offset - recovery point`).
    pub fn unflushed_messages(&self) -> u64 {
        u64::try_from(self.log_end_offset() - self.recovery_point).unwrap_or(0)
    }

    /// The recovery point: every offset below it is durable (fsynced). Only [`Log::mark_flushed`] raises it;
    /// [`Log::truncate_to`] may lower it.
    pub fn flushed_offset(&self) -> i64 {
        self.recovery_point
    }

    /// Wall-clock time of the last [`Log::mark_flushed`] (or of opening).
    pub fn last_flush_ms(&self) -> i64 {
        self.last_flush_ms
    }

    /// Handles (cloned `Arc<File>`s of every segment that may hold unflushed data, with their indexes, and the
    /// directory if files were created or deleted) to fsync everything appended so far; `None` if nothing is
    /// unflushed. A file of any segment whose fsync failed before (when the cache of open files evicted it) is
    /// included, so that the job fails. `&self`, no I/O.
    pub fn sync_job(&self) -> Option<SyncJob> {
        let offset = self.log_end_offset();
        let dir_generation = self.dir_changes;
        let dir_dirty = dir_generation > self.dir_synced.load(Ordering::Acquire);
        // A file whose fsync failed when the cache of open files evicted it, wherever it lies: the job fails on it.
        let failed: Vec<CachedFile> = if crate::open_files::any_sync_failed() {
            let all = self.segments.values().flat_map(Segment::files);
            all.filter(CachedFile::sync_failed).collect()
        } else {
            Vec::new()
        };
        if self.recovery_point >= offset && !dir_dirty && failed.is_empty() {
            return None;
        }
        let files = self
            .segments
            .values()
            .filter(|s| s.next_offset() > self.recovery_point)
            .flat_map(Segment::files)
            .chain(failed)
            .collect();
        Some(SyncJob {
            files,
            snapshots: self.producer_state.unsynced_files().collect(),
            dir: dir_dirty.then(|| self.dir.clone()),
            dir_generation,
            dir_synced: Arc::clone(&self.dir_synced),
            offset,
        })
    }

    /// Record that everything below `offset` is durable (the value returned by [`SyncJob::run`]). `&mut self`.
    pub fn mark_flushed(&mut self, offset: i64, now_ms: i64) {
        self.recovery_point = self.recovery_point.max(offset.min(self.log_end_offset()));
        self.last_flush_ms = now_ms;
        // Snapshots are tagged with the directory generation of their creation; a sync job that fsynced the
        // directory up to a generation also fsynced every snapshot file created up to it.
        let synced = self.dir_synced.load(Ordering::Acquire);
        self.producer_state.mark_synced(synced);
    }

    /// Flush and fsync everything now (blocking). Used at clean shutdown.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(job) = self.sync_job() {
            let offset = job.run()?;
            self.mark_flushed(offset, wall_clock_ms());
        } else {
            self.last_flush_ms = wall_clock_ms();
        }
        Ok(())
    }

    /// Truncate the log so that `log_end_offset == offset`: whole batches ending at or after `offset` are dropped.
    /// If `offset` falls inside a batch, that whole batch goes and the log end offset becomes its base offset (the
    /// end of the data kept, so that it survives a reopen; Kafka would leave a gap up to `offset`). No-op if
    /// `offset >= log_end_offset`; below the log start offset every segment is deleted and the log restarts empty at
    /// `offset`. For recovery and replication. `&mut self`; blocking file I/O.
    pub fn truncate_to(&mut self, offset: i64) -> Result<()> {
        if offset < 0 {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start: self.log_start_offset(),
                log_end: self.log_end_offset(),
            });
        }
        self.start_offset = self.start_offset.min(offset);
        self.cleaner_checkpoint = self.cleaner_checkpoint.min(offset);
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        let config = self.config.clone();
        if offset < self.log_start_offset() {
            self.delete_all_and_start_at(offset)?;
        } else {
            let above: Vec<i64> = self.segments.range(offset + 1..).map(|(b, _)| *b).collect();
            for base in above {
                if let Some(seg) = self.segments.remove(&base) {
                    seg.delete_files()?;
                }
            }
            let removed = self.active_mut().truncate_to(offset, &config)?;
            tracing::info!(dir = %self.dir.display(), offset, bytes_removed = removed, "truncated log");
            self.rebuild_producer_state(false, false)?;
        }
        self.dir_changes += 1;
        self.recovery_point = self.recovery_point.min(offset);
        Ok(())
    }

    /// Delete every segment and restart the log empty at `offset` (Kafka's `truncateFullyAndStartAt`): log start and
    /// log end offset become `offset`, whatever they were (`offset` may lie above the log end offset, unlike
    /// [`Log::truncate_to`]), producer state and its snapshots are dropped, the cleaner checkpoint moves to
    /// `offset`. For a follower whose fetch offset lies outside the leader's log (below the leader's log start, or
    /// a replica starting from scratch at it); the caller persists the new log start offset, as after
    /// [`Log::advance_log_start_offset`]. Nothing to flush afterwards but the directory (the next
    /// [`Log::sync_job`] fsyncs it).
    ///
    /// `&mut self`; blocking file I/O (deletes, one segment created).
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<()> {
        if offset < 0 {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start: self.log_start_offset(),
                log_end: self.log_end_offset(),
            });
        }
        self.delete_all_and_start_at(offset)?;
        self.start_offset = offset;
        self.cleaner_checkpoint = offset;
        self.min_delete_horizon = None;
        self.recovery_point = offset;
        Ok(())
    }

    /// Delete every segment and its producer snapshots, then create an empty segment at `offset`.
    fn delete_all_and_start_at(&mut self, offset: i64) -> Result<()> {
        for (_, seg) in std::mem::take(&mut self.segments) {
            seg.delete_files()?;
        }
        self.segments
            .insert(offset, Segment::create(&self.dir, offset, wall_clock_ms())?);
        self.producer_state.truncate_fully_and_start_at(offset)?;
        self.dir_changes += 1;
        tracing::info!(dir = %self.dir.display(), offset, "truncated the log fully, restarting it empty");
        Ok(())
    }

    /// Clean shutdown: write the active segment's final time-index entry and a producer state snapshot at the log
    /// end offset, then flush and fsync everything (index files are always exactly their entries' size, nothing to
    /// trim). Reopen with `clean_shutdown = true`.
    pub fn close(mut self) -> Result<()> {
        self.close_in_place()
    }

    /// [`Log::close`] for a log shared behind a lock: the same final time-index entry, producer snapshot, flush
    /// and fsync, in place. Append nothing afterwards; the log is meant to be dropped and reopened.
    pub fn close_in_place(&mut self) -> Result<()> {
        let config = self.config.clone();
        self.active_mut().on_become_inactive(&config)?;
        for f in self.active().files() {
            f.sync_data()?;
        }
        let leo = self.log_end_offset();
        self.producer_state.update_map_end_offset(leo);
        if self.producer_state.take_snapshot(true)?.is_some() {
            self.dir_changes += 1;
        }
        self.flush()
    }

    /// Remove idempotent producers whose last append is at least `producer_id_expiration_ms` old (Kafka's
    /// `producer.id.expiration.ms`, default [`crate::producer_state::DEFAULT_PRODUCER_ID_EXPIRATION_MS`]) and that
    /// have no ongoing transaction (one with an ongoing transaction is never expired, as in Kafka, so the LSO never
    /// jumps past its data); the server calls this periodically (Kafka: every
    /// `producer.id.expiration.check.interval.ms`, 10 min). An expired producer is unknown afterwards: its next
    /// batch is accepted with any sequence. Returns how many were removed. `&mut self`, no I/O.
    pub fn expire_producers(&mut self, now_ms: i64, producer_id_expiration_ms: i64) -> usize {
        self.producer_state
            .remove_expired(now_ms, producer_id_expiration_ms)
    }

    /// The idempotent producers tracked, by producer id (for DescribeProducers). `&self`, no I/O.
    pub fn producers(&self) -> Vec<ProducerSnapshotEntry> {
        self.producer_state
            .entries()
            .map(ProducerStateEntry::to_snapshot_entry)
            .collect()
    }

    /// Offsets of the producer state snapshot files (`%020d.snapshot`), ascending (for tools and tests).
    pub fn producer_snapshot_offsets(&self) -> Vec<i64> {
        self.producer_state.snapshot_offsets()
    }

    /// The log cleaner's checkpoint: the first offset not yet cleaned (Kafka's `cleaner-offset-checkpoint`
    /// entry). Starts at 0 (= the log start) when the log is opened. No I/O.
    pub fn cleaner_checkpoint(&self) -> i64 {
        self.cleaner_checkpoint
    }

    /// Restore a persisted cleaner checkpoint after opening. A value outside `[log start, active segment base]`
    /// is ignored by the next clean (which then starts from the log start, as Kafka does). No I/O.
    pub fn set_cleaner_checkpoint(&mut self, offset: i64) {
        self.cleaner_checkpoint = offset;
    }

    /// Phase 1 of a clean (see [`crate::cleaner`]): `None` unless the policy contains `compact` and the log is
    /// due (dirty ratio above `min.cleanable.dirty.ratio`, `max.compaction.lag.ms` exceeded, or a tombstone's
    /// delete horizon passed) and has inactive segments below the first uncleanable offset.
    ///
    /// `&self`: reads segment metadata and a few batch headers; safe under a read lock.
    pub fn plan_clean(&self, now_ms: i64) -> Result<Option<CleanPlan>> {
        let config = &self.config;
        if !config.cleanup_policy.compact {
            return Ok(None);
        }
        let log_start = self.log_start_offset();
        let active_base = self.active().base_offset();
        let first_dirty = if (log_start..=active_base).contains(&self.cleaner_checkpoint) {
            self.cleaner_checkpoint
        } else {
            log_start
        };
        let dirty_from = self
            .segments
            .range(..=first_dirty)
            .next_back()
            .map_or(first_dirty, |(b, _)| *b);
        // As Kafka's `cleanableOffsets`: never beyond the last stable offset, so that an ongoing transaction's
        // records (which may yet be aborted) never supersede committed ones.
        let mut end = active_base.min(self.last_stable_offset());
        if config.min_compaction_lag_ms > 0 {
            let too_new = now_ms.saturating_sub(config.min_compaction_lag_ms);
            for (&base, seg) in self.segments.range(dirty_from..active_base) {
                if seg.largest_timestamp()? > too_new {
                    end = end.min(base);
                    break;
                }
            }
        }
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let (mut clean_bytes, mut dirty_bytes, mut earliest_dirty) = (0u64, 0u64, i64::MAX);
        let mut sources = Vec::new();
        for (i, (&base, seg)) in self.segments.range(..end).enumerate() {
            let next = bases.get(i + 1).copied().unwrap_or(i64::MAX);
            if next <= first_dirty {
                clean_bytes += seg.size();
            } else {
                dirty_bytes += seg.size();
                if config.max_compaction_lag_ms < i64::MAX {
                    let ts = seg.first_batch_timestamp()?;
                    if ts > 0 {
                        earliest_dirty = earliest_dirty.min(ts);
                    }
                }
            }
            sources.push(Source {
                base,
                next,
                size: seg.size(),
                file: seg.log_file()?,
                aborted: seg.txn_index().entries().to_vec(),
            });
        }
        let need_now = earliest_dirty < now_ms.saturating_sub(config.max_compaction_lag_ms);
        #[allow(clippy::cast_precision_loss)] // a ratio: precision loss on huge sizes is irrelevant
        let ratio = dirty_bytes as f64 / (clean_bytes + dirty_bytes).max(1) as f64;
        let horizon_due = self.min_delete_horizon.is_some_and(|h| h <= now_ms);
        let due = (dirty_bytes > 0 && (need_now || ratio > config.min_cleanable_dirty_ratio))
            || horizon_due;
        if !due || sources.is_empty() {
            return Ok(None);
        }
        Ok(Some(CleanPlan {
            dir: self.dir.clone(),
            config: config.clone(),
            now_ms,
            first_dirty,
            end_offset: end,
            sources,
            producer_last_offsets: self
                .producer_state
                .entries()
                .map(|e| (e.producer_id(), e.last_data_offset()))
                .collect(),
            aborted: self
                .segments
                .values()
                .flat_map(|s| s.txn_index().entries())
                .fold(HashMap::new(), |mut m, e| {
                    m.entry(e.producer_id)
                        .or_insert_with(Vec::new)
                        .push((e.first_offset, e.last_offset));
                    m
                }),
            fail_point: None,
            key_map_bytes: crate::cleaner::DEFAULT_DEDUPE_BUFFER_SIZE,
        }))
    }

    /// Phase 3 of a clean: swap the cleaned segments in (crash-safe, see [`crate::cleaner`]), advance the cleaner
    /// checkpoint to the end of the cleaned range. If the segments changed since the plan (retention, truncation,
    /// another clean), the cleaned files are discarded and [`StorageError::CleanAborted`] is returned with the
    /// log untouched. After an I/O error midway the log keeps serving the old segments through their open files
    /// and the next [`Log::open`] completes the swap.
    ///
    /// `&mut self`; blocking: renames and two directory fsyncs (the data was fsynced by [`CleanPlan::run`]).
    pub fn commit_clean(&mut self, cleaned: CleanedSegments) -> Result<CleanStats> {
        let active_base = self.active().base_offset();
        let unchanged = cleaned.outputs.iter().all(|out| {
            let (first, last) = (out.replaces[0].0, out.replaces[out.replaces.len() - 1].0);
            last < active_base
                && self.segments.range(first..=last).count() == out.replaces.len()
                && out
                    .replaces
                    .iter()
                    .all(|(b, size)| self.segments.get(b).is_some_and(|s| s.size() == *size))
        });
        if !unchanged {
            cleaned.discard();
            return Err(StorageError::CleanAborted(
                "the segments changed while they were being cleaned".into(),
            ));
        }
        let (dir, fail) = (self.dir.clone(), cleaned.fail_point);
        check_fail_point(fail, FailPoint::AfterCleaned)?;
        for (i, out) in cleaned.outputs.iter().enumerate() {
            if i == 0 && fail == Some(FailPoint::DuringSwap) {
                rename_all(&dir, out.base, CLEANED_SUFFIX, SWAP_SUFFIX, true)?;
                check_fail_point(fail, FailPoint::DuringSwap)?;
            }
            rename_all(&dir, out.base, CLEANED_SUFFIX, SWAP_SUFFIX, false)?;
        }
        fsync_dir(&dir)?;
        check_fail_point(fail, FailPoint::AfterSwap)?;
        let old: Vec<i64> = cleaned
            .outputs
            .iter()
            .flat_map(|o| o.replaces.iter().map(|(b, _)| *b))
            .collect();
        for (i, &base) in old.iter().enumerate() {
            rename_all(&dir, base, "", DELETED_SUFFIX, false)?;
            if i == 0 {
                check_fail_point(fail, FailPoint::AfterFirstDeleted)?;
            }
        }
        check_fail_point(fail, FailPoint::AfterDeleted)?;
        for (i, out) in cleaned.outputs.iter().enumerate() {
            if i == 0 && fail == Some(FailPoint::DuringFinal) {
                rename_all(&dir, out.base, SWAP_SUFFIX, "", true)?;
                check_fail_point(fail, FailPoint::DuringFinal)?;
            }
            rename_all(&dir, out.base, SWAP_SUFFIX, "", false)?;
        }
        fsync_dir(&dir)?;
        check_fail_point(fail, FailPoint::AfterFinal)?;
        for &base in &old {
            self.segments.remove(&base);
        }
        for out in &cleaned.outputs {
            let seg = Segment::open(&dir, out.base, OpenMode::Inactive, &self.config, false)?;
            debug_assert_eq!(seg.size(), out.size);
            self.segments.insert(out.base, seg);
        }
        for out in &cleaned.outputs {
            if let Some(next) = self.segments.range(out.base + 1..).next().map(|(b, _)| *b) {
                if let Some(seg) = self.segments.get_mut(&out.base) {
                    seg.set_next_offset(next);
                }
            }
        }
        for &base in &old {
            for path in segment_paths(&dir, base, DELETED_SUFFIX) {
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
        self.dir_changes += 1;
        self.cleaner_checkpoint = cleaned.stats.end_offset;
        self.min_delete_horizon = cleaned.min_horizon;
        let stats = cleaned.stats;
        tracing::info!(dir = %self.dir.display(), first_dirty = stats.first_dirty_offset,
            end = stats.end_offset, bytes_before = stats.bytes_before, bytes_after = stats.bytes_after,
            records_removed = stats.records_removed, "cleaned log");
        Ok(stats)
    }

    /// Run a whole clean in place (plan, run, commit; see [`crate::cleaner`]): `None` if the log is not due.
    /// Holds `&mut self` throughout, blocking appends for the whole rewrite; a server should rather call
    /// [`Log::plan_clean`] under a read lock, [`CleanPlan::run`] without the lock and [`Log::commit_clean`]
    /// under the write lock.
    pub fn clean(&mut self, now_ms: i64) -> Result<Option<CleanStats>> {
        self.clean_with_fail_point(now_ms, None)
    }

    /// [`Log::clean`] stopping at a test fail point.
    #[doc(hidden)]
    pub fn clean_with_fail_point(
        &mut self,
        now_ms: i64,
        fail: Option<FailPoint>,
    ) -> Result<Option<CleanStats>> {
        let Some(mut plan) = self.plan_clean(now_ms)? else {
            return Ok(None);
        };
        if let Some(point) = fail {
            plan = plan.with_fail_point(point);
        }
        let cleaned = plan.run()?;
        self.commit_clean(cleaned).map(Some)
    }

    /// Delete every file and the directory. Blocking.
    pub fn delete(self) -> Result<()> {
        let dir = self.dir.clone();
        drop(self);
        std::fs::remove_dir_all(&dir)?;
        if let Some(parent) = dir.parent() {
            fsync_dir(parent)?;
        }
        Ok(())
    }

    /// Path of the segment file with base offset `base` and `suffix` (`.log`, `.index`, `.timeindex`,
    /// `.txnindex`).
    pub fn segment_file(&self, base: i64, suffix: &str) -> PathBuf {
        self.dir.join(file_name(base, suffix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn log_is_send_sync() {
        assert_send_sync::<Log>();
        assert_send_sync::<SyncJob>();
    }
}
