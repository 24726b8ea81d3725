//! `matmul` on CUDA: the tiled GEMM of kernels/common/gemm.h, instantiated in
//! kernels/cuda/matmul.cu in two tile configurations per element type, one of
//! which is picked per GPU and problem.
//!
//! A, B and C live in three device buffers for the whole call. The kernel runs
//! once untimed, then `reps` times, each run between two events on one stream
//! and synchronized before its time is read.
//!
//! The choice: the large configuration (128×128 tiles, 8×8 outputs per thread)
//! does the most arithmetic per byte of shared memory and global traffic, so
//! it is taken whenever it fits the GPU (its static shared memory within the
//! per-block limit and at least one block resident per multiprocessor, from the
//! occupancy API) and the product has at least one of its tiles for every
//! multiprocessor. Smaller products, which would leave multiprocessors idle with
//! it, take the small configuration (64×64 tiles, 4×4 per thread), which makes
//! four times as many blocks.

use cust::sys::CUdevice_attribute_enum as Attr;

use super::driver::{DeviceHandle, Function};
use super::launch::{param_pointers, Arg, Gpu, GpuFloat};
use super::stream::{DeviceBuffer, Event, Stream};
use crate::dtype::FloatVec;
use crate::error::{Error, Result};

/// One instantiation of gemm.h in kernels/cuda/matmul.cu (keep the two in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Config {
    /// The kernel's name.
    pub(crate) kernel: &'static str,
    /// Rows of C per block.
    pub(crate) bm: u32,
    /// Columns of C per block.
    pub(crate) bn: u32,
    /// Depth of one k step.
    pub(crate) bk: u32,
    /// Rows of C per thread.
    pub(crate) tm: u32,
    /// Columns of C per thread.
    pub(crate) tn: u32,
    /// Elements per vector access (16 bytes).
    pub(crate) vw: u32,
    /// Bytes of one element.
    pub(crate) element: u32,
}

impl Config {
    /// Threads per block.
    pub(crate) fn threads(&self) -> u32 {
        (self.bm / self.tm) * (self.bn / self.tn)
    }

    /// Static shared memory per block: two A tiles (rows padded by `vw`) and two B tiles.
    pub(crate) fn shared_bytes(&self) -> u32 {
        2 * self.bk * (self.bm + self.vw + self.bn) * self.element
    }

    /// Blocks for an m×n product: one per tile of C.
    pub(crate) fn blocks(&self, m: usize, n: usize) -> u64 {
        m.div_ceil(self.bm as usize) as u64 * n.div_ceil(self.bn as usize) as u64
    }
}

/// The configurations of matmul.cu, large first.
const F32: [Config; 2] = [
    Config {
        kernel: "gc_gemm_f32_l",
        bm: 128,
        bn: 128,
        bk: 8,
        tm: 8,
        tn: 8,
        vw: 4,
        element: 4,
    },
    Config {
        kernel: "gc_gemm_f32_s",
        bm: 64,
        bn: 64,
        bk: 16,
        tm: 4,
        tn: 4,
        vw: 4,
        element: 4,
    },
];
const F64: [Config; 2] = [
    Config {
        kernel: "gc_gemm_f64_l",
        bm: 128,
        bn: 128,
        bk: 8,
        tm: 8,
        tn: 8,
        vw: 2,
        element: 8,
    },
    Config {
        kernel: "gc_gemm_f64_s",
        bm: 64,
        bn: 64,
        bk: 16,
        tm: 4,
        tn: 4,
        vw: 2,
        element: 8,
    },
];

/// The element types, with their configurations.
trait GemmFloat: GpuFloat {
    const CONFIGS: [Config; 2];
}

impl GemmFloat for f32 {
    const CONFIGS: [Config; 2] = F32;
}

impl GemmFloat for f64 {
    const CONFIGS: [Config; 2] = F64;
}

/// What the choice knows of one configuration on this GPU.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fit {
    /// Blocks of it resident on one multiprocessor (0: it cannot run here).
    pub(crate) per_sm: u32,
    /// Its shared memory is within the per-block limit.
    pub(crate) shared_ok: bool,
}

/// Index of the configuration to use (see the module's notes), or `None` if
/// none can run. `configs` are in order of preference, the last the fallback.
pub(crate) fn choose(
    configs: &[Config],
    fits: &[Fit],
    sms: u32,
    m: usize,
    n: usize,
) -> Option<usize> {
    let usable: Vec<usize> = (0..configs.len())
        .filter(|&i| fits[i].per_sm > 0 && fits[i].shared_ok)
        .collect();
    usable
        .iter()
        .copied()
        .find(|&i| configs[i].blocks(m, n) >= u64::from(sms.max(1)))
        .or_else(|| usable.last().copied())
}

/// The largest M, N or K the kernel takes.
const MAX_DIMENSION: usize = i32::MAX as usize;

/// C = A·B (see `Backend::matmul`) on `gpu`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    gpu: &Gpu<'_>,
    a: &FloatVec,
    b: &FloatVec,
    c: &mut FloatVec,
    m: usize,
    n: usize,
    k: usize,
    reps: usize,
) -> Result<Vec<f64>> {
    // The kernel indexes rows and columns in 32 bits; below 2^31, a tile's
    // last row or column cannot wrap around.
    for (name, value) in [("M", m), ("N", n), ("K", k)] {
        if value > MAX_DIMENSION {
            return Err(Error::InvalidArgument(format!(
                "matmul on CUDA takes dimensions up to {MAX_DIMENSION}; {name} is {value}"
            )));
        }
    }
    match (a, b, c) {
        (FloatVec::F32(a), FloatVec::F32(b), FloatVec::F32(c)) => {
            run::<f32>(gpu, a, b, c, (m, n, k), reps)
        }
        (FloatVec::F64(a), FloatVec::F64(b), FloatVec::F64(c)) => {
            run::<f64>(gpu, a, b, c, (m, n, k), reps)
        }
        _ => Err(Error::InvalidArgument(
            "matmul: A, B and C must have one element type".into(),
        )),
    }
}

fn run<T: GemmFloat>(
    gpu: &Gpu<'_>,
    a: &[T],
    b: &[T],
    c: &mut [T],
    (m, n, k): (usize, usize, usize),
    reps: usize,
) -> Result<Vec<f64>> {
    assert!(
        a.len() == m * k && b.len() == k * n && c.len() == m * n,
        "matmul: buffer sizes"
    );
    let (function, config) = pick::<T>(gpu, m, n)?;
    let grid = u32::try_from(config.blocks(m, n))
        .ok()
        .filter(|&g| g <= i32::MAX as u32)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{m}x{n} is too many {}x{} tiles for one launch",
                config.bm, config.bn
            ))
        })?;

    let size = std::mem::size_of::<T>() as u64;
    let total = (a.len() as u64 + b.len() as u64 + c.len() as u64).saturating_mul(size);
    let kind = if size == 4 { "f32" } else { "f64" };
    gpu.ensure_fits(
        &format!("A, B and C ({m}x{k}, {k}x{n}, {m}x{n} {kind})"),
        total,
    )?;
    let a_dev = gpu.alloc::<T>(a.len(), &format!("matrix A ({m}x{k} {kind})"))?;
    let b_dev = gpu.alloc::<T>(b.len(), &format!("matrix B ({k}x{n} {kind})"))?;
    let c_dev = gpu.alloc::<T>(c.len(), &format!("matrix C ({m}x{n} {kind})"))?;
    let stream = gpu.stream()?;
    upload(&stream, a, &a_dev, "A")?;
    upload(&stream, b, &b_dev, "B")?;

    let timer = Timer {
        stream,
        start: gpu.event()?,
        stop: gpu.event()?,
        function,
        grid,
        block: config.threads(),
    };
    let args = [
        Arg::from(&a_dev),
        Arg::from(&b_dev),
        Arg::from(&c_dev),
        Arg::U32(m as u32),
        Arg::U32(n as u32),
        Arg::U32(k as u32),
    ];
    // SAFETY (both launches): gc_gemm_<T>_<cfg>(const T *a, const T *b, T *c,
    // unsigned m, unsigned n, unsigned k): three device pointers to m·k, k·n and
    // m·n values of T and three u32 sizes, in order; one block of
    // `config.threads()` threads per tile of C, as gemm.h expects; `timed`
    // synchronizes before the buffers can be dropped.
    unsafe { timer.timed(&args)? };
    let times = (0..reps)
        .map(|_| unsafe { timer.timed(&args) })
        .collect::<Result<Vec<f64>>>()?;
    timer
        .stream
        .read(&c_dev, c)
        .map_err(|e| e.during("reading matrix C back"))?;
    Ok(times)
}

/// The kernel and configuration for an m×n product of `T` on `gpu`.
fn pick<T: GemmFloat>(gpu: &Gpu<'_>, m: usize, n: usize) -> Result<(Function, Config)> {
    let device = DeviceHandle::get(gpu.info.index).map_err(|e| e.during("cuDeviceGet"))?;
    let shared_limit = device
        .attribute(Attr::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK)
        .map_err(|e| e.during("cuDeviceGetAttribute(MAX_SHARED_MEMORY_PER_BLOCK)"))?;
    let configs = T::CONFIGS;
    let mut functions = Vec::with_capacity(configs.len());
    let mut fits = Vec::with_capacity(configs.len());
    for config in &configs {
        let function = (gpu.lookup)(config.kernel)?;
        let per_sm = function
            .max_active_blocks_per_sm(gpu.current, config.threads())
            .map_err(|e| e.during(format!("occupancy of kernel {}", config.kernel)))?;
        fits.push(Fit {
            per_sm,
            shared_ok: i64::from(config.shared_bytes()) <= i64::from(shared_limit),
        });
        functions.push(function);
    }
    let chosen = choose(&configs, &fits, gpu.info.compute_units, m, n).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{} cannot run any matmul kernel: {} bytes of shared memory per block, \
             resident blocks per multiprocessor {:?}",
            gpu.name(),
            shared_limit,
            fits.iter().map(|f| f.per_sm).collect::<Vec<_>>()
        ))
    })?;
    Ok((functions[chosen], configs[chosen]))
}

/// Copies `host` into `device` and waits for the copy.
fn upload<T: GpuFloat>(
    stream: &Stream,
    host: &[T],
    device: &DeviceBuffer<T>,
    what: &str,
) -> Result<()> {
    // SAFETY: `host` stays borrowed, unmodified, until the synchronize below has
    // waited for the copy (on error too); the device buffer holds `host.len()` values.
    let queued = unsafe { stream.copy_to_device_async(host, device, 0) };
    let done = stream.synchronize();
    queued
        .and(done)
        .map_err(|e| e.during(format!("copying matrix {what} to the GPU")))
}

/// The stream, the two events that time each launch, and the launch shape.
struct Timer {
    stream: Stream,
    start: Event,
    stop: Event,
    function: Function,
    grid: u32,
    block: u32,
}

impl Timer {
    /// Launches the kernel between the two events, waits for it, and returns
    /// the device time between the events, in seconds.
    ///
    /// # Safety
    /// `args` match the kernel's parameters, and the buffers they point to hold
    /// what one block per tile reads and writes.
    unsafe fn timed(&self, args: &[Arg]) -> Result<f64> {
        let name = self.function.name();
        let mut values: Vec<Arg> = args.to_vec();
        let mut params = param_pointers(&mut values);
        self.start
            .record(&self.stream)
            .map_err(|e| e.during("cuEventRecord"))?;
        // SAFETY: each pointer in `params` points into `values`, alive across the
        // call (the driver copies the values at launch); the caller vouches for the
        // arguments; the synchronize below waits for the kernel.
        unsafe {
            self.function
                .launch(&self.stream, self.grid, self.block, &mut params)
        }
        .map_err(|e| e.during(format!("launching kernel {name}")))?;
        self.stop
            .record(&self.stream)
            .map_err(|e| e.during("cuEventRecord"))?;
        self.stream.synchronize().map_err(|e| {
            e.during(format!(
                "kernel {name} (grid {} x block {})",
                self.grid, self.block
            ))
        })?;
        let elapsed = self
            .start
            .elapsed_until(&self.stop)
            .map_err(|e| e.during("cuEventElapsedTime"))?;
        Ok(elapsed.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_match_their_kernels() {
        for config in F32.iter().chain(&F64) {
            assert!(
                config.kernel.ends_with(if config.element == 4 {
                    "_f32_l"
                } else {
                    "_f64_l"
                }) || config.kernel.ends_with("_s")
            );
            assert_eq!(config.threads(), 256, "{config:?}");
            assert_eq!(config.vw * config.element, 16, "{config:?}");
            // Within the 48 KiB of static shared memory every GPU since Kepler gives a block.
            assert!(config.shared_bytes() <= 48 << 10, "{config:?}");
        }
        // As ptxas reports them for kernels/cuda/matmul.cu.
        assert_eq!(F32[0].shared_bytes(), 16_640);
        assert_eq!(F32[1].shared_bytes(), 16_896);
        assert_eq!(F64[0].shared_bytes(), 33_024);
        assert_eq!(F64[1].shared_bytes(), 33_280);
    }

    #[test]
    fn big_products_take_the_large_tiles_and_small_ones_the_small() {
        let both = [
            Fit {
                per_sm: 2,
                shared_ok: true,
            },
            Fit {
                per_sm: 4,
                shared_ok: true,
            },
        ];
        // H100: 132 multiprocessors; 4096² is 1024 large tiles.
        assert_eq!(choose(&F32, &both, 132, 4096, 4096), Some(0));
        // 1024² is 64 large tiles, fewer than the multiprocessors.
        assert_eq!(choose(&F32, &both, 132, 1024, 1024), Some(1));
        assert_eq!(choose(&F32, &both, 132, 1536, 1536), Some(0));
        // A small GPU fills up with fewer tiles.
        assert_eq!(choose(&F32, &both, 16, 1024, 1024), Some(0));
        // Tiny products still run, on the small tiles.
        assert_eq!(choose(&F64, &both, 132, 1, 1), Some(1));
        // A configuration that cannot run is never chosen.
        let no_large = [
            Fit {
                per_sm: 0,
                shared_ok: true,
            },
            both[1],
        ];
        assert_eq!(choose(&F32, &no_large, 1, 4096, 4096), Some(1));
        let none = [
            Fit {
                per_sm: 1,
                shared_ok: false,
            },
            Fit {
                per_sm: 0,
                shared_ok: true,
            },
        ];
        assert_eq!(choose(&F32, &none, 1, 4096, 4096), None);
    }
}
