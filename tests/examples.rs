//! The numbered examples run to success on the device `auto` picks, as their
//! headers tell users to run them (with sizes small enough for a test).
//!
//! `cargo test` builds the examples before it runs any test; a run of this
//! file alone (`cargo test --test examples`) does not, and then says so and
//! does nothing, unless `GPUCALC_REQUIRE_EXAMPLES` is set, which makes a
//! missing example a failure. `scripts/test.sh` sets it, and so does the GPU
//! bundle's `run.sh`, where the examples run on the GPU.

use std::path::PathBuf;
use std::process::Command;

/// The built example `name`, beside this test's own directory
/// (`target/<profile>/deps/..` holds `examples/`).
fn example(name: &str) -> Option<PathBuf> {
    let deps = std::env::current_exe().ok()?.parent()?.to_path_buf();
    let path = deps.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

#[test]
fn every_numbered_example_runs() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args, says) in [
        ("01_pi", &["1e6"][..], "pi"),
        ("02_stream", &["auto", "2^18"][..], "verified: true"),
        ("03_rng_to_npy", &[][..], "wrote normals.npy"),
        ("04_map_and_matmul", &[][..], "verified: Some(true)"),
        ("05_matmul_kernels", &["128"][..], "128³ f64"),
    ] {
        let Some(path) = example(name) else {
            assert!(
                std::env::var_os("GPUCALC_REQUIRE_EXAMPLES").is_none(),
                "example {name} is not built (cargo test builds every example)"
            );
            eprintln!("skipped: example {name} is not built; run `cargo test`, which builds them");
            continue;
        };
        let out = Command::new(&path)
            .args(args)
            .current_dir(dir.path())
            .env_remove("GPUCALC_DEVICE")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stdout}{stderr}");
        assert!(stdout.contains(says), "{name}: {stdout}");
    }
    // 03's file is one NumPy (and gpucalc) reads back: a million normals.
    if example("03_rng_to_npy").is_some() {
        let normals =
            gpucalc::npy::read_npy::<f64>(&dir.path().join("normals.npy")).expect("normals.npy");
        assert_eq!(normals.shape, [1_000_000]);
        let mean = normals.data.iter().sum::<f64>() / 1e6;
        assert!(mean.abs() < 0.01, "mean {mean}");
    }
}
