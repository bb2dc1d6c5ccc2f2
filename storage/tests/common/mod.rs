//! Helpers shared by the storage integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use bytes::Bytes;
use minikafka_storage::batch::{
    build_batch, decode_records, iter_headers, BatchHeader, Compression, Record,
};
use minikafka_storage::{Log, LogConfig};

/// Every codec, uncompressed first.
pub const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// A record with a value of `size` bytes derived from `tag`.
pub fn rec(tag: i64, ts: i64, size: usize) -> Record {
    let value: Vec<u8> = format!("value-{tag}-")
        .bytes()
        .cycle()
        .take(size.max(1))
        .collect();
    Record {
        offset: 0,
        timestamp: ts,
        key: Some(Bytes::from(format!("k{tag}"))),
        value: Some(value.into()),
        headers: vec![],
    }
}

/// A batch of `n` records with timestamps `ts, ts+1, …`, values of `size` bytes.
pub fn batch(n: usize, ts: i64, size: usize, codec: Compression) -> Bytes {
    let recs: Vec<Record> = (0..n as i64).map(|i| rec(ts + i, ts + i, size)).collect();
    build_batch(0, ts, &recs, codec)
}

/// A config with small segments and a dense index, for tests.
pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

/// Split concatenated batches into (header, bytes) pairs; panics on a partial tail.
pub fn split(buf: &Bytes) -> Vec<(BatchHeader, Bytes)> {
    let mut out = Vec::new();
    let mut end = 0;
    for item in iter_headers(buf) {
        let (pos, h) = item.unwrap();
        out.push((h, buf.slice(pos..pos + h.size())));
        end = pos + h.size();
    }
    assert_eq!(end, buf.len(), "read returned a partial batch");
    out
}

/// Every record of the log, read batch by batch through `Log::read`.
pub fn read_all(log: &Log) -> Vec<Record> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let info = log.read(offset, 1 << 20, true).unwrap();
        if info.records.is_empty() {
            break;
        }
        for (h, b) in split(&info.records) {
            let (_, recs) = decode_records(&b).unwrap();
            out.extend(recs.into_iter().filter(|r| r.offset >= offset));
            offset = h.last_offset() + 1;
        }
    }
    out
}

/// Names of the files in `dir`, sorted.
pub fn files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}
