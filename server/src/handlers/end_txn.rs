//! EndTxn: commit or abort the producer's transaction. The answer comes once every partition of
//! the transaction has its marker (see `crate::txn`). Before v2, PRODUCER_FENCED is answered as
//! INVALID_PRODUCER_EPOCH. v5 answers with the producer id and epoch, which transactions V1 (all
//! minikafka offers) never changes on EndTxn.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::RequestContext;

pub(crate) async fn handle(ctx: &RequestContext<'_>, req: EndTxnRequest) -> EndTxnResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let mut r = EndTxnResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if !ctx.authorized_txn(crate::acl::op::WRITE, req.transactional_id.0.as_str()) {
        r.error_code =
            kafka_protocol::error::ResponseError::TransactionalIdAuthorizationFailed.code();
        return r;
    }
    match b
        .txn
        .end_txn(
            req.transactional_id.0.as_str(),
            req.producer_id.0,
            req.producer_epoch,
            req.committed,
        )
        .await
    {
        Ok(()) => {
            r.producer_id = req.producer_id;
            r.producer_epoch = req.producer_epoch;
        }
        Err(e) => r.error_code = super::fenced_for_version(e, version, 2).code(),
    }
    r
}
