//! `matmul` on CUDA: the tiled GEMM of kernels/common/gemm.h, instantiated in
//! kernels/cuda/matmul.cu in two tile configurations per element type, and for f64 the
//! FP64 tensor-core GEMM of kernels/cuda/gemm_tc.cuh in two more; one is picked per GPU
//! and problem.
//!
//! A, B and C live in three device buffers for the whole call. The chosen kernel runs
//! once untimed, then `reps` times, each run between two events on one stream and
//! synchronized before its time is read.
//!
//! The rule of thumb ([`choose`]): the large configuration (128×128
//! tiles, 8×8 outputs per thread) does the most arithmetic per byte of shared memory
//! and global traffic, so it is preferred whenever it fits the GPU (its static shared
//! memory within the per-block limit and at least one block resident per
//! multiprocessor, from the occupancy API) and the product has at least one of its
//! tiles for every multiprocessor. Smaller products, which would leave multiprocessors
//! idle with it, prefer the small configuration (64×64 tiles, 4×4 per thread), which
//! makes four times as many blocks.
//!
//! f64 products prefer the tensor-core kernels, large or small by the same rule, on
//! GPUs whose FP64 tensor cores do twice the FP64 FMA units' work per clock (compute
//! capability 8.0 and 9.0: A100, H100, H200) when they run code built for 8.0 or later
//! (from the fatbin's machine code, or PTX the driver compiles:
//! [`built_for`](choice::built_for)) and k and n are even (16-byte copies and stores).
//!
//! The choice is then measured ([`time_candidates`](choice::time_candidates)): the
//! configurations that can run the product run in turn, a round untimed and then up to
//! three timed rounds, each configuration keeping its fastest timed run; the fastest
//! configuration is kept unless the rule of thumb's is within 2% of it
//! ([`settle`](choice::settle)). Taking the candidates in turn matters on a GPU that
//! was idle: its clocks rise over the first runs, which would otherwise slow the first
//! candidate's alone. The rule is a guess from first principles; the measurement is
//! what this GPU does, and a kernel that turns out slower than expected on some GPU
//! costs the tuning runs, not the result. The choice is remembered per product shape
//! for the life of the `CudaDevice`, and a named kernel (`--kernel`) skips it.

mod choice;

use cust::sys::CUdevice_attribute_enum as Attr;

pub(crate) use self::choice::Choices;
use self::choice::{choose, takes_tensor_cores, usable, Config, Fit, GemmFloat, Measured};
use super::driver::{DeviceHandle, Function};
use super::launch::{param_pointers, stop_and_wait, Arg, Gpu, GpuFloat};
use super::stream::{DeviceBuffer, Event, Stream};
use crate::backend::MatmulRuns;
use crate::dtype::FloatVec;
use crate::error::{Error, Result};

/// C = A·B (see `Backend::matmul`) on `gpu`; `choices` remembers measured choices.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    gpu: &Gpu<'_>,
    choices: &Choices,
    a: &FloatVec,
    b: &FloatVec,
    c: &mut FloatVec,
    (m, n, k): (usize, usize, usize),
    reps: usize,
    kernel: Option<&str>,
) -> Result<MatmulRuns> {
    crate::backend::check_gemm_dimensions(crate::BackendKind::Cuda, (m, n, k))?;
    let job = Job {
        gpu,
        choices,
        shape: (m, n, k),
        reps,
        kernel,
    };
    match (a, b, c) {
        (FloatVec::F32(a), FloatVec::F32(b), FloatVec::F32(c)) => job.run::<f32>(a, b, c),
        (FloatVec::F64(a), FloatVec::F64(b), FloatVec::F64(c)) => job.run::<f64>(a, b, c),
        _ => Err(Error::InvalidArgument(
            "matmul: A, B and C must have one element type".into(),
        )),
    }
}

/// One `matmul` call's parameters.
struct Job<'a> {
    gpu: &'a Gpu<'a>,
    choices: &'a Choices,
    shape: (usize, usize, usize),
    reps: usize,
    kernel: Option<&'a str>,
}

impl Job<'_> {
    fn run<T: GemmFloat>(&self, a: &[T], b: &[T], c: &mut [T]) -> Result<MatmulRuns> {
        let (gpu, (m, n, k)) = (self.gpu, self.shape);
        assert!(
            a.len() == m * k && b.len() == k * n && c.len() == m * n,
            "matmul: buffer sizes"
        );
        let plan = Plan::new::<T>(gpu, m, n, k)?;
        let named = self
            .kernel
            .map(|name| plan.named(name, gpu, m, n, k))
            .transpose()?;

        let size = std::mem::size_of::<T>() as u64;
        let total = (a.len() as u64 + b.len() as u64 + c.len() as u64).saturating_mul(size);
        let kind = T::NAME;
        gpu.ensure_fits(
            &format!("the product (A, B and C: {m}x{k}, {k}x{n}, {m}x{n} {kind})"),
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
        };
        let args = [
            Arg::from(&a_dev),
            Arg::from(&b_dev),
            Arg::from(&c_dev),
            Arg::U32(m as u32),
            Arg::U32(n as u32),
            Arg::U32(k as u32),
        ];
        // SAFETY (every `timed` call below): gc_gemm_<T>_<cfg>(const T *a, const
        // T *b, T *c, unsigned m, unsigned n, unsigned k): three device pointers
        // to m·k, k·n and m·n values of T (whole cuMemAlloc buffers, 256-byte
        // aligned, as the kernels' 16-byte accesses need) and three u32 sizes,
        // in order; `Plan::launch` gives one block of `config.threads` threads
        // per tile of C, as gemm.h and gemm_tc.cuh expect, and only
        // configurations that take the product (`Fit::takes`: the tensor-core
        // kernels rely on even k and n) are launched; `timed` synchronizes
        // before the buffers can be dropped.
        let measure = |i: usize| -> Result<f64> {
            let launch = plan.launch(i, m, n)?;
            unsafe { timer.timed(&launch, &args) }
        };
        let Measured { chosen, tried } = match named {
            Some(chosen) => Measured {
                chosen,
                tried: Vec::new(),
            },
            None if plan.usable.len() == 1 => Measured {
                chosen: plan.usable[0],
                tried: Vec::new(),
            },
            None => self.choices.get_or_measure(
                (size as usize, m, n, k),
                plan.configs,
                &plan.usable,
                plan.preferred,
                &measure,
            )?,
        };

        // C as the caller gave it (NaN, from `matmul_with`), so an element the
        // chosen kernel does not write fails verification rather than keeping a
        // value another candidate wrote while it was timed.
        upload(&timer.stream, c, &c_dev, "C")?;
        measure(chosen)?; // warm-up
        let times = (0..self.reps)
            .map(|_| measure(chosen))
            .collect::<Result<Vec<f64>>>()?;
        timer
            .stream
            .read(&c_dev, c)
            .map_err(|e| e.during("reading matrix C back"))?;
        let config = plan.configs[chosen];
        Ok(MatmulRuns {
            times,
            kernel: format!(
                "{} ({}x{} tiles{})",
                config.kernel,
                config.bm,
                config.bn,
                if config.tensor_cores {
                    ", FP64 tensor cores"
                } else {
                    ""
                }
            ),
            tried,
        })
    }
}

/// The configurations of one element type on one GPU for one product.
struct Plan {
    /// The element type's name.
    kind: &'static str,
    configs: &'static [Config],
    functions: Vec<Function>,
    fits: Vec<Fit>,
    /// Those that can run it, in order of preference.
    usable: Vec<usize>,
    /// The rule of thumb's choice ([`choose`]).
    preferred: usize,
    /// The GPU takes the tensor-core kernels ([`takes_tensor_cores`]).
    tensor_cores: bool,
}

impl Plan {
    fn new<T: GemmFloat>(gpu: &Gpu<'_>, m: usize, n: usize, k: usize) -> Result<Plan> {
        let device = DeviceHandle::get(gpu.info.index).map_err(|e| e.during("cuDeviceGet"))?;
        let shared_limit = device
            .attribute(Attr::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK)
            .map_err(|e| e.during("cuDeviceGetAttribute(MAX_SHARED_MEMORY_PER_BLOCK)"))?;
        let configs = T::CONFIGS;
        let tensor_cores = gpu
            .info
            .compute_capability_version()
            .is_some_and(|(major, minor)| {
                takes_tensor_cores(10 * major + minor, super::device::CUDA_ARCH)
            });
        let even = k.is_multiple_of(2) && n.is_multiple_of(2);
        let mut functions = Vec::with_capacity(configs.len());
        let mut fits = Vec::with_capacity(configs.len());
        for config in configs {
            let function = (gpu.lookup)(config.kernel)?;
            let per_sm = function
                .max_active_blocks_per_sm(gpu.current, config.threads)
                .map_err(|e| e.during(format!("occupancy of kernel {}", config.kernel)))?;
            fits.push(Fit {
                per_sm,
                shared_ok: i64::from(config.shared_bytes) <= i64::from(shared_limit),
                takes: !config.tensor_cores || (tensor_cores && even),
            });
            functions.push(function);
        }
        let preferred = choose(configs, &fits, gpu.info.compute_units, m, n).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{} cannot run any matmul kernel: {} bytes of shared memory per block, \
                 resident blocks per multiprocessor {:?}",
                gpu.name(),
                shared_limit,
                fits.iter().map(|f| f.per_sm).collect::<Vec<_>>()
            ))
        })?;
        Ok(Plan {
            kind: T::NAME,
            configs,
            functions,
            usable: usable(&fits),
            fits,
            preferred,
            tensor_cores,
        })
    }

    /// The configuration called `name`, if it can run the product here.
    fn named(&self, name: &str, gpu: &Gpu<'_>, m: usize, n: usize, k: usize) -> Result<usize> {
        let kind = self.kind;
        let Some(i) = self.configs.iter().position(|c| c.kernel == name) else {
            let names: Vec<&str> = self.configs.iter().map(|c| c.kernel).collect();
            return Err(Error::InvalidArgument(format!(
                "there is no {kind} matmul kernel called {name:?}; the {kind} kernels are {}",
                names.join(", ")
            )));
        };
        let fit = self.fits[i];
        let refuse = |why: String| Err(Error::InvalidArgument(format!("{name} {why}")));
        if !fit.takes && !self.tensor_cores {
            let cc = gpu.info.compute_capability.as_deref().unwrap_or("unknown");
            return refuse(format!(
                "runs on FP64 tensor cores, which are used on compute capability 8.0 and \
                 9.0 with code built for them; {} is {cc}",
                gpu.name()
            ));
        }
        if !fit.takes {
            return refuse(format!(
                "needs an even K and N (16-byte copies); this product is {m}x{n}x{k} (MxNxK)"
            ));
        }
        if fit.per_sm == 0 || !fit.shared_ok {
            return refuse(format!(
                "cannot run on {}: too much shared memory or too many registers",
                gpu.name()
            ));
        }
        Ok(i)
    }

    /// The launch of configuration `i` for an m×n product.
    fn launch(&self, i: usize, m: usize, n: usize) -> Result<Launch> {
        let config = self.configs[i];
        let grid = u32::try_from(config.blocks(m, n))
            .ok()
            .filter(|&g| g <= i32::MAX as u32)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{m}x{n} is too many {}x{} tiles for one launch",
                    config.bm, config.bn
                ))
            })?;
        Ok(Launch {
            function: self.functions[i],
            grid,
            block: config.threads,
        })
    }
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

/// A kernel and its launch shape.
struct Launch {
    function: Function,
    grid: u32,
    block: u32,
}

/// The stream and the two events that time each launch.
struct Timer {
    stream: Stream,
    start: Event,
    stop: Event,
}

impl Timer {
    /// Launches the kernel between the two events, waits for it, and returns
    /// the device time between the events, in seconds.
    ///
    /// # Safety
    /// `args` match the kernel's parameters, and the buffers they point to hold
    /// what one block per tile reads and writes.
    unsafe fn timed(&self, launch: &Launch, args: &[Arg]) -> Result<f64> {
        let name = launch.function.name();
        let mut values: Vec<Arg> = args.to_vec();
        let mut params = param_pointers(&mut values);
        self.start
            .record(&self.stream)
            .map_err(|e| e.during("cuEventRecord"))?;
        // SAFETY: each pointer in `params` points into `values`, alive across the
        // call (the driver copies the values at launch); the caller vouches for the
        // arguments; the synchronize below waits for the kernel.
        unsafe {
            launch
                .function
                .launch(&self.stream, launch.grid, launch.block, &mut params)
        }
        .map_err(|e| e.during(format!("launching kernel {name}")))?;
        stop_and_wait(&self.stream, &self.stop, |e| {
            e.during(format!(
                "kernel {name} (grid {} x block {})",
                launch.grid, launch.block
            ))
        })?;
        let elapsed = self
            .start
            .elapsed_until(&self.stop)
            .map_err(|e| e.during("cuEventElapsedTime"))?;
        Ok(elapsed.as_secs_f64())
    }
}
