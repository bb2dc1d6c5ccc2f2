//! Topic and broker `compression.type` with Kafka's KIP-390 levels, over TCP against an in-process broker on
//! 127.0.0.1:0: CreateTopics refuses bad values with Kafka's messages, DescribeConfigs shows the values and their
//! sources, AlterConfigs and IncrementalAlterConfigs take effect on the next append, and a produce in another
//! codec is stored rebuilt with the topic's (read back with a raw Fetch, whose batches are the stored bytes),
//! with Kafka's refusals (several batches, a rebuilt batch over `max.message.bytes`) and the idempotent
//! producer's duplicate and sequence checks intact.

mod common;
use common::*;

use std::hash::{DefaultHasher, Hash, Hasher};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use minikafka_storage::batch::{
    build_batch, decode_records, iter_headers, BatchHeader, Compression, Record,
};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;

fn code(e: ResponseError) -> i16 {
    e.code()
}

/// Produce `records` to partition 0 of `topic` (v9, acks=-1): (error code, error message, base offset).
async fn produce(c: &mut Client, topic: &str, records: Bytes) -> (i16, Option<String>, i64) {
    let r = c.call(produce_req(topic, 0, records, -1), 9).await;
    let p = &r.responses[0].partition_responses[0];
    (
        p.error_code,
        p.error_message.as_ref().map(ToString::to_string),
        p.base_offset,
    )
}

/// The stored batches of partition 0 of `topic` from offset 0, as a raw Fetch returns them.
async fn fetch_batches(c: &mut Client, topic: &str) -> Vec<(BatchHeader, Bytes)> {
    let r = c.call(fetch_req(topic, 0, 0, 0, 8 << 20), 12).await;
    let pd = &r.responses[0].partitions[0];
    assert_eq!(pd.error_code, 0);
    let records = pd.records.clone().unwrap_or_default();
    iter_headers(&records)
        .map(|item| {
            let (pos, h) = item.unwrap();
            (h, records.slice(pos..pos + h.size()))
        })
        .collect()
}

/// The records the hand-built `common::batch(count, ts)` holds (key `k{i}`, value `v{i}`, timestamp ts + i).
fn expected(base_offset: i64, count: i32, ts: i64) -> Vec<Record> {
    (0..count)
        .map(|i| Record {
            offset: base_offset + i64::from(i),
            timestamp: ts + i64::from(i),
            key: Some(format!("k{i}").into()),
            value: Some(format!("v{i}").into()),
            headers: vec![],
        })
        .collect()
}

fn describe(topic: &str, keys: &[&str]) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(StrBytes::from_string(topic.to_string()))
                .with_configuration_keys(Some(
                    keys.iter()
                        .map(|k| StrBytes::from_string((*k).to_string()))
                        .collect(),
                )),
        ])
}

/// (name, value, source) of each described config.
async fn described(c: &mut Client, topic: &str, keys: &[&str]) -> Vec<(String, String, i8)> {
    let r = c.call(describe(topic, keys), 4).await;
    assert_eq!(r.results[0].error_code, 0);
    r.results[0]
        .configs
        .iter()
        .map(|d| {
            (
                d.name.to_string(),
                d.value
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                d.config_source,
            )
        })
        .collect()
}

fn incremental_set(topic: &str, name: &str, value: &str) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configs(vec![
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(StrBytes::from_string(name.to_string()))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_string(value.to_string()))),
            ]),
    ])
}

fn legacy_set(topic: &str, pairs: &[(&str, &str)]) -> AlterConfigsRequest {
    AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configs(
                pairs
                    .iter()
                    .map(|(k, v)| {
                        alter_configs_request::AlterableConfig::default()
                            .with_name(StrBytes::from_string((*k).to_string()))
                            .with_value(Some(StrBytes::from_string((*v).to_string())))
                    })
                    .collect(),
            ),
    ])
}

#[tokio::test]
async fn create_topics_refuses_bad_values_and_levels_with_kafkas_message() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    for (name, value, reason) in [
        (
            "compression.type",
            "none",
            "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer",
        ),
        (
            "compression.type",
            "ZSTD",
            "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer",
        ),
        (
            "compression.gzip.level",
            "10",
            "Value must be between 1 and 9 or equal to -1",
        ),
        (
            "compression.gzip.level",
            "0",
            "Value must be between 1 and 9 or equal to -1",
        ),
        (
            "compression.lz4.level",
            "18",
            "Value must be no more than 17",
        ),
        (
            "compression.zstd.level",
            "-131073",
            "Value must be at least -131072",
        ),
        (
            "compression.zstd.level",
            "high",
            "Not a number of the expected type",
        ),
    ] {
        let r = c.call(create_req("bad", 1, 1, &[(name, value)]), 5).await;
        let t = &r.topics[0];
        assert_eq!(
            t.error_code,
            code(ResponseError::InvalidConfig),
            "{name}={value}"
        );
        assert_eq!(
            t.error_message.as_deref().map(|m| m.to_string()),
            Some(format!(
                "Invalid value {value} for configuration {name}: {reason}"
            ))
        );
    }
    // Every value and every level bound is accepted.
    for (i, (name, value)) in [
        ("compression.type", "uncompressed"),
        ("compression.type", "snappy"),
        ("compression.gzip.level", "-1"),
        ("compression.gzip.level", "9"),
        ("compression.lz4.level", "17"),
        ("compression.zstd.level", "-131072"),
        ("compression.zstd.level", "22"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = c
            .call(create_req(&format!("ok{i}"), 1, 1, &[(name, value)]), 5)
            .await;
        assert_eq!(r.topics[0].error_code, 0, "{name}={value}");
    }
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_zstd_topic_stores_uncompressed_produce_as_zstd_and_describes_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["compression.zstd.level=7"]).await;
    let mut c = Client::connect(&b).await;
    let r = c
        .call(create_req("z", 1, 1, &[("compression.type", "zstd")]), 5)
        .await;
    assert_eq!(r.topics[0].error_code, 0);
    let ts = 1_700_000_000_000;
    let (err, msg, base) = produce(&mut c, "z", batch(50, ts).freeze()).await;
    assert_eq!((err, msg, base), (0, None, 0));
    let (err, _, base) = produce(&mut c, "z", batch(3, ts).freeze()).await;
    assert_eq!((err, base), (0, 50));
    let batches = fetch_batches(&mut c, "z").await;
    assert_eq!(batches.len(), 2);
    let mut records = Vec::new();
    for (h, raw) in &batches {
        assert_eq!(h.compression(), Compression::Zstd);
        records.extend(decode_records(raw).unwrap().1);
    }
    let mut want = expected(0, 50, ts);
    want.extend(expected(50, 3, ts));
    assert_eq!(records, want);

    let d = described(
        &mut c,
        "z",
        &[
            "compression.type",
            "compression.zstd.level",
            "compression.gzip.level",
        ],
    )
    .await;
    assert!(d.contains(&(
        "compression.type".into(),
        "zstd".into(),
        DYNAMIC_TOPIC_CONFIG
    )));
    assert!(d.contains(&(
        "compression.zstd.level".into(),
        "7".into(),
        STATIC_BROKER_CONFIG
    )));
    assert!(d.contains(&("compression.gzip.level".into(), "-1".into(), 5)));
    // The broker's own settings.
    let r = c
        .call(
            DescribeConfigsRequest::default().with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(BROKER)
                    .with_resource_name(StrBytes::from_static_str("1"))
                    .with_configuration_keys(Some(vec![
                        StrBytes::from_static_str("compression.type"),
                        StrBytes::from_static_str("compression.zstd.level"),
                        StrBytes::from_static_str("compression.lz4.level"),
                    ])),
            ]),
            4,
        )
        .await;
    let got: Vec<_> = r.results[0]
        .configs
        .iter()
        .map(|d| {
            (
                d.name.to_string(),
                d.value.as_ref().map(ToString::to_string),
                d.config_source,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("compression.type".into(), Some("producer".into()), 5),
            ("compression.lz4.level".into(), Some("9".into()), 5),
            (
                "compression.zstd.level".into(),
                Some("7".into()),
                STATIC_BROKER_CONFIG
            ),
        ]
    );
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn altered_compression_type_takes_effect_on_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("p", 1, 1, &[]), 5).await.topics[0].error_code,
        0
    );
    let ts = 1_700_000_000_000;
    assert_eq!(produce(&mut c, "p", batch(4, ts).freeze()).await.0, 0);
    let r = c
        .call(incremental_set("p", "compression.type", "zstd"), 1)
        .await;
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(produce(&mut c, "p", batch(4, ts).freeze()).await.0, 0);
    let r = c
        .call(
            legacy_set(
                "p",
                &[
                    ("compression.type", "gzip"),
                    ("compression.gzip.level", "1"),
                ],
            ),
            1,
        )
        .await;
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(produce(&mut c, "p", batch(4, ts).freeze()).await.0, 0);
    // The reverse: a producer's lz4 batch on an `uncompressed` topic is stored uncompressed.
    let r = c
        .call(incremental_set("p", "compression.type", "uncompressed"), 1)
        .await;
    assert_eq!(r.responses[0].error_code, 0);
    let lz4 = build_batch(0, ts, &expected(0, 4, ts), Compression::Lz4);
    assert_eq!(produce(&mut c, "p", lz4).await.0, 0);
    let r = c
        .call(incremental_set("p", "compression.zstd.level", "23"), 1)
        .await;
    assert_eq!(
        r.responses[0].error_code,
        code(ResponseError::InvalidConfig)
    );
    assert_eq!(
        r.responses[0].error_message.as_deref().map(|m| m.to_string()),
        Some("Invalid value 23 for configuration compression.zstd.level: Value must be no more than 22".into())
    );

    let batches = fetch_batches(&mut c, "p").await;
    let codecs: Vec<_> = batches.iter().map(|(h, _)| h.compression()).collect();
    assert_eq!(
        codecs,
        [
            Compression::None,
            Compression::Zstd,
            Compression::Gzip,
            Compression::None
        ]
    );
    for (i, (_, raw)) in batches.iter().enumerate() {
        assert_eq!(
            decode_records(raw).unwrap().1,
            expected(4 * i as i64, 4, ts)
        );
    }
    let d = described(&mut c, "p", &["compression.type", "compression.gzip.level"]).await;
    assert_eq!(
        d,
        [
            (
                "compression.gzip.level".into(),
                "1".into(),
                DYNAMIC_TOPIC_CONFIG
            ),
            (
                "compression.type".into(),
                "uncompressed".into(),
                DYNAMIC_TOPIC_CONFIG
            ),
        ]
    );
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn kafkas_refusals_in_the_rebuild_path() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let ts = 1_700_000_000_000;
    // Values of incompressible bytes (SipHash of a counter): gzip's framing makes the rebuilt batch larger than
    // the one sent.
    let noise: Vec<u8> = (0..400u64)
        .flat_map(|i| {
            let mut h = DefaultHasher::new();
            i.hash(&mut h);
            h.finish().to_le_bytes()
        })
        .collect();
    let sent = build_batch(
        0,
        ts,
        &[Record {
            offset: 0,
            timestamp: ts,
            key: None,
            value: Some(noise.into()),
            headers: vec![],
        }],
        Compression::None,
    );
    let max = sent.len().to_string();
    let r = c
        .call(
            create_req(
                "g",
                1,
                1,
                &[("compression.type", "gzip"), ("max.message.bytes", &max)],
            ),
            5,
        )
        .await;
    assert_eq!(r.topics[0].error_code, 0);
    let (err, msg, _) = produce(&mut c, "g", sent).await;
    assert_eq!(err, code(ResponseError::MessageTooLarge));
    let msg = msg.unwrap();
    assert!(
        msg.starts_with("Message batch size is ")
            && msg.ends_with(&format!(
                " bytes in append to partition g-0 which exceeds the maximum configured size of {max}."
            )),
        "{msg}"
    );
    // Several batches: Kafka's ProduceRequest check refuses them before the rebuild path would
    // ("Compressed outer record has more than one batch", storage's own tests).
    let mut two = batch(2, ts);
    two.extend_from_slice(&batch(2, ts));
    let (err, msg, _) = produce(&mut c, "g", two.freeze()).await;
    assert_eq!(err, code(ResponseError::InvalidRecord));
    assert!(
        msg.unwrap()
            .contains("only allowed to contain exactly one record batch per partition"),
        "INVALID_RECORD with Kafka's message"
    );
    assert!(fetch_batches(&mut c, "g").await.is_empty());
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_idempotent_producer_on_a_zstd_topic_still_gets_duplicates_and_gaps_answered() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let r = c
        .call(create_req("i", 1, 1, &[("compression.type", "zstd")]), 5)
        .await;
    assert_eq!(r.topics[0].error_code, 0);
    let init = c
        .call(
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000),
            4,
        )
        .await;
    assert_eq!(init.error_code, 0);
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    let ts = 1_700_000_000_000;
    let idempotent = |seq: i32| batch_of(5, ts, pid, epoch, seq, false, 0).freeze();
    assert_eq!(produce(&mut c, "i", idempotent(0)).await, (0, None, 0));
    assert_eq!(produce(&mut c, "i", idempotent(5)).await, (0, None, 5));
    // A retry of the first batch (its response was lost): answered with its original offset, not stored again.
    assert_eq!(produce(&mut c, "i", idempotent(0)).await.0, 0);
    assert_eq!(produce(&mut c, "i", idempotent(0)).await.2, 0);
    // A gap in the sequence.
    let (err, _, _) = produce(&mut c, "i", idempotent(11)).await;
    assert_eq!(err, code(ResponseError::OutOfOrderSequenceNumber));
    let batches = fetch_batches(&mut c, "i").await;
    assert_eq!(batches.len(), 2);
    for (i, (h, raw)) in batches.iter().enumerate() {
        assert_eq!(h.compression(), Compression::Zstd);
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (pid, epoch, 5 * i as i32)
        );
        assert_eq!(
            decode_records(raw).unwrap().1,
            expected(5 * i as i64, 5, ts)
        );
    }
    b.shutdown().await.unwrap();
}
