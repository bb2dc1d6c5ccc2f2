//! The metadata log's storage: openraft's log store and state machine, in files of the data
//! directory.
//!
//! The controller quorum's Raft log is the cluster metadata: once a controller has told openraft
//! that an entry, a vote or a purge is durable, a crash must not take it back. openraft leaves
//! storage to the application ([`RaftLogStorage`], [`RaftStateMachine`]); this module is ours,
//! written for metadata-sized logs (small entries, bounded by purging after snapshots).
//!
//! # Files (all in the directory given to `open`, e.g. `<data>/__cluster_metadata-0`)
//!
//! | file             | contents                                                     | written by |
//! |------------------|--------------------------------------------------------------|------------|
//! | `raft.log`       | the log entries, one record each, in index order             | append, cut at the end by truncate, rewritten by purge |
//! | `raft.vote`      | one record: the last saved [`Vote`]                          | temp file + fsync + rename + dir fsync |
//! | `raft.committed` | one record: the last saved committed [`LogId`] (or `null`)   | same |
//! | `raft.purged`    | one record: the last purged [`LogId`]                        | same |
//! | `raft.snapshot`  | two records: the [`SnapshotMeta`], then the snapshot bytes   | same |
//!
//! A record is `u32 length (big-endian) | u32 CRC-32C of the payload (big-endian) | payload`,
//! and every payload is JSON (entries, votes and log ids through openraft's `serde` feature).
//! A crash while appending leaves a partial record at the end of `raft.log`: `open` keeps the
//! whole records before the first bad one, cuts the file there and says so in a warning. The
//! other files are replaced by rename, so they are never torn: any damage in them is reported as
//! [`io::ErrorKind::InvalidData`] naming the file, not repaired.
//!
//! # Durability
//!
//! `append` writes the entries and `fdatasync`s `raft.log` before it reports them flushed to
//! openraft; votes, committed ids and purge points are on disk before their call returns. Purged
//! entries disappear at once logically (the purge point is persisted first, and `open` skips
//! entries at or below it); the file is rewritten without them when they are more than half of
//! it. The state machine itself is kept in memory and persisted only as snapshots: on start,
//! openraft re-applies the committed entries after the snapshot (from `raft.committed` and the
//! log), which is why `save_committed` is implemented.
//!
//! All I/O is plain blocking `std::fs` inside the async trait methods: the files are small, the
//! calls come from openraft's own tasks, and no lock is held across an `.await` (there are none
//! in the storage paths).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Cursor, Read, Write};
use std::ops::{Bound, RangeBounds};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine};
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, LogState, Node, NodeId, OptionalSend,
    RaftLogReader, RaftSnapshotBuilder, RaftTypeConfig, Snapshot, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership, Vote,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// The log entries.
const LOG_FILE: &str = "raft.log";
/// The last saved vote.
const VOTE_FILE: &str = "raft.vote";
/// The last saved committed log id.
const COMMITTED_FILE: &str = "raft.committed";
/// The last purged log id.
const PURGED_FILE: &str = "raft.purged";
/// The current snapshot (meta, then data).
const SNAPSHOT_FILE: &str = "raft.snapshot";
/// Suffix of the file a replacement is written to before it is renamed over the real one.
const TMP_SUFFIX: &str = ".tmp";
/// Bytes before a record's payload: length and CRC-32C.
const RECORD_HEADER_LEN: usize = 8;

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// What the state machine holds: the replicated state, applied entry by entry.
///
/// It is kept in memory and written whole into every snapshot (as JSON), so it should stay the
/// size of cluster metadata.
pub trait StateMachineData<C: RaftTypeConfig>:
    Clone + Default + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// Apply one normal entry's payload at `log_id`; returns the client response.
    fn apply(&mut self, log_id: &LogId<C::NodeId>, data: &C::D) -> C::R;
}

/// The state machine as last applied, published after every apply batch and every installed
/// snapshot (a receiver starts with the state `open` restored from the snapshot file).
pub struct Applied<C: RaftTypeConfig, S> {
    /// The last entry the state includes; `None` before anything was applied.
    pub last_applied: Option<LogId<C::NodeId>>,
    /// The state itself. A published state never changes: the next apply works on a copy.
    pub state: Arc<S>,
}

impl<C: RaftTypeConfig, S> Clone for Applied<C, S> {
    fn clone(&self) -> Self {
        Self {
            last_applied: self.last_applied.clone(),
            state: Arc::clone(&self.state),
        }
    }
}

impl<C: RaftTypeConfig, S: fmt::Debug> fmt::Debug for Applied<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applied")
            .field("last_applied", &self.last_applied)
            .field("state", &self.state)
            .finish()
    }
}

/// openraft's log store for the metadata log: the entries, the vote and the committed/purged
/// pointers, in files of one directory.
///
/// Cloning is cheap and shares the store (it is the log reader openraft's replication tasks use).
/// Reads are served from memory and never wait for a disk write; writes are serialized.
pub struct LogStore<C: RaftTypeConfig> {
    /// Everything, shared with the clones.
    shared: Arc<LogShared<C>>,
}

/// openraft's state machine for the metadata log: the state `S` in memory, persisted as
/// snapshots in the directory.
pub struct StateMachineStore<C: RaftTypeConfig, S> {
    /// Everything, shared with the snapshot builders.
    shared: Arc<SmShared<C, S>>,
}

/// Builds a snapshot of a [`StateMachineStore`] (openraft runs it in a task of its own).
pub struct SnapshotBuilder<C: RaftTypeConfig, S> {
    /// The state machine it snapshots.
    shared: Arc<SmShared<C, S>>,
}

// ---------------------------------------------------------------------------------------------
// Records and small files
// ---------------------------------------------------------------------------------------------

/// Appends one record (header + `payload`) to `out`.
fn encode_record(payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&len| len > 0)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a record of {} bytes cannot be stored", payload.len()),
            )
        })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Serializes `value` as JSON and appends it to `out` as one record.
fn encode_json_record<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> io::Result<()> {
    let payload = serde_json::to_vec(value).map_err(io::Error::other)?;
    encode_record(&payload, out)
}

/// The record at the start of `buf`: its payload and length (header included), or why there is
/// no whole, valid record there.
fn decode_record(buf: &[u8]) -> Result<(&[u8], usize), &'static str> {
    let [l0, l1, l2, l3, c0, c1, c2, c3, rest @ ..] = buf else {
        return Err("partial record header");
    };
    let len = u32::from_be_bytes([*l0, *l1, *l2, *l3]) as usize;
    let crc = u32::from_be_bytes([*c0, *c1, *c2, *c3]);
    if len == 0 {
        // Never written: a zero-filled tail after a crash looks like this.
        return Err("zero-length record");
    }
    let Some(payload) = rest.get(..len) else {
        return Err("record cut short");
    };
    if crc32c::crc32c(payload) != crc {
        return Err("checksum mismatch");
    }
    Ok((payload, RECORD_HEADER_LEN + len))
}

/// An [`io::ErrorKind::InvalidData`] error naming `path`.
fn invalid_data(path: &Path, what: impl fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// Splits the whole of `buf` (the contents of `path`) into exactly `count` records.
fn decode_whole_file<'a>(path: &Path, buf: &'a [u8], count: usize) -> io::Result<Vec<&'a [u8]>> {
    let mut records = Vec::with_capacity(count);
    let mut at = 0;
    while at < buf.len() {
        let (payload, len) = decode_record(&buf[at..])
            .map_err(|why| invalid_data(path, format_args!("{why} at offset {at}")))?;
        records.push(payload);
        at += len;
    }
    if records.len() != count {
        return Err(invalid_data(
            path,
            format_args!("{} records, expected {count}", records.len()),
        ));
    }
    Ok(records)
}

/// Parses a JSON payload read from `path`.
fn parse_json<T: DeserializeOwned>(path: &Path, payload: &[u8]) -> io::Result<T> {
    serde_json::from_slice(payload).map_err(|e| invalid_data(path, e))
}

/// Reads `path` whole; `None` if it does not exist.
fn read_if_exists(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(buf) => Ok(Some(buf)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads a one-record file written by [`write_json_file`]; `None` if it does not exist.
fn read_json_file<T: DeserializeOwned>(dir: &Path, name: &str) -> io::Result<Option<T>> {
    let path = dir.join(name);
    let Some(buf) = read_if_exists(&path)? else {
        return Ok(None);
    };
    let records = decode_whole_file(&path, &buf, 1)?;
    parse_json(&path, records[0]).map(Some)
}

/// Replaces `dir/name` with one record holding `value`, atomically and durably.
fn write_json_file<T: Serialize + ?Sized>(dir: &Path, name: &str, value: &T) -> io::Result<()> {
    let mut buf = Vec::new();
    encode_json_record(value, &mut buf)?;
    write_atomic(dir, name, &buf)
}

/// Replaces `dir/name` with `contents`: written to a temporary file, fsynced, renamed over the
/// old one, and the directory fsynced so the rename itself is durable. A crash leaves either the
/// old file or the new one.
fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    {
        let mut file = File::create(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// fsyncs a directory, making the creations, renames and deletions in it durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` if missing (durably) and removes the temporary files of `names` that a crash
/// during [`write_atomic`] may have left.
fn prepare_dir(dir: &Path, names: &[&str]) -> io::Result<()> {
    if !dir.is_dir() {
        fs::create_dir_all(dir)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    for name in names {
        match fs::remove_file(dir.join(format!("{name}{TMP_SUFFIX}"))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Locks `mutex`; a lock poisoned by an earlier panic is an error, not a second panic.
fn lock<T>(mutex: &Mutex<T>) -> io::Result<MutexGuard<'_, T>> {
    mutex.lock().map_err(|_| poisoned())
}

/// Read-locks `lock`, like [`lock`].
fn read<T>(lock: &RwLock<T>) -> io::Result<RwLockReadGuard<'_, T>> {
    lock.read().map_err(|_| poisoned())
}

/// Write-locks `lock`, like [`lock`].
fn write<T>(lock: &RwLock<T>) -> io::Result<RwLockWriteGuard<'_, T>> {
    lock.write().map_err(|_| poisoned())
}

/// The error for a lock poisoned by a panic while it was held.
fn poisoned() -> io::Error {
    io::Error::other("metadata store state is unusable: a panic happened while it was locked")
}

// ---------------------------------------------------------------------------------------------
// Log store
// ---------------------------------------------------------------------------------------------

/// The state shared by a [`LogStore`] and its clones.
struct LogShared<C: RaftTypeConfig> {
    /// The directory of the files.
    dir: PathBuf,
    /// What readers see. Updated only while `io` is held, after the disk.
    mem: RwLock<LogMem<C>>,
    /// The files. Held for the whole of every write, so writes are serialized (openraft's
    /// contract) without ever blocking a reader on a fsync. Lock order: `io`, then `mem`.
    io: Mutex<LogIo<C>>,
}

/// The live log, in memory.
struct LogMem<C: RaftTypeConfig> {
    /// The entries after the purge point, by index.
    entries: BTreeMap<u64, Entry<C>>,
    /// The last purged log id (persisted in `raft.purged` before it is set here).
    last_purged: Option<LogId<C::NodeId>>,
}

/// `raft.log` and the small files, as last written.
struct LogIo<C: RaftTypeConfig> {
    /// Path of `raft.log`.
    path: PathBuf,
    /// `raft.log`, opened for reading and appending.
    file: File,
    /// Bytes of `raft.log` that hold whole records (where the next append goes).
    len: u64,
    /// Index → offset in `raft.log` of every record in the file, purged ones included until the
    /// file is rewritten (truncate cuts the file at these offsets).
    positions: BTreeMap<u64, u64>,
    /// The vote in `raft.vote`.
    vote: Option<Vote<C::NodeId>>,
    /// The committed log id in `raft.committed`.
    committed: Option<LogId<C::NodeId>>,
    /// Set when a write to `raft.log` failed half-way: the file may no longer match `len` and
    /// `positions`, so every later write is refused (openraft stops the node on a storage error;
    /// the next `open` recovers from the file).
    failed: Option<String>,
}

impl<C: RaftTypeConfig> LogIo<C> {
    /// Refuses to write after an earlier write failed half-way.
    fn check_usable(&self) -> io::Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(why) => Err(io::Error::other(format!(
                "{}: not written since an earlier write failed: {why}",
                self.path.display()
            ))),
        }
    }

    /// Runs `op` on the log file; if it fails, marks the store unusable for writes.
    fn guarded<T>(&mut self, op: impl FnOnce(&mut Self) -> io::Result<T>) -> io::Result<T> {
        self.check_usable()?;
        op(self).inspect_err(|e| self.failed = Some(e.to_string()))
    }

    /// Cuts `raft.log` before the record of `index` and every later one (no-op if there are
    /// none), durably.
    fn cut_from(&mut self, index: u64) -> io::Result<()> {
        let Some(&offset) = self.positions.range(index..).next().map(|(_, pos)| pos) else {
            return Ok(());
        };
        self.file.set_len(offset)?;
        self.file.sync_all()?;
        self.len = offset;
        self.positions.split_off(&index);
        Ok(())
    }

    /// Replaces `raft.log` with its bytes from `offset` on (the records after the purge point).
    fn rewrite_from(&mut self, dir: &Path, offset: u64) -> io::Result<()> {
        let kept_len = usize::try_from(self.len - offset).map_err(io::Error::other)?;
        let mut kept = vec![0; kept_len];
        self.file.read_exact_at(&mut kept, offset)?;
        write_atomic(dir, LOG_FILE, &kept)?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)?;
        self.len -= offset;
        self.positions = self
            .positions
            .iter()
            .filter(|&(_, &pos)| pos >= offset)
            .map(|(&index, &pos)| (index, pos - offset))
            .collect();
        Ok(())
    }
}

/// What `open` found in `raft.log`.
struct RecoveredLog<C: RaftTypeConfig> {
    /// The entries after the purge point.
    entries: BTreeMap<u64, Entry<C>>,
    /// Index → offset of every whole record.
    positions: BTreeMap<u64, u64>,
    /// Bytes of whole records; anything after is a torn or corrupt tail.
    valid_len: usize,
    /// Why the tail after `valid_len` is not a record, if there is one.
    tail_error: Option<&'static str>,
}

/// Reads the records of `raft.log` (contents `buf`), stopping at the first torn or corrupt one.
/// A whole record that does not parse, or an index not above the one before, is an error: that
/// is not a crash artefact, and cutting the log there could drop durable entries.
fn recover_log<C>(
    path: &Path,
    buf: &[u8],
    last_purged: Option<&LogId<C::NodeId>>,
) -> io::Result<RecoveredLog<C>>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
{
    let mut log = RecoveredLog {
        entries: BTreeMap::new(),
        positions: BTreeMap::new(),
        valid_len: 0,
        tail_error: None,
    };
    let mut at = 0;
    let mut previous: Option<u64> = None;
    while at < buf.len() {
        let (payload, len) = match decode_record(&buf[at..]) {
            Ok(record) => record,
            Err(why) => {
                log.tail_error = Some(why);
                break;
            }
        };
        let entry: Entry<C> = serde_json::from_slice(payload)
            .map_err(|e| invalid_data(path, format_args!("entry at offset {at}: {e}")))?;
        let index = entry.log_id.index;
        if let Some(previous) = previous {
            if index <= previous {
                return Err(invalid_data(
                    path,
                    format_args!("entry {index} at offset {at} follows entry {previous}"),
                ));
            }
            if index != previous + 1 {
                tracing::warn!(file = %path.display(), offset = at, index, previous, "metadata log has a gap");
            }
        }
        previous = Some(index);
        log.positions.insert(index, at as u64);
        if last_purged.is_none_or(|purged| index > purged.index) {
            log.entries.insert(index, entry);
        }
        at += len;
        log.valid_len = at;
    }
    Ok(log)
}

impl<C> LogStore<C>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
    C::D: Clone,
{
    /// Opens the log in `dir` (created if missing): reads the vote, committed and purged files
    /// and the entries of `raft.log`, cutting off a torn tail left by a crash during an append.
    ///
    /// A damaged vote, committed or purged file, or a whole log record that is not a valid entry,
    /// is an [`io::ErrorKind::InvalidData`] error naming the file.
    pub fn open(dir: &Path) -> io::Result<LogStore<C>> {
        prepare_dir(dir, &[LOG_FILE, VOTE_FILE, COMMITTED_FILE, PURGED_FILE])?;
        let vote = read_json_file::<Vote<C::NodeId>>(dir, VOTE_FILE)?;
        let committed = read_json_file::<Option<LogId<C::NodeId>>>(dir, COMMITTED_FILE)?.flatten();
        let last_purged = read_json_file::<LogId<C::NodeId>>(dir, PURGED_FILE)?;

        let path = dir.join(LOG_FILE);
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        if !existed {
            sync_dir(dir)?;
        }
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        let log = recover_log::<C>(&path, &buf, last_purged.as_ref())?;
        if let Some(why) = log.tail_error {
            tracing::warn!(
                file = %path.display(),
                offset = log.valid_len,
                discarded_bytes = buf.len() - log.valid_len,
                reason = why,
                "metadata log: torn or corrupt record, truncating the file there",
            );
            file.set_len(log.valid_len as u64)?;
            file.sync_all()?;
        }

        Ok(LogStore {
            shared: Arc::new(LogShared {
                dir: dir.to_path_buf(),
                mem: RwLock::new(LogMem {
                    entries: log.entries,
                    last_purged,
                }),
                io: Mutex::new(LogIo {
                    path,
                    file,
                    len: log.valid_len as u64,
                    positions: log.positions,
                    vote,
                    committed,
                    failed: None,
                }),
            }),
        })
    }

    /// Writes `entries` to `raft.log` and fsyncs it, then makes them readable. An entry at an
    /// index already in the log replaces it and everything after it.
    fn append_entries(&self, entries: Vec<Entry<C>>) -> io::Result<()> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let first_index = first.log_id.index;
        let mut encoded = Vec::new();
        let mut offsets = Vec::with_capacity(entries.len());
        let mut previous: Option<u64> = None;
        for entry in &entries {
            let index = entry.log_id.index;
            if previous.is_some_and(|previous| index <= previous) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("entries to append are out of order: {index} after {previous:?}"),
                ));
            }
            previous = Some(index);
            offsets.push((index, encoded.len() as u64));
            encode_json_record(entry, &mut encoded)?;
        }

        let mut io = lock(&self.shared.io)?;
        let overwrites = {
            let mem = read(&self.shared.mem)?;
            mem.entries.range(first_index..).next().is_some()
        };
        if overwrites || io.positions.range(first_index..).next().is_some() {
            io.guarded(|io| io.cut_from(first_index))?;
            write(&self.shared.mem)?.entries.split_off(&first_index);
        }
        io.guarded(|io| {
            io.file.write_all(&encoded)?;
            io.file.sync_data()?;
            let base = io.len;
            io.positions.extend(
                offsets
                    .iter()
                    .map(|&(index, offset)| (index, base + offset)),
            );
            io.len += encoded.len() as u64;
            Ok(())
        })?;
        write(&self.shared.mem)?
            .entries
            .extend(entries.into_iter().map(|entry| (entry.log_id.index, entry)));
        Ok(())
    }

    /// Deletes the entries at `index` and after, from the file and then from memory.
    fn truncate_from(&self, index: u64) -> io::Result<()> {
        let mut io = lock(&self.shared.io)?;
        io.guarded(|io| io.cut_from(index))?;
        write(&self.shared.mem)?.entries.split_off(&index);
        Ok(())
    }

    /// Forgets the entries up to `log_id` (inclusive): persists the purge point, drops them from
    /// memory, and rewrites `raft.log` without them when they are more than half of it.
    fn purge_upto(&self, log_id: LogId<C::NodeId>) -> io::Result<()> {
        let mut io = lock(&self.shared.io)?;
        io.check_usable()?;
        if read(&self.shared.mem)?.last_purged.as_ref() >= Some(&log_id) {
            return Ok(());
        }
        write_json_file(&self.shared.dir, PURGED_FILE, &log_id)?;
        let first_kept = log_id.index.checked_add(1);
        {
            let mut mem = write(&self.shared.mem)?;
            mem.entries = match first_kept {
                Some(first_kept) => mem.entries.split_off(&first_kept),
                None => BTreeMap::new(),
            };
            mem.last_purged = Some(log_id);
        }
        let purged_bytes = first_kept
            .and_then(|first_kept| io.positions.range(first_kept..).next())
            .map_or(io.len, |(_, &offset)| offset);
        if purged_bytes > 0 && purged_bytes > io.len / 2 {
            let dir = &self.shared.dir;
            io.guarded(|io| io.rewrite_from(dir, purged_bytes))?;
        }
        Ok(())
    }
}

impl<C: RaftTypeConfig> Clone for LogStore<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C: RaftTypeConfig> fmt::Debug for LogStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogStore")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

/// `range` as `[start, end)` bounds that `BTreeMap::range` accepts without panicking; `None` if
/// it is empty.
fn index_bounds(range: &impl RangeBounds<u64>) -> Option<(Bound<u64>, Bound<u64>)> {
    let start = match range.start_bound() {
        Bound::Included(&start) => start,
        Bound::Excluded(&start) => start.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&end) => end.checked_add(1),
        Bound::Excluded(&end) => Some(end),
        Bound::Unbounded => None,
    };
    match end {
        Some(end) if end <= start => None,
        Some(end) => Some((Bound::Included(start), Bound::Excluded(end))),
        None => Some((Bound::Included(start), Bound::Unbounded)),
    }
}

impl<C> RaftLogReader<C> for LogStore<C>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
    C::D: Clone,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + fmt::Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        let Some(bounds) = index_bounds(&range) else {
            return Ok(Vec::new());
        };
        let mem = read(&self.shared.mem).map_err(|e| StorageIOError::read_logs(&e))?;
        Ok(mem
            .entries
            .range(bounds)
            .map(|(_, entry)| entry.clone())
            .collect())
    }
}

impl<C> RaftLogStorage<C> for LogStore<C>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
    C::D: Clone,
{
    type LogReader = LogStore<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        let mem = read(&self.shared.mem).map_err(|e| StorageIOError::read_logs(&e))?;
        let last_purged_log_id = mem.last_purged.clone();
        let last_log_id = mem
            .entries
            .last_key_value()
            .map(|(_, entry)| entry.log_id.clone())
            .or_else(|| last_purged_log_id.clone());
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let result = lock(&self.shared.io).and_then(|mut io| {
            io.check_usable()?;
            write_json_file(&self.shared.dir, VOTE_FILE, vote)?;
            io.vote = Some(vote.clone());
            Ok(())
        });
        result.map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        let io = lock(&self.shared.io).map_err(|e| StorageIOError::read_vote(&e))?;
        Ok(io.vote.clone())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> Result<(), StorageError<C::NodeId>> {
        let result = lock(&self.shared.io).and_then(|mut io| {
            io.check_usable()?;
            write_json_file(&self.shared.dir, COMMITTED_FILE, &committed)?;
            io.committed = committed;
            Ok(())
        });
        result.map_err(|e| StorageIOError::write(&e).into())
    }

    async fn read_committed(
        &mut self,
    ) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        let io = lock(&self.shared.io).map_err(|e| StorageIOError::read(&e))?;
        Ok(io.committed.clone())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        match self.append_entries(entries.into_iter().collect()) {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(io::Error::new(e.kind(), e.to_string())));
                Err(StorageIOError::write_logs(&e).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.truncate_from(log_id.index).map_err(|e| {
            StorageIOError::new(ErrorSubject::Log(log_id), ErrorVerb::Delete, &e).into()
        })
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.purge_upto(log_id.clone()).map_err(|e| {
            StorageIOError::new(ErrorSubject::Log(log_id), ErrorVerb::Delete, &e).into()
        })
    }
}

// ---------------------------------------------------------------------------------------------
// State machine
// ---------------------------------------------------------------------------------------------

/// The state shared by a [`StateMachineStore`] and its snapshot builders.
struct SmShared<C: RaftTypeConfig, S> {
    /// The directory of `raft.snapshot`.
    dir: PathBuf,
    /// The state machine.
    state: Mutex<SmState<C, S>>,
    /// The current snapshot; also held while `raft.snapshot` is replaced, so snapshot writes are
    /// serialized and the file always matches it.
    snapshot: Mutex<Option<StoredSnapshot<C>>>,
    /// Makes snapshot ids unique (restored from the stored snapshot's id at `open`).
    snapshot_seq: AtomicU64,
    /// Publishes the state after every change.
    applied: watch::Sender<Applied<C, S>>,
}

/// The state machine proper.
struct SmState<C: RaftTypeConfig, S> {
    /// The last applied entry.
    last_applied: Option<LogId<C::NodeId>>,
    /// The last applied membership entry.
    last_membership: StoredMembership<C::NodeId, C::Node>,
    /// The application state (copied on write when a reader still holds it).
    data: Arc<S>,
}

impl<C: RaftTypeConfig, S> SmState<C, S> {
    /// What subscribers see of this state.
    fn applied(&self) -> Applied<C, S> {
        Applied {
            last_applied: self.last_applied.clone(),
            state: Arc::clone(&self.data),
        }
    }
}

/// A snapshot as kept in memory and in `raft.snapshot`.
struct StoredSnapshot<C: RaftTypeConfig> {
    /// Its meta.
    meta: SnapshotMeta<C::NodeId, C::Node>,
    /// Its bytes: a [`SnapshotBody`] as JSON.
    data: Vec<u8>,
}

/// The contents of a snapshot's data: the whole state machine. `T` is `&S` when writing and `S`
/// when reading.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: DeserializeOwned"))]
struct SnapshotBody<NID: NodeId, N: Node, T> {
    /// The last entry the snapshot includes.
    last_applied: Option<LogId<NID>>,
    /// The last membership the snapshot includes.
    last_membership: StoredMembership<NID, N>,
    /// The application state.
    state: T,
}

/// Parses snapshot data, checking that it agrees with its meta.
fn parse_snapshot<C: RaftTypeConfig, S: DeserializeOwned>(
    path: &Path,
    meta: &SnapshotMeta<C::NodeId, C::Node>,
    data: &[u8],
) -> io::Result<SnapshotBody<C::NodeId, C::Node, S>> {
    let body: SnapshotBody<C::NodeId, C::Node, S> = parse_json(path, data)?;
    if body.last_applied != meta.last_log_id || body.last_membership != meta.last_membership {
        return Err(invalid_data(
            path,
            format_args!("snapshot data does not match its meta {meta}"),
        ));
    }
    Ok(body)
}

/// Replaces `raft.snapshot` with `meta` and `data`.
fn write_snapshot_file<C: RaftTypeConfig>(
    dir: &Path,
    meta: &SnapshotMeta<C::NodeId, C::Node>,
    data: &[u8],
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(data.len() + 256);
    encode_json_record(meta, &mut buf)?;
    encode_record(data, &mut buf)?;
    write_atomic(dir, SNAPSHOT_FILE, &buf)
}

/// The sequence number at the end of a snapshot id made by [`SnapshotBuilder`].
fn snapshot_seq(snapshot_id: &str) -> Option<u64> {
    snapshot_id.rsplit('-').next()?.parse().ok()
}

impl<C, S> StateMachineStore<C, S>
where
    C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = Cursor<Vec<u8>>>,
    C::R: Default,
    S: StateMachineData<C>,
{
    /// Open (restoring the last snapshot from `dir` if any); the receiver sees every newly
    /// applied state.
    ///
    /// A damaged snapshot file is an [`io::ErrorKind::InvalidData`] error naming it.
    // The pair is spelled out rather than hidden behind an alias: it is the whole API.
    #[allow(clippy::type_complexity)]
    pub fn open(
        dir: &Path,
    ) -> io::Result<(StateMachineStore<C, S>, watch::Receiver<Applied<C, S>>)> {
        prepare_dir(dir, &[SNAPSHOT_FILE])?;
        let path = dir.join(SNAPSHOT_FILE);
        let (state, snapshot) = match read_if_exists(&path)? {
            None => (
                SmState {
                    last_applied: None,
                    last_membership: StoredMembership::default(),
                    data: Arc::new(S::default()),
                },
                None,
            ),
            Some(buf) => {
                let records = decode_whole_file(&path, &buf, 2)?;
                let meta: SnapshotMeta<C::NodeId, C::Node> = parse_json(&path, records[0])?;
                let body = parse_snapshot::<C, S>(&path, &meta, records[1])?;
                let data = records[1].to_vec();
                (
                    SmState {
                        last_applied: body.last_applied,
                        last_membership: body.last_membership,
                        data: Arc::new(body.state),
                    },
                    Some(StoredSnapshot { meta, data }),
                )
            }
        };
        let next_seq = snapshot
            .as_ref()
            .and_then(|s| snapshot_seq(&s.meta.snapshot_id))
            .map_or(0, |seq| seq.saturating_add(1));
        let (applied, rx) = watch::channel(state.applied());
        let store = StateMachineStore {
            shared: Arc::new(SmShared {
                dir: dir.to_path_buf(),
                state: Mutex::new(state),
                snapshot: Mutex::new(snapshot),
                snapshot_seq: AtomicU64::new(next_seq),
                applied,
            }),
        };
        Ok((store, rx))
    }
}

impl<C: RaftTypeConfig, S> fmt::Debug for StateMachineStore<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMachineStore")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

impl<C: RaftTypeConfig, S> fmt::Debug for SnapshotBuilder<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotBuilder")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

impl<C, S> RaftSnapshotBuilder<C> for SnapshotBuilder<C, S>
where
    C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = Cursor<Vec<u8>>>,
    C::R: Default,
    S: StateMachineData<C>,
{
    async fn build_snapshot(&mut self) -> Result<Snapshot<C>, StorageError<C::NodeId>> {
        let shared = &self.shared;
        let (last_applied, last_membership, state) = {
            let st = lock(&shared.state).map_err(|e| StorageIOError::read_state_machine(&e))?;
            (
                st.last_applied.clone(),
                st.last_membership.clone(),
                Arc::clone(&st.data),
            )
        };
        let body = SnapshotBody {
            last_applied: last_applied.clone(),
            last_membership: last_membership.clone(),
            state: &*state,
        };
        let data = serde_json::to_vec(&body).map_err(|e| StorageIOError::read_state_machine(&e))?;
        let seq = shared.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match &last_applied {
            Some(log_id) => format!("{}-{}-{seq}", log_id.leader_id.term, log_id.index),
            None => format!("0-0-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership,
            snapshot_id,
        };

        let mut current = lock(&shared.snapshot)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        // A snapshot installed meanwhile may be newer than this one: keep it.
        if current
            .as_ref()
            .is_none_or(|current| current.meta.last_log_id <= meta.last_log_id)
        {
            write_snapshot_file::<C>(&shared.dir, &meta, &data)
                .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
            *current = Some(StoredSnapshot {
                meta: meta.clone(),
                data: data.clone(),
            });
        }
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl<C, S> RaftStateMachine<C> for StateMachineStore<C, S>
where
    C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = Cursor<Vec<u8>>>,
    C::R: Default,
    S: StateMachineData<C>,
{
    type SnapshotBuilder = SnapshotBuilder<C, S>;

    async fn applied_state(
        &mut self,
    ) -> Result<
        (
            Option<LogId<C::NodeId>>,
            StoredMembership<C::NodeId, C::Node>,
        ),
        StorageError<C::NodeId>,
    > {
        let st = lock(&self.shared.state).map_err(|e| StorageIOError::read_state_machine(&e))?;
        Ok((st.last_applied.clone(), st.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<C::R>, StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut st =
            lock(&self.shared.state).map_err(|e| StorageIOError::write_state_machine(&e))?;
        let mut responses = Vec::new();
        for entry in entries {
            let response = match &entry.payload {
                EntryPayload::Blank => C::R::default(),
                EntryPayload::Normal(data) => {
                    Arc::make_mut(&mut st.data).apply(&entry.log_id, data)
                }
                EntryPayload::Membership(membership) => {
                    st.last_membership =
                        StoredMembership::new(Some(entry.log_id.clone()), membership.clone());
                    C::R::default()
                }
            };
            st.last_applied = Some(entry.log_id);
            responses.push(response);
        }
        if !responses.is_empty() {
            self.shared.applied.send_replace(st.applied());
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            shared: Arc::clone(&self.shared),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<C::SnapshotData>, StorageError<C::NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<C::NodeId, C::Node>,
        snapshot: Box<C::SnapshotData>,
    ) -> Result<(), StorageError<C::NodeId>> {
        let data = snapshot.into_inner();
        let path = self.shared.dir.join(SNAPSHOT_FILE);
        let body = parse_snapshot::<C, S>(&path, meta, &data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        {
            let mut current = lock(&self.shared.snapshot)
                .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
            write_snapshot_file::<C>(&self.shared.dir, meta, &data)
                .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
            *current = Some(StoredSnapshot {
                meta: meta.clone(),
                data,
            });
        }
        let mut st =
            lock(&self.shared.state).map_err(|e| StorageIOError::write_state_machine(&e))?;
        *st = SmState {
            last_applied: body.last_applied,
            last_membership: body.last_membership,
            data: Arc::new(body.state),
        };
        self.shared.applied.send_replace(st.applied());
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<C>>, StorageError<C::NodeId>> {
        let current =
            lock(&self.shared.snapshot).map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(current.as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(Cursor::new(s.data.clone())),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
    use openraft::network::RPCOption;
    use openraft::raft::{
        AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest,
        InstallSnapshotResponse, VoteRequest, VoteResponse,
    };
    use openraft::storage::RaftLogStorageExt;
    use openraft::testing::{StoreBuilder, Suite};
    use openraft::{
        BasicNode, CommittedLeaderId, Config, Membership, Raft, RaftNetwork, RaftNetworkFactory,
        ServerState,
    };
    use tempfile::TempDir;

    use super::*;

    /// The test application's command: set `key` to `value`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Put {
        key: String,
        value: u64,
    }

    /// The test application's response: the value `key` had before.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    struct PutResponse {
        previous: Option<u64>,
    }

    openraft::declare_raft_types!(
        /// The type configuration of the tests.
        TestConfig:
            D = Put,
            R = PutResponse,
            NodeId = u64,
            Node = BasicNode,
    );

    /// The test application's state: a key-value map, and the index of every applied `Put` (to
    /// see that each is applied once, in order).
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    struct Kv {
        map: BTreeMap<String, u64>,
        applied: Vec<u64>,
    }

    impl StateMachineData<TestConfig> for Kv {
        fn apply(&mut self, log_id: &LogId<u64>, data: &Put) -> PutResponse {
            self.applied.push(log_id.index);
            PutResponse {
                previous: self.map.insert(data.key.clone(), data.value),
            }
        }
    }

    type Log = LogStore<TestConfig>;
    type Sm = StateMachineStore<TestConfig, Kv>;
    type TestEntry = Entry<TestConfig>;

    fn log_id(term: u64, index: u64) -> LogId<u64> {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn put(term: u64, index: u64, key: &str, value: u64) -> TestEntry {
        Entry {
            log_id: log_id(term, index),
            payload: EntryPayload::Normal(Put {
                key: key.to_owned(),
                value,
            }),
        }
    }

    fn blank(term: u64, index: u64) -> TestEntry {
        Entry {
            log_id: log_id(term, index),
            payload: EntryPayload::Blank,
        }
    }

    fn membership(term: u64, index: u64, voters: &[u64]) -> TestEntry {
        let voters: BTreeSet<u64> = voters.iter().copied().collect();
        Entry {
            log_id: log_id(term, index),
            payload: EntryPayload::Membership(Membership::new(vec![voters], None)),
        }
    }

    /// `put(term, i, "k{i}", i)` for every `i` in `indexes`.
    fn puts(term: u64, indexes: std::ops::RangeInclusive<u64>) -> Vec<TestEntry> {
        indexes.map(|i| put(term, i, &format!("k{i}"), i)).collect()
    }

    async fn all_entries(log: &mut Log) -> Vec<TestEntry> {
        log.try_get_log_entries(..).await.unwrap()
    }

    fn log_len(dir: &TempDir) -> u64 {
        fs::metadata(dir.path().join(LOG_FILE)).unwrap().len()
    }

    // --- openraft's conformance suite -----------------------------------------------------------

    /// Fresh stores in a fresh directory for every test of the suite.
    struct Builder;

    impl StoreBuilder<TestConfig, Log, Sm, TempDir> for Builder {
        async fn build(&self) -> Result<(TempDir, Log, Sm), StorageError<u64>> {
            let dir = TempDir::new().map_err(|e| StorageIOError::write(&e))?;
            let log = Log::open(dir.path()).map_err(|e| StorageIOError::read_logs(&e))?;
            let (sm, _applied) =
                Sm::open(dir.path()).map_err(|e| StorageIOError::read_state_machine(&e))?;
            Ok((dir, log, sm))
        }
    }

    #[test]
    fn openraft_storage_suite() {
        Suite::test_all(Builder).unwrap();
    }

    // --- the record format ----------------------------------------------------------------------

    #[test]
    fn a_record_round_trips_and_damage_is_detected() {
        let mut buf = Vec::new();
        encode_record(b"hello", &mut buf).unwrap();
        assert_eq!(decode_record(&buf), Ok((&b"hello"[..], 13)));
        assert_eq!(decode_record(&buf[..12]), Err("record cut short"));
        assert_eq!(decode_record(&buf[..7]), Err("partial record header"));
        assert_eq!(decode_record(&[0; 16]), Err("zero-length record"));
        buf[10] ^= 1;
        assert_eq!(decode_record(&buf), Err("checksum mismatch"));
    }

    #[test]
    fn index_bounds_never_make_btreemap_range_panic() {
        assert_eq!(index_bounds(&(3..3)), None);
        let (three, five) = (3, 5);
        assert_eq!(index_bounds(&(five..three)), None);
        assert_eq!(index_bounds(&(five..=three)), None);
        assert_eq!(
            index_bounds(&(Bound::Excluded(three), Bound::Excluded(three))),
            None
        );
        assert_eq!(
            index_bounds(&(Bound::Excluded(u64::MAX), Bound::Unbounded)),
            None
        );
        assert_eq!(
            index_bounds(&(2..=4)),
            Some((Bound::Included(2), Bound::Excluded(5)))
        );
        assert_eq!(
            index_bounds(&(..)),
            Some((Bound::Included(0), Bound::Unbounded))
        );
        assert_eq!(
            index_bounds(&(0..=u64::MAX)),
            Some((Bound::Included(0), Bound::Unbounded))
        );
    }

    // --- the log store across restarts -----------------------------------------------------------

    #[tokio::test]
    async fn log_vote_and_committed_survive_a_restart() {
        let dir = TempDir::new().unwrap();
        let mut written = vec![membership(1, 1, &[1]), blank(1, 2), put(1, 3, "a", 1)];
        {
            let mut log = Log::open(dir.path()).unwrap();
            assert_eq!(log.read_vote().await.unwrap(), None);
            assert_eq!(log.read_committed().await.unwrap(), None);
            log.blocking_append(written.clone()).await.unwrap();
            log.blocking_append([put(2, 4, "b", 2)]).await.unwrap();
            log.save_vote(&Vote::new(2, 1)).await.unwrap();
            log.save_committed(Some(log_id(2, 4))).await.unwrap();
        }
        written.push(put(2, 4, "b", 2));

        let mut log = Log::open(dir.path()).unwrap();
        assert_eq!(
            log.get_log_state().await.unwrap(),
            LogState {
                last_purged_log_id: None,
                last_log_id: Some(log_id(2, 4)),
            }
        );
        assert_eq!(all_entries(&mut log).await, written);
        assert_eq!(
            log.try_get_log_entries(2..4).await.unwrap(),
            written[1..3].to_vec()
        );
        assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(2, 1)));
        assert_eq!(log.read_committed().await.unwrap(), Some(log_id(2, 4)));

        // A newer vote replaces the old one; a reader clone sees the same log.
        log.save_vote(&Vote::new(3, 2)).await.unwrap();
        let mut reader = log.get_log_reader().await;
        assert_eq!(all_entries(&mut reader).await, written);
        drop((log, reader));
        let mut log = Log::open(dir.path()).unwrap();
        assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(3, 2)));
        // No temporary file is left behind.
        let names: BTreeSet<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let expected: BTreeSet<String> = [LOG_FILE, VOTE_FILE, COMMITTED_FILE]
            .map(String::from)
            .into();
        assert_eq!(names, expected);
    }

    #[tokio::test]
    async fn purge_survives_a_restart_and_rewrites_the_file_when_mostly_purged() {
        let dir = TempDir::new().unwrap();
        {
            let mut log = Log::open(dir.path()).unwrap();
            for entry in puts(1, 1..=10) {
                log.blocking_append([entry]).await.unwrap();
            }
            let full = log_len(&dir);
            // 3 of 10 records: only logical.
            log.purge(log_id(1, 3)).await.unwrap();
            assert_eq!(
                log_len(&dir),
                full,
                "a small purge does not rewrite the file"
            );
            assert_eq!(all_entries(&mut log).await, puts(1, 4..=10));
        }
        let mut log = Log::open(dir.path()).unwrap();
        assert_eq!(
            log.get_log_state().await.unwrap(),
            LogState {
                last_purged_log_id: Some(log_id(1, 3)),
                last_log_id: Some(log_id(1, 10)),
            }
        );
        assert_eq!(all_entries(&mut log).await, puts(1, 4..=10));
        assert_eq!(log.try_get_log_entries(1..4).await.unwrap(), vec![]);

        // 7 of 10 records: the file is rewritten with the last 3 only.
        let full = log_len(&dir);
        log.purge(log_id(1, 7)).await.unwrap();
        assert!(log_len(&dir) < full / 2, "{} of {full}", log_len(&dir));
        // Purging to an older point changes nothing.
        log.purge(log_id(1, 5)).await.unwrap();
        log.blocking_append([put(2, 11, "k11", 11)]).await.unwrap();
        drop(log);
        let mut log = Log::open(dir.path()).unwrap();
        let mut expected = puts(1, 8..=10);
        expected.push(put(2, 11, "k11", 11));
        assert_eq!(all_entries(&mut log).await, expected);
        assert_eq!(
            log.get_log_state().await.unwrap().last_purged_log_id,
            Some(log_id(1, 7))
        );

        // Past the last entry (as after installing a snapshot): the log is empty and continues
        // after the purge point.
        log.purge(log_id(3, 20)).await.unwrap();
        assert_eq!(all_entries(&mut log).await, vec![]);
        assert_eq!(log_len(&dir), 0);
        drop(log);
        let mut log = Log::open(dir.path()).unwrap();
        assert_eq!(
            log.get_log_state().await.unwrap(),
            LogState {
                last_purged_log_id: Some(log_id(3, 20)),
                last_log_id: Some(log_id(3, 20)),
            }
        );
        log.blocking_append([put(3, 21, "x", 1)]).await.unwrap();
        drop(log);
        let mut log = Log::open(dir.path()).unwrap();
        assert_eq!(all_entries(&mut log).await, vec![put(3, 21, "x", 1)]);
    }

    #[tokio::test]
    async fn truncate_and_overwrite_survive_a_restart() {
        let dir = TempDir::new().unwrap();
        {
            let mut log = Log::open(dir.path()).unwrap();
            log.blocking_append(puts(1, 1..=6)).await.unwrap();
            log.truncate(log_id(1, 4)).await.unwrap();
            assert_eq!(all_entries(&mut log).await, puts(1, 1..=3));
        }
        let mut log = Log::open(dir.path()).unwrap();
        assert_eq!(all_entries(&mut log).await, puts(1, 1..=3));
        assert_eq!(
            log.get_log_state().await.unwrap().last_log_id,
            Some(log_id(1, 3))
        );
        log.blocking_append([put(2, 4, "new", 4), put(2, 5, "new", 5)])
            .await
            .unwrap();
        // An append at an index already present replaces it and everything after it.
        log.blocking_append([put(3, 4, "newer", 4)]).await.unwrap();
        let mut expected = puts(1, 1..=3);
        expected.push(put(3, 4, "newer", 4));
        assert_eq!(all_entries(&mut log).await, expected);
        drop(log);
        let mut log = Log::open(dir.path()).unwrap();
        assert_eq!(all_entries(&mut log).await, expected);

        // Truncating everything leaves an empty log.
        log.truncate(log_id(1, 1)).await.unwrap();
        drop(log);
        let mut log = Log::open(dir.path()).unwrap();
        assert_eq!(all_entries(&mut log).await, vec![]);
        assert_eq!(log.get_log_state().await.unwrap(), LogState::default());
        assert_eq!(log_len(&dir), 0);
    }

    #[tokio::test]
    async fn a_torn_tail_is_cut_and_whole_records_kept() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join(LOG_FILE);
        {
            let mut log = Log::open(dir.path()).unwrap();
            for entry in puts(1, 1..=5) {
                log.blocking_append([entry]).await.unwrap();
            }
        }
        let whole = log_len(&dir);

        // Garbage after the last record (a header promising more bytes than there are).
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[0, 0, 0, 50, 1, 2, 3]).unwrap();
        drop(file);
        let mut log = Log::open(dir.path()).unwrap();
        assert_eq!(all_entries(&mut log).await, puts(1, 1..=5));
        assert_eq!(log_len(&dir), whole, "the garbage is cut off");
        log.blocking_append([put(1, 6, "k6", 6)]).await.unwrap();
        drop(log);
        let mut log = Log::open(dir.path()).unwrap();
        assert_eq!(all_entries(&mut log).await, puts(1, 1..=6));
        drop(log);

        // The last record cut in the middle.
        let with_six = log_len(&dir);
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(with_six - 3)
            .unwrap();
        let mut log = Log::open(dir.path()).unwrap();
        assert_eq!(all_entries(&mut log).await, puts(1, 1..=5));
        assert_eq!(log_len(&dir), whole);
        log.blocking_append([put(1, 6, "k6", 6)]).await.unwrap();
        drop(log);

        // A flipped bit in the last record's payload.
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let mut log = Log::open(dir.path()).unwrap();
        assert_eq!(all_entries(&mut log).await, puts(1, 1..=5));

        // Zeros after the last record (what some file systems show after a crash).
        drop(log);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[0; 4096]).unwrap();
        drop(file);
        let mut log = Log::open(dir.path()).unwrap();
        assert_eq!(all_entries(&mut log).await, puts(1, 1..=5));
        assert_eq!(log_len(&dir), whole);
    }

    #[tokio::test]
    async fn damage_that_is_not_a_torn_tail_is_an_error() {
        // A whole, checksummed record that is not an entry: refuse rather than drop the log.
        let dir = TempDir::new().unwrap();
        {
            let mut log = Log::open(dir.path()).unwrap();
            log.blocking_append(puts(1, 1..=2)).await.unwrap();
        }
        let mut record = Vec::new();
        encode_record(b"{\"not\": \"an entry\"}", &mut record).unwrap();
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(LOG_FILE))
            .unwrap();
        file.write_all(&record).unwrap();
        drop(file);
        let err = Log::open(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains(LOG_FILE), "{err}");

        // A corrupt vote, committed or purged file.
        for name in [VOTE_FILE, COMMITTED_FILE, PURGED_FILE] {
            let dir = TempDir::new().unwrap();
            drop(Log::open(dir.path()).unwrap());
            fs::write(dir.path().join(name), b"\x00\x00\x00\x05garbage").unwrap();
            let err = Log::open(dir.path()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{name}");
            assert!(err.to_string().contains(name), "{err}");
        }

        // A corrupt snapshot file.
        let dir = TempDir::new().unwrap();
        {
            let (mut sm, _rx) = Sm::open(dir.path()).unwrap();
            sm.apply([put(1, 1, "a", 1)]).await.unwrap();
            sm.get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .unwrap();
        }
        let path = dir.path().join(SNAPSHOT_FILE);
        let mut bytes = fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let err = Sm::open(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains(SNAPSHOT_FILE), "{err}");
    }

    // --- the state machine and snapshots --------------------------------------------------------

    #[tokio::test]
    async fn apply_responds_per_entry_and_publishes_once_per_batch() {
        let dir = TempDir::new().unwrap();
        let (mut sm, mut rx) = Sm::open(dir.path()).unwrap();
        assert_eq!(rx.borrow_and_update().last_applied, None);

        let responses = sm
            .apply([
                membership(1, 1, &[1]),
                blank(1, 2),
                put(1, 3, "a", 1),
                put(1, 4, "a", 2),
            ])
            .await
            .unwrap();
        assert_eq!(
            responses,
            vec![
                PutResponse::default(),
                PutResponse::default(),
                PutResponse { previous: None },
                PutResponse { previous: Some(1) },
            ]
        );
        assert!(rx.has_changed().unwrap());
        let applied = rx.borrow_and_update().clone();
        assert_eq!(applied.last_applied, Some(log_id(1, 4)));
        assert_eq!(applied.state.map, BTreeMap::from([("a".to_owned(), 2)]));
        assert_eq!(applied.state.applied, vec![3, 4]);

        let (last_applied, stored) = sm.applied_state().await.unwrap();
        assert_eq!(last_applied, Some(log_id(1, 4)));
        assert_eq!(stored.log_id(), &Some(log_id(1, 1)));

        // The published state is not changed under a reader by later applies.
        sm.apply([put(1, 5, "b", 3)]).await.unwrap();
        assert_eq!(applied.state.map.len(), 1);
        assert_eq!(rx.borrow().state.map.len(), 2);
    }

    #[tokio::test]
    async fn a_snapshot_survives_a_restart() {
        let dir = TempDir::new().unwrap();
        let (first, built) = {
            let (mut sm, _rx) = Sm::open(dir.path()).unwrap();
            assert!(sm.get_current_snapshot().await.unwrap().is_none());
            sm.apply([membership(1, 1, &[1]), put(1, 2, "a", 1), put(1, 3, "b", 2)])
                .await
                .unwrap();
            let built = sm
                .get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .unwrap();
            assert_eq!(built.meta.last_log_id, Some(log_id(1, 3)));
            assert_eq!(built.meta.last_membership.log_id(), &Some(log_id(1, 1)));
            // Applied after the snapshot: gone after a restart (openraft re-applies it).
            sm.apply([put(1, 4, "c", 3)]).await.unwrap();
            let current = sm.get_current_snapshot().await.unwrap().unwrap();
            assert_eq!(current.meta, built.meta);
            (current, built)
        };

        let (mut sm, rx) = Sm::open(dir.path()).unwrap();
        let restored = rx.borrow().clone();
        assert_eq!(restored.last_applied, Some(log_id(1, 3)));
        assert_eq!(
            restored.state.map,
            BTreeMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)])
        );
        assert_eq!(restored.state.applied, vec![2, 3]);
        let (last_applied, stored) = sm.applied_state().await.unwrap();
        assert_eq!(last_applied, Some(log_id(1, 3)));
        assert_eq!(stored, built.meta.last_membership);
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, first.meta);
        assert_eq!(current.snapshot.get_ref(), first.snapshot.get_ref());

        // The next snapshot of the same state still gets a new id.
        let again = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        assert_eq!(again.meta.last_log_id, built.meta.last_log_id);
        assert_ne!(again.meta.snapshot_id, built.meta.snapshot_id);
    }

    #[tokio::test]
    async fn install_a_snapshot_built_by_another_store() {
        let leader_dir = TempDir::new().unwrap();
        let (mut leader, _leader_rx) = Sm::open(leader_dir.path()).unwrap();
        leader
            .apply([
                membership(1, 1, &[1, 2, 3]),
                put(1, 2, "a", 1),
                put(2, 3, "b", 2),
            ])
            .await
            .unwrap();
        let snapshot = leader
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();

        let dir = TempDir::new().unwrap();
        let (mut sm, mut rx) = Sm::open(dir.path()).unwrap();
        sm.apply([put(1, 1, "stale", 9)]).await.unwrap();
        rx.borrow_and_update();

        // Snapshot bytes that do not match the meta are refused, and change nothing.
        let mut wrong_meta = snapshot.meta.clone();
        wrong_meta.last_log_id = Some(log_id(2, 9));
        let mut received = sm.begin_receiving_snapshot().await.unwrap();
        assert!(received.get_ref().is_empty());
        received
            .get_mut()
            .extend_from_slice(snapshot.snapshot.get_ref());
        assert!(sm.install_snapshot(&wrong_meta, received).await.is_err());
        assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 1)));
        assert!(sm.get_current_snapshot().await.unwrap().is_none());

        let mut received = sm.begin_receiving_snapshot().await.unwrap();
        *received = *snapshot.snapshot.clone();
        sm.install_snapshot(&snapshot.meta, received).await.unwrap();

        let expected = BTreeMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)]);
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow().last_applied, Some(log_id(2, 3)));
        assert_eq!(rx.borrow().state.map, expected);
        assert_eq!(
            sm.applied_state().await.unwrap(),
            (Some(log_id(2, 3)), snapshot.meta.last_membership.clone())
        );
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, snapshot.meta);
        // Applying continues from the snapshot.
        let responses = sm.apply([put(2, 4, "a", 5)]).await.unwrap();
        assert_eq!(responses, vec![PutResponse { previous: Some(1) }]);
        drop((sm, rx));

        // The installed snapshot was persisted.
        let (_sm, rx) = Sm::open(dir.path()).unwrap();
        assert_eq!(rx.borrow().last_applied, Some(log_id(2, 3)));
        assert_eq!(rx.borrow().state.map, expected);
    }

    // --- a real one-voter Raft --------------------------------------------------------------

    /// A network with no peers: a one-voter cluster never calls it, and if it did the peer would
    /// be unreachable.
    struct NoNetwork;

    /// The client of [`NoNetwork`].
    struct NoPeer;

    impl RaftNetworkFactory<TestConfig> for NoNetwork {
        type Network = NoPeer;

        async fn new_client(&mut self, _target: u64, _node: &BasicNode) -> NoPeer {
            NoPeer
        }
    }

    fn unreachable<E: std::error::Error>() -> RPCError<u64, BasicNode, E> {
        RPCError::Unreachable(Unreachable::new(&io::Error::other(
            "a one-voter test cluster has no peers",
        )))
    }

    impl RaftNetwork<TestConfig> for NoPeer {
        async fn append_entries(
            &mut self,
            _rpc: AppendEntriesRequest<TestConfig>,
            _option: RPCOption,
        ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
            Err(unreachable())
        }

        async fn install_snapshot(
            &mut self,
            _rpc: InstallSnapshotRequest<TestConfig>,
            _option: RPCOption,
        ) -> Result<
            InstallSnapshotResponse<u64>,
            RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
        > {
            Err(unreachable())
        }

        async fn vote(
            &mut self,
            _rpc: VoteRequest<u64>,
            _option: RPCOption,
        ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
            Err(unreachable())
        }
    }

    const WAIT: Duration = Duration::from_secs(10);

    /// Waits until the published state satisfies `check`.
    async fn wait_applied(
        rx: &mut watch::Receiver<Applied<TestConfig, Kv>>,
        check: impl FnMut(&Applied<TestConfig, Kv>) -> bool,
    ) -> Applied<TestConfig, Kv> {
        tokio::time::timeout(WAIT, rx.wait_for(check))
            .await
            .expect("timed out waiting for the state machine")
            .expect("state machine dropped")
            .clone()
    }

    async fn write(raft: &Raft<TestConfig>, key: &str, value: u64) -> PutResponse {
        let put = Put {
            key: key.to_owned(),
            value,
        };
        raft.client_write(put).await.unwrap().data
    }

    #[tokio::test]
    async fn a_one_voter_raft_restarts_with_its_state() {
        let dir = TempDir::new().unwrap();
        let config = Arc::new(
            Config {
                cluster_name: "store-test".to_owned(),
                heartbeat_interval: 50,
                election_timeout_min: 150,
                election_timeout_max: 300,
                // Purge everything a snapshot covers, so the restart needs snapshot + log.
                max_in_snapshot_log_to_keep: 0,
                ..Default::default()
            }
            .validate()
            .unwrap(),
        );

        // First life: initialize, write, snapshot (purging the log), write once more.
        let log = Log::open(dir.path()).unwrap();
        let (sm, mut rx) = Sm::open(dir.path()).unwrap();
        let raft = Raft::new(1, Arc::clone(&config), NoNetwork, log, sm)
            .await
            .unwrap();
        raft.initialize(BTreeMap::from([(1, BasicNode::new("127.0.0.1:0"))]))
            .await
            .unwrap();
        raft.wait(Some(WAIT))
            .state(ServerState::Leader, "leader")
            .await
            .unwrap();
        assert_eq!(write(&raft, "a", 1).await, PutResponse { previous: None });
        assert_eq!(write(&raft, "b", 2).await, PutResponse { previous: None });
        assert_eq!(
            write(&raft, "a", 3).await,
            PutResponse { previous: Some(1) }
        );
        let applied = wait_applied(&mut rx, |a| a.state.applied.len() == 3).await;
        assert_eq!(
            applied.state.map,
            BTreeMap::from([("a".to_owned(), 3), ("b".to_owned(), 2)])
        );

        raft.trigger().snapshot().await.unwrap();
        let metrics = raft
            .wait(Some(WAIT))
            .metrics(
                |m| m.snapshot.is_some() && m.purged == m.snapshot,
                "snapshot built and log purged",
            )
            .await
            .unwrap();
        let snapshot_id = metrics.snapshot.unwrap();
        assert_eq!(Some(snapshot_id), applied.last_applied);

        assert_eq!(write(&raft, "c", 4).await, PutResponse { previous: None });
        let before = wait_applied(&mut rx, |a| a.state.map.contains_key("c")).await;
        raft.shutdown().await.unwrap();
        drop(raft);

        // On disk: the purge point, the vote, the committed id and the entry after the snapshot.
        {
            let mut log = Log::open(dir.path()).unwrap();
            let state = log.get_log_state().await.unwrap();
            assert_eq!(state.last_purged_log_id, Some(snapshot_id));
            assert_eq!(state.last_log_id, before.last_applied);
            assert!(log.read_vote().await.unwrap().is_some());
            assert_eq!(log.read_committed().await.unwrap(), before.last_applied);
            let entries = all_entries(&mut log).await;
            assert_eq!(entries.len(), 1);
            assert_eq!(
                entries[0].payload,
                EntryPayload::Normal(Put {
                    key: "c".to_owned(),
                    value: 4
                })
            );
        }

        // Second life: the snapshot is loaded at open, openraft re-applies the rest.
        let log = Log::open(dir.path()).unwrap();
        let (sm, mut rx) = Sm::open(dir.path()).unwrap();
        assert_eq!(rx.borrow().last_applied, Some(snapshot_id));
        assert!(!rx.borrow().state.map.contains_key("c"));
        let raft = Raft::new(1, config, NoNetwork, log, sm).await.unwrap();
        let restored = wait_applied(&mut rx, |a| a.last_applied >= before.last_applied).await;
        assert_eq!(restored.last_applied, before.last_applied);
        assert_eq!(*restored.state, *before.state);

        raft.wait(Some(WAIT))
            .state(ServerState::Leader, "leader again")
            .await
            .unwrap();
        assert_eq!(
            write(&raft, "a", 5).await,
            PutResponse { previous: Some(3) }
        );
        let after = wait_applied(&mut rx, |a| a.state.map.get("a") == Some(&5)).await;
        assert_eq!(after.state.applied.len(), 5);
        raft.shutdown().await.unwrap();
    }
}
