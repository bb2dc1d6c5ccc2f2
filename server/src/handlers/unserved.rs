//! APIs that Kafka serves on a broker listener for features minikafka does not have (ACLs,
//! client quotas) and DescribeLogDirs. Before, a request for one
//! closed the connection, which clients report as "disconnected" and retry; now each gets the
//! answer Kafka gives when the feature is off or has nothing to do, which the client surfaces:
//!
//! - DescribeAcls / CreateAcls / DeleteAcls: SECURITY_DISABLED "No Authorizer is configured…",
//!   as Kafka's `AclApis` without an authorizer (top-level for Describe, per creation / filter).
//! - DescribeClientQuotas: none is set.
//! - AlterReplicaLogDirs: a partition is already in the data directory (NONE); another
//!   directory is LOG_DIR_NOT_FOUND, an absent partition UNKNOWN_TOPIC_OR_PARTITION.
//! - DescribeUserScramCredentials: no credential exists: each named user RESOURCE_NOT_FOUND (a
//!   user named twice DUPLICATE_RESOURCE), "all users" an empty list, as Kafka's `ScramImage`.
//! - Create/Renew/Expire/DescribeDelegationToken: DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, Kafka's
//!   answer on a PLAINTEXT listener (the only kind minikafka has).
//! - DescribeLogDirs: a real answer: the data directory, its partitions with their sizes, and
//!   (v4) the volume's total and usable bytes; `kafka-log-dirs` and `Admin.describeLogDirs` use it.
//!
//! Each is advertised in ApiVersions because Kafka advertises it on a broker and these answers
//! are what Kafka itself gives in that configuration. Work is bounded by the request (or, for
//! "all", by the topics that exist); repeated topics are described once.

use std::collections::{HashMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::describe_user_scram_credentials_response::DescribeUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse, CreateAclsRequest, CreateAclsResponse,
    CreateDelegationTokenRequest, CreateDelegationTokenResponse, DeleteAclsRequest,
    DeleteAclsResponse, DescribeAclsRequest, DescribeAclsResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, DescribeDelegationTokenRequest, DescribeDelegationTokenResponse,
    DescribeLogDirsRequest, DescribeLogDirsResponse, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse, ExpireDelegationTokenRequest,
    ExpireDelegationTokenResponse, RenewDelegationTokenRequest, RenewDelegationTokenResponse,
    TopicName,
};

use kafka_protocol::protocol::StrBytes;

use super::{s, RequestContext};
use crate::metadata::TopicImage;

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

pub(crate) async fn describe_log_dirs(
    ctx: &RequestContext<'_>,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let b = ctx.broker;
    let dir = &b.config.data_dir;
    // Each wanted topic once, with the partitions asked for (`None`: all of them).
    let wanted: Vec<(std::sync::Arc<TopicImage>, Option<Vec<i32>>)> = match req.topics {
        None => b.topics.all().into_iter().map(|t| (t, None)).collect(),
        Some(list) => {
            let mut seen = HashSet::new();
            list.into_iter()
                .filter(|t| seen.insert(t.topic.0.clone()))
                .filter_map(|t| {
                    let image = b.topics.get(t.topic.0.as_str())?;
                    let mut partitions = t.partitions;
                    partitions.sort_unstable();
                    partitions.dedup();
                    Some((image, Some(partitions)))
                })
                .collect()
        }
    };
    let topics = wanted
        .into_iter()
        .map(|(t, only)| {
            let indexes: Vec<i32> =
                only.unwrap_or_else(|| t.partitions.iter().map(|p| p.index).collect());
            let partitions = indexes
                .into_iter()
                .filter_map(|i| {
                    let p = b.partition_of(&t, i)?;
                    Some(
                        DescribeLogDirsPartition::default()
                            .with_partition_index(i)
                            .with_partition_size(i64::try_from(p.size_bytes()).unwrap_or(i64::MAX))
                            .with_offset_lag(0),
                    )
                })
                .collect();
            DescribeLogDirsTopic::default()
                .with_name(TopicName(s(t.name.clone())))
                .with_partitions(partitions)
        })
        .collect();
    let (total_bytes, usable_bytes) = match rustix::fs::statvfs(dir) {
        Ok(v) => (
            i64::try_from(v.f_blocks.saturating_mul(v.f_frsize)).unwrap_or(i64::MAX),
            i64::try_from(v.f_bavail.saturating_mul(v.f_frsize)).unwrap_or(i64::MAX),
        ),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "statvfs of the data directory failed");
            (-1, -1)
        }
    };
    let log_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
    DescribeLogDirsResponse::default().with_results(vec![DescribeLogDirsResult::default()
        .with_log_dir(s(log_dir.display().to_string()))
        .with_topics(topics)
        .with_total_bytes(total_bytes)
        .with_usable_bytes(usable_bytes)])
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

pub(crate) async fn alter_replica_log_dirs(
    ctx: &RequestContext<'_>,
    req: AlterReplicaLogDirsRequest,
) -> AlterReplicaLogDirsResponse {
    let b = ctx.broker;
    let ours =
        std::path::absolute(&b.config.data_dir).unwrap_or_else(|_| b.config.data_dir.clone());
    let mut results = Vec::new();
    for dir in req.dirs {
        let here = std::path::absolute(dir.path.as_str()).is_ok_and(|p| p == ours);
        for t in dir.topics {
            let topic = b.topics.get(t.name.0.as_str());
            let partitions = t
                .partitions
                .into_iter()
                .map(|i| {
                    let exists = topic.as_ref().and_then(|t| b.partition_of(t, i)).is_some();
                    let code = if !here {
                        ResponseError::LogDirNotFound.code()
                    } else if !exists {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else {
                        0
                    };
                    AlterReplicaLogDirPartitionResult::default()
                        .with_partition_index(i)
                        .with_error_code(code)
                })
                .collect();
            results.push(
                AlterReplicaLogDirTopicResult::default()
                    .with_topic_name(t.name)
                    .with_partitions(partitions),
            );
        }
    }
    AlterReplicaLogDirsResponse::default().with_results(results)
}
