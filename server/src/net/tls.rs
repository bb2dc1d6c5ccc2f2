//! TLS for listeners mapped to `SSL`, configured with Kafka's `ssl.*` properties (each may be
//! given for one listener as `listener.name.<listener>.ssl.*`, which wins), served with rustls.
//!
//! Why it exists: teams test against a local broker with the TLS settings they use in
//! production; the `server.properties` lines that secure an Apache Kafka listener must secure
//! minikafka's the same way, and a bad one must stop the start with a message that says what to
//! change, never fail later in a handshake.
//!
//! - Key store (`ssl.keystore.type`): `PEM`, from `ssl.keystore.location` (a file holding the
//!   certificate chain and an unencrypted private key) or inline (`ssl.keystore.certificate.chain`
//!   and `ssl.keystore.key`); or `PKCS12` with `ssl.keystore.password` (and `ssl.key.password`
//!   when the key's differs). `JKS`, Kafka's default type, cannot be read by a maintained Rust
//!   crate: it is refused with the `keytool` line that converts it.
//! - Client certificates (`ssl.client.auth`): `required` refuses a client without a certificate
//!   signed by the trust store (`ssl.truststore.*`, PEM or PKCS12) in the handshake;
//!   `requested` checks one when given; `none` asks for none. The connection's principal is
//!   `User:` and the subject distinguished name as `ssl.principal.mapping.rules` maps it
//!   (`principal_mapping.rs`; DEFAULT keeps it whole), or `User:ANONYMOUS`.
//! - Versions: `ssl.enabled.protocols` (TLSv1.2, TLSv1.3).
//!
//! The handshake runs on the connection's task, bounded by [`HANDSHAKE_TIMEOUT`]; a failed one
//! closes only that connection and is logged with the peer. Records from the page cache go
//! through TLS as copies (`sendfile` cannot encrypt; see BENCHMARKS.md).

use std::io;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::principal_mapping::PrincipalMapper;
use crate::config::listeners::SecurityProtocol;
use crate::config::BrokerConfig;

/// Bound on a TLS handshake: a client that connects to an SSL listener and stalls (or speaks
/// plaintext and waits for an answer) is closed after this long.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener's TLS settings, built at start and rebuilt when its key or trust store file
/// changes ([`watch`]); clones share them.
#[derive(Clone)]
pub struct Tls {
    current: Arc<RwLock<Served>>,
}

/// What one version of the settings serves.
#[derive(Clone)]
struct Served {
    /// Hands the accepted socket through the handshake.
    acceptor: TlsAcceptor,
    /// `ssl.principal.mapping.rules`: the principal of a client certificate.
    mapper: Arc<PrincipalMapper>,
}

impl Tls {
    fn served(&self) -> Served {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

/// One listener's view of the `ssl.*` properties.
struct Settings<'a> {
    config: &'a BrokerConfig,
    listener: &'a str,
}

impl<'a> Settings<'a> {
    /// The value of `prop`: the listener's `listener.name.<listener>.` override, else the
    /// broker's; `None` when empty.
    fn get(&self, prop: &str) -> Option<&'a str> {
        self.raw(prop).filter(|v| !v.is_empty())
    }

    /// [`Settings::get`], empty values included.
    fn raw(&self, prop: &str) -> Option<&'a str> {
        let specific = format!(
            "listener.name.{}.{prop}",
            self.listener.to_ascii_lowercase()
        );
        self.config
            .values
            .get(&specific)
            .or_else(|| self.config.values.get(prop))
            .map(String::as_str)
    }
}

/// Builds the TLS settings of SSL listener `listener`, or says what is wrong with them.
pub(crate) fn for_listener(config: &BrokerConfig, listener: &str) -> Result<Tls, String> {
    let settings = Settings { config, listener };
    let ctx = |what: String| format!("SSL listener {listener}: {what}");
    let (chain, key) = key_store(&settings).map_err(ctx)?;
    let versions = protocol_versions(
        settings
            .get("ssl.enabled.protocols")
            .unwrap_or("TLSv1.2,TLSv1.3"),
    )
    .map_err(ctx)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions)
        .map_err(|e| ctx(format!("ssl.enabled.protocols: {e}")))?;
    let builder = match settings.get("ssl.client.auth").unwrap_or("none") {
        "none" => builder.with_no_client_auth(),
        mode => {
            let roots = trust_store(&settings).map_err(ctx)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = if mode == "requested" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| ctx(format!("ssl.client.auth={mode}: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let server = builder.with_single_cert(chain, key).map_err(|e| {
        ctx(format!(
            "the key store's certificate and key do not match: {e}"
        ))
    })?;
    let mapper = PrincipalMapper::parse(
        settings
            .get("ssl.principal.mapping.rules")
            .unwrap_or("DEFAULT"),
    )
    .map_err(|e| ctx(format!("ssl.principal.mapping.rules: {e}")))?;
    Ok(Tls {
        current: Arc::new(RwLock::new(Served {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            mapper: Arc::new(mapper),
        })),
    })
}

/// rustls' ring provider. ring, not aws-lc: about half the CPU here (NOTES-deps). rustls marks
/// its ring provider deprecated for lacking post-quantum key exchange; the classical groups it
/// offers are what Kafka's JSSE offers too.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `ssl.enabled.protocols` as rustls versions.
fn protocol_versions(list: &str) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let mut out = Vec::new();
    for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match p {
            "TLSv1.2" => out.push(&rustls::version::TLS12),
            "TLSv1.3" => out.push(&rustls::version::TLS13),
            other => {
                return Err(format!(
                    "ssl.enabled.protocols: {other} is not served (TLSv1.2 and TLSv1.3 are)"
                ))
            }
        }
    }
    if out.is_empty() {
        return Err("ssl.enabled.protocols names no TLS version".into());
    }
    Ok(out)
}

type Chain = Vec<CertificateDer<'static>>;

/// The certificate chain and private key of the key store.
fn key_store(settings: &Settings<'_>) -> Result<(Chain, PrivateKeyDer<'static>), String> {
    let get = |prop: &str| settings.get(prop);
    let kind = get("ssl.keystore.type")
        .unwrap_or("JKS")
        .to_ascii_uppercase();
    let location = get("ssl.keystore.location");
    match kind.as_str() {
        "PEM" => {
            let (chain_pem, key_pem) = match location {
                Some(path) => {
                    let text = read(path, "ssl.keystore.location")?;
                    (text.clone(), text)
                }
                None => match (
                    get("ssl.keystore.certificate.chain"),
                    get("ssl.keystore.key"),
                ) {
                    (Some(c), Some(k)) => (c.as_bytes().to_vec(), k.as_bytes().to_vec()),
                    _ => {
                        return Err(
                            "ssl.keystore.type=PEM needs ssl.keystore.location, or both \
                                    ssl.keystore.certificate.chain and ssl.keystore.key"
                                .into(),
                        )
                    }
                },
            };
            let chain = pem_certs(&chain_pem, "the key store")?;
            if String::from_utf8_lossy(&key_pem).contains("ENCRYPTED PRIVATE KEY") {
                return Err(
                    "the PEM private key is encrypted (ssl.key.password): give an \
                            unencrypted key (openssl pkcs8 -topk8 -nocrypt) or use PKCS12"
                        .into(),
                );
            }
            let key = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|e| format!("no private key in the PEM key store: {e}"))?;
            Ok((chain, key))
        }
        "PKCS12" => {
            let path = location.ok_or("ssl.keystore.type=PKCS12 needs ssl.keystore.location")?;
            let data = read(path, "ssl.keystore.location")?;
            let password = get("ssl.keystore.password").unwrap_or("");
            let store = p12_keystore::KeyStore::from_pkcs12(
                &data,
                password,
                p12_keystore::Pkcs12ImportPolicy::Relaxed,
            )
            .or_else(|e| match get("ssl.key.password") {
                Some(key_password) if key_password != password => {
                    p12_keystore::KeyStore::from_pkcs12(
                        &data,
                        key_password,
                        p12_keystore::Pkcs12ImportPolicy::Relaxed,
                    )
                }
                _ => Err(e),
            })
            .map_err(|e| format!("cannot read the PKCS12 key store {path}: {e}"))?;
            let (_, chain) = store
                .private_key_chain()
                .ok_or_else(|| format!("the PKCS12 key store {path} holds no private key"))?;
            let certs = chain
                .certs()
                .iter()
                .map(|c| CertificateDer::from(c.as_der().to_vec()))
                .collect();
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
            Ok((certs, key))
        }
        "JKS" => Err(jks_refused("ssl.keystore")),
        other => Err(format!(
            "ssl.keystore.type={other} is not supported (PEM or PKCS12)"
        )),
    }
}

/// The trusted CA certificates of the trust store.
fn trust_store(settings: &Settings<'_>) -> Result<RootCertStore, String> {
    let get = |prop: &str| settings.get(prop);
    let kind = get("ssl.truststore.type")
        .unwrap_or("JKS")
        .to_ascii_uppercase();
    let location = get("ssl.truststore.location");
    let certs: Chain = match kind.as_str() {
        "PEM" => {
            let pem = match (location, get("ssl.truststore.certificates")) {
                (Some(path), _) => read(path, "ssl.truststore.location")?,
                (None, Some(inline)) => inline.as_bytes().to_vec(),
                (None, None) => {
                    return Err("no trust store to check the peer's certificate with: set \
                                ssl.truststore.location or ssl.truststore.certificates"
                        .into())
                }
            };
            pem_certs(&pem, "the trust store")?
        }
        "PKCS12" => {
            let path =
                location.ok_or("ssl.truststore.type=PKCS12 needs ssl.truststore.location")?;
            let data = read(path, "ssl.truststore.location")?;
            let store = p12_keystore::KeyStore::from_pkcs12(
                &data,
                get("ssl.truststore.password").unwrap_or(""),
                p12_keystore::Pkcs12ImportPolicy::Relaxed,
            )
            .map_err(|e| format!("cannot read the PKCS12 trust store {path}: {e}"))?;
            store
                .entries()
                .flat_map(|(_, entry)| match entry {
                    p12_keystore::KeyStoreEntry::Certificate(c) => vec![c.as_der().to_vec()],
                    p12_keystore::KeyStoreEntry::PrivateKeyChain(k) => {
                        k.certs().iter().map(|c| c.as_der().to_vec()).collect()
                    }
                    _ => Vec::new(),
                })
                .map(CertificateDer::from)
                .collect()
        }
        "JKS" => return Err(jks_refused("ssl.truststore")),
        other => {
            return Err(format!(
                "ssl.truststore.type={other} is not supported (PEM or PKCS12)"
            ))
        }
    };
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("a trust store certificate is not usable: {e}"))?;
    }
    if roots.is_empty() {
        return Err("the trust store holds no certificate".into());
    }
    Ok(roots)
}

fn jks_refused(prefix: &str) -> String {
    format!(
        "{prefix}.type=JKS (Kafka's default) cannot be read by minikafka: set {prefix}.type=PKCS12 \
         (convert with keytool -importkeystore -srckeystore <file.jks> -destkeystore <file.p12> \
         -deststoretype PKCS12) or PEM"
    )
}

fn read(path: &str, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} {path}: {e}"))
}

fn pem_certs(pem: &[u8], what: &str) -> Result<Chain, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Chain, _>>()
        .map_err(|e| format!("bad PEM in {what}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {what}"));
    }
    Ok(certs)
}

/// Kafka's principal for a TLS connection: `User:` and the name `ssl.principal.mapping.rules`
/// gives the client certificate's subject distinguished name (RFC 2253 order, as Java prints
/// it; the DEFAULT rule keeps it whole), or `User:ANONYMOUS` without a certificate. An error
/// when no rule applies (Kafka then fails the authentication).
pub(crate) fn principal(
    tls: &Tls,
    peer_certs: Option<&[CertificateDer<'_>]>,
) -> Result<String, String> {
    let subject = peer_certs
        .and_then(|c| c.first())
        .and_then(|c| x509_parser::parse_x509_certificate(c.as_ref()).ok())
        .map(|(_, cert)| {
            // x509-parser prints the RDNs in certificate order; Java's RFC 2253 form is reversed.
            let mut parts: Vec<String> = cert
                .subject()
                .iter_rdn()
                .map(|rdn| {
                    rdn.iter()
                        .map(|a| {
                            let key = x509_parser::objects::oid2abbrev(
                                a.attr_type(),
                                x509_parser::objects::oid_registry(),
                            )
                            .map_or_else(|_| a.attr_type().to_id_string(), str::to_string);
                            format!("{key}={}", a.as_str().unwrap_or(""))
                        })
                        .collect::<Vec<_>>()
                        .join("+")
                })
                .collect();
            parts.reverse();
            parts.join(",")
        });
    match subject {
        Some(s) if !s.is_empty() => Ok(format!("User:{}", tls.served().mapper.name(&s)?)),
        _ => Ok(super::connection::ANONYMOUS.to_string()),
    }
}

/// Runs the server side of the handshake on `stream`, bounded by [`HANDSHAKE_TIMEOUT`].
pub(crate) async fn accept(
    tls: &Tls,
    stream: tokio::net::TcpStream,
) -> io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.served().acceptor.accept(stream))
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("TLS handshake not done within {HANDSHAKE_TIMEOUT:?}"),
            )
        })?
}

/// How often the key and trust store files of the SSL listeners are looked at (their
/// modification time and size: one `stat` each).
pub(crate) const RELOAD_CHECK: Duration = Duration::from_secs(3);

/// Keeps `tls`, SSL listener `listener`'s settings, in step with its key and trust store files:
/// every [`RELOAD_CHECK`], a file whose modification time or size changed makes the settings be
/// rebuilt, and new connections handshake with them; connections already made keep theirs. A
/// file that does not give good settings (half written, a key that does not match) is logged and
/// the settings in use are kept. Ends when the listener's settings are dropped.
pub(crate) fn watch(tls: &Tls, config: Arc<BrokerConfig>, listener: String) {
    let settings = Settings {
        config: &config,
        listener: &listener,
    };
    let files: Vec<String> = ["ssl.keystore.location", "ssl.truststore.location"]
        .iter()
        .filter_map(|p| settings.get(p).map(str::to_string))
        .collect();
    if files.is_empty() {
        return;
    }
    let current = Arc::downgrade(&tls.current);
    tokio::spawn(async move {
        let stamps = || -> Vec<Option<(SystemTime, u64)>> {
            files
                .iter()
                .map(|f| {
                    let m = std::fs::metadata(f).ok()?;
                    Some((m.modified().ok()?, m.len()))
                })
                .collect()
        };
        let mut seen = stamps();
        loop {
            tokio::time::sleep(RELOAD_CHECK).await;
            let Some(current) = current.upgrade() else {
                return;
            };
            let now = stamps();
            if now == seen {
                continue;
            }
            seen = now;
            match for_listener(&config, &listener) {
                Ok(new) => {
                    let served = new.served();
                    *current.write().unwrap_or_else(PoisonError::into_inner) = served;
                    tracing::info!(broker = config.node_id, listener = %listener, files = ?files,
                        "SSL key or trust store changed: new connections use the new settings");
                }
                Err(e) => tracing::warn!(broker = config.node_id, listener = %listener, error = %e,
                    "SSL key or trust store changed but cannot be used; the settings in use are kept"),
            }
        }
    });
}

/// The client side of TLS for this node's own connections to another node's SSL listener (the
/// inter-broker listener, a controller listener), as Kafka's brokers and controllers are TLS
/// clients there: the listener's trust store checks the peer's certificate, its key store (when
/// one is set) is presented when the peer asks for a client certificate, and
/// `ssl.endpoint.identification.algorithm` (`https`, the default) requires the certificate to
/// name the host or IP address dialled (empty: no name check).
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    listener: String,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

/// TLS of one listener name for the connections between nodes: the server side (this node's
/// own listener of that name, when it binds one) and the client side (dialling the other
/// nodes' listener of that name). Both `None` for a PLAINTEXT listener.
#[derive(Clone, Debug, Default)]
pub struct NodeTls {
    pub(crate) server: Option<Tls>,
    pub(crate) client: Option<TlsClient>,
}

/// The TLS of this node's controller listener (the first of `controller.listener.names`): served
/// when the node has the controller role, dialled with towards the voters.
pub(crate) fn controller_tls(config: &BrokerConfig) -> Result<NodeTls, String> {
    match config.listeners.controller_names.first() {
        None => Ok(NodeTls::default()),
        Some(name) => node_tls(config, name, !config.quorum.roles.broker_only()),
    }
}

/// The TLS of listener `listener` between nodes (see [`NodeTls`]); `serve`: this node binds it.
pub(crate) fn node_tls(
    config: &BrokerConfig,
    listener: &str,
    serve: bool,
) -> Result<NodeTls, String> {
    if config.listeners.protocol_of(listener) != SecurityProtocol::Ssl {
        return Ok(NodeTls::default());
    }
    Ok(NodeTls {
        server: if serve {
            Some(for_listener(config, listener)?)
        } else {
            None
        },
        client: Some(client_for_listener(config, listener)?),
    })
}

/// The client side of TLS towards the inter-broker listener, when it is SSL. Its settings were
/// checked when the broker started ([`node_tls`]); if the files went bad since, the error is
/// logged and the connections fail their handshakes instead.
pub(crate) fn inter_broker_client(config: &BrokerConfig) -> Option<TlsClient> {
    let listener = &config.listeners.inter_broker;
    if config.listeners.protocol_of(listener) != SecurityProtocol::Ssl {
        return None;
    }
    match client_for_listener(config, listener) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(broker = config.node_id, error = %e, "inter-broker TLS");
            None
        }
    }
}

/// Builds the client side of TLS towards SSL listener `listener` (see [`TlsClient`]).
pub(crate) fn client_for_listener(
    config: &BrokerConfig,
    listener: &str,
) -> Result<TlsClient, String> {
    let settings = Settings { config, listener };
    let ctx =
        |what: String| format!("SSL listener {listener} (client side, between nodes): {what}");
    let versions = protocol_versions(
        settings
            .get("ssl.enabled.protocols")
            .unwrap_or("TLSv1.2,TLSv1.3"),
    )
    .map_err(ctx)?;
    let roots = Arc::new(trust_store(&settings).map_err(ctx)?);
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| ctx(format!("trust store: {e}")))?;
    // Unset: Kafka's default, https; set empty (even for the one listener): no name check.
    let algorithm = settings
        .raw("ssl.endpoint.identification.algorithm")
        .unwrap_or("https");
    let check_names = match algorithm.trim() {
        "" => false,
        a if a.eq_ignore_ascii_case("https") => true,
        other => {
            return Err(ctx(format!(
                "ssl.endpoint.identification.algorithm={other} is not supported (https, or \
                 empty for no host name check)"
            )))
        }
    };
    let verifier: Arc<dyn ServerCertVerifier> = if check_names {
        webpki
    } else {
        Arc::new(NoNameCheck(webpki))
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions)
        .map_err(|e| ctx(format!("ssl.enabled.protocols: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let has_key_store = settings.get("ssl.keystore.location").is_some()
        || settings.get("ssl.keystore.certificate.chain").is_some();
    let client = if has_key_store {
        let (chain, key) = key_store(&settings).map_err(ctx)?;
        builder.with_client_auth_cert(chain, key).map_err(|e| {
            ctx(format!(
                "the key store's certificate and key do not match: {e}"
            ))
        })?
    } else {
        builder.with_no_client_auth()
    };
    Ok(TlsClient {
        connector: TlsConnector::from(Arc::new(client)),
        listener: listener.to_string(),
    })
}

/// `ssl.endpoint.identification.algorithm` empty: the peer's chain must still lead to the trust
/// store, only the host name check is left out.
#[derive(Debug)]
struct NoNameCheck(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for NoNameCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain first, the name last: a name error means the chain is good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl TlsClient {
    /// Runs the client side of the handshake on `stream`, a connection to `host`, bounded by
    /// [`HANDSHAKE_TIMEOUT`]. A failure (an untrusted certificate, one that does not name
    /// `host`) is logged at warn with the listener and the peer, and returned.
    pub(crate) async fn connect(
        &self,
        stream: tokio::net::TcpStream,
        host: &str,
    ) -> io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad host {host}: {e}"))
        })?;
        let done = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.connector.connect(name, stream))
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("TLS handshake not done within {HANDSHAKE_TIMEOUT:?}"),
                ))
            });
        if let Err(e) = &done {
            tracing::warn!(listener = %self.listener, peer = host, error = %e,
                "TLS handshake with another node failed (its certificate, the trust store, \
                 ssl.endpoint.identification.algorithm)");
        }
        done
    }
}

/// Dials `addr` (`host:port`) and, with `tls`, runs the client handshake: a connection from
/// this node to another one.
pub(crate) async fn dial(
    tls: Option<&TlsClient>,
    host: &str,
    port: u16,
) -> io::Result<super::stream::Stream> {
    let tcp = tokio::net::TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    match tls {
        None => Ok(super::stream::Stream::Plain(tcp)),
        Some(tls) => {
            // `[::1]` as the IP address it names.
            let name = host.trim_start_matches('[').trim_end_matches(']');
            let s = tls.connect(tcp, name).await?;
            Ok(super::stream::Stream::TlsClient(Box::new(s)))
        }
    }
}
