//! Shared by the integration tests: where the `gpucalc` binary is.

#![allow(dead_code)] // each test file uses some of these

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output};

use gpucalc::matmul::Matrix;
use gpucalc::{list_devices, BackendKind, DeviceInfo};

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
