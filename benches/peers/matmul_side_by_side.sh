#!/usr/bin/env bash
# gpucalc's CPU matmul and NumPy's (OpenBLAS), side by side in one run: the two
# take turns, ROUNDS times per dtype, so a noisy neighbour or a clock change
# hits both alike; each side's best run counts (the machine's quiet moments).
#
# usage: benches/peers/matmul_side_by_side.sh [SIZE] [ROUNDS] [GPUCALC]
#   SIZE     square size (default 2048, the size issue 6 names)
#   ROUNDS   turns per dtype (default 5), each of 3 timed runs after a warm-up
#   GPUCALC  the binary (default target/release/gpucalc)
# Threads: every hardware thread on both sides (set OPENBLAS_NUM_THREADS and
# gpucalc's --threads through GPUCALC_THREADS to change that).
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${1:-2048}
rounds=${2:-5}
gpucalc=${3:-target/release/gpucalc}
threads=()
[ -n "${GPUCALC_THREADS:-}" ] && threads=(--threads "$GPUCALC_THREADS")
[ -x "$gpucalc" ] || { echo "no $gpucalc: cargo build --release first" >&2; exit 1; }
python3 -c 'import numpy' 2>/dev/null || { echo "needs NumPy: python3 -m pip install numpy" >&2; exit 1; }

for dtype in f32 f64; do
    best_g=0 best_n=0
    for ((r = 1; r <= rounds; r++)); do
        g=$("$gpucalc" --device cpu ${threads[@]+"${threads[@]}"} matmul "$size" "$size" "$size" --dtype "$dtype" \
            --reps 3 --no-verify --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["gflops"])')
        n=$(python3 benches/peers/matmul_numpy.py "$size" --dtype "$dtype" --reps 3 |
            sed -n 's/.*, \([0-9.]*\) GFLOP\/s$/\1/p')
        [ -n "$g" ] && [ -n "$n" ] || { echo "a run printed no GFLOP/s figure" >&2; exit 1; }
        printf '%s round %d: gpucalc %6.1f  numpy %6.1f GFLOP/s\n' "$dtype" "$r" "$g" "$n"
        best_g=$(python3 -c "print(max($best_g, $g))")
        best_n=$(python3 -c "print(max($best_n, $n))")
    done
    python3 -c "g, n = $best_g, $best_n; print(f'$dtype ${size}^3 best: gpucalc {g:.1f}, numpy {n:.1f} GFLOP/s: {100 * g / n:.0f}% of NumPy')"
done
