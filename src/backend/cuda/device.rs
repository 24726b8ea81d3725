//! CUDA devices as gpucalc sees them: the listing, opening a GPU, and the `Backend` implementation.
//!
//! Every [`CudaDevice`] opened on the same GPU shares one [`Core`]: the GPU's
//! primary context and the embedded kernel modules, loaded once. Each
//! `CudaDevice` adds its own stream, timing events and result buffer.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use cust::sys::CUdevice_attribute_enum as Attr;

use super::driver::{self, Context, Current, DeviceHandle, Function, Module};
use super::launch::Gpu;
use super::memory::Plain;
use super::pi::{LaunchConfig, PiState};
use super::status::DriverError;
use super::stream::DeviceBuffer;
use super::{babelstream, map, rng, transfer};
use crate::backend::Backend;
use crate::device::{DeviceInfo, DeviceType};
use crate::dtype::{Float, FloatVec};
use crate::error::{BackendKind, Error, Result};
use crate::workloads::map::{MapFn, MapIo, MapTiming};
use crate::workloads::rng::{RngSlice, RngSpec};
use crate::workloads::stream::StreamRaw;
use crate::workloads::transfer::{Direction, HostMemory};

/// A kernel image embedded at build time, aligned as the driver wants fatbins.
#[repr(C, align(64))]
pub(crate) struct Aligned<T: ?Sized>(pub(crate) T);

/// One `kernels/cuda/*.cu`, compiled by build.rs into a fatbin.
pub(crate) struct EmbeddedModule {
    /// The source file's stem.
    pub(crate) name: &'static str,
    /// The fatbin: PTX and SASS for the targets of `GPUCALC_CUDA_ARCH`.
    pub(crate) image: &'static Aligned<[u8]>,
}

// Defines `MODULES: &[EmbeddedModule]`.
include!(concat!(env!("OUT_DIR"), "/cuda_kernels.rs"));

/// The nvcc release that built the embedded kernels, e.g. `13.0.88`.
const NVCC_VERSION: &str = env!("GPUCALC_NVCC_VERSION");
/// The targets the fatbins hold, e.g. `compute_75,sm_80,sm_90`.
pub(super) const CUDA_ARCH: &str = env!("GPUCALC_CUDA_ARCH");

/// The `pi` kernel's name in kernels/cuda/gpucalc.cu.
const PI_KERNEL: &str = "gc_pi_hits";

/// Initializes the driver and counts devices, or says in one line why CUDA cannot run here.
fn start_driver() -> Result<(usize, i32)> {
    driver::open_library().map_err(|why| Error::Unavailable {
        backend: BackendKind::Cuda,
        reason: format!(
            "no usable NVIDIA driver: {why}; install the NVIDIA driver (CUDA {} or newer), or put the \
             folder holding its {} on LD_LIBRARY_PATH",
            nvcc_release().0,
            super::sys::LIBRARY
        ),
    })?;
    driver::init().map_err(unavailable)?;
    let count = driver::device_count().map_err(unavailable)?;
    if count == 0 {
        return Err(unavailable(DriverError::NO_DEVICE));
    }
    let version = driver::driver_version().map_err(|e| e.during("cuDriverGetVersion"))?;
    Ok((count, version))
}

/// The `Unavailable` error for a driver that cannot start.
fn unavailable(e: DriverError) -> Error {
    let reason = match e {
        DriverError::STUB_LIBRARY => format!(
            "no NVIDIA driver (libcuda) usable: {e}; install the NVIDIA driver, or put its \
             libcuda.so.1 ahead of the stub on LD_LIBRARY_PATH"
        ),
        DriverError::NO_DEVICE => {
            format!("no CUDA device: {e} (see nvidia-smi, and CUDA_VISIBLE_DEVICES if set)")
        }
        DriverError::INSUFFICIENT_DRIVER => {
            format!("the NVIDIA driver cannot be used: {e}; update the driver")
        }
        _ => format!("the NVIDIA driver cannot be used: {e}"),
    };
    Error::Unavailable {
        backend: BackendKind::Cuda,
        reason,
    }
}

/// Every CUDA device the driver sees, as rows of `gpucalc devices`.
pub(crate) fn list() -> Result<Vec<DeviceInfo>> {
    let (count, version) = start_driver()?;
    (0..count)
        .map(|index| {
            let device = DeviceHandle::get(index).map_err(|e| e.during("cuDeviceGet"))?;
            describe(index, device, version)
        })
        .collect()
}

/// The `gpucalc devices` row of one GPU.
fn describe(index: usize, device: DeviceHandle, driver_version: i32) -> Result<DeviceInfo> {
    let attribute = |a: Attr| {
        device
            .attribute(a)
            .map_err(|e| e.during(format!("cuDeviceGetAttribute({a:?})")))
    };
    let name = device.name().map_err(|e| e.during("cuDeviceGetName"))?;
    let mut info = DeviceInfo::new(BackendKind::Cuda, index, name, DeviceType::Gpu);
    info.vendor = "NVIDIA".to_string();
    info.compute_units = attribute(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?.max(0) as u32;
    info.memory_bytes = device
        .total_memory()
        .map_err(|e| e.during("cuDeviceTotalMem"))?;
    // Reported in kHz; a driver that no longer knows it leaves the column empty.
    info.clock_mhz = device
        .attribute(Attr::CU_DEVICE_ATTRIBUTE_CLOCK_RATE)
        .ok()
        .filter(|&khz| khz > 0)
        .map(|khz| (khz / 1000) as u32);
    // Memory clock (kHz) and bus width give the peak bandwidth `gpucalc bench`
    // measures against; optional like the core clock.
    let positive = |a: Attr| device.attribute(a).ok().filter(|&v| v > 0);
    info.memory_clock_mhz =
        positive(Attr::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE).map(|khz| (khz / 1000) as u32);
    info.memory_bus_width_bits =
        positive(Attr::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH).map(|bits| bits as u32);
    info.cache_bytes = positive(Attr::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE).map(|bytes| bytes as u64);
    let api = driver::version_string(driver_version);
    info.driver_version = Some(match driver_release() {
        Some(release) => format!("{release} (CUDA {api})"),
        None => format!("CUDA {api}"),
    });
    let major = attribute(Attr::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
    let minor = attribute(Attr::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
    info.compute_capability = Some(format!("{major}.{minor}"));
    info.fp64 = true;
    Ok(info)
}

/// The NVIDIA driver's release (`580.65.06`, as nvidia-smi shows it), from
/// the kernel module's version file where the system has one; the driver API
/// itself reports only the CUDA version it supports.
fn driver_release() -> Option<String> {
    parse_driver_release(&std::fs::read_to_string("/proc/driver/nvidia/version").ok()?)
}

/// The release in `NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  ...`.
fn parse_driver_release(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("NVRM version:"))?;
    line.split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()) && word.contains('.'))
        .map(str::to_string)
}

/// What every [`CudaDevice`] on one GPU shares. Field order is drop order.
struct Core {
    pi_kernel: Function,
    launch: LaunchConfig,
    _modules: Vec<Module>,
    context: Arc<Context>,
    info: DeviceInfo,
    /// The CUDA version the driver supports, as `cuDriverGetVersion` gives it.
    driver_version: i32,
}

impl Core {
    /// The GPU's core: the one already open, or a newly loaded one.
    fn get(index: usize, driver_version: i32) -> Result<Arc<Core>> {
        static CORES: Mutex<Vec<(usize, Weak<Core>)>> = Mutex::new(Vec::new());
        let mut cores = CORES.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(core) = cores
            .iter()
            .filter(|(i, _)| *i == index)
            .find_map(|(_, weak)| weak.upgrade())
        {
            return Ok(core);
        }
        let core = Arc::new(Core::load(index, driver_version)?);
        cores.retain(|(_, weak)| weak.strong_count() > 0);
        cores.push((index, Arc::downgrade(&core)));
        Ok(core)
    }

    /// Retains the primary context, loads every embedded module and sizes the `pi` launch.
    fn load(index: usize, driver_version: i32) -> Result<Core> {
        let device = DeviceHandle::get(index).map_err(|e| e.during("cuDeviceGet"))?;
        let info = describe(index, device, driver_version)?;
        let context = Context::retain(device)
            .map_err(|e| e.during(format!("creating a CUDA context on {}", info.name)))?;
        let current = context.enter().map_err(|e| e.during("cuCtxPushCurrent"))?;
        let modules = MODULES
            .iter()
            .map(|m| {
                Module::load(&context, &current, &m.image.0)
                    .map_err(|e| module_error(e, m.name, &info, driver_version))
            })
            .collect::<Result<Vec<Module>>>()?;
        let pi_kernel = function(&modules, &info, driver_version, PI_KERNEL)?;
        let launch = LaunchConfig::for_kernel(&pi_kernel, &current, info.compute_units)
            .map_err(|e| e.during(format!("occupancy of kernel {PI_KERNEL}")))?;
        drop(current);
        Ok(Core {
            pi_kernel,
            launch,
            _modules: modules,
            context,
            info,
            driver_version,
        })
    }
}

/// The kernel `name`, from whichever embedded module has it (`modules` as
/// loaded from [`MODULES`], in order). With lazy loading, the driver's
/// default since CUDA 12.2, a module's code is checked and compiled for the
/// GPU at this lookup rather than at loading, so the codes that say the code
/// does not suit this GPU or driver are explained as loading errors are;
/// any other (a fault left by an earlier kernel, say) is the lookup's own.
fn function(
    modules: &[Module],
    info: &DeviceInfo,
    driver_version: i32,
    name: &'static str,
) -> Result<Function> {
    const NOT_FOUND: DriverError = DriverError(500);
    for (module, embedded) in modules.iter().zip(MODULES) {
        match module.function(name) {
            Ok(f) => return Ok(f),
            Err(NOT_FOUND) => continue,
            Err(e) if is_loading_error(e) => {
                return Err(module_error(e, embedded.name, info, driver_version))
            }
            Err(e) => return Err(e.during(format!("cuModuleGetFunction({name})"))),
        }
    }
    Err(NOT_FOUND.during(format!(
        "looking up kernel {name} in the {} embedded module(s)",
        modules.len()
    )))
}

/// Whether `e` says the kernels' code does not suit this GPU or driver.
fn is_loading_error(e: DriverError) -> bool {
    matches!(
        e,
        DriverError::INVALID_IMAGE
            | DriverError::NO_BINARY_FOR_GPU
            | DriverError::INVALID_PTX
            | DriverError::UNSUPPORTED_PTX_VERSION
            | DriverError(221)
            | DriverError(223)
    )
}

/// A module that does not load, explained: which CUDA built it, and what to do.
fn module_error(e: DriverError, module: &str, info: &DeviceInfo, driver_version: i32) -> Error {
    let (built, built_version) = nvcc_release();
    let driver = driver::version_string(driver_version);
    let cc = info.compute_capability.as_deref().unwrap_or("?");
    let sm = format!("sm_{}", cc.replace('.', ""));
    // Code from a newer toolkit than the driver knows is refused, PTX or SASS alike.
    let old_driver = if driver_version < built_version {
        format!(
            "; the driver supports CUDA {driver} and the kernels were built by CUDA {built}: \
             update the NVIDIA driver"
        )
    } else {
        String::new()
    };
    // Machine code for this GPU avoids both a missing binary and the driver's PTX compiler.
    let add = if CUDA_ARCH.split(',').any(|target| target == sm) {
        String::new()
    } else {
        format!("; rebuild with GPUCALC_CUDA_ARCH={CUDA_ARCH},{sm} to embed machine code for it")
    };
    let message = match e {
        DriverError::UNSUPPORTED_PTX_VERSION => format!(
            "{e}: the kernels were built by nvcc {NVCC_VERSION} (CUDA {built}) and the driver \
             supports CUDA {driver}; install an NVIDIA driver for CUDA {built} or newer, or \
             rebuild gpucalc with the nvcc of CUDA {driver} or older (NVCC=...)"
        ),
        DriverError::NO_BINARY_FOR_GPU => format!(
            "{e}: this build holds code for {CUDA_ARCH} and {} is compute capability \
             {cc}{add}{old_driver}",
            info.name
        ),
        DriverError::INVALID_PTX | DriverError(221) | DriverError(223) => format!(
            "{e}: the driver must compile the embedded PTX for compute capability \
             {cc}{add}{old_driver}"
        ),
        _ => format!("{e}{old_driver}"),
    };
    Error::Runtime {
        backend: BackendKind::Cuda,
        call: format!("loading the CUDA kernels ({module}.cu, nvcc {NVCC_VERSION})"),
        message,
    }
}

/// The CUDA release of the nvcc that built the kernels: `("13.0", 13000)`.
fn nvcc_release() -> (String, i32) {
    let mut parts = NVCC_VERSION
        .split('.')
        .map(|p| p.parse::<i32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (format!("{major}.{minor}"), major * 1000 + minor * 10)
}

/// `len` values of device memory, refused with [`Error::OutOfMemory`] when they do not fit.
pub(crate) fn allocate<T: Plain>(
    context: &Arc<Context>,
    current: &Current<'_>,
    len: usize,
    what: &str,
    device: &str,
) -> Result<DeviceBuffer<T>> {
    let needed = (len as u64).saturating_mul(std::mem::size_of::<T>() as u64);
    let (free, _) = context
        .memory_info(current)
        .map_err(|e| e.during("cuMemGetInfo"))?;
    let refuse = || Error::OutOfMemory {
        what: what.to_string(),
        device: device.to_string(),
        needed,
        available: free,
    };
    if needed > free {
        return Err(refuse());
    }
    DeviceBuffer::uninit(context, current, len).map_err(|e| match e {
        DriverError::OUT_OF_MEMORY => refuse(),
        e => e.during(format!("cuMemAlloc for {what}")),
    })
}

/// An NVIDIA GPU opened for work through the CUDA driver.
pub struct CudaDevice {
    /// The stream, events and buffers of this value (dropped before the core).
    state: Mutex<PiState>,
    /// The matmul kernels chosen by measurement, per product shape.
    matmul_choices: super::matmul::Choices,
    core: Arc<Core>,
}

impl fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CudaDevice")
            .field("index", &self.core.info.index)
            .field("name", &self.core.info.name)
            .field("block", &self.core.launch.block)
            .field("grid", &self.core.launch.max_grid)
            .finish()
    }
}

impl CudaDevice {
    /// Opens GPU `index` (as in `cuda:N`): context, kernels, stream.
    pub(crate) fn open(index: usize) -> Result<CudaDevice> {
        let (count, driver_version) = start_driver()?;
        if index >= count {
            return Err(Error::NoSuchDevice {
                spec: format!("cuda:{index}"),
                available: format!("this machine has cuda:0 .. cuda:{}", count - 1),
            });
        }
        let core = Core::get(index, driver_version)?;
        let current = core
            .context
            .enter()
            .map_err(|e| e.during("cuCtxPushCurrent"))?;
        let state = PiState::new(&core.context, &current, &core.launch, &core.info.name)?;
        drop(current);
        Ok(CudaDevice {
            state: Mutex::new(state),
            matmul_choices: super::matmul::Choices::default(),
            core,
        })
    }

    /// GPU time the kernels run on this device value took so far, measured with CUDA events
    /// (excludes launch overhead and copies).
    pub fn kernel_time(&self) -> Duration {
        self.lock().kernel_time()
    }

    /// Threads per block and blocks per launch that `pi` uses on this GPU (from the occupancy API).
    pub fn pi_launch_shape(&self) -> (u32, u32) {
        (self.core.launch.block, self.core.launch.max_grid)
    }

    /// Runs `work` with this GPU's context current on the calling thread: the
    /// entry of the workloads other than `pi` (each makes its own stream and buffers).
    pub(super) fn with_gpu<R>(&self, work: impl FnOnce(&Gpu<'_>) -> Result<R>) -> Result<R> {
        let current = self
            .core
            .context
            .enter()
            .map_err(|e| e.during("cuCtxPushCurrent"))?;
        let core = &self.core;
        let lookup =
            |name: &'static str| function(&core._modules, &core.info, core.driver_version, name);
        work(&Gpu {
            context: &self.core.context,
            current: &current,
            info: &self.core.info,
            lookup: &lookup,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PiState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    pub(crate) fn pi_kernel_for_tests(&self) -> Function {
        self.core.pi_kernel
    }

    #[cfg(test)]
    pub(crate) fn context_for_tests(&self) -> Arc<Context> {
        Arc::clone(&self.core.context)
    }
}

impl Backend for CudaDevice {
    fn info(&self) -> &DeviceInfo {
        &self.core.info
    }

    fn pi_chunk(&self) -> u64 {
        // 2^27 samples per SM: about 2^34 (17 ms at 1e12 samples/s) on a 132-SM H100.
        u64::from(self.core.info.compute_units.max(1)) << 27
    }

    fn pi_hits(&self, seed: u64, first: u64, count: u64) -> Result<u64> {
        let mut state = self.lock();
        let current = self
            .core
            .context
            .enter()
            .map_err(|e| e.during("cuCtxPushCurrent"))?;
        state.hits(
            &self.core.pi_kernel,
            &self.core.launch,
            &current,
            seed,
            first,
            count,
        )
    }

    fn stream(&self, float: Float, n: usize, times: usize) -> Result<StreamRaw> {
        self.with_gpu(|gpu| match float {
            Float::F32 => babelstream::run::<f32>(gpu, n, times),
            Float::F64 => babelstream::run::<f64>(gpu, n, times),
        })
    }

    fn rng_fill(&self, spec: &RngSpec, first: u64, out: RngSlice<'_>) -> Result<()> {
        self.with_gpu(|gpu| rng::fill(gpu, spec, first, out, rng::CHUNK_BYTES))
    }

    fn rng_device_times(&self, spec: &RngSpec, n: usize, reps: usize) -> Result<Vec<f64>> {
        self.with_gpu(|gpu| rng::device_times(gpu, spec, n.max(1), reps))
    }

    fn map(&self, function: MapFn, io: MapIo<'_>) -> Result<MapTiming> {
        self.with_gpu(|gpu| map::map(gpu, function, io, map::CHUNK_BYTES))
    }

    fn host_memory_kinds(&self) -> Vec<HostMemory> {
        vec![HostMemory::Pageable, HostMemory::Pinned]
    }

    fn transfer(
        &self,
        direction: Direction,
        memory: HostMemory,
        bytes: usize,
        reps: usize,
    ) -> Result<Vec<f64>> {
        self.with_gpu(|gpu| transfer::transfer(gpu, direction, memory, bytes, reps))
    }

    fn matmul(
        &self,
        a: &FloatVec,
        b: &FloatVec,
        c: &mut FloatVec,
        shape: (usize, usize, usize),
        reps: usize,
        kernel: Option<&str>,
    ) -> Result<crate::backend::MatmulRuns> {
        self.with_gpu(|gpu| {
            super::matmul::matmul(gpu, &self.matmul_choices, a, b, c, shape, reps, kernel)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_release_is_read_from_the_modules_version_line() {
        let proprietary = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  \
                           Sun Jul 27 06:54:38 UTC 2025\nGCC version:  gcc version 12.2.0\n";
        assert_eq!(
            parse_driver_release(proprietary).as_deref(),
            Some("580.65.06")
        );
        let open = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.82.07  \
                    Release Build  (dvs-builder@U16-I3-B03-4-3)  Wed Aug 27 2025\n";
        assert_eq!(parse_driver_release(open).as_deref(), Some("580.82.07"));
        assert_eq!(parse_driver_release("GCC version: 12.2.0\n"), None);
    }

    fn card(cc: &str) -> DeviceInfo {
        let mut info = DeviceInfo::new(BackendKind::Cuda, 0, "Card".into(), DeviceType::Gpu);
        info.compute_capability = Some(cc.to_string());
        info
    }

    #[test]
    fn a_driver_too_old_for_the_ptx_says_which_cuda_built_it() {
        let (built, _) = nvcc_release();
        let e = module_error(
            DriverError::UNSUPPORTED_PTX_VERSION,
            "gpucalc",
            &card("8.6"),
            12040,
        );
        let text = e.to_string();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("CUDA_ERROR_UNSUPPORTED_PTX_VERSION (222)"),
            "{text}"
        );
        assert!(
            text.contains(&format!("nvcc {NVCC_VERSION} (CUDA {built})")),
            "{text}"
        );
        assert!(text.contains("supports CUDA 12.4"), "{text}");
        assert!(text.contains("install an NVIDIA driver"), "{text}");
    }

    #[test]
    fn a_gpu_without_code_is_told_which_target_to_add() {
        let e = module_error(
            DriverError::NO_BINARY_FOR_GPU,
            "gpucalc",
            &card("12.0"),
            99000,
        );
        let text = e.to_string();
        assert!(
            text.contains(&format!("GPUCALC_CUDA_ARCH={CUDA_ARCH},sm_120")),
            "{text}"
        );
        assert!(!text.contains("update the NVIDIA driver"), "{text}");
        let old = module_error(
            DriverError::NO_BINARY_FOR_GPU,
            "gpucalc",
            &card("9.0"),
            11080,
        );
        assert!(
            old.to_string().contains("update the NVIDIA driver"),
            "{old}"
        );
    }

    #[test]
    fn a_missing_driver_is_unavailable_in_one_line() {
        for (code, words) in [
            (
                DriverError::STUB_LIBRARY,
                "no NVIDIA driver (libcuda) usable",
            ),
            (DriverError::NO_DEVICE, "no CUDA device"),
            (DriverError(803), "cannot be used"),
        ] {
            let e = unavailable(code);
            assert!(matches!(e, Error::Unavailable { .. }));
            let text = e.to_string();
            assert_eq!(text.lines().count(), 1, "{text}");
            assert!(text.contains(words) && text.contains(code.name()), "{text}");
        }
    }
}
