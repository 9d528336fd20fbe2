//! Results as a flat table for notebooks, spreadsheets and dashboards:
//! one row per trial of every cell (a cell that could not run gets one
//! row with its status and reason and empty figures), with the columns a
//! reader would otherwise dig out of the nested JSON. Histograms stay in
//! the results file (and in `.hgrm` / `.hlog`, [`crate::hdr`]): a table
//! cell is the wrong place for them.
//!
//! The same rows go to Parquet ([`write_parquet`]) with each column's
//! type from [`SCHEMA`]. The column set only grows, new columns at the
//! end, so a notebook that reads columns by name keeps working.

use serde::Serialize;

use crate::{Cell, CellStatus, KernelWork, Results, Trial};

/// One row: a trial of a cell, or a cell without trials.
#[derive(Debug, Serialize)]
struct Row<'a> {
    run_id: &'a str,
    git_revision: &'a str,
    cell: &'a str,
    scenario: &'a str,
    core: &'a str,
    status: &'static str,
    reason: Option<&'a str>,
    mode: &'a str,
    rate: Option<f64>,
    message_bytes: usize,
    connections: usize,
    in_flight: usize,
    core_threads: usize,
    method: Option<&'a str>,
    trial: Option<u32>,
    sequence: Option<u32>,
    window_s: Option<f64>,
    requests: Option<u64>,
    qps: Option<f64>,
    errors: Option<u64>,
    p50_us: Option<f64>,
    p90_us: Option<f64>,
    p99_us: Option<f64>,
    p999_us: Option<f64>,
    max_us: Option<f64>,
    core_cpu_us_per_req: Option<f64>,
    driver_cpu_us_per_req: Option<f64>,
    driver_util: Option<f64>,
    driver_bound: Option<bool>,
    rss_max_bytes: Option<u64>,
    user_cpu_us_per_req: Option<f64>,
    sys_cpu_us_per_req: Option<f64>,
    syscalls_per_req: Option<f64>,
    context_switches_per_req: Option<f64>,
    uring_submits_per_req: Option<f64>,
    allocations_per_req: Option<f64>,
}

/// A column's type, for the formats that have types (Parquet); CSV
/// writes every value as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Text,
    /// A 64-bit float.
    Float,
    /// A non-negative integer (counts, sizes, indices).
    Integer,
    /// A flag.
    Boolean,
}

/// Every column, in order, with its type: the one list both formats
/// follow (a test checks it against the rows' own fields). Every column
/// may be empty: a cell that could not run has no figures.
pub const SCHEMA: [(&str, Kind); 36] = [
    ("run_id", Kind::Text),
    ("git_revision", Kind::Text),
    ("cell", Kind::Text),
    ("scenario", Kind::Text),
    ("core", Kind::Text),
    ("status", Kind::Text),
    ("reason", Kind::Text),
    ("mode", Kind::Text),
    ("rate", Kind::Float),
    ("message_bytes", Kind::Integer),
    ("connections", Kind::Integer),
    ("in_flight", Kind::Integer),
    ("core_threads", Kind::Integer),
    ("method", Kind::Text),
    ("trial", Kind::Integer),
    ("sequence", Kind::Integer),
    ("window_s", Kind::Float),
    ("requests", Kind::Integer),
    ("qps", Kind::Float),
    ("errors", Kind::Integer),
    ("p50_us", Kind::Float),
    ("p90_us", Kind::Float),
    ("p99_us", Kind::Float),
    ("p999_us", Kind::Float),
    ("max_us", Kind::Float),
    ("core_cpu_us_per_req", Kind::Float),
    ("driver_cpu_us_per_req", Kind::Float),
    ("driver_util", Kind::Float),
    ("driver_bound", Kind::Boolean),
    ("rss_max_bytes", Kind::Integer),
    ("user_cpu_us_per_req", Kind::Float),
    ("sys_cpu_us_per_req", Kind::Float),
    ("syscalls_per_req", Kind::Float),
    ("context_switches_per_req", Kind::Float),
    ("uring_submits_per_req", Kind::Float),
    ("allocations_per_req", Kind::Float),
];

/// The header, in order.
pub const COLUMNS: [&str; 36] = {
    let mut names = [""; 36];
    let mut i = 0;
    while i < SCHEMA.len() {
        names[i] = SCHEMA[i].0;
        i += 1;
    }
    names
};

fn status(s: CellStatus) -> &'static str {
    match s {
        CellStatus::Ok => "ok",
        CellStatus::Unavailable => "unavailable",
        CellStatus::Failed => "failed",
    }
}

impl<'a> Row<'a> {
    fn new(results: &'a Results, cell: &'a Cell, trial: Option<&'a Trial>) -> Row<'a> {
        let p = &cell.params;
        let kernel = trial.and_then(|t| t.kernel.as_ref());
        let lat = trial.map(|t| &t.latency_us);
        Row {
            run_id: &results.run_id,
            git_revision: &results.environment.git_revision,
            cell: &cell.id,
            scenario: &cell.scenario,
            core: &cell.core,
            status: status(cell.status),
            reason: cell.reason.as_deref(),
            mode: &p.mode,
            rate: p.rate,
            message_bytes: p.message_bytes,
            connections: p.connections,
            in_flight: p.in_flight,
            core_threads: p.core_threads,
            method: p.http.as_ref().map(|h| h.method.as_str()),
            trial: trial.map(|t| t.index),
            sequence: trial.map(|t| t.sequence),
            window_s: trial.map(|t| t.window_s),
            requests: trial.map(|t| t.requests),
            qps: trial.map(|t| t.qps),
            errors: trial.map(|t| t.errors),
            p50_us: lat.map(|l| l.p50),
            p90_us: lat.map(|l| l.p90),
            p99_us: lat.map(|l| l.p99),
            p999_us: lat.map(|l| l.p999),
            max_us: lat.map(|l| l.max),
            core_cpu_us_per_req: trial.and_then(|t| t.cpu_us_per_req),
            driver_cpu_us_per_req: trial.and_then(|t| t.driver_cpu_us_per_req),
            driver_util: trial.map(|t| t.driver_util),
            driver_bound: trial.map(|t| t.driver_bound),
            rss_max_bytes: trial.map(|t| t.rss_max_bytes),
            user_cpu_us_per_req: kernel.and_then(|k| k.user_cpu_us_per_req),
            sys_cpu_us_per_req: kernel.and_then(|k| k.sys_cpu_us_per_req),
            syscalls_per_req: kernel.and_then(|k| k.perf("syscalls")),
            context_switches_per_req: kernel.map(KernelWork::context_switches),
            uring_submits_per_req: kernel.and_then(|k| k.perf("uring_submits")),
            allocations_per_req: kernel.and_then(|k| k.allocations_per_req),
        }
    }
}

/// Every row of `results`: each trial of each cell, and one for a cell
/// without trials.
fn rows(results: &Results) -> impl Iterator<Item = Row<'_>> {
    results.cells.iter().flat_map(move |cell| {
        let lone = cell
            .trials
            .is_empty()
            .then(|| Row::new(results, cell, None));
        lone.into_iter().chain(
            cell.trials
                .iter()
                .map(move |t| Row::new(results, cell, Some(t))),
        )
    })
}

/// Writes `results` as CSV (header first) to `out`.
pub fn write_csv<W: std::io::Write>(results: &Results, out: W) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    for row in rows(results) {
        w.serialize(row)?;
    }
    if results.cells.is_empty() {
        w.write_record(COLUMNS)?;
    }
    w.flush()?;
    Ok(())
}

/// A Parquet file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing Parquet: {0}")]
pub struct ParquetError(#[from] parquet::errors::ParquetError);

/// Writes `results` as one Parquet file (one row group, [`SCHEMA`]'s
/// columns, all optional; uncompressed: this build carries no codec) to
/// `out`. pandas (`read_parquet`, with pyarrow or fastparquet), polars
/// and DuckDB read it with the column types of [`SCHEMA`].
pub fn write_parquet<W: std::io::Write + Send>(
    results: &Results,
    out: W,
) -> Result<(), ParquetError> {
    use std::sync::Arc;

    use parquet::basic::{LogicalType, Repetition, Type as Physical};
    use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;

    let fields = SCHEMA
        .iter()
        .map(|&(name, kind)| {
            let (physical, logical) = match kind {
                Kind::Text => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
                Kind::Float => (Physical::DOUBLE, None),
                Kind::Integer => (Physical::INT64, None),
                Kind::Boolean => (Physical::BOOLEAN, None),
            };
            Type::primitive_type_builder(name, physical)
                .with_repetition(Repetition::OPTIONAL)
                .with_logical_type(logical)
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let schema = Arc::new(
        Type::group_type_builder("trials")
            .with_fields(fields)
            .build()?,
    );
    // The rows as JSON objects: the same serialisation CSV gets, read
    // back by column name, so the two formats cannot disagree.
    let rows: Vec<serde_json::Value> = rows(results)
        .map(|row| serde_json::to_value(row).expect("rows serialise"))
        .collect();
    let mut writer =
        SerializedFileWriter::new(out, schema, Arc::new(WriterProperties::builder().build()))?;
    let mut group = writer.next_row_group()?;
    for &(name, kind) in &SCHEMA {
        let mut column = group
            .next_column()?
            .expect("the schema has a column for every entry");
        let cells: Vec<&serde_json::Value> = rows.iter().map(|r| &r[name]).collect();
        // Definition level 1: a value; 0: empty.
        let levels: Vec<i16> = cells.iter().map(|v| i16::from(!v.is_null())).collect();
        let present = cells.iter().filter(|v| !v.is_null());
        match kind {
            Kind::Text => {
                let values: Vec<ByteArray> = present
                    .map(|v| ByteArray::from(v.as_str().unwrap_or_default()))
                    .collect();
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&values, Some(&levels), None)?;
            }
            Kind::Float => {
                let values: Vec<f64> = present.map(|v| v.as_f64().unwrap_or(f64::NAN)).collect();
                column
                    .typed::<DoubleType>()
                    .write_batch(&values, Some(&levels), None)?;
            }
            Kind::Integer => {
                let values: Vec<i64> = present
                    .map(|v| {
                        v.as_u64()
                            .and_then(|n| i64::try_from(n).ok())
                            .unwrap_or(i64::MAX)
                    })
                    .collect();
                column
                    .typed::<Int64Type>()
                    .write_batch(&values, Some(&levels), None)?;
            }
            Kind::Boolean => {
                let values: Vec<bool> = present.map(|v| v.as_bool().unwrap_or_default()).collect();
                column
                    .typed::<BoolType>()
                    .write_batch(&values, Some(&levels), None)?;
            }
        }
        column.close()?;
    }
    group.close()?;
    writer.close()?;
    Ok(())
}
