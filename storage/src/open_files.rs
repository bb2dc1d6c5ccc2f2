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
//! Data written through a descriptor that is then closed stays in the page cache; a later `fdatasync` through a
//! new descriptor writes it out ([`CachedFile::sync_data`]). A file renamed away while it was closed (a segment
//! the cleaner replaced, renamed to `.deleted`) is reopened under that name.
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

/// How many segment files the cache holds open now (handles lent out and since evicted are not counted).
pub fn open_files() -> usize {
    lock(&cache().lru).by_tick.len()
}

#[derive(Debug, Default)]
struct Slot {
    file: Option<Arc<File>>,
    tick: u64,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    slot: Mutex<Slot>,
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
            }),
        }
    }

    /// The file at `path`, already open as `file` (just created, say), entered in the cache.
    pub(crate) fn opened(path: PathBuf, file: File) -> CachedFile {
        let f = CachedFile::closed(path);
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

    /// `fdatasync` the file (through a new descriptor if the cache had closed it: the page cache still holds what
    /// was written through the old one).
    pub fn sync_data(&self) -> io::Result<()> {
        self.get()?.sync_data()
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
        while lru.by_tick.len() > capacity {
            let Some((tick, victim)) = lru.by_tick.pop_first() else {
                break;
            };
            // A victim being dropped has already lost its last reference: nothing to close here.
            if let Some(victim) = victim.upgrade() {
                let closed = {
                    let mut slot = lock(&victim.slot);
                    if slot.tick == tick {
                        slot.file.take()
                    } else {
                        None
                    }
                };
                evicted.push((victim, closed));
            }
        }
        drop(lru);
        drop(evicted);
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_beyond_the_cap_are_closed_and_reopened_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<CachedFile> = (0..5)
            .map(|i| {
                let p = dir.path().join(format!("{i}.log"));
                std::fs::write(&p, vec![b'x'; i + 1]).unwrap();
                CachedFile::closed(p)
            })
            .collect();
        // Other tests of this binary share the cache: only this test changes the cap.
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
