//! SSL listeners (issue 14) with real clients: librdkafka and Debian's `kcat` over TLS, keys
//! and certificates made by the `openssl` command line for each test (a CA, a broker
//! certificate for `127.0.0.1`/`localhost`, client certificates).
//!
//! - A PEM key store: an rdkafka producer and consumer round-trip records byte for byte over
//!   TLS, `kcat` lists the metadata; the PLAINTEXT listener of the same broker keeps working.
//! - Encryption is real: a recording proxy in front of the SSL listener (advertised as the
//!   listener's address) sees a produce of a known string without that string; the same through
//!   a proxy in front of the PLAINTEXT listener shows it.
//! - Wrong protocols cost one connection: a plaintext Kafka request to the SSL port gets no Kafka
//!   answer and the connection is closed; a TLS client on the PLAINTEXT port fails; the broker
//!   stays up and serves the others.
//! - Mutual TLS (`ssl.client.auth=required`) with a PKCS12 key store and a PEM trust store: a
//!   client with a certificate signed by the CA works, and the broker logs its principal
//!   (`User:CN=alice,OU=test`); one without a certificate, or with a self-signed one, is refused
//!   in the handshake.
//! - `ssl.principal.mapping.rules` (Kafka's rules): the first rule whose pattern matches the
//!   subject names the principal (`User:ALICE@TEST`, logged); a client certificate no rule
//!   applies to is refused, and the log says so.
//! - Certificates are re-read when their file changes: a key store replaced by a broken file is
//!   logged and the old certificate kept; replaced by one from a second CA, it is served to new
//!   clients that trust only that CA, without a restart.
//! - A JKS key store (Kafka's default type) stops the start with a message naming the fix.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use compat_tests::pki::Pki;
use compat_tests::proxy::{FaultProxy, Faults};
use compat_tests::tools::run_kcat;
use compat_tests::wire;
use compat_tests::{
    base_config, consumer_config, create_topic, listener_port, read_partitions_with, unique_topic,
    Broker,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Offset;

/// A broker with `PLAINTEXT` and `SSL` listeners on 127.0.0.1 and `extra` settings; returns it
/// and its SSL address. The network layer logs at debug (the TLS handshake lines).
fn start(extra: &[String]) -> (Broker, String) {
    let mut args: Vec<String> = [
        "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL",
        "inter.broker.listener.name=PLAINTEXT",
    ]
    .iter()
    .flat_map(|s| ["--set".to_string(), (*s).to_string()])
    .collect();
    args.extend(extra.iter().flat_map(|s| ["--set".to_string(), s.clone()]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let broker = Broker::start_logging(&args, "info,openraft=warn,minikafka::net=debug");
    let ssl = format!("127.0.0.1:{}", listener_port(&broker.log(), "SSL"));
    (broker, ssl)
}

fn pem_keystore(pki: &Pki) -> Vec<String> {
    vec![
        "ssl.keystore.type=PEM".to_string(),
        format!("ssl.keystore.location={}", pki.path("broker-keystore.pem")),
    ]
}

/// An rdkafka config for `bootstrap` over TLS trusting the test CA (with a group id, so it
/// also serves consumers).
fn ssl_client(bootstrap: &str, pki: &Pki) -> ClientConfig {
    let mut c = consumer_config(bootstrap);
    c.set("security.protocol", "ssl")
        .set("ssl.ca.location", pki.path("ca.pem"));
    c
}

/// Produces `values` to partition 0 of `topic` through `config`; every one must be acknowledged.
fn produce(config: &ClientConfig, topic: &str, values: &[Vec<u8>]) {
    compat_tests::produce_acked(config, topic, values);
}

/// Whether a client built from `config` can fetch metadata (bounded).
fn metadata_works(config: &ClientConfig) -> bool {
    let c: BaseConsumer = config.create().expect("create consumer");
    c.fetch_metadata(None, Duration::from_secs(5)).is_ok()
}

#[test]
fn records_round_trip_over_tls_and_kcat_lists_metadata() {
    let pki = Pki::new();
    let (broker, ssl) = start(&pem_keystore(&pki));
    let topic = unique_topic("tls");
    create_topic(broker.bootstrap(), &topic, 1);

    let values: Vec<Vec<u8>> = (0..200u32)
        .map(|i| format!("tls-record-{i}-{}", "x".repeat(i as usize % 50)).into_bytes())
        .collect();
    produce(&ssl_client(&ssl, &pki), &topic, &values);
    let read = read_partitions_with(
        ssl_client(&ssl, &pki).set("enable.partition.eof", "true"),
        &topic,
        &[(0, Offset::Beginning)].into_iter().collect(),
        Duration::from_secs(60),
    );
    let got: Vec<Vec<u8>> = read[&0].iter().filter_map(|r| r.value.clone()).collect();
    assert_eq!(got, values, "read back over TLS, byte for byte");

    let out = run_kcat(
        &[
            "-b",
            &ssl,
            "-X",
            "security.protocol=ssl",
            "-X",
            &format!("ssl.ca.location={}", pki.path("ca.pem")),
            "-L",
            "-t",
            &topic,
        ],
        b"",
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && listing.contains(&topic),
        "kcat -L over TLS: {listing}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The PLAINTEXT listener of the same broker still serves.
    assert!(metadata_works(&base_config(broker.bootstrap())));
}

#[test]
fn the_wire_is_encrypted_on_the_ssl_listener_only() {
    let pki = Pki::new();
    // Each listener is advertised as a recording proxy in front of it, so every byte a client
    // sends crosses a proxy.
    let capture = || {
        FaultProxy::start(Faults {
            capture: true,
            ..Faults::default()
        })
    };
    let (plain_proxy, ssl_proxy) = (capture(), capture());
    let mut extra = pem_keystore(&pki);
    extra.push(format!(
        "advertised.listeners=PLAINTEXT://{},SSL://{}",
        plain_proxy.addr(),
        ssl_proxy.addr()
    ));
    let (broker, ssl) = start(&extra);
    plain_proxy.set_upstream(broker.bootstrap());
    ssl_proxy.set_upstream(&ssl);
    let topic = unique_topic("tls-wire");
    create_topic(&plain_proxy.addr(), &topic, 1);

    let secret = "the-eavesdropper-must-not-see-this";
    let before = ssl_proxy.captured().len();
    produce(
        &ssl_client(&ssl_proxy.addr(), &pki),
        &topic,
        &[secret.as_bytes().to_vec()],
    );
    let tls_wire = ssl_proxy.captured();
    assert!(
        tls_wire.len() > before,
        "the TLS client's bytes crossed the proxy"
    );
    assert!(
        !contains(&tls_wire, secret.as_bytes()),
        "the record's bytes appear in clear on the SSL listener's wire"
    );
    produce(
        &base_config(&plain_proxy.addr()),
        &topic,
        &[secret.as_bytes().to_vec()],
    );
    assert!(
        contains(&plain_proxy.captured(), secret.as_bytes()),
        "on the PLAINTEXT listener the record's bytes are in clear (the check can see them)"
    );
}

#[test]
fn wrong_protocols_cost_one_connection_and_the_broker_stays_up() {
    let pki = Pki::new();
    let (broker, ssl) = start(&pem_keystore(&pki));
    // A plaintext Kafka request to the SSL port: no Kafka answer, the connection is closed.
    let mut stream = TcpStream::connect(&ssl).expect("connect to the SSL port");
    let req = wire::request_v1(wire::API_VERSIONS, 0, 1, Some("plain-on-tls"), &[]);
    let _ = stream.write_all(&req);
    match wire::wait_for_close(&mut stream, Duration::from_secs(15)) {
        Some(wire::Closed::Eof { bytes }) => {
            // rustls may answer a TLS alert record; never a Kafka response frame.
            assert!(
                bytes < 64,
                "{bytes} bytes answered a plaintext request on the SSL port"
            );
        }
        Some(wire::Closed::Reset(_)) => {}
        None => panic!("a plaintext request on the SSL port kept its connection open"),
    }
    // A TLS client on the PLAINTEXT port fails.
    let mut wrong = ssl_client(broker.bootstrap(), &pki);
    wrong.set("socket.connection.setup.timeout.ms", "3000");
    assert!(
        !metadata_works(&wrong),
        "TLS to the PLAINTEXT port must fail"
    );
    // Both listeners still serve.
    assert!(metadata_works(&ssl_client(&ssl, &pki)));
    assert!(metadata_works(&base_config(broker.bootstrap())));
    let log = broker.log();
    assert!(
        log.contains("TLS handshake failed"),
        "the broker logs the failed handshake with the peer\n{}",
        broker.log_report()
    );
}

#[test]
fn mutual_tls_admits_certificates_of_the_trusted_ca_only() {
    let pki = Pki::new();
    let (mut broker, ssl) = start(&[
        "ssl.keystore.type=PKCS12".to_string(),
        format!("ssl.keystore.location={}", pki.path("broker.p12")),
        "ssl.keystore.password=store-secret".to_string(),
        "ssl.truststore.type=PEM".to_string(),
        format!("ssl.truststore.location={}", pki.path("ca.pem")),
        "ssl.client.auth=required".to_string(),
    ]);
    let with_cert = |name: &str| {
        let mut c = ssl_client(&ssl, &pki);
        c.set("ssl.certificate.location", pki.path(&format!("{name}.pem")))
            .set("ssl.key.location", pki.path(&format!("{name}.key")));
        c
    };
    let topic = unique_topic("mtls");
    create_topic(broker.bootstrap(), &topic, 1);
    produce(&with_cert("alice"), &topic, &[b"from alice".to_vec()]);
    assert!(
        broker.log().contains("User:CN=alice,OU=test"),
        "the connection's principal is the certificate's subject\n{}",
        broker.log_report()
    );
    assert!(
        !metadata_works(&ssl_client(&ssl, &pki)),
        "a client without a certificate is refused"
    );
    assert!(
        !metadata_works(&with_cert("mallory")),
        "a client with an untrusted certificate is refused"
    );
    assert!(metadata_works(&with_cert("alice")));
    broker.assert_alive();
}

#[test]
fn principal_mapping_rules_name_the_client_or_refuse_it() {
    let pki = Pki::new();
    // bob: signed by the CA, but no rule applies to his subject.
    let dir = std::path::PathBuf::from(pki.path(""));
    Pki::signed(&dir, "bob", "/OU=other/CN=bob", "client.ext");
    let mut settings = pem_keystore(&pki);
    settings.extend([
        "ssl.truststore.type=PEM".to_string(),
        format!("ssl.truststore.location={}", pki.path("ca.pem")),
        "ssl.client.auth=required".to_string(),
        r"ssl.principal.mapping.rules=RULE:^CN=(.*?),OU=ServiceUsers$/$1/, RULE:^CN=(.*?),OU=(test)$/$1@$2/U".to_string(),
    ]);
    let (mut broker, ssl) = start(&settings);
    let with_cert = |name: &str| {
        let mut c = ssl_client(&ssl, &pki);
        c.set("ssl.certificate.location", pki.path(&format!("{name}.pem")))
            .set("ssl.key.location", pki.path(&format!("{name}.key")));
        c
    };
    assert!(metadata_works(&with_cert("alice")));
    assert!(
        broker.log().contains("User:ALICE@TEST"),
        "the second rule names alice\n{}",
        broker.log_report()
    );
    assert!(
        !metadata_works(&with_cert("bob")),
        "no rule applies to bob: refused"
    );
    assert!(
        broker.log().contains("No rules apply to CN=bob,OU=other"),
        "the refusal says why\n{}",
        broker.log_report()
    );
    broker.assert_alive();
}

#[test]
fn a_replaced_certificate_is_served_to_new_connections_without_a_restart() {
    let pki = Pki::new();
    let second = Pki::new();
    // The key store the broker reads; replaced by renaming a new file over it.
    let keystore = pki.path("served-keystore.pem");
    std::fs::copy(pki.path("broker-keystore.pem"), &keystore).expect("copy key store");
    let replace = |from: &[u8]| {
        let tmp = pki.path("next-keystore.pem");
        std::fs::write(&tmp, from).expect("write key store");
        std::fs::rename(&tmp, &keystore).expect("rename key store");
    };
    let (mut broker, ssl) = start(&[
        "ssl.keystore.type=PEM".to_string(),
        format!("ssl.keystore.location={keystore}"),
    ]);
    let old_ca = ssl_client(&ssl, &pki);
    let new_ca = ssl_client(&ssl, &second);
    assert!(metadata_works(&old_ca));
    assert!(!metadata_works(&new_ca), "the second CA is not trusted yet");
    // A broken file is logged and the certificate in use is kept.
    replace(b"-----BEGIN CERTIFICATE-----\nnot base64\n");
    wait_for_log(&broker, "cannot be used; the settings in use are kept");
    assert!(
        metadata_works(&old_ca),
        "the old certificate is still served"
    );
    // A certificate from the second CA: new clients trusting only that CA connect.
    replace(&std::fs::read(second.path("broker-keystore.pem")).expect("read"));
    wait_for_log(&broker, "new connections use the new settings");
    assert!(metadata_works(&new_ca), "the new certificate is served");
    assert!(!metadata_works(&old_ca), "the old one is not");
    broker.assert_alive();
}

/// Waits (at most 30 s) until the broker's log contains `text`.
fn wait_for_log(broker: &Broker, text: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !broker.log().contains(text) {
        assert!(
            std::time::Instant::now() < deadline,
            "the broker did not log {text:?}\n{}",
            broker.log_report()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_jks_key_store_stops_the_start_with_the_fix() {
    let pki = Pki::new();
    let out = Command::new(compat_tests::broker_binary())
        .args([
            "--data-dir",
            &pki.path("data"),
            "--set",
            "listeners=SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
            "--set",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL",
            "--set",
            "inter.broker.listener.name=PLAINTEXT",
            "--set",
            &format!("ssl.keystore.location={}", pki.path("broker.jks")),
        ])
        .output()
        .expect("run minikafka");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a JKS key store must stop the start");
    assert!(
        format!("{stdout}{stderr}").contains("ssl.keystore.type=PKCS12"),
        "the message names the fix: {stdout}{stderr}"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
