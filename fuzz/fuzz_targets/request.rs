//! Every request body of the vendored codec: the first two bytes choose the API key (any key the
//! codec knows, served by minikafka or not), the third the version within the codec's range; the
//! rest is decoded as `net.rs` does, the request header at the version's header version, then
//! `RequestKind::decode`. The version gate of `dispatch.rs` is skipped on purpose, so that
//! every key and version reaches the codec.
#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&[k0, k1, v], rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let count = ApiKey::iter().count();
    let Some(key) = ApiKey::iter().nth(usize::from(u16::from_be_bytes([k0, k1])) % count) else {
        return;
    };
    let range = key.valid_versions();
    let span = i32::from(range.max) - i32::from(range.min) + 1;
    let Ok(version) = i16::try_from(i32::from(range.min) + i32::from(v) % span) else {
        return;
    };
    let mut body = Bytes::copy_from_slice(rest);
    if RequestHeader::decode(&mut body, key.request_header_version(version)).is_ok() {
        let _ = RequestKind::decode(key, &mut body, version);
    }
});
