//! DescribeCluster, OffsetForLeaderEpoch and DescribeTopicPartitions: cluster and partition
//! facts. Placement (leader, epoch, replicas, ISR) comes from the metadata image; where an epoch
//! ended comes from the partition's leader-epoch cache.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
    TopicName,
};

use super::{s, RequestContext};

pub(crate) async fn describe_cluster(
    ctx: &RequestContext<'_>,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let live = ctx.live_brokers();
    let controller = ctx.controller_id(&live);
    let mut r = DescribeClusterResponse::default()
        .with_cluster_id(s(b.cluster_id.clone()))
        .with_controller_id(BrokerId(controller))
        .with_brokers(
            live.into_iter()
                .map(|(id, host, port, rack)| {
                    DescribeClusterBroker::default()
                        .with_broker_id(id)
                        .with_host(host)
                        .with_port(port)
                        .with_rack(rack)
                })
                .collect(),
        );
    if version >= 1 {
        r.endpoint_type = req.endpoint_type;
        if req.endpoint_type != 1 {
            r.error_code = ResponseError::UnsupportedEndpointType.code();
            r.error_message = Some(s("minikafka serves only broker endpoints"));
            r.brokers.clear();
        }
    }
    if req.include_cluster_authorized_operations {
        r.cluster_authorized_operations = super::metadata::cluster_operations(ctx);
    }
    r
}

pub(crate) async fn offset_for_leader_epoch(
    ctx: &RequestContext<'_>,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let b = ctx.broker;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = b.topics.get(t.topic.0.as_str());
            // A follower's request (replica id >= 0) needs CLUSTER_ACTION, a client's DESCRIBE
            // on the topic (Kafka), else TOPIC_AUTHORIZATION_FAILED.
            let allowed = if req.replica_id.0 >= 0 {
                ctx.authorized_cluster(crate::acl::op::CLUSTER_ACTION)
            } else {
                ctx.authorized_topic(crate::acl::op::DESCRIBE, t.topic.0.as_str())
            };
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let mut e = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    if !allowed {
                        e.error_code = ResponseError::TopicAuthorizationFailed.code();
                        return e;
                    }
                    let part = match b.led(
                        topic.as_deref(),
                        p.partition,
                        ResponseError::UnknownTopicOrPartition,
                    ) {
                        Ok(part) => part,
                        Err(err) => {
                            e.error_code = err.code();
                            return e;
                        }
                    };
                    match part.check_leader_epoch(p.current_leader_epoch) {
                        Err(code) => e.error_code = code.code(),
                        Ok(()) => {
                            (e.leader_epoch, e.end_offset) =
                                part.end_offset_for_epoch(p.leader_epoch);
                        }
                    }
                    e
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

pub(crate) async fn describe_topic_partitions(
    ctx: &RequestContext<'_>,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let b = ctx.broker;
    // As Metadata: a cluster node first catches up with the active controller.
    if !b.config.quorum.single_node() {
        super::catch_up(b, super::CATCH_UP_SHORT).await;
    }
    // As Metadata (issue 14): "all" lists only the topics the principal may DESCRIBE; a named
    // one it may not is TOPIC_AUTHORIZATION_FAILED, existing or not.
    let listing_all = req.topics.is_empty();
    let mut names: Vec<String> = if listing_all {
        b.topics
            .all()
            .iter()
            .map(|t| t.name.clone())
            .filter(|n| ctx.authorized_topic(crate::acl::op::DESCRIBE, n))
            .collect()
    } else {
        req.topics.iter().map(|t| t.name.0.to_string()).collect()
    };
    names.sort();
    names.dedup();
    let (start_topic, start_partition) = req.cursor.as_ref().map_or((String::new(), 0), |c| {
        (c.topic_name.0.to_string(), c.partition_index)
    });
    let mut budget = usize::try_from(req.response_partition_limit.max(1)).unwrap_or(2000);
    let mut out = Vec::new();
    let mut next_cursor = None;
    for name in names.into_iter().filter(|n| *n >= start_topic) {
        let tn = TopicName(s(name.clone()));
        if !listing_all && !ctx.authorized_topic(crate::acl::op::DESCRIBE, &name) {
            out.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(tn))
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code()),
            );
            continue;
        }
        let Some(t) = b.topics.get(&name) else {
            out.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(tn))
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code()),
            );
            continue;
        };
        let first = if name == start_topic {
            start_partition
        } else {
            0
        };
        let mut partitions = Vec::new();
        for pi in t
            .partitions
            .iter()
            .skip(usize::try_from(first).unwrap_or(0))
        {
            let i = pi.index;
            if budget == 0 {
                next_cursor = Some(
                    Cursor::default()
                        .with_topic_name(tn.clone())
                        .with_partition_index(i),
                );
                break;
            }
            budget -= 1;
            partitions.push(
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(i)
                    .with_leader_id(BrokerId(pi.leader))
                    .with_leader_epoch(pi.leader_epoch)
                    .with_replica_nodes(pi.replicas.iter().copied().map(BrokerId).collect())
                    .with_isr_nodes(pi.isr.iter().copied().map(BrokerId).collect())
                    .with_eligible_leader_replicas(Some(vec![]))
                    .with_last_known_elr(Some(vec![])),
            );
        }
        out.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(tn))
                .with_topic_id(t.id)
                .with_is_internal(crate::topics::is_internal_topic(&t.name))
                .with_partitions(partitions),
        );
        if next_cursor.is_some() {
            break;
        }
    }
    DescribeTopicPartitionsResponse::default()
        .with_topics(out)
        .with_next_cursor(next_cursor)
}
