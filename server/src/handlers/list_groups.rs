//! ListGroups: every group with its protocol type, state (v4+, with a state filter) and type
//! (v5+, with a type filter: `classic` or `consumer`).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::{s, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext<'_>, req: ListGroupsRequest) -> ListGroupsResponse {
    let b = ctx.broker;
    let wanted = |filter: &[kafka_protocol::protocol::StrBytes], value: &str| {
        filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value))
    };
    // DESCRIBE on the cluster lists every group, else only those the principal may DESCRIBE.
    let all = ctx.authorized_cluster(crate::acl::op::DESCRIBE);
    let groups = b
        .groups
        .list()
        .into_iter()
        .filter(|g| all || ctx.authorized_group(crate::acl::op::DESCRIBE, &g.group_id))
        .filter(|g| wanted(&req.states_filter, g.state) && wanted(&req.types_filter, g.group_type))
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(s(g.group_id)))
                .with_protocol_type(s(g.protocol_type))
                .with_group_state(s(g.state))
                .with_group_type(s(g.group_type))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
