//! `map` on CUDA: pieces of the input through the GPU on two streams, so copies overlap the kernels.
//!
//! Each of two slots owns a stream, a page-locked host buffer and a device
//! buffer of one piece. A slot's round: the host copies a piece of the input
//! into the page-locked buffer; the stream copies it to the device, runs
//! `gc_map` in place between two timing events, copies the result back and
//! records a `done` event. While one slot's stream works, the host serves the
//! other slot (results out, next input in), and the two streams' copies run in
//! both directions of the bus at once. `kernel_s` adds up the event times of
//! the kernels alone.

use std::ops::Range;

use rayon::prelude::*;

use super::device::CudaDevice;
use super::launch::{chunk_len, stop_and_wait, Arg, Gpu, GpuFloat, Kernel};
use super::memory::PinnedBuffer;
use super::stream::{DeviceBuffer, Event, Stream};
use crate::dtype::Float;
use crate::error::{Error, Result};
use crate::workloads::map::{MapFn, MapIo, MapTiming};

/// The largest piece, in bytes; each of the two slots holds one on the host and one on the device.
pub(crate) const CHUNK_BYTES: usize = 64 << 20;
/// Pieces are at least this large (unless the input is smaller), so per-piece costs stay small.
const MIN_CHUNK_BYTES: usize = 4 << 20;
/// Pieces in flight at once.
const SLOTS: usize = 2;

/// `output[i] = function(input[i])` through pieces of at most `cap_bytes`.
pub(crate) fn map(
    gpu: &Gpu<'_>,
    function: MapFn,
    io: MapIo<'_>,
    cap_bytes: usize,
) -> Result<MapTiming> {
    match io {
        MapIo::F32(input, output) => run::<f32>(gpu, function, input, output, cap_bytes),
        MapIo::F64(input, output) => run::<f64>(gpu, function, input, output, cap_bytes),
    }
}

fn run<T: GpuFloat>(
    gpu: &Gpu<'_>,
    function: MapFn,
    input: &[T],
    output: &mut [T],
    cap_bytes: usize,
) -> Result<MapTiming> {
    // `workloads::map::map` checks that the lengths match.
    let n = input.len();
    if n == 0 {
        return Ok(MapTiming::default());
    }
    let kernel = gpu.kernel(T::MAP_KERNEL)?;
    let size = std::mem::size_of::<T>();
    // Eight pieces or more where they stay above the minimum, for overlap.
    let wanted = (n / 8).max(MIN_CHUNK_BYTES / size).min(n);
    let free = gpu.free_memory()?;
    let chunk = chunk_len(wanted, size, SLOTS, cap_bytes, free);
    if chunk == 0 {
        return Err(Error::OutOfMemory {
            what: "the device memory for map's buffers".to_string(),
            device: gpu.name(),
            needed: (2 * SLOTS * size) as u64,
            available: free,
        });
    }
    let pieces = n.div_ceil(chunk);
    let mut slots = (0..SLOTS.min(pieces))
        .map(|_| Slot::new(gpu, chunk))
        .collect::<Result<Vec<Slot<T>>>>()?;
    let mut kernel_s = 0.0;
    let ranges = (0..pieces).map(|i| i * chunk..n.min((i + 1) * chunk));
    let count = slots.len();
    for (i, range) in ranges.enumerate() {
        let slot = &mut slots[i % count];
        kernel_s += slot.finish(&kernel, output)?;
        slot.start(&kernel, function, input, range)?;
    }
    // The slots in the order their last pieces went in.
    for i in pieces..pieces + count {
        kernel_s += slots[i % count].finish(&kernel, output)?;
    }
    Ok(MapTiming { kernel_s })
}

/// One piece in flight: its stream, events and buffers.
struct Slot<T: GpuFloat> {
    stream: Stream,
    start: Event,
    stop: Event,
    done: Event,
    host: PinnedBuffer<T>,
    device: DeviceBuffer<T>,
    /// The grid and the range of the piece queued and not yet collected.
    pending: Option<(u32, Range<usize>)>,
}

impl<T: GpuFloat> Slot<T> {
    fn new(gpu: &Gpu<'_>, chunk: usize) -> Result<Slot<T>> {
        Ok(Slot {
            stream: gpu.stream()?,
            start: gpu.event()?,
            stop: gpu.event()?,
            done: gpu.event()?,
            host: gpu.pinned(chunk, "map's staging buffers")?,
            device: gpu.alloc(chunk, "one of map's device buffers")?,
            pending: None,
        })
    }

    /// Queues `input[range]`: copy in, kernel between the timing events, copy out.
    fn start(
        &mut self,
        kernel: &Kernel,
        function: MapFn,
        input: &[T],
        range: Range<usize>,
    ) -> Result<()> {
        debug_assert!(self.pending.is_none());
        let len = range.len();
        copy_parallel(&mut self.host[..len], &input[range.clone()]);
        let grid = kernel.grid_for(len as u64);
        let copy = |e: super::status::DriverError| e.during("cuMemcpyAsync (map's pieces)");
        // SAFETY: the host buffer is neither read nor written until `finish` has
        // waited for `done`, recorded after both copies (and `Drop` waits for the
        // stream on every other path).
        unsafe {
            self.stream
                .copy_to_device_async(&self.host[..len], &self.device, 0)
        }
        .map_err(copy)?;
        self.pending = Some((grid, range));
        self.start
            .record(&self.stream)
            .map_err(|e| e.during("cuEventRecord"))?;
        let args = [
            Arg::from(&self.device),
            Arg::from(&self.device),
            Arg::U64(len as u64),
            Arg::U32(function.code()),
        ];
        // SAFETY: gc_map_T(const T *x, T *y, u64 n, u32 code) maps x[0 .. n] into
        // y[0 .. n]; x and y are the slot's device buffer (the kernel reads each
        // element before writing it, so in place is fine), which holds chunk >= n
        // values of T and outlives the launch (`finish` or `Drop` waits for it).
        unsafe { kernel.launch(&self.stream, grid, &args)? };
        self.stop
            .record(&self.stream)
            .map_err(|e| e.during("cuEventRecord"))?;
        // SAFETY: as for the copy in above.
        unsafe {
            self.stream
                .copy_from_device_async(&self.device, 0, &mut self.host[..len])
        }
        .map_err(copy)?;
        self.done
            .record(&self.stream)
            .map_err(|e| e.during("cuEventRecord"))
    }

    /// Waits for the queued piece, if any, and copies its result into `output`;
    /// returns its kernel's seconds.
    fn finish(&mut self, kernel: &Kernel, output: &mut [T]) -> Result<f64> {
        let Some((grid, range)) = self.pending.take() else {
            return Ok(0.0);
        };
        self.done.synchronize().map_err(|e| {
            e.during(format!(
                "kernel {} (grid {grid} x block {}) or the copies around it",
                kernel.name(),
                kernel.block()
            ))
        })?;
        let seconds = self
            .start
            .elapsed_until(&self.stop)
            .map_err(|e| e.during("cuEventElapsedTime"))?
            .as_secs_f64();
        let len = range.len();
        copy_parallel(&mut output[range], &self.host[..len]);
        Ok(seconds)
    }
}

impl<T: GpuFloat> Drop for Slot<T> {
    fn drop(&mut self) {
        // The buffers drop next: nothing queued may still use them. A fault was
        // reported where it happened; here there is nothing left to tell.
        let _ = self.stream.synchronize();
    }
}

/// `target.copy_from_slice(source)`, on all cores for large pieces.
fn copy_parallel<T: GpuFloat>(target: &mut [T], source: &[T]) {
    const TASK: usize = 1 << 18;
    if target.len() <= TASK {
        target.copy_from_slice(source);
    } else {
        target
            .par_chunks_mut(TASK)
            .zip(source.par_chunks(TASK))
            .for_each(|(t, s)| t.copy_from_slice(s));
    }
}

/// Seconds for each of `reps` runs of `gc_map` over `n` device-resident elements
/// (uniform random inputs in [0, 1)), out of place.
fn device_seconds<T: GpuFloat>(
    gpu: &Gpu<'_>,
    function: MapFn,
    n: usize,
    reps: usize,
) -> Result<Vec<f64>> {
    let kernel = gpu.kernel(T::MAP_KERNEL)?;
    let uniform = gpu.kernel(T::UNIFORM_KERNEL)?;
    let size = std::mem::size_of::<T>() as u64;
    gpu.ensure_fits("map's two arrays", 2 * n as u64 * size)?;
    let x = gpu.alloc::<T>(n, "map's input")?;
    let y = gpu.alloc::<T>(n, "map's output")?;
    let stream = gpu.stream()?;
    let (start, stop) = (gpu.event()?, gpu.event()?);
    let fill_grid = uniform.grid_for(n as u64);
    let fill = [Arg::U64(1), Arg::U64(0), Arg::U64(n as u64), Arg::from(&x)];
    // SAFETY: gc_rng_uniform_T(u64 seed, u64 first, u64 n, T *out) writes out[0 .. n];
    // x holds n values of T; synchronized at once.
    unsafe { uniform.launch(&stream, fill_grid, &fill)? };
    stream.synchronize().map_err(uniform.fault(fill_grid))?;
    let grid = kernel.grid_for(n as u64);
    let args = [
        Arg::from(&x),
        Arg::from(&y),
        Arg::U64(n as u64),
        Arg::U32(function.code()),
    ];
    (0..reps)
        .map(|_| {
            start
                .record(&stream)
                .map_err(|e| e.during("cuEventRecord"))?;
            // SAFETY: gc_map_T(const T *x, T *y, u64 n, u32 code); x and y hold n
            // values of T each; synchronized below.
            unsafe { kernel.launch(&stream, grid, &args)? };
            stop_and_wait(&stream, &stop, kernel.fault(grid))?;
            Ok(start
                .elapsed_until(&stop)
                .map_err(|e| e.during("cuEventElapsedTime"))?
                .as_secs_f64())
        })
        .collect()
}

impl CudaDevice {
    /// Seconds for each of `reps` runs of `function` over `n` elements already in
    /// device memory, timed by CUDA events (no host copies): the kernel's own
    /// speed, for benchmarks. Each run reads and writes `n * element size` bytes.
    pub fn map_device_seconds(
        &self,
        function: MapFn,
        float: Float,
        n: usize,
        reps: usize,
    ) -> Result<Vec<f64>> {
        let n = n.max(1);
        self.with_gpu(|gpu| match float {
            Float::F32 => device_seconds::<f32>(gpu, function, n, reps),
            Float::F64 => device_seconds::<f64>(gpu, function, n, reps),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::backend::cuda::test_gpu as gpu;

    #[test]
    fn many_small_pieces_give_every_element() {
        let Some(device) = gpu() else { return };
        // Pieces of 1 MiB / 4 = 262144 f32 under a 1 MiB cap: 4 pieces and a tail.
        let n = 4 * (1 << 18) + 12_345;
        let input: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let mut output = vec![-1.0f32; n];
        let timing = device
            .with_gpu(|gpu| {
                let io = MapIo::F32(&input, &mut output);
                map(gpu, MapFn::Square, io, 1 << 20)
            })
            .expect("map");
        assert!(timing.kernel_s > 0.0);
        for (i, y) in output.iter().enumerate() {
            let x = i as f32;
            assert_eq!(y.to_bits(), (x * x).to_bits(), "element {i}");
        }
    }

    #[test]
    fn device_resident_map_is_timed() {
        let Some(device) = gpu() else { return };
        let seconds = device
            .map_device_seconds(MapFn::Sqrt, Float::F64, 1 << 20, 2)
            .unwrap();
        assert!(seconds.len() == 2 && seconds.iter().all(|&s| s > 0.0));
    }
}
