//! Durability under `kill -9`: with `log.flush.interval.messages=1` the broker fsyncs before it
//! acknowledges, so every message an `acks=all` producer saw acknowledged must survive a SIGKILL
//! that lands while the producer is still streaming, at the same offset with identical bytes.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use compat_tests::{
    acked_offsets, create_topic, producer_config, read_all, Broker, RecordingContext, XorShift,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

/// Partitions of the test topic.
const PARTITIONS: i32 = 3;
/// Hard cap on messages sent.
const MAX_MESSAGES: usize = 20_000;
/// Hard cap on the streaming phase.
const MAX_STREAM: Duration = Duration::from_secs(15);
/// Kill the broker once this many messages are acknowledged.
const KILL_AFTER_ACKED: usize = 3_000;
/// Keep streaming this long after the kill.
const STREAM_AFTER_KILL: Duration = Duration::from_secs(1);
/// Messages sent per pacing step (one step every 5 ms: at most ~4 000 messages/s).
const STEP: usize = 20;

/// Key and value of message `i`.
fn message(i: usize) -> (Vec<u8>, Vec<u8>) {
    let key = format!("k{}", i % 97).into_bytes();
    let mut rng = XorShift::new(0xD0_0D + i as u64);
    let mut value = format!("durable-{i:06}|").into_bytes();
    let len = 1 + (rng.next_u64() % 200) as usize;
    value.extend_from_slice(&rng.bytes(len));
    (key, value)
}

fn headers(i: usize) -> OwnedHeaders {
    OwnedHeaders::new().insert(Header {
        key: "i",
        value: Some(i.to_string().as_bytes()),
    })
}

#[test]
fn acked_messages_survive_kill9() {
    let mut broker = Broker::start(&["--set", "log.flush.interval.messages=1"]);
    let topic = "durability";
    create_topic(broker.bootstrap(), topic, PARTITIONS);

    let ctx = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(broker.bootstrap())
        .set("linger.ms", "2")
        // Failed deliveries must come back quickly once the broker is gone.
        .set("message.timeout.ms", "5000")
        .set("request.timeout.ms", "4000")
        .set("retries", "0")
        .create_with_context(ctx.clone())
        .expect("create producer");

    let start = Instant::now();
    let mut killed_at: Option<Instant> = None;
    let mut sent = 0;
    let mut acked_at_kill = 0;
    while sent < MAX_MESSAGES && start.elapsed() < MAX_STREAM {
        if let Some(k) = killed_at {
            if k.elapsed() >= STREAM_AFTER_KILL {
                break;
            }
        } else if ctx.acked() >= KILL_AFTER_ACKED {
            acked_at_kill = ctx.acked();
            broker.kill9();
            killed_at = Some(Instant::now());
            eprintln!(
                "kill -9 after {:?}: {sent} sent, {acked_at_kill} acknowledged",
                start.elapsed()
            );
        }
        for _ in 0..STEP {
            let (key, value) = message(sent);
            let record = BaseRecord::with_opaque_to(topic, sent)
                .key(&key)
                .payload(&value)
                .headers(headers(sent));
            match producer.send(record) {
                Ok(()) => sent += 1,
                // A full local queue is not a failure; the message was not sent, move on later.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => break,
                Err((e, _)) => panic!("send message {sent}: {e}"),
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    assert!(
        killed_at.is_some(),
        "only {} of {sent} messages were acknowledged within {MAX_STREAM:?}; the broker never \
         reached {KILL_AFTER_ACKED} acks, so it was not killed\n{}",
        ctx.acked(),
        broker.log_report()
    );
    // Every message gets a report within message.timeout.ms; flush waits for them (bounded).
    let _ = producer.flush(Duration::from_secs(30));
    drop(producer);
    let deliveries = ctx.snapshot();
    assert_eq!(
        deliveries.len(),
        sent,
        "every sent message needs a delivery report"
    );

    let acked = acked_offsets(&deliveries);
    let total_acked: usize = acked.values().map(BTreeMap::len).sum();
    assert!(total_acked >= acked_at_kill);
    eprintln!(
        "sent {sent}, acknowledged {total_acked} ({acked_at_kill} before kill -9), failed {}",
        sent - total_acked
    );

    broker.restart();
    let bootstrap = broker.bootstrap().to_string();
    let stored = read_all(&bootstrap, topic, PARTITIONS, Duration::from_secs(60));
    for (p, want) in &acked {
        let got: BTreeMap<i64, &compat_tests::Record> =
            stored[p].iter().map(|r| (r.offset, r)).collect();
        for (&offset, &i) in want {
            let rec = got.get(&offset).unwrap_or_else(|| {
                panic!(
                    "acknowledged message {i} (partition {p}, offset {offset}) is missing after \
                     kill -9 and restart; partition now holds {} records, last offset {:?}\n{}",
                    stored[p].len(),
                    stored[p].last().map(|r| r.offset),
                    broker.all_logs()
                )
            });
            let (key, value) = message(i);
            assert_eq!(
                rec.key.as_deref(),
                Some(key.as_slice()),
                "message {i} key at partition {p} offset {offset}"
            );
            assert_eq!(
                rec.value.as_deref(),
                Some(value.as_slice()),
                "message {i} value at partition {p} offset {offset}"
            );
            assert_eq!(
                rec.headers,
                vec![("i".to_string(), Some(i.to_string().into_bytes()))],
                "message {i} headers at partition {p} offset {offset}"
            );
        }
    }
    // Offsets read back are strictly increasing per partition (no duplicates, no reordering).
    for (p, recs) in &stored {
        assert!(
            recs.windows(2).all(|w| w[0].offset < w[1].offset),
            "partition {p}: offsets read back are not strictly increasing"
        );
    }

    // The restarted broker keeps appending after everything it recovered.
    let ctx = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(&bootstrap)
        .create_with_context(ctx.clone())
        .expect("create producer");
    for p in 0..PARTITIONS {
        let record = BaseRecord::with_opaque_to(topic, usize::MAX)
            .partition(p)
            .payload("after-restart");
        producer
            .send::<(), _>(record)
            .map_err(|(e, _)| e)
            .expect("send after restart");
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("flush after restart");
    for d in ctx.snapshot() {
        let (p, o) = d.result.expect("produce after restart");
        let last_acked = acked
            .get(&p)
            .and_then(|m| m.keys().next_back())
            .copied()
            .unwrap_or(-1);
        assert!(
            o > last_acked,
            "partition {p}: new message got offset {o}, not after the last acknowledged offset \
             {last_acked}"
        );
    }
    broker.stop();
}

/// Metadata changes are acknowledged only once their entry is written (and fsynced) in the
/// metadata log (`__cluster_metadata-0`): every topic whose CreateTopics succeeded, and every
/// acknowledged config change and deletion, is there after a `kill -9` that lands while topics
/// are still being created — with the default durability settings (the metadata log's fsync
/// does not depend on `log.flush.interval.messages`). A process kill keeps the page cache, so
/// this checks the order (write, then answer), not the fsync; the store's own tests cover torn
/// writes.
#[test]
fn acknowledged_metadata_changes_survive_kill9() {
    use rdkafka::admin::{
        AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
    };
    use rdkafka::client::DefaultClientContext;
    use rdkafka::consumer::Consumer;
    use rdkafka::util::Timeout;
    use std::sync::{Arc, Mutex};

    let mut broker = Broker::start(&[]);
    let bootstrap = broker.bootstrap().to_string();
    let admin: AdminClient<DefaultClientContext> = compat_tests::admin_config(&bootstrap)
        .create()
        .expect("admin client");
    let short = || {
        AdminOptions::new()
            .request_timeout(Some(Timeout::After(Duration::from_secs(3))))
            .operation_timeout(Some(Timeout::After(Duration::from_secs(3))))
    };
    let opts = short();
    // Acknowledged before the kill: a config change and a deletion.
    let setup = [
        NewTopic::new("meta-kept", 2, TopicReplication::Fixed(1)),
        NewTopic::new("meta-deleted", 1, TopicReplication::Fixed(1)),
    ];
    let created = compat_tests::block_on(admin.create_topics(&setup, &opts)).expect("create");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let alter =
        AlterConfig::new(ResourceSpecifier::Topic("meta-kept")).set("retention.ms", "3600000");
    let altered = compat_tests::block_on(admin.alter_configs([&alter], &opts)).expect("alter");
    assert!(altered.iter().all(Result::is_ok), "{altered:?}");
    let deleted =
        compat_tests::block_on(admin.delete_topics(&["meta-deleted"], &opts)).expect("delete");
    assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");

    // Topics created one after another while the broker is killed.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let creator = {
        let acked = acked.clone();
        let admin: AdminClient<DefaultClientContext> = compat_tests::admin_config(&bootstrap)
            .create()
            .expect("admin client");
        let opts = short();
        thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            for i in 0..400 {
                if Instant::now() > deadline {
                    break;
                }
                let name = format!("meta-{i}");
                let t = NewTopic::new(&name, 1, TopicReplication::Fixed(1));
                match compat_tests::block_on(admin.create_topics([&t], &opts)) {
                    Ok(r) if r.iter().all(Result::is_ok) => acked.lock().unwrap().push(name),
                    _ => break,
                }
            }
        })
    };
    compat_tests::wait_until(
        "20 topics acknowledged",
        Duration::from_secs(30),
        Duration::from_millis(1),
        || (acked.lock().unwrap().len() >= 20).then_some(()),
    );
    broker.kill9();
    creator.join().expect("creator thread");
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 20, "{acked:?}");

    broker.restart();
    let bootstrap = broker.bootstrap().to_string();
    let c = compat_tests::consumer(&bootstrap);
    let md = c
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    let present: std::collections::BTreeMap<String, usize> = md
        .topics()
        .iter()
        .map(|t| (t.name().to_string(), t.partitions().len()))
        .collect();
    for name in &acked {
        assert_eq!(
            present.get(name),
            Some(&1),
            "acknowledged topic {name} lost: {present:?}\n{}",
            broker.log_report()
        );
    }
    assert_eq!(present.get("meta-kept"), Some(&2), "{present:?}");
    assert!(!present.contains_key("meta-deleted"), "{present:?}");
    let admin: AdminClient<DefaultClientContext> = compat_tests::admin_config(&bootstrap)
        .create()
        .expect("admin client");
    let described = compat_tests::block_on(
        admin.describe_configs([&ResourceSpecifier::Topic("meta-kept")], &opts),
    )
    .expect("describe");
    let config = described[0].as_ref().expect("meta-kept's configs");
    assert_eq!(
        config
            .get("retention.ms")
            .and_then(|e| e.value.clone())
            .as_deref(),
        Some("3600000")
    );
}
