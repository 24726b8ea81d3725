//! `matmul` on the CPU through the `faer` crate, on this device's rayon workers.

use std::time::Instant;

use faer::reborrow::ReborrowMut;
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
/// up to `threads` workers of the calling rayon pool (1: this thread alone),
/// and never more than the machine's hardware threads: faer splits the product
/// into one task per worker, and past the cores those only wait on each
/// other (`--threads 4096 matmul 64 64 64` took 334 s on 2 cores, against
/// 0.04 s). The CPU backend's product, and the f64 products of the
/// verification in [`crate::workloads::matmul`].
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
    let threads = threads.min(super::sysinfo::hardware_threads());
    product_in_blocks(a, b, c, (m, n, k), threads, block_size::<T>());
}

/// The most rows and columns of C one faer call computes: faer packs A and B
/// in 512-deep panels, and once a panel of this many rows passes about half
/// the last-level cache its large-product path slows down (at 4096³ f64 on a
/// 2-vCPU, 32 MiB-L3 EPYC: 34-45 GFLOP/s whole against 43-68 in 2048-square
/// blocks, the best of five turns each; NumPy 70).
/// A quarter of the cache per panel, in multiples of 256, at least 256.
fn block_size<T>() -> usize {
    let bytes = super::sysinfo::last_level_cache_bytes();
    (bytes / (4 * 512 * std::mem::size_of::<T>()) / 256 * 256).max(256)
}

/// [`product`] as faer calls on blocks of at most `block` rows and columns of C
/// (each still split over the threads); a block re-packs only its own panels.
fn product_in_blocks<T: Real + faer::traits::ComplexField>(
    a: &[T],
    b: &[T],
    c: &mut [T],
    (m, n, k): (usize, usize, usize),
    threads: usize,
    block: usize,
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
    let a = MatRef::from_row_major_slice(a, m, k);
    let b = MatRef::from_row_major_slice(b, k, n);
    let mut c = MatMut::from_row_major_slice_mut(c, m, n);
    for i in (0..m).step_by(block) {
        for j in (0..n).step_by(block) {
            let (rows, cols) = (block.min(m - i), block.min(n - j));
            faer::linalg::matmul::matmul(
                c.rb_mut().submatrix_mut(i, j, rows, cols),
                Accum::Replace,
                a.submatrix(i, 0, rows, k),
                b.submatrix(0, j, k, cols),
                <T as Real>::ONE,
                par,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_c_make_the_same_product() {
        // Blocks of 64 over a C that is 3 by 2 blocks and a bit, ragged at both
        // edges, against a plain loop; on 1 and 2 threads.
        let (m, n, k) = (200, 130, 70);
        let a: Vec<f64> = (0..m * k)
            .map(|i| ((i * 37 % 101) as f64) / 50.0 - 1.0)
            .collect();
        let b: Vec<f64> = (0..k * n)
            .map(|i| ((i * 53 % 97) as f64) / 48.0 - 1.0)
            .collect();
        for threads in [1, 2] {
            let mut c = vec![f64::NAN; m * n];
            product_in_blocks(&a, &b, &mut c, (m, n, k), threads, 64);
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                    let scale: f64 = (0..k).map(|p| (a[i * k + p] * b[p * n + j]).abs()).sum();
                    assert!(
                        (c[i * n + j] - want).abs() <= k as f64 * f64::EPSILON * scale,
                        "C[{i}, {j}] = {} but the loop gives {want} ({threads} threads)",
                        c[i * n + j]
                    );
                }
            }
        }
        assert!(block_size::<f64>() >= 256 && block_size::<f32>() >= block_size::<f64>());
    }
}
