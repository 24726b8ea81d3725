//! BabelStream's kernels on the CPU: rayon over contiguous blocks, each block
//! a plain loop the compiler vectorises; init (timed before the loop, the write
//! bandwidth) writes with streaming stores.

use std::time::Instant;

use rayon::prelude::*;

use super::simd::fill_streaming;
use crate::dtype::{FloatVec, Real};
use crate::workloads::stream::{StreamRaw, INIT, SCALAR};

/// Elements per rayon task: big enough to amortise scheduling, small enough to balance.
const BLOCK: usize = 1 << 16;
/// Independent accumulators per block in `dot` (the sum's sequential chains are BLOCK / LANES long).
const LANES: usize = 16;

fn timed(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn dot_block<T: Real>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (xa, xb) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            acc[i] = acc[i] + xa[i] * xb[i];
        }
    }
    let tail: T = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| x * y)
        .sum();
    // Pairwise combination of the lanes.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] = acc[i] + acc[i + width];
        }
    }
    acc[0] + tail
}

/// Runs the BabelStream loop on the calling rayon pool.
pub(crate) fn run<T: Real>(n: usize, times: usize, wrap: fn(Vec<T>) -> FloatVec) -> StreamRaw {
    let s = T::from_f64(SCALAR);
    let [ia, ib, ic] = INIT.map(T::from_f64);
    // First touch in parallel, so pages land near the threads that use them.
    let alloc = |v: T| {
        let mut x: Vec<T> = Vec::with_capacity(n);
        x.par_extend((0..n).into_par_iter().with_min_len(BLOCK).map(|_| v));
        x
    };
    let (mut a, mut b, mut c) = (alloc(ia), alloc(ib), alloc(ic));
    // BabelStream's init, timed on the touched arrays: the write bandwidth,
    // with the stores that write fastest (streaming, which skip reading each
    // line first; rng's CPU path uses them too for large outputs).
    let init_times = (0..times)
        .map(|_| {
            timed(|| {
                a.par_chunks_mut(BLOCK)
                    .zip(b.par_chunks_mut(BLOCK).zip(c.par_chunks_mut(BLOCK)))
                    .for_each(|(a, (b, c))| {
                        fill_streaming(a, ia);
                        fill_streaming(b, ib);
                        fill_streaming(c, ic);
                    })
            })
        })
        .collect();
    let mut out: [Vec<f64>; 5] = std::array::from_fn(|_| Vec::with_capacity(times));
    let mut dot = 0.0;
    for _ in 0..times {
        out[0].push(timed(|| {
            c.par_chunks_mut(BLOCK)
                .zip(a.par_chunks(BLOCK))
                .for_each(|(c, a)| c.copy_from_slice(a))
        }));
        out[1].push(timed(|| {
            b.par_chunks_mut(BLOCK)
                .zip(c.par_chunks(BLOCK))
                .for_each(|(b, c)| {
                    for (b, &c) in b.iter_mut().zip(c) {
                        *b = s * c;
                    }
                })
        }));
        out[2].push(timed(|| {
            c.par_chunks_mut(BLOCK)
                .zip(a.par_chunks(BLOCK).zip(b.par_chunks(BLOCK)))
                .for_each(|(c, (a, b))| {
                    for ((c, &a), &b) in c.iter_mut().zip(a).zip(b) {
                        *c = a + b;
                    }
                })
        }));
        out[3].push(timed(|| {
            a.par_chunks_mut(BLOCK)
                .zip(b.par_chunks(BLOCK).zip(c.par_chunks(BLOCK)))
                .for_each(|(a, (b, c))| {
                    for ((a, &b), &c) in a.iter_mut().zip(b).zip(c) {
                        *a = b + s * c;
                    }
                })
        }));
        out[4].push(timed(|| {
            // Block sums reduce as a tree (rayon's sum splits in halves).
            let sum: T = a
                .par_chunks(BLOCK)
                .zip(b.par_chunks(BLOCK))
                .map(|(a, b)| dot_block(a, b))
                .sum();
            dot = sum.to_f64();
        }));
    }
    StreamRaw {
        times: out,
        init_times,
        arrays: [wrap(a), wrap(b), wrap(c)],
        dot,
        // Within a block: BLOCK / LANES additions per lane, then the lane tree;
        // rayon may add a thread's block sums in sequence before its tree.
        dot_chain: (BLOCK / LANES + LANES.ilog2() as usize + n.div_ceil(BLOCK)) as u64,
    }
}
