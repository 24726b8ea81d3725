//! `sin` and `cos` of `f64` arguments past [`super::sin_cos_fast`]'s reach
//! (2^19 pi/2, about 8.2e5) up to 2^30 pi/2 (about 1.7e9): the same kernels
//! after a reduction with pi/2 in five parts, still branch-free, so that
//! `map sin` over `0, 1, 2, ...` vectorises past a million. It costs about a
//! third more than the near reduction, so `map` takes it only for blocks
//! whose every input is past the near one's reach ([`is_far`]).

use super::{quotient, sin_cos_reduced, to_int, two_sum, REDUCE_MAX_Q, REDUCE_MIN_Y};

/// pi/2 in five parts, each the one before's remainder rounded (mpmath, 400
/// bits): the first four to at most 23 significant bits, the last to 53.
/// Their sum is pi/2 to 2^-150 (the test checks 2^-119 against pi's hex
/// digits). With `|q| <= 2^30` every product
/// `q * PIO2_FAR[i]` of the first four is exact (at most 53 bits).
const PIO2_FAR: [f64; 5] = [
    f64::from_bits(0x3FF9_21FB_4000_0000),
    f64::from_bits(0x3E74_442D_0000_0000),
    f64::from_bits(0x3CF8_4698_8000_0000),
    f64::from_bits(0x3B78_CC51_8000_0000),
    f64::from_bits(0xB9EF_C8F8_CBB5_BF6C),
];
/// The largest `|q|` for [`reduce_far`]: `|x|` up to about 1.7e9.
const FAR_MAX_Q: f64 = 1_073_741_824.0;

/// Whether `x` lies past the near reduction's reach (`|q| > 2^19`), where
/// [`super::sin_cos_fast`] never holds: a block of such inputs can take
/// [`sin_cos_fast`] for all of them and give what [`super::sin`] gives.
#[inline(always)]
pub(crate) fn is_far(x: f64) -> bool {
    quotient(x).abs() > REDUCE_MAX_Q
}

/// `x - q pi/2` as `y0 + y1`, the quadrant `q mod 4`, and whether the
/// reduction is accurate: `x` [is far](is_far), `|q| <= 2^30` and
/// `|y0| >= 2^-20`.
///
/// A far `x` is above 2^19, so a multiple of 2^-33, and so is `q P1` (its
/// last bit is at 2^-22; the product is exact): `t = x - q P1` is exact
/// (Sterbenz) and below 82. `q P2`, exact, is a multiple of 2^-44, so
/// `t - q P2` (below 1) is exact too. The next two products are exact and
/// each subtraction keeps its rounding error (TwoSum). What is left is one
/// rounded product (`q P5`, below 2^-66, so its error is below 2^-119), the
/// sum of the two errors (its own error below 2^-104) and the parts'
/// distance from pi/2 times `q` (below 2^-120): in all below 2^-100, which
/// is 2^-80 of `y` at the smallest `y` kept. The kernels need 2^-60.
#[inline(always)]
fn reduce_far(x: f64) -> (f64, f64, u64, bool) {
    let q = quotient(x);
    let s2 = (x - q * PIO2_FAR[0]) - q * PIO2_FAR[1];
    let (s3, e3) = two_sum(s2, -(q * PIO2_FAR[2]));
    let (s4, e4) = two_sum(s3, -(q * PIO2_FAR[3]));
    let tail = (e3 + e4) - q * PIO2_FAR[4];
    let y0 = s4 + tail;
    let y1 = (s4 - y0) + tail;
    let reach = q.abs() > REDUCE_MAX_Q && q.abs() <= FAR_MAX_Q;
    (
        y0,
        y1,
        to_int(q) as u64 & 3,
        reach && y0.abs() >= REDUCE_MIN_Y,
    )
}

/// `(sin x, cos x)` for [far](is_far) `|x| <= 2^30 pi/2` not within 2^-20
/// of a multiple of pi/2. Each within an ulp.
#[inline(always)]
pub(crate) fn sin_cos_fast(x: f64) -> (f64, f64, bool) {
    sin_cos_reduced(x, reduce_far(x))
}

/// `sin x` on [`sin_cos_fast`]'s domain.
#[inline(always)]
pub(crate) fn sin_fast(x: f64) -> (f64, bool) {
    let (sin, _, ok) = sin_cos_fast(x);
    (sin, ok)
}

/// `cos x` on [`sin_cos_fast`]'s domain.
#[inline(always)]
pub(crate) fn cos_fast(x: f64) -> (f64, bool) {
    let (_, cos, ok) = sin_cos_fast(x);
    (cos, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parts against pi/2's hexadecimal digits (pi = 3.243F6A8885A3...,
    /// the digits Blowfish's tables are made of): as integers in units of
    /// 2^-120, the first four exactly and the fifth truncated, they sum to
    /// pi/2 within two units; and each of the four has at most 23 bits.
    #[test]
    fn the_parts_are_pi_over_two() {
        const HALF_PI: i128 = 0x0192_1FB5_4442_D184_6989_8CC5_1701_B839;
        let units = |part: f64| {
            let bits = part.to_bits();
            let mantissa = i128::from(bits & super::super::MANTISSA | 1 << 52);
            let shift = ((bits >> 52) & 0x7FF) as i32 - 1075 + 120;
            let magnitude = if shift >= 0 {
                mantissa << shift
            } else {
                mantissa >> -shift
            };
            if part < 0.0 {
                -magnitude
            } else {
                magnitude
            }
        };
        let sum: i128 = PIO2_FAR.iter().map(|&part| units(part)).sum();
        assert!(
            (sum - HALF_PI).abs() <= 2,
            "off by {} units of 2^-120",
            sum - HALF_PI
        );
        for &part in &PIO2_FAR[..4] {
            let significant = 128 - units(part).trailing_zeros() - units(part).leading_zeros();
            assert!(significant <= 23, "{part:e} has {significant} bits");
        }
    }

    /// How many of `xs` the far reduction holds for, each checked within an
    /// ulp of libm, and how many of their sines and cosines equal libm's.
    fn held_within_an_ulp(xs: impl Iterator<Item = f64>) -> (usize, usize) {
        let (mut held, mut equal) = (0, 0);
        for x in xs {
            assert!(is_far(x), "{x:e} is within the near reduction's reach");
            let (sin, cos, ok) = sin_cos_fast(x);
            if ok {
                held += 1;
                for (name, got, want) in [("sin", sin, x.sin()), ("cos", cos, x.cos())] {
                    let ulps = got.to_bits().abs_diff(want.to_bits());
                    assert!(ulps <= 1, "{name}({x:e}) = {got:e}, libm {want:e}");
                    equal += usize::from(ulps == 0);
                }
            }
        }
        (held, equal)
    }

    #[test]
    fn far_inputs_are_within_an_ulp_of_libm() {
        // Spread over the far range in every binade, and the integers the
        // default `map` input is made of.
        let spread = (0..400_000u64).map(|i| {
            let u = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
            let x = 823_551.0 * (1.686e9f64 / 823_551.0).powf(u);
            if i % 2 == 0 {
                x
            } else {
                -x
            }
        });
        let integers = (0..100_000).map(|i| 1e6 + f64::from(i));
        let top = (0..100_000).map(|i| 1.6e9 - f64::from(i) * 7.0);
        let xs = spread.chain(integers).chain(top);
        let (held, equal) = held_within_an_ulp(xs);
        assert!(held * 1000 >= 600_000 * 999);
        // Glibc is within about 0.5 ulp as well, so most agree to the bit: 97%
        // when this was written. Dropping any carried rounding error (e3,
        // e4, y1) brings it to 84-88%.
        assert!(
            equal * 100 >= 2 * held * 95,
            "{equal} of {} equal",
            2 * held
        );
        // From 2^-20 to 2^-18 away from multiples of pi/2, where sin or cos is
        // about that small and an error of 2^-60 in the reduction is already
        // ulps of it.
        let near_multiples = (0..100_000u32).map(|i| {
            let k = f64::from(1 << 20) + f64::from(i) * 10_737.0;
            let d = 2f64.powi(-19) * (1.0 + f64::from(i % 64) / 64.0);
            k * std::f64::consts::FRAC_PI_2 + if i % 2 == 0 { d } else { -d }
        });
        let (held, equal) = held_within_an_ulp(near_multiples);
        assert!(held >= 99_000);
        // All of them (88% without the rounding errors carried).
        assert!(
            equal * 1000 >= 2 * held * 995,
            "{equal} of {} equal",
            2 * held
        );
        assert!(!sin_cos_fast(1.7e9).2 && !sin_cos_fast(f64::INFINITY).2);
        assert!(!sin_cos_fast(f64::NAN).2 && !sin_cos_fast(1.0).2 && !sin_cos_fast(-1e5).2);
    }

    /// Inputs within 2^-20 of a multiple of pi/2 are left to libm: the
    /// nearest doubles to 2^k pi/2 for large k.
    #[test]
    fn near_multiples_of_half_pi_are_refused() {
        for k in 20..30 {
            let x = std::f64::consts::FRAC_PI_2 * f64::from(1u32 << k);
            assert!(!sin_cos_fast(x).2, "{x:e}");
        }
    }
}
