//! DescribeAcls / CreateAcls / DeleteAcls (issue 14): the ACLs of [`crate::acl`], kept in the
//! cluster metadata log, managed as Kafka's `AclApis` and `AclControlManager` do, so Kafka's
//! `kafka-acls` tool and the Admin API work.
//!
//! - Without `authorizer.class.name`: SECURITY_DISABLED, as Kafka without an authorizer
//!   (top-level for Describe, per creation / filter otherwise).
//! - Describe needs DESCRIBE on the cluster, Create and Delete ALTER on the cluster
//!   (CLUSTER_AUTHORIZATION_FAILED).
//! - A creation Kafka would refuse (pattern type other than LITERAL/PREFIXED, ANY or unknown
//!   operation, permission or resource type, empty name, a cluster not named `kafka-cluster`,
//!   a principal that is not `Type:name`) is INVALID_REQUEST with Kafka's message; an ACL that
//!   exists already is a success that changes nothing. The valid creations of one request are
//!   one batch of records.
//! - Delete answers, per filter, every ACL it removed; all filters' removals are one batch.
//!
//! Work is bounded by the ACLs that exist and the request's entries.

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use tracing::info;

use super::{blocking, s, topic_error, RequestContext};
use crate::acl::{self, op, AclBinding, AclFilter};
use crate::controller::MetadataRecord;

/// Kafka's message for DescribeAcls without an authorizer.
const NO_AUTHORIZER_DESCRIBE: &str = "No Authorizer is configured on the broker";
/// Kafka's message for CreateAcls / DeleteAcls without an authorizer.
const NO_AUTHORIZER: &str = "No Authorizer is configured.";

fn text(v: Option<&StrBytes>) -> Option<String> {
    v.map(|t| t.to_string())
}

/// Why a filter is refused (INVALID_REQUEST), as Kafka's `AclControlManager.validateFilter`.
fn validate_filter(f: &AclFilter) -> Result<(), String> {
    if !(acl::pattern::ANY..=acl::pattern::PREFIXED).contains(&f.pattern_type) {
        return Err("Unknown patternFilter.".into());
    }
    if !(acl::resource::ANY..=acl::resource::USER).contains(&f.resource_type) {
        return Err("Unknown resourceTypeFilter.".into());
    }
    if !(op::ANY..=op::TWO_PHASE_COMMIT).contains(&f.operation) {
        return Err("Unknown operationFilter.".into());
    }
    if !(acl::permission::ANY..=acl::permission::ALLOW).contains(&f.permission_type) {
        return Err("Unknown permissionTypeFilter.".into());
    }
    if let Some(p) = &f.principal {
        acl::validate_principal(p)?;
    }
    Ok(())
}

pub(crate) async fn describe_acls(
    ctx: &RequestContext<'_>,
    req: DescribeAclsRequest,
) -> DescribeAclsResponse {
    if ctx.broker.config.authorizer.is_none() {
        return DescribeAclsResponse::default()
            .with_error_code(ResponseError::SecurityDisabled.code())
            .with_error_message(Some(s(NO_AUTHORIZER_DESCRIBE)));
    }
    if !ctx.authorized_cluster(op::DESCRIBE) {
        return DescribeAclsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let filter = AclFilter {
        resource_type: req.resource_type_filter,
        resource_name: text(req.resource_name_filter.as_ref()),
        pattern_type: req.pattern_type_filter,
        principal: text(req.principal_filter.as_ref()),
        host: text(req.host_filter.as_ref()),
        operation: req.operation,
        permission_type: req.permission_type,
    };
    if let Err(m) = validate_filter(&filter) {
        return DescribeAclsResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_error_message(Some(s(m)));
    }
    // Grouped by resource pattern, in a stable order.
    let image = ctx.broker.topics.image();
    let mut groups: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for (_, b) in image.acls().bindings() {
        if filter.matches(b) {
            groups
                .entry((b.resource_type, b.resource_name.clone(), b.pattern_type))
                .or_default()
                .push(
                    AclDescription::default()
                        .with_principal(s(b.principal.clone()))
                        .with_host(s(b.host.clone()))
                        .with_operation(b.operation)
                        .with_permission_type(b.permission_type),
                );
        }
    }
    DescribeAclsResponse::default().with_resources(
        groups
            .into_iter()
            .map(|((rt, name, pt), acls)| {
                DescribeAclsResource::default()
                    .with_resource_type(rt)
                    .with_resource_name(s(name))
                    .with_pattern_type(pt)
                    .with_acls(acls)
            })
            .collect(),
    )
}

/// Why a CreateAcls or DeleteAcls is refused whole: no authorizer (SECURITY_DISABLED), or no
/// ALTER on the cluster.
fn refusal(ctx: &RequestContext<'_>) -> Option<(ResponseError, Option<String>)> {
    if ctx.broker.config.authorizer.is_none() {
        Some((ResponseError::SecurityDisabled, Some(NO_AUTHORIZER.into())))
    } else if !ctx.authorized_cluster(op::ALTER) {
        Some((ResponseError::ClusterAuthorizationFailed, None))
    } else {
        None
    }
}

/// Record the ACL changes in the metadata log (nothing to do for none).
async fn commit(
    ctx: &RequestContext<'_>,
    records: Vec<MetadataRecord>,
) -> Result<(), (ResponseError, String)> {
    let topics = ctx.broker.topics.clone();
    blocking(move || topics.change_acls(records))
        .await
        .map_err(|e| (topic_error(&e), e.to_string()))
}

pub(crate) async fn create_acls(
    ctx: &RequestContext<'_>,
    req: CreateAclsRequest,
) -> CreateAclsResponse {
    let fail = |code: ResponseError, message: Option<String>| {
        AclCreationResult::default()
            .with_error_code(code.code())
            .with_error_message(message.map(s))
    };
    if let Some((code, message)) = refusal(ctx) {
        let refused = fail(code, message);
        return CreateAclsResponse::default().with_results(vec![refused; req.creations.len()]);
    }
    let image = ctx.broker.topics.image();
    let existing: HashSet<&AclBinding> = image.acls().bindings().iter().map(|(_, b)| b).collect();
    let mut results = Vec::with_capacity(req.creations.len());
    let mut records = Vec::new();
    let mut new: HashSet<AclBinding> = HashSet::new();
    let mut pending = Vec::new();
    for c in req.creations {
        let b = AclBinding {
            resource_type: c.resource_type,
            resource_name: c.resource_name.to_string(),
            pattern_type: c.resource_pattern_type,
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation: c.operation,
            permission_type: c.permission_type,
        };
        match acl::validate_binding(&b) {
            Err(m) => results.push(fail(ResponseError::InvalidRequest, Some(m))),
            Ok(()) => {
                if !existing.contains(&b) && new.insert(b.clone()) {
                    info!(principal = ctx.principal, acl = ?b, "creating ACL");
                    records.push(MetadataRecord::AccessControlEntry {
                        id: uuid::Uuid::new_v4(),
                        acl: b,
                    });
                }
                pending.push(results.len());
                results.push(AclCreationResult::default());
            }
        }
    }
    drop(image);
    if let Err((code, message)) = commit(ctx, records).await {
        for i in pending {
            results[i] = fail(code, Some(message.clone()));
        }
    }
    CreateAclsResponse::default().with_results(results)
}

pub(crate) async fn delete_acls(
    ctx: &RequestContext<'_>,
    req: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let fail = |code: ResponseError, message: Option<String>| {
        DeleteAclsFilterResult::default()
            .with_error_code(code.code())
            .with_error_message(message.map(s))
    };
    if let Some((code, message)) = refusal(ctx) {
        let refused = fail(code, message);
        return DeleteAclsResponse::default().with_filter_results(vec![refused; req.filters.len()]);
    }
    let image = ctx.broker.topics.image();
    let mut results = Vec::with_capacity(req.filters.len());
    let mut removed = HashSet::new();
    let mut records = Vec::new();
    let mut pending = Vec::new();
    for f in req.filters {
        let filter = AclFilter {
            resource_type: f.resource_type_filter,
            resource_name: text(f.resource_name_filter.as_ref()),
            pattern_type: f.pattern_type_filter,
            principal: text(f.principal_filter.as_ref()),
            host: text(f.host_filter.as_ref()),
            operation: f.operation,
            permission_type: f.permission_type,
        };
        if let Err(m) = validate_filter(&filter) {
            results.push(fail(ResponseError::InvalidRequest, Some(m)));
            continue;
        }
        let mut matching = Vec::new();
        for (id, b) in image.acls().bindings() {
            if !filter.matches(b) {
                continue;
            }
            if removed.insert(*id) {
                info!(principal = ctx.principal, acl = ?b, "deleting ACL");
                records.push(MetadataRecord::RemoveAccessControlEntry { id: *id });
            }
            matching.push(
                DeleteAclsMatchingAcl::default()
                    .with_resource_type(b.resource_type)
                    .with_resource_name(s(b.resource_name.clone()))
                    .with_pattern_type(b.pattern_type)
                    .with_principal(s(b.principal.clone()))
                    .with_host(s(b.host.clone()))
                    .with_operation(b.operation)
                    .with_permission_type(b.permission_type),
            );
        }
        pending.push(results.len());
        results.push(DeleteAclsFilterResult::default().with_matching_acls(matching));
    }
    drop(image);
    if let Err((code, message)) = commit(ctx, records).await {
        for i in pending {
            results[i] = fail(code, Some(message.clone()));
        }
    }
    DeleteAclsResponse::default().with_filter_results(results)
}
