//! `proxybench cores`.

use std::fmt::Write as _;

use crate::Outcome;

/// Options of `cores`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    externals: super::Externals,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let probe = super::probe();
    let rows: Vec<_> = args
        .externals
        .cores()?
        .iter()
        .map(|core| (core.info(), core.info().availability(probe.as_ref())))
        .collect();
    if args.json {
        let json: Vec<_> = rows
            .iter()
            .map(|(info, verdict)| {
                serde_json::json!({
                    "name": info.name,
                    "grid": info.grid.map(|(runtime, composition)| {
                        serde_json::json!({"runtime": runtime, "composition": composition})
                    }),
                    "reference": info.is_reference(),
                    "runtime": info.runtime,
                    "service": info.service,
                    "available": verdict.is_ok(),
                    "reason": verdict.as_ref().err(),
                })
            })
            .collect();
        let impossible: Vec<_> = pb_cores::IMPOSSIBLE
            .iter()
            .map(|(runtime, composition, why)| {
                serde_json::json!({"runtime": runtime, "composition": composition, "reason": why})
            })
            .collect();
        let out = serde_json::json!({"cores": json, "impossible": impossible});
        crate::print(&format!("{}\n", serde_json::to_string_pretty(&out)?))?;
    } else {
        let mut out = String::new();
        let width = rows
            .iter()
            .map(|(i, _)| i.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        const GRID: &str = "grid (runtime/composition)";
        let grid = rows
            .iter()
            .map(|(i, _)| i.grid_name().len())
            .max()
            .unwrap_or(0)
            .max(GRID.len());
        writeln!(
            out,
            "{:<width$} {GRID:<grid$} {:<9} service",
            "core", "available"
        )?;
        for (info, verdict) in &rows {
            writeln!(
                out,
                "{:<width$} {:<grid$} {:<9} {}",
                info.name,
                info.grid_name(),
                if verdict.is_ok() { "yes" } else { "no" },
                info.service
            )?;
            if let Err(reason) = verdict {
                writeln!(out, "{:<width$} reason: {reason}", "")?;
            }
        }
        writeln!(out, "\nrows (runtimes):")?;
        let mut runtimes: Vec<(&str, &str)> = Vec::new();
        for (info, _) in &rows {
            if let Some((row, _)) = info.grid
                && !runtimes.iter().any(|(r, _)| *r == row)
            {
                runtimes.push((row, info.runtime));
            }
        }
        for (row, runtime) in runtimes {
            writeln!(out, "  {row:<14} {runtime}")?;
        }
        writeln!(out, "\ncombinations that cannot exist:")?;
        for (runtime, composition, why) in pb_cores::IMPOSSIBLE {
            writeln!(out, "  {runtime}/{composition}: {why}")?;
        }
        crate::print(&out)?;
    }
    Ok(Outcome::Ok)
}
