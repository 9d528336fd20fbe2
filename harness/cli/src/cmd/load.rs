//! `proxybench load`: the driver alone.

use std::net::SocketAddr;
use std::time::Duration;

use pb_driver::LoadSpec;
use pb_shared::CpuSet;

use crate::Outcome;

/// Options of `load`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address of an echo server (a core started with `proxybench proxy`, or any).
    #[arg(long)]
    target: SocketAddr,
    /// Bytes per message.
    #[arg(long, default_value_t = 100)]
    message_bytes: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Messages in flight per connection (1 = ping-pong).
    #[arg(long, default_value_t = 1)]
    in_flight: usize,
    /// Warm-up seconds (not recorded).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Measured seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Driver threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// CPUs for the driver threads.
    #[arg(long)]
    cpus: Option<CpuSet>,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let seconds = |v: f64, name: &str| {
        Duration::try_from_secs_f64(v)
            .map_err(|_| anyhow::anyhow!("--{name} must be a non-negative number of seconds"))
    };
    let spec = LoadSpec {
        threads: args.threads,
        cpus: args.cpus,
        ..LoadSpec::closed_echo(
            args.target,
            args.message_bytes,
            args.connections,
            args.in_flight,
            seconds(args.warmup, "warmup")?,
            seconds(args.duration, "duration")?,
        )
    };
    let report = pb_driver::run(&spec, &mut |_| {})?;
    let p = pb_results::hist::percentiles(&report.histogram);
    if args.json {
        let json = serde_json::json!({
            "target": args.target.to_string(),
            "requests": report.requests,
            "window_s": report.window.as_secs_f64(),
            "qps": report.qps(),
            "latency_us": p,
            "histogram": pb_results::hist::encode(&report.histogram),
            "errors": report.error_count(),
            "errors_by_kind": report.errors,
            "driver_cpu_us_per_req": report.driver_cpu_us_per_req(),
            "driver_util": report.driver_util(),
            "driver_bound": report.driver_bound,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!(
            "{} req/s over {:.1} s ({} requests), latency µs p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}",
            report.qps().round(),
            report.window.as_secs_f64(),
            report.requests,
            p.p50,
            p.p90,
            p.p99,
            p.p999,
            p.max
        );
        println!(
            "driver: {:.0}% CPU, {} µs CPU per request{}",
            report.driver_util() * 100.0,
            report
                .driver_cpu_us_per_req()
                .map_or("-".into(), |v| format!("{v:.2}")),
            report
                .driver_bound
                .as_deref()
                .map_or(String::new(), |r| format!(" — DRIVER-BOUND: {r}"))
        );
        println!("errors: {} {:?}", report.error_count(), report.errors);
    }
    Ok(if report.error_count() == 0 {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}
