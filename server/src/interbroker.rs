//! The inter-broker client: Kafka requests from this broker to another one, over that broker's
//! inter-broker listener (`inter.broker.listener.name`).
//!
//! Partitions live only on their leader, so some work needs another broker: the transaction
//! coordinator writes the COMMIT/ABORT markers of a transaction to every partition's leader
//! (WriteTxnMarkers), and a partition leader asks a transactional producer's coordinator whether a
//! partition is in its open transaction (AddPartitionsToTxn v4+ `verify_only`, KIP-890), as Kafka's
//! `TransactionMarkerChannelManager` and `AddPartitionsToTxnManager` do through their
//! `NodeToNodeChannel`s.
//!
//! The wire format is Kafka's own (size-prefixed frames, request and response headers, the
//! `kafka-protocol` codecs), at versions minikafka itself serves. Connections are found from the
//! metadata image (the broker's endpoint for the inter-broker listener name), kept in a small pool
//! per broker ([`MAX_IDLE_PER_BROKER`] idle connections), and every request is bounded in time
//! ([`REQUEST_TIMEOUT`], Kafka's `request.timeout.ms` default) and in response size
//! ([`MAX_RESPONSE_BYTES`]). A failure is an [`InterBrokerError`], which the callers map to the
//! retriable Kafka error their own API answers; nothing here panics on what a peer sends. A
//! connection that failed in any way is dropped, never returned to the pool.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::debug;

use crate::net::stream::Stream;
use crate::net::tls::TlsClient;

use crate::metadata::MetadataImage;

/// How long one request may take, connecting included (Kafka's `request.timeout.ms` default).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting to a broker may take (Kafka's `socket.connection.setup.timeout.ms`
/// default is 10 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest response accepted from a peer. The answers asked for here (markers, verification)
/// are a few bytes per partition.
pub(crate) const MAX_RESPONSE_BYTES: usize = 16 << 20;
/// Idle connections kept per broker.
pub(crate) const MAX_IDLE_PER_BROKER: usize = 2;

/// Why a request to another broker got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InterBrokerError {
    /// The broker is not in the metadata image, or is fenced.
    #[error("broker {0} is not registered or not alive")]
    UnknownBroker(i32),
    /// The broker has no endpoint for the inter-broker listener.
    #[error("broker {broker} has no endpoint for listener {listener}")]
    NoEndpoint {
        /// The broker.
        broker: i32,
        /// The inter-broker listener name.
        listener: String,
    },
    /// Connecting, writing or reading failed.
    #[error("i/o with broker {broker}: {source}")]
    Io {
        /// The broker.
        broker: i32,
        /// What failed.
        source: std::io::Error,
    },
    /// No answer within the request timeout.
    #[error("broker {0} did not answer within the request timeout")]
    Timeout(i32),
    /// The request could not be encoded or the answer could not be decoded.
    #[error("codec error with broker {broker}: {reason}")]
    Codec {
        /// The broker.
        broker: i32,
        /// What failed.
        reason: String,
    },
    /// The answer is larger than [`MAX_RESPONSE_BYTES`], or not even a response header.
    #[error("broker {broker} sent a response frame of {size} bytes")]
    BadFrame {
        /// The broker.
        broker: i32,
        /// The size it announced.
        size: i64,
    },
    /// The answer is for another request.
    #[error("broker {broker} answered correlation id {got}, expected {expected}")]
    Correlation {
        /// The broker.
        broker: i32,
        /// Sent.
        expected: i32,
        /// Received.
        got: i32,
    },
}

/// One open connection to a broker, and the address it was opened to (a broker that moved gets a
/// new one).
#[derive(Debug)]
struct Conn {
    addr: (String, i32),
    stream: Stream,
}

/// Requests to the other brokers of the cluster.
#[derive(Debug)]
pub(crate) struct InterBrokerClient {
    /// This broker's `node.id` (logs, client id).
    node_id: i32,
    /// The listener name whose endpoints are used.
    listener: String,
    /// `client.id` of every request.
    client_id: StrBytes,
    /// The client side of TLS when the inter-broker listener is SSL.
    tls: Option<TlsClient>,
    /// Idle connections by broker id.
    idle: Mutex<HashMap<i32, Vec<Conn>>>,
    correlation: AtomicI32,
}

impl InterBrokerClient {
    /// A client of broker `node_id` that connects to the endpoints of `listener` (over TLS with
    /// `tls`).
    pub(crate) fn new(node_id: i32, listener: &str, tls: Option<TlsClient>) -> Arc<Self> {
        Arc::new(InterBrokerClient {
            node_id,
            listener: listener.to_string(),
            client_id: StrBytes::from_string(format!("minikafka-broker-{node_id}")),
            tls,
            idle: Mutex::new(HashMap::new()),
            correlation: AtomicI32::new(0),
        })
    }

    /// Send `request` at `version` to broker `broker` (found in `image`) and wait for its answer,
    /// within [`REQUEST_TIMEOUT`].
    pub(crate) async fn send<R: Request>(
        &self,
        image: &MetadataImage,
        broker: i32,
        version: i16,
        request: &R,
    ) -> Result<R::Response, InterBrokerError> {
        let b = image
            .broker(broker)
            .filter(|b| !b.fenced)
            .ok_or(InterBrokerError::UnknownBroker(broker))?;
        let (host, port) =
            b.endpoint(&self.listener)
                .ok_or_else(|| InterBrokerError::NoEndpoint {
                    broker,
                    listener: self.listener.clone(),
                })?;
        let addr = (host.to_string(), port);
        let frame = self.encode(broker, version, request)?;
        let correlation = frame.1;
        match tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.exchange::<R>(broker, addr, frame.0, correlation, version),
        )
        .await
        {
            Ok(res) => res,
            Err(_) => Err(InterBrokerError::Timeout(broker)),
        }
    }

    /// The request's frame (size prefix, header, body) and its correlation id.
    fn encode<R: Request>(
        &self,
        broker: i32,
        version: i16,
        request: &R,
    ) -> Result<(BytesMut, i32), InterBrokerError> {
        let codec = |e: anyhow::Error| InterBrokerError::Codec {
            broker,
            reason: e.to_string(),
        };
        let key = ApiKey::try_from(R::KEY).map_err(|()| InterBrokerError::Codec {
            broker,
            reason: format!("unknown api key {}", R::KEY),
        })?;
        let correlation = self
            .correlation
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
            & i32::MAX;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(self.client_id.clone()));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, key.request_header_version(version))
            .map_err(codec)?;
        request.encode(&mut buf, version).map_err(codec)?;
        let size = i32::try_from(buf.len() - 4).map_err(|_| InterBrokerError::Codec {
            broker,
            reason: "request too large".into(),
        })?;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        Ok((buf, correlation))
    }

    /// A pooled connection to `addr` (`true`), or a new one.
    async fn connect(
        &self,
        broker: i32,
        addr: &(String, i32),
        reuse: bool,
    ) -> Result<(Conn, bool), InterBrokerError> {
        let pooled = if !reuse {
            None
        } else {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            let conns = idle.entry(broker).or_default();
            // Connections to an address the broker no longer has are dropped.
            conns.retain(|c| &c.addr == addr);
            conns.pop()
        };
        if let Some(c) = pooled {
            return Ok((c, true));
        }
        let port = u16::try_from(addr.1).map_err(|_| InterBrokerError::Io {
            broker,
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad port"),
        })?;
        let stream = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            crate::net::tls::dial(self.tls.as_ref(), &addr.0, port),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => return Err(InterBrokerError::Io { broker, source }),
            Err(_) => return Err(InterBrokerError::Timeout(broker)),
        };
        debug!(
            broker = self.node_id,
            peer = broker,
            host = %addr.0,
            port = addr.1,
            "connected to a broker"
        );
        Ok((
            Conn {
                addr: addr.clone(),
                stream,
            },
            false,
        ))
    }

    /// Give a connection that answered properly back to the pool.
    fn release(&self, broker: i32, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let conns = idle.entry(broker).or_default();
        if conns.len() < MAX_IDLE_PER_BROKER {
            conns.push(conn);
        }
    }

    /// One request on a pooled connection; if that connection turns out closed (the peer
    /// restarted, or closed it while idle), once more on a new one.
    async fn exchange<R: Request>(
        &self,
        broker: i32,
        addr: (String, i32),
        frame: BytesMut,
        correlation: i32,
        version: i16,
    ) -> Result<R::Response, InterBrokerError> {
        let (conn, pooled) = self.connect(broker, &addr, true).await?;
        match self
            .attempt::<R>(broker, conn, &frame, correlation, version)
            .await
        {
            Err(InterBrokerError::Io { source, .. }) if pooled => {
                debug!(broker = self.node_id, peer = broker, error = %source,
                    "pooled connection failed; retrying on a new one");
                let (conn, _) = self.connect(broker, &addr, false).await?;
                self.attempt::<R>(broker, conn, &frame, correlation, version)
                    .await
            }
            other => other,
        }
    }

    async fn attempt<R: Request>(
        &self,
        broker: i32,
        mut conn: Conn,
        frame: &[u8],
        correlation: i32,
        version: i16,
    ) -> Result<R::Response, InterBrokerError> {
        let io = |source| InterBrokerError::Io { broker, source };
        conn.stream.write_all(frame).await.map_err(io)?;
        let size = conn.stream.read_i32().await.map_err(io)?;
        let len = usize::try_from(size)
            .ok()
            .filter(|n| (4..=MAX_RESPONSE_BYTES).contains(n))
            .ok_or(InterBrokerError::BadFrame {
                broker,
                size: i64::from(size),
            })?;
        let mut body = vec![0u8; len];
        conn.stream.read_exact(&mut body).await.map_err(io)?;
        let mut body = bytes::Bytes::from(body);
        let key = ApiKey::try_from(R::KEY).map_err(|()| InterBrokerError::Codec {
            broker,
            reason: format!("unknown api key {}", R::KEY),
        })?;
        let codec = |e: anyhow::Error| InterBrokerError::Codec {
            broker,
            reason: e.to_string(),
        };
        let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
            .map_err(codec)?;
        if header.correlation_id != correlation {
            return Err(InterBrokerError::Correlation {
                broker,
                expected: correlation,
                got: header.correlation_id,
            });
        }
        let response = R::Response::decode(&mut body, version).map_err(codec)?;
        if body.has_remaining() {
            debug!(
                broker = self.node_id,
                peer = broker,
                trailing = body.remaining(),
                "response with trailing bytes"
            );
        }
        self.release(broker, conn);
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::BrokerImage;
    use kafka_protocol::messages::ApiVersionsRequest;
    use tokio::net::TcpListener;

    /// An image with broker 2 on `port` (listener PLAINTEXT).
    fn image(port: u16) -> MetadataImage {
        MetadataImage::new(
            Vec::new(),
            vec![BrokerImage {
                id: 2,
                endpoints: vec![("PLAINTEXT".into(), "127.0.0.1".into(), i32::from(port))],
                rack: None,
                fenced: false,
            }],
        )
    }

    /// A broker not in the image, or without the listener, is refused before any connection.
    #[tokio::test]
    async fn unknown_brokers_and_listeners_are_errors() {
        let c = InterBrokerClient::new(1, "PLAINTEXT", None);
        let req = ApiVersionsRequest::default();
        let e = c.send(&image(1), 3, 3, &req).await.unwrap_err();
        assert!(matches!(e, InterBrokerError::UnknownBroker(3)), "{e}");
        let other = InterBrokerClient::new(1, "INTERNAL", None);
        let e = other.send(&image(1), 2, 3, &req).await.unwrap_err();
        assert!(
            matches!(e, InterBrokerError::NoEndpoint { broker: 2, .. }),
            "{e}"
        );
    }

    /// A peer announcing a response larger than the bound, or answering another correlation id, gets an
    /// error (and its connection is not kept), never an allocation of what it announced.
    #[tokio::test]
    async fn oversized_and_mismatched_responses_are_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for answer in [
                i32::MAX.to_be_bytes().to_vec(),
                [
                    8i32.to_be_bytes(),
                    12345i32.to_be_bytes(),
                    0i32.to_be_bytes(),
                ]
                .concat(),
            ] {
                let (mut s, _) = listener.accept().await.unwrap();
                let size = s.read_i32().await.unwrap();
                let mut body = vec![0u8; usize::try_from(size).unwrap()];
                s.read_exact(&mut body).await.unwrap();
                s.write_all(&answer).await.unwrap();
                // Held open until the client drops it.
                let _ = s.read_i32().await;
            }
        });
        let c = InterBrokerClient::new(1, "PLAINTEXT", None);
        let req = ApiVersionsRequest::default();
        let e = c.send(&image(port), 2, 3, &req).await.unwrap_err();
        assert!(
            matches!(e, InterBrokerError::BadFrame { broker: 2, .. }),
            "{e}"
        );
        let e = c.send(&image(port), 2, 3, &req).await.unwrap_err();
        assert!(
            matches!(
                e,
                InterBrokerError::Correlation {
                    broker: 2,
                    got: 12345,
                    ..
                }
            ),
            "{e}"
        );
    }
}
