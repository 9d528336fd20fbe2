//! Latency histograms in their standard serialised form.
//!
//! Histograms are stored, not just percentiles, because percentiles cannot
//! be combined: the summary of several trials (or of several driver hosts)
//! is the percentile of the *added* histograms.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

use crate::Percentiles;

/// Highest latency a histogram tracks, ns (60 s): the driver clamps slower
/// responses to it, and they count as timeouts anyway.
pub const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// Significant digits of every latency histogram: 3 keeps each recorded
/// value within 0.1 %, far below trial-to-trial noise.
pub const SIGFIG: u8 = 3;

/// A fresh latency histogram in nanoseconds with [`MAX_LATENCY_NS`] and
/// [`SIGFIG`]: the one form the driver records, the results store and
/// every merge adds (histograms of other bounds would not add exactly).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, SIGFIG)
        .expect("static histogram bounds are valid")
}

/// A histogram string that could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("invalid histogram encoding: {0}")]
pub struct HistogramDecodeError(String);

impl HistogramDecodeError {
    pub(crate) fn new(message: String) -> Self {
        HistogramDecodeError(message)
    }
}

/// Compressed V2 encoding, base64: the form HdrHistogram's own tools read.
pub fn encode(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .expect("serialising into memory cannot fail");
    STANDARD.encode(bytes)
}

/// Inverse of [`encode`].
pub fn decode(text: &str) -> Result<Histogram<u64>, HistogramDecodeError> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| HistogramDecodeError::new(e.to_string()))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| HistogramDecodeError::new(format!("{e:?}")))
}

/// Decodes and adds histograms: the exact combination of runs (trials,
/// threads, driver hosts). An empty input gives an empty histogram.
pub fn merge<'a>(
    encoded: impl IntoIterator<Item = &'a str>,
) -> Result<Histogram<u64>, HistogramDecodeError> {
    let mut total: Option<Histogram<u64>> = None;
    for text in encoded {
        let h = decode(text)?;
        match &mut total {
            Some(t) => t.add(&h).map_err(|e| {
                HistogramDecodeError::new(format!("histograms do not merge: {e:?}"))
            })?,
            None => total = Some(h),
        }
    }
    match total {
        Some(t) => Ok(t),
        None => Ok(new_histogram()),
    }
}

/// Percentiles in µs of a histogram recorded in ns; zeros when empty.
pub fn percentiles(histogram: &Histogram<u64>) -> Percentiles {
    let us = |ns: u64| ns as f64 / 1000.0;
    if histogram.is_empty() {
        return Percentiles {
            p50: 0.0,
            p90: 0.0,
            p99: 0.0,
            p999: 0.0,
            max: 0.0,
            mean: 0.0,
        };
    }
    Percentiles {
        p50: us(histogram.value_at_quantile(0.50)),
        p90: us(histogram.value_at_quantile(0.90)),
        p99: us(histogram.value_at_quantile(0.99)),
        p999: us(histogram.value_at_quantile(0.999)),
        max: us(histogram.max()),
        mean: histogram.mean() / 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = new_histogram();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn encoding_round_trips_and_looks_standard() {
        let h = hist(&[1_000, 2_000, 3_000, 1_000_000]);
        let text = encode(&h);
        assert!(text.starts_with("HISTF"), "{text}");
        let back = decode(&text).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn percentiles_are_in_microseconds() {
        let h = hist(&(1..=1000).map(|i| i * 1000).collect::<Vec<_>>());
        let p = percentiles(&h);
        assert!((p.p50 - 500.0).abs() <= 1.0, "{p:?}");
        assert!((p.p99 - 990.0).abs() <= 1.0, "{p:?}");
        assert!((p.max - 1000.0).abs() <= 1.0, "{p:?}");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode("not base64!").is_err());
        assert!(decode("AAAA").is_err());
    }
}
