//! Connection limits over real TCP against an in-process broker (issue 16, "Connections"):
//! `max.connections.per.ip` and its overrides close the excess connection right after accept and
//! free slots when connections close; `max.connections` holds new clients until a slot frees;
//! `connections.max.idle.ms` closes idle and slowloris connections but not busy ones, nor one
//! waiting on a long-poll Fetch; `queued.max.request.bytes` stops reading new requests while
//! the requests in flight hold the whole budget.
//!
//! No timing assertions: every wait is a bound on something that must happen (a close, an
//! answer), except the "not answered yet" checks, which can only pass wrongly, never fail
//! wrongly, on a slow machine.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Upper bound on anything the broker must do (answer, close).
const BOUND: Duration = Duration::from_secs(15);

/// An encoded ApiVersions v3 request with `correlation`.
fn api_versions(correlation: i32) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(ApiVersionsRequest::KEY)
        .with_request_api_version(3)
        .with_correlation_id(correlation)
        .with_client_id(Some(StrBytes::from_static_str("connections-test")));
    let mut buf = bytes::BytesMut::new();
    buf.extend_from_slice(&[0; 4]);
    header
        .encode(&mut buf, ApiVersionsRequest::header_version(3))
        .unwrap();
    ApiVersionsRequest::default().encode(&mut buf, 3).unwrap();
    let len = i32::try_from(buf.len() - 4).unwrap();
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf.to_vec()
}

/// Read one ApiVersions answer: `Some(correlation id)`, or `None` if the broker closed the
/// connection. Panics if neither happens within `wait`.
async fn answer(s: &mut TcpStream, wait: Duration) -> Option<i32> {
    let mut len = [0u8; 4];
    match timeout(wait, s.read_exact(&mut len)).await {
        Err(_) => panic!("no answer and no close within {wait:?}"),
        Ok(Err(_)) => return None,
        Ok(Ok(_)) => {}
    }
    let mut body = vec![0u8; usize::try_from(i32::from_be_bytes(len)).unwrap()];
    timeout(wait, s.read_exact(&mut body))
        .await
        .expect("rest of the answer")
        .ok()?;
    let mut body = bytes::Bytes::from(body);
    let correlation = i32::from_be_bytes(body[..4].try_into().unwrap());
    let _ = body.split_to(4);
    let r = ApiVersionsResponse::decode(&mut body, 3).unwrap();
    assert_eq!(r.error_code, 0);
    Some(correlation)
}

/// Whether nothing arrives on `s` within `wait` (neither an answer nor a close).
async fn silent(s: &mut TcpStream, wait: Duration) -> bool {
    let mut b = [0u8; 1];
    timeout(wait, s.peek(&mut b)).await.is_err()
}

/// Connect and make one ApiVersions call: the open connection if it was answered, `None` if the
/// broker closed it.
async fn served(addr: SocketAddr) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The broker may already have closed it: a failed write means the same as a close.
    if s.write_all(&api_versions(1)).await.is_err() {
        return None;
    }
    answer(&mut s, BOUND).await.map(|c| {
        assert_eq!(c, 1);
        s
    })
}

/// Until a new connection is served (a closed one's slot is freed when the broker sees the
/// close, which it does asynchronously): bounded in count and time.
async fn served_eventually(addr: SocketAddr) -> TcpStream {
    for _ in 0..100 {
        if let Some(s) = served(addr).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no connection served after a slot was freed");
}

#[tokio::test]
async fn per_ip_limit_closes_the_excess_connection_and_a_closed_one_frees_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["max.connections.per.ip=2"]).await;
    let addr = b.local_addr();
    let first = served(addr).await.expect("first connection served");
    let _second = served(addr).await.expect("second connection served");
    assert!(
        served(addr).await.is_none(),
        "the third connection from 127.0.0.1 is closed by the broker, not served or left hanging"
    );
    drop(first);
    let _third = served_eventually(addr).await;
    assert!(served(addr).await.is_none(), "still at the limit");
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn per_ip_override_replaces_the_default_limit() {
    let dir = tempfile::tempdir().unwrap();
    // 0 for every address but 127.0.0.1, which may have 3.
    let b = start(
        dir.path(),
        &[
            "max.connections.per.ip=0",
            "max.connections.per.ip.overrides=127.0.0.1:3",
        ],
    )
    .await;
    let addr = b.local_addr();
    let mut open = Vec::new();
    for i in 0..3 {
        open.push(
            served(addr)
                .await
                .unwrap_or_else(|| panic!("connection {i} closed")),
        );
    }
    assert!(
        served(addr).await.is_none(),
        "a fourth is over the override"
    );
    open.truncate(1);
    let _a = served_eventually(addr).await;
    let _b = served_eventually(addr).await;
    assert!(served(addr).await.is_none());
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn max_connections_holds_a_new_client_until_a_slot_frees() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["max.connections=2"]).await;
    let addr = b.local_addr();
    let first = served(addr).await.unwrap();
    let _second = served(addr).await.unwrap();
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(&api_versions(7)).await.unwrap();
    assert!(silent(&mut third, Duration::from_millis(300)).await);
    drop(first);
    assert_eq!(
        answer(&mut third, BOUND).await,
        Some(7),
        "served once a slot freed"
    );
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn idle_connections_are_closed_busy_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    // 2 s: a busy client's 50 ms pauses stay far below it even on a loaded machine.
    let b = start(dir.path(), &["connections.max.idle.ms=2000"]).await;
    let addr = b.local_addr();
    // A connection that never sends anything is closed: the read sees EOF.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut byte = [0u8; 1];
    let n = timeout(BOUND, idle.read(&mut byte))
        .await
        .expect("the broker closes an idle connection")
        .unwrap_or(0);
    assert_eq!(n, 0);
    // One answered, then idle: closed too.
    let mut once = served(addr).await.unwrap();
    assert_eq!(answer(&mut once, BOUND).await, None);
    // A client that keeps sending requests, for longer than the idle timeout in all, is served.
    let mut busy = TcpStream::connect(addr).await.unwrap();
    let started = std::time::Instant::now();
    let mut correlation = 0;
    while started.elapsed() < Duration::from_millis(3000) && correlation < 1000 {
        correlation += 1;
        busy.write_all(&api_versions(correlation)).await.unwrap();
        assert_eq!(answer(&mut busy, BOUND).await, Some(correlation));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A long-poll Fetch that waits longer than the idle timeout is not idle.
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("t", 1, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let r = c.call(fetch_req("t", 0, 0, 3000, 1 << 20), 12).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    assert_eq!(c.call(ApiVersionsRequest::default(), 3).await.error_code, 0);
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_trickled_request_is_closed_by_the_read_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &["connections.max.idle.ms=1000"]).await;
    let addr = b.local_addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    // Claims 100 MB (socket.request.max.bytes allows it), sends 10 bytes, then one every 100 ms:
    // never idle for 1 s, but the request never completes.
    s.write_all(&(100i32 << 20).to_be_bytes()).await.unwrap();
    s.write_all(&[0; 10]).await.unwrap();
    let mut closed = false;
    for _ in 0..200 {
        if s.write_all(&[0]).await.is_err() {
            closed = true;
            break;
        }
        let mut byte = [0u8; 1];
        match timeout(Duration::from_millis(100), s.read(&mut byte)).await {
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => panic!("an answer to a request that was never sent"),
            Err(_) => {}
        }
    }
    assert!(closed, "a slowloris connection is closed");
    assert!(served(addr).await.is_some(), "others are still served");
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn requests_wait_while_queued_bytes_are_exhausted() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(
        dir.path(),
        &[
            "socket.request.max.bytes=1024",
            "queued.max.request.bytes=1024",
        ],
    )
    .await;
    let addr = b.local_addr();
    // A request of 1024 bytes, 100 of them sent: it holds the whole budget while it arrives.
    let mut hog = TcpStream::connect(addr).await.unwrap();
    hog.write_all(&1024i32.to_be_bytes()).await.unwrap();
    hog.write_all(&[0; 100]).await.unwrap();
    // The broker reads the hog's length when it gets to it; until then other requests pass.
    // Bounded: 40 tries.
    let mut other = TcpStream::connect(addr).await.unwrap();
    let mut waiting = None;
    for correlation in 1..=40 {
        other.write_all(&api_versions(correlation)).await.unwrap();
        if silent(&mut other, Duration::from_millis(300)).await {
            waiting = Some(correlation);
            break;
        }
        assert_eq!(answer(&mut other, BOUND).await, Some(correlation));
    }
    let waiting = waiting.expect("a request waits while the budget is held");
    drop(hog);
    assert_eq!(
        answer(&mut other, BOUND).await,
        Some(waiting),
        "answered once the memory is free"
    );
    b.shutdown().await.unwrap();
}
