//! Process lifecycle and startup settings from the broker contract: SIGINT is as graceful as
//! SIGTERM, data survives repeated restarts, small `log.internal.segment.bytes` (the test-only segment size) rolls many segments that
//! all read back after a restart, `num.partitions` sizes auto-created topics, and
//! `auto.create.topics.enable=false` refuses to create topics.

use std::collections::BTreeMap;
use std::time::Duration;

use compat_tests::{
    acked_offsets, create_topic, producer_config, read_all, read_partitions, wait_for_topic,
    Broker, Record, RecordingContext, Signal,
};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::Offset;

/// Produces `count` messages (`value_of(i)`, key `k{i % 50}`) to `topic` and returns
/// `partition -> offset -> i`, asserting every one was acknowledged. `extra_config` is added
/// to the producer config.
fn produce(
    bootstrap: &str,
    topic: &str,
    count: usize,
    value_of: &dyn Fn(usize) -> Vec<u8>,
    extra_config: &[(&str, &str)],
) -> BTreeMap<i32, BTreeMap<i64, usize>> {
    let ctx = RecordingContext::default();
    let mut config = producer_config(bootstrap);
    for (k, v) in extra_config {
        config.set(*k, *v);
    }
    let producer: ThreadedProducer<RecordingContext> = config
        .create_with_context(ctx.clone())
        .expect("create producer");
    for i in 0..count {
        let key = format!("k{}", i % 50);
        let value = value_of(i);
        producer
            .send(
                BaseRecord::with_opaque_to(topic, i)
                    .key(&key)
                    .payload(&value),
            )
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let deliveries = ctx.snapshot();
    assert_eq!(deliveries.len(), count, "one delivery report per message");
    if let Some(d) = deliveries.iter().find(|d| d.result.is_err()) {
        panic!("message {} was not delivered: {:?}", d.index, d.result);
    }
    acked_offsets(&deliveries)
}

/// Asserts that `stored` holds exactly the acknowledged messages at their offsets.
fn assert_exactly(
    stored: &BTreeMap<i32, Vec<Record>>,
    acked: &BTreeMap<i32, BTreeMap<i64, usize>>,
    value_of: &dyn Fn(usize) -> Vec<u8>,
    what: &str,
) {
    for (p, records) in stored {
        let want = acked.get(p).cloned().unwrap_or_default();
        let got: Vec<(i64, Option<Vec<u8>>)> = records
            .iter()
            .map(|r| (r.offset, r.value.clone()))
            .collect();
        let expected: Vec<(i64, Option<Vec<u8>>)> =
            want.iter().map(|(&o, &i)| (o, Some(value_of(i)))).collect();
        assert!(
            got == expected,
            "{what}: partition {p} holds {} records, expected {} (first difference at \
             position {:?})",
            got.len(),
            expected.len(),
            got.iter().zip(&expected).position(|(a, b)| a != b)
        );
    }
}

fn small_value(i: usize) -> Vec<u8> {
    format!("lifecycle-{i}").into_bytes()
}

#[test]
fn sigint_is_graceful_and_data_survives_restarts() {
    let mut broker = Broker::start(&[]);
    create_topic(broker.bootstrap(), "lifecycle", 2);
    let acked = produce(broker.bootstrap(), "lifecycle", 2_000, &small_value, &[]);

    broker.stop_with(Signal::Int);
    broker.restart();
    let stored = read_all(broker.bootstrap(), "lifecycle", 2, Duration::from_secs(60));
    assert_exactly(&stored, &acked, &small_value, "after SIGINT and restart");

    // A second restart (SIGTERM this time) changes nothing.
    broker.restart();
    let stored = read_all(broker.bootstrap(), "lifecycle", 2, Duration::from_secs(60));
    assert_exactly(&stored, &acked, &small_value, "after a second restart");
    broker.stop();
}

#[test]
fn small_segments_roll_and_recover() {
    let value = |i: usize| format!("segment-roll-{i:06}-{}", "x".repeat(100 + i % 50)).into_bytes();
    let mut broker = Broker::start(&["--set", "log.internal.segment.bytes=16384"]);
    create_topic(broker.bootstrap(), "segments", 1);
    // About 800 KB of records: dozens of 16 KiB segments. Batches must fit in a segment (as in
    // Kafka, a batch larger than segment.bytes is refused), so cap them at 8 KiB.
    let acked = produce(
        broker.bootstrap(),
        "segments",
        5_000,
        &value,
        &[("batch.size", "8192")],
    );
    let stored = read_all(broker.bootstrap(), "segments", 1, Duration::from_secs(60));
    assert_exactly(&stored, &acked, &value, "before restart");

    broker.restart();
    let stored = read_all(broker.bootstrap(), "segments", 1, Duration::from_secs(60));
    assert_exactly(&stored, &acked, &value, "after restart");

    // Reading from offsets spread over many segments starts exactly there.
    for start in [1, 1_234, 2_501, 4_999] {
        let got = read_partitions(
            broker.bootstrap(),
            "segments",
            &[(0, Offset::Offset(start))].into_iter().collect(),
            Duration::from_secs(60),
        );
        let first = got[&0].first().expect("records after the start offset");
        assert_eq!(first.offset, start, "first record read from offset {start}");
        assert_eq!(
            first.value.as_deref(),
            Some(value(acked[&0][&start]).as_slice())
        );
        assert_eq!(got[&0].len() as i64, 5_000 - start);
    }
    broker.stop();
}

#[test]
fn num_partitions_sizes_auto_created_topics() {
    let mut broker = Broker::start(&["--set", "num.partitions=3"]);
    // The producer's metadata request may create the unknown topic (allow.auto.create.topics).
    let acked = produce(broker.bootstrap(), "auto-created", 300, &small_value, &[]);
    wait_for_topic(broker.bootstrap(), "auto-created", 3);
    assert!(
        acked.keys().all(|p| (0..3).contains(p)),
        "partitions used: {:?}",
        acked.keys()
    );
    let stored = read_all(
        broker.bootstrap(),
        "auto-created",
        3,
        Duration::from_secs(60),
    );
    assert_exactly(&stored, &acked, &small_value, "auto-created topic");
    broker.stop();
}

#[test]
fn auto_create_disabled_refuses_unknown_topics() {
    let mut broker = Broker::start(&["--set", "auto.create.topics.enable=false"]);
    let ctx = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(broker.bootstrap())
        .set("message.timeout.ms", "3000")
        .create_with_context(ctx.clone())
        .expect("create producer");
    producer
        .send(BaseRecord::<(), str, usize>::with_opaque_to("never-created", 0).payload("x"))
        .map_err(|(e, _)| e)
        .expect("enqueue");
    // The message cannot be delivered; flush returns once its delivery report (an error) is in.
    let _ = producer.flush(Duration::from_secs(20));
    let reports = ctx.snapshot();
    assert_eq!(reports.len(), 1, "one delivery report");
    assert!(
        reports[0].result.is_err(),
        "a message to an unknown topic was acknowledged with auto-create off: {:?}",
        reports[0]
    );
    // Metadata, asked by a client that allows auto-creation, still does not show the topic.
    let md = producer
        .client()
        .fetch_metadata(Some("never-created"), Duration::from_secs(10))
        .expect("metadata");
    let topic = md.topics().iter().find(|t| t.name() == "never-created");
    assert!(
        topic.is_none_or(|t| t.error().is_some() && t.partitions().is_empty()),
        "the topic exists although auto.create.topics.enable=false: {:?}",
        topic.map(|t| (t.error(), t.partitions().len()))
    );
    drop(producer);
    broker.stop();
}
