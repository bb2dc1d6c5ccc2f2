//! One client connection: framing, limits, decoding, dispatch and ordered answers.
//!
//! A connection reads length-prefixed frames (`[i32 length][request header][body]`, see
//! `frame.rs` for the memory and time bounds on reading them), answers them one at a time in
//! order (as Kafka does: a connection has one request in flight at the broker, clients pipeline
//! behind it) and closes on anything malformed: a length over `socket.request.max.bytes` or under
//! a request header, bytes that do not decode, an unknown API key or an unsupported version. Each
//! of those closes only that connection and logs a line naming the peer. An ApiVersions request
//! at an unsupported version gets Kafka's v0 UNSUPPORTED_VERSION answer instead, so the client
//! can retry with a version we know.
//!
//! On a SASL listener the connection also runs the authentication exchange (`sasl::Session`):
//! before it succeeds only ApiVersions, SaslHandshake and SaslAuthenticate are served, and
//! anything else closes the connection, as Kafka's `SaslServerAuthenticator` does; a refused
//! mechanism or failed authentication is answered, then the connection is closed.
//!
//! `connections.max.idle.ms` closes a connection with no request in flight for that long, one
//! whose request takes that long to arrive, and one whose client does not take an answer within
//! that time. While a request is being handled (a long-poll Fetch, an acks=all Produce) the
//! connection is not idle, however long that takes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind, SaslAuthenticateResponse,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Instrument};

use super::frame::{FrameError, FrameReader};
use super::memory::MemoryPool;
use super::stream::Stream;
use crate::context::Broker;
use crate::dispatch;
use crate::handlers::RequestContext;
use crate::sasl::{Expecting, Step};
use crate::zero_copy::{self, Part};

/// Why a connection is closed by the broker.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CloseReason {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("unsupported version {version} of {key:?}")]
    UnsupportedVersion { key: ApiKey, version: i16 },
    #[error("cannot decode {key:?} v{version} request: {reason}")]
    Decode {
        key: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("unexpected {key:?} request during SASL authentication")]
    SaslState { key: ApiKey },
    #[error("{key:?} request after the SASL session expired (connections.max.reauth.ms) without re-authentication")]
    SessionExpired { key: ApiKey },
    #[error("cannot encode {key:?} v{version} response: {reason}")]
    Encode {
        key: ApiKey,
        version: i16,
        reason: String,
    },
}

/// One client connection.
#[derive(Debug)]
pub(super) struct Connection {
    peer: SocketAddr,
    /// The name of the listener it arrived on (given to every request's context).
    listener: Arc<str>,
    /// Who the client is, in Kafka's `KafkaPrincipal` string form (`User:ANONYMOUS` until the
    /// connection authenticates; a TLS client certificate's subject on an SSL listener).
    principal: Arc<str>,
    broker: Arc<Broker>,
    memory: Arc<MemoryPool>,
    shutdown: CancellationToken,
    /// The client id is put on the connection's span once, from the first request.
    client_id_logged: bool,
    /// A SASL listener's authentication state (`None` on PLAINTEXT and SSL listeners).
    sasl: Option<crate::sasl::Session>,
    /// Close once the current answer is sent (a failed SASL authentication).
    close_after_answer: bool,
}

/// Kafka's `KafkaPrincipal.ANONYMOUS`: the principal of a connection that did not authenticate.
pub(crate) const ANONYMOUS: &str = "User:ANONYMOUS";

/// Responses held back while pipelined Produce requests are handled are sent once they reach
/// this size.
const MAX_HELD_RESPONSE_BYTES: usize = 64 * 1024;

impl Connection {
    /// A connection from `peer`, not yet serving.
    pub(super) fn new(
        peer: SocketAddr,
        listener: Arc<str>,
        broker: Arc<Broker>,
        memory: Arc<MemoryPool>,
        shutdown: CancellationToken,
    ) -> Connection {
        Connection {
            peer,
            listener,
            principal: Arc::from(ANONYMOUS),
            broker,
            memory,
            shutdown,
            client_id_logged: false,
            sasl: None,
            close_after_answer: false,
        }
    }

    /// Require SASL authentication with `listener`'s settings before serving requests.
    pub(super) fn require_sasl(&mut self, listener: Arc<crate::sasl::ListenerSasl>) {
        self.sasl = Some(crate::sasl::Session::new(listener));
    }

    /// The connection's principal from here on (`User:CN=…` after a TLS handshake with a client
    /// certificate).
    pub(super) fn set_principal(&mut self, principal: &str) {
        tracing::Span::current().record("principal", principal);
        self.principal = Arc::from(principal);
    }

    /// Serve requests until the client closes, sends something malformed, or shutdown. Requests
    /// are handled one at a time, in order. When the next request is a Produce already received
    /// in full (the client pipelines), the current response is held and sent with the following
    /// ones in one write: a pipelining producer gets its answers in fewer packets and the broker
    /// makes fewer syscalls. Anything else (a Fetch may wait; a Metadata answer is awaited by the
    /// client) first sends what is held.
    pub(super) async fn serve(mut self, mut stream: Stream) {
        debug!("connection opened");
        let config = &self.broker.config;
        let idle = config.connections_max_idle_ms.map(Duration::from_millis);
        let mut reader =
            FrameReader::new(config.socket_request_max_bytes, idle, self.memory.clone());
        let mut held: Vec<Part> = Vec::new();
        loop {
            let frame = tokio::select! {
                () = self.shutdown.cancelled() => break,
                f = reader.next(&mut stream) => f,
            };
            let frame = match frame {
                Ok(Some(f)) => f,
                Ok(None) => {
                    debug!("connection closed by client");
                    break;
                }
                Err(e @ FrameError::Idle { .. }) => {
                    info!(peer = %self.peer, reason = %e, "closing idle connection");
                    break;
                }
                Err(e) => {
                    warn!(peer = %self.peer, reason = %e, "closing connection");
                    break;
                }
            };
            // The request's pool memory is held until it has been handled.
            let handled = self.handle(frame.bytes).await;
            drop(frame.lease);
            match handled {
                Ok(Some(parts)) => held.extend(parts),
                Ok(None) => {}
                Err(e) => {
                    warn!(peer = %self.peer, reason = %e, "closing connection");
                    break;
                }
            }
            if self.close_after_answer {
                break;
            }
            let held_bytes: usize = held.iter().map(Part::len).sum();
            // Answers are not held while the next request would wait for pool memory.
            if next_is_whole_produce(reader.buffered())
                && held_bytes < MAX_HELD_RESPONSE_BYTES
                && self.memory.has_room()
            {
                continue;
            }
            if let Err(e) = write_within(&mut stream, &held, idle).await {
                debug!(peer = %self.peer, error = %e, "write failed; closing connection");
                return;
            }
            held.clear();
        }
        if !held.is_empty() {
            let _ = write_within(&mut stream, &held, idle).await;
        }
        let _ = stream.shutdown().await;
    }

    /// Decode one request, run it and encode the response (None: no response, acks=0).
    async fn handle(&mut self, frame: Bytes) -> Result<Option<Vec<Part>>, CloseReason> {
        let decoded = match decode_request(frame)? {
            Ok(decoded) => decoded,
            Err(answer) => return Ok(Some(vec![Part::Mem(answer.freeze())])),
        };
        let Decoded {
            key,
            version,
            correlation_id,
            route,
            header,
            request,
        } = decoded;
        let request = match self
            .sasl_step(key, version, correlation_id, request)
            .await?
        {
            Ok(request) => request,
            Err(frame) => return Ok(Some(vec![Part::Mem(frame.freeze())])),
        };
        if !self.client_id_logged {
            if let Some(id) = &header.client_id {
                tracing::Span::current().record("client_id", id.as_str());
                self.client_id_logged = true;
            }
        }
        let span = tracing::debug_span!("request", api = ?key, version, correlation_id);
        let ctx = RequestContext {
            broker: &self.broker,
            version,
            peer: self.peer,
            listener: &self.listener,
            principal: &self.principal,
            client_id: header.client_id.as_deref().unwrap_or(""),
            shutdown: &self.shutdown,
        };
        let response = route.handle(&ctx, request).instrument(span).await;
        let Some(reply) = response else {
            return Ok(None);
        };
        let frame = encode_response(key, version, correlation_id, &reply.body)?;
        if reply.files.is_empty() {
            return Ok(Some(vec![Part::Mem(frame.freeze())]));
        }
        // Only Fetch answers carry file ranges; its records are compact bytes from v12.
        zero_copy::splice(frame, reply.files, version >= 12)
            .map(Some)
            .map_err(|reason| CloseReason::Encode {
                key,
                version,
                reason,
            })
    }
}

impl Connection {
    /// Run a request through the connection's SASL exchange, if one is under way: `Ok(request)`
    /// to serve as usual (no SASL, authenticated, or ApiVersions before the handshake),
    /// `Err(frame)` when the exchange answered it with this encoded frame.
    async fn sasl_step(
        &mut self,
        key: ApiKey,
        version: i16,
        correlation_id: i32,
        request: RequestKind,
    ) -> Result<Result<RequestKind, BytesMut>, CloseReason> {
        let Some(session) = self.sasl.as_mut() else {
            return Ok(Ok(request));
        };
        let expecting = session.expecting();
        let response: ResponseKind = match request {
            RequestKind::SaslHandshake(req)
                if expecting == Expecting::Handshake
                    || (expecting != Expecting::Authenticate && session.may_reauthenticate()) =>
            {
                let (code, enabled) = session.handshake(req.mechanism.as_str());
                if code != 0 {
                    info!(peer = %self.peer, mechanism = %req.mechanism.as_str(),
                        "unsupported SASL mechanism; closing connection after the answer");
                    self.close_after_answer = true;
                }
                SaslHandshakeResponse::default()
                    .with_error_code(code)
                    .with_mechanisms(enabled.into_iter().map(StrBytes::from_static_str).collect())
                    .into()
            }
            RequestKind::SaslAuthenticate(req) if expecting == Expecting::Authenticate => {
                let mechanism = session.mechanism().unwrap_or("");
                let quorum = self.broker.topics.quorum();
                let step =
                    session.authenticate(self.peer.ip(), version, &req.auth_bytes, |user, m| {
                        quorum.state().scram.get(user)?.get(&m.kind()).cloned()
                    });
                match step {
                    Step::Continue(bytes) => {
                        SaslAuthenticateResponse::default().with_auth_bytes(bytes)
                    }
                    Step::Success {
                        bytes,
                        principal,
                        lifetime_ms,
                    } => {
                        debug!(
                            principal,
                            mechanism, lifetime_ms, "SASL authentication succeeded"
                        );
                        self.set_principal(&principal);
                        SaslAuthenticateResponse::default()
                            .with_auth_bytes(bytes)
                            .with_session_lifetime_ms(lifetime_ms)
                    }
                    Step::Failure(message) => {
                        let delay = session.failure_delay(self.peer.ip());
                        info!(peer = %self.peer, listener = %self.listener, mechanism,
                            delay_ms = delay.as_millis() as u64,
                            "failed SASL authentication; closing connection after the answer");
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = self.shutdown.cancelled() => {}
                        }
                        self.close_after_answer = true;
                        SaslAuthenticateResponse::default()
                            .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                            .with_error_message(Some(StrBytes::from_string(message)))
                    }
                }
                .into()
            }
            request if expecting == Expecting::Nothing => return Ok(Ok(request)),
            request @ RequestKind::ApiVersions(_) if expecting == Expecting::Handshake => {
                return Ok(Ok(request))
            }
            _ if expecting == Expecting::Expired => {
                return Err(CloseReason::SessionExpired { key })
            }
            _ => return Err(CloseReason::SaslState { key }),
        };
        encode_response(key, version, correlation_id, &response).map(Err)
    }
}

/// A request decoded from its frame, ready for its route.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) key: ApiKey,
    pub(crate) version: i16,
    pub(crate) correlation_id: i32,
    pub(crate) route: &'static dispatch::Route,
    pub(crate) header: RequestHeader,
    pub(crate) request: RequestKind,
}

/// Decode one frame (without its length prefix, at least `MIN_REQUEST` bytes: the frame reader
/// guarantees it): the API key and version, the version gate, the request header and the body at
/// the header's and body's versions. `Ok(Err(answer))` is the whole encoded answer to an
/// ApiVersions request at an unsupported version (Kafka's v0 UNSUPPORTED_VERSION); an error
/// closes the connection. Pure (no I/O), so the fuzz target `frame` runs exactly this.
pub(crate) fn decode_request(frame: Bytes) -> Result<Result<Decoded, BytesMut>, CloseReason> {
    let api_key_raw = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let key =
        ApiKey::try_from(api_key_raw).map_err(|()| CloseReason::UnknownApiKey(api_key_raw))?;
    let Some(route) = dispatch::route(key) else {
        return Err(CloseReason::UnknownApiKey(api_key_raw));
    };
    if !route.serves(version) {
        if key == ApiKey::ApiVersions {
            debug!(
                version,
                "unsupported ApiVersions version; answering with v0 UNSUPPORTED_VERSION"
            );
            let resp = dispatch::api_versions_unsupported();
            return encode_response(key, 0, correlation_id, &resp.into()).map(Err);
        }
        return Err(CloseReason::UnsupportedVersion { key, version });
    }
    let decode_error = |e: anyhow::Error| CloseReason::Decode {
        key,
        version,
        reason: e.to_string(),
    };
    let mut body = frame;
    let header = RequestHeader::decode(&mut body, key.request_header_version(version))
        .map_err(decode_error)?;
    let request = RequestKind::decode(key, &mut body, version).map_err(decode_error)?;
    Ok(Ok(Decoded {
        key,
        version,
        correlation_id,
        route,
        header,
        request,
    }))
}

fn encode_response(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    resp: &ResponseKind,
) -> Result<BytesMut, CloseReason> {
    let enc = |e: anyhow::Error| CloseReason::Encode {
        key,
        version,
        reason: e.to_string(),
    };
    let mut out = BytesMut::with_capacity(256);
    out.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header
        .encode(&mut out, key.response_header_version(version))
        .map_err(enc)?;
    resp.encode(&mut out, version).map_err(enc)?;
    let len = i32::try_from(out.len() - 4).map_err(|_| CloseReason::Encode {
        key,
        version,
        reason: "response larger than 2 GiB".into(),
    })?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

/// Whether `buf` starts with a whole Produce request (size prefix, then API key 0).
fn next_is_whole_produce(buf: &[u8]) -> bool {
    if buf.len() < 6 {
        return false;
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let whole = usize::try_from(size).is_ok_and(|n| buf.len() >= 4 + n);
    whole && i16::from_be_bytes([buf[4], buf[5]]) == ApiKey::Produce as i16
}

/// Send `parts`, giving up if the client has not taken them within `idle` (a client that stops
/// reading would otherwise hold its connection, and its answer, forever).
async fn write_within(
    stream: &mut Stream,
    parts: &[Part],
    idle: Option<Duration>,
) -> std::io::Result<()> {
    let Some(limit) = idle else {
        return zero_copy::write_parts(stream, parts).await;
    };
    tokio::time::timeout(limit, zero_copy::write_parts(stream, parts))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the client took no answer for {} ms (connections.max.idle.ms)",
                    limit.as_millis()
                ),
            )
        })?
}
