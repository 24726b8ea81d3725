#!/usr/bin/env python3
"""NumPy's matmul (OpenBLAS or whatever BLAS NumPy links) on square matrices:
the peer `gpucalc matmul` is measured against on the CPU.

usage: matmul_numpy.py [SIZE] [--dtype f32|f64] [--reps R] [--json FILE]
Times R runs after a warm-up and reports the fastest as GFLOP/s (2 n^3 / t).
"""
import argparse
import json
import time

import numpy as np

from peer_report import emit, row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("size", nargs="?", type=int, default=2048)
    ap.add_argument("--dtype", choices=["f32", "f64"], default="f64")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", metavar="FILE", help="write a gpucalc bench result file ('-': stdout)")
    args = ap.parse_args()
    n = args.size
    dtype = np.float32 if args.dtype == "f32" else np.float64
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (n, n)).astype(dtype)
    b = rng.uniform(-1, 1, (n, n)).astype(dtype)
    a @ b  # warm-up: thread pool start, page faults
    times = []
    for _ in range(args.reps):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    best = min(times)
    if args.json:
        name = f"numpy.matmul (NumPy {np.__version__})"
        rows = [row("matmul", args.dtype, "numpy", name, n, "FLOP/s", 2 * n**3, times)]
        emit(rows, {"numpy": np.__version__}, args.json)
    else:
        print(f"numpy.matmul {n}^3 {args.dtype}: {best:.4f} s, {2 * n**3 / best * 1e-9:.1f} GFLOP/s")

if __name__ == "__main__":
    main()
