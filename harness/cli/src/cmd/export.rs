//! `proxybench export`: a results file as a flat table other tools read
//! (`pb_results::export`: one CSV row per trial and cell).

use std::path::PathBuf;

use anyhow::Context as _;

use crate::Outcome;

/// Options of `export`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Results file (`proxybench run`, `load --out`, `merge`).
    #[arg(long = "in")]
    input: PathBuf,
    /// Table format. CSV only: a Parquet writer (arrow/parquet) has not
    /// been added to this build.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Where to write it; standard output when omitted.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Table formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Csv,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let results = pb_results::io::read_results(&args.input)?;
    let Format::Csv = args.format;
    match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            pb_results::export::write_csv(&results, std::io::BufWriter::new(file))
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "exported {} cells of {} to {}",
                results.cells.len(),
                args.input.display(),
                path.display()
            );
        }
        None => {
            let mut table = Vec::new();
            pb_results::export::write_csv(&results, &mut table).context("writing the CSV")?;
            crate::print_bytes(&table)?;
        }
    }
    Ok(Outcome::Ok)
}
