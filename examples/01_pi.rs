//! Estimate pi on the best device this build can see, then check it on the CPU.
//!
//! Run: `cargo run --release --example 01_pi -- 1e9` (add `--features cuda` or
//! `--features opencl` to let `auto` pick a GPU).

use gpucalc::{pi, Device, DeviceSpec};

mod common;

fn main() -> std::process::ExitCode {
    common::exit_code(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let samples = match std::env::args().nth(1) {
        Some(text) => {
            gpucalc::parse_count(&text).map_err(|e| format!("the sample count `{text}`: {e}"))?
        }
        None => 100_000_000,
    };
    let seed = 2026;

    let device = Device::select(&DeviceSpec::Auto)?;
    let result = pi(&device, samples, seed)?;
    println!(
        "{}: pi ≈ {:.8} ± {:.8} from {} samples in {:.3} s ({:.3e} samples/s)",
        device.info().name,
        result.estimate,
        result.std_error,
        result.samples,
        result.elapsed.as_secs_f64(),
        result.samples_per_second
    );

    // Counter-based random numbers: the CPU draws exactly the same samples.
    if device.kind() != gpucalc::BackendKind::Cpu {
        let cpu = Device::select(&DeviceSpec::Cpu)?;
        let check = pi(&cpu, samples, seed)?;
        assert_eq!(check.hits, result.hits, "backends disagree");
        println!("CPU reference agrees: {} hits", check.hits);
    }
    Ok(())
}
