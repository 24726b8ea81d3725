//! What each device can do at most: the limits benchmark rows are measured
//! against, from device attributes where the runtime gives them, else measured.

use serde::Serialize;

use crate::device::DeviceInfo;
use crate::error::BackendKind;

/// Which hardware limit bounds a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Device memory bandwidth, bytes/s.
    MemoryBandwidth,
    /// Device memory bandwidth of writes alone (no reads), bytes/s: what bounds
    /// `rng`. Measured by BabelStream's init kernel in the same run; until
    /// then (or with `--only rng`), the memory bandwidth stands in.
    WriteBandwidth,
    /// 32x32->64 integer multiplies per second, turned into pi samples/s
    /// (Philox4x32-10 costs 10 wide multiplies per sample).
    IntegerMultiply,
    /// Peak f32 FLOP/s (fused multiply-add counted as 2).
    Fp32,
    /// Peak f64 FLOP/s.
    Fp64,
    /// Peak f64 FLOP/s of matrix products: on GPUs whose FP64 tensor cores
    /// do twice the FMA units' work (compute capability 8.0 and 9.0: A100,
    /// H100, H200), theirs; elsewhere [`LimitKind::Fp64`].
    Fp64Matrix,
    /// The host↔device link, bytes/s.
    HostLink,
}

/// Where a limit's figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// Computed from the device's reported attributes (clocks, units, widths).
    Attributes,
    /// Measured in this run (a large device copy, or writes alone).
    Measured,
}

/// A limit in the workload's own unit.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Limit {
    /// The figure, in the row's unit.
    pub value: f64,
    /// Where it comes from.
    pub source: LimitSource,
}

/// Bandwidths measured so far in a run, bytes/s.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured {
    /// The best large device pass of any stream kernel, init included (on
    /// CPUs init's streaming stores move the most bytes, so the loop's kernels,
    /// with ordinary stores, come out below 1 against it).
    pub bandwidth: Option<f64>,
    /// The best write-only pass (stream's init kernel).
    pub write_bandwidth: Option<f64>,
}

impl Measured {
    /// The better of each figure of `self` and `other`.
    pub fn merged(self, other: Measured) -> Measured {
        let best = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Measured {
            bandwidth: best(self.bandwidth, other.bandwidth),
            write_bandwidth: best(self.write_bandwidth, other.write_bandwidth),
        }
    }
}

/// Philox4x32-10 wide multiplies per pi sample (20 per block of two samples).
pub const MULTIPLIES_PER_SAMPLE: f64 = 10.0;

/// SIMD lanes of 64-bit multiplies (vpmuludq) and of f32 FMAs per cycle on this CPU.
fn cpu_vector_lanes() -> (f64, f64) {
    use crate::backend::cpu;
    vector_lanes(cpu::isa_name(), cpu::splits_512_bit_ops())
}

/// [`cpu_vector_lanes`] for an instruction set, and whether the CPU splits
/// 512-bit operations in two (then AVX-512 gives AVX2's lanes per cycle).
/// Xeons with one 512-bit FMA port (many Silver and Bronze parts) cannot be
/// told from the rest here: their f32/f64 limit is twice what they reach.
fn vector_lanes(isa: &str, splits_512: bool) -> (f64, f64) {
    match isa {
        "avx512" if !splits_512 => (8.0, 16.0),
        "avx512" | "avx2" => (4.0, 8.0),
        _ => (2.0, 4.0),
    }
}

/// FMA lanes per multiprocessor of a CUDA device of compute capability
/// `major.minor` (f32, f64, and f64 in matrix products: the FP64 tensor
/// cores of 8.0 and 9.0 do twice the FMA units' work), from the CUDA C++
/// Programming Guide's throughput table and, for 10.0 (B200), NVIDIA's
/// published 37 TFLOP/s FP64 on 148 SMs. `None` for a capability not listed,
/// rather than a guess: its rows then show no limit.
fn cuda_fma_lanes(major: u32, minor: u32) -> Option<(f64, f64, f64)> {
    Some(match (major, minor) {
        (5, _) | (6, 1) | (6, 2) => (128.0, 4.0, 4.0),
        (6, 0) | (7, 0) | (7, 2) => (64.0, 32.0, 32.0),
        (7, 5) => (64.0, 2.0, 2.0),
        (8, 0) => (64.0, 32.0, 64.0),
        (8, 6) | (8, 9) | (12, 0) => (128.0, 2.0, 2.0),
        (9, 0) => (128.0, 64.0, 128.0),
        (10, 0) => (128.0, 64.0, 64.0),
        _ => return None,
    })
}

/// The limit of `kind` for `device`: from its attributes where they give it,
/// else from what this run `measured` so far.
pub fn limit(device: &DeviceInfo, kind: LimitKind, measured: Measured) -> Option<Limit> {
    let measured_bandwidth = measured.bandwidth;
    // The CPU's nominal clock can be far below the clock it runs at under
    // load, so its limits use the measured working clock.
    let clock_hz = match device.backend {
        BackendKind::Cpu => crate::backend::cpu::measured_clock_hz(),
        _ => None,
    }
    .or(device.clock_mhz.map(|mhz| f64::from(mhz) * 1e6));
    let units = f64::from(device.compute_units);
    let from_attributes = |value: f64| Limit {
        value,
        source: LimitSource::Attributes,
    };
    let from_run = |value: f64| Limit {
        value,
        source: LimitSource::Measured,
    };
    let cc = device.compute_capability_version();
    match (device.backend, kind) {
        (BackendKind::Cuda, LimitKind::MemoryBandwidth) => {
            match (device.memory_clock_mhz, device.memory_bus_width_bits) {
                // Double data rate: two transfers per memory clock.
                (Some(mhz), Some(bits)) => Some(from_attributes(
                    2.0 * f64::from(mhz) * 1e6 * f64::from(bits) / 8.0,
                )),
                _ => measured_bandwidth.map(from_run),
            }
        }
        (_, LimitKind::MemoryBandwidth) => measured_bandwidth.map(from_run),
        // The CPU's "transfer" is a copy within its own memory, counted once
        // per byte copied; the measured bandwidth counts each byte read and
        // each byte written (stream's copy moves two arrays), so a copy at
        // full bandwidth copies half of it.
        (BackendKind::Cpu, LimitKind::HostLink) => {
            measured_bandwidth.map(|bandwidth| from_run(bandwidth / 2.0))
        }
        (_, LimitKind::WriteBandwidth) => match measured.write_bandwidth {
            Some(value) => Some(from_run(value)),
            None => limit(device, LimitKind::MemoryBandwidth, measured),
        },
        (BackendKind::Cpu, LimitKind::IntegerMultiply) => {
            let (lanes, _) = cpu_vector_lanes();
            Some(from_attributes(
                units * clock_hz? * lanes / MULTIPLIES_PER_SAMPLE,
            ))
        }
        (BackendKind::Cpu, LimitKind::Fp32 | LimitKind::Fp64 | LimitKind::Fp64Matrix) => {
            let (_, f32_lanes) = cpu_vector_lanes();
            let lanes = if kind == LimitKind::Fp32 {
                f32_lanes
            } else {
                f32_lanes / 2.0
            };
            // Two FMA pipes per core, two flops per FMA.
            Some(from_attributes(units * clock_hz? * lanes * 2.0 * 2.0))
        }
        (BackendKind::Cuda, LimitKind::IntegerMultiply) => {
            // 64 IMAD per SM per clock on Volta and later (H100: 1.6e12 samples/s).
            Some(from_attributes(
                units * clock_hz? * 64.0 / MULTIPLIES_PER_SAMPLE,
            ))
        }
        (BackendKind::Cuda, LimitKind::Fp32 | LimitKind::Fp64 | LimitKind::Fp64Matrix) => {
            let (major, minor) = cc?;
            let (fp32, fp64, fp64_matrix) = cuda_fma_lanes(major, minor)?;
            let lanes = match kind {
                LimitKind::Fp32 => fp32,
                LimitKind::Fp64 => fp64,
                _ => fp64_matrix,
            };
            Some(from_attributes(units * clock_hz? * lanes * 2.0))
        }
        // OpenCL does not report the lanes per compute unit or the link speed.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceType;

    #[test]
    fn h100_figures_follow_from_its_attributes() {
        let mut h100 = DeviceInfo::new(BackendKind::Cuda, 0, "H100".into(), DeviceType::Gpu);
        h100.compute_units = 132;
        h100.clock_mhz = Some(1980);
        h100.compute_capability = Some("9.0".into());
        h100.memory_clock_mhz = Some(2619);
        h100.memory_bus_width_bits = Some(5120);
        let none = Measured::default();
        let pi = limit(&h100, LimitKind::IntegerMultiply, none).unwrap();
        assert!((pi.value - 1.67e12).abs() < 0.01e12, "{}", pi.value);
        let bw = limit(&h100, LimitKind::MemoryBandwidth, none).unwrap();
        assert!((bw.value - 3.35e12).abs() < 0.01e12, "{}", bw.value);
        let fp64 = limit(&h100, LimitKind::Fp64, none).unwrap();
        assert!((fp64.value - 33.5e12).abs() < 0.5e12, "{}", fp64.value);
        // The published 67 TFLOP/s of its FP64 tensor cores.
        let dgemm = limit(&h100, LimitKind::Fp64Matrix, none).unwrap();
        assert!((dgemm.value - 66.9e12).abs() < 0.5e12, "{}", dgemm.value);
        assert_eq!(bw.source, LimitSource::Attributes);
        // `bench --only rng`: no init row, so the attributes' bandwidth.
        let write = limit(&h100, LimitKind::WriteBandwidth, none).unwrap();
        assert_eq!(
            (write.value, write.source),
            (bw.value, LimitSource::Attributes)
        );
    }

    #[test]
    fn cuda_flop_limits_match_published_peaks_and_unknown_ones_are_none() {
        let gpu = |cc: &str, sms: u32, mhz: u32| {
            let mut info = DeviceInfo::new(BackendKind::Cuda, 0, cc.into(), DeviceType::Gpu);
            (info.compute_units, info.clock_mhz) = (sms, Some(mhz));
            info.compute_capability = Some(cc.into());
            info
        };
        let tflops = |info: &DeviceInfo, kind| {
            limit(info, kind, Measured::default()).map(|l| (l.value / 1e12 * 10.0).round() / 10.0)
        };
        // P100: 10.6 f32, 5.3 f64; RTX 4090: 82.6 f32, 1.3 f64; B200: 37.2 f64
        // (vector and tensor alike); A100: 19.5 f64 on the tensor cores.
        let p100 = gpu("6.0", 56, 1480);
        assert_eq!(tflops(&p100, LimitKind::Fp32), Some(10.6));
        assert_eq!(tflops(&p100, LimitKind::Fp64Matrix), Some(5.3));
        let rtx4090 = gpu("8.9", 128, 2520);
        assert_eq!(tflops(&rtx4090, LimitKind::Fp32), Some(82.6));
        assert_eq!(tflops(&rtx4090, LimitKind::Fp64), Some(1.3));
        let b200 = gpu("10.0", 148, 1965);
        assert_eq!(tflops(&b200, LimitKind::Fp64), Some(37.2));
        assert_eq!(tflops(&b200, LimitKind::Fp64Matrix), Some(37.2));
        assert_eq!(
            tflops(&gpu("8.0", 108, 1410), LimitKind::Fp64Matrix),
            Some(19.5)
        );
        assert_eq!(tflops(&gpu("11.0", 20, 1500), LimitKind::Fp32), None);
    }

    #[test]
    fn cpu_limits_count_a_copy_once_and_split_512_bit_units_as_two() {
        let cpu = DeviceInfo::new(BackendKind::Cpu, 0, "cpu".into(), DeviceType::Cpu);
        let measured = Measured {
            bandwidth: Some(40e9),
            write_bandwidth: None,
        };
        // Stream's 40 GB/s (read + written) copies 20 GB/s.
        let link = limit(&cpu, LimitKind::HostLink, measured).unwrap();
        assert_eq!((link.value, link.source), (20e9, LimitSource::Measured));
        assert_eq!(vector_lanes("avx512", false), (8.0, 16.0));
        assert_eq!(vector_lanes("avx512", true), vector_lanes("avx2", false));
        assert_eq!(vector_lanes("baseline", false), (2.0, 4.0));
    }

    #[test]
    fn merged_measurements_keep_the_best_of_each() {
        let a = Measured {
            bandwidth: Some(3.0),
            write_bandwidth: None,
        };
        let b = Measured {
            bandwidth: Some(5.0),
            write_bandwidth: Some(2.0),
        };
        let m = a.merged(b);
        assert_eq!((m.bandwidth, m.write_bandwidth), (Some(5.0), Some(2.0)));
        let m = Measured::default().merged(a);
        assert_eq!((m.bandwidth, m.write_bandwidth), (Some(3.0), None));
    }

    #[test]
    fn unknown_limits_are_none_and_measured_ones_say_so() {
        let pocl = DeviceInfo::new(BackendKind::OpenCl, 0, "pocl".into(), DeviceType::Cpu);
        let measured = Measured {
            bandwidth: Some(1e10),
            write_bandwidth: Some(6e9),
        };
        assert!(limit(&pocl, LimitKind::Fp32, measured).is_none());
        let bw = limit(&pocl, LimitKind::MemoryBandwidth, measured).unwrap();
        assert_eq!((bw.value, bw.source), (1e10, LimitSource::Measured));
        let write = limit(&pocl, LimitKind::WriteBandwidth, measured).unwrap();
        assert_eq!((write.value, write.source), (6e9, LimitSource::Measured));
        assert!(limit(&pocl, LimitKind::WriteBandwidth, Measured::default()).is_none());
        // Without an init row, rng falls back to the memory bandwidth.
        let copy_only = Measured {
            write_bandwidth: None,
            ..measured
        };
        let write = limit(&pocl, LimitKind::WriteBandwidth, copy_only).unwrap();
        assert_eq!(write.value, 1e10);
    }
}
