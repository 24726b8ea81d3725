//! Criterion benchmark of `map` on every device this build can open, row by
//! row from the benchmark registry (src/bench/registry.rs).

mod common;

use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    common::bench_workload(c, "map");
}

criterion_group!(benches, bench);
criterion_main!(benches);
