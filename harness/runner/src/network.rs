//! Where one cell's processes and driver live: loopback, or the network
//! path its scenario names (`network = "lan"`), made for the cell and
//! removed after it.
//!
//! A cell that asks for a path on a machine where none can be made (not
//! root, no iproute2) runs on loopback and says so in its results and in
//! a progress note: the figures are still real, just not across the path
//! asked for, and a reader must not take them for that.

use std::net::IpAddr;

use pb_netpath::{NetError, Role, Topology};
use pb_results::network::NetworkRun;
use pb_sys::CpuSet;

/// One cell's network. Drop it after every process in it has stopped.
pub(crate) struct CellNet {
    topology: Option<Topology>,
    /// Why a cell that asked for a path ran on loopback.
    fallback: Option<String>,
    /// Where the core and the origins listen for a driver fleet: this
    /// host's address on the fleet's network.
    fleet_address: Option<IpAddr>,
}

impl CellNet {
    /// Loopback for a cell without a network; otherwise the topology (any
    /// user-space link's threads on `link_cpus`, the driver's), or
    /// loopback with the reason none can be made here. Errors only when
    /// one could be made and making it failed.
    /// A cell driven by a fleet (`fleet_address`) runs on the host's own
    /// network: its core and origins listen on that address.
    pub(crate) fn open(
        cell: &pb_scenario::Cell,
        link_cpus: &CpuSet,
        fleet_address: Option<IpAddr>,
    ) -> Result<CellNet, String> {
        let Some(network) = &cell.params.network else {
            return Ok(CellNet {
                topology: None,
                fallback: None,
                fleet_address,
            });
        };
        // Topology::create says first whether one can be made here at all.
        match Topology::create(&network.links, Some(link_cpus)) {
            Ok(topology) => Ok(CellNet {
                topology: Some(topology),
                fallback: None,
                fleet_address: None,
            }),
            Err(NetError::Unavailable(why)) => Ok(CellNet {
                topology: None,
                fallback: Some(format!(
                    "ran on loopback, not across {}: {why}",
                    network.name
                )),
                fleet_address: None,
            }),
            Err(e) => Err(format!("network {}: {e}", network.name)),
        }
    }

    /// The note to show once when the cell fell back to loopback.
    pub(crate) fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// Where `role` listens.
    pub(crate) fn listen(&self, role: Role) -> IpAddr {
        match (&self.topology, self.fleet_address) {
            (Some(t), _) => t.addr(role),
            (None, Some(address)) => address,
            (None, None) => pb_process::LOOPBACK,
        }
    }

    /// Runs `f` on this thread inside `role`'s namespace: the sockets it
    /// opens, the threads it starts and the processes it spawns live
    /// there.
    pub(crate) fn within<T>(&self, role: Role, f: impl FnOnce() -> T) -> Result<T, String> {
        match &self.topology {
            None => Ok(f()),
            Some(topology) => {
                let _inside = topology
                    .enter(role)
                    .map_err(|e| format!("entering the {} namespace: {e}", role.name()))?;
                Ok(f())
            }
        }
    }

    /// A link that stopped carrying packets: whatever crossed it since is
    /// void.
    pub(crate) fn failure(&self) -> Option<String> {
        self.topology.as_ref().and_then(Topology::failure)
    }

    /// What the cell's results record: nothing on plain loopback; the
    /// links and their counts so far, or the fallback and its reason.
    pub(crate) fn record(&self) -> Option<NetworkRun> {
        if let Some(topology) = &self.topology {
            return Some(NetworkRun {
                namespaces: true,
                note: self.failure(),
                links: topology.links(),
            });
        }
        self.fallback.as_ref().map(|why| NetworkRun {
            namespaces: false,
            note: Some(why.clone()),
            links: Vec::new(),
        })
    }
}
