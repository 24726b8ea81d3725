//! Which kernel multiplies best here: the measured choice, then each kernel
//! it tried, run by name. On a CPU or OpenCL device there is one way to
//! multiply, and nothing to try.
//!
//! Run: `cargo run --release --features cuda --example 05_matmul_kernels -- 4096`.

use gpucalc::matmul::{matmul_with, MatmulOptions, Matrix};
use gpucalc::{Device, DeviceSpec, Float};

mod common;

fn main() -> std::process::ExitCode {
    common::exit_code(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 1024,
    };
    let device = Device::select(&DeviceSpec::Auto)?;
    let a = Matrix::random(n, n, Float::F64, 1)?;
    let b = Matrix::random(n, n, Float::F64, 2)?;

    let (_, chosen) = matmul_with(&device, &a, &b, &MatmulOptions::new(3))?;
    println!(
        "{n}³ f64 on {}: {} at {:.1} GFLOP/s (verified: {:?})",
        device.info().spec,
        chosen.kernel,
        chosen.flops * 1e-9,
        chosen.verified
    );
    if chosen.tried.is_empty() {
        println!("(only one kernel can take this product here)");
    }
    for tried in &chosen.tried {
        let options = MatmulOptions::new(3).verify(false).kernel(&tried.kernel);
        let (_, result) = matmul_with(&device, &a, &b, &options)?;
        println!(
            "  {:<18} tuning run {:8.3} ms, best of 3 {:8.1} GFLOP/s",
            tried.kernel,
            tried.seconds * 1e3,
            result.flops * 1e-9
        );
    }
    Ok(())
}
