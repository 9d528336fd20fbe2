//! A whole, plausible results file for tests to start from: one open-loop
//! echo cell with one trial built from a histogram. Each test changes the
//! fields it is about.
#![allow(dead_code)]

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use pb_results::*;

/// A histogram of `values` (ns).
pub(crate) fn histogram(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
    let mut h = hist::new_histogram();
    for v in values {
        h.record(v).unwrap();
    }
    h
}

/// A one-second trial that recorded `h`, corrected and uncorrected alike.
pub(crate) fn trial(h: &Histogram<u64>) -> Trial {
    Trial {
        index: 0,
        sequence: 0,
        window_s: 1.0,
        requests: h.len(),
        qps: h.len() as f64,
        errors: 0,
        errors_by_kind: BTreeMap::new(),
        latency_us: hist::percentiles(h),
        histogram: hist::encode(h),
        core_cpu_us: 10.0,
        cpu_us_per_req: Some(10.0 / h.len().max(1) as f64),
        driver_cpu_us: 5.0,
        driver_cpu_us_per_req: Some(5.0 / h.len().max(1) as f64),
        driver_util: 0.1,
        rss_max_bytes: 4096,
        driver_bound: false,
        driver_bound_reason: None,
        latency_uncorrected_us: Some(hist::percentiles(h)),
        histogram_uncorrected: Some(hist::encode(h)),
        late_driver: 0,
        late_blocked: 0,
        max_lag_us: 0.0,
        intervals: vec![IntervalPoint {
            start_s: 0.0,
            length_s: 1.0,
            requests: h.len(),
            qps: h.len() as f64,
            latency_us: hist::percentiles(h),
            histogram: hist::encode(h),
            origins: [
                ("old-1".to_string(), h.len() / 2),
                ("new-1".to_string(), h.len() - h.len() / 2),
            ]
            .into_iter()
            .collect(),
            resources: Some(Resources {
                rss_bytes: 4096,
                fds: 60,
                sockets: 54,
            }),
        }],
        kernel: Some(pb_results::KernelWork {
            user_cpu_us_per_req: Some(7.5),
            sys_cpu_us_per_req: Some(4.5),
            voluntary_switches_per_req: 1.2,
            involuntary_switches_per_req: 0.1,
            perf_per_req: [
                ("syscalls", 6.0),
                ("reads", 2.0),
                ("writes", 2.0),
                ("waits", 1.0),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
            perf_unavailable: None,
            allocations_per_req: Some(3.0),
            alloc_bytes_per_req: Some(240.0),
            allocations_unavailable: None,
        }),
        driver_kernel: Some(pb_results::DriverKernel {
            perf_per_req: [("syscalls", 3.0), ("waits", 0.5)]
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            perf_unavailable: None,
        }),
        classes: Vec::new(),
        threads: vec![
            pb_results::ThreadCpu {
                name: "monoio-0".into(),
                cpu_us: 900.0,
            },
            pb_results::ThreadCpu {
                name: "monoio-1".into(),
                cpu_us: 300.0,
            },
        ],
        soak: Some(pb_results::soak::SoakVerdict {
            samples: 600,
            rss_first_bytes: 4096,
            rss_last_bytes: 4096,
            rss_growth: 0.0,
            fds_first_quarter: 60,
            fds_last_quarter: 60,
            errors: 0,
            passed: true,
            reasons: Vec::new(),
        }),
        start_late_ms: None,
        fleet: None,
    }
}

/// A results file whose one cell (`echo/100B/c10x1@1000rps/<core>`) ran
/// `trial`, summarised.
pub(crate) fn results(run_id: &str, core: &str, trial: Trial) -> Results {
    let summary = Summary::from_trials(std::slice::from_ref(&trial)).unwrap();
    Results {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.into(),
        started_at: "2026-11-26T22:15:30Z".into(),
        finished_at: "2026-11-26T22:15:31Z".into(),
        tool_version: "0.1.0".into(),
        scenario: ScenarioRef {
            source: "proxybench load".into(),
            name: "load".into(),
        },
        environment: Environment {
            kernel: "Linux 6.1".into(),
            cpu_model: "x".into(),
            cpu_count: 2,
            rustc: "rustc 1.95.0".into(),
            git_revision: "abc".into(),
            build_profile: "release".into(),
            io_uring: IoUringStatus {
                available: true,
                detail: "ok".into(),
            },
            memlock_limit_bytes: None,
            cpu_plan: CpuPlan {
                allowed: vec![0, 1],
                core: vec![0],
                driver: vec![1],
                origin: vec![],
                shared: false,
                note: "disjoint".into(),
            },
        },
        cores: vec![CoreStatus {
            name: core.into(),
            runtime: "-".into(),
            service: "-".into(),
            available: true,
            reason: None,
            grid: None,
            reference: false,
        }],
        cells: vec![Cell {
            id: format!("echo/100B/c10x1@1000rps/{core}"),
            scenario: "echo".into(),
            core: core.into(),
            status: CellStatus::Ok,
            reason: None,
            params: CellParams {
                mode: "open".into(),
                rate: Some(1000.0),
                message_bytes: 100,
                connections: 10,
                in_flight: 1,
                warmup_s: 0.0,
                duration_s: 1.0,
                trials: 1,
                core_threads: 1,
                driver_threads: 1,
                driver: "epoll".into(),
                client: None,
                core_spin_iters: 0,
                http: None,
                tcp: None,
                network: None,
            },
            trials: vec![trial],
            rate_search: None,
            core_exit: None,
            conformance_failures: Vec::new(),
            program_config: None,
            network: None,
            summary,
        }],
        merged_from: vec![],
        conformance: None,
    }
}
