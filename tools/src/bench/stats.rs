//! Counters shared by the worker threads, latency histograms, and the result report.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use hdrhistogram::Histogram;
use rdkafka::statistics::Window;
use serde::Serialize;

/// Latencies are recorded in nanoseconds, from 1 ns to one hour, with 3 significant digits.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// Live counters, updated by the workers and read by the progress line and the stop logic.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Messages handed to a producer (warmup included).
    pub(crate) sent: AtomicU64,
    /// Messages acknowledged by the broker (warmup included).
    pub(crate) acked: AtomicU64,
    /// Messages whose delivery failed.
    pub(crate) failed: AtomicU64,
    /// Messages received by consumers (warmup included).
    pub(crate) consumed: AtomicU64,
    /// Measured messages received, for the count stop condition.
    pub(crate) consumed_measured: AtomicU64,
    /// Consumers that have their partitions (assigned, or joined their group).
    pub(crate) joined: AtomicU64,
    /// e2e: when measuring starts (ns since the epoch), set before the producers start.
    pub(crate) measure_start_ns: AtomicU64,
    /// All producers are done (flushed).
    pub(crate) producers_done: AtomicBool,
    /// Consumers should stop.
    pub(crate) stop_consumers: AtomicBool,
    /// The first delivery or consume error, for the report.
    pub(crate) first_error: Mutex<Option<String>>,
}

impl Counters {
    /// Remembers `e` if it is the first error.
    pub(crate) fn error(&self, e: String) {
        let mut first = self.first_error.lock().expect("error lock");
        first.get_or_insert(e);
    }

    /// Reads a counter.
    pub(crate) fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// What one side (producers or consumers) measured.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    /// Measured messages (acknowledged, or received).
    pub(crate) messages: u64,
    /// Their payload bytes.
    pub(crate) bytes: u64,
    /// Failed deliveries during the measurement.
    pub(crate) errors: u64,
    /// Start of the measurement (ns since the epoch).
    pub(crate) start_ns: u64,
    /// End of the measurement: the last ack or receive (ns since the epoch).
    pub(crate) end_ns: u64,
    /// produce→ack latencies (producers) or end-to-end latencies (e2e consumers).
    pub(crate) latency: Histogram<u64>,
    /// Producers: librdkafka's own statistics, split by where the time went.
    pub(crate) parts: ClientParts,
}

/// librdkafka's statistics windows of one latency (µs), accumulated over the measurement.
#[derive(Debug, Clone, Default)]
pub(crate) struct Windows {
    /// Values in all windows.
    count: u64,
    /// Their sum, µs.
    sum_us: i64,
    /// The largest per-window 99th percentile, µs.
    p99_max_us: i64,
}

impl Windows {
    /// Adds one statistics window (empty ones are skipped).
    pub(crate) fn add(&mut self, w: &Window) {
        let Ok(count) = u64::try_from(w.cnt) else {
            return;
        };
        self.count += count;
        self.sum_us = self.sum_us.saturating_add(w.sum);
        self.p99_max_us = self.p99_max_us.max(w.p99);
    }

    /// Adds another thread's windows.
    fn merge(&mut self, o: &Windows) {
        self.count += o.count;
        self.sum_us = self.sum_us.saturating_add(o.sum_us);
        self.p99_max_us = self.p99_max_us.max(o.p99_max_us);
    }

    /// In milliseconds, or `None` when nothing was sampled.
    #[allow(clippy::cast_precision_loss)]
    fn summary(&self) -> Option<WindowMs> {
        (self.count > 0).then(|| WindowMs {
            count: self.count,
            mean: self.sum_us as f64 / self.count as f64 / 1e3,
            p99_max: self.p99_max_us as f64 / 1e3,
        })
    }
}

/// Where produce time went according to librdkafka's statistics (`statistics.interval.ms`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientParts {
    /// `int_latency`: per message, from send() until its request is built (queue + linger).
    pub(crate) queue: Windows,
    /// `rtt`: per request, from being written to the socket until the broker's response.
    pub(crate) rtt: Windows,
}

/// One latency from librdkafka's statistics, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WindowMs {
    /// Values sampled (messages for `queue`, requests for `rtt`).
    pub(crate) count: u64,
    /// Mean.
    pub(crate) mean: f64,
    /// The largest 99th percentile of librdkafka's one-second windows (it keeps no overall one).
    pub(crate) p99_max: f64,
}

/// The client's view of produce latency, split: time queued in librdkafka versus the broker
/// round trip. `null` when librdkafka reported no statistics (runs under a second).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ClientLatencyMs {
    /// librdkafka `int_latency`: send() to the produce request being built.
    pub(crate) queue: Option<WindowMs>,
    /// librdkafka `rtt`: produce request sent to response received.
    pub(crate) rtt: Option<WindowMs>,
}

impl Measured {
    /// Nothing measured yet, starting at `start_ns`.
    pub(crate) fn new(start_ns: u64) -> Measured {
        Measured {
            messages: 0,
            bytes: 0,
            errors: 0,
            start_ns,
            end_ns: start_ns,
            latency: new_histogram(),
            parts: ClientParts::default(),
        }
    }

    /// Adds another thread's measurement.
    pub(crate) fn merge(&mut self, other: &Measured) {
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.start_ns = self.start_ns.min(other.start_ns);
        self.end_ns = self.end_ns.max(other.end_ns);
        self.latency
            .add(&other.latency)
            .expect("histograms with the same bounds");
        self.parts.queue.merge(&other.parts.queue);
        self.parts.rtt.merge(&other.parts.rtt);
    }

    /// Throughput and (if any were recorded) latency.
    pub(crate) fn summary(&self) -> Throughput {
        #[allow(clippy::cast_precision_loss)]
        let seconds = self.end_ns.saturating_sub(self.start_ns) as f64 / 1e9;
        #[allow(clippy::cast_precision_loss)]
        let per_sec = |n: u64| {
            if seconds > 0.0 {
                n as f64 / seconds
            } else {
                0.0
            }
        };
        Throughput {
            messages: self.messages,
            bytes: self.bytes,
            errors: self.errors,
            seconds,
            msgs_per_sec: per_sec(self.messages),
            mb_per_sec: per_sec(self.bytes) / 1e6,
            latency_ms: LatencyMs::of(&self.latency),
            latency_includes: None,
            client_latency_ms: (self.parts.queue.count + self.parts.rtt.count > 0).then(|| {
                ClientLatencyMs {
                    queue: self.parts.queue.summary(),
                    rtt: self.parts.rtt.summary(),
                }
            }),
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LatencyMs {
    /// Number of latencies recorded.
    pub(crate) count: u64,
    /// Smallest.
    pub(crate) min: f64,
    /// Mean.
    pub(crate) mean: f64,
    /// Median.
    pub(crate) p50: f64,
    /// 99th percentile.
    pub(crate) p99: f64,
    /// 99.9th percentile.
    pub(crate) p99_9: f64,
    /// Largest.
    pub(crate) max: f64,
}

impl LatencyMs {
    /// The percentiles of `h`, or `None` when it is empty.
    pub(crate) fn of(h: &Histogram<u64>) -> Option<LatencyMs> {
        if h.is_empty() {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let ms = |ns: u64| ns as f64 / 1e6;
        Some(LatencyMs {
            count: h.len(),
            min: ms(h.min()),
            mean: h.mean() / 1e6,
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            p99_9: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        })
    }
}

/// Throughput of one side, as reported.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Throughput {
    /// Measured messages.
    pub(crate) messages: u64,
    /// Measured payload bytes.
    pub(crate) bytes: u64,
    /// Failed deliveries (producers) — always 0 for consumers.
    pub(crate) errors: u64,
    /// Seconds from the start of the measurement to the last ack/receive.
    pub(crate) seconds: f64,
    /// Messages per second.
    pub(crate) msgs_per_sec: f64,
    /// Payload megabytes (10^6 bytes) per second.
    pub(crate) mb_per_sec: f64,
    /// produce→ack latency (producers), end-to-end latency (e2e consumers), else `null`.
    pub(crate) latency_ms: Option<LatencyMs>,
    /// What `latency_ms` spans, in words; `null` when there is no latency.
    pub(crate) latency_includes: Option<String>,
    /// Producers: the queue wait and the broker round trip as librdkafka measured them.
    pub(crate) client_latency_ms: Option<ClientLatencyMs>,
}

/// The settings a result was measured with.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Settings {
    /// Partitions of the topic.
    pub(crate) partitions: usize,
    /// Payload bytes per message.
    pub(crate) message_size: usize,
    /// Producer threads.
    pub(crate) producers: usize,
    /// Consumer threads.
    pub(crate) consumers: usize,
    /// Producer acks.
    pub(crate) acks: String,
    /// Producer compression.
    pub(crate) compression: String,
    /// Producer linger.ms.
    pub(crate) linger_ms: u64,
    /// Producer batch.size.
    pub(crate) batch_size: u64,
    /// Idempotent producers.
    pub(crate) idempotence: bool,
    /// Target rate (msgs/s in total), `null` for as fast as possible.
    pub(crate) rate: Option<f64>,
    /// Each producer's librdkafka queue bound in messages (`queue.buffering.max.messages`).
    pub(crate) max_queued_messages: Option<u64>,
    /// Each producer's librdkafka queue bound in KiB (`queue.buffering.max.kbytes`).
    pub(crate) max_queued_kbytes: Option<u64>,
    /// Warmup seconds.
    pub(crate) warmup: f64,
    /// Consumers use a group (`"group"`) or assign() (`"assign"`).
    pub(crate) consumer_mode: &'static str,
}

/// The result of one run: `--json` prints exactly this.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// `produce`, `consume` or `e2e`.
    pub(crate) mode: &'static str,
    /// The bootstrap servers.
    pub(crate) bootstrap: String,
    /// The topic.
    pub(crate) topic: String,
    /// The settings used.
    pub(crate) settings: Settings,
    /// Producer side (produce, e2e).
    pub(crate) produce: Option<Throughput>,
    /// Consumer side (consume, e2e); in e2e its `latency_ms` is the end-to-end latency.
    pub(crate) consume: Option<Throughput>,
    /// The first error seen, if any (the exit status is then 1).
    pub(crate) error: Option<String>,
}

impl Report {
    /// A human-readable rendering for stdout.
    pub(crate) fn human(&self) -> String {
        let s = &self.settings;
        let mut out = format!(
            "minikafka-bench {} to {} topic {} ({} partitions): {} B messages, acks={} \
             compression={} linger.ms={} batch.size={} idempotence={} rate={}\n",
            self.mode,
            self.bootstrap,
            self.topic,
            s.partitions,
            s.message_size,
            s.acks,
            s.compression,
            s.linger_ms,
            s.batch_size,
            s.idempotence,
            s.rate.map_or("max".to_string(), |r| format!("{r} msg/s")),
        );
        let side = |out: &mut String, name: &str, lat: &str, t: &Throughput| {
            out.push_str(&format!(
                "{name}: {} msgs, {} errors in {:.2} s: {:.0} msg/s, {:.2} MB/s\n",
                t.messages, t.errors, t.seconds, t.msgs_per_sec, t.mb_per_sec
            ));
            if let Some(l) = &t.latency_ms {
                out.push_str(&format!(
                    "  {lat} latency ms: p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  (mean {:.3}, n={})\n",
                    l.p50, l.p99, l.p99_9, l.max, l.mean, l.count
                ));
            }
            if let Some(what) = &t.latency_includes {
                out.push_str(&format!("  (includes {what})\n"));
            }
            if let Some(c) = &t.client_latency_ms {
                for (part, w) in [("queue wait", &c.queue), ("broker round trip", &c.rtt)] {
                    if let Some(w) = w {
                        out.push_str(&format!(
                            "  librdkafka {part} ms: mean {:.3}  p99 (worst 1 s window) {:.3}  (n={})\n",
                            w.mean, w.p99_max, w.count
                        ));
                    }
                }
            }
        };
        if let Some(p) = &self.produce {
            side(&mut out, "produce", "produce→ack", p);
        }
        if let Some(c) = &self.consume {
            side(&mut out, "consume", "end-to-end", c);
        }
        if let Some(e) = &self.error {
            out.push_str(&format!("error: {e}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered_and_in_ms() {
        let mut m = Measured::new(0);
        for i in 1..=1000u64 {
            m.latency.record(i * 1_000_000).unwrap();
        }
        m.messages = 1000;
        m.bytes = 100_000;
        m.end_ns = 2_000_000_000;
        let t = m.summary();
        assert!((t.msgs_per_sec - 500.0).abs() < 1e-9);
        assert!((t.mb_per_sec - 0.05).abs() < 1e-9);
        let l = t.latency_ms.unwrap();
        assert!((l.p50 - 500.0).abs() < 1.0, "{l:?}");
        assert!(l.p50 <= l.p99 && l.p99 <= l.p99_9 && l.p99_9 <= l.max);
        assert!((l.max - 1000.0).abs() < 1.0);
    }

    #[test]
    fn empty_histogram_has_no_latency() {
        assert!(Measured::new(5).summary().latency_ms.is_none());
    }
}
