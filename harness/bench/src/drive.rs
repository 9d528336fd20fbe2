//! Runs a fixed number of calls through one stack variant, inside a tokio
//! runtime, the way the `tokio-tower` core calls its stacks: on a spawned
//! task of a multi-thread runtime (one worker, like `--threads 1`), with a
//! tower stack cloned for every call and driven with `oneshot` (clone,
//! `poll_ready`, `call`, await), as the core's HTTP connection loop does
//! with its buffered request stack.
//!
//! All four variants run in the same runtime and the same task shape, so
//! the runtime's own cost is the same for each and cancels in comparisons.
//! The criterion bench times [`Driver::run`]'s loop; `pb-icount` runs it
//! under valgrind for instruction counts.

use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

use tower::ServiceExt as _;
use tower::buffer::Buffer;

use crate::layers::{self, Counter};

/// Queue bound of the `Buffer`, as in the `tokio-tower` core.
pub const BUFFER_CAPACITY: usize = 1024;

/// How a stack is shared and called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// tower stack, cloned per call (`clone` + `oneshot`).
    TowerClone,
    /// The same tower stack behind `tower::buffer::Buffer`: the handle is
    /// cloned per call and the stack itself runs on the buffer's worker task.
    TowerBuffer,
    /// `service-async` borrowing stack built with `FactoryStack`, called
    /// through `&self`.
    Borrowing,
    /// A plain async function doing the same work: the floor.
    PlainFn,
}

impl Variant {
    /// Every variant, in table order.
    pub const ALL: [Variant; 4] = [
        Variant::TowerClone,
        Variant::TowerBuffer,
        Variant::Borrowing,
        Variant::PlainFn,
    ];

    /// Stable name (bench ids, command line, instruction-count ids).
    pub fn name(self) -> &'static str {
        match self {
            Variant::TowerClone => "tower-clone",
            Variant::TowerBuffer => "tower-buffer",
            Variant::Borrowing => "service-async",
            Variant::PlainFn => "plain-fn",
        }
    }
}

impl FromStr for Variant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variant::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Variant::ALL.iter().map(|v| v.name()).collect();
                format!("unknown variant {s:?}; known: {}", names.join(", "))
            })
    }
}

/// Stack depths measured: 1, 4 and 16 identical layers.
pub const DEPTHS: [u32; 3] = [1, 4, 16];

/// Reads a counter at the edges of the timed loop (allocation counts in
/// the bench binary; nothing elsewhere). A plain function pointer so it
/// can be handed to the spawned task.
pub type Probe = fn() -> u64;

/// A probe that reads nothing.
pub fn no_probe() -> u64 {
    0
}

/// What one [`Driver::run`] measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Wall time of the calls alone (stack built before, dropped after).
    pub elapsed: Duration,
    /// The probe's growth over the calls.
    pub probed: u64,
    /// Sum of the responses, to keep the work observable.
    pub checksum: u64,
}

/// A runtime to run calls in.
#[derive(Debug)]
pub struct Driver {
    runtime: tokio::runtime::Runtime,
}

impl Driver {
    /// A multi-thread runtime with one worker, as `proxybench proxy --core
    /// tokio-tower --threads 1` builds it.
    pub fn new() -> std::io::Result<Driver> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pb-bench-worker")
            .build()?;
        Ok(Driver { runtime })
    }

    /// Makes a `depth`-layer stack of `variant` and runs `calls` calls
    /// through it on a spawned task. Panics if `depth` is not one of
    /// [`DEPTHS`] or a response is wrong (a broken stack must not be timed).
    pub fn run(&self, variant: Variant, depth: u32, calls: u64, probe: Probe) -> Sample {
        let counter = Counter::default();
        let c = counter.clone();
        // Each variant and depth is its own spawned task type, so its
        // code is compiled on its own: a change to one loop does not move
        // the inlining (and instruction counts) of the others.
        let sample = self.runtime.block_on(async move {
            let task = match (variant, depth) {
                (Variant::TowerClone, 1) => {
                    tokio::spawn(tower_loop(layers::tower_1(&c), 1, calls, probe))
                }
                (Variant::TowerClone, 4) => {
                    tokio::spawn(tower_loop(layers::tower_4(&c), 4, calls, probe))
                }
                (Variant::TowerClone, 16) => {
                    tokio::spawn(tower_loop(layers::tower_16(&c), 16, calls, probe))
                }
                (Variant::TowerBuffer, 1) => {
                    tokio::spawn(tower_loop(buffered(layers::tower_1(&c)), 1, calls, probe))
                }
                (Variant::TowerBuffer, 4) => {
                    tokio::spawn(tower_loop(buffered(layers::tower_4(&c)), 4, calls, probe))
                }
                (Variant::TowerBuffer, 16) => {
                    tokio::spawn(tower_loop(buffered(layers::tower_16(&c)), 16, calls, probe))
                }
                (Variant::Borrowing, 1) => {
                    tokio::spawn(borrowing_loop(layers::borrowing_1(&c), 1, calls, probe))
                }
                (Variant::Borrowing, 4) => {
                    tokio::spawn(borrowing_loop(layers::borrowing_4(&c), 4, calls, probe))
                }
                (Variant::Borrowing, 16) => {
                    tokio::spawn(borrowing_loop(layers::borrowing_16(&c), 16, calls, probe))
                }
                (Variant::PlainFn, 1) => tokio::spawn(plain_loop::<1>(c, calls, probe)),
                (Variant::PlainFn, 4) => tokio::spawn(plain_loop::<4>(c, calls, probe)),
                (Variant::PlainFn, 16) => tokio::spawn(plain_loop::<16>(c, calls, probe)),
                (_, d) => panic!("depth {d} is not one of {DEPTHS:?}"),
            };
            task.await.expect("the bench task completes")
        });
        assert_eq!(
            counter.get(),
            calls * u64::from(depth),
            "{} x{depth}: every layer counts every call",
            variant.name()
        );
        sample
    }
}

/// The tower stack behind a `Buffer` (its worker task is spawned here).
fn buffered<S>(stack: S) -> Buffer<u64, S::Future>
where
    S: tower::Service<u64, Response = u64, Error = std::convert::Infallible> + Send + 'static,
    S::Future: Send,
{
    Buffer::new(stack, BUFFER_CAPACITY)
}

/// What a stack of `depth` layers answers to `req`.
fn expected(req: u64, depth: u32) -> u64 {
    req + 2 * u64::from(depth)
}

/// Closes the timed window and checks every response was right.
fn finish(
    start: Instant,
    before: u64,
    probe: Probe,
    checksum: u64,
    depth: u32,
    calls: u64,
) -> Sample {
    let elapsed = start.elapsed();
    let probed = probe().wrapping_sub(before);
    let want = (0..calls).fold(0u64, |a, i| a.wrapping_add(expected(i, depth)));
    assert_eq!(checksum, want, "every response is request + 2 x depth");
    Sample {
        elapsed,
        probed,
        checksum,
    }
}

async fn tower_loop<S>(stack: S, depth: u32, calls: u64, probe: Probe) -> Sample
where
    S: tower::Service<u64, Response = u64> + Clone,
    S::Error: std::fmt::Debug,
{
    let before = probe();
    let start = Instant::now();
    let mut checksum = 0u64;
    for i in 0..calls {
        let svc = stack.clone();
        let resp = svc
            .oneshot(black_box(i))
            .await
            .expect("tower stack answers");
        checksum = checksum.wrapping_add(black_box(resp));
    }
    finish(start, before, probe, checksum, depth, calls)
}

async fn borrowing_loop<S>(stack: S, depth: u32, calls: u64, probe: Probe) -> Sample
where
    S: service_async::Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    let before = probe();
    let start = Instant::now();
    let mut checksum = 0u64;
    for i in 0..calls {
        let resp = stack
            .call(black_box(i))
            .await
            .expect("borrowing stack answers");
        checksum = checksum.wrapping_add(black_box(resp));
    }
    finish(start, before, probe, checksum, depth, calls)
}

async fn plain_loop<const D: u32>(counter: Counter, calls: u64, probe: Probe) -> Sample {
    let before = probe();
    let start = Instant::now();
    let mut checksum = 0u64;
    for i in 0..calls {
        let resp = layers::plain::<D>(&counter, black_box(i))
            .await
            .unwrap_or_else(|never| match never {});
        checksum = checksum.wrapping_add(black_box(resp));
    }
    finish(start, before, probe, checksum, D, calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_and_depth_runs_and_counts() {
        let driver = Driver::new().unwrap();
        for variant in Variant::ALL {
            for depth in DEPTHS {
                let s = driver.run(variant, depth, 50, no_probe);
                let want: u64 = (0..50).map(|i| expected(i, depth)).sum();
                assert_eq!(s.checksum, want, "{} x{depth}", variant.name());
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for v in Variant::ALL {
            assert_eq!(v.name().parse::<Variant>().unwrap(), v);
        }
        assert!("nope".parse::<Variant>().is_err());
    }
}
