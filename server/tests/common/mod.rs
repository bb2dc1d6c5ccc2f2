//! Helpers shared by the in-process protocol tests: start a broker on 127.0.0.1:0 and talk
//! to it over TCP with requests encoded by `kafka-protocol`'s client-side codecs.
#![allow(dead_code, unreachable_pub)]

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use minikafka::broker::RunningBroker;
use minikafka::config::ConfigBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub async fn start(dir: &std::path::Path, sets: &[&str]) -> RunningBroker {
    let mut b = ConfigBuilder::default();
    b.set("listeners", "127.0.0.1:0").unwrap();
    b.set("log.dirs", dir.to_str().unwrap()).unwrap();
    for s in sets {
        b.set_pair(s).unwrap();
    }
    RunningBroker::start(b.build().unwrap()).await.unwrap()
}

pub struct Client {
    pub stream: TcpStream,
    pub correlation: i32,
}

impl Client {
    pub async fn connect(b: &RunningBroker) -> Client {
        Client {
            stream: TcpStream::connect(b.local_addr()).await.unwrap(),
            correlation: 0,
        }
    }

    pub async fn send_raw<R: Request>(&mut self, req: &R, version: i16) -> i32 {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("protocol-test")));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header.encode(&mut buf, R::header_version(version)).unwrap();
        req.encode(&mut buf, version).unwrap();
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        self.stream.write_all(&buf).await.unwrap();
        self.correlation
    }

    pub async fn recv<R: Request>(&mut self, version: i16, correlation: i32) -> R::Response {
        let len = self.stream.read_i32().await.unwrap();
        let mut buf = vec![0u8; len as usize];
        self.stream.read_exact(&mut buf).await.unwrap();
        let mut buf = Bytes::from(buf);
        let header =
            ResponseHeader::decode(&mut buf, R::Response::header_version(version)).unwrap();
        assert_eq!(header.correlation_id, correlation);
        R::Response::decode(&mut buf, version).unwrap()
    }

    pub async fn call<R: Request>(&mut self, req: R, version: i16) -> R::Response {
        let c = self.send_raw(&req, version).await;
        self.recv::<R>(version, c).await
    }
}

pub fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// A v2 batch of uncompressed records (value = "v{i}", key = "k{i}"), built by hand so the
/// test does not depend on the broker's own batch code.
pub fn batch(count: i32, base_timestamp: i64) -> BytesMut {
    batch_of(count, base_timestamp, -1, -1, -1, false, 0)
}

/// Like [`batch`], with producer id, epoch, base sequence, the transactional bit and `pad` bytes of filler after
/// each value (for large batches).
pub fn batch_of(
    count: i32,
    base_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    pad: usize,
) -> BytesMut {
    let mut records = BytesMut::new();
    for i in 0..count {
        let mut r = BytesMut::new();
        r.put_i8(0);
        put_varlong(&mut r, i64::from(i)); // timestamp delta
        put_varlong(&mut r, i64::from(i)); // offset delta
        let key = format!("k{i}");
        let value = format!("v{i}{}", "x".repeat(pad));
        put_varlong(&mut r, key.len() as i64);
        r.put_slice(key.as_bytes());
        put_varlong(&mut r, value.len() as i64);
        r.put_slice(value.as_bytes());
        put_varlong(&mut r, 0);
        put_varlong(&mut records, r.len() as i64);
        records.put_slice(&r);
    }
    let mut b = BytesMut::new();
    b.put_i64(0);
    b.put_i32(0); // length, patched below
    b.put_i32(-1);
    b.put_i8(2);
    b.put_u32(0); // crc, patched below
    b.put_i16(if transactional { 0x10 } else { 0 });
    b.put_i32(count - 1);
    b.put_i64(base_timestamp);
    b.put_i64(base_timestamp + i64::from(count - 1));
    b.put_i64(producer_id);
    b.put_i16(producer_epoch);
    b.put_i32(base_sequence);
    b.put_i32(count);
    b.put_slice(&records);
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

pub fn put_varlong(b: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        b.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    b.put_u8(z as u8);
}

pub fn create_req(
    topic: &str,
    partitions: i32,
    rf: i16,
    configs: &[(&str, &str)],
) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(rf)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(k.to_string()))
                            .with_value(Some(StrBytes::from_string(v.to_string())))
                    })
                    .collect(),
            )])
}

pub fn produce_req(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

pub fn fetch_req(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    partition_max: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(partition_max)])])
}

pub fn list_offsets_req(topic: &str, partition: i32, ts: i64) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(ts)])])
}

/// Base offsets of the batches in a fetched record set.
/// (base offset, record count) of each batch in `records`.
pub fn batch_offsets(mut records: Bytes) -> Vec<(i64, i32)> {
    let mut out = Vec::new();
    while records.remaining() >= 61 {
        let base = records.get_i64();
        let len = records.get_i32();
        let mut body = records.split_to(len as usize);
        body.advance(4 + 1 + 4 + 2);
        let last_delta = body.get_i32();
        out.push((base, last_delta + 1));
    }
    out
}

/// FindCoordinator for group `group` (v3), which creates `__consumer_offsets` as in Kafka; the error code.
pub async fn find_group_coordinator(c: &mut Client, group: &str) -> i16 {
    let req = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(group.to_string()))
        .with_key_type(0);
    c.call(req, 3).await.error_code
}
