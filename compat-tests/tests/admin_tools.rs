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
