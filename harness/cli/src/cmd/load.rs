//! `proxybench load`: the driver alone, closed or open loop, optionally a
//! rate search; `--out` writes a results file that `proxybench merge` can
//! combine with files from other driver processes or hosts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use pb_driver::LoadSpec;
use pb_driver::http::Method;
use pb_driver::search::{LatencyBound, SearchSpec};
use pb_process::ProcSampler;
use pb_results::{Cell, CoreStatus, CpuPlan, Results, ScenarioRef, Summary};
use pb_runner::measure::{measure, rate_search};
use pb_sys::CpuSet;

use crate::Outcome;

/// Options of `load`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address of an echo server (a core started with `proxybench proxy`, or any).
    #[arg(long)]
    target: SocketAddr,
    /// Bytes per message (echo), or per body (HTTP).
    #[arg(long, default_value_t = 100)]
    message_bytes: usize,
    /// Speak HTTP/1.1 instead of echo: GET asks the origin for a
    /// `--message-bytes` body, POST sends one and expects it echoed.
    #[arg(long, value_enum)]
    http: Option<HttpMethod>,
    /// HTTP: a new connection for every request.
    #[arg(long, requires = "http")]
    connection_per_request: bool,
    /// Concurrent connections.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Messages in flight per connection (1 = ping-pong); the most in flight in open loop.
    #[arg(long, default_value_t = 1)]
    in_flight: usize,
    /// Open loop: requests per second in total, spread over the connections;
    /// latency is then measured from each request's intended send time.
    #[arg(long)]
    rate: Option<f64>,
    /// Search for the highest rate meeting a bound, e.g. `p99<=1ms`.
    #[arg(long, conflicts_with = "rate")]
    rate_search: Option<LatencyBound>,
    /// First rate a search tries.
    #[arg(long, default_value_t = 1000.0, requires = "rate_search")]
    search_start: f64,
    /// Highest rate a search offers.
    #[arg(long, default_value_t = 2_000_000.0, requires = "rate_search")]
    search_max: f64,
    /// Warm-up seconds (not recorded).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Measured seconds (per step in a rate search).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds per latency/throughput interval.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Driver threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The driver's I/O model: epoll (a tokio runtime per thread) or
    /// io_uring (a monoio runtime per thread).
    #[arg(long, default_value = "epoll", value_parser = parse_driver)]
    driver: pb_driver::Backend,
    /// CPUs for the driver threads.
    #[arg(long)]
    cpus: Option<CpuSet>,
    /// Process id of the target on this host, to account its CPU and RSS.
    #[arg(long)]
    core_pid: Option<u32>,
    /// Name the target in the results file (e.g. the core behind the address).
    #[arg(long, default_value = "external")]
    core_name: String,
    /// Write a results file (mergeable with `proxybench merge`); `-`
    /// writes it to standard output (and what is otherwise printed there
    /// to standard error), as a driver fleet's hosts do.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Begin the warm-up at this instant (Unix time in nanoseconds, by
    /// this host's clock) rather than once set up: the shared start of a
    /// driver fleet (`proxybench run --drivers` gives each host the
    /// instant in its own clock), so every host's window opens together.
    /// At most two minutes ahead; the results record how late the load
    /// really began.
    #[arg(long, value_name = "UNIX_NS", conflicts_with = "rate_search")]
    start_at: Option<u64>,
    /// Stop at once when standard input closes: a fleet's runner keeps it
    /// open over SSH while it wants the load, so a session it abandons
    /// ends the load instead of leaving it running against a core.
    #[arg(long, hide = true)]
    until_stdin_closes: bool,
    /// Also write HdrHistogram .hgrm/.hlog files into this directory.
    #[arg(long)]
    hdr: Option<PathBuf>,
    /// Print the trial as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    if args.until_stdin_closes {
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            eprintln!(
                "proxybench load: standard input closed (the fleet's runner went away): stopping"
            );
            std::process::exit(2);
        });
    }
    let seconds = |v: f64, name: &str| {
        Duration::try_from_secs_f64(v)
            .map_err(|_| anyhow::anyhow!("--{name} must be a non-negative number of seconds"))
    };
    let (warmup, duration) = (
        seconds(args.warmup, "warmup")?,
        seconds(args.duration, "duration")?,
    );
    // A one-cell scenario: the same cell -> load spec -> id -> results
    // cell path as `proxybench run`, so merge, gate and report match a
    // driver's file with a run's cells.
    let cell = pb_scenario::Cell {
        scenario: if args.http.is_some() {
            pb_core::Scenario::HttpForward
        } else {
            pb_core::Scenario::Echo
        },
        cores: None,
        params: pb_scenario::CellParams {
            message_bytes: args.message_bytes,
            connections: args.connections,
            in_flight: args.in_flight,
            rate: args.rate,
            http: args.http.map(|method| pb_scenario::HttpParams {
                method: method.into(),
                keep_alive: !args.connection_per_request,
                origins: 1,
                policy: pb_core::config::Policy::RoundRobin,
                work: None,
                filter: None,
            }),
            tcp: None,
            driver: args.driver,
            client: None,
            // A driver host's own network is whatever it stands on.
            network: None,
        },
        rate_search: args.rate_search,
        origin: "proxybench load".into(),
    };
    let settings = pb_scenario::RunSettings {
        trials: 1,
        warmup_s: warmup.as_secs_f64(),
        duration_s: duration.as_secs_f64(),
        core_threads: 1,
        driver_threads: args.threads,
        search_step_s: duration.as_secs_f64(),
        search_start_rate: args.search_start,
        search_max_rate: args.search_max,
        core_spin_iters: 0,
        cpu_plan: pb_scenario::CpuPlanKind::Split,
        soak: false,
    };
    let spec = LoadSpec {
        interval: seconds(args.interval, "interval")?,
        start_at: args.start_at.map(start_instant).transpose()?,
        ..cell.load_spec(&settings, args.target, args.cpus.clone())
    };
    spec.validate().map_err(|e| anyhow::anyhow!(e))?;
    let target = args.core_pid.map(ProcSampler::new);
    let started = SystemTime::now();
    let mut result_cell = cell.results_cell(&args.core_name, &settings);
    if let Some(http) = &mut result_cell.params.http {
        // The target was configured by whoever started it, not by
        // proxybench: its balancing policy is not known.
        http.policy = "-".into();
    }

    let to_stdout = args.out.as_deref() == Some(std::path::Path::new("-"));
    let say = |text: String| {
        if to_stdout {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    };
    if let Some(bound) = args.rate_search {
        let search = SearchSpec::new(bound, args.search_start, args.search_max);
        let result = rate_search(&spec, &search, |p| {
            eprintln!(
                "{:>10.0} req/s offered  {:>10.0} done  p50 {:>9.1} µs  p99 {:>9.1} µs  p99.9 {:>9.1} µs  errors {}  {}{}",
                p.offered,
                p.achieved,
                p.latency_us.p50,
                p.latency_us.p99,
                p.latency_us.p999,
                p.errors,
                if p.ok { "meets " } else { "misses " },
                bound,
            )
        })
        .map_err(|e| anyhow::anyhow!(e))?;
        match result.found_rate {
            Some(rate) => say(format!(
                "highest rate meeting {bound}: {rate:.0} req/s ({} steps)",
                result.points.len()
            )),
            None => say(format!(
                "no rate from {} req/s down met {bound}",
                args.search_start
            )),
        }
        result_cell.rate_search = Some(result);
    } else {
        let trial = measure(&spec, target, 0, 0).map_err(|e| anyhow::anyhow!(e))?;
        if args.json {
            say(serde_json::to_string_pretty(&trial)?);
        } else {
            say(trial_text(&trial, args.rate));
        }
        result_cell.trials.push(trial);
        result_cell.summary = Summary::from_trials(&result_cell.trials)?;
    }

    let errors = result_cell.summary.as_ref().map_or(0, |s| s.errors);
    let results = results_file(&args, result_cell, started)?;
    match &args.out {
        Some(_) if to_stdout => crate::print(&serde_json::to_string_pretty(&results)?)?,
        Some(path) => {
            pb_results::io::write_results_file(&results, path)?;
            eprintln!("results: {}", path.display());
        }
        None => {}
    }
    if let Some(dir) = &args.hdr {
        let files = pb_results::hdr::write_hdr_files(&results, dir)?;
        eprintln!("HdrHistogram files: {} in {}", files.len(), dir.display());
    }
    Ok(if errors == 0 {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

/// A `--driver` value.
pub(crate) fn parse_driver(name: &str) -> Result<pb_driver::Backend, String> {
    pb_driver::Backend::from_name(name).ok_or_else(|| {
        let known: Vec<_> = pb_driver::Backend::ALL.iter().map(|b| b.name()).collect();
        format!("unknown driver {name:?}; known: {}", known.join(", "))
    })
}

/// HTTP method of `load --http`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum HttpMethod {
    /// GET a generated body.
    Get,
    /// POST a body to be echoed.
    Post,
}

impl From<HttpMethod> for Method {
    fn from(method: HttpMethod) -> Method {
        match method {
            HttpMethod::Get => Method::Get,
            HttpMethod::Post => Method::Post,
        }
    }
}

/// `--start-at`'s instant, refused when it is more than two minutes
/// ahead (a clock that far off, or a mistyped value, would otherwise hold
/// the driver for as long).
fn start_instant(at_ns: u64) -> anyhow::Result<SystemTime> {
    let at = std::time::UNIX_EPOCH + Duration::from_nanos(at_ns);
    if let Ok(ahead) = at.duration_since(SystemTime::now()) {
        anyhow::ensure!(
            ahead <= Duration::from_secs(120),
            "--start-at is {:.0} s ahead of this host's clock; at most 120 (are the clocks that far apart?)",
            ahead.as_secs_f64()
        );
    }
    Ok(at)
}

fn trial_text(t: &pb_results::Trial, rate: Option<f64>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let p = &t.latency_us;
    let offered = rate.map_or(String::new(), |r| format!(" of {r:.0} offered"));
    let _ = writeln!(
        out,
        "{:.0} req/s{offered} over {:.1} s ({} requests), latency µs p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}",
        t.qps, t.window_s, t.requests, p.p50, p.p90, p.p99, p.p999, p.max
    );
    if let (Some(_), Some(u)) = (rate, &t.latency_uncorrected_us) {
        let _ = writeln!(
            out,
            "uncorrected (from actual send): p50 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}; late sends {} (driver) + {} (connection full), max lag {:.1} ms",
            u.p50,
            u.p99,
            u.p999,
            u.max,
            t.late_driver,
            t.late_blocked,
            t.max_lag_us / 1e3
        );
    }
    let _ = writeln!(
        out,
        "driver: {:.0}% CPU, {} µs CPU per request{}",
        t.driver_util * 100.0,
        t.driver_cpu_us_per_req
            .map_or("-".into(), |v| format!("{v:.2}")),
        t.driver_bound_reason
            .as_deref()
            .map_or(String::new(), |r| format!(" — DRIVER-BOUND: {r}"))
    );
    if let Some(cpu) = t.cpu_us_per_req {
        let _ = writeln!(
            out,
            "target: {cpu:.2} µs CPU per request, peak RSS {} KiB",
            t.rss_max_bytes / 1024
        );
    }
    let _ = write!(out, "errors: {} {:?}", t.errors, t.errors_by_kind);
    if let Some(late) = t.start_late_ms {
        let _ = write!(out, "\nbegan {late:.2} ms after --start-at");
    }
    out
}

fn results_file(args: &Args, cell: Cell, started: SystemTime) -> anyhow::Result<Results> {
    let allowed = CpuSet::allowed().context("reading this process's CPU affinity")?;
    let driver = args.cpus.clone().unwrap_or_else(|| allowed.clone());
    let probe = super::probe();
    let plan = CpuPlan {
        allowed: allowed.ids().to_vec(),
        core: allowed.ids().to_vec(),
        driver: driver.ids().to_vec(),
        origin: Vec::new(),
        shared: true,
        note: "driver only: the target's CPUs are not managed by proxybench".into(),
    };
    let run_id = format!("{}-{}", super::run_id(started), std::process::id());
    Ok(Results {
        schema_version: pb_results::SCHEMA_VERSION,
        run_id,
        started_at: super::timestamp(started),
        finished_at: super::timestamp(SystemTime::now()),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        scenario: ScenarioRef {
            source: "proxybench load".into(),
            name: format!("load {}", args.target),
        },
        environment: pb_runner::env::capture(
            &super::build_info(),
            &probe.io_uring(),
            probe.memlock_limit(),
            plan,
        ),
        cores: vec![CoreStatus {
            name: args.core_name.clone(),
            runtime: "not known to proxybench (driven by address)".into(),
            service: "-".into(),
            available: true,
            reason: None,
            grid: None,
            reference: false,
        }],
        cells: vec![cell],
        merged_from: Vec::new(),
        conformance: None,
    })
}
