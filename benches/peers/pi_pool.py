#!/usr/bin/env python3
"""The seeds' Monte Carlo pi: a multiprocessing.Pool whose workers count hits on
NumPy arrays of random numbers. The peer that `gpucalc pi` is measured against.

usage: pi_pool.py [SAMPLES] [--processes P] [--json]
Prints samples/s; with --json, one JSON object shaped like gpucalc's pi output.
"""
import argparse
import json
import multiprocessing as mp
import time

import numpy as np

CHUNK = 10_000_000  # samples per task: large enough that the pool's overhead is small


def count_hits(task):
    seed, n = task
    rng = np.random.default_rng(seed)
    hits = 0
    done = 0
    while done < n:
        m = min(n - done, 2_000_000)
        x = rng.random(m)
        y = rng.random(m)
        hits += int(np.count_nonzero(x * x + y * y < 1.0))
        done += m
    return hits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("samples", nargs="?", type=float, default=2e8)
    ap.add_argument("--processes", type=int, default=mp.cpu_count())
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = int(args.samples)
    tasks = [(i, min(CHUNK, n - s)) for i, s in enumerate(range(0, n, CHUNK))]
    with mp.Pool(args.processes) as pool:
        pool.map(count_hits, [(0, 1000)] * args.processes)  # start the workers first
        start = time.perf_counter()
        hits = sum(pool.map(count_hits, tasks))
        elapsed = time.perf_counter() - start
    row = {
        "workload": "pi",
        "implementation": "python multiprocessing.Pool + numpy",
        "processes": args.processes,
        "samples": n,
        "hits": hits,
        "estimate": 4.0 * hits / n,
        "wall_time_s": elapsed,
        "samples_per_second": n / elapsed,
    }
    if args.json:
        print(json.dumps(row))
    else:
        print(f"{row['implementation']}: {n} samples, {elapsed:.3f} s, {n / elapsed:.4g} samples/s, pi ~ {row['estimate']:.6f}")


if __name__ == "__main__":
    main()
