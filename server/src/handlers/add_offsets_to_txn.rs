//! AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the producer's transaction,
//! so that its TxnOffsetCommits are committed or aborted with it. Before v2, PRODUCER_FENCED is
//! answered as INVALID_PRODUCER_EPOCH.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use tracing::error;

use super::{blocking, RequestContext};
use crate::group::{partition_for, OFFSETS_TOPIC};

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let mut r = AddOffsetsToTxnResponse::default();
    // WRITE on the transactional id, READ on the group (Kafka).
    if !ctx.authorized_txn(crate::acl::op::WRITE, req.transactional_id.0.as_str()) {
        r.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
        return r;
    }
    if !ctx.authorized_group(crate::acl::op::READ, req.group_id.0.as_str()) {
        r.error_code = ResponseError::GroupAuthorizationFailed.code();
        return r;
    }
    let groups = b.groups.clone();
    let count = match blocking(move || groups.ensure_offsets_topic()).await {
        Ok(t) => t.partition_count(),
        Err(e) => {
            error!(error = %e, "cannot create __consumer_offsets");
            r.error_code = ResponseError::CoordinatorNotAvailable.code();
            return r;
        }
    };
    let partition = (
        OFFSETS_TOPIC.to_string(),
        partition_for(req.group_id.0.as_str(), count),
    );
    if let Err(e) = b
        .txn
        .add_partitions(
            req.transactional_id.0.as_str(),
            req.producer_id.0,
            req.producer_epoch,
            &[partition],
        )
        .await
    {
        r.error_code = super::fenced_for_version(e, version, 2).code();
    }
    r
}
