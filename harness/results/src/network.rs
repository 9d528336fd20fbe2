//! The network a cell ran across: what its scenario asked of each link
//! ([`NetworkParams`], in the cell's parameters) and what carried the
//! links and what they dropped ([`NetworkRun`], beside the trials). A
//! cell with neither ran on loopback, as every cell did before network
//! paths.

use serde::{Deserialize, Serialize};

/// The most delay a link may add one way: more is a typo, not a network.
pub const MAX_DELAY_MS: f64 = 10_000.0;

/// What one link does to every packet, in each direction.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// One-way delay (ms). A round trip across the link gains twice this,
    /// as with netem on both ends of a real link.
    #[serde(default)]
    pub delay_ms: f64,
    /// Each packet's delay varies at random by up to this much either way
    /// (ms, uniform). The user-space link never reorders packets; netem
    /// may, when the jitter exceeds the gap between packets.
    #[serde(default)]
    pub jitter_ms: f64,
    /// Packets dropped at random (percent, each direction).
    #[serde(default)]
    pub loss_pct: f64,
    /// Bandwidth of each direction (Mbit/s); unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_mbit: Option<f64>,
}

impl LinkSpec {
    /// True when the link changes nothing: a plain veth pair carries it.
    pub fn is_plain(&self) -> bool {
        self.delay_ms == 0.0
            && self.jitter_ms == 0.0
            && self.loss_pct == 0.0
            && self.rate_mbit.is_none()
    }

    /// Refuses values no network has, naming the field.
    pub fn check(&self) -> Result<(), String> {
        let finite = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be a number >= 0, not {v}"))
            }
        };
        finite("delay_ms", self.delay_ms)?;
        finite("jitter_ms", self.jitter_ms)?;
        finite("loss_pct", self.loss_pct)?;
        if self.delay_ms > MAX_DELAY_MS {
            return Err(format!(
                "delay_ms {} is more than {MAX_DELAY_MS} ms",
                self.delay_ms
            ));
        }
        if self.jitter_ms > self.delay_ms {
            return Err(format!(
                "jitter_ms {} is more than delay_ms {}: a packet cannot arrive before it was sent",
                self.jitter_ms, self.delay_ms
            ));
        }
        if self.loss_pct >= 100.0 {
            return Err(format!(
                "loss_pct {} leaves nothing to measure (must be < 100)",
                self.loss_pct
            ));
        }
        if let Some(rate) = self.rate_mbit
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(format!("rate_mbit must be a number > 0, not {rate}"));
        }
        Ok(())
    }
}

/// The two links of a topology.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Between the driver and the core.
    #[serde(default)]
    pub client: LinkSpec,
    /// Between the core and the origins.
    #[serde(default)]
    pub origin: LinkSpec,
}

impl NetworkSpec {
    /// Both links checked, the failing one named.
    pub fn check(&self) -> Result<(), String> {
        self.client
            .check()
            .map_err(|e| format!("client link: {e}"))?;
        self.origin.check().map_err(|e| format!("origin link: {e}"))
    }
}

/// What carried a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Emulation {
    /// A veth pair, nothing added (the link asked for nothing).
    Plain,
    /// A veth pair with the kernel's `tc netem` on both ends.
    Netem,
    /// TUN devices joined by threads of the harness that hold each packet
    /// until its time (the kernel has no netem; pb-netpath's emulator).
    Userspace,
}

/// One link as made, and what it did so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkReport {
    /// `client` or `origin`.
    pub link: String,
    /// What it applies.
    pub spec: LinkSpec,
    /// What applies it.
    pub emulation: Emulation,
    /// Packets delivered, both directions (user-space links only; netem
    /// keeps its own counts in `tc -s qdisc`).
    pub delivered: u64,
    /// Packets dropped as `loss_pct` asked.
    pub lost: u64,
    /// Packets dropped because the queue was full (the rate limit could
    /// not keep up): more than a handful means the link, not the core,
    /// set the pace.
    pub overflowed: u64,
    /// CPU time the link's user-space threads used by the cell's end,
    /// both directions, seconds (0 for kernel links): the harness's cost
    /// of the path, spent on the driver's CPUs, never the core's.
    #[serde(default)]
    pub cpu_s: f64,
}

/// What a cell's scenario asked for: a named network and its two links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkParams {
    /// The profile's name (`lan`, `wan-origin`, or one the file defines).
    pub name: String,
    /// Its links.
    pub links: NetworkSpec,
}

/// What a cell with [`NetworkParams`] actually ran across.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRun {
    /// True when driver, core and origins ran in namespaces of their own
    /// across the links; false when the cell fell back to loopback.
    pub namespaces: bool,
    /// Why it fell back (not root, no iproute2), or anything else a
    /// reader of the figures must know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Each link as made, with its packet counts at the cell's end.
    #[serde(default)]
    pub links: Vec<LinkReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_with_impossible_values_are_refused_with_the_field_named() {
        let ok = LinkSpec {
            delay_ms: 10.0,
            jitter_ms: 1.0,
            loss_pct: 0.1,
            rate_mbit: Some(100.0),
        };
        assert_eq!(ok.check(), Ok(()));
        assert!(!ok.is_plain());
        assert!(LinkSpec::default().is_plain());
        let cases = [
            (
                LinkSpec {
                    delay_ms: -1.0,
                    ..ok
                },
                "delay_ms",
            ),
            (
                LinkSpec {
                    delay_ms: f64::NAN,
                    ..ok
                },
                "delay_ms",
            ),
            (
                LinkSpec {
                    delay_ms: 20_000.0,
                    ..ok
                },
                "delay_ms",
            ),
            (
                LinkSpec {
                    jitter_ms: 11.0,
                    ..ok
                },
                "jitter_ms",
            ),
            (
                LinkSpec {
                    loss_pct: 100.0,
                    ..ok
                },
                "loss_pct",
            ),
            (
                LinkSpec {
                    rate_mbit: Some(0.0),
                    ..ok
                },
                "rate_mbit",
            ),
        ];
        for (spec, field) in cases {
            let e = spec.check().unwrap_err();
            assert!(e.contains(field), "{spec:?}: {e}");
        }
        let spec = NetworkSpec {
            client: ok,
            origin: LinkSpec {
                loss_pct: 200.0,
                ..ok
            },
        };
        assert!(
            spec.check()
                .unwrap_err()
                .starts_with("origin link: loss_pct")
        );
    }

    #[test]
    fn a_spec_reads_and_refuses_unknown_fields() {
        let spec: NetworkSpec =
            from_json(r#"{"origin": {"delay_ms": 10.0, "loss_pct": 0.1}}"#).unwrap();
        assert_eq!(spec.origin.delay_ms, 10.0);
        assert!(spec.client.is_plain());
        let e = from_json::<NetworkSpec>(r#"{"origin": {"delay": 10.0}}"#).unwrap_err();
        assert!(e.contains("unknown field `delay`"), "{e}");
    }

    fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }
}
