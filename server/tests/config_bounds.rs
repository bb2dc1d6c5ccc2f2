//! Kafka 4.x's bounds on topic configs (issue 16, "File descriptors"): CreateTopics,
//! AlterConfigs and IncrementalAlterConfigs refuse `segment.bytes` below 1 MiB and the other
//! out-of-bounds values with INVALID_CONFIG and Kafka's message; tests get tiny segments through
//! the test-only `internal.segment.bytes`; and a topic persisted by an older broker with a value
//! the bounds now refuse keeps working after a restart (a WARN names topic and key), which
//! runs the real binary to see that line.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{batch, create_req, produce_req, start, Client};
use kafka_protocol::messages::{
    alter_configs_request, describe_configs_request, incremental_alter_configs_request,
    AlterConfigsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::StrBytes;

const INVALID_CONFIG: i16 = 40;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// `(error code, message)` of one change of `key` on `topic`, by either alter API.
async fn alter(
    c: &mut Client,
    incremental: bool,
    topic: &str,
    key: &str,
    value: &str,
) -> (i16, String) {
    let (code, msg) = if incremental {
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(text(topic))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(text(key))
                        .with_config_operation(0)
                        .with_value(Some(text(value))),
                ]),
        ]);
        let r = c.call(req, 1).await.responses.remove(0);
        (r.error_code, r.error_message)
    } else {
        let req = AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(text(topic))
                .with_configs(vec![alter_configs_request::AlterableConfig::default()
                    .with_name(text(key))
                    .with_value(Some(text(value)))]),
        ]);
        let r = c.call(req, 2).await.responses.remove(0);
        (r.error_code, r.error_message)
    };
    (code, msg.map(|m| m.to_string()).unwrap_or_default())
}

/// The topic's configs as DescribeConfigs lists them: `(name, value)`.
async fn topic_configs(c: &mut Client, topic: &str) -> Vec<(String, String)> {
    let req = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(text(topic))
            .with_configuration_keys(None),
    ]);
    let r = c.call(req, 4).await;
    assert_eq!(r.results[0].error_code, 0);
    r.results[0]
        .configs
        .iter()
        .map(|e| {
            let v = e
                .value
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            (e.name.to_string(), v)
        })
        .collect()
}

fn segment_files(partition_dir: &Path) -> usize {
    std::fs::read_dir(partition_dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
        })
        .count()
}

/// Produce 20 batches of 10 records; every one must be acknowledged.
async fn produce_some(c: &mut Client, topic: &str) {
    for _ in 0..20 {
        let r = c
            .call(produce_req(topic, 0, batch(10, 1_000).freeze(), 1), 9)
            .await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
}

#[tokio::test]
async fn out_of_bounds_topic_configs_are_refused_with_kafkas_message() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;

    let r = c
        .call(create_req("t", 1, 1, &[("segment.bytes", "1024")]), 7)
        .await;
    assert_eq!(r.topics[0].error_code, INVALID_CONFIG);
    assert_eq!(
        r.topics[0].error_message.as_deref(),
        Some("Invalid value 1024 for configuration segment.bytes: Value must be at least 1048576")
    );
    for (key, value) in [
        ("segment.ms", "0"),
        ("segment.index.bytes", "3"),
        ("max.message.bytes", "-1"),
        ("retention.ms", "-2"),
        ("min.insync.replicas", "0"),
        ("message.timestamp.after.max.ms", "-1"),
        ("message.timestamp.before.max.ms", "-5"),
    ] {
        let r = c.call(create_req("t", 1, 1, &[(key, value)]), 7).await;
        assert_eq!(r.topics[0].error_code, INVALID_CONFIG, "{key}={value}");
        let msg = r.topics[0].error_message.as_deref().unwrap_or_default();
        assert!(msg.contains(key), "{key}: {msg}");
    }
    assert!(
        dir.path().join("t-0").metadata().is_err(),
        "nothing created"
    );

    // The smallest accepted value, then both alter APIs refuse to go below it.
    let r = c
        .call(create_req("t", 1, 1, &[("segment.bytes", "1048576")]), 7)
        .await;
    assert_eq!(r.topics[0].error_code, 0);
    for incremental in [true, false] {
        let (code, msg) = alter(&mut c, incremental, "t", "segment.bytes", "16384").await;
        assert_eq!(code, INVALID_CONFIG, "incremental: {incremental}");
        assert_eq!(
            msg,
            "Invalid value 16384 for configuration segment.bytes: Value must be at least 1048576"
        );
        let (code, _) = alter(&mut c, incremental, "t", "segment.ms", "0").await;
        assert_eq!(code, INVALID_CONFIG);
    }
    // The test-only setting is not listed until it is set.
    assert!(!topic_configs(&mut c, "t")
        .await
        .iter()
        .any(|(n, _)| n == "internal.segment.bytes"));
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn internal_segment_bytes_gives_tests_tiny_segments() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let r = c
        .call(
            create_req("tiny", 1, 1, &[("internal.segment.bytes", "1024")]),
            7,
        )
        .await;
    assert_eq!(r.topics[0].error_code, 0);
    produce_some(&mut c, "tiny").await;
    assert!(
        segment_files(&dir.path().join("tiny-0")) >= 3,
        "1 KiB segments roll"
    );
    let configs = topic_configs(&mut c, "tiny").await;
    assert!(configs.contains(&("internal.segment.bytes".into(), "1024".into())));
    assert!(configs.contains(&("segment.bytes".into(), "1073741824".into())));
    b.shutdown().await.unwrap();

    // The broker-wide test-only setting applies to topics created without an override.
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["log.internal.segment.bytes=1024"]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("tiny", 1, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    produce_some(&mut c, "tiny").await;
    assert!(segment_files(&dir.path().join("tiny-0")) >= 3);
    b.shutdown().await.unwrap();
}

/// The binary on `data` (stderr and stdout to `log`), killed when dropped.
struct Binary(Child);

impl Binary {
    fn spawn(data: &Path, log: &Path) -> Binary {
        let out = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_minikafka"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .env("RUST_LOG", "warn,minikafka=info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Binary(child)
    }

    /// The address from the "listening on" line, waiting at most a minute.
    fn address(&mut self, log: &Path) -> std::net::SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let out = std::fs::read_to_string(log).unwrap_or_default();
            let found = out
                .lines()
                .find_map(|l| l.split("started, listening on ").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|a| a.parse().ok());
            if let Some(addr) = found {
                return addr;
            }
            assert!(self.0.try_wait().unwrap().is_none(), "exited:\n{out}");
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "not started:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persisted_config_the_new_bounds_refuse_keeps_working_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let b = start(&data, &[]).await;
    let mut c = Client::connect(&b).await;
    let r = c
        .call(create_req("old", 1, 1, &[("segment.bytes", "1048576")]), 7)
        .await;
    assert_eq!(r.topics[0].error_code, 0);
    let id = b.broker().topics.get("old").unwrap().id;
    b.shutdown().await.unwrap();
    // What an older broker, without the 1 MiB floor and before the metadata log, wrote for
    // `segment.bytes = 1024`: its topics file (migrated into the log at the next start).
    std::fs::remove_dir_all(data.join("__cluster_metadata-0")).unwrap();
    std::fs::write(
        data.join("minikafka-topics.toml"),
        format!(
            "[[topic]]\nname = \"old\"\nid = \"{id}\"\npartitions = 1\n\n[topic.configs]\n\"segment.bytes\" = \"1024\"\n"
        ),
    )
    .unwrap();

    let log = dir.path().join("broker.log");
    let mut bin = Binary::spawn(&data, &log);
    let addr = bin.address(&log);
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(
        out.lines().any(|l| l.contains("WARN")
            && l.contains("old")
            && l.contains("segment.bytes")
            && l.contains("1024")),
        "no warning naming the topic and the key:\n{out}"
    );
    let mut c = Client {
        stream: tokio::net::TcpStream::connect(addr).await.unwrap(),
        correlation: 0,
    };
    produce_some(&mut c, "old").await;
    assert!(
        segment_files(&data.join("old-0")) >= 3,
        "still rolls at 1 KiB"
    );
    let configs = topic_configs(&mut c, "old").await;
    assert!(configs.contains(&("segment.bytes".into(), "1024".into())));
    // Other keys of that topic can still change; the old value cannot be set again, and a new
    // topic with it is refused.
    let (code, _) = alter(&mut c, true, "old", "retention.ms", "600000").await;
    assert_eq!(code, 0);
    let (code, _) = alter(&mut c, true, "old", "segment.bytes", "2048").await;
    assert_eq!(code, INVALID_CONFIG);
    let r = c
        .call(create_req("new", 1, 1, &[("segment.bytes", "1024")]), 7)
        .await;
    assert_eq!(r.topics[0].error_code, INVALID_CONFIG);
}

#[tokio::test]
async fn the_broker_wide_partition_cap_refuses_creation_and_growth_beyond_it() {
    use kafka_protocol::messages::{create_partitions_request, CreatePartitionsRequest};
    const INVALID_PARTITIONS: i16 = 37;
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["max.partitions=5"]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("a", 3, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let r = c.call(create_req("b", 3, 1, &[]), 7).await;
    assert_eq!(r.topics[0].error_code, INVALID_PARTITIONS);
    let msg = r.topics[0].error_message.as_deref().unwrap_or_default();
    assert!(msg.contains("max.partitions (5)"), "{msg}");
    assert!(
        dir.path().join("b-0").metadata().is_err(),
        "nothing created"
    );
    assert_eq!(
        c.call(create_req("b", 2, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let grow = CreatePartitionsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(common::name("a"))
                .with_count(4),
        ]);
    let r = c.call(grow, 3).await;
    assert_eq!(r.results[0].error_code, INVALID_PARTITIONS);
    assert!(dir.path().join("a-3").metadata().is_err(), "nothing added");
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_create_topics_request_for_more_than_10000_partitions_is_a_policy_violation() {
    const POLICY_VIOLATION: i16 = 44;
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let mut req = create_req("x", 6000, 1, &[]);
    let mut second = req.topics[0].clone();
    second.name = common::name("y");
    req.topics.push(second);
    // validate_only: on a broker without the limit nothing is created either.
    req.validate_only = true;
    let r = c.call(req.clone(), 7).await;
    for t in &r.topics {
        assert_eq!(t.error_code, POLICY_VIOLATION, "{:?}", t.name);
        assert_eq!(
            t.error_message.as_deref(),
            Some("Excessively large number of partitions per request.")
        );
    }
    // Exactly the limit is accepted.
    req.topics[1].num_partitions = 4000;
    let r = c.call(req, 7).await;
    assert!(r.topics.iter().all(|t| t.error_code == 0), "{r:?}");
    b.shutdown().await.unwrap();
}
