//! Named listeners over TCP: a client is told the endpoint advertised for the listener it came
//! through (Metadata, FindCoordinator, DescribeCluster), as Kafka answers for the request's
//! listener name; and the listener settings Kafka refuses are refused at start, with its messages.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::Client;
use kafka_protocol::messages::{DescribeClusterRequest, FindCoordinatorRequest, MetadataRequest};
use kafka_protocol::protocol::StrBytes;
use minikafka::broker::RunningBroker;
use minikafka::config::ConfigBuilder;

/// INTERNAL advertised under another name, EXTERNAL as localhost with its bound port (an
/// advertised port 0), LOCAL with no advertised entry (its own address).
const SETS: &[&str] = &[
    "listeners=INTERNAL://127.0.0.1:0,external://127.0.0.1:0,LOCAL://127.0.0.1:0",
    "advertised.listeners=INTERNAL://kafka-internal:19092,EXTERNAL://localhost:0",
    "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,LOCAL:PLAINTEXT",
    "inter.broker.listener.name=internal",
];

async fn connect(addr: SocketAddr) -> Client {
    Client {
        stream: tokio::net::TcpStream::connect(addr).await.unwrap(),
        correlation: 0,
    }
}

/// What one connection is told about the broker by each API: (host, port) per answer.
async fn told(addr: SocketAddr) -> Vec<(String, i32)> {
    let mut c = connect(addr).await;
    let mut out = Vec::new();
    for version in [0, 12] {
        let m = c.call(MetadataRequest::default(), version).await;
        assert_eq!(m.brokers.len(), 1);
        out.push((m.brokers[0].host.to_string(), m.brokers[0].port));
    }
    let old = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g"));
    let f = c.call(old, 3).await;
    assert_eq!(f.error_code, 0);
    out.push((f.host.to_string(), f.port));
    let new = FindCoordinatorRequest::default()
        .with_coordinator_keys(vec![StrBytes::from_static_str("g")]);
    let f = c.call(new, 4).await;
    assert_eq!(f.coordinators[0].error_code, 0);
    out.push((f.coordinators[0].host.to_string(), f.coordinators[0].port));
    let d = c
        .call(DescribeClusterRequest::default().with_endpoint_type(1), 1)
        .await;
    assert_eq!(d.error_code, 0);
    out.push((d.brokers[0].host.to_string(), d.brokers[0].port));
    out
}

#[tokio::test]
async fn each_listener_tells_its_clients_its_own_advertised_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let b: RunningBroker = common::start(dir.path(), SETS).await;
    let internal = b.listener_addr("INTERNAL").unwrap();
    let external = b.listener_addr("external").unwrap();
    let local = b.listener_addr("Local").unwrap();
    assert_eq!(b.local_addr(), internal, "the first listener");
    let all = |host: &str, port: u16| vec![(host.to_string(), i32::from(port)); 5];
    assert_eq!(told(internal).await, all("kafka-internal", 19092));
    assert_eq!(told(external).await, all("localhost", external.port()));
    assert_eq!(told(local).await, all("127.0.0.1", local.port()));
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn controller_listeners_are_accepted_but_neither_bound_nor_advertised() {
    let dir = tempfile::tempdir().unwrap();
    let sets = [
        "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
        "advertised.listeners=PLAINTEXT://localhost:0,CONTROLLER://localhost:9093",
        "controller.listener.names=CONTROLLER",
    ];
    let b = common::start(dir.path(), &sets).await;
    assert_eq!(b.listener_addr("CONTROLLER"), None);
    let addr = b.listener_addr("PLAINTEXT").unwrap();
    assert_eq!(
        told(addr).await[1],
        ("localhost".into(), i32::from(addr.port()))
    );
    b.shutdown().await.unwrap();
}

/// The error `build` gives for these settings.
fn refused(sets: &[&str]) -> String {
    let mut b = ConfigBuilder::default();
    for s in sets {
        b.set_pair(s).unwrap();
    }
    b.build().unwrap_err().to_string()
}

#[test]
fn listener_settings_kafka_refuses_are_refused_with_its_messages() {
    let two = "listeners=INTERNAL://127.0.0.1:9092,EXTERNAL://127.0.0.1:9094";
    let map = "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT";
    let ibl = "inter.broker.listener.name=INTERNAL";
    assert_eq!(
        refused(&[two, ibl]),
        "Error creating broker listeners from '[INTERNAL://127.0.0.1:9092, \
         EXTERNAL://127.0.0.1:9094]': No security protocol defined for listener INTERNAL"
    );
    assert_eq!(
        refused(&[
            two,
            "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:TLS"
        ]),
        "Invalid value INTERNAL:PLAINTEXT,EXTERNAL:TLS for configuration \
         listener.security.protocol.map: Invalid security protocol `TLS` defined in \
         listener.security.protocol.map"
    );
    assert!(refused(&[
        "listeners=A://127.0.0.1:9092,a://127.0.0.1:9093",
        "listener.security.protocol.map=A:PLAINTEXT",
        "inter.broker.listener.name=A",
    ])
    .ends_with(
        "Each listener must have a different name, listeners: [A://127.0.0.1:9092, \
         a://127.0.0.1:9093]"
    ));
    assert!(refused(&[
        "listeners=INTERNAL://kafka:9092,EXTERNAL://localhost:9092",
        map,
        ibl
    ])
    .ends_with(
        "Each listener must have a different port, listeners: [INTERNAL://kafka:9092, \
         EXTERNAL://localhost:9092]"
    ));
    assert_eq!(
        refused(&[
            two,
            "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            ibl,
            "advertised.listeners=INTERNAL://kafka:9092,PLAINTEXT://localhost:9094"
        ]),
        "advertised.listeners listener names must be equal to or a subset of the ones defined \
         in listeners. Found INTERNAL,PLAINTEXT. The valid options based on the current \
         configuration are INTERNAL,EXTERNAL"
    );
    assert_eq!(
        refused(&[two, map]),
        "inter.broker.listener.name must be a listener name defined in advertised.listeners. \
         The valid options based on currently configured listeners are INTERNAL,EXTERNAL"
    );
    assert_eq!(
        refused(&[two, map, "inter.broker.listener.name=REPLICATION"]),
        "Listener with name REPLICATION defined in inter.broker.listener.name not found in \
         listener.security.protocol.map."
    );
    assert_eq!(
        refused(&[two, map, ibl, "security.inter.broker.protocol=PLAINTEXT"]),
        "Only one of inter.broker.listener.name and security.inter.broker.protocol should be set."
    );
    assert_eq!(
        refused(&["listeners=0.0.0.0:9092"]),
        "advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. Use a routable \
         IP address."
    );
    // SASL serves clients; between brokers it is refused (not yet implemented there).
    assert_eq!(
        refused(&[
            "listeners=INTERNAL://127.0.0.1:9092,EXTERNAL://127.0.0.1:9094",
            "listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,EXTERNAL:PLAINTEXT",
            ibl
        ]),
        "listener INTERNAL uses security protocol SASL_PLAINTEXT \
         (listener.security.protocol.map), and it carries traffic between nodes (inter-broker \
         or controller listener): minikafka serves SASL on client listeners only so far; give \
         the nodes a PLAINTEXT or SSL listener"
    );
}

/// The binary refuses a SASL inter-broker listener (brokers do not authenticate to each other
/// with SASL yet) before touching anything, with the message on stderr.
#[test]
fn the_binary_refuses_a_sasl_inter_broker_listener_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_minikafka"))
        .args(["--listen", "SASL_PLAINTEXT://127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .args(["--set", "security.inter.broker.protocol=SASL_PLAINTEXT"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("listener SASL_PLAINTEXT uses security protocol SASL_PLAINTEXT")
            && stderr.contains("minikafka serves SASL on client listeners only so far"),
        "{stderr}"
    );
    assert!(!data.exists());
}
