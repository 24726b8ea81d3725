//! `rng` on OpenCL: the kernels of kernels/common/rng.h write elements of the
//! distribution's sequence into a device buffer, one work-item per Philox block;
//! long requests go through in chunks the size of the largest buffer the device
//! allows, each read back into its place in the caller's slice.
//!
//! `raw` and `uniform` are the CPU's values bit for bit (integer arithmetic and
//! exact conversions); `normal` uses the device's `log`, `sqrt`, `sin`, `cos`.

use ocl::core::{Mem, OclPrm};

use super::program::{BuildOptions, Scalar};
use super::session::{Arg, Launch, Session};
use crate::error::Result;
use crate::workloads::rng::{Dist, RngSlice, RngSpec, RngType};

/// The kernel that generates `spec`'s elements, with its launch shape.
fn kernel(session: &Session<'_>, spec: &RngSpec) -> Result<Launch> {
    let (name, scalar) = match (spec.dist, spec.dtype) {
        (Dist::Raw, _) => ("gc_rng_raw", Scalar::F32),
        (Dist::Uniform, RngType::F64) => ("gc_rng_uniform_f64", Scalar::F64),
        (Dist::Normal, RngType::F64) => ("gc_rng_normal_f64", Scalar::F64),
        (Dist::Uniform, _) => ("gc_rng_uniform_f32", Scalar::F32),
        (Dist::Normal, _) => ("gc_rng_normal_f32", Scalar::F32),
    };
    if scalar == Scalar::F64 {
        session.require_fp64(&format!("rng --dist {} --dtype f64", spec.dist))?;
    }
    // Every rng kernel is in each typed program; the f64 ones only in the f64 one.
    session.kernel(&BuildOptions::new().scalar(scalar), name)
}

/// Generates elements `first .. first + n` of `spec`'s sequence into `buffer`
/// (at least `n` elements of the spec's type); returns the kernel's seconds.
fn generate(
    session: &Session<'_>,
    launch: &Launch,
    spec: &RngSpec,
    first: u64,
    n: u64,
    buffer: &Mem,
) -> Result<f64> {
    let per_block = spec.dtype.per_block(spec.dist);
    // `first + n` stays below 2^64: rng_fill keeps requests inside the stream.
    let blocks = (first + n).div_ceil(per_block) - first / per_block;
    // gc_rng_*(ulong seed, ulong first, ulong n, T *out): one work-item per block.
    let args = [
        Arg::U64(spec.seed),
        Arg::U64(first),
        Arg::U64(n),
        Arg::Mem(buffer),
    ];
    launch.run(session, &args, launch.groups_for(blocks))
}

/// Fills `out` with elements `first ..` of `spec`'s sequence (validated by
/// `rng_fill`: the slice has the spec's type, the range lies in the stream).
pub(super) fn fill(
    session: &Session<'_>,
    spec: &RngSpec,
    first: u64,
    out: RngSlice<'_>,
) -> Result<()> {
    let launch = kernel(session, spec)?;
    match out {
        RngSlice::U32(out) => fill_typed(session, &launch, spec, first, out),
        RngSlice::F32(out) => fill_typed(session, &launch, spec, first, out),
        RngSlice::F64(out) => fill_typed(session, &launch, spec, first, out),
    }
}

fn fill_typed<T: OclPrm>(
    session: &Session<'_>,
    launch: &Launch,
    spec: &RngSpec,
    first: u64,
    out: &mut [T],
) -> Result<()> {
    let chunk = session.chunk_elements::<T>(1).min(out.len()).max(1);
    let buffer = session.buffer::<T>("rng's device buffer", chunk)?;
    let mut start = first;
    for piece in out.chunks_mut(chunk) {
        generate(session, launch, spec, start, piece.len() as u64, &buffer)?;
        session.read(&buffer, 0, piece)?;
        start += piece.len() as u64;
    }
    Ok(())
}

/// Seconds of each of `reps` generations of elements `0 .. n` of `spec` into
/// device memory, after one warm-up: the kernels' time, summed over chunks
/// when `n` elements do not fit in one buffer.
pub(super) fn device_times(
    session: &Session<'_>,
    spec: &RngSpec,
    n: usize,
    reps: usize,
) -> Result<Vec<f64>> {
    let launch = kernel(session, spec)?;
    let chunk = n.min(match spec.dtype {
        RngType::F64 => session.chunk_elements::<f64>(1),
        _ => session.chunk_elements::<u32>(1),
    });
    let buffer = match spec.dtype {
        RngType::F64 => session.buffer::<f64>("rng's device buffer", chunk)?,
        _ => session.buffer::<u32>("rng's device buffer", chunk)?,
    };
    let once = || -> Result<f64> {
        let mut seconds = 0.0;
        let mut done = 0;
        while done < n {
            let len = chunk.min(n - done);
            seconds += generate(session, &launch, spec, done as u64, len as u64, &buffer)?;
            done += len;
        }
        Ok(seconds)
    };
    once()?;
    (0..reps).map(|_| once()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::CpuDevice;
    use crate::backend::opencl::device::open_or_skip;
    use crate::backend::opencl::session::CHUNK_CAP;
    use crate::backend::Backend;
    use crate::workloads::rng::RngVec;

    #[test]
    fn chunks_concatenate_to_the_cpu_sequence() {
        let Some(device) = open_or_skip() else {
            return;
        };
        let cpu = CpuDevice::open(Some(1)).unwrap();
        CHUNK_CAP.with(|cap| cap.set(1000));
        let mut kinds = vec![(Dist::Raw, RngType::U32), (Dist::Uniform, RngType::F32)];
        if device.info().fp64 {
            kinds.push((Dist::Uniform, RngType::F64));
        }
        for (dist, dtype) in kinds {
            let spec = RngSpec::new(dist, dtype, 77).unwrap();
            for (first, n) in [(0u64, 1000usize), (3, 4321), (1001, 2999)] {
                let mut got = RngVec::zeros(dtype, n);
                device.rng_fill(&spec, first, got.as_slice_mut()).unwrap();
                let mut want = RngVec::zeros(dtype, n);
                cpu.rng_fill(&spec, first, want.as_slice_mut()).unwrap();
                assert!(got == want, "{spec:?} first {first} n {n}");
            }
        }
        CHUNK_CAP.with(|cap| cap.set(usize::MAX));
    }

    #[test]
    fn device_times_cover_every_chunk() {
        let Some(device) = open_or_skip() else {
            return;
        };
        CHUNK_CAP.with(|cap| cap.set(1000));
        let spec = RngSpec::new(Dist::Normal, RngType::F32, 1).unwrap();
        let times = device.rng_device_times(&spec, 2500, 3).unwrap();
        assert_eq!(times.len(), 3);
        assert!(times.iter().all(|&t| t > 0.0), "{times:?}");
        CHUNK_CAP.with(|cap| cap.set(usize::MAX));
    }
}
