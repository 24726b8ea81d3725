//! `rng` on CUDA: the kernels of kernels/common/rng.h, generating into device memory chunk by chunk.
//!
//! One device buffer, sized from the free device memory (at most
//! [`CHUNK_BYTES`]), takes each piece of the output in turn; the piece is then
//! copied into the caller's slice. Outputs larger than the GPU's memory go
//! through in as many pieces as they need. Each piece starts at its own element
//! offset, and the kernels place every element by its absolute index, so the
//! pieces join to exactly the sequence one launch would give.

use super::launch::{chunk_len, stop_and_wait, Arg, Gpu, Kernel};
use super::memory::Plain;
use crate::error::{Error, Result};
use crate::workloads::rng::{Dist, RngSlice, RngSpec, RngType};

/// The largest device buffer one `rng_fill` uses. Generation runs at device
/// memory speed and the copy to the host at bus speed, so bigger pieces gain nothing.
pub(crate) const CHUNK_BYTES: usize = 256 << 20;

/// The kernel for `spec` (validated by `RngSpec::new`: raw is u32, the others float).
fn kernel_name(spec: &RngSpec) -> &'static str {
    match (spec.dist, spec.dtype) {
        (Dist::Raw, _) => "gc_rng_raw",
        (Dist::Uniform, RngType::F64) => "gc_rng_uniform_f64",
        (Dist::Uniform, _) => "gc_rng_uniform_f32",
        (Dist::Normal, RngType::F64) => "gc_rng_normal_f64",
        (Dist::Normal, _) => "gc_rng_normal_f32",
    }
}

/// Fills `out` with elements `first ..` of `spec`'s sequence, in pieces of at most `cap_bytes`.
pub(crate) fn fill(
    gpu: &Gpu<'_>,
    spec: &RngSpec,
    first: u64,
    out: RngSlice<'_>,
    cap_bytes: usize,
) -> Result<()> {
    let kernel = gpu.kernel(kernel_name(spec))?;
    let per_block = spec.dtype.per_block(spec.dist);
    match out {
        RngSlice::U32(out) => fill_typed(gpu, &kernel, spec.seed, first, out, per_block, cap_bytes),
        RngSlice::F32(out) => fill_typed(gpu, &kernel, spec.seed, first, out, per_block, cap_bytes),
        RngSlice::F64(out) => fill_typed(gpu, &kernel, spec.seed, first, out, per_block, cap_bytes),
    }
}

fn fill_typed<T: Plain>(
    gpu: &Gpu<'_>,
    kernel: &Kernel,
    seed: u64,
    first: u64,
    out: &mut [T],
    per_block: u64,
    cap_bytes: usize,
) -> Result<()> {
    let size = std::mem::size_of::<T>();
    let free = gpu.free_memory()?;
    let chunk = chunk_len(out.len(), size, 1, cap_bytes, free);
    if chunk == 0 {
        return Err(Error::OutOfMemory {
            what: "a piece of the random numbers".to_string(),
            device: gpu.name(),
            needed: 2 * size as u64,
            available: free,
        });
    }
    let buffer = gpu.alloc::<T>(chunk, "the buffer for random numbers")?;
    let stream = gpu.stream()?;
    for (i, piece) in out.chunks_mut(chunk).enumerate() {
        let start = first + (i * chunk) as u64;
        let len = piece.len() as u64;
        // Philox blocks the piece touches: one more than len / E when it starts mid-block.
        let grid = kernel.grid_for(len.div_ceil(per_block) + 1);
        let args = [
            Arg::U64(seed),
            Arg::U64(start),
            Arg::U64(len),
            Arg::from(&buffer),
        ];
        // SAFETY: every rng kernel is (u64 seed, u64 first, u64 n, T *out) and writes
        // out[0 .. n]; the buffer holds chunk >= n values of the kernel's element
        // type (the caller's slice type, which `RngSpec` and `rng_fill` tie to the
        // kernel). `read_at` synchronizes before the buffer can drop.
        unsafe { kernel.launch(&stream, grid, &args)? };
        stream
            .read_at(&buffer, 0, piece)
            .map_err(kernel.fault(grid))?;
    }
    Ok(())
}

/// Seconds for each of `reps` generations of elements `0 .. n` into device
/// memory, timed by CUDA events, after one untimed warm-up (no copy to the host).
pub(crate) fn device_times(
    gpu: &Gpu<'_>,
    spec: &RngSpec,
    n: usize,
    reps: usize,
) -> Result<Vec<f64>> {
    let kernel = gpu.kernel(kernel_name(spec))?;
    let bytes = n
        .checked_mul(spec.dtype.size())
        .ok_or_else(|| Error::InvalidArgument(format!("{n} random numbers are too many")))?;
    let buffer = gpu.alloc::<u8>(bytes, "the buffer for random numbers")?;
    let stream = gpu.stream()?;
    let (start, stop) = (gpu.event()?, gpu.event()?);
    let grid = kernel.grid_for((n as u64).div_ceil(spec.dtype.per_block(spec.dist)));
    let args = [
        Arg::U64(spec.seed),
        Arg::U64(0),
        Arg::U64(n as u64),
        Arg::from(&buffer),
    ];
    let generate = || -> Result<f64> {
        start
            .record(&stream)
            .map_err(|e| e.during("cuEventRecord"))?;
        // SAFETY: (u64 seed, u64 first, u64 n, T *out) as above; the buffer holds n
        // elements of the spec's type (n * size bytes); synchronized below.
        unsafe { kernel.launch(&stream, grid, &args)? };
        stop_and_wait(&stream, &stop, kernel.fault(grid))?;
        let elapsed = start
            .elapsed_until(&stop)
            .map_err(|e| e.during("cuEventElapsedTime"))?;
        Ok(elapsed.as_secs_f64())
    };
    generate()?;
    (0..reps).map(|_| generate()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::workloads::rng::{rng_reference, RngVec};

    use crate::backend::cuda::test_gpu as gpu;

    #[test]
    fn small_pieces_join_to_the_reference() {
        let Some(device) = gpu() else { return };
        for (dist, dtype) in [
            (Dist::Raw, RngType::U32),
            (Dist::Uniform, RngType::F32),
            (Dist::Uniform, RngType::F64),
        ] {
            let spec = RngSpec::new(dist, dtype, 0xABCD).unwrap();
            for (first, n, cap) in [(0u64, 1000usize, 64usize), (3, 1001, 40), (5, 77, 8)] {
                let mut out = RngVec::zeros(dtype, n);
                device
                    .with_gpu(|gpu| fill(gpu, &spec, first, out.as_slice_mut(), cap))
                    .expect("fill");
                for i in 0..n {
                    let want = rng_reference(&spec, first + i as u64);
                    assert_eq!(
                        out.get_f64(i).to_bits(),
                        want.to_bits(),
                        "{spec:?} {first} {i}"
                    );
                }
            }
        }
        // The whole path through the trait, for the record.
        let spec = RngSpec::new(Dist::Raw, RngType::U32, 1).unwrap();
        let mut out = RngVec::zeros(RngType::U32, 5);
        device.rng_fill(&spec, 2, out.as_slice_mut()).unwrap();
        assert_eq!(out.get_f64(0), rng_reference(&spec, 2));
    }

    #[test]
    fn device_generation_is_timed() {
        let Some(device) = gpu() else { return };
        let spec = RngSpec::new(Dist::Uniform, RngType::F32, 3).unwrap();
        let seconds = device.rng_device_times(&spec, 1 << 20, 3).unwrap();
        assert_eq!(seconds.len(), 3);
        assert!(seconds.iter().all(|&s| s > 0.0), "{seconds:?}");
    }
}
