//! HdrHistogram's own tools read what proxybench writes: the Python
//! `hdrhistogram` package (module `hdrh`, from PyPI) reads each cell's
//! `.hlog` interval log of a real run, and the sum of each trial's
//! intervals is that trial's histogram in the run's own results file,
//! bucket for bucket, with its request count and the same p50, p99 and
//! max (nearest rank, as our results define them), to the nanosecond.
//!
//! `scripts/python-hdrh.sh` makes the reader's virtual environment (under
//! cargo's target directory) on first use; it needs a python3 with venv
//! (`PYTHON` names another interpreter) or root to install Debian's, and
//! PyPI.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{run_scenario, text};

/// A python with the reader, from the project's script (which installs
/// what it needs: a virtual environment with the pinned package, and
/// Debian's python3-venv where there is no usable python and it may).
fn hdrh_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hdrh-venv");
    let out = Command::new(root.join("scripts/python-hdrh.sh"))
        .arg(&venv)
        .output()
        .expect("scripts/python-hdrh.sh runs");
    assert!(
        out.status.success(),
        "scripts/python-hdrh.sh failed ({}): {}",
        out.status,
        text(&out.stderr)
    );
    PathBuf::from(text(&out.stdout).trim())
}

#[test]
fn python_hdrh_reads_our_interval_logs_and_agrees_with_the_results() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    // Two cells (ping-pong and a fixed rate) and two trials each, so
    // the reader has to keep trials apart by their tags.
    std::fs::write(
        &scenario,
        r#"
name = "hdr-readers"
[run]
trials = 2
warmup_s = 0.1
duration_s = 0.4
[[cell]]
scenario = "echo"
cores = ["tokio-tower"]
message_bytes = 100
connections = 4
[[cell]]
scenario = "echo"
cores = ["tokio-tower"]
message_bytes = 100
connections = 4
rate = 4000.0
"#,
    )
    .unwrap();
    let out = run_scenario(dir.path(), &scenario, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let results = pb_results::io::read_results(&dir.path().join("results/latest.json")).unwrap();
    let hdr = dir.path().join("results/hdr").join(&results.run_id);
    let logs: Vec<PathBuf> = results
        .cells
        .iter()
        .map(|c| hdr.join(format!("{}.hlog", c.id.replace('/', "_"))))
        .collect();
    assert_eq!(logs.len(), 2);

    let read = Command::new(hdrh_python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hdr_readers.py"))
        .args(&logs)
        .output()
        .unwrap();
    assert!(read.status.success(), "hdrh: {}", text(&read.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();

    for (cell, log) in results.cells.iter().zip(&logs) {
        let by_tag = &seen[log.to_str().unwrap()];
        assert_eq!(
            by_tag.as_object().map(|o| o.len()),
            Some(cell.trials.len()),
            "{}: one tag per trial: {by_tag}",
            cell.id
        );
        for trial in &cell.trials {
            let theirs = &by_tag[format!("trial{}", trial.index)];
            let ns = |key: &str| {
                theirs[key]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{key}: {theirs}"))
            };
            assert!(
                trial.requests > 100,
                "{}: {} requests",
                cell.id,
                trial.requests
            );
            assert_eq!(
                ns("count"),
                trial.requests,
                "{} trial {}",
                cell.id,
                trial.index
            );
            // The whole distribution, bucket for bucket (each side's value
            // read as its bucket's lowest equivalent: the readers differ
            // in which end of a bucket they print).
            let h = pb_results::hist::decode(&trial.histogram).unwrap();
            let ours: Vec<(u64, u64)> = h
                .iter_recorded()
                .map(|v| {
                    (
                        h.lowest_equivalent(v.value_iterated_to()),
                        v.count_at_value(),
                    )
                })
                .collect();
            let recorded: Vec<(u64, u64)> = theirs["recorded"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| {
                    let (v, c) = (pair[0].as_u64().unwrap(), pair[1].as_u64().unwrap());
                    (h.lowest_equivalent(v), c)
                })
                .collect();
            assert_eq!(recorded, ours, "{} trial {}", cell.id, trial.index);
            // And the percentiles a user reads, at the nearest-rank
            // definition our results use (rank ceil(q n)), computed by
            // the reader from its own buckets.
            let figures = &trial.latency_us;
            for (key, us) in [
                ("p50", figures.p50),
                ("p99", figures.p99),
                ("max", figures.max),
            ] {
                assert_eq!(
                    ns(key),
                    (us * 1000.0).round() as u64,
                    "{} trial {} {key}: hdrh {} ns, our results {us} µs",
                    cell.id,
                    trial.index,
                    ns(key)
                );
            }
            // hdrh's own get_value_at_percentile rounds the rank to the
            // nearest count (as the Java original does): where that is
            // the same rank, it is our p99 too.
            let n = trial.requests as f64;
            if (0.99 * n).ceil() == (0.99 * n + 0.5).floor() {
                assert_eq!(
                    ns("p99_rounded_rank"),
                    (figures.p99 * 1000.0).round() as u64,
                    "{} trial {}: same rank, same p99",
                    cell.id,
                    trial.index
                );
            }
        }
    }
}
