//! `gpucalc stream`: BabelStream's memory-bandwidth kernels, as a table, CSV or JSON.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::{number, Globals, EXIT_VERIFY_FAILED};
use crate::dtype::Float;
use crate::workloads::stream::{
    default_array_size, stream, CSV_HEADER, DEFAULT_NUM_TIMES, MAX_NUM_TIMES,
};

#[derive(Debug, Args)]
pub(crate) struct StreamArgs {
    /// Elements per array [default: BabelStream's 2^25, or more so that each
    /// array is at least 4 times the device's last-level cache].
    #[arg(short = 's', long = "arraysize", value_parser = number::parse_count, allow_negative_numbers = true)]
    array_size: Option<u64>,

    /// Iterations, 2 to 1000000; the first is not counted.
    #[arg(short = 'n', long = "numtimes", value_parser = parse_num_times, default_value_t = DEFAULT_NUM_TIMES as u64, allow_negative_numbers = true)]
    num_times: u64,

    /// Use f32 instead of the default f64 (BabelStream's flag; `--dtype f32` says the same).
    #[arg(long)]
    float: bool,

    /// Element type, f32 or f64 [default: f64], as the other commands take it.
    #[arg(long, value_parser = parse_float, conflicts_with = "float")]
    dtype: Option<Float>,

    /// Print BabelStream's CSV instead of the table.
    #[arg(long)]
    csv: bool,
}

fn parse_num_times(text: &str) -> Result<u64, String> {
    number::parse_in_range(text, 2, MAX_NUM_TIMES as u64, "1000000")
}

fn parse_float(s: &str) -> Result<Float, String> {
    s.parse().map_err(|e: crate::Error| e.to_string())
}

pub(crate) fn run(globals: &Globals, args: &StreamArgs) -> Result<u8> {
    if globals.json && args.csv {
        usage_bail!("--csv and --json each print the whole result: give one of them");
    }
    let float = match (args.float, args.dtype) {
        (true, _) => Float::F32,
        (false, dtype) => dtype.unwrap_or(Float::F64),
    };
    let num_times = usize::try_from(args.num_times)?;
    let device = globals.open_device()?;
    let default = default_array_size(device.info(), float);
    let array_size = match args.array_size {
        Some(size) => usize::try_from(size)?,
        None => default,
    };
    // Only where the default would do better (it is held to a quarter of
    // the device's memory, and may be cache-sized itself).
    if let Some(cache) = device.info().cache_bytes.filter(|_| array_size < default) {
        let bytes = (array_size as u64).saturating_mul(float.size() as u64);
        if bytes < 4 * cache {
            // STREAM's rule: each array at least four times the last-level cache.
            eprintln!(
                "gpucalc: note: each array ({}) is under 4x the last-level cache ({}), so this \
                 measures the cache as much as memory; leave out -s for {} elements",
                crate::human_bytes(bytes),
                crate::human_bytes(cache),
                default
            );
        }
    }
    let result = stream(&device, float, array_size, num_times)?;
    let info = device.info();
    if globals.json {
        let value = json!({
            "workload": "stream",
            "device": info,
            "result": result,
            "verification": if result.verified { "passed" } else { "failed" },
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
    } else if args.csv {
        outln!("{CSV_HEADER}");
        for row in result.csv_rows() {
            outln!("{row}");
        }
    } else {
        let mib = (array_size * float.size()) as f64 / (1 << 20) as f64;
        outln!("device       {} ({})", info.spec, info.name);
        outln!("precision    {float}, {array_size} elements per array ({mib:.1} MiB each), {num_times} iterations");
        outln!(
            "{:<10}{:>14}{:>12}{:>12}{:>12}",
            "Function",
            "MBytes/sec",
            "Min (sec)",
            "Max",
            "Average"
        );
        for k in result.kernels.iter().chain([&result.init]) {
            outln!(
                "{:<10}{:>14.3}{:>12.5}{:>12.5}{:>12.5}",
                k.kernel.name(),
                k.bandwidth * 1e-6,
                k.min_s,
                k.max_s,
                k.avg_s
            );
        }
        outln!(
            "verification {} (max rel. error {:.2e} <= {:.2e}; dot {:.2e} <= {:.2e})",
            if result.verified { "passed" } else { "FAILED" },
            result.max_rel_error,
            result.rel_error_bound,
            result.dot_rel_error,
            result.dot_rel_error_bound
        );
    }
    if !result.verified {
        eprintln!("gpucalc: error: stream results failed verification against the scalar replay");
        return Ok(EXIT_VERIFY_FAILED);
    }
    Ok(0)
}
