//! APIs that Kafka serves on a broker listener for features minikafka does not have (ACLs,
//! client quotas). Before, a request for one
//! closed the connection, which clients report as "disconnected" and retry; now each gets the
//! answer Kafka gives when the feature is off or has nothing to do, which the client surfaces:
//!
//! - DescribeAcls / CreateAcls / DeleteAcls: SECURITY_DISABLED "No Authorizer is configured…",
//!   as Kafka's `AclApis` without an authorizer (top-level for Describe, per creation / filter).
//! - DescribeClientQuotas: none is set.
//! - Create/Renew/Expire/DescribeDelegationToken: DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, Kafka's
//!   answer on a PLAINTEXT or SSL listener; given on SASL listeners too (minikafka has no tokens).
//!
//! DescribeUserScramCredentials moved to `scram_credentials.rs` with SASL/SCRAM,
//! DescribeLogDirs and AlterReplicaLogDirs moved to `log_dirs.rs` when several log directories
//! came, Alter/ListPartitionReassignments to `reassignments.rs` with reassignment.
//!
//! Each is advertised in ApiVersions because Kafka advertises it on a broker and these answers
//! are what Kafka itself gives in that configuration. Work is bounded by the request (or, for
//! "all", by the topics that exist); repeated topics are described once.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, CreateDelegationTokenRequest,
    CreateDelegationTokenResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest,
    DescribeAclsResponse, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
    DescribeDelegationTokenRequest, DescribeDelegationTokenResponse, ExpireDelegationTokenRequest,
    ExpireDelegationTokenResponse, RenewDelegationTokenRequest, RenewDelegationTokenResponse,
};

use super::{s, RequestContext};

/// Kafka's message for DescribeAcls without an authorizer.
const NO_AUTHORIZER_DESCRIBE: &str = "No Authorizer is configured on the broker";
/// Kafka's message for CreateAcls / DeleteAcls without an authorizer.
const NO_AUTHORIZER: &str = "No Authorizer is configured.";

pub(crate) async fn describe_acls(
    _ctx: &RequestContext<'_>,
    _req: DescribeAclsRequest,
) -> DescribeAclsResponse {
    DescribeAclsResponse::default()
        .with_error_code(ResponseError::SecurityDisabled.code())
        .with_error_message(Some(s(NO_AUTHORIZER_DESCRIBE)))
}

pub(crate) async fn create_acls(
    _ctx: &RequestContext<'_>,
    req: CreateAclsRequest,
) -> CreateAclsResponse {
    let refused = AclCreationResult::default()
        .with_error_code(ResponseError::SecurityDisabled.code())
        .with_error_message(Some(s(NO_AUTHORIZER)));
    CreateAclsResponse::default().with_results(vec![refused; req.creations.len()])
}

pub(crate) async fn delete_acls(
    _ctx: &RequestContext<'_>,
    req: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let refused = DeleteAclsFilterResult::default()
        .with_error_code(ResponseError::SecurityDisabled.code())
        .with_error_message(Some(s(NO_AUTHORIZER)));
    DeleteAclsResponse::default().with_filter_results(vec![refused; req.filters.len()])
}

pub(crate) async fn describe_client_quotas(
    _ctx: &RequestContext<'_>,
    _req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    DescribeClientQuotasResponse::default().with_entries(Some(Vec::new()))
}

/// Delegation tokens are refused on PLAINTEXT listeners (Kafka's `allowTokenRequests`).
fn token_refused() -> i16 {
    ResponseError::DelegationTokenRequestNotAllowed.code()
}

pub(crate) async fn create_delegation_token(
    _ctx: &RequestContext<'_>,
    _req: CreateDelegationTokenRequest,
) -> CreateDelegationTokenResponse {
    CreateDelegationTokenResponse::default().with_error_code(token_refused())
}

pub(crate) async fn renew_delegation_token(
    _ctx: &RequestContext<'_>,
    _req: RenewDelegationTokenRequest,
) -> RenewDelegationTokenResponse {
    RenewDelegationTokenResponse::default().with_error_code(token_refused())
}

pub(crate) async fn expire_delegation_token(
    _ctx: &RequestContext<'_>,
    _req: ExpireDelegationTokenRequest,
) -> ExpireDelegationTokenResponse {
    ExpireDelegationTokenResponse::default().with_error_code(token_refused())
}

pub(crate) async fn describe_delegation_token(
    _ctx: &RequestContext<'_>,
    _req: DescribeDelegationTokenRequest,
) -> DescribeDelegationTokenResponse {
    DescribeDelegationTokenResponse::default().with_error_code(token_refused())
}
