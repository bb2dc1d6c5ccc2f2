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
}

#[test]
fn unreachable_broker_is_a_clear_error_not_a_hang() {
    // Port 1 on loopback: nothing listens there.
    let start = Instant::now();
    let out = bench(&[
        "produce",
        "--bootstrap",
        "127.0.0.1:1",
        "--timeout",
        "2",
        "--count",
        "1",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach a broker at"), "{stderr}");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "bounded by --timeout"
    );
}
