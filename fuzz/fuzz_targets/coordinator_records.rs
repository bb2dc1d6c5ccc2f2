//! The coordinators' record codecs (`server/src/record_codec.rs` and the schemas of
//! `group/records/` and `txn/records.rs`): the first byte chooses the key or value schema of
//! `__consumer_offsets` / `__transaction_state`, the rest is decoded (and re-encoded when it
//! decodes), as the coordinators do when they replay those topics at start.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| minikafka::fuzzing::coordinator_records(data));
