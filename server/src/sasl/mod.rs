//! SASL authentication on SASL_PLAINTEXT and SASL_SSL listeners (issue 14), as Kafka's
//! `SaslServerAuthenticator` serves it: SaslHandshake picks a mechanism, SaslAuthenticate carries
//! its tokens, and until the exchange succeeds a connection may send nothing else (ApiVersions
//! before the handshake excepted). On success the connection's principal is `User:<name>`.
//!
//! It exists apart from the network layer so that the mechanisms and their settings are one
//! place: [`ListenerSasl`] is a listener's view of `sasl.enabled.mechanisms`, the PLAIN users of
//! its JAAS line and the failure delay, built at start; [`Session`] is one connection's state.
//! Mechanisms: PLAIN (users from `listener.name.<l>.plain.sasl.jaas.config`, compared in
//! constant time), SCRAM-SHA-256 and SCRAM-SHA-512 ([`scram`]; credentials in the metadata log).
//! GSSAPI and OAUTHBEARER are not served.
//!
//! A failure answers SASL_AUTHENTICATION_FAILED with Kafka's message, which says nothing of
//! which part was wrong, after `connection.failed.authentication.delay.ms`, doubled for every
//! recent failure from the same address (up to 64 times); the connection is then closed.
//! With `connections.max.reauth.ms` a session expires (KIP-368): the client re-authenticates on
//! the live connection with the same principal and mechanism, or is closed at its next request.

pub(crate) mod jaas;
pub mod scram;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use subtle::ConstantTimeEq;

use crate::config::BrokerConfig;
use crate::controller::records::ScramCredential;
use scram::{ScramMechanism, ScramServer};

/// A mechanism served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    /// PLAIN (RFC 4616).
    Plain,
    /// SCRAM-SHA-256 or SCRAM-SHA-512.
    Scram(ScramMechanism),
}

impl Mechanism {
    /// The mechanism named `name` (exact, upper case), if minikafka serves it.
    pub(crate) fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            other => ScramMechanism::from_name(other).map(Mechanism::Scram),
        }
    }

    /// The SASL name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(s) => s.name(),
        }
    }
}

/// Kafka's JAAS login module for PLAIN.
const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

/// How long recent failures of an address count towards its delay.
const FAILURE_MEMORY: Duration = Duration::from_secs(60);
/// Addresses remembered at most (older entries are dropped first).
const MAX_REMEMBERED: usize = 10_000;
/// The delay grows up to this multiple of the configured one.
const MAX_DELAY_FACTOR: u32 = 64;

/// One SASL listener's settings, built at start, and its record of recent failures.
pub(crate) struct ListenerSasl {
    /// The listener's name.
    listener: String,
    /// `sasl.enabled.mechanisms`, in the configured order.
    enabled: Vec<Mechanism>,
    /// PLAIN users and their passwords (`user_<name>="<password>"`).
    plain_users: BTreeMap<String, String>,
    /// `connection.failed.authentication.delay.ms`.
    failure_delay: Duration,
    /// Recent failures per address: count and time of the last.
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    /// Keys the made-up credential of an unknown SCRAM user (random per process).
    secret: [u8; 32],
    /// `connections.max.reauth.ms` (KIP-368); `None` for 0: sessions do not expire.
    reauth: Option<Duration>,
}

impl std::fmt::Debug for ListenerSasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerSasl")
            .field("listener", &self.listener)
            .field("enabled", &self.enabled)
            .field("plain_users", &self.plain_users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The value of `prop` for `listener`: `listener.name.<listener>.<prop>`, else the broker's.
fn setting<'a>(config: &'a BrokerConfig, listener: &str, prop: &str) -> Option<&'a str> {
    let specific = format!("listener.name.{}.{prop}", listener.to_ascii_lowercase());
    config
        .values
        .get(&specific)
        .or_else(|| config.values.get(prop))
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

/// Builds the SASL settings of listener `listener`, or says what is wrong with them.
pub(crate) fn for_listener(config: &BrokerConfig, listener: &str) -> Result<ListenerSasl, String> {
    let ctx = |what: String| format!("SASL listener {listener}: {what}");
    let names = setting(config, listener, "sasl.enabled.mechanisms").unwrap_or("");
    let mut enabled = Vec::new();
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let m = Mechanism::from_name(name).ok_or_else(|| {
            ctx(format!(
                "sasl.enabled.mechanisms names {name}, which minikafka does not serve (GSSAPI is \
                 Kafka's default): set sasl.enabled.mechanisms (or \
                 listener.name.{}.sasl.enabled.mechanisms) to PLAIN, SCRAM-SHA-256 and/or \
                 SCRAM-SHA-512",
                listener.to_ascii_lowercase()
            ))
        })?;
        if !enabled.contains(&m) {
            enabled.push(m);
        }
    }
    if enabled.is_empty() {
        return Err(ctx("sasl.enabled.mechanisms is empty".into()));
    }
    let mut plain_users = BTreeMap::new();
    if enabled.contains(&Mechanism::Plain) {
        let prop = format!(
            "listener.name.{}.plain.sasl.jaas.config",
            listener.to_ascii_lowercase()
        );
        let line = config
            .values
            .get(&prop)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ctx(format!("PLAIN is enabled but {prop} is not set")))?;
        let module = jaas::parse(line).map_err(|e| ctx(format!("{prop}: {e}")))?;
        if module.class != PLAIN_LOGIN_MODULE {
            return Err(ctx(format!(
                "{prop}: the login module must be {PLAIN_LOGIN_MODULE}, not {}",
                module.class
            )));
        }
        for (key, value) in module.options {
            if let Some(user) = key.strip_prefix("user_") {
                plain_users.insert(user.to_string(), value);
            }
        }
    }
    let delay = config
        .values
        .get("connection.failed.authentication.delay.ms")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(100);
    let reauth = setting(config, listener, "connections.max.reauth.ms")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis);
    Ok(ListenerSasl {
        reauth,
        listener: listener.to_string(),
        enabled,
        plain_users,
        failure_delay: Duration::from_millis(delay),
        failures: Mutex::new(HashMap::new()),
        secret: rand::random(),
    })
}

impl ListenerSasl {
    /// The enabled mechanisms' names, as SaslHandshake lists them.
    fn enabled_names(&self) -> Vec<&'static str> {
        self.enabled.iter().map(|m| m.name()).collect()
    }

    /// Record a failure from `ip` and say how long to hold its answer.
    pub(crate) fn failed(&self, ip: IpAddr) -> Duration {
        if self.failure_delay.is_zero() {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() >= MAX_REMEMBERED {
            failures.retain(|_, (_, at)| now.duration_since(*at) < FAILURE_MEMORY);
            if failures.len() >= MAX_REMEMBERED {
                failures.clear();
            }
        }
        let entry = failures.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= FAILURE_MEMORY {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        let factor = 1u32
            .checked_shl(entry.0 - 1)
            .unwrap_or(MAX_DELAY_FACTOR)
            .min(MAX_DELAY_FACTOR);
        self.failure_delay * factor
    }

    /// Forget the failures of `ip` (it authenticated).
    fn succeeded(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.remove(&ip);
    }

    /// The made-up credential of an unknown SCRAM user: the same for the same name, so asking
    /// twice does not tell it apart from a real one.
    fn fake_credential(&self, m: ScramMechanism, user: &str) -> ScramCredential {
        let salted = m.salted_password(user.as_bytes(), &self.secret, 1);
        ScramCredential {
            salt: salted[..16].to_vec(),
            stored_key: salted.clone(),
            server_key: salted,
            iterations: scram::MIN_ITERATIONS,
        }
    }
}

/// Where a connection is in its authentication.
#[derive(Debug)]
enum State {
    /// Before SaslHandshake (ApiVersions allowed).
    Handshake,
    /// A mechanism was chosen; its first token is next.
    Authenticate(Mechanism),
    /// SCRAM's server-first message was sent; the client-final one is next.
    ScramFinal(Box<ScramServer>),
    /// Authenticated.
    Done,
    /// Failed: the connection is being closed.
    Failed,
}

/// One connection's SASL state.
#[derive(Debug)]
pub(crate) struct Session {
    listener: Arc<ListenerSasl>,
    state: State,
    /// The principal authenticated last (re-authentication must keep it, as in Kafka).
    principal: Option<String>,
    /// The mechanism it authenticated with (re-authentication must keep it).
    authenticated_with: Option<Mechanism>,
    /// When the session expires (KIP-368, `connections.max.reauth.ms`).
    expires: Option<Instant>,
    /// The client authenticated with SaslAuthenticate v1+, so it knows session lifetimes and
    /// may re-authenticate on the live connection.
    reauth_capable: bool,
}

/// What a SaslAuthenticate token leads to.
#[derive(Debug)]
pub(crate) enum Step {
    /// Answer these bytes; more tokens follow.
    Continue(Bytes),
    /// Authenticated as `principal`; answer these bytes.
    Success {
        /// The final token for the client.
        bytes: Bytes,
        /// `User:<name>`.
        principal: String,
        /// The session's lifetime for SaslAuthenticate v1+ (0: no expiry).
        lifetime_ms: i64,
    },
    /// Failed: answer SASL_AUTHENTICATION_FAILED with this message, then close.
    Failure(String),
}

/// What may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expecting {
    /// SaslHandshake or ApiVersions.
    Handshake,
    /// SaslAuthenticate.
    Authenticate,
    /// Anything: authenticated.
    Nothing,
    /// Authenticated, but the session expired: only a re-authentication may follow.
    Expired,
}

impl Session {
    /// A new connection's session on a listener.
    pub(crate) fn new(listener: Arc<ListenerSasl>) -> Session {
        Session {
            listener,
            state: State::Handshake,
            principal: None,
            authenticated_with: None,
            expires: None,
            reauth_capable: false,
        }
    }

    /// What the connection may send now.
    pub(crate) fn expecting(&self) -> Expecting {
        match self.state {
            State::Handshake => Expecting::Handshake,
            State::Done if self.expires.is_some_and(|e| Instant::now() >= e) => Expecting::Expired,
            State::Done => Expecting::Nothing,
            _ => Expecting::Authenticate,
        }
    }

    /// Whether a SaslHandshake now starts a re-authentication (KIP-368): authenticated with
    /// SaslAuthenticate v1+.
    pub(crate) fn may_reauthenticate(&self) -> bool {
        matches!(self.state, State::Done) && self.reauth_capable
    }

    /// SaslHandshake: the mechanism is accepted (error 0) or refused
    /// (UNSUPPORTED_SASL_MECHANISM, then the connection closes), with the enabled list either
    /// way. Returns the answer's error code and the enabled mechanisms.
    pub(crate) fn handshake(&mut self, mechanism: &str) -> (i16, Vec<&'static str>) {
        let enabled = self.listener.enabled_names();
        // A re-authentication keeps the mechanism (Kafka's `SaslServerAuthenticator`).
        let reauthenticating = matches!(self.state, State::Done);
        let same = |m: &Mechanism| !reauthenticating || self.authenticated_with == Some(*m);
        match Mechanism::from_name(mechanism)
            .filter(|m| self.listener.enabled.contains(m))
            .filter(same)
        {
            Some(m) => {
                self.state = State::Authenticate(m);
                (0, enabled)
            }
            None => {
                self.state = State::Failed;
                (
                    kafka_protocol::error::ResponseError::UnsupportedSaslMechanism.code(),
                    enabled,
                )
            }
        }
    }

    /// The mechanism chosen, if any.
    pub(crate) fn mechanism(&self) -> Option<&'static str> {
        match &self.state {
            State::Authenticate(m) => Some(m.name()),
            State::ScramFinal(s) => Some(s.mechanism().name()),
            _ => None,
        }
    }

    /// One SaslAuthenticate token (at `version`) from `peer`. `scram` finds a user's stored
    /// credential.
    pub(crate) fn authenticate(
        &mut self,
        peer: IpAddr,
        version: i16,
        token: &[u8],
        scram: impl FnOnce(&str, ScramMechanism) -> Option<ScramCredential>,
    ) -> Step {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let state_mechanism = match &state {
            State::Authenticate(m) => Some(*m),
            State::ScramFinal(s) => Some(Mechanism::Scram(s.mechanism())),
            _ => None,
        };
        let step = match state {
            State::Authenticate(Mechanism::Plain) => match self.plain(token) {
                Ok(user) => Step::Success {
                    bytes: Bytes::new(),
                    principal: format!("User:{user}"),
                    lifetime_ms: 0,
                },
                Err(message) => Step::Failure(message),
            },
            State::Authenticate(Mechanism::Scram(m)) => {
                let listener = &self.listener;
                match ScramServer::start(
                    m,
                    token,
                    |user| scram(user, m),
                    |user| listener.fake_credential(m, user),
                ) {
                    Ok((server, answer)) => {
                        self.state = State::ScramFinal(Box::new(server));
                        return Step::Continue(Bytes::from(answer));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "SCRAM client-first message refused");
                        Step::Failure(scram_failure(m))
                    }
                }
            }
            State::ScramFinal(server) => {
                let m = server_mechanism(&server);
                match server.finish(token) {
                    Ok((user, answer)) => Step::Success {
                        bytes: Bytes::from(answer),
                        principal: format!("User:{user}"),
                        lifetime_ms: 0,
                    },
                    Err(e) => {
                        tracing::debug!(error = %e, "SCRAM client-final message refused");
                        Step::Failure(scram_failure(m))
                    }
                }
            }
            State::Handshake | State::Done | State::Failed => {
                Step::Failure("Unexpected SaslAuthenticate request".into())
            }
        };
        let step = match step {
            Step::Success { principal, .. }
                if self.principal.as_ref().is_some_and(|p| *p != principal) =>
            {
                Step::Failure(format!(
                    "Cannot change principals during re-authentication from {}: {principal}",
                    self.principal.as_deref().unwrap_or("")
                ))
            }
            Step::Success {
                bytes, principal, ..
            } => {
                self.reauth_capable = version >= 1;
                let lifetime = self.listener.reauth.filter(|_| self.reauth_capable);
                self.expires = lifetime.map(|l| Instant::now() + l);
                self.principal = Some(principal.clone());
                self.authenticated_with = state_mechanism;
                Step::Success {
                    bytes,
                    principal,
                    lifetime_ms: lifetime
                        .map_or(0, |l| i64::try_from(l.as_millis()).unwrap_or(i64::MAX)),
                }
            }
            other => other,
        };
        match &step {
            Step::Success { .. } => {
                self.state = State::Done;
                self.listener.succeeded(peer);
            }
            Step::Failure(_) => self.state = State::Failed,
            Step::Continue(_) => {}
        }
        step
    }

    /// How long to hold the answer to a failure from `peer`.
    pub(crate) fn failure_delay(&self, peer: IpAddr) -> Duration {
        self.listener.failed(peer)
    }

    /// PLAIN (Kafka's `PlainSaslServer`): `authzid NUL authcid NUL password`; the user name on
    /// success, else Kafka's message.
    fn plain(&self, token: &[u8]) -> Result<String, String> {
        let parts: Vec<&[u8]> = token.split(|b| *b == 0).collect();
        if parts.len() != 3 {
            return Err(format!(
                "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
                parts.len()
            ));
        }
        let (Ok(authzid), Ok(user)) =
            (std::str::from_utf8(parts[0]), std::str::from_utf8(parts[1]))
        else {
            return Err("Authentication failed: Invalid username or password".into());
        };
        let password = parts[2];
        if user.is_empty() {
            return Err("Authentication failed: username not specified".into());
        }
        if password.is_empty() {
            return Err("Authentication failed: password not specified".into());
        }
        if !authzid.is_empty() && authzid != user {
            return Err(
                "Authentication failed: Client requested an authorization id that is different from username"
                    .into(),
            );
        }
        // Digests of equal length compared in constant time; an unknown user is compared too.
        let expected = self.listener.plain_users.get(user);
        let want = sha2_256(expected.map_or(&[][..], |p| p.as_bytes()));
        let got = sha2_256(password);
        let equal: bool = want.ct_eq(&got).into();
        if equal && expected.is_some() {
            Ok(user.to_string())
        } else {
            Err("Authentication failed: Invalid username or password".into())
        }
    }
}

fn sha2_256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

fn server_mechanism(server: &ScramServer) -> ScramMechanism {
    server.mechanism()
}

/// Kafka's message for a SCRAM failure (`SaslServerAuthenticator` on a `SaslException`).
fn scram_failure(m: ScramMechanism) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
        m.name()
    )
}

/// Create the `--add-scram` users the metadata log has no credential for (of that mechanism),
/// in one batch; a user whose password was changed since keeps the new one.
pub(crate) fn bootstrap_users(
    quorum: &crate::controller::Quorum,
    users: &[scram::BootstrapScram],
) -> Result<(), crate::controller::ControllerError> {
    let state = quorum.state();
    let records: Vec<crate::controller::MetadataRecord> = users
        .iter()
        .filter(|u| {
            !state
                .scram
                .get(&u.name)
                .is_some_and(|c| c.contains_key(&u.mechanism.kind()))
        })
        .map(|u| {
            let c = u.mechanism.credential(&u.password, u.iterations);
            crate::controller::MetadataRecord::UserScramCredential {
                name: u.name.clone(),
                mechanism: u.mechanism.kind(),
                salt: c.salt,
                stored_key: c.stored_key,
                server_key: c.server_key,
                iterations: c.iterations,
            }
        })
        .collect();
    if records.is_empty() {
        return Ok(());
    }
    let count = records.len();
    quorum.propose_blocking(records)?;
    tracing::info!(users = count, "SCRAM users from --add-scram created");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(sets: &[&str]) -> Result<ListenerSasl, String> {
        let mut b = crate::config::ConfigBuilder::default();
        b.set(
            "listeners",
            "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        )
        .unwrap();
        b.set("inter.broker.listener.name", "PLAINTEXT").unwrap();
        for s in sets {
            b.set_pair(s).unwrap();
        }
        for_listener(&b.build().unwrap(), "SASL_PLAINTEXT")
    }

    const JAAS: &str = "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"a\" user_alice=\"alice-secret\";";

    #[test]
    fn settings_kafka_would_not_run_are_refused_with_the_fix() {
        let gssapi = listener(&[]).unwrap_err();
        assert!(
            gssapi.contains("GSSAPI") && gssapi.contains("sasl.enabled.mechanisms"),
            "{gssapi}"
        );
        let no_users = listener(&["sasl.enabled.mechanisms=PLAIN"]).unwrap_err();
        assert!(
            no_users.contains("plain.sasl.jaas.config is not set"),
            "{no_users}"
        );
        let wrong_module = listener(&[
            "sasl.enabled.mechanisms=PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config=com.example.Other required;",
        ])
        .unwrap_err();
        assert!(wrong_module.contains("PlainLoginModule"), "{wrong_module}");
        assert!(!wrong_module.contains("alice-secret"));
        let ok = listener(&["sasl.enabled.mechanisms=SCRAM-SHA-512, PLAIN", JAAS]).unwrap();
        assert_eq!(ok.enabled_names(), ["SCRAM-SHA-512", "PLAIN"]);
        assert_eq!(ok.plain_users.keys().collect::<Vec<_>>(), ["alice"]);
        assert!(!format!("{ok:?}").contains("alice-secret"));
    }

    #[test]
    fn plain_exchange() {
        let l = Arc::new(listener(&["sasl.enabled.mechanisms=PLAIN", JAAS]).unwrap());
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let run = |token: &[u8]| {
            let mut s = Session::new(l.clone());
            assert_eq!(s.handshake("PLAIN").0, 0);
            s.authenticate(peer, 1, token, |_, _| None)
        };
        assert!(
            matches!(run(b"\0alice\0alice-secret"), Step::Success { principal, .. } if principal == "User:alice")
        );
        assert!(matches!(
            run(b"alice\0alice\0alice-secret"),
            Step::Success { .. }
        ));
        let bad =
            "\0alice\0wrong|\0bob\0alice-secret|bob\0alice\0alice-secret|\0alice|\0\0x|\0alice\0|";
        for bad in bad.split('|').map(str::as_bytes) {
            assert!(matches!(run(bad), Step::Failure(_)), "{bad:?}");
        }
        let mut s = Session::new(l.clone());
        assert_ne!(s.handshake("SCRAM-SHA-256").0, 0, "not enabled");
    }

    #[test]
    fn failure_delay_grows_per_address_and_is_bounded() {
        let l = listener(&["sasl.enabled.mechanisms=SCRAM-SHA-256"]).unwrap();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let delays: Vec<u128> = (0..9).map(|_| l.failed(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 6400, 6400, 6400]);
        assert_eq!(
            l.failed(b).as_millis(),
            100,
            "another address starts afresh"
        );
        l.succeeded(a);
        assert_eq!(l.failed(a).as_millis(), 100);
    }
}
