//! Command-line arguments (clap derive) and their validation.

use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Benchmark any Kafka-compatible broker (minikafka, Apache Kafka, ...) through librdkafka.
#[derive(Debug, Parser)]
// `args_override_self`: a single-value option given twice keeps the last value (so a script can
// append an override to a common argument list); `--set` appends, as every `Vec` option does.
#[command(name = "minikafka-bench", version, args_override_self = true)]
pub(crate) struct Cli {
    /// What to measure.
    #[command(subcommand)]
    pub(crate) mode: Mode,
}

/// The benchmark modes.
#[derive(Debug, Subcommand)]
pub(crate) enum Mode {
    /// Produce messages; measure throughput and produce→ack latency.
    Produce(Common),
    /// Consume messages already in the topic; measure throughput.
    Consume(Common),
    /// Produce and consume at once; also measure end-to-end (intended send → receive) latency.
    E2e(Common),
}

impl Mode {
    /// The mode's name as used on the command line and in the JSON result.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Mode::Produce(_) => "produce",
            Mode::Consume(_) => "consume",
            Mode::E2e(_) => "e2e",
        }
    }

    /// The settings, whatever the mode.
    pub(crate) fn common(&self) -> &Common {
        match self {
            Mode::Produce(c) | Mode::Consume(c) | Mode::E2e(c) => c,
        }
    }
}

/// Producer acknowledgement level.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Acks {
    /// No acknowledgement.
    #[value(name = "0")]
    Zero,
    /// The leader wrote it.
    #[value(name = "1")]
    One,
    /// All in-sync replicas have it.
    #[value(name = "all", alias = "-1")]
    All,
}

impl Acks {
    /// The librdkafka `acks` value.
    pub(crate) fn as_config(self) -> &'static str {
        match self {
            Acks::Zero => "0",
            Acks::One => "1",
            Acks::All => "all",
        }
    }
}

/// Settings shared by all modes.
#[derive(Debug, Clone, Args)]
pub(crate) struct Common {
    /// Bootstrap servers, `host:port[,host:port...]`.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub(crate) bootstrap: String,
    /// Topic to use; created (with --partitions) if missing.
    #[arg(long, default_value = "minikafka-bench")]
    pub(crate) topic: String,
    /// Partitions for a topic that has to be created.
    #[arg(long, default_value_t = 1)]
    pub(crate) partitions: i32,
    /// Replication factor for a topic that has to be created.
    #[arg(long, default_value_t = 1)]
    pub(crate) replication_factor: i32,
    /// Topic config for a topic that has to be created, `key=value` (repeatable), e.g.
    /// `flush.messages=1` to fsync every message before it is acknowledged.
    #[arg(long = "topic-config", value_name = "KEY=VALUE")]
    pub(crate) topic_config: Vec<String>,
    /// Payload size in bytes (e2e puts its 8-byte timestamp in the first 8 bytes).
    #[arg(long, default_value_t = 100)]
    pub(crate) message_size: usize,
    /// Messages to measure (after warmup), in total over all producers/consumers.
    /// Default 100000 unless --duration is given.
    #[arg(long, conflicts_with = "duration")]
    pub(crate) count: Option<u64>,
    /// Seconds to measure (after warmup) instead of a count, e.g. `30` or `2.5`.
    #[arg(long)]
    pub(crate) duration: Option<f64>,
    /// Seconds to run before measuring; nothing sent or received then is counted.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) warmup: f64,
    /// Producer threads, one librdkafka producer each.
    #[arg(long, default_value_t = 1)]
    pub(crate) producers: usize,
    /// Consumer threads, one librdkafka consumer each.
    #[arg(long, default_value_t = 1)]
    pub(crate) consumers: usize,
    /// Consumers join this group; default: a fresh group per run (consume mode reads from
    /// the beginning, e2e from the end of each partition at the start of the run).
    #[arg(long)]
    pub(crate) group: Option<String>,
    /// Consumers assign() partitions round-robin instead of joining a group.
    #[arg(long)]
    pub(crate) assign: bool,
    /// Producer acks.
    #[arg(long, value_enum, default_value = "1")]
    pub(crate) acks: Acks,
    /// Producer compression: none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "none")]
    pub(crate) compression: String,
    /// Producer linger.ms.
    #[arg(long, default_value_t = 5)]
    pub(crate) linger_ms: u64,
    /// Producer batch.size in bytes.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) batch_size: u64,
    /// Idempotent producers (enable.idempotence=true).
    #[arg(long)]
    pub(crate) idempotence: bool,
    /// Total send rate in messages/s over all producers; absent: as fast as possible.
    /// Latency is then measured from each message's scheduled send time.
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// Max-rate mode: at most this many messages waiting in each producer's librdkafka queue
    /// (`queue.buffering.max.messages`), so that produce→ack latency measures the broker
    /// rather than the client's own backlog. Default: 100000 at max rate, 1000000 with --rate.
    #[arg(long)]
    pub(crate) max_queued_messages: Option<u64>,
    /// Max-rate mode: at most this many KiB waiting in each producer's librdkafka queue
    /// (`queue.buffering.max.kbytes`). Default: 4096 at max rate, 1048576 with --rate.
    #[arg(long)]
    pub(crate) max_queued_kbytes: Option<u64>,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Seconds to wait for the broker (metadata, topic creation) before giving up.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) timeout: f64,
    /// Consumers give up after this many seconds without a message, counted from when they
    /// have their partitions (group join and rebalance time is --join-timeout's).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) idle_timeout: f64,
    /// Group consumers give up if they have no partition assignment after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub(crate) join_timeout: f64,
    /// Extra librdkafka settings for every client, `key=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,
}

/// Default producer queue bound at max rate, `(messages, KiB)`: small enough that
/// produce→ack latency is mostly the broker's, large enough not to cost throughput
/// (measured: see tools/README.md).
pub(crate) const MAX_RATE_QUEUE: (u64, u64) = (100_000, 4096);

/// Default producer queue bound with `--rate`: large, since latency is then measured from the
/// schedule anyway and a backlog shows up in it either way.
pub(crate) const FIXED_RATE_QUEUE: (u64, u64) = (1_000_000, 1_048_576);

/// When a run stops measuring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Stop {
    /// After this many measured messages in total.
    Count(u64),
    /// After this long.
    Duration(Duration),
}

impl Common {
    /// Checks values that clap cannot check alone.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.bootstrap.trim().is_empty() {
            bail!("--bootstrap is empty");
        }
        if self.partitions < 1 || self.replication_factor < 1 {
            bail!("--partitions and --replication-factor must be at least 1");
        }
        if self.producers == 0 || self.consumers == 0 {
            bail!("--producers and --consumers must be at least 1");
        }
        if self.count == Some(0) {
            bail!("--count must be at least 1");
        }
        for (name, v) in [
            ("--duration", self.duration.unwrap_or(1.0)),
            ("--timeout", self.timeout),
            ("--idle-timeout", self.idle_timeout),
            ("--join-timeout", self.join_timeout),
        ] {
            if !(v.is_finite() && v > 0.0) {
                bail!("{name} must be a positive number of seconds");
            }
        }
        if !(self.warmup.is_finite() && self.warmup >= 0.0) {
            bail!("--warmup must be zero or more seconds");
        }
        if let Some(r) = self.rate {
            if !(r.is_finite() && r > 0.0) {
                bail!("--rate must be a positive number of messages/s");
            }
        }
        if self.max_queued_messages == Some(0) || self.max_queued_kbytes == Some(0) {
            bail!("--max-queued-messages and --max-queued-kbytes must be at least 1");
        }
        if let Some(bad) = self.set.iter().find(|kv| !kv.contains('=')) {
            bail!("--set {bad:?}: expected key=value");
        }
        Ok(())
    }

    /// The stop condition: --duration, else --count (default 100000).
    pub(crate) fn stop(&self) -> Stop {
        match self.duration {
            Some(d) => Stop::Duration(Duration::from_secs_f64(d)),
            None => Stop::Count(self.count.unwrap_or(100_000)),
        }
    }

    /// Each producer's queue bound, `(messages, KiB)`: the flags, else the defaults for max
    /// rate ([`MAX_RATE_QUEUE`]) or for a fixed rate ([`FIXED_RATE_QUEUE`]).
    pub(crate) fn max_queued(&self) -> (u64, u64) {
        let (messages, kbytes) = if self.rate.is_some() {
            FIXED_RATE_QUEUE
        } else {
            MAX_RATE_QUEUE
        };
        (
            self.max_queued_messages.unwrap_or(messages),
            self.max_queued_kbytes.unwrap_or(kbytes),
        )
    }

    /// `--timeout` as a duration.
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }
}

/// Splits `total` into `parts` shares that differ by at most one.
pub(crate) fn split(total: u64, parts: usize) -> Vec<u64> {
    let n = parts as u64;
    (0..n)
        .map(|i| total / n + u64::from(i < total % n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_exact() {
        assert_eq!(split(10, 3), vec![4, 3, 3]);
        assert_eq!(split(2, 3), vec![1, 1, 0]);
        assert_eq!(split(20_000, 1), vec![20_000]);
    }

    #[test]
    fn parses_a_full_command_line() {
        let cli = Cli::try_parse_from([
            "minikafka-bench",
            "produce",
            "--bootstrap",
            "h:1",
            "--acks",
            "all",
            "--rate",
            "5000",
            "--count",
            "10",
            "--json",
        ])
        .unwrap();
        let c = cli.mode.common();
        assert_eq!(c.acks, Acks::All);
        assert_eq!(c.stop(), Stop::Count(10));
        assert_eq!(c.rate, Some(5000.0));
        c.validate().unwrap();
        assert!(Cli::try_parse_from(["b", "produce", "--count", "1", "--duration", "1"]).is_err());
    }

    #[test]
    fn the_last_of_repeated_options_wins_and_set_appends() {
        let cli = Cli::try_parse_from([
            "b", "e2e", "--count", "1", "--count", "7", "--assign", "--assign", "--set", "a=1",
            "--set", "b=2",
        ])
        .unwrap();
        let c = cli.mode.common();
        assert_eq!(c.stop(), Stop::Count(7));
        assert!(c.assign);
        assert_eq!(c.set, vec!["a=1", "b=2"]);
    }

    #[test]
    fn the_queue_is_bounded_at_max_rate_only_by_default() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from([&["b", "produce"], args].concat()).unwrap();
            cli.mode.common().max_queued()
        };
        assert_eq!(parse(&[]), MAX_RATE_QUEUE);
        assert_eq!(parse(&["--rate", "10"]), FIXED_RATE_QUEUE);
        assert_eq!(parse(&["--max-queued-kbytes", "8"]), (MAX_RATE_QUEUE.0, 8));
    }
}
