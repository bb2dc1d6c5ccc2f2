//! DescribeTransactions: the coordinator's view of each transactional id (state, producer id and
//! epoch, timeout, start time, partitions of the open transaction); TRANSACTIONAL_ID_NOT_FOUND for
//! an unknown id.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};

use super::{s, RequestContext};

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let b = ctx.broker;
    let states = req
        .transactional_ids
        .into_iter()
        .map(|id| {
            let mut st = TransactionState::default().with_producer_id(ProducerId(-1));
            st.producer_epoch = -1;
            st.transaction_start_time_ms = -1;
            let allowed = ctx.authorized_txn(crate::acl::op::DESCRIBE, id.0.as_str());
            match b.txn.describe(id.0.as_str()) {
                // DESCRIBE on the transactional id (Kafka), before existence.
                _ if !allowed => {
                    st.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
                }
                None if id.0.is_empty() => st.error_code = ResponseError::InvalidRequest.code(),
                None => st.error_code = ResponseError::TransactionalIdNotFound.code(),
                Some(m) => {
                    st.transaction_state = s(m.status.as_str());
                    st.transaction_timeout_ms = m.timeout_ms;
                    st.transaction_start_time_ms = m.start_ms;
                    st.producer_id = ProducerId(m.producer_id);
                    st.producer_epoch = m.producer_epoch;
                    for (t, p) in m.partitions {
                        match st.topics.last_mut() {
                            Some(last) if last.topic.0.as_str() == t => last.partitions.push(p),
                            _ => st.topics.push(
                                TopicData::default()
                                    .with_topic(TopicName(s(t)))
                                    .with_partitions(vec![p]),
                            ),
                        }
                    }
                }
            }
            st.transactional_id = id;
            st
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
