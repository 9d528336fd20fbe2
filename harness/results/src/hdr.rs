//! Histograms in the plain-text forms HdrHistogram's own tools read: the
//! percentile distribution (`.hgrm`, as `outputPercentileDistribution`
//! prints it, plotted by HdrHistogram's plotter) and the interval log
//! (`.hlog`, read by `HistogramLogProcessor` and friends).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::hist::{self, HistogramDecodeError};
use crate::io::ResultsIoError;
use crate::{Cell, Results};

/// Values are recorded in ns; text outputs are in µs.
const NS_PER_US: f64 = 1000.0;

/// The percentile distribution of `h` (ns) in µs, five ticks per half
/// distance, in HdrHistogram's `.hgrm` layout.
pub fn percentile_distribution(h: &Histogram<u64>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let value = h.highest_equivalent(v.value_iterated_to()) as f64 / NS_PER_US;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:12.3} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            h.mean() / NS_PER_US,
            h.stdev() / NS_PER_US,
            h.max() as f64 / NS_PER_US,
        )
    };
    let _ = writeln!(
        out,
        "#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {max:12.3}, Total count    = {:12}]",
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        h.distinct_values()
    );
    out
}

/// The interval log of a cell: every trial's intervals, tagged `trialN`,
/// timestamps in seconds from that trial's window start.
pub fn interval_log(cell: &Cell) -> Result<String, HistogramDecodeError> {
    let mut bytes = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut builder = IntervalLogWriterBuilder::new();
        builder
            .add_comment(&format!("proxybench cell {} (values in ns)", cell.id))
            .with_max_value_divisor(NS_PER_US);
        let mut writer = builder
            .begin_log_with(&mut bytes, &mut serializer)
            .map_err(|e| HistogramDecodeError::new(e.to_string()))?;
        for trial in &cell.trials {
            let tag_text = format!("trial{}", trial.index);
            for point in &trial.intervals {
                let h = hist::decode(&point.histogram)?;
                writer
                    .write_histogram(
                        &h,
                        Duration::from_secs_f64(point.start_s),
                        Duration::from_secs_f64(point.length_s),
                        Tag::new(&tag_text),
                    )
                    .map_err(|e| HistogramDecodeError::new(format!("{e:?}")))?;
            }
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Writes `<dir>/<cell>.hgrm` (corrected), `<cell>.uncorrected.hgrm` and
/// `<cell>.hlog` for every cell with trials; returns the files written.
pub fn write_hdr_files(results: &Results, dir: &Path) -> Result<Vec<PathBuf>, ResultsIoError> {
    let io_err = |path: &Path, source: std::io::Error| ResultsIoError::Io {
        path: path.to_owned(),
        source,
    };
    let format_err = |path: &Path, e: HistogramDecodeError| ResultsIoError::Format {
        path: path.to_owned(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let mut written = Vec::new();
    for cell in results.cells.iter().filter(|c| !c.trials.is_empty()) {
        let stem = cell.id.replace('/', "_");
        let mut files = Vec::new();
        let corrected = hist::merge(cell.trials.iter().map(|t| t.histogram.as_str()))
            .map_err(|e| format_err(dir, e))?;
        files.push((format!("{stem}.hgrm"), percentile_distribution(&corrected)));
        let uncorrected: Option<Vec<&str>> = cell
            .trials
            .iter()
            .map(|t| t.histogram_uncorrected.as_deref())
            .collect();
        if let Some(encoded) = uncorrected {
            let h = hist::merge(encoded).map_err(|e| format_err(dir, e))?;
            files.push((
                format!("{stem}.uncorrected.hgrm"),
                percentile_distribution(&h),
            ));
        }
        if cell.trials.iter().any(|t| !t.intervals.is_empty()) {
            files.push((
                format!("{stem}.hlog"),
                interval_log(cell).map_err(|e| format_err(dir, e))?,
            ));
        }
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| io_err(&path, e))?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_has_the_hgrm_layout() {
        let mut h = crate::hist::new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let text = percentile_distribution(&h);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].trim_start().starts_with("Value"));
        assert!(lines[1].is_empty());
        // First data line: the smallest value, 1 µs, at percentile 0.
        let first: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(first[0], "1.000");
        assert_eq!(first[2], "1");
        // The 100% line carries the total and no 1/(1-p) column.
        let last_data = lines.iter().rev().find(|l| !l.starts_with('#')).unwrap();
        let cols: Vec<&str> = last_data.split_whitespace().collect();
        assert_eq!(cols.len(), 3, "{last_data}");
        assert_eq!(cols[2], "1000");
        assert!(
            text.contains("#[Max     =     1000.447, Total count    =         1000]"),
            "{text}"
        );
    }
}
