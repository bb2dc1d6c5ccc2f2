//! minikafka storage: Kafka's on-disk log format, byte-compatible with Apache Kafka's `kafka-dump-log.sh`.
//!
//! Layout of the crate:
//! * [`batch`]: v2 record batches (`DefaultRecordBatch`): header parsing, validation (compressed records
//!   streamed within a decompressed-size limit), record decoding (all codecs), a batch builder.
//!   Transaction markers (control batches) are built and parsed there too.
//! * [`index`]: the sparse offset index (`.index`) and time index (`.timeindex`).
//! * [`txn_index`]: the aborted transaction index (`.txnindex`), created lazily per segment.
//! * [`segment`]: one segment: `.log` + `.index` + `.timeindex` (+ `.txnindex`), named by its base offset
//!   (`%020d`).
//! * [`log`]: [`Log`], one partition's segmented log: append (client, coordinator, transaction markers, a
//!   follower's byte-for-byte copy of its leader's batches), read (optionally bounded by the last stable offset),
//!   roll, recovery, retention, flush; last stable offset and aborted transactions for `read_committed` fetches.
//! * [`producer_state`]: the idempotent and transactional producers' state (epochs, sequences, duplicate
//!   detection, ongoing transactions, coordinator epochs) and its `.snapshot` files, kept by the [`Log`].
//! * [`open_files`]: the process-wide bounded cache of open segment files (descriptors stay bounded; a file with
//!   unsynced writes is fsynced before it is closed).
//! * [`cleaner`]: the log cleaner (compaction for `cleanup.policy=compact`), crash-safe segment swaps.
//! * [`config`], [`error`]: [`LogConfig`] and [`StorageError`].
//!
//! The crate knows nothing of the wire protocol: records travel as raw `Bytes` of concatenated batches, exactly as
//! stored on disk.
//!
//! ```
//! use minikafka_storage::{Log, LogConfig};
//! use minikafka_storage::batch::{build_batch, Compression, Record};
//! let dir = tempfile::tempdir().unwrap();
//! let mut log = Log::open(dir.path(), LogConfig::default(), true).unwrap();
//! let rec = Record { offset: 0, timestamp: 1, key: None, value: Some("hi".into()), headers: vec![] };
//! let info = log.append(&build_batch(0, 1, &[rec], Compression::None), 0, 1).unwrap();
//! assert_eq!((info.base_offset, log.log_end_offset()), (0, 1));
//! let read = log.read(0, 1 << 20, true).unwrap();
//! assert_eq!(minikafka_storage::batch::decode_records(&read.records).unwrap().1.len(), 1);
//! log.close().unwrap();
//! ```

pub mod batch;
pub mod cleaner;
pub mod config;
pub mod error;
pub mod index;
pub mod leader_epoch;
pub mod log;
pub mod open_files;
pub mod producer_state;
pub mod segment;
pub mod txn_index;

pub use batch::TxnMarker;
pub use cleaner::{CleanPlan, CleanStats, CleanedSegments};
pub use config::{BrokerCompressionType, CleanupPolicy, LogConfig, TimestampType};
pub use error::{Result, StorageError};
pub use leader_epoch::LeaderEpochCache;
pub use log::{is_disk_full, AppendInfo, DeletedSegment, Log, ReadInfo, SliceInfo, SyncJob};
pub use open_files::{set_max_open_files, CachedFile};
pub use producer_state::ProducerSnapshotEntry;
pub use segment::FileSlice;
pub use txn_index::AbortedTxn;
