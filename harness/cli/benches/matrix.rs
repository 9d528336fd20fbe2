//! `cargo bench` entry for the whole system: a short scenario matrix (TCP
//! echo, 100 B and 1 KiB, every headline core) through the real
//! `proxybench run`, its table printed. Results and reports go to a
//! temporary directory; `results/` and `reports/` are left alone.
//!
//! Short by design (2 trials of 1 s per cell and core) so `cargo bench`
//! stays a few minutes: the figures are a smoke reading, noisy on a
//! 2-core machine, and more so while anything else runs. For real
//! figures use `proxybench run` with more trials.
//!
//! Run alone with `cargo bench -p proxybench --bench matrix`. Skipped when
//! run as a test (`cargo test --benches`, no `--bench` flag) and when a
//! bench name filter is given that does not match `matrix`.

use std::process::Command;

const EXE: &str = env!("CARGO_BIN_EXE_proxybench");

const MATRIX: &str = r#"
name = "bench-matrix"
description = "cargo bench: TCP echo ping-pong at 100 B and 1 KiB, 20 connections, every headline core"
[run]
trials = 2
warmup_s = 0.3
duration_s = 1.0
core_threads = 1
driver_threads = 1

[[cell]]
scenario = "echo"
cores = ["tokio-tower", "monoio", "glommio"]
message_bytes = [100, 1024]
connections = 20
in_flight = 1
"#;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("matrix: skipped (not run as a bench)");
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "matrix".contains(f.as_str())) {
        return;
    }

    let scratch = tempfile::Builder::new()
        .prefix("proxybench-bench-matrix-")
        .tempdir()
        .expect("a temporary directory");
    let dir = scratch.path();
    let scenario = dir.join("matrix.toml");
    std::fs::write(&scenario, MATRIX).expect("the scenario file is written");
    println!("matrix: {EXE} run (2 trials x 1 s per cell and core; noisy on small machines)");
    let mut run = Command::new(EXE);
    run.arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(dir.join("results"))
        .arg("--reports")
        .arg(dir.join("reports"))
        // The conformance suite is a test, not a figure.
        .arg("--skip-conform");
    let out = run.output().expect("proxybench runs");
    // The table; not the paths of files about to be deleted.
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if !(line.starts_with("results:") || line.starts_with("report:")) {
            println!("{line}");
        }
    }
    drop(scratch);
    if !out.status.success() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        panic!("proxybench run failed: {}", out.status);
    }
}
