//! `rng` on OpenCL: the whole-block kernels of kernels/common/rng.h
//! (`gc_rng_*_blocks`) write the elements of one Philox block per work-item into
//! a device buffer padded to the launch's whole blocks; the host reads back the
//! elements asked for from their offset in the first block. Requests go through
//! in pieces no larger than the largest buffer the device allows, on two queues
//! taken in turn (`pipeline`), each piece read back into its place in the
//! caller's slice while the next is generated.
//!
//! The whole-block kernels are branch-free, so PoCL vectorises them across
//! work-items; the range-checked kernels of rng.h (which write exactly the
//! elements asked for) ran 3-7x slower there.
//!
//! `raw` and `uniform` are the CPU's values bit for bit (integer arithmetic and
//! exact conversions); `normal` uses the device's `log`, `sqrt`, `sin`, `cos`.
//!
//! Performance note (a measurement, not a test). PoCL 3.1, 2-core AVX-512 Xeon,
//! release build, `gpucalc --device all bench --quick --only rng` (into device
//! memory, 2^25 elements): raw u32 15.1 GB/s, uniform f32 3.7, normal f32 0.29
//! against 20.4, 17.9 and 1.1 GB/s on the CPU path then (the CPU path is
//! faster since: 22, 22 and 3.0 GB/s). PoCL vectorises the raw
//! kernel (zmm Philox rounds) but none that converts an integer to a float or
//! calls a math builtin; the range-checked kernels ran at 2.0 (raw, uniform) and
//! 0.13 GB/s (normal). `gpucalc --device opencl rng 1e8 --dtype f32` (with the
//! reads into host memory): 2.0 GB/s of generation against 11.5 on the CPU path.

use ocl::core::{Mem, OclPrm};

use super::pipeline::{piece_len, Pipeline};
use super::program::Scalar;
use super::session::{Arg, Launch, Session, Shape};
use crate::error::Result;
use crate::workloads::rng::{Dist, RngSlice, RngSpec, RngType};

/// Most elements per piece: keeps a launch within `session::MAX_WORK_ITEMS`
/// work-items (one per block) whatever the device's largest buffer.
const MAX_PIECE: usize = 1 << 28;

/// The whole-block kernel that generates `spec`'s elements, with its launch shape.
fn kernel(session: &Session<'_>, spec: &RngSpec) -> Result<Launch> {
    let (name, scalar) = match (spec.dist, spec.dtype) {
        (Dist::Raw, _) => ("gc_rng_raw_blocks", Scalar::F32),
        (Dist::Uniform, RngType::F64) => ("gc_rng_uniform_f64_blocks", Scalar::F64),
        (Dist::Normal, RngType::F64) => ("gc_rng_normal_f64_blocks", Scalar::F64),
        (Dist::Uniform, _) => ("gc_rng_uniform_f32_blocks", Scalar::F32),
        (Dist::Normal, _) => ("gc_rng_normal_f32_blocks", Scalar::F32),
    };
    if scalar == Scalar::F64 {
        session.require_fp64(&format!("rng --dist {} --dtype f64", spec.dist))?;
    }
    // Every rng kernel is in each typed program; the f64 ones only in the f64 one.
    session.kernel(&session.options(scalar), name)
}

/// How elements `first .. first + n` are generated: which blocks, in how
/// many groups, and where the first element lies in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Call {
    first_block: u64,
    groups: usize,
    offset: usize,
}

impl Call {
    fn new(shape: &Shape, per_block: u64, first: u64, n: u64) -> Call {
        // `first + n` stays below 2^64: rng_fill keeps requests inside the stream.
        let first_block = first / per_block;
        let blocks = (first + n).div_ceil(per_block) - first_block;
        let groups = shape.groups_for(blocks);
        debug_assert!((groups * shape.group_size) as u64 >= blocks);
        Call {
            first_block,
            groups,
            offset: (first % per_block) as usize,
        }
    }

    /// gc_rng_*_blocks(ulong seed, ulong first_block, T *out)
    fn args<'b>(&self, spec: &RngSpec, buffer: &'b Mem) -> [Arg<'b>; 3] {
        [
            Arg::U64(spec.seed),
            Arg::U64(self.first_block),
            Arg::Mem(buffer),
        ]
    }
}

/// Elements of the buffer for pieces of up to `piece` elements: a whole
/// block for every work-item of the largest launch such a piece needs.
fn padded_len(shape: &Shape, per_block: u64, piece: usize) -> usize {
    let blocks = piece as u64 / per_block + 2;
    shape.groups_for(blocks) * shape.group_size * per_block as usize
}

/// The most elements of `T` one of `buffers` padded buffers can take.
fn largest_piece<T>(session: &Session<'_>, launch: &Launch, buffers: usize) -> usize {
    let margin = 4 * (launch.group_size() + 2);
    let chunk = session.chunk_elements::<T>(buffers).saturating_sub(margin);
    chunk.clamp(1, MAX_PIECE)
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

/// Generates `out` piece by piece on two queues, each piece read back while
/// the next is generated.
fn fill_typed<T: OclPrm>(
    session: &Session<'_>,
    launch: &Launch,
    spec: &RngSpec,
    first: u64,
    out: &mut [T],
) -> Result<()> {
    let per_block = spec.dtype.per_block(spec.dist);
    let piece = piece_len(out.len(), largest_piece::<T>(session, launch, 2));
    let queues = if out.len() > piece { 2 } else { 1 };
    let len = padded_len(&launch.shape, per_block, piece.min(out.len()));
    let buffers = (0..queues)
        .map(|_| session.buffer::<T>("rng's device buffer", len))
        .collect::<Result<Vec<_>>>()?;
    let mut pipeline = Pipeline::new(session)?;
    let mut start = first;
    for (i, out) in out.chunks_mut(piece).enumerate() {
        let buffer = &buffers[i % queues];
        let call = Call::new(&launch.shape, per_block, start, out.len() as u64);
        start += out.len() as u64;
        // SAFETY: gc_rng_*_blocks(ulong seed, ulong first_block, T *out) with a
        // buffer of T padded for the largest piece (`padded_len`): E elements
        // for every work-item of `call.groups` groups; each queue has its own.
        unsafe { pipeline.kernel(i, launch, &call.args(spec, buffer), call.groups)? };
        pipeline.read(i, buffer, call.offset, out)?;
    }
    pipeline.finish().map(|_| ())
}

/// Seconds of each of `reps` generations of elements `0 .. n` of `spec` into
/// device memory, after one warm-up: the kernels' time, summed over pieces
/// when `n` elements do not fit in one buffer.
pub(super) fn device_times(
    session: &Session<'_>,
    spec: &RngSpec,
    n: usize,
    reps: usize,
) -> Result<Vec<f64>> {
    let launch = kernel(session, spec)?;
    let per_block = spec.dtype.per_block(spec.dist);
    let buffer = |piece: usize| padded_len(&launch.shape, per_block, piece);
    let (piece, buffer) = match spec.dtype {
        RngType::F64 => {
            let piece = n.min(largest_piece::<f64>(session, &launch, 1)).max(1);
            (
                piece,
                session.buffer::<f64>("rng's device buffer", buffer(piece))?,
            )
        }
        _ => {
            let piece = n.min(largest_piece::<u32>(session, &launch, 1)).max(1);
            (
                piece,
                session.buffer::<u32>("rng's device buffer", buffer(piece))?,
            )
        }
    };
    let once = || -> Result<f64> {
        let mut seconds = 0.0;
        let mut done = 0;
        while done < n {
            let len = piece.min(n - done);
            let call = Call::new(&launch.shape, per_block, done as u64, len as u64);
            // SAFETY: as in `fill_typed`: the buffer is padded for pieces of `piece`.
            seconds += unsafe { launch.run(session, &call.args(spec, &buffer), call.groups)? };
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
    fn calls_cover_the_blocks_and_buffers_hold_them() {
        let shape = Shape {
            group_size: 8,
            fill_groups: 2,
            cpu: true,
        };
        let call = |first, n| {
            let c = Call::new(&shape, 4, first, n);
            (c.first_block, c.groups, c.offset)
        };
        assert_eq!(call(0, 1), (0, 1, 0));
        assert_eq!(call(5, 3), (1, 1, 1));
        // Elements 7 .. 41 lie in blocks 1 ..= 10: ten work-items, two groups.
        assert_eq!(call(7, 34), (1, 2, 3));
        assert_eq!(call(u64::MAX - 3, 3), (u64::MAX / 4, 1, 0));
        // Any piece of up to 34 elements, at any offset, spans at most 10 blocks.
        assert_eq!(padded_len(&shape, 4, 34), 2 * 8 * 4);
        for first in 0..8 {
            let c = Call::new(&shape, 4, first, 34);
            assert!(c.offset + 34 <= padded_len(&shape, 4, 34));
            assert!(c.groups * 8 * 4 <= padded_len(&shape, 4, 34));
        }
    }

    #[test]
    fn chunks_concatenate_to_the_cpu_sequence() {
        let Some(device) = open_or_skip() else {
            return;
        };
        let cpu = CpuDevice::open(Some(1)).unwrap();
        // Less the padding of a launch (4 elements per work-item of a group and
        // two blocks): pieces of 1896 elements with PoCL's 1024-wide groups.
        CHUNK_CAP.with(|cap| cap.set(6000));
        let mut kinds = vec![(Dist::Raw, RngType::U32), (Dist::Uniform, RngType::F32)];
        if device.info().fp64 {
            kinds.push((Dist::Uniform, RngType::F64));
        }
        for (dist, dtype) in kinds {
            let spec = RngSpec::new(dist, dtype, 77).unwrap();
            for (first, n) in [(0u64, 1000usize), (3, 14_321), (1001, 5999)] {
                let mut got = RngVec::zeros(dtype, n);
                device.rng_fill(&spec, first, got.as_slice_mut()).unwrap();
                let mut want = RngVec::zeros(dtype, n);
                cpu.rng_fill(&spec, first, want.as_slice_mut()).unwrap();
                assert!(got == want, "{spec:?} first {first} n {n}");
            }
        }
        CHUNK_CAP.with(|cap| cap.set(usize::MAX));
    }

    /// Runs range-checked kernel `name` for elements `first .. first + n` in
    /// `groups` groups, into a buffer with 8 guard elements after the `n`;
    /// returns all `n + 8`, widened to f64.
    fn run_ranged<T: OclPrm + Into<f64>>(
        session: &Session<'_>,
        launch: &Launch,
        seed: u64,
        (first, n): (u64, usize),
        groups: usize,
        guard: T,
    ) -> Vec<f64> {
        let buffer = session.buffer::<T>("test buffer", n + 8).unwrap();
        session.write(&buffer, 0, &vec![guard; n + 8]).unwrap();
        let args = [
            Arg::U64(seed),
            Arg::U64(first),
            Arg::U64(n as u64),
            Arg::Mem(&buffer),
        ];
        // SAFETY: gc_rng_*(ulong seed, ulong first, ulong n, T *out) writes
        // out[0 .. n) of a buffer of n + 8 values of T, whatever the grid.
        unsafe { launch.run(session, &args, groups).unwrap() };
        let mut out = vec![guard; n + 8];
        session.read(&buffer, 0, &mut out).unwrap();
        out.into_iter().map(Into::into).collect()
    }

    /// The range-checked kernels are the ones CUDA runs; running them here
    /// lets PoCL check their ranges and conversions in CI.
    #[test]
    fn range_checked_kernels_match_the_reference() {
        let Some(device) = open_or_skip() else {
            return;
        };
        let session = device.session().unwrap();
        let mut kinds = vec![
            (Dist::Raw, RngType::U32, "gc_rng_raw"),
            (Dist::Uniform, RngType::F32, "gc_rng_uniform_f32"),
            (Dist::Normal, RngType::F32, "gc_rng_normal_f32"),
        ];
        if device.info().fp64 {
            kinds.push((Dist::Uniform, RngType::F64, "gc_rng_uniform_f64"));
            kinds.push((Dist::Normal, RngType::F64, "gc_rng_normal_f64"));
        }
        for (dist, dtype, name) in kinds {
            let scalar = if dtype == RngType::F64 {
                Scalar::F64
            } else {
                Scalar::F32
            };
            let launch = session.kernel(&session.options(scalar), name).unwrap();
            let spec = RngSpec::new(dist, dtype, 0x5eed).unwrap();
            // Aligned and not, shorter than a block, empty; one group and a
            // grid small enough that work-items take several blocks each.
            for (first, n) in [(0u64, 1000usize), (3, 1001), (6, 5), (1, 0), (8, 3)] {
                for groups in [1, 3] {
                    let got = match dtype {
                        RngType::U32 => {
                            run_ranged(&session, &launch, spec.seed, (first, n), groups, u32::MAX)
                        }
                        RngType::F32 => {
                            run_ranged(&session, &launch, spec.seed, (first, n), groups, f32::NAN)
                        }
                        RngType::F64 => {
                            run_ranged(&session, &launch, spec.seed, (first, n), groups, f64::NAN)
                        }
                    };
                    let case = format!("{name} first {first} n {n} groups {groups}");
                    for (i, &value) in got[..n].iter().enumerate() {
                        let want = crate::workloads::rng::rng_reference(&spec, first + i as u64);
                        let bound = match dist {
                            Dist::Normal => {
                                f64::from(crate::workloads::rng::NORMAL_ULP_BOUND)
                                    * f64::from(f32::EPSILON)
                                    * want.abs().max(1.0)
                            }
                            _ => 0.0,
                        };
                        assert!(
                            (value - want).abs() <= bound,
                            "{case}: element {i} {value} != {want}"
                        );
                    }
                    let guard_kept = |v: &f64| v.is_nan() || *v == f64::from(u32::MAX);
                    assert!(got[n..].iter().all(guard_kept), "{case}: wrote past n");
                }
            }
        }
    }

    #[test]
    fn device_times_cover_every_chunk() {
        let Some(device) = open_or_skip() else {
            return;
        };
        CHUNK_CAP.with(|cap| cap.set(6000));
        let spec = RngSpec::new(Dist::Normal, RngType::F32, 1).unwrap();
        let times = device.rng_device_times(&spec, 5000, 3).unwrap();
        assert_eq!(times.len(), 3);
        assert!(times.iter().all(|&t| t > 0.0), "{times:?}");
        CHUNK_CAP.with(|cap| cap.set(usize::MAX));
    }
}
