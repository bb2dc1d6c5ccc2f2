//! Network layer: the accept loop and one task per connection.
//!
//! A connection reads length-prefixed frames (`[i32 length][request header][body]`), answers
//! them one at a time in order (as Kafka does: a connection has one request in flight at the
//! broker, clients pipeline behind it) and closes on anything malformed: a length over
//! `socket.request.max.bytes` or under a request header, bytes that do not decode, an unknown
//! API key or an unsupported version. Each of those closes only that connection and logs a line
//! naming the peer. An ApiVersions request at an unsupported version gets Kafka's v0
//! UNSUPPORTED_VERSION answer instead, so the client can retry with a version we know.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::context::Broker;
use crate::dispatch;
use crate::handlers::RequestContext;
use crate::zero_copy::{self, Part};

/// Accepts connections on one listener until shutdown.
#[derive(Debug)]
pub(crate) struct Listener {
    /// The bound socket.
    pub(crate) listener: TcpListener,
    /// Shared broker state handed to every connection.
    pub(crate) broker: Arc<Broker>,
    /// Caps concurrent connections at `max.connections`; a permit is held per connection.
    pub(crate) limit: Arc<Semaphore>,
    /// Cancelled at shutdown: stop accepting, let connections finish their request.
    pub(crate) shutdown: CancellationToken,
    /// Tracks connection tasks so shutdown can wait for in-flight requests.
    pub(crate) tracker: TaskTracker,
}

impl Listener {
    /// Accept until shutdown. Accept errors (e.g. out of file descriptors) back off from 10 ms
    /// up to 5 s instead of ending the loop.
    pub(crate) async fn run(self) {
        let mut backoff = Duration::from_millis(10);
        loop {
            let permit = tokio::select! {
                () = self.shutdown.cancelled() => return,
                p = self.limit.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let accepted = tokio::select! {
                () = self.shutdown.cancelled() => return,
                a = self.listener.accept() => a,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(10);
                    let _ = stream.set_nodelay(true);
                    let conn = Connection {
                        peer,
                        broker: self.broker.clone(),
                        shutdown: self.shutdown.clone(),
                        client_id_logged: false,
                    };
                    let span = info_span!("conn", %peer, client_id = tracing::field::Empty);
                    self.tracker.spawn(
                        async move {
                            conn.serve(stream).await;
                            drop(permit);
                        }
                        .instrument(span),
                    );
                }
                Err(e) => {
                    warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// Why a connection is closed by the broker.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CloseReason {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("request size {size} is outside 8..={max} bytes (socket.request.max.bytes)")]
    BadSize { size: i64, max: usize },
    #[error("connection closed in the middle of a request ({have} of {want} bytes received)")]
    Truncated { have: usize, want: usize },
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
    #[error("cannot encode {key:?} v{version} response: {reason}")]
    Encode {
        key: ApiKey,
        version: i16,
        reason: String,
    },
}

/// One client connection.
#[derive(Debug)]
struct Connection {
    peer: SocketAddr,
    broker: Arc<Broker>,
    shutdown: CancellationToken,
    /// The client id is put on the connection's span once, from the first request.
    client_id_logged: bool,
}

/// Smallest request: api key, api version, correlation id.
const MIN_REQUEST: usize = 8;

/// Responses held back while pipelined Produce requests are handled are sent once they reach
/// this size.
const MAX_HELD_RESPONSE_BYTES: usize = 64 * 1024;

impl Connection {
    /// Serve requests until the client closes, sends something malformed, or shutdown. Requests
    /// are handled one at a time, in order. When the next request is a Produce already received
    /// in full (the client pipelines), the current response is held and sent with the following
    /// ones in one write: a pipelining producer gets its answers in fewer packets and the broker
    /// makes fewer syscalls. Anything else (a Fetch may wait; a Metadata answer is awaited by the
    /// client) first sends what is held.
    async fn serve(mut self, mut stream: TcpStream) {
        debug!("connection opened");
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let mut held: Vec<Part> = Vec::new();
        let max = self.broker.config.socket_request_max_bytes;
        loop {
            let frame = tokio::select! {
                () = self.shutdown.cancelled() => break,
                f = read_frame(&mut stream, &mut buf, max) => f,
            };
            let frame = match frame {
                Ok(Some(f)) => f,
                Ok(None) => {
                    debug!("connection closed by client");
                    break;
                }
                Err(e) => {
                    warn!(peer = %self.peer, reason = %e, "closing connection");
                    break;
                }
            };
            match self.handle(frame).await {
                Ok(Some(parts)) => held.extend(parts),
                Ok(None) => {}
                Err(e) => {
                    warn!(peer = %self.peer, reason = %e, "closing connection");
                    break;
                }
            }
            let held_bytes: usize = held.iter().map(Part::len).sum();
            if next_is_whole_produce(&buf) && held_bytes < MAX_HELD_RESPONSE_BYTES {
                continue;
            }
            if let Err(e) = zero_copy::write_parts(&mut stream, &held).await {
                debug!(error = %e, "write failed; closing connection");
                return;
            }
            held.clear();
        }
        if !held.is_empty() {
            let _ = zero_copy::write_parts(&mut stream, &held).await;
        }
        let _ = stream.shutdown().await;
    }

    /// Decode one request, run it and encode the response (None: no response, acks=0).
    async fn handle(&mut self, frame: Bytes) -> Result<Option<Vec<Part>>, CloseReason> {
        let decoded = match decode_request(frame)? {
            Ok(decoded) => decoded,
            Err(answer) => return Ok(Some(vec![Part::Mem(answer.freeze())])),
        };
        let (key, version, correlation_id) = (decoded.key, decoded.version, decoded.correlation_id);
        if !self.client_id_logged {
            if let Some(id) = &decoded.header.client_id {
                tracing::Span::current().record("client_id", id.as_str());
                self.client_id_logged = true;
            }
        }
        let span = tracing::debug_span!("request", api = ?key, version, correlation_id);
        let ctx = RequestContext {
            broker: &self.broker,
            version,
            peer: self.peer,
            client_id: decoded.header.client_id.as_deref().unwrap_or(""),
            shutdown: &self.shutdown,
        };
        let response = decoded
            .route
            .handle(&ctx, decoded.request)
            .instrument(span)
            .await;
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

/// Decode one frame (without its length prefix, at least `MIN_REQUEST` bytes: see `frame_len`):
/// the API key and version, the version gate, the request header and the body at the header's
/// and body's versions. `Ok(Err(answer))` is the whole encoded answer to an ApiVersions request
/// at an unsupported version (Kafka's v0 UNSUPPORTED_VERSION); an error closes the connection.
/// Pure (no I/O), so the fuzz target `frame` runs exactly this.
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
    resp: &kafka_protocol::messages::ResponseKind,
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

/// Read one whole frame (without its length prefix). `Ok(None)` = the client closed cleanly
/// between requests. Memory grows only as bytes actually arrive.
async fn read_frame(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<Bytes>, CloseReason> {
    loop {
        if let Some(frame) = split_frame(buf, max)? {
            return Ok(Some(frame));
        }
        if let Some(len) = frame_len(buf, max)? {
            let missing = 4 + len - buf.len();
            buf.reserve(missing.min(1 << 20));
        } else if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        let n = stream.read_buf(buf).await?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            let want = if buf.len() >= 4 {
                usize::try_from(i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]])).unwrap_or(0)
            } else {
                4
            };
            return Err(CloseReason::Truncated {
                have: buf.len().saturating_sub(4),
                want,
            });
        }
    }
}

/// The length of the frame at the start of `buf` (without its 4-byte prefix), once the prefix
/// has arrived: an error when it is outside `MIN_REQUEST..=max` (`socket.request.max.bytes`).
pub(crate) fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, CloseReason> {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let size = i64::from(i32::from_be_bytes(*prefix));
    match usize::try_from(size) {
        Ok(len) if (MIN_REQUEST..=max).contains(&len) => Ok(Some(len)),
        _ => Err(CloseReason::BadSize { size, max }),
    }
}

/// Take the whole frame at the start of `buf` off it (without its length prefix), if it has
/// arrived; `Ok(None)` while bytes are missing.
pub(crate) fn split_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, CloseReason> {
    match frame_len(buf, max)? {
        Some(len) if buf.len() >= 4 + len => {
            buf.advance(4);
            Ok(Some(buf.split_to(len).freeze()))
        }
        _ => Ok(None),
    }
}

/// Log the connection's listening address in the form the start line uses.
pub(crate) fn log_started(addr: &str) {
    info!("minikafka started, listening on {addr}");
}
