//! `gpucalc bench`: the benchmark suite, as a live table, JSON and CSV files,
//! and a comparison against a baseline file.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;

use super::output::{is_dash, si, table};
use super::{Globals, EXIT_VERIFY_FAILED};
use crate::atomic_file::is_standard_stream;
use crate::bench::{
    check_writable, compare, read_report, registry, run_suite, write_csv, write_json, Metadata,
    Report, ResultRow, Status, SuiteOptions, Verdict, SCHEMA_VERSION,
};
use crate::device::list_devices;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Small sizes and short budgets: the whole suite in a minute or two.
    #[arg(long, conflicts_with = "full")]
    quick: bool,

    /// Longer budgets per row, for figures to publish.
    #[arg(long)]
    full: bool,

    /// Only these workloads, comma-separated: pi, stream, rng, map, transfer, matmul.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,

    /// Start no new measurement after this many seconds (the first row always
    /// runs); rows not measured by then are reported as skipped (a stream
    /// run already done still reports all its kernels).
    #[arg(long, value_parser = parse_seconds, allow_negative_numbers = true)]
    max_time: Option<Duration>,

    /// Write the results as JSON to this file (whole or not at all).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Write the results as CSV to this file.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,

    /// Compare with a baseline result file (gpucalc's, or a peer script's).
    #[arg(long, value_name = "BASELINE")]
    compare: Option<PathBuf>,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 1e15 => Err(format!(
            "`{text}` seconds is too long (at most 1e15, some 30 million years)"
        )),
        Ok(s) => match Duration::try_from_secs_f64(s) {
            Ok(d) if !d.is_zero() => Ok(d),
            _ => Err(format!("`{text}` is not a positive number of seconds")),
        },
        Err(_) => Err(format!("`{text}` is not a number of seconds")),
    }
}

fn fmt_opt(value: Option<f64>, f: impl Fn(f64) -> String) -> String {
    value.map_or_else(|| "-".to_string(), f)
}

fn table_row(r: &ResultRow) -> Vec<String> {
    let unit = r.unit.trim_end_matches("/s");
    vec![
        r.workload.clone(),
        r.variant.clone(),
        r.device.clone(),
        r.size.to_string(),
        r.iterations.to_string(),
        fmt_opt(r.min_s, |s| format!("{:.3} ms", s * 1e3)),
        fmt_opt(r.median_s, |s| format!("{:.3} ms", s * 1e3)),
        fmt_opt(r.throughput, |t| format!("{}{unit}/s", si(t))),
        fmt_opt(r.limit, |l| format!("{}{unit}/s", si(l))),
        fmt_opt(r.fraction, |f| format!("{:.0}%", f * 100.0)),
        match (&r.reason, &r.kernel) {
            // One line a row: a reason's further lines (an OpenCL build
            // log) are in the JSON and CSV files.
            (Some(reason), _) => {
                let mut lines = reason.lines();
                let first = lines
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches([':', ';', ' ']);
                let more = if lines.next().is_some() {
                    "; more in --json/--csv"
                } else {
                    ""
                };
                format!("{} ({first}{more})", status_name(r.status))
            }
            // The kernel without its tiles (the JSON has them).
            (None, Some(kernel)) => format!(
                "{} ({})",
                status_name(r.status),
                kernel.split(" (").next().unwrap_or(kernel)
            ),
            (None, None) => status_name(r.status).to_string(),
        },
    ]
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::VerificationFailed => "VERIFICATION FAILED",
        Status::Unsupported => "unsupported",
        Status::Skipped => "skipped",
        Status::Error => "error",
    }
}

const HEADER: [&str; 11] = [
    "WORKLOAD",
    "VARIANT",
    "DEVICE",
    "SIZE",
    "ITERS",
    "MIN",
    "MEDIAN",
    "THROUGHPUT",
    "LIMIT",
    "FRACTION",
    "STATUS",
];
/// Column widths of the live table (rows print as they finish, so widths are fixed).
const WIDTHS: [usize; 10] = [9, 13, 9, 10, 5, 11, 11, 18, 18, 8];

fn fixed(cells: &[String]) -> String {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        match WIDTHS.get(i) {
            Some(&w) => line.push_str(&format!("{cell:<w$}  ")),
            None => line.push_str(cell),
        }
    }
    line.trim_end().to_string()
}

pub(crate) fn run(globals: &Globals, args: &BenchArgs) -> Result<u8> {
    let known: Vec<&str> = {
        let mut names: Vec<&str> = registry().iter().map(|r| r.workload).collect();
        names.dedup();
        names
    };
    // Names in any case, as every other name gpucalc takes.
    let only: Vec<String> = args.only.iter().map(|o| o.to_ascii_lowercase()).collect();
    if let Some(bad) = args
        .only
        .iter()
        .zip(&only)
        .find_map(|(given, o)| (!known.contains(&o.as_str())).then_some(given))
    {
        usage_bail!(
            "--only: unknown workload `{bad}`; expected some of {}",
            known.join(", ")
        );
    }
    // `-` is not a file here, and neither is `/dev/stdout`: say where the
    // report goes instead of writing `./-` or replacing what stdout is.
    let dash = |p: &Option<PathBuf>| p.as_deref().is_some_and(is_dash);
    let stream = |p: &Option<PathBuf>| {
        p.as_deref()
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|target| is_standard_stream(&target))
    };
    if dash(&args.json) || dash(&args.csv) || stream(&args.json) || stream(&args.csv) {
        usage_bail!(
            "bench --json and --csv name result files, not standard output or error; for \
             the JSON report on standard output put --json before bench: `gpucalc --json bench`"
        );
    }
    if dash(&args.compare) {
        usage_bail!("--compare names a result file (gpucalc's or a peer script's), not `-`");
    }
    let baseline = args.compare.as_deref().map(read_report).transpose()?;
    if let (Some(json), Some(csv)) = (&args.json, &args.csv) {
        if crate::atomic_file::same_landing(json, csv) {
            usage_bail!(
                "--json {} and --csv {} name the same file: one would replace the other",
                json.display(),
                csv.display()
            );
        }
    }
    // A typo in an output path should not cost a whole run.
    for path in [&args.json, &args.csv].into_iter().flatten() {
        check_writable(path)?;
    }
    let devices = globals.open_devices()?;
    if devices.is_empty() {
        bail!("no device could be opened");
    }
    let options = SuiteOptions {
        quick: args.quick,
        full: args.full,
        only,
        max_time: args.max_time,
    };
    let infos: Vec<_> = devices.iter().map(|d| d.info().clone()).collect();
    let metadata = Metadata::collect(&list_devices().devices);
    let live = !globals.json;
    let progress = std::io::stderr().is_terminal();
    if live {
        for info in &infos {
            outln!("device {}: {}", info.spec, info.name);
        }
    }
    let mut printed_header = false;
    // The live table's first failed write (stdout closed or full): the suite
    // runs on and its files are written; the error is returned after them.
    let mut live_error = None;
    let rows = run_suite(&devices, &options, |row, done, total| {
        if progress {
            eprint!(
                "\r\x1b[K[{done}/{total}] {} {} on {}",
                row.workload, row.variant, row.device
            );
            if done == total {
                eprint!("\r\x1b[K");
            }
        }
        if live && live_error.is_none() {
            let header =
                (!printed_header).then(|| format!("{}\n", fixed(&HEADER.map(String::from))));
            printed_header = true;
            let line = format!("{}{}\n", header.unwrap_or_default(), fixed(&table_row(row)));
            live_error = super::output::stdout(format_args!("{line}")).err();
        }
    });
    let report = Report {
        schema_version: SCHEMA_VERSION,
        metadata,
        rows,
    };
    // Both files are tried: one that cannot be written (a full disk) does not
    // cost the other. The first error is returned once both were tried.
    let json_written = args.json.as_deref().map(|p| write_json(p, &report));
    let csv_written = args.csv.as_deref().map(|p| write_csv(p, &report));
    let mut errors = [json_written, csv_written]
        .into_iter()
        .flatten()
        .filter_map(Result::err);
    if let Some(first) = errors.next() {
        // The other file's failure too, so no one takes it for written.
        for e in errors {
            eprintln!("gpucalc: error: {e}");
        }
        return Err(first.into());
    }
    if let Some(e) = live_error {
        return Err(e);
    }
    let comparisons = baseline.as_ref().map(|b| compare(&report.rows, b));
    if globals.json {
        // The report as the --json file has it, and the comparison where
        // there is one, so a script reads both from standard output.
        let mut value = serde_json::to_value(&report)?;
        if let Some(comparisons) = &comparisons {
            value["comparison"] = comparisons.iter().map(comparison_json).collect();
        }
        outln!("{}", serde_json::to_string_pretty(&value)?);
    }
    if let Some(comparisons) = &comparisons {
        let mut lines = vec![[
            "WORKLOAD",
            "VARIANT",
            "DEVICE",
            "THROUGHPUT",
            "BASELINE",
            "RATIO",
            "VERDICT",
        ]
        .map(String::from)
        .to_vec()];
        for c in comparisons {
            lines.push(vec![
                c.row.workload.clone(),
                c.row.variant.clone(),
                c.row.device.clone(),
                fmt_opt(c.row.throughput, si),
                baseline_cell(c),
                fmt_opt(c.ratio, |r| format!("{r:.3}")),
                match c.verdict {
                    Verdict::Regression => format!(
                        "SLOWER (beyond the ±{:.1}% noise)",
                        c.threshold.unwrap_or(0.0) * 100.0
                    ),
                    Verdict::Improvement => format!(
                        "faster (beyond the ±{:.1}% noise)",
                        c.threshold.unwrap_or(0.0) * 100.0
                    ),
                    Verdict::Same => "same".to_string(),
                    Verdict::NoBaseline => "no baseline".to_string(),
                    Verdict::NotMeasured => {
                        format!("not measured ({})", status_name(c.row.status))
                    }
                    Verdict::SizeDiffers => format!(
                        "sizes differ ({} here, {} there): no verdict",
                        c.row.size,
                        c.baseline.as_ref().map_or(0, |b| b.size)
                    ),
                },
            ]);
        }
        let out = table(&lines);
        if globals.json {
            eprint!("{out}");
        } else {
            outln!(
                "\ncompared with {}",
                args.compare
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string())
            );
            out!("{out}");
        }
    }
    let failed = report
        .rows
        .iter()
        .filter(|r| r.status == Status::VerificationFailed)
        .count();
    if failed > 0 {
        eprintln!("gpucalc: error: {failed} row(s) failed verification");
        return Ok(EXIT_VERIFY_FAILED);
    }
    Ok(0)
}

/// One row of `--compare` for `gpucalc --json bench`.
fn comparison_json(c: &crate::bench::Comparison) -> serde_json::Value {
    serde_json::json!({
        "workload": c.row.workload,
        "variant": c.row.variant,
        "device": c.row.device,
        "throughput": c.row.throughput,
        "baseline_throughput": c.baseline.as_ref().and_then(|b| b.throughput),
        "baseline_device": c.baseline.as_ref().map(|b| &b.device),
        "size": c.row.size,
        "baseline_size": c.baseline.as_ref().map(|b| b.size),
        "ratio": c.ratio,
        "threshold": c.threshold,
        "verdict": c.verdict,
    })
}

/// The baseline's throughput, naming its device where it is not the row's
/// (a peer script's row, or another device's file): `1.818 G on opencl:0`.
fn baseline_cell(c: &crate::bench::Comparison) -> String {
    let figure = fmt_opt(c.baseline.as_ref().and_then(|b| b.throughput), si);
    match &c.baseline {
        Some(b) if b.device != c.row.device => format!("{figure} on {}", b.device),
        _ => figure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_of_the_table_is_one_line_whatever_its_reason() {
        let row = ResultRow {
            workload: "map".into(),
            variant: "sqrt-f32".into(),
            device: "opencl:0".into(),
            device_name: "gpu".into(),
            size: 1024,
            iterations: 0,
            min_s: None,
            median_s: None,
            max_s: None,
            throughput: None,
            unit: "B/s".into(),
            limit: None,
            limit_source: None,
            fraction: None,
            status: Status::Error,
            reason: Some("build failed; build log:\nerror: x\nerror: y".into()),
            kernel: None,
        };
        let status = table_row(&row).pop().unwrap();
        assert_eq!(
            status,
            "error (build failed; build log; more in --json/--csv)"
        );
        let one_line = ResultRow {
            reason: Some("out of memory".into()),
            ..row
        };
        assert_eq!(table_row(&one_line).pop().unwrap(), "error (out of memory)");
    }
}
