//! Internal topics belong to the broker: a client's Produce to one is refused with
//! INVALID_TOPIC_EXCEPTION and writes nothing, as in Kafka; a client can neither create one
//! (with any layout), nor delete one, nor add partitions to one (INVALID_REQUEST); Metadata
//! creates a missing one with its coordinator's layout and flags exactly the internal ones; a
//! user topic that merely starts with `__` is an ordinary topic.

mod common;
use common::*;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    CreatePartitionsRequest, DeleteTopicsRequest, FindCoordinatorRequest, MetadataRequest,
};
use kafka_protocol::protocol::StrBytes;

#[test]
fn the_coordinators_topics_are_the_internal_ones() {
    for t in [minikafka::group::OFFSETS_TOPIC, minikafka::txn::TXN_TOPIC] {
        assert!(minikafka::topics::is_internal_topic(t), "{t}");
    }
    assert!(!minikafka::topics::is_internal_topic("__user"));
}

#[tokio::test]
async fn a_client_cannot_produce_to_an_internal_topic() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["offsets.topic.num.partitions=1"]).await;
    let mut c = Client::connect(&b).await;
    // FindCoordinator for a group creates __consumer_offsets, as in Kafka.
    let r = c
        .call(
            FindCoordinatorRequest::default()
                .with_key(StrBytes::from_static_str("g"))
                .with_key_type(0),
            3,
        )
        .await;
    assert_eq!(r.error_code, 0);
    let now = minikafka::clock::now_ms();
    let r = c
        .call(
            produce_req("__consumer_offsets", 0, batch(3, now).freeze(), -1),
            9,
        )
        .await;
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(
        p.error_code,
        ResponseError::InvalidTopicException.code(),
        "{:?}",
        p.error_message
    );
    let r = c
        .call(list_offsets_req("__consumer_offsets", 0, -1), 7)
        .await;
    assert_eq!(r.topics[0].partitions[0].offset, 0, "nothing was written");

    assert_eq!(
        c.call(create_req("__user", 1, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let r = c
        .call(produce_req("__user", 0, batch(3, now).freeze(), -1), 9)
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    b.shutdown().await.unwrap();
}

async fn find_coordinator(c: &mut Client, key: &str, key_type: i8) {
    let r = c
        .call(
            FindCoordinatorRequest::default()
                .with_key(StrBytes::from_string(key.to_string()))
                .with_key_type(key_type),
            3,
        )
        .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
}

fn metadata_of(topics: &[&str]) -> MetadataRequest {
    MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(Some(
            topics
                .iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(name(t))))
                .collect(),
        ))
}

/// CreateTopics of `__consumer_offsets` / `__transaction_state` (with any layout, and even
/// validate_only) and of `__cluster_metadata` is INVALID_REQUEST "Creation of internal topic …
/// is prohibited." and creates nothing; the coordinator then creates it with its own layout.
#[tokio::test]
async fn a_client_cannot_create_an_internal_topic() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["offsets.topic.num.partitions=3"]).await;
    let mut c = Client::connect(&b).await;
    for topic in [
        "__consumer_offsets",
        "__transaction_state",
        "__cluster_metadata",
    ] {
        for validate_only in [true, false] {
            let r = c
                .call(
                    create_req(topic, 1, 1, &[("cleanup.policy", "delete")])
                        .with_validate_only(validate_only),
                    7,
                )
                .await;
            let t = &r.topics[0];
            assert_eq!(
                t.error_code,
                ResponseError::InvalidRequest.code(),
                "{topic}"
            );
            assert_eq!(
                t.error_message.as_deref(),
                Some(format!("Creation of internal topic {topic} is prohibited.").as_str())
            );
        }
        assert!(
            b.broker().topics.get(topic).is_none(),
            "{topic} was created"
        );
    }
    find_coordinator(&mut c, "g", 0).await;
    let offsets = b.broker().topics.get("__consumer_offsets").unwrap();
    assert_eq!(offsets.partition_count(), 3, "the coordinator's layout");
    b.shutdown().await.unwrap();
}

/// DeleteTopics of an internal topic, by name (v5) and by id (v6), is INVALID_REQUEST and the
/// topic with its committed offsets stays; a user topic named `__x` is deleted as usual.
#[tokio::test]
async fn a_client_cannot_delete_an_internal_topic() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["offsets.topic.num.partitions=1"]).await;
    let mut c = Client::connect(&b).await;
    find_coordinator(&mut c, "g", 0).await;
    find_coordinator(&mut c, "t", 1).await;
    for topic in ["__consumer_offsets", "__transaction_state"] {
        let id = b.broker().topics.get(topic).unwrap().id;
        let r = c
            .call(
                DeleteTopicsRequest::default()
                    .with_timeout_ms(5000)
                    .with_topic_names(vec![name(topic)]),
                5,
            )
            .await;
        assert_eq!(
            r.responses[0].error_code,
            ResponseError::InvalidRequest.code(),
            "{topic} v5"
        );
        assert_eq!(
            r.responses[0].error_message.as_deref(),
            Some(format!("Deletion of internal topic {topic} is prohibited.").as_str())
        );
        let r = c
            .call(
                DeleteTopicsRequest::default()
                    .with_timeout_ms(5000)
                    .with_topics(vec![DeleteTopicState::default().with_topic_id(id)]),
                6,
            )
            .await;
        assert_eq!(
            r.responses[0].error_code,
            ResponseError::InvalidRequest.code(),
            "{topic} v6 by id"
        );
        assert_eq!(b.broker().topics.get(topic).map(|t| t.id), Some(id));
    }
    assert_eq!(
        c.call(create_req("__x", 1, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let r = c
        .call(
            DeleteTopicsRequest::default()
                .with_timeout_ms(5000)
                .with_topic_names(vec![name("__x")]),
            5,
        )
        .await;
    assert_eq!(r.responses[0].error_code, 0);
    b.shutdown().await.unwrap();
}

/// CreatePartitions on an internal topic is INVALID_REQUEST (also validate_only); the partition
/// count is unchanged.
#[tokio::test]
async fn a_client_cannot_add_partitions_to_an_internal_topic() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["offsets.topic.num.partitions=2"]).await;
    let mut c = Client::connect(&b).await;
    find_coordinator(&mut c, "g", 0).await;
    for validate_only in [true, false] {
        let r = c
            .call(
                CreatePartitionsRequest::default()
                    .with_timeout_ms(5000)
                    .with_validate_only(validate_only)
                    .with_topics(vec![CreatePartitionsTopic::default()
                        .with_name(name("__consumer_offsets"))
                        .with_count(5)]),
                3,
            )
            .await;
        assert_eq!(
            r.results[0].error_code,
            ResponseError::InvalidRequest.code()
        );
    }
    let offsets = b.broker().topics.get("__consumer_offsets").unwrap();
    assert_eq!(offsets.partition_count(), 2);
    b.shutdown().await.unwrap();
}

/// Metadata flags exactly the internal topics (not every `__` name), and a Metadata request
/// that auto-creates `__consumer_offsets` gives it the coordinator's layout (partitions from
/// `offsets.topic.num.partitions`, compacted), not an ordinary topic's defaults.
#[tokio::test]
async fn metadata_flags_and_creates_internal_topics_with_their_layout() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(
        dir.path(),
        &["offsets.topic.num.partitions=4", "num.partitions=1"],
    )
    .await;
    let mut c = Client::connect(&b).await;
    let r = c
        .call(metadata_of(&["__consumer_offsets", "__user"]), 12)
        .await;
    assert_eq!(r.topics.len(), 2);
    let offsets = &r.topics[0];
    assert_eq!(offsets.error_code, 0);
    assert!(offsets.is_internal);
    assert_eq!(offsets.partitions.len(), 4, "the coordinator's layout");
    let user = &r.topics[1];
    assert_eq!(user.error_code, 0);
    assert!(
        !user.is_internal,
        "a user topic starting with __ is not internal"
    );
    let t = b.broker().topics.get("__consumer_offsets").unwrap();
    assert!(
        t.config()
            .overrides
            .get("cleanup.policy")
            .is_some_and(|v| v == "compact"),
        "{:?}",
        t.config().overrides
    );
    b.shutdown().await.unwrap();
}
