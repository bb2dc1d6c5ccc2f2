//! A failed fsync takes the log directory offline (Kafka's `LogDirFailureChannel`): nothing is
//! acknowledged afterwards, every partition of the directory answers KAFKA_STORAGE_ERROR, the
//! coordinators stop acknowledging their writes, Metadata reports the partitions without a
//! leader, and ApiVersions and Metadata keep answering. A restart on the repaired directory
//! recovers every acknowledged record and takes writes again. Closed segments are fsynced after
//! a roll without any flush setting.
//!
//! The failure is injected with the partition's fsync test hook ([`Partition::set_fsync_hook`]),
//! which fails the group-commit fsync on the broker's blocking thread as a disk would.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiVersionsRequest, DeleteRecordsRequest, GroupId, MetadataRequest, MetadataResponse,
    OffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;
use minikafka::broker::RunningBroker;
use minikafka::replica::Partition;

/// Upper bound of every wait in these tests (never reached when the broker works).
const PATIENCE: Duration = Duration::from_secs(30);

const STORAGE_ERROR: i16 = 56;

fn partition(b: &RunningBroker, topic: &str) -> Arc<Partition> {
    let id = b.broker().topics.get(topic).unwrap().id;
    b.broker().replicas.partition(&id, 0).unwrap()
}

async fn create(c: &mut Client, topic: &str, configs: &[(&str, &str)]) {
    let r = c.call(create_req(topic, 1, 1, configs), 5).await;
    assert_eq!(r.topics[0].error_code, 0, "create {topic}");
}

/// One produce of `count` records; `Ok(base offset)` or the error code.
async fn produce(c: &mut Client, topic: &str, count: i32, acks: i16) -> Result<i64, i16> {
    let r = c
        .call(produce_req(topic, 0, batch(count, 1_000).freeze(), acks), 9)
        .await;
    let pr = &r.responses[0].partition_responses[0];
    if pr.error_code == 0 {
        Ok(pr.base_offset)
    } else {
        Err(pr.error_code)
    }
}

/// Every batch of a partition, fetched from offset 0: (base offset, record count).
async fn fetch_all(c: &mut Client, topic: &str) -> Result<Vec<(i64, i32)>, i16> {
    fetch_from(c, topic, 0).await
}

/// Every batch of a partition from `start` on: (base offset, record count).
async fn fetch_from(c: &mut Client, topic: &str, start: i64) -> Result<Vec<(i64, i32)>, i16> {
    let mut batches: Vec<(i64, i32)> = Vec::new();
    for _ in 0..10_000 {
        let from = batches
            .last()
            .map_or(start, |(base, n)| base + i64::from(*n));
        let r = c.call(fetch_req(topic, 0, from, 0, 1 << 20), 12).await;
        let pd = &r.responses[0].partitions[0];
        if pd.error_code != 0 {
            return Err(pd.error_code);
        }
        let got = batch_offsets(pd.records.clone().unwrap_or_default());
        if got.is_empty() {
            return Ok(batches);
        }
        batches.extend(got);
    }
    panic!("fetch never reached the end of {topic}");
}

async fn metadata(c: &mut Client, topic: &str) -> MetadataResponse {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic)))
        ]))
        .with_allow_auto_topic_creation(false);
    c.call(req, 12).await
}

fn offset_commit(group: &str, topic: &str) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(1)
                .with_committed_leader_epoch(-1)])])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_takes_the_log_dir_offline_and_a_restart_recovers_what_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    // "durable": every acknowledgement waits for an fsync; "cached": acknowledged at append.
    create(&mut c, "durable", &[("flush.messages", "1")]).await;
    create(&mut c, "cached", &[]).await;
    let mut acked: Vec<(i64, i32)> = Vec::new();
    for _ in 0..3 {
        acked.push((produce(&mut c, "durable", 2, -1).await.unwrap(), 2));
    }
    let cached_acked = produce(&mut c, "cached", 4, 1).await.unwrap();
    let r = c.call(offset_commit("before", "durable"), 8).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);

    let p = partition(&b, "durable");
    assert!(!p.log_dir().is_offline());
    p.set_fsync_hook(Some(Arc::new(|| {
        Err(std::io::Error::other("injected fsync failure (EIO)"))
    })));
    // The produce whose fsync fails is not acknowledged...
    assert_eq!(produce(&mut c, "durable", 2, -1).await, Err(STORAGE_ERROR));
    assert!(p.log_dir().is_offline(), "the log directory is offline");
    p.set_fsync_hook(None);
    // ...and neither is anything later, on any partition of the directory, whatever the acks.
    assert_eq!(produce(&mut c, "durable", 2, -1).await, Err(STORAGE_ERROR));
    assert_eq!(produce(&mut c, "durable", 2, 1).await, Err(STORAGE_ERROR));
    assert_eq!(produce(&mut c, "cached", 1, 1).await, Err(STORAGE_ERROR));
    // Reads of the directory's partitions are refused too.
    assert_eq!(fetch_all(&mut c, "durable").await, Err(STORAGE_ERROR));
    assert_eq!(fetch_all(&mut c, "cached").await, Err(STORAGE_ERROR));
    let r = c.call(list_offsets_req("cached", 0, -1), 7).await;
    assert_eq!(r.topics[0].partitions[0].error_code, STORAGE_ERROR);
    // The group coordinator's partition lives in the same directory: it stops acknowledging
    // commits (Kafka maps KAFKA_STORAGE_ERROR on a coordinator write to NOT_COORDINATOR) and
    // is no longer found (no leader for its partition: COORDINATOR_NOT_AVAILABLE).
    let r = c.call(offset_commit("after", "durable"), 8).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ResponseError::NotCoordinator.code()
    );
    let r = c
        .call(
            FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("after")),
            3,
        )
        .await;
    assert_eq!(r.error_code, ResponseError::CoordinatorNotAvailable.code());
    // The broker itself still answers.
    let r = c.call(ApiVersionsRequest::default(), 3).await;
    assert_eq!(r.error_code, 0);
    let r = metadata(&mut c, "cached").await;
    let mp = &r.topics[0].partitions[0];
    assert_eq!(r.topics[0].error_code, 0);
    assert_eq!(mp.error_code, ResponseError::LeaderNotAvailable.code());
    assert_eq!(mp.leader_id.0, -1);
    assert_eq!(mp.offline_replicas, mp.replica_nodes);
    assert_eq!(mp.offline_replicas.len(), 1);

    // Stopping with the directory offline flushes nothing and does not mark the stop clean.
    b.shutdown().await.unwrap();
    assert!(
        !dir.path().join(".kafka_cleanshutdown").exists(),
        "an offline stop must not be marked clean"
    );

    // The operator fixed the disk: a restart recovers, every acknowledged record is there, and
    // the directory takes writes again.
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    assert!(!b.broker().replicas.log_dirs()[0].is_offline());
    let read = fetch_all(&mut c, "durable").await.unwrap();
    for a in &acked {
        assert!(read.contains(a), "acknowledged batch {a:?} lost: {read:?}");
    }
    let read = fetch_all(&mut c, "cached").await.unwrap();
    assert!(read.contains(&(cached_acked, 4)), "{read:?}");
    let end = partition(&b, "durable").log_end_offset();
    assert_eq!(produce(&mut c, "durable", 2, -1).await, Ok(end));
    let r = c.call(offset_commit("after", "durable"), 8).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let r = metadata(&mut c, "cached").await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_segments_are_fsynced_after_a_roll_without_any_flush_setting() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path(), &[]).await;
    let mut c = Client::connect(&b).await;
    create(&mut c, "rolling", &[("segment.bytes", "1048576")]).await;
    let p = partition(&b, "rolling");
    // Batches of about 200 KB: the log rolls after a few.
    let mut produced = 0;
    while p.active_segment_base() == 0 {
        assert!(produced < 50, "the log never rolled");
        let records: Bytes = batch_of(2, 1_000, -1, -1, -1, false, 100_000).freeze();
        let r = c.call(produce_req("rolling", 0, records, 1), 9).await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
        produced += 1;
    }
    let closed_end = p.active_segment_base();
    // The closed segment's fsync runs in the background; wait for it, bounded.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while p.flushed_offset() < closed_end {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed segment (offsets below {closed_end}) was never fsynced: recovery point {}",
            p.flushed_offset()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(p.fsync_count() >= 1);
    b.shutdown().await.unwrap();
}

/// Set in the copy of this test binary that runs in its own mount namespace.
const IN_NAMESPACE: &str = "MINIKAFKA_TEST_IN_MOUNT_NAMESPACE";

/// A real full disk: a 6 MiB tmpfs, mounted in a private mount namespace (`unshare -m`) so that
/// nothing outside this test sees it. Needs root; says SKIPPED and passes otherwise.
///
/// 1. Writing until the disk is full: the write that fails with ENOSPC takes the directory
///    offline, as any write error does (Kafka does the same on ENOSPC), and nothing is
///    acknowledged from then on.
/// 2. The operator frees some space: a restart recovers the log (rebuilding the last segment's
///    indexes needs a little space), DeleteRecords moves the log start offset into the second
///    segment (the first is deleted, the start offset checkpointed), and the broker stops
///    cleanly.
/// 3. Every index file is lost, the clean-shutdown marker too, the leader-epoch checkpoint gets
///    an epoch starting past the log end, the disk is filled to the last byte, and the broker
///    started on it: recovery rebuilds the indexes and drops that epoch in memory (nothing of
///    them can be written), and the broker starts read-only (its leader-epoch checkpoint cannot
///    be written either) with the checkpointed log start offset applied in memory. It serves
///    every acknowledged record from that offset on, answers ListOffsets and Metadata normally,
///    and refuses produces with KAFKA_STORAGE_ERROR.
/// 4. The operator frees space while it runs: within a few probes it takes writes again.
/// 5. That broker stops cleanly; a restart keeps the log start offset, nothing acknowledged is
///    lost, and the indexes kept in memory are rebuilt on disk.
#[test]
fn a_full_disk_takes_the_log_dir_offline_and_a_broker_starts_on_it_read_only() {
    const TEST: &str = "a_full_disk_takes_the_log_dir_offline_and_a_broker_starts_on_it_read_only";
    if std::env::var_os(IN_NAMESPACE).is_none() {
        let uid = std::process::Command::new("id").arg("-u").output();
        if !uid.is_ok_and(|o| o.stdout.trim_ascii() == b"0") {
            println!("SKIPPED {TEST}: mounting a small tmpfs needs root");
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let status = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private"])
            .arg(exe)
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(IN_NAMESPACE, "1")
            .status();
        match status {
            Err(e) => println!("SKIPPED {TEST}: cannot run unshare: {e}"),
            Ok(s) => assert!(
                s.success(),
                "{TEST} failed in its mount namespace (see above)"
            ),
        }
        return;
    }
    let mount_point = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6m", "tmpfs"])
        .arg(mount_point.path())
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        println!("SKIPPED {TEST}: cannot mount a tmpfs here");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(full_disk(mount_point.path()));
    drop(rt);
    let _ = std::process::Command::new("umount")
        .arg(mount_point.path())
        .status();
}

async fn full_disk(mount: &std::path::Path) {
    let data = mount.join("data");
    // 256 KiB the test frees in step 2, as an operator would.
    std::fs::write(mount.join("ballast"), vec![1u8; 256 << 10]).unwrap();
    let b = start(&data, &[]).await;
    let mut c = Client::connect(&b).await;
    create(&mut c, "filling", &[("segment.bytes", "1048576")]).await;
    // 1. About 100 KB per batch until a write fails: the disk holds about 60.
    let mut acked: Vec<(i64, i32)> = Vec::new();
    let mut refused = None;
    for _ in 0..200 {
        let records = batch_of(2, 1_000, -1, -1, -1, false, 50_000).freeze();
        let r = c.call(produce_req("filling", 0, records, 1), 9).await;
        let pr = &r.responses[0].partition_responses[0];
        if pr.error_code != 0 {
            refused = Some(pr.error_code);
            break;
        }
        acked.push((pr.base_offset, 2));
    }
    assert_eq!(refused, Some(STORAGE_ERROR), "the disk never filled up");
    assert!(acked.len() > 10, "only {} batches fit", acked.len());
    assert!(b.broker().replicas.log_dirs()[0].is_offline());
    assert_eq!(produce(&mut c, "filling", 1, 1).await, Err(STORAGE_ERROR));
    assert_eq!(fetch_all(&mut c, "filling").await, Err(STORAGE_ERROR));
    b.shutdown().await.unwrap();

    // 2. Free some space (shrink the log's last segment's neighbour: the test's own ballast),
    // restart, recover, stop cleanly.
    let ballast = mount.join("ballast");
    std::fs::remove_file(&ballast).unwrap();
    let b = start(&data, &[]).await;
    assert!(!b.broker().replicas.log_dirs()[0].is_read_only());
    let bases = segment_bases(&data.join("filling-0"));
    assert!(bases.len() >= 3, "several segments: {bases:?}");
    let log_start = acked.iter().map(|a| a.0).find(|&o| o > bases[1]).unwrap();
    let mut c = Client::connect(&b).await;
    let r = c.call(delete_records("filling", log_start), 2).await;
    let dp = &r.topics[0].partitions[0];
    assert_eq!((dp.error_code, dp.low_watermark), (0, log_start));
    assert!(!data.join("filling-0").join(segment_log(bases[0])).exists());
    let kept: Vec<(i64, i32)> = acked.iter().filter(|a| a.0 >= log_start).copied().collect();
    b.shutdown().await.unwrap();

    // 3. Make the next start rebuild every index (their files lost, and the stop not clean, so
    // the last segment is recovered too), fill whatever is left, then start on the full disk.
    let indexes = index_files(&data.join("filling-0"));
    assert!(indexes.len() >= 4, "several segments: {indexes:?}");
    for f in &indexes {
        std::fs::remove_file(f).unwrap();
    }
    std::fs::remove_file(data.join(".kafka_cleanshutdown")).unwrap();
    // And a leader epoch that started past the log end, as after a crash that lost the tail
    // written under it: the start must drop it, in memory only.
    let end = kept.last().unwrap().0 + 2;
    add_epoch_entry(&data.join("filling-0"), end + 100);
    let filler = mount.join("filler");
    fill(&filler);
    let b = start(&data, &[]).await;
    let mut c = Client::connect(&b).await;
    let dir = &b.broker().replicas.log_dirs()[0];
    assert!(dir.is_read_only() && !dir.is_offline());
    assert!(!data.join(".kafka_cleanshutdown").exists());
    // The rebuilt indexes live in memory: nothing of them was written.
    assert_eq!(
        index_files(&data.join("filling-0")),
        Vec::<std::path::PathBuf>::new()
    );
    // The log start offset DeleteRecords moved is applied, in memory.
    assert_eq!(earliest(&mut c, "filling").await, log_start);
    let r = c
        .call(fetch_req("filling", 0, bases[1], 0, 1 << 20), 12)
        .await;
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::OffsetOutOfRange.code()
    );
    let read = fetch_from(&mut c, "filling", log_start).await.unwrap();
    for a in &kept {
        assert!(read.contains(a), "acknowledged batch {a:?} lost: {read:?}");
    }
    let r = metadata(&mut c, "filling").await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(
        r.topics[0].partitions[0].leader_id.0,
        r.brokers[0].node_id.0
    );
    assert_eq!(produce(&mut c, "filling", 1, 1).await, Err(STORAGE_ERROR));
    let r = c.call(list_offsets_req("filling", 0, -1), 7).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);

    // 4. Space freed while the broker runs: a produce eventually succeeds (the probe runs every
    // few seconds; at most PATIENCE of tries).
    std::fs::remove_file(&filler).unwrap();
    let end = partition(&b, "filling").log_end_offset();
    let mut produced = Err(STORAGE_ERROR);
    for _ in 0..PATIENCE.as_millis() / 100 {
        produced = produce(&mut c, "filling", 1, 1).await;
        if produced != Err(STORAGE_ERROR) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(produced, Ok(end), "writes never resumed after space freed");
    // What the start kept in memory is written now: the epoch past the old log end is gone.
    let epochs = std::fs::read_to_string(data.join("filling-0/leader-epoch-checkpoint")).unwrap();
    assert!(
        !epochs
            .lines()
            .any(|l| l.ends_with(&format!(" {}", end + 100))),
        "{epochs}"
    );
    assert!(!dir.is_read_only() && !dir.is_offline());
    assert_eq!(produce(&mut c, "filling", 1, 1).await, Ok(end + 1));

    // 5. Writable again, it stops cleanly; a restart keeps everything.
    b.shutdown().await.unwrap();
    assert!(data.join(".kafka_cleanshutdown").exists());
    let b = start(&data, &[]).await;
    let mut c = Client::connect(&b).await;
    assert!(!b.broker().replicas.log_dirs()[0].is_read_only());
    assert_eq!(earliest(&mut c, "filling").await, log_start);
    let end = partition(&b, "filling").log_end_offset();
    assert_eq!(end, kept.last().unwrap().0 + 2 + 2);
    assert_eq!(produce(&mut c, "filling", 1, 1).await, Ok(end));
    let read = fetch_from(&mut c, "filling", log_start).await.unwrap();
    for a in &kept {
        assert!(read.contains(a), "acknowledged batch {a:?} lost: {read:?}");
    }
    // The indexes kept in memory were rebuilt on disk by this start.
    assert!(index_files(&data.join("filling-0")).len() >= indexes.len());
    b.shutdown().await.unwrap();
}

fn delete_records(topic: &str, offset: i64) -> DeleteRecordsRequest {
    DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(offset)])])
}

/// ListOffsets EARLIEST: the log start offset.
async fn earliest(c: &mut Client, topic: &str) -> i64 {
    let r = c.call(list_offsets_req(topic, 0, -2), 7).await;
    let lp = &r.topics[0].partitions[0];
    assert_eq!(lp.error_code, 0);
    lp.offset
}

/// The base offsets of a partition directory's segments, sorted.
fn segment_bases(dir: &std::path::Path) -> Vec<i64> {
    let mut out: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            name.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    out.sort_unstable();
    out
}

fn segment_log(base: i64) -> String {
    format!("{base:020}.log")
}

/// Append an entry (the next epoch, starting at `start_offset`) to a partition's
/// leader-epoch checkpoint.
fn add_epoch_entry(dir: &std::path::Path, start_offset: i64) {
    let path = dir.join("leader-epoch-checkpoint");
    let text = std::fs::read_to_string(&path).unwrap();
    let entries: Vec<&str> = text.lines().skip(2).collect();
    let last_epoch: i32 = entries
        .last()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut out = format!("0\n{}\n", entries.len() + 1);
    for e in &entries {
        out.push_str(&format!("{e}\n"));
    }
    out.push_str(&format!("{} {start_offset}\n", last_epoch + 1));
    std::fs::write(&path, out).unwrap();
}

/// The `.index` and `.timeindex` files of a partition directory, sorted.
fn index_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "index" || x == "timeindex")
        })
        .collect();
    out.sort();
    out
}

/// Write zeros to `path` until the filesystem is full (bounded by the tmpfs size).
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 4096];
    for _ in 0..(64 << 20) / 4096 {
        match f.write(&chunk) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => return,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    panic!("the disk never filled up");
}
