//! Box–Muller that vectorises: `ln`, `sin` and `cos` as branch-free `f64`
//! polynomials, within a few `f64` ulps of libm.
//!
//! The scalar formulas ([`box_muller_f32`](crate::rng::box_muller_f32),
//! [`box_muller_f64`](crate::rng::box_muller_f64)) call libm once per function
//! and element, which no compiler vectorises (about 1 GB/s on the 2-core
//! development VM). Here every step is arithmetic on lanes. For `f32` each
//! function's value is rounded to `f32` where the scalar formula rounds, which
//! gives the correctly rounded `logf`, `sinf` and `cosf` (bar inputs within
//! about 1e-15 of a tie): results equal the scalar formula's wherever its libm
//! rounds correctly, and otherwise differ by an ulp or two, well inside
//! [`NORMAL_ULP_BOUND`](crate::rng::NORMAL_ULP_BOUND). Evaluating the `f32`
//! case in `f64` costs about 5% against shorter `f32`-accurate polynomials.

use crate::philox::{uniform_f32, uniform_f64};

/// `ln(x)` to within a few ulps, for finite normal `x > 0`: `x = 2^k m` with
/// `m` in `[sqrt(1/2), sqrt(2))` (musl's split), then `ln m = 2 atanh(s)`,
/// `s = (m - 1) / (m + 1)`, `|s| <= 0.172`, summed to the `s^21` term
/// (truncation below 3e-17 relative), plus `k ln 2` with ln 2 in fdlibm's two
/// parts (`k * LN2_HI` exact).
#[inline(always)]
fn ln(x: f64) -> f64 {
    const SQRT_HALF_BITS: u64 = 0x3FE6_A09E_667F_3BCD;
    const MANTISSA: u64 = (1 << 52) - 1;
    const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
    // Moves the exponent boundary from 1 to sqrt(1/2).
    let bits = x.to_bits().wrapping_add(1.0f64.to_bits() - SQRT_HALF_BITS);
    let k = ((bits >> 52) as i64 - 1023) as f64;
    let m = f64::from_bits((bits & MANTISSA) + SQRT_HALF_BITS);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    // ln m = 2 atanh s = 2s + 2s z (1/3 + z (1/5 + ... + z/21)).
    let mut series = 1.0 / 21.0;
    for d in [19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0] {
        series = 1.0 / d + z * series;
    }
    k * LN2_HI + (2.0 * s + (2.0 * s * z * series + k * LN2_LO))
}

/// `(sin t, cos t)` to within a few ulps for `0 <= t < 8`: `t = q pi/2 + y`,
/// `|y| <= pi/4`, with pi/2 in fdlibm's three parts (the first two of 33 bits,
/// so their multiples by `q <= 5` are exact), then Taylor polynomials to `y^17`
/// and `y^18` (truncation below 1e-19).
#[inline(always)]
fn sin_cos(t: f64) -> (f64, f64) {
    const PIO2_1: f64 = f64::from_bits(0x3FF9_21FB_5440_0000);
    const PIO2_2: f64 = f64::from_bits(0x3DD0_B461_1A60_0000);
    const PIO2_3: f64 = f64::from_bits(0x3BA3_198A_2E03_7073);
    let q = (t * std::f64::consts::FRAC_2_PI).round_ties_even();
    let y = ((t - q * PIO2_1) - q * PIO2_2) - q * PIO2_3;
    let y2 = y * y;
    // sin y = y (1 - y^2 (1/3! - y^2 (1/5! - ...))), cos y = 1 - y^2 (1/2! - ...).
    let mut sin = INV_FACTORIAL[17];
    for n in [15, 13, 11, 9, 7, 5, 3] {
        sin = INV_FACTORIAL[n] - y2 * sin;
    }
    let sin = y * (1.0 - y2 * sin);
    let mut cos = INV_FACTORIAL[18];
    for n in [16, 14, 12, 10, 8, 6, 4, 2] {
        cos = INV_FACTORIAL[n] - y2 * cos;
    }
    let cos = 1.0 - y2 * cos;
    // Quadrant q mod 4: (sin, cos) of t are (s, c), (c, -s), (-s, -c), (-c, s).
    // Adding 1.5 * 2^52 puts the integer q in the low mantissa bits (a float to
    // integer `as` conversion would not vectorise: it saturates).
    let quadrant = (q + 6_755_399_441_055_744.0).to_bits() & 3;
    let (a, b) = if quadrant & 1 != 0 {
        (cos, sin)
    } else {
        (sin, cos)
    };
    let sin_t = if quadrant & 2 != 0 { -a } else { a };
    let cos_t = if (quadrant + 1) & 2 != 0 { -b } else { b };
    (sin_t, cos_t)
}

/// `1/n!` for `n` up to 18 (each `n!` exact in `f64`), computed at compile time.
const INV_FACTORIAL: [f64; 19] = {
    let mut table = [1.0; 19];
    let (mut factorial, mut n) = (1.0, 1);
    while n < 19 {
        factorial *= n as f64;
        table[n] = 1.0 / factorial;
        n += 1;
    }
    table
};

/// Box–Muller in `f64` on `(u1, u2)`, as [`crate::rng::box_muller_f64`]
/// computes it, with [`ln`] and [`sin_cos`] for libm's functions.
#[inline(always)]
pub(crate) fn box_muller_f64(u1: f64, u2: f64) -> (f64, f64) {
    let r = (-2.0 * ln(1.0 - u1)).sqrt();
    let (sin, cos) = sin_cos(std::f64::consts::TAU * u2);
    (r * cos, r * sin)
}

/// Normal f64 elements of one block: one pair from words (0, 1) and (2, 3).
#[inline(always)]
pub(crate) fn block_f64(w: [u32; 4]) -> [f64; 2] {
    let (a, b) = box_muller_f64(uniform_f64(w[0], w[1]), uniform_f64(w[2], w[3]));
    [a, b]
}

/// Box–Muller in `f32` on `(u1, u2)`, as `box_muller_f32` computes it: `1 - u1`,
/// `2 pi u2`, the products and the square root in `f32`; `ln`, `sin` and `cos`
/// rounded from `f64`.
#[inline(always)]
pub(crate) fn box_muller(u1: f32, u2: f32) -> (f32, f32) {
    let ln = ln(f64::from(1.0f32 - u1)) as f32;
    let r = (-2.0f32 * ln).sqrt();
    let (sin, cos) = sin_cos(f64::from(std::f32::consts::TAU * u2));
    (r * cos as f32, r * sin as f32)
}

/// Normal f32 elements of one block: pairs (words 0, 1) and (2, 3).
#[inline(always)]
pub(crate) fn block_f32(w: [u32; 4]) -> [f32; 4] {
    let [u0, u1, u2, u3] = w.map(uniform_f32);
    let (a, b) = box_muller(u0, u1);
    let (c, d) = box_muller(u2, u3);
    [a, b, c, d]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::box_muller_f32;

    /// `ln`, `sin` and `cos` rounded to f32 are the correctly rounded values
    /// (f64 libm's, rounded), bar the rare input within 1e-15 of a tie.
    #[test]
    fn functions_round_to_the_correctly_rounded_f32() {
        let (mut wrong, mut total) = (0, 0);
        for i in (1..1u32 << 24).step_by(97) {
            let x = 1.0f32 - i as f32 / 16_777_216.0;
            wrong += usize::from(ln(f64::from(x)) as f32 != f64::from(x).ln() as f32);
            let t = f64::from(std::f32::consts::TAU * (i as f32 / 16_777_216.0));
            let (s, c) = sin_cos(t);
            wrong +=
                usize::from(s as f32 != t.sin() as f32) + usize::from(c as f32 != t.cos() as f32);
            total += 3;
        }
        assert!(
            wrong * 10_000 <= total,
            "{wrong} of {total} rounded differently"
        );
    }

    #[test]
    fn functions_are_within_a_few_ulps_of_libm() {
        let ulps = |got: f64, want: f64| {
            (got - want).abs() / (f64::from_bits(want.abs().to_bits() + 1) - want.abs())
        };
        let mut worst = [0.0f64; 3];
        for i in 1..=200_000u64 {
            // 1 - u1 over (0, 1] (dense near 1 and down to 2^-53), t over [0, 2 pi).
            let x = if i % 2 == 0 {
                i as f64 / 200_000.0
            } else {
                (i as f64).powi(-3)
            };
            worst[0] = worst[0].max(ulps(ln(x), x.ln()));
            let t = std::f64::consts::TAU * (i as f64 / 200_001.0);
            let (s, c) = sin_cos(t);
            worst[1] = worst[1].max(ulps(s, t.sin()));
            worst[2] = worst[2].max(ulps(c, t.cos()));
        }
        let tiny = 2f64.powi(-53);
        worst[0] = worst[0].max(ulps(ln(tiny), tiny.ln()));
        for t in [
            0.0,
            std::f64::consts::FRAC_PI_4,
            std::f64::consts::FRAC_PI_2,
            6.283_185_5,
        ] {
            let (s, c) = sin_cos(t);
            worst[1] = worst[1].max(ulps(s, f64::sin(t)));
            worst[2] = worst[2].max(ulps(c, f64::cos(t)));
        }
        assert!(
            worst.iter().all(|&u| u <= 4.0),
            "ln, sin, cos: {worst:?} ulps"
        );
    }

    #[test]
    fn agrees_with_scalar_libm_box_muller() {
        let (mut equal, mut total) = (0, 0);
        // Every 97th u1 and a spread of u2, both on the 2^-24 grid; u1 = 0 and the
        // largest u1 (r = 0 and r at its maximum) included.
        for i in (0..1u32 << 24).step_by(97).chain([(1 << 24) - 1]) {
            let u1 = i as f32 / 16_777_216.0;
            let u2 = (i.wrapping_mul(2_654_435_761) >> 8) as f32 / 16_777_216.0;
            let (got, want) = (box_muller(u1, u2), box_muller_f32(u1, u2));
            for (g, w) in [(got.0, want.0), (got.1, want.1)] {
                let bound = 4.0 * f32::EPSILON * w.abs().max(1.0);
                assert!((g - w).abs() <= bound, "u1 {u1} u2 {u2}: {g} vs {w}");
                equal += usize::from(g == w);
                total += 1;
            }
        }
        // Most agree to the bit; the rest differ where glibc's logf, sinf and
        // cosf do not round correctly (about 1% of inputs each).
        assert!(equal * 100 >= total * 97, "{equal} of {total} equal");
    }
}
