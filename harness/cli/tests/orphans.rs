//! No process a run starts outlives it: a `proxybench run` killed with
//! SIGKILL (no chance to stop its children) still leaves no core and no
//! origin running, because each asked the kernel to be stopped with its
//! parent (`--exit-with-parent`, which the harness passes to all) — a
//! core the run had frozen (SIGSTOP, while another core of its cell was
//! measured) included, which cannot act on that signal until the kernel
//! resumes it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::EXE;

/// A run that lasts a minute, with these cores in its one cell.
fn long(cores: &str) -> String {
    format!(
        r#"
name = "long"
[run]
trials = 1
warmup_s = 0.1
duration_s = 60.0
[[cell]]
scenario = "http-forward"
cores = [{cores}]
method = "GET"
body_bytes = 64
connections = 2
rate = 200.0
"#
    )
}

/// The direct children of `pid`, from /proc.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// `pid`'s state letter in /proc (R, S, T for stopped, Z, ...).
fn state(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit(')').next()?;
    rest.split_whitespace().next().map(str::to_owned)
}

/// Whether `pid` is still running or stopped (absent or a zombie is not).
fn running(pid: u32) -> bool {
    state(pid).is_some_and(|s| s != "Z" && s != "X")
}

#[test]
fn a_killed_run_leaves_no_core_or_origin_behind() {
    killed_mid_trial(r#""tokio-tower""#, 2, false);
}

#[test]
fn a_killed_run_leaves_no_frozen_core_behind() {
    // The second core waits its turn frozen while the first is measured.
    killed_mid_trial(r#""tokio-tower", "monoio-epoll""#, 3, true);
}

/// Kills a run (SIGKILL) once it has started `processes` children — and,
/// if `frozen`, once one of them is stopped — and checks that none is
/// left 10 s later.
fn killed_mid_trial(cores: &str, processes: usize, frozen: bool) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("long.toml"), long(cores)).unwrap();
    let mut run = Command::new(EXE)
        .args(["run", "long.toml", "--skip-conform", "--out", "out", "-q"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the origin and the cores, one frozen if asked (bounded).
    let started = Instant::now();
    let kids = loop {
        let kids = children(run.id());
        let stopped = kids.iter().any(|&k| state(k).as_deref() == Some("T"));
        if kids.len() >= processes && (stopped || !frozen) {
            break kids;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run started {kids:?} within 30 s, frozen: {stopped}"
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
