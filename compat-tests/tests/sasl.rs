//! SASL listeners (issue 14) with real clients: librdkafka, Debian's `kcat` and Kafka's own Java
//! tools authenticate with PLAIN over SASL_PLAINTEXT and SCRAM-SHA-256/512 over SASL_SSL
//! (certificates from `compat_tests::pki::Pki`).
//!
//! - One broker (PLAINTEXT, SASL_PLAINTEXT with PLAIN and SCRAM, SASL_SSL with SCRAM-SHA-512;
//!   a SCRAM user from `--add-scram`) serves every single-broker case: rdkafka and kcat round
//!   trips; `kafka-configs --alter --add-config 'SCRAM-SHA-256=[...]'` over SASL_SSL adds a
//!   user that a client then uses, `--describe` lists it; Kafka's console producer and consumer
//!   with a client properties file; wrong password, unknown user, unsupported mechanism and a
//!   request before authentication each fail for that client only (Kafka's error and message,
//!   the connection closed, one log line with the peer) while the others keep working.
//! - Re-authentication (KIP-368, `connections.max.reauth.ms`): the lifetime is told, a live
//!   connection re-authenticates (not as another principal or with another mechanism), a
//!   request after expiry closes it; librdkafka keeps working across several lifetimes.
//! - A cluster: a SCRAM user added through one broker authenticates on every broker, and again
//!   after a node restarts (the credential is in the replicated metadata log).

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use compat_tests::cluster::{one_cluster_at_a_time, Cluster, NodePorts, Role};
use compat_tests::pki::Pki;
use compat_tests::tools::{
    kafka_classpath, output_text, run_java_tool, run_java_tool_with_input, run_kcat,
};
use compat_tests::wire::{self, Reader, Writer};
use compat_tests::{
    base_config, consumer_config, create_topic, listener_port, produce_acked, read_partitions_with,
    unique_topic, wait_until, Broker,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Offset;

const PLAIN_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
     username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" \
     user_carol=\"carol-secret\";";

/// The shared broker: PLAINTEXT, SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and
/// SASL_SSL (SCRAM-SHA-512, SCRAM-SHA-256); SCRAM user alice (SHA-512) from `--add-scram`.
struct Setup {
    broker: Broker,
    pki: Pki,
    sasl_plain: String,
    sasl_ssl: String,
}

fn start() -> Setup {
    let pki = Pki::new();
    let settings = [
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0"
            .to_string(),
        "inter.broker.listener.name=PLAINTEXT".to_string(),
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
            .to_string(),
        format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}"),
        "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256".to_string(),
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;".to_string(),
        "ssl.keystore.type=PEM".to_string(),
        format!("ssl.keystore.location={}", pki.path("broker-keystore.pem")),
    ];
    let mut args: Vec<String> = settings
        .iter()
        .flat_map(|s| ["--set".to_string(), s.clone()])
        .collect();
    args.extend([
        "--add-scram".to_string(),
        "SCRAM-SHA-512=[name=alice,password=alice-secret]".to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let broker = Broker::start(&args);
    let log = broker.log();
    let sasl_plain = format!("127.0.0.1:{}", listener_port(&log, "SASL_PLAINTEXT"));
    let sasl_ssl = format!("127.0.0.1:{}", listener_port(&log, "SASL_SSL"));
    Setup {
        broker,
        pki,
        sasl_plain,
        sasl_ssl,
    }
}

/// An rdkafka config (with a group id) over SASL_PLAINTEXT.
fn sasl_plaintext(bootstrap: &str, mechanism: &str, user: &str, password: &str) -> ClientConfig {
    let mut c = consumer_config(bootstrap);
    c.set("security.protocol", "sasl_plaintext")
        .set("sasl.mechanism", mechanism)
        .set("sasl.username", user)
        .set("sasl.password", password);
    c
}

/// An rdkafka config (with a group id) over SASL_SSL trusting the test CA.
fn sasl_ssl(s: &Setup, mechanism: &str, user: &str, password: &str) -> ClientConfig {
    let mut c = sasl_plaintext(&s.sasl_ssl, mechanism, user, password);
    c.set("security.protocol", "sasl_ssl")
        .set("ssl.ca.location", s.pki.path("ca.pem"));
    c
}

/// Produce `count` records through `config` and read them back through it.
fn round_trip(config: &ClientConfig, topic: &str, count: u32) {
    let values: Vec<Vec<u8>> = (0..count)
        .map(|i| format!("sasl-{topic}-{i}").into_bytes())
        .collect();
    produce_acked(config, topic, &values);
    let read = read_partitions_with(
        config,
        topic,
        &[(0, Offset::Beginning)].into_iter().collect(),
        Duration::from_secs(60),
    );
    let got: Vec<Vec<u8>> = read[&0].iter().filter_map(|r| r.value.clone()).collect();
    assert_eq!(got, values, "read back byte for byte");
}

/// Whether a client built from `config` can fetch metadata (bounded).
fn metadata_works(config: &ClientConfig) -> bool {
    let c: BaseConsumer = config.create().expect("create consumer");
    c.fetch_metadata(None, Duration::from_secs(5)).is_ok()
}

/// kcat's `-X` options for SASL (and TLS with `ca`).
fn kcat_sasl(mechanism: &str, user: &str, password: &str, ca: Option<&str>) -> Vec<String> {
    let mut x = vec![
        format!(
            "security.protocol={}",
            if ca.is_some() {
                "sasl_ssl"
            } else {
                "sasl_plaintext"
            }
        ),
        format!("sasl.mechanism={mechanism}"),
        format!("sasl.username={user}"),
        format!("sasl.password={password}"),
    ];
    if let Some(ca) = ca {
        x.push(format!("ssl.ca.location={ca}"));
    }
    x.into_iter().flat_map(|o| ["-X".to_string(), o]).collect()
}

#[test]
fn clients_authenticate_with_plain_and_scram() {
    let s = start();
    let topic = unique_topic("sasl");
    create_topic(s.broker.bootstrap(), &topic, 1);

    // rdkafka: PLAIN over SASL_PLAINTEXT, SCRAM-SHA-512 (the --add-scram user) over SASL_SSL.
    round_trip(
        &sasl_plaintext(&s.sasl_plain, "PLAIN", "carol", "carol-secret"),
        &topic,
        20,
    );
    let scram_topic = unique_topic("sasl-scram");
    create_topic(s.broker.bootstrap(), &scram_topic, 1);
    round_trip(
        &sasl_ssl(&s, "SCRAM-SHA-512", "alice", "alice-secret"),
        &scram_topic,
        20,
    );
    assert!(
        s.broker
            .log()
            .contains("SCRAM users from --add-scram created"),
        "{}",
        s.broker.log_report()
    );

    // kcat: produce with PLAIN over SASL_PLAINTEXT, consume with SCRAM-SHA-512 over SASL_SSL.
    let kcat_topic = unique_topic("sasl-kcat");
    create_topic(s.broker.bootstrap(), &kcat_topic, 1);
    let mut args = vec!["-b".to_string(), s.sasl_plain.clone()];
    args.extend(kcat_sasl("PLAIN", "carol", "carol-secret", None));
    args.extend(["-P", "-t", &kcat_topic, "-p", "0"].map(String::from));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_kcat(&argv, b"kcat-one\nkcat-two\n");
    assert!(out.status.success(), "kcat -P: {}", output_text(&out));
    let ca = s.pki.path("ca.pem");
    let mut args = vec!["-b".to_string(), s.sasl_ssl.clone()];
    args.extend(kcat_sasl(
        "SCRAM-SHA-512",
        "alice",
        "alice-secret",
        Some(&ca),
    ));
    args.extend(["-C", "-t", &kcat_topic, "-p", "0", "-o", "beginning", "-e"].map(String::from));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_kcat(&argv, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("kcat-one") && text.contains("kcat-two"),
        "kcat -C over SASL_SSL: {}",
        output_text(&out)
    );

    // Kafka's tools over SASL_SSL as alice: kafka-configs adds bob (SCRAM-SHA-256, salted by
    // the tool), describes him; the console producer and consumer use a properties file.
    let cp = kafka_classpath().expect("Kafka's jars (ci/kafka-reference)");
    let props = s.pki.path("alice.properties");
    std::fs::write(
        &props,
        format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"alice\" password=\"alice-secret\";\n\
             ssl.truststore.type=PEM\nssl.truststore.location={ca}\n"
        ),
    )
    .expect("write client properties");
    let config_tool = |extra: &[&str]| {
        let mut args = vec![
            "--bootstrap-server",
            &s.sasl_ssl,
            "--command-config",
            &props,
            "--entity-type",
            "users",
            "--entity-name",
            "bob",
        ];
        args.extend_from_slice(extra);
        run_java_tool(&cp, "org.apache.kafka.tools.ConfigCommand", &args)
    };
    let out = config_tool(&[
        "--alter",
        "--add-config",
        "SCRAM-SHA-256=[iterations=8192,password=bob-secret]",
    ]);
    assert!(
        out.status.success(),
        "kafka-configs --alter: {}",
        output_text(&out)
    );
    let out = config_tool(&["--describe"]);
    assert!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains("SCRAM-SHA-256=iterations=8192"),
        "kafka-configs --describe: {}",
        output_text(&out)
    );
    let bob_topic = unique_topic("sasl-bob");
    create_topic(s.broker.bootstrap(), &bob_topic, 1);
    round_trip(
        &sasl_ssl(&s, "SCRAM-SHA-256", "bob", "bob-secret"),
        &bob_topic,
        5,
    );

    let console_topic = unique_topic("sasl-console");
    create_topic(s.broker.bootstrap(), &console_topic, 1);
    let console_args = [
        "--bootstrap-server",
        &s.sasl_ssl,
        "--topic",
        &console_topic,
        "--command-config",
        &props,
    ];
    let out = run_java_tool_with_input(
        &cp,
        "org.apache.kafka.tools.ConsoleProducer",
        &console_args,
        b"java-one\njava-two\n",
    );
    assert!(
        out.status.success(),
        "console producer: {}",
        output_text(&out)
    );
    let out = run_java_tool(
        &cp,
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        &[
            &console_args[..],
            &[
                "--from-beginning",
                "--max-messages",
                "2",
                "--timeout-ms",
                "30000",
            ],
        ]
        .concat(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("java-one") && text.contains("java-two"),
        "console consumer: {}",
        output_text(&out)
    );
}

/// Sends one request (header v1, non-flexible) and reads its answer's body.
fn call(stream: &mut TcpStream, key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    stream
        .write_all(&wire::request_v1(key, version, 7, Some("sasl-test"), body))
        .expect("send");
    let frame = wire::read_frame(stream, Duration::from_secs(15)).expect("an answer");
    // Correlation id first.
    assert_eq!(i32::from_be_bytes(frame[..4].try_into().unwrap()), 7);
    frame[4..].to_vec()
}

const SASL_HANDSHAKE: i16 = 17;
const SASL_AUTHENTICATE: i16 = 36;

/// SaslHandshake v1 for `mechanism` on a new connection: its error code and mechanisms.
fn handshake(addr: &str, mechanism: &str) -> (TcpStream, i16, Vec<String>) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let body = Writer::new().string(Some(mechanism)).buf.clone();
    let answer = call(&mut stream, SASL_HANDSHAKE, 1, &body);
    let mut r = Reader::new(&answer);
    let code = r.i16();
    let n = r.i32();
    let mechanisms = (0..n).filter_map(|_| r.string()).collect();
    (stream, code, mechanisms)
}

/// SaslAuthenticate v1 with `token`: error code and message.
fn authenticate(stream: &mut TcpStream, token: &[u8]) -> (i16, Option<String>) {
    let body = Writer::new().bytes(Some(token)).buf.clone();
    let answer = call(stream, SASL_AUTHENTICATE, 1, &body);
    let mut r = Reader::new(&answer);
    (r.i16(), r.string())
}

fn assert_closed(stream: &mut TcpStream, what: &str) {
    assert!(
        wire::wait_for_close(stream, Duration::from_secs(15)).is_some(),
        "{what}: the connection stays open"
    );
}

#[test]
fn failures_cost_the_failing_client_only() {
    let mut s = start();
    let good = sasl_plaintext(&s.sasl_plain, "PLAIN", "carol", "carol-secret");
    assert!(metadata_works(&good));

    // Clients see the failure.
    for bad in [
        sasl_plaintext(&s.sasl_plain, "PLAIN", "carol", "wrong"),
        sasl_plaintext(&s.sasl_plain, "PLAIN", "nobody", "carol-secret"),
        sasl_ssl(&s, "SCRAM-SHA-512", "alice", "wrong"),
        sasl_ssl(&s, "SCRAM-SHA-512", "nobody", "alice-secret"),
        sasl_ssl(&s, "PLAIN", "carol", "carol-secret"),
    ] {
        assert!(!metadata_works(&bad), "a bad login was accepted");
    }

    // On the wire, Kafka's answers.
    let (mut stream, code, mechanisms) = handshake(&s.sasl_plain, "GSSAPI");
    assert_eq!(code, 33, "UNSUPPORTED_SASL_MECHANISM");
    assert_eq!(mechanisms, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
    assert_closed(&mut stream, "unsupported mechanism");

    let (mut stream, code, _) = handshake(&s.sasl_plain, "PLAIN");
    assert_eq!(code, 0);
    let (code, message) = authenticate(&mut stream, b"\0carol\0wrong");
    assert_eq!(code, 58, "SASL_AUTHENTICATION_FAILED");
    assert_eq!(
        message.as_deref(),
        Some("Authentication failed: Invalid username or password")
    );
    assert_closed(&mut stream, "wrong PLAIN password");

    // SCRAM: an unknown user gets a server-first message like a known one, and the same failure
    // as a wrong password at the end.
    let (mut stream, code, _) = handshake(&s.sasl_plain, "SCRAM-SHA-512");
    assert_eq!(code, 0);
    let body = Writer::new()
        .bytes(Some(b"n,,n=nobody,r=abcdef"))
        .buf
        .clone();
    let answer = call(&mut stream, SASL_AUTHENTICATE, 1, &body);
    let mut r = Reader::new(&answer);
    assert_eq!(r.i16(), 0, "server-first for an unknown user");
    let _ = r.string();
    let (code, message) = authenticate(&mut stream, b"c=biws,r=abcdef,p=AAAA");
    assert_eq!(code, 58);
    assert_eq!(
        message.as_deref(),
        Some("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512")
    );
    assert_closed(&mut stream, "failed SCRAM");

    // Malformed tokens fail the same way, without harm.
    for token in [&b""[..], b"\0\0\0\0", &[0xff; 3000]] {
        let (mut stream, _, _) = handshake(&s.sasl_plain, "SCRAM-SHA-256");
        let (code, _) = authenticate(&mut stream, token);
        assert_eq!(code, 58);
        assert_closed(&mut stream, "malformed token");
    }

    // A request before authentication closes the connection unanswered.
    let mut stream = TcpStream::connect(&s.sasl_plain).expect("connect");
    let metadata_v1 = Writer::new().i32(-1).buf.clone();
    stream
        .write_all(&wire::request_v1(3, 1, 1, Some("early"), &metadata_v1))
        .expect("send");
    assert_closed(&mut stream, "Metadata before authentication");

    // The broker logs each failure with the peer, and everyone else carries on.
    let log = s.broker.log();
    assert!(
        log.contains("failed SASL authentication") && log.contains("peer=127.0.0.1:"),
        "{}",
        s.broker.log_report()
    );
    s.broker.assert_alive();
    assert!(metadata_works(&good));
    assert!(metadata_works(&sasl_ssl(
        &s,
        "SCRAM-SHA-512",
        "alice",
        "alice-secret"
    )));
    assert!(metadata_works(&base_config(s.broker.bootstrap())));
}

#[test]
fn scram_users_replicate_to_every_broker_and_survive_restart() {
    let _one = one_cluster_at_a_time();
    // Each node adds a SASL_PLAINTEXT listener on a port of its own (port 0: read from its log).
    let mut cluster = Cluster::start_with_node_args(
        &[Role::Combined, Role::Combined, Role::Combined],
        &[
            "--set",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            "--set",
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512",
        ],
        |id, ports: &std::collections::BTreeMap<i32, NodePorts>, _| {
            let p = &ports[&id];
            vec![
                "--set".to_string(),
                format!(
                    "listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{},SASL_PLAINTEXT://127.0.0.1:0",
                    p.broker, p.controller
                ),
            ]
        },
    );
    let sasl_addr = |cluster: &mut Cluster, id: i32| {
        format!(
            "127.0.0.1:{}",
            listener_port(&cluster.node(id).log(), "SASL_PLAINTEXT")
        )
    };
    // Add dave through node 1 with Kafka's tool over PLAINTEXT.
    let cp = kafka_classpath().expect("Kafka's jars (ci/kafka-reference)");
    let out = run_java_tool(
        &cp,
        "org.apache.kafka.tools.ConfigCommand",
        &[
            "--bootstrap-server",
            &cluster.bootstrap(1),
            "--alter",
            "--add-config",
            "SCRAM-SHA-512=[password=dave-secret]",
            "--entity-type",
            "users",
            "--entity-name",
            "dave",
        ],
    );
    assert!(
        out.status.success(),
        "kafka-configs --alter: {}",
        output_text(&out)
    );
    let dave = |addr: &str| sasl_plaintext(addr, "SCRAM-SHA-512", "dave", "dave-secret");
    for id in [1, 2, 3] {
        let addr = sasl_addr(&mut cluster, id);
        // The record reaches the other brokers within moments; bounded.
        wait_until(
            &format!("dave authenticates on node {id}"),
            Duration::from_secs(30),
            Duration::from_millis(500),
            || metadata_works(&dave(&addr)).then_some(()),
        );
        assert!(
            !metadata_works(&sasl_plaintext(&addr, "SCRAM-SHA-512", "dave", "wrong")),
            "a wrong password works on node {id}"
        );
    }
    cluster.restart(2);
    let addr = sasl_addr(&mut cluster, 2);
    wait_until(
        "dave authenticates on node 2 after its restart",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || metadata_works(&dave(&addr)).then_some(()),
    );
}

/// SaslAuthenticate v1 with `token`: error code and the session lifetime (the answer's last
/// field).
fn authenticate_lifetime(stream: &mut TcpStream, token: &[u8]) -> (i16, i64) {
    let body = Writer::new().bytes(Some(token)).buf.clone();
    let answer = call(stream, SASL_AUTHENTICATE, 1, &body);
    let code = Reader::new(&answer).i16();
    let tail: [u8; 8] = answer[answer.len() - 8..].try_into().unwrap();
    (code, i64::from_be_bytes(tail))
}

#[test]
fn sessions_expire_and_clients_reauthenticate() {
    let settings = [
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0".to_string(),
        "inter.broker.listener.name=PLAINTEXT".to_string(),
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256".to_string(),
        format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}"),
        "listener.name.sasl_plaintext.connections.max.reauth.ms=1500".to_string(),
    ];
    let args: Vec<String> = settings
        .iter()
        .flat_map(|s| ["--set".to_string(), s.clone()])
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut broker = Broker::start(&args);
    let addr = format!(
        "127.0.0.1:{}",
        listener_port(&broker.log(), "SASL_PLAINTEXT")
    );

    // The client is told the lifetime, re-authenticates on the live connection, and a request
    // after expiry without re-authentication closes it.
    let (mut stream, code, _) = handshake(&addr, "PLAIN");
    assert_eq!(code, 0);
    assert_eq!(
        authenticate_lifetime(&mut stream, b"\0carol\0carol-secret"),
        (0, 1500)
    );
    let body = Writer::new().string(Some("PLAIN")).buf.clone();
    let answer = call(&mut stream, SASL_HANDSHAKE, 1, &body);
    assert_eq!(Reader::new(&answer).i16(), 0, "re-authentication handshake");
    assert_eq!(
        authenticate_lifetime(&mut stream, b"\0carol\0carol-secret"),
        (0, 1500)
    );
    std::thread::sleep(Duration::from_millis(1800));
    let metadata_v1 = Writer::new().i32(-1).buf.clone();
    stream
        .write_all(&wire::request_v1(3, 1, 1, Some("expired"), &metadata_v1))
        .expect("send");
    assert_closed(&mut stream, "a request after the session expired");

    // Re-authentication keeps the principal and the mechanism.
    let (mut stream, _, _) = handshake(&addr, "PLAIN");
    assert_eq!(
        authenticate_lifetime(&mut stream, b"\0carol\0carol-secret").0,
        0
    );
    let answer = call(&mut stream, SASL_HANDSHAKE, 1, &body);
    assert_eq!(Reader::new(&answer).i16(), 0);
    let (code, message) = authenticate(&mut stream, b"\0admin\0admin-secret");
    assert_eq!(code, 58);
    assert!(
        message
            .unwrap_or_default()
            .contains("Cannot change principals during re-authentication"),
        "another principal on re-authentication"
    );
    assert_closed(&mut stream, "a changed principal");
    let (mut stream, _, _) = handshake(&addr, "PLAIN");
    assert_eq!(
        authenticate_lifetime(&mut stream, b"\0carol\0carol-secret").0,
        0
    );
    let other = Writer::new().string(Some("SCRAM-SHA-256")).buf.clone();
    let answer = call(&mut stream, SASL_HANDSHAKE, 1, &other);
    assert_eq!(
        Reader::new(&answer).i16(),
        33,
        "another mechanism on re-authentication"
    );
    assert_closed(&mut stream, "a changed mechanism");

    // librdkafka keeps working across several session lifetimes.
    let topic = unique_topic("sasl-reauth");
    create_topic(broker.bootstrap(), &topic, 1);
    let config = sasl_plaintext(&addr, "PLAIN", "carol", "carol-secret");
    let c: BaseConsumer = config.create().expect("create consumer");
    for _ in 0..8 {
        c.fetch_metadata(Some(&topic), Duration::from_secs(10))
            .expect("metadata across re-authentications");
        std::thread::sleep(Duration::from_millis(500));
    }
    round_trip(&config, &topic, 5);
    broker.assert_alive();
}
