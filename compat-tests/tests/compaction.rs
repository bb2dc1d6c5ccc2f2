//! Log compaction end to end: librdkafka produces many updates per key (some keys end with a tombstone) to a
//! `cleanup.policy=compact` topic on the real broker; the background cleaner shrinks the log, and a consumer
//! reading from the beginning sees every live key's latest value and none of the deleted keys. Then the broker
//! is killed with `kill -9` at several moments while it cleans, and after each restart the same holds.

use std::collections::BTreeMap;
use std::path::Path;
use std::thread;
use std::time::Duration;

use compat_tests::{
    admin_config, block_on, producer_config, read_all, wait_for_topic, wait_until, Broker,
    RecordingContext,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::util::Timeout;

const TOPIC: &str = "compacted";
const KEYS: usize = 200;
const UPDATES: usize = 20;
/// The log once compacted: about 100 bytes per live key, plus the active and a few dirty 16 KiB segments, far
/// below the ~400 KB the updates take uncompacted.
const COMPACTED_BYTES: u64 = 120_000;
/// Kill points tried during cleaning (each: produce a round of updates, wait a little, kill -9).
const CRASH_ROUNDS: usize = 4;

/// key → latest value (`None` = deleted by a tombstone).
type Model = BTreeMap<String, Option<String>>;

fn create_compacted_topic(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> =
        admin_config(bootstrap).create().expect("admin client");
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("min.cleanable.dirty.ratio", "0.01")
        .set("internal.segment.bytes", "16384")
        .set("delete.retention.ms", "500");
    let opts = AdminOptions::new().request_timeout(Some(Timeout::After(Duration::from_secs(30))));
    let results = block_on(admin.create_topics([&topic], &opts)).expect("CreateTopics");
    assert!(results[0].is_ok(), "CreateTopics: {results:?}");
    wait_for_topic(bootstrap, TOPIC, 1);
}

/// Produce `updates` rounds over every key (values tagged with `round`); in the last round every tenth key gets a
/// tombstone. Waits until every record is acknowledged, then applies them to `model`.
fn produce(bootstrap: &str, model: &mut Model, round: usize, updates: usize) {
    let ctx = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(bootstrap)
        .set("linger.ms", "5")
        // Batches must fit a 16 KiB segment.
        .set("batch.size", "8000")
        .create_with_context(ctx.clone())
        .expect("producer");
    let mut sent = 0;
    for u in 0..updates {
        for k in 0..KEYS {
            let key = format!("key-{k:03}");
            let tombstone = u + 1 == updates && k % 10 == (round % 10);
            let value = (!tombstone).then(|| format!("r{round}-u{u}-{k}-{}", "x".repeat(60)));
            let mut record = BaseRecord::with_opaque_to(TOPIC, sent).key(&key);
            if let Some(v) = &value {
                record = record.payload(v);
            }
            // Bounded: a full local queue drains within the flush below; retry a few times.
            let mut pending = Some(record);
            for _ in 0..100 {
                match producer.send(pending.take().expect("record")) {
                    Ok(()) => break,
                    Err((_, r)) => {
                        pending = Some(r);
                        thread::sleep(Duration::from_millis(20));
                    }
                }
            }
            assert!(pending.is_none(), "could not enqueue record {sent}");
            model.insert(key, value);
            sent += 1;
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    assert_eq!(ctx.acked(), sent, "every record acknowledged");
}

/// A record without a key is refused with INVALID_RECORD, as Kafka refuses it on a compacted topic.
fn null_key_is_refused(bootstrap: &str) {
    let ctx = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(bootstrap)
        .set("retries", "0")
        .create_with_context(ctx.clone())
        .expect("producer");
    producer
        .send(BaseRecord::<(), str, usize>::with_opaque_to(TOPIC, 0).payload("no key"))
        .expect("enqueue");
    producer.flush(Duration::from_secs(30)).expect("flush");
    let deliveries = ctx.snapshot();
    let err = deliveries[0]
        .result
        .clone()
        .expect_err("a null key must be refused");
    assert!(
        err.contains("InvalidRecord") || err.contains("invalid record"),
        "{err}"
    );
}

/// Size of the partition's `.log` files, counting a clean's `.swap` files (which become `.log` files when the
/// swap completes) so that a log caught mid-swap does not look empty.
fn log_bytes(data_dir: &Path) -> u64 {
    let dir = data_dir.join(format!("{TOPIC}-0"));
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.ends_with(".log") || name.ends_with(".log.swap")
                })
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Read the topic from the beginning and check the latest record of every key against `model`; returns how many
/// records were read.
fn check(broker: &Broker, model: &Model) -> usize {
    let records = read_all(broker.bootstrap(), TOPIC, 1, Duration::from_secs(60))
        .remove(&0)
        .unwrap_or_default();
    let mut seen: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut last_offset = -1;
    for r in &records {
        assert!(r.offset > last_offset, "offsets must increase");
        last_offset = r.offset;
        let key = String::from_utf8(r.key.clone().expect("every record has a key")).unwrap();
        let value = r.value.clone().map(|v| String::from_utf8(v).unwrap());
        seen.insert(key, value);
    }
    for (key, want) in model {
        let got = seen.get(key).cloned().flatten();
        assert_eq!(
            &got, want,
            "key {key}: consumer sees {got:?}, expected {want:?}"
        );
    }
    records.len()
}

#[test]
fn compaction_keeps_latest_values_and_survives_kill9() {
    let mut broker = Broker::start(&[
        "--set",
        "log.cleaner.backoff.ms=200",
        "--set",
        "log.internal.segment.bytes=16384",
    ]);
    create_compacted_topic(broker.bootstrap());
    null_key_is_refused(broker.bootstrap());
    let mut model = Model::new();
    produce(broker.bootstrap(), &mut model, 0, UPDATES);
    let total = KEYS * UPDATES;

    // The cleaner shrinks the log (bounded wait; it may already have started while we produced). Mid-swap the old
    // `.log` files are already renamed away, so the size alone may look small before the clean has finished: wait
    // for the cleaner's own report too.
    let data_dir = broker.data_dir().to_path_buf();
    wait_until(
        "the log cleaner to shrink the log",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            (broker.log().contains("cleaned log") && log_bytes(&data_dir) < COMPACTED_BYTES)
                .then_some(())
        },
    );
    let read = check(&broker, &model);
    assert!(read < total / 3, "{read} of {total} records still there");

    // kill -9 while the cleaner works: produce a round, let the cleaner start, kill, restart, check.
    for round in 1..=CRASH_ROUNDS {
        produce(broker.bootstrap(), &mut model, round, 5);
        thread::sleep(Duration::from_millis(150 + 60 * round as u64));
        broker.kill9();
        broker.restart();
        wait_for_topic(broker.bootstrap(), TOPIC, 1);
        check(&broker, &model);
    }
    // After the last restart the cleaner catches up and the invariant still holds.
    let data_dir = broker.data_dir().to_path_buf();
    wait_until(
        "the log cleaner to compact after the restarts",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || (log_bytes(&data_dir) < COMPACTED_BYTES).then_some(()),
    );
    check(&broker, &model);
    let logs = broker.all_logs();
    eprintln!(
        "cleans: {}, interrupted swaps completed: {}, leftover files deleted: {}",
        logs.matches("cleaned log").count(),
        logs.matches("completing an interrupted log cleaner swap")
            .count(),
        logs.matches("deleting leftover file").count()
    );
    broker.stop();
}
