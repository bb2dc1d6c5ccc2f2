//! `kcat` (Debian's kcat 1.7.1 on librdkafka 2.0.2, an older client than the rdkafka crate's)
//! against the broker: list metadata, produce 10 000 lines with lz4, consume them back in order.
//!
//! `ci/test` installs kcat. If it is missing this test fails (it is never skipped silently).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use compat_tests::{create_topic, wire, Broker};

/// Lines produced and expected back.
const LINES: usize = 10_000;
/// The lz4 codec id in record batch attributes.
const LZ4: i16 = 3;
/// Upper bound for one kcat invocation.
const KCAT_TIMEOUT: Duration = Duration::from_secs(60);

/// Finds `kcat` (or its old name `kafkacat`) on PATH, or fails with instructions.
fn kcat_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["kcat", "kafkacat"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "kcat is not installed (not found on PATH). Install it with `apt-get install -y kcat` \
         or run the whole suite with `bash ci/test`, which installs it."
    );
}

/// Runs kcat with `args`, feeding `stdin`, and returns its output. Kills it after
/// [`KCAT_TIMEOUT`] and panics.
fn run_kcat(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(kcat_binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kcat");
    let mut input = child.stdin.take().expect("kcat stdin");
    let data = stdin.to_vec();
    let writer = thread::spawn(move || {
        // kcat may exit early on error; a broken pipe is reported through its exit status.
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().expect("kcat stdout");
    let mut err = child.stderr.take().expect("kcat stderr");
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + KCAT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for kcat") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err_reader.join().unwrap_or_default();
            panic!(
                "kcat {args:?} did not finish within {KCAT_TIMEOUT:?}; stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    writer.join().expect("stdin writer thread");
    Output {
        status,
        stdout: out_reader.join().expect("stdout reader thread"),
        stderr: err_reader.join().expect("stderr reader thread"),
    }
}

fn assert_success(what: &str, out: &Output, broker: &Broker) {
    assert!(
        out.status.success(),
        "{what} failed with {}\nstdout:\n{}\nstderr:\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        broker.log_report()
    );
}

#[test]
fn kcat_metadata_produce_consume_lz4() {
    let kcat = kcat_binary();
    let mut broker = Broker::start(&[]);
    let addr = broker.bootstrap().to_string();
    let topic = "kcat-lz4";
    create_topic(&addr, topic, 1);

    // Metadata: the broker lists itself at the address it listens on, and the topic.
    let out = run_kcat(&["-b", &addr, "-L"], b"");
    assert_success("kcat -L", &out, &broker);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("1 brokers:"),
        "kcat -L should list exactly one broker:\n{listing}"
    );
    assert!(
        listing.contains(&format!("at {addr}")),
        "kcat -L should show the broker at {addr}:\n{listing}"
    );
    assert!(
        listing.contains(&format!("topic \"{topic}\" with 1 partitions")),
        "kcat -L should list {topic} with 1 partition:\n{listing}"
    );

    // Produce 10 000 lines with lz4.
    let lines: Vec<String> = (0..LINES)
        .map(|i| format!("line {i:05} {}", "lz4-compressible ".repeat(1 + i % 7)))
        .collect();
    let mut input = lines.join("\n").into_bytes();
    input.push(b'\n');
    let out = run_kcat(&["-P", "-b", &addr, "-t", topic, "-z", "lz4"], &input);
    assert_success("kcat -P -z lz4", &out, &broker);
    // The broker stores what the producer sent (compression.type=producer), so the batches
    // read back raw must be lz4: proof that kcat's older librdkafka really compressed. The one
    // exception is librdkafka's own: a batch that lz4 would not shrink (a first batch of a line
    // or two, when the machine is busy and the linger ends early) is sent uncompressed.
    let codecs = wire::stored_codecs(&addr, topic, 0, 0, 1 << 20);
    assert!(!codecs.is_empty(), "a raw Fetch returned no complete batch");
    assert!(
        codecs.iter().all(|&c| c == LZ4 || c == 0)
            && codecs.iter().filter(|&&c| c == LZ4).count() * 2 > codecs.len(),
        "kcat -z lz4 batches are stored with codecs {codecs:?}, expected {LZ4} (lz4) but for \
         a few uncompressed ones"
    );

    // Consume everything from the beginning; -e exits at the end of the partition.
    let out = run_kcat(
        &[
            "-C",
            "-b",
            &addr,
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
        ],
        b"",
    );
    assert_success("kcat -C", &out, &broker);
    let text = String::from_utf8(out.stdout).expect("kcat output is UTF-8");
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(
        got.len(),
        LINES,
        "kcat -C returned {} lines, expected {LINES} ({} used)",
        got.len(),
        kcat.display()
    );
    for (n, (g, w)) in got.iter().zip(&lines).enumerate() {
        assert_eq!(g, w, "line {n} differs");
    }
    broker.stop();
}
