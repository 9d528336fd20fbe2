//! A core as a child process: spawned pinned, awaited until its readiness
//! line, sampled in /proc, stopped with SIGTERM (SIGKILL only if it hangs).
//! A `CoreProcess` that is dropped kills its child: no run leaves a core
//! behind. [`CoreProcess::freeze`] holds a core stopped while another is
//! measured. [`kernel`] counts the kernel's work for its process tree.

pub mod kernel;

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pb_core::ReadyLine;
use pb_sys::CpuSet;

/// Where cores and origins listen unless a cell's network path puts them
/// on a link's address.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// How long a core may take to print its readiness line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How much of a core's stderr is kept for error messages.
const STDERR_TAIL: usize = 4096;

/// Why a core did not become ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The core says it cannot run on this machine.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// It crashed, hung or could not be spawned.
    #[error("failed to start: {0}")]
    Failed(String),
}

/// What to start.
#[derive(Debug, Clone)]
pub struct CoreCommand<'a> {
    /// The `proxybench` executable.
    pub exe: &'a Path,
    /// Registry name.
    pub core: &'a str,
    /// Scenario name.
    pub scenario: &'a str,
    /// Serving threads.
    pub threads: usize,
    /// CPUs to pin to.
    pub cpus: &'a CpuSet,
    /// Extra work per request (gate calibration); 0 for none.
    pub spin_iters: u64,
    /// Forwarding configuration file (`http-forward`).
    pub config: Option<&'a Path>,
    /// Where a reference proxy writes the configuration it renders for
    /// its program.
    pub program_config_out: Option<&'a Path>,
    /// More arguments for `proxy` (`--external FILE`: cores users brought).
    pub extra_args: &'a [String],
    /// The address it listens on (the port is the kernel's choice):
    /// [`LOOPBACK`], or its address on a network path.
    pub listen: IpAddr,
}

/// `origin --id ID --cpus CPUS --listen LISTEN:0`.
fn origin_args(id: &str, cpus: &CpuSet, listen: IpAddr) -> Vec<String> {
    vec![
        "origin".into(),
        "--id".into(),
        id.into(),
        "--cpus".into(),
        cpus.to_string(),
        "--listen".into(),
        SocketAddr::new(listen, 0).to_string(),
        "--exit-with-parent".into(),
    ]
}

/// A running core.
#[derive(Debug)]
pub struct CoreProcess {
    child: Option<Child>,
    ready: ReadyLine,
    stderr: Arc<Mutex<String>>,
}

impl CoreProcess {
    /// Spawns `proxybench proxy ...` and waits for its readiness line.
    pub fn start(cmd: &CoreCommand<'_>) -> Result<CoreProcess, StartError> {
        let mut args: Vec<String> = ["proxy", "--core", cmd.core, "--scenario", cmd.scenario]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend([
            "--listen".into(),
            SocketAddr::new(cmd.listen, 0).to_string(),
        ]);
        args.extend(["--threads".into(), cmd.threads.to_string()]);
        args.extend(["--cpus".into(), cmd.cpus.to_string()]);
        args.extend(["--spin-iters".into(), cmd.spin_iters.to_string()]);
        // Every measured core counts its allocations (a few ns each; the
        // reference programs ignore it).
        args.push("--count-allocations".into());
        // No core outlives a harness that is killed (SIGKILL, a crash).
        args.push("--exit-with-parent".into());
        if let Some(config) = cmd.config {
            args.extend(["--config".into(), config.display().to_string()]);
        }
        if let Some(out) = cmd.program_config_out {
            args.extend(["--program-config-out".into(), out.display().to_string()]);
        }
        args.extend(cmd.extra_args.iter().cloned());
        CoreProcess::spawn_as(cmd.exe, cmd.core, &args, Group::Own)
    }

    /// Spawns `proxybench origin` (one worker thread) on `cpus`,
    /// listening on `listen`.
    pub fn start_origin(
        exe: &Path,
        id: &str,
        cpus: &CpuSet,
        listen: IpAddr,
    ) -> Result<CoreProcess, StartError> {
        CoreProcess::spawn(exe, id, &origin_args(id, cpus, listen))
    }

    /// Starts an echo origin (`proxybench origin --echo`, tcp-forward's
    /// upstream) pinned to `cpus`.
    pub fn start_echo_origin(
        exe: &Path,
        id: &str,
        cpus: &CpuSet,
        listen: IpAddr,
    ) -> Result<CoreProcess, StartError> {
        let mut args = origin_args(id, cpus, listen);
        args.push("--echo".into());
        CoreProcess::spawn(exe, id, &args)
    }

    /// Spawns `exe args...` and waits for its readiness line (any
    /// `proxybench` subcommand that prints one: `proxy`, `origin`).
    pub fn spawn(exe: &Path, name: &str, args: &[String]) -> Result<CoreProcess, StartError> {
        CoreProcess::spawn_as(exe, name, args, Group::Harness)
    }

    fn spawn_as(
        exe: &Path,
        name: &str,
        args: &[String],
        group: Group,
    ) -> Result<CoreProcess, StartError> {
        let mut command = Command::new(exe);
        if group == Group::Own {
            command.process_group(0);
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| StartError::Failed(format!("cannot spawn {}: {e}", exe.display())))?;

        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            let tail = Arc::clone(&stderr);
            std::thread::spawn(move || keep_tail(pipe, &tail));
        }
        let (tx, rx) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut sent = false;
                // Keep draining after the ready line so the core never
                // blocks on a full stdout pipe.
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if !sent && let Ok(ready) = line.parse::<ReadyLine>() {
                        let _ = tx.send(ready);
                        sent = true;
                    }
                }
            });
        }
        let mut process = CoreProcess {
            child: Some(child),
            ready: ReadyLine {
                core: name.to_owned(),
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                threads: 0,
                pid: 0,
                alloc_table: None,
                admin: None,
            },
            stderr,
        };
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(ready) => {
                process.ready = ready;
                Ok(process)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(StartError::Failed(format!(
                "no readiness line within {READY_TIMEOUT:?}{}",
                process.stderr_suffix()
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = process.wait_exit(Duration::from_secs(5));
                // Give the stderr reader a moment to collect the last words.
                std::thread::sleep(Duration::from_millis(50));
                let text = process.stderr_text();
                match text.find("core unavailable: ") {
                    Some(at) if status.and_then(|s| s.code()) == Some(2) => {
                        Err(StartError::Unavailable(
                            text[at + "core unavailable: ".len()..].trim().to_owned(),
                        ))
                    }
                    _ => Err(StartError::Failed(format!(
                        "exited before ready ({}){}",
                        describe(status),
                        process.stderr_suffix()
                    ))),
                }
            }
        }
    }

    /// Where the core listens.
    pub fn addr(&self) -> SocketAddr {
        self.ready.addr
    }

    /// Where the core takes new configurations, when it was started with
    /// `--admin` (its readiness line says).
    pub fn admin(&self) -> Option<SocketAddr> {
        self.ready.admin
    }

    /// The core's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Samples the core's CPU time and peak RSS.
    pub fn sampler(&self) -> ProcSampler {
        ProcSampler {
            pid: self.pid(),
            alloc_table: self.ready.alloc_table,
        }
    }

    /// Stops the process and everything it started (SIGSTOP) until the
    /// returned guard drops (SIGCONT). The runner freezes a cell's other
    /// cores while it measures one: an idle core is not idle to its
    /// neighbour on the same CPU when it polls for work — a
    /// `glommio-spin` core that has nothing to do spins its CPU at 100 %
    /// — and its timers wake on that CPU all the same.
    pub fn freeze(&self) -> Frozen {
        let Some(child) = &self.child else {
            return Frozen(Vec::new());
        };
        let root = child.id();
        let mut stopped: Vec<u32> = Vec::new();
        // The root first, then what it started, listed again until the
        // list holds nothing new: a process forked while the list was
        // read is stopped in the next round.
        let mut listed = vec![root];
        for _ in 0..FREEZE_ROUNDS {
            let new: Vec<u32> = listed
                .into_iter()
                .filter(|pid| !stopped.contains(pid))
                .collect();
            if new.is_empty() {
                break;
            }
            stopped.extend(
                new.into_iter()
                    .filter(|&pid| kill(Pid::from_raw(pid as i32), Signal::SIGSTOP).is_ok()),
            );
            listed = descendants(root);
        }
        Frozen(
            stopped
                .into_iter()
                .map(|pid| Pid::from_raw(pid as i32))
                .collect(),
        )
    }

    /// `Some(description)` if the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "{}{}",
                describe(Some(status)),
                self.stderr_suffix()
            )),
            _ => None,
        }
    }

    /// Stops the core with SIGTERM, escalating to SIGKILL after `grace`;
    /// returns how it ended.
    pub fn stop(mut self, grace: Duration) -> String {
        let pid = Pid::from_raw(self.pid() as i32);
        if let Some(Ok(None)) = self.child.as_mut().map(Child::try_wait) {
            let _ = kill(pid, Signal::SIGTERM);
            match self.wait_exit(grace) {
                Some(status) => format!("{} after SIGTERM", describe(Some(status))),
                None => {
                    kill_tree(self.pid());
                    let status = self.wait_exit(Duration::from_secs(5));
                    format!(
                        "did not stop within {grace:?} of SIGTERM; killed ({})",
                        describe(status)
                    )
                }
            }
        } else {
            let status = self.wait_exit(Duration::ZERO);
            format!(
                "had already exited ({}){}",
                describe(status),
                self.stderr_suffix()
            )
        }
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + limit;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => return None,
            }
        }
    }

    /// The last few KiB the process wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        self.stderr_text()
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn stderr_suffix(&self) -> String {
        let text = self.stderr_text();
        let text = text.trim();
        if text.is_empty() {
            String::new()
        } else {
            format!("; stderr: {text}")
        }
    }
}

/// Reads a process's resource use from /proc; works for any process on
/// this host, so `proxybench load --core-pid` can account a core it did
/// not start.
#[derive(Debug, Clone, Copy)]
pub struct ProcSampler {
    /// The process.
    pub pid: u32,
    /// Where its allocation counters are, when it announced them.
    pub alloc_table: Option<usize>,
}

impl ProcSampler {
    /// A process that announced no allocation counters.
    pub fn new(pid: u32) -> ProcSampler {
        ProcSampler {
            pid,
            alloc_table: None,
        }
    }

    /// The process's allocation totals so far, copied out of its memory
    /// (`process_vm_readv`: the same permission as ptrace, which a parent
    /// has over its child). `Err` says why they cannot be read: the core
    /// does not count, or the kernel refused.
    pub fn allocations(&self) -> Result<pb_alloc::Counters, String> {
        use nix::sys::uio::{RemoteIoVec, process_vm_readv};
        let Some(base) = self.alloc_table else {
            return Err("the core does not count allocations (only cores serving \
                        inside the proxybench binary do; a reference program's \
                        allocations are its own)"
                .into());
        };
        let mut table = vec![0u8; pb_alloc::TABLE_BYTES];
        let read = process_vm_readv(
            Pid::from_raw(self.pid as i32),
            &mut [std::io::IoSliceMut::new(&mut table)],
            &[RemoteIoVec {
                base,
                len: pb_alloc::TABLE_BYTES,
            }],
        )
        .map_err(|e| format!("cannot read the core's allocation counters: {e}"))?;
        if read != table.len() {
            return Err(format!(
                "read {read} of the {} bytes of the core's allocation counters",
                table.len()
            ));
        }
        pb_alloc::Counters::decode(&table)
            .ok_or_else(|| "the allocation counters do not decode".to_owned())
    }

    /// User + system CPU time the process (all its threads, live and
    /// exited) has used so far, in nanoseconds.
    ///
    /// Read from the process's CPU-time clock (`clock_getcpuclockid`),
    /// which is the scheduler's exact run time, not the utime/stime of
    /// /proc/PID/stat: those are sampled in clock ticks (10 ms at
    /// USER_HZ 100), which over a 0.5 s trial is a quantisation of
    /// several percent, enough to hide a 10 % regression from the gate.
    ///
    /// The whole process tree counts: a reference proxy's launcher waits
    /// while its master and worker processes serve, and a child that is
    /// running at both samples is accounted exactly (one that starts and
    /// exits between them is not; no core here does that while serving).
    pub fn cpu_time(&self) -> std::io::Result<Duration> {
        let mut total = process_cpu_time(self.pid)?;
        for child in descendants(self.pid) {
            // A child that exited since it was listed used nothing more.
            total += process_cpu_time(child).unwrap_or_default();
        }
        Ok(total)
    }

    /// Whether the process is still running (not gone, not a zombie).
    pub fn alive(&self) -> bool {
        procfs::process::Process::new(self.pid as i32)
            .and_then(|p| p.stat())
            .is_ok_and(|stat| !matches!(stat.state, 'Z' | 'X'))
    }

    /// Peak resident set size so far (VmHWM), bytes, over the process
    /// tree as [`cpu_time`](Self::cpu_time) counts it: the sum of each
    /// process's own peak (an upper bound of the tree's peak; a reference
    /// proxy's memory is in its workers, not its launcher).
    pub fn rss_max(&self) -> std::io::Result<u64> {
        let mut total = process_rss_max(self.pid)?;
        for child in descendants(self.pid) {
            total += process_rss_max(child).unwrap_or(0);
        }
        Ok(total)
    }

    /// The process tree's resources now, as [`rss_max`](Self::rss_max)
    /// counts the tree: resident memory (VmRSS, not the peak: a soak
    /// watches it move both ways), open descriptors and, of them, sockets.
    pub fn resources(&self) -> std::io::Result<pb_results::Resources> {
        let mut total = process_resources(self.pid)?;
        for child in descendants(self.pid) {
            // A child that exited since it was listed holds nothing.
            if let Ok(r) = process_resources(child) {
                total.rss_bytes += r.rss_bytes;
                total.fds += r.fds;
                total.sockets += r.sockets;
            }
        }
        Ok(total)
    }
}

fn process_resources(pid: u32) -> std::io::Result<pb_results::Resources> {
    use procfs::process::FDTarget;
    let process = procfs::process::Process::new(pid as i32).map_err(std::io::Error::other)?;
    let status = process.status().map_err(std::io::Error::other)?;
    let (mut fds, mut sockets) = (0, 0);
    for fd in process.fd().map_err(std::io::Error::other)? {
        // A descriptor closed while the table is listed is not counted.
        let Ok(fd) = fd else { continue };
        fds += 1;
        sockets += u64::from(matches!(fd.target, FDTarget::Socket(_)));
    }
    Ok(pb_results::Resources {
        rss_bytes: status.vmrss.unwrap_or(0) * 1024,
        fds,
        sockets,
    })
}

/// CPU time of every thread of `pid` and its descendants so far, by
/// thread id, with the thread's name: from `/proc/PID/task/TID/schedstat`
/// (nanoseconds on a CPU, not ticks) and `comm`. Where the work of a
/// process goes between its threads: `SO_REUSEPORT`'s balance on a
/// thread-per-core core, the workers' share on tokio. A thread gone since
/// the listing is left out.
pub fn thread_cpu(pid: u32) -> std::collections::BTreeMap<u32, (String, Duration)> {
    let mut threads = std::collections::BTreeMap::new();
    for process in std::iter::once(pid).chain(descendants(pid)) {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{process}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let Some(tid) = task
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<u32>().ok())
            else {
                continue;
            };
            let on_cpu = std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
            let name = std::fs::read_to_string(task.path().join("comm"))
                .map(|n| n.trim().to_owned())
                .unwrap_or_default();
            if let Some(ns) = on_cpu {
                threads.insert(tid, (name, Duration::from_nanos(ns)));
            }
        }
    }
    threads
}

/// One process's peak resident set size (VmHWM), bytes.
fn process_rss_max(pid: u32) -> std::io::Result<u64> {
    let status = procfs::process::Process::new(pid as i32)
        .and_then(|p| p.status())
        .map_err(std::io::Error::other)?;
    Ok(status.vmhwm.unwrap_or(0) * 1024)
}

/// One process's CPU time from its CPU-time clock.
fn process_cpu_time(pid: u32) -> std::io::Result<Duration> {
    use nix::time::{clock_getcpuclockid, clock_gettime};
    let clock = clock_getcpuclockid(nix::unistd::Pid::from_raw(pid as i32))?;
    Ok(Duration::from(clock_gettime(clock)?))
}

/// Every thread of `pid` and of its descendants.
fn tree_threads(pid: u32) -> Vec<u32> {
    std::iter::once(pid)
        .chain(descendants(pid))
        .flat_map(|process| {
            std::fs::read_dir(format!("/proc/{process}/task"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|task| task.file_name().to_str()?.parse::<u32>().ok())
        })
        .collect()
}

/// This process's threads whose name starts with `prefix`: the driver's
/// own threads (`pb-driver-N`) among the runner's, to count the client's
/// kernel work apart from everything else the process does.
pub fn own_threads_named(prefix: &str) -> Vec<u32> {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with(prefix))
        })
        .filter_map(|task| task.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// Every descendant of `pid`, from `/proc/PID/task/TID/children` (a
/// process with no children costs one read per thread).
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let Ok(text) = std::fs::read_to_string(task.path().join("children")) else {
                continue;
            };
            for child in text
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                if !found.contains(&child) {
                    found.push(child);
                    queue.push(child);
                }
            }
        }
    }
    found
}

/// SIGKILLs `pid` and every process below it. A launcher killed alone
/// leaves what it started behind (a reference proxy runs in a process
/// group of its own and is stopped by its launcher only when the launcher
/// is let stop): orphans holding ports and CPU long after the run.
fn kill_tree(pid: u32) {
    let below = descendants(pid);
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    for p in below {
        let _ = kill(Pid::from_raw(p as i32), Signal::SIGKILL);
    }
}

/// Rounds of stop-and-list in [`CoreProcess::freeze`]: a program that
/// keeps forking new processes is frozen as far as this many.
const FREEZE_ROUNDS: usize = 8;

/// Which process group a spawned process joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// The harness's: a terminal's Ctrl-C reaches it too (conformance
    /// cores and origins, test helpers).
    Harness,
    /// One of its own, for the runner's cores, which it freezes
    /// ([`CoreProcess::freeze`]): should the harness die while one is
    /// frozen, the kernel finds its group orphaned with a stopped member
    /// and sends it SIGHUP and SIGCONT (SIGHUP stops a core as SIGTERM
    /// does), so it does not stay stopped with the SIGTERM of
    /// `--exit-with-parent` pending. That holds when the process that
    /// inherits it (init, a subreaper) is outside the harness's session,
    /// as it is unless the harness runs as a session's reaper itself.
    Own,
}

/// Processes held stopped by [`CoreProcess::freeze`]; dropping it lets
/// them go on.
#[must_use = "the processes resume as soon as the guard drops"]
#[derive(Debug)]
pub struct Frozen(Vec<Pid>);

impl Frozen {
    /// How many processes it holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds none (a core with no process, or one gone).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for &pid in &self.0 {
            let _ = kill(pid, Signal::SIGCONT);
        }
    }
}

impl Drop for CoreProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && let Ok(None) = child.try_wait()
        {
            kill_tree(child.id());
            let _ = child.wait();
        }
    }
}

fn describe(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) if s.code().is_some() => format!("exit {}", s.code().unwrap_or_default()),
        Some(s) => format!("killed by signal {}", s.signal().unwrap_or_default()),
        None => "still running".to_owned(),
    }
}

fn keep_tail(mut pipe: impl Read, tail: &Mutex<String>) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = pipe.read(&mut buf) {
        if n == 0 {
            break;
        }
        if let Ok(mut text) = tail.lock() {
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if text.len() > STDERR_TAIL {
                let cut = text.len() - STDERR_TAIL;
                let cut = (cut..text.len())
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                text.drain(..cut);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_resolves_below_a_clock_tick() {
        // A few hundred microseconds of spinning: a tick-sampled clock
        // (10 ms) reads 0 or 10 ms here, the process CPU clock reads
        // what was actually used.
        let me = ProcSampler::new(std::process::id());
        let before = me.cpu_time().expect("own CPU clock");
        let spin_until = std::time::Instant::now() + Duration::from_micros(500);
        let mut x = 0u64;
        while std::time::Instant::now() < spin_until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let used = me.cpu_time().expect("own CPU clock") - before;
        assert!(used > Duration::ZERO, "no CPU time seen after spinning");
        assert!(
            used < Duration::from_millis(10),
            "{used:?} for a 0.5 ms spin: not the process CPU clock"
        );
    }

    /// Whether `pid` is a live process (not gone, not a zombie waiting
    /// for a reaper).
    fn alive(pid: u32) -> bool {
        state(pid).is_some_and(|state| state != 'Z' && state != 'X')
    }

    /// The process's state letter in /proc (R, S, T for stopped, Z, ...).
    fn state(pid: u32) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(") ")?.1.chars().next()
    }

    /// Whether `holds` comes true within five seconds.
    fn eventually(holds: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !holds() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Whether `pid`'s state comes to be, or stops being, 'T' (stopped).
    fn comes_to(pid: u32, stopped: bool) -> bool {
        eventually(|| (state(pid) == Some('T')) == stopped)
    }

    #[test]
    fn a_frozen_core_and_what_it_started_stop_until_the_guard_drops() {
        // Its program spins, as an idle busy-polling core does: both
        // must stop, and both must go on afterwards.
        let (core, spinner) = launcher("while :; do :; done");
        let frozen = core.freeze();
        assert_eq!(frozen.len(), 2);
        assert!(comes_to(core.pid(), true), "the launcher did not stop");
        assert!(comes_to(spinner, true), "its program did not stop");
        drop(frozen);
        assert!(comes_to(core.pid(), false), "the launcher stayed stopped");
        assert!(comes_to(spinner, false), "its program stayed stopped");
        drop(core);
        assert!(comes_to_an_end(spinner));
    }

    /// A launcher that starts `program` (shell) in the background, then
    /// says it is ready and serves until stopped, as an external
    /// reference core does; and the program's pid.
    fn launcher(program: &str) -> (CoreProcess, u32) {
        let pid_file = std::env::temp_dir().join(format!(
            "pb-process-test-{}-{}.pid",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let script = format!(
            "({program}) & echo $! > {}; echo \"proxybench-ready core=t addr=127.0.0.1:9 threads=1 pid=$$\"; wait",
            pid_file.display()
        );
        let core =
            CoreProcess::spawn(Path::new("/bin/sh"), "t", &["-c".to_owned(), script]).unwrap();
        let program = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let _ = std::fs::remove_file(&pid_file);
        (core, program)
    }

    /// Whether `pid` is gone within five seconds.
    fn comes_to_an_end(pid: u32) -> bool {
        eventually(|| !alive(pid))
    }

    #[test]
    fn a_dropped_core_takes_what_it_started_with_it() {
        // Dropped without `stop`, the program must not outlive it.
        let (core, program) = launcher("sleep 300");
        assert!(alive(program));
        drop(core);
        assert!(
            comes_to_an_end(program),
            "the launcher's program {program} outlived it"
        );
    }

    #[test]
    fn cpu_time_and_rss_count_the_children_of_the_process() {
        // A child that spins for ~200 ms: its CPU shows in this
        // process's tree, not in this process's own clock.
        let me = ProcSampler::new(std::process::id());
        let own_before = process_cpu_time(me.pid).unwrap();
        let mut child = Command::new("sh")
            .args([
                "-c",
                "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 5",
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(800));
        assert!(descendants(me.pid).contains(&child.id()));
        let tree = me.cpu_time().unwrap();
        let own = process_cpu_time(me.pid).unwrap();
        // The child's resident memory counts in the tree's peak too.
        // Peaks only grow: the tree, read last, holds at least both.
        let rss_own = process_rss_max(me.pid).unwrap();
        let child_rss = process_rss_max(child.id()).unwrap();
        let rss_tree = me.rss_max().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            tree > own + Duration::from_millis(20),
            "tree {tree:?} vs own {own:?} (own before {own_before:?})"
        );
        assert!(child_rss > 0);
        assert!(
            rss_tree >= rss_own + child_rss,
            "{rss_tree} vs {rss_own} + {child_rss}"
        );
    }

    #[test]
    fn thread_cpu_names_this_process_threads_and_sees_them_work() {
        let me = std::process::id();
        let worker = std::thread::Builder::new()
            .name("pb-spinner".into())
            .spawn(|| {
                let before = thread_cpu(std::process::id());
                pb_core::Spin::iters(20_000_000).burn();
                let after = thread_cpu(std::process::id());
                (before, after)
            })
            .unwrap();
        let (before, after) = worker.join().unwrap();
        let spent = |map: &std::collections::BTreeMap<u32, (String, Duration)>| {
            map.values()
                .find(|(name, _)| name == "pb-spinner")
                .map(|(_, cpu)| *cpu)
                .expect("the spinner is listed by name")
        };
        assert!(spent(&after) > spent(&before));
        assert!(thread_cpu(me).len() >= 2, "this thread and the spinner");
    }

    #[test]
    fn cpu_time_of_a_missing_process_is_an_error() {
        // pid_max is at most 2^22 on Linux.
        let gone = ProcSampler::new(1 << 23);
        assert!(gone.cpu_time().is_err());
        let counting = ProcSampler {
            alloc_table: Some(0x1000),
            ..gone
        };
        let e = counting.allocations().unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        assert!(ProcSampler::new(std::process::id()).allocations().is_err());
    }
}
