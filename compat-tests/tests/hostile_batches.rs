//! Hostile record batches against the broker binary, sent as raw Produce requests while a real
//! rdkafka producer and consumer keep working on their own connections (issue 16, "Compression
//! bombs").
//!
//! Each batch is well framed and within `max.message.bytes` (1 MiB); what it holds is hostile:
//!
//! - a compression bomb per codec, one record whose value is hundreds of MiB of zeros: gzip
//!   (concatenated members, 256 MiB), lz4 (a frame of 128 MiB), zstd (run-length blocks, 1 GiB)
//!   and snappy (a raw block announcing 1 GiB). The broker streams the records within its
//!   decompressed-size limit (64 MiB with the default `max.message.bytes`) and answers
//!   CORRUPT_MESSAGE (2) before expanding more. Kafka has no such limit (it would expand the
//!   batch); CORRUPT_MESSAGE is what it answers for a batch it cannot read.
//! - a compressed batch whose header's record count lies: INVALID_RECORD (87), as Kafka's
//!   `LogValidator`.
//! - a compressed batch with a wrong CRC: CORRUPT_MESSAGE (2).
//!
//! Nothing of them is stored, the broker's peak resident memory (`VmHWM`) stays within
//! [`PEAK_GROWTH_LIMIT`] of its resident memory before the attacks, and a restart of the binary
//! on the same data comes up and serves (no crash loop on what it stored).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use compat_tests::healthy::HealthyTraffic;
use compat_tests::wire::{self, BATCH_ATTRIBUTES_OFFSET, BATCH_CRC_OFFSET};
use compat_tests::{create_topic, read_all, wait_until, Broker};
use minikafka_storage::batch::{build_batch, zstd_rle_frame, Compression, Record};

/// Timeout for one raw request/response (a bomb is refused after at most 64 MiB of decoding).
const RPC_TIMEOUT: Duration = Duration::from_secs(60);
/// How much the broker's peak resident memory may exceed its resident memory before the attacks.
const PEAK_GROWTH_LIMIT: u64 = 256 << 20;
/// CORRUPT_MESSAGE, INVALID_RECORD.
const CORRUPT_MESSAGE: i16 = wire::CORRUPT_MESSAGE;
const INVALID_RECORD: i16 = 87;
/// Where the last offset delta and the record count sit in a v2 batch header, and its size.
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const RECORDS_COUNT_OFFSET: usize = 57;
const BATCH_HEADER_SIZE: usize = 61;
/// max.message.bytes (Kafka's default): every batch sent fits it.
const MAX_MESSAGE_BYTES: usize = 1_048_588;

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(since.as_millis()).expect("ms")
}

/// A good batch of `n` records compressed with `codec`, at base offset 0.
fn good_batch(codec: Compression, n: i64, tag: &str) -> Vec<u8> {
    let now = now_ms();
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            offset: i,
            timestamp: now,
            key: Some(format!("k{i}").into()),
            value: Some(format!("{tag}-{i}").into()),
            headers: vec![],
        })
        .collect();
    build_batch(0, now, &records, codec).to_vec()
}

/// `template`'s header (codec, timestamps) around `payload` as its records, with `count`
/// records claimed (and offsets up to `count - 1`); the length and CRC recomputed.
fn with_payload(template: &[u8], payload: &[u8], count: i32) -> Vec<u8> {
    let mut batch = template[..BATCH_HEADER_SIZE].to_vec();
    batch.extend_from_slice(payload);
    let length = i32::try_from(batch.len() - 12).expect("batch length");
    batch[8..12].copy_from_slice(&length.to_be_bytes());
    batch[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
        .copy_from_slice(&(count - 1).to_be_bytes());
    batch[RECORDS_COUNT_OFFSET..BATCH_HEADER_SIZE].copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(&batch[BATCH_ATTRIBUTES_OFFSET..]);
    batch[BATCH_CRC_OFFSET..BATCH_ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// The start of one record whose value is `value_len` bytes (null key, no headers after it):
/// its length, attributes, deltas, key and value length. The value's bytes follow.
fn record_head(value_len: u64) -> Vec<u8> {
    let value_len = i64::try_from(value_len).expect("value length");
    let mut head = wire::Writer::new();
    head.i8(0).varint(0).varint(0).varint(-1).varint(value_len);
    let mut out = wire::Writer::new();
    // The record's length: its head, the value, the header count.
    out.varint(i64::try_from(head.buf.len()).expect("head") + value_len + 1)
        .raw(&head.buf);
    out.buf
}

/// gzip: the record head and zeros in `members` concatenated gzip members of 16 MiB each.
fn gzip_bomb(members: u64) -> Vec<u8> {
    const MEMBER: u64 = 16 << 20;
    let gzip = |prefix: &[u8]| -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(prefix).expect("gzip");
        io::copy(
            &mut io::repeat(0).take(MEMBER - prefix.len() as u64),
            &mut e,
        )
        .expect("gzip");
        e.finish().expect("gzip")
    };
    let mut out = gzip(&record_head(members * MEMBER));
    let zeros = gzip(&[]);
    for _ in 1..members {
        out.extend_from_slice(&zeros);
    }
    out
}

/// lz4: one frame holding the record head and `len` zeros.
fn lz4_bomb(len: u64) -> Vec<u8> {
    let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
    e.write_all(&record_head(len)).expect("lz4");
    io::copy(&mut io::repeat(0).take(len), &mut e).expect("lz4");
    e.finish().expect("lz4")
}

/// snappy: a raw block (as librdkafka writes) whose preamble announces `len` bytes, then the
/// record head as a literal; the rest never comes.
fn snappy_bomb(len: u64) -> Vec<u8> {
    let mut out = wire::Writer::new();
    out.uvarint(len);
    let head = record_head(len);
    // Literal tag: (length - 1) << 2 for literals of up to 60 bytes.
    out.raw(&[u8::try_from((head.len() - 1) << 2).expect("short literal")])
        .raw(&head);
    out.buf
}

#[test]
#[allow(clippy::too_many_lines)]
fn hostile_batches_are_refused_within_a_memory_budget() {
    let mut broker = Broker::start(&[]);
    let bootstrap = broker.bootstrap().to_string();
    create_topic(&bootstrap, "healthy", 1);
    create_topic(&bootstrap, "target", 1);
    let mut traffic = HealthyTraffic::start(&bootstrap, "healthy");
    traffic.assert_progress("start");
    let rss_before = broker.rss_bytes();
    let mut raw = TcpStream::connect(&bootstrap).expect("connect raw producer");
    let mut correlation = 0;
    let mut send = |raw: &mut TcpStream, batch: &[u8]| {
        assert!(batch.len() < MAX_MESSAGE_BYTES, "{} bytes", batch.len());
        correlation += 1;
        wire::produce_v3(raw, correlation, "target", batch, RPC_TIMEOUT)
    };
    let mut stored = 0i64;
    let mut check = |case: &str, got: &wire::ProducePartition, want: i16, broker: &mut Broker| {
        assert_eq!(
            got.error_code,
            want,
            "{case}: {got:?}\n{}",
            broker.log_report()
        );
        broker.assert_alive();
        traffic.assert_progress(case);
        let peak = broker.peak_rss_bytes();
        eprintln!(
            "{case}: answered {}, broker VmHWM {} MiB (VmRSS before the attacks {} MiB)",
            got.error_code,
            peak >> 20,
            rss_before >> 20
        );
        assert!(
            peak < rss_before + PEAK_GROWTH_LIMIT,
            "{case}: the broker's peak resident memory reached {} MiB, {} MiB before the attacks (budget +{} MiB)",
            peak >> 20,
            rss_before >> 20,
            PEAK_GROWTH_LIMIT >> 20
        );
    };

    // Compression bombs, one per codec, each between two good batches of that codec.
    let bombs: [(Compression, Vec<u8>); 4] = [
        (Compression::Gzip, gzip_bomb(16)),
        (Compression::Lz4, lz4_bomb(128 << 20)),
        (
            Compression::Zstd,
            zstd_rle_frame(&record_head(1 << 30), 0, (1 << 30) + 1),
        ),
        (Compression::Snappy, snappy_bomb(1 << 30)),
    ];
    for (codec, payload) in &bombs {
        let case = format!("{} bomb ({} bytes)", codec.name(), payload.len());
        let good = good_batch(*codec, 2, codec.name());
        let r = send(&mut raw, &good);
        assert_eq!((r.error_code, r.base_offset), (0, stored), "{case}: before");
        stored += 2;
        let bomb = with_payload(&good, payload, 1);
        check(&case, &send(&mut raw, &bomb), CORRUPT_MESSAGE, &mut broker);
        // Refused for its size, not for some other flaw of the hand-built batch.
        let why = format!("{} batch decompresses to more than the limit", codec.name());
        wait_until(
            &format!("{case}: a log line saying '{why}'"),
            Duration::from_secs(10),
            Duration::from_millis(50),
            || broker.log().contains(&why).then_some(()),
        );
        let r = send(&mut raw, &good);
        assert_eq!((r.error_code, r.base_offset), (0, stored), "{case}: after");
        stored += 2;
    }

    // A compressed batch whose header claims more, or fewer, records than it holds.
    for claimed in [4, 6, 1 << 30] {
        let good = good_batch(Compression::Lz4, 5, "lying");
        let lying = with_payload(&good, &good[BATCH_HEADER_SIZE..], claimed);
        let case = format!("lz4 batch of 5 records claiming {claimed}");
        check(&case, &send(&mut raw, &lying), INVALID_RECORD, &mut broker);
    }

    // A compressed batch with one byte of its payload flipped: the CRC no longer matches.
    let mut corrupt = good_batch(Compression::Zstd, 3, "corrupt");
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    check(
        "zstd batch with a wrong CRC",
        &send(&mut raw, &corrupt),
        CORRUPT_MESSAGE,
        &mut broker,
    );
    drop(raw);
    traffic.join();

    // Only the good batches were stored, and a restart on that data comes up and serves.
    let read = read_all(&bootstrap, "target", 1, Duration::from_secs(60));
    let offsets: Vec<i64> = read[&0].iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..stored).collect::<Vec<_>>());
    broker.restart();
    broker.assert_alive();
    let bootstrap = broker.bootstrap().to_string();
    let read = read_all(&bootstrap, "target", 1, Duration::from_secs(60));
    assert_eq!(read[&0].len(), usize::try_from(stored).expect("count"));
    create_topic(&bootstrap, "after-restart", 1);
    let mut traffic = HealthyTraffic::start(&bootstrap, "after-restart");
    traffic.assert_progress("restart");
    traffic.join();
    broker.assert_alive();
    broker.stop();
}
