//! The gate's policy: how sure (significance level), how many trials at
//! least, and how large a change must be to matter (per metric, and for
//! instruction counts). Read from a TOML file such as `ci/gate.toml`;
//! every field is optional and defaults to [`Policy::default`]. The
//! statistical part is a [`pb_stats::Rule`], the rule the report applies
//! too, so a report made with the same rule says what this gate says.
//!
//! ```toml
//! [statistics]
//! alpha = 0.01        # one-sided significance level of the Mann-Whitney U test
//! min_trials = 5      # per side and cell; fewer is unusable input (exit 2)
//!
//! [metrics.cpu_us_per_req]
//! threshold_pct = 10.0   # practical threshold: smaller changes never fail
//! [metrics.latency_p99_us]
//! threshold_pct = 10.0
//! [metrics.qps]
//! threshold_pct = 10.0   # a drop of more than this (lower is worse)
//! enabled = true
//!
//! [instructions]
//! threshold_pct = 2.0    # deterministic counts: no test, just the threshold
//!
//! [counters]             # `gate --counters`: growth per request that fails
//! syscalls = 0.3
//! uring_submits = 0.3
//! allocations = 0.3
//!
//! [paired]               # `gate run`: pairs of trials, judged as they come
//! alpha = 0.05           # per side, over all looks
//! power = 0.9            # of the minimum detectable effect it prints
//! min_pairs = 8          # the first look
//! max_pairs = 40         # the budget
//! metrics = ["cpu_us_per_req"]   # thresholds from [metrics.*]
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::counters::{COUNTERS, Counter};
use pb_stats::{MIN_TRIALS_FLOOR, Metric, MetricRule, Plan, Polarity, Rule, min_p_value};

/// A policy file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML, or a field has the wrong type or an unknown name.
    #[error("{path}: field `{field}`: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Dotted path of the field (`.` for the whole file).
        field: String,
        /// What is wrong, with line and column where TOML gives them.
        message: String,
    },
    /// A field parsed but its value cannot be used.
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Significance level, minimum trials (never below
    /// [`MIN_TRIALS_FLOOR`]) and each metric's threshold.
    pub rule: Rule,
    /// Relative growth of an instruction count that fails the
    /// deterministic gate, as a fraction.
    pub instructions_threshold: f64,
    /// Growth per request of each kernel or allocation count that fails
    /// the counter gate (`gate --counters`), in [`COUNTERS`] order.
    pub counter_thresholds: [f64; COUNTERS.len()],
    /// How `gate run` judges its pairs.
    pub paired: Paired,
}

/// The paired gate's settings (`[paired]`): one [`Plan`] per judged
/// metric, each with that metric's threshold from `[metrics.*]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    /// Error rate per side over all looks.
    pub alpha: f64,
    /// Power the minimum detectable effect is stated at.
    pub power: f64,
    /// Pairs at the first look.
    pub min_pairs: usize,
    /// The budget.
    pub max_pairs: usize,
    /// The metrics judged, in table order.
    pub metrics: Vec<Metric>,
}

impl Default for Paired {
    /// 5 % per side, 90 % power, looks from 8 pairs to 40, CPU per
    /// request only: the figure that holds when the driver is the limit
    /// (p99 and QPS move with the scheduler on a small machine; name them
    /// in `metrics` to judge them too).
    fn default() -> Self {
        Paired {
            alpha: 0.05,
            power: 0.9,
            min_pairs: 8,
            max_pairs: 40,
            metrics: vec![Metric::CpuUsPerReq],
        }
    }
}

impl Policy {
    /// `[paired]`'s first look and budget replaced (`gate run
    /// --min-pairs/--max-pairs`), checked as the file's would be.
    pub fn with_pairs(
        mut self,
        min_pairs: Option<usize>,
        max_pairs: Option<usize>,
    ) -> Result<Policy, pb_stats::PlanError> {
        let p = &mut self.paired;
        p.min_pairs = min_pairs.unwrap_or(p.min_pairs);
        p.max_pairs = max_pairs.unwrap_or(p.max_pairs);
        for &m in &self.paired.metrics {
            self.paired.plan(self.rule.metric(m).threshold)?;
        }
        Ok(self)
    }

    /// The sequential plan for `metric` under `[paired]`.
    pub fn plan(&self, metric: Metric) -> Plan {
        self.paired
            .plan(self.rule.metric(metric).threshold)
            .expect("checked when the policy was made")
    }
}

impl Paired {
    /// The plan these settings give a metric with `threshold`.
    fn plan(&self, threshold: f64) -> Result<Plan, pb_stats::PlanError> {
        Plan::new(
            threshold,
            self.alpha,
            self.power,
            self.min_pairs,
            self.max_pairs,
        )
    }
}

impl Default for Policy {
    /// The built-in [`Rule::default`] (alpha 0.01, 5 trials, 10 % for
    /// every metric) and 2 % for instruction counts.
    fn default() -> Self {
        Policy {
            rule: Rule::default(),
            instructions_threshold: 0.02,
            // Below one per request, so one extra syscall or allocation
            // always fails; above the A/A spread (ci/README.md).
            counter_thresholds: [0.3, 0.3, 0.3],
            paired: Paired::default(),
        }
    }
}

impl Policy {
    /// The counter gate's threshold for `counter`, per request.
    pub fn counter_threshold(&self, counter: Counter) -> f64 {
        let i = COUNTERS
            .iter()
            .position(|c| *c == counter)
            .expect("every counter is in COUNTERS");
        self.counter_thresholds[i]
    }

    /// The policy in `path` when given, else [`Policy::default`]: what
    /// `--policy` means to both `proxybench gate` and `proxybench report`.
    pub fn load_or_default(path: Option<&Path>) -> Result<Policy, PolicyError> {
        path.map_or_else(|| Ok(Policy::default()), Policy::load)
    }

    /// Reads and checks a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Policy::parse(&text, path)
    }

    /// Parses and checks policy text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        let parse_error = |field: String, message: String| PolicyError::Parse {
            path: path.to_owned(),
            field,
            message,
        };
        let deserializer =
            toml::Deserializer::parse(text).map_err(|e| parse_error(".".into(), e.to_string()))?;
        let raw: RawPolicy = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let field = e.path().to_string();
            parse_error(field, e.into_inner().message().trim().to_owned())
        })?;
        let invalid = |field: &str, message: String| PolicyError::Invalid {
            path: path.to_owned(),
            field: field.to_owned(),
            message,
        };

        let defaults = Policy::default();
        let alpha = raw.statistics.alpha.unwrap_or(defaults.rule.alpha);
        if !(alpha > 0.0 && alpha <= 0.5) {
            return Err(invalid(
                "statistics.alpha",
                format!("{alpha} is not a significance level in (0, 0.5]"),
            ));
        }
        let min_trials = raw
            .statistics
            .min_trials
            .unwrap_or(defaults.rule.min_trials);
        if min_trials < MIN_TRIALS_FLOOR {
            return Err(invalid(
                "statistics.min_trials",
                format!("{min_trials} is below the floor of {MIN_TRIALS_FLOOR} trials a side"),
            ));
        }
        let floor_p = min_p_value(min_trials, min_trials);
        if floor_p >= alpha {
            return Err(invalid(
                "statistics.min_trials",
                format!(
                    "with {min_trials} trials a side the smallest possible p-value is {floor_p:.4}, \
                     not below alpha {alpha}: no regression could ever be detected"
                ),
            ));
        }
        let metric = |raw: &RawMetric, metric: Metric| {
            let default = defaults.rule.metric(metric);
            let field = format!("metrics.{}.threshold_pct", metric.key());
            let pct = raw.threshold_pct.unwrap_or(default.threshold * 100.0);
            // A drop of 100 % or more of a higher-is-better figure cannot
            // happen; a rise of a cost can be large.
            let limit = match metric.polarity() {
                Polarity::LowerIsBetter => 1000.0,
                Polarity::HigherIsBetter => 100.0,
            };
            if !(pct.is_finite() && (0.0..limit).contains(&pct)) {
                return Err(invalid(
                    &field,
                    format!("{pct} is not a percentage in [0, {limit})"),
                ));
            }
            Ok(MetricRule {
                enabled: raw.enabled.unwrap_or(default.enabled),
                threshold: pct / 100.0,
            })
        };
        let instructions_pct = raw
            .instructions
            .threshold_pct
            .unwrap_or(defaults.instructions_threshold * 100.0);
        if !(instructions_pct.is_finite() && (0.0..1000.0).contains(&instructions_pct)) {
            return Err(invalid(
                "instructions.threshold_pct",
                format!("{instructions_pct} is not a percentage in [0, 1000)"),
            ));
        }
        let mut counter_thresholds = defaults.counter_thresholds;
        for (i, counter) in COUNTERS.iter().enumerate() {
            let given = match counter {
                Counter::Syscalls => raw.counters.syscalls,
                Counter::UringSubmits => raw.counters.uring_submits,
                Counter::Allocations => raw.counters.allocations,
            };
            if let Some(v) = given {
                if !(v.is_finite() && v > 0.0) {
                    return Err(invalid(
                        &format!("counters.{}", counter.key()),
                        format!("{v} is not a positive count per request"),
                    ));
                }
                counter_thresholds[i] = v;
            }
        }
        let rule = Rule {
            alpha,
            min_trials,
            cpu_us_per_req: metric(&raw.metrics.cpu_us_per_req, Metric::CpuUsPerReq)?,
            latency_p99_us: metric(&raw.metrics.latency_p99_us, Metric::LatencyP99Us)?,
            qps: metric(&raw.metrics.qps, Metric::Qps)?,
        };
        let paired = paired(&raw.paired, &rule, &invalid)?;
        Ok(Policy {
            counter_thresholds,
            rule,
            instructions_threshold: instructions_pct / 100.0,
            paired,
        })
    }
}

/// `[paired]` checked: every plan it implies can be made.
fn paired(
    raw: &RawPaired,
    rule: &Rule,
    invalid: &dyn Fn(&str, String) -> PolicyError,
) -> Result<Paired, PolicyError> {
    let defaults = Paired::default();
    let metrics = match &raw.metrics {
        None => defaults.metrics.clone(),
        Some(keys) => {
            let mut metrics = Vec::new();
            for key in keys {
                let Some(m) = Metric::ALL.into_iter().find(|m| m.key() == key) else {
                    let known: Vec<&str> = Metric::ALL.iter().map(|m| m.key()).collect();
                    return Err(invalid(
                        "paired.metrics",
                        format!("unknown metric {key:?}; known: {}", known.join(", ")),
                    ));
                };
                if !metrics.contains(&m) {
                    metrics.push(m);
                }
            }
            if metrics.is_empty() {
                return Err(invalid("paired.metrics", "names no metric".into()));
            }
            metrics
        }
    };
    let p = Paired {
        alpha: raw.alpha.unwrap_or(defaults.alpha),
        power: raw.power.unwrap_or(defaults.power),
        min_pairs: raw.min_pairs.unwrap_or(defaults.min_pairs),
        max_pairs: raw.max_pairs.unwrap_or(defaults.max_pairs),
        metrics,
    };
    for &m in &p.metrics {
        if let Err(e) = p.plan(rule.metric(m).threshold) {
            let field = match e {
                pb_stats::PlanError::OutOfRange { what: "alpha", .. } => "paired.alpha",
                pb_stats::PlanError::OutOfRange {
                    what: "the power", ..
                } => "paired.power",
                pb_stats::PlanError::OutOfRange { .. } => "paired.metrics",
                pb_stats::PlanError::TooFewPairs { .. } => "paired.min_pairs",
                pb_stats::PlanError::Budget { .. } => "paired.max_pairs",
            };
            return Err(invalid(field, format!("{} (for {})", e, m.key())));
        }
    }
    Ok(p)
}

// === the file as written ===

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    statistics: RawStatistics,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    instructions: RawInstructions,
    #[serde(default)]
    counters: RawCounters,
    #[serde(default)]
    paired: RawPaired,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPaired {
    alpha: Option<f64>,
    power: Option<f64>,
    min_pairs: Option<usize>,
    max_pairs: Option<usize>,
    metrics: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCounters {
    syscalls: Option<f64>,
    uring_submits: Option<f64>,
    allocations: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatistics {
    alpha: Option<f64>,
    min_trials: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    #[serde(default)]
    cpu_us_per_req: RawMetric,
    #[serde(default)]
    latency_p99_us: RawMetric,
    #[serde(default)]
    qps: RawMetric,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    threshold_pct: Option<f64>,
    enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstructions {
    threshold_pct: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(text, Path::new("ci/gate.toml"))
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(parse("").unwrap(), Policy::default());
    }

    #[test]
    fn fields_override_defaults() {
        let p = parse(
            "[statistics]\nalpha = 0.05\nmin_trials = 7\n\
             [metrics.latency_p99_us]\nthreshold_pct = 25\n\
             [metrics.qps]\nenabled = false\n\
             [instructions]\nthreshold_pct = 1.5\n",
        )
        .unwrap();
        assert_eq!((p.rule.alpha, p.rule.min_trials), (0.05, 7));
        assert!((p.rule.latency_p99_us.threshold - 0.25).abs() < 1e-12);
        assert!(!p.rule.qps.enabled);
        assert!(p.rule.cpu_us_per_req.enabled);
        assert!((p.instructions_threshold - 0.015).abs() < 1e-12);
    }

    #[test]
    fn unknown_fields_name_the_file_and_field() {
        let e = parse("[metrics.cpu_us_per_req]\nthreshold = 5\n").unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("ci/gate.toml: field `metrics.cpu_us_per_req"),
            "{text}"
        );
        assert!(text.contains("threshold"), "{text}");
        let e = parse("[metrics.p99]\nthreshold_pct = 5\n").unwrap_err();
        assert!(e.to_string().contains("p99"), "{e}");
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = parse("[statistics]\nalpha = \"small\"\n").unwrap_err();
        match e {
            PolicyError::Parse { field, .. } => assert_eq!(field, "statistics.alpha"),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_field() {
        let cases = [
            ("[statistics]\nalpha = 0\n", "statistics.alpha"),
            ("[statistics]\nmin_trials = 3\n", "statistics.min_trials"),
            (
                "[metrics.qps]\nthreshold_pct = 100\n",
                "metrics.qps.threshold_pct",
            ),
            (
                "[metrics.cpu_us_per_req]\nthreshold_pct = -1\n",
                "metrics.cpu_us_per_req.threshold_pct",
            ),
            (
                "[instructions]\nthreshold_pct = nan\n",
                "instructions.threshold_pct",
            ),
        ];
        for (text, want) in cases {
            match parse(text).unwrap_err() {
                PolicyError::Invalid { field, path, .. } => {
                    assert_eq!(field, want, "{text}");
                    assert_eq!(path, Path::new("ci/gate.toml"));
                }
                other => panic!("{text}: {other}"),
            }
        }
    }

    #[test]
    fn a_level_the_trials_cannot_reach_is_refused() {
        // 5 a side: the smallest p is 1/252 ~ 0.004, above alpha 0.001.
        let e = parse("[statistics]\nalpha = 0.001\n").unwrap_err();
        assert!(e.to_string().contains("smallest possible p-value"), "{e}");
        assert!(parse("[statistics]\nalpha = 0.001\nmin_trials = 7\n").is_ok());
    }

    #[test]
    fn the_paired_section_is_checked_plan_by_plan() {
        let p = parse(
            "[metrics.latency_p99_us]\nthreshold_pct = 25\n\
             [paired]\nmin_pairs = 10\nmax_pairs = 30\nmetrics = [\"cpu_us_per_req\", \"latency_p99_us\"]\n",
        )
        .unwrap();
        assert_eq!(
            p.paired.metrics,
            [Metric::CpuUsPerReq, Metric::LatencyP99Us]
        );
        let plan = p.plan(Metric::LatencyP99Us);
        assert_eq!((plan.threshold, plan.budget()), (0.25, 30));
        assert_eq!(parse("").unwrap().paired, Paired::default());
        let cases = [
            ("[paired]\nmetrics = [\"p99\"]\n", "paired.metrics"),
            ("[paired]\nmetrics = []\n", "paired.metrics"),
            ("[paired]\nmin_pairs = 3\n", "paired.min_pairs"),
            ("[paired]\nmax_pairs = 5\n", "paired.max_pairs"),
            ("[paired]\nalpha = 0.7\n", "paired.alpha"),
            ("[paired]\npower = 0.2\n", "paired.power"),
        ];
        for (text, want) in cases {
            match parse(text).unwrap_err() {
                PolicyError::Invalid { field, .. } => assert_eq!(field, want, "{text}"),
                other => panic!("{text}: {other}"),
            }
        }
    }

    #[test]
    fn missing_file_names_it() {
        let e = Policy::load(Path::new("/nonexistent/gate.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/gate.toml"), "{e}");
    }
}
