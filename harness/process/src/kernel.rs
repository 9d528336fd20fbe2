//! The kernel's work for a process tree inside a measured window: system
//! calls (all, and the reads, writes and waits among them), io_uring
//! submissions, completions, poll arms and punts to io-wq workers, from
//! perf's software and tracepoint counters, one set per thread of the
//! tree; and voluntary and involuntary context switches and user versus
//! system CPU time from `/proc`, which need no perf at all.
//!
//! perf counts a thread only when asked for that thread, so the counters
//! are opened for every thread the tree has when the trial starts (cores
//! start their threads before they say they are ready), disabled, then
//! enabled and disabled at the window's edges.
//!
//! Where perf cannot count (`perf_event_paranoid`, no tracefs, a
//! container), [`KernelCounters::open`] says why, and the cell records
//! that reason — never a zero.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use perf_event::events::{Software, Tracepoint};
use perf_event::{Builder, Counter};

/// Environment variable that makes perf unavailable with the given
/// reason: rehearses a machine without perf (and tests that path).
pub const FAKE_NO_PERF: &str = "PROXYBENCH_FAKE_NO_PERF";

/// What is counted, in the order results list it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Every system call (`raw_syscalls:sys_enter`).
    Syscalls,
    /// read, readv, recvfrom, recvmsg.
    Reads,
    /// write, writev, sendto, sendmsg.
    Writes,
    /// epoll_wait, epoll_pwait, epoll_pwait2, io_uring_enter: a runtime
    /// waiting for (or submitting and reaping) I/O.
    Waits,
    /// Context switches (perf's software counter).
    ContextSwitches,
    /// io_uring requests submitted (`io_uring:io_uring_submit_req`).
    UringSubmits,
    /// io_uring completions posted (`io_uring:io_uring_complete`).
    UringCompletions,
    /// io_uring poll requests armed (`io_uring:io_uring_poll_arm`).
    UringPollArms,
    /// io_uring requests punted to io-wq worker threads
    /// (`io_uring:io_uring_queue_async_work`).
    UringAsyncPunts,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 9] = [
        Kind::Syscalls,
        Kind::Reads,
        Kind::Writes,
        Kind::Waits,
        Kind::ContextSwitches,
        Kind::UringSubmits,
        Kind::UringCompletions,
        Kind::UringPollArms,
        Kind::UringAsyncPunts,
    ];

    /// The tracepoints it sums (none: a software counter).
    fn tracepoints(self) -> &'static [&'static str] {
        match self {
            Kind::Syscalls => &["raw_syscalls/sys_enter"],
            Kind::Reads => &[
                "syscalls/sys_enter_read",
                "syscalls/sys_enter_readv",
                "syscalls/sys_enter_recvfrom",
                "syscalls/sys_enter_recvmsg",
            ],
            Kind::Writes => &[
                "syscalls/sys_enter_write",
                "syscalls/sys_enter_writev",
                "syscalls/sys_enter_sendto",
                "syscalls/sys_enter_sendmsg",
            ],
            Kind::Waits => &[
                "syscalls/sys_enter_epoll_wait",
                "syscalls/sys_enter_epoll_pwait",
                "syscalls/sys_enter_epoll_pwait2",
                "syscalls/sys_enter_io_uring_enter",
            ],
            Kind::ContextSwitches => &[],
            Kind::UringSubmits => &["io_uring/io_uring_submit_req"],
            Kind::UringCompletions => &["io_uring/io_uring_complete"],
            Kind::UringPollArms => &["io_uring/io_uring_poll_arm"],
            Kind::UringAsyncPunts => &["io_uring/io_uring_queue_async_work"],
        }
    }
}

/// Counts over one window.
pub type Counts = BTreeMap<Kind, u64>;

/// Perf counters on every thread of a process tree.
pub struct KernelCounters {
    counters: Vec<(Kind, Counter)>,
}

impl std::fmt::Debug for KernelCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelCounters")
            .field("counters", &self.counters.len())
            .finish()
    }
}

impl KernelCounters {
    /// Opens disabled counters on every thread of `pid` and its
    /// descendants. `Err` is the reason perf cannot count here, phrased
    /// for the results.
    pub fn open(pid: u32) -> Result<KernelCounters, String> {
        KernelCounters::open_threads(&crate::tree_threads(pid))
    }

    /// Opens disabled counters on exactly these threads (the driver's own,
    /// say: [`crate::own_threads_named`]). `Err` as for
    /// [`KernelCounters::open`]; no thread at all is an error too, not a
    /// count of zero.
    pub fn open_threads(tids: &[u32]) -> Result<KernelCounters, String> {
        if tids.is_empty() {
            return Err("no thread to count".into());
        }
        if let Ok(reason) = std::env::var(FAKE_NO_PERF)
            && !reason.is_empty()
        {
            return Err(format!("perf disabled by {FAKE_NO_PERF}: {reason}"));
        }
        let events = tracefs_events()?;
        let mut ids: Vec<(Kind, Option<u64>)> = Vec::new();
        for kind in Kind::ALL {
            if kind.tracepoints().is_empty() {
                ids.push((kind, None));
            }
            for name in kind.tracepoints() {
                let path = events.join(name).join("id");
                let id = std::fs::read_to_string(&path)
                    .map_err(|e| {
                        format!("tracepoint {name} unavailable ({}: {e})", path.display())
                    })?
                    .trim()
                    .parse::<u64>()
                    .map_err(|e| format!("tracepoint {name}: bad id in {}: {e}", path.display()))?;
                ids.push((kind, Some(id)));
            }
        }
        let mut counters = Vec::new();
        for &tid in tids {
            for &(kind, id) in &ids {
                let mut builder = match id {
                    Some(id) => Builder::new(Tracepoint::with_id(id)),
                    None => Builder::new(Software::CONTEXT_SWITCHES),
                };
                let counter = builder
                    .observe_pid(tid as i32)
                    .any_cpu()
                    .inherit(false)
                    // Tracepoints fire in the kernel, which the builder
                    // excludes by default.
                    .include_kernel()
                    .enabled(false)
                    .build();
                match counter {
                    Ok(counter) => counters.push((kind, counter)),
                    // A thread that ended since the listing counts nothing.
                    Err(e) if e.raw_os_error() == Some(nix::libc::ESRCH) => {}
                    Err(e) => return Err(perf_refusal(&e)),
                }
            }
        }
        Ok(KernelCounters { counters })
    }

    /// Starts counting (the window opens).
    pub fn enable(&mut self) -> io::Result<()> {
        for (_, counter) in &mut self.counters {
            counter.enable()?;
        }
        Ok(())
    }

    /// Stops counting and returns the totals (the window closed).
    pub fn finish(&mut self) -> io::Result<Counts> {
        let mut counts: Counts = Kind::ALL.iter().map(|&k| (k, 0)).collect();
        for (kind, counter) in &mut self.counters {
            counter.disable()?;
            *counts.entry(*kind).or_default() += counter.read()?;
        }
        Ok(counts)
    }
}

/// Why perf refused, with what would let it count.
fn perf_refusal(e: &io::Error) -> String {
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".into());
    match e.raw_os_error() {
        Some(nix::libc::EACCES) | Some(nix::libc::EPERM) => format!(
            "perf_event_open refused ({e}); perf_event_paranoid is {paranoid}: run as root or lower it"
        ),
        Some(nix::libc::ENOSYS) | Some(nix::libc::ENOENT) => {
            format!("perf_event_open is not available here ({e})")
        }
        _ => format!("perf_event_open failed: {e}"),
    }
}

/// The tracefs `events` directory, mounting tracefs when it is not and
/// this process may.
fn tracefs_events() -> Result<PathBuf, String> {
    let candidates = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
    if let Some(found) = candidates
        .iter()
        .map(|root| Path::new(root).join("events"))
        .find(|events| events.join("raw_syscalls").is_dir())
    {
        return Ok(found);
    }
    // Not mounted: root may mount it (as perf itself does).
    let root = Path::new(candidates[0]);
    let mounted = nix::unistd::geteuid().is_root()
        && root.is_dir()
        && nix::mount::mount(
            Some("nodev"),
            root,
            Some("tracefs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .is_ok();
    let events = root.join("events");
    if mounted && events.join("raw_syscalls").is_dir() {
        Ok(events)
    } else {
        Err(format!(
            "no tracefs with syscall tracepoints at {} (mount it: mount -t tracefs nodev {})",
            candidates.join(" or "),
            candidates[0]
        ))
    }
}

/// Context switches and user/system CPU of a process tree from `/proc`
/// (no perf needed), summed over every thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcCounts {
    /// Voluntary context switches (the thread blocked: waited for I/O).
    pub voluntary_switches: u64,
    /// Involuntary ones (the scheduler took the CPU away).
    pub involuntary_switches: u64,
    /// User CPU time, clock ticks.
    pub user_ticks: u64,
    /// System CPU time, clock ticks.
    pub system_ticks: u64,
}

impl ProcCounts {
    /// Reads them for `pid` and its descendants now. Threads that ended
    /// are in their process's totals (Linux folds them in), so a window's
    /// difference stays exact for switches; CPU ticks are the kernel's
    /// sampled accounting, good to a tick per thread. A process or thread
    /// gone since the listing counts nothing.
    pub fn read(pid: u32) -> ProcCounts {
        let mut total = ProcCounts::default();
        for process in std::iter::once(pid).chain(crate::descendants(pid)) {
            let base = PathBuf::from(format!("/proc/{process}"));
            let Ok(tasks) = std::fs::read_dir(base.join("task")) else {
                continue;
            };
            for task in tasks.flatten() {
                let status =
                    std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
                for line in status.lines() {
                    let value = |prefix: &str| {
                        line.strip_prefix(prefix)
                            .and_then(|v| v.trim().parse::<u64>().ok())
                    };
                    if let Some(v) = value("voluntary_ctxt_switches:") {
                        total.voluntary_switches += v;
                    } else if let Some(v) = value("nonvoluntary_ctxt_switches:") {
                        total.involuntary_switches += v;
                    }
                }
                let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
                // Fields after the `(comm)`, which may hold spaces.
                if let Some((_, rest)) = stat.rsplit_once(')') {
                    let fields: Vec<&str> = rest.split_whitespace().collect();
                    // utime and stime are fields 14 and 15 of stat, 12
                    // and 13 after the state (field 3).
                    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
                    total.user_ticks += tick(11).unwrap_or(0);
                    total.system_ticks += tick(12).unwrap_or(0);
                }
            }
        }
        total
    }

    /// `self - earlier`, saturating (a thread that ended takes its
    /// counts with it).
    pub fn since(self, earlier: ProcCounts) -> ProcCounts {
        ProcCounts {
            voluntary_switches: self
                .voluntary_switches
                .saturating_sub(earlier.voluntary_switches),
            involuntary_switches: self
                .involuntary_switches
                .saturating_sub(earlier.involuntary_switches),
            user_ticks: self.user_ticks.saturating_sub(earlier.user_ticks),
            system_ticks: self.system_ticks.saturating_sub(earlier.system_ticks),
        }
    }
}
