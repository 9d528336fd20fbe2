//! libFuzzer target: `pb_fuzzing::exchange` (its invariants are documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pb_fuzzing::exchange(data));
