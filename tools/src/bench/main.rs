//! `minikafka-bench`: a throughput and latency benchmark for any Kafka-compatible broker
//! (minikafka, Apache Kafka, ...), built on librdkafka through the `rdkafka` crate.
//!
//! ```text
//! minikafka-bench produce --bootstrap HOST:PORT [--topic T] [--message-size B] [--count N | --duration S]
//!                         [--producers N] [--acks 0|1|all] [--compression C] [--linger-ms MS]
//!                         [--batch-size B] [--idempotence] [--rate MSG/S] [--warmup S] [--json]
//!                         [--max-queued-messages N] [--max-queued-kbytes KIB]
//! minikafka-bench consume ... [--consumers N] [--group G | --assign] [--join-timeout S]
//! minikafka-bench e2e ...     (producers and consumers together: end-to-end latency)
//! ```
//!
//! Layout: [`args`] (the CLI), [`client`] (rdkafka configs, reachability, topic creation),
//! [`schedule`] (rate pacing without coordinated omission), [`produce`] and [`consume`]
//! (the worker threads), [`stats`] (HDR histograms and the report), [`progress`] (the live
//! stderr line).

mod args;
mod client;
mod consume;
mod produce;
mod progress;
mod schedule;
mod stats;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use rdkafka::Offset;

use crate::args::{split, Cli, Common, Mode, Stop};
use crate::consume::Source;
use crate::schedule::{duration_ns, Clock};
use crate::stats::{Counters, Measured, Report, Settings, Throughput};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.mode.common().json;
    match run(&cli.mode) {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&report).expect("report serializes")
                );
            } else {
                print!("{}", report.human());
            }
            if let Some(e) = &report.error {
                eprintln!("minikafka-bench: error: {e}");
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("minikafka-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark the arguments describe.
fn run(mode: &Mode) -> Result<Report> {
    let c = mode.common();
    c.validate()?;
    let partitions = client::prepare_topic(c)?;
    let clock = Clock::new();
    let counters = Arc::new(Counters::default());
    let progress = progress::Progress::start(Arc::clone(&counters));
    let result = match mode {
        Mode::Produce(_) => {
            run_producers(c, clock, &counters, clock.now_ns()).map(|p| (Some(p), None, None))
        }
        Mode::Consume(_) => {
            let source: Vec<Source> = if c.assign {
                consume::round_robin(partitions, c.consumers, |_| Offset::Beginning)
                    .into_iter()
                    .map(Source::Assign)
                    .collect()
            } else {
                vec![Source::Group; c.consumers]
            };
            let (m, err) = run_consumers(c, clock, &counters, source, false);
            Ok((None, Some(m), err))
        }
        Mode::E2e(_) => run_e2e(c, clock, &counters, partitions),
    };
    progress.finish();
    let (produce, consume, consumer_error) = result?;
    let error = consumer_error.or_else(|| counters.first_error.lock().ok()?.clone());
    let error = error.or_else(|| {
        let failed = Counters::get(&counters.failed);
        (failed > 0).then(|| format!("{failed} deliveries failed"))
    });
    Ok(Report {
        mode: mode.name(),
        bootstrap: c.bootstrap.clone(),
        topic: c.topic.clone(),
        settings: settings(c, partitions),
        produce: produce.map(|m| Throughput {
            latency_includes: Some(produce_latency_includes(c)),
            ..m.summary()
        }),
        consume: consume.map(|m| {
            let t = m.summary();
            let e2e = t.latency_ms.is_some();
            Throughput {
                latency_includes: e2e.then(|| E2E_LATENCY_INCLUDES.to_string()),
                ..t
            }
        }),
        error,
    })
}

/// What e2e latency spans.
const E2E_LATENCY_INCLUDES: &str =
    "intended send time to receipt by a consumer: producer queue, broker, consumer fetch";

/// What produce→ack latency spans with these arguments.
fn produce_latency_includes(c: &Common) -> String {
    let (messages, kbytes) = queue_bound(c);
    let queue = format!(
        "the wait in the producer's librdkafka queue (at most {} messages / {} KiB per producer)",
        messages.map_or("?".to_string(), |m| m.to_string()),
        kbytes.map_or("?".to_string(), |k| k.to_string()),
    );
    match c.rate {
        Some(_) => format!(
            "intended send time on the --rate schedule to ack: time behind schedule, {queue}, \
             linger.ms, network and broker"
        ),
        None => format!("send() to ack: {queue}, linger.ms, network and broker"),
    }
}

/// Each producer's effective queue bound, `(messages, KiB)`, `--set` overrides included.
fn queue_bound(c: &Common) -> (Option<u64>, Option<u64>) {
    let config = client::producer_config(c);
    let get = |k: &str| config.get(k).and_then(|v| v.trim().parse().ok());
    (
        get("queue.buffering.max.messages"),
        get("queue.buffering.max.kbytes"),
    )
}

/// The result's `settings` block.
fn settings(c: &Common, partitions: usize) -> Settings {
    let (max_queued_messages, max_queued_kbytes) = queue_bound(c);
    Settings {
        partitions,
        message_size: c.message_size,
        producers: c.producers,
        consumers: c.consumers,
        acks: c.acks.as_config().to_string(),
        compression: c.compression.clone(),
        linger_ms: c.linger_ms,
        batch_size: c.batch_size,
        idempotence: c.idempotence,
        rate: c.rate,
        max_queued_messages,
        max_queued_kbytes,
        warmup: c.warmup,
        consumer_mode: if c.assign { "assign" } else { "group" },
    }
}

/// Runs `--producers` threads to completion and merges what they measured.
/// Their schedules start at `run_start_ns`; measuring starts `--warmup` later.
fn run_producers(
    c: &Common,
    clock: Clock,
    counters: &Arc<Counters>,
    run_start_ns: u64,
) -> Result<Measured> {
    let config = client::producer_config(c);
    let measure_start_ns = warmup_end(c, run_start_ns);
    let stops: Vec<Stop> = match c.stop() {
        Stop::Count(n) => split(n, c.producers).into_iter().map(Stop::Count).collect(),
        d @ Stop::Duration(_) => vec![d; c.producers],
    };
    #[allow(clippy::cast_precision_loss)]
    let rate = c.rate.map(|r| r / c.producers as f64);
    let results: Vec<Result<Measured>> = thread::scope(|s| {
        let handles: Vec<_> = stops
            .into_iter()
            .map(|stop| {
                let plan = produce::Plan {
                    topic: c.topic.clone(),
                    message_size: c.message_size,
                    run_start_ns,
                    measure_start_ns,
                    stop,
                    rate,
                    clock,
                };
                let config = &config;
                s.spawn(move || produce::run(config, &plan, counters))
            })
            .collect();
        handles.into_iter().map(join).collect()
    });
    counters.producers_done.store(true, Ordering::Release);
    let mut total = Measured::new(measure_start_ns);
    for r in results {
        total.merge(&r?);
    }
    Ok(total)
}

/// Runs one consumer thread per source until they stop; returns the merged measurement and
/// the first consumer error (the measurement so far is still reported).
fn run_consumers(
    c: &Common,
    clock: Clock,
    counters: &Counters,
    sources: Vec<Source>,
    e2e: bool,
) -> (Measured, Option<String>) {
    let group = c
        .group
        .clone()
        .unwrap_or_else(|| format!("minikafka-bench-{}-{}", std::process::id(), clock.now_ns()));
    let config = client::consumer_config(c, &group);
    let results: Vec<Result<Measured>> = thread::scope(|s| {
        let handles: Vec<_> = sources
            .into_iter()
            .map(|source| {
                let plan = consume::Plan {
                    topic: c.topic.clone(),
                    source,
                    stop: (!e2e).then(|| c.stop()),
                    warmup: Duration::from_secs_f64(c.warmup),
                    e2e,
                    idle_timeout: Duration::from_secs_f64(c.idle_timeout),
                    join_timeout: Duration::from_secs_f64(c.join_timeout),
                    clock,
                };
                let config = &config;
                s.spawn(move || consume::run(config, &plan, counters))
            })
            .collect();
        handles.into_iter().map(join).collect()
    });
    // Consume mode measures each thread from its own first message: merge only threads that
    // received something, so idle ones do not stretch the time span.
    let mut total: Option<Measured> = None;
    let mut error = None;
    for r in results {
        match r {
            Ok(m) if m.messages > 0 || e2e => match &mut total {
                Some(t) => t.merge(&m),
                None => total = Some(m),
            },
            Ok(_) => {}
            Err(e) => {
                error.get_or_insert(format!("consumer: {e:#}"));
            }
        }
    }
    let total = total.unwrap_or_else(|| Measured::new(clock.now_ns()));
    (total, error)
}

/// Produced/consumed measurements plus a consumer error.
type Sides = (Option<Measured>, Option<Measured>, Option<String>);

/// e2e: consumers start at the current end of every partition (assigned round-robin, or in a
/// group); once they all have their partitions, the producers run.
fn run_e2e(c: &Common, clock: Clock, counters: &Arc<Counters>, partitions: usize) -> Result<Sides> {
    let high = client::high_watermarks(c, partitions)?;
    let sources = if c.assign {
        consume::round_robin(partitions, c.consumers, |p| Offset::Offset(high[p]))
            .into_iter()
            .map(Source::Assign)
            .collect()
    } else {
        vec![Source::GroupFrom(Arc::new(consume::Positions::new(&high))); c.consumers]
    };
    thread::scope(|s| {
        let consumers = s.spawn(|| run_consumers(c, clock, counters, sources, true));
        // A message sent before its consumer has joined would wait for the join: start
        // producing once every consumer has its partitions (or one gave up: --join-timeout).
        while Counters::get(&counters.joined) < c.consumers as u64
            && !counters.stop_consumers.load(Ordering::Relaxed)
        {
            thread::sleep(Duration::from_millis(10));
        }
        let run_start_ns = clock.now_ns();
        let measure_start_ns = warmup_end(c, run_start_ns);
        counters
            .measure_start_ns
            .store(measure_start_ns, Ordering::Relaxed);
        let produced = if counters.stop_consumers.load(Ordering::Relaxed) {
            Ok(Measured::new(run_start_ns))
        } else {
            run_producers(c, clock, counters, run_start_ns)
        };
        if produced.is_err() {
            counters.stop_consumers.store(true, Ordering::Relaxed);
        }
        let (mut consumed, error) = join(consumers);
        consumed.start_ns = measure_start_ns;
        consumed.end_ns = consumed.end_ns.max(measure_start_ns);
        Ok((Some(produced?), Some(consumed), error))
    })
}

/// When measuring starts for a run starting at `run_start_ns`.
fn warmup_end(c: &Common, run_start_ns: u64) -> u64 {
    run_start_ns + duration_ns(Duration::from_secs_f64(c.warmup))
}

/// Joins a worker thread, re-raising its panic.
fn join<T>(h: thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}
