//! What this machine allows: io_uring, locked memory.
//!
//! Behind the [`Probe`] trait so tests (and `PROXYBENCH_FAKE_NO_IO_URING`)
//! can show how an io_uring-less machine is reported without needing one.

use std::fs;

/// Environment facts a core's availability depends on.
pub trait Probe {
    /// `Ok` if an io_uring instance can be created here, else the reason.
    fn io_uring(&self) -> Result<(), String>;
    /// Bytes this process may lock (`RLIMIT_MEMLOCK`); `None` for unlimited
    /// or when the process holds `CAP_IPC_LOCK` and the limit does not apply.
    fn memlock_limit(&self) -> Option<u64>;
    /// Where the program `name` is installed, if it is: on `PATH`, or in
    /// the sbin directories where Debian puts daemons (`nginx`), which a
    /// non-root `PATH` often lacks.
    fn program(&self, name: &str) -> Option<std::path::PathBuf>;
}

/// [`Probe::program`] on this machine.
pub fn find_program(name: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(std::path::PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The real machine.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemProbe;

impl Probe for SystemProbe {
    fn program(&self, name: &str) -> Option<std::path::PathBuf> {
        find_program(name)
    }

    fn io_uring(&self) -> Result<(), String> {
        match io_uring::IoUring::new(8) {
            Ok(_ring) => Ok(()),
            Err(e) => {
                let hint = match fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                    .ok()
                    .as_deref()
                    .map(str::trim)
                {
                    Some("1") => {
                        " (kernel.io_uring_disabled=1: only a privileged group may use it)"
                    }
                    Some("2") => " (kernel.io_uring_disabled=2: io_uring is switched off)",
                    _ if e.raw_os_error() == Some(nix::libc::ENOSYS) => {
                        " (the kernel lacks io_uring or a seccomp filter blocks it)"
                    }
                    _ => "",
                };
                Err(format!("io_uring_setup failed: {e}{hint}"))
            }
        }
    }

    fn memlock_limit(&self) -> Option<u64> {
        if has_cap_ipc_lock() {
            return None;
        }
        let (soft, _hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_MEMLOCK).ok()?;
        (soft != nix::sys::resource::RLIM_INFINITY).then_some(soft)
    }
}

/// `CAP_IPC_LOCK` lifts `RLIMIT_MEMLOCK` for io_uring's registered buffers.
fn has_cap_ipc_lock() -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}

/// A probe with fixed answers, for tests and for rehearsing a hostile
/// environment from the command line.
#[derive(Debug, Clone)]
pub struct FixedProbe {
    /// What [`Probe::io_uring`] answers.
    pub io_uring: Result<(), String>,
    /// What [`Probe::memlock_limit`] answers.
    pub memlock_limit: Option<u64>,
}

impl Probe for FixedProbe {
    fn io_uring(&self) -> Result<(), String> {
        self.io_uring.clone()
    }

    /// Every program is missing: a fixed probe describes a bare machine.
    fn program(&self, _name: &str) -> Option<std::path::PathBuf> {
        None
    }

    fn memlock_limit(&self) -> Option<u64> {
        self.memlock_limit
    }
}
