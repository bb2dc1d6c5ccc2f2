//! Topic `compression.type` through librdkafka (rdkafka 0.39): topics created with the admin API and
//! `compression.type` zstd, gzip, lz4, snappy or uncompressed; a producer with another codec writes keyed
//! messages with headers and explicit timestamps; a consumer reads every message back intact, and the
//! partition's segment file (read from the broker's data directory) holds batches in the topic's codec. Then a
//! transactional producer (idempotent, so every batch carries producer id, epoch and sequence) on a zstd topic:
//! a committed and an aborted transaction, read with `read_committed`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use compat_tests::{
    admin_config, block_on, consumer_config, producer_config, read_all, read_partitions_with,
    send_bounded, unique_topic, wait_for_topic, Broker, Record, RecordingContext,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders, Timestamp};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::util::Timeout;
use rdkafka::Offset;

const MESSAGES: usize = 2_000;
const BASE_TS: i64 = 1_700_000_000_000;
const PHASE_TIMEOUT: Duration = Duration::from_secs(60);

/// Creates `topic` (one partition) with `compression.type = codec` through the admin API.
fn create_with_codec(bootstrap: &str, topic: &str, codec: &str) {
    let admin: AdminClient<DefaultClientContext> =
        admin_config(bootstrap).create().expect("AdminClient");
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(1)).set("compression.type", codec);
    let opts = AdminOptions::new().operation_timeout(Some(Timeout::After(PHASE_TIMEOUT)));
    let results = block_on(admin.create_topics([&new], &opts)).expect("CreateTopics");
    if let Err((name, code)) = &results[0] {
        panic!("CreateTopics {name} with compression.type={codec}: {code:?}");
    }
    wait_for_topic(bootstrap, topic, 1);
}

/// The message with index `i`: key (null for every 10th), value, headers (one with a null value) and timestamp.
fn message(i: usize) -> Record {
    Record {
        partition: 0,
        offset: i as i64,
        key: (!i.is_multiple_of(10)).then(|| format!("key-{}", i % 37).into_bytes()),
        value: Some(format!("value {i} ").repeat(1 + i % 13).into_bytes()),
        headers: vec![
            ("idx".into(), Some(i.to_string().into_bytes())),
            ("empty".into(), i.is_multiple_of(2).then(Vec::new)),
        ],
        timestamp: Timestamp::CreateTime(BASE_TS + i as i64),
    }
}

fn send_all(
    producer: &ThreadedProducer<RecordingContext>,
    topic: &str,
    range: std::ops::Range<usize>,
) {
    for i in range {
        let m = message(i);
        let mut headers = OwnedHeaders::new();
        for (k, v) in &m.headers {
            headers = headers.insert(Header {
                key: k,
                value: v.as_deref(),
            });
        }
        let mut record = BaseRecord::with_opaque_to(topic, i)
            .payload(m.value.as_deref().unwrap_or_default())
            .headers(headers)
            .timestamp(BASE_TS + i as i64)
            .partition(0);
        if let Some(k) = m.key.as_deref() {
            record = record.key(k);
        }
        send_bounded(producer, record);
    }
}

/// The codec id (attributes bits 0-2) of every batch in the partition's segment files, with its record count.
fn stored_codecs(data_dir: &Path, topic: &str) -> Vec<(u8, i32)> {
    let dir = data_dir.join(format!("{topic}-0"));
    let mut logs: Vec<_> = std::fs::read_dir(&dir)
        .expect("partition directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    let mut out = Vec::new();
    for log in logs {
        let bytes = std::fs::read(&log).unwrap();
        let mut pos = 0;
        while pos + 61 <= bytes.len() {
            let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
            let attributes = i16::from_be_bytes(bytes[pos + 21..pos + 23].try_into().unwrap());
            let count = i32::from_be_bytes(bytes[pos + 57..pos + 61].try_into().unwrap());
            out.push(((attributes & 0x07) as u8, count));
            pos += 12 + usize::try_from(len).unwrap();
        }
    }
    out
}

/// Produce with `producer_codec` to a topic with `compression.type = topic_codec`, read everything back, and
/// check the stored batches carry `stored_id`.
fn round_trip(topic_codec: &str, producer_codec: &str, stored_id: u8) {
    let broker = Broker::start(&[]);
    let bootstrap = broker.bootstrap().to_string();
    let topic = unique_topic(&format!("ct-{topic_codec}"));
    create_with_codec(&bootstrap, &topic, topic_codec);
    let ctx = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(&bootstrap)
        .set("compression.codec", producer_codec)
        .set("batch.num.messages", "300")
        .create_with_context(ctx.clone())
        .expect("producer");
    send_all(&producer, &topic, 0..MESSAGES);
    producer.flush(PHASE_TIMEOUT).expect("flush");
    drop(producer);
    assert!(
        ctx.snapshot().iter().all(|d| d.result.is_ok()),
        "every message delivered"
    );
    let read = read_all(&bootstrap, &topic, 1, PHASE_TIMEOUT);
    let want: Vec<Record> = (0..MESSAGES).map(message).collect();
    assert_eq!(read[&0], want, "{producer_codec} → topic {topic_codec}");
    let stored = stored_codecs(broker.data_dir(), &topic);
    assert!(stored.len() > 1, "several batches: {stored:?}");
    assert_eq!(
        stored.iter().map(|(_, n)| i64::from(*n)).sum::<i64>(),
        MESSAGES as i64
    );
    assert!(
        stored.iter().all(|(id, _)| *id == stored_id),
        "{producer_codec} → topic {topic_codec}: stored codecs {stored:?}"
    );
}

#[test]
fn uncompressed_produce_to_a_zstd_topic_is_stored_zstd() {
    round_trip("zstd", "none", 4);
}

#[test]
fn uncompressed_produce_to_a_gzip_topic_is_stored_gzip() {
    round_trip("gzip", "none", 1);
}

#[test]
fn uncompressed_produce_to_an_lz4_topic_is_stored_lz4() {
    round_trip("lz4", "none", 3);
}

#[test]
fn uncompressed_produce_to_a_snappy_topic_is_stored_snappy() {
    round_trip("snappy", "none", 2);
}

#[test]
fn lz4_produce_to_an_uncompressed_topic_is_stored_uncompressed() {
    round_trip("uncompressed", "lz4", 0);
}

#[test]
fn transactions_on_a_zstd_topic_read_committed() {
    let broker = Broker::start(&[]);
    let bootstrap = broker.bootstrap().to_string();
    let topic = unique_topic("ct-txn");
    create_with_codec(&bootstrap, &topic, "zstd");
    let ctx = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(&bootstrap)
        .set("enable.idempotence", "true")
        .set("transactional.id", &topic)
        .set("compression.codec", "none")
        .create_with_context(ctx.clone())
        .expect("transactional producer");
    producer.init_transactions(PHASE_TIMEOUT).expect("init");
    producer.begin_transaction().expect("begin");
    send_all(&producer, &topic, 0..500);
    producer.commit_transaction(PHASE_TIMEOUT).expect("commit");
    producer.begin_transaction().expect("begin");
    send_all(&producer, &topic, 500..800);
    producer.flush(PHASE_TIMEOUT).expect("flush");
    producer.abort_transaction(PHASE_TIMEOUT).expect("abort");
    producer.begin_transaction().expect("begin");
    send_all(&producer, &topic, 800..1000);
    producer.commit_transaction(PHASE_TIMEOUT).expect("commit");
    drop(producer);

    let mut config = consumer_config(&bootstrap);
    config.set("isolation.level", "read_committed");
    let starts: BTreeMap<i32, Offset> = [(0, Offset::Beginning)].into();
    let read = read_partitions_with(&config, &topic, &starts, PHASE_TIMEOUT);
    let got: Vec<_> = read[&0]
        .iter()
        .map(|r| {
            (
                r.key.clone(),
                r.value.clone(),
                r.headers.clone(),
                r.timestamp,
            )
        })
        .collect();
    let want: Vec<_> = (0..500)
        .chain(800..1000)
        .map(message)
        .map(|r| (r.key, r.value, r.headers, r.timestamp))
        .collect();
    assert_eq!(
        got, want,
        "read_committed sees the committed transactions only"
    );
    // Data batches are stored zstd; the three markers (control batches) stay uncompressed.
    let stored = stored_codecs(broker.data_dir(), &topic);
    let markers = stored.iter().filter(|(id, _)| *id == 0).count();
    assert_eq!(markers, 3, "{stored:?}");
    assert!(
        stored.iter().all(|(id, _)| *id == 0 || *id == 4),
        "{stored:?}"
    );
    assert_eq!(
        stored
            .iter()
            .filter(|(id, _)| *id == 4)
            .map(|(_, n)| *n)
            .sum::<i32>(),
        1000
    );
}
