//! `gpucalc pi N`: the Monte Carlo estimate, its error, and how fast it ran,
//! on one device or (`--device all`) on every device at once.

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use super::output::{si, LazyProgress};
use super::{cancel_token, number, Globals, EXIT_INTERRUPTED, EXIT_VERIFY_FAILED};
use crate::control::RunControl;
use crate::device::{Device, DeviceSpec, DeviceType};
use crate::workloads::pi::{pi, pi_on, PiResult};
use crate::BackendKind;

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
    devices: &[Device],
    result: &PiResult,
    args: &PiArgs,
    globals: &Globals,
) -> Result<&'static str> {
    if devices.iter().all(|d| d.kind() == BackendKind::Cpu) {
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

/// The devices of a run on several: OpenCL CPU devices (PoCL, say) are the
/// same cores as the CPU device, and two pools of threads on the same cores
/// only slow each other down, so they are left out when the CPU device is in.
fn farm_devices(devices: Vec<Device>) -> Vec<Device> {
    if devices.len() < 2 || !devices.iter().any(|d| d.kind() == BackendKind::Cpu) {
        return devices;
    }
    devices
        .into_iter()
        .filter(|d| {
            let info = d.info();
            let same_cores =
                info.backend != BackendKind::Cpu && info.device_type == DeviceType::Cpu;
            if same_cores {
                eprintln!(
                    "gpucalc: note: skipping {} ({}): an OpenCL device on the same cores as `cpu`",
                    info.spec, info.name
                );
            }
            !same_cores
        })
        .collect()
}

pub(crate) fn run(globals: &Globals, args: &PiArgs) -> Result<u8> {
    let devices = farm_devices(globals.open_devices()?);
    if devices.is_empty() {
        anyhow::bail!("--device all: no device opened");
    }
    let cancel = cancel_token();

    let progress = LazyProgress::new("samples");
    let report = |done: u64, total: u64| progress.update(done, total);
    let control = RunControl {
        cancel: Some(cancel),
        progress: Some(&report),
    };
    let result = pi_on(&devices, args.samples, args.seed, &control)?;
    progress.finish();
    let status = if result.partial {
        "partial"
    } else {
        verification(&devices, &result, args, globals)?
    };

    let info = devices[0].info();
    if globals.json {
        let mut value = json!({
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
            "shares": result.shares,
        });
        if devices.len() > 1 {
            // Every device's description.
            value["device"] = json!(devices.iter().map(Device::info).collect::<Vec<_>>());
        }
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
        if devices.len() == 1 {
            outln!("device       {} ({}{workers})", info.spec, info.name);
        } else {
            print_shares(&result)?;
        }
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

/// One line per device of a run on several: its part of the samples and its
/// own rate while it worked.
fn print_shares(result: &PiResult) -> Result<()> {
    outln!(
        "devices      {} at once, each pulling chunks of samples:",
        result.shares.len()
    );
    let width = result
        .shares
        .iter()
        .map(|s| s.device.len())
        .max()
        .unwrap_or(0);
    for share in &result.shares {
        let part = 100.0 * share.samples as f64 / result.samples.max(1) as f64;
        let detail = if share.chunks == 0 {
            "idle: the others took every chunk".to_string()
        } else {
            let rate = share.samples as f64 / share.busy.as_secs_f64().max(1e-9);
            format!(
                "{} samples in {} chunk{}, {}samples/s while busy",
                share.samples,
                share.chunks,
                if share.chunks == 1 { "" } else { "s" },
                si(rate)
            )
        };
        outln!(
            "  {:<width$} {:>6.1}%  {detail}  ({})",
            share.device,
            part,
            share.name
        );
    }
    Ok(())
}
