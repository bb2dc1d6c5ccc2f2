//! The controller quorum: the cluster metadata log, replicated with Raft (the `openraft` crate)
//! among the controllers, and the state every node builds from it.
//!
//! openraft stays inside this module: the rest of the broker sees [`Quorum`] (propose a batch
//! of [`MetadataRecord`]s, read the applied [`ClusterState`], allocate producer ids), so a
//! change of openraft's API (its 0.10 line rewrites it) touches only these files.
//!
//! The quorum runs on a runtime of its own (one thread, `minikafka-controller`): Raft's
//! elections and heartbeats are never delayed by the data plane, and the synchronous admin
//! paths of the broker (topic creation from a blocking task, a producer-id block reserved in
//! the transaction coordinator) can wait for a proposal from any thread without blocking the
//! runtime that would have to run it.
//!
//! A node with no `process.roles` runs a one-voter quorum of itself: the same code path as a
//! cluster, with its log in `<data>/__cluster_metadata-0`. It is initialized on the first start
//! and is leader at once on every later one (no election wait).
//!
//! A broker-only node (`process.roles=broker`) is an observer: an openraft learner that keeps
//! its own copy of the log in the same directory, never votes, and reaches the voters over
//! connections it makes itself (see [`rpc`] for ObserverJoin and ObserverAttach).

pub mod brokers;
pub mod kafka_apis;
pub mod network;
pub mod records;
pub mod rpc;
pub mod store;
pub mod wire;

use std::collections::BTreeMap;
use std::future::Future;
// `declare_raft_types!` names `Cursor` for the default snapshot data.
use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::error::{
    ClientWriteError, InitializeError, InstallSnapshotError, RPCError, RaftError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, LogId, Raft};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use brokers::{Heartbeat, HeartbeatAnswer};
pub use records::{
    BrokerEndpoint, BrokerState, ClusterState, MetadataRecord, PartitionState, TopicState,
    PRODUCER_ID_BLOCK_SIZE,
};
use store::{Applied, LogStore, StateMachineData, StateMachineStore};

/// The metadata log's directory inside the data directory (Kafka's name for it).
pub const METADATA_LOG_DIR: &str = "__cluster_metadata-0";

/// How long a proposal may take before the caller gives up on it.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// One Raft entry of the metadata log: a batch of records applied together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataBatch(pub Vec<MetadataRecord>);

impl std::fmt::Display for MetadataBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} metadata record(s)", self.0.len())
    }
}

openraft::declare_raft_types!(
    /// openraft's type configuration for the metadata log.
    pub TypeConfig:
        D = MetadataBatch,
        R = (),
        NodeId = u64,
        Node = BasicNode,
);

impl StateMachineData<TypeConfig> for ClusterState {
    fn apply(&mut self, _log_id: &LogId<u64>, data: &MetadataBatch) {
        self.apply_batch(&data.0);
    }
}

/// Why the quorum could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// This node is not the active controller.
    #[error("this node is not the active controller (the leader is {leader:?})")]
    NotController {
        /// The active controller, if known.
        leader: Option<i32>,
    },
    /// The proposal took longer than allowed.
    #[error("the metadata change timed out")]
    Timeout,
    /// The quorum stopped (shut down, or a fatal storage error).
    #[error("controller quorum failed: {0}")]
    Fatal(String),
    /// The metadata log belongs to another cluster than the data directory.
    #[error("Invalid cluster.id in: {meta}. Expected {recorded} (recorded in the metadata log), but read {local}.")]
    InconsistentClusterId {
        /// The data directory's `meta.properties`.
        meta: String,
        /// The id in the metadata log.
        recorded: String,
        /// The id in `meta.properties`.
        local: String,
    },
    /// The metadata log's files.
    #[error("metadata log: {0}")]
    Io(#[from] std::io::Error),
}

/// Settings the quorum is started with.
#[derive(Debug)]
pub struct QuorumSettings {
    /// This node's id.
    pub node_id: i32,
    /// Election timeout (`controller.quorum.election.timeout.ms`).
    pub election_timeout_ms: u64,
    /// The voters' controller endpoints (`host:port`) by node id
    /// (`controller.quorum.voters`); empty = a one-voter quorum of this node.
    pub voters: BTreeMap<i32, String>,
    /// This node's controller listeners, bound, on which the peers are served.
    pub listeners: Vec<std::net::TcpListener>,
    /// `broker.session.timeout.ms`: a broker not heard from for this long is fenced.
    pub session_timeout_ms: u64,
    /// A broker-only node: follow the log as a learner of `voters` (which do not include it).
    pub observer: bool,
    /// The controller listener's name (the first of `controller.listener.names`), under which
    /// the controller listener reports the voters' endpoints to Kafka's tools.
    pub listener_name: String,
    /// TLS of the controller listener (SSL): served on `listeners`, and used to dial the voters.
    pub tls: crate::net::tls::NodeTls,
}

/// Connections an observer keeps attached to each voter (openraft sends a learner at most a
/// replication stream and a snapshot at once).
const ATTACHED_PER_VOTER: usize = 2;

/// What a broker registers with (Kafka's BrokerRegistration).
#[derive(Debug, Clone)]
pub struct Registration {
    /// `node.id`.
    pub id: i32,
    /// This process's incarnation id.
    pub incarnation: uuid::Uuid,
    /// Its endpoints for clients.
    pub listeners: Vec<BrokerEndpoint>,
    /// `broker.rack`.
    pub rack: Option<String>,
}

impl Registration {
    fn records(&self) -> Vec<MetadataRecord> {
        vec![
            MetadataRecord::RegisterBroker {
                id: self.id,
                incarnation: self.incarnation,
                listeners: self.listeners.clone(),
                rack: self.rack.clone(),
            },
            MetadataRecord::UnfenceBroker {
                id: self.id,
                incarnation: self.incarnation,
            },
        ]
    }
}

/// One member of the quorum in a [`QuorumDescription`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaDescription {
    /// Node id.
    pub id: i32,
    /// Its log end offset as the leader knows it (-1/0 when unknown).
    pub log_end_offset: i64,
    /// When the leader last heard from it (ms; -1 unknown).
    pub last_fetch_timestamp: i64,
    /// When it was last caught up with the leader (ms; -1 unknown).
    pub last_caught_up_timestamp: i64,
}

/// What DescribeQuorum answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumDescription {
    /// The active controller.
    pub leader: Option<i32>,
    /// The leader's epoch (Raft term).
    pub leader_epoch: i32,
    /// The offset after the last committed entry.
    pub high_watermark: i64,
    /// Voters.
    pub voters: Vec<ReplicaDescription>,
    /// Observers (learners).
    pub observers: Vec<ReplicaDescription>,
}

/// A running controller quorum member (see the module docs).
pub struct Quorum {
    raft: Raft<TypeConfig>,
    applied: watch::Receiver<Applied<TypeConfig, ClusterState>>,
    node_id: i32,
    /// The quorum's own runtime; taken at shutdown.
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    /// Serialises producer-id allocations on this controller.
    producer_ids: Mutex<()>,
    /// Stops the controller listeners' accept loops and the quorum's own tasks.
    shutdown: CancellationToken,
    /// The peers (several voters): a proposal made here while another voter leads is
    /// forwarded to it.
    network: Option<network::QuorumNetwork>,
    /// The broker leases, kept while this node is the active controller.
    leases: Arc<brokers::Leases>,
    /// This node's broker registration, once made.
    registration: Mutex<Option<Registration>>,
}

impl Quorum {
    /// Open the metadata log in `data_dir` and start Raft. A one-voter quorum (no `voters`, or
    /// only this node) waits until this node leads with every record applied, which is
    /// immediate after the first start. With several voters, the controller listeners serve
    /// the peers from now on and this waits (10 election timeouts, at least 30 s) until a
    /// leader is known; the state then follows the log as it is replicated (see
    /// [`Quorum::subscribe`]). Blocking: call it from a blocking task or a plain thread.
    pub fn start(data_dir: &Path, settings: QuorumSettings) -> Result<Quorum, ControllerError> {
        let dir = data_dir.join(METADATA_LOG_DIR);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("minikafka-controller")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let log = LogStore::<TypeConfig>::open(&dir)?;
        let (sm, applied) = StateMachineStore::<TypeConfig, ClusterState>::open(&dir)?;
        let election = settings.election_timeout_ms.max(10);
        let config = openraft::Config {
            cluster_name: "minikafka".into(),
            heartbeat_interval: (election / 4).max(5),
            election_timeout_min: election,
            election_timeout_max: election * 2,
            // Each snapshot chunk must arrive within the timeout; JSON framing makes a chunk up
            // to ~4x its bytes on the wire, so chunks are smaller and the timeout longer than
            // openraft's defaults (3 MiB, 200 ms).
            snapshot_max_chunk_size: 512 * 1024,
            install_snapshot_timeout: election.max(1000),
            ..Default::default()
        }
        .validate()
        .map_err(|e| ControllerError::Fatal(e.to_string()))?;
        let id = u64::try_from(settings.node_id)
            .map_err(|_| ControllerError::Fatal(format!("bad node id {}", settings.node_id)))?;
        let mut members = BTreeMap::new();
        let mut addresses = BTreeMap::new();
        for (voter, addr) in &settings.voters {
            let v = u64::try_from(*voter)
                .map_err(|_| ControllerError::Fatal(format!("bad voter id {voter}")))?;
            members.insert(v, BasicNode::new(addr));
            addresses.insert(v, addr.clone());
        }
        let observer = settings.observer;
        if observer && (members.is_empty() || members.contains_key(&id)) {
            return Err(ControllerError::Fatal(format!(
                "node {id} cannot observe the quorum: it needs voters other than itself"
            )));
        }
        let single = !observer && members.keys().all(|v| *v == id);
        if single {
            members.clear();
            members.insert(id, BasicNode::default());
        }
        let listeners = settings.listeners;
        let endpoints = Arc::new(kafka_apis::VoterEndpoint::from_voters(
            &settings.voters,
            &settings.listener_name,
        ));
        // Voters named in the configuration (even this node alone): a transport, through which
        // other voters' requests and observers (broker-only nodes) reach this one. Only the
        // implied quorum of a node without `process.roles` has none.
        let tls = settings.tls;
        let network = (!addresses.is_empty())
            .then(|| network::QuorumNetwork::new(id, addresses).with_tls(tls.client.clone()));
        let peers = network.clone();
        let shutdown = CancellationToken::new();
        let serving = shutdown.clone();
        let leases = Arc::new(brokers::Leases::new(Duration::from_millis(
            settings.session_timeout_ms.max(1),
        )));
        let served_leases = leases.clone();
        let served_applied = applied.clone();
        let observed = observer.then(|| (network.clone(), settings.voters.clone()));
        let raft = run_on(&handle, PROPOSE_TIMEOUT, async move {
            let fatal = |e: &dyn std::fmt::Display| ControllerError::Fatal(e.to_string());
            let raft = match &peers {
                None => Raft::new(id, Arc::new(config), NoPeers, log, sm).await,
                Some(network) => Raft::new(id, Arc::new(config), network.clone(), log, sm).await,
            }
            .map_err(|e| fatal(&e))?;
            for l in listeners {
                l.set_nonblocking(true)?;
                let l = tokio::net::TcpListener::from_std(l)?;
                let services = rpc::Services {
                    raft: raft.clone(),
                    applied: served_applied.clone(),
                    leases: served_leases.clone(),
                    network: peers.clone(),
                    endpoints: endpoints.clone(),
                };
                tokio::spawn(rpc::serve_tls(
                    l,
                    services,
                    serving.clone(),
                    tls.server.clone(),
                ));
            }
            if let Some((Some(network), voters)) = observed {
                let services = rpc::Services {
                    raft: raft.clone(),
                    applied: served_applied.clone(),
                    leases: served_leases.clone(),
                    network: None,
                    endpoints: endpoints.clone(),
                };
                observe(id, network, voters, services, serving.clone());
            } else if !raft.is_initialized().await.map_err(|e| fatal(&e))? {
                let voters = members.len();
                match raft.initialize(members).await {
                    Ok(()) => info!(node = id, voters, "initialized the controller quorum"),
                    // Another voter's entries arrived first: the quorum is formed.
                    Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                    Err(e) => return Err(fatal(&e)),
                }
            }
            let ready = |m: &openraft::RaftMetrics<u64, BasicNode>| {
                if observer {
                    m.current_leader.is_some()
                        && m.membership_config.membership().get_node(&id).is_some()
                } else if single {
                    m.current_leader == Some(id)
                        && m.last_applied.map(|l| l.index) >= m.last_log_index
                } else {
                    m.current_leader.is_some()
                }
            };
            raft.wait(Some(
                Duration::from_millis(election * 10).max(PROPOSE_TIMEOUT),
            ))
            .metrics(ready, "a known leader with the committed records applied")
            .await
            .map_err(|e| fatal(&e))?;
            Ok::<_, ControllerError>(raft)
        })??;
        let m = raft.metrics().borrow().clone();
        info!(
            node = id,
            leader = ?m.current_leader,
            term = m.current_term,
            last_log_index = ?m.last_log_index,
            "controller quorum ready"
        );
        let quorum = Quorum {
            raft,
            applied,
            node_id: settings.node_id,
            runtime: Mutex::new(Some(runtime)),
            handle,
            producer_ids: Mutex::new(()),
            shutdown,
            network,
            leases,
            registration: Mutex::new(None),
        };
        quorum.log_leader_changes();
        if observer {
            // Serve nothing older than the active controller's state. The leader an observer
            // first hears of may be deposed already: ask again (bounded) until one answers.
            let deadline = std::time::Instant::now() + PROPOSE_TIMEOUT;
            loop {
                match quorum.catch_up(Duration::from_secs(5)) {
                    Ok(()) => break,
                    Err(e @ (ControllerError::NotController { .. } | ControllerError::Timeout))
                        if std::time::Instant::now() < deadline =>
                    {
                        debug!(node = id, error = %e, "catching up with the active controller; trying again");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        quorum.handle.spawn(brokers::fence_expired(
            quorum.raft.clone(),
            quorum.applied.clone(),
            quorum.leases.clone(),
            quorum.node_id,
            quorum.shutdown.clone(),
        ));
        Ok(quorum)
    }

    /// Run the automatic preferred-leader election on this node's quorum runtime (it acts only
    /// while this node is the active controller): every `interval`, see
    /// `auto.leader.rebalance.enable`.
    pub fn start_leader_rebalance(&self, interval: Duration, percentage: i32) {
        self.handle.spawn(brokers::on_active_controller(
            self.raft.clone(),
            self.applied.clone(),
            interval,
            "leader imbalance above leader.imbalance.per.broker.percentage: electing preferred leaders",
            move |state| brokers::preferred_elections(state, percentage),
            self.shutdown.clone(),
        ));
    }

    /// Run the unclean leader elections on this node's quorum runtime (acting only while this
    /// node is the active controller): `default` is `unclean.leader.election.enable` for topics
    /// without their own setting; checked every quarter `broker.session.timeout.ms`.
    pub fn start_unclean_elections(&self, default: bool) {
        self.handle.spawn(brokers::on_active_controller(
            self.raft.clone(),
            self.applied.clone(),
            (self.leases.session_timeout / 4).max(Duration::from_millis(20)),
            "no in-sync replica is alive: unclean leader elections (unclean.leader.election.enable)",
            move |state| brokers::unclean_elections(state, default),
            self.shutdown.clone(),
        ));
    }

    /// A task on the quorum's runtime that logs every change of the active controller.
    fn log_leader_changes(&self) {
        let mut metrics = self.raft.metrics();
        let node = self.node_id;
        let stop = self.shutdown.clone();
        self.handle.spawn(async move {
            let mut known = metrics.borrow().current_leader;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    changed = metrics.changed() => if changed.is_err() { return },
                }
                let m = metrics.borrow().clone();
                if m.current_leader != known {
                    known = m.current_leader;
                    match known {
                        Some(l) => info!(
                            node,
                            leader = l,
                            epoch = m.current_term,
                            "controller leader elected"
                        ),
                        None => warn!(
                            node,
                            epoch = m.current_term,
                            "controller quorum has no leader"
                        ),
                    }
                }
            }
        });
    }

    /// Every newly applied state of the metadata log, as it is applied.
    pub fn subscribe(&self) -> watch::Receiver<Applied<TypeConfig, ClusterState>> {
        self.applied.clone()
    }

    /// Settle the cluster id. `local` is the id the data directory's `meta.properties` (`meta`)
    /// records, `None` for a new directory. The first node whose proposal is applied records
    /// its id (a new directory proposes `candidate`); every node of a new cluster then takes the
    /// recorded one, so nodes started with the same voters need no format step. A directory
    /// that records another id than the log is refused (Kafka: INCONSISTENT_CLUSTER_ID).
    /// `registration`, when given, is proposed in the same batch if a proposal is needed (one
    /// fsync fewer on a new node); the answer says whether it was.
    pub fn agree_cluster_id(
        &self,
        local: Option<&str>,
        candidate: &str,
        meta: &Path,
        registration: Option<&Registration>,
    ) -> Result<(String, bool), ControllerError> {
        let mut registered = false;
        if self.state().cluster_id.is_none() {
            let id = local.unwrap_or(candidate);
            let mut batch = vec![MetadataRecord::ClusterId { id: id.into() }];
            if let Some(r) = registration {
                batch.extend(r.records());
                registered = true;
            }
            self.propose_blocking(batch)?;
        }
        let recorded = self
            .state()
            .cluster_id
            .clone()
            .ok_or_else(|| ControllerError::Fatal("no cluster id recorded".into()))?;
        match local {
            Some(local) if local != recorded => Err(ControllerError::InconsistentClusterId {
                meta: meta.display().to_string(),
                recorded,
                local: local.to_string(),
            }),
            _ => Ok((recorded, registered)),
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The state as last applied on this node.
    pub fn state(&self) -> Arc<ClusterState> {
        self.applied.borrow().state.clone()
    }

    /// The index of the last applied entry (0 before any).
    pub fn applied_index(&self) -> u64 {
        self.applied.borrow().last_applied.map_or(0, |l| l.index)
    }

    /// The active controller's node id, if known.
    pub fn leader(&self) -> Option<i32> {
        let m = self.raft.metrics().borrow().clone();
        m.current_leader.and_then(|l| i32::try_from(l).ok())
    }

    /// The quorum as Kafka's DescribeQuorum reports it, from openraft's metrics. Offsets are
    /// Raft log indexes + 1 (Kafka's log end offset and high watermark are "next offset").
    pub fn describe(&self) -> QuorumDescription {
        describe_raft(&self.raft, &self.applied)
    }

    /// The quorum as the active controller describes it (Kafka's brokers forward DescribeQuorum
    /// to it): this node's own description when it leads, else the leader's
    /// ([`rpc::CONTROLLER_DESCRIBE`]), else this node's (leader unknown or unreachable: its
    /// followers' progress is then unknown). Blocking, from any thread.
    pub fn describe_active(&self) -> QuorumDescription {
        let local = self.describe();
        let (Some(leader), Some(network)) = (local.leader, self.network.clone()) else {
            return local;
        };
        if leader == self.node_id {
            return local;
        }
        let Ok(to) = u64::try_from(leader) else {
            return local;
        };
        let asked = run_on(&self.handle, PROPOSE_TIMEOUT, async move {
            let mut net = network;
            let mut peer = net.new_client(to, &BasicNode::default()).await;
            peer.describe(Duration::from_secs(5)).await
        });
        match asked {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                debug!(leader, error = %e, "cannot ask the active controller to describe the quorum");
                local
            }
            Err(_) => local,
        }
    }

    /// Append `records` as one batch and wait until it is committed and applied here; returns
    /// its index in the log. On a voter that does not lead, the batch is forwarded to the
    /// active controller ([`rpc::CONTROLLER_PROPOSE`]) and this waits until the entry is
    /// applied here too. Blocking, from any thread: the proposal runs on the quorum's runtime
    /// and this thread only waits.
    pub fn propose_blocking(&self, records: Vec<MetadataRecord>) -> Result<u64, ControllerError> {
        run_on(&self.handle, PROPOSE_TIMEOUT, self.proposal(records))?
    }

    /// The proposal of `records` as a task for the quorum's runtime.
    fn proposal(
        &self,
        records: Vec<MetadataRecord>,
    ) -> impl Future<Output = Result<u64, ControllerError>> + Send + 'static {
        let raft = self.raft.clone();
        let network = self.network.clone();
        let applied = self.applied.clone();
        let node = self.node_id;
        async move {
            let batch = MetadataBatch(records);
            // While a leader is being elected (a cluster's first seconds, a fail-over) there is
            // nobody to take the change: wait for one and try again, within the proposal's time.
            let deadline = tokio::time::Instant::now() + PROPOSE_TIMEOUT - Duration::from_secs(1);
            let mut pause = Duration::from_millis(20);
            loop {
                let tried =
                    propose_once(&raft, network.clone(), applied.clone(), node, &batch).await;
                match tried {
                    Err(ControllerError::NotController { .. })
                        if tokio::time::Instant::now() + pause < deadline =>
                    {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(500));
                    }
                    other => return other,
                }
            }
        }
    }

    /// Apply everything the active controller has committed (a linearizable read: Raft's read
    /// index, asked of the leader over [`rpc::CONTROLLER_READ_INDEX`] when another node leads),
    /// waiting at most `timeout`. Blocking, from any thread.
    pub fn catch_up(&self, timeout: Duration) -> Result<(), ControllerError> {
        let raft = self.raft.clone();
        let network = self.network.clone();
        let mut applied = self.applied.clone();
        run_on(&self.handle, timeout, async move {
            let m = raft.metrics().borrow().clone();
            let index = match (m.current_leader, network) {
                (Some(l), _) if l == m.id => {
                    raft.ensure_linearizable()
                        .await
                        .map_err(|e| ControllerError::Fatal(e.to_string()))?;
                    return Ok(());
                }
                (Some(l), Some(mut net)) => {
                    let mut peer = net.new_client(l, &BasicNode::default()).await;
                    peer.read_index(timeout).await.map_err(|e| {
                        debug!(leader = l, error = %e, "read index from the active controller failed");
                        ControllerError::NotController {
                            leader: i32::try_from(l).ok(),
                        }
                    })?
                }
                (leader, _) => {
                    return Err(ControllerError::NotController {
                        leader: leader.and_then(|l| i32::try_from(l).ok()),
                    })
                }
            };
            let Some(index) = index else { return Ok(()) };
            applied
                .wait_for(|a| a.last_applied.is_some_and(|l| l.index >= index))
                .await
                .map(|_| ())
                .map_err(|_| ControllerError::Fatal("the state machine stopped".into()))
        })?
    }

    /// Reserve the next block of [`PRODUCER_ID_BLOCK_SIZE`] producer ids for `broker`
    /// (Kafka's AllocateProducerIds, answered by the active controller): `(first, end)`.
    /// Blocking, from any thread.
    pub fn allocate_producer_ids(&self, broker: i32) -> Result<(i64, i64), ControllerError> {
        let _one_at_a_time = self
            .producer_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.propose_blocking(vec![MetadataRecord::AllocateProducerIds {
            broker_id: broker,
        }])?;
        // Allocations for `broker` are made only here, one at a time: the block recorded for it
        // in the state (applied at least up to the proposal) is the one just allocated.
        let (first, end) = self
            .state()
            .producer_blocks
            .get(&broker)
            .copied()
            .ok_or_else(|| ControllerError::Fatal("no producer id block recorded".into()))?;
        info!(
            node = self.node_id,
            broker, first, end, "allocated a producer id block"
        );
        Ok((first, end))
    }

    /// Register this node's broker (a new incarnation), unfenced at once: it has applied the log
    /// up to its registration (`already_proposed`: [`Quorum::agree_cluster_id`] proposed it with
    /// the cluster id). Then heartbeat the active controller every `interval` from the
    /// quorum's runtime (see [`brokers`]). Blocking.
    pub fn register_broker(
        &self,
        registration: Registration,
        interval: Duration,
        already_proposed: bool,
    ) -> Result<(), ControllerError> {
        if !already_proposed {
            self.propose_blocking(registration.records())?;
        }
        info!(
            broker = registration.id,
            incarnation = %registration.incarnation,
            rack = ?registration.rack,
            "registered broker"
        );
        *self
            .registration
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(registration.clone());
        let raft = self.raft.clone();
        let applied = self.applied.clone();
        let leases = self.leases.clone();
        let network = self.network.clone();
        let stop = self.shutdown.clone();
        let quorum_timeout = interval.max(Duration::from_millis(500));
        self.handle.spawn(async move {
            let hb = Heartbeat {
                id: registration.id,
                incarnation: registration.incarnation,
            };
            let mut failing = false;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
                let leader = raft.metrics().borrow().current_leader;
                let answer = match (leader, &network) {
                    (None, _) => Err("no active controller".to_string()),
                    (Some(l), _) if l == raft.metrics().borrow().id => {
                        brokers::heartbeat(&raft, &applied, &leases, hb)
                            .await
                            .map_err(|e| e.to_string())
                    }
                    (Some(l), Some(net)) => {
                        let mut peer = net.clone().new_client(l, &BasicNode::default()).await;
                        peer.heartbeat(&hb, quorum_timeout)
                            .await
                            .map_err(|e| e.to_string())
                    }
                    (Some(l), None) => Err(format!("no transport to the active controller {l}")),
                };
                match answer {
                    Ok(HeartbeatAnswer::Alive) => {
                        if failing {
                            info!(broker = hb.id, "heartbeats reach the active controller again");
                        }
                        failing = false;
                    }
                    Ok(HeartbeatAnswer::NotController(_)) => {}
                    Ok(HeartbeatAnswer::Reregister) => {
                        warn!(broker = hb.id, incarnation = %hb.incarnation,
                            "the active controller does not know this broker's registration; registering again");
                        let batch = MetadataBatch(registration.records());
                        let result = match &network {
                            Some(net) if leader != Some(raft.metrics().borrow().id) => {
                                let mut peer = net
                                    .clone()
                                    .new_client(leader.unwrap_or_default(), &BasicNode::default())
                                    .await;
                                peer.propose(&batch, quorum_timeout).await.map(|_| ()).map_err(|e| e.to_string())
                            }
                            _ => raft.client_write(batch).await.map(|_| ()).map_err(|e| e.to_string()),
                        };
                        if let Err(e) = result {
                            warn!(broker = hb.id, error = %e, "cannot register again");
                        }
                    }
                    Err(e) => {
                        if !failing {
                            warn!(broker = hb.id, leader = ?leader, error = %e, "broker heartbeat failed");
                        }
                        failing = true;
                    }
                }
            }
        });
        Ok(())
    }

    /// Kafka's controlled shutdown, before the broker stops: its registration is fenced so that
    /// clients stop being sent to it at once (rather than after the session timeout). Bounded:
    /// without a quorum the broker stops anyway (and is fenced when its lease expires). Skipped
    /// when it is the only live broker (a single node): there is nobody to send clients to.
    /// Returns whether the fencing was committed.
    pub fn controlled_shutdown(&self) -> bool {
        let Some(r) = self
            .registration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        else {
            return false;
        };
        if self.state().live_brokers().all(|(id, _)| id == r.id) {
            // No other broker to send clients to: fencing would only cost an epoch.
            return false;
        }
        let fence = vec![MetadataRecord::FenceBroker {
            id: r.id,
            incarnation: r.incarnation,
            controlled: true,
        }];
        match run_on(&self.handle, Duration::from_secs(5), self.proposal(fence)) {
            Ok(Ok(_)) => {
                info!(broker = r.id, "controlled shutdown: broker fenced");
                true
            }
            Ok(Err(e)) => {
                warn!(broker = r.id, error = %e, "controlled shutdown failed; stopping anyway");
                false
            }
            Err(e) => {
                warn!(broker = r.id, error = %e, "controlled shutdown failed; stopping anyway");
                false
            }
        }
    }

    /// Stop Raft and the quorum's runtime.
    pub fn shutdown(&self) {
        let raft = self.raft.clone();
        let _ = run_on(&self.handle, Duration::from_secs(5), async move {
            raft.shutdown().await
        });
        self.stop_runtime();
    }

    /// Stop the quorum's runtime without waiting (a runtime dropped inside another runtime's
    /// async context would panic).
    fn stop_runtime(&self) {
        self.shutdown.cancel();
        if let Some(rt) = self
            .runtime
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Quorum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quorum")
            .field("node_id", &self.node_id)
            .field("applied_index", &self.applied_index())
            .finish_non_exhaustive()
    }
}

impl Drop for Quorum {
    fn drop(&mut self) {
        self.stop_runtime();
    }
}

/// One attempt at [`Quorum::propose_blocking`]: append here if this node leads, else forward to
/// the leader and wait until the entry is applied here.
async fn propose_once(
    raft: &Raft<TypeConfig>,
    network: Option<network::QuorumNetwork>,
    mut applied: watch::Receiver<Applied<TypeConfig, ClusterState>>,
    node: i32,
    batch: &MetadataBatch,
) -> Result<u64, ControllerError> {
    let leader = match raft.client_write(batch.clone()).await {
        Ok(resp) => {
            tell_followers(raft).await;
            return Ok(resp.log_id.index);
        }
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => f.leader_id,
        Err(e) => return Err(ControllerError::Fatal(e.to_string())),
    };
    let not_controller = |l: Option<u64>| ControllerError::NotController {
        leader: l.and_then(|l| i32::try_from(l).ok()),
    };
    let (Some(mut network), Some(to)) = (network, leader) else {
        return Err(not_controller(leader));
    };
    let mut peer = network.new_client(to, &BasicNode::default()).await;
    let index = match peer.propose(batch, PROPOSE_TIMEOUT).await {
        Ok(index) => index,
        Err(e) => {
            debug!(node, leader = to, error = %e, "cannot forward a metadata change to the active controller");
            let now = match e {
                RPCError::RemoteError(r) => match r.source {
                    RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => f.leader_id,
                    _ => Some(to),
                },
                _ => Some(to),
            };
            return Err(not_controller(now));
        }
    };
    // Visible here before the caller goes on.
    let caught_up = applied
        .wait_for(|a| a.last_applied.is_some_and(|l| l.index >= index))
        .await;
    match caught_up {
        Ok(_) => Ok(index),
        Err(_) => Err(ControllerError::Fatal("the state machine stopped".into())),
    }
}

/// An observer's background tasks, on the quorum's runtime until `stop`: ask to be a learner
/// until the log says it is one (ObserverJoin, to the leader a refusal names, else to each voter
/// in turn), and keep [`ATTACHED_PER_VOTER`] connections attached to every voter, serving the
/// voter's requests on each (ObserverAttach).
fn observe(
    id: u64,
    network: network::QuorumNetwork,
    voters: BTreeMap<i32, String>,
    services: rpc::Services,
    stop: CancellationToken,
) {
    let tls = network.tls().cloned();
    let ids: Vec<u64> = voters
        .keys()
        .filter_map(|v| u64::try_from(*v).ok())
        .collect();
    let raft = services.raft.clone();
    let joining = stop.clone();
    tokio::spawn(async move {
        let mut hint: Option<u64> = None;
        let mut next = 0usize;
        loop {
            let member = raft
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .get_node(&id)
                .is_some();
            if !member && !ids.is_empty() {
                let to = hint.take().unwrap_or_else(|| {
                    next = next.wrapping_add(1);
                    ids[next % ids.len()]
                });
                let mut peer = network.clone().new_client(to, &BasicNode::default()).await;
                match peer.join(id, Duration::from_secs(5)).await {
                    Ok(index) => debug!(
                        node = id,
                        controller = to,
                        index,
                        "asked to follow the metadata log"
                    ),
                    Err(RPCError::RemoteError(r)) => {
                        if let RaftError::APIError(ClientWriteError::ForwardToLeader(f)) = r.source
                        {
                            hint = f.leader_id;
                        }
                    }
                    Err(e) => {
                        debug!(node = id, controller = to, error = %e, "cannot ask to follow the metadata log")
                    }
                }
            }
            let pause = if member || hint.is_some() {
                Duration::from_millis(if member { 2000 } else { 20 })
            } else {
                Duration::from_millis(300)
            };
            tokio::select! {
                () = joining.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    });
    let client_id: Arc<str> = format!("minikafka-observer-{id}").into();
    for (voter, addr) in voters {
        for _ in 0..ATTACHED_PER_VOTER {
            let (addr, client_id, services, stop, tls) = (
                addr.clone(),
                client_id.clone(),
                services.clone(),
                stop.clone(),
                tls.clone(),
            );
            tokio::spawn(async move {
                let mut pause = Duration::from_millis(100);
                loop {
                    let dialled = tokio::select! {
                        () = stop.cancelled() => return,
                        d = tokio::time::timeout(Duration::from_secs(5), network::attach_to(&addr, &client_id, id, tls.as_ref())) => d,
                    };
                    match dialled {
                        Ok(Ok(stream)) => {
                            let since = std::time::Instant::now();
                            let peer = stream
                                .peer_addr()
                                .unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
                            debug!(node = id, controller = voter, %addr, "attached a connection to a voter");
                            rpc::serve_attached(stream, peer, &services, &stop).await;
                            if since.elapsed() > Duration::from_secs(1) {
                                pause = Duration::from_millis(100);
                            }
                        }
                        Ok(Err(e)) => {
                            debug!(node = id, controller = voter, %addr, error = %e, "cannot attach to a voter")
                        }
                        Err(_) => {
                            debug!(node = id, controller = voter, %addr, "attaching to a voter timed out")
                        }
                    }
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            });
        }
    }
}

/// The quorum as `raft`'s node sees it (see [`Quorum::describe`]).
pub(crate) fn describe_raft(
    raft: &Raft<TypeConfig>,
    applied: &watch::Receiver<Applied<TypeConfig, ClusterState>>,
) -> QuorumDescription {
    let m = raft.metrics().borrow().clone();
    let now = crate::clock::now_ms();
    let end = |index: Option<u64>| {
        index.map_or(0, |i| {
            i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1)
        })
    };
    let leader_end = end(m.last_log_index);
    // This node's own progress is its log end; a follower's is what the leader last
    // matched (known only on the leader).
    let replica = |id: u64| {
        let matched = if id == m.id {
            m.last_log_index
        } else {
            m.replication
                .as_ref()
                .and_then(|r| r.get(&id).cloned().flatten())
                .map(|l| l.index)
        };
        let log_end_offset = end(matched);
        ReplicaDescription {
            id: i32::try_from(id).unwrap_or(-1),
            log_end_offset,
            last_fetch_timestamp: if matched.is_some() { now } else { -1 },
            last_caught_up_timestamp: if log_end_offset >= leader_end {
                now
            } else {
                -1
            },
        }
    };
    let membership = m.membership_config.membership();
    let voters = membership.voter_ids().map(replica).collect();
    let observers = membership.learner_ids().map(replica).collect();
    let committed = applied.borrow().last_applied.map(|l| l.index);
    QuorumDescription {
        leader: m.current_leader.and_then(|l| i32::try_from(l).ok()),
        leader_epoch: i32::try_from(m.current_term).unwrap_or(i32::MAX),
        high_watermark: end(committed),
        voters,
        observers,
    }
}

/// After a commit on the active controller: send the followers the new commit index now
/// instead of at the next heartbeat, so every node applies a change within a round trip of its
/// commit (an admin change is visible on the other brokers about when its client hears of it).
pub(crate) async fn tell_followers(raft: &Raft<TypeConfig>) {
    if let Err(e) = raft.trigger().heartbeat().await {
        warn!(error = %e, "cannot send the commit index to the followers");
    }
}

/// Run `fut` on `handle`'s runtime and wait for it on this thread (any thread: an async worker
/// of another runtime is only blocked, never asked to run it).
fn run_on<T: Send + 'static>(
    handle: &tokio::runtime::Handle,
    timeout: Duration,
    fut: impl Future<Output = T> + Send + 'static,
) -> Result<T, ControllerError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(fut.await);
    });
    match rx.recv_timeout(timeout) {
        Ok(v) => Ok(v),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(ControllerError::Timeout),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(ControllerError::Fatal(
            "the controller's runtime stopped".into(),
        )),
    }
}

/// The network of a one-voter quorum: there is nobody to call. (The controller listener's
/// transport replaces it when a quorum has several voters.)
#[derive(Debug, Clone, Copy)]
struct NoPeers;

fn no_peer<E: std::error::Error>(target: &str) -> RPCError<u64, BasicNode, E> {
    let e = std::io::Error::other(format!("no transport to {target}: one-voter quorum"));
    RPCError::Unreachable(Unreachable::new(&e))
}

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = NoPeers;

    async fn new_client(&mut self, _target: u64, _node: &BasicNode) -> NoPeers {
        NoPeers
    }
}

impl RaftNetwork<TypeConfig> for NoPeers {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        Err(no_peer("a follower"))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        Err(no_peer("a follower"))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        Err(no_peer("a voter"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(
        id: i32,
        voters: &BTreeMap<i32, String>,
        listener: std::net::TcpListener,
    ) -> QuorumSettings {
        QuorumSettings {
            node_id: id,
            election_timeout_ms: 150,
            voters: voters.clone(),
            listeners: vec![listener],
            session_timeout_ms: 9000,
            observer: false,
            listener_name: "CONTROLLER".into(),
            tls: Default::default(),
        }
    }

    fn topic(name: &str) -> Vec<MetadataRecord> {
        vec![MetadataRecord::Topic {
            name: name.into(),
            id: uuid::Uuid::new_v4(),
        }]
    }

    /// Wait (bounded) until `f` holds.
    fn eventually(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !f() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The leader among `nodes`, once all of them report it.
    fn agreed_leader(nodes: &[&Quorum]) -> i32 {
        let mut leader = None;
        eventually("a leader among the nodes that all of them report", || {
            let seen: Vec<_> = nodes.iter().map(|q| q.leader()).collect();
            leader = seen[0].filter(|l| {
                seen.iter().all(|s| *s == Some(*l)) && nodes.iter().any(|q| q.node_id == *l)
            });
            leader.is_some()
        });
        leader.unwrap_or(-1)
    }

    #[test]
    fn three_voters_elect_replicate_fail_over_and_catch_up() {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let listeners: Vec<_> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let voters: BTreeMap<i32, String> = listeners
            .iter()
            .enumerate()
            .map(|(i, l)| (i as i32 + 1, l.local_addr().unwrap().to_string()))
            .collect();
        // Start all three at once: each waits for a leader, which needs a majority.
        let mut nodes: Vec<Option<Quorum>> = std::thread::scope(|s| {
            let handles: Vec<_> = listeners
                .into_iter()
                .enumerate()
                .map(|(i, l)| {
                    let dir = dirs[i].path();
                    let st = settings(i as i32 + 1, &voters, l);
                    s.spawn(move || Quorum::start(dir, st).unwrap())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| Some(h.join().unwrap()))
                .collect()
        });
        let all: Vec<&Quorum> = nodes.iter().flatten().collect();
        let leader = agreed_leader(&all);
        let l = &all[(leader - 1) as usize];
        l.propose_blocking(topic("a")).unwrap();
        // A follower forwards a change to the leader and has it applied before it answers.
        let follower = all.iter().find(|q| q.node_id != leader).unwrap();
        let index = follower.propose_blocking(topic("x")).unwrap();
        assert!(follower.applied_index() >= index);
        assert!(follower.state().topic("x").is_some());
        eventually("every node applied topics a and x", || {
            all.iter()
                .all(|q| q.state().topic("a").is_some() && q.state().topic("x").is_some())
        });
        let d = l.describe();
        assert_eq!(d.leader, Some(leader));
        assert_eq!(d.voters.len(), 3);
        drop(all);

        // The leader stops: the other two elect another and accept a write.
        let old = nodes[(leader - 1) as usize].take().unwrap();
        old.shutdown();
        drop(old);
        let rest: Vec<&Quorum> = nodes.iter().flatten().collect();
        let new_leader = agreed_leader(&rest);
        assert_ne!(new_leader, leader);
        rest.iter()
            .find(|q| q.node_id == new_leader)
            .unwrap()
            .propose_blocking(topic("b"))
            .unwrap();
        drop(rest);

        // The old leader comes back on its own directory and port and catches up.
        let addr = &voters[&leader];
        let mut listener = None;
        // The stopped runtime drops its listener in the background.
        eventually("the old port is free again", || {
            listener = std::net::TcpListener::bind(addr).ok();
            listener.is_some()
        });
        let listener = listener.unwrap();
        let back = Quorum::start(
            dirs[(leader - 1) as usize].path(),
            settings(leader, &voters, listener),
        )
        .unwrap();
        eventually("the restarted node applied topic b", || {
            back.state().topic("b").is_some() && back.state().topic("a").is_some()
        });
        nodes[(leader - 1) as usize] = Some(back);
        for q in nodes.iter().flatten() {
            q.shutdown();
        }
    }
}
