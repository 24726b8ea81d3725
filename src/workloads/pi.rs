//! Monte Carlo pi: DESIGN.md's exact hit rule over the Philox stream.
//!
//! Sample `j` takes stream words `2j` (x) and `2j+1` (y); with `x' = x >> 8` and
//! `y' = y >> 8` it is a hit iff `x'^2 + y'^2 < 2^48`, computed exactly in 64-bit
//! integers. The hit count is therefore a pure function of (samples, seed):
//! the same on every backend, at any thread count and any split.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::control::RunControl;
use crate::device::Device;
use crate::error::{Error, Result};

/// The largest sample count: sample `j` uses stream word `2j + 1`, which must fit in a `u64`.
pub const MAX_SAMPLES: u64 = 1 << 63;

/// The outcome of a `pi` run.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PiResult {
    /// Samples drawn (fewer than asked if the run was cancelled).
    pub samples: u64,
    /// Samples asked for.
    pub requested: u64,
    /// Samples inside the quarter circle.
    pub hits: u64,
    /// The seed of the stream.
    pub seed: u64,
    /// `4 * hits / samples`.
    pub estimate: f64,
    /// Standard error of the estimate: `4 * sqrt(p (1 - p) / samples)`, `p = hits / samples`.
    pub std_error: f64,
    /// `|estimate - pi|`.
    pub abs_error: f64,
    /// Wall time of the computation.
    #[serde(rename = "wall_time_s", serialize_with = "as_secs")]
    pub elapsed: Duration,
    /// `samples / wall time`.
    pub samples_per_second: f64,
    /// True when the run was cancelled before all samples were drawn.
    pub partial: bool,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl PiResult {
    fn new(requested: u64, samples: u64, hits: u64, seed: u64, elapsed: Duration) -> PiResult {
        let n = samples.max(1) as f64;
        let p = hits as f64 / n;
        let estimate = 4.0 * p;
        PiResult {
            samples,
            requested,
            hits,
            seed,
            estimate,
            std_error: 4.0 * (p * (1.0 - p) / n).sqrt(),
            abs_error: (estimate - std::f64::consts::PI).abs(),
            elapsed,
            samples_per_second: samples as f64 / elapsed.as_secs_f64().max(1e-9),
            partial: samples < requested,
        }
    }
}

/// Estimates pi from `samples` points of the stream for `seed` on `device`.
///
/// ```
/// use gpucalc::{pi, Device, DeviceSpec};
///
/// let device = Device::select(&DeviceSpec::Cpu)?;
/// let result = pi(&device, 1_000_000, 42)?;
/// assert!((result.estimate - std::f64::consts::PI).abs() < 0.01);
/// // The hit count is a pure function of (samples, seed).
/// assert_eq!(result.hits, pi(&device, 1_000_000, 42)?.hits);
/// # Ok::<(), gpucalc::Error>(())
/// ```
pub fn pi(device: &Device, samples: u64, seed: u64) -> Result<PiResult> {
    pi_with(device, samples, seed, &RunControl::default())
}

/// [`pi`] with progress reports and cancellation. A cancelled run returns the
/// estimate from the samples drawn so far, always a prefix `0 .. k` of the stream,
/// with `partial` set.
pub fn pi_with(device: &Device, samples: u64, seed: u64, control: &RunControl) -> Result<PiResult> {
    if samples == 0 {
        return Err(Error::InvalidArgument(
            "the number of samples must be at least 1".to_string(),
        ));
    }
    if samples > MAX_SAMPLES {
        return Err(Error::InvalidArgument(format!(
            "the number of samples must be at most 2^63 = {MAX_SAMPLES}"
        )));
    }
    let backend = device.backend();
    let chunk = backend.pi_chunk().max(2) & !1;
    let start = Instant::now();
    let (mut done, mut hits) = (0u64, 0u64);
    while done < samples && !control.cancelled() {
        let count = chunk.min(samples - done);
        hits += backend.pi_hits(seed, done, count)?;
        done += count;
        control.report(done, samples);
    }
    Ok(PiResult::new(samples, done, hits, seed, start.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_follow_from_the_counts() {
        let r = PiResult::new(100, 100, 78, 0, Duration::from_secs(1));
        assert_eq!(r.estimate, 3.12);
        assert!((r.std_error - 4.0 * (0.78f64 * 0.22 / 100.0).sqrt()).abs() < 1e-15);
        assert!(!r.partial);
        assert!(PiResult::new(100, 50, 39, 0, Duration::from_secs(1)).partial);
    }
}
