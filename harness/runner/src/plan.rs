//! CPU plans: which CPUs the core under test, the driver and the origin get.
//!
//! Disjoint sets when the machine has enough CPUs; on a small machine the
//! roles share, and the plan says so (the result records it). The core
//! always gets the first CPUs so that a plan reads the same on every box.

use pb_results::CpuPlan;
use pb_sys::CpuSet;

/// The plan a scenario asks for ([`pb_scenario::CpuPlanKind`]): split
/// (below), or overlap — the core gets a CPU per thread even when that
/// leaves none to itself, and the driver and origins run on the last
/// CPUs beside it. An experiment whose per-request work dwarfs the
/// driver's (the claims' Buffer and imbalance experiments) needs its
/// serving threads on CPUs of their own more than it needs a quiet driver.
pub fn plan_for(
    kind: pb_scenario::CpuPlanKind,
    allowed: &CpuSet,
    core_threads: usize,
    driver_threads: usize,
    origin_threads: usize,
) -> CpuPlan {
    match kind {
        pb_scenario::CpuPlanKind::Split => {
            plan(allowed, core_threads, driver_threads, origin_threads)
        }
        pb_scenario::CpuPlanKind::Overlap => {
            overlap(allowed, core_threads, driver_threads, origin_threads)
        }
    }
}

/// The overlapping plan of [`plan_for`]; disjoint (and the same as
/// [`plan`]) when there are CPUs enough.
fn overlap(
    allowed: &CpuSet,
    core_threads: usize,
    driver_threads: usize,
    origin_threads: usize,
) -> CpuPlan {
    let ids = allowed.ids();
    let n = ids.len();
    if n >= core_threads + driver_threads + origin_threads {
        return plan(allowed, core_threads, driver_threads, origin_threads);
    }
    let core = ids[..core_threads.min(n)].to_vec();
    let driver = ids[n - driver_threads.clamp(1, n)..].to_vec();
    let origin = if origin_threads > 0 {
        driver.clone()
    } else {
        Vec::new()
    };
    let list =
        |cpus: &[usize]| CpuSet::new(cpus.to_vec()).map_or_else(String::new, |set| set.to_string());
    let note = format!(
        "overlap (asked for by the scenario): the core runs on {} with a CPU per thread as far as there are CPUs, the driver{} on {} beside it; only cost per request and latency compare cores fairly",
        list(&core),
        if origin_threads > 0 {
            " and origins"
        } else {
            ""
        },
        list(&driver)
    );
    CpuPlan {
        allowed: ids.to_vec(),
        shared: true,
        core,
        driver,
        origin,
        note,
    }
}

/// Splits `allowed` for a core with `core_threads` threads, a driver with
/// `driver_threads` threads and an origin with `origin_threads` (0 when the
/// scenario has none).
pub fn plan(
    allowed: &CpuSet,
    core_threads: usize,
    driver_threads: usize,
    origin_threads: usize,
) -> CpuPlan {
    let ids = allowed.ids();
    let n = ids.len();
    let wanted = core_threads + driver_threads + origin_threads;
    let take = |from: usize, count: usize| -> Vec<usize> { ids[from..from + count].to_vec() };
    let (core, driver, origin, shared, note) = if n >= wanted {
        (
            take(0, core_threads),
            take(core_threads, driver_threads),
            take(core_threads + driver_threads, origin_threads),
            false,
            format!("disjoint: {wanted} of {n} CPUs used, one thread per CPU"),
        )
    } else if n >= 2 {
        // Keep the core on its own CPUs; driver and origin share the rest.
        let core_n = core_threads.min(n - 1);
        let rest = take(core_n, n - core_n);
        let origin = if origin_threads > 0 {
            rest.clone()
        } else {
            Vec::new()
        };
        (
            take(0, core_n),
            rest,
            origin,
            true,
            format!(
                "shared: {n} CPUs for {wanted} threads; the core keeps {core_n} CPU(s) to itself{}",
                if origin_threads > 0 {
                    ", driver and origin share the rest"
                } else {
                    ", the driver has the rest"
                }
            ),
        )
    } else {
        let only = take(0, 1);
        let origin = if origin_threads > 0 {
            only.clone()
        } else {
            Vec::new()
        };
        (
            only.clone(),
            only,
            origin,
            true,
            "shared: one CPU for everything; only cost per request compares fairly".to_owned(),
        )
    };
    // Oversubscription inside a role is sharing too.
    let shared = shared || core.len() < core_threads || driver.len() < driver_threads;
    CpuPlan {
        allowed: ids.to_vec(),
        core,
        driver,
        origin,
        shared,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpus(spec: &str) -> CpuSet {
        spec.parse().unwrap()
    }

    #[test]
    fn two_cpus_one_each_for_core_and_driver() {
        let p = plan(&cpus("0-1"), 1, 1, 0);
        assert_eq!(
            (p.core, p.driver, p.origin.len(), p.shared),
            (vec![0], vec![1], 0, false)
        );
    }

    #[test]
    fn two_cpus_with_an_origin_share_the_drivers_cpu() {
        let p = plan(&cpus("0-1"), 1, 1, 1);
        assert_eq!(
            (p.core, p.driver, p.origin, p.shared),
            (vec![0], vec![1], vec![1], true)
        );
    }

    #[test]
    fn big_machine_gets_disjoint_sets_in_order() {
        let p = plan(&cpus("0-15"), 4, 8, 2);
        assert_eq!(p.core, [0, 1, 2, 3]);
        assert_eq!(p.driver, (4..12).collect::<Vec<_>>());
        assert_eq!(p.origin, [12, 13]);
        assert!(!p.shared);
    }

    #[test]
    fn one_cpu_shares_everything_and_says_so() {
        let p = plan(&cpus("3"), 2, 2, 0);
        assert_eq!((p.core, p.driver), (vec![3], vec![3]));
        assert!(p.shared);
        assert!(p.note.contains("one CPU"));
    }

    #[test]
    fn overlap_gives_the_core_a_cpu_per_thread_and_the_driver_the_last() {
        use pb_scenario::CpuPlanKind::{Overlap, Split};
        let p = plan_for(Overlap, &cpus("0-1"), 2, 1, 1);
        assert_eq!(
            (p.core, p.driver, p.origin, p.shared),
            (vec![0, 1], vec![1], vec![1], true)
        );
        assert!(p.note.starts_with("overlap"), "{}", p.note);
        let q = plan_for(Overlap, &cpus("0-2"), 4, 1, 0);
        assert_eq!((q.core, q.driver), (vec![0, 1, 2], vec![2]));
        // With CPUs enough, overlap is the split plan.
        assert_eq!(
            plan_for(Overlap, &cpus("0-15"), 4, 8, 2),
            plan_for(Split, &cpus("0-15"), 4, 8, 2)
        );
    }

    #[test]
    fn core_asking_for_all_cpus_leaves_one_for_the_driver() {
        let p = plan(&cpus("0-3"), 4, 1, 0);
        assert_eq!((p.core, p.driver), (vec![0, 1, 2], vec![3]));
        assert!(p.shared);
    }
}
