//! Time index, offset_for_timestamp and max_timestamp.

mod common;

use bytes::Bytes;
use common::*;
use minikafka_storage::batch::{build_batch, Compression, Record};
use minikafka_storage::index::{read_index_file, TimeEntry};
use minikafka_storage::segment::TIME_INDEX_SUFFIX;
use minikafka_storage::{Log, LogConfig};

fn r(ts: i64) -> Record {
    Record {
        offset: 0,
        timestamp: ts,
        key: None,
        value: Some(Bytes::from(vec![b'x'; 120])),
        headers: vec![],
    }
}

#[test]
fn time_index_entries_follow_kafka_rules() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 200,
        ..LogConfig::default()
    };
    let mut log = Log::open(dir.path(), config, true).unwrap();
    // Timestamps go up, with one step back.
    for ts in [100, 200, 300, 250, 400, 500, 600, 700] {
        log.append(&build_batch(0, ts, &[r(ts)], Compression::None), 0, 0)
            .unwrap();
    }
    let seg = log.segments().next().unwrap();
    let entries = seg.time_index().entries().to_vec();
    assert!(!entries.is_empty());
    for w in entries.windows(2) {
        assert!(w[1].timestamp > w[0].timestamp && w[1].relative_offset >= w[0].relative_offset);
    }
    // Each entry names the batch (by last offset) that first reached its timestamp.
    let ts_of = [100, 200, 300, 250, 400, 500, 600, 700];
    for e in &entries {
        assert_eq!(ts_of[e.relative_offset as usize], e.timestamp);
    }
    log.close().unwrap();
    // close() writes the final entry with the segment's largest timestamp.
    let on_disk: Vec<TimeEntry> =
        read_index_file(&dir.path().join("00000000000000000000.timeindex")).unwrap();
    assert_eq!(
        on_disk.last().unwrap(),
        &TimeEntry {
            timestamp: 700,
            relative_offset: 7
        }
    );
}

#[test]
fn offset_for_timestamp_finds_exact_records_including_inside_compressed_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(
        dir.path(),
        LogConfig {
            index_interval_bytes: 100,
            ..small_config()
        },
        true,
    )
    .unwrap();
    // 40 batches of 5 records, timestamps 1000 + 10*offset, alternating codecs.
    let codecs = CODECS;
    for b in 0..40i64 {
        let recs: Vec<Record> = (0..5).map(|i| r(1_000 + 10 * (b * 5 + i))).collect();
        log.append(
            &build_batch(0, recs[0].timestamp, &recs, codecs[b as usize % 5]),
            0,
            0,
        )
        .unwrap();
    }
    assert!(log.segment_count() > 2);
    assert!(log.segments().all(|s| !s.time_index().is_empty()));
    for target in [0, 1_000, 1_001, 1_010, 1_015, 1_333, 1_490, 2_000, 2_990] {
        let expect_off = ((target - 1_000).max(0) + 9) / 10;
        assert_eq!(
            log.offset_for_timestamp(target).unwrap(),
            Some((expect_off, 1_000 + 10 * expect_off)),
            "target {target}"
        );
    }
    assert_eq!(log.offset_for_timestamp(2_991).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), Some((199, 2_990)));
    // Same answers after a clean reopen (inactive segments are not scanned).
    log.close().unwrap();
    let log = Log::open(dir.path(), small_config(), true).unwrap();
    assert_eq!(log.offset_for_timestamp(1_333).unwrap(), Some((34, 1_340)));
    assert_eq!(log.max_timestamp().unwrap(), Some((199, 2_990)));
    let files = files(dir.path());
    assert!(
        files
            .iter()
            .filter(|f| f.ends_with(TIME_INDEX_SUFFIX))
            .count()
            > 2
    );
}

#[test]
fn max_timestamp_is_the_first_record_with_the_largest_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(), true).unwrap();
    assert_eq!(log.max_timestamp().unwrap(), None);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    // Largest timestamp in the middle of a compressed batch; a later batch ties it.
    let b1: Vec<Record> = [5, 90, 7].into_iter().map(r).collect();
    let b2: Vec<Record> = [90, 1].into_iter().map(r).collect();
    log.append(&build_batch(0, 5, &b1, Compression::Gzip), 0, 0)
        .unwrap();
    log.append(&build_batch(0, 90, &b2, Compression::None), 0, 0)
        .unwrap();
    assert_eq!(log.max_timestamp().unwrap(), Some((1, 90)));
    assert_eq!(log.offset_for_timestamp(8).unwrap(), Some((1, 90)));
    assert_eq!(log.offset_for_timestamp(6).unwrap(), Some((1, 90)));
    assert_eq!(log.offset_for_timestamp(5).unwrap(), Some((0, 5)));
}
