//! `matmul`: C = A·B for row-major matrices (A is M×K, B is K×N), f32 or f64.
//!
//! Verification ([`check_product`]) is Freivalds' check on blocks of
//! [`CHECK_COLUMNS`] columns, at O(MKN / 16) cost (two f64 products of that
//! size): with a random ±1 vector x, each row's sum of `C[i, j]·x[j]` over
//! each block must match A·(B·x) restricted to the block, computed in f64,
//! within the sum of the block's
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

mod check;
mod matrix;

use serde::Serialize;

pub use check::{check_product, worst_error_ratio, ProductCheck, CHECK_COLUMNS};
pub use matrix::Matrix;

use crate::backend::cpu;
use crate::device::Device;
use crate::dtype::{Float, FloatVec};
use crate::error::{Error, Result};
use matrix::too_large;

/// The most timed runs of one product.
pub const MAX_REPS: usize = 100_000;

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

/// Refuses a product whose A (M×K), B (K×N) and C do not fit on `device`,
/// or in the host's memory with what else the host holds (an OpenCL device
/// on the CPU, such as PoCL, keeps its copies of the three there too;
/// where `verify` is set, [`check_product`]'s own arrays): before anything
/// is generated or copied, so a refusal costs nothing. [`matmul_with`]
/// checks it too.
pub fn check_fits(
    device: &Device,
    (m, n, k): (usize, usize, usize),
    float: Float,
    verify: bool,
) -> Result<()> {
    let (mut what, bytes) = footprint((m, n, k), float)?;
    device.check_fits(&what, bytes)?;
    let on_host_too = device.info().device_type == crate::DeviceType::Cpu
        && device.kind() != crate::BackendKind::Cpu;
    let mut host = if on_host_too {
        bytes.saturating_mul(2)
    } else {
        bytes
    };
    if on_host_too {
        what.push_str(", with the device's copies in host memory");
    }
    if verify {
        host = host.saturating_add(check::check_bytes((m, n, k), rayon::current_num_threads()));
        what.push_str(" and its verification");
    }
    cpu::check_host_fits(&what, host)
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
            "inner dimensions differ: A is {m}x{k} but B is {}x{n} (A's {k} columns \
             must meet as many rows of B)",
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
    // (`host_vec` checks that) and the check's arrays, a GPU for all three.
    let (all_three, bytes) = footprint((m, n, k), float)?;
    if device.kind() != crate::BackendKind::Cpu {
        device.check_fits(&all_three, bytes)?;
    }
    let what = format!("matrix C ({m}x{n} {float})");
    if verify {
        // Before the product runs: a check that could not allocate would
        // abort after it.
        let c_bytes = ((m * n) as u64).saturating_mul(float.size() as u64);
        let check = check::check_bytes((m, n, k), rayon::current_num_threads());
        cpu::check_host_fits(
            &format!("{what} and the product's verification"),
            c_bytes.saturating_add(check),
        )?;
    }
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

/// C = A·B by a plain loop nest in f64, for tests: shares nothing with faer.
#[cfg(test)]
pub(crate) fn naive(a: &Matrix, b: &Matrix) -> Matrix {
    let mut out = vec![0.0f64; a.rows * b.cols];
    for i in 0..a.rows {
        for j in 0..b.cols {
            out[i * b.cols + j] = (0..a.cols).map(|p| a.get(i, p) * b.get(p, j)).sum();
        }
    }
    Matrix::new(a.rows, b.cols, FloatVec::F64(out)).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
