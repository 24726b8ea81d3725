#!/usr/bin/env python3
"""What a NumPy user would otherwise run, timed like `gpucalc bench` rows:
stream (BabelStream's kernels with NumPy ufuncs), rng (Generator.random /
standard_normal / integers), map (np.sqrt, np.exp) and matmul (np.matmul,
through NumPy's BLAS). Single process, as NumPy runs them.

usage: numpy_peers.py [--quick] [--only stream,rng,map,matmul] [--json FILE]
then:  gpucalc bench --device cpu --compare FILE
"""
import argparse
import os
import time

import numpy as np

from peer_report import bench_size, cpu_cache_bytes, emit, row

DEVICE, NAME = "numpy", f"NumPy {np.__version__}"


def timed(fn, iterations):
    fn()  # warm-up: page faults, thread pools
    out = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def stream_rows(size, iterations):
    rows = []
    for dtype, name in ((np.float32, "f32"), (np.float64, "f64")):
        n = size("stream", name)
        a = np.full(n, 0.1, dtype)
        b = np.full(n, 0.2, dtype)
        c = np.zeros(n, dtype)
        s = dtype(0.4)
        size = np.dtype(dtype).itemsize
        kernels = [
            ("copy", 2, lambda: np.copyto(c, a)),
            ("mul", 2, lambda: np.multiply(c, s, out=b)),
            ("add", 3, lambda: np.add(a, b, out=c)),
            # b + s*c without temporaries a user would notice: two passes in NumPy.
            ("triad", 3, lambda: np.add(b, np.multiply(c, s, out=a), out=a)),
            ("dot", 2, lambda: np.dot(a, b)),
        ]
        for kernel, arrays, fn in kernels:
            times = timed(fn, iterations)
            rows.append(row("stream", f"{name}-{kernel}", DEVICE, NAME, n, "B/s", arrays * size * n, times))
    return rows


def rng_rows(size, iterations):
    g = np.random.default_rng(0)
    n, small = size("rng", "uniform-f32"), size("rng", "normal-f32")
    out32, small32 = np.empty(n, np.float32), np.empty(small, np.float32)
    return [
        row("rng", "uniform-f32", DEVICE, NAME, n, "B/s", 4 * n, timed(lambda: g.random(out=out32, dtype=np.float32), iterations)),
        row("rng", "normal-f32", DEVICE, NAME, small, "B/s", 4 * small, timed(lambda: g.standard_normal(out=small32, dtype=np.float32), iterations)),
        row("rng", "raw-u32", DEVICE, NAME, n, "B/s", 4 * n, timed(lambda: g.integers(0, 2**32, size=n, dtype=np.uint32), iterations)),
    ]


def map_rows(size, iterations):
    n, small = size("map", "sqrt-f32"), size("map", "exp-f64")
    x32 = (np.arange(n) % 65536).astype(np.float32) * np.float32(0.25)
    y32 = np.empty_like(x32)
    x64 = (np.arange(small) % 65536).astype(np.float64) * 0.01 - 327.68
    y64 = np.empty_like(x64)
    return [
        row("map", "sqrt-f32", DEVICE, NAME, n, "B/s", 8 * n, timed(lambda: np.sqrt(x32, out=y32), iterations)),
        row("map", "exp-f64", DEVICE, NAME, small, "B/s", 16 * small, timed(lambda: np.exp(x64, out=y64), iterations)),
    ]




def matmul_rows(n, iterations):
    rows = []
    rng = np.random.default_rng(0)
    for dtype, name in ((np.float32, "f32"), (np.float64, "f64")):
        a = rng.uniform(-1, 1, (n, n)).astype(dtype)
        b = rng.uniform(-1, 1, (n, n)).astype(dtype)
        rows.append(row("matmul", name, DEVICE, NAME, n, "FLOP/s", 2 * n**3, timed(lambda: a @ b, iterations)))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="gpucalc bench --quick's sizes")
    ap.add_argument("--only", default="stream,rng,map,matmul")
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--json", default="-", help="output file ('-': stdout)")
    args = ap.parse_args()
    only = set(args.only.split(","))
    cache = cpu_cache_bytes()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")

    def size(workload, variant):
        return bench_size(workload, variant, args.quick, cache, memory)

    rows = []
    if "stream" in only:
        rows += stream_rows(size, args.iterations)
    if "rng" in only:
        rows += rng_rows(size, args.iterations)
    if "map" in only:
        rows += map_rows(size, args.iterations)
    if "matmul" in only:
        rows += matmul_rows(size("matmul", "f32"), args.iterations)
    emit(rows, {"numpy": np.__version__}, args.json)


if __name__ == "__main__":
    main()
