//! ApiVersions: advertises exactly the APIs of the route table.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::RequestContext;
use crate::dispatch::ROUTES;

/// The ApiVersions answer (the same for every version we serve).
pub(crate) async fn handle(
    _ctx: &RequestContext<'_>,
    _req: ApiVersionsRequest,
) -> ApiVersionsResponse {
    response()
}

/// Every route's key and version range, in table order.
pub(crate) fn response() -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.api_keys = ROUTES
        .iter()
        .map(|route| {
            ApiVersion::default()
                .with_api_key(route.key as i16)
                .with_min_version(route.min)
                .with_max_version(route.max)
        })
        .collect();
    r
}
