//! Kafka's own admin tools (Java AdminClient, from the jars `ci/kafka-reference classpath`
//! provides) against minikafka, for the APIs minikafka answers as Kafka does with the feature off
//! (issue 16): `kafka-acls --list` reports "No Authorizer is configured on the broker"
//! (SECURITY_DISABLED) instead of retrying a closed connection, and `kafka-log-dirs --describe`
//! shows the data directory with each partition and its size.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use compat_tests::{create_topic, Broker};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// The classpath of Kafka's jars (fetched by `ci/kafka-reference` on first use).
fn kafka_classpath() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/kafka-reference");
    let out = Command::new(script)
        .arg("classpath")
        .output()
        .expect("run ci/kafka-reference classpath");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("a classpath line")
        .trim()
        .to_string()
}

/// Runs one of Kafka's tools (a main class) with `args`, bounded by `timeout` (coreutils);
/// returns its exit status and stdout + stderr.
fn run_tool(classpath: &str, main: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("timeout")
        .args(["120", "java", "-cp", classpath, main])
        .args(args)
        .output()
        .expect("run java");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn kafka_acls_and_log_dirs_tools_get_kafkas_answers() {
    let broker = Broker::start(&[]);
    let bootstrap = broker.bootstrap().to_string();
    create_topic(&bootstrap, "dirs", 2);
    let producer: BaseProducer = compat_tests::producer_config(&bootstrap)
        .create()
        .expect("producer");
    producer
        .send(BaseRecord::to("dirs").partition(0).key("k").payload("v"))
        .expect("enqueue");
    producer.flush(Duration::from_secs(30)).expect("flush");
    let classpath = kafka_classpath();

    let (_, acls) = run_tool(
        &classpath,
        "org.apache.kafka.tools.AclCommand",
        &["--bootstrap-server", &bootstrap, "--list"],
    );
    assert!(
        acls.contains("SecurityDisabledException: No Authorizer is configured on the broker"),
        "kafka-acls --list:\n{acls}\n{}",
        broker.log_report()
    );

    let (ok, dirs) = run_tool(
        &classpath,
        "org.apache.kafka.tools.LogDirsCommand",
        &["--bootstrap-server", &bootstrap, "--describe"],
    );
    assert!(ok, "kafka-log-dirs --describe:\n{dirs}");
    let data_dir = std::path::absolute(broker.data_dir()).expect("absolute data dir");
    assert!(
        dirs.contains(&format!("\"logDir\":\"{}\"", data_dir.display())),
        "{dirs}"
    );
    assert!(
        dirs.contains("{\"partition\":\"dirs-1\",\"size\":0,"),
        "dirs-1 is empty: {dirs}"
    );
    assert!(
        dirs.contains("{\"partition\":\"dirs-0\",\"size\":")
            && !dirs.contains("{\"partition\":\"dirs-0\",\"size\":0,"),
        "dirs-0 holds a batch: {dirs}"
    );
}

/// `kafka-metadata-quorum describe --status / --replication` (DescribeQuorum through the Java
/// AdminClient) shows the single node's one-voter quorum: this node leads it, and it is the
/// only voter, caught up.
#[test]
fn kafka_metadata_quorum_describes_the_one_voter_quorum() {
    let broker = Broker::start(&[]);
    let bootstrap = broker.bootstrap().to_string();
    create_topic(&bootstrap, "quorum", 1);
    let classpath = kafka_classpath();
    let (ok, status) = run_tool(
        &classpath,
        "org.apache.kafka.tools.MetadataQuorumCommand",
        &["--bootstrap-server", &bootstrap, "describe", "--status"],
    );
    assert!(ok, "describe --status:\n{status}\n{}", broker.log_report());
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim_start_matches(':').trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in:\n{status}"))
    };
    assert_eq!(field("LeaderId"), "1", "{status}");
    assert_eq!(field("MaxFollowerLag"), "0", "{status}");
    let hw: i64 = field("HighWatermark").parse().expect("a number");
    assert!(
        hw >= 2,
        "membership and the topic's records are committed: {status}"
    );
    assert!(field("CurrentVoters").contains("\"id\": 1"), "{status}");
    assert_eq!(field("CurrentObservers"), "[]", "{status}");

    let (ok, replication) = run_tool(
        &classpath,
        "org.apache.kafka.tools.MetadataQuorumCommand",
        &[
            "--bootstrap-server",
            &bootstrap,
            "describe",
            "--replication",
        ],
    );
    assert!(ok, "describe --replication:\n{replication}");
    let leader_row = replication
        .lines()
        .find(|l| l.split_whitespace().next() == Some("1"))
        .unwrap_or_else(|| panic!("no row for node 1:\n{replication}"));
    assert!(leader_row.contains("Leader"), "{replication}");
    assert!(
        leader_row.split_whitespace().nth(2) == Some(hw.to_string().as_str())
            || leader_row.contains(&hw.to_string()),
        "log end offset {hw} on the leader's row: {replication}"
    );
}
