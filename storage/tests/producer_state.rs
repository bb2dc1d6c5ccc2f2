//! Idempotent producer state through `Log`: duplicates, sequence and epoch errors, snapshots, recovery, truncation,
//! expiry, and a model-based proptest.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use common::*;
use minikafka_storage::batch::{BatchBuilder, Record};
use minikafka_storage::producer_state::{read_snapshot, DEFAULT_PRODUCER_ID_EXPIRATION_MS};
use minikafka_storage::{
    AppendInfo, Log, LogConfig, ProducerSnapshotEntry, StorageError, TimestampType,
};
use proptest::prelude::*;

/// A batch of `n` records from producer `pid`/`epoch` starting at sequence `seq`.
fn pbatch(pid: i64, epoch: i16, seq: i32, n: usize, ts: i64) -> Bytes {
    let recs: Vec<Record> = (0..n as i64).map(|i| rec(ts + i, ts + i, 20)).collect();
    BatchBuilder {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        ..BatchBuilder::new(0, ts)
    }
    .build(&recs)
    .unwrap()
}

fn plain(n: usize, ts: i64) -> Bytes {
    pbatch(-1, -1, -1, n, ts)
}

fn concat(batches: &[Bytes]) -> Vec<u8> {
    batches.iter().flat_map(|b| b.iter().copied()).collect()
}

/// Segments large enough that the tests using it never roll.
fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 * 1024,
        index_interval_bytes: 128,
        ..LogConfig::default()
    }
}

/// Segments of 1 KiB: a roll every few batches.
fn rolling() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        ..config()
    }
}

fn open(dir: &Path, clean: bool) -> Log {
    Log::open(dir, config(), clean).unwrap()
}

fn open_rolling(dir: &Path, clean: bool) -> Log {
    Log::open(dir, rolling(), clean).unwrap()
}

fn append(log: &mut Log, b: &[u8]) -> AppendInfo {
    log.append(b, 0, 1_000).unwrap()
}

/// Appends must fail with the given error and leave the log untouched.
fn assert_rejected(log: &mut Log, b: &[u8], check: fn(&StorageError) -> bool) {
    let (leo, size, producers) = (log.log_end_offset(), log.size_bytes(), log.producers());
    let err = log.append(b, 0, 1_000).unwrap_err();
    assert!(check(&err), "unexpected error {err:?}");
    assert_eq!(
        (log.log_end_offset(), log.size_bytes(), log.producers()),
        (leo, size, producers)
    );
}

fn out_of_order(e: &StorageError) -> bool {
    matches!(e, StorageError::OutOfOrderSequence(_))
}

fn bad_epoch(e: &StorageError) -> bool {
    matches!(e, StorageError::InvalidProducerEpoch(_))
}

/// The retry must be answered as a duplicate of `original` without writing anything.
fn assert_duplicate(log: &mut Log, b: &[u8], original: &AppendInfo) {
    let (leo, size) = (log.log_end_offset(), log.size_bytes());
    let info = log.append(b, 0, 9_999).unwrap();
    assert!(info.duplicate, "{info:?}");
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (original.base_offset, original.last_offset, 0)
    );
    assert_eq!((log.log_end_offset(), log.size_bytes()), (leo, size));
}

/// Six batches of two records from producer 7 (epoch 0, sequences 0..12), interleaved with plain batches.
fn six_batches(log: &mut Log) -> Vec<(Bytes, AppendInfo)> {
    let mut out = Vec::new();
    for i in 0..6 {
        append(log, &plain(1, 100 + i));
        let b = pbatch(7, 0, 2 * i as i32, 2, 200 + i);
        let info = append(log, &b);
        assert!(!info.duplicate);
        out.push((b, info));
    }
    out
}

/// A fresh log holding [`six_batches`], with the producers and log end offset at that point.
struct Six {
    dir: tempfile::TempDir,
    log: Log,
    sent: Vec<(Bytes, AppendInfo)>,
    producers: Vec<ProducerSnapshotEntry>,
    leo: i64,
}

fn six() -> Six {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    let sent = six_batches(&mut log);
    let (producers, leo) = (log.producers(), log.log_end_offset());
    Six {
        dir,
        log,
        sent,
        producers,
        leo,
    }
}

/// Delete every snapshot file in `dir`.
fn remove_snapshots(dir: &Path) {
    for o in snapshot_files(dir) {
        std::fs::remove_file(dir.join(format!("{o:020}.snapshot"))).unwrap();
    }
}

#[test]
fn duplicates_of_each_of_the_last_five_batches_return_the_original_offsets() {
    let Six { mut log, sent, .. } = six();
    for (b, info) in &sent[1..] {
        assert_duplicate(&mut log, b, info);
    }
    // The oldest batch fell out of the cache: its retry is out of order, not a duplicate.
    assert_rejected(&mut log, &sent[0].0, out_of_order);
    // A duplicate anywhere in a record set makes the whole set a duplicate (Kafka returns at the first one).
    let mixed = concat(&[plain(1, 5), sent[3].0.clone()]);
    assert_duplicate(&mut log, &mixed, &sent[3].1);
    // The sequence continues normally afterwards.
    let info = append(&mut log, &pbatch(7, 0, 12, 1, 300));
    assert_eq!(info.base_offset, sent[5].1.last_offset + 1);
    let p = log.producers();
    assert_eq!(p.len(), 1);
    assert_eq!(
        (
            p[0].producer_id,
            p[0].producer_epoch,
            p[0].last_sequence,
            p[0].last_offset
        ),
        (7, 0, 12, info.last_offset)
    );
}

#[test]
fn duplicate_with_log_append_time_returns_the_original_append_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..config()
    };
    let mut log = Log::open(dir.path(), cfg, true).unwrap();
    let b = pbatch(1, 0, 0, 3, 10);
    let first = log.append(&b, 0, 5_000).unwrap();
    assert_eq!(first.log_append_time, 5_000);
    let dup = log.append(&b, 0, 6_000).unwrap();
    assert!(dup.duplicate);
    assert_eq!(
        (dup.base_offset, dup.last_offset, dup.log_append_time),
        (0, 2, 5_000)
    );
}

#[test]
fn sequence_gap_and_stale_epoch_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    append(&mut log, &pbatch(3, 2, 0, 2, 0));
    assert_rejected(&mut log, &pbatch(3, 2, 3, 1, 0), out_of_order);
    assert_rejected(&mut log, &pbatch(3, 1, 2, 1, 0), bad_epoch);
    // A valid batch before the bad one in the same record set is not written either.
    let set = concat(&[pbatch(3, 2, 2, 1, 0), pbatch(3, 2, 5, 1, 0)]);
    assert_rejected(&mut log, &set, out_of_order);
    let set = concat(&[plain(2, 0), pbatch(3, 1, 2, 1, 0)]);
    assert_rejected(&mut log, &set, bad_epoch);
    // Two valid batches of one producer in one record set chain.
    let set = concat(&[pbatch(3, 2, 2, 1, 0), pbatch(3, 2, 3, 2, 0)]);
    let info = append(&mut log, &set);
    assert_eq!((info.base_offset, info.last_offset), (2, 4));
    assert_eq!(log.producers()[0].last_sequence, 4);
}

#[test]
fn epoch_bump_must_start_at_sequence_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    append(&mut log, &pbatch(3, 0, 0, 2, 0));
    assert_rejected(&mut log, &pbatch(3, 1, 2, 1, 0), out_of_order);
    append(&mut log, &pbatch(3, 1, 0, 1, 0));
    // The old epoch's batches are no longer duplicates, and the old epoch is fenced.
    assert_rejected(&mut log, &pbatch(3, 0, 0, 2, 0), bad_epoch);
    append(&mut log, &pbatch(3, 1, 1, 1, 0));
    assert_eq!(
        (
            log.producers()[0].producer_epoch,
            log.producers()[0].last_sequence
        ),
        (1, 1)
    );
}

#[test]
fn unknown_producer_is_accepted_with_any_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    let info = append(&mut log, &pbatch(9, 4, 1_000, 1, 0));
    assert!(!info.duplicate);
    assert_rejected(&mut log, &pbatch(9, 4, 1_002, 1, 0), out_of_order);
    append(&mut log, &pbatch(9, 4, 1_001, 1, 0));
}

#[test]
fn sequence_wraps_around_after_i32_max() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    append(&mut log, &pbatch(1, 0, i32::MAX - 3, 2, 0));
    // This batch's sequences are MAX-1, MAX, 0.
    let wrap = pbatch(1, 0, i32::MAX - 1, 3, 0);
    let info = append(&mut log, &wrap);
    assert_eq!(log.producers()[0].last_sequence, 0);
    assert_duplicate(&mut log, &wrap, &info);
    assert_rejected(&mut log, &pbatch(1, 0, 0, 1, 0), out_of_order);
    append(&mut log, &pbatch(1, 0, 1, 1, 0));
    // And a batch ending exactly at MAX is followed by 0.
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    append(&mut log, &pbatch(1, 0, i32::MAX - 1, 2, 0));
    append(&mut log, &pbatch(1, 0, 0, 1, 0));
}

#[test]
fn dedupe_survives_a_clean_close_and_reopen() {
    let six = six();
    let (dir, log, sent, producers, leo) = (six.dir, six.log, six.sent, six.producers, six.leo);
    log.close().unwrap();
    let snap = dir.path().join(format!("{leo:020}.snapshot"));
    assert_eq!(read_snapshot(&snap).unwrap(), producers);
    let mut log = open(dir.path(), true);
    assert_eq!(log.producers(), producers);
    assert_duplicate(&mut log, &sent[5].0, &sent[5].1);
    // Kafka's snapshot keeps only each producer's last batch: an older retry is out of order after a reload.
    assert_rejected(&mut log, &sent[4].0, out_of_order);
    append(&mut log, &pbatch(7, 0, 12, 1, 0));
}

#[test]
fn dedupe_survives_an_unclean_reopen_after_a_garbage_tail() {
    let six = six();
    let (dir, log, sent, producers, leo) = (six.dir, six.log, six.sent, six.producers, six.leo);
    let last = log.segments().last().unwrap().log_path().to_path_buf();
    drop(log); // kill -9: no close, no snapshot at the log end
    let mut f = OpenOptions::new().append(true).open(&last).unwrap();
    f.write_all(&[0xAB; 50]).unwrap();
    drop(f);
    let mut log = open(dir.path(), false);
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(log.producers(), producers);
    // Rebuilt from the log: every one of the last five batches is still recognised.
    for (b, info) in &sent[1..] {
        assert_duplicate(&mut log, b, info);
    }
    // Same again with every snapshot gone: a full rebuild from the log start.
    drop(log);
    remove_snapshots(dir.path());
    let mut log = open(dir.path(), false);
    for (b, info) in &sent[1..] {
        assert_duplicate(&mut log, b, info);
    }
}

#[test]
fn a_torn_last_batch_is_forgotten_so_its_retry_is_written() {
    let Six { dir, log, sent, .. } = six();
    let last = log.segments().last().unwrap().log_path().to_path_buf();
    drop(log);
    let len = std::fs::metadata(&last).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let mut log = open(dir.path(), false);
    assert_eq!(log.log_end_offset(), sent[5].1.base_offset);
    let info = append(&mut log, &sent[5].0);
    assert!(!info.duplicate);
    assert_eq!(info.base_offset, sent[5].1.base_offset);
    assert_duplicate(&mut log, &sent[4].0, &sent[4].1);
}

#[test]
fn a_corrupt_snapshot_is_deleted_and_the_state_rebuilt() {
    let six = six();
    let (dir, log, sent, producers, leo) = (six.dir, six.log, six.sent, six.producers, six.leo);
    log.close().unwrap();
    let snap = dir.path().join(format!("{leo:020}.snapshot"));
    let mut bytes = std::fs::read(&snap).unwrap();
    bytes[12] ^= 0xFF;
    std::fs::write(&snap, bytes).unwrap();
    let mut log = open(dir.path(), true);
    assert_eq!(log.producers(), producers);
    assert_duplicate(&mut log, &sent[5].0, &sent[5].1);
    // The bad file was replaced by a fresh snapshot at the log end.
    assert_eq!(read_snapshot(&snap).unwrap(), producers);
}

fn snapshot_files(dir: &Path) -> Vec<i64> {
    files(dir)
        .iter()
        .filter_map(|n| n.strip_suffix(".snapshot").map(|s| s.parse().unwrap()))
        .collect()
}

#[test]
fn snapshots_are_written_on_roll_and_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_rolling(dir.path(), true);
    for i in 0..40 {
        append(&mut log, &pbatch(1, 0, 2 * i, 2, 0));
    }
    let bases: Vec<i64> = log.segments().map(|s| s.base_offset()).collect();
    assert!(bases.len() >= 4, "{bases:?}");
    // One snapshot per roll, only the last two segments' kept.
    let last_two = bases[bases.len() - 2..].to_vec();
    assert_eq!(log.producer_snapshot_offsets(), last_two);
    assert_eq!(snapshot_files(dir.path()), last_two);
    // The snapshot at a segment base holds the state just before it.
    let at = read_snapshot(&dir.path().join(format!("{:020}.snapshot", last_two[1]))).unwrap();
    assert_eq!(at[0].last_offset, last_two[1] - 1);
    // A sync job covers the unsynced roll snapshots.
    let job = log.sync_job().unwrap();
    let offset = job.run().unwrap();
    log.mark_flushed(offset, 0);
    // Retention deletes the snapshot of a deleted segment; producers stay (only expiry removes them).
    log.set_config(LogConfig {
        retention_bytes: 1,
        ..rolling()
    });
    log.enforce_retention(0).unwrap();
    let start = log.log_start_offset();
    assert!(log.producer_snapshot_offsets().iter().all(|&o| o >= start));
    assert_eq!(log.producers().len(), 1);
    let leo = log.log_end_offset();
    log.close().unwrap();
    assert_eq!(snapshot_files(dir.path()).last(), Some(&leo));
    // A stray snapshot that matches no segment is deleted at open.
    std::fs::write(dir.path().join(format!("{:020}.snapshot", 1)), b"x").unwrap();
    let log = open_rolling(dir.path(), true);
    assert!(!log.producer_snapshot_offsets().contains(&1));
    assert!(!snapshot_files(dir.path()).contains(&1));
}

#[test]
fn a_log_without_snapshots_after_a_clean_shutdown_starts_empty() {
    // Kafka's upgrade path: no snapshot and a clean shutdown → no scan, empty state, empty snapshots.
    let Six { dir, log, .. } = six();
    log.close().unwrap();
    remove_snapshots(dir.path());
    let mut log = open(dir.path(), true);
    assert!(log.producers().is_empty());
    assert_eq!(
        log.producer_snapshot_offsets().last(),
        Some(&log.log_end_offset())
    );
    append(&mut log, &pbatch(7, 0, 77, 1, 0));
}

#[test]
fn expiry_forgets_idle_producers() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), true);
    append(&mut log, &pbatch(1, 0, 0, 1, 1_000));
    append(&mut log, &pbatch(2, 0, 0, 1, 50_000));
    let exp = DEFAULT_PRODUCER_ID_EXPIRATION_MS;
    assert_eq!(log.expire_producers(1_000 + exp - 1, exp), 0);
    assert_eq!(log.expire_producers(1_000 + exp, exp), 1);
    let ids: Vec<i64> = log.producers().iter().map(|p| p.producer_id).collect();
    assert_eq!(ids, [2]);
    // Producer 1 is unknown now: any sequence is accepted.
    append(&mut log, &pbatch(1, 0, 5, 1, 0));
    assert_eq!(log.expire_producers(i64::MAX, exp), 2);
    assert!(log.producers().is_empty());
}

#[test]
fn truncation_rebuilds_the_state_below_the_new_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_rolling(dir.path(), true);
    let mut sent = Vec::new();
    for i in 0..30 {
        let b = pbatch(1, 0, 2 * i, 2, 0);
        let info = append(&mut log, &b);
        sent.push((b, info));
    }
    assert!(log.segment_count() >= 3);
    // Cut inside the log: batches 20.. go, snapshots above the new end too.
    let cut = sent[20].1.base_offset;
    log.truncate_to(cut).unwrap();
    assert_eq!(log.log_end_offset(), cut);
    assert!(log.producer_snapshot_offsets().iter().all(|&o| o <= cut));
    assert_eq!(snapshot_files(dir.path()), log.producer_snapshot_offsets());
    let p = log.producers();
    assert_eq!((p[0].last_sequence, p[0].last_offset), (39, cut - 1));
    assert_duplicate(&mut log, &sent[19].0, &sent[19].1);
    let info = append(&mut log, &sent[20].0);
    assert!(!info.duplicate);
    assert_eq!(info.base_offset, cut);
    // Below the log start everything goes.
    log.set_config(LogConfig {
        retention_bytes: 1,
        ..rolling()
    });
    log.enforce_retention(0).unwrap();
    let start = log.log_start_offset();
    log.truncate_to(start - 1).unwrap();
    assert!(log.producers().is_empty());
    assert!(snapshot_files(dir.path()).is_empty());
}

// ---- model-based proptest ----

/// What the test's client does next with one producer.
#[derive(Debug, Clone)]
enum Kind {
    /// The next batch in sequence.
    Next,
    /// Resend the batch `k` places back (0 = the last one sent successfully).
    Retry(usize),
    /// Skip `gap` sequences.
    Gap(i32),
    /// Use the previous epoch.
    StaleEpoch,
    /// Bump the epoch, starting at sequence `seq` (0 is valid).
    Bump(i32),
}

#[derive(Debug, Clone)]
enum Op {
    Send { pid: usize, kind: Kind, n: usize },
    Plain { n: usize },
    Reopen { clean: bool },
}

fn op() -> impl Strategy<Value = Op> {
    let kind = prop_oneof![
        6 => Just(Kind::Next),
        4 => (0usize..7).prop_map(Kind::Retry),
        1 => (1i32..3).prop_map(Kind::Gap),
        1 => Just(Kind::StaleEpoch),
        1 => (0i32..2).prop_map(Kind::Bump),
    ];
    prop_oneof![
        12 => (0usize..3, kind, 1usize..4).prop_map(|(pid, kind, n)| Op::Send { pid, kind, n }),
        2 => (1usize..3).prop_map(|n| Op::Plain { n }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

/// A batch as the broker stored it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stored {
    pid: i64,
    epoch: i16,
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
    last_offset: i64,
}

/// The broker's expected producer state: per producer, its epoch and cached batches.
#[derive(Debug, Default, Clone)]
struct Model {
    history: Vec<Stored>,
    cache: std::collections::BTreeMap<i64, (i16, Vec<Stored>)>,
}

impl Model {
    fn add(&mut self, s: Stored) {
        let e = self.cache.entry(s.pid).or_insert((s.epoch, Vec::new()));
        if e.0 != s.epoch {
            *e = (s.epoch, Vec::new());
        }
        e.1.push(s);
        if e.1.len() > 5 {
            e.1.remove(0);
        }
    }

    /// Reload from a snapshot at `snap` (each producer's last batch below it), then replay the log above it.
    fn reload(&mut self, snap: i64) {
        self.cache.clear();
        let history = std::mem::take(&mut self.history);
        let mut last_below = std::collections::BTreeMap::new();
        for s in history.iter().filter(|s| s.last_offset < snap) {
            last_below.insert(s.pid, *s);
        }
        for s in last_below.into_values() {
            self.cache.insert(s.pid, (s.epoch, vec![s]));
        }
        for s in history.iter().filter(|s| s.first_offset >= snap) {
            self.add(*s);
        }
        self.history = history;
    }

    /// Expected outcome of a batch: Ok(None) = written, Ok(Some(offsets)) = duplicate, Err(name) = rejected.
    fn expect(
        &self,
        pid: i64,
        epoch: i16,
        first: i32,
        last: i32,
    ) -> Result<Option<(i64, i64)>, &str> {
        let Some((cur, batches)) = self.cache.get(&pid) else {
            return Ok(None);
        };
        if epoch == *cur {
            if let Some(d) = batches
                .iter()
                .find(|b| b.first_seq == first && b.last_seq == last)
            {
                return Ok(Some((d.first_offset, d.last_offset)));
            }
        }
        if epoch < *cur {
            return Err("epoch");
        }
        if epoch > *cur {
            return if first == 0 { Ok(None) } else { Err("seq") };
        }
        let last_seq = batches.last().map_or(-1, |b| b.last_seq);
        if first == last_seq.wrapping_add(1) {
            Ok(None)
        } else {
            Err("seq")
        }
    }
}

/// What the client believes about one producer.
#[derive(Debug, Clone, Default)]
struct Client {
    epoch: i16,
    next_seq: i32,
    /// Batches sent successfully (bytes, epoch, first seq, last seq), newest last.
    sent: Vec<(Bytes, i16, i32, i32)>,
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_rolling(dir.path(), true);
    let mut model = Model::default();
    let mut clients = vec![Client::default(); 3];
    for op in ops {
        match op {
            Op::Send { pid, kind, n } => {
                let c = &mut clients[pid];
                let pid = 100 + pid as i64;
                let n32 = n as i32;
                let (bytes, epoch, first) = match kind {
                    Kind::Retry(k) if k < c.sent.len() => {
                        let (b, e, f, _) = c.sent[c.sent.len() - 1 - k].clone();
                        (b, e, f)
                    }
                    Kind::StaleEpoch if c.epoch > 0 => {
                        let e = c.epoch - 1;
                        (pbatch(pid, e, c.next_seq, n, 0), e, c.next_seq)
                    }
                    // Epoch -1 would be NO_PRODUCER_EPOCH, which Kafka treats as "no state": send the next batch.
                    Kind::Next | Kind::Retry(_) | Kind::StaleEpoch => {
                        (pbatch(pid, c.epoch, c.next_seq, n, 0), c.epoch, c.next_seq)
                    }
                    Kind::Gap(g) => {
                        let s = c.next_seq + g;
                        (pbatch(pid, c.epoch, s, n, 0), c.epoch, s)
                    }
                    Kind::Bump(s) => {
                        let e = c.epoch + 1;
                        (pbatch(pid, e, s, n, 0), e, s)
                    }
                };
                let batch_n = minikafka_storage::batch::BatchHeader::parse(&bytes)
                    .unwrap()
                    .records_count;
                let last = first + batch_n - 1;
                let expected = model.expect(pid, epoch, first, last);
                let leo = log.log_end_offset();
                match (log.append(&bytes, 0, 1_000), expected) {
                    (Ok(info), Ok(None)) => {
                        prop_assert!(!info.duplicate);
                        prop_assert_eq!(info.base_offset, leo);
                        let s = Stored {
                            pid,
                            epoch,
                            first_seq: first,
                            last_seq: last,
                            first_offset: info.base_offset,
                            last_offset: info.last_offset,
                        };
                        model.history.push(s);
                        model.add(s);
                        c.epoch = epoch;
                        c.next_seq = last + 1;
                        c.sent.push((bytes, epoch, first, last));
                    }
                    (Ok(info), Ok(Some((f, l)))) => {
                        prop_assert!(info.duplicate);
                        prop_assert_eq!((info.base_offset, info.last_offset), (f, l));
                        prop_assert_eq!(log.log_end_offset(), leo);
                    }
                    (Err(StorageError::OutOfOrderSequence(_)), Err("seq"))
                    | (Err(StorageError::InvalidProducerEpoch(_)), Err("epoch")) => {
                        prop_assert_eq!(log.log_end_offset(), leo);
                    }
                    (got, want) => {
                        return Err(TestCaseError::fail(format!(
                            "pid {pid} epoch {epoch} seq {first}..={last} n {n32}: got {got:?}, want {want:?}"
                        )))
                    }
                }
            }
            Op::Plain { n } => {
                append(&mut log, &plain(n, 0));
            }
            Op::Reopen { clean } => {
                let snap = if clean {
                    log.close().unwrap();
                    model.history.last().map_or(0, |_| i64::MAX)
                } else {
                    let s = log.producer_snapshot_offsets().last().copied().unwrap_or(0);
                    drop(log);
                    s
                };
                model.reload(snap);
                log = open_rolling(dir.path(), clean);
            }
        }
        let got: Vec<(i64, i16, i32, i64)> = log
            .producers()
            .iter()
            .map(|p| {
                (
                    p.producer_id,
                    p.producer_epoch,
                    p.last_sequence,
                    p.last_offset,
                )
            })
            .collect();
        let want: Vec<(i64, i16, i32, i64)> = model
            .cache
            .iter()
            .map(|(pid, (e, b))| {
                let last = b.last().unwrap();
                (*pid, *e, last.last_seq, last.last_offset)
            })
            .collect();
        prop_assert_eq!(got, want);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn producers_against_a_model(ops in prop::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
