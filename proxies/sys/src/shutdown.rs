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

    /// A handle that SIGTERM and SIGINT trigger.
    pub fn on_signals() -> io::Result<Shutdown> {
        let shutdown = Shutdown::default();
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(signal, Arc::clone(&shutdown.flag))?;
        }
        Ok(shutdown)
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
