//! Records inside a v2 batch (`DefaultRecord`): parsing for validation and decoding, and a batch builder.
//!
//! Record layout: `length varint, attributes i8, timestampDelta varlong, offsetDelta varint, keyLength varint,
//! key, valueLength varint, value, headerCount varint, [headerKeyLength varint, headerKey, headerValueLength
//! varint, headerValue]*`, all varints zig-zag encoded, lengths of `-1` meaning null.

use bytes::Bytes;

use super::compression::{compress, Compression};
use super::varint::{put_nullable_bytes, put_varint, put_varlong, Reader};
use super::{BatchHeader, MAGIC};
use crate::config::TimestampType;
use crate::error::{Result, StorageError};

/// One record, decoded (decompressing if needed): for ListOffsets by timestamp, tools and tests, never the
/// produce/fetch path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset (`base_offset + offset_delta`).
    pub offset: i64,
    /// Record timestamp; the batch's max timestamp for `LogAppendTime` batches.
    pub timestamp: i64,
    /// Key, or `None` for a null key.
    pub key: Option<Bytes>,
    /// Value, or `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
    /// Headers in wire order (duplicate keys kept); keys decoded as UTF-8 (lossy).
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// A record borrowed from a batch payload (or to be encoded by [`put_record`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRecord<'a> {
    pub(crate) timestamp_delta: i64,
    pub(crate) offset_delta: i32,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) header_count: i32,
    /// The encoded headers (`header_count` of them), checked well-formed.
    pub(crate) headers: &'a [u8],
}

fn invalid(msg: String) -> StorageError {
    StorageError::InvalidRecord(msg)
}

/// Read one header (key, value) from `r`.
pub(crate) fn read_header<'a>(r: &mut Reader<'a>) -> Result<(&'a [u8], Option<&'a [u8]>)> {
    let key = r
        .nullable_bytes()?
        .ok_or_else(|| invalid("record header has a null key".into()))?;
    Ok((key, r.nullable_bytes()?))
}

fn parse_record<'a>(r: &mut Reader<'a>) -> Result<RawRecord<'a>> {
    let len = r.varint()?;
    if len < 0 {
        return Err(invalid(format!("record length {len} is negative")));
    }
    // Non-negative, so lossless.
    parse_record_body(r.bytes(len as usize)?)
}

/// Parse one record's body (the bytes its length varint announces), which its fields must fill exactly.
pub(crate) fn parse_record_body(body: &[u8]) -> Result<RawRecord<'_>> {
    let len = body.len();
    let mut b = Reader::new(body);
    let _attributes = b.i8()?;
    let timestamp_delta = b.varlong()?;
    let offset_delta = b.varint()?;
    let key = b.nullable_bytes()?;
    let value = b.nullable_bytes()?;
    let header_count = b.varint()?;
    if header_count < 0 {
        return Err(invalid(format!("record has {header_count} headers")));
    }
    let headers_start = b.position();
    for _ in 0..header_count {
        read_header(&mut b)?;
    }
    let headers = &body[headers_start..b.position()];
    if b.remaining() != 0 {
        return Err(invalid(format!(
            "record declares {len} bytes but its fields use {}",
            b.position()
        )));
    }
    Ok(RawRecord {
        timestamp_delta,
        offset_delta,
        key,
        value,
        header_count,
        headers,
    })
}

/// Parse exactly `count` records from an uncompressed records payload, checking that they fill `payload` exactly
/// and their offset deltas: 0, 1, 2… (`contiguous`, every batch a client sends) or only increasing (stored
/// batches, which the log cleaner may have left with gaps); `f` sees each record.
pub(crate) fn walk_records_with<'a>(
    payload: &'a [u8],
    count: i32,
    contiguous: bool,
    mut f: impl FnMut(RawRecord<'a>) -> Result<()>,
) -> Result<()> {
    let mut previous = -1;
    let mut r = Reader::new(payload);
    for i in 0..count {
        if r.remaining() == 0 {
            return Err(invalid(format!(
                "batch declares {count} records but holds only {i}"
            )));
        }
        let rec = parse_record(&mut r)?;
        check_offset_delta(i, &mut previous, rec.offset_delta, contiguous)?;
        f(rec)?;
    }
    if r.remaining() != 0 {
        return Err(invalid(format!(
            "{} bytes follow the last of {count} records",
            r.remaining()
        )));
    }
    Ok(())
}

/// Check record `i`'s offset delta: `i` itself (`contiguous`, every batch a client sends) or above the previous
/// one (stored batches the cleaner thinned). Kafka's `LogValidator`: "Inner record … has invalid offset".
pub(crate) fn check_offset_delta(
    i: i32,
    previous: &mut i32,
    delta: i32,
    contiguous: bool,
) -> Result<()> {
    let ok = if contiguous {
        delta == i
    } else {
        delta > *previous
    };
    *previous = delta;
    if !ok {
        return Err(invalid(format!(
            "record {i} has invalid offset delta {delta}"
        )));
    }
    Ok(())
}

/// Decode one whole batch (the first batch in `batch`; trailing bytes are ignored) into its header and records,
/// decompressing if needed. Timestamps honour `LogAppendTime` (every record gets the batch's max timestamp).
/// The CRC is not checked (stored batches were checked on append or recovery).
pub fn decode_records(batch: &[u8]) -> Result<(BatchHeader, Vec<Record>)> {
    let mut records = Vec::new();
    let header = super::visit_records(batch, super::DEFAULT_DECOMPRESSED_LIMIT, |r| {
        records.push(r);
        std::ops::ControlFlow::Continue(())
    })?;
    Ok((header, records))
}

/// Builds v2 batches (tests, tools, control records). Producer fields default to "none" (-1), the leader epoch
/// to -1, the batch to uncompressed `CreateTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchBuilder {
    /// Base offset written into the batch (the broker overwrites it on append).
    pub base_offset: i64,
    /// Base timestamp; record timestamps are stored as deltas from it.
    pub base_timestamp: i64,
    /// Compression codec of the records payload.
    pub compression: Compression,
    /// Partition leader epoch.
    pub partition_leader_epoch: i32,
    /// Producer id (-1 for none).
    pub producer_id: i64,
    /// Producer epoch (-1 for none).
    pub producer_epoch: i16,
    /// Base sequence (-1 for none).
    pub base_sequence: i32,
    /// Transactional bit.
    pub transactional: bool,
    /// Control bit.
    pub control: bool,
    /// Timestamp type bit.
    pub timestamp_type: TimestampType,
}

impl BatchBuilder {
    /// A builder for an uncompressed, non-transactional `CreateTime` batch.
    pub fn new(base_offset: i64, base_timestamp: i64) -> Self {
        BatchBuilder {
            base_offset,
            base_timestamp,
            compression: Compression::None,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            control: false,
            timestamp_type: TimestampType::CreateTime,
        }
    }

    /// Build the batch. Records get consecutive offsets from `base_offset` (their `offset` field is ignored); their
    /// timestamps are stored as deltas from `base_timestamp`. The max timestamp is the largest record timestamp
    /// (`-1` with no records).
    pub fn build(&self, records: &[Record]) -> std::io::Result<Bytes> {
        let mut payload = Vec::new();
        let mut headers = Vec::new();
        for (i, rec) in records.iter().enumerate() {
            headers.clear();
            for (k, v) in &rec.headers {
                put_nullable_bytes(&mut headers, Some(k.as_bytes()));
                put_nullable_bytes(&mut headers, v.as_deref());
            }
            put_record(
                &mut payload,
                RawRecord {
                    timestamp_delta: rec.timestamp.wrapping_sub(self.base_timestamp),
                    offset_delta: to_i32(i)?,
                    key: rec.key.as_deref(),
                    value: rec.value.as_deref(),
                    header_count: to_i32(rec.headers.len())?,
                    headers: &headers,
                },
            )?;
        }
        let count = to_i32(records.len())?;
        let mut attributes = i16::from(self.compression.id());
        if self.timestamp_type == TimestampType::LogAppendTime {
            attributes |= super::TIMESTAMP_TYPE_BIT;
        }
        if self.transactional {
            attributes |= super::TRANSACTIONAL_BIT;
        }
        if self.control {
            attributes |= super::CONTROL_BIT;
        }
        let frame = BatchHeader {
            base_offset: self.base_offset,
            batch_length: 0,
            partition_leader_epoch: self.partition_leader_epoch,
            magic: MAGIC,
            crc: 0,
            attributes,
            last_offset_delta: count - 1,
            base_timestamp: self.base_timestamp,
            max_timestamp: records.iter().map(|r| r.timestamp).max().unwrap_or(-1),
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            records_count: count,
        };
        assemble(&frame, &compress(self.compression, &payload)?)
    }
}

/// Append one length-prefixed record to an uncompressed records payload.
pub(crate) fn put_record(payload: &mut Vec<u8>, rec: RawRecord<'_>) -> std::io::Result<()> {
    let mut body = Vec::with_capacity(
        16 + rec.key.map_or(0, <[u8]>::len) + rec.value.map_or(0, <[u8]>::len) + rec.headers.len(),
    );
    body.push(0); // record attributes: unused
    put_varlong(&mut body, rec.timestamp_delta);
    put_varint(&mut body, rec.offset_delta);
    put_nullable_bytes(&mut body, rec.key);
    put_nullable_bytes(&mut body, rec.value);
    put_varint(&mut body, rec.header_count);
    body.extend_from_slice(rec.headers);
    put_varint(payload, to_i32(body.len())?);
    payload.extend_from_slice(&body);
    Ok(())
}

/// Write a whole batch: `frame`'s fields (its `batch_length`, `magic` and `crc` are ignored and computed) followed
/// by `payload` (the records, already compressed as `frame.attributes` says).
pub(crate) fn assemble(frame: &BatchHeader, payload: &[u8]) -> std::io::Result<Bytes> {
    let mut out = Vec::with_capacity(BatchHeader::SIZE + payload.len());
    out.extend_from_slice(&frame.base_offset.to_be_bytes());
    out.extend_from_slice(
        &to_i32(BatchHeader::SIZE - super::LOG_OVERHEAD + payload.len())?.to_be_bytes(),
    );
    out.extend_from_slice(&frame.partition_leader_epoch.to_be_bytes());
    out.push(MAGIC as u8);
    out.extend_from_slice(&[0; 4]); // CRC, filled below
    out.extend_from_slice(&frame.attributes.to_be_bytes());
    out.extend_from_slice(&frame.last_offset_delta.to_be_bytes());
    out.extend_from_slice(&frame.base_timestamp.to_be_bytes());
    out.extend_from_slice(&frame.max_timestamp.to_be_bytes());
    out.extend_from_slice(&frame.producer_id.to_be_bytes());
    out.extend_from_slice(&frame.producer_epoch.to_be_bytes());
    out.extend_from_slice(&frame.base_sequence.to_be_bytes());
    out.extend_from_slice(&frame.records_count.to_be_bytes());
    out.extend_from_slice(payload);
    let crc = super::compute_crc(&out);
    out[super::CRC_OFFSET..super::CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(Bytes::from(out))
}

pub(crate) fn to_i32(n: usize) -> std::io::Result<i32> {
    i32::try_from(n)
        .map_err(|_| std::io::Error::other(format!("{n} does not fit a record batch field")))
}

/// Build a v2 batch (tests, tools, later control records): uncompressed or with a codec. See
/// [`BatchBuilder::build`] for how records are laid out; use [`BatchBuilder`] for producer ids, transactional or
/// control batches.
///
/// # Panics
/// Only if a field exceeds `i32::MAX` (more than 2^31 records or bytes in one batch), which Kafka cannot
/// represent either. Compressing into memory cannot fail otherwise.
pub fn build_batch(
    base_offset: i64,
    base_timestamp: i64,
    records: &[Record],
    compression: Compression,
) -> Bytes {
    let builder = BatchBuilder {
        compression,
        ..BatchBuilder::new(base_offset, base_timestamp)
    };
    #[allow(clippy::expect_used)]
    builder
        .build(records)
        .expect("an in-memory batch under 2 GiB always builds")
}
