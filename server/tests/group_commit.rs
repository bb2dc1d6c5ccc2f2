//! Group commit with `flush.messages=1`: many concurrent acks=-1 produce requests to one
//! partition are all acknowledged, with unique contiguous offsets, each only once it is durable;
//! the group coordinator's offset commits (which fsync `__consumer_offsets`) share the mechanism.

mod common;

use common::*;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{GroupId, OffsetCommitRequest};
use kafka_protocol::protocol::StrBytes;
use minikafka::group_commit::fsync_count;

const CONNECTIONS: usize = 24;
const REQUESTS_PER_CONNECTION: usize = 15;
const RECORDS_PER_REQUEST: i32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_acks_all_produces_are_acknowledged_only_once_durable() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["log.flush.interval.messages=1"]).await;
    let mut admin = Client::connect(&b).await;
    let r = admin
        .call(create_req("gc", 1, 1, &[("flush.messages", "1")]), 5)
        .await;
    assert_eq!(r.topics[0].error_code, 0);
    let p = b.broker().topics.get("gc").unwrap().partition(0).unwrap();

    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut c = Client::connect(&b).await;
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let mut bases = Vec::new();
            for i in 0..REQUESTS_PER_CONNECTION {
                let batch = batch(RECORDS_PER_REQUEST, 1_000 + i as i64).freeze();
                let r = c.call(produce_req("gc", 0, batch, -1), 9).await;
                let pr = &r.responses[0].partition_responses[0];
                assert_eq!(pr.error_code, 0, "{:?}", pr.error_message);
                // The recovery point only grows, so it is read here at least as high as when the
                // broker answered.
                let flushed = p.read().flushed_offset();
                let end = pr.base_offset + i64::from(RECORDS_PER_REQUEST);
                assert!(
                    end <= flushed,
                    "acknowledged offsets {}..{end} but only {flushed} is durable",
                    pr.base_offset
                );
                bases.push(pr.base_offset);
            }
            bases
        }));
    }
    let mut bases = Vec::new();
    for t in tasks {
        bases.extend(t.await.unwrap());
    }
    bases.sort_unstable();
    let requests = CONNECTIONS * REQUESTS_PER_CONNECTION;
    let expected: Vec<i64> = (0..requests as i64)
        .map(|i| i * i64::from(RECORDS_PER_REQUEST))
        .collect();
    assert_eq!(bases, expected, "offsets unique and contiguous");
    let end = requests as i64 * i64::from(RECORDS_PER_REQUEST);
    assert_eq!(p.read().log_end_offset(), end);
    assert_eq!(p.read().flushed_offset(), end);
    let fsyncs = fsync_count(&p);
    assert!(
        (1..=requests as u64).contains(&fsyncs),
        "{fsyncs} fsyncs for {requests} requests"
    );

    // Offset commits append to __consumer_offsets and fsync it through the same path.
    let mut commits = Vec::new();
    for g in 0..8 {
        let mut c = Client::connect(&b).await;
        commits.push(tokio::spawn(async move {
            let req = OffsetCommitRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(format!("simple-{g}"))))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(name("gc"))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(g)
                        .with_committed_leader_epoch(-1)])]);
            let r = c.call(req, 8).await;
            assert_eq!(r.topics[0].partitions[0].error_code, 0);
        }));
    }
    for t in commits {
        t.await.unwrap();
    }
    for p in b
        .broker()
        .topics
        .get("__consumer_offsets")
        .unwrap()
        .partitions()
    {
        let log = p.read();
        assert_eq!(log.flushed_offset(), log.log_end_offset());
    }
    b.shutdown().await.unwrap();
}
