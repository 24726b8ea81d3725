//! `map` on the CPU: rayon over contiguous pieces; each piece a plain loop
//! that vectorises: sqrt, abs, square and 1/x are instructions, and exp, log,
//! sin and cos are [`vmath`]'s branch-free arithmetic, with libm only for the
//! rare block that holds an input outside its domain.

use std::time::Instant;

use rayon::prelude::*;

use super::simd::simd_dispatch;
use super::vmath::{self, far, single};
use crate::workloads::map::{MapFn, MapIo, MapTiming};

/// Elements per rayon task.
const TASK: usize = 1 << 16;

/// A loop over one piece, `y[i] = f(x[i])`.
pub(crate) type Kernel<T> = fn(&[T], &mut [T]);

/// `kernel_f32` and `kernel_f64`: the loop for each function, monomorphised
/// so that each vectorises.
macro_rules! kernels {
    ($($name:ident: $t:ty, $exp:ident, $ln:ident, $sin:ident, $cos:ident;)*) => {$(
        /// The loop that applies `function` to a piece, bit for bit what
        /// [`MapFn::apply_f32`] or [`MapFn::apply_f64`] gives element by element.
        pub(crate) fn $name(function: MapFn) -> Kernel<$t> {
            match function {
                MapFn::Sqrt => |x, y| each(x, y, <$t>::sqrt),
                MapFn::Abs => |x, y| each(x, y, <$t>::abs),
                MapFn::Square => |x, y| each(x, y, |v| v * v),
                MapFn::Reciprocal => |x, y| each(x, y, |v| 1.0 / v),
                MapFn::Exp => $exp,
                MapFn::Log => $ln,
                MapFn::Sin => $sin,
                MapFn::Cos => $cos,
            }
        }
    )*};
}

kernels! {
    kernel_f32: f32, exp_f32, ln_f32, sin_f32, cos_f32;
    kernel_f64: f64, exp_f64, ln_f64, sin_f64, cos_f64;
}

/// `y[i] = f(x[i])`.
#[inline(always)]
fn each<T: Copy>(x: &[T], y: &mut [T], f: impl Fn(T) -> T) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = f(x);
    }
}

/// Elements per check for inputs outside a `vmath` function's domain.
const BLOCK: usize = 64;

/// `y[i] = f(x[i])` through `fast` (value, in domain), a block at a time; a
/// block with an input outside the domain is redone element by element with
/// `exact`, which agrees with `fast` wherever `fast` holds.
#[inline(always)]
fn blocks<T: Copy>(
    x: &[T],
    y: &mut [T],
    fast: impl Fn(T) -> (T, bool) + Copy,
    exact: impl Fn(T) -> T + Copy,
) {
    for (y, x) in y.chunks_mut(BLOCK).zip(x.chunks(BLOCK)) {
        if !fill(x, y, fast) {
            each(x, y, exact);
        }
    }
}

/// [`blocks`] with two fast functions, for sin and cos in `f64`: `far` for a
/// block whose every input `is_far` (where `near` never holds, so `exact`
/// takes `far`'s value too), `near` for the rest.
#[inline(always)]
fn blocks_near_far<T: Copy>(
    x: &[T],
    y: &mut [T],
    is_far: impl Fn(T) -> bool + Copy,
    (near, far): (
        impl Fn(T) -> (T, bool) + Copy,
        impl Fn(T) -> (T, bool) + Copy,
    ),
    exact: impl Fn(T) -> T + Copy,
) {
    for (y, x) in y.chunks_mut(BLOCK).zip(x.chunks(BLOCK)) {
        let mut all_far = true;
        for &x in x {
            all_far &= is_far(x);
        }
        let held = if all_far {
            fill(x, y, far)
        } else {
            fill(x, y, near)
        };
        if !held {
            each(x, y, exact);
        }
    }
}

/// `y[i] = fast(x[i]).0`, and whether `fast` held for every element.
#[inline(always)]
fn fill<T: Copy>(x: &[T], y: &mut [T], fast: impl Fn(T) -> (T, bool)) -> bool {
    let mut all = true;
    for (y, &x) in y.iter_mut().zip(x) {
        let (value, ok) = fast(x);
        *y = value;
        all &= ok;
    }
    all
}

/// Defines `name(x, y)`: `blocks` over a piece with a `vmath` function,
/// compiled for the widest SIMD the CPU has.
macro_rules! vectorised {
    ($($name:ident = $lanes:ident: $t:ty, $blocks:ident($($arg:expr),*);)*) => {$(
        // `L` (the lanes `simd_dispatch` picks) is left to the compiler here.
        // Always inlined into `simd_dispatch`'s `target_feature` wrappers: a
        // loop left out of line is compiled for the baseline instruction set,
        // where `round_ties_even` is a call to libm's `rint` (sin and cos in
        // f64 ran 7x slower when LLVM once decided so).
        #[inline(always)]
        fn $lanes<const L: usize>(x: &[$t], y: &mut [$t]) {
            $blocks(x, y, $($arg),*)
        }
        simd_dispatch! {
            fn $name(x: &[$t], y: &mut [$t]) -> () = $lanes
        }
    )*};
}

vectorised! {
    exp_f64 = exp_f64_lanes: f64, blocks(vmath::exp_fast, vmath::exp);
    ln_f64 = ln_f64_lanes: f64, blocks(vmath::ln_fast, vmath::ln);
    sin_f64 = sin_f64_lanes: f64, blocks_near_far(far::is_far, (vmath::sin_fast, far::sin_fast), vmath::sin);
    cos_f64 = cos_f64_lanes: f64, blocks_near_far(far::is_far, (vmath::cos_fast, far::cos_fast), vmath::cos);
    exp_f32 = exp_f32_lanes: f32, blocks(single::exp_fast, single::exp);
    ln_f32 = ln_f32_lanes: f32, blocks(single::ln_fast, single::ln);
    sin_f32 = sin_f32_lanes: f32, blocks(single::sin_fast, single::sin);
    cos_f32 = cos_f32_lanes: f32, blocks(single::cos_fast, single::cos);
}

/// Times `kernel` over `x` into `y`, a rayon task per piece.
fn run<T: Copy + Send + Sync>(x: &[T], y: &mut [T], kernel: Kernel<T>) -> f64 {
    // Fault the output's pages in first (a fresh Vec's pages are mapped lazily),
    // so the timed loop measures the function and memory, not the kernel's page faults.
    y.par_chunks_mut(TASK)
        .zip(x.par_chunks(TASK))
        .for_each(|(y, x)| y.copy_from_slice(x));
    let start = Instant::now();
    y.par_chunks_mut(TASK)
        .zip(x.par_chunks(TASK))
        .for_each(|(y, x)| kernel(x, y));
    start.elapsed().as_secs_f64()
}

/// Applies `function` on the calling rayon pool.
pub(crate) fn map(function: MapFn, io: MapIo<'_>) -> MapTiming {
    let kernel_s = match io {
        MapIo::F32(x, y) => run(x, y, kernel_f32(function)),
        MapIo::F64(x, y) => run(x, y, kernel_f64(function)),
    };
    MapTiming { kernel_s }
}
