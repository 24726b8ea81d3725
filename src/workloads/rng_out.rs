//! Generating long `rng` sequences in chunks into a `.npy` file, a byte stream or
//! nowhere (to measure), with progress, cancellation and running statistics.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::control::RunControl;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::npy::NpyOut;
use crate::workloads::rng::{
    max_elements, rng_fill, rng_matches_reference, RngSpec, RngType, RngVec,
};

/// Elements generated per chunk: bounded memory whatever the total.
pub const CHUNK_ELEMENTS: usize = 1 << 24;

/// The longest a chunk should take (generated, checked and written): a
/// cancel is seen between chunks, and the README promises a stop within a
/// second. A slower chunk halves the next ones, down to
/// [`MIN_CHUNK_ELEMENTS`] (a slow OpenCL device took 0.9 s for 2^24 normal
/// f64); one under a quarter of it doubles them again, up to
/// [`CHUNK_ELEMENTS`], so a one-off cost (a kernel build, a stalled reader)
/// does not keep them small.
const CHUNK_TIME: Duration = Duration::from_millis(250);

/// The fewest elements a chunk shrinks to for [`CHUNK_TIME`].
const MIN_CHUNK_ELEMENTS: usize = 1 << 16;

/// Where generated elements go.
pub enum RngSink<'a> {
    /// A `.npy` file, written whole or not at all.
    Npy(&'a Path),
    /// Raw little-endian bytes (e.g. stdout, for statistical test suites).
    Bytes(&'a mut dyn Write),
    /// Nowhere: measure generation alone.
    Discard,
}

/// What an `rng` run produced.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RngReport {
    /// Elements produced (fewer than asked if cancelled, if the reader of a
    /// byte stream went away, or if a chunk failed the check: generation stops
    /// there, and that chunk is not counted).
    pub elements: u64,
    /// Elements asked for.
    pub requested: u64,
    /// Bytes of element data produced.
    pub bytes: u64,
    /// Wall time, including output (`wall_time_s`, in seconds, in JSON).
    #[serde(rename = "wall_time_s", serialize_with = "secs")]
    pub elapsed: Duration,
    /// Seconds spent generating (excluding output).
    pub generate_s: f64,
    /// Mean of the elements (NaN when there are none).
    pub mean: f64,
    /// Standard deviation of the elements (NaN when there are none).
    pub std_dev: f64,
    /// Smallest element (NaN when there are none).
    pub min: f64,
    /// Largest element (NaN when there are none).
    pub max: f64,
    /// True when stopped early (cancelled, the reader gone, or a failed check).
    pub partial: bool,
    /// Elements compared with the CPU reference (the first and last 256 of
    /// every chunk and 256 spread through it); 0 when verification was off.
    pub checked: u64,
    /// Index (in the sequence, offset included) of the first element that did
    /// not match the reference, if any.
    pub first_mismatch: Option<u64>,
    /// Whether a `.npy` sink's file was written. It is not when the run
    /// stopped early or a checked element did not match: the path then keeps
    /// whatever it held before.
    pub written: bool,
}

impl RngReport {
    /// `None` when nothing was checked, else whether every checked element matched.
    pub fn verified(&self) -> Option<bool> {
        (self.checked > 0).then_some(self.first_mismatch.is_none())
    }
}

/// Elements of every chunk compared with
/// [`rng_reference`](crate::rng::rng_reference): its first and last
/// [`SampledCheck::EDGE`] and [`SampledCheck::SPREAD`] more spread evenly
/// through it. A second generation of everything on the CPU would double the
/// work; the edges are where an offset or chunking slip shows, and the spread
/// catches a kernel wrong in part of its range. (The tests and `gpucalc bench`
/// compare whole ranges.)
struct SampledCheck {
    spec: RngSpec,
    checked: u64,
    first_mismatch: Option<u64>,
}

impl SampledCheck {
    const EDGE: usize = 256;
    const SPREAD: usize = 256;

    /// Checks `values[..len]`, elements `first ..` of the sequence.
    fn chunk(&mut self, values: &RngVec, len: usize, first: u64) {
        let stride = (len / Self::SPREAD).max(1);
        let edges = (0..Self::EDGE.min(len)).chain(len.saturating_sub(Self::EDGE)..len);
        let spread = (Self::EDGE..len.saturating_sub(Self::EDGE)).step_by(stride);
        let mut indices: Vec<usize> = edges.chain(spread).collect();
        indices.sort_unstable();
        indices.dedup();
        for i in indices {
            let index = first + i as u64;
            self.checked += 1;
            if self.first_mismatch.is_none()
                && !rng_matches_reference(&self.spec, index, values.get_f64(i))
            {
                self.first_mismatch = Some(index);
            }
        }
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Running count, mean, sum of squared deviations, min and max, merged with
/// Chan et al.'s pairwise update so chunks can be summarised in parallel.
#[derive(Debug, Clone, Copy)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Moments {
    const EMPTY: Moments = Moments {
        n: 0.0,
        mean: 0.0,
        m2: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    /// Two passes over a cache-sized piece, each with `LANES` independent
    /// accumulators so that the loops vectorise (one running sum would make
    /// every addition wait for the previous one: 4 cycles an element).
    fn of<T: Copy + Into<f64>>(values: &[T]) -> Moments {
        const LANES: usize = 8;
        if values.is_empty() {
            return Moments::EMPTY;
        }
        let chunks = values.chunks_exact(LANES);
        let rest = chunks.remainder();
        let mut sum = [0.0f64; LANES];
        let mut min = [f64::INFINITY; LANES];
        let mut max = [f64::NEG_INFINITY; LANES];
        let mut add = |lane: usize, v: T| {
            let x: f64 = v.into();
            sum[lane] += x;
            // Compare-and-select vectorises; f64::min's NaN rule does not
            // (generated elements are never NaN).
            min[lane] = if x < min[lane] { x } else { min[lane] };
            max[lane] = if x > max[lane] { x } else { max[lane] };
        };
        for chunk in chunks.clone() {
            for (lane, &v) in chunk.iter().enumerate() {
                add(lane, v);
            }
        }
        for &v in rest {
            add(0, v);
        }
        let n = values.len() as f64;
        let mean = sum.iter().sum::<f64>() / n;
        let mut m2 = [0.0f64; LANES];
        for chunk in chunks {
            for (lane, &v) in chunk.iter().enumerate() {
                m2[lane] += (v.into() - mean).powi(2);
            }
        }
        let m2 =
            m2.iter().sum::<f64>() + rest.iter().map(|&v| (v.into() - mean).powi(2)).sum::<f64>();
        Moments {
            n,
            mean,
            m2,
            min: min.into_iter().fold(f64::INFINITY, f64::min),
            max: max.into_iter().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    fn merge(self, other: Moments) -> Moments {
        if self.n == 0.0 {
            return other;
        }
        if other.n == 0.0 {
            return self;
        }
        let n = self.n + other.n;
        let delta = other.mean - self.mean;
        Moments {
            n,
            mean: self.mean + delta * other.n / n,
            m2: self.m2 + other.m2 + delta * delta * self.n * other.n / n,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }

    fn of_parallel<T: Copy + Into<f64> + Sync>(values: &[T]) -> Moments {
        use rayon::prelude::*;
        values
            .par_chunks(1 << 14)
            .map(Moments::of)
            .reduce(|| Moments::EMPTY, Moments::merge)
    }

    fn add_chunk(&mut self, values: &RngVec, len: usize) {
        let chunk = match values {
            RngVec::F32(v) => Moments::of_parallel(&v[..len]),
            RngVec::F64(v) => Moments::of_parallel(&v[..len]),
            RngVec::U32(v) => Moments::of_parallel(&v[..len]),
        };
        *self = self.merge(chunk);
    }
}

/// Generates elements `first .. first + n` of `spec`'s sequence into `sink`;
/// with `verify`, checks a sample of every chunk against the CPU reference
/// (its first and last 256 elements and 256 spread through it) and stops at
/// the first chunk that fails. A `.npy` file is written whole or not at all:
/// not when the run stops early or the check fails ([`RngReport::written`]).
/// A byte sink gets every chunk before the failing one.
pub fn rng_write(
    device: &Device,
    spec: &RngSpec,
    (first, n): (u64, u64),
    sink: RngSink<'_>,
    verify: bool,
    control: &RunControl,
) -> Result<RngReport> {
    if first
        .checked_add(n)
        .is_none_or(|end| end > max_elements(spec))
    {
        let max = max_elements(spec);
        let holds = if max == u64::MAX {
            // 2^64 elements, one more than a u64 can count to.
            format!(
                "gpucalc generates the first 2^64 - 1 = {max} {} {} elements of the stream",
                spec.dist, spec.dtype
            )
        } else {
            format!(
                "the stream holds {max} {} {} elements",
                spec.dist, spec.dtype
            )
        };
        return Err(Error::InvalidArgument(if first == 0 {
            format!("{n} elements are more than {holds}")
        } else {
            format!("--offset {first} plus {n} elements passes the end: {holds}")
        }));
    }
    let start = Instant::now();
    let chunk = CHUNK_ELEMENTS
        .min(usize::try_from(n).unwrap_or(usize::MAX))
        .max(1);
    let mut buffer = RngVec::zeros(spec.dtype, chunk);
    let mut npy = match &sink {
        RngSink::Npy(path) => Some(open_npy(path, spec.dtype, n)?),
        _ => None,
    };
    let mut bytes_out = match sink {
        RngSink::Bytes(w) => Some(w),
        _ => None,
    };
    let (mut done, mut generate_s, mut moments) = (0u64, 0.0, Moments::EMPTY);
    let mut reader_gone = false;
    let mut check = verify.then_some(SampledCheck {
        spec: *spec,
        checked: 0,
        first_mismatch: None,
    });
    let mut chunk_now = chunk;
    while done < n && !control.cancelled() && !reader_gone {
        let len = chunk_now.min((n - done) as usize);
        let t = Instant::now();
        match &mut buffer {
            RngVec::F32(v) => rng_fill(
                device,
                spec,
                first + done,
                crate::rng::RngSlice::F32(&mut v[..len]),
            )?,
            RngVec::F64(v) => rng_fill(
                device,
                spec,
                first + done,
                crate::rng::RngSlice::F64(&mut v[..len]),
            )?,
            RngVec::U32(v) => rng_fill(
                device,
                spec,
                first + done,
                crate::rng::RngSlice::U32(&mut v[..len]),
            )?,
        }
        generate_s += t.elapsed().as_secs_f64();
        if let Some(check) = check.as_mut() {
            check.chunk(&buffer, len, first + done);
            if check.first_mismatch.is_some() {
                // The result is wrong: the file will not be kept, and a byte
                // stream gets nothing more, this chunk included.
                break;
            }
        }
        if let Some(out) = npy.as_mut() {
            out.push(&buffer, len)?;
        }
        if let Some(w) = bytes_out.as_mut() {
            match w.write_all(&buffer.le_bytes_view(len)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => reader_gone = true,
                Err(error) => {
                    return Err(Error::Io {
                        path: "standard output".into(),
                        error,
                    })
                }
            }
        }
        // A chunk the reader never got counts in neither the total nor the statistics.
        if !reader_gone {
            moments.add_chunk(&buffer, len);
            done += len as u64;
        }
        control.report(done, n);
        let took = t.elapsed();
        if took > CHUNK_TIME {
            chunk_now = (chunk_now / 2).max(MIN_CHUNK_ELEMENTS);
        } else if took < CHUNK_TIME / 4 && len == chunk_now {
            chunk_now = (chunk_now * 2).min(chunk);
        }
    }
    if let Some(w) = bytes_out.as_mut() {
        if let Err(e) = w.flush() {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(Error::Io {
                    path: "standard output".into(),
                    error: e,
                });
            }
        }
    }
    let partial = done < n;
    let first_mismatch = check.as_ref().and_then(|c| c.first_mismatch);
    let mut written = false;
    if let Some(out) = npy {
        if partial || first_mismatch.is_some() {
            // Dropping the writer removes the temporary file; the target is untouched.
            drop(out);
        } else {
            out.commit()?;
            written = true;
        }
    }
    // No elements have no statistics: NaN, as NumPy's mean of an empty array
    // (JSON gets null), not 0 or an infinite min.
    let empty_nan = |x: f64| if done == 0 { f64::NAN } else { x };
    Ok(RngReport {
        elements: done,
        requested: n,
        bytes: done * spec.dtype.size() as u64,
        elapsed: start.elapsed(),
        generate_s,
        mean: empty_nan(moments.mean),
        std_dev: empty_nan((moments.m2 / moments.n.max(1.0)).sqrt()),
        min: empty_nan(moments.min),
        max: empty_nan(moments.max),
        partial,
        checked: check.as_ref().map_or(0, |c| c.checked),
        first_mismatch,
        written,
    })
}

/// A `.npy` writer of the spec's element type.
enum AnyNpy {
    F32(NpyOut<f32>),
    F64(NpyOut<f64>),
    U32(NpyOut<u32>),
}

fn open_npy(path: &Path, dtype: RngType, n: u64) -> Result<AnyNpy> {
    Ok(match dtype {
        RngType::F32 => AnyNpy::F32(NpyOut::create(path, &[n])?),
        RngType::F64 => AnyNpy::F64(NpyOut::create(path, &[n])?),
        RngType::U32 => AnyNpy::U32(NpyOut::create(path, &[n])?),
    })
}

impl AnyNpy {
    fn push(&mut self, values: &RngVec, len: usize) -> Result<()> {
        match (self, values) {
            (AnyNpy::F32(o), RngVec::F32(v)) => o.push(&v[..len]),
            (AnyNpy::F64(o), RngVec::F64(v)) => o.push(&v[..len]),
            (AnyNpy::U32(o), RngVec::U32(v)) => o.push(&v[..len]),
            _ => Err(Error::InvalidArgument(
                "rng: buffer and file types differ".into(),
            )),
        }
    }

    fn commit(self) -> Result<()> {
        match self {
            AnyNpy::F32(o) => o.commit(),
            AnyNpy::F64(o) => o.commit(),
            AnyNpy::U32(o) => o.commit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Moments, SampledCheck};
    use crate::rng::{rng_generate, Dist, RngSpec, RngType, RngVec};
    use crate::{Device, DeviceSpec};

    /// Takes the first write whole, then says the reader is gone.
    struct ClosesAfterOneWrite(usize);

    impl std::io::Write for ClosesAfterOneWrite {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += 1;
            if self.0 > 1 {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn no_elements_have_no_statistics() {
        let device = Device::select(&DeviceSpec::Cpu).unwrap();
        let spec = RngSpec::new(Dist::Normal, RngType::F64, 5).unwrap();
        let report = super::rng_write(
            &device,
            &spec,
            (7, 0),
            super::RngSink::Discard,
            true,
            &crate::RunControl::default(),
        )
        .unwrap();
        assert_eq!((report.elements, report.partial), (0, false));
        for x in [report.mean, report.std_dev, report.min, report.max] {
            assert!(x.is_nan(), "{report:?}");
        }
        let json = serde_json::to_value(&report).unwrap();
        assert!(json["min"].is_null() && json["mean"].is_null(), "{json}");
    }

    #[test]
    fn a_reader_that_leaves_gets_statistics_of_what_it_read() {
        let device = Device::select(&DeviceSpec::Cpu).unwrap();
        let spec = RngSpec::new(Dist::Uniform, RngType::F32, 5).unwrap();
        let mut reader = ClosesAfterOneWrite(0);
        let n = 2 * super::CHUNK_ELEMENTS as u64 + 5;
        let report = super::rng_write(
            &device,
            &spec,
            (0, n),
            super::RngSink::Bytes(&mut reader),
            false,
            &crate::RunControl::default(),
        )
        .unwrap();
        assert!(report.partial);
        assert_eq!(report.elements, super::CHUNK_ELEMENTS as u64);
        let RngVec::F32(read) = rng_generate(&device, &spec, 0, super::CHUNK_ELEMENTS).unwrap()
        else {
            unreachable!("f32 spec")
        };
        let max = read.iter().copied().fold(0.0f32, f32::max);
        assert_eq!(report.max, f64::from(max));
        let mean = read.iter().map(|&x| f64::from(x)).sum::<f64>() / read.len() as f64;
        assert!((report.mean - mean).abs() < 1e-9, "{} {mean}", report.mean);
    }

    #[test]
    fn the_sampled_check_covers_every_chunk_edge_and_catches_slips() {
        let cpu = Device::select(&DeviceSpec::Cpu).unwrap();
        let check = |spec: RngSpec, values: &RngVec, first: u64| {
            let mut c = SampledCheck {
                spec,
                checked: 0,
                first_mismatch: None,
            };
            c.chunk(values, values.len(), first);
            (c.checked, c.first_mismatch)
        };
        for (dist, dtype) in [(Dist::Raw, RngType::U32), (Dist::Normal, RngType::F32)] {
            let spec = RngSpec::new(dist, dtype, 4).unwrap();
            // Short chunks are checked whole; long ones at 256 + 256 + 256 places.
            for (len, expect_checked) in [(1usize, 1u64), (300, 300), (512, 512), (100_003, 768)] {
                let good = rng_generate(&cpu, &spec, 10, len).unwrap();
                let (checked, mismatch) = check(spec, &good, 10);
                assert_eq!(checked, expect_checked, "{len}");
                assert_eq!(mismatch, None, "{spec:?} {len}");
                // The same values taken for the wrong offset (an off-by-one in chunking).
                assert_eq!(check(spec, &good, 11).1, Some(11), "{spec:?} {len}");
                // One wrong element at either end, or at a spread sample.
                // A spread sample near the middle: 256 + j·(len / 256).
                let stride = (len / 256).max(1);
                let middle = if len > 512 {
                    256 + (len / 2 - 256) / stride * stride
                } else {
                    len / 2
                };
                for at in [0, len - 1, middle] {
                    let mut bad = good.clone();
                    match &mut bad {
                        RngVec::U32(v) => v[at] ^= 1,
                        RngVec::F32(v) => v[at] += 0.5,
                        _ => unreachable!(),
                    }
                    assert_eq!(
                        check(spec, &bad, 10).1,
                        Some(10 + at as u64),
                        "{spec:?} {len} {at}"
                    );
                }
            }
        }
    }

    /// The textbook two-pass formulas, one element at a time.
    fn naive(values: &[f64]) -> (f64, f64, f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let m2 = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (mean, m2, min, max)
    }

    #[test]
    fn lanes_and_merges_agree_with_the_textbook() {
        // Lengths around the lane width, extremes in the remainder and in lane 7.
        for len in [1usize, 7, 8, 9, 17, 1001, 40_000] {
            let values: Vec<f64> = (0..len)
                .map(|i| ((i * 7919) % 1013) as f64 * 0.5 - 100.0)
                .collect();
            let (mean, m2, min, max) = naive(&values);
            for got in [Moments::of(&values), Moments::of_parallel(&values)] {
                assert_eq!(got.n, len as f64);
                assert!(
                    (got.mean - mean).abs() <= 1e-12 * mean.abs().max(1.0),
                    "{len}"
                );
                assert!((got.m2 - m2).abs() <= 1e-10 * m2.max(1.0), "{len}");
                assert_eq!((got.min, got.max), (min, max), "{len}");
            }
        }
    }
}
