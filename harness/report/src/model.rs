//! The report's view of one results file: cells grouped into *scenario
//! cells* (same label, one entry per core), and the core order that fixes
//! every core's colour.
//!
//! A results file lists `(scenario cell, core)` pairs flat; a comparison
//! needs them side by side, so grouping happens once here and everything
//! downstream works on [`Group`]s.

use std::path::{Path, PathBuf};

use pb_results::{Cell, CellParams, CellStatus, Results};

/// One results file, grouped for comparison.
#[derive(Debug, Clone)]
pub struct Run {
    /// Where it was read from (named in errors and on the page).
    pub path: PathBuf,
    /// The file's content.
    pub results: Results,
    /// Scenario cells in the order they first appear in the file.
    pub groups: Vec<Group>,
}

/// One scenario cell: the same scenario and parameters run on each core.
#[derive(Debug, Clone)]
pub struct Group {
    /// Cell id without the core: `echo/100B/c50x1`.
    pub label: String,
    /// Scenario name (`echo`, `tcp-forward`, ...).
    pub scenario: String,
    /// The parameters of the group's first cell (the same for all of them).
    pub params: CellParams,
    /// One cell per core, in file order (unavailable and failed included).
    pub cells: Vec<Cell>,
}

impl Run {
    /// Groups `results` by cell label, keeping file order.
    pub fn new(path: &Path, results: Results) -> Run {
        let mut groups: Vec<Group> = Vec::new();
        for cell in &results.cells {
            let label = group_label(cell);
            match groups.iter_mut().find(|g| g.label == label) {
                Some(group) => group.cells.push(cell.clone()),
                None => groups.push(Group {
                    label,
                    scenario: cell.scenario.clone(),
                    params: cell.params.clone(),
                    cells: vec![cell.clone()],
                }),
            }
        }
        Run {
            path: path.to_owned(),
            results,
            groups,
        }
    }

    /// Every core with a cell, in first-appearance order.
    pub fn cores(&self) -> Vec<String> {
        let mut cores: Vec<String> = Vec::new();
        for cell in &self.results.cells {
            if !cores.contains(&cell.core) {
                cores.push(cell.core.clone());
            }
        }
        cores
    }

    /// The cores the results mark as reference proxies, registry order.
    pub fn reference_proxies(&self) -> Vec<&str> {
        self.results
            .cores
            .iter()
            .filter(|c| c.reference)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// The cell id without its `/<core>` suffix; the whole id if it has none
/// (ids are `<label>/<core>` by contract, but a hand-edited file should
/// still render).
pub fn group_label(cell: &Cell) -> String {
    cell.label().to_owned()
}

/// A cell status as the page and charts write it.
pub fn status_label(status: CellStatus) -> &'static str {
    match status {
        CellStatus::Ok => "ok",
        CellStatus::Unavailable => "unavailable",
        CellStatus::Failed => "failed",
    }
}

/// The order that fixes each core's colour in every chart and table:
/// cores of the current run first (in their order), then any that only
/// the baseline has. The same core gets the same colour on every chart of
/// a report, and across reports of runs with the same cores.
pub fn core_order(current: &Run, baseline: Option<&Run>) -> Vec<String> {
    let ran: Vec<String> = current
        .cores()
        .into_iter()
        .chain(baseline.map(Run::cores).unwrap_or_default())
        .collect();
    // Registry order for the cores that have cells here, then any other:
    // only cores on the page take colours, so that a run of up to ten
    // cores never gives two of them one colour (the registry holds 30).
    let mut order: Vec<String> = current
        .results
        .cores
        .iter()
        .map(|c| c.name.clone())
        .filter(|name| ran.contains(name))
        .collect();
    for core in ran {
        if !order.contains(&core) {
            order.push(core);
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_drop_the_core_suffix_only() {
        let mut cell: Cell = serde_json::from_value(serde_json::json!({
            "id": "echo/100B/c50x1/monoio", "scenario": "echo", "core": "monoio",
            "status": "unavailable", "reason": "no", "trials": [], "core_exit": null,
            "summary": null,
            "params": {"mode": "closed", "message_bytes": 100, "connections": 50,
                "in_flight": 1, "warmup_s": 0.0, "duration_s": 1.0, "trials": 1,
                "core_threads": 1, "driver_threads": 1}
        }))
        .unwrap();
        assert_eq!(group_label(&cell), "echo/100B/c50x1");
        cell.id = "odd-id".into();
        assert_eq!(group_label(&cell), "odd-id");
        cell.id = "echo/xmonoio".into();
        assert_eq!(group_label(&cell), "echo/xmonoio");
    }
}
