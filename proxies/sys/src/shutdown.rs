//! Stop signals as a flag.
//!
//! SIGTERM and SIGINT set an atomic flag; each runtime polls it every
//! [`POLL_INTERVAL`] with its own timer. Polling keeps this crate free of
//! any runtime and works the same on tokio, monoio and glommio (whose
//! executors cannot all be woken from a signal handler thread).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a serving thread checks for a stop request. Short enough that
/// `SIGTERM` feels immediate, long enough to cost nothing measurable.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// A cloneable handle on the process's stop request.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
}

impl Shutdown {
    /// A handle no signal can trigger; for tests and embedding.
    pub fn manual() -> Shutdown {
        Shutdown::default()
    }

    /// A handle that SIGTERM, SIGINT and SIGHUP trigger. SIGHUP too: a
    /// core the runner froze (SIGSTOP) when the runner died is sent
    /// SIGHUP and SIGCONT by the kernel (its process group orphaned), and
    /// must then stop as cleanly as on SIGTERM — a reference launcher
    /// stopping its program, not leaving it behind.
    pub fn on_signals() -> io::Result<Shutdown> {
        let shutdown = Shutdown::default();
        for signal in [
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGHUP,
        ] {
            signal_hook::flag::register(signal, Arc::clone(&shutdown.flag))?;
        }
        Ok(shutdown)
    }

    /// Makes the kernel send this process SIGTERM when the process that
    /// started it ends, so a harness killed without the chance to stop
    /// its children (SIGKILL, a crash, a SIGTERM it does not forward)
    /// leaves no core or origin behind. Call after [`Shutdown::on_signals`]:
    /// the signal then stops the process as SIGTERM always does. Strictly,
    /// the signal follows the *thread* that spawned the process, so a
    /// harness starts its children from the thread that also stops them.
    pub fn exit_with_parent(&self) -> io::Result<()> {
        let parent = std::os::unix::process::parent_id();
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
            .map_err(io::Error::from)?;
        // The parent may have gone before the request took effect: then
        // this process was already handed to init (or a subreaper).
        if parent == 1 || std::os::unix::process::parent_id() != parent {
            self.trigger();
        }
        Ok(())
    }

    /// Whether a stop was requested.
    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Requests a stop, as a signal would.
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }
}
