/* The configurations of the FP64 tensor-core GEMM (gemm_tc.cuh) that
 * matmul.cu builds, in one place so that scripts/cuda-emulator.cpp tests
 * exactly these (src/backend/cuda/matmul/choice.rs lists them too, with their
 * launch shapes and shared memory; a unit test there checks the sizes).
 *
 *   gc_gemm_f64_tc_l: 128x128 tiles, 2x4 warps of 64x32, 256 threads, three
 *                     stages (48 KiB of shared memory): big products.
 *   gc_gemm_f64_tc_s: 64x64 tiles, 2x2 warps of 32x32, 128 threads, four
 *                     stages (32 KiB): products with too few big tiles to
 *                     fill the GPU. */
#define GC_TC_NAME gc_gemm_f64_tc_l
#define GC_TC_BM 128
#define GC_TC_BN 128
#define GC_TC_WM 2
#define GC_TC_WN 4
#define GC_TC_STAGES 3
#define GC_TC_MINB 1
#include "gemm_tc.cuh"

#define GC_TC_NAME gc_gemm_f64_tc_s
#define GC_TC_BM 64
#define GC_TC_BN 64
#define GC_TC_WM 2
#define GC_TC_WN 2
#define GC_TC_STAGES 4
#define GC_TC_MINB 4
#include "gemm_tc.cuh"
