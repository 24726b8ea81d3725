//! `pool.map(sqrt, range(N))` and a matrix product, each checked against the CPU.
//!
//! Run: `cargo run --release --example 04_map_and_matmul`.

use gpucalc::map::{map, MapFn};
use gpucalc::matmul::{matmul, Matrix};
use gpucalc::{Device, DeviceSpec, Float};

mod common;

fn main() -> std::process::ExitCode {
    common::exit_code(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::select(&DeviceSpec::Auto)?;
    let n = 10_000_000;
    let xs: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let mut roots = vec![0.0f32; n];
    let r = map(&device, MapFn::Sqrt, &xs, &mut roots, true)?;
    println!("sqrt(1e6) = {} on {}", roots[1_000_000], device.info().spec);
    println!(
        "sqrt of {n} floats: {:.1} GB/s, within {} ulp of the CPU: {:?}",
        r.kernel_bandwidth * 1e-9,
        r.ulp_bound,
        r.verified
    );

    let a = Matrix::random(1024, 512, Float::F32, 1)?;
    let b = Matrix::random(512, 768, Float::F32, 2)?;
    let (c, r) = matmul(&device, &a, &b, 3, true)?;
    println!(
        "{}x{} product: {:.1} GFLOP/s, verified: {:?}",
        c.rows,
        c.cols,
        r.flops * 1e-9,
        r.verified
    );
    Ok(())
}
