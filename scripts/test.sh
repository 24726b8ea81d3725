#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need
# (PoCL and the OpenCL loader, nvcc 13.0 from PyPI, a libcuda stub), then runs
# formatting and lint checks, every test with no features and with all
# features, and the CUDA kernel checks. CI runs exactly this (.ci/run).
#
# Set GPUCALC_NO_INSTALL=1 to skip installs (then PoCL, nvcc and the stub must
# already be where this script looks).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/.tools
step() { printf '\n==> %s\n' "$*"; }

# --- What the tests need -----------------------------------------------------
if [ "${GPUCALC_NO_INSTALL:-0}" != 1 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    if ! { [ -e /usr/lib/x86_64-linux-gnu/libOpenCL.so ] || grep -q 'libOpenCL\.so ' <<<"$(ldconfig -p)"; } \
        || ! ls /etc/OpenCL/vendors/*pocl* >/dev/null 2>&1; then
        step "installing PoCL and the OpenCL ICD loader (apt)"
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pocl-opencl-icd ocl-icd-opencl-dev clinfo >/dev/null
    fi
    python3 -m pip --version >/dev/null 2>&1 || {
        echo "test.sh: needs python3 with pip to install nvcc (apt-get install python3-pip)" >&2
        exit 1
    }
    if [ ! -x "$tools/cuda/nvidia/cu13/bin/nvcc" ]; then
        step "installing nvcc 13.0 from PyPI into .tools/cuda"
        python3 -m pip install -q --disable-pip-version-check --target "$tools/cuda" \
            'nvidia-cuda-nvcc==13.0.*' 'nvidia-cuda-crt==13.0.*' \
            'nvidia-cuda-runtime==13.0.*' 'nvidia-nvvm==13.0.*'
    fi
    # No 13.0 wheels of these exist; 13.2 reads 13.0 cubins (SASS check only).
    for tool in cuobjdump nvdisasm; do
        if [ ! -d "$tools/$tool/nvidia" ]; then
            step "installing $tool 13.2 from PyPI into .tools/$tool"
            python3 -m pip install -q --disable-pip-version-check --target "$tools/$tool" \
                "nvidia-cuda-$tool==13.2.*"
        fi
    done
fi
step "fetching crates"
cargo fetch --quiet
source scripts/cuda-env.sh
echo "NVCC=${NVCC:-none}  CUDA_LIBRARY_PATH=${CUDA_LIBRARY_PATH:-none}"

# --- Checks ------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (default features, then all features)"
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --all-features -- -D warnings

step "cargo doc (all features, warnings are errors: broken links, missing docs)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features --quiet

step "CUDA kernels: ptxas for sm_75, sm_80, sm_90, and the SASS of the Philox multiplies"
REQUIRE_SASS=1 bash scripts/check-kernels.sh

step "CUDA kernels on a CPU emulation: matmul (gemm.h, the FP64 tensor-core GEMM on every code path), pi (warp shuffles)"
bash scripts/check-cuda-emulator.sh

step "tests, default features (CPU only; GPU backends are stubs)"
# `cargo test` builds the examples, and tests/examples.rs runs each one;
# here a missing example is a failure, not a skip.
export GPUCALC_REQUIRE_EXAMPLES=1
cargo test

step "tests, all features (OpenCL on PoCL for real; CUDA against the libcuda stub)"
cargo test --all-features

step "CUDA host code against a fake libcuda that runs the kernels on the CPU"
bash scripts/cuda-fake-driver.sh "$tools/cuda-fake" >/dev/null
LD_LIBRARY_PATH="$tools/cuda-fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    cargo test --features cuda --lib --test cuda -- --skip large_run
