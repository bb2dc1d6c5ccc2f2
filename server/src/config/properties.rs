//! The one declaration of every property: Kafka name, type, default, validation and doc.
//!
//! Everything else derives from these tables: `--set` and the TOML file accept exactly the names
//! of [`PROPERTIES`] and check each value with its [`Check`]; `config/broker.toml`'s test compares
//! the file with the defaults; topic overrides are checked by the declaration of their broker
//! synonym (Kafka validates `segment.bytes` and `log.segment.bytes` alike); DescribeConfigs takes
//! the type, documentation and synonym chain from here. This mirrors Kafka's `ConfigDef`
//! (`KafkaConfig.configDef`, `LogConfig.configDef`) and `ServerTopicConfigSynonyms`.

use super::{listeners, quorum};
use minikafka_storage::{BrokerCompressionType, CleanupPolicy, LogConfig, TimestampType};

/// Kafka's `ConfigDef.Type`, reported by DescribeConfigs v3+ as its `ConfigType` id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// `BOOLEAN` (1).
    Boolean,
    /// `STRING` (2).
    String,
    /// `INT` (3).
    Int,
    /// `SHORT` (4).
    Short,
    /// `LONG` (5).
    Long,
    /// `DOUBLE` (6).
    Double,
    /// `LIST` (7).
    List,
    /// `PASSWORD` (9): DescribeConfigs never shows the value (`is_sensitive`).
    Password,
}

impl ConfigType {
    /// The id DescribeConfigs puts in `config_type`.
    pub fn id(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Password => 9,
        }
    }
}

/// How a value is validated (Kafka's `ConfigDef.Validator` plus the type's parse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// An integer from `min` to `max` (the bounds of the field that holds it).
    Range {
        /// Smallest accepted value.
        min: i128,
        /// Largest accepted value.
        max: i128,
    },
    /// `true` or `false`, in any case.
    Bool,
    /// A number from 0 to 1.
    Ratio,
    /// One of these words, exactly (Kafka's `ValidString.in`).
    OneOf(&'static [&'static str]),
    /// `compression.gzip.level`: 1 to 9, or -1 (Kafka's `GzipCompression.LevelValidator`).
    GzipLevel,
    /// `delete`, `compact`, or both comma-separated in either order.
    CleanupPolicy,
    /// Comma-separated `NAME://HOST:PORT` entries (a bare `HOST:PORT` is `PLAINTEXT`), at least one.
    Listeners,
    /// `NAME:PROTOCOL,NAME:PROTOCOL` (`listener.security.protocol.map`).
    ProtocolMap,
    /// Comma-separated listener names.
    ListenerNames,
    /// One non-empty directory.
    Dir,
    /// `host:count,host:count` (Kafka's `max.connections.per.ip.overrides`); may be empty.
    HostCounts,
    /// `*` or `partition:broker,partition:broker` (Kafka's `ThrottledReplicaListValidator`).
    ThrottledReplicas,
    /// `process.roles`: `broker`, `controller` or both (Kafka's `ValidList.in`).
    ProcessRoles,
    /// `controller.quorum.voters`: `ID@HOST:PORT,...` (Kafka's `ControllerQuorumVotersValidator`).
    QuorumVoters,
    /// `controller.quorum.bootstrap.servers`: `HOST:PORT,...`.
    BootstrapServers,
    /// `replica.selector.class`: one of the [`ReplicaSelector`] classes minikafka implements.
    ReplicaSelector,
    /// `ssl.principal.mapping.rules` (Kafka's `SslPrincipalMapper` syntax).
    PrincipalMappingRules,
    /// A path, taken as it is (Kafka checks nothing).
    Path,
    /// Any text (Kafka checks nothing).
    Any,
}

/// `replica.selector.class` (KIP-392): where a leader sends a consumer that names its rack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplicaSelector {
    /// Unset, or Kafka's `LeaderReplicaSelector`: consumers read from the leader.
    #[default]
    Leader,
    /// Kafka's `RackAwareReplicaSelector`: an in-sync replica in the consumer's rack.
    RackAware,
}

impl ReplicaSelector {
    /// Kafka's class names of the selectors minikafka implements.
    pub const LEADER_CLASS: &'static str = "org.apache.kafka.common.replica.LeaderReplicaSelector";
    /// See [`ReplicaSelector::RackAware`].
    pub const RACK_AWARE_CLASS: &'static str =
        "org.apache.kafka.common.replica.RackAwareReplicaSelector";

    /// The selector named by `value` (empty: none, the leader); else why it is refused.
    pub fn parse(value: &str) -> Result<ReplicaSelector, String> {
        match value.trim() {
            "" | Self::LEADER_CLASS => Ok(ReplicaSelector::Leader),
            Self::RACK_AWARE_CLASS => Ok(ReplicaSelector::RackAware),
            other => Err(format!(
                "Class {other} cannot be used: minikafka implements only {} and {}",
                Self::RACK_AWARE_CLASS,
                Self::LEADER_CLASS
            )),
        }
    }
}

impl Check {
    /// Why `value` is refused, if it is.
    pub fn reason(self, value: &str) -> Option<String> {
        match self {
            // Kafka's `ConfigDef.Range` messages.
            Check::Range { min, max } => match value.trim().parse::<i128>() {
                Err(_) => Some("Not a number of the expected type".into()),
                Ok(v) if v < min => Some(format!("Value must be at least {min}")),
                Ok(v) if v > max => Some(format!("Value must be no more than {max}")),
                Ok(_) => None,
            },
            Check::Bool => (!value.eq_ignore_ascii_case("true")
                && !value.eq_ignore_ascii_case("false"))
            .then(|| "expected true or false".into()),
            Check::Ratio => match value.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => None,
                _ => Some("expected a number from 0 to 1".into()),
            },
            Check::OneOf(words) => (!words.contains(&value))
                .then(|| format!("String must be one of: {}", words.join(", "))),
            Check::GzipLevel => match value.trim().parse::<i32>() {
                Ok(-1 | 1..=9) => None,
                Ok(_) => Some("Value must be between 1 and 9 or equal to -1".into()),
                Err(_) => Some("Not a number of the expected type".into()),
            },
            Check::CleanupPolicy => cleanup_policy(value)
                .is_none()
                .then(|| "expected delete, compact or compact,delete".into()),
            Check::Listeners if value.trim().is_empty() => Some("must not be empty".into()),
            Check::Listeners => listeners::parse_endpoints(value).err(),
            Check::ProtocolMap => listeners::parse_protocol_map(value).err(),
            Check::ListenerNames => value
                .split(',')
                .map(str::trim)
                .find(|n| n.is_empty() || n.contains([':', '/', ' ']))
                .map(|n| format!("'{n}' is not a listener name")),
            Check::Dir if value.split(',').any(|d| d.trim().is_empty()) => {
                Some("must not be empty (nor have an empty entry)".into())
            }
            Check::Dir => None,
            Check::HostCounts => host_counts(value).err(),
            // The whole message, not only a reason: `ConfigBuilder::build` reports
            // `quorum::parse_roles`'s error itself, which names the offending entry as Kafka does.
            Check::ProcessRoles => quorum::parse_roles(value).err().map(|e| e.to_string()),
            Check::QuorumVoters => quorum::parse_voters(value).err(),
            Check::BootstrapServers => quorum::parse_bootstrap_servers(value).err(),
            Check::ReplicaSelector => ReplicaSelector::parse(value).err(),
            Check::ThrottledReplicas => throttled_replicas(value).is_none().then(|| {
                "must be the literal '*' or a list of replicas in the following format: \
                 [partitionId]:[brokerId],[partitionId]:[brokerId],..."
                    .into()
            }),
            Check::PrincipalMappingRules => {
                crate::net::principal_mapping::PrincipalMapper::parse(value).err()
            }
            Check::Path | Check::Any => None,
        }
    }
}

/// The replicas a `leader/follower.replication.throttled.replicas` value throttles: `None` when
/// it is not valid, `Some(ThrottledReplicas::All)` for `*`, else the `(partition, broker)` pairs.
pub fn throttled_replicas(value: &str) -> Option<ThrottledReplicas> {
    let value = value.trim();
    if value == "*" {
        return Some(ThrottledReplicas::All);
    }
    let mut pairs = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (p, b) = entry.split_once(':')?;
        pairs.push((p.trim().parse().ok()?, b.trim().parse().ok()?));
    }
    Some(ThrottledReplicas::Some(pairs))
}

/// A parsed throttled replica list (Kafka's `QuotaConfig` `*` or `partition:broker` list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottledReplicas {
    /// `*`: every replica of the topic.
    All,
    /// These `(partition, broker)` replicas.
    Some(Vec<(i32, i32)>),
}

impl ThrottledReplicas {
    /// Whether the replica of `partition` on `broker` is throttled.
    pub fn contains(&self, partition: i32, broker: i32) -> bool {
        match self {
            ThrottledReplicas::All => true,
            ThrottledReplicas::Some(pairs) => pairs.contains(&(partition, broker)),
        }
    }
}

/// Parse a cleanup policy list; `None` if a word is not a policy.
pub(crate) fn cleanup_policy(value: &str) -> Option<CleanupPolicy> {
    let mut policy = CleanupPolicy {
        delete: false,
        compact: false,
    };
    for p in value.split(',') {
        match p.trim() {
            "delete" => policy.delete = true,
            "compact" => policy.compact = true,
            _ => return None,
        }
    }
    Some(policy)
}

/// Parse `host:count,host:count` as Kafka's `CoreUtils.parseCsvMap` does (the count follows
/// the last `:`, so `::1:5` is IPv6 `::1`), with Kafka's checks: each host an IP address or a
/// name of letters, digits, `.`, `_` and `-` (`Utils.validHostPattern`), each count an int.
pub(crate) fn host_counts(value: &str) -> Result<Vec<(String, usize)>, String> {
    let mut out = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((host, count)) = entry.rsplit_once(':') else {
            return Err(format!("'{entry}' is not host:count"));
        };
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        let valid_name = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid_name && host.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("'{host}' is not a valid host name or IP address"));
        }
        let count = count
            .trim()
            .parse::<i32>()
            .ok()
            .and_then(|c| usize::try_from(c).ok())
            .ok_or_else(|| {
                format!(
                    "the count of '{host}' must be a number from 0 to {}",
                    i32::MAX
                )
            })?;
        out.push((host.to_string(), count));
    }
    Ok(out)
}

/// One property: the unit every other part of the configuration is derived from.
#[derive(Debug, Clone, Copy)]
pub struct Property {
    /// Kafka's property name.
    pub name: &'static str,
    /// Kafka's type for it.
    pub kind: ConfigType,
    /// The default, as it would be written in the config file; `None` = no value (Kafka's null).
    pub default: Option<&'static str>,
    /// How a value is validated.
    pub check: Check,
    /// What it does (DescribeConfigs' `documentation`).
    pub doc: &'static str,
}

const fn range(min: i128, max: i128) -> Check {
    Check::Range { min, max }
}

const I16: i128 = i16::MAX as i128;
/// Kafka 4.x's floor of `segment.bytes` and `log.segment.bytes` (`atLeast(1024 * 1024)`).
pub const MIN_SEGMENT_BYTES: i128 = 1024 * 1024;
/// The floor of `internal.segment.bytes`: one batch header's worth (Kafka checks nothing; a smaller
/// segment could hold no batch at all).
const MIN_INTERNAL_SEGMENT_BYTES: i128 = 61;
const I32: i128 = i32::MAX as i128;
const I64: i128 = i64::MAX as i128;
const U64: i128 = u64::MAX as i128;
const USIZE: i128 = usize::MAX as i128;

/// `log.message.timestamp.type` / `message.timestamp.type` values.
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];

/// Kafka's `SecurityProtocol` names, for `security.inter.broker.protocol`.
const SECURITY_PROTOCOLS: &[&str] = &listeners::SecurityProtocol::NAMES;

/// `compression.type` values, in Kafka's order (`BrokerCompressionType.names()`).
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

/// Kafka's bounds of `compression.lz4.level` (`Lz4Compression.MIN_LEVEL`/`MAX_LEVEL`).
const LZ4_LEVELS: Check = range(1, 17);
/// Kafka's bounds of `compression.zstd.level` (`ZstdCompression.MIN_LEVEL` = zstd's `ZSTD_minCLevel()`, and
/// `MAX_LEVEL`).
const ZSTD_LEVELS: Check = range(-131_072, 22);

macro_rules! properties {
    ($($name:literal, $kind:ident, $default:expr, $check:expr, $doc:literal;)*) => {
        &[$(Property {
            name: $name,
            kind: ConfigType::$kind,
            default: $default,
            check: $check,
            doc: $doc,
        }),*]
    };
}

/// Every broker property minikafka understands, in `config/broker.toml`'s order.
pub const PROPERTIES: &[Property] = properties![
    "node.id", Int, Some("1"), range(0, I32), "This node's id, as a broker and as a controller (Kafka requires it; minikafka defaults to 1). With process.roles set, a controller's id must be among controller.quorum.voters and a broker-only node's must not.";
    "broker.id", Int, None, range(0, I32), "Deprecated synonym of node.id (Kafka's populateSynonyms): set alone it gives node.id; set both, they must be equal. Reports node.id's value.";
    "process.roles", List, None, Check::ProcessRoles, "Roles of this process: broker, controller, or broker,controller. minikafka does not require it (Kafka 4 does): unset, the node plays both roles in a quorum of itself and needs no controller listener, voters or bootstrap servers. Set, Kafka's rules apply: controller.listener.names is required, and controller.quorum.voters or controller.quorum.bootstrap.servers.";
    "listeners", List, Some("PLAINTEXT://localhost:9092"), Check::Listeners, "Listeners, as NAME://HOST:PORT,NAME://HOST:PORT (a bare HOST:PORT is PLAINTEXT): names and ports unique; localhost binds both 127.0.0.1 and ::1, an empty host every interface, 0.0.0.0 every IPv4 one; port 0 picks a free port.";
    "advertised.listeners", List, None, Check::Listeners, "Endpoint each listener gives clients in Metadata, FindCoordinator and DescribeCluster, as NAME://HOST:PORT (names among listeners', ports may repeat; not 0.0.0.0). A listener without an entry advertises its own address (an empty host: this machine's host name).";
    "listener.security.protocol.map", String, Some("SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"), Check::ProtocolMap, "Security protocol of each listener name, as NAME:PROTOCOL,...; every listener needs one. minikafka serves PLAINTEXT and SSL on every listener (the inter-broker and controller ones too), SASL_PLAINTEXT and SASL_SSL on client listeners (not yet between nodes).";
    "inter.broker.listener.name", String, None, Check::ListenerNames, "Listener other brokers use; must be a broker listener. Unset = the listener named after security.inter.broker.protocol. Followers fetch from their leaders and transaction coordinators reach partition leaders on it.";
    "security.inter.broker.protocol", String, Some("PLAINTEXT"), Check::OneOf(SECURITY_PROTOCOLS), "Protocol between brokers, naming the inter-broker listener when inter.broker.listener.name is unset (set only one of the two).";
    "controller.listener.names", List, None, Check::ListenerNames, "Listeners of the KRaft controller. With the controller role each must be among listeners (the first is the one the quorum uses); on a broker-only node none may be, and the first names the listener (and security protocol) for reaching the controllers. Required when process.roles is set. With the controller role the first is bound and serves the quorum's peers and the brokers' heartbeats; it is never advertised to clients.";
    "controller.quorum.voters", List, Some(""), Check::QuorumVoters, "The voters of a static controller quorum, as ID@HOST:PORT,... (HOST:PORT: the voter's controller listener; IPv6 in brackets). Needs process.roles. Ids distinct; no 0.0.0.0.";
    "controller.quorum.bootstrap.servers", List, Some(""), Check::BootstrapServers, "Controller endpoints to discover a dynamic quorum from, as HOST:PORT,... Needs process.roles; with process.roles, this or controller.quorum.voters is required.";
    "controller.quorum.election.timeout.ms", Int, Some("1000"), range(0, I32), "Maximum time in milliseconds to wait without being able to fetch from the leader before triggering a new election.";
    "controller.quorum.fetch.timeout.ms", Int, Some("2000"), range(0, I32), "Maximum time without a successful fetch from the current leader before becoming a candidate; maximum time a leader can go without fetches from a majority of the quorum before resigning.";
    "controller.quorum.election.backoff.max.ms", Int, Some("1000"), range(0, I32), "Maximum time in milliseconds before starting new elections (cap of the exponential backoff that prevents gridlocked elections).";
    "controller.quorum.request.timeout.ms", Int, Some("2000"), range(0, I32), "Maximum time to wait for the answer to a controller quorum request before resending or failing it.";
    "controller.quorum.retry.backoff.ms", Int, Some("20"), range(0, I32), "Time to wait before retrying a failed controller quorum request.";
    "broker.session.timeout.ms", Int, Some("9000"), range(1, I32), "How long a broker's lease lasts without heartbeats (enforced by the controller). At least 1 (Kafka checks nothing).";
    "broker.heartbeat.interval.ms", Int, Some("2000"), range(1, I32), "Time between a broker's heartbeats to the controller; more than half of broker.session.timeout.ms is logged as an error, as Kafka does. At least 1 (Kafka checks nothing).";
    "broker.rack", String, None, Check::Any, "The rack (or zone) of this broker: replica placement spreads a partition's replicas and the leaders of a topic over racks.";
    "replica.selector.class", String, None, Check::ReplicaSelector, "Chooses the replica a consumer that names its rack (client.rack, Fetch v11+) is sent to (KIP-392). Unset or org.apache.kafka.common.replica.LeaderReplicaSelector: the leader; org.apache.kafka.common.replica.RackAwareReplicaSelector: an in-sync replica in the consumer's rack that has the fetch offset (the leader when it is in that rack or none is). Other classes are refused. Followers serve consumers' v11+ fetches whatever this says.";
    "metadata.log.dir", String, None, Check::Path, "Directory of the cluster metadata log; unset = the data directory (log.dirs).";
    "log.dir", String, None, Check::Path, "The log directory when log.dirs is unset (Kafka's default is /tmp/kafka-logs; unset here = ./data).";
    "log.dirs", List, Some("./data"), Check::Dir, "Log directories, comma-separated (each holds meta.properties, its partitions and its checkpoints; a new partition goes to the one with the fewest partitions). Set, it overrides log.dir. The first also holds the metadata log unless metadata.log.dir is set.";
    "num.partitions", Int, Some("1"), range(1, I32), "Partitions of an auto-created topic, or of CreateTopics with num_partitions = -1.";
    "max.partitions", Int, Some("100000"), range(1, I32), "minikafka only (Kafka has no broker-wide cap): partitions this broker hosts in all, internal topics included; CreateTopics and CreatePartitions beyond it get INVALID_PARTITIONS.";
    "default.replication.factor", Int, Some("1"), range(1, I16), "Replication factor used when a CreateTopics asks for -1.";
    "auto.create.topics.enable", Boolean, Some("true"), Check::Bool, "Create unknown topics on Metadata requests that allow it.";
    "delete.topic.enable", Boolean, Some("true"), Check::Bool, "Allow DeleteTopics.";
    "min.insync.replicas", Int, Some("1"), range(1, I32), "In-sync replicas (the leader included) that must have a batch before an acks=all produce is acknowledged (topic: min.insync.replicas); with fewer in sync such a produce fails NOT_ENOUGH_REPLICAS. May exceed the replication factor, as in Kafka (acks=all produces then always fail).";
    "unclean.leader.election.enable", Boolean, Some("false"), Check::Bool, "Let a replica outside the ISR become leader as a last resort when no in-sync replica is alive, at the risk of losing acknowledged records (topic: unclean.leader.election.enable).";
    "replica.lag.time.max.ms", Long, Some("30000"), range(1, I64), "A follower that has not fetched, or not caught up to the leader's log end offset, for this long is removed from the ISR. At least 1 (Kafka checks nothing).";
    "replica.socket.timeout.ms", Int, Some("30000"), range(1, I32), "Timeout of a follower's fetch requests to the leader; must be at least replica.fetch.wait.max.ms. At least 1 (Kafka checks nothing).";
    "replica.fetch.max.bytes", Int, Some("1048576"), range(0, I32), "Bytes of records a follower asks for per partition in one fetch. Not an absolute maximum: a first batch larger than this is still returned so that replication progresses (the largest batch is bounded by message.max.bytes and max.message.bytes).";
    "replica.fetch.response.max.bytes", Int, Some("10485760"), range(0, I32), "Bytes of records a follower asks for in one whole fetch response. Not an absolute maximum: a first batch larger than this is still returned so that replication progresses.";
    "replica.fetch.min.bytes", Int, Some("1"), range(0, I32), "Bytes a follower's fetch waits for, up to replica.fetch.wait.max.ms. At least 0 (Kafka checks nothing).";
    "replica.fetch.wait.max.ms", Int, Some("500"), range(0, I32), "Longest a follower's fetch waits at the leader for replica.fetch.min.bytes; at most replica.socket.timeout.ms and replica.lag.time.max.ms (checked at start, as Kafka does). At least 0 (Kafka checks nothing).";
    "replica.fetch.backoff.ms", Int, Some("1000"), range(0, I32), "Time a follower waits before fetching again after a partition's fetch failed.";
    "num.replica.fetchers", Int, Some("1"), range(1, I32), "Fetchers a broker runs per source broker to replicate its partitions. At least 1 (Kafka checks nothing).";
    "replication.quota.window.num", Int, Some("11"), range(1, I32), "Samples kept to measure replication throughput against leader/follower.replication.throttled.rate (Kafka's replication quota window count).";
    "replication.quota.window.size.seconds", Int, Some("1"), range(1, I32), "Length of one replication quota sample, in seconds.";
    "replica.high.watermark.checkpoint.interval.ms", Long, Some("5000"), range(1, I64), "How often the high watermarks of the hosted partitions are written to disk. At least 1 (Kafka checks nothing).";
    "auto.leader.rebalance.enable", Boolean, Some("true"), Check::Bool, "Move leadership back to the preferred replicas when the leader imbalance, checked every leader.imbalance.check.interval.seconds, exceeds leader.imbalance.per.broker.percentage.";
    "leader.imbalance.check.interval.seconds", Long, Some("300"), range(1, I64), "How often the controller checks the leader imbalance.";
    "leader.imbalance.per.broker.percentage", Int, Some("10"), range(0, 100), "Share of a broker's preferred-leader partitions, in percent, that may be led by other brokers before leadership is rebalanced. 0 to 100 (Kafka checks nothing).";
    "message.max.bytes", Int, Some("1048588"), range(0, I32), "Largest record batch accepted (topic default for max.message.bytes).";
    "socket.request.max.bytes", Int, Some("104857600"), range(1024, USIZE), "Largest request frame accepted; larger frames close the connection.";
    "fetch.max.bytes", Int, Some("57671680"), range(1024, I32), "Largest Fetch answer the broker builds, whatever the request's max_bytes (the first partition with data still returns one batch).";
    "fetch.zero.copy.min.bytes", Int, Some("16384"), range(0, USIZE), "minikafka only: a partition's fetched records of at least this size go from the segment file to the socket with sendfile; smaller ones are copied. 2147483647 = always copy.";
    "max.connections", Int, Some("10000"), range(1, USIZE), "Connections served at once; when all are in use the broker accepts no more until one closes.";
    "max.connections.per.ip", Int, Some("2147483647"), range(0, I32), "Connections allowed from one IP address; a connection over the limit is closed right after accept. 0 only with max.connections.per.ip.overrides.";
    "max.connections.per.ip.overrides", String, Some(""), Check::HostCounts, "Per-host exceptions to max.connections.per.ip, as host:count,host:count (host name or IP address).";
    "ssl.keystore.type", String, Some("JKS"), Check::Any, "Format of the SSL listeners' key store: PEM or PKCS12 (JKS, Kafka's default, cannot be read: convert it with keytool -importkeystore -deststoretype PKCS12). Listener override: listener.name.<name>.ssl.keystore.type.";
    "ssl.keystore.location", String, None, Check::Path, "The key store file: PEM with the certificate chain and the private key (PKCS#8, PKCS#1 or SEC1, unencrypted), or PKCS12.";
    "ssl.keystore.password", Password, None, Check::Any, "Password of a PKCS12 key store.";
    "ssl.key.password", Password, None, Check::Any, "Password of the private key (PKCS12: when it differs from the store's). An encrypted PEM key is refused at start.";
    "ssl.keystore.certificate.chain", Password, None, Check::Any, "The certificate chain in PEM, inline (with ssl.keystore.type=PEM and no ssl.keystore.location).";
    "ssl.keystore.key", Password, None, Check::Any, "The private key in PEM, inline (with ssl.keystore.type=PEM and no ssl.keystore.location).";
    "ssl.truststore.type", String, Some("JKS"), Check::Any, "Format of the trust store that checks client certificates, and the other nodes' certificates when this node connects to an SSL inter-broker or controller listener: PEM or PKCS12 (JKS cannot be read).";
    "ssl.truststore.location", String, None, Check::Path, "The trust store file: PEM CA certificates, or PKCS12.";
    "ssl.truststore.password", Password, None, Check::Any, "Password of a PKCS12 trust store.";
    "ssl.truststore.certificates", Password, None, Check::Any, "Trusted CA certificates in PEM, inline (with ssl.truststore.type=PEM and no ssl.truststore.location).";
    "ssl.client.auth", String, Some("none"), Check::OneOf(&["required", "requested", "none"]), "Client certificates on SSL listeners: required (a client without a trusted certificate is refused in the handshake), requested (checked when given), none.";
    "ssl.enabled.protocols", List, Some("TLSv1.2,TLSv1.3"), Check::Any, "TLS versions served: TLSv1.2 and/or TLSv1.3 (older ones are refused at start).";
    "ssl.protocol", String, Some("TLSv1.3"), Check::Any, "Kafka's SSLContext protocol; accepted (TLS or TLSv1.2/TLSv1.3): the versions served are ssl.enabled.protocols.";
    "ssl.cipher.suites", List, None, Check::Any, "Accepted, not applied: rustls serves its own safe cipher suites for each TLS version.";
    "ssl.endpoint.identification.algorithm", String, Some("https"), Check::Any, "Host name verification of the peer's certificate when this node connects to another node's SSL listener (inter-broker, controller): https (the certificate must name the host or IP dialled), or empty for none.";
    "ssl.principal.mapping.rules", String, Some("DEFAULT"), Check::PrincipalMappingRules, "How a client certificate's subject becomes the principal, Kafka's rules tried in order: RULE:pattern/replacement/ (optionally /L or /U: lower or upper case) applies when the pattern matches the whole distinguished name, DEFAULT keeps the name (User:CN=...,OU=...). A certificate no rule applies to is refused.";
    "authorizer.class.name", String, Some(""), Check::OneOf(&["", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"]), "ACL authorization: org.apache.kafka.metadata.authorizer.StandardAuthorizer checks every request against the ACLs kept in the cluster metadata log (CreateAcls, kafka-acls); empty: no authorization. Other classes are refused.";
    "super.users", String, Some(""), Check::Any, "Principals allowed everything by the authorizer, separated by semicolons (User:admin;User:CN=broker,OU=ops). A plaintext inter-broker listener makes the brokers' own requests User:ANONYMOUS, which must then be listed, as in Kafka.";
    "allow.everyone.if.no.acl.found", Boolean, Some("false"), Check::Bool, "With an authorizer: allow every principal on a resource that has no ACL at all.";
    "sasl.enabled.mechanisms", List, Some("GSSAPI"), Check::Any, "SASL mechanisms served on SASL_PLAINTEXT and SASL_SSL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512. Kafka's default GSSAPI (Kerberos) is not served: a SASL listener whose mechanisms include it is refused at start, so set this (or listener.name.<name>.sasl.enabled.mechanisms).";
    "sasl.jaas.config", Password, None, Check::Any, "Read only per listener and mechanism, as Kafka's brokers do: listener.name.<name>.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_<name>=\"<password>\" ...; gives the PLAIN users (username/password, the broker's own login, are accepted and not used). The SCRAM mechanisms' JAAS line (ScramLoginModule) is accepted; SCRAM users live in the metadata log.";
    "connection.failed.authentication.delay.ms", Int, Some("100"), range(0, I32), "A failed SASL authentication is answered after this delay (longer for an address that keeps failing), then the connection is closed.";
    "connections.max.reauth.ms", Long, Some("0"), range(0, I64), "KIP-368: a SASL session authenticated with SaslAuthenticate v1+ lasts this long (the client is told, and re-authenticates on the live connection, with the same principal and mechanism); a request after expiry closes the connection. 0 = no expiry. Per listener: listener.name.<name>.connections.max.reauth.ms.";
    "connections.max.idle.ms", Long, Some("600000"), range(-1, I64), "A connection with no request in flight for this long is closed, as is one that takes this long to send a request; -1 = never.";
    "queued.max.request.bytes", Long, Some("-1"), range(-1, I64), "Bytes of requests read but not yet processed, across all connections; a connection whose next request does not fit waits. -1 (or 0) = unbounded; otherwise at least socket.request.max.bytes.";
    "max.incremental.fetch.session.cache.slots", Int, Some("1000"), range(0, USIZE), "Incremental fetch sessions kept at once (KIP-227); 0 disables them.";
    "num.network.threads", Int, Some("3"), range(1, I32), "Accepted (Kafka's server.properties sets it), not applied: minikafka serves every connection on one async runtime with a worker per core, and has no separate network thread pool.";
    "num.io.threads", Int, Some("8"), range(1, I32), "Accepted, not applied: requests are handled on the connection's async task (blocking disk work on a bounded blocking pool), not by a request-handler pool.";
    "socket.send.buffer.bytes", Int, Some("102400"), range(-1, I32), "Accepted, not applied: client sockets keep the OS's autotuned send buffer (as Kafka's -1).";
    "socket.receive.buffer.bytes", Int, Some("102400"), range(-1, I32), "Accepted, not applied: client sockets keep the OS's autotuned receive buffer (as Kafka's -1).";
    "num.recovery.threads.per.data.dir", Int, Some("2"), range(1, I32), "Accepted, not applied: logs are opened and recovered one after another at start.";
    "log.segment.bytes", Int, Some("1073741824"), range(MIN_SEGMENT_BYTES, I32), "Segment size at which the log rolls (topic: segment.bytes); at least 1 MiB, as in Kafka 4.x.";
    "log.internal.segment.bytes", Int, None, range(MIN_INTERNAL_SEGMENT_BYTES, I32), "minikafka only, for tests (Kafka's tests set internal.segment.bytes on each topic): replaces log.segment.bytes without its 1 MiB floor (topic: internal.segment.bytes). Not listed by DescribeConfigs unless set.";
    "log.roll.hours", Int, Some("168"), range(1, I64), "Age at which the active segment rolls (topic: segment.ms).";
    "log.roll.ms", Long, None, range(1, I64), "Like log.roll.hours, in ms; wins when set.";
    "log.index.interval.bytes", Int, Some("4096"), range(0, I32), "Bytes of log between offset-index entries (topic: index.interval.bytes).";
    "log.index.size.max.bytes", Int, Some("10485760"), range(4, I32), "Largest index file; the segment rolls when it is full (topic: segment.index.bytes).";
    "log.max.open.segment.files", Int, Some("0"), range(0, I32), "minikafka only (Kafka has no such cap): segment files (.log and indexes) kept open at once, least recently used closed first and reopened on demand; 0 = half of the process's open-file limit (RLIMIT_NOFILE), at least 64.";
    "log.message.timestamp.type", String, Some("CreateTime"), Check::OneOf(TIMESTAMP_TYPES), "CreateTime or LogAppendTime (topic: message.timestamp.type).";
    "log.message.timestamp.before.max.ms", Long, Some("9223372036854775807"), range(0, I64), "How far in the past a CreateTime timestamp may be (topic: message.timestamp.before.max.ms).";
    "log.message.timestamp.after.max.ms", Long, Some("3600000"), range(0, I64), "How far in the future a CreateTime timestamp may be (topic: message.timestamp.after.max.ms).";
    "compression.type", String, Some("producer"), Check::OneOf(COMPRESSION_TYPES), "Codec of the stored batches (topic: compression.type): uncompressed, zstd, lz4, snappy or gzip rebuild every client batch in another codec on append; producer keeps each batch's own.";
    "compression.gzip.level", Int, Some("-1"), Check::GzipLevel, "gzip level when compression.type is gzip (topic: compression.gzip.level): 1 to 9, or -1 for zlib's default (6).";
    "compression.lz4.level", Int, Some("9"), LZ4_LEVELS, "lz4 level when compression.type is lz4 (topic: compression.lz4.level), 1 to 17. Accepted but not applied: minikafka's lz4 has only the fast compressor, which Kafka uses at the default level 9.";
    "compression.zstd.level", Int, Some("3"), ZSTD_LEVELS, "zstd level when compression.type is zstd (topic: compression.zstd.level), -131072 to 22.";
    "log.retention.hours", Int, Some("168"), range(-1, I64), "Time a segment is kept (topic: retention.ms).";
    "log.retention.minutes", Int, None, range(-1, I64), "Like log.retention.hours, in minutes; wins over hours when set.";
    "log.retention.ms", Long, None, range(-1, I64), "Like log.retention.hours, in ms; wins when set; -1 keeps forever.";
    "log.retention.bytes", Long, Some("-1"), range(-1, I64), "Size per partition above which old segments are deleted (topic: retention.bytes); -1 = no limit.";
    "log.retention.check.interval.ms", Long, Some("300000"), range(1, U64), "How often retention and segment age are checked.";
    "log.cleanup.policy", List, Some("delete"), Check::CleanupPolicy, "delete, compact or compact,delete (topic: cleanup.policy).";
    "log.cleaner.enable", Boolean, Some("true"), Check::Bool, "Run the log cleaner for topics whose cleanup.policy contains compact.";
    "log.cleaner.backoff.ms", Long, Some("15000"), range(1, U64), "Time the log cleaner sleeps between passes over the logs.";
    "log.cleaner.dedupe.buffer.size", Long, Some("134217728"), range(1, I64), "Memory of the log cleaner's key map: a compacted log whose dirty keys do not fit is cleaned a prefix per pass.";
    "log.cleaner.delete.retention.ms", Long, Some("86400000"), range(0, I64), "How long tombstones survive once cleaned (topic: delete.retention.ms).";
    "log.cleaner.min.cleanable.ratio", Double, Some("0.5"), Check::Ratio, "Dirty share of a log above which it is cleaned (topic: min.cleanable.dirty.ratio).";
    "log.cleaner.min.compaction.lag.ms", Long, Some("0"), range(0, I64), "Records younger than this are not compacted (topic: min.compaction.lag.ms).";
    "log.cleaner.max.compaction.lag.ms", Long, Some("9223372036854775807"), range(1, I64), "Records older than this force a clean (topic: max.compaction.lag.ms).";
    "log.flush.interval.messages", Long, Some("9223372036854775807"), range(1, I64), "Messages appended before an fsync; 1 = fsync before every acknowledgement (topic: flush.messages).";
    "log.flush.interval.ms", Long, None, range(0, I64), "Max time data stays un-fsynced (topic: flush.ms); unset = leave it to the OS.";
    "log.flush.scheduler.interval.ms", Long, Some("1000"), range(1, U64), "How often the time-based flusher looks at the logs.";
    "group.min.session.timeout.ms", Int, Some("6000"), range(0, I32), "Smallest session timeout a group member may ask for.";
    "group.max.session.timeout.ms", Int, Some("1800000"), range(0, I32), "Largest session timeout a group member may ask for.";
    "group.initial.rebalance.delay.ms", Int, Some("3000"), range(0, I32), "Wait for more members before the first rebalance of an empty group; 0 = none.";
    "group.max.size", Int, Some("2147483647"), range(1, I32), "Most members a classic consumer group may have.";
    "group.consumer.session.timeout.ms", Int, Some("45000"), range(1, I32), "Session timeout of consumer-protocol (KIP-848) members.";
    "group.consumer.heartbeat.interval.ms", Int, Some("5000"), range(1, I32), "Heartbeat interval given to consumer-protocol (KIP-848) members.";
    "group.consumer.min.session.timeout.ms", Int, Some("45000"), range(1, I32), "Lower bound of group.consumer.session.timeout.ms.";
    "group.consumer.max.session.timeout.ms", Int, Some("60000"), range(1, I32), "Upper bound of group.consumer.session.timeout.ms.";
    "group.consumer.min.heartbeat.interval.ms", Int, Some("5000"), range(1, I32), "Lower bound of group.consumer.heartbeat.interval.ms.";
    "group.consumer.max.heartbeat.interval.ms", Int, Some("15000"), range(1, I32), "Upper bound of group.consumer.heartbeat.interval.ms.";
    "group.consumer.max.size", Int, Some("2147483647"), range(1, I32), "Most members a consumer-protocol (KIP-848) group may have.";
    "offsets.topic.num.partitions", Int, Some("50"), range(1, I32), "Partitions of __consumer_offsets when it is created.";
    "offsets.topic.replication.factor", Short, Some("3"), range(1, I16), "Replication factor of __consumer_offsets when it is created, capped at the live brokers (Kafka fails the creation instead).";
    "offsets.topic.segment.bytes", Int, Some("104857600"), range(MIN_SEGMENT_BYTES, I32), "segment.bytes of __consumer_offsets.";
    "offsets.retention.minutes", Int, Some("10080"), range(1, I64), "How long the committed offsets of an empty group are kept.";
    "offsets.retention.check.interval.ms", Long, Some("600000"), range(1, U64), "How often expired offsets are removed.";
    "offset.metadata.max.bytes", Int, Some("4096"), range(0, USIZE), "Largest metadata string of a committed offset.";
    "transaction.max.timeout.ms", Int, Some("900000"), range(1, I32), "Largest transaction.timeout.ms a transactional producer may ask for.";
    "transaction.abort.timed.out.transaction.cleanup.interval.ms", Int, Some("10000"), range(1, U64), "How often transactions past their timeout are aborted.";
    "transactional.id.expiration.ms", Int, Some("604800000"), range(1, I64), "Idle time after which a transactional id with no open transaction is forgotten.";
    "transaction.state.log.num.partitions", Int, Some("50"), range(1, I32), "Partitions of __transaction_state when it is created.";
    "transaction.state.log.replication.factor", Short, Some("3"), range(1, I16), "Replication factor of __transaction_state when it is created, capped at the live brokers (Kafka fails the creation instead).";
    "transaction.state.log.min.isr", Int, Some("2"), range(1, I32), "The min.insync.replicas given to __transaction_state when it is created, capped at its replication factor.";
    "share.coordinator.state.topic.replication.factor", Short, Some("3"), range(1, I16), "Accepted (Kafka's server.properties sets it), not applied: share groups (KIP-932) are not served yet.";
    "share.coordinator.state.topic.min.isr", Short, Some("2"), range(1, I16), "Accepted, not applied: share groups (KIP-932) are not served yet.";
    "transaction.state.log.segment.bytes", Int, Some("104857600"), range(MIN_SEGMENT_BYTES, I32), "segment.bytes of __transaction_state.";
    "producer.id.expiration.ms", Int, Some("86400000"), range(1, I64), "Idle time after which an idempotent producer's state is dropped.";
    "producer.id.expiration.check.interval.ms", Int, Some("600000"), range(1, U64), "How often idle producer state is expired.";
];

/// The declaration of a broker property by name.
pub fn property(name: &str) -> Option<&'static Property> {
    PROPERTIES.iter().find(|p| p.name == name)
}

/// A per-listener override, Kafka's `listener.name.<listener>.<property>` (lower-case listener
/// name): the listener and the declaration of the property it overrides. The `ssl.*` properties,
/// `sasl.enabled.mechanisms` and `<mechanism>.sasl.jaas.config` may be given per listener.
pub fn listener_override(name: &str) -> Option<(&str, &'static Property)> {
    let rest = name.strip_prefix("listener.name.")?;
    let (listener, prop) = rest.split_once('.')?;
    if listener.is_empty() {
        return None;
    }
    if prop.starts_with("ssl.")
        || prop == "sasl.enabled.mechanisms"
        || prop == "connections.max.reauth.ms"
    {
        return Some((listener, property(prop)?));
    }
    // `listener.name.<listener>.<mechanism>.sasl.jaas.config`, Kafka's per-mechanism JAAS line.
    let mechanism = prop.strip_suffix(".sasl.jaas.config")?;
    if mechanism.is_empty() || mechanism.contains('.') {
        return None;
    }
    Some((listener, property("sasl.jaas.config")?))
}

/// Kafka's `DynamicBrokerConfig.brokerConfigSynonyms`: the broker properties that give one
/// value, most specific first (`log.retention.ms` wins over `.minutes`, which wins over
/// `.hours`), with the factor that turns each into the first one's unit. Kafka also chains
/// `log.flush.scheduler.interval.ms` after `log.flush.interval.ms`; minikafka's flusher period
/// is a different setting (its default is 1000, not "never"), so that link is left out.
const CHAINS: &[&[(&str, i64)]] = &[
    &[
        ("log.retention.ms", 1),
        ("log.retention.minutes", 60_000),
        ("log.retention.hours", 3_600_000),
    ],
    &[("log.roll.ms", 1), ("log.roll.hours", 3_600_000)],
];

/// The synonym chain of a broker property (itself alone for most).
pub(crate) fn chain(name: &'static str) -> Vec<(&'static str, i64)> {
    CHAINS
        .iter()
        .find(|c| c.iter().any(|(n, _)| *n == name))
        .map_or_else(|| vec![(name, 1)], |c| c.to_vec())
}

/// Where a topic config lives in the storage [`LogConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogField {
    /// `segment_bytes`.
    SegmentBytes,
    /// `internal_segment_bytes` (test only).
    InternalSegmentBytes,
    /// `message_timestamp_before_max_ms`.
    TimestampBeforeMaxMs,
    /// `message_timestamp_after_max_ms`.
    TimestampAfterMaxMs,
    /// `compression_type`.
    CompressionType,
    /// `compression_gzip_level`.
    CompressionGzipLevel,
    /// `compression_lz4_level`.
    CompressionLz4Level,
    /// `compression_zstd_level`.
    CompressionZstdLevel,
    /// `segment_ms`.
    SegmentMs,
    /// `segment_index_bytes`.
    SegmentIndexBytes,
    /// `index_interval_bytes`.
    IndexIntervalBytes,
    /// `retention_ms` (any negative value means forever, stored as -1).
    RetentionMs,
    /// `retention_bytes`.
    RetentionBytes,
    /// `max_message_bytes`.
    MaxMessageBytes,
    /// `timestamp_type`.
    TimestampType,
    /// `flush_messages`.
    FlushMessages,
    /// `flush_ms` (unset = never, `i64::MAX`).
    FlushMs,
    /// `cleanup_policy`.
    CleanupPolicy,
    /// `delete_retention_ms`.
    DeleteRetentionMs,
    /// `min_cleanable_dirty_ratio`.
    MinCleanableDirtyRatio,
    /// `min_compaction_lag_ms`.
    MinCompactionLagMs,
    /// `max_compaction_lag_ms`.
    MaxCompactionLagMs,
    /// `min_insync_replicas`.
    MinInsyncReplicas,
    /// `unclean_leader_election_enable`.
    UncleanLeaderElectionEnable,
    /// Not a storage setting (the throttled replica lists): read from the topic's overrides.
    Unstored,
}

/// A value that does not fit its field (already checked, so only a wrong declaration gets here).
fn misfit(value: &str) -> String {
    format!("'{value}' does not fit the setting")
}

/// `true` or `false`, in any case (Kafka's `BOOLEAN` parse).
fn boolean(value: &str) -> Result<bool, String> {
    match value.trim() {
        v if v.eq_ignore_ascii_case("true") => Ok(true),
        v if v.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(misfit(value)),
    }
}

fn num<T: TryFrom<i128>>(value: &str) -> Result<T, String> {
    value
        .parse::<i128>()
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| misfit(value))
}

impl LogField {
    /// Store an already validated value.
    pub(crate) fn set(self, c: &mut LogConfig, value: &str) -> Result<(), String> {
        match self {
            LogField::SegmentBytes => c.segment_bytes = num(value)?,
            LogField::InternalSegmentBytes => c.internal_segment_bytes = Some(num(value)?),
            LogField::TimestampBeforeMaxMs => c.message_timestamp_before_max_ms = num(value)?,
            LogField::TimestampAfterMaxMs => c.message_timestamp_after_max_ms = num(value)?,
            LogField::CompressionType => {
                c.compression_type =
                    BrokerCompressionType::from_name(value).ok_or_else(|| misfit(value))?;
            }
            LogField::CompressionGzipLevel => c.compression_gzip_level = num(value)?,
            LogField::CompressionLz4Level => c.compression_lz4_level = num(value)?,
            LogField::CompressionZstdLevel => c.compression_zstd_level = num(value)?,
            LogField::SegmentMs => c.segment_ms = num(value)?,
            LogField::SegmentIndexBytes => c.segment_index_bytes = num(value)?,
            LogField::IndexIntervalBytes => c.index_interval_bytes = num(value)?,
            LogField::RetentionMs => c.retention_ms = num::<i64>(value)?.max(-1),
            LogField::RetentionBytes => c.retention_bytes = num(value)?,
            LogField::MaxMessageBytes => c.max_message_bytes = num(value)?,
            LogField::TimestampType => {
                c.timestamp_type = match value {
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    "CreateTime" => TimestampType::CreateTime,
                    _ => return Err(misfit(value)),
                }
            }
            LogField::FlushMessages => c.flush_messages = num(value)?,
            LogField::FlushMs => c.flush_ms = num(value)?,
            LogField::CleanupPolicy => {
                c.cleanup_policy = cleanup_policy(value).ok_or_else(|| misfit(value))?;
            }
            LogField::DeleteRetentionMs => c.delete_retention_ms = num(value)?,
            LogField::MinCleanableDirtyRatio => {
                c.min_cleanable_dirty_ratio = value.trim().parse().map_err(|_| misfit(value))?;
            }
            LogField::MinCompactionLagMs => c.min_compaction_lag_ms = num(value)?,
            LogField::MaxCompactionLagMs => c.max_compaction_lag_ms = num(value)?,
            LogField::MinInsyncReplicas => c.min_insync_replicas = num(value)?,
            LogField::UncleanLeaderElectionEnable => {
                c.unclean_leader_election_enable = boolean(value)?;
            }
            LogField::Unstored => {}
        }
        Ok(())
    }

    /// The field's value as Kafka writes it; `None` for an unset `internal.segment.bytes`.
    pub(crate) fn text(self, c: &LogConfig) -> Option<String> {
        Some(match self {
            LogField::SegmentBytes => c.segment_bytes.to_string(),
            LogField::InternalSegmentBytes => c.internal_segment_bytes?.to_string(),
            LogField::TimestampBeforeMaxMs => c.message_timestamp_before_max_ms.to_string(),
            LogField::TimestampAfterMaxMs => c.message_timestamp_after_max_ms.to_string(),
            LogField::CompressionType => c.compression_type.name().into(),
            LogField::CompressionGzipLevel => c.compression_gzip_level.to_string(),
            LogField::CompressionLz4Level => c.compression_lz4_level.to_string(),
            LogField::CompressionZstdLevel => c.compression_zstd_level.to_string(),
            LogField::SegmentMs => c.segment_ms.to_string(),
            LogField::SegmentIndexBytes => c.segment_index_bytes.to_string(),
            LogField::IndexIntervalBytes => c.index_interval_bytes.to_string(),
            LogField::RetentionMs => c.retention_ms.to_string(),
            LogField::RetentionBytes => c.retention_bytes.to_string(),
            LogField::MaxMessageBytes => c.max_message_bytes.to_string(),
            LogField::TimestampType => match c.timestamp_type {
                TimestampType::CreateTime => "CreateTime".into(),
                TimestampType::LogAppendTime => "LogAppendTime".into(),
            },
            LogField::FlushMessages => c.flush_messages.min(i64::MAX as u64).to_string(),
            LogField::FlushMs => c.flush_ms.to_string(),
            LogField::CleanupPolicy => cleanup_policy_text(c.cleanup_policy).into(),
            LogField::DeleteRetentionMs => c.delete_retention_ms.to_string(),
            LogField::MinCleanableDirtyRatio => c.min_cleanable_dirty_ratio.to_string(),
            LogField::MinCompactionLagMs => c.min_compaction_lag_ms.to_string(),
            LogField::MaxCompactionLagMs => c.max_compaction_lag_ms.to_string(),
            LogField::MinInsyncReplicas => c.min_insync_replicas.to_string(),
            LogField::UncleanLeaderElectionEnable => c.unclean_leader_election_enable.to_string(),
            LogField::Unstored => return None,
        })
    }
}

/// Kafka's text for a cleanup policy (`delete`, `compact`, `compact,delete`).
pub fn cleanup_policy_text(p: CleanupPolicy) -> &'static str {
    match (p.compact, p.delete) {
        (true, true) => "compact,delete",
        (true, false) => "compact",
        _ => "delete",
    }
}

/// One topic config: its name, its broker synonym (which supplies its default, type and
/// validation, as in Kafka) and where it lives in [`LogConfig`].
#[derive(Debug, Clone, Copy)]
pub struct TopicProperty {
    /// Kafka's topic config name.
    pub name: &'static str,
    /// Kafka's `ServerTopicConfigSynonyms` entry: the broker property behind the default.
    pub synonym: &'static str,
    /// Where the effective value is stored.
    pub field: LogField,
    /// What it does (DescribeConfigs' `documentation`).
    pub doc: &'static str,
}

impl TopicProperty {
    /// The declaration of the broker synonym: type, validation and default (a topic-only
    /// config's own declaration when it has no synonym).
    pub fn base(&self) -> &'static Property {
        if self.synonym.is_empty() {
            if let Some(own) = TOPIC_ONLY_PROPERTIES.iter().find(|p| p.name == self.name) {
                return own;
            }
        }
        property(self.synonym)
            // Every synonym is declared: `topic_synonyms_are_declared` checks it.
            .unwrap_or(&PROPERTIES[0])
    }
}

macro_rules! topic_properties {
    ($($name:literal, $synonym:literal, $field:ident, $doc:literal;)*) => {
        &[$(TopicProperty {
            name: $name,
            synonym: $synonym,
            field: LogField::$field,
            doc: $doc,
        }),*]
    };
}

/// Every topic config a topic may override, in Kafka's (alphabetical) order.
pub const TOPIC_PROPERTIES: &[TopicProperty] = topic_properties![
    "cleanup.policy", "log.cleanup.policy", CleanupPolicy, "delete, compact or compact,delete: what happens to old segments.";
    "compression.gzip.level", "compression.gzip.level", CompressionGzipLevel, "gzip level of batches the broker compresses: 1 to 9, or -1 for zlib's default.";
    "compression.lz4.level", "compression.lz4.level", CompressionLz4Level, "lz4 level of batches the broker compresses, 1 to 17 (accepted, not applied: the fast compressor, as Kafka at level 9).";
    "compression.type", "compression.type", CompressionType, "Codec of the stored batches: uncompressed, zstd, lz4, snappy, gzip, or producer (keep the producer's).";
    "compression.zstd.level", "compression.zstd.level", CompressionZstdLevel, "zstd level of batches the broker compresses, -131072 to 22.";
    "delete.retention.ms", "log.cleaner.delete.retention.ms", DeleteRetentionMs, "How long tombstones survive once a compacted log is cleaned.";
    "flush.messages", "log.flush.interval.messages", FlushMessages, "Messages appended before an fsync; 1 = fsync before every acknowledgement.";
    "flush.ms", "log.flush.interval.ms", FlushMs, "Max time appended data stays un-fsynced.";
    "follower.replication.throttled.replicas", "", Unstored, "Replicas (partition:broker,... or *) whose follower replication is throttled by follower.replication.throttled.rate while out of sync.";
    "index.interval.bytes", "log.index.interval.bytes", IndexIntervalBytes, "Bytes of log between offset-index entries.";
    "internal.segment.bytes", "log.internal.segment.bytes", InternalSegmentBytes, "For tests only (Kafka's LogConfig.INTERNAL_SEGMENT_BYTES_CONFIG): replaces segment.bytes without its 1 MiB floor. Not listed unless set.";
    "leader.replication.throttled.replicas", "", Unstored, "Replicas (partition:broker,... or *) whose leader replication to out-of-sync followers is throttled by leader.replication.throttled.rate.";
    "max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", MaxCompactionLagMs, "Records older than this force a clean.";
    "max.message.bytes", "message.max.bytes", MaxMessageBytes, "Largest record batch accepted.";
    "message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms", TimestampAfterMaxMs, "How far in the future a CreateTime timestamp may be.";
    "message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms", TimestampBeforeMaxMs, "How far in the past a CreateTime timestamp may be.";
    "message.timestamp.type", "log.message.timestamp.type", TimestampType, "CreateTime or LogAppendTime.";
    "min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", MinCleanableDirtyRatio, "Dirty share of the log above which it is cleaned.";
    "min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", MinCompactionLagMs, "Records younger than this are not compacted.";
    "min.insync.replicas", "min.insync.replicas", MinInsyncReplicas, "In-sync replicas (the leader included) that must have a batch before an acks=all produce is acknowledged; with fewer in sync such a produce fails NOT_ENOUGH_REPLICAS. May exceed the replication factor, as in Kafka.";
    "retention.bytes", "log.retention.bytes", RetentionBytes, "Size per partition above which old segments are deleted; -1 = no limit.";
    "retention.ms", "log.retention.ms", RetentionMs, "Time a segment is kept; -1 = forever.";
    "segment.bytes", "log.segment.bytes", SegmentBytes, "Segment size at which the log rolls.";
    "segment.index.bytes", "log.index.size.max.bytes", SegmentIndexBytes, "Largest index file; the segment rolls when it is full.";
    "segment.ms", "log.roll.ms", SegmentMs, "Age at which the active segment rolls.";
    "unclean.leader.election.enable", "unclean.leader.election.enable", UncleanLeaderElectionEnable, "Let a replica outside the ISR become leader as a last resort when no in-sync replica is alive, at the risk of losing acknowledged records.";
];

/// Broker configs set only at run time, per broker or as the cluster default
/// (`kafka-configs --entity-type brokers`), stored in the metadata log: Kafka's replication
/// throttles (`QuotaConfig`), which `kafka-reassign-partitions --throttle` sets. They are not
/// `server.properties` lines in Kafka either.
pub const DYNAMIC_BROKER_PROPERTIES: &[Property] = properties![
    "follower.replication.throttled.rate", Long, Some("9223372036854775807"), range(0, I64), "Bytes per second a follower replicates of the partitions its topics' follower.replication.throttled.replicas name, while they are out of sync.";
    "leader.replication.throttled.rate", Long, Some("9223372036854775807"), range(0, I64), "Bytes per second a leader sends of the partitions its topics' leader.replication.throttled.replicas name to out-of-sync followers.";
    "replica.alter.log.dirs.io.max.bytes.per.second", Long, Some("9223372036854775807"), range(0, I64), "Bytes per second a replica moving to another log directory (AlterReplicaLogDirs) is copied at.";
];

/// The dynamic broker config `name`.
pub fn dynamic_broker_property(name: &str) -> Option<&'static Property> {
    DYNAMIC_BROKER_PROPERTIES.iter().find(|p| p.name == name)
}

/// Topic configs with no broker synonym (Kafka's `QuotaConfig` throttled replica lists): their
/// declaration, in [`TOPIC_PROPERTIES`] order.
pub const TOPIC_ONLY_PROPERTIES: &[Property] = properties![
    "follower.replication.throttled.replicas", List, Some(""), Check::ThrottledReplicas, "Replicas (partition:broker,... or *) whose follower replication is throttled by follower.replication.throttled.rate while out of sync.";
    "leader.replication.throttled.replicas", List, Some(""), Check::ThrottledReplicas, "Replicas (partition:broker,... or *) whose leader replication to out-of-sync followers is throttled by leader.replication.throttled.rate.";
];

/// The declaration of a topic config by name.
pub fn topic_property(name: &str) -> Option<&'static TopicProperty> {
    TOPIC_PROPERTIES.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_synonyms_are_declared() {
        for t in TOPIC_PROPERTIES {
            let declared = if t.synonym.is_empty() {
                TOPIC_ONLY_PROPERTIES.iter().any(|p| p.name == t.name)
            } else {
                property(t.synonym).is_some()
            };
            assert!(declared, "{} has no declared synonym", t.name);
        }
        let mut names: Vec<_> = TOPIC_PROPERTIES.iter().map(|t| t.name).collect();
        let declared = names.clone();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names, declared, "topic configs sorted, each once");
    }

    #[test]
    fn defaults_pass_their_own_checks() {
        for p in PROPERTIES {
            if let Some(d) = p.default {
                assert_eq!(p.check.reason(d), None, "{}", p.name);
            }
        }
        let mut names: Vec<_> = PROPERTIES.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            PROPERTIES.len(),
            "a property is declared twice"
        );
    }

    #[test]
    fn checks_refuse_what_they_should() {
        assert!(range(1, 10).reason("0").is_some());
        assert!(range(1, 10).reason("11").is_some());
        assert!(range(1, 10).reason("x").is_some());
        assert!(Check::Bool.reason("TRUE").is_none());
        assert!(Check::Bool.reason("yes").is_some());
        assert!(Check::Listeners.reason("nohost").is_some());
        assert!(Check::Listeners.reason("").is_some());
        assert!(Check::Listeners
            .reason("PLAINTEXT://h:1, EXTERNAL://:2")
            .is_none());
        assert!(Check::ProtocolMap.reason("A:TLS").is_some());
        assert!(Check::ListenerNames.reason("A,B").is_none());
        assert!(Check::ListenerNames.reason("A://").is_some());
        // Kafka's messages for compression.type and the KIP-390 levels.
        assert_eq!(
            Check::OneOf(COMPRESSION_TYPES).reason("none").as_deref(),
            Some("String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer")
        );
        for ok in ["-1", "1", "9"] {
            assert_eq!(Check::GzipLevel.reason(ok), None, "{ok}");
        }
        for bad in ["0", "10", "-2"] {
            assert_eq!(
                Check::GzipLevel.reason(bad).as_deref(),
                Some("Value must be between 1 and 9 or equal to -1"),
                "{bad}"
            );
        }
        assert_eq!(
            ZSTD_LEVELS.reason("-131073").as_deref(),
            Some("Value must be at least -131072")
        );
        assert_eq!(
            LZ4_LEVELS.reason("18").as_deref(),
            Some("Value must be no more than 17")
        );
        assert_eq!(chain("log.retention.hours").len(), 3);
        assert_eq!(chain("num.partitions"), vec![("num.partitions", 1)]);
    }

    #[test]
    fn host_counts_follow_kafkas_format() {
        assert_eq!(host_counts(""), Ok(vec![]));
        assert_eq!(
            host_counts("127.0.0.1:5, build-agent_1.local:0,::1:7"),
            Ok(vec![
                ("127.0.0.1".to_string(), 5),
                ("build-agent_1.local".to_string(), 0),
                ("::1".to_string(), 7),
            ])
        );
        for bad in [
            "127.0.0.1",
            "h:x",
            "h:-1",
            "h:2147483648",
            ":3",
            "bad/host:1",
        ] {
            assert!(Check::HostCounts.reason(bad).is_some(), "{bad} accepted");
        }
    }
}
