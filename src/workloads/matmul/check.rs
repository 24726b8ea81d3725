//! Verification of C = A·B against f64 sums: Freivalds' check in blocks of
//! columns plus sampled elements, with the bounds the `matmul` module's notes give.

use serde::Serialize;

use super::Matrix;
use crate::backend::cpu;
use crate::philox::stream_word;

/// Rows of A [`check_product`] holds in f64 at a time per worker: about a
/// million elements, at most `CHECK_ROWS` rows, at least one.
fn check_chunk_rows(k: usize) -> usize {
    ((1 << 20) / k.max(1)).clamp(1, CHECK_ROWS)
}

/// Host bytes [`check_product`] allocates besides A, B and C for an M×N×K
/// product with `threads` workers: B summed per block of columns (two
/// K × ⌈N/16⌉ f64 arrays), the ±1 vector and row and column flags, and per
/// worker its rows of A in f64 with their products (two arrays each).
/// Small next to A, B and C for square products; several times B's size
/// where N is small and K large.
pub(crate) fn check_bytes((m, n, k): (usize, usize, usize), threads: usize) -> u64 {
    let (m, n, k) = (m as u64, n as u64, k as u64);
    let blocks = n.div_ceil(CHECK_COLUMNS as u64);
    let rows = (check_chunk_rows(k as usize) as u64).min(m);
    let workers = (threads.max(1) as u64).min(m.div_ceil(rows.max(1)));
    let per_worker = 16 * rows * (k + blocks);
    (16 * k * blocks + 9 * n + m).saturating_add(workers.saturating_mul(per_worker))
}

/// What the check of C looked at, in elements of C.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ProductCheck {
    /// Worst ratio of an error to its bound over what was checked (≤ 1
    /// passes; NaN when C holds a NaN there); 0 when nothing was.
    pub worst_error_ratio: f64,
    /// Elements of C checked (by Freivalds blocks; some again one by one).
    pub checked: usize,
    /// Elements of C left out: in a row of A or a column of B that holds a
    /// NaN or infinity, or in a block whose sums could overflow the element
    /// type (see the module's notes).
    pub unchecked: usize,
}

impl ProductCheck {
    /// Whether C passed: something was checked and all of it within bounds.
    pub fn passed(&self) -> Option<bool> {
        (self.checked > 0).then_some(self.worst_error_ratio <= 1.0)
    }

    fn join(self, other: ProductCheck) -> ProductCheck {
        ProductCheck {
            worst_error_ratio: worse(self.worst_error_ratio, other.worst_error_ratio),
            checked: self.checked + other.checked,
            unchecked: self.unchecked + other.unchecked,
        }
    }

    const NONE: ProductCheck = ProductCheck {
        worst_error_ratio: 0.0,
        checked: 0,
        unchecked: 0,
    };

    /// Adds a block of `elements` elements of C (or an element checked again,
    /// with 0): `error` against `bound`, unless `scale` (its Σ|A|·|B|) could
    /// overflow the element type (beyond `limit`).
    fn add(&mut self, error: f64, bound: f64, scale: f64, limit: f64, elements: usize) {
        if scale <= limit {
            self.worst_error_ratio = worse(self.worst_error_ratio, ratio(error, bound));
            self.checked += elements;
        } else {
            self.unchecked += elements;
        }
    }
}

/// Columns of C per Freivalds check (see the module's notes).
pub const CHECK_COLUMNS: usize = 16;

/// Rows of A widened to f64 at a time by the check (two R×K buffers per
/// worker), fewer where K is long: at most 2^20 elements (8 MiB) a buffer.
const CHECK_ROWS: usize = 32;

/// The largest |error| / bound over the Freivalds blocks and the sampled
/// elements that can be checked (NaN when C holds a NaN there; above 1 when C
/// is wrong): [`check_product`]'s `worst_error_ratio`.
///
/// # Panics
/// As [`check_product`].
pub fn worst_error_ratio(a: &Matrix, b: &Matrix, c: &Matrix) -> f64 {
    check_product(a, b, c).worst_error_ratio
}

/// Checks C = A·B: Freivalds' check on every row in blocks of
/// [`CHECK_COLUMNS`] columns and 256 sampled elements (see the module's notes).
/// Where K is 0, every element of C must be exactly 0; where M or N is 0,
/// there is nothing to check.
///
/// # Panics
/// If the shapes do not chain (A is M×K, B is K×N, C is M×N) or a matrix's
/// data does not hold rows × cols elements.
pub fn check_product(a: &Matrix, b: &Matrix, c: &Matrix) -> ProductCheck {
    use rayon::prelude::*;
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k && (c.rows, c.cols) == (m, n),
        "check_product: A is {m}x{k}, B {}x{n}, C {}x{}",
        b.rows,
        c.rows,
        c.cols
    );
    for x in [a, b, c] {
        assert_eq!(x.data.len(), x.rows * x.cols, "check_product: data length");
    }
    if m == 0 || n == 0 || k == 0 {
        // Empty sums: C is all zeros, exactly (what `A @ B` gives in NumPy).
        let worst = (0..m * n)
            .map(|i| c.data.get_f64(i))
            .map(|v| if v == 0.0 { 0.0 } else { ratio(v.abs(), 0.0) })
            .fold(0.0, worse);
        return ProductCheck {
            worst_error_ratio: worst,
            checked: m * n,
            unchecked: 0,
        };
    }
    let float = c.data.float();
    let (eps, tiny, kf) = (float.epsilon(), float.min_positive(), k as f64);
    // A sum of products whose magnitudes total at most `limit` stays below the
    // type's largest value in any order, rounding included.
    let limit = float.max() / (1.0 + 2.0 * kf * eps);
    // Rows of A and columns of B holding a NaN or infinity: their elements of
    // C have no bound (NaN or ±inf as a rule, but a library may skip zero
    // terms), so they are left out and the rest of C is checked as usual.
    let bad_row: Vec<bool> = (0..m)
        .into_par_iter()
        .map(|i| (0..k).any(|p| !a.get(i, p).is_finite()))
        .collect();
    let bad_col: Vec<bool> = (0..n)
        .into_par_iter()
        .map(|j| (0..k).any(|p| !b.get(p, j).is_finite()))
        .collect();
    let good_cols = bad_col.iter().filter(|&&bad| !bad).count();
    let w = CHECK_COLUMNS;
    let blocks = n.div_ceil(w);
    // Random ±1 vector from a fixed stream (not the inputs' seeds).
    let x: Vec<f64> = (0..n as u64)
        .map(|j| 1.0 - 2.0 * f64::from(stream_word(0x5eed, j) & 1))
        .collect();
    // K × blocks: each row of B summed over each block of columns, signed by
    // x (bx) and in magnitude (babs), bad columns left out.
    let mut bx = vec![0.0; k * blocks];
    let mut babs = vec![0.0; k * blocks];
    bx.par_chunks_mut(blocks)
        .zip(babs.par_chunks_mut(blocks))
        .enumerate()
        .for_each(|(p, (bx, babs))| {
            for j in (0..n).filter(|&j| !bad_col[j]) {
                let v = b.get(p, j);
                bx[j / w] += v * x[j];
                babs[j / w] += v.abs();
            }
        });
    // Per row i and block q: want = A·bx and scale = |A|·babs (f64 products
    // on CHECK_ROWS rows at a time), against got = Σ C[i, j]·x[j] over the
    // block's good columns. The block's elements each err by at most
    // K·ε·Σ|A||B| (any summation order, fused or not) plus K underflows; the
    // f64 check itself by a few (K + w)·ε_f64 of the same scale.
    let chunk_rows = check_chunk_rows(k);
    let rows = (0..m.div_ceil(chunk_rows)).into_par_iter().map(|chunk| {
        let (lo, hi) = (chunk * chunk_rows, ((chunk + 1) * chunk_rows).min(m));
        let r = hi - lo;
        let mut a64 = vec![0.0; r * k];
        let mut aabs = vec![0.0; r * k];
        for i in (0..r).filter(|&i| !bad_row[lo + i]) {
            for p in 0..k {
                let v = a.get(lo + i, p);
                a64[i * k + p] = v;
                aabs[i * k + p] = v.abs();
            }
        }
        let mut want = vec![0.0; r * blocks];
        let mut scale = vec![0.0; r * blocks];
        cpu::product(&a64, &bx, &mut want, r, blocks, k, 1);
        cpu::product(&aabs, &babs, &mut scale, r, blocks, k, 1);
        let mut check = ProductCheck::NONE;
        for i in 0..r {
            if bad_row[lo + i] {
                check.unchecked += n;
                continue;
            }
            check.unchecked += n - good_cols;
            for q in 0..blocks {
                let columns = (q * w..((q + 1) * w).min(n)).filter(|&j| !bad_col[j]);
                let (got, elements) = columns.fold((0.0, 0), |(sum, count), j| {
                    (sum + c.get(lo + i, j) * x[j], count + 1)
                });
                let s = scale[i * blocks + q];
                let bound =
                    kf * eps * s + 4.0 * (kf + w as f64) * f64::EPSILON * s + kf * w as f64 * tiny;
                check.add(
                    (got - want[i * blocks + q]).abs(),
                    bound,
                    s,
                    limit,
                    elements,
                );
            }
        }
        check
    });
    // Sampled elements, each against its own bound (counted by the blocks
    // above: these check again, element by element).
    let samples = 256.min(m * n);
    let elements = (0..samples as u64).into_par_iter().map(|s| {
        let index =
            (stream_word(0x5a3e, s) as usize * 65_537 + stream_word(0x5a3f, s) as usize) % (m * n);
        let (i, j) = (index / n, index % n);
        let mut check = ProductCheck::NONE;
        if bad_row[i] || bad_col[j] {
            return check;
        }
        let (mut want, mut scale) = (0.0, 0.0);
        for p in 0..k {
            want += a.get(i, p) * b.get(p, j);
            scale += (a.get(i, p) * b.get(p, j)).abs();
        }
        let bound = kf * eps * scale + 2.0 * kf * f64::EPSILON * scale + kf * tiny;
        check.add((c.get(i, j) - want).abs(), bound, scale, limit, 0);
        check
    });
    rows.chain(elements)
        .reduce(|| ProductCheck::NONE, ProductCheck::join)
}

/// The larger ratio, NaN if either is.
fn worse(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else {
        x.max(y)
    }
}

fn ratio(error: f64, bound: f64) -> f64 {
    if error.is_nan() {
        f64::NAN
    } else {
        error / bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checks_own_arrays_are_counted() {
        // N = 1, K = 2^26: B summed per block (2 x K f64) and one worker's
        // row of A in f64 (2 x K): 2 GiB, four times the f32 A and B.
        let long_k = check_bytes((1, 1, 1 << 26), 8);
        assert!(
            (2u64 << 30..(2u64 << 30) + 1024).contains(&long_k),
            "{long_k}"
        );
        // Square: 32 rows of A a worker beside B's block sums (K·N bytes).
        let square = check_bytes((4096, 4096, 4096), 2);
        assert_eq!(
            square,
            16 * 4096 * 256 + 9 * 4096 + 4096 + 2 * 16 * 32 * (4096 + 256)
        );
    }
    use crate::dtype::{Float, FloatVec};
    use crate::workloads::matmul::{matmul, naive};
    use crate::Device;

    #[test]
    fn the_check_accepts_a_right_product_and_rejects_wrong_ones() {
        let a = Matrix::random(37, 29, Float::F64, 1).unwrap();
        let b = Matrix::random(29, 41, Float::F64, 2).unwrap();
        let mut c = naive(&a, &b);
        assert!(worst_error_ratio(&a, &b, &c) <= 1.0);
        let poke = |c: &mut Matrix, value: f64| {
            let FloatVec::F64(data) = &mut c.data else {
                unreachable!()
            };
            data[5 * 41 + 7] = value;
        };
        let right = c.get(5, 7);
        poke(&mut c, right + 1e-9);
        assert!(worst_error_ratio(&a, &b, &c) > 1.0);
        poke(&mut c, f64::NAN);
        assert!(worst_error_ratio(&a, &b, &c).is_nan());
    }

    #[test]
    fn empty_shapes_are_checked_as_all_zeros() {
        let zeros =
            |rows, cols| Matrix::new(rows, cols, FloatVec::F64(vec![0.0; rows * cols])).unwrap();
        // K = 0: C must be zeros; M or N = 0: C is empty, nothing to check.
        let check = check_product(&zeros(3, 0), &zeros(0, 4), &zeros(3, 4));
        assert_eq!((check.passed(), check.checked), (Some(true), 12));
        let mut c = zeros(3, 4);
        c.data = FloatVec::F64([vec![0.0; 11], vec![1e-300]].concat());
        assert_eq!(
            check_product(&zeros(3, 0), &zeros(0, 4), &c).passed(),
            Some(false)
        );
        c.data = FloatVec::F64([vec![f64::NAN], vec![0.0; 11]].concat());
        assert!(check_product(&zeros(3, 0), &zeros(0, 4), &c)
            .worst_error_ratio
            .is_nan());
        for (m, k, n) in [(0, 5, 4), (3, 5, 0), (0, 0, 0)] {
            let check = check_product(&zeros(m, k), &zeros(k, n), &zeros(m, n));
            assert_eq!((check.passed(), check.checked), (None, 0), "{m}x{k}x{n}");
        }
    }

    #[test]
    fn non_finite_inputs_leave_their_rows_and_columns_unchecked_and_the_rest_checked() {
        let (m, k, n) = (37, 29, 41);
        let mut a = Matrix::random(m, k, Float::F64, 1).unwrap();
        let mut b = Matrix::random(k, n, Float::F64, 2).unwrap();
        let FloatVec::F64(data) = &mut a.data else {
            unreachable!()
        };
        data[3 * k + 4] = f64::NAN; // row 3 of C is all NaN, as in NumPy
        data[9 * k] = f64::INFINITY; // row 9 of C is ±inf
        let FloatVec::F64(data) = &mut b.data else {
            unreachable!()
        };
        data[5 * n + 17] = f64::NAN; // column 17, in the second block of 16
        let mut c = naive(&a, &b);
        assert!(c.get(3, 0).is_nan() && c.get(9, 0).is_infinite() && c.get(0, 17).is_nan());
        let check = check_product(&a, &b, &c);
        assert_eq!(check.passed(), Some(true), "{check:?}");
        assert_eq!(check.unchecked, 2 * n + (m - 2), "{check:?}");
        assert_eq!(check.checked, (m - 2) * (n - 1), "{check:?}");
        // A wrong element beside the NaN column, in its block, still fails,
        // and so does an unwritten one.
        let poke = |c: &mut Matrix, value: f64| {
            let FloatVec::F64(cd) = &mut c.data else {
                unreachable!()
            };
            cd[5 * n + 18] = value;
        };
        let right = c.get(5, 18);
        poke(&mut c, right + 1e-9);
        assert_eq!(check_product(&a, &b, &c).passed(), Some(false));
        poke(&mut c, f64::NAN);
        assert_eq!(check_product(&a, &b, &c).passed(), Some(false));
    }

    #[test]
    fn products_that_may_overflow_are_not_checked() {
        // Every element is 6·1e200² = inf in f64: nothing has a finite bound.
        let big =
            |rows, cols| Matrix::new(rows, cols, FloatVec::F64(vec![1e200; rows * cols])).unwrap();
        let (a, b) = (big(5, 6), big(6, 7));
        let check = check_product(&a, &b, &naive(&a, &b));
        assert_eq!((check.checked, check.passed()), (0, None), "{check:?}");
        // In f32, 1e20 · 1e20 overflows although f64 holds it.
        let f32s =
            |rows, cols| Matrix::new(rows, cols, FloatVec::F32(vec![1e20; rows * cols])).unwrap();
        let (a, b) = (f32s(3, 4), f32s(4, 5));
        let c = Matrix::new(3, 5, FloatVec::F32(vec![f32::INFINITY; 15])).unwrap();
        assert_eq!(check_product(&a, &b, &c).passed(), None);
    }

    #[test]
    fn a_small_wrong_tile_fails_where_whole_row_sums_would_hide_it() {
        // Row sums over N = 1024 columns allow K·ε·Σ|A||B| ≈ 128 a row, far
        // more than a zeroed 4×4 tile moves one (about 30); blocks of 16 allow ≈ 2.
        let (m, n, k) = (256, 1024, 2048);
        let a = Matrix::random(m, k, Float::F32, 3).unwrap();
        let b = Matrix::random(k, n, Float::F32, 4).unwrap();
        let cpu = Device::select(&crate::DeviceSpec::Cpu).unwrap();
        let (mut c, _) = matmul(&cpu, &a, &b, 1, false).unwrap();
        assert!(worst_error_ratio(&a, &b, &c) <= 1.0);
        let FloatVec::F32(data) = &mut c.data else {
            unreachable!()
        };
        for i in 100..104 {
            data[i * n + 200..i * n + 204].fill(0.0);
        }
        let worst = worst_error_ratio(&a, &b, &c);
        assert!(worst > 1.0, "a zeroed tile passed: {worst}");
    }
}
