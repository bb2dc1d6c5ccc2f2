//! The storage error type, [`StorageError`].
//!
//! Each variant maps to exactly one Kafka error code; the mapping lives in the server's handlers, not here:
//! `CorruptMessage` → `CORRUPT_MESSAGE`, `InvalidRecord` → `INVALID_RECORD`, `MessageTooLarge` →
//! `MESSAGE_TOO_LARGE`, `OffsetOutOfRange` → `OFFSET_OUT_OF_RANGE`, `Io` → `KAFKA_STORAGE_ERROR`.

/// Errors returned by the storage crate.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An operating-system I/O error on a log, index or directory.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// Bad length/size framing or a CRC mismatch (Kafka `CORRUPT_MESSAGE`).
    #[error("corrupt message: {0}")]
    CorruptMessage(String),
    /// A structurally invalid batch or record: magic other than 2, wrong record count or offset deltas, empty batch,
    /// malformed record (Kafka `INVALID_RECORD`).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// A batch (or a whole record set, against `segment.bytes`) larger than allowed (Kafka `MESSAGE_TOO_LARGE`).
    #[error("message too large: {size} bytes exceeds the maximum of {max} bytes")]
    MessageTooLarge {
        /// Size of the offending batch or record set in bytes.
        size: usize,
        /// The configured maximum.
        max: u32,
    },
    /// A read or lookup outside `[log_start, log_end]` (Kafka `OFFSET_OUT_OF_RANGE`).
    #[error("offset {requested} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// The requested offset.
        requested: i64,
        /// The log start offset at the time of the request.
        log_start: i64,
        /// The log end offset at the time of the request.
        log_end: i64,
    },
}

/// Result alias with [`StorageError`] as the default error.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
