//! Producer threads: one librdkafka `BaseProducer` per thread, sending on a [`Pacer`] schedule
//! and recording produce→ack latency from each message's intended send time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::statistics::Statistics;

use crate::args::Stop;
use crate::schedule::{duration_ns, latency_ns, Clock, Pacer, Step};
use crate::stats::{Counters, Measured};

/// Bytes of the payload that carry the intended send time (ns since the epoch, little endian).
pub(crate) const TIMESTAMP_BYTES: usize = 8;

/// What a producer thread needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Topic to write.
    pub(crate) topic: String,
    /// Payload size.
    pub(crate) message_size: usize,
    /// When the run (warmup included) starts: the schedule's time zero (ns since the epoch).
    pub(crate) run_start_ns: u64,
    /// When measuring starts (ns since the epoch); earlier messages are warmup.
    pub(crate) measure_start_ns: u64,
    /// When this thread stops: measured messages for this thread, or a duration.
    pub(crate) stop: Stop,
    /// This thread's rate, msgs/s; `None` for as fast as possible.
    pub(crate) rate: Option<f64>,
    /// The shared clock.
    pub(crate) clock: Clock,
}

/// Delivery-report handler: runs inside `poll` on the producing thread.
struct Deliveries {
    /// Shared live counters.
    counters: Arc<Counters>,
    /// This thread's measurement (a Mutex because contexts must be `Sync`; never contended).
    measured: Mutex<Measured>,
    /// Messages intended before this are warmup.
    measure_start_ns: u64,
    /// Payload size, for byte counts.
    message_size: u64,
    /// The shared clock.
    clock: Clock,
    /// The run's start; a delivery opaque is the intended time minus this.
    opaque_base_ns: u64,
}

impl ClientContext for Deliveries {
    /// librdkafka statistics (every `statistics.interval.ms`): keeps the queue and round-trip
    /// latency windows that fall in the measurement.
    fn stats(&self, statistics: Statistics) {
        if self.clock.now_ns() < self.measure_start_ns {
            return;
        }
        let mut m = self.measured.lock().expect("measured lock");
        for b in statistics.brokers.values() {
            if let Some(w) = &b.int_latency {
                m.parts.queue.add(w);
            }
            if let Some(w) = &b.rtt {
                m.parts.rtt.add(w);
            }
        }
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let now = self.clock.now_ns();
        let intended = self.opaque_base_ns + opaque as u64;
        let measured = intended >= self.measure_start_ns;
        let mut m = self.measured.lock().expect("measured lock");
        match result {
            Ok(_) => {
                self.counters
                    .acked
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if measured {
                    m.messages += 1;
                    m.bytes += self.message_size;
                    m.end_ns = m.end_ns.max(now);
                    m.latency.saturating_record(latency_ns(intended, now));
                }
            }
            Err((e, msg)) => {
                self.counters
                    .failed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if measured {
                    m.errors += 1;
                }
                self.counters.error(format!(
                    "delivery to {}-{} failed: {e}",
                    msg.topic(),
                    msg.partition()
                ));
            }
        }
    }
}

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliveries").finish_non_exhaustive()
    }
}

/// Runs one producer until its stop condition, flushes it, and returns its measurement.
pub(crate) fn run(
    config: &ClientConfig,
    plan: &Plan,
    counters: &Arc<Counters>,
) -> Result<Measured> {
    let opaque_base_ns = plan.run_start_ns;
    let context = Deliveries {
        counters: Arc::clone(counters),
        measured: Mutex::new(Measured::new(plan.measure_start_ns)),
        measure_start_ns: plan.measure_start_ns,
        message_size: plan.message_size as u64,
        clock: plan.clock,
        opaque_base_ns,
    };
    let producer: BaseProducer<Deliveries> = config
        .create_with_context(context)
        .context("creating a producer")?;
    let mut payload = vec![b'x'; plan.message_size];
    let mut pacer = Pacer::new(plan.run_start_ns, plan.rate);
    let mut measured_sent = 0u64;
    loop {
        let now = plan.clock.now_ns();
        let step = pacer.next(now);
        let intended = match step {
            Step::WaitUntil(t) => {
                // Serve delivery reports while waiting for the schedule.
                producer.poll(Duration::from_nanos((t - now).min(1_000_000)));
                continue;
            }
            Step::Send(t) => t,
        };
        let done = match plan.stop {
            Stop::Count(n) => measured_sent >= n,
            Stop::Duration(d) => intended >= plan.measure_start_ns + duration_ns(d),
        };
        if done {
            break;
        }
        if intended >= plan.measure_start_ns {
            measured_sent += 1;
        }
        if payload.len() >= TIMESTAMP_BYTES {
            payload[..TIMESTAMP_BYTES].copy_from_slice(&intended.to_le_bytes());
        }
        let opaque = usize::try_from(intended.saturating_sub(opaque_base_ns))
            .map_err(|_| anyhow!("run too long for this platform's usize"))?;
        let mut record = BaseRecord::<(), [u8], usize>::with_opaque_to(&plan.topic, opaque)
            .payload(payload.as_slice());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(anyhow::Error::new(e).context("producing")),
            }
        }
        counters
            .sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        producer.poll(Duration::ZERO);
    }
    // message.timeout.ms (30 s) bounds every delivery, so this flush ends.
    producer
        .flush(Duration::from_secs(60))
        .context("flushing the producer")?;
    let m = producer
        .context()
        .measured
        .lock()
        .expect("measured lock")
        .clone();
    Ok(m)
}
