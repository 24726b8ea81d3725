//! The benchmark suite: runs the [`registry()`] rows on chosen devices,
//! calibrating iterations to a time budget, and reports each row against the
//! device's limit. See `gpucalc bench --help`.

pub mod limits;
pub mod registry;
mod report;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use limits::{Limit, LimitKind, LimitSource, Measured};
pub use registry::{registry, run_row, BenchRow, Job, Outcome, Unit, MAX_ITERATIONS};
pub use report::{
    check_writable, compare, read_report, write_csv, write_json, Comparison, Metadata, Report,
    Verdict, CSV_COLUMNS, SCHEMA_VERSION,
};

use crate::device::Device;
use crate::dtype::Float;
use crate::error::{Error, Result};
use crate::workloads::stream::{stream, StreamKernel};

/// How a row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Measured and, where there is a reference, verified.
    Ok,
    /// Measured, but the result did not match the CPU reference.
    VerificationFailed,
    /// The device or build cannot run this row.
    Unsupported,
    /// Not run (filtered out, or the time budget ran out).
    Skipped,
    /// The run failed.
    Error,
}

/// One result row, as it appears in JSON and CSV.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultRow {
    /// Workload name.
    pub workload: String,
    /// Variant within the workload.
    pub variant: String,
    /// Device spec (`cpu`, `cuda:0`, ...) or, for peers, the implementation.
    pub device: String,
    /// Device name.
    pub device_name: String,
    /// Problem size (elements, samples, bytes or matrix side; see the registry).
    pub size: u64,
    /// Timed iterations.
    pub iterations: usize,
    /// Fastest iteration, seconds.
    pub min_s: Option<f64>,
    /// Median iteration, seconds.
    pub median_s: Option<f64>,
    /// Slowest iteration, seconds.
    pub max_s: Option<f64>,
    /// Throughput from the fastest iteration, in `unit`.
    pub throughput: Option<f64>,
    /// The throughput unit.
    pub unit: String,
    /// The device's limit for this row, in `unit`.
    pub limit: Option<f64>,
    /// Where the limit comes from: `attributes` or `measured`.
    pub limit_source: Option<LimitSource>,
    /// `throughput / limit`.
    pub fraction: Option<f64>,
    /// How the row ended.
    pub status: Status,
    /// Why, for anything but `ok`; on an `ok` row, what it lacks (no limit,
    /// where the bandwidth probe it is measured against failed).
    pub reason: Option<String>,
    /// What ran the row, where the backend chose among several (the matmul
    /// kernel and its tiles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
}

/// What to run and for how long; the default is the whole suite at its
/// normal sizes and budgets.
#[derive(Debug, Clone, Default)]
pub struct SuiteOptions {
    /// Small sizes, short budgets: the whole suite in a minute or two.
    pub quick: bool,
    /// Longer budgets per row (more iterations).
    pub full: bool,
    /// Only these workloads (empty: all). A name no row has selects nothing.
    pub only: Vec<String>,
    /// Start no new measurement after this long (the first row always runs);
    /// rows not measured by then are `skipped` (the kernels of a stream run
    /// already done are reported).
    pub max_time: Option<Duration>,
}

impl SuiteOptions {
    fn row_budget(&self) -> Duration {
        match (self.quick, self.full) {
            (true, _) => Duration::from_millis(250),
            (false, true) => Duration::from_secs(5),
            (false, false) => Duration::from_secs(1),
        }
    }

    fn size(&self, row: &BenchRow) -> u64 {
        if self.quick {
            row.quick_size
        } else {
            row.full_size
        }
    }
}

/// Seconds statistics: min, median, max.
pub fn min_median_max(times: &[f64]) -> Option<(f64, f64, f64)> {
    let mut sorted: Vec<f64> = times.iter().copied().filter(|t| t.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    let median = if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    };
    Some((sorted[0], median, sorted[sorted.len() - 1]))
}

/// Runs the suite on `devices`, calling `on_row` as each row finishes (for a
/// live table). Rows that fail do not stop the suite.
pub fn run_suite(
    devices: &[Device],
    options: &SuiteOptions,
    mut on_row: impl FnMut(&ResultRow, usize, usize),
) -> Vec<ResultRow> {
    let start = Instant::now();
    let rows: Vec<BenchRow> = registry()
        .into_iter()
        .filter(|r| options.only.is_empty() || options.only.iter().any(|o| o == r.workload))
        .collect();
    let applies = |device: &Device, row: &BenchRow| match row.job {
        Job::Transfer(_, memory) => device.backend().host_memory_kinds().contains(&memory),
        _ => true,
    };
    let total = devices
        .iter()
        .map(|d| rows.iter().filter(|r| applies(d, r)).count())
        .sum();
    let mut results = Vec::with_capacity(total);
    for device in devices {
        let applicable: Vec<BenchRow> = rows
            .iter()
            .copied()
            .filter(|r| applies(device, r))
            .collect();
        // Past the budget every row of this device will be skipped, and a
        // skipped row has no limit: no probe then.
        let past_budget =
            !results.is_empty() && options.max_time.is_some_and(|l| start.elapsed() > l);
        let probe = if past_budget {
            Ok(None)
        } else {
            bandwidth_probe(device, &applicable, options)
        };
        let mut measured = probe.as_ref().ok().copied().flatten().unwrap_or_default();
        // Rows measured against the bandwidth the probe failed to give have
        // no limit: they say why, where the table would show only `-`.
        let no_limit_because = probe
            .err()
            .map(|e| format!("no limit: the bandwidth probe failed: {e}"));
        let mut streams = StreamRuns::default();
        for row in &rows {
            // Pinned host memory means nothing to the CPU device: such rows are
            // left out for devices without that kind, not reported as failures.
            if !applies(device, row) {
                continue;
            }
            let size = row.size_on(device.info(), options.size(row));
            // The suite's first row always runs, however busy the machine
            // was before it: a budget that gave no figure at all would be no use.
            let over_budget = || options.max_time.is_some_and(|l| start.elapsed() > l);
            let out_of_time = !results.is_empty() && over_budget();
            if let (Job::Stream(..), false) = (row.job, out_of_time) {
                // Every stream run of this device goes first, so the first
                // stream row printed has the device's final measured bandwidth
                // (f64's run may beat f32's), as the files will. The budget
                // still holds: a run it has no time for is not started.
                streams.run_all(device, &rows, options, || !over_budget());
            }
            // A row whose run is done already (a stream row) starts no new work.
            let mut result = if out_of_time && !streams.has(row, size) {
                skipped(device, row, size, "the --max-time budget ran out")
            } else {
                measure(device, row, size, options, measured, &mut streams)
            };
            if result.throughput.is_some()
                && result.limit.is_none()
                && result.reason.is_none()
                && needs_measured_bandwidth(device, row.limit)
            {
                result.reason.clone_from(&no_limit_because);
            }
            // Large device copies measure the bandwidth limit where no
            // attribute gives it: the best stream kernel of this run (init
            // included: on CPUs its streaming stores move the most bytes); the
            // best init (writes only) is also the write bandwidth.
            let best = |m: Option<f64>, t: f64| Some(m.map_or(t, |m| m.max(t)));
            if let (Job::Stream(kernel, _), Some(t)) = (row.job, result.throughput) {
                measured.bandwidth = best(measured.bandwidth, t);
                if kernel == StreamKernel::Init {
                    measured.write_bandwidth = best(measured.write_bandwidth, t);
                }
            }
            results.push(result);
            on_row(results.last().expect("just pushed"), results.len(), total);
        }
        fill_measured_limits(&mut results, device, measured);
    }
    results
}

/// Whether rows limited by `kind` on `device` are measured against a
/// bandwidth measured in the run (stream's best), for want of an attribute.
fn needs_measured_bandwidth(device: &Device, kind: LimitKind) -> bool {
    let some = Measured {
        bandwidth: Some(1.0),
        write_bandwidth: Some(1.0),
    };
    limits::limit(device.info(), kind, Measured::default()).is_none()
        && limits::limit(device.info(), kind, some).is_some()
}

/// Iterations of the bandwidth probe's stream run (the first is dropped).
const PROBE_ITERATIONS: usize = 8;

/// Where `rows` (those that apply to `device`) hold no stream row, but one
/// of them is measured against a bandwidth no attribute gives, a short
/// BabelStream run measures it first: f64 arrays (f32 where the device has
/// no fp64) of the stream rows' size, [`PROBE_ITERATIONS`] iterations.
/// `--only map` then still reports the fraction of the limit. `None` where
/// no probe is needed; an error where it failed (the rows then have no
/// limit, and say why).
fn bandwidth_probe(
    device: &Device,
    rows: &[BenchRow],
    options: &SuiteOptions,
) -> Result<Option<Measured>> {
    if rows.iter().any(|r| matches!(r.job, Job::Stream(..)))
        || !rows
            .iter()
            .any(|r| needs_measured_bandwidth(device, r.limit))
    {
        return Ok(None);
    }
    let float = if device.info().fp64 {
        Float::F64
    } else {
        Float::F32
    };
    let Some(stream_row) = registry()
        .into_iter()
        .find(|r| r.job == Job::Stream(StreamKernel::Copy, float))
    else {
        return Ok(None);
    };
    let size = stream_row.size_on(device.info(), options.size(&stream_row));
    // A size past usize is refused by stream's own check, as too large.
    let run = stream(
        device,
        float,
        usize::try_from(size).unwrap_or(usize::MAX),
        PROBE_ITERATIONS,
    )?;
    Ok(Some(measured_by(&run)))
}

/// The best bandwidth of a stream run, init included, and init's (writes alone).
fn measured_by(run: &crate::workloads::stream::StreamResult) -> Measured {
    let best = run.kernels.iter().chain([&run.init]).map(|k| k.bandwidth);
    Measured {
        bandwidth: best.reduce(f64::max),
        write_bandwidth: Some(run.init.bandwidth),
    }
}

/// Once all of a device's rows ran, every row measured against a measured
/// bandwidth gets the final figure (the best stream kernel, or init, of the
/// whole run), including rows that ran before it was known or saw only part of it.
fn fill_measured_limits(results: &mut [ResultRow], device: &Device, measured: Measured) {
    let spec = &device.info().spec;
    for r in results.iter_mut().filter(|r| {
        // A row without a figure (skipped, failed) has no limit, as in the table.
        &r.device == spec
            && r.throughput.is_some()
            && r.limit_source != Some(LimitSource::Attributes)
    }) {
        let limit = registry()
            .into_iter()
            .find(|b| b.workload == r.workload && b.variant == r.variant)
            .and_then(|b| limits::limit(device.info(), b.limit, measured));
        if let Some(limit) = limit {
            r.limit = Some(limit.value);
            r.limit_source = Some(limit.source);
            r.fraction = r.throughput.map(|t| t / limit.value);
        }
    }
}

/// One BabelStream run per element type and device serves its six rows (init
/// and the loop's five): the run times every kernel anyway, so running it once
/// per row would do six times the work.
#[derive(Default)]
struct StreamRuns {
    runs: Vec<(Float, u64, crate::workloads::stream::StreamResult)>,
    /// Whether [`StreamRuns::run_all`] ran for this device.
    all_tried: bool,
}

impl StreamRuns {
    /// Whether `row` is a stream row whose run is done.
    fn has(&self, row: &BenchRow, size: u64) -> bool {
        match row.job {
            Job::Stream(_, float) => self.find(float, size).is_some(),
            _ => false,
        }
    }

    /// The index of the run of `float` arrays of `size` elements, if done.
    fn find(&self, float: Float, size: u64) -> Option<usize> {
        self.runs
            .iter()
            .position(|(f, s, _)| *f == float && *s == size)
    }

    /// Runs every stream run that `rows` holds for `device`, once per
    /// device: the first (the caller's row's), then each other one while
    /// `within_budget` says so. A run that fails is left for its rows to try
    /// and report.
    fn run_all(
        &mut self,
        device: &Device,
        rows: &[BenchRow],
        options: &SuiteOptions,
        within_budget: impl Fn() -> bool,
    ) {
        if std::mem::replace(&mut self.all_tried, true) {
            return;
        }
        let budget = options.row_budget().as_secs_f64();
        let mut tried = Vec::new();
        for row in rows {
            if let Job::Stream(kernel, float) = row.job {
                let size = row.size_on(device.info(), options.size(row));
                if !tried.contains(&(float, size)) {
                    if !tried.is_empty() && !within_budget() {
                        return;
                    }
                    tried.push((float, size));
                    let _ = self.outcome(device, kernel, float, size, budget);
                }
            }
        }
    }

    fn outcome(
        &mut self,
        device: &Device,
        kernel: StreamKernel,
        float: Float,
        size: u64,
        budget: f64,
    ) -> crate::Result<Outcome> {
        let index = match self.find(float, size) {
            Some(i) => i,
            None => {
                let n = usize::try_from(size).unwrap_or(usize::MAX);
                // A probe of two iterations (the first is dropped) sets the count
                // that fills the five rows' budgets.
                let probe = stream(device, float, n, 2)?;
                let each: f64 = probe.kernels.iter().map(|k| k.max_s).sum::<f64>().max(1e-6);
                let iterations = ((5.0 * budget / each) as usize).clamp(3, 200);
                self.runs
                    .push((float, size, stream(device, float, n, iterations + 1)?));
                self.runs.len() - 1
            }
        };
        let result = &self.runs[index].2;
        Ok(Outcome {
            times: result.stats(kernel).times_s[1..].to_vec(),
            verified: Some(result.verified),
            kernel: None,
        })
    }

    /// The best bandwidths of the runs so far: of any kernel, and of init.
    /// A row of a run is measured against all of its run's kernels, not only
    /// the rows printed before it.
    fn measured(&self) -> Measured {
        let mut measured = Measured::default();
        for (_, _, run) in &self.runs {
            measured = measured.merged(measured_by(run));
        }
        measured
    }
}

fn base_row(device: &Device, row: &BenchRow, size: u64) -> ResultRow {
    let info = device.info();
    ResultRow {
        workload: row.workload.to_string(),
        variant: row.variant.to_string(),
        device: info.spec.clone(),
        device_name: info.name.clone(),
        size,
        iterations: 0,
        min_s: None,
        median_s: None,
        max_s: None,
        throughput: None,
        unit: row.unit.as_str().to_string(),
        limit: None,
        limit_source: None,
        fraction: None,
        status: Status::Ok,
        reason: None,
        kernel: None,
    }
}

fn skipped(device: &Device, row: &BenchRow, size: u64, reason: &str) -> ResultRow {
    ResultRow {
        status: Status::Skipped,
        reason: Some(reason.to_string()),
        ..base_row(device, row, size)
    }
}

/// Calibrates, runs and summarises one row.
fn measure(
    device: &Device,
    row: &BenchRow,
    size: u64,
    options: &SuiteOptions,
    measured: Measured,
    streams: &mut StreamRuns,
) -> ResultRow {
    let mut result = base_row(device, row, size);
    let budget = options.row_budget().as_secs_f64();
    let mut measured = measured;
    let outcome = match row.job {
        Job::Stream(kernel, float) => {
            let outcome = streams.outcome(device, kernel, float, size, budget);
            measured = measured.merged(streams.measured());
            outcome
        }
        _ => {
            // One probe iteration sets the count that fills the row's time budget.
            registry::run_row(device, row, size, 1).and_then(|probe| {
                let each = probe.times.iter().copied().fold(0.0, f64::max).max(1e-6);
                let iterations = ((budget / each) as usize).clamp(3, 200);
                registry::run_row(device, row, size, iterations)
            })
        }
    };
    match outcome {
        Ok(outcome) => {
            result.iterations = outcome.times.len();
            result.kernel = outcome.kernel;
            if let Some((min, median, max)) = min_median_max(&outcome.times) {
                result.min_s = Some(min);
                result.median_s = Some(median);
                result.max_s = Some(max);
                result.throughput = Some(row.work(size) / min.max(1e-12));
            }
            if let Some(limit) = limits::limit(device.info(), row.limit, measured) {
                result.limit = Some(limit.value);
                result.limit_source = Some(limit.source);
                result.fraction = result.throughput.map(|t| t / limit.value);
            }
            if outcome.verified == Some(false) {
                result.status = Status::VerificationFailed;
                result.reason = Some("the result does not match the CPU reference".to_string());
            }
        }
        Err(e @ Error::Unsupported { .. }) | Err(e @ Error::BackendDisabled(_)) => {
            result.status = Status::Unsupported;
            result.reason = Some(e.to_string());
        }
        Err(e @ Error::OutOfMemory { .. }) => {
            result.status = Status::Skipped;
            result.reason = Some(e.to_string());
        }
        Err(e) => {
            result.status = Status::Error;
            result.reason = Some(e.to_string());
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_sort_and_take_the_middle() {
        assert_eq!(min_median_max(&[3.0, 1.0, 2.0]), Some((1.0, 2.0, 3.0)));
        assert_eq!(min_median_max(&[4.0, 1.0, 2.0, 3.0]), Some((1.0, 2.5, 4.0)));
        assert_eq!(min_median_max(&[]), None);
    }
}
