//! Storage work never stalls the async threads: with a single runtime worker, a Produce whose
//! append is held in progress (a test hook blocking under the partition's write lock, standing
//! for a slow disk or a large batch being validated) does not stop requests on other
//! connections. ApiVersions, Metadata, a Fetch and a ListOffsets of another partition are all
//! answered while the append is still held; the Produce is answered once it is released.
//!
//! The assertions are about order (answered before the release), not time: the waits are bounded
//! only so that a broker that blocks its worker fails the test instead of hanging it.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest, ProduceRequest};

/// Upper bound of every wait (never reached when the broker works).
const PATIENCE: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} not answered while an append was held: the worker is blocked"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_held_append_does_not_stop_other_connections() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut admin = Client::connect(&b).await;
    for t in ["held", "other"] {
        let r = admin.call(create_req(t, 1, 1, &[]), 5).await;
        assert_eq!(r.topics[0].error_code, 0, "create {t}");
    }
    let r = admin
        .call(produce_req("other", 0, batch(5, 1_000).freeze(), -1), 9)
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);

    // The first append to `held` signals that it started, then waits for the release.
    let id = b.broker().topics.get("held").unwrap().id;
    let p = b.broker().replicas.partition(&id, 0).unwrap();
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let gate = Mutex::new(Some((entered_tx, release_rx)));
    p.set_append_hook(Some(Arc::new(move || {
        let first = gate.lock().unwrap().take();
        if let Some((entered, release)) = first {
            entered.send(()).unwrap();
            // Bounded: a broken broker fails the test below rather than hanging here.
            let _ = release.recv_timeout(PATIENCE);
        }
    })));

    let mut producer = Client::connect(&b).await;
    let produce = producer
        .send_raw(&produce_req("held", 0, batch(3, 2_000).freeze(), -1), 9)
        .await;
    tokio::task::spawn_blocking(move || entered_rx.recv_timeout(PATIENCE))
        .await
        .unwrap()
        .expect("the produce reached its append");

    // The append is held now. Another connection is served meanwhile.
    let mut other = Client::connect(&b).await;
    let versions = within("ApiVersions", other.call(ApiVersionsRequest::default(), 3)).await;
    assert_eq!(versions.error_code, 0);
    let metadata = within(
        "Metadata",
        other.call(
            MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name("other")))
            ])),
            12,
        ),
    )
    .await;
    assert_eq!(metadata.topics[0].error_code, 0);
    let fetched = within(
        "Fetch",
        other.call(fetch_req("other", 0, 0, 0, 1 << 20), 12),
    )
    .await;
    let part = &fetched.responses[0].partitions[0];
    assert_eq!(part.error_code, 0);
    let offsets = batch_offsets(part.records.clone().unwrap());
    assert_eq!(
        offsets,
        vec![(0, 5)],
        "the other partition's batch is fetched"
    );
    let latest = within(
        "ListOffsets",
        other.call(list_offsets_req("other", 0, -1), 7),
    )
    .await;
    assert_eq!(latest.topics[0].partitions[0].offset, 5);

    // Only now is the append let go; its Produce is answered after.
    release_tx.send(()).unwrap();
    let answer = within(
        "the held Produce after its release",
        producer.recv::<ProduceRequest>(9, produce),
    )
    .await;
    let pr = &answer.responses[0].partition_responses[0];
    assert_eq!((pr.error_code, pr.base_offset), (0, 0));
    p.set_append_hook(None);
    b.shutdown().await.unwrap();
}
