//! `gpucalc pi N`: the Monte Carlo estimate, its error, and how fast it ran.

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use super::output::{si, LazyProgress};
use super::{cancel_token, number, Globals, EXIT_INTERRUPTED, EXIT_VERIFY_FAILED};
use crate::control::RunControl;
use crate::device::{Device, DeviceSpec};
use crate::workloads::pi::{pi, pi_with, PiResult};

#[derive(Debug, Args)]
pub(crate) struct PiArgs {
    /// Number of samples: 1000000, 1_000_000, 1e9, 2.5e9 or 2^40 (at most 2^63).
    #[arg(value_parser = number::parse_samples, allow_negative_numbers = true)]
    samples: u64,

    /// Seed of the Philox stream; the same seed gives the same hits on every device.
    #[arg(long, default_value_t = 0, value_parser = number::parse_whole, allow_negative_numbers = true)]
    seed: u64,

    /// Recount the hits on the CPU reference path and compare.
    #[arg(long)]
    verify: bool,
}

/// Whether and how the result was checked against the CPU reference.
fn verification(
    device: &Device,
    result: &PiResult,
    args: &PiArgs,
    globals: &Globals,
) -> Result<&'static str> {
    if device.kind() == crate::BackendKind::Cpu {
        return Ok("reference");
    }
    if !args.verify {
        return Ok("skipped");
    }
    let cpu = Device::select_with(
        &DeviceSpec::Cpu,
        &crate::DeviceOptions {
            threads: globals.threads,
        },
    )?;
    let reference = pi(&cpu, result.samples, result.seed).context("CPU reference run")?;
    Ok(if reference.hits == result.hits {
        "passed"
    } else {
        "failed"
    })
}

pub(crate) fn run(globals: &Globals, args: &PiArgs) -> Result<u8> {
    let device = globals.open_device()?;
    let cancel = cancel_token();

    let progress = LazyProgress::new("samples");
    let report = |done: u64, total: u64| progress.update(done, total);
    let control = RunControl {
        cancel: Some(cancel),
        progress: Some(&report),
    };
    let result = pi_with(&device, args.samples, args.seed, &control)?;
    progress.finish();
    let status = if result.partial {
        "partial"
    } else {
        verification(&device, &result, args, globals)?
    };

    let info = device.info();
    if globals.json {
        let value = json!({
            "workload": "pi",
            "device": info,
            "samples": result.samples,
            "requested": result.requested,
            "hits": result.hits,
            "seed": result.seed,
            "estimate": result.estimate,
            "std_error": result.std_error,
            "abs_error": result.abs_error,
            "wall_time_s": result.elapsed.as_secs_f64(),
            "samples_per_second": result.samples_per_second,
            "partial": result.partial,
            "verification": status,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        if result.partial {
            outln!(
                "PARTIAL: interrupted after {} of {} samples",
                result.samples,
                result.requested
            );
        }
        let workers = info
            .threads
            .map(|t| format!(", {t} thread{}", if t == 1 { "" } else { "s" }))
            .unwrap_or_default();
        outln!(
            "estimate     {:.10} ± {:.10} (1 std. error)",
            result.estimate,
            result.std_error
        );
        outln!("abs. error   {:.10}", result.abs_error);
        outln!("hits         {} of {} samples", result.hits, result.samples);
        outln!("seed         {}", result.seed);
        outln!("device       {} ({}{workers})", info.spec, info.name);
        outln!("wall time    {:.3} s", result.elapsed.as_secs_f64());
        outln!("throughput   {}samples/s", si(result.samples_per_second));
        outln!("verification {status}");
    }
    Ok(match status {
        "partial" => EXIT_INTERRUPTED,
        "failed" => EXIT_VERIFY_FAILED,
        _ => 0,
    })
}
