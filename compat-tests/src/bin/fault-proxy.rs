//! `fault-proxy`: the [`compat_tests::proxy::FaultProxy`] as a command-line tool, for clients
//! that are not driven from Rust (ci/java-compat runs the Java idempotent producer through it).
//!
//! ```text
//! fault-proxy --cut-every N --api-key K
//! ```
//!
//! Binds 127.0.0.1:0 and prints `PROXY=127.0.0.1:PORT` on stdout. The first line read from
//! stdin is the upstream broker (HOST:PORT); connections accepted before it arrives are closed.
//! Every N-th response to a request with API key K (counted over all connections) is not
//! delivered: the connection is cut instead. Runs until stdin is closed or SIGTERM/SIGINT
//! arrives, then prints `cuts=C matched=M connections=X` on stderr and exits 0.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use compat_tests::proxy::{FaultProxy, Faults};

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::Relaxed);
}

#[allow(unsafe_code)]
fn install_signal_handlers() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe; the handler
        // is a plain `extern "C" fn` that lives for the whole program.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("fault-proxy: {msg}\nusage: fault-proxy --cut-every N --api-key K");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut cut_every: Option<u64> = None;
    let mut api_key: Option<i16> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next();
        match (a.as_str(), v) {
            ("--cut-every", Some(v)) => match v.parse() {
                Ok(n) if n > 0 => cut_every = Some(n),
                _ => return usage("--cut-every needs a positive integer"),
            },
            ("--api-key", Some(v)) => match v.parse() {
                Ok(k) => api_key = Some(k),
                _ => return usage("--api-key needs an integer"),
            },
            _ => return usage(&format!("unexpected argument {a}")),
        }
    }
    let (Some(n), Some(key)) = (cut_every, api_key) else {
        return usage("--cut-every and --api-key are required");
    };
    install_signal_handlers();
    let proxy = FaultProxy::start(Faults {
        cut_every_nth_response: Some((key, n)),
        ..Faults::default()
    });
    println!("PROXY={}", proxy.addr());
    let _ = std::io::stdout().flush();

    // stdin: the first line is the upstream; EOF means stop.
    let (tx, rx) = mpsc::channel::<Option<String>>();
    thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        while let Some(Ok(line)) = lines.next() {
            let line = line.trim().to_string();
            if !line.is_empty() && tx.send(Some(line)).is_err() {
                return;
            }
        }
        let _ = tx.send(None);
    });
    let mut have_upstream = false;
    loop {
        if SIGNALLED.load(Ordering::Relaxed) {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Some(upstream)) if !have_upstream => {
                proxy.set_upstream(&upstream);
                have_upstream = true;
                eprintln!("fault-proxy: {} -> {upstream}", proxy.addr());
            }
            Ok(Some(_)) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    eprintln!(
        "cuts={} matched={} connections={}",
        proxy.cuts(),
        proxy.matched_responses(),
        proxy.connections()
    );
    drop(proxy);
    ExitCode::SUCCESS
}
