//! APIs that Kafka serves on a broker listener for features minikafka does not have (client
//! quotas, delegation tokens). Before, a request for one
//! closed the connection, which clients report as "disconnected" and retry; now each gets the
//! answer Kafka gives when the feature is off or has nothing to do, which the client surfaces:
//!
//! - DescribeClientQuotas: none is set.
//! - Create/Renew/Expire/DescribeDelegationToken: DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, Kafka's
//!   answer on a PLAINTEXT or SSL listener; given on SASL listeners too (minikafka has no tokens).
//!
//! DescribeUserScramCredentials moved to `scram_credentials.rs` with SASL/SCRAM,
//! the ACL APIs to `acls.rs` with the authorizer,
//! DescribeLogDirs and AlterReplicaLogDirs to `log_dirs.rs` when several log directories
//! came, Alter/ListPartitionReassignments to `reassignments.rs` with reassignment.
//!
//! Each is advertised in ApiVersions because Kafka advertises it on a broker and these answers
//! are what Kafka itself gives in that configuration. Work is bounded by the request (or, for
//! "all", by the topics that exist); repeated topics are described once.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    CreateDelegationTokenRequest, CreateDelegationTokenResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, DescribeDelegationTokenRequest, DescribeDelegationTokenResponse,
    ExpireDelegationTokenRequest, ExpireDelegationTokenResponse, RenewDelegationTokenRequest,
    RenewDelegationTokenResponse,
};

use super::RequestContext;

pub(crate) async fn describe_client_quotas(
    ctx: &RequestContext<'_>,
    _req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    // DESCRIBE_CONFIGS on the cluster (Kafka), with an authorizer (issue 14).
    if !ctx.authorized_cluster(crate::acl::op::DESCRIBE_CONFIGS) {
        return DescribeClientQuotasResponse::default().with_error_code(
            kafka_protocol::error::ResponseError::ClusterAuthorizationFailed.code(),
        );
    }
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
