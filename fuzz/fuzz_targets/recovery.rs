//! Segment, index, producer-snapshot and checkpoint recovery: each input is one file of a
//! partition directory, written over a valid two-segment log (built once per process by
//! `minikafka_storage` itself), and the log is opened (`Log::open`, after a clean or an unclean
//! shutdown) and read back whole, as a broker does at start.
//!
//! `data[0]` chooses the file (bits 0-2), the segment it belongs to (bit 3) and whether the last
//! shutdown was clean (bit 7); the rest is the file's content:
//!
//! | file | what reads it |
//! |------|---------------|
//! | `<base>.log` | `Log::open` (recovery validates batches, truncates the torn tail) |
//! | `<base>.index`, `<base>.timeindex`, `<base>.txnindex` | `Log::open` (sanity checks, rebuilds) |
//! | `<offset>.snapshot` | producer-state reload (`Log::open`) |
//! | `leader-epoch-checkpoint` | `LeaderEpochCache::load` |
//! | `log-start-offset-checkpoint` | the replica layer's reader (`minikafka::fuzzing`) |
//!
//! Each input gets a fresh directory under `/dev/shm` when it exists (fsyncs are free there).
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use minikafka_storage::batch::{self, BatchBuilder, Record};
use minikafka_storage::{LeaderEpochCache, Log, LogConfig, TxnMarker};

/// Reads of the recovered log per input (each returns at least one batch or ends the loop).
const MAX_READS: usize = 256;

/// Small segments and indexes: the baseline log has two segments, and each input writes little.
fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 600,
        segment_index_bytes: 4096,
        index_interval_bytes: 1,
        ..LogConfig::default()
    }
}

fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// A partition directory's files: (name, content).
type Files = Vec<(String, Vec<u8>)>;

/// The files of a valid log (name, content): plain, idempotent and transactional batches, an
/// aborted transaction's marker, two segments, producer snapshots and index files.
fn baseline() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    // Not input-dependent: a failure here is a bug of this harness (or of storage's append path,
    // which its tests cover), found on the first input, never a finding about the input.
    FILES.get_or_init(|| build_baseline().expect("the baseline log is built by storage itself"))
}

fn build_baseline() -> Result<Files, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir_in(scratch_root())?;
    let mut log = Log::open(dir.path(), config(), false)?;
    let record = |i: i64| Record {
        offset: 0,
        timestamp: 1_000 + i,
        key: Some(format!("k{i}").into_bytes().into()),
        value: Some(vec![b'v'; 40].into()),
        headers: vec![("h".into(), Some(b"x".to_vec().into()))],
    };
    for i in 0..6 {
        let mut b = BatchBuilder::new(0, 1_000);
        if i % 2 == 1 {
            b.producer_id = 7;
            b.producer_epoch = 0;
            b.base_sequence = i32::try_from(i / 2 * 2)?;
        }
        log.append(&b.build(&[record(i), record(i + 1)])?, 1, 2_000)?;
    }
    let mut txn = BatchBuilder::new(0, 1_000);
    txn.producer_id = 9;
    txn.producer_epoch = 0;
    txn.base_sequence = 0;
    txn.transactional = true;
    log.append(&txn.build(&[record(10)])?, 2, 2_000)?;
    log.append_txn_marker(9, 0, 0, TxnMarker::Abort, 2, 2_000)?;
    let mut epochs = LeaderEpochCache::empty(dir.path());
    epochs.assign(1, 0)?;
    epochs.assign(2, 12)?;
    log.close()?;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.path())? {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str() {
            files.push((name.to_string(), std::fs::read(entry.path())?));
        }
    }
    files.push((
        "log-start-offset-checkpoint".into(),
        b"0\n1\ntopic 0 3\n".to_vec(),
    ));
    files.sort();
    Ok(files)
}

/// The name of the file `selector` replaces, among the baseline's: bits 0-2 choose the kind,
/// bits 3-4 which one of that kind (segments, snapshots).
fn target_file(files: &[(String, Vec<u8>)], selector: u8) -> String {
    let suffix = match selector & 7 {
        0 => ".log",
        1 => ".index",
        2 => ".timeindex",
        3 => ".txnindex",
        4 => ".snapshot",
        5 | 6 => return "leader-epoch-checkpoint".into(),
        _ => return "log-start-offset-checkpoint".into(),
    };
    let same: Vec<&str> = files
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| n.ends_with(suffix))
        .collect();
    match same.len() {
        0 => format!("00000000000000000000{suffix}"),
        n => same[usize::from(selector >> 3 & 3) % n].to_string(),
    }
}

/// Read the whole log back as a fetch would, then what `ListOffsets` and transactions read.
fn read_all(log: &Log) {
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    for _ in 0..MAX_READS {
        if offset >= end {
            break;
        }
        let Ok(read) = log.read(offset, 64 * 1024, true) else {
            break;
        };
        let mut next = offset;
        for (pos, h) in batch::iter_headers(&read.records).flatten() {
            if let Some(whole) = read.records.get(pos..pos + h.size()) {
                let _ = batch::decode_records(whole);
            }
            next = next.max(h.next_offset());
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    let _ = log.offset_for_timestamp(0);
    let _ = log.max_timestamp();
    let _ = log.aborted_transactions(log.log_start_offset(), end);
    let _ = log.producers();
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, content)) = data.split_first() else {
        return;
    };
    let files = baseline();
    let Ok(dir) = tempfile::tempdir_in(scratch_root()) else {
        return;
    };
    let target = target_file(files, selector);
    for (name, bytes) in files {
        if *name != target && std::fs::write(dir.path().join(name), bytes).is_err() {
            return;
        }
    }
    if std::fs::write(dir.path().join(&target), content).is_err() {
        return;
    }
    match selector & 7 {
        5 => {
            let _ = LeaderEpochCache::load(dir.path());
        }
        7 => {
            let _ = minikafka::fuzzing::log_start_checkpoint(&dir.path().join(&target));
        }
        _ => {}
    }
    let clean_shutdown = selector & 0x80 != 0;
    if let Ok(log) = Log::open(dir.path(), config(), clean_shutdown) {
        read_all(&log);
    }
});
