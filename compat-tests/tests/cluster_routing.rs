//! Where requests go in a cluster, at the wire: a partition is served only by its leader, a
//! group only by its coordinator, and every other node says so with the error code a Kafka
//! client acts on (NOT_LEADER_OR_FOLLOWER, NOT_COORDINATOR) rather than serving it or
//! pretending the partition does not exist. Also: two nodes asked to create the same topic at
//! once create one topic and tell the second client it exists, and `minikafka dev-cluster`
//! serves a three-node cluster from one command.
//!
//! Requests are hand-encoded with `kafka-protocol`'s client-side codecs so each can be sent to a
//! chosen node (a real client would follow Metadata to the right one).

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use compat_tests::cluster::{one_cluster_at_a_time, Cluster};
use compat_tests::conn::Conn;
use compat_tests::tools::{kafka_classpath, output_text, run_java_tool};
use compat_tests::{create_topic, wire};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    CreateTopicsRequest, FetchRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest,
    ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::Consumer;

const NODES: usize = 3;
const PARTITIONS: i32 = 6;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn produce_code(conn: &mut Conn, topic: &str, partition: i32) -> i16 {
    let batch = wire::record_batch(
        0,
        &[wire::RawRecord {
            key: Some(b"k".to_vec()),
            value: Some(b"v".to_vec()),
        }],
    );
    let r = conn.call(
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(Bytes::from(batch)))])]),
        9,
    );
    r.responses[0].partition_responses[0].error_code
}

fn list_offsets_code(conn: &mut Conn, topic: &str, partition: i32) -> i16 {
    let r = conn.call(
        &ListOffsetsRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(-1)])]),
        7,
    );
    r.topics[0].partitions[0].error_code
}

fn fetch_code(conn: &mut Conn, topic: &str, partition: i32) -> i16 {
    let r = conn.call(
        &FetchRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_partition_max_bytes(1 << 20)])]),
        12,
    );
    r.responses[0].partitions[0].error_code
}

/// The coordinator a node names for `group`.
fn coordinator(conn: &mut Conn, group: &str) -> i32 {
    let r = conn.call(
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![StrBytes::from_string(group.to_string())]),
        4,
    );
    let c = &r.coordinators[0];
    assert_eq!(c.error_code, 0, "FindCoordinator({group}): {c:?}");
    c.node_id.0
}

fn commit_code(conn: &mut Conn, group: &str, topic: &str) -> i16 {
    let r = conn.call(
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(1)])]),
        8,
    );
    r.topics[0].partitions[0].error_code
}

#[test]
fn a_partition_is_served_by_its_leader_and_a_group_by_its_coordinator_only() {
    let _serial = one_cluster_at_a_time();
    let mut cluster = Cluster::start(NODES, &[]);
    let topic = "routed";
    create_topic(&cluster.bootstrap(1), topic, PARTITIONS);
    let leaders = cluster.wait_for_leaders(1, topic, PARTITIONS);
    for via in [2, 3] {
        assert_eq!(
            cluster.wait_for_leaders(via, topic, PARTITIONS),
            leaders,
            "every node reports the same leaders"
        );
    }
    let not_leader = ResponseError::NotLeaderOrFollower.code();
    for (&partition, &leader) in &leaders {
        for node in cluster.node_ids() {
            let mut conn = Conn::open(&cluster.bootstrap(node), "routing");
            let (produce, list, fetch) = (
                produce_code(&mut conn, topic, partition),
                list_offsets_code(&mut conn, topic, partition),
                fetch_code(&mut conn, topic, partition),
            );
            if node == leader {
                assert_eq!(
                    (produce, list, fetch),
                    (0, 0, 0),
                    "partition {partition} through its leader {node}"
                );
            } else {
                assert_eq!(
                    (produce, list, fetch),
                    (not_leader, not_leader, not_leader),
                    "partition {partition} (leader {leader}) through node {node}"
                );
            }
        }
    }
    // A partition that does not exist is unknown everywhere, not "elsewhere".
    let mut conn = Conn::open(&cluster.bootstrap(1), "routing");
    assert_eq!(
        produce_code(&mut conn, topic, PARTITIONS),
        ResponseError::UnknownTopicOrPartition.code()
    );

    // Groups: every node names the same coordinator; only it serves the group.
    let mut coordinators = BTreeSet::new();
    for g in 0..12 {
        let group = format!("routed-group-{g}");
        let named: BTreeSet<i32> = cluster
            .node_ids()
            .into_iter()
            .map(|n| coordinator(&mut Conn::open(&cluster.bootstrap(n), "routing"), &group))
            .collect();
        assert_eq!(named.len(), 1, "{group}: coordinators named {named:?}");
        let c = *named.first().expect("one");
        coordinators.insert(c);
        for node in cluster.node_ids() {
            let mut conn = Conn::open(&cluster.bootstrap(node), "routing");
            let code = commit_code(&mut conn, &group, topic);
            let hb = conn
                .call(
                    &HeartbeatRequest::default()
                        .with_group_id(GroupId(StrBytes::from_string(group.clone())))
                        .with_member_id(StrBytes::from_static_str("nobody"))
                        .with_generation_id(1),
                    4,
                )
                .error_code;
            if node == c {
                assert_eq!(code, 0, "{group}: OffsetCommit at its coordinator {c}");
                assert_eq!(hb, ResponseError::UnknownMemberId.code(), "{group}");
            } else {
                let nc = ResponseError::NotCoordinator.code();
                assert_eq!(
                    (code, hb),
                    (nc, nc),
                    "{group} (coordinator {c}) at node {node}"
                );
            }
        }
    }
    assert!(
        coordinators.len() > 1,
        "12 groups all coordinated by one node: {coordinators:?}"
    );
    cluster.stop_all();
}

#[test]
fn concurrent_creates_of_one_name_on_two_nodes_make_one_topic() {
    let _serial = one_cluster_at_a_time();
    let mut cluster = Cluster::start(NODES, &[]);
    let (a, b) = (cluster.bootstrap(1), cluster.bootstrap(2));
    for round in 0..5 {
        let topic = format!("raced-{round}");
        let create = |addr: String, topic: String| {
            std::thread::spawn(move || {
                let mut conn = Conn::open(&addr, "routing");
                let r = conn.call(
                    &CreateTopicsRequest::default()
                        .with_timeout_ms(30_000)
                        .with_topics(vec![CreatableTopic::default()
                            .with_name(name(&topic))
                            .with_num_partitions(3)
                            .with_replication_factor(1)]),
                    7,
                );
                let t = &r.topics[0];
                (t.error_code, t.topic_id)
            })
        };
        let (ra, rb) = (
            create(a.clone(), topic.clone()),
            create(b.clone(), topic.clone()),
        );
        let mut results = [ra.join().expect("thread"), rb.join().expect("thread")];
        results.sort_by_key(|r| r.0);
        assert_eq!(
            (results[0].0, results[1].0),
            (0, ResponseError::TopicAlreadyExists.code()),
            "{topic}: one creation succeeds, the other is told it exists: {results:?}"
        );
        let leaders = cluster.wait_for_leaders(3, &topic, 3);
        assert_eq!(leaders.len(), 3, "{topic}: the winner's 3 partitions");
    }
    cluster.stop_all();
}

#[test]
fn a_topic_created_or_altered_through_one_node_is_known_to_every_node_when_the_change_answers() {
    let _serial = one_cluster_at_a_time();
    let mut cluster = Cluster::start(NODES, &[]);
    let mut via = Conn::open(&cluster.bootstrap(1), "routing");
    let mut others: Vec<Conn> = [2, 3]
        .iter()
        .map(|n| Conn::open(&cluster.bootstrap(*n), "routing"))
        .collect();
    for i in 0..20 {
        let topic = format!("known-{i}");
        let r = via.call(
            &CreateTopicsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![CreatableTopic::default()
                    .with_name(name(&topic))
                    .with_num_partitions(2)
                    .with_replication_factor(1)]),
            7,
        );
        assert_eq!(r.topics[0].error_code, 0, "{topic}: {r:?}");
        for conn in &mut others {
            let md = conn.call(
                &MetadataRequest::default()
                    .with_allow_auto_topic_creation(false)
                    .with_topics(Some(vec![
                        MetadataRequestTopic::default().with_name(Some(name(&topic)))
                    ])),
                12,
            );
            let t = &md.topics[0];
            assert_eq!(
                (t.error_code, t.partitions.len()),
                (0, 2),
                "{topic} right after its creation answered: {t:?}"
            );
        }
    }
    // Partitions added through node 1 are listed by the others at once.
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_protocol::messages::{CreatePartitionsRequest, DeleteTopicsRequest};
    for i in 0..5 {
        let topic = format!("known-{i}");
        let grown = via.call(
            &CreatePartitionsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![CreatePartitionsTopic::default()
                    .with_name(name(&topic))
                    .with_count(4)]),
            3,
        );
        assert_eq!(grown.results[0].error_code, 0, "{grown:?}");
        for conn in &mut others {
            let md = conn.call(
                &MetadataRequest::default()
                    .with_allow_auto_topic_creation(false)
                    .with_topics(Some(vec![
                        MetadataRequestTopic::default().with_name(Some(name(&topic)))
                    ])),
                12,
            );
            let t = &md.topics[0];
            assert_eq!(
                (t.error_code, t.partitions.len()),
                (0, 4),
                "{topic} right after CreatePartitions answered: {t:?}"
            );
        }
    }
    // A topic deleted through node 1 is gone from the others at once.
    for i in 10..15 {
        let topic = format!("known-{i}");
        let deleted = via.call(
            &DeleteTopicsRequest::default()
                .with_timeout_ms(30_000)
                .with_topic_names(vec![name(&topic)]),
            4,
        );
        assert_eq!(deleted.responses[0].error_code, 0, "{deleted:?}");
        for conn in &mut others {
            let md = conn.call(
                &MetadataRequest::default()
                    .with_allow_auto_topic_creation(false)
                    .with_topics(Some(vec![
                        MetadataRequestTopic::default().with_name(Some(name(&topic)))
                    ])),
                12,
            );
            assert_eq!(
                md.topics[0].error_code,
                ResponseError::UnknownTopicOrPartition.code(),
                "{topic} right after DeleteTopics answered: {:?}",
                md.topics[0]
            );
        }
    }
    // A topic config altered through node 1 is described as altered by the others at once.
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    use kafka_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};
    for i in 0..10 {
        let topic = format!("known-{i}");
        let retention = (3_600_000 + i).to_string();
        let altered = via.call(
            &IncrementalAlterConfigsRequest::default().with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_string(topic.clone()))
                    .with_configs(vec![AlterableConfig::default()
                        .with_name(StrBytes::from_static_str("retention.ms"))
                        .with_config_operation(0)
                        .with_value(Some(StrBytes::from_string(retention.clone())))]),
            ]),
            1,
        );
        assert_eq!(altered.responses[0].error_code, 0, "{altered:?}");
        for conn in &mut others {
            let described = conn.call(
                &DescribeConfigsRequest::default().with_resources(vec![
                    DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_string(topic.clone()))
                        .with_configuration_keys(Some(vec![StrBytes::from_static_str(
                            "retention.ms",
                        )])),
                ]),
                4,
            );
            let r = &described.results[0];
            assert_eq!(r.error_code, 0, "{r:?}");
            assert_eq!(
                r.configs[0].value.as_ref().map(|v| v.to_string()),
                Some(retention.clone()),
                "{topic}: retention.ms right after the alteration answered"
            );
        }
    }
    cluster.stop_all();
}

#[test]
fn kafka_metadata_quorum_through_a_follower_shows_the_leaders_view() {
    let _serial = one_cluster_at_a_time();
    let mut cluster = Cluster::start(NODES, &[]);
    create_topic(&cluster.bootstrap(1), "quorum-view", 3);
    let leader = cluster.wait_for_active_controller(|_| true);
    let follower = cluster
        .node_ids()
        .into_iter()
        .find(|n| *n != leader)
        .expect("a follower");
    let classpath = kafka_classpath().expect("Kafka's jars (ci/kafka-reference)");
    let via = cluster.bootstrap(follower);
    let tool = |what: &str| {
        let out = run_java_tool(
            &classpath,
            "org.apache.kafka.tools.MetadataQuorumCommand",
            &["--bootstrap-server", &via, "describe", what],
        );
        assert!(
            out.status.success(),
            "describe {what} through node {follower}: {}",
            output_text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let status = tool("--status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim_start_matches(':').trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in:\n{status}"))
    };
    assert_eq!(field("LeaderId"), leader.to_string(), "{status}");
    let voters = field("CurrentVoters");
    for id in cluster.node_ids() {
        assert!(
            voters.contains(&format!("\"id\": {id}")),
            "voter {id}: {status}"
        );
    }
    let replication = tool("--replication");
    let roles: Vec<(String, String)> = replication
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((
                f.next()?.to_string(),
                l.split_whitespace().last()?.to_string(),
            ))
        })
        .collect();
    assert_eq!(roles.len(), 3, "{replication}");
    for (id, role) in &roles {
        let want = if *id == leader.to_string() {
            "Leader"
        } else {
            "Follower"
        };
        assert_eq!(role, want, "node {id}: {replication}");
    }
    cluster.stop_all();
}

#[test]
fn dev_cluster_runs_three_nodes_and_stops_on_a_signal() {
    let _serial = one_cluster_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    // Six consecutive free ports: try bases until one run binds them all.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut attempt = 0u16;
    loop {
        attempt += 1;
        let base = 21_000 + (std::process::id() % 500) as u16 * 16 + attempt * 7;
        let log = dir.path().join(format!("dev-{attempt}.log"));
        let mut child = Command::new(compat_tests::broker_binary())
            .args(["dev-cluster", "--nodes", "3", "--port", &base.to_string()])
            .arg("--data-dir")
            .arg(dir.path().join(format!("cluster-{attempt}")))
            .env("RUST_LOG", "info,openraft=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn dev-cluster");
        let ready = compat_tests::wait_until(
            "dev cluster running",
            Duration::from_secs(60),
            Duration::from_millis(100),
            || {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if text.contains("dev cluster running") {
                    Some(true)
                } else if child.try_wait().expect("try_wait").is_some() {
                    Some(false)
                } else {
                    None
                }
            },
        );
        if !ready {
            // A port was taken: another base.
            let _ = child.kill();
            let _ = child.wait();
            assert!(Instant::now() < deadline, "dev-cluster never started");
            continue;
        }
        let bootstrap = format!("127.0.0.1:{base}");
        let md = compat_tests::consumer(&bootstrap)
            .fetch_metadata(None, Duration::from_secs(10))
            .expect("metadata");
        let ports: BTreeSet<i32> = md.brokers().iter().map(|b| b.port()).collect();
        let expected: BTreeSet<i32> = (0..3).map(|i| i32::from(base) + i).collect();
        assert_eq!(ports, expected, "three brokers on consecutive ports");
        create_topic(&bootstrap, "dev", 3);
        #[allow(unsafe_code)]
        // SAFETY: kill(2) with a child's pid and SIGTERM has no memory effects.
        let rc = unsafe { libc::kill(i32::try_from(child.id()).expect("pid"), libc::SIGTERM) };
        assert_eq!(rc, 0);
        let status = compat_tests::wait_until(
            "dev-cluster exits",
            Duration::from_secs(60),
            Duration::from_millis(100),
            || child.try_wait().expect("try_wait"),
        );
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(status.success(), "dev-cluster exit: {status}\n{text}");
        assert_eq!(
            text.matches("shutdown complete").count(),
            3,
            "every node shut down: {text}"
        );
        return;
    }
}
