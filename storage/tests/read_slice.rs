//! `Log::read_slice` (the zero-copy fetch path: where the batches lie, found from the indexes and batch headers
//! only) against a model that walks every batch: for random batch sizes, index densities, segment sizes, byte
//! budgets, `min_one` and `read_committed` bounds, it must name exactly the whole batches a scan would return, and
//! `Log::read` must return exactly those bytes.

mod common;

use common::*;
use minikafka_storage::batch::{iter_headers, Compression};
use minikafka_storage::{Log, LogConfig, StorageError};
use proptest::prelude::*;

/// One stored batch of the model.
#[derive(Debug, Clone, Copy)]
struct Stored {
    segment: i64,
    base: i64,
    next: i64,
    size: usize,
}

/// What a full scan returns: (base offset of the first batch, offset after the last, total bytes), or None.
fn expected(
    model: &[Stored],
    offset: i64,
    max_bytes: usize,
    min_one: bool,
    max_offset: i64,
) -> Option<(i64, i64, usize)> {
    let first = model.iter().position(|b| b.next > offset)?;
    let segment = model[first].segment;
    let mut total = 0usize;
    let mut next = None;
    for b in model[first..]
        .iter()
        .take_while(|b| b.segment == segment && b.base < max_offset)
    {
        if total + b.size > max_bytes {
            break;
        }
        total += b.size;
        next = Some(b.next);
    }
    match next {
        Some(n) => Some((model[first].base, n, total)),
        None if min_one && model[first].base < max_offset => {
            Some((model[first].base, model[first].next, model[first].size))
        }
        None => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn read_slice_names_exactly_the_whole_batches_a_scan_returns(
        batches in proptest::collection::vec((1usize..6, 1usize..700), 1..120),
        index_interval_bytes in 1u64..2048,
        segment_bytes in 8192u64..40_000,
        queries in proptest::collection::vec(
            (any::<prop::sample::Index>(), 1usize..12_000, any::<bool>(), prop::option::of(any::<prop::sample::Index>())),
            1..40,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { index_interval_bytes, segment_bytes, ..LogConfig::default() };
        let mut log = Log::open(dir.path(), config, true).unwrap();
        for (i, (n, size)) in batches.iter().enumerate() {
            log.append(&batch(*n, i as i64, *size, Compression::None), 0, 0).unwrap();
        }
        // The model: every stored batch with its segment, from a scan of each segment's file.
        let bases: Vec<i64> = log.segments().map(|s| s.base_offset()).collect();
        let mut model = Vec::new();
        for (i, base) in bases.iter().enumerate() {
            let end = bases.get(i + 1).copied().unwrap_or(i64::MAX);
            let data = std::fs::read(log.segment_file(*base, ".log")).unwrap();
            for item in iter_headers(&data) {
                let (_, h) = item.unwrap();
                prop_assert!(h.base_offset < end);
                model.push(Stored { segment: *base, base: h.base_offset, next: h.next_offset(), size: h.size() });
            }
        }
        let leo = log.log_end_offset();
        for (at, max_bytes, min_one, bound) in queries {
            let offset = at.index(usize::try_from(leo).unwrap() + 1) as i64;
            let max_offset = bound.map_or(i64::MAX, |b| b.index(usize::try_from(leo).unwrap() + 2) as i64);
            let slice = log.read_slice(offset, max_bytes, min_one, max_offset).unwrap();
            prop_assert_eq!(slice.log_end_offset, leo);
            let want = if offset >= max_offset { None } else { expected(&model, offset, max_bytes, min_one, max_offset) };
            match (&slice.records, want) {
                (None, None) => prop_assert_eq!(slice.next_offset, None),
                (Some(s), Some((first, next, len))) => {
                    prop_assert_eq!(s.len(), len);
                    prop_assert_eq!(slice.next_offset, Some(next));
                    let bytes = s.read().unwrap();
                    let headers: Vec<_> = iter_headers(&bytes).map(|r| r.unwrap().1).collect();
                    prop_assert_eq!(headers.first().map(|h| h.base_offset), Some(first));
                    prop_assert_eq!(headers.last().map(|h| h.next_offset()), Some(next));
                    prop_assert_eq!(headers.iter().map(|h| h.size()).sum::<usize>(), len);
                    // Log::read / read_upto return the same bytes, copied.
                    let copied = log.read_upto(offset, max_bytes, min_one, max_offset).unwrap();
                    prop_assert_eq!(copied.records, bytes);
                }
                (got, want) => prop_assert!(false, "offset {offset} max_bytes {max_bytes} min_one {min_one} max_offset {max_offset}: got {got:?}, want {want:?}"),
            }
        }
        // Outside the log: out of range, as Log::read.
        let beyond = log.read_slice(leo + 1, 1000, true, i64::MAX);
        prop_assert!(matches!(beyond, Err(StorageError::OffsetOutOfRange { .. })), "{:?}", beyond);
    }
}
