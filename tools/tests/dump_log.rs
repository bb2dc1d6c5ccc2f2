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
