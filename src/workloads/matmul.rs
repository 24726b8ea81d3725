//! `matmul`: C = A·B for row-major matrices (A is M×K, B is K×N), f32 or f64.
//!
//! Verification is Freivalds' check on blocks of [`CHECK_COLUMNS`] columns,
//! at O(MKN / 16) cost (two f64 products of that size): with a random ±1
//! vector x, each row's sum of `C[i, j]·x[j]` over each block must match A·(B·x)
//! restricted to the block, computed in f64, within the sum of the block's
//! element bounds `K·ε·(|A|·|B|)` (the summation-order-independent bound of a
//! length-K dot product in the element type, ε its machine epsilon, plus K
//! underflows). So an element off by more than 16 elements' bounds fails
//! wherever it is, as does a wrong tile (a check over whole rows would hide
//! it under N elements' bounds); 256 sampled elements must also each match
//! their own f64 dot product within their own bound. The output is poisoned
//! with NaN, on the device too, before the kernel runs, so an element nobody
//! wrote fails the check.
//!
//! Elements of C in a row of A or a column of B holding a NaN or infinity
//! (NumPy gives NaN or ±inf there; a library that skips zero terms may not),
//! and blocks whose magnitudes `Σ|A|·|B|` could reach the element type's
//! largest value (so their sums may overflow, in a way that depends on the
//! order), have no bound to check against: they are left out and counted in
//! [`ProductCheck::unchecked`], the rest of C is checked as above, and only
//! a product with nothing left to check goes unverified.

use serde::Serialize;

use crate::backend::cpu;
use crate::device::Device;
use crate::dtype::{Float, FloatVec};
use crate::error::{Error, Result};
use crate::philox::{stream_word, uniform_f64};

/// The most timed runs of one product.
pub const MAX_REPS: usize = 100_000;

/// A row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `rows * cols` elements, row after row.
    pub data: FloatVec,
}

impl Matrix {
    /// A matrix from row-major data; the length must be `rows * cols`.
    pub fn new(rows: usize, cols: usize, data: FloatVec) -> Result<Matrix> {
        let len = rows
            .checked_mul(cols)
            .ok_or_else(|| too_large(rows, cols))?;
        if data.len() != len {
            return Err(Error::InvalidArgument(format!(
                "a {rows}x{cols} matrix needs {len} elements, got {}",
                data.len()
            )));
        }
        Ok(Matrix { rows, cols, data })
    }

    /// A matrix of uniform values in [-1, 1) from the Philox stream for `seed`
    /// (element `i` from stream words `2i`, `2i+1`), the same on every machine.
    pub fn random(rows: usize, cols: usize, float: Float, seed: u64) -> Result<Matrix> {
        let len = rows
            .checked_mul(cols)
            .ok_or_else(|| too_large(rows, cols))?;
        let value = |i: usize| {
            let i = i as u64;
            2.0 * uniform_f64(stream_word(seed, 2 * i), stream_word(seed, 2 * i + 1)) - 1.0
        };
        let what = format!("a {rows}x{cols} {float} matrix");
        let data = match float {
            Float::F32 => FloatVec::F32(cpu::host_vec_from(len, &what, |i| value(i) as f32)?),
            Float::F64 => FloatVec::F64(cpu::host_vec_from(len, &what, value)?),
        };
        Matrix::new(rows, cols, data)
    }

    /// Element (i, j) widened to f64.
    ///
    /// # Panics
    ///
    /// Where `i` is not below `rows` or `j` not below `cols`, as indexing
    /// a slice out of range does (rather than reading another element).
    pub fn get(&self, i: usize, j: usize) -> f64 {
        assert!(
            i < self.rows && j < self.cols,
            "element ({i}, {j}) of a {}x{} matrix",
            self.rows,
            self.cols
        );
        self.data.get_f64(i * self.cols + j)
    }
}

fn too_large(rows: usize, cols: usize) -> Error {
    Error::InvalidArgument(format!(
        "a {rows}x{cols} matrix has more elements than this machine can address"
    ))
}

/// The outcome of a `matmul`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct MatmulResult {
    /// Rows of C (and A).
    pub m: usize,
    /// Columns of C (and B).
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// Element type.
    pub float: Float,
    /// Seconds of each timed run (after one untimed warm-up run); empty for
    /// a product with a dimension of 0, which runs nothing (C is then empty,
    /// or all zeros where only K is 0, as in NumPy).
    pub times_s: Vec<f64>,
    /// What computed C: the kernel and its tiles, or the CPU library.
    pub kernel: String,
    /// The kernels the backend timed to choose `kernel` (CUDA, when several
    /// could take the product and none was named), fastest first; empty
    /// where there was no choice to measure. A later product of the same
    /// shape on the same device reuses the choice, and lists these times again.
    pub tried: Vec<KernelTime>,
    /// `2·M·N·K / fastest run`, in FLOP/s (0 where nothing ran).
    pub flops: f64,
    /// Worst ratio of an error to its bound (≤ 1 passes); `None` if not checked.
    pub worst_error_ratio: Option<f64>,
    /// Whether the check passed; `None` if not checked (`--no-verify`, or
    /// no part of C could be: see [`ProductCheck`]).
    pub verified: Option<bool>,
    /// The check's details; `None` with `--no-verify`.
    pub check: Option<ProductCheck>,
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

/// One kernel's time in the measured choice of a `matmul` kernel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelTime {
    /// The kernel's name, as [`MatmulResult::kernel`] starts.
    pub kernel: String,
    /// Seconds of its timed run (after a warm-up run).
    pub seconds: f64,
}

/// How [`matmul_with`] runs a product.
///
/// ```
/// use gpucalc::matmul::MatmulOptions;
///
/// let options = MatmulOptions::new(5).verify(false).kernel("gc_gemm_f32_l");
/// assert_eq!(options.reps, 5);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MatmulOptions {
    /// Timed runs after the warm-up, 1 ..= [`MAX_REPS`].
    pub reps: usize,
    /// Check C against the f64 reference (see the module's notes).
    pub verify: bool,
    /// Run this kernel (CUDA: a name as [`MatmulResult::kernel`] starts)
    /// instead of choosing one; an error on a backend with nothing to choose.
    pub kernel: Option<String>,
}

impl MatmulOptions {
    /// `reps` timed runs, verified, kernel chosen by the backend.
    pub fn new(reps: usize) -> MatmulOptions {
        MatmulOptions {
            reps,
            verify: true,
            kernel: None,
        }
    }

    /// Whether to check C.
    pub fn verify(mut self, verify: bool) -> MatmulOptions {
        self.verify = verify;
        self
    }

    /// Names the kernel to run.
    pub fn kernel(mut self, name: impl Into<String>) -> MatmulOptions {
        self.kernel = Some(name.into());
        self
    }
}

/// Multiplies `a` (M×K) by `b` (K×N) on `device`: `reps` timed runs after one
/// warm-up, checked if `verify`. Returns C and the statistics. Shorthand for
/// [`matmul_with`] and [`MatmulOptions`].
///
/// ```
/// use gpucalc::matmul::{matmul, Matrix};
/// use gpucalc::{Device, DeviceSpec, Float};
///
/// let device = Device::select(&DeviceSpec::Cpu)?;
/// let a = Matrix::random(33, 17, Float::F64, 1)?;
/// let b = Matrix::random(17, 5, Float::F64, 2)?;
/// let (c, result) = matmul(&device, &a, &b, 1, true)?;
/// assert_eq!((c.rows, c.cols), (33, 5));
/// assert_eq!(result.verified, Some(true));
/// # Ok::<(), gpucalc::Error>(())
/// ```
pub fn matmul(
    device: &Device,
    a: &Matrix,
    b: &Matrix,
    reps: usize,
    verify: bool,
) -> Result<(Matrix, MatmulResult)> {
    matmul_with(device, a, b, &MatmulOptions::new(reps).verify(verify))
}

/// Refuses a product whose A (M×K), B (K×N) and C do not fit in the host's
/// memory (where all three live) or on `device`: before anything is generated
/// or copied, so a refusal costs nothing. [`matmul_with`] checks it too.
pub fn check_fits(device: &Device, (m, n, k): (usize, usize, usize), float: Float) -> Result<()> {
    let (what, bytes) = footprint((m, n, k), float)?;
    cpu::check_host_fits(&what, bytes)?;
    device.check_fits(&what, bytes)
}

/// What A, B and C are called in a refusal, and their bytes together.
fn footprint((m, n, k): (usize, usize, usize), float: Float) -> Result<(String, u64)> {
    let elements = m
        .checked_mul(n)
        .and_then(|mn| {
            m.checked_mul(k)?
                .checked_add(k.checked_mul(n)?)?
                .checked_add(mn)
        })
        .ok_or_else(|| {
            Error::InvalidArgument(format!("{m}x{n}x{k} matrices have too many elements"))
        })?;
    let bytes = (elements as u64).saturating_mul(float.size() as u64);
    let what = format!("the product (A, B and C: {m}x{k}, {k}x{n}, {m}x{n} {float})");
    Ok((what, bytes))
}

/// Multiplies `a` (M×K) by `b` (K×N) on `device` as `options` say.
///
/// Where several kernels could take the product (CUDA) and `options` names
/// none, the backend times each in turn (an untimed round, then the best of
/// up to three timed rounds) and keeps the fastest (the rule-of-thumb choice
/// unless another is more than 2% faster); the choice is remembered for this
/// shape while `device` lives, and [`MatmulResult::tried`] lists the times.
pub fn matmul_with(
    device: &Device,
    a: &Matrix,
    b: &Matrix,
    options: &MatmulOptions,
) -> Result<(Matrix, MatmulResult)> {
    let (reps, verify) = (options.reps, options.verify);
    for (name, x) in [("A", a), ("B", b)] {
        if Some(x.data.len()) != x.rows.checked_mul(x.cols) {
            return Err(Error::InvalidArgument(format!(
                "matrix {name} is {}x{} but holds {} elements",
                x.rows,
                x.cols,
                x.data.len()
            )));
        }
    }
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k {
        return Err(Error::InvalidArgument(format!(
            "inner dimensions differ: A is {m}x{k} but B is {}x{n}",
            b.rows
        )));
    }
    if a.data.float() != b.data.float() {
        return Err(Error::InvalidArgument(format!(
            "A is {} but B is {}; convert one of them",
            a.data.float(),
            b.data.float()
        )));
    }
    if !(1..=MAX_REPS).contains(&reps) {
        return Err(Error::InvalidArgument(format!(
            "reps (--reps) must be between 1 and {MAX_REPS}"
        )));
    }
    let float = a.data.float();
    if m == 0 || n == 0 || k == 0 {
        return empty_product((m, n, k), float, verify);
    }
    // A and B are in host memory already: the host need only find room for C
    // (`host_vec` checks that), a GPU for all three.
    let (all_three, bytes) = footprint((m, n, k), float)?;
    if device.kind() != crate::BackendKind::Cpu {
        device.check_fits(&all_three, bytes)?;
    }
    let what = format!("matrix C ({m}x{n} {float})");
    let mut c = match float {
        Float::F32 => FloatVec::F32(cpu::host_vec(m * n, f32::NAN, &what)?),
        Float::F64 => FloatVec::F64(cpu::host_vec(m * n, f64::NAN, &what)?),
    };
    let runs = device.backend().matmul(
        &a.data,
        &b.data,
        &mut c,
        (m, n, k),
        reps,
        options.kernel.as_deref(),
    )?;
    let times_s = runs.times;
    let c = Matrix::new(m, n, c)?;
    let fastest = times_s.iter().copied().fold(f64::INFINITY, f64::min);
    let check = verify.then(|| check_product(a, b, &c));
    Ok((
        c,
        MatmulResult {
            m,
            n,
            k,
            float,
            flops: 2.0 * m as f64 * n as f64 * k as f64 / fastest.max(1e-12),
            times_s,
            kernel: runs.kernel,
            tried: runs.tried,
            worst_error_ratio: check.filter(|c| c.checked > 0).map(|c| c.worst_error_ratio),
            verified: check.and_then(|c| c.passed()),
            check,
        },
    ))
}

/// The product with no arithmetic in it, as NumPy gives it: C is empty
/// where M or N is 0, and all zeros where only K is (a sum of no terms).
/// Nothing runs, so there are no times; C is exact, so it passes any check.
fn empty_product(
    (m, n, k): (usize, usize, usize),
    float: Float,
    verify: bool,
) -> Result<(Matrix, MatmulResult)> {
    let elements = m.checked_mul(n).ok_or_else(|| too_large(m, n))?;
    let what = format!("matrix C ({m}x{n} zeros)");
    let data = match float {
        Float::F32 => FloatVec::F32(cpu::host_vec(elements, 0.0, &what)?),
        Float::F64 => FloatVec::F64(cpu::host_vec(elements, 0.0, &what)?),
    };
    let kernel = if elements == 0 {
        format!("none: C is {m}x{n}, empty")
    } else {
        format!("none: K is 0, so C ({m}x{n}) is all zeros")
    };
    let check = verify.then_some(ProductCheck {
        worst_error_ratio: 0.0,
        checked: elements,
        unchecked: 0,
    });
    Ok((
        Matrix {
            rows: m,
            cols: n,
            data,
        },
        MatmulResult {
            m,
            n,
            k,
            float,
            times_s: Vec::new(),
            kernel,
            tried: Vec::new(),
            flops: 0.0,
            worst_error_ratio: check.map(|c| c.worst_error_ratio),
            verified: verify.then_some(true),
            check,
        },
    ))
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
///
/// # Panics
/// If the shapes do not chain (A is M×K, B is K×N, C is M×N) or a matrix's
/// data does not hold rows × cols elements.
pub fn check_product(a: &Matrix, b: &Matrix, c: &Matrix) -> ProductCheck {
    use rayon::prelude::*;
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k && (c.rows, c.cols) == (m, n),
        "worst_error_ratio: A is {m}x{k}, B {}x{n}, C {}x{}",
        b.rows,
        c.rows,
        c.cols
    );
    for x in [a, b, c] {
        assert_eq!(
            x.data.len(),
            x.rows * x.cols,
            "worst_error_ratio: data length"
        );
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
    let chunk_rows = ((1 << 20) / k).clamp(1, CHECK_ROWS);
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

    fn naive(a: &Matrix, b: &Matrix) -> Matrix {
        let mut out = vec![0.0f64; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols).map(|p| a.get(i, p) * b.get(p, j)).sum();
            }
        }
        Matrix::new(a.rows, b.cols, FloatVec::F64(out)).unwrap()
    }

    #[test]
    fn products_with_a_dimension_of_zero_are_empty_or_zeros() {
        let cpu = Device::select(&crate::DeviceSpec::Cpu).unwrap();
        let options = MatmulOptions::new(3);
        for (m, n, k) in [(0, 4, 3), (3, 0, 2), (3, 4, 0), (0, 0, 0)] {
            for float in [Float::F32, Float::F64] {
                let a = Matrix::random(m, k, float, 1).unwrap();
                let b = Matrix::random(k, n, float, 2).unwrap();
                let (c, result) = matmul_with(&cpu, &a, &b, &options).unwrap();
                assert_eq!((c.rows, c.cols, c.data.len()), (m, n, m * n));
                assert!((0..m * n).all(|i| c.get(i / n, i % n) == 0.0));
                assert_eq!(c.data.float(), float);
                assert!(result.times_s.is_empty() && result.flops == 0.0);
                assert_eq!(result.verified, Some(true));
                let unchecked = matmul_with(&cpu, &a, &b, &options.clone().verify(false));
                assert_eq!(unchecked.unwrap().1.verified, None);
            }
        }
        // The other arguments are still checked first.
        let a = Matrix::random(0, 3, Float::F64, 1).unwrap();
        let b = Matrix::random(2, 4, Float::F64, 2).unwrap();
        let err = matmul_with(&cpu, &a, &b, &options).unwrap_err();
        assert!(err.to_string().contains("inner dimensions differ"), "{err}");
        let b = Matrix::random(3, 4, Float::F64, 2).unwrap();
        let err = matmul_with(&cpu, &a, &b, &MatmulOptions::new(0)).unwrap_err();
        assert!(err.to_string().contains("reps"), "{err}");
        // Tiny inputs whose zero C would not fit, or not even be counted.
        for (side, oom) in [(1usize << 24, true), (1 << 33, false)] {
            let a = Matrix::random(side, 0, Float::F32, 1).unwrap();
            let b = Matrix::random(0, side, Float::F32, 2).unwrap();
            let err = matmul_with(&cpu, &a, &b, &options).unwrap_err();
            assert_eq!(matches!(err, Error::OutOfMemory { .. }), oom, "{err}");
        }
    }

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

    #[test]
    fn the_cpu_product_is_right_for_awkward_shapes_and_thread_counts() {
        // faer takes one row or column through its matrix-vector code, K = 1
        // as a rank-one update, tiny products (M·N·K ≤ 16³) through nano-gemm
        // and the rest through its x86 kernels, split over threads above
        // 4096·size_of::<T>() M·N·K: cover each, on one thread and on more
        // workers than this machine may have.
        let shapes = [
            (1, 1, 1),
            (40, 50, 1),
            (7, 13, 5),
            (1, 1000, 1),
            (1000, 1, 3),
            (129, 65, 257),
            (64, 128, 33),
            (301, 299, 97),
        ];
        for threads in [1, 3] {
            let options = crate::DeviceOptions::threads(threads);
            let cpu = Device::select_with(&crate::DeviceSpec::Cpu, &options).unwrap();
            for float in [Float::F32, Float::F64] {
                for (seed, &(m, n, k)) in shapes.iter().enumerate() {
                    let a = Matrix::random(m, k, float, 2 * seed as u64).unwrap();
                    let b = Matrix::random(k, n, float, 2 * seed as u64 + 1).unwrap();
                    let (c, result) = matmul(&cpu, &a, &b, 1, true).unwrap();
                    let what = format!("{m}x{n}x{k} {float}, {threads} threads");
                    assert_eq!(result.verified, Some(true), "{what}");
                    // Every element, against a plain loop in f64 that shares
                    // nothing with faer, within K·ε·Σ|A||B| of its own.
                    let want = naive(&a, &b);
                    let eps = match float {
                        Float::F32 => f32::EPSILON as f64,
                        Float::F64 => f64::EPSILON,
                    };
                    for i in 0..m {
                        for j in 0..n {
                            let scale: f64 =
                                (0..k).map(|p| (a.get(i, p) * b.get(p, j)).abs()).sum();
                            let error = (c.get(i, j) - want.get(i, j)).abs();
                            assert!(
                                error <= k as f64 * eps * scale,
                                "{what}: C[{i}, {j}] = {} but the loop gives {}",
                                c.get(i, j),
                                want.get(i, j)
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn shapes_are_checked() {
        let cpu = Device::select(&crate::DeviceSpec::Cpu).unwrap();
        let a = Matrix {
            rows: 2,
            cols: 3,
            data: FloatVec::F32(vec![0.0; 5]),
        };
        let b = Matrix::random(3, 2, Float::F32, 1).unwrap();
        let err = matmul(&cpu, &a, &b, 1, true).unwrap_err().to_string();
        assert_eq!(err, "matrix A is 2x3 but holds 5 elements");
        assert!(Matrix::new(2, 3, FloatVec::F32(vec![0.0; 5])).is_err());
        assert!(Matrix::new(usize::MAX, 3, FloatVec::F32(vec![])).is_err());
    }

    #[test]
    fn a_random_matrix_past_the_hosts_memory_is_an_error_not_an_abort() {
        for float in [Float::F32, Float::F64] {
            let err = Matrix::random(1 << 24, 1 << 24, float, 1).unwrap_err();
            assert!(matches!(err, Error::OutOfMemory { .. }), "{err}");
        }
        assert!(Matrix::random(usize::MAX, 2, Float::F32, 1).is_err());
    }

    #[test]
    #[should_panic(expected = "element (0, 3) of a 2x3 matrix")]
    fn an_element_past_the_last_column_is_not_one_of_the_next_row() {
        let a = Matrix::random(2, 3, Float::F32, 1).unwrap();
        assert_eq!(a.get(1, 2), a.data.get_f64(5));
        a.get(0, 3);
    }
}
