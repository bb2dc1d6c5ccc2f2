//! Hostile connection floods against the broker binary, with a real rdkafka producer as the
//! client that must still be served (issue 16, "Connections").
//!
//! 1. Idle sockets fill `max.connections`: the broker closes them after
//!    `connections.max.idle.ms`, and a producer that arrived meanwhile gets through.
//! 2. A flood from one address (127.0.0.2, another loopback address) over
//!    `max.connections.per.ip`: the broker keeps that address's quota, closes the excess right
//!    after accept with a log line naming the peer, and a producer on 127.0.0.1 (whose
//!    `max.connections.per.ip.overrides` entry is larger) is served while the flood's
//!    connections stay open.
//!
//! No timing assertions: every wait bounds something that must happen.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use compat_tests::wire::{self, Closed};
use compat_tests::{block_on, create_topic, producer_config, unique_topic, Broker};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

/// Bound on the broker closing a connection it must close.
const CLOSE_BOUND: Duration = Duration::from_secs(30);
/// Bound on one raw request/answer.
const RPC_TIMEOUT: Duration = Duration::from_secs(15);

/// Open a connection to `addr` from `source` (an address of the loopback network).
fn connect_from(source: &str, addr: SocketAddr) -> TcpStream {
    block_on(async {
        let s = tokio::net::TcpSocket::new_v4().expect("socket");
        s.bind(format!("{source}:0").parse().expect("source address"))
            .expect("bind the source address");
        let stream = s.connect(addr).await.expect("connect");
        let std = stream.into_std().expect("into std");
        std.set_nonblocking(false).expect("blocking");
        std
    })
}

/// Whether an ApiVersions v0 on `s` is answered (`false`: the broker closed the connection).
fn answered(s: &mut TcpStream, correlation: i32) -> bool {
    let req = wire::request_v1(wire::API_VERSIONS, 0, correlation, Some("hostile"), &[]);
    match wire::round_trip(s, &req, RPC_TIMEOUT) {
        Ok(resp) => {
            let v = wire::parse_api_versions_v0(&resp);
            assert_eq!((v.correlation_id, v.error_code), (correlation, 0));
            true
        }
        Err(e) => {
            assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "neither answered nor closed within {RPC_TIMEOUT:?}"
            );
            false
        }
    }
}

/// Produce one record with rdkafka and wait (bounded by its message timeout) for the ack.
fn produce_one(bootstrap: &str, topic: &str) {
    let producer: FutureProducer = producer_config(bootstrap)
        .create()
        .expect("create producer");
    let delivery = block_on(producer.send(
        FutureRecord::to(topic).key("k").payload("served"),
        Timeout::After(Duration::from_secs(60)),
    ));
    let (partition, offset) = delivery
        .map(|d| (d.partition, d.offset))
        .unwrap_or_else(|(e, _)| panic!("produce failed: {e}"));
    assert_eq!(partition, 0);
    assert!(offset >= 0);
}

#[test]
fn idle_sockets_filling_max_connections_are_closed_and_a_producer_gets_through() {
    const LIMIT: usize = 40;
    let broker = Broker::start(&[
        "--set",
        &format!("max.connections={LIMIT}"),
        "--set",
        "connections.max.idle.ms=2000",
    ]);
    let addr: SocketAddr = broker.bootstrap().parse().expect("bootstrap address");
    let topic = unique_topic("idle-flood");
    create_topic(broker.bootstrap(), &topic, 1);
    // Every slot taken by a socket that never sends a byte.
    let mut idle: Vec<TcpStream> = (0..LIMIT)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    // Served although all the idle sockets are still open on the client side: the broker
    // closes them once idle, which frees the slots.
    produce_one(broker.bootstrap(), &topic);
    for (i, s) in idle.iter_mut().enumerate() {
        assert!(
            matches!(
                wire::wait_for_close(s, CLOSE_BOUND),
                Some(Closed::Eof { bytes: 0 } | Closed::Reset(_))
            ),
            "idle connection {i} was not closed by the broker\n{}",
            broker.log_report()
        );
    }
    assert!(
        broker.log().contains("closing idle connection"),
        "{}",
        broker.log_report()
    );
}

#[test]
fn a_flood_from_one_address_is_capped_and_a_producer_elsewhere_is_served() {
    const PER_IP: usize = 10;
    const FLOOD: usize = 40;
    let broker = Broker::start(&[
        "--set",
        "max.connections=60",
        "--set",
        &format!("max.connections.per.ip={PER_IP}"),
        "--set",
        "max.connections.per.ip.overrides=127.0.0.1:100",
    ]);
    let addr: SocketAddr = broker.bootstrap().parse().expect("bootstrap address");
    let topic = unique_topic("ip-flood");
    create_topic(broker.bootstrap(), &topic, 1);
    // One connection at a time, so the broker admits them in order.
    let mut kept = Vec::new();
    let mut closed = 0;
    for i in 0..FLOOD {
        let mut s = connect_from("127.0.0.2", addr);
        if answered(&mut s, i32::try_from(i).expect("small")) {
            kept.push(s);
        } else {
            closed += 1;
        }
    }
    assert_eq!(kept.len(), PER_IP, "{}", broker.log_report());
    assert_eq!(closed, FLOOD - PER_IP);
    // The flood's connections stay open, and 127.0.0.1 is unaffected.
    produce_one(broker.bootstrap(), &topic);
    let log = broker.log();
    assert!(
        log.contains("rejected connection") && log.contains("127.0.0.2"),
        "the rejection names the peer\n{}",
        broker.log_report()
    );
    // A closed connection frees its slot for the same address (bounded retries: the broker
    // sees the close asynchronously).
    drop(kept.pop());
    let admitted = (0..100).any(|n| {
        let mut s = connect_from("127.0.0.2", addr);
        let ok = answered(&mut s, 1000 + n);
        if ok {
            kept.push(s);
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
        ok
    });
    assert!(
        admitted,
        "a freed slot was not reused\n{}",
        broker.log_report()
    );
}
