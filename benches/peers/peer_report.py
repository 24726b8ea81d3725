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


# gpucalc bench's sizes (src/bench/registry.rs): (quick, full) per row, and
# for its bandwidth rows the arrays and bytes an element that decide how far
# they grow past the device's last-level cache (BenchRow::size_on).
SIZES = {
    ("stream", "f32"): ((1 << 25, 1 << 25), (3, 4)),
    ("stream", "f64"): ((1 << 25, 1 << 25), (3, 8)),
    ("rng", "uniform-f32"): ((1 << 25, 1 << 27), (1, 4)),
    ("rng", "normal-f32"): ((1 << 22, 1 << 26), (1, 4)),
    ("rng", "raw-u32"): ((1 << 25, 1 << 27), (1, 4)),
    ("map", "sqrt-f32"): ((1 << 25, 1 << 27), (2, 4)),
    ("map", "exp-f64"): ((1 << 22, 1 << 26), (2, 8)),
    ("matmul", "f32"): ((1024, 4096), None),
    ("matmul", "f64"): ((1024, 4096), None),
}


def bench_size(workload, variant, quick, cache_bytes=0, memory_bytes=0):
    """The size gpucalc bench runs `workload`/`variant` at on a device with
    this last-level cache and memory (stream's variant: "f32" or "f64"), so
    that `--compare` sets like beside like: each array at least 4 times the
    cache (a power of two), held to a quarter of the memory."""
    (quick_size, full_size), grows = SIZES[(workload, variant)]
    size = quick_size if quick else full_size
    if grows is None:
        return size
    arrays, element = grows
    covers = 1 << max(0, (4 * cache_bytes // element) - 1).bit_length()
    if memory_bytes:
        covers = min(covers, memory_bytes // 4 // (arrays * element))
    return max(size, covers)


def cpu_cache_bytes():
    """All the machine's last-level caches together (each instance once), as
    gpucalc's CPU device reports them; 0 where sysfs does not say."""
    caches = set()
    base = "/sys/devices/system/cpu"
    try:
        cpus = [c for c in os.listdir(base) if c[3:].isdigit() and c.startswith("cpu")]
    except OSError:
        return 0
    for cpu in cpus:
        folder = os.path.join(base, cpu, "cache")
        try:
            indexes = [i for i in os.listdir(folder) if i.startswith("index")]
        except OSError:
            continue
        for index in indexes:
            try:
                read = lambda name: open(os.path.join(folder, index, name)).read().strip()
                level, kind = int(read("level")), read("type")
                text, shared = read("size"), read("shared_cpu_list")
            except (OSError, ValueError):
                continue
            if kind == "Instruction":
                continue
            scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
            caches.add((level, shared, int(text.rstrip("KMG")) * scale))
    if not caches:
        return 0
    last = max(c[0] for c in caches)
    return sum(c[2] for c in caches if c[0] == last)


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
