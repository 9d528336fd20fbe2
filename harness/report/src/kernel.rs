//! Where each core's CPU goes, per scenario cell: user against kernel time
//! per request beside the counts that explain it (system calls by kind,
//! io_uring submissions, context switches, allocations), each core's
//! distance from the scenario's physical floor of data system calls, and
//! one sentence naming the largest difference between cores.
//!
//! Everything comes from the results' [`KernelWork`] medians; a figure a
//! core could not count stays absent (and the reason is kept), never 0.

use pb_results::{DIRECT, KernelWork};

use crate::analysis::CoreRow;

/// One core's kernel and allocator work per request.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelRow {
    /// Core name.
    pub core: String,
    /// A reference proxy (nginx, HAProxy, ...).
    pub reference_proxy: bool,
    /// User CPU µs per request: the core's median CPU per request times
    /// its median user share.
    pub user_us: Option<f64>,
    /// Kernel (system) CPU µs per request, likewise.
    pub sys_us: Option<f64>,
    /// The medians as recorded.
    pub work: KernelWork,
}

impl KernelRow {
    /// System calls per request above (positive) or below the floor's
    /// data system calls.
    pub fn above_floor(&self, floor: &Floor) -> Option<f64> {
        Some(self.work.perf("syscalls")? - f64::from(floor.data_syscalls))
    }
}

/// The fewest data system calls a keep-alive request of a scenario needs
/// on a readiness-based (epoll) core: one read or write per transfer. A
/// completion-based (io_uring) core submits the same transfers as queue
/// entries and can batch them into one `io_uring_enter` per wake-up, so
/// it may go below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor {
    /// Data system calls per request.
    pub data_syscalls: u32,
    /// Which ones.
    pub what: &'static str,
}

/// The floor of `scenario`, by the results' scenario name.
pub fn floor(scenario: &str) -> Option<Floor> {
    match scenario {
        "echo" => Some(Floor {
            data_syscalls: 2,
            what: "read the client, write the client",
        }),
        // A relay moves the same four transfers as HTTP forwarding,
        // without parsing anything.
        "tcp-forward" => Some(Floor {
            data_syscalls: 4,
            what: "read the client, write the origin, read the origin, write the client",
        }),
        "http-forward" => Some(Floor {
            data_syscalls: 4,
            what: "read the client, write the origin, read the origin, write the client",
        }),
        _ => None,
    }
}

/// One scenario cell's view of where the CPU goes.
#[derive(Debug, Clone, PartialEq)]
pub struct WhereCpuGoes {
    /// Measured cores with kernel figures, in the group's order (never
    /// the no-proxy [`DIRECT`] path: its figures are its origin's).
    pub rows: Vec<KernelRow>,
    /// The scenario's floor, when it has one.
    pub floor: Option<Floor>,
    /// The largest difference between two cores, as a sentence.
    pub largest_difference: Option<String>,
    /// Why some figures are missing (each distinct reason once).
    pub unavailable: Vec<String>,
}

impl WhereCpuGoes {
    /// The view of one group's rows; `None` when no core recorded kernel
    /// figures (results from before they existed, a target not sampled).
    pub fn new(scenario: &str, rows: &[CoreRow]) -> Option<WhereCpuGoes> {
        let rows: Vec<KernelRow> = rows
            .iter()
            .filter(|r| r.core != DIRECT)
            .filter_map(|r| {
                let summary = r.measured()?;
                let work = summary.kernel.clone()?;
                // The headline CPU per request split by the median kernel
                // share, so the bar is as long as the figure in the cells
                // table (the median of user plus the median of system
                // time is not the median of their sum).
                let (user_us, sys_us) = match (summary.cpu_us_per_req, work.sys_share()) {
                    (Some(total), Some(share)) => {
                        (Some(total * (1.0 - share)), Some(total * share))
                    }
                    _ => (work.user_cpu_us_per_req, work.sys_cpu_us_per_req),
                };
                Some(KernelRow {
                    core: r.core.clone(),
                    reference_proxy: r.reference_proxy,
                    user_us,
                    sys_us,
                    work,
                })
            })
            .collect();
        if rows.is_empty() {
            return None;
        }
        // Each distinct reason once, with the first core that gave it.
        let mut reasons: Vec<&str> = Vec::new();
        let mut unavailable = Vec::new();
        for row in &rows {
            for reason in [
                row.work.perf_unavailable.as_deref(),
                row.work.allocations_unavailable.as_deref(),
            ]
            .into_iter()
            .flatten()
            {
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                    unavailable.push(format!("{}: {reason}", row.core));
                }
            }
        }
        Some(WhereCpuGoes {
            largest_difference: largest_difference(&rows),
            floor: floor(scenario),
            rows,
            unavailable,
        })
    }
}

/// Below this many per request a count is "almost none": a ratio to it
/// would say more about rounding than about the cores.
const NEGLIGIBLE: f64 = 0.05;

/// The counts compared, with how a sentence says "X times as much".
const COMPARED: [(&str, &str); 4] = [
    ("syscalls", "the system calls of"),
    ("context switches", "the context switches of"),
    ("allocations", "the heap allocations of"),
    ("kernel time", "the kernel CPU time of"),
];

fn count(row: &KernelRow, what: &str) -> Option<f64> {
    match what {
        "syscalls" => row.work.perf("syscalls"),
        "context switches" => Some(row.work.context_switches()),
        "allocations" => row.work.allocations_per_req,
        "kernel time" => row.sys_us,
        _ => None,
    }
}

/// The largest ratio between two cores over the compared counts:
/// "glommio makes 11× the system calls of monoio per request (2.08 vs
/// 0.19)". `None` with fewer than two cores, or when no count differs
/// by 10 % or more.
pub fn largest_difference(rows: &[KernelRow]) -> Option<String> {
    let mut best: Option<(f64, &str, &KernelRow, f64, &KernelRow, f64)> = None;
    for (what, phrase) in COMPARED {
        let values: Vec<(&KernelRow, f64)> = rows
            .iter()
            .filter_map(|r| Some((r, count(r, what)?)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        let most = values.iter().max_by(|a, b| a.1.total_cmp(&b.1));
        let least = values.iter().min_by(|a, b| a.1.total_cmp(&b.1));
        let (Some(&(hi, h)), Some(&(lo, l))) = (most, least) else {
            continue;
        };
        if l < NEGLIGIBLE || hi.core == lo.core {
            continue;
        }
        let ratio = h / l;
        if best.as_ref().is_none_or(|b| ratio > b.0) {
            best = Some((ratio, phrase, hi, h, lo, l));
        }
    }
    let (ratio, phrase, hi, h, lo, l) = best.filter(|b| b.0 >= 1.1)?;
    let times = if ratio >= 10.0 {
        format!("{ratio:.0}×")
    } else {
        format!("{ratio:.1}×")
    };
    let unit = if phrase.contains("time") { " µs" } else { "" };
    Some(format!(
        "{} has {times} {phrase} {} per request ({h:.2}{unit} vs {l:.2}{unit}).",
        hi.core, lo.core
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(core: &str, syscalls: Option<f64>, switches: f64, allocs: Option<f64>) -> KernelRow {
        KernelRow {
            core: core.into(),
            reference_proxy: false,
            user_us: Some(5.0),
            sys_us: Some(10.0),
            work: KernelWork {
                user_cpu_us_per_req: Some(5.0),
                sys_cpu_us_per_req: Some(10.0),
                voluntary_switches_per_req: switches,
                involuntary_switches_per_req: 0.0,
                perf_per_req: syscalls
                    .map(|s| [("syscalls".to_owned(), s)].into_iter().collect())
                    .unwrap_or_default(),
                perf_unavailable: syscalls.is_none().then(|| "no perf".into()),
                allocations_per_req: allocs,
                alloc_bytes_per_req: allocs.map(|a| a * 64.0),
                allocations_unavailable: allocs.is_none().then(|| "a program".into()),
            },
        }
    }

    #[test]
    fn names_the_largest_ratio_over_every_count() {
        let rows = [
            row("glommio", Some(11.2), 0.13, Some(14.0)),
            row("monoio", Some(3.6), 1.4, Some(14.0)),
            row("tokio", Some(6.0), 1.6, Some(15.0)),
        ];
        // Switches differ most: 1.6 / 0.13 = 12.3.
        assert_eq!(
            largest_difference(&rows).unwrap(),
            "tokio has 12× the context switches of glommio per request (1.60 vs 0.13)."
        );
        let rows = [
            row("glommio", Some(11.2), 1.0, Some(14.0)),
            row("monoio", Some(3.6), 1.0, None),
        ];
        assert_eq!(
            largest_difference(&rows).unwrap(),
            "glommio has 3.1× the system calls of monoio per request (11.20 vs 3.60)."
        );
    }

    #[test]
    fn no_sentence_for_one_core_near_zero_counts_or_no_difference() {
        assert_eq!(
            largest_difference(&[row("a", Some(3.0), 1.0, Some(2.0))]),
            None
        );
        // A count of almost nothing is not divided by.
        let rows = [
            row("a", Some(3.0), 0.01, Some(0.0)),
            row("b", Some(3.1), 1.5, Some(9.0)),
        ];
        assert_eq!(largest_difference(&rows), None);
    }

    #[test]
    fn floors_count_each_transfer_once() {
        assert_eq!(floor("echo").unwrap().data_syscalls, 2);
        assert_eq!(floor("http-forward").unwrap().data_syscalls, 4);
        assert_eq!(floor("something-new"), None);
        let r = row("tokio", Some(5.08), 1.0, None);
        let above = r.above_floor(&floor("http-forward").unwrap()).unwrap();
        assert!((above - 1.08).abs() < 1e-9);
        assert_eq!(
            row("x", None, 1.0, None).above_floor(&floor("echo").unwrap()),
            None
        );
        // Without perf, switches come from /proc.
        assert_eq!(row("x", None, 0.7, None).work.context_switches(), 0.7);
    }
}
