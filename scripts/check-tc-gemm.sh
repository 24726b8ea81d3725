#!/usr/bin/env bash
# Runs the FP64 tensor-core GEMM (kernels/cuda/gemm_tc.cuh) on the CPU under
# scripts/tc-gemm-emulator.cpp, once per code path the GPU can take: sm_90
# (m16n8k8), sm_80..89 (m8n8k4) and the warp-shuffle fallback. Needs a C++
# compiler (CXX, default c++) with POSIX threads; no GPU, no nvcc.
#
# Usage: scripts/check-tc-gemm.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cxx=${CXX:-c++}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for arch in 900 800 0; do
    "$cxx" -std=c++17 -O2 -pthread -Wall -Wextra -Werror -Wno-unknown-pragmas \
        -DGC_TC_EMULATE="$arch" -o "$work/emulator-$arch" "$root/scripts/tc-gemm-emulator.cpp"
    "$work/emulator-$arch"
done
echo "check-tc-gemm: ok"
