//! Broker configuration: Kafka's own property names, their defaults, parsing and validation.
//!
//! Settings come, in increasing priority, from the embedded defaults, a TOML file (`--config`),
//! the dedicated command-line flags (`--listen`, `--advertise`, `--data-dir`, `--node-id`) and
//! `--set NAME=VALUE`. The TOML file uses Kafka's dotted names as ordinary TOML dotted keys, so
//! `log.segment.bytes = 1048576` in the file means the same as `--set log.segment.bytes=1048576`.
//!
//! Every property the broker understands is listed in [`PROPERTIES`]; an unknown name or a bad
//! value is refused with a clear message before anything on disk is touched.
//!
//! Topic-level settings (`retention.ms`, `segment.bytes`, …) are handled by [`TopicConfig`]:
//! their defaults come from the broker's `log.*` properties, exactly as in Kafka.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use minikafka_storage::{CleanupPolicy, LogConfig, TimestampType};

/// A configuration error, with a message meant for the person who wrote the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A property name the broker does not know.
    #[error(
        "unknown configuration property '{0}' (see config/broker.toml for the supported names)"
    )]
    Unknown(String),
    /// A value that does not parse or is out of range.
    #[error("invalid value '{value}' for '{name}': {reason}")]
    Invalid {
        /// Property name.
        name: String,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The TOML file could not be read or parsed.
    #[error("cannot read config file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// One broker property: its Kafka name, default (as text) and meaning.
#[derive(Debug, Clone, Copy)]
pub struct Property {
    /// Kafka's property name.
    pub name: &'static str,
    /// The default value, as it would be written in the config file.
    pub default: &'static str,
    /// One line saying what it does.
    pub doc: &'static str,
}

const fn prop(name: &'static str, default: &'static str, doc: &'static str) -> Property {
    Property { name, default, doc }
}

/// Every broker property minikafka understands, with its default.
pub const PROPERTIES: &[Property] = &[
    prop("node.id", "1", "This broker's id."),
    prop("listeners", "localhost:9092", "Address to listen on (HOST:PORT or PLAINTEXT://HOST:PORT); localhost binds both 127.0.0.1 and ::1."),
    prop("advertised.listeners", "", "Address given to clients in Metadata (HOST:PORT); empty = the listen address."),
    prop("log.dirs", "./data", "Data directory."),
    prop("num.partitions", "1", "Partitions of an auto-created topic, or of CreateTopics with num_partitions = -1."),
    prop("default.replication.factor", "1", "Replication factor used when a CreateTopics asks for -1."),
    prop("auto.create.topics.enable", "true", "Create unknown topics on Metadata requests that allow it."),
    prop("delete.topic.enable", "true", "Allow DeleteTopics."),
    prop("message.max.bytes", "1048588", "Largest record batch accepted (topic default for max.message.bytes)."),
    prop("socket.request.max.bytes", "104857600", "Largest request frame accepted; larger frames close the connection."),
    prop("fetch.zero.copy.min.bytes", "16384", "minikafka only: a partition's fetched records of at least this size go from the segment file to the socket with sendfile; smaller ones are copied. 2147483647 = always copy."),
    prop("max.connections", "10000", "Connections served at once; further clients wait to be accepted."),
    prop("log.segment.bytes", "1073741824", "Segment size at which the log rolls (topic: segment.bytes)."),
    prop("log.roll.hours", "168", "Age at which the active segment rolls (topic: segment.ms)."),
    prop("log.roll.ms", "", "Like log.roll.hours, in ms; wins when set."),
    prop("log.retention.hours", "168", "Time a segment is kept (topic: retention.ms)."),
    prop("log.retention.minutes", "", "Like log.retention.hours, in minutes; wins over hours when set."),
    prop("log.retention.ms", "", "Like log.retention.hours, in ms; wins when set; -1 keeps forever."),
    prop("log.retention.bytes", "-1", "Size per partition above which old segments are deleted (topic: retention.bytes); -1 = no limit."),
    prop("log.retention.check.interval.ms", "300000", "How often retention and segment age are checked."),
    prop("log.index.interval.bytes", "4096", "Bytes of log between offset-index entries (topic: index.interval.bytes)."),
    prop("log.index.size.max.bytes", "10485760", "Largest index file; the segment rolls when it is full (topic: segment.index.bytes)."),
    prop("log.flush.interval.messages", "9223372036854775807", "Messages appended before an fsync; 1 = fsync before every acknowledgement (topic: flush.messages)."),
    prop("log.flush.interval.ms", "", "Max time data stays un-fsynced (topic: flush.ms); empty = leave it to the OS."),
    prop("log.flush.scheduler.interval.ms", "1000", "How often the time-based flusher looks at the logs."),
    prop("max.incremental.fetch.session.cache.slots", "1000", "Incremental fetch sessions kept at once (KIP-227); 0 disables them."),
    prop("group.min.session.timeout.ms", "6000", "Smallest session timeout a group member may ask for."),
    prop("group.max.session.timeout.ms", "1800000", "Largest session timeout a group member may ask for."),
    prop("group.initial.rebalance.delay.ms", "3000", "Wait for more members before the first rebalance of an empty group; 0 = none."),
    prop("group.max.size", "2147483647", "Most members a classic consumer group may have."),
    prop("group.consumer.session.timeout.ms", "45000", "Session timeout of consumer-protocol (KIP-848) members."),
    prop("group.consumer.heartbeat.interval.ms", "5000", "Heartbeat interval given to consumer-protocol (KIP-848) members."),
    prop("group.consumer.min.session.timeout.ms", "45000", "Lower bound of group.consumer.session.timeout.ms."),
    prop("group.consumer.max.session.timeout.ms", "60000", "Upper bound of group.consumer.session.timeout.ms."),
    prop("group.consumer.min.heartbeat.interval.ms", "5000", "Lower bound of group.consumer.heartbeat.interval.ms."),
    prop("group.consumer.max.heartbeat.interval.ms", "15000", "Upper bound of group.consumer.heartbeat.interval.ms."),
    prop("group.consumer.max.size", "2147483647", "Most members a consumer-protocol (KIP-848) group may have."),
    prop("offsets.topic.num.partitions", "50", "Partitions of __consumer_offsets when it is created."),
    prop("offsets.topic.segment.bytes", "104857600", "segment.bytes of __consumer_offsets."),
    prop("offsets.retention.minutes", "10080", "How long the committed offsets of an empty group are kept."),
    prop("offsets.retention.check.interval.ms", "600000", "How often expired offsets are removed."),
    prop("offset.metadata.max.bytes", "4096", "Largest metadata string of a committed offset."),
    prop("transaction.max.timeout.ms", "900000", "Largest transaction.timeout.ms a transactional producer may ask for."),
    prop("transaction.abort.timed.out.transaction.cleanup.interval.ms", "10000", "How often transactions past their timeout are aborted."),
    prop("transactional.id.expiration.ms", "604800000", "Idle time after which a transactional id with no open transaction is forgotten."),
    prop("transaction.state.log.num.partitions", "50", "Partitions of __transaction_state when it is created."),
    prop("transaction.state.log.segment.bytes", "104857600", "segment.bytes of __transaction_state."),
    prop("producer.id.expiration.ms", "86400000", "Idle time after which an idempotent producer's state is dropped."),
    prop("producer.id.expiration.check.interval.ms", "600000", "How often idle producer state is expired."),
    prop("log.message.timestamp.type", "CreateTime", "CreateTime or LogAppendTime (topic: message.timestamp.type)."),
    prop("log.cleanup.policy", "delete", "delete, compact or compact,delete (topic: cleanup.policy)."),
    prop("log.cleaner.enable", "true", "Run the log cleaner for topics whose cleanup.policy contains compact."),
    prop("log.cleaner.backoff.ms", "15000", "Time the log cleaner sleeps between passes over the logs."),
    prop("log.cleaner.delete.retention.ms", "86400000", "How long tombstones survive once cleaned (topic: delete.retention.ms)."),
    prop("log.cleaner.min.cleanable.ratio", "0.5", "Dirty share of a log above which it is cleaned (topic: min.cleanable.dirty.ratio)."),
    prop("log.cleaner.min.compaction.lag.ms", "0", "Records younger than this are not compacted (topic: min.compaction.lag.ms)."),
    prop("log.cleaner.max.compaction.lag.ms", "9223372036854775807", "Records older than this force a clean (topic: max.compaction.lag.ms)."),
];

/// The broker's validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// `node.id`.
    pub node_id: i32,
    /// `listeners`, as HOST:PORT.
    pub listen: String,
    /// `advertised.listeners`, as HOST:PORT; `None` = derived from the bound address.
    pub advertise: Option<String>,
    /// `log.dirs`.
    pub data_dir: PathBuf,
    /// `num.partitions`.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `delete.topic.enable`.
    pub delete_topic_enable: bool,
    /// `socket.request.max.bytes`.
    pub socket_request_max_bytes: usize,
    /// `fetch.zero.copy.min.bytes` (minikafka only).
    pub fetch_zero_copy_min_bytes: usize,
    /// `max.connections`.
    pub max_connections: usize,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_ms: u64,
    /// `log.flush.scheduler.interval.ms`.
    pub flush_scheduler_interval_ms: u64,
    /// `producer.id.expiration.ms`.
    pub producer_id_expiration_ms: i64,
    /// `max.incremental.fetch.session.cache.slots`.
    pub max_fetch_sessions: usize,
    /// `producer.id.expiration.check.interval.ms`.
    pub producer_id_expiration_check_interval_ms: u64,
    /// `group.min.session.timeout.ms`.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.max.size`.
    pub group_max_size: i32,
    /// `group.consumer.session.timeout.ms`.
    pub group_consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`.
    pub group_consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`.
    pub group_consumer_max_size: i32,
    /// `offsets.topic.num.partitions`.
    pub offsets_topic_num_partitions: i32,
    /// `transaction.max.timeout.ms`.
    pub transaction_max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub transaction_abort_interval_ms: u64,
    /// `transactional.id.expiration.ms`.
    pub transactional_id_expiration_ms: i64,
    /// `transaction.state.log.num.partitions`.
    pub transaction_state_num_partitions: i32,
    /// `transaction.state.log.segment.bytes`.
    pub transaction_state_segment_bytes: i32,
    /// `offsets.topic.segment.bytes`.
    pub offsets_topic_segment_bytes: i32,
    /// `offsets.retention.minutes`, in ms.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`.
    pub offsets_retention_check_interval_ms: u64,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: usize,
    /// `log.cleaner.enable`.
    pub cleaner_enable: bool,
    /// `log.cleaner.backoff.ms`.
    pub cleaner_backoff_ms: u64,
    /// Topic defaults derived from the `log.*` and `message.max.bytes` properties.
    pub log_defaults: LogConfig,
    /// Every property's effective text, by Kafka name (for DescribeConfigs on the broker).
    pub values: BTreeMap<String, String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let mut values = BTreeMap::new();
        for p in PROPERTIES {
            values.insert(p.name.to_string(), p.default.to_string());
        }
        // The defaults are constants checked by the unit tests below.
        Self::from_values(&values).unwrap_or_else(|e| panic!("built-in defaults are invalid: {e}"))
    }
}

/// Accumulates `name = value` settings in priority order, then validates them into a
/// [`BrokerConfig`].
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    values: BTreeMap<String, String>,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        let mut values = BTreeMap::new();
        for p in PROPERTIES {
            values.insert(p.name.to_string(), p.default.to_string());
        }
        Self { values }
    }
}

impl ConfigBuilder {
    /// Set one property by its Kafka name; unknown names are refused at once.
    pub fn set(&mut self, name: &str, value: &str) -> Result<&mut Self, ConfigError> {
        let name = name.trim();
        if !PROPERTIES.iter().any(|p| p.name == name) {
            return Err(ConfigError::Unknown(name.to_string()));
        }
        self.values
            .insert(name.to_string(), value.trim().to_string());
        Ok(self)
    }

    /// Parse a `NAME=VALUE` pair as given to `--set`.
    pub fn set_pair(&mut self, pair: &str) -> Result<&mut Self, ConfigError> {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(ConfigError::Invalid {
                name: pair.to_string(),
                value: String::new(),
                reason: "expected NAME=VALUE".into(),
            });
        };
        self.set(name, value)
    }

    /// Apply every setting of a TOML document (Kafka names as dotted keys).
    pub fn apply_toml(&mut self, text: &str, path: &str) -> Result<&mut Self, ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::File {
                path: path.to_string(),
                reason: e.to_string(),
            })?;
        let mut flat = Vec::new();
        flatten("", &table, &mut flat, path)?;
        for (name, value) in flat {
            self.set(&name, &value)?;
        }
        Ok(self)
    }

    /// Validate everything and build the configuration.
    pub fn build(&self) -> Result<BrokerConfig, ConfigError> {
        BrokerConfig::from_values(&self.values)
    }
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut Vec<(String, String)>,
    path: &str,
) -> Result<(), ConfigError> {
    for (k, v) in table {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let text = match v {
            toml::Value::Table(t) => {
                flatten(&name, t, out, path)?;
                continue;
            }
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(ConfigError::File {
                    path: path.to_string(),
                    reason: format!(
                        "'{name}' must be a string, number or boolean, not {}",
                        other.type_str()
                    ),
                })
            }
        };
        out.push((name, text));
    }
    Ok(())
}

fn invalid(name: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn parse_num<T: std::str::FromStr + PartialOrd + fmt::Display + Copy>(
    name: &str,
    value: &str,
    min: T,
) -> Result<T, ConfigError> {
    let v: T = value
        .parse()
        .map_err(|_| invalid(name, value, "not a valid number"))?;
    if v < min {
        return Err(invalid(name, value, format!("must be at least {min}")));
    }
    Ok(v)
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(name, value, "expected true or false")),
    }
}

/// Parse a timestamp type name as Kafka spells it.
pub fn parse_timestamp_type(name: &str, value: &str) -> Result<TimestampType, ConfigError> {
    match value {
        "CreateTime" => Ok(TimestampType::CreateTime),
        "LogAppendTime" => Ok(TimestampType::LogAppendTime),
        _ => Err(invalid(name, value, "expected CreateTime or LogAppendTime")),
    }
}

/// Strip an optional `PLAINTEXT://` and check the rest is HOST:PORT.
fn parse_address(name: &str, value: &str) -> Result<String, ConfigError> {
    let v = value.strip_prefix("PLAINTEXT://").unwrap_or(value);
    if v.contains(',') {
        return Err(invalid(name, value, "only one listener is supported"));
    }
    let Some((host, port)) = v.rsplit_once(':') else {
        return Err(invalid(name, value, "expected HOST:PORT"));
    };
    port.parse::<u16>()
        .map_err(|_| invalid(name, value, "the port must be a number from 0 to 65535"))?;
    let _ = host;
    Ok(v.to_string())
}

impl BrokerConfig {
    fn from_values(v: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |n: &str| v.get(n).map(String::as_str).unwrap_or("");
        let opt = |n: &str| {
            let s = get(n);
            (!s.is_empty()).then_some(s)
        };
        let num_i64 = |n: &str, min: i64| parse_num::<i64>(n, get(n), min);

        let retention_ms = if let Some(ms) = opt("log.retention.ms") {
            parse_num::<i64>("log.retention.ms", ms, -1)?
        } else if let Some(min) = opt("log.retention.minutes") {
            parse_num::<i64>("log.retention.minutes", min, -1)?.saturating_mul(60_000)
        } else {
            parse_num::<i64>("log.retention.hours", get("log.retention.hours"), -1)?
                .saturating_mul(3_600_000)
        };
        let retention_ms = if retention_ms < 0 { -1 } else { retention_ms };
        let segment_ms = if let Some(ms) = opt("log.roll.ms") {
            parse_num::<i64>("log.roll.ms", ms, 1)?
        } else {
            parse_num::<i64>("log.roll.hours", get("log.roll.hours"), 1)?.saturating_mul(3_600_000)
        };
        let flush_ms = match opt("log.flush.interval.ms") {
            Some(ms) => parse_num::<i64>("log.flush.interval.ms", ms, 0)?,
            None => i64::MAX,
        };
        let retention_bytes = num_i64("log.retention.bytes", -1)?;
        let log_defaults = LogConfig {
            segment_bytes: parse_num::<u64>("log.segment.bytes", get("log.segment.bytes"), 14)?,
            segment_ms,
            segment_index_bytes: parse_num::<u64>(
                "log.index.size.max.bytes",
                get("log.index.size.max.bytes"),
                8,
            )?,
            index_interval_bytes: parse_num::<u64>(
                "log.index.interval.bytes",
                get("log.index.interval.bytes"),
                0,
            )?,
            retention_ms,
            retention_bytes,
            max_message_bytes: parse_num::<u32>("message.max.bytes", get("message.max.bytes"), 0)?,
            timestamp_type: parse_timestamp_type(
                "log.message.timestamp.type",
                get("log.message.timestamp.type"),
            )?,
            flush_messages: parse_num::<u64>(
                "log.flush.interval.messages",
                get("log.flush.interval.messages"),
                1,
            )?,
            flush_ms,
            cleanup_policy: parse_cleanup_policy("log.cleanup.policy", get("log.cleanup.policy"))?,
            delete_retention_ms: num_i64("log.cleaner.delete.retention.ms", 0)?,
            min_cleanable_dirty_ratio: parse_ratio(
                "log.cleaner.min.cleanable.ratio",
                get("log.cleaner.min.cleanable.ratio"),
            )?,
            min_compaction_lag_ms: num_i64("log.cleaner.min.compaction.lag.ms", 0)?,
            max_compaction_lag_ms: num_i64("log.cleaner.max.compaction.lag.ms", 1)?,
        };
        check_compaction_lags(&log_defaults, "log.cleaner.min.compaction.lag.ms")?;
        if log_defaults.segment_bytes > i32::MAX as u64 {
            return Err(invalid(
                "log.segment.bytes",
                get("log.segment.bytes"),
                "must be at most 2147483647",
            ));
        }
        // Kafka checks the KIP-848 timings against their bounds and against each other.
        let bounded = |name: &str, min: &str, max: &str| -> Result<i32, ConfigError> {
            let v = parse_num::<i32>(name, get(name), 1)?;
            let lo = parse_num::<i32>(min, get(min), 1)?;
            let hi = parse_num::<i32>(max, get(max), 1)?;
            if v < lo || v > hi {
                return Err(invalid(
                    name,
                    get(name),
                    format!("must be between {min} ({lo}) and {max} ({hi})"),
                ));
            }
            Ok(v)
        };
        let consumer_session = bounded(
            "group.consumer.session.timeout.ms",
            "group.consumer.min.session.timeout.ms",
            "group.consumer.max.session.timeout.ms",
        )?;
        let consumer_heartbeat = bounded(
            "group.consumer.heartbeat.interval.ms",
            "group.consumer.min.heartbeat.interval.ms",
            "group.consumer.max.heartbeat.interval.ms",
        )?;
        if consumer_heartbeat >= consumer_session {
            return Err(invalid(
                "group.consumer.heartbeat.interval.ms",
                get("group.consumer.heartbeat.interval.ms"),
                "must be lower than group.consumer.session.timeout.ms",
            ));
        }
        let cfg = BrokerConfig {
            node_id: parse_num::<i32>("node.id", get("node.id"), 0)?,
            listen: parse_address("listeners", get("listeners"))?,
            advertise: match opt("advertised.listeners") {
                Some(a) => Some(parse_address("advertised.listeners", a)?),
                None => None,
            },
            data_dir: {
                let d = get("log.dirs");
                if d.is_empty() {
                    return Err(invalid("log.dirs", d, "must not be empty"));
                }
                if d.contains(',') {
                    return Err(invalid(
                        "log.dirs",
                        d,
                        "only one data directory is supported",
                    ));
                }
                PathBuf::from(d)
            },
            num_partitions: parse_num::<i32>("num.partitions", get("num.partitions"), 1)?,
            default_replication_factor: parse_num::<i16>(
                "default.replication.factor",
                get("default.replication.factor"),
                1,
            )?,
            auto_create_topics: parse_bool(
                "auto.create.topics.enable",
                get("auto.create.topics.enable"),
            )?,
            delete_topic_enable: parse_bool("delete.topic.enable", get("delete.topic.enable"))?,
            socket_request_max_bytes: parse_num::<usize>(
                "socket.request.max.bytes",
                get("socket.request.max.bytes"),
                1024,
            )?,
            fetch_zero_copy_min_bytes: parse_num::<usize>(
                "fetch.zero.copy.min.bytes",
                get("fetch.zero.copy.min.bytes"),
                0,
            )?,
            max_connections: parse_num::<usize>("max.connections", get("max.connections"), 1)?,
            retention_check_interval_ms: parse_num::<u64>(
                "log.retention.check.interval.ms",
                get("log.retention.check.interval.ms"),
                1,
            )?,
            flush_scheduler_interval_ms: parse_num::<u64>(
                "log.flush.scheduler.interval.ms",
                get("log.flush.scheduler.interval.ms"),
                1,
            )?,
            producer_id_expiration_ms: parse_num::<i64>(
                "producer.id.expiration.ms",
                get("producer.id.expiration.ms"),
                1,
            )?,
            group_min_session_timeout_ms: parse_num::<i32>(
                "group.min.session.timeout.ms",
                get("group.min.session.timeout.ms"),
                0,
            )?,
            group_max_session_timeout_ms: parse_num::<i32>(
                "group.max.session.timeout.ms",
                get("group.max.session.timeout.ms"),
                0,
            )?,
            group_initial_rebalance_delay_ms: parse_num::<i32>(
                "group.initial.rebalance.delay.ms",
                get("group.initial.rebalance.delay.ms"),
                0,
            )?,
            group_max_size: parse_num::<i32>("group.max.size", get("group.max.size"), 1)?,
            group_consumer_session_timeout_ms: consumer_session,
            group_consumer_heartbeat_interval_ms: consumer_heartbeat,
            group_consumer_max_size: parse_num::<i32>(
                "group.consumer.max.size",
                get("group.consumer.max.size"),
                1,
            )?,
            transaction_max_timeout_ms: parse_num::<i32>(
                "transaction.max.timeout.ms",
                get("transaction.max.timeout.ms"),
                1,
            )?,
            transaction_abort_interval_ms: parse_num::<u64>(
                "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                get("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
                1,
            )?,
            transactional_id_expiration_ms: parse_num::<i64>(
                "transactional.id.expiration.ms",
                get("transactional.id.expiration.ms"),
                1,
            )?,
            transaction_state_num_partitions: parse_num::<i32>(
                "transaction.state.log.num.partitions",
                get("transaction.state.log.num.partitions"),
                1,
            )?,
            transaction_state_segment_bytes: parse_num::<i32>(
                "transaction.state.log.segment.bytes",
                get("transaction.state.log.segment.bytes"),
                14,
            )?,
            offsets_topic_num_partitions: parse_num::<i32>(
                "offsets.topic.num.partitions",
                get("offsets.topic.num.partitions"),
                1,
            )?,
            offsets_topic_segment_bytes: parse_num::<i32>(
                "offsets.topic.segment.bytes",
                get("offsets.topic.segment.bytes"),
                14,
            )?,
            offsets_retention_ms: parse_num::<i64>(
                "offsets.retention.minutes",
                get("offsets.retention.minutes"),
                1,
            )?
            .saturating_mul(60_000),
            offsets_retention_check_interval_ms: parse_num::<u64>(
                "offsets.retention.check.interval.ms",
                get("offsets.retention.check.interval.ms"),
                1,
            )?,
            offset_metadata_max_bytes: parse_num::<usize>(
                "offset.metadata.max.bytes",
                get("offset.metadata.max.bytes"),
                0,
            )?,
            max_fetch_sessions: parse_num::<usize>(
                "max.incremental.fetch.session.cache.slots",
                get("max.incremental.fetch.session.cache.slots"),
                0,
            )?,
            producer_id_expiration_check_interval_ms: parse_num::<u64>(
                "producer.id.expiration.check.interval.ms",
                get("producer.id.expiration.check.interval.ms"),
                1,
            )?,
            cleaner_enable: parse_bool("log.cleaner.enable", get("log.cleaner.enable"))?,
            cleaner_backoff_ms: parse_num::<u64>(
                "log.cleaner.backoff.ms",
                get("log.cleaner.backoff.ms"),
                1,
            )?,
            log_defaults,
            values: v.clone(),
        };
        Ok(cfg)
    }
}

/// Parse `cleanup.policy`: `delete`, `compact`, or both comma-separated in either order (Kafka's list type).
pub fn parse_cleanup_policy(name: &str, value: &str) -> Result<CleanupPolicy, ConfigError> {
    let mut policy = CleanupPolicy {
        delete: false,
        compact: false,
    };
    for p in value.split(',') {
        match p.trim() {
            "delete" => policy.delete = true,
            "compact" => policy.compact = true,
            _ => {
                return Err(invalid(
                    name,
                    value,
                    "expected delete, compact or compact,delete",
                ))
            }
        }
    }
    Ok(policy)
}

/// Kafka's text for a cleanup policy (`delete`, `compact`, `compact,delete`).
pub fn cleanup_policy_text(p: CleanupPolicy) -> &'static str {
    match (p.compact, p.delete) {
        (true, true) => "compact,delete",
        (true, false) => "compact",
        _ => "delete",
    }
}

/// Parse a ratio in [0, 1] (`min.cleanable.dirty.ratio`).
fn parse_ratio(name: &str, value: &str) -> Result<f64, ConfigError> {
    match value.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(invalid(name, value, "expected a number from 0 to 1")),
    }
}

/// Kafka's `LogConfig.validate`: `min.compaction.lag.ms` may not exceed `max.compaction.lag.ms`.
fn check_compaction_lags(c: &LogConfig, name: &str) -> Result<(), ConfigError> {
    if c.min_compaction_lag_ms > c.max_compaction_lag_ms {
        return Err(invalid(
            name,
            &c.min_compaction_lag_ms.to_string(),
            format!(
                "conflicts with max.compaction.lag.ms {}: the minimum lag may not exceed the maximum",
                c.max_compaction_lag_ms
            ),
        ));
    }
    Ok(())
}

/// The broker property that supplies a topic config's default, as Kafka names its synonym.
pub fn broker_synonym(topic_config: &str) -> Option<&'static str> {
    Some(match topic_config {
        "cleanup.policy" => "log.cleanup.policy",
        "delete.retention.ms" => "log.cleaner.delete.retention.ms",
        "max.compaction.lag.ms" => "log.cleaner.max.compaction.lag.ms",
        "min.cleanable.dirty.ratio" => "log.cleaner.min.cleanable.ratio",
        "min.compaction.lag.ms" => "log.cleaner.min.compaction.lag.ms",
        "flush.messages" => "log.flush.interval.messages",
        "flush.ms" => "log.flush.interval.ms",
        "index.interval.bytes" => "log.index.interval.bytes",
        "max.message.bytes" => "message.max.bytes",
        "message.timestamp.type" => "log.message.timestamp.type",
        "retention.bytes" => "log.retention.bytes",
        "retention.ms" => "log.retention.ms",
        "segment.bytes" => "log.segment.bytes",
        "segment.index.bytes" => "log.index.size.max.bytes",
        "segment.ms" => "log.roll.ms",
        _ => return None,
    })
}

/// Topic-level configuration names, in Kafka's spelling, that topics may override.
pub const TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "delete.retention.ms",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.ms",
];

/// A topic's own overrides (only what was set explicitly), validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    /// Explicit overrides by Kafka name; absent names use the broker defaults.
    pub overrides: BTreeMap<String, String>,
}

impl TopicConfig {
    /// Validate a set of overrides as a CreateTopics request or the persisted metadata gives them.
    pub fn from_overrides<'a>(
        pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
        broker: &BrokerConfig,
    ) -> Result<TopicConfig, ConfigError> {
        let mut overrides = BTreeMap::new();
        for (name, value) in pairs {
            let Some(value) = value else { continue };
            if !TOPIC_CONFIGS.contains(&name) {
                return Err(ConfigError::Unknown(name.to_string()));
            }
            overrides.insert(name.to_string(), value.to_string());
        }
        let cfg = TopicConfig { overrides };
        cfg.log_config(&broker.log_defaults)?;
        Ok(cfg)
    }

    /// The effective storage settings: broker defaults overlaid with this topic's overrides.
    pub fn log_config(&self, defaults: &LogConfig) -> Result<LogConfig, ConfigError> {
        let mut c = defaults.clone();
        for (name, value) in &self.overrides {
            let value = value.as_str();
            match name.as_str() {
                "segment.bytes" => {
                    c.segment_bytes = parse_num::<u64>(name, value, 14)?;
                    if c.segment_bytes > i32::MAX as u64 {
                        return Err(invalid(name, value, "must be at most 2147483647"));
                    }
                }
                "segment.ms" => c.segment_ms = parse_num::<i64>(name, value, 1)?,
                "segment.index.bytes" => c.segment_index_bytes = parse_num::<u64>(name, value, 8)?,
                "index.interval.bytes" => {
                    c.index_interval_bytes = parse_num::<u64>(name, value, 0)?
                }
                "retention.ms" => c.retention_ms = parse_num::<i64>(name, value, -1)?,
                "retention.bytes" => c.retention_bytes = parse_num::<i64>(name, value, -1)?,
                "max.message.bytes" => c.max_message_bytes = parse_num::<u32>(name, value, 0)?,
                "message.timestamp.type" => c.timestamp_type = parse_timestamp_type(name, value)?,
                "flush.messages" => c.flush_messages = parse_num::<u64>(name, value, 1)?,
                "flush.ms" => c.flush_ms = parse_num::<i64>(name, value, 0)?,
                "cleanup.policy" => c.cleanup_policy = parse_cleanup_policy(name, value)?,
                "delete.retention.ms" => c.delete_retention_ms = parse_num::<i64>(name, value, 0)?,
                "min.cleanable.dirty.ratio" => {
                    c.min_cleanable_dirty_ratio = parse_ratio(name, value)?
                }
                "min.compaction.lag.ms" => {
                    c.min_compaction_lag_ms = parse_num::<i64>(name, value, 0)?
                }
                "max.compaction.lag.ms" => {
                    c.max_compaction_lag_ms = parse_num::<i64>(name, value, 1)?
                }
                "compression.type" => {
                    if value != "producer" {
                        return Err(invalid(
                            name,
                            value,
                            "minikafka stores batches as produced; only 'producer' is supported",
                        ));
                    }
                }
                "min.insync.replicas" => {
                    let n = parse_num::<i32>(name, value, 1)?;
                    if n > 1 {
                        return Err(invalid(
                            name,
                            value,
                            "a single-node cluster has only 1 replica",
                        ));
                    }
                }
                _ => return Err(ConfigError::Unknown(name.clone())),
            }
        }
        check_compaction_lags(&c, "min.compaction.lag.ms")?;
        Ok(c)
    }

    /// Every topic config with its effective value and whether it was set on the topic.
    pub fn describe(&self, defaults: &LogConfig) -> Vec<(String, String, bool)> {
        let d = defaults;
        let ts = |t: TimestampType| match t {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        };
        let default_of = |name: &str| -> String {
            match name {
                "cleanup.policy" => cleanup_policy_text(d.cleanup_policy).into(),
                "delete.retention.ms" => d.delete_retention_ms.to_string(),
                "max.compaction.lag.ms" => d.max_compaction_lag_ms.to_string(),
                "min.cleanable.dirty.ratio" => d.min_cleanable_dirty_ratio.to_string(),
                "min.compaction.lag.ms" => d.min_compaction_lag_ms.to_string(),
                "compression.type" => "producer".into(),
                "flush.messages" => d.flush_messages.min(i64::MAX as u64).to_string(),
                "flush.ms" => d.flush_ms.to_string(),
                "index.interval.bytes" => d.index_interval_bytes.to_string(),
                "max.message.bytes" => d.max_message_bytes.to_string(),
                "message.timestamp.type" => ts(d.timestamp_type).into(),
                "min.insync.replicas" => "1".into(),
                "retention.bytes" => d.retention_bytes.to_string(),
                "retention.ms" => d.retention_ms.to_string(),
                "segment.bytes" => d.segment_bytes.to_string(),
                "segment.index.bytes" => d.segment_index_bytes.to_string(),
                "segment.ms" => d.segment_ms.to_string(),
                _ => String::new(),
            }
        };
        TOPIC_CONFIGS
            .iter()
            .map(|&n| match self.overrides.get(n) {
                Some(v) => (n.to_string(), v.clone(), true),
                None => (n.to_string(), default_of(n), false),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_kafka() {
        let c = BrokerConfig::default();
        assert_eq!(c.node_id, 1);
        assert_eq!(c.listen, "localhost:9092");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.log_defaults.segment_bytes, 1 << 30);
        assert_eq!(c.log_defaults.retention_ms, 168 * 3_600_000);
        assert_eq!(c.log_defaults.max_message_bytes, 1_048_588);
        assert_eq!(c.socket_request_max_bytes, 100 * 1024 * 1024);
        assert_eq!(c.log_defaults.flush_ms, i64::MAX);
        assert!(c.auto_create_topics);
    }

    #[test]
    fn set_and_precedence() {
        let mut b = ConfigBuilder::default();
        b.set_pair("num.partitions=4").unwrap();
        b.set_pair("log.retention.hours=1").unwrap();
        b.set_pair("log.retention.ms=60000").unwrap();
        b.set_pair("auto.create.topics.enable=false").unwrap();
        let c = b.build().unwrap();
        assert_eq!(c.num_partitions, 4);
        assert_eq!(c.log_defaults.retention_ms, 60_000);
        assert!(!c.auto_create_topics);
    }

    #[test]
    fn refuses_unknown_and_bad_values() {
        let mut b = ConfigBuilder::default();
        assert!(matches!(
            b.set_pair("no.such.thing=1"),
            Err(ConfigError::Unknown(_))
        ));
        b.set_pair("num.partitions=zero").unwrap();
        let e = b.build().unwrap_err().to_string();
        assert!(e.contains("num.partitions"), "{e}");
        let mut b = ConfigBuilder::default();
        b.set_pair("num.partitions=0").unwrap();
        assert!(b.build().is_err());
        let mut b = ConfigBuilder::default();
        b.set_pair("log.message.timestamp.type=Whenever").unwrap();
        assert!(b.build().is_err());
        let mut b = ConfigBuilder::default();
        b.set_pair("listeners=nohost").unwrap();
        assert!(b.build().is_err());
    }

    #[test]
    fn toml_dotted_keys() {
        let mut b = ConfigBuilder::default();
        b.apply_toml("num.partitions = 3\nlog.segment.bytes = 1048576\nlisteners = \"PLAINTEXT://127.0.0.1:9999\"\n", "t")
            .unwrap();
        let c = b.build().unwrap();
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.log_defaults.segment_bytes, 1_048_576);
        assert_eq!(c.listen, "127.0.0.1:9999");
        let mut b = ConfigBuilder::default();
        assert!(b.apply_toml("bogus.name = 1\n", "t").is_err());
        assert!(b.apply_toml("num.partitions = [1]\n", "t").is_err());
    }

    #[test]
    fn example_file_lists_every_property_with_its_default() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/broker.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let mut b = ConfigBuilder::default();
        b.apply_toml(&text, path).unwrap();
        assert_eq!(
            b.build().unwrap(),
            BrokerConfig::default(),
            "config/broker.toml must hold the defaults"
        );
        for p in PROPERTIES {
            assert!(
                text.contains(p.name),
                "config/broker.toml does not document {}",
                p.name
            );
        }
    }

    #[test]
    fn compaction_configs() {
        let b = BrokerConfig::default();
        assert!(b.cleaner_enable);
        assert_eq!(b.cleaner_backoff_ms, 15_000);
        assert_eq!(b.log_defaults.cleanup_policy, CleanupPolicy::DELETE);
        assert_eq!(b.log_defaults.delete_retention_ms, 86_400_000);
        assert_eq!(b.log_defaults.max_compaction_lag_ms, i64::MAX);
        for (text, policy) in [
            ("delete", CleanupPolicy::DELETE),
            ("compact", CleanupPolicy::COMPACT),
            ("compact,delete", CleanupPolicy::COMPACT_DELETE),
            ("delete, compact", CleanupPolicy::COMPACT_DELETE),
        ] {
            let t = TopicConfig::from_overrides([("cleanup.policy", Some(text))], &b).unwrap();
            assert_eq!(
                t.log_config(&b.log_defaults).unwrap().cleanup_policy,
                policy
            );
        }
        assert!(TopicConfig::from_overrides([("cleanup.policy", Some("shred"))], &b).is_err());
        let t = TopicConfig::from_overrides(
            [
                ("min.cleanable.dirty.ratio", Some("0.01")),
                ("delete.retention.ms", Some("500")),
                ("min.compaction.lag.ms", Some("10")),
                ("max.compaction.lag.ms", Some("20")),
            ],
            &b,
        )
        .unwrap();
        let l = t.log_config(&b.log_defaults).unwrap();
        assert!((l.min_cleanable_dirty_ratio - 0.01).abs() < f64::EPSILON);
        assert_eq!(
            (
                l.delete_retention_ms,
                l.min_compaction_lag_ms,
                l.max_compaction_lag_ms
            ),
            (500, 10, 20)
        );
        assert!(
            TopicConfig::from_overrides([("min.cleanable.dirty.ratio", Some("1.5"))], &b).is_err()
        );
        let lags = [
            ("min.compaction.lag.ms", Some("30")),
            ("max.compaction.lag.ms", Some("20")),
        ];
        assert!(TopicConfig::from_overrides(lags, &b).is_err());
        let mut builder = ConfigBuilder::default();
        builder
            .set_pair("log.cleanup.policy=compact,delete")
            .unwrap();
        let c = builder.build().unwrap();
        assert_eq!(c.log_defaults.cleanup_policy, CleanupPolicy::COMPACT_DELETE);
        let described = TopicConfig::default().describe(&c.log_defaults);
        assert!(described.contains(&("cleanup.policy".into(), "compact,delete".into(), false)));
        assert_eq!(
            broker_synonym("min.cleanable.dirty.ratio"),
            Some("log.cleaner.min.cleanable.ratio")
        );
    }

    #[test]
    fn topic_overrides() {
        let b = BrokerConfig::default();
        let t = TopicConfig::from_overrides(
            [
                ("retention.ms", Some("1000")),
                ("segment.bytes", Some("2048")),
            ],
            &b,
        )
        .unwrap();
        let l = t.log_config(&b.log_defaults).unwrap();
        assert_eq!(l.retention_ms, 1000);
        assert_eq!(l.segment_bytes, 2048);
        assert!(TopicConfig::from_overrides([("retention.ms", Some("abc"))], &b).is_err());
        assert!(TopicConfig::from_overrides([("nope", Some("1"))], &b).is_err());
    }
}
