//! `map` on the CPU: rayon over contiguous pieces; each piece a plain loop
//! that vectorises: sqrt, abs, square and 1/x are instructions, and exp, log,
//! sin and cos are [`vmath`]'s branch-free arithmetic, with libm only for the
//! rare block that holds an input outside its domain.

use std::time::Instant;

use rayon::prelude::*;

use super::simd::simd_dispatch;
use super::vmath::{self, single};
use crate::workloads::map::{MapFn, MapIo, MapTiming};

/// Elements per rayon task.
const TASK: usize = 1 << 16;

/// Monomorphises the loop per function so each vectorises.
macro_rules! per_function {
    ($f:expr, $x:ident, $y:ident, $exp:ident, $ln:ident, $sin:ident, $cos:ident) => {
        match $f {
            MapFn::Sqrt => run($x, $y, |x, y| each(x, y, |v| v.sqrt())),
            MapFn::Abs => run($x, $y, |x, y| each(x, y, |v| v.abs())),
            MapFn::Square => run($x, $y, |x, y| each(x, y, |v| v * v)),
            MapFn::Reciprocal => run($x, $y, |x, y| each(x, y, |v| 1.0 / v)),
            MapFn::Exp => run($x, $y, $exp),
            MapFn::Log => run($x, $y, $ln),
            MapFn::Sin => run($x, $y, $sin),
            MapFn::Cos => run($x, $y, $cos),
        }
    };
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
fn blocks<T: Copy>(x: &[T], y: &mut [T], fast: impl Fn(T) -> (T, bool), exact: impl Fn(T) -> T) {
    for (y, x) in y.chunks_mut(BLOCK).zip(x.chunks(BLOCK)) {
        let mut all = true;
        for (y, &x) in y.iter_mut().zip(x) {
            let (value, ok) = fast(x);
            *y = value;
            all &= ok;
        }
        if !all {
            each(x, y, &exact);
        }
    }
}

/// Defines `name(x, y)`: `blocks` over a piece with a `vmath` function,
/// compiled for the widest SIMD the CPU has.
macro_rules! vectorised {
    ($($name:ident = $lanes:ident: $t:ty, $fast:path, $exact:path;)*) => {$(
        // `L` (the lanes `simd_dispatch` picks) is left to the compiler here.
        fn $lanes<const L: usize>(x: &[$t], y: &mut [$t]) {
            blocks(x, y, $fast, $exact);
        }
        simd_dispatch! {
            fn $name(x: &[$t], y: &mut [$t]) -> () = $lanes
        }
    )*};
}

vectorised! {
    exp_f64 = exp_f64_lanes: f64, vmath::exp_fast, vmath::exp;
    ln_f64 = ln_f64_lanes: f64, vmath::ln_fast, vmath::ln;
    sin_f64 = sin_f64_lanes: f64, vmath::sin_fast, vmath::sin;
    cos_f64 = cos_f64_lanes: f64, vmath::cos_fast, vmath::cos;
    exp_f32 = exp_f32_lanes: f32, single::exp_fast, single::exp;
    ln_f32 = ln_f32_lanes: f32, single::ln_fast, single::ln;
    sin_f32 = sin_f32_lanes: f32, single::sin_fast, single::sin;
    cos_f32 = cos_f32_lanes: f32, single::cos_fast, single::cos;
}

/// Times `kernel` over `x` into `y`, a rayon task per piece.
fn run<T: Copy + Send + Sync>(x: &[T], y: &mut [T], kernel: impl Fn(&[T], &mut [T]) + Sync) -> f64 {
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
        MapIo::F32(x, y) => per_function!(function, x, y, exp_f32, ln_f32, sin_f32, cos_f32),
        MapIo::F64(x, y) => per_function!(function, x, y, exp_f64, ln_f64, sin_f64, cos_f64),
    };
    MapTiming { kernel_s }
}
