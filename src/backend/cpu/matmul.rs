//! `matmul` on the CPU through the `faer` crate, on this device's rayon workers.

use std::time::Instant;

use faer::{Accum, MatMut, MatRef, Par};

use crate::dtype::{FloatVec, Real};

/// The library that does the CPU's products, as `matmul` reports it.
pub(crate) const LIBRARY: &str = "faer";

/// C = A·B (row-major, A is m×k, B is k×n) `reps` times after a warm-up;
/// returns the timed runs' seconds. Runs on the calling rayon pool.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    a: &FloatVec,
    b: &FloatVec,
    c: &mut FloatVec,
    m: usize,
    n: usize,
    k: usize,
    reps: usize,
    threads: usize,
) -> Vec<f64> {
    let mut run = || {
        let start = Instant::now();
        match (a, b, &mut *c) {
            (FloatVec::F32(a), FloatVec::F32(b), FloatVec::F32(c)) => {
                product(a, b, c, m, n, k, threads)
            }
            (FloatVec::F64(a), FloatVec::F64(b), FloatVec::F64(c)) => {
                product(a, b, c, m, n, k, threads)
            }
            // `workloads::matmul::matmul` checks every type before any backend runs.
            _ => unreachable!("matmul: element types differ"),
        }
        start.elapsed().as_secs_f64()
    };
    run();
    (0..reps).map(|_| run()).collect()
}

/// C = A·B once (row-major, A is m×k, B is k×n, C overwritten, never read) on
/// up to `threads` workers of the calling rayon pool (1: this thread alone):
/// the CPU backend's product, and the f64 products of the verification in
/// [`crate::workloads::matmul`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn product<T: Real + faer::traits::ComplexField>(
    a: &[T],
    b: &[T],
    c: &mut [T],
    m: usize,
    n: usize,
    k: usize,
    threads: usize,
) {
    assert!(
        a.len() == m * k && b.len() == k * n && c.len() == m * n,
        "matmul: buffer sizes"
    );
    let par = if threads > 1 {
        Par::rayon(threads)
    } else {
        Par::Seq
    };
    faer::linalg::matmul::matmul(
        MatMut::from_row_major_slice_mut(c, m, n),
        Accum::Replace,
        MatRef::from_row_major_slice(a, m, k),
        MatRef::from_row_major_slice(b, k, n),
        <T as Real>::ONE,
        par,
    );
}
