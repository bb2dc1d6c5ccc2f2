//! The log cleaner: compaction of logs whose `cleanup.policy` contains `compact` (Kafka's `LogCleaner`,
//! `Cleaner`, `LogCleanerManager`).
//!
//! A clean has three phases, so that the partition lock is held only briefly:
//!
//! 1. [`crate::Log::plan_clean`] (`&self`, a read lock): decide whether the log needs cleaning and which segments
//!    take part. The *dirty* section starts at the cleaner checkpoint ([`crate::Log::cleaner_checkpoint`], the end
//!    of the previous clean; the log start after opening) and ends at the first *uncleanable* offset: the active
//!    segment's base, or the base of the first dirty segment whose largest timestamp is newer than
//!    `now - min.compaction.lag.ms`. The log is cleaned when `dirty bytes / (clean + dirty bytes)` is greater than
//!    `min.cleanable.dirty.ratio` (Kafka compares with `>`), when a dirty segment's first batch is older than
//!    `max.compaction.lag.ms`, or when a tombstone's delete horizon has passed.
//! 2. [`CleanPlan::run`] (no lock): build a map key → latest offset over the dirty section, then rewrite every
//!    segment from the log start to the first uncleanable offset, grouping adjacent segments whose sizes sum to at
//!    most `segment.bytes` (Kafka's `groupSegmentsBySize`) into one `%020d.log.cleaned` (+ `.index.cleaned`,
//!    `.timeindex.cleaned`, and `.txnindex.cleaned` holding the group's aborted-transaction entries, if any), which
//!    is fsynced. The first uncleanable offset is never beyond the last stable offset (as Kafka's
//!    `cleanableOffsets`): records of a transaction still ongoing (and perhaps yet to be aborted) never supersede
//!    committed ones. Old segments are read through their open file handles, so a
//!    concurrent retention delete cannot break the read.
//! 3. [`crate::Log::commit_clean`] (`&mut self`, the write lock): check the segments are unchanged, then swap with
//!    Kafka's discipline (`UnifiedLog.replaceSegments`): rename `.cleaned` → `.swap` (index files first, `.log`
//!    last) and fsync the directory; rename the old segments' files to `.deleted`; rename `.swap` → final and fsync
//!    the directory; delete the `.deleted` files. [`crate::Log::open`] completes an interrupted swap: a
//!    `%020d.log.swap` replaces every segment whose base offset lies in `[swap base, swap next offset)` (and the
//!    one of the same name); `.cleaned` and `.deleted` files are deleted. Whatever the crash point, each key keeps
//!    its newest record: before the `.swap` rename only old files count, after it the swap is complete and durable.
//!    An old segment left behind because it lies beyond the swap's last batch only held records superseded later
//!    in the log (or the key's tombstone itself), so keeping it changes no key's latest value.
//!
//! Which records survive (Kafka's `Cleaner.shouldRetainRecord`): a record is kept when its offset is the latest
//! for its key in the map (or its key is absent from the map, or it lies past the map's end), unless it is a
//! tombstone (null value) whose batch's delete horizon has passed. Records of aborted transactions (a transactional
//! data batch of a producer between the first offset and the ABORT marker of one of its `.txnindex` entries) take
//! no part in the key map and are removed (Kafka's `CleanedTransactionMetadata.onBatchRead`). Records with a null key are dropped (such
//! records cannot be appended to a compacted log: [`crate::StorageError::NullKeyInCompactedTopic`]).
//!
//! Tombstones: the KIP-534 delete horizon. The first clean that keeps a tombstone stamps its rewritten batch with
//! `now + delete.retention.ms` (attributes bit 6, the value in `baseTimestamp`); a later clean after that time
//! removes the tombstone. The horizon lives in the data, so it survives restarts and crashes.
//!
//! Batches: a batch whose records all survive (and needs no horizon) is copied byte for byte. Otherwise it is
//! rebuilt with the same base offset, last offset delta (Kafka's `overrideLastOffset`, so the producer's last
//! sequence is unchanged), producer id/epoch/base sequence, leader epoch, attributes and codec, each kept record
//! keeping its offset, timestamp, key, value and headers. A batch that loses all its records is dropped, except the
//! last batch of a producer the log still tracks, which stays as an empty batch so that producer state (duplicate
//! detection) can be rebuilt from the log (Kafka's `RETAIN_EMPTY`). Control batches are copied unchanged.
//!
//! Transactions: every control batch (transaction marker) is kept, and the source segments' `.txnindex` entries
//! are carried into the cleaned segment unchanged (an entry whose data is gone is harmless to a `read_committed`
//! consumer). Not done (yet): markers and their index entries are never removed (Kafka removes a marker, and its
//! entry, once its transaction's data is gone and the marker's delete horizon passed); the key map holds whole keys in memory (Kafka uses a fixed-size
//! hashed map and cleans only as far as it fits); the cleaner checkpoint lives in memory only (the server may
//! persist it through [`crate::Log::set_cleaner_checkpoint`]).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{self, BatchHeader, RawRecord, COMPRESSION_MASK, DELETE_HORIZON_BIT};
use crate::config::{LogConfig, TimestampType};
use crate::error::{Result, StorageError};
use crate::segment::{segment_paths, ChunkReader, Segment};
use crate::txn_index::AbortedTxn;

/// Suffix of the cleaner's output while it is written.
pub const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of cleaned files that are ready to replace the old segments.
pub const SWAP_SUFFIX: &str = ".swap";
/// Suffix of old segment files being deleted.
pub const DELETED_SUFFIX: &str = ".deleted";

/// What one clean did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// First dirty offset (the cleaner checkpoint) the clean started from.
    pub first_dirty_offset: i64,
    /// End of the cleaned range (the first uncleanable offset), the new cleaner checkpoint.
    pub end_offset: i64,
    /// Segments rewritten.
    pub segments_before: usize,
    /// Segments they became.
    pub segments_after: usize,
    /// Size of the rewritten segments before.
    pub bytes_before: u64,
    /// Size of the rewritten segments after.
    pub bytes_after: u64,
    /// Records read in the rewritten segments.
    pub records_read: u64,
    /// Records removed (superseded values, expired tombstones, null keys).
    pub records_removed: u64,
    /// Tombstones removed because their delete horizon had passed.
    pub tombstones_removed: u64,
    /// Records removed because their transaction was aborted (included in `records_removed`).
    pub aborted_records_removed: u64,
    /// Distinct keys in the dirty section.
    pub dirty_keys: usize,
}

/// Test hook: where [`crate::Log::commit_clean`] (or [`CleanPlan::run`]) stops, as if the process died there,
/// leaving the files as they are and returning [`StorageError::CleanAborted`]. Only for crash tests.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    /// `.cleaned` files written and fsynced, nothing renamed.
    AfterCleaned,
    /// Half of the `.cleaned` → `.swap` renames done (the first output's index files only).
    DuringSwap,
    /// Every output renamed to `.swap`.
    AfterSwap,
    /// The first old segment renamed to `.deleted`.
    AfterFirstDeleted,
    /// Every old segment renamed to `.deleted`.
    AfterDeleted,
    /// The first output's index files renamed from `.swap` to final, its `.log` not yet.
    DuringFinal,
    /// Every `.swap` renamed to final, `.deleted` files not yet removed.
    AfterFinal,
}

impl FailPoint {
    /// Every fail point, in order.
    pub const ALL: [FailPoint; 7] = [
        FailPoint::AfterCleaned,
        FailPoint::DuringSwap,
        FailPoint::AfterSwap,
        FailPoint::AfterFirstDeleted,
        FailPoint::AfterDeleted,
        FailPoint::DuringFinal,
        FailPoint::AfterFinal,
    ];
}

/// An inactive segment taking part in a clean, captured under the read lock.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub(crate) base: i64,
    /// Base offset of the following segment.
    pub(crate) next: i64,
    pub(crate) size: u64,
    pub(crate) file: Arc<File>,
    /// Its `.txnindex` entries (carried into the cleaned segment: the cleaner keeps every marker).
    pub(crate) aborted: Vec<AbortedTxn>,
}

/// A clean decided by [`crate::Log::plan_clean`]; [`CleanPlan::run`] it without holding the log lock, then hand
/// the result to [`crate::Log::commit_clean`]. One clean at a time per log.
#[derive(Debug)]
pub struct CleanPlan {
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    pub(crate) now_ms: i64,
    pub(crate) first_dirty: i64,
    pub(crate) end_offset: i64,
    /// Every segment with a base below `end_offset`, oldest first.
    pub(crate) sources: Vec<Source>,
    /// Producer id → offset of its last data batch (those batches are kept, empty if need be).
    pub(crate) producer_last_offsets: HashMap<i64, i64>,
    /// Producer id → (first offset, ABORT marker offset) of each of its aborted transactions, from every
    /// segment's `.txnindex`, in offset order.
    pub(crate) aborted: HashMap<i64, Vec<(i64, i64)>>,
    pub(crate) fail_point: Option<FailPoint>,
    /// `log.cleaner.dedupe.buffer.size`: bytes the key map may hold ([`KEY_MAP_ENTRY_OVERHEAD`] + key length per
    /// key).
    pub(crate) key_map_bytes: usize,
}

/// One cleaned segment written as `.cleaned` files, replacing the old segments `replaces`.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) base: i64,
    /// (base offset, size) of each old segment it replaces.
    pub(crate) replaces: Vec<(i64, u64)>,
    pub(crate) size: u64,
}

/// The cleaned files of a [`CleanPlan`], ready for [`crate::Log::commit_clean`].
#[derive(Debug)]
pub struct CleanedSegments {
    pub(crate) dir: PathBuf,
    pub(crate) outputs: Vec<Output>,
    pub(crate) stats: CleanStats,
    pub(crate) fail_point: Option<FailPoint>,
    /// Earliest delete horizon of a tombstone kept by this clean.
    pub(crate) min_horizon: Option<i64>,
}

impl CleanedSegments {
    /// Delete the `.cleaned` files (a clean that will not be committed).
    pub fn discard(self) {
        for out in &self.outputs {
            for path in segment_paths(&self.dir, out.base, CLEANED_SUFFIX) {
                // Best effort: leftovers are deleted when the log is next opened.
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// Statistics of the clean (final once committed).
    pub fn stats(&self) -> &CleanStats {
        &self.stats
    }
}

/// Stop at `point` if the test hook asks for it.
pub(crate) fn check_fail_point(wanted: Option<FailPoint>, point: FailPoint) -> Result<()> {
    if wanted == Some(point) {
        return Err(StorageError::CleanAborted(format!(
            "fail point {point:?} reached"
        )));
    }
    Ok(())
}

/// Read every whole batch of `src` (whole-batch bytes and header).
fn for_each_batch(
    src: &Source,
    mut f: impl FnMut(&[u8], &BatchHeader) -> Result<()>,
) -> Result<()> {
    let mut reader = ChunkReader::new(&src.file, src.size);
    let mut pos = 0u64;
    loop {
        let Some(head) = reader.get(pos, BatchHeader::SIZE)? else {
            return Ok(());
        };
        let h = BatchHeader::parse(head)?;
        let Some(whole) = reader.get(pos, h.size())? else {
            return Ok(());
        };
        f(whole, &h)?;
        pos += h.size() as u64;
    }
}

/// The uncompressed records payload of a stored batch, at most `limit` bytes ([`batch::decompressed_limit`]): a
/// bomb fails the clean instead of exhausting memory.
fn payload(whole: &[u8], h: &BatchHeader, limit: usize) -> Result<Vec<u8>> {
    batch::decompress(
        h.try_compression()?,
        &whole[BatchHeader::SIZE..h.size()],
        limit,
    )
}

/// Kafka's default `log.cleaner.dedupe.buffer.size` (128 MiB, for all cleaner threads; minikafka has one).
pub const DEFAULT_DEDUPE_BUFFER_SIZE: usize = 128 << 20;

/// What one key costs in the key map besides its bytes: its offset and the map's bookkeeping (Kafka's map
/// costs 24 bytes per entry: a 16-byte hash and the offset).
pub const KEY_MAP_ENTRY_OVERHEAD: usize = 32;

/// What happens to one batch.
enum Filtered {
    /// Copy the stored bytes.
    Keep,
    /// Write these bytes instead.
    Rebuilt(Bytes),
    /// Leave it out.
    Drop,
}

impl CleanPlan {
    /// Test hook: stop the clean at `point` (see [`FailPoint`]).
    #[doc(hidden)]
    #[must_use]
    pub fn with_fail_point(mut self, point: FailPoint) -> Self {
        self.fail_point = Some(point);
        self
    }

    /// Bound the key map to `bytes` (`log.cleaner.dedupe.buffer.size`, default
    /// [`DEFAULT_DEDUPE_BUFFER_SIZE`]). As Kafka's cleaner, when the dirty section's keys do not fit, only the
    /// prefix whose keys fit is cleaned (the range ends at the first record whose new key does not fit; at least
    /// one key is always taken, so every round makes progress) and the next round continues from there.
    #[must_use]
    pub fn with_dedupe_buffer_size(mut self, bytes: usize) -> Self {
        self.key_map_bytes = bytes;
        self
    }

    /// First dirty offset and end of the cleanable range `[first_dirty, end)`.
    pub fn range(&self) -> (i64, i64) {
        (self.first_dirty, self.end_offset)
    }

    /// Build the key map, then write the cleaned segments as fsynced `.cleaned` files. Blocking I/O; takes no
    /// lock (reads the old segments through their file handles).
    pub fn run(mut self) -> Result<CleanedSegments> {
        let (map, end) = self.build_offset_map()?;
        // Records from `end` on are not deduplicated this round (the key map is full); they are kept.
        self.end_offset = end;
        let mut stats = CleanStats {
            first_dirty_offset: self.first_dirty,
            end_offset: self.end_offset,
            ..CleanStats::default()
        };
        stats.dirty_keys = map.len();
        let mut outputs = Vec::new();
        let mut min_horizon: Option<i64> = None;
        for group in self.groups() {
            let base = group[0].base;
            let mut seg =
                Segment::create_with_suffix(&self.dir, base, self.now_ms, CLEANED_SUFFIX)?;
            for src in group {
                stats.bytes_before += src.size;
                stats.segments_before += 1;
                for_each_batch(src, |whole, h| {
                    let out = self.filter_batch(whole, h, &map, &mut stats, &mut min_horizon)?;
                    let bytes = match out {
                        Filtered::Keep => whole,
                        Filtered::Rebuilt(ref b) => &b[..],
                        Filtered::Drop => return Ok(()),
                    };
                    let header = BatchHeader::parse(bytes)?;
                    seg.append(&[bytes], &[(0, header)], &self.config)
                })?;
            }
            for entry in group.iter().flat_map(|src| &src.aborted) {
                seg.append_aborted_txn(*entry)?;
            }
            seg.on_become_inactive(&self.config)?;
            // As Kafka's `cleanSegments`: the cleaned segment keeps the last old segment's modification time,
            // which time retention uses when a segment has no timestamp (e.g. it was cleaned empty).
            if let Some(last) = group.last() {
                seg.log_file()?
                    .set_modified(last.file.metadata()?.modified()?)?;
            }
            for f in seg.files() {
                f.sync_data()?;
            }
            stats.bytes_after += seg.size();
            stats.segments_after += 1;
            outputs.push(Output {
                base,
                replaces: group.iter().map(|s| (s.base, s.size)).collect(),
                size: seg.size(),
            });
        }
        let cleaned = CleanedSegments {
            dir: self.dir.clone(),
            outputs,
            stats,
            fail_point: self.fail_point,
            min_horizon,
        };
        Ok(cleaned)
    }

    /// Key → offset of its latest record in `[first_dirty, end)`, and `end`: `end_offset`, or earlier if the map
    /// reached `key_map_bytes` (the offset of the first record whose new key did not fit).
    fn build_offset_map(&self) -> Result<(HashMap<Vec<u8>, i64>, i64)> {
        let mut map: HashMap<Vec<u8>, i64> = HashMap::new();
        let mut used = 0usize;
        let mut end = self.end_offset;
        let limit = batch::decompressed_limit(self.config.max_message_bytes);
        for src in self.sources.iter().filter(|s| s.next > self.first_dirty) {
            for_each_batch(src, |whole, h| {
                if h.base_offset >= end
                    || h.is_control()
                    || h.records_count == 0
                    || h.last_offset() < self.first_dirty
                    || self.is_aborted(h)
                {
                    return Ok(());
                }
                batch::for_each_record(whole, h, limit, false, |_, r| {
                    let offset = h.base_offset + i64::from(r.offset_delta);
                    let Some(key) = r.key else {
                        return Ok(());
                    };
                    if !(self.first_dirty..end).contains(&offset) {
                        return Ok(());
                    }
                    if let Some(latest) = map.get_mut(key) {
                        *latest = offset;
                        return Ok(());
                    }
                    let cost = KEY_MAP_ENTRY_OVERHEAD + key.len();
                    if !map.is_empty() && used + cost > self.key_map_bytes {
                        end = offset;
                        return Ok(());
                    }
                    used += cost;
                    map.insert(key.to_vec(), offset);
                    Ok(())
                })
            })?;
        }
        Ok((map, end))
    }

    /// Kafka's `groupSegmentsBySize`: runs of adjacent segments whose sizes sum to at most `segment.bytes` and
    /// whose offsets fit one segment's 32-bit relative offsets.
    fn groups(&self) -> Vec<&[Source]> {
        let mut groups = Vec::new();
        let mut start = 0;
        while start < self.sources.len() {
            let mut end = start + 1;
            let mut size = self.sources[start].size;
            while end < self.sources.len() {
                let next = &self.sources[end];
                let fits = size + next.size <= self.config.roll_bytes()
                    && next.next - 1 - self.sources[start].base <= i64::from(i32::MAX);
                if !fits {
                    break;
                }
                size += next.size;
                end += 1;
            }
            groups.push(&self.sources[start..end]);
            start = end;
        }
        groups
    }

    /// Whether `h` is a data batch of an aborted transaction (between its first offset and its ABORT marker).
    fn is_aborted(&self, h: &BatchHeader) -> bool {
        h.is_transactional()
            && !h.is_control()
            && self.aborted.get(&h.producer_id).is_some_and(|txns| {
                let i = txns.partition_point(|&(_, marker)| marker < h.base_offset);
                txns.get(i)
                    .is_some_and(|&(first, _)| first <= h.base_offset)
            })
    }

    /// Decide what to write for one stored batch (see the module docs).
    fn filter_batch(
        &self,
        whole: &[u8],
        h: &BatchHeader,
        map: &HashMap<Vec<u8>, i64>,
        stats: &mut CleanStats,
        min_horizon: &mut Option<i64>,
    ) -> Result<Filtered> {
        if h.is_control() {
            return Ok(Filtered::Keep);
        }
        let data = payload(
            whole,
            h,
            batch::decompressed_limit(self.config.max_message_bytes),
        )?;
        let aborted = h.last_offset() < self.end_offset && self.is_aborted(h);
        let horizon_passed = h.delete_horizon_ms().is_some_and(|t| self.now_ms >= t);
        let mut kept = Vec::new();
        let mut removed = 0u64;
        let mut tombstone_kept = false;
        batch::walk_records_with(&data, h.records_count, false, |r| {
            let offset = h.base_offset + i64::from(r.offset_delta);
            let keep = if offset >= self.end_offset {
                true
            } else if aborted {
                stats.aborted_records_removed += 1;
                false
            } else if let Some(key) = r.key {
                let latest = map.get(key).is_none_or(|&o| offset >= o);
                if latest && r.value.is_none() && horizon_passed {
                    stats.tombstones_removed += 1;
                }
                latest && (r.value.is_some() || !horizon_passed)
            } else {
                false
            };
            if keep {
                tombstone_kept |= r.value.is_none();
                kept.push(r);
            } else {
                removed += 1;
            }
            Ok(())
        })?;
        stats.records_read += u64::try_from(h.records_count).unwrap_or(0);
        stats.records_removed += removed;
        let set_horizon = tombstone_kept && h.delete_horizon_ms().is_none();
        let horizon = if set_horizon {
            Some(self.now_ms.saturating_add(self.config.delete_retention_ms))
        } else {
            h.delete_horizon_ms()
        };
        if tombstone_kept {
            if let Some(t) = horizon {
                *min_horizon = Some(min_horizon.map_or(t, |m| m.min(t)));
            }
        }
        if removed == 0 && !set_horizon {
            return Ok(Filtered::Keep);
        }
        if !kept.is_empty() {
            return rebuild(h, &kept, horizon).map(Filtered::Rebuilt);
        }
        if h.producer_id >= 0
            && self.producer_last_offsets.get(&h.producer_id) == Some(&h.last_offset())
        {
            return empty_batch(h).map(Filtered::Rebuilt);
        }
        Ok(Filtered::Drop)
    }
}

/// Rebuild `h`'s batch with only `kept` (see the module docs); `horizon` is the delete horizon to stamp, if any.
fn rebuild(h: &BatchHeader, kept: &[RawRecord<'_>], horizon: Option<i64>) -> Result<Bytes> {
    let timestamp = |r: &RawRecord<'_>| h.base_timestamp.wrapping_add(r.timestamp_delta);
    let base_timestamp = horizon.unwrap_or_else(|| timestamp(&kept[0]));
    let mut out = Vec::new();
    for r in kept {
        batch::put_record(
            &mut out,
            RawRecord {
                timestamp_delta: timestamp(r).wrapping_sub(base_timestamp),
                ..*r
            },
        )?;
    }
    let max_timestamp = if h.timestamp_type() == TimestampType::LogAppendTime {
        h.max_timestamp
    } else {
        kept.iter().map(timestamp).max().unwrap_or(h.max_timestamp)
    };
    let mut attributes = h.attributes & !DELETE_HORIZON_BIT;
    if horizon.is_some() {
        attributes |= DELETE_HORIZON_BIT;
    }
    let frame = BatchHeader {
        attributes,
        base_timestamp,
        max_timestamp,
        records_count: batch::to_i32(kept.len())?,
        ..*h
    };
    Ok(batch::assemble(
        &frame,
        &batch::compress(h.try_compression()?, &out)?,
    )?)
}

/// A header-only batch standing for `h` (Kafka's `writeEmptyHeader`): same offsets and producer fields, no
/// records, uncompressed.
fn empty_batch(h: &BatchHeader) -> Result<Bytes> {
    let frame = BatchHeader {
        attributes: h.attributes & !(COMPRESSION_MASK | DELETE_HORIZON_BIT),
        base_timestamp: -1,
        records_count: 0,
        ..*h
    };
    Ok(batch::assemble(&frame, &[])?)
}

/// Rename a segment's files from `<name>{from}` to `<name>{to}`, skipping missing files: the index files first, the
/// `.log` last (so a `.log.swap` implies its index files were renamed before it), or only the index files.
pub(crate) fn rename_all(
    dir: &Path,
    base: i64,
    from: &str,
    to: &str,
    indexes_only: bool,
) -> Result<()> {
    let sources = segment_paths(dir, base, from);
    let targets = segment_paths(dir, base, to);
    let order: &[usize] = if indexes_only {
        &[1, 2, 3]
    } else {
        &[1, 2, 3, 0]
    };
    for &i in order {
        match std::fs::rename(&sources[i], &targets[i]) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}

/// Kafka's `LogLoader.removeTempFilesAndCollectSwapFiles` + swap completion, run by [`crate::Log::open`] before
/// anything else: every `%020d.log.swap` (except those above the lowest `.cleaned` file, whose clean did not finish
/// renaming) replaces the segments whose base offset lies in `[swap base, swap next offset)` and the segment of the
/// same name, then is renamed to its final name (with its index files if they are still `.swap`; otherwise the
/// segment's indexes are rebuilt on open). Returns whether anything changed. Leftover `.cleaned`, `.deleted` and
/// `.swap` files are left for the caller to delete.
pub(crate) fn complete_interrupted_swaps(dir: &Path) -> Result<bool> {
    let log_swap = format!("{}{SWAP_SUFFIX}", crate::segment::LOG_SUFFIX);
    let (mut swaps, mut logs, mut min_cleaned) = (Vec::new(), Vec::new(), None::<i64>);
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = crate::segment::parse_file_name(name, &log_swap) {
            swaps.push(base);
        } else if let Some(base) = crate::segment::parse_file_name(name, crate::segment::LOG_SUFFIX)
        {
            logs.push(base);
        } else if let Some(stem) = name.strip_suffix(CLEANED_SUFFIX) {
            let base = [".log", ".index", ".timeindex", ".txnindex"]
                .iter()
                .find_map(|s| crate::segment::parse_file_name(stem, s));
            if let Some(b) = base {
                min_cleaned = Some(min_cleaned.map_or(b, |m: i64| m.min(b)));
            }
        }
    }
    swaps.sort_unstable();
    let mut changed = false;
    for base in swaps {
        if min_cleaned.is_some_and(|m| base > m) {
            continue;
        }
        let [swap_log, ..] = segment_paths(dir, base, SWAP_SUFFIX);
        let next = crate::segment::scan_next_offset(&swap_log)?.unwrap_or(base);
        tracing::info!(dir = %dir.display(), base_offset = base, next_offset = next,
            "completing an interrupted log cleaner swap");
        for &old in logs
            .iter()
            .filter(|&&b| b >= base && b < next.max(base + 1))
        {
            for path in segment_paths(dir, old, "") {
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
        rename_all(dir, base, SWAP_SUFFIX, "", false)?;
        changed = true;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{build_batch, Compression, Record};
    use crate::config::CleanupPolicy;
    use crate::log::Log;

    const T0: i64 = 1_700_000_000_000;

    /// 40 single-record batches over keys k0..k9 (four rounds), in several segments.
    fn log_with_duplicates(dir: &std::path::Path) -> Log {
        let config = LogConfig {
            segment_bytes: 2048,
            cleanup_policy: CleanupPolicy::COMPACT,
            retention_ms: -1,
            ..LogConfig::default()
        };
        let mut log = Log::open(dir, config, true).unwrap();
        for i in 0..40i64 {
            let rec = Record {
                offset: 0,
                timestamp: T0 + i,
                key: Some(format!("k{}", i % 10).into()),
                value: Some(vec![b'v'; 50].into()),
                headers: vec![],
            };
            log.append(
                &build_batch(0, T0 + i, &[rec], Compression::None),
                0,
                T0 + i,
            )
            .unwrap();
        }
        log
    }

    #[test]
    fn a_full_key_map_cleans_a_prefix_and_the_next_round_continues() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = log_with_duplicates(dir.path());
        let plan = log.plan_clean(T0 + 100).unwrap().unwrap();
        let (first_dirty, end) = plan.range();
        assert_eq!(first_dirty, 0);
        assert!(end > 10, "{end}");
        // Room for three keys of two bytes: the range ends at offset 3, the first record of a fourth key.
        let cleaned = plan
            .with_dedupe_buffer_size(3 * (KEY_MAP_ENTRY_OVERHEAD + 2))
            .run()
            .unwrap();
        let stats = log.commit_clean(cleaned).unwrap();
        assert_eq!((stats.first_dirty_offset, stats.end_offset), (0, 3));
        assert_eq!(stats.dirty_keys, 3);
        assert_eq!(log.cleaner_checkpoint(), 3);
        // The next round starts where the last stopped and, with the default buffer, cleans the rest.
        let plan = log.plan_clean(T0 + 200).unwrap().unwrap();
        assert_eq!(plan.range().0, 3);
        let stats = log.commit_clean(plan.run().unwrap()).unwrap();
        assert_eq!(stats.end_offset, end);
        assert_eq!(stats.dirty_keys, 10);
    }
}
