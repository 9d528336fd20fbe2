//! Configuration updates while a core serves: the control side publishes
//! a new [`ProxyConfig`] on a [`ConfigBus`]; each serving thread (or the
//! shared stack of a work-stealing core) takes it at its next request,
//! by the [`Strategy`] its composition uses. Nothing restarts and no
//! connection is closed: a request already routed finishes where it
//! was sent, the next one is routed by the new configuration.
//!
//! What a reload changes is what routing is made of: the pools (their
//! upstreams and balancing policies) and the routes. The other sections
//! (auth, header rules, timeouts, limits, work) are read at start; a new
//! configuration that changes them is refused, so a reload never half
//! applies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::ProxyConfig;

/// How a thread-per-core borrowing core (service-async) brings a new
/// configuration to connections that are already open. The design
/// article names three; the other compositions each have one way, their
/// own ecosystem's: shared configuration swapped atomically for tower on
/// tokio, the thread's routing swapped in place for the raw loop and the
/// filter chains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Components read the thread's configuration (a thread-local) on
    /// every request; the first reader after an update refreshes it.
    #[default]
    ThreadLocal,
    /// Components hold their own configuration; the connection loop
    /// notices an update and pushes the new routing into them.
    Push,
    /// The thread's request stack is rebuilt from the new configuration
    /// with `make_via_ref`, inheriting the old stack's state (its idle
    /// upstream connections); each request takes the current stack.
    Rebuild,
}

impl Strategy {
    /// Every strategy, by name.
    pub const ALL: &'static [(&'static str, Strategy)] = &[
        ("thread-local", Strategy::ThreadLocal),
        ("push", Strategy::Push),
        ("rebuild", Strategy::Rebuild),
    ];

    /// Its name on the command line and in results.
    pub fn name(self) -> &'static str {
        Strategy::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("?", |(n, _)| n)
    }

    /// The strategy called `name`.
    pub fn from_name(name: &str) -> Option<Strategy> {
        Strategy::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
    }
}

/// Where the control side publishes configurations and the serving side
/// looks for them. Version 0 is the configuration the core started with;
/// each publication is the next version. Reading the version is one
/// atomic load, what a serving thread pays per request to stay current.
#[derive(Debug)]
pub struct ConfigBus {
    version: AtomicU64,
    current: Mutex<Arc<ProxyConfig>>,
}

/// A configuration the bus refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot reload: {0}")]
pub struct ReloadError(pub String);

impl ConfigBus {
    /// A bus whose version 0 is `config`.
    pub fn new(config: Arc<ProxyConfig>) -> ConfigBus {
        ConfigBus {
            version: AtomicU64::new(0),
            current: Mutex::new(config),
        }
    }

    /// The newest version published.
    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The newest configuration and its version.
    pub fn current(&self) -> (u64, Arc<ProxyConfig>) {
        let config = self.current.lock().unwrap_or_else(|p| p.into_inner());
        // Read under the lock: the version matches the configuration.
        (self.version(), Arc::clone(&config))
    }

    /// Publishes `next` as the next version, if it changes only pools and
    /// routes; returns its version.
    pub fn publish(&self, next: ProxyConfig) -> Result<u64, ReloadError> {
        let mut config = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let unchanged = ProxyConfig {
            pools: config.pools.clone(),
            routes: config.routes.clone(),
            ..next.clone()
        };
        if unchanged != **config {
            return Err(ReloadError(
                "only [[pool]] and [[route]] may change while serving (auth, headers, timeouts, limits, work and dynamic are read at start)".into(),
            ));
        }
        *config = Arc::new(next);
        Ok(self.version.fetch_add(1, Ordering::AcqRel) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pool_port: u16) -> ProxyConfig {
        ProxyConfig::parse(
            &format!(
                "[[pool]]\nname = \"p\"\nupstreams = [\"127.0.0.1:{pool_port}\"]\n[[route]]\npool = \"p\"\n"
            ),
            "test",
        )
        .unwrap()
    }

    #[test]
    fn publishing_routing_bumps_the_version_and_other_changes_are_refused() {
        let bus = ConfigBus::new(Arc::new(config(1)));
        assert_eq!(bus.version(), 0);
        assert_eq!(bus.publish(config(2)), Ok(1));
        let (version, current) = bus.current();
        assert_eq!((version, current.pools[0].upstreams[0].port()), (1, 2));
        let mut timeouts = config(3);
        timeouts.timeouts.connect_ms += 1;
        let error = bus.publish(timeouts).unwrap_err().to_string();
        assert!(error.contains("only [[pool]] and [[route]]"), "{error}");
        assert_eq!(bus.version(), 1, "a refused configuration is not published");
    }

    #[test]
    fn strategies_by_name() {
        for (name, strategy) in Strategy::ALL {
            assert_eq!(Strategy::from_name(name), Some(*strategy));
            assert_eq!(strategy.name(), *name);
        }
        assert_eq!(Strategy::from_name("telepathy"), None);
    }
}
