//! APIs that Kafka serves on a broker listener for features minikafka does not have (client
//! quotas, delegation tokens). Before, a request for one
//! closed the connection, which clients report as "disconnected" and retry; now each gets the
//! answer Kafka gives when the feature is off or has nothing to do, which the client surfaces:
//!
//! - DescribeClientQuotas: none is set.
//! - DescribeUserScramCredentials: no credential exists: each named user RESOURCE_NOT_FOUND (a
//!   user named twice DUPLICATE_RESOURCE), "all users" an empty list, as Kafka's `ScramImage`.
//! - Create/Renew/Expire/DescribeDelegationToken: DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, Kafka's
//!   answer on a PLAINTEXT listener (the only kind minikafka has).
//!
//! DescribeAcls / CreateAcls / DeleteAcls moved to `acls.rs` with the authorizer (issue 14),
//! DescribeLogDirs and AlterReplicaLogDirs to `log_dirs.rs` when several log directories
//! came, Alter/ListPartitionReassignments to `reassignments.rs` with reassignment.
//!
//! Each is advertised in ApiVersions because Kafka advertises it on a broker and these answers
//! are what Kafka itself gives in that configuration. Work is bounded by the request (or, for
//! "all", by the topics that exist); repeated topics are described once.

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_user_scram_credentials_response::DescribeUserScramCredentialsResult;
use kafka_protocol::messages::{
    CreateDelegationTokenRequest, CreateDelegationTokenResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, DescribeDelegationTokenRequest, DescribeDelegationTokenResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
    ExpireDelegationTokenRequest, ExpireDelegationTokenResponse, RenewDelegationTokenRequest,
    RenewDelegationTokenResponse,
};

use kafka_protocol::protocol::StrBytes;

use super::{s, RequestContext};

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

pub(crate) async fn describe_user_scram_credentials(
    _ctx: &RequestContext<'_>,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    // Each distinct user once, in order of first appearance, marked if named more than once.
    let mut position: HashMap<StrBytes, usize> = HashMap::new();
    let mut users: Vec<(StrBytes, bool)> = Vec::new();
    for u in req.users.unwrap_or_default() {
        match position.get(&u.name) {
            Some(&i) => {
                if let Some(entry) = users.get_mut(i) {
                    entry.1 = true;
                }
            }
            None => {
                position.insert(u.name.clone(), users.len());
                users.push((u.name, false));
            }
        }
    }
    let results = users
        .into_iter()
        .map(|(user, twice)| {
            let (code, msg) = if twice {
                (
                    ResponseError::DuplicateResource,
                    "Cannot describe SCRAM credentials for the same user twice in a single request: ",
                )
            } else {
                (
                    ResponseError::ResourceNotFound,
                    "Attempt to describe a user credential that does not exist: ",
                )
            };
            DescribeUserScramCredentialsResult::default()
                .with_error_code(code.code())
                .with_error_message(Some(s(format!("{msg}{}", user.as_str()))))
                .with_user(user)
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
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
