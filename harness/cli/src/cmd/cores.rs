//! `proxybench cores`.

use crate::Outcome;

/// Options of `cores`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let probe = super::probe();
    let rows: Vec<_> = pb_cores::CORES
        .iter()
        .map(|core| (core.info(), core.info().availability(probe.as_ref())))
        .collect();
    if args.json {
        let json: Vec<_> = rows
            .iter()
            .map(|(info, verdict)| {
                serde_json::json!({
                    "name": info.name,
                    "runtime": info.runtime,
                    "service": info.service,
                    "available": verdict.is_ok(),
                    "reason": verdict.as_ref().err(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!(
            "{:<13} {:<11} {:<50} service",
            "core", "available", "runtime"
        );
        for (info, verdict) in &rows {
            println!(
                "{:<13} {:<11} {:<50} {}",
                info.name,
                if verdict.is_ok() { "yes" } else { "no" },
                info.runtime,
                info.service
            );
            if let Err(reason) = verdict {
                println!("{:<13} reason: {reason}", "");
            }
        }
    }
    Ok(Outcome::Ok)
}
