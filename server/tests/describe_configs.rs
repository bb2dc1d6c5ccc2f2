//! DescribeConfigs as Kafka 4.x answers it: each value's true source (`DEFAULT_CONFIG` for a
//! value nobody set, `STATIC_BROKER_CONFIG` for one set at start, `DYNAMIC_TOPIC_CONFIG` for a
//! topic override), the synonym chain in Kafka's order, and the type and documentation taken from
//! the property declarations. The expected chains were read from a real Kafka 4.4 broker
//! (`ci/kafka-reference`, `kafka-configs.sh --describe --all`) started with the same settings.
//! An in-process broker on 127.0.0.1:0, real requests over TCP.

use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

mod common;
use common::*;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

fn describe_req(resource_type: i8, name: &str, keys: Option<&[&str]>) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_include_documentation(true)
        .with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_configuration_keys(keys.map(|k| {
                    k.iter()
                        .map(|n| StrBytes::from_string(n.to_string()))
                        .collect()
                })),
        ])
}

fn find<'a>(r: &'a DescribeConfigsResponse, name: &str) -> &'a DescribeConfigsResourceResult {
    assert_eq!(
        r.results[0].error_code, 0,
        "{:?}",
        r.results[0].error_message
    );
    r.results[0]
        .configs
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} not described"))
}

/// IncrementalAlterConfigs of one config of topic `cfg` (op 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT).
fn alter(name: &str, op: i8, value: Option<&str>) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(StrBytes::from_static_str("cfg"))
            .with_configs(vec![
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(StrBytes::from_string(name.to_string()))
                    .with_config_operation(op)
                    .with_value(value.map(|v| StrBytes::from_string(v.to_string()))),
            ]),
    ])
}

/// (value, source) of a config.
fn value(c: &DescribeConfigsResourceResult) -> (Option<String>, i8) {
    (c.value.as_ref().map(ToString::to_string), c.config_source)
}

/// The synonyms as (source, name, value), as `kafka-configs.sh` prints them.
fn synonyms(c: &DescribeConfigsResourceResult) -> Vec<(i8, String, Option<String>)> {
    c.synonyms
        .iter()
        .map(|s| {
            (
                s.source,
                s.name.to_string(),
                s.value.as_ref().map(ToString::to_string),
            )
        })
        .collect()
}

fn syn(source: i8, name: &str, value: &str) -> (i8, String, Option<String>) {
    (source, name.to_string(), Some(value.to_string()))
}

#[tokio::test]
async fn broker_sources_say_who_set_each_value() {
    let dir = tempfile::tempdir().unwrap();
    // One property set at start to its default value, one to another value, the rest untouched.
    let sets = [
        "num.partitions=1",
        "log.segment.bytes=1048576",
        "log.retention.minutes=600",
    ];
    let b = start(dir.path(), &sets).await;
    let mut c = Client::connect(&b).await;
    let r = c.call(describe_req(BROKER, "1", None), 4).await;

    let d = find(&r, "num.partitions");
    assert_eq!(value(d), (Some("1".into()), STATIC_BROKER_CONFIG));
    assert_eq!(
        synonyms(d),
        [
            syn(STATIC_BROKER_CONFIG, "num.partitions", "1"),
            syn(DEFAULT_CONFIG, "num.partitions", "1")
        ]
    );
    let d = find(&r, "delete.topic.enable");
    assert_eq!(value(d), (Some("true".into()), DEFAULT_CONFIG));
    assert_eq!(
        synonyms(d),
        [syn(DEFAULT_CONFIG, "delete.topic.enable", "true")]
    );
    assert_eq!(
        (d.config_type, d.read_only, d.is_sensitive),
        (1, true, false)
    );
    assert_eq!(
        d.documentation.as_deref(),
        Some("Allow DeleteTopics."),
        "documentation from the declaration"
    );
    let d = find(&r, "log.segment.bytes");
    assert_eq!(value(d), (Some("1048576".into()), STATIC_BROKER_CONFIG));
    assert_eq!(d.config_type, 3, "INT");
    // The retention chain: minutes set, hours at its default, ms with no value at all.
    let d = find(&r, "log.retention.minutes");
    assert_eq!(
        synonyms(d),
        [
            syn(STATIC_BROKER_CONFIG, "log.retention.minutes", "600"),
            syn(DEFAULT_CONFIG, "log.retention.hours", "168")
        ]
    );
    let d = find(&r, "log.retention.ms");
    assert_eq!(value(d), (None, DEFAULT_CONFIG));
    assert!(d.synonyms.is_empty());
    let d = find(&r, "log.retention.hours");
    assert_eq!(value(d), (Some("168".into()), DEFAULT_CONFIG));
    // listeners and log.dirs were set by the test harness, at start.
    assert_eq!(find(&r, "log.dirs").config_source, STATIC_BROKER_CONFIG);

    // Without include_synonyms and documentation: none sent; below v3 no type either.
    let mut plain = describe_req(BROKER, "1", Some(&["num.partitions"]));
    plain.include_synonyms = false;
    plain.include_documentation = false;
    let r = c.call(plain.clone(), 4).await;
    assert_eq!(r.results[0].configs.len(), 1, "only the asked key");
    let d = find(&r, "num.partitions");
    assert_eq!(value(d), (Some("1".into()), STATIC_BROKER_CONFIG));
    assert!(d.synonyms.is_empty());
    assert_eq!((d.documentation.as_deref(), d.config_type), (None, 3));
    let r = c.call(plain, 2).await;
    assert_eq!(find(&r, "num.partitions").config_type, 0);
    b.shutdown().await.unwrap();
}

/// The listener properties with their sources and Kafka's types. All read-only: minikafka has no
/// dynamic broker configs (Kafka lets `listeners`, `advertised.listeners` and
/// `listener.security.protocol.map` be altered per broker, `DynamicListenerConfig`).
#[tokio::test]
async fn listener_settings_are_static_with_their_sources() {
    let dir = tempfile::tempdir().unwrap();
    let sets = [
        "listeners=INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
        "advertised.listeners=INTERNAL://kafka:9092,EXTERNAL://localhost:0",
        "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        "inter.broker.listener.name=INTERNAL",
    ];
    let b = start(dir.path(), &sets).await;
    let mut c = Client::connect(&b).await;
    let r = c.call(describe_req(BROKER, "1", None), 4).await;
    for (name, text, source, kind) in [
        (
            "listeners",
            Some("INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0"),
            STATIC_BROKER_CONFIG,
            7,
        ),
        (
            "advertised.listeners",
            Some("INTERNAL://kafka:9092,EXTERNAL://localhost:0"),
            STATIC_BROKER_CONFIG,
            7,
        ),
        (
            "listener.security.protocol.map",
            Some("INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT"),
            STATIC_BROKER_CONFIG,
            2,
        ),
        (
            "inter.broker.listener.name",
            Some("INTERNAL"),
            STATIC_BROKER_CONFIG,
            2,
        ),
        (
            "security.inter.broker.protocol",
            Some("PLAINTEXT"),
            DEFAULT_CONFIG,
            2,
        ),
        ("controller.listener.names", None, DEFAULT_CONFIG, 7),
    ] {
        let d = find(&r, name);
        assert_eq!(value(d), (text.map(String::from), source), "{name}");
        assert_eq!((d.read_only, d.config_type), (true, kind), "{name}");
    }
    b.shutdown().await.unwrap();
}

/// The KRaft settings are broker configs like the others: read-only, with Kafka's types and
/// defaults. `broker.id` set alone gives `node.id`, and both are then static settings (Kafka's
/// `populateSynonyms` puts both in the originals).
#[tokio::test]
async fn kraft_settings_are_described_with_their_defaults_and_broker_id_as_node_ids_synonym() {
    let dir = tempfile::tempdir().unwrap();
    let sets = ["broker.id=1", "broker.heartbeat.interval.ms=1500"];
    let b = start(dir.path(), &sets).await;
    let mut c = Client::connect(&b).await;
    let r = c.call(describe_req(BROKER, "1", None), 4).await;
    for (name, text, source, kind) in [
        ("node.id", Some("1"), STATIC_BROKER_CONFIG, 3),
        ("broker.id", Some("1"), STATIC_BROKER_CONFIG, 3),
        ("process.roles", None, DEFAULT_CONFIG, 7),
        ("controller.quorum.voters", None, DEFAULT_CONFIG, 7),
        (
            "controller.quorum.bootstrap.servers",
            None,
            DEFAULT_CONFIG,
            7,
        ),
        (
            "controller.quorum.election.timeout.ms",
            Some("1000"),
            DEFAULT_CONFIG,
            3,
        ),
        (
            "controller.quorum.fetch.timeout.ms",
            Some("2000"),
            DEFAULT_CONFIG,
            3,
        ),
        (
            "controller.quorum.election.backoff.max.ms",
            Some("1000"),
            DEFAULT_CONFIG,
            3,
        ),
        (
            "controller.quorum.request.timeout.ms",
            Some("2000"),
            DEFAULT_CONFIG,
            3,
        ),
        (
            "controller.quorum.retry.backoff.ms",
            Some("20"),
            DEFAULT_CONFIG,
            3,
        ),
        ("broker.session.timeout.ms", Some("9000"), DEFAULT_CONFIG, 3),
        (
            "broker.heartbeat.interval.ms",
            Some("1500"),
            STATIC_BROKER_CONFIG,
            3,
        ),
        ("metadata.log.dir", None, DEFAULT_CONFIG, 2),
    ] {
        let d = find(&r, name);
        assert_eq!(value(d), (text.map(String::from), source), "{name}");
        assert_eq!((d.read_only, d.config_type), (true, kind), "{name}");
    }
    let d = find(&r, "broker.heartbeat.interval.ms");
    assert_eq!(
        synonyms(d),
        [
            syn(STATIC_BROKER_CONFIG, "broker.heartbeat.interval.ms", "1500"),
            syn(DEFAULT_CONFIG, "broker.heartbeat.interval.ms", "2000")
        ]
    );
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn topic_overrides_are_dynamic_and_list_their_broker_synonyms_in_kafkas_order() {
    let dir = tempfile::tempdir().unwrap();
    let sets = ["log.segment.bytes=1048576", "log.retention.minutes=600"];
    let b = start(dir.path(), &sets).await;
    let mut c = Client::connect(&b).await;
    let created = c
        .call(
            create_req(
                "cfg",
                1,
                1,
                &[("segment.bytes", "1048577"), ("retention.ms", "5000")],
            ),
            7,
        )
        .await;
    assert_eq!(created.topics[0].error_code, 0);
    let r = c.call(describe_req(TOPIC, "cfg", None), 4).await;

    let d = find(&r, "segment.bytes");
    assert_eq!(value(d), (Some("1048577".into()), DYNAMIC_TOPIC_CONFIG));
    assert_eq!(
        synonyms(d),
        [
            syn(DYNAMIC_TOPIC_CONFIG, "segment.bytes", "1048577"),
            syn(STATIC_BROKER_CONFIG, "log.segment.bytes", "1048576"),
            syn(DEFAULT_CONFIG, "log.segment.bytes", "1073741824")
        ]
    );
    assert!(!d.read_only);
    // retention.ms's broker synonym is log.retention.ms, which is unset: Kafka's chain starts
    // at it, so log.retention.minutes (set) and .hours are not listed.
    let d = find(&r, "retention.ms");
    assert_eq!(value(d), (Some("5000".into()), DYNAMIC_TOPIC_CONFIG));
    assert_eq!(
        synonyms(d),
        [syn(DYNAMIC_TOPIC_CONFIG, "retention.ms", "5000")]
    );
    let d = find(&r, "cleanup.policy");
    assert_eq!(value(d), (Some("delete".into()), DEFAULT_CONFIG));
    assert_eq!(
        synonyms(d),
        [syn(DEFAULT_CONFIG, "log.cleanup.policy", "delete")]
    );
    assert_eq!(d.config_type, 7, "LIST");
    let d = find(&r, "compression.type");
    assert_eq!(
        synonyms(d),
        [syn(DEFAULT_CONFIG, "compression.type", "producer")]
    );
    let d = find(&r, "flush.ms");
    assert_eq!(value(d), (Some(i64::MAX.to_string()), DEFAULT_CONFIG));
    assert!(d.synonyms.is_empty());

    // APPEND works on the LIST-typed cleanup.policy only; the result is a topic override.
    assert_eq!(
        c.call(alter("cleanup.policy", 2, Some("compact")), 1)
            .await
            .responses[0]
            .error_code,
        0
    );
    assert_eq!(
        c.call(alter("retention.ms", 2, Some("1")), 1)
            .await
            .responses[0]
            .error_code,
        42,
        "INVALID_REQUEST: retention.ms is not a list"
    );
    let r = c
        .call(describe_req(TOPIC, "cfg", Some(&["cleanup.policy"])), 4)
        .await;
    let d = find(&r, "cleanup.policy");
    assert_eq!(
        value(d),
        (Some("delete,compact".into()), DYNAMIC_TOPIC_CONFIG)
    );
    assert_eq!(
        synonyms(d),
        [
            syn(DYNAMIC_TOPIC_CONFIG, "cleanup.policy", "delete,compact"),
            syn(DEFAULT_CONFIG, "log.cleanup.policy", "delete")
        ]
    );

    // An override removed at run time falls back to the static broker setting.
    assert_eq!(
        c.call(alter("segment.bytes", 1, None), 1).await.responses[0].error_code,
        0
    );
    let r = c
        .call(describe_req(TOPIC, "cfg", Some(&["segment.bytes"])), 4)
        .await;
    let d = find(&r, "segment.bytes");
    assert_eq!(value(d), (Some("1048576".into()), STATIC_BROKER_CONFIG));
    assert_eq!(
        synonyms(d),
        [
            syn(STATIC_BROKER_CONFIG, "log.segment.bytes", "1048576"),
            syn(DEFAULT_CONFIG, "log.segment.bytes", "1073741824")
        ]
    );
    b.shutdown().await.unwrap();
}
