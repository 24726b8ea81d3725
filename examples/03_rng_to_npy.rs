//! A million normal variates into `normals.npy`, generated in two pieces that
//! concatenate to exactly what one call would give.
//!
//! Run: `cargo run --release --example 03_rng_to_npy`, then in Python
//! `numpy.load("normals.npy").std()`.

use gpucalc::npy::write_npy;
use gpucalc::rng::{rng_generate, Dist, RngSpec, RngType, RngVec};
use gpucalc::{Device, DeviceSpec};

mod common;

fn main() -> std::process::ExitCode {
    common::exit_code(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::select(&DeviceSpec::Auto)?;
    let spec = RngSpec::new(Dist::Normal, RngType::F64, 2026)?;
    let n = 1_000_000;
    let (RngVec::F64(mut first), RngVec::F64(second)) = (
        rng_generate(&device, &spec, 0, n / 2)?,
        rng_generate(&device, &spec, (n / 2) as u64, n / 2)?,
    ) else {
        unreachable!("f64 specs give f64 arrays")
    };
    first.extend(second);
    write_npy(std::path::Path::new("normals.npy"), &[n as u64], &first)?;
    let mean = first.iter().sum::<f64>() / n as f64;
    println!(
        "wrote normals.npy on {}: mean {mean:.5}",
        device.info().spec
    );
    Ok(())
}
