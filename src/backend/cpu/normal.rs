//! Box–Muller that vectorises: `ln`, `sin` and `cos` from [`vmath`], branch-free
//! `f64` arithmetic within an ulp.
//!
//! The scalar formulas ([`box_muller_f32`](crate::rng::box_muller_f32),
//! [`box_muller_f64`](crate::rng::box_muller_f64)) call libm once per function
//! and element, which no compiler vectorises (about 1 GB/s on the 2-core
//! development VM). Here every step is arithmetic on lanes. For `f32` each
//! function's value is rounded to `f32` where the scalar formula rounds, which
//! gives the correctly rounded `logf`, `sinf` and `cosf` (bar inputs near a
//! tie): results equal the scalar formula's wherever its libm rounds
//! correctly, and otherwise differ by an ulp or two, well inside
//! [`NORMAL_ULP_BOUND`](crate::rng::NORMAL_ULP_BOUND). Every argument lies in
//! the fast functions' domains: `1 - u1` in `(0, 1]` is normal, and
//! `2 pi u2 < 2 pi` needs no fallback, as `sin` and `cos` are taken together.

use super::vmath::{self, sin_cos_fast};
use crate::philox::{uniform_f32, uniform_f64};

/// `ln x` for `x` in `(0, 1]` (no fallback needed: every such `x` the
/// uniform conversions give is normal).
#[inline(always)]
fn ln(x: f64) -> f64 {
    vmath::ln_fast(x).0
}

/// `(sin t, cos t)` for `0 <= t < 2 pi`. The fast path's domain check fails
/// only within 2^-20 of pi/2, pi and 3 pi/2; there the reduction's absolute
/// error is still below 2^-100, far inside the normal bound (which is
/// relative to `max(|x|, 1)`), so the check is ignored.
#[inline(always)]
fn sin_cos(t: f64) -> (f64, f64) {
    let (sin, cos, _) = sin_cos_fast(t);
    (sin, cos)
}

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
    fn functions_are_within_an_ulp_of_libm() {
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
            worst.iter().all(|&u| u <= 1.0),
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
