//! The registry of proxy cores: the runtime × composition grid. Adding a
//! core means one entry in [`CORES`] (and, for a new runtime or
//! composition, its crate); nothing else in proxybench names cores. Only
//! the `proxybench` binary links this crate: the driver, runner and report
//! know cores by name alone and talk to them as processes.
//!
//! Every core has a grid name, `runtime/composition`; the mission cores
//! keep their short names (`tokio-tower` is `tokio-mt/tower-buffer`,
//! `monoio` is `monoio/borrowing`, ...), which results use, and answer to
//! both. [`IMPOSSIBLE`] lists the grid cells no core can fill, and why.

use pb_core::ProxyCore;
use pb_core::probe::Probe;

/// Every core, row by row of the grid (runtimes), each row's columns
/// (compositions) in one order: tower-buffer, tower-clone, borrowing,
/// filter-chain, filter-chain-ctx, raw. Tables and reports list cores in this order.
pub static CORES: &[&dyn ProxyCore] = &[
    &pb_rt_tokio::TOKIO_TOWER,
    &pb_rt_tokio::TOKIO_MT_TOWER_CLONE,
    &pb_rt_tokio::TOKIO_MT_FILTER_CHAIN,
    &pb_rt_tokio::TOKIO_MT_FILTER_CHAIN_CTX,
    &pb_rt_tokio::TOKIO_MT_RAW,
    &pb_rt_tokio::TOKIO_TPC_TOWER_BUFFER,
    &pb_rt_tokio::TOKIO_TPC_TOWER_CLONE,
    &pb_rt_tokio::TOKIO_TPC_BORROWING,
    &pb_rt_tokio::TOKIO_TPC_FILTER_CHAIN,
    &pb_rt_tokio::TOKIO_TPC_FILTER_CHAIN_CTX,
    &pb_rt_tokio::TOKIO_TPC_RAW,
    &pb_rt_monoio::MONOIO,
    &pb_rt_monoio::MONOIO_FILTER_CHAIN,
    &pb_rt_monoio::MONOIO_FILTER_CHAIN_CTX,
    &pb_rt_monoio::MONOIO_RAW,
    &pb_rt_monoio::MONOIO_EPOLL,
    &pb_rt_monoio::MONOIO_EPOLL_FILTER_CHAIN,
    &pb_rt_monoio::MONOIO_EPOLL_FILTER_CHAIN_CTX,
    &pb_rt_monoio::MONOIO_EPOLL_RAW,
    &pb_rt_tokio_uring::TOKIO_URING_BORROWING,
    &pb_rt_tokio_uring::TOKIO_URING_FILTER_CHAIN,
    &pb_rt_tokio_uring::TOKIO_URING_FILTER_CHAIN_CTX,
    &pb_rt_tokio_uring::TOKIO_URING_RAW,
    &pb_rt_glommio::GLOMMIO,
    &pb_rt_glommio::GLOMMIO_FILTER_CHAIN,
    &pb_rt_glommio::GLOMMIO_FILTER_CHAIN_CTX,
    &pb_rt_glommio::GLOMMIO_RAW,
    &pb_rt_glommio::GLOMMIO_SPIN,
    &pb_rt_glommio::GLOMMIO_SPIN_FILTER_CHAIN,
    &pb_rt_glommio::GLOMMIO_SPIN_FILTER_CHAIN_CTX,
    &pb_rt_glommio::GLOMMIO_SPIN_RAW,
    &pb_external::NGINX,
    &pb_external::HAPROXY,
    &pb_ref_hyper::HYPER,
    &pb_ref_pingora::PINGORA,
];

/// Grid cells (runtime, composition) that no core fills, with the reason.
pub static IMPOSSIBLE: &[(&str, &str, &str)] = &[
    (
        "tokio-mt",
        "borrowing",
        "service-async stacks are built per thread and shared by Rc; a work-stealing runtime moves a connection's task between threads",
    ),
    (
        "monoio",
        "tower-buffer",
        "tower's Buffer spawns its worker with tokio::spawn and needs a tokio runtime",
    ),
    (
        "monoio",
        "tower-clone",
        "pb-tower's stacks box Send futures (what tower behind work stealing needs), and monoio's streams are not Send",
    ),
    (
        "monoio-epoll",
        "tower-buffer",
        "tower's Buffer spawns its worker with tokio::spawn and needs a tokio runtime",
    ),
    (
        "monoio-epoll",
        "tower-clone",
        "pb-tower's stacks box Send futures, and monoio's streams are not Send",
    ),
    (
        "tokio-uring",
        "tower-buffer",
        "pb-tower's stacks box Send futures (Buffer's worker is spawned with tokio::spawn), and tokio-uring's streams are not Send (they share their descriptor through an Rc)",
    ),
    (
        "tokio-uring",
        "tower-clone",
        "pb-tower's stacks box Send futures, and tokio-uring's streams are not Send",
    ),
    (
        "glommio",
        "tower-buffer",
        "tower's Buffer spawns its worker with tokio::spawn and needs a tokio runtime",
    ),
    (
        "glommio",
        "tower-clone",
        "pb-tower's stacks box Send futures, and glommio's streams are not Send",
    ),
    (
        "glommio-spin",
        "tower-buffer",
        "tower's Buffer spawns its worker with tokio::spawn and needs a tokio runtime",
    ),
    (
        "glommio-spin",
        "tower-clone",
        "pb-tower's stacks box Send futures, and glommio's streams are not Send",
    ),
];

/// The core registered under `name`, by its name or its grid name.
pub fn find(name: &str) -> Option<&'static dyn ProxyCore> {
    CORES
        .iter()
        .copied()
        .find(|core| core.info().name == name || core.info().grid_name() == name)
}

/// Every registered name, in registry order.
pub fn names() -> Vec<&'static str> {
    CORES.iter().map(|core| core.info().name).collect()
}

/// Each core's name and whether it can run here (`Err` holds the reason).
pub fn availability(probe: &dyn Probe) -> Vec<(&'static str, Result<(), String>)> {
    CORES
        .iter()
        .map(|core| (core.info().name, core.info().availability(probe)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb_core::FixedProbe;

    #[test]
    fn names_and_grid_cells_are_unique_and_every_alias_finds_its_core() {
        let mut names = names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CORES.len());
        let mut cells: Vec<_> = CORES.iter().filter_map(|c| c.info().grid).collect();
        let grid_cores = cells.len();
        cells.sort_unstable();
        cells.dedup();
        assert_eq!(cells.len(), grid_cores, "two cores in one grid cell");
        for core in CORES {
            let info = core.info();
            assert_eq!(find(&info.grid_name()).unwrap().info().name, info.name);
            assert!(
                !IMPOSSIBLE
                    .iter()
                    .any(|(r, c, _)| Some((*r, *c)) == info.grid),
                "{} fills a cell listed as impossible",
                info.name
            );
        }
        assert_eq!(
            find("tokio-mt/tower-buffer").unwrap().info().name,
            "tokio-tower"
        );
        assert_eq!(find("monoio/borrowing").unwrap().info().name, "monoio");
    }

    #[test]
    fn without_io_uring_only_epoll_cores_remain() {
        let probe = FixedProbe {
            io_uring: Err("io_uring_setup failed: Function not implemented".into()),
            memlock_limit: None,
        };
        let report = availability(&probe);
        let available: Vec<_> = report
            .iter()
            .filter(|(_, a)| a.is_ok())
            .map(|(n, _)| *n)
            .collect();
        let mut expected = vec![
            "tokio-tower",
            "tokio-mt/tower-clone",
            "tokio-mt/filter-chain",
            "tokio-mt/filter-chain-ctx",
            "tokio-mt/raw",
            "tokio-tpc/tower-buffer",
            "tokio-tpc/tower-clone",
            "tokio-tpc/borrowing",
            "tokio-tpc/filter-chain",
            "tokio-tpc/filter-chain-ctx",
            "tokio-tpc/raw",
            "monoio-epoll",
            "monoio-epoll/filter-chain",
            "monoio-epoll/filter-chain-ctx",
            "monoio-epoll/raw",
            "hyper",
        ];
        // Pingora is here when it was built in; else it says how to build it.
        if cfg!(feature = "pingora") {
            expected.push("pingora");
        }
        assert_eq!(available, expected);
        // The io_uring cores say why; the references (the fixed probe
        // has no programs installed) say how to install them.
        for (name, verdict) in &report {
            if let Err(reason) = verdict {
                let why = if find(name).unwrap().info().is_reference() {
                    "scripts/install-references.sh"
                } else {
                    "io_uring_setup failed"
                };
                assert!(reason.contains(why), "{name}: {reason}");
            }
        }
    }
}
