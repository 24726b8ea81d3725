#!/usr/bin/env python3
"""The seeds' Monte Carlo pi: a multiprocessing.Pool whose workers count hits on
NumPy arrays of random numbers. The peer that `gpucalc pi` is measured against.

usage: pi_pool.py [SAMPLES] [--processes P] [--iterations I] [--legacy] [--json FILE]
Prints samples/s; with --json, a result file for `gpucalc bench --compare FILE`.
"""
import argparse
import json
import multiprocessing as mp
import sys
import time

import numpy as np

from peer_report import emit, row

CHUNK = 10_000_000  # samples per task: large enough that the pool's overhead is small


def count_hits(task):
    seed, n, legacy = task
    # The legacy API (np.random.RandomState, Mersenne Twister) is what most
    # tutorials' np.random.random calls use; default_rng (PCG64) is faster.
    rng = np.random.RandomState(seed) if legacy else np.random.default_rng(seed)
    draw = rng.random_sample if legacy else rng.random
    hits = 0
    done = 0
    while done < n:
        m = min(n - done, 2_000_000)
        x = draw(m)
        y = draw(m)
        hits += int(np.count_nonzero(x * x + y * y < 1.0))
        done += m
    return hits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("samples", nargs="?", type=float, default=2e8)
    ap.add_argument("--processes", type=int, default=mp.cpu_count())
    ap.add_argument("--json", metavar="FILE", help="write a gpucalc bench result file ('-': stdout)")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--legacy", action="store_true", help="np.random.RandomState (MT19937) instead of default_rng")
    args = ap.parse_args()
    n = int(args.samples)
    tasks = [(i, min(CHUNK, n - s), args.legacy) for i, s in enumerate(range(0, n, CHUNK))]
    times, hits = [], 0
    with mp.Pool(args.processes) as pool:
        pool.map(count_hits, [(0, 1000, args.legacy)] * args.processes)  # start the workers first
        for _ in range(args.iterations):
            start = time.perf_counter()
            hits = sum(pool.map(count_hits, tasks))
            times.append(time.perf_counter() - start)
    best = min(times)
    generator = "RandomState" if args.legacy else "default_rng"
    name = f"multiprocessing.Pool({args.processes}) + NumPy {np.__version__} {generator}"
    if args.json:
        rows = [row("pi", "philox", "python-pool", name, n, "samples/s", n, times)]
        emit(rows, {"numpy": np.__version__, "python": sys.version.split()[0]}, args.json)
    else:
        print(f"{name}: {n} samples, {best:.3f} s, {n / best:.4g} samples/s, pi ~ {4.0 * hits / n:.6f}")

if __name__ == "__main__":
    main()
