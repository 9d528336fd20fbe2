//! Number formatting shared by the charts and the page, so a figure reads
//! the same in both.

/// Requests per second, short: `950`, `116.4k`, `1.59M`.
pub fn rate(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

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

/// Microseconds with precision that suits their size: `7.42`, `85.3`,
/// `1434`.
pub fn micros(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A ratio: `×1.00`, `×0.87`.
pub fn ratio(v: f64) -> String {
    format!("×{v:.2}")
}

/// A relative change: `+12.3 %`, `−4.0 %` (true minus sign).
pub fn change(v: f64) -> String {
    let pct = v * 100.0;
    if pct < 0.0 {
        format!("−{:.1} %", -pct)
    } else {
        format!("+{pct:.1} %")
    }
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
        assert_eq!(rate(116_359.0), "116.4k");
        assert_eq!(rate(1_590_000.0), "1.59M");
        assert_eq!(rate(950.0), "950");
        assert_eq!(rate_tick(50_000.0), "50k");
        assert_eq!(rate_tick(1_500_000.0), "1.5M");
        assert_eq!(rate_tick(0.0), "0");
        assert_eq!(micros(7.4251), "7.43");
        assert_eq!(micros(699.903), "699.9");
        assert_eq!(micros(1434.6), "1435");
        assert_eq!(ratio(0.8765), "×0.88");
        assert_eq!(change(0.123), "+12.3 %");
        assert_eq!(change(-0.04), "−4.0 %");
        assert_eq!(mib(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(cpus(&[3, 0, 1, 2, 8]), "0-3,8");
        assert_eq!(cpus(&[]), "none");
    }
}
