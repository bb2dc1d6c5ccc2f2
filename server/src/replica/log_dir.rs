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
//! minikafka has one log directory. Kafka halts a broker whose last log directory failed;
//! minikafka stays up instead, answering KAFKA_STORAGE_ERROR for every partition (Metadata
//! reports them without a leader) while ApiVersions, Metadata and the admin reads keep working:
//! friendlier for a development broker, and observable by tests. It does not write the
//! clean-shutdown marker when it stops with the directory offline, so the next start recovers.
//!
//! A second, milder state is read-only: a broker started on a full disk (a start-up write failed
//! with ENOSPC) serves reads and metadata but refuses every write with KAFKA_STORAGE_ERROR, for
//! as long as it runs (restart it once space is freed).
//!
//! Thread-safety: shared as `Arc<LogDir>` by the replica manager and every partition; the states
//! are set once (`OnceLock`) and read without locking.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use minikafka_storage::{is_disk_full, StorageError};
use tokio::sync::Notify;
use tracing::error;

/// The log directory's state: online, read-only (started on a full disk), or offline.
#[derive(Debug)]
pub struct LogDir {
    path: PathBuf,
    /// Set once, at the first I/O failure: what failed and why.
    offline: OnceLock<String>,
    /// Set once, when start-up found the disk full: why.
    read_only: OnceLock<String>,
    /// Woken when a log rolled, so the closed segment gets fsynced in the background.
    rolled: Notify,
}

impl LogDir {
    /// An online log directory at `path`.
    pub fn new(path: &Path) -> LogDir {
        LogDir {
            path: path.to_path_buf(),
            offline: OnceLock::new(),
            read_only: OnceLock::new(),
            rolled: Notify::new(),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether an fsync or write failed in this directory.
    pub fn is_offline(&self) -> bool {
        self.offline.get().is_some()
    }

    /// Whether the broker started on a full disk and refuses writes.
    pub fn is_read_only(&self) -> bool {
        self.read_only.get().is_some()
    }

    /// Take the directory offline after `what` failed with `cause` (idempotent; the first
    /// failure logs one ERROR line naming the directory and the cause).
    pub fn fail(&self, what: &str, cause: &dyn fmt::Display) {
        let reason = format!("{what} failed: {cause}");
        if self.offline.set(reason).is_ok() {
            error!(log_dir = %self.path.display(), operation = what, error = %cause,
                "log directory is offline: nothing in it is acknowledged any more; every partition in it answers KAFKA_STORAGE_ERROR until the broker is restarted on a repaired disk");
        }
    }

    /// Refuse writes from now on: a start-up write found the disk full.
    pub(crate) fn set_read_only(&self, what: &str, cause: &dyn fmt::Display) {
        let reason = format!("{what} failed: {cause}");
        if self.read_only.set(reason).is_ok() {
            error!(log_dir = %self.path.display(), operation = what, error = %cause,
                "log directory is full at start: serving reads and metadata, refusing writes with KAFKA_STORAGE_ERROR until the broker is restarted with free space");
        }
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
        match self.read_only.get() {
            None => Ok(()),
            Some(reason) => Err(self.refusal("read-only", reason)),
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
        self.rolled.notify_one();
    }

    /// Wait until some log rolled since the last wait returned.
    pub async fn wait_for_roll(&self) {
        self.rolled.notified().await;
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
    fn read_only_refuses_writes_only() {
        let d = LogDir::new(Path::new("/data"));
        d.set_read_only("start", &"No space left on device");
        assert!(d.check().is_ok());
        let msg = d.check_writable().unwrap_err().to_string();
        assert!(msg.contains("read-only"), "{msg}");
    }
}
