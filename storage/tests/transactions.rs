//! Transactions: markers, the last stable offset, the aborted transaction index (`.txnindex`) through restarts,
//! crashes, truncation, retention and the cleaner, coordinator-origin appends and `read_committed` reads.

mod common;

use bytes::Bytes;
use common::split;
use minikafka_storage::batch::{parse_control_batch, BatchBuilder, BatchHeader, Record};
use minikafka_storage::cleaner::FailPoint;
use minikafka_storage::txn_index::read_txn_index_file;
use minikafka_storage::{AbortedTxn, CleanupPolicy, Log, LogConfig, StorageError, TxnMarker};

const T0: i64 = 1_700_000_000_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        ..LogConfig::default()
    }
}

fn records(n: usize, tag: &str) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            offset: 0,
            timestamp: T0,
            key: Some(Bytes::from(format!("{tag}-k{i}"))),
            value: Some(Bytes::from(format!("{tag}-value-{i}"))),
            headers: vec![],
        })
        .collect()
}

/// A batch of `n` records from producer `pid` (transactional or not) at `seq`.
fn produce(pid: i64, epoch: i16, seq: i32, n: usize, transactional: bool) -> Bytes {
    BatchBuilder {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        transactional,
        ..BatchBuilder::new(0, T0)
    }
    .build(&records(n, &format!("p{pid}s{seq}")))
    .unwrap()
}

/// A plain, non-idempotent batch of `n` records.
fn plain(n: usize) -> Bytes {
    BatchBuilder::new(0, T0)
        .build(&records(n, "plain"))
        .unwrap()
}

/// Tracks each producer's next sequence so tests read like a transcript.
struct Producer {
    pid: i64,
    epoch: i16,
    seq: i32,
}

impl Producer {
    fn new(pid: i64) -> Self {
        Producer {
            pid,
            epoch: 0,
            seq: 0,
        }
    }

    /// Append a transactional batch of `n` records; returns its base offset.
    fn send(&mut self, log: &mut Log, n: usize) -> i64 {
        let info = log
            .append(&produce(self.pid, self.epoch, self.seq, n, true), 0, T0)
            .unwrap();
        self.seq += n as i32;
        info.base_offset
    }

    /// Write a marker (coordinator epoch 0) at the producer's epoch; returns the marker's offset.
    fn end(&mut self, log: &mut Log, marker: TxnMarker) -> i64 {
        let info = log
            .append_txn_marker(self.pid, self.epoch, 0, marker, 0, T0)
            .unwrap();
        assert_eq!(info.base_offset, info.last_offset);
        info.base_offset
    }
}

/// A new log in a new temporary directory.
fn fresh(config: LogConfig) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), config, true).unwrap();
    (dir, log)
}

fn all_aborted(log: &Log) -> Vec<AbortedTxn> {
    log.aborted_transactions(log.log_start_offset(), log.log_end_offset())
        .unwrap()
}

fn aborted(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
    AbortedTxn {
        producer_id: pid,
        first_offset: first,
        last_offset: last,
        last_stable_offset: lso,
    }
}

/// Append `n` plain single-record batches.
fn pad(log: &mut Log, n: usize) {
    for _ in 0..n {
        log.append(&plain(1), 0, T0).unwrap();
    }
}

#[test]
fn markers_are_kafkas_control_batches() {
    let (_dir, mut log) = fresh(LogConfig::default());
    let mut p = Producer::new(42);
    p.epoch = 3;
    p.send(&mut log, 2);
    let commit = log
        .append_txn_marker(42, 3, 7, TxnMarker::Commit, 5, T0 + 9)
        .unwrap();
    assert_eq!((commit.base_offset, commit.last_offset), (2, 2));
    // A marker for a producer without an ongoing transaction is still written.
    let abort = log
        .append_txn_marker(42, 3, 7, TxnMarker::Abort, 5, T0 + 10)
        .unwrap();
    assert_eq!(abort.base_offset, 3);
    assert!(all_aborted(&log).is_empty());
    assert!(!log.segment_file(0, ".txnindex").exists());

    let read = log.read(2, 1 << 20, true).unwrap();
    let batches = split(&read.records);
    assert_eq!(batches.len(), 2);
    for ((h, bytes), (kind, ts)) in batches.iter().zip([(1u8, T0 + 9), (0u8, T0 + 10)]) {
        // Header: transactional + control attributes, producer fields, no sequence, one record.
        let mut expected = Vec::new();
        expected.extend_from_slice(&h.base_offset.to_be_bytes());
        expected.extend_from_slice(&66i32.to_be_bytes());
        expected.extend_from_slice(&5i32.to_be_bytes());
        expected.push(2);
        expected.extend_from_slice(&h.crc.to_be_bytes());
        expected.extend_from_slice(&0x30i16.to_be_bytes());
        expected.extend_from_slice(&0i32.to_be_bytes());
        expected.extend_from_slice(&ts.to_be_bytes());
        expected.extend_from_slice(&ts.to_be_bytes());
        expected.extend_from_slice(&42i64.to_be_bytes());
        expected.extend_from_slice(&3i16.to_be_bytes());
        expected.extend_from_slice(&(-1i32).to_be_bytes());
        expected.extend_from_slice(&1i32.to_be_bytes());
        // Record: length 16, attributes 0, deltas 0, key (4 bytes) = version 0 + type, value (6 bytes) =
        // version 0 + coordinator epoch 7, no headers.
        expected.extend_from_slice(&[
            0x20, 0, 0, 0, 0x08, 0, 0, 0, kind, 0x0c, 0, 0, 0, 0, 0, 7, 0,
        ]);
        assert_eq!(&bytes[..], &expected[..]);
        assert_eq!(h.crc, crc32c::crc32c(&bytes[21..]));
        let marker = if kind == 1 {
            TxnMarker::Commit
        } else {
            TxnMarker::Abort
        };
        assert_eq!(parse_control_batch(bytes).unwrap(), Some((marker, 7)));
    }
    let data = log.read(0, 1 << 20, true).unwrap();
    assert_eq!(
        parse_control_batch(&split(&data.records)[0].1).unwrap(),
        None
    );
    // An independent decoder agrees it is a transactional control batch.
    let mut buf = batches[0].1.clone();
    let decoded = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).unwrap();
    let rec = &decoded.records[0];
    assert!(rec.control && rec.transactional);
    assert_eq!(rec.key.as_deref(), Some(&[0u8, 0, 0, 1][..]));
    assert_eq!(rec.value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 7][..]));
}

#[test]
fn last_stable_offset_follows_transactions_of_several_producers() {
    let (_dir, mut log) = fresh(LogConfig::default());
    let (mut p1, mut p2, mut p3) = (Producer::new(1), Producer::new(2), Producer::new(3));
    assert_eq!(log.last_stable_offset(), 0);
    assert_eq!(p1.send(&mut log, 2), 0);
    assert_eq!(log.last_stable_offset(), 0);
    pad(&mut log, 1); // offset 2
    assert_eq!(p2.send(&mut log, 1), 3);
    assert_eq!(p1.send(&mut log, 1), 4); // p1's transaction still starts at 0
    assert_eq!(log.ongoing_transactions(), vec![(0, 1), (3, 2)]);
    assert_eq!(log.last_stable_offset(), 0);
    assert_eq!(p1.end(&mut log, TxnMarker::Commit), 5);
    assert_eq!(log.last_stable_offset(), 3);
    assert_eq!(p3.send(&mut log, 1), 6);
    assert_eq!(p1.send(&mut log, 1), 7); // a new transaction of p1
    assert_eq!(p2.end(&mut log, TxnMarker::Abort), 8);
    // The LSO after the abort is p3's first offset, which the index records.
    assert_eq!(log.last_stable_offset(), 6);
    assert_eq!(all_aborted(&log), vec![aborted(2, 3, 8, 6)]);
    assert_eq!(p3.end(&mut log, TxnMarker::Abort), 9);
    assert_eq!(log.last_stable_offset(), 7);
    assert_eq!(p1.end(&mut log, TxnMarker::Commit), 10);
    assert_eq!(log.last_stable_offset(), 11);
    assert_eq!(log.last_stable_offset(), log.log_end_offset());
    assert_eq!(
        all_aborted(&log),
        vec![aborted(2, 3, 8, 6), aborted(3, 6, 9, 7)]
    );
    // Producer expiry never removes a producer with an ongoing transaction.
    p2.send(&mut log, 1);
    assert_eq!(log.expire_producers(T0 + 1_000_000_000, 1), 2);
    assert_eq!(log.last_stable_offset(), 11);
    assert_eq!(log.ongoing_transactions(), vec![(11, 2)]);
}

#[test]
fn read_upto_returns_only_batches_below_the_bound() {
    let (_dir, mut log) = fresh(LogConfig::default());
    pad(&mut log, 3);
    let mut p = Producer::new(9);
    p.send(&mut log, 2); // 3..=4
    pad(&mut log, 2); // 5, 6
    let lso = log.last_stable_offset();
    assert_eq!(lso, 3);
    let r = log.read_upto(0, 1 << 20, true, lso).unwrap();
    let got: Vec<i64> = split(&r.records)
        .iter()
        .map(|(h, _)| h.base_offset)
        .collect();
    assert_eq!(got, vec![0, 1, 2]);
    assert_eq!(r.log_end_offset, 7);
    assert!(log
        .read_upto(3, 1 << 20, true, lso)
        .unwrap()
        .records
        .is_empty());
    assert!(log
        .read_upto(5, 1 << 20, true, lso)
        .unwrap()
        .records
        .is_empty());
    assert!(matches!(
        log.read_upto(8, 1 << 20, true, lso),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    p.end(&mut log, TxnMarker::Commit);
    let r = log
        .read_upto(3, 1 << 20, true, log.last_stable_offset())
        .unwrap();
    assert_eq!(split(&r.records).len(), 4);
}

/// Several aborted transactions of interleaved producers spread over many small segments.
fn build_aborts(log: &mut Log) -> Vec<AbortedTxn> {
    let mut ps: Vec<Producer> = (0..3).map(Producer::new).collect();
    let mut expected = Vec::new();
    let mut first = [None; 3];
    for round in 0..30 {
        let i = round % 3;
        let base = ps[i].send(log, 2);
        first[i].get_or_insert(base);
        pad(log, 1);
        if round % 4 == 3 {
            let j = (round / 4) % 3;
            if let Some(f) = first[j].take() {
                let kind = if round % 8 == 3 {
                    TxnMarker::Abort
                } else {
                    TxnMarker::Commit
                };
                let at = ps[j].end(log, kind);
                if kind == TxnMarker::Abort {
                    expected.push(aborted(j as i64, f, at, log.last_stable_offset()));
                }
            }
        }
    }
    expected
}

#[test]
fn aborted_transactions_ranges_across_segments() {
    let (_dir, mut log) = fresh(config());
    let expected = build_aborts(&mut log);
    assert!(expected.len() >= 3, "{expected:?}");
    assert!(log.segment_count() > 4);
    assert_eq!(all_aborted(&log), expected);
    // Entries live in the segment holding their marker.
    for seg in log.segments() {
        for e in seg.txn_index().entries() {
            assert!(e.last_offset >= seg.base_offset() && e.last_offset < seg.next_offset());
        }
    }
    let leo = log.log_end_offset();
    for from in 0..=leo {
        for upto in from..=leo + 1 {
            let want: Vec<AbortedTxn> = expected
                .iter()
                .filter(|e| e.last_offset >= from && e.first_offset < upto)
                .copied()
                .collect();
            assert_eq!(
                log.aborted_transactions(from, upto).unwrap(),
                want,
                "{from}..{upto}"
            );
        }
    }
}

#[test]
fn txnindex_file_holds_kafkas_34_byte_entries() {
    let (_dir, mut log) = fresh(LogConfig::default());
    let mut p = Producer::new(0x0102_0304_0506_0708);
    p.send(&mut log, 3);
    let at = p.end(&mut log, TxnMarker::Abort);
    let bytes = std::fs::read(log.segment_file(0, ".txnindex")).unwrap();
    let mut expected = vec![0u8, 0];
    expected.extend_from_slice(&0x0102_0304_0506_0708i64.to_be_bytes());
    expected.extend_from_slice(&0i64.to_be_bytes());
    expected.extend_from_slice(&at.to_be_bytes());
    expected.extend_from_slice(&(at + 1).to_be_bytes());
    assert_eq!(bytes, expected);
    let (entries, problem) = read_txn_index_file(&log.segment_file(0, ".txnindex")).unwrap();
    assert_eq!((entries, problem), (all_aborted(&log), None));
}

/// A log with aborted and committed transactions over several segments and two transactions left open.
fn build_mixed(dir: &std::path::Path) -> Log {
    let mut log = Log::open(dir, config(), true).unwrap();
    build_aborts(&mut log);
    let mut p7 = Producer::new(7);
    p7.send(&mut log, 1);
    let mut p8 = Producer::new(8);
    p8.send(&mut log, 1);
    p8.end(&mut log, TxnMarker::Abort);
    p8.send(&mut log, 2);
    pad(&mut log, 2);
    log
}

fn state(log: &Log) -> (i64, i64, Vec<AbortedTxn>, Vec<(i64, i64)>) {
    (
        log.log_end_offset(),
        log.last_stable_offset(),
        all_aborted(log),
        log.ongoing_transactions(),
    )
}

#[test]
fn restart_after_clean_close_and_after_a_crash_keeps_lso_and_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let log = build_mixed(dir.path());
    let before = state(&log);
    assert!(before.1 < before.0 && !before.2.is_empty());
    log.close().unwrap();
    let log = Log::open(dir.path(), config(), true).unwrap();
    assert_eq!(state(&log), before);
    // Unclean stop (no close) with garbage after the last batch.
    drop(log);
    let last = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .max()
        .unwrap();
    let mut data = std::fs::read(&last).unwrap();
    data.extend_from_slice(&[0xAB; 40]);
    std::fs::write(&last, &data).unwrap();
    let log = Log::open(dir.path(), config(), false).unwrap();
    assert_eq!(state(&log), before);
    // A lost `.txnindex` of the active segment is rebuilt by the replay from the roll snapshot.
    let mut log = log;
    let mut p9 = Producer::new(9);
    p9.send(&mut log, 1);
    p9.end(&mut log, TxnMarker::Abort);
    let before = state(&log);
    let active = log.segments().last().unwrap().base_offset();
    let txn_path = log.segment_file(active, ".txnindex");
    drop(log);
    std::fs::remove_file(&txn_path).unwrap();
    let log = Log::open(dir.path(), config(), false).unwrap();
    assert_eq!(state(&log), before);
    assert!(txn_path.exists());
}

#[test]
fn a_torn_abort_marker_takes_its_txnindex_entry_with_it() {
    let (dir, mut log) = fresh(LogConfig::default());
    let mut p = Producer::new(5);
    p.send(&mut log, 2);
    pad(&mut log, 1);
    let lso_before = log.last_stable_offset();
    let marker_at = p.end(&mut log, TxnMarker::Abort);
    assert_eq!(all_aborted(&log).len(), 1);
    let path = log.segment_file(0, ".log");
    drop(log);
    // The crash tore the marker batch: its last 10 bytes never reached the disk, the index entry did.
    let data = std::fs::read(&path).unwrap();
    std::fs::write(&path, &data[..data.len() - 10]).unwrap();
    let log = Log::open(dir.path(), LogConfig::default(), false).unwrap();
    assert_eq!(log.log_end_offset(), marker_at);
    assert!(all_aborted(&log).is_empty());
    assert_eq!(
        std::fs::metadata(log.segment_file(0, ".txnindex"))
            .unwrap()
            .len(),
        0
    );
    assert_eq!(log.last_stable_offset(), lso_before);
    assert_eq!(log.ongoing_transactions(), vec![(0, 5)]);
}

#[test]
fn truncate_to_cuts_entries_and_reopens_transactions() {
    let (dir, mut log) = fresh(config());
    let expected = build_aborts(&mut log);
    let last = *expected.last().unwrap();
    log.truncate_to(last.last_offset).unwrap();
    assert_eq!(all_aborted(&log), expected[..expected.len() - 1].to_vec());
    assert!(log
        .ongoing_transactions()
        .contains(&(last.first_offset, last.producer_id)));
    assert!(log.last_stable_offset() <= last.first_offset);
    // The state survives a reopen, clean or not.
    let before = state(&log);
    drop(log);
    let log = Log::open(dir.path(), config(), false).unwrap();
    assert_eq!(state(&log), before);
    let mut log = log;
    log.truncate_to(expected[0].first_offset).unwrap();
    assert!(all_aborted(&log).is_empty());
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".txnindex"))
        .filter(|e| e.metadata().unwrap().len() > 0)
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn retention_and_delete_records_remove_txnindex_files() {
    let (dir, mut log) = fresh(config());
    let expected = build_aborts(&mut log);
    let first_seg = log
        .segments()
        .find(|s| !s.txn_index().entries().is_empty())
        .unwrap()
        .base_offset();
    let txn_path = log.segment_file(first_seg, ".txnindex");
    assert!(txn_path.exists());
    let next = log
        .segments()
        .map(|s| s.base_offset())
        .find(|&b| b > first_seg)
        .unwrap();
    log.set_config(LogConfig {
        retention_bytes: i64::try_from(log.size_bytes()).unwrap()
            - i64::try_from(
                log.segments()
                    .take_while(|s| s.base_offset() <= first_seg)
                    .map(|s| s.size())
                    .sum::<u64>(),
            )
            .unwrap(),
        ..config()
    });
    let deleted = log.enforce_retention(T0).unwrap();
    assert_eq!(deleted.last().unwrap().base_offset, first_seg);
    assert!(!txn_path.exists());
    assert_eq!(log.log_start_offset(), next);
    let left: Vec<AbortedTxn> = expected
        .iter()
        .filter(|e| e.last_offset >= next)
        .copied()
        .collect();
    assert_eq!(all_aborted(&log), left);
    // DeleteRecords past an open transaction's first offset: the LSO never lies below the log start.
    let mut p = Producer::new(77);
    let begin = p.send(&mut log, 1);
    pad(&mut log, 40);
    let to = log.log_end_offset() - 1;
    log.advance_log_start_offset(to).unwrap();
    assert!(begin < to);
    assert_eq!(log.last_stable_offset(), log.log_start_offset());
    let remaining = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".txnindex"))
        .count();
    assert_eq!(
        remaining,
        log.segments()
            .filter(|s| s.txn_index().path().exists())
            .count()
    );
    log.delete().unwrap();
    assert!(!dir.path().exists());
}

#[test]
fn markers_fence_older_epochs_and_older_coordinators() {
    let (dir, mut log) = fresh(LogConfig::default());
    let mut p = Producer::new(11);
    p.send(&mut log, 2);
    // The coordinator bumped the epoch (a timed-out transaction) and aborts with epoch 1, coordinator epoch 4.
    let at = log
        .append_txn_marker(11, 1, 4, TxnMarker::Abort, 0, T0)
        .unwrap()
        .base_offset;
    assert_eq!(all_aborted(&log), vec![aborted(11, 0, at, at + 1)]);
    let leo = log.log_end_offset();
    // The zombie at epoch 0 is fenced.
    assert!(matches!(
        log.append(&produce(11, 0, 2, 1, true), 0, T0),
        Err(StorageError::InvalidProducerEpoch(_))
    ));
    // So is a marker at the old epoch, and one from an older coordinator.
    assert!(matches!(
        log.append_txn_marker(11, 0, 4, TxnMarker::Commit, 0, T0),
        Err(StorageError::InvalidProducerEpoch(_))
    ));
    assert!(matches!(
        log.append_txn_marker(11, 1, 3, TxnMarker::Commit, 0, T0),
        Err(StorageError::TransactionCoordinatorFenced(_))
    ));
    assert_eq!(log.log_end_offset(), leo);
    let entry = log
        .producers()
        .into_iter()
        .find(|e| e.producer_id == 11)
        .unwrap();
    assert_eq!((entry.producer_epoch, entry.coordinator_epoch), (1, 4));
    assert_eq!(entry.current_txn_first_offset, -1);
    // The producer, re-initialised at epoch 1, starts again at sequence 0.
    log.append(&produce(11, 1, 0, 1, true), 0, T0).unwrap();
    assert_eq!(log.last_stable_offset(), leo);
    // The coordinator epoch and producer epoch survive a restart (the snapshot).
    log.close().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), true).unwrap();
    assert!(matches!(
        log.append_txn_marker(11, 1, 3, TxnMarker::Commit, 0, T0),
        Err(StorageError::TransactionCoordinatorFenced(_))
    ));
    log.append_txn_marker(11, 1, 4, TxnMarker::Commit, 0, T0)
        .unwrap();
    assert_eq!(log.last_stable_offset(), log.log_end_offset());
}

#[test]
fn coordinator_appends_skip_sequences_but_keep_epochs_and_transactions() {
    let (_dir, mut log) = fresh(LogConfig::default());
    // Transactional offset commits: the producer's id and epoch, no sequence.
    let commit = produce(21, 2, -1, 1, true);
    let first = log.append_from_coordinator(&commit, 0, T0).unwrap();
    let again = log.append_from_coordinator(&commit, 0, T0).unwrap();
    assert!(!again.duplicate);
    assert_eq!(again.base_offset, first.base_offset + 1);
    assert_eq!(log.last_stable_offset(), first.base_offset);
    assert!(matches!(
        log.append_from_coordinator(&produce(21, 1, -1, 1, true), 0, T0),
        Err(StorageError::InvalidProducerEpoch(_))
    ));
    assert!(matches!(
        log.append_from_coordinator(&produce(21, 2, -1, 1, false), 0, T0),
        Err(StorageError::InvalidTxnState(_))
    ));
    log.append_txn_marker(21, 2, 0, TxnMarker::Commit, 0, T0)
        .unwrap();
    assert_eq!(log.last_stable_offset(), log.log_end_offset());
    // Clients may write neither a producer id without a sequence nor a control batch.
    assert!(matches!(
        log.append(&commit, 0, T0),
        Err(StorageError::InvalidRecord(_))
    ));
    let marker =
        minikafka_storage::batch::build_txn_marker(21, 2, 0, TxnMarker::Abort, T0).unwrap();
    assert!(matches!(
        log.append(&marker, 0, T0),
        Err(StorageError::InvalidRecord(_))
    ));
    // A client's retry is a duplicate.
    let dup = log.append(&produce(30, 0, 0, 1, false), 0, T0).unwrap();
    let retry = log.append(&produce(30, 0, 0, 1, false), 0, T0).unwrap();
    assert!(retry.duplicate && retry.base_offset == dup.base_offset);
}

#[test]
fn the_cleaner_carries_txnindex_entries_into_cleaned_segments() {
    let dir = tempfile::tempdir().unwrap();
    let compact = LogConfig {
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: 0.0,
        retention_ms: -1,
        ..config()
    };
    let mut log = Log::open(dir.path(), compact.clone(), true).unwrap();
    let expected = build_aborts(&mut log);
    let segs_before = log.segment_count();
    // Larger segments from now on, so that the cleaner merges the old ones.
    log.set_config(LogConfig {
        segment_bytes: 1 << 20,
        ..compact.clone()
    });
    let stats = log.clean(T0).unwrap().expect("the log is due");
    assert!(stats.segments_after < stats.segments_before, "{stats:?}");
    assert!(log.segment_count() < segs_before);
    assert_eq!(all_aborted(&log), expected);
    for seg in log.segments() {
        for e in seg.txn_index().entries() {
            assert!(e.last_offset >= seg.base_offset() && e.last_offset < seg.next_offset());
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap") || n.ends_with(".deleted"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let before = state(&log);
    log.close().unwrap();
    let log = Log::open(dir.path(), compact, true).unwrap();
    assert_eq!(state(&log), before);
    assert!(log.segments().next().unwrap().txn_index().path().exists());
    // Every marker survived the clean.
    let markers = log
        .segments()
        .map(|s| s.base_offset())
        .flat_map(|b| {
            let data = log
                .read(b.max(log.log_start_offset()), 1 << 20, true)
                .unwrap();
            split(&data.records)
                .into_iter()
                .filter(|(h, _): &(BatchHeader, Bytes)| h.is_control())
                .map(|(h, _)| h.base_offset)
                .collect::<Vec<_>>()
        })
        .count();
    assert!(markers >= expected.len());
}

/// Whatever the crash point of the cleaner's swap, the reopened log reports the same aborted transactions.
#[test]
fn every_cleaner_crash_point_keeps_the_aborted_transactions() {
    for point in FailPoint::ALL {
        let compact = LogConfig {
            cleanup_policy: CleanupPolicy::COMPACT,
            min_cleanable_dirty_ratio: 0.0,
            retention_ms: -1,
            ..config()
        };
        let (dir, mut log) = fresh(compact.clone());
        let expected = build_aborts(&mut log);
        let merged = LogConfig {
            segment_bytes: 1 << 20,
            ..compact
        };
        log.set_config(merged.clone());
        let err = log.clean_with_fail_point(T0, Some(point)).unwrap_err();
        assert!(matches!(err, StorageError::CleanAborted(_)), "{point:?}");
        drop(log);
        let mut log = Log::open(dir.path(), merged, false).unwrap();
        assert_eq!(all_aborted(&log), expected, "{point:?}");
        log.clean(T0).unwrap();
        assert_eq!(all_aborted(&log), expected, "{point:?} then clean");
    }
}

/// One record `key=value`, from producer `pid` in a transaction if `pid >= 0`.
fn keyed(key: &str, value: &str, pid: i64, seq: i32) -> Bytes {
    let rec = Record {
        offset: 0,
        timestamp: T0,
        key: Some(Bytes::from(key.to_string())),
        value: Some(Bytes::from(value.to_string())),
        headers: vec![],
    };
    BatchBuilder {
        producer_id: pid,
        producer_epoch: if pid >= 0 { 0 } else { -1 },
        base_sequence: if pid >= 0 { seq } else { -1 },
        transactional: pid >= 0,
        ..BatchBuilder::new(0, T0)
    }
    .build(&[rec])
    .unwrap()
}

/// The latest value of each key as `read_uncommitted` sees it.
fn latest(log: &Log) -> std::collections::HashMap<String, String> {
    common::read_all(log)
        .into_iter()
        .filter_map(|r| {
            let k = String::from_utf8(r.key?.to_vec()).ok()?;
            let v = String::from_utf8(r.value?.to_vec()).ok()?;
            Some((k, v))
        })
        .filter(|(k, _)| !k.starts_with("pad"))
        .collect()
}

#[test]
fn the_cleaner_drops_aborted_data_and_stops_at_the_last_stable_offset() {
    let compact = LogConfig {
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: 0.0,
        retention_ms: -1,
        segment_bytes: 300,
        ..config()
    };
    let (_dir, mut log) = fresh(compact);
    log.append(&keyed("a", "committed", -1, 0), 0, T0).unwrap();
    log.append(&keyed("b", "committed", -1, 0), 0, T0).unwrap();
    // Producer 1 overwrites `a` in a transaction that aborts.
    log.append(&keyed("a", "aborted", 1, 0), 0, T0).unwrap();
    log.append_txn_marker(1, 0, 0, TxnMarker::Abort, 0, T0)
        .unwrap();
    // Producer 2 overwrites `b` in a transaction still open.
    let open_at = log
        .append(&keyed("b", "open", 2, 0), 0, T0)
        .unwrap()
        .base_offset;
    for i in 0..12 {
        log.append(&keyed(&format!("pad{i}"), "x", -1, 0), 0, T0)
            .unwrap();
    }
    assert!(log.segment_count() > 3);
    assert_eq!(log.last_stable_offset(), open_at);
    let stats = log.clean(T0).unwrap().expect("due");
    assert_eq!(stats.end_offset, open_at);
    assert_eq!(stats.aborted_records_removed, 1);
    let view = latest(&log);
    assert_eq!(view["a"], "committed");
    assert_eq!(view["b"], "open");
    // The committed `b` survived, since the open transaction's record lies past the cleanable range.
    assert!(common::read_all(&log)
        .iter()
        .any(|r| r.key.as_deref() == Some(&b"b"[..])
            && r.value.as_deref() == Some(&b"committed"[..])));
    assert_eq!(all_aborted(&log).len(), 1);
}

/// One appended batch, as the model of [`random_transactions_match_a_model`] sees it.
#[derive(Debug, Clone, Copy)]
enum Event {
    /// A transactional data batch of `n` records at `seq`.
    Data {
        pid: i64,
        offset: i64,
        seq: i32,
        n: usize,
    },
    /// A marker (`abort` or commit).
    Marker { pid: i64, offset: i64, abort: bool },
    /// A plain batch.
    Plain { offset: i64 },
}

impl Event {
    fn offset(&self) -> i64 {
        match *self {
            Event::Data { offset, .. } | Event::Marker { offset, .. } | Event::Plain { offset } => {
                offset
            }
        }
    }
}

/// Expected (ongoing transactions, aborted transactions) after `events`.
fn model(events: &[Event]) -> (Vec<(i64, i64)>, Vec<AbortedTxn>) {
    let mut ongoing = std::collections::BTreeMap::new();
    let mut current = std::collections::HashMap::new();
    let mut aborts = Vec::new();
    for e in events {
        match *e {
            Event::Data { pid, offset, .. } => {
                current.entry(pid).or_insert_with(|| {
                    ongoing.insert(offset, pid);
                    offset
                });
            }
            Event::Marker { pid, offset, abort } => {
                if let Some(first) = current.remove(&pid) {
                    ongoing.remove(&first);
                    if abort {
                        let lso = ongoing.keys().next().copied().unwrap_or(offset + 1);
                        aborts.push(aborted(pid, first, offset, lso));
                    }
                }
            }
            Event::Plain { .. } => {}
        }
    }
    (ongoing.into_iter().collect(), aborts)
}

/// Random appends, markers, rolls, truncations, clean and unclean restarts (with torn tails) against a model.
#[test]
fn random_transactions_match_a_model() {
    for seed in 1..=6u64 {
        let mut rng = seed;
        let mut next = |n: u64| {
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (rng >> 33) % n
        };
        let (dir, mut log) = fresh(config());
        let mut events: Vec<Event> = Vec::new();
        let mut max_aborts = 0;
        for step in 0..400 {
            let pid = next(4) as i64;
            match next(20) {
                0..=7 => {
                    let seq = events
                        .iter()
                        .rev()
                        .find_map(|e| match *e {
                            Event::Data { pid: p, seq, n, .. } if p == pid => Some(seq + n as i32),
                            _ => None,
                        })
                        .unwrap_or(0);
                    let n = 1 + next(3) as usize;
                    let offset = log
                        .append(&produce(pid, 0, seq, n, true), 0, T0)
                        .unwrap()
                        .base_offset;
                    events.push(Event::Data {
                        pid,
                        offset,
                        seq,
                        n,
                    });
                }
                8..=11 => {
                    let abort = next(2) == 0;
                    let kind = if abort {
                        TxnMarker::Abort
                    } else {
                        TxnMarker::Commit
                    };
                    let offset = log
                        .append_txn_marker(pid, 0, 0, kind, 0, T0)
                        .unwrap()
                        .base_offset;
                    events.push(Event::Marker { pid, offset, abort });
                }
                12..=15 => {
                    let offset = log.append(&plain(1), 0, T0).unwrap().base_offset;
                    events.push(Event::Plain { offset });
                }
                16 if !events.is_empty() => {
                    let keep = events.len() - 1 - next(events.len().min(8) as u64) as usize;
                    log.truncate_to(events[keep].offset()).unwrap();
                    events.truncate(keep);
                }
                17 => {
                    log.close().unwrap();
                    log = Log::open(dir.path(), config(), true).unwrap();
                }
                18 => {
                    let active = log.segments().last().unwrap();
                    let path = active.log_path().to_path_buf();
                    let torn = active.size() > 0 && next(2) == 0;
                    drop(log);
                    if torn {
                        let data = std::fs::read(&path).unwrap();
                        std::fs::write(&path, &data[..data.len() - 7]).unwrap();
                        events.pop();
                    }
                    log = Log::open(dir.path(), config(), false).unwrap();
                }
                _ => {}
            }
            let (ongoing, aborts) = model(&events);
            let leo = events.last().map_or(0, |e| match *e {
                Event::Data { offset, n, .. } => offset + n as i64,
                _ => e.offset() + 1,
            });
            max_aborts = max_aborts.max(aborts.len());
            assert_eq!(log.log_end_offset(), leo, "seed {seed} step {step}");
            assert_eq!(
                log.ongoing_transactions(),
                ongoing,
                "seed {seed} step {step}"
            );
            assert_eq!(
                log.last_stable_offset(),
                ongoing.first().map_or(leo, |o| o.0),
                "seed {seed} step {step}"
            );
            assert_eq!(all_aborted(&log), aborts, "seed {seed} step {step}");
        }
        assert!(max_aborts > 5, "seed {seed}: only {max_aborts} aborts");
    }
}
