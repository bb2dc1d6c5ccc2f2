//! Entry points for the coverage-guided fuzz targets in `fuzz/` (cargo-fuzz); compiled only
//! with the `fuzzing` feature, hidden from the docs, and not for any other use.
//!
//! Why this exists: the code that parses bytes from outside the broker is crate-private (the
//! network layer's framing and request decoding, the coordinators' record codecs, the
//! log-start-offset checkpoint). Each function here runs that code exactly as the broker does,
//! on arbitrary bytes, and returns nothing: a fuzz target only looks for panics, allocations
//! beyond libFuzzer's `-malloc_limit_mb` and hangs. Errors are the expected outcome of most
//! inputs and are dropped.
//!
//! ```ignore
//! libfuzzer_sys::fuzz_target!(|data: &[u8]| minikafka::fuzzing::frames(data));
//! ```

use std::path::Path;

use bytes::BytesMut;

use crate::group::records as group;
use crate::net;
use crate::txn::records as txn;

/// `socket.request.max.bytes`' default, the frame size limit the network layer applies.
const MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

/// `data` as the bytes a client sends on one connection: frames are split off and each is
/// decoded (header, version gate, body) by the network layer's own functions, until the bytes
/// run out or a frame closes the connection. The number of frames is bounded by the input
/// (each takes at least 12 bytes).
pub fn frames(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = net::split_frame(&mut buf, MAX_REQUEST_BYTES) {
        if net::decode_request(frame).is_err() {
            return;
        }
    }
}

/// The coordinators' record codecs: `data[0]` chooses the schema (the keys and every value of
/// `__consumer_offsets` and `__transaction_state`), the rest is the record's key or value
/// bytes. A decoded record is encoded again, as the coordinators rewrite what they replay.
pub fn coordinator_records(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 11 {
        0 => round_trip(bytes, group::decode_key, group::encode_key),
        1 => round_trip(
            bytes,
            group::decode_offset_commit_value,
            group::encode_offset_commit_value,
        ),
        2 => round_trip(
            bytes,
            group::decode_group_metadata_value,
            group::encode_group_metadata_value,
        ),
        3 => round_trip(
            bytes,
            group::decode_consumer_group_metadata_value,
            group::encode_consumer_group_metadata_value,
        ),
        4 => {
            let _ = group::decode_consumer_group_partition_metadata_value(bytes);
        }
        5 => round_trip(
            bytes,
            group::decode_consumer_group_member_metadata_value,
            group::encode_consumer_group_member_metadata_value,
        ),
        6 => round_trip(
            bytes,
            group::decode_consumer_group_target_assignment_metadata_value,
            group::encode_consumer_group_target_assignment_metadata_value,
        ),
        7 => round_trip(
            bytes,
            group::decode_consumer_group_target_assignment_member_value,
            group::encode_consumer_group_target_assignment_member_value,
        ),
        8 => round_trip(
            bytes,
            group::decode_consumer_group_current_member_assignment_value,
            group::encode_consumer_group_current_member_assignment_value,
        ),
        9 => round_trip(bytes, txn::decode_key, |id: &String| txn::encode_key(id)),
        _ => round_trip(bytes, txn::decode_value, |v| {
            txn::encode_value(v, txn::VALUE_VERSION_MAX)
        }),
    }
}

/// Decode `bytes`, and encode what decoded (the encoder's result does not matter: only that it
/// neither panics nor allocates without bound).
fn round_trip<T, E, R>(
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, E>,
    encode: impl Fn(&T) -> R,
) {
    if let Ok(value) = decode(bytes) {
        let _ = encode(&value);
    }
}

/// Read the data directory's `log-start-offset-checkpoint` at `path` as the replica layer does
/// at start; returns how many entries it holds (`None`: refused).
pub fn log_start_checkpoint(path: &Path) -> Option<usize> {
    crate::replica::read_start_checkpoint(path)
        .ok()
        .map(|e| e.len())
}
