//! The leader-epoch cache of a partition: which leader epoch started at which offset (Kafka's
//! `LeaderEpochFileCache`, persisted as the `leader-epoch-checkpoint` file in the partition
//! directory).
//!
//! Why it exists: a client that saw a record written under epoch E asks, after a leader change,
//! where epoch E ended (OffsetForLeaderEpoch, KIP-101/KIP-320) to find out whether the log it was
//! reading was truncated. A follower asks the same to find where its log diverges from the
//! leader's. Both questions are answered from this cache.
//!
//! The file has Kafka's checkpoint layout, so Kafka's tools read it:
//!
//! ```text
//! 0              version
//! 2              number of entries
//! 0 0            epoch start-offset
//! 3 1042
//! ```
//!
//! Entries are kept strictly increasing in both epoch and start offset. [`LeaderEpochCache::assign`]
//! drops the entries a new one contradicts (an epoch ≥ the new one, or a start offset ≥ the new
//! one), as Kafka does; the log end offset of a reopened log cuts off entries past it
//! ([`LeaderEpochCache::truncate_from_end`]); and a moved log start offset moves the first
//! entry up ([`LeaderEpochCache::truncate_from_start`]).
//!
//! Not thread-safe by itself: the partition that owns it serialises access.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};

/// The checkpoint file's name in a partition directory (Kafka's name).
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

/// Kafka's "no epoch" value (`RecordBatch.NO_PARTITION_LEADER_EPOCH`, `UNDEFINED_EPOCH`).
pub const UNDEFINED_EPOCH: i32 = -1;
/// Kafka's "no offset" answer of OffsetForLeaderEpoch (`UNDEFINED_EPOCH_OFFSET`).
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// One entry: `epoch` started at `start_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: i32,
    /// The first offset written under it.
    pub start_offset: i64,
}

/// The epoch → start offset map of one partition, with its checkpoint file.
#[derive(Debug)]
pub struct LeaderEpochCache {
    path: PathBuf,
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// Read `dir`'s checkpoint. `Ok(None)` when there is none (a partition written before the
    /// cache existed, or a new one). A malformed file is an I/O error of kind `InvalidData`.
    ///
    /// Blocking file I/O.
    pub fn load(dir: &Path) -> Result<Option<LeaderEpochCache>> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let entries = parse(&text).ok_or_else(|| {
            StorageError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: malformed leader-epoch checkpoint", path.display()),
            ))
        })?;
        Ok(Some(LeaderEpochCache { path, entries }))
    }

    /// An empty cache for `dir` (nothing written until the first [`LeaderEpochCache::assign`]).
    pub fn empty(dir: &Path) -> LeaderEpochCache {
        LeaderEpochCache {
            path: dir.join(LEADER_EPOCH_CHECKPOINT),
            entries: Vec::new(),
        }
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The newest epoch, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Record that `epoch` starts at `start_offset` and persist the file. Entries with an epoch
    /// ≥ `epoch` or a start offset ≥ `start_offset` are dropped first (Kafka's
    /// `assign`). Assigning the latest epoch again is a no-op.
    ///
    /// Blocking file I/O (write, fsync, rename).
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<()> {
        if epoch < 0 {
            return Ok(());
        }
        if let Some(last) = self.entries.last() {
            if last.epoch == epoch && last.start_offset <= start_offset {
                return Ok(());
            }
        }
        self.entries
            .retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        self.flush()
    }

    /// Drop every entry that starts at or after `end_offset` (the log ends there, e.g. after a
    /// crash lost its unflushed tail). Persists the file if something changed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> Result<()> {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        if self.entries.len() == before {
            return Ok(());
        }
        self.flush()
    }

    /// The log now starts at `start_offset`: drop the entries wholly below it and move the one
    /// that covers it up to it (Kafka's `truncateFromStart`). Persists the file if something
    /// changed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> Result<()> {
        if self.truncate_from_start_in_memory(start_offset) {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// [`LeaderEpochCache::truncate_from_start`] without persisting (a log directory that takes
    /// no writes); returns whether something changed, for a later [`LeaderEpochCache::flush`].
    pub fn truncate_from_start_in_memory(&mut self, start_offset: i64) -> bool {
        let covering = self
            .entries
            .iter()
            .rposition(|e| e.start_offset <= start_offset);
        let Some(i) = covering else {
            return false;
        };
        if i == 0 && self.entries[0].start_offset == start_offset {
            return false;
        }
        self.entries.drain(..i);
        self.entries[0].start_offset = start_offset;
        true
    }

    /// The epoch under which `offset` was written (the newest entry starting at or below it).
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.start_offset <= offset)
            .map(|e| e.epoch)
    }

    /// OffsetForLeaderEpoch: the largest epoch ≤ `requested` and the offset where it ended
    /// (the start of the next epoch, or `log_end_offset` for the latest), as Kafka's
    /// `endOffsetFor`:
    /// - `requested` is the latest epoch: `(requested, log_end_offset)`;
    /// - `requested` is above the latest, or undefined, or the cache is empty:
    ///   `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)`;
    /// - `requested` is below the first entry: `(requested, first start offset)`;
    /// - otherwise: `(largest epoch ≤ requested, start offset of the next epoch)`.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        let undefined = (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        if requested == UNDEFINED_EPOCH {
            return undefined;
        }
        match self.latest_epoch() {
            None => return undefined,
            Some(latest) if latest == requested => return (requested, log_end_offset),
            Some(_) => {}
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
            return undefined;
        };
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            Some(floor) => (floor.epoch, higher.start_offset),
            None => (requested, higher.start_offset),
        }
    }

    /// Write the checkpoint file from the entries in memory (after changes that could not be
    /// written). Blocking file I/O (write, fsync, rename, directory fsync).
    pub fn flush(&self) -> Result<()> {
        let mut text = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        let tmp = self.path.with_extension("tmp");
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

fn parse(text: &str) -> Option<Vec<EpochEntry>> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "0" {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut entries: Vec<EpochEntry> = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let line = lines.next()?;
        let (epoch, start) = line.trim().split_once(' ')?;
        let e = EpochEntry {
            epoch: epoch.parse().ok()?,
            start_offset: start.parse().ok()?,
        };
        if e.epoch < 0 || e.start_offset < 0 {
            return None;
        }
        if let Some(last) = entries.last() {
            if e.epoch <= last.epoch || e.start_offset < last.start_offset {
                return None;
            }
        }
        entries.push(e);
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> (tempfile::TempDir, LeaderEpochCache) {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::empty(dir.path());
        for (e, o) in entries {
            c.assign(*e, *o).unwrap();
        }
        (dir, c)
    }

    #[test]
    fn end_offset_for_follows_kafka() {
        let (_d, c) = cache(&[(0, 0), (2, 10), (5, 30)]);
        assert_eq!(c.end_offset_for(5, 42), (5, 42));
        assert_eq!(c.end_offset_for(2, 42), (2, 30));
        assert_eq!(c.end_offset_for(3, 42), (2, 30), "an epoch with no entry");
        assert_eq!(c.end_offset_for(0, 42), (0, 10));
        assert_eq!(c.end_offset_for(6, 42), (-1, -1), "above the latest");
        assert_eq!(c.end_offset_for(-1, 42), (-1, -1));
        let (_d, c) = cache(&[(3, 7), (4, 9)]);
        assert_eq!(c.end_offset_for(1, 20), (1, 7), "below the first entry");
        let (_d, empty) = cache(&[]);
        assert_eq!(empty.end_offset_for(0, 20), (-1, -1));
    }

    #[test]
    fn assign_drops_contradicted_entries_and_persists() {
        let (d, mut c) = cache(&[(0, 0), (1, 5), (2, 9)]);
        c.assign(3, 5).unwrap();
        assert_eq!(
            c.entries(),
            &[
                EpochEntry {
                    epoch: 0,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 3,
                    start_offset: 5
                }
            ]
        );
        c.assign(3, 8).unwrap();
        assert_eq!(c.entries().len(), 2, "same epoch again is a no-op");
        let text = fs::read_to_string(d.path().join(LEADER_EPOCH_CHECKPOINT)).unwrap();
        assert_eq!(text, "0\n2\n0 0\n3 5\n");
        let again = LeaderEpochCache::load(d.path()).unwrap().unwrap();
        assert_eq!(again.entries(), c.entries());
        // An empty log that restarts: the new epoch replaces the old one at the same offset.
        let (_d, mut c) = cache(&[(0, 0)]);
        c.assign(1, 0).unwrap();
        assert_eq!(c.entries().len(), 1);
        assert_eq!(c.latest_epoch(), Some(1));
    }

    #[test]
    fn truncation_from_both_ends() {
        let (_d, mut c) = cache(&[(0, 0), (1, 5), (2, 9)]);
        c.truncate_from_end(9).unwrap();
        assert_eq!(c.latest_epoch(), Some(1));
        c.truncate_from_start(7).unwrap();
        assert_eq!(
            c.entries(),
            &[EpochEntry {
                epoch: 1,
                start_offset: 7
            }]
        );
        assert_eq!(c.epoch_for_offset(8), Some(1));
        assert_eq!(c.epoch_for_offset(3), None);
    }

    #[test]
    fn malformed_files_are_refused() {
        for text in [
            "",
            "1\n0\n",
            "0\n2\n0 0\n",
            "0\n1\nx 0\n",
            "0\n2\n1 0\n1 5\n",
            "0\n1\n-3 0\n",
        ] {
            let d = tempfile::tempdir().unwrap();
            fs::write(d.path().join(LEADER_EPOCH_CHECKPOINT), text).unwrap();
            assert!(LeaderEpochCache::load(d.path()).is_err(), "{text:?}");
        }
        let d = tempfile::tempdir().unwrap();
        assert!(LeaderEpochCache::load(d.path()).unwrap().is_none());
    }
}
