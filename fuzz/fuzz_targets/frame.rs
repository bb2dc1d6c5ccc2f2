//! Frame + request header: the input is what a client sends on one connection. The network
//! layer's own functions split it into length-prefixed frames (`socket.request.max.bytes`
//! bounds) and decode each: API key, version gate, request header, body
//! (`minikafka::fuzzing::frames` → `net::split_frame`, `net::decode_request`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| minikafka::fuzzing::frames(data));
