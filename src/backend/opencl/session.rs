//! What the array workloads (`stream`, `rng`, `map`, `transfer`) share: a
//! [`Session`] holds a profiling, in-order queue of its own on the device's
//! context for one workload call; kernels come with a launch shape chosen from
//! the device and the kernel; reads and writes are blocking and typed.
//!
//! Kernel calls are timed by the device's profiling counters (start to end of
//! the command), and by the host clock around enqueue and completion on a
//! runtime that gives no profiling information.

use std::ffi::c_void;
use std::ptr;
use std::time::Instant;

use ocl::core::ffi;
use ocl::core::{
    ArgVal, CommandQueue, CommandQueueProperties, Context, DeviceId, Event, Kernel,
    KernelWorkGroupInfo, KernelWorkGroupInfoResult, Mem, OclPrm, Program,
};

use super::device::OpenClDevice;
use super::pi::launch_shape;
use super::program::{BuildOptions, Scalar};
use super::status::{runtime, status_name};
use crate::backend::Backend;
use crate::device::{DeviceInfo, DeviceType};
use crate::dtype::Real;
use crate::error::Result;

#[cfg(test)]
thread_local! {
    /// Tests: the most elements per chunk on this thread, so that small arrays
    /// go through in several chunks.
    pub(super) static CHUNK_CAP: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    /// Tests: `GC_ILP` for the array kernels built on this thread, whatever
    /// the device (PoCL, a CPU device, otherwise builds only 1).
    pub(super) static FORCE_ILP: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
    /// Tests: the most groups a grid-stride launch on this thread gets, so
    /// that work-items take several trips (only for grid-stride kernels).
    pub(super) static GROUP_CAP: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// One workload call's view of an OpenCL device.
pub(super) struct Session<'a> {
    device: &'a OpenClDevice,
    context: &'a Context,
    id: DeviceId,
    queue: CommandQueue,
    max_alloc_bytes: u64,
}

impl<'a> Session<'a> {
    /// A session on `device` (whose context and handle are `context` and `id`,
    /// whose largest single allocation is `max_alloc_bytes`), with its own queue.
    pub(super) fn new(
        device: &'a OpenClDevice,
        context: &'a Context,
        id: DeviceId,
        max_alloc_bytes: u64,
    ) -> Result<Session<'a>> {
        let queue = profiling_queue(context, id)?;
        Ok(Session {
            device,
            context,
            id,
            queue,
            max_alloc_bytes,
        })
    }

    /// Another in-order profiling queue on the device (see `pipeline`).
    pub(super) fn new_queue(&self) -> Result<CommandQueue> {
        profiling_queue(self.context, self.id)
    }

    /// The device's description.
    pub(super) fn info(&self) -> &DeviceInfo {
        self.device.info()
    }

    /// The device's context.
    pub(super) fn context(&self) -> &Context {
        self.context
    }

    /// The session's queue.
    pub(super) fn queue(&self) -> &CommandQueue {
        &self.queue
    }

    /// Refuses double-precision work (`what`) on a device without fp64.
    pub(super) fn require_fp64(&self, what: &str) -> Result<()> {
        self.device.require_fp64(what)
    }

    /// A device buffer of `len` elements of `T` (see `OpenClDevice::buffer`).
    pub(super) fn buffer<T: OclPrm>(&self, what: &str, len: usize) -> Result<Mem> {
        self.device.buffer::<T>(what, len)
    }

    /// Elements of `T` per chunk when `buffers` buffers of that many elements
    /// must exist at once: within the largest single allocation, and within a
    /// quarter of the device's memory in all (others may be using the rest).
    /// A CPU device's buffers are host memory, so for one that memory is what
    /// the host has left now, beside the arrays the job already holds there.
    pub(super) fn chunk_elements<T>(&self, buffers: usize) -> usize {
        let size = std::mem::size_of::<T>() as u64;
        let memory = crate::device::usable_memory(self.info())
            .map_or(u64::MAX, |(bytes, _)| bytes / 4 / buffers.max(1) as u64);
        // At least a MiB a buffer, whatever room is left: pieces of a few
        // elements would crawl, and a MiB is small beside the arrays the job
        // brings, which were held to the room up front (`check_fits`).
        let bytes = self.max_alloc_bytes.min(memory.max(1 << 20)).max(size);
        let elements = usize::try_from(bytes / size).unwrap_or(usize::MAX);
        #[cfg(test)]
        let elements = elements.min(CHUNK_CAP.with(std::cell::Cell::get));
        elements
    }

    /// Elements each work-item takes per trip in the array kernels (`GC_ILP`,
    /// kernels/common/typed.h): one on a CPU device (CPU runtimes vectorize
    /// across work-items, and PoCL's stream bandwidth fell by up to 60% with
    /// four), four elsewhere, for more loads in flight.
    pub(super) fn ilp(&self) -> u32 {
        let ilp = if self.info().device_type == DeviceType::Cpu {
            1
        } else {
            4
        };
        #[cfg(test)]
        let ilp = FORCE_ILP.with(std::cell::Cell::get).unwrap_or(ilp);
        ilp
    }

    /// Groups for an array kernel over `n` elements: one work-item per
    /// [`Session::ilp`] elements, so that each trip's elements all exist.
    pub(super) fn array_groups(&self, launch: &Launch, n: u64) -> usize {
        launch.groups_for(n.div_ceil(u64::from(self.ilp())))
    }

    /// The build options of the array kernels for element type `scalar`: on a
    /// CPU device with `GC_SCALAR_STORES` (see kernels/common/rng.h), and
    /// [`Session::ilp`] elements per work-item per trip.
    pub(super) fn options(&self, scalar: Scalar) -> BuildOptions {
        let mut options = BuildOptions::new()
            .scalar(scalar)
            .define("GC_ILP", self.ilp());
        if self.info().device_type == DeviceType::Cpu {
            options = options.define("GC_SCALAR_STORES", 1);
        }
        options
    }

    /// Kernel `name` of the program built with `options`, with its launch shape.
    pub(super) fn kernel(&self, options: &BuildOptions, name: &str) -> Result<Launch> {
        let (kernel, kernel_limit) =
            kernel_with_limit(&self.device.program(options)?, self.id, name)?;
        let info = self.info();
        let (group_size, fill_groups) = launch_shape(&kernel, kernel_limit, self.id, info);
        Ok(Launch {
            kernel,
            name: name.to_string(),
            shape: Shape {
                group_size,
                fill_groups,
                cpu: info.device_type == DeviceType::Cpu,
            },
        })
    }

    /// Copies `data` into `buffer` from element `offset` on; returns when done.
    pub(super) fn write<T: OclPrm>(&self, buffer: &Mem, offset: usize, data: &[T]) -> Result<()> {
        // SAFETY: a blocking write: `data` is only read, and only until the call
        // returns; the caller's buffer holds `offset + data.len()` elements.
        unsafe {
            ocl::core::enqueue_write_buffer(
                &self.queue,
                buffer,
                true,
                offset,
                data,
                None::<&Event>,
                None::<&mut Event>,
            )
        }
        .map_err(|e| runtime("clEnqueueWriteBuffer", &e))
    }

    /// Copies `out.len()` elements of `buffer` from element `offset` on into
    /// `out`; returns when done.
    pub(super) fn read<T: OclPrm>(&self, buffer: &Mem, offset: usize, out: &mut [T]) -> Result<()> {
        // SAFETY: a blocking read into `out`, which outlives the call; the caller's
        // buffer holds `offset + out.len()` elements.
        unsafe {
            ocl::core::enqueue_read_buffer(
                &self.queue,
                buffer,
                true,
                offset,
                out,
                None::<&Event>,
                None::<&mut Event>,
            )
        }
        .map_err(|e| runtime("clEnqueueReadBuffer", &e))
    }

    /// Waits for everything enqueued so far.
    pub(super) fn finish(&self) -> Result<()> {
        ocl::core::finish(&self.queue).map_err(|e| runtime("clFinish", &e))
    }
}

/// The element types of the array kernels (`T` in kernels/common/stream.h and map.h).
pub(super) trait Element: OclPrm + Real {
    /// The type's kernels: `-DT=float -DGC_SFX=f32`, or the double ones.
    const SCALAR: Scalar;
    /// The value as a kernel argument of type `T`.
    fn arg(self) -> Arg<'static>;
}

impl Element for f32 {
    const SCALAR: Scalar = Scalar::F32;
    fn arg(self) -> Arg<'static> {
        Arg::F32(self)
    }
}

impl Element for f64 {
    const SCALAR: Scalar = Scalar::F64;
    fn arg(self) -> Arg<'static> {
        Arg::F64(self)
    }
}

/// An in-order queue with profiling on `id` in `context`.
fn profiling_queue(context: &Context, id: DeviceId) -> Result<CommandQueue> {
    ocl::core::create_command_queue(context, id, Some(CommandQueueProperties::PROFILING_ENABLE))
        .map_err(|e| runtime("clCreateCommandQueue (profiling)", &e))
}

/// One argument of a kernel call.
#[derive(Clone, Copy)]
pub(super) enum Arg<'a> {
    /// A device buffer.
    Mem(&'a Mem),
    /// `ulong`.
    U64(u64),
    /// `uint`.
    U32(u32),
    /// `float`.
    F32(f32),
    /// `double`.
    F64(f64),
}

/// Most work-items per launch; grid-stride loops cover the rest.
const MAX_WORK_ITEMS: u64 = 1 << 30;

/// Items each work-item of a reduction takes on a CPU device (see
/// [`Launch::reduction_groups`]).
const CPU_ITEMS_PER_REDUCING_ITEM: u64 = 16;

/// A kernel's work-group size and what its group counts follow from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape {
    /// Work-items per group: a power of two (the dot reduction needs one).
    pub(super) group_size: usize,
    /// Groups that fill the device (`pi::choose_groups`).
    pub(super) fill_groups: usize,
    /// Whether the device is a CPU.
    pub(super) cpu: bool,
}

impl Shape {
    /// Groups for a grid-stride kernel over `items` items: one item per
    /// work-item (at most [`MAX_WORK_ITEMS`]), at least one group.
    ///
    /// One item each rather than a grid that just fills the device: on CPU
    /// devices (PoCL) a work-group runs as a loop over its work-items, each
    /// running its grid-stride loop to the end, so a small grid walks memory
    /// with a stride of the grid size; BabelStream: 1.6 against 13 GB/s for
    /// copy on PoCL. GPUs run either shape at full bandwidth.
    pub(super) fn groups_for(&self, items: u64) -> usize {
        let items = items.clamp(1, MAX_WORK_ITEMS);
        items.div_ceil(self.group_size as u64) as usize
    }

    /// Groups for a reduction over `items` items that leaves one partial sum
    /// per group. On a GPU, enough groups to fill it (fewer for few items). On a
    /// CPU device each level of a group's tree is a loop over all its
    /// work-items, so one item each would spend most of the time in the trees:
    /// about [`CPU_ITEMS_PER_REDUCING_ITEM`] items per work-item instead.
    pub(super) fn reduction_groups(&self, items: u64) -> usize {
        if self.cpu {
            self.groups_for(items.div_ceil(CPU_ITEMS_PER_REDUCING_ITEM))
        } else {
            self.groups_for(items).min(self.fill_groups.max(1))
        }
    }
}

/// A kernel with its launch shape.
pub(super) struct Launch {
    kernel: Kernel,
    name: String,
    pub(super) shape: Shape,
}

impl Launch {
    /// The kernel's name.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Work-items per group.
    pub(super) fn group_size(&self) -> usize {
        self.shape.group_size
    }

    /// See [`Shape::groups_for`].
    pub(super) fn groups_for(&self, items: u64) -> usize {
        let groups = self.shape.groups_for(items);
        #[cfg(test)]
        let groups = groups.min(GROUP_CAP.with(std::cell::Cell::get));
        groups
    }

    /// See [`Shape::reduction_groups`].
    pub(super) fn reduction_groups(&self, items: u64) -> usize {
        self.shape.reduction_groups(items)
    }

    /// Runs the kernel with `args` over `groups` groups on the session's
    /// queue, waits for it, and returns its seconds (see the module docs).
    ///
    /// # Safety
    /// As [`Launch::enqueue`].
    pub(super) unsafe fn run(
        &self,
        session: &Session<'_>,
        args: &[Arg<'_>],
        groups: usize,
    ) -> Result<f64> {
        let start = Instant::now();
        // SAFETY: the caller vouches for `args` and `groups`; the wait below
        // keeps every buffer in use until the kernel is done.
        let event = unsafe { self.enqueue(&session.queue, args, groups)? };
        ocl::core::wait_for_event(&event)
            .map_err(|e| runtime(format!("waiting for {}", self.name), &e))?;
        let host = start.elapsed().as_secs_f64();
        Ok(profiled_seconds(&event).unwrap_or(host))
    }

    /// Enqueues the kernel with `args` over `groups` groups on `queue`; the
    /// event marks its completion. Arguments are taken at the call.
    ///
    /// # Safety
    /// `args` are the kernel's parameters in order, each of its type, and
    /// every buffer holds every element the kernel writes or reads with these
    /// arguments over `groups` groups of [`Launch::group_size`] work-items.
    pub(super) unsafe fn enqueue(
        &self,
        queue: &CommandQueue,
        args: &[Arg<'_>],
        groups: usize,
    ) -> Result<Event> {
        for (i, arg) in args.iter().enumerate() {
            let value = match arg {
                Arg::Mem(m) => ArgVal::mem(m),
                Arg::U64(v) => ArgVal::scalar(v),
                Arg::U32(v) => ArgVal::scalar(v),
                Arg::F32(v) => ArgVal::scalar(v),
                Arg::F64(v) => ArgVal::scalar(v),
            };
            ocl::core::set_kernel_arg(&self.kernel, i as u32, value)
                .map_err(|e| runtime(format!("clSetKernelArg({}, {i})", self.name), &e))?;
        }
        let global = groups * self.shape.group_size;
        let mut event = Event::null();
        // SAFETY: the caller vouches for the arguments and the buffers' sizes
        // (see `# Safety`); the launch is one-dimensional with a local size the
        // kernel and device accept and a global size that is a multiple of it.
        unsafe {
            ocl::core::enqueue_kernel(
                queue,
                &self.kernel,
                1,
                None,
                &[global, 1, 1],
                Some([self.shape.group_size, 1, 1]),
                None::<&Event>,
                Some(&mut event),
            )
        }
        .map_err(|e| runtime(format!("clEnqueueNDRangeKernel({})", self.name), &e))?;
        Ok(event)
    }
}

/// Kernel `name` of `program`, and the largest work-group the kernel can be
/// launched with on device `id`.
pub(super) fn kernel_with_limit(
    program: &Program,
    id: DeviceId,
    name: &str,
) -> Result<(Kernel, usize)> {
    let kernel = ocl::core::create_kernel(program, name)
        .map_err(|e| runtime(format!("clCreateKernel({name})"), &e))?;
    let limit = match ocl::core::get_kernel_work_group_info(
        &kernel,
        id,
        KernelWorkGroupInfo::WorkGroupSize,
    ) {
        Ok(KernelWorkGroupInfoResult::WorkGroupSize(size)) => size,
        Ok(_) => usize::MAX,
        Err(e) => return Err(runtime(format!("clGetKernelWorkGroupInfo({name})"), &e)),
    };
    Ok((kernel, limit))
}

/// The status a finished command ended with, as an error if it failed: a
/// command that fails on the device gets a negative execution status, which
/// `clFinish` need not report (`clWaitForEvents` does).
pub(super) fn check_finished(event: &Event, what: &str) -> Result<()> {
    let mut status: ffi::cl_int = 0;
    // SAFETY: `event` is a live event; the output is one cl_int, and no size
    // is asked back.
    let rc = unsafe {
        ffi::clGetEventInfo(
            *event.as_ptr_ref(),
            ffi::CL_EVENT_COMMAND_EXECUTION_STATUS,
            std::mem::size_of::<ffi::cl_int>(),
            &mut status as *mut ffi::cl_int as *mut c_void,
            ptr::null_mut(),
        )
    };
    let failed = |call: String, code| crate::error::Error::Runtime {
        backend: crate::error::BackendKind::OpenCl,
        call,
        message: status_name(code),
    };
    if rc != 0 {
        return Err(failed(format!("clGetEventInfo (status of {what})"), rc));
    }
    if status < 0 {
        return Err(failed(what.to_string(), status));
    }
    Ok(())
}

/// Start to end of a finished command by the device's clock, if the runtime says.
pub(super) fn profiled_seconds(event: &Event) -> Option<f64> {
    let query = |param| {
        let mut ns: u64 = 0;
        // SAFETY: `event` is a live event of a finished command on a profiling
        // queue; the output is one cl_ulong, and no size is asked back.
        let status = unsafe {
            ffi::clGetEventProfilingInfo(
                *event.as_ptr_ref(),
                param,
                std::mem::size_of::<u64>(),
                &mut ns as *mut u64 as *mut c_void,
                ptr::null_mut(),
            )
        };
        (status == 0).then_some(ns)
    };
    let start = query(ffi::CL_PROFILING_COMMAND_START)?;
    let end = query(ffi::CL_PROFILING_COMMAND_END)?;
    (end > start).then(|| (end - start) as f64 * 1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_stride_kernels_get_one_item_per_work_item() {
        let gpu = Shape {
            group_size: 256,
            fill_groups: 1056,
            cpu: false,
        };
        assert_eq!(gpu.groups_for(0), 1);
        assert_eq!(gpu.groups_for(1), 1);
        assert_eq!(gpu.groups_for(257), 2);
        assert_eq!(gpu.groups_for(1 << 25), 1 << 17);
        assert_eq!(gpu.groups_for(u64::MAX), (1 << 30) / 256);
        assert_eq!(gpu.reduction_groups(1000), 4);
        assert_eq!(gpu.reduction_groups(1 << 25), 1056);
    }

    #[test]
    fn reductions_on_cpus_take_several_items_per_work_item() {
        let cpu = Shape {
            group_size: 1024,
            fill_groups: 8,
            cpu: true,
        };
        assert_eq!(cpu.reduction_groups(1), 1);
        assert_eq!(cpu.reduction_groups(16 * 1024), 1);
        assert_eq!(cpu.reduction_groups(16 * 1024 + 1), 2);
        assert_eq!(cpu.reduction_groups(1 << 25), 2048);
    }
}
