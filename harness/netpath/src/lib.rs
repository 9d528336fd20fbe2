//! Network paths for a cell. On loopback the driver, the core and the
//! origin are microseconds apart; behind a real network they are hundreds
//! of microseconds to milliseconds apart, which changes how requests batch
//! and how often each side wakes up, and so every core's CPU per request
//! and its tail. A [`Topology`] puts the three in network namespaces of
//! their own, joined by two point-to-point links:
//!
//! ```text
//!  driver ns               core ns                        origin ns
//!  10.77.1.1 ==client== 10.77.1.2 | 10.77.2.1 ==origin== 10.77.2.2
//! ```
//!
//! Each link applies its [`LinkSpec`] (one-way delay, jitter, loss, rate)
//! to both directions. The kernel's `tc netem` does it where the kernel
//! has `sch_netem`; where it does not (Firecracker's guest kernels, for
//! one), [`emulator`] does the same in user space: a TUN device at each
//! end and one thread per direction that holds each packet until its time.
//! Which of the two carried a link is part of what [`Topology::links`]
//! reports, so results say it. The core's namespace routes between its two
//! links, so the driver can reach the origin too (the `direct` baseline
//! crosses both links).
//!
//! Needs root: namespaces and links are made with iproute2's `ip` (and
//! `tc` for netem), and [`unavailable`] says why not before anything is
//! made. Dropping a [`Topology`] removes all it made; namespaces left
//! behind by a process that was killed are removed by the next topology
//! made on the machine ([`ns::sweep_stale`]).
//!
//! | item | role |
//! |---|---|
//! | [`LinkSpec`], [`NetworkSpec`] | what a scenario asks of each link, checked |
//! | [`Topology`], [`Role`] | the namespaces and links while they exist |
//! | [`LinkReport`], [`Emulation`] | what carried each link, and what it dropped |
//! | [`ns`] | one namespace: made, entered by one thread, removed |
//! | [`Hosts`] | stand-in hosts linked to this namespace (a driver fleet rehearsed on one machine) |
//! | [`emulator`] | the user-space link and its packet schedule |

pub mod emulator;
pub mod hosts;
pub mod ns;

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

pub use hosts::Hosts;
pub use ns::{Entered, Namespace};
pub use pb_results::network::{Emulation, LinkReport, LinkSpec, NetworkSpec};

/// Who lives in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The load driver (threads of the harness, entered with
    /// [`Topology::enter`]).
    Driver,
    /// The core under test.
    Core,
    /// The origins.
    Origin,
}

impl Role {
    /// In the order their namespaces are made.
    pub const ALL: [Role; 3] = [Role::Driver, Role::Core, Role::Origin];

    /// Lower-case name, as in namespace names and results.
    pub fn name(self) -> &'static str {
        match self {
            Role::Driver => "driver",
            Role::Core => "core",
            Role::Origin => "origin",
        }
    }

    fn index(self) -> usize {
        match self {
            Role::Driver => 0,
            Role::Core => 1,
            Role::Origin => 2,
        }
    }
}

/// Why a topology could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// This process cannot make namespaces (not root, no iproute2).
    #[error("network namespaces are unavailable: {0}")]
    Unavailable(String),
    /// The spec asks for something no network does.
    #[error("bad network: {0}")]
    Bad(String),
    /// A command that makes or changes the topology failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its stderr, or why it could not run.
        detail: String,
    },
    /// A system call on a namespace or a device failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl NetError {
    fn io(what: impl Into<String>, source: std::io::Error) -> NetError {
        NetError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Why this process cannot make a topology, or `None` when it can.
/// Checked before anything is made, so a caller falls back to loopback
/// with the reason in its results instead of failing half-way.
pub fn unavailable() -> Option<String> {
    if let Some(why) = no_namespaces() {
        return Some(why);
    }
    if !std::path::Path::new("/dev/net/tun").exists() && !netem_in_kernel() {
        return Some("the kernel has neither netem nor /dev/net/tun to delay packets with".into());
    }
    None
}

/// Why this process cannot make namespaces and veth links at all (not
/// root, no iproute2), or `None`.
pub(crate) fn no_namespaces() -> Option<String> {
    let euid = nix::unistd::geteuid();
    if !euid.is_root() {
        return Some(format!(
            "making network namespaces and links needs root (this process runs as uid {euid})"
        ));
    }
    if let Err(e) = Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        return Some(format!(
            "iproute2's `ip` cannot run ({e}); scripts/install-references.sh installs it"
        ));
    }
    None
}

/// Runs `program args...`, its stderr the error's detail.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<(), NetError> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| NetError::Command {
            command: command.clone(),
            detail: if e.kind() == std::io::ErrorKind::NotFound {
                format!("{program} is not installed (iproute2; scripts/install-references.sh installs it)")
            } else {
                e.to_string()
            },
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetError::Command {
            command,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Whether `tc netem` works here: tried on a throw-away namespace's
/// loopback, so nothing on the machine changes.
fn netem_in_kernel() -> bool {
    Namespace::create(&format!("{}-probe", ns::fresh_prefix())).is_ok_and(|ns| netem_works(&ns))
}

/// Whether netem can be put on (and taken off) `ns`'s loopback: the
/// kernel has `sch_netem` and `tc` runs.
fn netem_works(ns: &Namespace) -> bool {
    let qdisc = |verb: &str, rest: &[&str]| {
        let mut args = vec!["-n", ns.name(), "qdisc", verb, "dev", "lo", "root"];
        args.extend(rest);
        run("tc", &args)
    };
    qdisc("add", &["netem", "delay", "0ms"])
        .and_then(|()| qdisc("del", &[]))
        .is_ok()
}

/// The namespaces, the links between them, and the threads of user-space
/// links. Dropping it stops those threads and removes the namespaces
/// (links go with them); stop the processes inside first.
#[derive(Debug)]
pub struct Topology {
    // Field order is drop order: user-space links stop (their TUN devices
    // close) before their namespaces go.
    links: Vec<Link>,
    namespaces: Vec<Namespace>,
}

#[derive(Debug)]
struct Link {
    name: &'static str,
    spec: LinkSpec,
    emulation: Emulation,
    userspace: Option<emulator::Link>,
}

/// Interface name at both ends of a link (names are per namespace).
fn device(link: &str) -> String {
    format!("pb{link}")
}

/// The first three octets of a link's /30.
fn subnet(link: &str) -> [u8; 3] {
    if link == "client" {
        [10, 77, 1]
    } else {
        [10, 77, 2]
    }
}

fn address(link: &str, host: u8) -> Ipv4Addr {
    let [a, b, c] = subnet(link);
    Ipv4Addr::new(a, b, c, host)
}

/// Seeds the user-space links' loss and jitter: fixed, so a run can be
/// repeated packet for packet as far as the traffic itself repeats.
static SEED: AtomicU64 = AtomicU64::new(0x7072_6f78_7962_656e);

impl Topology {
    /// Makes the three namespaces and two links, or nothing: whatever was
    /// made before a failure is removed before the error returns. A
    /// user-space link's threads run on `link_cpus` when given.
    pub fn create(
        spec: &NetworkSpec,
        link_cpus: Option<&pb_sys::CpuSet>,
    ) -> Result<Topology, NetError> {
        if let Some(why) = unavailable() {
            return Err(NetError::Unavailable(why));
        }
        spec.check().map_err(NetError::Bad)?;
        ns::sweep_stale();
        let prefix = ns::fresh_prefix();
        let mut topology = Topology {
            links: Vec::new(),
            namespaces: Vec::new(),
        };
        for role in Role::ALL {
            let ns = Namespace::create(&format!("{prefix}-{}", role.name()))?;
            run("ip", &["-n", ns.name(), "link", "set", "lo", "up"])?;
            topology.namespaces.push(ns);
            let _inside = topology.enter(role)?;
            // IPv4 only: no router solicitations or duplicate-address
            // probes crossing the links beside the measured traffic.
            for conf in ["all", "default"] {
                let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{conf}/disable_ipv6"), "1");
            }
            if role == Role::Core {
                std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
                    .map_err(|e| NetError::io("enabling forwarding in the core's namespace", e))?;
            }
        }
        let netem = !(spec.client.is_plain() && spec.origin.is_plain())
            && netem_works(topology.ns(Role::Core));
        for (name, link, a, b) in [
            ("client", spec.client, Role::Driver, Role::Core),
            ("origin", spec.origin, Role::Core, Role::Origin),
        ] {
            let made = topology.link(name, link, a, b, netem, link_cpus)?;
            topology.links.push(made);
        }
        // Driver and origin reach everything else through the core.
        for (role, via) in [
            (Role::Driver, address("client", 2)),
            (Role::Origin, address("origin", 1)),
        ] {
            let via = via.to_string();
            run(
                "ip",
                &[
                    "-n",
                    topology.ns(role).name(),
                    "route",
                    "add",
                    "default",
                    "via",
                    &via,
                ],
            )?;
        }
        Ok(topology)
    }

    fn ns(&self, role: Role) -> &Namespace {
        &self.namespaces[role.index()]
    }

    /// One link between the namespaces of `a` (host .1) and `b` (host .2).
    fn link(
        &self,
        name: &'static str,
        spec: LinkSpec,
        a: Role,
        b: Role,
        netem: bool,
        cpus: Option<&pb_sys::CpuSet>,
    ) -> Result<Link, NetError> {
        let dev = device(name);
        let (ns_a, ns_b) = (self.ns(a), self.ns(b));
        let (emulation, userspace) = if spec.is_plain() || netem {
            run(
                "ip",
                &[
                    "link",
                    "add",
                    &dev,
                    "netns",
                    ns_a.name(),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &dev,
                    "netns",
                    ns_b.name(),
                ],
            )?;
            if spec.is_plain() {
                (Emulation::Plain, None)
            } else {
                (Emulation::Netem, None)
            }
        } else {
            let end_a = {
                let _inside = ns_a.enter()?;
                emulator::open_tun(&dev)?
            };
            let end_b = {
                let _inside = ns_b.enter()?;
                emulator::open_tun(&dev)?
            };
            let seed = SEED.fetch_add(1, Ordering::Relaxed);
            (
                Emulation::Userspace,
                Some(emulator::Link::start(name, end_a, end_b, spec, seed, cpus)?),
            )
        };
        let netem = netem_args(&spec);
        for (ns, host) in [(ns_a, 1), (ns_b, 2)] {
            let addr = format!("{}/30", address(name, host));
            run("ip", &["-n", ns.name(), "addr", "add", &addr, "dev", &dev])?;
            run("ip", &["-n", ns.name(), "link", "set", &dev, "up"])?;
            if emulation == Emulation::Netem {
                let mut args = vec![
                    "-n",
                    ns.name(),
                    "qdisc",
                    "add",
                    "dev",
                    &dev,
                    "root",
                    "netem",
                ];
                args.extend(netem.iter().map(String::as_str));
                run("tc", &args)?;
            }
        }
        Ok(Link {
            name,
            spec,
            emulation,
            userspace,
        })
    }

    /// The address `role` listens on, reachable from the others: the
    /// core's is its client-side one.
    pub fn addr(&self, role: Role) -> IpAddr {
        IpAddr::V4(match role {
            Role::Driver => address("client", 1),
            Role::Core => address("client", 2),
            Role::Origin => address("origin", 2),
        })
    }

    /// Puts the calling thread in `role`'s namespace until the guard is
    /// dropped. Sockets it opens, threads it starts and processes it
    /// spawns meanwhile live there for good.
    pub fn enter(&self, role: Role) -> Result<Entered, NetError> {
        self.ns(role).enter()
    }

    /// The namespaces' names, driver, core, origin.
    pub fn namespace_names(&self) -> Vec<String> {
        self.namespaces
            .iter()
            .map(|ns| ns.name().to_string())
            .collect()
    }

    /// Each link as made, with its counts so far.
    pub fn links(&self) -> Vec<LinkReport> {
        self.links
            .iter()
            .map(|l| {
                let counts = l
                    .userspace
                    .as_ref()
                    .map(emulator::Link::counts)
                    .unwrap_or_default();
                LinkReport {
                    link: l.name.to_string(),
                    spec: l.spec,
                    emulation: l.emulation,
                    delivered: counts.delivered,
                    lost: counts.lost,
                    overflowed: counts.overflowed,
                    cpu_s: counts.cpu.as_secs_f64(),
                }
            })
            .collect()
    }

    /// The first failure of a user-space link's threads: a link that
    /// stopped carrying packets voids whatever was measured across it.
    pub fn failure(&self) -> Option<String> {
        self.links.iter().find_map(|l| {
            l.userspace
                .as_ref()
                .and_then(emulator::Link::failure)
                .map(|e| format!("{} link: {e}", l.name))
        })
    }
}

/// `delay D [J] loss L% [rate R] limit N` for netem.
fn netem_args(spec: &LinkSpec) -> Vec<String> {
    let mut args = vec![
        "delay".to_string(),
        format!("{}us", (spec.delay_ms * 1000.0).round() as u64),
    ];
    if spec.jitter_ms > 0.0 {
        args.push(format!("{}us", (spec.jitter_ms * 1000.0).round() as u64));
    }
    if spec.loss_pct > 0.0 {
        args.extend(["loss".to_string(), format!("{}%", spec.loss_pct)]);
    }
    if let Some(rate) = spec.rate_mbit {
        args.extend([
            "rate".to_string(),
            format!("{}kbit", (rate * 1000.0).round() as u64),
        ]);
    }
    // netem's default queue of 1000 packets overflows at a few hundred
    // Mbit/s across 20 ms; the user-space link holds as many.
    args.extend(["limit".to_string(), emulator::QUEUE_LIMIT.to_string()]);
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netem_gets_every_impairment_and_a_queue_that_holds_a_long_path() {
        let spec = LinkSpec {
            delay_ms: 10.0,
            jitter_ms: 0.5,
            loss_pct: 0.1,
            rate_mbit: Some(1.5),
        };
        assert_eq!(
            netem_args(&spec).join(" "),
            format!(
                "delay 10000us 500us loss 0.1% rate 1500kbit limit {}",
                emulator::QUEUE_LIMIT
            )
        );
        let plain_delay = LinkSpec {
            delay_ms: 0.1,
            ..LinkSpec::default()
        };
        assert_eq!(
            netem_args(&plain_delay).join(" "),
            format!("delay 100us limit {}", emulator::QUEUE_LIMIT)
        );
    }
}
