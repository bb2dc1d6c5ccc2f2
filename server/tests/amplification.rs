//! Amplification: a small request must not cost work or memory out of proportion to what it is
//! allowed to ask for. A topic or partition listed many times is answered once, and the work of a
//! Fetch grows with its distinct partitions, not with its repetitions (issue 16).

mod common;
use common::*;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{FetchRequest, MetadataRequest};

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

fn fetch_partition(offset: i64) -> FetchPartition {
    FetchPartition::default()
        .with_partition(0)
        .with_fetch_offset(offset)
        .with_partition_max_bytes(1 << 20)
}

/// A Fetch listing partition `t`-0 20 000 times (in one topic entry and in many) is answered
/// with that partition once, read from the offset of its last entry, as Kafka's map of fetch
/// data keeps it; with and without a session being created.
#[tokio::test]
async fn fetch_answers_a_repeated_partition_once() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("t", 1, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let now = minikafka::clock::now_ms();
    for _ in 0..3 {
        let r = c
            .call(produce_req("t", 0, batch(1, now).freeze(), -1), 9)
            .await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    let mut one_entry = vec![fetch_partition(0); 20_000];
    one_entry.push(fetch_partition(2));
    let many_entries: Vec<FetchTopic> = (0..20_000)
        .map(|i| {
            FetchTopic::default()
                .with_topic(name("t"))
                .with_partitions(vec![fetch_partition(if i == 19_999 { 2 } else { 0 })])
        })
        .collect();
    for (topics, session_epoch) in [
        (
            vec![FetchTopic::default()
                .with_topic(name("t"))
                .with_partitions(one_entry)],
            -1,
        ),
        (many_entries, 0),
    ] {
        let r = c
            .call(
                FetchRequest::default()
                    .with_max_wait_ms(0)
                    .with_min_bytes(1)
                    .with_max_bytes(50 << 20)
                    .with_session_epoch(session_epoch)
                    .with_topics(topics),
                12,
            )
            .await;
        assert_eq!(r.error_code, 0);
        assert_eq!(session_epoch == 0, r.session_id != 0);
        assert_eq!(r.responses.len(), 1, "one topic entry");
        let parts = &r.responses[0].partitions;
        assert_eq!(parts.len(), 1, "one partition entry");
        assert_eq!(parts[0].error_code, 0);
        assert_eq!(parts[0].high_watermark, 3);
        let records = parts[0].records.clone().unwrap_or_default();
        let offsets: Vec<i64> = batch_offsets(records).iter().map(|(o, _)| *o).collect();
        assert_eq!(offsets, [2], "read from the last entry's offset");
    }
    b.shutdown().await.unwrap();
}

/// `fetch.max.bytes` caps a Fetch answer whatever the request's `max_bytes` (Kafka takes the
/// smaller): with 1024, of two partitions holding a 700-byte batch each, the first returns its
/// batch (at least one batch, as Kafka) and the second nothing.
#[tokio::test]
async fn fetch_max_bytes_caps_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["fetch.max.bytes=1024"]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("t", 2, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let now = minikafka::clock::now_ms();
    for p in 0..2 {
        let records = batch_of(1, now, -1, -1, -1, false, 600).freeze();
        assert!(records.len() > 600 && records.len() < 1024);
        let r = c.call(produce_req("t", p, records, -1), 9).await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    let partitions = (0..2)
        .map(|p| {
            FetchPartition::default()
                .with_partition(p)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)
        })
        .collect();
    let r = c
        .call(
            FetchRequest::default()
                .with_max_wait_ms(0)
                .with_min_bytes(1)
                .with_max_bytes(50 << 20)
                .with_session_epoch(-1)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(name("t"))
                    .with_partitions(partitions)]),
            12,
        )
        .await;
    let sizes: Vec<(i32, usize)> = r.responses[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.records.as_ref().map_or(0, bytes::Bytes::len),
            )
        })
        .collect();
    assert_eq!(sizes.len(), 2);
    assert!(sizes[0].1 > 600, "{sizes:?}");
    assert_eq!(sizes[1], (1, 0), "over fetch.max.bytes");
    b.shutdown().await.unwrap();
}
