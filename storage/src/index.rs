//! Sparse offset index (`.index`) and time index (`.timeindex`), byte-compatible with Kafka's `OffsetIndex` and
//! `TimeIndex`.
//!
//! * Offset index entry (8 bytes): relative offset `i32` + file position `u32`, big-endian. An entry `(o, p)` says
//!   the batch starting at position `p` of the `.log` ends at offset `base + o`; entries are strictly increasing in
//!   both fields.
//! * Time index entry (12 bytes): timestamp `i64` + relative offset `i32`. An entry `(t, o)` says the largest
//!   timestamp among the batches up to the one ending at `base + o` is `t`, first reached in that batch; timestamps
//!   strictly increase, offsets never decrease.
//!
//! Unlike Kafka the files are not preallocated or memory-mapped: entries live in a `Vec` and are appended to the
//! file with positional writes, so a file's length is always exactly `entries × entry size` (what Kafka leaves after
//! trimming on close). There is no checksum: a damaged index is detected when the index is opened and rebuilt from the log
//! by the segment.
//!
//! The file itself is reached through the bounded cache of open files ([`crate::open_files`]): lookups need no
//! descriptor (the entries are in memory); writes open the file if the cache had closed it.
//!
//! A full disk while a log is opened (Kafka's promise: starting with a full disk works, serving reads until space
//! frees): an index being rebuilt with [`Index::set_tolerate_full`] on, whose write fails with ENOSPC or EDQUOT,
//! removes its file and keeps its entries in memory only from then on ([`Index::is_memory_only`]), so the segment
//! still serves reads. The missing file makes the next open rebuild the index from the log. Once the log is open
//! the tolerance is off again: a failed index write is an I/O error like any other.
//!
//! Thread-safety: lookups take `&self`; mutation takes `&mut self`. Durability: writes go to the page cache;
//! the log hands the index files to a [`crate::SyncJob`] for `fdatasync`.

use crate::log::is_disk_full;
use crate::open_files::CachedFile;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One fixed-size index entry.
pub trait IndexEntry: Copy + fmt::Debug + PartialEq + Eq + Send + Sync + 'static {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Decode from exactly `SIZE` bytes.
    fn decode(b: &[u8]) -> Self;
    /// Append the `SIZE`-byte encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Offset relative to the segment's base offset.
    fn relative_offset(&self) -> i32;
    /// Whether `self` may follow `prev` in a well-formed index.
    fn follows(&self, prev: &Self) -> bool;
}

/// An `.index` entry: the batch at `position` ends at `base_offset + relative_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    /// Last offset of the indexed batch, relative to the segment base offset.
    pub relative_offset: i32,
    /// Byte position of the indexed batch in the `.log`.
    pub position: u32,
}

/// A `.timeindex` entry: `timestamp` is the largest timestamp up to the batch ending at `base + relative_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    /// Largest batch max timestamp so far.
    pub timestamp: i64,
    /// Last offset of the batch that first reached `timestamp`, relative to the segment base offset.
    pub relative_offset: i32,
}

fn be4(b: &[u8]) -> [u8; 4] {
    [b[0], b[1], b[2], b[3]]
}

impl IndexEntry for OffsetEntry {
    const SIZE: usize = 8;
    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: i32::from_be_bytes(be4(b)),
            position: u32::from_be_bytes(be4(&b[4..])),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
    fn relative_offset(&self) -> i32 {
        self.relative_offset
    }
    fn follows(&self, prev: &Self) -> bool {
        self.relative_offset > prev.relative_offset && self.position > prev.position
    }
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = 12;
    fn decode(b: &[u8]) -> Self {
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[..8]);
        TimeEntry {
            timestamp: i64::from_be_bytes(t),
            relative_offset: i32::from_be_bytes(be4(&b[8..])),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
    }
    fn relative_offset(&self) -> i32 {
        self.relative_offset
    }
    fn follows(&self, prev: &Self) -> bool {
        self.timestamp > prev.timestamp && self.relative_offset >= prev.relative_offset
    }
}

/// An index file with its entries held in memory.
#[derive(Debug)]
pub struct Index<E> {
    path: PathBuf,
    base_offset: i64,
    file: CachedFile,
    entries: Vec<E>,
    /// A write that finds the disk full makes the index memory-only instead of failing (set while the log opens).
    tolerate_full: bool,
    /// The file was removed after a write found the disk full: entries live in memory only.
    memory_only: bool,
}

/// The `.index` of a segment.
pub type OffsetIndex = Index<OffsetEntry>;
/// The `.timeindex` of a segment.
pub type TimeIndex = Index<TimeEntry>;

/// Open a file for reading and writing, creating it if needed and truncating it if asked.
pub(crate) fn open_rw(path: &Path, truncate: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .open(path)
}

/// Decode a whole index file; `Err(reason)` if it is not well formed (size not a multiple of the entry size,
/// a negative relative offset, entries out of order).
pub fn decode_entries<E: IndexEntry>(data: &[u8]) -> Result<Vec<E>, String> {
    if data.len() / E::SIZE * E::SIZE != data.len() {
        return Err(format!(
            "size {} is not a multiple of the entry size {}",
            data.len(),
            E::SIZE
        ));
    }
    let entries: Vec<E> = data.chunks_exact(E::SIZE).map(E::decode).collect();
    for (i, e) in entries.iter().enumerate() {
        if e.relative_offset() < 0 {
            return Err(format!("entry {i} has a negative relative offset"));
        }
        if i > 0 && !e.follows(&entries[i - 1]) {
            return Err(format!(
                "entry {i} ({e:?}) does not follow entry {} ({:?})",
                i - 1,
                entries[i - 1]
            ));
        }
    }
    Ok(entries)
}

/// Read and decode an index file (tools and tests).
pub fn read_index_file<E: IndexEntry>(path: &Path) -> io::Result<Vec<E>> {
    let data = std::fs::read(path)?;
    decode_entries(&data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl<E: IndexEntry> Index<E> {
    /// Create (or truncate to empty) the index file at `path`.
    pub(crate) fn create(path: PathBuf, base_offset: i64) -> io::Result<Self> {
        let file = CachedFile::opened(path.clone(), open_rw(&path, true)?);
        Ok(Index {
            path,
            base_offset,
            file,
            entries: Vec::new(),
            tolerate_full: false,
            memory_only: false,
        })
    }

    /// Open and load an existing index. The second value says why the index must be rebuilt: the file was missing
    /// (it is created empty) or is damaged (it is kept as read; call [`Index::clear`] before rebuilding).
    pub(crate) fn open(path: PathBuf, base_offset: i64) -> io::Result<(Self, Option<String>)> {
        let existed = path.exists();
        let file = open_rw(&path, false)?;
        let len = file.metadata()?.len();
        let mut data = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
        file.read_exact_at(&mut data, 0)?;
        let (entries, problem) = match decode_entries(&data) {
            _ if !existed => (Vec::new(), Some("file is missing".to_string())),
            Ok(entries) => (entries, None),
            Err(reason) => (Vec::new(), Some(reason)),
        };
        Ok((
            Index {
                // Not kept open: the entries are in memory; the cache opens the file for the next write.
                file: CachedFile::closed(path.clone()),
                path,
                base_offset,
                entries,
                tolerate_full: false,
                memory_only: false,
            },
            problem,
        ))
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    /// The last entry, if any.
    pub fn last(&self) -> Option<&E> {
        self.entries.last()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the index has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Path of the index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Base offset of the segment the index belongs to.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Whether the index holds as many entries as `segment.index.bytes` allows (at least one entry always fits).
    pub fn is_full(&self, index_bytes: u64) -> bool {
        let max = usize::try_from(index_bytes / E::SIZE as u64)
            .unwrap_or(usize::MAX)
            .max(1);
        self.entries.len() >= max
    }

    /// Shared handle of the index file (for fsync outside the log lock); `None` for a memory-only index.
    pub(crate) fn file(&self) -> Option<&CachedFile> {
        (!self.memory_only).then_some(&self.file)
    }

    /// Whether a write that finds the disk full keeps the index in memory instead of failing (see the module docs).
    pub(crate) fn set_tolerate_full(&mut self, on: bool) {
        self.tolerate_full = on;
    }

    /// Whether the file was removed because the disk was full, the entries living in memory only (the next open of
    /// the log rebuilds it).
    pub fn is_memory_only(&self) -> bool {
        self.memory_only
    }

    /// Append an entry to memory and to the file (page cache; memory only for a memory-only index). On error
    /// nothing changes in memory.
    pub(crate) fn append(&mut self, entry: E) -> io::Result<()> {
        if !self.memory_only {
            let mut buf = Vec::with_capacity(E::SIZE);
            entry.encode(&mut buf);
            let position = (self.entries.len() * E::SIZE) as u64;
            let written = self.file.write(|f| f.write_all_at(&buf, position));
            if let Err(e) = written {
                self.keep_in_memory(e)?;
            }
        }
        self.entries.push(entry);
        Ok(())
    }

    /// After the write error `e`: with the tolerance on and the disk full, remove the file (so the next open rebuilds
    /// the index) and go memory-only; otherwise `Err(e)`.
    fn keep_in_memory(&mut self, e: io::Error) -> io::Result<()> {
        if !(self.tolerate_full && is_disk_full(&e)) {
            return Err(e);
        }
        match std::fs::remove_file(&self.path) {
            Err(r) if r.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        tracing::warn!(file = %self.path.display(), error = %e,
            "disk full while opening the log: index kept in memory only, its file removed (rebuilt at the next start)");
        self.memory_only = true;
        Ok(())
    }

    /// Keep only the first `n` entries, in memory and on disk.
    pub(crate) fn truncate(&mut self, n: usize) -> io::Result<()> {
        if self.memory_only {
            self.entries.truncate(n);
            return Ok(());
        }
        if n < self.entries.len() || self.file.get()?.metadata()?.len() != (n * E::SIZE) as u64 {
            let len = (n.min(self.entries.len()) * E::SIZE) as u64;
            self.file.write(|f| f.set_len(len))?;
        }
        self.entries.truncate(n);
        Ok(())
    }

    /// Remove every entry.
    pub(crate) fn clear(&mut self) -> io::Result<()> {
        self.entries.clear();
        if self.memory_only {
            return Ok(());
        }
        self.file.write(|f| f.set_len(0))
    }

    /// Index of the last entry whose key (by `key`) is `<= target`, for a key that increases along the index.
    fn floor_by(&self, target: i64, key: impl Fn(&E) -> i64) -> Option<E> {
        let n = self.entries.partition_point(|e| key(e) <= target);
        n.checked_sub(1).map(|i| self.entries[i])
    }
}

impl Index<OffsetEntry> {
    /// The entry with the largest offset `<= offset` (Kafka `OffsetIndex.lookup`), as (absolute offset, position).
    pub fn lookup(&self, offset: i64) -> Option<(i64, u32)> {
        let base = self.base_offset;
        self.floor_by(offset, |e| base + i64::from(e.relative_offset))
            .map(|e| (base + i64::from(e.relative_offset), e.position))
    }

    /// The position of the second-to-last entry at or below `position`: a batch that starts there ends at or
    /// before the next entry's batch starts, so it lies wholly below `position`. `None` with fewer than two such
    /// entries. Used to find the end of the whole batches that fit a byte budget without scanning from the start.
    pub(crate) fn second_floor_position(&self, position: u64) -> Option<u64> {
        let n = self
            .entries
            .partition_point(|e| u64::from(e.position) <= position);
        n.checked_sub(2)
            .map(|i| u64::from(self.entries[i].position))
    }

    /// Drop the entries pointing at or beyond `position` (after the log was truncated there).
    pub(crate) fn truncate_to_position(&mut self, position: u64) -> io::Result<()> {
        let keep = self
            .entries
            .partition_point(|e| u64::from(e.position) < position);
        self.truncate(keep)
    }
}

impl Index<TimeEntry> {
    /// The entry with the largest timestamp `<= timestamp` (Kafka `TimeIndex.lookup`), as (timestamp, absolute
    /// offset).
    pub fn lookup(&self, timestamp: i64) -> Option<(i64, i64)> {
        self.floor_by(timestamp, |e| e.timestamp)
            .map(|e| (e.timestamp, self.base_offset + i64::from(e.relative_offset)))
    }

    /// Drop the entries for offsets at or beyond `offset`.
    pub(crate) fn truncate_to_offset(&mut self, offset: i64) -> io::Result<()> {
        let base = self.base_offset;
        let keep = self
            .entries
            .partition_point(|e| base + i64::from(e.relative_offset) < offset);
        self.truncate(keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_lookup_truncate_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("00000000000000000100.index");
        let mut idx = OffsetIndex::create(p.clone(), 100).unwrap();
        assert_eq!(idx.lookup(150), None);
        for i in 1..=5u32 {
            idx.append(OffsetEntry {
                relative_offset: i as i32 * 10,
                position: i * 1000,
            })
            .unwrap();
        }
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 40);
        assert_eq!(idx.lookup(109), None);
        assert_eq!(idx.lookup(110), Some((110, 1000)));
        assert_eq!(idx.lookup(135), Some((130, 3000)));
        assert_eq!(idx.lookup(1_000), Some((150, 5000)));
        idx.truncate_to_position(3000).unwrap();
        assert_eq!(idx.len(), 2);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 16);
        let (re, problem) = OffsetIndex::open(p.clone(), 100).unwrap();
        assert!(problem.is_none());
        assert_eq!(re.entries(), idx.entries());
        assert_eq!(read_index_file::<OffsetEntry>(&p).unwrap(), idx.entries());
        assert!(!re.is_full(16 + 8) && re.is_full(16) && re.is_full(0));
    }

    #[test]
    fn time_index_lookup_and_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = TimeIndex::create(dir.path().join("0.timeindex"), 0).unwrap();
        idx.append(TimeEntry {
            timestamp: 100,
            relative_offset: 3,
        })
        .unwrap();
        idx.append(TimeEntry {
            timestamp: 200,
            relative_offset: 9,
        })
        .unwrap();
        assert_eq!(idx.lookup(99), None);
        assert_eq!(idx.lookup(150), Some((100, 3)));
        assert_eq!(idx.lookup(200), Some((200, 9)));
        idx.truncate_to_offset(9).unwrap();
        assert_eq!(idx.len(), 1);
        assert_eq!(std::fs::metadata(idx.path()).unwrap().len(), 12);
    }

    #[test]
    fn damaged_or_missing_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.index");
        let (_, problem) = OffsetIndex::open(p.clone(), 0).unwrap();
        assert!(problem.unwrap().contains("missing"));
        std::fs::write(&p, [0u8; 7]).unwrap();
        assert!(OffsetIndex::open(p.clone(), 0).unwrap().1.is_some());
        // Not increasing.
        let mut data = Vec::new();
        OffsetEntry {
            relative_offset: 5,
            position: 100,
        }
        .encode(&mut data);
        OffsetEntry {
            relative_offset: 5,
            position: 200,
        }
        .encode(&mut data);
        std::fs::write(&p, &data).unwrap();
        assert!(OffsetIndex::open(p.clone(), 0)
            .unwrap()
            .1
            .unwrap()
            .contains("does not follow"));
        let mut data = Vec::new();
        TimeEntry {
            timestamp: 5,
            relative_offset: -1,
        }
        .encode(&mut data);
        assert!(decode_entries::<TimeEntry>(&data).is_err());
    }
}
