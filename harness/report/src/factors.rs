//! Factors of the setup, not of the cores, that can change their ranking:
//! the same load run at two or more levels of one [`Factor`], side by
//! side.
//!
//! - [`Factor::Driver`]: two driver backends (`driver = ["epoll",
//!   "io_uring"]`), or an external client beside them (`client = "wrk"`).
//!   How the client does I/O changes how requests reach the server — how
//!   many arrive per wake-up, how many system calls each costs on either
//!   side — and so what a core costs per request; the counters beside the
//!   figures (the core's waits per request, whose inverse is requests per
//!   server wake-up, and the driver's own system calls) show the
//!   mechanism.
//! - [`Factor::Network`]: loopback and network paths (`network =
//!   ["loopback", "lan", "wan-origin"]`). Milliseconds between client,
//!   proxy and origin change batching, wake-ups, pool sizes and the tail;
//!   p99 stands beside CPU per request.
//!
//! A ranking that holds at one level and not another depends on the
//! setup, not on the cores alone; [`Comparison::flip`] says so. A winner
//! is the core with the lowest median CPU per request at a level; its
//! lead is clear when the Hodges-Lehmann shift's 95 % interval over the
//! runner-up excludes zero ([`pb_stats::shift_interval`], the grid's
//! effects' rule). A flip is two levels with clear winners that differ;
//! winners that differ without clear leads are reported as such, never as
//! a flip.

use pb_results::{Cell, CellStatus, DIRECT, Results};
use pb_stats::{Interval, hodges_lehmann, median, shift_interval};

/// Each side's one-sided level of a lead's interval (95 % two-sided).
const LEAD_ALPHA: f64 = 0.025;

/// The backend results name when a cell does not say (files written
/// before there was a choice).
pub const DEFAULT_BACKEND: &str = "epoll";

/// The network of a cell that names none.
pub const DEFAULT_NETWORK: &str = "loopback";

/// What varies between the cells of one load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// The client: proxybench's driver backend, or an external client.
    Driver,
    /// The network path between driver, core and origins.
    Network,
}

impl Factor {
    /// The level a cell ran at.
    fn level(self, cell: &Cell) -> String {
        match self {
            Factor::Driver => backend(cell).to_owned(),
            Factor::Network => match (&cell.params.network, &cell.network) {
                (None, _) => DEFAULT_NETWORK.to_owned(),
                // Asked for a path, ran on loopback (not root): not the
                // same level as either.
                (Some(n), Some(run)) if !run.namespaces => format!("{} (ran on loopback)", n.name),
                (Some(n), _) => n.name.clone(),
            },
        }
    }

    /// The level every comparison shows first.
    fn default_level(self) -> &'static str {
        match self {
            Factor::Driver => DEFAULT_BACKEND,
            Factor::Network => DEFAULT_NETWORK,
        }
    }

    /// The cell's label without this factor's part (the default level's
    /// label).
    fn base_label(self, cell: &Cell) -> String {
        match self {
            Factor::Driver => base_label(cell),
            Factor::Network => {
                let label = cell.label();
                cell.params
                    .network
                    .as_ref()
                    .and_then(|n| label.strip_suffix(&format!("/net-{}", n.name)))
                    .unwrap_or(label)
                    .to_owned()
            }
        }
    }

    /// What a clear change of winner means.
    fn depends_on(self) -> &'static str {
        match self {
            Factor::Driver => "the client's I/O model",
            Factor::Network => "the network path",
        }
    }

    /// The factor's name in sentences.
    pub fn noun(self) -> &'static str {
        match self {
            Factor::Driver => "driver",
            Factor::Network => "network",
        }
    }
}

/// One core under one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// Median core CPU µs per request over the trials.
    pub cpu_us_per_req: Option<f64>,
    /// Per-trial core CPU µs per request.
    pub trials: Vec<f64>,
    /// Median requests per second.
    pub qps: Option<f64>,
    /// Median over trials of each trial's p99 latency, µs.
    pub p99_us: Option<f64>,
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

/// One core's figures at each level of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The core.
    pub core: String,
    /// In [`Comparison::levels`] order; `None` where the core did not
    /// run (or failed) at that level.
    pub sides: Vec<Option<Side>>,
}

/// The cheapest core at one level.
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

/// The same load at two or more levels of a factor.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// What varies.
    pub factor: Factor,
    /// The default level's label: the load without the factor's part.
    pub label: String,
    /// The levels, the default first.
    pub levels: Vec<String>,
    /// Every core that ran at any of them.
    pub rows: Vec<Row>,
    /// The cheapest core at each level (with two or more cores).
    pub leads: Vec<Option<Lead>>,
}

impl Comparison {
    /// Whether the clear winner changes with the level.
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

    /// Whether the cheapest core differs between levels at all, clear or
    /// not.
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
                format!("{} under {} ({size})", l.core, self.levels[i])
            })
        };
        let all: Vec<String> = (0..self.levels.len()).map(named).collect();
        let noun = self.factor.noun();
        if self.flip() {
            format!(
                "this ranking depends on {}: cheapest {}",
                self.factor.depends_on(),
                all.join("; ")
            )
        } else if self.winners_differ() {
            format!(
                "the cheapest core differs by {noun}, within noise: {}",
                all.join("; ")
            )
        } else {
            format!(
                "the same cheapest core under every {noun}: {}",
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

/// Every load that ran at two or more levels of `factor`, in file order.
pub fn comparisons(results: &Results, factor: Factor) -> Vec<Comparison> {
    let mut labels: Vec<String> = Vec::new();
    for cell in &results.cells {
        let base = factor.base_label(cell);
        if !labels.contains(&base) {
            labels.push(base);
        }
    }
    let mut out = Vec::new();
    for label in labels {
        let cells: Vec<&Cell> = results
            .cells
            .iter()
            .filter(|c| factor.base_label(c) == label)
            .collect();
        let mut levels: Vec<String> = Vec::new();
        for cell in &cells {
            let level = factor.level(cell);
            if !levels.contains(&level) {
                levels.push(level);
            }
        }
        if levels.len() < 2 {
            continue;
        }
        levels.sort_by_key(|l| l != factor.default_level());
        let mut cores: Vec<String> = Vec::new();
        for cell in &cells {
            if !cores.contains(&cell.core) {
                cores.push(cell.core.clone());
            }
        }
        let rows: Vec<Row> = cores
            .iter()
            .map(|core| Row {
                core: core.clone(),
                sides: levels
                    .iter()
                    .map(|level| {
                        cells
                            .iter()
                            .find(|c| &c.core == core && &factor.level(c) == level)
                            .filter(|c| c.status == CellStatus::Ok)
                            .map(|c| side(c))
                    })
                    .collect(),
            })
            .collect();
        let leads = (0..levels.len()).map(|i| lead(&rows, i)).collect();
        out.push(Comparison {
            factor,
            label,
            levels,
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
        p99_us: of(&|t| Some(t.latency_us.p99)),
        driver_cpu_us_per_req: of(&|t| t.driver_cpu_us_per_req),
        core_waits_per_req: of(&|t| t.kernel.as_ref()?.perf("waits")),
        core_syscalls_per_req: of(&|t| t.kernel.as_ref()?.perf("syscalls")),
        driver_syscalls_per_req: of(&|t| t.driver_kernel.as_ref()?.perf("syscalls")),
        driver_submits_per_req: of(&|t| t.driver_kernel.as_ref()?.perf("uring_submits")),
    }
}

/// The cheapest core at level `i`, measured against the runner-up. Only
/// cores measured at every level are ranked: a core missing at one would
/// change that level's winner for a reason that is not the factor's.
/// `direct` (no proxy at all) is the baseline, never a contender.
fn lead(rows: &[Row], i: usize) -> Option<Lead> {
    let everywhere = |r: &Row| {
        r.sides
            .iter()
            .all(|s| s.as_ref().is_some_and(|s| s.cpu_us_per_req.is_some()))
    };
    let mut ranked: Vec<(&str, &Side)> = rows
        .iter()
        .filter(|r| r.core != DIRECT && everywhere(r))
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
            p99_us: None,
            driver_cpu_us_per_req: None,
            core_waits_per_req: Some(0.25),
            core_syscalls_per_req: None,
            driver_syscalls_per_req: None,
            driver_submits_per_req: None,
        }
    }

    fn pair(epoll: [(&str, &[f64]); 2], uring: [(&str, &[f64]); 2]) -> Comparison {
        let rows: Vec<Row> = epoll
            .iter()
            .map(|(core, trials)| Row {
                core: (*core).into(),
                sides: vec![
                    Some(side_of(trials)),
                    Some(side_of(uring.iter().find(|(c, _)| c == core).unwrap().1)),
                ],
            })
            .collect();
        let leads = (0..2).map(|i| lead(&rows, i)).collect();
        Comparison {
            factor: Factor::Driver,
            label: "echo/1024B/c50x1".into(),
            levels: vec!["epoll".into(), "io_uring".into()],
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
        // Nor is direct a contender, however cheap: it is no proxy.
        p.rows[0].core = DIRECT.into();
        p.rows[0].sides[1] = p.rows[1].sides[1].clone();
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
    fn cells_across_networks_compare_by_network_and_a_fallback_is_a_level_of_its_own() {
        use pb_results::network::{NetworkParams, NetworkRun, NetworkSpec};
        let original: Results =
            serde_json::from_str(include_str!("../tests/fixtures/echo-open-loop.json")).unwrap();
        let on_lan = |mut cell: Cell, namespaces: bool| {
            cell.id = format!("{}/net-lan/{}", cell.label(), cell.core);
            cell.params.network = Some(NetworkParams {
                name: "lan".into(),
                links: NetworkSpec::default(),
            });
            cell.network = Some(NetworkRun {
                namespaces,
                note: None,
                links: Vec::new(),
            });
            cell
        };
        let mut results = original.clone();
        results
            .cells
            .extend(original.cells.iter().cloned().map(|c| on_lan(c, true)));
        let mut loads: Vec<&str> = original.cells.iter().map(Cell::label).collect();
        loads.sort_unstable();
        loads.dedup();
        let found = comparisons(&results, Factor::Network);
        assert_eq!(found.len(), loads.len());
        for c in &found {
            assert_eq!(c.levels, ["loopback", "lan"]);
            assert!(loads.contains(&c.label.as_str()), "{}", c.label);
            assert!(c.rows.iter().all(|r| r.sides.iter().all(Option::is_some)));
            assert!(c.verdict().contains(" under lan"), "{}", c.verdict());
        }
        // The network is no driver level.
        assert_eq!(
            comparisons(&results, Factor::Driver).len(),
            comparisons(&original, Factor::Driver).len()
        );
        // A cell that asked for lan but ran on loopback is neither.
        results
            .cells
            .last_mut()
            .unwrap()
            .network
            .as_mut()
            .unwrap()
            .namespaces = false;
        let found = comparisons(&results, Factor::Network);
        assert!(
            found
                .iter()
                .any(|c| c.levels.iter().any(|l| l == "lan (ran on loopback)")),
            "{found:?}"
        );
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
