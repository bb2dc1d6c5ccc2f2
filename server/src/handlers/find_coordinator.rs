//! FindCoordinator: on a single node this broker coordinates every group. Transaction and
//! share-group coordinators are not implemented yet and answer COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::s;
use crate::broker::Broker;

pub(crate) fn handle(
    b: &Broker,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let answer = |key_type: i8| -> (i16, Option<String>) {
        if key_type == 0 {
            (0, None)
        } else {
            (
                ResponseError::CoordinatorNotAvailable.code(),
                Some("minikafka has no transaction or share-group coordinator yet".into()),
            )
        }
    };
    let mut r = FindCoordinatorResponse::default();
    if version < 4 {
        let (code, msg) = answer(req.key_type);
        r.error_code = code;
        if version >= 1 {
            r.error_message = msg.map(s);
        }
        if code == 0 {
            r.node_id = BrokerId(b.config.node_id);
            r.host = s(b.advertised_host.clone());
            r.port = b.advertised_port;
        } else {
            r.node_id = BrokerId(-1);
            r.port = -1;
        }
    } else {
        r.coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let (code, msg) = answer(req.key_type);
                let mut c = Coordinator::default()
                    .with_key(key)
                    .with_error_code(code)
                    .with_error_message(msg.map(s));
                if code == 0 {
                    c.node_id = BrokerId(b.config.node_id);
                    c.host = s(b.advertised_host.clone());
                    c.port = b.advertised_port;
                } else {
                    c.node_id = BrokerId(-1);
                    c.port = -1;
                }
                c
            })
            .collect();
    }
    r
}
