//! ListTransactions: every transactional id this coordinator knows, filtered by state names
//! (unknown names are echoed back in `unknown_state_filters`, as Kafka does), producer ids, the
//! minimum duration of an open transaction (v1) and a transactional id pattern (v2, a regular
//! expression; an invalid one gives INVALID_REGULAR_EXPRESSION).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};

use super::{s, RequestContext};
use crate::txn::records::TxnStatus;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let b = ctx.broker;
    let mut r = ListTransactionsResponse::default();
    let mut states = Vec::new();
    for f in &req.state_filters {
        if TxnStatus::ALL.iter().any(|st| st.as_str() == f.as_str()) {
            states.push(f.to_string());
        } else {
            r.unknown_state_filters.push(f.clone());
        }
    }
    if !req.state_filters.is_empty() && states.is_empty() {
        return r;
    }
    let pattern = match req
        .transactional_id_pattern
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(re) => Some(re),
            Err(_) => {
                r.error_code = ResponseError::InvalidRegularExpression.code();
                return r;
            }
        },
    };
    let pids: Vec<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
    r.transaction_states = b
        .txn
        .list(&states, &pids, req.duration_filter)
        .into_iter()
        .filter(|l| {
            pattern
                .as_ref()
                .is_none_or(|re| re.is_match(&l.transactional_id))
        })
        // Only the transactional ids the principal may DESCRIBE (Kafka).
        .filter(|l| ctx.authorized_txn(crate::acl::op::DESCRIBE, &l.transactional_id))
        .map(|l| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(s(l.transactional_id)))
                .with_producer_id(ProducerId(l.producer_id))
                .with_transaction_state(s(l.state.as_str()))
        })
        .collect();
    r
}
