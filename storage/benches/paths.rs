//! Micro-benchmarks of the storage side of the produce and fetch paths.
//!
//! Groups:
//! - `validate`: [`batch::validate`] of one Produce record set, as the broker checks it before appending: an
//!   uncompressed batch of 100 records × 100 B (record walk + CRC-32C), one of 16 records × 1 KiB, and lz4 and
//!   zstd batches of 100 × 100 B (header + CRC only: validate does not decompress). Throughput is the batch size.
//! - `append`: [`Log::append`] of one batch into a log in a temporary directory, as a Produce request does
//!   (validate, producer-state check, offset patching, one copy, the `.log` write into the page cache, index
//!   entries). Segments are 64 MiB, so a roll is amortised over thousands of appends; old segments are deleted
//!   between timed appends to bound disk use. `plain_*` batches carry no producer id; `idempotent_*` batches carry
//!   a producer id, epoch and the next sequence (1 producer, or 1000 producers taking turns), which adds the
//!   producer-state check and update. Batches are built outside the timed section.
//! - `fetch`: [`Log::read`] with `max_bytes` = 1 MiB from a log pre-filled with 64 MiB of 16 × 1 KiB batches in
//!   8 MiB segments: `sequential` walks the log as a consumer does, `random` starts at pseudo-random offsets
//!   (offset-index lookup, then whole batches). The data is in the page cache, so this measures the index lookup,
//!   the positional read and the copy. Throughput is the mean bytes returned per read.
//!
//! Each benchmark warms up for 1 s and measures for 3 s, so the whole run takes about a minute. Run and compare:
//!
//! ```text
//! cargo bench -p minikafka-storage --bench paths -- --save-baseline main   # on main
//! cargo bench -p minikafka-storage --bench paths -- --baseline main        # on a branch: change vs main
//! cargo bench -p minikafka-storage --bench paths -- append/idempotent      # one group or bench (a filter)
//! ```
//!
//! Longer runs for steadier numbers: `-- --measurement-time 10 --warm-up-time 3`. Results live in
//! `$CARGO_TARGET_DIR/criterion/`; numbers from a machine shared with other builds are noisy.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use minikafka_storage::batch::{self, BatchBuilder, Compression, Record};
use minikafka_storage::{Log, LogConfig};

/// Segment size of the append benchmarks: large enough that rolling is rare.
const APPEND_SEGMENT_BYTES: u64 = 64 << 20;
/// The append benchmarks delete old segments once the log holds more than this many.
const APPEND_MAX_SEGMENTS: usize = 4;
/// Bytes pre-filled into the log the fetch benchmarks read.
const FETCH_LOG_BYTES: u64 = 64 << 20;
/// `max_bytes` of every fetch read (Kafka's default `max.partition.fetch.bytes`).
const FETCH_MAX_BYTES: usize = 1 << 20;

/// One record set shape: `count` records of `value_size` bytes, compressed with `codec`.
#[derive(Debug, Clone, Copy)]
struct Shape {
    name: &'static str,
    count: usize,
    value_size: usize,
    codec: Compression,
}

impl Shape {
    const fn new(name: &'static str, count: usize, value_size: usize, codec: Compression) -> Shape {
        Shape {
            name,
            count,
            value_size,
            codec,
        }
    }
}

const PLAIN_100X100: Shape = Shape::new("100x100B", 100, 100, Compression::None);
const PLAIN_16X1K: Shape = Shape::new("16x1KiB", 16, 1024, Compression::None);
const LZ4_100X100: Shape = Shape::new("lz4_100x100B", 100, 100, Compression::Lz4);
const ZSTD_100X100: Shape = Shape::new("zstd_100x100B", 100, 100, Compression::Zstd);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A small xorshift generator: reproducible pseudo-random numbers without another dependency.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Records shaped like application events: a short key and a JSON-ish value of words drawn at random from a
/// small vocabulary, so that codecs compress it about as well as typical text (neither random nor degenerate).
fn records(shape: Shape, ts: i64, seed: u64) -> Vec<Record> {
    const WORDS: [&str; 16] = [
        "order",
        "created",
        "user",
        "payment",
        "shipped",
        "item",
        "price",
        "EUR",
        "warehouse",
        "north",
        "status",
        "pending",
        "42",
        "1337",
        "true",
        "false",
    ];
    let mut rng = XorShift(seed | 1);
    (0..shape.count)
        .map(|i| {
            let mut value =
                format!("{{\"id\":{i},\"session\":{},\"text\":\"", rng.next()).into_bytes();
            while value.len() < shape.value_size {
                let word = WORDS[usize::try_from(rng.next() % 16).unwrap_or(0)];
                value.extend_from_slice(word.as_bytes());
                value.push(b' ');
            }
            value.truncate(shape.value_size.saturating_sub(2));
            value.extend_from_slice(b"\"}");
            Record {
                offset: 0,
                timestamp: ts + i64::try_from(i).unwrap_or(0),
                key: Some(Bytes::from(format!("key-{}", rng.next() % 1_000))),
                value: Some(Bytes::from(value)),
                headers: vec![],
            }
        })
        .collect()
}

/// One batch of `shape`, optionally from idempotent producer `producer` at `sequence`.
fn build(shape: Shape, ts: i64, producer: Option<(i64, i32)>) -> Bytes {
    let mut builder = BatchBuilder {
        compression: shape.codec,
        ..BatchBuilder::new(0, ts)
    };
    if let Some((id, sequence)) = producer {
        builder.producer_id = id;
        builder.producer_epoch = 0;
        builder.base_sequence = sequence;
    }
    builder
        .build(&records(shape, ts, 0x9E37_79B9_7F4A_7C15))
        .expect("benchmark batches are small")
}

fn bytes_of(len: usize) -> Throughput {
    Throughput::Bytes(len as u64)
}

fn bench_validate(c: &mut Criterion) {
    let ts = now_ms();
    let mut group = c.benchmark_group("validate");
    for shape in [PLAIN_100X100, PLAIN_16X1K, LZ4_100X100, ZSTD_100X100] {
        let batch = build(shape, ts, None);
        group.throughput(bytes_of(batch.len()));
        group.bench_function(shape.name, |b| {
            b.iter(|| {
                batch::validate(black_box(&batch), LogConfig::DEFAULT_MAX_MESSAGE_BYTES)
                    .expect("valid batch")
            });
        });
    }
    group.finish();
}

/// Appends the batch in `buf` `iters` times, timing only `Log::append`; `next` rewrites `buf` in place before
/// each append (untimed, without allocating, so it leaves the allocator and caches as a plain append does).
/// Deletes old segments between appends.
fn time_appends(
    log: &mut Log,
    iters: u64,
    now: i64,
    buf: &mut [u8],
    mut next: impl FnMut(&mut [u8]),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        next(buf);
        let start = Instant::now();
        let info = log.append(black_box(buf), 0, now).expect("append");
        total += start.elapsed();
        black_box(info);
        if log.segment_count() > APPEND_MAX_SEGMENTS {
            let keep_from = log.segments().nth(1).map_or(0, |s| s.base_offset());
            log.advance_log_start_offset(keep_from)
                .expect("delete old segments");
        }
    }
    total
}

/// Sets a built batch's producer id and base sequence and recomputes its CRC-32C (both fields lie in the
/// checksummed range, which starts at the attributes, byte 21; the CRC is bytes 17..21).
fn set_producer(batch: &mut [u8], producer_id: i64, sequence: i32) {
    batch[43..51].copy_from_slice(&producer_id.to_be_bytes());
    batch[53..57].copy_from_slice(&sequence.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn append_config() -> LogConfig {
    LogConfig {
        segment_bytes: APPEND_SEGMENT_BYTES,
        ..LogConfig::default()
    }
}

fn bench_append(c: &mut Criterion) {
    let now = now_ms();
    let mut group = c.benchmark_group("append");
    for shape in [PLAIN_100X100, PLAIN_16X1K, LZ4_100X100] {
        let batch = build(shape, now, None);
        group.throughput(bytes_of(batch.len()));
        group.bench_function(BenchmarkId::new("plain", shape.name), |b| {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut log = Log::open(dir.path(), append_config(), true).expect("open log");
            let mut buf = batch.to_vec();
            b.iter_custom(|iters| time_appends(&mut log, iters, now, &mut buf, |_| {}));
        });
    }
    // The same 100 × 100 B batch from idempotent producers: each append carries the producer's next sequence.
    let shape = PLAIN_100X100;
    let count = i32::try_from(shape.count).expect("small");
    for producers in [1i64, 1000] {
        group.throughput(bytes_of(build(shape, now, Some((0, 0))).len()));
        let name = format!("idempotent_{producers}_producers");
        group.bench_function(BenchmarkId::new(name, shape.name), |b| {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut log = Log::open(dir.path(), append_config(), true).expect("open log");
            let mut sequences = vec![0i32; usize::try_from(producers).expect("small")];
            let mut turn = 0i64;
            let mut buf = build(shape, now, Some((0, 0))).to_vec();
            b.iter_custom(|iters| {
                time_appends(&mut log, iters, now, &mut buf, |batch| {
                    let id = turn % producers;
                    turn += 1;
                    let seq = &mut sequences[usize::try_from(id).expect("small")];
                    set_producer(batch, 1_000 + id, *seq);
                    *seq = seq.wrapping_add(count);
                })
            });
        });
    }
    group.finish();
}

fn bench_fetch(c: &mut Criterion) {
    let now = now_ms();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 8 << 20,
        ..LogConfig::default()
    };
    let mut log = Log::open(dir.path(), config, true).expect("open log");
    let batch = build(PLAIN_16X1K, now, None);
    while log.size_bytes() < FETCH_LOG_BYTES {
        log.append(&batch, 0, now).expect("prefill");
    }
    let end = log.log_end_offset();
    // The start offsets of a consumer reading the whole log 1 MiB at a time.
    let mut starts = Vec::new();
    let (mut offset, mut total) = (0i64, 0usize);
    while offset < end {
        let read = log.read(offset, FETCH_MAX_BYTES, true).expect("read");
        let last = batch::iter_headers(&read.records)
            .last()
            .expect("a batch")
            .expect("valid header")
            .1;
        starts.push(offset);
        total += read.records.len();
        offset = last.next_offset();
    }
    let mean = total / starts.len();

    let mut group = c.benchmark_group("fetch");
    group.throughput(bytes_of(mean));
    group.bench_function("sequential_1MiB", |b| {
        let mut next = starts.iter().copied().cycle();
        b.iter(|| {
            let offset = next.next().unwrap_or(0);
            log.read(black_box(offset), FETCH_MAX_BYTES, true)
                .expect("read")
        });
    });
    // The zero-copy fetch path: where the batches lie, without reading them (the broker then
    // sends the range with sendfile).
    group.bench_function("sequential_1MiB_slice", |b| {
        let mut next = starts.iter().copied().cycle();
        b.iter(|| {
            let offset = next.next().unwrap_or(0);
            log.read_slice(black_box(offset), FETCH_MAX_BYTES, true, i64::MAX)
                .expect("read_slice")
        });
    });
    group.bench_function("random_1MiB", |b| {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let span = u64::try_from(end).expect("non-negative");
        b.iter(|| {
            let offset = i64::try_from(rng.next() % span).unwrap_or(0);
            log.read(black_box(offset), FETCH_MAX_BYTES, true)
                .expect("read")
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_validate, bench_append, bench_fetch
}
criterion_main!(benches);
