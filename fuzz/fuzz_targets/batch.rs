//! Record batches as a producer sends them and as storage reads them back: validation
//! (`batch::validate`, Kafka's `LogValidator` checks), header iteration (`iter_headers`), record
//! decoding and decompression (`decode_records`) and control-batch parsing on arbitrary bytes.
//! Validation runs twice: on the input, and with every batch's CRC-32C recomputed. Every batch
//! that then validates is rebuilt as a topic's `compression.type` would (`batch::recompress`),
//! with a codec and level the input picks, and the result must validate again.
//! A compression bomb here is a finding: `ci/fuzz` runs with `-malloc_limit_mb`.
#![no_main]

use minikafka_storage::batch;
use minikafka_storage::LogConfig;

/// Batches looked at per input; an input holds few whole batches anyway (61 bytes each at least).
const MAX_BATCHES: usize = 64;

/// Decompressed bytes a batch may expand to when rebuilt here: small enough that a slow codec
/// level stays well within `ci/fuzz`'s per-input timeout.
const RECOMPRESS_LIMIT: usize = 1 << 20;

/// Where a batch's CRC lies, and where the bytes it covers start (attributes to the end).
const CRC_FIELD: std::ops::Range<usize> = 17..21;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = batch::validate(data, LogConfig::DEFAULT_MAX_MESSAGE_BYTES);
    // The same bytes with every batch's CRC made right, so that validation goes past the CRC
    // check (the fuzzer cannot find CRC-32C values by itself).
    let mut fixed = data.to_vec();
    for (pos, header) in batch::iter_headers(data).take(MAX_BATCHES).flatten() {
        if let Some(covered) = data.get(pos + CRC_FIELD.end..pos + header.size()) {
            let crc = crc32c::crc32c(covered).to_be_bytes();
            fixed[pos + CRC_FIELD.start..pos + CRC_FIELD.end].copy_from_slice(&crc);
        }
    }
    if let Ok(headers) = batch::validate(&fixed, LogConfig::DEFAULT_MAX_MESSAGE_BYTES) {
        let pick = data.first().copied().unwrap_or(0);
        let codec = batch::Compression::ALL[usize::from(pick) % batch::Compression::ALL.len()];
        // The codec's default, or a level from the zstd/gzip ranges (lz4 and snappy ignore it).
        let level = match pick / 5 % 4 {
            0 => codec.default_level(),
            1 => 1,
            2 => 9,
            _ => -3,
        };
        let mut pos = 0;
        for h in headers.iter().take(MAX_BATCHES) {
            let whole = &fixed[pos..pos + h.size()];
            pos += h.size();
            if let Ok(rebuilt) = batch::recompress(whole, h, codec, level, RECOMPRESS_LIMIT) {
                // What the append stores must read back as a valid batch.
                let max = u32::try_from(rebuilt.len())
                    .unwrap_or(u32::MAX)
                    .max(LogConfig::DEFAULT_MAX_MESSAGE_BYTES);
                if let Err(e) = batch::validate(&rebuilt, max) {
                    panic!("a rebuilt batch does not validate: {e}");
                }
            }
        }
    }
    for item in batch::iter_headers(data).take(MAX_BATCHES) {
        let Ok((pos, header)) = item else {
            break;
        };
        let Some(whole) = data.get(pos..pos + header.size()) else {
            break;
        };
        let _ = batch::decode_records(whole);
        let _ = batch::parse_control_batch(whole);
    }
});
