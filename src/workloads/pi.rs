//! Monte Carlo pi: an exact hit rule over the Philox stream.
//!
//! Sample `j` takes stream words `2j` (x) and `2j+1` (y); with `x' = x >> 8` and
//! `y' = y >> 8` it is a hit iff `x'^2 + y'^2 < 2^48`, computed exactly in 64-bit
//! integers. The hit count is therefore a pure function of (samples, seed):
//! the same on every backend, at any thread count and any split.
//!
//! [`pi_on`] runs one job on several devices at once as a task farm: each
//! device pulls the next chunk of samples (its own chunk size) from a shared
//! counter until none is left, so a fast GPU takes most of the work and a
//! slow device never holds the others back by more than one of its chunks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// `4 * hits / samples` (NaN when no sample was drawn).
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
    /// Each device's part, in the order the devices were given (one entry
    /// for a run on one device).
    pub shares: Vec<PiShare>,
}

/// What one device did in a `pi` run.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PiShare {
    /// The device's spec: `cpu`, `cuda:0`, `opencl:1`.
    pub device: String,
    /// The device's name.
    pub name: String,
    /// Samples it drew.
    pub samples: u64,
    /// Hits among them.
    pub hits: u64,
    /// Chunks it took from the shared counter.
    pub chunks: u64,
    /// Time it spent in its chunks.
    #[serde(rename = "busy_s", serialize_with = "as_secs")]
    pub busy: Duration,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl PiResult {
    fn new(requested: u64, shares: Vec<PiShare>, seed: u64, elapsed: Duration) -> PiResult {
        let samples = shares.iter().map(|s| s.samples).sum::<u64>();
        let hits = shares.iter().map(|s| s.hits).sum::<u64>();
        // No samples (cancelled before the first chunk): no estimate, NaN
        // throughout rather than a plausible-looking 0.
        let n = samples as f64;
        let p = if samples == 0 {
            f64::NAN
        } else {
            hits as f64 / n
        };
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
            shares,
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
    pi_on(std::slice::from_ref(device), samples, seed, control)
}

/// [`pi_with`] on several devices at once: each pulls chunks of samples from
/// a shared counter until none is left. The hits are those of one device
/// (the stream does not depend on who draws which part); `shares` says who
/// did what. A cancelled run stops handing out chunks and waits for the ones
/// under way, so the samples drawn are still a prefix of the stream. If a
/// device fails, the others stop after their current chunk and the error,
/// naming the device, is returned.
///
/// ```
/// use gpucalc::{pi, pi_on, Device, DeviceOptions, DeviceSpec, RunControl};
///
/// // Two CPU devices of one thread each stand in for two GPUs.
/// let one = || Device::select_with(&DeviceSpec::Cpu, &DeviceOptions::threads(1));
/// let devices = [one()?, one()?];
/// let farm = pi_on(&devices, 3_000_000, 5, &RunControl::default())?;
/// assert_eq!(farm.hits, pi(&devices[0], 3_000_000, 5)?.hits);
/// assert_eq!(farm.shares.iter().map(|s| s.samples).sum::<u64>(), 3_000_000);
/// # Ok::<(), gpucalc::Error>(())
/// ```
pub fn pi_on(
    devices: &[Device],
    samples: u64,
    seed: u64,
    control: &RunControl,
) -> Result<PiResult> {
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
    if devices.is_empty() {
        return Err(Error::InvalidArgument(
            "pi needs at least one device".to_string(),
        ));
    }
    let farm = Farm {
        samples,
        seed,
        next: AtomicU64::new(0),
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        control,
    };
    let start = Instant::now();
    let outcomes: Vec<Result<PiShare>> = match devices {
        // One device works on the calling thread.
        [device] => vec![farm.work(device)],
        _ => std::thread::scope(|scope| {
            let workers: Vec<_> = devices
                .iter()
                .map(|device| scope.spawn(|| farm.work(device)))
                .collect();
            workers
                .into_iter()
                .zip(devices)
                .map(|(worker, device)| {
                    worker.join().unwrap_or_else(|_| {
                        Err(Error::InvalidArgument(format!(
                            "pi stopped: the worker for {} panicked",
                            device.info().spec
                        )))
                    })
                })
                .collect()
        }),
    };
    let elapsed = start.elapsed();
    let mut shares = Vec::with_capacity(devices.len());
    for (outcome, device) in outcomes.into_iter().zip(devices) {
        match outcome {
            Ok(share) => shares.push(share),
            Err(e) if devices.len() == 1 => return Err(e),
            Err(e) => {
                let info = device.info();
                return Err(Error::OnDevice {
                    device: format!("{} ({})", info.spec, info.name),
                    error: Box::new(e),
                });
            }
        }
    }
    Ok(PiResult::new(samples, shares, seed, elapsed))
}

/// The shared state of a `pi` run: the next sample to hand out and when to stop.
struct Farm<'a> {
    samples: u64,
    seed: u64,
    /// The first sample not yet handed out; every chunk starts at an even one.
    next: AtomicU64,
    /// Samples finished (for progress reports).
    done: AtomicU64,
    /// Set when a device fails: the others stop taking chunks.
    stop: AtomicBool,
    control: &'a RunControl<'a>,
}

impl Farm<'_> {
    /// Samples `first .. first + count` for a device whose chunks hold `chunk`
    /// samples, or `None` when none are left or the run is stopping.
    fn take(&self, chunk: u64) -> Option<(u64, u64)> {
        if self.stop.load(Ordering::SeqCst) || self.control.cancelled() {
            return None;
        }
        let samples = self.samples;
        let first = self
            .next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |next| {
                (next < samples).then(|| next + chunk.min(samples - next))
            })
            .ok()?;
        Some((first, chunk.min(samples - first)))
    }

    /// Draws chunks on `device` until none are left.
    fn work(&self, device: &Device) -> Result<PiShare> {
        let backend = device.backend();
        // Even, so every chunk but the run's last leaves the next start even.
        let chunk = backend.pi_chunk().max(2) & !1;
        let info = device.info();
        let mut share = PiShare {
            device: info.spec.clone(),
            name: info.name.clone(),
            samples: 0,
            hits: 0,
            chunks: 0,
            busy: Duration::ZERO,
        };
        while let Some((first, count)) = self.take(chunk) {
            let started = Instant::now();
            let hits = backend.pi_hits(self.seed, first, count).inspect_err(|_| {
                self.stop.store(true, Ordering::SeqCst);
            })?;
            share.busy += started.elapsed();
            share.samples += count;
            share.hits += hits;
            share.chunks += 1;
            let done = self.done.fetch_add(count, Ordering::SeqCst) + count;
            self.control.report(done, self.samples);
        }
        Ok(share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_follow_from_the_counts() {
        let share = |samples, hits| PiShare {
            device: "cpu".into(),
            name: "x".into(),
            samples,
            hits,
            chunks: 1,
            busy: Duration::ZERO,
        };
        let second = Duration::from_secs(1);
        let r = PiResult::new(100, vec![share(60, 47), share(40, 31)], 0, second);
        assert_eq!((r.samples, r.hits), (100, 78));
        assert_eq!(r.estimate, 3.12);
        assert!((r.std_error - 4.0 * (0.78f64 * 0.22 / 100.0).sqrt()).abs() < 1e-15);
        assert!(!r.partial);
        assert!(PiResult::new(100, vec![share(50, 39)], 0, second).partial);
        let none = PiResult::new(100, vec![share(0, 0)], 0, second);
        assert!(none.partial && none.estimate.is_nan() && none.std_error.is_nan());
    }
}
