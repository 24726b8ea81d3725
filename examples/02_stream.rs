//! Memory bandwidth of a device, BabelStream style, with every element verified.
//!
//! Run: `cargo run --release --example 02_stream -- cpu` (or `opencl`, `cuda`).

use gpucalc::{stream, Device, DeviceSpec, Float};

mod common;

fn main() -> std::process::ExitCode {
    common::exit_code(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let spec: DeviceSpec = std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("auto")
        .parse()?;
    let device = Device::select(&spec)?;
    let result = stream(&device, Float::F64, 1 << 25, 20)?;
    println!("{} ({}):", device.info().spec, device.info().name);
    for k in &result.kernels {
        println!("  {:<6} {:>8.1} GB/s", k.kernel.name(), k.bandwidth * 1e-9);
    }
    println!("verified: {}", result.verified);
    Ok(())
}
