//! `matmul` on the CPU through the `gemm` crate, on this device's rayon workers.

use std::time::Instant;

use crate::dtype::{FloatVec, Real};

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
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let mut run = || {
        let start = Instant::now();
        match (a, b, &mut *c) {
            (FloatVec::F32(a), FloatVec::F32(b), FloatVec::F32(c)) => {
                product(a, b, c, m, n, k, parallelism)
            }
            (FloatVec::F64(a), FloatVec::F64(b), FloatVec::F64(c)) => {
                product(a, b, c, m, n, k, parallelism)
            }
            // `workloads::matmul::matmul` checks every type before any backend runs.
            _ => unreachable!("matmul: element types differ"),
        }
        start.elapsed().as_secs_f64()
    };
    run();
    (0..reps).map(|_| run()).collect()
}

/// C = A·B once (row-major, A is m×k, B is k×n, C overwritten), with
/// `parallelism`: the CPU backend's product, and the f64 products of the
/// verification in [`crate::workloads::matmul`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn product<T: Real>(
    a: &[T],
    b: &[T],
    c: &mut [T],
    m: usize,
    n: usize,
    k: usize,
    parallelism: gemm::Parallelism,
) {
    assert!(
        a.len() == m * k && b.len() == k * n && c.len() == m * n,
        "matmul: buffer sizes"
    );
    // SAFETY: the slices hold exactly m·k, k·n and m·n elements (checked above);
    // the strides describe row-major layouts inside them (column stride 1, row
    // stride = columns); C does not alias A or B (it is a distinct &mut).
    // read_dst = false, so C's NaN poison is overwritten, never read.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            T::ZERO,
            T::ONE,
            false,
            false,
            false,
            parallelism,
        );
    }
}
