//! SCRAM credentials and the SASL APIs reached outside an authentication exchange.
//!
//! - AlterUserScramCredentials (`kafka-configs --alter --add-config 'SCRAM-SHA-512=[...]'
//!   --entity-type users`): the client salts the password (the broker never sees it); each
//!   valid upsertion becomes a `UserScramCredential` record and each deletion a
//!   `RemoveUserScramCredential` record of the metadata log, one batch per request, so every
//!   broker has them and they survive restarts. Checks and messages follow Kafka's
//!   `ScramControlManager`: a user named twice DUPLICATE_RESOURCE, an empty name or an
//!   iteration count outside 4096..=16384 UNACCEPTABLE_CREDENTIAL, an unknown mechanism
//!   UNSUPPORTED_SASL_MECHANISM, deleting what does not exist RESOURCE_NOT_FOUND.
//! - DescribeUserScramCredentials: each user's mechanisms and iterations (never the keys);
//!   a named user without credentials RESOURCE_NOT_FOUND, named twice DUPLICATE_RESOURCE.
//! - SaslHandshake / SaslAuthenticate reach these routes only where no exchange is under way
//!   (a PLAINTEXT or SSL listener, or a connection already authenticated; the exchange itself is
//!   the connection's, `net/connection.rs` and `sasl/`): ILLEGAL_SASL_STATE, as Kafka's
//!   `KafkaApis` answers them.
//!
//! Work is bounded by the request (or by the users that exist for "all users").

use std::collections::{BTreeMap, HashMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{s, RequestContext};
use crate::controller::MetadataRecord;
use crate::sasl::scram::{ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};

/// SaslHandshake outside an exchange (Kafka's `handleSaslHandshakeRequest`).
pub(crate) async fn sasl_handshake(
    _ctx: &RequestContext<'_>,
    _req: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code())
}

/// SaslAuthenticate outside an exchange (Kafka's `handleSaslAuthenticateRequest`).
pub(crate) async fn sasl_authenticate(
    _ctx: &RequestContext<'_>,
    _req: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_error_message(Some(s(
            "SaslAuthenticate request received after successful authentication",
        )))
}

/// Each distinct name once, in order of first appearance, with whether it was named again.
fn distinct(names: impl Iterator<Item = StrBytes>) -> Vec<(StrBytes, bool)> {
    let mut position: HashMap<StrBytes, usize> = HashMap::new();
    let mut out: Vec<(StrBytes, bool)> = Vec::new();
    for name in names {
        match position.get(&name) {
            Some(&i) => {
                if let Some(entry) = out.get_mut(i) {
                    entry.1 = true;
                }
            }
            None => {
                position.insert(name.clone(), out.len());
                out.push((name, false));
            }
        }
    }
    out
}

pub(crate) async fn describe(
    ctx: &RequestContext<'_>,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    // Kafka: DESCRIBE on the cluster, with an authorizer (issue 14).
    if !ctx.authorized_cluster(crate::acl::op::DESCRIBE) {
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let b = ctx.broker;
    super::catch_up(b, super::CATCH_UP_SHORT).await;
    let state = b.topics.quorum().state();
    let infos = |creds: &BTreeMap<i8, crate::controller::records::ScramCredential>| {
        creds
            .iter()
            .map(|(m, c)| {
                CredentialInfo::default()
                    .with_mechanism(*m)
                    .with_iterations(c.iterations)
            })
            .collect::<Vec<_>>()
    };
    let results = match req.users {
        None => state
            .scram
            .iter()
            .map(|(user, creds)| {
                DescribeUserScramCredentialsResult::default()
                    .with_user(s(user.clone()))
                    .with_credential_infos(infos(creds))
            })
            .collect(),
        Some(users) => distinct(users.into_iter().map(|u| u.name))
            .into_iter()
            .map(|(user, twice)| {
                let found = state.scram.get(user.as_str());
                let result = DescribeUserScramCredentialsResult::default();
                let (code, msg) = match (twice, found) {
                    (true, _) => (
                        ResponseError::DuplicateResource,
                        "Cannot describe SCRAM credentials for the same user twice in a single request: ",
                    ),
                    (false, None) => (
                        ResponseError::ResourceNotFound,
                        "Attempt to describe a user credential that does not exist: ",
                    ),
                    (false, Some(creds)) => {
                        return result.with_user(user).with_credential_infos(infos(creds))
                    }
                };
                result
                    .with_error_code(code.code())
                    .with_error_message(Some(s(format!("{msg}{}", user.as_str()))))
                    .with_user(user)
            })
            .collect(),
    };
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

/// One user's change: the record to commit, or the error and message to answer.
type Outcome = Result<MetadataRecord, (ResponseError, String)>;

pub(crate) async fn alter(
    ctx: &RequestContext<'_>,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // Kafka: ALTER on the cluster, with an authorizer; else every user named is refused.
    if !ctx.authorized_cluster(crate::acl::op::ALTER) {
        let users = distinct(
            req.deletions
                .iter()
                .map(|d| d.name.clone())
                .chain(req.upsertions.iter().map(|u| u.name.clone())),
        );
        let results = users
            .into_iter()
            .map(|(user, _)| {
                AlterUserScramCredentialsResult::default()
                    .with_user(user)
                    .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            })
            .collect();
        return AlterUserScramCredentialsResponse::default().with_results(results);
    }
    let b = ctx.broker;
    super::catch_up(b, super::CATCH_UP_SHORT).await;
    let state = b.topics.quorum().state();
    let named = distinct(
        req.deletions
            .iter()
            .map(|d| d.name.clone())
            .chain(req.upsertions.iter().map(|u| u.name.clone())),
    );
    let twice: HashMap<StrBytes, bool> = named.iter().cloned().collect();
    // The checks a deletion and an upsertion share: named once, a name, a known mechanism.
    let check =
        |name: &StrBytes, mechanism: i8| -> Result<ScramMechanism, (ResponseError, String)> {
            if twice.get(name).copied().unwrap_or(false) {
                return Err((
                    ResponseError::DuplicateResource,
                    "A user credential cannot be altered twice in the same request".into(),
                ));
            }
            if name.is_empty() {
                return Err((
                    ResponseError::UnacceptableCredential,
                    "Username must not be empty".into(),
                ));
            }
            ScramMechanism::from_kind(mechanism).ok_or((
                ResponseError::UnsupportedSaslMechanism,
                "Unknown SCRAM mechanism".into(),
            ))
        };
    // Per user, in request order: the error, or the record to commit.
    let mut outcomes: Vec<(StrBytes, Outcome)> = Vec::new();
    let mut answered: HashSet<StrBytes> = HashSet::new();
    for d in &req.deletions {
        if !answered.insert(d.name.clone()) {
            continue;
        }
        let outcome = check(&d.name, d.mechanism).and_then(|m| {
            let exists = state
                .scram
                .get(d.name.as_str())
                .is_some_and(|c| c.contains_key(&m.kind()));
            if !exists {
                return Err((
                    ResponseError::ResourceNotFound,
                    "Attempt to delete a user credential that does not exist".into(),
                ));
            }
            Ok(MetadataRecord::RemoveUserScramCredential {
                name: d.name.to_string(),
                mechanism: m.kind(),
            })
        });
        outcomes.push((d.name.clone(), outcome));
    }
    for u in &req.upsertions {
        if !answered.insert(u.name.clone()) {
            continue;
        }
        let outcome = check(&u.name, u.mechanism).and_then(|m| {
            let unacceptable = |why: &str| Err((ResponseError::UnacceptableCredential, why.into()));
            if u.iterations < MIN_ITERATIONS {
                return unacceptable("Too few iterations");
            }
            if u.iterations > MAX_ITERATIONS {
                return unacceptable("Too many iterations");
            }
            if u.salt.is_empty() || u.salted_password.is_empty() {
                return unacceptable("Salt and salted password must not be empty");
            }
            let c = m.credential_from_salted(&u.salted_password, &u.salt, u.iterations);
            Ok(MetadataRecord::UserScramCredential {
                name: u.name.to_string(),
                mechanism: m.kind(),
                salt: c.salt,
                stored_key: c.stored_key,
                server_key: c.server_key,
                iterations: c.iterations,
            })
        });
        outcomes.push((u.name.clone(), outcome));
    }
    let records: Vec<MetadataRecord> = outcomes
        .iter()
        .filter_map(|(_, o)| o.as_ref().ok().cloned())
        .collect();
    let mut commit_error = None;
    if !records.is_empty() {
        let quorum = b.topics.quorum().clone();
        let count = records.len();
        let done = tokio::task::spawn_blocking(move || quorum.propose_blocking(records)).await;
        match done {
            Ok(Ok(_)) => tracing::info!(changes = count, "SCRAM credentials altered"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "SCRAM credential change not committed");
                commit_error = Some(e.to_string());
            }
            Err(e) => commit_error = Some(e.to_string()),
        }
    }
    let results = outcomes
        .into_iter()
        .map(|(user, outcome)| {
            let r = AlterUserScramCredentialsResult::default().with_user(user);
            match (outcome, &commit_error) {
                (Err((code, msg)), _) => r
                    .with_error_code(code.code())
                    .with_error_message(Some(s(msg))),
                (Ok(_), Some(e)) => r
                    .with_error_code(ResponseError::RequestTimedOut.code())
                    .with_error_message(Some(s(e.clone()))),
                (Ok(_), None) => r,
            }
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}
