//! A Kafka protocol connection for tests that send chosen requests to a chosen broker: each
//! request encoded with `kafka-protocol`'s client-side codecs, its answer decoded and checked
//! (correlation id, nothing left over). Real clients pick the broker themselves; these tests
//! need to ask a particular one (a hostile request, a node that does not lead a partition).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// Read and write timeout of every call.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One connection speaking the Kafka protocol.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    correlation: i32,
    client_id: &'static str,
}

impl Conn {
    /// Connect to `addr` (`host:port`); requests carry `client_id`.
    pub fn open(addr: &str, client_id: &'static str) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        Conn {
            stream,
            correlation: 0,
            client_id,
        }
    }

    /// Send `req` at `version` and return the decoded answer (panics on anything unexpected).
    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str(self.client_id)));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, R::header_version(version))
            .expect("encode header");
        req.encode(&mut buf, version).expect("encode request");
        let len = i32::try_from(buf.len() - 4).expect("frame size");
        buf[..4].copy_from_slice(&len.to_be_bytes());
        self.stream.write_all(&buf).expect("send");
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).expect("read length");
        let mut body = vec![0u8; usize::try_from(i32::from_be_bytes(len)).expect("length")];
        self.stream.read_exact(&mut body).expect("read body");
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .expect("decode response header");
        assert_eq!(header.correlation_id, self.correlation);
        let response = R::Response::decode(&mut body, version).expect("decode response");
        assert!(!body.has_remaining(), "trailing bytes in the response");
        response
    }
}
