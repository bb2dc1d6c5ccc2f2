//! `minikafka-dump-log` against segment files written by the storage crate.

use std::process::Command;

use bytes::Bytes;
use minikafka_storage::batch::{build_batch, Compression, Record};
use minikafka_storage::{Log, LogConfig};

fn record(i: i64) -> Record {
    Record {
        offset: 0,
        timestamp: 1_000 + i,
        key: Some(Bytes::from(format!("key-{i}"))),
        value: Some(Bytes::from(format!("value-{i}"))),
        headers: vec![("h".to_string(), Some(Bytes::from_static(b"x")))],
    }
}

/// Run the tool with `args`; its stdout, after checking it succeeded.
fn dump(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_minikafka-dump-log"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn dumps_batches_records_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let mut log = Log::open(dir.path(), config, true).unwrap();
    for (n, codec) in [Compression::None, Compression::Gzip, Compression::Zstd]
        .into_iter()
        .enumerate()
    {
        let records: Vec<Record> = (0..3).map(|i| record(n as i64 * 3 + i)).collect();
        log.append(&build_batch(0, 1_000, &records, codec), 0, 5_000)
            .unwrap();
    }
    log.close().unwrap();
    let seg = dir.path().join("00000000000000000000.log");
    let text = dump(&[
        "--print-data".as_ref(),
        seg.as_os_str(),
        dir.path().join("00000000000000000000.index").as_os_str(),
    ]);
    assert_eq!(text.matches("isvalid: true").count(), 3, "{text}");
    for codec in [
        "compresscodec: none",
        "compresscodec: gzip",
        "compresscodec: zstd",
    ] {
        assert!(text.contains(codec), "{codec} missing:\n{text}");
    }
    for i in 0..9 {
        assert!(
            text.contains(&format!("| offset: {i} ")),
            "offset {i} missing:\n{text}"
        );
        assert!(
            text.contains(&format!("key: key-{i} payload: value-{i}")),
            "record {i} missing:\n{text}"
        );
    }
    assert!(
        text.contains("offset: 5 position: 130"),
        "index entries listed (Kafka indexes a batch once the interval is passed):\n{text}"
    );

    // A flipped byte in the last batch: reported invalid and the tool fails.
    let mut data = std::fs::read(&seg).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    std::fs::write(&seg, data).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_minikafka-dump-log"))
        .arg(&seg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("isvalid: false"));
}

#[test]
fn dumps_the_aborted_transaction_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), true).unwrap();
    let txn = minikafka_storage::batch::BatchBuilder {
        producer_id: 7,
        producer_epoch: 0,
        base_sequence: 0,
        transactional: true,
        ..minikafka_storage::batch::BatchBuilder::new(0, 1_000)
    }
    .build(&[record(0), record(1)])
    .unwrap();
    log.append(&txn, 0, 5_000).unwrap();
    log.append_txn_marker(7, 0, 3, minikafka_storage::TxnMarker::Abort, 0, 5_000)
        .unwrap();
    log.close().unwrap();
    let text = dump(&[dir.path().join("00000000000000000000.txnindex").as_os_str()]);
    assert!(
        text.contains("version: 0 producerId: 7 firstOffset: 0 lastOffset: 2 lastStableOffset: 3"),
        "{text}"
    );
}

#[test]
fn dumps_producer_state_snapshots_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), true).unwrap();
    let idempotent = |base_sequence, n: i64| {
        minikafka_storage::batch::BatchBuilder {
            producer_id: 42,
            producer_epoch: 3,
            base_sequence,
            ..minikafka_storage::batch::BatchBuilder::new(0, 1_000)
        }
        .build(&(0..n).map(record).collect::<Vec<_>>())
        .unwrap()
    };
    log.append(&idempotent(0, 2), 0, 5_000).unwrap();
    log.append(&idempotent(2, 3), 0, 5_000).unwrap();
    // A clean close snapshots the producer state at the log end (offset 5).
    log.close().unwrap();
    let snapshot = dir.path().join("00000000000000000005.snapshot");
    assert!(snapshot.exists(), "no snapshot at the log end");
    let text = dump(&[snapshot.as_os_str()]);
    // The last batch: sequences 2..=4 at offsets 2..=4; its max timestamp is that of record 2.
    assert!(
        text.contains(
            "producerId: 42 producerEpoch: 3 coordinatorEpoch: -1 currentTxnFirstOffset: \
             OptionalLong.empty lastTimestamp: 1002 firstSequence: 2 lastSequence: 4 lastOffset: 4 \
             offsetDelta: 2 timestamp: 1002"
        ),
        "{text}"
    );

    // A damaged snapshot: exit 1 with one error line, no backtrace even when one is asked for.
    let mut data = std::fs::read(&snapshot).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    std::fs::write(&snapshot, data).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_minikafka-dump-log"))
        .arg(&snapshot)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CRC mismatch"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn knows_help_and_version_and_reports_usage_errors_without_a_backtrace() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_minikafka-dump-log"))
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap()
    };
    let version = run(&["--version"]);
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("minikafka-dump-log {}", env!("CARGO_PKG_VERSION"))
    );
    let help = run(&["--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Usage: minikafka-dump-log"), "{help}");
    assert!(help.contains(".snapshot"), "{help}");
    for args in [&[][..], &["--no-such-flag", "x.log"][..]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Usage: minikafka-dump-log"), "{args:?}: {err}");
        assert!(!err.contains("backtrace"), "{args:?}: {err}");
    }
    // An unknown file kind is an error of the run (exit 1), not of the usage.
    let out = run(&["notes.txt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("minikafka-dump-log: notes.txt: expected")
    );
}
