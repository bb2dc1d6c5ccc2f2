//! The storage error type, [`StorageError`].
//!
//! Each variant maps to exactly one Kafka error code; the mapping lives in the server's handlers, not here:
//! `CorruptMessage` → `CORRUPT_MESSAGE`, `InvalidRecord` → `INVALID_RECORD`, `MessageTooLarge` and
//! `RecompressedTooLarge` → `MESSAGE_TOO_LARGE`, `OffsetOutOfRange` → `OFFSET_OUT_OF_RANGE`, `Io` → `KAFKA_STORAGE_ERROR`,
//! `OutOfOrderSequence` → `OUT_OF_ORDER_SEQUENCE_NUMBER`, `InvalidProducerEpoch` → `INVALID_PRODUCER_EPOCH` (47),
//! `InvalidTxnState` → `INVALID_TXN_STATE` (48), `TransactionCoordinatorFenced` → `TRANSACTION_COORDINATOR_FENCED`
//! (52), `CorruptSnapshot` → `KAFKA_STORAGE_ERROR` (never returned by an append),
//! `NullKeyInCompactedTopic` → `INVALID_RECORD`, `CleanAborted` → never sent to a client (the cleaner retries),
//! `UnexpectedAppendOffset` → never sent to a client (a follower's fetcher handles it, as Kafka's
//! `UnexpectedAppendOffsetException`).

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
    /// A batch that is larger than `max.message.bytes` once rebuilt with the topic's `compression.type` (Kafka's
    /// `RecordTooLargeException` after `LogValidator`, `MESSAGE_TOO_LARGE`); nothing was written.
    #[error("Message batch size is {size} bytes in append to partition {partition} which exceeds the maximum configured size of {max}.")]
    RecompressedTooLarge {
        /// Size of the rebuilt batch in bytes.
        size: usize,
        /// The partition (its log directory's name, `topic-partition`).
        partition: String,
        /// The configured `max.message.bytes`.
        max: u32,
    },
    /// A record set larger than `segment.bytes`, so it can never fit a segment (Kafka's
    /// `RecordBatchTooLargeException`, `RECORD_LIST_TOO_LARGE`).
    #[error("record set of {size} bytes is larger than the segment size {segment_bytes}")]
    RecordListTooLarge {
        /// Size of the record set in bytes.
        size: usize,
        /// The configured `segment.bytes`.
        segment_bytes: u64,
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
    /// An idempotent producer's batch whose sequence does not follow its last one (or a new epoch not starting at
    /// sequence 0); nothing of the record set was written (Kafka `OUT_OF_ORDER_SEQUENCE_NUMBER`).
    #[error("out of order sequence: {0}")]
    OutOfOrderSequence(String),
    /// A batch or transaction marker from an older epoch of its producer (a fenced zombie, or a marker older than
    /// the epoch an earlier marker set); nothing of the record set was written (Kafka `INVALID_PRODUCER_EPOCH`,
    /// error code 47).
    #[error("invalid producer epoch: {0}")]
    InvalidProducerEpoch(String),
    /// A non-transactional batch from a producer with an ongoing transaction (Kafka `INVALID_TXN_STATE`, error
    /// code 48).
    #[error("invalid transaction state: {0}")]
    InvalidTxnState(String),
    /// A transaction marker whose coordinator epoch is lower than the one recorded for its producer by an earlier
    /// marker (a stale transaction coordinator); nothing was written (Kafka `TRANSACTION_COORDINATOR_FENCED`,
    /// error code 52).
    #[error("transaction coordinator fenced: {0}")]
    TransactionCoordinatorFenced(String),
    /// A producer state snapshot file that cannot be read (unknown version, CRC mismatch, bad length). The log
    /// handles these itself by deleting the file and rebuilding from the log; only tools see this error.
    #[error("corrupt producer snapshot: {0}")]
    CorruptSnapshot(String),
    /// Records whose `CreateTime` timestamps lie outside `message.timestamp.before.max.ms` /
    /// `message.timestamp.after.max.ms` of the broker's clock: (index within the batch, Kafka's message) each;
    /// nothing of the record set was written (Kafka `INVALID_TIMESTAMP`).
    #[error("One or more records have been rejected due to invalid timestamp")]
    InvalidTimestamp(Vec<(usize, String)>),
    /// A record without a key appended to a log whose `cleanup.policy` contains `compact`; nothing of the record set
    /// was written (Kafka `INVALID_RECORD`, "Compacted topic cannot accept message without key").
    #[error("Compacted topic cannot accept message without key in topic partition {0}")]
    NullKeyInCompactedTopic(String),
    /// A prepared clean no longer matches the log (segments deleted, truncated or cleaned meanwhile) or a test
    /// fail point stopped it; the cleaned files were discarded and nothing changed. Retry later.
    #[error("log clean aborted: {0}")]
    CleanAborted(String),
    /// A follower append ([`crate::Log::append_as_follower`]) whose first batch starts below the log end offset:
    /// the follower's log and the leader's disagree (or the fetch offset was wrong); nothing was written. Kafka's
    /// `UnexpectedAppendOffsetException`; the fetcher truncates or refetches, nothing is sent to a client.
    #[error("unexpected append offset: the first batch starts at offset {first}, below the log end offset {log_end}")]
    UnexpectedAppendOffset {
        /// Base offset of the first batch of the record set.
        first: i64,
        /// The log end offset at the time of the append.
        log_end: i64,
    },
    /// A leader append to a replica that does not lead its partition (it follows another broker): refused by
    /// the caller that knows the replica's role, before the log is touched (a follower's log holds only what
    /// its leader wrote). Kafka's `NotLeaderOrFollowerException`.
    #[error("not the leader of partition {0}")]
    NotLeader(String),
}

/// Result alias with [`StorageError`] as the default error.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
