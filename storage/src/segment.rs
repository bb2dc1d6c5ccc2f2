//! One log segment: `%020d.log` (concatenated v2 batches) + `%020d.index` + `%020d.timeindex` + (once an aborted
//! transaction lands in it) `%020d.txnindex`, named by the base offset (Kafka's `LogSegment` and `LogFileUtils`).
//! The log appends to the transaction index; the segment truncates it with the `.log` (recovery cuts the entries of
//! markers in a torn tail, [`crate::Log`] then rebuilds the rest by replaying from a producer snapshot).
//!
//! Appends go to the end of the `.log` with positional writes; an offset-index entry `(batch last offset, batch
//! position)` and a time-index entry (if the largest timestamp grew) are added once more than
//! `index.interval.bytes` were appended since the previous entry, checked before each batch, exactly as Kafka's
//! `LogSegment.append`. When a segment stops being the active one (roll, close), a final time-index entry records
//! its largest timestamp, so that reopening never needs to scan an inactive segment.
//!
//! Thread-safety: a `Segment` is `Send + Sync`; reads take `&self` and use positional reads
//! (`FileExt::read_at`), so they may run concurrently with each other but not with `&mut self` mutation (the
//! [`crate::Log`] owner serialises those with a lock). Durability: nothing here fsyncs; the log hands the segment's
//! file handles to a [`crate::SyncJob`].

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::batch::{self, BatchHeader, LOG_OVERHEAD, MAGIC};
use crate::config::LogConfig;
use crate::error::{Result, StorageError};
use crate::index::{open_rw, IndexEntry, OffsetEntry, OffsetIndex, TimeEntry, TimeIndex};
use crate::open_files::CachedFile;
use crate::txn_index::{AbortedTxn, TxnIndex, TXN_INDEX_SUFFIX};

/// Suffix of segment data files.
pub const LOG_SUFFIX: &str = ".log";
/// Suffix of offset index files.
pub const INDEX_SUFFIX: &str = ".index";
/// Suffix of time index files.
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// Suffixes of leftovers of interrupted Kafka operations, deleted when a log is opened.
pub const LEFTOVER_SUFFIXES: [&str; 3] = [".deleted", ".cleaned", ".swap"];

/// Kafka's file name for a segment file: the base offset zero-padded to 20 digits, then `suffix`.
pub fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

/// The base offset encoded in a file name such as `00000000000000000042.log`, if it has `suffix`.
pub fn parse_file_name(name: &str, suffix: &str) -> Option<i64> {
    let stem = name.strip_suffix(suffix)?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Current wall-clock time in milliseconds since the epoch.
pub(crate) fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// How much of the `.log` [`Segment::open`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// Inactive segment after a clean shutdown: trust the indexes, read no log data.
    Inactive,
    /// Active (last) segment after a clean shutdown: scan batch headers after the last offset-index entry.
    ActiveClean,
    /// Validate every batch (framing, magic, offsets, CRC), truncate at the first bad byte, rebuild the indexes.
    Recover,
}

/// The in-memory state that [`Segment::index_batch`] evolves batch by batch (saved and restored around appends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    size: u64,
    next_offset: i64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    bytes_since_last_index_entry: u64,
    rolling_timestamp: Option<i64>,
}

/// Why a scan stopped before the end of the file.
struct BadBatch {
    reason: String,
}

/// Sequential reader over a range of a file, in large chunks.
pub(crate) struct ChunkReader<'a> {
    file: &'a File,
    end: u64,
    buf: Vec<u8>,
    start: u64,
    chunk: usize,
}

const SCAN_CHUNK: usize = 256 * 1024;

/// Chunk size for the header walk of [`Segment::read_range`] (from an index entry to the end of the budget, about
/// two `index.interval.bytes`): one read for many small batches, little copied for big ones.
const WALK_CHUNK: usize = 4 * 1024;

/// The batch header at `position`, through `reader` (`None` past the end).
fn header_in(reader: &mut ChunkReader<'_>, position: u64) -> Result<Option<BatchHeader>> {
    match reader.get(position, BatchHeader::SIZE)? {
        Some(head) => BatchHeader::parse(head).map(Some),
        None => Ok(None),
    }
}

impl<'a> ChunkReader<'a> {
    pub(crate) fn new(file: &'a File, end: u64) -> Self {
        Self::with_chunk(file, end, SCAN_CHUNK)
    }

    /// A reader that reads `chunk` bytes at a time.
    pub(crate) fn with_chunk(file: &'a File, end: u64, chunk: usize) -> Self {
        ChunkReader {
            file,
            end,
            buf: Vec::new(),
            start: 0,
            chunk,
        }
    }

    /// `len` bytes at `pos`, or `None` if the file ends first.
    pub(crate) fn get(&mut self, pos: u64, len: usize) -> io::Result<Option<&[u8]>> {
        if pos + len as u64 > self.end {
            return Ok(None);
        }
        let buffered = pos >= self.start && pos + len as u64 <= self.start + self.buf.len() as u64;
        if !buffered {
            // `end - pos >= len` was checked above, so the chunk is at least `len` bytes.
            let want = usize::try_from(self.end - pos)
                .unwrap_or(usize::MAX)
                .min(len.max(self.chunk));
            self.buf.resize(want, 0);
            self.file.read_exact_at(&mut self.buf, pos)?;
            self.start = pos;
        }
        // In range by the checks above.
        let off = (pos - self.start) as usize;
        Ok(Some(&self.buf[off..off + len]))
    }
}

/// One segment of a partition log. See the module docs.
#[derive(Debug)]
pub struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    /// The `.log`, through the bounded cache of open files ([`crate::open_files`]).
    log: CachedFile,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    txn_index: TxnIndex,
    state: State,
    created_ms: i64,
}

/// A byte range of a segment's `.log` holding whole batches, with the file handle that keeps it readable after the
/// log lock is released (a segment deleted by retention or replaced by the cleaner stays readable through it).
/// The network layer sends it with `sendfile`; [`FileSlice::read`] copies it.
#[derive(Debug, Clone)]
pub struct FileSlice {
    file: Arc<File>,
    position: u64,
    len: usize,
}

impl FileSlice {
    pub(crate) fn new(file: Arc<File>, position: u64, len: usize) -> Self {
        FileSlice {
            file,
            position,
            len,
        }
    }

    /// The `.log` file.
    pub fn file(&self) -> &Arc<File> {
        &self.file
    }

    /// Byte position of the first batch in the file.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copy the range into memory (one positional read). Fails if the file has since been truncated below its end.
    pub fn read(&self) -> io::Result<Bytes> {
        if self.len == 0 {
            return Ok(Bytes::new());
        }
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(Bytes::from(buf))
    }
}

/// What [`Segment::read_range`] found.
#[derive(Debug, Clone)]
pub struct SegmentRange {
    /// The whole batches (possibly empty).
    pub slice: FileSlice,
    /// The offset after the last batch of `slice`; `None` when it is empty.
    pub next_offset: Option<i64>,
}

/// Write `parts` back to back at `position` (`pwritev`, at most `IOV_MAX` parts per call, resumed after a short
/// write).
fn write_all_vectored_at(file: &File, mut parts: &[&[u8]], mut position: u64) -> io::Result<()> {
    const IOV_MAX: usize = 1024;
    let mut skip = 0usize; // bytes of parts[0] already written
    loop {
        while parts.first().is_some_and(|p| p.len() == skip) {
            parts = &parts[1..];
            skip = 0;
        }
        let Some(first) = parts.first() else {
            return Ok(());
        };
        let iov: Vec<io::IoSlice<'_>> = std::iter::once(&first[skip..])
            .chain(parts[1..].iter().copied())
            .take(IOV_MAX)
            .map(io::IoSlice::new)
            .collect();
        let mut written = rustix::io::pwritev(file, &iov, position)?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        position += written as u64;
        while written > 0 {
            let left = parts[0].len() - skip;
            if written >= left {
                written -= left;
                parts = &parts[1..];
                skip = 0;
            } else {
                skip += written;
                written = 0;
            }
        }
    }
}

/// Paths of a segment's `.log`, `.index`, `.timeindex` and `.txnindex`, each followed by `extra` (`""`,
/// `".cleaned"`, …). The `.txnindex` may not exist.
pub(crate) fn segment_paths(dir: &Path, base_offset: i64, extra: &str) -> [PathBuf; 4] {
    [
        LOG_SUFFIX,
        INDEX_SUFFIX,
        TIME_INDEX_SUFFIX,
        TXN_INDEX_SUFFIX,
    ]
    .map(|suffix| dir.join(format!("{}{extra}", file_name(base_offset, suffix))))
}

/// Offset following the last whole batch of the `.log` at `path` (headers only, no CRC check); `None` if it holds
/// no whole batch.
pub(crate) fn scan_next_offset(path: &Path) -> io::Result<Option<i64>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut reader = ChunkReader::new(&file, len);
    let (mut pos, mut next) = (0u64, None);
    while let Some(head) = reader.get(pos, BatchHeader::SIZE)? {
        let Ok(h) = BatchHeader::parse(head) else {
            break;
        };
        if pos + h.size() as u64 > len {
            break;
        }
        next = Some(h.next_offset());
        pos += h.size() as u64;
    }
    Ok(next)
}

impl Segment {
    /// Create an empty segment (truncating any files of that name).
    pub(crate) fn create(dir: &Path, base_offset: i64, now_ms: i64) -> io::Result<Segment> {
        Self::create_with_suffix(dir, base_offset, now_ms, "")
    }

    /// [`Segment::create`] with `extra` after each file name (`.cleaned` for the log cleaner's output).
    pub(crate) fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        now_ms: i64,
        extra: &str,
    ) -> io::Result<Segment> {
        let [log_path, index_path, time_index_path, txn_index_path] =
            segment_paths(dir, base_offset, extra);
        let log = CachedFile::opened(log_path.clone(), open_rw(&log_path, true)?);
        Ok(Segment {
            base_offset,
            log_path,
            log,
            offset_index: OffsetIndex::create(index_path, base_offset)?,
            time_index: TimeIndex::create(time_index_path, base_offset)?,
            txn_index: TxnIndex::create(txn_index_path)?,
            state: State {
                size: 0,
                next_offset: base_offset,
                max_timestamp: -1,
                offset_of_max_timestamp: base_offset,
                bytes_since_last_index_entry: 0,
                rolling_timestamp: None,
            },
            created_ms: now_ms,
        })
    }

    /// Open an existing segment. Missing or damaged index files (size not a multiple of the entry size, entries
    /// not increasing, an entry beyond the `.log`) are rebuilt by a full [`OpenMode::Recover`] pass.
    ///
    /// `tolerate_full`: an index rebuild that finds the disk full keeps the index in memory (see [`crate::index`])
    /// instead of failing; the tolerance stays on until [`Segment::set_tolerate_full`] turns it off.
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        mode: OpenMode,
        config: &LogConfig,
        tolerate_full: bool,
    ) -> Result<Segment> {
        let log_path = dir.join(file_name(base_offset, LOG_SUFFIX));
        // Not kept open: the cache opens it for the first read or write (Kafka's `LazyIndex`, extended to the log).
        let size = open_rw(&log_path, false)?.metadata()?.len();
        let log = CachedFile::closed(log_path.clone());
        let (offset_index, offset_problem) =
            OffsetIndex::open(dir.join(file_name(base_offset, INDEX_SUFFIX)), base_offset)?;
        let (time_index, time_problem) = TimeIndex::open(
            dir.join(file_name(base_offset, TIME_INDEX_SUFFIX)),
            base_offset,
        )?;
        let beyond = offset_index
            .last()
            .filter(|e| u64::from(e.position) >= size)
            .map(|e| format!("offset index entry {e:?} points beyond the log size {size}"));
        let problem = offset_problem
            .map(|p| format!("offset index: {p}"))
            .or(beyond)
            .or(time_problem.map(|p| format!("time index: {p}")));
        let (max_timestamp, offset_of_max_timestamp) =
            time_index.last().map_or((-1, base_offset), |e| {
                (e.timestamp, base_offset + i64::from(e.relative_offset))
            });
        let txn_index = TxnIndex::open(dir.join(file_name(base_offset, TXN_INDEX_SUFFIX)))?;
        let mut seg = Segment {
            base_offset,
            log_path,
            log,
            offset_index,
            time_index,
            txn_index,
            state: State {
                size,
                // Unknown for an inactive segment opened without a scan; the log sets it to the next base offset.
                next_offset: base_offset,
                max_timestamp,
                offset_of_max_timestamp,
                bytes_since_last_index_entry: 0,
                rolling_timestamp: None,
            },
            created_ms: wall_clock_ms(),
        };
        seg.set_tolerate_full(tolerate_full);
        match (mode, problem) {
            (OpenMode::Recover, problem) => {
                if let Some(p) = problem {
                    tracing::warn!(segment = %seg.log_path.display(), problem = %p, "rebuilding damaged index");
                }
                seg.recover(config)?;
            }
            (_, Some(p)) => {
                tracing::warn!(segment = %seg.log_path.display(), problem = %p, "rebuilding damaged index");
                seg.recover(config)?;
            }
            (OpenMode::ActiveClean, None) => {
                seg.rescan_tail(config)?;
            }
            (OpenMode::Inactive, None) => {}
        }
        Ok(seg)
    }

    /// Validate every batch (framing, magic, offsets, CRC), truncate the `.log` at the first bad byte and rebuild
    /// both indexes (Kafka `LogSegment.recover`); transaction index entries of markers beyond the valid data are
    /// dropped (the log re-adds missing ones by replaying from a producer snapshot). Returns the number of bytes
    /// truncated.
    pub(crate) fn recover(&mut self, config: &LogConfig) -> Result<u64> {
        self.offset_index.clear()?;
        self.time_index.clear()?;
        self.state = State {
            size: 0,
            next_offset: self.base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: self.base_offset,
            bytes_since_last_index_entry: 0,
            rolling_timestamp: None,
        };
        let dropped = self.scan(0, true, config)?;
        self.txn_index.truncate_to(self.state.next_offset)?;
        // As Kafka's `recover`: the rebuilt time index ends with the largest timestamp, which is what an inactive
        // segment's max timestamp is read from on the next clean open.
        self.on_become_inactive(config)?;
        Ok(dropped)
    }

    /// Recompute the state from the indexes plus a header scan after the last offset-index entry. Falls back to a
    /// full recovery if that entry does not point at the batch it names.
    fn rescan_tail(&mut self, config: &LogConfig) -> Result<u64> {
        let file_len = self.log.get()?.metadata()?.len();
        let (max_timestamp, offset_of_max_timestamp) =
            self.time_index.last().map_or((-1, self.base_offset), |e| {
                (e.timestamp, self.base_offset + i64::from(e.relative_offset))
            });
        self.state = State {
            size: file_len,
            next_offset: self.base_offset,
            max_timestamp,
            offset_of_max_timestamp,
            bytes_since_last_index_entry: 0,
            rolling_timestamp: None,
        };
        let start = match self.offset_index.last().copied() {
            None => 0,
            Some(e) => {
                let at = u64::from(e.position);
                let expected = self.base_offset + i64::from(e.relative_offset);
                match self.header_at(at) {
                    Ok(Some(h)) if h.last_offset() == expected => at,
                    _ => {
                        tracing::warn!(segment = %self.log_path.display(), entry = ?e,
                            "last offset index entry does not match the log; rebuilding the indexes");
                        return self.recover(config);
                    }
                }
            }
        };
        if start > 0 {
            self.state.rolling_timestamp = self.header_at(0)?.map(|h| h.max_timestamp);
        }
        let dropped = self.scan(start, false, config)?;
        if let Some(e) = self.time_index.last().copied() {
            if self.base_offset + i64::from(e.relative_offset) >= self.state.next_offset {
                tracing::warn!(segment = %self.log_path.display(), entry = ?e,
                    "time index entry beyond the end of the log; rebuilding the indexes");
                return Ok(dropped + self.recover(config)?);
            }
        }
        Ok(dropped)
    }

    /// Scan batches from `start` to the end of the file, indexing each one; truncate the file at the first
    /// malformed batch (with a warning). `verify` adds magic, offset-order and CRC checks. Returns bytes dropped.
    fn scan(&mut self, start: u64, verify: bool, config: &LogConfig) -> Result<u64> {
        let file_len = self.log.get()?.metadata()?.len();
        let log = self.log.get()?;
        let mut reader = ChunkReader::new(&log, file_len);
        let mut pos = start;
        let mut bad = None;
        while pos < file_len {
            match next_batch(&mut reader, pos, verify)? {
                Ok(h) => {
                    let fits = h.last_offset_delta >= 0
                        && h.base_offset >= self.state.next_offset
                        && h.last_offset() - self.base_offset <= i64::from(i32::MAX);
                    if !fits {
                        bad = Some(BadBatch {
                            reason: format!(
                                "batch offsets {}..={} out of order (expected at least {})",
                                h.base_offset,
                                h.last_offset(),
                                self.state.next_offset
                            ),
                        });
                        break;
                    }
                    self.index_batch(pos, &h, config)?;
                    pos += h.size() as u64;
                }
                Err(b) => {
                    bad = Some(b);
                    break;
                }
            }
        }
        self.state.size = pos;
        let dropped = file_len - pos;
        if dropped > 0 {
            let reason = bad.map_or_else(|| "unknown".to_string(), |b| b.reason);
            tracing::warn!(
                dir = %self.log_path.parent().unwrap_or(Path::new("")).display(),
                segment = self.base_offset,
                position = pos,
                bytes_dropped = dropped,
                reason = %reason,
                "truncating invalid bytes at the end of a log segment"
            );
            self.log.write(|f| f.set_len(pos))?;
        }
        Ok(dropped)
    }

    /// Kafka's per-batch index maintenance (see module docs); `position` is the batch's position in the `.log`.
    fn index_batch(
        &mut self,
        position: u64,
        h: &BatchHeader,
        config: &LogConfig,
    ) -> io::Result<()> {
        let last = h.last_offset();
        if position == 0 {
            self.state.rolling_timestamp = Some(h.max_timestamp);
        }
        if h.max_timestamp > self.state.max_timestamp {
            self.state.max_timestamp = h.max_timestamp;
            self.state.offset_of_max_timestamp = last;
        }
        if self.state.bytes_since_last_index_entry > config.index_interval_bytes {
            if !self.offset_index.is_full(config.segment_index_bytes) {
                let position = u32::try_from(position).map_err(io::Error::other)?;
                self.offset_index.append(OffsetEntry {
                    relative_offset: self.relative(last)?,
                    position,
                })?;
            }
            self.maybe_append_time_entry(config)?;
            self.state.bytes_since_last_index_entry = 0;
        }
        self.state.bytes_since_last_index_entry += h.size() as u64;
        self.state.next_offset = last + 1;
        Ok(())
    }

    /// Kafka `TimeIndex.maybeAppend(maxTimestampSoFar, offsetOfMaxTimestampSoFar)`.
    fn maybe_append_time_entry(&mut self, config: &LogConfig) -> io::Result<()> {
        let last_ts = self.time_index.last().map_or(-1, |e| e.timestamp);
        if self.state.max_timestamp > last_ts
            && !self.time_index.is_full(config.segment_index_bytes)
        {
            let relative_offset = self.relative(self.state.offset_of_max_timestamp)?;
            self.time_index.append(TimeEntry {
                timestamp: self.state.max_timestamp,
                relative_offset,
            })?;
        }
        Ok(())
    }

    fn relative(&self, offset: i64) -> io::Result<i32> {
        i32::try_from(offset - self.base_offset).map_err(|_| {
            io::Error::other(format!(
                "offset {offset} is not relative to segment base {}",
                self.base_offset
            ))
        })
    }

    /// Append already validated and patched batches: `parts` are written back to back (one `pwritev`, so a batch
    /// whose header was patched in a copy need not be copied whole), and `batches` holds each batch's position
    /// within them and its header. All or nothing: on error the `.log`, indexes and state are put back as they
    /// were.
    pub(crate) fn append(
        &mut self,
        parts: &[&[u8]],
        batches: &[(usize, BatchHeader)],
        config: &LogConfig,
    ) -> Result<()> {
        let saved = self.state;
        let (offset_entries, time_entries) = (self.offset_index.len(), self.time_index.len());
        let start = self.state.size;
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let result = (|| -> io::Result<()> {
            self.log.write(|f| write_all_vectored_at(f, parts, start))?;
            for (pos, h) in batches {
                self.index_batch(start + *pos as u64, h, config)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => {
                self.state.size = start + len as u64;
                Ok(())
            }
            Err(e) => {
                self.state = saved;
                // Best effort: the error that matters is `e`; a later recovery repairs what these cannot.
                let _ = self.log.write(|f| f.set_len(start));
                let _ = self.offset_index.truncate(offset_entries);
                let _ = self.time_index.truncate(time_entries);
                Err(e.into())
            }
        }
    }

    /// Add the final time-index entry for the largest timestamp (when the segment becomes inactive or is closed).
    pub(crate) fn on_become_inactive(&mut self, config: &LogConfig) -> io::Result<()> {
        // The final entry is added even if the index is "full" (Kafka's `skipFullCheck`): one entry more.
        let unlimited = LogConfig {
            segment_index_bytes: u64::MAX,
            ..config.clone()
        };
        self.maybe_append_time_entry(&unlimited)
    }

    /// Whether the next append (of `len` bytes, offsets up to `last_offset`, largest timestamp `max_timestamp`)
    /// must go to a new segment (Kafka `LogSegment.shouldRoll` without jitter). An empty segment always accepts.
    pub(crate) fn should_roll(
        &self,
        len: u64,
        last_offset: i64,
        max_timestamp: i64,
        now_ms: i64,
        config: &LogConfig,
    ) -> bool {
        self.state.size > 0
            && (self.state.size.saturating_add(len) > config.roll_bytes()
                || self.time_waited_for_roll(now_ms, max_timestamp) > config.segment_ms
                || self.offset_index.is_full(config.segment_index_bytes)
                || self.time_index.is_full(config.segment_index_bytes)
                || last_offset - self.base_offset > i64::from(i32::MAX))
    }

    /// How many of `headers` (whole stored batches with increasing offsets, as a follower appends them) can be
    /// appended here one after the other before [`Segment::should_roll`], asked before each of them with that
    /// batch alone, would turn true. The first batch always counts: the caller asks `should_roll` for it (and rolls)
    /// first. Size, `segment.ms` and the relative offset range are followed exactly; each batch may add one entry to
    /// each index, so the count stops where an index could become full (the caller then asks `should_roll` on the
    /// real state). Lets a follower write many batches with one `pwritev` and still roll where a leader appending
    /// them one by one would have.
    pub(crate) fn batches_before_roll(
        &self,
        headers: &[BatchHeader],
        now_ms: i64,
        config: &LogConfig,
    ) -> usize {
        let Some(first) = headers.first() else {
            return 0;
        };
        // `Index::is_full`'s capacity: `segment.index.bytes / entry size`, at least one entry. (With 12-byte time
        // entries against 8-byte offset entries the time index bounds the run first; both are checked anyway.)
        let capacity = |entry_size: usize| {
            usize::try_from(config.segment_index_bytes / entry_size as u64)
                .unwrap_or(usize::MAX)
                .max(1)
        };
        let offset_room = capacity(OffsetEntry::SIZE).saturating_sub(self.offset_index.len());
        let time_room = capacity(TimeEntry::SIZE).saturating_sub(self.time_index.len());
        // The first batch written to an empty segment sets its rolling timestamp (`index_batch` at position 0).
        let rolling = if self.state.size == 0 {
            Some(first.max_timestamp)
        } else {
            self.state.rolling_timestamp
        };
        let mut size = self.state.size.saturating_add(first.size() as u64);
        let mut count = 1;
        for h in &headers[1..] {
            let waited = match rolling {
                Some(ts) if ts >= 0 => h.max_timestamp.saturating_sub(ts),
                _ => now_ms.saturating_sub(self.created_ms),
            };
            if size.saturating_add(h.size() as u64) > config.roll_bytes()
                || waited > config.segment_ms
                || count >= offset_room
                || count >= time_room
                || h.last_offset() - self.base_offset > i64::from(i32::MAX)
            {
                break;
            }
            size += h.size() as u64;
            count += 1;
        }
        count
    }

    /// Kafka `timeWaitedForRoll`: from the first batch's max timestamp if it has one, else from creation time.
    pub(crate) fn time_waited_for_roll(&self, now_ms: i64, message_timestamp: i64) -> i64 {
        match self.state.rolling_timestamp {
            Some(ts) if ts >= 0 => message_timestamp.saturating_sub(ts),
            _ => now_ms.saturating_sub(self.created_ms),
        }
    }

    /// Read 61 header bytes at `position`; `None` past the end of the segment, and for a batch that runs past it
    /// (Kafka's `FileLogInputStream` stops there too): every caller may then read the whole batch without
    /// allocating more than the file holds, even when an index entry or a damaged length points it astray.
    fn header_at(&self, position: u64) -> Result<Option<BatchHeader>> {
        if position + BatchHeader::SIZE as u64 > self.state.size {
            return Ok(None);
        }
        let mut buf = [0u8; BatchHeader::SIZE];
        self.log.get()?.read_exact_at(&mut buf, position)?;
        let header = BatchHeader::parse(&buf)?;
        if position + header.size() as u64 > self.state.size {
            return Ok(None);
        }
        Ok(Some(header))
    }

    /// Position and header of the batch containing `offset` (or the first batch after it), found via the offset
    /// index and a forward header scan; `None` if the segment has no batch ending at or after `offset`.
    pub fn find_batch(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>> {
        let mut pos = self
            .offset_index
            .lookup(offset)
            .map_or(0, |(_, p)| u64::from(p));
        while let Some(h) = self.header_at(pos)? {
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.size() as u64;
        }
        Ok(None)
    }

    /// Call `f` with the header of every batch from the one containing `offset` (or the first after it) to the end
    /// of the segment, reading sequentially in large chunks (producer-state rebuild needs only headers, plus the
    /// whole batch of control batches, passed as the second argument, to tell commit from abort).
    pub(crate) fn for_each_header_from(
        &self,
        offset: i64,
        mut f: impl FnMut(&BatchHeader, Option<&[u8]>),
    ) -> Result<()> {
        let Some((mut pos, _)) = self.find_batch(offset)? else {
            return Ok(());
        };
        let log = self.log.get()?;
        let mut reader = ChunkReader::new(&log, self.state.size);
        while let Some(head) = reader.get(pos, BatchHeader::SIZE)? {
            let h = BatchHeader::parse(head)?;
            if pos + h.size() as u64 > self.state.size {
                break;
            }
            if h.is_control() {
                match reader.get(pos, h.size())? {
                    Some(whole) => f(&h, Some(whole)),
                    None => break,
                }
            } else {
                f(&h, None);
            }
            pos += h.size() as u64;
        }
        Ok(())
    }

    /// Read `len` bytes at `position` of the `.log`.
    fn read_bytes(&self, position: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.log.get()?.read_exact_at(&mut buf, position)?;
        Ok(buf)
    }

    /// Whole stored batches from the one containing `offset`, at most `max_bytes` in total unless `min_one` and the
    /// first batch alone is larger. `None` if the segment holds nothing at or after `offset`. One read of the budget,
    /// then the batch headers are walked in memory (the copying path; [`Segment::read_range`] is the one that reads
    /// no records).
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Option<Bytes>> {
        let Some((pos, first)) = self.find_batch(offset)? else {
            return Ok(None);
        };
        let available = usize::try_from(self.state.size - pos).unwrap_or(usize::MAX);
        if first.size() > max_bytes.min(available) {
            if !min_one || first.size() > available {
                return Ok(Some(Bytes::new()));
            }
            return Ok(Some(Bytes::from(self.read_bytes(pos, first.size())?)));
        }
        let chunk = self.read_bytes(pos, max_bytes.min(available))?;
        let mut end = 0;
        for item in batch::iter_headers(&chunk) {
            let (at, h) = item?;
            end = at + h.size();
        }
        let mut bytes = Bytes::from(chunk);
        bytes.truncate(end);
        Ok(Some(bytes))
    }

    /// Where the whole batches that [`Segment::read`] would return lie in the `.log`, without reading them: from the
    /// batch containing `offset`, at most `max_bytes` (unless `min_one` and the first batch alone is larger), and
    /// only batches whose base offset is below `max_offset` (`i64::MAX`: no bound). `None` if the segment holds
    /// nothing at or after `offset`.
    ///
    /// Cost: the offset index finds the first batch and a batch near the end of the budget; only the batch headers
    /// in between those and the index entries that follow them are read (at most about two `index.interval.bytes`
    /// of headers), never the record data.
    pub fn read_range(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Result<Option<SegmentRange>> {
        let Some((pos, first)) = self.find_batch(offset)? else {
            return Ok(None);
        };
        let log = self.log.get()?;
        let empty = SegmentRange {
            slice: FileSlice::new(Arc::clone(&log), pos, 0),
            next_offset: None,
        };
        if first.base_offset >= max_offset {
            return Ok(Some(empty));
        }
        let size = |h: &BatchHeader| h.size() as u64;
        let available = self.state.size - pos;
        let budget = u64::try_from(max_bytes).unwrap_or(u64::MAX).min(available);
        if size(&first) > budget {
            if !min_one || size(&first) > available {
                return Ok(Some(empty));
            }
            return Ok(Some(SegmentRange {
                slice: FileSlice::new(Arc::clone(&log), pos, first.size()),
                next_offset: Some(first.next_offset()),
            }));
        }
        let mut limit = pos + budget;
        if max_offset != i64::MAX {
            // Batches from `max_offset` on stay out: cut at the first one.
            if let Some((at, h)) = self.find_batch(max_offset)? {
                limit = limit.min(if h.base_offset >= max_offset {
                    at
                } else {
                    at + size(&h)
                });
            }
        }
        // Walk headers from a batch known to fit: the first one, or a later indexed one that lies below `limit`.
        let mut reader = ChunkReader::with_chunk(&log, self.state.size, WALK_CHUNK);
        let (mut at, mut h) = (pos, first);
        if let Some(p) = self.offset_index.second_floor_position(limit) {
            if p > pos {
                if let Some(indexed) = header_in(&mut reader, p)? {
                    (at, h) = (p, indexed);
                }
            }
        }
        loop {
            let end = at + size(&h);
            match header_in(&mut reader, end)? {
                Some(n) if n.base_offset < max_offset && end + size(&n) <= limit => {
                    (at, h) = (end, n)
                }
                _ => {
                    let len = usize::try_from(end - pos).unwrap_or(usize::MAX);
                    return Ok(Some(SegmentRange {
                        slice: FileSlice::new(Arc::clone(&log), pos, len),
                        next_offset: Some(h.next_offset()),
                    }));
                }
            }
        }
    }

    /// The first record matching `wanted` in the batch at `position` with header `h`, streamed (a compressed
    /// batch may expand to at most `limit` bytes, [`batch::decompressed_limit`]).
    fn first_record_at(
        &self,
        position: u64,
        h: &BatchHeader,
        limit: usize,
        wanted: impl Fn(&batch::Record) -> bool,
    ) -> Result<Option<batch::Record>> {
        let data = self.read_bytes(position, h.size())?;
        let mut found = None;
        batch::visit_records(&data, limit, |r| {
            if wanted(&r) {
                found = Some(r);
                return std::ops::ControlFlow::Break(());
            }
            std::ops::ControlFlow::Continue(())
        })?;
        Ok(found)
    }

    /// First record with timestamp `>= ts` in this segment (Kafka `LogSegment.findOffsetByTimestamp`): the time
    /// index gives a starting offset, the offset index its position; batches are then scanned by header and only
    /// the first batch whose max timestamp reaches `ts` is decoded.
    /// A compressed batch may expand to at most `limit` bytes ([`batch::decompressed_limit`]).
    pub fn find_offset_by_timestamp(&self, ts: i64, limit: usize) -> Result<Option<(i64, i64)>> {
        let start_offset = self
            .time_index
            .lookup(ts)
            .map_or(self.base_offset, |(_, o)| o);
        let mut pos = self
            .offset_index
            .lookup(start_offset)
            .map_or(0, |(_, p)| u64::from(p));
        while let Some(h) = self.header_at(pos)? {
            if h.max_timestamp >= ts {
                if let Some(r) = self.first_record_at(pos, &h, limit, |r| r.timestamp >= ts)? {
                    return Ok(Some((r.offset, r.timestamp)));
                }
            }
            pos += h.size() as u64;
        }
        Ok(None)
    }

    /// The first record carrying this segment's largest timestamp, as (offset, timestamp); `None` if no batch has a
    /// timestamp.
    /// A compressed batch may expand to at most `limit` bytes ([`batch::decompressed_limit`]).
    pub fn max_timestamp_record(&self, limit: usize) -> Result<Option<(i64, i64)>> {
        let (ts, shallow) = (self.state.max_timestamp, self.state.offset_of_max_timestamp);
        if ts < 0 {
            return Ok(None);
        }
        if let Some((pos, h)) = self.find_batch(shallow)? {
            if let Some(r) = self.first_record_at(pos, &h, limit, |r| r.timestamp == ts)? {
                return Ok(Some((r.offset, r.timestamp)));
            }
        }
        Ok(Some((shallow, ts)))
    }

    /// Truncate so that no batch ends at or after `offset` (the batch containing `offset` is dropped whole).
    /// Returns the bytes removed.
    pub(crate) fn truncate_to(&mut self, offset: i64, config: &LogConfig) -> Result<u64> {
        let Some((pos, h)) = self.find_batch(offset)? else {
            // Nothing to drop, but the segment may be becoming the active one: load its append state.
            self.rescan_tail(config)?;
            return Ok(0);
        };
        let removed = self.state.size - pos;
        self.log.write(|f| f.set_len(pos))?;
        self.offset_index.truncate_to_position(pos)?;
        self.time_index.truncate_to_offset(h.base_offset)?;
        self.txn_index.truncate_to(h.base_offset)?;
        self.rescan_tail(config)?;
        Ok(removed)
    }

    /// Delete the segment's files (missing files are fine).
    pub(crate) fn delete_files(self) -> io::Result<()> {
        for path in [
            self.log_path.clone(),
            self.offset_index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
            self.txn_index.path().to_path_buf(),
        ] {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Files to fsync: `.log`, `.index` and `.timeindex` unless memory-only, and the `.txnindex` if it exists (opened
    /// at the fsync if the cache closed them meanwhile).
    pub(crate) fn files(&self) -> Vec<CachedFile> {
        let mut files = vec![self.log.clone()];
        files.extend(self.offset_index.file().cloned());
        files.extend(self.time_index.file().cloned());
        files.extend(self.txn_index.file().cloned());
        files
    }

    /// Whether an index write that finds the disk full keeps the index in memory instead of failing (on while the log
    /// opens).
    pub(crate) fn set_tolerate_full(&mut self, on: bool) {
        self.offset_index.set_tolerate_full(on);
        self.time_index.set_tolerate_full(on);
    }

    /// Set the next offset of an inactive segment opened without a scan (the following segment's base offset).
    pub(crate) fn set_next_offset(&mut self, next_offset: i64) {
        self.state.next_offset = next_offset;
    }

    /// Base offset (the offset in the file names).
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Size of the `.log` in bytes.
    pub fn size(&self) -> u64 {
        self.state.size
    }

    /// Offset following the last batch (exact for the active segment and segments rolled since opening; for
    /// inactive segments opened from disk, the next segment's base offset).
    pub fn next_offset(&self) -> i64 {
        self.state.next_offset
    }

    /// The first batch's max timestamp (Kafka `LogSegment.getFirstBatchTimestamp`), `-1` for an empty segment.
    pub fn first_batch_timestamp(&self) -> Result<i64> {
        Ok(self.header_at(0)?.map_or(-1, |h| h.max_timestamp))
    }

    /// The `.log` file handle (the log cleaner reads inactive segments through it without the log lock).
    pub(crate) fn log_file(&self) -> io::Result<Arc<File>> {
        self.log.get()
    }

    /// Largest batch max timestamp in the segment, `-1` if none.
    pub fn max_timestamp(&self) -> i64 {
        self.state.max_timestamp
    }

    /// Largest timestamp for retention (Kafka `LogSegment.largestTimestamp`): the max timestamp, or the `.log`'s
    /// modification time if no batch has a timestamp.
    pub fn largest_timestamp(&self) -> Result<i64> {
        if self.state.max_timestamp >= 0 {
            return Ok(self.state.max_timestamp);
        }
        let modified = self.log.get()?.metadata()?.modified()?;
        Ok(modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }

    /// The offset index.
    pub fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }

    /// The time index.
    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }

    /// The aborted transaction index.
    pub fn txn_index(&self) -> &TxnIndex {
        &self.txn_index
    }

    /// Record an aborted transaction whose ABORT marker this segment holds.
    pub(crate) fn append_aborted_txn(&mut self, entry: AbortedTxn) -> io::Result<()> {
        self.txn_index.append(entry)
    }

    /// Drop the transaction index entries of markers at or after `offset` (before re-adding them by a replay).
    pub(crate) fn truncate_txn_index(&mut self, offset: i64) -> io::Result<()> {
        self.txn_index.truncate_to(offset)
    }

    /// Path of the `.log` file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

/// Parse (and with `verify`, check) the batch at `pos`: `Ok(Ok(header))`, or `Ok(Err(why it is bad))`.
fn next_batch(
    reader: &mut ChunkReader<'_>,
    pos: u64,
    verify: bool,
) -> io::Result<Result<BatchHeader, BadBatch>> {
    let bad = |reason: String| Ok(Err(BadBatch { reason }));
    let remaining = reader.end - pos;
    let Some(head) = reader.get(pos, BatchHeader::SIZE)? else {
        return bad(format!("partial batch header ({remaining} bytes)"));
    };
    let h = match BatchHeader::parse(head) {
        Ok(h) => h,
        Err(StorageError::CorruptMessage(m)) => return bad(m),
        Err(e) => return bad(e.to_string()),
    };
    if h.size() as u64 > remaining {
        return bad(format!(
            "partial batch: {} bytes declared, {remaining} present",
            h.size()
        ));
    }
    if h.magic != MAGIC {
        return bad(format!("magic {}", h.magic));
    }
    if verify {
        let Some(whole) = reader.get(pos, h.size())? else {
            return bad("partial batch".into());
        };
        if !batch::crc_matches(whole, &h) {
            return bad(format!(
                "CRC mismatch at batch {}..={}",
                h.base_offset,
                h.last_offset()
            ));
        }
    }
    debug_assert!(h.size() >= LOG_OVERHEAD);
    Ok(Ok(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectored_write_covers_more_parts_than_one_call_takes() {
        // 3000 parts (more than IOV_MAX per pwritev), some empty, at a non-zero position.
        let dir = tempfile::tempdir().unwrap();
        let file = File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.path().join("v.log"))
            .unwrap();
        let owned: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| vec![(i % 251) as u8; (i % 7) as usize])
            .collect();
        let parts: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        write_all_vectored_at(&file, &parts, 5).unwrap();
        let want: Vec<u8> = owned.concat();
        let mut got = vec![0u8; want.len()];
        file.read_exact_at(&mut got, 5).unwrap();
        assert_eq!(got, want);
        assert_eq!(file.metadata().unwrap().len(), 5 + want.len() as u64);
    }
    use crate::batch::{build_batch, Compression, Record};

    #[test]
    fn names() {
        assert_eq!(file_name(42, LOG_SUFFIX), "00000000000000000042.log");
        assert_eq!(
            parse_file_name("00000000000000000042.log", LOG_SUFFIX),
            Some(42)
        );
        assert_eq!(parse_file_name("42.log", LOG_SUFFIX), None);
        assert_eq!(
            parse_file_name("00000000000000000042.index", LOG_SUFFIX),
            None
        );
    }

    fn batch_at(base: i64, n: i64, ts: i64) -> (Bytes, BatchHeader) {
        let recs: Vec<Record> = (0..n)
            .map(|i| Record {
                offset: 0,
                timestamp: ts + i,
                key: None,
                value: Some("x".repeat(100).into()),
                headers: vec![],
            })
            .collect();
        let b = build_batch(base, ts, &recs, Compression::None);
        let h = BatchHeader::parse(&b).unwrap();
        (b, h)
    }

    /// Fuzz finding (target `recovery`): a batch whose stored length runs past the end of the file
    /// (a damaged segment, or an index entry pointing inside a batch) made the timestamp lookup
    /// allocate the claimed length, up to 2 GiB. Now the scan stops there, as Kafka's
    /// `FileLogInputStream` does.
    #[test]
    fn a_batch_running_past_the_end_of_the_file_ends_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig::default();
        let mut seg = Segment::create(dir.path(), 0, 0).unwrap();
        let (b0, h0) = batch_at(0, 3, 1_000);
        seg.append(&[&b0], &[(0, h0)], &config).unwrap();
        let (b1, h1) = batch_at(3, 3, 2_000);
        seg.append(&[&b1], &[(0, h1)], &config).unwrap();
        // Damage the second batch's length (bytes 8..12 of its header) in place.
        let file = File::options().write(true).open(&seg.log_path).unwrap();
        file.write_all_at(&0x7fff_0000_i32.to_be_bytes(), b0.len() as u64 + 8)
            .unwrap();
        assert_eq!(seg.find_offset_by_timestamp(2_000, 1 << 20).unwrap(), None);
        assert_eq!(seg.find_batch(3).unwrap(), None);
        let (_, first) = seg.find_batch(0).unwrap().unwrap();
        assert_eq!(first, h0);
    }

    #[test]
    fn append_indexes_every_interval_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            index_interval_bytes: 500,
            ..LogConfig::default()
        };
        let mut seg = Segment::create(dir.path(), 10, 0).unwrap();
        let mut next = 10;
        for i in 0..20 {
            let (b, h) = batch_at(next, 3, 1_000 + i * 10);
            seg.append(&[&b], &[(0, h)], &config).unwrap();
            next = h.next_offset();
        }
        assert_eq!(seg.next_offset(), 70);
        assert!(
            seg.offset_index().len() >= 5,
            "{:?}",
            seg.offset_index().entries()
        );
        assert!(seg.time_index().len() >= 5);
        // Every offset finds its own batch.
        for o in 10..70 {
            let (_, h) = seg.find_batch(o).unwrap().unwrap();
            assert!(h.base_offset <= o && o <= h.last_offset());
        }
        assert!(seg.find_batch(70).unwrap().is_none());
        assert_eq!(
            seg.find_offset_by_timestamp(1_101, 1 << 20).unwrap(),
            Some((41, 1_101))
        );
        assert_eq!(
            seg.max_timestamp_record(1 << 20).unwrap(),
            Some((69, 1_192))
        );
        let all = seg.read(10, usize::MAX, false).unwrap().unwrap();
        assert_eq!(all.len() as u64, seg.size());
        let one = seg.read(12, 10, true).unwrap().unwrap();
        assert_eq!(BatchHeader::parse(&one).unwrap().size(), one.len());
        assert!(seg.read(12, 10, false).unwrap().unwrap().is_empty());
    }

    /// Kafka's `LogSegment.shouldRoll` measures `segment.ms` from the first batch's timestamp
    /// (`rollingBasedTimestamp`) to the new batch's: a far-future timestamp rolls at most once, and a segment
    /// started by one is not rolled by every later, ordinary append.
    #[test]
    fn a_far_future_timestamp_does_not_roll_every_later_append() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_ms: 60_000,
            ..LogConfig::default()
        };
        let now = 1_700_000_000_000;
        let future = now + 100 * 365 * 24 * 3_600_000;
        // Started by an ordinary batch: the far-future one rolls (once).
        let mut seg = Segment::create(dir.path(), 0, now).unwrap();
        let (b, h) = batch_at(0, 1, now);
        seg.append(&[&b], &[(0, h)], &config).unwrap();
        assert!(seg.should_roll(100, 1, future, now, &config));
        // Started by the far-future batch: ordinary batches after it never roll it by time.
        let mut seg = Segment::create(dir.path(), 1, now).unwrap();
        let (b, h) = batch_at(1, 1, future);
        seg.append(&[&b], &[(0, h)], &config).unwrap();
        for i in 0..100 {
            assert!(!seg.should_roll(100, 2 + i, now + i, now + i, &config));
        }
        assert!(!seg.should_roll(100, 200, future, now, &config));
    }
}
