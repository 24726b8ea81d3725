//! The CPU `rng` kernels: SIMD Philox lanes turned into elements, in parallel
//! over contiguous pieces of the output.

use rayon::prelude::*;

use super::normal::{block_f32 as normal_f32, block_f64 as normal_f64};
use super::simd::{philox_lanes, segments, simd_dispatch, LANES_WIDE, LOW};
use crate::philox::{seed_key, stream_block};
use crate::workloads::rng::{
    block_u32, block_uniform_f32, block_uniform_f64, Dist, RngSlice, RngSpec, RngType,
};

/// Elements per rayon task.
const TASK: usize = 1 << 16;

/// Requests larger than the last-level cache are written with non-temporal
/// (streaming) stores where the CPU path allows: they would not stay in the
/// caches anyway, and streaming stores skip reading each line before writing
/// it. Smaller ones keep ordinary stores, so a caller that reads its numbers
/// next finds them in cache (`gpucalc rng` summarises each 64 MiB chunk).
/// Measured on the 2-core AVX-512 development VM, uniform f32 into 512 MiB
/// (`gpucalc --device cpu bench --only stream,rng`): 13.1 GB/s with ordinary
/// stores, 21-22 GB/s streaming, where Philox on two cores is the bound
/// (streaming writes alone, stream's init: 51 GB/s).
fn streaming_for(bytes: usize) -> bool {
    bytes > super::sysinfo::last_level_cache_bytes()
}

/// Stores the elements of `LANES_WIDE` blocks' words (as `philox_lanes` leaves
/// them) into the slice, which holds `E * LANES_WIDE` of them; the raw and
/// uniform stores stream if the flag is set and the slice is 64-byte aligned
/// (the normal ones, bound by arithmetic, ignore it).
/// Needs AVX-512 F, BW, DQ and VL (`Isa::Avx512`).
type WideStore<T> = unsafe fn([[u64; LANES_WIDE]; 4], &mut [T], bool);

/// A distribution's elements of one Philox block, as a type: the SIMD loops
/// call [`BlockElements::of`] directly, and LLVM inlines it into their
/// `target_feature` wrappers. A function passed as a value went through an
/// out-of-line `Fn::call` shim compiled for the baseline instruction set:
/// normal's Box–Muller ran scalar, in SSE2, on AVX2 machines.
trait BlockElements<T, const E: usize> {
    /// The `E` elements of the block whose words are `w`.
    fn of(w: [u32; 4]) -> [T; E];
}

/// Defines a [`BlockElements`] type per distribution from its block function.
macro_rules! block_elements {
    ($($name:ident: $t:ty, $e:literal, $convert:path;)*) => {$(
        struct $name;
        impl BlockElements<$t, $e> for $name {
            #[inline(always)]
            fn of(w: [u32; 4]) -> [$t; $e] {
                $convert(w)
            }
        }
    )*};
}

block_elements! {
    RawWords: u32, 4, block_u32;
    UniformF32: f32, 4, block_uniform_f32;
    UniformF64: f64, 2, block_uniform_f64;
    NormalF32: f32, 4, normal_f32;
    NormalF64: f64, 2, normal_f64;
}

/// Fills `out` (whole blocks only, `out.len() == blocks * E`) with the elements
/// `C` makes of blocks `first_block ..`, `L` blocks at a time; with `wide`
/// where the CPU has AVX-512 and `L` is `LANES_WIDE`, streaming if `streaming`.
#[inline(always)]
fn fill_blocks<const L: usize, T: Copy + Default, const E: usize, C: BlockElements<T, E>>(
    seed: u64,
    first_block: u64,
    out: &mut [T],
    streaming: bool,
    wide: Option<WideStore<T>>,
) {
    let convert = C::of;
    let key = seed_key(seed);
    let mut at = 0;
    #[cfg(target_arch = "x86_64")]
    let wide = wide.filter(|_| L == LANES_WIDE && super::simd::isa() == super::simd::Isa::Avx512);
    #[cfg(not(target_arch = "x86_64"))]
    let wide: Option<WideStore<T>> = wide.and(None);
    let streaming = streaming && wide.is_some();
    for (start, end) in segments(first_block, (out.len() / E) as u64) {
        let mut block = start;
        // Streaming stores need 64-byte alignment: single blocks up to it
        // (a block is 16 bytes; a slice not 16-byte aligned never gets there).
        while streaming
            && block < end
            && !(out[at..].as_ptr() as usize).is_multiple_of(64)
            && (out[at..].as_ptr() as usize).is_multiple_of(16)
        {
            out[at..at + E].copy_from_slice(&convert(stream_block(seed, block)));
            block += 1;
            at += E;
        }
        while end - block >= L as u64 {
            let lanes = philox_lanes::<L>(key, block >> 32, block & LOW);
            if let Some(store) = wide {
                // SAFETY: L == LANES_WIDE, so the types are the same; `wide` is
                // Some only where isa() saw AVX-512 F/BW/DQ/VL; the slice holds
                // the L * E elements of these blocks (each store slices or
                // checks its length).
                unsafe {
                    store(
                        std::mem::transmute_copy(&lanes),
                        &mut out[at..at + L * E],
                        streaming,
                    )
                };
                block += L as u64;
                at += L * E;
                continue;
            }
            let [c0, c1, c2, c3] = lanes;
            // Convert into a fixed-size array first: the interleaving stores
            // then vectorise, and the copy out is one memcpy. A plain loop,
            // not array::from_fn, whose closure LLVM may leave out of line.
            let mut elements = [[T::default(); E]; L];
            for (i, element) in elements.iter_mut().enumerate() {
                let word = |c: &[u64; L]| (c[i] & LOW) as u32;
                *element = convert([word(&c0), word(&c1), word(&c2), word(&c3)]);
            }
            out[at..at + L * E].copy_from_slice(elements.as_flattened());
            block += L as u64;
            at += L * E;
        }
        for b in block..end {
            out[at..at + E].copy_from_slice(&convert(stream_block(seed, b)));
            at += E;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if streaming {
        // Streaming stores are weakly ordered: make them visible before the
        // caller (or another thread) reads the elements.
        // SAFETY: sfence has no preconditions (SSE, part of x86-64).
        unsafe { std::arch::x86_64::_mm_sfence() };
    }
}

macro_rules! lane_fillers {
    ($($name:ident: $t:ty, $e:literal, $convert:ident, $wide:expr;)*) => {$(
        #[inline(always)]
        fn $name<const L: usize>(seed: u64, first_block: u64, out: &mut [$t], streaming: bool) {
            fill_blocks::<L, $t, $e, $convert>(seed, first_block, out, streaming, $wide)
        }
    )*};
}

#[cfg(target_arch = "x86_64")]
const RAW_WIDE: Option<WideStore<u32>> = Some(avx512::store_raw);
#[cfg(target_arch = "x86_64")]
const UNIFORM_F32_WIDE: Option<WideStore<f32>> = Some(avx512::store_uniform_f32);
#[cfg(target_arch = "x86_64")]
const NORMAL_F32_WIDE: Option<WideStore<f32>> = Some(avx512::store_normal_f32);
#[cfg(target_arch = "x86_64")]
const NORMAL_F64_WIDE: Option<WideStore<f64>> = Some(avx512::store_normal_f64);
#[cfg(not(target_arch = "x86_64"))]
const RAW_WIDE: Option<WideStore<u32>> = None;
#[cfg(not(target_arch = "x86_64"))]
const UNIFORM_F32_WIDE: Option<WideStore<f32>> = None;
#[cfg(not(target_arch = "x86_64"))]
const NORMAL_F32_WIDE: Option<WideStore<f32>> = None;
#[cfg(not(target_arch = "x86_64"))]
const NORMAL_F64_WIDE: Option<WideStore<f64>> = None;

lane_fillers! {
    raw_lanes: u32, 4, RawWords, RAW_WIDE;
    uniform_f32_lanes: f32, 4, UniformF32, UNIFORM_F32_WIDE;
    uniform_f64_lanes: f64, 2, UniformF64, None;
    normal_f32_lanes: f32, 4, NormalF32, NORMAL_F32_WIDE;
    normal_f64_lanes: f64, 2, NormalF64, NORMAL_F64_WIDE;
}

/// The 32-bit distributions stored straight from AVX-512 registers.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512i, _mm512_castps_si512, _mm512_cvtepi32_ps, _mm512_mul_ps, _mm512_set1_ps,
        _mm512_srli_epi32, _mm512_storeu_si512, _mm512_stream_si512,
    };

    use super::super::normal::{box_muller, box_muller_f64};
    use super::super::simd::avx512::words_in_order;
    use super::super::simd::{LANES_WIDE, LOW};
    use crate::philox::{uniform_f32, uniform_f64};

    /// Sixteen 32-bit elements into `chunk`: streaming if asked and aligned.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn store16<T>(chunk: &mut [T], v: __m512i, streaming: bool) {
        assert!(chunk.len() == 16 && size_of::<T>() == 4);
        let p = chunk.as_mut_ptr().cast::<__m512i>();
        if streaming && (p as usize).is_multiple_of(64) {
            // SAFETY: 64 writable bytes at p (16 elements of 4 bytes), aligned to 64.
            unsafe { _mm512_stream_si512(p, v) };
        } else {
            // SAFETY: 64 writable bytes at p; this store takes any alignment.
            unsafe { _mm512_storeu_si512(p, v) };
        }
    }

    /// The words as they are (`block_u32`).
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn store_raw(
        words: [[u64; LANES_WIDE]; 4],
        out: &mut [u32],
        streaming: bool,
    ) {
        let out = &mut out[..4 * LANES_WIDE];
        for (v, chunk) in words_in_order(words)
            .into_iter()
            .zip(out.chunks_exact_mut(16))
        {
            store16(chunk, v, streaming);
        }
    }

    /// `(w >> 8) * 2^-24` (`block_uniform_f32`): exact, as on every backend.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn store_uniform_f32(
        words: [[u64; LANES_WIDE]; 4],
        out: &mut [f32],
        streaming: bool,
    ) {
        let out = &mut out[..4 * LANES_WIDE];
        let scale = _mm512_set1_ps(1.0 / 16_777_216.0);
        for (v, chunk) in words_in_order(words)
            .into_iter()
            .zip(out.chunks_exact_mut(16))
        {
            let u = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32::<8>(v)), scale);
            store16(chunk, _mm512_castps_si512(u), streaming);
        }
    }

    /// Box–Muller on words (0, 1) and (2, 3) of each block (`normal::block_f32`),
    /// lane by lane in counted loops the compiler vectorises (through the
    /// generic path's per-block closure it calls the function for every block).
    /// Ordinary stores: at about 10 GB/s this is not bound by memory.
    ///
    /// # Safety
    /// The CPU has AVX-512F, BW, DQ and VL.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(super) unsafe fn store_normal_f32(
        words: [[u64; LANES_WIDE]; 4],
        out: &mut [f32],
        _streaming: bool,
    ) {
        let out = &mut out[..4 * LANES_WIDE];
        let mut u = [[0.0f32; LANES_WIDE]; 4];
        for (u, w) in u.iter_mut().zip(&words) {
            for (u, &x) in u.iter_mut().zip(w) {
                *u = uniform_f32((x & LOW) as u32);
            }
        }
        let mut z = [[0.0f32; LANES_WIDE]; 4];
        for pair in 0..2 {
            let [even, odd] = z
                .get_disjoint_mut([2 * pair, 2 * pair + 1])
                .expect("distinct");
            for i in 0..LANES_WIDE {
                (even[i], odd[i]) = box_muller(u[2 * pair][i], u[2 * pair + 1][i]);
            }
        }
        for (i, block) in out.chunks_exact_mut(4).enumerate() {
            block.copy_from_slice(&[z[0][i], z[1][i], z[2][i], z[3][i]]);
        }
    }

    /// Box–Muller in f64 on the uniform pair of each block (`normal::block_f64`),
    /// lane by lane, as `store_normal_f32`.
    ///
    /// # Safety
    /// The CPU has AVX-512F, BW, DQ and VL.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(super) unsafe fn store_normal_f64(
        words: [[u64; LANES_WIDE]; 4],
        out: &mut [f64],
        _streaming: bool,
    ) {
        let out = &mut out[..2 * LANES_WIDE];
        let word = |j: usize, i: usize| (words[j][i] & LOW) as u32;
        let mut u1 = [0.0f64; LANES_WIDE];
        let mut u2 = [0.0f64; LANES_WIDE];
        for (i, (u1, u2)) in u1.iter_mut().zip(&mut u2).enumerate() {
            *u1 = uniform_f64(word(0, i), word(1, i));
            *u2 = uniform_f64(word(2, i), word(3, i));
        }
        let mut cos = [0.0f64; LANES_WIDE];
        let mut sin = [0.0f64; LANES_WIDE];
        for (((c, s), &u1), &u2) in cos.iter_mut().zip(&mut sin).zip(&u1).zip(&u2) {
            (*c, *s) = box_muller_f64(u1, u2);
        }
        for ((pair, &c), &s) in out.chunks_exact_mut(2).zip(&cos).zip(&sin) {
            pair.copy_from_slice(&[c, s]);
        }
    }
}

simd_dispatch! { fn raw_blocks(seed: u64, first_block: u64, out: &mut [u32], streaming: bool) -> () = raw_lanes }
simd_dispatch! { fn uniform_f32_blocks(seed: u64, first_block: u64, out: &mut [f32], streaming: bool) -> () = uniform_f32_lanes }
simd_dispatch! { fn uniform_f64_blocks(seed: u64, first_block: u64, out: &mut [f64], streaming: bool) -> () = uniform_f64_lanes }
simd_dispatch! { fn normal_f32_blocks(seed: u64, first_block: u64, out: &mut [f32], streaming: bool) -> () = normal_f32_lanes }
simd_dispatch! { fn normal_f64_blocks(seed: u64, first_block: u64, out: &mut [f64], streaming: bool) -> () = normal_f64_lanes }

/// Elements `first .. first + out.len()` of a sequence with `E` elements per
/// block: partial blocks at either end one at a time, whole blocks in SIMD.
fn fill_range<T: Copy + Send, const E: usize>(
    seed: u64,
    first: u64,
    out: &mut [T],
    convert: fn([u32; 4]) -> [T; E],
    blocks: fn(u64, u64, &mut [T], bool),
    streaming: bool,
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
            blocks(seed, index / E as u64, body, streaming);
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
    // Only raw and uniform f32 have streaming stores; the others are bound by
    // arithmetic, not memory.
    let streams = matches!(
        (spec.dist, out.dtype()),
        (Dist::Raw, _) | (Dist::Uniform, RngType::F32)
    );
    let streaming = streams && streaming_for(out.len() * out.dtype().size());
    match (spec.dist, out) {
        (Dist::Raw, RngSlice::U32(out)) => {
            fill_range(seed, first, out, block_u32, raw_blocks, streaming)
        }
        (Dist::Uniform, RngSlice::F32(out)) => fill_range(
            seed,
            first,
            out,
            block_uniform_f32,
            uniform_f32_blocks,
            streaming,
        ),
        (Dist::Uniform, RngSlice::F64(out)) => fill_range(
            seed,
            first,
            out,
            block_uniform_f64,
            uniform_f64_blocks,
            streaming,
        ),
        (Dist::Normal, RngSlice::F32(out)) => {
            fill_range(seed, first, out, normal_f32, normal_f32_blocks, streaming)
        }
        (Dist::Normal, RngSlice::F64(out)) => {
            fill_range(seed, first, out, normal_f64, normal_f64_blocks, streaming)
        }
        // RngSpec::new refuses every other combination, and rng_fill checks the slice.
        _ => unreachable!("rng_fill validated the spec and the slice"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streaming stores (with their alignment prologue) and ordinary stores
    /// give the reference's elements, whatever the start (across the 2^32-block
    /// boundary too) and the slice's alignment.
    #[test]
    fn streaming_and_ordinary_stores_agree_with_the_reference() {
        use crate::rng::{rng_reference, RngType};
        let n = 300_003;
        let raw = RngSpec::new(Dist::Raw, RngType::U32, 7).unwrap();
        let uniform = RngSpec::new(Dist::Uniform, RngType::F32, 7).unwrap();
        let checked = (0..n).step_by(7).chain(n - 200..n);
        for first in [0u64, 5, 8, 1 << 33, 4 * ((1 << 32) - 40) + 1] {
            for offset in 0..4 {
                let mut ordinary = vec![0u32; n + offset];
                let mut streamed = vec![0u32; n + offset];
                let (a, b) = (&mut ordinary[offset..], &mut streamed[offset..]);
                fill_range(7, first, a, block_u32, raw_blocks, false);
                fill_range(7, first, b, block_u32, raw_blocks, true);
                assert!(a == b, "raw first {first} offset {offset}");
                for i in checked.clone() {
                    let want = rng_reference(&raw, first + i as u64);
                    assert_eq!(f64::from(a[i]), want, "raw {first} {offset} {i}");
                }
                let mut ordinary = vec![0f32; n + offset];
                let mut streamed = vec![0f32; n + offset];
                let (a, b) = (&mut ordinary[offset..], &mut streamed[offset..]);
                fill_range(7, first, a, block_uniform_f32, uniform_f32_blocks, false);
                fill_range(7, first, b, block_uniform_f32, uniform_f32_blocks, true);
                assert!(a == b, "uniform first {first} offset {offset}");
                for i in checked.clone() {
                    let want = rng_reference(&uniform, first + i as u64);
                    assert_eq!(f64::from(a[i]), want, "uniform {first} {offset} {i}");
                }
            }
        }
    }

    #[test]
    fn only_requests_larger_than_the_caches_stream() {
        let llc = super::super::sysinfo::last_level_cache_bytes();
        assert!(!streaming_for(llc));
        assert!(streaming_for(llc + 1));
    }
}
