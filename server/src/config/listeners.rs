//! Named listeners, as Kafka configures them: `listeners`, `advertised.listeners`,
//! `listener.security.protocol.map`, `inter.broker.listener.name` /
//! `security.inter.broker.protocol` and `controller.listener.names`.
//!
//! It exists so that one broker can be reached under several addresses, each told to the clients
//! that use it: the Docker pattern of an `INTERNAL` listener (advertised as the container's name,
//! for other containers) beside an `EXTERNAL` one (advertised as `localhost`, for the host). A
//! connection remembers the listener it arrived on, and Metadata, DescribeCluster and
//! FindCoordinator answer with that listener's advertised endpoint, as Kafka's metadata cache
//! answers for the request's listener name.
//!
//! Parsing and checks follow Kafka 4.x (`SocketServerConfigs.listenerListToEndPoints`,
//! `AbstractKafkaConfig.validate`/`effectiveListenerSecurityProtocolMap`/
//! `interBrokerListenerNameAndSecurityProtocol`, `KafkaConfig.validateValues`), with its messages.
//! Where minikafka differs, on purpose:
//! - a bare `HOST:PORT` entry is the `PLAINTEXT` listener (our configs before named listeners);
//! - a listener left out of a set `advertised.listeners` advertises its own address (Kafka
//!   advertises nothing for it, and its clients get Metadata without a broker);
//! - `PLAINTEXT` and `SSL` are served on every listener (SSL between nodes too: the inter-broker
//!   and controller listeners); `SASL_PLAINTEXT` and `SASL_SSL` on client listeners only (not yet
//!   between nodes);
//! - the listeners of `controller.listener.names` are bound with the controller role (they carry
//!   the quorum's RPCs and the brokers' heartbeats) and never advertised to clients.
//!
//! The controller listeners follow `process.roles` as in Kafka 4.x: with the controller role
//! (or `process.roles` unset, minikafka's implied combined mode) they must be among `listeners`;
//! on a broker-only node none may be, and each must have a security protocol. An
//! `advertised.listeners` entry for a controller listener is its advertised endpoint (KIP-853),
//! allowed whatever the roles, as in Kafka 4.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::quorum::ProcessRoles;

/// Kafka's `SecurityProtocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// `PLAINTEXT`.
    Plaintext,
    /// `SSL`.
    Ssl,
    /// `SASL_PLAINTEXT`.
    SaslPlaintext,
    /// `SASL_SSL`.
    SaslSsl,
}

impl SecurityProtocol {
    /// Every protocol, in Kafka's declaration order.
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    /// Kafka's names, in the order of [`SecurityProtocol::ALL`].
    pub const NAMES: [&'static str; 4] = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

    /// Kafka's name, which is also the listener name it defaults to.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// `SecurityProtocol.forName`: the name in any case.
    pub fn from_name(name: &str) -> Option<SecurityProtocol> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// Kafka's `ListenerName.normalised`: listener names are compared in upper case.
pub fn normalised(name: &str) -> String {
    name.trim().to_uppercase()
}

/// One `NAME://HOST:PORT` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The listener name, normalised.
    pub name: String,
    /// The host without IPv6 brackets; empty = every interface (Kafka's null host).
    pub host: String,
    /// The port; 0 picks a free one.
    pub port: u16,
}

impl Endpoint {
    /// `HOST:PORT`, with brackets around an IPv6 address.
    pub fn host_port(&self) -> String {
        host_port(&self.host, self.port)
    }
}

/// `HOST:PORT`, with brackets around an IPv6 address.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Parse one entry as Kafka's `URI_PARSE_REGEXP` (`^(.*)://\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)`)
/// does; a bare `HOST:PORT` is the `PLAINTEXT` listener.
pub(crate) fn parse_endpoint(entry: &str) -> Result<Endpoint, String> {
    let unparsable = || format!("Unable to parse {entry} to a broker endpoint");
    let (name, rest) = entry.rsplit_once("://").unwrap_or(("PLAINTEXT", entry));
    let (host, port) = rest.rsplit_once(':').ok_or_else(unparsable)?;
    let host = host.strip_prefix('[').unwrap_or(host);
    let host = host.strip_suffix(']').unwrap_or(host);
    let host_ok = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '%' | '.' | '_' | ':'));
    if !host_ok || port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
        return Err(unparsable());
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("{}: the port must be from 0 to 65535", unparsable()))?;
    Ok(Endpoint {
        name: normalised(name),
        host: host.to_string(),
        port,
    })
}

/// The entries of a list property (Kafka's `LIST`: comma-separated, trimmed).
fn entries(value: &str) -> Vec<&str> {
    value.split(',').map(str::trim).collect()
}

/// Parse every entry of `listeners` or `advertised.listeners` (syntax only).
pub(crate) fn parse_endpoints(value: &str) -> Result<Vec<Endpoint>, String> {
    entries(value).into_iter().map(parse_endpoint).collect()
}

/// Parse `listener.security.protocol.map` as Kafka's `Csv.parseCsvMap` (the protocol follows the
/// last `:`; a later entry for a name wins), with `securityProtocol`'s message.
pub(crate) fn parse_protocol_map(
    value: &str,
) -> Result<BTreeMap<String, SecurityProtocol>, String> {
    let mut map = BTreeMap::new();
    for entry in entries(value).into_iter().filter(|e| !e.is_empty()) {
        let Some((name, protocol)) = entry.rsplit_once(':') else {
            return Err(format!(
                "Error parsing configuration property 'listener.security.protocol.map': \
                 '{entry}' is not NAME:PROTOCOL"
            ));
        };
        let protocol = SecurityProtocol::from_name(protocol).ok_or_else(|| {
            format!(
                "Invalid security protocol `{}` defined in listener.security.protocol.map",
                protocol.trim()
            )
        })?;
        map.insert(normalised(name), protocol);
    }
    Ok(map)
}

/// The listener settings as given (text, and whether each was set at start).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListenerSettings<'a> {
    /// `listeners`.
    pub(crate) listeners: &'a str,
    /// `advertised.listeners`, if set.
    pub(crate) advertised: Option<&'a str>,
    /// `listener.security.protocol.map`.
    pub(crate) protocol_map: &'a str,
    /// Whether `listener.security.protocol.map` was set (Kafka's `originals().containsKey`).
    pub(crate) protocol_map_set: bool,
    /// `inter.broker.listener.name`, if set.
    pub(crate) inter_broker_name: Option<&'a str>,
    /// `security.inter.broker.protocol`.
    pub(crate) inter_broker_protocol: &'a str,
    /// Whether `security.inter.broker.protocol` was set.
    pub(crate) inter_broker_protocol_set: bool,
    /// `controller.listener.names`, if set.
    pub(crate) controller_names: Option<&'a str>,
    /// `process.roles`: which of Kafka's controller-listener rules apply.
    pub(crate) roles: ProcessRoles,
}

/// One configured listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Where it binds (name normalised; empty host = every interface).
    pub bind: Endpoint,
    /// Its security protocol (always `PLAINTEXT` once validated).
    pub protocol: SecurityProtocol,
    /// Its `advertised.listeners` entry; `None` = advertise the bound address.
    pub advertised: Option<Endpoint>,
    /// Named in `controller.listener.names`: neither bound nor advertised.
    pub controller: bool,
}

/// Every listener, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listeners {
    /// The entries of `listeners`, in order.
    pub all: Vec<Listener>,
    /// The inter-broker listener's name (`inter.broker.listener.name`, or the name of
    /// `security.inter.broker.protocol`): the endpoints the brokers' requests to each other go to
    /// (transaction markers and verifications, `interbroker.rs`).
    pub inter_broker: String,
    /// `controller.listener.names`, normalised, in the given order.
    pub controller_names: Vec<String>,
    /// Every listener name's security protocol (`listener.security.protocol.map` with Kafka's
    /// defaults): also the controller listener a broker-only node dials but does not bind.
    pub protocols: BTreeMap<String, SecurityProtocol>,
}

impl Listeners {
    /// The security protocol of listener `name` (PLAINTEXT when unknown).
    pub fn protocol_of(&self, name: &str) -> SecurityProtocol {
        self.protocols
            .get(name)
            .copied()
            .unwrap_or(SecurityProtocol::Plaintext)
    }
}

/// Java's `List.toString`, as Kafka's messages print the listener list.
fn java_list(value: &str) -> String {
    format!("[{}]", entries(value).join(", "))
}

/// Kafka's `AbstractKafkaConfig.validate`: distinct names and, for `listeners`, distinct ports
/// (port 0 aside; two listeners may share a port when one has an IPv4 and the other an IPv6
/// address).
fn check_distinct(endpoints: &[Endpoint], value: &str, ports: bool) -> Result<(), String> {
    let listeners = java_list(value);
    let mut names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names.len() != endpoints.len() {
        return Err(format!(
            "Each listener must have a different name, listeners: {listeners}"
        ));
    }
    if !ports {
        return Ok(());
    }
    let mut by_port: BTreeMap<u16, Vec<&Endpoint>> = BTreeMap::new();
    for e in endpoints.iter().filter(|e| e.port != 0) {
        by_port.entry(e.port).or_default().push(e);
    }
    for (port, eps) in by_port.into_iter().filter(|(_, eps)| eps.len() > 1) {
        let ip = |e: &Endpoint| e.host.parse::<IpAddr>().ok();
        let (with_ip, without_ip): (Vec<&Endpoint>, Vec<&Endpoint>) =
            eps.into_iter().partition(|e| ip(e).is_some());
        if without_ip.len() > 1 {
            return Err(format!(
                "Each listener must have a different port, listeners: {listeners}"
            ));
        }
        match with_ip.as_slice() {
            [] => {}
            [a, b] => {
                let v4 = |e: &Endpoint| ip(e).is_some_and(|i| i.is_ipv4());
                if v4(a) == v4(b) || !without_ip.is_empty() {
                    return Err(format!(
                        "If you have two listeners on the same port then one needs to be IPv4 \
                         and the other IPv6, listeners: {listeners}, port: {port}"
                    ));
                }
            }
            _ => {
                return Err(format!(
                    "Each listener must have a different port unless exactly one listener has \
                     an IPv4 address and the other IPv6 address, listeners: {listeners}, port: {port}"
                ))
            }
        }
    }
    Ok(())
}

/// Parse a list of endpoints with their protocols (`SocketServerConfigs.listenerListToEndPoints`
/// then `validate`), wrapped in Kafka's "Error creating broker listeners" message.
fn endpoints_with_protocols(
    value: &str,
    map: &BTreeMap<String, SecurityProtocol>,
    distinct_ports: bool,
) -> Result<Vec<(Endpoint, SecurityProtocol)>, String> {
    let parsed = parse_endpoints(value).and_then(|eps| {
        let with: Vec<_> = eps
            .into_iter()
            .map(|e| match map.get(&e.name) {
                Some(&p) => Ok((e, p)),
                None => Err(format!(
                    "No security protocol defined for listener {}",
                    e.name
                )),
            })
            .collect::<Result<_, _>>()?;
        let eps: Vec<Endpoint> = with.iter().map(|(e, _)| e.clone()).collect();
        check_distinct(&eps, value, distinct_ports)?;
        Ok(with)
    });
    parsed.map_err(|e| {
        format!(
            "Error creating broker listeners from '{}': {e}",
            java_list(value)
        )
    })
}

/// The names of a set, comma-separated in order (Kafka prints `Set.mkString(",")`).
fn names<'a>(it: impl IntoIterator<Item = &'a str>) -> String {
    it.into_iter().collect::<Vec<_>>().join(",")
}

impl Listeners {
    /// The listeners that serve clients (every one not in `controller.listener.names`).
    pub fn brokers(&self) -> impl Iterator<Item = &Listener> {
        self.all.iter().filter(|l| !l.controller)
    }

    /// This node's controller listeners, in the order of `controller.listener.names` (none on a
    /// broker-only node, whose controller listener names only say how to reach the controllers).
    pub fn controllers(&self) -> impl Iterator<Item = &Listener> {
        self.controller_names
            .iter()
            .filter_map(|n| self.all.iter().find(|l| l.controller && &l.bind.name == n))
    }

    /// The controller listener this node's quorum member binds and advertises: the first of
    /// `controller.listener.names` (Kafka's choice too). Its address is `bind`; the address
    /// other voters are told is `advertised`, else the bound one.
    pub fn controller(&self) -> Option<&Listener> {
        self.controllers().next()
    }

    /// Validate the listener settings against each other, in Kafka's order and with its messages.
    pub(crate) fn resolve(s: &ListenerSettings<'_>) -> Result<Listeners, String> {
        let controller_names: Vec<String> = s
            .controller_names
            .map(|v| {
                entries(v)
                    .into_iter()
                    .filter(|n| !n.is_empty())
                    .map(normalised)
                    .collect()
            })
            .unwrap_or_default();
        let mut map = parse_protocol_map(s.protocol_map)?;
        // Kafka's default for KRaft: controller listeners are PLAINTEXT when the map is not
        // set and no listener is named after SSL or SASL.
        let ssl_or_sasl = |n: &str| {
            SecurityProtocol::from_name(n).is_some_and(|p| p != SecurityProtocol::Plaintext)
        };
        let listener_names: Vec<String> = parse_endpoints(s.listeners)?
            .into_iter()
            .map(|e| e.name)
            .collect();
        if !s.protocol_map_set
            && !controller_names.iter().any(|n| ssl_or_sasl(n))
            && !listener_names.iter().any(|n| ssl_or_sasl(n))
        {
            for n in &controller_names {
                map.entry(n.clone()).or_insert(SecurityProtocol::Plaintext);
            }
        }
        let listeners = endpoints_with_protocols(s.listeners, &map, true)?;
        let advertised = match s.advertised {
            Some(v) => endpoints_with_protocols(v, &map, false)?,
            None => Vec::new(),
        };
        let is_controller = |name: &str| controller_names.iter().any(|n| n == name);
        if s.roles.broker_only() {
            check_broker_only(&controller_names, &listener_names, &map)?;
        } else {
            if s.roles.controller_only() && listener_names.iter().any(|n| !is_controller(n)) {
                let message = "The listeners config must only contain KRaft controller listeners \
                               from controller.listener.names when process.roles=controller";
                return Err(message.into());
            }
            // Kafka's `effectiveAdvertisedControllerListeners`: each controller name's
            // advertised entry, else its listener.
            let named = |n: &String| {
                listener_names.contains(n) || advertised.iter().any(|(a, _)| &a.name == n)
            };
            if s.roles.explicit && !controller_names.iter().any(named) {
                let message =
                    "controller.listener.names must contain at least one value appearing in the \
                     'listeners' configuration when running the KRaft controller role";
                return Err(message.into());
            }
            if let Some(n) = controller_names
                .iter()
                .find(|n| !listener_names.contains(n))
            {
                return Err(format!(
                    "controller.listener.names must only contain values appearing in the \
                     'listeners' configuration when running the KRaft controller role \
                     ({n} is not a listener)"
                ));
            }
        }
        let all: Vec<Listener> = listeners
            .into_iter()
            .map(|(bind, protocol)| Listener {
                advertised: advertised
                    .iter()
                    .find(|(a, _)| a.name == bind.name)
                    .map(|(a, _)| a.clone()),
                controller: is_controller(&bind.name),
                bind,
                protocol,
            })
            .collect();
        let broker_names: Vec<&str> = all
            .iter()
            .filter(|l| !l.controller)
            .map(|l| l.bind.name.as_str())
            .collect();
        let inter_broker = inter_broker_name(s, &map)?;
        if s.roles.broker {
            check_broker_listeners(
                &broker_names,
                &inter_broker,
                &advertised,
                &listener_names,
                &is_controller,
            )?;
        }
        // What each broker listener advertises: its advertised entry, else its own address.
        let meta_address = all.iter().filter(|l| !l.controller).any(|l| {
            let host = l.advertised.as_ref().map_or(&l.bind.host, |a| &a.host);
            host == "0.0.0.0"
        });
        if meta_address {
            return Err(
                "advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. \
                        Use a routable IP address."
                    .into(),
            );
        }
        // A broker-only node's controller listener is one it connects to, not one it binds.
        let connected = controller_names
            .first()
            .filter(|_| s.roles.broker_only())
            .and_then(|n| Some((n.as_str(), *map.get(n)?)));
        // SSL is served on every listener (between nodes too: net/tls.rs's client side); SASL
        // on client listeners only: brokers and controllers do not talk to each other over SASL
        // yet.
        let protocols = all
            .iter()
            .map(|l| {
                let between_nodes = l.controller || l.bind.name == inter_broker;
                (l.bind.name.as_str(), l.protocol, between_nodes)
            })
            .chain(connected.map(|(n, p)| (n, p, true)));
        for (name, protocol, between_nodes) in protocols {
            match protocol {
                SecurityProtocol::Plaintext | SecurityProtocol::Ssl => {}
                SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl if !between_nodes => {}
                SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => {
                    return Err(format!(
                        "listener {name} uses security protocol {} \
                         (listener.security.protocol.map), and it carries traffic between \
                         nodes (inter-broker or controller listener): minikafka serves SASL on \
                         client listeners only so far; give the nodes a PLAINTEXT or SSL listener",
                        protocol.name()
                    ))
                }
            }
        }
        Ok(Listeners {
            all,
            inter_broker,
            controller_names,
            protocols: map,
        })
    }
}

/// Kafka's rules for `process.roles=broker`: controller listeners are not among `listeners`, and
/// each has a security protocol (the first is the one used to reach the controllers).
fn check_broker_only(
    controller_names: &[String],
    listener_names: &[String],
    map: &BTreeMap<String, SecurityProtocol>,
) -> Result<(), String> {
    if controller_names.iter().any(|n| listener_names.contains(n)) {
        let message = "controller.listener.names must not contain a value appearing in the \
                       'listeners' configuration when running KRaft with just the broker role";
        return Err(message.into());
    }
    if let Some(n) = controller_names.iter().find(|n| !map.contains_key(*n)) {
        return Err(format!(
            "Controller listener with name {n} defined in controller.listener.names not found in \
             listener.security.protocol.map  (an explicit security mapping for each controller \
             listener is required if listener.security.protocol.map is non-empty, or if there \
             are security protocols other than PLAINTEXT in use)"
        ));
    }
    if controller_names.len() > 1 {
        tracing::warn!(
            "controller.listener.names has multiple entries; only the first will be used since \
             process.roles=broker: [{}]",
            controller_names.join(", ")
        );
    }
    Ok(())
}

/// Kafka's checks of every node with the broker role: a broker listener exists, the inter-broker
/// listener is one, and the advertised broker listeners are among `listeners`.
fn check_broker_listeners(
    broker_names: &[&str],
    inter_broker: &str,
    advertised: &[(Endpoint, SecurityProtocol)],
    listener_names: &[String],
    is_controller: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    if broker_names.is_empty() {
        let message = "There must be at least one broker advertised listener. Perhaps all \
                       listeners appear in controller.listener.names?";
        return Err(message.into());
    }
    if !broker_names.contains(&inter_broker) {
        return Err(format!(
            "inter.broker.listener.name must be a listener name defined in \
             advertised.listeners. The valid options based on currently configured \
             listeners are {}",
            names(broker_names.iter().copied())
        ));
    }
    let advertised_broker: Vec<&str> = advertised
        .iter()
        .map(|(a, _)| a.name.as_str())
        .filter(|n| !is_controller(n))
        .collect();
    if advertised_broker.iter().any(|n| !broker_names.contains(n)) {
        return Err(format!(
            "advertised.listeners listener names must be equal to or a subset of the ones \
             defined in listeners. Found {}. The valid options based on the current \
             configuration are {}",
            names(advertised_broker.iter().copied()),
            names(listener_names.iter().map(String::as_str))
        ));
    }
    Ok(())
}

/// Kafka's `interBrokerListenerNameAndSecurityProtocol`: the name given, which must have a
/// protocol, or the listener named after `security.inter.broker.protocol`; not both.
fn inter_broker_name(
    s: &ListenerSettings<'_>,
    map: &BTreeMap<String, SecurityProtocol>,
) -> Result<String, String> {
    match s.inter_broker_name {
        Some(_) if s.inter_broker_protocol_set => Err(
            "Only one of inter.broker.listener.name and security.inter.broker.protocol should \
             be set."
                .into(),
        ),
        Some(name) => {
            let name = normalised(name);
            if map.contains_key(&name) {
                Ok(name)
            } else {
                Err(format!(
                    "Listener with name {name} defined in inter.broker.listener.name not found \
                     in listener.security.protocol.map."
                ))
            }
        }
        None => SecurityProtocol::from_name(s.inter_broker_protocol)
            .map(|p| p.name().to_string())
            .ok_or_else(|| {
                format!(
                    "Invalid security protocol `{}` defined in security.inter.broker.protocol",
                    s.inter_broker_protocol
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(listeners: &str) -> ListenerSettings<'_> {
        ListenerSettings {
            listeners,
            advertised: None,
            protocol_map:
                "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT",
            protocol_map_set: false,
            inter_broker_name: None,
            inter_broker_protocol: "PLAINTEXT",
            inter_broker_protocol_set: false,
            controller_names: None,
            roles: ProcessRoles::IMPLIED,
        }
    }

    #[test]
    fn entries_parse_as_kafkas_regexp() {
        let e = parse_endpoint("internal://:9092").unwrap();
        assert_eq!(
            (e.name.as_str(), e.host.as_str(), e.port),
            ("INTERNAL", "", 9092)
        );
        let e = parse_endpoint("SSL://[::1]:9093").unwrap();
        assert_eq!(
            (e.host.as_str(), e.host_port()),
            ("::1", "[::1]:9093".into())
        );
        let e = parse_endpoint("localhost:9092").unwrap();
        assert_eq!(e.name, "PLAINTEXT");
        for bad in [
            "nohost",
            "A://h:",
            "A://h:x",
            "A://bad/host:1",
            "A://h:70000",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_endpoint("A://h").unwrap_err(),
            "Unable to parse A://h to a broker endpoint"
        );
    }

    #[test]
    fn ports_and_names_must_differ_as_in_kafka() {
        let mut s = settings("PLAINTEXT://localhost:9091,SSL://localhost:9091");
        s.protocol_map = "PLAINTEXT:PLAINTEXT,SSL:PLAINTEXT";
        assert!(Listeners::resolve(&s)
            .unwrap_err()
            .ends_with("Each listener must have a different port, listeners: [PLAINTEXT://localhost:9091, SSL://localhost:9091]"));
        let s = settings("PLAINTEXT://a:1,plaintext://b:2");
        assert!(Listeners::resolve(&s)
            .unwrap_err()
            .contains("Each listener must have a different name"));
        // One IPv4 and one IPv6 address may share a port; port 0 is never a duplicate.
        let mut s = settings("PLAINTEXT://127.0.0.1:9092,V6://[::1]:9092,Z://:0,Y://:0");
        s.protocol_map = "PLAINTEXT:PLAINTEXT,V6:PLAINTEXT,Z:PLAINTEXT,Y:PLAINTEXT";
        assert_eq!(Listeners::resolve(&s).unwrap().all.len(), 4);
        let mut s = settings("PLAINTEXT://127.0.0.1:9092,B://127.0.0.2:9092");
        s.protocol_map = "PLAINTEXT:PLAINTEXT,B:PLAINTEXT";
        assert!(Listeners::resolve(&s)
            .unwrap_err()
            .contains("one needs to be IPv4 and the other IPv6"));
    }

    #[test]
    fn advertised_and_inter_broker_follow_kafka() {
        let mut s = settings("INTERNAL://:9092,EXTERNAL://:9094");
        s.protocol_map = "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT";
        s.advertised = Some("INTERNAL://kafka:9092,EXTERNAL://localhost:9094");
        assert!(Listeners::resolve(&s)
            .unwrap_err()
            .starts_with("inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are INTERNAL,EXTERNAL"));
        s.inter_broker_name = Some("internal");
        let l = Listeners::resolve(&s).unwrap();
        assert_eq!(l.inter_broker, "INTERNAL");
        assert_eq!(l.all[1].advertised.as_ref().unwrap().host, "localhost");
        s.inter_broker_protocol_set = true;
        assert!(Listeners::resolve(&s)
            .unwrap_err()
            .starts_with("Only one of"));
        s.inter_broker_protocol_set = false;
        s.inter_broker_name = Some("OTHER");
        assert!(Listeners::resolve(&s)
            .unwrap_err()
            .contains("not found in listener.security.protocol.map"));
        s.inter_broker_name = Some("INTERNAL");
        s.advertised = Some("INTERNAL://kafka:9092,OUTSIDE://localhost:9094");
        assert!(Listeners::resolve(&s).unwrap_err().starts_with("Error creating broker listeners from '[INTERNAL://kafka:9092, OUTSIDE://localhost:9094]': No security protocol defined for listener OUTSIDE"));
        s.protocol_map = "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,OUTSIDE:PLAINTEXT";
        assert!(Listeners::resolve(&s)
            .unwrap_err()
            .starts_with("advertised.listeners listener names must be equal to or a subset"));
        // Advertised entries may share a port, not a name.
        s.advertised = Some("INTERNAL://lb:9092,EXTERNAL://lb:9092");
        assert!(Listeners::resolve(&s).is_ok());
        s.advertised = Some("INTERNAL://a:1,INTERNAL://b:2");
        assert!(Listeners::resolve(&s)
            .unwrap_err()
            .contains("Each listener must have a different name"));
        s.advertised = Some("INTERNAL://0.0.0.0:9092");
        assert!(Listeners::resolve(&s)
            .unwrap_err()
            .contains("nonroutable meta-address 0.0.0.0"));
        let s = settings("PLAINTEXT://0.0.0.0:9092");
        assert!(Listeners::resolve(&s)
            .unwrap_err()
            .contains("nonroutable meta-address 0.0.0.0"));
    }

    #[test]
    fn protocols_controller_listeners_and_ssl_between_nodes() {
        let s = settings("SSL://:9093");
        let mut s = ListenerSettings {
            inter_broker_protocol: "SSL",
            ..s
        };
        // SSL may carry the traffic between nodes.
        let l = Listeners::resolve(&s).unwrap();
        assert_eq!(l.inter_broker, "SSL");
        assert_eq!(l.protocol_of("SSL"), SecurityProtocol::Ssl);
        s.protocol_map = "SSL:TLS";
        assert_eq!(
            Listeners::resolve(&s).unwrap_err(),
            "Invalid security protocol `TLS` defined in listener.security.protocol.map"
        );
        // controller.listener.names: PLAINTEXT by default, must be a listener, not advertised.
        let mut s = settings("PLAINTEXT://:9092,CONTROLLER://:9093");
        s.controller_names = Some("CONTROLLER");
        let l = Listeners::resolve(&s).unwrap();
        assert_eq!(l.brokers().count(), 1);
        assert!(l.all[1].controller);
        let mut s = settings("PLAINTEXT://:9092");
        s.controller_names = Some("OTHER");
        assert!(Listeners::resolve(&s)
            .unwrap_err()
            .starts_with("controller.listener.names must only contain"));
        let mut s = settings("CONTROLLER://:9093");
        s.controller_names = Some("CONTROLLER");
        assert!(Listeners::resolve(&s)
            .unwrap_err()
            .starts_with("There must be at least one broker advertised listener"));
    }

    #[test]
    fn controller_listeners_follow_the_roles() {
        // The controller listeners in controller.listener.names' order; the first is this node's.
        let mut s = settings("PLAINTEXT://:9092,A://:9093,B://:9094");
        s.controller_names = Some("b,A");
        let l = Listeners::resolve(&s).unwrap();
        let ports: Vec<u16> = l.controllers().map(|c| c.bind.port).collect();
        assert_eq!(ports, [9094, 9093]);
        assert_eq!(l.controller().unwrap().bind.name, "B");
        // A broker-only node: its controller listeners are elsewhere, never among its own.
        let explicit = |broker, controller| ProcessRoles {
            broker,
            controller,
            explicit: true,
        };
        s.roles = explicit(true, false);
        assert!(Listeners::resolve(&s)
            .unwrap_err()
            .starts_with("controller.listener.names must not contain a value appearing"));
        let mut s = settings("PLAINTEXT://:9092");
        s.controller_names = Some("CONTROLLER");
        s.roles = explicit(true, false);
        let l = Listeners::resolve(&s).unwrap();
        assert!(l.controller().is_none() && l.all.iter().all(|l| !l.controller));
        // A controller-only node: no broker listener needed, and none allowed.
        let mut s = settings("CONTROLLER://:9093");
        s.controller_names = Some("CONTROLLER");
        s.roles = explicit(false, true);
        assert_eq!(Listeners::resolve(&s).unwrap().brokers().count(), 0);
        let mut s = settings("PLAINTEXT://:9092,CONTROLLER://:9093");
        s.controller_names = Some("CONTROLLER");
        s.roles = explicit(false, true);
        assert!(Listeners::resolve(&s)
            .unwrap_err()
            .starts_with("The listeners config must only contain KRaft controller listeners"));
    }
}
