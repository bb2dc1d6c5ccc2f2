//! Consumer threads: one librdkafka `BaseConsumer` per thread, in a group or with assign().
//! In e2e mode each received payload's first 8 bytes are its intended send time, which gives
//! the end-to-end latency (the record timestamp, in ms, when the payload is shorter).
//!
//! The idle clock (`--idle-timeout`) starts only once a consumer has its partitions; until
//! then a group consumer is bounded by `--join-timeout`.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::message::Message;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

use crate::args::Stop;
use crate::produce::TIMESTAMP_BYTES;
use crate::schedule::{duration_ns, latency_ns, Clock};
use crate::stats::{Counters, Measured};

/// How a consumer gets its partitions.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// Subscribe to the topic in a consumer group, starting where the group's committed
    /// offsets (or `auto.offset.reset`) say.
    Group,
    /// Subscribe to the topic in a consumer group, starting every assigned partition at the
    /// shared [`Positions`] (e2e: the end of the partition when the run started, then wherever
    /// the previous owner stopped, so a rebalance neither skips nor repeats a message).
    GroupFrom(Arc<Positions>),
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
    /// start (e2e, via [`Counters::measure_start_ns`]).
    pub(crate) warmup: Duration,
    /// e2e mode: messages intended before [`Counters::measure_start_ns`] are warmup and
    /// record no latency.
    pub(crate) e2e: bool,
    /// Give up after this long without a message, once the consumer has its partitions.
    pub(crate) idle_timeout: Duration,
    /// Group consumers give up after this long without a partition assignment.
    pub(crate) join_timeout: Duration,
    /// The shared clock.
    pub(crate) clock: Clock,
}

/// The next offset to read of every partition, shared by the consumers of a group so that a
/// partition's new owner carries on where the previous one stopped.
#[derive(Debug)]
pub(crate) struct Positions(Vec<AtomicI64>);

impl Positions {
    /// Starts partition `p` at `start[p]`.
    pub(crate) fn new(start: &[i64]) -> Positions {
        Positions(start.iter().map(|&o| AtomicI64::new(o)).collect())
    }

    /// The next offset to read of partition `p`, if `p` is known.
    fn get(&self, p: i32) -> Option<i64> {
        let i = usize::try_from(p).ok()?;
        Some(self.0.get(i)?.load(Ordering::Acquire))
    }

    /// Partition `p` has been read up to and including `offset`.
    fn done(&self, p: i32, offset: i64) {
        if let Some(slot) = usize::try_from(p).ok().and_then(|i| self.0.get(i)) {
            slot.store(offset + 1, Ordering::Release);
        }
    }
}

/// Consumer context: notes the first assignment (which starts the idle clock) and, for
/// [`Source::GroupFrom`], starts assigned partitions at the shared positions.
#[derive(Debug)]
struct Rebalances {
    /// The consumer has had a partition assignment (possibly empty: more members than
    /// partitions), or uses assign().
    joined: AtomicBool,
    /// Where assigned partitions start; `None` leaves it to the group's offsets.
    positions: Option<Arc<Positions>>,
}

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        // A failed (un)assign leaves this consumer without messages; the idle timeout then
        // ends the run with an error, so there is nothing more to do with it here.
        if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            if let Some(positions) = &self.positions {
                let starts: Vec<(String, i32, i64)> = tpl
                    .elements()
                    .iter()
                    .filter_map(|e| {
                        Some((
                            e.topic().to_string(),
                            e.partition(),
                            positions.get(e.partition())?,
                        ))
                    })
                    .collect();
                for (topic, p, offset) in starts {
                    let _ = tpl.set_partition_offset(&topic, p, Offset::Offset(offset));
                }
            }
            let _ = if cooperative {
                consumer.incremental_assign(tpl)
            } else {
                consumer.assign(tpl)
            };
            self.joined.store(true, Ordering::Release);
        } else {
            let _ = if cooperative {
                consumer.incremental_unassign(tpl)
            } else {
                consumer.unassign()
            };
        }
    }
}

/// Runs one consumer until the shared stop condition, returning its measurement.
pub(crate) fn run(config: &ClientConfig, plan: &Plan, counters: &Counters) -> Result<Measured> {
    let context = Rebalances {
        joined: AtomicBool::new(matches!(plan.source, Source::Assign(_))),
        positions: match &plan.source {
            Source::GroupFrom(p) => Some(Arc::clone(p)),
            _ => None,
        },
    };
    let consumer: BaseConsumer<Rebalances> = config
        .create_with_context(context)
        .context("creating a consumer")?;
    match &plan.source {
        Source::Group | Source::GroupFrom(_) => consumer
            .subscribe(&[plan.topic.as_str()])
            .context("subscribing")?,
        Source::Assign(parts) if parts.is_empty() => {
            counters.joined.fetch_add(1, Ordering::Relaxed);
            return Ok(Measured::new(plan.clock.now_ns()));
        }
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
    // e2e: run_e2e sets the start of the measurement once producing starts.
    let mut measured = Measured::new(start);
    let mut measure_from: Option<u64> = None;
    // Idle means no consumer received anything: in a group some members may get no partition.
    // The idle clock starts when this consumer has its partitions.
    let mut joined = false;
    let mut last_activity = start;
    let mut last_total = 0;
    let idle_ns = duration_ns(plan.idle_timeout);
    while !counters.stop_consumers.load(Ordering::Relaxed) {
        let polled = consumer.poll(Duration::from_millis(50));
        if !joined && (polled.is_some() || consumer.context().joined.load(Ordering::Acquire)) {
            joined = true;
            last_activity = plan.clock.now_ns();
            counters.joined.fetch_add(1, Ordering::Relaxed);
        }
        let Some(result) = polled else {
            let now = plan.clock.now_ns();
            if !joined {
                if now.saturating_sub(start) > duration_ns(plan.join_timeout) {
                    counters.stop_consumers.store(true, Ordering::Relaxed);
                    bail!(
                        "no partition assignment from the group within {:.1} s (--join-timeout)",
                        plan.join_timeout.as_secs_f64()
                    );
                }
                continue;
            }
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
        if let Some(positions) = &consumer.context().positions {
            positions.done(msg.partition(), msg.offset());
        }
        counters.consumed.fetch_add(1, Ordering::Relaxed);
        let payload = msg.payload().unwrap_or_default();
        let from = *measure_from.get_or_insert_with(|| {
            if plan.e2e {
                Counters::get(&counters.measure_start_ns)
            } else {
                now + duration_ns(plan.warmup)
            }
        });
        if plan.e2e {
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
