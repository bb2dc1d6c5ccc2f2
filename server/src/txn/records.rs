//! The record schemas of `__transaction_state`: one record per change of a transactional id.
//!
//! ```text
//! key   = int16 record type (0) | TransactionLogKey v0: string transactional_id (int16 length)
//! value = int16 version (0, 1)  | TransactionLogValue at that version   (null value = tombstone)
//! ```
//!
//! `TransactionLogValue` v0 is classic; v1 is flexible (compact strings and arrays, tagged
//! fields) and adds four tagged fields, written by Kafka's generated writer only when they
//! differ from their defaults, in tag order:
//!
//! | tag | field                      | type  | default |
//! |-----|----------------------------|-------|---------|
//! | 0   | `PreviousProducerId`       | int64 | -1      |
//! | 1   | `NextProducerId`           | int64 | -1      |
//! | 2   | `ClientTransactionVersion` | int16 | 0       |
//! | 3   | `NextProducerEpoch`        | int16 | -1      |
//!
//! Which version Kafka 4.4 writes depends on the cluster's finalized `transaction.version`
//! feature (0 when absent), not on the client: level 0 writes v0, levels 1 and 2 write v1
//! ([`value_version_for`]). At v0 Kafka leaves the producer-id tagged fields out (they are not
//! stored) but still sets `ClientTransactionVersion`, which its writer refuses unless it is 0;
//! [`encode_value`] does the same.
//!
//! `TransactionPartitions` is null in state `Empty` (Kafka refuses to write an `Empty` value
//! with partitions, and ignores the field when reading one) and an array in every other state,
//! empty in `CompleteCommit`/`CompleteAbort`. Kafka builds it by grouping the partitions by
//! topic; [`TxnLogValue::partitions`] is written in the order given.
//!
//! `Dead` and `PrepareEpochFence` have ids but are never written by Kafka 4.4: an expired
//! transactional id becomes a tombstone (null value), and fencing an ongoing transaction writes
//! `PrepareAbort` with the bumped epoch.
//!
//! Decoding follows Kafka's `TransactionLog.read`: a key type other than 0 is
//! [`TxnRecordError::UnknownKeyType`] and a value version other than 0 or 1 is
//! [`RecordError::UnknownVersion`] (Kafka skips both when loading); unknown tagged fields are
//! skipped and trailing bytes ignored, as Kafka's generated readers do. Malformed input
//! (truncated, bad lengths, invalid UTF-8, an unknown status) is an error and never panics. A
//! tombstone is the caller's to handle: only non-null values reach [`decode_value`].
//!
//! What Kafka 4.4 wrote (one record per batch, Java client 4.4, two partitions of one topic):
//!
//! | step                         | status         | epoch | partitions    | last update / start  |
//! |------------------------------|----------------|-------|---------------|----------------------|
//! | InitProducerId (new id)      | Empty          | e     | null          | now / -1             |
//! | first partition added        | Ongoing        | e     | `[p0]`        | now / now            |
//! | next partition added         | Ongoing        | e     | `[p0, p1]`    | now / unchanged      |
//! | EndTxn(commit)               | PrepareCommit  | e'    | `[p0, p1]`    | now / unchanged      |
//! | markers written              | CompleteCommit | e'    | `[]`, not null| now / unchanged      |
//! | EndTxn(abort)                | PrepareAbort   | e'    | all           | now / unchanged      |
//! | markers written              | CompleteAbort  | e'    | `[]`          | now / unchanged      |
//! | InitProducerId fences Ongoing| PrepareAbort   | e + 1 | all           | now / unchanged      |
//! | (then) markers written       | CompleteAbort  | e + 1 | `[]`          | now / unchanged      |
//! | (then) the new producer      | Empty          | e + 2 | null          | now / -1             |
//!
//! `e'` is `e + 1` when the client uses transaction version 2 (EndTxn v5+, which needs the
//! cluster at `transaction.version` 2): each EndTxn bumps the epoch, and the next transaction
//! runs at the bumped epoch; with older clients (and at levels 0 and 1) it is `e`. `ClientTransactionVersion` is 2 from the
//! first Ongoing of a TV2 client on (0, left out, at the first Empty) and 0 for older clients;
//! `PreviousProducerId` (v1) equals the producer id from InitProducerId on; `NextProducerId` and
//! `NextProducerEpoch` stayed at their defaults (they are set only when an epoch bump exhausts
//! the epoch and a new producer id is handed out). The timeout is the client's.
//!
//! The tests hold the bytes of every record a Kafka 4.4.0 broker wrote to `__transaction_state-0`
//! for one committed and one aborted transaction over two partitions at `transaction.version`
//! 2, 0 and 1, and for a fenced producer at 2 and 0. To capture them again (a broker from
//! `ci/kafka-reference`, the program and script in `testdata/`):
//!
//! ```text
//! ci/kafka-reference start /tmp/txnref/broker
//! cp="$(ci/kafka-reference classpath)"; b="$(cat /tmp/txnref/broker/bootstrap)"
//! javac -cp "$cp" -d /tmp/txnref server/src/txn/testdata/TxnCapture.java
//! run() { java -cp "$cp:/tmp/txnref" TxnCapture "$b" "$@"; }
//! run commit-abort txn-tv2 txn-topic; run fence txn-fence-tv2 txn-topic
//! run tv x y 0; run commit-abort txn-tv0 txn-topic; run fence txn-fence-tv0 txn-topic
//! run tv x y 1; run commit-abort txn-tv1 txn-topic; run tv x y 2
//! seg=/tmp/txnref/broker/kraft-logs/__transaction_state-0/00000000000000000000.log
//! java -cp "$cp" org.apache.kafka.tools.DumpLogSegments --transaction-log-decoder --files "$seg"
//! python3 server/src/txn/testdata/extract_records.py "$seg"
//! ci/kafka-reference stop /tmp/txnref/broker
//! ```

use crate::record_codec::{check_version, exact, Reader, RecordError, Writer};

/// The key's record type (Kafka's `CoordinatorRecordType.TRANSACTION_LOG`).
pub(crate) const TRANSACTION_LOG_KEY_TYPE: i16 = 0;
/// Highest `TransactionLogValue` version (Kafka 4.4: `validVersions` 0-1; 1 is flexible).
pub(crate) const VALUE_VERSION_MAX: i16 = 1;
/// Name used in errors about the value schema.
const VALUE_SCHEMA: &str = "TransactionLogValue";

/// Tags of the v1 tagged fields.
const TAG_PREVIOUS_PRODUCER_ID: u32 = 0;
const TAG_NEXT_PRODUCER_ID: u32 = 1;
const TAG_CLIENT_TRANSACTION_VERSION: u32 = 2;
const TAG_NEXT_PRODUCER_EPOCH: u32 = 3;

/// The state of a transactional id (Kafka's `TransactionState`), with Kafka's byte values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TxnStatus {
    /// No transaction in progress (after InitProducerId or a completed transaction's end).
    Empty = 0,
    /// A transaction has partitions added and has not ended.
    Ongoing = 1,
    /// EndTxn(commit) received; markers are being written.
    PrepareCommit = 2,
    /// EndTxn(abort) or a timeout/fence; markers are being written.
    PrepareAbort = 3,
    /// Commit markers written.
    CompleteCommit = 4,
    /// Abort markers written.
    CompleteAbort = 5,
    /// The transactional id expired and is being removed (never written: a tombstone is).
    Dead = 6,
    /// An ongoing transaction is being fenced by a new producer (never written: Kafka writes
    /// `PrepareAbort`).
    PrepareEpochFence = 7,
}

impl TxnStatus {
    /// Every state, in id order.
    pub(crate) const ALL: [TxnStatus; 8] = [
        TxnStatus::Empty,
        TxnStatus::Ongoing,
        TxnStatus::PrepareCommit,
        TxnStatus::PrepareAbort,
        TxnStatus::CompleteCommit,
        TxnStatus::CompleteAbort,
        TxnStatus::Dead,
        TxnStatus::PrepareEpochFence,
    ];

    /// The state with this id (the `TransactionStatus` byte), if any.
    pub(crate) fn from_i8(id: i8) -> Option<TxnStatus> {
        usize::try_from(id)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// The `TransactionStatus` byte.
    pub(crate) fn as_i8(self) -> i8 {
        self as i8
    }

    /// Kafka's name of the state, as DescribeTransactions and ListTransactions report it
    /// (`TransactionState.stateName`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::PrepareCommit => "PrepareCommit",
            TxnStatus::PrepareAbort => "PrepareAbort",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
            TxnStatus::Dead => "Dead",
            TxnStatus::PrepareEpochFence => "PrepareEpochFence",
        }
    }
}

/// A `TransactionLogValue`: the state of one transactional id. Fields that v0 does not hold
/// decode to their v1 defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxnLogValue {
    /// `ProducerId`: the producer id in use.
    pub(crate) producer_id: i64,
    /// `PreviousProducerId` (tag 0, default -1).
    pub(crate) previous_producer_id: i64,
    /// `NextProducerId` (tag 1, default -1).
    pub(crate) next_producer_id: i64,
    /// `ProducerEpoch`.
    pub(crate) producer_epoch: i16,
    /// `NextProducerEpoch` (tag 3, default -1).
    pub(crate) next_producer_epoch: i16,
    /// `TransactionTimeoutMs`.
    pub(crate) timeout_ms: i32,
    /// `TransactionStatus`.
    pub(crate) status: TxnStatus,
    /// `TransactionPartitions`: (topic, partition ids). Written as null in state `Empty`,
    /// where it must be empty; read as empty there whatever the record holds.
    pub(crate) partitions: Vec<(String, Vec<i32>)>,
    /// `TransactionLastUpdateTimestampMs`.
    pub(crate) last_update_ms: i64,
    /// `TransactionStartTimestampMs` (-1 when no transaction has started).
    pub(crate) start_ms: i64,
    /// `ClientTransactionVersion` (tag 2, default 0): the transaction version the client uses.
    pub(crate) client_transaction_version: i16,
}

/// Why a `__transaction_state` key or value could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TxnRecordError {
    /// A malformed field, or an unknown value version.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A key whose record type is not 0 (Kafka skips such records when loading).
    #[error("unknown __transaction_state key type {0}")]
    UnknownKeyType(i16),
    /// A `TransactionStatus` byte that names no state.
    #[error("unknown transaction status {0}")]
    UnknownStatus(i8),
    /// An `Empty` value with partitions (Kafka refuses to write one).
    #[error("a transaction in state Empty cannot have partitions ({0} topics given)")]
    PartitionsInEmptyState(usize),
    /// A field that the requested value version cannot hold.
    #[error("{field} = {value} cannot be written at TransactionLogValue v{version}")]
    NotInVersion {
        /// The field.
        field: &'static str,
        /// Its value.
        value: i64,
        /// The version asked for.
        version: i16,
    },
}

/// The `TransactionLogValue` version Kafka 4.4 writes when the cluster's finalized
/// `transaction.version` feature level is `transaction_version_level` (0 when the feature is
/// not finalized): v1 from level 1 on, v0 below (`TransactionVersion.transactionLogValueVersion`).
pub(crate) fn value_version_for(transaction_version_level: i16) -> i16 {
    if transaction_version_level >= 1 {
        1
    } else {
        0
    }
}

/// Encodes the key of `transactional_id`'s records. Fails only for an id longer than 32767
/// bytes, which no Kafka request can carry.
pub(crate) fn encode_key(transactional_id: &str) -> Result<Vec<u8>, TxnRecordError> {
    let mut w = Writer::with_capacity(4 + transactional_id.len());
    w.i16(TRANSACTION_LOG_KEY_TYPE);
    w.string(transactional_id, false, "TransactionalId")?;
    Ok(w.into_vec())
}

/// Decodes a key into its transactional id.
pub(crate) fn decode_key(buf: &[u8]) -> Result<String, TxnRecordError> {
    let mut r = Reader::new(buf);
    let record_type = r.i16("TransactionLogKey")?;
    if record_type != TRANSACTION_LOG_KEY_TYPE {
        return Err(TxnRecordError::UnknownKeyType(record_type));
    }
    Ok(r.string(false, "TransactionalId")?)
}

/// Encodes `value` at `version` (0 or 1; see [`value_version_for`]), byte for byte as Kafka
/// 4.4 does. At v0 the producer-id tagged fields are left out, as Kafka does; a non-zero
/// `client_transaction_version` is an error there, as in Kafka's writer.
pub(crate) fn encode_value(value: &TxnLogValue, version: i16) -> Result<Vec<u8>, TxnRecordError> {
    check_version(VALUE_SCHEMA, version, VALUE_VERSION_MAX)?;
    let flexible = version >= 1;
    if !flexible && value.client_transaction_version != 0 {
        return Err(TxnRecordError::NotInVersion {
            field: "ClientTransactionVersion",
            value: i64::from(value.client_transaction_version),
            version,
        });
    }
    let empty = value.status == TxnStatus::Empty;
    if empty && !value.partitions.is_empty() {
        return Err(TxnRecordError::PartitionsInEmptyState(
            value.partitions.len(),
        ));
    }
    let mut w = Writer::with_capacity(64);
    w.i16(version);
    w.i64(value.producer_id);
    w.i16(value.producer_epoch);
    w.i32(value.timeout_ms);
    w.i8(value.status.as_i8());
    if empty {
        w.length(None, flexible, true, "TransactionPartitions")?;
    } else {
        w.array_len(value.partitions.len(), flexible, "TransactionPartitions")?;
        for (topic, ids) in &value.partitions {
            w.string(topic, flexible, "Topic")?;
            w.array_len(ids.len(), flexible, "PartitionIds")?;
            for id in ids {
                w.i32(*id);
            }
            if flexible {
                w.uvarint(0); // no tagged fields in PartitionsSchema
            }
        }
    }
    w.i64(value.last_update_ms);
    w.i64(value.start_ms);
    if flexible {
        let mut tags: Vec<(u32, Vec<u8>)> = Vec::with_capacity(4);
        if value.previous_producer_id != -1 {
            tags.push((
                TAG_PREVIOUS_PRODUCER_ID,
                value.previous_producer_id.to_be_bytes().to_vec(),
            ));
        }
        if value.next_producer_id != -1 {
            tags.push((
                TAG_NEXT_PRODUCER_ID,
                value.next_producer_id.to_be_bytes().to_vec(),
            ));
        }
        if value.client_transaction_version != 0 {
            tags.push((
                TAG_CLIENT_TRANSACTION_VERSION,
                value.client_transaction_version.to_be_bytes().to_vec(),
            ));
        }
        if value.next_producer_epoch != -1 {
            tags.push((
                TAG_NEXT_PRODUCER_EPOCH,
                value.next_producer_epoch.to_be_bytes().to_vec(),
            ));
        }
        // At most four tags.
        w.uvarint(tags.len() as u32);
        for (tag, data) in tags {
            w.tagged_field(tag, &data, VALUE_SCHEMA)?;
        }
    }
    Ok(w.into_vec())
}

/// Decodes a non-null value of any version Kafka 4.4 knows (0, 1).
pub(crate) fn decode_value(buf: &[u8]) -> Result<TxnLogValue, TxnRecordError> {
    let mut r = Reader::new(buf);
    let version = r.version(VALUE_SCHEMA, VALUE_VERSION_MAX)?;
    let flexible = version >= 1;
    let producer_id = r.i64("ProducerId")?;
    let producer_epoch = r.i16("ProducerEpoch")?;
    let timeout_ms = r.i32("TransactionTimeoutMs")?;
    let status_id = r.i8("TransactionStatus")?;
    let status = TxnStatus::from_i8(status_id).ok_or(TxnRecordError::UnknownStatus(status_id))?;
    let mut partitions = Vec::new();
    // Each topic takes at least a string length, an array length and (v1) a tag count.
    let topic_min = if flexible { 3 } else { 6 };
    if let Some(topics) = r.count(flexible, topic_min, "TransactionPartitions")? {
        partitions.reserve(topics);
        for _ in 0..topics {
            let topic = r.string(flexible, "Topic")?;
            let n = r
                .count(flexible, 4, "PartitionIds")?
                .ok_or(RecordError::UnexpectedNull {
                    field: "PartitionIds",
                })?;
            let ids = (0..n)
                .map(|_| r.i32("PartitionIds"))
                .collect::<Result<Vec<i32>, RecordError>>()?;
            if flexible {
                r.tagged_fields("PartitionsSchema", |_, _| Ok(()))?;
            }
            partitions.push((topic, ids));
        }
    } else if status != TxnStatus::Empty {
        // Kafka's loader cannot read a non-Empty state without partitions either.
        return Err(RecordError::UnexpectedNull {
            field: "TransactionPartitions",
        }
        .into());
    }
    if status == TxnStatus::Empty {
        partitions.clear();
    }
    let mut value = TxnLogValue {
        producer_id,
        previous_producer_id: -1,
        next_producer_id: -1,
        producer_epoch,
        next_producer_epoch: -1,
        timeout_ms,
        status,
        partitions,
        last_update_ms: r.i64("TransactionLastUpdateTimestampMs")?,
        start_ms: r.i64("TransactionStartTimestampMs")?,
        client_transaction_version: 0,
    };
    if flexible {
        r.tagged_fields(VALUE_SCHEMA, |tag, data| {
            match tag {
                TAG_PREVIOUS_PRODUCER_ID => {
                    value.previous_producer_id =
                        i64::from_be_bytes(exact(data, "PreviousProducerId")?);
                }
                TAG_NEXT_PRODUCER_ID => {
                    value.next_producer_id = i64::from_be_bytes(exact(data, "NextProducerId")?);
                }
                TAG_CLIENT_TRANSACTION_VERSION => {
                    value.client_transaction_version =
                        i16::from_be_bytes(exact(data, "ClientTransactionVersion")?);
                }
                TAG_NEXT_PRODUCER_EPOCH => {
                    value.next_producer_epoch =
                        i16::from_be_bytes(exact(data, "NextProducerEpoch")?);
                }
                _ => {} // unknown tags are skipped, as Kafka does
            }
            Ok(())
        })?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record_codec::test_util::{hex, xorshift};

    /// One record of a Kafka 4.4.0 broker's `__transaction_state-0` segment and the fields
    /// its DumpLogSegments `--transaction-log-decoder` printed.
    struct G {
        offset: i64,
        id: &'static str,
        version: i16,
        pid: i64,
        prev: i64,
        epoch: i16,
        status: TxnStatus,
        /// Partitions of topic "txn-topic".
        parts: &'static [i32],
        last: i64,
        start: i64,
        ctv: i16,
        value: &'static str,
    }

    impl G {
        fn expected(&self) -> TxnLogValue {
            TxnLogValue {
                producer_id: self.pid,
                previous_producer_id: self.prev,
                next_producer_id: -1,
                producer_epoch: self.epoch,
                next_producer_epoch: -1,
                timeout_ms: 45_000,
                status: self.status,
                partitions: match self.status {
                    TxnStatus::Empty => vec![],
                    _ if self.parts.is_empty() => vec![],
                    _ => vec![("txn-topic".to_owned(), self.parts.to_vec())],
                },
                last_update_ms: self.last,
                start_ms: self.start,
                client_transaction_version: self.ctv,
            }
        }
    }

    /// The keys of those records.
    const KEYS: [(&str, &str); 5] = [
        ("txn-tv2", "0000000774786e2d747632"),
        ("txn-fence-tv2", "0000000d74786e2d66656e63652d747632"),
        ("txn-tv0", "0000000774786e2d747630"),
        ("txn-fence-tv0", "0000000d74786e2d66656e63652d747630"),
        ("txn-tv1", "0000000774786e2d747631"),
    ];

    /// Every record, in log order. `txn-tv2`: commit then abort at `transaction.version` 2;
    /// `txn-fence-tv2`: a second producer's InitProducerId fences an ongoing transaction;
    /// `txn-tv0`, `txn-fence-tv0`: the same at level 0; `txn-tv1`: commit then abort at 1.
    #[rustfmt::skip]
    const GOLDEN: &[G] = &[
    G { offset: 0, id: "txn-tv2", version: 1, pid: 0, prev: 0, epoch: 0, status: TxnStatus::Empty, parts: &[], last: 1795941909189, start: -1, ctv: 0,
        value: "0001000000000000000000000000afc80000000001a2267ac2c5ffffffffffffffff0100080000000000000000" },
    G { offset: 1, id: "txn-tv2", version: 1, pid: 0, prev: 0, epoch: 0, status: TxnStatus::Ongoing, parts: &[0], last: 1795941909993, start: 1795941909993, ctv: 2,
        value: "0001000000000000000000000000afc801020a74786e2d746f706963020000000000000001a2267ac5e9000001a2267ac5e9020008000000000000000002020002" },
    G { offset: 2, id: "txn-tv2", version: 1, pid: 0, prev: 0, epoch: 0, status: TxnStatus::Ongoing, parts: &[0, 1], last: 1795941910086, start: 1795941909993, ctv: 2,
        value: "0001000000000000000000000000afc801020a74786e2d746f70696303000000000000000100000001a2267ac646000001a2267ac5e9020008000000000000000002020002" },
    G { offset: 3, id: "txn-tv2", version: 1, pid: 0, prev: 0, epoch: 1, status: TxnStatus::PrepareCommit, parts: &[0, 1], last: 1795941910306, start: 1795941909993, ctv: 2,
        value: "0001000000000000000000010000afc802020a74786e2d746f70696303000000000000000100000001a2267ac722000001a2267ac5e9020008000000000000000002020002" },
    G { offset: 4, id: "txn-tv2", version: 1, pid: 0, prev: 0, epoch: 1, status: TxnStatus::CompleteCommit, parts: &[], last: 1795941910315, start: 1795941909993, ctv: 2,
        value: "0001000000000000000000010000afc80401000001a2267ac72b000001a2267ac5e9020008000000000000000002020002" },
    G { offset: 5, id: "txn-tv2", version: 1, pid: 0, prev: 0, epoch: 1, status: TxnStatus::Ongoing, parts: &[0], last: 1795941910539, start: 1795941910539, ctv: 2,
        value: "0001000000000000000000010000afc801020a74786e2d746f706963020000000000000001a2267ac80b000001a2267ac80b020008000000000000000002020002" },
    G { offset: 6, id: "txn-tv2", version: 1, pid: 0, prev: 0, epoch: 1, status: TxnStatus::Ongoing, parts: &[0, 1], last: 1795941910564, start: 1795941910539, ctv: 2,
        value: "0001000000000000000000010000afc801020a74786e2d746f70696303000000000000000100000001a2267ac824000001a2267ac80b020008000000000000000002020002" },
    G { offset: 7, id: "txn-tv2", version: 1, pid: 0, prev: 0, epoch: 2, status: TxnStatus::PrepareAbort, parts: &[0, 1], last: 1795941910770, start: 1795941910539, ctv: 2,
        value: "0001000000000000000000020000afc803020a74786e2d746f70696303000000000000000100000001a2267ac8f2000001a2267ac80b020008000000000000000002020002" },
    G { offset: 8, id: "txn-tv2", version: 1, pid: 0, prev: 0, epoch: 2, status: TxnStatus::CompleteAbort, parts: &[], last: 1795941910771, start: 1795941910539, ctv: 2,
        value: "0001000000000000000000020000afc80501000001a2267ac8f3000001a2267ac80b020008000000000000000002020002" },
    G { offset: 9, id: "txn-fence-tv2", version: 1, pid: 1, prev: 1, epoch: 0, status: TxnStatus::Empty, parts: &[], last: 1795941917794, start: -1, ctv: 0,
        value: "0001000000000000000100000000afc80000000001a2267ae462ffffffffffffffff0100080000000000000001" },
    G { offset: 10, id: "txn-fence-tv2", version: 1, pid: 1, prev: 1, epoch: 0, status: TxnStatus::Ongoing, parts: &[0], last: 1795941918095, start: 1795941918095, ctv: 2,
        value: "0001000000000000000100000000afc801020a74786e2d746f706963020000000000000001a2267ae58f000001a2267ae58f020008000000000000000102020002" },
    G { offset: 11, id: "txn-fence-tv2", version: 1, pid: 1, prev: 1, epoch: 1, status: TxnStatus::PrepareAbort, parts: &[0], last: 1795941918619, start: 1795941918095, ctv: 2,
        value: "0001000000000000000100010000afc803020a74786e2d746f706963020000000000000001a2267ae79b000001a2267ae58f020008000000000000000102020002" },
    G { offset: 12, id: "txn-fence-tv2", version: 1, pid: 1, prev: 1, epoch: 1, status: TxnStatus::CompleteAbort, parts: &[], last: 1795941918622, start: 1795941918095, ctv: 2,
        value: "0001000000000000000100010000afc80501000001a2267ae79e000001a2267ae58f020008000000000000000102020002" },
    G { offset: 13, id: "txn-fence-tv2", version: 1, pid: 1, prev: 1, epoch: 2, status: TxnStatus::Empty, parts: &[], last: 1795941918734, start: -1, ctv: 2,
        value: "0001000000000000000100020000afc80000000001a2267ae80effffffffffffffff020008000000000000000102020002" },
    G { offset: 14, id: "txn-tv0", version: 0, pid: 2, prev: -1, epoch: 0, status: TxnStatus::Empty, parts: &[], last: 1795941927104, start: -1, ctv: 0,
        value: "0000000000000000000200000000afc800ffffffff000001a2267b08c0ffffffffffffffff" },
    G { offset: 15, id: "txn-tv0", version: 0, pid: 2, prev: -1, epoch: 0, status: TxnStatus::Ongoing, parts: &[0], last: 1795941927366, start: 1795941927366, ctv: 0,
        value: "0000000000000000000200000000afc80100000001000974786e2d746f7069630000000100000000000001a2267b09c6000001a2267b09c6" },
    G { offset: 16, id: "txn-tv0", version: 0, pid: 2, prev: -1, epoch: 0, status: TxnStatus::Ongoing, parts: &[0, 1], last: 1795941927491, start: 1795941927366, ctv: 0,
        value: "0000000000000000000200000000afc80100000001000974786e2d746f706963000000020000000000000001000001a2267b0a43000001a2267b09c6" },
    G { offset: 17, id: "txn-tv0", version: 0, pid: 2, prev: -1, epoch: 0, status: TxnStatus::PrepareCommit, parts: &[0, 1], last: 1795941927761, start: 1795941927366, ctv: 0,
        value: "0000000000000000000200000000afc80200000001000974786e2d746f706963000000020000000000000001000001a2267b0b51000001a2267b09c6" },
    G { offset: 18, id: "txn-tv0", version: 0, pid: 2, prev: -1, epoch: 0, status: TxnStatus::CompleteCommit, parts: &[], last: 1795941927771, start: 1795941927366, ctv: 0,
        value: "0000000000000000000200000000afc80400000000000001a2267b0b5b000001a2267b09c6" },
    G { offset: 19, id: "txn-tv0", version: 0, pid: 2, prev: -1, epoch: 0, status: TxnStatus::Ongoing, parts: &[0], last: 1795941927980, start: 1795941927980, ctv: 0,
        value: "0000000000000000000200000000afc80100000001000974786e2d746f7069630000000100000000000001a2267b0c2c000001a2267b0c2c" },
    G { offset: 20, id: "txn-tv0", version: 0, pid: 2, prev: -1, epoch: 0, status: TxnStatus::Ongoing, parts: &[0, 1], last: 1795941928006, start: 1795941927980, ctv: 0,
        value: "0000000000000000000200000000afc80100000001000974786e2d746f706963000000020000000000000001000001a2267b0c46000001a2267b0c2c" },
    G { offset: 21, id: "txn-tv0", version: 0, pid: 2, prev: -1, epoch: 0, status: TxnStatus::PrepareAbort, parts: &[0, 1], last: 1795941928223, start: 1795941927980, ctv: 0,
        value: "0000000000000000000200000000afc80300000001000974786e2d746f706963000000020000000000000001000001a2267b0d1f000001a2267b0c2c" },
    G { offset: 22, id: "txn-tv0", version: 0, pid: 2, prev: -1, epoch: 0, status: TxnStatus::CompleteAbort, parts: &[], last: 1795941928225, start: 1795941927980, ctv: 0,
        value: "0000000000000000000200000000afc80500000000000001a2267b0d21000001a2267b0c2c" },
    G { offset: 23, id: "txn-fence-tv0", version: 0, pid: 3, prev: -1, epoch: 0, status: TxnStatus::Empty, parts: &[], last: 1795941931893, start: -1, ctv: 0,
        value: "0000000000000000000300000000afc800ffffffff000001a2267b1b75ffffffffffffffff" },
    G { offset: 24, id: "txn-fence-tv0", version: 0, pid: 3, prev: -1, epoch: 0, status: TxnStatus::Ongoing, parts: &[0], last: 1795941931964, start: 1795941931964, ctv: 0,
        value: "0000000000000000000300000000afc80100000001000974786e2d746f7069630000000100000000000001a2267b1bbc000001a2267b1bbc" },
    G { offset: 25, id: "txn-fence-tv0", version: 0, pid: 3, prev: -1, epoch: 1, status: TxnStatus::PrepareAbort, parts: &[0], last: 1795941932398, start: 1795941931964, ctv: 0,
        value: "0000000000000000000300010000afc80300000001000974786e2d746f7069630000000100000000000001a2267b1d6e000001a2267b1bbc" },
    G { offset: 26, id: "txn-fence-tv0", version: 0, pid: 3, prev: -1, epoch: 1, status: TxnStatus::CompleteAbort, parts: &[], last: 1795941932406, start: 1795941931964, ctv: 0,
        value: "0000000000000000000300010000afc80500000000000001a2267b1d76000001a2267b1bbc" },
    G { offset: 27, id: "txn-fence-tv0", version: 0, pid: 3, prev: -1, epoch: 2, status: TxnStatus::Empty, parts: &[], last: 1795941932512, start: -1, ctv: 0,
        value: "0000000000000000000300020000afc800ffffffff000001a2267b1de0ffffffffffffffff" },
    G { offset: 28, id: "txn-tv1", version: 1, pid: 4, prev: 4, epoch: 0, status: TxnStatus::Empty, parts: &[], last: 1795941940647, start: -1, ctv: 0,
        value: "0001000000000000000400000000afc80000000001a2267b3da7ffffffffffffffff0100080000000000000004" },
    G { offset: 29, id: "txn-tv1", version: 1, pid: 4, prev: 4, epoch: 0, status: TxnStatus::Ongoing, parts: &[0], last: 1795941940900, start: 1795941940900, ctv: 0,
        value: "0001000000000000000400000000afc801020a74786e2d746f706963020000000000000001a2267b3ea4000001a2267b3ea40100080000000000000004" },
    G { offset: 30, id: "txn-tv1", version: 1, pid: 4, prev: 4, epoch: 0, status: TxnStatus::Ongoing, parts: &[0, 1], last: 1795941940951, start: 1795941940900, ctv: 0,
        value: "0001000000000000000400000000afc801020a74786e2d746f70696303000000000000000100000001a2267b3ed7000001a2267b3ea40100080000000000000004" },
    G { offset: 31, id: "txn-tv1", version: 1, pid: 4, prev: 4, epoch: 0, status: TxnStatus::PrepareCommit, parts: &[0, 1], last: 1795941941165, start: 1795941940900, ctv: 0,
        value: "0001000000000000000400000000afc802020a74786e2d746f70696303000000000000000100000001a2267b3fad000001a2267b3ea40100080000000000000004" },
    G { offset: 32, id: "txn-tv1", version: 1, pid: 4, prev: 4, epoch: 0, status: TxnStatus::CompleteCommit, parts: &[], last: 1795941941171, start: 1795941940900, ctv: 0,
        value: "0001000000000000000400000000afc80401000001a2267b3fb3000001a2267b3ea40100080000000000000004" },
    G { offset: 33, id: "txn-tv1", version: 1, pid: 4, prev: 4, epoch: 0, status: TxnStatus::Ongoing, parts: &[0], last: 1795941941374, start: 1795941941374, ctv: 0,
        value: "0001000000000000000400000000afc801020a74786e2d746f706963020000000000000001a2267b407e000001a2267b407e0100080000000000000004" },
    G { offset: 34, id: "txn-tv1", version: 1, pid: 4, prev: 4, epoch: 0, status: TxnStatus::Ongoing, parts: &[0, 1], last: 1795941941387, start: 1795941941374, ctv: 0,
        value: "0001000000000000000400000000afc801020a74786e2d746f70696303000000000000000100000001a2267b408b000001a2267b407e0100080000000000000004" },
    G { offset: 35, id: "txn-tv1", version: 1, pid: 4, prev: 4, epoch: 0, status: TxnStatus::PrepareAbort, parts: &[0, 1], last: 1795941941603, start: 1795941941374, ctv: 0,
        value: "0001000000000000000400000000afc803020a74786e2d746f70696303000000000000000100000001a2267b4163000001a2267b407e0100080000000000000004" },
    G { offset: 36, id: "txn-tv1", version: 1, pid: 4, prev: 4, epoch: 0, status: TxnStatus::CompleteAbort, parts: &[], last: 1795941941604, start: 1795941941374, ctv: 0,
        value: "0001000000000000000400000000afc80501000001a2267b4164000001a2267b407e0100080000000000000004" },
    ];

    #[test]
    fn golden_keys() {
        for (id, key) in KEYS {
            assert_eq!(encode_key(id).unwrap(), hex(key), "{id}");
            assert_eq!(decode_key(&hex(key)).unwrap(), id);
        }
    }

    #[test]
    fn golden_values_decode_and_encode_byte_for_byte() {
        let mut offset = 0;
        for g in GOLDEN {
            assert_eq!(g.offset, offset, "table in log order");
            offset += 1;
            assert!(KEYS.iter().any(|(id, _)| *id == g.id));
            let bytes = hex(g.value);
            let want = g.expected();
            assert_eq!(decode_value(&bytes).unwrap(), want, "offset {}", g.offset);
            assert_eq!(
                encode_value(&want, g.version).unwrap(),
                bytes,
                "offset {}",
                g.offset
            );
        }
        assert_eq!(offset, 37);
    }

    #[test]
    fn golden_versions_follow_the_transaction_version_feature() {
        for (level, ids) in [
            (2, ["txn-tv2", "txn-fence-tv2"]),
            (0, ["txn-tv0", "txn-fence-tv0"]),
            (1, ["txn-tv1", "txn-tv1"]),
        ] {
            for g in GOLDEN.iter().filter(|g| ids.contains(&g.id)) {
                assert_eq!(value_version_for(level), g.version, "offset {}", g.offset);
            }
        }
        assert_eq!(value_version_for(3), 1);
        assert_eq!(value_version_for(-1), 0);
    }

    #[test]
    fn status_ids_and_names_follow_kafka() {
        let names = [
            "Empty",
            "Ongoing",
            "PrepareCommit",
            "PrepareAbort",
            "CompleteCommit",
            "CompleteAbort",
            "Dead",
            "PrepareEpochFence",
        ];
        for (i, status) in TxnStatus::ALL.into_iter().enumerate() {
            let id = i8::try_from(i).unwrap();
            assert_eq!(status.as_i8(), id);
            assert_eq!(TxnStatus::from_i8(id), Some(status));
            assert_eq!(status.as_str(), names[i]);
        }
        for id in [-1, 8, 127, i8::MIN] {
            assert_eq!(TxnStatus::from_i8(id), None);
        }
    }

    fn full_value() -> TxnLogValue {
        TxnLogValue {
            producer_id: 1000,
            previous_producer_id: 999,
            next_producer_id: 1001,
            producer_epoch: 32766,
            next_producer_epoch: 0,
            timeout_ms: 60_000,
            status: TxnStatus::PrepareCommit,
            partitions: vec![("a".to_owned(), vec![2, 0]), ("é-topic".to_owned(), vec![])],
            last_update_ms: 1_700_000_000_123,
            start_ms: 1_700_000_000_000,
            client_transaction_version: 2,
        }
    }

    /// [`full_value`] at v1 and (without the client version) at v0, as Kafka 4.4's generated
    /// `TransactionLogValue` reader decoded and its writer re-encoded them, byte for byte: the
    /// tagged fields 1 and 3 and an empty partition list never showed up in the capture.
    const FULL_V1: &str = "000100000000000003e87ffe0000ea60020302610300000002000000000009c3a92d746f70696301000000018bcfe5687b0000018bcfe5680004000800000000000003e7010800000000000003e90202000203020000";
    const FULL_V0: &str = "000000000000000003e87ffe0000ea6002000000020001610000000200000002000000000008c3a92d746f706963000000000000018bcfe5687b0000018bcfe56800";

    #[test]
    fn kafka_writer_agrees_on_every_field() {
        assert_eq!(encode_value(&full_value(), 1).unwrap(), hex(FULL_V1));
        let v0 = TxnLogValue {
            client_transaction_version: 0,
            ..full_value()
        };
        assert_eq!(encode_value(&v0, 0).unwrap(), hex(FULL_V0));
        assert_eq!(decode_value(&hex(FULL_V1)).unwrap(), full_value());
    }

    #[test]
    fn every_tagged_field_round_trips_at_v1() {
        let v = full_value();
        let bytes = encode_value(&v, 1).unwrap();
        // Tags in order: 0 (8 bytes), 1 (8 bytes), 2 (2 bytes), 3 (2 bytes).
        let tail = hex("04 0008 00000000000003e7 0108 00000000000003e9 0202 0002 0302 0000");
        assert!(bytes.ends_with(&tail), "{bytes:02x?}");
        assert_eq!(decode_value(&bytes).unwrap(), v);
        for status in TxnStatus::ALL {
            let v = TxnLogValue {
                status,
                partitions: if status == TxnStatus::Empty {
                    vec![]
                } else {
                    v.partitions.clone()
                },
                ..v.clone()
            };
            assert_eq!(decode_value(&encode_value(&v, 1).unwrap()).unwrap(), v);
        }
    }

    #[test]
    fn v0_leaves_the_producer_id_tags_out_and_refuses_a_client_version() {
        let v = TxnLogValue {
            client_transaction_version: 0,
            ..full_value()
        };
        let decoded = decode_value(&encode_value(&v, 0).unwrap()).unwrap();
        assert_eq!(
            decoded,
            TxnLogValue {
                previous_producer_id: -1,
                next_producer_id: -1,
                next_producer_epoch: -1,
                ..v
            }
        );
        assert_eq!(
            encode_value(&full_value(), 0),
            Err(TxnRecordError::NotInVersion {
                field: "ClientTransactionVersion",
                value: 2,
                version: 0
            })
        );
    }

    #[test]
    fn empty_state_has_no_partitions() {
        let v = TxnLogValue {
            status: TxnStatus::Empty,
            client_transaction_version: 0,
            ..full_value()
        };
        for version in [0, 1] {
            assert_eq!(
                encode_value(&v, version),
                Err(TxnRecordError::PartitionsInEmptyState(2))
            );
        }
        // Partitions in an Empty record are ignored when read, as Kafka does.
        let mut bytes = encode_value(&full_value(), 1).unwrap();
        bytes[16] = TxnStatus::Empty.as_i8().to_be_bytes()[0];
        assert_eq!(decode_value(&bytes).unwrap().partitions, vec![]);
        // A non-Empty record without partitions is refused.
        let mut bytes = hex(GOLDEN[0].value);
        bytes[16] = TxnStatus::Ongoing.as_i8().to_be_bytes()[0];
        assert_eq!(
            decode_value(&bytes),
            Err(RecordError::UnexpectedNull {
                field: "TransactionPartitions"
            }
            .into())
        );
    }

    #[test]
    fn unknown_versions_types_and_statuses_are_errors() {
        for version in [-1, 2, i16::MAX] {
            let mut bytes = hex(GOLDEN[0].value);
            bytes[..2].copy_from_slice(&version.to_be_bytes());
            assert_eq!(
                decode_value(&bytes),
                Err(RecordError::UnknownVersion {
                    schema: "TransactionLogValue",
                    version,
                    max: 1
                }
                .into())
            );
            assert!(matches!(
                encode_value(&full_value(), version),
                Err(TxnRecordError::Record(RecordError::UnknownVersion { .. }))
            ));
        }
        for key_type in [1, 2, -1] {
            let mut key = hex(KEYS[0].1);
            key[..2].copy_from_slice(&i16::to_be_bytes(key_type));
            assert_eq!(
                decode_key(&key),
                Err(TxnRecordError::UnknownKeyType(key_type))
            );
        }
        let mut bytes = hex(GOLDEN[1].value);
        bytes[16] = 8;
        assert_eq!(decode_value(&bytes), Err(TxnRecordError::UnknownStatus(8)));
    }

    #[test]
    fn unknown_tagged_fields_are_skipped_and_bad_sizes_refused() {
        let g = &GOLDEN[1];
        let base = hex(g.value);
        // The golden value ends with 2 tags (0: 8 bytes, 2: 2 bytes) = 15 bytes.
        let body = &base[..base.len() - 15];
        let mut with_unknown = body.to_vec();
        with_unknown.extend(hex("03 0008 0000000000000000 0202 0002 0903 616263"));
        assert_eq!(decode_value(&with_unknown).unwrap(), g.expected());
        let mut bad_size = body.to_vec();
        bad_size.extend(hex("01 0204 00000002"));
        assert_eq!(
            decode_value(&bad_size),
            Err(RecordError::InvalidTaggedField {
                field: "ClientTransactionVersion",
                size: 4,
                expected: 2
            }
            .into())
        );
        // Trailing bytes after the struct are ignored, as Kafka's readers do.
        let mut trailing = base.clone();
        trailing.extend([1, 2, 3]);
        assert_eq!(decode_value(&trailing).unwrap(), g.expected());
    }

    #[test]
    fn malformed_lengths_are_errors() {
        // v0 Ongoing (offset 15): partitions count at 17..21, topic length at 21..23.
        let base = hex(GOLDEN[15].value);
        let mut huge_count = base.clone();
        huge_count[17..21].copy_from_slice(&0x7fff_ffff_i32.to_be_bytes());
        assert!(matches!(
            decode_value(&huge_count),
            Err(TxnRecordError::Record(RecordError::InvalidLength { .. }))
        ));
        let mut negative = base.clone();
        negative[17..21].copy_from_slice(&(-2_i32).to_be_bytes());
        assert!(matches!(
            decode_value(&negative),
            Err(TxnRecordError::Record(RecordError::InvalidLength {
                len: -2,
                ..
            }))
        ));
        let mut null_topic = base.clone();
        null_topic[21..23].copy_from_slice(&(-1_i16).to_be_bytes());
        assert!(matches!(
            decode_value(&null_topic),
            Err(TxnRecordError::Record(RecordError::UnexpectedNull {
                field: "Topic"
            }))
        ));
        let mut bad_utf8 = base.clone();
        bad_utf8[23] = 0xff;
        assert!(matches!(
            decode_value(&bad_utf8),
            Err(TxnRecordError::Record(RecordError::InvalidUtf8 {
                field: "Topic"
            }))
        ));
        // v1 (offset 1): a 6-byte varint as the partitions count.
        let mut long_varint = hex(GOLDEN[1].value)[..17].to_vec();
        long_varint.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(matches!(
            decode_value(&long_varint),
            Err(TxnRecordError::Record(RecordError::InvalidVarint { .. }))
        ));
        assert!(matches!(
            encode_key(&"x".repeat(0x8000)),
            Err(TxnRecordError::Record(RecordError::TooLong { .. }))
        ));
        assert_eq!(
            decode_key(&encode_key(&"x".repeat(0x7fff)).unwrap())
                .unwrap()
                .len(),
            0x7fff
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut values: Vec<Vec<u8>> = GOLDEN.iter().map(|g| hex(g.value)).collect();
        values.push(encode_value(&full_value(), 1).unwrap());
        for v in values {
            assert!(decode_value(&v).is_ok());
            for n in 0..v.len() {
                assert!(decode_value(&v[..n]).is_err(), "{n} of {v:02x?}");
            }
        }
        for (_, key) in KEYS {
            let key = hex(key);
            for n in 0..key.len() {
                assert!(decode_key(&key[..n]).is_err());
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let seeds: Vec<Vec<u8>> = GOLDEN.iter().map(|g| hex(g.value)).collect();
        for i in 0..20_000 {
            let r = next();
            let mut buf = if i % 4 == 0 {
                (0..r % 80).map(|_| next() as u8).collect()
            } else {
                seeds[(r % seeds.len() as u64) as usize].clone()
            };
            for _ in 0..1 + (r >> 32) % 4 {
                if !buf.is_empty() {
                    let at = (next() % buf.len() as u64) as usize;
                    buf[at] = next() as u8;
                }
            }
            if let Ok(v) = decode_value(&buf) {
                // Whatever decodes encodes again (the version is the first two bytes).
                let version = i16::from_be_bytes([buf[0], buf[1]]);
                let again = encode_value(&v, version);
                if version == 1 || v.client_transaction_version == 0 {
                    assert!(again.is_ok(), "{buf:02x?}");
                }
            }
            let _ = decode_key(&buf);
        }
    }
}
