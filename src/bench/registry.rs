//! The benchmark suite as data: every row's workload, variant, unit, work per
//! element, sizes and limit, and the one function that runs a row.
//!
//! `gpucalc bench`, the criterion benches and the reports all read [`registry()`].

use serde::Serialize;

use super::limits::LimitKind;
use crate::device::{Device, DeviceSpec};
use crate::dtype::{Float, FloatVec};
use crate::error::Result;
use crate::workloads::map::{map_floats, MapFn};
use crate::workloads::matmul::{matmul, Matrix};
use crate::workloads::rng::{rng_generate, rng_matches_reference, Dist, RngSpec, RngType};
use crate::workloads::stream::{elements_leaving_cache as leaving_cache, stream, StreamKernel};
use crate::workloads::transfer::{Direction, HostMemory};

/// A row's throughput unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    /// Monte Carlo samples per second.
    #[serde(rename = "samples/s")]
    SamplesPerSecond,
    /// Bytes per second (read + written, as each workload counts them).
    #[serde(rename = "B/s")]
    BytesPerSecond,
    /// Floating-point operations per second.
    #[serde(rename = "FLOP/s")]
    FlopsPerSecond,
}

impl Unit {
    /// `samples/s`, `B/s` or `FLOP/s`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::SamplesPerSecond => "samples/s",
            Unit::BytesPerSecond => "B/s",
            Unit::FlopsPerSecond => "FLOP/s",
        }
    }
}

/// What a row runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// `pi` over `size` samples.
    Pi,
    /// One BabelStream kernel, arrays of `size` elements.
    Stream(StreamKernel, Float),
    /// `rng` of `size` elements into device memory.
    Rng(Dist, RngType),
    /// `map` over `size` elements.
    Map(MapFn, Float),
    /// A copy of `size` bytes.
    Transfer(Direction, HostMemory),
    /// A square product of side `size`.
    Matmul(Float),
}

/// One row of the suite, as data.
#[derive(Debug, Clone, Copy)]
pub struct BenchRow {
    /// Workload name: `pi`, `stream`, `rng`, `map`, `transfer`, `matmul`.
    pub workload: &'static str,
    /// Variant within the workload: `f64-triad`, `uniform-f32`, ...
    pub variant: &'static str,
    /// Throughput unit.
    pub unit: Unit,
    /// Bytes moved per element (0 when the unit is not bytes).
    pub bytes_per_element: f64,
    /// Floating-point operations per element: stream's as BabelStream counts
    /// them, matmul's 2 per multiply-add (of which it does n³); 0 where
    /// none are counted (pi, rng, map, transfer).
    pub flops_per_element: f64,
    /// Problem size for `--quick`.
    pub quick_size: u64,
    /// Problem size for the default and `--full` suites.
    pub full_size: u64,
    /// The device limit the row is measured against.
    pub limit: LimitKind,
    /// What to run.
    pub job: Job,
}

impl BenchRow {
    /// The row with `flops` floating-point operations per element.
    const fn counting_flops(self, flops: f64) -> BenchRow {
        BenchRow {
            flops_per_element: flops,
            ..self
        }
    }

    /// Work units of one run of `size`: samples, bytes or FLOPs.
    pub fn work(&self, size: u64) -> f64 {
        let n = size as f64;
        match self.job {
            Job::Pi => n,
            Job::Matmul(_) => self.flops_per_element * n * n * n,
            _ => n * self.bytes_per_element,
        }
    }
}

macro_rules! stream_rows {
    ($($variant:literal, $kernel:ident, $float:ident, $bytes:expr, $flops:expr;)*) => {
        [$(BenchRow {
            workload: "stream",
            variant: $variant,
            unit: Unit::BytesPerSecond,
            bytes_per_element: $bytes,
            flops_per_element: $flops,
            quick_size: 1 << 25,
            full_size: 1 << 25,
            limit: LimitKind::MemoryBandwidth,
            job: Job::Stream(StreamKernel::$kernel, Float::$float),
        }),*]
    };
}

const STREAM: [BenchRow; 12] = stream_rows! {
    "f32-init", Init, F32, 12.0, 0.0;
    "f32-copy", Copy, F32, 8.0, 0.0;
    "f32-mul", Mul, F32, 8.0, 1.0;
    "f32-add", Add, F32, 12.0, 1.0;
    "f32-triad", Triad, F32, 12.0, 2.0;
    "f32-dot", Dot, F32, 8.0, 2.0;
    "f64-init", Init, F64, 24.0, 0.0;
    "f64-copy", Copy, F64, 16.0, 0.0;
    "f64-mul", Mul, F64, 16.0, 1.0;
    "f64-add", Add, F64, 24.0, 1.0;
    "f64-triad", Triad, F64, 24.0, 2.0;
    "f64-dot", Dot, F64, 16.0, 2.0;
};

const fn row(
    workload: &'static str,
    variant: &'static str,
    unit: Unit,
    bytes: f64,
    [quick_size, full_size]: [u64; 2],
    limit: LimitKind,
    job: Job,
) -> BenchRow {
    BenchRow {
        workload,
        variant,
        unit,
        bytes_per_element: bytes,
        flops_per_element: 0.0,
        quick_size,
        full_size,
        limit,
        job,
    }
}

const OTHERS: [BenchRow; 11] = [
    row(
        "pi",
        "philox",
        Unit::SamplesPerSecond,
        0.0,
        [1 << 28, 1 << 32],
        LimitKind::IntegerMultiply,
        Job::Pi,
    ),
    row(
        "rng",
        "uniform-f32",
        Unit::BytesPerSecond,
        4.0,
        [1 << 25, 1 << 27],
        LimitKind::WriteBandwidth,
        Job::Rng(Dist::Uniform, RngType::F32),
    ),
    row(
        "rng",
        "normal-f32",
        Unit::BytesPerSecond,
        4.0,
        [1 << 22, 1 << 26],
        LimitKind::WriteBandwidth,
        Job::Rng(Dist::Normal, RngType::F32),
    ),
    row(
        "rng",
        "raw-u32",
        Unit::BytesPerSecond,
        4.0,
        [1 << 25, 1 << 27],
        LimitKind::WriteBandwidth,
        Job::Rng(Dist::Raw, RngType::U32),
    ),
    row(
        "map",
        "sqrt-f32",
        Unit::BytesPerSecond,
        8.0,
        [1 << 25, 1 << 27],
        LimitKind::MemoryBandwidth,
        Job::Map(MapFn::Sqrt, Float::F32),
    ),
    row(
        "map",
        "exp-f64",
        Unit::BytesPerSecond,
        16.0,
        [1 << 22, 1 << 26],
        LimitKind::MemoryBandwidth,
        Job::Map(MapFn::Exp, Float::F64),
    ),
    row(
        "transfer",
        "h2d-pinned",
        Unit::BytesPerSecond,
        1.0,
        [1 << 26, 1 << 28],
        LimitKind::HostLink,
        Job::Transfer(Direction::HostToDevice, HostMemory::Pinned),
    ),
    row(
        "transfer",
        "d2h-pinned",
        Unit::BytesPerSecond,
        1.0,
        [1 << 26, 1 << 28],
        LimitKind::HostLink,
        Job::Transfer(Direction::DeviceToHost, HostMemory::Pinned),
    ),
    row(
        "transfer",
        "h2d-pageable",
        Unit::BytesPerSecond,
        1.0,
        [1 << 26, 1 << 28],
        LimitKind::HostLink,
        Job::Transfer(Direction::HostToDevice, HostMemory::Pageable),
    ),
    row(
        "matmul",
        "f32",
        Unit::FlopsPerSecond,
        0.0,
        [1024, 4096],
        LimitKind::Fp32,
        Job::Matmul(Float::F32),
    )
    .counting_flops(2.0),
    row(
        "matmul",
        "f64",
        Unit::FlopsPerSecond,
        0.0,
        [1024, 4096],
        LimitKind::Fp64Matrix,
        Job::Matmul(Float::F64),
    )
    .counting_flops(2.0),
];

/// Every row of the suite, in run order.
pub fn registry() -> Vec<BenchRow> {
    let mut rows = vec![OTHERS[0]];
    rows.extend(STREAM);
    rows.extend_from_slice(&OTHERS[1..]);
    rows
}

impl BenchRow {
    /// The size this row runs at on a device, from `size` (the suite's
    /// quick or full size): rows measured against the memory bandwidth grow
    /// to leave a large last-level cache, or they could pass their limit
    /// (stream's rows to [`crate::workloads::stream::default_array_size`];
    /// rng's and map's, and a CPU device's copies, until each array is 4
    /// times the cache).
    pub fn size_on(&self, info: &crate::DeviceInfo, size: u64) -> u64 {
        let leaving_cache = match self.job {
            Job::Stream(_, float) => {
                crate::workloads::stream::default_array_size(info, float) as u64
            }
            Job::Rng(_, dtype) => leaving_cache(info, dtype.size() as u64, 1),
            Job::Map(_, float) => leaving_cache(info, float.size() as u64, 2),
            Job::Transfer(..) if info.device_type == crate::DeviceType::Cpu => {
                leaving_cache(info, 1, 2)
            }
            Job::Transfer(..) | Job::Pi | Job::Matmul(_) => 0,
        };
        size.max(leaving_cache)
    }
}

/// What running one row produced.
#[derive(Debug)]
pub struct Outcome {
    /// Seconds per timed iteration.
    pub times: Vec<f64>,
    /// Whether the result matched the CPU reference (`None`: nothing to check).
    pub verified: Option<bool>,
    /// What ran it, where the backend chose (the matmul kernel).
    pub kernel: Option<String>,
}

/// The most timed iterations [`run_row`] runs (the suite asks for at most 200).
pub const MAX_ITERATIONS: usize = 100_000;

/// Runs `row` at `size` on `device`: a warm-up run (which is also checked),
/// then `iterations` timed runs (1 to [`MAX_ITERATIONS`]), each timed on the
/// device where the backend can (events), so the times exclude launch and
/// transfer overheads that the row does not count.
pub fn run_row(device: &Device, row: &BenchRow, size: u64, iterations: usize) -> Result<Outcome> {
    if !(1..=MAX_ITERATIONS).contains(&iterations) {
        return Err(crate::Error::InvalidArgument(format!(
            "a benchmark row runs 1 to {MAX_ITERATIONS} timed iterations, not {iterations}"
        )));
    }
    let n = usize::try_from(size).unwrap_or(usize::MAX);
    let backend = device.backend();
    match row.job {
        Job::Pi => {
            let seed = 0xbe9c;
            let first = crate::pi(device, size, seed)?;
            let verified = if device.kind() == crate::BackendKind::Cpu {
                None
            } else {
                let cpu = Device::select(&DeviceSpec::Cpu)?;
                Some(crate::pi(&cpu, size, seed)?.hits == first.hits)
            };
            let times = (0..iterations)
                .map(|_| crate::pi(device, size, seed).map(|r| r.elapsed.as_secs_f64()))
                .collect::<Result<_>>()?;
            Ok(Outcome {
                times,
                verified,
                kernel: None,
            })
        }
        Job::Stream(kernel, float) => {
            // BabelStream drops the first iteration itself: ask for one more.
            let result = stream(device, float, n, iterations + 1)?;
            let times = result.stats(kernel).times_s[1..].to_vec();
            Ok(Outcome {
                times,
                verified: Some(result.verified),
                kernel: None,
            })
        }
        Job::Rng(dist, dtype) => {
            let spec = RngSpec::new(dist, dtype, 0xbe9c)?;
            let check = rng_generate(device, &spec, 3, 4099)?;
            let verified = (0..check.len())
                .all(|i| rng_matches_reference(&spec, 3 + i as u64, check.get_f64(i)));
            let times = backend.rng_device_times(&spec, n, iterations)?;
            Ok(Outcome {
                times,
                verified: Some(verified),
                kernel: None,
            })
        }
        Job::Map(function, float) => {
            use crate::backend::cpu::host_vec_from;
            // The inputs benches/peers/{numpy,torch}_peers.py time too; the f64
            // one keeps exp finite and nonzero ([-327.68, 327.67]).
            let (input, mut output) = match float {
                Float::F32 => {
                    let x = |i: usize| (i % 65_536) as f32 * 0.25;
                    (
                        FloatVec::F32(host_vec_from(n, "map's input", x)?),
                        FloatVec::F32(host_vec_from(n, "map's output", x)?),
                    )
                }
                Float::F64 => {
                    let x = |i: usize| (i % 65_536) as f64 * 0.01 - 327.68;
                    (
                        FloatVec::F64(host_vec_from(n, "map's input", x)?),
                        FloatVec::F64(host_vec_from(n, "map's output", x)?),
                    )
                }
            };
            let mut verified = None;
            let mut times = Vec::with_capacity(iterations);
            for i in 0..=iterations {
                let r = map_floats(device, function, &input, &mut output, i == 0)?;
                if i == 0 {
                    verified = r.verified;
                } else {
                    times.push(r.kernel_s);
                }
            }
            Ok(Outcome {
                times,
                verified,
                kernel: None,
            })
        }
        Job::Transfer(direction, memory) => {
            if !backend.host_memory_kinds().contains(&memory) {
                return Err(crate::Error::Unsupported {
                    backend: device.kind(),
                    workload: format!("transfer from {memory} host memory"),
                });
            }
            let times = backend.transfer(direction, memory, n, iterations + 1)?;
            Ok(Outcome {
                times: times[1..].to_vec(),
                verified: None,
                kernel: None,
            })
        }
        Job::Matmul(float) => {
            let a = Matrix::random(n, n, float, 1)?;
            let b = Matrix::random(n, n, float, 2)?;
            let (_, result) = matmul(device, &a, &b, iterations, true)?;
            Ok(Outcome {
                times: result.times_s,
                verified: result.verified,
                kernel: Some(result.kernel),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_unique_and_consistent() {
        let rows = registry();
        let mut keys: Vec<_> = rows.iter().map(|r| (r.workload, r.variant)).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), rows.len());
        for r in &rows {
            assert!(r.quick_size <= r.full_size, "{}", r.variant);
            if r.unit == Unit::BytesPerSecond {
                assert!(r.bytes_per_element > 0.0, "{}", r.variant);
            }
        }
        let triad = rows.iter().find(|r| r.variant == "f64-triad").unwrap();
        assert_eq!(triad.work(1000), 24_000.0);
        let mm = rows.iter().find(|r| r.workload == "matmul").unwrap();
        assert_eq!(mm.work(10), 2000.0);
    }

    #[test]
    fn bandwidth_rows_leave_a_large_cache_and_others_keep_their_size() {
        use crate::{BackendKind, DeviceInfo, DeviceType};
        let rows = registry();
        let size_on = |variant: &str, info: &DeviceInfo, size: u64| {
            let row = rows.iter().find(|r| r.variant == variant).unwrap();
            row.size_on(info, size)
        };
        // A CPU with 384 MiB of L3 and 512 GiB of memory: each array at least 1.5 GiB.
        let mut epyc = DeviceInfo::new(BackendKind::Cpu, 0, "epyc".into(), DeviceType::Cpu);
        (epyc.cache_bytes, epyc.memory_bytes) = (Some(384 << 20), 512 << 30);
        assert_eq!(size_on("sqrt-f32", &epyc, 1 << 26), 1 << 29);
        assert_eq!(size_on("exp-f64", &epyc, 1 << 22), 1 << 28);
        assert_eq!(size_on("h2d-pageable", &epyc, 1 << 26), 1 << 31);
        assert_eq!(size_on("philox", &epyc, 1 << 28), 1 << 28);
        assert_eq!(size_on("f64", &epyc, 1024), 1024);
        // A size already past the cache stays; so does a GPU's copy, whose
        // cache is the device's, not the host's.
        assert_eq!(size_on("sqrt-f32", &epyc, 1 << 30), 1 << 30);
        let mut gpu = DeviceInfo::new(BackendKind::Cuda, 0, "gpu".into(), DeviceType::Gpu);
        (gpu.cache_bytes, gpu.memory_bytes) = (Some(50 << 20), 80 << 30);
        assert_eq!(size_on("h2d-pinned", &gpu, 1 << 26), 1 << 26);
        // Held to a quarter of the memory: 1 GiB for each of two f64 arrays.
        epyc.memory_bytes = 8 << 30;
        assert_eq!(size_on("exp-f64", &epyc, 1 << 22), 1 << 27);
    }

    #[test]
    fn iteration_counts_outside_the_range_are_refused() {
        let cpu = Device::select(&DeviceSpec::Cpu).unwrap();
        let rows = registry();
        let row = rows.iter().find(|r| r.variant == "h2d-pageable").unwrap();
        for iterations in [0, MAX_ITERATIONS + 1, usize::MAX] {
            let err = run_row(&cpu, row, 1024, iterations).unwrap_err();
            assert!(err.to_string().contains("timed iterations"), "{err}");
        }
        assert_eq!(run_row(&cpu, row, 1024, 2).unwrap().times.len(), 2);
    }
}
