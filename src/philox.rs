//! Philox4x32-10 (Salmon et al., SC11) and gpucalc's random-stream layout.
//!
//! Every random number gpucalc draws, on any backend, comes from this
//! counter-based generator, so results do not depend on the device, the number
//! of threads or how the work was split. The layout (the README's
//! *Reproducibility* section):
//!
//! - key = `(seed mod 2^32, seed >> 32)`;
//! - block `b` (a `u64`) encrypts the counter `(b mod 2^32, b >> 32, 0, 0)`;
//! - block `b` yields stream words `4b .. 4b+3`, its four outputs in order.
//!
//! ```
//! use gpucalc::philox::{philox4x32_10, stream_word};
//!
//! // Random123's known-answer vector for an all-zero counter and key.
//! let out = philox4x32_10([0; 4], [0; 2]);
//! assert_eq!(out, [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
//! // Word 2 of the stream for seed 0 is the third output of block 0.
//! assert_eq!(stream_word(0, 2), 0xbc57ac4c);
//! ```

/// Multiplier applied to counter word 0 in every round.
pub const PHILOX_M0: u32 = 0xD251_1F53;
/// Multiplier applied to counter word 2 in every round.
pub const PHILOX_M1: u32 = 0xCD9E_8D57;
/// Weyl increment of key word 0 between rounds (golden ratio).
pub const PHILOX_W0: u32 = 0x9E37_79B9;
/// Weyl increment of key word 1 between rounds (sqrt(3) - 1).
pub const PHILOX_W1: u32 = 0xBB67_AE85;
/// Number of rounds of the Philox4x32 variant gpucalc uses.
pub const PHILOX_ROUNDS: usize = 10;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

/// One Philox4x32 bijection with 10 rounds: encrypts `counter` under `key`.
#[inline]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let [mut c0, mut c1, mut c2, mut c3] = counter;
    let [mut k0, mut k1] = key;
    for round in 0..PHILOX_ROUNDS {
        if round > 0 {
            k0 = k0.wrapping_add(PHILOX_W0);
            k1 = k1.wrapping_add(PHILOX_W1);
        }
        let (hi0, lo0) = mulhilo(PHILOX_M0, c0);
        let (hi1, lo1) = mulhilo(PHILOX_M1, c2);
        (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
    }
    [c0, c1, c2, c3]
}

/// The Philox key for a 64-bit seed: `(seed mod 2^32, seed >> 32)`.
#[inline]
pub const fn seed_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The counter that block `block` of a stream encrypts: `(b mod 2^32, b >> 32, 0, 0)`.
#[inline]
pub const fn block_counter(block: u64) -> [u32; 4] {
    [block as u32, (block >> 32) as u32, 0, 0]
}

/// The four stream words `4*block .. 4*block+3` of the stream for `seed`.
#[inline]
pub fn stream_block(seed: u64, block: u64) -> [u32; 4] {
    philox4x32_10(block_counter(block), seed_key(seed))
}

/// Stream word number `index` of the stream for `seed`.
#[inline]
pub fn stream_word(seed: u64, index: u64) -> u32 {
    stream_block(seed, index / 4)[(index % 4) as usize]
}

/// Fills `out` with the stream words `first, first+1, ...` for `seed`.
///
/// Any split of a stream into pieces concatenates to the whole:
/// filling `[first, first+n)` then `[first+n, ...)` equals one fill.
/// The stream's 2^64 words form a cycle: a fill that passes word 2^64 − 1
/// goes on from word 0, as the counter does.
pub fn fill_stream(seed: u64, first: u64, out: &mut [u32]) {
    let key = seed_key(seed);
    let mut index = first;
    let mut rest = out;
    while !rest.is_empty() {
        let block = philox4x32_10(block_counter(index / 4), key);
        let offset = (index % 4) as usize;
        let take = (4 - offset).min(rest.len());
        rest[..take].copy_from_slice(&block[offset..offset + take]);
        rest = &mut rest[take..];
        index = index.wrapping_add(take as u64);
    }
}

/// The uniform `f32` in `[0, 1)`: `(w >> 8) * 2^-24`.
#[inline]
pub fn uniform_f32(word: u32) -> f32 {
    (word >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// The uniform `f64` in `[0, 1)` from two consecutive words:
/// `(((w0 << 32) | w1) >> 11) * 2^-53`.
#[inline]
pub fn uniform_f64(w0: u32, w1: u32) -> f64 {
    let bits = (u64::from(w0) << 32) | u64::from(w1);
    (bits >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_fills_concatenate() {
        let mut whole = vec![0u32; 37];
        fill_stream(99, 5, &mut whole);
        let mut pieces = vec![0u32; 37];
        let (a, b) = pieces.split_at_mut(6);
        fill_stream(99, 5, a);
        fill_stream(99, 11, b);
        assert_eq!(whole, pieces);
        for (i, w) in whole.iter().enumerate() {
            assert_eq!(*w, stream_word(99, 5 + i as u64));
        }
    }

    #[test]
    fn a_fill_past_the_last_word_goes_on_from_word_0() {
        let mut words = [0u32; 5];
        fill_stream(7, u64::MAX - 1, &mut words);
        let want = [u64::MAX - 1, u64::MAX, 0, 1, 2].map(|i| stream_word(7, i));
        assert_eq!(words, want);
    }

    #[test]
    fn uniform_conversions_stay_in_unit_interval() {
        assert_eq!(uniform_f32(0), 0.0);
        assert!(uniform_f32(u32::MAX) < 1.0);
        assert_eq!(uniform_f64(0, 0), 0.0);
        assert!(uniform_f64(u32::MAX, u32::MAX) < 1.0);
        assert_eq!(uniform_f32(1 << 31), 0.5);
        assert_eq!(uniform_f64(1 << 31, 0), 0.5);
    }
}
