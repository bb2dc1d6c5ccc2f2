//! A process-wide, bounded cache of open segment files, so that the number of file descriptors does not grow
//! with the number of segments.
//!
//! Every segment file (`.log`, `.index`, `.timeindex`, `.txnindex`) is reached through a [`CachedFile`]: its path
//! plus, while it is in the cache, an open `Arc<File>`. [`CachedFile::get`] opens the file on demand and makes it
//! the most recently used; when more than [`max_open_files`] files are open, the least recently used one is closed
//! (Kafka keeps every segment's `.log` open and opens index files lazily, `LazyIndex`; minikafka bounds both).
//!
//! Eviction drops only the cache's reference: a reader that got the `Arc<File>` (a [`crate::FileSlice`] being sent
//! with `sendfile`, a [`crate::SyncJob`] being fsynced) keeps the descriptor valid until it is done, so the number
//! of open files may exceed the cap by the handles in use at that moment.
//!
//! A file with unsynced writes is never closed without an fsync (the "fsyncgate" problem): a write-back error is
//! reported to the descriptors open when it happened, so an `fdatasync` through a descriptor opened later could
//! succeed although the data was lost, and the log directory would stay online. Every write goes through
//! [`CachedFile::write`], which counts it; an `fdatasync` ([`CachedFile::sync_data`]) records how many writes it
//! covered. Eviction closes a file whose writes are all covered at once; one with uncovered writes is fsynced first
//! (after the cache's lock is released, by the thread whose open evicted it) and closed only if that succeeded. A
//! failed fsync is never retried: the error sticks to the file (which stays open), every later
//! [`CachedFile::sync_data`] of it fails, and [`CachedFile::sync_failed`] reports it, so the owning log's next flush
//! fails and takes the log directory offline as any fsync failure does. A file renamed away while it was closed (a
//! segment the cleaner replaced, renamed to `.deleted`) is reopened under that name.
//!
//! The cap is per process (the descriptor limit is): the broker sets it at start from `log.max.open.segment.files`
//! ([`set_max_open_files`]); the default is [`DEFAULT_MAX_OPEN_FILES`].
//!
//! Thread-safety: all of it is `Send + Sync`. Lock order: the cache's lock, then a file's slot lock; a slot lock is
//! never held while taking the cache's lock.
//!
//! ```
//! # fn main() -> std::io::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("00000000000000000000.log");
//! std::fs::write(&path, b"abc")?;
//! let f = minikafka_storage::CachedFile::closed(path);
//! assert_eq!(f.get()?.metadata()?.len(), 3);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

/// The cap used until [`set_max_open_files`] is called.
pub const DEFAULT_MAX_OPEN_FILES: usize = 1024;

/// The suffix a replaced segment's files get before they are removed (see [`crate::cleaner`]).
const DELETED_SUFFIX: &str = ".deleted";

#[derive(Debug, Default)]
struct Lru {
    next_tick: u64,
    /// Open files by the tick of their last use, least recent first.
    by_tick: BTreeMap<u64, Weak<Inner>>,
}

#[derive(Debug)]
struct Cache {
    capacity: AtomicUsize,
    lru: Mutex<Lru>,
}

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Cache {
        capacity: AtomicUsize::new(DEFAULT_MAX_OPEN_FILES),
        lru: Mutex::new(Lru::default()),
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Set the most segment files this process keeps open (at least 1); files beyond it are closed, least recently
/// used first, at the next open.
pub fn set_max_open_files(n: usize) {
    cache().capacity.store(n.max(1), Ordering::Relaxed);
}

/// The current cap (see [`set_max_open_files`]).
pub fn max_open_files() -> usize {
    cache().capacity.load(Ordering::Relaxed)
}

/// How many segment files the cache holds open (handles lent out and since evicted, and files kept open because
/// their fsync failed, are not counted).
pub fn open_files() -> usize {
    lock(&cache().lru).by_tick.len()
}

#[derive(Debug, Default)]
struct Slot {
    file: Option<Arc<File>>,
    tick: u64,
    /// Writes in progress ([`CachedFile::write`]).
    writing: u32,
    /// Writes finished (successful or not).
    written: u64,
    /// How many of the finished writes the last successful `fdatasync` covered.
    synced: u64,
    /// A failed `fdatasync` (kind, message): sticks, never retried.
    failed: Option<(io::ErrorKind, String)>,
}

impl Slot {
    /// Whether closing the descriptor could lose a write-back error: a write in progress or not yet fsynced.
    fn unsynced(&self) -> bool {
        self.writing > 0 || self.written > self.synced
    }
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    slot: Mutex<Slot>,
    /// Held across an `fdatasync` and the recording of its result, so that an fsync that found the error already
    /// reported to another one (the same descriptor reports it once) sees it recorded. Taken with no other lock
    /// held; the slot lock is taken inside it.
    sync_lock: Mutex<()>,
}

/// How many files had an `fdatasync` fail (so [`any_sync_failed`] costs nothing while it is 0).
static FAILED_SYNCS: AtomicUsize = AtomicUsize::new(0);

/// Whether any file of this process had an `fdatasync` fail (see [`CachedFile::sync_failed`]).
pub(crate) fn any_sync_failed() -> bool {
    FAILED_SYNCS.load(Ordering::Acquire) > 0
}

impl Inner {
    /// `fdatasync` through `file` (the cached descriptor or one lent before), recording the writes it covered or
    /// its failure (sticky: a recorded failure is returned without another fsync).
    fn sync(&self, file: &File) -> io::Result<()> {
        let _sync = lock(&self.sync_lock);
        let through = {
            let slot = lock(&self.slot);
            if let Some((kind, message)) = &slot.failed {
                return Err(io::Error::new(*kind, message.clone()));
            }
            slot.written
        };
        match file.sync_data() {
            Ok(()) => {
                let mut slot = lock(&self.slot);
                slot.synced = slot.synced.max(through);
                Ok(())
            }
            Err(e) => {
                lock(&self.slot).failed = Some((e.kind(), e.to_string()));
                FAILED_SYNCS.fetch_add(1, Ordering::AcqRel);
                Err(e)
            }
        }
    }

    /// An evicted file with unsynced writes: fsync it, then close it unless it was used again meanwhile. On
    /// failure it stays open with the error recorded. Called with no lock held.
    fn sync_and_close(&self, tick: u64) {
        let Some(file) = lock(&self.slot).file.clone() else {
            return;
        };
        if let Err(e) = self.sync(&file) {
            tracing::error!(file = %self.path.display(), error = %e,
                "fsync before closing a segment file failed: the file stays open and its log's next flush fails");
            return;
        }
        let closed = {
            let mut slot = lock(&self.slot);
            if slot.tick == tick && !slot.unsynced() {
                slot.file.take()
            } else {
                None
            }
        };
        drop(closed);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let slot = self.slot.get_mut().unwrap_or_else(PoisonError::into_inner);
        if slot.file.take().is_some() {
            lock(&cache().lru).by_tick.remove(&slot.tick);
        }
    }
}

/// A segment file opened on demand through the process-wide cache (see the module docs). Clones share the file.
#[derive(Debug, Clone)]
pub struct CachedFile {
    inner: Arc<Inner>,
}

fn open_existing(path: &Path) -> io::Result<File> {
    let open = |p: &Path| OpenOptions::new().read(true).write(true).open(p);
    match open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut deleted = path.as_os_str().to_owned();
            deleted.push(DELETED_SUFFIX);
            open(Path::new(&deleted)).map_err(|_| e)
        }
        other => other,
    }
}

impl CachedFile {
    /// A file that exists at `path`, not opened yet.
    pub fn closed(path: PathBuf) -> CachedFile {
        CachedFile {
            inner: Arc::new(Inner {
                path,
                slot: Mutex::new(Slot::default()),
                sync_lock: Mutex::new(()),
            }),
        }
    }

    /// The file at `path`, already open as `file` (just created or truncated: unsynced, like a write), entered in
    /// the cache.
    pub(crate) fn opened(path: PathBuf, file: File) -> CachedFile {
        let f = CachedFile::closed(path);
        lock(&f.inner.slot).written = 1;
        f.insert(Arc::new(file));
        f
    }

    /// The file's path (its name when it was opened).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The open file, opening it (read-write, never creating) if the cache had closed it. The handle stays valid
    /// however long it is kept, even if the cache closes its own reference meanwhile.
    pub fn get(&self) -> io::Result<Arc<File>> {
        let hit = {
            let slot = lock(&self.inner.slot);
            slot.file.clone().map(|f| (f, slot.tick))
        };
        if let Some((file, tick)) = hit {
            self.touch(tick);
            return Ok(file);
        }
        let file = Arc::new(open_existing(&self.inner.path)?);
        Ok(self.insert(file))
    }

    /// Write to the file with `write` (a positional write, a `set_len`): the file is not closed by the cache until
    /// an [`CachedFile::sync_data`] covers the write, whatever its result.
    pub(crate) fn write<T>(&self, write: impl FnOnce(&File) -> io::Result<T>) -> io::Result<T> {
        lock(&self.inner.slot).writing += 1;
        let result = self.get().and_then(|file| write(&file));
        let mut slot = lock(&self.inner.slot);
        slot.writing -= 1;
        slot.written += 1;
        result
    }

    /// Whether some write is not covered by a successful [`CachedFile::sync_data`] yet.
    pub fn has_unsynced_writes(&self) -> bool {
        lock(&self.inner.slot).unsynced()
    }

    /// Whether an `fdatasync` of this file failed (every later [`CachedFile::sync_data`] fails too).
    pub fn sync_failed(&self) -> bool {
        lock(&self.inner.slot).failed.is_some()
    }

    /// `fdatasync` the file. The writes finished before the call are then durable: those an earlier fsync did not
    /// cover went through the descriptor this one uses, which the cache did not close before they were covered (a
    /// file may be reopened here, its writes all covered). An error sticks: it is returned again by every later
    /// call, without another fsync (a retried fsync that succeeds says nothing about the pages it could not write).
    pub fn sync_data(&self) -> io::Result<()> {
        let file = self.get()?;
        self.inner.sync(&file)
    }

    /// Make the file the most recently used, if it is still open under `tick`.
    fn touch(&self, tick: u64) {
        let mut lru = lock(&cache().lru);
        let mut slot = lock(&self.inner.slot);
        if slot.file.is_some() && slot.tick == tick {
            lru.by_tick.remove(&tick);
            lru.next_tick += 1;
            slot.tick = lru.next_tick;
            lru.by_tick.insert(slot.tick, Arc::downgrade(&self.inner));
        }
    }

    /// Enter `file` (unless another thread opened it first: then that one) and close the least recently used
    /// files beyond the cap.
    fn insert(&self, file: Arc<File>) -> Arc<File> {
        let c = cache();
        let mut lru = lock(&c.lru);
        let chosen = {
            let mut slot = lock(&self.inner.slot);
            if let Some(existing) = &slot.file {
                Arc::clone(existing)
            } else {
                lru.next_tick += 1;
                slot.tick = lru.next_tick;
                slot.file = Some(Arc::clone(&file));
                lru.by_tick.insert(slot.tick, Arc::downgrade(&self.inner));
                file
            }
        };
        let capacity = c.capacity.load(Ordering::Relaxed);
        // Dropped after the cache's lock is released: a victim's last reference may go with it, and its `Drop`
        // takes that lock.
        let mut evicted: Vec<(Arc<Inner>, Option<Arc<File>>)> = Vec::new();
        // Victims with unsynced writes, fsynced and closed once no lock is held.
        let mut to_sync: Vec<(Arc<Inner>, u64)> = Vec::new();
        while lru.by_tick.len() > capacity {
            let Some((tick, victim)) = lru.by_tick.pop_first() else {
                break;
            };
            // A victim being dropped has already lost its last reference: nothing to close here.
            if let Some(victim) = victim.upgrade() {
                let (closed, unsynced) = {
                    let mut slot = lock(&victim.slot);
                    if slot.tick != tick {
                        (None, false)
                    } else if slot.unsynced() {
                        (None, true)
                    } else {
                        (slot.file.take(), false)
                    }
                };
                if unsynced {
                    to_sync.push((victim, tick));
                } else {
                    evicted.push((victim, closed));
                }
            }
        }
        drop(lru);
        drop(evicted);
        for (victim, tick) in to_sync {
            victim.sync_and_close(tick);
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// Held by the tests that change the cap (other tests of this binary share the cache but keep the cap).
    static CAP: Mutex<()> = Mutex::new(());

    fn files(dir: &Path, prefix: &str, n: usize) -> Vec<CachedFile> {
        (0..n)
            .map(|i| {
                let p = dir.join(format!("{prefix}{i}.log"));
                std::fs::write(&p, vec![b'x'; i + 1]).unwrap();
                CachedFile::closed(p)
            })
            .collect()
    }

    fn is_open(f: &CachedFile) -> bool {
        lock(&f.inner.slot).file.is_some()
    }

    #[test]
    fn a_file_with_unsynced_writes_is_never_closed() {
        let _cap = lock(&CAP);
        let dir = tempfile::tempdir().unwrap();
        let written = &files(dir.path(), "w", 1)[0];
        written.write(|f| f.write_all_at(b"new data", 0)).unwrap();
        let descriptor = written.get().unwrap();
        assert!(written.has_unsynced_writes());
        set_max_open_files(1);
        // While a write is in progress the file is not even fsynced for eviction: it stays open.
        written
            .write(|_| {
                for f in &files(dir.path(), "a", 3) {
                    f.get().unwrap();
                }
                assert!(is_open(written), "a file being written was closed");
                Ok(())
            })
            .unwrap();
        assert!(Arc::ptr_eq(&descriptor, &written.get().unwrap()));
        // Evicted with unsynced writes: fsynced (through the descriptor that wrote), then closed.
        for f in &files(dir.path(), "b", 3) {
            f.get().unwrap();
        }
        assert!(!is_open(written), "evicted once fsynced");
        assert!(!written.has_unsynced_writes() && !written.sync_failed());
        drop(descriptor);
        // A failed write counts too (it may have dirtied pages before failing), as does a created file.
        let failed: io::Result<()> = written.write(|_| Err(io::Error::other("EIO")));
        assert!(failed.is_err() && written.has_unsynced_writes());
        written.sync_data().unwrap();
        assert!(!written.has_unsynced_writes());
        let created = dir.path().join("created.log");
        let created = CachedFile::opened(created.clone(), File::create(&created).unwrap());
        assert!(created.has_unsynced_writes());
        set_max_open_files(DEFAULT_MAX_OPEN_FILES);
    }

    #[test]
    fn files_beyond_the_cap_are_closed_and_reopened_on_demand() {
        let _cap = lock(&CAP);
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<CachedFile> = (0..5)
            .map(|i| {
                let p = dir.path().join(format!("{i}.log"));
                std::fs::write(&p, vec![b'x'; i + 1]).unwrap();
                CachedFile::closed(p)
            })
            .collect();
        set_max_open_files(2);
        let held = files[0].get().unwrap();
        for f in &files[1..] {
            f.get().unwrap();
        }
        let open_now = files
            .iter()
            .filter(|f| lock(&f.inner.slot).file.is_some())
            .count();
        assert!(open_now <= 2, "{open_now} open");
        // The evicted first file's handle still reads, and it reopens on demand.
        assert_eq!(held.metadata().unwrap().len(), 1);
        assert_eq!(files[0].get().unwrap().metadata().unwrap().len(), 1);
        files[0].sync_data().unwrap();
        // Renamed away while closed, as the cleaner renames a replaced segment.
        let moved = CachedFile::closed(dir.path().join("4.log"));
        std::fs::rename(moved.path(), dir.path().join("4.log.deleted")).unwrap();
        assert_eq!(moved.get().unwrap().metadata().unwrap().len(), 5);
        drop(files);
        drop(moved);
        set_max_open_files(DEFAULT_MAX_OPEN_FILES);
    }
}
