//! The driver as a factor: cells that ran the same load under two driver
//! backends (`driver = ["epoll", "io_uring"]`), or under an external
//! client beside them (`client = "wrk"`), side by side.
//!
//! How the client does I/O changes how requests reach the server — how
//! many arrive per wake-up, how many system calls each costs on either
//! side — and so what a core costs per request. A ranking that holds
//! under one backend and not the other depends on the client, not on the
//! cores alone; [`DriverPair::flip`] says so, and the counters beside the
//! figures (the core's waits per request, whose inverse is requests per
//! server wake-up, and the driver's own system calls) show the mechanism.
//!
//! A winner is the core with the lowest median CPU per request under a
//! backend; its lead is clear when the Hodges-Lehmann shift's 95 %
//! interval over the runner-up excludes zero ([`pb_stats::shift_interval`],
//! the grid's effects' rule). A flip is two backends with clear winners
//! that differ; winners that differ without clear leads are reported as
//! such, never as a flip.

use pb_results::{Cell, CellStatus, Results};
use pb_stats::{Interval, hodges_lehmann, median, shift_interval};

/// Each side's one-sided level of a lead's interval (95 % two-sided).
const LEAD_ALPHA: f64 = 0.025;

/// The backend results name when a cell does not say (files written
/// before there was a choice).
pub const DEFAULT_BACKEND: &str = "epoll";

/// One core under one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// Median core CPU µs per request over the trials.
    pub cpu_us_per_req: Option<f64>,
    /// Per-trial core CPU µs per request.
    pub trials: Vec<f64>,
    /// Median requests per second.
    pub qps: Option<f64>,
    /// Median driver CPU µs per request.
    pub driver_cpu_us_per_req: Option<f64>,
    /// Median waits (epoll_wait, io_uring_enter) of the core per request.
    pub core_waits_per_req: Option<f64>,
    /// Median system calls of the core per request.
    pub core_syscalls_per_req: Option<f64>,
    /// Median system calls of the driver's threads per request.
    pub driver_syscalls_per_req: Option<f64>,
    /// Median io_uring submissions of the driver per request.
    pub driver_submits_per_req: Option<f64>,
}

impl Side {
    /// Requests the core served per wake-up (the inverse of its waits per
    /// request): how many requests each return from epoll_wait or
    /// io_uring_enter brought.
    pub fn requests_per_wakeup(&self) -> Option<f64> {
        self.core_waits_per_req
            .filter(|&w| w > 0.0)
            .map(|w| 1.0 / w)
    }
}

/// One core's figures under each backend of a pair.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverRow {
    /// The core.
    pub core: String,
    /// In [`DriverPair::backends`] order; `None` where the core did not
    /// run (or failed) under that backend.
    pub sides: Vec<Option<Side>>,
}

/// The cheapest core under one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Lead {
    /// The winner.
    pub core: String,
    /// The runner-up it is measured against.
    pub over: String,
    /// Runner-up minus winner, CPU µs per request (Hodges-Lehmann).
    pub margin: f64,
    /// Its 95 % interval; `None` with too few trials to bound it.
    pub interval: Option<Interval>,
}

impl Lead {
    /// Whether the lead's interval excludes zero.
    pub fn is_clear(&self) -> bool {
        self.interval.is_some_and(|i| i.low > 0.0)
    }
}

/// The same load under two or more driver backends.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverPair {
    /// The epoll cell's label: the load without its backend.
    pub label: String,
    /// The backends, epoll first.
    pub backends: Vec<String>,
    /// Every core that ran under any of them.
    pub rows: Vec<DriverRow>,
    /// The cheapest core under each backend (with two or more cores).
    pub leads: Vec<Option<Lead>>,
}

impl DriverPair {
    /// Whether the clear winner changes with the backend.
    pub fn flip(&self) -> bool {
        let clear: Vec<&str> = self
            .leads
            .iter()
            .flatten()
            .filter(|l| l.is_clear())
            .map(|l| l.core.as_str())
            .collect();
        clear.windows(2).any(|w| w[0] != w[1])
    }

    /// Whether the cheapest core differs between backends at all, clear
    /// or not.
    pub fn winners_differ(&self) -> bool {
        let winners: Vec<&str> = self
            .leads
            .iter()
            .flatten()
            .map(|l| l.core.as_str())
            .collect();
        winners.windows(2).any(|w| w[0] != w[1])
    }

    /// What the pair says about the ranking, as a sentence.
    pub fn verdict(&self) -> String {
        let named = |i: usize| {
            self.leads[i].as_ref().map_or("-".to_owned(), |l| {
                let size = match l.interval {
                    Some(iv) => format!(
                        "{:.1} µs/req below {} [{:.1}, {:.1}]",
                        l.margin, l.over, iv.low, iv.high
                    ),
                    None => format!(
                        "{:.1} µs/req below {}, too few trials to bound",
                        l.margin, l.over
                    ),
                };
                format!("{} under {} ({size})", l.core, self.backends[i])
            })
        };
        let all: Vec<String> = (0..self.backends.len()).map(named).collect();
        if self.flip() {
            format!(
                "this ranking depends on the client's I/O model: cheapest {}",
                all.join("; ")
            )
        } else if self.winners_differ() {
            format!(
                "the cheapest core differs by driver, within noise: {}",
                all.join("; ")
            )
        } else {
            format!(
                "the same cheapest core under every driver: {}",
                all.join("; ")
            )
        }
    }
}

/// The client a cell ran under: an external client's name (`wrk`), else
/// proxybench's driver backend. An external client stands beside the
/// backends as one more way of loading the same core.
fn backend(cell: &Cell) -> &str {
    cell.params
        .client
        .as_deref()
        .unwrap_or(cell.params.driver.as_str())
}

/// The cell's label without its backend (the epoll cell's label): the
/// backend's component is the label's last, before the `@rate` of an
/// open-loop cell.
fn base_label(cell: &Cell) -> String {
    let label = cell.label();
    let backend = backend(cell);
    if backend == DEFAULT_BACKEND {
        return label.to_owned();
    }
    let (load, rate) = match label.rfind('@') {
        Some(at) => label.split_at(at),
        None => (label, ""),
    };
    match load.strip_suffix(&format!("/{backend}")) {
        Some(base) => format!("{base}{rate}"),
        None => label.to_owned(),
    }
}

/// Every load that ran under two or more backends, in file order.
pub fn pairs(results: &Results) -> Vec<DriverPair> {
    let mut labels: Vec<String> = Vec::new();
    for cell in &results.cells {
        let base = base_label(cell);
        if !labels.contains(&base) {
            labels.push(base);
        }
    }
    let mut out = Vec::new();
    for label in labels {
        let cells: Vec<&Cell> = results
            .cells
            .iter()
            .filter(|c| base_label(c) == label)
            .collect();
        let mut backends: Vec<String> = Vec::new();
        for cell in &cells {
            if !backends.iter().any(|b| b == backend(cell)) {
                backends.push(backend(cell).to_owned());
            }
        }
        if backends.len() < 2 {
            continue;
        }
        backends.sort_by_key(|b| b != DEFAULT_BACKEND);
        let mut cores: Vec<String> = Vec::new();
        for cell in &cells {
            if !cores.contains(&cell.core) {
                cores.push(cell.core.clone());
            }
        }
        let rows: Vec<DriverRow> = cores
            .iter()
            .map(|core| DriverRow {
                core: core.clone(),
                sides: backends
                    .iter()
                    .map(|b| {
                        cells
                            .iter()
                            .find(|c| &c.core == core && backend(c) == b)
                            .filter(|c| c.status == CellStatus::Ok)
                            .map(|c| side(c))
                    })
                    .collect(),
            })
            .collect();
        let leads = (0..backends.len()).map(|i| lead(&rows, i)).collect();
        out.push(DriverPair {
            label,
            backends,
            rows,
            leads,
        });
    }
    out
}

fn side(cell: &Cell) -> Side {
    let of = |f: &dyn Fn(&pb_results::Trial) -> Option<f64>| {
        let values: Vec<f64> = cell.trials.iter().filter_map(f).collect();
        median(&values)
    };
    let trials: Vec<f64> = cell
        .trials
        .iter()
        .filter_map(|t| t.cpu_us_per_req)
        .collect();
    Side {
        cpu_us_per_req: median(&trials),
        trials,
        qps: of(&|t| Some(t.qps)),
        driver_cpu_us_per_req: of(&|t| t.driver_cpu_us_per_req),
        core_waits_per_req: of(&|t| t.kernel.as_ref()?.perf("waits")),
        core_syscalls_per_req: of(&|t| t.kernel.as_ref()?.perf("syscalls")),
        driver_syscalls_per_req: of(&|t| t.driver_kernel.as_ref()?.perf("syscalls")),
        driver_submits_per_req: of(&|t| t.driver_kernel.as_ref()?.perf("uring_submits")),
    }
}

/// The cheapest core under backend `i`, measured against the runner-up.
/// Only cores measured under every backend of the pair are ranked: a
/// core missing under one would change that backend's winner for a
/// reason that is not the client's.
fn lead(rows: &[DriverRow], i: usize) -> Option<Lead> {
    let everywhere = |r: &DriverRow| {
        r.sides
            .iter()
            .all(|s| s.as_ref().is_some_and(|s| s.cpu_us_per_req.is_some()))
    };
    let mut ranked: Vec<(&str, &Side)> = rows
        .iter()
        .filter(|r| everywhere(r))
        .filter_map(|r| {
            let side = r.sides[i].as_ref()?;
            side.cpu_us_per_req.map(|_| (r.core.as_str(), side))
        })
        .collect();
    ranked.sort_by(|a, b| {
        a.1.cpu_us_per_req
            .partial_cmp(&b.1.cpu_us_per_req)
            .expect("medians are finite")
    });
    let [(winner, best), (runner_up, next), ..] = ranked[..] else {
        return None;
    };
    Some(Lead {
        core: winner.to_owned(),
        over: runner_up.to_owned(),
        margin: hodges_lehmann(&best.trials, &next.trials)?,
        interval: shift_interval(&best.trials, &next.trials, LEAD_ALPHA),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side_of(trials: &[f64]) -> Side {
        Side {
            cpu_us_per_req: median(trials),
            trials: trials.to_vec(),
            qps: None,
            driver_cpu_us_per_req: None,
            core_waits_per_req: Some(0.25),
            core_syscalls_per_req: None,
            driver_syscalls_per_req: None,
            driver_submits_per_req: None,
        }
    }

    fn pair(epoll: [(&str, &[f64]); 2], uring: [(&str, &[f64]); 2]) -> DriverPair {
        let rows: Vec<DriverRow> = epoll
            .iter()
            .map(|(core, trials)| DriverRow {
                core: (*core).into(),
                sides: vec![
                    Some(side_of(trials)),
                    Some(side_of(uring.iter().find(|(c, _)| c == core).unwrap().1)),
                ],
            })
            .collect();
        let leads = (0..2).map(|i| lead(&rows, i)).collect();
        DriverPair {
            label: "echo/1024B/c50x1".into(),
            backends: vec!["epoll".into(), "io_uring".into()],
            rows,
            leads,
        }
    }

    #[test]
    fn a_clear_winner_that_changes_with_the_driver_is_a_flip() {
        let p = pair(
            [
                ("a", &[10.0, 10.1, 10.2, 10.0, 10.1]),
                ("b", &[11.0, 11.1, 11.2, 11.0, 11.1]),
            ],
            [
                ("a", &[9.0, 9.1, 9.2, 9.0, 9.1]),
                ("b", &[7.0, 7.1, 7.2, 7.0, 7.1]),
            ],
        );
        assert_eq!(p.leads[0].as_ref().unwrap().core, "a");
        assert_eq!(p.leads[1].as_ref().unwrap().core, "b");
        assert!(p.leads.iter().flatten().all(Lead::is_clear));
        assert!(p.flip());
        assert!(
            p.verdict()
                .starts_with("this ranking depends on the client's I/O model"),
            "{}",
            p.verdict()
        );
        assert_eq!(
            p.rows[0].sides[0].as_ref().unwrap().requests_per_wakeup(),
            Some(4.0)
        );
    }

    #[test]
    fn a_core_missing_under_one_backend_is_not_ranked_and_labels_lose_only_their_backend() {
        let mut p = pair(
            [
                ("a", &[10.0, 10.1, 10.2, 10.0, 10.1]),
                ("b", &[11.0, 11.1, 11.2, 11.0, 11.1]),
            ],
            [
                ("a", &[9.0, 9.1, 9.2, 9.0, 9.1]),
                ("b", &[12.0, 12.1, 12.2, 12.0, 12.1]),
            ],
        );
        // a failed under io_uring: b would "win" there, but only because
        // a is missing, so neither backend ranks a.
        p.rows[0].sides[1] = None;
        assert!((0..2).all(|i| lead(&p.rows, i).is_none()));

        let mut results: pb_results::Results =
            serde_json::from_str(include_str!("../tests/fixtures/echo-open-loop.json")).unwrap();
        let cell = &mut results.cells[0];
        let epoll_label = cell.label().to_owned();
        let (load, rate) = epoll_label.split_at(epoll_label.rfind('@').unwrap());
        cell.id = format!("{load}/io_uring{rate}/{}", cell.core);
        cell.params.driver = "io_uring".into();
        assert_eq!(base_label(cell), epoll_label);
        cell.id = format!("{load}/wrk/{}", cell.core);
        cell.params.driver = "epoll".into();
        cell.params.client = Some("wrk".into());
        assert_eq!(base_label(cell), load);
    }

    #[test]
    fn winners_within_noise_are_no_flip_and_a_steady_winner_is_said_so() {
        // Under io_uring the two overlap: b's median is lower, not clearly.
        let noisy = pair(
            [
                ("a", &[10.0, 10.1, 10.2, 10.0, 10.1]),
                ("b", &[11.0, 11.1, 11.2, 11.0, 11.1]),
            ],
            [
                ("a", &[9.0, 7.0, 9.2, 7.1, 9.1]),
                ("b", &[7.05, 9.05, 7.15, 9.15, 8.9]),
            ],
        );
        assert_eq!(noisy.leads[1].as_ref().unwrap().core, "b");
        assert!(!noisy.leads[1].as_ref().unwrap().is_clear());
        assert!(!noisy.flip());
        assert!(noisy.winners_differ());
        assert!(
            noisy.verdict().contains("within noise"),
            "{}",
            noisy.verdict()
        );
        let steady = pair(
            [
                ("a", &[10.0, 10.1, 10.2, 10.0, 10.1]),
                ("b", &[11.0, 11.1, 11.2, 11.0, 11.1]),
            ],
            [
                ("a", &[9.0, 9.1, 9.2, 9.0, 9.1]),
                ("b", &[12.0, 12.1, 12.2, 12.0, 12.1]),
            ],
        );
        assert!(!steady.flip() && !steady.winners_differ());
        assert!(steady.verdict().starts_with("the same cheapest core"));
    }
}
