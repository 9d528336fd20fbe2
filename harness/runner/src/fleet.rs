//! Driver fleets (`proxybench run --drivers HOST,…`): each trial's load
//! driven from several hosts at once, when one driver cannot load a big
//! core. The hosts are reached over SSH (the `ssh` client, its own
//! configuration and keys; no agent of ours), and each runs `proxybench
//! load` with its share of the cell's connections and rate. So that they
//! load the core together:
//!
//! 1. Before a cell, `proxybench clock` on each host answers a few probes
//!    with its clock; the probe with the shortest round trip gives the
//!    host's offset from ours, to ± half that round trip (Cristian's
//!    method). The offsets go into every trial's record.
//! 2. Each trial picks a start instant far enough ahead for the slowest
//!    SSH session to be up, and gives each host that instant in its own
//!    clock (`load --start-at`); each host records how late it really
//!    began.
//! 3. The core's CPU is sampled here, at the window's edges by our clock;
//!    the hosts' results come back on their standard output, are kept
//!    beside the run's (`<results>/fleet/<run-id>/`), and are merged
//!    exactly ([`pb_results::merge::merge_trials`]): counts add,
//!    histograms sum.
//!
//! A host that fails (SSH refused, a driver error, no results in time)
//! fails the trial and so the cell; a host that falls behind (starts late
//! by more than 1 % of the window, or whose driver could not keep its
//! schedule) marks the trial driver-bound with the host named. The load
//! never silently shrinks.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pb_driver::WindowEdge;
use pb_process::ProcSampler;
use pb_results::Trial;
use pb_results::fleet::{FleetHost, FleetTrial};

/// Where the drivers are and how to reach them.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// SSH destinations (`host`, `user@host`, or a `Host` of the SSH
    /// configuration), one driver each.
    pub hosts: Vec<String>,
    /// This host's address as the driver hosts reach it: the core (and
    /// the origins) listen on it.
    pub core_address: IpAddr,
    /// An SSH configuration file (`ssh -F`); the user's own otherwise.
    pub ssh_config: Option<PathBuf>,
    /// `proxybench` on the driver hosts.
    pub driver_exe: String,
    /// The results directory: each host's file is kept under
    /// `fleet/<run-id>/` in it.
    pub results_dir: PathBuf,
}

impl FleetConfig {
    /// Refuses what cannot be a fleet, before anything starts.
    pub fn check(&self) -> Result<(), String> {
        if self.hosts.is_empty() {
            return Err("--drivers: no hosts".into());
        }
        for (i, host) in self.hosts.iter().enumerate() {
            if host.is_empty() || host.starts_with('-') || host.contains(char::is_whitespace) {
                return Err(format!("--drivers: {host:?} is not an SSH destination"));
            }
            if self.hosts[..i].contains(host) {
                return Err(format!(
                    "--drivers: {host} is listed twice (one driver per host)"
                ));
            }
        }
        if self.core_address.is_loopback() || self.core_address.is_unspecified() {
            return Err(format!(
                "--core-address {}: the driver hosts must reach the core there; give this host's address on their network",
                self.core_address
            ));
        }
        Ok(())
    }
}

/// How long an SSH session may take to come up and answer.
const SSH_TIMEOUT: Duration = Duration::from_secs(15);
/// Clock probes per host; the fastest round trip wins.
const CLOCK_PROBES: usize = 16;
/// A trial's start instant is at least this far ahead.
const MIN_LEAD: Duration = Duration::from_secs(1);
/// A host's results are due this long after the window's end (the
/// driver drains, writes its file, the session closes).
const COLLECT_GRACE: Duration = Duration::from_secs(30);
/// A host that began later than this share of the window fell behind:
/// its window and ours (where the core's CPU is sampled) differ by that
/// much.
const LATE_SHARE: f64 = 0.01;

/// One host's clock as probed before a cell.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// Its clock minus ours, ns.
    offset_ns: i128,
    /// Half the fastest probe's round trip, ns.
    error_ns: i128,
    /// How long its SSH session took to answer the first time.
    setup: Duration,
}

/// A cell's fleet: the hosts with their clocks.
pub(crate) struct Fleet<'a> {
    cfg: &'a FleetConfig,
    clocks: Vec<Clock>,
    run_id: String,
}

/// Why a cell cannot be driven by a fleet, if it cannot.
pub(crate) fn unsupported(cell: &pb_scenario::Cell) -> Option<String> {
    let p = &cell.params;
    let why = if p.client.is_some() {
        "it is driven by an external client"
    } else if cell.rate_search.is_some() {
        "it has a rate search (a fleet runs the trials' fixed loads)"
    } else if p.network.is_some() {
        "it runs across a network path of namespaces on this host"
    } else if p.tcp.is_some() {
        "it is a TCP-forwarding cell (`proxybench load` speaks echo and HTTP)"
    } else if p
        .http
        .as_ref()
        .is_some_and(|h| h.work.is_some() || h.filter.is_some())
    {
        "its requests carry work or filter headers `proxybench load` does not send"
    } else {
        return None;
    };
    Some(format!("a driver fleet cannot run this cell: {why}"))
}

impl<'a> Fleet<'a> {
    /// Probes every host's clock; the first host that cannot be probed is
    /// the error.
    pub(crate) fn connect(cfg: &'a FleetConfig, run_id: &str) -> Result<Fleet<'a>, String> {
        let clocks = cfg
            .hosts
            .iter()
            .map(|host| probe_clock(cfg, host).map_err(|e| format!("driver host {host}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Fleet {
            cfg,
            clocks,
            run_id: run_id.to_string(),
        })
    }

    /// A note for the progress display: each host's offset.
    pub(crate) fn describe(&self) -> String {
        let hosts: Vec<String> = self
            .cfg
            .hosts
            .iter()
            .zip(&self.clocks)
            .map(|(host, c)| {
                format!(
                    "{host} {:+.3} ms ± {:.3}",
                    c.offset_ns as f64 / 1e6,
                    c.error_ns as f64 / 1e6
                )
            })
            .collect();
        format!("driver fleet, clock offsets: {}", hosts.join(", "))
    }

    /// One trial of `cell` against `target`, driven by every host at
    /// once; the core (`sampler`) accounted here as in any trial.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn measure(
        &self,
        cell: &pb_scenario::Cell,
        settings: &pb_scenario::RunSettings,
        core: &str,
        target: SocketAddr,
        sampler: ProcSampler,
        index: u32,
        sequence: u32,
    ) -> Result<Trial, String> {
        let spec = cell.load_spec(settings, target, None);
        let shares = shares(
            cell.params.connections,
            cell.params.rate,
            self.cfg.hosts.len(),
        )?;
        let slowest = self
            .clocks
            .iter()
            .map(|c| c.setup)
            .max()
            .unwrap_or_default();
        let lead = MIN_LEAD.max(slowest * 3);
        // The instant on both clocks: the wall clock's for the hosts, the
        // monotonic one for our window's edges (a clock step in between
        // must not move them).
        let (start, start_ns) = (Instant::now() + lead, unix_ns(SystemTime::now() + lead));
        let window = spec.duration;
        // A host that began late enough to put its window beside ours
        // voids the core's per-request figures (sampled over ours).
        let mut misaligned = None;
        let files = self.cfg.results_dir.join("fleet").join(&self.run_id);
        std::fs::create_dir_all(&files)
            .map_err(|e| format!("creating {}: {e}", files.display()))?;
        let load = |on_edge: &mut dyn FnMut(WindowEdge)| {
            let mut drivers = Vec::with_capacity(shares.len());
            for ((host, clock), share) in self.cfg.hosts.iter().zip(&self.clocks).zip(&shares) {
                let at = start_ns + clock.offset_ns;
                let args = load_args(
                    cell,
                    settings,
                    &spec,
                    core,
                    *share,
                    at,
                    &self.cfg.driver_exe,
                );
                drivers.push(Driver::start(self.cfg, host, &args)?);
            }
            std::thread::sleep((start + spec.warmup).saturating_duration_since(Instant::now()));
            on_edge(WindowEdge::Start);
            let end = start + spec.warmup + window;
            std::thread::sleep(end.saturating_duration_since(Instant::now()));
            on_edge(WindowEdge::End);
            let due = Instant::now() + COLLECT_GRACE;
            let mut parts = Vec::with_capacity(drivers.len());
            let mut hosts = Vec::with_capacity(drivers.len());
            for (((driver, clock), share), host) in drivers
                .into_iter()
                .zip(&self.clocks)
                .zip(&shares)
                .zip(&self.cfg.hosts)
            {
                // The run's sequence number keeps both builds' trials of
                // an A/B run apart.
                let name = format!(
                    "{}-{core}-t{index}-s{sequence}-{}.json",
                    file_safe(&cell.label()),
                    file_safe(host)
                );
                let path = files.join(&name);
                let part = driver.finish(due, &path)?;
                let behind = behind(
                    part.start_late_ms,
                    part.driver_bound
                        .then_some(part.driver_bound_reason.as_deref()),
                    clock,
                    window,
                );
                if misaligned.is_none() && behind.as_deref().is_some_and(is_late) {
                    misaligned = Some(host.clone());
                }
                hosts.push(FleetHost {
                    host: host.clone(),
                    connections: share.0,
                    rate: share.1,
                    clock_offset_ms: clock.offset_ns as f64 / 1e6,
                    clock_error_ms: clock.error_ns as f64 / 1e6,
                    start_late_ms: part.start_late_ms.unwrap_or(0.0),
                    requests: part.requests,
                    errors: part.errors,
                    qps: part.qps,
                    behind,
                    file: path
                        .strip_prefix(&self.cfg.results_dir)
                        .ok()
                        .map(|p| p.display().to_string()),
                });
                parts.push(part);
            }
            let mut merged = pb_results::merge::merge_trials(&parts)
                .map_err(|e| format!("merging the driver hosts' trials: {e}"))?;
            if let Some(host) = hosts.iter().find(|h| h.behind.is_some()) {
                merged.driver_bound = true;
                merged.driver_bound_reason = Some(format!(
                    "driver host {} fell behind: {}",
                    host.host,
                    host.behind.as_deref().unwrap_or_default()
                ));
            }
            // The driver figures (CPU, per request, utilisation) are the
            // hosts' together, each measured on its own machine.
            merged.fleet = Some(FleetTrial {
                start_at_unix_ms: start_ns as f64 / 1e6,
                hosts,
            });
            Ok(merged)
        };
        let mut trial = crate::measure::measure_load(
            Some(sampler),
            index,
            sequence,
            spec.interval,
            false,
            &mut |_| {},
            load,
        )?;
        if let Some(host) = misaligned {
            // The CPU the core spent stays recorded; per request it would
            // divide one window's CPU by another window's requests.
            trial.cpu_us_per_req = None;
            trial.kernel = None;
            trial.driver_bound_reason = trial.driver_bound_reason.map(|r| {
                format!("{r}; no CPU per request: the core was sampled over a window {host}'s load did not fill")
            });
        }
        Ok(trial)
    }
}

/// Each host's (connections, rate): connections split as evenly as they
/// go, the rate in proportion, so every connection carries the same rate
/// as in a one-driver run.
fn shares(
    connections: usize,
    rate: Option<f64>,
    hosts: usize,
) -> Result<Vec<(usize, Option<f64>)>, String> {
    if connections < hosts {
        return Err(format!(
            "{connections} connections cannot be shared by {hosts} driver hosts (each needs one)"
        ));
    }
    Ok((0..hosts)
        .map(|i| {
            let mine = connections / hosts + usize::from(i < connections % hosts);
            (mine, rate.map(|r| r * mine as f64 / connections as f64))
        })
        .collect())
}

/// Why a host's part counts as having fallen behind, if it does: it
/// began `late_ms` after the shared instant, and `driver_bound` holds its
/// driver's reason when the driver could not keep its schedule.
fn behind(
    late_ms: Option<f64>,
    driver_bound: Option<Option<&str>>,
    clock: &Clock,
    window: Duration,
) -> Option<String> {
    let late = late_ms.unwrap_or(0.0);
    let limit = window.as_secs_f64() * 1e3 * LATE_SHARE;
    let error = clock.error_ns as f64 / 1e6;
    if late + error > limit {
        return Some(format!(
            "{LATE_REASON}{late:.1} ms after the shared instant (clock known to ± {error:.2} ms), more than {:.0} % of the {:.1} s window",
            LATE_SHARE * 100.0,
            window.as_secs_f64()
        ));
    }
    driver_bound.map(|reason| {
        reason
            .unwrap_or("its driver could not keep its schedule")
            .to_string()
    })
}

/// Whether a [`behind`] reason is a late start (the windows differ), not
/// a driver that lagged inside the same window.
fn is_late(reason: &str) -> bool {
    reason.starts_with(LATE_REASON)
}

/// How [`behind`] begins a late start's reason.
const LATE_REASON: &str = "began ";

/// `proxybench load` for one host's share, starting at `at_ns` by its
/// clock; the results file on its standard output.
fn load_args(
    cell: &pb_scenario::Cell,
    settings: &pb_scenario::RunSettings,
    spec: &pb_driver::LoadSpec,
    core: &str,
    (connections, rate): (usize, Option<f64>),
    at_ns: i128,
    exe: &str,
) -> Vec<String> {
    let p = &cell.params;
    let mut args: Vec<String> = vec![exe.into(), "load".into()];
    let mut flag = |name: &str, value: String| {
        args.push(format!("--{name}"));
        args.push(value);
    };
    flag("target", spec.target.to_string());
    flag("message-bytes", p.message_bytes.to_string());
    flag("connections", connections.to_string());
    flag("in-flight", p.in_flight.to_string());
    if let Some(rate) = rate {
        flag("rate", rate.to_string());
    }
    flag("warmup", spec.warmup.as_secs_f64().to_string());
    flag("duration", spec.duration.as_secs_f64().to_string());
    flag("interval", spec.interval.as_secs_f64().to_string());
    flag("threads", settings.driver_threads.to_string());
    flag("driver", p.driver.name().to_string());
    flag("core-name", core.to_string());
    flag("start-at", at_ns.to_string());
    flag("out", "-".into());
    if let Some(http) = &p.http {
        flag(
            "http",
            match http.method {
                pb_driver::http::Method::Get => "get",
                pb_driver::http::Method::Post => "post",
            }
            .into(),
        );
        if !http.keep_alive {
            args.push("--connection-per-request".into());
        }
    }
    args.push("--until-stdin-closes".into());
    args
}

/// One host's `proxybench load` over SSH while it runs.
struct Driver {
    host: String,
    child: Child,
    /// Open while we want the load: closing it (or losing the session)
    /// stops the remote `load` (`--until-stdin-closes`).
    _stdin: Option<std::process::ChildStdin>,
    stdout: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    stderr: mpsc::Receiver<String>,
}

impl Driver {
    fn start(cfg: &FleetConfig, host: &str, args: &[String]) -> Result<Driver, String> {
        let mut child = ssh(cfg, host, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("driver host {host}: cannot run ssh: {e}"))?;
        let (stdout, stderr) = (
            drain(child.stdout.take().expect("piped")),
            drain_text(child.stderr.take().expect("piped")),
        );
        Ok(Driver {
            host: host.to_string(),
            _stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
        })
    }

    /// Waits (until `due`) for the host's results, keeps them at `path`
    /// and returns its trial.
    fn finish(mut self, due: Instant, path: &Path) -> Result<Trial, String> {
        let host = self.host.clone();
        let fail = |what: String, stderr: &mpsc::Receiver<String>| {
            with_stderr(format!("driver host {host}: {what}"), "it", stderr)
        };
        let status = match end_by(&mut self.child, due) {
            Ok(Some(status)) => status,
            Ok(None) => {
                return Err(fail(
                    format!(
                        "no results {} s after the window ended (stopped)",
                        COLLECT_GRACE.as_secs()
                    ),
                    &self.stderr,
                ));
            }
            Err(e) => return Err(format!("driver host {host}: waiting for ssh: {e}")),
        };
        let bytes = match self.stdout.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => return Err(format!("driver host {host}: reading its output: {e}")),
            Err(_) => {
                return Err(fail(
                    format!("ssh ended ({status}) but its output did not"),
                    &self.stderr,
                ));
            }
        };
        // `load` exits 1 when its load saw errors: the results still count
        // (errors are part of them). Anything else is a failed driver.
        if !matches!(status.code(), Some(0 | 1)) || bytes.is_empty() {
            return Err(fail(
                format!("ssh … load ended with {status}"),
                &self.stderr,
            ));
        }
        std::fs::write(path, &bytes).map_err(|e| format!("keeping {}: {e}", path.display()))?;
        let results =
            pb_results::io::read_results(path).map_err(|e| format!("driver host {host}: {e}"))?;
        let mut trials = results.cells.into_iter().flat_map(|c| c.trials);
        match (trials.next(), trials.next()) {
            (Some(trial), None) => Ok(trial),
            _ => Err(format!(
                "driver host {host}: {} does not hold exactly one trial",
                path.display()
            )),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // A driver abandoned on an error path: its session goes (and with
        // it the remote load, `--until-stdin-closes`).
        let _ = end_by(&mut self.child, Instant::now());
    }
}

/// `ssh` to `host` running `args` (quoted for the remote shell).
fn ssh(cfg: &FleetConfig, host: &str, args: &[String]) -> Command {
    let mut cmd = Command::new("ssh");
    // No terminal, no prompts (a missing key fails at once instead of
    // waiting for a password), a dead link noticed within 15 s.
    cmd.args(["-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"])
        .args(["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]);
    if let Some(config) = &cfg.ssh_config {
        cmd.arg("-F").arg(config);
    }
    let remote: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
    cmd.arg(host).arg(remote.join(" "));
    cmd
}

/// `s` as one word for a POSIX shell.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=,@+-%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The host's clock against ours over one SSH session of `proxybench
/// clock`: a header, then one reading per line we send.
fn probe_clock(cfg: &FleetConfig, host: &str) -> Result<Clock, String> {
    let began = Instant::now();
    let mut child = ssh(cfg, host, &[cfg.driver_exe.clone(), "clock".into()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    let stderr = drain_text(child.stderr.take().expect("piped"));
    let lines = read_lines(child.stdout.take().expect("piped"));
    let mut stdin = child.stdin.take().expect("piped");
    let result = (|| {
        let header = lines.recv_timeout(SSH_TIMEOUT).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => {
                format!("no answer within {} s", SSH_TIMEOUT.as_secs())
            }
            mpsc::RecvTimeoutError::Disconnected => "ssh ended without an answer".to_string(),
        })?;
        let mut words = header.split_whitespace();
        if words.next() != Some(pb_results::fleet::CLOCK_HEADER) {
            return Err(format!(
                "`{} clock` answered {header:?}, not a proxybench clock",
                cfg.driver_exe
            ));
        }
        let version = env!("CARGO_PKG_VERSION");
        match words.next() {
            Some(theirs) if theirs == version => {}
            theirs => {
                return Err(format!(
                    "it runs proxybench {}, this is {version}: use the same version on every host",
                    theirs.unwrap_or("(no version)")
                ));
            }
        }
        let setup = began.elapsed();
        let mut best: Option<(i128, i128)> = None;
        for _ in 0..CLOCK_PROBES {
            let sent = unix_ns(SystemTime::now());
            stdin
                .write_all(b"\n")
                .and_then(|()| stdin.flush())
                .map_err(|e| format!("writing a clock probe: {e}"))?;
            let reply = lines
                .recv_timeout(SSH_TIMEOUT)
                .map_err(|_| "a clock probe went unanswered (or ssh ended)".to_string())?;
            let received = unix_ns(SystemTime::now());
            let theirs: i128 = reply
                .trim()
                .parse()
                .map_err(|_| format!("a clock probe answered {reply:?}"))?;
            let round_trip = received - sent;
            let offset = theirs - (sent + received) / 2;
            if best.is_none_or(|(rtt, _)| round_trip < rtt) {
                best = Some((round_trip, offset));
            }
        }
        let (round_trip, offset_ns) = best.expect("at least one probe");
        Ok(Clock {
            offset_ns,
            error_ns: round_trip / 2,
            setup,
        })
    })();
    drop(stdin);
    let _ = end_by(&mut child, Instant::now() + Duration::from_secs(5));
    result.map_err(|e| with_stderr(e, "ssh", &stderr))
}

/// Waits until `due` for `child` to end by itself, then kills it (and
/// reaps it): its exit status when it ended by itself, `None` when killed.
fn end_by(child: &mut Child, due: Instant) -> std::io::Result<Option<ExitStatus>> {
    loop {
        match child.try_wait()? {
            Some(status) => return Ok(Some(status)),
            None if Instant::now() < due => std::thread::sleep(Duration::from_millis(10)),
            None => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(None)
}

/// `message`, followed by the last lines `who` wrote on `stderr` if it
/// wrote any (waiting a moment for them).
fn with_stderr(message: String, who: &str, stderr: &mpsc::Receiver<String>) -> String {
    let said = stderr
        .recv_timeout(Duration::from_secs(1))
        .unwrap_or_default();
    match said.trim() {
        "" => message,
        said => format!("{message} — {who} said: {}", last_lines(said, 3)),
    }
}

/// Every byte of `from` once it ends, from a thread of its own (so a full
/// pipe never stalls the other).
fn drain(
    mut from: impl std::io::Read + Send + 'static,
) -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = tx.send(from.read_to_end(&mut bytes).map(|_| bytes));
    });
    rx
}

/// [`drain`] as text, errors ignored (it is only ever shown).
fn drain_text(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let bytes = drain(from);
    std::thread::spawn(move || {
        let text = bytes
            .recv()
            .ok()
            .and_then(Result::ok)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let _ = tx.send(text);
    });
    rx
}

/// Each line of `from` as it arrives.
fn read_lines(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

fn unix_ns(at: SystemTime) -> i128 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// A cell label or host as part of a file name.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_keep_every_connection_and_the_rate_per_connection() {
        let s = shares(10, Some(1000.0), 3).unwrap();
        assert_eq!(s.iter().map(|x| x.0).collect::<Vec<_>>(), [4, 3, 3]);
        let total: f64 = s.iter().map(|x| x.1.unwrap()).sum();
        assert!((total - 1000.0).abs() < 1e-9, "{total}");
        for (c, r) in &s {
            assert!((r.unwrap() / *c as f64 - 100.0).abs() < 1e-9);
        }
        assert_eq!(shares(3, None, 3).unwrap(), [(1, None); 3]);
        assert!(shares(2, None, 3).unwrap_err().contains("2 connections"));
    }

    #[test]
    fn remote_words_survive_the_shell() {
        assert_eq!(shell_quote("10.0.0.1:9000"), "10.0.0.1:9000");
        assert_eq!(
            shell_quote("/opt/pb bin/proxybench"),
            "'/opt/pb bin/proxybench'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(reboot)"), "'$(reboot)'");
    }

    #[test]
    fn a_fleet_needs_distinct_destinations_and_an_address_they_reach() {
        let cfg = |hosts: &[&str], addr: &str| FleetConfig {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            core_address: addr.parse().unwrap(),
            ssh_config: None,
            driver_exe: "proxybench".into(),
            results_dir: "results".into(),
        };
        assert!(cfg(&["a", "root@b"], "10.0.0.1").check().is_ok());
        assert!(
            cfg(&["a", "a"], "10.0.0.1")
                .check()
                .unwrap_err()
                .contains("twice")
        );
        assert!(cfg(&["-oProxyCommand=x"], "10.0.0.1").check().is_err());
        assert!(
            cfg(&["a"], "127.0.0.1")
                .check()
                .unwrap_err()
                .contains("reach")
        );
        assert!(cfg(&[], "10.0.0.1").check().is_err());
    }

    #[test]
    fn a_late_or_lagging_host_is_behind_and_says_why() {
        let clock = Clock {
            offset_ns: 0,
            error_ns: 200_000,
            setup: Duration::ZERO,
        };
        let second = Duration::from_secs(1);
        assert_eq!(behind(Some(3.0), None, &clock, second), None);
        assert_eq!(behind(None, None, &clock, second), None);
        let why = behind(Some(12.0), None, &clock, second).unwrap();
        assert!(
            why.contains("12.0 ms") && why.contains("± 0.20 ms"),
            "{why}"
        );
        // 9.9 ms late is within 1 % of a second, but not once the clock's
        // uncertainty is added.
        assert!(behind(Some(9.9), None, &clock, second).is_some());
        assert_eq!(
            behind(Some(0.5), Some(Some("late sends")), &clock, second).unwrap(),
            "late sends"
        );
        assert!(behind(Some(0.5), Some(None), &clock, second).is_some());
    }
}
