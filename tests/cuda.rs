//! CUDA backend tests, built only with `--features cuda`.
//!
//! Without a usable driver (no GPU, or linked against the libcuda stub of
//! scripts/cuda-stub.sh) they check that every CUDA request fails with one line;
//! the tests that need a GPU then print why they skipped. On a GPU machine the
//! hit counts must equal the CPU reference exactly.
//!
//! `GPUCALC_BIN` overrides the path of the `gpucalc` binary (for test executables
//! copied to another machine by scripts/gpu-bundle.sh).
#![cfg(feature = "cuda")]

use std::path::PathBuf;
use std::process::{Command, Output};

use gpucalc::{
    list_devices, pi, pi_reference_hits, BackendKind, Device, DeviceInfo, DeviceSpec, Error,
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

/// True (after printing why `test` is skipped) where a GPU is present.
fn skip_with_gpu(test: &str) -> bool {
    let found = cuda_devices();
    if let Some(d) = found.first() {
        eprintln!("{test}: skipped, a CUDA device is present ({})", d.name);
    }
    !found.is_empty()
}

fn gpucalc(args: &[&str]) -> Output {
    let bin = std::env::var_os("GPUCALC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_gpucalc")));
    Command::new(&bin)
        .args(args)
        .env_remove("GPUCALC_DEVICE")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
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
        assert!(message.contains("CUDA_ERROR_"), "{message}");
    }
    let list = list_devices();
    let note = list
        .notes
        .iter()
        .find(|n| n.starts_with("CUDA"))
        .expect("a note saying why there is no CUDA device");
    assert_one_line(note);
    assert!(note.contains("CUDA_ERROR_"), "{note}");
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
    ] {
        let out = gpucalc(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed a result");
        assert_one_line(&stderr);
        assert!(stderr.starts_with("gpucalc: error: "), "{stderr}");
        assert!(stderr.contains("CUDA_ERROR_"), "{stderr}");
    }
    // The listing still works, and says why CUDA is missing.
    let out = gpucalc(&["devices"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("note: CUDA"));
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["device"]["backend"], "cuda");
    assert_eq!(v["hits"], pi_reference_hits(3, 0, 10_000_000));
    assert_eq!(v["verification"], "passed");
}
