//! SyncGroup: the leader hands in the assignment; every member waits for its own part.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::{s, RequestContext};
use crate::group::classic::SyncParams;

pub(crate) async fn handle(ctx: &RequestContext<'_>, req: SyncGroupRequest) -> SyncGroupResponse {
    let b = ctx.broker;
    let shutdown = ctx.shutdown;
    let r = if req.group_id.is_empty() {
        return SyncGroupResponse::default().with_error_code(ResponseError::InvalidGroupId.code());
    } else if !ctx.authorized_group(crate::acl::op::READ, req.group_id.as_str()) {
        return SyncGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    } else {
        let p = SyncParams {
            member_id: req.member_id.to_string(),
            instance_id: req.group_instance_id.map(|i| i.to_string()),
            generation: req.generation_id,
            protocol_type: req.protocol_type.map(|t| t.to_string()),
            protocol_name: req.protocol_name.map(|t| t.to_string()),
            assignments: req
                .assignments
                .into_iter()
                .map(|a| (a.member_id.to_string(), a.assignment))
                .collect(),
        };
        tokio::select! {
            r = b.groups.sync_group(req.group_id.as_str(), p) => r,
            () = shutdown.cancelled() => {
                return SyncGroupResponse::default().with_error_code(ResponseError::NotCoordinator.code());
            }
        }
    };
    SyncGroupResponse::default()
        .with_error_code(r.error)
        .with_protocol_type(r.protocol_type.map(s))
        .with_protocol_name(r.protocol_name.map(s))
        .with_assignment(r.assignment)
}
