//! Unit tests of batch building, validation, patching and decoding.

use super::*;
use bytes::Bytes;
use proptest::prelude::*;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn rec(i: i64, ts: i64) -> Record {
    Record {
        offset: i,
        timestamp: ts,
        key: (i % 3 != 0).then(|| Bytes::from(format!("key-{i}"))),
        value: (i % 5 != 4).then(|| Bytes::from(vec![i as u8; (i as usize * 7) % 50])),
        headers: vec![
            ("h".into(), Some(Bytes::from_static(b"v"))),
            ("h".into(), None),
        ],
    }
}

fn records(n: i64, base_ts: i64) -> Vec<Record> {
    (0..n).map(|i| rec(i, base_ts + (i * 13) % 7)).collect()
}

/// Rewrite the CRC after a deliberate edit, so that the structural check under test is reached.
fn fix_crc(b: &mut [u8]) {
    let crc = compute_crc(b);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

fn expect_invalid(b: &[u8]) {
    let r = validate(b, 1 << 20);
    assert!(matches!(r, Err(StorageError::InvalidRecord(_))), "{r:?}");
}

fn expect_corrupt(b: &[u8]) {
    let r = validate(b, 1 << 20);
    assert!(matches!(r, Err(StorageError::CorruptMessage(_))), "{r:?}");
}

#[test]
fn build_validate_decode_all_codecs() {
    for codec in CODECS {
        let recs = records(20, 1_000);
        let b = build_batch(0, 1_000, &recs, codec);
        let hs = validate(&b, 1 << 20).unwrap();
        assert_eq!(hs.len(), 1);
        let h = hs[0];
        assert_eq!(h.compression(), codec);
        assert_eq!(h.records_count, 20);
        assert_eq!(h.last_offset_delta, 19);
        assert_eq!(h.size(), b.len());
        assert_eq!(h.max_timestamp, 1_006);
        assert_eq!(h.timestamp_type(), TimestampType::CreateTime);
        assert!(!h.is_control() && !h.is_transactional());
        let (h2, decoded) = decode_records(&b).unwrap();
        assert_eq!(h2, h);
        assert_eq!(decoded, recs, "{codec:?}");
    }
}

#[test]
fn builder_sets_flags_and_producer_fields() {
    let b = BatchBuilder {
        producer_id: 42,
        producer_epoch: 3,
        base_sequence: 7,
        transactional: true,
        control: true,
        partition_leader_epoch: 9,
        ..BatchBuilder::new(100, 5)
    }
    .build(&records(2, 5))
    .unwrap();
    let h = validate(&b, u32::MAX).unwrap()[0];
    assert!(h.is_transactional() && h.is_control());
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        (42, 3, 7)
    );
    assert_eq!(
        (h.base_offset, h.last_offset(), h.partition_leader_epoch),
        (100, 101, 9)
    );
}

#[test]
fn multiple_batches_and_iter_headers() {
    let mut set = Vec::new();
    for (i, codec) in CODECS.iter().enumerate() {
        set.extend_from_slice(&build_batch(i as i64 * 10, 0, &records(3, 0), *codec));
    }
    let hs = validate(&set, 1 << 20).unwrap();
    assert_eq!(hs.len(), 5);
    let it: Vec<_> = iter_headers(&set).map(|r| r.unwrap()).collect();
    assert_eq!(it.len(), 5);
    assert_eq!(it[0].0, 0);
    assert_eq!(it[1].0, hs[0].size());
    // A partial tail stops the iteration silently.
    let cut = &set[..set.len() - 3];
    assert_eq!(iter_headers(cut).count(), 4);
    assert_eq!(iter_headers(&set[..30]).count(), 0);
    // A bad length yields one error.
    let mut bad = set.clone();
    bad[8..12].copy_from_slice(&3i32.to_be_bytes());
    let v: Vec<_> = iter_headers(&bad).collect();
    assert_eq!(v.len(), 1);
    assert!(matches!(v[0], Err(StorageError::CorruptMessage(_))));
}

#[test]
fn crc_corruption_is_corrupt_message() {
    for codec in CODECS {
        let mut b = build_batch(0, 0, &records(4, 0), codec).to_vec();
        let last = b.len() - 1;
        b[last] ^= 0x40;
        assert!(
            matches!(validate(&b, 1 << 20), Err(StorageError::CorruptMessage(_))),
            "{codec:?}"
        );
        let mut b = build_batch(0, 0, &records(4, 0), codec).to_vec();
        b[ATTRIBUTES_OFFSET + 3] ^= 1; // inside last_offset_delta, covered by the CRC
        expect_corrupt(&b);
    }
}

#[test]
fn length_framing_errors_are_corrupt_message() {
    let b = build_batch(0, 0, &records(4, 0), Compression::None).to_vec();
    // Truncated batch.
    assert!(matches!(
        validate(&b[..b.len() - 1], 1 << 20),
        Err(StorageError::CorruptMessage(_))
    ));
    // Trailing partial bytes after a whole batch.
    let mut t = b.clone();
    t.extend_from_slice(&[0; 5]);
    expect_corrupt(&t);
    let mut t = b.clone();
    t.extend_from_slice(&b[..40]);
    expect_corrupt(&t);
    // Length smaller than the header.
    let mut t = b.clone();
    t[8..12].copy_from_slice(&10i32.to_be_bytes());
    expect_corrupt(&t);
    // Length larger than the data.
    let mut t = b.clone();
    t[8..12].copy_from_slice(&(b.len() as i32).to_be_bytes());
    expect_corrupt(&t);
    assert!(matches!(
        BatchHeader::parse(&b[..60]),
        Err(StorageError::CorruptMessage(_))
    ));
}

#[test]
fn magic_and_structure_errors_are_invalid_record() {
    let good = build_batch(0, 0, &records(4, 0), Compression::None).to_vec();
    let mut b = good.clone();
    b[MAGIC_OFFSET] = 1;
    expect_invalid(&b);

    // Wrong last_offset_delta (CRC fixed so the structural check is reached).
    let mut b = good.clone();
    b[23..27].copy_from_slice(&5i32.to_be_bytes());
    fix_crc(&mut b);
    expect_invalid(&b);

    // records_count disagreeing with the records present.
    let mut b = good.clone();
    b[57..61].copy_from_slice(&5i32.to_be_bytes());
    b[23..27].copy_from_slice(&4i32.to_be_bytes());
    fix_crc(&mut b);
    expect_invalid(&b);

    // Zero records.
    let mut b = good.clone();
    b[57..61].copy_from_slice(&0i32.to_be_bytes());
    b[23..27].copy_from_slice(&(-1i32).to_be_bytes());
    fix_crc(&mut b);
    expect_invalid(&b);

    // A record offset delta out of sequence: rebuild records with delta 1 first.
    let mut b = good.clone();
    // First record: [len varint][attr][ts varlong][offset delta varint]; ts delta is 0 → one byte.
    assert_eq!(b[BatchHeader::SIZE + 3], 0, "offset delta 0 encodes as 0");
    b[BatchHeader::SIZE + 3] = 2; // zig-zag 1
    fix_crc(&mut b);
    expect_invalid(&b);

    // Unknown codec.
    let mut b = good.clone();
    b[ATTRIBUTES_OFFSET + 1] |= 6;
    fix_crc(&mut b);
    expect_invalid(&b);

    assert!(matches!(
        validate(&[], 1 << 20),
        Err(StorageError::InvalidRecord(_))
    ));
}

#[test]
fn too_large_is_message_too_large() {
    let b = build_batch(0, 0, &records(10, 0), Compression::None);
    match validate(&b, 100) {
        Err(StorageError::MessageTooLarge { size, max }) => {
            assert_eq!((size, max), (b.len(), 100));
        }
        other => panic!("{other:?}"),
    }
    assert!(validate(&b, b.len() as u32).is_ok());
}

#[test]
fn patching_keeps_crc_valid() {
    for codec in CODECS {
        let mut b = build_batch(0, 1_000, &records(5, 1_000), codec).to_vec();
        set_base_offset(&mut b, 77);
        set_partition_leader_epoch(&mut b, 12);
        let h = validate(&b, 1 << 20).unwrap()[0];
        assert_eq!((h.base_offset, h.partition_leader_epoch), (77, 12));
        set_log_append_time(&mut b, 99_999);
        let h = validate(&b, 1 << 20).unwrap()[0];
        assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(h.max_timestamp, 99_999);
        assert_eq!(h.base_timestamp, 1_000);
        let (_, recs) = decode_records(&b).unwrap();
        assert!(recs.iter().all(|r| r.timestamp == 99_999));
        assert_eq!(recs[4].offset, 81);
    }
}

fn arb_record() -> impl Strategy<Value = Record> {
    (
        -5_000i64..5_000,
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        proptest::collection::vec(
            (
                "[a-z]{0,6}",
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10)),
            ),
            0..3,
        ),
    )
        .prop_map(|(ts, k, v, hs)| Record {
            offset: 0,
            timestamp: ts,
            key: k.map(Bytes::from),
            value: v.map(Bytes::from),
            headers: hs
                .into_iter()
                .map(|(k, v)| (k, v.map(Bytes::from)))
                .collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn prop_round_trip(
        recs in proptest::collection::vec(arb_record(), 1..12),
        base in 0i64..1_000_000,
        base_ts in 0i64..1_000_000_000,
        codec_id in 0u8..5,
    ) {
        let codec = Compression::from_id(codec_id).unwrap();
        let mut recs = recs;
        for (i, r) in recs.iter_mut().enumerate() {
            r.offset = base + i as i64;
            r.timestamp += base_ts;
        }
        let b = build_batch(base, base_ts, &recs, codec);
        let h = validate(&b, u32::MAX).unwrap()[0];
        prop_assert_eq!(h.records_count as usize, recs.len());
        prop_assert_eq!(h.max_timestamp, recs.iter().map(|r| r.timestamp).max().unwrap());
        let (_, decoded) = decode_records(&b).unwrap();
        prop_assert_eq!(decoded, recs);
    }

    #[test]
    fn prop_any_flipped_byte_is_rejected_or_harmless(
        n in 1i64..6, at in any::<prop::sample::Index>(), bit in 0u8..8, codec_id in 0u8..5
    ) {
        let codec = Compression::from_id(codec_id).unwrap();
        let mut b = build_batch(0, 0, &records(n, 0), codec).to_vec();
        let i = at.index(b.len());
        b[i] ^= 1 << bit;
        let r = validate(&b, u32::MAX);
        // Only bytes outside the CRC range (base offset, partition leader epoch) may change silently.
        if i < 8 || (12..16).contains(&i) {
            prop_assert!(r.is_ok());
        } else {
            prop_assert!(r.is_err());
        }
    }
}

/// Fuzz finding (target `recovery`): a stored header with a base offset near `i64::MAX` made
/// `last_offset` overflow (a panic in debug builds, a wrapped offset in release ones).
#[test]
fn offsets_of_a_header_near_i64_max_saturate() {
    let mut b = build_batch(0, 1_000, &records(3, 1_000), Compression::None).to_vec();
    b[..8].copy_from_slice(&i64::MAX.to_be_bytes());
    let h = BatchHeader::parse(&b).unwrap();
    assert_eq!(h.last_offset(), i64::MAX);
    assert_eq!(h.next_offset(), i64::MAX);
}

#[test]
fn validate_replicated_takes_whole_batches_and_leaves_a_partial_tail() {
    let a = build_batch(10, 1_000, &records(3, 1_000), Compression::None);
    let b = build_batch(13, 1_000, &records(4, 1_000), Compression::Zstd);
    let both = [&a[..], &b[..]].concat();
    let bases = |buf: &[u8]| -> Vec<i64> {
        validate_replicated(buf)
            .unwrap()
            .iter()
            .map(|h| h.base_offset)
            .collect()
    };
    assert_eq!(bases(&both), [10, 13]);
    // Cut anywhere in the second batch (even inside its length field): the first alone; in the first: nothing.
    for cut in [
        a.len() + 1,
        a.len() + 11,
        a.len() + 12,
        a.len() + 61,
        both.len() - 1,
    ] {
        assert_eq!(bases(&both[..cut]), [10], "cut at {cut}");
    }
    for cut in [0, 5, 12, 60, a.len() - 1] {
        assert!(bases(&both[..cut]).is_empty(), "cut at {cut}");
    }
    // What a client append would refuse but a leader's log holds: a cleaned batch with fewer records than offsets
    // (here 1 record for delta 2), an empty one, a control batch, a batch larger than max.message.bytes.
    let mut fewer = BatchHeader::parse(&a).unwrap();
    fewer.last_offset_delta = 2;
    fewer.records_count = 1;
    let one = build_batch(0, 1_000, &records(1, 1_000), Compression::None);
    let cleaned = assemble_batch(&fewer, &one[BatchHeader::SIZE..]).unwrap();
    let mut empty = fewer;
    empty.records_count = 0;
    let empty = assemble_batch(&empty, &[]).unwrap();
    let marker = build_txn_marker(7, 0, 3, TxnMarker::Abort, 1_000).unwrap();
    let big = build_batch(20, 1_000, &records(200, 1_000), Compression::None);
    for ok in [&cleaned[..], &empty[..], &marker[..], &big[..]] {
        assert_eq!(validate_replicated(ok).unwrap().len(), 1);
    }
    assert!(validate(&big, 100).is_err());
}

#[test]
fn validate_replicated_refuses_damaged_batches() {
    let good = build_batch(10, 1_000, &records(3, 1_000), Compression::None);
    let check = |b: &[u8], corrupt: bool| {
        let r = validate_replicated(&[&good[..], b].concat());
        if corrupt {
            assert!(matches!(r, Err(StorageError::CorruptMessage(_))), "{r:?}");
        } else {
            assert!(matches!(r, Err(StorageError::InvalidRecord(_))), "{r:?}");
        }
    };
    let mut crc = good.to_vec();
    let last = crc.len() - 1;
    crc[last] ^= 1;
    check(&crc, true);
    let mut short = good.to_vec();
    short[8..12].copy_from_slice(&10_i32.to_be_bytes());
    check(&short, true);
    let mut magic = good.to_vec();
    magic[MAGIC_OFFSET] = 1;
    check(&magic, false);
    let edit = |f: &dyn Fn(&mut BatchHeader)| {
        let mut h = BatchHeader::parse(&good).unwrap();
        f(&mut h);
        assemble_batch(&h, &good[BatchHeader::SIZE..]).unwrap()
    };
    check(&edit(&|h| h.records_count = -1), false);
    check(&edit(&|h| h.records_count = 4), false);
    check(&edit(&|h| h.last_offset_delta = -1), false);
    check(&edit(&|h| h.base_offset = -5), false);
    check(&edit(&|h| h.base_offset = i64::MAX - 1), false);
    check(&edit(&|h| h.attributes = 6), false);
}
