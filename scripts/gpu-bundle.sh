#!/usr/bin/env bash
# Packs gpucalc's CUDA build into a folder that runs on a GPU machine with no Rust.
#
# Usage:
#   scripts/gpu-bundle.sh                 # -> dist/gpucalc-bundle/ and dist/gpucalc-bundle.tar.gz
#   scp dist/gpucalc-bundle.tar.gz lab:
#   ssh lab 'tar xzf gpucalc-bundle.tar.gz && gpucalc-bundle/run.sh'
#   ssh lab 'gpucalc-bundle/run.sh --quick'   # tests, devices and pi 1e9 only
#   ssh lab 'gpucalc-bundle/run.sh --bench'   # the CUDA suite against PyTorch/cuBLAS only
#   ssh lab 'gpucalc-bundle/run.sh --sanitize' # small runs of every kernel under compute-sanitizer
#
# On this machine: Rust, nvcc (NVCC=..., CUDA_PATH or PATH, as for
# `cargo build --features cuda`), and a libcuda to link against. CUDA_LIBRARY_PATH
# picks it (the driver's or a toolkit's root, see cust_raw); if it is unset and
# there is no /usr/local/cuda, a stub is made with scripts/cuda-stub.sh in
# .tools/cuda-stub. The stub is only for cust's build: gpucalc opens the GPU
# machine's libcuda.so.1 at run time (and runs without one, minus CUDA).
#
# On the GPU machine: an NVIDIA driver for CUDA 13.0 or newer (R580+; older
# drivers refuse the kernels with a message saying so) and a glibc no older
# than this machine's. run.sh runs every test executable (the GPU tests compare
# with the CPU reference), then `gpucalc devices`, `gpucalc --device cuda pi 1e9`
# (timed from process start), `pi 1e11` (on the GPU, then on every device at
# once), PyTorch's peers of the suite where
# python3 has torch (results/torch.json: cuBLAS with TF32 off, stream, rng, map
# as tensor ops), `gpucalc --device cuda bench` compared with them
# (results/bench-cuda.json), `gpucalc bench` on every device (results/bench.json
# and .csv) and the criterion benchmarks, and keeps a log and the criterion
# data in gpucalc-bundle/results/. `--quick` stops after pi 1e9; `--bench` runs
# only the peers and the CUDA suite (each fits one 10-minute device call);
# `--sanitize` runs small cases of every kernel under compute-sanitizer
# (memcheck, racecheck, synccheck), which names the kernel and the access
# where a test saw only a fault; it is skipped where the tool is missing or
# refuses the GPU (gVisor). A full run includes it after the pi runs.
#
# One `cargo test --release --no-run --tests --benches` builds everything: the
# bench profile inherits release unchanged, so the benchmark executable is the
# one `cargo bench --no-run` would build, without compiling the crate twice;
# a `cargo build --examples` after it adds the numbered examples (bundled in
# examples/, run by tests/examples.rs) on the same library.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=dist/gpucalc-bundle
# nvcc (NVCC, CUDA_PATH, .tools/ from scripts/test.sh, PATH) and CUDA_LIBRARY_PATH
# (a toolkit root, else a stub in .tools/cuda-stub) for cust's build.
source scripts/cuda-env.sh
command -v jq >/dev/null || { echo "gpu-bundle: needs jq to read cargo's JSON (apt-get install jq)" >&2; exit 1; }

echo "gpu-bundle: building (release, --features cuda)..." >&2
json=$(mktemp)
trap 'rm -f "$json"' EXIT
cargo test --release --features cuda --no-run --tests --benches --message-format=json >"$json"
# The examples as programs (`cargo test --examples` would build test harnesses);
# the library they link is the one just built.
cargo build --release --features cuda --examples --message-format=json >>"$json"

rm -rf "$out"
mkdir -p "$out/bin" "$out/tests" "$out/bench" "$out/peers" "$out/examples"
cp benches/peers/torch_peers.py benches/peers/peer_report.py "$out/peers/"
# kind<TAB>name<TAB>test?<TAB>executable, for every artifact that is a program.
jq -r 'select(.reason == "compiler-artifact" and .executable != null)
       | [.target.kind[0], .target.name, (.profile.test | tostring), .executable] | @tsv' "$json" |
    while IFS=$'\t' read -r kind name is_test exe; do
        case "$kind/$is_test" in
        bin/false) cp "$exe" "$out/bin/$name" ;;
        # Beside tests/, where tests/examples.rs looks for them (../examples).
        example/false) cp "$exe" "$out/examples/$name" ;;
        bench/*) cp "$exe" "$out/bench/$name" ;;
        */true) cp "$exe" "$out/tests/$kind-$name" ;;
        esac
    done
[[ -x "$out/bin/gpucalc" ]] || { echo "gpu-bundle: no gpucalc binary was built" >&2; exit 1; }

cat >"$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs gpucalc's CUDA checks here: tests, devices, pi, benchmarks. `--quick` stops after
# pi 1e9; `--bench` runs only PyTorch's peers and the CUDA suite compared with them;
# `--sanitize` runs small cases of every kernel under compute-sanitizer.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
mkdir -p results
exec > >(tee -a "results/run-$(date +%Y%m%d-%H%M%S).log") 2>&1
export GPUCALC_BIN="$here/bin/gpucalc" CRITERION_HOME="$here/results/criterion"
# The numbered examples are bundled: tests/examples.rs runs them on the device
# `auto` picks (the GPU), and a missing one is a failure.
export GPUCALC_REQUIRE_EXAMPLES=1
unset GPUCALC_DEVICE
mode=${1:-all}
case "$mode" in all | --quick | --bench | --sanitize) ;; *) echo "usage: run.sh [--quick | --bench | --sanitize]" >&2; exit 2 ;; esac
failed=()

step() {
    echo; echo "== $*"
    local start end
    start=$(date +%s.%N)
    "$@"; local rc=$?
    end=$(date +%s.%N)
    echo "-- exit $rc, wall $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }') s: $*"
    ((rc == 0)) || failed+=("$*")
}

echo "== $(hostname): $(uname -sr)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv
if ! bin/gpucalc --version >/dev/null 2>&1; then
    echo "gpucalc does not start here: $(bin/gpucalc --version 2>&1 | head -n 1)"
    echo "(it needs a glibc no older than the build machine's)"
    exit 1
fi
# The 4096³ products of issue 6's targets, each kernel's time listed (`tried`).
matmul_json() {
    bin/gpucalc --device cuda matmul 4096 4096 4096 --dtype "$1" --reps 10 --json \
        >"results/matmul-$1.json" && cat "results/matmul-$1.json"
}
# PyTorch's figures for the same rows (cuBLAS, TF32 off), then the CUDA suite
# compared with them row by row.
cuda_suite() {
    step matmul_json f32
    step matmul_json f64
    if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
        step python3 peers/torch_peers.py --json results/torch.json
        step bin/gpucalc --device cuda bench --json results/bench-cuda.json --compare results/torch.json
    else
        echo "(no python3 with CUDA PyTorch here: the suite runs without its cuBLAS peers)"
        step bin/gpucalc --device cuda bench --json results/bench-cuda.json
    fi
}

# Small runs of every kernel, sizes and offsets chosen for edges (odd lengths,
# a start that is not a multiple of a vector, partial tiles, a tensor-core
# shape), under compute-sanitizer: memcheck for bad accesses, racecheck and
# synccheck where kernels share memory. A kernel fault on the GPU ends the
# process's CUDA work, so these say which kernel and where, as the tests cannot.
# Asked for by name (--sanitize), a missing or refusing tool fails the run;
# within a full run it is a note.
sanitize() {
    local cs probe
    cs=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null) ||
        { skip_sanitize "no compute-sanitizer here"; return 0; }
    # Captured whole: under pipefail a pipe into grep would report the tool's status.
    probe=$("$cs" --tool memcheck bin/gpucalc --device cuda pi 1e6 2>&1)
    if [[ $probe == *'Device not supported'* ]]; then
        skip_sanitize "compute-sanitizer does not support this GPU runtime (as on gVisor)"
        return 0
    fi
    check() { step "$cs" --tool "$1" --error-exitcode 9 --print-limit 20 bin/gpucalc --device cuda "${@:2}"; }
    check memcheck pi 1000003 --verify
    check memcheck stream -s 1000003 -n 2
    check memcheck stream -s 1000003 -n 2 --float
    # One map kernel per type takes every function.
    check memcheck map sin 1000003 --gen uniform --dtype f32
    check memcheck map sqrt 1000003 --gen uniform --dtype f64
    check memcheck rng 1000003 --dtype f32 --offset 3
    check memcheck rng 1000003 --dist normal --offset 1
    check memcheck rng 1000003 --dist normal --dtype f32 --offset 3
    check memcheck rng 1000003 --dist raw --offset 5
    check memcheck transfer --max-bytes 1e6 --reps 2
    for dtype in f32 f64; do
        for shape in "1 1 1" "129 130 66" "300 260 130" "513 257 1031"; do
            # shellcheck disable=SC2086 # the shape is three words
            check memcheck matmul $shape --dtype "$dtype" --reps 1
        done
        check racecheck matmul 129 130 66 --dtype "$dtype" --reps 1
        check synccheck matmul 129 130 66 --dtype "$dtype" --reps 1
    done
    check racecheck pi 1000003
    check racecheck stream -s 100003 -n 2
}
skip_sanitize() {
    echo "($1: the compute-sanitizer checks did not run)"
    [[ "$mode" == --sanitize ]] && failed+=("compute-sanitizer: $1")
}

if [[ "$mode" == --bench ]]; then
    step bin/gpucalc devices
    cuda_suite
elif [[ "$mode" == --sanitize ]]; then
    step bin/gpucalc devices
    sanitize
else
    for t in tests/*; do step "$t"; done
    step bin/gpucalc devices
    step bin/gpucalc --device cuda pi 1e9
    if [[ "$mode" == all ]]; then
        step bin/gpucalc --device cuda pi 1e11 --verify
        step bin/gpucalc --device all pi 1e11
        sanitize
        cuda_suite
        # The lab suite on every device, as files a later run can --compare against.
        step bin/gpucalc --device all bench --json results/bench.json --csv results/bench.csv
        for b in bench/*; do step "$b" --bench; done
    fi
fi
echo
if ((${#failed[@]})); then
    echo "FAILED: ${#failed[@]} step(s):"; printf '  %s\n' "${failed[@]}"; exit 1
fi
echo "all steps passed; log and criterion data in $here/results/"
RUN
chmod +x "$out/run.sh"

tar -C dist -czf dist/gpucalc-bundle.tar.gz gpucalc-bundle
echo "gpu-bundle: $out ($(du -sh "$out" | cut -f1)), dist/gpucalc-bundle.tar.gz" >&2
ls -l "$out"/* >&2
