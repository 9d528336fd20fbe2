//! libFuzzer target: `pb_fuzzing::request_head` (its invariants are documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pb_fuzzing::request_head(data));
