//! The Kafka APIs a controller answers on its controller listener, for Kafka's own tools run
//! with `--bootstrap-controller` (`kafka-metadata-quorum`, Kafka 3.7+): DescribeCluster with the
//! controllers' endpoints and the active controller (KIP-919), and DescribeQuorum. ApiVersions
//! is answered in [`super::rpc`], which lists these two with the private keys.
//!
//! The DescribeQuorum answer is built here for the brokers' handler too
//! (`handlers/describe_quorum.rs`), so both listeners describe the quorum the same way.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, DescribeQuorumRequest,
    DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{QuorumDescription, ReplicaDescription};

/// The metadata log's topic, the one DescribeQuorum may name.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// DescribeCluster's `endpoint_type` for controllers (KIP-919; brokers are 1).
pub const CONTROLLER_ENDPOINT_TYPE: i8 = 2;

/// The highest version of DescribeQuorum and of DescribeCluster served (both from 0).
pub const MAX_VERSION: i16 = 2;

/// One voter's controller endpoint, as DescribeQuorum v2 and DescribeCluster give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterEndpoint {
    /// The voter's node id.
    pub id: i32,
    /// The listener's name (`controller.listener.names`).
    pub name: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl VoterEndpoint {
    /// The endpoints of `controller.quorum.voters` entries (`id` → `host:port`, IPv6 in
    /// brackets) on listener `name`; an entry that does not parse is left out.
    pub fn from_voters<'a>(
        voters: impl IntoIterator<Item = (&'a i32, &'a String)>,
        name: &str,
    ) -> Vec<VoterEndpoint> {
        voters
            .into_iter()
            .filter_map(|(id, addr)| {
                let (host, port) = addr.rsplit_once(':')?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                Some(VoterEndpoint {
                    id: *id,
                    name: name.to_string(),
                    host: host.to_string(),
                    port: port.parse().ok()?,
                })
            })
            .collect()
    }
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// One replica's state; the timestamps exist from v1 (the codec refuses them set before).
fn replica(r: &ReplicaDescription, version: i16) -> ReplicaState {
    let mut state = ReplicaState::default()
        .with_replica_id(BrokerId(r.id))
        .with_replica_directory_id(Uuid::nil())
        .with_log_end_offset(r.log_end_offset);
    if version >= 1 {
        state.last_fetch_timestamp = r.last_fetch_timestamp;
        state.last_caught_up_timestamp = r.last_caught_up_timestamp;
    }
    state
}

/// DescribeQuorum at `version` from the active controller's description `d` (as Kafka's
/// `KafkaRaftClient.handleDescribeQuorumRequest`): the request must name exactly
/// `__cluster_metadata-0` (else UNKNOWN_TOPIC_OR_PARTITION); without a leader in `d` the
/// partition answers NOT_LEADER_OR_FOLLOWER. v2 lists each voter's `endpoints`.
pub fn describe_quorum(
    req: &DescribeQuorumRequest,
    d: &QuorumDescription,
    version: i16,
    endpoints: &[VoterEndpoint],
) -> DescribeQuorumResponse {
    let partition = PartitionData::default().with_partition_index(0);
    let topic = |p: PartitionData| {
        TopicData::default()
            .with_topic_name(TopicName(s(METADATA_TOPIC)))
            .with_partitions(vec![p])
    };
    let valid = matches!(req.topics.as_slice(), [t]
        if t.topic_name.0.as_str() == METADATA_TOPIC
            && t.partitions.len() == 1
            && t.partitions[0].partition_index == 0);
    if !valid {
        return DescribeQuorumResponse::default().with_topics(vec![topic(
            partition.with_error_code(ResponseError::UnknownTopicOrPartition.code()),
        )]);
    }
    let Some(leader) = d.leader else {
        return DescribeQuorumResponse::default().with_topics(vec![topic(
            partition
                .with_error_code(ResponseError::NotLeaderOrFollower.code())
                .with_leader_id(BrokerId(-1))
                .with_leader_epoch(d.leader_epoch),
        )]);
    };
    let partition = partition
        .with_leader_id(BrokerId(leader))
        .with_leader_epoch(d.leader_epoch)
        .with_high_watermark(d.high_watermark)
        .with_current_voters(d.voters.iter().map(|r| replica(r, version)).collect())
        .with_observers(d.observers.iter().map(|r| replica(r, version)).collect());
    let response = DescribeQuorumResponse::default().with_topics(vec![topic(partition)]);
    if version < 2 {
        return response;
    }
    let nodes = d
        .voters
        .iter()
        .map(|v| {
            Node::default().with_node_id(BrokerId(v.id)).with_listeners(
                endpoints
                    .iter()
                    .filter(|e| e.id == v.id)
                    .map(|e| {
                        Listener::default()
                            .with_name(s(&e.name))
                            .with_host(s(&e.host))
                            .with_port(e.port)
                    })
                    .collect(),
            )
        })
        .collect();
    response.with_nodes(nodes)
}

/// DescribeCluster on the controller listener (Kafka's `ControllerApis.handleDescribeCluster`):
/// only the controller endpoint type is served; the answer lists the voters' endpoints (one per
/// voter, the first) and names the active controller (-1 while there is none).
pub fn describe_cluster(
    req: &DescribeClusterRequest,
    version: i16,
    cluster_id: Option<&str>,
    leader: Option<i32>,
    endpoints: &[VoterEndpoint],
) -> DescribeClusterResponse {
    let mut r = DescribeClusterResponse::default()
        .with_cluster_id(s(cluster_id.unwrap_or("")))
        .with_controller_id(BrokerId(leader.unwrap_or(-1)));
    if version >= 1 {
        r.endpoint_type = CONTROLLER_ENDPOINT_TYPE;
    }
    if version < 1 || req.endpoint_type != CONTROLLER_ENDPOINT_TYPE {
        r.error_code = ResponseError::UnsupportedEndpointType.code();
        r.error_message = Some(s(
            "The controller listener serves only the controller endpoint type (2): ask a broker for brokers",
        ));
        return r;
    }
    let mut seen = std::collections::BTreeSet::new();
    r.brokers = endpoints
        .iter()
        .filter(|e| seen.insert(e.id))
        .map(|e| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(e.id))
                .with_host(s(&e.host))
                .with_port(i32::from(e.port))
        })
        .collect();
    if req.include_cluster_authorized_operations {
        r.cluster_authorized_operations = 0;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voter_endpoints_parse_hosts_ports_and_brackets() {
        let voters = std::collections::BTreeMap::from([
            (1, "kafka1:9093".to_string()),
            (2, "[::1]:9094".to_string()),
            (3, "no-port".to_string()),
        ]);
        let e = VoterEndpoint::from_voters(&voters, "CONTROLLER");
        assert_eq!(
            e.iter()
                .map(|e| (e.id, e.host.as_str(), e.port))
                .collect::<Vec<_>>(),
            [(1, "kafka1", 9093), (2, "::1", 9094)]
        );
    }
}
