//! OffsetFetch: committed offsets of one group (v0-7) or several (v8+), for the requested
//! partitions or, with a null topic list, for every partition the group has committed.
//! A partition without a committed offset answers offset -1 and no error, as in Kafka. With
//! `require_stable` (v7+), a partition with offsets committed in a still-open transaction answers
//! UNSTABLE_OFFSET_COMMIT (the consumer retries); without it, the last committed offset.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use std::collections::HashSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::{s, RequestContext};
use crate::acl;
use crate::group::Committed;

/// (offset, leader epoch, metadata) of a committed offset or of "none".
fn fields(c: Option<Committed>) -> (i64, i32, String) {
    c.map_or((-1, -1, String::new()), |c| {
        (c.offset, c.leader_epoch, c.metadata)
    })
}

/// The error of a partition: UNSTABLE_OFFSET_COMMIT when asked for stable offsets and one is pending.
fn unstable(unstable: &HashSet<(String, i32)>, topic: &str, partition: i32) -> bool {
    unstable.contains(&(topic.to_string(), partition))
}

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let pending = |group: &str| {
        if req.require_stable {
            b.groups.unstable_offsets(group)
        } else {
            HashSet::new()
        }
    };
    // DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED) and on each topic: a named topic the
    // principal may not describe is TOPIC_AUTHORIZATION_FAILED, "all topics" leaves it out (Kafka).
    let check_group = |group: &str| {
        if ctx.authorized_group(acl::op::DESCRIBE, group) {
            b.groups.check_coordinator(group)
        } else {
            Err(ResponseError::GroupAuthorizationFailed)
        }
    };
    let topic_ok = |topic: &str| ctx.authorized_topic(acl::op::DESCRIBE, topic);
    if version < 8 {
        if let Err(e) = check_group(req.group_id.as_str()) {
            if version >= 2 {
                return OffsetFetchResponse::default().with_error_code(e.code());
            }
            // v0-1 have no top-level error: each partition carries it.
            let topics = req.topics.unwrap_or_default().into_iter().map(|t| {
                OffsetFetchResponseTopic::default()
                    .with_partitions(
                        t.partition_indexes
                            .into_iter()
                            .map(|p| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(-1)
                                    .with_error_code(e.code())
                            })
                            .collect(),
                    )
                    .with_name(t.name)
            });
            return OffsetFetchResponse::default().with_topics(topics.collect());
        }
        let pending = pending(req.group_id.as_str());
        let named = req.topics.is_some();
        let wanted = req.topics.map(|ts| {
            ts.into_iter()
                .map(|t| (t.name.to_string(), t.partition_indexes))
                .collect()
        });
        let topics = b
            .groups
            .fetch_offsets(req.group_id.as_str(), wanted)
            .into_iter()
            .filter(|(t, _)| named || topic_ok(t))
            .map(|(t, parts)| {
                let denied = !topic_ok(&t);
                let partitions = parts
                    .into_iter()
                    .map(|(p, c)| {
                        if denied {
                            return OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(-1)
                                .with_committed_leader_epoch(-1)
                                .with_error_code(ResponseError::TopicAuthorizationFailed.code());
                        }
                        if unstable(&pending, &t, p) {
                            return OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(-1)
                                .with_committed_leader_epoch(-1)
                                .with_error_code(ResponseError::UnstableOffsetCommit.code());
                        }
                        let (offset, epoch, metadata) = fields(c);
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(offset)
                            .with_committed_leader_epoch(epoch)
                            .with_metadata(Some(s(metadata)))
                    })
                    .collect();
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(s(t)))
                    .with_partitions(partitions)
            })
            .collect();
        return OffsetFetchResponse::default().with_topics(topics);
    }
    let groups = req
        .groups
        .into_iter()
        .map(|g| {
            if let Err(e) = check_group(g.group_id.as_str()) {
                return OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_error_code(e.code());
            }
            // v9+: a consumer-protocol member must fetch with its current epoch.
            if let Some(member) = g.member_id.as_ref().filter(|_| g.member_epoch >= 0) {
                if let Err(e) = b.groups.validate_fetch_member(
                    g.group_id.as_str(),
                    member.as_str(),
                    g.member_epoch,
                ) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_error_code(e.code());
                }
            }
            let pending = pending(g.group_id.as_str());
            let named = g.topics.is_some();
            let wanted = g.topics.map(|ts| {
                ts.into_iter()
                    .map(|t| (t.name.to_string(), t.partition_indexes))
                    .collect()
            });
            let topics = b
                .groups
                .fetch_offsets(g.group_id.as_str(), wanted)
                .into_iter()
                .filter(|(t, _)| named || topic_ok(t))
                .map(|(t, parts)| {
                    let denied = !topic_ok(&t);
                    let topic_id = b.topics.get(&t).map(|x| x.id).unwrap_or_default();
                    OffsetFetchResponseTopics::default()
                        .with_name(TopicName(s(t.clone())))
                        .with_topic_id(topic_id)
                        .with_partitions(
                            parts
                                .into_iter()
                                .map(|(p, c)| {
                                    if denied {
                                        return OffsetFetchResponsePartitions::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(-1)
                                            .with_committed_leader_epoch(-1)
                                            .with_error_code(
                                                ResponseError::TopicAuthorizationFailed.code(),
                                            );
                                    }
                                    if unstable(&pending, &t, p) {
                                        return OffsetFetchResponsePartitions::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(-1)
                                            .with_committed_leader_epoch(-1)
                                            .with_error_code(
                                                ResponseError::UnstableOffsetCommit.code(),
                                            );
                                    }
                                    let (offset, epoch, metadata) = fields(c);
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(offset)
                                        .with_committed_leader_epoch(epoch)
                                        .with_metadata(Some(s(metadata)))
                                })
                                .collect(),
                        )
                })
                .collect();
            OffsetFetchResponseGroup::default()
                .with_group_id(g.group_id)
                .with_topics(topics)
        })
        .collect();
    OffsetFetchResponse::default().with_groups(groups)
}
