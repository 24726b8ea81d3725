//! `exp`, `ln`, `sin` and `cos` for `f32`: the parent module's `f64` methods
//! cut to what an `f32` result needs (fewer terms, no carried rounding
//! errors), with a relative error below 2^-45 before the one rounding to
//! `f32`, and for sin and cos a reduction of their own that holds to 4.2e8
//! (the `f64` near one stops at 8.2e5). Results are the correctly rounded `f32`
//! but for inputs within about 2^-45 relative of a tie, which may round
//! either way. Checked exhaustively over all 2^32 inputs of each function
//! against 240-bit mpmath, 18 of the 1.7e10 results were an ulp off, each
//! within 1.2e-14 of a tie (10 of them as glibc's `f64` value rounded);
//! that was before the wider reduction, after which sin and cos differ from
//! glibc's `f64` value rounded for 5 of the 1.3e9 inputs from 0 to 4.3e8 (and
//! their mirror images), each within 2^-40 of a tie
//! (`every_f32_through_the_wide_reduction`). `map` runs 1.3 to 1.7 times as
//! fast as with the `f64` methods rounded (the 2-core development VM).

use super::{
    by_quadrant, exp_split, ln_join, ln_split, times_pow2, to_int, EXP_DOMAIN, INV_FACTORIAL,
};

/// pi/2 in four parts for `f32` arguments, each the one before's remainder
/// rounded (mpmath, 300 bits): the first three to 25 significant bits, the
/// last to 53; their sum is pi/2 to 2^-134. With `|q| <= 2^28` every product
/// `q * PIO2_W[i]` of the first three is exact (at most 53 bits), and so are
/// the first two subtractions of [`reduce_wide`] (see there).
const PIO2_W: [f64; 4] = [
    f64::from_bits(0x3FF9_21FB_5000_0000),
    f64::from_bits(0x3E51_10B4_6000_0000),
    f64::from_bits(0x3C91_A626_3000_0000),
    f64::from_bits(0x3AE8_A2E0_3707_344A),
];
/// The largest `|q|` for [`reduce_wide`]: `|x|` up to about 4.2e8.
const WIDE_MAX_Q: f64 = 268_435_456.0;
/// The smallest reduced `|y|` kept for `q != 0`: the reduction's absolute
/// error beyond its two roundings, below 2^-103, is then below 2^-63 of `y`. No `f32` up to 4.2e8 comes
/// this close to a multiple of pi/2 (checked exhaustively); libm would take one.
const WIDE_MIN_Y: f64 = 1.0 / 1_099_511_627_776.0;

/// `x - q pi/2` for an `f32` `x` with `|q| <= 2^28` (|x| up to about 4.2e8),
/// to within 2^-52 of itself (plus 2^-103), the quadrant `q mod 4`, and
/// whether that holds.
///
/// Every `f32` with `q != 0` (so `|x| >= pi/4`) is a multiple of 2^-24, as is
/// `q P1` (P1 has 25 bits, the last at 2^-24): `t1 = x - q P1` is exact and
/// below 8 in size. `q P2` is a multiple of 2^-50 below 8, so `t2 = t1 - q P2`
/// (below 1) is exact too. The last two steps round once each (2^-53 of
/// `y`, an `f32` result needs 2^-45); the products `q P3` and `q P4` are
/// exact and within 2^-105, and the parts sum to pi/2 within 2^-134.
#[inline(always)]
fn reduce_wide(x: f64) -> (f64, u64, bool) {
    let q = (x * std::f64::consts::FRAC_2_PI).round_ties_even();
    let t2 = (x - q * PIO2_W[0]) - q * PIO2_W[1];
    let y = (t2 - q * PIO2_W[2]) - q * PIO2_W[3];
    let ok = q.abs() <= WIDE_MAX_Q && (q == 0.0 || y.abs() >= WIDE_MIN_Y);
    (y, to_int(q) as u64 & 3, ok)
}

/// `e^x` for `|x| <= 708` (the rest is 0, infinity or NaN in `f32`, from
/// libm): [`super::exp_fast`] to `r^11/11!` (truncation below 2^-46).
#[inline(always)]
pub(crate) fn exp_fast(x: f32) -> (f32, bool) {
    let x = f64::from(x);
    let (k, hi, lo) = exp_split(x);
    let r = hi - lo;
    let mut p = INV_FACTORIAL[11];
    for n in (2..11).rev() {
        p = INV_FACTORIAL[n] + r * p;
    }
    let value = times_pow2(1.0 + (r + r * r * p), k);
    (value as f32, x.abs() <= EXP_DOMAIN)
}

/// `ln x` for finite `x > 0` (every such `f32` is normal as an `f64`):
/// [`super::ln_fast`] with `R` to `2 z^7/15` (truncation below 2^-47).
#[inline(always)]
pub(crate) fn ln_fast(x: f32) -> (f32, bool) {
    let (k, f, s) = ln_split(f64::from(x));
    let z = s * s;
    let mut r = 2.0 / 15.0;
    for d in [13.0, 11.0, 9.0, 7.0, 5.0, 3.0] {
        r = 2.0 / d + z * r;
    }
    let value = ln_join(k, f, s, z * r);
    (value as f32, x > 0.0 && x <= f32::MAX)
}

/// `(sin x, cos x)` for `|x|` up to about 4.2e8 ([`reduce_wide`], wider
/// than [`super::sin_cos_fast`]'s 8.2e5: an `f32` has 29 bits fewer to
/// carry), then Taylor polynomials to `y^13` and `y^14` (truncation below 2^-45).
#[inline(always)]
pub(crate) fn sin_cos_fast(x: f32) -> (f32, f32, bool) {
    let x = f64::from(x);
    let (y, quadrant, ok) = reduce_wide(x);
    let z = y * y;
    let mut s = INV_FACTORIAL[13];
    for n in [11, 9, 7, 5, 3] {
        s = INV_FACTORIAL[n] - z * s;
    }
    let mut c = INV_FACTORIAL[14];
    for n in [12, 10, 8, 6, 4] {
        c = INV_FACTORIAL[n] - z * c;
    }
    let (sin, cos) = by_quadrant(x, y - y * z * s, 1.0 - (0.5 * z - z * z * c), quadrant);
    (sin as f32, cos as f32, ok)
}

/// `sin x` on [`sin_cos_fast`]'s domain.
#[inline(always)]
pub(crate) fn sin_fast(x: f32) -> (f32, bool) {
    let (sin, _, ok) = sin_cos_fast(x);
    (sin, ok)
}

/// `cos x` on [`sin_cos_fast`]'s domain.
#[inline(always)]
pub(crate) fn cos_fast(x: f32) -> (f32, bool) {
    let (_, cos, ok) = sin_cos_fast(x);
    (cos, ok)
}

/// A `*_fast` function's value where it holds, else `f64` libm's, rounded.
#[inline(always)]
fn or_libm(x: f32, fast: impl Fn(f32) -> (f32, bool), libm: fn(f64) -> f64) -> f32 {
    match fast(x) {
        (value, true) => value,
        _ => libm(f64::from(x)) as f32,
    }
}

/// `e^x`: [`exp_fast`], and libm outside its domain.
pub(crate) fn exp(x: f32) -> f32 {
    or_libm(x, exp_fast, f64::exp)
}

/// `ln x`: [`ln_fast`], and libm for zero, negatives, infinity and NaN.
pub(crate) fn ln(x: f32) -> f32 {
    or_libm(x, ln_fast, f64::ln)
}

/// `sin x`: [`sin_fast`], and libm where the reduction does not hold.
pub(crate) fn sin(x: f32) -> f32 {
    or_libm(x, sin_fast, f64::sin)
}

/// `cos x`: [`cos_fast`], and libm where [`sin`] takes it.
pub(crate) fn cos(x: f32) -> f32 {
    or_libm(x, cos_fast, f64::cos)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit patterns spread over every binade, the specials, and sweeps of
    /// the working ranges: each function gives f64 libm's value rounded to
    /// `f32` (the correctly rounded value bar the rare input near a tie), and
    /// never more than an ulp from it.
    #[test]
    fn results_are_f64_libm_rounded_bar_near_ties() {
        type Pair = (fn(f32) -> f32, fn(f64) -> f64);
        let functions: [(&str, Pair); 4] = [
            ("exp", (exp, f64::exp)),
            ("ln", (ln, f64::ln)),
            ("sin", (sin, f64::sin)),
            ("cos", (cos, f64::cos)),
        ];
        // Every 127th bit pattern: all exponents, signs, subnormals, zeros,
        // infinities and NaNs among them.
        let bit_patterns =
            (0..=u32::MAX)
                .step_by(127)
                .map(f32::from_bits)
                .chain([0.0, -0.0, f32::INFINITY]);
        // And the ranges where the functions do their work (most bit patterns
        // are tiny or huge, where results are trivial or come from libm).
        let sweep =
            |lo: f32, hi: f32| (0..1_000_000).map(move |i| lo + (hi - lo) * (i as f32 / 1e6));
        let xs = bit_patterns
            .chain(sweep(-103.0, 88.0))
            .chain(sweep(0.0, 4.0))
            .chain(sweep(-100.0, 100.0))
            .chain(sweep(1e3, 1e6))
            .chain(sweep(1e6, 4.2e8));
        let (mut differ, mut total) = (0usize, 0usize);
        for x in xs {
            for (name, (ours, libm)) in functions {
                let (got, want) = (ours(x), libm(f64::from(x)) as f32);
                if want.is_nan() {
                    assert!(got.is_nan(), "{name}({x:e}) = {got:e}, want NaN");
                    continue;
                }
                assert!(
                    got.to_bits().abs_diff(want.to_bits()) <= 1,
                    "{name}({x:e}) = {got:e}, want {want:e}"
                );
                differ += usize::from(got != want);
                total += 1;
            }
        }
        assert!(
            differ * 100_000 <= total,
            "{differ} of {total} rounded differently"
        );
        assert_eq!(sin(-0.0).to_bits(), (-0.0f32).to_bits());
    }

    /// Every `f32` from 0 to past the wide reduction's end (1.3e9 inputs; the
    /// negatives are their mirror image): sin and cos are f64 libm's values
    /// rounded, or an ulp off where libm's value lies within 2^-40 (relative)
    /// of a tie between two `f32`s, and none falls back for want of accuracy
    /// below 4.2e8. About a minute in release on 2 cores:
    /// `cargo test --release --lib -- --ignored every_f32 --nocapture`.
    #[test]
    #[ignore]
    fn every_f32_through_the_wide_reduction() {
        use rayon::prelude::*;
        let (lo, hi) = (0.0f32.to_bits(), 4.3e8f32.to_bits());
        let bad: Vec<String> = (lo..=hi)
            .into_par_iter()
            .flat_map_iter(|bits| {
                let x = f32::from_bits(bits);
                let mut bad = Vec::new();
                if x < 4.2e8 && !reduce_wide(f64::from(x)).2 {
                    bad.push(format!("bad {x:e} falls back"));
                }
                for (name, ours, libm) in [
                    ("sin", sin as fn(f32) -> f32, f64::sin as fn(f64) -> f64),
                    ("cos", cos, f64::cos),
                ] {
                    let exact = libm(f64::from(x));
                    let (got, want) = (ours(x), exact as f32);
                    if got == want {
                        continue;
                    }
                    // The tie between `want` and its neighbour towards `got`.
                    let tie = (f64::from(got) + f64::from(want)) / 2.0;
                    let near_tie = ((exact - tie) / exact).abs() < 1.0 / 1_099_511_627_776.0;
                    let kind = if got.to_bits().abs_diff(want.to_bits()) > 1 || !near_tie {
                        "bad"
                    } else {
                        "tie"
                    };
                    bad.push(format!("{kind} {name}({x:e}) = {got:e}, libm {exact:e}"));
                }
                bad
            })
            .collect();
        let near_ties = bad.iter().filter(|b| b.starts_with("tie")).count();
        println!("{near_ties} results an ulp off, each within 2^-40 of a tie");
        let bad: Vec<_> = bad.iter().filter(|b| !b.starts_with("tie")).collect();
        assert!(
            bad.is_empty(),
            "{} failures: {:?}",
            bad.len(),
            &bad[..bad.len().min(20)]
        );
    }
}
