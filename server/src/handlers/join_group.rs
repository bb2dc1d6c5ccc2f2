//! JoinGroup: hand the member to the group coordinator and answer when the join phase ends
//! (or at once for MEMBER_ID_REQUIRED, errors and resent joins). A broker shutdown answers
//! NOT_COORDINATOR so the client finds the coordinator again.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::{client_host, s, RequestContext};
use crate::group::classic::{JoinParams, JoinResult};

pub(crate) async fn handle(ctx: &RequestContext<'_>, req: JoinGroupRequest) -> JoinGroupResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let shutdown = ctx.shutdown;
    let member_id = req.member_id.to_string();
    let r = if req.group_id.is_empty() {
        JoinResult::error(ResponseError::InvalidGroupId, &member_id)
    } else if !ctx.authorized_group(crate::acl::op::READ, req.group_id.as_str()) {
        JoinResult::error(ResponseError::GroupAuthorizationFailed, &member_id)
    } else {
        let p = JoinParams {
            member_id: member_id.clone(),
            instance_id: req.group_instance_id.map(|i| i.to_string()),
            client_id: ctx.client_id.to_string(),
            client_host: client_host(ctx.peer),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: if version >= 1 {
                req.rebalance_timeout_ms
            } else {
                req.session_timeout_ms
            },
            protocol_type: req.protocol_type.to_string(),
            protocols: req
                .protocols
                .into_iter()
                .map(|p| (p.name.to_string(), p.metadata))
                .collect(),
            require_known_member_id: version >= 4,
            supports_skip_assignment: version >= 9,
        };
        tokio::select! {
            r = b.groups.join(req.group_id.as_str(), p) => r,
            () = shutdown.cancelled() => JoinResult::error(ResponseError::NotCoordinator, &member_id),
        }
    };
    JoinGroupResponse::default()
        .with_error_code(r.error)
        .with_generation_id(r.generation)
        .with_protocol_type(r.protocol_type.map(s))
        .with_protocol_name(if version < 7 {
            Some(s(r.protocol_name.unwrap_or_default()))
        } else {
            r.protocol_name.map(s)
        })
        .with_leader(s(r.leader))
        .with_skip_assignment(r.skip_assignment)
        .with_member_id(s(r.member_id))
        .with_members(
            r.members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(s(m.member_id))
                        .with_group_instance_id(m.instance_id.map(s))
                        .with_metadata(m.metadata)
                })
                .collect(),
        )
}
