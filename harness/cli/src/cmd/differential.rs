//! `proxybench differential`: generated requests through our cores and
//! the reference proxies, compared (`pb_conform::differential`).

use std::path::PathBuf;

use anyhow::Context as _;

use crate::Outcome;

/// One core per runtime row.
const DEFAULT_CORES: [&str; 6] = [
    "tokio-tower",
    "tokio-tpc/borrowing",
    "monoio",
    "monoio-epoll",
    "tokio-uring/borrowing",
    "glommio",
];

/// Options of `differential`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Cases to generate.
    #[arg(long, default_value_t = 1000)]
    cases: usize,
    /// The generator's seed: the same seed, the same cases.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Our cores to compare (comma-separated). Default: one per runtime
    /// that can run here; they share the engine, so their differences
    /// are the runtimes'.
    #[arg(long, value_delimiter = ',')]
    cores: Option<Vec<String>>,
    /// The yardsticks (comma-separated): a core disagrees when it differs
    /// from every one of them.
    #[arg(long, value_delimiter = ',', default_value = "nginx,haproxy")]
    references: Vec<String>,
    /// Milliseconds a proxy may stay silent before a case counts as over
    /// (more on a busy machine).
    #[arg(long, default_value_t = pb_conform::differential::SILENCE.as_millis() as u64)]
    silence_ms: u64,
    /// Also write the report as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Instead of generated cases, send these bytes (escaped as the
    /// report prints them: `\r\n`, `\xNN`, `\t`, `\\`), each argument
    /// one case: for triaging a disagreement piece by piece.
    #[arg(long)]
    raw: Vec<String>,
    #[command(flatten)]
    externals: super::Externals,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let known = args.externals.cores()?;
    let probe = super::probe();
    let cores = match &args.cores {
        Some(list) => list.clone(),
        None => DEFAULT_CORES
            .iter()
            .filter(|name| {
                let here = super::find(&known, name)
                    .is_ok_and(|c| c.info().availability(probe.as_ref()).is_ok());
                if !here {
                    eprintln!("differential: {name} cannot run here, left out");
                }
                here
            })
            .map(|name| name.to_string())
            .collect(),
    };
    for name in cores.iter().chain(&args.references) {
        let core = super::find(&known, name)?;
        if let Err(reason) = core.info().availability(probe.as_ref()) {
            anyhow::bail!("{name} cannot run here: {reason}");
        }
    }
    let exe = std::env::current_exe().context("locating the proxybench executable")?;
    let cases = match args.raw.is_empty() {
        true => pb_conform::differential::generate(args.seed, args.cases),
        false => args
            .raw
            .iter()
            .enumerate()
            .map(|(id, text)| {
                Ok(pb_conform::differential::Case {
                    id,
                    shape: format!("raw {id}"),
                    bytes: pb_conform::differential::unescape(text)
                        .map_err(|e| anyhow::anyhow!("--raw {text:?}: {e}"))?,
                })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let report = pb_conform::differential::run(
        &exe,
        &args.externals.proxy_args()?,
        &cores,
        &args.references,
        args.seed,
        &cases,
        std::time::Duration::from_millis(args.silence_ms),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    crate::print(&report.render())?;
    Ok(if report.untriaged().next().is_none() {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}
