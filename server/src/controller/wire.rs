//! The controller listener's wire vocabulary, shared by its server side ([`super::rpc`]) and
//! its client side ([`super::network`]): the API keys (Kafka's and minikafka's private ones,
//! described in [`super::rpc`]), the request size bound, the private keys' one body type of its
//! own ([`Attach`]) and the request frame. It exists so that neither side imports the other for
//! these: the server hands attached observer connections to the client's pool, and only that
//! way round.

use std::io;

use bytes::BufMut;

/// Kafka's ApiVersions key: the first request of every connection from a peer.
pub const API_VERSIONS: i16 = 18;
/// minikafka-private API key: openraft's `VoteRequest` (an election).
pub const RAFT_VOTE: i16 = 10000;
/// minikafka-private API key: openraft's `AppendEntriesRequest` (replication and heartbeats).
pub const RAFT_APPEND_ENTRIES: i16 = 10001;
/// minikafka-private API key: openraft's `InstallSnapshotRequest` (one chunk of a snapshot).
pub const RAFT_INSTALL_SNAPSHOT: i16 = 10002;
/// minikafka-private API key: a `MetadataBatch` for the active controller to append, from a
/// voter that was asked for a change but does not lead (Kafka's brokers forward admin requests
/// to the active controller the same way); answered with the entry's log index.
pub const CONTROLLER_PROPOSE: i16 = 10003;
/// minikafka-private API key: a broker's heartbeat to the active controller.
pub const BROKER_HEARTBEAT: i16 = 10004;
/// minikafka-private API key: what a follower must apply to be as current as the active controller.
pub const CONTROLLER_READ_INDEX: i16 = 10005;
/// minikafka-private API key: the quorum as the receiver (the active controller) describes it.
pub const CONTROLLER_DESCRIBE: i16 = 10006;
/// minikafka-private API key: make the sender (a broker-only node) a learner of the metadata log.
pub const OBSERVER_JOIN: i16 = 10007;
/// minikafka-private API key: keep this connection to send the sender (an observer) its RPCs.
pub const OBSERVER_ATTACH: i16 = 10008;
/// Kafka's DescribeQuorum key, served for Kafka's tools (`--bootstrap-controller`).
pub const DESCRIBE_QUORUM: i16 = 55;
/// Kafka's DescribeCluster key, served for Kafka's tools (controller endpoints only).
pub const DESCRIBE_CLUSTER: i16 = 60;
/// The only version of the private API keys.
pub const RAFT_API_VERSION: i16 = 0;

/// The largest request accepted (the length prefix's value): 128 MiB.
///
/// An AppendEntries carries at most openraft's `max_payload_entries` (300 by default) metadata
/// batches, and an InstallSnapshot one chunk of at most `snapshot_max_chunk_size` bytes (3 MiB by
/// default), which JSON writes as an array of numbers: at most 4 bytes per byte (`255,`), about
/// 12 MiB. The client checks the same bound before sending: an AppendEntries over it is split
/// by openraft (`PayloadTooLarge`).
pub const MAX_REQUEST_BYTES: usize = 128 * 1024 * 1024;

/// The API keys the controller listener serves besides ApiVersions, with their names (for docs
/// and logs).
pub fn private_api_keys() -> [(i16, &'static str); 9] {
    [
        (RAFT_VOTE, "RaftVote"),
        (RAFT_APPEND_ENTRIES, "RaftAppendEntries"),
        (RAFT_INSTALL_SNAPSHOT, "RaftInstallSnapshot"),
        (CONTROLLER_PROPOSE, "ControllerPropose"),
        (BROKER_HEARTBEAT, "BrokerHeartbeat"),
        (CONTROLLER_READ_INDEX, "ControllerReadIndex"),
        (CONTROLLER_DESCRIBE, "ControllerDescribe"),
        (OBSERVER_JOIN, "ObserverJoin"),
        (OBSERVER_ATTACH, "ObserverAttach"),
    ]
}

/// The body of ObserverJoin and ObserverAttach: the observer's node id.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Attach {
    /// The observer's `node.id`.
    pub id: u64,
}

/// A request frame as the client sends it: `i32 length | i16 api_key | i16 api_version |
/// i32 correlation_id | string client_id | body` (request header v1).
pub fn request_frame(
    key: i16,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &[u8],
) -> io::Result<Vec<u8>> {
    let too_large = || io::Error::new(io::ErrorKind::InvalidInput, "request too large");
    let client_len = i16::try_from(client_id.len()).map_err(|_| too_large())?;
    let len = 10 + client_id.len() + body.len();
    if len > MAX_REQUEST_BYTES {
        return Err(too_large());
    }
    let mut out = Vec::with_capacity(4 + len);
    out.put_i32(i32::try_from(len).map_err(|_| too_large())?);
    out.put_i16(key);
    out.put_i16(version);
    out.put_i32(correlation_id);
    out.put_i16(client_len);
    out.put_slice(client_id.as_bytes());
    out.put_slice(body);
    Ok(out)
}
