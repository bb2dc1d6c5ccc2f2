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
    // (node id, host, port) given for a key: this node, or Kafka's "no node" on error.
    let node = |code: i16| {
        if code == 0 {
            (
                BrokerId(b.config.node_id),
                s(b.advertised_host.clone()),
                b.advertised_port,
            )
        } else {
            (BrokerId(-1), s(""), -1)
        }
    };
    let mut r = FindCoordinatorResponse::default();
    if version < 4 {
        let (code, msg) = answer(req.key_type);
        r.error_code = code;
        if version >= 1 {
            r.error_message = msg.map(s);
        }
        (r.node_id, r.host, r.port) = node(code);
    } else {
        r.coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let (code, msg) = answer(req.key_type);
                let (node_id, host, port) = node(code);
                Coordinator::default()
                    .with_key(key)
                    .with_error_code(code)
                    .with_error_message(msg.map(s))
                    .with_node_id(node_id)
                    .with_host(host)
                    .with_port(port)
            })
            .collect();
    }
    r
}
