//! `gpucalc matmul M N K`: C = A·B on seeded random or user-supplied matrices.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;

use super::output::{check_npy_output, is_dash, require_npy, verification_word, Saved};
use super::{number, Globals, EXIT_VERIFY_FAILED};
use crate::device::Device;
use crate::dtype::Float;
use crate::npy::write_npy_float;
use crate::workloads::matmul::{check_fits, matmul_with, MatmulOptions, Matrix, MAX_REPS};

#[derive(Debug, Args)]
pub(crate) struct MatmulArgs {
    /// Rows of A and C (not with --a/--b).
    #[arg(value_parser = number::parse_count, allow_negative_numbers = true)]
    m: Option<u64>,
    /// Columns of B and C.
    #[arg(value_parser = number::parse_count, allow_negative_numbers = true)]
    n: Option<u64>,
    /// Columns of A, rows of B.
    #[arg(value_parser = number::parse_count, allow_negative_numbers = true)]
    k: Option<u64>,

    /// Element type of the random matrices: f32 or f64 [default: f64].
    #[arg(long, value_parser = parse_float)]
    dtype: Option<Float>,

    /// Seed of the random matrices (A uses it, B uses seed + 1).
    #[arg(long, default_value_t = 0, value_parser = number::parse_whole, allow_negative_numbers = true)]
    seed: u64,

    /// Left matrix from a 2-D .npy file (C order, float32 or float64; `-`: standard input).
    #[arg(long, requires = "b", conflicts_with_all = ["m", "n", "k", "seed"])]
    a: Option<PathBuf>,

    /// Right matrix from a 2-D .npy file (`-`: standard input).
    #[arg(long, requires = "a")]
    b: Option<PathBuf>,

    /// Write C to this .npy file.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,

    /// Timed runs after one warm-up run; the fastest gives GFLOP/s.
    #[arg(long, default_value_t = 3, value_parser = parse_reps, allow_negative_numbers = true)]
    reps: u64,

    /// Skip the check against the f64 reference.
    #[arg(long)]
    no_verify: bool,

    /// CUDA: run this kernel (e.g. gc_gemm_f64_l, as the `kernel` line names
    /// them) instead of timing every kernel that can take the product and
    /// keeping the fastest.
    #[arg(long, value_name = "NAME")]
    kernel: Option<String>,
}

fn parse_reps(text: &str) -> Result<u64, String> {
    number::parse_in_range(text, 1, MAX_REPS as u64, "100000")
}

fn parse_float(s: &str) -> Result<Float, String> {
    s.parse().map_err(|e: crate::Error| e.to_string())
}

fn load(path: &std::path::Path) -> Result<Matrix> {
    let (shape, data) = super::output::read_float_input(path)?;
    let [rows, cols] = shape[..] else {
        bail!(
            "{}: a matrix must be 2-D, this array has shape {shape:?}",
            super::output::input_name(path)
        );
    };
    Ok(Matrix::new(
        usize::try_from(rows)?,
        usize::try_from(cols)?,
        data,
    )?)
}

/// A and B: read from the user's files, or generated once the product is
/// known to fit in host memory and on `device`.
fn inputs(args: &MatmulArgs, device: &Device) -> Result<(Matrix, Matrix)> {
    if let (Some(a), Some(b)) = (&args.a, &args.b) {
        if is_dash(a) && is_dash(b) {
            usage_bail!("--a and --b cannot both be `-`: standard input holds one file");
        }
        let (a, b) = (load(a)?, load(b)?);
        if let Some(dtype) = args.dtype.filter(|&d| d != a.data.float()) {
            usage_bail!("the matrices are {}, not {dtype}", a.data.float());
        }
        return Ok((a, b));
    }
    let (Some(m), Some(n), Some(k)) = (args.m, args.n, args.k) else {
        usage_bail!("give the sizes M N K (e.g. `matmul 2048 2048 2048`) or --a A.npy --b B.npy");
    };
    let float = args.dtype.unwrap_or_default();
    let (m, n, k) = (
        usize::try_from(m)?,
        usize::try_from(n)?,
        usize::try_from(k)?,
    );
    check_fits(device, (m, n, k), float, !args.no_verify)?;
    Ok((
        Matrix::random(m, k, float, args.seed)?,
        Matrix::random(k, n, float, args.seed.wrapping_add(1))?,
    ))
}

pub(crate) fn run(globals: &Globals, args: &MatmulArgs) -> Result<u8> {
    require_npy(args.output.as_deref())?;
    let device = globals.open_device()?;
    let (a, b) = inputs(args, &device)?;
    check_npy_output(
        args.output.as_deref(),
        a.rows.saturating_mul(b.cols),
        a.data.float(),
    )?;
    let mut options = MatmulOptions::new(usize::try_from(args.reps)?).verify(!args.no_verify);
    if let Some(kernel) = &args.kernel {
        options = options.kernel(kernel.as_str());
    }
    let (c, result) = matmul_with(&device, &a, &b, &options)?;
    let saved = Saved::save(args.output.as_deref(), result.verified, |path| {
        Ok(write_npy_float(
            path,
            &[c.rows as u64, c.cols as u64],
            &c.data,
        )?)
    })?;
    let (output, output_written) = saved.json();
    // A product with a dimension of 0 runs nothing: C is exact by construction.
    let ran = !result.times_s.is_empty();
    let verification = match result.check {
        Some(c) if c.checked == 0 && ran => "not possible",
        _ => verification_word(result.verified),
    };
    let info = device.info();
    let fastest = ran.then(|| result.times_s.iter().copied().fold(f64::INFINITY, f64::min));
    if globals.json {
        let value = json!({
            "workload": "matmul",
            "device": info,
            "m": result.m, "n": result.n, "k": result.k,
            "dtype": result.float,
            "kernel": result.kernel,
            "tried": result.tried,
            "times_s": result.times_s,
            "min_time_s": fastest,
            "gflops": ran.then_some(result.flops * 1e-9),
            "worst_error_ratio": result.worst_error_ratio,
            "verification": verification,
            "checks": result.check.map(|c| json!({"checked": c.checked, "unchecked": c.unchecked})),
            "output": output,
            "output_written": output_written,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        outln!(
            "product      C = A·B, {}x{} by {}x{}, {}",
            result.m,
            result.k,
            result.k,
            result.n,
            result.float
        );
        outln!("device       {} ({})", info.spec, info.name);
        outln!("kernel       {}", result.kernel);
        if !result.tried.is_empty() {
            // The measured choice: each candidate's timed run, fastest first.
            let tried: Vec<String> = result
                .tried
                .iter()
                .map(|t| format!("{} {:.3} ms", t.kernel, t.seconds * 1e3))
                .collect();
            outln!("tried        {}", tried.join(", "));
        }
        match fastest {
            Some(fastest) => {
                outln!(
                    "time         {:.4} s fastest of {} runs",
                    fastest,
                    result.times_s.len()
                );
                outln!("throughput   {:.1} GFLOP/s", result.flops * 1e-9);
            }
            None => outln!("time         none: there is no arithmetic to do"),
        }
        // Blocks and samples with a NaN or infinity in their inputs, or sums
        // that could overflow, have no bound to check against.
        let why = format!(
            "their inputs hold a NaN or infinity, or their sums could overflow {}",
            result.float
        );
        match result.check {
            None => outln!("verification skipped"),
            Some(_) if !ran => outln!("verification {verification} (exact: nothing was computed)"),
            Some(c) if c.checked == 0 => {
                outln!("verification not possible: no element of C can be checked, {why}")
            }
            Some(c) => {
                let left_out = if c.unchecked > 0 {
                    format!(
                        "; {} of {} elements left out: {why}",
                        c.unchecked,
                        c.checked + c.unchecked
                    )
                } else {
                    String::new()
                };
                outln!(
                    "verification {verification} (worst error {:.2e} of its bound{left_out})",
                    c.worst_error_ratio
                );
            }
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
