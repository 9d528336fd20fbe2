//! The runtime × composition grid of a results file, and each factor's
//! effect measured apart.
//!
//! For every scenario cell that ran two or more grid cores: runtimes as
//! rows, compositions as columns, CPU µs per request and p99 in each
//! filled cell. An effect compares two cores that differ in one factor
//! only — two runtimes serving the same composition, or two compositions
//! on the same runtime — as the Hodges-Lehmann shift of their per-trial
//! CPU per request with its distribution-free 95 % interval
//! ([`pb_stats::shift_interval`]); "within noise" when the interval covers
//! zero. The reference of each comparison: for runtimes the row with the
//! most filled cells (the one every column can be read against) where it
//! fills the column, else the column's first row, and a runtime's variant
//! (a row named `<runtime>-<variant>`, as `monoio-epoll` is monoio on its
//! epoll driver) against that runtime too; for compositions `raw`, the
//! floor, where the row has it (else the row's first composition).
//!
//! An [`Interaction`] asks whether a composition's cost depends on the
//! runtime: the composition's shift over the floor on one runtime minus
//! the same shift on the reference runtime, with a seeded percentile
//! bootstrap interval ([`pb_stats::bootstrap_interval`]) since no
//! rank-based interval covers a difference of differences.

use pb_results::{Cell, CellStatus, Results};
use pb_stats::{Interval, bootstrap_interval, hodges_lehmann, median, shift_interval};

/// Each side's one-sided level of an effect's interval (95 % two-sided).
const EFFECT_ALPHA: f64 = 0.025;

/// The composition every other is measured against.
pub const FLOOR: &str = "raw";

/// One filled grid cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The core.
    pub core: String,
    /// Median CPU µs per request over the trials.
    pub cpu_us_per_req: Option<f64>,
    /// Lowest and highest trial.
    pub cpu_range: Option<(f64, f64)>,
    /// p99 of the merged histograms, µs.
    pub p99_us: Option<f64>,
    /// Per-trial CPU µs per request, what effects are computed from.
    pub trials: Vec<f64>,
}

/// The grid of one scenario cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// The scenario cell's label (`echo/100B/c50x1@20000rps`).
    pub label: String,
    /// Runtime rows, in the results' core order.
    pub runtimes: Vec<String>,
    /// Composition columns, in the results' core order.
    pub compositions: Vec<String>,
    /// `entries[row][column]`.
    pub entries: Vec<Vec<Option<Entry>>>,
}

/// Which factor an effect varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// Two runtimes, the composition held fixed.
    Runtime,
    /// Two compositions, the runtime held fixed.
    Composition,
}

/// One factor's effect with the other held fixed.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// The factor varied.
    pub factor: Factor,
    /// The level of the other factor, held fixed.
    pub held: String,
    /// The reference level.
    pub from: String,
    /// The level compared with it.
    pub to: String,
    /// CPU µs per request of `to` minus `from` (Hodges-Lehmann).
    pub shift: f64,
    /// Its 95 % interval; `None` with too few trials to bound it.
    pub interval: Option<Interval>,
}

impl Effect {
    /// Whether the interval excludes zero.
    pub fn is_clear(&self) -> bool {
        self.interval.is_some_and(|i| i.low > 0.0 || i.high < 0.0)
    }

    /// The effect as a sentence a user can quote.
    pub fn sentence(&self) -> String {
        let (what, held) = match self.factor {
            Factor::Runtime => ("runtime", format!("both with {}", self.held)),
            Factor::Composition => ("composition", format!("both on {}", self.held)),
        };
        let size = match self.interval {
            Some(i) if self.is_clear() => {
                format!("{:+.1} µs/req [{:+.1}, {:+.1}]", self.shift, i.low, i.high)
            }
            Some(i) => format!(
                "within noise ({:+.1} µs/req [{:+.1}, {:+.1}])",
                self.shift, i.low, i.high
            ),
            None => format!("{:+.1} µs/req (too few trials to bound)", self.shift),
        };
        format!("{what} {} vs {} ({held}): {size}", self.to, self.from)
    }
}

/// Whether a composition's cost over the floor differs between two
/// runtimes.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    /// The runtime compared with the reference.
    pub runtime: String,
    /// The reference runtime (the fullest row).
    pub reference: String,
    /// The composition whose cost is compared.
    pub composition: String,
    /// What its cost is measured over ([`FLOOR`]).
    pub floor: String,
    /// µs/req: (composition − floor) on `runtime` minus the same on
    /// `reference`, each a Hodges-Lehmann shift.
    pub estimate: f64,
    /// Its 95 % bootstrap interval; `None` with too few trials.
    pub interval: Option<Interval>,
}

impl Interaction {
    /// Whether the interval excludes zero: the interaction exists.
    pub fn is_clear(&self) -> bool {
        self.interval.is_some_and(|i| i.low > 0.0 || i.high < 0.0)
    }

    /// The interaction as a sentence a user can quote.
    pub fn sentence(&self) -> String {
        let size = match self.interval {
            Some(i) if self.is_clear() => {
                format!(
                    "{:+.1} µs/req [{:+.1}, {:+.1}]",
                    self.estimate, i.low, i.high
                )
            }
            Some(i) => format!(
                "within noise ({:+.1} µs/req [{:+.1}, {:+.1}])",
                self.estimate, i.low, i.high
            ),
            None => format!("{:+.1} µs/req (too few trials to bound)", self.estimate),
        };
        format!(
            "interaction: {} over {} costs on {} minus on {}: {size}",
            self.composition, self.floor, self.runtime, self.reference
        )
    }
}

/// The grid of every scenario cell with two or more grid cores that ran.
pub fn grids(results: &Results) -> Vec<Grid> {
    let grid_of = |core: &str| {
        results
            .cores
            .iter()
            .find(|c| c.name == core)
            .and_then(|c| c.grid.clone())
    };
    let mut labels: Vec<&str> = Vec::new();
    for cell in &results.cells {
        if !labels.contains(&cell.label()) {
            labels.push(cell.label());
        }
    }
    let mut out = Vec::new();
    for label in labels {
        let cells: Vec<(&Cell, pb_results::GridCell)> = results
            .cells
            .iter()
            .filter(|c| c.label() == label && c.status == CellStatus::Ok)
            .filter_map(|c| grid_of(&c.core).map(|g| (c, g)))
            .collect();
        if cells.len() < 2 {
            continue;
        }
        let mut runtimes: Vec<String> = Vec::new();
        for (_, g) in &cells {
            if !runtimes.contains(&g.runtime) {
                runtimes.push(g.runtime.clone());
            }
        }
        // Columns in the order of the fullest row (the one that shows
        // the most compositions side by side), then any others.
        // Ties go to the first row (`max_by_key` keeps the last maximum).
        let fullest = runtimes
            .iter()
            .rev()
            .max_by_key(|r| cells.iter().filter(|(_, g)| &g.runtime == *r).count())
            .cloned();
        let mut compositions: Vec<String> = Vec::new();
        let in_fullest = cells
            .iter()
            .filter(|(_, g)| Some(&g.runtime) == fullest.as_ref());
        for (_, g) in in_fullest.chain(cells.iter()) {
            if !compositions.contains(&g.composition) {
                compositions.push(g.composition.clone());
            }
        }
        let mut entries = vec![vec![None; compositions.len()]; runtimes.len()];
        for (cell, g) in cells {
            let row = runtimes.iter().position(|r| *r == g.runtime).unwrap();
            let col = compositions
                .iter()
                .position(|c| *c == g.composition)
                .unwrap();
            let trials: Vec<f64> = cell
                .trials
                .iter()
                .filter_map(|t| t.cpu_us_per_req)
                .collect();
            let range = trials
                .iter()
                .copied()
                .fold(None, |acc: Option<(f64, f64)>, v| {
                    Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
                });
            entries[row][col] = Some(Entry {
                core: cell.core.clone(),
                cpu_us_per_req: median(&trials),
                cpu_range: range,
                p99_us: cell.summary.as_ref().map(|s| s.latency_us.p99),
                trials,
            });
        }
        out.push(Grid {
            label: label.to_owned(),
            runtimes,
            compositions,
            entries,
        });
    }
    out
}

impl Grid {
    /// The runtime effects (each runtime against the fullest row, per
    /// composition column) and the composition effects (each composition
    /// against [`FLOOR`], or the row's first composition where the row
    /// has no floor), in row and column order.
    pub fn effects(&self) -> Vec<Effect> {
        let mut out = Vec::new();
        let filled = |row: usize| self.entries[row].iter().filter(|e| e.is_some()).count();
        let fullest = (0..self.runtimes.len()).rev().max_by_key(|&r| filled(r));
        for (col, composition) in self.compositions.iter().enumerate() {
            // The fullest row where it fills this column, else the first
            // row that does.
            let base = fullest
                .filter(|&r| self.entries[r][col].is_some())
                .or_else(|| (0..self.runtimes.len()).find(|&r| self.entries[r][col].is_some()));
            if let Some(base) = base {
                for row in (0..self.runtimes.len()).filter(|&r| r != base) {
                    if let Some(effect) = self.effect(
                        Factor::Runtime,
                        composition,
                        (base, col),
                        (row, col),
                        (&self.runtimes[base], &self.runtimes[row]),
                    ) {
                        out.push(effect);
                    }
                }
            }
            // A runtime's variant (`monoio-epoll`: monoio on another
            // driver) is also compared with the runtime it varies, the
            // one comparison that changes the driver alone.
            for (variant, name) in self.runtimes.iter().enumerate() {
                let parent = self.runtimes.iter().position(|p| {
                    name.strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.starts_with('-'))
                });
                if let Some(parent) = parent.filter(|&p| Some(p) != base && Some(variant) != base)
                    && let Some(effect) = self.effect(
                        Factor::Runtime,
                        composition,
                        (variant, col),
                        (parent, col),
                        (name, &self.runtimes[parent]),
                    )
                {
                    out.push(effect);
                }
            }
        }
        for (row, runtime) in self.runtimes.iter().enumerate() {
            // The floor where the row has it, else the row's first
            // composition.
            let floor = self
                .compositions
                .iter()
                .position(|c| c == FLOOR)
                .filter(|&c| self.entries[row][c].is_some())
                .or_else(|| self.entries[row].iter().position(Option::is_some));
            if let Some(floor) = floor {
                for col in (0..self.compositions.len()).filter(|&c| c != floor) {
                    if let Some(effect) = self.effect(
                        Factor::Composition,
                        runtime,
                        (row, floor),
                        (row, col),
                        (&self.compositions[floor], &self.compositions[col]),
                    ) {
                        out.push(effect);
                    }
                }
            }
        }
        out
    }

    /// Every interaction the grid can measure: each runtime against the
    /// fullest row, for each composition both rows share with the floor.
    pub fn interactions(&self) -> Vec<Interaction> {
        let filled = |row: usize| self.entries[row].iter().filter(|e| e.is_some()).count();
        let Some(base) = (0..self.runtimes.len()).rev().max_by_key(|&r| filled(r)) else {
            return Vec::new();
        };
        let Some(floor) = self.compositions.iter().position(|c| c == FLOOR) else {
            return Vec::new();
        };
        let trials =
            |row: usize, col: usize| self.entries[row][col].as_ref().map(|e| &e.trials[..]);
        let mut out = Vec::new();
        for row in (0..self.runtimes.len()).filter(|&r| r != base) {
            for col in (0..self.compositions.len()).filter(|&c| c != floor) {
                let (Some(b0), Some(b1), Some(r0), Some(r1)) = (
                    trials(base, floor),
                    trials(base, col),
                    trials(row, floor),
                    trials(row, col),
                ) else {
                    continue;
                };
                let contrast =
                    |s: &[&[f64]]| Some(hodges_lehmann(s[2], s[3])? - hodges_lehmann(s[0], s[1])?);
                let Some(estimate) = contrast(&[b0, b1, r0, r1]) else {
                    continue;
                };
                out.push(Interaction {
                    runtime: self.runtimes[row].clone(),
                    reference: self.runtimes[base].clone(),
                    composition: self.compositions[col].clone(),
                    floor: FLOOR.to_owned(),
                    estimate,
                    interval: bootstrap_interval(&[b0, b1, r0, r1], contrast, EFFECT_ALPHA),
                });
            }
        }
        out
    }

    fn effect(
        &self,
        factor: Factor,
        held: &str,
        from: (usize, usize),
        to: (usize, usize),
        names: (&str, &str),
    ) -> Option<Effect> {
        let a = self.entries[from.0][from.1].as_ref()?;
        let b = self.entries[to.0][to.1].as_ref()?;
        Some(Effect {
            factor,
            held: held.to_owned(),
            from: names.0.to_owned(),
            to: names.1.to_owned(),
            shift: hodges_lehmann(&a.trials, &b.trials)?,
            interval: shift_interval(&a.trials, &b.trials, EFFECT_ALPHA),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(core: &str, trials: &[f64]) -> Option<Entry> {
        Some(Entry {
            core: core.into(),
            cpu_us_per_req: median(trials),
            cpu_range: None,
            p99_us: None,
            trials: trials.to_vec(),
        })
    }

    fn grid() -> Grid {
        Grid {
            label: "echo".into(),
            runtimes: vec!["tokio-tpc".into(), "monoio".into()],
            compositions: vec!["borrowing".into(), "raw".into()],
            entries: vec![
                vec![
                    entry("tokio-tpc/borrowing", &[20.0, 20.5, 21.0, 20.2, 20.8]),
                    entry("tokio-tpc/raw", &[19.9, 20.4, 21.1, 20.3, 20.7]),
                ],
                vec![entry("monoio", &[25.0, 25.5, 26.0, 25.2, 25.8]), None],
            ],
        }
    }

    #[test]
    fn a_separated_runtime_effect_is_clear_and_an_overlapping_one_is_noise() {
        let effects = grid().effects();
        let runtime: Vec<_> = effects
            .iter()
            .filter(|e| e.factor == Factor::Runtime)
            .collect();
        // The fullest row (tokio-tpc) is the reference; only borrowing has
        // both runtimes.
        assert_eq!(runtime.len(), 1);
        let e = runtime[0];
        assert_eq!((e.from.as_str(), e.to.as_str()), ("tokio-tpc", "monoio"));
        assert!((e.shift - 5.0).abs() < 0.01, "{e:?}");
        assert!(e.is_clear(), "{e:?}");
        assert!(
            e.sentence()
                .starts_with("runtime monoio vs tokio-tpc (both with borrowing): +5.0 µs/req ["),
            "{}",
            e.sentence()
        );

        let composition: Vec<_> = effects
            .iter()
            .filter(|e| e.factor == Factor::Composition)
            .collect();
        // Only tokio-tpc has the floor; borrowing against raw overlaps.
        assert_eq!(composition.len(), 1);
        let e = composition[0];
        assert_eq!((e.from.as_str(), e.to.as_str()), ("raw", "borrowing"));
        assert!(!e.is_clear(), "{e:?}");
        assert!(e.sentence().contains("within noise"), "{}", e.sentence());
    }

    #[test]
    fn a_runtime_variant_is_compared_with_the_runtime_it_varies() {
        let mut g = grid();
        g.runtimes.push("monoio-epoll".into());
        g.entries.push(vec![
            entry("monoio-epoll", &[22.0, 22.5, 23.0, 22.2, 22.8]),
            None,
        ]);
        let sentences: Vec<String> = g
            .effects()
            .iter()
            .filter(|e| e.factor == Factor::Runtime)
            .map(|e| e.sentence())
            .collect();
        assert_eq!(sentences.len(), 3, "{sentences:?}");
        assert!(
            sentences[2]
                .starts_with("runtime monoio vs monoio-epoll (both with borrowing): +3.0 µs/req ["),
            "{sentences:?}"
        );
    }

    #[test]
    fn an_interaction_is_found_where_a_compositions_cost_depends_on_the_runtime() {
        // tokio-tpc: borrowing costs +1 over raw; monoio: +4 over raw.
        let mut g = grid();
        g.entries[0][0] = entry("tokio-tpc/borrowing", &[21.0, 21.3, 20.8, 21.1, 20.9, 21.2]);
        g.entries[0][1] = entry("tokio-tpc/raw", &[20.0, 20.2, 19.8, 20.1, 19.9, 20.3]);
        g.entries[1][0] = entry("monoio", &[29.0, 29.2, 28.9, 29.1, 28.8, 29.3]);
        g.entries[1][1] = entry("monoio/raw", &[25.0, 25.1, 24.9, 25.2, 24.8, 25.3]);
        let found = g.interactions();
        assert_eq!(found.len(), 1);
        let i = &found[0];
        assert_eq!(
            (
                i.runtime.as_str(),
                i.reference.as_str(),
                i.composition.as_str()
            ),
            ("monoio", "tokio-tpc", "borrowing")
        );
        assert!((i.estimate - 3.0).abs() < 0.3, "{i:?}");
        assert!(i.is_clear(), "{i:?}");
        assert!(
            i.sentence().starts_with(
                "interaction: borrowing over raw costs on monoio minus on tokio-tpc: +3."
            ),
            "{}",
            i.sentence()
        );

        // The same cost on both runtimes: no interaction.
        g.entries[1][0] = entry("monoio", &[26.0, 26.2, 25.9, 26.1, 25.8, 26.3]);
        let i = &g.interactions()[0];
        assert!(!i.is_clear(), "{i:?}");
        assert!(i.sentence().contains("within noise"), "{}", i.sentence());

        // Without the floor on the second runtime there is nothing to compare.
        g.entries[1][1] = None;
        assert!(g.interactions().is_empty());
    }

    #[test]
    fn too_few_trials_say_so_instead_of_an_interval() {
        let mut g = grid();
        g.entries[1][0] = entry("monoio", &[25.0, 26.0]);
        g.entries[0][0] = entry("tokio-tpc/borrowing", &[20.0, 21.0]);
        let e = g
            .effects()
            .into_iter()
            .find(|e| e.factor == Factor::Runtime)
            .unwrap();
        assert_eq!(e.interval, None);
        assert!(e.sentence().contains("too few trials"), "{}", e.sentence());
    }
}
