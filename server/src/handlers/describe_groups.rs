//! DescribeGroups: state, protocol and members of classic groups. An unknown group is shown as
//! `Dead` (v6+ also with GROUP_ID_NOT_FOUND, as Kafka 4 does).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::{s, RequestContext};
use crate::acl;

/// `authorized_operations` when the client did not ask for them.
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let b = ctx.broker;
    let version = ctx.version;
    let groups = req
        .groups
        .into_iter()
        .map(|id| {
            let mut out =
                DescribedGroup::default().with_authorized_operations(OPERATIONS_NOT_REQUESTED);
            // DESCRIBE on the group, else GROUP_AUTHORIZATION_FAILED (Kafka).
            if !ctx.authorized_group(acl::op::DESCRIBE, id.as_str()) {
                return out
                    .with_group_id(id)
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code());
            }
            if version >= 3 && req.include_authorized_operations {
                out.authorized_operations =
                    ctx.authorized_operations(acl::resource::GROUP, id.as_str());
            }
            let Some(d) = b.groups.describe(id.as_str()) else {
                let mut out = out.with_group_id(id.clone()).with_group_state(s("Dead"));
                if version >= 6 {
                    out.error_code = ResponseError::GroupIdNotFound.code();
                    out.error_message = Some(s(format!("Group {} not found.", id.as_str())));
                }
                return out;
            };
            out.with_group_id(id)
                .with_group_state(s(d.state))
                .with_protocol_type(s(d.protocol_type))
                .with_protocol_data(s(d.protocol))
                .with_members(
                    d.members
                        .into_iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(s(m.member_id))
                                .with_group_instance_id(m.instance_id.map(s))
                                .with_client_id(s(m.client_id))
                                .with_client_host(s(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
