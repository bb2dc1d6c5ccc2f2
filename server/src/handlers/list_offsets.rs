//! ListOffsets: earliest (-2, and earliest-local -4), latest (-1), max timestamp (-3) and the
//! first offset whose record timestamp is at or after a given time (through the time index).
//! Latest is the high watermark, or with isolation level read_committed the last stable offset;
//! a lookup by timestamp finds nothing at or past it, as in Kafka. v4+ answers carry the leader
//! epoch of the offset found (the current epoch for latest). The lookup itself is the replica
//! layer's ([`crate::replica::Partition::fetch_offset_for_timestamp`]), run on the blocking pool.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{storage_error, RequestContext};
use std::sync::Arc;

use crate::replica::{on_blocking_pool, Isolation, Partition};

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let isolation = Isolation::from_level(req.isolation_level);
    // Answers are laid out first; the lookups (index and file reads, decompression of a
    // compressed batch to find a timestamp) then run together on the blocking pool.
    let mut lookups: Vec<(usize, usize, Arc<Partition>, i64)> = Vec::new();
    let mut topics: Vec<ListOffsetsTopicResponse> = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let topic = b.topics.get(t.name.0.as_str());
        // DESCRIBE on the topic (Kafka), before existence.
        let allowed = ctx.authorized_topic(crate::acl::op::DESCRIBE, t.name.0.as_str());
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for lp in t.partitions {
            let mut r = ListOffsetsPartitionResponse::default()
                .with_partition_index(lp.partition_index)
                .with_timestamp(-1)
                .with_offset(-1);
            if !allowed {
                r.error_code = ResponseError::TopicAuthorizationFailed.code();
                partitions.push(r);
                continue;
            }
            match b.led(
                topic.as_deref(),
                lp.partition_index,
                ResponseError::UnknownTopicOrPartition,
            ) {
                Err(e) => r.error_code = e.code(),
                Ok(p) => match p.check_leader_epoch(lp.current_leader_epoch) {
                    Err(code) => r.error_code = code.code(),
                    Ok(()) => lookups.push((topics.len(), partitions.len(), p, lp.timestamp)),
                },
            }
            partitions.push(r);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    if lookups.is_empty() {
        return ListOffsetsResponse::default().with_topics(topics);
    }
    let found = on_blocking_pool(move || {
        lookups
            .into_iter()
            .map(|(ti, pi, p, ts)| {
                let found = p.fetch_offset_for_timestamp(ts, isolation);
                (ti, pi, p, found)
            })
            .collect::<Vec<_>>()
    })
    .await;
    let found = match found {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "list offsets failed");
            for p in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                if p.error_code == 0 {
                    p.error_code = storage_error(&e).code();
                }
            }
            return ListOffsetsResponse::default().with_topics(topics);
        }
    };
    for (ti, pi, p, found) in found {
        let r = &mut topics[ti].partitions[pi];
        match found {
            Ok(Some((offset, ts, epoch))) => {
                r.offset = offset;
                r.timestamp = ts;
                if version >= 4 {
                    r.leader_epoch = epoch;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "list offsets failed");
                r.error_code = storage_error(&e).code();
            }
        }
    }
    ListOffsetsResponse::default().with_topics(topics)
}
