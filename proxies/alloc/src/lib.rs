//! A counting global allocator: every allocation goes to the system
//! allocator, and while counting is on, each one (allocations,
//! reallocations, zeroed allocations) and the bytes it asked for are
//! added to a counter of the calling thread.
//!
//! Two users:
//! - the `proxybench` binary installs it switched off, so a core costs one
//!   relaxed load and a predictable branch per allocation; `proxy
//!   --count-allocations` switches it on and announces the counters'
//!   address on the readiness line, and the runner reads them from outside
//!   at the measured window's edges ([`Counters::decode`] over the bytes
//!   `process_vm_readv` copies), so the core does nothing to report and
//!   the figure covers exactly the window;
//! - the micro-benchmarks install it counting from the start
//!   ([`CountingAlloc::counting`]) and read [`CountingAlloc::totals`].
//!
//! While on, a count is one uncontended atomic add on a cache line of the
//! thread's own (threads are spread over [`SLOTS`] padded slots, so
//! thread-per-core workers never share a line): a few nanoseconds per
//! allocation, well under 0.1 % of a request's CPU at the dozen or so
//! allocations a request makes.
//!
//! Install it in a binary (libraries never install it):
//!
//! ```text
//! #[global_allocator]
//! static ALLOC: pb_alloc::CountingAlloc = pb_alloc::CountingAlloc::off();
//! ```
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Counter slots; a thread uses slot `n % SLOTS`, `n` its order of first
/// allocation. More threads than slots share slots (atomically: still
/// exact, only slower).
pub const SLOTS: usize = 64;

/// One thread's counters, alone on its cache line.
#[repr(C, align(64))]
struct Slot {
    allocations: AtomicU64,
    bytes: AtomicU64,
}

/// The counters as another process reads them: [`SLOTS`] slots of
/// 64 bytes, each starting with the allocation count and then the byte
/// count, native-endian `u64`s. This layout is the contract between the
/// allocator and [`Counters::decode`].
#[repr(C)]
struct Table {
    slots: [Slot; SLOTS],
}

/// The bytes to copy from [`CountingAlloc::table_addr`].
pub const TABLE_BYTES: usize = std::mem::size_of::<Table>();

/// Totals over every thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Allocations, reallocations and zeroed allocations.
    pub allocations: u64,
    /// Bytes they asked for (a reallocation counts its new size).
    pub bytes: u64,
}

impl Counters {
    /// The totals in a copy of the table (`TABLE_BYTES` bytes read at
    /// [`CountingAlloc::table_addr`] of a process running this build).
    /// `None` when `table` is not that size.
    pub fn decode(table: &[u8]) -> Option<Counters> {
        if table.len() != TABLE_BYTES {
            return None;
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&table[at..at + 8]);
            u64::from_ne_bytes(w)
        };
        let slot = std::mem::size_of::<Slot>();
        Some((0..SLOTS).fold(Counters::default(), |sum, i| Counters {
            allocations: sum.allocations.wrapping_add(word(i * slot)),
            bytes: sum.bytes.wrapping_add(word(i * slot + 8)),
        }))
    }

    /// What was counted between `earlier` and `self`.
    pub fn since(self, earlier: Counters) -> Counters {
        Counters {
            allocations: self.allocations.wrapping_sub(earlier.allocations),
            bytes: self.bytes.wrapping_sub(earlier.bytes),
        }
    }
}

/// The system allocator, counting while switched on.
pub struct CountingAlloc {
    on: AtomicBool,
    table: Table,
}

impl std::fmt::Debug for CountingAlloc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingAlloc")
            .field("on", &self.is_on())
            .field("totals", &self.totals())
            .finish()
    }
}

/// The order in which threads first allocated, for their slot.
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // `const`-initialised and without a destructor, so reading it never
    // allocates (this runs inside the allocator) and works while the
    // thread's other locals are being torn down.
    static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn my_slot() -> usize {
    MY_SLOT.with(|slot| {
        let mut i = slot.get();
        if i == usize::MAX {
            i = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) % SLOTS;
            slot.set(i);
        }
        i
    })
}

impl CountingAlloc {
    const fn with(on: bool) -> CountingAlloc {
        CountingAlloc {
            on: AtomicBool::new(on),
            table: Table {
                slots: [const {
                    Slot {
                        allocations: AtomicU64::new(0),
                        bytes: AtomicU64::new(0),
                    }
                }; SLOTS],
            },
        }
    }

    /// Not counting until [`switch_on`](Self::switch_on).
    pub const fn off() -> CountingAlloc {
        CountingAlloc::with(false)
    }

    /// Counting from the first allocation.
    pub const fn counting() -> CountingAlloc {
        CountingAlloc::with(true)
    }

    /// Starts counting (from zero, if it never counted).
    pub fn switch_on(&self) {
        self.on.store(true, Ordering::Relaxed);
    }

    /// Whether it counts.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Totals so far, all threads.
    pub fn totals(&self) -> Counters {
        let mut sum = Counters::default();
        for slot in &self.table.slots {
            sum.allocations += slot.allocations.load(Ordering::Relaxed);
            sum.bytes += slot.bytes.load(Ordering::Relaxed);
        }
        sum
    }

    /// Where the counter table is in this process's memory: another
    /// process reads [`TABLE_BYTES`] from here and decodes them with
    /// [`Counters::decode`].
    pub fn table_addr(&'static self) -> usize {
        std::ptr::from_ref(&self.table) as usize
    }

    #[inline]
    fn count(&self, size: usize) {
        if !self.on.load(Ordering::Relaxed) {
            return;
        }
        let slot = &self.table.slots[my_slot()];
        slot.allocations.fetch_add(1, Ordering::Relaxed);
        slot.bytes.fetch_add(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments,
// which satisfy `GlobalAlloc`'s contract by the caller's obligation; the
// counting touches only the counters, never the memory returned, and
// never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: forwarded unchanged (see the impl's comment).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.count(new_size);
        // SAFETY: forwarded unchanged; `ptr` came from `System` through us.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from `System` through us.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Not installed as this test binary's allocator: the tests call the
    // `GlobalAlloc` methods directly, so nothing else is counted.
    fn churn(alloc: &CountingAlloc, n: usize, size: usize) {
        let layout = Layout::from_size_align(size, 8).unwrap();
        for _ in 0..n {
            // SAFETY: a non-zero layout; the pointer goes straight back.
            unsafe {
                let p = alloc.alloc(layout);
                assert!(!p.is_null());
                alloc.dealloc(p, layout);
            }
        }
    }

    #[test]
    fn counts_only_while_on() {
        static A: CountingAlloc = CountingAlloc::off();
        churn(&A, 10, 16);
        assert_eq!(A.totals(), Counters::default());
        A.switch_on();
        churn(&A, 10, 16);
        assert_eq!(
            A.totals(),
            Counters {
                allocations: 10,
                bytes: 160
            }
        );
    }

    #[test]
    fn every_thread_counts_and_the_table_decodes_to_the_totals() {
        static A: CountingAlloc = CountingAlloc::counting();
        std::thread::scope(|s| {
            for _ in 0..(SLOTS + 6) {
                s.spawn(|| churn(&A, 100, 8));
            }
        });
        churn(&A, 1, 1000);
        let totals = A.totals();
        assert_eq!(totals.allocations, 100 * (SLOTS as u64 + 6) + 1);
        assert_eq!(totals.bytes, 800 * (SLOTS as u64 + 6) + 1000);
        // What another process would copy out of this one.
        // SAFETY: the table is `TABLE_BYTES` of plain integers, alive for
        // the program ('static), and read here only as bytes.
        let copy = unsafe { std::slice::from_raw_parts(A.table_addr() as *const u8, TABLE_BYTES) }
            .to_vec();
        assert_eq!(Counters::decode(&copy), Some(totals));
        assert_eq!(Counters::decode(&copy[1..]), None);
    }

    #[test]
    fn since_is_the_difference() {
        let a = Counters {
            allocations: 5,
            bytes: 50,
        };
        let b = Counters {
            allocations: 12,
            bytes: 90,
        };
        assert_eq!(
            b.since(a),
            Counters {
                allocations: 7,
                bytes: 40
            }
        );
    }
}
