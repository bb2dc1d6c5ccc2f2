//! Consumer threads: one librdkafka `BaseConsumer` per thread, in a group or with assign().
//! In e2e mode each received payload's first 8 bytes are its intended send time, which gives
//! the end-to-end latency (the record timestamp, in ms, when the payload is shorter).

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::args::Stop;
use crate::produce::TIMESTAMP_BYTES;
use crate::schedule::{duration_ns, latency_ns, Clock};
use crate::stats::{Counters, Measured};

/// How a consumer gets its partitions.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// Subscribe to the topic in a consumer group.
    Group,
    /// assign() these `(partition, start offset)` pairs.
    Assign(Vec<(i32, Offset)>),
}

/// What a consumer thread needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Topic to read.
    pub(crate) topic: String,
    /// Where its partitions come from.
    pub(crate) source: Source,
    /// Stop condition (total over all consumers); `None` in e2e mode, where consumers stop
    /// once they have received everything the producers had acknowledged.
    pub(crate) stop: Option<Stop>,
    /// Seconds of warmup, counted from the first message received (consume) or the run's
    /// start (e2e, via `measure_start_ns`).
    pub(crate) warmup: Duration,
    /// e2e: messages intended before this are warmup and record no latency.
    pub(crate) measure_start_ns: Option<u64>,
    /// Give up after this long without a message.
    pub(crate) idle_timeout: Duration,
    /// The shared clock.
    pub(crate) clock: Clock,
}

/// Runs one consumer until the shared stop condition, returning its measurement.
pub(crate) fn run(config: &ClientConfig, plan: &Plan, counters: &Counters) -> Result<Measured> {
    let consumer: BaseConsumer = config.create().context("creating a consumer")?;
    match &plan.source {
        Source::Group => consumer
            .subscribe(&[plan.topic.as_str()])
            .context("subscribing")?,
        Source::Assign(parts) if parts.is_empty() => return Ok(Measured::new(plan.clock.now_ns())),
        Source::Assign(parts) => {
            let mut tpl = TopicPartitionList::new();
            for (p, offset) in parts {
                tpl.add_partition_offset(&plan.topic, *p, *offset)
                    .context("building the assignment")?;
            }
            consumer.assign(&tpl).context("assigning partitions")?;
        }
    }
    let start = plan.clock.now_ns();
    let mut measured = Measured::new(plan.measure_start_ns.unwrap_or(start));
    let mut measure_from: Option<u64> = plan.measure_start_ns;
    // Idle means no consumer received anything: in a group some members may get no partition.
    let mut last_activity = start;
    let mut last_total = 0;
    let idle_ns = duration_ns(plan.idle_timeout);
    while !counters.stop_consumers.load(Ordering::Relaxed) {
        let Some(result) = consumer.poll(Duration::from_millis(50)) else {
            let now = plan.clock.now_ns();
            let total = Counters::get(&counters.consumed);
            if total != last_total {
                (last_total, last_activity) = (total, now);
            }
            if now.saturating_sub(last_activity) > idle_ns {
                counters.stop_consumers.store(true, Ordering::Relaxed);
                bail!(
                    "no message for {:.1} s ({} received in total)",
                    plan.idle_timeout.as_secs_f64(),
                    total
                );
            }
            if e2e_done(plan, counters) {
                break;
            }
            continue;
        };
        let msg = result.context("consuming")?;
        let now = plan.clock.now_ns();
        last_activity = now;
        counters.consumed.fetch_add(1, Ordering::Relaxed);
        let payload = msg.payload().unwrap_or_default();
        let from = *measure_from.get_or_insert(now + duration_ns(plan.warmup));
        if plan.measure_start_ns.is_some() {
            // e2e: warmup by intended send time; latency from it.
            let sent = sent_ns(payload, msg.timestamp().to_millis());
            if sent >= from {
                record(&mut measured, payload.len(), now);
                measured.latency.saturating_record(latency_ns(sent, now));
            }
        } else if now >= from {
            // Claim a slot first: with several consumers, messages past --count are not counted.
            let total = counters.consumed_measured.fetch_add(1, Ordering::Relaxed) + 1;
            if matches!(plan.stop, Some(Stop::Count(n)) if total > n) {
                break;
            }
            if measured.messages == 0 {
                measured.start_ns = now;
            }
            record(&mut measured, payload.len(), now);
            let done = match plan.stop {
                Some(Stop::Count(n)) => total >= n,
                Some(Stop::Duration(d)) => now >= from + duration_ns(d),
                None => false,
            };
            if done {
                counters.stop_consumers.store(true, Ordering::Relaxed);
            }
        }
        if e2e_done(plan, counters) {
            break;
        }
    }
    Ok(measured)
}

/// Counts one received message.
fn record(m: &mut Measured, bytes: usize, now: u64) {
    m.messages += 1;
    m.bytes += bytes as u64;
    m.end_ns = now;
}

/// e2e consumers are done once the producers are and everything acknowledged has arrived.
fn e2e_done(plan: &Plan, counters: &Counters) -> bool {
    let done = plan.stop.is_none()
        && counters.producers_done.load(Ordering::Acquire)
        && Counters::get(&counters.consumed) >= Counters::get(&counters.acked);
    if done {
        counters.stop_consumers.store(true, Ordering::Relaxed);
    }
    done
}

/// The send time carried by a message: the payload's first 8 bytes, else the record
/// timestamp (ms since the epoch), else 0.
pub(crate) fn sent_ns(payload: &[u8], timestamp_ms: Option<i64>) -> u64 {
    match payload.get(..TIMESTAMP_BYTES) {
        Some(b) => u64::from_le_bytes(b.try_into().expect("8 bytes")),
        None => timestamp_ms
            .and_then(|ms| u64::try_from(ms).ok())
            .map_or(0, |ms| ms.saturating_mul(1_000_000)),
    }
}

/// Splits `partitions` round-robin over `consumers`, each starting at `start(p)`.
pub(crate) fn round_robin(
    partitions: usize,
    consumers: usize,
    start: impl Fn(usize) -> Offset,
) -> Vec<Vec<(i32, Offset)>> {
    let mut out = vec![Vec::new(); consumers];
    for p in 0..partitions {
        out[p % consumers].push((i32::try_from(p).expect("partition fits i32"), start(p)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_time_from_payload_or_timestamp() {
        let mut p = 123_456_789u64.to_le_bytes().to_vec();
        p.extend_from_slice(b"rest");
        assert_eq!(sent_ns(&p, Some(5)), 123_456_789);
        assert_eq!(sent_ns(b"abc", Some(5)), 5_000_000);
        assert_eq!(sent_ns(b"abc", None), 0);
    }

    #[test]
    fn round_robin_covers_every_partition_once() {
        let a = round_robin(5, 2, |_| Offset::Beginning);
        assert_eq!(a[0].iter().map(|x| x.0).collect::<Vec<_>>(), vec![0, 2, 4]);
        assert_eq!(a[1].iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 3]);
    }
}
