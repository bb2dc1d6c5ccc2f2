//! The replication counters and gauges of the replica layer (`Broker::replication_stats`,
//! issue 13) on three real in-process nodes (combined roles, one static quorum): an RF 3
//! partition with `min.insync.replicas=2` is fully in sync; a follower whose appends are held
//! (the partition's append hook blocks its replica fetcher) falls behind and the leader shrinks
//! the ISR (one shrink, under-replicated and at min ISR, its lag in messages); released, it
//! catches up and rejoins (one expansion, nothing under-replicated). A partition whose only
//! replica shuts down counts as offline on the others.

mod common;

use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{batch, create_req, produce_req, Client};
use minikafka::broker::RunningBroker;
use minikafka::config::ConfigBuilder;
use minikafka::replica::{Partition, ReplicationStats};
use tokio::time::Instant;

const NODES: usize = 3;
/// Bound on every wait.
const PATIENCE: Duration = Duration::from_secs(30);

fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Start nodes 1..=3 at once (each waits for a quorum majority).
async fn start_cluster(dir: &std::path::Path) -> Vec<RunningBroker> {
    let ports = free_ports(2 * NODES);
    let voters = (0..NODES)
        .map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[2 * i + 1]))
        .collect::<Vec<_>>()
        .join(",");
    let starts: Vec<_> = (0..NODES)
        .map(|i| {
            let mut b = ConfigBuilder::default();
            let settings = [
                ("process.roles", "broker,controller".to_string()),
                ("node.id", (i + 1).to_string()),
                (
                    "listeners",
                    format!(
                        "PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
                        ports[2 * i],
                        ports[2 * i + 1]
                    ),
                ),
                ("controller.listener.names", "CONTROLLER".to_string()),
                ("controller.quorum.voters", voters.clone()),
                (
                    "log.dirs",
                    dir.join(format!("node-{}", i + 1)).display().to_string(),
                ),
                ("broker.session.timeout.ms", "3000".to_string()),
                ("broker.heartbeat.interval.ms", "500".to_string()),
                ("replica.lag.time.max.ms", "1500".to_string()),
                ("offsets.topic.num.partitions", "1".to_string()),
                ("transaction.state.log.num.partitions", "1".to_string()),
            ];
            for (name, value) in settings {
                b.set(name, &value).unwrap();
            }
            tokio::spawn(RunningBroker::start(b.build().unwrap()))
        })
        .collect();
    let mut nodes = Vec::new();
    for s in starts {
        nodes.push(s.await.unwrap().unwrap());
    }
    nodes
}

/// Poll `f` every 50 ms until it returns `Some`, at most [`PATIENCE`].
async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Node `i`'s replica of partition 0 of `topic`.
fn replica(node: &RunningBroker, topic: &str) -> Option<Arc<Partition>> {
    let b = node.broker();
    let id = b.topics.get(topic)?.id;
    b.replicas.partition(&id, 0)
}

/// Create `topic` (RF `rf`, `partitions`) through node 1, retrying while the brokers register.
async fn create(nodes: &[RunningBroker], topic: &str, partitions: i32, rf: i16) {
    let mut c = Client::connect(&nodes[0]).await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let r = c
            .call(
                create_req(topic, partitions, rf, &[("min.insync.replicas", "2")]),
                5,
            )
            .await;
        if r.topics[0].error_code == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "creating {topic}: {r:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A gate the follower's appends wait at while closed (bounded, so nothing hangs forever).
#[derive(Default)]
struct Gate {
    closed: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let closed = self.closed.lock().unwrap();
        let _ = self
            .opened
            .wait_timeout_while(closed, PATIENCE, |c| *c)
            .unwrap();
    }

    fn set(&self, closed: bool) {
        *self.closed.lock().unwrap() = closed;
        self.opened.notify_all();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isr_shrink_expand_lag_and_offline_partitions_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start_cluster(dir.path()).await;
    create(&nodes, "stats", 1, 3).await;
    let leader = wait_for("an RF 3 partition fully in sync on its leader", || {
        nodes
            .iter()
            .position(|n| replica(n, "stats").is_some_and(|p| p.is_leader() && p.isr().len() == 3))
    })
    .await;
    let stats = |nodes: &[RunningBroker], i: usize| nodes[i].broker().replication_stats();
    let in_sync = stats(&nodes, leader);
    assert_eq!(
        (
            in_sync.under_replicated_partitions,
            in_sync.under_min_isr_partitions,
            in_sync.at_min_isr_partitions,
            in_sync.offline_partitions,
            in_sync.isr_shrinks,
            in_sync.isr_expands,
        ),
        (0, 0, 0, 0, 0, 0),
        "in sync: {in_sync:?}"
    );

    // Hold one follower's appends: its fetcher stops, and the leader drops it from the ISR.
    let follower = (0..NODES).find(|&i| i != leader).unwrap();
    let held = replica(&nodes[follower], "stats").unwrap();
    let gate = Arc::new(Gate::default());
    gate.set(true);
    let g = gate.clone();
    held.set_append_hook(Some(Arc::new(move || g.wait())));
    let mut c = Client::connect(&nodes[leader]).await;
    let r = c
        .call(produce_req("stats", 0, batch(10, 1_000).freeze(), 1), 9)
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    let shrunk: ReplicationStats = wait_for("the ISR shrink", || {
        Some(stats(&nodes, leader))
            .filter(|s| s.isr_shrinks == 1 && s.under_replicated_partitions == 1)
    })
    .await;
    assert_eq!(
        (
            shrunk.under_min_isr_partitions,
            shrunk.at_min_isr_partitions,
            shrunk.isr_expands,
            shrunk.max_follower_lag,
            shrunk.offline_partitions,
        ),
        (0, 1, 0, 10, 0),
        "one follower held at offset 0 behind 10 records: {shrunk:?}"
    );

    // Released, it catches up and rejoins.
    gate.set(false);
    held.set_append_hook(None);
    let back = wait_for("the ISR expansion", || {
        Some(stats(&nodes, leader))
            .filter(|s| s.isr_expands == 1 && s.under_replicated_partitions == 0)
    })
    .await;
    assert_eq!(
        (
            back.isr_shrinks,
            back.at_min_isr_partitions,
            back.max_follower_lag
        ),
        (1, 0, 0),
        "caught up: {back:?}"
    );

    // A partition whose only replica goes is offline, as every other node's image shows.
    create(&nodes, "single", NODES as i32, 1).await;
    let gone = nodes.len() - 1;
    let observer = 0;
    let node = nodes.remove(gone);
    node.shutdown().await.unwrap();
    wait_for("one offline partition", || {
        Some(stats(&nodes, observer)).filter(|s| s.offline_partitions == 1)
    })
    .await;
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}
