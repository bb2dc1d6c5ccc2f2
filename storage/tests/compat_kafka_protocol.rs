//! Byte-level cross-check against the independent `kafka-protocol` crate's record batch codec (itself tested
//! against Kafka): our batches decode there, theirs validate and decode here, uncompressed bytes are identical.

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as KpCompression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType as KpTimestampType,
};
use minikafka_storage::batch::{decode_records, validate, BatchBuilder, Compression, Record};

fn kp_records(n: i64) -> Vec<KpRecord> {
    (0..n)
        .map(|i| {
            let mut headers = kafka_protocol::indexmap::IndexMap::new();
            headers.insert(
                StrBytes::from_string(format!("h{i}")),
                Some(Bytes::from(vec![i as u8; 3])),
            );
            KpRecord {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 5,
                producer_id: 77,
                producer_epoch: 2,
                timestamp_type: KpTimestampType::Creation,
                offset: 100 + i,
                sequence: 10 + i as i32,
                timestamp: 1_700_000_000_000 + i * 3,
                key: (i % 2 == 0).then(|| Bytes::from(format!("key{i}"))),
                value: Some(Bytes::from(format!("value {i} ").repeat(i as usize + 1))),
                headers,
            }
        })
        .collect()
}

fn ours(kp: &[KpRecord]) -> Vec<Record> {
    kp.iter()
        .map(|r| Record {
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        })
        .collect()
}

const PAIRS: [(KpCompression, Compression); 4] = [
    (KpCompression::None, Compression::None),
    (KpCompression::Gzip, Compression::Gzip),
    (KpCompression::Snappy, Compression::Snappy),
    (KpCompression::Zstd, Compression::Zstd),
];

#[test]
fn their_batches_validate_and_decode_here() {
    for (kc, c) in PAIRS {
        let recs = kp_records(6);
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &recs,
            &RecordEncodeOptions {
                version: 2,
                compression: kc,
            },
        )
        .unwrap();
        let headers = validate(&buf, u32::MAX).unwrap();
        assert_eq!(headers.len(), 1, "{c:?}");
        let h = headers[0];
        assert_eq!(
            (h.base_offset, h.records_count, h.compression()),
            (100, 6, c)
        );
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (77, 2, 10)
        );
        let (_, decoded) = decode_records(&buf).unwrap();
        assert_eq!(decoded, ours(&recs), "{c:?}");
    }
}

#[test]
fn our_batches_decode_there_and_uncompressed_bytes_are_identical() {
    for (kc, c) in PAIRS {
        let recs = kp_records(6);
        let builder = BatchBuilder {
            compression: c,
            partition_leader_epoch: 5,
            producer_id: 77,
            producer_epoch: 2,
            base_sequence: 10,
            ..BatchBuilder::new(100, recs[0].timestamp)
        };
        let b = builder.build(&ours(&recs)).unwrap();
        let set = RecordBatchDecoder::decode(&mut b.clone()).unwrap();
        assert_eq!(set.compression, kc);
        assert_eq!(set.records.len(), 6);
        for (got, want) in set.records.iter().zip(&recs) {
            assert_eq!(
                (got.offset, got.timestamp, got.sequence),
                (want.offset, want.timestamp, want.sequence)
            );
            assert_eq!(
                (&got.key, &got.value, &got.headers),
                (&want.key, &want.value, &want.headers)
            );
        }
        if c == Compression::None {
            let mut theirs = BytesMut::new();
            RecordBatchEncoder::encode(
                &mut theirs,
                &recs,
                &RecordEncodeOptions {
                    version: 2,
                    compression: kc,
                },
            )
            .unwrap();
            assert_eq!(&b[..], &theirs[..]);
        }
    }
}
