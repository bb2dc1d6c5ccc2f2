//! InitProducerId. Idempotent (non-transactional) producers get a fresh producer id at epoch 0,
//! unique across restarts. A `transactional.id` goes to the transaction coordinator (`crate::txn`):
//! epoch bump, fencing of the previous incarnation, KIP-360 expected id/epoch (v3+). Before v4,
//! PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH, as Kafka does for old clients.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tracing::{error, info};

use super::RequestContext;
use crate::acl;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let mut r = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    // Kafka: WRITE on the transactional id; an idempotent producer IDEMPOTENT_WRITE on the
    // cluster or WRITE on any topic (KIP-679).
    if let Some(id) = req.transactional_id.as_ref() {
        if !ctx.authorized_txn(acl::op::WRITE, id.0.as_str()) {
            r.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
            return r;
        }
    } else if !ctx.authorized_cluster(acl::op::IDEMPOTENT_WRITE)
        && !ctx.authorized_any(acl::op::WRITE, acl::resource::TOPIC)
    {
        r.error_code = ResponseError::ClusterAuthorizationFailed.code();
        return r;
    }
    if let Some(id) = req.transactional_id.as_ref() {
        let expected = (req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
        match b
            .txn
            .init_producer_id(id.0.as_str(), req.transaction_timeout_ms, expected)
            .await
        {
            Ok((pid, epoch)) => {
                r.producer_id = ProducerId(pid);
                r.producer_epoch = epoch;
            }
            Err(e) => r.error_code = super::fenced_for_version(e, version, 4).code(),
        }
        return r;
    }
    let ids = b.producer_ids.clone();
    match tokio::task::spawn_blocking(move || ids.next()).await {
        Ok(Ok(id)) => {
            info!(producer_id = id, "allocated producer id");
            r.producer_id = ProducerId(id);
            r.producer_epoch = 0;
        }
        Ok(Err(e)) => {
            error!(error = %e, "cannot reserve producer ids");
            r.error_code = ResponseError::KafkaStorageError.code();
        }
        Err(e) => {
            error!(error = %e, "producer id allocation task failed");
            r.error_code = ResponseError::UnknownServerError.code();
        }
    }
    r
}
