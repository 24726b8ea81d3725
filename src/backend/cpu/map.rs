//! `map` on the CPU: rayon over contiguous pieces; each piece a plain loop
//! (vectorised where the function is an instruction: sqrt, abs, square, 1/x).

use std::time::Instant;

use rayon::prelude::*;

use crate::dtype::FloatVec;
use crate::workloads::map::{MapFn, MapTiming};

/// Elements per rayon task.
const TASK: usize = 1 << 16;

/// Monomorphises the loop per function so simple ones vectorise.
macro_rules! per_function {
    ($f:expr, $x:ident, $y:ident, $apply:ident) => {
        match $f {
            MapFn::Sqrt => run($x, $y, |v| v.sqrt()),
            MapFn::Abs => run($x, $y, |v| v.abs()),
            MapFn::Square => run($x, $y, |v| v * v),
            MapFn::Reciprocal => run($x, $y, |v| 1.0 / v),
            other => run($x, $y, |v| other.$apply(v)),
        }
    };
}

fn run<T: Copy + Send + Sync>(x: &[T], y: &mut [T], f: impl Fn(T) -> T + Sync) -> f64 {
    // Fault the output's pages in first (a fresh Vec's pages are mapped lazily),
    // so the timed loop measures the function and memory, not the kernel's page faults.
    y.par_chunks_mut(TASK)
        .zip(x.par_chunks(TASK))
        .for_each(|(y, x)| y.copy_from_slice(x));
    let start = Instant::now();
    y.par_chunks_mut(TASK)
        .zip(x.par_chunks(TASK))
        .for_each(|(y, x)| {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = f(x);
            }
        });
    start.elapsed().as_secs_f64()
}

/// Applies `function` on the calling rayon pool.
pub(crate) fn map(function: MapFn, input: &FloatVec, output: &mut FloatVec) -> MapTiming {
    let kernel_s = match (input, output) {
        (FloatVec::F32(x), FloatVec::F32(y)) => per_function!(function, x, y, apply_f32),
        (FloatVec::F64(x), FloatVec::F64(y)) => per_function!(function, x, y, apply_f64),
        // `workloads::map::map` checks the types match before any backend runs.
        _ => unreachable!("map: input and output types differ"),
    };
    MapTiming { kernel_s }
}
