//! Micro-benchmarks of the question proxybench exists to answer — what
//! does a service abstraction cost per call? — and the deterministic
//! instruction counts the CI gate compares.
//!
//! | module | role |
//! |---|---|
//! | [`layers`] | one trivial layer written as a tower layer, a `service-async` layer and a plain async fn; stacks of 1, 4 and 16 |
//! | [`drive`] | runs N calls through a stack variant in a tokio runtime, as the tokio core calls its stacks |
//! | [`http_input`] | a browser-like request head and chunked bodies for the codec benches |
//! | [`calibrate`] | stitching alternately measured single-trial runs into one results file per build; the spin loop's ns/iteration |
//! | [`icount`] | instruction counts under valgrind: micro stacks and echo through real cores -> an `IcountReport` |
//!
//! Targets: `benches/stacks.rs` (criterion: per-call time and allocations
//! per call of each variant, counted by `pb-alloc`'s allocator), `benches/http_codec.rs` (criterion: head
//! parse and chunked body decoding), `src/bin/pb-icount.rs` (the count
//! runner `ci/icount-gate.sh` and `scripts/icount.sh` use),
//! `src/bin/pb-calibrate.rs` (steps of `scripts/gate-calibration.sh`).

pub mod calibrate;
pub mod drive;
pub mod http_input;
pub mod icount;
pub mod layers;
