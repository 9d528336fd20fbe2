//! External load clients: a cell with `client = "wrk"` is driven by wrk
//! instead of proxybench's driver, so a figure published with wrk can be
//! set beside the same core under proxybench's own client in one run.
//!
//! The core is accounted exactly as in any cell ([`crate::measure`]: CPU,
//! memory, /proc and perf counters, allocations), sampled just before the
//! measured wrk process starts and just after it exits: the core's CPU
//! per request then includes wrk opening its connections (the warm-up
//! was another process) and closing them, a few ms in seconds of load;
//! rates count over wrk's own measured time. Its resources are sampled
//! once (the trial has one interval). What
//! differs is the client's side: wrk checks nothing but status codes, so
//! its cells are marked as having unverified responses (the results'
//! `params.client`); its latency is its own (closed loop, from send to
//! response, µs resolution; responses that timed out are not in it), its
//! CPU is its process's (from the kernel's accounting of the child), and
//! its threads are not perf-counted.
//!
//! wrk runs whole seconds: the warm-up (a run of its own, discarded) and
//! the measured run are rounded up to a second, and the window is the
//! one wrk reports. A Lua script sets the method, body and headers of the
//! cell's requests and prints, when wrk is done, its totals, its errors by
//! kind, its exact percentiles, and its latency at every 0.1 % step, from
//! which the trial's histogram is rebuilt (so merging, charts and the
//! summary work as for any cell; the trial's own percentiles are wrk's).

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use pb_driver::{Backend, LoadReport, WindowEdge};
use pb_results::{Percentiles, hist};
use pb_scenario::{Cell, ExternalClient, RunSettings};
use pb_sys::CpuSet;

/// Steps of the latency distribution wrk prints (every 0.1 %).
const GRID: usize = 1000;

/// The percentiles a trial records, printed exactly by wrk.
const EXACT: [f64; 4] = [50.0, 90.0, 99.0, 99.9];

/// What wrk printed at the end of a run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WrkOutput {
    /// Responses received (any status).
    pub(crate) responses: u64,
    /// wrk's measured time, µs.
    pub(crate) duration_us: u64,
    /// Errors by kind (`connect`, `read`, `write`, `status`, `timeout`).
    pub(crate) errors: Vec<(&'static str, u64)>,
    /// Exact percentiles, largest and mean latency, µs.
    pub(crate) percentiles: Percentiles,
    /// Latency at the middle of every 0.1 % step, µs.
    pub(crate) grid: Vec<u64>,
}

/// The Lua script that shapes the cell's requests and prints the results
/// in lines this module parses.
fn script(cell: &Cell) -> String {
    let mut s = String::new();
    let http = cell.params.http.as_ref();
    if http.is_some_and(|h| h.method == pb_driver::http::Method::Post) {
        s.push_str("wrk.method = \"POST\"\n");
        s.push_str(&format!(
            "wrk.body = string.rep(\"x\", {})\n",
            cell.params.message_bytes
        ));
    }
    if http.is_some_and(|h| !h.keep_alive) {
        s.push_str("wrk.headers[\"Connection\"] = \"close\"\n");
    }
    let exact: Vec<String> = EXACT.iter().map(|p| p.to_string()).collect();
    s.push_str(&format!(
        r#"done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("pb-wrk responses=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
  io.write(string.format("pb-wrk-latency max=%d mean=%f\n", latency.max, latency.mean))
  for _, p in ipairs({{{exact}}}) do
    io.write(string.format("pb-wrk-p %g %d\n", p, latency:percentile(p)))
  end
  local grid = {{}}
  for k = 1, {GRID} do
    grid[k] = string.format("%d", latency:percentile((k - 0.5) * 100 / {GRID}))
  end
  io.write("pb-wrk-grid " .. table.concat(grid, " ") .. "\n")
end
"#,
        exact = exact.join(", "),
    ));
    s
}

/// Reads what the script printed.
pub(crate) fn parse(stdout: &str) -> Result<WrkOutput, String> {
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .ok_or_else(|| format!("wrk printed no `{}` line:\n{stdout}", prefix.trim()))
    };
    let fields = |text: &str| -> Result<Vec<(String, f64)>, String> {
        text.split_whitespace()
            .map(|kv| {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("wrk: unreadable field {kv:?}"))?;
                let v: f64 = v.parse().map_err(|_| format!("wrk: {k} is {v:?}"))?;
                Ok((k.to_owned(), v))
            })
            .collect()
    };
    let get = |fields: &[(String, f64)], name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("wrk printed no {name}"))
    };
    let totals = fields(line("pb-wrk ")?)?;
    let latency = fields(line("pb-wrk-latency ")?)?;
    let mut exact = Vec::new();
    for l in stdout.lines().filter_map(|l| l.strip_prefix("pb-wrk-p ")) {
        let (p, v) = l
            .split_once(' ')
            .ok_or_else(|| format!("wrk: unreadable percentile {l:?}"))?;
        let p: f64 = p.parse().map_err(|_| format!("wrk: percentile {p:?}"))?;
        let v: f64 = v.parse().map_err(|_| format!("wrk: latency {v:?}"))?;
        exact.push((p, v));
    }
    let at = |p: f64| {
        exact
            .iter()
            .find(|(q, _)| (q - p).abs() < 1e-9)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("wrk printed no p{p}"))
    };
    let grid: Vec<u64> = line("pb-wrk-grid ")?
        .split_whitespace()
        .map(|v| v.parse().map_err(|_| format!("wrk: grid value {v:?}")))
        .collect::<Result<_, String>>()?;
    if grid.len() != GRID {
        return Err(format!("wrk printed {} grid steps, not {GRID}", grid.len()));
    }
    let mut errors = Vec::new();
    for kind in ["connect", "read", "write", "status", "timeout"] {
        let n = get(&totals, kind)? as u64;
        if n > 0 {
            errors.push((kind, n));
        }
    }
    Ok(WrkOutput {
        responses: get(&totals, "responses")? as u64,
        duration_us: get(&totals, "duration_us")? as u64,
        errors,
        percentiles: Percentiles {
            p50: at(50.0)?,
            p90: at(90.0)?,
            p99: at(99.0)?,
            p999: at(99.9)?,
            max: get(&latency, "max")?,
            mean: get(&latency, "mean")?,
        },
        grid,
    })
}

/// The error kinds results use for wrk's.
fn error_kind(kind: &str) -> String {
    match kind {
        "status" => "wrk: status not 2xx or 3xx".into(),
        other => format!("wrk: {other} error"),
    }
}

/// The load a trial of `cell` puts on `target` through `client`, as a
/// driver report, with `on_edge` called as the measured run starts and
/// ends; wrk's exact percentiles go to `exact`.
pub(crate) fn run(
    client: ExternalClient,
    cell: &Cell,
    settings: &RunSettings,
    target: SocketAddr,
    cpus: Option<&CpuSet>,
    on_edge: &mut dyn FnMut(WindowEdge),
    exact: &mut Option<Percentiles>,
) -> Result<LoadReport, String> {
    let ExternalClient::Wrk = client;
    if !on_path("wrk") {
        return Err(
            "wrk is not installed (scripts/install-references.sh installs it from Debian's packages)"
                .into(),
        );
    }
    let mut file = tempfile::Builder::new()
        .prefix("pb-wrk-")
        .suffix(".lua")
        .tempfile()
        .map_err(|e| format!("wrk script: {e}"))?;
    file.write_all(script(cell).as_bytes())
        .map_err(|e| format!("wrk script: {e}"))?;
    let threads = settings.driver_threads.min(cell.params.connections).max(1);
    let path = match cell.params.http.as_ref().map(|h| h.method) {
        Some(pb_driver::http::Method::Get) | None => {
            format!("/?size={}", cell.params.message_bytes)
        }
        Some(pb_driver::http::Method::Post) => "/".to_owned(),
    };
    let url = format!("http://{target}{path}");
    let command = |seconds: u64| {
        let mut args: Vec<String> = Vec::new();
        if let Some(cpus) = cpus {
            args.extend(["taskset".into(), "-c".into(), cpus.to_string()]);
        }
        args.extend([
            "wrk".into(),
            format!("-t{threads}"),
            format!("-c{}", cell.params.connections),
            format!("-d{seconds}s"),
            "--timeout".into(),
            "5s".into(),
            "-s".into(),
            file.path().display().to_string(),
            url.clone(),
        ]);
        args
    };
    let whole = |s: f64| (s.ceil() as u64).max(1);
    if settings.warmup_s > 0.0 {
        run_command(&command(whole(settings.warmup_s)))?;
    }
    on_edge(WindowEdge::Start);
    let before = pb_sys::cpus::children_cpu_time();
    let stdout = run_command(&command(whole(settings.duration_s)));
    let cpu = pb_sys::cpus::children_cpu_time().saturating_sub(before);
    on_edge(WindowEdge::End);
    let out = parse(&stdout?)?;
    *exact = Some(out.percentiles);
    Ok(report(&out, cpu, threads))
}

/// A driver report of what wrk measured.
fn report(out: &WrkOutput, cpu: Duration, threads: usize) -> LoadReport {
    let status_errors = out
        .errors
        .iter()
        .find(|(k, _)| *k == "status")
        .map_or(0, |(_, n)| *n);
    // wrk counts responses; a wrong status is one that failed. Its
    // connect, read, write and timeout errors are kept by kind, but are
    // not request counts (a timeout is a sweep over connections, and a
    // late response counts both as a response and as a timeout), so they
    // are not in the books.
    let answered = out.responses.saturating_sub(status_errors);
    let histogram = rebuild(&out.grid, out.percentiles.max, answered);
    let window = Duration::from_micros(out.duration_us.max(1));
    let util = cpu.as_secs_f64() / (window.as_secs_f64() * threads as f64);
    LoadReport {
        mode: "closed",
        backend: Backend::Epoll,
        offered_rate: None,
        requests: answered,
        window,
        uncorrected: histogram.clone(),
        intervals: vec![histogram.clone()],
        histogram,
        interval: window,
        late_driver: 0,
        late_blocked: 0,
        max_lag: Duration::ZERO,
        errors: out
            .errors
            .iter()
            .map(|(k, n)| (error_kind(k), *n))
            .collect(),
        driver_cpu: cpu,
        driver_threads: threads,
        driver_bound: (util >= pb_driver::run::DRIVER_BOUND_UTIL).then(|| {
            format!(
                "wrk's CPU {:.0}% busy over {threads} thread(s); throughput is a lower bound for the target",
                util * 100.0
            )
        }),
        classes: Vec::new(),
        origins: (Vec::new(), Vec::new()),
        sent: out.responses,
        answered,
        failed: status_errors,
        start_late: None,
    }
}

/// A histogram of `n` latencies shaped like wrk's: step `k` of the grid
/// gets `round(k·m/G) − round((k−1)·m/G)` of the `m = n − 1` below the
/// largest, spread evenly whatever `n`, and the largest (`max_us`) is
/// recorded once, so the tail wrk saw is kept.
fn rebuild(grid: &[u64], max_us: f64, n: u64) -> hdrhistogram::Histogram<u64> {
    let mut histogram = hist::new_histogram();
    if n == 0 {
        return histogram;
    }
    let below = n - 1;
    let steps = grid.len() as u64;
    let upto = |k: u64| (k * below + steps / 2) / steps;
    for (k, &us) in (1..).zip(grid) {
        let count = upto(k) - upto(k - 1);
        if count > 0 {
            let _ = histogram.record_n(us.max(1) * 1000, count);
        }
    }
    let _ = histogram.record((max_us.max(1.0) * 1000.0) as u64);
    histogram
}

/// Runs a command to its end; its output, or why it failed.
fn run_command(args: &[String]) -> Result<String, String> {
    let output = Command::new(&args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", args[0]))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "`{}` failed ({}): {}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            stdout.trim()
        ));
    }
    Ok(stdout)
}

/// Whether a program of this name is on `PATH`.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(responses: u64, status: u64) -> String {
        let grid: Vec<String> = (1..=GRID).map(|k| (100 + k).to_string()).collect();
        format!(
            "Running 1s test\n  1000 requests in 1.00s\n\
             pb-wrk responses={responses} duration_us=1000000 connect=0 read=2 write=0 status={status} timeout=0\n\
             pb-wrk-latency max=2500 mean=600.5\n\
             pb-wrk-p 50 600\npb-wrk-p 90 1000\npb-wrk-p 99 1099\npb-wrk-p 99.9 1100\n\
             pb-wrk-grid {}\n",
            grid.join(" ")
        )
    }

    #[test]
    fn wrks_totals_errors_and_percentiles_are_read_and_a_histogram_rebuilt() {
        let out = parse(&printed(10_000, 10)).unwrap();
        assert_eq!(out.responses, 10_000);
        assert_eq!(out.errors, [("read", 2), ("status", 10)]);
        assert_eq!(out.percentiles.p999, 1100.0);
        assert_eq!(out.percentiles.max, 2500.0);
        let report = report(&out, Duration::from_millis(400), 1);
        // A response with a wrong status is no answer; a read error is
        // kept by kind, not as a request.
        assert_eq!(report.requests, 9_990);
        assert_eq!(report.histogram.len(), 9_990);
        assert_eq!((report.sent, report.failed), (10_000, 10));
        assert_eq!(report.errors["wrk: read error"], 2);
        // The rebuilt distribution's median is wrk's middle step, and
        // its largest value wrk's.
        let median_us = report.histogram.value_at_quantile(0.5) as f64 / 1000.0;
        assert!((median_us - 600.0).abs() <= 2.0, "{median_us}");
        assert!(report.histogram.max().abs_diff(2_500_000) <= 2_500);
        assert!(report.errors.contains_key("wrk: status not 2xx or 3xx"));
        assert!(report.driver_bound.is_none());
    }

    #[test]
    fn few_responses_spread_over_the_whole_distribution() {
        // 10 responses: not the ten lowest steps, but every tenth.
        let grid: Vec<u64> = (1..=GRID as u64).collect();
        let h = rebuild(&grid, 5000.0, 10);
        assert_eq!(h.len(), 10);
        let p50 = h.value_at_quantile(0.5) / 1000;
        assert!((400..=600).contains(&p50), "p50 {p50} µs");
        // The largest wrk saw is kept (to the histogram's precision).
        assert!(h.max().abs_diff(5_000_000) <= 5_000, "{}", h.max());
        assert!(rebuild(&grid, 5000.0, 0).is_empty());
    }

    #[test]
    fn missing_or_garbled_output_is_an_error_that_shows_it() {
        let err = parse("Running 1s test\nnothing else\n").unwrap_err();
        assert!(
            err.contains("pb-wrk") && err.contains("nothing else"),
            "{err}"
        );
        let short = printed(10, 0).replace("pb-wrk-grid 101 ", "pb-wrk-grid ");
        assert!(parse(&short).unwrap_err().contains("grid steps"));
    }

    #[test]
    fn the_script_shapes_the_cells_requests() {
        let file = pb_scenario::ScenarioFile::parse(
            "name = \"t\"\n[[cell]]\nscenario = \"http-forward\"\nmethod = \"POST\"\nbody_bytes = 64\nkeep_alive = false\nclient = \"wrk\"\n",
            std::path::Path::new("t.toml"),
        )
        .unwrap();
        let s = script(&file.cells[0]);
        assert!(s.contains("wrk.method = \"POST\""), "{s}");
        assert!(s.contains("string.rep(\"x\", 64)"), "{s}");
        assert!(s.contains("wrk.headers[\"Connection\"] = \"close\""), "{s}");
        assert!(s.contains("latency:percentile(p)"), "{s}");
    }
}
