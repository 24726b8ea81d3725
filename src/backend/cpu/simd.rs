//! Philox4x32-10 over many counters at once, and run-time choice of the widest
//! SIMD instruction set, shared by every CPU kernel that draws random numbers.
//!
//! Each 32-bit Philox word lives in the low half of a 64-bit lane, so every
//! 32x32->64 multiply is one `vpmuludq` (which reads only the low halves) and
//! the high product half is one shift (one `vpshufd` on the AVX-512 path): no
//! masks inside the rounds. The high halves of the lanes hold garbage: every
//! use masks them off. The AVX-512 path also puts 32 blocks' words in stream
//! order for the stores, and writes with streaming stores (`fill_streaming`).

use crate::philox::{PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS, PHILOX_W0, PHILOX_W1};

/// Counters side by side on the AVX-512 path: four registers of eight 64-bit
/// lanes per counter word, enough independent multiplies to hide their latency.
pub(crate) const LANES_WIDE: usize = 32;
/// Counters side by side on the AVX2 and portable paths (16 registers).
pub(crate) const LANES_NARROW: usize = 16;
/// The low 32 bits of a lane.
pub(crate) const LOW: u64 = 0xffff_ffff;

/// Encrypts the `L` counters `(lo + i, hi, 0, 0)` under `key`. Returns the four
/// output words per lane, each in the low 32 bits of a `u64` (mask before use).
/// `lo + L - 1` must not pass 2^32: see [`segments`].
#[inline(always)]
pub(crate) fn philox_lanes<const L: usize>(key: [u32; 2], hi: u64, lo: u64) -> [[u64; L]; 4] {
    #[cfg(target_arch = "x86_64")]
    if L == LANES_WIDE && std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, the only feature philox_avx512 needs.
        let words = unsafe { avx512::philox_avx512(key, hi, lo) };
        // SAFETY: L == LANES_WIDE, so both types are [[u64; 32]; 4].
        return unsafe { std::mem::transmute_copy(&words) };
    }
    let mut c0: [u64; L] = std::array::from_fn(|i| lo + i as u64);
    let mut c1 = [hi; L];
    let mut c2 = [0u64; L];
    let mut c3 = [0u64; L];
    let (mut k0, mut k1) = (u64::from(key[0]), u64::from(key[1]));
    for round in 0..PHILOX_ROUNDS {
        if round > 0 {
            k0 = (k0 + u64::from(PHILOX_W0)) & LOW;
            k1 = (k1 + u64::from(PHILOX_W1)) & LOW;
        }
        for i in 0..L {
            let p0 = u64::from(PHILOX_M0) * (c0[i] & LOW);
            let p1 = u64::from(PHILOX_M1) * (c2[i] & LOW);
            c0[i] = (p1 >> 32) ^ c1[i] ^ k0;
            c1[i] = p1;
            c2[i] = (p0 >> 32) ^ c3[i] ^ k1;
            c3[i] = p0;
        }
    }
    [c0, c1, c2, c3]
}

/// Philox rounds written with AVX-512 intrinsics. Autovectorised code takes
/// the high product half with `vpsrlq`, which competes with `vpmuludq` for
/// port 0; `vpshufd` runs on port 5, and the rounds unroll with their keys
/// broadcast once. About 1.2x the autovectorised rate (`cargo bench --bench rng`).
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use std::arch::x86_64::{
        __m512i, _mm512_add_epi64, _mm512_loadu_si512, _mm512_mul_epu32, _mm512_permutex2var_epi64,
        _mm512_set1_epi64, _mm512_set_epi64, _mm512_setzero_si512, _mm512_shuffle_epi32,
        _mm512_slli_epi64, _mm512_stream_si512, _mm512_ternarylogic_epi64, _mm_sfence,
    };

    use super::{LANES_WIDE, LOW};
    use crate::philox::{PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS, PHILOX_W0, PHILOX_W1};

    /// Registers of eight lanes per counter word.
    const REGS: usize = LANES_WIDE / 8;

    /// The key of every round, each word broadcast to eight lanes.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn round_keys(key: [u32; 2]) -> [[__m512i; 2]; PHILOX_ROUNDS] {
        let (mut k0, mut k1) = (u64::from(key[0]), u64::from(key[1]));
        std::array::from_fn(|round| {
            if round > 0 {
                k0 = (k0 + u64::from(PHILOX_W0)) & LOW;
                k1 = (k1 + u64::from(PHILOX_W1)) & LOW;
            }
            [_mm512_set1_epi64(k0 as i64), _mm512_set1_epi64(k1 as i64)]
        })
    }

    /// One Philox round on every register.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn round(c: &mut [[__m512i; REGS]; 4], m0: __m512i, m1: __m512i, key: [__m512i; 2]) {
        let [c0, c1, c2, c3] = c;
        for (((x0, x1), x2), x3) in c0.iter_mut().zip(c1).zip(c2).zip(c3) {
            let p0 = _mm512_mul_epu32(m0, *x0);
            let p1 = _mm512_mul_epu32(m1, *x2);
            // 0xF5 copies each lane's high dword into its low dword.
            let h0 = _mm512_shuffle_epi32::<0xF5>(p0);
            let h1 = _mm512_shuffle_epi32::<0xF5>(p1);
            // 0x96: three-way exclusive or.
            *x0 = _mm512_ternarylogic_epi64::<0x96>(h1, *x1, key[0]);
            *x1 = p1;
            *x2 = _mm512_ternarylogic_epi64::<0x96>(h0, *x3, key[1]);
            *x3 = p0;
        }
    }

    /// [`super::philox_lanes`] for `LANES_WIDE` counters.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn philox_avx512(key: [u32; 2], hi: u64, lo: u64) -> [[u64; LANES_WIDE]; 4] {
        let (m0, m1) = (
            _mm512_set1_epi64(i64::from(PHILOX_M0)),
            _mm512_set1_epi64(i64::from(PHILOX_M1)),
        );
        let lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
        let zero = _mm512_setzero_si512();
        let mut c: [[__m512i; REGS]; 4] = [
            std::array::from_fn(|r| {
                _mm512_add_epi64(lane, _mm512_set1_epi64((lo + 8 * r as u64) as i64))
            }),
            [_mm512_set1_epi64(hi as i64); REGS],
            [zero; REGS],
            [zero; REGS],
        ];
        const { assert!(PHILOX_ROUNDS.is_multiple_of(2), "the rounds go in pairs") };
        let keys = round_keys(key);
        // Unrolled by hand: LLVM keeps a rolled loop here, which costs a
        // register move per value per round.
        for pair in keys.chunks_exact(2) {
            round(&mut c, m0, m1, pair[0]);
            round(&mut c, m0, m1, pair[1]);
        }
        // SAFETY: four registers of eight u64 lanes are 32 u64s, and every bit
        // pattern is a valid u64.
        unsafe { std::mem::transmute::<[[__m512i; REGS]; 4], [[u64; LANES_WIDE]; 4]>(c) }
    }

    /// [`super::fill_streaming`].
    ///
    /// # Safety
    /// The CPU has AVX-512F; `size_of::<T>()` divides 64.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fill_streaming<T: crate::dtype::Real>(out: &mut [T], value: T) {
        let pattern = [value; 64];
        // SAFETY: `pattern` is 64 f32 or f64 values (no padding): at least 64
        // initialised bytes.
        let v = unsafe { _mm512_loadu_si512(pattern.as_ptr().cast()) };
        let head = out.as_ptr().align_offset(64).min(out.len());
        let (head, rest) = out.split_at_mut(head);
        head.fill(value);
        let mut lines = rest.chunks_exact_mut(64 / size_of::<T>());
        for line in &mut lines {
            // SAFETY: `line` is 64 writable bytes, 64-byte aligned (after `head`).
            unsafe { _mm512_stream_si512(line.as_mut_ptr().cast(), v) };
        }
        lines.into_remainder().fill(value);
        // Streaming stores are weakly ordered: make them visible before returning.
        _mm_sfence();
    }

    /// The 128 words of [`super::philox_lanes`]' 32 blocks in stream order
    /// (lane i's four words at 4i .. 4i + 4), as eight registers of 16 u32s:
    /// six instructions per eight blocks, where autovectorised code built the
    /// interleaving out of many more shuffles.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn words_in_order(words: [[u64; LANES_WIDE]; 4]) -> [__m512i; 8] {
        // SAFETY: 32 u64s are four registers of eight lanes; any bits are valid.
        let c =
            unsafe { std::mem::transmute::<[[u64; LANES_WIDE]; 4], [[__m512i; REGS]; 4]>(words) };
        let low = _mm512_set1_epi64(LOW as i64);
        // Qword k of a register then qword k of the other, for blocks 0..3 and 4..7.
        let first_half = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
        let second_half = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
        let mut out = [_mm512_setzero_si512(); 8];
        for r in 0..REGS {
            // 0xF8: a | (b & c): words (0, 1) and (2, 3) of each block as one u64.
            let w01 =
                _mm512_ternarylogic_epi64::<0xF8>(_mm512_slli_epi64::<32>(c[1][r]), c[0][r], low);
            let w23 =
                _mm512_ternarylogic_epi64::<0xF8>(_mm512_slli_epi64::<32>(c[3][r]), c[2][r], low);
            out[2 * r] = _mm512_permutex2var_epi64(w01, first_half, w23);
            out[2 * r + 1] = _mm512_permutex2var_epi64(w01, second_half, w23);
        }
        out
    }
}

/// `out.fill(value)` with streaming (non-temporal) stores where the CPU has
/// AVX-512: writes go to memory without reading each line first, the fastest
/// way to write memory that will not be read soon (`T` is 4 or 8 bytes).
pub(crate) fn fill_streaming<T: crate::dtype::Real>(out: &mut [T], value: T) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && 64 % size_of::<T>() == 0 {
        // SAFETY: the CPU has AVX-512F, and T's size divides 64.
        unsafe { avx512::fill_streaming(out, value) };
        return;
    }
    out.fill(value);
}

/// Blocks `first .. first + count` split at multiples of 2^32, as `(start,
/// end)` pieces: within each, counter word 1 (`block >> 32`) is the same in
/// every lane.
///
/// An iterator rather than a callback: the loop body stays in the caller and
/// gets its `target_feature`s, where a closure that LLVM leaves out of line
/// is compiled for the baseline instruction set (SSE2). `pi` and `rng` ran
/// that way on AVX2 machines, at a fifth of `pi`'s AVX2 rate.
#[inline(always)]
pub(crate) fn segments(first: u64, count: u64) -> impl Iterator<Item = (u64, u64)> {
    let end = first + count;
    let mut block = first;
    std::iter::from_fn(move || {
        let start = block;
        block = end.min(((start >> 32) + 1) << 32);
        (start < end).then_some((start, block))
    })
}

/// The instruction set the CPU kernels run with, detected once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// AVX-512 F/BW/DQ/VL.
    Avx512,
    /// AVX2.
    Avx2,
    /// Whatever the compilation target guarantees.
    Baseline,
}

/// The widest instruction set this CPU supports, of those compiled for.
pub(crate) fn isa() -> Isa {
    static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
    *ISA.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl") {
                return Isa::Avx512;
            }
            if has!("avx2") {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    })
}

/// Defines `fn name(args) -> ret` that calls `generic::<L>(args)` compiled for
/// the widest instruction set the CPU has (`L` lanes to match). `generic`
/// must be `#[inline(always)]`: only code inlined into the wrappers gets
/// their instruction set, and LLVM may leave a large function out of line.
macro_rules! simd_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $generic:ident) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
                fn wide($($arg: $ty),*) -> $ret {
                    $generic::<{ $crate::backend::cpu::simd::LANES_WIDE }>($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                fn narrow($($arg: $ty),*) -> $ret {
                    $generic::<{ $crate::backend::cpu::simd::LANES_NARROW }>($($arg),*)
                }
                match $crate::backend::cpu::simd::isa() {
                    // SAFETY: isa() saw every feature `wide` is compiled for.
                    $crate::backend::cpu::simd::Isa::Avx512 => return unsafe { wide($($arg),*) },
                    // SAFETY: isa() saw AVX2, the only feature `narrow` is compiled for.
                    $crate::backend::cpu::simd::Isa::Avx2 => return unsafe { narrow($($arg),*) },
                    $crate::backend::cpu::simd::Isa::Baseline => {}
                }
            }
            $generic::<{ $crate::backend::cpu::simd::LANES_NARROW }>($($arg),*)
        }
    };
}
pub(crate) use simd_dispatch;
