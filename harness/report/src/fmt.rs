//! Number formatting shared by the charts and the page, so a figure reads
//! the same in both. Rates, microseconds and relative changes are
//! `pb-stats`' formats (re-exported here), so they also read the same as
//! in the gate's table.

pub use pb_stats::fmt::{change, micros, rate};

/// An axis tick for requests per second: `0`, `50k`, `1.5M` (no trailing
/// `.0`, as ticks are round numbers).
pub fn rate_tick(v: f64) -> String {
    let a = v.abs();
    let (scaled, unit) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let text = format!("{scaled:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text}{unit}")
}

/// A ratio: `×1.00`, `×0.87`.
pub fn ratio(v: f64) -> String {
    format!("×{v:.2}")
}

/// Bytes as MiB: `4.9 MiB`.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A CPU list compactly: `0-3,8`.
pub fn cpus(list: &[usize]) -> String {
    if list.is_empty() {
        return "none".into();
    }
    let mut sorted = list.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut start = sorted[0];
    let mut prev = start;
    for &c in &sorted[1..] {
        if c != prev + 1 {
            parts.push(span(start, prev));
            start = c;
        }
        prev = c;
    }
    parts.push(span(start, prev));
    parts.join(",")
}

fn span(a: usize, b: usize) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_well() {
        assert_eq!(rate_tick(50_000.0), "50k");
        assert_eq!(rate_tick(1_500_000.0), "1.5M");
        assert_eq!(rate_tick(0.0), "0");
        assert_eq!(ratio(0.8765), "×0.88");
        assert_eq!(mib(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(cpus(&[3, 0, 1, 2, 8]), "0-3,8");
        assert_eq!(cpus(&[]), "none");
    }
}
