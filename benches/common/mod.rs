//! Shared by the criterion benches: one group per workload, one benchmark per
//! registry row and device, timed by the row's own (device-side) timers.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use gpucalc::bench::{registry, run_row, Unit};
use gpucalc::{Device, DeviceSpec};

/// Every device this build can open: the CPU, the first CUDA and OpenCL devices.
fn devices() -> Vec<Device> {
    ["cpu", "cuda", "opencl"]
        .iter()
        .filter_map(|s| Device::select(&s.parse::<DeviceSpec>().ok()?).ok())
        .collect()
}

/// Benchmarks every registry row of `workload` on every device, at the
/// `--quick` sizes (criterion repeats them many times).
pub fn bench_workload(c: &mut Criterion, workload: &str) {
    let mut group = c.benchmark_group(workload);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500));
    for device in devices() {
        for row in registry().into_iter().filter(|r| r.workload == workload) {
            let size = row.quick_size;
            let work = row.work(size) as u64;
            group.throughput(match row.unit {
                Unit::BytesPerSecond => Throughput::Bytes(work),
                Unit::SamplesPerSecond | Unit::FlopsPerSecond => Throughput::Elements(work),
            });
            // Rows a device cannot run (pinned memory on the CPU, ...) are left out.
            if run_row(&device, &row, size, 1).is_err() {
                continue;
            }
            let id = BenchmarkId::new(row.variant, &device.info().spec);
            group.bench_function(id, |b| {
                b.iter_custom(|iterations| {
                    let outcome = run_row(&device, &row, size, iterations as usize)
                        .expect("the row ran once already");
                    Duration::from_secs_f64(outcome.times.iter().sum())
                })
            });
        }
    }
    group.finish();
}
