//! ListOffsets: earliest (-2, and earliest-local -4), latest (-1), max timestamp (-3) and the
//! first offset whose record timestamp is at or after a given time (through the time index).
//! With isolation level read_committed, latest is the last stable offset and a lookup by
//! timestamp finds nothing at or past it, as in Kafka.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::storage_error;
use crate::broker::Broker;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

pub(crate) fn handle(b: &Broker, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
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
                    let Some(p) = topic.as_ref().and_then(|t| t.partition(lp.partition_index)) else {
                        r.error_code = ResponseError::UnknownTopicOrPartition.code();
                        return r;
                    };
                    if lp.current_leader_epoch > 0 {
                        r.error_code = ResponseError::UnknownLeaderEpoch.code();
                        return r;
                    }
                    if version >= 4 {
                        r.leader_epoch = 0;
                    }
                    let log = p.read();
                    let found = match lp.timestamp {
                        // read_committed (isolation level 1) sees up to the last stable offset.
                        LATEST if req.isolation_level == 1 => {
                            Ok(Some((log.last_stable_offset(), -1)))
                        }
                        LATEST => Ok(Some((log.log_end_offset(), -1))),
                        EARLIEST | EARLIEST_LOCAL => Ok(Some((log.log_start_offset(), -1))),
                        MAX_TIMESTAMP => log.max_timestamp(),
                        ts if ts >= 0 => log.offset_for_timestamp(ts),
                        _ => Ok(None),
                    };
                    // A lookup by timestamp finds nothing at or past the last offset the
                    // isolation level may fetch (Kafka's lastFetchableOffset).
                    let fetchable = if req.isolation_level == 1 {
                        log.last_stable_offset()
                    } else {
                        log.log_end_offset()
                    };
                    let found = match (lp.timestamp, found) {
                        (LATEST | EARLIEST | EARLIEST_LOCAL, f) => f,
                        (_, Ok(Some((offset, _)))) if offset >= fetchable => Ok(None),
                        (_, f) => f,
                    };
                    match found {
                        Ok(Some((offset, ts))) => {
                            r.offset = offset;
                            r.timestamp = ts;
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
