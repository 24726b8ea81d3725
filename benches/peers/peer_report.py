"""Shared by the peer scripts: result rows in gpucalc's bench JSON schema, so
`gpucalc bench --compare PEER.json` puts gpucalc beside the peer.

A row matches gpucalc's row with the same workload and variant (see
src/bench/registry.rs); `device` names the implementation.
"""
import datetime
import json
import os
import platform
import sys

SCHEMA_VERSION = 1


def row(workload, variant, device, device_name, size, unit, work, times):
    """One result row from per-iteration seconds; `work` is the samples, bytes
    or FLOPs of one iteration, so throughput = work / fastest time."""
    times = sorted(times)
    n = len(times)
    median = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
    return {
        "workload": workload,
        "variant": variant,
        "device": device,
        "device_name": device_name,
        "size": int(size),
        "iterations": n,
        "min_s": times[0],
        "median_s": median,
        "max_s": times[-1],
        "throughput": work / times[0],
        "unit": unit,
        "limit": None,
        "limit_source": None,
        "fraction": None,
        "status": "ok",
        "reason": None,
    }


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def report(rows, packages):
    """The whole file: metadata like gpucalc's, `packages` naming the peer's libraries."""
    return {
        "schema_version": SCHEMA_VERSION,
        "metadata": {
            "gpucalc_version": "peer",
            "git_commit": "peer: " + ", ".join(f"{k} {v}" for k, v in packages.items()),
            "features": [],
            "os": f"{platform.system()}, {platform.platform()}",
            "cpu_model": cpu_model(),
            "cpu_threads": os.cpu_count() or 1,
            "devices": [],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": sys.argv,
        },
        "rows": rows,
    }


def emit(rows, packages, path):
    """Writes the report to `path` (whole or not at all), or prints it for '-'."""
    text = json.dumps(report(rows, packages), indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
