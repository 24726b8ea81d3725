#!/usr/bin/env bash
# Builds a fake libcuda.so.1 that runs gpucalc's kernels on the CPU (see scripts/cuda-fake-driver.c).
#
# Usage: scripts/cuda-fake-driver.sh OUTDIR
#   then LD_LIBRARY_PATH=OUTDIR runs gpucalc (built with --features cuda, linked
#   against any libcuda) as if OUTDIR held a GPU driver with one 4-SM "Fake GPU 0":
#   LD_LIBRARY_PATH=OUTDIR cargo test --features cuda -- --skip large_run
# This tests the host side only; the GPU tests on real hardware are scripts/gpu-bundle.sh's.
set -euo pipefail
out=${1:?usage: scripts/cuda-fake-driver.sh OUTDIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$out"
"${CC:-gcc}" -shared -fPIC -O2 -Wall -Wextra -Wno-unused-parameter -Wl,-soname,libcuda.so.1 \
    -o "$out/libcuda.so.1" "$here/cuda-fake-driver.c" -lm
echo "cuda-fake-driver.sh: $out/libcuda.so.1"
