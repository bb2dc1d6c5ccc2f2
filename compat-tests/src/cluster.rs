//! A cluster of several `minikafka` processes on 127.0.0.1, for the tests of what only a cluster
//! does: partitions led by different nodes, a group coordinator on another node than the one a
//! client bootstraps from, controller fail-over, a broker's partitions without a leader while it
//! is down. Replication and security tests build on the same harness (their settings go in
//! `extra_args`, which every node gets).
//!
//! By default every node plays both KRaft roles (`process.roles=broker,controller`) and is a voter
//! of a static quorum (`controller.quorum.voters`); [`Cluster::start_with_roles`] mixes in
//! broker-only nodes (observers of the quorum, no controller listener) and controller-only nodes
//! (voters that serve no client). A node's ports (client listener `PLAINTEXT`, quorum listener
//! `CONTROLLER`) are chosen before the first node starts and stay the same across restarts: the
//! voters list names them. A node logs its listening line only once the
//! quorum has a leader, which takes a majority of the voters, so [`Cluster::start`] spawns every
//! node before it waits for any. Short broker lease and election timeouts (3 s session, 500 ms
//! heartbeat, 1 s election) keep fail-over tests quick.
//!
//! Nodes are named by their `node.id`, 1 to N, in every method. Which node is the active
//! controller comes from the nodes' own logs ([`active_controller_in_logs`]): Metadata's
//! `controller_id` is not necessarily the active controller, and rdkafka does not expose it.
//! Partition leaders and the broker list come from a Metadata request sent to one chosen node
//! ([`Cluster::metadata`]).
//!
//! ```no_run
//! use compat_tests::cluster::Cluster;
//! let mut cluster = Cluster::start(3, &[]);
//! compat_tests::create_topic(&cluster.bootstrap(1), "t", 6);
//! let leaders = cluster.wait_for_leaders(2, "t", 6);
//! cluster.kill9(leaders[&0]);
//! cluster.restart(leaders[&0]);
//! cluster.stop_all();
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tempfile::TempDir;

use crate::{consumer, strip_ansi, Broker, Signal, LISTENING_MARKER};

/// How long [`Cluster::start`] and [`Cluster::restart`] wait for listening lines: a node listens
/// only once the controller quorum has a leader.
pub const CLUSTER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the `wait_for_*` helpers poll.
pub const CLUSTER_WAIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one Metadata request of the helpers.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// Poll interval of the helpers' waits.
const POLL: Duration = Duration::from_millis(200);

/// The message a node logs when it learns of a new active controller (`node=<self>
/// leader=<id> epoch=<term>`).
pub const LEADER_ELECTED_MARKER: &str = "controller leader elected";
/// The message a node logs once its quorum is usable (`node=<self> leader=Some(<id>)
/// term=<term>`).
pub const QUORUM_READY_MARKER: &str = "controller quorum ready";
/// The message a node logs when it no longer knows an active controller (`node=<self>
/// epoch=<term>`).
pub const NO_LEADER_MARKER: &str = "controller quorum has no leader";

/// What a node of a [`Cluster`] runs as: its `process.roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `broker,controller`: serves clients and votes.
    Combined,
    /// `broker`: serves clients, follows the quorum as an observer; no controller listener.
    Broker,
    /// `controller`: votes; serves no client (no `PLAINTEXT` listener).
    Controller,
}

impl Role {
    /// Whether the node serves clients.
    #[must_use]
    pub fn is_broker(self) -> bool {
        self != Role::Controller
    }

    /// Whether the node is a voter.
    #[must_use]
    pub fn is_controller(self) -> bool {
        self != Role::Broker
    }

    fn roles(self) -> &'static str {
        match self {
            Role::Combined => "broker,controller",
            Role::Broker => "broker",
            Role::Controller => "controller",
        }
    }

    fn listeners(self, broker_port: u16, controller_port: u16) -> String {
        let broker = format!("PLAINTEXT://127.0.0.1:{broker_port}");
        let controller = format!("CONTROLLER://127.0.0.1:{controller_port}");
        match self {
            Role::Combined => format!("{broker},{controller}"),
            Role::Broker => broker,
            Role::Controller => controller,
        }
    }
}

/// The settings every node gets besides `extra_args` (`--data-dir` comes first).
fn node_args(
    id: i32,
    role: Role,
    broker_port: u16,
    controller_port: u16,
    voters: &str,
) -> Vec<String> {
    [
        format!("process.roles={}", role.roles()),
        format!("node.id={id}"),
        format!("listeners={}", role.listeners(broker_port, controller_port)),
        "controller.listener.names=CONTROLLER".to_string(),
        format!("controller.quorum.voters={voters}"),
        "broker.session.timeout.ms=3000".to_string(),
        "broker.heartbeat.interval.ms=500".to_string(),
        "controller.quorum.election.timeout.ms=1000".to_string(),
    ]
    .into_iter()
    .flat_map(|setting| ["--set".to_string(), setting])
    .collect()
}

/// `n` distinct free TCP ports on 127.0.0.1: all bound to port 0 at once, read, released.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect()
}

/// A node's fixed ports ([`Cluster::start_with_node_args`]).
#[derive(Debug, Clone, Copy)]
pub struct NodePorts {
    /// The client listener (`PLAINTEXT`).
    pub broker: u16,
    /// The quorum listener (`CONTROLLER`).
    pub controller: u16,
}

/// One node: its fixed ports and its process.
#[derive(Debug)]
struct Node {
    /// `node.id`, 1 to N.
    id: i32,
    /// Its `process.roles`.
    role: Role,
    /// Port of the client listener (`PLAINTEXT`), fixed for the cluster's life.
    broker_port: u16,
    /// Port of the quorum listener (`CONTROLLER`), named in every node's voters list.
    controller_port: u16,
    /// The process, its data dir (`<work dir>/node-<id>`) and its logs.
    broker: Broker,
}

/// N `minikafka` nodes forming one cluster; see the [module docs](self).
///
/// Dropping a `Cluster` kills every node with SIGKILL (each [`Broker`]'s drop), printing the
/// tail of each node's log first if the thread is panicking, then removes the work dir.
#[derive(Debug)]
pub struct Cluster {
    /// Index `id - 1`. Declared before `work_dir`, so the processes are killed before their
    /// directories are removed.
    nodes: Vec<Node>,
    /// Holds every node's data dir and log dir; removed on drop.
    work_dir: TempDir,
}

impl Cluster {
    /// Starts `nodes` nodes (ids 1 to `nodes`) with `extra_args` each, all at once, and waits
    /// (at most [`CLUSTER_START_TIMEOUT`]) until every one has logged its listening line on its
    /// chosen port. Panics, with the nodes' logs, if one exits or stays silent.
    #[must_use]
    pub fn start(nodes: usize, extra_args: &[&str]) -> Cluster {
        Cluster::start_with_roles(&vec![Role::Combined; nodes], extra_args)
    }

    /// [`Cluster::start`] with node `i + 1` in role `roles[i]`; the voters are the nodes with the
    /// controller role.
    #[must_use]
    pub fn start_with_roles(roles: &[Role], extra_args: &[&str]) -> Cluster {
        Cluster::start_with_node_args(roles, extra_args, |_, _, _| Vec::new())
    }

    /// [`Cluster::start_with_roles`], and node `id` also gets `node_args(id, &ports, data_dir)`
    /// after `extra_args` (a later `--set` of a name wins): per-node listeners, a voters list
    /// that goes through a proxy, `log.dirs` under the node's data directory. `ports` holds
    /// every node's fixed ports, chosen before any starts.
    #[must_use]
    pub fn start_with_node_args(
        roles: &[Role],
        extra_args: &[&str],
        mut node_args_of: impl FnMut(i32, &BTreeMap<i32, NodePorts>, &std::path::Path) -> Vec<String>,
    ) -> Cluster {
        let nodes = roles.len();
        assert!(
            roles.iter().any(|r| r.is_controller()) && roles.iter().any(|r| r.is_broker()),
            "a cluster needs a controller and a broker"
        );
        let work_dir = tempfile::Builder::new()
            .prefix("minikafka-cluster-")
            .tempdir()
            .expect("create cluster work dir");
        let ports = free_ports(2 * nodes);
        let voters = (0..nodes)
            .filter(|&i| roles[i].is_controller())
            .map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[2 * i + 1]))
            .collect::<Vec<_>>()
            .join(",");
        let all_ports: BTreeMap<i32, NodePorts> = (0..nodes)
            .map(|i| {
                (
                    i32::try_from(i + 1).expect("node id fits i32"),
                    NodePorts {
                        broker: ports[2 * i],
                        controller: ports[2 * i + 1],
                    },
                )
            })
            .collect();
        let mut list = Vec::with_capacity(nodes);
        for i in 0..nodes {
            let id = i32::try_from(i + 1).expect("node id fits i32");
            let (broker_port, controller_port) = (ports[2 * i], ports[2 * i + 1]);
            let data_dir = work_dir.path().join(format!("node-{id}"));
            fs::create_dir_all(&data_dir).expect("create node data dir");
            let log_dir = tempfile::Builder::new()
                .prefix(&format!("node-{id}-logs-"))
                .tempdir_in(work_dir.path())
                .expect("create node log dir");
            let mut args = node_args(id, roles[i], broker_port, controller_port, &voters);
            args.extend(extra_args.iter().map(|a| (*a).to_string()));
            args.extend(node_args_of(id, &all_ports, &data_dir));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            list.push(Node {
                id,
                role: roles[i],
                broker_port,
                controller_port,
                broker: Broker::unstarted(log_dir, &data_dir, &args),
            });
        }
        let mut cluster = Cluster {
            nodes: list,
            work_dir,
        };
        for node in &mut cluster.nodes {
            node.broker.spawn_process();
        }
        let ids = cluster.node_ids();
        cluster.wait_listening(&ids);
        cluster
    }

    /// Waits until every node in `ids` (all just spawned) has logged its listening line, and
    /// checks it listens on its chosen port.
    fn wait_listening(&mut self, ids: &[i32]) {
        let deadline = Instant::now() + CLUSTER_START_TIMEOUT;
        let mut waiting = ids.to_vec();
        loop {
            // poll_listening panics with the node's log if the process has exited.
            waiting.retain(|&id| !self.nodes[index(id)].broker.poll_listening());
            if waiting.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "nodes {waiting:?} did not log {LISTENING_MARKER:?} within \
                 {CLUSTER_START_TIMEOUT:?} (their logs follow)"
            );
            thread::sleep(Duration::from_millis(50));
        }
        for &id in ids {
            let node = &self.nodes[index(id)];
            // A controller-only node's start line names its controller listener.
            let port = if node.role.is_broker() {
                node.broker_port
            } else {
                node.controller_port
            };
            let want = format!("127.0.0.1:{port}");
            assert_eq!(
                node.broker.bootstrap(),
                want,
                "node {id} listens on another address than its listeners setting\n{}",
                node.broker.log_report()
            );
        }
    }

    fn entry(&self, id: i32) -> &Node {
        let node = self
            .nodes
            .get(index(id))
            .unwrap_or_else(|| panic!("no node {id}: the ids are 1..={}", self.nodes.len()));
        assert_eq!(node.id, id);
        node
    }

    /// The node with `node.id` `id`.
    pub fn node(&mut self, id: i32) -> &mut Broker {
        self.entry(id);
        &mut self.nodes[index(id)].broker
    }

    /// Every node id, running or not: 1 to N.
    #[must_use]
    pub fn node_ids(&self) -> Vec<i32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// The ids of the nodes that serve clients (broker role), running or not.
    #[must_use]
    pub fn broker_ids(&self) -> Vec<i32> {
        self.nodes
            .iter()
            .filter(|n| n.role.is_broker())
            .map(|n| n.id)
            .collect()
    }

    /// The ids of the voters (controller role), running or not.
    #[must_use]
    pub fn controller_ids(&self) -> Vec<i32> {
        self.nodes
            .iter()
            .filter(|n| n.role.is_controller())
            .map(|n| n.id)
            .collect()
    }

    /// The ids of the nodes whose process runs (started and not exited).
    #[must_use]
    pub fn running_ids(&mut self) -> Vec<i32> {
        self.nodes
            .iter_mut()
            .filter_map(|n| n.broker.is_alive().then_some(n.id))
            .collect()
    }

    /// `host:port` of node `id`'s client listener, for `bootstrap.servers`. Panics if the node
    /// is not running.
    #[must_use]
    pub fn bootstrap(&self, id: i32) -> String {
        self.entry(id).broker.bootstrap().to_string()
    }

    /// The client listeners of every node that has a process, comma-separated.
    #[must_use]
    pub fn bootstrap_all(&self) -> String {
        self.nodes
            .iter()
            .filter(|n| n.role.is_broker() && n.broker.has_process())
            .map(|n| n.broker.bootstrap().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Node id → `host:port` of its client listener, for every broker node (running or not):
    /// what Metadata must list as the brokers.
    #[must_use]
    pub fn addresses(&self) -> BTreeMap<i32, String> {
        self.nodes
            .iter()
            .filter(|n| n.role.is_broker())
            .map(|n| (n.id, format!("127.0.0.1:{}", n.broker_port)))
            .collect()
    }

    /// `host:port` of node `id`'s quorum listener (`CONTROLLER`).
    #[must_use]
    pub fn controller_address(&self, id: i32) -> String {
        format!("127.0.0.1:{}", self.entry(id).controller_port)
    }

    /// Pause node `id` (SIGSTOP) until [`Cluster::resume`].
    pub fn pause(&mut self, id: i32) {
        self.node(id).pause();
    }

    /// Resume a [`Cluster::pause`]d node (SIGCONT).
    pub fn resume(&mut self, id: i32) {
        self.node(id).resume();
    }

    /// Node `id`'s copy of `topic`-`partition`: its `.log` files in base-offset order,
    /// concatenated (empty if it has none). Replicas that agree hold the same bytes, wherever
    /// each rolled its segments.
    #[must_use]
    pub fn replica_log_bytes(&self, id: i32, topic: &str, partition: i32) -> Vec<u8> {
        let dir = self
            .work_dir()
            .join(format!("node-{id}"))
            .join(format!("{topic}-{partition}"));
        if dir.is_dir() {
            crate::log_bytes(&dir)
        } else {
            Vec::new()
        }
    }

    /// Waits (at most `timeout`) until nodes `replicas` hold byte-identical copies of every
    /// partition `0..partitions` of `topic` ([`Cluster::replica_log_bytes`]); returns the bytes
    /// compared per copy. Panics with the sizes that differ and the nodes' logs.
    pub fn wait_for_identical_replicas(
        &self,
        topic: &str,
        partitions: i32,
        replicas: &[i32],
        timeout: Duration,
    ) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let mut differing = Vec::new();
            let mut total = 0;
            for p in 0..partitions {
                let copies: Vec<Vec<u8>> = replicas
                    .iter()
                    .map(|&b| self.replica_log_bytes(b, topic, p))
                    .collect();
                total += copies[0].len();
                if copies.iter().any(|c| c != &copies[0]) {
                    differing.push((p, copies.iter().map(Vec::len).collect::<Vec<_>>()));
                }
            }
            if differing.is_empty() {
                return total;
            }
            assert!(
                Instant::now() < deadline,
                "replicas of {topic} differ (partition, sizes on nodes {replicas:?}): \
                 {differing:?}\n{}",
                self.logs_report()
            );
            thread::sleep(POLL);
        }
    }

    /// `kill -9` node `id` and reap it; its data dir and ports are kept for
    /// [`Cluster::restart`].
    pub fn kill9(&mut self, id: i32) {
        self.node(id).kill9();
    }

    /// Starts node `id` again on the same ports and data dir (stopping it gracefully first if
    /// it still runs) and waits for its listening line ([`CLUSTER_START_TIMEOUT`]).
    pub fn restart(&mut self, id: i32) {
        let broker = self.node(id);
        if broker.has_process() {
            broker.assert_alive();
            broker.stop();
        }
        broker.spawn_process();
        self.wait_listening(&[id]);
    }

    /// Graceful stop of every running node: SIGTERM to all at once (a node left alone without
    /// a quorum could not finish what needs one), then for each the checks of [`Broker::stop`]:
    /// exit code 0 within its bound, shutdown logged.
    pub fn stop_all(&mut self) {
        let running: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].broker.has_process())
            .collect();
        for &i in &running {
            self.nodes[i].broker.assert_alive();
            self.nodes[i].broker.signal(Signal::Term);
        }
        for &i in &running {
            self.nodes[i].broker.wait_stopped(Signal::Term);
        }
    }

    /// The tail of every node's current log, for assertion messages.
    #[must_use]
    pub fn logs_report(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("===== node {} =====\n{}", n.id, n.broker.log_report()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The work dir that holds each node's data dir (`node-<id>`) and logs.
    #[must_use]
    pub fn work_dir(&self) -> &std::path::Path {
        self.work_dir.path()
    }

    /// The active controller according to the running nodes' current logs (see
    /// [`active_controller_in_logs`]), `None` if they know none.
    #[must_use]
    pub fn active_controller(&mut self) -> Option<i32> {
        let logs: Vec<String> = self
            .nodes
            .iter_mut()
            .filter_map(|n| n.broker.is_alive().then(|| n.broker.log()))
            .collect();
        active_controller_in_logs(logs.iter().map(String::as_str))
    }

    /// Polls [`Cluster::active_controller`] (at most [`CLUSTER_WAIT_TIMEOUT`]) until it names
    /// a running node for which `accept` holds.
    pub fn wait_for_active_controller(&mut self, mut accept: impl FnMut(i32) -> bool) -> i32 {
        let deadline = Instant::now() + CLUSTER_WAIT_TIMEOUT;
        loop {
            let last = self.active_controller();
            if let Some(id) = last {
                if self.running_ids().contains(&id) && accept(id) {
                    return id;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no accepted active controller within {CLUSTER_WAIT_TIMEOUT:?}; the logs name \
                 {last:?}\n{}",
                self.logs_report()
            );
            thread::sleep(POLL);
        }
    }

    /// One Metadata request (all topics, or `topic` only) answered by node `via`: a fresh
    /// client bootstrapped from that node alone, so the first broker it can ask is `via`. An
    /// answer from another node (librdkafka may pick any broker it knows) is retried with a new
    /// client, at most 3 times in all. Errors are the client's, as text.
    pub fn metadata(&self, via: i32, topic: Option<&str>) -> Result<MetadataView, String> {
        let bootstrap = self.bootstrap(via);
        let mut others = Vec::new();
        // librdkafka may send the request to any broker it learnt of (more often so while `via`
        // has just restarted): ask again, a bounded number of times.
        for attempt in 0..10 {
            if attempt > 0 {
                thread::sleep(POLL);
            }
            let view = fetch_metadata(&bootstrap, topic).map_err(|e| e.to_string())?;
            // librdkafka names a broker `host:port/<node id>` (or `/bootstrap`).
            if view.answered_by.starts_with(&format!("{bootstrap}/")) {
                return Ok(view);
            }
            others.push(view.answered_by);
        }
        Err(format!(
            "Metadata meant for node {via} ({bootstrap}) was answered by {others:?}"
        ))
    }

    /// Polls [`Cluster::metadata`] from node `via` (at most [`CLUSTER_WAIT_TIMEOUT`]) until
    /// `accept` holds for an answer, and returns that answer. Panics with `what`, the last
    /// answer (or error) and the nodes' logs otherwise.
    pub fn wait_for_metadata(
        &self,
        via: i32,
        topic: Option<&str>,
        what: &str,
        mut accept: impl FnMut(&MetadataView) -> bool,
    ) -> MetadataView {
        let deadline = Instant::now() + CLUSTER_WAIT_TIMEOUT;
        loop {
            let last = match self.metadata(via, topic) {
                Ok(view) if accept(&view) => return view,
                Ok(view) => format!("{view:#?}"),
                Err(e) => format!("error: {e}"),
            };
            assert!(
                Instant::now() < deadline,
                "timed out after {CLUSTER_WAIT_TIMEOUT:?} waiting for {what} (Metadata from node \
                 {via}); last answer:\n{last}\n{}",
                self.logs_report()
            );
            thread::sleep(POLL);
        }
    }

    /// Partition → leader id (-1 for none) of `topic`, as node `via` reports it; `None` if the
    /// request fails or the topic is missing or in error.
    #[must_use]
    pub fn leaders(&self, via: i32, topic: &str) -> Option<BTreeMap<i32, i32>> {
        let view = self.metadata(via, Some(topic)).ok()?;
        let t = view.topics.get(topic)?;
        t.error.is_none().then(|| t.leaders())
    }

    /// Waits (at most [`CLUSTER_WAIT_TIMEOUT`]) until node `via` reports `topic` with
    /// `partitions` partitions, each with a leader and no error; returns partition → leader.
    pub fn wait_for_leaders(&self, via: i32, topic: &str, partitions: i32) -> BTreeMap<i32, i32> {
        let want: Vec<i32> = (0..partitions).collect();
        let view = self.wait_for_metadata(
            via,
            Some(topic),
            &format!("{topic} with {partitions} partitions, each with a leader"),
            |v| {
                v.topics.get(topic).is_some_and(|t| {
                    t.error.is_none()
                        && t.partitions.keys().copied().collect::<Vec<_>>() == want
                        && t.partitions
                            .values()
                            .all(|p| p.error.is_none() && p.leader >= 0)
                })
            },
        );
        view.topics[topic].leaders()
    }

    /// Broker id → `host:port` as node `via` lists them in Metadata. Panics if the request
    /// fails.
    #[must_use]
    pub fn brokers(&self, via: i32) -> BTreeMap<i32, String> {
        self.metadata(via, None)
            .unwrap_or_else(|e| panic!("Metadata from node {via}: {e}\n{}", self.logs_report()))
            .brokers
    }
}

/// Serializes a test binary's cluster tests: a few nodes with 1 s election timeouts each are
/// enough load for a 2-core runner, and two clusters at once would make elections flap. Hold the
/// guard for the whole test. (A test that failed poisoned the lock; its cluster is gone all the
/// same.)
pub fn one_cluster_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Kafka's `Utils.abs(String.hashCode) % partitions`: the `__consumer_offsets` or
/// `__transaction_state` partition of a group or transactional id, whose leader coordinates it.
#[must_use]
pub fn internal_partition(id: &str, partitions: i32) -> i32 {
    let h = id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions
}

/// An id `<prefix>-<n>` whose internal-topic partition (of `leaders.len()` partitions, partition
/// → leader) is led by `node`: a group or transactional id coordinated by that node. Panics if
/// none of the first 1000 is.
#[must_use]
pub fn id_coordinated_by(node: i32, prefix: &str, leaders: &BTreeMap<i32, i32>) -> String {
    let partitions = i32::try_from(leaders.len()).expect("partition count fits i32");
    (0..1000)
        .map(|n| format!("{prefix}-{n}"))
        .find(|id| leaders.get(&internal_partition(id, partitions)) == Some(&node))
        .unwrap_or_else(|| panic!("no id among 1000 names lands on node {node}: {leaders:?}"))
}

/// One Metadata request through a fresh client bootstrapped from `bootstrap`.
fn fetch_metadata(bootstrap: &str, topic: Option<&str>) -> Result<MetadataView, KafkaError> {
    let client = consumer(bootstrap);
    let md = client.fetch_metadata(topic, METADATA_TIMEOUT)?;
    let brokers = md
        .brokers()
        .iter()
        .map(|b| (b.id(), format!("{}:{}", b.host(), b.port())))
        .collect();
    let topics = md
        .topics()
        .iter()
        .map(|t| {
            let partitions = t
                .partitions()
                .iter()
                .map(|p| {
                    let view = PartitionView {
                        leader: p.leader(),
                        error: p.error().map(RDKafkaErrorCode::from),
                        replicas: p.replicas().to_vec(),
                        isr: p.isr().to_vec(),
                    };
                    (p.id(), view)
                })
                .collect();
            let view = TopicView {
                error: t.error().map(RDKafkaErrorCode::from),
                partitions,
            };
            (t.name().to_string(), view)
        })
        .collect();
    Ok(MetadataView {
        answered_by: md.orig_broker_name().to_string(),
        brokers,
        topics,
    })
}

/// Index into `Cluster::nodes` of node `id` (ids start at 1).
fn index(id: i32) -> usize {
    usize::try_from(id - 1).unwrap_or_else(|_| panic!("node ids start at 1, not {id}"))
}

/// What one node answered to a Metadata request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataView {
    /// The broker that answered, as librdkafka names it (`host:port/<id or bootstrap>`).
    pub answered_by: String,
    /// Broker id → `host:port`.
    pub brokers: BTreeMap<i32, String>,
    /// Topic name → what the answer says about it.
    pub topics: BTreeMap<String, TopicView>,
}

/// One topic in a [`MetadataView`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicView {
    /// The topic's error code, `None` for no error.
    pub error: Option<RDKafkaErrorCode>,
    /// Partition id → its state.
    pub partitions: BTreeMap<i32, PartitionView>,
}

impl TopicView {
    /// Partition → leader id (-1 for none).
    #[must_use]
    pub fn leaders(&self) -> BTreeMap<i32, i32> {
        self.partitions
            .iter()
            .map(|(&p, v)| (p, v.leader))
            .collect()
    }
}

/// One partition in a [`TopicView`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    /// The leader's node id, -1 for none.
    pub leader: i32,
    /// The partition's error code (e.g. `LeaderNotAvailable`), `None` for no error.
    pub error: Option<RDKafkaErrorCode>,
    /// Replica node ids.
    pub replicas: Vec<i32>,
    /// In-sync replica node ids.
    pub isr: Vec<i32>,
}

impl PartitionView {
    /// Whether the partition has no leader: leader -1 or error `LEADER_NOT_AVAILABLE`.
    #[must_use]
    pub fn leaderless(&self) -> bool {
        self.leader < 0 || self.error == Some(RDKafkaErrorCode::LeaderNotAvailable)
    }
}

/// One line of a node's log about the active controller.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LeaderLine {
    /// The quorum term (`term=` or `epoch=`), 0 if the line has none.
    term: u64,
    /// The line's timestamp (RFC 3339, so it sorts as text).
    at: String,
    /// The active controller the line names, `None` for "no leader".
    leader: Option<i32>,
}

/// Parses a line carrying [`LEADER_ELECTED_MARKER`] (`leader=L`), [`QUORUM_READY_MARKER`]
/// (`leader=Some(L)` or `leader=None`) or [`NO_LEADER_MARKER`].
fn parse_leader_line(line: &str) -> Option<LeaderLine> {
    let line = strip_ansi(line);
    let (marker, at) = [LEADER_ELECTED_MARKER, QUORUM_READY_MARKER, NO_LEADER_MARKER]
        .into_iter()
        .find_map(|m| line.find(m).map(|at| (m, at)))?;
    let fields: BTreeMap<&str, &str> = line[at + marker.len()..]
        .split_whitespace()
        .filter_map(|f| f.split_once('='))
        .collect();
    let term = fields
        .get("term")
        .or_else(|| fields.get("epoch"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let leader = if marker == NO_LEADER_MARKER {
        None
    } else {
        let raw = fields.get("leader")?;
        let raw = raw
            .strip_prefix("Some(")
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or(raw);
        raw.parse().ok()
    };
    let timestamp = line.split_whitespace().next().unwrap_or_default();
    Some(LeaderLine {
        term,
        at: timestamp.to_string(),
        leader,
    })
}

/// The active controller named by the newest line about it in `logs` (the current logs of the
/// running nodes): the highest quorum term wins, and within a term the latest timestamp, so a
/// node that lags behind an election cannot outvote the others. `None` if no line names one,
/// or the newest says the quorum has no leader.
#[must_use]
pub fn active_controller_in_logs<'a>(logs: impl IntoIterator<Item = &'a str>) -> Option<i32> {
    logs.into_iter()
        .flat_map(str::lines)
        .filter_map(parse_leader_line)
        .max_by(|a, b| (a.term, &a.at).cmp(&(b.term, &b.at)))
        .and_then(|l| l.leader)
}

#[cfg(test)]
mod tests {
    use super::*;

    const READY_1: &str = "2026-12-07T10:27:37.001789Z  INFO minikafka::controller: controller \
                           quorum ready node=1 leader=Some(2) term=1 last_log_index=Some(1)";
    const READY_2: &str = "2026-12-07T10:27:37.002000Z  INFO minikafka::controller: controller \
                           quorum ready node=2 leader=Some(2) term=1 last_log_index=Some(1)";
    const ELECTED_3: &str = "2026-12-07T10:28:01.000000Z  INFO minikafka::controller: controller \
                             leader elected node=1 leader=3 epoch=2";
    const NONE_2: &str = "2026-12-07T10:28:00.500000Z  WARN minikafka::controller: controller \
                          quorum has no leader node=1 epoch=2";

    #[test]
    fn parses_the_three_kinds_of_leader_lines() {
        assert_eq!(
            parse_leader_line(READY_1),
            Some(LeaderLine {
                term: 1,
                at: "2026-12-07T10:27:37.001789Z".into(),
                leader: Some(2)
            })
        );
        assert_eq!(
            parse_leader_line(ELECTED_3).map(|l| l.leader),
            Some(Some(3))
        );
        assert_eq!(
            parse_leader_line(NONE_2).map(|l| (l.term, l.leader)),
            Some((2, None))
        );
        let colored = "\u{1b}[2m2026-12-07T10:28:01Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \
                       controller leader elected \u{1b}[3mnode\u{1b}[0m\u{1b}[2m=\u{1b}[0m2 \
                       \u{1b}[3mleader\u{1b}[0m\u{1b}[2m=\u{1b}[0m1 \u{1b}[3mepoch\u{1b}[0m\
                       \u{1b}[2m=\u{1b}[0m4";
        assert_eq!(
            parse_leader_line(colored).map(|l| (l.term, l.leader)),
            Some((4, Some(1)))
        );
        assert_eq!(
            parse_leader_line("minikafka started, listening on 1:2"),
            None
        );
    }

    #[test]
    fn the_newest_term_names_the_active_controller() {
        assert_eq!(active_controller_in_logs([READY_1, READY_2]), Some(2));
        let node1 = format!("{READY_1}\n{NONE_2}\n{ELECTED_3}\n");
        assert_eq!(
            active_controller_in_logs([node1.as_str(), READY_2]),
            Some(3)
        );
        // Between the vote and the result: no leader known.
        let node1 = format!("{READY_1}\n{NONE_2}\n");
        assert_eq!(active_controller_in_logs([node1.as_str(), READY_2]), None);
        // A lagging node's later timestamp in an older term does not win.
        let lagging =
            "2026-12-07T11:00:00Z INFO controller quorum ready node=2 leader=Some(2) term=1";
        assert_eq!(active_controller_in_logs([ELECTED_3, lagging]), Some(3));
        assert_eq!(active_controller_in_logs(["nothing", ""]), None);
    }

    #[test]
    fn node_args_name_fixed_ports() {
        let args = node_args(
            2,
            Role::Combined,
            1000,
            1001,
            "1@127.0.0.1:9,2@127.0.0.1:1001",
        );
        let sets: Vec<&str> = args
            .chunks(2)
            .map(|pair| {
                assert_eq!(pair[0], "--set");
                pair[1].as_str()
            })
            .collect();
        assert!(sets.contains(&"node.id=2"));
        assert!(sets.contains(&"listeners=PLAINTEXT://127.0.0.1:1000,CONTROLLER://127.0.0.1:1001"));
        assert!(sets.contains(&"controller.quorum.voters=1@127.0.0.1:9,2@127.0.0.1:1001"));
        assert!(!args.iter().any(|a| a == "--listen"));
        let broker = node_args(4, Role::Broker, 1000, 1001, "1@127.0.0.1:9");
        assert!(broker.contains(&"process.roles=broker".to_string()));
        assert!(broker.contains(&"listeners=PLAINTEXT://127.0.0.1:1000".to_string()));
        let controller = node_args(1, Role::Controller, 1000, 1001, "1@127.0.0.1:1001");
        assert!(controller.contains(&"process.roles=controller".to_string()));
        assert!(controller.contains(&"listeners=CONTROLLER://127.0.0.1:1001".to_string()));
    }

    #[test]
    fn internal_partition_is_kafkas_string_hash() {
        // Java: "group-1".hashCode() == 293_427_299.
        assert_eq!(internal_partition("group-1", 50), 293_427_299 % 50);
        assert_eq!(internal_partition("", 7), 0);
        let leaders = BTreeMap::from([(0, 1), (1, 2), (2, 3)]);
        let id = id_coordinated_by(2, "g", &leaders);
        assert_eq!(leaders[&internal_partition(&id, 3)], 2);
    }

    #[test]
    fn free_ports_are_distinct() {
        let mut ports = free_ports(6);
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 6);
        assert!(ports.iter().all(|&p| p != 0));
    }
}
