//! `pi` on CUDA: the launch shape from the occupancy API, and the launch, time, read, sum cycle of `gc_pi_hits`.
//!
//! The kernel (kernels/common/pi.h) visits Philox blocks in a grid-stride loop and
//! writes one partial sum per thread block; the host adds those up. Any grid and
//! block size gives the same total, so the shape is chosen for speed alone.

use std::ffi::c_void;
use std::sync::Arc;
use std::time::Duration;

use super::device::allocate;
use super::driver::{Context, Current, DriverResult, Function};
use super::stream::{DeviceBuffer, Event, Stream};
use crate::error::Result;

/// The largest block the kernels accept (`GC_MAX_GROUP_SIZE` in kernels/common/portable.h).
const MAX_BLOCK: u32 = 1024;
/// The smallest useful block: one warp.
const WARP: u32 = 32;

/// How `gc_pi_hits` is launched on one GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LaunchConfig {
    /// Threads per block: a power of two, 32 ..= 1024.
    pub(crate) block: u32,
    /// Blocks that fill the GPU at full occupancy: the most a launch uses.
    pub(crate) max_grid: u32,
    /// Samples per launch, at most. Even, and small enough that no thread counts
    /// more than 2^31 hits (the kernel's per-thread counter is 32 bits).
    pub(crate) max_samples: u64,
}

impl LaunchConfig {
    /// The shape the occupancy API suggests for `kernel` on a GPU with `sms` multiprocessors.
    pub(crate) fn for_kernel(
        kernel: &Function,
        current: &Current<'_>,
        sms: u32,
    ) -> DriverResult<LaunchConfig> {
        let (suggested, _) = kernel.max_potential_block_size(current, MAX_BLOCK)?;
        let block = power_of_two_at_most(suggested.clamp(WARP, MAX_BLOCK));
        let per_sm = kernel.max_active_blocks_per_sm(current, block)?.max(1);
        Ok(LaunchConfig::new(block, per_sm.saturating_mul(sms.max(1))))
    }

    /// A shape of `max_grid` blocks of `block` threads.
    pub(crate) fn new(block: u32, max_grid: u32) -> LaunchConfig {
        let threads = u64::from(block) * u64::from(max_grid.max(1));
        LaunchConfig {
            block,
            max_grid: max_grid.max(1),
            max_samples: threads.saturating_mul(1 << 31).min(1 << 62),
        }
    }

    /// Blocks for a launch over `philox_blocks` Philox blocks: the full GPU, fewer for small jobs.
    pub(crate) fn grid_for(&self, philox_blocks: u64) -> u32 {
        philox_blocks
            .div_ceil(u64::from(self.block))
            .clamp(1, u64::from(self.max_grid)) as u32
    }
}

/// The largest power of two `<= n` (`n >= 1`).
fn power_of_two_at_most(n: u32) -> u32 {
    1 << (31 - n.max(1).leading_zeros())
}

/// A device's stream, timing events and partial-sum buffers for `pi`.
pub(crate) struct PiState {
    stream: Stream,
    start: Event,
    stop: Event,
    partials: DeviceBuffer<u64>,
    host: Vec<u64>,
    kernel_time: Duration,
}

impl PiState {
    /// Creates the stream and events and allocates one partial sum per block of the largest launch.
    pub(crate) fn new(
        context: &Arc<Context>,
        current: &Current<'_>,
        launch: &LaunchConfig,
        device_name: &str,
    ) -> Result<PiState> {
        let grid = launch.max_grid as usize;
        let partials = allocate(context, current, grid, "pi partial sums", device_name)?;
        Ok(PiState {
            stream: Stream::new(context, current).map_err(|e| e.during("cuStreamCreate"))?,
            start: Event::new(context, current).map_err(|e| e.during("cuEventCreate"))?,
            stop: Event::new(context, current).map_err(|e| e.during("cuEventCreate"))?,
            partials,
            host: vec![0; grid],
            kernel_time: Duration::ZERO,
        })
    }

    /// Total device time of the kernels launched so far.
    pub(crate) fn kernel_time(&self) -> Duration {
        self.kernel_time
    }

    /// Hits among samples `first .. first + count` for `seed` (`first` even).
    pub(crate) fn hits(
        &mut self,
        kernel: &Function,
        launch: &LaunchConfig,
        _current: &Current<'_>,
        seed: u64,
        first: u64,
        count: u64,
    ) -> Result<u64> {
        // The kernel counts whole Philox blocks from `first / 2`: an odd start
        // would be miscounted silently, so this holds in release builds too.
        assert!(first.is_multiple_of(2), "pi chunks start on a Philox block");
        let (mut done, mut hits) = (0u64, 0u64);
        while done < count {
            let n = (count - done).min(launch.max_samples);
            hits += self.launch(kernel, launch, seed, first + done, n)?;
            done += n;
        }
        Ok(hits)
    }

    /// One launch of `gc_pi_hits` over samples `first .. first + count`, read back and summed.
    fn launch(
        &mut self,
        kernel: &Function,
        launch: &LaunchConfig,
        seed: u64,
        first: u64,
        count: u64,
    ) -> Result<u64> {
        let grid = launch.grid_for(count.div_ceil(2));
        let block = launch.block;
        assert!(grid as usize <= self.partials.len());
        let name = kernel.name();
        let fault = |e: super::status::DriverError| {
            e.during(format!("kernel {name} (grid {grid} x block {block})"))
        };

        self.start
            .record(&self.stream)
            .map_err(|e| e.during("cuEventRecord"))?;
        let (mut seed, mut first, mut count) = (seed, first, count);
        let mut partials = self.partials.device_ptr();
        let mut params = [
            (&mut seed as *mut u64).cast::<c_void>(),
            (&mut first as *mut u64).cast::<c_void>(),
            (&mut count as *mut u64).cast::<c_void>(),
            (&mut partials as *mut u64).cast::<c_void>(),
        ];
        // SAFETY: gc_pi_hits(unsigned long long seed, unsigned long long first_sample,
        // unsigned long long count, unsigned long long *partials) takes exactly these four
        // 64-bit values, each pointed to by `params` and alive across the call (the driver
        // copies them at launch). The kernel writes partials[0 .. grid], and the buffer
        // holds max_grid >= grid values and outlives the launch: `read` below waits for it.
        unsafe { kernel.launch(&self.stream, grid, block, &mut params) }
            .map_err(|e| e.during(format!("launching kernel {name}")))?;
        // The read waits for the stream whatever the record did.
        let recorded = self.stop.record(&self.stream);
        let host = &mut self.host[..grid as usize];
        self.stream.read(&self.partials, host).map_err(fault)?;
        recorded.map_err(|e| e.during("cuEventRecord"))?;
        self.kernel_time += self
            .start
            .elapsed_until(&self.stop)
            .map_err(|e| e.during("cuEventElapsedTime"))?;
        Ok(host.iter().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::reference_hits;
    use crate::backend::Backend;

    #[test]
    fn block_sizes_are_powers_of_two() {
        assert_eq!(power_of_two_at_most(1), 1);
        assert_eq!(power_of_two_at_most(768), 512);
        assert_eq!(power_of_two_at_most(1024), 1024);
        assert_eq!(power_of_two_at_most(u32::MAX), 1 << 31);
    }

    #[test]
    fn grids_fill_the_gpu_but_no_more_than_the_work() {
        let shape = LaunchConfig::new(256, 1056);
        assert_eq!(shape.grid_for(1), 1);
        assert_eq!(shape.grid_for(256), 1);
        assert_eq!(shape.grid_for(257), 2);
        assert_eq!(shape.grid_for(1 << 40), 1056);
        assert_eq!(shape.max_samples % 2, 0);
        assert_eq!(shape.max_samples, 256 * 1056 * (1u64 << 31));
        assert_eq!(LaunchConfig::new(1024, u32::MAX).max_samples, 1 << 62);
    }

    use crate::backend::cuda::test_gpu as gpu;

    #[test]
    fn chunks_at_any_offset_match_the_reference() {
        let Some(gpu) = gpu() else { return };
        for &(seed, first, count) in &[
            (0u64, 0u64, 1u64),
            (1, 0, 2),
            (2, 2, 3),
            (3, 1 << 20, 1_000_001),
            (4, (1 << 33) + 6, 777_777),
            (5, (1 << 62) - 1_000_000, 999_999),
            (u64::MAX, (1 << 63) - 10_000, 10_000),
        ] {
            let got = gpu.pi_hits(seed, first, count).expect("pi_hits");
            assert_eq!(
                got,
                reference_hits(seed, first, count),
                "seed {seed} first {first} count {count}"
            );
        }
    }

    #[test]
    fn every_launch_shape_gives_the_same_hits() {
        let Some(gpu) = gpu() else { return };
        let core_kernel = gpu.pi_kernel_for_tests();
        let context = gpu.context_for_tests();
        let current = context.enter().expect("context");
        let (seed, first, count) = (9u64, 1000u64, 123_457u64);
        let expected = reference_hits(seed, first, count);
        for (block, grid, max_samples) in [
            (32, 1, 1 << 40),
            (64, 3, 1000),
            (1024, 7, 4098),
            (256, 1, 20_000),
        ] {
            let mut shape = LaunchConfig::new(block, grid);
            shape.max_samples = max_samples;
            let mut state = PiState::new(&context, &current, &shape, "test").expect("state");
            let got = state
                .hits(&core_kernel, &shape, &current, seed, first, count)
                .expect("hits");
            assert_eq!(
                got, expected,
                "block {block} grid {grid} max_samples {max_samples}"
            );
        }
    }
}
