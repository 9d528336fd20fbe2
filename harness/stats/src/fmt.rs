//! How figures and changes read, in the gate's table and on the report's
//! page alike: the same change is never `+7.1%` in one and `+7.1 %` in
//! the other.

use crate::metric::Metric;
use crate::shift::Interval;

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

/// A figure of `metric` without its unit (column headers carry it); `—`
/// when it is not a number (a side without trials).
pub fn figure(metric: Metric, v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    match metric {
        Metric::Qps => rate(v),
        Metric::CpuUsPerReq | Metric::LatencyP99Us => micros(v),
    }
}

/// A relative change: `+12.3 %`, `−4.0 %` (true minus sign); `—` when
/// it is not a number.
pub fn change(v: f64) -> String {
    if v.is_nan() {
        return "—".into();
    }
    let pct = v * 100.0;
    if pct < 0.0 {
        format!("−{:.1} %", -pct)
    } else {
        format!("+{pct:.1} %")
    }
}

/// A relative interval: `−1.2 … +3.4 %`; `—` when there is none.
pub fn interval(interval: Option<Interval>) -> String {
    match interval {
        Some(i) => {
            let low = change(i.low);
            format!("{} … {}", low.trim_end_matches(" %"), change(i.high))
        }
        None => "—".into(),
    }
}

/// A p-value to four places: `0.0040`; `—` when there is none.
pub fn p_value(p: f64) -> String {
    if p.is_nan() {
        "—".into()
    } else {
        format!("{p:.4}")
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
        assert_eq!(micros(7.4251), "7.43");
        assert_eq!(micros(699.903), "699.9");
        assert_eq!(micros(1434.6), "1435");
        assert_eq!(figure(Metric::Qps, 116_359.0), "116.4k");
        assert_eq!(figure(Metric::CpuUsPerReq, f64::NAN), "—");
        assert_eq!(change(0.123), "+12.3 %");
        assert_eq!(change(-0.04), "−4.0 %");
        let i = Interval {
            low: -0.012,
            high: 0.034,
            confidence: 0.98,
        };
        assert_eq!(interval(Some(i)), "−1.2 … +3.4 %");
        assert_eq!(interval(None), "—");
        assert_eq!(p_value(1.0 / 252.0), "0.0040");
    }
}
