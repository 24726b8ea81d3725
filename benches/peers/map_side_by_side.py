#!/usr/bin/env python3
"""gpucalc's CPU map and NumPy's ufuncs, side by side in one run: the two take
turns, ROUNDS times per function and dtype, so a noisy neighbour or a clock
change hits both alike; each side's best run counts (the machine's quiet
moments). Both map N uniform [0, 1) numbers; gpucalc's figure is its kernel
time (the map itself, as `np.exp(x, out=y)` is), on every hardware thread
unless GPUCALC_THREADS says otherwise; NumPy's ufuncs run on one thread.

usage: benches/peers/map_side_by_side.py [N] [ROUNDS] [GPUCALC]
  N        elements (default 2e7)
  ROUNDS   turns per function and dtype (default 5)
  GPUCALC  the binary (default target/release/gpucalc)
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

FUNCTIONS = ["sqrt", "exp", "log", "sin", "cos"]


def gpucalc_rate(binary, function, n, dtype):
    threads = os.environ.get("GPUCALC_THREADS")
    command = [binary, "--device", "cpu", *(["--threads", threads] if threads else [])]
    command += ["map", function, str(n), "--gen", "uniform", "--dtype", dtype, "--no-verify", "--json"]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["elements_per_second"]


def numpy_rate(function, x, y):
    start = time.perf_counter()
    getattr(np, function)(x, out=y)
    return x.size / (time.perf_counter() - start)


def main():
    n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 20_000_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    binary = sys.argv[3] if len(sys.argv) > 3 else "target/release/gpucalc"
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    if not os.access(binary, os.X_OK):
        sys.exit(f"no {binary}: cargo build --release first")
    print(f"{'':12} {'gpucalc':>10} {'numpy':>10}  Melements/s, best of {rounds}")
    for dtype in ("f32", "f64"):
        x = np.random.default_rng(0).random(n).astype(np.float32 if dtype == "f32" else np.float64)
        y = np.empty_like(x)
        for function in FUNCTIONS:
            getattr(np, function)(x, out=y)  # warm-up: page faults
            best_g = best_n = 0.0
            for _ in range(rounds):
                best_g = max(best_g, gpucalc_rate(binary, function, n, dtype))
                best_n = max(best_n, numpy_rate(function, x, y))
            print(f"{dtype} {function:7} {best_g / 1e6:10.0f} {best_n / 1e6:10.0f}  {best_g / best_n:5.2f}x NumPy")


if __name__ == "__main__":
    main()
