//! The registry of proxy cores. Adding a core means one crate under
//! `proxies/` and one entry in [`CORES`]; nothing else in proxybench names
//! cores. Only the `proxybench` binary links this crate: the driver,
//! runner and report know cores by name alone and talk to them as
//! processes.

use pb_core::ProxyCore;
use pb_core::probe::Probe;

/// Every core, in the order tables and reports list them.
pub static CORES: &[&dyn ProxyCore] = &[
    &pb_rt_tokio::TokioTower,
    &pb_rt_monoio::MONOIO,
    &pb_rt_glommio::GLOMMIO,
    &pb_rt_monoio::MONOIO_EPOLL,
];

/// The core registered under `name`.
pub fn find(name: &str) -> Option<&'static dyn ProxyCore> {
    CORES.iter().copied().find(|core| core.info().name == name)
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
    fn names_are_unique() {
        let mut names = names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CORES.len());
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
        assert_eq!(available, ["tokio-tower", "monoio-epoll"]);
        for (name, verdict) in &report {
            if let Err(reason) = verdict {
                assert!(reason.contains("io_uring_setup failed"), "{name}: {reason}");
            }
        }
    }
}
