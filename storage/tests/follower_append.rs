//! Follower appends (`Log::append_as_follower`, Kafka's `appendAsFollower`): a replica copies its leader's log
//! batch by batch, through fetches cut by a byte budget, and ends up with the same bytes, offsets, producer state,
//! last stable offset and aborted transactions, through rolls, gaps, truncation and crashes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use common::split;
use minikafka_storage::batch::{iter_headers, BatchBuilder, BatchHeader, Compression, Record};
use minikafka_storage::{AbortedTxn, Log, LogConfig, StorageError, TimestampType, TxnMarker};

const T0: i64 = 1_700_000_000_000;

fn config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 200,
        ..LogConfig::default()
    }
}

fn records(n: usize, tag: &str, size: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let value: Vec<u8> = format!("{tag}-value-{i}-")
                .bytes()
                .cycle()
                .take(size)
                .collect();
            Record {
                offset: 0,
                timestamp: T0 + i as i64,
                key: Some(Bytes::from(format!("{tag}-k{i}"))),
                value: Some(value.into()),
                headers: vec![],
            }
        })
        .collect()
}

/// A non-idempotent batch of `n` records of `size` bytes each, based at `base`.
fn plain_at(base: i64, n: usize, codec: Compression, tag: &str, size: usize) -> Bytes {
    BatchBuilder {
        compression: codec,
        ..BatchBuilder::new(base, T0)
    }
    .build(&records(n, tag, size))
    .unwrap()
}

fn plain(n: usize, codec: Compression, tag: &str) -> Bytes {
    plain_at(0, n, codec, tag, 120)
}

/// A batch of producer `pid` at `seq` (transactional or only idempotent).
fn produce(pid: i64, epoch: i16, seq: i32, n: usize, transactional: bool) -> Bytes {
    BatchBuilder {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        transactional,
        ..BatchBuilder::new(0, T0)
    }
    .build(&records(n, &format!("p{pid}s{seq}"), 90))
    .unwrap()
}

/// A leader-side producer that tracks its sequence.
#[derive(Clone)]
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

    fn send(&mut self, log: &mut Log, n: usize, transactional: bool, leader_epoch: i32) {
        let b = produce(self.pid, self.epoch, self.seq, n, transactional);
        let info = log.append(&b, leader_epoch, T0).unwrap();
        assert!(!info.duplicate);
        self.seq += n as i32;
    }

    fn end(&self, log: &mut Log, marker: TxnMarker, coordinator_epoch: i32, leader_epoch: i32) {
        log.append_txn_marker(
            self.pid,
            self.epoch,
            coordinator_epoch,
            marker,
            leader_epoch,
            T0 + 5,
        )
        .unwrap();
    }
}

/// A leader log with every kind of batch, over several segments and leader epochs: plain, gzip and zstd batches,
/// idempotent batches of two producers, a committed and two aborted transactions (one while another is ongoing,
/// so its `.txnindex` entry's LSO is that one's first offset), and a transaction still ongoing at the end.
fn fill_leader(log: &mut Log) {
    let (mut p1, mut p2) = (Producer::new(1), Producer::new(2));
    let (mut p3, mut p4, mut p5, mut p6) = (
        Producer::new(3),
        Producer::new(4),
        Producer::new(5),
        Producer::new(6),
    );
    for round in 0..3 {
        let epoch = round;
        log.append(
            &plain(3, Compression::None, &format!("a{round}")),
            epoch,
            T0,
        )
        .unwrap();
        log.append(
            &plain(20, Compression::Gzip, &format!("g{round}")),
            epoch,
            T0,
        )
        .unwrap();
        log.append(
            &plain(20, Compression::Zstd, &format!("z{round}")),
            epoch,
            T0,
        )
        .unwrap();
        p1.send(log, 3, false, epoch);
        p2.send(log, 2, false, epoch);
        p3.send(log, 2, true, epoch);
        p1.send(log, 4, false, epoch);
        p4.send(log, 1, true, epoch);
        p3.send(log, 1, true, epoch);
        log.append(
            &plain(2, Compression::None, &format!("b{round}")),
            epoch,
            T0,
        )
        .unwrap();
        p3.end(log, TxnMarker::Commit, round, epoch);
        p2.send(log, 1, false, epoch);
        p4.send(log, 2, true, epoch);
        p4.end(log, TxnMarker::Abort, round, epoch);
        // p6 aborts while p5's transaction is ongoing.
        p5.send(log, 2, true, epoch);
        p6.send(log, 1, true, epoch);
        p6.end(log, TxnMarker::Abort, round, epoch);
        p5.send(log, 1, true, epoch);
        if round < 2 {
            p5.end(log, TxnMarker::Commit, round, epoch);
        }
    }
    // p5's last transaction stays open.
    assert!(log.last_stable_offset() < log.log_end_offset());
}

/// Copy `leader` into `follower` as a replica fetcher would: from the follower's log end offset, fetches of about
/// `budget` bytes whose last batch is cut (a partial tail the follower must ignore), alternating `read` and
/// `read_slice`. Returns the number of fetches and how many of them ended with a partial batch.
fn replicate(leader: &Log, follower: &mut Log, budget: usize) -> (usize, usize) {
    let (mut fetches, mut cut_batches) = (0, 0);
    while follower.log_end_offset() < leader.log_end_offset() {
        let (offset, size_before) = (follower.log_end_offset(), follower.size_bytes());
        let records: Bytes = if fetches % 2 == 0 {
            leader.read(offset, budget + 700, true).unwrap().records
        } else {
            let slice = leader
                .read_slice(offset, budget + 700, true, i64::MAX)
                .unwrap();
            slice.records.unwrap().read().unwrap()
        };
        let first = BatchHeader::parse(&records).unwrap();
        let cut = records.len().min(budget.max(first.size()));
        let whole: usize = iter_headers(&records[..cut])
            .map(|item| item.unwrap().1.size())
            .sum();
        if whole < cut {
            cut_batches += 1;
        }
        let info = follower.append_as_follower(&records[..cut], T0).unwrap();
        assert_eq!(follower.size_bytes() - size_before, whole as u64);
        // Above the fetch offset after a hole of a compacted log.
        assert!(first.base_offset >= offset);
        assert_eq!(info.base_offset, first.base_offset);
        assert_eq!(info.last_offset + 1, follower.log_end_offset());
        assert!(!info.duplicate);
        assert_eq!(info.log_append_time, -1);
        fetches += 1;
        assert!(fetches < 10_000, "replication makes no progress");
    }
    assert_eq!(follower.log_end_offset(), leader.log_end_offset());
    (fetches, cut_batches)
}

/// Every file of `dir` by name, with its bytes.
fn dir_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The files of `dir` with `suffix`.
fn files_with(dir: &Path, suffix: &str) -> BTreeMap<String, Vec<u8>> {
    let mut files = dir_files(dir);
    files.retain(|name, _| name.ends_with(suffix));
    files
}

/// All `.log` files of `dir` concatenated in offset order.
fn all_batches(dir: &Path) -> Vec<u8> {
    files_with(dir, ".log").into_values().flatten().collect()
}

fn all_aborted(log: &Log) -> Vec<AbortedTxn> {
    log.aborted_transactions(log.log_start_offset(), log.log_end_offset())
        .unwrap()
}

/// What a follower must answer exactly as its leader does.
fn assert_same_state(leader: &Log, follower: &Log) {
    assert_eq!(follower.log_start_offset(), leader.log_start_offset());
    assert_eq!(follower.log_end_offset(), leader.log_end_offset());
    assert_eq!(follower.last_stable_offset(), leader.last_stable_offset());
    assert_eq!(
        follower.ongoing_transactions(),
        leader.ongoing_transactions()
    );
    assert_eq!(all_aborted(follower), all_aborted(leader));
    // Every sub-range a read_committed fetch could ask for.
    let end = leader.log_end_offset();
    for from in (0..end).step_by(7) {
        assert_eq!(
            follower.aborted_transactions(from, from + 13).unwrap(),
            leader.aborted_transactions(from, from + 13).unwrap(),
            "aborted transactions of [{from}, {})",
            from + 13
        );
    }
    assert_eq!(follower.producers(), leader.producers());
}

fn open(dir: &Path, config: LogConfig, clean: bool) -> Log {
    Log::open(dir, config, clean).unwrap()
}

#[test]
fn a_follower_copies_a_mixed_leader_log_byte_for_byte() {
    let (ldir, fdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut leader = open(ldir.path(), config(3000), true);
    fill_leader(&mut leader);
    assert!(leader.segment_count() >= 5, "{}", leader.segment_count());
    assert!(!all_aborted(&leader).is_empty());
    let mut follower = open(fdir.path(), config(3000), true);
    let (fetches, cut_batches) = replicate(&leader, &mut follower, 2500);
    assert!(fetches > leader.segment_count());
    assert!(cut_batches > fetches / 3, "{cut_batches} of {fetches}");

    // Same config, single-batch leader appends: same rolls, so every file is the same, down to the indexes, the
    // `.txnindex` files and the producer snapshots written at each roll.
    assert_eq!(dir_files(fdir.path()), dir_files(ldir.path()));
    assert_same_state(&leader, &follower);
    // A read_committed fetch answers the same on both.
    let lso = leader.last_stable_offset();
    for offset in [0, 17, lso - 1] {
        let (l, f) = (
            leader.read_upto(offset, 3000, true, lso).unwrap(),
            follower.read_upto(offset, 3000, true, lso).unwrap(),
        );
        assert_eq!(f.records, l.records);
    }

    // Clean restart: same state.
    follower.close().unwrap();
    let follower = open(fdir.path(), config(3000), true);
    assert_same_state(&leader, &follower);
    assert_eq!(all_batches(fdir.path()), all_batches(ldir.path()));
}

#[test]
fn a_follower_with_smaller_segments_holds_the_same_batches() {
    let (ldir, fdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut leader = open(ldir.path(), config(8192), true);
    fill_leader(&mut leader);
    let mut follower = open(fdir.path(), config(1500), true);
    // A budget larger than the follower's segments: one fetch spans several of its rolls.
    let (_, cut_batches) = replicate(&leader, &mut follower, 6000);
    assert!(cut_batches > 0);
    assert!(follower.segment_count() > leader.segment_count());
    assert_eq!(all_batches(fdir.path()), all_batches(ldir.path()));
    assert_same_state(&leader, &follower);
    // Every follower segment stays within its segment.bytes (each batch is smaller).
    for seg in follower.segments() {
        assert!(seg.size() <= 1500, "{}", seg.size());
    }
    drop(follower);
    let follower = open(fdir.path(), config(1500), false);
    assert_same_state(&leader, &follower);
    follower.close().unwrap();
    let follower = open(fdir.path(), config(1500), true);
    assert_same_state(&leader, &follower);
    assert_eq!(all_batches(fdir.path()), all_batches(ldir.path()));
}

#[test]
fn an_unclean_reopen_rederives_the_leaders_producer_state_and_txn_index() {
    let (ldir, fdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut leader = open(ldir.path(), config(4096), true);
    fill_leader(&mut leader);
    let mut follower = open(fdir.path(), config(4096), true);
    replicate(&leader, &mut follower, 3000);
    let txn_indexes = files_with(ldir.path(), ".txnindex");
    assert!(!txn_indexes.is_empty());
    // A crash: no close, no final snapshot.
    drop(follower);
    let follower = open(fdir.path(), config(4096), false);
    assert_same_state(&leader, &follower);
    assert_eq!(files_with(fdir.path(), ".txnindex"), txn_indexes);
    assert_eq!(all_batches(fdir.path()), all_batches(ldir.path()));
    // Without any producer snapshot: a replay of the whole log gives the same again.
    drop(follower);
    for name in files_with(fdir.path(), ".snapshot").keys() {
        std::fs::remove_file(fdir.path().join(name)).unwrap();
    }
    let follower = open(fdir.path(), config(4096), false);
    assert_same_state(&leader, &follower);
    assert_eq!(files_with(fdir.path(), ".txnindex"), txn_indexes);
}

#[test]
fn batches_with_a_gap_keep_their_offsets_through_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(4096), true);
    let low = [
        plain_at(0, 5, Compression::None, "a", 50),
        plain_at(5, 5, Compression::Lz4, "b", 50),
    ]
    .concat();
    let high = plain_at(20, 5, Compression::None, "c", 50);
    let info = log.append_as_follower(&low, T0).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (0, 9, 10)
    );
    let info = log.append_as_follower(&high, T0).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (20, 24, 5)
    );
    let check = |log: &Log| {
        assert_eq!(log.log_end_offset(), 25);
        // An offset in the gap reads the batch after it.
        for offset in 10..20 {
            let read = log.read(offset, 1 << 20, false).unwrap();
            assert_eq!(&read.records[..], &high[..], "read at {offset}");
        }
        assert_eq!(
            split(&log.read(9, 1 << 20, false).unwrap().records).len(),
            2
        );
        assert_eq!(
            log.read_slice(12, 1 << 20, false, i64::MAX)
                .unwrap()
                .next_offset,
            Some(25)
        );
    };
    check(&log);
    assert!(matches!(
        log.append_as_follower(&plain_at(24, 1, Compression::None, "d", 5), T0),
        Err(StorageError::UnexpectedAppendOffset {
            first: 24,
            log_end: 25
        })
    ));
    drop(log);
    let log = open(dir.path(), config(4096), false);
    check(&log);
    log.close().unwrap();
    let mut log = open(dir.path(), config(4096), true);
    check(&log);
    // A gap in one record set, across a roll: the new segment starts at the batch after the gap.
    log.set_config(config(400));
    let info = log
        .append_as_follower(
            &[
                plain_at(40, 3, Compression::None, "e", 100),
                plain_at(90, 3, Compression::None, "f", 100),
            ]
            .concat(),
            T0,
        )
        .unwrap();
    assert_eq!((info.base_offset, info.last_offset), (40, 92));
    let bases: Vec<i64> = log.segments().map(|s| s.base_offset()).collect();
    assert_eq!(bases, [0, 40, 90]);
    assert_eq!(log.log_end_offset(), 93);
    drop(log);
    let log = open(dir.path(), config(400), false);
    assert_eq!(log.log_end_offset(), 93);
    assert_eq!(
        BatchHeader::parse(&log.read(50, 1 << 20, true).unwrap().records)
            .unwrap()
            .base_offset,
        90
    );
}

#[test]
fn a_gap_beyond_the_relative_offset_range_rolls_at_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(1 << 20), true);
    let far = 3_000_000_000_i64;
    // Into the empty first segment: it cannot hold offsets that far, so a segment starts at the batch and the
    // empty one stays (as in Kafka).
    log.append_as_follower(&plain_at(far, 2, Compression::None, "x", 10), T0)
        .unwrap();
    let bases: Vec<i64> = log.segments().map(|s| s.base_offset()).collect();
    assert_eq!(bases, [0, far]);
    assert_eq!(log.log_end_offset(), far + 2);
    let farther = 2 * far;
    log.append_as_follower(&plain_at(farther, 2, Compression::None, "y", 10), T0)
        .unwrap();
    let bases: Vec<i64> = log.segments().map(|s| s.base_offset()).collect();
    assert_eq!(bases, [0, far, farther]);
    for clean in [false, true] {
        drop(log);
        log = open(dir.path(), config(1 << 20), clean);
        assert_eq!(log.log_end_offset(), farther + 2);
        let read = log.read(far + 5, 1 << 20, true).unwrap();
        assert_eq!(
            BatchHeader::parse(&read.records).unwrap().base_offset,
            farther
        );
        if clean {
            log.close().unwrap();
            return;
        }
        log.flush().unwrap();
    }
}

#[test]
fn follower_offsets_are_checked_and_a_corrupt_batch_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            flush_messages: 3,
            ..config(4096)
        },
        true,
    );
    // truncate_to above the log end changes nothing; the first batch may still start anywhere above it.
    log.truncate_to(500).unwrap();
    assert_eq!(log.log_end_offset(), 0);
    let info = log
        .append_as_follower(&plain_at(500, 4, Compression::Snappy, "a", 30), T0)
        .unwrap();
    assert_eq!((info.base_offset, info.last_offset), (500, 503));
    assert!(info.needs_flush);
    assert_eq!(log.log_end_offset(), 504);
    assert!(matches!(
        log.append_as_follower(&plain_at(400, 1, Compression::None, "b", 30), T0),
        Err(StorageError::UnexpectedAppendOffset {
            first: 400,
            log_end: 504
        })
    ));

    let size = log.size_bytes();
    let good = plain_at(504, 2, Compression::None, "c", 30);
    let mut bad = plain_at(506, 2, Compression::None, "d", 30).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    for set in [bad.clone(), [&good[..], &bad[..]].concat()] {
        assert!(matches!(
            log.append_as_follower(&set, T0),
            Err(StorageError::CorruptMessage(_))
        ));
        assert_eq!((log.size_bytes(), log.log_end_offset()), (size, 504));
    }
    // Overlapping or unordered batches in one set.
    for set in [
        [
            &plain_at(504, 3, Compression::None, "e", 30)[..],
            &plain_at(506, 1, Compression::None, "f", 30)[..],
        ]
        .concat(),
        [
            &plain_at(510, 1, Compression::None, "g", 30)[..],
            &plain_at(505, 1, Compression::None, "h", 30)[..],
        ]
        .concat(),
    ] {
        assert!(matches!(
            log.append_as_follower(&set, T0),
            Err(StorageError::InvalidRecord(_))
        ));
        assert_eq!((log.size_bytes(), log.log_end_offset()), (size, 504));
    }
    // Nothing whole: nothing written, and no error.
    for set in [Bytes::new(), good.slice(..good.len() - 1), good.slice(..30)] {
        let info = log.append_as_follower(&set, T0).unwrap();
        assert_eq!(
            (info.base_offset, info.last_offset, info.record_count),
            (504, 503, 0)
        );
        assert_eq!((log.size_bytes(), log.log_end_offset()), (size, 504));
    }
    // A partial tail is dropped, the whole batches before it appended.
    let next = plain_at(506, 2, Compression::None, "i", 30);
    let set = [&good[..], &next[..next.len() - 10]].concat();
    let info = log.append_as_follower(&set, T0).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (504, 505, 2)
    );
    assert_eq!(log.size_bytes(), size + good.len() as u64);
    // A client batch would be refused for its base offset or its control bit; a follower takes the leader's
    // markers and no max.message.bytes limit applies.
    let marker =
        minikafka_storage::batch::build_txn_marker(9, 0, 0, TxnMarker::Commit, T0).unwrap();
    let mut marker = marker.to_vec();
    marker[..8].copy_from_slice(&506_i64.to_be_bytes());
    log.set_config(LogConfig {
        max_message_bytes: 100,
        ..config(4096)
    });
    let big = plain_at(507, 5, Compression::None, "j", 200);
    log.append_as_follower(&[&marker[..], &big[..]].concat(), T0)
        .unwrap();
    assert_eq!(log.log_end_offset(), 512);
    drop(log);
    let log = open(dir.path(), config(4096), false);
    assert_eq!(log.log_end_offset(), 512);
    assert_eq!(log.log_start_offset(), 0);
}

#[test]
fn a_follower_restarted_at_the_leaders_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(4096), true);
    log.append_as_follower(&plain_at(0, 10, Compression::None, "a", 30), T0)
        .unwrap();
    log.truncate_fully_and_start_at(500).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 500));
    assert_eq!(
        log.segments().map(|s| s.base_offset()).collect::<Vec<_>>(),
        [500]
    );
    assert!(matches!(
        log.append_as_follower(&plain_at(499, 1, Compression::None, "b", 30), T0),
        Err(StorageError::UnexpectedAppendOffset { first: 499, .. })
    ));
    log.append_as_follower(&plain_at(500, 3, Compression::None, "c", 30), T0)
        .unwrap();
    assert!(log.sync_job().is_some());
    log.flush().unwrap();
    drop(log);
    let log = open(dir.path(), config(4096), false);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 503));
    assert!(!dir.path().join("00000000000000000000.log").exists());
}

#[test]
fn a_diverging_follower_truncates_and_converges_on_the_new_leader() {
    let (adir, bdir, fdir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (mut a, mut b) = (
        open(adir.path(), config(2048), true),
        open(bdir.path(), config(2048), true),
    );
    // A common prefix (same bytes on both leaders), including a committed transaction and an idempotent producer.
    let (mut p1, mut p2) = (Producer::new(1), Producer::new(2));
    for log in [&mut a, &mut b] {
        (p1, p2) = (Producer::new(1), Producer::new(2));
        for i in 0..8 {
            log.append(&plain(3, Compression::None, &format!("c{i}")), 0, T0)
                .unwrap();
            p1.send(log, 2, false, 0);
            p2.send(log, 1, true, 0);
        }
        p2.end(log, TxnMarker::Commit, 0, 0);
    }
    assert_eq!(all_batches(adir.path()), all_batches(bdir.path()));
    let common_end = a.log_end_offset();
    // Old leader A goes on with an aborted transaction and more data; new leader B (epoch 1) with other data.
    let (mut a1, mut a2) = (p1.clone(), p2.clone());
    for i in 0..6 {
        a.append(&plain(2, Compression::Gzip, &format!("old{i}")), 0, T0)
            .unwrap();
        a2.send(&mut a, 2, true, 0);
        a1.send(&mut a, 1, false, 0);
    }
    a2.end(&mut a, TxnMarker::Abort, 0, 0);
    assert!(!all_aborted(&a).is_empty());
    let (mut b1, mut b2) = (p1, p2);
    (b2.epoch, b2.seq) = (1, 0);
    for i in 0..5 {
        b.append(&plain(4, Compression::Zstd, &format!("new{i}")), 1, T0)
            .unwrap();
        b2.send(&mut b, 1, true, 1);
        b1.send(&mut b, 3, false, 1);
    }
    b2.end(&mut b, TxnMarker::Abort, 1, 1);
    b.append(&plain(1, Compression::None, "tail"), 1, T0)
        .unwrap();

    let mut f = open(fdir.path(), config(2048), true);
    replicate(&a, &mut f, 1500);
    assert_eq!(dir_files(fdir.path()), dir_files(adir.path()));
    // The divergence point falls inside A's first diverging batch: that whole batch goes.
    f.truncate_to(common_end + 1).unwrap();
    assert_eq!(f.log_end_offset(), common_end);
    assert!(all_aborted(&f).is_empty());
    replicate(&b, &mut f, 1500);
    // The same batches; the segment boundaries may differ from B's at the truncation point (a segment A rolled at
    // or below it stays, as in Kafka), so the aborted transactions are compared through the log, not the files.
    assert_eq!(all_batches(fdir.path()), all_batches(bdir.path()));
    assert_same_state(&b, &f);
    drop(f);
    let f = open(fdir.path(), config(2048), false);
    assert_same_state(&b, &f);
}

#[test]
fn a_follower_takes_what_its_leader_took_without_producer_checks() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config(4096), true);
    let at = |base: i64, b: Bytes| {
        let mut v = b.to_vec();
        v[..8].copy_from_slice(&base.to_be_bytes());
        // The base offset lies outside the CRC.
        v
    };
    // A sequence gap, a repeated sequence (a duplicate to a leader), an older epoch, then a marker of an older
    // coordinator epoch: all accepted, state updated as they come.
    let sets = [
        at(0, produce(7, 3, 0, 2, false)),
        at(2, produce(7, 3, 10, 2, false)),
        at(4, produce(7, 3, 10, 2, false)),
        at(6, produce(7, 2, 0, 1, true)),
        at(
            7,
            minikafka_storage::batch::build_txn_marker(7, 2, 5, TxnMarker::Abort, T0).unwrap(),
        ),
        at(
            8,
            minikafka_storage::batch::build_txn_marker(7, 2, 4, TxnMarker::Commit, T0).unwrap(),
        ),
    ];
    for set in &sets {
        let info = log.append_as_follower(set, T0).unwrap();
        assert!(!info.duplicate);
    }
    assert_eq!(log.log_end_offset(), 9);
    let p = log.producers()[0];
    assert_eq!(
        (
            p.producer_id,
            p.producer_epoch,
            p.last_sequence,
            p.coordinator_epoch
        ),
        (7, 2, 0, 4)
    );
    assert_eq!(
        all_aborted(&log),
        vec![AbortedTxn {
            producer_id: 7,
            first_offset: 6,
            last_offset: 7,
            last_stable_offset: 8
        }]
    );
    assert_eq!(log.last_stable_offset(), 9);
    // The same batches in one record set give the same state.
    let dir2 = tempfile::tempdir().unwrap();
    let mut one = open(dir2.path(), config(4096), true);
    one.append_as_follower(&sets.concat(), T0).unwrap();
    assert_eq!(one.producers(), log.producers());
    assert_eq!(all_aborted(&one), all_aborted(&log));
    assert_eq!(all_batches(dir2.path()), all_batches(dir.path()));
}

#[test]
fn log_append_time_batches_are_copied_unchanged() {
    let (ldir, fdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let lconfig = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..config(4096)
    };
    let mut leader = open(ldir.path(), lconfig, true);
    for i in 0..30 {
        leader
            .append(
                &plain(2, Compression::None, &format!("t{i}")),
                4,
                T0 + 1_000 + i,
            )
            .unwrap();
    }
    // The follower's own timestamp type and clock do not matter.
    let mut follower = open(fdir.path(), config(4096), true);
    replicate(&leader, &mut follower, 1000);
    assert_eq!(dir_files(fdir.path()), dir_files(ldir.path()));
    assert_eq!(
        follower.offset_for_timestamp(T0 + 1_010).unwrap(),
        leader.offset_for_timestamp(T0 + 1_010).unwrap()
    );
    for (h, _) in split(&follower.read(0, 1 << 30, true).unwrap().records) {
        assert_eq!(h.partition_leader_epoch, 4);
        assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
    }
}

/// 120 batches of 1 to 4 records (some gzip), `ts_step` ms apart, with small gaps and one gap of 3e9 offsets.
fn varied_batches(ts_step: i64) -> (Vec<Bytes>, i64) {
    let mut batches = Vec::new();
    let mut base = 0;
    for i in 0..120_i64 {
        let n = 1 + (i % 4) as usize;
        let b = BatchBuilder {
            compression: if i % 5 == 0 {
                Compression::Gzip
            } else {
                Compression::None
            },
            ..BatchBuilder::new(base, T0 + ts_step * i)
        }
        .build(
            &records(n, &format!("r{i}"), 40 + 13 * (i % 7) as usize)
                .into_iter()
                .map(|r| Record {
                    timestamp: T0 + ts_step * i,
                    ..r
                })
                .collect::<Vec<_>>(),
        )
        .unwrap();
        batches.push(b);
        base += n as i64;
        if i % 9 == 0 {
            base += 3;
        }
        if i == 60 {
            base += 3_000_000_000;
        }
    }
    (batches, base)
}

#[test]
fn one_record_set_rolls_where_batch_by_batch_appends_roll() {
    // Each kind of roll (segment.bytes; segment.ms with timestamps 7 ms apart; a full offset index, with constant
    // timestamps so that the time index stays small; a full time index; all at once) falls inside record sets. The
    // relative offset range overflows once in every case.
    let small = LogConfig {
        index_interval_bytes: 150,
        ..LogConfig::default()
    };
    let cases = [
        (
            LogConfig {
                segment_bytes: 1500,
                ..small.clone()
            },
            7,
        ),
        (
            LogConfig {
                segment_ms: 60,
                ..small.clone()
            },
            7,
        ),
        (
            LogConfig {
                segment_index_bytes: 24,
                ..small.clone()
            },
            0,
        ),
        (
            LogConfig {
                segment_index_bytes: 36,
                ..small.clone()
            },
            7,
        ),
        (
            LogConfig {
                segment_bytes: 2500,
                segment_ms: 60,
                segment_index_bytes: 24,
                ..small.clone()
            },
            7,
        ),
    ];
    for (config, ts_step) in cases {
        let (batches, end) = varied_batches(ts_step);
        let (one, each) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut by_set = open(one.path(), config.clone(), true);
        let mut by_batch = open(each.path(), config.clone(), true);
        for chunk in batches.chunks(25) {
            by_set.append_as_follower(&chunk.concat(), T0).unwrap();
        }
        for b in &batches {
            by_batch.append_as_follower(b, T0).unwrap();
        }
        assert!(
            by_batch.segment_count() > 8,
            "{config:?}: {}",
            by_batch.segment_count()
        );
        assert_eq!(dir_files(one.path()), dir_files(each.path()), "{config:?}");
        assert_eq!(by_set.log_end_offset(), end);
    }
}

#[test]
fn a_follower_copies_a_compacted_leader_log_with_holes_and_empty_batches() {
    let (ldir, fdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 128,
        cleanup_policy: minikafka_storage::CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: 0.0,
        retention_ms: -1,
        ..LogConfig::default()
    };
    let mut leader = open(ldir.path(), config.clone(), true);
    // Keys overwritten over and over, by plain batches and by an idempotent producer (whose last batch the cleaner
    // keeps, emptied if need be), and an aborted transaction (whose records it removes).
    let mut p = Producer::new(3);
    let mut t = Producer::new(4);
    for round in 0..12 {
        for k in 0..4 {
            let recs: Vec<Record> = (0..3)
                .map(|j| Record {
                    offset: 0,
                    timestamp: T0 + round,
                    key: Some(Bytes::from(format!("key{}", (k + j) % 5))),
                    value: Some(Bytes::from(format!("v{round}-{k}-{j}"))),
                    headers: vec![],
                })
                .collect();
            let b = BatchBuilder::new(0, T0 + round).build(&recs).unwrap();
            leader.append(&b, 0, T0).unwrap();
        }
        if round % 4 == 0 {
            p.send(&mut leader, 2, false, 0);
            t.send(&mut leader, 2, true, 0);
            t.end(&mut leader, TxnMarker::Abort, 0, 0);
        }
    }
    assert!(leader.clean(T0 + 1_000).unwrap().is_some());
    let batches = Bytes::from(all_batches(ldir.path()));
    let headers: Vec<BatchHeader> = split(&batches).into_iter().map(|(h, _)| h).collect();
    assert!(
        headers
            .windows(2)
            .any(|w| w[1].base_offset > w[0].last_offset() + 1)
            || headers
                .iter()
                .any(|h| h.records_count < h.last_offset_delta + 1),
        "the clean left no hole"
    );
    let mut follower = open(fdir.path(), config.clone(), true);
    replicate(&leader, &mut follower, 1000);
    assert_eq!(all_batches(fdir.path()), all_batches(ldir.path()));
    // The `.txnindex` entries the cleaner carried over for aborted transactions whose batches it dropped cannot be
    // derived from the log: the follower has only those with a batch left, if only an emptied one (as the leader
    // itself would after a recovery replaying over them, and as in Kafka). The others exclude nothing a reader
    // could get.
    let check = |follower: &Log| {
        assert_eq!(follower.log_end_offset(), leader.log_end_offset());
        assert_eq!(follower.last_stable_offset(), leader.last_stable_offset());
        assert_eq!(follower.producers(), leader.producers());
        let (ours, theirs) = (all_aborted(follower), all_aborted(&leader));
        assert!(!ours.is_empty());
        for txn in &theirs {
            let batch_left = headers.iter().any(|h| {
                h.producer_id == txn.producer_id
                    && h.is_transactional()
                    && !h.is_control()
                    && h.base_offset >= txn.first_offset
                    && h.base_offset < txn.last_offset
            });
            assert_eq!(ours.contains(txn), batch_left, "{txn:?}");
        }
        assert!(ours.iter().all(|t| theirs.contains(t)));
    };
    check(&follower);
    drop(follower);
    let follower = open(fdir.path(), config, false);
    check(&follower);
}
