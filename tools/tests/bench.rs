//! `minikafka-bench` against a real minikafka broker (the `compat-tests` harness starts
//! `target/<profile>/minikafka`; build it first with `cargo build -p minikafka`).
//!
//! These tests check counts, JSON shape and percentile order, never timings.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use compat_tests::Broker;
use serde_json::Value;

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minikafka-bench"))
        .args(args)
        .output()
        .expect("run minikafka-bench")
}

/// Runs the tool and asserts that it fails with `expected` in its stderr.
fn bench_fails(args: &[&str], expected: &str) {
    let out = bench(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(expected), "{stderr}");
}

/// Runs the tool, asserts success, and parses its JSON result.
fn bench_json(args: &[&str]) -> Value {
    let out = bench(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?} failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
}

fn assert_side(v: &Value, messages: u64, with_latency: bool) {
    assert_eq!(v["messages"], messages, "{v}");
    assert_eq!(v["errors"], 0, "{v}");
    assert!(v["msgs_per_sec"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["mb_per_sec"].as_f64().unwrap() > 0.0, "{v}");
    // The rate is messages over the reported time span.
    let (rate, secs) = (
        v["msgs_per_sec"].as_f64().unwrap(),
        v["seconds"].as_f64().unwrap(),
    );
    #[allow(clippy::cast_precision_loss)]
    let expected = messages as f64;
    assert!((rate * secs - expected).abs() < 1.0, "{v}");
    let l = &v["latency_ms"];
    if !with_latency {
        assert!(l.is_null(), "{v}");
        return;
    }
    let p = |k: &str| l[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {v}"));
    assert_eq!(l["count"], messages, "{v}");
    assert!(p("min") <= p("p50"), "{v}");
    assert!(
        p("p50") <= p("p99") && p("p99") <= p("p99_9") && p("p99_9") <= p("max"),
        "{v}"
    );
}

/// `minikafka-bench MODE --bootstrap B --topic T EXTRA... --json`.
fn run_mode(mode: &str, broker: &Broker, topic: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        mode,
        "--bootstrap",
        broker.bootstrap(),
        "--topic",
        topic,
        "--json",
    ];
    args.extend_from_slice(extra);
    bench_json(&args)
}

#[test]
fn produce_then_consume_exact_counts_and_ordered_percentiles() {
    let broker = Broker::start(&[]);
    let p = run_mode(
        "produce",
        &broker,
        "bench-a",
        &["--count", "20000", "--partitions", "2", "--producers", "2"],
    );
    assert_eq!(p["mode"], "produce");
    assert_eq!(
        p["settings"]["partitions"], 2,
        "topic created with --partitions"
    );
    assert!(p["consume"].is_null() && p["error"].is_null(), "{p}");
    assert_side(&p["produce"], 20_000, true);

    let c = run_mode("consume", &broker, "bench-a", &["--count", "20000"]);
    assert_eq!(c["settings"]["consumer_mode"], "group");
    assert!(c["produce"].is_null(), "{c}");
    assert_side(&c["consume"], 20_000, false);
}

#[test]
fn e2e_at_a_fixed_rate_measures_end_to_end_latency() {
    let broker = Broker::start(&[]);
    let v = run_mode(
        "e2e",
        &broker,
        "bench-e2e",
        &["--count", "2000", "--rate", "4000", "--acks", "all"],
    );
    assert_side(&v["produce"], 2000, true);
    assert_side(&v["consume"], 2000, true);
    assert_eq!(v["settings"]["rate"], 4000.0);
    assert_eq!(v["settings"]["consumer_mode"], "group");
}

#[test]
fn unreachable_broker_is_a_clear_error_not_a_hang() {
    // Port 1 on loopback: nothing listens there.
    let start = Instant::now();
    bench_fails(
        &[
            "produce",
            "--bootstrap",
            "127.0.0.1:1",
            "--timeout",
            "2",
            "--count",
            "1",
        ],
        "cannot reach a broker at",
    );
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "bounded by --timeout"
    );
}

#[test]
fn e2e_in_a_consumer_group_counts_exactly_and_starts_at_the_end() {
    // No initial rebalance delay: the test is about counts, not about the join.
    let broker = Broker::start(&["--set", "group.initial.rebalance.delay.ms=0"]);
    let group_run = |count: &str| {
        run_mode(
            "e2e",
            &broker,
            "bench-e2e-group",
            &[
                "--count",
                count,
                "--partitions",
                "3",
                "--producers",
                "2",
                "--consumers",
                "2",
                "--group",
                "bench-e2e-g",
            ],
        )
    };
    let v = group_run("3000");
    assert_eq!(v["settings"]["consumer_mode"], "group", "{v}");
    assert_side(&v["produce"], 3000, true);
    assert_side(&v["consume"], 3000, true);
    // Same group and topic again: only this run's messages, none of the 3000 already there.
    let v = group_run("1000");
    assert_side(&v["produce"], 1000, true);
    assert_side(&v["consume"], 1000, true);
}

#[test]
fn idle_timeout_starts_after_the_group_join() {
    // The broker holds the first join of an empty group for 3 s, longer than --idle-timeout.
    let broker = Broker::start(&["--set", "group.initial.rebalance.delay.ms=3000"]);
    let p = run_mode("produce", &broker, "bench-join", &["--count", "500"]);
    assert_side(&p["produce"], 500, true);
    let c = run_mode(
        "consume",
        &broker,
        "bench-join",
        &["--count", "500", "--idle-timeout", "1"],
    );
    assert_side(&c["consume"], 500, false);

    // The join itself is bounded by --join-timeout.
    bench_fails(
        &[
            "consume",
            "--bootstrap",
            broker.bootstrap(),
            "--topic",
            "bench-join",
            "--count",
            "500",
            "--join-timeout",
            "0.5",
        ],
        "--join-timeout",
    );
}

#[test]
fn repeated_options_last_one_wins_and_set_appends() {
    let broker = Broker::start(&[]);
    let v = run_mode(
        "produce",
        &broker,
        "bench-repeat",
        &[
            "--count",
            "5",
            "--count",
            "300",
            "--message-size",
            "10",
            "--message-size",
            "20",
            "--json",
            "--set",
            "queue.buffering.max.messages=1234",
            "--set",
            "queue.buffering.max.kbytes=77",
        ],
    );
    assert_side(&v["produce"], 300, true);
    assert_eq!(v["produce"]["bytes"], 300 * 20, "{v}");
    let s = &v["settings"];
    assert_eq!(s["message_size"], 20, "{v}");
    assert_eq!(s["max_queued_messages"], 1234, "{v}");
    assert_eq!(s["max_queued_kbytes"], 77, "{v}");
}

#[test]
fn max_rate_bounds_the_producer_queue_by_default() {
    let broker = Broker::start(&[]);
    let v = run_mode("produce", &broker, "bench-queue", &["--count", "100"]);
    assert_side(&v["produce"], 100, true);
    assert_eq!(v["settings"]["max_queued_messages"], 100_000, "{v}");
    assert_eq!(v["settings"]["max_queued_kbytes"], 4096, "{v}");
    let includes = v["produce"]["latency_includes"].as_str().unwrap();
    assert!(includes.contains("4096 KiB"), "{v}");
    // A run this short may end before librdkafka's first statistics (every second).
    let client = &v["produce"]["client_latency_ms"];
    assert!(client.is_null() || client.is_object(), "{v}");
    let v = run_mode(
        "produce",
        &broker,
        "bench-queue",
        &[
            "--count",
            "100",
            "--rate",
            "10000",
            "--max-queued-kbytes",
            "512",
        ],
    );
    assert_eq!(v["settings"]["max_queued_messages"], 1_000_000, "{v}");
    assert_eq!(v["settings"]["max_queued_kbytes"], 512, "{v}");
}

#[test]
fn topic_config_is_applied_when_the_topic_is_created() {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::ClientConfig;

    let broker = Broker::start(&[]);
    let v = run_mode(
        "produce",
        &broker,
        "bench-topic-config",
        &[
            "--count",
            "50",
            "--partitions",
            "2",
            "--topic-config",
            "flush.messages=1",
            "--topic-config",
            "retention.ms=86400000",
        ],
    );
    assert_side(&v["produce"], 50, true);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let described = rt
        .block_on(admin.describe_configs(
            [&ResourceSpecifier::Topic("bench-topic-config")],
            &AdminOptions::new().request_timeout(Some(Duration::from_secs(10))),
        ))
        .unwrap();
    let resource = described.into_iter().next().unwrap().unwrap();
    let value = |name: &str| {
        resource
            .get(name)
            .and_then(|e| e.value.clone())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(value("flush.messages"), "1");
    assert_eq!(value("retention.ms"), "86400000");
    bench_fails(
        &[
            "produce",
            "--bootstrap",
            broker.bootstrap(),
            "--topic",
            "bench-topic-config-bad",
            "--count",
            "1",
            "--topic-config",
            "no-equals-sign",
        ],
        "expected KEY=VALUE",
    );
}
