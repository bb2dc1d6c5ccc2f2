//! Per-partition log configuration ([`LogConfig`]) with Kafka's topic-level defaults.
//!
//! Field names follow Kafka's topic configs (`segment.bytes` → [`LogConfig::segment_bytes`], …). The config is
//! plain data: the server builds one per topic and may replace it at run time with [`crate::Log::set_config`].
//! [`CleanupPolicy`] is `cleanup.policy`: `delete` (retention by time and size), `compact` (the log cleaner,
//! [`crate::cleaner`]) or both. [`BrokerCompressionType`] is `compression.type`: the codec appended batches are
//! stored with, `producer` keeping each batch's own (see [`crate::Log::append`]).

/// `cleanup.policy`: which of Kafka's two cleanup mechanisms apply to a log (both may).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// `delete`: whole segments are deleted by `retention.ms` and `retention.bytes`.
    pub delete: bool,
    /// `compact`: the log cleaner keeps only the latest record of each key (and drops expired tombstones).
    pub compact: bool,
}

impl CleanupPolicy {
    /// `delete` only (Kafka's default).
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };
    /// `compact` only.
    pub const COMPACT: CleanupPolicy = CleanupPolicy {
        delete: false,
        compact: true,
    };
    /// `compact,delete`.
    pub const COMPACT_DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: true,
    };
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        Self::DELETE
    }
}

/// How the timestamps of appended batches are interpreted (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps (`CreateTime`, attributes bit 3 clear).
    #[default]
    CreateTime,
    /// The broker stamps each batch with the append time (`LogAppendTime`, attributes bit 3 set).
    LogAppendTime,
}

/// `compression.type` (Kafka's `BrokerCompressionType`): the codec a client's batches are stored with. Any value
/// but [`BrokerCompressionType::Producer`] makes the log recompress a batch whose codec differs, as Kafka's
/// `LogValidator` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BrokerCompressionType {
    /// `uncompressed`.
    Uncompressed,
    /// `zstd`.
    Zstd,
    /// `lz4`.
    Lz4,
    /// `snappy`.
    Snappy,
    /// `gzip`.
    Gzip,
    /// `producer` (the default): keep the codec the producer chose.
    #[default]
    Producer,
}

impl BrokerCompressionType {
    /// Every value, in Kafka's order (the order of its `ConfigException` message).
    pub const ALL: [BrokerCompressionType; 6] = [
        BrokerCompressionType::Uncompressed,
        BrokerCompressionType::Zstd,
        BrokerCompressionType::Lz4,
        BrokerCompressionType::Snappy,
        BrokerCompressionType::Gzip,
        BrokerCompressionType::Producer,
    ];

    /// Kafka's name of the value.
    pub fn name(self) -> &'static str {
        match self {
            BrokerCompressionType::Uncompressed => "uncompressed",
            BrokerCompressionType::Zstd => "zstd",
            BrokerCompressionType::Lz4 => "lz4",
            BrokerCompressionType::Snappy => "snappy",
            BrokerCompressionType::Gzip => "gzip",
            BrokerCompressionType::Producer => "producer",
        }
    }

    /// The value named `name` (exactly as Kafka spells it), if any.
    pub fn from_name(name: &str) -> Option<BrokerCompressionType> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Configuration of one partition's log. `Default` gives Kafka's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment before it would grow beyond this size (default 1 GiB).
    pub segment_bytes: u64,
    /// `internal.segment.bytes`, for tests only (as in Kafka's `LogConfig`): when set, it replaces
    /// [`LogConfig::segment_bytes`] as the roll size, without that setting's 1 MiB floor. See
    /// [`LogConfig::roll_bytes`].
    pub internal_segment_bytes: Option<u64>,
    /// `segment.ms`: roll the active segment once its first batch is older than this (default 7 days).
    pub segment_ms: i64,
    /// `segment.index.bytes`: maximum size of each index file; a segment also rolls when an index is full
    /// (default 10 MiB).
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: bytes of log appended between two offset-index entries (default 4096).
    pub index_interval_bytes: u64,
    /// `retention.ms`: delete segments whose largest timestamp is older than this; `-1` = unlimited (default 7 days).
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest segments while the log is larger than this; `-1` = unlimited (default).
    pub retention_bytes: i64,
    /// `max.message.bytes`: maximum size of one record batch (default 1048588).
    pub max_message_bytes: u32,
    /// `message.timestamp.type` (default `CreateTime`).
    pub timestamp_type: TimestampType,
    /// `flush.messages`: [`crate::AppendInfo::needs_flush`] turns true once this many messages are unflushed
    /// (default `u64::MAX`, never).
    pub flush_messages: u64,
    /// `flush.ms`: the server flushes a log when its last flush is older than this (default `i64::MAX`, never).
    pub flush_ms: i64,
    /// `cleanup.policy` (default `delete`).
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long a tombstone survives after the cleaner first saw it (the batch's delete
    /// horizon, see [`crate::cleaner`]); default 1 day.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: the cleaner runs once the dirty part is more than this share of the cleanable
    /// log (default 0.5).
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: segments holding a record newer than this are not compacted yet (default 0).
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a dirty record older than this forces a clean whatever the dirty ratio
    /// (default `i64::MAX`, never).
    pub max_compaction_lag_ms: i64,
    /// `message.timestamp.before.max.ms`: how far a `CreateTime` timestamp may lie in the past (default
    /// `i64::MAX`, no limit). Plain data here: the produce path enforces it.
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far a `CreateTime` timestamp may lie in the future (Kafka 4.x
    /// default: one hour). Plain data here: the produce path enforces it.
    pub message_timestamp_after_max_ms: i64,
    /// `compression.type` (default `producer`).
    pub compression_type: BrokerCompressionType,
    /// `compression.gzip.level` (KIP-390): 1–9, or -1 (the default) for zlib's default level.
    pub compression_gzip_level: i32,
    /// `compression.lz4.level` (KIP-390): 1–17, default 9. Accepted but not applied (see
    /// [`crate::batch`]'s compression notes: only LZ4's fast compressor, Kafka's choice at level 9).
    pub compression_lz4_level: i32,
    /// `compression.zstd.level` (KIP-390): -131072–22, default 3.
    pub compression_zstd_level: i32,
    /// `min.insync.replicas`: in-sync replicas (the leader included) that must hold a batch before an
    /// `acks=all` produce is acknowledged; with fewer in sync, such a produce fails NOT_ENOUGH_REPLICAS
    /// (default 1, at least 1). It may exceed the replication factor, as in Kafka. Plain data here: the
    /// produce path and the replica manager enforce it.
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable`: whether a replica outside the ISR may be elected leader as a last
    /// resort, at the risk of losing acknowledged data (default false). Plain data here: leader election
    /// applies it.
    pub unclean_leader_election_enable: bool,
}

impl LogConfig {
    /// Kafka's default `segment.bytes` (1 GiB).
    pub const DEFAULT_SEGMENT_BYTES: u64 = 1 << 30;
    /// Kafka's default `segment.ms` and `retention.ms` (7 days).
    pub const DEFAULT_SEGMENT_MS: i64 = 7 * 24 * 60 * 60 * 1000;
    /// Kafka's default `segment.index.bytes` (10 MiB).
    pub const DEFAULT_SEGMENT_INDEX_BYTES: u64 = 10 * 1024 * 1024;
    /// Kafka's default `index.interval.bytes`.
    pub const DEFAULT_INDEX_INTERVAL_BYTES: u64 = 4096;
    /// Kafka's default `max.message.bytes` (1 MiB + record batch overhead).
    pub const DEFAULT_MAX_MESSAGE_BYTES: u32 = 1_048_588;
    /// Kafka's default `delete.retention.ms` (1 day).
    pub const DEFAULT_DELETE_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;
    /// Kafka's default `min.cleanable.dirty.ratio`.
    pub const DEFAULT_MIN_CLEANABLE_DIRTY_RATIO: f64 = 0.5;
    /// Kafka 4.x's default `message.timestamp.after.max.ms` (one hour).
    pub const DEFAULT_MESSAGE_TIMESTAMP_AFTER_MAX_MS: i64 = 60 * 60 * 1000;

    /// Kafka's default `compression.gzip.level` (zlib's default).
    pub const DEFAULT_GZIP_LEVEL: i32 = -1;
    /// Kafka's default `compression.lz4.level`.
    pub const DEFAULT_LZ4_LEVEL: i32 = 9;
    /// Kafka's default `compression.zstd.level`.
    pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
    /// Kafka's default `min.insync.replicas`.
    pub const DEFAULT_MIN_INSYNC_REPLICAS: i32 = 1;

    /// The size at which the active segment rolls: `internal.segment.bytes` if set, else `segment.bytes`.
    pub fn roll_bytes(&self) -> u64 {
        self.internal_segment_bytes.unwrap_or(self.segment_bytes)
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
            internal_segment_bytes: None,
            segment_ms: Self::DEFAULT_SEGMENT_MS,
            segment_index_bytes: Self::DEFAULT_SEGMENT_INDEX_BYTES,
            index_interval_bytes: Self::DEFAULT_INDEX_INTERVAL_BYTES,
            retention_ms: Self::DEFAULT_SEGMENT_MS,
            retention_bytes: -1,
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            timestamp_type: TimestampType::CreateTime,
            flush_messages: u64::MAX,
            flush_ms: i64::MAX,
            cleanup_policy: CleanupPolicy::DELETE,
            delete_retention_ms: Self::DEFAULT_DELETE_RETENTION_MS,
            min_cleanable_dirty_ratio: Self::DEFAULT_MIN_CLEANABLE_DIRTY_RATIO,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: Self::DEFAULT_MESSAGE_TIMESTAMP_AFTER_MAX_MS,
            compression_type: BrokerCompressionType::Producer,
            compression_gzip_level: Self::DEFAULT_GZIP_LEVEL,
            compression_lz4_level: Self::DEFAULT_LZ4_LEVEL,
            compression_zstd_level: Self::DEFAULT_ZSTD_LEVEL,
            min_insync_replicas: Self::DEFAULT_MIN_INSYNC_REPLICAS,
            unclean_leader_election_enable: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let c = LogConfig::default();
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.segment_ms, 604_800_000);
        assert_eq!(c.segment_index_bytes, 10_485_760);
        assert_eq!(c.index_interval_bytes, 4096);
        assert_eq!(c.retention_ms, 604_800_000);
        assert_eq!(c.retention_bytes, -1);
        assert_eq!(c.max_message_bytes, 1_048_588);
        assert_eq!(c.timestamp_type, TimestampType::CreateTime);
        assert_eq!(c.cleanup_policy, CleanupPolicy::DELETE);
        assert_eq!(c.delete_retention_ms, 86_400_000);
        assert!((c.min_cleanable_dirty_ratio - 0.5).abs() < f64::EPSILON);
        assert_eq!(c.min_compaction_lag_ms, 0);
        assert_eq!(c.max_compaction_lag_ms, i64::MAX);
        assert_eq!(c.message_timestamp_after_max_ms, 3_600_000);
        assert_eq!(c.compression_type, BrokerCompressionType::Producer);
        assert_eq!(
            (
                c.compression_gzip_level,
                c.compression_lz4_level,
                c.compression_zstd_level
            ),
            (-1, 9, 3)
        );
        assert_eq!(c.min_insync_replicas, 1);
        assert!(!c.unclean_leader_election_enable);
        for t in BrokerCompressionType::ALL {
            assert_eq!(BrokerCompressionType::from_name(t.name()), Some(t));
        }
        assert_eq!(BrokerCompressionType::from_name("none"), None);
        assert_eq!(c.roll_bytes(), c.segment_bytes);
        let tiny = LogConfig {
            internal_segment_bytes: Some(300),
            ..c
        };
        assert_eq!(tiny.roll_bytes(), 300);
    }
}
