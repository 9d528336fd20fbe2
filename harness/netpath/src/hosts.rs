//! Stand-in hosts on one machine: each a network namespace of its own
//! with a point-to-point link to this (the root) namespace, as separate
//! machines on a network would be. A driver fleet is rehearsed with them:
//! an `sshd` in each, `proxybench run --drivers` reaching them over SSH,
//! the core in the root namespace.
//!
//! ```text
//!  root namespace                 host i's namespace
//!  10.78.N.1 (gateway(i)) ====== 10.78.N.2 (addr(i))
//! ```
//!
//! Linux answers for any of its addresses on any interface, so every host
//! reaches the root namespace at `gateway(0)` (one address for the whole
//! fleet to aim at) as well as at its own gateway.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::{Entered, Namespace, NetError, ns, run};

/// Hosts one set can have (one /24 of 10.78.0.0/16 per set, a /30 each).
pub const MAX_HOSTS: usize = 15;

/// The namespaces while they exist; dropping it removes them, and each
/// link with its namespace. Stop the processes inside first.
#[derive(Debug)]
pub struct Hosts {
    namespaces: Vec<Namespace>,
    /// The third octet of host 0's /30; host i has the next i.
    block: u8,
}

impl Hosts {
    /// Makes `count` hosts, or nothing: what was made before a failure is
    /// removed before the error returns.
    pub fn create(count: usize) -> Result<Hosts, NetError> {
        if let Some(why) = crate::no_namespaces() {
            return Err(NetError::Unavailable(why));
        }
        if count == 0 || count > MAX_HOSTS {
            return Err(NetError::Bad(format!(
                "a set of stand-in hosts has 1 to {MAX_HOSTS}, not {count}"
            )));
        }
        ns::sweep_stale();
        // Sets take turns over 16 blocks of 16 /30s, this process's first
        // set chosen by its pid: the root namespace's addresses must not
        // collide between sets, of this process or of another.
        static NEXT: AtomicU8 = AtomicU8::new(0);
        let first = (std::process::id() % 16) as u8;
        let block = (first.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % 16) * 16 + 1;
        let prefix = ns::fresh_prefix();
        let mut hosts = Hosts {
            namespaces: Vec::with_capacity(count),
            block,
        };
        for i in 0..count {
            let ns = Namespace::create(&format!("{prefix}-host{i}"))?;
            hosts.namespaces.push(ns);
            hosts.link(i)?;
        }
        Ok(hosts)
    }

    fn link(&self, i: usize) -> Result<(), NetError> {
        let ns = self.namespaces[i].name();
        // Root-side names share one namespace with everything else on the
        // machine: the namespace's pid and number make them unique.
        let outside = root_device(ns);
        let inside = "eth0";
        run(
            "ip",
            &[
                "link", "add", &outside, "type", "veth", "peer", "name", inside, "netns", ns,
            ],
        )?;
        let gateway = format!("{}/30", self.gateway(i));
        run("ip", &["addr", "add", &gateway, "dev", &outside])?;
        run("ip", &["link", "set", &outside, "up"])?;
        let addr = format!("{}/30", self.addr(i));
        run("ip", &["-n", ns, "addr", "add", &addr, "dev", inside])?;
        for dev in ["lo", inside] {
            run("ip", &["-n", ns, "link", "set", dev, "up"])?;
        }
        let via = self.gateway(i).to_string();
        run("ip", &["-n", ns, "route", "add", "default", "via", &via])
    }

    /// How many hosts.
    pub fn len(&self) -> usize {
        self.namespaces.len()
    }

    /// Whether there are none (never, once made).
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
    }

    /// Host `i`'s address.
    pub fn addr(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 78, self.octet(i), 2)
    }

    /// The root namespace's end of host `i`'s link; every host reaches
    /// the root namespace at `gateway(0)`.
    pub fn gateway(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 78, self.octet(i), 1)
    }

    fn octet(&self, i: usize) -> u8 {
        assert!(i < self.namespaces.len(), "host {i} of {}", self.len());
        self.block + i as u8
    }

    /// Host `i`'s namespace name (`ip netns exec NAME …` runs a program
    /// there).
    pub fn name(&self, i: usize) -> &str {
        self.namespaces[i].name()
    }

    /// Puts the calling thread in host `i`'s namespace until the guard
    /// drops.
    pub fn enter(&self, i: usize) -> Result<Entered, NetError> {
        self.namespaces[i].enter()
    }
}

/// `pb<pid>-<n>-host<i>` → `pb<pid>.<n>h<i>`, within the kernel's 15
/// characters for an interface name.
fn root_device(namespace: &str) -> String {
    let short = namespace.replacen("-host", "h", 1).replacen('-', ".", 2);
    short.replacen('.', "", 1).chars().take(15).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_side_names_are_short_and_distinct() {
        let a = root_device("pb-4194304-12-host14");
        let b = root_device("pb-4194304-12-host1");
        let c = root_device("pb-4194304-1-host21");
        assert!(a.len() <= 15, "{a}");
        assert_eq!(a, "pb4194304.12h14");
        assert_ne!(a, b);
        assert_ne!(b, c);
    }
}
