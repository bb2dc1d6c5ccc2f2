//! ConsumerGroupHeartbeat (KIP-848): join, stay, reconcile and leave in one API; the broker
//! computes the assignment. Topic ids on the wire are resolved to names here.

use std::collections::BTreeMap;

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;

use super::{client_host, s, RequestContext};
use crate::group::consumer::HeartbeatParams;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let b = ctx.broker;
    let mut r = ConsumerGroupHeartbeatResponse::default();
    if req.group_id.is_empty() {
        r.error_code = kafka_protocol::error::ResponseError::InvalidGroupId.code();
        r.error_message = Some(s("the group id must not be empty"));
        return r;
    }
    // READ on the group (Kafka).
    if !ctx.authorized_group(crate::acl::op::READ, req.group_id.as_str()) {
        r.error_code = kafka_protocol::error::ResponseError::GroupAuthorizationFailed.code();
        return r;
    }
    let owned = req.topic_partitions.map(|tps| {
        tps.into_iter()
            .filter_map(|tp| {
                let topic = b.topics.get_by_id(&tp.topic_id)?;
                Some(
                    tp.partitions
                        .into_iter()
                        .map(move |p| (topic.name.clone(), p))
                        .collect::<Vec<_>>(),
                )
            })
            .flatten()
            .collect()
    });
    let p = HeartbeatParams {
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.map(|i| i.to_string()),
        rack_id: req.rack_id.map(|i| i.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topics: req
            .subscribed_topic_names
            .map(|ts| ts.into_iter().map(|t| t.to_string()).collect()),
        subscribed_regex: req.subscribed_topic_regex.map(|r| r.to_string()),
        server_assignor: req.server_assignor.map(|a| a.to_string()),
        owned,
        client_id: ctx.client_id.to_string(),
        client_host: client_host(ctx.peer),
    };
    match b.groups.consumer_heartbeat(req.group_id.as_str(), p).await {
        Err((code, msg)) => {
            if matches!(
                code,
                kafka_protocol::error::ResponseError::InvalidRequest
                    | kafka_protocol::error::ResponseError::InvalidRegularExpression
            ) {
                tracing::warn!(group = %req.group_id.as_str(), member = %req.member_id.as_str(),
                    reason = %msg, "ConsumerGroupHeartbeat refused");
            }
            r.error_code = code.code();
            r.error_message = Some(s(msg));
            r.member_id = Some(req.member_id);
            r.member_epoch = req.member_epoch;
        }
        Ok(h) => {
            r.member_id = Some(StrBytes::from_string(h.member_id));
            r.member_epoch = h.member_epoch;
            r.heartbeat_interval_ms = h.heartbeat_interval_ms;
            r.assignment = h.assignment.map(|tps| {
                let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for (t, p) in tps {
                    by_topic.entry(t).or_default().push(p);
                }
                Assignment::default().with_topic_partitions(
                    by_topic
                        .into_iter()
                        .filter_map(|(t, parts)| {
                            let id = b.topics.get(&t)?.id;
                            Some(
                                TopicPartitions::default()
                                    .with_topic_id(id)
                                    .with_partitions(parts),
                            )
                        })
                        .collect(),
                )
            });
        }
    }
    r
}
