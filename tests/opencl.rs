//! The OpenCL backend for real (PoCL's CPU device in CI): bit-exact `pi` against the
//! CPU path and the reference, the device listing, errors, and the binary; `stream`
//! and `map` verified in both precisions, `rng` equal to the CPU (raw, uniform) or
//! within `NORMAL_ULP_BOUND` (normal), `transfer` in both kinds of host memory.
//!
//! With no OpenCL platform every test fails, saying why; `GPUCALC_SKIP_OPENCL=1`
//! turns that into a skip with the reason printed.
#![cfg(feature = "opencl")]

mod common;

use std::process::Output;

use common::{opencl_devices, run as gpucalc};

use gpucalc::map::{map_floats, MapFn};
use gpucalc::rng::{
    max_elements, rng_generate, rng_reference, Dist, RngSpec, RngType, NORMAL_ULP_BOUND,
};
use gpucalc::transfer::{transfer, HostMemory};
use gpucalc::{
    list_devices, pi, pi_reference_hits, pi_with, stream, BackendKind, Device, DeviceInfo,
    DeviceSpec, DeviceType, Float, FloatVec, RunControl,
};

fn open(info: &DeviceInfo) -> Device {
    Device::select(&DeviceSpec::OpenCl(Some(info.index)))
        .unwrap_or_else(|e| panic!("opening {}: {e}", info.spec))
}

fn cpu() -> Device {
    Device::select(&DeviceSpec::Cpu).unwrap()
}

#[test]
fn hits_equal_the_reference_for_awkward_sizes_and_seeds() {
    let Some(devices) = opencl_devices() else {
        return;
    };
    let sizes = [
        1u64, 2, 3, 5, 7, 31, 32, 33, 255, 256, 257, 1023, 1024, 1025, 2047, 4097, 65_537, 100_001,
        262_147,
    ];
    let seeds = [
        0u64,
        1,
        42,
        u64::from(u32::MAX),
        1 << 32,
        0x0123_4567_89ab_cdef,
        u64::MAX,
    ];
    for info in &devices {
        let device = open(info);
        for n in sizes {
            for seed in seeds {
                let r = pi(&device, n, seed).unwrap();
                assert_eq!(r.samples, n);
                assert_eq!(
                    r.hits,
                    pi_reference_hits(seed, 0, n),
                    "{} n {n} seed {seed}",
                    info.spec
                );
            }
        }
    }
}

#[test]
fn large_runs_over_many_chunks_equal_the_cpu_path() {
    let Some(devices) = opencl_devices() else {
        return;
    };
    let cpu = cpu();
    // 1e8 + 1 samples: several `pi_chunk`s, so chunks start at non-zero offsets,
    // and the last chunk ends on the first half of a Philox block.
    let n = 100_000_001;
    for seed in [7u64, (1 << 40) + 3] {
        let expected = pi(&cpu, n, seed).unwrap().hits;
        for info in &devices {
            assert_eq!(
                pi(&open(info), n, seed).unwrap().hits,
                expected,
                "{} seed {seed}",
                info.spec
            );
        }
    }
}

#[test]
fn opencl_and_the_cpu_at_once_give_the_hits_of_one() {
    let Some(devices) = opencl_devices() else {
        return;
    };
    let farm = [cpu(), open(&devices[0])];
    for n in [3u64, 1025, 100_000_001] {
        let r = gpucalc::pi_on(&farm, n, 21, &RunControl::default()).unwrap();
        assert_eq!(r.hits, pi_reference_hits(21, 0, n), "n {n}");
        let specs: Vec<&str> = r.shares.iter().map(|s| s.device.as_str()).collect();
        assert_eq!(specs, ["cpu", devices[0].spec.as_str()]);
        assert_eq!(r.shares.iter().map(|s| s.samples).sum::<u64>(), n);
    }
}

#[test]
fn a_cancelled_run_is_a_prefix_of_the_stream() {
    let Some(devices) = opencl_devices() else {
        return;
    };
    let device = open(&devices[0]);
    let cancel = gpucalc::CancelToken::new();
    let stop_after_first = |_: u64, _: u64| cancel.cancel();
    let control = RunControl {
        cancel: Some(cancel.clone()),
        progress: Some(&stop_after_first),
    };
    let r = pi_with(&device, u64::MAX >> 1, 5, &control).unwrap();
    assert!(r.partial);
    assert!(r.samples > 0 && r.samples.is_multiple_of(2));
    assert_eq!(r.hits, pi(&cpu(), r.samples, 5).unwrap().hits);
}

#[test]
fn the_listing_describes_every_opencl_device() {
    let Some(devices) = opencl_devices() else {
        return;
    };
    for (i, d) in devices.iter().enumerate() {
        assert_eq!(d.index, i, "numbered in order");
        assert_eq!(d.spec, format!("opencl:{i}"));
        assert!(!d.name.is_empty() && !d.vendor.is_empty(), "{d:?}");
        assert!(
            d.platform.as_deref().is_some_and(|p| !p.is_empty()),
            "{d:?}"
        );
        assert!(d.compute_units >= 1 && d.memory_bytes > 0, "{d:?}");
        assert!(d.driver_version.as_deref().is_some_and(|v| !v.is_empty()));
        let version = d.opencl_version.as_deref().unwrap_or_default();
        assert!(version.starts_with("OpenCL "), "{version}");
    }
    if let Some(pocl) = devices
        .iter()
        .find(|d| d.platform.as_deref() == Some("Portable Computing Language"))
    {
        assert_eq!(pocl.device_type, DeviceType::Cpu);
        assert!(pocl.clock_mhz.is_some_and(|mhz| mhz > 0), "{pocl:?}");
        assert!(pocl.fp64, "PoCL's CPU device has cl_khr_fp64");
    }
}

#[test]
fn an_index_out_of_range_lists_what_exists() {
    let Some(devices) = opencl_devices() else {
        return;
    };
    let err = Device::select(&"opencl:99".parse().unwrap())
        .unwrap_err()
        .to_string();
    assert!(!err.contains('\n'), "{err}");
    assert!(
        err.starts_with("no device `opencl:99`: available: "),
        "{err}"
    );
    for d in &devices {
        assert!(err.contains(&format!("{} ({})", d.spec, d.name)), "{err}");
    }
}

#[test]
fn auto_takes_the_cpu_path_when_opencl_has_only_cpu_devices() {
    let Some(_) = opencl_devices() else {
        return;
    };
    let all = list_devices().devices;
    if all
        .iter()
        .any(|d| d.backend == BackendKind::Cuda || d.is_accelerator())
    {
        eprintln!("a GPU is present: auto rightly picks it, nothing to check here");
        return;
    }
    assert_eq!(
        Device::select(&DeviceSpec::Auto).unwrap().kind(),
        BackendKind::Cpu
    );
}

fn json_hits(out: &Output) -> u64 {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    value["hits"].as_u64().expect("hits")
}

#[test]
fn the_binary_prints_the_cpu_hits_on_opencl() {
    let Some(_) = opencl_devices() else {
        return;
    };
    for (n, seed) in [("1000", "0"), ("12345", "18446744073709551615")] {
        let cpu = json_hits(&gpucalc(&[
            "--device", "cpu", "pi", n, "--seed", seed, "--json",
        ]));
        let opencl = json_hits(&gpucalc(&[
            "--device", "opencl", "pi", n, "--seed", seed, "--json",
        ]));
        assert_eq!(opencl, cpu, "n {n} seed {seed}");
    }
    let out = gpucalc(&["--device", "opencl:99", "pi", "10"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("opencl:99") && err.contains("opencl:0"),
        "{err}"
    );
}

/// The first OpenCL device, or `None` (reason printed) as [`opencl_devices`] allows.
fn first_device() -> Option<Device> {
    opencl_devices().map(|devices| open(&devices[0]))
}

/// The element types `device` runs in: f32, and f64 where it has fp64.
fn floats(device: &Device) -> Vec<Float> {
    if device.info().fp64 {
        vec![Float::F32, Float::F64]
    } else {
        vec![Float::F32]
    }
}

#[test]
fn stream_verifies_in_both_precisions() {
    let Some(device) = first_device() else {
        return;
    };
    for float in floats(&device) {
        // Sizes below, at and past one work-group, and many groups of dot.
        for n in [1usize, 1000, 1024, 300_007] {
            let r = stream(&device, float, n, 3).unwrap_or_else(|e| panic!("{float} n {n}: {e}"));
            assert!(r.verified, "{float} n {n}: {r:?}");
            assert_eq!(r.kernels.len(), 5);
            for k in &r.kernels {
                assert_eq!(k.times_s.len(), 3);
                assert!(k.min_s > 0.0 && k.bandwidth > 0.0, "{float} n {n}: {k:?}");
            }
        }
    }
    if !device.info().fp64 {
        let err = stream(&device, Float::F64, 1000, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no cl_khr_fp64"), "{err}");
    }
}

/// The raw and uniform specs `device` can run.
fn exact_specs(device: &Device, seed: u64) -> Vec<RngSpec> {
    let mut kinds = vec![(Dist::Raw, RngType::U32), (Dist::Uniform, RngType::F32)];
    if device.info().fp64 {
        kinds.push((Dist::Uniform, RngType::F64));
    }
    kinds
        .into_iter()
        .map(|(dist, dtype)| RngSpec::new(dist, dtype, seed).unwrap())
        .collect()
}

/// Offsets and lengths that start and end inside Philox blocks, cross the change
/// of counter word 1 (block 2^32), and reach the end of the stream.
fn awkward_ranges(spec: &RngSpec) -> Vec<(u64, usize)> {
    let per_block = match spec.dtype {
        RngType::F64 => 2,
        _ => 4,
    };
    vec![
        (0, 1),
        (1, 2),
        (3, 130),
        (2, 1023),
        (5, 70_001),
        ((1 << 32) * per_block - 7, 50),
        (max_elements(spec) - 9, 9),
    ]
}

#[test]
fn rng_raw_and_uniform_equal_the_cpu_and_the_reference_bit_for_bit() {
    let Some(device) = first_device() else {
        return;
    };
    let cpu = cpu();
    for seed in [0u64, 12_345, u64::MAX - 1] {
        for spec in exact_specs(&device, seed) {
            for (first, n) in awkward_ranges(&spec) {
                let got = rng_generate(&device, &spec, first, n).unwrap();
                let want = rng_generate(&cpu, &spec, first, n).unwrap();
                assert!(got == want, "{spec:?} first {first} n {n}");
                for i in (0..n).step_by(97).chain([n - 1]) {
                    assert_eq!(
                        got.get_f64(i).to_bits(),
                        rng_reference(&spec, first + i as u64).to_bits(),
                        "{spec:?} first {first} element {i}"
                    );
                }
            }
        }
    }
}

#[test]
fn rng_normal_is_within_the_ulp_bound_of_the_cpu() {
    let Some(device) = first_device() else {
        return;
    };
    let cpu = cpu();
    let mut dtypes = vec![RngType::F32];
    if device.info().fp64 {
        dtypes.push(RngType::F64);
    }
    for dtype in dtypes {
        let spec = RngSpec::new(Dist::Normal, dtype, 2024).unwrap();
        for (first, n) in [(0u64, 200_001usize), (3, 1001), ((1 << 40) + 1, 4097)] {
            let got = rng_generate(&device, &spec, first, n).unwrap();
            let want = rng_generate(&cpu, &spec, first, n).unwrap();
            let worst = (0..n)
                .map(|i| common::ulps_apart(got.get_f64(i), want.get_f64(i), dtype))
                // A NaN or infinite value is infinitely far off (f64::max would drop a NaN).
                .map(|u| if u.is_finite() { u } else { f64::INFINITY })
                .fold(0.0, f64::max);
            assert!(
                worst <= f64::from(NORMAL_ULP_BOUND),
                "{spec:?} first {first}: {worst} ulps"
            );
        }
    }
}

#[test]
fn map_verifies_every_function_in_both_precisions() {
    let Some(device) = first_device() else {
        return;
    };
    let xs = common::map_inputs(100_003);
    for float in floats(&device) {
        for f in MapFn::ALL {
            let input = match float {
                Float::F32 => FloatVec::F32(xs.iter().map(|&x| x as f32).collect()),
                Float::F64 => FloatVec::F64(xs.clone()),
            };
            let mut out = match float {
                Float::F32 => FloatVec::F32(vec![0.0; xs.len()]),
                Float::F64 => FloatVec::F64(vec![0.0; xs.len()]),
            };
            let r = map_floats(&device, f, &input, &mut out, true).unwrap();
            assert_eq!(
                r.verified,
                Some(true),
                "{f} {float}: {:?} ulps, bound {}",
                r.max_ulp,
                r.ulp_bound
            );
            assert!(r.kernel_s > 0.0 && r.total_s >= r.kernel_s, "{r:?}");
        }
    }
}

#[test]
fn map_takes_slices_of_the_callers_arrays() {
    if let Some(device) = first_device() {
        common::check_map_on_slices(&device);
    }
}

#[test]
fn transfer_measures_pageable_and_pinned_memory_both_ways() {
    let Some(device) = first_device() else {
        return;
    };
    let rows = transfer(&device, 1 << 20, 2).unwrap();
    let sizes = gpucalc::transfer::sizes(1 << 20).len();
    // PoCL (and every OpenCL runtime we know) maps CL_MEM_ALLOC_HOST_PTR buffers.
    assert_eq!(rows.len(), 2 * 2 * sizes, "{rows:?}");
    for memory in [HostMemory::Pageable, HostMemory::Pinned] {
        assert_eq!(
            rows.iter().filter(|r| r.memory == memory).count(),
            2 * sizes
        );
    }
    for r in &rows {
        assert!(
            r.min_s > 0.0 && r.avg_s >= r.min_s && r.bandwidth > 0.0,
            "{r:?}"
        );
    }
}

/// The bytes `gpucalc ... rng ARGS -o -` writes to standard output.
fn rng_bytes(device: &str, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["--device", device, "rng"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "-"]);
    let out = gpucalc(&all);
    assert!(
        out.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn the_binary_writes_the_cpu_bytes_on_opencl() {
    let Some(_) = opencl_devices() else {
        return;
    };
    let runs: [&[&str]; 4] = [
        &["1000", "--dist", "raw"],
        &["4099", "--dtype", "f32", "--seed", "7", "--offset", "5"],
        &["1001", "--dtype", "f64", "--offset", "3"],
        &["333", "--dist", "normal", "--dtype", "f32", "--offset", "2"],
    ];
    for args in runs {
        let opencl = rng_bytes("opencl", args);
        let expected_len =
            args[0].parse::<usize>().unwrap() * if args.contains(&"f64") { 8 } else { 4 };
        assert_eq!(opencl.len(), expected_len, "{args:?}");
        if args.contains(&"normal") {
            continue; // within an ulp bound, checked above, not bit for bit
        }
        assert!(opencl == rng_bytes("cpu", args), "{args:?}");
    }
    let out = gpucalc(&[
        "--device", "opencl", "stream", "-s", "5000", "-n", "3", "--json",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["verification"], "passed", "{text}");
}
