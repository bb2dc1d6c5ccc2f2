//! Leader epochs for real (KIP-101/KIP-320): each start of the broker takes leadership of its
//! partitions at a new epoch, recorded in Kafka's `leader-epoch-checkpoint`; appended batches
//! carry it; Metadata, ListOffsets and OffsetForLeaderEpoch report it; Fetch, ListOffsets and
//! OffsetForLeaderEpoch fence a stale `current_leader_epoch` and refuse a future one.

mod common;
use common::*;

use bytes::{Buf, Bytes};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    FetchRequest, ListOffsetsRequest, MetadataRequest, OffsetForLeaderEpochRequest,
};
use minikafka::broker::RunningBroker;

const TOPIC: &str = "epochs";

async fn metadata_epoch(c: &mut Client) -> i32 {
    let r = c
        .call(
            MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name(TOPIC)))
            ])),
            12,
        )
        .await;
    r.topics[0].partitions[0].leader_epoch
}

/// The `partition_leader_epoch` stamped on each fetched batch.
fn batch_epochs(mut records: Bytes) -> Vec<i32> {
    let mut out = Vec::new();
    while records.remaining() >= 61 {
        let _base = records.get_i64();
        let len = records.get_i32();
        let mut body = records.split_to(usize::try_from(len).unwrap());
        out.push(body.get_i32());
    }
    out
}

async fn produce(c: &mut Client, count: i32) -> i64 {
    let r = c
        .call(
            produce_req(
                TOPIC,
                0,
                batch(count, minikafka::clock::now_ms()).freeze(),
                -1,
            ),
            9,
        )
        .await;
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0);
    p.base_offset
}

async fn fetch(c: &mut Client, current_leader_epoch: i32) -> (i16, Vec<i32>) {
    let mut req: FetchRequest = fetch_req(TOPIC, 0, 0, 0, 1 << 20);
    req.topics[0].partitions[0].current_leader_epoch = current_leader_epoch;
    let r = c.call(req, 12).await;
    let p = &r.responses[0].partitions[0];
    (
        p.error_code,
        batch_epochs(p.records.clone().unwrap_or_default()),
    )
}

async fn end_offset(c: &mut Client, current: i32, epoch: i32) -> (i16, i32, i64) {
    let r = c
        .call(
            OffsetForLeaderEpochRequest::default()
                .with_replica_id(kafka_protocol::messages::BrokerId(-1))
                .with_topics(vec![OffsetForLeaderTopic::default()
                    .with_topic(name(TOPIC))
                    .with_partitions(vec![OffsetForLeaderPartition::default()
                        .with_partition(0)
                        .with_current_leader_epoch(current)
                        .with_leader_epoch(epoch)])]),
            4,
        )
        .await;
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.leader_epoch, p.end_offset)
}

async fn list_offset(c: &mut Client, ts: i64, current: i32) -> (i16, i64, i32) {
    let mut req: ListOffsetsRequest = list_offsets_req(TOPIC, 0, ts);
    req.topics[0].partitions[0].current_leader_epoch = current;
    let r = c.call(req, 7).await;
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.offset, p.leader_epoch)
}

fn checkpoint(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join(format!("{TOPIC}-0/leader-epoch-checkpoint"))).unwrap()
}

async fn restart(b: RunningBroker, dir: &std::path::Path) -> RunningBroker {
    b.shutdown().await.unwrap();
    start(dir, &[]).await
}

#[tokio::test]
async fn each_start_leads_at_a_new_epoch_that_batches_and_answers_carry() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let r = c.call(create_req(TOPIC, 1, 1, &[]), 7).await;
    assert_eq!(r.topics[0].error_code, 0);
    assert_eq!(
        metadata_epoch(&mut c).await,
        0,
        "a new partition starts at epoch 0"
    );
    assert_eq!(checkpoint(dir.path()), "0\n1\n0 0\n");
    assert_eq!(produce(&mut c, 3).await, 0);
    assert_eq!(fetch(&mut c, 0).await, (0, vec![0]));

    let b = restart(b, dir.path()).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        metadata_epoch(&mut c).await,
        1,
        "taking leadership again bumps the epoch"
    );
    assert_eq!(checkpoint(dir.path()), "0\n2\n0 0\n1 3\n");
    assert_eq!(produce(&mut c, 2).await, 3);
    assert_eq!(
        fetch(&mut c, 1).await,
        (0, vec![0, 1]),
        "appends stamp the epoch"
    );
    assert_eq!(fetch(&mut c, -1).await.0, 0, "no epoch given: not checked");

    let fenced = ResponseError::FencedLeaderEpoch.code();
    let unknown = ResponseError::UnknownLeaderEpoch.code();
    assert_eq!(fetch(&mut c, 0).await.0, fenced, "a stale epoch is fenced");
    assert_eq!(
        fetch(&mut c, 2).await.0,
        unknown,
        "a future epoch is unknown"
    );

    assert_eq!(
        end_offset(&mut c, 1, 0).await,
        (0, 0, 3),
        "epoch 0 ended at 3"
    );
    assert_eq!(
        end_offset(&mut c, -1, 1).await,
        (0, 1, 5),
        "the latest ends at the log end"
    );
    assert_eq!(
        end_offset(&mut c, 1, 7).await,
        (0, -1, -1),
        "above the latest: undefined"
    );
    assert_eq!(end_offset(&mut c, 0, 0).await.0, fenced);
    assert_eq!(end_offset(&mut c, 2, 0).await.0, unknown);

    assert_eq!(
        list_offset(&mut c, -1, 1).await,
        (0, 5, 1),
        "latest: current epoch"
    );
    assert_eq!(
        list_offset(&mut c, -2, -1).await,
        (0, 0, 0),
        "earliest: epoch 0"
    );
    assert_eq!(list_offset(&mut c, -1, 0).await.0, fenced);

    // A start with nothing written since the last one still leads at a newer epoch.
    let b = restart(b, dir.path()).await;
    let b = restart(b, dir.path()).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(metadata_epoch(&mut c).await, 3);
    assert_eq!(checkpoint(dir.path()), "0\n3\n0 0\n1 3\n3 5\n");
    assert_eq!(end_offset(&mut c, 3, 1).await, (0, 1, 5));
    b.shutdown().await.unwrap();
}

/// A partition written before the checkpoint existed: its data counts as epoch 0 and the next
/// start leads at epoch 1 from its log end.
#[tokio::test]
async fn a_partition_without_a_checkpoint_gets_one_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req(TOPIC, 1, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    assert_eq!(produce(&mut c, 4).await, 0);
    b.shutdown().await.unwrap();
    std::fs::remove_file(
        dir.path()
            .join(format!("{TOPIC}-0/leader-epoch-checkpoint")),
    )
    .unwrap();

    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(checkpoint(dir.path()), "0\n2\n0 0\n1 4\n");
    assert_eq!(metadata_epoch(&mut c).await, 1);
    assert_eq!(end_offset(&mut c, 1, 0).await, (0, 0, 4));
    b.shutdown().await.unwrap();
}
