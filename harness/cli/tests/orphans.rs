//! No process a run starts outlives it: a `proxybench run` killed with
//! SIGKILL (no chance to stop its children) still leaves no core and no
//! origin running, because each asked the kernel to be stopped with its
//! parent (`--exit-with-parent`, which the harness passes to all).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::EXE;

const LONG: &str = r#"
name = "long"
[run]
trials = 1
warmup_s = 0.1
duration_s = 60.0
[[cell]]
scenario = "http-forward"
cores = ["tokio-tower"]
method = "GET"
body_bytes = 64
connections = 2
rate = 200.0
"#;

/// The direct children of `pid`, from /proc.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Whether `pid` is still running (absent or a zombie is not).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X"))
        }
    }
}

#[test]
fn a_killed_run_leaves_no_core_or_origin_behind() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("long.toml"), LONG).unwrap();
    let mut run = Command::new(EXE)
        .args(["run", "long.toml", "--skip-conform", "--out", "out", "-q"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the origin and the core (bounded).
    let started = Instant::now();
    let kids = loop {
        let kids = children(run.id());
        if kids.len() >= 2 {
            break kids;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run started {kids:?} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    run.kill().unwrap(); // SIGKILL: the run cannot stop anything itself
    run.wait().unwrap();
    let killed = Instant::now();
    while kids.iter().any(|&k| running(k)) && killed.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = kids.into_iter().filter(|&k| running(k)).collect();
    for &pid in &left {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
    assert!(
        left.is_empty(),
        "still running 10 s after the run was killed: {left:?}"
    );
}
