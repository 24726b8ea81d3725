//! `gpucalc rng N`: random numbers to a `.npy` file, to stdout as raw bytes, or
//! nowhere (to measure the generator).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::output::{is_dash, not_written, si, verification_word, LazyProgress, FAILED_CHECK};
use super::{cancel_token, number, Globals, EXIT_INTERRUPTED, EXIT_VERIFY_FAILED};
use crate::control::RunControl;
use crate::error::human_bytes;
use crate::workloads::rng::{Dist, RngSpec, RngType, NORMAL_ULP_BOUND};
use crate::workloads::rng_out::{rng_write, RngSink};

#[derive(Debug, Args)]
pub(crate) struct RngArgs {
    /// Number of elements: 1000000, 1e9, 2^30, ...
    #[arg(value_parser = number::parse_count, allow_negative_numbers = true)]
    count: u64,

    /// Distribution: uniform on [0, 1), normal (Box–Muller) or raw Philox words.
    #[arg(long, default_value = "uniform", value_parser = parse_dist)]
    dist: Dist,

    /// Element type: f32, f64 or u32 [default: f64, or u32 for raw].
    #[arg(long, value_parser = parse_dtype)]
    dtype: Option<RngType>,

    /// Seed of the Philox stream.
    #[arg(long, default_value_t = 0, value_parser = number::parse_whole, allow_negative_numbers = true)]
    seed: u64,

    /// Start at element K of the sequence, not word K (pieces with different
    /// offsets concatenate): element k of raw and f32 uniform is stream word
    /// k, of f64 uniform words 2k and 2k+1.
    #[arg(long, default_value_t = 0, value_parser = number::parse_whole, allow_negative_numbers = true)]
    offset: u64,

    /// Output: a .npy file, or `-` for raw little-endian bytes on stdout.
    /// Without it the numbers are generated and discarded (a measurement).
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,

    /// Skip comparing a sample of every chunk (its first and last 256 elements
    /// and 256 spread through it) with the CPU reference.
    #[arg(long)]
    no_verify: bool,
}

fn parse_dist(s: &str) -> Result<Dist, String> {
    s.parse().map_err(|e: crate::Error| e.to_string())
}

fn parse_dtype(s: &str) -> Result<RngType, String> {
    s.parse().map_err(|e: crate::Error| e.to_string())
}

pub(crate) fn run(globals: &Globals, args: &RngArgs) -> Result<u8> {
    let dtype = args
        .dtype
        .unwrap_or_else(|| RngSpec::default_dtype(args.dist));
    let spec = RngSpec::new(args.dist, dtype, args.seed)?;
    let to_stdout = args.output.as_deref().is_some_and(is_dash);
    if to_stdout && globals.json {
        usage_bail!("-o - writes the numbers to stdout, so --json cannot go there too");
    }
    if to_stdout && std::io::stdout().is_terminal() {
        usage_bail!("-o - writes binary data: pipe it into a program or redirect it to a file");
    }
    if let Some(path) = args.output.as_deref().filter(|_| !to_stdout) {
        if path
            .extension()
            .is_none_or(|e| !e.eq_ignore_ascii_case("npy"))
        {
            usage_bail!(
                "{}: the output file must end in .npy (or use -o - for raw bytes)",
                path.display()
            );
        }
    }
    let device = globals.open_device()?;
    let cancel = cancel_token();
    let progress = LazyProgress::new("elements");
    let report = |done: u64, total: u64| progress.update(done, total);
    let control = RunControl {
        cancel: Some(cancel),
        progress: Some(&report),
    };
    let mut stdout = std::io::stdout().lock();
    let sink = match &args.output {
        Some(_) if to_stdout => RngSink::Bytes(&mut stdout),
        Some(path) => RngSink::Npy(path),
        None => RngSink::Discard,
    };
    let result = rng_write(
        &device,
        &spec,
        (args.offset, args.count),
        sink,
        !args.no_verify,
        &control,
    )?;
    progress.finish();
    let verification = verification_word(result.verified());
    let mismatch = result.first_mismatch.map(|index| {
        format!(
            "element {index} differs from the CPU reference (of {} checked)",
            result.checked
        )
    });
    // Partial without a cancel: the reader of `-o -` went away, which ends a
    // stream normally (`| head -c 100`).
    let code = if result.verified() == Some(false) {
        EXIT_VERIFY_FAILED
    } else if result.partial && control.cancelled() {
        EXIT_INTERRUPTED
    } else {
        0
    };
    if to_stdout {
        // Standard output holds the numbers, so no report; but a stream cut
        // short says so, and how much of it was sent.
        if let Some(mismatch) = &mismatch {
            eprintln!("gpucalc: verification failed: {mismatch}");
        }
        if code == EXIT_INTERRUPTED {
            eprintln!(
                "gpucalc: interrupted: standard output has the first {} of {} elements",
                result.elements, result.requested
            );
        }
        return Ok(code);
    }
    let info = device.info();
    let output = args.output.as_ref().map(|p| p.display().to_string());
    let generate_rate = result.bytes as f64 / result.generate_s.max(1e-9);
    if globals.json {
        let value = json!({
            "workload": "rng",
            "device": info,
            "dist": spec.dist,
            "dtype": spec.dtype,
            "seed": spec.seed,
            "offset": args.offset,
            "output": output,
            "output_written": result.written,
            "elements": result.elements,
            "requested": result.requested,
            "bytes": result.bytes,
            "wall_time_s": result.elapsed.as_secs_f64(),
            "generate_time_s": result.generate_s,
            "generate_bytes_per_second": generate_rate,
            "elements_per_second": result.elements as f64 / result.generate_s.max(1e-9),
            "mean": result.mean,
            "std_dev": result.std_dev,
            "min": result.min,
            "max": result.max,
            "partial": result.partial,
            "verification": verification,
            "checked": result.checked,
            "first_mismatch": result.first_mismatch,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let failed = result.verified() == Some(false);
        if result.partial {
            outln!(
                "{} after {} of {} elements",
                if failed {
                    "STOPPED at the first chunk that failed verification"
                } else {
                    "PARTIAL: interrupted"
                },
                result.elements,
                result.requested
            );
        }
        outln!(
            "generated    {} {} {} elements ({}), seed {}, offset {}",
            result.elements,
            spec.dist,
            spec.dtype,
            human_bytes(result.bytes),
            spec.seed,
            args.offset
        );
        outln!("device       {} ({})", info.spec, info.name);
        match (&output, result.written) {
            (None, _) => outln!("output       none (generated and discarded)"),
            (Some(path), true) => outln!("output       {path}"),
            (Some(path), false) => outln!(
                "{}",
                not_written(path, if failed { FAILED_CHECK } else { "interrupted" })
            ),
        }
        if result.elements > 0 {
            // min and max exactly, in the shortest digits of their own type
            // (a uniform max prints below 1).
            let exact = |x: f64| match dtype {
                RngType::F32 => (x as f32).to_string(),
                RngType::F64 | RngType::U32 => x.to_string(),
            };
            outln!(
                "moments      mean {:.6}, std. dev. {:.6}, min {}, max {}",
                result.mean,
                result.std_dev,
                exact(result.min),
                exact(result.max)
            );
        }
        outln!("wall time    {:.3} s", result.elapsed.as_secs_f64());
        outln!(
            "generation   {:.3} s, {}B/s, {}elements/s",
            result.generate_s,
            si(generate_rate),
            si(result.elements as f64 / result.generate_s.max(1e-9))
        );
        match (&mismatch, result.checked) {
            (Some(mismatch), _) => outln!("verification failed: {mismatch}"),
            (None, 0) => outln!("verification skipped"),
            (None, checked) => outln!(
                "verification passed ({checked} sampled elements {} the CPU reference)",
                if spec.dist == Dist::Normal {
                    format!("within {NORMAL_ULP_BOUND}·ε·max(|x|, 1) of")
                } else {
                    "bit for bit equal to".to_string()
                }
            ),
        }
    }
    Ok(code)
}
