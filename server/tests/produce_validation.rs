//! Kafka's `LogValidator` on the produce path, and bounded decompression wherever the broker looks inside a
//! compressed batch (issue 16, "Compression bombs"): a compressed batch's records are checked like an
//! uncompressed one's (a header whose record count lies is INVALID_RECORD), a compression bomb is refused with
//! CORRUPT_MESSAGE before it expands, and a bomb already on disk (persisted by an older version) neither stops
//! the coordinators' replay at start nor exhausts memory in ListOffsets by timestamp.

mod common;
use common::*;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use minikafka_storage::batch::{
    assemble_batch, build_batch, zstd_rle_frame, BatchHeader, Compression, Record,
};

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn header(base_offset: i64, codec: Compression, count: i32, timestamp: i64) -> BatchHeader {
    BatchHeader {
        base_offset,
        batch_length: 0,
        partition_leader_epoch: 0,
        magic: 2,
        crc: 0,
        attributes: i16::from(codec.id()),
        last_offset_delta: count - 1,
        base_timestamp: timestamp,
        max_timestamp: timestamp,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records_count: count,
    }
}

/// A zstd batch of about `value_len / 32768` bytes holding one well-formed record whose value is `value_len`
/// zero bytes: a compression bomb.
fn zstd_bomb(base_offset: i64, value_len: u64, timestamp: i64) -> Bytes {
    let mut head = vec![0u8]; // record attributes
    put_varint(&mut head, 0); // timestamp delta
    put_varint(&mut head, 0); // offset delta
    put_varint(&mut head, -1); // null key
    put_varint(&mut head, value_len as i64);
    let mut prefix = Vec::new();
    put_varint(&mut prefix, head.len() as i64 + value_len as i64 + 1);
    prefix.extend_from_slice(&head);
    // The value's zeros, then the header count 0.
    let payload = zstd_rle_frame(&prefix, 0, value_len + 1);
    assemble_batch(
        &header(base_offset, Compression::Zstd, 1, timestamp),
        &payload,
    )
    .unwrap()
}

fn records(n: i64, ts: i64) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            offset: i,
            timestamp: ts,
            key: Some(format!("k{i}").into()),
            value: Some(format!("v{i}").into()),
            headers: vec![],
        })
        .collect()
}

/// Peak resident memory of this test process, from /proc/self/status.
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

async fn produce_code(c: &mut Client, topic: &str, records: Bytes) -> (i16, Option<String>) {
    let r = c.call(produce_req(topic, 0, records, -1), 9).await;
    let p = &r.responses[0].partition_responses[0];
    (
        p.error_code,
        p.error_message.as_ref().map(ToString::to_string),
    )
}

async fn log_end(c: &mut Client, topic: &str) -> i64 {
    c.call(list_offsets_req(topic, 0, -1), 7).await.topics[0].partitions[0].offset
}

#[tokio::test]
async fn a_compression_bomb_is_refused_and_the_broker_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    for (topic, configs) in [
        ("plain", vec![]),
        ("compacted", vec![("cleanup.policy", "compact")]),
    ] {
        assert_eq!(
            c.call(create_req(topic, 1, 1, &configs), 7).await.topics[0].error_code,
            0
        );
        let now = minikafka::clock::now_ms();
        // 1 GiB of records in about 32 KiB.
        let bomb = zstd_bomb(0, 1 << 30, now);
        assert!(bomb.len() < 40_000, "{}", bomb.len());
        let (code, message) = produce_code(&mut c, topic, bomb).await;
        assert_eq!(
            code,
            ResponseError::CorruptMessage.code(),
            "{topic}: {message:?}"
        );
        assert!(
            message.unwrap().contains("decompresses to more than"),
            "{topic}"
        );
        assert_eq!(
            log_end(&mut c, topic).await,
            0,
            "{topic}: nothing was written"
        );
        let good = build_batch(0, now, &records(3, now), Compression::Zstd);
        assert_eq!(produce_code(&mut c, topic, good).await.0, 0, "{topic}");
        assert_eq!(log_end(&mut c, topic).await, 3, "{topic}");
    }
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_compressed_batch_whose_record_count_lies_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("t", 1, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let now = minikafka::clock::now_ms();
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let good = build_batch(0, now, &records(5, now), codec);
        for lie in [4, 6, 1 << 30] {
            let lying =
                assemble_batch(&header(0, codec, lie, now), &good[BatchHeader::SIZE..]).unwrap();
            let (code, message) = produce_code(&mut c, "t", lying).await;
            assert_eq!(
                code,
                ResponseError::InvalidRecord.code(),
                "{codec:?} {lie}: {message:?}"
            );
        }
    }
    assert_eq!(log_end(&mut c, "t").await, 0, "nothing was written");
    b.shutdown().await.unwrap();
}

/// Append `batch` (its base offset already the log end) to the active segment's file, as an older version that
/// did not look inside compressed batches would have stored it.
fn append_to_segment(dir: &std::path::Path, partition_dir: &str, batch: &[u8]) {
    use std::io::Write;
    let path = dir.join(partition_dir).join(format!("{:020}.log", 0));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(batch).unwrap();
    f.sync_all().unwrap();
}

#[tokio::test]
async fn a_bomb_on_disk_neither_stops_the_start_nor_exhausts_memory() {
    let dir = tempfile::tempdir().unwrap();
    let sets = [
        "offsets.topic.num.partitions=1",
        "transaction.state.log.num.partitions=1",
    ];
    let b = start(dir.path(), &sets).await;
    let mut c = Client::connect(&b).await;
    // FindCoordinator creates __consumer_offsets.
    assert_eq!(find_group_coordinator(&mut c, "g").await, 0);
    assert_eq!(
        c.call(create_req("t", 1, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let now = minikafka::clock::now_ms();
    assert_eq!(
        produce_code(
            &mut c,
            "t",
            build_batch(0, now - 10, &records(3, now - 10), Compression::None)
        )
        .await
        .0,
        0
    );
    drop(c);
    b.shutdown().await.unwrap();

    // Nearly 2 GiB of records each, in about 64 KiB.
    let value_len = (1u64 << 31) - 64;
    append_to_segment(
        dir.path(),
        "__consumer_offsets-0",
        &zstd_bomb(0, value_len, now),
    );
    append_to_segment(dir.path(), "t-0", &zstd_bomb(3, value_len, now));
    // An unclean stop: recovery rebuilds the indexes over the appended batches.
    std::fs::remove_file(dir.path().join(minikafka::meta::CLEAN_SHUTDOWN_FILE)).unwrap();

    let b = start(dir.path(), &sets).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        log_end(&mut c, "t").await,
        4,
        "the stored bomb is part of the log"
    );
    let r = c.call(list_offsets_req("t", 0, now), 7).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, ResponseError::CorruptMessage.code(), "{p:?}");
    let r = c.call(list_offsets_req("t", 0, now - 10), 7).await;
    assert_eq!(
        r.topics[0].partitions[0].offset, 0,
        "batches before the bomb are found"
    );
    // Neither the replay nor the lookup expanded the bomb.
    let peak = peak_rss_bytes();
    assert!(peak < 1 << 30, "peak RSS {peak} bytes");
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn records_without_a_key_are_named_in_record_errors_on_a_compacted_topic() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let configs = [("cleanup.policy", "compact")];
    assert_eq!(
        c.call(create_req("c", 1, 1, &configs), 7).await.topics[0].error_code,
        0
    );
    let now = minikafka::clock::now_ms();
    for codec in [Compression::None, Compression::Lz4] {
        let mut recs = records(5, now);
        recs[1].key = None;
        recs[3].key = None;
        let r = c
            .call(
                produce_req("c", 0, build_batch(0, now, &recs, codec), -1),
                9,
            )
            .await;
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(
            p.error_code,
            ResponseError::InvalidRecord.code(),
            "{codec:?}"
        );
        let named: Vec<(i32, String)> = p
            .record_errors
            .iter()
            .map(|e| {
                let m = e.batch_index_error_message.as_ref().unwrap();
                (e.batch_index, m.to_string())
            })
            .collect();
        let message = "Compacted topic cannot accept message without key in topic partition c-0.";
        assert_eq!(
            named,
            vec![(1, message.to_string()), (3, message.to_string())],
            "{codec:?}"
        );
        let summary = p.error_message.as_ref().unwrap().to_string();
        assert!(
            summary.starts_with("One or more records have been rejected due to 2 record errors"),
            "{summary}"
        );
    }
    assert_eq!(log_end(&mut c, "c").await, 0, "nothing was written");
    b.shutdown().await.unwrap();
}

/// `message.timestamp.before.max.ms` / `message.timestamp.after.max.ms` (Kafka 4.x; the after
/// window defaults to one hour): a CreateTime record outside the window around the broker's clock
/// is refused with INVALID_TIMESTAMP, each such record named in `record_errors` with Kafka's
/// message, nothing of the batch written; a record inside the window, or without a timestamp (-1),
/// passes; a LogAppendTime topic takes any timestamp.
#[tokio::test]
async fn timestamps_outside_the_window_are_invalid_and_named_in_record_errors() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    let day = 86_400_000;
    let before = [("message.timestamp.before.max.ms", "86400000")];
    assert_eq!(
        c.call(create_req("ts", 1, 1, &before), 7).await.topics[0].error_code,
        0
    );
    let append_time = [("message.timestamp.type", "LogAppendTime")];
    assert_eq!(
        c.call(create_req("at", 1, 1, &append_time), 7).await.topics[0].error_code,
        0
    );
    let now = minikafka::clock::now_ms();
    for codec in [Compression::None, Compression::Zstd] {
        // Records 1 (two hours ahead: the default after window is one hour) and 3 (two days old,
        // the topic allows one) are refused; 0, 2 (no timestamp) and 4 are fine.
        let mut recs = records(5, now);
        recs[1].timestamp = now + 2 * 3_600_000;
        recs[2].timestamp = -1;
        recs[3].timestamp = now - 2 * day;
        let r = c
            .call(
                produce_req("ts", 0, build_batch(0, now, &recs, codec), -1),
                9,
            )
            .await;
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(
            p.error_code,
            ResponseError::InvalidTimestamp.code(),
            "{codec:?}"
        );
        assert_eq!(
            p.error_message.as_deref().map(|m| m.to_string()),
            Some("One or more records have been rejected due to invalid timestamp".to_string())
        );
        let named: Vec<i32> = p.record_errors.iter().map(|e| e.batch_index).collect();
        assert_eq!(named, vec![1, 3], "{codec:?}");
        let first = p.record_errors[0]
            .batch_index_error_message
            .as_ref()
            .unwrap()
            .to_string();
        assert!(
            first.starts_with(&format!(
                "Timestamp {} of message with offset 1 is out of range. The timestamp should be within [",
                now + 2 * 3_600_000
            )),
            "{first}"
        );
    }
    assert_eq!(log_end(&mut c, "ts").await, 0, "nothing was written");
    let mut ok = records(5, now);
    ok[2].timestamp = -1;
    ok[4].timestamp = now - day / 2;
    assert_eq!(
        produce_code(&mut c, "ts", build_batch(0, now, &ok, Compression::None))
            .await
            .0,
        0
    );
    let future = records(2, now + 30 * day);
    assert_eq!(
        produce_code(
            &mut c,
            "at",
            build_batch(0, now + 30 * day, &future, Compression::None)
        )
        .await
        .0,
        0,
        "a LogAppendTime topic replaces timestamps instead of checking them"
    );
    b.shutdown().await.unwrap();
}

/// Kafka's `ProduceRequest.validateRecords`: from v3 a partition's record set is exactly one batch;
/// two valid batches back to back are INVALID_RECORD with Kafka's message, and nothing is written.
#[tokio::test]
async fn a_record_set_of_two_batches_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        c.call(create_req("two", 1, 1, &[]), 7).await.topics[0].error_code,
        0
    );
    let now = minikafka::clock::now_ms();
    let mut records = batch(2, now);
    records.extend_from_slice(&batch(3, now));
    let (code, message) = produce_code(&mut c, "two", records.freeze()).await;
    assert_eq!(code, ResponseError::InvalidRecord.code());
    assert_eq!(
        message.as_deref(),
        Some(
            "Produce requests with version 9 are only allowed to contain exactly one record batch per \
             partition"
        )
    );
    assert_eq!(log_end(&mut c, "two").await, 0, "nothing was written");
    let (code, _) = produce_code(&mut c, "two", batch(3, now).freeze()).await;
    assert_eq!(code, 0, "one batch is accepted");
    b.shutdown().await.unwrap();
}
