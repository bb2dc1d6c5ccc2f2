//! ElectLeaders (`kafka-leader-election`, `Admin.electLeaders`): preferred elections move a
//! partition's leadership back to its first replica when that replica is alive and in sync;
//! unclean elections give a partition without a leader its first live replica even out of sync
//! (what only the lost in-sync replicas had is gone: logged on every node). The election is a
//! metadata record the active controller commits ([`crate::topics::Topics::elect_leaders`]); the
//! answer reports per partition NONE, ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
//! ELIGIBLE_LEADERS_NOT_AVAILABLE or UNKNOWN_TOPIC_OR_PARTITION, as Kafka's controller does.
//! "All partitions" (null) elects every partition that needs it and lists only those. Work is
//! bounded by the request (a partition named twice is answered once) or by the partitions that
//! exist.

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};

use super::{s, topic_error, RequestContext};
use crate::topics::Election;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let b = ctx.broker;
    // ALTER on the cluster (Kafka).
    if !ctx.authorized_cluster(crate::acl::op::ALTER) {
        return ElectLeadersResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let unclean = match req.election_type {
        0 => false,
        1 => true,
        _ => {
            return ElectLeadersResponse::default()
                .with_error_code(ResponseError::InvalidRequest.code());
        }
    };
    // Named partitions of unknown topics are answered without a proposal.
    let mut unknown: Vec<(String, i32)> = Vec::new();
    let wanted = req.topic_partitions.map(|topics| {
        let mut seen = HashSet::new();
        let mut wanted = Vec::new();
        for t in topics {
            let name = t.topic.0.to_string();
            let topic = b.topics.get(&name);
            for p in t.partitions {
                if !seen.insert((name.clone(), p)) {
                    continue;
                }
                match &topic {
                    Some(t) => wanted.push((t.id, p)),
                    None => unknown.push((name.clone(), p)),
                }
            }
        }
        wanted
    });
    let topics = b.topics.clone();
    let done = tokio::task::spawn_blocking(move || topics.elect_leaders(wanted, unclean)).await;
    let results = match done {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "leader election failed");
            return ElectLeadersResponse::default().with_error_code(topic_error(&e).code());
        }
        Err(_) => {
            return ElectLeadersResponse::default()
                .with_error_code(ResponseError::UnknownServerError.code());
        }
    };
    let mut by_topic: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    for ((id, p), r) in results {
        let Some(name) = b.topics.get_by_id(&id).map(|t| t.name.clone()) else {
            continue;
        };
        let (code, msg) = match r {
            Ok(()) => (None, None),
            Err(Election::NotNeeded) => (
                Some(ResponseError::ElectionNotNeeded),
                Some("Leader election not needed for topic partition."),
            ),
            Err(Election::PreferredNotAvailable) => (
                Some(ResponseError::PreferredLeaderNotAvailable),
                Some("Failed to elect leader for partition: the preferred replica is not alive and in sync."),
            ),
            Err(Election::NoEligibleLeader) => (
                Some(ResponseError::EligibleLeadersNotAvailable),
                Some("Failed to elect leader for partition: no replica is alive."),
            ),
            Err(Election::UnknownPartition) => (
                Some(ResponseError::UnknownTopicOrPartition),
                Some("The partition does not exist."),
            ),
        };
        by_topic.entry(name).or_default().push(
            PartitionResult::default()
                .with_partition_id(p)
                .with_error_code(code.map_or(0, |c| c.code()))
                .with_error_message(msg.map(s)),
        );
    }
    for (name, p) in unknown {
        by_topic.entry(name).or_default().push(
            PartitionResult::default()
                .with_partition_id(p)
                .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                .with_error_message(Some(s("The partition does not exist."))),
        );
    }
    let results = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            ReplicaElectionResult::default()
                .with_topic(TopicName(s(&name)))
                .with_partition_result(partitions)
        })
        .collect();
    ElectLeadersResponse::default().with_replica_election_results(results)
}
