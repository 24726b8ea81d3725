//! Criterion benchmark of `pi` on every device this build can open: samples per second.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gpucalc::{pi, Device, DeviceSpec};

fn devices() -> Vec<Device> {
    let specs = ["cpu", "cuda", "opencl"];
    specs
        .iter()
        .filter_map(|s| Device::select(&s.parse::<DeviceSpec>().ok()?).ok())
        .collect()
}

fn bench_pi(c: &mut Criterion) {
    let mut group = c.benchmark_group("pi");
    group.sample_size(10);
    for device in devices() {
        let samples: u64 = match device.kind() {
            gpucalc::BackendKind::Cpu => 1 << 28,
            _ => 1 << 32,
        };
        group.throughput(Throughput::Elements(samples));
        group.bench_with_input(
            BenchmarkId::new(device.info().spec.clone(), samples),
            &samples,
            |b, &n| b.iter(|| pi(&device, n, 1).expect("pi run")),
        );
    }
    group.finish();
}

criterion_group!(benches, bench_pi);
criterion_main!(benches);
