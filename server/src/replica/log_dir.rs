//! The health of the log directory (Kafka's `LogDirFailureChannel` and the offline-dir handling
//! of its `ReplicaManager`).
//!
//! Why it exists: after a failed `fsync` the kernel may already have dropped the dirty pages it
//! could not write, and a retried `fsync` that succeeds says nothing about them (the "fsyncgate"
//! problem). So the first fsync or write error on a log takes the whole directory offline, as
//! Kafka does: from then on nothing in it is acknowledged, and every partition in it answers
//! KAFKA_STORAGE_ERROR until the broker is restarted on a repaired disk (recovery then truncates
//! whatever was not durable).
//!
//! A broker has one `LogDir` per entry of `log.dirs`, and a failure takes only its own directory
//! offline: the partitions in the others keep serving (Kafka's `LogDirFailureChannel` per
//! directory). Kafka halts a broker whose last log directory failed; minikafka stays up instead,
//! answering KAFKA_STORAGE_ERROR for every partition (Metadata reports them without a leader)
//! while ApiVersions, Metadata and the admin reads keep working: friendlier for a development
//! broker, and observable by tests. It does not write the clean-shutdown marker of an offline
//! directory when it stops, so the next start recovers that directory's logs.
//!
//! A second, milder state is read-only: a broker started on a full disk (a start-up write failed
//! with ENOSPC) serves reads and metadata but refuses every write with KAFKA_STORAGE_ERROR. It
//! is not a failure: nothing written was lost, so once space frees the directory takes writes
//! again without a restart. A background probe ([`LogDir::try_resume`], every
//! [`LogDir::PROBE_INTERVAL`]) creates, fsyncs and removes a small file in the directory; when
//! that works it writes what start-up kept in memory (each partition's leader-epoch checkpoint,
//! segments below a restored log start offset) and clears the state, with an INFO line. An
//! offline directory never comes back that way: after a failed fsync only a restart (and its
//! recovery) can say what is on disk.
//!
//! Thread-safety: shared as `Arc<LogDir>` by the replica manager and every partition; the
//! offline state is set once (`OnceLock`) and read without locking, the read-only state is
//! behind a `Mutex` (never held across I/O).

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use minikafka_storage::{is_disk_full, StorageError};
use tokio::sync::Notify;
use tracing::{error, info, warn};

use super::Partition;

/// The file the probe writes, fsyncs and removes in the directory.
const PROBE_FILE: &str = ".minikafka-space-probe";

/// What the probe writes: one page, so a disk with no free block refuses it.
const PROBE_BYTES: usize = 4096;

/// What a broker's log directories wake: the closed-segment flusher after a roll, and the task
/// that reports a failed directory (so its partitions stop being led here).
#[derive(Debug, Default)]
pub struct DirSignals {
    /// A log rolled.
    pub rolled: Notify,
    /// A directory went offline.
    pub failed: Notify,
}

/// The log directory's state: online, read-only (started on a full disk), or offline.
#[derive(Debug)]
pub struct LogDir {
    path: PathBuf,
    /// Set once, at the first I/O failure: what failed and why.
    offline: OnceLock<String>,
    /// Set when start-up found the disk full (why), cleared once space freed.
    read_only: Mutex<Option<String>>,
    /// Wakes the background tasks (shared by the broker's log directories).
    signals: Arc<DirSignals>,
    /// Whether the last run shut this directory down cleanly (its logs need no recovery).
    was_clean: AtomicBool,
}

impl LogDir {
    /// How often a read-only directory checks whether space freed ([`LogDir::try_resume`]).
    pub const PROBE_INTERVAL: Duration = Duration::from_secs(3);

    /// An online log directory at `path`.
    pub fn new(path: &Path) -> LogDir {
        LogDir::sharing(path, Arc::default())
    }

    /// An online log directory at `path` whose rolls and failure wake `signals` (shared with
    /// the broker's other directories).
    pub fn sharing(path: &Path, signals: Arc<DirSignals>) -> LogDir {
        LogDir {
            path: path.to_path_buf(),
            offline: OnceLock::new(),
            read_only: Mutex::new(None),
            signals,
            was_clean: AtomicBool::new(true),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record whether the last run shut this directory down cleanly (its clean-shutdown
    /// marker, read at start before any log is opened).
    pub fn set_was_clean(&self, clean: bool) {
        self.was_clean.store(clean, Ordering::Release);
    }

    /// Whether the last run shut this directory down cleanly.
    pub fn was_clean(&self) -> bool {
        self.was_clean.load(Ordering::Acquire)
    }

    /// Whether an fsync or write failed in this directory.
    pub fn is_offline(&self) -> bool {
        self.offline.get().is_some()
    }

    /// Whether the broker started on a full disk and refuses writes (until space frees).
    pub fn is_read_only(&self) -> bool {
        self.read_only_reason().is_some()
    }

    fn read_only_state(&self) -> MutexGuard<'_, Option<String>> {
        self.read_only
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn read_only_reason(&self) -> Option<String> {
        self.read_only_state().clone()
    }

    /// Take the directory offline after `what` failed with `cause` (idempotent; the first
    /// failure logs one ERROR line naming the directory and the cause).
    pub fn fail(&self, what: &str, cause: &dyn fmt::Display) {
        let reason = format!("{what} failed: {cause}");
        if self.offline.set(reason).is_ok() {
            error!(log_dir = %self.path.display(), operation = what, error = %cause,
                "log directory is offline: nothing in it is acknowledged any more; every partition in it answers KAFKA_STORAGE_ERROR until the broker is restarted on a repaired disk");
            self.signals.failed.notify_one();
        }
    }

    /// Refuse writes from now on: a start-up write found the disk full.
    pub(crate) fn set_read_only(&self, what: &str, cause: &dyn fmt::Display) {
        let mut state = self.read_only_state();
        if state.is_none() {
            *state = Some(format!("{what} failed: {cause}"));
            drop(state);
            error!(log_dir = %self.path.display(), operation = what, error = %cause,
                probe_interval_s = Self::PROBE_INTERVAL.as_secs(),
                "log directory is full at start: serving reads and metadata, refusing writes with KAFKA_STORAGE_ERROR until space frees");
        }
    }

    /// Create, fsync and remove a small file in the directory: whether a write would succeed.
    fn probe(&self) -> io::Result<()> {
        let path = self.path.join(PROBE_FILE);
        let written = (|| {
            let mut f = File::create(&path)?;
            f.write_all(&[0u8; PROBE_BYTES])?;
            f.sync_all()
        })();
        // Removed whatever happened: a half-written probe must not keep the space it took.
        let removed = fs::remove_file(&path);
        written?;
        removed
    }

    /// A read-only directory checks whether space freed: if the probe file can be written, each
    /// of `partitions` writes what start-up kept in memory ([`Partition::resume_writes`]) and
    /// the directory takes writes again (one INFO line). Returns whether it is writable now.
    /// A disk still (or again) full leaves it read-only for the next try; any other I/O error
    /// takes it offline. Does nothing for an offline directory. Blocking.
    pub fn try_resume(&self, partitions: &[Arc<Partition>]) -> bool {
        if self.is_offline() {
            return false;
        }
        let Some(reason) = self.read_only_reason() else {
            return true;
        };
        if let Err(e) = self.probe() {
            if !is_disk_full(&e) {
                self.fail("free-space probe", &e);
            }
            return false;
        }
        for p in partitions {
            match p.resume_writes() {
                Ok(()) => {}
                Err(StorageError::Io(e)) if is_disk_full(&e) => {
                    warn!(log_dir = %self.path.display(), topic = %p.topic, partition = p.index, error = %e,
                        "disk full again while leaving the read-only state; trying later");
                    return false;
                }
                Err(e) => {
                    self.fail("leaving the read-only state", &e);
                    return false;
                }
            }
        }
        *self.read_only_state() = None;
        info!(log_dir = %self.path.display(), was = %reason,
            "log directory has free space again: taking writes");
        true
    }

    /// `Ok` while the directory is online (reads are allowed in the read-only state).
    ///
    /// # Errors
    /// [`StorageError::Io`] naming the directory and its failure (KAFKA_STORAGE_ERROR).
    pub fn check(&self) -> Result<(), StorageError> {
        match self.offline.get() {
            None => Ok(()),
            Some(reason) => Err(self.refusal("offline", reason)),
        }
    }

    /// `Ok` while the directory accepts writes (online and not read-only).
    ///
    /// # Errors
    /// As [`LogDir::check`], or for the read-only state.
    pub fn check_writable(&self) -> Result<(), StorageError> {
        self.check()?;
        match self.read_only_reason() {
            None => Ok(()),
            Some(reason) => Err(self.refusal("read-only", &reason)),
        }
    }

    fn refusal(&self, state: &str, reason: &str) -> StorageError {
        StorageError::Io(io::Error::other(format!(
            "log directory {} is {state} ({reason})",
            self.path.display()
        )))
    }

    /// Pass `result` through, taking the directory offline if it is an I/O error of `what`.
    pub(crate) fn guard<T>(
        &self,
        what: &str,
        result: Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        if let Err(StorageError::Io(e)) = &result {
            self.fail(what, e);
        }
        result
    }

    /// A start-up write of an existing log (its leader-epoch checkpoint): a full disk makes the
    /// directory read-only instead of failing the start; any other I/O error takes it offline.
    pub(crate) fn tolerate_full_at_start(
        &self,
        what: &str,
        result: Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        match result {
            Err(StorageError::Io(e)) if is_disk_full(&e) => {
                self.set_read_only(what, &e);
                Ok(())
            }
            other => self.guard(what, other),
        }
    }

    /// Pass an `io::Result` through, taking the directory offline on error.
    pub(crate) fn guard_io<T>(&self, what: &str, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            self.fail(what, e);
        }
        result
    }

    /// A log in this directory rolled: wake the closed-segment flusher.
    pub(crate) fn segment_rolled(&self) {
        self.signals.rolled.notify_one();
    }

    /// Wait until some log (of any directory sharing the signals) rolled since the last wait
    /// returned.
    pub async fn wait_for_roll(&self) {
        self.signals.rolled.notified().await;
    }

    /// Wait until some directory sharing the signals went offline since the last wait returned.
    pub async fn wait_for_failure(&self) {
        self.signals.failed.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_takes_the_directory_offline_for_good() {
        let d = LogDir::new(Path::new("/data"));
        assert!(d.check().is_ok() && d.check_writable().is_ok());
        let ok: Result<i32, StorageError> = Ok(1);
        assert!(d.guard("append", ok).is_ok());
        let invalid: Result<(), StorageError> = Err(StorageError::InvalidRecord("x".into()));
        assert!(d.guard("append", invalid).is_err());
        assert!(!d.is_offline(), "a refused batch is not a disk failure");
        let failed: Result<(), StorageError> = Err(io::Error::other("EIO").into());
        assert!(d.guard("fsync", failed).is_err());
        assert!(d.is_offline());
        d.fail("append", &"later");
        let msg = d.check().unwrap_err().to_string();
        assert!(
            msg.contains("/data") && msg.contains("fsync failed: EIO"),
            "{msg}"
        );
    }

    #[test]
    fn read_only_refuses_writes_only_until_space_frees() {
        let tmp = tempfile::tempdir().unwrap();
        let d = LogDir::new(tmp.path());
        d.set_read_only("start", &"No space left on device");
        assert!(d.check().is_ok());
        let msg = d.check_writable().unwrap_err().to_string();
        assert!(msg.contains("read-only"), "{msg}");
        // The probe writes (this disk has space): writable again, the probe file gone.
        assert!(d.try_resume(&[]));
        assert!(d.check_writable().is_ok() && !d.is_read_only());
        assert!(!tmp.path().join(PROBE_FILE).exists());
    }

    #[test]
    fn an_offline_directory_does_not_come_back() {
        let tmp = tempfile::tempdir().unwrap();
        let d = LogDir::new(tmp.path());
        d.set_read_only("start", &"No space left on device");
        d.fail("fsync", &"EIO");
        assert!(!d.try_resume(&[]));
        assert!(d.is_offline() && d.is_read_only());
    }
}
