//! A reference Apache Kafka broker (`ci/kafka-reference`) for tests that run the same scenario
//! against minikafka and against Kafka itself, so that the expected behaviour comes from Kafka.
//!
//! `ci/kafka-reference` needs Java 17+ and fetches Kafka's jars from Maven Central on first use.
//! A start (format + JVM start + readiness probe) takes on the order of ten seconds, so a test
//! binary should share one broker through [`ReferenceKafka::shared`] and start its own with
//! [`ReferenceKafka::start`] only when it needs a special one (e.g. one that advertises a proxy).
//!
//! Every broker started here is also watched by a tiny `bash` loop that stops it (and removes its
//! directory) once the test process is gone, so neither a panic nor a `kill -9` of the test
//! binary leaves a JVM behind. The shared broker lives in a `static` and is never dropped: the
//! watcher is what stops it.
//!
//! ```no_run
//! let kafka = compat_tests::reference::ReferenceKafka::shared();
//! println!("Apache Kafka at {}", kafka.bootstrap());
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// A reference Apache Kafka broker started by `ci/kafka-reference start DIR`.
///
/// Dropping it stops the broker (`ci/kafka-reference stop DIR`) and removes `DIR`.
#[derive(Debug)]
pub struct ReferenceKafka {
    /// The directory holding the broker's config, data and logs; `None` for a broker this
    /// process did not start (`KAFKA_REF_BOOTSTRAP`).
    dir: Option<PathBuf>,
    /// `127.0.0.1:PORT` of the broker's own listener (not the advertised address).
    bootstrap: String,
}

/// Broker settings `ci/kafka-reference` adds to `server.properties` for every broker started
/// here (through `KAFKA_REF_EXTRA_PROPERTIES`): they only shorten KIP-848 (`group.protocol=consumer`)
/// session and heartbeat timeouts from their 45 s / 5 s defaults so that group tests run in
/// seconds; classic groups keep Kafka's defaults (`group.initial.rebalance.delay.ms` is already
/// 0 in the script).
pub const EXTRA_PROPERTIES: &str = "group.consumer.min.session.timeout.ms=6000\n\
     group.consumer.session.timeout.ms=6000\n\
     group.consumer.min.heartbeat.interval.ms=500\n\
     group.consumer.heartbeat.interval.ms=1000\n";

impl ReferenceKafka {
    /// Path of `ci/kafka-reference`.
    #[must_use]
    pub fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/kafka-reference")
    }

    /// Starts a broker of its own. With `advertise = Some("HOST:PORT")` the broker advertises
    /// that address (e.g. a fault proxy) instead of its listener. Panics with the script's output
    /// if the start fails (the script bounds every wait, 90 s by default, and tries up to
    /// `KAFKA_REF_START_ATTEMPTS` starts, 3 by default).
    #[must_use]
    pub fn start(advertise: Option<&str>) -> ReferenceKafka {
        ReferenceKafka::start_with_properties(advertise, "")
    }

    /// Like [`ReferenceKafka::start`], with `extra` (`key=value` lines, each ending in `\n`)
    /// appended to [`EXTRA_PROPERTIES`], e.g. a shorter transaction cleanup interval.
    #[must_use]
    pub fn start_with_properties(advertise: Option<&str>, extra: &str) -> ReferenceKafka {
        let dir = tempfile::Builder::new()
            .prefix("kafka-reference-")
            .tempdir()
            .expect("temp dir")
            .keep();
        spawn_watcher(&dir);
        let mut cmd = Command::new("bash");
        cmd.arg(Self::script())
            .arg("start")
            .arg(&dir)
            .env(
                "KAFKA_REF_EXTRA_PROPERTIES",
                format!("{EXTRA_PROPERTIES}{extra}"),
            )
            .stdin(Stdio::null());
        if let Some(addr) = advertise {
            cmd.env("KAFKA_REF_ADVERTISE", addr);
        }
        let out = cmd.output().expect("run ci/kafka-reference");
        let bootstrap = std::fs::read_to_string(dir.join("bootstrap"));
        let mut kafka = ReferenceKafka {
            dir: Some(dir),
            bootstrap: String::new(),
        };
        assert!(
            out.status.success(),
            "ci/kafka-reference start failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        kafka.bootstrap = bootstrap.expect("bootstrap file").trim().to_string();
        kafka
    }

    /// The broker shared by every test of this process (started on first use, advertising its
    /// own listener). Tests sharing it must use their own topics and group ids.
    ///
    /// With `KAFKA_REF_BOOTSTRAP=HOST:PORT` set, an already running reference broker (e.g. one
    /// from `ci/kafka-reference start DIR` started with [`EXTRA_PROPERTIES`] in
    /// `KAFKA_REF_EXTRA_PROPERTIES`) is used instead, which saves the start when iterating.
    #[must_use]
    pub fn shared() -> &'static ReferenceKafka {
        static SHARED: OnceLock<ReferenceKafka> = OnceLock::new();
        SHARED.get_or_init(|| ReferenceKafka::external_or_start(""))
    }

    /// The broker at `KAFKA_REF_BOOTSTRAP` if that is set (it must already have the `extra`
    /// properties), else a new one from [`ReferenceKafka::start_with_properties`]. For a test
    /// binary that needs broker settings the [`ReferenceKafka::shared`] one does not have; keep
    /// the result in a `static` to share it within that binary.
    #[must_use]
    pub fn external_or_start(extra: &str) -> ReferenceKafka {
        match std::env::var("KAFKA_REF_BOOTSTRAP") {
            Ok(bootstrap) if !bootstrap.is_empty() => ReferenceKafka {
                dir: None,
                bootstrap,
            },
            _ => ReferenceKafka::start_with_properties(None, extra),
        }
    }

    /// `127.0.0.1:PORT` of the broker's listener.
    #[must_use]
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The directory with `server.properties`, `server.log` and the data (`None` for an
    /// external broker).
    #[must_use]
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The broker's `server.log`, lossily decoded (empty if missing or external).
    #[must_use]
    pub fn server_log(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|d| std::fs::read(d.join("server.log")).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for ReferenceKafka {
    fn drop(&mut self) {
        let Some(dir) = &self.dir else { return };
        let _ = Command::new("bash")
            .arg(Self::script())
            .arg("stop")
            .arg(dir)
            .stdin(Stdio::null())
            .output();
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Spawns `bash -c` that waits (polling once a second) until this process is gone, then stops
/// the broker started in `dir` and removes `dir`. It is never waited for: it outlives us on
/// purpose and is reaped by init.
fn spawn_watcher(dir: &Path) {
    let script = "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; \
                  bash \"$2\" stop \"$3\" >/dev/null 2>&1; rm -rf \"$3\"";
    let spawned = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("kafka-reference-watcher")
        .arg(std::process::id().to_string())
        .arg(ReferenceKafka::script())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    // Without a watcher the broker is still stopped by Drop (not for the shared one, which
    // then outlives the test process): worth a warning, not a failure.
    if let Err(e) = spawned {
        eprintln!(
            "kafka-reference: cannot spawn the watcher for {}: {e}",
            dir.display()
        );
    }
}
