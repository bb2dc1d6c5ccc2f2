//! Healthy traffic that must keep flowing while a test attacks the broker on other connections:
//! a real rdkafka producer and consumer doing rounds of produce-then-read-back on one topic, on
//! their own thread, each round checking every value and offset. A test calls
//! [`HealthyTraffic::assert_progress`] after each attack (bounded wait for more rounds).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::{consumer, producer_config, RecordingContext};

/// Messages per round of the healthy traffic.
const ROUND: usize = 20;
/// Caps on the healthy-traffic thread.
const MAX_ROUNDS: usize = 5_000;
const MAX_TRAFFIC_TIME: Duration = Duration::from_secs(240);

/// A producer and a consumer doing rounds of produce-then-read-back on their own connections
/// until told to stop. Each round checks every value and offset.
#[derive(Debug)]
pub struct HealthyTraffic {
    rounds: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl HealthyTraffic {
    /// Starts the traffic on `topic` (partition 0, read from the beginning: the topic must hold
    /// only this traffic's records).
    #[must_use]
    pub fn start(bootstrap: &str, topic: &str) -> HealthyTraffic {
        let rounds = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
        let (r, s) = (rounds.clone(), stop.clone());
        let handle = thread::spawn(move || healthy_loop(&bootstrap, &topic, &r, &s));
        HealthyTraffic {
            rounds,
            stop,
            handle: Some(handle),
        }
    }

    /// Waits until at least one more full round completes after this call (bounded), and
    /// re-raises the traffic thread's panic if it died.
    pub fn assert_progress(&mut self, after: &str) {
        let target = self.rounds.load(Ordering::SeqCst) + 2;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.rounds.load(Ordering::SeqCst) < target {
            if self.handle.as_ref().is_some_and(JoinHandle::is_finished) {
                self.join();
                panic!("healthy traffic stopped after {after}");
            }
            assert!(
                Instant::now() < deadline,
                "healthy producer/consumer made no progress for 60 s after {after}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the traffic and waits for its thread, re-raising its panic.
    pub fn join(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    }
}

fn healthy_loop(bootstrap: &str, topic: &str, rounds: &AtomicUsize, stop: &AtomicBool) {
    let ctx = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = producer_config(bootstrap)
        .set("linger.ms", "1")
        .create_with_context(ctx.clone())
        .expect("create healthy producer");
    let consumer = consumer(bootstrap);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("add partition");
    consumer.assign(&tpl).expect("assign");
    let started = Instant::now();
    let mut next_offset = 0i64;
    let mut seq = 0usize;
    for round in 0..MAX_ROUNDS {
        if stop.load(Ordering::SeqCst) || started.elapsed() > MAX_TRAFFIC_TIME {
            return;
        }
        let first = seq;
        for _ in 0..ROUND {
            let value = format!("healthy-{seq}");
            producer
                .send(BaseRecord::<(), str, usize>::with_opaque_to(topic, seq).payload(&value))
                .map_err(|(e, _)| e)
                .expect("healthy send");
            seq += 1;
        }
        producer
            .flush(Duration::from_secs(30))
            .expect("healthy flush");
        let reports = ctx.snapshot();
        for d in &reports[first..] {
            let (p, o) = d
                .result
                .clone()
                .unwrap_or_else(|e| panic!("healthy message {} not delivered: {e}", d.index));
            assert_eq!(p, 0);
            assert_eq!(
                o, d.index as i64,
                "healthy message {} stored at an unexpected offset",
                d.index
            );
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut got = 0;
        while got < ROUND {
            assert!(
                Instant::now() < deadline,
                "round {round}: read back only {got} of {ROUND} healthy messages in 30 s"
            );
            match consumer.poll(Duration::from_millis(100)) {
                None | Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Ok(m)) => {
                    assert_eq!(
                        m.offset(),
                        next_offset,
                        "healthy consumer skipped or repeated"
                    );
                    let want = format!("healthy-{next_offset}");
                    assert_eq!(
                        m.payload(),
                        Some(want.as_bytes()),
                        "healthy value at offset {next_offset}"
                    );
                    next_offset += 1;
                    got += 1;
                }
                Some(Err(e)) => panic!("healthy consumer error: {e}"),
            }
        }
        rounds.fetch_add(1, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(20));
    }
}
