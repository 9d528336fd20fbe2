//! Every committed seed (`fuzz/corpus/<target>/`) and every input a fuzzer
//! once failed on (`fuzz/regressions/<target>/`) through its target's
//! invariants, on every `cargo test`: a fixed finding stays fixed without
//! a fuzzer installed.

use std::fs;
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut inputs = 0;
    for folder in ["corpus", "regressions"] {
        let dir = root.join(folder).join(target);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{} fails", path.display());
            inputs += 1;
        }
    }
    assert!(inputs >= 5, "{target}: only {inputs} committed inputs");
}

#[test]
fn request_head_inputs_hold() {
    replay("request_head", pb_fuzzing::request_head);
}

#[test]
fn response_head_inputs_hold() {
    replay("response_head", pb_fuzzing::response_head);
}

#[test]
fn chunked_inputs_hold() {
    replay("chunked", pb_fuzzing::chunked);
}

#[test]
fn exchange_inputs_hold() {
    replay("exchange", pb_fuzzing::exchange);
}
