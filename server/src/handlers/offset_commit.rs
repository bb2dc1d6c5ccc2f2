//! OffsetCommit: validate the committer against its group (generation, member, static
//! instance) and store each partition's offset in `__consumer_offsets`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::RequestContext;
use crate::acl;

use crate::group::{Committer, OffsetToCommit};

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let b = ctx.broker;
    let version = ctx.version;
    // READ on the group (else every partition GROUP_AUTHORIZATION_FAILED) and on each topic
    // (else TOPIC_AUTHORIZATION_FAILED; that topic's offsets are not committed), as Kafka.
    let group_ok = ctx.authorized_group(acl::op::READ, req.group_id.as_str());
    let denied: Vec<bool> = req
        .topics
        .iter()
        .flat_map(|t| {
            let ok = ctx.authorized_topic(acl::op::READ, t.name.as_str());
            t.partitions.iter().map(move |_| !ok)
        })
        .collect();
    let offsets: Vec<OffsetToCommit> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| OffsetToCommit {
                topic: t.name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            })
        })
        .collect();
    let offsets: Vec<OffsetToCommit> = offsets
        .into_iter()
        .zip(&denied)
        .filter(|(_, d)| !**d)
        .map(|(o, _)| o)
        .collect();
    let refused = if !group_ok {
        Err(ResponseError::GroupAuthorizationFailed)
    } else if req.group_id.is_empty() {
        Err(ResponseError::InvalidGroupId)
    } else {
        b.groups.check_coordinator(req.group_id.as_str())
    };
    let results = if let Err(e) = refused {
        offsets.iter().map(|_| Err(e)).collect()
    } else {
        let who = Committer {
            generation: req.generation_id_or_member_epoch,
            member_id: req.member_id.to_string(),
            instance_id: req.group_instance_id.map(|i| i.to_string()),
            retention_ms: if (2..=4).contains(&version) {
                req.retention_time_ms
            } else {
                -1
            },
        };
        b.groups.commit(req.group_id.as_str(), &who, &offsets).await
    };
    let mut results = results.into_iter();
    let mut denied = denied.into_iter();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = if denied.next().unwrap_or(false) && group_ok {
                        ResponseError::TopicAuthorizationFailed.code()
                    } else if !group_ok {
                        ResponseError::GroupAuthorizationFailed.code()
                    } else {
                        results.next().map_or(0, |r: Result<(), ResponseError>| {
                            r.err().map_or(0, |e| e.code())
                        })
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_topic_id(t.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
