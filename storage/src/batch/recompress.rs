//! A topic's `compression.type` on append: the batch a client sent, rebuilt with the topic's codec and level
//! (Kafka's `LogValidator.validateMessagesAndAssignOffsetsCompressed` when source and target codecs differ, and
//! its `buildRecordsAndAssignOffsets`).
//!
//! [`target_codec`] says whether a batch needs it at all: `producer` keeps every batch's own codec, and a batch
//! already in the topic's codec keeps the in-place path (offsets and epoch patched in a copy of its header, the
//! records written from the request's buffer). [`recompress`] builds the new batch:
//!
//! * The records come from the bounded streamed reader ([`super::stream`], within [`super::decompressed_limit`]),
//!   re-encoded unchanged: same key, value, headers, timestamp delta and offset delta. An uncompressed source's
//!   records payload is taken as it is (the validation already walked it), so producer `none` → topic `zstd`
//!   costs one compression of the payload and no re-encoding.
//! * The header keeps producer id, producer epoch, base sequence, the transactional bit and the timestamp type,
//!   so the idempotent producer state sees exactly the batch the client sent (duplicates and sequence gaps are
//!   still found). Its max timestamp is recomputed from the records, as Kafka's builder does; its base timestamp
//!   stays the producer's (Kafka rebases it on the first record, which reads the same timestamps but rewrites
//!   every record's delta). The base offset and leader epoch are assigned by the append afterwards, outside
//!   the CRC, and `LogAppendTime` is stamped there too.
//! * Control batches are never rebuilt ([`target_codec`] keeps their codec), as Kafka writes markers as they
//!   come.
//!
//! Kafka takes only one batch per partition in this path ("Compressed outer record has more than one batch");
//! the caller ([`crate::Log::append`]) refuses the others before calling [`recompress`].

use bytes::Bytes;

use super::compression::{compress_with_level, Compression};
use super::record::{assemble, put_record};
use super::stream::{for_each_record, records_payload};
use super::{BatchHeader, COMPRESSION_MASK, DELETE_HORIZON_BIT};
use crate::config::BrokerCompressionType;
use crate::error::Result;

/// The codec a client batch `h` is stored with under `compression.type = topic`: its own for `producer` and for
/// control batches, the topic's otherwise (Kafka's `BrokerCompressionType.targetCompression`).
pub fn target_codec(topic: BrokerCompressionType, h: &BatchHeader) -> Compression {
    let source = h.compression();
    if h.is_control() {
        return source;
    }
    match topic {
        BrokerCompressionType::Producer => source,
        BrokerCompressionType::Uncompressed => Compression::None,
        BrokerCompressionType::Zstd => Compression::Zstd,
        BrokerCompressionType::Lz4 => Compression::Lz4,
        BrokerCompressionType::Snappy => Compression::Snappy,
        BrokerCompressionType::Gzip => Compression::Gzip,
    }
}

/// Rebuild the whole, already validated batch `batch` (header `h`) with codec `target` at `level`: every record
/// kept as it is, the header's producer fields, transactional bit and timestamp type kept, its max timestamp
/// recomputed from the records. Decompression streams within `limit` bytes. Offsets and leader epoch are left
/// for the append to assign.
///
/// Errors: as [`super::visit_records`] for records that fail to decode (the batch was validated, so only a
/// codec misbehaving gets there), [`StorageError::Io`] if the new batch does not fit a batch's `i32` fields.
pub fn recompress(
    batch: &[u8],
    h: &BatchHeader,
    target: Compression,
    level: i32,
    limit: usize,
) -> Result<Bytes> {
    let payload = records_payload(batch, h)?;
    let mut max_timestamp = -1i64;
    let mut note_timestamp = |delta: i64| {
        max_timestamp = max_timestamp.max(h.base_timestamp.saturating_add(delta));
    };
    let mut decoded = Vec::new();
    let records: &[u8] = if h.compression() == Compression::None {
        for_each_record(batch, h, limit, true, |_, r| {
            note_timestamp(r.timestamp_delta);
            Ok(())
        })?;
        payload
    } else {
        for_each_record(batch, h, limit, true, |_, r| {
            note_timestamp(r.timestamp_delta);
            put_record(&mut decoded, r)?;
            Ok(())
        })?;
        &decoded
    };
    let frame = BatchHeader {
        attributes: (h.attributes & !(COMPRESSION_MASK | DELETE_HORIZON_BIT))
            | i16::from(target.id()),
        max_timestamp,
        ..*h
    };
    Ok(assemble(
        &frame,
        &compress_with_level(target, level, records)?,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{decode_records, validate, BatchBuilder, Record};
    use crate::config::TimestampType;
    use crate::error::StorageError;

    fn records() -> Vec<Record> {
        vec![
            Record {
                offset: 0,
                timestamp: 1_000,
                key: Some("k0".into()),
                value: Some("v0".repeat(50).into()),
                headers: vec![
                    ("h".into(), Some("x".into())),
                    ("h".into(), None),
                    ("other".into(), Some(vec![0, 1, 2].into())),
                ],
            },
            Record {
                offset: 1,
                timestamp: 999,
                key: None,
                value: None,
                headers: vec![],
            },
            Record {
                offset: 2,
                timestamp: 1_500,
                key: Some("k2".into()),
                value: Some(vec![7u8; 3_000].into()),
                headers: vec![("trace".into(), Some("abc".into()))],
            },
        ]
    }

    const ALL: [Compression; 5] = Compression::ALL;

    #[test]
    fn every_codec_to_every_codec_keeps_records_and_producer_fields() {
        for source in ALL {
            let builder = BatchBuilder {
                compression: source,
                producer_id: 42,
                producer_epoch: 3,
                base_sequence: 17,
                transactional: true,
                ..BatchBuilder::new(0, 1_000)
            };
            let batch = builder.build(&records()).unwrap();
            let h = validate(&batch, 1 << 20).unwrap()[0];
            for target in ALL {
                let out = recompress(&batch, &h, target, target.default_level(), 1 << 20).unwrap();
                let nh = validate(&out, 1 << 20).unwrap()[0];
                assert_eq!(nh.compression(), target, "{source:?} → {target:?}");
                assert_eq!(
                    (nh.producer_id, nh.producer_epoch, nh.base_sequence),
                    (42, 3, 17)
                );
                assert!(nh.is_transactional() && !nh.is_control());
                assert_eq!(nh.timestamp_type(), TimestampType::CreateTime);
                assert_eq!((nh.records_count, nh.last_offset_delta), (3, 2));
                assert_eq!((nh.base_timestamp, nh.max_timestamp), (1_000, 1_500));
                assert_eq!(
                    decode_records(&out).unwrap().1,
                    records(),
                    "{source:?} → {target:?}"
                );
            }
        }
    }

    #[test]
    fn max_timestamp_is_recomputed_and_log_append_time_kept() {
        // A producer that sends a wrong max timestamp gets the records' own, as Kafka's builder computes it.
        let good = BatchBuilder {
            compression: Compression::Lz4,
            ..BatchBuilder::new(0, 1_000)
        }
        .build(&records())
        .unwrap();
        let mut h = BatchHeader::parse(&good).unwrap();
        h.max_timestamp = 5;
        let lying = crate::batch::assemble_batch(&h, &good[BatchHeader::SIZE..]).unwrap();
        let h = validate(&lying, 1 << 20).unwrap()[0];
        let out = recompress(&lying, &h, Compression::Zstd, 3, 1 << 20).unwrap();
        assert_eq!(BatchHeader::parse(&out).unwrap().max_timestamp, 1_500);

        let lat = BatchBuilder {
            timestamp_type: TimestampType::LogAppendTime,
            ..BatchBuilder::new(0, 1_000)
        }
        .build(&records())
        .unwrap();
        let h = validate(&lat, 1 << 20).unwrap()[0];
        let out = recompress(&lat, &h, Compression::Gzip, 9, 1 << 20).unwrap();
        let nh = BatchHeader::parse(&out).unwrap();
        assert_eq!(nh.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(nh.compression(), Compression::Gzip);
    }

    #[test]
    fn levels_change_the_output_and_stay_readable() {
        let many: Vec<Record> = (0..500)
            .map(|i| Record {
                offset: i,
                timestamp: 1_000 + i,
                key: Some(format!("key-{}", i % 17).into()),
                value: Some(format!("value {i} value {} value", i * 7).repeat(8).into()),
                headers: vec![],
            })
            .collect();
        let batch = BatchBuilder::new(0, 1_000).build(&many).unwrap();
        let h = validate(&batch, 1 << 20).unwrap()[0];
        for (codec, low, high) in [(Compression::Zstd, -5, 19), (Compression::Gzip, 1, 9)] {
            let fast = recompress(&batch, &h, codec, low, 1 << 20).unwrap();
            let small = recompress(&batch, &h, codec, high, 1 << 20).unwrap();
            assert!(
                small.len() < fast.len(),
                "{codec:?}: {} vs {}",
                small.len(),
                fast.len()
            );
            for out in [fast, small] {
                assert_eq!(decode_records(&out).unwrap().1, many);
            }
        }
        // gzip -1 is zlib's default level.
        let default = recompress(&batch, &h, Compression::Gzip, -1, 1 << 20).unwrap();
        let six = recompress(&batch, &h, Compression::Gzip, 6, 1 << 20).unwrap();
        assert_eq!(default.len(), six.len());
    }

    #[test]
    fn the_target_follows_the_topic_but_never_touches_control_batches() {
        let plain = BatchBuilder::new(0, 0).build(&records()).unwrap();
        let h = BatchHeader::parse(&plain).unwrap();
        assert_eq!(
            target_codec(BrokerCompressionType::Producer, &h),
            Compression::None
        );
        assert_eq!(
            target_codec(BrokerCompressionType::Zstd, &h),
            Compression::Zstd
        );
        assert_eq!(
            target_codec(BrokerCompressionType::Snappy, &h),
            Compression::Snappy
        );
        let marker =
            crate::batch::build_txn_marker(1, 0, 0, crate::batch::TxnMarker::Commit, 0).unwrap();
        let h = BatchHeader::parse(&marker).unwrap();
        assert_eq!(
            target_codec(BrokerCompressionType::Gzip, &h),
            Compression::None
        );
    }

    #[test]
    fn a_compressed_source_is_read_within_the_limit() {
        let batch = BatchBuilder {
            compression: Compression::Zstd,
            ..BatchBuilder::new(0, 1_000)
        }
        .build(&records())
        .unwrap();
        let h = BatchHeader::parse(&batch).unwrap();
        let r = recompress(&batch, &h, Compression::None, 0, 1_000);
        assert!(matches!(r, Err(StorageError::CorruptMessage(_))), "{r:?}");
    }
}
