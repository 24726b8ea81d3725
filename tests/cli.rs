//! The `gpucalc` binary as a user meets it: outputs, exit codes, bad input, Ctrl-C.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn gpucalc(args: &[&str]) -> Output {
    common::gpucalc()
        .args(args)
        .env_remove("GPUCALC_DEVICE")
        .output()
        .expect("run gpucalc")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

/// Every class of bad input: one line on stderr, non-zero exit, no panic.
#[test]
fn bad_input_is_one_line_and_nonzero() {
    let cases: &[(&[&str], &str)] = &[
        (&["pi"], "SAMPLES"),
        (&["pi", "abc"], "not a number"),
        (&["pi", "-5"], "negative"),
        (&["pi", "0"], "at least 1"),
        (&["pi", "1.5"], "not a whole number"),
        (&["pi", "1e400"], "too large"),
        (&["pi", "2^64"], "too large"),
        (&["pi", "1e19"], "at most 2^63"),
        (&["pi", "10", "--seed", "x"], "not a number"),
        (
            &["--device", "quantum", "pi", "10"],
            "invalid device spec `quantum`",
        ),
        (&["--device", "cuda:99", "pi", "10"], "cuda"),
        (&["--device", "opencl:99", "pi", "10"], "opencl"),
        (&["--threads", "0", "pi", "10"], "at least 1"),
        (&["--threads", "many", "pi", "10"], "not a number"),
        (&["--threads", "100000", "pi", "10"], "too many: at most"),
        (&["pi", "10", "--frobnicate"], "--frobnicate"),
        (&["frobnicate"], "frobnicate"),
        (
            &["bench", "--json", "r.out", "--csv", "r.out"],
            "one would replace the other",
        ),
        (
            &["bench", "--json", "r.out", "--csv", "./r.out"],
            "name the same file",
        ),
        (
            &["bench", "--quick", "--json", "/dev/null"],
            "a character device, not a regular file",
        ),
        (
            &["map", "sqrt", "10", "-o", "new.npy/"],
            "names a directory",
        ),
    ];
    for (args, expected) in cases {
        let out = gpucalc(args);
        let err = stderr(&out);
        assert!(
            !out.status.success(),
            "{args:?} succeeded: {}",
            stdout(&out)
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: not one line:\n{err}"
        );
        assert!(
            err.contains(expected),
            "{args:?}: {err:?} lacks {expected:?}"
        );
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    }
}

#[test]
fn bad_requests_exit_2_and_failed_runs_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.npy");
    let out = gpucalc(&["rng", "6", "--dtype", "f64", "-o", a.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Refused by the workloads and the CLI after clap has parsed them.
    let bad: &[&[&str]] = &[
        &["stream", "-n", "1"],
        &["matmul", "2", "2"],
        &["bench", "--only", "frobnicate"],
        &["rng", "10", "-o", "x.txt"],
        &["map", "sqrt"],
        &["matmul", "8", "8", "8", "--kernel", "x"],
        &["map", "sqrt", "100", "--seed", "3"],
    ];
    for args in bad {
        let out = gpucalc(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    // A negative count or seed is told the least value it may take, wherever
    // it is given.
    for (args, least) in [
        (&["pi", "-5"][..], 1),
        (&["matmul", "-5", "2", "2"], 1),
        (&["matmul", "2", "2", "2", "--reps", "-1"], 1),
        (&["matmul", "2", "2", "2", "--seed", "-1"], 0),
        (&["stream", "-n", "-3"], 2),
        (&["--threads", "-2", "pi", "10"], 1),
        (&["transfer", "--reps", "-1"], 1),
    ] {
        let out = gpucalc(args);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
        assert!(
            text.contains(&format!(
                "is negative; expected a whole number, {least} or more"
            )),
            "{args:?}: {text}"
        );
    }
    // A 1-D array where a matrix belongs is a file problem, not an argument.
    let out = gpucalc(&[
        "matmul",
        "--a",
        a.to_str().unwrap(),
        "--b",
        a.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn pi_json_has_every_field_and_integer_counts() {
    let out = gpucalc(&[
        "--device",
        "cpu",
        "pi",
        "1_000_000",
        "--seed",
        "7",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert!(v["hits"].is_u64() && v["samples"].is_u64());
    assert_eq!(v["samples"], 1_000_000);
    assert_eq!(v["seed"], 7);
    assert_eq!(v["partial"], false);
    assert_eq!(v["verification"], "reference");
    assert_eq!(v["device"]["backend"], "cpu");
    for field in [
        "estimate",
        "std_error",
        "abs_error",
        "wall_time_s",
        "samples_per_second",
    ] {
        assert!(v[field].is_f64(), "{field}: {}", v[field]);
    }
    let hits = gpucalc::pi_reference_hits(7, 0, 1_000_000);
    assert_eq!(v["hits"], hits);
}

#[test]
fn device_all_draws_the_hits_of_one_device_and_says_who_did_what() {
    let out = gpucalc(&["--device", "all", "pi", "2000003", "--seed", "7", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["hits"], gpucalc::pi_reference_hits(7, 0, 2_000_003));
    let shares = v["shares"].as_array().unwrap();
    assert!(
        !shares.is_empty() && shares[0]["device"] == "cpu",
        "{shares:?}"
    );
    let total: u64 = shares.iter().map(|s| s["samples"].as_u64().unwrap()).sum();
    assert_eq!(total, 2_000_003);
    // OpenCL devices on the CPU's own cores are left out, and say so.
    for info in gpucalc::list_devices().devices {
        if info.backend == gpucalc::BackendKind::OpenCl
            && info.device_type == gpucalc::DeviceType::Cpu
        {
            assert!(
                stderr(&out).contains(&format!("skipping {}", info.spec)),
                "{}",
                stderr(&out)
            );
        }
    }
    let text = gpucalc(&["--device", "all", "pi", "1e6"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("hits ") && text.contains("cpu"), "{text}");
}

#[test]
fn hits_do_not_depend_on_threads_or_flag_position() {
    let runs = [
        gpucalc(&[
            "--device",
            "cpu",
            "--threads",
            "1",
            "pi",
            "3e6",
            "--seed",
            "99",
            "--json",
        ]),
        gpucalc(&[
            "pi",
            "3e6",
            "--seed",
            "99",
            "--json",
            "--threads",
            "2",
            "--device",
            "cpu",
        ]),
        gpucalc(&[
            "pi",
            "3000000",
            "--seed=99",
            "--threads=5",
            "--json",
            "--device=cpu",
        ]),
    ];
    let hits: Vec<_> = runs.iter().map(|o| json(o)["hits"].clone()).collect();
    assert_eq!(hits[0], hits[1]);
    assert_eq!(hits[1], hits[2]);
    assert_eq!(json(&runs[0])["device"]["threads"], 1);
    assert_eq!(json(&runs[2])["device"]["threads"], 5);
}

#[test]
fn device_comes_from_the_environment_and_the_flag_wins() {
    let run = |env: &str, args: &[&str]| {
        common::gpucalc()
            .args(args)
            .env("GPUCALC_DEVICE", env)
            .output()
            .unwrap()
    };
    let out = run("quantum", &["pi", "10"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("quantum"));
    let out = run("quantum", &["--device", "cpu", "pi", "10", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run("cpu", &["pi", "10", "--json"]);
    assert_eq!(json(&out)["device"]["spec"], "cpu");
    // A stale spec does not stop the command that lists the right ones.
    let out = run("quantum", &["devices"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("cpu"));
    assert!(
        stderr(&out).contains("warning: GPUCALC_DEVICE"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn human_output_names_the_device_and_the_estimate() {
    let out = gpucalc(&["pi", "1e5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for label in [
        "estimate",
        "abs. error",
        "hits",
        "seed",
        "device",
        "wall time",
        "throughput",
    ] {
        assert!(text.contains(label), "missing {label}:\n{text}");
    }
    assert!(text.contains("of 100000 samples"));
}

#[test]
fn devices_lists_the_cpu_in_text_and_json() {
    let out = gpucalc(&["devices"]);
    assert!(out.status.success());
    assert!(stdout(&out).lines().nth(1).unwrap().starts_with("cpu "));
    let out = gpucalc(&["devices", "--json"]);
    let v = json(&out);
    let cpu = &v["devices"].as_array().expect("an array of devices")[0];
    // Each backend that found no device says why (in a default build: not built).
    assert!(v["notes"].is_array(), "{v}");
    assert_eq!(cpu["backend"], "cpu");
    assert_eq!(cpu["type"], "cpu");
    assert!(cpu["compute_units"].as_u64().unwrap() >= 1);
    assert!(cpu["threads"].as_u64().unwrap() >= 1);
    assert!(cpu["memory_bytes"].as_u64().unwrap() > 0);
    assert!(!cpu["name"].as_str().unwrap().is_empty());
}

#[test]
fn help_and_version_succeed() {
    let out = gpucalc(&["--help"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("devices"));
    assert!(gpucalc(&["--version"]).status.success());
    assert!(gpucalc(&["pi", "--help"]).status.success());
}

/// Ctrl-C stops a long run within a second, prints the partial estimate and exits 130.
/// The partial result is the exact count of a prefix of the stream.
#[cfg(unix)]
#[test]
fn ctrl_c_prints_a_partial_estimate_and_exits_130() {
    let child = common::gpucalc()
        .args([
            "--device",
            "cpu",
            "--threads",
            "1",
            "pi",
            "1e15",
            "--json",
            "--seed",
            "5",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "took {:?} to stop",
        sent.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["partial"], true);
    assert_eq!(v["verification"], "partial");
    let samples = v["samples"].as_u64().unwrap();
    assert!(samples > 0 && samples < 1_000_000_000_000_000);
    // The samples drawn are exactly the first `samples` of the stream.
    let full = gpucalc(&[
        "--device",
        "cpu",
        "pi",
        &samples.to_string(),
        "--seed",
        "5",
        "--json",
    ]);
    assert_eq!(json(&full)["hits"], v["hits"]);
}

/// `rng -o -` interrupted: the numbers on standard output are a whole
/// prefix of the stream, and standard error says how many were sent.
#[cfg(unix)]
#[test]
fn an_interrupted_stream_on_stdout_says_how_much_it_sent() {
    use std::io::Read;
    let mut child = common::gpucalc()
        .args(["--device", "cpu", "rng", "5e9", "--dist", "raw", "-o", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // Counted as they come: the stream may be gigabytes by the signal.
    let reader = std::thread::spawn(move || {
        let (mut buffer, mut bytes) = (vec![0u8; 1 << 20], 0u64);
        loop {
            match stdout.read(&mut buffer).unwrap() {
                0 => return bytes,
                n => bytes += n as u64,
            }
        }
    });
    std::thread::sleep(Duration::from_millis(700));
    send("INT", child.id());
    let out = child.wait_with_output().unwrap();
    let bytes = reader.join().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let err = stderr(&out);
    let sent: u64 = err
        .strip_prefix("gpucalc: interrupted: standard output has the first ")
        .and_then(|rest| rest.strip_suffix(" of 5000000000 elements\n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(bytes, 4 * sent, "{err}");
    assert!(sent > 0 && sent < 5_000_000_000, "{err}");
}

/// Sends `signal` (`TERM`, `HUP`, ...) to `pid` with kill(1); whether it arrived is
/// not asked (the process may already have ended).
#[cfg(unix)]
fn send(signal: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status();
}

/// Waits (up to 20 s) until gpucalc's temporary output file shows in `dir`.
#[cfg(unix)]
fn wait_for_temp_file(dir: &std::path::Path) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let found = std::fs::read_dir(dir).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".gpucalc-")
        });
        if found {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("no temporary file appeared in {}", dir.display());
}

/// A batch system's SIGTERM, a closed terminal's SIGHUP, or Ctrl-C while a file
/// is being written: the run ends with 130 and leaves nothing in the folder,
/// neither the output nor the hidden temporary file. `rng` watches for the
/// signal and stops at a chunk (twice: at once); `map` ends at once.
#[cfg(unix)]
#[test]
fn signals_while_writing_leave_no_files_behind() {
    // 2 GB: several seconds of work, and within the free space that rng now
    // asks for up front.
    let cases: [(&[&str], &[&str]); 3] = [
        (&["rng", "5e8", "--dtype", "f32"], &["TERM"]),
        (&["rng", "5e8", "--dtype", "f32"], &["HUP", "HUP"]),
        (&["map", "sqrt", "3e8", "--dtype", "f32"], &["TERM"]),
    ];
    // Beside the build, not in a /tmp that may be a small tmpfs (cargo's
    // scratch folder, where it exists: not for a copied test executable).
    let scratch = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    for (args, signals) in cases {
        let dir = if scratch.is_dir() {
            tempfile::tempdir_in(scratch).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let output = dir.path().join("out.npy");
        let child = common::gpucalc()
            .args(["--device", "cpu"])
            .args(args)
            .arg("-o")
            .arg(&output)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_temp_file(dir.path());
        for signal in signals {
            send(signal, child.id());
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(130),
            "{args:?} {signals:?}: {}",
            stderr(&out)
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{args:?} {signals:?} left {left:?}");
    }
}

/// An `.npy` file written byte by byte (header format 1.0), for arrays NumPy
/// would write but gpucalc's writer does not: any dtype, order and shape.
fn raw_npy(path: &std::path::Path, descr: &str, fortran: bool, shape: &str, data: &[u8]) {
    let fortran = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn matrix_files_gpucalc_cannot_take_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, descr: &str, fortran: bool, shape: &str, data: &[u8]| {
        let path = dir.path().join(name);
        raw_npy(&path, descr, fortran, shape, data);
        path.to_str().unwrap().to_string()
    };
    let f64s = |values: &[f64]| {
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
    };
    let square = file(
        "square.npy",
        "<f8",
        false,
        "(2, 2)",
        &f64s(&[1.0, 2.0, 3.0, 4.0]),
    );
    let cases = [
        (
            file("bad.npy", "<f8", false, "(2)", &f64s(&[1.0; 2])),
            "malformed .npy header",
        ),
        (
            file("int.npy", "<i8", false, "(2, 2)", &[0; 32]),
            "dtype <i8 is not float32 or float64",
        ),
        (
            file("huge.npy", "<f8", false, "(8589934592, 2147483648)", &[]),
            "2^64 elements or more",
        ),
        (
            file("scalar.npy", "<f8", false, "()", &f64s(&[1.0])),
            "must be 2-D",
        ),
        (
            file("cube.npy", "<f8", false, "(2, 2, 2)", &f64s(&[1.0; 8])),
            "must be 2-D",
        ),
        (
            file("short.npy", "<f8", false, "(2, 2)", &f64s(&[1.0; 3])),
            "short.npy",
        ),
    ];
    for (path, want) in &cases {
        let out = gpucalc(&["--device", "cpu", "matmul", "--a", path, "--b", &square]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{path}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{path}: {err}");
        assert_eq!(err.matches(want).count(), 1, "said twice: {err}");
    }
    // Requests that do not fit the matrices: bad arguments.
    let wide = file("wide.npy", "<f8", false, "(2, 3)", &f64s(&[1.0; 6]));
    let single = file("single.npy", "<f4", false, "(2, 2)", &[0; 16]);
    for (a, b, want) in [
        (&wide, &square, "inner dimensions differ"),
        (&square, &single, "A is f64 but B is f32"),
    ] {
        let out = gpucalc(&["--device", "cpu", "matmul", "--a", a, "--b", b]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(want), "{}", stderr(&out));
    }
    // Big-endian floats, as NumPy writes `>f8`, are read in either byte order.
    let be: Vec<u8> = [1.0f64, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let big = file("big.npy", ">f8", false, "(2, 2)", &be);
    let c = dir.path().join("c.npy");
    let out = gpucalc(&[
        "--device",
        "cpu",
        "matmul",
        "--a",
        &big,
        "--b",
        &square,
        "-o",
        c.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["verification"], "passed");
    let (shape, data) = gpucalc::npy::read_npy_float(&c).unwrap();
    assert_eq!(shape, vec![2, 2]);
    assert_eq!(data, gpucalc::FloatVec::F64(vec![7.0, 10.0, 15.0, 22.0]));
    // Fortran order, as `np.save(x.T)` writes it: column by column, so these
    // bytes are A = [[1, 3], [2, 4]], and A·B = [[10, 14], [14, 20]].
    let fortran = file(
        "fortran.npy",
        "<f8",
        true,
        "(2, 2)",
        &f64s(&[1.0, 2.0, 3.0, 4.0]),
    );
    let out = gpucalc(&[
        "--device",
        "cpu",
        "matmul",
        "--a",
        &fortran,
        "--b",
        &square,
        "-o",
        c.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, data) = gpucalc::npy::read_npy_float(&c).unwrap();
    assert_eq!(data, gpucalc::FloatVec::F64(vec![10.0, 14.0, 14.0, 20.0]));
}

#[test]
fn empty_products_are_what_numpy_gives() {
    // NumPy: (0, 3) @ (3, 4) is an empty (0, 4); (3, 0) @ (0, 4) is (3, 4) zeros.
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, shape: &str, elements: usize| {
        let path = dir.path().join(name);
        raw_npy(&path, "<f4", false, shape, &vec![0x40; 4 * elements]);
        path.to_str().unwrap().to_string()
    };
    let cases = [
        (
            file("a0.npy", "(0, 3)", 0),
            file("b.npy", "(3, 4)", 12),
            [0, 4],
        ),
        (
            file("a.npy", "(3, 0)", 0),
            file("b0.npy", "(0, 4)", 0),
            [3, 4],
        ),
        (
            file("a1.npy", "(2, 3)", 6),
            file("b1.npy", "(3, 0)", 0),
            [2, 0],
        ),
    ];
    for (a, b, shape) in &cases {
        let c = dir.path().join("c.npy");
        let out = gpucalc(&[
            "--device",
            "cpu",
            "--json",
            "matmul",
            "--a",
            a,
            "--b",
            b,
            "-o",
            c.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{a} {b}: {}", stderr(&out));
        let report = json(&out);
        assert_eq!(report["verification"], "passed", "{report}");
        assert_eq!(report["times_s"], serde_json::json!([]), "{report}");
        assert!(report["gflops"].is_null(), "{report}");
        let (got, data) = gpucalc::npy::read_npy_float(&c).unwrap();
        assert_eq!(got, shape.map(|d| d as u64), "{a} {b}");
        let elements = shape[0] * shape[1];
        assert_eq!(data, gpucalc::FloatVec::F32(vec![0.0; elements]));
        // The text report says why there is no time.
        let out = gpucalc(&["--device", "cpu", "matmul", "--a", a, "--b", b]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("no arithmetic to do"), "{text}");
        assert!(text.contains("verification passed (exact"), "{text}");
    }
    // Shapes that do not chain are still refused when one of them is empty.
    let out = gpucalc(&[
        "--device",
        "cpu",
        "matmul",
        "--a",
        &cases[0].0,
        "--b",
        &cases[1].1,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("inner dimensions differ"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn stream_and_transfer_run_on_the_cpu_in_every_format() {
    let out = gpucalc(&["--device", "cpu", "stream", "-s", "10000", "-n", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for kernel in ["Copy", "Mul", "Add", "Triad", "Dot", "Init"] {
        assert!(text.contains(kernel), "{text}");
    }
    assert!(text.contains("verification passed"), "{text}");
    // 80 KB arrays sit in any last-level cache: a note says so, on stderr.
    let cache = gpucalc::list_devices().devices[0].cache_bytes;
    assert_eq!(
        stderr(&out).contains("note: each array (78.12 KiB) is under 4x the last-level cache"),
        cache.is_some(),
        "{}",
        stderr(&out)
    );

    let out = gpucalc(&[
        "--device", "cpu", "stream", "-s", "10000", "-n", "3", "--float", "--csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("function,num_times,n_elements,sizeof,max_mbytes_per_sec,min_runtime,max_runtime,avg_runtime")
    );
    let rows: Vec<&str> = lines.collect();
    assert!(
        rows.iter().any(|r| r.starts_with("Triad,3,10000,4,")),
        "{text}"
    );

    let v = json(&gpucalc(&[
        "--device", "cpu", "stream", "-s", "10000", "-n", "3", "--json",
    ]));
    assert_eq!(v["verification"], "passed", "{v}");
    assert_eq!(v["result"]["verified"], true, "{v}");
    assert_eq!(v["result"]["kernels"].as_array().unwrap().len(), 5, "{v}");

    let out = gpucalc(&[
        "--device",
        "cpu",
        "transfer",
        "--max-bytes",
        "5000",
        "--reps",
        "2",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let text = v.to_string();
    // 1 KiB, 4 KiB and the --max-bytes size itself, each way.
    for bytes in ["1024", "4096", "5000"] {
        assert!(text.contains(&format!("\"bytes\":{bytes}")), "{text}");
    }
}

/// A full standard output (`> /dev/full`) is a one-line error and exit 1 for
/// every command, where `println!` would panic with exit 101.
#[cfg(target_os = "linux")]
#[test]
fn a_full_stdout_is_an_error_not_a_panic() {
    let cases: &[&[&str]] = &[
        &["devices"],
        &["pi", "1000"],
        &["pi", "1000", "--json"],
        &["stream", "-s", "4096", "-n", "2", "--csv"],
        &["map", "sqrt", "1000"],
        &["matmul", "8", "8", "8"],
        &["rng", "100"],
        &["transfer", "--max-bytes", "4096", "--reps", "2"],
        &["bench", "--quick", "--only", "pi"],
    ];
    for args in cases {
        let full = std::fs::File::create("/dev/full").expect("open /dev/full");
        let out = common::gpucalc()
            .args(*args)
            .args(["--device", "cpu"])
            .stdout(full)
            .output()
            .expect("run gpucalc");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        // The one error line, after any notes (stream's small arrays get one).
        let errors: Vec<&str> = err
            .lines()
            .filter(|l| !l.starts_with("gpucalc: note: "))
            .collect();
        assert_eq!(
            errors,
            ["gpucalc: error: standard output: No space left on device (os error 28)"],
            "{args:?}: {err}"
        );
    }
}

/// New output files follow the umask (0600 under 077), and a symbolic link
/// given as the output keeps pointing at its file, which gets the data.
#[cfg(unix)]
#[test]
fn outputs_follow_the_umask_and_symbolic_links() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private.npy");
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 077 && exec \"$0\" --device cpu rng 5 -o \"$1\"")
        .arg(common::bin())
        .arg(&private)
        .env_remove("GPUCALC_DEVICE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let target = dir.path().join("target.npy");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.path().join("link.npy");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = gpucalc(&["--device", "cpu", "rng", "7", "-o", link.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::metadata(&target).unwrap().len(), 128 + 7 * 8);
}

/// Under `ulimit -v` (as a batch system may set it) a job that would pass the
/// machine's free memory but not the limit gets a one-line error naming the
/// limit, up front, instead of an abort when an allocation fails: a map's
/// arrays, a transfer's two buffers, and an `.npy` input's output array.
#[cfg(target_os = "linux")]
#[test]
fn a_ulimit_on_memory_is_a_one_line_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x.npy");
    gpucalc::npy::write_npy(&input, &[60_000_000], &vec![1.0f64; 60_000_000]).unwrap();
    let limited = |args: &[&str]| {
        Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 1000000 && exec \"$@\"")
            .arg("sh")
            .arg(common::bin())
            .args(["--device", "cpu", "--threads", "2"])
            .args(args)
            .env_remove("GPUCALC_DEVICE")
            .output()
            .unwrap()
    };
    for args in [
        &["map", "sqrt", "2e8"][..],
        &["transfer", "--max-bytes", "6e8"][..],
        &["map", "sqrt", "--input", input.to_str().unwrap()][..],
    ] {
        let out = limited(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("(under ulimit -v of 976.56 MiB)"),
            "{args:?}: {err}"
        );
    }
    // Within the limit, the same run works.
    let out = limited(&["map", "sqrt", "1e6"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // matmul counts its verification's arrays up front: with N = 1 and a
    // long K they are four times A and B, which alone fit (the check used to
    // abort after the product).
    let long_k = ["matmul", "1", "1", "2^25", "--dtype", "f32"];
    let out = limited(&long_k);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("and its verification needs"), "{err}");
    let out = limited(&[&long_k[..], &["--no-verify"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    // `devices` shows the CPU's memory as what the process could ever have.
    let out = limited(&["--json", "devices"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let devices = json(&out);
    let cpu = &devices["devices"][0];
    assert_eq!(cpu["spec"], "cpu", "{devices}");
    assert_eq!(cpu["memory_bytes"], 1_000_000 * 1024, "{devices}");
}
