//! DeleteRecords: move partitions' log start offsets forward (offset -1 = the high watermark);
//! the new start offsets are persisted in Kafka's `log-start-offset-checkpoint`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::{blocking, topic_error, RequestContext};

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let b = ctx.broker;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let topic = b.topics.get(t.name.0.as_str());
        // DELETE on the topic (Kafka), before existence.
        let allowed = ctx.authorized_topic(crate::acl::op::DELETE, t.name.0.as_str());
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let mut r = DeleteRecordsPartitionResult::default()
                .with_partition_index(p.partition_index)
                .with_low_watermark(-1);
            if !allowed {
                r.error_code = ResponseError::TopicAuthorizationFailed.code();
                partitions.push(r);
                continue;
            }
            let part = match b.led(
                topic.as_deref(),
                p.partition_index,
                ResponseError::UnknownTopicOrPartition,
            ) {
                Ok(part) => part,
                Err(e) => {
                    r.error_code = e.code();
                    partitions.push(r);
                    continue;
                }
            };
            let hw = part.high_watermark();
            let offset = if p.offset == -1 { hw } else { p.offset };
            if offset < 0 || offset > hw {
                r.error_code = ResponseError::OffsetOutOfRange.code();
                partitions.push(r);
                continue;
            }
            let topics = b.topics.clone();
            match blocking(move || topics.delete_records(&part, offset)).await {
                Ok(start) => r.low_watermark = start,
                Err(e) => r.error_code = topic_error(&e).code(),
            }
            partitions.push(r);
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
