//! Rate search: the highest fixed (open-loop) rate at which a latency
//! percentile stays within a bound.
//!
//! The rate doubles from a start value until a step fails, then the gap
//! between the last good and the first bad rate is bisected until it is
//! within a tolerance. A step passes when the percentile (corrected for
//! coordinated omission) is within the bound, nothing failed, and the
//! target kept up with the offered rate. The probe is a closure so the
//! algorithm is tested without a network.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// "pNN <= value": a percentile and its bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyBound {
    /// Percentile, 0 < p < 100 (99.0 for p99).
    pub percentile: f64,
    /// The bound.
    pub bound: Duration,
}

impl fmt::Display for LatencyBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}<={}us", self.percentile, self.bound.as_micros())
    }
}

impl FromStr for LatencyBound {
    type Err = String;

    /// Parses `p99<=1ms`, `p99.9<=500us`, `p50<=2s`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("{s:?} is not a latency bound like p99<=1ms or p99.9<=500us");
        let (p, v) = s.trim().split_once("<=").ok_or_else(usage)?;
        let percentile: f64 = p
            .trim()
            .strip_prefix('p')
            .ok_or_else(usage)?
            .parse()
            .map_err(|_| usage())?;
        if !(percentile > 0.0 && percentile < 100.0) {
            return Err(format!("percentile {percentile} is not between 0 and 100"));
        }
        let v = v.trim();
        let (number, scale) = if let Some(n) = v.strip_suffix("us") {
            (n, 1e-6)
        } else if let Some(n) = v.strip_suffix("ms") {
            (n, 1e-3)
        } else if let Some(n) = v.strip_suffix('s') {
            (n, 1.0)
        } else {
            return Err(usage());
        };
        let value: f64 = number.trim().parse().map_err(|_| usage())?;
        let bound = Duration::try_from_secs_f64(value * scale).map_err(|_| usage())?;
        if bound.is_zero() {
            return Err("the bound must be above zero".into());
        }
        Ok(LatencyBound { percentile, bound })
    }
}

/// How to search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchSpec {
    /// What must hold.
    pub bound: LatencyBound,
    /// First rate tried, requests per second.
    pub start_rate: f64,
    /// Never offer more than this.
    pub max_rate: f64,
    /// Stop bisecting when (bad - good) / good is below this.
    pub tolerance: f64,
    /// Most probes in one search.
    pub max_steps: usize,
    /// Share of the offered rate the target must complete to pass.
    pub keep_up: f64,
}

impl SearchSpec {
    /// Defaults: start at `start_rate`, 5 % tolerance, at most 24 probes,
    /// 95 % of the offered rate must complete.
    pub fn new(bound: LatencyBound, start_rate: f64, max_rate: f64) -> SearchSpec {
        SearchSpec {
            bound,
            start_rate,
            max_rate,
            tolerance: 0.05,
            max_steps: 24,
            keep_up: 0.95,
        }
    }
}

/// What one probe at a fixed rate measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Rate offered.
    pub offered: f64,
    /// Rate completed.
    pub achieved: f64,
    /// The watched percentile, corrected.
    pub latency: Duration,
    /// Failures of any kind.
    pub errors: u64,
    /// Whether the driver may have been the limit.
    pub driver_bound: bool,
}

/// A probe with its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Step<T> {
    /// The figures.
    pub probe: Probe,
    /// Whether the step met the bound.
    pub ok: bool,
    /// Whatever else the probe returned (e.g. the whole report).
    pub extra: T,
}

/// The outcome of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome<T> {
    /// Highest rate that passed; `None` if none did.
    pub found: Option<f64>,
    /// Every step, ascending by offered rate.
    pub steps: Vec<Step<T>>,
}

impl SearchSpec {
    /// Whether a probe meets the bound, without failures, keeping up.
    pub fn passes(&self, p: &Probe) -> bool {
        p.errors == 0 && p.latency <= self.bound.bound && p.achieved >= self.keep_up * p.offered
    }
}

/// Runs the search; `probe(rate)` loads the target at `rate` and reports.
pub fn search<T, E>(
    spec: &SearchSpec,
    mut probe: impl FnMut(f64) -> Result<(Probe, T), E>,
) -> Result<SearchOutcome<T>, E> {
    let mut steps: Vec<Step<T>> = Vec::new();
    let mut run = |rate: f64, steps: &mut Vec<Step<T>>| -> Result<bool, E> {
        let (p, extra) = probe(rate)?;
        let ok = spec.passes(&p);
        steps.push(Step {
            probe: p,
            ok,
            extra,
        });
        Ok(ok)
    };
    let floor = spec.start_rate / 1024.0;
    let (mut good, mut bad) = (None::<f64>, None::<f64>);
    // Ramp: up by doubling while passing, down by halving while failing.
    let mut rate = spec.start_rate.min(spec.max_rate);
    while steps.len() < spec.max_steps {
        if run(rate, &mut steps)? {
            good = Some(rate);
            if bad.is_some() || rate >= spec.max_rate {
                break;
            }
            rate = (rate * 2.0).min(spec.max_rate);
        } else {
            bad = Some(rate);
            if good.is_some() || rate / 2.0 < floor {
                break;
            }
            rate /= 2.0;
        }
    }
    // Bisect between the last good and the first bad rate.
    while let (Some(g), Some(b)) = (good, bad) {
        if (b - g) / g <= spec.tolerance || steps.len() >= spec.max_steps {
            break;
        }
        let mid = (g + b) / 2.0;
        if run(mid, &mut steps)? {
            good = Some(mid);
        } else {
            bad = Some(mid);
        }
    }
    steps.sort_by(|a, b| a.probe.offered.total_cmp(&b.probe.offered));
    Ok(SearchOutcome { found: good, steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target that serves up to `capacity` req/s at 100 µs p99 and
    /// falls over beyond.
    fn model(capacity: f64) -> impl FnMut(f64) -> Result<(Probe, ()), ()> {
        move |rate| {
            let over = rate > capacity;
            Ok((
                Probe {
                    offered: rate,
                    achieved: rate.min(capacity),
                    latency: if over {
                        Duration::from_secs(1)
                    } else {
                        Duration::from_micros(100)
                    },
                    errors: 0,
                    driver_bound: false,
                },
                (),
            ))
        }
    }

    fn bound() -> LatencyBound {
        "p99<=1ms".parse().unwrap()
    }

    #[test]
    fn finds_a_known_capacity_within_tolerance() {
        for capacity in [730.0, 12_345.0, 250_000.0] {
            let spec = SearchSpec::new(bound(), 1000.0, 10_000_000.0);
            let out = search(&spec, model(capacity)).unwrap();
            let found = out.found.unwrap();
            assert!(
                found <= capacity && found >= capacity * 0.95,
                "{capacity}: found {found}"
            );
            assert!(
                out.steps
                    .windows(2)
                    .all(|w| w[0].probe.offered <= w[1].probe.offered)
            );
            assert!(out.steps.len() <= spec.max_steps);
        }
    }

    #[test]
    fn stops_at_the_maximum_rate() {
        let spec = SearchSpec::new(bound(), 1000.0, 5000.0);
        let out = search(&spec, model(1e9)).unwrap();
        assert_eq!(out.found, Some(5000.0));
    }

    #[test]
    fn errors_fail_a_step_whatever_the_latency() {
        let spec = SearchSpec::new(bound(), 1000.0, 1e6);
        let out = search(&spec, |rate| {
            Ok::<_, ()>((
                Probe {
                    offered: rate,
                    achieved: rate,
                    latency: Duration::from_micros(10),
                    errors: 1,
                    driver_bound: false,
                },
                (),
            ))
        })
        .unwrap();
        assert_eq!(out.found, None);
        assert!(out.steps.iter().all(|s| !s.ok));
    }

    #[test]
    fn parses_bounds() {
        assert_eq!(
            "p99<=1ms".parse::<LatencyBound>().unwrap(),
            LatencyBound {
                percentile: 99.0,
                bound: Duration::from_millis(1)
            }
        );
        assert_eq!(
            "p99.9 <= 250us".parse::<LatencyBound>().unwrap().bound,
            Duration::from_micros(250)
        );
        for bad in [
            "99<=1ms",
            "p99<1ms",
            "p100<=1ms",
            "p99<=1",
            "p99<=0ms",
            "p99<=-1ms",
        ] {
            assert!(bad.parse::<LatencyBound>().is_err(), "{bad}");
        }
    }
}
