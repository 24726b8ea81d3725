//! Shared by the integration tests: where the `gpucalc` binary is.

#![allow(dead_code)] // each test file uses some of these

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output};

use gpucalc::matmul::{matmul, matmul_with, MatmulOptions, Matrix};
use gpucalc::rng::RngType;
use gpucalc::{list_devices, BackendKind, Device, DeviceInfo, DeviceSpec, Float};

/// The binary under test: `GPUCALC_BIN` if set (test executables copied to a
/// machine without Rust, as `scripts/gpu-bundle.sh` does), else cargo's build.
pub fn bin() -> PathBuf {
    std::env::var_os("GPUCALC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_gpucalc")))
}

/// A command for the binary with `GPUCALC_DEVICE` cleared.
pub fn gpucalc() -> Command {
    let mut command = Command::new(bin());
    command.env_remove("GPUCALC_DEVICE");
    command
}

/// Runs the binary with `args` (`GPUCALC_DEVICE` cleared) and returns what it did.
pub fn run(args: &[&str]) -> Output {
    gpucalc()
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin().display()))
}

/// Asserts that a run of the binary succeeded, showing its stderr where it did not.
#[track_caller]
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every OpenCL device, or `None` (reason printed) when there is none and
/// `GPUCALC_SKIP_OPENCL=1` allows skipping; otherwise a missing platform panics.
pub fn opencl_devices() -> Option<Vec<DeviceInfo>> {
    let list = list_devices();
    let found: Vec<DeviceInfo> = list
        .devices
        .into_iter()
        .filter(|d| d.backend == BackendKind::OpenCl)
        .collect();
    if !found.is_empty() {
        return Some(found);
    }
    let why = list
        .notes
        .iter()
        .find(|n| n.starts_with("OpenCL"))
        .cloned()
        .unwrap_or_else(|| "no OpenCL device found".to_string());
    if std::env::var("GPUCALC_SKIP_OPENCL").as_deref() == Ok("1") {
        // Straight to stderr, past the test harness's capture, so the skip is seen.
        let _ = writeln!(
            std::io::stderr(),
            "skipping OpenCL test (GPUCALC_SKIP_OPENCL=1): {why}"
        );
        return None;
    }
    panic!("{why}; install pocl-opencl-icd, or set GPUCALC_SKIP_OPENCL=1 to skip");
}

/// Largest |C - D| / (2·K·ε·(|A|·|B|)) over every element: both products lie
/// within K·ε·(|A|·|B|) of the exact one, so at most 1 when both are right.
pub fn worst_matmul_difference(a: &Matrix, b: &Matrix, c: &Matrix, d: &Matrix) -> f64 {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let eps = a.data.float().epsilon();
    let mut worst: f64 = 0.0;
    for i in 0..m {
        for j in 0..n {
            let scale: f64 = (0..k).map(|p| (a.get(i, p) * b.get(p, j)).abs()).sum();
            let bound = 2.0 * k as f64 * eps * scale + f64::MIN_POSITIVE;
            let diff = (c.get(i, j) - d.get(i, j)).abs();
            assert!(!diff.is_nan(), "NaN at ({i}, {j})");
            worst = worst.max(diff / bound);
        }
    }
    worst
}

/// `map` inputs that reach every function's corners: a ramp of `ramp` values
/// over negatives and positives, small positives, and zeros, signs, tiny,
/// huge and non-finite values.
pub fn map_inputs(ramp: usize) -> Vec<f64> {
    let mut xs: Vec<f64> = (0..ramp).map(|i| (i as f64 - 1000.0) * 0.37).collect();
    xs.extend((1..2000).map(|i| f64::from(i) * 1e-3));
    xs.extend([
        0.0,
        -0.0,
        1e-300,
        1e-40,
        -1e-40,
        1e30,
        -1e30,
        88.0,
        89.0,
        709.0,
        710.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ]);
    xs
}

/// `map` on borrowed slices of the caller's arrays: the middle of one `Vec`
/// into the middle of another, then (`map_floats`) an array into a [`gpucalc::FloatVec`].
/// Checks the written part against the CPU and that nothing around it changed.
pub fn check_map_on_slices(device: &Device) {
    use gpucalc::map::{map, map_floats, MapFn};
    let xs: Vec<f32> = (0..10_000).map(|i| i as f32 * 0.5).collect();
    let mut ys = vec![-1.0; 12_000];
    let r = map(
        device,
        MapFn::Square,
        &xs[100..9_100],
        &mut ys[1_000..10_000],
        true,
    )
    .expect("map on slices");
    assert_eq!((r.elements, r.verified), (9_000, Some(true)), "{r:?}");
    for (i, &y) in ys.iter().enumerate() {
        let want = if (1_000..10_000).contains(&i) {
            xs[i - 900] * xs[i - 900]
        } else {
            -1.0
        };
        assert_eq!(y, want, "element {i}");
    }
    let mut out = gpucalc::FloatVec::zeros(Float::F32, 3);
    map_floats(
        device,
        MapFn::Reciprocal,
        &[2.0f32, 4.0, 8.0],
        &mut out,
        true,
    )
    .expect("map an array");
    assert_eq!(out.as_f32(), Some(&[0.5f32, 0.25, 0.125][..]));
}

/// Matmul shapes (M, N, K), C is M×N, with odd k or n: edges of both tile
/// sizes, rows that are not whole vectors.
pub const MATMUL_ODD_SHAPES: [(usize, usize, usize); 7] = [
    (1, 1, 1),
    (7, 13, 5),
    (129, 65, 257),
    (1, 1000, 1),
    (1000, 1, 3),
    (257, 257, 257),
    (64, 128, 33),
];

/// Multiplies seeded random matrices of each (M, N, K) of `shapes` on `device`
/// (`reps` timed runs) in each of `floats`, and checks the result: verified,
/// timed, and, where M·N·K is at most `compare_up_to`, element by element
/// against the CPU's product. `kernel` names the kernel to run (CUDA), else
/// the backend chooses.
pub fn check_matmul_shapes(
    device: &Device,
    shapes: &[(usize, usize, usize)],
    floats: &[Float],
    reps: usize,
    compare_up_to: usize,
    kernel: Option<&str>,
) {
    let cpu = Device::select(&DeviceSpec::Cpu).unwrap();
    for &float in floats {
        for (seed, &(m, n, k)) in shapes.iter().enumerate() {
            let a = Matrix::random(m, k, float, 2 * seed as u64).unwrap();
            let b = Matrix::random(k, n, float, 2 * seed as u64 + 1).unwrap();
            let mut options = MatmulOptions::new(reps);
            if let Some(kernel) = kernel {
                options = options.kernel(kernel);
            }
            let (c, result) = matmul_with(device, &a, &b, &options)
                .unwrap_or_else(|e| panic!("{m}x{n}x{k} {float} {kernel:?}: {e}"));
            if let Some(kernel) = kernel {
                assert!(result.kernel.starts_with(kernel), "{}", result.kernel);
            }
            assert_eq!((c.rows, c.cols), (m, n));
            assert_eq!(
                result.verified,
                Some(true),
                "{m}x{n}x{k} {float} {}: worst error {:?} of its bound",
                result.kernel,
                result.worst_error_ratio
            );
            assert_eq!(result.times_s.len(), reps);
            assert!(result.times_s.iter().all(|&t| t > 0.0), "{result:?}");
            assert!(result.flops > 0.0);
            if m * n * k <= compare_up_to {
                let (reference, _) = matmul(&cpu, &a, &b, 1, false).unwrap();
                let worst = worst_matmul_difference(&a, &b, &c, &reference);
                assert!(
                    worst <= 1.0,
                    "{m}x{n}x{k} {float} {}: {worst} of the bound",
                    result.kernel
                );
            }
        }
    }
}

/// Distance between `a` and `b` in ulps (of `dtype`) of the larger magnitude.
pub fn ulps_apart(a: f64, b: f64, dtype: RngType) -> f64 {
    let larger = a.abs().max(b.abs());
    let ulp = match dtype {
        RngType::F32 => {
            let x = larger as f32;
            f64::from(f32::from_bits(x.to_bits() + 1) - x)
        }
        _ => f64::from_bits(larger.to_bits() + 1) - larger,
    };
    (a - b).abs() / ulp
}
