//! Two named listeners, the Docker pattern, with librdkafka: INTERNAL is advertised under a name
//! that does not resolve (`internal.invalid`), EXTERNAL as `localhost`. A producer and a consumer
//! that bootstrap through EXTERNAL must be told EXTERNAL's address by Metadata, or they could not
//! deliver or fetch at all; a client that bootstraps through INTERNAL is told the internal
//! address. (FindCoordinator and DescribeCluster per listener: `server/tests/listeners.rs`.)

use std::time::Duration;

use std::collections::BTreeMap;

use compat_tests::{
    consumer, create_topic, listener_port, producer_config, read_partitions, unique_topic, Broker,
    RecordingContext,
};
use rdkafka::consumer::Consumer;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::Offset;

/// Messages produced and consumed through EXTERNAL.
const MESSAGES: usize = 200;

/// The (host, port) of every broker the cluster metadata names, asked through `bootstrap`.
fn brokers_told(bootstrap: &str) -> Vec<(String, i32)> {
    let c = consumer(bootstrap);
    let m = c
        .fetch_metadata(None, Duration::from_secs(30))
        .expect("metadata");
    m.brokers()
        .iter()
        .map(|b| (b.host().to_string(), b.port()))
        .collect()
}

#[test]
fn clients_of_the_external_listener_are_told_its_address_and_work_through_it() {
    let broker = Broker::start(&[
        "--set",
        "listeners=INTERNAL://127.0.0.1:0,EXTERNAL://localhost:0",
        "--set",
        "advertised.listeners=INTERNAL://internal.invalid:9,EXTERNAL://localhost:0",
        "--set",
        "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        "--set",
        "inter.broker.listener.name=INTERNAL",
        "--set",
        "group.initial.rebalance.delay.ms=0",
    ]);
    let port = listener_port(&broker.log(), "EXTERNAL");
    let external = format!("localhost:{port}");
    assert_eq!(
        brokers_told(&external),
        [("localhost".to_string(), i32::from(port))]
    );
    assert_eq!(
        brokers_told(broker.bootstrap()),
        [("internal.invalid".to_string(), 9)],
        "INTERNAL's clients are told the internal address"
    );

    let topic = unique_topic("listeners");
    create_topic(&external, &topic, 2);
    let ctx = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(&external)
        .create_with_context(ctx.clone())
        .expect("create producer");
    for i in 0..MESSAGES {
        let value = format!("m{i}");
        producer
            .send(
                BaseRecord::<str, str, usize>::with_opaque_to(&topic, i)
                    .key("k")
                    .payload(&value),
            )
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let deliveries = ctx.snapshot();
    assert_eq!(deliveries.len(), MESSAGES);
    if let Some(d) = deliveries.iter().find(|d| d.result.is_err()) {
        panic!("message {} not delivered: {:?}", d.index, d.result);
    }

    // A consumer through EXTERNAL reads every message back.
    let starts: BTreeMap<i32, Offset> = (0..2).map(|p| (p, Offset::Beginning)).collect();
    let read = read_partitions(&external, &topic, &starts, Duration::from_secs(60));
    let mut values: Vec<String> = read
        .values()
        .flatten()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect();
    values.sort_unstable();
    let mut want: Vec<String> = (0..MESSAGES).map(|i| format!("m{i}")).collect();
    want.sort_unstable();
    assert_eq!(values, want);
    drop(producer);
}
