//! Retention by time and size, log start offset, truncate_to.

mod common;

use common::*;
use minikafka_storage::batch::Compression;
use minikafka_storage::{Log, LogConfig, StorageError};

fn filled(dir: &std::path::Path, config: LogConfig, batches: i64) -> Log {
    let mut log = Log::open(dir, config, true).unwrap();
    for i in 0..batches {
        log.append(&batch(2, 1_000 + i * 100, 300, Compression::None), 0, 0)
            .unwrap();
    }
    log
}

#[test]
fn retention_by_time_deletes_old_segments_and_advances_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(
        dir.path(),
        LogConfig {
            retention_ms: 1_000,
            ..small_config()
        },
        40,
    );
    let count = log.segment_count();
    assert!(count > 4);
    let first_two_max: Vec<i64> = log.segments().take(2).map(|s| s.max_timestamp()).collect();
    // now - largest timestamp > retention for the first two segments only.
    let now = first_two_max[1] + 1_001;
    let deleted = log.enforce_retention(now).unwrap();
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert!(deleted[0].reason.contains("retention time"));
    assert_eq!(log.segment_count(), count - 2);
    let start = log.log_start_offset();
    assert_eq!(start, log.segments().next().unwrap().base_offset());
    for d in &deleted {
        assert!(!log.segment_file(d.base_offset, ".log").exists());
        assert!(!log.segment_file(d.base_offset, ".index").exists());
        assert!(!log.segment_file(d.base_offset, ".timeindex").exists());
    }
    assert!(matches!(
        log.read(start - 1, 100, true),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert_eq!(read_all(&log).first().unwrap().offset, start);

    // Everything expired: the active segment is rolled, the LEO stays.
    let leo = log.log_end_offset();
    let deleted = log.enforce_retention(1_000_000).unwrap();
    assert_eq!(deleted.len(), count - 2);
    assert_eq!(
        (
            log.segment_count(),
            log.log_start_offset(),
            log.log_end_offset()
        ),
        (1, leo, leo)
    );
    assert!(log.read(leo, 100, true).unwrap().records.is_empty());
    let info = log
        .append(&batch(1, 5, 10, Compression::None), 0, 0)
        .unwrap();
    assert_eq!(info.base_offset, leo);
    assert!(log.enforce_retention(0).unwrap().is_empty());
}

#[test]
fn retention_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), small_config(), 40);
    let sizes: Vec<u64> = log.segments().map(|s| s.size()).collect();
    let total: u64 = sizes.iter().sum();
    // Keep at least total - sizes[0] - sizes[1] - 1 bytes: exactly the first two segments can go.
    let keep = total - sizes[0] - sizes[1];
    log.set_config(LogConfig {
        retention_bytes: keep as i64,
        ..small_config()
    });
    let deleted = log.enforce_retention(0).unwrap();
    assert_eq!(
        deleted.iter().map(|d| d.size).collect::<Vec<_>>(),
        sizes[..2].to_vec()
    );
    assert!(deleted[0].reason.contains("retention size"));
    assert_eq!(log.size_bytes(), keep);
    assert!(log.enforce_retention(0).unwrap().is_empty());
    // retention.bytes = 0 removes every segment, rolling the active one.
    let leo = log.log_end_offset();
    log.set_config(LogConfig {
        retention_bytes: 0,
        ..small_config()
    });
    log.enforce_retention(0).unwrap();
    assert_eq!(
        (
            log.size_bytes(),
            log.log_start_offset(),
            log.log_end_offset()
        ),
        (0, leo, leo)
    );
}

#[test]
fn truncate_to_drops_batches_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), small_config(), 40);
    let count = log.segment_count();
    // Truncate to a batch boundary in an early segment.
    let seg2_base = log.segments().nth(1).unwrap().base_offset();
    let target = seg2_base + 4; // batches have 2 records, bases are even
    log.truncate_to(target).unwrap();
    assert_eq!(log.log_end_offset(), target);
    assert_eq!(log.segment_count(), 2);
    assert!(count > 2);
    assert_eq!(read_all(&log).last().unwrap().offset, target - 1);
    let info = log
        .append(&batch(2, 99_999, 10, Compression::None), 0, 0)
        .unwrap();
    assert_eq!(info.base_offset, target);
    assert_eq!(log.max_timestamp().unwrap(), Some((target + 1, 100_000)));
    // Mid-batch: the whole batch goes, the log end offset is the end of the data kept.
    log.truncate_to(target + 1).unwrap();
    assert_eq!(log.log_end_offset(), target);
    assert_eq!(read_all(&log).last().unwrap().offset, target - 1);
    let info = log
        .append(&batch(2, 0, 10, Compression::None), 0, 0)
        .unwrap();
    assert_eq!(info.base_offset, target);
    // Survives reopen, clean and unclean.
    let before = read_all(&log);
    log.close().unwrap();
    let log = Log::open(dir.path(), small_config(), true).unwrap();
    assert_eq!(read_all(&log), before);
    drop(log);
    let mut log = Log::open(dir.path(), small_config(), false).unwrap();
    assert_eq!(read_all(&log), before);
    assert_eq!(log.log_end_offset(), target + 2);
    // Above the end: no-op. Below the start: restart empty there.
    log.truncate_to(1_000).unwrap();
    assert_eq!(log.log_end_offset(), target + 2);
    log.truncate_to(0).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.segment_count()
        ),
        (0, 0, 1)
    );
    assert!(log.truncate_to(-1).is_err());
}

#[test]
fn truncate_below_log_start_restarts_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), small_config(), 40);
    log.set_config(LogConfig {
        retention_bytes: 0,
        ..small_config()
    });
    log.enforce_retention(0).unwrap();
    let start = log.log_start_offset();
    log.truncate_to(start - 10).unwrap();
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset()),
        (start - 10, start - 10)
    );
    assert_eq!(files(dir.path()).len(), 3);
    log.delete().unwrap();
    assert!(!dir.path().exists());
}

#[test]
fn advance_log_start_offset_hides_records_and_deletes_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = minikafka_storage::LogConfig {
        segment_bytes: 300,
        ..Default::default()
    };
    let mut log = minikafka_storage::Log::open(dir.path(), config.clone(), true).unwrap();
    let records: Vec<minikafka_storage::batch::Record> = (0..3)
        .map(|i| minikafka_storage::batch::Record {
            offset: 0,
            timestamp: 1_000 + i,
            key: None,
            value: Some(bytes::Bytes::from(vec![b'x'; 40])),
            headers: Vec::new(),
        })
        .collect();
    for _ in 0..10 {
        let b = minikafka_storage::batch::build_batch(
            0,
            1_000,
            &records,
            minikafka_storage::batch::Compression::None,
        );
        log.append(&b, 0, 2_000).unwrap();
    }
    assert_eq!(log.log_end_offset(), 30);
    let segments_before = log.segment_count();
    assert!(segments_before > 3);
    // Beyond the end is refused; at or below the start is a no-op.
    assert!(log.advance_log_start_offset(31).is_err());
    assert!(log.advance_log_start_offset(0).unwrap().is_empty());

    let deleted = log.advance_log_start_offset(13).unwrap();
    assert_eq!(log.log_start_offset(), 13);
    assert!(!deleted.is_empty());
    assert!(deleted.iter().all(|d| d.base_offset < 13));
    assert!(log.segment_count() < segments_before);
    assert!(matches!(
        log.read(12, 1 << 20, true),
        Err(minikafka_storage::StorageError::OffsetOutOfRange { .. })
    ));
    // Reading at the new start returns the batch that holds it.
    let read = log.read(13, 1 << 20, true).unwrap();
    let first = minikafka_storage::batch::BatchHeader::parse(&read.records).unwrap();
    assert!(first.base_offset <= 13 && first.last_offset() >= 13);
    // Up to the end: everything is hidden, appends continue at the end.
    log.advance_log_start_offset(30).unwrap();
    assert_eq!(log.log_start_offset(), 30);
    assert_eq!(log.read(30, 1 << 20, true).unwrap().records.len(), 0);
    let b = minikafka_storage::batch::build_batch(
        0,
        1_000,
        &records,
        minikafka_storage::batch::Compression::None,
    );
    assert_eq!(log.append(&b, 0, 2_000).unwrap().base_offset, 30);
}
