//! A known, adjustable cost per request, for showing what the regression
//! gate can detect: a core started with `--spin-iters N` burns N rounds of
//! a fixed arithmetic loop for every request it serves.
//!
//! Counted in iterations rather than nanoseconds so the added cost is the
//! same number of instructions in every run, under valgrind too; roughly
//! one iteration per nanosecond on current x86-64 cores.
//!
//! `--extra-syscalls N` adds N system calls per request (`getppid`, which
//! does nothing): a known kernel cost, to show the kernel counters see
//! exactly what a core does; `--extra-allocations N` likewise N heap
//! allocations, for the allocation counter. `--leak-bytes N` and
//! `--leak-fd-every N` make a core leak, memory per request or a
//! descriptor every N requests, so the soak's verdict is seen to catch
//! what it is for.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

/// Requests served since start, counted only when a descriptor leak is
/// configured.
static SERVED: AtomicU64 = AtomicU64::new(0);

/// Extra work per request; none (the default) costs one branch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spin {
    /// Rounds of arithmetic.
    pub iters: u64,
    /// System calls that do nothing.
    pub syscalls: u32,
    /// Heap allocations, each freed at once.
    pub allocations: u32,
    /// Bytes allocated, written and never freed (a memory leak).
    pub leak_bytes: u32,
    /// A descriptor opened and never closed every this many requests (a
    /// descriptor leak); 0 for none.
    pub leak_fd_every: u32,
}

impl Spin {
    /// `iters` rounds of arithmetic per request, no system call.
    pub const fn iters(iters: u64) -> Spin {
        Spin {
            iters,
            syscalls: 0,
            allocations: 0,
            leak_bytes: 0,
            leak_fd_every: 0,
        }
    }

    /// Burns the configured iterations and makes the configured calls.
    #[inline]
    pub fn burn(self) {
        if self == Spin::default() {
            return;
        }
        for _ in 0..self.syscalls {
            black_box(std::os::unix::process::parent_id());
        }
        for _ in 0..self.allocations {
            // black_box keeps the allocation from being elided.
            drop(black_box(Box::new(0u64)));
        }
        if self.leak_bytes > 0 {
            // Written, so the pages are resident, not only reserved.
            black_box(Vec::leak(vec![1u8; self.leak_bytes as usize]));
        }
        if self.leak_fd_every > 0
            && SERVED
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(u64::from(self.leak_fd_every))
            && let Ok(file) = std::fs::File::open("/dev/null")
        {
            std::mem::forget(file);
        }
        let mut x = black_box(0x9E37_79B9_7F4A_7C15u64);
        for _ in 0..self.iters {
            // black_box keeps the loop from being folded away.
            x = black_box(
                x.wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407),
            );
        }
        black_box(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn more_iterations_take_longer() {
        // Not a timing bound: only that the work is really done.
        Spin::iters(0).burn();
        let start = Instant::now();
        Spin::iters(2_000_000).burn();
        assert!(start.elapsed().as_nanos() > 0);
    }
}
