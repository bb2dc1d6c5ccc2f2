#!/usr/bin/env python3
"""Turns a ci/bench-vs-kafka results directory into table.md and bench.png.

    bench-plot.py OUT [--doc BENCHMARKS.md] [--png-copy docs/bench.png]

Reads OUT/{minikafka,kafka}/*.json (minikafka-bench --json results with the broker's RSS and
CPU added by the script, startup.json, the ProducerPerformance summary) and OUT/run.json.
Writes OUT/table.md (machine, side-by-side table, targets) and OUT/bench.png. With --doc it
replaces the sections between the `<!-- bench-*-begin -->` / `<!-- bench-*-end -->` markers
of that file and copies the PNG to --png-copy. Every figure comes from the JSON files.
"""

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys

BROKERS = ("minikafka", "kafka")
NAMES = {"minikafka": "minikafka", "kafka": "Apache Kafka"}

# (file, label, side of the JSON to read)
SCENARIOS = [
    ("produce-100b-acks1", "produce 100 B, acks=1", "produce"),
    ("produce-1k-acksall", "produce 1 KiB, acks=all", "produce"),
    ("consume-1k", "consume 1 KiB from the beginning", "consume"),
    ("latency-50k", "produce→ack latency, 1 KiB acks=all at a fixed rate", "produce"),
    ("fsync-16p", "16 producers, 1 partition, fsync before every ack (flush.messages=1), 1 KiB acks=all", "produce"),
    ("group-64p", "64 partitions: 4 producers (1 KiB, acks=all) …", "produce"),
    ("group-64p-consume", "… and a consumer group at the same time", "consume"),
    ("xcheck-bench", "cross-check: 1 producer, 1 KiB acks=all, minikafka-bench", "produce"),
    ("xcheck-perf-test", "cross-check: the same with kafka-producer-perf-test", "produce"),
]


def load(out, broker, name):
    try:
        with open(os.path.join(out, broker, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def side(result, key):
    if not result:
        return None
    return result.get(key)


def p99(s):
    lat = (s or {}).get("latency_ms") or {}
    return lat.get("p99")


def fmt_int(x):
    return "–" if x is None else f"{x:,.0f}"


def fmt_num(x, digits=1):
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}" if x >= 1 else f"{x:.{digits + 1}f}"


def fmt_ratio(x):
    return "–" if x is None else f"{x:.2f}×"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def cell(s, show_lat=True):
    if not s:
        return "failed"
    parts = [f"{fmt_int(s.get('msgs_per_sec'))} msg/s", f"{fmt_num(s.get('mb_per_sec'))} MB/s"]
    if show_lat and p99(s) is not None:
        parts.append(f"p99 {fmt_num(p99(s), 2)} ms")
    return " · ".join(parts)


def error_note(result):
    if not result:
        return "no result"
    err = result.get("error")
    if err:
        return str(err)
    if result.get("exit_status"):
        return f"exit status {result['exit_status']}"
    return None


def machine():
    """Markdown lines describing this machine (from /proc, lscpu, lsblk, uname)."""
    def run(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    cpu = re.search(r"^Model name:\s*(.+)$", run("lscpu"), re.M)
    cores = os.cpu_count()
    threads = re.search(r"^Thread\(s\) per core:\s*(\d+)", run("lscpu"), re.M)
    with open("/proc/meminfo") as f:
        mem_kib = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    src = run("df", "-h", "--output=source,fstype,size", os.getcwd()).splitlines()
    disk = src[-1].split() if len(src) > 1 else ["?", "?", "?"]
    dev = os.path.basename(disk[0])
    base = re.sub(r"p?\d+$", "", dev) if not dev.startswith("vd") else re.sub(r"\d+$", "", dev)
    blk = run("lsblk", "-dno", "NAME,MODEL,ROTA,SIZE", "/dev/" + base).split()
    rota = blk[-2] if len(blk) >= 3 else "?"
    model = " ".join(blk[1:-2]) if len(blk) > 3 else "(no model reported)"
    kind = {"0": "reported non-rotational", "1": "reported rotational"}.get(rota, "type unknown")
    if base.startswith("vd"):
        kind += " (a virtio disk of a VM: the medium behind it is not visible)"
    return [
        f"- CPU: {cpu.group(1).strip() if cpu else platform.processor()}, {cores} logical cores"
        + (f" ({threads.group(1)} thread(s) per core)" if threads else ""),
        f"- RAM: {mem_kib / 1048576:.1f} GiB",
        f"- Disk: {disk[0]} ({disk[1]}, {disk[2]}), {model}, {kind}",
        f"- Kernel: {platform.system()} {platform.release()}",
    ]


def build(out):
    run = json.load(open(os.path.join(out, "run.json")))
    res = {b: {name: load(out, b, name) for name, _, _ in SCENARIOS} for b in BROKERS}
    start = {b: load(out, b, "startup") for b in BROKERS}

    rows = []  # for the plot: (label, {broker: (throughput MB/s, p99 ms)})
    lines = [
        "| scenario | minikafka | Apache Kafka | throughput minikafka/Kafka | p99 Kafka/minikafka |",
        "|---|---|---|---:|---:|",
    ]
    ratios = {}
    for name, label, key in SCENARIOS:
        if name == "latency-50k":
            label = f"produce→ack latency, 1 KiB acks=all at {run['lat_rate']:,} msg/s (linger.ms=0)"
        s = {b: side(res[b][name], key) for b in BROKERS}
        show_lat = key == "produce"
        tr = ratio((s["minikafka"] or {}).get("mb_per_sec"), (s["kafka"] or {}).get("mb_per_sec"))
        pr = ratio(p99(s["kafka"]), p99(s["minikafka"])) if show_lat else None
        if name == "latency-50k":
            tr = None  # a fixed rate: the throughput is the rate, not a result
        ratios[name] = (tr, pr)
        notes = [f"{NAMES[b]}: {error_note(res[b][name])}" for b in BROKERS if error_note(res[b][name])]
        lines.append(
            f"| {label}{' (' + '; '.join(notes) + ')' if notes else ''} | {cell(s['minikafka'], show_lat)} "
            f"| {cell(s['kafka'], show_lat)} | {fmt_ratio(tr)} | {fmt_ratio(pr)} |"
        )
        rows.append((name, label, {b: ((s[b] or {}).get("mb_per_sec"), p99(s[b]) if show_lat else None) for b in BROKERS}))

    def stat(b, k):
        return (start[b] or {}).get(k)

    ready = {b: stat(b, "ready_ms") for b in BROKERS}
    kcat = {b: stat(b, "kcat_alone_ms") for b in BROKERS}
    idle = {b: (stat(b, "idle_rss_kib") or 0) / 1024 or None for b in BROKERS}
    peak = {}
    for b in BROKERS:
        vals = [r.get("broker_rss_peak_kib") for r in res[b].values() if r and r.get("broker_rss_peak_kib")]
        peak[b] = max(vals) / 1024 if vals else None
    lines.append(
        f"| process start → first successful produce, empty data dir (kcat alone: "
        f"{kcat['minikafka']} / {kcat['kafka']} ms) | {fmt_int(ready['minikafka'])} ms | {fmt_int(ready['kafka'])} ms "
        f"| – | {fmt_ratio(ratio(ready['kafka'], ready['minikafka']))} (time) |"
    )
    log_ready = {b: stat(b, "log_ready_ms") for b in BROKERS}
    if any(v is not None for v in log_ready.values()):
        lines.append(
            f"| process start → the broker's own \"started\" log line | {fmt_int(log_ready['minikafka'])} ms "
            f"| {fmt_int(log_ready['kafka'])} ms | – | – |"
        )
    lines.append(
        f"| idle RSS (VmRSS 3 s after the first produce) | {fmt_num(idle['minikafka'])} MiB | {fmt_num(idle['kafka'])} MiB "
        f"| – | {fmt_ratio(ratio(idle['kafka'], idle['minikafka']))} (RSS) |"
    )
    lines.append(
        f"| peak RSS under load (all scenarios above) | {fmt_num(peak['minikafka'])} MiB | {fmt_num(peak['kafka'])} MiB "
        f"| – | {fmt_ratio(ratio(peak['kafka'], peak['minikafka']))} (RSS) |"
    )

    # Zero-copy fetch: the same consume from a minikafka that copies every fetched range.
    zc, cp = side(load(out, "minikafka", "consume-1k"), "consume"), side(load(out, "minikafka", "consume-1k-copied"), "consume")
    if zc and cp:
        def cores(name):
            return (load(out, "minikafka", name) or {}).get("broker_cpu_cores")
        lines += [
            "",
            "Zero-copy fetch (minikafka only): consume 1 KiB from the beginning, records sent from the segment files "
            "with sendfile (the default) against copied through user space (`fetch.zero.copy.min.bytes=2147483647`):",
            "",
            "| fetch path | consume | broker CPU, cores | zero-copy/copied throughput |",
            "|---|---|---:|---:|",
            f"| sendfile (default) | {cell(zc, False)} | {fmt_num(cores('consume-1k'), 2)} "
            f"| {fmt_ratio(ratio(zc.get('mb_per_sec'), cp.get('mb_per_sec')))} |",
            f"| copied | {cell(cp, False)} | {fmt_num(cores('consume-1k-copied'), 2)} | – |",
        ]

    # CPU: who was busy (broker process vs the benchmark client), in cores of the 2.
    cpu = ["| scenario | minikafka: broker / client | Kafka: broker / client | whole machine busy / iowait / idle, minikafka run | … Kafka run | wall s (minikafka / Kafka) |",
           "|---|---:|---:|---:|---:|---:|"]
    for name, label, _ in SCENARIOS:
        if name in ("group-64p-consume", "xcheck-perf-test"):
            continue
        def c(b):
            r = res[b][name] or {}
            if r.get("broker_cpu_cores") is None:
                return "–"
            return f"{r['broker_cpu_cores']:.2f} / {r['client_cpu_cores']:.2f}"
        def m(b):
            mc = (res[b][name] or {}).get("machine_cpu_cores")
            return f"{mc['busy']:.2f} / {mc['iowait']:.2f} / {mc['idle']:.2f}" if mc else "–"
        w = " / ".join(f"{(res[b][name] or {}).get('wall_seconds', 0):.0f}" for b in BROKERS)
        cpu.append(f"| {name} | {c('minikafka')} | {c('kafka')} | {m('minikafka')} | {m('kafka')} | {w} |")

    # Targets of issue 6.
    mk = {name: side(res["minikafka"][name], key) or {} for name, _, key in SCENARIOS}

    def verdict(value, target, higher_better=True, unit=""):
        if value is None:
            return "–", "no result"
        ok = value >= target if higher_better else value <= target
        if ok:
            return fmt_num(value, 2) + unit, "met"
        if higher_better:
            return fmt_num(value, 2) + unit, f"missed by {(1 - value / target) * 100:.0f}% ({fmt_num(target - value, 2)}{unit} short)"
        return fmt_num(value, 2) + unit, f"missed by {value / target:.1f}× ({fmt_num(value - target, 2)}{unit} over)"

    tg = ["| target | minikafka measured | met? |", "|---|---:|---|"]

    def add(label, value, target, higher=True, unit=""):
        v, m = verdict(value, target, higher, unit)
        tg.append(f"| {label} | {v} | {m} |")

    m100 = mk["produce-100b-acks1"].get("msgs_per_sec")
    add("produce 100 B acks=1 ≥ 3.5 M msg/s", m100 / 1e6 if m100 else None, 3.5, unit=" M msg/s")
    add("produce 1 KiB acks=all ≥ 1.2 GB/s", mk["produce-1k-acksall"].get("mb_per_sec"), 1200, unit=" MB/s")
    add("consume 1 KiB ≥ 1.5 GB/s", mk["consume-1k"].get("mb_per_sec"), 1500, unit=" MB/s")
    lat = mk["latency-50k"]
    add(f"produce→ack p99 ≤ 1 ms at {run['lat_rate']:,} msg/s, 1 KiB acks=all "
        f"(achieved {fmt_int(lat.get('msgs_per_sec'))} msg/s)", p99(lat), 1.0, higher=False, unit=" ms")
    for name, label, key in SCENARIOS:
        tr, pr = ratios[name]
        if name != "latency-50k":
            add(f"≥ 1.3× Kafka's throughput: {name}", tr, 1.3, unit="×")
        if key == "produce":
            add(f"≤ 1/3 of Kafka's p99 (Kafka/minikafka ≥ 3×): {name}", pr, 3.0, unit="×")
    add(f"ready ≤ 50 ms after start, empty data dir (includes kcat's own {kcat['minikafka']} ms)",
        ready["minikafka"], 50, higher=False, unit=" ms")
    add("idle RSS ≤ 20 MiB", idle["minikafka"], 20, higher=False, unit=" MiB")

    settings = (
        f"Run of {run['date']} at commit `{run['commit']}`"
        f"{' (quick run)' if run['quick'] else ''}: Apache Kafka {run['kafka_version']} (heap `{run['kafka_heap']}`), "
        f"client minikafka-bench (librdkafka). Max-rate scenarios: {run['duration']} s after {run['warmup']} s warmup, "
        f"{run['partitions']} partitions, {run['producers']} producer threads, linger.ms 5; "
        f"latency: {run['lat_duration']} s at {run['lat_rate']:,} msg/s, 1 producer, linger.ms 0; "
        f"64 partitions: {run['group_count']:,} messages, {run['group_consumers']} consumers in the group; "
        f"cross-check: {run['xcheck_records']:,} records. Load average (1/5/15 min) at start {run['load_start']}, "
        f"at end {run['load_end']}."
    )
    return {
        "machine": "\n".join(machine()),
        "table": "\n".join([settings, "", *lines, "", "CPU used during each run, in cores (the machine has "
                            f"{os.cpu_count()}; warmup included; \"whole machine\" counts all processes, other work included):", "", *cpu]),
        "targets": "\n".join(tg),
        "rows": rows,
        "extra": {"ready": ready, "idle": idle, "peak": peak},
        "run": run,
    }


def plot(report, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = report["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.6 * len(rows) + 2.5))
    colors = {"minikafka": "#d9534f", "kafka": "#337ab7"}
    labels = [name for name, _, _ in rows]
    h = 0.38
    for col, (ax, title, unit) in enumerate(
        zip(axes, ("throughput (MB/s, higher is better)", "p99 produce→ack latency (ms, lower is better)"), ("MB/s", "ms"))
    ):
        for i, b in enumerate(BROKERS):
            ys = [j + (i - 0.5) * h for j in range(len(rows))]
            vals = [r[2][b][col] or 0 for r in rows]
            bars = ax.barh(ys, vals, height=h, color=colors[b], label=NAMES[b])
            for bar, v in zip(bars, vals):
                if v:
                    ax.text(bar.get_width(), bar.get_y() + h / 2, f" {v:,.1f}", va="center", fontsize=8)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(labels if col == 0 else [""] * len(rows))
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlabel(unit)
        if col == 1:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.margins(x=0.2)
    axes[0].legend(loc="lower right")
    run = report["run"]
    ex = report["extra"]
    fig.suptitle(
        f"minikafka vs Apache Kafka {run['kafka_version']} — {run['date']}, {os.cpu_count()} cores"
        f"{' (quick run)' if run['quick'] else ''}\n"
        f"ready after start: {ex['ready']['minikafka']} ms vs {ex['ready']['kafka']} ms; "
        f"idle RSS {ex['idle']['minikafka'] or 0:.1f} vs {ex['idle']['kafka'] or 0:.0f} MiB; "
        f"peak RSS {ex['peak']['minikafka'] or 0:.0f} vs {ex['peak']['kafka'] or 0:.0f} MiB",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def replace_section(text, name, body):
    begin, end = f"<!-- bench-{name}-begin -->", f"<!-- bench-{name}-end -->"
    pat = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pat.search(text):
        sys.exit(f"bench-plot: markers {begin} / {end} missing")
    return pat.sub(lambda _: f"{begin}\n{body}\n{end}", text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--doc")
    ap.add_argument("--png-copy")
    a = ap.parse_args()
    report = build(a.out)
    md = "\n\n".join(["## Machine", report["machine"], "## Results", report["table"], "## Targets", report["targets"]])
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(md + "\n")
    png = os.path.join(a.out, "bench.png")
    try:
        plot(report, png)
    except ImportError as e:
        print(f"bench-plot: no plot ({e})", file=sys.stderr)
        png = None
    if a.doc:
        text = open(a.doc).read()
        for name in ("machine", "table", "targets"):
            text = replace_section(text, name, report[name])
        with open(a.doc, "w") as f:
            f.write(text)
        if a.png_copy and png:
            os.makedirs(os.path.dirname(a.png_copy), exist_ok=True)
            shutil.copyfile(png, a.png_copy)


if __name__ == "__main__":
    main()
