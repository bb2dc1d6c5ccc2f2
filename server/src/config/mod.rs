//! Broker configuration: Kafka's own property names, their defaults, parsing and validation.
//!
//! Settings come, in increasing priority, from the embedded defaults, a TOML file (`--config`),
//! the dedicated command-line flags (`--listen`, `--advertise`, `--data-dir`, `--node-id`) and
//! `--set NAME=VALUE`. The TOML file uses Kafka's dotted names as ordinary TOML dotted keys, so
//! `log.segment.bytes = 1048576` in the file means the same as `--set log.segment.bytes=1048576`.
//!
//! Every property is declared once, in [`properties`] (name, type, default, validation, doc);
//! this module derives from those tables the builder, the typed [`BrokerConfig`], the topic
//! overrides ([`TopicConfig`], whose defaults come from the broker's `log.*` properties, exactly
//! as in Kafka) and what DescribeConfigs reports ([`Described`]: value, source, synonyms). An
//! unknown name or a bad value is refused with a clear message before anything on disk is
//! touched.
//!
//! KRaft: `process.roles`, `node.id` and the `controller.quorum.*` settings ([`QuorumConfig`],
//! checked in [`quorum`]) follow Kafka 4.x, except that `process.roles` may be left unset, which
//! is minikafka's default: one node in both roles, a quorum of itself, with no controller
//! listener or quorum setting needed.

pub mod listeners;
pub mod properties;
pub mod quorum;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use minikafka_storage::{CleanupPolicy, LogConfig, TimestampType};

pub use listeners::{Endpoint, Listener, Listeners, SecurityProtocol};
use properties::{chain, property, topic_property, LogField};
pub use properties::{
    cleanup_policy_text, ConfigType, Property, ReplicaSelector, TopicProperty, PROPERTIES,
    TOPIC_PROPERTIES,
};
pub use quorum::{ProcessRoles, QuorumConfig, QuorumVoter};

/// A configuration error, with a message meant for the person who wrote the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A property name the broker does not know.
    #[error(
        "unknown configuration property '{0}' (see config/broker.toml for the supported names)"
    )]
    Unknown(String),
    /// A value that does not parse or is out of range (Kafka's `ConfigException` message).
    #[error("Invalid value {value} for configuration {name}: {reason}")]
    Invalid {
        /// Property name.
        name: String,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The listener settings disagree with each other (Kafka's message).
    #[error("{0}")]
    Listeners(String),
    /// The KRaft settings (`process.roles`, `node.id`/`broker.id`, `controller.quorum.*`,
    /// `controller.listener.names`) disagree with each other (Kafka's message where it has one).
    #[error("{0}")]
    Quorum(String),
    /// The TOML file could not be read or parsed.
    #[error("cannot read config file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// The broker's validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// `node.id` (or `broker.id`, its deprecated synonym).
    pub node_id: i32,
    /// SCRAM users to create at start when the metadata log has no credential for them (the
    /// command line's `--add-scram`, `kafka-storage format --add-scram`'s syntax); not a property.
    pub add_scram: Vec<crate::sasl::scram::BootstrapScram>,
    /// `listeners`, `advertised.listeners` and the settings that name listeners; this node's
    /// controller listener is [`Listeners::controller`].
    pub listeners: Listeners,
    /// `process.roles`, `controller.quorum.*` and `metadata.log.dir`.
    pub quorum: QuorumConfig,
    /// `broker.session.timeout.ms`: how long a broker's lease lasts without heartbeats.
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms`: time between a broker's heartbeats to the controller.
    pub broker_heartbeat_interval_ms: u64,
    /// `broker.rack`.
    pub broker_rack: Option<String>,
    /// `authorizer.class.name` set: the ACL authorizer with `super.users` and
    /// `allow.everyone.if.no.acl.found` (issue 14); `None`: no authorization.
    pub authorizer: Option<crate::acl::AuthorizerSettings>,
    /// `replica.selector.class` (KIP-392).
    pub replica_selector: properties::ReplicaSelector,
    /// The first log directory (of `log.dirs`, else `log.dir`): where the metadata log lives
    /// unless `metadata.log.dir` says otherwise.
    pub data_dir: PathBuf,
    /// Every log directory: `log.dirs` (comma-separated) when set, else `log.dir`, else
    /// `./data`; `data_dir` is the first.
    pub log_dirs: Vec<PathBuf>,
    /// `num.partitions`.
    pub num_partitions: i32,
    /// `max.partitions` (minikafka only).
    pub max_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `delete.topic.enable`.
    pub delete_topic_enable: bool,
    /// `replica.fetch.max.bytes`: record bytes a follower asks for per partition.
    pub replica_fetch_max_bytes: i32,
    /// `replication.quota.window.num`: samples of the replication throttles' rate.
    pub replication_quota_window_num: u32,
    /// `replication.quota.window.size.seconds`: length of one sample.
    pub replication_quota_window_size_seconds: u32,
    /// `replica.fetch.response.max.bytes`: record bytes a follower asks for per fetch.
    pub replica_fetch_response_max_bytes: i32,
    /// `replica.fetch.min.bytes`: bytes a follower's fetch waits for at the leader.
    pub replica_fetch_min_bytes: i32,
    /// `replica.fetch.wait.max.ms`: longest a follower's fetch waits at the leader (at most
    /// [`BrokerConfig::replica_socket_timeout_ms`] and [`BrokerConfig::replica_lag_time_max_ms`]).
    pub replica_fetch_wait_max_ms: i32,
    /// `replica.fetch.backoff.ms`: wait after a failed partition fetch.
    pub replica_fetch_backoff_ms: u64,
    /// `replica.socket.timeout.ms`: timeout of a follower's fetch request.
    pub replica_socket_timeout_ms: u64,
    /// `replica.lag.time.max.ms`: a follower not caught up for this long leaves the ISR.
    pub replica_lag_time_max_ms: u64,
    /// `num.replica.fetchers`: fetchers per source broker.
    pub num_replica_fetchers: usize,
    /// `replica.high.watermark.checkpoint.interval.ms`.
    pub replica_high_watermark_checkpoint_interval_ms: u64,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.check.interval.seconds`.
    pub leader_imbalance_check_interval_seconds: u64,
    /// `leader.imbalance.per.broker.percentage`.
    pub leader_imbalance_per_broker_percentage: i32,
    /// `socket.request.max.bytes`.
    pub socket_request_max_bytes: usize,
    /// `fetch.max.bytes`: cap on a Fetch answer's record bytes.
    pub fetch_max_bytes: usize,
    /// `fetch.zero.copy.min.bytes` (minikafka only).
    pub fetch_zero_copy_min_bytes: usize,
    /// `max.connections`.
    pub max_connections: usize,
    /// `max.connections.per.ip`.
    pub max_connections_per_ip: usize,
    /// `max.connections.per.ip.overrides`: (host name or IP address, count), in the given order.
    pub max_connections_per_ip_overrides: Vec<(String, usize)>,
    /// `connections.max.idle.ms`; `None` (a negative value) = never.
    pub connections_max_idle_ms: Option<u64>,
    /// `queued.max.request.bytes`; `None` (zero or negative) = unbounded.
    pub queued_max_request_bytes: Option<usize>,
    /// `log.max.open.segment.files` (minikafka only), with 0 resolved from the open-file limit.
    pub max_open_segment_files: usize,
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
    /// `offsets.topic.replication.factor` (the asked for; see `Topics::ensure_internal`).
    pub offsets_topic_replication_factor: i16,
    /// `transaction.state.log.replication.factor`.
    pub transaction_state_replication_factor: i16,
    /// `transaction.state.log.min.isr`: the `min.insync.replicas` given to `__transaction_state` at its
    /// creation, capped at its replication factor.
    pub transaction_state_min_isr: i32,
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
    /// `log.cleaner.dedupe.buffer.size`.
    pub cleaner_dedupe_buffer_size: usize,
    /// Topic defaults derived from the `log.*` and `message.max.bytes` properties.
    pub log_defaults: LogConfig,
    /// Every property's effective text, by Kafka name (empty for a property with no value).
    pub values: BTreeMap<String, String>,
    /// The properties set at start (file, flags, `--set`), even to their default value, plus
    /// `node.id` or `broker.id` when only its synonym was set (Kafka's `populateSynonyms`):
    /// DescribeConfigs reports them as `STATIC_BROKER_CONFIG`, the others as `DEFAULT_CONFIG`.
    pub set_at_start: BTreeSet<String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        // The defaults are constants checked by the unit tests below.
        ConfigBuilder::default()
            .build()
            .unwrap_or_else(|e| panic!("built-in defaults are invalid: {e}"))
    }
}

/// Accumulates `name = value` settings in priority order, then validates them into a
/// [`BrokerConfig`].
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder {
    /// Only what was set; the defaults come from [`PROPERTIES`] at [`ConfigBuilder::build`].
    set: BTreeMap<String, String>,
}

impl ConfigBuilder {
    /// Set one property by its Kafka name; unknown names are refused at once.
    pub fn set(&mut self, name: &str, value: &str) -> Result<&mut Self, ConfigError> {
        let name = name.trim();
        if let Some((_, p)) = properties::listener_override(name) {
            check(p, value.trim())?;
        } else if property(name).is_none() {
            return Err(ConfigError::Unknown(name.to_string()));
        }
        self.set.insert(name.to_string(), value.trim().to_string());
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
        let mut values = BTreeMap::new();
        let mut set_at_start = BTreeSet::new();
        for p in PROPERTIES {
            // An empty value for a property without a default leaves it unset, as before.
            let given = self
                .set
                .get(p.name)
                .filter(|v| !v.is_empty() || p.default.is_some());
            let value = match given {
                Some(v) => {
                    set_at_start.insert(p.name.to_string());
                    v.clone()
                }
                None => p.default.unwrap_or("").to_string(),
            };
            if given.is_some() || p.default.is_some() {
                check(p, &value)?;
            }
            values.insert(p.name.to_string(), value);
        }
        // Per-listener overrides (`listener.name.<listener>.ssl.*`) keep their full names.
        for (name, value) in &self.set {
            if properties::listener_override(name).is_some() {
                set_at_start.insert(name.clone());
                values.insert(name.clone(), value.clone());
            }
        }
        BrokerConfig::from_values(values, set_at_start)
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

/// Validate `value` by the declaration of `p`.
fn check(p: &Property, value: &str) -> Result<(), ConfigError> {
    if p.check == properties::Check::ProcessRoles {
        // Kafka names the offending role, not the whole list (or gives a message of its own).
        return quorum::parse_roles(value).map(drop);
    }
    match p.check.reason(value) {
        Some(reason) => Err(invalid(p.name, value, reason)),
        None => Ok(()),
    }
}

/// Parse a timestamp type name as Kafka spells it.
pub fn parse_timestamp_type(name: &str, value: &str) -> Result<TimestampType, ConfigError> {
    let mut c = LogConfig::default();
    LogField::TimestampType
        .set(&mut c, value)
        .map_err(|_| invalid(name, value, "expected CreateTime or LogAppendTime"))?;
    Ok(c.timestamp_type)
}

/// Parse `cleanup.policy`: `delete`, `compact`, or both comma-separated in either order (Kafka's list type).
pub fn parse_cleanup_policy(name: &str, value: &str) -> Result<CleanupPolicy, ConfigError> {
    properties::cleanup_policy(value)
        .ok_or_else(|| invalid(name, value, "expected delete, compact or compact,delete"))
}

/// Typed reads of validated property values.
struct Values<'a>(&'a BTreeMap<String, String>);

impl Values<'_> {
    fn text(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    fn opt(&self, name: &str) -> Option<&str> {
        Some(self.text(name)).filter(|v| !v.is_empty())
    }

    /// An integer property, in the type of its field (its check bounds it to that type).
    fn int<T: TryFrom<i128>>(&self, name: &str) -> Result<T, ConfigError> {
        let v = self.text(name);
        v.parse::<i128>()
            .ok()
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| invalid(name, v, "out of range"))
    }

    fn bool(&self, name: &str) -> bool {
        self.text(name).eq_ignore_ascii_case("true")
    }

    /// The first set property of a synonym chain, in the first one's unit.
    fn chained_ms(&self, primary: &'static str) -> Result<Option<i64>, ConfigError> {
        for (name, factor) in chain(primary) {
            if self.opt(name).is_some() {
                return Ok(Some(self.int::<i64>(name)?.saturating_mul(factor)));
            }
        }
        Ok(None)
    }
}

/// The connection limits, with Kafka's cross-checks (`KafkaConfig.validateValues`):
/// `max.connections.per.ip` may be 0 only with overrides, and a bounded
/// `queued.max.request.bytes` must hold at least one request of `socket.request.max.bytes`.
#[allow(clippy::type_complexity)]
fn connection_limits(
    v: &Values<'_>,
) -> Result<(usize, Vec<(String, usize)>, Option<usize>), ConfigError> {
    let per_ip: usize = v.int("max.connections.per.ip")?;
    let overrides_text = v.text("max.connections.per.ip.overrides");
    let overrides = properties::host_counts(overrides_text)
        .map_err(|reason| invalid("max.connections.per.ip.overrides", overrides_text, reason))?;
    if per_ip == 0 && overrides.is_empty() {
        return Err(invalid(
            "max.connections.per.ip",
            "0",
            "can be set to zero only if max.connections.per.ip.overrides is set",
        ));
    }
    let queued = v.int::<i64>("queued.max.request.bytes")?;
    let queued = usize::try_from(queued).ok().filter(|&q| q > 0);
    let request_max: usize = v.int("socket.request.max.bytes")?;
    if let Some(q) = queued.filter(|&q| q < request_max) {
        return Err(invalid(
            "queued.max.request.bytes",
            &q.to_string(),
            format!("must be larger or equal to socket.request.max.bytes ({request_max})"),
        ));
    }
    Ok((per_ip, overrides, queued))
}

/// Kafka's cross-checks of the follower's fetch timings (`KafkaConfig.validateValues`): a fetch may
/// not wait longer than its socket timeout, nor than a follower may lag before it leaves the ISR.
fn check_replica_fetch_wait(v: &Values<'_>) -> Result<(), ConfigError> {
    let wait = v.int::<i64>("replica.fetch.wait.max.ms")?;
    for (other, why) in [
        (
            "replica.socket.timeout.ms",
            "to prevent unnecessary socket timeouts",
        ),
        (
            "replica.lag.time.max.ms",
            "to prevent frequent changes in ISR",
        ),
    ] {
        let bound = v.int::<i64>(other)?;
        if wait > bound {
            return Err(invalid(
                "replica.fetch.wait.max.ms",
                v.text("replica.fetch.wait.max.ms"),
                format!("must be at most {other} ({bound}) {why}"),
            ));
        }
    }
    Ok(())
}

/// The log directories (Kafka's `KafkaConfig.logDirs`): `log.dirs` when set, else `log.dir`,
/// else the default `./data`. The same directory twice is refused, as Kafka refuses it.
fn log_dirs(v: &Values<'_>, set_at_start: &BTreeSet<String>) -> Result<Vec<PathBuf>, ConfigError> {
    let (name, text) = match v.opt("log.dir") {
        Some(dir) if !set_at_start.contains("log.dirs") => ("log.dir", dir),
        _ => ("log.dirs", v.text("log.dirs")),
    };
    let mut dirs: Vec<PathBuf> = Vec::new();
    for d in text.split(',').map(str::trim) {
        let path = PathBuf::from(d);
        let absolute = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        if dirs
            .iter()
            .any(|o| std::path::absolute(o).unwrap_or_else(|_| o.clone()) == absolute)
        {
            return Err(invalid(name, text, format!("{d} is listed twice")));
        }
        dirs.push(path);
    }
    if dirs.is_empty() {
        return Err(invalid(name, text, "must not be empty"));
    }
    Ok(dirs)
}

/// The default of `log.max.open.segment.files`: half of the soft `RLIMIT_NOFILE` (the other half is left to
/// connections and everything else), at least 64; with no limit, 2^20.
fn auto_max_open_segment_files() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    soft.map_or(1 << 20, |n| usize::try_from(n / 2).unwrap_or(usize::MAX))
        .max(64)
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

impl BrokerConfig {
    /// Where the cluster metadata log lives: `metadata.log.dir`, else the data directory.
    pub fn metadata_log_dir(&self) -> &Path {
        self.quorum
            .metadata_log_dir
            .as_deref()
            .unwrap_or(&self.data_dir)
    }

    /// Build from every property's validated text, then check properties against each other.
    fn from_values(
        mut values: BTreeMap<String, String>,
        mut set_at_start: BTreeSet<String>,
    ) -> Result<Self, ConfigError> {
        quorum::node_id_synonyms(&mut values, &mut set_at_start)?;
        let v = Values(&values);
        // The topic defaults: each topic config's broker synonym (or its chain, for times).
        let mut log_defaults = LogConfig::default();
        for t in TOPIC_PROPERTIES {
            let text = match t.field {
                LogField::InternalSegmentBytes => match v.opt(t.synonym) {
                    Some(text) => text.to_string(),
                    None => continue,
                },
                LogField::FlushMs => v.chained_ms(t.synonym)?.unwrap_or(i64::MAX).to_string(),
                LogField::RetentionMs | LogField::SegmentMs => {
                    v.chained_ms(t.synonym)?.unwrap_or_default().to_string()
                }
                _ => v.text(t.synonym).to_string(),
            };
            t.field
                .set(&mut log_defaults, &text)
                .map_err(|reason| invalid(t.synonym, &text, reason))?;
        }
        check_compaction_lags(&log_defaults, "log.cleaner.min.compaction.lag.ms")?;
        // Kafka checks the KIP-848 timings against their bounds and against each other.
        let bounded = |name: &str, min: &str, max: &str| -> Result<i32, ConfigError> {
            let (n, lo, hi) = (v.int::<i32>(name)?, v.int::<i32>(min)?, v.int::<i32>(max)?);
            if n < lo || n > hi {
                return Err(invalid(
                    name,
                    v.text(name),
                    format!("must be between {min} ({lo}) and {max} ({hi})"),
                ));
            }
            Ok(n)
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
                v.text("group.consumer.heartbeat.interval.ms"),
                "must be lower than group.consumer.session.timeout.ms",
            ));
        }
        let (max_connections_per_ip, max_connections_per_ip_overrides, queued_max_request_bytes) =
            connection_limits(&v)?;
        check_replica_fetch_wait(&v)?;
        let node_id = v.int("node.id")?;
        let quorum = QuorumConfig {
            election_timeout_ms: v.int("controller.quorum.election.timeout.ms")?,
            election_backoff_max_ms: v.int("controller.quorum.election.backoff.max.ms")?,
            fetch_timeout_ms: v.int("controller.quorum.fetch.timeout.ms")?,
            request_timeout_ms: v.int("controller.quorum.request.timeout.ms")?,
            retry_backoff_ms: v.int("controller.quorum.retry.backoff.ms")?,
            metadata_log_dir: v.opt("metadata.log.dir").map(PathBuf::from),
            ..quorum::resolve(&quorum::QuorumSettings {
                node_id,
                roles: v.opt("process.roles"),
                voters: v.text("controller.quorum.voters"),
                bootstrap_servers: v.text("controller.quorum.bootstrap.servers"),
                controller_names: v.opt("controller.listener.names"),
            })?
        };
        let broker_session_timeout_ms = v.int("broker.session.timeout.ms")?;
        let broker_heartbeat_interval_ms = v.int("broker.heartbeat.interval.ms")?;
        quorum::check_heartbeat(broker_heartbeat_interval_ms, broker_session_timeout_ms);
        let listeners = Listeners::resolve(&listeners::ListenerSettings {
            listeners: v.text("listeners"),
            advertised: v.opt("advertised.listeners"),
            protocol_map: v.text("listener.security.protocol.map"),
            protocol_map_set: set_at_start.contains("listener.security.protocol.map"),
            inter_broker_name: v.opt("inter.broker.listener.name"),
            inter_broker_protocol: v.text("security.inter.broker.protocol"),
            inter_broker_protocol_set: set_at_start.contains("security.inter.broker.protocol"),
            controller_names: v.opt("controller.listener.names"),
            roles: quorum.roles,
        })
        .map_err(ConfigError::Listeners)?;
        let log_dirs = log_dirs(&v, &set_at_start)?;
        Ok(BrokerConfig {
            add_scram: Vec::new(),
            node_id,
            listeners,
            quorum,
            broker_session_timeout_ms,
            broker_heartbeat_interval_ms,
            broker_rack: v
                .opt("broker.rack")
                .filter(|r| !r.is_empty())
                .map(str::to_string),
            authorizer: (!v.text("authorizer.class.name").is_empty()).then(|| {
                crate::acl::AuthorizerSettings {
                    super_users: v
                        .text("super.users")
                        .split(';')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_string)
                        .collect(),
                    allow_everyone_if_no_acl_found: v.bool("allow.everyone.if.no.acl.found"),
                }
            }),
            replica_selector: properties::ReplicaSelector::parse(v.text("replica.selector.class"))
                .map_err(|reason| {
                    invalid(
                        "replica.selector.class",
                        v.text("replica.selector.class"),
                        reason,
                    )
                })?,
            data_dir: log_dirs[0].clone(),
            log_dirs,
            num_partitions: v.int("num.partitions")?,
            max_partitions: v.int("max.partitions")?,
            default_replication_factor: v.int("default.replication.factor")?,
            auto_create_topics: v.bool("auto.create.topics.enable"),
            delete_topic_enable: v.bool("delete.topic.enable"),
            replica_fetch_max_bytes: v.int("replica.fetch.max.bytes")?,
            replication_quota_window_num: v.int("replication.quota.window.num")?,
            replication_quota_window_size_seconds: v
                .int("replication.quota.window.size.seconds")?,
            replica_fetch_response_max_bytes: v.int("replica.fetch.response.max.bytes")?,
            replica_fetch_min_bytes: v.int("replica.fetch.min.bytes")?,
            replica_fetch_wait_max_ms: v.int("replica.fetch.wait.max.ms")?,
            replica_fetch_backoff_ms: v.int("replica.fetch.backoff.ms")?,
            replica_socket_timeout_ms: v.int("replica.socket.timeout.ms")?,
            replica_lag_time_max_ms: v.int("replica.lag.time.max.ms")?,
            num_replica_fetchers: v.int("num.replica.fetchers")?,
            replica_high_watermark_checkpoint_interval_ms: v
                .int("replica.high.watermark.checkpoint.interval.ms")?,
            auto_leader_rebalance_enable: v.bool("auto.leader.rebalance.enable"),
            leader_imbalance_check_interval_seconds: v
                .int("leader.imbalance.check.interval.seconds")?,
            leader_imbalance_per_broker_percentage: v
                .int("leader.imbalance.per.broker.percentage")?,
            socket_request_max_bytes: v.int("socket.request.max.bytes")?,
            fetch_max_bytes: v.int("fetch.max.bytes")?,
            fetch_zero_copy_min_bytes: v.int("fetch.zero.copy.min.bytes")?,
            max_connections: v.int("max.connections")?,
            max_connections_per_ip,
            max_connections_per_ip_overrides,
            connections_max_idle_ms: u64::try_from(v.int::<i64>("connections.max.idle.ms")?).ok(),
            queued_max_request_bytes,
            max_open_segment_files: match v.int("log.max.open.segment.files")? {
                0 => auto_max_open_segment_files(),
                n => n,
            },
            retention_check_interval_ms: v.int("log.retention.check.interval.ms")?,
            flush_scheduler_interval_ms: v.int("log.flush.scheduler.interval.ms")?,
            producer_id_expiration_ms: v.int("producer.id.expiration.ms")?,
            max_fetch_sessions: v.int("max.incremental.fetch.session.cache.slots")?,
            producer_id_expiration_check_interval_ms: v
                .int("producer.id.expiration.check.interval.ms")?,
            group_min_session_timeout_ms: v.int("group.min.session.timeout.ms")?,
            group_max_session_timeout_ms: v.int("group.max.session.timeout.ms")?,
            group_initial_rebalance_delay_ms: v.int("group.initial.rebalance.delay.ms")?,
            group_max_size: v.int("group.max.size")?,
            group_consumer_session_timeout_ms: consumer_session,
            group_consumer_heartbeat_interval_ms: consumer_heartbeat,
            group_consumer_max_size: v.int("group.consumer.max.size")?,
            offsets_topic_num_partitions: v.int("offsets.topic.num.partitions")?,
            offsets_topic_replication_factor: v.int("offsets.topic.replication.factor")?,
            transaction_state_replication_factor: v
                .int("transaction.state.log.replication.factor")?,
            transaction_state_min_isr: v.int("transaction.state.log.min.isr")?,
            transaction_max_timeout_ms: v.int("transaction.max.timeout.ms")?,
            transaction_abort_interval_ms: v
                .int("transaction.abort.timed.out.transaction.cleanup.interval.ms")?,
            transactional_id_expiration_ms: v.int("transactional.id.expiration.ms")?,
            transaction_state_num_partitions: v.int("transaction.state.log.num.partitions")?,
            transaction_state_segment_bytes: v.int("transaction.state.log.segment.bytes")?,
            offsets_topic_segment_bytes: v.int("offsets.topic.segment.bytes")?,
            offsets_retention_ms: v
                .int::<i64>("offsets.retention.minutes")?
                .saturating_mul(60_000),
            offsets_retention_check_interval_ms: v.int("offsets.retention.check.interval.ms")?,
            offset_metadata_max_bytes: v.int("offset.metadata.max.bytes")?,
            cleaner_enable: v.bool("log.cleaner.enable"),
            cleaner_backoff_ms: v.int("log.cleaner.backoff.ms")?,
            cleaner_dedupe_buffer_size: v.int("log.cleaner.dedupe.buffer.size")?,
            log_defaults,
            values,
            set_at_start,
        })
    }

    /// Every broker property as DescribeConfigs reports it for this broker (read-only: minikafka
    /// has no dynamic broker configs).
    pub fn describe(&self) -> Vec<Described> {
        PROPERTIES
            .iter()
            .filter(|p| !is_internal(p.name) || self.set_at_start.contains(p.name))
            .map(|p| {
                let synonyms = self.synonyms(p.name);
                Described {
                    name: p.name,
                    value: self.values.get(p.name).filter(|v| !v.is_empty()).cloned(),
                    source: synonyms.first().map_or(Source::Default, |s| s.source),
                    synonyms,
                    kind: p.kind,
                    doc: p.doc,
                    read_only: true,
                }
            })
            .collect()
    }

    /// Kafka's `ConfigHelper.configSynonyms` without the dynamic levels: the static settings of
    /// `name`'s chain, then its defaults, starting at `name` itself (so `log.retention.hours`
    /// does not list a `log.retention.ms` set beside it, and an unset `log.retention.ms` has no
    /// synonyms at all).
    fn synonyms(&self, name: &'static str) -> Vec<Synonym> {
        let chain = chain(name);
        let set = chain
            .iter()
            .filter(|(n, _)| self.set_at_start.contains(*n))
            .map(|&(n, _)| Synonym {
                name: n,
                value: self.values.get(n).cloned(),
                source: Source::StaticBroker,
            });
        let defaults = chain.iter().filter_map(|&(n, _)| {
            let p = property(n)?;
            Some(Synonym {
                name: n,
                value: Some(p.default?.to_string()),
                source: Source::Default,
            })
        });
        set.chain(defaults).skip_while(|s| s.name != name).collect()
    }
}

/// Where a described value comes from (Kafka's `DescribeConfigsResponse.ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `DYNAMIC_TOPIC_CONFIG` (1): a topic override, set at creation or altered since.
    DynamicTopic,
    /// `DYNAMIC_BROKER_CONFIG` (2): a dynamic config of this broker (metadata log).
    DynamicBroker,
    /// `DYNAMIC_DEFAULT_BROKER_CONFIG` (3): a dynamic config of every broker (metadata log).
    DynamicDefaultBroker,
    /// `STATIC_BROKER_CONFIG` (4): set at start (file, flags, `--set`).
    StaticBroker,
    /// `DEFAULT_CONFIG` (5): nobody set it.
    Default,
}

impl Source {
    /// The id on the wire.
    pub fn id(self) -> i8 {
        match self {
            Source::DynamicTopic => 1,
            Source::DynamicBroker => 2,
            Source::DynamicDefaultBroker => 3,
            Source::StaticBroker => 4,
            Source::Default => 5,
        }
    }
}

/// One synonym of a described config: a setting that gives (or would give) its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    /// The setting's name (the config itself, or a broker property).
    pub name: &'static str,
    /// Its value; `None` for Kafka's null.
    pub value: Option<String>,
    /// Where it comes from.
    pub source: Source,
}

/// One config as DescribeConfigs reports it, derived from its declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// Kafka's name.
    pub name: &'static str,
    /// The effective value; `None` for a property without one.
    pub value: Option<String>,
    /// Where the value comes from: the first synonym's source, or `Default` when there is none.
    pub source: Source,
    /// Every setting that gives it, most specific first (Kafka's order).
    pub synonyms: Vec<Synonym>,
    /// Kafka's type.
    pub kind: ConfigType,
    /// The declaration's doc.
    pub doc: &'static str,
    /// Whether it can be altered at run time.
    pub read_only: bool,
}

/// Whether `name` is a test-only setting (`internal.segment.bytes`, `log.internal.segment.bytes`):
/// DescribeConfigs lists it only where it is set, as Kafka hides its internal configs.
fn is_internal(name: &str) -> bool {
    name.starts_with("internal.") || name.starts_with("log.internal.")
}

/// The broker property that supplies a topic config's default, as Kafka names its synonym.
pub fn broker_synonym(topic_config: &str) -> Option<&'static str> {
    topic_property(topic_config).map(|t| t.synonym)
}

/// A topic's own overrides (only what was set explicitly), validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    /// Explicit overrides by Kafka name; absent names use the broker defaults.
    pub overrides: BTreeMap<String, String>,
    /// Overrides persisted by an older broker that today's bounds refuse (e.g. `segment.bytes`
    /// below 1 MiB), kept as they are so that the topic keeps working; a change to one of them
    /// is validated normally. See [`TopicConfig::from_persisted`].
    pub grandfathered: BTreeSet<String>,
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
            if topic_property(name).is_none() {
                return Err(ConfigError::Unknown(name.to_string()));
            }
            overrides.insert(name.to_string(), value.to_string());
        }
        let cfg = TopicConfig {
            overrides,
            grandfathered: BTreeSet::new(),
        };
        cfg.log_config(&broker.log_defaults)?;
        Ok(cfg)
    }

    /// The overrides of `topic` as persisted in the data directory. A value that parses but is
    /// outside today's bounds (written before they existed) is kept with a WARN naming the topic
    /// and the key, so the topic keeps working; anything else invalid is an error.
    pub fn from_persisted<'a>(
        topic: &str,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        broker: &BrokerConfig,
    ) -> Result<TopicConfig, ConfigError> {
        let mut cfg = TopicConfig::default();
        for (name, value) in pairs {
            let t = topic_property(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
            if let Some(reason) = t.base().check.reason(value) {
                let mut scratch = broker.log_defaults.clone();
                t.field
                    .set(&mut scratch, value)
                    .map_err(|_| invalid(name, value, reason.clone()))?;
                tracing::warn!(
                    topic,
                    key = name,
                    value,
                    reason = %reason,
                    "persisted topic config is outside today's bounds; kept as it is (new topics and changes are refused)"
                );
                cfg.grandfathered.insert(name.to_string());
            }
            cfg.overrides.insert(name.to_string(), value.to_string());
        }
        cfg.log_config(&broker.log_defaults)?;
        Ok(cfg)
    }

    /// A changed set of overrides for this topic, validated as [`TopicConfig::from_overrides`]
    /// does, except that a grandfathered value left unchanged stays accepted.
    pub fn altered(
        &self,
        overrides: &BTreeMap<String, String>,
        broker: &BrokerConfig,
    ) -> Result<TopicConfig, ConfigError> {
        let mut cfg = TopicConfig::from_overrides(
            overrides
                .iter()
                .filter(|(k, v)| !self.keeps(k, v))
                .map(|(k, v)| (k.as_str(), Some(v.as_str()))),
            broker,
        )?;
        for (k, v) in overrides {
            if self.keeps(k, v) {
                cfg.overrides.insert(k.clone(), v.clone());
                cfg.grandfathered.insert(k.clone());
            }
        }
        cfg.log_config(&broker.log_defaults)?;
        Ok(cfg)
    }

    /// Whether `name = value` is a grandfathered override of this topic, unchanged.
    fn keeps(&self, name: &str, value: &str) -> bool {
        self.grandfathered.contains(name)
            && self.overrides.get(name).map(String::as_str) == Some(value)
    }

    /// The effective storage settings: broker defaults overlaid with this topic's overrides.
    pub fn log_config(&self, defaults: &LogConfig) -> Result<LogConfig, ConfigError> {
        let mut c = defaults.clone();
        for (name, value) in &self.overrides {
            let t = topic_property(name).ok_or_else(|| ConfigError::Unknown(name.clone()))?;
            if let Some(reason) = t.base().check.reason(value) {
                if !self.grandfathered.contains(name) {
                    return Err(invalid(name, value, reason));
                }
            }
            t.field
                .set(&mut c, value)
                .map_err(|reason| invalid(name, value, reason))?;
        }
        check_compaction_lags(&c, "min.compaction.lag.ms")?;
        Ok(c)
    }

    /// Whether DescribeConfigs lists `t`: a test-only setting only where it is set.
    fn listed(&self, t: &TopicProperty, defaults: &LogConfig) -> bool {
        !is_internal(t.name)
            || self.overrides.contains_key(t.name)
            || t.field.text(defaults).is_some()
    }

    /// Every topic config with its effective value and whether it was set on the topic.
    pub fn describe(&self, defaults: &LogConfig) -> Vec<(String, String, bool)> {
        TOPIC_PROPERTIES
            .iter()
            .filter(|t| self.listed(t, defaults))
            .map(|t| match self.overrides.get(t.name) {
                Some(v) => (t.name.to_string(), v.clone(), true),
                None => (t.name.to_string(), default_text(t, defaults), false),
            })
            .collect()
    }

    /// Every topic config as DescribeConfigs reports it: Kafka's
    /// `ConfigHelper.createTopicConfigEntry`, i.e. the topic override (if any) followed by its
    /// broker synonym's chain.
    pub fn describe_configs(&self, broker: &BrokerConfig) -> Vec<Described> {
        TOPIC_PROPERTIES
            .iter()
            .filter(|t| self.listed(t, &broker.log_defaults))
            .map(|t| {
                let base = t.base();
                let mut synonyms = broker.synonyms(t.synonym);
                let value = match self.overrides.get(t.name) {
                    Some(v) => {
                        synonyms.insert(
                            0,
                            Synonym {
                                name: t.name,
                                value: Some(v.clone()),
                                source: Source::DynamicTopic,
                            },
                        );
                        v.clone()
                    }
                    None => default_text(t, &broker.log_defaults),
                };
                Described {
                    name: t.name,
                    value: Some(value),
                    source: synonyms.first().map_or(Source::Default, |s| s.source),
                    synonyms,
                    kind: base.kind,
                    doc: t.doc,
                    read_only: false,
                }
            })
            .collect()
    }
}

/// A topic config's value when the topic does not override it.
fn default_text(t: &TopicProperty, defaults: &LogConfig) -> String {
    t.field
        .text(defaults)
        .unwrap_or_else(|| t.base().default.unwrap_or("").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_kafka() {
        let c = BrokerConfig::default();
        assert_eq!(c.node_id, 1);
        let l = &c.listeners.all[0];
        assert_eq!(
            (l.bind.host_port(), l.bind.name.as_str()),
            ("localhost:9092".into(), "PLAINTEXT")
        );
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.log_defaults.segment_bytes, 1 << 30);
        assert_eq!(c.log_defaults.retention_ms, 168 * 3_600_000);
        assert_eq!(c.log_defaults.max_message_bytes, 1_048_588);
        assert_eq!(c.socket_request_max_bytes, 100 * 1024 * 1024);
        assert_eq!(c.log_defaults.flush_ms, i64::MAX);
        assert!(c.auto_create_topics);
    }

    /// Build from `NAME=VALUE` pairs.
    #[test]
    fn log_dirs_overrides_log_dir_as_in_kafka() {
        let c = build(&["log.dirs=/d1, /d2"]).unwrap();
        assert_eq!(c.log_dirs, vec![PathBuf::from("/d1"), PathBuf::from("/d2")]);
        assert_eq!(c.data_dir, PathBuf::from("/d1"));
        assert_eq!(c.metadata_log_dir(), Path::new("/d1"));
        let c = build(&["log.dir=/only"]).unwrap();
        assert_eq!(c.log_dirs, vec![PathBuf::from("/only")]);
        let c = build(&["log.dir=/only", "log.dirs=/a,/b"]).unwrap();
        assert_eq!(c.log_dirs, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert!(
            build(&["log.dirs=/a,/a"]).is_err(),
            "the same directory twice"
        );
        let mut b = ConfigBuilder::default();
        let refused = b.set_pair("log.dirs=/a,,/b").is_err() || b.build().is_err();
        assert!(refused, "an empty entry");
    }

    fn build(pairs: &[&str]) -> Result<BrokerConfig, ConfigError> {
        let mut b = ConfigBuilder::default();
        for p in pairs {
            b.set_pair(p).unwrap();
        }
        b.build()
    }

    /// The message `build` refuses these pairs with.
    fn refused(pairs: &[&str]) -> String {
        match build(pairs) {
            Ok(_) => panic!("accepted: {pairs:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn authorizer_class_super_users_and_no_acl_default() {
        assert_eq!(build(&[]).unwrap().authorizer, None);
        let c = build(&[
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users=User:admin; User:CN=broker,OU=ops;",
        ])
        .unwrap();
        let a = c.authorizer.expect("authorizer on");
        assert_eq!(a.super_users, ["User:admin", "User:CN=broker,OU=ops"]);
        assert!(!a.allow_everyone_if_no_acl_found);
        assert!(
            refused(&["authorizer.class.name=kafka.security.authorizer.AclAuthorizer"])
                .contains("authorizer.class.name")
        );
    }

    #[test]
    fn replica_selector_class_takes_kafkas_two_selectors_and_refuses_others() {
        assert_eq!(
            build(&[]).unwrap().replica_selector,
            ReplicaSelector::Leader
        );
        let rack =
            "replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector";
        assert_eq!(
            build(&[rack]).unwrap().replica_selector,
            ReplicaSelector::RackAware
        );
        let leader = "replica.selector.class=org.apache.kafka.common.replica.LeaderReplicaSelector";
        assert_eq!(
            build(&[leader]).unwrap().replica_selector,
            ReplicaSelector::Leader
        );
        let e = refused(&["replica.selector.class=com.example.NearestSelector"]);
        assert!(
            e.contains("replica.selector.class")
                && e.contains("com.example.NearestSelector")
                && e.contains("RackAwareReplicaSelector"),
            "{e}"
        );
    }

    /// A valid combined node 1 of a three-voter quorum.
    const COMBINED: [&str; 5] = [
        "process.roles=broker,controller",
        "node.id=1",
        "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
        "controller.listener.names=CONTROLLER",
        "controller.quorum.voters=1@kafka1:9093,2@kafka2:9093,3@[::1]:9093",
    ];

    /// `COMBINED` with one pair replaced (by name) or added.
    fn combined_with(pairs: &[&'static str]) -> Vec<&'static str> {
        let name = |p: &str| p.split('=').next().unwrap().to_string();
        let mut out: Vec<&str> = COMBINED
            .iter()
            .copied()
            .filter(|c| !pairs.iter().any(|p| name(p) == name(c)))
            .collect();
        out.extend(pairs.iter().copied().filter(|p| !p.ends_with("=<unset>")));
        out
    }

    #[test]
    fn kraft_defaults_follow_kafka_and_leave_process_roles_unset() {
        let c = BrokerConfig::default();
        assert_eq!(c.quorum.roles, ProcessRoles::IMPLIED);
        assert!(c.quorum.voters.is_empty() && c.quorum.bootstrap_servers.is_empty());
        assert_eq!(
            (
                c.quorum.election_timeout_ms,
                c.quorum.fetch_timeout_ms,
                c.quorum.election_backoff_max_ms,
                c.quorum.request_timeout_ms,
                c.quorum.retry_backoff_ms
            ),
            (1_000, 2_000, 1_000, 2_000, 20)
        );
        assert_eq!(
            (c.broker_session_timeout_ms, c.broker_heartbeat_interval_ms),
            (9_000, 2_000)
        );
        assert!(c.quorum.single_node());
        assert_eq!(c.quorum.metadata_log_dir, None);
        assert_eq!(c.metadata_log_dir(), Path::new("./data"));
        assert!(c.listeners.controller().is_none());
        let c = build(&[
            "metadata.log.dir=/var/lib/meta",
            "controller.quorum.election.timeout.ms=1500",
            "controller.quorum.fetch.timeout.ms=3000",
            "controller.quorum.election.backoff.max.ms=500",
            "controller.quorum.request.timeout.ms=2500",
            "controller.quorum.retry.backoff.ms=0",
            "broker.session.timeout.ms=18000",
            "broker.heartbeat.interval.ms=3000",
        ])
        .unwrap();
        assert_eq!(c.metadata_log_dir(), Path::new("/var/lib/meta"));
        let q = &c.quorum;
        assert_eq!(c.log_dirs, vec![PathBuf::from("./data")]);
        assert_eq!(
            (
                q.election_timeout_ms,
                q.fetch_timeout_ms,
                q.election_backoff_max_ms,
                q.request_timeout_ms,
                q.retry_backoff_ms
            ),
            (1_500, 3_000, 500, 2_500, 0)
        );
        assert_eq!(
            (c.broker_session_timeout_ms, c.broker_heartbeat_interval_ms),
            (18_000, 3_000)
        );
        // Unset, the node is a quorum of itself: a controller listener is optional, as before.
        let c = build(&[
            "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            "controller.listener.names=CONTROLLER",
        ])
        .unwrap();
        assert_eq!(c.listeners.controller().unwrap().bind.port, 9093);
        // An empty process.roles is unset.
        assert!(!build(&["process.roles="]).unwrap().quorum.roles.explicit);
    }

    #[test]
    fn quorum_settings_are_bounded_as_in_kafka() {
        for (pair, message) in [
            (
                "controller.quorum.election.timeout.ms=-1",
                "Invalid value -1 for configuration controller.quorum.election.timeout.ms: Value must be at least 0",
            ),
            (
                "controller.quorum.retry.backoff.ms=2147483648",
                "Invalid value 2147483648 for configuration controller.quorum.retry.backoff.ms: Value must be no more than 2147483647",
            ),
            (
                "broker.session.timeout.ms=0",
                "Invalid value 0 for configuration broker.session.timeout.ms: Value must be at least 1",
            ),
            (
                "broker.heartbeat.interval.ms=x",
                "Invalid value x for configuration broker.heartbeat.interval.ms: Not a number of the expected type",
            ),
        ] {
            assert_eq!(refused(&[pair]), message, "{pair}");
        }
        // Kafka only logs heartbeats rarer than half the session; so does minikafka.
        let c = build(&[
            "broker.session.timeout.ms=3000",
            "broker.heartbeat.interval.ms=2000",
        ])
        .unwrap();
        assert_eq!(c.broker_heartbeat_interval_ms, 2_000);
    }

    #[test]
    fn a_three_voter_combined_node_is_accepted() {
        let c = build(&COMBINED).unwrap();
        let q = &c.quorum;
        assert_eq!(
            q.roles,
            ProcessRoles {
                broker: true,
                controller: true,
                explicit: true
            }
        );
        assert_eq!(
            q.voters,
            [
                QuorumVoter {
                    id: 1,
                    host: "kafka1".into(),
                    port: 9093
                },
                QuorumVoter {
                    id: 2,
                    host: "kafka2".into(),
                    port: 9093
                },
                QuorumVoter {
                    id: 3,
                    host: "::1".into(),
                    port: 9093
                },
            ]
        );
        assert!(!q.single_node());
        let controller = c.listeners.controller().unwrap();
        assert_eq!(controller.bind.host_port(), "127.0.0.1:9093");
        assert_eq!(c.listeners.controllers().count(), 1);
        assert_eq!(c.listeners.brokers().count(), 1);
        // One voter, this node: a single-node quorum, as with process.roles unset.
        let one = build(&combined_with(&[
            "controller.quorum.voters=1@localhost:9093",
        ]))
        .unwrap();
        assert!(one.quorum.single_node());
        // A dynamic quorum: bootstrap servers instead of voters.
        let dynamic = build(&combined_with(&[
            "controller.quorum.voters=<unset>",
            "controller.quorum.bootstrap.servers=kafka1:9093,kafka2:9093",
        ]))
        .unwrap();
        assert_eq!(dynamic.quorum.bootstrap_servers[1], ("kafka2".into(), 9093));
        assert!(dynamic.quorum.voters.is_empty() && !dynamic.quorum.single_node());
        // Kafka 4 lets a controller listener have an advertised.listeners entry (KIP-853) and
        // counts a repeated role once.
        let advertised = build(&combined_with(&[
            "advertised.listeners=PLAINTEXT://kafka1:9092,CONTROLLER://kafka1:9093",
            "process.roles=broker,controller,broker",
        ]))
        .unwrap();
        let controller = advertised.listeners.controller().unwrap();
        assert_eq!(controller.advertised.as_ref().unwrap().host, "kafka1");
        assert_eq!(advertised.quorum.roles, c.quorum.roles);
    }

    #[test]
    fn broker_only_and_controller_only_nodes_are_accepted() {
        let broker = build(&[
            "process.roles=broker",
            "node.id=4",
            "listeners=PLAINTEXT://127.0.0.1:9092",
            "controller.listener.names=CONTROLLER",
            "controller.quorum.voters=1@kafka1:9093",
            // Allowed by Kafka 4 (and ignored): an advertised entry for a controller listener.
            "advertised.listeners=PLAINTEXT://kafka4:9092,CONTROLLER://kafka4:9093",
        ])
        .unwrap();
        assert!(broker.quorum.roles.broker_only());
        assert!(broker.listeners.controller().is_none());
        assert_eq!(broker.listeners.controller_names, ["CONTROLLER"]);
        assert!(!broker.quorum.single_node());
        let controller = build(&[
            "process.roles=controller",
            "node.id=1",
            "listeners=CONTROLLER://127.0.0.1:9093",
            "controller.listener.names=CONTROLLER",
            "controller.quorum.voters=1@kafka1:9093",
        ])
        .unwrap();
        assert!(controller.quorum.roles.controller_only());
        assert_eq!(controller.listeners.brokers().count(), 0);
        assert_eq!(controller.listeners.controller().unwrap().bind.port, 9093);
    }

    /// Every message was compared with Kafka 4.4's `KafkaConfig` for the same properties.
    #[test]
    fn kraft_settings_kafka_refuses_are_refused_with_its_messages() {
        let voters_form = "Each entry should be in the form `{id}@{host}:{port}`.";
        for (pairs, message) in [
            (
                combined_with(&["process.roles=broker,foo"]),
                "Invalid value foo for configuration process.roles: String must be one of: broker, controller".to_string(),
            ),
            (
                combined_with(&["process.roles=broker,"]),
                "Configuration 'process.roles' values must not be empty.".into(),
            ),
            (
                combined_with(&["controller.listener.names=<unset>"]),
                "Missing required configuration \"controller.listener.names\" which has no default value.".into(),
            ),
            (
                combined_with(&["controller.quorum.voters=<unset>"]),
                "If using process.roles, either controller.quorum.bootstrap.servers must contain the set of bootstrap controllers or controller.quorum.voters must contain a parseable set of controllers.".into(),
            ),
            (
                combined_with(&["controller.quorum.voters=2@kafka2:9093,3@kafka3:9093"]),
                "If process.roles contains the 'controller' role, the node id 1 must be included in the set of voters controller.quorum.voters=Set(2, 3)".into(),
            ),
            (
                combined_with(&["process.roles=controller", "listeners=CONTROLLER://127.0.0.1:9093", "controller.quorum.voters=2@kafka2:9093"]),
                "If process.roles contains the 'controller' role, the node id 1 must be included in the set of voters controller.quorum.voters=Set(2)".into(),
            ),
            (
                combined_with(&["process.roles=broker", "listeners=PLAINTEXT://127.0.0.1:9092"]),
                "If process.roles contains just the 'broker' role, the node id 1 must not be included in the set of voters controller.quorum.voters=Set(1, 2, 3)".into(),
            ),
            (
                combined_with(&["process.roles=broker", "node.id=4"]),
                "controller.listener.names must not contain a value appearing in the 'listeners' configuration when running KRaft with just the broker role".into(),
            ),
            (
                combined_with(&["process.roles=broker", "node.id=4", "listeners=PLAINTEXT://127.0.0.1:9092", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT"]),
                "Controller listener with name CONTROLLER defined in controller.listener.names not found in listener.security.protocol.map  (an explicit security mapping for each controller listener is required if listener.security.protocol.map is non-empty, or if there are security protocols other than PLAINTEXT in use)".into(),
            ),
            (
                combined_with(&["listeners=PLAINTEXT://127.0.0.1:9092"]),
                "controller.listener.names must contain at least one value appearing in the 'listeners' configuration when running the KRaft controller role".into(),
            ),
            (
                combined_with(&["controller.listener.names=CONTROLLER,OTHER"]),
                "controller.listener.names must only contain values appearing in the 'listeners' configuration when running the KRaft controller role (OTHER is not a listener)".into(),
            ),
            (
                combined_with(&["process.roles=controller"]),
                "The listeners config must only contain KRaft controller listeners from controller.listener.names when process.roles=controller".into(),
            ),
            (
                combined_with(&["listeners=CONTROLLER://127.0.0.1:9093"]),
                "There must be at least one broker advertised listener. Perhaps all listeners appear in controller.listener.names?".into(),
            ),
            (
                combined_with(&["broker.id=2"]),
                "`node.id` and `broker.id` must be set to the same value. `broker.id` is deprecated, please use `node.id` instead.".into(),
            ),
            (
                combined_with(&["controller.quorum.voters=a@kafka1:9093"]),
                "Invalid value a@kafka1:9093 for configuration controller.quorum.voters: Failed to parse voter ID as an integer from a".into(),
            ),
            (
                combined_with(&["controller.quorum.voters=kafka1:9093"]),
                format!("Invalid value kafka1:9093 for configuration controller.quorum.voters: Invalid configuration value for controller.quorum.voters. {voters_form}"),
            ),
            (
                combined_with(&["controller.quorum.voters=1@kafka1"]),
                format!("Invalid value 1@kafka1 for configuration controller.quorum.voters: Failed to parse host name from entry 1@kafka1 for the configuration controller.quorum.voters. {voters_form}"),
            ),
            (
                combined_with(&["controller.quorum.voters=1@0.0.0.0:9093"]),
                "Invalid value 1@0.0.0.0:9093 for configuration controller.quorum.voters: Host string (0.0.0.0) is not routeable".into(),
            ),
            (
                combined_with(&["controller.quorum.bootstrap.servers=kafka1"]),
                "Invalid value kafka1 for configuration controller.quorum.bootstrap.servers: Failed to parse host name from kafka1 for the configuration controller.quorum.bootstrap.servers. Each entry should be in the form \"{host}:{port}\"".into(),
            ),
            // minikafka's own rules.
            (
                combined_with(&["controller.quorum.voters=1@kafka1:9093,1@kafka2:9093"]),
                "Invalid value 1@kafka1:9093,1@kafka2:9093 for configuration controller.quorum.voters: voter id 1 is listed more than once".into(),
            ),
            (
                vec!["listeners=SASL_PLAINTEXT://127.0.0.1:9094", "security.inter.broker.protocol=SASL_PLAINTEXT"],
                "listener SASL_PLAINTEXT uses security protocol SASL_PLAINTEXT (listener.security.protocol.map), and it carries traffic between nodes (inter-broker or controller listener): minikafka serves SASL on client listeners only so far; give the nodes a PLAINTEXT or SSL listener".into(),
            ),
        ] {
            assert_eq!(refused(&pairs), message, "{pairs:?}");
        }
    }

    #[test]
    fn listener_overrides_of_ssl_settings_are_checked_and_kept() {
        let c = build(&[
            "listener.name.external.ssl.keystore.location=/etc/kafka/external.p12",
            "listener.name.external.ssl.client.auth=required",
        ])
        .unwrap();
        assert_eq!(
            c.values["listener.name.external.ssl.keystore.location"],
            "/etc/kafka/external.p12"
        );
        assert!(c
            .set_at_start
            .contains("listener.name.external.ssl.client.auth"));
        assert!(matches!(
            ConfigBuilder::default().set("listener.name.external.bogus", "1"),
            Err(ConfigError::Unknown(_))
        ));
        assert!(matches!(
            ConfigBuilder::default().set("listener.name.external.ssl.client.auth", "sometimes"),
            Err(ConfigError::Invalid { .. })
        ));
    }

    #[test]
    fn quorum_membership_needs_process_roles() {
        assert_eq!(
            refused(&["controller.quorum.voters=1@localhost:9093"]),
            "controller.quorum.voters is set but process.roles is not: without process.roles \
             minikafka runs one node in both roles, a quorum of itself. Set process.roles (e.g. \
             broker,controller) to join a quorum, or remove controller.quorum.voters."
        );
        assert!(
            refused(&["controller.quorum.bootstrap.servers=localhost:9093"])
                .starts_with("controller.quorum.bootstrap.servers is set but process.roles is not")
        );
        // The timings alone are fine: they are the implied quorum's.
        assert!(build(&["controller.quorum.election.timeout.ms=5000"]).is_ok());
    }

    #[test]
    fn broker_id_is_node_ids_synonym_as_in_kafka() {
        let c = build(&["broker.id=3"]).unwrap();
        assert_eq!(c.node_id, 3);
        let d = c.describe();
        let get = |n: &str| d.iter().find(|x| x.name == n).unwrap();
        assert_eq!(
            (get("node.id").value.as_deref(), get("node.id").source),
            (Some("3"), Source::StaticBroker)
        );
        assert_eq!(
            (get("broker.id").value.as_deref(), get("broker.id").source),
            (Some("3"), Source::StaticBroker)
        );
        let c = build(&["node.id=5", "broker.id=05"]).unwrap();
        assert_eq!(c.node_id, 5);
        let c = build(&["node.id=6"]).unwrap();
        assert_eq!(c.values["broker.id"], "6");
        assert!(c.set_at_start.contains("broker.id"));
        let c = BrokerConfig::default();
        let d = c.describe();
        let b = d.iter().find(|x| x.name == "broker.id").unwrap();
        assert_eq!((b.value.as_deref(), b.source), (Some("1"), Source::Default));
        assert!(refused(&["node.id=1", "broker.id=2"]).starts_with("`node.id` and `broker.id`"));
        assert_eq!(
            refused(&["broker.id=-1"]),
            "Invalid value -1 for configuration broker.id: Value must be at least 0"
        );
    }

    #[test]
    fn kraft_properties_are_described_like_the_others() {
        let mut pairs = COMBINED.to_vec();
        pairs.push("broker.session.timeout.ms=12000");
        let c = build(&pairs).unwrap();
        let d = c.describe();
        let get = |n: &str| {
            d.iter()
                .find(|x| x.name == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        for (name, value, source, kind) in [
            (
                "process.roles",
                Some("broker,controller"),
                Source::StaticBroker,
                ConfigType::List,
            ),
            (
                "controller.quorum.voters",
                Some("1@kafka1:9093,2@kafka2:9093,3@[::1]:9093"),
                Source::StaticBroker,
                ConfigType::List,
            ),
            (
                "controller.quorum.bootstrap.servers",
                None,
                Source::Default,
                ConfigType::List,
            ),
            (
                "controller.quorum.election.timeout.ms",
                Some("1000"),
                Source::Default,
                ConfigType::Int,
            ),
            (
                "controller.quorum.retry.backoff.ms",
                Some("20"),
                Source::Default,
                ConfigType::Int,
            ),
            (
                "broker.session.timeout.ms",
                Some("12000"),
                Source::StaticBroker,
                ConfigType::Int,
            ),
            (
                "broker.heartbeat.interval.ms",
                Some("2000"),
                Source::Default,
                ConfigType::Int,
            ),
            (
                "metadata.log.dir",
                None,
                Source::Default,
                ConfigType::String,
            ),
            (
                "broker.id",
                Some("1"),
                Source::StaticBroker,
                ConfigType::Int,
            ),
        ] {
            let x = get(name);
            assert_eq!(
                (x.value.as_deref(), x.source, x.kind, x.read_only),
                (value, source, kind, true),
                "{name}"
            );
        }
        let s = get("broker.session.timeout.ms");
        assert_eq!(
            s.synonyms
                .iter()
                .map(|s| (s.value.as_deref(), s.source))
                .collect::<Vec<_>>(),
            [
                (Some("12000"), Source::StaticBroker),
                (Some("9000"), Source::Default)
            ]
        );
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
    fn connection_limits_are_cross_checked_as_kafka_does() {
        let build = |pairs: &[&str]| {
            let mut b = ConfigBuilder::default();
            for p in pairs {
                b.set_pair(p).unwrap();
            }
            b.build()
        };
        let c = build(&[]).unwrap();
        assert_eq!(c.max_connections_per_ip, 2_147_483_647);
        assert!(c.max_connections_per_ip_overrides.is_empty());
        assert_eq!(c.connections_max_idle_ms, Some(600_000));
        assert_eq!(c.queued_max_request_bytes, None);
        let e = build(&["max.connections.per.ip=0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("overrides"), "{e}");
        let c = build(&[
            "max.connections.per.ip=0",
            "max.connections.per.ip.overrides=127.0.0.1:3,localhost:2",
            "connections.max.idle.ms=-1",
            "queued.max.request.bytes=0",
        ])
        .unwrap();
        assert_eq!(
            c.max_connections_per_ip_overrides[0],
            ("127.0.0.1".into(), 3)
        );
        assert_eq!(c.connections_max_idle_ms, None);
        assert_eq!(c.queued_max_request_bytes, None);
        let e = build(&["queued.max.request.bytes=1000"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("socket.request.max.bytes"), "{e}");
        let c = build(&[
            "socket.request.max.bytes=1024",
            "queued.max.request.bytes=1024",
        ])
        .unwrap();
        assert_eq!(c.queued_max_request_bytes, Some(1024));
        assert!(build(&["max.connections.per.ip.overrides=nocount"]).is_err());
    }

    #[test]
    fn toml_dotted_keys() {
        let mut b = ConfigBuilder::default();
        b.apply_toml("num.partitions = 3\nlog.segment.bytes = 1048576\nlisteners = \"PLAINTEXT://127.0.0.1:9999\"\n", "t")
            .unwrap();
        let c = b.build().unwrap();
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.log_defaults.segment_bytes, 1_048_576);
        assert_eq!(c.listeners.all[0].bind.host_port(), "127.0.0.1:9999");
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
        for p in PROPERTIES {
            match p.default {
                Some(d) => assert_eq!(
                    b.set.get(p.name).map(String::as_str),
                    Some(d),
                    "config/broker.toml must set {} to its default",
                    p.name
                ),
                None => assert!(
                    text.contains(&format!("# {} =", p.name)),
                    "config/broker.toml must show {} commented out (it has no default)",
                    p.name
                ),
            }
        }
        let from_file = b.build().unwrap();
        // Everything the file sets, plus broker.id, filled in from node.id as Kafka does.
        let mut expected: BTreeSet<String> = b.set.keys().cloned().collect();
        expected.insert("broker.id".into());
        assert_eq!(from_file.set_at_start, expected, "all set at start");
        assert_eq!(
            BrokerConfig {
                set_at_start: BTreeSet::new(),
                ..from_file
            },
            BrokerConfig::default(),
            "config/broker.toml must hold the defaults"
        );
    }

    #[test]
    fn sources_and_synonyms_follow_kafka() {
        let mut b = ConfigBuilder::default();
        b.set_pair("log.segment.bytes=1048576").unwrap();
        b.set_pair("log.retention.minutes=600").unwrap();
        b.set_pair("num.partitions=1").unwrap();
        let c = b.build().unwrap();
        let broker = c.describe();
        let get = |all: &[Described], n: &str| all.iter().find(|d| d.name == n).unwrap().clone();
        let syn = |d: &Described| -> Vec<(&str, Option<String>, Source)> {
            d.synonyms
                .iter()
                .map(|s| (s.name, s.value.clone(), s.source))
                .collect()
        };
        // Set to its default value: still a static setting, as in Kafka.
        let d = get(&broker, "num.partitions");
        assert_eq!(d.source, Source::StaticBroker);
        assert_eq!(
            syn(&d),
            [
                ("num.partitions", Some("1".into()), Source::StaticBroker),
                ("num.partitions", Some("1".into()), Source::Default)
            ]
        );
        assert_eq!(get(&broker, "delete.topic.enable").source, Source::Default);
        let d = get(&broker, "log.retention.ms");
        assert_eq!(
            (d.value, d.source, d.synonyms.len()),
            (None, Source::Default, 0)
        );
        let d = get(&broker, "log.retention.minutes");
        assert_eq!(
            syn(&d),
            [
                (
                    "log.retention.minutes",
                    Some("600".into()),
                    Source::StaticBroker
                ),
                ("log.retention.hours", Some("168".into()), Source::Default)
            ]
        );
        assert_eq!(get(&broker, "node.id").kind, ConfigType::Int);

        let t = TopicConfig::from_overrides([("segment.bytes", Some("2097152"))], &c).unwrap();
        let topic = t.describe_configs(&c);
        let d = get(&topic, "segment.bytes");
        assert_eq!(
            (d.value.as_deref(), d.source),
            (Some("2097152"), Source::DynamicTopic)
        );
        assert_eq!(
            syn(&d),
            [
                (
                    "segment.bytes",
                    Some("2097152".into()),
                    Source::DynamicTopic
                ),
                (
                    "log.segment.bytes",
                    Some("1048576".into()),
                    Source::StaticBroker
                ),
                (
                    "log.segment.bytes",
                    Some("1073741824".into()),
                    Source::Default
                )
            ]
        );
        // retention.ms's synonym is log.retention.ms, unset: Kafka lists no synonym at all.
        let d = get(&topic, "retention.ms");
        assert_eq!(
            (d.value.as_deref(), d.source, d.synonyms.len()),
            (Some("36000000"), Source::Default, 0)
        );
        let d = get(&topic, "compression.type");
        assert_eq!(
            syn(&d),
            [("compression.type", Some("producer".into()), Source::Default)]
        );
        assert_eq!(
            get(&topic, "min.cleanable.dirty.ratio").kind,
            ConfigType::Double
        );
    }

    #[test]
    fn compression_type_and_levels_follow_kafka() {
        let b = BrokerConfig::default();
        assert_eq!(
            b.log_defaults.compression_type,
            minikafka_storage::BrokerCompressionType::Producer
        );
        let mut builder = ConfigBuilder::default();
        builder.set_pair("compression.type=zstd").unwrap();
        builder.set_pair("compression.zstd.level=-7").unwrap();
        let b = builder.build().unwrap();
        assert_eq!(
            b.log_defaults.compression_type,
            minikafka_storage::BrokerCompressionType::Zstd
        );
        assert_eq!(b.log_defaults.compression_zstd_level, -7);
        let t = TopicConfig::from_overrides(
            [
                ("compression.type", Some("gzip")),
                ("compression.gzip.level", Some("9")),
            ],
            &b,
        )
        .unwrap();
        let c = t.log_config(&b.log_defaults).unwrap();
        assert_eq!(
            c.compression_type,
            minikafka_storage::BrokerCompressionType::Gzip
        );
        assert_eq!(
            (c.compression_gzip_level, c.compression_zstd_level),
            (9, -7)
        );
        let described = t.describe_configs(&b);
        let d = described
            .iter()
            .find(|d| d.name == "compression.zstd.level")
            .unwrap();
        assert_eq!(
            (d.value.as_deref(), d.source),
            (Some("-7"), Source::StaticBroker)
        );
        for (name, value, reason) in [
            (
                "compression.type",
                "none",
                "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer",
            ),
            (
                "compression.gzip.level",
                "0",
                "Value must be between 1 and 9 or equal to -1",
            ),
            ("compression.lz4.level", "0", "Value must be at least 1"),
            (
                "compression.zstd.level",
                "23",
                "Value must be no more than 22",
            ),
        ] {
            let e = TopicConfig::from_overrides([(name, Some(value))], &b).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("Invalid value {value} for configuration {name}: {reason}")
            );
            let mut builder = ConfigBuilder::default();
            builder.set(name, value).unwrap();
            assert!(builder.build().is_err(), "broker {name}={value}");
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
                ("segment.bytes", Some("2097152")),
            ],
            &b,
        )
        .unwrap();
        let l = t.log_config(&b.log_defaults).unwrap();
        assert_eq!(l.retention_ms, 1000);
        assert_eq!(l.segment_bytes, 2_097_152);
        assert!(TopicConfig::from_overrides([("retention.ms", Some("abc"))], &b).is_err());
        assert!(TopicConfig::from_overrides([("nope", Some("1"))], &b).is_err());
    }

    #[test]
    fn kafka_4_bounds_and_the_test_only_segment_size() {
        let b = BrokerConfig::default();
        let refused = |k: &str, v: &str| {
            TopicConfig::from_overrides([(k, Some(v))], &b)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refused("segment.bytes", "1048575"),
            "Invalid value 1048575 for configuration segment.bytes: Value must be at least 1048576"
        );
        for (k, v) in [
            ("segment.ms", "0"),
            ("segment.index.bytes", "3"),
            ("max.message.bytes", "-1"),
            ("retention.ms", "-2"),
            ("message.timestamp.after.max.ms", "-1"),
            ("message.timestamp.before.max.ms", "-1"),
            ("min.insync.replicas", "0"),
            ("index.interval.bytes", "2147483648"),
        ] {
            assert!(refused(k, v).contains(k), "{k}={v}");
        }
        let t = TopicConfig::from_overrides(
            [
                ("internal.segment.bytes", Some("300")),
                ("message.timestamp.after.max.ms", Some("0")),
            ],
            &b,
        )
        .unwrap();
        let l = t.log_config(&b.log_defaults).unwrap();
        assert_eq!((l.segment_bytes, l.roll_bytes()), (1 << 30, 300));
        assert_eq!(l.message_timestamp_after_max_ms, 0);
        assert_eq!(b.log_defaults.message_timestamp_after_max_ms, 3_600_000);
        // Listed by DescribeConfigs only where set, at the topic or at the broker.
        let listed = |t: &TopicConfig, c: &BrokerConfig| {
            t.describe_configs(c)
                .iter()
                .any(|d| d.name == "internal.segment.bytes")
        };
        assert!(listed(&t, &b));
        assert!(!listed(&TopicConfig::default(), &b));
        assert!(!b.describe().iter().any(|d| d.name.contains("internal")));
        let mut builder = ConfigBuilder::default();
        builder.set_pair("log.internal.segment.bytes=4096").unwrap();
        let c = builder.build().unwrap();
        assert_eq!(c.log_defaults.roll_bytes(), 4096);
        assert!(listed(&TopicConfig::default(), &c));
        assert!(c
            .describe()
            .iter()
            .any(|d| d.name == "log.internal.segment.bytes"));
        let mut builder = ConfigBuilder::default();
        builder.set_pair("log.segment.bytes=16384").unwrap();
        assert!(builder.build().is_err());
    }

    #[test]
    fn replication_properties_follow_kafka() {
        let c = BrokerConfig::default();
        assert_eq!(
            (
                c.replica_fetch_max_bytes,
                c.replica_fetch_response_max_bytes,
                c.replica_fetch_min_bytes,
                c.replica_fetch_wait_max_ms,
                c.leader_imbalance_per_broker_percentage,
                c.transaction_state_min_isr,
            ),
            (1_048_576, 10_485_760, 1, 500, 10, 2)
        );
        assert_eq!(
            (
                c.replica_fetch_backoff_ms,
                c.replica_socket_timeout_ms,
                c.replica_lag_time_max_ms,
                c.replica_high_watermark_checkpoint_interval_ms,
                c.leader_imbalance_check_interval_seconds,
            ),
            (1_000, 30_000, 30_000, 5_000, 300)
        );
        assert_eq!(c.num_replica_fetchers, 1);
        assert!(c.auto_leader_rebalance_enable);
        assert_eq!(c.log_defaults.min_insync_replicas, 1);
        assert!(!c.log_defaults.unclean_leader_election_enable);

        let c = build(&[
            "replica.fetch.max.bytes=2097152",
            "replica.fetch.response.max.bytes=0",
            "replica.fetch.min.bytes=4096",
            "replica.fetch.wait.max.ms=45000",
            "replica.fetch.backoff.ms=0",
            "replica.socket.timeout.ms=60000",
            "replica.lag.time.max.ms=45000",
            "num.replica.fetchers=4",
            "replica.high.watermark.checkpoint.interval.ms=100",
            "auto.leader.rebalance.enable=FALSE",
            "leader.imbalance.check.interval.seconds=1",
            "leader.imbalance.per.broker.percentage=0",
            "transaction.state.log.min.isr=1",
            "min.insync.replicas=2",
            "unclean.leader.election.enable=true",
        ])
        .unwrap();
        assert_eq!(
            (
                c.replica_fetch_max_bytes,
                c.replica_fetch_response_max_bytes,
                c.replica_fetch_min_bytes,
                c.replica_fetch_wait_max_ms,
                c.leader_imbalance_per_broker_percentage,
                c.transaction_state_min_isr,
            ),
            (2_097_152, 0, 4_096, 45_000, 0, 1)
        );
        assert_eq!(
            (
                c.replica_fetch_backoff_ms,
                c.replica_socket_timeout_ms,
                c.replica_lag_time_max_ms,
                c.replica_high_watermark_checkpoint_interval_ms,
                c.leader_imbalance_check_interval_seconds,
            ),
            (0, 60_000, 45_000, 100, 1)
        );
        assert_eq!(c.num_replica_fetchers, 4);
        assert!(!c.auto_leader_rebalance_enable);
        // The broker synonyms set the topic defaults.
        assert_eq!(c.log_defaults.min_insync_replicas, 2);
        assert!(c.log_defaults.unclean_leader_election_enable);
        assert!(
            !build(&["unclean.leader.election.enable=False"])
                .unwrap()
                .log_defaults
                .unclean_leader_election_enable
        );

        for (pair, message) in [
            (
                "replica.fetch.max.bytes=-1",
                "Invalid value -1 for configuration replica.fetch.max.bytes: Value must be at least 0",
            ),
            (
                "replica.fetch.response.max.bytes=2147483648",
                "Invalid value 2147483648 for configuration replica.fetch.response.max.bytes: Value must be no more than 2147483647",
            ),
            (
                "replica.fetch.backoff.ms=-1",
                "Invalid value -1 for configuration replica.fetch.backoff.ms: Value must be at least 0",
            ),
            (
                "num.replica.fetchers=0",
                "Invalid value 0 for configuration num.replica.fetchers: Value must be at least 1",
            ),
            (
                "leader.imbalance.check.interval.seconds=0",
                "Invalid value 0 for configuration leader.imbalance.check.interval.seconds: Value must be at least 1",
            ),
            (
                "leader.imbalance.per.broker.percentage=101",
                "Invalid value 101 for configuration leader.imbalance.per.broker.percentage: Value must be no more than 100",
            ),
            (
                "replica.lag.time.max.ms=soon",
                "Invalid value soon for configuration replica.lag.time.max.ms: Not a number of the expected type",
            ),
            (
                "replica.high.watermark.checkpoint.interval.ms=0",
                "Invalid value 0 for configuration replica.high.watermark.checkpoint.interval.ms: Value must be at least 1",
            ),
            (
                "auto.leader.rebalance.enable=yes",
                "Invalid value yes for configuration auto.leader.rebalance.enable: expected true or false",
            ),
            (
                "unclean.leader.election.enable=1",
                "Invalid value 1 for configuration unclean.leader.election.enable: expected true or false",
            ),
            (
                "min.insync.replicas=0",
                "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1",
            ),
            (
                "transaction.state.log.min.isr=0",
                "Invalid value 0 for configuration transaction.state.log.min.isr: Value must be at least 1",
            ),
            // Kafka's `KafkaConfig.validateValues` cross-checks.
            (
                "replica.fetch.wait.max.ms=30001",
                "Invalid value 30001 for configuration replica.fetch.wait.max.ms: must be at most replica.socket.timeout.ms (30000) to prevent unnecessary socket timeouts",
            ),
        ] {
            assert_eq!(refused(&[pair]), message, "{pair}");
        }
        assert_eq!(
            refused(&[
                "replica.fetch.wait.max.ms=30001",
                "replica.socket.timeout.ms=60000"
            ]),
            "Invalid value 30001 for configuration replica.fetch.wait.max.ms: must be at most replica.lag.time.max.ms (30000) to prevent frequent changes in ISR"
        );
        assert_eq!(
            refused(&["replica.socket.timeout.ms=499"]),
            "Invalid value 500 for configuration replica.fetch.wait.max.ms: must be at most replica.socket.timeout.ms (499) to prevent unnecessary socket timeouts"
        );
    }

    #[test]
    fn min_insync_replicas_and_unclean_election_are_topic_configs() {
        let b = BrokerConfig::default();
        // Above the replication factor is accepted, as in Kafka (acks=all produces then fail).
        let t = TopicConfig::from_overrides(
            [
                ("min.insync.replicas", Some("2")),
                ("unclean.leader.election.enable", Some("true")),
            ],
            &b,
        )
        .unwrap();
        let l = t.log_config(&b.log_defaults).unwrap();
        assert_eq!(l.min_insync_replicas, 2);
        assert!(l.unclean_leader_election_enable);
        let t = TopicConfig::from_overrides(
            [
                ("min.insync.replicas", Some("2147483647")),
                ("unclean.leader.election.enable", Some("FALSE")),
            ],
            &b,
        )
        .unwrap();
        let l = t.log_config(&b.log_defaults).unwrap();
        assert_eq!(l.min_insync_replicas, i32::MAX);
        assert!(!l.unclean_leader_election_enable);
        for (k, v, reason) in [
            ("min.insync.replicas", "0", "Value must be at least 1"),
            (
                "min.insync.replicas",
                "two",
                "Not a number of the expected type",
            ),
            (
                "min.insync.replicas",
                "2147483648",
                "Value must be no more than 2147483647",
            ),
            (
                "unclean.leader.election.enable",
                "maybe",
                "expected true or false",
            ),
        ] {
            assert_eq!(
                TopicConfig::from_overrides([(k, Some(v))], &b)
                    .unwrap_err()
                    .to_string(),
                format!("Invalid value {v} for configuration {k}: {reason}")
            );
        }
        // Altering keeps the other overrides and validates the new value.
        let t = TopicConfig::from_overrides([("min.insync.replicas", Some("2"))], &b).unwrap();
        let mut o = t.overrides.clone();
        o.insert("unclean.leader.election.enable".into(), "true".into());
        let altered = t.altered(&o, &b).unwrap();
        let l = altered.log_config(&b.log_defaults).unwrap();
        assert_eq!(
            (l.min_insync_replicas, l.unclean_leader_election_enable),
            (2, true)
        );
        o.insert("min.insync.replicas".into(), "0".into());
        assert!(t.altered(&o, &b).is_err());
        // Persisted overrides come back.
        let p = TopicConfig::from_persisted(
            "t",
            [
                ("min.insync.replicas", "3"),
                ("unclean.leader.election.enable", "true"),
            ],
            &b,
        )
        .unwrap();
        assert!(p.grandfathered.is_empty());
        assert_eq!(
            p.log_config(&b.log_defaults).unwrap().min_insync_replicas,
            3
        );
        assert_eq!(
            broker_synonym("min.insync.replicas"),
            Some("min.insync.replicas")
        );
        assert_eq!(
            broker_synonym("unclean.leader.election.enable"),
            Some("unclean.leader.election.enable")
        );
    }

    #[test]
    fn replication_configs_are_described_like_the_others() {
        let c = build(&["min.insync.replicas=2", "num.replica.fetchers=3"]).unwrap();
        let syn = |d: &Described| -> Vec<(&str, Option<String>, Source)> {
            d.synonyms
                .iter()
                .map(|s| (s.name, s.value.clone(), s.source))
                .collect()
        };
        let broker = c.describe();
        let get = |all: &[Described], n: &str| {
            all.iter()
                .find(|d| d.name == n)
                .unwrap_or_else(|| panic!("{n} not listed"))
                .clone()
        };
        for (name, value, source, kind) in [
            (
                "min.insync.replicas",
                "2",
                Source::StaticBroker,
                ConfigType::Int,
            ),
            (
                "unclean.leader.election.enable",
                "false",
                Source::Default,
                ConfigType::Boolean,
            ),
            (
                "replica.lag.time.max.ms",
                "30000",
                Source::Default,
                ConfigType::Long,
            ),
            (
                "replica.socket.timeout.ms",
                "30000",
                Source::Default,
                ConfigType::Int,
            ),
            (
                "replica.fetch.max.bytes",
                "1048576",
                Source::Default,
                ConfigType::Int,
            ),
            (
                "replica.fetch.response.max.bytes",
                "10485760",
                Source::Default,
                ConfigType::Int,
            ),
            (
                "replica.fetch.min.bytes",
                "1",
                Source::Default,
                ConfigType::Int,
            ),
            (
                "replica.fetch.wait.max.ms",
                "500",
                Source::Default,
                ConfigType::Int,
            ),
            (
                "replica.fetch.backoff.ms",
                "1000",
                Source::Default,
                ConfigType::Int,
            ),
            (
                "num.replica.fetchers",
                "3",
                Source::StaticBroker,
                ConfigType::Int,
            ),
            (
                "replica.high.watermark.checkpoint.interval.ms",
                "5000",
                Source::Default,
                ConfigType::Long,
            ),
            (
                "auto.leader.rebalance.enable",
                "true",
                Source::Default,
                ConfigType::Boolean,
            ),
            (
                "leader.imbalance.check.interval.seconds",
                "300",
                Source::Default,
                ConfigType::Long,
            ),
            (
                "leader.imbalance.per.broker.percentage",
                "10",
                Source::Default,
                ConfigType::Int,
            ),
            (
                "transaction.state.log.min.isr",
                "2",
                Source::Default,
                ConfigType::Int,
            ),
        ] {
            let d = get(&broker, name);
            assert_eq!(
                (d.value.as_deref(), d.source, d.kind, d.read_only),
                (Some(value), source, kind, true),
                "{name}"
            );
        }
        assert_eq!(
            syn(&get(&broker, "min.insync.replicas")),
            [
                (
                    "min.insync.replicas",
                    Some("2".into()),
                    Source::StaticBroker
                ),
                ("min.insync.replicas", Some("1".into()), Source::Default)
            ]
        );

        // Topic level: the override, then the broker synonym's static setting and default.
        let t = TopicConfig::from_overrides([("unclean.leader.election.enable", Some("true"))], &c)
            .unwrap();
        let topic = t.describe_configs(&c);
        let d = get(&topic, "min.insync.replicas");
        assert_eq!(
            (d.value.as_deref(), d.source, d.kind, d.read_only),
            (Some("2"), Source::StaticBroker, ConfigType::Int, false)
        );
        assert_eq!(
            syn(&d),
            [
                (
                    "min.insync.replicas",
                    Some("2".into()),
                    Source::StaticBroker
                ),
                ("min.insync.replicas", Some("1".into()), Source::Default)
            ]
        );
        let d = get(&topic, "unclean.leader.election.enable");
        assert_eq!(
            (d.value.as_deref(), d.source, d.kind),
            (Some("true"), Source::DynamicTopic, ConfigType::Boolean)
        );
        assert_eq!(
            syn(&d),
            [
                (
                    "unclean.leader.election.enable",
                    Some("true".into()),
                    Source::DynamicTopic
                ),
                (
                    "unclean.leader.election.enable",
                    Some("false".into()),
                    Source::Default
                )
            ]
        );
        let listed = TopicConfig::default().describe(&BrokerConfig::default().log_defaults);
        assert!(listed.contains(&("min.insync.replicas".into(), "1".into(), false)));
        assert!(listed.contains(&(
            "unclean.leader.election.enable".into(),
            "false".into(),
            false
        )));
    }

    #[test]
    fn persisted_values_outside_the_bounds_are_kept_until_changed() {
        let b = BrokerConfig::default();
        let t = TopicConfig::from_persisted(
            "old",
            [("segment.bytes", "1024"), ("retention.ms", "5000")],
            &b,
        )
        .unwrap();
        assert_eq!(t.log_config(&b.log_defaults).unwrap().segment_bytes, 1024);
        assert!(TopicConfig::from_persisted("old", [("segment.bytes", "x")], &b).is_err());
        // Another key changes: the old value stays; changing it is validated.
        let mut o = t.overrides.clone();
        o.insert("retention.ms".into(), "6000".into());
        let kept = t.altered(&o, &b).unwrap();
        assert_eq!(kept.overrides["segment.bytes"], "1024");
        o.insert("segment.bytes".into(), "2048".into());
        assert!(t.altered(&o, &b).is_err());
    }
}
