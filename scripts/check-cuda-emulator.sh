#!/usr/bin/env bash
# Runs gpucalc's CUDA kernels on the CPU under scripts/cuda-emulator.cpp: every
# matmul kernel of kernels/cuda/matmul.cu (the gemm.h FMA kernels once, the FP64
# tensor-core GEMM of kernels/cuda/gemm_tc.cuh once per code path the GPU can
# take: sm_90 (m16n8k8), sm_80..89 (m8n8k4) and the warp-shuffle fallback), and
# the pi kernel of kernels/cuda/gpucalc.cu with its warp-shuffle group sum.
# Needs a C++ compiler (CXX, default c++) with POSIX threads; no GPU, no nvcc.
#
# Usage: scripts/check-cuda-emulator.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cxx=${CXX:-c++}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for arch in 900 800 0; do
    "$cxx" -std=c++17 -O2 -pthread -Wall -Wextra -Werror -Wno-unknown-pragmas \
        -DGC_TC_EMULATE="$arch" -o "$work/emulator-$arch" "$root/scripts/cuda-emulator.cpp"
    # A kernel that waits at a barrier some threads never reach hangs here, as on a GPU.
    timeout 600 "$work/emulator-$arch"
done
echo "check-cuda-emulator: ok"
