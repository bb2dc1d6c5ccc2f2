//! Idempotence under retries: librdkafka's idempotent producer talks to the broker through the
//! fault proxy, which cuts the connection instead of delivering every 7th Produce response —
//! the broker has stored the batch, the client never hears so and retries it. Afterwards every
//! message must be in the log exactly once and in the order it was sent, per partition. The
//! scenario runs against minikafka and against a reference Apache Kafka (`ci/kafka-reference`,
//! which needs Java and fetches Kafka's jars from Maven Central on first use).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use compat_tests::proxy::{FaultProxy, Faults};
use compat_tests::reference::ReferenceKafka;
use compat_tests::{
    producer_config, read_all, send_bounded, unique_topic, Broker, RecordingContext,
};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

const MESSAGES: usize = 20_000;
const PARTITIONS: i32 = 2;
const PRODUCE_KEY: i16 = 0;

/// Streams [`MESSAGES`] through `proxy` (already wired to a broker that advertises it) with
/// librdkafka's idempotent producer, then checks every message is stored once, in order.
fn run_idempotent_through_proxy(proxy: &FaultProxy, label: &str) {
    let addr = proxy.addr();
    let topic = unique_topic("idem-faults");
    compat_tests::create_topic(&addr, &topic, PARTITIONS);

    let context = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(&addr)
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("batch.num.messages", "500")
        .set("retry.backoff.ms", "20")
        .set("message.timeout.ms", "120000")
        .create_with_context(context.clone())
        .expect("idempotent producer");
    let mut sent: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for i in 0..MESSAGES {
        let partition = i32::try_from(i % 2).unwrap();
        let value = format!("message-{i:06}");
        let key = format!("k{i}");
        sent.entry(partition).or_default().push(value.clone());
        let record = BaseRecord::with_opaque_to(&topic, i)
            .partition(partition)
            .key(&key)
            .payload(&value);
        send_bounded(&producer, record);
    }
    producer
        .flush(Duration::from_secs(120))
        .expect("flush within 120 s");
    let deliveries = context.snapshot();
    assert_eq!(
        deliveries.len(),
        MESSAGES,
        "{label}: every message got a delivery report"
    );
    let failed: Vec<_> = deliveries
        .iter()
        .filter(|d| d.result.is_err())
        .take(5)
        .collect();
    assert!(failed.is_empty(), "{label}: failed deliveries: {failed:?}");
    assert!(
        proxy.cuts() > 0,
        "{label}: the proxy cut no connection ({} produce responses seen)",
        proxy.matched_responses()
    );
    assert!(
        proxy.connections() > 1,
        "{label}: clients reconnected after cuts"
    );

    let stored = read_all(&addr, &topic, PARTITIONS, Duration::from_secs(60));
    for (partition, want) in &sent {
        let got: Vec<String> = stored[partition]
            .iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap_or_default()).unwrap())
            .collect();
        if got != *want {
            let dups = got.len().saturating_sub(want.len());
            let first_diff = got.iter().zip(want).position(|(a, b)| a != b);
            panic!(
                "{label} partition {partition}: stored {} messages, sent {} (≈{dups} duplicates); first difference at index {first_diff:?}; \
                 proxy cut {} connections",
                got.len(),
                want.len(),
                proxy.cuts()
            );
        }
        let offsets: Vec<i64> = stored[partition].iter().map(|r| r.offset).collect();
        assert!(
            offsets.windows(2).all(|w| w[1] == w[0] + 1),
            "{label}: offsets are contiguous"
        );
    }
    eprintln!(
        "idempotence under faults ({label}): {MESSAGES} messages, {} connections cut, {} client connections",
        proxy.cuts(),
        proxy.connections()
    );
}

fn cutting_proxy() -> FaultProxy {
    FaultProxy::start(Faults {
        cut_every_nth_response: Some((PRODUCE_KEY, 7)),
        ..Faults::default()
    })
}

#[test]
fn idempotent_producer_through_response_dropping_proxy_stores_each_message_once_in_order() {
    let proxy = cutting_proxy();
    let broker = Broker::start(&["--advertise", &proxy.addr()]);
    proxy.set_upstream(broker.bootstrap());
    run_idempotent_through_proxy(&proxy, "minikafka");
}

/// The same scenario against Apache Kafka itself (jars from Maven Central via
/// `ci/kafka-reference`), so the expected behaviour comes from Kafka.
#[test]
fn reference_kafka_idempotent_producer_through_response_dropping_proxy() {
    let proxy = cutting_proxy();
    let kafka = ReferenceKafka::start(Some(&proxy.addr()));
    proxy.set_upstream(kafka.bootstrap());
    run_idempotent_through_proxy(&proxy, "Apache Kafka");
}

/// Dedupe across `kill -9`: an idempotent producer streams through the proxy (which the broker
/// advertises) while the broker is killed with SIGKILL and restarted on the same data dir. The
/// producer retries the batches it never heard about; the restarted broker rebuilt each
/// producer's state from its snapshot and the log tail, so every message is stored exactly once,
/// in order.
#[test]
fn idempotent_producer_survives_broker_kill9_without_duplicates() {
    const TOTAL: usize = 12_000;
    const KILL_AT: usize = 4_000;
    let proxy = FaultProxy::start(Faults::default());
    let addr = proxy.addr();
    let mut broker = Broker::start(&[
        "--advertise",
        &addr,
        "--set",
        "log.flush.interval.messages=1",
    ]);
    proxy.set_upstream(broker.bootstrap());
    let topic = unique_topic("idem-kill9");
    compat_tests::create_topic(&addr, &topic, PARTITIONS);

    let context = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(&addr)
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("retry.backoff.ms", "50")
        .set("message.timeout.ms", "120000")
        .create_with_context(context.clone())
        .expect("idempotent producer");
    let mut sent: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut killed = false;
    for i in 0..TOTAL {
        if i == KILL_AT {
            // Wait (bounded) until a good part is acknowledged, so the kill lands mid-stream.
            let deadline = Instant::now() + Duration::from_secs(30);
            while context.acked() < KILL_AT / 2 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            broker.kill9();
            broker.restart();
            proxy.set_upstream(broker.bootstrap());
            killed = true;
        }
        let partition = i32::try_from(i % 2).unwrap();
        let value = format!("message-{i:06}");
        sent.entry(partition).or_default().push(value.clone());
        let record: BaseRecord<'_, str, String, usize> = BaseRecord::with_opaque_to(&topic, i)
            .partition(partition)
            .payload(&value);
        send_bounded(&producer, record);
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert!(killed);
    producer
        .flush(Duration::from_secs(120))
        .expect("flush within 120 s");
    let deliveries = context.snapshot();
    compat_tests::assert_all_delivered(&deliveries, TOTAL);
    let stored = read_all(&addr, &topic, PARTITIONS, Duration::from_secs(60));
    for (partition, want) in &sent {
        let got: Vec<String> = stored[partition]
            .iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap_or_default()).unwrap())
            .collect();
        if got != *want {
            let first_diff = got.iter().zip(want).position(|(a, b)| a != b);
            panic!(
                "partition {partition}: stored {} messages, sent {}; first difference at index {first_diff:?}",
                got.len(),
                want.len()
            );
        }
    }
}
