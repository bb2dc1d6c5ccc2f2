//! File descriptors stay bounded with many segments (issue 16, "File descriptors"): a topic with
//! hundreds of tiny segments (test-only `internal.segment.bytes`) and a low
//! `log.max.open.segment.files` keeps the process's open descriptors (`/proc/self/fd`) under the
//! cap plus a margin while it is written, read back from offset 0 by Fetch (part of it with
//! sendfile), and after a restart over all those segments.
//!
//! One test in this binary, so no other test's descriptors blur the count.

mod common;

use common::{batch_of, batch_offsets, create_req, fetch_req, produce_req, start, Client};
use minikafka::broker::RunningBroker;

const CAP: usize = 32;
/// Descriptors besides segment files that may come and go: connections, the data directory being
/// fsynced, a snapshot file, a slice lent to sendfile.
const MARGIN: usize = 24;
const SEGMENTS: i64 = 300;
const PER_BATCH: i32 = 3;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Fetch everything from offset 0, checking the descriptors after every answer; returns the
/// offsets read, in order.
async fn read_all(c: &mut Client, limit: usize) -> Vec<i64> {
    let total = SEGMENTS * i64::from(PER_BATCH);
    let mut offsets = Vec::new();
    let mut next = 0;
    // Each answer carries at least one batch; twice the batch count bounds the loop.
    for _ in 0..SEGMENTS * 2 {
        if next >= total {
            break;
        }
        let r = c.call(fetch_req("many", 0, next, 0, 64 * 1024), 12).await;
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0);
        for (base, count) in batch_offsets(p.records.clone().unwrap_or_default()) {
            assert_eq!(base, next, "batches follow each other");
            offsets.extend(base..base + i64::from(count));
            next = base + i64::from(count);
        }
        let fds = open_fds();
        assert!(
            fds <= limit,
            "{fds} descriptors open while reading at {next}, limit {limit}"
        );
    }
    offsets
}

async fn restart(b: RunningBroker, dir: &std::path::Path, sets: &[&str]) -> RunningBroker {
    b.shutdown().await.unwrap();
    start(dir, sets).await
}

#[tokio::test]
async fn descriptors_stay_under_the_cap_with_hundreds_of_segments() {
    let dir = tempfile::tempdir().unwrap();
    let sets = ["log.max.open.segment.files=32"];
    let b = start(dir.path(), &sets).await;
    let mut c = Client::connect(&b).await;
    let r = c
        .call(
            create_req("many", 1, 1, &[("internal.segment.bytes", "1024")]),
            7,
        )
        .await;
    assert_eq!(r.topics[0].error_code, 0);
    let limit = open_fds() + CAP + MARGIN;

    // About 850 bytes per batch: every batch rolls a new 1 KiB segment.
    for i in 0..SEGMENTS {
        let records = batch_of(PER_BATCH, 1_000 + i, -1, -1, -1, false, 250).freeze();
        let r = c.call(produce_req("many", 0, records, 1), 9).await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
        let fds = open_fds();
        assert!(
            fds <= limit,
            "{fds} descriptors open after batch {i}, limit {limit}"
        );
    }
    let logs = std::fs::read_dir(dir.path().join("many-0"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
        })
        .count();
    assert!(
        logs >= usize::try_from(SEGMENTS).unwrap(),
        "{logs} segments"
    );

    let expected: Vec<i64> = (0..SEGMENTS * i64::from(PER_BATCH)).collect();
    assert_eq!(read_all(&mut c, limit).await, expected);
    drop(c);

    // A restart over all those segments stays under the cap too, and reads the same.
    let b = restart(b, dir.path(), &sets).await;
    let mut c = Client::connect(&b).await;
    assert!(
        open_fds() <= limit,
        "{} descriptors after restart",
        open_fds()
    );
    assert_eq!(read_all(&mut c, limit).await, expected);
    drop(c);
    b.shutdown().await.unwrap();
}
