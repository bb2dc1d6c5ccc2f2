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
//! committed for the high watermark). The answer is built by `controller::kafka_apis`, which
//! the controller listener uses too.

use kafka_protocol::messages::{DescribeQuorumRequest, DescribeQuorumResponse};

use super::{blocking, RequestContext};
use crate::controller::kafka_apis::{self, VoterEndpoint};
use crate::topics::TopicError;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let b = ctx.broker;
    // DESCRIBE on the cluster (Kafka).
    if !ctx.authorized_cluster(crate::acl::op::DESCRIBE) {
        return DescribeQuorumResponse::default().with_error_code(
            kafka_protocol::error::ResponseError::ClusterAuthorizationFailed.code(),
        );
    }
    // Kafka's brokers forward DescribeQuorum to the active controller: ask it.
    let quorum = b.topics.quorum().clone();
    let d = match blocking(move || Ok::<_, TopicError>(quorum.describe_active())).await {
        Ok(d) => d,
        Err(_) => b.topics.quorum().describe(),
    };
    // v2: each voter's controller endpoints: this node's own advertised controller listeners;
    // another voter's entry of controller.quorum.voters, on the first name of
    // controller.listener.names (a broker-only node has no controller listener of its own, but
    // names the one it reaches the controllers on). A single node without a controller
    // listener has none to give.
    let mut endpoints: Vec<VoterEndpoint> = b
        .config
        .listeners
        .controllers()
        .map(|l| {
            let e = l.advertised.as_ref().unwrap_or(&l.bind);
            VoterEndpoint {
                id: b.config.node_id,
                name: e.name.clone(),
                host: e.host.clone(),
                port: e.port,
            }
        })
        .collect();
    if let Some(name) = b.config.listeners.controller_names.first() {
        endpoints.extend(
            b.config
                .quorum
                .voters
                .iter()
                .filter(|q| q.id != b.config.node_id)
                .map(|q| VoterEndpoint {
                    id: q.id,
                    name: name.clone(),
                    host: q.host.clone(),
                    port: q.port,
                }),
        );
    }
    kafka_apis::describe_quorum(&req, &d, ctx.version, &endpoints)
}
