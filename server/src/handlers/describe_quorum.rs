//! DescribeQuorum: the controller quorum's leader, epoch, high watermark and each voter's and
//! observer's progress (what `kafka-metadata-quorum describe --status/--replication` prints),
//! from the quorum's Raft metrics ([`crate::controller::Quorum::describe`]).
//!
//! As Kafka's `KafkaRaftClient.handleDescribeQuorumRequest`: the request must name exactly the
//! metadata partition `__cluster_metadata-0`, otherwise that partition answers
//! UNKNOWN_TOPIC_OR_PARTITION. Kafka's brokers forward the request to the active controller;
//! here a node that does not lead asks the leader for its view (ControllerDescribe on the
//! controller listener) and answers with it; without a known leader it answers
//! NOT_LEADER_OR_FOLLOWER. Offsets are "next offset" after the last Raft entry (appended, or
//! committed for the high watermark).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use uuid::Uuid;

use super::{blocking, s, RequestContext};
use crate::controller::ReplicaDescription;
use crate::topics::{TopicError, CLUSTER_METADATA_TOPIC};

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

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let b = ctx.broker;
    let partition = PartitionData::default().with_partition_index(0);
    let topic = |p: PartitionData| {
        TopicData::default()
            .with_topic_name(TopicName(s(CLUSTER_METADATA_TOPIC)))
            .with_partitions(vec![p])
    };
    let valid = matches!(req.topics.as_slice(), [t]
        if t.topic_name.0.as_str() == CLUSTER_METADATA_TOPIC
            && t.partitions.len() == 1
            && t.partitions[0].partition_index == 0);
    if !valid {
        return DescribeQuorumResponse::default().with_topics(vec![topic(
            partition.with_error_code(ResponseError::UnknownTopicOrPartition.code()),
        )]);
    }
    // Kafka's brokers forward DescribeQuorum to the active controller: ask it.
    let quorum = b.topics.quorum().clone();
    let d = match blocking(move || Ok::<_, TopicError>(quorum.describe_active())).await {
        Ok(d) => d,
        Err(_) => b.topics.quorum().describe(),
    };
    let Some(node) = d.leader else {
        return DescribeQuorumResponse::default().with_topics(vec![topic(
            partition
                .with_error_code(ResponseError::NotLeaderOrFollower.code())
                .with_leader_id(BrokerId(-1))
                .with_leader_epoch(d.leader_epoch),
        )]);
    };
    let partition = partition
        .with_leader_id(BrokerId(node))
        .with_leader_epoch(d.leader_epoch)
        .with_high_watermark(d.high_watermark)
        .with_current_voters(d.voters.iter().map(|r| replica(r, ctx.version)).collect())
        .with_observers(
            d.observers
                .iter()
                .map(|r| replica(r, ctx.version))
                .collect(),
        );
    let response = DescribeQuorumResponse::default().with_topics(vec![topic(partition)]);
    if ctx.version < 2 {
        return response;
    }
    // v2: each voter's controller endpoints. A single node without a controller listener has
    // none to give.
    let nodes = d
        .voters
        .iter()
        .map(|v| {
            let listeners = if v.id == b.config.node_id {
                b.config
                    .listeners
                    .controllers()
                    .map(|l| {
                        let e = l.advertised.as_ref().unwrap_or(&l.bind);
                        Listener::default()
                            .with_name(s(e.name.clone()))
                            .with_host(s(e.host.clone()))
                            .with_port(e.port)
                    })
                    .collect()
            } else {
                // Another voter: its entry of controller.quorum.voters, on the first name of
                // controller.listener.names (a broker-only node has no controller listener of
                // its own, but names the one it reaches the controllers on).
                let name = b.config.listeners.controller_names.first().cloned();
                b.config
                    .quorum
                    .voters
                    .iter()
                    .filter(|q| q.id == v.id)
                    .zip(name)
                    .map(|(q, name)| {
                        Listener::default()
                            .with_name(s(name))
                            .with_host(s(q.host.clone()))
                            .with_port(q.port)
                    })
                    .collect()
            };
            Node::default()
                .with_node_id(BrokerId(v.id))
                .with_listeners(listeners)
        })
        .collect();
    response.with_nodes(nodes)
}
