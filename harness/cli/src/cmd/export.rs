//! `proxybench export`: a results file as a flat table other tools read
//! (`pb_results::export`: one row per trial and cell, as CSV or Parquet).

use std::path::PathBuf;

use anyhow::Context as _;

use crate::Outcome;

/// Options of `export`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Results file (`proxybench run`, `load --out`, `merge`).
    #[arg(long = "in")]
    input: PathBuf,
    /// Table format: CSV (text) or Parquet (typed columns, for pandas,
    /// polars, DuckDB).
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Where to write it; standard output when omitted (CSV only).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Table formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Csv,
    Parquet,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let results = pb_results::io::read_results(&args.input)?;
    match (&args.out, args.format) {
        (Some(path), format) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let out = std::io::BufWriter::new(file);
            match format {
                Format::Csv => {
                    pb_results::export::write_csv(&results, out).map_err(anyhow::Error::from)
                }
                Format::Parquet => {
                    pb_results::export::write_parquet(&results, out).map_err(anyhow::Error::from)
                }
            }
            .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "exported {} cells of {} to {}",
                results.cells.len(),
                args.input.display(),
                path.display()
            );
        }
        (None, Format::Csv) => {
            let mut table = Vec::new();
            pb_results::export::write_csv(&results, &mut table).context("writing the CSV")?;
            crate::print_bytes(&table)?;
        }
        (None, Format::Parquet) => {
            anyhow::bail!("--format parquet needs --out FILE (a binary file is not for a terminal)")
        }
    }
    Ok(Outcome::Ok)
}
