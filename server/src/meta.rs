//! The data directory's own files: the lock that keeps a second broker out, `meta.properties`
//! (cluster id and node id, as Kafka writes it) and the clean-shutdown marker that tells the
//! next start whether segment tails must be validated.
//!
//! A directory this start formats (no `meta.properties` and nothing else in it) counts as cleanly
//! shut down: there is nothing to recover, so the first start is not logged like a crash. An
//! existing directory without the marker is logged once, as a warning, before the logs are
//! recovered (each log then says what it repaired).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

/// Name of the lock file held for the broker's lifetime.
pub const LOCK_FILE: &str = ".lock";
/// Name of the marker written after a clean shutdown (Kafka's name).
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// Kafka's metadata file name.
pub const META_FILE: &str = "meta.properties";

/// Errors opening the data directory.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// Filesystem failure.
    #[error("data directory {path}: {source}")]
    Io {
        /// What was being touched.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Another process holds the lock.
    #[error("data directory {0} is already in use by another minikafka process (lock file {0}/.lock is held)")]
    Locked(PathBuf),
    /// meta.properties disagrees with the configuration.
    #[error("{path}: {reason}")]
    Mismatch {
        /// The meta.properties file.
        path: PathBuf,
        /// What disagrees.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> MetaError + '_ {
    move |source| MetaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An opened, locked data directory.
#[derive(Debug)]
pub struct DataDir {
    /// The directory.
    path: PathBuf,
    /// Held for the broker's lifetime; dropping it releases the lock.
    _lock: File,
    /// The cluster id from meta.properties.
    cluster_id: String,
    /// Whether the previous run ended with a clean shutdown.
    was_clean: bool,
}

impl DataDir {
    /// Create (if needed) and lock `path`, read or write `meta.properties`, and consume the
    /// clean-shutdown marker.
    pub fn open(path: &Path, node_id: i32) -> Result<DataDir, MetaError> {
        fs::create_dir_all(path).map_err(io_err(path))?;
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(MetaError::Locked(path.to_path_buf())),
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        let meta_path = path.join(META_FILE);
        let mut formatted = false;
        let cluster_id = match fs::read_to_string(&meta_path) {
            Ok(text) => {
                let get = |k: &str| {
                    text.lines()
                        .filter_map(|l| l.split_once('='))
                        .find(|(key, _)| key.trim() == k)
                        .map(|(_, v)| v.trim().to_string())
                };
                if let Some(n) = get("node.id") {
                    if n != node_id.to_string() {
                        return Err(MetaError::Mismatch {
                            path: meta_path,
                            reason: format!("it records node.id={n} but this broker is configured with node.id={node_id}"),
                        });
                    }
                }
                get("cluster.id").ok_or_else(|| MetaError::Mismatch {
                    path: meta_path.clone(),
                    reason: "no cluster.id".into(),
                })?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Written by `format` once the metadata quorum has settled the cluster id.
                formatted = only_lock_file(path).map_err(io_err(path))?;
                String::new()
            }
            Err(e) => return Err(io_err(&meta_path)(e)),
        };
        let marker = path.join(CLEAN_SHUTDOWN_FILE);
        let marked = marker.exists();
        if marked {
            fs::remove_file(&marker).map_err(io_err(&marker))?;
            sync_dir(path).map_err(io_err(path))?;
        } else if !formatted {
            warn!(
                data_dir = %path.display(),
                "the previous run did not shut down cleanly (no {CLEAN_SHUTDOWN_FILE}): recovering the logs"
            );
        }
        let was_clean = marked || formatted;
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
            cluster_id,
            was_clean,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cluster id (empty until [`DataDir::format`] on a new directory).
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The cluster id `meta.properties` records; `None` for a directory without one yet (new),
    /// whose id the metadata quorum settles before [`DataDir::format`] writes it.
    pub fn recorded_cluster_id(&self) -> Option<&str> {
        (!self.cluster_id.is_empty()).then_some(self.cluster_id.as_str())
    }

    /// Write `meta.properties` of a new directory with `cluster_id` (nothing when it has one).
    pub fn format(&mut self, cluster_id: &str, node_id: i32) -> Result<(), MetaError> {
        if self.recorded_cluster_id().is_some() {
            return Ok(());
        }
        let meta_path = self.path.join(META_FILE);
        let directory_id = kafka_uuid_string(uuid::Uuid::new_v4());
        let text = format!(
            "#\n#Written by minikafka\ncluster.id={cluster_id}\ndirectory.id={directory_id}\nnode.id={node_id}\nversion=1\n"
        );
        write_atomically(&meta_path, text.as_bytes()).map_err(io_err(&meta_path))?;
        info!(cluster_id = %cluster_id, node_id, "formatted new data directory");
        self.cluster_id = cluster_id.to_string();
        Ok(())
    }

    /// Whether the previous run shut down cleanly (so no recovery scan is needed).
    pub fn was_clean(&self) -> bool {
        self.was_clean
    }

    /// Write the clean-shutdown marker; call only after every log is flushed and closed.
    pub fn mark_clean_shutdown(&self) -> io::Result<()> {
        let marker = self.path.join(CLEAN_SHUTDOWN_FILE);
        let f = File::create(&marker)?;
        f.sync_all()?;
        sync_dir(&self.path)
    }
}

/// Whether `path` holds nothing but the lock file (a directory this start creates).
fn only_lock_file(path: &Path) -> io::Result<bool> {
    for entry in fs::read_dir(path)? {
        if entry?.file_name() != LOCK_FILE {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Kafka's text form of a UUID: URL-safe base64 without padding (22 characters).
pub fn kafka_uuid_string(id: uuid::Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Write `data` to `path` through a temporary file, fsync it, rename it into place and fsync
/// the directory, so a crash leaves either the old or the new content.
pub fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// fsync a directory so that creations, renames and deletions in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_text_is_kafka_base64() {
        let id = uuid::Uuid::from_bytes([0xff; 16]);
        assert_eq!(kafka_uuid_string(id), "_____________________w");
        assert_eq!(
            kafka_uuid_string(uuid::Uuid::nil()),
            "AAAAAAAAAAAAAAAAAAAAAA"
        );
    }

    #[test]
    fn lock_meta_and_marker() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = DataDir::open(dir.path(), 1).unwrap();
        assert!(
            d.was_clean(),
            "a directory formatted now has nothing to recover"
        );
        assert_eq!(d.recorded_cluster_id(), None);
        d.format("AAAAAAAAAAAAAAAAAAAAAA", 1).unwrap();
        assert!(matches!(
            DataDir::open(dir.path(), 1),
            Err(MetaError::Locked(_))
        ));
        let cluster = d.cluster_id().to_string();
        d.mark_clean_shutdown().unwrap();
        drop(d);
        let d = DataDir::open(dir.path(), 1).unwrap();
        assert!(d.was_clean());
        assert_eq!(d.cluster_id(), cluster);
        assert_eq!(d.recorded_cluster_id(), Some(cluster.as_str()));
        drop(d);
        let d = DataDir::open(dir.path(), 1).unwrap();
        assert!(!d.was_clean(), "the marker is consumed at start");
        drop(d);
        // No meta.properties but a partition directory: not a new directory, so recovered.
        let other = tempfile::tempdir().unwrap();
        fs::create_dir(other.path().join("t-0")).unwrap();
        assert!(!DataDir::open(other.path(), 1).unwrap().was_clean());
        assert!(matches!(
            DataDir::open(dir.path(), 2),
            Err(MetaError::Mismatch { .. })
        ));
    }
}
