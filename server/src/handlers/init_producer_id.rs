//! InitProducerId for idempotent (non-transactional) producers: a fresh producer id at epoch
//! 0, unique across restarts. Transactional ids need the transaction coordinator, which does
//! not exist yet: they get COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tracing::{error, info};

use crate::broker::Broker;

pub(crate) async fn handle(b: &Broker, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let mut r = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if req
        .transactional_id
        .as_ref()
        .is_some_and(|t| !t.0.is_empty())
    {
        r.error_code = ResponseError::CoordinatorNotAvailable.code();
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
