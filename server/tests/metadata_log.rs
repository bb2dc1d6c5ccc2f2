//! Topic metadata lives in the cluster metadata log (`__cluster_metadata-0`, a one-voter
//! openraft quorum on a single node): admin changes survive restarts through it, and a data
//! directory of the earlier single-node layout (`minikafka-topics.toml`, `producer-id-block`)
//! is upgraded in place with every topic, record, committed offset and producer id intact.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use minikafka::broker::RunningBroker;

fn st(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Topic name → (topic id, partition count) as Metadata v12 reports every topic.
async fn topics(c: &mut Client) -> BTreeMap<String, (uuid::Uuid, usize)> {
    let r = c
        .call(MetadataRequest::default().with_topics(None), 12)
        .await;
    r.topics
        .iter()
        .map(|t| {
            assert_eq!(t.error_code, 0);
            (
                t.name.as_ref().unwrap().0.to_string(),
                (t.topic_id, t.partitions.len()),
            )
        })
        .collect()
}

/// The explicit (topic-level) configs of `topic`.
async fn topic_overrides(c: &mut Client, topic: &str) -> BTreeMap<String, String> {
    let r = c
        .call(
            DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(st(topic))
                    .with_configuration_keys(None),
            ]),
            4,
        )
        .await;
    assert_eq!(r.results[0].error_code, 0);
    r.results[0]
        .configs
        .iter()
        .filter(|c| c.config_source == 1)
        .map(|c| {
            (
                c.name.to_string(),
                c.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

async fn create(c: &mut Client, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let r = c.call(create_req(topic, partitions, 1, configs), 7).await;
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
}

async fn restart(b: RunningBroker, dir: &Path) -> RunningBroker {
    b.shutdown().await.unwrap();
    start(dir, &[]).await
}

#[tokio::test]
async fn admin_changes_survive_restarts_through_the_metadata_log() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    create(&mut c, "a", 3, &[("cleanup.policy", "compact")]).await;
    create(&mut c, "b", 1, &[]).await;
    create(&mut c, "gone", 2, &[]).await;
    let r = c
        .call(
            CreatePartitionsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![CreatePartitionsTopic::default()
                    .with_name(name("b"))
                    .with_count(4)]),
            3,
        )
        .await;
    assert_eq!(r.results[0].error_code, 0);
    let r = c
        .call(
            AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(st("a"))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(st("retention.ms"))
                    .with_value(Some(st("3600000")))])]),
            2,
        )
        .await;
    assert_eq!(r.responses[0].error_code, 0);
    let r = c
        .call(
            DeleteTopicsRequest::default()
                .with_timeout_ms(5000)
                .with_topic_names(vec![name("gone")]),
            5,
        )
        .await;
    assert_eq!(r.responses[0].error_code, 0);
    let before = topics(&mut c).await;
    assert_eq!(before["a"].1, 3);
    assert_eq!(before["b"].1, 4);
    assert!(!before.contains_key("gone"));
    // AlterConfigs replaces the whole set: cleanup.policy is gone, retention.ms is set.
    let a_configs = topic_overrides(&mut c, "a").await;
    assert_eq!(
        a_configs,
        BTreeMap::from([("retention.ms".to_string(), "3600000".to_string())])
    );
    drop(c);

    let b = restart(b, dir.path()).await;
    assert!(dir.path().join("__cluster_metadata-0").is_dir());
    assert!(!dir.path().join("minikafka-topics.toml").exists());
    assert!(
        !dir.path().join("gone-0").exists(),
        "deleted topic's data left behind"
    );
    let mut c = Client::connect(&b).await;
    assert_eq!(topics(&mut c).await, before, "topics after a restart");
    assert_eq!(topic_overrides(&mut c, "a").await, a_configs);
    // A deleted name can be created again, with a new id and fresh data.
    create(&mut c, "gone", 1, &[]).await;
    let again = topics(&mut c).await;
    assert_ne!(again["gone"].0, uuid::Uuid::nil());
    drop(c);
    b.shutdown().await.unwrap();
}

/// Write the files an earlier single-node minikafka kept instead of the metadata log, from the
/// topics a broker knows, and remove the log: the layout of a data directory of that release
/// (its partition directories, offsets and transactional state are unchanged between the two).
fn downgrade_to_single_node_layout(b: &RunningBroker, dir: &Path, next_producer_id: i64) {
    let mut toml = String::new();
    for t in b.broker().topics.all() {
        toml.push_str(&format!(
            "[[topic]]\nname = \"{}\"\nid = \"{}\"\npartitions = {}\n",
            t.name,
            t.id,
            t.partition_count()
        ));
        if !t.config.overrides.is_empty() {
            toml.push_str("\n[topic.configs]\n");
            for (k, v) in &t.config.overrides {
                toml.push_str(&format!("\"{k}\" = \"{v}\"\n"));
            }
        }
        toml.push('\n');
    }
    std::fs::write(dir.join("minikafka-topics.toml"), toml).unwrap();
    std::fs::write(
        dir.join("producer-id-block"),
        format!("next.producer.id={next_producer_id}\n"),
    )
    .unwrap();
}

async fn init_producer_id(c: &mut Client) -> i64 {
    let r = c
        .call(
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
            4,
        )
        .await;
    assert_eq!(r.error_code, 0, "{r:?}");
    r.producer_id.0
}

async fn committed(c: &mut Client, group: &str, topic: &str) -> i64 {
    let r = c
        .call(
            OffsetFetchRequest::default()
                .with_group_id(GroupId(st(group)))
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(name(topic))
                    .with_partition_indexes(vec![0])])),
            7,
        )
        .await;
    assert_eq!(r.error_code, 0);
    r.topics[0].partitions[0].committed_offset
}

async fn fetched(c: &mut Client, topic: &str, partition: i32) -> Vec<(i64, i32)> {
    let r = c.call(fetch_req(topic, partition, 0, 0, 1 << 20), 12).await;
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    batch_offsets(p.records.clone().unwrap_or_default())
}

#[tokio::test]
async fn a_single_node_data_directory_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    create(&mut c, "old", 2, &[("retention.ms", "7200000")]).await;
    for p in 0..2 {
        let r = c
            .call(produce_req("old", p, batch(5 + p, 0).freeze(), -1), 9)
            .await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    assert_eq!(find_group_coordinator(&mut c, "g").await, 0);
    let r = c
        .call(
            OffsetCommitRequest::default()
                .with_group_id(GroupId(st("g")))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(name("old"))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(3)])]),
            8,
        )
        .await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let before = topics(&mut c).await;
    assert!(before.contains_key("__consumer_offsets"));
    let pid = init_producer_id(&mut c).await;
    drop(c);
    let old_layout = 5_000;
    assert!(pid < old_layout);
    downgrade_to_single_node_layout(&b, dir.path(), old_layout);
    b.shutdown().await.unwrap();
    std::fs::remove_dir_all(dir.path().join("__cluster_metadata-0")).unwrap();

    for round in 0..2 {
        let b = start(dir.path(), &[]).await;
        let mut c = Client::connect(&b).await;
        assert_eq!(
            topics(&mut c).await,
            before,
            "round {round}: same topics and ids"
        );
        assert_eq!(
            topic_overrides(&mut c, "old").await,
            BTreeMap::from([("retention.ms".to_string(), "7200000".to_string())])
        );
        assert_eq!(fetched(&mut c, "old", 0).await, vec![(0, 5)]);
        assert_eq!(fetched(&mut c, "old", 1).await, vec![(0, 6)]);
        assert_eq!(committed(&mut c, "g", "old").await, 3);
        let next = init_producer_id(&mut c).await;
        assert!(
            next >= old_layout + 1000 * round,
            "round {round}: producer id {next} reused an id below the old block's end"
        );
        assert!(!dir.path().join("minikafka-topics.toml").exists());
        assert!(dir.path().join("minikafka-topics.toml.migrated").exists());
        assert!(dir.path().join("producer-id-block.migrated").exists());
        drop(c);
        b.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn producer_ids_are_never_reused_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let b = start(dir.path(), &[]).await;
        let mut c = Client::connect(&b).await;
        for _ in 0..3 {
            let id = init_producer_id(&mut c).await;
            assert!(seen.insert(id), "producer id {id} handed out twice");
        }
        drop(c);
        b.shutdown().await.unwrap();
    }
    assert_eq!(seen.len(), 9);
}

#[tokio::test]
async fn metadata_topic_lookup_by_name_after_restart_keeps_ids() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    create(&mut c, "x", 1, &[]).await;
    let id = topics(&mut c).await["x"].0;
    drop(c);
    let b = restart(b, dir.path()).await;
    let mut c = Client::connect(&b).await;
    let r = c
        .call(
            MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name("x")))
            ])),
            12,
        )
        .await;
    assert_eq!(r.topics[0].topic_id, id);
    drop(c);
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn describe_quorum_reports_the_one_voter_quorum() {
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let req = |topic: &str, partition: i32| {
        DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(name(topic))
            .with_partitions(vec![
                PartitionData::default().with_partition_index(partition)
            ])])
    };
    let r = c.call(req("__cluster_metadata", 0), 2).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.leader_id.0, 1);
    assert!(p.leader_epoch >= 1);
    let hw = p.high_watermark;
    assert!(
        hw >= 1,
        "the quorum's initial membership is committed: {hw}"
    );
    assert_eq!(p.current_voters.len(), 1);
    assert_eq!(p.current_voters[0].replica_id.0, 1);
    assert_eq!(p.current_voters[0].log_end_offset, hw);
    assert!(p.observers.is_empty());
    assert_eq!(r.nodes.len(), 1);
    // Each admin change is one more committed entry.
    create(&mut c, "q", 1, &[]).await;
    let r = c.call(req("__cluster_metadata", 0), 1).await;
    assert_eq!(r.topics[0].partitions[0].high_watermark, hw + 1);
    // Anything but the metadata partition is unknown, as in Kafka.
    for (t, p) in [("__cluster_metadata", 1), ("q", 0)] {
        let r = c.call(req(t, p), 0).await;
        assert_eq!(r.topics[0].partitions[0].error_code, 3, "{t}-{p}");
    }
    drop(c);
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_metadata_log_of_another_cluster_is_refused_at_start() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    start(a.path(), &[]).await.shutdown().await.unwrap();
    start(b.path(), &[]).await.shutdown().await.unwrap();
    // b's data directory with a's metadata log (e.g. a wrong metadata.log.dir).
    let log = b.path().join("__cluster_metadata-0");
    std::fs::remove_dir_all(&log).unwrap();
    std::fs::create_dir(&log).unwrap();
    for f in std::fs::read_dir(a.path().join("__cluster_metadata-0")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), log.join(f.file_name())).unwrap();
    }
    let mut cfg = minikafka::config::ConfigBuilder::default();
    cfg.set("listeners", "127.0.0.1:0").unwrap();
    cfg.set("log.dirs", b.path().to_str().unwrap()).unwrap();
    let err = RunningBroker::start(cfg.build().unwrap())
        .await
        .expect_err("started on another cluster's metadata log")
        .to_string();
    assert!(
        err.contains("Invalid cluster.id in:") && err.contains("meta.properties"),
        "{err}"
    );
    // Its own log again: it starts.
    std::fs::remove_dir_all(&log).unwrap();
    start(b.path(), &[]).await.shutdown().await.unwrap();
}
