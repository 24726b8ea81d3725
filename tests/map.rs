//! `map` through the library and the CLI on the CPU.

mod common;

use gpucalc::map::{map, map_floats, MapFn};
use gpucalc::npy::{read_npy, write_npy};
use gpucalc::{Device, DeviceSpec, FloatVec};

/// The vectorised CPU loop gives `apply_f64`'s and `apply_f32`'s bits for
/// every element, with zeros, infinities, NaNs, subnormals and values outside
/// the fast paths' domains mixed into the blocks it vectorises.
#[test]
fn every_function_matches_scalar_application_in_both_precisions() {
    let device = Device::select(&DeviceSpec::Cpu).unwrap();
    let mut xs = common::map_inputs(200_003);
    // Past 8.2e5 sin and cos in f64 take the far reduction for whole
    // blocks: integers as `map sin N` gives them, a sweep from 1.7e9 (the
    // far reduction's end) down to -1.6e10 (libm's), and blocks with near
    // and far inputs mixed.
    xs.extend((0..20_000).map(|i| 8e5 + f64::from(i) * 3.0));
    xs.extend((0..20_000).map(|i| 1.7e9 - f64::from(i) * 9e5));
    xs.extend((0..2_000).map(|i| if i % 3 == 0 { 1.5 } else { -2e6 - f64::from(i) }));
    // Specials inside blocks of ordinary values, not only at the end.
    for (i, &x) in [f64::NAN, -1.0, 0.0, 1e300, f64::INFINITY, 5e-324]
        .iter()
        .enumerate()
    {
        xs[1000 * i + 37] = x;
    }
    let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
    for f in MapFn::ALL {
        let mut out = vec![f64::NAN; xs.len()];
        let r = map(&device, f, &xs, &mut out, true).unwrap();
        assert_eq!(r.verified, Some(true), "{f}");
        assert_eq!(r.bytes, 2 * 8 * xs.len() as u64);
        for (&x, y) in xs.iter().zip(out) {
            assert_eq!(y.to_bits(), f.apply_f64(x).to_bits(), "{f}({x:e})");
        }

        let mut out = vec![f32::NAN; xs.len()];
        let r = map(&device, f, &xs32, &mut out, true).unwrap();
        assert_eq!(r.verified, Some(true), "{f} f32");
        for (&x, y) in xs32.iter().zip(out) {
            assert_eq!(y.to_bits(), f.apply_f32(x).to_bits(), "{f}({x:e}) f32");
        }
    }
}

#[test]
fn mismatched_buffers_are_refused_and_left_alone() {
    let device = Device::select(&DeviceSpec::Cpu).unwrap();
    let input = FloatVec::F32(vec![4.0; 4]);
    let mut wrong_type = FloatVec::F64(vec![7.0; 4]);
    let err = map_floats(&device, MapFn::Sqrt, &input, &mut wrong_type, true).unwrap_err();
    assert_eq!(err.to_string(), "map: output is 4 x f64, input is 4 x f32");
    assert_eq!(wrong_type, FloatVec::F64(vec![7.0; 4]));
    let mut short = [7.0f32; 3];
    assert!(map_floats(&device, MapFn::Sqrt, &input, &mut short, true).is_err());
    assert_eq!(short, [7.0; 3]);
}

#[test]
fn map_takes_slices_of_the_callers_arrays() {
    common::check_map_on_slices(&Device::select(&DeviceSpec::Cpu).unwrap());
}

#[test]
fn cli_maps_a_npy_file_keeping_its_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    write_npy(&input, &[2, 3], &[1.0f32, 4.0, 9.0, 16.0, 25.0, 36.0]).unwrap();
    let out = common::gpucalc()
        .args(["--device", "cpu", "map", "sqrt", "--input"])
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .arg("--json")
        .output()
        .unwrap();
    common::assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verification"], "passed");
    assert_eq!(v["dtype"], "f32");
    let y = read_npy::<f32>(&output).unwrap();
    assert_eq!(y.shape, vec![2, 3]);
    assert_eq!(y.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);

    // The same file piped in: `--input -` is standard input.
    std::fs::remove_file(&output).unwrap();
    let out = common::gpucalc()
        .args(["--device", "cpu", "map", "sqrt", "--input", "-", "-o"])
        .arg(&output)
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    common::assert_success(&out);
    assert_eq!(read_npy::<f32>(&output).unwrap(), y);
}

/// An empty array (`np.zeros((0, 3))`) maps to an empty array of its shape;
/// the report has no rates, as there was nothing to time.
#[test]
fn cli_maps_an_empty_array_to_an_empty_array_without_rates() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    write_npy::<f64>(&input, &[0, 3], &[]).unwrap();
    let map = |json: bool| {
        let mut command = common::gpucalc();
        command
            .args(["--device", "cpu", "map", "exp", "--input"])
            .arg(&input)
            .arg("-o")
            .arg(&output);
        if json {
            command.arg("--json");
        }
        let out = command.output().unwrap();
        common::assert_success(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    let v: serde_json::Value = serde_json::from_str(&map(true)).unwrap();
    assert_eq!(v["elements"], 0);
    assert_eq!(v["verification"], "passed");
    for rate in [
        "kernel_time_s",
        "kernel_bytes_per_second",
        "elements_per_second",
    ] {
        assert!(v[rate].is_null(), "{rate}: {v}");
    }
    let y = read_npy::<f64>(&output).unwrap();
    assert_eq!((y.shape, y.data), (vec![0, 3], vec![]));
    let text = map(false);
    assert!(
        text.contains("kernel time  none: the input is empty"),
        "{text}"
    );
    assert!(text.contains("verification passed (exact"), "{text}");
}

/// Two arrays one after the other on standard input (`np.save(f, a);
/// np.save(f, b)`) are two runs' inputs: each run reads its array and no
/// further, as NumPy's repeated `np.load(f)` does.
#[test]
fn cli_reads_one_array_of_several_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.npy"), dir.path().join("b.npy"));
    write_npy(&a, &[3], &[1.0f64, 4.0, 9.0]).unwrap();
    write_npy(&b, &[2, 2], &[16.0f32, 25.0, 36.0, 49.0]).unwrap();
    let both = dir.path().join("both");
    let mut bytes = std::fs::read(&a).unwrap();
    bytes.extend(std::fs::read(&b).unwrap());
    std::fs::write(&both, bytes).unwrap();
    // Clones of one open file share its offset, as a shell's `< both` does.
    let stdin = std::fs::File::open(&both).unwrap();
    for (i, want) in [vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0, 7.0]]
        .into_iter()
        .enumerate()
    {
        let output = dir.path().join(format!("y{i}.npy"));
        let out = common::gpucalc()
            .args(["--device", "cpu", "map", "sqrt", "--input", "-", "-o"])
            .arg(&output)
            .stdin(stdin.try_clone().unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "run {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (_, got) = gpucalc::npy::read_npy_float(&output).unwrap();
        assert_eq!(got.len(), want.len(), "run {i}");
        assert!(
            (0..want.len()).all(|k| got.get_f64(k) == want[k]),
            "run {i}"
        );
    }
}

#[test]
fn cli_standard_input_and_output_are_used_where_they_can_be() {
    for (args, says) in [
        (
            &["map", "sqrt", "10", "-o", "-"][..],
            "writes .npy files only",
        ),
        (
            &["matmul", "--a", "-", "--b", "-"][..],
            "standard input holds one file",
        ),
    ] {
        let out = common::gpucalc().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // Names in any case.
    let out = common::gpucalc()
        .args(["map", "SQRT", "10", "--gen", "Uniform", "--dtype", "F32"])
        .output()
        .unwrap();
    common::assert_success(&out);
    // Not an .npy file on standard input: named as such, not as a path.
    let out = common::gpucalc()
        .args(["map", "sqrt", "--input", "-"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("gpucalc: error: standard input: "), "{err}");
    // A pipe whose header promises more than the host has: refused before
    // anything is read (a file's length would have shown it truncated).
    let mut huge = b"\x93NUMPY\x01\x00".to_vec();
    let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }";
    let padded = format!("{dict:<117}\n");
    huge.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    huge.extend_from_slice(padded.as_bytes());
    huge.extend_from_slice(&[0; 64]);
    let mut child = common::gpucalc()
        .args(["--device", "cpu", "map", "sqrt", "--input", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = std::io::Write::write_all(&mut stdin, &huge);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the array in standard input (1099511627776 elements)"),
        "{err}"
    );
    // The same bytes redirected from a file (`< x.npy`) have a length, which
    // shows the file truncated, as when it is named.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.npy");
    std::fs::write(&cut, &huge).unwrap();
    let out = common::gpucalc()
        .args(["--device", "cpu", "map", "sqrt", "--input", "-"])
        .stdin(std::fs::File::open(&cut).unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("(truncated?)"), "{err}");
    // `-o x.npy > x.npy`: the result would replace the report; refused
    // before the work, and the file is left as it was.
    let both = dir.path().join("x.npy");
    std::fs::write(&both, "kept\n").unwrap();
    let out = common::gpucalc()
        .args(["--device", "cpu", "map", "sqrt", "10", "-o"])
        .arg(&both)
        .stdout(
            std::fs::OpenOptions::new()
                .append(true)
                .open(&both)
                .unwrap(),
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("standard output"), "{err}");
    assert_eq!(std::fs::read_to_string(&both).unwrap(), "kept\n");
}

#[test]
fn cli_bad_map_requests_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ints = dir.path().join("i.npy");
    write_npy(&ints, &[3], &[1u32, 2, 3]).unwrap();
    let ints = ints.to_str().unwrap();
    for args in [
        &["map", "tan", "10"][..],
        &["map", "sqrt"][..],
        &["map", "sqrt", "0"][..],
        &["map", "sqrt", "10", "--input", ints][..],
        &["map", "sqrt", "--input", ints][..],
        &["map", "sqrt", "--input", "/nonexistent/x.npy"][..],
        &["map", "sqrt", "10", "-o", "y.csv"][..],
        &["map", "sqrt", "10", "--dtype", "f16"][..],
        &["map", "sqrt", "1e30"][..],
    ] {
        let out = common::gpucalc().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
