//! The controller quorum's network transport, server side: openraft's RPCs received in Kafka
//! framing on the controller listener and handed to the local [`Raft`].
//!
//! It exists so that controllers talk to each other the way Kafka's do: one TCP listener
//! (`controller.listener.names`), length-prefixed Kafka frames, an ApiVersions exchange first.
//! Kafka's controllers speak KRaft's Vote/BeginQuorumEpoch/Fetch; ours run openraft, whose
//! messages have no Kafka schema, so they travel under minikafka-private API keys:
//!
//! | key     | name                   | version | request body (JSON)                   | response body (JSON)                                         |
//! |---------|------------------------|---------|---------------------------------------|--------------------------------------------------------------|
//! | 18      | ApiVersions            | 0..=4   | Kafka's                               | Kafka's: exactly ApiVersions, DescribeQuorum, DescribeCluster and the keys below |
//! | 55      | DescribeQuorum         | 0..=2   | Kafka's                               | Kafka's (the active controller only; NOT_LEADER_OR_FOLLOWER elsewhere) |
//! | 60      | DescribeCluster        | 0..=2   | Kafka's (controller endpoint type)    | Kafka's: the voters' endpoints and the active controller      |
//! | 10000   | RaftVote               | 0       | `VoteRequest<u64>`                    | `Result<VoteResponse<u64>, RaftError<u64>>`                  |
//! | 10001   | RaftAppendEntries      | 0       | `AppendEntriesRequest<TypeConfig>`    | `Result<AppendEntriesResponse<u64>, RaftError<u64>>`         |
//! | 10002   | RaftInstallSnapshot    | 0       | `InstallSnapshotRequest<TypeConfig>`  | `Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>` |
//! | 10003   | ControllerPropose      | 0       | `MetadataBatch`                       | `Result<u64 /* log index */, RaftError<u64, ClientWriteError<u64, BasicNode>>>` |
//! | 10004   | BrokerHeartbeat        | 0       | `brokers::Heartbeat`                  | `Result<brokers::HeartbeatAnswer, RaftError<u64, ClientWriteError<u64, BasicNode>>>` |
//! | 10005   | ControllerReadIndex    | 0       | `null`                                | `Result<Option<u64> /* index to apply up to */, RaftError<u64, CheckIsLeaderError<u64, BasicNode>>>` |
//! | 10006   | ControllerDescribe     | 0       | `null`                                | `Result<QuorumDescription, RaftError<u64, Infallible>>` (the receiver's view; asked of the leader) |
//! | 10007   | ObserverJoin           | 0       | `Attach` (`{"id": node}`)             | `Result<u64 /* membership log index, 0: already */, RaftError<u64, ClientWriteError<u64, BasicNode>>>` |
//! | 10008   | ObserverAttach         | 0       | `Attach` (`{"id": node}`)             | `Result<(), String>`; then the connection changes direction (below) |
//!
//! DescribeQuorum and DescribeCluster are Kafka's, for Kafka's tools pointed at a controller
//! (`kafka-metadata-quorum --bootstrap-controller`); see [`super::kafka_apis`].
//!
//! ControllerPropose is how a voter that does not lead hands a metadata change to the active
//! controller (Kafka's brokers forward admin requests in an Envelope for the same reason).
//! BrokerHeartbeat is a broker's lease renewal (Kafka's BrokerHeartbeat, key 63, whose schema
//! carries KRaft's offsets and epochs that openraft has no use for; see [`super::brokers`]).
//! ControllerReadIndex is a follower's linearizable read: the active controller confirms it
//! still leads and answers the index the follower must apply before it may say a topic does not
//! exist.
//!
//! Broker-only nodes (`process.roles=broker`) follow the metadata log as openraft learners, which
//! Kafka calls observers. They bind no controller listener (Kafka's configuration forbids one),
//! so the voters cannot dial them: an observer asks the active controller to add it as a learner
//! (ObserverJoin) and hands every voter a few connections of its own (ObserverAttach). Once
//! ObserverAttach is answered with `Ok`, the voter is the one sending requests on that connection
//! (AppendEntries, InstallSnapshot, in this same framing) and the observer answers them; the
//! connection no longer counts against [`MAX_CONNECTIONS`] but against the observer's pool
//! (see [`super::network::QuorumNetwork::attach`]).
//!
//! A request is `i32 length | i16 api_key | i16 api_version | i32 correlation_id |
//! nullable string client_id | body` (request header v1; ApiVersions v3+ uses header v2, decoded
//! by `kafka-protocol`); a response is `i32 length | i32 correlation_id | body` (response header
//! v0). The private bodies are serde JSON of openraft's own types, so a Raft error on the remote
//! node comes back whole and the client turns it into `RPCError::RemoteError`.
//!
//! Bounds: a request longer than [`MAX_REQUEST_BYTES`] closes the connection before any of its
//! body is read; the body is read into a buffer that grows with the bytes that arrive, never to
//! the claimed size up front, and must arrive within [`REQUEST_READ_TIMEOUT`] of its length
//! prefix; at most [`MAX_CONNECTIONS`] connections are served at once (more wait in the
//! kernel's backlog). Anything else on this listener — an unknown API key, an unsupported
//! version, bytes that do not decode — closes that connection with a log line naming the peer,
//! as Kafka brokers do; other connections are untouched. Connections may stay idle as long as
//! they like: peers keep theirs open between RPCs.
//!
//! The client side is [`super::network`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Message};
use openraft::Raft;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::net::stream::Stream;
use crate::net::tls::Tls;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Instrument};

use super::brokers::Leases;
use super::store::Applied;
pub use super::wire::{
    private_api_keys, Attach, API_VERSIONS, BROKER_HEARTBEAT, CONTROLLER_DESCRIBE,
    CONTROLLER_PROPOSE, CONTROLLER_READ_INDEX, DESCRIBE_CLUSTER, DESCRIBE_QUORUM,
    MAX_REQUEST_BYTES, OBSERVER_ATTACH, OBSERVER_JOIN, RAFT_API_VERSION, RAFT_APPEND_ENTRIES,
    RAFT_INSTALL_SNAPSHOT, RAFT_VOTE,
};
use super::{ClusterState, TypeConfig};
use tokio::sync::watch;

/// Smallest request: api key, api version, correlation id.
const MIN_REQUEST_BYTES: usize = 8;

/// How long the rest of a request may take to arrive once its length prefix is in (a peer that
/// trickles a frame cannot hold its connection, and the memory it has sent, forever).
pub const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections served at once; the controller listener has a handful of peers, each with a few
/// connections, so this only stops a misdirected flood.
pub const MAX_CONNECTIONS: usize = 64;

/// How long the accept loop waits after an accept error (out of file descriptors…) before it
/// tries again, so that it does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// What the controller listener serves: the local Raft, the state it applied, the broker leases.
#[derive(Clone)]
pub struct Services {
    /// The local Raft node.
    pub raft: Raft<TypeConfig>,
    /// The state this node applied.
    pub applied: watch::Receiver<Applied<TypeConfig, ClusterState>>,
    /// The broker leases (used while this node is the active controller).
    pub leases: Arc<Leases>,
    /// Where attached observer connections go (a quorum with peers); `None` refuses them.
    pub network: Option<super::network::QuorumNetwork>,
    /// The voters' controller endpoints, for Kafka's tools (DescribeCluster, DescribeQuorum).
    pub endpoints: Arc<Vec<super::kafka_apis::VoterEndpoint>>,
}

/// What one request left the connection to.
enum Step {
    /// Answered; read the next.
    Next,
    /// The peer closed between requests.
    Closed,
    /// ObserverAttach was accepted: the connection now belongs to observer `id`'s pool.
    Attached(u64),
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

/// Serve openraft's RPCs and the heartbeats on `listener` until `shutdown` is cancelled; returns once
/// the listener is closed and every connection task has ended.
///
/// Each connection is served by a task of its own, one request at a time in arrival order
/// (openraft's RPCs of one client are sequential anyway).
pub async fn serve(listener: TcpListener, services: Services, shutdown: CancellationToken) {
    serve_tls(listener, services, shutdown, None).await;
}

/// [`serve`], over TLS with `tls` (an SSL controller listener): each connection's handshake runs
/// on its own task, bounded by [`crate::net::tls::HANDSHAKE_TIMEOUT`]; a failed one closes that
/// connection with a log line naming the peer.
pub async fn serve_tls(
    listener: TcpListener,
    services: Services,
    shutdown: CancellationToken,
    tls: Option<Tls>,
) {
    let local = listener.local_addr().ok();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    info!(addr = ?local, "controller listener serving");
    loop {
        // Reap the connection tasks that have ended (the set would otherwise keep their results).
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                // Never closed; if it were, there would be nothing left to serve with.
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(addr = ?local, error = %e, "controller listener: accept failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                    }
                }
            },
        };
        let services = services.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        let span = tracing::info_span!("controller_connection", %peer);
        connections.spawn(
            async move {
                let _slot = slot;
                let _ = stream.set_nodelay(true);
                let stream = match tls {
                    None => Stream::Plain(stream),
                    Some(tls) => match crate::net::tls::accept(&tls, stream).await {
                        Ok(s) => Stream::Tls(Box::new(s)),
                        Err(e) => {
                            warn!(%peer, error = %e, "controller listener: TLS handshake failed; connection closed");
                            return;
                        }
                    },
                };
                serve_connection(stream, peer, &services, &shutdown).await;
            }
            .instrument(span),
        );
    }
    drop(listener);
    // Every connection task watches the same token: they end at their next await.
    while connections.join_next().await.is_some() {}
    info!(addr = ?local, "controller listener stopped");
}

/// Why a connection was closed by this side.
#[derive(Debug, thiserror::Error)]
enum CloseReason {
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error("request size {0} is outside {MIN_REQUEST_BYTES}..={MAX_REQUEST_BYTES} bytes")]
    BadSize(i64),
    #[error("request of {0} bytes not received within {REQUEST_READ_TIMEOUT:?} of its length")]
    SlowRequest(usize),
    #[error("API key {0} is not served on the controller listener")]
    UnknownApiKey(i16),
    #[error("version {version} of API key {key} is not served on the controller listener")]
    UnsupportedVersion { key: i16, version: i16 },
    #[error("API key {key} version {version}: undecodable request: {reason}")]
    Decode {
        key: i16,
        version: i16,
        reason: String,
    },
    #[error("API key {key}: response not encodable: {reason}")]
    Encode { key: i16, reason: String },
}

/// Serve one connection until the peer closes it, it misbehaves, or shutdown.
async fn serve_connection(
    mut stream: Stream,
    peer: SocketAddr,
    services: &Services,
    shutdown: &CancellationToken,
) {
    debug!("controller connection accepted");
    loop {
        let step = tokio::select! {
            () = shutdown.cancelled() => return,
            step = serve_one(&mut stream, services) => step,
        };
        match step {
            Ok(Step::Next) => {}
            Ok(Step::Closed) => {
                debug!("controller connection closed by the peer");
                return;
            }
            Ok(Step::Attached(id)) => {
                if let Some(network) = &services.network {
                    if network.attach(id, stream) {
                        debug!(observer = id, "observer connection attached");
                    }
                }
                return;
            }
            Err(e @ CloseReason::Io(_)) => {
                debug!(%peer, error = %e, "controller connection failed");
                return;
            }
            Err(e @ (CloseReason::UnknownApiKey(_) | CloseReason::UnsupportedVersion { .. })) => {
                info!(%peer, error = %e, "closing controller connection");
                return;
            }
            Err(e) => {
                warn!(%peer, error = %e, "closing controller connection");
                return;
            }
        }
    }
}

/// Read, handle and answer one request.
async fn serve_one(stream: &mut Stream, services: &Services) -> Result<Step, CloseReason> {
    let Some(frame) = read_frame(stream).await? else {
        return Ok(Step::Closed);
    };
    if i16::from_be_bytes([frame[0], frame[1]]) == OBSERVER_ATTACH {
        let (response, id) = attach(frame, services)?;
        stream.write_all(&response).await?;
        return Ok(id.map_or(Step::Next, Step::Attached));
    }
    let response = handle(frame, services).await?;
    stream.write_all(&response).await?;
    Ok(Step::Next)
}

/// Serve a connection that this node made to a voter and attached (see the module docs): the
/// voter's requests are answered as on a controller listener until it closes the connection.
pub async fn serve_attached(
    stream: Stream,
    peer: SocketAddr,
    services: &Services,
    shutdown: &CancellationToken,
) {
    serve_connection(stream, peer, services, shutdown).await;
}

/// The private keys' common checks and header: `(key, correlation_id, body)`.
fn private_request(mut frame: Bytes) -> Result<(i16, i32, Bytes), CloseReason> {
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    if version != RAFT_API_VERSION {
        return Err(CloseReason::UnsupportedVersion { key, version });
    }
    frame.advance(MIN_REQUEST_BYTES);
    skip_client_id(&mut frame).map_err(|reason| CloseReason::Decode {
        key,
        version,
        reason,
    })?;
    Ok((key, correlation_id, frame))
}

/// ObserverAttach: the answer, and the observer's id when the connection is to be kept (this
/// node has peers and the sender is not one of the voters).
fn attach(frame: Bytes, services: &Services) -> Result<(BytesMut, Option<u64>), CloseReason> {
    let (key, correlation_id, body) = private_request(frame)?;
    let request: Attach = parse_json(&body).map_err(|reason| CloseReason::Decode {
        key,
        version: RAFT_API_VERSION,
        reason,
    })?;
    let voter = {
        let m = services.raft.metrics();
        let m = m.borrow();
        m.id == request.id
            || m.membership_config
                .membership()
                .voter_ids()
                .any(|v| v == request.id)
    };
    let answer: Result<(), String> = match &services.network {
        None => Err("this controller has no peers: it takes no observers".into()),
        Some(_) if voter => Err(format!(
            "node {} is a voter (or this node), not an observer",
            request.id
        )),
        Some(_) => Ok(()),
    };
    let kept = answer.is_ok().then_some(request.id);
    let body = to_json(&answer).map_err(|e| CloseReason::Encode {
        key,
        reason: e.to_string(),
    })?;
    Ok((response_frame(correlation_id, &body), kept))
}

/// Read one request frame (without its length prefix). `Ok(None)`: the peer closed the
/// connection before the next length prefix was complete.
async fn read_frame(stream: &mut Stream) -> Result<Option<Bytes>, CloseReason> {
    let size = match stream.read_i32().await {
        Ok(size) => size,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let len = usize::try_from(size)
        .ok()
        .filter(|n| (MIN_REQUEST_BYTES..=MAX_REQUEST_BYTES).contains(n))
        .ok_or(CloseReason::BadSize(i64::from(size)))?;
    // `read_to_end` grows the buffer as bytes arrive: a peer that claims 100 MiB and sends 10
    // bytes costs a few bytes, not 100 MiB.
    let mut buf = Vec::new();
    let mut body = (&mut *stream).take(len as u64);
    match tokio::time::timeout(REQUEST_READ_TIMEOUT, body.read_to_end(&mut buf)).await {
        Err(_) => Err(CloseReason::SlowRequest(len)),
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(n)) if n < len => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("connection closed in the middle of a request ({n} of {len} bytes)"),
        )
        .into()),
        Ok(Ok(_)) => Ok(Some(Bytes::from(buf))),
    }
}

/// Handle one request frame; returns the whole response frame, length prefix included.
async fn handle(mut frame: Bytes, services: &Services) -> Result<BytesMut, CloseReason> {
    let raft = &services.raft;
    // `read_frame` guarantees at least MIN_REQUEST_BYTES.
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let decode_error = |reason: String| CloseReason::Decode {
        key,
        version,
        reason,
    };
    if key == API_VERSIONS {
        let served = ApiVersionsRequest::VERSIONS;
        if version < served.min || version > served.max {
            // Kafka's answer to an ApiVersions it does not know: the v0 layout with
            // UNSUPPORTED_VERSION and the list, so the client can pick a version it shares.
            debug!(version, "unsupported ApiVersions version");
            let mut resp = advertised();
            resp.error_code = kafka_protocol::error::ResponseError::UnsupportedVersion.code();
            return encode_api_versions(correlation_id, &resp, 0);
        }
        let header_version = ApiKey::ApiVersions.request_header_version(version);
        let header = RequestHeader::decode(&mut frame, header_version)
            .map_err(|e| decode_error(e.to_string()))?;
        ApiVersionsRequest::decode(&mut frame, version).map_err(|e| decode_error(e.to_string()))?;
        debug!(
            client_id = ?header.client_id.as_deref(),
            version, "ApiVersions"
        );
        return encode_api_versions(correlation_id, &advertised(), version);
    }
    if key == DESCRIBE_QUORUM || key == DESCRIBE_CLUSTER {
        return kafka_api(frame, services);
    }
    if !private_api_keys().iter().any(|(k, _)| *k == key) {
        return Err(CloseReason::UnknownApiKey(key));
    }
    if version != RAFT_API_VERSION {
        return Err(CloseReason::UnsupportedVersion { key, version });
    }
    // Request header v1: the fixed fields, then the nullable client id.
    frame.advance(MIN_REQUEST_BYTES);
    skip_client_id(&mut frame).map_err(decode_error)?;
    let body = frame;
    let response = match key {
        RAFT_VOTE => {
            let req = parse_json(&body).map_err(decode_error)?;
            to_json(&raft.vote(req).await)
        }
        RAFT_APPEND_ENTRIES => {
            let req = parse_json(&body).map_err(decode_error)?;
            to_json(&raft.append_entries(req).await)
        }
        CONTROLLER_PROPOSE => {
            let batch: super::MetadataBatch = parse_json(&body).map_err(decode_error)?;
            let written = raft.client_write(batch).await.map(|r| r.log_id.index);
            if written.is_ok() {
                super::tell_followers(raft).await;
            }
            to_json(&written)
        }
        CONTROLLER_READ_INDEX => {
            let () = parse_json(&body).map_err(decode_error)?;
            let index = raft.ensure_linearizable().await.map(|l| l.map(|l| l.index));
            to_json(&index)
        }
        CONTROLLER_DESCRIBE => {
            let () = parse_json(&body).map_err(decode_error)?;
            let d: Result<super::QuorumDescription, openraft::error::RaftError<u64>> =
                Ok(super::describe_raft(raft, &services.applied));
            to_json(&d)
        }
        OBSERVER_JOIN => {
            let a: Attach = parse_json(&body).map_err(decode_error)?;
            to_json(&join(raft, services.network.as_ref(), a.id).await)
        }
        BROKER_HEARTBEAT => {
            let hb: super::brokers::Heartbeat = parse_json(&body).map_err(decode_error)?;
            let answer =
                super::brokers::heartbeat(raft, &services.applied, &services.leases, hb).await;
            to_json(&answer)
        }
        _ => {
            let req = parse_json(&body).map_err(decode_error)?;
            to_json(&raft.install_snapshot(req).await)
        }
    }
    .map_err(|e| CloseReason::Encode {
        key,
        reason: e.to_string(),
    })?;
    Ok(response_frame(correlation_id, &response))
}

/// DescribeQuorum or DescribeCluster from one of Kafka's tools (`--bootstrap-controller`),
/// decoded and answered with kafka-protocol's codecs (see [`super::kafka_apis`]). DescribeQuorum
/// is answered by the active controller only (NOT_LEADER_OR_FOLLOWER elsewhere, as Kafka's
/// controllers do); DescribeCluster names the active controller, to which the tools send it.
fn kafka_api(mut frame: Bytes, services: &Services) -> Result<BytesMut, CloseReason> {
    use kafka_protocol::messages::{DescribeClusterRequest, DescribeQuorumRequest, ResponseHeader};
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    if !(0..=super::kafka_apis::MAX_VERSION).contains(&version) {
        return Err(CloseReason::UnsupportedVersion {
            key: raw_key,
            version,
        });
    }
    let api = if raw_key == DESCRIBE_QUORUM {
        ApiKey::DescribeQuorum
    } else {
        ApiKey::DescribeCluster
    };
    let decode_error = |e: anyhow::Error| CloseReason::Decode {
        key: raw_key,
        version,
        reason: e.to_string(),
    };
    let encode_error = |e: anyhow::Error| CloseReason::Encode {
        key: raw_key,
        reason: e.to_string(),
    };
    RequestHeader::decode(&mut frame, api.request_header_version(version)).map_err(decode_error)?;
    let m = services.raft.metrics().borrow().clone();
    let leader = m.current_leader.and_then(|l| i32::try_from(l).ok());
    let mut body = BytesMut::new();
    if api == ApiKey::DescribeQuorum {
        let req = DescribeQuorumRequest::decode(&mut frame, version).map_err(decode_error)?;
        let mut d = super::describe_raft(&services.raft, &services.applied);
        if m.current_leader != Some(m.id) {
            d.leader = None;
        }
        super::kafka_apis::describe_quorum(&req, &d, version, &services.endpoints)
            .encode(&mut body, version)
            .map_err(encode_error)?;
    } else {
        let req = DescribeClusterRequest::decode(&mut frame, version).map_err(decode_error)?;
        let cluster_id = services.applied.borrow().state.cluster_id.clone();
        super::kafka_apis::describe_cluster(
            &req,
            version,
            cluster_id.as_deref(),
            leader,
            &services.endpoints,
        )
        .encode(&mut body, version)
        .map_err(encode_error)?;
    }
    let mut out = BytesMut::with_capacity(body.len() + 16);
    out.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, api.response_header_version(version))
        .map_err(encode_error)?;
    out.put_slice(&body);
    let len = i32::try_from(out.len() - 4).unwrap_or(i32::MAX);
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

/// ObserverJoin on this node: make `id` a learner unless it is one (or a voter) already. On a
/// node that does not lead, openraft answers ForwardToLeader.
///
/// Bounded: only an observer that has attached a connection here is added (the one way this
/// node can reach it), and at most [`super::network::MAX_OBSERVERS`] learners; otherwise the
/// answer is LearnerNotFound and the observer asks again later.
async fn join(
    raft: &Raft<TypeConfig>,
    network: Option<&super::network::QuorumNetwork>,
    id: u64,
) -> Result<
    u64,
    openraft::error::RaftError<u64, openraft::error::ClientWriteError<u64, openraft::BasicNode>>,
> {
    use openraft::error::{ChangeMembershipError, ClientWriteError, LearnerNotFound, RaftError};
    let m = raft.metrics().borrow().clone();
    let leads = m.current_leader == Some(m.id);
    let membership = m.membership_config.membership();
    if leads && membership.get_node(&id).is_some() {
        return Ok(0);
    }
    let attached = network.is_some_and(|n| n.has_observer(id));
    let learners = membership.learner_ids().count();
    if leads && (!attached || learners >= super::network::MAX_OBSERVERS) {
        return Err(RaftError::APIError(
            ClientWriteError::ChangeMembershipError(ChangeMembershipError::LearnerNotFound(
                LearnerNotFound { node_id: id },
            )),
        ));
    }
    let added = raft
        .add_learner(id, openraft::BasicNode::default(), false)
        .await?;
    info!(
        observer = id,
        index = added.log_id.index,
        "added an observer (broker-only node) to the metadata log's learners"
    );
    Ok(added.log_id.index)
}

/// Skip request header v1's `client_id` (nullable string: i16 length, -1 = null).
fn skip_client_id(buf: &mut Bytes) -> Result<(), String> {
    if buf.remaining() < 2 {
        return Err("request header ends before its client id".into());
    }
    let len = buf.get_i16();
    if len < 0 {
        return Ok(());
    }
    let len = usize::try_from(len).unwrap_or(0);
    if buf.remaining() < len {
        return Err(format!(
            "client id of {len} bytes is longer than the rest of the request"
        ));
    }
    buf.advance(len);
    Ok(())
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(value)
}

/// What ApiVersions advertises on the controller listener: itself and the private keys.
fn advertised() -> ApiVersionsResponse {
    let served = ApiVersionsRequest::VERSIONS;
    let mut keys = vec![ApiVersion::default()
        .with_api_key(API_VERSIONS)
        .with_min_version(served.min)
        .with_max_version(served.max)];
    keys.extend([DESCRIBE_QUORUM, DESCRIBE_CLUSTER].map(|key| {
        ApiVersion::default()
            .with_api_key(key)
            .with_min_version(0)
            .with_max_version(super::kafka_apis::MAX_VERSION)
    }));
    keys.extend(private_api_keys().iter().map(|(key, _)| {
        ApiVersion::default()
            .with_api_key(*key)
            .with_min_version(RAFT_API_VERSION)
            .with_max_version(RAFT_API_VERSION)
    }));
    ApiVersionsResponse::default().with_api_keys(keys)
}

/// An ApiVersions response frame (its response header is v0 at every version).
fn encode_api_versions(
    correlation_id: i32,
    resp: &ApiVersionsResponse,
    version: i16,
) -> Result<BytesMut, CloseReason> {
    let mut body = BytesMut::new();
    resp.encode(&mut body, version)
        .map_err(|e| CloseReason::Encode {
            key: API_VERSIONS,
            reason: e.to_string(),
        })?;
    Ok(response_frame(correlation_id, &body))
}

/// `i32 length | i32 correlation_id | body`.
fn response_frame(correlation_id: i32, body: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(8 + body.len());
    // Responses are at most a few KiB (a vote, a log id, an error), far below 2 GiB.
    out.put_i32(i32::try_from(4 + body.len()).unwrap_or(i32::MAX));
    out.put_i32(correlation_id);
    out.put_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use kafka_protocol::protocol::StrBytes;
    use openraft::error::{RPCError, RaftError};
    use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
    use openraft::raft::{VoteRequest, VoteResponse};
    use openraft::{BasicNode, Config, Vote};
    use tempfile::TempDir;
    use tokio::net::TcpStream;
    use tokio::task::JoinHandle;
    use tokio::time::timeout;

    use super::*;
    use crate::controller::network::{QuorumNetwork, QuorumPeer};
    use crate::controller::store::{LogStore, StateMachineStore};
    use crate::controller::wire::request_frame;
    use crate::controller::ClusterState;

    const WAIT: Duration = Duration::from_secs(10);

    /// A one-node (uninitialized) Raft served on 127.0.0.1:0.
    struct Server {
        addr: SocketAddr,
        raft: Raft<TypeConfig>,
        /// The network its listener attaches observers' connections to.
        network: QuorumNetwork,
        shutdown: CancellationToken,
        task: JoinHandle<()>,
        _dir: TempDir,
    }

    async fn server() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = LogStore::<TypeConfig>::open(dir.path()).expect("log");
        let (sm, applied) =
            StateMachineStore::<TypeConfig, ClusterState>::open(dir.path()).expect("sm");
        let config = Arc::new(Config::default().validate().expect("config"));
        let network = QuorumNetwork::new(1, BTreeMap::new());
        let raft = Raft::new(1, config, network.clone(), log, sm)
            .await
            .expect("raft");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let services = Services {
            raft: raft.clone(),
            applied,
            leases: Arc::new(Leases::new(Duration::from_secs(9))),
            network: Some(network.clone()),
            endpoints: Arc::default(),
        };
        let task = tokio::spawn(serve(listener, services, shutdown.clone()));
        Server {
            addr,
            raft,
            network,
            shutdown,
            task,
            _dir: dir,
        }
    }

    /// openraft's client for node 1 at `addr`, as node 9 would have it.
    async fn client(addr: SocketAddr) -> QuorumPeer {
        let voters = BTreeMap::from([(1, addr.to_string())]);
        QuorumNetwork::new(9, voters)
            .new_client(1, &BasicNode::new(addr))
            .await
    }

    async fn vote(client: &mut QuorumPeer) -> Result<(), String> {
        let req = VoteRequest::new(Vote::new(1, 9), None);
        client
            .vote(req, RPCOption::new(WAIT))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// An ObserverAttach request for observer `id`.
    fn attach_request(id: u64, correlation_id: i32) -> Vec<u8> {
        let body = serde_json::to_vec(&Attach { id }).expect("json");
        request_frame(
            OBSERVER_ATTACH,
            RAFT_API_VERSION,
            correlation_id,
            "observer",
            &body,
        )
        .expect("frame")
    }

    /// Send `frame`, read one response: `(correlation id, body)`.
    async fn exchange(stream: &mut TcpStream, frame: &[u8]) -> (i32, Vec<u8>) {
        stream.write_all(frame).await.expect("write");
        let len = timeout(WAIT, stream.read_i32())
            .await
            .expect("answered in time")
            .expect("a response");
        let mut buf = vec![0; usize::try_from(len).expect("length")];
        stream.read_exact(&mut buf).await.expect("response body");
        let correlation = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        (correlation, buf.split_off(4))
    }

    /// An ApiVersions request at `version`, encoded by `kafka-protocol` (a version it does not
    /// know: a v1 header and no body, as a newer client's request looks to an older server).
    fn api_versions_request(version: i16, correlation_id: i32) -> Vec<u8> {
        let header = RequestHeader::default()
            .with_request_api_key(API_VERSIONS)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        let known = ApiVersionsRequest::VERSIONS.max >= version;
        let header_version = if known {
            ApiKey::ApiVersions.request_header_version(version)
        } else {
            1
        };
        let mut body = BytesMut::new();
        header.encode(&mut body, header_version).expect("header");
        if known {
            let req = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("test"))
                .with_client_software_version(StrBytes::from_static_str("0"));
            req.encode(&mut body, version).expect("request");
        }
        let mut out = Vec::new();
        out.put_i32(i32::try_from(body.len()).expect("small"));
        out.put_slice(&body);
        out
    }

    async fn api_versions(stream: &mut TcpStream, version: i16) -> ApiVersionsResponse {
        let (correlation, body) = exchange(stream, &api_versions_request(version, 42)).await;
        assert_eq!(correlation, 42);
        let mut body = Bytes::from(body);
        // A version we do not serve is answered in the v0 layout.
        let decode_version = if ApiVersionsRequest::VERSIONS.max < version {
            0
        } else {
            version
        };
        ApiVersionsResponse::decode(&mut body, decode_version).expect("decodable")
    }

    /// The peer closed the connection (EOF or reset), in time.
    async fn assert_closed(stream: &mut TcpStream, what: &str) {
        let mut buf = [0; 64];
        match timeout(WAIT, stream.read(&mut buf)).await {
            Err(_) => panic!("{what}: connection still open"),
            Ok(Ok(0) | Err(_)) => {}
            Ok(Ok(n)) => panic!("{what}: got {n} bytes instead of a close"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn api_versions_lists_exactly_the_served_keys() {
        let s = server().await;
        let mut stream = TcpStream::connect(s.addr).await.expect("connect");
        for version in [0, 3, 4] {
            let resp = api_versions(&mut stream, version).await;
            assert_eq!(resp.error_code, 0, "v{version}");
            let keys: Vec<(i16, i16, i16)> = resp
                .api_keys
                .iter()
                .map(|k| (k.api_key, k.min_version, k.max_version))
                .collect();
            assert_eq!(
                keys,
                [
                    (18, 0, 4),
                    (55, 0, 2),
                    (60, 0, 2),
                    (10000, 0, 0),
                    (10001, 0, 0),
                    (10002, 0, 0),
                    (10003, 0, 0),
                    (10004, 0, 0),
                    (10005, 0, 0),
                    (10006, 0, 0),
                    (10007, 0, 0),
                    (10008, 0, 0)
                ],
                "v{version}"
            );
        }
        // A version we do not know: UNSUPPORTED_VERSION in the v0 layout, connection kept.
        let resp = api_versions(&mut stream, 99).await;
        assert_eq!(resp.error_code, 35);
        assert_eq!(resp.api_keys.len(), 12);
        assert_eq!(api_versions(&mut stream, 3).await.error_code, 0);
        s.shutdown.cancel();
        timeout(WAIT, s.task).await.expect("stops").expect("task");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hostile_input_closes_only_its_connection() {
        let s = server().await;
        let mut good = client(s.addr).await;
        vote(&mut good).await.expect("a vote is answered");
        // A connection opened before the hostile ones, used between them.
        let mut keeper = TcpStream::connect(s.addr).await.expect("connect");
        assert_eq!(api_versions(&mut keeper, 3).await.error_code, 0);

        let frame = |key: i16, version: i16, body: &[u8]| {
            request_frame(key, version, 7, "hostile", body).expect("frame")
        };
        let length_only = |len: i32| len.to_be_bytes().to_vec();
        let mut bad_client_id = Vec::new();
        bad_client_id.put_i32(10);
        bad_client_id.put_i16(RAFT_VOTE);
        bad_client_id.put_i16(0);
        bad_client_id.put_i32(7);
        bad_client_id.put_i16(100);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("garbage JSON", frame(RAFT_APPEND_ENTRIES, 0, b"{not json")),
            ("JSON of another type", frame(RAFT_VOTE, 0, b"{\"x\":1}")),
            ("unknown key", frame(3, 12, b"")),
            ("unsupported private version", frame(RAFT_VOTE, 1, b"{}")),
            ("oversized length", length_only(i32::MAX)),
            (
                "length just over the bound",
                length_only(i32::try_from(MAX_REQUEST_BYTES + 1).expect("fits")),
            ),
            ("negative length", length_only(-1)),
            ("too short", length_only(4)),
            ("client id past the end", bad_client_id),
        ];
        for (what, bytes) in cases {
            let mut hostile = TcpStream::connect(s.addr).await.expect("connect");
            hostile.write_all(&bytes).await.expect("write");
            assert_closed(&mut hostile, what).await;
            vote(&mut good)
                .await
                .unwrap_or_else(|e| panic!("after {what}: {e}"));
            assert_eq!(api_versions(&mut keeper, 0).await.error_code, 0, "{what}");
        }

        // A Raft error on the server comes back as RemoteError.
        timeout(WAIT, s.raft.shutdown())
            .await
            .expect("raft stops")
            .expect("shutdown");
        let req = VoteRequest::new(Vote::new(2, 9), None);
        match good.vote(req, RPCOption::new(WAIT)).await {
            Err(RPCError::RemoteError(e)) => {
                assert_eq!(e.target, 1);
                assert!(matches!(e.source, RaftError::Fatal(_)), "{e}");
            }
            other => panic!("expected a RemoteError, got {other:?}"),
        }
        s.shutdown.cancel();
        timeout(WAIT, s.task).await.expect("stops").expect("task");
        // Shut down: new connections are refused.
        assert!(TcpStream::connect(s.addr).await.is_err());
    }

    #[tokio::test]
    async fn an_attached_connection_carries_the_controllers_requests_to_the_observer() {
        let server = server().await;
        // The server's own id and (were there any) its voters are refused: a voter is dialled.
        let mut own = TcpStream::connect(server.addr).await.expect("connect");
        let (_, body) = exchange(&mut own, &attach_request(1, 3)).await;
        let refused: Result<(), String> = serde_json::from_slice(&body).expect("answer");
        assert!(refused.is_err(), "{refused:?}");
        // The connection stays an ordinary one: ApiVersions still answered.
        assert_eq!(api_versions(&mut own, 0).await.error_code, 0);

        // Before anything attached, observer 7 is unreachable from the server's side.
        let mut to_observer = server
            .network
            .clone()
            .new_client(7, &BasicNode::default())
            .await;
        let req = VoteRequest::new(Vote::new(2, 1), None);
        let before = to_observer.vote(req.clone(), RPCOption::new(WAIT)).await;
        assert!(
            matches!(before, Err(RPCError::Unreachable(_))),
            "{before:?}"
        );

        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        let (correlation, body) = exchange(&mut stream, &attach_request(7, 5)).await;
        assert_eq!(correlation, 5);
        let accepted: Result<(), String> = serde_json::from_slice(&body).expect("answer");
        assert_eq!(accepted, Ok(()));

        // Now the server sends on that connection and this side (the observer) answers.
        let call = tokio::spawn(async move { to_observer.vote(req, RPCOption::new(WAIT)).await });
        let len = timeout(WAIT, stream.read_i32())
            .await
            .expect("a request in time")
            .expect("a request");
        let mut frame = vec![0; usize::try_from(len).expect("length")];
        stream.read_exact(&mut frame).await.expect("request body");
        let key = i16::from_be_bytes([frame[0], frame[1]]);
        assert_eq!(key, RAFT_VOTE);
        let correlation = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let granted: Result<VoteResponse<u64>, RaftError<u64>> =
            Ok(VoteResponse::new(Vote::new(2, 1), None, true));
        let answer = response_frame(correlation, &serde_json::to_vec(&granted).expect("json"));
        stream.write_all(&answer).await.expect("answer");
        let voted = timeout(WAIT, call)
            .await
            .expect("the vote completes")
            .expect("task");
        assert!(voted.expect("granted").vote_granted);

        server.shutdown.cancel();
        let _ = timeout(WAIT, server.task).await;
        let _ = server.raft.shutdown().await;
    }
}
