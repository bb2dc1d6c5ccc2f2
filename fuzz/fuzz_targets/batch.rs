//! Record batches as a producer sends them and as storage reads them back: validation
//! (`batch::validate`, Kafka's `LogValidator` checks), header iteration (`iter_headers`), record
//! decoding and decompression (`decode_records`) and control-batch parsing on arbitrary bytes.
//! Validation runs twice: on the input, and with every batch's CRC-32C recomputed.
//! A compression bomb here is a finding: `ci/fuzz` runs with `-malloc_limit_mb`.
#![no_main]

use minikafka_storage::batch;
use minikafka_storage::LogConfig;

/// Batches looked at per input; an input holds few whole batches anyway (61 bytes each at least).
const MAX_BATCHES: usize = 64;

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
    let _ = batch::validate(&fixed, LogConfig::DEFAULT_MAX_MESSAGE_BYTES);
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
