//! `compression.type` on append (Kafka's `LogValidator` recompression): a client batch in another codec is stored
//! rebuilt with the topic's codec, every record intact, offsets and producer state as for the batch sent.

mod common;

use bytes::Bytes;
use common::*;
use minikafka_storage::batch::{
    build_txn_marker, decode_records, BatchBuilder, BatchHeader, Compression, Record, TxnMarker,
};
use minikafka_storage::{BrokerCompressionType, Log, LogConfig, StorageError, TimestampType};

fn config(t: BrokerCompressionType) -> LogConfig {
    LogConfig {
        compression_type: t,
        ..LogConfig::default()
    }
}

/// Records with headers (duplicate keys, a null header value), a null key and a null value.
fn records() -> Vec<Record> {
    (0..40)
        .map(|i| Record {
            offset: i,
            timestamp: 1_000 + i * 3,
            key: (i % 5 != 0).then(|| Bytes::from(format!("key-{i}"))),
            value: (i % 7 != 3).then(|| Bytes::from(format!("value {i} ").repeat(20))),
            headers: match i % 3 {
                0 => vec![],
                1 => vec![("a".into(), Some(Bytes::from(format!("h{i}"))))],
                _ => vec![
                    ("dup".into(), Some("1".into())),
                    ("dup".into(), None),
                    ("z".into(), Some(Bytes::new())),
                ],
            },
        })
        .collect()
}

/// The stored batches of the whole log.
fn stored(log: &Log) -> Vec<(BatchHeader, Bytes)> {
    split(&log.read(0, usize::MAX, false).unwrap().records)
}

/// `recs` renumbered from `base`.
fn at(base: i64, recs: &[Record]) -> Vec<Record> {
    recs.iter()
        .enumerate()
        .map(|(i, r)| Record {
            offset: base + i as i64,
            ..r.clone()
        })
        .collect()
}

#[test]
fn every_topic_codec_stores_a_client_batch_rebuilt_with_its_records_intact() {
    for (topic, codec) in [
        (BrokerCompressionType::Zstd, Compression::Zstd),
        (BrokerCompressionType::Gzip, Compression::Gzip),
        (BrokerCompressionType::Lz4, Compression::Lz4),
        (BrokerCompressionType::Snappy, Compression::Snappy),
        (BrokerCompressionType::Uncompressed, Compression::None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), config(topic), true).unwrap();
        let mut expected = Vec::new();
        for (i, source) in CODECS.into_iter().enumerate() {
            let b = BatchBuilder {
                compression: source,
                ..BatchBuilder::new(0, 1_000)
            }
            .build(&records())
            .unwrap();
            let info = log.append(&b, 5, 0).unwrap();
            assert_eq!(info.base_offset, i as i64 * 40, "{topic:?} from {source:?}");
            assert_eq!(info.last_offset, info.base_offset + 39);
            expected.extend(at(info.base_offset, &records()));
        }
        for (h, b) in stored(&log) {
            assert_eq!(h.compression(), codec, "{topic:?}");
            assert_eq!(h.partition_leader_epoch, 5);
            assert_eq!((h.base_timestamp, h.max_timestamp), (1_000, 1_117));
            assert_eq!(decode_records(&b).unwrap().0, h);
        }
        assert_eq!(read_all(&log), expected, "{topic:?}");
        // Recovery after an unclean shutdown validates the rebuilt batches like any other.
        drop(log);
        let log = Log::open(dir.path(), config(topic), false).unwrap();
        assert_eq!(read_all(&log), expected, "{topic:?} after recovery");
    }
}

#[test]
fn producer_keeps_the_batch_as_sent_and_a_same_codec_batch_stays_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(BrokerCompressionType::Zstd), true).unwrap();
    let b = build_zstd(&records());
    log.append(&b, 0, 0).unwrap();
    log.set_config(config(BrokerCompressionType::Producer));
    let lz4 = BatchBuilder {
        compression: Compression::Lz4,
        ..BatchBuilder::new(0, 1_000)
    }
    .build(&records())
    .unwrap();
    log.append(&lz4, 0, 0).unwrap();
    let batches = stored(&log);
    // The zstd batch on the zstd topic: byte for byte what was sent, but for the base offset and epoch.
    assert_eq!(&batches[0].1[12..16], &0i32.to_be_bytes());
    assert_eq!(batches[0].1[16..], b[16..]);
    assert_eq!(batches[1].0.compression(), Compression::Lz4);
    assert_eq!(batches[1].1[16..], lz4[16..]);
}

fn build_zstd(recs: &[Record]) -> Bytes {
    BatchBuilder {
        compression: Compression::Zstd,
        ..BatchBuilder::new(0, 1_000)
    }
    .build(recs)
    .unwrap()
}

#[test]
fn log_append_time_stamps_the_rebuilt_batch() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..config(BrokerCompressionType::Gzip)
    };
    let mut log = Log::open(dir.path(), cfg, true).unwrap();
    let b = BatchBuilder::new(0, 1_000).build(&records()).unwrap();
    let now = 1_700_000_000_000;
    let info = log.append(&b, 0, now).unwrap();
    assert_eq!(info.log_append_time, now);
    let [(h, stored)] = &stored(&log)[..] else {
        panic!("one batch expected")
    };
    assert_eq!(h.compression(), Compression::Gzip);
    assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(h.max_timestamp, now);
    minikafka_storage::batch::validate(stored, u32::MAX).unwrap();
    let (_, recs) = decode_records(stored).unwrap();
    assert!(recs.iter().all(|r| r.timestamp == now));
    let plain: Vec<_> = recs
        .iter()
        .map(|r| (r.key.clone(), r.value.clone(), r.headers.clone()))
        .collect();
    let sent: Vec<_> = records()
        .into_iter()
        .map(|r| (r.key, r.value, r.headers))
        .collect();
    assert_eq!(plain, sent);
}

#[test]
fn several_batches_to_rebuild_are_refused_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(BrokerCompressionType::Zstd), true).unwrap();
    let mut two = BatchBuilder::new(0, 1_000)
        .build(&records())
        .unwrap()
        .to_vec();
    two.extend_from_slice(&BatchBuilder::new(0, 1_000).build(&records()).unwrap());
    match log.append(&two, 0, 0) {
        Err(StorageError::InvalidRecord(m)) => {
            assert_eq!(m, "Compressed outer record has more than one batch");
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(log.log_end_offset(), 0);
    // Two batches already in the topic's codec keep the in-place path, which takes several.
    let mut two = build_zstd(&records()).to_vec();
    two.extend_from_slice(&build_zstd(&records()));
    assert_eq!(log.append(&two, 0, 0).unwrap().last_offset, 79);
}

#[test]
fn the_rebuilt_size_is_checked_against_max_message_bytes() {
    // Incompressible values: gzip's framing makes the rebuilt batch larger than the one sent.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..4_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let recs = vec![Record {
        offset: 0,
        timestamp: 1_000,
        key: None,
        value: Some(noise.into()),
        headers: vec![],
    }];
    let b = BatchBuilder::new(0, 1_000).build(&recs).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        max_message_bytes: u32::try_from(b.len()).unwrap(),
        ..config(BrokerCompressionType::Gzip)
    };
    let mut log = Log::open(dir.path(), cfg, true).unwrap();
    match log.append(&b, 0, 0) {
        Err(e @ StorageError::RecompressedTooLarge { size, max, .. }) => {
            assert!(size > b.len(), "{size}");
            assert_eq!(max as usize, b.len());
            let name = dir
                .path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            assert_eq!(
                e.to_string(),
                format!("Message batch size is {size} bytes in append to partition {name} which exceeds the maximum configured size of {max}.")
            );
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn idempotent_producers_still_get_duplicates_and_gaps_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(BrokerCompressionType::Zstd), true).unwrap();
    let idempotent = |seq: i32| {
        BatchBuilder {
            producer_id: 9,
            producer_epoch: 0,
            base_sequence: seq,
            ..BatchBuilder::new(0, 1_000)
        }
        .build(&records())
        .unwrap()
    };
    let first = log.append(&idempotent(0), 0, 0).unwrap();
    let h = stored(&log)[0].0;
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        (9, 0, 0)
    );
    assert_eq!(h.compression(), Compression::Zstd);
    let again = log.append(&idempotent(0), 0, 0).unwrap();
    assert!(again.duplicate);
    assert_eq!(
        (again.base_offset, again.last_offset),
        (first.base_offset, first.last_offset)
    );
    let r = log.append(&idempotent(41), 0, 0);
    assert!(
        matches!(r, Err(StorageError::OutOfOrderSequence(_))),
        "{r:?}"
    );
    log.append(&idempotent(40), 0, 0).unwrap();
    assert_eq!(log.log_end_offset(), 80);
    // The producer state rebuilt from the stored (rebuilt) batches knows the same sequences.
    drop(log);
    let mut log = Log::open(dir.path(), config(BrokerCompressionType::Zstd), false).unwrap();
    assert!(log.append(&idempotent(40), 0, 0).unwrap().duplicate);
}

#[test]
fn transaction_markers_are_never_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), config(BrokerCompressionType::Gzip), true).unwrap();
    let txn = BatchBuilder {
        producer_id: 4,
        producer_epoch: 0,
        base_sequence: 0,
        transactional: true,
        ..BatchBuilder::new(0, 1_000)
    }
    .build(&records())
    .unwrap();
    log.append(&txn, 0, 0).unwrap();
    assert_eq!(log.last_stable_offset(), 0);
    log.append_txn_marker(4, 0, 0, TxnMarker::Commit, 0, 2_000)
        .unwrap();
    assert_eq!(log.last_stable_offset(), 41);
    let batches = stored(&log);
    assert_eq!(batches[0].0.compression(), Compression::Gzip);
    assert!(batches[0].0.is_transactional());
    let marker = &batches[1];
    assert!(marker.0.is_control());
    assert_eq!(marker.0.compression(), Compression::None);
    let expected = build_txn_marker(4, 0, 0, TxnMarker::Commit, 2_000).unwrap();
    assert_eq!(marker.1[16..], expected[16..]);
}
