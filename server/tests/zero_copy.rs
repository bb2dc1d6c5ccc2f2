//! Zero-copy fetch over TCP: answers whose record bytes go from the segment files to the socket with `sendfile`
//! must be byte for byte the answers the broker builds when it copies them, in the Fetch versions with `INT32` and
//! with compact (varint) record lengths, and the record bytes must be the segment file's bytes.
//!
//! Three brokers get the same data: one sends every range from the file (`fetch.zero.copy.min.bytes=0`), one
//! mixes (the default: large ranges from the file, small ones copied) and one copies everything. One partition
//! holds about 6 MiB, more than a loopback socket buffer, so `sendfile` meets a full socket and has to wait.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};
use minikafka::broker::RunningBroker;
use tokio::io::AsyncReadExt;

const TOPIC: &str = "zc";
/// Partition 0: 200 batches of 30 KiB; partition 1: 300 small batches; partition 2: empty.
const BIG_BATCHES: i32 = 200;
const SMALL_BATCHES: i32 = 300;

async fn load(b: &RunningBroker) {
    let mut c = Client::connect(b).await;
    let r = c.call(create_req(TOPIC, 3, 1, &[]), 7).await;
    assert_eq!(r.topics[0].error_code, 0);
    for i in 0..BIG_BATCHES {
        let batch = batch_of(
            1,
            1_700_000_000_000 + i64::from(i),
            -1,
            -1,
            -1,
            false,
            30 << 10,
        );
        let r = c.call(produce_req(TOPIC, 0, batch.freeze(), -1), 9).await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    for i in 0..SMALL_BATCHES {
        let batch = batch(3, 1_700_000_000_000 + i64::from(i));
        let r = c.call(produce_req(TOPIC, 1, batch.freeze(), -1), 9).await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
}

/// A fetch of all three partitions from offset 0 (no session), by name.
fn fetch_all(partition_max: i32, isolation_level: i8) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_isolation_level(isolation_level)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(TOPIC))
            .with_partitions(
                (0..3)
                    .map(|p| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(0)
                            .with_partition_max_bytes(partition_max)
                    })
                    .collect(),
            )])
}

/// Send `req` and return the whole answer frame as received (without its 4-byte size).
async fn raw_call(c: &mut Client, req: &FetchRequest, version: i16) -> Bytes {
    c.send_raw(req, version).await;
    let len = c.stream.read_i32().await.unwrap();
    let mut buf = vec![0u8; usize::try_from(len).unwrap()];
    c.stream.read_exact(&mut buf).await.unwrap();
    Bytes::from(buf)
}

/// Decode a frame and encode it again with `kafka-protocol`: the broker's spliced frame must be exactly what the
/// codec itself writes for that answer.
fn decode_reencode(frame: &Bytes, version: i16) -> FetchResponse {
    let mut buf = frame.clone();
    let rhv = <FetchResponse as HeaderVersion>::header_version(version);
    let header = ResponseHeader::decode(&mut buf, rhv).unwrap();
    let resp = FetchResponse::decode(&mut buf, version).unwrap();
    assert!(
        buf.is_empty(),
        "v{version}: trailing bytes after the response"
    );
    let mut again = BytesMut::new();
    header.encode(&mut again, rhv).unwrap();
    resp.encode(&mut again, version).unwrap();
    assert_eq!(
        &again[..],
        &frame[..],
        "v{version}: frame differs from the codec's encoding"
    );
    resp
}

fn records(resp: &FetchResponse, partition: i32) -> Bytes {
    let p = resp.responses[0]
        .partitions
        .iter()
        .find(|p| p.partition_index == partition)
        .unwrap();
    assert_eq!(p.error_code, 0);
    p.records.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_copy_answers_equal_copied_answers_byte_for_byte() {
    let settings = [
        "fetch.zero.copy.min.bytes=0",
        "fetch.zero.copy.min.bytes=16384",
        "fetch.zero.copy.min.bytes=2147483647",
    ];
    let mut answers: Vec<Vec<Bytes>> = Vec::new();
    for setting in settings {
        let dir = tempfile::tempdir().unwrap();
        let b = start(dir.path(), &[setting]).await;
        load(&b).await;
        let mut c = Client::connect(&b).await;
        let mut frames = Vec::new();
        // v11: records length is an INT32; v12: a compact varint. Everything, then a 100 KiB partition budget
        // (whole batches only), then read_committed.
        for (version, partition_max, isolation) in [
            (11, 8 << 20, 0),
            (12, 8 << 20, 0),
            (12, 100 << 10, 0),
            (11, 100 << 10, 1),
            (12, 8 << 20, 1),
        ] {
            let frame = raw_call(&mut c, &fetch_all(partition_max, isolation), version).await;
            let resp = decode_reencode(&frame, version);
            let p0 = records(&resp, 0);
            let p1 = records(&resp, 1);
            assert!(records(&resp, 2).is_empty());
            let big = batch_offsets(p0.clone());
            let small = batch_offsets(p1.clone());
            if partition_max == 8 << 20 {
                // Everything, exactly the segment files' bytes.
                for (p, recs) in [(0, &p0), (1, &p1)] {
                    let log = std::fs::read(
                        dir.path()
                            .join(format!("{TOPIC}-{p}/00000000000000000000.log")),
                    )
                    .unwrap();
                    assert_eq!(
                        &recs[..],
                        &log[..],
                        "{setting} v{version}: partition {p} bytes"
                    );
                }
                assert_eq!(big.len(), BIG_BATCHES as usize);
                assert_eq!(small.len(), SMALL_BATCHES as usize);
            } else {
                // Whole batches within the budget, from offset 0, nothing cut.
                let whole: usize = big.len() * (p0.len() / big.len());
                assert_eq!(whole, p0.len(), "{setting}: partial batch returned");
                assert!(p0.len() <= 100 << 10 && p0.len() + p0.len() / big.len() > 100 << 10);
                assert_eq!(big[0].0, 0);
            }
            frames.push(frame);
        }
        // Pipelined requests on one connection keep their order and framing across file parts.
        let c1 = c.send_raw(&fetch_all(8 << 20, 0), 12).await;
        let c2 = c.send_raw(&fetch_all(100 << 10, 0), 11).await;
        let r1 = c.recv::<FetchRequest>(12, c1).await;
        let r2 = c.recv::<FetchRequest>(11, c2).await;
        assert_eq!(batch_offsets(records(&r1, 0)).len(), BIG_BATCHES as usize);
        assert!(records(&r2, 0).len() <= 100 << 10);
        answers.push(frames);
        b.shutdown().await.unwrap();
    }
    for (i, setting) in settings.iter().enumerate().skip(1) {
        assert_eq!(
            answers[i], answers[0],
            "{setting}: answers differ from the all-sendfile broker's"
        );
    }
}
