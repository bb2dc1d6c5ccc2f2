//! Internal topics belong to the broker: a client's Produce to one is refused with
//! INVALID_TOPIC_EXCEPTION and writes nothing, as in Kafka; a user topic that merely starts with
//! `__` is an ordinary topic.

mod common;
use common::*;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::FindCoordinatorRequest;
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
