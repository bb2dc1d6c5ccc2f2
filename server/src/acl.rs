//! ACL authorization (issue 14): Kafka's model of access control entries and the decisions of
//! its `StandardAuthorizer`, so that `authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer`
//! means on minikafka what it means on Kafka.
//!
//! An ACL binds a resource pattern (type, name, LITERAL or PREFIXED) to an entry (principal,
//! host, operation, ALLOW or DENY). The bindings live in the cluster metadata log
//! (`MetadataRecord::AccessControlEntry` / `RemoveAccessControlEntry`, Kafka's
//! `AccessControlEntryRecord`s), so every broker has the same set and it survives restarts; the
//! metadata image carries them as an [`AclSet`], rebuilt only when they change.
//!
//! A decision ([`AclSet::authorize`]), as Kafka's `StandardAuthorizerData.authorize`:
//! - a super user (`super.users`) is allowed everything;
//! - the bindings of the resource are those whose pattern matches its name: LITERAL equal or
//!   `*`, PREFIXED a prefix of it;
//! - a DENY of the principal (or `User:*`), the host (or `*`) and the operation (or ALL) wins;
//! - else an ALLOW of the same allows, where READ, WRITE, DELETE and ALTER also allow DESCRIBE,
//!   and ALTER_CONFIGS allows DESCRIBE_CONFIGS;
//! - a resource without any binding is allowed only with `allow.everyone.if.no.acl.found`.
//!
//! Decisions are cached per (principal, host, operation, resource) in the [`AclSet`]; a change of
//! the ACLs makes a new set, so the cache is never stale. Produce and Fetch thus cost one hash
//! lookup per topic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

/// Kafka's `ResourceType` codes.
pub mod resource {
    /// `ANY` (filters only).
    pub const ANY: i8 = 1;
    /// `TOPIC`.
    pub const TOPIC: i8 = 2;
    /// `GROUP`.
    pub const GROUP: i8 = 3;
    /// `CLUSTER` (its one name is `kafka-cluster`).
    pub const CLUSTER: i8 = 4;
    /// `TRANSACTIONAL_ID`.
    pub const TRANSACTIONAL_ID: i8 = 5;
    /// `DELEGATION_TOKEN`.
    pub const DELEGATION_TOKEN: i8 = 6;
    /// `USER`.
    pub const USER: i8 = 7;
}

/// Kafka's `PatternType` codes.
pub mod pattern {
    /// `ANY` (filters: any pattern type, name compared exactly).
    pub const ANY: i8 = 1;
    /// `MATCH` (filters: every pattern that matches the name).
    pub const MATCH: i8 = 2;
    /// `LITERAL`.
    pub const LITERAL: i8 = 3;
    /// `PREFIXED`.
    pub const PREFIXED: i8 = 4;
}

/// Kafka's `AclOperation` codes.
pub mod op {
    /// `ANY` (filters only).
    pub const ANY: i8 = 1;
    /// `ALL`.
    pub const ALL: i8 = 2;
    /// `READ`.
    pub const READ: i8 = 3;
    /// `WRITE`.
    pub const WRITE: i8 = 4;
    /// `CREATE`.
    pub const CREATE: i8 = 5;
    /// `DELETE`.
    pub const DELETE: i8 = 6;
    /// `ALTER`.
    pub const ALTER: i8 = 7;
    /// `DESCRIBE`.
    pub const DESCRIBE: i8 = 8;
    /// `CLUSTER_ACTION`.
    pub const CLUSTER_ACTION: i8 = 9;
    /// `DESCRIBE_CONFIGS`.
    pub const DESCRIBE_CONFIGS: i8 = 10;
    /// `ALTER_CONFIGS`.
    pub const ALTER_CONFIGS: i8 = 11;
    /// `IDEMPOTENT_WRITE`.
    pub const IDEMPOTENT_WRITE: i8 = 12;
    /// `CREATE_TOKENS`.
    pub const CREATE_TOKENS: i8 = 13;
    /// `DESCRIBE_TOKENS`.
    pub const DESCRIBE_TOKENS: i8 = 14;
    /// `TWO_PHASE_COMMIT` (KIP-939).
    pub const TWO_PHASE_COMMIT: i8 = 15;
}

/// Kafka's `AclPermissionType` codes.
pub mod permission {
    /// `ANY` (filters only).
    pub const ANY: i8 = 1;
    /// `DENY`.
    pub const DENY: i8 = 2;
    /// `ALLOW`.
    pub const ALLOW: i8 = 3;
}

/// The one name of the cluster resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// The wildcard resource name, principal (`User:*`) and host.
pub const WILDCARD: &str = "*";

/// One ACL (Kafka's `AclBinding`; `AccessControlEntryRecord` without its id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    /// [`resource`] code.
    pub resource_type: i8,
    /// Resource name (or prefix, or `*`).
    pub resource_name: String,
    /// [`pattern`] code: LITERAL or PREFIXED.
    pub pattern_type: i8,
    /// `Type:name` (`User:alice`, `User:*`).
    pub principal: String,
    /// `*` or an IP address.
    pub host: String,
    /// [`op`] code.
    pub operation: i8,
    /// [`permission`] code: ALLOW or DENY.
    pub permission_type: i8,
}

/// A filter of ACLs (Kafka's `AclBindingFilter`): DescribeAcls and DeleteAcls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    /// [`resource`] code, ANY for all.
    pub resource_type: i8,
    /// `None`: every name.
    pub resource_name: Option<String>,
    /// [`pattern`] code: ANY, MATCH, LITERAL or PREFIXED.
    pub pattern_type: i8,
    /// `None`: every principal.
    pub principal: Option<String>,
    /// `None`: every host.
    pub host: Option<String>,
    /// [`op`] code, ANY for all.
    pub operation: i8,
    /// [`permission`] code, ANY for all.
    pub permission_type: i8,
}

impl AclFilter {
    /// Whether `b` passes the filter (Kafka's `AclBindingFilter.matches`).
    pub fn matches(&self, b: &AclBinding) -> bool {
        let rt = self.resource_type == resource::ANY || self.resource_type == b.resource_type;
        let pt = matches!(self.pattern_type, pattern::ANY | pattern::MATCH)
            || self.pattern_type == b.pattern_type;
        let name = match &self.resource_name {
            None => true,
            Some(n) if self.pattern_type == pattern::MATCH => match b.pattern_type {
                pattern::LITERAL => *n == b.resource_name || b.resource_name == WILDCARD,
                pattern::PREFIXED => n.starts_with(&b.resource_name),
                _ => false,
            },
            Some(n) => *n == b.resource_name,
        };
        let principal = self.principal.as_ref().is_none_or(|p| *p == b.principal);
        let host = self.host.as_ref().is_none_or(|h| *h == b.host);
        let operation = self.operation == op::ANY || self.operation == b.operation;
        let permission =
            self.permission_type == permission::ANY || self.permission_type == b.permission_type;
        rt && pt && name && principal && host && operation && permission
    }
}

/// Why an ACL or a filter is refused (INVALID_REQUEST with this message, as Kafka's
/// `AclControlManager.validateNewAcl` and `AclApis`).
pub fn validate_binding(b: &AclBinding) -> Result<(), String> {
    if !matches!(b.pattern_type, pattern::LITERAL | pattern::PREFIXED) {
        return Err(format!("Invalid patternType {}", b.pattern_type));
    }
    if !(op::ALL..=op::TWO_PHASE_COMMIT).contains(&b.operation) {
        return Err(format!("Invalid operation {}", b.operation));
    }
    if !matches!(b.permission_type, permission::DENY | permission::ALLOW) {
        return Err(format!("Invalid permissionType {}", b.permission_type));
    }
    if !(resource::TOPIC..=resource::USER).contains(&b.resource_type) {
        return Err(format!("Invalid resourceType {}", b.resource_type));
    }
    if b.resource_name.is_empty() {
        return Err("Resource name should not be empty".into());
    }
    if b.resource_type == resource::CLUSTER && b.resource_name != CLUSTER_NAME {
        return Err("The only valid name for the CLUSTER resource is kafka-cluster".into());
    }
    validate_principal(&b.principal)?;
    if b.host.is_empty() {
        return Err("Invalid host: empty".into());
    }
    Ok(())
}

/// A principal must be `Type:name` (Kafka's `SecurityUtils.parseKafkaPrincipal`).
pub fn validate_principal(p: &str) -> Result<(), String> {
    match p.split_once(':') {
        Some((t, n)) if !t.is_empty() && !n.is_empty() => Ok(()),
        _ => Err(format!(
            "Could not parse principal from `{p}` (no colon is found separating principal type from name)."
        )),
    }
}

/// The operations that imply `operation` when allowed (Kafka's `StandardAuthorizerData`
/// implication rules): itself, ALL, and for DESCRIBE: READ, WRITE, DELETE, ALTER; for
/// DESCRIBE_CONFIGS: ALTER_CONFIGS.
fn allow_implies(acl_op: i8, wanted: i8) -> bool {
    acl_op == op::ALL
        || acl_op == wanted
        || (wanted == op::DESCRIBE
            && matches!(acl_op, op::READ | op::WRITE | op::DELETE | op::ALTER))
        || (wanted == op::DESCRIBE_CONFIGS && acl_op == op::ALTER_CONFIGS)
}

/// The operations authorized-operations fields list for a resource type (Kafka's
/// `AclEntry.supportedOperations`).
pub fn supported_operations(resource_type: i8) -> &'static [i8] {
    match resource_type {
        resource::TOPIC => &[
            op::READ,
            op::WRITE,
            op::CREATE,
            op::DESCRIBE,
            op::DELETE,
            op::ALTER,
            op::DESCRIBE_CONFIGS,
            op::ALTER_CONFIGS,
        ],
        resource::GROUP => &[op::READ, op::DESCRIBE, op::DELETE],
        resource::CLUSTER => &[
            op::CREATE,
            op::CLUSTER_ACTION,
            op::DESCRIBE_CONFIGS,
            op::ALTER_CONFIGS,
            op::IDEMPOTENT_WRITE,
            op::ALTER,
            op::DESCRIBE,
        ],
        resource::TRANSACTIONAL_ID => &[op::DESCRIBE, op::WRITE, op::TWO_PHASE_COMMIT],
        resource::DELEGATION_TOKEN => &[op::DESCRIBE],
        resource::USER => &[op::CREATE_TOKENS, op::DESCRIBE_TOKENS],
        _ => &[],
    }
}

/// The authorizer's settings: `super.users` and `allow.everyone.if.no.acl.found`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerSettings {
    /// Principals allowed everything.
    pub super_users: Vec<String>,
    /// Allow access to a resource that has no ACL at all.
    pub allow_everyone_if_no_acl_found: bool,
}

/// Who asks: principal and client host (an IP address).
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// Kafka string form.
    pub principal: &'a str,
    /// The client's IP address as text.
    pub host: &'a str,
}

type CacheKey = (String, String, i8, i8, String);

/// The most decisions cached per ACL set; the cache is emptied when it is full.
const CACHE_LIMIT: usize = 50_000;

/// Every ACL of the cluster (one image's worth), with a decision cache (see the module docs).
#[derive(Debug, Default)]
pub struct AclSet {
    /// Bindings by their record id.
    bindings: Vec<(uuid::Uuid, AclBinding)>,
    cache: Mutex<HashMap<CacheKey, bool>>,
}

impl PartialEq for AclSet {
    fn eq(&self, other: &AclSet) -> bool {
        self.bindings == other.bindings
    }
}

impl AclSet {
    /// The set of `bindings` (by record id).
    pub fn new(bindings: impl IntoIterator<Item = (uuid::Uuid, AclBinding)>) -> AclSet {
        AclSet {
            bindings: bindings.into_iter().collect(),
            cache: Mutex::default(),
        }
    }

    /// Every binding with its id.
    pub fn bindings(&self) -> &[(uuid::Uuid, AclBinding)] {
        &self.bindings
    }

    /// Whether this set holds exactly `bindings`.
    pub fn same_as<'a>(
        &self,
        bindings: impl ExactSizeIterator<Item = (&'a uuid::Uuid, &'a AclBinding)>,
    ) -> bool {
        bindings.len() == self.bindings.len()
            && bindings
                .zip(&self.bindings)
                .all(|((i, b), (j, c))| i == j && b == c)
    }

    /// Kafka's decision for `who` doing `operation` on the resource (see the module docs).
    pub fn authorize(
        &self,
        settings: &AuthorizerSettings,
        who: Requester<'_>,
        operation: i8,
        resource_type: i8,
        name: &str,
    ) -> bool {
        if settings.super_users.iter().any(|s| s == who.principal) {
            return true;
        }
        let key = (
            who.principal.to_string(),
            who.host.to_string(),
            operation,
            resource_type,
            name.to_string(),
        );
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(d) = cache.get(&key) {
            return *d;
        }
        let decision = self.decide(settings, who, operation, resource_type, name);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, decision);
        decision
    }

    fn decide(
        &self,
        settings: &AuthorizerSettings,
        who: Requester<'_>,
        operation: i8,
        resource_type: i8,
        name: &str,
    ) -> bool {
        let mut any = false;
        let mut allowed = false;
        for (_, b) in &self.bindings {
            if b.resource_type != resource_type || !pattern_matches(b, name) {
                continue;
            }
            any = true;
            if !entry_matches(b, who) {
                continue;
            }
            if b.permission_type == permission::DENY
                && (b.operation == op::ALL || b.operation == operation)
            {
                return false;
            }
            if b.permission_type == permission::ALLOW && allow_implies(b.operation, operation) {
                allowed = true;
            }
        }
        allowed || (!any && settings.allow_everyone_if_no_acl_found)
    }

    /// Whether `who` may do `operation` on some resource of the type (Kafka's
    /// `Authorizer.authorizeByResourceType`, used by InitProducerId without a transactional id:
    /// WRITE on any topic): some ALLOW binding of the principal and host whose pattern is not
    /// covered by a matching DENY (a DENY of `*`, of the same literal name, or of a prefix of it).
    pub fn authorize_any(
        &self,
        settings: &AuthorizerSettings,
        who: Requester<'_>,
        operation: i8,
        resource_type: i8,
    ) -> bool {
        if settings.super_users.iter().any(|s| s == who.principal) {
            return true;
        }
        let relevant: Vec<&AclBinding> = self
            .bindings
            .iter()
            .map(|(_, b)| b)
            .filter(|b| b.resource_type == resource_type && entry_matches(b, who))
            .collect();
        let denies: Vec<&&AclBinding> = relevant
            .iter()
            .filter(|b| {
                b.permission_type == permission::DENY
                    && (b.operation == op::ALL || b.operation == operation)
            })
            .collect();
        let covered = |a: &AclBinding| {
            denies.iter().any(|d| {
                (d.pattern_type == pattern::LITERAL && d.resource_name == WILDCARD)
                    || (d.pattern_type == pattern::LITERAL
                        && a.pattern_type == pattern::LITERAL
                        && d.resource_name == a.resource_name)
                    || (d.pattern_type == pattern::PREFIXED
                        && a.resource_name.starts_with(&d.resource_name))
            })
        };
        let allowed = relevant.iter().any(|a| {
            a.permission_type == permission::ALLOW
                && allow_implies(a.operation, operation)
                && !covered(a)
        });
        allowed
            || (settings.allow_everyone_if_no_acl_found
                && !self
                    .bindings
                    .iter()
                    .any(|(_, b)| b.resource_type == resource_type))
    }
}

fn pattern_matches(b: &AclBinding, name: &str) -> bool {
    match b.pattern_type {
        pattern::LITERAL => b.resource_name == name || b.resource_name == WILDCARD,
        pattern::PREFIXED => name.starts_with(&b.resource_name),
        _ => false,
    }
}

fn entry_matches(b: &AclBinding, who: Requester<'_>) -> bool {
    (b.principal == who.principal || b.principal == "User:*")
        && (b.host == WILDCARD || b.host == who.host)
}

/// An empty set, for images built before any ACL exists.
pub fn empty() -> Arc<AclSet> {
    Arc::new(AclSet::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(principal: &str, op: i8, rt: i8, name: &str, pt: i8) -> AclBinding {
        AclBinding {
            resource_type: rt,
            resource_name: name.into(),
            pattern_type: pt,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission_type: permission::ALLOW,
        }
    }

    fn set(bindings: Vec<AclBinding>) -> AclSet {
        AclSet::new(bindings.into_iter().map(|b| (uuid::Uuid::new_v4(), b)))
    }

    const ALICE: Requester<'static> = Requester {
        principal: "User:alice",
        host: "127.0.0.1",
    };

    #[test]
    fn literal_prefixed_implication_and_deny() {
        let s = AuthorizerSettings::default();
        let mut deny = allow(
            "User:*",
            op::READ,
            resource::TOPIC,
            "pay-secret",
            pattern::LITERAL,
        );
        deny.permission_type = permission::DENY;
        let acls = set(vec![
            allow(
                "User:alice",
                op::WRITE,
                resource::TOPIC,
                "a",
                pattern::LITERAL,
            ),
            allow(
                "User:alice",
                op::READ,
                resource::TOPIC,
                "pay-",
                pattern::PREFIXED,
            ),
            deny,
        ]);
        assert!(acls.authorize(&s, ALICE, op::WRITE, resource::TOPIC, "a"));
        assert!(acls.authorize(&s, ALICE, op::DESCRIBE, resource::TOPIC, "a"));
        assert!(!acls.authorize(&s, ALICE, op::READ, resource::TOPIC, "a"));
        assert!(!acls.authorize(&s, ALICE, op::WRITE, resource::TOPIC, "b"));
        assert!(acls.authorize(&s, ALICE, op::READ, resource::TOPIC, "pay-1"));
        assert!(!acls.authorize(&s, ALICE, op::READ, resource::TOPIC, "pay-secret"));
        // DENY READ does not deny DESCRIBE (no implication for DENY).
        assert!(acls.authorize(&s, ALICE, op::DESCRIBE, resource::TOPIC, "pay-secret"));
        assert!(acls.authorize_any(&s, ALICE, op::WRITE, resource::TOPIC));
        let bob = Requester {
            principal: "User:bob",
            host: "127.0.0.1",
        };
        assert!(!acls.authorize_any(&s, bob, op::WRITE, resource::TOPIC));
        // No ACL on the resource: allow.everyone.if.no.acl.found decides.
        assert!(!acls.authorize(&s, bob, op::READ, resource::GROUP, "g"));
        // Decisions are cached per set (the settings of a broker never change): a new set for
        // other settings.
        let acls = set(acls.bindings().iter().map(|(_, b)| b.clone()).collect());
        let open = AuthorizerSettings {
            allow_everyone_if_no_acl_found: true,
            ..Default::default()
        };
        assert!(acls.authorize(&open, bob, op::READ, resource::GROUP, "g"));
        assert!(!acls.authorize(&open, bob, op::WRITE, resource::TOPIC, "a"));
        let acls = set(acls.bindings().iter().map(|(_, b)| b.clone()).collect());
        let sup = AuthorizerSettings {
            super_users: vec!["User:bob".into()],
            ..Default::default()
        };
        assert!(acls.authorize(&sup, bob, op::READ, resource::TOPIC, "pay-secret"));
    }

    #[test]
    fn filters_match_as_kafkas() {
        let b = allow(
            "User:alice",
            op::READ,
            resource::TOPIC,
            "pay-",
            pattern::PREFIXED,
        );
        let mut f = AclFilter {
            resource_type: resource::ANY,
            resource_name: Some("pay-1".into()),
            pattern_type: pattern::MATCH,
            principal: None,
            host: None,
            operation: op::ANY,
            permission_type: permission::ANY,
        };
        assert!(f.matches(&b));
        f.pattern_type = pattern::ANY;
        assert!(!f.matches(&b));
        f.resource_name = Some("pay-".into());
        assert!(f.matches(&b));
        f.pattern_type = pattern::LITERAL;
        assert!(!f.matches(&b));
    }
}
