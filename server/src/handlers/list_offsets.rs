//! ListOffsets: earliest (-2, and earliest-local -4), latest (-1), max timestamp (-3) and the
//! first offset whose record timestamp is at or after a given time (through the time index).
//! Latest is the high watermark, or with isolation level read_committed the last stable offset;
//! a lookup by timestamp finds nothing at or past it, as in Kafka. v4+ answers carry the leader
//! epoch of the offset found (the current epoch for latest). The lookup itself is the replica
//! layer's ([`crate::replica::Partition::fetch_offset_for_timestamp`]).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{storage_error, RequestContext};
use crate::replica::Isolation;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = b.topics.get(t.name.0.as_str());
            let partitions = t
                .partitions
                .into_iter()
                .map(|lp| {
                    let mut r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(lp.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1);
                    let Some(p) = topic
                        .as_ref()
                        .and_then(|t| b.partition_of(t, lp.partition_index))
                    else {
                        r.error_code = ResponseError::UnknownTopicOrPartition.code();
                        return r;
                    };
                    if let Err(code) = p.check_leader_epoch(lp.current_leader_epoch) {
                        r.error_code = code.code();
                        return r;
                    }
                    let isolation = Isolation::from_level(req.isolation_level);
                    match p.fetch_offset_for_timestamp(lp.timestamp, isolation) {
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
                    r
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
