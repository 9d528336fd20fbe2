//! CPU sets: parsing the `0-3,6` notation, pinning threads, reading which
//! CPUs this process may use.

use std::fmt;
use std::io;
use std::str::FromStr;

use nix::sched::{CpuSet as NixCpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

/// An ordered, duplicate-free list of CPU ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CpuSet(Vec<usize>);

/// Why a CPU list could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CPU list {input:?}: {reason}")]
pub struct CpuSetParseError {
    input: String,
    reason: &'static str,
}

impl CpuSet {
    /// A set from explicit ids; sorted and deduplicated. `None` when empty.
    pub fn new(mut ids: Vec<usize>) -> Option<CpuSet> {
        ids.sort_unstable();
        ids.dedup();
        (!ids.is_empty()).then_some(CpuSet(ids))
    }

    /// The CPUs the calling thread may run on (its affinity mask), which is
    /// what the runner may hand out: cgroups and `taskset` are respected.
    pub fn allowed() -> io::Result<CpuSet> {
        let mask = sched_getaffinity(Pid::from_raw(0)).map_err(io::Error::from)?;
        let ids = (0..NixCpuSet::count())
            .filter(|&cpu| mask.is_set(cpu).unwrap_or(false))
            .collect();
        CpuSet::new(ids).ok_or_else(|| io::Error::other("affinity mask is empty"))
    }

    /// The ids, ascending.
    pub fn ids(&self) -> &[usize] {
        &self.0
    }

    /// Number of CPUs in the set.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: an empty set cannot be built.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `index`-th CPU, wrapping around, so N threads spread over M CPUs.
    pub fn nth_wrapping(&self, index: usize) -> usize {
        self.0[index % self.0.len()]
    }

    /// Pins the calling thread to every CPU of this set.
    pub fn pin_current_thread(&self) -> io::Result<()> {
        let mut mask = NixCpuSet::new();
        for &cpu in &self.0 {
            mask.set(cpu).map_err(io::Error::from)?;
        }
        sched_setaffinity(Pid::from_raw(0), &mask).map_err(io::Error::from)
    }
}

/// Pins the calling thread to one CPU.
pub fn pin_current_thread_to(cpu: usize) -> io::Result<()> {
    CpuSet(vec![cpu]).pin_current_thread()
}

impl FromStr for CpuSet {
    type Err = CpuSetParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| CpuSetParseError {
            input: input.to_owned(),
            reason,
        };
        let mut ids = Vec::new();
        for part in input.split(',').map(str::trim) {
            if part.is_empty() {
                return Err(err("empty element"));
            }
            let (lo, hi) = match part.split_once('-') {
                Some((lo, hi)) => (lo, hi),
                None => (part, part),
            };
            let lo: usize = lo.trim().parse().map_err(|_| err("not a CPU number"))?;
            let hi: usize = hi.trim().parse().map_err(|_| err("not a CPU number"))?;
            if lo > hi {
                return Err(err("range runs backwards"));
            }
            if hi >= NixCpuSet::count() {
                return Err(err("CPU id beyond what the kernel supports"));
            }
            ids.extend(lo..=hi);
        }
        CpuSet::new(ids).ok_or_else(|| err("empty set"))
    }
}

impl fmt::Display for CpuSet {
    /// Compact range notation, the same form [`FromStr`] accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut i = 0;
        while i < self.0.len() {
            let start = self.0[i];
            let mut end = start;
            while i + 1 < self.0.len() && self.0[i + 1] == end + 1 {
                i += 1;
                end = self.0[i];
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
            i += 1;
        }
        Ok(())
    }
}

/// CPU time (user + system) of the calling thread, from the kernel's
/// accounting; zero if it cannot be read.
pub fn thread_cpu_time() -> std::time::Duration {
    rusage_cpu(nix::sys::resource::UsageWho::RUSAGE_THREAD)
}

/// CPU time (user + system) of the children this process has waited
/// for: a program run to its end, measured as a whole.
pub fn children_cpu_time() -> std::time::Duration {
    rusage_cpu(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
}

fn rusage_cpu(who: nix::sys::resource::UsageWho) -> std::time::Duration {
    let tv = |t: nix::sys::time::TimeVal| {
        std::time::Duration::from_secs(t.tv_sec() as u64)
            + std::time::Duration::from_micros(t.tv_usec() as u64)
    };
    nix::sys::resource::getrusage(who)
        .map(|usage| tv(usage.user_time()) + tv(usage.system_time()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_lists() {
        let set: CpuSet = "0-2,5, 7-8".parse().unwrap();
        assert_eq!(set.ids(), &[0, 1, 2, 5, 7, 8]);
        assert_eq!(set.to_string(), "0-2,5,7-8");
        assert_eq!("3".parse::<CpuSet>().unwrap().ids(), &[3]);
        assert_eq!("1,1,0".parse::<CpuSet>().unwrap().to_string(), "0-1");
    }

    #[test]
    fn rejects_malformed_lists() {
        for bad in ["", "a", "1-", "3-1", "1,,2", "-1", "99999999"] {
            assert!(bad.parse::<CpuSet>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn wraps_threads_over_cpus() {
        let set: CpuSet = "4,6".parse().unwrap();
        assert_eq!(
            (0..5).map(|i| set.nth_wrapping(i)).collect::<Vec<_>>(),
            [4, 6, 4, 6, 4]
        );
    }

    #[test]
    fn allowed_set_can_be_pinned_to() {
        let allowed = CpuSet::allowed().unwrap();
        assert!(!allowed.is_empty());
        std::thread::spawn(move || {
            allowed.pin_current_thread().unwrap();
            assert_eq!(CpuSet::allowed().unwrap(), allowed);
        })
        .join()
        .unwrap();
    }
}
