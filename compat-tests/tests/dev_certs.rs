//! `minikafka dev-certs DIR` (issue 14): the certificates and property files it writes serve an
//! SSL listener, as printed, to real clients.
//!
//! - The command lists what it made and the next two commands; the broker settings it writes
//!   (`server.properties`) start an SSL listener (only the ports changed to free ones).
//! - librdkafka with the settings of `client.properties` (CA, client certificate and key)
//!   produces and consumes over TLS; the broker logs the client certificate's principal.
//! - Kafka's Java console producer and consumer with `client-ssl.properties` (PEM trust store,
//!   PKCS12 key store) round-trip lines over TLS (skipped, with a note, where Java and the Kafka
//!   reference jars are missing, as the other Java tool tests do).
//! - confluent-kafka-python with `client.properties` produces and consumes over TLS (from the
//!   venv `compat-tests/clients/run` makes; skipped, with a note, where it is missing).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use compat_tests::tools::{kafka_classpath, output_text, run_java_tool, run_java_tool_with_input};
use compat_tests::{create_topic, listener_port, read_partitions_with, unique_topic, Broker};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::Offset;

/// `key=value` lines of a properties file, comments and blank lines left out.
fn properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn dev_certs_serve_an_ssl_listener_to_rdkafka_and_the_java_tools() {
    let dir = tempfile::tempdir().expect("temp dir");
    let certs = dir.path().join("certs");
    let out = Command::new(compat_tests::broker_binary())
        .arg("dev-certs")
        .arg(&certs)
        .output()
        .expect("run minikafka dev-certs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "dev-certs failed: {out:?}");
    for expected in [
        "ca.pem",
        "broker-keystore.pem",
        "client.p12",
        "client-ssl.properties",
        "kcat -F",
    ] {
        assert!(stdout.contains(expected), "{expected} not in:\n{stdout}");
    }
    let read = |f: &str| std::fs::read_to_string(certs.join(f)).expect("read a written file");
    // The broker settings as written, on free ports.
    let mut args: Vec<String> = properties(&read("server.properties"))
        .into_iter()
        .map(|(k, v)| {
            if k == "listeners" {
                "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0".to_string()
            } else {
                format!("{k}={v}")
            }
        })
        .flat_map(|s| ["--set".to_string(), s])
        .collect();
    args.extend(["--set".to_string(), "num.partitions=1".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut broker = Broker::start_logging(&args, "info,openraft=warn,minikafka::net=debug");
    let ssl = format!("127.0.0.1:{}", listener_port(&broker.log(), "SSL"));

    // librdkafka with client.properties.
    let mut rdkafka = ClientConfig::new();
    for (k, v) in properties(&read("client.properties")) {
        rdkafka.set(k, v);
    }
    rdkafka.set("bootstrap.servers", &ssl);
    let topic = unique_topic("devcerts");
    create_topic(broker.bootstrap(), &topic, 1);
    let producer: ThreadedProducer<_> = rdkafka
        .clone()
        .set("message.timeout.ms", "30000")
        .create()
        .expect("create producer");
    producer
        .send(
            BaseRecord::<(), str>::to(&topic)
                .partition(0)
                .payload("from rdkafka"),
        )
        .map_err(|(e, _)| e)
        .expect("enqueue");
    producer.flush(Duration::from_secs(30)).expect("flush");
    let mut consumer = rdkafka.clone();
    consumer
        .set("group.id", "devcerts")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false");
    let got = read_partitions_with(
        &consumer,
        &topic,
        &BTreeMap::from([(0, Offset::Beginning)]),
        Duration::from_secs(30),
    );
    assert_eq!(
        got[&0].iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
        vec![Some(b"from rdkafka".to_vec())]
    );
    assert!(
        broker.log().contains("User:CN=minikafka-dev-client"),
        "the client certificate's principal is logged\n{}",
        broker.log_report()
    );

    // Kafka's Java console tools with client-ssl.properties.
    let java = certs.join("client-ssl.properties").display().to_string();
    match kafka_classpath() {
        Err(why) => println!("skipping the Java console tools: {why}"),
        Ok(classpath) => {
            let out = run_java_tool_with_input(
                &classpath,
                "org.apache.kafka.tools.ConsoleProducer",
                &[
                    "--bootstrap-server",
                    &ssl,
                    "--topic",
                    &topic,
                    "--producer.config",
                    &java,
                ],
                b"from java\n",
            );
            assert!(
                out.status.success(),
                "console producer: {}",
                output_text(&out)
            );
            let out = run_java_tool(
                &classpath,
                "org.apache.kafka.tools.consumer.ConsoleConsumer",
                &[
                    "--bootstrap-server",
                    &ssl,
                    "--topic",
                    &topic,
                    "--from-beginning",
                    "--max-messages",
                    "2",
                    "--timeout-ms",
                    "30000",
                    "--consumer.config",
                    &java,
                ],
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            // Newer tools print a deprecation note for --consumer.config on stdout.
            let lines: Vec<&str> = stdout
                .lines()
                .filter(|l| !l.starts_with("Option --"))
                .collect();
            assert_eq!(
                lines,
                ["from rdkafka", "from java"],
                "console consumer: {}",
                output_text(&out)
            );
        }
    }

    // confluent-kafka-python with client.properties, from the venv compat-tests/clients/run
    // makes (<repo>/.venv); skipped, with a note, where it is missing.
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if python.exists() {
        let script = r##"
import sys
from confluent_kafka import Producer, Consumer, TopicPartition, OFFSET_BEGINNING
conf = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if line and not line.startswith("#") and "=" in line:
        k, v = line.split("=", 1)
        conf[k.strip()] = v.strip()
conf["bootstrap.servers"] = sys.argv[2]
topic = sys.argv[3]
p = Producer(dict(conf))
errors = []
p.produce(topic, b"from python", partition=0, on_delivery=lambda e, m: errors.append(e))
left = p.flush(30)
assert left == 0 and errors == [None], (left, errors)
c = Consumer(dict(conf, **{"group.id": "devcerts-py", "enable.auto.commit": False}))
c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
got = []
for _ in range(150):
    m = c.poll(0.2)
    if m is not None and m.error() is None:
        got.append(m.value().decode())
    if "from python" in got:
        break
c.close()
print("\n".join(got))
"##;
        let out = Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(certs.join("client.properties"))
            .arg(&ssl)
            .arg(&topic)
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.lines().any(|l| l == "from python"),
            "confluent-kafka-python over TLS: {out:?}"
        );
    } else {
        println!(
            "skipping confluent-kafka-python: no venv at {}",
            python.display()
        );
    }
    broker.assert_alive();
}
