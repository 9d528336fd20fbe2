//! The table `proxybench run` ends with: one block per scenario cell, one
//! row per core.

use std::fmt::Write as _;

use pb_report::factors::{Comparison, Factor};
use pb_results::{CellStatus, DIRECT, Results};

/// Renders the results as a fixed-width text table.
pub fn render(results: &Results) -> String {
    let mut out = String::new();
    let plan = &results.environment.cpu_plan;
    let _ = writeln!(
        out,
        "proxybench {} — {} — {} CPUs ({}), core on {:?}, driver on {:?}{}",
        results.tool_version,
        results.scenario.name,
        results.environment.cpu_count,
        results.environment.cpu_model,
        plan.core,
        plan.driver,
        if plan.shared { " (shared)" } else { "" },
    );
    // Core names run from `direct` to `tokio-tpc/tower-buffer`: one column
    // width for the whole table.
    let w = results
        .cells
        .iter()
        .map(|c| c.core.chars().count())
        .max()
        .unwrap_or(4)
        .max(13);
    let mut current = None;
    for cell in &results.cells {
        let label = cell.label();
        if current != Some(label) {
            current = Some(label);
            let _ = writeln!(
                out,
                "\n{label}  ({} trials x {} s, {} connections x {} in flight)",
                cell.params.trials,
                cell.params.duration_s,
                cell.params.connections,
                cell.params.in_flight
            );
            let _ = writeln!(
                out,
                "  {:<w$} {:>26} {:>9} {:>9} {:>9} {:>10} {:>10} {:>5} {:>9} {:>9} {:>10} {:>7}  notes",
                "core",
                "req/s median [min–max]",
                "p50 µs",
                "p99 µs",
                "p99.9 µs",
                "core µs/req",
                "drv µs/req",
                "sys%",
                "sysc/req",
                "ctxsw/req",
                "allocs/req",
                "errors"
            );
        }
        match (&cell.status, &cell.summary) {
            (CellStatus::Ok, Some(s)) => {
                let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
                let qps = format!("{} [{}–{}]", si(s.qps), si(s.qps_min), si(s.qps_max));
                let mut notes = Vec::new();
                if !cell.conformance_failures.is_empty() {
                    notes.push(format!(
                        "FAILS {} conformance case(s)",
                        cell.conformance_failures.len()
                    ));
                }
                if let Some(client) = &cell.params.client {
                    notes.push(format!("unverified responses ({client})"));
                }
                if s.driver_bound {
                    notes.push("driver-bound".to_owned());
                }
                if let (Some(own), Some(nginx)) = (s.cpu_us_per_req, nginx_cpu(results, label))
                    && cell.core != NGINX
                {
                    notes.push(format!("CPU/req {:.2}x nginx", own / nginx));
                }
                if let (Some(rate), Some(u)) = (cell.params.rate, &s.latency_uncorrected_us) {
                    notes.push(format!(
                        "open loop at {}/s; uncorrected p99 {:.1} µs",
                        si(rate),
                        u.p99
                    ));
                }
                if s.errors > 0 {
                    let kinds: Vec<_> = s
                        .errors_by_kind
                        .iter()
                        .map(|(k, n)| format!("{k} x{n}"))
                        .collect();
                    notes.push(kinds.join(", "));
                }
                // The kernel's share: system CPU, syscalls (perf; "n/a"
                // when it could not count) and context switches (/proc).
                let kernel = s.kernel.as_ref();
                let sys = kernel
                    .and_then(|k| k.sys_share())
                    .map_or("-".to_owned(), |v| format!("{:.0}", v * 100.0));
                let syscalls = match kernel {
                    Some(k) => k
                        .perf("syscalls")
                        .map_or("n/a".to_owned(), |v| format!("{v:.2}")),
                    None => "-".to_owned(),
                };
                let switches = kernel.map_or("-".to_owned(), |k| {
                    format!(
                        "{:.2}",
                        k.voluntary_switches_per_req + k.involuntary_switches_per_req
                    )
                });
                // Allocations: "n/a" for a core that cannot count them.
                let allocations = match kernel {
                    Some(k) => k
                        .allocations_per_req
                        .map_or("n/a".to_owned(), |v| format!("{v:.2}")),
                    None => "-".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "  {:<w$} {:>26} {:>9.1} {:>9.1} {:>9.1} {:>10} {:>10} {:>5} {:>9} {:>9} {:>10} {:>7}  {}",
                    cell.core,
                    qps,
                    s.latency_us.p50,
                    s.latency_us.p99,
                    s.latency_us.p999,
                    opt(s.cpu_us_per_req),
                    opt(s.driver_cpu_us_per_req),
                    sys,
                    syscalls,
                    switches,
                    allocations,
                    s.errors,
                    notes.join("; ")
                );
            }
            (CellStatus::Ok, None) => {}
            (status, _) => {
                let word = match status {
                    CellStatus::Unavailable => "unavailable",
                    _ => "FAILED",
                };
                let _ = writeln!(
                    out,
                    "  {:<w$} {word}: {}",
                    cell.core,
                    cell.reason.as_deref().unwrap_or("no trial completed")
                );
            }
        }
    }
    for grid in pb_report::grid::grids(results) {
        render_grid(&mut out, &grid);
    }
    for factor in [Factor::Driver, Factor::Network] {
        for comparison in pb_report::factors::comparisons(results, factor) {
            render_comparison(&mut out, &comparison, w);
        }
    }
    let over_direct = added_over_direct(results);
    if !over_direct.is_empty() {
        let _ = writeln!(
            out,
            "\nadded by the proxy over direct (driver straight to an origin), medians:"
        );
        for line in over_direct {
            let _ = writeln!(out, "  {line}");
        }
    }
    let searches: Vec<_> = results
        .cells
        .iter()
        .filter_map(|c| c.rate_search.as_ref().map(|r| (c, r)))
        .collect();
    if !searches.is_empty() {
        let _ = writeln!(
            out,
            "\nrate search (highest open-loop rate meeting the bound, corrected latency):"
        );
        for (cell, search) in searches {
            let found = search
                .found_rate
                .map_or("none met it".to_owned(), |r| format!("{} req/s", si(r)));
            let _ = writeln!(
                out,
                "  {:<40} p{}<={:.0} µs: {found} ({} steps)",
                cell.id,
                search.percentile,
                search.bound_us,
                search.points.len()
            );
        }
    }
    render_soak(&mut out, results, w);
    if results
        .cells
        .iter()
        .any(|c| c.summary.as_ref().is_some_and(|s| s.driver_bound))
    {
        let _ = writeln!(
            out,
            "\ndriver-bound: the driver's CPU was saturated, so req/s is a floor for that core, not its limit;\ncompare cores by core µs/req and latency instead."
        );
    }
    let _ = writeln!(
        out,
        "
sys%: the core's CPU spent in the kernel; sysc/req: system calls per request (perf); ctxsw/req: context switches per request (/proc);
allocs/req: heap allocations per request (counted inside the proxybench binary; n/a for reference programs)."
    );
    if let Some(reason) = results
        .cells
        .iter()
        .filter_map(|c| c.summary.as_ref()?.kernel.as_ref())
        .find_map(|k| k.perf_unavailable.as_deref())
    {
        let _ = writeln!(out, "sysc/req n/a: {reason}");
    }
    out
}

/// One load at each level of a factor: each core's CPU per request and
/// what explains it (under each driver: the requests its every wake-up
/// brought, the driver's system calls and CPU per request; across each
/// network: p99 and requests per wake-up), then whether the cheapest core
/// changed.
fn render_comparison(out: &mut String, pair: &Comparison, w: usize) {
    let what = match pair.factor {
        Factor::Driver => {
            "under each driver, core µs/req median (requests per core wake-up; driver syscalls/req, driver µs/req)"
        }
        Factor::Network => {
            "across each network, core µs/req median (p99 µs; requests per core wake-up)"
        }
    };
    let _ = writeln!(out, "\n{}: {what}", pair.label);
    let col = 38;
    let mut header = format!("  {:<w$}", "core");
    for level in &pair.levels {
        let _ = write!(header, " {level:>col$}");
    }
    let _ = writeln!(out, "{header}");
    let num = |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
    for row in &pair.rows {
        let mut line = format!("  {:<w$}", row.core);
        for side in &row.sides {
            let text = side
                .as_ref()
                .map_or("did not run".to_owned(), |s| match pair.factor {
                    Factor::Driver => format!(
                        "{} ({}/wake; {} sysc, {} µs)",
                        num(s.cpu_us_per_req, 1),
                        num(s.requests_per_wakeup(), 1),
                        num(s.driver_syscalls_per_req, 2),
                        num(s.driver_cpu_us_per_req, 1),
                    ),
                    Factor::Network => format!(
                        "{} (p99 {}; {}/wake)",
                        num(s.cpu_us_per_req, 1),
                        num(s.p99_us, 0),
                        num(s.requests_per_wakeup(), 1),
                    ),
                });
            let _ = write!(line, " {text:>col$}");
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "  {}", pair.verdict());
}

/// The soak verdicts, one row per trial judged: where memory and
/// descriptors started and ended, and what failed.
fn render_soak(out: &mut String, results: &Results, w: usize) {
    let judged: Vec<_> = results
        .cells
        .iter()
        .flat_map(|c| c.trials.iter().map(move |t| (c, t)))
        .filter_map(|(c, t)| Some((c, t, t.soak.as_ref()?)))
        .collect();
    if judged.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "
soak (RSS growth < {:.0} % after warm-up, descriptors flat, no error)",
        pb_results::soak::RSS_GROWTH_LIMIT * 100.0
    );
    let _ = writeln!(
        out,
        "  {:<w$} {:>7} {:>18} {:>8} {:>12} {:>7}  verdict",
        "core", "samples", "RSS KiB first→last", "growth", "fds first→last", "errors"
    );
    for (cell, trial, v) in judged {
        let _ = writeln!(
            out,
            "  {:<w$} {:>7} {:>18} {:>7.2}% {:>12} {:>7}  {}",
            cell.core,
            v.samples,
            format!("{}→{}", v.rss_first_bytes >> 10, v.rss_last_bytes >> 10),
            v.rss_growth * 100.0,
            format!("{}→{}", v.fds_first_quarter, v.fds_last_quarter),
            trial.errors,
            if v.passed {
                "held".to_owned()
            } else {
                format!("FAILED: {}", v.reasons.join("; "))
            }
        );
    }
}

/// The reference every core's CPU per request is also given as a ratio
/// to, when a cell ran it: "how far is this from nginx?".
const NGINX: &str = "nginx";

/// nginx's median CPU µs per request in the cell group `label`.
fn nginx_cpu(results: &Results, label: &str) -> Option<f64> {
    results
        .cells
        .iter()
        .find(|c| c.label() == label && c.core == NGINX && c.status == CellStatus::Ok)
        .and_then(|c| c.summary.as_ref()?.cpu_us_per_req)
}

/// One scenario cell's runtime × composition grid (core CPU µs/req
/// median and p99 per cell) and its effect sentences.
fn render_grid(out: &mut String, grid: &pb_report::grid::Grid) {
    let _ = writeln!(
        out,
        "\n{}: runtime x composition, core µs/req median [min–max] / p99 µs",
        grid.label
    );
    let _ = write!(out, "  {:<13}", "");
    for composition in &grid.compositions {
        let _ = write!(out, " {composition:>24}");
    }
    out.push('\n');
    for (row, runtime) in grid.runtimes.iter().enumerate() {
        let _ = write!(out, "  {runtime:<13}");
        for entry in &grid.entries[row] {
            let text = match entry {
                Some(e) => {
                    let cpu = e.cpu_us_per_req.map_or("-".into(), |c| format!("{c:.1}"));
                    let range = e
                        .cpu_range
                        .map_or(String::new(), |(lo, hi)| format!(" [{lo:.1}–{hi:.1}]"));
                    let p99 = e.p99_us.map_or("-".into(), |p| format!("{p:.0}"));
                    format!("{cpu}{range} / {p99}")
                }
                None => "·".into(),
            };
            let _ = write!(out, " {text:>24}");
        }
        out.push('\n');
    }
    // The terminal shows what stands out; the report lists every
    // comparison.
    let effects = grid.effects();
    let interactions = grid.interactions();
    if effects.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "  effects on core CPU per request (Hodges-Lehmann shift, 95 % interval):"
    );
    let clear: Vec<String> = effects
        .iter()
        .filter(|e| e.is_clear())
        .map(|e| e.sentence())
        .chain(
            interactions
                .iter()
                .filter(|i| i.is_clear())
                .map(|i| i.sentence()),
        )
        .collect();
    for sentence in &clear {
        let _ = writeln!(out, "    {sentence}");
    }
    let rest = effects.len() + interactions.len() - clear.len();
    if rest > 0 {
        let _ = writeln!(
            out,
            "    {rest} more comparisons within noise or too few trials to bound (the report lists them)"
        );
    }
}

/// For each cell group with a `direct` baseline, what every core adds:
/// latency at p50/p99 and CPU per request (the core's own CPU; the
/// origin's work is the same with or without a proxy).
fn added_over_direct(results: &Results) -> Vec<String> {
    let mut lines = Vec::new();
    let w = results
        .cells
        .iter()
        .map(|c| c.id.chars().count())
        .max()
        .unwrap_or(0);
    for direct in results.cells.iter().filter(|c| c.core == DIRECT) {
        let Some(base) = &direct.summary else {
            continue;
        };
        for cell in results
            .cells
            .iter()
            .filter(|c| c.core != DIRECT && c.label() == direct.label())
        {
            let Some(s) = &cell.summary else { continue };
            lines.push(format!(
                "{:<w$} +{:>8.1} µs p50  +{:>8.1} µs p99  {:>7} µs CPU/req",
                cell.id,
                s.latency_us.p50 - base.latency_us.p50,
                s.latency_us.p99 - base.latency_us.p99,
                s.cpu_us_per_req.map_or("-".into(), |c| format!("{c:.2}")),
            ));
        }
    }
    lines
}

/// 123456.0 -> "123.5k".
fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}
