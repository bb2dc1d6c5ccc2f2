//! AlterPartitionReassignments and ListPartitionReassignments (KIP-455; `kafka-reassign-partitions
//! --execute/--verify/--cancel`, `Admin.alterPartitionReassignments`). A reassignment is a
//! metadata record the active controller commits ([`crate::topics::Topics::alter_reassignments`]):
//! while it runs the partition's replicas are the target followed by the replicas being removed,
//! the new replicas are created on their brokers and catch up as followers, and the last one
//! joining the ISR completes it (replicas = target, a leader outside it hands over), after which
//! the removed brokers delete their copies. Answers per partition: NONE,
//! UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT, NO_REASSIGNMENT_IN_PROGRESS; a failed
//! proposal is the top-level error, as Kafka's controller answers. On a single broker the only
//! valid target is the broker itself, which is already the assignment (NONE).
//!
//! Work is bounded by the request (each entry is answered, a partition named twice twice, as
//! Kafka's controller does) or, for "list all", by the partitions that exist.

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};

use super::{blocking, s, topic_error, RequestContext};
use crate::topics::Reassignment;

fn ids(v: Vec<i32>) -> Vec<BrokerId> {
    v.into_iter().map(BrokerId).collect()
}

pub(crate) async fn alter(
    ctx: &RequestContext<'_>,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let b = ctx.broker;
    // ALTER on the cluster (Kafka).
    if !ctx.authorized_cluster(crate::acl::op::ALTER) {
        return AlterPartitionReassignmentsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    super::catch_up(b, super::CATCH_UP_SHORT).await;
    let allow_rf_change = req.allow_replication_factor_change;
    let response = AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_rf_change);
    // Every entry answered, in request order, each checked against the state before the request
    // (Kafka's controller answers a partition named twice twice); unknown topics are answered
    // without a proposal.
    let mut entries: Vec<(String, i32, Option<usize>)> = Vec::new();
    let mut wanted = Vec::new();
    for t in req.topics {
        let name = t.name.0.to_string();
        let topic = b.topics.get(&name);
        for p in t.partitions {
            let target = p.replicas.map(|r| r.into_iter().map(|id| id.0).collect());
            let position = topic.as_ref().map(|t| {
                wanted.push(((t.id, p.partition_index), target));
                wanted.len() - 1
            });
            entries.push((name.clone(), p.partition_index, position));
        }
    }
    let topics = b.topics.clone();
    let results = if wanted.is_empty() {
        Vec::new()
    } else {
        match blocking(move || topics.alter_reassignments(wanted, allow_rf_change)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "partition reassignment failed");
                return response
                    .with_error_code(topic_error(&e).code())
                    .with_error_message(Some(s(e.to_string())));
            }
        }
    };
    let mut outcome: Vec<Option<Result<(), Reassignment>>> =
        results.into_iter().map(|(_, r)| Some(r)).collect();
    let mut by_topic: Vec<ReassignableTopicResponse> = Vec::new();
    for (name, index, position) in entries {
        let r = position
            .and_then(|i| outcome.get_mut(i)?.take())
            .unwrap_or(Err(Reassignment::UnknownPartition));
        let (code, msg) = match r {
            Ok(()) => (0, None),
            Err(Reassignment::UnknownPartition) => (
                ResponseError::UnknownTopicOrPartition.code(),
                Some(format!("Unable to find partition {name}-{index}.")),
            ),
            Err(Reassignment::Invalid(why)) => {
                (ResponseError::InvalidReplicaAssignment.code(), Some(why))
            }
            Err(Reassignment::NoneInProgress) => (
                ResponseError::NoReassignmentInProgress.code(),
                Some(format!(
                    "Unable to cancel reassignment for partition {name}-{index} because no reassignment is in progress."
                )),
            ),
        };
        let partition = ReassignablePartitionResponse::default()
            .with_partition_index(index)
            .with_error_code(code)
            .with_error_message(msg.map(s));
        match by_topic.last_mut().filter(|t| t.name.0.as_str() == name) {
            Some(t) => t.partitions.push(partition),
            None => by_topic.push(
                ReassignableTopicResponse::default()
                    .with_name(TopicName(s(name)))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    response.with_responses(by_topic)
}

pub(crate) async fn list(
    ctx: &RequestContext<'_>,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let b = ctx.broker;
    // DESCRIBE on the cluster (Kafka).
    if !ctx.authorized_cluster(crate::acl::op::DESCRIBE) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    super::catch_up(b, super::CATCH_UP_SHORT).await;
    let wanted = req.topics.map(|topics| {
        let mut seen = HashSet::new();
        topics
            .into_iter()
            .flat_map(|t| {
                let name = t.name.0.to_string();
                t.partition_indexes
                    .into_iter()
                    .map(move |p| (name.clone(), p))
            })
            .filter(|k| seen.insert(k.clone()))
            .collect::<Vec<_>>()
    });
    let mut by_topic: BTreeMap<String, Vec<OngoingPartitionReassignment>> = BTreeMap::new();
    for r in b.topics.list_reassignments(wanted) {
        by_topic.entry(r.topic).or_default().push(
            OngoingPartitionReassignment::default()
                .with_partition_index(r.partition)
                .with_replicas(ids(r.replicas))
                .with_adding_replicas(ids(r.adding))
                .with_removing_replicas(ids(r.removing)),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            OngoingTopicReassignment::default()
                .with_name(TopicName(s(name)))
                .with_partitions(partitions)
        })
        .collect();
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}
