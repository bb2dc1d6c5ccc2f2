//! Hand-built Kafka wire frames for raw-socket tests.
//!
//! The broker decodes requests with the `kafka-protocol` crate; building the few frames the
//! tests need by hand here keeps the test side independent of that codec, so a shared bug cannot
//! hide. Only what the tests use is implemented: request headers v1/v2, ApiVersions v0, Produce
//! v3, record batch v2 (CRC-32C), and the matching response parsers.
//!
//! ```
//! use compat_tests::wire;
//! let frame = wire::request_v1(18, 0, 1, Some("me"), &[]);
//! assert_eq!(&frame[..4], &(frame.len() as i32 - 4).to_be_bytes());
//! ```

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// API key of Produce.
pub const PRODUCE: i16 = 0;
/// API key of Fetch.
pub const FETCH: i16 = 1;
/// API key of ApiVersions.
pub const API_VERSIONS: i16 = 18;
/// Error code CORRUPT_MESSAGE.
pub const CORRUPT_MESSAGE: i16 = 2;
/// Error code UNSUPPORTED_VERSION.
pub const UNSUPPORTED_VERSION: i16 = 35;

/// A big-endian byte writer with Kafka's primitive types.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    /// Bytes written so far.
    pub buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    #[must_use]
    pub fn new() -> Writer {
        Writer::default()
    }
    /// INT8.
    pub fn i8(&mut self, v: i8) -> &mut Writer {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// INT16.
    pub fn i16(&mut self, v: i16) -> &mut Writer {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// INT32.
    pub fn i32(&mut self, v: i32) -> &mut Writer {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// INT64.
    pub fn i64(&mut self, v: i64) -> &mut Writer {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Raw bytes, no length.
    pub fn raw(&mut self, v: &[u8]) -> &mut Writer {
        self.buf.extend_from_slice(v);
        self
    }
    /// NULLABLE_STRING (INT16 length, -1 for null).
    pub fn string(&mut self, v: Option<&str>) -> &mut Writer {
        match v {
            None => self.i16(-1),
            Some(s) => {
                self.i16(i16::try_from(s.len()).expect("short string"));
                self.raw(s.as_bytes())
            }
        }
    }
    /// COMPACT_STRING (unsigned varint length + 1).
    pub fn compact_string(&mut self, s: &str) -> &mut Writer {
        self.uvarint(u64::try_from(s.len() + 1).expect("length"));
        self.raw(s.as_bytes())
    }
    /// BYTES / NULLABLE_BYTES (INT32 length, -1 for null).
    pub fn bytes(&mut self, v: Option<&[u8]>) -> &mut Writer {
        match v {
            None => self.i32(-1),
            Some(b) => {
                self.i32(i32::try_from(b.len()).expect("bytes length"));
                self.raw(b)
            }
        }
    }
    /// UNSIGNED_VARINT.
    pub fn uvarint(&mut self, mut v: u64) -> &mut Writer {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
        self
    }
    /// VARINT / VARLONG (zigzag).
    pub fn varint(&mut self, v: i64) -> &mut Writer {
        self.uvarint(((v << 1) ^ (v >> 63)) as u64)
    }
}

/// A big-endian reader over a response body; every read panics with a clear message if the
/// frame is too short.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    #[must_use]
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(
            self.pos + n <= self.buf.len(),
            "response too short: need {n} bytes at {} of {}",
            self.pos,
            self.buf.len()
        );
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        s
    }
    /// INT16.
    pub fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().expect("2 bytes"))
    }
    /// INT32.
    pub fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().expect("4 bytes"))
    }
    /// INT64.
    pub fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().expect("8 bytes"))
    }
    /// NULLABLE_STRING.
    pub fn string(&mut self) -> Option<String> {
        let len = self.i16();
        if len < 0 {
            return None;
        }
        let b = self.take(usize::try_from(len).expect("length"));
        Some(String::from_utf8_lossy(b).into_owned())
    }
    /// Bytes not read yet.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

/// Frames `payload` with its INT32 length prefix.
#[must_use]
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend_from_slice(
        &i32::try_from(payload.len())
            .expect("frame size")
            .to_be_bytes(),
    );
    out.extend_from_slice(payload);
    out
}

/// A framed request with header v1 (key, version, correlation id, client id) and `body`.
#[must_use]
pub fn request_v1(
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    request(api_key, api_version, correlation_id, client_id, false, body)
}

/// A framed request with header v2 (header v1 plus an empty tagged-field section) and `body`.
#[must_use]
pub fn request_v2(
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    request(api_key, api_version, correlation_id, client_id, true, body)
}

fn request(
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    tagged_fields: bool,
    body: &[u8],
) -> Vec<u8> {
    let mut w = Writer::new();
    w.i16(api_key)
        .i16(api_version)
        .i32(correlation_id)
        .string(client_id);
    if tagged_fields {
        w.uvarint(0);
    }
    w.raw(body);
    frame(&w.buf)
}

/// One record of a hand-built batch.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// Key (`None` = null).
    pub key: Option<Vec<u8>>,
    /// Value (`None` = null).
    pub value: Option<Vec<u8>>,
}

/// Byte offset of the CRC field inside a v2 record batch.
pub const BATCH_CRC_OFFSET: usize = 17;
/// Byte offset of the attributes field (the start of the CRC-covered range).
pub const BATCH_ATTRIBUTES_OFFSET: usize = 21;

/// An uncompressed magic-v2 record batch with base offset 0, a correct CRC-32C, no producer id
/// and timestamps `base_timestamp + i`.
#[must_use]
pub fn record_batch(base_timestamp: i64, records: &[RawRecord]) -> Vec<u8> {
    let n = i32::try_from(records.len()).expect("record count");
    let mut recs = Writer::new();
    for (i, r) in records.iter().enumerate() {
        let mut body = Writer::new();
        body.i8(0) // attributes
            .varint(i as i64) // timestamp delta
            .varint(i as i64); // offset delta
        match &r.key {
            None => body.varint(-1),
            Some(k) => body.varint(k.len() as i64).raw(k),
        };
        match &r.value {
            None => body.varint(-1),
            Some(v) => body.varint(v.len() as i64).raw(v),
        };
        body.uvarint(0); // no headers
        recs.varint(body.buf.len() as i64).raw(&body.buf);
    }
    // Everything after the CRC field.
    let mut tail = Writer::new();
    tail.i16(0) // attributes: no compression, create time
        .i32(n - 1) // last offset delta
        .i64(base_timestamp)
        .i64(base_timestamp + i64::from(n - 1))
        .i64(-1) // producer id
        .i16(-1) // producer epoch
        .i32(-1) // base sequence
        .i32(n)
        .raw(&recs.buf);
    let crc = crc32c::crc32c(&tail.buf);
    let mut batch = Writer::new();
    batch
        .i64(0) // base offset
        .i32(i32::try_from(4 + 1 + 4 + tail.buf.len()).expect("batch length"))
        .i32(-1) // partition leader epoch
        .i8(2) // magic
        .raw(&crc.to_be_bytes())
        .raw(&tail.buf);
    debug_assert_eq!(
        &batch.buf[BATCH_CRC_OFFSET..BATCH_ATTRIBUTES_OFFSET],
        &crc.to_be_bytes()
    );
    batch.buf
}

/// A Produce v3 request body for one topic and partition.
#[must_use]
pub fn produce_v3_body(
    topic: &str,
    partition: i32,
    acks: i16,
    timeout_ms: i32,
    batch: &[u8],
) -> Vec<u8> {
    let mut w = Writer::new();
    w.string(None) // transactional id
        .i16(acks)
        .i32(timeout_ms)
        .i32(1) // topics
        .string(Some(topic))
        .i32(1) // partitions
        .i32(partition)
        .bytes(Some(batch));
    w.buf
}

/// Sends a Produce v3 (acks -1) of `batch` to partition 0 of `topic` on `stream` and returns the
/// answer for that partition (panics on an I/O error, a correlation mismatch or another shape).
pub fn produce_v3(
    stream: &mut TcpStream,
    correlation_id: i32,
    topic: &str,
    batch: &[u8],
    timeout: Duration,
) -> ProducePartition {
    let body = produce_v3_body(topic, 0, -1, 10_000, batch);
    let req = request_v1(PRODUCE, 3, correlation_id, Some("compat-raw"), &body);
    let resp = round_trip(stream, &req, timeout).expect("Produce v3 round trip");
    let (corr, parts) = parse_produce_v3_response(&resp);
    assert_eq!(corr, correlation_id, "Produce correlation id");
    assert_eq!(
        parts.len(),
        1,
        "one partition in the Produce response: {parts:?}"
    );
    assert_eq!(parts[0].topic, topic);
    assert_eq!(parts[0].partition, 0);
    parts[0].clone()
}

/// One partition of a Produce v3 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducePartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Error code (0 = none).
    pub error_code: i16,
    /// Offset of the first record appended, -1 on error.
    pub base_offset: i64,
}

/// Parses a Produce v3 response (after the length prefix): returns the correlation id and the
/// partitions.
#[must_use]
pub fn parse_produce_v3_response(frame: &[u8]) -> (i32, Vec<ProducePartition>) {
    let mut r = Reader::new(frame);
    let correlation_id = r.i32();
    let mut out = Vec::new();
    let topics = r.i32();
    for _ in 0..topics {
        let topic = r.string().unwrap_or_default();
        let parts = r.i32();
        for _ in 0..parts {
            let partition = r.i32();
            let error_code = r.i16();
            let base_offset = r.i64();
            let _log_append_time = r.i64();
            out.push(ProducePartition {
                topic: topic.clone(),
                partition,
                error_code,
                base_offset,
            });
        }
    }
    let _throttle = r.i32();
    assert_eq!(
        r.remaining(),
        0,
        "trailing bytes after a Produce v3 response"
    );
    (correlation_id, out)
}

/// A Fetch v4 request for one partition (header v1, read_uncommitted, `max_wait_ms` 0).
#[must_use]
pub fn fetch_v4_request(
    correlation_id: i32,
    topic: &str,
    partition: i32,
    offset: i64,
    max_bytes: i32,
) -> Vec<u8> {
    let mut w = Writer::new();
    w.i32(-1) // replica id: a consumer
        .i32(0) // max wait
        .i32(0) // min bytes
        .i32(max_bytes)
        .i8(0) // isolation level: read_uncommitted
        .i32(1) // topics
        .string(Some(topic))
        .i32(1) // partitions
        .i32(partition)
        .i64(offset)
        .i32(max_bytes);
    request_v1(FETCH, 4, correlation_id, Some("compat-raw"), &w.buf)
}

/// One partition of a Fetch v4 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Error code (0 = none).
    pub error_code: i16,
    /// High watermark.
    pub high_watermark: i64,
    /// The raw record batches (`None` = null).
    pub records: Option<Vec<u8>>,
}

/// Parses a Fetch v4 response (after the length prefix): the correlation id and partitions.
#[must_use]
pub fn parse_fetch_v4_response(frame: &[u8]) -> (i32, Vec<FetchPartition>) {
    let mut r = Reader::new(frame);
    let correlation_id = r.i32();
    let _throttle = r.i32();
    let mut out = Vec::new();
    for _ in 0..r.i32() {
        let topic = r.string().unwrap_or_default();
        for _ in 0..r.i32() {
            let partition = r.i32();
            let error_code = r.i16();
            let high_watermark = r.i64();
            let _last_stable_offset = r.i64();
            let aborted = r.i32();
            for _ in 0..aborted.max(0) {
                let _producer_id = r.i64();
                let _first_offset = r.i64();
            }
            let len = r.i32();
            let records = (len >= 0).then(|| r.take(usize::try_from(len).expect("len")).to_vec());
            out.push(FetchPartition {
                topic: topic.clone(),
                partition,
                error_code,
                high_watermark,
                records,
            });
        }
    }
    assert_eq!(r.remaining(), 0, "trailing bytes after a Fetch v4 response");
    (correlation_id, out)
}

/// The compression codec (attributes & 7: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd) of every
/// complete v2 batch in `records`; a truncated last batch is ignored, as clients do.
#[must_use]
pub fn batch_codecs(records: &[u8]) -> Vec<i16> {
    let mut codecs = Vec::new();
    let mut pos = 0;
    while pos + BATCH_ATTRIBUTES_OFFSET + 2 <= records.len() {
        let len = i32::from_be_bytes(records[pos + 8..pos + 12].try_into().expect("4 bytes"));
        let Ok(len) = usize::try_from(len) else { break };
        let end = pos + 12 + len;
        if end > records.len() {
            break;
        }
        let a = pos + BATCH_ATTRIBUTES_OFFSET;
        let attributes = i16::from_be_bytes(records[a..a + 2].try_into().expect("2 bytes"));
        codecs.push(attributes & 7);
        pos = end;
    }
    codecs
}

/// Fetches (Fetch v4) up to `max_bytes` of `topic`/`partition` from `offset` over a new
/// connection to `addr` and returns the codecs of the batches that came back.
#[must_use]
pub fn stored_codecs(
    addr: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    max_bytes: i32,
) -> Vec<i16> {
    let mut s = TcpStream::connect(addr).expect("connect for raw Fetch");
    let req = fetch_v4_request(77, topic, partition, offset, max_bytes);
    let resp = round_trip(&mut s, &req, Duration::from_secs(30)).expect("Fetch v4 round trip");
    let (corr, parts) = parse_fetch_v4_response(&resp);
    assert_eq!(corr, 77, "Fetch correlation id");
    assert_eq!(
        parts.len(),
        1,
        "one partition in the Fetch response: {parts:?}"
    );
    assert_eq!(
        parts[0].error_code, 0,
        "Fetch error for {topic}/{partition}"
    );
    batch_codecs(parts[0].records.as_deref().unwrap_or_default())
}

/// A parsed ApiVersions v0 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionsV0 {
    /// Correlation id from the response header.
    pub correlation_id: i32,
    /// Top-level error code.
    pub error_code: i16,
    /// `(api key, min version, max version)` entries.
    pub apis: Vec<(i16, i16, i16)>,
}

impl ApiVersionsV0 {
    /// The `(min, max)` versions advertised for `key`.
    #[must_use]
    pub fn range(&self, key: i16) -> Option<(i16, i16)> {
        self.apis
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|&(_, lo, hi)| (lo, hi))
    }
}

/// Parses an ApiVersions response in v0 format (header v0, error code, INT32-counted array),
/// requiring that nothing follows the array.
#[must_use]
pub fn parse_api_versions_v0(frame: &[u8]) -> ApiVersionsV0 {
    let mut r = Reader::new(frame);
    let correlation_id = r.i32();
    let error_code = r.i16();
    let n = r.i32();
    assert!(
        (0..=1000).contains(&n),
        "implausible ApiVersions v0 array length {n}"
    );
    let apis = (0..n).map(|_| (r.i16(), r.i16(), r.i16())).collect();
    assert_eq!(
        r.remaining(),
        0,
        "trailing bytes after an ApiVersions v0 response"
    );
    ApiVersionsV0 {
        correlation_id,
        error_code,
        apis,
    }
}

/// Reads one length-prefixed frame (without its prefix), waiting at most `timeout`.
pub fn read_frame(stream: &mut TcpStream, timeout: Duration) -> io::Result<Vec<u8>> {
    stream.set_read_timeout(Some(timeout))?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    let len = usize::try_from(len).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("negative frame length {len}"),
        )
    })?;
    if len > 64 << 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("response frame of {len} bytes"),
        ));
    }
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

/// Sends `request` and reads one response frame.
pub fn round_trip(
    stream: &mut TcpStream,
    request: &[u8],
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(request)?;
    read_frame(stream, timeout)
}

/// How a connection ended, as seen by [`wait_for_close`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// Orderly EOF; `bytes` were received before it.
    Eof {
        /// Bytes the server sent before closing.
        bytes: usize,
    },
    /// The connection was reset or aborted.
    Reset(String),
}

/// Waits up to `timeout` for the server to close `stream`, draining anything it sends.
/// Returns `None` if the connection is still open at the deadline.
#[must_use]
pub fn wait_for_close(stream: &mut TcpStream, timeout: Duration) -> Option<Closed> {
    let deadline = Instant::now() + timeout;
    let mut received = 0;
    let mut buf = [0u8; 4096];
    // Bounded: each read waits at most 100 ms, and the loop ends at the deadline.
    while Instant::now() < deadline {
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .ok()?;
        match stream.read(&mut buf) {
            Ok(0) => return Some(Closed::Eof { bytes: received }),
            Ok(n) => received += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Some(Closed::Reset(e.to_string())),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_zigzag() {
        let mut w = Writer::new();
        w.varint(0).varint(-1).varint(1).varint(300);
        assert_eq!(w.buf, vec![0x00, 0x01, 0x02, 0xd8, 0x04]);
    }

    #[test]
    fn batch_layout() {
        let recs = vec![RawRecord {
            key: None,
            value: Some(b"v".to_vec()),
        }];
        let b = record_batch(1000, &recs);
        let batch_len = i32::from_be_bytes(b[8..12].try_into().unwrap());
        assert_eq!(batch_len as usize, b.len() - 12);
        assert_eq!(b[16], 2, "magic");
        let crc = u32::from_be_bytes(
            b[BATCH_CRC_OFFSET..BATCH_ATTRIBUTES_OFFSET]
                .try_into()
                .unwrap(),
        );
        assert_eq!(crc, crc32c::crc32c(&b[BATCH_ATTRIBUTES_OFFSET..]));
    }

    /// Our hand-built Produce v3 frame and batch decode with the `kafka-protocol` crate (the
    /// codec the broker uses), and a flipped byte makes that crate's CRC check fail.
    #[test]
    fn produce_frame_matches_kafka_protocol() {
        use kafka_protocol::messages::ProduceRequest;
        use kafka_protocol::protocol::{decode_request_header_from_buffer, Decodable};
        use kafka_protocol::records::RecordBatchDecoder;

        let recs: Vec<RawRecord> = (0..3)
            .map(|i| RawRecord {
                key: (i != 1).then(|| format!("k{i}").into_bytes()),
                value: Some(format!("value-{i}").into_bytes()),
            })
            .collect();
        let batch = record_batch(1_700_000_000_000, &recs);
        let req = request_v1(
            PRODUCE,
            3,
            9,
            Some("t"),
            &produce_v3_body("tp", 0, -1, 5, &batch),
        );
        let mut buf = bytes::Bytes::from(req[4..].to_vec());
        let header = decode_request_header_from_buffer(&mut buf).expect("header");
        assert_eq!((header.request_api_key, header.request_api_version), (0, 3));
        assert_eq!(header.correlation_id, 9);
        let produce = ProduceRequest::decode(&mut buf, 3).expect("Produce v3");
        assert_eq!(produce.acks, -1);
        let part = &produce.topic_data[0].partition_data[0];
        let mut records = part.records.clone().expect("records");
        let set = RecordBatchDecoder::decode(&mut records).expect("batch");
        assert_eq!(set.records.len(), 3);
        for (i, r) in set.records.iter().enumerate() {
            assert_eq!(r.offset, i as i64);
            assert_eq!(r.timestamp, 1_700_000_000_000 + i as i64);
            assert_eq!(r.key.as_deref(), recs[i].key.as_deref());
            assert_eq!(r.value.as_deref(), recs[i].value.as_deref());
        }
        let mut corrupt = batch.clone();
        let last = corrupt.len() - 2;
        corrupt[last] ^= 0x55;
        assert!(RecordBatchDecoder::decode(&mut bytes::Bytes::from(corrupt)).is_err());
    }

    #[test]
    fn parses_api_versions_v0() {
        let mut w = Writer::new();
        w.i32(7).i16(35).i32(1).i16(18).i16(0).i16(3);
        let v = parse_api_versions_v0(&w.buf);
        assert_eq!(v.correlation_id, 7);
        assert_eq!(v.error_code, 35);
        assert_eq!(v.range(18), Some((0, 3)));
    }
}
