//! Per-call cost of the design debate's four ways to compose a proxy's
//! middleware, through stacks of 1, 4 and 16 identical layers (see
//! `pb_bench::layers`): a tower stack cloned per call, the same stack
//! behind `tower::buffer::Buffer`, a `service-async` borrowing stack built
//! with `FactoryStack`, and a plain async function (the floor).
//!
//! First prints allocations per call (a counting global allocator, over a
//! fixed number of calls), then criterion times each variant. Times are
//! per call, including the tokio task the calls run on; short measurement
//! windows keep `cargo bench` to a few minutes on a 2-core machine, so
//! expect a few percent of noise, more while something else builds.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use pb_alloc::CountingAlloc;
use pb_bench::drive::{DEPTHS, Driver, Variant};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::counting();

fn allocations() -> u64 {
    ALLOC.totals().allocations
}

fn bytes() -> u64 {
    ALLOC.totals().bytes
}

/// Calls per allocation count: enough to average out amortised growth
/// (channel blocks), few enough to be instant.
const ALLOC_CALLS: u64 = 20_000;

fn print_allocations(driver: &Driver) {
    println!("allocations per call ({ALLOC_CALLS} calls; counting global allocator)");
    println!(
        "  {:<14} {:>10} {:>10} {:>10}   {:>10} {:>10} {:>10}",
        "variant", "allocs x1", "allocs x4", "allocs x16", "bytes x1", "bytes x4", "bytes x16"
    );
    for variant in Variant::ALL {
        let mut counts = Vec::new();
        let mut sizes = Vec::new();
        for depth in DEPTHS {
            // Warm first: lazily created runtime state is not per call.
            driver.run(variant, depth, 1_000, allocations);
            let n = driver.run(variant, depth, ALLOC_CALLS, allocations).probed;
            let b = driver.run(variant, depth, ALLOC_CALLS, bytes).probed;
            counts.push(n as f64 / ALLOC_CALLS as f64);
            sizes.push(b as f64 / ALLOC_CALLS as f64);
        }
        println!(
            "  {:<14} {:>10.2} {:>10.2} {:>10.2}   {:>10.1} {:>10.1} {:>10.1}",
            variant.name(),
            counts[0],
            counts[1],
            counts[2],
            sizes[0],
            sizes[1],
            sizes[2]
        );
    }
    println!();
}

fn bench_stacks(c: &mut Criterion, driver: &Driver) {
    for depth in DEPTHS {
        let mut group = c.benchmark_group(format!("stack/{depth}-layers"));
        group
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(900))
            .sample_size(20);
        for variant in Variant::ALL {
            group.bench_function(BenchmarkId::from_parameter(variant.name()), |b| {
                b.iter_custom(|iters| driver.run(variant, depth, iters, allocations).elapsed)
            });
        }
        group.finish();
    }
}

fn main() {
    let driver = Driver::new().expect("a tokio runtime");
    let mut criterion = Criterion::default().configure_from_args();
    // `cargo test --benches` runs this in test mode: one pass, no report.
    print_allocations(&driver);
    bench_stacks(&mut criterion, &driver);
    criterion.final_summary();
}
