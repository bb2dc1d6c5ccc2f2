//! Test-tool child processes (`src/bin/*`: the EOS processor, the transactional producer) driven
//! by a test: their stdout lines arrive on a channel, stdin stays open (they stop when it closes),
//! and they can be SIGKILLed at any point.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// A test-tool child process (`src/bin/*`) whose stdout lines arrive on a channel.
#[derive(Debug)]
pub struct ChildProc {
    name: String,
    child: Child,
    /// Kept open: the child stops when it closes.
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

/// Why [`ChildProc::next_line`] returned no line.
#[derive(Debug, PartialEq, Eq)]
pub enum NoLine {
    /// Nothing within the timeout.
    Timeout,
    /// The process closed its stdout (it exited).
    Ended,
}

impl ChildProc {
    /// Starts `bin` with `args`; `name` prefixes its echoed lines.
    pub fn spawn(bin: &str, name: &str, args: &[&str]) -> ChildProc {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, lines) = mpsc::channel();
        let reader_name = name.to_string();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("[{reader_name}] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildProc {
            name: name.to_string(),
            child,
            stdin,
            lines,
        }
    }

    /// The next line it printed, waiting at most `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> Result<String, NoLine> {
        self.lines.recv_timeout(timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => NoLine::Timeout,
            RecvTimeoutError::Disconnected => NoLine::Ended,
        })
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        self.child
            .wait()
            .unwrap_or_else(|e| panic!("reap {}: {e}", self.name));
    }

    /// Closes stdin (the tools then exit on their own) and waits up to `timeout`; SIGKILLs it
    /// if it is still running then. Returns the exit status if it exited by itself.
    pub fn close_and_wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        drop(self.stdin.take());
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
        None
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Per input partition, the highest next offset an `eos-processor` reported as committed.
pub type Progress = BTreeMap<i32, i64>;

/// Parses an `eos-processor` line `COMMITTED 0:120,2:75` into `progress` (keeping the maximum
/// per partition); true if it was such a line. Panics on a malformed one.
pub fn note_commit(line: &str, progress: &mut Progress) -> bool {
    let Some(list) = line.strip_prefix("COMMITTED ") else {
        return false;
    };
    for item in list.split(',') {
        let (p, o) = item.split_once(':').expect("partition:offset");
        let (p, o): (i32, i64) = (p.parse().expect("partition"), o.parse().expect("offset"));
        let e = progress.entry(p).or_insert(0);
        *e = (*e).max(o);
    }
    true
}
