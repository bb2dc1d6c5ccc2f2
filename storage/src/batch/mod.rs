//! Kafka's v2 record batch (`DefaultRecordBatch`, magic 2): header parsing, validation (compressed records
//! streamed within a decompressed-size limit, [`visit_records`]), in-place offset/epoch/timestamp patching,
//! rebuilding a batch with a topic's `compression.type` ([`recompress`]),
//! record decoding for tools and timestamp lookups, and transaction
//! markers (control records: [`build_txn_marker`], [`parse_control_batch`]).
//!
//! Layout (big-endian; the CRC-32C covers `attributes` to the end of the batch):
//!
//! ```text
//! 0  baseOffset i64        8  batchLength i32 (bytes after this field)   12 partitionLeaderEpoch i32
//! 16 magic i8 (= 2)        17 crc u32                                     21 attributes i16
//! 23 lastOffsetDelta i32   27 baseTimestamp i64    35 maxTimestamp i64    43 producerId i64
//! 51 producerEpoch i16     53 baseSequence i32     57 recordsCount i32    61 records…
//! ```
//!
//! Attributes: bits 0–2 compression ([`Compression`]), bit 3 timestamp type (1 = `LogAppendTime`), bit 4
//! transactional, bit 5 control, bit 6 "has delete horizon" (KIP-534: set by the log cleaner, `baseTimestamp` then
//! holds the time after which the batch's tombstones may be removed). `baseOffset`, `batchLength` and `partitionLeaderEpoch` lie before the CRC range,
//! so the broker assigns offsets and epochs without recomputing the CRC.
//!
//! ```
//! use minikafka_storage::batch::{build_batch, validate, decode_records, Compression, Record};
//! let rec = Record { offset: 0, timestamp: 1_000, key: None, value: Some("v".into()), headers: vec![] };
//! let batch = build_batch(0, 1_000, &[rec.clone()], Compression::Lz4);
//! let headers = validate(&batch, 1 << 20).unwrap();
//! assert_eq!(headers[0].records_count, 1);
//! assert_eq!(decode_records(&batch).unwrap().1, vec![rec]);
//! ```

mod compression;
mod control;
mod recompress;
mod record;
mod stream;
pub(crate) mod varint;

#[doc(hidden)]
pub use compression::zstd_rle_frame;
pub(crate) use compression::{compress, decompress};
pub use compression::{
    decompressed_limit, Compression, DECOMPRESSED_LIMIT_FACTOR, DEFAULT_DECOMPRESSED_LIMIT,
};
pub use control::{
    build_txn_marker, parse_control_batch, TxnMarker, CONTROL_KEY_VERSION, CONTROL_TYPE_ABORT,
    CONTROL_TYPE_COMMIT, END_TXN_MARKER_VERSION,
};
pub use recompress::{recompress, target_codec};
pub(crate) use record::{assemble, put_record, to_i32, walk_records_with, RawRecord};
pub use record::{build_batch, decode_records, BatchBuilder, Record};
pub(crate) use stream::for_each_record;
pub use stream::{check_records, visit_records};
pub use varint::{put_unsigned_varint, read_unsigned_varint, UnsignedVarintError};

use crate::config::TimestampType;
use crate::error::{Result, StorageError};

/// The only record-batch magic this crate stores.
pub const MAGIC: i8 = 2;
/// Bytes before `batchLength`'s payload: baseOffset (8) + batchLength (4). `BatchHeader::size` = this + batchLength.
pub const LOG_OVERHEAD: usize = 12;
/// Attributes mask of the compression codec.
pub const COMPRESSION_MASK: i16 = 0x07;
/// Attributes bit of the `LogAppendTime` timestamp type.
pub const TIMESTAMP_TYPE_BIT: i16 = 0x08;
/// Attributes bit of a transactional batch.
pub const TRANSACTIONAL_BIT: i16 = 0x10;
/// Attributes bit of a control batch.
pub const CONTROL_BIT: i16 = 0x20;
/// Attributes bit 6: `baseTimestamp` is the delete horizon set by the log cleaner (Kafka's
/// `DELETE_HORIZON_FLAG_MASK`, KIP-534).
pub const DELETE_HORIZON_BIT: i16 = 0x40;

pub(crate) const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
pub(crate) const MAGIC_OFFSET: usize = 16;
pub(crate) const CRC_OFFSET: usize = 17;
pub(crate) const ATTRIBUTES_OFFSET: usize = 21;
pub(crate) const MAX_TIMESTAMP_OFFSET: usize = 35;

/// Parsed v2 batch header (61 bytes). Field names as Kafka's `DefaultRecordBatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes following the `batchLength` field (the whole batch is `12 + batch_length`).
    pub batch_length: i32,
    /// Leader epoch of the leader that appended the batch (set by the broker).
    pub partition_leader_epoch: i32,
    /// Format version; 2 for every batch this crate accepts.
    pub magic: i8,
    /// CRC-32C of the bytes from `attributes` to the end of the batch.
    pub crc: u32,
    /// Compression, timestamp type, transactional and control bits.
    pub attributes: i16,
    /// `last offset - base offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record; record timestamps are deltas from it.
    pub base_timestamp: i64,
    /// Largest record timestamp, or the append time for `LogAppendTime` batches.
    pub max_timestamp: i64,
    /// Idempotent/transactional producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub records_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl BatchHeader {
    /// Size of the fixed v2 header in bytes.
    pub const SIZE: usize = 61;

    /// Parse the header at the start of `buf` (which needs at least 61 bytes). Only the framing is checked
    /// (`batch_length` at least 49, so that [`BatchHeader::size`] covers the header); magic and CRC are checked by
    /// [`validate`].
    pub fn parse(buf: &[u8]) -> Result<BatchHeader> {
        if buf.len() < Self::SIZE {
            return Err(StorageError::CorruptMessage(format!(
                "record batch header needs {} bytes, only {} available",
                Self::SIZE,
                buf.len()
            )));
        }
        let batch_length = be_i32(buf, 8);
        check_batch_length(batch_length)?;
        Ok(BatchHeader {
            base_offset: be_i64(buf, 0),
            batch_length,
            partition_leader_epoch: be_i32(buf, PARTITION_LEADER_EPOCH_OFFSET),
            magic: i8::from_be_bytes([buf[MAGIC_OFFSET]]),
            crc: u32::from_be_bytes([buf[17], buf[18], buf[19], buf[20]]),
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            records_count: be_i32(buf, 57),
        })
    }

    /// Total size of the batch in bytes (`12 + batch_length`).
    pub fn size(&self) -> usize {
        // `parse` guarantees batch_length >= 49, so the cast is lossless.
        LOG_OVERHEAD + self.batch_length as usize
    }

    /// Offset of the last record (`base_offset + last_offset_delta`). Saturating: a header read from a damaged
    /// segment (or sent by a client, before the broker assigns offsets) may carry a base offset near `i64::MAX`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Offset following this batch (saturating, as [`BatchHeader::last_offset`]).
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// Compression codec (attributes bits 0–2). The undefined ids 5–7 (which [`validate`] rejects, so they are
    /// never stored) are reported as [`Compression::None`]; use [`BatchHeader::try_compression`] to tell.
    pub fn compression(&self) -> Compression {
        self.try_compression().unwrap_or(Compression::None)
    }

    /// Compression codec, or [`StorageError::InvalidRecord`] for the undefined ids 5–7.
    pub fn try_compression(&self) -> Result<Compression> {
        let id = (self.attributes & COMPRESSION_MASK) as u8;
        Compression::from_id(id).ok_or_else(|| {
            StorageError::InvalidRecord(format!("unknown compression codec id {id}"))
        })
    }

    /// Whether the batch belongs to a transaction (attributes bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    /// Whether the batch holds control records (attributes bit 5).
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// The delete horizon the log cleaner stamped on this batch (attributes bit 6, the value in `baseTimestamp`):
    /// its tombstones may be removed from then on. `None` if the batch was never cleaned with tombstones.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_BIT != 0).then_some(self.base_timestamp)
    }

    /// Timestamp type (attributes bit 3).
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
}

fn check_batch_length(batch_length: i32) -> Result<()> {
    const MIN: i32 = (BatchHeader::SIZE - LOG_OVERHEAD) as i32;
    if batch_length < MIN {
        return Err(StorageError::CorruptMessage(format!(
            "record batch length {batch_length} is smaller than the minimum of {MIN}"
        )));
    }
    Ok(())
}

/// CRC-32C of a whole batch's checksummed range (attributes to the end).
pub(crate) fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..])
}

/// Whether the stored CRC of a whole batch matches its bytes.
pub(crate) fn crc_matches(batch: &[u8], header: &BatchHeader) -> bool {
    compute_crc(batch) == header.crc
}

/// Validate a Produce request's record set (one or more concatenated v2 batches), as Kafka's `LogValidator`.
///
/// Every batch: length framing exact (no trailing partial bytes), magic 2, size at most `max_message_bytes`,
/// CRC-32C over attributes..end, a defined compression codec, `records_count >= 1`,
/// `last_offset_delta == records_count - 1`, and its records walked (as [`visit_records`] does): exactly
/// `records_count` well-formed records with offset deltas 0, 1, 2… and nothing after the last. Compressed
/// payloads are streamed, one record in memory at a time, and may expand to at most
/// [`decompressed_limit`]`(max_message_bytes)` bytes.
///
/// Errors: [`StorageError::CorruptMessage`] for framing, CRC, undecodable compressed data and a payload beyond
/// the decompressed limit (a compression bomb), [`StorageError::InvalidRecord`] for magic, counts, deltas and
/// record structure, [`StorageError::MessageTooLarge`] for size.
pub fn validate(records: &[u8], max_message_bytes: u32) -> Result<Vec<BatchHeader>> {
    validate_with(records, max_message_bytes, None)
}

/// Kafka's `message.timestamp.before.max.ms` / `message.timestamp.after.max.ms` window around the broker's clock:
/// a `CreateTime` record must carry a timestamp in `[now_ms - before_max_ms, now_ms + after_max_ms]` (records
/// without a timestamp, -1, pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampWindow {
    /// The broker's clock.
    pub now_ms: i64,
    /// `message.timestamp.before.max.ms`.
    pub before_max_ms: i64,
    /// `message.timestamp.after.max.ms`.
    pub after_max_ms: i64,
}

impl TimestampWindow {
    /// Kafka's `recordHasInvalidTimestamp`.
    fn refuses(&self, timestamp: i64) -> bool {
        let diff = self.now_ms.saturating_sub(timestamp);
        timestamp != NO_TIMESTAMP
            && (diff > self.before_max_ms || diff.saturating_neg() > self.after_max_ms)
    }

    /// Kafka's per-record message for a refused timestamp.
    fn message(&self, timestamp: i64, offset: i64) -> String {
        format!(
            "Timestamp {timestamp} of message with offset {offset} is out of range. The timestamp should be within [{}, {}]",
            self.now_ms.saturating_sub(self.before_max_ms),
            self.now_ms.saturating_add(self.after_max_ms)
        )
    }
}

/// A record without a timestamp (`RecordBatch.NO_TIMESTAMP`).
const NO_TIMESTAMP: i64 = -1;

/// [`validate`], and with `window` every record's timestamp checked as Kafka's `LogValidator.validateTimestamp`
/// does for a `CreateTime` topic, in the same pass over the records: the first batch holding refused records fails
/// with [`StorageError::InvalidTimestamp`] naming each of them (index within the batch, Kafka's message), which the
/// broker answers as KIP-467 `record_errors`.
pub fn validate_with(
    records: &[u8],
    max_message_bytes: u32,
    window: Option<TimestampWindow>,
) -> Result<Vec<BatchHeader>> {
    if records.is_empty() {
        return Err(StorageError::InvalidRecord("empty record set".into()));
    }
    let limit = decompressed_limit(max_message_bytes);
    let mut headers = Vec::new();
    let mut pos = 0;
    while pos < records.len() {
        let rest = &records[pos..];
        if rest.len() < LOG_OVERHEAD {
            return Err(StorageError::CorruptMessage(format!(
                "{} trailing bytes at position {pos} are not a whole record batch",
                rest.len()
            )));
        }
        let batch_length = be_i32(rest, 8);
        check_batch_length(batch_length)?;
        let size = LOG_OVERHEAD + batch_length as usize;
        if size > rest.len() {
            return Err(StorageError::CorruptMessage(format!(
                "record batch at position {pos} declares {size} bytes but only {} remain",
                rest.len()
            )));
        }
        let batch = &rest[..size];
        let magic = i8::from_be_bytes([batch[MAGIC_OFFSET]]);
        if magic != MAGIC {
            return Err(StorageError::InvalidRecord(format!(
                "record batch at position {pos} has magic {magic}, only magic 2 is supported"
            )));
        }
        if size > max_message_bytes as usize {
            return Err(StorageError::MessageTooLarge {
                size,
                max: max_message_bytes,
            });
        }
        let header = BatchHeader::parse(batch)?;
        check_crc(batch, &header, pos)?;
        header.try_compression()?;
        if header.records_count < 1 {
            return Err(StorageError::InvalidRecord(format!(
                "record batch at position {pos} has {} records",
                header.records_count
            )));
        }
        if header.last_offset_delta != header.records_count - 1 {
            return Err(StorageError::InvalidRecord(format!(
                "record batch at position {pos} has last offset delta {} for {} records",
                header.last_offset_delta, header.records_count
            )));
        }
        let mut refused = Vec::new();
        for_each_record(batch, &header, limit, true, |i, r| {
            if let Some(w) = &window {
                let timestamp = header.base_timestamp.saturating_add(r.timestamp_delta);
                if w.refuses(timestamp) {
                    let offset = header.base_offset.saturating_add(i64::from(r.offset_delta));
                    refused.push((i, w.message(timestamp, offset)));
                }
            }
            Ok(())
        })?;
        if !refused.is_empty() {
            return Err(StorageError::InvalidTimestamp(refused));
        }
        headers.push(header);
        pos += size;
    }
    Ok(headers)
}

/// Validate record batches copied from a leader's log (a follower's fetch; Kafka's `analyzeAndValidateRecords` for
/// `AppendOrigin.REPLICATION`, without offset assignment). Returns the headers of the whole batches at the start of
/// `records`, in order. A trailing partial batch (fewer bytes than its header, or than its declared size, as a fetch
/// response cut by its byte budget ends) is left out and is not an error; so an empty result means `records` holds
/// no whole batch. The bytes covered are the sum of the returned headers' [`BatchHeader::size`].
///
/// Every whole batch: length at least the 61-byte header, magic 2, CRC-32C over attributes..end, a defined
/// compression codec, `last_offset_delta >= 0`, `0 <= records_count <= last_offset_delta + 1` (a batch rewritten
/// by the log cleaner may hold fewer records than offsets, or none), base offset `>= 0` and last offset below
/// `i64::MAX`. Nothing else: no size limit (`max.message.bytes` was the leader's check; a follower takes what its
/// leader stored), no timestamp or client-only checks (control batches are allowed), and the records are not
/// decoded (the CRC vouches for the bytes the leader validated). Offsets against the log are checked by
/// [`crate::Log::append_as_follower`].
///
/// Errors: [`StorageError::CorruptMessage`] for a length below the header size and a CRC mismatch,
/// [`StorageError::InvalidRecord`] for magic, codec, counts and offsets.
pub fn validate_replicated(records: &[u8]) -> Result<Vec<BatchHeader>> {
    let mut headers = Vec::new();
    let mut pos = 0;
    while records.len() - pos >= LOG_OVERHEAD {
        let rest = &records[pos..];
        let batch_length = be_i32(rest, 8);
        check_batch_length(batch_length)?;
        let size = LOG_OVERHEAD + batch_length as usize;
        if size > rest.len() {
            break;
        }
        let batch = &rest[..size];
        let header = BatchHeader::parse(batch)?;
        let invalid = |what: String| {
            Err(StorageError::InvalidRecord(format!(
                "record batch at position {pos} (base offset {}) {what}",
                header.base_offset
            )))
        };
        if header.magic != MAGIC {
            return invalid(format!(
                "has magic {}, only magic 2 is supported",
                header.magic
            ));
        }
        check_crc(batch, &header, pos)?;
        header.try_compression()?;
        if header.last_offset_delta < 0
            || header.records_count < 0
            || i64::from(header.records_count) > i64::from(header.last_offset_delta) + 1
        {
            return invalid(format!(
                "has {} records for last offset delta {}",
                header.records_count, header.last_offset_delta
            ));
        }
        if header.base_offset < 0
            || header
                .base_offset
                .checked_add(i64::from(header.last_offset_delta))
                .is_none_or(|last| last == i64::MAX)
        {
            return invalid(format!(
                "has offsets out of range (last offset delta {})",
                header.last_offset_delta
            ));
        }
        headers.push(header);
        pos += size;
    }
    Ok(headers)
}

/// Test helper: a whole batch with `frame`'s fields (its `batch_length`, `magic` and `crc` computed) around
/// `payload`, records already encoded and compressed as `frame.attributes` says; for hostile batches whose header
/// lies about its records.
#[doc(hidden)]
pub fn assemble_batch(frame: &BatchHeader, payload: &[u8]) -> std::io::Result<bytes::Bytes> {
    assemble(frame, payload)
}

/// [`StorageError::CorruptMessage`] unless the batch at `pos` matches its CRC.
fn check_crc(batch: &[u8], header: &BatchHeader, pos: usize) -> Result<()> {
    if crc_matches(batch, header) {
        return Ok(());
    }
    Err(StorageError::CorruptMessage(format!(
        "record batch at position {pos} fails its CRC (stored {:#010x}, computed {:#010x})",
        header.crc,
        compute_crc(batch)
    )))
}

/// Iterate the batch headers of concatenated batches, yielding `(position, header)`. Stops at a partial tail
/// (fewer bytes than the header or than the declared batch size); yields one error and stops on a batch length
/// below the 61-byte minimum. Magic and CRC are not checked.
pub fn iter_headers(buf: &[u8]) -> impl Iterator<Item = Result<(usize, BatchHeader)>> + '_ {
    let mut pos = 0usize;
    let mut done = false;
    std::iter::from_fn(move || {
        if done || buf.len() - pos < BatchHeader::SIZE {
            return None;
        }
        match BatchHeader::parse(&buf[pos..]) {
            Err(e) => {
                done = true;
                Some(Err(e))
            }
            Ok(h) if h.size() > buf.len() - pos => {
                done = true;
                None
            }
            Ok(h) => {
                let at = pos;
                pos += h.size();
                Some(Ok((at, h)))
            }
        }
    })
}

/// Indexes (within the batch) of the records with a null key, for a compacted topic's check (Kafka's
/// `LogValidator.validateKey`; the broker names them in the Produce response's `record_errors`), streamed within
/// `limit` decompressed bytes. Control batches are never checked (their keys are the control type).
pub fn null_key_records(batch: &[u8], header: &BatchHeader, limit: usize) -> Result<Vec<usize>> {
    let mut found = Vec::new();
    if header.is_control() {
        return Ok(found);
    }
    for_each_record(batch, header, limit, false, |i, r| {
        if r.key.is_none() {
            found.push(i);
        }
        Ok(())
    })?;
    Ok(found)
}

/// Overwrite a batch's base offset (outside the CRC range). `batch` holds at least the 61-byte header.
pub(crate) fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Overwrite a batch's partition leader epoch (outside the CRC range).
pub(crate) fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&epoch.to_be_bytes());
}

/// Stamp a whole batch with `LogAppendTime`: set attributes bit 3, `max_timestamp = now_ms`, recompute the CRC
/// (Kafka's `DefaultRecordBatch.setMaxTimestamp(LOG_APPEND_TIME, now)`).
pub(crate) fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes = be_i16(batch, ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests;
