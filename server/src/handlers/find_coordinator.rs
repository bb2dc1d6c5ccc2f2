//! FindCoordinator (single key, v0-3, and batched keys, v4+). A group's coordinator is the
//! leader of its `__consumer_offsets` partition (Kafka's placement: the group id's Java hash
//! modulo the partition count); the topic is created on the first request for a group, as Kafka
//! does. A transactional id's coordinator is the leader of its `__transaction_state` partition
//! (created on the first request for one). A partition without a live leader answers
//! COORDINATOR_NOT_AVAILABLE; clients retry. Share
//! groups are not implemented: COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use tracing::error;

use std::sync::Arc;

use super::{blocking, s, RequestContext};
use crate::group::partition_for;
use crate::metadata::TopicImage;

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
    // The coordinators' topic, or why there is none.
    let topic: Result<Arc<TopicImage>, String> = if b.replicas.all_offline() {
        // The coordinators' partitions live in a failed log directory: they have no leader.
        Err("every log directory is offline".to_string())
    } else if req.key_type == GROUP {
        let groups = b.groups.clone();
        blocking(move || groups.ensure_offsets_topic())
            .await
            .map_err(|e| {
                error!(error = %e, "cannot create __consumer_offsets");
                format!("cannot create __consumer_offsets: {e}")
            })
    } else if req.key_type == TRANSACTION {
        let txn = b.txn.clone();
        blocking(move || txn.ensure_state_topic())
            .await
            .map_err(|e| {
                error!(error = %e, "cannot create __transaction_state");
                format!("cannot create __transaction_state: {e}")
            })
    } else {
        Err("minikafka has no share-group coordinator".to_string())
    };
    // The coordinator of `key`: the live leader of its partition, with Kafka's "no node" and
    // COORDINATOR_NOT_AVAILABLE when there is none.
    let answer = |key: &str| -> (i16, Option<StrBytes>, (BrokerId, StrBytes, i32)) {
        let none = (BrokerId(-1), s(""), -1);
        let unavailable = ResponseError::CoordinatorNotAvailable.code();
        // DESCRIBE on the group or transactional id (Kafka's `handleFindCoordinatorRequest`).
        if req.key_type == GROUP && !ctx.authorized_group(crate::acl::op::DESCRIBE, key) {
            return (ResponseError::GroupAuthorizationFailed.code(), None, none);
        }
        if req.key_type == TRANSACTION && !ctx.authorized_txn(crate::acl::op::DESCRIBE, key) {
            return (
                ResponseError::TransactionalIdAuthorizationFailed.code(),
                None,
                none,
            );
        }
        match &topic {
            Err(msg) => (unavailable, Some(s(msg.clone())), none),
            Ok(t) => {
                let index = partition_for(key, t.partition_count());
                let mut leader = t.partition(index).map_or(-1, |p| p.leader);
                // Led here from a failed log directory: no leader (as in Metadata).
                if leader == b.config.node_id
                    && b.replicas
                        .partition(&t.id, index)
                        .is_some_and(|p| p.log_dir().is_offline())
                {
                    leader = -1;
                }
                match ctx.node(leader) {
                    Some(node) => (0, None, node),
                    None => (
                        unavailable,
                        Some(s(format!(
                            "partition {index} of {} has no live leader",
                            t.name
                        ))),
                        none,
                    ),
                }
            }
        }
    };
    let mut r = FindCoordinatorResponse::default();
    if version < 4 {
        let (code, msg, node) = answer(req.key.as_str());
        r.error_code = code;
        if version >= 1 {
            r.error_message = msg;
        }
        (r.node_id, r.host, r.port) = node;
    } else {
        r.coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let (code, msg, (node_id, host, port)) = answer(key.as_str());
                Coordinator::default()
                    .with_key(key)
                    .with_error_code(code)
                    .with_error_message(msg)
                    .with_node_id(node_id)
                    .with_host(host)
                    .with_port(port)
            })
            .collect();
    }
    r
}
