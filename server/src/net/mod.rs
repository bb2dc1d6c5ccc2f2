//! Network layer: the accept loop, the connection limits and one task per connection.
//!
//! - `mod.rs` (this file): [`Listener`] accepts on one socket of a named listener (`listeners`;
//!   every listener has its own loops), tags each connection with the listener's name, then
//!   applies the quotas shared by all listeners, as Kafka's `Acceptor` does: a connection over `max.connections.per.ip` is closed at once with a log line naming
//!   the peer; when all `max.connections` slots are in use the loop stops accepting until one
//!   frees (the kernel's backlog holds the next clients meanwhile).
//! - `quotas.rs`: the counts behind those limits ([`quotas::ConnectionQuotas`]).
//! - `memory.rs`: `queued.max.request.bytes`, the memory all connections' unhandled requests may
//!   hold ([`memory::MemoryPool`]).
//! - `frame.rs`: reading one request frame in bounded chunks, with the idle timeout
//!   (`connections.max.idle.ms`), the request-read deadline and a lease from the memory pool.
//! - `connection.rs`: one connection: decoding, dispatch and ordered answers.
//! - `stream.rs`: a connection's bytes, plain TCP or TLS; `tls.rs`: an SSL listener's TLS
//!   settings from Kafka's `ssl.*` properties, the handshake and the connection's principal.

pub(crate) mod connection;
mod frame;
pub(crate) mod memory;
pub(crate) mod principal_mapping;
pub(crate) mod quotas;
pub(crate) mod stream;
pub(crate) mod tls;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, info_span, warn, Instrument};

use crate::context::Broker;
#[cfg(feature = "fuzzing")]
pub(crate) use connection::decode_request;
use connection::Connection;
#[cfg(feature = "fuzzing")]
pub(crate) use frame::split_frame;
use memory::MemoryPool;
use quotas::ConnectionQuotas;

/// Accepts connections on one bound socket of a listener until shutdown (`localhost` binds two
/// sockets, 127.0.0.1 and ::1, each with its own loop).
#[derive(Debug)]
pub(crate) struct Listener {
    /// The bound socket.
    pub(crate) listener: TcpListener,
    /// The listener's name: each connection keeps it, so the endpoints it is told are the ones
    /// advertised for this listener.
    pub(crate) name: Arc<str>,
    /// Shared broker state handed to every connection.
    pub(crate) broker: Arc<Broker>,
    /// `max.connections` and `max.connections.per.ip`, shared by every listener.
    pub(crate) quotas: Arc<ConnectionQuotas>,
    /// `queued.max.request.bytes`, shared by every listener.
    pub(crate) memory: Arc<MemoryPool>,
    /// Cancelled at shutdown: stop accepting, let connections finish their request.
    pub(crate) shutdown: CancellationToken,
    /// Tracks connection tasks so shutdown can wait for in-flight requests.
    pub(crate) tracker: TaskTracker,
    /// An SSL or SASL_SSL listener's TLS settings; `None` for PLAINTEXT and SASL_PLAINTEXT.
    pub(crate) tls: Option<tls::Tls>,
    /// A SASL_PLAINTEXT or SASL_SSL listener's SASL settings (`crate::sasl`).
    pub(crate) sasl: Option<Arc<crate::sasl::ListenerSasl>>,
}

impl Listener {
    /// Accept until shutdown. Accept errors (e.g. out of file descriptors) back off from 10 ms
    /// up to 5 s instead of ending the loop.
    pub(crate) async fn run(self) {
        let mut backoff = Duration::from_millis(10);
        loop {
            let accepted = tokio::select! {
                () = self.shutdown.cancelled() => return,
                a = self.listener.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(10);
            let ip = match self.quotas.admit(peer.ip()) {
                Ok(ip) => ip,
                Err(over) => {
                    // Kafka's Acceptor logs this at info and closes the socket.
                    info!(
                        %peer,
                        limit = over.limit,
                        "rejected connection: the address already has the maximum number of \
                         connections (max.connections.per.ip)"
                    );
                    drop(stream);
                    continue;
                }
            };
            // Kafka's waitForConnectionSlot: with every max.connections slot in use, hold this
            // socket and accept no other until a connection closes.
            let slot = tokio::select! {
                () = self.shutdown.cancelled() => return,
                s = self.quotas.slot(ip) => match s {
                    Some(s) => s,
                    None => return,
                },
            };
            let _ = stream.set_nodelay(true);
            let mut conn = Connection::new(
                peer,
                self.name.clone(),
                self.broker.clone(),
                self.memory.clone(),
                self.shutdown.clone(),
            );
            if let Some(sasl) = &self.sasl {
                conn.require_sasl(sasl.clone());
            }
            let span = info_span!("conn", %peer, listener = %self.name,
                principal = tracing::field::Empty, client_id = tracing::field::Empty);
            let tls = self.tls.clone();
            self.tracker.spawn(
                async move {
                    let stream = match tls {
                        None => stream::Stream::Plain(stream),
                        Some(tls) => match tls::accept(&tls, stream).await {
                            Ok(s) => {
                                let session = s.get_ref().1;
                                let principal =
                                    match tls::principal(&tls, session.peer_certificates()) {
                                        Ok(p) => p,
                                        Err(e) => {
                                            // Kafka fails the authentication: no rule names
                                            // this certificate's subject.
                                            info!(%peer, error = %e,
                                                "ssl.principal.mapping.rules: connection closed");
                                            drop(slot);
                                            return;
                                        }
                                    };
                                conn.set_principal(&principal);
                                tracing::debug!(
                                    principal,
                                    version = ?session.protocol_version(),
                                    cipher = ?session.negotiated_cipher_suite().map(|c| c.suite()),
                                    "TLS handshake done"
                                );
                                stream::Stream::Tls(Box::new(s))
                            }
                            Err(e) => {
                                // A plaintext client on a TLS port, an untrusted certificate, a
                                // stalled handshake: this connection only.
                                info!(%peer, error = %e, "TLS handshake failed; connection closed");
                                drop(slot);
                                return;
                            }
                        },
                    };
                    conn.serve(stream).await;
                    drop(slot);
                }
                .instrument(span),
            );
        }
    }
}

/// Log the connection's listening address in the form the start line uses.
pub(crate) fn log_started(addr: &str) {
    info!("minikafka started, listening on {addr}");
}
