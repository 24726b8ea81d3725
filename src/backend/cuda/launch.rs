//! What the CUDA workloads share: one GPU's context and kernels ([`Gpu`]), launch
//! shapes and arguments ([`Kernel`], [`Arg`]), memory checks and chunk sizes.
//!
//! A [`Gpu`] exists only while the device's context is current on the calling
//! thread (`CudaDevice::with_gpu`); everything made from it (streams, events,
//! buffers) keeps the context alive and may outlive it.

use std::ffi::c_void;
use std::sync::Arc;

use super::device::allocate;
use super::driver::{Context, Current, Function};
use super::memory::{PinnedBuffer, Plain};
use super::pi::LaunchConfig;
use super::status::DriverError;
use super::stream::{DeviceBuffer, Event, Stream};
use crate::device::DeviceInfo;
use crate::dtype::{FloatVec, Real};
use crate::error::{Error, Result};

/// One GPU, its context current on this thread: what a workload needs to run there.
pub(crate) struct Gpu<'a> {
    /// The GPU's primary context.
    pub(crate) context: &'a Arc<Context>,
    /// Proof that the context is current.
    pub(crate) current: &'a Current<'a>,
    /// The `gpucalc devices` row (name, multiprocessors).
    pub(crate) info: &'a DeviceInfo,
    /// Finds a kernel by name in the embedded modules.
    pub(crate) lookup: &'a dyn Fn(&'static str) -> Result<Function>,
}

impl Gpu<'_> {
    /// The kernel `name`, with the launch shape the occupancy API gives it here.
    pub(crate) fn kernel(&self, name: &'static str) -> Result<Kernel> {
        let function = (self.lookup)(name)?;
        let shape = LaunchConfig::for_kernel(&function, self.current, self.info.compute_units)
            .map_err(|e| e.during(format!("occupancy of kernel {name}")))?;
        Ok(Kernel { function, shape })
    }

    /// A new stream.
    pub(crate) fn stream(&self) -> Result<Stream> {
        Stream::new(self.context, self.current).map_err(|e| e.during("cuStreamCreate"))
    }

    /// A new timing event.
    pub(crate) fn event(&self) -> Result<Event> {
        Event::new(self.context, self.current).map_err(|e| e.during("cuEventCreate"))
    }

    /// Free device memory, in bytes.
    pub(crate) fn free_memory(&self) -> Result<u64> {
        let (free, _) = self
            .context
            .memory_info(self.current)
            .map_err(|e| e.during("cuMemGetInfo"))?;
        Ok(free)
    }

    /// The device as error messages name it: `cuda:0 (NVIDIA H100 80GB HBM3)`.
    pub(crate) fn name(&self) -> String {
        format!("{} ({})", self.info.spec, self.info.name)
    }

    /// Refuses with [`Error::OutOfMemory`] a job needing more than the free device memory.
    pub(crate) fn ensure_fits(&self, what: &str, needed: u64) -> Result<()> {
        let free = self.free_memory()?;
        if needed > free {
            return Err(Error::OutOfMemory {
                what: what.to_string(),
                device: self.name(),
                needed,
                available: free,
            });
        }
        Ok(())
    }

    /// `len` values of device memory for `what` (refused when they do not fit).
    pub(crate) fn alloc<T: Plain>(&self, len: usize, what: &str) -> Result<DeviceBuffer<T>> {
        allocate(self.context, self.current, len, what, &self.name())
    }

    /// `len` values of page-locked host memory for `what`.
    pub(crate) fn pinned<T: Plain>(&self, len: usize, what: &str) -> Result<PinnedBuffer<T>> {
        PinnedBuffer::new(self.context, self.current, len).map_err(|e| {
            let bytes = len.saturating_mul(std::mem::size_of::<T>());
            e.during(format!("cuMemHostAlloc of {bytes} bytes for {what}"))
        })
    }
}

/// Elements per chunk when `buffers` device buffers of `size`-byte elements
/// carry `total` elements: at most `cap_bytes` per buffer, and all buffers
/// together within half the free device memory (the rest is left to the
/// driver and other programs). 0 when not even one element fits.
pub(crate) fn chunk_len(
    total: usize,
    size: usize,
    buffers: usize,
    cap_bytes: usize,
    free: u64,
) -> usize {
    let budget = free / 2 / (buffers * size) as u64;
    total
        .min(cap_bytes / size)
        .min(usize::try_from(budget).unwrap_or(usize::MAX))
}

/// One kernel argument, by value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg {
    /// `unsigned int`.
    U32(u32),
    /// `unsigned long long`, or a device pointer.
    U64(u64),
    /// `float`.
    F32(f32),
    /// `double`.
    F64(f64),
}

/// Records `stop` after the work queued on `stream`, then waits for the
/// stream whatever the record did, so no queued kernel or copy outlives the
/// buffers it uses (as [`DeviceBuffer`]'s drop relies on). The wait's error
/// (a kernel fault, named by `fault`) comes first, then the record's.
pub(crate) fn stop_and_wait(
    stream: &Stream,
    stop: &Event,
    fault: impl FnOnce(DriverError) -> Error,
) -> Result<()> {
    let recorded = stop.record(stream);
    stream.synchronize().map_err(fault)?;
    recorded.map_err(|e| e.during("cuEventRecord"))
}

/// `cuLaunchKernel`'s parameter array: a pointer to each of `values`, valid
/// while `values` is (the driver copies the values at launch).
pub(crate) fn param_pointers(values: &mut [Arg]) -> Vec<*mut c_void> {
    values
        .iter_mut()
        .map(|arg| match arg {
            Arg::U32(v) => (v as *mut u32).cast::<c_void>(),
            Arg::U64(v) => (v as *mut u64).cast::<c_void>(),
            Arg::F32(v) => (v as *mut f32).cast::<c_void>(),
            Arg::F64(v) => (v as *mut f64).cast::<c_void>(),
        })
        .collect()
}

impl<T: Plain> From<&DeviceBuffer<T>> for Arg {
    /// The buffer's device address.
    fn from(buffer: &DeviceBuffer<T>) -> Arg {
        Arg::U64(buffer.device_ptr())
    }
}

/// A kernel and its launch shape on this GPU.
pub(crate) struct Kernel {
    function: Function,
    shape: LaunchConfig,
}

impl Kernel {
    /// The kernel's name.
    pub(crate) fn name(&self) -> &'static str {
        self.function.name()
    }

    /// Threads per block: a power of two, 32 ..= 1024.
    pub(crate) fn block(&self) -> u32 {
        self.shape.block
    }

    /// Blocks for `items` work-items: enough to fill the GPU, fewer for small jobs
    /// (the kernels loop over whatever the grid does not cover).
    pub(crate) fn grid_for(&self, items: u64) -> u32 {
        self.shape.grid_for(items)
    }

    /// Launches `grid` blocks on `stream`.
    ///
    /// # Safety
    /// `args` must match the kernel's parameters one for one, each of exactly the
    /// declared type, and every device pointer among them must be valid for what
    /// the kernel does with it until the launch has completed.
    pub(crate) unsafe fn launch(&self, stream: &Stream, grid: u32, args: &[Arg]) -> Result<()> {
        let mut values: Vec<Arg> = args.to_vec();
        let mut params = param_pointers(&mut values);
        // SAFETY: each pointer in `params` points into `values`, alive across the call
        // (the driver copies the values at launch); the caller vouches that they match
        // the kernel's parameters and that the device pointers are valid.
        unsafe {
            self.function
                .launch(stream, grid, self.shape.block, &mut params)
        }
        .map_err(|e| e.during(format!("launching kernel {}", self.name())))
    }

    /// The error for a fault of this kernel, seen when waiting on its stream.
    pub(crate) fn fault(&self, grid: u32) -> impl Fn(DriverError) -> Error + '_ {
        move |e| {
            e.during(format!(
                "kernel {} (grid {grid} x block {})",
                self.name(),
                self.block()
            ))
        }
    }
}

/// The element types the GPU kernels come in, with their kernels' names.
pub(crate) trait GpuFloat: Real + Plain {
    /// `gc_stream_{init,copy,mul,add,triad,dot}` for this type.
    const STREAM_KERNELS: [&'static str; 6];
    /// `gc_map` for this type.
    const MAP_KERNEL: &'static str;
    /// `gc_rng_uniform` for this type.
    const UNIFORM_KERNEL: &'static str;
    /// The value as a kernel argument.
    fn arg(self) -> Arg;
    /// A host array of this type as a [`FloatVec`].
    fn into_vec(values: Vec<Self>) -> FloatVec;
}

impl GpuFloat for f32 {
    const STREAM_KERNELS: [&'static str; 6] = [
        "gc_stream_init_f32",
        "gc_stream_copy_f32",
        "gc_stream_mul_f32",
        "gc_stream_add_f32",
        "gc_stream_triad_f32",
        "gc_stream_dot_f32",
    ];
    const MAP_KERNEL: &'static str = "gc_map_f32";
    const UNIFORM_KERNEL: &'static str = "gc_rng_uniform_f32";
    fn arg(self) -> Arg {
        Arg::F32(self)
    }
    fn into_vec(values: Vec<f32>) -> FloatVec {
        FloatVec::F32(values)
    }
}

impl GpuFloat for f64 {
    const STREAM_KERNELS: [&'static str; 6] = [
        "gc_stream_init_f64",
        "gc_stream_copy_f64",
        "gc_stream_mul_f64",
        "gc_stream_add_f64",
        "gc_stream_triad_f64",
        "gc_stream_dot_f64",
    ];
    const MAP_KERNEL: &'static str = "gc_map_f64";
    const UNIFORM_KERNEL: &'static str = "gc_rng_uniform_f64";
    fn arg(self) -> Arg {
        Arg::F64(self)
    }
    fn into_vec(values: Vec<f64>) -> FloatVec {
        FloatVec::F64(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_the_cap_and_half_the_free_memory() {
        // 1 GiB free, two buffers of f32: each may take 128 Mi elements, capped at 64 MiB.
        assert_eq!(chunk_len(1 << 40, 4, 2, 64 << 20, 1 << 30), 16 << 20);
        assert_eq!(chunk_len(1000, 4, 2, 64 << 20, 1 << 30), 1000);
        assert_eq!(
            chunk_len(1 << 40, 8, 4, usize::MAX, 1 << 20),
            (1 << 20) / 2 / 32
        );
        assert_eq!(chunk_len(10, 8, 1, 1 << 20, 15), 0);
    }
}
