//! Philox4x32-10 against Random123's known-answer vectors, and the stream layout.

use gpucalc::philox::{
    fill_stream, philox4x32_10, stream_block, stream_word, uniform_f32, uniform_f64,
};

/// Random123 `kat_vectors`: counter, key, expected output.
const KAT: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
    (
        [0, 0, 0, 0],
        [0, 0],
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
    ),
    (
        [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
        [0xffffffff, 0xffffffff],
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ),
    (
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0xa4093822, 0x299f31d0],
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ),
];

#[test]
fn random123_known_answers() {
    for (counter, key, expected) in KAT {
        assert_eq!(
            philox4x32_10(counter, key),
            expected,
            "counter {counter:08x?} key {key:08x?}"
        );
    }
}

#[test]
fn stream_layout_follows_design() {
    // key = (seed mod 2^32, seed >> 32); block b encrypts (b mod 2^32, b >> 32, 0, 0).
    let seed = 0x0123_4567_89ab_cdef_u64;
    let block = 0x0000_0005_0000_0007_u64;
    let expected = philox4x32_10([7, 5, 0, 0], [0x89ab_cdef, 0x0123_4567]);
    assert_eq!(stream_block(seed, block), expected);
    for i in 0..4 {
        assert_eq!(stream_word(seed, 4 * block + i), expected[i as usize]);
    }
}

#[test]
fn stream_pieces_concatenate_to_the_whole() {
    let mut whole = vec![0u32; 1000];
    fill_stream(11, 3, &mut whole);
    let mut pieces = vec![0u32; 1000];
    let mut at = 0;
    for len in [1usize, 2, 5, 13, 100, 879] {
        fill_stream(11, 3 + at as u64, &mut pieces[at..at + len]);
        at += len;
    }
    assert_eq!(at, 1000);
    assert_eq!(whole, pieces);
}

#[test]
fn uniform_conversions_follow_design() {
    assert_eq!(uniform_f32(0xffff_ffff), 16_777_215.0 / 16_777_216.0);
    assert_eq!(uniform_f32(0x0000_01ff), 1.0 / 16_777_216.0);
    assert_eq!(uniform_f64(0xffff_ffff, 0xffff_ffff), 1.0 - 2f64.powi(-53));
    assert_eq!(uniform_f64(0, 0x800), 2f64.powi(-53));
}
