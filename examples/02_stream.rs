//! Memory bandwidth of a device, BabelStream style, with every element verified.
//!
//! Run: `cargo run --release --example 02_stream -- cpu` (or `opencl`, `cuda`;
//! an array size may follow, `-- cpu 2^27`: 2^25 elements an array if not).

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
    let elements = match std::env::args().nth(2) {
        Some(text) => {
            gpucalc::parse_count(&text).map_err(|e| format!("the array size `{text}`: {e}"))?
        }
        None => 1 << 25,
    };
    let device = Device::select(&spec)?;
    let result = stream(&device, Float::F64, usize::try_from(elements)?, 20)?;
    println!("{} ({}):", device.info().spec, device.info().name);
    for k in &result.kernels {
        println!("  {:<6} {:>8.1} GB/s", k.kernel.name(), k.bandwidth * 1e-9);
    }
    println!("verified: {}", result.verified);
    Ok(())
}
