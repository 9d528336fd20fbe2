//! `proxybench proxy`: one core in this process until SIGTERM/SIGINT.

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;
use pb_core::{ReadyLine, Scenario, ServeError, ServeOpts};
use pb_sys::{CpuSet, Shutdown};

use crate::Outcome;

/// Options of `proxy`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Core to start (see `proxybench cores`).
    #[arg(long)]
    core: String,
    /// Scenario to serve.
    #[arg(long, default_value = "echo", value_parser = clap::builder::PossibleValuesParser::new(Scenario::ALL.iter().map(|s| s.name())))]
    scenario: String,
    /// Address to listen on; port 0 picks a free port (printed on the readiness line).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Serving threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// CPUs to run on, e.g. `0` or `0-3,6` (thread i on the i-th CPU).
    #[arg(long)]
    cpus: Option<CpuSet>,
    /// Read buffer per connection, bytes.
    #[arg(long, default_value_t = pb_core::opts::DEFAULT_BUF_SIZE)]
    buf_size: usize,
    /// Connections above this many are closed on accept.
    #[arg(long, default_value_t = pb_core::opts::DEFAULT_MAX_CONNS)]
    max_conns: usize,
    /// Forwarding configuration (TOML), required for http-forward.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Extra work per request, in spin iterations (about 1 ns each): a known
    /// cost for calibrating the regression gate. Off by default.
    #[arg(long, default_value_t = 0)]
    spin_iters: u64,
    /// Extra system calls per request (echo), each doing nothing: a known
    /// kernel cost the kernel counters must see. For tests; off by default.
    #[arg(long, default_value_t = 0, hide = true)]
    extra_syscalls: u32,
    /// Extra heap allocations per request, each freed at once: a known
    /// cost the allocation counter must see. For tests; off by default.
    #[arg(long, default_value_t = 0, hide = true)]
    extra_allocations: u32,
    /// Bytes leaked per request: a known memory leak the soak's verdict
    /// must catch. For tests; off by default.
    #[arg(long, default_value_t = 0, hide = true)]
    leak_bytes: u32,
    /// One descriptor leaked every N requests: a known descriptor leak the
    /// soak's verdict must catch. For tests; off by default.
    #[arg(long, default_value_t = 0, hide = true)]
    leak_fd_every: u32,
    /// Count heap allocations (all threads) and announce where the
    /// counters are on the readiness line, for the runner to read at the
    /// measured window's edges. Off, the counting allocator costs one
    /// branch per allocation; on, one uncontended atomic add. Ignored by
    /// reference proxies that run a program (its allocations are its own).
    #[arg(long)]
    count_allocations: bool,
    /// Stop (as on SIGTERM) when the process that started this one ends:
    /// what the harness asks of every process it starts, so none outlives
    /// a harness that was killed.
    #[arg(long, hide = true)]
    exit_with_parent: bool,
    /// Take new forwarding configurations while serving: an HTTP
    /// endpoint on this address (port 0 picks one; the readiness line
    /// says `admin=ADDR`) where `PUT /config` with the new TOML publishes
    /// it (only pools and routes may change). Open connections take it
    /// at their next request.
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// How a borrowing (service-async) core brings a new configuration to
    /// open connections: thread-local (components read the thread's
    /// configuration), push (the connection loop pushes it into them) or
    /// rebuild (the stack is rebuilt with make_via_ref). The other
    /// compositions have one way each.
    #[arg(long, default_value = "thread-local", value_parser = clap::builder::PossibleValuesParser::new(pb_core::reload::Strategy::ALL.iter().map(|(n, _)| *n)))]
    reload_strategy: String,
    /// Where a reference proxy writes the configuration it renders for its
    /// program (nginx.conf, haproxy.cfg); other cores ignore it. Without
    /// it, the configuration goes to stderr.
    #[arg(long)]
    program_config_out: Option<std::path::PathBuf>,
    #[command(flatten)]
    externals: super::Externals,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let core = super::find(&args.externals.cores()?, &args.core)?;
    let scenario = Scenario::from_name(&args.scenario).context("unknown scenario")?;
    if let Err(reason) = core.info().availability(super::probe().as_ref()) {
        // The runner recognises this wording and exit code 2.
        eprintln!("proxybench: core unavailable: {reason}");
        std::process::exit(2);
    }
    let http = match &args.config {
        Some(path) => Some(std::sync::Arc::new(pb_core::ProxyConfig::load(path)?)),
        None => None,
    };
    let reload = match (args.admin, &http) {
        (Some(_), Some(config)) => Some(std::sync::Arc::new(pb_core::reload::ConfigBus::new(
            std::sync::Arc::clone(config),
        ))),
        (Some(_), None) => {
            anyhow::bail!("--admin takes forwarding configurations: it needs --config")
        }
        (None, _) => None,
    };
    let admin = match (args.admin, &reload) {
        (Some(addr), Some(bus)) => Some(crate::admin::serve(addr, std::sync::Arc::clone(bus))?),
        _ => None,
    };
    let opts = ServeOpts {
        threads: args.threads,
        cpus: args.cpus,
        buf_size: args.buf_size,
        max_conns: args.max_conns,
        spin: pb_core::Spin {
            iters: args.spin_iters,
            syscalls: args.extra_syscalls,
            allocations: args.extra_allocations,
            leak_bytes: args.leak_bytes,
            leak_fd_every: args.leak_fd_every,
        },
        http,
        program_config_out: args.program_config_out,
        reload,
        reload_strategy: pb_core::reload::Strategy::from_name(&args.reload_strategy)
            .context("unknown reload strategy")?,
        ..ServeOpts::new(scenario, args.listen)
    };
    // A dynamic filter is built before any thread serves: a module that
    // does not compile stops the core here, and a filter process starts
    // on the core's CPUs (this thread's, which the process inherits).
    if let Some(dynamic) = opts.http.as_ref().and_then(|c| c.dynamic.as_ref()) {
        opts.pin_current_thread()?;
        pb_dynamic::Gate::shared(dynamic)?;
    }
    let alloc_table = (args.count_allocations && core.serves_in_process()).then(|| {
        crate::ALLOC.switch_on();
        crate::ALLOC.table_addr()
    });
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    if args.exit_with_parent {
        shutdown
            .exit_with_parent()
            .context("asking to stop with the parent process")?;
    }
    let name = core.info().name;
    let served = core.serve(&opts, &shutdown, &mut |addr, threads| {
        let line = ReadyLine {
            core: name.to_owned(),
            addr,
            threads,
            pid: std::process::id(),
            alloc_table,
            admin,
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    });
    match served {
        Ok(()) => Ok(Outcome::Ok),
        Err(ServeError::Unavailable { reason }) => {
            eprintln!("proxybench: core unavailable: {reason}");
            std::process::exit(2);
        }
        Err(e) => {
            let code = e.exit_code();
            eprintln!("proxybench: {name}: {e}");
            std::process::exit(code);
        }
    }
}
