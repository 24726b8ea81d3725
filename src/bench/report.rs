//! Benchmark result files (JSON with a schema version, CSV with a header),
//! machine metadata, and comparison against a baseline.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{ResultRow, Status};
use crate::atomic_file::{io_error, publish, temp_beside};
use crate::device::DeviceInfo;
use crate::error::{Error, Result};

/// Version of the JSON layout; bumped when fields change meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// Where and how a result file was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metadata {
    /// gpucalc's version.
    pub gpucalc_version: String,
    /// The git commit gpucalc was built from (`-dirty` if the tree had changes).
    pub git_commit: String,
    /// Cargo features compiled in.
    pub features: Vec<String>,
    /// Operating system and kernel.
    pub os: String,
    /// CPU model.
    pub cpu_model: String,
    /// CPU hardware threads.
    pub cpu_threads: u32,
    /// Every device this build saw, with driver versions.
    pub devices: Vec<serde_json::Value>,
    /// When the run started, UTC, ISO 8601.
    pub date: String,
    /// The command line.
    pub command: Vec<String>,
}

impl Metadata {
    /// Metadata of this process and machine.
    pub fn collect(devices: &[DeviceInfo]) -> Metadata {
        let mut features = Vec::new();
        if cfg!(feature = "cuda") {
            features.push("cuda".to_string());
        }
        if cfg!(feature = "opencl") {
            features.push("opencl".to_string());
        }
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let pretty = read("/etc/os-release").and_then(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        });
        let kernel = read("/proc/sys/kernel/osrelease").map(|k| k.trim().to_string());
        let os = [Some(std::env::consts::OS.to_string()), pretty, kernel]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        let cpu = crate::backend::cpu::describe();
        Metadata {
            gpucalc_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: env!("GPUCALC_GIT_COMMIT").to_string(),
            features,
            os,
            cpu_model: cpu.name,
            cpu_threads: cpu.threads.unwrap_or(1),
            devices: devices
                .iter()
                .filter_map(|d| serde_json::to_value(d).ok())
                .collect(),
            date: utc_now(),
            // Lossy: an argument that is not UTF-8 is still recorded, not a panic.
            command: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
        }
    }
}

/// A whole result file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Where and how the results were made.
    pub metadata: Metadata,
    /// The rows.
    pub rows: Vec<ResultRow>,
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Writes `bytes` to `path` whole or not at all (temporary file, then rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temp = temp_beside(path, ".tmp")?;
    // Through the File: NamedTempFile's own Write names the temporary file in
    // its errors, and the user knows only `path`.
    temp.as_file_mut()
        .write_all(bytes)
        .map_err(|e| io_error(path, e))?;
    publish(temp, path)
}

/// Fails now, not after a long run, if a result file cannot be created at `path`.
pub fn check_writable(path: &Path) -> Result<()> {
    crate::atomic_file::check_writable(path, 0)
}

/// Writes the report as JSON.
pub fn write_json(path: &Path, report: &Report) -> Result<()> {
    let text =
        serde_json::to_string_pretty(report).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    write_atomic(path, format!("{text}\n").as_bytes())
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 16] = [
    "workload",
    "variant",
    "device",
    "device_name",
    "size",
    "iterations",
    "min_s",
    "median_s",
    "max_s",
    "throughput",
    "unit",
    "limit",
    "limit_source",
    "fraction",
    "status",
    "reason",
];

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Writes the rows as CSV under a header row (the metadata is in the JSON file).
pub fn write_csv(path: &Path, report: &Report) -> Result<()> {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:e}"));
    let json = |v: &dyn erased::AsJson| v.as_json();
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for r in &report.rows {
        let fields = [
            csv_field(&r.workload),
            csv_field(&r.variant),
            csv_field(&r.device),
            csv_field(&r.device_name),
            r.size.to_string(),
            r.iterations.to_string(),
            opt(r.min_s),
            opt(r.median_s),
            opt(r.max_s),
            opt(r.throughput),
            csv_field(&r.unit),
            opt(r.limit),
            r.limit_source.map_or(String::new(), |s| json(&s)),
            opt(r.fraction),
            json(&r.status),
            csv_field(r.reason.as_deref().unwrap_or("")),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    write_atomic(path, out.as_bytes())
}

/// Serialises small enums to their JSON names without quotes.
mod erased {
    pub trait AsJson {
        fn as_json(&self) -> String;
    }
    impl<T: serde::Serialize> AsJson for T {
        fn as_json(&self) -> String {
            serde_json::to_string(self)
                .unwrap_or_default()
                .trim_matches('"')
                .to_string()
        }
    }
}

/// How a row compares with its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Slower by more than the run-to-run spread.
    Regression,
    /// Faster by more than the spread.
    Improvement,
    /// Within the spread.
    Same,
    /// No comparable baseline row.
    NoBaseline,
    /// This run has no figure for the row (skipped, unsupported or failed).
    NotMeasured,
    /// The baseline row ran at another size (a `--quick` run against a full
    /// one, a peer's file, a machine whose larger cache grew the arrays): the
    /// ratio is shown, but throughput may depend on the size, so no verdict.
    SizeDiffers,
}

/// One row beside its baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The new row.
    pub row: ResultRow,
    /// The baseline row, if one matched.
    pub baseline: Option<ResultRow>,
    /// New throughput over baseline throughput.
    pub ratio: Option<f64>,
    /// The relative change that counts as real: the larger run-to-run spread.
    pub threshold: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Relative spread of a row: (max - min) / median.
fn spread(row: &ResultRow) -> f64 {
    match (row.min_s, row.median_s, row.max_s) {
        (Some(min), Some(median), Some(max)) if median > 0.0 => (max - min) / median,
        _ => 0.0,
    }
}

/// Puts each row beside the baseline row of the same workload, variant and
/// device (or, when the baseline has a single row for the workload and
/// variant, as a peer's file does, beside that one).
pub fn compare(rows: &[ResultRow], baseline: &Report) -> Vec<Comparison> {
    rows.iter()
        .map(|row| {
            let same = |b: &&ResultRow| b.workload == row.workload && b.variant == row.variant;
            let candidates: Vec<&ResultRow> = baseline.rows.iter().filter(same).collect();
            let base = candidates
                .iter()
                .find(|b| b.device == row.device && b.device_name == row.device_name)
                .or_else(|| candidates.iter().find(|b| b.device == row.device))
                .or(if candidates.len() == 1 {
                    candidates.first()
                } else {
                    None
                })
                .copied()
                .filter(|b| b.status == Status::Ok && b.unit == row.unit);
            let ratio = match (row.throughput, base.and_then(|b| b.throughput)) {
                (Some(new), Some(old)) if old > 0.0 => Some(new / old),
                _ => None,
            };
            let threshold = base.map(|b| spread(row).max(spread(b)).max(0.02));
            let verdict = match (ratio, threshold) {
                _ if row.throughput.is_none() => Verdict::NotMeasured,
                (Some(_), Some(_)) if base.is_some_and(|b| b.size != row.size) => {
                    Verdict::SizeDiffers
                }
                (Some(r), Some(t)) if r < 1.0 - t => Verdict::Regression,
                (Some(r), Some(t)) if r > 1.0 + t => Verdict::Improvement,
                (Some(_), Some(_)) => Verdict::Same,
                _ => Verdict::NoBaseline,
            };
            Comparison {
                row: row.clone(),
                baseline: base.cloned(),
                ratio,
                threshold,
                verdict,
            }
        })
        .collect()
}

/// Reads a result file (gpucalc's or a peer script's).
pub fn read_report(path: &Path) -> Result<Report> {
    // Bytes, not a String: a binary file is "not a result file", not an I/O error.
    let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
    let report: Report = serde_json::from_slice(&bytes).map_err(|e| {
        Error::InvalidArgument(format!(
            "{}: not a gpucalc result file ({e})",
            path.display()
        ))
    })?;
    if report.schema_version != SCHEMA_VERSION {
        return Err(Error::InvalidArgument(format!(
            "{}: schema version {} (this gpucalc reads {SCHEMA_VERSION})",
            path.display(),
            report.schema_version
        )));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(device: &str, times: (f64, f64, f64), throughput: f64) -> ResultRow {
        ResultRow {
            workload: "pi".into(),
            variant: "philox".into(),
            device: device.into(),
            device_name: "x".into(),
            size: 1,
            iterations: 3,
            min_s: Some(times.0),
            median_s: Some(times.1),
            max_s: Some(times.2),
            throughput: Some(throughput),
            unit: "samples/s".into(),
            limit: None,
            limit_source: None,
            fraction: None,
            status: Status::Ok,
            reason: None,
            kernel: None,
        }
    }

    #[test]
    fn changes_beyond_the_spread_are_flagged() {
        let base = Report {
            schema_version: SCHEMA_VERSION,
            metadata: Metadata::collect(&[]),
            rows: vec![row("cpu", (1.0, 1.01, 1.02), 100.0)],
        };
        let verdict = |t: f64| compare(&[row("cpu", (1.0, 1.01, 1.02), t)], &base)[0].verdict;
        assert_eq!(verdict(100.5), Verdict::Same);
        assert_eq!(verdict(80.0), Verdict::Regression);
        assert_eq!(verdict(130.0), Verdict::Improvement);
        // A noisy run widens the threshold.
        let noisy = compare(&[row("cpu", (1.0, 1.2, 1.5), 90.0)], &base);
        assert_eq!(noisy[0].verdict, Verdict::Same);
        // A peer file with one row matches whatever the device.
        assert_eq!(
            compare(&[row("opencl:0", (1.0, 1.0, 1.0), 200.0)], &base)[0].verdict,
            Verdict::Improvement
        );
        // A row this run skipped has a baseline; it is the new figure that is missing.
        let skipped = ResultRow {
            throughput: None,
            status: Status::Skipped,
            ..row("cpu", (1.0, 1.0, 1.0), 0.0)
        };
        assert_eq!(compare(&[skipped], &base)[0].verdict, Verdict::NotMeasured);
        let elsewhere = row("cuda:0", (1.0, 1.0, 1.0), 1.0);
        let two = Report {
            rows: vec![base.rows[0].clone(), row("opencl:0", (1.0, 1.0, 1.0), 1.0)],
            ..base.clone()
        };
        assert_eq!(compare(&[elsewhere], &two)[0].verdict, Verdict::NoBaseline);
        // Another size: the ratio, but no verdict.
        let bigger = ResultRow {
            size: 16,
            ..row("cpu", (1.0, 1.01, 1.02), 300.0)
        };
        let c = &compare(&[bigger], &base)[0];
        assert_eq!((c.verdict, c.ratio), (Verdict::SizeDiffers, Some(3.0)));
    }

    #[test]
    fn files_round_trip_and_csv_has_a_header() {
        let dir = tempfile::tempdir().unwrap();
        let report = Report {
            schema_version: SCHEMA_VERSION,
            metadata: Metadata::collect(&[]),
            rows: vec![row("cpu", (1.0, 1.0, 1.0), 5.0)],
        };
        let json = dir.path().join("r.json");
        write_json(&json, &report).unwrap();
        assert_eq!(read_report(&json).unwrap().rows[0].throughput, Some(5.0));
        let binary = dir.path().join("b.json");
        std::fs::write(&binary, [0x93u8, 0xff, 0x00]).unwrap();
        let err = read_report(&binary).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        assert!(
            err.to_string().contains("not a gpucalc result file"),
            "{err}"
        );
        let csv = dir.path().join("r.csv");
        write_csv(&csv, &report).unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), CSV_COLUMNS.join(","));
        assert_eq!(lines.next().unwrap().split(',').count(), CSV_COLUMNS.len());
        assert!(report.metadata.date.ends_with('Z') && report.metadata.date.len() == 20);
    }
}
