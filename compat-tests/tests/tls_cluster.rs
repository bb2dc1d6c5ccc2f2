//! TLS between nodes (issue 14): the inter-broker listener and the controller listener mapped to
//! `SSL`, so replica fetchers, transaction markers, the controller quorum's RPCs and the
//! brokers' registration and heartbeats are TLS clients of the other nodes, with the listener's
//! `ssl.*` settings (trust store to check the peer, key store presented as client certificate).
//!
//! - One controller-only node and three brokers, both node-to-node listeners SSL with
//!   `ssl.client.auth=required` (mutual TLS between nodes, one certificate for `127.0.0.1` with
//!   server and client use): a replication-factor-3 topic takes an `acks=all` produce from
//!   rdkafka on the PLAINTEXT client listener, every replica joins the ISR, the copies are
//!   byte-identical and a consumer reads every record back.
//! - Host name verification (`ssl.endpoint.identification.algorithm`, default `https`): brokers
//!   whose inter-broker certificate names another host cannot replicate, and their logs say
//!   why (the certificate is not valid for the address dialled); with the check turned off
//!   (empty value), the same certificate serves.

use std::collections::BTreeMap;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use compat_tests::cluster::{free_ports, one_cluster_at_a_time, Cluster, NodePorts, Role};
use compat_tests::pki::Pki;
use compat_tests::{
    consumer_config, create_topic_retrying, producer_config, read_partitions_with, RecordingContext,
};
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::Offset;

/// Bound on every wait for the cluster to change.
const SETTLE: Duration = Duration::from_secs(60);

/// A certificate `node` for `127.0.0.1`/`localhost` usable as server and client certificate,
/// and one `stranger` for another host name only, both signed by the PKI's CA; each as a PEM
/// key store (`<name>-keystore.pem`).
fn node_certificates(pki: &Pki) {
    let d = Path::new(&pki.path("")).to_path_buf();
    let both = "extendedKeyUsage=serverAuth,clientAuth\n";
    std::fs::write(
        d.join("node.ext"),
        format!("subjectAltName=DNS:localhost,IP:127.0.0.1\n{both}"),
    )
    .expect("write ext");
    std::fs::write(
        d.join("stranger.ext"),
        format!("subjectAltName=DNS:elsewhere.invalid\n{both}"),
    )
    .expect("write ext");
    for name in ["node", "stranger"] {
        Pki::signed(&d, name, &format!("/CN={name}"), &format!("{name}.ext"));
        let mut keystore = std::fs::read(d.join(format!("{name}.pem"))).expect("pem");
        keystore.extend(std::fs::read(d.join(format!("{name}.key"))).expect("key"));
        std::fs::write(d.join(format!("{name}-keystore.pem")), keystore).expect("key store");
    }
}

/// `--set` arguments.
fn sets(settings: &[String]) -> Vec<String> {
    settings
        .iter()
        .flat_map(|s| ["--set".to_string(), s.clone()])
        .collect()
}

/// A cluster of `roles` whose brokers also have an `INTERNAL` listener, the inter-broker one;
/// `protocols` is `listener.security.protocol.map`, `extra` every node's other settings.
fn start(roles: &[Role], protocols: &str, extra: &[String]) -> Cluster {
    let internal = free_ports(roles.len());
    let mut common = vec![
        format!("listener.security.protocol.map={protocols}"),
        "inter.broker.listener.name=INTERNAL".to_string(),
        "replica.lag.time.max.ms=4000".to_string(),
        "offsets.topic.num.partitions=1".to_string(),
        "transaction.state.log.num.partitions=1".to_string(),
    ];
    common.extend(extra.iter().cloned());
    let args = sets(&common);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let roles_of = roles.to_vec();
    Cluster::start_with_node_args(
        roles,
        &args,
        move |id, ports: &BTreeMap<i32, NodePorts>, _| {
            let i = usize::try_from(id - 1).expect("ids from 1");
            let p = ports[&id];
            let listeners = match roles_of[i] {
                Role::Controller => format!("CONTROLLER://127.0.0.1:{}", p.controller),
                Role::Broker => format!(
                    "PLAINTEXT://127.0.0.1:{},INTERNAL://127.0.0.1:{}",
                    p.broker, internal[i]
                ),
                Role::Combined => format!(
                    "PLAINTEXT://127.0.0.1:{},INTERNAL://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
                    p.broker, internal[i], p.controller
                ),
            };
            sets(&[format!("listeners={listeners}")])
        },
    )
}

/// The `ssl.*` settings of every node: PEM key store `keystore`, the CA as trust store.
fn ssl_settings(pki: &Pki, keystore: &str) -> Vec<String> {
    vec![
        "ssl.keystore.type=PEM".to_string(),
        format!("ssl.keystore.location={}", pki.path(keystore)),
        "ssl.truststore.type=PEM".to_string(),
        format!("ssl.truststore.location={}", pki.path("ca.pem")),
    ]
}

/// Produces `values` to partition 0 of `topic` with an `acks=all` idempotent producer; every
/// one must be acknowledged.
fn produce_all(bootstrap: &str, topic: &str, values: &[String]) {
    let ctx = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "60000")
        .create_with_context(ctx.clone())
        .expect("create producer");
    for (i, v) in values.iter().enumerate() {
        producer
            .send(
                BaseRecord::<(), str, usize>::with_opaque_to(topic, i)
                    .partition(0)
                    .payload(v),
            )
            .map_err(|(e, _)| e)
            .expect("enqueue");
    }
    producer.flush(SETTLE).expect("flush");
    let acks = ctx.snapshot();
    assert_eq!(acks.len(), values.len(), "every record reported");
    assert!(
        acks.iter().all(|d| d.result.is_ok()),
        "a record was refused: {acks:?}"
    );
}

/// Waits until node `via` reports partition 0 of `topic` with `size` in-sync replicas.
fn wait_for_isr(cluster: &Cluster, via: i32, topic: &str, size: usize) {
    cluster.wait_for_metadata(via, Some(topic), &format!("{topic}: {size} in sync"), |v| {
        v.topics
            .get(topic)
            .and_then(|t| t.partitions.get(&0))
            .is_some_and(|p| p.leader >= 0 && p.isr.len() == size)
    });
}

#[test]
fn replication_and_the_quorum_run_over_mutual_tls() {
    let _one = one_cluster_at_a_time();
    let pki = Pki::new();
    node_certificates(&pki);
    let mut extra = ssl_settings(&pki, "node-keystore.pem");
    extra.push("ssl.client.auth=required".to_string());
    let mut cluster = start(
        &[Role::Controller, Role::Broker, Role::Broker, Role::Broker],
        "PLAINTEXT:PLAINTEXT,INTERNAL:SSL,CONTROLLER:SSL",
        &extra,
    );
    let bootstrap = cluster.bootstrap(2);
    let topic = "over-tls";
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(3)).set("min.insync.replicas", "3");
    create_topic_retrying(&bootstrap, &new, SETTLE);
    wait_for_isr(&cluster, 2, topic, 3);
    let values: Vec<String> = (0..50).map(|i| format!("secret-{i}")).collect();
    produce_all(&bootstrap, topic, &values);
    wait_for_isr(&cluster, 3, topic, 3);
    cluster.wait_for_identical_replicas(topic, 1, &[2, 3, 4], SETTLE);
    let starts = BTreeMap::from([(0, Offset::Beginning)]);
    let read = read_partitions_with(&consumer_config(&bootstrap), topic, &starts, SETTLE);
    let read: Vec<String> = read
        .get(&0)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(read, values);
    // No node refused another's certificate (a handshake cut short by a peer that is starting
    // or closing a connection is not a certificate problem and may happen).
    for id in [1, 2, 3, 4] {
        let log = cluster.node(id).log();
        let refused = log.lines().find(|l| l.contains("invalid peer certificate"));
        assert!(
            refused.is_none(),
            "node {id} refused a certificate: {refused:?}\n{}",
            cluster.logs_report()
        );
    }
}

#[test]
fn a_certificate_for_another_host_is_refused_unless_the_check_is_off() {
    let _one = one_cluster_at_a_time();
    let pki = Pki::new();
    node_certificates(&pki);
    // Host name check on (the default): the brokers cannot fetch from each other.
    let mut cluster = start(
        &[Role::Controller, Role::Broker, Role::Broker],
        "PLAINTEXT:PLAINTEXT,INTERNAL:SSL,CONTROLLER:PLAINTEXT",
        &ssl_settings(&pki, "stranger-keystore.pem"),
    );
    let bootstrap = cluster.bootstrap(2);
    let new = NewTopic::new("checked", 1, TopicReplication::Fixed(2));
    create_topic_retrying(&bootstrap, &new, SETTLE);
    let deadline = Instant::now() + SETTLE;
    let failure = loop {
        let found = [2, 3].into_iter().find_map(|id| {
            cluster.node(id).log().lines().find_map(|l| {
                (l.contains("TLS handshake with another node failed")
                    && l.contains("not valid for name"))
                .then(|| l.to_string())
            })
        });
        if let Some(line) = found {
            break line;
        }
        assert!(
            Instant::now() < deadline,
            "no broker logged the name mismatch\n{}",
            cluster.logs_report()
        );
        thread::sleep(Duration::from_millis(200));
    };
    assert!(failure.contains("127.0.0.1"), "{failure}");
    drop(cluster);
    // ssl.endpoint.identification.algorithm empty: the chain is still checked, the name is not.
    let mut extra = ssl_settings(&pki, "stranger-keystore.pem");
    extra.push("ssl.endpoint.identification.algorithm=".to_string());
    let cluster = start(
        &[Role::Controller, Role::Broker, Role::Broker],
        "PLAINTEXT:PLAINTEXT,INTERNAL:SSL,CONTROLLER:SSL",
        &extra,
    );
    let bootstrap = cluster.bootstrap(2);
    let new = NewTopic::new("unchecked", 1, TopicReplication::Fixed(2));
    create_topic_retrying(&bootstrap, &new, SETTLE);
    produce_all(&bootstrap, "unchecked", &["one".to_string()]);
    wait_for_isr(&cluster, 2, "unchecked", 2);
}
