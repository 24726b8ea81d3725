//! The CPU `pi` kernel: Philox4x32-10 over many counters at once so the compiler
//! emits SIMD multiplies, with the widest instruction set the CPU has chosen at run time.

use crate::philox::{
    seed_key, stream_block, PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS, PHILOX_W0, PHILOX_W1,
};

/// Counters encrypted side by side on the AVX-512 path: four registers of
/// eight 64-bit lanes per counter word, enough independent multiplies to hide
/// their latency.
const LANES_WIDE: usize = 32;
/// Counters side by side on the AVX2 and portable paths (16 registers).
const LANES_NARROW: usize = 16;

/// One Philox block's `pi` contribution: samples `2b` and `2b + 1`.
#[inline(always)]
fn hit(x: u32, y: u32) -> u64 {
    let (x, y) = (u64::from(x >> 8), u64::from(y >> 8));
    u64::from(x * x + y * y < 1 << 48)
}

/// Hits of the two samples of every block in `first_block .. first_block + blocks`.
#[inline(always)]
fn count_blocks_portable<const L: usize>(seed: u64, first_block: u64, blocks: u64) -> u64 {
    let mut hits = 0;
    let mut block = first_block;
    let end = first_block + blocks;
    while block < end {
        // Split at 2^32 boundaries so counter word 1 is the same in every lane.
        let segment_end = end.min(((block >> 32) + 1) << 32);
        hits += count_segment::<L>(seed, block, segment_end);
        block = segment_end;
    }
    hits
}

/// Blocks `block .. end`, all with the same high counter word.
///
/// Each 32-bit Philox word lives in the low half of a 64-bit lane, so every
/// 32x32->64 multiply is one `vpmuludq` (which reads only the low halves) and
/// the high product half is one shift: no shuffles, no masks inside the rounds.
/// High halves of the lanes hold garbage that never reaches a result: every
/// use masks or multiplies the low half only. Each loop body is straight-line code over arrays,
/// which the compiler vectorises.
#[inline(always)]
fn count_segment<const L: usize>(seed: u64, mut block: u64, end: u64) -> u64 {
    const LOW: u64 = 0xffff_ffff;
    let [key0, key1] = seed_key(seed);
    let hi = block >> 32;
    let mut lane_hits = [0u64; L];
    while end - block >= L as u64 {
        let lo = block & LOW;
        let mut c0: [u64; L] = std::array::from_fn(|i| lo + i as u64);
        let mut c1 = [hi; L];
        let mut c2 = [0u64; L];
        let mut c3 = [0u64; L];
        let (mut k0, mut k1) = (u64::from(key0), u64::from(key1));
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
        for i in 0..L {
            let (x0, y0) = ((c0[i] & LOW) >> 8, (c1[i] & LOW) >> 8);
            let (x1, y1) = ((c2[i] & LOW) >> 8, (c3[i] & LOW) >> 8);
            lane_hits[i] +=
                u64::from(x0 * x0 + y0 * y0 < 1 << 48) + u64::from(x1 * x1 + y1 * y1 < 1 << 48);
        }
        block += L as u64;
    }
    let mut hits: u64 = lane_hits.iter().sum();
    for b in block..end {
        let w = stream_block(seed, b);
        hits += hit(w[0], w[1]) + hit(w[2], w[3]);
    }
    hits
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
fn count_blocks_avx512(seed: u64, first_block: u64, blocks: u64) -> u64 {
    count_blocks_portable::<LANES_WIDE>(seed, first_block, blocks)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn count_blocks_avx2(seed: u64, first_block: u64, blocks: u64) -> u64 {
    count_blocks_portable::<LANES_NARROW>(seed, first_block, blocks)
}

/// Hits of both samples of every block in the range, on the best SIMD path available.
pub(crate) fn count_blocks(seed: u64, first_block: u64, blocks: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU supports every feature the function was compiled for.
            return unsafe { count_blocks_avx512(seed, first_block, blocks) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, the function's only target feature.
            return unsafe { count_blocks_avx2(seed, first_block, blocks) };
        }
    }
    count_blocks_portable::<LANES_NARROW>(seed, first_block, blocks)
}

/// Hits among samples `first .. first + count` (any alignment) of the stream for `seed`.
pub(crate) fn count_samples(seed: u64, first: u64, count: u64) -> u64 {
    if count == 0 {
        return 0;
    }
    let end = first + count;
    let mut hits = 0;
    let mut sample = first;
    if sample % 2 == 1 {
        let w = stream_block(seed, sample / 2);
        hits += hit(w[2], w[3]);
        sample += 1;
    }
    let full_blocks = (end - sample) / 2;
    hits += count_blocks(seed, sample / 2, full_blocks);
    sample += 2 * full_blocks;
    if sample < end {
        let w = stream_block(seed, sample / 2);
        hits += hit(w[0], w[1]);
    }
    hits
}

/// The plainest possible statement of DESIGN.md's rule, one sample at a time:
/// the reference every backend is tested against.
pub fn reference_hits(seed: u64, first: u64, count: u64) -> u64 {
    (first..first + count)
        .map(|j| {
            let x = crate::philox::stream_word(seed, 2 * j);
            let y = crate::philox::stream_word(seed, 2 * j + 1);
            hit(x, y)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_path_matches_reference_at_every_alignment() {
        for seed in [0u64, 1, 0xdead_beef_0000_0001] {
            for first in [0u64, 1, 2, 7, 31, 32, 33] {
                for count in [0u64, 1, 2, 3, 31, 32, 33, 100, 257] {
                    assert_eq!(
                        count_samples(seed, first, count),
                        reference_hits(seed, first, count),
                        "seed {seed} first {first} count {count}"
                    );
                }
            }
        }
    }

    #[test]
    fn straddling_the_high_counter_word_matches_reference() {
        // Blocks 2^32 - 5 .. 2^32 + 40 cross the boundary where counter word 1 changes.
        let first = 2 * ((1u64 << 32) - 5);
        assert_eq!(count_samples(3, first, 90), reference_hits(3, first, 90));
    }

    #[test]
    fn portable_path_matches_dispatched_path() {
        assert_eq!(
            count_blocks_portable::<LANES_NARROW>(5, 10, 1000),
            count_blocks(5, 10, 1000)
        );
    }
}
