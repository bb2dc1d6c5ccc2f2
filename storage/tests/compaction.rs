//! Log compaction (`cleanup.policy=compact`): what the cleaner keeps, when it runs, and crash safety of the swap.

mod common;

use std::collections::HashMap;

use bytes::Bytes;
use minikafka_storage::batch::{build_batch, BatchBuilder, BatchHeader, Compression, Record};
use minikafka_storage::cleaner::FailPoint;
use minikafka_storage::{CleanupPolicy, Log, LogConfig, StorageError};
use proptest::prelude::*;

use common::{read_all, split};

const T0: i64 = 1_700_000_000_000;

fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 128,
        cleanup_policy: CleanupPolicy::COMPACT,
        delete_retention_ms: 1_000,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

fn record(key: &str, value: Option<&str>, ts: i64) -> Record {
    Record {
        offset: 0,
        timestamp: ts,
        key: Some(Bytes::from(key.to_string())),
        value: value.map(|v| Bytes::from(v.to_string())),
        headers: vec![("h".to_string(), Some(Bytes::from(format!("{key}@{ts}"))))],
    }
}

/// Append one batch of (key, value) updates and apply them to `model`.
fn put(
    log: &mut Log,
    model: &mut HashMap<String, String>,
    ops: &[(String, Option<String>)],
    ts: i64,
    codec: Compression,
) {
    let recs: Vec<Record> = ops
        .iter()
        .map(|(k, v)| record(k, v.as_deref(), ts))
        .collect();
    log.append(&build_batch(0, ts, &recs, codec), 0, ts)
        .unwrap();
    for (k, v) in ops {
        match v {
            Some(v) => model.insert(k.clone(), v.clone()),
            None => model.remove(k),
        };
    }
}

/// `keys` keys × `rounds` updates, 5 records per batch, the last round tombstoning every 7th key.
fn fill(log: &mut Log, model: &mut HashMap<String, String>, keys: usize, rounds: usize, ts: i64) {
    let mut ops = Vec::new();
    for round in 0..rounds {
        for k in 0..keys {
            let value = (round + 1 < rounds || k % 7 != 0).then(|| format!("v{round}-{k}-{ts}"));
            ops.push((format!("key{k}"), value));
        }
    }
    for (i, chunk) in ops.chunks(5).enumerate() {
        let codec = [Compression::None, Compression::Lz4, Compression::Gzip][i % 3];
        put(log, model, chunk, ts + i as i64, codec);
    }
}

/// Key → latest value as a consumer reading from the log start sees it (tombstones delete).
fn view(log: &Log) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for r in read_all(log) {
        let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
        match r.value {
            Some(v) => out.insert(key, String::from_utf8(v.to_vec()).unwrap()),
            None => out.remove(&key),
        };
    }
    out
}

/// Roll the active segment by appending a filler record under a key of its own.
fn roll(log: &mut Log, ts: i64) {
    let filler = record("filler", Some(&"f".repeat(1500)), ts);
    log.append(&build_batch(0, ts, &[filler], Compression::None), 0, ts)
        .unwrap();
    let filler = record("filler", Some(&"f".repeat(1500)), ts);
    log.append(&build_batch(0, ts, &[filler], Compression::None), 0, ts)
        .unwrap();
}

fn with_filler(model: &HashMap<String, String>) -> HashMap<String, String> {
    let mut m = model.clone();
    m.insert("filler".into(), "f".repeat(1500));
    m
}

#[test]
fn clean_keeps_only_the_latest_value_of_each_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), compact_config(), true).unwrap();
    let mut model = HashMap::new();
    fill(&mut log, &mut model, 40, 10, T0);
    roll(&mut log, T0 + 1_000);
    let (leo, segments, size) = (log.log_end_offset(), log.segment_count(), log.size_bytes());
    assert!(segments > 5, "{segments} segments");
    let before: Vec<(i64, i64)> = read_all(&log)
        .iter()
        .map(|r| (r.offset, r.timestamp))
        .collect();

    let stats = log
        .clean(T0 + 2_000)
        .unwrap()
        .expect("a fresh log is all dirty");
    assert!(stats.records_removed > 300, "{stats:?}");
    assert_eq!(
        stats.end_offset,
        log.segments().last().unwrap().base_offset()
    );
    assert_eq!(log.log_end_offset(), leo);
    assert!(
        log.size_bytes() < size / 3,
        "{} -> {}",
        size,
        log.size_bytes()
    );
    // Segments are grouped by their sizes before cleaning (Kafka's groupSegmentsBySize): full ones stay apart.
    assert_eq!(log.segment_count(), segments);
    assert_eq!(view(&log), with_filler(&model));

    // In the cleaned range every key appears once; offsets increase (with gaps) and keep their timestamps.
    let all = read_all(&log);
    let cleaned: Vec<&Record> = all.iter().filter(|r| r.offset < stats.end_offset).collect();
    let mut seen = std::collections::HashSet::new();
    for r in &cleaned {
        assert!(seen.insert(r.key.clone()), "key {:?} twice", r.key);
        assert!(before.contains(&(r.offset, r.timestamp)));
        let key = String::from_utf8(r.key.clone().unwrap().to_vec()).unwrap();
        assert_eq!(
            r.headers[0].1.as_deref(),
            Some(format!("{key}@{}", r.timestamp).as_bytes())
        );
    }
    assert!(all.windows(2).all(|w| w[0].offset < w[1].offset));
    // Tombstones stay until delete.retention.ms after this clean.
    assert!(cleaned.iter().any(|r| r.value.is_none()));

    // Reading at any offset, removed or not, starts with the batch holding the next surviving offset.
    for offset in log.log_start_offset()..leo {
        let info = log.read(offset, 1 << 16, true).unwrap();
        let batches = split(&info.records);
        assert!(!batches.is_empty(), "nothing at {offset}");
        assert!(batches[0].0.last_offset() >= offset);
        assert!(batches[0].0.base_offset <= offset || batches[0].0.base_offset > offset - 5 * 40);
    }
    // offset_for_timestamp finds the first surviving record at or after the timestamp.
    for ts in [T0 - 1, T0 + 3, T0 + 40, T0 + 79, T0 + 1_000] {
        let expected = all
            .iter()
            .find(|r| r.timestamp >= ts)
            .map(|r| (r.offset, r.timestamp));
        assert_eq!(log.offset_for_timestamp(ts).unwrap(), expected, "ts {ts}");
    }
    // Nothing is dirty now: the next clean has nothing to do.
    assert!(log.clean(T0 + 2_001).unwrap().is_none());

    // A second clean groups the now small segments into few.
    let mut low = compact_config();
    low.min_cleanable_dirty_ratio = 0.01;
    log.set_config(low);
    roll(&mut log, T0 + 3_000);
    let leo = log.log_end_offset();
    let stats = log.clean(T0 + 3_000).unwrap().unwrap();
    assert!(
        stats.segments_after * 2 < stats.segments_before,
        "{stats:?}"
    );
    assert!(log.segment_count() < segments);
    assert_eq!(view(&log), with_filler(&model));

    // Reopening (clean and after a crash) gives the same view.
    log.close().unwrap();
    let log = Log::open(dir.path(), compact_config(), true).unwrap();
    assert_eq!(view(&log), with_filler(&model));
    assert_eq!(log.log_end_offset(), leo);
    drop(log);
    let log = Log::open(dir.path(), compact_config(), false).unwrap();
    assert_eq!(view(&log), with_filler(&model));
    assert_eq!(log.log_end_offset(), leo);
}

#[test]
fn tombstones_go_only_after_delete_retention() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), compact_config(), true).unwrap();
    let mut model = HashMap::new();
    fill(&mut log, &mut model, 21, 4, T0);
    roll(&mut log, T0 + 100);
    let tombstones = |log: &Log| read_all(log).iter().filter(|r| r.value.is_none()).count();
    log.clean(T0 + 1_000).unwrap().unwrap();
    assert_eq!(tombstones(&log), 3);
    // Nothing dirty and the horizon (clean time + 1000 ms) not reached: nothing to do.
    assert!(log.clean(T0 + 1_999).unwrap().is_none());
    assert_eq!(tombstones(&log), 3);
    // The horizon passed: the log is cleaned again although nothing is dirty, and the tombstones go.
    let stats = log.clean(T0 + 2_000).unwrap().unwrap();
    assert_eq!(stats.tombstones_removed, 3);
    assert_eq!(tombstones(&log), 0);
    assert_eq!(view(&log), with_filler(&model));
    // The horizon is in the data: it survives a reopen.
    drop(log);
    let log = Log::open(dir.path(), compact_config(), false).unwrap();
    assert_eq!(view(&log), with_filler(&model));
}

#[test]
fn min_compaction_lag_keeps_recent_segments_dirty() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        min_compaction_lag_ms: 10_000,
        ..compact_config()
    };
    let mut log = Log::open(dir.path(), config, true).unwrap();
    let mut model = HashMap::new();
    fill(&mut log, &mut model, 30, 4, T0);
    let old_end = log.log_end_offset();
    fill(&mut log, &mut model, 30, 4, T0 + 20_000);
    roll(&mut log, T0 + 20_500);
    let stats = log.clean(T0 + 21_000).unwrap().unwrap();
    // The cleanable range ends at the first segment holding a record newer than now - 10 s.
    assert!(stats.end_offset <= old_end + 5, "{stats:?}");
    let first_new = log
        .segments()
        .find(|s| s.max_timestamp() >= T0 + 20_000)
        .unwrap()
        .base_offset();
    assert_eq!(stats.end_offset, first_new);
    // Records at or above the end are untouched: every update of the second fill is still there.
    let recent = read_all(&log)
        .iter()
        .filter(|r| r.offset >= first_new)
        .count();
    assert!(recent as i64 >= log.log_end_offset() - first_new - 2);
    assert_eq!(view(&log), with_filler(&model));
}

#[test]
fn dirty_ratio_decides_when_to_clean() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), compact_config(), true).unwrap();
    let mut model = HashMap::new();
    fill(&mut log, &mut model, 40, 3, T0);
    roll(&mut log, T0 + 100);
    log.clean(T0 + 200).unwrap().unwrap();
    // A little new data: the dirty share is far below 0.5.
    put(
        &mut log,
        &mut model,
        &[("key1".into(), Some("new".into()))],
        T0 + 300,
        Compression::None,
    );
    roll(&mut log, T0 + 300);
    let plan = log.plan_clean(T0 + 400).unwrap();
    assert!(plan.is_none(), "{plan:?}");
    // A low ratio lets it run; max.compaction.lag.ms forces it even with the default ratio.
    let mut low = compact_config();
    low.min_cleanable_dirty_ratio = 0.01;
    log.set_config(low);
    assert!(log.plan_clean(T0 + 400).unwrap().is_some());
    let mut lag = compact_config();
    lag.max_compaction_lag_ms = 1_000;
    log.set_config(lag.clone());
    assert!(log.plan_clean(T0 + 400).unwrap().is_none());
    assert!(log.plan_clean(T0 + 5_000).unwrap().is_some());
    log.clean(T0 + 5_000).unwrap().unwrap();
    assert_eq!(view(&log), with_filler(&model));
}

#[test]
fn retention_applies_only_with_the_delete_policy() {
    for policy in [CleanupPolicy::COMPACT, CleanupPolicy::COMPACT_DELETE] {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            cleanup_policy: policy,
            retention_bytes: 3_000,
            ..compact_config()
        };
        let mut log = Log::open(dir.path(), config, true).unwrap();
        let mut model = HashMap::new();
        fill(&mut log, &mut model, 40, 5, T0);
        roll(&mut log, T0 + 50_000);
        log.clean(T0 + 50_000).unwrap().unwrap();
        let deleted = log.enforce_retention(T0 + 50_000).unwrap();
        if policy.delete {
            assert!(!deleted.is_empty());
            assert!(log.log_start_offset() > 0);
        } else {
            assert!(deleted.is_empty());
            assert_eq!(view(&log), with_filler(&model));
        }
    }
}

#[test]
fn compacted_logs_refuse_records_without_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), compact_config(), true).unwrap();
    for codec in [Compression::None, Compression::Zstd] {
        let mut recs = vec![record("a", Some("1"), T0)];
        recs.push(Record {
            key: None,
            ..record("b", Some("2"), T0)
        });
        let err = log
            .append(&build_batch(0, T0, &recs, codec), 0, T0)
            .unwrap_err();
        assert!(
            matches!(err, StorageError::NullKeyInCompactedTopic(_)),
            "{err}"
        );
        assert!(err
            .to_string()
            .contains("Compacted topic cannot accept message without key"));
    }
    assert_eq!(log.log_end_offset(), 0);
    // The delete policy accepts them.
    log.set_config(LogConfig {
        cleanup_policy: CleanupPolicy::DELETE,
        ..compact_config()
    });
    let rec = Record {
        key: None,
        ..record("b", Some("2"), T0)
    };
    log.append(&build_batch(0, T0, &[rec], Compression::None), 0, T0)
        .unwrap();
}

fn producer_batch(seq: i32, keys: &[&str], ts: i64) -> Bytes {
    let builder = BatchBuilder {
        producer_id: 77,
        producer_epoch: 3,
        base_sequence: seq,
        compression: Compression::Snappy,
        ..BatchBuilder::new(0, ts)
    };
    let recs: Vec<Record> = keys.iter().map(|k| record(k, Some("p"), ts)).collect();
    builder.build(&recs).unwrap()
}

#[test]
fn idempotent_producer_state_survives_cleaning() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), compact_config(), true).unwrap();
    let mut model = HashMap::new();
    log.append(&producer_batch(0, &["p1", "p2"], T0), 0, T0)
        .unwrap();
    let last = producer_batch(2, &["p3", "p4", "p5"], T0);
    let first = log.append(&last, 0, T0).unwrap();
    // Every key the producer wrote is overwritten later: all its records go.
    let ops: Vec<(String, Option<String>)> = ["p1", "p2", "p3", "p4", "p5"]
        .iter()
        .map(|k| (k.to_string(), Some("later".into())))
        .collect();
    put(&mut log, &mut model, &ops, T0 + 1, Compression::None);
    fill(&mut log, &mut model, 20, 3, T0 + 2);
    roll(&mut log, T0 + 100);
    log.clean(T0 + 200).unwrap().unwrap();
    assert_eq!(view(&log), with_filler(&model));
    // The first producer batch is gone, the last one stays as an empty batch with its offsets and sequence.
    let batches = split(&log.read(0, 1 << 20, true).unwrap().records);
    let kept: Vec<&BatchHeader> = batches
        .iter()
        .map(|(h, _)| h)
        .filter(|h| h.producer_id == 77)
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        (
            kept[0].base_offset,
            kept[0].last_offset(),
            kept[0].records_count
        ),
        (2, 4, 0)
    );
    assert_eq!(kept[0].base_sequence, 2);
    let dup = log.append(&last, 0, T0 + 300).unwrap();
    assert!(dup.duplicate);
    assert_eq!(
        (dup.base_offset, dup.last_offset),
        (first.base_offset, first.last_offset)
    );
    // After a reopen that must rebuild producer state from the log alone (no snapshot).
    drop(log);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let mut log = Log::open(dir.path(), compact_config(), false).unwrap();
    let dup = log.append(&last, 0, T0 + 400).unwrap();
    assert!(dup.duplicate, "{dup:?}");
    assert_eq!(view(&log), with_filler(&model));
}

/// For every crash point of the swap, the reopened log shows every key's newest value, and cleaning again works.
#[test]
fn every_crash_point_keeps_the_newest_value_of_every_key() {
    for point in FailPoint::ALL {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), compact_config(), true).unwrap();
        let mut model = HashMap::new();
        fill(&mut log, &mut model, 30, 6, T0);
        roll(&mut log, T0 + 100);
        // A first clean leaves small segments, so that the crashing clean groups several into one.
        log.clean(T0 + 200).unwrap().unwrap();
        fill(&mut log, &mut model, 30, 3, T0 + 3_000);
        roll(&mut log, T0 + 3_100);
        let mut low = compact_config();
        low.min_cleanable_dirty_ratio = 0.01;
        log.set_config(low.clone());
        let leo = log.log_end_offset();
        // The clean about to crash merges several old segments into each new one.
        let probe = log.plan_clean(T0 + 3_200).unwrap().unwrap().run().unwrap();
        assert!(
            probe.stats().segments_after < probe.stats().segments_before,
            "{:?}",
            probe.stats()
        );
        probe.discard();
        let err = log
            .clean_with_fail_point(T0 + 3_200, Some(point))
            .unwrap_err();
        assert!(
            matches!(err, StorageError::CleanAborted(_)),
            "{point:?}: {err}"
        );
        drop(log);
        let mut log = Log::open(dir.path(), low, false).unwrap();
        assert_eq!(view(&log), with_filler(&model), "{point:?}");
        assert_eq!(log.log_end_offset(), leo, "{point:?}");
        let leftovers: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".swap") || n.ends_with(".cleaned") || n.ends_with(".deleted"))
            .collect();
        assert!(leftovers.is_empty(), "{point:?}: {leftovers:?}");
        log.clean(T0 + 3_300).unwrap();
        assert_eq!(view(&log), with_filler(&model), "{point:?} then clean");
        let all = read_all(&log);
        assert!(all.windows(2).all(|w| w[0].offset < w[1].offset));
    }
}

#[test]
fn a_clean_aborts_when_the_segments_changed_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), compact_config(), true).unwrap();
    let mut model = HashMap::new();
    fill(&mut log, &mut model, 30, 6, T0);
    roll(&mut log, T0 + 100);
    let cleaned = log.plan_clean(T0 + 200).unwrap().unwrap().run().unwrap();
    // Appends meanwhile are fine; a truncation into the cleaned range is not.
    put(
        &mut log,
        &mut model,
        &[("x".into(), Some("y".into()))],
        T0 + 300,
        Compression::None,
    );
    log.truncate_to(10).unwrap();
    let err = log.commit_clean(cleaned).unwrap_err();
    assert!(matches!(err, StorageError::CleanAborted(_)), "{err}");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".cleaned")), "{names:?}");
    assert_eq!(log.log_end_offset(), 10);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random updates and deletes with cleans in between: the log always reads as the model.
    #[test]
    fn random_updates_and_cleans_match_a_model(
        steps in proptest::collection::vec(
            (proptest::collection::vec((0u8..12, proptest::option::weighted(0.8, 0u16..1000)), 1..6), any::<bool>()),
            1..40,
        )
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes: 700, min_cleanable_dirty_ratio: 0.2, ..compact_config() };
        let mut log = Log::open(dir.path(), config.clone(), true).unwrap();
        let mut model = HashMap::new();
        let mut now = T0;
        for (ops, clean) in steps {
            now += 300;
            let ops: Vec<(String, Option<String>)> =
                ops.into_iter().map(|(k, v)| (format!("k{k}"), v.map(|v| format!("v{v}")))).collect();
            put(&mut log, &mut model, &ops, now, Compression::None);
            if clean {
                log.clean(now).unwrap();
                prop_assert_eq!(view(&log), model.clone());
            }
        }
        log.clean(now + 10_000).unwrap();
        prop_assert_eq!(view(&log), model.clone());
        drop(log);
        let log = Log::open(dir.path(), config, false).unwrap();
        prop_assert_eq!(view(&log), model);
    }
}
