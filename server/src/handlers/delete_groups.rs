//! DeleteGroups: removes empty groups and their committed offsets (tombstones in
//! `__consumer_offsets`); GROUP_ID_NOT_FOUND and NON_EMPTY_GROUP otherwise.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::RequestContext;

pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let b = ctx.broker;
    let mut results = Vec::with_capacity(req.groups_names.len());
    for id in req.groups_names {
        let code = if !ctx.authorized_group(crate::acl::op::DELETE, id.as_str()) {
            kafka_protocol::error::ResponseError::GroupAuthorizationFailed.code()
        } else {
            match b.groups.delete_group(id.as_str()).await {
                Ok(()) => 0,
                Err(e) => e.code(),
            }
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(code),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
