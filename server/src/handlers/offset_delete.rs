//! OffsetDelete: remove committed offsets of a group for partitions it no longer consumes.

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, TopicName};

use super::{s, RequestContext};

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let b = ctx.broker;
    let wanted: Vec<(String, Vec<i32>)> = req
        .topics
        .iter()
        .map(|t| {
            (
                t.name.to_string(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    // DELETE on the group (Kafka; the topics' READ is not checked by minikafka).
    if !ctx.authorized_group(crate::acl::op::DELETE, req.group_id.as_str()) {
        return OffsetDeleteResponse::default().with_error_code(
            kafka_protocol::error::ResponseError::GroupAuthorizationFailed.code(),
        );
    }
    match b
        .groups
        .delete_offsets(req.group_id.as_str(), &wanted)
        .await
    {
        Err(e) => OffsetDeleteResponse::default().with_error_code(e.code()),
        Ok(topics) => OffsetDeleteResponse::default().with_topics(
            topics
                .into_iter()
                .map(|(t, parts)| {
                    OffsetDeleteResponseTopic::default()
                        .with_name(TopicName(s(t)))
                        .with_partitions(
                            parts
                                .into_iter()
                                .map(|(p, r)| {
                                    OffsetDeleteResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_error_code(r.err().map_or(0, |e| e.code()))
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    }
}
