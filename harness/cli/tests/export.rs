//! `proxybench export` as a notebook user runs it: the committed results
//! fixtures become CSV with one row per trial of every cell (and one row
//! for a cell that could not run), every figure equal to the JSON's.

use std::path::{Path, PathBuf};

mod common;

use common::{proxybench, text};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../report/tests/fixtures")
        .join(name)
}

fn rows(csv_text: &str) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    (header, reader.records().map(Result::unwrap).collect())
}

#[test]
fn every_trial_is_a_row_with_the_json_figures() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("echo-4-cores.json");
    let out = proxybench(
        &["export", "--in", input.to_str().unwrap(), "--out", "t.csv"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (header, records) = rows(&std::fs::read_to_string(dir.path().join("t.csv")).unwrap());
    assert_eq!(header, pb_results::export::COLUMNS);
    let results = pb_results::io::read_results(&input).unwrap();
    let trials: usize = results.cells.iter().map(|c| c.trials.len()).sum();
    assert_eq!(records.len(), trials);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for (record, (cell, trial)) in records.iter().zip(
        results
            .cells
            .iter()
            .flat_map(|c| c.trials.iter().map(move |t| (c, t))),
    ) {
        assert_eq!(&record[col("cell")], cell.id.as_str());
        assert_eq!(&record[col("core")], cell.core.as_str());
        assert_eq!(record[col("trial")].parse::<u32>().unwrap(), trial.index);
        assert_eq!(
            record[col("requests")].parse::<u64>().unwrap(),
            trial.requests
        );
        assert_eq!(
            record[col("p99_us")].parse::<f64>().unwrap(),
            trial.latency_us.p99
        );
        assert_eq!(
            record[col("core_cpu_us_per_req")].parse::<f64>().ok(),
            trial.cpu_us_per_req
        );
    }
    // To standard output when no --out is given: the same table.
    let out = proxybench(&["export", "--in", input.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        std::fs::read_to_string(dir.path().join("t.csv")).unwrap()
    );
}

#[test]
fn a_cell_that_could_not_run_is_one_row_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("echo-no-io-uring.json");
    let out = proxybench(&["export", "--in", input.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (header, records) = rows(&text(&out.stdout));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let unavailable: Vec<_> = records
        .iter()
        .filter(|r| &r[col("status")] == "unavailable")
        .collect();
    assert!(!unavailable.is_empty());
    for r in unavailable {
        assert!(r[col("reason")].contains("io_uring"), "{r:?}");
        assert_eq!(&r[col("trial")], "");
        assert_eq!(&r[col("qps")], "");
    }
    // A file that is not results is refused naming it, exit 2.
    std::fs::write(dir.path().join("bad.json"), "{}").unwrap();
    let out = proxybench(&["export", "--in", "bad.json"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.json"),
        "{}",
        text(&out.stderr)
    );
}

/// The Parquet file holds the CSV's rows, column for column, each with
/// its type: read back with the parquet crate's own reader.
#[test]
fn parquet_has_the_csv_rows_with_typed_columns() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    let dir = tempfile::tempdir().unwrap();
    for fixture_name in ["echo-4-cores.json", "echo-no-io-uring.json"] {
        let input = fixture(fixture_name);
        for (format, file) in [("csv", "t.csv"), ("parquet", "t.parquet")] {
            let out = proxybench(
                &[
                    "export",
                    "--in",
                    input.to_str().unwrap(),
                    "--format",
                    format,
                    "--out",
                    file,
                ],
                dir.path(),
            );
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        }
        let (header, records) = rows(&std::fs::read_to_string(dir.path().join("t.csv")).unwrap());
        let reader =
            SerializedFileReader::new(std::fs::File::open(dir.path().join("t.parquet")).unwrap())
                .unwrap();
        let names: Vec<String> = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        assert_eq!(names, header, "{fixture_name}");
        let parquet_rows: Vec<_> = reader
            .get_row_iter(None)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(parquet_rows.len(), records.len(), "{fixture_name}");
        let mut empty = 0;
        for (row, record) in parquet_rows.iter().zip(&records) {
            for ((name, field), csv_value) in row.get_column_iter().zip(record.iter()) {
                let (kind, same) = match field {
                    Field::Null => ("empty", csv_value.is_empty()),
                    Field::Str(s) => ("text", s == csv_value),
                    Field::Double(v) => ("float", csv_value.parse::<f64>().ok() == Some(*v)),
                    Field::Long(v) => ("integer", csv_value.parse::<i64>().ok() == Some(*v)),
                    Field::Bool(v) => ("flag", csv_value.parse::<bool>().ok() == Some(*v)),
                    other => panic!("{name}: unexpected field {other:?}"),
                };
                if kind == "empty" {
                    empty += 1;
                }
                assert!(
                    same,
                    "{fixture_name} {name}: parquet {kind} {field} vs csv {csv_value:?}"
                );
            }
        }
        if fixture_name == "echo-no-io-uring.json" {
            assert!(empty > 0, "a cell that could not run has empty figures");
        }
    }
    // Binary output needs a file.
    let input = fixture("echo-4-cores.json");
    let out = proxybench(
        &[
            "export",
            "--in",
            input.to_str().unwrap(),
            "--format",
            "parquet",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--format parquet needs --out"),
        "{}",
        text(&out.stderr)
    );
}
