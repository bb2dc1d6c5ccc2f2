//! A TCP fault proxy for reliability tests: it sits between Kafka clients and the broker,
//! forwards requests untouched and injects faults on the way back — it cuts the connection
//! instead of delivering chosen responses (so the broker has acted on a request whose answer the
//! client never sees), or delays responses.
//!
//! The broker must advertise the proxy's address (`--advertise`), or clients would go around it
//! after bootstrap: bind the proxy first ([`FaultProxy::start`]), start the broker with
//! `--advertise <proxy addr>`, then point the proxy at the broker ([`FaultProxy::set_upstream`]).
//!
//! Frames are tracked per connection: each request's API key is queued as it passes, and the
//! responses (answered in order by Kafka brokers) are matched against that queue. Requests that
//! get no response (Produce with acks=0) are not supported by the matching.
//!
//! A proxy without faults copies bytes untouched in both directions (any protocol, not only
//! Kafka frames), and [`FaultProxy::sever`] / [`FaultProxy::heal`] cut every connection through it
//! and refuse new ones for a while: put one between two cluster nodes to cut a link (a network
//! partition, as the replication fault tests inject).
//!
//! ```no_run
//! use compat_tests::proxy::{FaultProxy, Faults};
//! let proxy = FaultProxy::start(Faults { cut_every_nth_response: Some((0, 5)), ..Faults::default() });
//! let broker = compat_tests::Broker::start(&["--advertise", &proxy.addr()]);
//! proxy.set_upstream(broker.bootstrap());
//! // ... clients use proxy.addr() as bootstrap ...
//! ```

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Which faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// `(api_key, n)`: instead of delivering every n-th response to a request with this API key
    /// (counted across all connections), close the client and broker sides of that connection.
    pub cut_every_nth_response: Option<(i16, u64)>,
    /// Hold every response this long before forwarding it.
    pub response_delay: Duration,
    /// Keep a copy of every byte clients send ([`FaultProxy::captured`]): what an eavesdropper
    /// on the wire would see.
    pub capture: bool,
}

#[derive(Debug, Default)]
struct Shared {
    upstream: Mutex<Option<String>>,
    stop: AtomicBool,
    /// While set, every connection is refused (closed at once).
    severed: AtomicBool,
    matched: AtomicU64,
    cuts: AtomicU64,
    connections: AtomicU64,
    /// Clones of every socket, so [`Drop`] can close them all.
    sockets: Mutex<Vec<TcpStream>>,
    /// Client bytes, with [`Faults::capture`].
    captured: Mutex<Vec<u8>>,
}

/// A running proxy on 127.0.0.1; stops (and closes every connection) when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: String,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Bind 127.0.0.1:0 and start accepting. Connections made before
    /// [`FaultProxy::set_upstream`] are closed at once.
    pub fn start(faults: Faults) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address").to_string();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let accept = thread::spawn(move || {
            while !s.stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((client, _)) => {
                        if s.severed.load(Ordering::Acquire) {
                            let _ = client.shutdown(Shutdown::Both);
                            continue;
                        }
                        let upstream = s.upstream.lock().map(|u| u.clone()).unwrap_or(None);
                        let Some(upstream) = upstream else {
                            let _ = client.shutdown(Shutdown::Both);
                            continue;
                        };
                        let Ok(broker) = TcpStream::connect(&upstream) else {
                            let _ = client.shutdown(Shutdown::Both);
                            continue;
                        };
                        s.connections.fetch_add(1, Ordering::Relaxed);
                        let _ = client.set_nonblocking(false);
                        let _ = client.set_nodelay(true);
                        let _ = broker.set_nodelay(true);
                        spawn_pair(client, broker, faults.clone(), s.clone());
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        FaultProxy {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// The proxy's address (HOST:PORT) for clients and for the broker's `--advertise`.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// Forward new connections to `broker` (HOST:PORT).
    pub fn set_upstream(&self, broker: &str) {
        if let Ok(mut u) = self.shared.upstream.lock() {
            *u = Some(broker.to_string());
        }
    }

    /// Cut the link: close every connection through the proxy and refuse new ones until
    /// [`FaultProxy::heal`].
    pub fn sever(&self) {
        self.shared.severed.store(true, Ordering::Release);
        if let Ok(mut sockets) = self.shared.sockets.lock() {
            for s in sockets.drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    /// Accept connections again after [`FaultProxy::sever`].
    pub fn heal(&self) {
        self.shared.severed.store(false, Ordering::Release);
    }

    /// Every byte clients sent through the proxy so far (with [`Faults::capture`]).
    pub fn captured(&self) -> Vec<u8> {
        self.shared
            .captured
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Connections cut by a fault so far.
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::Relaxed)
    }

    /// Responses seen for the API key of [`Faults::cut_every_nth_response`].
    pub fn matched_responses(&self) -> u64 {
        self.shared.matched.load(Ordering::Relaxed)
    }

    /// Client connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Ok(sockets) = self.shared.sockets.lock() {
            for s in sockets.iter() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// Read one length-prefixed frame (with its prefix). `None` at EOF or error.
fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let n = usize::try_from(i32::from_be_bytes(len)).ok()?;
    let mut frame = vec![0u8; 4 + n];
    frame[..4].copy_from_slice(&len);
    s.read_exact(&mut frame[4..]).ok()?;
    Some(frame)
}

fn spawn_pair(client: TcpStream, broker: TcpStream, faults: Faults, shared: Arc<Shared>) {
    let (Ok(mut c_in), Ok(mut c_out), Ok(mut b_in), Ok(mut b_out)) = (
        client.try_clone(),
        client.try_clone(),
        broker.try_clone(),
        broker.try_clone(),
    ) else {
        return;
    };
    if let Ok(mut sockets) = shared.sockets.lock() {
        sockets.extend(client.try_clone());
        sockets.extend(broker.try_clone());
    }
    if faults.cut_every_nth_response.is_none() && faults.response_delay.is_zero() {
        // Nothing to inject per response: copy bytes, whatever the protocol.
        let requests = shared.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                let n = match c_in.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if faults.capture {
                    if let Ok(mut c) = requests.captured.lock() {
                        c.extend_from_slice(&buf[..n]);
                    }
                }
                if b_out.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = c_in.shutdown(Shutdown::Both);
            let _ = b_out.shutdown(Shutdown::Both);
        });
        thread::spawn(move || {
            let _ = std::io::copy(&mut b_in, &mut c_out);
            let _ = b_in.shutdown(Shutdown::Both);
            let _ = c_out.shutdown(Shutdown::Both);
        });
        return;
    }
    let pending: Arc<Mutex<VecDeque<i16>>> = Arc::default();
    let requests = pending.clone();
    let close_both = move |a: &TcpStream, b: &TcpStream| {
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
    };
    // Requests: client -> broker, untouched.
    thread::spawn(move || {
        while let Some(frame) = read_frame(&mut c_in) {
            if frame.len() >= 6 {
                if let Ok(mut q) = requests.lock() {
                    q.push_back(i16::from_be_bytes([frame[4], frame[5]]));
                }
            }
            if b_out.write_all(&frame).is_err() {
                break;
            }
        }
        close_both(&c_in, &b_out);
    });
    // Responses: broker -> client, with faults.
    thread::spawn(move || {
        while let Some(frame) = read_frame(&mut b_in) {
            let key = pending.lock().ok().and_then(|mut q| q.pop_front());
            if let (Some((fault_key, n)), Some(k)) = (faults.cut_every_nth_response, key) {
                if k == fault_key {
                    let seen = shared.matched.fetch_add(1, Ordering::Relaxed) + 1;
                    if n > 0 && seen.is_multiple_of(n) {
                        shared.cuts.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
            if !faults.response_delay.is_zero() {
                thread::sleep(faults.response_delay);
            }
            if c_out.write_all(&frame).is_err() {
                break;
            }
        }
        close_both(&b_in, &c_out);
    });
}
