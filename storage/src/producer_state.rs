//! The idempotent and transactional producers' per-partition state (Kafka's `ProducerStateManager`,
//! `ProducerAppendInfo`, `ProducerStateEntry` and `BatchMetadata`): producer id → epoch, the metadata of its last
//! [`NUM_BATCHES_TO_RETAIN`] batches, its last timestamp, its ongoing transaction's first offset, the epoch of the
//! last transaction coordinator that wrote a marker for it, and `%020d.snapshot` files of that map. Alongside the
//! map an ordered set of the ongoing transactions' first offsets gives the first unstable offset (and so the last
//! stable offset) in O(log n); it is kept in step by every change of the map (append, marker, replay, snapshot
//! load, truncation, expiry — which never removes a producer with an ongoing transaction).
//!
//! Validation ([`crate::Log::append`], a leader append from a client) follows Kafka 4.x
//! `UnifiedLog.analyzeAndValidateProducerState` and `ProducerAppendInfo.checkProducerEpoch`/`checkSequence`:
//!
//! * batches with `producer_id == -1` are not tracked at all;
//! * a batch of the current epoch whose `(first sequence, last sequence)` equals one of the cached batches is a
//!   duplicate: the whole record set is then written not at all and the append answers with the cached batch's
//!   offsets (Kafka returns at the first duplicate batch of a request, whatever the other batches are);
//! * epoch below the current one → [`StorageError::InvalidProducerEpoch`];
//! * epoch above the current one → the first sequence must be 0 ([`StorageError::OutOfOrderSequence`]), and the
//!   entry restarts at the new epoch (its cached batches are dropped);
//! * same epoch → the first sequence must follow the last one (`last + 1`, or 0 after `i32::MAX`), else
//!   [`StorageError::OutOfOrderSequence`];
//! * a transactional batch starts a transaction if none is ongoing; a non-transactional batch during one is
//!   [`StorageError::InvalidTxnState`];
//! * a transaction marker (`appendEndTxnMarker`): an epoch below the current one is
//!   [`StorageError::InvalidProducerEpoch`], a coordinator epoch below the recorded one is
//!   [`StorageError::TransactionCoordinatorFenced`]; otherwise the marker sets the producer's epoch (fencing older
//!   epochs' data batches from then on), ends the ongoing transaction (if any: only then does it complete a
//!   transaction, and only an ABORT of one gets a `.txnindex` entry) and records the coordinator epoch. A marker
//!   for a producer without an ongoing transaction is still written.
//! * an unknown producer id (never seen, expired, or its state lost) is accepted with ANY epoch and ANY sequence:
//!   `checkSequence` only rejects a non-zero sequence for a new epoch when the current epoch is not
//!   `NO_PRODUCER_EPOCH`, and accepts any sequence of the same epoch when the stored entry has no epoch ("If there
//!   is no current producer epoch (possibly because all producer records have been deleted due to retention or the
//!   DeleteRecords API) accept writes with any sequence number"). Since KIP-360 the broker no longer answers
//!   `UNKNOWN_PRODUCER_ID` for this; the only exception in Kafka 4.x is the transactions-v2 verification state of
//!   *transactional* producers, which minikafka does not have.
//!
//! Appends from a coordinator (Kafka's `AppendOrigin.COORDINATOR`: the group coordinator's transactional offset
//! commits, the transaction markers) skip duplicate detection and the sequence check but keep the epoch check and
//! the transaction tracking.
//!
//! Several batches of one producer in one record set are validated one after the other against the state the
//! earlier ones produced; duplicates are looked up in the state stored before the append, as Kafka does.
//!
//! Appends from a follower replica ([`crate::Log::append_as_follower`], Kafka's `AppendOrigin.REPLICATION`) and
//! rebuilding from the log (recovery, truncation) share one path, `ProducerStateManager::replay`, batch by batch
//! in offset order: no duplicate detection, no sequence checks, an older producer or coordinator epoch is only
//! logged (a follower takes whatever its leader accepted), and a non-transactional batch during a transaction is
//! taken as it comes (Kafka's follower would refuse it; the leader never writes one). Otherwise the state changes
//! exactly as on the leader: epoch, last batches and sequence, ongoing transaction, coordinator epoch; a marker's
//! outcome is read from its control record, and each ABORT that ends a transaction yields its `.txnindex` entry
//! (whose last stable offset is taken right after that marker, as the leader took it). Sharing the path means a
//! follower reopened after a crash re-derives exactly the state its appends built.
//!
//! Snapshot file format (Kafka's `PID_SNAPSHOT_MAP_SCHEMA`, version 1, big-endian):
//!
//! ```text
//! version i16 (= 1) | crc u32 (CRC-32C of everything after it) | count i32 | count × entry
//! entry: producer_id i64, epoch i16, last_sequence i32, last_offset i64, offset_delta i32, timestamp i64,
//!        coordinator_epoch i32, current_txn_first_offset i64 (-1 = none)          (46 bytes)
//! ```
//!
//! A snapshot keeps only the LAST batch of each producer (as Kafka's): after a reload from a snapshot, only a retry
//! of that batch (or of batches appended after the snapshot offset) is recognised as a duplicate.
//!
//! Thread-safety: plain data owned by the [`crate::Log`], mutated through `&mut`. Snapshot files written when a
//! segment rolls are fsynced by the next [`crate::SyncJob`]; those written at open, truncation and close are
//! fsynced at once.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::{self, BatchHeader, TxnMarker};
use crate::error::{Result, StorageError};
use crate::segment::{file_name, parse_file_name};
use crate::txn_index::AbortedTxn;

/// `RecordBatch.NO_PRODUCER_ID`: a batch without an idempotent producer.
pub const NO_PRODUCER_ID: i64 = -1;
/// `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `RecordBatch.NO_SEQUENCE`.
pub const NO_SEQUENCE: i32 = -1;
/// Batches cached per producer for duplicate detection (`ProducerStateEntry.NUM_BATCHES_TO_RETAIN`, which is also
/// the client's `max.in.flight.requests.per.connection` limit with idempotence).
pub const NUM_BATCHES_TO_RETAIN: usize = 5;
/// Kafka's default `producer.id.expiration.ms` (1 day).
pub const DEFAULT_PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;
/// Suffix of producer state snapshot files (`LogFileUtils.PRODUCER_SNAPSHOT_FILE_SUFFIX`).
pub const SNAPSHOT_SUFFIX: &str = ".snapshot";
/// The snapshot format version written and read (`PRODUCER_SNAPSHOT_VERSION`).
pub const SNAPSHOT_VERSION: i16 = 1;

/// Bytes before the entries: version, crc, array length.
const SNAPSHOT_HEADER: usize = 2 + 4 + 4;
/// Where the CRC-covered range starts (`PRODUCER_ENTRIES_OFFSET`).
const SNAPSHOT_CRC_START: usize = 6;
/// Size of one encoded entry.
const SNAPSHOT_ENTRY: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;

/// `DefaultRecordBatch.incrementSequence`: `seq + inc`, wrapping from `i32::MAX` to 0.
pub fn increment_sequence(seq: i32, inc: i32) -> i32 {
    if seq > i32::MAX - inc {
        inc - (i32::MAX - seq) - 1
    } else {
        seq + inc
    }
}

/// `DefaultRecordBatch.decrementSequence`: `seq - dec`, wrapping from 0 to `i32::MAX`.
pub fn decrement_sequence(seq: i32, dec: i32) -> i32 {
    if seq < dec {
        i32::MAX - (dec - seq) + 1
    } else {
        seq - dec
    }
}

/// `DefaultRecordBatch.lastSequence`: the sequence of the batch's last record ([`NO_SEQUENCE`] if it has none).
pub fn last_sequence(h: &BatchHeader) -> i32 {
    if h.base_sequence == NO_SEQUENCE {
        NO_SEQUENCE
    } else {
        increment_sequence(h.base_sequence, h.last_offset_delta)
    }
}

/// `ProducerAppendInfo.inSequence`: whether `next` directly follows `last`.
fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

/// Metadata of one appended batch (Kafka's `BatchMetadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// Sequence of the batch's last record.
    pub last_seq: i32,
    /// Offset of the batch's last record.
    pub last_offset: i64,
    /// `last_offset - first_offset` (= last sequence - first sequence).
    pub offset_delta: i32,
    /// The batch's max timestamp as stored (the append time with `LogAppendTime`).
    pub timestamp: i64,
}

impl BatchMetadata {
    /// Sequence of the batch's first record.
    pub fn first_seq(&self) -> i32 {
        decrement_sequence(self.last_seq, self.offset_delta)
    }

    /// Offset of the batch's first record.
    pub fn first_offset(&self) -> i64 {
        self.last_offset - i64::from(self.offset_delta)
    }
}

/// The state of one producer id (Kafka's `ProducerStateEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateEntry {
    producer_id: i64,
    producer_epoch: i16,
    /// Oldest first; at most [`NUM_BATCHES_TO_RETAIN`], all of `producer_epoch`.
    batches: VecDeque<BatchMetadata>,
    coordinator_epoch: i32,
    last_timestamp: i64,
    current_txn_first_offset: Option<i64>,
}

impl ProducerStateEntry {
    /// `ProducerStateEntry.empty`: no epoch, no batches.
    fn empty(producer_id: i64) -> Self {
        ProducerStateEntry {
            producer_id,
            producer_epoch: NO_PRODUCER_EPOCH,
            batches: VecDeque::with_capacity(NUM_BATCHES_TO_RETAIN),
            coordinator_epoch: -1,
            last_timestamp: -1,
            current_txn_first_offset: None,
        }
    }

    /// The producer id.
    pub fn producer_id(&self) -> i64 {
        self.producer_id
    }

    /// The current producer epoch ([`NO_PRODUCER_EPOCH`] if unknown).
    pub fn producer_epoch(&self) -> i16 {
        self.producer_epoch
    }

    /// The cached batches, oldest first.
    pub fn batches(&self) -> impl Iterator<Item = &BatchMetadata> + '_ {
        self.batches.iter()
    }

    /// Last sequence written ([`NO_SEQUENCE`] with no cached batch).
    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    /// Last offset written (-1 with no cached batch).
    pub fn last_data_offset(&self) -> i64 {
        self.batches.back().map_or(-1, |b| b.last_offset)
    }

    /// Timestamp of the last append (drives expiry).
    pub fn last_timestamp(&self) -> i64 {
        self.last_timestamp
    }

    /// Epoch of the last transaction coordinator that wrote a marker (-1 if none).
    pub fn coordinator_epoch(&self) -> i32 {
        self.coordinator_epoch
    }

    /// First offset of the ongoing transaction, if any.
    pub fn current_txn_first_offset(&self) -> Option<i64> {
        self.current_txn_first_offset
    }

    /// `maybeUpdateProducerEpoch`: a new epoch drops the cached batches.
    fn maybe_update_epoch(&mut self, epoch: i16) {
        if self.producer_epoch != epoch {
            self.batches.clear();
            self.producer_epoch = epoch;
        }
    }

    /// `addBatch`.
    fn add_batch(&mut self, epoch: i16, batch: BatchMetadata) {
        self.maybe_update_epoch(epoch);
        if self.batches.len() == NUM_BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
        self.last_timestamp = batch.timestamp;
    }

    /// `findDuplicateBatch`: the cached batch of this epoch with exactly this sequence range.
    fn find_duplicate(&self, epoch: i16, first_seq: i32, last_seq: i32) -> Option<BatchMetadata> {
        if epoch != self.producer_epoch {
            return None;
        }
        self.batches
            .iter()
            .find(|b| b.first_seq() == first_seq && b.last_seq == last_seq)
            .copied()
    }

    /// The snapshot form (only the last batch survives, as in Kafka's `writeSnapshot`).
    pub fn to_snapshot_entry(&self) -> ProducerSnapshotEntry {
        let last = self.batches.back();
        ProducerSnapshotEntry {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            last_sequence: last.map_or(NO_SEQUENCE, |b| b.last_seq),
            last_offset: last.map_or(-1, |b| b.last_offset),
            offset_delta: last.map_or(0, |b| b.offset_delta),
            last_timestamp: self.last_timestamp,
            coordinator_epoch: self.coordinator_epoch,
            current_txn_first_offset: self.current_txn_first_offset.unwrap_or(-1),
        }
    }

    /// Kafka's `readSnapshot` entry: one batch if `last_offset >= 0`.
    fn from_snapshot_entry(e: &ProducerSnapshotEntry) -> Self {
        let mut entry = ProducerStateEntry {
            producer_id: e.producer_id,
            producer_epoch: e.producer_epoch,
            batches: VecDeque::with_capacity(NUM_BATCHES_TO_RETAIN),
            coordinator_epoch: e.coordinator_epoch,
            last_timestamp: e.last_timestamp,
            current_txn_first_offset: (e.current_txn_first_offset >= 0)
                .then_some(e.current_txn_first_offset),
        };
        if e.last_offset >= 0 {
            entry.batches.push_back(BatchMetadata {
                last_seq: e.last_sequence,
                last_offset: e.last_offset,
                offset_delta: e.offset_delta,
                timestamp: e.last_timestamp,
            });
        }
        entry
    }
}

/// One producer as stored in a snapshot file, and as reported by [`crate::Log::producers`] (the fields of Kafka's
/// DescribeProducers response, plus the last batch's offset delta).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSnapshotEntry {
    /// Producer id.
    pub producer_id: i64,
    /// Current epoch.
    pub producer_epoch: i16,
    /// Last sequence written ([`NO_SEQUENCE`] if none).
    pub last_sequence: i32,
    /// Offset of the last record written (-1 if none).
    pub last_offset: i64,
    /// Last offset minus first offset of the last batch.
    pub offset_delta: i32,
    /// Timestamp of the last append.
    pub last_timestamp: i64,
    /// Epoch of the last transaction coordinator that wrote a marker (-1 if none).
    pub coordinator_epoch: i32,
    /// First offset of the ongoing transaction (-1 if none).
    pub current_txn_first_offset: i64,
}

/// Encode a snapshot file (format v1, see the module docs).
pub fn encode_snapshot(entries: &[ProducerSnapshotEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SNAPSHOT_HEADER + entries.len() * SNAPSHOT_ENTRY);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
    // The CRC is filled in below. A partition never holds 2^31 producers; saturate rather than wrap if it did.
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(
        &i32::try_from(entries.len())
            .unwrap_or(i32::MAX)
            .to_be_bytes(),
    );
    for e in entries {
        out.extend_from_slice(&e.producer_id.to_be_bytes());
        out.extend_from_slice(&e.producer_epoch.to_be_bytes());
        out.extend_from_slice(&e.last_sequence.to_be_bytes());
        out.extend_from_slice(&e.last_offset.to_be_bytes());
        out.extend_from_slice(&e.offset_delta.to_be_bytes());
        out.extend_from_slice(&e.last_timestamp.to_be_bytes());
        out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        out.extend_from_slice(&e.current_txn_first_offset.to_be_bytes());
    }
    let crc = crc32c::crc32c(&out[SNAPSHOT_CRC_START..]);
    out[2..6].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Big-endian reader over a buffer whose length was checked up front.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0; N];
        a.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        a
    }
}

/// Decode a snapshot file; [`StorageError::CorruptSnapshot`] for an unknown version, a CRC mismatch or a length
/// that does not match the entry count.
pub fn decode_snapshot(buf: &[u8]) -> Result<Vec<ProducerSnapshotEntry>> {
    let corrupt = |m: String| Err(StorageError::CorruptSnapshot(m));
    if buf.len() < SNAPSHOT_HEADER {
        return corrupt(format!("{} bytes is shorter than the header", buf.len()));
    }
    let mut r = Reader { buf, pos: 0 };
    let version = i16::from_be_bytes(r.take());
    if version != SNAPSHOT_VERSION {
        return corrupt(format!("unknown snapshot version {version}"));
    }
    let crc = u32::from_be_bytes(r.take());
    let computed = crc32c::crc32c(&buf[SNAPSHOT_CRC_START..]);
    if crc != computed {
        return corrupt(format!(
            "CRC mismatch (stored {crc:#010x}, computed {computed:#010x})"
        ));
    }
    let count = i32::from_be_bytes(r.take());
    let expected = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(SNAPSHOT_ENTRY))
        .and_then(|n| n.checked_add(SNAPSHOT_HEADER));
    if expected != Some(buf.len()) {
        return corrupt(format!("{count} entries do not fill {} bytes", buf.len()));
    }
    // `count >= 0` and the length matches, so every `take` below is in bounds.
    let mut out = Vec::with_capacity(buf.len() / SNAPSHOT_ENTRY);
    while r.pos < buf.len() {
        out.push(ProducerSnapshotEntry {
            producer_id: i64::from_be_bytes(r.take()),
            producer_epoch: i16::from_be_bytes(r.take()),
            last_sequence: i32::from_be_bytes(r.take()),
            last_offset: i64::from_be_bytes(r.take()),
            offset_delta: i32::from_be_bytes(r.take()),
            last_timestamp: i64::from_be_bytes(r.take()),
            coordinator_epoch: i32::from_be_bytes(r.take()),
            current_txn_first_offset: i64::from_be_bytes(r.take()),
        });
    }
    Ok(out)
}

/// Read and decode a snapshot file (for tools; the log reads its own).
pub fn read_snapshot(path: &Path) -> Result<Vec<ProducerSnapshotEntry>> {
    decode_snapshot(&std::fs::read(path)?)
}

/// Who appends as leader (Kafka's `AppendOrigin`; `REPLICATION`, a follower's append and the rebuild from the log,
/// is [`ProducerStateManager::replay`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A producer's Produce request: every check.
    Client,
    /// The group or transaction coordinator: no duplicate detection, no sequence check.
    Coordinator,
}

/// A transaction ended by a marker (Kafka's `CompletedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompletedTxn {
    pub(crate) producer_id: i64,
    pub(crate) first_offset: i64,
    /// The marker's offset.
    pub(crate) last_offset: i64,
    pub(crate) aborted: bool,
}

/// The producer-state change of a validated record set.
#[derive(Debug, Clone, Default)]
pub(crate) struct StateUpdate {
    /// The entries to store ([`ProducerStateManager::apply`]).
    pub(crate) entries: Vec<ProducerStateEntry>,
    /// Transactions the record set's markers ended, in offset order.
    pub(crate) completed: Vec<CompletedTxn>,
}

/// What [`ProducerStateManager::analyze`] decided for a record set.
#[derive(Debug)]
pub(crate) enum AppendPlan {
    /// A batch duplicates this cached batch: write nothing, answer with its offsets.
    Duplicate(BatchMetadata),
    /// Valid: after the write, apply this update.
    Update(StateUpdate),
}

/// One batch of a record set to analyze, with its assigned offsets and stored max timestamp.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IncomingBatch<'a> {
    pub(crate) header: &'a BatchHeader,
    pub(crate) first_offset: i64,
    pub(crate) max_timestamp: i64,
    /// For a control batch: its transaction marker (`None` for an empty control batch).
    pub(crate) marker: Option<(TxnMarker, i32)>,
}

/// The producer map of one partition plus its snapshot files (Kafka's `ProducerStateManager`).
#[derive(Debug)]
pub(crate) struct ProducerStateManager {
    dir: PathBuf,
    producers: BTreeMap<i64, ProducerStateEntry>,
    /// Ongoing transactions: first offset → producer id (Kafka's `ongoingTxns`); always exactly the entries'
    /// `current_txn_first_offset`s.
    ongoing: BTreeMap<i64, i64>,
    /// Snapshot files on disk by offset.
    snapshots: BTreeMap<i64, PathBuf>,
    /// The offset the map is up to date with (`lastMapOffset`).
    map_end_offset: i64,
    /// The offset of the last snapshot taken (`lastSnapOffset`).
    last_snap_offset: i64,
    /// Snapshots written without fsync (at roll): (the log's directory generation at their creation, offset,
    /// file); fsynced by the log's next sync job.
    unsynced: Vec<(u64, i64, Arc<File>)>,
}

impl ProducerStateManager {
    /// An empty map that knows the snapshot files in `dir`.
    pub(crate) fn new(dir: &Path) -> io::Result<Self> {
        let mut snapshots = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if let Some(offset) = entry
                .file_name()
                .to_str()
                .and_then(|n| parse_file_name(n, SNAPSHOT_SUFFIX))
            {
                snapshots.insert(offset, entry.path());
            }
        }
        Ok(ProducerStateManager {
            dir: dir.to_path_buf(),
            producers: BTreeMap::new(),
            ongoing: BTreeMap::new(),
            snapshots,
            map_end_offset: 0,
            last_snap_offset: 0,
            unsynced: Vec::new(),
        })
    }

    /// Offsets of the snapshot files, ascending.
    pub(crate) fn snapshot_offsets(&self) -> Vec<i64> {
        self.snapshots.keys().copied().collect()
    }

    /// Offset of the newest snapshot file.
    pub(crate) fn latest_snapshot_offset(&self) -> Option<i64> {
        self.snapshots.keys().next_back().copied()
    }

    /// The offset the map is up to date with.
    pub(crate) fn map_end_offset(&self) -> i64 {
        self.map_end_offset
    }

    /// `updateMapEndOffset`.
    pub(crate) fn update_map_end_offset(&mut self, offset: i64) {
        self.map_end_offset = offset;
    }

    /// The tracked producers, by id.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &ProducerStateEntry> + '_ {
        self.producers.values()
    }

    /// First offset of the earliest ongoing transaction (Kafka's `firstUnstableOffset`, without replication).
    /// O(log n).
    pub(crate) fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// The ongoing transactions as (first offset, producer id), by first offset.
    pub(crate) fn ongoing_transactions(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().map(|(o, p)| (*o, *p))
    }

    /// Store `entry`, keeping the ongoing-transaction set in step.
    fn put(&mut self, entry: ProducerStateEntry) {
        if let Some(old) = self.producers.get(&entry.producer_id) {
            if let Some(first) = old.current_txn_first_offset {
                self.ongoing.remove(&first);
            }
        }
        if let Some(first) = entry.current_txn_first_offset {
            self.ongoing.insert(first, entry.producer_id);
        }
        self.producers.insert(entry.producer_id, entry);
    }

    /// Forget every producer.
    fn clear(&mut self) {
        self.producers.clear();
        self.ongoing.clear();
    }

    /// The `.txnindex` entry of an aborted transaction just completed (the update holding it applied): the LSO
    /// after the marker is the first offset of the earliest other ongoing transaction, else the marker's offset
    /// + 1 (Kafka's `lastStableOffset(completedTxn)`).
    pub(crate) fn aborted_entry(&self, txn: &CompletedTxn) -> AbortedTxn {
        let last_stable_offset = self
            .ongoing
            .iter()
            .find(|(_, pid)| **pid != txn.producer_id)
            .map_or(txn.last_offset + 1, |(first, _)| *first);
        AbortedTxn {
            producer_id: txn.producer_id,
            first_offset: txn.first_offset,
            last_offset: txn.last_offset,
            last_stable_offset,
        }
    }

    /// Kafka's `removeStraySnapshots`: delete snapshots that are not at a segment base offset, except the newest
    /// such stray one if it lies above every segment base (the one written at clean shutdown). Returns whether
    /// files were deleted.
    pub(crate) fn remove_stray_snapshots(&mut self, segment_bases: &[i64]) -> io::Result<bool> {
        let max_base = segment_bases.iter().copied().max();
        let strays: Vec<i64> = self
            .snapshots
            .keys()
            .copied()
            .filter(|o| !segment_bases.contains(o))
            .collect();
        let mut changed = false;
        for (i, &offset) in strays.iter().enumerate() {
            let newest = i + 1 == strays.len();
            if !newest || max_base.is_some_and(|m| offset < m) {
                changed |= self.delete_snapshot(offset)?;
            }
        }
        Ok(changed)
    }

    /// Write a snapshot at the map end offset if the map moved past the last snapshot (`takeSnapshot`). With
    /// `sync` the file is fsynced now; otherwise the caller hands it to [`ProducerStateManager::add_unsynced`].
    /// Returns the new file, if one was written.
    pub(crate) fn take_snapshot(&mut self, sync: bool) -> io::Result<Option<Arc<File>>> {
        if self.map_end_offset <= self.last_snap_offset {
            return Ok(None);
        }
        let offset = self.map_end_offset;
        let path = self.dir.join(file_name(offset, SNAPSHOT_SUFFIX));
        let entries: Vec<ProducerSnapshotEntry> = self
            .producers
            .values()
            .map(ProducerStateEntry::to_snapshot_entry)
            .collect();
        let mut file = File::create(&path)?;
        file.write_all(&encode_snapshot(&entries))?;
        if sync {
            file.sync_data()?;
        }
        tracing::debug!(dir = %self.dir.display(), offset, producers = entries.len(), "wrote producer snapshot");
        self.snapshots.insert(offset, path);
        self.last_snap_offset = offset;
        Ok(Some(Arc::new(file)))
    }

    /// Remember a snapshot file written without fsync, tagged with the directory generation of its creation.
    pub(crate) fn add_unsynced(&mut self, generation: u64, file: Arc<File>) {
        let offset = self.last_snap_offset;
        self.unsynced.push((generation, offset, file));
    }

    /// Snapshot files written without fsync (for [`crate::Log::sync_job`]).
    pub(crate) fn unsynced_files(&self) -> impl Iterator<Item = Arc<File>> + '_ {
        self.unsynced.iter().map(|(_, _, f)| Arc::clone(f))
    }

    /// Forget unsynced snapshots created up to directory generation `generation` (a sync job covering them ran).
    pub(crate) fn mark_synced(&mut self, generation: u64) {
        self.unsynced.retain(|(g, _, _)| *g > generation);
    }

    /// Delete the snapshot at `offset` if there is one. Returns whether a file was deleted.
    pub(crate) fn delete_snapshot(&mut self, offset: i64) -> io::Result<bool> {
        self.unsynced.retain(|(_, o, _)| *o != offset);
        let Some(path) = self.snapshots.remove(&offset) else {
            return Ok(false);
        };
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(true),
        }
    }

    /// Delete every snapshot below `offset` (`deleteSnapshotsBefore`). Returns whether files were deleted.
    pub(crate) fn delete_snapshots_before(&mut self, offset: i64) -> io::Result<bool> {
        let below: Vec<i64> = self.snapshots.range(..offset).map(|(o, _)| *o).collect();
        let mut changed = false;
        for o in below {
            changed |= self.delete_snapshot(o)?;
        }
        Ok(changed)
    }

    /// `truncateFullyAndStartAt`: forget every producer, delete every snapshot, restart the map at `offset`.
    pub(crate) fn truncate_fully_and_start_at(&mut self, offset: i64) -> io::Result<()> {
        self.clear();
        for o in self.snapshot_offsets() {
            self.delete_snapshot(o)?;
        }
        self.last_snap_offset = 0;
        self.map_end_offset = offset;
        Ok(())
    }

    /// `onLogStartOffsetIncremented`: the map end never lies below the log start.
    pub(crate) fn on_log_start_offset_incremented(&mut self, log_start: i64) {
        self.map_end_offset = self.map_end_offset.max(log_start);
        self.last_snap_offset = self.latest_snapshot_offset().unwrap_or(log_start);
    }

    /// `truncateAndReload`: delete snapshots above `log_end` or at/below `log_start`; if the map is not at
    /// `log_end`, clear it and load the newest readable snapshot (deleting corrupt ones), leaving the map end at
    /// the snapshot's offset (or `log_start` without one) for the caller to replay the log from.
    pub(crate) fn truncate_and_reload(&mut self, log_start: i64, log_end: i64) -> io::Result<()> {
        let out_of_range: Vec<i64> = self
            .snapshots
            .keys()
            .copied()
            .filter(|&o| o > log_end || o <= log_start)
            .collect();
        for o in out_of_range {
            self.delete_snapshot(o)?;
        }
        if log_end == self.map_end_offset {
            self.on_log_start_offset_incremented(log_start);
            return Ok(());
        }
        self.clear();
        while let Some((offset, path)) = self
            .snapshots
            .iter()
            .next_back()
            .map(|(o, p)| (*o, p.clone()))
        {
            match read_snapshot(&path) {
                Ok(entries) => {
                    tracing::info!(dir = %self.dir.display(), offset, producers = entries.len(),
                        "loaded producer state from snapshot");
                    for e in &entries {
                        self.put(ProducerStateEntry::from_snapshot_entry(e));
                    }
                    self.last_snap_offset = offset;
                    self.map_end_offset = offset;
                    return Ok(());
                }
                Err(StorageError::Io(e)) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                Err(e) => {
                    tracing::warn!(dir = %self.dir.display(), offset, error = %e,
                        "deleting unreadable producer snapshot");
                    self.delete_snapshot(offset)?;
                }
            }
        }
        self.last_snap_offset = log_start;
        self.map_end_offset = log_start;
        Ok(())
    }

    /// Validate a record set about to be appended as leader (see the module docs). Reads the state only.
    pub(crate) fn analyze(
        &self,
        batches: &[IncomingBatch<'_>],
        origin: Origin,
    ) -> Result<AppendPlan> {
        let mut staged: HashMap<i64, ProducerStateEntry> = HashMap::new();
        let mut completed = Vec::new();
        for b in batches {
            let h = b.header;
            if h.producer_id <= NO_PRODUCER_ID {
                continue;
            }
            let stored = self.producers.get(&h.producer_id);
            let last_seq = last_sequence(h);
            if !h.is_control() && origin == Origin::Client {
                if let Some(dup) = stored
                    .and_then(|e| e.find_duplicate(h.producer_epoch, h.base_sequence, last_seq))
                {
                    return Ok(AppendPlan::Duplicate(dup));
                }
            }
            let entry = staged.entry(h.producer_id).or_insert_with(|| {
                stored
                    .cloned()
                    .unwrap_or_else(|| ProducerStateEntry::empty(h.producer_id))
            });
            let stored_epoch = stored.map_or(NO_PRODUCER_EPOCH, |e| e.producer_epoch);
            if h.is_control() {
                // `ProducerAppendInfo.append`: an empty control batch (its transaction cleaned away) changes nothing.
                let Some((marker, coordinator_epoch)) = b.marker else {
                    continue;
                };
                check_epoch(entry, h.producer_epoch, b.first_offset)?;
                check_coordinator_epoch(entry, coordinator_epoch, b.first_offset)?;
                completed.extend(end_txn(
                    entry,
                    h.producer_epoch,
                    marker,
                    coordinator_epoch,
                    b.first_offset,
                    b.max_timestamp,
                ));
                continue;
            }
            check_epoch(entry, h.producer_epoch, b.first_offset)?;
            if origin == Origin::Client {
                check_sequence(entry, stored_epoch, h, b.first_offset)?;
            }
            entry.add_batch(
                h.producer_epoch,
                BatchMetadata {
                    last_seq,
                    last_offset: b.first_offset + i64::from(h.last_offset_delta),
                    offset_delta: h.last_offset_delta,
                    timestamp: b.max_timestamp,
                },
            );
            match (entry.current_txn_first_offset, h.is_transactional()) {
                (Some(_), false) => {
                    return Err(StorageError::InvalidTxnState(format!(
                        "expected a transactional write from producer {} at offset {}",
                        h.producer_id, b.first_offset
                    )))
                }
                (None, true) => entry.current_txn_first_offset = Some(b.first_offset),
                _ => {}
            }
        }
        Ok(AppendPlan::Update(StateUpdate {
            entries: staged.into_values().collect(),
            completed,
        }))
    }

    /// Store the entries of a validated and written record set (`update`). The caller then turns the update's
    /// aborted transactions into `.txnindex` entries with [`ProducerStateManager::aborted_entry`].
    pub(crate) fn apply(&mut self, entries: Vec<ProducerStateEntry>) {
        for e in entries {
            self.put(e);
        }
    }

    /// Apply one stored batch, in offset order: while rebuilding from the log, and for a follower's append (Kafka's
    /// `REPLICATION` origin: nothing is rejected, see the module docs). `whole` is the whole batch for a control
    /// batch (to read its marker). Returns the `.txnindex` entry of an aborted transaction the batch's marker
    /// ended, to be appended to the segment holding the marker.
    pub(crate) fn replay(&mut self, h: &BatchHeader, whole: Option<&[u8]>) -> Option<AbortedTxn> {
        if h.producer_id <= NO_PRODUCER_ID {
            return None;
        }
        let mut entry = self
            .producers
            .get(&h.producer_id)
            .cloned()
            .unwrap_or_else(|| ProducerStateEntry::empty(h.producer_id));
        if h.producer_epoch < entry.producer_epoch {
            tracing::warn!(
                producer_id = h.producer_id,
                epoch = h.producer_epoch,
                current = entry.producer_epoch,
                offset = h.base_offset,
                "older producer epoch in the log"
            );
        }
        if h.is_control() {
            let marker = match whole.map(batch::parse_control_batch) {
                Some(Ok(Some(m))) => m,
                Some(Err(e)) => {
                    tracing::warn!(producer_id = h.producer_id, offset = h.base_offset, error = %e,
                        "unreadable control batch in the log");
                    return None;
                }
                _ => return None,
            };
            if marker.1 < entry.coordinator_epoch {
                tracing::info!(
                    producer_id = h.producer_id,
                    offset = h.base_offset,
                    coordinator_epoch = marker.1,
                    current = entry.coordinator_epoch,
                    "older coordinator epoch in the log"
                );
            }
            let done = end_txn(
                &mut entry,
                h.producer_epoch,
                marker.0,
                marker.1,
                h.base_offset,
                h.max_timestamp,
            );
            self.put(entry);
            return done.filter(|c| c.aborted).map(|c| self.aborted_entry(&c));
        }
        entry.add_batch(
            h.producer_epoch,
            BatchMetadata {
                last_seq: last_sequence(h),
                last_offset: h.last_offset(),
                offset_delta: h.last_offset_delta,
                timestamp: h.max_timestamp,
            },
        );
        if h.is_transactional() && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(h.base_offset);
        }
        self.put(entry);
        None
    }

    /// `removeExpiredProducers`: drop producers without an ongoing transaction whose last timestamp is at least
    /// `expiration_ms` old (Kafka's `isProducerExpired`). Returns how many were removed.
    pub(crate) fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some()
                || now_ms.saturating_sub(e.last_timestamp) < expiration_ms
        });
        // Only producers without an ongoing transaction went, so `ongoing` is unchanged.
        before - self.producers.len()
    }
}

/// `appendEndTxnMarker` after its checks: the marker's epoch becomes the producer's, the ongoing transaction (if
/// any) ends and is returned, the coordinator epoch is recorded.
fn end_txn(
    entry: &mut ProducerStateEntry,
    epoch: i16,
    marker: TxnMarker,
    coordinator_epoch: i32,
    offset: i64,
    timestamp: i64,
) -> Option<CompletedTxn> {
    let done = entry.current_txn_first_offset.map(|first| CompletedTxn {
        producer_id: entry.producer_id,
        first_offset: first,
        last_offset: offset,
        aborted: marker == TxnMarker::Abort,
    });
    entry.maybe_update_epoch(epoch);
    entry.current_txn_first_offset = None;
    entry.coordinator_epoch = coordinator_epoch;
    entry.last_timestamp = timestamp;
    done
}

/// `checkCoordinatorEpoch`: a marker from an older transaction coordinator than the last one is refused.
fn check_coordinator_epoch(
    entry: &ProducerStateEntry,
    coordinator_epoch: i32,
    offset: i64,
) -> Result<()> {
    if coordinator_epoch < entry.coordinator_epoch {
        return Err(StorageError::TransactionCoordinatorFenced(format!(
            "marker for producer {} at offset {offset} has coordinator epoch {coordinator_epoch}, which is smaller \
             than the last coordinator epoch {}",
            entry.producer_id, entry.coordinator_epoch
        )));
    }
    Ok(())
}

/// `checkProducerEpoch` for a leader append (transaction version 0/1 semantics for markers).
fn check_epoch(entry: &ProducerStateEntry, epoch: i16, offset: i64) -> Result<()> {
    if epoch < entry.producer_epoch {
        return Err(StorageError::InvalidProducerEpoch(format!(
            "epoch of producer {} at offset {offset} is {epoch}, which is smaller than the last seen epoch {}",
            entry.producer_id, entry.producer_epoch
        )));
    }
    Ok(())
}

/// `checkSequence` for a client data batch. `stored_epoch` is the epoch stored before this record set
/// ([`NO_PRODUCER_EPOCH`] for an unknown producer, which accepts any sequence).
fn check_sequence(
    entry: &ProducerStateEntry,
    stored_epoch: i16,
    h: &BatchHeader,
    offset: i64,
) -> Result<()> {
    let first_seq = h.base_sequence;
    if h.producer_epoch != entry.producer_epoch {
        if first_seq != 0 && entry.producer_epoch != NO_PRODUCER_EPOCH {
            return Err(StorageError::OutOfOrderSequence(format!(
                "invalid sequence number for new epoch of producer {} at offset {offset}: {} (request epoch), \
                 {first_seq} (seq. number), {} (current producer epoch)",
                h.producer_id, h.producer_epoch, entry.producer_epoch
            )));
        }
    } else {
        let current_last = entry.last_seq();
        if stored_epoch != NO_PRODUCER_EPOCH && !in_sequence(current_last, first_seq) {
            return Err(StorageError::OutOfOrderSequence(format!(
                "out of order sequence number for producer {} at offset {offset}: {first_seq} (incoming seq. \
                 number), {current_last} (current end sequence number)",
                h.producer_id
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 49,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 7,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    fn analyze_one(m: &ProducerStateManager, h: &BatchHeader, offset: i64) -> Result<AppendPlan> {
        m.analyze(
            &[IncomingBatch {
                header: h,
                first_offset: offset,
                max_timestamp: h.max_timestamp,
                marker: None,
            }],
            Origin::Client,
        )
    }

    fn append(m: &mut ProducerStateManager, h: &BatchHeader, offset: i64) -> Result<AppendPlan> {
        let plan = analyze_one(m, h, offset)?;
        if let AppendPlan::Update(u) = &plan {
            m.apply(u.entries.clone());
        }
        Ok(plan)
    }

    fn manager() -> (tempfile::TempDir, ProducerStateManager) {
        let dir = tempfile::tempdir().unwrap();
        let m = ProducerStateManager::new(dir.path()).unwrap();
        (dir, m)
    }

    #[test]
    fn sequence_arithmetic_wraps() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(decrement_sequence(1, 3), i32::MAX - 1);
        assert_eq!(decrement_sequence(5, 2), 3);
        assert!(in_sequence(i32::MAX, 0));
        assert!(!in_sequence(i32::MAX, i32::MIN));
        assert_eq!(last_sequence(&header(1, 0, i32::MAX - 1, 3)), 0);
        assert_eq!(last_sequence(&header(1, 0, NO_SEQUENCE, 3)), NO_SEQUENCE);
        let b = BatchMetadata {
            last_seq: 1,
            last_offset: 10,
            offset_delta: 2,
            timestamp: 0,
        };
        assert_eq!((b.first_seq(), b.first_offset()), (i32::MAX, 8));
    }

    #[test]
    fn unknown_producer_accepts_any_sequence_then_tracks_it() {
        let (_d, mut m) = manager();
        assert!(matches!(
            append(&mut m, &header(7, 3, 42, 2), 0).unwrap(),
            AppendPlan::Update(_)
        ));
        assert!(matches!(
            analyze_one(&m, &header(7, 3, 45, 1), 2),
            Err(StorageError::OutOfOrderSequence(_))
        ));
        append(&mut m, &header(7, 3, 44, 1), 2).unwrap();
        assert!(matches!(
            analyze_one(&m, &header(7, 2, 45, 1), 3),
            Err(StorageError::InvalidProducerEpoch(_))
        ));
        assert!(matches!(
            analyze_one(&m, &header(7, 4, 1, 1), 3),
            Err(StorageError::OutOfOrderSequence(_))
        ));
        append(&mut m, &header(7, 4, 0, 1), 3).unwrap();
        let e = m.entries().next().unwrap();
        assert_eq!(
            (e.producer_epoch(), e.last_seq(), e.batches().count()),
            (4, 0, 1)
        );
    }

    #[test]
    fn several_batches_of_one_producer_chain_within_a_record_set() {
        let (_d, m) = manager();
        let (a, b, c) = (header(1, 0, 0, 2), header(1, 0, 2, 3), header(1, 0, 6, 1));
        let batch = |h, first_offset| IncomingBatch {
            header: h,
            first_offset,
            max_timestamp: 0,
            marker: None,
        };
        let AppendPlan::Update(u) = m
            .analyze(&[batch(&a, 0), batch(&b, 2)], Origin::Client)
            .unwrap()
        else {
            panic!("not an update")
        };
        assert_eq!(u.entries[0].batches().count(), 2);
        // The first batch is accepted (unknown producer), the third is checked against the second.
        let (_d2, mut m2) = manager();
        append(&mut m2, &header(1, 0, 0, 1), 0).unwrap();
        assert!(matches!(
            m2.analyze(
                &[batch(&header(1, 0, 1, 1), 1), batch(&c, 2)],
                Origin::Client
            ),
            Err(StorageError::OutOfOrderSequence(_))
        ));
    }

    #[test]
    fn only_five_batches_are_cached_and_an_epoch_bump_clears_them() {
        let (_d, mut m) = manager();
        for i in 0..7 {
            append(&mut m, &header(1, 0, i, 1), i64::from(i)).unwrap();
        }
        assert!(matches!(
            analyze_one(&m, &header(1, 0, 1, 1), 9),
            Err(StorageError::OutOfOrderSequence(_))
        ));
        for i in 2..7 {
            let AppendPlan::Duplicate(d) = analyze_one(&m, &header(1, 0, i, 1), 9).unwrap() else {
                panic!("batch {i} should be a duplicate")
            };
            assert_eq!(d.first_offset(), i64::from(i));
        }
        append(&mut m, &header(1, 1, 0, 1), 7).unwrap();
        assert_eq!(m.entries().next().unwrap().batches().count(), 1);
    }

    #[test]
    fn snapshot_round_trip_and_corruption() {
        let entries = vec![
            ProducerSnapshotEntry {
                producer_id: 5,
                producer_epoch: 2,
                last_sequence: 9,
                last_offset: 100,
                offset_delta: 3,
                last_timestamp: 1_234,
                coordinator_epoch: -1,
                current_txn_first_offset: -1,
            },
            ProducerSnapshotEntry {
                producer_id: i64::MAX,
                producer_epoch: i16::MAX,
                last_sequence: -1,
                last_offset: -1,
                offset_delta: 0,
                last_timestamp: -1,
                coordinator_epoch: 7,
                current_txn_first_offset: 90,
            },
        ];
        let buf = encode_snapshot(&entries);
        assert_eq!(buf.len(), 10 + 2 * 46);
        assert_eq!(&buf[..2], &[0, 1]);
        assert_eq!(&buf[6..10], &[0, 0, 0, 2]);
        assert_eq!(decode_snapshot(&buf).unwrap(), entries);
        assert!(decode_snapshot(&encode_snapshot(&[])).unwrap().is_empty());
        for bad in [
            buf[..buf.len() - 1].to_vec(),
            {
                let mut b = buf.clone();
                b[20] ^= 1;
                b
            },
            {
                let mut b = buf.clone();
                b[1] = 2;
                b
            },
            Vec::new(),
        ] {
            assert!(matches!(
                decode_snapshot(&bad),
                Err(StorageError::CorruptSnapshot(_))
            ));
        }
        // The entry form keeps one batch; an entry without batches keeps none.
        let e = ProducerStateEntry::from_snapshot_entry(&entries[0]);
        assert_eq!(e.batches().next().unwrap().first_seq(), 6);
        assert_eq!(e.to_snapshot_entry(), entries[0]);
        let e = ProducerStateEntry::from_snapshot_entry(&entries[1]);
        assert_eq!(e.batches().count(), 0);
        assert_eq!(e.to_snapshot_entry(), entries[1]);
    }

    #[test]
    fn expiry_keeps_recent_and_transactional_producers() {
        let (_d, mut m) = manager();
        let mut old = header(1, 0, 0, 1);
        old.max_timestamp = 1_000;
        let mut recent = header(2, 0, 0, 1);
        recent.max_timestamp = 5_000;
        let mut txn = header(3, 0, 0, 1);
        txn.max_timestamp = 0;
        txn.attributes = crate::batch::TRANSACTIONAL_BIT;
        for (i, h) in [old, recent, txn].iter().enumerate() {
            append(&mut m, h, i as i64).unwrap();
        }
        assert_eq!(m.remove_expired(6_000, 5_000), 1);
        let ids: Vec<i64> = m.entries().map(ProducerStateEntry::producer_id).collect();
        assert_eq!(ids, [2, 3]);
    }
}
