//! Hostile and malformed input over raw TCP. For each bad connection the broker must close that
//! connection (and log a line naming the peer), stay up, keep its memory bounded, and keep
//! serving a well-behaved rdkafka producer and consumer — which run concurrently on their own
//! connections for the whole test — and a raw ApiVersions connection opened before any of it.
//! Produce with a bad CRC gets CORRUPT_MESSAGE and stores nothing; ApiVersions at an
//! unsupported version gets a v0 response with UNSUPPORTED_VERSION.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use compat_tests::healthy::HealthyTraffic;
use compat_tests::wire::{self, Closed, RawRecord};
use compat_tests::{create_topic, read_all, wait_until, Broker};

/// How long the broker has to close a bad connection.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout for one raw request/response.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);
/// Resident memory the broker must stay under after the 2 GiB length prefix.
const RSS_LIMIT: u64 = 300 << 20;
/// A raw connection that stays open for the whole test and answers ApiVersions v0.
struct ControlConnection {
    stream: TcpStream,
    correlation_id: i32,
}

impl ControlConnection {
    fn open(addr: &str) -> ControlConnection {
        let stream = TcpStream::connect(addr).expect("connect control connection");
        ControlConnection {
            stream,
            correlation_id: 1000,
        }
    }

    fn api_versions(&mut self, after: &str) -> wire::ApiVersionsV0 {
        self.correlation_id += 1;
        let req = wire::request_v1(
            wire::API_VERSIONS,
            0,
            self.correlation_id,
            Some("compat-control"),
            &[],
        );
        let resp = wire::round_trip(&mut self.stream, &req, RPC_TIMEOUT)
            .unwrap_or_else(|e| panic!("control connection broken after {after}: {e}"));
        let v = wire::parse_api_versions_v0(&resp);
        assert_eq!(v.correlation_id, self.correlation_id, "after {after}");
        assert_eq!(v.error_code, 0, "ApiVersions v0 error after {after}");
        v
    }
}

/// Everything that must hold after each bad connection.
struct Checks<'a> {
    broker: &'a mut Broker,
    traffic: &'a mut HealthyTraffic,
    control: &'a mut ControlConnection,
}

impl Checks<'_> {
    fn after(&mut self, case: &str) {
        self.broker.assert_alive();
        self.control.api_versions(case);
        self.traffic.assert_progress(case);
        self.broker.assert_alive();
    }

    /// Sends `bytes` on a new connection (optionally half-closing it), then asserts that the
    /// broker closes it and logs a line naming the peer.
    fn bad_connection(&mut self, case: &str, bytes: &[u8], half_close: bool) {
        let mut s = TcpStream::connect(self.broker.bootstrap()).expect("connect");
        let peer = s.local_addr().expect("local addr").to_string();
        s.set_write_timeout(Some(Duration::from_secs(10)))
            .expect("write timeout");
        // The broker may close while we are still writing; that is allowed.
        let _ = s.write_all(bytes);
        let _ = s.flush();
        if half_close {
            let _ = s.shutdown(Shutdown::Write);
        }
        let closed = wire::wait_for_close(&mut s, CLOSE_TIMEOUT);
        assert!(
            closed.is_some(),
            "{case}: the broker did not close the connection within {CLOSE_TIMEOUT:?}\n{}",
            self.broker.log_report()
        );
        match closed {
            Some(Closed::Eof { bytes }) => {
                eprintln!("{case}: closed by the broker after it sent {bytes} bytes");
            }
            Some(Closed::Reset(e)) => eprintln!("{case}: reset by the broker ({e})"),
            None => {}
        }
        let log_ok = wait_until(
            &format!("{case}: a log line naming the peer {peer}"),
            Duration::from_secs(10),
            Duration::from_millis(50),
            || self.broker.log().contains(&peer).then_some(true),
        );
        assert!(log_ok);
        self.after(case);
    }
}

fn produce_raw(
    stream: &mut TcpStream,
    correlation_id: i32,
    topic: &str,
    batch: &[u8],
) -> wire::ProducePartition {
    wire::produce_v3(stream, correlation_id, topic, batch, RPC_TIMEOUT)
}

fn records(prefix: &str, range: std::ops::Range<usize>) -> Vec<RawRecord> {
    range
        .map(|i| RawRecord {
            key: Some(format!("k{i}").into_bytes()),
            value: Some(format!("{prefix}-{i}").into_bytes()),
        })
        .collect()
}

#[test]
#[allow(clippy::too_many_lines)]
fn bad_input_closes_only_that_connection() {
    let mut broker = Broker::start(&[]);
    let bootstrap = broker.bootstrap().to_string();
    create_topic(&bootstrap, "healthy", 1);
    create_topic(&bootstrap, "crc", 1);
    let rss_start = broker.rss_bytes();

    let mut control = ControlConnection::open(&bootstrap);
    let versions = control.api_versions("start");
    let (produce_min, produce_max) = versions
        .range(wire::PRODUCE)
        .expect("the broker advertises Produce");
    assert!(
        produce_min <= 3 && produce_max >= 3,
        "this test speaks Produce v3; broker advertises {produce_min}..={produce_max}"
    );
    let mut traffic = HealthyTraffic::start(&bootstrap, "healthy");
    traffic.assert_progress("start");

    let mut checks = Checks {
        broker: &mut broker,
        traffic: &mut traffic,
        control: &mut control,
    };

    // (1a) Garbage bytes whose "length" is negative.
    let mut garbage = vec![0xff, 0xfe, 0xfd, 0xfc];
    garbage.extend(compat_tests::XorShift::new(42).bytes(4096));
    checks.bad_connection("garbage with negative length", &garbage, false);

    // (1b) Garbage that frames correctly but whose header is nonsense (api key -8531).
    let mut framed = wire::frame(&[0xde; 24]);
    framed.extend_from_slice(&[0xad; 16]);
    checks.bad_connection("framed garbage", &framed, false);

    // (1c) Text protocol on the Kafka port: "GET " reads as a ~1.1 GiB length.
    checks.bad_connection(
        "HTTP request",
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        false,
    );

    // (2) Truncated frame: the length says 100, 10 bytes follow, then we stop sending.
    let mut truncated = 100i32.to_be_bytes().to_vec();
    truncated.extend_from_slice(&[0, 18, 0, 0, 0, 0, 0, 1, 0, 0]);
    checks.bad_connection("truncated frame", &truncated, true);

    // (3) A 2 GiB length prefix followed by some bytes: must be refused without allocating.
    let mut huge = 0x7fff_ffffi32.to_be_bytes().to_vec();
    huge.extend(std::iter::repeat_n(0u8, 64 * 1024));
    checks.bad_connection("2 GiB length prefix", &huge, false);
    let rss = checks.broker.rss_bytes();
    assert!(
        rss < RSS_LIMIT,
        "broker VmRSS is {} MiB after a 2 GiB length prefix (limit {} MiB, {} MiB at start)",
        rss >> 20,
        RSS_LIMIT >> 20,
        rss_start >> 20
    );

    // (4) A frame shorter than any request header.
    checks.bad_connection("2-byte frame", &[0, 0, 0, 2, 0, 18], false);

    // (5) An unknown API key with an otherwise valid header.
    let unknown = wire::request_v1(9999, 0, 7, Some("compat-raw"), &[]);
    checks.bad_connection("unknown API key 9999", &unknown, false);

    // (6) Produce v3 with a wrong CRC: CORRUPT_MESSAGE, and nothing of it is stored.
    let mut raw = TcpStream::connect(&bootstrap).expect("connect raw producer");
    let good = wire::record_batch(1_700_000_000_000, &records("valid", 0..3));
    let first = produce_raw(&mut raw, 1, "crc", &good);
    assert_eq!(
        (first.error_code, first.base_offset),
        (0, 0),
        "a correct hand-built batch must be accepted at offset 0"
    );
    let mut corrupt = wire::record_batch(1_700_000_001_000, &records("corrupt", 0..3));
    let last = corrupt.len() - 2;
    corrupt[last] ^= 0x55; // inside the last record's value; the CRC no longer matches
    let bad = produce_raw(&mut raw, 2, "crc", &corrupt);
    assert_eq!(
        bad.error_code,
        wire::CORRUPT_MESSAGE,
        "a batch with a wrong CRC must get CORRUPT_MESSAGE (2), got {bad:?}"
    );
    let good2 = wire::record_batch(1_700_000_002_000, &records("valid", 3..6));
    let after = produce_raw(&mut raw, 3, "crc", &good2);
    assert_eq!(
        (after.error_code, after.base_offset),
        (0, 3),
        "the corrupt batch must not take offsets"
    );
    drop(raw);
    let stored = read_all(&bootstrap, "crc", 1, Duration::from_secs(30));
    let values: Vec<(i64, String)> = stored[&0]
        .iter()
        .map(|r| {
            (
                r.offset,
                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned(),
            )
        })
        .collect();
    let want: Vec<(i64, String)> = (0..6).map(|i| (i, format!("valid-{i}"))).collect();
    assert_eq!(values, want, "only the valid batches are stored");
    checks.after("corrupt Produce");

    // (7) ApiVersions at an unsupported version (v99): a v0 response with UNSUPPORTED_VERSION.
    let mut s = TcpStream::connect(&bootstrap).expect("connect");
    let mut body = wire::Writer::new();
    body.compact_string("compat-tests")
        .compact_string("0.1")
        .uvarint(0);
    let req = wire::request_v2(wire::API_VERSIONS, 99, 4242, Some("compat-raw"), &body.buf);
    let resp = wire::round_trip(&mut s, &req, RPC_TIMEOUT).expect("ApiVersions v99 response");
    let v = wire::parse_api_versions_v0(&resp);
    assert_eq!(v.correlation_id, 4242);
    assert_eq!(
        v.error_code,
        wire::UNSUPPORTED_VERSION,
        "ApiVersions v99 must be answered with UNSUPPORTED_VERSION (35)"
    );
    if let Some((lo, hi)) = v.range(wire::API_VERSIONS) {
        assert!(
            lo <= hi && hi < 99,
            "advertised ApiVersions range {lo}..={hi}"
        );
    }
    drop(s);
    checks.after("ApiVersions v99");

    traffic.join();
    let rss_end = broker.rss_bytes();
    eprintln!(
        "broker VmRSS: {} MiB at start, {} MiB at the end",
        rss_start >> 20,
        rss_end >> 20
    );
    assert!(
        rss_end < RSS_LIMIT,
        "broker VmRSS {} MiB at the end",
        rss_end >> 20
    );
    broker.stop();
}
