//! `matmul` on OpenCL (PoCL's CPU device in CI): awkward shapes pass the
//! library's verification and match the CPU path within the error bound, in f32
//! and f64; the binary checks by default and multiplies `.npy` inputs.
//!
//! With no OpenCL platform every test fails, saying why; `GPUCALC_SKIP_OPENCL=1`
//! turns that into a skip with the reason printed.
#![cfg(feature = "opencl")]

mod common;

use std::process::Output;

use gpucalc::matmul::{matmul, Matrix};
use gpucalc::npy::{read_npy_float, write_npy};
use gpucalc::{Device, DeviceSpec, Float, FloatVec};

#[test]
fn awkward_shapes_are_right_in_both_precisions() {
    let Some(info) = common::opencl_devices().map(|d| d[0].clone()) else {
        return;
    };
    let device = Device::select(&DeviceSpec::OpenCl(Some(info.index))).unwrap();
    // The awkward shapes, one of whole 64x64 tiles and whole k steps, and one
    // with a short last k step.
    let mut shapes = common::MATMUL_ODD_SHAPES.to_vec();
    shapes.extend([(130, 132, 128), (130, 136, 164)]);
    let floats: &[Float] = if info.fp64 {
        &[Float::F32, Float::F64]
    } else {
        &[Float::F32]
    };
    common::check_matmul_shapes(&device, &shapes, floats, 1, usize::MAX, None);
}

#[test]
fn matrices_of_different_types_are_refused() {
    let Some(info) = common::opencl_devices().map(|d| d[0].clone()) else {
        return;
    };
    let device = Device::select(&DeviceSpec::OpenCl(Some(info.index))).unwrap();
    let a = Matrix::random(3, 4, Float::F32, 1).unwrap();
    let b = Matrix::random(4, 2, Float::F64, 2).unwrap();
    let err = matmul(&device, &a, &b, 1, true).unwrap_err().to_string();
    assert!(err.contains("A is f32 but B is f64"), "{err}");
}

fn run(args: &[&str]) -> Output {
    common::gpucalc().args(args).output().expect("run gpucalc")
}

fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn the_binary_verifies_by_default() {
    let Some(_) = common::opencl_devices().map(|d| d[0].clone()) else {
        return;
    };
    for dtype in ["f32", "f64"] {
        let value = json(&run(&[
            "--device", "opencl", "matmul", "100", "90", "80", "--dtype", dtype, "--json",
        ]));
        assert_eq!(value["verification"], "passed", "{value}");
        assert_eq!(value["device"]["backend"], "opencl", "{value}");
        assert_eq!(
            (&value["m"], &value["n"], &value["k"]),
            (&100.into(), &90.into(), &80.into())
        );
        assert!(value["gflops"].as_f64().unwrap() > 0.0, "{value}");
    }
}

#[test]
fn npy_inputs_through_the_binary() {
    let Some(_) = common::opencl_devices().map(|d| d[0].clone()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    for float in [Float::F32, Float::F64] {
        let a = Matrix::random(37, 19, float, 5).unwrap();
        let b = Matrix::random(19, 23, float, 6).unwrap();
        for (name, m) in [("a.npy", &a), ("b.npy", &b)] {
            let shape = [m.rows as u64, m.cols as u64];
            match &m.data {
                FloatVec::F32(v) => write_npy(&path(name), &shape, v),
                FloatVec::F64(v) => write_npy(&path(name), &shape, v),
            }
            .unwrap();
        }
        let c_path = path("c.npy");
        let value = json(&run(&[
            "--device",
            "opencl",
            "matmul",
            "--a",
            path("a.npy").to_str().unwrap(),
            "--b",
            path("b.npy").to_str().unwrap(),
            "-o",
            c_path.to_str().unwrap(),
            "--json",
        ]));
        assert_eq!(value["verification"], "passed", "{value}");
        let (shape, data) = read_npy_float(&c_path).unwrap();
        assert_eq!(shape, [37, 23]);
        assert_eq!(data.float(), float);
        let c = Matrix::new(37, 23, data).unwrap();
        let cpu = Device::select(&DeviceSpec::Cpu).unwrap();
        let (reference, _) = matmul(&cpu, &a, &b, 1, false).unwrap();
        assert!(
            common::worst_matmul_difference(&a, &b, &c, &reference) <= 1.0,
            "{float}"
        );
    }
    // Inner dimensions that differ are one line, not a panic.
    let out = run(&[
        "--device",
        "opencl",
        "matmul",
        "--a",
        path("a.npy").to_str().unwrap(),
        "--b",
        path("a.npy").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("inner dimensions differ"), "{err}");
}
