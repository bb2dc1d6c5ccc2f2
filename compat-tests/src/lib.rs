//! Test harness for running real Kafka clients against the real `minikafka` binary.
//!
//! Every integration test in `compat-tests/tests/` starts its own broker process with
//! [`Broker::start`], talks to it over TCP on 127.0.0.1 with real clients (librdkafka through
//! the `rdkafka` crate, `kcat`, or hand-built frames on a raw socket), and asserts on the data
//! that comes back. Nothing is mocked.
//!
//! Layout:
//! - [`Broker`]: spawn, stop (SIGTERM or SIGINT), `kill -9`, restart on the same data dir, log access,
//!   resident memory.
//! - [`producer_config`], [`consumer_config`], [`admin_config`]: rdkafka client configs that
//!   only use what the broker implements (no consumer groups: consumers use `assign()`).
//! - [`RecordingContext`] / [`Delivery`]: a producer context that records every delivery report.
//! - [`create_topic`], [`read_partitions`]: admin and consume helpers.
//! - [`wait_until`]: the one bounded polling loop every test uses.
//! - [`conn`]: one Kafka protocol connection for requests encoded with `kafka-protocol`.
//! - [`wire`]: hand-built request frames and response parsers for raw-socket tests.
//! - [`healthy`]: a producer and consumer that must keep working while a test attacks the broker.
//! - [`proxy`]: a TCP fault proxy (cuts connections instead of delivering chosen responses,
//!   delays responses) for reliability tests.
//! - [`reference`]: a reference Apache Kafka broker (`ci/kafka-reference`), shared per test
//!   binary or started on its own, for scenarios that also run against Kafka itself.
//! - [`cluster`]: several minikafka nodes forming one cluster (a static controller quorum of
//!   all of them) on fixed ports, with kill -9 / restart per node and who-leads-what helpers.
//! - [`tools`]: `kcat` and Kafka's own Java tools as child processes, bounded in time.
//!
//! The broker binary is found through the `MINIKAFKA_BIN` environment variable, or next to the
//! test executable (`target/<profile>/minikafka`). Build it first with `bash -c '. ci/lib.sh && ci_build'` (what `ci/test`
//! does; `cargo build -p minikafka` works too but builds another feature set).
//!
//! ```no_run
//! let mut broker = compat_tests::Broker::start(&["--set", "num.partitions=1"]);
//! println!("bootstrap servers: {}", broker.bootstrap());
//! broker.stop();
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::ToBytes;
use rdkafka::message::{DeliveryResult, Headers, Message, Timestamp};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};
use tempfile::TempDir;

pub mod child;
pub mod cluster;
pub mod conn;
pub mod healthy;
pub mod pki;
pub mod proxy;
pub mod reference;
pub mod tools;
pub mod wire;

/// The log line the broker prints once it accepts connections.
pub const LISTENING_MARKER: &str = "minikafka started, listening on ";
/// The log line the broker prints when a graceful shutdown starts.
pub const SHUTTING_DOWN_MARKER: &str = "minikafka shutting down, flushing logs";
/// The log line the broker prints when a graceful shutdown finished.
pub const SHUTDOWN_COMPLETE_MARKER: &str = "shutdown complete";
/// How long [`Broker::start`] waits for [`LISTENING_MARKER`].
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Broker::stop`] waits for the process to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How many trailing log lines a panic message includes.
const LOG_TAIL_LINES: usize = 200;

/// Where the broker keeps its data: a temporary directory we own, or a caller's directory.
#[derive(Debug)]
enum DataDir {
    /// Created by the harness inside the work dir, removed with it.
    Owned(PathBuf),
    /// Given by the caller, left alone.
    Given(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            DataDir::Owned(p) | DataDir::Given(p) => p,
        }
    }
}

/// A running (or stopped) `minikafka` process with its own data directory and log file.
///
/// The process's stderr and stdout go to a log file inside a temporary work directory (never a
/// pipe, so the broker can never block on a full pipe). Each start gets a new log file, so
/// [`Broker::log`] shows the current run and [`Broker::all_logs`] every run.
///
/// Dropping a `Broker` kills the process with SIGKILL. If the current thread is panicking, the
/// tail of the log is printed to stderr first so that a failing test shows what the broker said.
#[derive(Debug)]
pub struct Broker {
    /// Holds the log files (and the data dir unless one was given); removed on drop.
    work_dir: TempDir,
    /// Where the broker stores its logs and metadata; kept across restarts.
    data_dir: DataDir,
    /// Extra command-line arguments, repeated on every restart.
    args: Vec<String>,
    /// The running process, `None` after stop / kill9.
    child: Option<Child>,
    /// Log file of the current run.
    log_path: PathBuf,
    /// Number of starts so far (used to name log files).
    starts: usize,
    /// `host:port` from the listening line of the current run.
    addr: String,
    /// Whether each start passes `--listen 127.0.0.1:0` before `args` (every constructor but
    /// [`Broker::unstarted`], whose caller names the listeners itself).
    listen_any: bool,
    /// The broker's `RUST_LOG`, when a test needs more than INFO ([`Broker::start_logging`]).
    log_filter: Option<String>,
}

impl Broker {
    /// Starts a broker on `127.0.0.1:0` with a fresh temporary data directory.
    ///
    /// `args` are extra command-line arguments, e.g. `["--set", "num.partitions=4"]`.
    /// Panics (with the broker log) if the broker does not log its listening line within
    /// [`START_TIMEOUT`].
    #[must_use]
    pub fn start(args: &[&str]) -> Broker {
        let mut broker = Broker::fresh(args);
        broker.spawn();
        broker
    }

    /// A broker with a fresh temporary data directory, not started yet.
    fn fresh(args: &[&str]) -> Broker {
        let work_dir = tempfile::Builder::new()
            .prefix("minikafka-compat-")
            .tempdir()
            .expect("create temp work dir");
        let data = work_dir.path().join("data");
        fs::create_dir_all(&data).expect("create data dir");
        Broker::new(work_dir, DataDir::Owned(data), args)
    }

    /// [`Broker::start`] with the broker's log filter (`RUST_LOG`) set to `filter`, e.g.
    /// `info,minikafka::net=debug` for a test that checks a debug line.
    #[must_use]
    pub fn start_logging(args: &[&str], filter: &str) -> Broker {
        let mut broker = Broker::fresh(args);
        broker.log_filter = Some(filter.to_string());
        broker.spawn();
        broker
    }

    /// Starts a broker on `127.0.0.1:0` using `data_dir` (which is not removed afterwards).
    #[must_use]
    pub fn start_in(data_dir: &Path, args: &[&str]) -> Broker {
        let work_dir = tempfile::Builder::new()
            .prefix("minikafka-compat-")
            .tempdir()
            .expect("create temp work dir");
        Broker::launch(work_dir, DataDir::Given(data_dir.to_path_buf()), args)
    }

    /// A broker that runs with exactly `--data-dir data_dir` and `args`, without the
    /// `--listen 127.0.0.1:0` of the other constructors (`args` name the listeners, e.g.
    /// `--set listeners=PLAINTEXT://127.0.0.1:PORT`), its logs in `work_dir`; `data_dir` is
    /// not removed afterwards. Not started yet: the caller starts it with
    /// [`Broker::spawn_process`] and waits with [`Broker::poll_listening`] (a cluster starts all
    /// its nodes before it waits for any; see [`cluster`]).
    pub(crate) fn unstarted(work_dir: TempDir, data_dir: &Path, args: &[&str]) -> Broker {
        let mut broker = Broker::new(work_dir, DataDir::Given(data_dir.to_path_buf()), args);
        broker.listen_any = false;
        broker
    }

    fn launch(work_dir: TempDir, data_dir: DataDir, args: &[&str]) -> Broker {
        let mut broker = Broker::new(work_dir, data_dir, args);
        broker.spawn();
        broker
    }

    fn new(work_dir: TempDir, data_dir: DataDir, args: &[&str]) -> Broker {
        let log_path = work_dir.path().join("broker-0.log");
        Broker {
            work_dir,
            data_dir,
            args: args.iter().map(|s| (*s).to_string()).collect(),
            child: None,
            log_path,
            starts: 0,
            addr: String::new(),
            listen_any: true,
            log_filter: None,
        }
    }

    /// Spawns the process and waits for its listening line.
    fn spawn(&mut self) {
        self.spawn_process();
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.poll_listening() {
            if Instant::now() >= deadline {
                self.kill_quietly();
                panic!(
                    "minikafka did not log {LISTENING_MARKER:?} within {START_TIMEOUT:?}\n{}",
                    self.log_report()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Spawns the process with a new log file and returns at once (see [`Broker::spawn`]).
    pub(crate) fn spawn_process(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        self.starts += 1;
        self.log_path = self
            .work_dir
            .path()
            .join(format!("broker-{}.log", self.starts));
        let log = File::create(&self.log_path).expect("create broker log file");
        let log_out = log.try_clone().expect("clone log file handle");
        let bin = broker_binary();
        let mut cmd = Command::new(&bin);
        if self.listen_any {
            cmd.arg("--listen").arg("127.0.0.1:0");
        }
        cmd.arg("--data-dir")
            .arg(self.data_dir.path())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_out))
            .stderr(Stdio::from(log))
            .env("NO_COLOR", "1");
        // The listening line is logged at INFO; a RUST_LOG inherited from the caller could hide
        // it, so the broker gets `info` unless MINIKAFKA_TEST_RUST_LOG says otherwise.
        let filter = self.log_filter.clone().unwrap_or_else(|| {
            std::env::var("MINIKAFKA_TEST_RUST_LOG").unwrap_or_else(|_| "info".into())
        });
        cmd.env("RUST_LOG", filter);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));
        self.child = Some(child);
        self.addr.clear();
    }

    /// Whether the current run has logged its listening line (then [`Broker::bootstrap`] is
    /// its address). Panics with the log if the process exited before that.
    pub(crate) fn poll_listening(&mut self) -> bool {
        if !self.addr.is_empty() {
            return true;
        }
        if let Some(addr) = parse_listening_addr(&self.log()) {
            self.addr = addr;
            return true;
        }
        if let Some(status) = self.try_wait() {
            self.child = None;
            panic!(
                "minikafka exited with {status} before listening\n{}",
                self.log_report()
            );
        }
        false
    }

    fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().expect("try_wait on broker"))
    }

    fn kill_quietly(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The `host:port` the broker listens on (and advertises), for `bootstrap.servers`.
    #[must_use]
    pub fn bootstrap(&self) -> &str {
        assert!(self.child.is_some(), "broker is not running");
        &self.addr
    }

    /// The process id of the running broker.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("broker is not running").id()
    }

    /// The data directory (the same across restarts).
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The log (stderr + stdout) of the current run, lossily decoded.
    #[must_use]
    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    /// The logs of every run so far, each preceded by a header line.
    #[must_use]
    pub fn all_logs(&self) -> String {
        let mut out = String::new();
        for n in 1..=self.starts {
            let path = self.work_dir.path().join(format!("broker-{n}.log"));
            out.push_str(&format!(
                "===== broker run {n} ({}) =====\n",
                path.display()
            ));
            out.push_str(&read_lossy(&path));
        }
        out
    }

    /// The last lines of the current log, for panic messages.
    #[must_use]
    pub fn log_report(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(LOG_TAIL_LINES);
        format!(
            "----- broker log {} (last {} of {} lines) -----\n{}\n----- end of broker log -----",
            self.log_path.display(),
            lines.len() - start,
            lines.len(),
            lines[start..].join("\n")
        )
    }

    /// Whether a process was started and not yet stopped, killed or found exited (it may have
    /// exited on its own since: see [`Broker::is_alive`]).
    pub(crate) fn has_process(&self) -> bool {
        self.child.is_some()
    }

    /// Whether the process is still running (it has not exited on its own).
    #[must_use]
    pub fn is_alive(&mut self) -> bool {
        self.child.is_some() && self.try_wait().is_none()
    }

    /// Panics with the log if the broker process has exited.
    pub fn assert_alive(&mut self) {
        if let Some(status) = self.try_wait() {
            self.child = None;
            panic!("minikafka died: {status}\n{}", self.log_report());
        }
        assert!(self.child.is_some(), "broker is not running");
    }

    /// Resident memory of the broker process in bytes, from `VmRSS` in `/proc/PID/status`.
    #[must_use]
    pub fn rss_bytes(&self) -> u64 {
        self.status_bytes("VmRSS:")
    }

    /// Peak resident memory of the broker process in bytes (`VmHWM` in `/proc/PID/status`).
    #[must_use]
    pub fn peak_rss_bytes(&self) -> u64 {
        self.status_bytes("VmHWM:")
    }

    fn status_bytes(&self, field: &str) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        parse_status_bytes(&status, field)
            .unwrap_or_else(|| panic!("{field} line in /proc/PID/status"))
    }

    /// Graceful stop: SIGTERM, wait up to [`STOP_TIMEOUT`], then assert exit code 0 and that
    /// [`SHUTTING_DOWN_MARKER`] and [`SHUTDOWN_COMPLETE_MARKER`] were logged.
    pub fn stop(&mut self) {
        self.stop_with(Signal::Term);
    }

    /// Graceful stop with the given signal; see [`Broker::stop`].
    pub fn stop_with(&mut self, signal: Signal) {
        self.signal(signal);
        self.wait_stopped(signal);
    }

    /// Sends `signal` to the running process and returns at once.
    pub(crate) fn signal(&self, signal: Signal) {
        send_signal(self.pid(), signal);
    }

    /// The second half of [`Broker::stop_with`]: waits for the exit that `signal` (already sent)
    /// asked for and checks it.
    pub(crate) fn wait_stopped(&mut self, signal: Signal) {
        let pid = self.pid();
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = self.try_wait() {
                break status;
            }
            if Instant::now() >= deadline {
                self.kill_quietly();
                panic!(
                    "minikafka (pid {pid}) did not exit within {STOP_TIMEOUT:?} after {signal:?}\n{}",
                    self.log_report()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        self.child = None;
        assert!(
            status.success(),
            "minikafka exited with {status} after {signal:?} (expected 0)\n{}",
            self.log_report()
        );
        let log = self.log();
        for marker in [SHUTTING_DOWN_MARKER, SHUTDOWN_COMPLETE_MARKER] {
            assert!(
                log.contains(marker),
                "minikafka exited after {signal:?} without logging {marker:?}\n{}",
                self.log_report()
            );
        }
    }

    /// Pause the process (SIGSTOP), as a long GC pause or a stalled VM would: it holds its
    /// sockets but answers nothing until [`Broker::resume`]. A paused broker can still be
    /// killed (drop, [`Broker::kill9`]).
    pub fn pause(&mut self) {
        self.signal(Signal::Pause);
    }

    /// Let a [`Broker::pause`]d process run again (SIGCONT).
    pub fn resume(&mut self) {
        self.signal(Signal::Resume);
    }

    /// `kill -9` the broker and reap it. The data dir is kept for [`Broker::restart`].
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("broker is not running");
        child.kill().expect("SIGKILL minikafka");
        child.wait().expect("wait for killed minikafka");
    }

    /// Starts the broker again on the same data dir (stopping it gracefully first if it is
    /// still running). The port may change: call [`Broker::bootstrap`] again.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.log_report());
        }
        self.kill_quietly();
    }
}

/// Reads a file as text, replacing invalid UTF-8; a missing file reads as empty.
fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Removes ANSI escape sequences (`ESC [ ... letter`) from a log line.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The port of listener `name` in a broker log's start line (`HOST:PORT (NAME), ...`).
#[must_use]
pub fn listener_port(log: &str, name: &str) -> u16 {
    let line = log
        .lines()
        .find(|l| l.contains(LISTENING_MARKER))
        .expect("start line");
    let listed = &line[line.find(LISTENING_MARKER).unwrap() + LISTENING_MARKER.len()..];
    listed
        .split(", ")
        .find_map(|entry| {
            let (addr, label) = entry.trim().split_once(' ')?;
            (label.trim_matches(|c| c == '(' || c == ')') == name)
                .then(|| addr.rsplit_once(':')?.1.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {name} listener in {line}"))
}

/// Finds `host:port` after [`LISTENING_MARKER`] in a log text.
#[must_use]
pub fn parse_listening_addr(log: &str) -> Option<String> {
    log.lines().find_map(|line| {
        let line = strip_ansi(line);
        let rest = &line[line.find(LISTENING_MARKER)? + LISTENING_MARKER.len()..];
        let addr: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
            .collect();
        let port = addr.rsplit_once(':')?.1;
        (!port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) && port != "0")
            .then_some(addr)
    })
}

/// Parses the `VmRSS:  1234 kB` line of `/proc/PID/status` into bytes.
#[must_use]
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    parse_status_bytes(status, "VmRSS:")
}

/// Parses a `FIELD:  1234 kB` line of `/proc/PID/status` (`VmRSS:`, `VmHWM:`, …) into bytes.
#[must_use]
pub fn parse_status_bytes(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A signal that asks the broker to shut down gracefully.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM.
    Term,
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGSTOP: the process is paused (not a stop request: [`Broker::pause`]).
    Pause,
    /// SIGCONT: a paused process runs again ([`Broker::resume`]).
    Resume,
}

/// Sends `signal` to `pid`.
#[allow(unsafe_code)]
fn send_signal(pid: u32, signal: Signal) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    let sig = match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Int => libc::SIGINT,
        Signal::Pause => libc::SIGSTOP,
        Signal::Resume => libc::SIGCONT,
    };
    // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions; `pid` is
    // our own child, which has not been reaped yet, so the id cannot have been reused.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "kill({signal:?}) failed: {}",
        std::io::Error::last_os_error()
    );
}

/// Path of the `minikafka` binary: `$MINIKAFKA_BIN`, else `target/<profile>/minikafka` next to
/// the running test executable (`target/<profile>/deps/<test>`).
///
/// Panics with "build it first: cargo build -p minikafka" if it does not exist.
#[must_use]
pub fn broker_binary() -> PathBuf {
    let path = if let Some(p) = std::env::var_os("MINIKAFKA_BIN") {
        PathBuf::from(p)
    } else {
        let exe = std::env::current_exe().expect("current_exe");
        let mut dir = exe
            .parent()
            .expect("test exe has a parent dir")
            .to_path_buf();
        if dir.file_name().is_some_and(|n| n == "deps") {
            dir.pop();
        }
        dir.join(format!("minikafka{}", std::env::consts::EXE_SUFFIX))
    };
    assert!(
        path.is_file(),
        "minikafka binary not found at {} — build it first: cargo build -p minikafka \
         (or set MINIKAFKA_BIN)",
        path.display()
    );
    path
}

/// Polls `probe` until it returns `Some`, at most every `interval` and at most until `timeout`
/// has passed (the number of tries is bounded too). Panics with `what` on timeout.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    let max_tries = timeout.as_millis() / interval.as_millis().max(1) + 2;
    for _ in 0..max_tries {
        if let Some(v) = probe() {
            return v;
        }
        if start.elapsed() >= timeout {
            break;
        }
        thread::sleep(interval);
    }
    panic!("timed out after {:?} waiting for {what}", start.elapsed());
}

/// A topic name that is unique within this process run.
#[must_use]
pub fn unique_topic(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Base rdkafka config: bootstrap servers and timeouts suited to a local broker.
#[must_use]
pub fn base_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("socket.timeout.ms", "30000")
        .set("log_level", "6");
    c
}

/// Producer config: `acks=all`, idempotence off, small linger, generous local queue.
/// Callers add `compression.type` and friends.
#[must_use]
pub fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut c = base_config(bootstrap);
    c.set("acks", "all")
        .set("enable.idempotence", "false")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576");
    c
}

/// Consumer config for `assign()`-only use: no commits, EOF events on, CRC checks on, and
/// `auto.offset.reset=error` so that an out-of-range offset is an error, not a silent jump.
#[must_use]
pub fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut c = base_config(bootstrap);
    c.set("group.id", "compat-tests-unused-group")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "error")
        .set("check.crcs", "true");
    c
}

/// Admin client config.
#[must_use]
pub fn admin_config(bootstrap: &str) -> ClientConfig {
    base_config(bootstrap)
}

/// Creates a consumer from [`consumer_config`].
#[must_use]
pub fn consumer(bootstrap: &str) -> BaseConsumer {
    consumer_config(bootstrap)
        .create()
        .expect("create BaseConsumer")
}

/// Runs a future to completion on a small current-thread tokio runtime (for the admin API).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// Creates `topic` with `partitions` partitions (replication factor 1) through the admin API,
/// asserts success, and waits until Metadata shows all partitions with a leader.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = admin_config(bootstrap)
        .create()
        .expect("create AdminClient");
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new()
        .request_timeout(Some(Timeout::After(Duration::from_secs(30))))
        .operation_timeout(Some(Timeout::After(Duration::from_secs(30))));
    let results = block_on(admin.create_topics([&new], &opts)).expect("CreateTopics request");
    assert_eq!(results.len(), 1, "one CreateTopics result: {results:?}");
    if let Err((name, code)) = &results[0] {
        panic!("CreateTopics {name} failed: {code:?}");
    }
    wait_for_topic(bootstrap, topic, partitions);
}

/// Creates `topic` through the admin API, retrying (every 500 ms, at most `timeout`) while
/// the cluster cannot place it yet (brokers still registering). Panics with the last answer.
pub fn create_topic_retrying(bootstrap: &str, topic: &NewTopic<'_>, timeout: Duration) {
    let admin: AdminClient<DefaultClientContext> = admin_config(bootstrap)
        .create()
        .expect("create AdminClient");
    let opts = AdminOptions::new().operation_timeout(Some(Timeout::After(Duration::from_secs(10))));
    let deadline = Instant::now() + timeout;
    loop {
        match block_on(admin.create_topics([topic], &opts)).as_deref() {
            Ok([Ok(_)]) => return,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "creating {}: {other:?}",
                    topic.name
                );
                thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

/// Waits (bounded, 30 s) until Metadata lists `topic` with `partitions` partitions, each with a
/// leader and no error.
pub fn wait_for_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let c = consumer(bootstrap);
    wait_until(
        &format!("metadata for {topic} with {partitions} partitions"),
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let md = c.fetch_metadata(Some(topic), Duration::from_secs(5)).ok()?;
            let t = md.topics().iter().find(|t| t.name() == topic)?;
            let ok = t.error().is_none()
                && t.partitions().len() == usize::try_from(partitions).ok()?
                && t.partitions()
                    .iter()
                    .all(|p| p.error().is_none() && p.leader() >= 0);
            ok.then_some(())
        },
    );
}

/// Produces `values` to partition 0 of `topic` through `config` (message timeout 30 s, flush
/// bounded at 60 s); every one must be acknowledged.
pub fn produce_acked(config: &ClientConfig, topic: &str, values: &[Vec<u8>]) {
    let ctx = RecordingContext::default();
    let producer: ThreadedProducer<RecordingContext> = config
        .clone()
        .set("message.timeout.ms", "30000")
        .create_with_context(ctx.clone())
        .expect("create producer");
    for (i, v) in values.iter().enumerate() {
        producer
            .send(
                BaseRecord::<(), _, usize>::with_opaque_to(topic, i)
                    .partition(0)
                    .payload(v),
            )
            .map_err(|(e, _)| e)
            .expect("queue");
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("flush within 60 s");
    let failed: Vec<_> = ctx
        .snapshot()
        .into_iter()
        .filter(|d| d.result.is_err())
        .collect();
    assert!(failed.is_empty(), "deliveries failed: {failed:?}");
    assert_eq!(ctx.acked(), values.len());
}

/// Enqueues one record on `producer`, retrying (bounded, 60 s) while the local queue is full.
/// Panics if it still fails after 60 s.
pub fn send_bounded<C, K, P>(
    producer: &ThreadedProducer<C>,
    mut record: BaseRecord<'_, K, P, usize>,
) where
    C: ProducerContext<DeliveryOpaque = usize> + 'static,
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((e, r)) => {
                assert!(Instant::now() < deadline, "send kept failing for 60 s: {e}");
                record = r;
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// One delivery report recorded by [`RecordingContext`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The caller's message index (the delivery opaque).
    pub index: usize,
    /// `Ok((partition, offset))` on success, `Err(error text)` otherwise.
    pub result: Result<(i32, i64), String>,
}

/// A producer context that records every delivery report, keyed by the message index the
/// caller passes as delivery opaque.
#[derive(Debug, Clone, Default)]
pub struct RecordingContext {
    /// Every delivery report seen so far, in arrival order.
    pub deliveries: Arc<Mutex<Vec<Delivery>>>,
}

impl RecordingContext {
    /// A snapshot of all deliveries so far.
    #[must_use]
    pub fn snapshot(&self) -> Vec<Delivery> {
        self.deliveries.lock().expect("deliveries lock").clone()
    }

    /// Number of delivery reports so far (successful or not).
    #[must_use]
    pub fn reported(&self) -> usize {
        self.deliveries.lock().expect("deliveries lock").len()
    }

    /// Number of successful deliveries so far.
    #[must_use]
    pub fn acked(&self) -> usize {
        self.deliveries
            .lock()
            .expect("deliveries lock")
            .iter()
            .filter(|d| d.result.is_ok())
            .count()
    }
}

/// Asserts that every delivery report is a success and that there are `expected` of them
/// (the first failures are shown).
pub fn assert_all_delivered(deliveries: &[Delivery], expected: usize) {
    let failed: Vec<_> = deliveries
        .iter()
        .filter(|d| d.result.is_err())
        .take(5)
        .collect();
    assert!(failed.is_empty(), "failed deliveries (first 5): {failed:?}");
    assert_eq!(deliveries.len(), expected, "delivery reports");
}

/// The `.log` files of a partition directory `dir`, in base-offset order, concatenated: what
/// replicas of one partition must agree on byte for byte (segment boundaries may differ).
#[must_use]
pub fn log_bytes(dir: &Path) -> Vec<u8> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| fs::read(f).expect("read segment"))
        .collect()
}

/// Successful deliveries as `partition -> offset -> message index`. Panics if two messages were
/// acknowledged at the same partition and offset.
#[must_use]
pub fn acked_offsets(deliveries: &[Delivery]) -> BTreeMap<i32, BTreeMap<i64, usize>> {
    let mut acked: BTreeMap<i32, BTreeMap<i64, usize>> = BTreeMap::new();
    for d in deliveries {
        if let Ok((p, o)) = d.result {
            if let Some(prev) = acked.entry(p).or_default().insert(o, d.index) {
                panic!(
                    "messages {prev} and {} both acknowledged at partition {p} offset {o}",
                    d.index
                );
            }
        }
    }
    acked
}

impl ClientContext for RecordingContext {}

impl ProducerContext for RecordingContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        let result = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((e, _)) => Err(e.to_string()),
        };
        self.deliveries
            .lock()
            .expect("deliveries lock")
            .push(Delivery { index, result });
    }
}

/// A consumed (or expected) message, owned, compared byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Key bytes (`None` for a null key).
    pub key: Option<Vec<u8>>,
    /// Value bytes (`None` for a null value).
    pub value: Option<Vec<u8>>,
    /// Headers in wire order (duplicates kept).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// The message timestamp as the client reports it.
    pub timestamp: Timestamp,
}

impl Record {
    /// Copies an rdkafka message into an owned [`Record`].
    #[must_use]
    pub fn from_message<M: Message>(m: &M) -> Record {
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Record {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            headers,
            timestamp: m.timestamp(),
        }
    }
}

/// Assigns `starts` (partition → start offset) of `topic` to a fresh consumer and reads every
/// partition until it reports end-of-partition (`enable.partition.eof`). Returns the records per
/// partition in the order received. Panics on a consumer error or after `timeout`.
#[must_use]
pub fn read_partitions(
    bootstrap: &str,
    topic: &str,
    starts: &BTreeMap<i32, Offset>,
    timeout: Duration,
) -> BTreeMap<i32, Vec<Record>> {
    read_partitions_with(&consumer_config(bootstrap), topic, starts, timeout)
}

/// [`read_partitions`] with a consumer created from `config` (e.g. [`consumer_config`] with
/// `isolation.level=read_committed`; it must keep `enable.partition.eof=true`).
#[must_use]
pub fn read_partitions_with(
    config: &ClientConfig,
    topic: &str,
    starts: &BTreeMap<i32, Offset>,
    timeout: Duration,
) -> BTreeMap<i32, Vec<Record>> {
    let c: BaseConsumer = config.create().expect("create BaseConsumer");
    let mut tpl = TopicPartitionList::new();
    for (&p, &o) in starts {
        tpl.add_partition_offset(topic, p, o)
            .expect("add partition offset");
    }
    c.assign(&tpl).expect("assign");
    let mut out: BTreeMap<i32, Vec<Record>> = starts.keys().map(|&p| (p, Vec::new())).collect();
    let mut at_eof: BTreeMap<i32, bool> = starts.keys().map(|&p| (p, false)).collect();
    let deadline = Instant::now() + timeout;
    // Bounded: each iteration polls for at most 200 ms and the loop ends at the deadline.
    while at_eof.values().any(|e| !e) {
        assert!(
            Instant::now() < deadline,
            "reading {topic} did not reach end of partitions within {timeout:?}; \
             at_eof={at_eof:?}, received per partition: {:?}",
            out.iter().map(|(p, v)| (*p, v.len())).collect::<Vec<_>>()
        );
        match c.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(m)) => {
                at_eof.insert(m.partition(), false);
                out.entry(m.partition())
                    .or_default()
                    .push(Record::from_message(&m));
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_eof.insert(p, true);
            }
            Some(Err(e)) => panic!("consumer error while reading {topic}: {e}"),
        }
    }
    out
}

/// All partitions of `topic` from the beginning; see [`read_partitions`].
#[must_use]
pub fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> BTreeMap<i32, Vec<Record>> {
    let starts = (0..partitions).map(|p| (p, Offset::Beginning)).collect();
    read_partitions(bootstrap, topic, &starts, timeout)
}

/// All partitions of `topic` from the beginning with `isolation.level` set to `isolation`
/// (`read_committed` or `read_uncommitted`; librdkafka's default is `read_committed`). A
/// `read_committed` consumer reports end-of-partition at the last stable offset. See
/// [`read_partitions`].
#[must_use]
pub fn read_all_isolated(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    isolation: &str,
    timeout: Duration,
) -> BTreeMap<i32, Vec<Record>> {
    let mut config = consumer_config(bootstrap);
    config.set("isolation.level", isolation);
    let starts = (0..partitions).map(|p| (p, Offset::Beginning)).collect();
    read_partitions_with(&config, topic, &starts, timeout)
}

/// Blocks until stdin reaches end of file or fails: for child-process tools (`src/bin/*`),
/// whose stdin the test keeps open, so that they stop once the test process is gone.
pub fn wait_for_stdin_close() {
    use std::io::Read;
    let mut buf = [0u8; 64];
    while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
}

/// A flag that a background thread sets once [`wait_for_stdin_close`] returns.
#[must_use]
pub fn stop_when_stdin_closes() -> Arc<std::sync::atomic::AtomicBool> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    thread::spawn(move || {
        wait_for_stdin_close();
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    stop
}

/// A deterministic xorshift64* generator for test payloads (no external crates needed).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded with `seed` (0 is replaced by a constant).
    #[must_use]
    pub fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `len` pseudo-random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(len);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_line() {
        let log = "2026-01-01T00:00:00Z  INFO minikafka: \u{1b}[3mminikafka started, listening \
                   on 127.0.0.1:40123\u{1b}[0m\n";
        assert_eq!(
            parse_listening_addr(log).as_deref(),
            Some("127.0.0.1:40123")
        );
        let log = "INFO minikafka started, listening on 127.0.0.1:5555 data_dir=/x\n";
        assert_eq!(parse_listening_addr(log).as_deref(), Some("127.0.0.1:5555"));
        assert_eq!(
            parse_listening_addr("minikafka started, listening on 127.0.0.1:0"),
            None
        );
        assert_eq!(parse_listening_addr("nothing here"), None);
    }

    #[test]
    fn parses_vm_rss() {
        let status = "Name:\tminikafka\nVmPeak:\t  10 kB\nVmRSS:\t   2048 kB\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn xorshift_is_deterministic() {
        let a = XorShift::new(7).bytes(33);
        let b = XorShift::new(7).bytes(33);
        assert_eq!(a, b);
        assert_eq!(a.len(), 33);
    }
}
