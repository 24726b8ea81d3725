//! [`OpenClDevice`]: one OpenCL device with its context, queue and built programs,
//! and the `pi` operation on it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ocl::core::{
    ArgVal, CommandQueue, Context, ContextProperties, DeviceId, Event, Kernel, KernelWorkGroupInfo,
    KernelWorkGroupInfoResult, Mem, MemFlags, OclPrm, Program,
};

use super::platform::{self, Found};
use super::program::{self, BuildOptions};
use super::status::{is_out_of_memory, runtime};
use crate::backend::Backend;
use crate::device::{DeviceInfo, DeviceType};
use crate::error::{Error, Result};

/// Largest work-group any gpucalc kernel is launched with (`GC_MAX_GROUP_SIZE`
/// in `kernels/common/portable.h`, which sizes the local scratch arrays).
const MAX_GROUP_SIZE: usize = 1024;

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

/// The `gc_pi_hits` kernel with its launch shape and its partial-sum buffer.
/// A kernel object's arguments are shared state, hence the mutex around it.
struct PiLaunch {
    kernel: Kernel,
    group_size: usize,
    groups: usize,
    partials: Mem,
    host: Vec<u64>,
    /// Most samples per launch: each work-item counts its hits in 32 bits, so at
    /// most 2^31 blocks (2^32 samples) per work-item.
    max_launch: u64,
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
    /// Opens device `index` of the `opencl:N` numbering and builds its kernels.
    pub(crate) fn open(index: usize) -> Result<OpenClDevice> {
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
            max_group_size,
            max_items_dim0,
        } = found.swap_remove(index);
        let properties = ContextProperties::new().platform(platform);
        let context = ocl::core::create_context(Some(&properties), &[device], None, None)
            .map_err(|e| runtime(format!("clCreateContext for {}", info.spec), &e))?;
        let queue = ocl::core::create_command_queue(&context, device, None)
            .map_err(|e| runtime("clCreateCommandQueue", &e))?;
        let programs = Mutex::new(HashMap::new());
        let pi = pi_launch(
            &Target {
                context: &context,
                device,
                info: &info,
                programs: &programs,
            },
            max_group_size.min(max_items_dim0),
        )?;
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
    #[allow(dead_code)] // pi builds through `open`; the array workloads call this
    pub(crate) fn program(&self, options: &BuildOptions) -> Result<Program> {
        self.target().program(options)
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
    #[allow(dead_code)] // the first users are the fp64 array workloads
    pub(crate) fn require_fp64(&self, what: &str) -> Result<()> {
        program::require_fp64(&self.info, what)
    }

    /// A device buffer of `len` elements of `T`; see [`buffer`].
    #[allow(dead_code)] // the first users are the array workloads
    pub(crate) fn buffer<T: OclPrm>(&self, what: &str, len: usize) -> Result<Mem> {
        buffer::<T>(&self.context, &self.info, self.max_alloc_bytes, what, len)
    }
}

/// What building for one device needs: its context, handle, description and program cache.
struct Target<'a> {
    context: &'a Context,
    device: DeviceId,
    info: &'a DeviceInfo,
    programs: &'a Mutex<HashMap<BuildOptions, Program>>,
}

impl Target<'_> {
    /// The program built with `options`, from the cache or built now and cached.
    fn program(&self, options: &BuildOptions) -> Result<Program> {
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
fn buffer<T: OclPrm>(
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

/// Builds the `pi` kernel and chooses its work-group size and group count.
fn pi_launch(target: &Target<'_>, device_group_limit: usize) -> Result<PiLaunch> {
    let program = target.program(&BuildOptions::new())?;
    let kernel = ocl::core::create_kernel(&program, "gc_pi_hits")
        .map_err(|e| runtime("clCreateKernel(gc_pi_hits)", &e))?;
    let kernel_limit = match ocl::core::get_kernel_work_group_info(
        &kernel,
        target.device,
        KernelWorkGroupInfo::WorkGroupSize,
    ) {
        Ok(KernelWorkGroupInfoResult::WorkGroupSize(size)) => size,
        Ok(_) => device_group_limit,
        Err(e) => return Err(runtime("clGetKernelWorkGroupInfo", &e)),
    };
    let multiple = match ocl::core::get_kernel_work_group_info(
        &kernel,
        target.device,
        KernelWorkGroupInfo::PreferredWorkGroupSizeMultiple,
    ) {
        Ok(KernelWorkGroupInfoResult::PreferredWorkGroupSizeMultiple(m)) => m,
        _ => 1,
    };
    let info = target.info;
    let group_size = choose_group_size(
        kernel_limit.min(device_group_limit),
        multiple,
        info.device_type,
    );
    let groups = choose_groups(info.device_type, info.compute_units, group_size);
    let partials = buffer::<u64>(
        target.context,
        info,
        u64::MAX,
        "the pi partial sums",
        groups,
    )?;
    Ok(PiLaunch {
        kernel,
        group_size,
        groups,
        partials,
        host: vec![0; groups],
        max_launch: ((groups * group_size) as u64) << 31,
    })
}

/// The work-group size for a kernel: a power of two, at most what the kernel and
/// device allow and [`MAX_GROUP_SIZE`], aiming at 256 work-items on GPUs (room for
/// several groups per compute unit) and the whole allowance on CPUs, where each
/// group runs as one vectorised loop; never below the preferred multiple if allowed.
pub(super) fn choose_group_size(
    limit: usize,
    preferred_multiple: usize,
    kind: DeviceType,
) -> usize {
    let target = match kind {
        DeviceType::Cpu => MAX_GROUP_SIZE,
        _ => 256.max(preferred_multiple),
    };
    let cap = limit.min(MAX_GROUP_SIZE).min(target).max(1);
    // The largest power of two not above `cap`.
    1 << (usize::BITS - 1 - cap.leading_zeros())
}

/// Groups per launch: enough to fill every compute unit several times over.
pub(super) fn choose_groups(kind: DeviceType, compute_units: u32, group_size: usize) -> usize {
    let units = compute_units.max(1) as usize;
    match kind {
        // Each CPU thread takes whole groups: a few per thread balances the load.
        DeviceType::Cpu => units * 4,
        // About 2048 resident work-items per compute unit.
        _ => units * (2048 / group_size).max(1),
    }
}

impl Backend for OpenClDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn pi_chunk(&self) -> u64 {
        // Tens of milliseconds per call: ~1e9 samples/s per CPU core, far more per GPU unit.
        let per_unit: u64 = match self.info.device_type {
            DeviceType::Cpu => 1 << 24,
            _ => 1 << 25,
        };
        u64::from(self.info.compute_units.max(1)) * per_unit
    }

    fn pi_hits(&self, seed: u64, first: u64, count: u64) -> Result<u64> {
        let mut pi = lock(&self.pi);
        let PiLaunch {
            kernel,
            group_size,
            groups,
            partials,
            host,
            max_launch,
        } = &mut *pi;
        let global = *groups * *group_size;
        let (mut done, mut hits) = (0u64, 0u64);
        while done < count {
            let n = (*max_launch & !1).max(2).min(count - done);
            let start = first + done;
            let args = [
                ArgVal::scalar(&seed),
                ArgVal::scalar(&start),
                ArgVal::scalar(&n),
                ArgVal::mem(partials),
            ];
            for (i, arg) in args.into_iter().enumerate() {
                ocl::core::set_kernel_arg(kernel, i as u32, arg)
                    .map_err(|e| runtime("clSetKernelArg(gc_pi_hits)", &e))?;
            }
            // SAFETY: every argument is set above; the launch is one-dimensional with a
            // global size that is a multiple of the local size, which the kernel and
            // device accept; `partials` holds one value per group.
            unsafe {
                ocl::core::enqueue_kernel(
                    &self.queue,
                    kernel,
                    1,
                    None,
                    &[global, 1, 1],
                    Some([*group_size, 1, 1]),
                    None::<&Event>,
                    None::<&mut Event>,
                )
            }
            .map_err(|e| runtime("clEnqueueNDRangeKernel(gc_pi_hits)", &e))?;
            // SAFETY: a blocking read of `groups` u64 values into a host slice of that
            // length; the buffer holds exactly that many.
            unsafe {
                ocl::core::enqueue_read_buffer(
                    &self.queue,
                    &*partials,
                    true,
                    0,
                    host.as_mut_slice(),
                    None::<&Event>,
                    None::<&mut Event>,
                )
            }
            .map_err(|e| runtime("reading the pi partial sums", &e))?;
            hits += host.iter().sum::<u64>();
            done += n;
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::reference_hits;
    use crate::backend::opencl::program::Scalar;

    /// OpenCL device 0, or `None` with the reason printed when none can be opened
    /// and `GPUCALC_SKIP_OPENCL=1` allows that; otherwise a missing device fails.
    fn device_or_skip() -> Option<OpenClDevice> {
        match OpenClDevice::open(0) {
            Ok(device) => Some(device),
            Err(e) if std::env::var("GPUCALC_SKIP_OPENCL").as_deref() == Ok("1") => {
                eprintln!("skipping OpenCL test (GPUCALC_SKIP_OPENCL=1): {e}");
                None
            }
            Err(e) => panic!("no OpenCL device to test on: {e} (GPUCALC_SKIP_OPENCL=1 skips)"),
        }
    }

    #[test]
    fn group_sizes_are_powers_of_two_within_limits() {
        assert_eq!(choose_group_size(4096, 8, DeviceType::Cpu), 1024);
        assert_eq!(choose_group_size(1024, 32, DeviceType::Gpu), 256);
        assert_eq!(choose_group_size(1024, 512, DeviceType::Gpu), 512);
        assert_eq!(choose_group_size(200, 32, DeviceType::Gpu), 128);
        assert_eq!(choose_group_size(0, 1, DeviceType::Accelerator), 1);
        assert_eq!(choose_groups(DeviceType::Cpu, 2, 1024), 8);
        assert_eq!(choose_groups(DeviceType::Gpu, 132, 256), 1056);
    }

    #[test]
    fn hits_at_any_offset_match_the_reference() {
        let Some(device) = device_or_skip() else {
            return;
        };
        // Blocks 2^32 - 5 .. 2^32 + 40 cross the change of counter word 1.
        let straddle = 2 * ((1u64 << 32) - 5);
        let ranges = [
            (0, 1),
            (0, 2),
            (0, 3),
            (2, 1),
            (10, 999),
            (4096, 65_537),
            (straddle, 90),
            (1 << 40, 1001),
            ((1 << 62) + 2, 77),
        ];
        for seed in [0u64, 42, (1 << 32) | 7, u64::MAX] {
            for (first, count) in ranges {
                assert_eq!(
                    device.pi_hits(seed, first, count).unwrap(),
                    reference_hits(seed, first, count),
                    "seed {seed} first {first} count {count}"
                );
            }
        }
    }

    #[test]
    fn work_split_over_many_launches_counts_the_same() {
        let Some(device) = device_or_skip() else {
            return;
        };
        let whole = device.pi_hits(9, 2, 123_457).unwrap();
        lock(&device.pi).max_launch = 1000;
        assert_eq!(device.pi_hits(9, 2, 123_457).unwrap(), whole);
        assert_eq!(whole, reference_hits(9, 2, 123_457));
    }

    #[test]
    fn a_failed_build_carries_the_full_log() {
        let Some(device) = device_or_skip() else {
            return;
        };
        let source = "__kernel void broken(__global int *out) { *out = not_declared_anywhere; }";
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
    }

    #[test]
    fn programs_are_built_once_per_options() {
        let Some(device) = device_or_skip() else {
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
        let Some(device) = device_or_skip() else {
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
