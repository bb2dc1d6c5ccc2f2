//! KRaft roles and the controller quorum: `process.roles`, `node.id`/`broker.id`,
//! `controller.quorum.*`, `broker.session.timeout.ms`, `broker.heartbeat.interval.ms` and
//! `metadata.log.dir`, parsed and checked against each other as Kafka 4.x does.
//!
//! These are the settings the controller (`crate::controller`) runs on: which roles this process
//! plays, who votes in the metadata quorum and how to reach them, and the Raft and broker-lease
//! timings. The controller listener itself (the endpoint this node's controller binds and
//! advertises) is a listener of `listeners` named in `controller.listener.names`; see
//! [`Listeners::controller`](super::Listeners::controller).
//!
//! Parsing and messages follow Kafka 4.x: `KRaftConfigs` and `QuorumConfig` (definitions and
//! defaults), `QuorumConfig.parseVoterConnections`/`parseBootstrapServer` (entry syntax, through
//! `Utils.getHost`/`getPort`), `KafkaConfig.populateSynonyms` (`broker.id`) and
//! `KafkaConfig.validateValues` (the role checks). Every message was compared with what a real
//! Kafka 4.4 `KafkaConfig` says for the same properties. Where minikafka differs, on purpose:
//! - `process.roles` may be left unset (Kafka 4 requires it): the node then plays both roles in an
//!   implied quorum of itself, needs no controller listener and takes no voters or bootstrap
//!   servers (set `process.roles` to use those). An empty value is the same as unset.
//! - a voter id listed twice is refused (Kafka keeps the last entry without a word);
//! - a voter or bootstrap server with an empty host is refused (Kafka takes it, then connects to
//!   the local host);
//! - a voter on `0.0.0.0` is refused when the configuration is read (Kafka refuses it only when
//!   its Raft client starts, with the same message);
//! - Kafka's parse messages come wrapped as `Invalid value V for configuration NAME: ...`, like
//!   every other property's;
//! - `broker.session.timeout.ms` and `broker.heartbeat.interval.ms` must be at least 1 (Kafka
//!   checks nothing; zero or a negative lease makes no sense).

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::listeners::host_port;
use super::{invalid, ConfigError};

/// `process.roles`: the roles this process plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessRoles {
    /// Serves clients (`broker`).
    pub broker: bool,
    /// Votes in (or follows) the metadata quorum (`controller`).
    pub controller: bool,
    /// Whether `process.roles` was set. When it is not (minikafka's default, not allowed by
    /// Kafka 4), `broker` and `controller` are both true and the quorum is this node alone.
    pub explicit: bool,
}

impl ProcessRoles {
    /// The roles when `process.roles` is unset: both, in a quorum of this node alone.
    pub const IMPLIED: ProcessRoles = ProcessRoles {
        broker: true,
        controller: true,
        explicit: false,
    };

    /// Only the broker role, explicitly (`process.roles=broker`).
    pub fn broker_only(self) -> bool {
        self.explicit && self.broker && !self.controller
    }

    /// Only the controller role, explicitly (`process.roles=controller`).
    pub fn controller_only(self) -> bool {
        self.explicit && self.controller && !self.broker
    }
}

/// One entry of `controller.quorum.voters`: `ID@HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumVoter {
    /// The voter's `node.id`.
    pub id: i32,
    /// Host of its controller listener, without IPv6 brackets.
    pub host: String,
    /// Port of its controller listener.
    pub port: u16,
}

impl QuorumVoter {
    /// `HOST:PORT`, with brackets around an IPv6 address.
    pub fn host_port(&self) -> String {
        host_port(&self.host, self.port)
    }
}

/// The controller quorum settings (Kafka's `QuorumConfig`, plus `process.roles` and
/// `metadata.log.dir`), validated against `node.id` and the listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConfig {
    /// `process.roles`.
    pub roles: ProcessRoles,
    /// `controller.quorum.voters`, in the given order (ids distinct); empty when unset.
    pub voters: Vec<QuorumVoter>,
    /// `controller.quorum.bootstrap.servers`: (host without IPv6 brackets, port), in order.
    pub bootstrap_servers: Vec<(String, u16)>,
    /// `controller.quorum.election.timeout.ms`: time without a fetch from the leader before a
    /// voter starts an election.
    pub election_timeout_ms: u64,
    /// `controller.quorum.election.backoff.max.ms`: cap of the exponential backoff between
    /// elections.
    pub election_backoff_max_ms: u64,
    /// `controller.quorum.fetch.timeout.ms`: time without a successful fetch before a follower
    /// becomes a candidate, and before a leader without fetches from a majority resigns.
    pub fetch_timeout_ms: u64,
    /// `controller.quorum.request.timeout.ms`: wait for the answer to a quorum request.
    pub request_timeout_ms: u64,
    /// `controller.quorum.retry.backoff.ms`: wait before retrying a failed quorum request.
    pub retry_backoff_ms: u64,
    /// `metadata.log.dir`; `None` = the data directory (`log.dirs`), as Kafka puts the metadata
    /// log in the first log directory.
    pub metadata_log_dir: Option<PathBuf>,
}

impl QuorumConfig {
    /// Whether this node is the whole quorum: `process.roles` unset, or `broker,controller` with
    /// exactly one voter. That voter is this node: validation refuses a controller whose
    /// `node.id` is not among the voters. With only bootstrap servers the voter set is not known
    /// from the configuration, so this is `false`.
    pub fn single_node(&self) -> bool {
        !self.roles.explicit
            || (self.roles.broker && self.roles.controller && self.voters.len() == 1)
    }
}

/// Kafka's `process.roles` values (`ValidList.in("broker", "controller")`).
const ROLES: [&str; 2] = ["broker", "controller"];

/// The entries of a Kafka `LIST` value: none for an empty value, else every comma-separated
/// entry trimmed, empty ones included (`ConfigDef.parseType`).
fn list_entries(value: &str) -> Vec<&str> {
    let value = value.trim();
    if value.is_empty() {
        Vec::new()
    } else {
        value.split(',').map(str::trim).collect()
    }
}

/// Parse a set `process.roles` as Kafka 4.x does: each entry `broker` or `controller` (case
/// matters), no empty entry; a role given twice counts once. An empty value is unset.
pub(crate) fn parse_roles(value: &str) -> Result<ProcessRoles, ConfigError> {
    let entries = list_entries(value);
    if entries.is_empty() {
        return Ok(ProcessRoles::IMPLIED);
    }
    let mut roles = ProcessRoles {
        broker: false,
        controller: false,
        explicit: true,
    };
    for entry in entries {
        match entry {
            "" => {
                return Err(ConfigError::Quorum(
                    "Configuration 'process.roles' values must not be empty.".into(),
                ))
            }
            "broker" => roles.broker = true,
            "controller" => roles.controller = true,
            other => {
                return Err(invalid(
                    "process.roles",
                    other,
                    format!("String must be one of: {}", ROLES.join(", ")),
                ))
            }
        }
    }
    Ok(roles)
}

/// `Utils.getHost`/`getPort`: `[SCHEME://][[]HOST[]]:PORT` matched whole by Kafka's
/// `HOST_PORT_PATTERN`; the host without brackets, and the port's digits.
fn split_host_port(address: &str) -> Option<(&str, &str)> {
    let scheme_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '%' | '.' | '_');
    let rest = match address.split_once("://") {
        Some((scheme, rest)) if scheme.chars().all(scheme_char) => rest,
        _ => address,
    };
    let (host, port) = rest.rsplit_once(':')?;
    let host = host.strip_prefix('[').unwrap_or(host);
    let host = host.strip_suffix(']').unwrap_or(host);
    let host_ok = host.chars().all(|c| scheme_char(c) || c == ':');
    let port_ok = !port.is_empty() && port.chars().all(|c| c.is_ascii_digit());
    (host_ok && port_ok).then_some((host, port))
}

/// A port as `InetSocketAddress` takes it (its message for one out of range).
fn port(digits: &str) -> Result<u16, String> {
    digits
        .parse::<u16>()
        .map_err(|_| format!("port out of range:{digits}"))
}

/// Java's `String.split("@")`: trailing empty parts dropped.
fn java_split_at(entry: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = entry.split('@').collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts
}

/// Parse `controller.quorum.voters` as `QuorumConfig.parseVoterConnections` does (with the
/// routable-address check Kafka makes when its Raft client starts), with its messages; ids must
/// be distinct.
pub(crate) fn parse_voters(value: &str) -> Result<Vec<QuorumVoter>, String> {
    const FORM: &str = "Each entry should be in the form `{id}@{host}:{port}`.";
    let mut voters: Vec<QuorumVoter> = Vec::new();
    for entry in list_entries(value) {
        let [id, address] = java_split_at(entry)[..] else {
            return Err(format!(
                "Invalid configuration value for controller.quorum.voters. {FORM}"
            ));
        };
        let id: i32 = id
            .parse()
            .map_err(|_| format!("Failed to parse voter ID as an integer from {id}"))?;
        let (host, digits) = split_host_port(address)
            .filter(|(host, _)| !host.is_empty())
            .ok_or_else(|| {
                format!(
                    "Failed to parse host name from entry {entry} for the configuration \
                     controller.quorum.voters. {FORM}"
                )
            })?;
        let port = port(digits)?;
        if host == "0.0.0.0" {
            return Err(format!("Host string ({host}) is not routeable"));
        }
        if voters.iter().any(|v| v.id == id) {
            return Err(format!("voter id {id} is listed more than once"));
        }
        voters.push(QuorumVoter {
            id,
            host: host.to_string(),
            port,
        });
    }
    Ok(voters)
}

/// Parse `controller.quorum.bootstrap.servers` as `QuorumConfig.parseBootstrapServer` does, with
/// its messages.
pub(crate) fn parse_bootstrap_servers(value: &str) -> Result<Vec<(String, u16)>, String> {
    list_entries(value)
        .into_iter()
        .map(|entry| {
            let (host, digits) = split_host_port(entry)
                .filter(|(host, _)| !host.is_empty())
                .ok_or_else(|| {
                    format!(
                        "Failed to parse host name from {entry} for the configuration \
                         controller.quorum.bootstrap.servers. Each entry should be in the form \
                         \"{{host}}:{{port}}\""
                    )
                })?;
            Ok((host.to_string(), port(digits)?))
        })
        .collect()
}

/// Scala's text for the set of voter ids, as Kafka's messages print it (`Set(1, 2)`; Scala
/// names a set of more than four elements `HashSet`). Ids in ascending order.
fn scala_set(ids: &BTreeSet<i32>) -> String {
    let name = if ids.len() > 4 { "HashSet" } else { "Set" };
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    format!("{name}({})", ids.join(", "))
}

/// `KafkaConfig.populateSynonyms` and its check: `broker.id` (deprecated) gives `node.id` when
/// only it is set, and takes `node.id`'s value otherwise; set both, they must agree. A property
/// filled in from its synonym counts as set at start, as Kafka puts it in the originals.
pub(crate) fn node_id_synonyms(
    values: &mut std::collections::BTreeMap<String, String>,
    set_at_start: &mut BTreeSet<String>,
) -> Result<(), ConfigError> {
    let number = |name: &str| values.get(name).and_then(|v| v.trim().parse::<i64>().ok());
    match (
        set_at_start.contains("node.id"),
        set_at_start.contains("broker.id"),
    ) {
        (true, true) if number("node.id") != number("broker.id") => {
            return Err(ConfigError::Quorum(
                "`node.id` and `broker.id` must be set to the same value. `broker.id` is \
                 deprecated, please use `node.id` instead."
                    .into(),
            ))
        }
        (false, true) => {
            let id = values.get("broker.id").cloned().unwrap_or_default();
            values.insert("node.id".into(), id);
            set_at_start.insert("node.id".into());
        }
        (true, false) => {
            set_at_start.insert("broker.id".into());
        }
        _ => {}
    }
    let id = values.get("node.id").cloned().unwrap_or_default();
    values.insert("broker.id".into(), id);
    Ok(())
}

/// The quorum settings as read (already checked one by one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct QuorumSettings<'a> {
    /// `node.id`, after `broker.id`.
    pub(crate) node_id: i32,
    /// `process.roles`, if set.
    pub(crate) roles: Option<&'a str>,
    /// `controller.quorum.voters`.
    pub(crate) voters: &'a str,
    /// `controller.quorum.bootstrap.servers`.
    pub(crate) bootstrap_servers: &'a str,
    /// `controller.listener.names`, if set.
    pub(crate) controller_names: Option<&'a str>,
}

/// Parse the quorum membership and check it against the roles and `node.id`, in Kafka's order
/// (`KafkaConfig.validateValues`) and with its messages. The listener checks that depend on the
/// roles follow in `Listeners::resolve`. The timings are left at their defaults here; the
/// caller fills them in.
pub(crate) fn resolve(s: &QuorumSettings<'_>) -> Result<QuorumConfig, ConfigError> {
    let roles = match s.roles {
        Some(text) => parse_roles(text)?,
        None => ProcessRoles::IMPLIED,
    };
    let voters = parse_voters(s.voters)
        .map_err(|reason| invalid("controller.quorum.voters", s.voters, reason))?;
    let bootstrap_servers = parse_bootstrap_servers(s.bootstrap_servers).map_err(|reason| {
        invalid(
            "controller.quorum.bootstrap.servers",
            s.bootstrap_servers,
            reason,
        )
    })?;
    if roles.explicit {
        let controller_names = s.controller_names.map_or("", str::trim);
        if controller_names.is_empty() {
            return Err(ConfigError::Quorum(
                "Missing required configuration \"controller.listener.names\" which has no \
                 default value."
                    .into(),
            ));
        }
        if voters.is_empty() && bootstrap_servers.is_empty() {
            return Err(ConfigError::Quorum(
                "If using process.roles, either controller.quorum.bootstrap.servers must \
                 contain the set of bootstrap controllers or controller.quorum.voters must \
                 contain a parseable set of controllers."
                    .into(),
            ));
        }
        let ids: BTreeSet<i32> = voters.iter().map(|v| v.id).collect();
        let node = s.node_id;
        if roles.broker_only() && ids.contains(&node) {
            return Err(ConfigError::Quorum(format!(
                "If process.roles contains just the 'broker' role, the node id {node} must not \
                 be included in the set of voters controller.quorum.voters={}",
                scala_set(&ids)
            )));
        }
        if roles.controller && !ids.is_empty() && !ids.contains(&node) {
            return Err(ConfigError::Quorum(format!(
                "If process.roles contains the 'controller' role, the node id {node} must be \
                 included in the set of voters controller.quorum.voters={}",
                scala_set(&ids)
            )));
        }
    } else {
        // minikafka's own rule: without process.roles the quorum is this node alone.
        for (name, given) in [
            ("controller.quorum.voters", !voters.is_empty()),
            (
                "controller.quorum.bootstrap.servers",
                !bootstrap_servers.is_empty(),
            ),
        ] {
            if given {
                return Err(ConfigError::Quorum(format!(
                    "{name} is set but process.roles is not: without process.roles minikafka \
                     runs one node in both roles, a quorum of itself. Set process.roles (e.g. \
                     broker,controller) to join a quorum, or remove {name}."
                )));
            }
        }
    }
    Ok(QuorumConfig {
        roles,
        voters,
        bootstrap_servers,
        election_timeout_ms: 1_000,
        election_backoff_max_ms: 1_000,
        fetch_timeout_ms: 2_000,
        request_timeout_ms: 2_000,
        retry_backoff_ms: 20,
        metadata_log_dir: None,
    })
}

/// Kafka's warning (logged at ERROR, not refused) when heartbeats are too rare for the lease;
/// whether it was logged.
pub(crate) fn check_heartbeat(heartbeat_ms: u64, session_ms: u64) -> bool {
    let rare = heartbeat_ms > session_ms / 2;
    if rare {
        tracing::error!(
            "broker.heartbeat.interval.ms ({heartbeat_ms} ms) must be less than or equal to half \
             of the broker.session.timeout.ms ({session_ms} ms). The broker.session.timeout.ms \
             is configured on controller. The broker.heartbeat.interval.ms is configured on \
             broker. If a broker doesn't send heartbeat request within \
             broker.session.timeout.ms, it loses broker lease. Please increase \
             broker.session.timeout.ms or decrease broker.heartbeat.interval.ms."
        );
    }
    rare
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_as_kafka_4() {
        let r = parse_roles("broker,controller").unwrap();
        assert_eq!((r.broker, r.controller, r.explicit), (true, true, true));
        let r = parse_roles(" controller ").unwrap();
        assert!(r.controller_only() && !r.broker_only());
        assert!(parse_roles("broker").unwrap().broker_only());
        // Kafka 4.4 counts a repeated role once.
        assert_eq!(
            parse_roles("broker,controller,broker").unwrap(),
            parse_roles("controller,broker").unwrap()
        );
        assert_eq!(parse_roles("").unwrap(), ProcessRoles::IMPLIED);
        assert_eq!(
            parse_roles("broker,foo").unwrap_err().to_string(),
            "Invalid value foo for configuration process.roles: String must be one of: broker, controller"
        );
        assert_eq!(
            parse_roles("Broker").unwrap_err().to_string(),
            "Invalid value Broker for configuration process.roles: String must be one of: broker, controller"
        );
        assert_eq!(
            parse_roles("broker,").unwrap_err().to_string(),
            "Configuration 'process.roles' values must not be empty."
        );
    }

    #[test]
    fn voters_parse_as_kafka() {
        let v =
            parse_voters(" 1@localhost:9093 , 2@[::1]:9094,3@::1:9095,4@CONTROLLER://h:1").unwrap();
        assert_eq!(
            v.iter()
                .map(|v| (v.id, v.host.as_str(), v.port))
                .collect::<Vec<_>>(),
            [
                (1, "localhost", 9093),
                (2, "::1", 9094),
                (3, "::1", 9095),
                (4, "h", 1)
            ]
        );
        assert_eq!(v[1].host_port(), "[::1]:9094");
        assert_eq!(parse_voters(""), Ok(vec![]));
        // Java's split drops a trailing empty part, so Kafka takes this one.
        assert_eq!(parse_voters("1@h:9093@").unwrap()[0].port, 9093);
        let form = "Each entry should be in the form `{id}@{host}:{port}`.";
        for (value, message) in [
            ("a@localhost:9093", "Failed to parse voter ID as an integer from a".to_string()),
            ("@localhost:9093", "Failed to parse voter ID as an integer from ".to_string()),
            (
                "localhost:9093",
                format!("Invalid configuration value for controller.quorum.voters. {form}"),
            ),
            (
                "1@h:1,",
                format!("Invalid configuration value for controller.quorum.voters. {form}"),
            ),
            (
                "1@@h:1",
                format!("Invalid configuration value for controller.quorum.voters. {form}"),
            ),
            (
                "1@localhost",
                format!("Failed to parse host name from entry 1@localhost for the configuration controller.quorum.voters. {form}"),
            ),
            (
                "1@bad/host:9093",
                format!("Failed to parse host name from entry 1@bad/host:9093 for the configuration controller.quorum.voters. {form}"),
            ),
            (
                "1@:9093",
                format!("Failed to parse host name from entry 1@:9093 for the configuration controller.quorum.voters. {form}"),
            ),
            ("1@h:70000", "port out of range:70000".to_string()),
            ("1@0.0.0.0:9093", "Host string (0.0.0.0) is not routeable".to_string()),
            ("1@a:9093,1@b:9093", "voter id 1 is listed more than once".to_string()),
        ] {
            assert_eq!(parse_voters(value), Err(message), "{value}");
        }
    }

    #[test]
    fn bootstrap_servers_parse_as_kafka() {
        assert_eq!(
            parse_bootstrap_servers("a:1, [::1]:2,0.0.0.0:3").unwrap(),
            [("a".into(), 1), ("::1".into(), 2), ("0.0.0.0".into(), 3)]
        );
        assert_eq!(
            parse_bootstrap_servers("localhost"),
            Err("Failed to parse host name from localhost for the configuration controller.quorum.bootstrap.servers. Each entry should be in the form \"{host}:{port}\"".into())
        );
        assert!(parse_bootstrap_servers(":1").is_err());
        assert!(parse_bootstrap_servers("a:1,").is_err());
        assert_eq!(
            parse_bootstrap_servers("h:70000"),
            Err("port out of range:70000".into())
        );
    }

    #[test]
    fn heartbeats_rarer_than_half_the_session_are_reported() {
        assert!(!check_heartbeat(2_000, 9_000));
        assert!(!check_heartbeat(4_500, 9_000));
        assert!(check_heartbeat(4_501, 9_000));
    }

    #[test]
    fn voter_sets_print_as_scala_does() {
        assert_eq!(scala_set(&[3, 2].into()), "Set(2, 3)");
        assert_eq!(scala_set(&BTreeSet::new()), "Set()");
        assert_eq!(scala_set(&[1, 2, 3, 4, 5].into()), "HashSet(1, 2, 3, 4, 5)");
    }

    #[test]
    fn single_node_is_the_implied_quorum_or_one_combined_voter() {
        let settings = |roles, voters, bootstrap| QuorumSettings {
            node_id: 1,
            roles,
            voters,
            bootstrap_servers: bootstrap,
            controller_names: Some("CONTROLLER"),
        };
        assert!(resolve(&settings(None, "", "")).unwrap().single_node());
        let one = resolve(&settings(Some("broker,controller"), "1@h:9093", "")).unwrap();
        assert!(one.single_node());
        let three = settings(Some("broker,controller"), "1@a:9093,2@b:9093,3@c:9093", "");
        assert!(!resolve(&three).unwrap().single_node());
        let dynamic = settings(Some("broker,controller"), "", "a:9093");
        assert!(!resolve(&dynamic).unwrap().single_node());
        let controller = settings(Some("controller"), "1@h:9093", "");
        assert!(!resolve(&controller).unwrap().single_node());
    }
}
