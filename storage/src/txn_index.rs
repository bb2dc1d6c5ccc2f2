//! The aborted transaction index (`%020d.txnindex`), byte-compatible with Kafka's `TransactionIndex` and
//! `AbortedTxn`.
//!
//! One entry per ABORT marker written for a producer that had an ongoing transaction on the partition, in the
//! segment that holds the marker, in marker order (34 bytes, big-endian):
//!
//! ```text
//! version i16 (= 0) | producer_id i64 | first_offset i64 | last_offset i64 | last_stable_offset i64
//! ```
//!
//! `first_offset` is the transaction's first offset, `last_offset` the ABORT marker's offset and
//! `last_stable_offset` the partition's LSO right after the marker. A `read_committed` fetch gets the entries that
//! overlap the fetched range so that the consumer can drop the aborted records.
//!
//! The file is created lazily by the first entry (most segments have none, as in Kafka). Entries are also kept in
//! memory (a segment rarely holds many aborts), so lookups do no I/O.
//!
//! Thread-safety: lookups take `&self`; mutation takes `&mut self`. Durability: writes go to the page cache; the
//! file is handed to a [`crate::SyncJob`] with the segment's other files.

use crate::index::open_rw;
use crate::open_files::CachedFile;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Suffix of aborted transaction index files.
pub const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// Size of one entry in bytes (`AbortedTxn.TOTAL_SIZE`).
pub const ABORTED_TXN_SIZE: usize = 34;
/// The entry version written and read (`AbortedTxn.CURRENT_VERSION`).
pub const ABORTED_TXN_VERSION: i16 = 0;

/// One aborted transaction (Kafka's `AbortedTxn`; the wire form is `FetchResponse.AbortedTransaction`, which
/// carries only the producer id and first offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer that aborted.
    pub producer_id: i64,
    /// First offset of the aborted transaction on this partition.
    pub first_offset: i64,
    /// Offset of the ABORT marker.
    pub last_offset: i64,
    /// The last stable offset right after the marker was written.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    /// The 34-byte encoding.
    pub fn encode(&self) -> [u8; ABORTED_TXN_SIZE] {
        let mut out = [0u8; ABORTED_TXN_SIZE];
        out[..2].copy_from_slice(&ABORTED_TXN_VERSION.to_be_bytes());
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    /// Decode one entry of exactly 34 bytes; `Err` names an unknown version.
    pub fn decode(b: &[u8; ABORTED_TXN_SIZE]) -> Result<AbortedTxn, String> {
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            i64::from_be_bytes(a)
        };
        let version = i16::from_be_bytes([b[0], b[1]]);
        if version != ABORTED_TXN_VERSION {
            return Err(format!("unknown aborted transaction version {version}"));
        }
        Ok(AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        })
    }
}

/// Decode a whole `.txnindex` file: the entries, and a problem if the file had a partial or unreadable tail (the
/// entries before it are returned).
pub fn decode_txn_index(data: &[u8]) -> (Vec<AbortedTxn>, Option<String>) {
    let mut out = Vec::with_capacity(data.len() / ABORTED_TXN_SIZE);
    for chunk in data.chunks(ABORTED_TXN_SIZE) {
        let Ok(entry) = <&[u8; ABORTED_TXN_SIZE]>::try_from(chunk) else {
            return (
                out,
                Some(format!(
                    "{} bytes is not a multiple of {ABORTED_TXN_SIZE}",
                    data.len()
                )),
            );
        };
        match AbortedTxn::decode(entry) {
            Ok(e) => out.push(e),
            Err(p) => return (out, Some(p)),
        }
    }
    (out, None)
}

/// Read and decode a `.txnindex` file (for tools).
pub fn read_txn_index_file(path: &Path) -> io::Result<(Vec<AbortedTxn>, Option<String>)> {
    Ok(decode_txn_index(&std::fs::read(path)?))
}

/// Whether `[from, upto)` needs no entry of a later segment once `entry` is seen (Kafka's
/// `TxnIndexSearchResult.isComplete`).
pub(crate) fn completes(entry: &AbortedTxn, upto: i64) -> bool {
    entry.last_stable_offset >= upto
}

/// A segment's aborted transaction index. See the module docs.
#[derive(Debug)]
pub struct TxnIndex {
    path: PathBuf,
    /// `None` until the first entry is written (or when no file exists).
    /// Reached through the bounded cache of open files ([`crate::open_files`]).
    file: Option<CachedFile>,
    entries: Vec<AbortedTxn>,
}

impl TxnIndex {
    /// An empty index whose file at `path` does not exist yet (any old file there is removed).
    pub(crate) fn create(path: PathBuf) -> io::Result<Self> {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        Ok(TxnIndex {
            path,
            file: None,
            entries: Vec::new(),
        })
    }

    /// Open the index at `path` (missing = empty). A partial or unreadable tail is cut off with a warning: the
    /// entries are written in order, so what precedes it is valid.
    pub(crate) fn open(path: PathBuf) -> io::Result<Self> {
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(TxnIndex {
                    path,
                    file: None,
                    entries: Vec::new(),
                })
            }
            Err(e) => return Err(e),
        };
        let (entries, problem) = decode_txn_index(&data);
        if let Some(p) = &problem {
            tracing::warn!(file = %path.display(), problem = %p, kept = entries.len(),
                "cutting a damaged transaction index");
        }
        let file = CachedFile::closed(path.clone());
        if problem.is_some() {
            let len = (entries.len() * ABORTED_TXN_SIZE) as u64;
            file.write(|f| f.set_len(len))?;
        }
        Ok(TxnIndex {
            file: Some(file),
            path,
            entries,
        })
    }

    /// The entries, in marker order.
    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    /// Path of the `.txnindex` file (which may not exist).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, if it exists.
    pub(crate) fn file(&self) -> Option<&CachedFile> {
        self.file.as_ref()
    }

    /// Append an entry, creating the file if needed. Entries must come in marker order.
    pub(crate) fn append(&mut self, entry: AbortedTxn) -> io::Result<()> {
        debug_assert!(self
            .entries
            .last()
            .is_none_or(|l| l.last_offset < entry.last_offset));
        let file = match &self.file {
            Some(f) => f,
            None => self.file.insert(CachedFile::opened(
                self.path.clone(),
                open_rw(&self.path, true)?,
            )),
        };
        let position = (self.entries.len() * ABORTED_TXN_SIZE) as u64;
        file.write(|f| f.write_all_at(&entry.encode(), position))?;
        self.entries.push(entry);
        Ok(())
    }

    /// Drop every entry whose marker is at or after `offset` (Kafka's `TransactionIndex.truncateTo`).
    pub(crate) fn truncate_to(&mut self, offset: i64) -> io::Result<()> {
        let keep = self.entries.partition_point(|e| e.last_offset < offset);
        if keep < self.entries.len() {
            if let Some(f) = &self.file {
                f.write(|file| file.set_len((keep * ABORTED_TXN_SIZE) as u64))?;
            }
            self.entries.truncate(keep);
        }
        Ok(())
    }

    /// Entries overlapping `[from, upto)` (`last_offset >= from && first_offset < upto`), appended to `out`;
    /// returns whether the search is complete (Kafka's `collectAbortedTxns`).
    pub(crate) fn collect(&self, from: i64, upto: i64, out: &mut Vec<AbortedTxn>) -> bool {
        for e in &self.entries {
            if e.last_offset >= from && e.first_offset < upto {
                out.push(*e);
            }
            if completes(e, upto) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_bytes_round_trip_and_damage() {
        let e = AbortedTxn {
            producer_id: 7,
            first_offset: 10,
            last_offset: 20,
            last_stable_offset: 21,
        };
        let b = e.encode();
        assert_eq!(&b[..2], &[0, 0]);
        assert_eq!(&b[2..10], &7i64.to_be_bytes());
        assert_eq!(&b[26..], &21i64.to_be_bytes());
        assert_eq!(AbortedTxn::decode(&b), Ok(e));
        let mut two = b.to_vec();
        two.extend_from_slice(&b);
        two.push(0);
        let (entries, problem) = decode_txn_index(&two);
        assert_eq!((entries.len(), problem.is_some()), (2, true));
        let mut bad = b;
        bad[1] = 1;
        assert!(AbortedTxn::decode(&bad).is_err());
    }

    #[test]
    fn lazy_file_append_truncate_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.txnindex");
        let mut idx = TxnIndex::create(path.clone()).unwrap();
        assert!(!path.exists());
        idx.truncate_to(0).unwrap();
        for i in 0..3 {
            idx.append(AbortedTxn {
                producer_id: i,
                first_offset: i * 10,
                last_offset: i * 10 + 5,
                last_stable_offset: i * 10 + 6,
            })
            .unwrap();
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * 34);
        idx.truncate_to(20).unwrap();
        assert_eq!(idx.entries().len(), 2);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * 34);
        let reopened = TxnIndex::open(path.clone()).unwrap();
        assert_eq!(reopened.entries(), idx.entries());
        let mut out = Vec::new();
        assert!(reopened.collect(6, 16, &mut out));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].producer_id, 1);
        // A torn tail is cut on open.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all_at(&[0; 5], 68)
            .unwrap();
        assert_eq!(TxnIndex::open(path.clone()).unwrap().entries().len(), 2);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 68);
    }
}
