//! `stream`: device memory bandwidth, BabelStream-compatible.
//!
//! Five kernels over three arrays (BabelStream's initial values a = 0.1,
//! b = 0.2, c = 0.0, scalar 0.4): copy `c = a`, mul `b = s*c`, add `c = a + b`,
//! triad `a = b + s*c`, dot `sum(a*b)`. Bandwidth is taken from each kernel's
//! fastest iteration, with the first iteration dropped; every element is then
//! checked against a replay of the same sequence on scalars.
//!
//! BabelStream's init kernel (`a, b, c = 0.1, 0.2, 0.0`) also runs `num_times`
//! times before the loop (it is idempotent, so the loop sees the same arrays).
//! It only writes, so its bandwidth is the device's write bandwidth: the limit
//! of write-only workloads such as `rng` in `gpucalc bench`. The CPU writes it
//! with streaming stores (no read of each line first), its fastest way to write
//! memory: 51 GB/s on the 2-core development VM, against 41 GB/s for copy.

use serde::Serialize;

use crate::device::{Device, DeviceInfo};
use crate::dtype::{Float, FloatVec};
use crate::error::{Error, Result};

/// BabelStream's scalar.
pub const SCALAR: f64 = 0.4;
/// BabelStream's initial values of a, b, c.
pub const INIT: [f64; 3] = [0.1, 0.2, 0.0];
/// BabelStream's default array size (elements); see [`default_array_size`].
pub const DEFAULT_ARRAY_SIZE: usize = 1 << 25;

/// The array size `stream` uses unless told: BabelStream's 2^25 elements, or
/// more where the device's last-level cache is large, so that each array is
/// at least four times the cache (STREAM's rule; a large EPYC has 384 MiB of
/// L3 a socket, more than 2^25 f32 elements in all three arrays), rounded up
/// to a power of two, and the three arrays within a quarter of its memory.
///
/// ```
/// use gpucalc::workloads::stream::default_array_size;
/// use gpucalc::{list_devices, Float};
///
/// let cpu = &list_devices().devices[0];
/// assert!(default_array_size(cpu, Float::F64) >= 1 << 25);
/// ```
pub fn default_array_size(info: &DeviceInfo, float: Float) -> usize {
    let size =
        (DEFAULT_ARRAY_SIZE as u64).max(elements_leaving_cache(info, float.size() as u64, 3));
    usize::try_from(size).unwrap_or(DEFAULT_ARRAY_SIZE)
}

/// Elements of `element` bytes that make an array at least 4 times `info`'s
/// last-level cache (a power of two), held to a quarter of its memory for
/// `arrays` such arrays. The benchmark suite sizes its other
/// bandwidth-bound rows by it too.
pub(crate) fn elements_leaving_cache(info: &DeviceInfo, element: u64, arrays: u64) -> u64 {
    let covers_cache = (4 * info.cache_bytes.unwrap_or(0) / element).next_power_of_two();
    match info.memory_bytes {
        0 => covers_cache,
        memory => covers_cache.min(memory / 4 / (arrays * element)),
    }
}
/// The most iterations a run takes (each kernel's times are kept).
pub const MAX_NUM_TIMES: usize = 1_000_000;
/// BabelStream's default iteration count.
pub const DEFAULT_NUM_TIMES: usize = 100;

/// The five kernels, in the order they run each iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKernel {
    /// `c = a`
    Copy,
    /// `b = s*c`
    Mul,
    /// `c = a + b`
    Add,
    /// `a = b + s*c`
    Triad,
    /// `sum(a*b)`
    Dot,
    /// `a, b, c = 0.1, 0.2, 0.0`: writes only, timed before the loop.
    Init,
}

impl StreamKernel {
    /// The five of BabelStream's loop, in run order ([`StreamKernel::Init`] runs before it).
    pub const ALL: [StreamKernel; 5] = [
        StreamKernel::Copy,
        StreamKernel::Mul,
        StreamKernel::Add,
        StreamKernel::Triad,
        StreamKernel::Dot,
    ];

    /// BabelStream's name: `Copy`, `Mul`, `Add`, `Triad`, `Dot`.
    pub const fn name(self) -> &'static str {
        match self {
            StreamKernel::Copy => "Copy",
            StreamKernel::Mul => "Mul",
            StreamKernel::Add => "Add",
            StreamKernel::Triad => "Triad",
            StreamKernel::Dot => "Dot",
            StreamKernel::Init => "Init",
        }
    }

    /// Arrays of `n` elements moved per call (reads + writes), as BabelStream counts.
    pub const fn arrays_moved(self) -> usize {
        match self {
            StreamKernel::Copy | StreamKernel::Mul | StreamKernel::Dot => 2,
            StreamKernel::Add | StreamKernel::Triad | StreamKernel::Init => 3,
        }
    }

    /// Floating-point operations per element.
    pub const fn flops_per_element(self) -> usize {
        match self {
            StreamKernel::Copy | StreamKernel::Init => 0,
            StreamKernel::Mul | StreamKernel::Add => 1,
            StreamKernel::Triad | StreamKernel::Dot => 2,
        }
    }
}

/// What a backend hands back from one BabelStream run.
#[derive(Debug)]
pub(crate) struct StreamRaw {
    /// Seconds per call, per kernel in [`StreamKernel::ALL`] order, every iteration.
    pub times: [Vec<f64>; 5],
    /// Seconds of each of the init kernel's calls before the loop (as many as iterations).
    pub init_times: Vec<f64>,
    /// The arrays after the last iteration.
    pub arrays: [FloatVec; 3],
    /// The last iteration's dot product.
    pub dot: f64,
    /// The longest chain of sequential additions in the backend's dot
    /// reduction (sets the dot error bound).
    pub dot_chain: u64,
}

/// Timing statistics of one kernel.
#[derive(Debug, Clone, Serialize)]
pub struct KernelStats {
    /// Which kernel.
    pub kernel: StreamKernel,
    /// Bytes moved per call.
    pub bytes: u64,
    /// Fastest call, seconds (first iteration dropped).
    pub min_s: f64,
    /// Slowest call, seconds.
    pub max_s: f64,
    /// Mean call, seconds.
    pub avg_s: f64,
    /// `bytes / min_s`, in bytes per second.
    pub bandwidth: f64,
    /// Every call's seconds, the first (not counted above) included.
    pub times_s: Vec<f64>,
}

/// The outcome of a `stream` run.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StreamResult {
    /// Element type.
    pub float: Float,
    /// Elements per array.
    pub array_size: usize,
    /// Iterations run (the first is not counted in the statistics).
    pub num_times: usize,
    /// Per-kernel statistics, in run order.
    pub kernels: Vec<KernelStats>,
    /// The init kernel's statistics: the device's write bandwidth.
    pub init: KernelStats,
    /// Largest relative error of any element of a, b or c against the replay
    /// (relative to the gold value, or to a floor worth 256 smallest normals
    /// where the values have shrunk below it).
    pub max_rel_error: f64,
    /// The bound that error had to stay within.
    pub rel_error_bound: f64,
    /// Relative error of the dot product (with a floor like `max_rel_error`'s).
    pub dot_rel_error: f64,
    /// The bound the dot error had to stay within.
    pub dot_rel_error_bound: f64,
    /// Whether both errors stayed within their bounds.
    pub verified: bool,
}

/// Runs BabelStream's five kernels `num_times` times over arrays of `array_size`
/// elements on `device`, then verifies every element.
///
/// `num_times` is 2 to [`MAX_NUM_TIMES`]: the first iteration warms up and is
/// left out of the statistics, as BabelStream does. Anything else, and arrays
/// past the device's memory, are errors.
///
/// ```
/// use gpucalc::{stream, Device, DeviceSpec, Float};
///
/// let device = Device::select(&DeviceSpec::Cpu)?;
/// let result = stream(&device, Float::F32, 1 << 16, 3)?;
/// assert!(result.verified);
/// assert_eq!(result.kernels.len(), 5);
/// # Ok::<(), gpucalc::Error>(())
/// ```
pub fn stream(
    device: &Device,
    float: Float,
    array_size: usize,
    num_times: usize,
) -> Result<StreamResult> {
    if !(2..=MAX_NUM_TIMES).contains(&num_times) {
        return Err(Error::InvalidArgument(format!(
            "num_times (--numtimes) must be between 2 (the first iteration is not counted) and {MAX_NUM_TIMES}"
        )));
    }
    if array_size == 0 {
        return Err(Error::InvalidArgument(
            "array_size (--arraysize) must be at least 1".to_string(),
        ));
    }
    let needed = (array_size as u64)
        .checked_mul(3 * float.size() as u64)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "array_size (--arraysize) {array_size} is too large"
            ))
        })?;
    device.check_fits("stream (three arrays)", needed)?;
    if device.kind() != crate::BackendKind::Cpu {
        // A GPU's arrays come back to the host to be verified. A CPU's
        // OpenCL device (PoCL) keeps its own arrays in that same memory too.
        let on_host = match device.info().device_type {
            crate::DeviceType::Cpu => needed.saturating_mul(2),
            _ => needed,
        };
        crate::backend::cpu::check_host_fits(
            "stream's arrays and their copies read back",
            on_host,
        )?;
    }
    let raw = device.backend().stream(float, array_size, num_times)?;
    Ok(evaluate(float, array_size, num_times, &raw))
}

/// Statistics and verification of a backend's run.
fn evaluate(float: Float, n: usize, num_times: usize, raw: &StreamRaw) -> StreamResult {
    let stats = |kernel: StreamKernel, times: &Vec<f64>| {
        let counted = &times[1..];
        let min_s = counted.iter().copied().fold(f64::INFINITY, f64::min);
        let max_s = counted.iter().copied().fold(0.0, f64::max);
        let avg_s = counted.iter().sum::<f64>() / counted.len() as f64;
        let bytes = (kernel.arrays_moved() * float.size() * n) as u64;
        KernelStats {
            kernel,
            bytes,
            min_s,
            max_s,
            avg_s,
            bandwidth: bytes as f64 / min_s.max(1e-12),
            times_s: times.clone(),
        }
    };
    let kernels = StreamKernel::ALL
        .iter()
        .zip(&raw.times)
        .map(|(&kernel, times)| stats(kernel, times))
        .collect();
    let init = stats(StreamKernel::Init, &raw.init_times);

    // Replay the kernel sequence on scalars, in the element type.
    let [gold_a, gold_b, gold_c] = replay(float, num_times);
    let eps = float.epsilon();
    // Each iteration may round each value a few times differently (fused
    // multiply-add on GPUs): allow a few ulps per iteration.
    let rel_error_bound = 4.0 * (num_times as f64 + 1.0) * eps;
    // Each iteration scales the values by 0.96: past about 1,100 (f32) or
    // 9,000 (f64) iterations the dot's products leave the normal range, past
    // about 2,100 or 17,300 the values themselves. A rounding there errs by
    // up to the smallest normal value absolutely (all of it on a device that
    // flushes subnormals), which no relative bound covers. An iteration adds
    // at most four such errors, each scaled by at most 1.4 into a, and then
    // shrinks with a by 0.96 an iteration: under 4·1.4/0.04 = 140 in all, and
    // b and c carry at most 1.4 times a's and two more. So errors are
    // relative to the gold value or to `floor`, the larger, where floor is
    // worth 256 smallest normals at the relative bound.
    let tiny = float.min_positive();
    let floor = 256.0 * tiny / rel_error_bound;
    let mut max_rel_error: f64 = 0.0;
    for (array, gold) in raw.arrays.iter().zip([gold_a, gold_b, gold_c]) {
        let worst = (0..array.len())
            .map(|i| (array.get_f64(i) - gold).abs())
            .fold(0.0, max_keeping_nan);
        max_rel_error = max_keeping_nan(max_rel_error, worst / gold.abs().max(floor));
    }
    // Dot: every term carries the element error, and summing n terms with
    // chains of at most `dot_chain` sequential additions (then a tree) costs at
    // most (chain + log2 n + 2) roundings of the running magnitude.
    let gold_dot = gold_a * gold_b * n as f64;
    let tree_depth = (n as f64).log2().ceil();
    let dot_rel_error_bound =
        2.0 * rel_error_bound + (raw.dot_chain as f64 + tree_depth + 2.0) * eps;
    // Each term carries the elements' absolute errors times the other element
    // (at most 0.2: under 103 smallest normals) and two roundings of its own
    // (product and sum) that may underflow: 128 a term.
    let dot_floor = n as f64 * 128.0 * tiny / dot_rel_error_bound;
    let dot_rel_error = (raw.dot - gold_dot).abs() / gold_dot.abs().max(dot_floor);
    let verified = max_rel_error <= rel_error_bound && dot_rel_error <= dot_rel_error_bound;
    StreamResult {
        float,
        array_size: n,
        num_times,
        kernels,
        init,
        max_rel_error,
        rel_error_bound,
        dot_rel_error,
        dot_rel_error_bound,
        verified,
    }
}

/// BabelStream's gold values after `num_times` iterations, computed in `float`.
fn replay(float: Float, num_times: usize) -> [f64; 3] {
    fn run<T: crate::dtype::Real>(num_times: usize) -> [f64; 3] {
        let s = T::from_f64(SCALAR);
        let [mut a, mut b, mut c] = INIT.map(T::from_f64);
        for _ in 0..num_times {
            c = a;
            b = s * c;
            c = a + b;
            a = b + s * c;
        }
        [a.to_f64(), b.to_f64(), c.to_f64()]
    }
    match float {
        Float::F32 => run::<f32>(num_times),
        Float::F64 => run::<f64>(num_times),
    }
}

/// BabelStream's CSV header (`--csv`).
pub const CSV_HEADER: &str =
    "function,num_times,n_elements,sizeof,max_mbytes_per_sec,min_runtime,max_runtime,avg_runtime";

impl StreamResult {
    /// The statistics of `kernel`.
    pub fn stats(&self, kernel: StreamKernel) -> &KernelStats {
        match kernel {
            StreamKernel::Init => &self.init,
            _ => self
                .kernels
                .iter()
                .find(|k| k.kernel == kernel)
                .expect("a run has every kernel of its loop"),
        }
    }

    /// BabelStream's CSV rows, one per kernel (no header). Times have six
    /// significant digits, as BabelStream's CSV gives them (not its table's
    /// five decimals), so a kernel of a few microseconds keeps its time and
    /// the bandwidth can be recomputed from it.
    pub fn csv_rows(&self) -> Vec<String> {
        self.kernels
            .iter()
            .map(|k| {
                format!(
                    "{},{},{},{},{:.3},{:.5e},{:.5e},{:.5e}",
                    k.kernel.name(),
                    self.num_times,
                    self.array_size,
                    self.float.size(),
                    k.bandwidth * 1e-6,
                    k.min_s,
                    k.max_s,
                    k.avg_s
                )
            })
            .collect()
    }
}

/// The larger of `a` and `b`, or NaN where either is (`f64::max` drops a
/// NaN, and a NaN element must reach the verdict and the report).
fn max_keeping_nan(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(float: Float, n: usize, times: usize, perturb: f64) -> StreamRaw {
        let [a, b, c] = replay(float, times);
        let vec = |v: f64| match float {
            Float::F32 => FloatVec::F32(vec![v as f32; n]),
            Float::F64 => FloatVec::F64(vec![v; n]),
        };
        StreamRaw {
            times: std::array::from_fn(|_| vec![2.0, 1.0, 1.5]),
            init_times: vec![3.0, 1.5, 2.0],
            arrays: [vec(a * (1.0 + perturb)), vec(b), vec(c)],
            dot: a * b * n as f64,
            dot_chain: 64,
        }
    }

    #[test]
    fn statistics_drop_the_first_iteration() {
        let r = evaluate(Float::F64, 1000, 3, &raw(Float::F64, 1000, 3, 0.0));
        let copy = &r.kernels[0];
        assert_eq!((copy.min_s, copy.max_s, copy.avg_s), (1.0, 1.5, 1.25));
        assert_eq!(copy.bytes, 2 * 8 * 1000);
        assert_eq!(r.kernels[3].bytes, 3 * 8 * 1000);
        let init = r.stats(StreamKernel::Init);
        assert_eq!(
            (init.min_s, init.max_s, init.bytes),
            (1.5, 2.0, 3 * 8 * 1000)
        );
        assert_eq!(r.stats(StreamKernel::Triad).bytes, r.kernels[3].bytes);
        assert!(r.verified);
    }

    #[test]
    fn a_wrong_element_fails_verification() {
        let r = evaluate(Float::F32, 100, 5, &raw(Float::F32, 100, 5, 1e-3));
        assert!(!r.verified);
        // Still after 1,200 iterations, where a (5e-23) is far above the floor.
        let r = evaluate(Float::F32, 100, 1200, &raw(Float::F32, 100, 1200, 1e-3));
        assert!(!r.verified, "{}", r.max_rel_error);
        let mut wrong_dot = raw(Float::F64, 100, 5, 0.0);
        wrong_dot.dot *= 1.0 + 1e-9;
        assert!(!evaluate(Float::F64, 100, 5, &wrong_dot).verified);
        // A NaN in a, the first array checked, stays in the report although
        // b and c are right, so the dot is not blamed alone.
        let r = evaluate(Float::F64, 100, 5, &raw(Float::F64, 100, 5, f64::NAN));
        assert!(!r.verified);
        assert!(r.max_rel_error.is_nan(), "{}", r.max_rel_error);
    }

    #[test]
    fn the_default_size_leaves_a_large_cache_and_fits_the_memory() {
        use crate::{BackendKind, DeviceType};
        let mut info = DeviceInfo::new(BackendKind::Cpu, 0, "big".into(), DeviceType::Cpu);
        assert_eq!(default_array_size(&info, Float::F64), DEFAULT_ARRAY_SIZE);
        info.cache_bytes = Some(32 << 20);
        assert_eq!(default_array_size(&info, Float::F32), DEFAULT_ARRAY_SIZE);
        // 384 MiB of L3: each f32 array at least 1.5 GiB, so 2^29 elements.
        info.cache_bytes = Some(384 << 20);
        info.memory_bytes = 128 << 30;
        assert_eq!(default_array_size(&info, Float::F32), 1 << 29);
        // Within a quarter of 8 GiB for the three arrays.
        info.memory_bytes = 8 << 30;
        assert_eq!(default_array_size(&info, Float::F32), (8 << 30) / 4 / 12);
    }

    #[test]
    fn runs_whose_values_underflow_still_verify() {
        // a scales by 0.96 an iteration: f32 products underflow near 1,100
        // iterations and the values themselves near 2,100; f64 products near 9,000.
        let cpu = Device::select(&crate::DeviceSpec::Cpu).unwrap();
        for (float, times) in [
            (Float::F32, 1200),
            (Float::F32, 2500),
            (Float::F64, 9100),
            (Float::F64, 18_000),
        ] {
            let r = stream(&cpu, float, 1000, times).unwrap();
            assert!(
                r.verified,
                "{float} x{times}: {} <= {}, dot {} <= {}",
                r.max_rel_error, r.rel_error_bound, r.dot_rel_error, r.dot_rel_error_bound
            );
        }
    }

    #[test]
    fn csv_has_babelstreams_columns() {
        let r = evaluate(Float::F32, 10, 2, &raw(Float::F32, 10, 2, 0.0));
        assert_eq!(
            CSV_HEADER.split(',').count(),
            r.csv_rows()[0].split(',').count()
        );
        assert!(r.csv_rows()[4].starts_with("Dot,2,10,4,"));
        // Microsecond kernels keep their times (min, max, average).
        let mut fast = raw(Float::F32, 10, 3, 0.0);
        fast.times = std::array::from_fn(|_| vec![9e-6, 2.5e-6, 3.5e-6]);
        let row = evaluate(Float::F32, 10, 3, &fast).csv_rows()[0].clone();
        let times: Vec<f64> = row.split(',').skip(5).map(|t| t.parse().unwrap()).collect();
        assert_eq!(times, [2.5e-6, 3.5e-6, 3e-6], "{row}");
    }
}
