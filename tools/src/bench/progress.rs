//! The live progress line: once a second on stderr, only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::stats::Counters;

/// A running progress printer; [`Progress::finish`] stops it and clears the line.
#[derive(Debug)]
pub(crate) struct Progress {
    /// Tells the thread to stop.
    stop: Arc<AtomicBool>,
    /// The printing thread, `None` when stderr is not a terminal.
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts printing if stderr is a terminal; otherwise does nothing.
    pub(crate) fn start(counters: Arc<Counters>) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::io::stderr().is_terminal().then(|| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || print_loop(&counters, &stop))
        });
        Progress { stop, thread }
    }

    /// Stops the line and erases it.
    pub(crate) fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread {
            let _ = t.join();
            eprint!("\r\x1b[2K");
        }
    }
}

fn print_loop(c: &Counters, stop: &AtomicBool) {
    let start = Instant::now();
    let mut last = (0, 0, 0);
    let mut next = start + Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(50));
        if Instant::now() < next {
            continue;
        }
        next += Duration::from_secs(1);
        let now = (
            Counters::get(&c.sent),
            Counters::get(&c.acked),
            Counters::get(&c.consumed),
        );
        eprint!(
            "\r\x1b[2K[{:>4}s] sent {} ({}/s)  acked {} ({}/s)  consumed {} ({}/s)  failed {}",
            start.elapsed().as_secs(),
            now.0,
            now.0 - last.0,
            now.1,
            now.1 - last.1,
            now.2,
            now.2 - last.2,
            Counters::get(&c.failed),
        );
        let _ = std::io::stderr().flush();
        last = now;
    }
}
