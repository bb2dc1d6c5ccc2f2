//! The controller quorum's network transport, client side: openraft's RPCs sent to the other
//! voters in Kafka framing over TCP.
//!
//! It exists because openraft brings no network: [`QuorumNetwork`] is the
//! [`RaftNetworkFactory`] a multi-voter quorum is started with, and [`QuorumPeer`] the
//! [`RaftNetwork`] client openraft makes from it for each target (one per replication stream,
//! one more for snapshots, a new one for every election). The wire format (private API keys
//! 10000–10002 with serde JSON bodies, after an ApiVersions exchange) is described in
//! [`super::rpc`], the server side.
//!
//! Observers (broker-only nodes, openraft learners) are reached the other way round: a
//! broker-only node has no controller listener, so it dials each voter and hands it connections
//! ([`super::wire::OBSERVER_ATTACH`]); the voter keeps them in that observer's pool
//! ([`QuorumNetwork::attach`]) and sends its AppendEntries and InstallSnapshot on them. An
//! observer with no attached connection left is `Unreachable` until it attaches again
//! ([`attach_to`] on its side).
//!
//! Connections are per peer, not per client: the clients of one target share a small pool of
//! idle connections ([`MAX_IDLE_PER_PEER`]), so an election reuses the connection the last
//! heartbeat used instead of dialling again. A connection is made lazily, checked with
//! ApiVersions (the peer must list the three private keys), taken out of the pool for the
//! duration of one RPC and put back only when the RPC completed; on any error (or if openraft
//! drops the RPC at its `hard_ttl`) it is closed, and the next RPC dials again. An RPC that fails
//! on a pooled connection (the peer restarted since) is retried once on a fresh one.
//!
//! Errors, as openraft expects them (`openraft::error::RPCError`):
//! - unknown target, failed connect or ApiVersions check → `Unreachable` (openraft backs off,
//!   see [`RaftNetwork::backoff`], instead of retrying at once);
//! - a failure or timeout after the connection was made → `Network`;
//! - an AppendEntries larger than [`super::wire::MAX_REQUEST_BYTES`] → `PayloadTooLarge`, so
//!   openraft splits it;
//! - a Raft error on the remote node → `RemoteError` (sent back in the response body).
//!
//! Each RPC (connect, ApiVersions, write, read) is bounded by `RPCOption::hard_ttl` (openraft
//! drops it then anyway), the connect and ApiVersions check by `soft_ttl` (so that a peer that
//! does not accept is reported `Unreachable` rather than timing out), and a response by
//! [`MAX_RESPONSE_BYTES`]. Failures are logged at debug per RPC; a peer becoming
//! unreachable and reachable again is logged once each, at info.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use openraft::error::{
    CheckIsLeaderError, ClientWriteError, Infallible, InstallSnapshotError, NetworkError,
    PayloadTooLarge, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};
use tracing::{debug, info};

use super::wire::{
    private_api_keys, request_frame, API_VERSIONS, BROKER_HEARTBEAT, CONTROLLER_DESCRIBE,
    CONTROLLER_PROPOSE, CONTROLLER_READ_INDEX, MAX_REQUEST_BYTES, OBSERVER_ATTACH, OBSERVER_JOIN,
    RAFT_API_VERSION, RAFT_APPEND_ENTRIES, RAFT_INSTALL_SNAPSHOT, RAFT_VOTE,
};
use super::TypeConfig;
use crate::net::stream::Stream;
use crate::net::tls::TlsClient;

/// The largest response accepted: 1 MiB. Every response is small whatever the request: a vote,
/// a log id and a flag, or a Raft error's message (an InstallSnapshot's answer is only the
/// receiver's vote). A larger length prefix means the peer is not what we think it is: the
/// connection is closed without reading it.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Idle connections kept per peer. openraft runs at most a replication stream, a snapshot
/// stream and an election's vote towards one peer at once.
pub const MAX_IDLE_PER_PEER: usize = 4;

/// The ApiVersions version the client sends: v0 has an empty request body and the simplest
/// response, and every Kafka-framed server answers it.
const API_VERSIONS_VERSION: i16 = 0;

/// openraft's RPC error with our node types.
type RpcError<E> = RPCError<u64, BasicNode, RaftError<u64, E>>;

/// The network of a multi-voter controller quorum (see the module docs).
#[derive(Debug, Clone)]
pub struct QuorumNetwork {
    /// This node's id (for logs and the wire's client id).
    node_id: u64,
    /// `minikafka-controller-{node_id}`, the client id of every request.
    client_id: Arc<str>,
    /// Every voter but this one, with its connection pool.
    peers: Arc<BTreeMap<u64, Arc<Peer>>>,
    /// The observers that attached connections here, each with its pool (at most
    /// [`MAX_OBSERVERS`]). A std mutex: never held across an await.
    observers: Arc<Mutex<BTreeMap<u64, Arc<Peer>>>>,
    /// The client side of TLS when the controller listener is SSL.
    tls: Option<TlsClient>,
}

/// The most observers (broker-only nodes) one voter keeps attached connections of.
pub const MAX_OBSERVERS: usize = 1024;

impl QuorumNetwork {
    /// The network of node `node_id`, whose peers are `voters` (node id → `"host:port"` of its
    /// controller listener; this node's own entry, if present, is ignored). Connects to nothing
    /// until openraft sends an RPC.
    pub fn new(node_id: u64, voters: BTreeMap<u64, String>) -> QuorumNetwork {
        let peers = voters
            .into_iter()
            .filter(|(id, _)| *id != node_id)
            .map(|(id, addr)| {
                let peer = Peer {
                    addr: Some(addr),
                    idle: Mutex::new(Vec::new()),
                    failing: AtomicBool::new(false),
                };
                (id, Arc::new(peer))
            })
            .collect();
        QuorumNetwork {
            node_id,
            client_id: format!("minikafka-controller-{node_id}").into(),
            peers: Arc::new(peers),
            observers: Arc::new(Mutex::new(BTreeMap::new())),
            tls: None,
        }
    }

    /// The client side of TLS this network dials with.
    pub(crate) fn tls(&self) -> Option<&TlsClient> {
        self.tls.as_ref()
    }

    /// Dial the voters over TLS with `tls` (an SSL controller listener).
    #[must_use]
    pub fn with_tls(mut self, tls: Option<TlsClient>) -> QuorumNetwork {
        self.tls = tls;
        self
    }

    /// Whether observer `id` has attached connections here (now or before).
    pub fn has_observer(&self, id: u64) -> bool {
        self.observers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&id)
    }

    /// Keep `stream`, a connection observer `id` made to this node and attached
    /// ([`super::wire::OBSERVER_ATTACH`]), for the RPCs sent to that observer. False (and the
    /// connection is closed) when `id` is a voter or when [`MAX_OBSERVERS`] others are known.
    /// A full pool drops its oldest connection for this one.
    pub fn attach(&self, id: u64, stream: Stream) -> bool {
        if id == self.node_id || self.peers.contains_key(&id) {
            return false;
        }
        let peer = {
            let mut observers = self
                .observers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !observers.contains_key(&id) && observers.len() >= MAX_OBSERVERS {
                return false;
            }
            Arc::clone(observers.entry(id).or_insert_with(|| {
                Arc::new(Peer {
                    addr: None,
                    idle: Mutex::new(Vec::new()),
                    failing: AtomicBool::new(false),
                })
            }))
        };
        let conn = Connection {
            stream,
            next_correlation: 0,
        };
        if peer.failing.swap(false, Ordering::Relaxed) {
            info!(
                node = self.node_id,
                observer = id,
                "observer attached a connection again"
            );
        }
        peer.attach(conn);
        true
    }
}

/// The observer's side of [`QuorumNetwork::attach`]: dial the voter at `addr`, check it is a
/// controller listener, ask it to keep the connection for observer `id`; the stream is then
/// served like a controller listener's connection (requests come from the voter).
pub async fn attach_to(
    addr: &str,
    client_id: &str,
    id: u64,
    tls: Option<&TlsClient>,
) -> io::Result<Stream> {
    let mut conn = Connection::open(addr, client_id, tls).await?;
    let body =
        serde_json::to_vec(&super::wire::Attach { id }).map_err(|e| invalid(e.to_string()))?;
    let answer = conn
        .exchange(OBSERVER_ATTACH, RAFT_API_VERSION, client_id, &body)
        .await?;
    match serde_json::from_slice::<Result<(), String>>(&answer) {
        Ok(Ok(())) => Ok(conn.stream),
        Ok(Err(refused)) => Err(io::Error::other(refused)),
        Err(e) => Err(invalid(e.to_string())),
    }
}

impl RaftNetworkFactory<TypeConfig> for QuorumNetwork {
    type Network = QuorumPeer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> QuorumPeer {
        QuorumPeer {
            node_id: self.node_id,
            target,
            target_node: node.clone(),
            client_id: Arc::clone(&self.client_id),
            peer: self.peers.get(&target).cloned(),
            observers: Arc::clone(&self.observers),
            tls: self.tls.clone(),
        }
    }
}

/// One peer as seen from this node: its address and its idle connections.
#[derive(Debug)]
struct Peer {
    /// `host:port` of its controller listener; `None` for an observer, which cannot be dialled
    /// (its connections are the ones it attached).
    addr: Option<String>,
    /// Connections that completed their last RPC, ready for the next (at most
    /// [`MAX_IDLE_PER_PEER`]). A std mutex: it is never held across an await.
    idle: Mutex<Vec<Connection>>,
    /// Whether the last attempt to reach it failed: turns the next successful connect into an
    /// info line ("re-established") and keeps repeated failures at debug.
    failing: AtomicBool,
}

impl Peer {
    fn take_idle(&self) -> Option<Connection> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    /// Keep `conn` for the next RPC; false (and it is closed) when the pool is full.
    fn put_idle(&self, conn: Connection) -> bool {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_PER_PEER {
            idle.push(conn);
            return true;
        }
        false
    }

    /// Keep an attached connection, the newest first: when the pool is full the oldest goes
    /// (after the observer restarted, the connections of its last run are dead).
    fn attach(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() >= MAX_IDLE_PER_PEER {
            idle.remove(0);
        }
        idle.push(conn);
    }

    /// Its address for logs.
    fn shown(&self) -> &str {
        self.addr.as_deref().unwrap_or("(attached connections)")
    }

    /// Close every idle connection (after one failed, the others are likely stale too).
    fn clear_idle(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// openraft's client for one target voter, made by [`QuorumNetwork`]; cheap, and sharing the
/// target's connections with the other clients of the same network.
#[derive(Debug)]
pub struct QuorumPeer {
    /// This node's id.
    node_id: u64,
    /// The target's id.
    target: u64,
    /// The target as openraft knows it (put into `RemoteError`s).
    target_node: BasicNode,
    /// The client id of every request.
    client_id: Arc<str>,
    /// The target's address and pool; `None` if it is not among the voters we were given.
    peer: Option<Arc<Peer>>,
    /// The network's observers: a target that is not a voter is looked up there at each RPC
    /// (openraft keeps a replication stream's client, which may be made before the observer
    /// attached anything).
    observers: Arc<Mutex<BTreeMap<u64, Arc<Peer>>>>,
    /// The client side of TLS when the controller listener is SSL.
    tls: Option<TlsClient>,
}

impl QuorumPeer {
    /// Ask the target, the active controller, to append `batch` ([`CONTROLLER_PROPOSE`]);
    /// its index in the log.
    pub async fn propose(
        &mut self,
        batch: &super::MetadataBatch,
        timeout: std::time::Duration,
    ) -> Result<u64, RpcError<ClientWriteError<u64, BasicNode>>> {
        let body = json_body(batch).map_err(RPCError::Network)?;
        self.call(CONTROLLER_PROPOSE, &body, &RPCOption::new(timeout))
            .await
    }

    /// Ask the target, the active controller, up to which index this node must apply to be as
    /// current as it is ([`CONTROLLER_READ_INDEX`]).
    pub async fn read_index(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<Option<u64>, RpcError<CheckIsLeaderError<u64, BasicNode>>> {
        let body = json_body(&()).map_err(RPCError::Network)?;
        self.call(CONTROLLER_READ_INDEX, &body, &RPCOption::new(timeout))
            .await
    }

    /// Ask the target, the active controller, to describe the quorum ([`CONTROLLER_DESCRIBE`]).
    pub async fn describe(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<super::QuorumDescription, RpcError<Infallible>> {
        let body = json_body(&()).map_err(RPCError::Network)?;
        self.call(CONTROLLER_DESCRIBE, &body, &RPCOption::new(timeout))
            .await
    }

    /// Ask the target, the active controller, to make observer `id` (this node) a learner
    /// ([`OBSERVER_JOIN`]); the log index of the membership change (0: already one).
    pub async fn join(
        &mut self,
        id: u64,
        timeout: std::time::Duration,
    ) -> Result<u64, RpcError<ClientWriteError<u64, BasicNode>>> {
        let body = json_body(&super::wire::Attach { id }).map_err(RPCError::Network)?;
        self.call(OBSERVER_JOIN, &body, &RPCOption::new(timeout))
            .await
    }

    /// Send a broker's heartbeat to the target, the active controller ([`BROKER_HEARTBEAT`]).
    pub async fn heartbeat(
        &mut self,
        hb: &super::brokers::Heartbeat,
        timeout: std::time::Duration,
    ) -> Result<super::brokers::HeartbeatAnswer, RpcError<ClientWriteError<u64, BasicNode>>> {
        let body = json_body(hb).map_err(RPCError::Network)?;
        self.call(BROKER_HEARTBEAT, &body, &RPCOption::new(timeout))
            .await
    }
}

/// Why one RPC failed below Raft.
#[derive(Debug)]
enum Failure {
    /// Could not connect, or the peer failed the ApiVersions check.
    Connect(io::Error),
    /// The connection was made but the exchange failed.
    Exchange(io::Error),
}

impl QuorumPeer {
    /// Send one private-key request with `body` and decode the answer as `Result<Resp,
    /// RaftError<u64, E>>`.
    async fn call<Resp, E>(
        &mut self,
        key: i16,
        body: &[u8],
        option: &RPCOption,
    ) -> Result<Resp, RpcError<E>>
    where
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let observer = || {
            self.observers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&self.target)
                .cloned()
        };
        let Some(peer) = self.peer.clone().or_else(observer) else {
            let e = io::Error::new(
                io::ErrorKind::NotFound,
                format!("node {} is not a known controller voter", self.target),
            );
            debug!(node = self.node_id, peer = self.target, error = %e, "controller RPC failed");
            return Err(RPCError::Unreachable(Unreachable::new(&e)));
        };
        let now = Instant::now();
        let deadlines = Deadlines {
            connect: now + option.soft_ttl(),
            rpc: now + option.hard_ttl(),
        };
        let answer = match self.exchange(&peer, key, body, deadlines).await {
            Ok(answer) => answer,
            Err(failure) => {
                let e = match &failure {
                    Failure::Connect(e) | Failure::Exchange(e) => e,
                };
                debug!(
                    node = self.node_id,
                    peer = self.target,
                    addr = %peer.shown(),
                    api_key = key,
                    error = %e,
                    "controller RPC failed"
                );
                if !peer.failing.swap(true, Ordering::Relaxed) {
                    info!(
                        node = self.node_id,
                        peer = self.target,
                        addr = %peer.shown(),
                        error = %e,
                        "controller peer unreachable; retrying quietly"
                    );
                }
                return Err(match failure {
                    Failure::Connect(e) => RPCError::Unreachable(Unreachable::new(&e)),
                    Failure::Exchange(e) => RPCError::Network(NetworkError::new(&e)),
                });
            }
        };
        let (conn, body) = answer;
        match serde_json::from_slice::<Result<Resp, RaftError<u64, E>>>(&body) {
            Ok(result) => {
                let _ = peer.put_idle(conn);
                result.map_err(|e| {
                    RPCError::RemoteError(RemoteError::new_with_node(
                        self.target,
                        self.target_node.clone(),
                        e,
                    ))
                })
            }
            Err(e) => {
                // The framing was fine but the body is not what this version sends: the peer
                // runs something else. Drop the connection, like any other failure.
                debug!(
                    node = self.node_id,
                    peer = self.target,
                    api_key = key,
                    error = %e,
                    "controller RPC: undecodable response"
                );
                let e = io::Error::new(io::ErrorKind::InvalidData, e);
                Err(RPCError::Network(NetworkError::new(&e)))
            }
        }
    }

    /// One request/response on a pooled connection, or on a new one. A pooled connection that
    /// fails (not by timeout) is replaced once by a new one within the same deadline.
    async fn exchange(
        &self,
        peer: &Peer,
        key: i16,
        body: &[u8],
        deadlines: Deadlines,
    ) -> Result<(Connection, Vec<u8>), Failure> {
        let deadline = deadlines.rpc;
        if let Some(mut conn) = peer.take_idle() {
            match timeout_at(
                deadline,
                conn.exchange(key, RAFT_API_VERSION, &self.client_id, body),
            )
            .await
            {
                Ok(Ok(answer)) => return Ok((conn, answer)),
                Ok(Err(e)) => {
                    debug!(
                        node = self.node_id,
                        peer = self.target,
                        error = %e,
                        "pooled controller connection failed; dialling again"
                    );
                    peer.clear_idle();
                }
                Err(_) => return Err(Failure::Exchange(timed_out())),
            }
        }
        let Some(addr) = &peer.addr else {
            // An observer: only the connections it attached reach it.
            return Err(Failure::Connect(io::Error::new(
                io::ErrorKind::NotConnected,
                "the observer has no attached connection",
            )));
        };
        let connect = Connection::open(addr, &self.client_id, self.tls.as_ref());
        let mut conn = match timeout_at(deadlines.connect, connect).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(Failure::Connect(e)),
            Err(_) => return Err(Failure::Connect(timed_out())),
        };
        if peer.failing.swap(false, Ordering::Relaxed) {
            info!(
                node = self.node_id,
                peer = self.target,
                addr = %peer.shown(),
                "connection to controller peer re-established"
            );
        } else {
            debug!(
                node = self.node_id,
                peer = self.target,
                addr = %peer.shown(),
                "connected to controller peer"
            );
        }
        match timeout_at(
            deadline,
            conn.exchange(key, RAFT_API_VERSION, &self.client_id, body),
        )
        .await
        {
            Ok(Ok(answer)) => Ok((conn, answer)),
            Ok(Err(e)) => Err(Failure::Exchange(e)),
            Err(_) => Err(Failure::Exchange(timed_out())),
        }
    }
}

/// When an RPC gives up.
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    /// For the connect and ApiVersions check: `soft_ttl`, so that a peer that does not accept
    /// is reported as `Unreachable` (openraft backs off) before openraft's own timer, at the
    /// same `hard_ttl`, drops the RPC as a `Timeout` (no back-off).
    connect: Instant,
    /// For the whole RPC: `hard_ttl`.
    rpc: Instant,
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "no answer within the RPC's hard_ttl",
    )
}

/// A request's JSON body (a type that does not encode is a network error to openraft).
fn json_body<T: serde::Serialize>(request: &T) -> Result<Vec<u8>, NetworkError> {
    serde_json::to_vec(request).map_err(|e| NetworkError::new(&e))
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl RaftNetwork<TypeConfig> for QuorumPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RpcError<Infallible>> {
        let body = json_body(&rpc).map_err(RPCError::Network)?;
        // Header and client id are well below 1 KiB.
        if body.len() + 1024 > MAX_REQUEST_BYTES {
            let entries = u64::try_from(rpc.entries.len()).unwrap_or(u64::MAX);
            debug!(
                node = self.node_id,
                peer = self.target,
                bytes = body.len(),
                entries,
                "AppendEntries too large; asking openraft to split it"
            );
            return Err(RPCError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint((entries / 2).max(1)),
            ));
        }
        self.call(RAFT_APPEND_ENTRIES, &body, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RpcError<InstallSnapshotError>> {
        let body = json_body(&rpc).map_err(RPCError::Network)?;
        self.call(RAFT_INSTALL_SNAPSHOT, &body, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RpcError<Infallible>> {
        let body = json_body(&rpc).map_err(RPCError::Network)?;
        self.call(RAFT_VOTE, &body, &option).await
    }
}

/// One connection to a peer's controller listener that passed the ApiVersions check.
#[derive(Debug)]
struct Connection {
    stream: Stream,
    /// The next request's correlation id; every response must echo its request's.
    next_correlation: i32,
}

impl Connection {
    /// Dial `addr` (over TLS with `tls`) and check with ApiVersions that it serves the private
    /// keys.
    async fn open(addr: &str, client_id: &str, tls: Option<&TlsClient>) -> io::Result<Connection> {
        let (host, port) = addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| invalid(format!("bad controller address {addr}")))?;
        let stream = crate::net::tls::dial(tls, host, port).await?;
        let mut conn = Connection {
            stream,
            next_correlation: 0,
        };
        let body = conn
            .exchange(API_VERSIONS, API_VERSIONS_VERSION, client_id, &[])
            .await?;
        check_api_versions(&body)?;
        Ok(conn)
    }

    /// Send one request and read its response body (after the correlation id).
    async fn exchange(
        &mut self,
        key: i16,
        version: i16,
        client_id: &str,
        body: &[u8],
    ) -> io::Result<Vec<u8>> {
        let correlation_id = self.next_correlation;
        self.next_correlation = correlation_id.wrapping_add(1);
        let frame = request_frame(key, version, correlation_id, client_id, body)?;
        self.stream.write_all(&frame).await?;
        let size = self.stream.read_i32().await?;
        let len = usize::try_from(size)
            .ok()
            .filter(|n| (4..=MAX_RESPONSE_BYTES).contains(n))
            .ok_or_else(|| {
                invalid(format!(
                    "response size {size} is outside 4..={MAX_RESPONSE_BYTES} bytes"
                ))
            })?;
        // Bounded by MAX_RESPONSE_BYTES above.
        let mut buf = vec![0; len];
        self.stream.read_exact(&mut buf).await?;
        let echoed = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if echoed != correlation_id {
            return Err(invalid(format!(
                "response correlation id {echoed}, expected {correlation_id}"
            )));
        }
        buf.drain(..4);
        Ok(buf)
    }
}

/// Check an ApiVersions v0 response (`i16 error_code | i32 count | count × (i16 api_key, i16
/// min_version, i16 max_version)`) for the private keys at [`RAFT_API_VERSION`].
///
/// Decoded here because the crate's `kafka-protocol` dependency is built for the broker side
/// only (request decoders, response encoders); v0 is the one fixed layout that every
/// Kafka-framed server answers.
fn check_api_versions(body: &[u8]) -> io::Result<()> {
    let short = || invalid("ApiVersions response ends early");
    let (code, rest) = body.split_first_chunk::<2>().ok_or_else(short)?;
    let code = i16::from_be_bytes(*code);
    if code != 0 {
        return Err(invalid(format!("ApiVersions error code {code}")));
    }
    let (count, mut rest) = rest.split_first_chunk::<4>().ok_or_else(short)?;
    let count = i32::from_be_bytes(*count);
    let mut listed = Vec::new();
    for _ in 0..count.max(0) {
        let (entry, tail) = rest.split_first_chunk::<6>().ok_or_else(short)?;
        let field = |i: usize| i16::from_be_bytes([entry[i], entry[i + 1]]);
        listed.push((field(0), field(2), field(4)));
        rest = tail;
    }
    for (key, name) in private_api_keys() {
        let served = listed
            .iter()
            .any(|&(k, min, max)| k == key && (min..=max).contains(&RAFT_API_VERSION));
        if !served {
            return Err(invalid(format!(
                "the peer does not serve {name} (API key {key}) v{RAFT_API_VERSION}: not a \
                 minikafka controller listener"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::BufMut;
    use openraft::error::{RPCError, RaftError};
    use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
    use openraft::raft::{VoteRequest, VoteResponse};
    use openraft::{BasicNode, Config, Raft, SnapshotPolicy, Vote};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpSocket};
    use tokio::sync::watch;
    use tokio::task::JoinHandle;
    use tokio::time::{timeout, Instant};
    use tokio_util::sync::CancellationToken;
    use uuid::Uuid;

    use super::{QuorumNetwork, QuorumPeer};
    use crate::controller::store::{Applied, LogStore, StateMachineStore};
    use crate::controller::{rpc, ClusterState, MetadataBatch, MetadataRecord, TypeConfig};

    /// The bound of every wait in these tests.
    const WAIT: Duration = Duration::from_secs(20);

    /// openraft timeouts short enough for tests.
    fn config(snapshot_policy: SnapshotPolicy, max_in_snapshot_log_to_keep: u64) -> Arc<Config> {
        let config = Config {
            cluster_name: "minikafka-test".into(),
            heartbeat_interval: 50,
            election_timeout_min: 200,
            election_timeout_max: 400,
            snapshot_policy,
            max_in_snapshot_log_to_keep,
            purge_batch_size: 1,
            ..Default::default()
        };
        Arc::new(config.validate().expect("valid test config"))
    }

    fn fast() -> Arc<Config> {
        config(SnapshotPolicy::LogsSinceLast(5000), 1000)
    }

    /// A listener on `addr` with SO_REUSEADDR, so a restarted node gets its port back.
    fn bind(addr: SocketAddr) -> TcpListener {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind(addr).expect("bind");
        socket.listen(64).expect("listen")
    }

    /// One in-process controller: Raft on its stores, served on its listener.
    struct Node {
        id: u64,
        raft: Raft<TypeConfig>,
        applied: watch::Receiver<Applied<TypeConfig, ClusterState>>,
        shutdown: CancellationToken,
        server: JoinHandle<()>,
    }

    impl Node {
        async fn start(
            id: u64,
            dir: &Path,
            listener: TcpListener,
            voters: &BTreeMap<u64, String>,
            config: Arc<Config>,
        ) -> Node {
            let log = LogStore::<TypeConfig>::open(dir).expect("log store");
            let (sm, applied) =
                StateMachineStore::<TypeConfig, ClusterState>::open(dir).expect("state machine");
            let network = QuorumNetwork::new(id, voters.clone());
            let raft = Raft::new(id, config, network.clone(), log, sm)
                .await
                .expect("raft starts");
            let shutdown = CancellationToken::new();
            let services = rpc::Services {
                raft: raft.clone(),
                applied: applied.clone(),
                leases: Arc::new(super::super::brokers::Leases::new(
                    std::time::Duration::from_secs(9),
                )),
                network: Some(network),
                endpoints: Arc::default(),
            };
            let server = tokio::spawn(rpc::serve(listener, services, shutdown.clone()));
            Node {
                id,
                raft,
                applied,
                shutdown,
                server,
            }
        }

        /// Stop serving, then stop Raft; returns once both are down.
        async fn stop(self) {
            self.shutdown.cancel();
            timeout(WAIT, self.server)
                .await
                .expect("serve stops in time")
                .expect("serve task");
            timeout(WAIT, self.raft.shutdown())
                .await
                .expect("raft stops in time")
                .expect("raft shutdown");
        }

        /// The state once this node has applied `index`.
        async fn state_at(&self, index: u64) -> Arc<ClusterState> {
            let mut rx = self.applied.clone();
            let applied = timeout(
                WAIT,
                rx.wait_for(|a| a.last_applied.is_some_and(|l| l.index >= index)),
            )
            .await
            .unwrap_or_else(|_| panic!("node {} did not apply index {index} in time", self.id))
            .expect("state machine alive");
            Arc::clone(&applied.state)
        }
    }

    /// Three listeners on 127.0.0.1:0 and the voter map made of them.
    fn listeners() -> (Vec<TcpListener>, Vec<SocketAddr>, BTreeMap<u64, String>) {
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let listeners: Vec<_> = (0..3).map(|_| bind(any)).collect();
        let addrs: Vec<_> = listeners
            .iter()
            .map(|l| l.local_addr().expect("local addr"))
            .collect();
        let voters = (1..=3u64)
            .zip(addrs.iter().map(ToString::to_string))
            .collect();
        (listeners, addrs, voters)
    }

    async fn initialize(node: &Node, voters: &BTreeMap<u64, String>) {
        let members: BTreeMap<u64, BasicNode> = voters
            .iter()
            .map(|(id, addr)| (*id, BasicNode::new(addr)))
            .collect();
        node.raft.initialize(members).await.expect("initialize");
    }

    fn topic(name: &str) -> Vec<MetadataRecord> {
        vec![MetadataRecord::Topic {
            name: name.into(),
            id: Uuid::new_v4(),
        }]
    }

    /// The leader among `nodes`, once one of them leads.
    async fn leader(nodes: &[&Node]) -> u64 {
        let ids: Vec<u64> = nodes.iter().map(|n| n.id).collect();
        let m = nodes[0]
            .raft
            .wait(Some(WAIT))
            .metrics(
                |m| m.current_leader.is_some_and(|l| ids.contains(&l)),
                "a leader among the running nodes",
            )
            .await
            .expect("a leader is elected in time");
        m.current_leader.expect("checked above")
    }

    /// Write `records` through the leader among `nodes`; returns the entry's index.
    async fn write(nodes: &[&Node], records: Vec<MetadataRecord>) -> u64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let id = leader(nodes).await;
            let node = nodes
                .iter()
                .find(|n| n.id == id)
                .expect("leader is running");
            let written = timeout(WAIT, node.raft.client_write(MetadataBatch(records.clone())))
                .await
                .expect("client_write answers in time");
            match written {
                Ok(resp) => return resp.log_id.index,
                // Leadership moved between the metrics and the write: ask again.
                Err(e) => {
                    assert!(Instant::now() < deadline, "no write accepted in time: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Every node in `nodes` has applied `index` and holds the same state; returns it.
    async fn same_state(nodes: &[&Node], index: u64) -> Arc<ClusterState> {
        let first = nodes[0].state_at(index).await;
        for node in &nodes[1..] {
            let state = node.state_at(index).await;
            assert_eq!(
                *state, *first,
                "node {} differs from node {}",
                node.id, nodes[0].id
            );
        }
        first
    }

    fn assert_topics(state: &ClusterState, names: &[&str]) {
        let have: Vec<&str> = state.names.keys().map(String::as_str).collect();
        assert_eq!(have, names);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn three_voters_replicate_fail_over_and_catch_up() {
        let dirs: Vec<_> = (0..3)
            .map(|_| tempfile::tempdir().expect("tempdir"))
            .collect();
        let (listeners, addrs, voters) = listeners();
        let mut nodes = Vec::new();
        for ((id, listener), dir) in (1..=3u64).zip(listeners).zip(&dirs) {
            nodes.push(Some(
                Node::start(id, dir.path(), listener, &voters, fast()).await,
            ));
        }
        initialize(nodes[0].as_ref().expect("node 1"), &voters).await;

        let all: Vec<&Node> = nodes.iter().flatten().collect();
        write(&all, topic("a")).await;
        write(&all, topic("b")).await;
        let index = write(&all, topic("c")).await;
        let state = same_state(&all, index).await;
        assert_topics(&state, &["a", "b", "c"]);

        // The leader goes away: the other two elect one of themselves and take a write.
        let old = leader(&all).await;
        let slot = usize::try_from(old - 1).expect("small id");
        nodes[slot].take().expect("leader running").stop().await;
        let rest: Vec<&Node> = nodes.iter().flatten().collect();
        assert_eq!(rest.len(), 2);
        let index = write(&rest, topic("d")).await;
        let new = leader(&rest).await;
        assert_ne!(new, old, "a stopped node cannot lead");
        let state = same_state(&rest, index).await;
        assert_topics(&state, &["a", "b", "c", "d"]);

        // It comes back on the same directory and port, and catches up.
        let listener = bind(addrs[slot]);
        let back = Node::start(old, dirs[slot].path(), listener, &voters, fast()).await;
        nodes[slot] = Some(back);
        let all: Vec<&Node> = nodes.iter().flatten().collect();
        let state = same_state(&all, index).await;
        assert_topics(&state, &["a", "b", "c", "d"]);
        // And it takes part in the quorum again: a write reaches all three.
        let index = write(&all, topic("e")).await;
        let state = same_state(&all, index).await;
        assert_topics(&state, &["a", "b", "c", "d", "e"]);

        for node in nodes.into_iter().flatten() {
            node.stop().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_that_was_down_gets_a_snapshot_over_the_wire() {
        let dirs: Vec<_> = (0..3)
            .map(|_| tempfile::tempdir().expect("tempdir"))
            .collect();
        let (listeners, addrs, voters) = listeners();
        // Nodes 1 and 2 snapshot every 3 entries and keep no log behind a snapshot. Node 3 never
        // builds a snapshot: one it holds can only have come through InstallSnapshot.
        let snapshotting = config(SnapshotPolicy::LogsSinceLast(3), 0);
        let never = config(SnapshotPolicy::Never, 0);
        let mut nodes = Vec::new();
        for ((id, listener), dir) in (1..=3u64).zip(listeners).zip(&dirs) {
            let config = if id == 3 {
                Arc::clone(&never)
            } else {
                Arc::clone(&snapshotting)
            };
            nodes.push(Node::start(id, dir.path(), listener, &voters, config).await);
        }
        initialize(&nodes[0], &voters).await;
        let all: Vec<&Node> = nodes.iter().collect();
        let index = write(&all, topic("a")).await;
        same_state(&all, index).await;

        let third = nodes.pop().expect("node 3");
        let m = third.raft.metrics().borrow().clone();
        assert_eq!(m.snapshot, None, "node 3 builds no snapshot of its own");
        let left_at = m.last_log_index.expect("node 3 has a log");
        third.stop().await;

        let rest: Vec<&Node> = nodes.iter().collect();
        let mut index = 0;
        for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            index = write(&rest, topic(name)).await;
        }
        let expected = same_state(&rest, index).await;
        // Both have purged the entries node 3 is missing: it can only catch up by a snapshot.
        for node in &rest {
            node.raft
                .wait(Some(WAIT))
                .metrics(
                    |m| m.purged.is_some_and(|p| p.index > left_at + 1),
                    "log purged past node 3's end",
                )
                .await
                .expect("purged in time");
        }

        let back = Node::start(3, dirs[2].path(), bind(addrs[2]), &voters, never).await;
        let state = back.state_at(index).await;
        assert_eq!(*state, *expected);
        assert_topics(&state, &["a", "b", "c", "d", "e", "f", "g", "h", "i"]);
        let m = back.raft.metrics().borrow().clone();
        let snapshot = m.snapshot.expect("node 3 installed a snapshot");
        assert!(
            snapshot.index > left_at + 1,
            "the snapshot ({snapshot}) covers what node 3 missed (from {left_at})"
        );

        back.stop().await;
        for node in nodes {
            node.stop().await;
        }
    }

    /// What a scripted peer does with one request: the bytes to send back (length prefix
    /// included) and whether to close the connection after them.
    type Script = fn(i16, i32) -> (Vec<u8>, bool);

    /// A scripted peer on 127.0.0.1:0; returns its address and its count of accepted connections.
    async fn fake_peer(script: Script) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    loop {
                        let Ok(len) = s.read_i32().await else { return };
                        let mut buf = vec![0; usize::try_from(len).expect("length")];
                        if s.read_exact(&mut buf).await.is_err() {
                            return;
                        }
                        let key = i16::from_be_bytes([buf[0], buf[1]]);
                        let corr = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                        let (answer, close) = script(key, corr);
                        if s.write_all(&answer).await.is_err() || close {
                            return;
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    fn response(corr: i32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_i32(i32::try_from(4 + body.len()).expect("small"));
        out.put_i32(corr);
        out.put_slice(body);
        out
    }

    /// An ApiVersions v0 answer listing `keys`.
    fn listing(corr: i32, keys: &[i16]) -> Vec<u8> {
        let mut body = Vec::new();
        body.put_i16(0);
        body.put_i32(i32::try_from(keys.len()).expect("small"));
        for key in keys {
            body.put_i16(*key);
            body.put_i16(0);
            body.put_i16(0);
        }
        response(corr, &body)
    }

    fn controller_listing(corr: i32) -> Vec<u8> {
        listing(
            corr,
            &[
                18, 10000, 10001, 10002, 10003, 10004, 10005, 10006, 10007, 10008,
            ],
        )
    }

    fn granted(corr: i32) -> Vec<u8> {
        let ok: Result<VoteResponse<u64>, RaftError<u64>> =
            Ok(VoteResponse::new(Vote::new(1, 1), None, true));
        response(corr, &serde_json::to_vec(&ok).expect("json"))
    }

    async fn peer_at(addr: SocketAddr) -> QuorumPeer {
        let voters = BTreeMap::from([(2, addr.to_string())]);
        QuorumNetwork::new(1, voters)
            .new_client(2, &BasicNode::new(addr))
            .await
    }

    async fn vote(client: &mut QuorumPeer, ttl: Duration) -> Result<VoteResponse<u64>, String> {
        let req = VoteRequest::new(Vote::new(1, 1), None);
        match client.vote(req, RPCOption::new(ttl)).await {
            Ok(r) => Ok(r),
            Err(RPCError::Unreachable(e)) => Err(format!("unreachable: {e}")),
            Err(RPCError::Network(e)) => Err(format!("network: {e}")),
            Err(e) => Err(format!("other: {e}")),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_are_shared_reused_and_redialled() {
        // One connection serves the RPCs of every client of the same peer.
        let (addr, accepted) = fake_peer(|key, corr| match key {
            18 => (controller_listing(corr), false),
            _ => (granted(corr), false),
        })
        .await;
        let voters = BTreeMap::from([(2, addr.to_string())]);
        let mut net = QuorumNetwork::new(1, voters);
        for _ in 0..3 {
            let mut client = net.new_client(2, &BasicNode::new(addr)).await;
            let r = vote(&mut client, WAIT).await.expect("vote answered");
            assert!(r.vote_granted);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);

        // A peer that closes after every answer: the pooled connection is stale at the next
        // RPC, which is retried once on a new connection.
        let (addr, accepted) = fake_peer(|key, corr| match key {
            18 => (controller_listing(corr), false),
            _ => (granted(corr), true),
        })
        .await;
        let mut client = peer_at(addr).await;
        for _ in 0..3 {
            vote(&mut client, WAIT).await.expect("vote answered");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transport_failures_map_to_openraft_errors() {
        // A target that is not among the voters.
        let mut net = QuorumNetwork::new(1, BTreeMap::new());
        let mut client = net.new_client(7, &BasicNode::default()).await;
        let e = vote(&mut client, WAIT).await.expect_err("unknown target");
        assert!(e.starts_with("unreachable"), "{e}");

        // Nobody listening.
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let closed = bind(any).local_addr().expect("addr");
        let e = vote(&mut peer_at(closed).await, WAIT)
            .await
            .expect_err("closed");
        assert!(e.starts_with("unreachable"), "{e}");

        // A Kafka listener that does not serve the private keys.
        let (addr, _) = fake_peer(|_, corr| (listing(corr, &[18, 0, 3]), false)).await;
        let e = vote(&mut peer_at(addr).await, WAIT)
            .await
            .expect_err("not ours");
        assert!(
            e.starts_with("unreachable") && e.contains("RaftVote"),
            "{e}"
        );

        // A response claiming 2 GiB: refused at once, not read.
        let (addr, _) = fake_peer(|key, corr| match key {
            18 => (controller_listing(corr), false),
            _ => {
                let mut huge = Vec::new();
                huge.put_i32(i32::MAX);
                huge.put_i32(corr);
                (huge, false)
            }
        })
        .await;
        let started = Instant::now();
        let e = vote(&mut peer_at(addr).await, WAIT)
            .await
            .expect_err("too large");
        assert!(
            e.starts_with("network") && e.contains("response size"),
            "{e}"
        );
        assert!(started.elapsed() < WAIT);

        // A wrong correlation id.
        let (addr, _) = fake_peer(|key, corr| match key {
            18 => (controller_listing(corr), false),
            _ => (granted(corr + 1), false),
        })
        .await;
        let e = vote(&mut peer_at(addr).await, WAIT)
            .await
            .expect_err("mismatch");
        assert!(e.starts_with("network") && e.contains("correlation"), "{e}");

        // A body that is not JSON of the answer.
        let (addr, _) = fake_peer(|key, corr| match key {
            18 => (controller_listing(corr), false),
            _ => (response(corr, b"{}"), false),
        })
        .await;
        let e = vote(&mut peer_at(addr).await, WAIT)
            .await
            .expect_err("bad body");
        assert!(e.starts_with("network"), "{e}");

        // A peer that never answers: a network error once hard_ttl has passed.
        let (addr, _) = fake_peer(|key, corr| match key {
            18 => (controller_listing(corr), false),
            _ => (Vec::new(), false),
        })
        .await;
        let ttl = Duration::from_millis(300);
        let started = Instant::now();
        let e = vote(&mut peer_at(addr).await, ttl)
            .await
            .expect_err("silent");
        assert!(e.starts_with("network") && e.contains("hard_ttl"), "{e}");
        let took = started.elapsed();
        assert!(took >= ttl && took < WAIT, "{took:?}");
    }
}
