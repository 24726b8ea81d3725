//! Which kernel runs a CUDA `matmul`: the configurations of kernels/cuda/matmul.cu,
//! the rule of thumb ([`choose`]) and the measured choice ([`time_candidates`],
//! [`settle`]), remembered per product ([`Choices`]). See the parent module's notes.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::backend::cuda::launch::GpuFloat;
use crate::error::Result;
use crate::workloads::matmul::KernelTime;

/// One kernel of kernels/cuda/matmul.cu (keep the two in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Config {
    /// The kernel's name.
    pub(crate) kernel: &'static str,
    /// Rows of C per block.
    pub(crate) bm: u32,
    /// Columns of C per block.
    pub(crate) bn: u32,
    /// Threads per block.
    pub(crate) threads: u32,
    /// Static shared memory per block, bytes.
    pub(crate) shared_bytes: u32,
    /// An FP64 tensor-core kernel (gemm_tc.cuh): only where
    /// [`takes_tensor_cores`], and only for even k and n.
    pub(crate) tensor_cores: bool,
}

impl Config {
    /// An instantiation of gemm.h: BM×BN tiles, k steps of BK, TM×TN outputs
    /// per thread, VW-element vectors of `element`-byte values. Shared memory:
    /// two A tiles (rows padded by VW) and two B tiles.
    #[allow(clippy::too_many_arguments)]
    const fn fma(
        kernel: &'static str,
        (bm, bn, bk): (u32, u32, u32),
        (tm, tn): (u32, u32),
        vw: u32,
        element: u32,
    ) -> Config {
        Config {
            kernel,
            bm,
            bn,
            threads: (bm / tm) * (bn / tn),
            shared_bytes: 2 * bk * (bm + vw + bn) * element,
            tensor_cores: false,
        }
    }

    /// An instantiation of gemm_tc.cuh (gemm_tc_configs.cuh): BM×BN tiles,
    /// `warps` warps, `stages` buffers. Shared memory: per stage an A slice
    /// of BM×8 doubles and a B slice of 8×BN, unpadded (swizzled).
    const fn tensor(kernel: &'static str, bm: u32, bn: u32, warps: u32, stages: u32) -> Config {
        Config {
            kernel,
            bm,
            bn,
            threads: 32 * warps,
            shared_bytes: stages * (bm * 8 + 8 * bn) * 8,
            tensor_cores: true,
        }
    }

    /// Blocks for an m×n product: one per tile of C.
    pub(crate) fn blocks(&self, m: usize, n: usize) -> u64 {
        m.div_ceil(self.bm as usize) as u64 * n.div_ceil(self.bn as usize) as u64
    }
}

/// The kernels of matmul.cu, per element type, large before small.
const F32: [Config; 2] = [
    Config::fma("gc_gemm_f32_l", (128, 128, 8), (8, 8), 4, 4),
    Config::fma("gc_gemm_f32_s", (64, 64, 16), (4, 4), 4, 4),
];
const F64: [Config; 4] = [
    Config::tensor("gc_gemm_f64_tc_l", 128, 128, 8, 3),
    Config::tensor("gc_gemm_f64_tc_s", 64, 64, 4, 4),
    Config::fma("gc_gemm_f64_l", (128, 128, 8), (8, 8), 2, 8),
    Config::fma("gc_gemm_f64_s", (64, 64, 16), (4, 4), 2, 8),
];

/// The element types, with their kernels.
pub(super) trait GemmFloat: GpuFloat {
    const CONFIGS: &'static [Config];
    const NAME: &'static str;
}

impl GemmFloat for f32 {
    const CONFIGS: &'static [Config] = &F32;
    const NAME: &'static str = "f32";
}

impl GemmFloat for f64 {
    const CONFIGS: &'static [Config] = &F64;
    const NAME: &'static str = "f64";
}

/// The compute capability (as 10·major + minor) whose code a GPU of
/// capability `cc` runs from a fatbin holding `targets` (`compute_75,sm_80,...`,
/// as build.rs lists them): the newest machine code of the same major version
/// and no newer minor, else the newest PTX no newer than the GPU, which the
/// driver compiles. `None`: nothing in the fatbin runs there.
pub(crate) fn built_for(cc: u32, targets: &str) -> Option<u32> {
    let parse = |prefix: &'static str| {
        targets
            .split(',')
            .filter_map(move |t| t.trim().strip_prefix(prefix)?.parse::<u32>().ok())
    };
    parse("sm_")
        .filter(|&sm| sm / 10 == cc / 10 && sm <= cc)
        .max()
        .or_else(|| parse("compute_").filter(|&ptx| ptx <= cc).max())
}

/// Whether f64 products on a GPU of compute capability `cc` (10·major + minor)
/// go to the tensor-core kernels: GPUs whose FP64 tensor cores do twice the
/// FMA units' work (8.0 and 9.0: A100, H100, H200; on the others they are no
/// faster, and unmeasured here), running code built for 8.0 or later.
pub(crate) fn takes_tensor_cores(cc: u32, targets: &str) -> bool {
    matches!(cc, 80 | 90) && built_for(cc, targets).is_some_and(|built| built >= 80)
}

/// What the choice knows of one configuration on this GPU and problem.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fit {
    /// Blocks of it resident on one multiprocessor (0: it cannot run here).
    pub(crate) per_sm: u32,
    /// Its shared memory is within the per-block limit.
    pub(crate) shared_ok: bool,
    /// It takes this problem on this GPU (tensor-core kernels: see [`Config`]).
    pub(crate) takes: bool,
}

/// Indices of the configurations that can run the product.
pub(crate) fn usable(fits: &[Fit]) -> Vec<usize> {
    (0..fits.len())
        .filter(|&i| fits[i].per_sm > 0 && fits[i].shared_ok && fits[i].takes)
        .collect()
}

/// Index of the rule-of-thumb configuration (see the module's notes), or `None` if
/// none can run. `configs` are in order of preference, the last the fallback.
/// Tensor-core kernels that take the problem exclude the others.
pub(crate) fn choose(
    configs: &[Config],
    fits: &[Fit],
    sms: u32,
    m: usize,
    n: usize,
) -> Option<usize> {
    let mut usable = usable(fits);
    if usable.iter().any(|&i| configs[i].tensor_cores) {
        usable.retain(|&i| configs[i].tensor_cores);
    }
    usable
        .iter()
        .copied()
        .find(|&i| configs[i].blocks(m, n) >= u64::from(sms.max(1)))
        .or_else(|| usable.last().copied())
}

/// How much faster than the rule-of-thumb configuration another must run to
/// be taken instead: measured times of one run differ by a percent or so.
const MEASURED_MARGIN: f64 = 0.98;

/// The configuration kept after timing the candidates (`(index, seconds)`):
/// the fastest, unless `preferred` (the rule of thumb, [`choose`]) is within
/// [`MEASURED_MARGIN`] of it.
pub(crate) fn settle(times: &[(usize, f64)], preferred: usize) -> usize {
    let Some(&(fastest, best)) = times.iter().min_by(|x, y| x.1.total_cmp(&y.1)) else {
        return preferred;
    };
    match times.iter().find(|&&(i, _)| i == preferred) {
        Some(&(_, mine)) if best >= MEASURED_MARGIN * mine => preferred,
        _ => fastest,
    }
}

/// Timed rounds of the measured choice, after its untimed one.
const TIMED_ROUNDS: usize = 3;

/// Seconds of an untimed round past which one timed round is enough: runs
/// that long are past any clock ramp and vary by little.
const LONG_ROUND: f64 = 0.25;

/// Times each of `candidates` with `measure` (one run of that configuration,
/// in seconds): a round of every candidate in turn untimed, then
/// [`TIMED_ROUNDS`] rounds (one if the untimed round took over
/// [`LONG_ROUND`]), keeping each candidate's fastest run. In turn rather than
/// one candidate after another, so that a GPU raising its clocks from idle
/// slows every candidate's early runs alike. Returns `(candidate, seconds)`
/// in the order given.
pub(crate) fn time_candidates(
    candidates: &[usize],
    mut measure: impl FnMut(usize) -> Result<f64>,
) -> Result<Vec<(usize, f64)>> {
    let mut untimed = 0.0;
    for &i in candidates {
        untimed += measure(i)?;
    }
    let rounds = if untimed > LONG_ROUND {
        1
    } else {
        TIMED_ROUNDS
    };
    let mut best = vec![f64::INFINITY; candidates.len()];
    for _ in 0..rounds {
        for (fastest, &i) in best.iter_mut().zip(candidates) {
            *fastest = fastest.min(measure(i)?);
        }
    }
    Ok(candidates.iter().copied().zip(best).collect())
}

/// A product as the measured choice remembers it: element size, m, n, k.
type Product = (usize, usize, usize, usize);

/// What the measured choice found for one product: the configuration kept
/// and the times of all candidates, fastest first.
#[derive(Debug, Clone)]
pub(super) struct Measured {
    pub(super) chosen: usize,
    pub(super) tried: Vec<KernelTime>,
}

/// The measured choices of one GPU (one `CudaDevice`), per product.
#[derive(Debug, Default)]
pub(crate) struct Choices(Mutex<HashMap<Product, Measured>>);

impl Choices {
    /// The choice for `product`: the remembered one, or else one found now by
    /// timing the `usable` configurations (indices into `configs`) with `measure`
    /// ([`time_candidates`]) and settling against `preferred` ([`settle`]),
    /// then remembered.
    pub(super) fn get_or_measure(
        &self,
        product: Product,
        configs: &[Config],
        usable: &[usize],
        preferred: usize,
        measure: impl FnMut(usize) -> Result<f64>,
    ) -> Result<Measured> {
        if let Some(known) = self.get(product) {
            return Ok(known);
        }
        let mut times = time_candidates(usable, measure)?;
        let chosen = settle(&times, preferred);
        times.sort_by(|x, y| x.1.total_cmp(&y.1));
        let tried = times
            .iter()
            .map(|&(i, seconds)| KernelTime {
                kernel: configs[i].kernel.to_string(),
                seconds,
            })
            .collect();
        let measured = Measured { chosen, tried };
        self.insert(product, measured.clone());
        Ok(measured)
    }

    fn get(&self, product: Product) -> Option<Measured> {
        self.lock().get(&product).cloned()
    }

    fn insert(&self, product: Product, measured: Measured) {
        self.lock().insert(product, measured);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Product, Measured>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn configurations_match_their_kernels() {
        for config in F32.iter().chain(&F64) {
            let suffix = match (config.kernel.ends_with("_l"), config.tensor_cores) {
                (true, false) => "_l",
                (false, false) => "_s",
                (true, true) => "_tc_l",
                (false, true) => "_tc_s",
            };
            assert!(config.kernel.ends_with(suffix), "{config:?}");
            assert_eq!(
                config.threads,
                if config.kernel.ends_with("tc_s") {
                    128
                } else {
                    256
                },
                "{config:?}"
            );
            // Within the 48 KiB of static shared memory every GPU since Kepler gives a block.
            assert!(config.shared_bytes <= 48 << 10, "{config:?}");
        }
        // As ptxas reports them for kernels/cuda/matmul.cu.
        let shared: Vec<u32> = F32.iter().chain(&F64).map(|c| c.shared_bytes).collect();
        assert_eq!(
            shared,
            [16_640, 16_896, 49_152, 32_768, 33_024, 33_280],
            "{:?}",
            F64
        );
    }

    #[test]
    fn gpus_run_the_newest_code_built_for_them() {
        let default = "compute_75,sm_80,sm_90";
        // Machine code of the same major version, no newer minor.
        assert_eq!(built_for(90, default), Some(90));
        assert_eq!(built_for(80, default), Some(80));
        assert_eq!(built_for(86, default), Some(80));
        assert_eq!(built_for(89, default), Some(80));
        // Else the PTX, compiled by the driver: no tensor cores for gemm_tc.cuh.
        assert_eq!(built_for(75, default), Some(75));
        assert_eq!(built_for(100, default), Some(75));
        assert_eq!(built_for(120, default), Some(75));
        assert_eq!(built_for(70, default), None);
        // GPUCALC_CUDA_ARCH=compute_90 builds PTX that Blackwell compiles.
        assert_eq!(built_for(100, "compute_90"), Some(90));
        assert_eq!(built_for(90, "sm_80,compute_90"), Some(90));
        assert_eq!(built_for(90, "sm_80"), None);
        // Tensor cores: A100 and H100/H200 with code for them; not consumer
        // Ampere/Ada (8.6, 8.9), not through compute_75 PTX.
        assert!(takes_tensor_cores(80, default));
        assert!(takes_tensor_cores(90, default));
        assert!(!takes_tensor_cores(86, default));
        assert!(!takes_tensor_cores(89, default));
        assert!(!takes_tensor_cores(75, default));
        assert!(!takes_tensor_cores(90, "compute_75"));
        assert!(takes_tensor_cores(90, "compute_80"));
    }

    fn fit(per_sm: u32) -> Fit {
        Fit {
            per_sm,
            shared_ok: true,
            takes: true,
        }
    }

    #[test]
    fn big_products_take_the_large_tiles_and_small_ones_the_small() {
        let both = [fit(2), fit(4)];
        // H100: 132 multiprocessors; 4096² is 1024 large tiles.
        assert_eq!(choose(&F32, &both, 132, 4096, 4096), Some(0));
        // 1024² is 64 large tiles, fewer than the multiprocessors.
        assert_eq!(choose(&F32, &both, 132, 1024, 1024), Some(1));
        assert_eq!(choose(&F32, &both, 132, 1536, 1536), Some(0));
        // A small GPU fills up with fewer tiles.
        assert_eq!(choose(&F32, &both, 16, 1024, 1024), Some(0));
        // Tiny products still run, on the small tiles.
        assert_eq!(choose(&F32, &both, 132, 1, 1), Some(1));
        // A configuration that cannot run is never chosen.
        assert_eq!(choose(&F32, &[fit(0), fit(4)], 1, 4096, 4096), Some(1));
        let none = [
            Fit {
                shared_ok: false,
                ..fit(1)
            },
            fit(0),
        ];
        assert_eq!(choose(&F32, &none, 1, 4096, 4096), None);
    }

    #[test]
    fn f64_takes_the_tensor_cores_where_it_can() {
        let all = [fit(1), fit(4), fit(1), fit(2)];
        assert_eq!(choose(&F64, &all, 132, 4096, 4096), Some(0));
        assert_eq!(choose(&F64, &all, 132, 1024, 1024), Some(1));
        // Even tiny products stay on the tensor cores.
        assert_eq!(choose(&F64, &all, 132, 1, 2), Some(1));
        // Odd k or n, or a GPU without them: the FMA kernels.
        let no_tc = [
            Fit {
                takes: false,
                ..fit(1)
            },
            Fit {
                takes: false,
                ..fit(4)
            },
            fit(1),
            fit(2),
        ];
        assert_eq!(choose(&F64, &no_tc, 132, 4096, 4096), Some(2));
        assert_eq!(choose(&F64, &no_tc, 132, 1024, 1024), Some(3));
    }

    #[test]
    fn the_measured_choice_keeps_the_rule_unless_another_is_clearly_faster() {
        // Ties and differences under 2% keep the rule of thumb's choice.
        assert_eq!(settle(&[(0, 1.0), (1, 1.0)], 0), 0);
        assert_eq!(settle(&[(0, 1.0), (1, 0.99)], 0), 0);
        assert_eq!(settle(&[(2, 1.0), (0, 0.99)], 2), 2);
        // A clearly faster one wins, wherever it is in the list.
        assert_eq!(settle(&[(0, 1.0), (1, 0.5), (2, 0.7)], 0), 1);
        assert_eq!(settle(&[(0, 1.0), (1, 0.97)], 0), 1);
        // The rule's choice not measured (it could not run): the fastest.
        assert_eq!(settle(&[(1, 2.0), (3, 1.0)], 0), 3);
        assert_eq!(settle(&[], 2), 2);
    }

    #[test]
    fn candidates_are_timed_in_turn_and_keep_their_fastest_run() {
        // Seconds of each call, in call order: the untimed round (3's run the
        // quickest of all, which must not count), then three timed rounds in
        // which 3 is fastest in the second and 1 in the third.
        let runs = [0.5, 2.0, 1.2, 1.5, 1.0, 1.6, 1.1, 1.4].map(|ms| ms * 1e-3);
        let mut calls = Vec::new();
        let times = time_candidates(&[3, 1], |i| {
            calls.push(i);
            Ok(runs[calls.len() - 1])
        })
        .unwrap();
        assert_eq!(calls, [3, 1, 3, 1, 3, 1, 3, 1]);
        assert_eq!(times, [(3, 1.0e-3), (1, 1.4e-3)]);
        // One timed round once the untimed round takes over LONG_ROUND.
        let count = |each: f64| {
            let mut calls = 0;
            let times = time_candidates(&[0, 2], |_| {
                calls += 1;
                Ok(each)
            })
            .unwrap();
            assert_eq!(times, [(0, each), (2, each)]);
            calls
        };
        assert_eq!(count(0.2), 4);
        assert_eq!(count(LONG_ROUND / 2.0), 8);
        // A failed run is the result.
        assert!(time_candidates(&[0], |_| Err(Error::InvalidArgument("x".into()))).is_err());
        assert_eq!(time_candidates(&[], |_| Ok(1.0)).unwrap(), []);
    }

    #[test]
    fn usable_configurations_fit_and_take_the_product() {
        let fits = [
            fit(1),
            fit(0),
            Fit {
                shared_ok: false,
                ..fit(2)
            },
            Fit {
                takes: false,
                ..fit(2)
            },
            fit(3),
        ];
        assert_eq!(usable(&fits), [0, 4]);
    }
}
