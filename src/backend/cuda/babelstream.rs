//! `stream` on CUDA: BabelStream's loop over three device arrays, every kernel timed by CUDA events.
//!
//! The kernels are kernels/common/stream.h, grid-stride loops launched with the
//! grid that fills the GPU at full occupancy (multiprocessors × resident blocks
//! per multiprocessor, from the occupancy API). Each call is bracketed by two
//! events on one stream and synchronized before the next, as BabelStream does;
//! the time reported is the events' (the kernel alone, no launch overhead on the
//! host). `dot` leaves one partial sum per block, which the host reads once
//! after the last iteration and adds in f64.

use super::launch::{stop_and_wait, Arg, Gpu, GpuFloat, Kernel};
use super::stream::{DeviceBuffer, Event, Stream};
use crate::error::Result;
use crate::workloads::stream::{StreamRaw, INIT, SCALAR};

/// Runs BabelStream's loop `times` times over arrays of `n` elements of `T`.
pub(crate) fn run<T: GpuFloat>(gpu: &Gpu<'_>, n: usize, times: usize) -> Result<StreamRaw> {
    let kernels = T::STREAM_KERNELS
        .iter()
        .map(|&name| gpu.kernel(name))
        .collect::<Result<Vec<Kernel>>>()?;
    let [init, copy, mul, add, triad, dot] = <[Kernel; 6]>::try_from(kernels)
        .unwrap_or_else(|_| unreachable!("six names give six kernels"));
    let size = std::mem::size_of::<T>() as u64;
    let dot_grid = dot.grid_for(n as u64);
    let needed = (3 * n as u64 + u64::from(dot_grid)) * size;
    gpu.ensure_fits("stream (three arrays)", needed)?;
    let a = gpu.alloc::<T>(n, "stream's array a")?;
    let b = gpu.alloc::<T>(n, "stream's array b")?;
    let c = gpu.alloc::<T>(n, "stream's array c")?;
    let partials = gpu.alloc::<T>(dot_grid as usize, "stream's buffer of dot partial sums")?;
    let timer = Timer {
        stream: gpu.stream()?,
        start: gpu.event()?,
        stop: gpu.event()?,
    };

    let s = T::from_f64(SCALAR).arg();
    let len = Arg::U64(n as u64);
    let [ia, ib, ic] = INIT.map(|v| T::from_f64(v).arg());
    let (pa, pb, pc, pp) = (
        Arg::from(&a),
        Arg::from(&b),
        Arg::from(&c),
        Arg::from(&partials),
    );
    // The argument lists of kernels/common/stream.h, in its parameter order.
    let launches: [(&Kernel, &[Arg]); 5] = [
        (&copy, &[pa, pc, len]),
        (&mul, &[pb, pc, s, len]),
        (&add, &[pa, pb, pc, len]),
        (&triad, &[pa, pb, pc, s, len]),
        (&dot, &[pa, pb, pp, len]),
    ];
    // Init runs `times` times (it is idempotent): its bandwidth is the write bandwidth.
    let init_times = (0..times)
        .map(|_| {
            // SAFETY: gc_stream_init_T(T *a, T *b, T *c, T ia, T ib, T ic, u64 n): three
            // device pointers to n values each, three values of T (`arg` gives T's own
            // width), n as u64. The buffers outlive the launch: `timed` synchronizes.
            unsafe { timer.timed(&init, n, &[pa, pb, pc, ia, ib, ic, len]) }
        })
        .collect::<Result<Vec<f64>>>()?;
    let mut seconds: [Vec<f64>; 5] = std::array::from_fn(|_| Vec::with_capacity(times));
    for _ in 0..times {
        for ((kernel, args), out) in launches.iter().zip(seconds.iter_mut()) {
            // SAFETY: each list is its kernel's parameters in order (stream.h):
            // copy(const T *a, T *c, u64 n), mul(T *b, const T *c, T s, u64 n),
            // add(const T *a, const T *b, T *c, u64 n), triad(T *a, const T *b,
            // const T *c, T s, u64 n), dot(const T *a, const T *b, T *partials, u64 n);
            // the arrays hold n values, and `partials` one per block of dot's grid
            // (`timed` launches `grid_for(n)` blocks, which is `dot_grid`). `timed`
            // synchronizes before the buffers can drop.
            out.push(unsafe { timer.timed(kernel, n, args)? });
        }
    }

    let mut sums = vec![T::ZERO; dot_grid as usize];
    timer
        .stream
        .read(&partials, &mut sums)
        .map_err(|e| e.during("reading dot's partial sums"))?;
    let dot_value: f64 = sums.iter().map(|x| x.to_f64()).sum();
    let arrays = [&a, &b, &c].map(|buffer| read_all(&timer.stream, buffer));
    let [ha, hb, hc] = arrays;
    let threads = u64::from(dot_grid) * u64::from(dot.block());
    Ok(StreamRaw {
        times: seconds,
        init_times,
        arrays: [T::into_vec(ha?), T::into_vec(hb?), T::into_vec(hc?)],
        dot: dot_value,
        // Each thread adds ceil(n / threads) products in sequence (and exact
        // zeros for its last trip's elements past n, stream.h), the block adds
        // its threads' sums as a tree, the host adds the partials one by one (in f64).
        dot_chain: (n as u64).div_ceil(threads)
            + u64::from(dot.block().ilog2())
            + u64::from(dot_grid),
    })
}

/// One stream and the two events that time each call on it.
struct Timer {
    stream: Stream,
    start: Event,
    stop: Event,
}

impl Timer {
    /// Launches `kernel` over `n` elements between the two events, waits for it,
    /// and returns the device time between the events, in seconds.
    ///
    /// # Safety
    /// As [`Kernel::launch`]: `args` match the kernel's parameters.
    unsafe fn timed(&self, kernel: &Kernel, n: usize, args: &[Arg]) -> Result<f64> {
        let grid = kernel.grid_for(n as u64);
        self.start
            .record(&self.stream)
            .map_err(|e| e.during("cuEventRecord"))?;
        // SAFETY: the caller vouches for `args`; the synchronize below waits for the
        // kernel before any buffer it uses can be dropped.
        unsafe { kernel.launch(&self.stream, grid, args)? };
        stop_and_wait(&self.stream, &self.stop, kernel.fault(grid))?;
        let elapsed = self
            .start
            .elapsed_until(&self.stop)
            .map_err(|e| e.during("cuEventElapsedTime"))?;
        Ok(elapsed.as_secs_f64())
    }
}

/// The whole of `buffer`, copied to the host.
fn read_all<T: GpuFloat>(stream: &Stream, buffer: &DeviceBuffer<T>) -> Result<Vec<T>> {
    let mut host =
        crate::backend::cpu::host_vec(buffer.len(), T::ZERO, "the host copy of stream's arrays")?;
    stream
        .read(buffer, &mut host)
        .map_err(|e| e.during("reading stream's arrays back"))?;
    Ok(host)
}
