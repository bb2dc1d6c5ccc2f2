//! FindCoordinator (single key, v0-3, and batched keys, v4+). A group's coordinator is the
//! leader of its `__consumer_offsets` partition — on a single node, this broker; the topic is
//! created on the first request for a group, as Kafka does. A transactional id's coordinator is
//! the leader of its `__transaction_state` partition (created on the first request for one). Share
//! groups are not implemented: COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use tracing::error;

use super::{blocking, s, RequestContext};

/// Key type of a group in FindCoordinator.
const GROUP: i8 = 0;
/// Key type of a transactional id.
const TRANSACTION: i8 = 1;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let answer = if b.replicas.log_dir().is_offline() {
        // The coordinators' partitions live in the failed log directory: they have no leader.
        (
            ResponseError::CoordinatorNotAvailable.code(),
            Some("the log directory is offline".to_string()),
        )
    } else if req.key_type == GROUP {
        let groups = b.groups.clone();
        match blocking(move || groups.ensure_offsets_topic()).await {
            Ok(_) => (0, None),
            Err(e) => {
                error!(error = %e, "cannot create __consumer_offsets");
                (
                    ResponseError::CoordinatorNotAvailable.code(),
                    Some(format!("cannot create __consumer_offsets: {e}")),
                )
            }
        }
    } else if req.key_type == TRANSACTION {
        let txn = b.txn.clone();
        match blocking(move || txn.ensure_state_topic()).await {
            Ok(_) => (0, None),
            Err(e) => {
                error!(error = %e, "cannot create __transaction_state");
                (
                    ResponseError::CoordinatorNotAvailable.code(),
                    Some(format!("cannot create __transaction_state: {e}")),
                )
            }
        }
    } else {
        (
            ResponseError::CoordinatorNotAvailable.code(),
            Some("minikafka has no share-group coordinator".to_string()),
        )
    };
    // (node id, host, port) given for a key: this node, or Kafka's "no node" on error.
    let node = |code: i16| {
        if code == 0 {
            ctx.this_node()
        } else {
            (BrokerId(-1), s(""), -1)
        }
    };
    let (code, msg) = answer;
    let msg: Option<StrBytes> = msg.map(s);
    let mut r = FindCoordinatorResponse::default();
    if version < 4 {
        r.error_code = code;
        if version >= 1 {
            r.error_message = msg;
        }
        (r.node_id, r.host, r.port) = node(code);
    } else {
        r.coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let (node_id, host, port) = node(code);
                Coordinator::default()
                    .with_key(key)
                    .with_error_code(code)
                    .with_error_message(msg.clone())
                    .with_node_id(node_id)
                    .with_host(host)
                    .with_port(port)
            })
            .collect();
    }
    r
}
