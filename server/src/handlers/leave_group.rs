//! LeaveGroup: one member (v0-2) or a batch identified by member or instance id (v3+).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::RequestContext;

pub(crate) async fn handle(ctx: &RequestContext<'_>, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let b = ctx.broker;
    let version = ctx.version;
    if req.group_id.is_empty() {
        return LeaveGroupResponse::default().with_error_code(ResponseError::InvalidGroupId.code());
    }
    if !ctx.authorized_group(crate::acl::op::READ, req.group_id.as_str()) {
        return LeaveGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    if version < 3 {
        let r = b
            .groups
            .leave(req.group_id.as_str(), &[(req.member_id.to_string(), None)])
            .await;
        let code = r
            .into_iter()
            .next()
            .map_or(0, |r| r.err().map_or(0, |e| e.code()));
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let who: Vec<(String, Option<String>)> = req
        .members
        .iter()
        .map(|m| {
            (
                m.member_id.to_string(),
                m.group_instance_id.as_ref().map(|i| i.to_string()),
            )
        })
        .collect();
    let results = b.groups.leave(req.group_id.as_str(), &who).await;
    let members = req
        .members
        .into_iter()
        .zip(results)
        .map(|(m, r)| {
            MemberResponse::default()
                .with_member_id(m.member_id)
                .with_group_instance_id(m.group_instance_id)
                .with_error_code(r.err().map_or(0, |e| e.code()))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}
