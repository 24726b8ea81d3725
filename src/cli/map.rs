//! `gpucalc map FUNC`: an elementwise function over a generated or loaded array.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use serde_json::json;

use super::output::{check_npy_output, require_npy, si, verification_word, Saved};
use super::{number, Globals, EXIT_VERIFY_FAILED};
use crate::backend::cpu::host_vec_from;
use crate::dtype::{Float, FloatVec};
use crate::npy::write_npy_float;
use crate::workloads::map::{map_floats, MapFn};
use crate::workloads::rng::{rng_generate, Dist, RngSpec, RngType, RngVec};

/// How to make the input when no file is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Generate {
    /// 0, 1, 2, ..., N-1 (the seeds' `range(N)`).
    Range,
    /// Uniform on [0, 1) from the Philox stream for `--seed`.
    Uniform,
}

#[derive(Debug, Args)]
pub(crate) struct MapArgs {
    /// The function: sqrt, exp, log, sin, cos, abs, square or reciprocal.
    #[arg(value_parser = parse_fn)]
    function: MapFn,

    /// Number of generated elements (not with --input).
    #[arg(value_parser = number::parse_count, allow_negative_numbers = true)]
    count: Option<u64>,

    /// Read the input array from this .npy file (float32 or float64, any shape; `-`: standard input).
    #[arg(long, conflicts_with = "count")]
    input: Option<PathBuf>,

    /// Generated input: range (0..N) or uniform (seeded).
    #[arg(
        long = "gen",
        value_enum,
        ignore_case = true,
        default_value = "range",
        conflicts_with = "input"
    )]
    generate: Generate,

    /// Seed for `--gen uniform` [default: 0].
    #[arg(long, value_parser = number::parse_whole, conflicts_with = "input", allow_negative_numbers = true)]
    seed: Option<u64>,

    /// Element type of generated input: f32 or f64 [default: f64].
    #[arg(long, value_parser = parse_float)]
    dtype: Option<Float>,

    /// Write the result to this .npy file (same shape as the input).
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,

    /// Skip the check against the CPU path.
    #[arg(long)]
    no_verify: bool,
}

fn parse_fn(s: &str) -> Result<MapFn, String> {
    s.parse().map_err(|e: crate::Error| e.to_string())
}

fn parse_float(s: &str) -> Result<Float, String> {
    s.parse().map_err(|e: crate::Error| e.to_string())
}

/// The input array and its shape.
fn input(args: &MapArgs) -> Result<(Vec<u64>, FloatVec)> {
    if let Some(path) = &args.input {
        let (shape, data) = super::output::read_float_input(path)?;
        if let Some(dtype) = args.dtype.filter(|&d| d != data.float()) {
            usage_bail!(
                "{} holds {}, not {dtype}; drop --dtype or convert the file",
                super::output::input_name(path),
                data.float()
            );
        }
        return Ok((shape, data));
    }
    let Some(n) = args.count else {
        usage_bail!("give a number of elements (e.g. `map sqrt 1e8`) or --input FILE.npy");
    };
    if args.seed.is_some() && args.generate == Generate::Range {
        usage_bail!("--seed seeds `--gen uniform`; 0, 1, 2, ... (`--gen range`) take none");
    }
    let float = args.dtype.unwrap_or_default();
    crate::backend::cpu::check_host_fits(
        &format!("map (an input and an output of {n} {float} elements)"),
        n.saturating_mul(2 * float.size() as u64),
    )?;
    let n = usize::try_from(n)?;
    let data = match (args.generate, float) {
        (Generate::Range, Float::F32) => {
            FloatVec::F32(host_vec_from(n, "map's input", |i| i as f32)?)
        }
        (Generate::Range, Float::F64) => {
            FloatVec::F64(host_vec_from(n, "map's input", |i| i as f64)?)
        }
        (Generate::Uniform, _) => {
            let dtype = if float == Float::F32 {
                RngType::F32
            } else {
                RngType::F64
            };
            let cpu = crate::Device::select(&crate::DeviceSpec::Cpu)?;
            match rng_generate(
                &cpu,
                &RngSpec::new(Dist::Uniform, dtype, args.seed.unwrap_or(0))?,
                0,
                n,
            )? {
                RngVec::F32(v) => FloatVec::F32(v),
                RngVec::F64(v) => FloatVec::F64(v),
                RngVec::U32(_) => bail!("uniform generation gave integers"),
            }
        }
    };
    Ok((vec![n as u64], data))
}

pub(crate) fn run(globals: &Globals, args: &MapArgs) -> Result<u8> {
    require_npy(args.output.as_deref())?;
    let (shape, data) = input(args)?;
    check_npy_output(args.output.as_deref(), data.len(), data.float())?;
    let device = globals.open_device()?;
    // Checked against the host memory left with the input in it, and
    // allocated fallibly: a limit on the process's address space ends in an
    // error, not an abort.
    let mut out = FloatVec::try_zeros(data.float(), data.len())?;
    let result = map_floats(&device, args.function, &data, &mut out, !args.no_verify)?;
    let saved = Saved::save(args.output.as_deref(), result.verified, |path| {
        Ok(write_npy_float(path, &shape, &out)?)
    })?;
    let (output, output_written) = saved.json();
    let verification = verification_word(result.verified);
    let info = device.info();
    // Bytes and elements per kernel second; none for an empty input, where
    // the kernel time is the overhead of doing nothing, not a rate.
    let rates = (result.elements > 0).then(|| {
        let elements = result.elements as f64 / result.kernel_s.max(1e-12);
        (result.kernel_bandwidth, elements)
    });
    if globals.json {
        let value = json!({
            "workload": "map",
            "device": info,
            "function": result.function,
            "dtype": data.float(),
            "shape": shape,
            "elements": result.elements,
            "bytes": result.bytes,
            "kernel_time_s": rates.map(|_| result.kernel_s),
            "wall_time_s": result.total_s,
            "kernel_bytes_per_second": rates.map(|r| r.0),
            "elements_per_second": rates.map(|r| r.1),
            "max_ulp": result.max_ulp,
            "ulp_bound": result.ulp_bound,
            "verification": verification,
            "output": output,
            "output_written": output_written,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        outln!(
            "function     {} over {} {} elements",
            result.function,
            result.elements,
            data.float()
        );
        outln!("device       {} ({})", info.spec, info.name);
        match rates {
            Some((bandwidth, elements)) => outln!(
                "kernel time  {:.4} s, {}B/s (read + write), {}elements/s",
                result.kernel_s,
                si(bandwidth),
                si(elements)
            ),
            None => outln!("kernel time  none: the input is empty"),
        }
        outln!("wall time    {:.4} s (with transfers)", result.total_s);
        match result.max_ulp {
            Some(_) if rates.is_none() => {
                outln!("verification {verification} (exact: nothing was computed)")
            }
            Some(ulp) => outln!(
                "verification {verification} (max {ulp} ulp from the CPU, bound {})",
                result.ulp_bound
            ),
            None => outln!("verification skipped"),
        }
        if let Some(line) = saved.line() {
            outln!("{line}");
        }
    }
    Ok(if result.verified == Some(false) {
        EXIT_VERIFY_FAILED
    } else {
        0
    })
}
