//! ConsumerGroupDescribe (KIP-848 groups): epochs, assignor, and each member's current and
//! target assignment. Classic groups answer GROUP_ID_NOT_FOUND ("not a consumer group"), which
//! makes the admin client fall back to DescribeGroups, as with Kafka.

use std::collections::BTreeMap;

use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};

use super::{s, RequestContext};
use crate::context::Broker;
use crate::group::consumer::TopicPartition;

/// `authorized_operations` when the client did not ask for them.
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

fn assignment(b: &Broker, tps: Vec<TopicPartition>) -> Assignment {
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (t, p) in tps {
        by_topic.entry(t).or_default().push(p);
    }
    Assignment::default().with_topic_partitions(
        by_topic
            .into_iter()
            .map(|(t, parts)| {
                let id = b.topics.get(&t).map(|x| x.id).unwrap_or_default();
                TopicPartitions::default()
                    .with_topic_id(id)
                    .with_topic_name(TopicName(s(t)))
                    .with_partitions(parts)
            })
            .collect(),
    )
}

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let b = ctx.broker;
    let groups = req
        .group_ids
        .into_iter()
        .map(|id| {
            let out = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(OPERATIONS_NOT_REQUESTED);
            // DESCRIBE on the group (Kafka).
            if !ctx.authorized_group(crate::acl::op::DESCRIBE, id.as_str()) {
                return out
                    .with_error_code(
                        kafka_protocol::error::ResponseError::GroupAuthorizationFailed.code(),
                    )
                    .with_group_state(s("Dead"));
            }
            match b.groups.consumer_describe(id.as_str()) {
                Err((code, msg)) => out
                    .with_error_code(code.code())
                    .with_error_message(Some(s(msg)))
                    .with_group_state(s("Dead")),
                Ok(d) => out
                    .with_group_state(s(d.state))
                    .with_group_epoch(d.group_epoch)
                    .with_assignment_epoch(d.assignment_epoch)
                    .with_assignor_name(s(d.assignor))
                    .with_members(
                        d.members
                            .into_iter()
                            .map(|m| {
                                Member::default()
                                    .with_member_id(s(m.member_id))
                                    .with_instance_id(m.instance_id.map(s))
                                    .with_rack_id(m.rack_id.map(s))
                                    .with_member_epoch(m.epoch)
                                    .with_client_id(s(m.client_id))
                                    .with_client_host(s(m.client_host))
                                    .with_subscribed_topic_names(
                                        m.subscribed.into_iter().map(|t| TopicName(s(t))).collect(),
                                    )
                                    .with_subscribed_topic_regex(m.regex.map(s))
                                    .with_assignment(assignment(b, m.assignment))
                                    .with_target_assignment(assignment(b, m.target))
                                    .with_member_type(1)
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
