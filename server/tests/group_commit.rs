//! Group commit with `flush.messages=1`: many concurrent acks=-1 produce requests to one
//! partition share fsyncs, and each is acknowledged only once an fsync covering its own data
//! succeeded; a failed fsync fails the requests it covered and, the log directory being offline
//! from then on, every later one (`log_dir_failure.rs` tests the rest of that); the group coordinator's offset commits (which fsync `__consumer_offsets`) share
//! the mechanism.
//!
//! To make the sharing provable rather than a matter of timing, a test hook holds the first fsync
//! until every connection's first request has been appended: those requests then wait together,
//! and one more fsync answers all that the held one does not cover.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::*;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{GroupId, OffsetCommitRequest};
use kafka_protocol::protocol::StrBytes;
use minikafka::broker::RunningBroker;
use minikafka::replica::purgatory::{Attempt, DelayedOperation};
use minikafka::replica::Partition;

const CONNECTIONS: usize = 16;
const REQUESTS_PER_CONNECTION: usize = 8;
const RECORDS_PER_REQUEST: i32 = 3;
/// Upper bound of every wait in these tests (never reached when the broker works).
const PATIENCE: Duration = Duration::from_secs(30);

/// Holds the partition's first fsync (on the broker's blocking thread) until [`Gate::open`],
/// then lets it fail if `fail_first`; later fsyncs pass.
struct Gate {
    open: mpsc::Sender<()>,
}

impl Gate {
    fn install(p: &Partition, fail_first: bool) -> Gate {
        let (open, opened) = mpsc::channel::<()>();
        let opened = Mutex::new(opened);
        let first = AtomicBool::new(true);
        p.set_fsync_hook(Some(Arc::new(move || {
            if !first.swap(false, Ordering::SeqCst) {
                return Ok(());
            }
            let _ = opened.lock().unwrap().recv_timeout(PATIENCE);
            if fail_first {
                Err(std::io::Error::other("injected fsync failure"))
            } else {
                Ok(())
            }
        })));
        Gate { open }
    }

    fn open(&self) {
        self.open.send(()).unwrap();
    }
}

/// Wait (woken by appends, bounded) until the partition's log end offset reaches `end`.
async fn appended_up_to(p: &Partition, end: i64) {
    let op = DelayedOperation::new(Some(tokio::time::Instant::now() + PATIENCE), None);
    p.watch_appended(&op);
    op.run(|attempt| {
        let leo = p.log_end_offset();
        if leo >= end {
            return Some(());
        }
        assert_ne!(
            attempt,
            Attempt::Expired,
            "log end offset {leo} never reached {end}"
        );
        None
    })
    .await;
}

async fn broker_with_topic(dir: &std::path::Path) -> (RunningBroker, Arc<Partition>) {
    let b = start(dir, &["log.flush.interval.messages=1"]).await;
    let mut admin = Client::connect(&b).await;
    let r = admin
        .call(create_req("gc", 1, 1, &[("flush.messages", "1")]), 5)
        .await;
    assert_eq!(r.topics[0].error_code, 0);
    let id = b.broker().topics.get("gc").unwrap().id;
    let p = b.broker().replicas.partition(&id, 0).unwrap();
    (b, p)
}

/// What one acks=-1 produce request got back: `Ok(base offset)` or the error code.
type Answer = Result<i64, i16>;

/// `CONNECTIONS` connections each send `REQUESTS_PER_CONNECTION` acks=-1 requests, one after the
/// other. Every acknowledgement is checked against the recovery point when it arrives (which only
/// grows, so it is at least what it was when the broker answered).
async fn spawn_producers(
    b: &RunningBroker,
    p: &Arc<Partition>,
) -> Vec<tokio::task::JoinHandle<Vec<Answer>>> {
    let mut producers = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut c = Client::connect(b).await;
        let p = p.clone();
        producers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for i in 0..REQUESTS_PER_CONNECTION {
                let batch = batch(RECORDS_PER_REQUEST, 1_000 + i as i64).freeze();
                let r = c.call(produce_req("gc", 0, batch, -1), 9).await;
                let pr = &r.responses[0].partition_responses[0];
                if pr.error_code != 0 {
                    answers.push(Err(pr.error_code));
                    continue;
                }
                let flushed = p.flushed_offset();
                let end = pr.base_offset + i64::from(RECORDS_PER_REQUEST);
                assert!(
                    end <= flushed,
                    "acknowledged offsets {}..{end} but only {flushed} is durable",
                    pr.base_offset
                );
                answers.push(Ok(pr.base_offset));
            }
            answers
        }));
    }
    producers
}

/// A broker whose partition holds its first fsync (failing it if `fail_first`) until every
/// connection's first request is appended, then lets it go; the answers of every request.
async fn pile_up_first_requests(
    dir: &std::path::Path,
    fail_first: bool,
) -> (RunningBroker, Arc<Partition>, Vec<Answer>) {
    let (b, p) = broker_with_topic(dir).await;
    let gate = Gate::install(&p, fail_first);
    let producers = spawn_producers(&b, &p).await;
    // No request can be answered before the held fsync ends, so exactly the first request of
    // each connection is appended, and all of them wait.
    appended_up_to(&p, (CONNECTIONS as i64) * i64::from(RECORDS_PER_REQUEST)).await;
    assert!(p.fsync_count() <= 1, "only the held fsync may have started");
    gate.open();
    let mut answers = Vec::new();
    for t in producers {
        answers.extend(tokio::time::timeout(PATIENCE, t).await.unwrap().unwrap());
    }
    (b, p, answers)
}

/// Base offsets and record counts of the partition's batches, fetched over TCP from offset 0.
async fn fetch_all(b: &RunningBroker) -> Vec<(i64, i32)> {
    let mut c = Client::connect(b).await;
    let mut batches: Vec<(i64, i32)> = Vec::new();
    loop {
        let from = batches.last().map_or(0, |(base, n)| base + i64::from(*n));
        let r = c.call(fetch_req("gc", 0, from, 0, 1 << 20), 12).await;
        let pd = &r.responses[0].partitions[0];
        assert_eq!(pd.error_code, 0);
        let got = batch_offsets(pd.records.clone().unwrap_or_default());
        if got.is_empty() {
            return batches;
        }
        batches.extend(got);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_acks_all_produces_share_fsyncs_and_are_acknowledged_only_once_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (b, p, answers) = pile_up_first_requests(dir.path(), false).await;
    let requests = CONNECTIONS * REQUESTS_PER_CONNECTION;
    let mut bases: Vec<i64> = answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|code| panic!("produce failed with {code}")))
        .collect();
    bases.sort_unstable();
    let expected: Vec<i64> = (0..requests as i64)
        .map(|i| i * i64::from(RECORDS_PER_REQUEST))
        .collect();
    assert_eq!(bases, expected, "offsets unique and contiguous");

    let end = requests as i64 * i64::from(RECORDS_PER_REQUEST);
    assert_eq!(p.log_end_offset(), end);
    assert_eq!(p.flushed_offset(), end);
    // Each fsync answers at least one request, and each request is answered by at most one. When
    // the gate opened, every first request had been appended, and all but those a worker thread
    // was still carrying from its append to its join (at most 3: one of the 4 runs this test)
    // waited for the held fsync or the single round queued behind it: so some fsync answered
    // several requests.
    let fsyncs = p.fsync_count();
    println!("{fsyncs} fsyncs for {requests} requests");
    assert!(
        fsyncs < requests as u64,
        "{fsyncs} fsyncs for {requests} requests"
    );

    let read: Vec<i64> = fetch_all(&b).await.into_iter().map(|(o, _)| o).collect();
    assert_eq!(read, expected, "every acknowledged batch is readable");
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_fsync_fails_the_requests_it_covers_and_every_later_one() {
    let dir = tempfile::tempdir().unwrap();
    let (b, p, answers) = pile_up_first_requests(dir.path(), true).await;
    // The held fsync failed: the requests it covered fail, and (the log directory being offline
    // from then on, as in Kafka) so does every later one: a later fsync that succeeds proves
    // nothing about the pages the failed one may have dropped, so nothing is acknowledged.
    assert_eq!(answers.len(), CONNECTIONS * REQUESTS_PER_CONNECTION);
    for a in &answers {
        assert_eq!(*a, Err(ResponseError::KafkaStorageError.code()));
    }
    assert!(p.log_dir().is_offline());
    // Only the first request of each connection was appended (the later ones were refused
    // before their append), and none of it was marked durable.
    assert_eq!(
        p.log_end_offset(),
        CONNECTIONS as i64 * i64::from(RECORDS_PER_REQUEST)
    );
    assert_eq!(p.flushed_offset(), 0);
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_offset_commits_are_durable_when_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _) = broker_with_topic(dir.path()).await;
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
    let offsets = b.broker().topics.get("__consumer_offsets").unwrap().id;
    for p in b.broker().replicas.partitions_of(&offsets) {
        assert_eq!(p.flushed_offset(), p.log_end_offset());
    }
    b.shutdown().await.unwrap();
}
