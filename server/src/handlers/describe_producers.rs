//! DescribeProducers: the active producers of each partition as its log's producer state holds
//! them (id, epoch, last sequence, last timestamp, coordinator epoch, start offset of the open
//! transaction or -1) — what `kafka-transactions describe-producers` shows.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use super::RequestContext;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let b = ctx.broker;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = b.topics.get(t.name.0.as_str());
            // READ on the topic (Kafka), before existence.
            let allowed = ctx.authorized_topic(crate::acl::op::READ, t.name.0.as_str());
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&i| {
                    let mut pr = PartitionResponse::default().with_partition_index(i);
                    if !allowed {
                        pr.error_code = ResponseError::TopicAuthorizationFailed.code();
                        return pr;
                    }
                    match b
                        .led(topic.as_deref(), i, ResponseError::UnknownTopicOrPartition)
                        .and_then(|p| {
                            if p.is_deleted() {
                                Err(ResponseError::UnknownTopicOrPartition)
                            } else {
                                Ok(p)
                            }
                        }) {
                        Err(e) => pr.error_code = e.code(),
                        Ok(p) => {
                            pr.active_producers = p
                                .producers()
                                .into_iter()
                                .map(|e| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(e.producer_id))
                                        .with_producer_epoch(i32::from(e.producer_epoch))
                                        .with_last_sequence(e.last_sequence)
                                        .with_last_timestamp(e.last_timestamp)
                                        .with_coordinator_epoch(e.coordinator_epoch)
                                        .with_current_txn_start_offset(e.current_txn_first_offset)
                                })
                                .collect();
                        }
                    }
                    pr
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
