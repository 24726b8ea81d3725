//! The CPU `pi` kernel: the hit test of [`crate::workloads::pi`] on SIMD lanes of Philox output.

use super::simd::{philox_lanes, segments, simd_dispatch, LOW};
use crate::philox::{seed_key, stream_block};

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
    for (start, end) in segments(first_block, blocks) {
        hits += count_segment::<L>(seed, start, end);
    }
    hits
}

/// Blocks `block .. end`, all with the same high counter word: the hit test
/// runs on the lanes [`philox_lanes`] leaves, in the same vector registers.
#[inline(always)]
fn count_segment<const L: usize>(seed: u64, mut block: u64, end: u64) -> u64 {
    let key = seed_key(seed);
    let hi = block >> 32;
    let mut lane_hits = [0u64; L];
    while end - block >= L as u64 {
        let [c0, c1, c2, c3] = philox_lanes::<L>(key, hi, block & LOW);
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

simd_dispatch! {
    /// Hits of both samples of every block in the range, on the best SIMD path available.
    pub(crate) fn count_blocks(seed: u64, first_block: u64, blocks: u64) -> u64 = count_blocks_portable
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

/// The hits among samples `first .. first + count` for `seed`, by the plainest
/// statement of the hit rule ([`crate::workloads::pi`]), one sample at a time:
/// the reference every backend is tested against.
///
/// # Panics
///
/// Where `first + count` is past 2^63, the samples the stream holds (sample
/// `j` takes words `2j` and `2j + 1` of 2^64).
pub fn reference_hits(seed: u64, first: u64, count: u64) -> u64 {
    let end = first
        .checked_add(count)
        .filter(|&end| end <= 1 << 63)
        .unwrap_or_else(|| panic!("samples {first} + {count} lie past the stream's 2^63"));
    (first..end)
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
    #[should_panic(expected = "past the stream's 2^63")]
    fn a_reference_past_the_stream_is_refused_not_wrapped() {
        reference_hits(0, u64::MAX, 2);
    }

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
            count_blocks_portable::<{ super::super::simd::LANES_NARROW }>(5, 10, 1000),
            count_blocks(5, 10, 1000)
        );
    }
}
