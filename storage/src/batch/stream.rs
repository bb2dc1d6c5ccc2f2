//! Bounded, streamed access to the records of one batch, compressed or not: the one way the broker looks inside a
//! batch (produce validation, the compacted-topic key check, ListOffsets by timestamp, coordinator replay).
//!
//! A compressed payload is never decompressed whole: [`for_each_record`] pulls the records one at a time through
//! the codec's streaming decoder, holding only the record being read, and stops with
//! [`StorageError::CorruptMessage`] once the batch has expanded beyond its limit ([`super::decompressed_limit`]),
//! so a compression bomb of a few hundred bytes costs at most that many bytes of work and one record of memory.
//! Uncompressed payloads are walked in place.
//!
//! ```
//! use minikafka_storage::batch::{build_batch, visit_records, Compression, Record, DEFAULT_DECOMPRESSED_LIMIT};
//! use std::ops::ControlFlow;
//! let rec = Record { offset: 0, timestamp: 7, key: None, value: Some("v".into()), headers: vec![] };
//! let batch = build_batch(0, 7, &[rec.clone()], Compression::Zstd);
//! let mut seen = Vec::new();
//! visit_records(&batch, DEFAULT_DECOMPRESSED_LIMIT, |r| { seen.push(r); ControlFlow::Continue(()) }).unwrap();
//! assert_eq!(seen, vec![rec]);
//! ```

use std::io::{BufRead, BufReader, Read};

use super::compression::{decoder, too_large, Compression};
use super::record::{check_offset_delta, parse_record_body, walk_records_with, RawRecord};
use super::BatchHeader;
use crate::error::{Result, StorageError};

/// Read buffer between the decoder and the record parser.
const CHUNK: usize = 16 << 10;

fn invalid(msg: String) -> StorageError {
    StorageError::InvalidRecord(msg)
}

/// Call `f` with each record of the whole batch `batch` (header `h`), in order, checking what Kafka's
/// `LogValidator` checks of the records: exactly `records_count` well-formed records, offset deltas 0, 1, 2… (or
/// only increasing, `contiguous = false`, for stored batches the cleaner thinned), nothing after the last record.
/// A compressed payload is streamed and may expand to at most `limit` bytes; beyond that, or when the codec's data
/// is broken, the error is [`StorageError::CorruptMessage`]; structural faults are
/// [`StorageError::InvalidRecord`]. `f` sees records borrowed for the duration of the call only; its error stops
/// the walk.
pub(crate) fn for_each_record(
    batch: &[u8],
    h: &BatchHeader,
    limit: usize,
    contiguous: bool,
    mut f: impl FnMut(usize, RawRecord<'_>) -> Result<()>,
) -> Result<()> {
    let payload = records_payload(batch, h)?;
    let codec = h.try_compression()?;
    if codec == Compression::None {
        let mut i = 0;
        return walk_records_with(payload, h.records_count, contiguous, |r| {
            f(i, r)?;
            i += 1;
            Ok(())
        });
    }
    let mut input = BufReader::with_capacity(CHUNK, decoder(codec, payload, limit)?);
    let fail = |input: &BufReader<_>, e: std::io::Error| -> StorageError {
        let d: &super::compression::Limited<_> = input.get_ref();
        if d.exceeded {
            too_large(codec, limit)
        } else {
            StorageError::CorruptMessage(format!("cannot decompress {} batch: {e}", codec.name()))
        }
    };
    let count = h.records_count;
    let mut body = Vec::new();
    let mut previous = -1;
    for i in 0..count {
        let len = match read_varint(&mut input) {
            Ok(Some(len)) => len,
            Ok(None) => {
                return Err(invalid(format!(
                    "batch declares {count} records but holds only {i}"
                )))
            }
            Err(VarintError::Io(e)) => return Err(fail(&input, e)),
            Err(VarintError::Malformed(what)) => {
                return Err(invalid(format!("record {i}: malformed length: {what}")))
            }
        };
        let Ok(len) = usize::try_from(len) else {
            return Err(invalid(format!("record {i} has negative length {len}")));
        };
        if len > limit {
            return Err(too_large(codec, limit));
        }
        body.clear();
        // Grows with the bytes actually produced, never to the announced length up front.
        let read = (&mut input)
            .take(len as u64)
            .read_to_end(&mut body)
            .map_err(|e| fail(&input, e))?;
        if read < len {
            return Err(invalid(format!(
                "record {i} declares {len} bytes but the batch ends after {read}"
            )));
        }
        let rec = parse_record_body(&body)?;
        check_offset_delta(i, &mut previous, rec.offset_delta, contiguous)?;
        f(i as usize, rec)?;
    }
    let trailing = match input.fill_buf() {
        Ok(rest) => !rest.is_empty(),
        Err(e) => return Err(fail(&input, e)),
    };
    if trailing {
        return Err(invalid(format!(
            "bytes follow the last of {count} records in a {} batch",
            codec.name()
        )));
    }
    Ok(())
}

/// The records payload of the whole batch `batch` (header `h`): the bytes after the 61-byte header, or
/// [`StorageError::CorruptMessage`] if `batch` is shorter than the header says.
pub(crate) fn records_payload<'a>(batch: &'a [u8], h: &BatchHeader) -> Result<&'a [u8]> {
    batch.get(BatchHeader::SIZE..h.size()).ok_or_else(|| {
        StorageError::CorruptMessage(format!(
            "record batch declares {} bytes but only {} are available",
            h.size(),
            batch.len()
        ))
    })
}

enum VarintError {
    Io(std::io::Error),
    Malformed(&'static str),
}

/// Read one zig-zag varint (at most 5 bytes); `None` at a clean end of the stream.
fn read_varint(r: &mut impl BufRead) -> std::result::Result<Option<i32>, VarintError> {
    let mut raw: u32 = 0;
    for i in 0..5 {
        let mut b = [0u8; 1];
        let n = r.read(&mut b).map_err(VarintError::Io)?;
        if n == 0 {
            return if i == 0 {
                Ok(None)
            } else {
                Err(VarintError::Malformed("the batch ends inside a varint"))
            };
        }
        let bits = u32::from(b[0] & 0x7f);
        if i == 4 && bits > 0x0f {
            return Err(VarintError::Malformed("varint overflows 32 bits"));
        }
        raw |= bits << (7 * i);
        if b[0] & 0x80 == 0 {
            return Ok(Some(((raw >> 1) as i32) ^ -((raw & 1) as i32)));
        }
    }
    Err(VarintError::Malformed("varint is too long"))
}

/// Check that every record of a stored batch decodes within `limit` decompressed bytes, without keeping any:
/// the first pass of a reader that must take a batch whole or not at all (coordinator replay), before
/// [`visit_records`] applies it. Errors as [`visit_records`].
pub fn check_records(batch: &[u8], limit: usize) -> Result<BatchHeader> {
    let header = BatchHeader::parse(batch)?;
    if header.magic != super::MAGIC {
        return Err(invalid(format!("magic {} is not supported", header.magic)));
    }
    for_each_record(batch, &header, limit, false, |_, _| Ok(()))?;
    Ok(header)
}

/// Records of one batch as the codec-independent [`super::Record`], streamed: `f` gets each record in order and
/// may stop the walk with [`std::ops::ControlFlow::Break`]. Returns the batch header. Timestamps honour
/// `LogAppendTime`; offset deltas only have to increase (stored batches may have been cleaned). The batch may
/// expand to at most `limit` bytes ([`super::decompressed_limit`] of the log's `max.message.bytes`, or
/// [`super::DEFAULT_DECOMPRESSED_LIMIT`]). The CRC is not checked (stored batches were checked on append or
/// recovery).
pub fn visit_records(
    batch: &[u8],
    limit: usize,
    mut f: impl FnMut(super::Record) -> std::ops::ControlFlow<()>,
) -> Result<BatchHeader> {
    use super::record::{read_header, Record};
    use super::varint::Reader;
    use bytes::Bytes;
    let header = BatchHeader::parse(batch)?;
    if header.magic != super::MAGIC {
        return Err(invalid(format!("magic {} is not supported", header.magic)));
    }
    let log_append_time = header.timestamp_type() == crate::config::TimestampType::LogAppendTime;
    let mut stopped = false;
    let result = for_each_record(batch, &header, limit, false, |_, raw| {
        let mut headers =
            Vec::with_capacity(usize::try_from(raw.header_count).unwrap_or(0).min(1024));
        let mut r = Reader::new(raw.headers);
        for _ in 0..raw.header_count {
            let (k, v) = read_header(&mut r)?;
            headers.push((
                String::from_utf8_lossy(k).into_owned(),
                v.map(Bytes::copy_from_slice),
            ));
        }
        let rec = Record {
            offset: header.base_offset + i64::from(raw.offset_delta),
            timestamp: if log_append_time {
                header.max_timestamp
            } else {
                header.base_timestamp.wrapping_add(raw.timestamp_delta)
            },
            key: raw.key.map(Bytes::copy_from_slice),
            value: raw.value.map(Bytes::copy_from_slice),
            headers,
        };
        if f(rec).is_break() {
            stopped = true;
            return Err(StorageError::InvalidRecord(String::new()));
        }
        Ok(())
    });
    match result {
        Err(_) if stopped => Ok(header),
        Err(e) => Err(e),
        Ok(()) => Ok(header),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::varint::{put_varint, put_varlong};
    use crate::batch::{
        assemble_batch, build_batch, compress, validate, zstd_rle_frame, Record,
        DEFAULT_DECOMPRESSED_LIMIT,
    };
    use std::ops::ControlFlow;

    const COMPRESSED: [Compression; 4] = [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn rec(i: i64) -> Record {
        Record {
            offset: i,
            timestamp: 1_000 + i,
            key: Some(format!("k{i}").into()),
            value: Some(vec![b'v'; 100].into()),
            headers: vec![],
        }
    }

    /// A batch of `n` records compressed with `codec`, with its header then rewritten by `edit` (CRC recomputed).
    fn batch_with(codec: Compression, n: i64, edit: impl FnOnce(&mut BatchHeader)) -> bytes::Bytes {
        let good = build_batch(0, 1_000, &(0..n).map(rec).collect::<Vec<_>>(), codec);
        let mut h = BatchHeader::parse(&good).unwrap();
        edit(&mut h);
        assemble_batch(&h, &good[BatchHeader::SIZE..]).unwrap()
    }

    /// A zstd batch of one record whose value is `value_len` zero bytes, run-length encoded: ~4 bytes per 128 KiB.
    fn zstd_bomb(value_len: u64) -> bytes::Bytes {
        let mut head = vec![0u8]; // attributes
        put_varlong(&mut head, 0); // timestamp delta
        put_varint(&mut head, 0); // offset delta
        put_varint(&mut head, -1); // null key
        put_varint(&mut head, i32::try_from(value_len).unwrap());
        // The value's zeros and the header count (0) are the fill.
        let body_len = head.len() as u64 + value_len + 1;
        let mut prefix = Vec::new();
        put_varint(&mut prefix, i32::try_from(body_len).unwrap());
        prefix.extend_from_slice(&head);
        let payload = zstd_rle_frame(&prefix, 0, value_len + 1);
        let mut h = BatchHeader::parse(&build_batch(0, 0, &[rec(0)], Compression::Zstd)).unwrap();
        h.records_count = 1;
        h.last_offset_delta = 0;
        assemble_batch(&h, &payload).unwrap()
    }

    #[test]
    fn hand_built_zstd_frame_decodes() {
        let frame = zstd_rle_frame(b"abc", b'x', 300_000);
        let out = crate::batch::decompress(Compression::Zstd, &frame, 1 << 20).unwrap();
        assert_eq!(&out[..3], b"abc");
        assert_eq!(out.len(), 300_003);
        assert!(out[3..].iter().all(|&b| b == b'x'));
    }

    #[test]
    fn a_small_bomb_is_refused_before_it_expands() {
        let bomb = zstd_bomb(1 << 30);
        assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
        let r = validate(&bomb, 1 << 20);
        assert!(matches!(r, Err(StorageError::CorruptMessage(_))), "{r:?}");
        // The same record within a limit that fits it is a valid batch.
        let small = zstd_bomb(1 << 20);
        let h = BatchHeader::parse(&small).unwrap();
        let mut sizes = Vec::new();
        for_each_record(&small, &h, 4 << 20, true, |_, r| {
            sizes.push(r.value.map(<[u8]>::len));
            Ok(())
        })
        .unwrap();
        assert_eq!(sizes, vec![Some(1 << 20)]);
        let r = for_each_record(&small, &h, 1 << 20, true, |_, _| Ok(()));
        assert!(matches!(r, Err(StorageError::CorruptMessage(_))), "{r:?}");
    }

    #[test]
    fn every_codec_stops_at_the_limit() {
        for codec in COMPRESSED {
            let b = batch_with(codec, 2_000, |_| {});
            let h = BatchHeader::parse(&b).unwrap();
            for_each_record(&b, &h, DEFAULT_DECOMPRESSED_LIMIT, true, |_, _| Ok(())).unwrap();
            let r = for_each_record(&b, &h, 50_000, true, |_, _| Ok(()));
            assert!(
                matches!(r, Err(StorageError::CorruptMessage(_))),
                "{codec:?}: {r:?}"
            );
            let r = crate::batch::decompress(codec, &b[BatchHeader::SIZE..], 50_000);
            assert!(
                matches!(r, Err(StorageError::CorruptMessage(_))),
                "{codec:?}: {r:?}"
            );
        }
    }

    #[test]
    fn compressed_batches_whose_count_lies_are_invalid() {
        for codec in COMPRESSED {
            for lie in [4, 6, 1_000_000] {
                let b = batch_with(codec, 5, |h| {
                    h.records_count = lie;
                    h.last_offset_delta = lie - 1;
                });
                let r = validate(&b, 1 << 20);
                assert!(
                    matches!(r, Err(StorageError::InvalidRecord(_))),
                    "{codec:?} {lie}: {r:?}"
                );
            }
        }
    }

    #[test]
    fn compressed_records_with_bad_offset_deltas_are_invalid() {
        let mut payload = Vec::new();
        for delta in [0, 2] {
            crate::batch::put_record(
                &mut payload,
                RawRecord {
                    timestamp_delta: 0,
                    offset_delta: delta,
                    key: Some(b"k"),
                    value: None,
                    header_count: 0,
                    headers: &[],
                },
            )
            .unwrap();
        }
        let mut h = BatchHeader::parse(&batch_with(Compression::Lz4, 2, |_| {})).unwrap();
        h.records_count = 2;
        h.last_offset_delta = 1;
        let b = assemble_batch(&h, &compress(Compression::Lz4, &payload).unwrap()).unwrap();
        match validate(&b, 1 << 20) {
            Err(StorageError::InvalidRecord(m)) => assert!(m.contains("offset delta 2"), "{m}"),
            r => panic!("{r:?}"),
        }
        // Trailing bytes after the declared records.
        payload.push(0);
        h.records_count = 1;
        h.last_offset_delta = 0;
        h.attributes = i16::from(Compression::Gzip.id());
        let b = assemble_batch(&h, &compress(Compression::Gzip, &payload).unwrap()).unwrap();
        let r = validate(&b, 1 << 20);
        assert!(matches!(r, Err(StorageError::InvalidRecord(_))), "{r:?}");
    }

    #[test]
    fn visit_streams_and_stops_early() {
        for codec in COMPRESSED {
            let b = batch_with(codec, 50, |_| {});
            let mut seen = Vec::new();
            let h = visit_records(&b, DEFAULT_DECOMPRESSED_LIMIT, |r| {
                seen.push(r.offset);
                if r.offset == 9 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
            assert_eq!(h.records_count, 50);
            assert_eq!(seen, (0..10).collect::<Vec<_>>(), "{codec:?}");
        }
    }
}
