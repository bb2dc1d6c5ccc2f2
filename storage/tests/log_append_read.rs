//! Append and read: offsets, rolls, the offset index, read limits, LogAppendTime.

mod common;

use common::*;
use minikafka_storage::batch::{decode_records, validate, BatchHeader, Compression};
use minikafka_storage::index::{read_index_file, OffsetEntry};
use minikafka_storage::segment::INDEX_SUFFIX;
use minikafka_storage::{Log, LogConfig, StorageError, TimestampType};

#[test]
fn offsets_are_consecutive_and_batches_round_trip_across_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(), true).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.segment_count()
        ),
        (0, 0, 1)
    );
    let mut expected = Vec::new();
    let codecs = CODECS;
    for i in 0..60i64 {
        let n = (i % 4 + 1) as usize;
        let b = batch(n, 1_000 + i * 10, 150, codecs[i as usize % 5]);
        let info = log.append(&b, 7, 0).unwrap();
        assert_eq!(info.base_offset, expected.len() as i64);
        assert_eq!(info.last_offset, info.base_offset + n as i64 - 1);
        assert_eq!(info.record_count, n as u64);
        assert_eq!(info.log_append_time, -1);
        let (_, mut recs) = decode_records(&b).unwrap();
        for (j, r) in recs.iter_mut().enumerate() {
            r.offset = info.base_offset + j as i64;
        }
        expected.extend(recs);
    }
    assert_eq!(log.log_end_offset(), expected.len() as i64);
    assert!(log.segment_count() > 3, "segments: {}", log.segment_count());
    for seg in log.segments() {
        assert!(seg.size() <= 4096);
    }
    assert_eq!(read_all(&log), expected);
    // Stored batches carry the assigned base offset and leader epoch and still pass validation.
    let info = log.read(0, usize::MAX, false).unwrap();
    for (h, b) in split(&info.records) {
        assert_eq!(h.partition_leader_epoch, 7);
        validate(&b, u32::MAX).unwrap();
    }
}

#[test]
fn read_from_a_middle_offset_uses_the_index_and_returns_the_containing_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 300,
        ..LogConfig::default()
    };
    let mut log = Log::open(dir.path(), config, true).unwrap();
    for i in 0..100 {
        log.append(&batch(5, i, 100, Compression::None), 0, 0)
            .unwrap();
    }
    assert_eq!(log.segment_count(), 1);
    let entries: Vec<OffsetEntry> = read_index_file(&log.segment_file(0, INDEX_SUFFIX)).unwrap();
    assert!(
        entries.len() > 20,
        "sparse index should have many entries: {}",
        entries.len()
    );
    assert_eq!(
        log.segments().next().unwrap().offset_index().entries(),
        &entries[..]
    );
    // Entries point at batch starts and name their last offsets.
    for e in &entries {
        let r = log.read(i64::from(e.relative_offset), 1, true).unwrap();
        let h = BatchHeader::parse(&r.records).unwrap();
        assert_eq!(h.last_offset(), i64::from(e.relative_offset));
    }
    for offset in [0, 1, 4, 5, 252, 253, 254, 499] {
        let r = log.read(offset, 1, true).unwrap();
        let h = BatchHeader::parse(&r.records).unwrap();
        assert!(
            h.base_offset <= offset && offset <= h.last_offset(),
            "{offset}: {h:?}"
        );
        assert_eq!(r.records.len(), h.size());
        assert_eq!((r.log_start_offset, r.log_end_offset), (0, 500));
    }
}

#[test]
fn read_limits_and_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), true).unwrap();
    for i in 0..10 {
        log.append(&batch(2, i, 200, Compression::None), 0, 0)
            .unwrap();
    }
    let one = log.read(0, usize::MAX, false).unwrap().records.len() / 10;
    assert_eq!(
        log.read(0, one * 3 + one / 2, false).unwrap().records.len(),
        one * 3
    );
    assert_eq!(log.read(0, one - 1, true).unwrap().records.len(), one);
    assert!(log.read(0, one - 1, false).unwrap().records.is_empty());
    assert!(log.read(20, 100, true).unwrap().records.is_empty());
    for bad in [-1, 21] {
        match log.read(bad, 100, true) {
            Err(StorageError::OffsetOutOfRange {
                requested,
                log_start: 0,
                log_end: 20,
            }) => assert_eq!(requested, bad),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn rejected_appends_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(
        dir.path(),
        LogConfig {
            max_message_bytes: 2000,
            ..small_config()
        },
        true,
    )
    .unwrap();
    log.append(&batch(1, 0, 10, Compression::None), 0, 0)
        .unwrap();
    let size = log.size_bytes();
    let good = batch(1, 0, 10, Compression::None);
    let mut bad_crc = good.to_vec();
    *bad_crc.last_mut().unwrap() ^= 1;
    let mut set = good.to_vec();
    set.extend_from_slice(&bad_crc);
    assert!(matches!(
        log.append(&set, 0, 0),
        Err(StorageError::CorruptMessage(_))
    ));
    let big = batch(1, 0, 3000, Compression::None);
    assert!(matches!(
        log.append(&big, 0, 0),
        Err(StorageError::MessageTooLarge { max: 2000, .. })
    ));
    assert!(matches!(
        log.append(&[], 0, 0),
        Err(StorageError::InvalidRecord(_))
    ));
    assert_eq!((log.size_bytes(), log.log_end_offset()), (size, 1));
    assert_eq!(
        std::fs::metadata(log.segment_file(0, ".log"))
            .unwrap()
            .len(),
        size
    );
    // A record set larger than segment.bytes is refused too.
    let cfg = LogConfig {
        segment_bytes: 500,
        ..LogConfig::default()
    };
    log.set_config(cfg);
    assert!(matches!(
        log.append(&batch(1, 0, 600, Compression::None), 0, 0),
        Err(StorageError::RecordListTooLarge {
            segment_bytes: 500,
            ..
        })
    ));
}

#[test]
fn empty_segment_accepts_an_oversized_append_and_multi_batch_sets_stay_together() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(
        dir.path(),
        LogConfig {
            segment_bytes: 1000,
            ..LogConfig::default()
        },
        true,
    )
    .unwrap();
    let mut set = batch(1, 0, 400, Compression::None).to_vec();
    set.extend_from_slice(&batch(1, 0, 400, Compression::None));
    let info = log.append(&set, 0, 0).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, log.segment_count()),
        (0, 1, 1)
    );
    // Does not fit: roll first, then the whole set goes to the new segment.
    log.append(&set, 0, 0).unwrap();
    assert_eq!(log.segment_count(), 2);
    assert_eq!(log.segments().nth(1).unwrap().base_offset(), 2);
    assert_eq!(
        read_all(&log).iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
}

#[test]
fn log_append_time_rewrites_timestamps_with_a_valid_crc() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = Log::open(dir.path(), config, true).unwrap();
    for codec in [Compression::None, Compression::Zstd] {
        let info = log.append(&batch(3, 5, 20, codec), 1, 123_456).unwrap();
        assert_eq!(info.log_append_time, 123_456);
    }
    let data = log.read(0, usize::MAX, false).unwrap().records;
    for (h, b) in split(&data) {
        assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(h.max_timestamp, 123_456);
        validate(&b, u32::MAX).unwrap();
        let (_, recs) = decode_records(&b).unwrap();
        assert!(recs.iter().all(|r| r.timestamp == 123_456));
    }
    assert_eq!(log.max_timestamp().unwrap(), Some((0, 123_456)));
    assert_eq!(log.offset_for_timestamp(100).unwrap(), Some((0, 123_456)));
}

#[test]
fn rolls_on_segment_ms_index_full_and_maybe_roll() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(
        dir.path(),
        LogConfig {
            segment_ms: 1_000,
            ..LogConfig::default()
        },
        true,
    )
    .unwrap();
    log.append(&batch(1, 10_000, 10, Compression::None), 0, 10_000)
        .unwrap();
    log.append(&batch(1, 10_900, 10, Compression::None), 0, 10_900)
        .unwrap();
    assert_eq!(log.segment_count(), 1);
    // Measured from the first batch's timestamp to the new batch's max timestamp.
    log.append(&batch(1, 11_001, 10, Compression::None), 0, 0)
        .unwrap();
    assert_eq!(log.segment_count(), 2);
    log.maybe_roll(11_500).unwrap();
    assert_eq!(log.segment_count(), 2);
    log.maybe_roll(12_002).unwrap();
    assert_eq!(log.segment_count(), 3);
    log.maybe_roll(99_999).unwrap(); // empty active segment: no roll
    assert_eq!(log.segment_count(), 3);

    // Index full: 16 bytes = 2 offset entries (and 1 time entry).
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_index_bytes: 16,
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let mut log = Log::open(dir.path(), config, true).unwrap();
    for i in 0..6 {
        log.append(&batch(1, i, 10, Compression::None), 0, 0)
            .unwrap();
    }
    assert!(log.segment_count() >= 2, "{}", log.segment_count());
    assert_eq!(read_all(&log).len(), 6);
}

#[test]
fn needs_flush_and_sync_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(
        dir.path(),
        LogConfig {
            flush_messages: 3,
            ..small_config()
        },
        true,
    )
    .unwrap();
    assert!(log.sync_job().is_none());
    assert!(
        !log.append(&batch(2, 0, 10, Compression::None), 0, 0)
            .unwrap()
            .needs_flush
    );
    assert!(
        log.append(&batch(1, 0, 10, Compression::None), 0, 0)
            .unwrap()
            .needs_flush
    );
    assert_eq!(log.unflushed_messages(), 3);
    let job = log.sync_job().unwrap();
    assert_eq!(job.offset(), 3);
    let flushed = job.run().unwrap();
    log.mark_flushed(flushed, 42);
    assert_eq!((log.unflushed_messages(), log.last_flush_ms()), (0, 42));
    assert!(log.sync_job().is_none());
    // A roll creates files: the directory needs an fsync even with no new messages flushed yet.
    for i in 0..30 {
        log.append(&batch(1, i, 300, Compression::None), 0, 0)
            .unwrap();
    }
    assert!(log.segment_count() > 1);
    log.flush().unwrap();
    assert_eq!(log.unflushed_messages(), 0);
    assert!(log.sync_job().is_none());
}
