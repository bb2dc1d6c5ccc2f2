//! Control records (Kafka's `ControlRecordType`, `EndTransactionMarker`): the transaction markers a transaction
//! coordinator writes to end a transaction on a partition.
//!
//! A marker is a batch with the transactional and control attribute bits, the producer's id and epoch, base
//! sequence -1 and exactly one record whose key is the control record key and whose value is the
//! `EndTxnMarker` (big-endian):
//!
//! ```text
//! key:   version i16 (= 0) | type i16 (0 = ABORT, 1 = COMMIT)
//! value: version i16 (= 0) | coordinator_epoch i32
//! ```

use bytes::Bytes;

use super::record::{BatchBuilder, Record};
use super::BatchHeader;
use crate::error::{Result, StorageError};

/// Control record type of an ABORT marker (`ControlRecordType.ABORT`).
pub const CONTROL_TYPE_ABORT: i16 = 0;
/// Control record type of a COMMIT marker (`ControlRecordType.COMMIT`).
pub const CONTROL_TYPE_COMMIT: i16 = 1;
/// Version of the control record key written (`ControlRecordType.CURRENT_CONTROL_RECORD_KEY_VERSION`).
pub const CONTROL_KEY_VERSION: i16 = 0;
/// Version of the end-transaction marker value written (`EndTransactionMarker.CURRENT_END_TXN_MARKER_VERSION`).
pub const END_TXN_MARKER_VERSION: i16 = 0;

/// The outcome a transaction marker records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnMarker {
    /// The transaction was aborted: its records are skipped by `read_committed` consumers.
    Abort,
    /// The transaction was committed.
    Commit,
}

impl TxnMarker {
    /// The control record type id (0 = ABORT, 1 = COMMIT).
    pub fn control_type(self) -> i16 {
        match self {
            TxnMarker::Abort => CONTROL_TYPE_ABORT,
            TxnMarker::Commit => CONTROL_TYPE_COMMIT,
        }
    }

    /// The marker of a control record type id; `None` for other control types (e.g. KRaft's `LEADER_CHANGE`).
    pub fn from_control_type(id: i16) -> Option<TxnMarker> {
        match id {
            CONTROL_TYPE_ABORT => Some(TxnMarker::Abort),
            CONTROL_TYPE_COMMIT => Some(TxnMarker::Commit),
            _ => None,
        }
    }
}

/// Build a transaction marker batch exactly as Kafka's `MemoryRecords.withEndTransactionMarker` does (base offset
/// 0 and leader epoch -1, both patched on append; `CreateTime`, uncompressed, one record at `timestamp`).
///
/// # Errors
/// None in practice (the batch is a few dozen bytes); an I/O error type only because the builder has one.
pub fn build_txn_marker(
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    marker: TxnMarker,
    timestamp: i64,
) -> std::io::Result<Bytes> {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&CONTROL_KEY_VERSION.to_be_bytes());
    key.extend_from_slice(&marker.control_type().to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&END_TXN_MARKER_VERSION.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let record = Record {
        offset: 0,
        timestamp,
        key: Some(key.into()),
        value: Some(value.into()),
        headers: vec![],
    };
    BatchBuilder {
        producer_id,
        producer_epoch,
        transactional: true,
        control: true,
        ..BatchBuilder::new(0, timestamp)
    }
    .build(&[record])
}

/// The transaction marker held by a control batch: `(marker, coordinator epoch)` from its first record.
/// `Ok(None)` for a batch that is not a control batch, an empty control batch (left by the log cleaner) or a
/// control record of another type. [`StorageError::InvalidRecord`] for a control record whose key is shorter
/// than 4 bytes or whose marker value is shorter than 6 bytes (Kafka's `EndTransactionMarker.deserialize`
/// accepts newer versions as long as the fields it knows are present).
pub fn parse_control_batch(batch: &[u8]) -> Result<Option<(TxnMarker, i32)>> {
    let header = BatchHeader::parse(batch)?;
    if !header.is_control() || header.records_count == 0 {
        return Ok(None);
    }
    let (_, records) = super::decode_records(batch)?;
    let Some(record) = records.first() else {
        return Ok(None);
    };
    let key = at_least("control record key", record.key.as_deref(), 4)?;
    let Some(marker) = TxnMarker::from_control_type(i16::from_be_bytes([key[2], key[3]])) else {
        return Ok(None);
    };
    let value = at_least("end transaction marker value", record.value.as_deref(), 6)?;
    let coordinator_epoch = i32::from_be_bytes([value[2], value[3], value[4], value[5]]);
    Ok(Some((marker, coordinator_epoch)))
}

/// `bytes` (null = empty) if it holds at least `min` bytes, else [`StorageError::InvalidRecord`] naming `what`.
fn at_least<'a>(what: &str, bytes: Option<&'a [u8]>, min: usize) -> Result<&'a [u8]> {
    let bytes = bytes.unwrap_or_default();
    if bytes.len() < min {
        return Err(StorageError::InvalidRecord(format!(
            "{what} of {} bytes is shorter than {min}",
            bytes.len()
        )));
    }
    Ok(bytes)
}
