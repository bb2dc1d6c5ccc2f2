//! `minikafka dev-certs DIR`: everything a developer needs to try TLS against a local broker, in
//! one command: a development CA, a broker certificate (localhost, 127.0.0.1, this host's name), a
//! client certificate, PEM and PKCS12 stores, client property files for librdkafka/kcat and for
//! Kafka's Java tools, and the broker settings that serve them.
//!
//! It exists because making a CA and signed certificates by hand (openssl or keytool, extension
//! files, store conversions) is where most first attempts at a TLS listener go wrong. The
//! certificates are made with rcgen (ECDSA P-256 keys), not by running the openssl command line,
//! so the command works wherever minikafka runs. They are for development only: the CA's key is
//! written next to the certificates, unencrypted, and the stores share one password.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The password of every PKCS12 store written.
pub const STORE_PASSWORD: &str = "minikafka-dev";

/// What [`make`] wrote.
#[derive(Debug)]
pub struct Made {
    /// The directory, absolute.
    pub dir: PathBuf,
    /// The files written, relative to `dir`, with what each is.
    pub files: Vec<(&'static str, &'static str)>,
    /// The broker settings, as `server.properties` lines.
    pub server_properties: String,
}

/// Makes the CA, the certificates, the stores and the property files in `dir` (created if
/// missing; existing files of the same names are replaced).
pub fn make(dir: &Path) -> Result<Made, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let err = |e: rcgen::Error| format!("cannot make the certificates: {e}");
    // The CA.
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.distinguished_name
        .push(DnType::CommonName, "minikafka development CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let ca_pem = ca_cert.pem();
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca, ca_key);
    // The broker: every name a local client may dial.
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Some(host) = host_name().filter(|h| !names.contains(h)) {
        names.push(host);
    }
    let leaf = |subject: &str, names: Vec<String>| -> Result<(String, KeyPair, Vec<u8>), String> {
        let mut p = CertificateParams::new(names).map_err(err)?;
        p.distinguished_name.push(DnType::CommonName, subject);
        p.use_authority_key_identifier_extension = true;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // Server and client use: the same certificate also serves between brokers with
        // ssl.client.auth=required.
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().map_err(err)?;
        let cert = p.signed_by(&key, &issuer).map_err(err)?;
        Ok((cert.pem(), key, cert.der().to_vec()))
    };
    let (broker_pem, broker_key, broker_der) = leaf("localhost", names.clone())?;
    let (client_pem, client_key, client_der) = leaf("minikafka-dev-client", Vec::new())?;
    let ca_der = ca_cert.der().to_vec();
    let broker_p12 = pkcs12("broker", &broker_key, &[&broker_der, &ca_der])?;
    let client_p12 = pkcs12("client", &client_key, &[&client_der, &ca_der])?;
    let path = |f: &str| dir.join(f).display().to_string();
    let server_properties = format!(
        "listeners=PLAINTEXT://localhost:9092,SSL://localhost:9093\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL\n\
         inter.broker.listener.name=PLAINTEXT\n\
         ssl.keystore.type=PEM\n\
         ssl.keystore.location={}\n\
         ssl.truststore.type=PEM\n\
         ssl.truststore.location={}\n\
         ssl.client.auth=requested\n",
        path("broker-keystore.pem"),
        path("ca.pem"),
    );
    let librdkafka = format!(
        "# librdkafka / kcat (kcat -F {}): TLS to the SSL listener with the client certificate\n\
         security.protocol=ssl\n\
         ssl.ca.location={}\n\
         ssl.certificate.location={}\n\
         ssl.key.location={}\n",
        path("client.properties"),
        path("ca.pem"),
        path("client.pem"),
        path("client.key"),
    );
    let java = format!(
        "# Kafka's Java clients and tools (--command-config / --producer.config / --consumer.config)\n\
         security.protocol=SSL\n\
         ssl.truststore.type=PEM\n\
         ssl.truststore.location={}\n\
         ssl.keystore.type=PKCS12\n\
         ssl.keystore.location={}\n\
         ssl.keystore.password={STORE_PASSWORD}\n",
        path("ca.pem"),
        path("client.p12"),
    );
    let files: Vec<(&'static str, Vec<u8>, &'static str)> = vec![
        (
            "ca.pem",
            ca_pem.clone().into(),
            "the development CA's certificate (trust store)",
        ),
        (
            "ca.key",
            ca_key_pem.into(),
            "the CA's private key (keep it to sign more)",
        ),
        (
            "broker.pem",
            format!("{broker_pem}{ca_pem}").into(),
            "broker certificate chain",
        ),
        (
            "broker.key",
            broker_key.serialize_pem().into(),
            "broker private key",
        ),
        (
            "broker-keystore.pem",
            format!("{broker_pem}{ca_pem}{}", broker_key.serialize_pem()).into(),
            "broker PEM key store (ssl.keystore.type=PEM)",
        ),
        (
            "broker.p12",
            broker_p12,
            "broker PKCS12 key store (password minikafka-dev)",
        ),
        (
            "client.pem",
            format!("{client_pem}{ca_pem}").into(),
            "client certificate chain",
        ),
        (
            "client.key",
            client_key.serialize_pem().into(),
            "client private key",
        ),
        (
            "client.p12",
            client_p12,
            "client PKCS12 key store (password minikafka-dev)",
        ),
        (
            "client.properties",
            librdkafka.into(),
            "librdkafka / kcat client settings",
        ),
        ("client-ssl.properties", java.into(), "Java client settings"),
        (
            "server.properties",
            server_properties.clone().into(),
            "broker settings to paste",
        ),
    ];
    let mut listed = Vec::new();
    for (name, bytes, what) in files {
        std::fs::write(dir.join(name), bytes)
            .map_err(|e| format!("cannot write {}: {e}", path(name)))?;
        listed.push((name, what));
    }
    Ok(Made {
        dir,
        files: listed,
        server_properties,
    })
}

/// A PKCS12 store holding `key` and its chain (leaf first).
fn pkcs12(alias: &str, key: &KeyPair, chain: &[&[u8]]) -> Result<Vec<u8>, String> {
    let err = |e: p12_keystore::error::Error| format!("cannot write the PKCS12 store: {e}");
    let certs = chain
        .iter()
        .map(|c| p12_keystore::Certificate::from_der(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let key = p12_keystore::PrivateKey::from_der(&key.serialize_der()).map_err(err)?;
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        alias,
        p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
            alias, key, certs,
        )),
    );
    store.writer(STORE_PASSWORD).write().map_err(err)
}

/// This machine's host name, if it has one.
fn host_name() -> Option<String> {
    rustix::system::uname()
        .nodename()
        .to_str()
        .ok()
        .map(str::to_string)
        .filter(|h| !h.is_empty())
}

/// What `minikafka dev-certs` prints: the files and the next two commands.
pub fn report(made: &Made) -> String {
    let mut out = format!("Development certificates in {}:\n", made.dir.display());
    for (name, what) in &made.files {
        let _ = writeln!(out, "  {name:<22} {what}");
    }
    let sets: Vec<String> = made
        .server_properties
        .lines()
        .map(|l| format!("--set '{l}'"))
        .collect();
    let _ = write!(
        out,
        "\nBroker settings (server.properties):\n{}\nNext:\n  minikafka {}\n  kcat -F {} -b localhost:9093 -L\n",
        made.server_properties,
        sets.join(" "),
        made.dir.join("client.properties").display()
    );
    out
}
