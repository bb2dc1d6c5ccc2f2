//! Helpers shared by the in-process protocol tests: start a broker on 127.0.0.1:0 and talk
//! to it over TCP with requests encoded by `kafka-protocol`'s client-side codecs.
#![allow(dead_code, unreachable_pub)]

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
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
    let mut records = BytesMut::new();
    for i in 0..count {
        let mut r = BytesMut::new();
        r.put_i8(0);
        put_varlong(&mut r, i64::from(i)); // timestamp delta
        put_varlong(&mut r, i64::from(i)); // offset delta
        let key = format!("k{i}");
        let value = format!("v{i}");
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
    b.put_i16(0);
    b.put_i32(count - 1);
    b.put_i64(base_timestamp);
    b.put_i64(base_timestamp + i64::from(count - 1));
    b.put_i64(-1);
    b.put_i16(-1);
    b.put_i32(-1);
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
