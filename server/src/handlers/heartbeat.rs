//! Heartbeat: keeps a member alive and tells it when the group rebalances.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;

pub(crate) async fn handle(ctx: &RequestContext<'_>, req: HeartbeatRequest) -> HeartbeatResponse {
    let b = ctx.broker;
    let code = if req.group_id.is_empty() {
        ResponseError::InvalidGroupId.code()
    } else if !ctx.authorized_group(crate::acl::op::READ, req.group_id.as_str()) {
        ResponseError::GroupAuthorizationFailed.code()
    } else {
        match b.groups.heartbeat(
            req.group_id.as_str(),
            req.member_id.as_str(),
            req.group_instance_id.as_deref(),
            req.generation_id,
        ) {
            Ok(()) => 0,
            Err(e) => e.code(),
        }
    };
    HeartbeatResponse::default().with_error_code(code)
}
