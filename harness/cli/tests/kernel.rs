//! The kernel counters and the allocation counter see exactly what a core
//! does: a core started with one extra system call per request (`proxy
//! --extra-syscalls 1`, a test-only knob) is measured at 1.0 ± 0.1 more
//! system calls per request than the same core without it, and one extra
//! allocation (`--extra-allocations 1`) at 1.0 ± 0.1 more allocations;
//! where perf cannot count, or the core cannot count allocations, the
//! trial says why instead of reporting zeros.

use std::time::Duration;

use std::sync::Mutex;

use pb_process::CoreProcess;
use pb_results::KernelWork;

/// The tests here take turns: the waits a ping-pong core makes per request
/// depend on how busy the machine is, and the other test loads it.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// One closed-loop echo trial (one connection, ping-pong: every request
/// is one read and one write for the core) against a fresh tokio-tower
/// started with `syscalls` extra system calls and `allocations` extra
/// allocations per request.
fn trial(syscalls: u32, allocations: u32) -> KernelWork {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_proxybench"));
    let args: Vec<String> = [
        "proxy",
        "--core",
        "tokio-tower",
        "--listen",
        "127.0.0.1:0",
        "--extra-syscalls",
        &syscalls.to_string(),
        "--extra-allocations",
        &allocations.to_string(),
        "--count-allocations",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let core = CoreProcess::spawn(exe, "tokio-tower", &args).unwrap();
    let spec = pb_driver::LoadSpec::closed_echo(
        core.addr(),
        100,
        1,
        1,
        Duration::from_millis(200),
        Duration::from_millis(600),
    );
    let trial = pb_runner::measure::measure(&spec, Some(core.sampler()), 0, 0).unwrap();
    assert_eq!(trial.errors, 0);
    assert!(trial.requests > 1000, "{} requests", trial.requests);
    trial
        .kernel
        .expect("a started core's trial counts the kernel's work")
}

#[test]
fn one_extra_syscall_per_request_is_seen_as_one() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let base = trial(0, 0);
    let Some(without) = base.perf("syscalls") else {
        // No perf here (not root, no tracefs): the trial says why, and
        // the /proc counters are still there.
        let reason = base.perf_unavailable.expect("a reason, not zeros");
        assert!(!reason.is_empty());
        assert!(base.perf_per_req.is_empty());
        return;
    };
    let with = trial(1, 0).perf("syscalls").unwrap();
    let added = with - without;
    assert!(
        (added - 1.0).abs() <= 0.1,
        "one extra syscall per request measured as {added:+.3} ({without:.3} -> {with:.3})"
    );
    // The reads and writes are counted too: about one of each per
    // ping-pong request (a request still in flight at the window's end
    // was read and not yet answered).
    assert!(base.perf("reads").unwrap() >= 0.95, "{base:?}");
    assert!(base.perf("writes").unwrap() >= 0.95, "{base:?}");
    // perf's context switches and /proc's agree within a few percent.
    let proc = base.voluntary_switches_per_req + base.involuntary_switches_per_req;
    let perf = base.perf("context_switches").unwrap();
    assert!(
        (perf - proc).abs() <= 0.1 * proc.max(0.1),
        "perf {perf} vs /proc {proc}"
    );
    // The CPU split adds up to something, and switches are per request.
    let (user, sys) = (
        base.user_cpu_us_per_req.unwrap(),
        base.sys_cpu_us_per_req.unwrap(),
    );
    assert!(user + sys > 0.0);
}

#[test]
fn one_extra_allocation_per_request_is_seen_as_one() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let base = trial(0, 0);
    let without = base
        .allocations_per_req
        .unwrap_or_else(|| panic!("{:?}", base.allocations_unavailable));
    let with = trial(0, 1);
    let added = with.allocations_per_req.unwrap() - without;
    assert!(
        (added - 1.0).abs() <= 0.1,
        "one extra allocation per request measured as {added:+.3} ({without:.3} -> {:?})",
        with.allocations_per_req
    );
    // A Box<u64> asks for 8 bytes.
    let bytes = with.alloc_bytes_per_req.unwrap() - base.alloc_bytes_per_req.unwrap();
    assert!((bytes - 8.0).abs() <= 0.8, "{bytes} bytes per request");
    assert!(with.allocations_unavailable.is_none());
}

#[test]
fn without_perf_a_run_says_why_and_keeps_the_proc_counters() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("one.toml"),
        "name = \"one\"\n[run]\ntrials = 1\nwarmup_s = 0.0\nduration_s = 0.2\n\
         [[cell]]\nscenario = \"echo\"\ncores = [\"tokio-tower\"]\nmessage_bytes = 100\nconnections = 2\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_proxybench"))
        .args([
            "run",
            "one.toml",
            "--skip-conform",
            "--out",
            "res",
            "--reports",
            "rep",
        ])
        .env(pb_process::kernel::FAKE_NO_PERF, "rehearsal")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("sysc/req n/a: perf disabled by PROXYBENCH_FAKE_NO_PERF: rehearsal"),
        "{stdout}"
    );
    let results: pb_results::Results =
        pb_results::io::read_results(&dir.path().join("res/latest.json")).unwrap();
    let kernel = results.cells[0].trials[0].kernel.as_ref().unwrap();
    assert!(kernel.perf_per_req.is_empty(), "{kernel:?}");
    assert!(
        kernel
            .perf_unavailable
            .as_deref()
            .unwrap()
            .contains("rehearsal")
    );
    // /proc needs no perf: the context switches are still counted, and
    // the allocations (read from the core's memory) too.
    assert!(kernel.voluntary_switches_per_req + kernel.involuntary_switches_per_req > 0.0);
    assert!(kernel.allocations_per_req.is_some(), "{kernel:?}");
}
