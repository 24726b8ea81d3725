# Sourced by scripts/test.sh (and usable by hand: `source scripts/cuda-env.sh`):
# puts nvcc in NVCC and, where no NVIDIA driver is installed, a libcuda stub on
# the link and library paths, so `--features cuda` builds and its tests run
# (taking the "no usable driver" path) on any machine.
_gc_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_gc_tools=$_gc_root/.tools

if [ -z "${NVCC:-}" ]; then
    for _gc_nvcc in "$_gc_tools/cuda/nvidia/cu13/bin/nvcc" "${CUDA_PATH:-/nonexistent}/bin/nvcc" \
        "${CUDA_HOME:-/nonexistent}/bin/nvcc" "$(command -v nvcc || true)"; do
        if [ -x "$_gc_nvcc" ]; then
            export NVCC=$_gc_nvcc
            break
        fi
    done
fi

_gc_stub() {
    if [ ! -e "$_gc_tools/cuda-stub/lib64/stubs/libcuda.so.1" ]; then
        bash "$_gc_root/scripts/cuda-stub.sh" "$_gc_tools/cuda-stub" >/dev/null
    fi
}

# Read the cache whole before matching: `ldconfig -p | grep -q` under pipefail
# can report "missing" when grep stops early and ldconfig gets SIGPIPE.
if grep -q 'libcuda\.so\.1 ' <<<"$(ldconfig -p 2>/dev/null)"; then
    # A real driver: link against the toolkit's stub if there is one (else our
    # own stub, for linking only), run against the driver.
    for _gc_cuda in "${CUDA_PATH:-}" "${CUDA_HOME:-}" /usr/local/cuda; do
        if [ -n "$_gc_cuda" ] && [ -d "$_gc_cuda/lib64" ]; then
            export CUDA_LIBRARY_PATH=${CUDA_LIBRARY_PATH:-$_gc_cuda}
            break
        fi
    done
    if [ -z "${CUDA_LIBRARY_PATH:-}" ]; then
        _gc_stub
        export CUDA_LIBRARY_PATH=$_gc_tools/cuda-stub
    fi
else
    _gc_stub
    export CUDA_LIBRARY_PATH=$_gc_tools/cuda-stub
    export LD_LIBRARY_PATH=$_gc_tools/cuda-stub/lib64/stubs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    # tests/cuda.rs then requires the stub's answers (CUDA_ERROR_ codes), not
    # the message of a machine with no libcuda at all.
    export GPUCALC_TEST_LIBCUDA_STUB=1
fi
unset -f _gc_stub
unset _gc_root _gc_tools _gc_nvcc _gc_cuda
