//! The CPU `rng` kernels: SIMD Philox lanes turned into elements, in parallel
//! over contiguous pieces of the output.

use rayon::prelude::*;

use super::simd::{for_each_segment, philox_lanes, simd_dispatch, LOW};
use crate::philox::{seed_key, stream_block};
use crate::workloads::rng::{
    block_normal_f32, block_normal_f64, block_u32, block_uniform_f32, block_uniform_f64, Dist,
    RngSlice, RngSpec,
};

/// Elements per rayon task.
const TASK: usize = 1 << 16;

/// Fills `out` (whole blocks only, `out.len() == blocks * E`) with the elements
/// of blocks `first_block ..`, `L` blocks at a time.
#[inline(always)]
fn fill_blocks<const L: usize, T: Copy, const E: usize>(
    seed: u64,
    first_block: u64,
    out: &mut [T],
    convert: impl Fn([u32; 4]) -> [T; E],
) {
    let key = seed_key(seed);
    let mut at = 0;
    for_each_segment(first_block, (out.len() / E) as u64, |start, end| {
        let mut block = start;
        while end - block >= L as u64 {
            let [c0, c1, c2, c3] = philox_lanes::<L>(key, block >> 32, block & LOW);
            // Convert into a fixed-size array first: the interleaving stores
            // then vectorise, and the copy out is one memcpy.
            let elements: [[T; E]; L] = std::array::from_fn(|i| {
                convert([c0[i], c1[i], c2[i], c3[i]].map(|x| (x & LOW) as u32))
            });
            out[at..at + L * E].copy_from_slice(elements.as_flattened());
            block += L as u64;
            at += L * E;
        }
        for b in block..end {
            out[at..at + E].copy_from_slice(&convert(stream_block(seed, b)));
            at += E;
        }
    });
}

macro_rules! lane_fillers {
    ($($name:ident: $t:ty, $e:literal, $convert:ident;)*) => {$(
        #[inline(always)]
        fn $name<const L: usize>(seed: u64, first_block: u64, out: &mut [$t]) {
            fill_blocks::<L, $t, $e>(seed, first_block, out, $convert)
        }
    )*};
}

lane_fillers! {
    raw_lanes: u32, 4, block_u32;
    uniform_f32_lanes: f32, 4, block_uniform_f32;
    uniform_f64_lanes: f64, 2, block_uniform_f64;
    normal_f32_lanes: f32, 4, block_normal_f32;
    normal_f64_lanes: f64, 2, block_normal_f64;
}

simd_dispatch! { fn raw_blocks(seed: u64, first_block: u64, out: &mut [u32]) -> () = raw_lanes }
simd_dispatch! { fn uniform_f32_blocks(seed: u64, first_block: u64, out: &mut [f32]) -> () = uniform_f32_lanes }
simd_dispatch! { fn uniform_f64_blocks(seed: u64, first_block: u64, out: &mut [f64]) -> () = uniform_f64_lanes }
simd_dispatch! { fn normal_f32_blocks(seed: u64, first_block: u64, out: &mut [f32]) -> () = normal_f32_lanes }
simd_dispatch! { fn normal_f64_blocks(seed: u64, first_block: u64, out: &mut [f64]) -> () = normal_f64_lanes }

/// Elements `first .. first + out.len()` of a sequence with `E` elements per
/// block: partial blocks at either end one at a time, whole blocks in SIMD.
fn fill_range<T: Copy + Send, const E: usize>(
    seed: u64,
    first: u64,
    out: &mut [T],
    convert: fn([u32; 4]) -> [T; E],
    blocks: fn(u64, u64, &mut [T]),
) {
    out.par_chunks_mut(TASK)
        .enumerate()
        .for_each(|(task, out)| {
            let mut index = first + (task * TASK) as u64;
            let mut rest = out;
            let skip = (index % E as u64) as usize;
            if skip != 0 {
                let elements = convert(stream_block(seed, index / E as u64));
                let take = (E - skip).min(rest.len());
                rest[..take].copy_from_slice(&elements[skip..skip + take]);
                rest = &mut rest[take..];
                index += take as u64;
            }
            let whole = rest.len() / E * E;
            let (body, tail) = rest.split_at_mut(whole);
            blocks(seed, index / E as u64, body);
            index += whole as u64;
            if !tail.is_empty() {
                let elements = convert(stream_block(seed, index / E as u64));
                let len = tail.len();
                tail.copy_from_slice(&elements[..len]);
            }
        });
}

/// Fills `out` with elements `first ..` of `spec`'s sequence, on the current rayon pool.
pub(crate) fn fill(spec: &RngSpec, first: u64, out: RngSlice<'_>) {
    let seed = spec.seed;
    match (spec.dist, out) {
        (Dist::Raw, RngSlice::U32(out)) => fill_range(seed, first, out, block_u32, raw_blocks),
        (Dist::Uniform, RngSlice::F32(out)) => {
            fill_range(seed, first, out, block_uniform_f32, uniform_f32_blocks)
        }
        (Dist::Uniform, RngSlice::F64(out)) => {
            fill_range(seed, first, out, block_uniform_f64, uniform_f64_blocks)
        }
        (Dist::Normal, RngSlice::F32(out)) => {
            fill_range(seed, first, out, block_normal_f32, normal_f32_blocks)
        }
        (Dist::Normal, RngSlice::F64(out)) => {
            fill_range(seed, first, out, block_normal_f64, normal_f64_blocks)
        }
        // RngSpec::new refuses every other combination, and rng_fill checks the slice.
        _ => unreachable!("rng_fill validated the spec and the slice"),
    }
}
