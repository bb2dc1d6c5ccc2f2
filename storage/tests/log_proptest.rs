//! Random append/read/truncate/roll/reopen sequences against a simple model of batches.

mod common;

use common::*;
use minikafka_storage::batch::{decode_records, Compression, Record};
use minikafka_storage::{Log, LogConfig};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append {
        n: usize,
        size: usize,
        codec: u8,
        ts: i64,
    },
    Read {
        at: prop::sample::Index,
        max_bytes: usize,
        min_one: bool,
    },
    Truncate {
        at: prop::sample::Index,
    },
    Roll,
    Reopen {
        clean: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1usize..5, 1usize..400, 0u8..5, 0i64..10_000)
            .prop_map(|(n, size, codec, ts)| Op::Append { n, size, codec, ts }),
        3 => (any::<prop::sample::Index>(), 1usize..3000, any::<bool>())
            .prop_map(|(at, max_bytes, min_one)| Op::Read { at, max_bytes, min_one }),
        1 => any::<prop::sample::Index>().prop_map(|at| Op::Truncate { at }),
        1 => Just(Op::Roll),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 128,
        ..LogConfig::default()
    }
}

/// The model: batches as (base offset, records), and the log end offset.
struct Model {
    batches: Vec<(i64, Vec<Record>)>,
    leo: i64,
}

fn check(log: &Log, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(log.log_end_offset(), model.leo);
    let expected: Vec<Record> = model.batches.iter().flat_map(|(_, r)| r.clone()).collect();
    prop_assert_eq!(read_all(log), expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_keep_offsets_and_bytes_consistent(ops in proptest::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Some(Log::open(dir.path(), config(), true).unwrap());
        let mut model = Model { batches: Vec::new(), leo: 0 };
        for op in ops {
            let l = log.as_mut().unwrap();
            match op {
                Op::Append { n, size, codec, ts } => {
                    let b = batch(n, ts, size, Compression::from_id(codec).unwrap());
                    let info = l.append(&b, 3, 0).unwrap();
                    prop_assert_eq!(info.base_offset, model.leo);
                    let (_, mut recs) = decode_records(&b).unwrap();
                    for (i, r) in recs.iter_mut().enumerate() {
                        r.offset = model.leo + i as i64;
                    }
                    model.batches.push((model.leo, recs));
                    model.leo += n as i64;
                }
                Op::Read { at, max_bytes, min_one } => {
                    let offset = at.index(model.leo as usize + 1) as i64;
                    let info = l.read(offset, max_bytes, min_one).unwrap();
                    prop_assert!(info.records.len() <= max_bytes || min_one);
                    let got = split(&info.records);
                    let first = model.batches.iter().position(|(b, r)| b + r.len() as i64 > offset);
                    match first {
                        None => prop_assert!(got.is_empty()),
                        Some(i) => {
                            if min_one {
                                prop_assert!(!got.is_empty());
                            }
                            for (k, (_, bytes)) in got.iter().enumerate() {
                                let (h, recs) = decode_records(bytes).unwrap();
                                prop_assert_eq!(h.partition_leader_epoch, 3);
                                prop_assert_eq!(&recs, &model.batches[i + k].1);
                            }
                        }
                    }
                }
                Op::Truncate { at } => {
                    let target = at.index(model.leo as usize + 1) as i64;
                    l.truncate_to(target).unwrap();
                    if target < model.leo {
                        model.batches.retain(|(b, r)| b + (r.len() as i64) - 1 < target);
                        model.leo = model.batches.last().map_or(0, |(b, r)| b + r.len() as i64);
                    }
                }
                Op::Roll => {
                    let mut c = config();
                    c.segment_ms = 0;
                    l.set_config(c);
                    l.maybe_roll(i64::MAX).unwrap();
                    l.set_config(config());
                }
                Op::Reopen { clean } => {
                    let l = log.take().unwrap();
                    if clean { l.close().unwrap() } else { drop(l) }
                    log = Some(Log::open(dir.path(), config(), clean).unwrap());
                }
            }
            check(log.as_ref().unwrap(), &model)?;
        }
    }
}
