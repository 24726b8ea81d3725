//! `gpucalc bench` as a lab user runs it: files, exit codes, comparisons.

mod common;

use gpucalc::bench::{read_report, LimitSource, Status, CSV_COLUMNS};

#[test]
fn quick_pi_writes_json_and_csv_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (json, csv) = (dir.path().join("r.json"), dir.path().join("r.csv"));
    let out = common::gpucalc()
        .args([
            // Workload names in any case.
            "--device", "cpu", "bench", "--quick", "--only", "Pi", "--json",
        ])
        .arg(&json)
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    common::assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("WORKLOAD") && text.contains("philox"),
        "{text}"
    );

    let report = read_report(&json).unwrap();
    assert_eq!(report.rows.len(), 1);
    let row = &report.rows[0];
    assert_eq!((row.workload.as_str(), row.device.as_str()), ("pi", "cpu"));
    assert_eq!(row.status, Status::Ok);
    assert!(row.iterations >= 3);
    assert!(
        row.min_s.unwrap() <= row.median_s.unwrap() && row.median_s.unwrap() <= row.max_s.unwrap()
    );
    assert!(row.throughput.unwrap() > 0.0);
    assert!(row.fraction.unwrap() > 0.0 && row.limit.is_some());
    let meta = &report.metadata;
    assert!(!meta.cpu_model.is_empty() && !meta.devices.is_empty() && !meta.git_commit.is_empty());
    assert!(meta.command.iter().any(|a| a == "bench"));

    let csv = std::fs::read_to_string(&csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), CSV_COLUMNS.join(","));
    assert!(lines.next().unwrap().starts_with("pi,philox,cpu,"));
}

#[test]
fn compare_flags_a_baseline_that_was_far_slower() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    let run = |extra: &[&std::ffi::OsStr]| {
        common::gpucalc()
            .args(["--device", "cpu", "bench", "--quick", "--only", "pi"])
            .args(extra)
            .output()
            .unwrap()
    };
    assert!(run(&["--json".as_ref(), base.as_os_str()]).status.success());
    // Make the baseline ten times slower than it was.
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    let t = value["rows"][0]["throughput"].as_f64().unwrap();
    value["rows"][0]["throughput"] = serde_json::json!(t / 10.0);
    std::fs::write(&base, value.to_string()).unwrap();
    let out = run(&["--compare".as_ref(), base.as_os_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    common::assert_success(&out);
    assert!(text.contains("faster (beyond the"), "{text}");
    assert!(
        !text.contains(" on "),
        "the baseline is the same device's: {text}"
    );
    // `gpucalc --json bench`: the comparison is in the JSON on standard output.
    let out = common::gpucalc()
        .args([
            "--json", "--device", "cpu", "bench", "--quick", "--only", "pi",
        ])
        .arg("--compare")
        .arg(&base)
        .output()
        .unwrap();
    common::assert_success(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["comparison"][0]["verdict"], "improvement", "{json}");
    assert_eq!(json["comparison"][0]["baseline_device"], "cpu", "{json}");
    assert!(json["rows"][0]["throughput"].as_f64().unwrap() > 0.0);

    // A baseline row from another device (its only row) is compared, and named.
    value["rows"][0]["device"] = serde_json::json!("opencl:0");
    std::fs::write(&base, value.to_string()).unwrap();
    let out = run(&["--compare".as_ref(), base.as_os_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    common::assert_success(&out);
    assert!(text.contains(" on opencl:0 "), "{text}");
}

#[test]
fn bad_bench_requests_are_one_line_errors() {
    for args in [
        &["bench", "--only", "frobnicate"][..],
        &["bench", "--max-time", "-3"][..],
        &["bench", "--max-time", "1e20"][..],
        &["bench", "--max-time", "soon"][..],
        &["bench", "--quick", "--full"][..],
        &["bench", "--compare", "/nonexistent/base.json"][..],
        &["bench", "--json", "-"][..],
        &["bench", "--csv", "-"][..],
        &["bench", "--compare", "-"][..],
        &["--device", "all", "stream", "-s", "10"][..],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = common::gpucalc()
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!dir.path().join("-").exists(), "{args:?} wrote ./-");
    }
}

/// `--json /dev/stdout` (a pipe here) and `--csv` naming the file standard
/// output is redirected to are refused before any run, the file untouched.
#[test]
fn bench_result_files_that_are_standard_output_are_refused() {
    let out = common::gpucalc()
        .args([
            "--device",
            "cpu",
            "bench",
            "--quick",
            "--only",
            "pi",
            "--json",
            "/dev/stdout",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gpucalc --json bench"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.txt");
    std::fs::write(&log, "kept\n").unwrap();
    let out = common::gpucalc()
        .args([
            "--device", "cpu", "bench", "--quick", "--only", "pi", "--csv",
        ])
        .arg(&log)
        .stdout(std::fs::OpenOptions::new().append(true).open(&log).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "kept\n");
}

/// `gpucalc --device cpu bench --quick --only <only> <extra>` with a JSON
/// file: its printed table and the report, once it has succeeded.
fn quick_cpu_bench(only: &str, extra: &[&str]) -> (String, gpucalc::bench::Report) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = common::gpucalc()
        .args(["--device", "cpu", "bench", "--quick", "--only", only])
        .args(extra)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    common::assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (text, read_report(&json).unwrap())
}

#[test]
fn max_time_skips_the_rest_and_still_writes_the_file() {
    let (_, report) = quick_cpu_bench("pi,matmul", &["--max-time", "0.001"]);
    assert_eq!(report.rows[0].status, Status::Ok);
    assert!(report.rows[1..]
        .iter()
        .all(|r| r.status == Status::Skipped && r.reason.is_some() && r.limit.is_none()));
}

/// Without stream rows, a short stream run measures the CPU's bandwidth
/// first, so rows bounded by memory still report their fraction of it.
#[test]
fn rows_bound_by_memory_have_a_limit_without_stream_rows() {
    let (text, report) = quick_cpu_bench("map,transfer", &[]);
    assert!(!report.rows.is_empty());
    for r in &report.rows {
        assert_eq!(r.limit_source, Some(LimitSource::Measured), "{r:?}");
        let (limit, fraction) = (r.limit.unwrap(), r.fraction.unwrap());
        assert!(limit > 1e8 && fraction > 0.0, "{r:?}");
        assert!((fraction - r.throughput.unwrap() / limit).abs() < 1e-12);
    }
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("map ") && l.contains(" - ")),
        "{text}"
    );
}

/// Past the budget no stream run starts (f32's run is the first row's; f64's
/// would start after the budget), and a skipped row gets no limit, though
/// the rows of f32's run give the CPU a measured bandwidth.
#[test]
fn max_time_starts_no_stream_run_past_the_budget() {
    let (_, report) = quick_cpu_bench("stream,rng", &["--max-time", "0.001"]);
    let status = |r: &gpucalc::bench::ResultRow| (r.variant.clone(), r.status, r.limit.is_some());
    let rows: Vec<_> = report.rows.iter().map(status).collect();
    for (variant, status, has_limit) in &rows {
        let measured = variant.starts_with("f32-");
        assert_eq!(
            (*status == Status::Ok, *has_limit),
            (measured, measured),
            "{variant}: {rows:?}"
        );
    }
}

/// The printed table and the JSON file give each row the same limit and
/// fraction, including the stream rows that print before the device's best
/// bandwidth (their limit on a CPU) was measured.
#[test]
fn the_table_shows_the_limits_the_file_records() {
    let (text, report) = quick_cpu_bench("stream", &[]);
    let printed: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("stream "))
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(printed.len(), report.rows.len(), "{text}");
    // "39.062 GB/s" in bytes per second.
    let figure = |cell: &str| {
        let number: f64 = cell.split(' ').next().unwrap().parse().unwrap();
        let scale = match cell.split(' ').nth(1).unwrap().chars().next().unwrap() {
            'G' => 1e9,
            'M' => 1e6,
            'T' => 1e12,
            other => panic!("unit {other} in {cell}"),
        };
        number * scale
    };
    // On a CPU the limit is measured: the best throughput of all the rows.
    let best = report
        .rows
        .iter()
        .filter_map(|r| r.throughput)
        .fold(0.0, f64::max);
    for (cells, row) in printed.iter().zip(&report.rows) {
        assert_eq!(cells[1], row.variant, "{text}");
        let (limit, fraction) = (row.limit.unwrap(), row.fraction.unwrap());
        if row.limit_source == Some(gpucalc::bench::LimitSource::Measured) {
            assert!((limit / best - 1.0).abs() < 1e-6, "{limit} {best}");
        }
        assert!(
            (figure(cells[8]) / limit - 1.0).abs() < 1e-3,
            "{}: printed limit {} but the file has {limit}\n{text}",
            row.variant,
            cells[8]
        );
        assert_eq!(cells[9], format!("{:.0}%", fraction * 100.0), "{text}");
    }
}
