//! ACL authorization (issue 14) with real clients: principals from mutual TLS
//! (`ssl.client.auth=required`, `User:CN=alice,OU=test` and `User:CN=bob,OU=test` from
//! [`compat_tests::pki::Pki`]), ACLs set and listed with Kafka's own `kafka-acls`
//! (`org.apache.kafka.tools.AclCommand`) through the PLAINTEXT listener, whose `User:ANONYMOUS`
//! is a super user (Kafka's common set-up for a plaintext inter-broker listener).
//!
//! - One broker: alice may write topic A (`--producer`) and not B; she cannot read A without a
//!   group ACL; bob (`--consumer` with his group) reads what she wrote; neither may create a
//!   topic without CREATE; a PREFIXED ALLOW covers `pay-*`, a DENY of one of them wins;
//!   Metadata of "all topics" shows a principal only what it may describe, a named topic it may
//!   not describe is TOPIC_AUTHORIZATION_FAILED; a transactional producer without an ACL for
//!   its transactional id is refused; the super user sees and writes everything;
//!   `--remove` takes an ACL away. The ACLs survive a restart.
//! - A three-node cluster with an authorizer replicates (the brokers' fetches are authorized as
//!   Kafka's are) and every node serves the same ACLs, created through one of them.
//!
//! Skipped (with a message) when Java or Kafka's jars are not available, as the other
//! Java-tool tests.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use compat_tests::cluster::{free_ports, one_cluster_at_a_time, Cluster};
use compat_tests::pki::Pki;
use compat_tests::tools::{kafka_classpath, output_text, run_java_tool};
use compat_tests::{admin_config, base_config, block_on, producer_config, Broker};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

const ACLS: &str = "org.apache.kafka.tools.AclCommand";
const ALICE: &str = "User:CN=alice,OU=test";
const BOB: &str = "User:CN=bob,OU=test";
const AUTHORIZER: &str =
    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// Runs `kafka-acls --bootstrap-server <bootstrap> args…`; panics with its output on failure.
fn kafka_acls(cp: &str, bootstrap: &str, args: &[&str]) -> String {
    let mut all = vec!["--bootstrap-server", bootstrap];
    all.extend_from_slice(args);
    let out = run_java_tool(cp, ACLS, &all);
    assert!(
        out.status.success(),
        "kafka-acls {args:?}: {}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Records the outcome of each delivery report.
#[derive(Clone, Default)]
struct Outcomes(Arc<Mutex<Vec<Result<(), RDKafkaErrorCode>>>>);

impl ClientContext for Outcomes {}

impl ProducerContext for Outcomes {
    type DeliveryOpaque = ();

    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        let outcome = match r {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail)),
        };
        self.0.lock().expect("outcomes").push(outcome);
    }
}

/// Produces one record to partition 0 of `topic` through `config` and returns its delivery
/// report's outcome (bounded: 15 s message timeout, 30 s wait).
fn produce_result(config: &ClientConfig, topic: &str) -> Result<(), RDKafkaErrorCode> {
    let ctx = Outcomes::default();
    let producer: BaseProducer<Outcomes> = config
        .clone()
        .set("message.timeout.ms", "15000")
        .create_with_context(ctx.clone())
        .expect("create producer");
    producer
        .send(
            BaseRecord::<[u8], [u8]>::to(topic)
                .partition(0)
                .payload(b"v"),
        )
        .map_err(|(e, _)| e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(first) = ctx.0.lock().expect("outcomes").first() {
            return *first;
        }
        assert!(Instant::now() < deadline, "no delivery report within 30 s");
        producer.poll(Duration::from_millis(100));
    }
}

/// `init_transactions` of a transactional producer with `id` through `config` (bounded).
fn init_transactions(config: &ClientConfig, id: &str) -> Result<(), RDKafkaErrorCode> {
    let producer: BaseProducer = config
        .clone()
        .set("transactional.id", id)
        .set("enable.idempotence", "true")
        .create()
        .expect("create transactional producer");
    producer
        .init_transactions(Duration::from_secs(20))
        .map_err(|e| e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail))
}

/// The topics "all topics" Metadata shows through `config`.
fn visible_topics(config: &ClientConfig) -> Vec<String> {
    let c: BaseConsumer = config.create().expect("create consumer");
    let md = c
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    let mut names: Vec<String> = md
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|n| !n.starts_with("__"))
        .collect();
    names.sort();
    names
}

/// The error of one named topic in Metadata through `config`.
fn topic_error(config: &ClientConfig, topic: &str) -> Option<RDKafkaErrorCode> {
    let c: BaseConsumer = config.create().expect("create consumer");
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    md.topics()
        .iter()
        .find(|t| t.name() == topic)
        .and_then(|t| t.error())
        .map(RDKafkaErrorCode::from)
}

/// Creates `topic` (one partition) through `config`: the topic's result.
fn create(config: &ClientConfig, topic: &str) -> Result<(), RDKafkaErrorCode> {
    let admin: AdminClient<DefaultClientContext> = config.create().expect("admin");
    let t = NewTopic::new(topic, 1, TopicReplication::Fixed(1));
    let r = block_on(admin.create_topics(
        [&t],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
    ))
    .expect("create_topics");
    r[0].clone().map(|_| ()).map_err(|(_, e)| e)
}

/// Consumes from `topic` in `group` through `config` until a record or an error arrives
/// (bounded): `Ok(payload count)` or the error code.
fn consume(config: &ClientConfig, topic: &str, group: &str) -> Result<usize, RDKafkaErrorCode> {
    let c: BaseConsumer = config
        .clone()
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .create()
        .expect("consumer");
    c.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(_)) => return Ok(1),
            Some(Err(e)) => {
                if let Some(code) = e.rdkafka_error_code() {
                    return Err(code);
                }
            }
            None => {}
        }
    }
    Err(RDKafkaErrorCode::OperationTimedOut)
}

#[test]
fn acl_matrix_set_with_kafka_acls_holds_across_a_restart() {
    let cp = match kafka_classpath() {
        Ok(cp) => cp,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let pki = Pki::new();
    Pki::signed(
        Path::new(&pki.path("")),
        "bob",
        "/OU=test/CN=bob",
        "client.ext",
    );
    let ports = free_ports(2);
    let (plain, ssl) = (
        format!("127.0.0.1:{}", ports[0]),
        format!("127.0.0.1:{}", ports[1]),
    );
    let settings = [
        format!("listeners=PLAINTEXT://{plain},SSL://{ssl}"),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL".into(),
        "inter.broker.listener.name=PLAINTEXT".into(),
        "ssl.keystore.type=PEM".into(),
        format!("ssl.keystore.location={}", pki.path("broker-keystore.pem")),
        "ssl.truststore.type=PEM".into(),
        format!("ssl.truststore.location={}", pki.path("ca.pem")),
        "ssl.client.auth=required".into(),
        AUTHORIZER.into(),
        "super.users=User:ANONYMOUS".into(),
        "num.partitions=1".into(),
        "auto.create.topics.enable=false".into(),
    ];
    let args: Vec<String> = settings
        .iter()
        .flat_map(|s| ["--set".to_string(), s.clone()])
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut broker = Broker::start(&args);
    let as_user = |name: &str| {
        let mut c = base_config(&ssl);
        c.set("security.protocol", "ssl")
            .set("ssl.ca.location", pki.path("ca.pem"))
            .set("ssl.certificate.location", pki.path(&format!("{name}.pem")))
            .set("ssl.key.location", pki.path(&format!("{name}.key")));
        c
    };
    let producer_as = |name: &str| {
        let mut c = producer_config(&ssl);
        c.set("security.protocol", "ssl")
            .set("ssl.ca.location", pki.path("ca.pem"))
            .set("ssl.certificate.location", pki.path(&format!("{name}.pem")))
            .set("ssl.key.location", pki.path(&format!("{name}.key")));
        c
    };
    let admin = admin_config(&plain);
    for t in ["acl-a", "acl-b", "pay-open", "pay-secret"] {
        assert_eq!(create(&admin, t), Ok(()), "super user creates {t}");
    }
    let acls: [&[&str]; 4] = [
        &[
            "--add",
            "--allow-principal",
            ALICE,
            "--producer",
            "--topic",
            "acl-a",
        ],
        &[
            "--add",
            "--allow-principal",
            BOB,
            "--consumer",
            "--topic",
            "acl-a",
            "--group",
            "bobs",
        ],
        &[
            "--add",
            "--allow-principal",
            ALICE,
            "--operation",
            "Read",
            "--topic",
            "pay-",
            "--resource-pattern-type",
            "prefixed",
        ],
        &[
            "--add",
            "--deny-principal",
            ALICE,
            "--operation",
            "All",
            "--topic",
            "pay-secret",
        ],
    ];
    for args in acls {
        kafka_acls(&cp, &plain, args);
    }
    let listed = kafka_acls(&cp, &plain, &["--list", "--topic", "acl-a"]);
    assert!(
        listed.contains("principal=User:CN=alice,OU=test") && listed.contains("operation=WRITE"),
        "kafka-acls --list shows alice's WRITE:\n{listed}"
    );
    assert!(listed.contains("principal=User:CN=bob,OU=test"), "{listed}");
    let prefixed = kafka_acls(
        &cp,
        &plain,
        &[
            "--list",
            "--topic",
            "pay-",
            "--resource-pattern-type",
            "prefixed",
        ],
    );
    assert!(prefixed.contains("patternType=PREFIXED"), "{prefixed}");

    let check = |when: &str| {
        let denied_topic = format!(
            "{:?}",
            Err::<(), _>(RDKafkaErrorCode::TopicAuthorizationFailed)
        );
        let denied_group = format!(
            "{:?}",
            Err::<usize, _>(RDKafkaErrorCode::GroupAuthorizationFailed)
        );
        let mut cases: Vec<(&str, String, String)> = vec![
            // Write: A yes, B no; bob (a consumer) may not write.
            (
                "alice writes A",
                format!("{:?}", produce_result(&producer_as("alice"), "acl-a")),
                "Ok(())".into(),
            ),
            (
                "alice may not write B",
                format!("{:?}", produce_result(&producer_as("alice"), "acl-b")),
                denied_topic.clone(),
            ),
            (
                "bob may not write A",
                format!("{:?}", produce_result(&producer_as("bob"), "acl-a")),
                denied_topic.clone(),
            ),
            // Read: alice has no group ACL; bob (--consumer) reads A in his group.
            (
                "alice may not use a group",
                format!("{:?}", consume(&as_user("alice"), "acl-a", "alices")),
                denied_group,
            ),
            (
                "bob reads A",
                format!("{:?}", consume(&as_user("bob"), "acl-a", "bobs")),
                "Ok(1)".into(),
            ),
            // Create: nobody but the super user.
            (
                "alice may not create topics",
                format!("{:?}", create(&as_user("alice"), "acl-new")),
                denied_topic,
            ),
            // Metadata: alice sees A (WRITE implies DESCRIBE) and pay-open (PREFIXED READ), not
            // B, not pay-secret (DENY All wins over the prefixed ALLOW); a named topic she may not
            // describe is TOPIC_AUTHORIZATION_FAILED, existing or not.
            (
                "alice's topics",
                format!("{:?}", visible_topics(&as_user("alice"))),
                r#"["acl-a", "pay-open"]"#.into(),
            ),
            (
                "a named topic alice may not describe",
                format!("{:?}", topic_error(&as_user("alice"), "acl-b")),
                "Some(TopicAuthorizationFailed)".into(),
            ),
            (
                "a missing topic is not revealed as missing",
                format!("{:?}", topic_error(&as_user("alice"), "never-created")),
                "Some(TopicAuthorizationFailed)".into(),
            ),
        ];
        cases.push((
            "alice has no ACL for a transactional id",
            format!("{:?}", init_transactions(&producer_as("alice"), "alice-tx")),
            "Err(TransactionalIdAuthorizationFailed)".into(),
        ));
        for (what, got, want) in cases {
            assert_eq!(got, want, "{when}: {what}");
        }
        // The super user (ANONYMOUS on PLAINTEXT) sees and writes everything.
        let all = visible_topics(&base_config(&plain));
        for t in ["acl-a", "acl-b", "pay-open", "pay-secret"] {
            assert!(
                all.contains(&t.to_string()),
                "{when}: super user sees {t}: {all:?}"
            );
        }
        assert_eq!(
            produce_result(&producer_config(&plain), "acl-b"),
            Ok(()),
            "{when}"
        );
    };
    check("before the restart");
    broker.restart();
    check("after the restart");
    // --remove takes bob's READ away.
    kafka_acls(
        &cp,
        &plain,
        &[
            "--remove",
            "--force",
            "--allow-principal",
            BOB,
            "--operation",
            "Read",
            "--topic",
            "acl-a",
        ],
    );
    assert_eq!(
        produce_result(&producer_as("bob"), "acl-a"),
        Err(RDKafkaErrorCode::TopicAuthorizationFailed)
    );
    let listed = kafka_acls(&cp, &plain, &["--list", "--topic", "acl-a"]);
    assert!(
        !listed.contains("principal=User:CN=bob,OU=test, host=*, operation=READ"),
        "bob's READ removed:\n{listed}"
    );
    broker.assert_alive();
}

#[test]
fn a_cluster_with_an_authorizer_replicates_and_every_node_serves_the_acls() {
    let cp = match kafka_classpath() {
        Ok(cp) => cp,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let _one = one_cluster_at_a_time();
    // No super user: everything is allowed until a resource has ACLs
    // (allow.everyone.if.no.acl.found); then ANONYMOUS (clients and the brokers' own requests on
    // the PLAINTEXT inter-broker listener) gets ALL on the cluster and the topics.
    let mut cluster = Cluster::start(
        3,
        &[
            "--set",
            AUTHORIZER,
            "--set",
            "allow.everyone.if.no.acl.found=true",
        ],
    );
    let via = cluster.bootstrap(1);
    let anonymous = "User:ANONYMOUS";
    let acls: [&[&str]; 2] = [
        &[
            "--add",
            "--allow-principal",
            anonymous,
            "--operation",
            "All",
            "--cluster",
            "--topic",
            "*",
        ],
        &[
            "--add",
            "--deny-principal",
            anonymous,
            "--operation",
            "Write",
            "--topic",
            "locked",
        ],
    ];
    for args in acls {
        kafka_acls(&cp, &via, args);
    }
    let admin: AdminClient<DefaultClientContext> = admin_config(&via).create().expect("admin");
    for t in ["replicated", "locked"] {
        let nt = NewTopic::new(t, 1, TopicReplication::Fixed(3));
        let r = block_on(admin.create_topics([&nt], &AdminOptions::new())).expect("create");
        assert!(r[0].is_ok(), "{t}: {r:?}");
    }
    cluster.wait_for_leaders(1, "replicated", 1);
    cluster.wait_for_leaders(1, "locked", 1);
    // acks=all completes only once every in-sync follower fetched (CLUSTER_ACTION).
    let bootstrap = cluster.bootstrap_all();
    assert_eq!(
        produce_result(&producer_config(&bootstrap), "replicated"),
        Ok(())
    );
    assert_eq!(
        produce_result(&producer_config(&bootstrap), "locked"),
        Err(RDKafkaErrorCode::TopicAuthorizationFailed)
    );
    cluster.wait_for_identical_replicas("replicated", 1, &[1, 2, 3], Duration::from_secs(30));
    for id in cluster.node_ids() {
        let listed = kafka_acls(&cp, &cluster.bootstrap(id), &["--list"]);
        assert!(
            listed.contains("operation=ALL, permissionType=ALLOW")
                && listed.contains("operation=WRITE, permissionType=DENY"),
            "node {id} serves the ACLs:\n{listed}"
        );
    }
    cluster.stop_all();
}
