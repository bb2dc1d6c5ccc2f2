//! Several log directories per broker (issue 13; Kafka's KIP-113 `log.dirs`): a real broker
//! process with two directories, driven by rdkafka and Kafka's own Java tools.
//!
//! - New partitions spread over both directories (the one with the fewest partitions first),
//!   each directory gets its own `meta.properties` (same cluster, its own `directory.id`), and
//!   `kafka-log-dirs --describe` lists both with their partitions.
//! - `kafka-reassign-partitions` with `log_dirs` in its JSON (AlterReplicaLogDirs) moves a
//!   replica to the other directory while it serves; records written before and after read back
//!   intact, the moved log starts with the old log's bytes, and the old copy is gone.
//! - A directory that fails (replaced by a file under the running broker, so the next segment
//!   roll cannot create its files; the tests run as root, where chmod 000 stops nothing) goes
//!   offline alone: its partition has no leader and DescribeLogDirs reports it, while the
//!   partition in the other directory keeps taking produces and fetches.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use compat_tests::tools::{kafka_classpath, output_text, run_java_tool};
use compat_tests::{create_topic, read_all, wait_until, Broker};
use rdkafka::consumer::Consumer;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::Offset;

/// Two fresh log directories and a broker using them (`log.dirs=A,B`).
fn broker_with_two_dirs(extra: &[&str]) -> (tempfile::TempDir, [PathBuf; 2], Broker) {
    let root = tempfile::Builder::new()
        .prefix("minikafka-logdirs-")
        .tempdir()
        .expect("temp dir");
    let dirs = [root.path().join("disk-a"), root.path().join("disk-b")];
    let setting = format!("log.dirs={},{}", dirs[0].display(), dirs[1].display());
    let mut args = vec!["--set", setting.as_str()];
    args.extend_from_slice(extra);
    let broker = Broker::start(&args);
    (root, dirs, broker)
}

/// Which of `dirs` holds `topic-partition` (panics unless exactly one does).
fn dir_of(dirs: &[PathBuf; 2], topic: &str, partition: i32) -> usize {
    let found: Vec<usize> = (0..2)
        .filter(|&i| dirs[i].join(format!("{topic}-{partition}")).is_dir())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{topic}-{partition} in exactly one directory: {found:?}"
    );
    found[0]
}

fn produce(bootstrap: &str, topic: &str, partition: i32, values: &[String]) {
    let producer: BaseProducer = compat_tests::producer_config(bootstrap)
        .create()
        .expect("producer");
    for v in values {
        producer
            .send(
                BaseRecord::to(topic)
                    .partition(partition)
                    .key("k")
                    .payload(v),
            )
            .expect("enqueue");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

fn values(of: &[compat_tests::Record]) -> Vec<String> {
    of.iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

fn meta_field(dir: &Path, key: &str) -> String {
    let text = fs::read_to_string(dir.join("meta.properties")).expect("meta.properties");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .to_string()
}

/// `kafka-reassign-partitions --execute` or `--verify` (`mode`) with the plan in `plan_file`.
fn reassign(
    classpath: &str,
    bootstrap: &str,
    plan_file: &Path,
    mode: &str,
) -> std::process::Output {
    let plan = plan_file.display().to_string();
    run_java_tool(
        classpath,
        "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
        &[
            "--bootstrap-server",
            bootstrap,
            "--reassignment-json-file",
            &plan,
            mode,
        ],
    )
}

fn log_dirs_describe(classpath: &str, bootstrap: &str) -> String {
    let out = run_java_tool(
        classpath,
        "org.apache.kafka.tools.LogDirsCommand",
        &["--bootstrap-server", bootstrap, "--describe"],
    );
    assert!(
        out.status.success(),
        "kafka-log-dirs --describe: {}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn partitions_spread_over_two_dirs_and_kafka_log_dirs_lists_both() {
    let (_root, dirs, broker) = broker_with_two_dirs(&[]);
    let bootstrap = broker.bootstrap().to_string();
    create_topic(&bootstrap, "spread", 4);
    produce(&bootstrap, "spread", 0, &["zero".to_string()]);
    let placed: Vec<usize> = (0..4).map(|p| dir_of(&dirs, "spread", p)).collect();
    let in_a = placed.iter().filter(|&&d| d == 0).count();
    assert_eq!(
        in_a, 2,
        "fewest-partitions placement: two in each directory: {placed:?}"
    );
    // One meta.properties per directory: one cluster and node, a directory id each.
    assert_eq!(
        meta_field(&dirs[0], "cluster.id"),
        meta_field(&dirs[1], "cluster.id")
    );
    assert_eq!(
        meta_field(&dirs[0], "node.id"),
        meta_field(&dirs[1], "node.id")
    );
    assert_ne!(
        meta_field(&dirs[0], "directory.id"),
        meta_field(&dirs[1], "directory.id")
    );

    let classpath = kafka_classpath().expect("Kafka's jars (ci/kafka-reference)");
    let described = log_dirs_describe(&classpath, &bootstrap);
    for (p, d) in placed.iter().enumerate() {
        let dir = std::path::absolute(&dirs[*d]).expect("absolute");
        let entry = format!("\"logDir\":\"{}\"", dir.display());
        let at = described
            .find(&entry)
            .unwrap_or_else(|| panic!("{entry} in {described}"));
        // Kafka's JSON ends each directory's object with its logDir: the partitions listed
        // since the previous directory's logDir are this one's.
        let from = described[..at].rfind("\"logDir\"").unwrap_or(0);
        let section = &described[from..at];
        assert!(
            section.contains(&format!("\"partition\":\"spread-{p}\"")),
            "spread-{p} under {}: {described}",
            dir.display()
        );
    }
    assert!(
        !described.contains("\"partition\":\"spread-0\",\"size\":0,"),
        "spread-0 holds a batch: {described}"
    );
}

#[test]
fn alter_replica_log_dirs_moves_a_replica_and_its_records_stay_intact() {
    let (_root, dirs, broker) = broker_with_two_dirs(&[]);
    let bootstrap = broker.bootstrap().to_string();
    create_topic(&bootstrap, "moved", 2);
    let before: Vec<String> = (0..200)
        .map(|i| format!("before-{i}-{}", "x".repeat(100)))
        .collect();
    produce(&bootstrap, "moved", 0, &before);
    let from = dir_of(&dirs, "moved", 0);
    let to = 1 - from;
    let old_log = dirs[from].join("moved-0").join("00000000000000000000.log");
    let old_bytes = fs::read(&old_log).expect("old segment");
    assert!(!old_bytes.is_empty());

    let target = std::path::absolute(&dirs[to]).expect("absolute");
    let plan = format!(
        "{{\"version\":1,\"partitions\":[{{\"topic\":\"moved\",\"partition\":0,\"replicas\":[1],\"log_dirs\":[\"{}\"]}}]}}",
        target.display()
    );
    let plan_file = _root.path().join("plan.json");
    fs::write(&plan_file, plan).expect("plan");
    let classpath = kafka_classpath().expect("Kafka's jars (ci/kafka-reference)");
    let out = reassign(&classpath, &bootstrap, &plan_file, "--execute");
    assert!(
        out.status.success(),
        "kafka-reassign-partitions --execute: {}\n{}",
        output_text(&out),
        broker.log_report()
    );
    wait_until(
        "the replica moved to the other directory and the old copy removed",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let moved = dirs[to].join("moved-0").is_dir() && !dirs[from].join("moved-0").exists();
            let leftovers = fs::read_dir(&dirs[to])
                .ok()?
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with("-future"));
            (moved && !leftovers).then_some(())
        },
    );
    let out = reassign(&classpath, &bootstrap, &plan_file, "--verify");
    let verify = output_text(&out);
    assert!(
        verify.contains("is completed") && !verify.contains("still in progress"),
        "kafka-reassign-partitions --verify: {verify}"
    );
    // The moved log holds the same batches, byte for byte.
    let new_bytes =
        fs::read(dirs[to].join("moved-0").join("00000000000000000000.log")).expect("new segment");
    assert!(
        new_bytes.starts_with(&old_bytes),
        "the moved segment starts with the old one's {} bytes (it has {})",
        old_bytes.len(),
        new_bytes.len()
    );
    let after: Vec<String> = (0..50).map(|i| format!("after-{i}")).collect();
    produce(&bootstrap, "moved", 0, &after);
    let read = read_all(&bootstrap, "moved", 2, Duration::from_secs(30));
    let mut expected = before.clone();
    expected.extend(after);
    assert_eq!(values(&read[&0]), expected, "partition 0 after the move");
    let offsets: Vec<i64> = read[&0].iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..250).collect::<Vec<i64>>());
    // After a restart the partition is found in its new directory.
    let mut broker = broker;
    broker.restart();
    let bootstrap = broker.bootstrap().to_string();
    let read = read_all(&bootstrap, "moved", 2, Duration::from_secs(30));
    assert_eq!(read[&0].len(), 250, "after a restart");
    // Unknown destination: LOG_DIR_NOT_FOUND, as Kafka.
    let plan = "{\"version\":1,\"partitions\":[{\"topic\":\"moved\",\"partition\":1,\"replicas\":[1],\"log_dirs\":[\"/nonexistent-log-dir\"]}]}";
    fs::write(&plan_file, plan).expect("plan");
    let out = reassign(&classpath, &bootstrap, &plan_file, "--execute");
    let text = output_text(&out);
    assert!(
        text.contains("LogDirNotFoundException") || text.contains("not found"),
        "an unknown directory is refused: {text}"
    );
}

#[test]
fn a_failed_log_dir_goes_offline_alone() {
    let (root, dirs, broker) = broker_with_two_dirs(&["--set", "log.internal.segment.bytes=16384"]);
    let bootstrap = broker.bootstrap().to_string();
    create_topic(&bootstrap, "halves", 2);
    let failing = dir_of(&dirs, "halves", 1);
    let healthy_partition = (0..2)
        .find(|&p| dir_of(&dirs, "halves", p) != failing)
        .expect("the other partition is in the other directory");
    let failing_partition = 1 - healthy_partition;
    let big = |tag: &str, n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("{tag}-{i}-{}", "y".repeat(2000)))
            .collect()
    };
    produce(&bootstrap, "halves", failing_partition, &big("early", 2));
    // The directory is gone from under the broker: a file where it was. Open segment files
    // still take writes; the next roll (creating files) fails with ENOTDIR.
    fs::rename(&dirs[failing], root.path().join("gone")).expect("move the directory away");
    fs::write(&dirs[failing], b"not a directory").expect("a file in its place");
    // One record per batch, so that no record set exceeds the 16 KiB segments.
    let producer: BaseProducer = compat_tests::producer_config(&bootstrap)
        .set("message.timeout.ms", "5000")
        .set("batch.size", "2500")
        .create()
        .expect("producer");
    for v in big("late", 12) {
        let _ = producer.send(
            BaseRecord::to("halves")
                .partition(failing_partition)
                .key("k")
                .payload(&v),
        );
    }
    let _ = producer.flush(Duration::from_secs(15));
    wait_until(
        "the failing directory taken offline",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            broker
                .log()
                .contains("log directory is offline")
                .then_some(())
        },
    );
    // Metadata: the failed directory's partition has no leader; the other one has.
    let c = compat_tests::consumer(&bootstrap);
    wait_until(
        "metadata without a leader for the offline partition",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let md = c
                .fetch_metadata(Some("halves"), Duration::from_secs(5))
                .ok()?;
            let t = md.topics().iter().find(|t| t.name() == "halves")?;
            let by_index: BTreeMap<i32, i32> = t
                .partitions()
                .iter()
                .map(|p| (p.id(), p.leader()))
                .collect();
            (by_index.get(&failing_partition) == Some(&-1)
                && by_index.get(&healthy_partition) == Some(&1))
            .then_some(())
        },
    );
    // The healthy directory's partition keeps taking produces and serving fetches.
    let healthy: Vec<String> = (0..20).map(|i| format!("healthy-{i}")).collect();
    produce(&bootstrap, "halves", healthy_partition, &healthy);
    let starts: BTreeMap<i32, Offset> = [(healthy_partition, Offset::Beginning)].into();
    let read =
        compat_tests::read_partitions(&bootstrap, "halves", &starts, Duration::from_secs(30));
    assert_eq!(values(&read[&healthy_partition]), healthy);
    // DescribeLogDirs: the failed directory with KAFKA_STORAGE_ERROR, the other one online.
    let classpath = kafka_classpath().expect("Kafka's jars (ci/kafka-reference)");
    let described = log_dirs_describe(&classpath, &bootstrap);
    let failed = std::path::absolute(&dirs[failing]).expect("absolute");
    let at = described
        .find(&format!("\"logDir\":\"{}\"", failed.display()))
        .unwrap_or_else(|| panic!("the failed directory is listed: {described}"));
    let from = described[..at].rfind("\"logDir\"").unwrap_or(0);
    let section = &described[from..at];
    assert!(
        section.contains("KafkaStorageException") && !section.contains("\"partition\""),
        "the failed directory is reported with KAFKA_STORAGE_ERROR and no partitions: {described}"
    );
    assert!(
        described.contains(&format!("\"partition\":\"halves-{healthy_partition}\"")),
        "{described}"
    );
}

/// In a 3-node cluster (RF 3) a leader whose log directory fails stops leading the partitions
/// in it: it reports them to the controller (an `OfflineReplicas` metadata record), another
/// in-sync replica leads, and producing and fetching through it go on, with the records
/// acknowledged before the failure intact.
#[test]
fn a_leader_whose_log_dir_failed_hands_its_partitions_to_another_replica() {
    use compat_tests::cluster::{one_cluster_at_a_time, Cluster, Role};
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let _one = one_cluster_at_a_time();
    let mut cluster = Cluster::start_with_node_args(
        &[Role::Combined, Role::Combined, Role::Combined],
        &["--set", "log.internal.segment.bytes=16384"],
        |_, _, data| {
            vec![
                "--set".into(),
                format!("metadata.log.dir={}", data.display()),
                "--set".into(),
                format!(
                    "log.dirs={},{}",
                    data.join("a").display(),
                    data.join("b").display()
                ),
            ]
        },
    );
    let bootstrap = cluster.bootstrap_all();
    let admin: AdminClient<DefaultClientContext> = compat_tests::admin_config(&bootstrap)
        .create()
        .expect("admin");
    let opts = AdminOptions::new();
    wait_until(
        "topic created with RF 3",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || {
            let topic = NewTopic::new("failover", 4, TopicReplication::Fixed(3));
            match compat_tests::block_on(admin.create_topics([&topic], &opts)).as_deref() {
                Ok([Ok(_)]) => Some(()),
                _ => None,
            }
        },
    );
    let view =
        cluster.wait_for_metadata(1, Some("failover"), "every partition led, 3 in sync", |v| {
            v.topics.get("failover").is_some_and(|t| {
                t.partitions.len() == 4
                    && t.partitions
                        .values()
                        .all(|p| p.leader > 0 && p.isr.len() == 3)
            })
        });
    let leaders = view.topics["failover"].leaders();
    // A partition whose leader keeps it in its second directory ("b").
    let work = cluster.work_dir().to_path_buf();
    let (partition, leader) = leaders
        .iter()
        .map(|(&p, &l)| (p, l))
        .find(|&(p, l)| {
            work.join(format!("node-{l}"))
                .join("b")
                .join(format!("failover-{p}"))
                .is_dir()
        })
        .expect("some partition led from a second directory");
    let early: Vec<String> = (0..3).map(|i| format!("early-{i}")).collect();
    produce(&bootstrap, "failover", partition, &early);
    let failing = work.join(format!("node-{leader}")).join("b");
    fs::rename(&failing, work.join("gone")).expect("move the directory away");
    fs::write(&failing, b"not a directory").expect("a file in its place");
    let producer: BaseProducer = compat_tests::producer_config(&bootstrap)
        .set("batch.size", "2500")
        .set("message.timeout.ms", "5000")
        .create()
        .expect("producer");
    for i in 0..12 {
        let v = format!("late-{i}-{}", "z".repeat(2000));
        let _ = producer.send(
            BaseRecord::to("failover")
                .partition(partition)
                .key("k")
                .payload(&v),
        );
    }
    let _ = producer.flush(Duration::from_secs(15));
    let other = cluster
        .node_ids()
        .into_iter()
        .find(|&n| n != leader)
        .expect("another node");
    cluster.wait_for_metadata(
        other,
        Some("failover"),
        "leadership moved off the failed directory",
        |v| {
            v.topics
                .get("failover")
                .and_then(|t| t.partitions.get(&partition))
                .is_some_and(|p| p.leader > 0 && p.leader != leader && !p.isr.contains(&leader))
        },
    );
    let log = cluster.node(leader).log();
    assert!(
        log.contains("log directory is offline")
            && log.contains("replica offline: its log directory failed")
            && log.contains("offline replicas reported to the controller"),
        "node {leader} took the directory offline and reported it:\n{}",
        cluster.logs_report()
    );
    let after: Vec<String> = (0..5).map(|i| format!("after-{i}")).collect();
    produce(&bootstrap, "failover", partition, &after);
    let starts: BTreeMap<i32, Offset> = [(partition, Offset::Beginning)].into();
    let read =
        compat_tests::read_partitions(&bootstrap, "failover", &starts, Duration::from_secs(30));
    let got = values(&read[&partition]);
    assert!(
        got.starts_with(&early),
        "records acknowledged before the failure: {got:?}"
    );
    assert!(
        got.ends_with(&after),
        "records produced after the move: {got:?}"
    );
}
