//! `rng` on the CPU: every element equals the one-at-a-time reference (normal
//! within the ulp bound: it uses vectorised ln/sin/cos), pieces
//! concatenate, and files load as NumPy would.

mod common;

use std::process::Command;

use gpucalc::npy::read_npy;
use gpucalc::rng::{rng_generate, rng_reference, Dist, RngSpec, RngType, RngVec, NORMAL_ULP_BOUND};
use gpucalc::{Device, DeviceSpec};

fn specs(seed: u64) -> Vec<RngSpec> {
    [
        (Dist::Raw, RngType::U32),
        (Dist::Uniform, RngType::F32),
        (Dist::Uniform, RngType::F64),
        (Dist::Normal, RngType::F32),
        (Dist::Normal, RngType::F64),
    ]
    .into_iter()
    .map(|(d, t)| RngSpec::new(d, t, seed).unwrap())
    .collect()
}

#[test]
fn every_element_equals_the_reference_at_any_offset() {
    let device = Device::select(&DeviceSpec::Cpu).unwrap();
    for seed in [0, 12345, u64::MAX - 1] {
        for spec in specs(seed) {
            for (first, n) in [
                (0u64, 1usize),
                (1, 3),
                (3, 130),
                (0, 1000),
                (7, 70_001),
                ((1 << 34) - 5, 50),
            ] {
                let got = rng_generate(&device, &spec, first, n).unwrap();
                for i in 0..n {
                    let want = rng_reference(&spec, first + i as u64);
                    let got = got.get_f64(i);
                    if spec.dist == Dist::Normal {
                        // Vectorised ln/sin/cos, not libm's: the NORMAL_ULP_BOUND ulps.
                        let eps = match spec.dtype {
                            RngType::F64 => f64::EPSILON,
                            _ => f64::from(f32::EPSILON),
                        };
                        let bound = f64::from(NORMAL_ULP_BOUND) * eps * want.abs().max(1.0);
                        assert!((got - want).abs() <= bound, "{spec:?} {first} {i}");
                    } else {
                        assert_eq!(
                            got.to_bits(),
                            want.to_bits(),
                            "{spec:?} first {first} i {i}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn pieces_concatenate_to_the_whole() {
    let device = Device::select(&DeviceSpec::Cpu).unwrap();
    for spec in specs(9) {
        let whole = rng_generate(&device, &spec, 0, 300_001).unwrap();
        let a = rng_generate(&device, &spec, 0, 100_003).unwrap();
        let b = rng_generate(&device, &spec, 100_003, 199_998).unwrap();
        let mut joined = a.le_bytes(a.len());
        joined.extend(b.le_bytes(b.len()));
        assert_eq!(whole.le_bytes(whole.len()), joined, "{spec:?}");
    }
}

#[test]
fn cli_writes_npy_files_and_raw_bytes_that_agree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.npy");
    let gpucalc = common::bin();
    let out = Command::new(&gpucalc)
        .args([
            "--device", "cpu", "rng", "100_001", "--dtype", "f32", "--seed", "3", "--offset", "17",
            "-o",
        ])
        .arg(&path)
        .output()
        .unwrap();
    common::assert_success(&out);
    let file = read_npy::<f32>(&path).unwrap();
    assert_eq!(file.shape, vec![100_001]);
    // One chunk: its first and last 256 elements and 256 between.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("verification passed (768 sampled elements bit for bit equal"),
        "{text}"
    );
    // min and max print as the f32s they are, in their shortest digits.
    let min = file.data.iter().copied().fold(f32::INFINITY, f32::min);
    let max = file.data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    assert!(
        text.contains(&format!(", min {min}, max {max}\n")),
        "{min} {max}: {text}"
    );
    let skipped = Command::new(&gpucalc)
        .args(["--device", "cpu", "rng", "1000", "--no-verify", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&skipped.stdout).unwrap();
    assert_eq!(
        (&v["verification"], &v["checked"]),
        (&"skipped".into(), &0.into())
    );

    let raw = Command::new(&gpucalc)
        .args([
            "--device", "cpu", "rng", "100001", "--dtype", "f32", "--seed", "3", "--offset", "17",
            "-o", "-",
        ])
        .output()
        .unwrap();
    assert!(raw.status.success());
    let bytes: Vec<u8> = file.data.iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(raw.stdout, bytes);
    let spec = RngSpec::new(Dist::Uniform, RngType::F32, 3).unwrap();
    assert_eq!(f64::from(file.data[0]), rng_reference(&spec, 17));
    assert!(matches!(RngVec::zeros(RngType::F32, 1), RngVec::F32(_)));
}

#[test]
fn cli_refuses_bad_requests_without_touching_files() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("keep.npy");
    std::fs::write(&keep, b"precious").unwrap();
    let gpucalc = common::bin();
    for args in [
        &["rng", "10", "--dist", "raw", "--dtype", "f32"][..],
        &["rng", "10", "--dist", "normal", "--dtype", "u32"][..],
        &["rng", "10", "--dist", "poisson"][..],
        &["rng", "0"][..],
        &["rng", "10", "-o", "out.txt"][..],
        &["rng", "10", "-o", "-", "--json"][..],
        &[
            "rng",
            "10",
            "--dist",
            "raw",
            "--offset",
            "18446744073709551615",
        ][..],
    ] {
        let out = Command::new(&gpucalc)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    // The last raw word is element 2^64 - 1, one past what a u64 range reaches.
    let out = Command::new(&gpucalc)
        .args([
            "rng",
            "1",
            "--dist",
            "raw",
            "--offset",
            "18446744073709551615",
        ])
        .args(["-o", "-"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("first 2^64 - 1 = 18446744073709551615 raw u32"),
        "{err}"
    );
    // A write that fails (directory missing) leaves nothing behind.
    let out = Command::new(&gpucalc)
        .args(["rng", "10", "-o"])
        .arg(dir.path().join("missing/x.npy"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&keep).unwrap(), b"precious");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
