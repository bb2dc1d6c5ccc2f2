//! Round trip through librdkafka (rdkafka 0.39, bundled librdkafka 2.12) for every compression
//! codec: produce 100 000 keyed messages with headers and explicit timestamps, restart the broker
//! on the same data dir, then read them back with `assign()` from the beginning, from a middle
//! offset, and from the offsets that `offsets_for_times` returns. Every message must come back
//! byte for byte at the offset its delivery report gave.
//!
//! Each codec is its own test with its own broker, sharing nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use compat_tests::{
    acked_offsets, consumer, create_topic, producer_config, read_partitions, wire, Broker, Record,
    RecordingContext, XorShift,
};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders, Timestamp};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// Messages per codec.
const MESSAGES: usize = 100_000;
/// Partitions of the test topic.
const PARTITIONS: i32 = 4;
/// Timestamp of message 0; message `i` has `BASE_TS + i`.
const BASE_TS: i64 = 1_700_000_000_000;
/// Upper bound for producing or reading everything once.
const PHASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Record headers as the harness compares them: `(key, value)` in wire order.
type HeaderList = Vec<(String, Option<Vec<u8>>)>;

/// The message with index `i`: key, value and headers, all derived from `i`.
fn message(codec: &str, i: usize) -> (Vec<u8>, Vec<u8>, HeaderList) {
    let key = format!("user-{:04}", i % 1000).into_bytes();
    let mut rng = XorShift::new(i as u64 + 1);
    let len = 16 + (rng.next_u64() % 240) as usize;
    let mut value = Vec::with_capacity(8 + len);
    value.extend_from_slice(&(i as u64).to_be_bytes());
    // Half compressible text, half random bytes, so every codec has real work to do.
    let text = format!("message {i} of {MESSAGES} for codec {codec}; ");
    while value.len() < 8 + len / 2 {
        value.extend_from_slice(text.as_bytes());
    }
    value.truncate(8 + len / 2);
    value.extend_from_slice(&rng.bytes(len - len / 2));
    let headers = vec![
        ("idx".to_string(), Some(i.to_string().into_bytes())),
        ("codec".to_string(), Some(codec.as_bytes().to_vec())),
    ];
    (key, value, headers)
}

/// The record we expect to read back for message `i` stored at `partition`/`offset`.
fn expected_record(codec: &str, i: usize, partition: i32, offset: i64) -> Record {
    let (key, value, headers) = message(codec, i);
    Record {
        partition,
        offset,
        key: Some(key),
        value: Some(value),
        headers,
        timestamp: Timestamp::CreateTime(BASE_TS + i as i64),
    }
}

/// Produces all messages and returns, per partition, the message index stored at each offset
/// (`layout[p][offset] == i`), after checking the delivery reports are complete and dense.
fn produce_all(bootstrap: &str, topic: &str, codec: &str) -> BTreeMap<i32, Vec<usize>> {
    let ctx = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(bootstrap)
        .set("compression.type", codec)
        .create_with_context(ctx.clone())
        .expect("create producer");
    for i in 0..MESSAGES {
        let (key, value, headers) = message(codec, i);
        let mut owned = OwnedHeaders::new_with_capacity(headers.len());
        for (k, v) in &headers {
            owned = owned.insert(Header {
                key: k.as_str(),
                value: v.as_deref(),
            });
        }
        let mut record = BaseRecord::with_opaque_to(topic, i)
            .key(&key)
            .payload(&value)
            .headers(owned)
            .timestamp(BASE_TS + i as i64);
        // Bounded retry when the local queue is full: at most 60 s of 10 ms waits.
        let mut tries = 0;
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    tries += 1;
                    assert!(tries < 6000, "local producer queue stayed full for 60 s");
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => panic!("send message {i}: {e}"),
            }
        }
    }
    producer.flush(PHASE_TIMEOUT).expect("flush producer");
    drop(producer);

    let deliveries = ctx.snapshot();
    assert_eq!(
        deliveries.len(),
        MESSAGES,
        "expected one delivery report per message"
    );
    if let Some(d) = deliveries.iter().find(|d| d.result.is_err()) {
        panic!("message {} was not delivered: {:?}", d.index, d.result);
    }
    let mut by_partition = acked_offsets(&deliveries);
    assert!(
        by_partition.keys().all(|p| (0..PARTITIONS).contains(p)),
        "bad partition in {:?}",
        by_partition.keys()
    );
    let mut layout = BTreeMap::new();
    for p in 0..PARTITIONS {
        let offsets = by_partition.remove(&p).unwrap_or_default();
        // One producer on a fresh topic with no retries: offsets are 0..n without gaps.
        for (n, (&o, _)) in offsets.iter().enumerate() {
            assert_eq!(o, n as i64, "partition {p}: delivery offsets have a gap");
        }
        let indexes: Vec<usize> = offsets.into_values().collect();
        // Per-partition order: a single producer without retries keeps send order.
        assert!(
            indexes.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: offsets do not follow send order"
        );
        layout.insert(p, indexes);
    }
    assert!(
        layout.values().filter(|v| !v.is_empty()).count() > 1,
        "keyed messages should spread over several partitions"
    );
    layout
}

/// Asserts that `got` is exactly messages `layout[p][from..]` of every partition in `from`.
fn assert_suffixes(
    codec: &str,
    layout: &BTreeMap<i32, Vec<usize>>,
    from: &BTreeMap<i32, i64>,
    got: &BTreeMap<i32, Vec<Record>>,
    what: &str,
) {
    for (&p, &start) in from {
        let indexes = &layout[&p];
        let records = &got[&p];
        let start_idx = usize::try_from(start).expect("non-negative start offset");
        let expected_len = indexes.len() - start_idx;
        for (n, rec) in records.iter().enumerate() {
            let offset = start + n as i64;
            let Some(&i) = indexes.get(offset as usize) else {
                panic!(
                    "{what}: partition {p} returned an extra record at offset {} (only {} \
                     were produced): {rec:?}",
                    rec.offset,
                    indexes.len()
                );
            };
            let want = expected_record(codec, i, p, offset);
            assert_eq!(
                rec, &want,
                "{what}: partition {p}, position {n}: record differs from message {i}"
            );
        }
        assert_eq!(
            records.len(),
            expected_len,
            "{what}: partition {p} returned {} records from offset {start}, expected {expected_len}",
            records.len()
        );
    }
}

/// The whole scenario for one codec.
fn roundtrip(codec: &str) {
    let mut broker = Broker::start(&[]);
    let topic = format!("roundtrip-{codec}");
    create_topic(broker.bootstrap(), &topic, PARTITIONS);
    let layout = produce_all(broker.bootstrap(), &topic, codec);

    broker.restart();
    let bootstrap = broker.bootstrap().to_string();

    // (a) Everything from the beginning of every partition.
    let from_zero: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    let starts = (0..PARTITIONS).map(|p| (p, Offset::Beginning)).collect();
    let got = read_partitions(&bootstrap, &topic, &starts, PHASE_TIMEOUT);
    assert_suffixes(codec, &layout, &from_zero, &got, "read from beginning");
    drop(got);

    // The broker keeps the producer's batches (compression.type=producer): the batches a raw
    // Fetch returns carry the codec the producer was asked to use.
    let want_codec = ["none", "gzip", "snappy", "lz4", "zstd"]
        .iter()
        .position(|c| *c == codec)
        .expect("known codec") as i16;
    let codecs = wire::stored_codecs(&bootstrap, &topic, 0, 0, 1 << 20);
    assert!(!codecs.is_empty(), "a raw Fetch returned no complete batch");
    assert!(
        codecs.iter().all(|&c| c == want_codec),
        "batches produced with {codec} are stored with codecs {codecs:?}"
    );

    // (b) From the middle of the fullest partition (an odd offset, usually inside a batch).
    let (&p, indexes) = layout
        .iter()
        .max_by_key(|(_, v)| v.len())
        .expect("partitions");
    let mid = (indexes.len() / 2) as i64 | 1;
    let got = read_partitions(
        &bootstrap,
        &topic,
        &[(p, Offset::Offset(mid))].into_iter().collect(),
        PHASE_TIMEOUT,
    );
    assert_suffixes(
        codec,
        &layout,
        &[(p, mid)].into_iter().collect(),
        &got,
        "read from middle offset",
    );

    // (c) offsets_for_times with a timestamp in the middle: the first offset with ts >= T.
    let t_index = MESSAGES / 2 + 1;
    let t = BASE_TS + t_index as i64;
    let mut query = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        query
            .add_partition_offset(&topic, p, Offset::Offset(t))
            .expect("add partition");
    }
    let answer = consumer(&bootstrap)
        .offsets_for_times(query, Duration::from_secs(30))
        .expect("offsets_for_times");
    let mut from_time = BTreeMap::new();
    for p in 0..PARTITIONS {
        let indexes = &layout[&p];
        let want = indexes.iter().position(|&i| i >= t_index);
        let elem = answer
            .find_partition(&topic, p)
            .unwrap_or_else(|| panic!("offsets_for_times returned nothing for partition {p}"));
        elem.error()
            .unwrap_or_else(|e| panic!("offsets_for_times partition {p}: {e}"));
        match want {
            Some(o) => {
                assert_eq!(
                    elem.offset(),
                    Offset::Offset(o as i64),
                    "offsets_for_times(partition {p}, ts {t}): expected the first offset with \
                     timestamp >= T"
                );
                from_time.insert(p, o as i64);
            }
            None => assert_eq!(
                elem.offset(),
                Offset::End,
                "offsets_for_times(partition {p}, ts {t}): no message has ts >= T"
            ),
        }
    }
    let starts = from_time
        .iter()
        .map(|(&p, &o)| (p, Offset::Offset(o)))
        .collect();
    let got = read_partitions(&bootstrap, &topic, &starts, PHASE_TIMEOUT);
    assert_suffixes(
        codec,
        &layout,
        &from_time,
        &got,
        "read from offsets_for_times",
    );

    broker.stop();
}

#[test]
fn roundtrip_none() {
    roundtrip("none");
}

#[test]
fn roundtrip_gzip() {
    roundtrip("gzip");
}

#[test]
fn roundtrip_snappy() {
    roundtrip("snappy");
}

#[test]
fn roundtrip_lz4() {
    roundtrip("lz4");
}

#[test]
fn roundtrip_zstd() {
    roundtrip("zstd");
}
