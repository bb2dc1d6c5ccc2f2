//! KRaft roles and quorum settings as the `minikafka` binary and the config builder take them:
//! a combination Kafka 4.x refuses stops the binary before anything is touched (exit code 2,
//! Kafka's message on stderr), and a valid three-voter combined-mode configuration, written as in
//! a Kafka `server.properties` or as TOML, is accepted by the builder. (Clusters, in every
//! combination of roles, are started by `compat-tests/tests/cluster*.rs`.)

use std::path::Path;
use std::process::{Command, Output};

use minikafka::config::{BrokerConfig, ConfigBuilder, ProcessRoles, QuorumVoter};

/// Runs the binary on a fresh data directory with these `--set` pairs; it must exit at once.
fn run(data: &Path, sets: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_minikafka"));
    cmd.args([
        "--listen",
        "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
    ])
    .arg("--data-dir")
    .arg(data);
    for s in sets {
        cmd.args(["--set", s]);
    }
    cmd.output().unwrap()
}

#[test]
fn the_binary_refuses_a_controller_that_is_not_a_voter() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(
        &data,
        &[
            "process.roles=broker,controller",
            "controller.listener.names=CONTROLLER",
            "controller.quorum.voters=2@kafka2:9093,3@kafka3:9093,4@kafka4:9093",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "minikafka: configuration error: If process.roles contains the 'controller' role, \
             the node id 1 must be included in the set of voters \
             controller.quorum.voters=Set(2, 3, 4)"
        ),
        "{stderr}"
    );
    assert!(!data.exists(), "nothing touched");
}

#[test]
fn the_binary_refuses_voters_without_process_roles_and_a_broker_that_is_a_voter() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(&data, &["controller.quorum.voters=1@localhost:9093"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("controller.quorum.voters is set but process.roles is not"),
        "{stderr}"
    );
    let out = run(
        &data,
        &[
            "process.roles=broker",
            "controller.listener.names=CONTROLLER",
            "controller.quorum.voters=1@localhost:9093",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "If process.roles contains just the 'broker' role, the node id 1 must not be \
             included in the set of voters controller.quorum.voters=Set(1)"
        ),
        "{stderr}"
    );
    assert!(!data.exists(), "nothing touched");
}

/// The three voters every node of the example cluster shares.
const VOTERS: &str = "1@kafka1:9093,2@kafka2:9093,3@kafka3:9093";

fn check_three_voter_node(c: &BrokerConfig, node: i32) {
    assert_eq!(c.node_id, node);
    assert_eq!(
        c.quorum.roles,
        ProcessRoles {
            broker: true,
            controller: true,
            explicit: true
        }
    );
    assert_eq!(
        c.quorum.voters,
        (1..=3)
            .map(|id| QuorumVoter {
                id,
                host: format!("kafka{id}"),
                port: 9093
            })
            .collect::<Vec<_>>()
    );
    assert!(!c.quorum.single_node());
    let controller = c.listeners.controller().expect("a controller listener");
    assert_eq!(controller.bind.port, 9093);
    assert_eq!(
        controller.advertised.as_ref().map(|a| a.host_port()),
        Some(format!("kafka{node}:9093"))
    );
    assert_eq!(
        c.listeners
            .brokers()
            .map(|l| l.bind.name.as_str())
            .collect::<Vec<_>>(),
        ["PLAINTEXT"]
    );
}

#[test]
fn a_three_voter_combined_cluster_config_is_accepted() {
    for node in 1..=3 {
        let mut b = ConfigBuilder::default();
        for pair in [
            "process.roles=broker,controller".to_string(),
            format!("node.id={node}"),
            "listeners=PLAINTEXT://:9092,CONTROLLER://:9093".into(),
            format!(
                "advertised.listeners=PLAINTEXT://kafka{node}:9092,CONTROLLER://kafka{node}:9093"
            ),
            "controller.listener.names=CONTROLLER".into(),
            format!("controller.quorum.voters={VOTERS}"),
        ] {
            b.set_pair(&pair).unwrap();
        }
        check_three_voter_node(&b.build().unwrap(), node);
    }
    // The same as a TOML file.
    let toml = format!(
        "process.roles = \"broker,controller\"\n\
         node.id = 2\n\
         listeners = \"PLAINTEXT://:9092,CONTROLLER://:9093\"\n\
         advertised.listeners = \"PLAINTEXT://kafka2:9092,CONTROLLER://kafka2:9093\"\n\
         controller.listener.names = \"CONTROLLER\"\n\
         controller.quorum.voters = \"{VOTERS}\"\n\
         controller.quorum.election.timeout.ms = 1500\n\
         broker.session.timeout.ms = 12000\n"
    );
    let mut b = ConfigBuilder::default();
    b.apply_toml(&toml, "cluster.toml").unwrap();
    let c = b.build().unwrap();
    check_three_voter_node(&c, 2);
    assert_eq!(
        (c.quorum.election_timeout_ms, c.broker_session_timeout_ms),
        (1_500, 12_000)
    );
}

/// A dynamic quorum (KIP-853, voters found through `controller.quorum.bootstrap.servers`) is not
/// served yet: every role says so at start instead of waiting for voters it cannot name.
#[test]
fn a_dynamic_quorum_is_refused_at_start_in_every_role() {
    for (role, node, listeners) in [
        ("broker", "node.id=2", "PLAINTEXT://127.0.0.1:0"),
        ("controller", "node.id=1", "CONTROLLER://127.0.0.1:0"),
        (
            "broker,controller",
            "node.id=1",
            "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let roles = format!("process.roles={role}");
        let listeners = format!("listeners={listeners}");
        let out = run(
            &data,
            &[
                &roles,
                node,
                &listeners,
                "controller.listener.names=CONTROLLER",
                "controller.quorum.bootstrap.servers=127.0.0.1:19093",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{role}: {stderr}");
        assert!(
            stderr.contains("controller.quorum.bootstrap.servers without controller.quorum.voters")
                && stderr.contains("not served yet"),
            "{role}: {stderr}"
        );
        assert!(!data.exists(), "{role}: nothing touched");
    }
}

/// The lines of Kafka 4.x's own `config/server.properties` (combined mode) configure minikafka
/// too, with the static voters in place of the dynamic quorum's bootstrap servers (KIP-853 is
/// not served yet). The internal topics' replication settings are kept as given (they are capped
/// when the topics are created).
#[test]
fn the_lines_of_kafkas_own_server_properties_are_accepted() {
    let mut b = ConfigBuilder::default();
    for pair in [
        "process.roles=broker,controller",
        "node.id=1",
        "controller.quorum.voters=1@localhost:9093",
        "listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
        "inter.broker.listener.name=PLAINTEXT",
        "advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        "num.network.threads=3",
        "num.io.threads=8",
        "socket.send.buffer.bytes=102400",
        "socket.receive.buffer.bytes=102400",
        "socket.request.max.bytes=104857600",
        "log.dirs=/tmp/kraft-combined-logs",
        "num.partitions=1",
        "num.recovery.threads.per.data.dir=1",
        "offsets.topic.replication.factor=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "log.retention.hours=168",
        "log.segment.bytes=1073741824",
        "log.retention.check.interval.ms=300000",
    ] {
        b.set_pair(pair)
            .unwrap_or_else(|e| panic!("{pair}: {e}"));
    }
    let c = b.build().unwrap();
    assert_eq!(c.offsets_topic_replication_factor, 1);
    assert_eq!(c.transaction_state_replication_factor, 1);
    // Kafka's defaults when the lines are absent.
    let d = ConfigBuilder::default().build().unwrap();
    assert_eq!(
        (
            d.offsets_topic_replication_factor,
            d.transaction_state_replication_factor
        ),
        (3, 3)
    );
    // And a value Kafka refuses is refused.
    let mut bad = ConfigBuilder::default();
    assert!(bad.set_pair("offsets.topic.replication.factor=0").is_err() || bad.build().is_err());
}
