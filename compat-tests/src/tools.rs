//! Other Kafka clients run as child processes: Debian's `kcat`, and Kafka's own Java tools
//! (`kafka-topics`, `kafka-console-consumer`, … as main classes on the classpath that
//! `ci/kafka-reference classpath` prints), each bounded in time.
//!
//! These helpers are shared by the tests that need them from more than one file (the cluster
//! tests); `tests/kcat.rs`, `tests/consumer_groups.rs` and `tests/admin_tools.rs` still carry
//! their own copies of the same few lines.
//!
//! A missing `kcat` fails the test ([`kcat_binary`] panics with how to install it), as in
//! `tests/kcat.rs`. Kafka's jars need Java and a download from Maven Central on first use, so
//! [`kafka_classpath`] returns an error instead and the caller decides whether the step is
//! optional.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Upper bound for one `kcat` invocation.
pub const KCAT_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound for one Java tool invocation, in seconds (coreutils `timeout`).
pub const JAVA_TOOL_TIMEOUT_SECS: u32 = 120;

/// Finds `kcat` (or its old name `kafkacat`) on PATH, or panics with how to install it.
#[must_use]
pub fn kcat_binary() -> PathBuf {
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

/// Runs `kcat` with `args`, feeding it `stdin`, and returns its exit status and output.
/// Kills it and panics after [`KCAT_TIMEOUT`].
#[must_use]
pub fn run_kcat(args: &[&str], stdin: &[u8]) -> Output {
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

/// The classpath of Kafka's jars, from `ci/kafka-reference classpath` (which downloads them on
/// first use), or why it is not available (no Java, no jars, the download failed).
pub fn kafka_classpath() -> Result<String, String> {
    let java = Command::new("java")
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("java cannot run: {e}"))?;
    if !java.status.success() {
        return Err(format!("`java -version` failed: {}", java.status));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/kafka-reference");
    let out = Command::new(&script)
        .arg("classpath")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} classpath failed with {}: {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .ok_or_else(|| "ci/kafka-reference classpath printed nothing".to_string())
}

/// Runs one of Kafka's Java tools (`main`, a main class such as
/// `org.apache.kafka.tools.TopicCommand`) with `args`, stdin closed, bounded by
/// [`JAVA_TOOL_TIMEOUT_SECS`] (exit status 124 on timeout). JVM flags as in `ci/java-tools-compat`:
/// a small heap, serial GC, C1 only (start-up matters more than peak speed).
#[must_use]
pub fn run_java_tool(classpath: &str, main: &str, args: &[&str]) -> Output {
    java_command(classpath, main, args)
        .stdin(Stdio::null())
        .output()
        .expect("run java through coreutils timeout")
}

/// The bounded `java` command line of [`run_java_tool`].
fn java_command(classpath: &str, main: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg(JAVA_TOOL_TIMEOUT_SECS.to_string())
        .args([
            "java",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-cp",
            classpath,
            main,
        ])
        .args(args);
    cmd
}

/// [`run_java_tool`] with `input` on its stdin (then closed): `kafka-console-producer`.
#[must_use]
pub fn run_java_tool_with_input(
    classpath: &str,
    main: &str,
    args: &[&str],
    input: &[u8],
) -> Output {
    let mut child = java_command(classpath, main, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run java through coreutils timeout");
    let mut stdin = child.stdin.take().expect("java tool stdin");
    let data = input.to_vec();
    let writer = thread::spawn(move || {
        // The tool may exit early on error; its exit status says so.
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for the java tool");
    writer.join().expect("stdin writer thread");
    out
}

/// Stdout and stderr of a finished tool, for assertion messages.
#[must_use]
pub fn output_text(out: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
