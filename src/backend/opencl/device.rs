//! [`OpenClDevice`]: one OpenCL device with its context, in-order queue, the
//! programs built for it and its buffers; the `Backend` operations it serves.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ocl::core::{
    CommandQueue, Context, ContextProperties, DeviceId, Mem, MemFlags, OclPrm, Program,
};

use super::guard::guarded;
use super::pi::{self, PiLaunch};
use super::platform::{self, Found};
use super::program::{self, BuildOptions};
use super::session::Session;
use super::status::{is_out_of_memory, runtime};
use crate::backend::Backend;
use crate::device::DeviceInfo;
use crate::error::{Error, Result};

/// An OpenCL device opened for work: its context, an in-order queue, the
/// programs built for it (once per set of build options) and the `pi` kernel.
pub struct OpenClDevice {
    info: DeviceInfo,
    device: DeviceId,
    context: Context,
    queue: CommandQueue,
    max_alloc_bytes: u64,
    programs: Mutex<HashMap<BuildOptions, Program>>,
    pi: Mutex<PiLaunch>,
}

impl std::fmt::Debug for OpenClDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pi = lock(&self.pi);
        f.debug_struct("OpenClDevice")
            .field("spec", &self.info.spec)
            .field("name", &self.info.name)
            .field("pi_group_size", &pi.group_size)
            .field("pi_groups", &pi.groups)
            .finish()
    }
}

/// Locks a mutex whose data stays valid even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl OpenClDevice {
    /// A session (its own queue) on this device, for one workload call.
    pub(super) fn session(&self) -> Result<Session<'_>> {
        Session::new(self, &self.context, self.device, self.max_alloc_bytes)
    }

    /// Opens device `index` of the `opencl:N` numbering and builds its kernels.
    pub(crate) fn open(index: usize) -> Result<OpenClDevice> {
        guarded("opening the device", || Self::open_unguarded(index))
    }

    fn open_unguarded(index: usize) -> Result<OpenClDevice> {
        let mut found = platform::enumerate()?;
        if index >= found.len() {
            let names: Vec<String> = found
                .iter()
                .map(|f| format!("{} ({})", f.info.spec, f.info.name))
                .collect();
            return Err(Error::NoSuchDevice {
                spec: format!("opencl:{index}"),
                available: if names.is_empty() {
                    "this machine has none".to_string()
                } else {
                    format!("available: {}", names.join(", "))
                },
            });
        }
        let Found {
            platform,
            device,
            info,
            max_alloc_bytes,
        } = found.swap_remove(index);
        let properties = ContextProperties::new().platform(platform);
        let context = ocl::core::create_context(Some(&properties), &[device], None, None)
            .map_err(|e| runtime(format!("clCreateContext for {}", info.spec), &e))?;
        let queue = ocl::core::create_command_queue(&context, device, None)
            .map_err(|e| runtime("clCreateCommandQueue", &e))?;
        let programs = Mutex::new(HashMap::new());
        let pi = PiLaunch::new(&Target {
            context: &context,
            device,
            info: &info,
            programs: &programs,
        })?;
        Ok(OpenClDevice {
            info,
            device,
            context,
            queue,
            max_alloc_bytes,
            programs,
            pi: Mutex::new(pi),
        })
    }

    /// The program built with `options` for this device: built on first use,
    /// then reused. Double-precision options are refused on a device without fp64.
    pub(crate) fn program(&self, options: &BuildOptions) -> Result<Program> {
        self.target().program(options)
    }

    /// The `pi` launch state, locked for one call.
    pub(super) fn pi_launch(&self) -> MutexGuard<'_, PiLaunch> {
        lock(&self.pi)
    }

    fn target(&self) -> Target<'_> {
        Target {
            context: &self.context,
            device: self.device,
            info: &self.info,
            programs: &self.programs,
        }
    }

    /// Refuses double-precision work (`what`) on a device without `cl_khr_fp64`.
    pub(crate) fn require_fp64(&self, what: &str) -> Result<()> {
        program::require_fp64(&self.info, what)
    }

    /// A device buffer of `len` elements of `T`; see [`buffer`].
    pub(crate) fn buffer<T: OclPrm>(&self, what: &str, len: usize) -> Result<Mem> {
        buffer::<T>(&self.context, &self.info, self.max_alloc_bytes, what, len)
    }
}

/// What building for one device needs: its context, handle, description and program cache.
pub(super) struct Target<'a> {
    pub(super) context: &'a Context,
    pub(super) device: DeviceId,
    pub(super) info: &'a DeviceInfo,
    programs: &'a Mutex<HashMap<BuildOptions, Program>>,
}

impl Target<'_> {
    /// The program built with `options`, from the cache or built now and cached.
    pub(super) fn program(&self, options: &BuildOptions) -> Result<Program> {
        let mut programs = lock(self.programs);
        if let Some(program) = programs.get(options) {
            return Ok(program.clone());
        }
        if options.needs_fp64() {
            program::require_fp64(self.info, "a double-precision kernel")?;
        }
        let source = program::assemble()?;
        let built = program::build(
            self.context,
            self.device,
            self.info,
            &source,
            &options.flags(),
        )?;
        programs.insert(options.clone(), built.clone());
        Ok(built)
    }
}

/// A device buffer of `len` elements of `T`. Too large for one allocation on the
/// device (`max_alloc_bytes`), or refused by the runtime for lack of memory, is
/// [`Error::OutOfMemory`] naming `what`.
pub(super) fn buffer<T: OclPrm>(
    context: &Context,
    info: &DeviceInfo,
    max_alloc_bytes: u64,
    what: &str,
    len: usize,
) -> Result<Mem> {
    let needed = (len.max(1) as u64).saturating_mul(std::mem::size_of::<T>() as u64);
    let out_of_memory = |available: u64| Error::OutOfMemory {
        what: what.to_string(),
        device: format!("{} ({})", info.spec, info.name),
        needed,
        available,
    };
    if needed > max_alloc_bytes {
        return Err(out_of_memory(max_alloc_bytes));
    }
    // SAFETY: no host pointer is passed (`data` is None), so the runtime owns the
    // allocation; it is uninitialised, and every kernel writes before it reads.
    unsafe { ocl::core::create_buffer::<_, T>(context, MemFlags::READ_WRITE, len.max(1), None) }
        .map_err(|e| {
            if is_out_of_memory(&e) {
                out_of_memory(info.memory_bytes)
            } else {
                runtime(format!("clCreateBuffer for {what}"), &e)
            }
        })
}

impl Backend for OpenClDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn pi_chunk(&self) -> u64 {
        pi::chunk(&self.info)
    }

    fn pi_hits(&self, seed: u64, first: u64, count: u64) -> Result<u64> {
        guarded("pi", || {
            self.pi_launch().hits(&self.queue, seed, first, count)
        })
    }

    fn matmul(
        &self,
        a: &crate::dtype::FloatVec,
        b: &crate::dtype::FloatVec,
        c: &mut crate::dtype::FloatVec,
        (m, n, k): (usize, usize, usize),
        reps: usize,
        kernel: Option<&str>,
    ) -> Result<crate::backend::MatmulRuns> {
        self.no_kernel_choice(kernel, "gemm.h, its tiles chosen from the device's limits")?;
        guarded("matmul", || {
            super::matmul::matmul(self, &self.context, self.device, a, b, c, (m, n, k), reps)
        })
    }

    fn stream(
        &self,
        float: crate::dtype::Float,
        n: usize,
        times: usize,
    ) -> Result<crate::workloads::stream::StreamRaw> {
        guarded("stream", || {
            super::stream::run(&self.session()?, float, n, times)
        })
    }

    fn rng_fill(
        &self,
        spec: &crate::workloads::rng::RngSpec,
        first: u64,
        out: crate::workloads::rng::RngSlice<'_>,
    ) -> Result<()> {
        guarded("rng", || {
            super::rng::fill(&self.session()?, spec, first, out)
        })
    }

    fn rng_device_times(
        &self,
        spec: &crate::workloads::rng::RngSpec,
        n: usize,
        reps: usize,
    ) -> Result<Vec<f64>> {
        guarded("rng", || {
            super::rng::device_times(&self.session()?, spec, n, reps)
        })
    }

    fn map(
        &self,
        function: crate::workloads::map::MapFn,
        io: crate::workloads::map::MapIo<'_>,
    ) -> Result<crate::workloads::map::MapTiming> {
        guarded("map", || super::map::run(&self.session()?, function, io))
    }

    fn host_memory_kinds(&self) -> Vec<crate::workloads::transfer::HostMemory> {
        guarded("transfer", || {
            Ok(super::transfer::memory_kinds(&self.session()?))
        })
        .unwrap_or_else(|_| vec![crate::workloads::transfer::HostMemory::Pageable])
    }

    fn transfer(
        &self,
        direction: crate::workloads::transfer::Direction,
        memory: crate::workloads::transfer::HostMemory,
        bytes: usize,
        reps: usize,
    ) -> Result<Vec<f64>> {
        guarded("transfer", || {
            super::transfer::run(&self.session()?, direction, memory, bytes, reps)
        })
    }
}

/// For tests: OpenCL device 0, or `None` with the reason printed when none can be opened
/// and `GPUCALC_SKIP_OPENCL=1` allows that; otherwise a missing device fails.
#[cfg(test)]
pub(super) fn open_or_skip() -> Option<OpenClDevice> {
    use std::io::Write;
    match OpenClDevice::open(0) {
        Ok(device) => Some(device),
        Err(e) if std::env::var("GPUCALC_SKIP_OPENCL").as_deref() == Ok("1") => {
            // Straight to stderr, past the test harness's capture, so the skip is seen.
            let _ = writeln!(
                std::io::stderr(),
                "skipping OpenCL test (GPUCALC_SKIP_OPENCL=1): {e}"
            );
            None
        }
        Err(e) => panic!("no OpenCL device to test on: {e} (GPUCALC_SKIP_OPENCL=1 skips)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::opencl::program::Scalar;

    #[test]
    fn a_command_that_failed_on_the_device_is_an_error() {
        let Some(device) = open_or_skip() else {
            return;
        };
        let event = ocl::core::create_user_event(&device.context).unwrap();
        super::super::session::check_finished(&event, "nothing yet").unwrap();
        // SAFETY: a live user event; a negative status marks it failed.
        let rc = unsafe { ocl::core::ffi::clSetUserEventStatus(*event.as_ptr_ref(), -5) };
        assert_eq!(rc, 0);
        let err = super::super::session::check_finished(&event, "kernel gc_test")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "OpenCL error in kernel gc_test: CL_OUT_OF_RESOURCES (-5)"
        );
    }

    #[test]
    fn a_failed_build_carries_the_full_log() {
        let Some(device) = open_or_skip() else {
            return;
        };
        // `#line` markers, as `program::assemble` writes them, name the file in the log.
        let source = "#line 7 \"opencl/broken.cl\"\n\
                      __kernel void broken(__global int *out) { *out = not_declared_anywhere; }";
        let err = program::build(
            &device.context,
            device.device,
            &device.info,
            source,
            "-DX=1",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("CL_BUILD_PROGRAM_FAILURE (-11)"), "{err}");
        assert!(err.contains("options `-DX=1`; build log:\n"), "{err}");
        assert!(err.contains("not_declared_anywhere"), "{err}");
        assert!(err.contains("opencl/broken.cl:7"), "{err}");
    }

    #[test]
    fn the_shared_typed_bodies_build_for_each_type() {
        let Some(device) = open_or_skip() else {
            return;
        };
        let probe = "#if defined(GC_FP64)\n#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n#endif\n\
                     #include \"../common/stream.h\"\n\
                     #include \"../common/map.h\"\n\
                     #include \"../common/rng.h\"\n";
        let source = program::assemble_file("opencl/probe.cl", probe).unwrap();
        for scalar in [Scalar::F32, Scalar::F64] {
            if scalar == Scalar::F64 && !device.info.fp64 {
                continue;
            }
            let flags = BuildOptions::new().scalar(scalar).flags();
            if let Err(e) = program::build(
                &device.context,
                device.device,
                &device.info,
                &source,
                &flags,
            ) {
                panic!("{e}");
            }
        }
    }

    #[test]
    fn programs_are_built_once_per_options() {
        let Some(device) = open_or_skip() else {
            return;
        };
        let pi = BuildOptions::new();
        assert_eq!(
            device.program(&pi).unwrap().as_ptr(),
            device.program(&pi).unwrap().as_ptr()
        );
        let double = BuildOptions::new().scalar(Scalar::F64);
        match device.program(&double) {
            Ok(built) => {
                assert!(device.info.fp64);
                assert_eq!(built.as_ptr(), device.program(&double).unwrap().as_ptr());
                assert_ne!(built.as_ptr(), device.program(&pi).unwrap().as_ptr());
            }
            Err(e) => {
                assert!(!device.info.fp64);
                assert!(e.to_string().contains("no cl_khr_fp64"), "{e}");
            }
        }
    }

    #[test]
    fn an_impossible_buffer_is_out_of_memory() {
        let Some(device) = open_or_skip() else {
            return;
        };
        let err = device
            .buffer::<u64>("a huge array", usize::MAX / 16)
            .unwrap_err();
        assert!(matches!(err, Error::OutOfMemory { .. }), "{err}");
        assert!(err.to_string().starts_with("a huge array needs "), "{err}");
        assert!(device.buffer::<u32>("a small array", 1000).is_ok());
    }
}
