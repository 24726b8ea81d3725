//! CUDA backend tests, built only with `--features cuda`.
//!
//! Without a usable driver (no GPU, or linked against the libcuda stub of
//! scripts/cuda-stub.sh) they check that every CUDA request fails with one line;
//! the tests that need a GPU then print why they skipped. On a GPU machine the
//! hit counts, raw and uniform random numbers must equal the CPU reference
//! exactly; `stream` and `map` must pass their verification, normal variates
//! stay within `NORMAL_ULP_BOUND`, and `transfer` measures both kinds of host memory.
//!
//! `GPUCALC_BIN` overrides the path of the `gpucalc` binary (for test executables
//! copied to another machine by scripts/gpu-bundle.sh).
#![cfg(feature = "cuda")]

mod common;

use common::run as gpucalc;

use gpucalc::map::{map_floats, MapFn};
use gpucalc::matmul::{matmul, matmul_with, MatmulOptions, Matrix};
use gpucalc::rng::{
    max_elements, rng_generate, rng_reference, Dist, RngSpec, RngType, NORMAL_ULP_BOUND,
};
use gpucalc::transfer::{transfer, HostMemory};
use gpucalc::{
    list_devices, pi, pi_reference_hits, stream, BackendKind, Device, DeviceInfo, DeviceSpec,
    Error, Float, FloatVec,
};

/// The CUDA rows of `gpucalc devices`.
fn cuda_devices() -> Vec<DeviceInfo> {
    list_devices()
        .devices
        .into_iter()
        .filter(|d| d.backend == BackendKind::Cuda)
        .collect()
}

/// The first CUDA device, or `None` after printing why `test` is skipped.
fn gpu(test: &str) -> Option<Device> {
    match Device::select(&DeviceSpec::Cuda(None)) {
        Ok(device) => Some(device),
        Err(e) => {
            eprintln!("{test}: skipped, needs a CUDA device: {e}");
            None
        }
    }
}

/// True where the CUDA device is scripts/cuda-fake-driver.c's, whose knobs
/// (FAKE_CUDA_*) a test can turn; otherwise prints why `test` is skipped.
fn fake_driver(test: &str) -> bool {
    let Some(gpu) = gpu(test) else {
        return false;
    };
    let fake = gpu.info().name.starts_with("Fake GPU");
    if !fake {
        eprintln!("{test}: skipped, needs the fake driver");
    }
    fake
}

/// True (after printing why `test` is skipped) where a GPU is present.
fn skip_with_gpu(test: &str) -> bool {
    let found = cuda_devices();
    if let Some(d) = found.first() {
        eprintln!("{test}: skipped, a CUDA device is present ({})", d.name);
    }
    !found.is_empty()
}

/// Whether the loader's cache lists a libcuda.so.1 (an installed driver).
fn libcuda_installed() -> bool {
    // ldconfig may not be on PATH (/sbin missing from a user's PATH).
    ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"]
        .iter()
        .find_map(|tool| std::process::Command::new(tool).arg("-p").output().ok())
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).contains("libcuda.so.1 "))
}

/// Whether the dynamic loader can find a libcuda.so.1 for this process:
/// installed, or in a folder of `LD_LIBRARY_PATH` (CI's stub).
fn libcuda_findable() -> bool {
    let on_path = std::env::var_os("LD_LIBRARY_PATH").is_some_and(|dirs| {
        std::env::split_paths(&dirs).any(|dir| dir.join("libcuda.so.1").exists())
    });
    on_path || libcuda_installed()
}

/// Checks that `message` says why CUDA cannot be used: the driver's error
/// code where a libcuda answered (a stub, or a driver without a GPU), else
/// that there is no driver library at all (a machine with no NVIDIA driver,
/// such as a copied gpu-bundle run on a CPU-only host). Where
/// scripts/cuda-env.sh put its stub in place (`GPUCALC_TEST_LIBCUDA_STUB`),
/// the stub's answer is required.
fn assert_no_driver_reason(message: &str) {
    if std::env::var_os("GPUCALC_TEST_LIBCUDA_STUB").is_some() || libcuda_findable() {
        assert!(message.contains("CUDA_ERROR_"), "{message}");
    } else {
        assert!(
            message.contains("no usable NVIDIA driver: libcuda.so.1"),
            "{message}"
        );
    }
}

fn assert_one_line(message: &str) {
    assert!(!message.trim_end().is_empty(), "empty message");
    assert_eq!(
        message.trim_end().lines().count(),
        1,
        "not one line: {message}"
    );
    assert!(!message.contains("panicked"), "a panic: {message}");
}

#[test]
fn without_a_driver_cuda_is_a_one_line_unavailable_error() {
    if skip_with_gpu("without_a_driver_cuda_is_a_one_line_unavailable_error") {
        return;
    }
    for spec in [
        DeviceSpec::Cuda(None),
        DeviceSpec::Cuda(Some(0)),
        DeviceSpec::Cuda(Some(7)),
    ] {
        let err = Device::select(&spec).expect_err("CUDA without a driver");
        assert!(
            matches!(
                err,
                Error::Unavailable {
                    backend: BackendKind::Cuda,
                    ..
                }
            ),
            "{spec}: {err:?}"
        );
        let message = err.to_string();
        assert_one_line(&message);
        assert_no_driver_reason(&message);
    }
    let list = list_devices();
    let note = list
        .notes
        .iter()
        .find(|n| n.starts_with("CUDA"))
        .expect("a note saying why there is no CUDA device");
    assert_one_line(note);
    assert_no_driver_reason(note);
    // `auto` falls back to another device instead of failing.
    let auto = Device::select(&DeviceSpec::Auto).expect("auto always finds a device");
    assert_ne!(auto.kind(), BackendKind::Cuda);
}

#[test]
fn the_binary_fails_with_one_line_without_a_driver() {
    if skip_with_gpu("the_binary_fails_with_one_line_without_a_driver") {
        return;
    }
    for args in [
        &["--device", "cuda", "pi", "1000"][..],
        &["--device", "cuda:1", "pi", "1000"],
        &["--device", "cuda", "matmul", "10", "10", "10"],
    ] {
        let out = gpucalc(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed a result");
        assert_one_line(&stderr);
        assert!(stderr.starts_with("gpucalc: error: "), "{stderr}");
        assert_no_driver_reason(&stderr);
    }
    // The listing still works, and says why CUDA is missing.
    let out = gpucalc(&["devices"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("note: CUDA"));
}

#[test]
fn without_libcuda_the_binary_starts_and_cuda_is_one_line() {
    // The driver library is opened at run time: a machine with no NVIDIA
    // driver at all runs the other devices and says why CUDA is missing.
    // LD_LIBRARY_PATH is removed below: only an installed driver remains.
    if libcuda_installed() {
        eprintln!("without_libcuda_…: skipped, this machine has libcuda.so.1 installed");
        return;
    }
    let run = |args: &[&str]| {
        common::gpucalc()
            .env_remove("LD_LIBRARY_PATH")
            .args(args)
            .output()
            .expect("the binary runs")
    };
    let out = run(&["--device", "cuda", "pi", "1000"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_one_line(&stderr);
    assert!(
        stderr.starts_with(
            "gpucalc: error: CUDA is unavailable: no usable NVIDIA driver: libcuda.so.1"
        ),
        "{stderr}"
    );
    let out = run(&["--device", "cpu", "pi", "1000"]);
    common::assert_success(&out);
    let out = run(&["devices"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("note: CUDA is unavailable: no usable NVIDIA driver"));
}

#[test]
fn cuda_hits_equal_the_reference_for_awkward_sizes() {
    let Some(gpu) = gpu("cuda_hits_equal_the_reference_for_awkward_sizes") else {
        return;
    };
    let sizes = [
        1u64,
        2,
        3,
        31,
        32,
        33,
        63,
        255,
        256,
        257,
        1023,
        1024,
        1025,
        4097,
        65_535,
        65_537,
        1_000_001,
        12_345_677,
        (1 << 24) + 1,
    ];
    for seed in [0u64, 1, 0xDEAD_BEEF_0123_4567, u64::MAX] {
        for &n in &sizes {
            let got = pi(&gpu, n, seed).expect("pi on CUDA");
            assert_eq!(got.samples, n);
            assert_eq!(got.hits, pi_reference_hits(seed, 0, n), "N {n} seed {seed}");
        }
    }
}

#[test]
fn cuda_equals_the_cpu_device_on_a_large_run() {
    let Some(gpu) = gpu("cuda_equals_the_cpu_device_on_a_large_run") else {
        return;
    };
    let cpu = Device::select(&DeviceSpec::Cpu).expect("the CPU");
    let n = (1u64 << 32) + 3;
    let on_gpu = pi(&gpu, n, 2024).expect("pi on CUDA");
    let on_cpu = pi(&cpu, n, 2024).expect("pi on the CPU");
    assert_eq!(on_gpu.hits, on_cpu.hits);
    assert!((on_gpu.estimate - std::f64::consts::PI).abs() < 1e-3);
}

#[test]
fn each_gpu_is_described_and_opens_with_its_kernels() {
    let Some(_) = gpu("each_gpu_is_described_and_opens_with_its_kernels") else {
        return;
    };
    for (i, d) in cuda_devices().iter().enumerate() {
        assert_eq!(d.index, i);
        assert_eq!(d.spec, format!("cuda:{i}"));
        assert_eq!(d.vendor, "NVIDIA");
        assert!(d.compute_units > 0 && d.memory_bytes > 0, "{d:?}");
        assert!(
            d.compute_capability.is_some() && d.driver_version.is_some(),
            "{d:?}"
        );
        assert!(d.fp64);
        // Opening loads the embedded module (fails here if the driver cannot use it).
        let device = Device::select(&DeviceSpec::Cuda(Some(i)))
            .unwrap_or_else(|e| panic!("opening cuda:{i}: {e}"));
        assert_eq!(device.info().name, d.name);
        assert_eq!(
            pi(&device, 1001, 5).unwrap().hits,
            pi_reference_hits(5, 0, 1001)
        );
    }
}

#[test]
fn two_handles_on_one_gpu_share_it_and_agree() {
    let (Some(a), Some(b)) = (
        gpu("two_handles_on_one_gpu_share_it_and_agree"),
        gpu("two_handles_on_one_gpu_share_it_and_agree"),
    ) else {
        return;
    };
    let n = 10_000_019;
    let expected = pi_reference_hits(77, 0, n);
    std::thread::scope(|s| {
        let ha = s.spawn(|| pi(&a, n, 77).unwrap().hits);
        let hb = s.spawn(|| pi(&b, n, 77).unwrap().hits);
        assert_eq!(ha.join().unwrap(), expected);
        assert_eq!(hb.join().unwrap(), expected);
    });
}

#[test]
fn an_index_out_of_range_lists_the_gpus() {
    let Some(_) = gpu("an_index_out_of_range_lists_the_gpus") else {
        return;
    };
    let count = cuda_devices().len();
    let err = Device::select(&DeviceSpec::Cuda(Some(count))).expect_err("out of range");
    assert!(matches!(err, Error::NoSuchDevice { .. }), "{err:?}");
    let message = err.to_string();
    assert_one_line(&message);
    assert!(message.contains("cuda:0"), "{message}");
    let out = gpucalc(&["--device", &format!("cuda:{count}"), "pi", "1000"]);
    assert_eq!(out.status.code(), Some(1));
    assert_one_line(&String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_binary_runs_pi_on_the_gpu() {
    let Some(_) = gpu("the_binary_runs_pi_on_the_gpu") else {
        return;
    };
    let out = gpucalc(&[
        "--device", "cuda", "pi", "1e7", "--seed", "3", "--verify", "--json",
    ]);
    common::assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["device"]["backend"], "cuda");
    assert_eq!(v["hits"], pi_reference_hits(3, 0, 10_000_000));
    assert_eq!(v["verification"], "passed");
}

#[test]
fn the_binary_runs_pi_on_the_gpu_and_the_cpu_at_once() {
    let Some(_) = gpu("the_binary_runs_pi_on_the_gpu_and_the_cpu_at_once") else {
        return;
    };
    let out = gpucalc(&[
        "--device", "all", "pi", "3e7", "--seed", "3", "--verify", "--json",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["hits"], pi_reference_hits(3, 0, 30_000_000));
    assert_eq!(v["verification"], "passed");
    let shares = v["shares"].as_array().expect("shares");
    let specs: Vec<&str> = shares.iter().filter_map(|s| s["device"].as_str()).collect();
    assert_eq!(specs[..2], ["cpu", "cuda:0"], "{shares:?}");
    let total: u64 = shares.iter().filter_map(|s| s["samples"].as_u64()).sum();
    assert_eq!(total, 30_000_000);
    assert_eq!(v["device"].as_array().map(Vec::len), Some(shares.len()));

    let out = gpucalc(&["--device", "all", "pi", "1e7"]);
    let text = String::from_utf8_lossy(&out.stdout);
    common::assert_success(&out);
    assert!(
        text.contains("at once") && text.contains("cuda:0"),
        "{text}"
    );
}

#[test]
fn stream_verifies_on_cuda() {
    let Some(gpu) = gpu("stream_verifies_on_cuda") else {
        return;
    };
    for float in [Float::F32, Float::F64] {
        for n in [1usize, 1000, (1 << 22) + 3] {
            let r = stream(&gpu, float, n, 4).unwrap_or_else(|e| panic!("{float} n {n}: {e}"));
            assert!(
                r.verified,
                "{float} n {n}: error {:e} (bound {:e}), dot error {:e} (bound {:e})",
                r.max_rel_error, r.rel_error_bound, r.dot_rel_error, r.dot_rel_error_bound
            );
            assert_eq!(r.kernels.len(), 5);
            assert!(r.kernels.iter().all(|k| k.min_s > 0.0 && k.bandwidth > 0.0));
        }
    }
    // More than the GPU holds is refused up front, in one line.
    let too_many = (gpu.info().memory_bytes / 8) as usize;
    let err = stream(&gpu, Float::F64, too_many, 2).expect_err("three arrays of all memory");
    assert!(matches!(err, Error::OutOfMemory { .. }), "{err:?}");
    assert_one_line(&err.to_string());
}

fn rng_specs(seed: u64, dists: &[(Dist, RngType)]) -> Vec<RngSpec> {
    dists
        .iter()
        .map(|&(d, t)| RngSpec::new(d, t, seed).unwrap())
        .collect()
}

const EXACT: [(Dist, RngType); 3] = [
    (Dist::Raw, RngType::U32),
    (Dist::Uniform, RngType::F32),
    (Dist::Uniform, RngType::F64),
];

#[test]
fn rng_raw_and_uniform_equal_the_reference_bit_for_bit() {
    let Some(gpu) = gpu("rng_raw_and_uniform_equal_the_reference_bit_for_bit") else {
        return;
    };
    for seed in [0u64, 12345, u64::MAX - 1] {
        for spec in rng_specs(seed, &EXACT) {
            let end = max_elements(&spec);
            for (first, n) in [
                (0u64, 1usize),
                (1, 3),
                (2, 2),
                (3, 130),
                (0, 1000),
                (7, 70_001),
                ((1 << 34) - 5, 50),
                ((1 << 32) - 2, 9),
                (end - 10, 10),
                (end - 7, 6),
            ] {
                let got = rng_generate(&gpu, &spec, first, n).expect("rng on CUDA");
                for i in 0..n {
                    let want = rng_reference(&spec, first + i as u64);
                    assert_eq!(
                        got.get_f64(i).to_bits(),
                        want.to_bits(),
                        "{spec:?} first {first} element {i}"
                    );
                }
            }
        }
    }
}

#[test]
fn rng_raw_and_uniform_equal_the_cpu_device_on_millions() {
    let Some(gpu) = gpu("rng_raw_and_uniform_equal_the_cpu_device_on_millions") else {
        return;
    };
    let cpu = Device::select(&DeviceSpec::Cpu).unwrap();
    for spec in rng_specs(99, &EXACT) {
        for (first, n) in [(0u64, 3_000_001usize), (5, 2_000_003)] {
            let on_gpu = rng_generate(&gpu, &spec, first, n).expect("rng on CUDA");
            let on_cpu = rng_generate(&cpu, &spec, first, n).expect("rng on the CPU");
            assert!(on_gpu == on_cpu, "{spec:?} first {first} n {n}");
        }
    }
}

#[test]
fn rng_normal_is_within_the_ulp_bound() {
    let Some(gpu) = gpu("rng_normal_is_within_the_ulp_bound") else {
        return;
    };
    let normal = [(Dist::Normal, RngType::F32), (Dist::Normal, RngType::F64)];
    for spec in rng_specs(2024, &normal) {
        for (first, n) in [(0u64, 100_001usize), (3, 1001), ((1 << 40) + 1, 4097)] {
            let got = rng_generate(&gpu, &spec, first, n).expect("rng on CUDA");
            let worst = (0..n)
                .map(|i| {
                    common::ulps_apart(
                        got.get_f64(i),
                        rng_reference(&spec, first + i as u64),
                        spec.dtype,
                    )
                })
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
    let Some(gpu) = gpu("map_verifies_every_function_in_both_precisions") else {
        return;
    };
    let xs = common::map_inputs(200_003);
    for f in MapFn::ALL {
        let input = FloatVec::F64(xs.clone());
        let mut out = FloatVec::F64(vec![0.0; xs.len()]);
        let r = map_floats(&gpu, f, &input, &mut out, true).expect("map on CUDA");
        assert_eq!(r.verified, Some(true), "{f} f64: {:?} ulps", r.max_ulp);
        assert!(r.kernel_s > 0.0 && r.total_s > 0.0);

        let input = FloatVec::F32(xs.iter().map(|&x| x as f32).collect());
        let mut out = FloatVec::F32(vec![0.0; xs.len()]);
        let r = map_floats(&gpu, f, &input, &mut out, true).expect("map on CUDA");
        assert_eq!(r.verified, Some(true), "{f} f32: {:?} ulps", r.max_ulp);
    }
}

#[test]
fn map_goes_through_in_pieces() {
    let Some(gpu) = gpu("map_goes_through_in_pieces") else {
        return;
    };
    // 80 MB of f32: several pieces on two streams.
    let n = 20_000_003;
    let input = FloatVec::F32((0..n).map(|i| i as f32).collect());
    let mut out = FloatVec::F32(vec![-1.0; n]);
    let r = map_floats(&gpu, MapFn::Sqrt, &input, &mut out, true).expect("map on CUDA");
    assert_eq!(r.verified, Some(true), "{:?} ulps", r.max_ulp);
    assert_eq!(r.elements, n);
}

#[test]
fn map_takes_slices_of_the_callers_arrays() {
    if let Some(gpu) = gpu("map_takes_slices_of_the_callers_arrays") {
        common::check_map_on_slices(&gpu);
    }
}

#[test]
fn transfer_measures_pageable_and_pinned_memory_both_ways() {
    let Some(gpu) = gpu("transfer_measures_pageable_and_pinned_memory_both_ways") else {
        return;
    };
    let rows = transfer(&gpu, 1 << 22, 3).expect("transfer on CUDA");
    let sizes = gpucalc::transfer::sizes(1 << 22).len();
    assert_eq!(rows.len(), 2 * 2 * sizes);
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

#[test]
fn the_binary_runs_the_workloads_on_the_gpu() {
    let Some(_) = gpu("the_binary_runs_the_workloads_on_the_gpu") else {
        return;
    };
    for args in [
        &[
            "--device", "cuda", "stream", "-s", "1048576", "-n", "3", "--float", "--json",
        ][..],
        &["--device", "cuda", "map", "sqrt", "100000", "--json"],
        &[
            "--device", "cuda", "rng", "100000", "--dtype", "f32", "--json",
        ],
        &[
            "--device",
            "cuda",
            "transfer",
            "--max-bytes",
            "65536",
            "--reps",
            "2",
            "--json",
        ],
    ] {
        let out = gpucalc(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(v["device"]["backend"], "cuda", "{args:?}");
        if !v["verification"].is_null() {
            assert_eq!(v["verification"], "passed", "{args:?}");
        }
    }
    // Raw words on stdout equal the CPU's, byte for byte.
    let raw = |device: &str| {
        let out = gpucalc(&[
            "--device", device, "rng", "10001", "--dist", "raw", "--seed", "8", "--offset", "3",
            "-o", "-",
        ]);
        common::assert_success(&out);
        out.stdout
    };
    assert_eq!(raw("cuda"), raw("cpu"));
}

/// Shapes with even k and n, which f64 runs on the tensor cores where the GPU
/// has them: partial tiles, k not a multiple of the k step, one row, two
/// columns, many k steps.
const EVEN_SHAPES: [(usize, usize, usize); 8] = [
    (1, 2, 2),
    (67, 130, 30),
    (129, 258, 10),
    (1, 256, 6),
    (300, 2, 4),
    (130, 66, 18),
    (33, 34, 136),
    (520, 260, 200),
];

#[test]
fn matmul_is_right_for_awkward_shapes_in_both_precisions() {
    let Some(gpu) = gpu("matmul_is_right_for_awkward_shapes_in_both_precisions") else {
        return;
    };
    // The awkward shapes, and products big enough for the large tiles.
    let big = [(2049, 2050, 33), (2048, 2048, 64), (2050, 2048, 130)];
    let shapes: Vec<_> = common::MATMUL_ODD_SHAPES
        .iter()
        .chain(&EVEN_SHAPES)
        .chain(&big)
        .copied()
        .collect();
    common::check_matmul_shapes(&gpu, &shapes, &[Float::F32, Float::F64], 2, 1 << 25, None);
}

/// Whether f64 products can take the tensor-core kernels on `gpu`: with the
/// default fatbin (machine code for sm_80 and sm_90), compute capability 8.0
/// and 9.0 do.
fn has_fp64_tensor_cores(gpu: &Device) -> bool {
    let cc = gpu.info().compute_capability.clone().unwrap_or_default();
    cc == "8.0" || cc == "9.0"
}

#[test]
fn every_matmul_kernel_is_right_on_its_own() {
    let Some(gpu) = gpu("every_matmul_kernel_is_right_on_its_own") else {
        return;
    };
    // The measured choice runs whichever kernel is fastest here; each one
    // must also be right where it is not chosen. The tensor-core kernels
    // take only the even shapes.
    let all: Vec<_> = common::MATMUL_ODD_SHAPES
        .iter()
        .chain(&EVEN_SHAPES)
        .copied()
        .collect();
    for kernel in ["gc_gemm_f32_l", "gc_gemm_f32_s"] {
        common::check_matmul_shapes(&gpu, &all, &[Float::F32], 1, 1 << 25, Some(kernel));
    }
    for kernel in ["gc_gemm_f64_l", "gc_gemm_f64_s"] {
        common::check_matmul_shapes(&gpu, &all, &[Float::F64], 1, 1 << 25, Some(kernel));
    }
    if has_fp64_tensor_cores(&gpu) {
        for kernel in ["gc_gemm_f64_tc_l", "gc_gemm_f64_tc_s"] {
            common::check_matmul_shapes(
                &gpu,
                &EVEN_SHAPES,
                &[Float::F64],
                1,
                1 << 25,
                Some(kernel),
            );
        }
    } else {
        eprintln!(
            "every_matmul_kernel_is_right_on_its_own: no FP64 tensor cores, their kernels skipped"
        );
    }
}

#[test]
fn f64_products_try_the_tensor_cores_where_the_gpu_has_them() {
    let Some(gpu) = gpu("f64_products_try_the_tensor_cores_where_the_gpu_has_them") else {
        return;
    };
    let has = has_fp64_tensor_cores(&gpu);
    for ((m, n, k), even) in [
        ((300, 258, 34), true),
        ((300, 257, 34), false),
        ((30, 28, 7), false),
    ] {
        let a = Matrix::random(m, k, Float::F64, 1).unwrap();
        let b = Matrix::random(k, n, Float::F64, 2).unwrap();
        let (_, result) = matmul(&gpu, &a, &b, 1, true).unwrap();
        assert_eq!(result.verified, Some(true), "{result:?}");
        // Every kernel that can take the product was timed, the chosen one among them.
        let tried: Vec<&str> = result.tried.iter().map(|t| t.kernel.as_str()).collect();
        assert_eq!(
            tried.iter().filter(|t| t.contains("_tc_")).count(),
            if has && even { 2 } else { 0 },
            "{m}x{n}x{k}: {tried:?}"
        );
        assert_eq!(tried.len(), if has && even { 4 } else { 2 }, "{tried:?}");
        assert!(
            tried.iter().any(|t| result.kernel.starts_with(t)),
            "{} not in {tried:?}",
            result.kernel
        );
        assert!(result
            .tried
            .windows(2)
            .all(|w| w[0].seconds <= w[1].seconds));
        // The choice is kept for the shape: no second measurement.
        let (_, again) = matmul(&gpu, &a, &b, 1, true).unwrap();
        assert_eq!(
            (&again.kernel, &again.tried),
            (&result.kernel, &result.tried)
        );
        // f32 never takes them (no TF32: it would not be an f32 product).
        let a = Matrix::random(m, k, Float::F32, 1).unwrap();
        let b = Matrix::random(k, n, Float::F32, 2).unwrap();
        let (_, result) = matmul(&gpu, &a, &b, 1, true).unwrap();
        assert!(!result.kernel.contains("tensor"), "{}", result.kernel);
        assert!(result.tried.iter().all(|t| !t.kernel.contains("_tc_")));
    }
}

#[test]
fn named_matmul_kernels_are_refused_where_they_cannot_run() {
    let Some(gpu) = gpu("named_matmul_kernels_are_refused_where_they_cannot_run") else {
        return;
    };
    let refusal = |m, n, k, float, kernel: &str| {
        let a = Matrix::random(m, k, float, 1).unwrap();
        let b = Matrix::random(k, n, float, 2).unwrap();
        let err = matmul_with(&gpu, &a, &b, &MatmulOptions::new(1).kernel(kernel)).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        let message = err.to_string();
        assert_one_line(&message);
        message
    };
    let message = refusal(8, 8, 8, Float::F64, "gc_gemm_f64_xl");
    assert!(
        message.contains("gc_gemm_f64_tc_l, gc_gemm_f64_tc_s, gc_gemm_f64_l, gc_gemm_f64_s"),
        "{message}"
    );
    let message = refusal(8, 8, 8, Float::F64, "gc_gemm_f32_l");
    assert!(message.contains("no f64 matmul kernel"), "{message}");
    let message = refusal(8, 8, 7, Float::F64, "gc_gemm_f64_tc_s");
    if has_fp64_tensor_cores(&gpu) {
        assert!(message.contains("even K and N"), "{message}");
    } else {
        assert!(message.contains("FP64 tensor cores"), "{message}");
    }
}

#[test]
fn the_measured_choice_keeps_the_rule_or_a_clearly_faster_kernel() {
    // Only the fake driver can be told which kernel is fast or what the GPU
    // is; on a GPU the other matmul tests check the choice.
    if !fake_driver("the_measured_choice_keeps_the_rule_or_a_clearly_faster_kernel") {
        return;
    }
    let run = |size: &str, env: &[(&str, &str)], extra: &[&str]| {
        let mut command = common::gpucalc();
        command.args(["--device", "cuda", "matmul", size, size, size, "--json"]);
        command.args(extra).envs(env.iter().copied());
        command.output().unwrap()
    };
    let json = |out: std::process::Output| -> serde_json::Value {
        common::assert_success(&out);
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    // Times within 1% of each other (the fake's): the rule of thumb's choice,
    // which on the fake's 4 multiprocessors at 128³ is the small tensor-core
    // tiles, though the large ones are listed first.
    let v = json(run("128", &[], &[]));
    assert!(
        v["kernel"]
            .as_str()
            .unwrap()
            .starts_with("gc_gemm_f64_tc_s "),
        "{v}"
    );
    assert_eq!(v["tried"].as_array().unwrap().len(), 4, "{v}");
    // One three times faster: that one, listed first.
    let v = json(run("256", &[("FAKE_CUDA_FAST", "gc_gemm_f64_s")], &[]));
    assert!(
        v["kernel"].as_str().unwrap().starts_with("gc_gemm_f64_s "),
        "{v}"
    );
    assert_eq!(v["tried"][0]["kernel"], "gc_gemm_f64_s", "{v}");
    assert!(v["tried"][0]["seconds"].as_f64().unwrap() < 0.6e-3, "{v}");
    assert_eq!(v["verification"], "passed", "{v}");
    // A GPU without FP64 tensor cores worth using (8.6): only gemm.h's kernels,
    // and the tensor-core ones refused by name.
    let v = json(run("256", &[("FAKE_CUDA_CC", "86")], &[]));
    let tried = v["tried"].as_array().unwrap();
    assert_eq!(tried.len(), 2, "{v}");
    assert!(
        tried
            .iter()
            .all(|t| !t["kernel"].as_str().unwrap().contains("_tc_")),
        "{v}"
    );
    let out = run(
        "256",
        &[("FAKE_CUDA_CC", "86")],
        &["--kernel", "gc_gemm_f64_tc_l"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("FP64 tensor cores") && stderr.contains("8.6"),
        "{stderr}"
    );
    assert_one_line(&stderr);
}

#[test]
fn an_element_the_chosen_kernel_leaves_unwritten_fails_verification() {
    if !fake_driver("an_element_the_chosen_kernel_leaves_unwritten_fails_verification") {
        return;
    }
    // gc_gemm_f64_s is measured fastest and kept, and skips C's last element;
    // the other candidates, timed first, wrote it into the same device buffer.
    let out = common::gpucalc()
        .args(["--device", "cuda", "matmul", "256", "256", "256", "--json"])
        .env("FAKE_CUDA_FAST", "gc_gemm_f64_s")
        .env("FAKE_CUDA_SKIP", "gc_gemm_f64_s")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        v["kernel"].as_str().unwrap().starts_with("gc_gemm_f64_s "),
        "{v}"
    );
    assert_eq!(v["verification"], "failed", "{v}");
    assert_eq!(out.status.code(), Some(3), "{v}");
}

#[test]
fn a_result_that_fails_verification_does_not_replace_the_output_file() {
    if !fake_driver("a_result_that_fails_verification_does_not_replace_the_output_file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kept = b"the user's file";
    // Each workload with its kernel made to get the last element wrong, then
    // the same run with a right kernel, which writes the file.
    for (kernel, args) in [
        ("gc_map_f64", &["map", "sqrt", "1000"][..]),
        ("gc_rng_uniform_f32", &["rng", "5000", "--dtype", "f32"]),
        (
            "gc_gemm_f32_s",
            &[
                "matmul",
                "70",
                "50",
                "30",
                "--dtype",
                "f32",
                "--kernel",
                "gc_gemm_f32_s",
            ],
        ),
    ] {
        let path = dir.path().join(format!("{}.npy", args[0]));
        std::fs::write(&path, kept).unwrap();
        let run = |skip: &str| {
            let out = common::gpucalc()
                .args(["--device", "cuda", "--json"])
                .args(args)
                .arg("-o")
                .arg(&path)
                .env("FAKE_CUDA_SKIP", skip)
                .output()
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stderr))
            });
            (out.status.code(), v)
        };
        let (code, v) = run(kernel);
        assert_eq!(code, Some(3), "{args:?}: {v}");
        assert_eq!(v["verification"], "failed", "{args:?}: {v}");
        assert_eq!(v["output_written"], false, "{args:?}: {v}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            kept,
            "{args:?} replaced the file"
        );
        let (code, v) = run("none");
        assert_eq!(code, Some(0), "{args:?}: {v}");
        assert_eq!(v["output_written"], true, "{args:?}: {v}");
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"\x93NUMPY"), "{args:?} wrote no .npy");
    }
    // No temporary file is left behind by the runs that wrote nothing.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["map.npy", "matmul.npy", "rng.npy"]);
}

#[test]
fn auto_says_why_it_passed_over_a_gpu_that_would_not_open() {
    if !fake_driver("auto_says_why_it_passed_over_a_gpu_that_would_not_open") {
        return;
    }
    // A driver too old for the kernels' PTX: listed, but the kernels do not load.
    let out = common::gpucalc()
        .args(["pi", "1000", "--json"])
        .env("FAKE_CUDA_LOAD", "222")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_ne!(v["device"]["backend"], "cuda", "{v}");
    assert_one_line(&stderr);
    assert!(
        stderr.starts_with("gpucalc: note: auto passed over cuda:0 (Fake GPU 0): ")
            && stderr.contains("CUDA_ERROR_UNSUPPORTED_PTX_VERSION"),
        "{stderr}"
    );
}

/// The one-line error (exit 1) of `--device cuda pi` with the fake driver's
/// `knob` set to `value`.
fn failed_cuda_pi(knob: &str, value: &str) -> String {
    let out = common::gpucalc()
        .args(["--device", "cuda", "pi", "1000000"])
        .env(knob, value)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{knob}={value}: {stderr}");
    assert_one_line(&stderr);
    stderr
}

#[test]
fn a_module_that_fails_at_its_first_use_is_explained_as_at_loading() {
    if !fake_driver("a_module_that_fails_at_its_first_use_is_explained_as_at_loading") {
        return;
    }
    // Lazy loading (CUDA 12.2's default): a driver too old for the PTX
    // refuses it at the first kernel lookup, not at cuModuleLoadData.
    let stderr = failed_cuda_pi("FAKE_CUDA_LAZY", "222");
    assert!(
        stderr.contains("loading the CUDA kernels")
            && stderr.contains("CUDA_ERROR_UNSUPPORTED_PTX_VERSION")
            && stderr.contains("install an NVIDIA driver for CUDA"),
        "{stderr}"
    );
}

#[test]
fn the_binary_runs_matmul_on_the_gpu() {
    let Some(_) = gpu("the_binary_runs_matmul_on_the_gpu") else {
        return;
    };
    for dtype in ["f32", "f64"] {
        let out = gpucalc(&[
            "--device", "cuda", "matmul", "100", "90", "80", "--dtype", dtype, "--json",
        ]);
        common::assert_success(&out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(v["device"]["backend"], "cuda");
        assert_eq!(v["verification"], "passed", "{v}");
        assert!(v["gflops"].as_f64().unwrap() > 0.0, "{v}");
    }
}

#[test]
fn a_kernel_fault_is_named_and_later_errors_point_back_at_it() {
    if !fake_driver("a_kernel_fault_is_named_and_later_errors_point_back_at_it") {
        return;
    }
    // A fault leaves the context unusable: the kernel that faulted is named,
    // with what that means for the rest of the process.
    let stderr = failed_cuda_pi("FAKE_CUDA_FAULT", "716");
    assert!(
        stderr.contains("kernel gc_pi_hits")
            && stderr.contains("CUDA_ERROR_MISALIGNED_ADDRESS (716)")
            && stderr.contains("later CUDA work on it in this process fails too"),
        "{stderr}"
    );
    // In a suite, each later row names the first fault rather than its own call.
    let out = common::gpucalc()
        .args([
            "--device",
            "cuda",
            "bench",
            "--quick",
            "--only",
            "pi,stream",
        ])
        .args(["--max-time", "60"])
        .env("FAKE_CUDA_FAULT", "700")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = stdout.lines().filter(|l| l.contains("error (")).collect();
    assert!(rows.len() > 1, "{stdout}");
    assert!(rows[0].contains("kernel gc_pi_hits"), "{stdout}");
    assert!(
        rows[1..]
            .iter()
            .all(|row| row.contains("after an earlier fault in this process (kernel gc_pi_hits")),
        "{stdout}"
    );
}
