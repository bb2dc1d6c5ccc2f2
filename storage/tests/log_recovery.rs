//! Close/reopen, crash recovery (torn tails, corrupt bytes), index rebuilds, leftover files.

mod common;

use std::fs::OpenOptions;
use std::io::Write;

use common::*;
use minikafka_storage::batch::{BatchHeader, Compression, Record};
use minikafka_storage::index::{read_index_file, OffsetEntry, TimeEntry};
use minikafka_storage::{Log, LogConfig};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 8192,
        index_interval_bytes: 200,
        ..LogConfig::default()
    }
}

/// A log with several segments; returns it and its records.
fn build(dir: &std::path::Path, batches: i64) -> (Log, Vec<Record>) {
    let mut log = Log::open(dir, config(), true).unwrap();
    let codecs = [Compression::None, Compression::Lz4, Compression::Gzip];
    for i in 0..batches {
        log.append(&batch(3, 1_000 + i, 100, codecs[i as usize % 3]), 0, 0)
            .unwrap();
    }
    let recs = read_all(&log);
    (log, recs)
}

fn last_log_file(log: &Log) -> std::path::PathBuf {
    log.segments().last().unwrap().log_path().to_path_buf()
}

/// Positions of the batches of a `.log` file.
fn batch_positions(path: &std::path::Path) -> Vec<(usize, BatchHeader)> {
    let data = std::fs::read(path).unwrap();
    minikafka_storage::batch::iter_headers(&data)
        .map(|r| r.unwrap())
        .collect()
}

#[test]
fn clean_close_and_reopen_preserves_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (log, recs) = build(dir.path(), 120);
    let segs: Vec<(i64, u64)> = log
        .segments()
        .map(|s| (s.base_offset(), s.size()))
        .collect();
    let leo = log.log_end_offset();
    let idx: Vec<Vec<OffsetEntry>> = log
        .segments()
        .map(|s| s.offset_index().entries().to_vec())
        .collect();
    assert!(segs.len() > 3);
    log.close().unwrap();
    // Index files are exactly their entries (what DumpLogSegments expects after trimming).
    for (base, _) in &segs {
        let len = std::fs::metadata(dir.path().join(format!("{base:020}.index")))
            .unwrap()
            .len();
        assert_eq!(len % 8, 0);
        let len = std::fs::metadata(dir.path().join(format!("{base:020}.timeindex")))
            .unwrap()
            .len();
        assert_eq!(len % 12, 0);
    }
    let mut log = Log::open(dir.path(), config(), true).unwrap();
    assert_eq!(
        log.segments()
            .map(|s| (s.base_offset(), s.size()))
            .collect::<Vec<_>>(),
        segs
    );
    assert_eq!(
        log.segments()
            .map(|s| s.offset_index().entries().to_vec())
            .collect::<Vec<_>>(),
        idx
    );
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(read_all(&log), recs);
    assert_eq!(
        log.append(&batch(1, 0, 10, Compression::None), 0, 0)
            .unwrap()
            .base_offset,
        leo
    );
}

#[test]
fn empty_dir_gives_segment_zero_and_zero_length_last_segment_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topic-0");
    let log = Log::open(&path, config(), true).unwrap();
    assert_eq!(
        files(&path),
        [
            "00000000000000000000.index",
            "00000000000000000000.log",
            "00000000000000000000.timeindex"
        ]
    );
    log.close().unwrap();
    let (mut log, recs) = build(&path, 10);
    let leo = log.log_end_offset();
    // Force an empty active segment via retention (rolls), then crash.
    log.set_config(LogConfig {
        retention_bytes: i64::MAX,
        ..config()
    });
    drop(log);
    std::fs::File::create(path.join(format!("{leo:020}.log"))).unwrap();
    for clean in [true, false] {
        let log = Log::open(&path, config(), clean).unwrap();
        assert_eq!(log.log_end_offset(), leo);
        assert_eq!(log.segments().last().unwrap().base_offset(), leo);
        assert_eq!(read_all(&log), recs);
    }
}

#[test]
fn torn_tail_garbage_is_truncated_on_unclean_open() {
    let dir = tempfile::tempdir().unwrap();
    let (log, recs) = build(dir.path(), 40);
    let path = last_log_file(&log);
    let good_len = std::fs::metadata(&path).unwrap().len();
    let leo = log.log_end_offset();
    drop(log); // crash: no close
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&[0xab; 1000]).unwrap();
    drop(f);
    let mut log = Log::open(dir.path(), config(), false).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(read_all(&log), recs);
    assert_eq!(
        log.append(&batch(1, 0, 10, Compression::None), 0, 0)
            .unwrap()
            .base_offset,
        leo
    );
}

#[test]
fn cut_mid_batch_keeps_every_complete_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (log, recs) = build(dir.path(), 40);
    let path = last_log_file(&log);
    drop(log);
    let positions = batch_positions(&path);
    assert!(positions.len() >= 3);
    let (pos, last) = positions[positions.len() - 1];
    for cut in [pos + 30, pos + 61, pos + last.size() - 1] {
        let data = std::fs::read(&path).unwrap();
        std::fs::write(&path, &data[..cut]).unwrap();
        let log = Log::open(dir.path(), config(), false).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), pos as u64);
        assert_eq!(log.log_end_offset(), last.base_offset);
        let got = read_all(&log);
        assert_eq!(got[..], recs[..recs.len() - 3]);
        drop(log);
        // Put the batch back for the next cut.
        std::fs::write(&path, &data).unwrap();
    }
}

#[test]
fn flipped_byte_in_the_last_batch_drops_it_and_only_it() {
    let dir = tempfile::tempdir().unwrap();
    let (log, recs) = build(dir.path(), 40);
    let path = last_log_file(&log);
    drop(log);
    let positions = batch_positions(&path);
    let (pos, last) = positions[positions.len() - 1];
    let mut data = std::fs::read(&path).unwrap();
    data[pos + last.size() - 5] ^= 0x10;
    std::fs::write(&path, &data).unwrap();
    // A clean open does not verify CRCs (no full scan) …
    let log = Log::open(dir.path(), config(), true).unwrap();
    assert_eq!(log.log_end_offset(), last.last_offset() + 1);
    drop(log);
    // … an unclean one does.
    let mut log = Log::open(dir.path(), config(), false).unwrap();
    assert_eq!(log.log_end_offset(), last.base_offset);
    assert_eq!(read_all(&log)[..], recs[..recs.len() - 3]);
    let info = log
        .append(&batch(2, 0, 10, Compression::None), 0, 0)
        .unwrap();
    assert_eq!(info.base_offset, last.base_offset);
}

#[test]
fn flipped_byte_in_a_middle_batch_truncates_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let (log, recs) = build(dir.path(), 40);
    let path = last_log_file(&log);
    let seg_base = log.segments().last().unwrap().base_offset();
    drop(log);
    let positions = batch_positions(&path);
    let (pos, bad) = positions[1];
    let mut data = std::fs::read(&path).unwrap();
    data[pos + 30] ^= 0xff; // inside base_timestamp: CRC-covered
    std::fs::write(&path, &data).unwrap();
    let log = Log::open(dir.path(), config(), false).unwrap();
    assert_eq!(log.log_end_offset(), bad.base_offset);
    let keep = (bad.base_offset) as usize;
    assert_eq!(read_all(&log)[..], recs[..keep]);
    assert!(seg_base < bad.base_offset);
    // The rebuilt indexes point only inside the kept data.
    let seg = log.segments().last().unwrap();
    assert!(seg
        .offset_index()
        .entries()
        .iter()
        .all(|e| u64::from(e.position) < seg.size()));
}

#[test]
fn deleted_or_corrupted_index_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (log, recs) = build(dir.path(), 120);
    let bases: Vec<i64> = log.segments().map(|s| s.base_offset()).collect();
    let idx: Vec<Vec<OffsetEntry>> = log
        .segments()
        .map(|s| s.offset_index().entries().to_vec())
        .collect();
    log.close().unwrap();
    let tidx: Vec<Vec<TimeEntry>> = bases
        .iter()
        .map(|b| read_index_file(&dir.path().join(format!("{b:020}.timeindex"))).unwrap())
        .collect();
    assert!(bases.len() >= 4 && idx[0].len() > 3);
    let p = |b: i64, s: &str| dir.path().join(format!("{b:020}{s}"));
    // 0: deleted .index; 1: odd size; 2: entries not increasing; 3: entry beyond the file; last: time index deleted.
    std::fs::remove_file(p(bases[0], ".index")).unwrap();
    let mut d = std::fs::read(p(bases[1], ".index")).unwrap();
    d.push(0);
    std::fs::write(p(bases[1], ".index"), &d).unwrap();
    let mut d = std::fs::read(p(bases[2], ".index")).unwrap();
    let first = d[..8].to_vec();
    d[8..16].copy_from_slice(&first);
    std::fs::write(p(bases[2], ".index"), &d).unwrap();
    let mut d = std::fs::read(p(bases[3], ".index")).unwrap();
    let n = d.len();
    d[n - 4..].copy_from_slice(&u32::MAX.to_be_bytes());
    std::fs::write(p(bases[3], ".index"), &d).unwrap();
    std::fs::remove_file(p(*bases.last().unwrap(), ".timeindex")).unwrap();

    let log = Log::open(dir.path(), config(), true).unwrap();
    assert_eq!(read_all(&log), recs);
    for (i, seg) in log.segments().enumerate() {
        assert_eq!(seg.offset_index().entries(), &idx[i][..], "segment {i}");
        let on_disk: Vec<OffsetEntry> = read_index_file(&p(bases[i], ".index")).unwrap();
        assert_eq!(on_disk, idx[i]);
        // Rebuilt time indexes hold the same interval entries (the final close entry is added again on close).
        let t = seg.time_index().entries();
        assert_eq!(t, &tidx[i][..t.len()]);
    }
    log.close().unwrap();
    for (i, b) in bases.iter().enumerate() {
        let t: Vec<TimeEntry> = read_index_file(&p(*b, ".timeindex")).unwrap();
        assert_eq!(t.last(), tidx[i].last());
    }
}

#[test]
fn leftover_and_orphan_files_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (log, recs) = build(dir.path(), 20);
    log.close().unwrap();
    for name in [
        "00000000000000000000.log.deleted",
        "00000000000000000007.log.cleaned",
        "00000000000000000007.index.swap",
        "00000000000000099999.index",
        "00000000000000099999.timeindex",
    ] {
        std::fs::write(dir.path().join(name), b"junk").unwrap();
    }
    std::fs::write(dir.path().join("partition.metadata"), b"keep").unwrap();
    let log = Log::open(dir.path(), config(), false).unwrap();
    let names = files(dir.path());
    assert!(names
        .iter()
        .all(|n| !n.contains(".deleted") && !n.contains(".cleaned") && !n.contains(".swap")));
    assert!(!names.iter().any(|n| n.starts_with("00000000000000099999")));
    assert!(names.contains(&"partition.metadata".to_string()));
    assert_eq!(read_all(&log), recs);
}

#[test]
fn crash_right_after_a_roll_recovers_the_previous_segment_too() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, recs) = build(dir.path(), 30);
    let prev = last_log_file(&log);
    let leo = log.log_end_offset();
    // Roll by time, leaving an empty active segment.
    log.set_config(LogConfig {
        segment_ms: 0,
        ..config()
    });
    log.maybe_roll(i64::MAX).unwrap();
    assert_eq!(log.segments().last().unwrap().size(), 0);
    drop(log);
    let mut f = OpenOptions::new().append(true).open(&prev).unwrap();
    f.write_all(&[1, 2, 3]).unwrap();
    drop(f);
    let log = Log::open(dir.path(), config(), false).unwrap();
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(read_all(&log), recs);
    assert_eq!(
        batch_positions(&prev)
            .iter()
            .map(|(_, h)| h.size())
            .sum::<usize>() as u64,
        std::fs::metadata(&prev).unwrap().len()
    );
}
