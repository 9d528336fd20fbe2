//! Results as a flat table for notebooks, spreadsheets and dashboards:
//! one CSV row per trial of every cell (a cell that could not run gets one
//! row with its status and reason and empty figures), with the columns a
//! reader would otherwise dig out of the nested JSON. Histograms stay in
//! the results file (and in `.hgrm` / `.hlog`, [`crate::hdr`]): a table
//! cell is the wrong place for them.
//!
//! The column set is [`COLUMNS`]; it only grows, new columns at the end,
//! so a notebook that reads columns by name keeps working.

use serde::Serialize;

use crate::{Cell, CellStatus, KernelWork, Results, Trial};

/// One row: a trial of a cell, or a cell without trials.
#[derive(Debug, Serialize)]
struct Row<'a> {
    run_id: &'a str,
    git_revision: &'a str,
    cell: &'a str,
    scenario: &'a str,
    core: &'a str,
    status: &'static str,
    reason: Option<&'a str>,
    mode: &'a str,
    rate: Option<f64>,
    message_bytes: usize,
    connections: usize,
    in_flight: usize,
    core_threads: usize,
    method: Option<&'a str>,
    trial: Option<u32>,
    sequence: Option<u32>,
    window_s: Option<f64>,
    requests: Option<u64>,
    qps: Option<f64>,
    errors: Option<u64>,
    p50_us: Option<f64>,
    p90_us: Option<f64>,
    p99_us: Option<f64>,
    p999_us: Option<f64>,
    max_us: Option<f64>,
    core_cpu_us_per_req: Option<f64>,
    driver_cpu_us_per_req: Option<f64>,
    driver_util: Option<f64>,
    driver_bound: Option<bool>,
    rss_max_bytes: Option<u64>,
    user_cpu_us_per_req: Option<f64>,
    sys_cpu_us_per_req: Option<f64>,
    syscalls_per_req: Option<f64>,
    context_switches_per_req: Option<f64>,
    uring_submits_per_req: Option<f64>,
    allocations_per_req: Option<f64>,
}

/// The header, in order.
pub const COLUMNS: [&str; 36] = [
    "run_id",
    "git_revision",
    "cell",
    "scenario",
    "core",
    "status",
    "reason",
    "mode",
    "rate",
    "message_bytes",
    "connections",
    "in_flight",
    "core_threads",
    "method",
    "trial",
    "sequence",
    "window_s",
    "requests",
    "qps",
    "errors",
    "p50_us",
    "p90_us",
    "p99_us",
    "p999_us",
    "max_us",
    "core_cpu_us_per_req",
    "driver_cpu_us_per_req",
    "driver_util",
    "driver_bound",
    "rss_max_bytes",
    "user_cpu_us_per_req",
    "sys_cpu_us_per_req",
    "syscalls_per_req",
    "context_switches_per_req",
    "uring_submits_per_req",
    "allocations_per_req",
];

fn status(s: CellStatus) -> &'static str {
    match s {
        CellStatus::Ok => "ok",
        CellStatus::Unavailable => "unavailable",
        CellStatus::Failed => "failed",
    }
}

impl<'a> Row<'a> {
    fn new(results: &'a Results, cell: &'a Cell, trial: Option<&'a Trial>) -> Row<'a> {
        let p = &cell.params;
        let kernel = trial.and_then(|t| t.kernel.as_ref());
        let lat = trial.map(|t| &t.latency_us);
        Row {
            run_id: &results.run_id,
            git_revision: &results.environment.git_revision,
            cell: &cell.id,
            scenario: &cell.scenario,
            core: &cell.core,
            status: status(cell.status),
            reason: cell.reason.as_deref(),
            mode: &p.mode,
            rate: p.rate,
            message_bytes: p.message_bytes,
            connections: p.connections,
            in_flight: p.in_flight,
            core_threads: p.core_threads,
            method: p.http.as_ref().map(|h| h.method.as_str()),
            trial: trial.map(|t| t.index),
            sequence: trial.map(|t| t.sequence),
            window_s: trial.map(|t| t.window_s),
            requests: trial.map(|t| t.requests),
            qps: trial.map(|t| t.qps),
            errors: trial.map(|t| t.errors),
            p50_us: lat.map(|l| l.p50),
            p90_us: lat.map(|l| l.p90),
            p99_us: lat.map(|l| l.p99),
            p999_us: lat.map(|l| l.p999),
            max_us: lat.map(|l| l.max),
            core_cpu_us_per_req: trial.and_then(|t| t.cpu_us_per_req),
            driver_cpu_us_per_req: trial.and_then(|t| t.driver_cpu_us_per_req),
            driver_util: trial.map(|t| t.driver_util),
            driver_bound: trial.map(|t| t.driver_bound),
            rss_max_bytes: trial.map(|t| t.rss_max_bytes),
            user_cpu_us_per_req: kernel.and_then(|k| k.user_cpu_us_per_req),
            sys_cpu_us_per_req: kernel.and_then(|k| k.sys_cpu_us_per_req),
            syscalls_per_req: kernel.and_then(|k| k.perf("syscalls")),
            context_switches_per_req: kernel.map(KernelWork::context_switches),
            uring_submits_per_req: kernel.and_then(|k| k.perf("uring_submits")),
            allocations_per_req: kernel.and_then(|k| k.allocations_per_req),
        }
    }
}

/// Writes `results` as CSV (header first) to `out`.
pub fn write_csv<W: std::io::Write>(results: &Results, out: W) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    for cell in &results.cells {
        if cell.trials.is_empty() {
            w.serialize(Row::new(results, cell, None))?;
        }
        for trial in &cell.trials {
            w.serialize(Row::new(results, cell, Some(trial)))?;
        }
    }
    if results.cells.is_empty() {
        w.write_record(COLUMNS)?;
    }
    w.flush()?;
    Ok(())
}
