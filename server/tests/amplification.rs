//! Amplification: a small request must not cost work or memory out of proportion to what it is
//! allowed to ask for. A topic or partition listed many times is answered once, and the work of a
//! Fetch grows with its distinct partitions, not with its repetitions (issue 16).

mod common;
use common::*;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::MetadataRequest;

fn by_name(topic: &str) -> MetadataRequestTopic {
    MetadataRequestTopic::default().with_name(Some(name(topic)))
}

/// Metadata lists `a` 100 000 times (then `b`, an unknown `zz` twice, and `a` by id twice):
/// each distinct topic is answered once, in the order of first appearance, as Kafka answers a
/// set of topics.
#[tokio::test]
async fn metadata_answers_each_distinct_topic_once() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["auto.create.topics.enable=false"]).await;
    let mut c = Client::connect(&b).await;
    for t in ["a", "b"] {
        assert_eq!(
            c.call(create_req(t, 2, 1, &[]), 7).await.topics[0].error_code,
            0
        );
    }
    let mut topics = vec![by_name("a"); 100_000];
    topics.extend([by_name("b"), by_name("zz"), by_name("a"), by_name("zz")]);
    let r = c
        .call(MetadataRequest::default().with_topics(Some(topics)), 9)
        .await;
    let names: Vec<_> = r
        .topics
        .iter()
        .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.error_code))
        .collect();
    assert_eq!(
        names,
        [
            (Some("a".to_string()), 0),
            (Some("b".to_string()), 0),
            (
                Some("zz".to_string()),
                ResponseError::UnknownTopicOrPartition.code()
            ),
        ]
    );
    assert_eq!(r.topics[0].partitions.len(), 2);

    // v12+: by topic id, the same id twice is one answer.
    let id = b.broker().topics.get("a").unwrap().id;
    let by_id = MetadataRequestTopic::default().with_topic_id(id);
    let r = c
        .call(
            MetadataRequest::default().with_topics(Some(vec![by_id.clone(); 1000])),
            12,
        )
        .await;
    assert_eq!(r.topics.len(), 1);
    assert_eq!(r.topics[0].topic_id, id);
    assert_eq!(r.topics[0].partitions.len(), 2);
    b.shutdown().await.unwrap();
}
