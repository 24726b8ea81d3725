// matmul entry points: the tiled GEMM body of kernels/common/gemm.h in a few
// tile configurations per element type; src/backend/cuda/matmul/ picks one
// per GPU and problem (their names and shapes are listed there as well).
//
//   gc_gemm_<T>_l: 128x128 tiles, 8x8 per thread, 256 threads: big matrices.
//   gc_gemm_<T>_s: 64x64 tiles, 4x4 per thread, 256 threads: small or thin
//                  products, which give too few big tiles to fill the GPU.
//
// and, for f64 on the tensor cores (gemm_tc.cuh; A100 and H100/H200, even k
// and n), gc_gemm_f64_tc_l and gc_gemm_f64_tc_s: see gemm_tc_configs.cuh.
#include "../common/typed.h"

#define T float
#define GC_SFX f32

#define GC_GEMM_CFG l
#define GC_GEMM_BM 128
#define GC_GEMM_BN 128
#define GC_GEMM_BK 8
#define GC_GEMM_TM 8
#define GC_GEMM_TN 8
#define GC_GEMM_VW 4
#define GC_GEMM_MINB 2
#include "../common/gemm.h"

#define GC_GEMM_CFG s
#define GC_GEMM_BM 64
#define GC_GEMM_BN 64
#define GC_GEMM_BK 16
#define GC_GEMM_TM 4
#define GC_GEMM_TN 4
#define GC_GEMM_VW 4
#define GC_GEMM_MINB 4
#include "../common/gemm.h"

#undef T
#undef GC_SFX

#define T double
#define GC_SFX f64

#define GC_GEMM_CFG l
#define GC_GEMM_BM 128
#define GC_GEMM_BN 128
#define GC_GEMM_BK 8
#define GC_GEMM_TM 8
#define GC_GEMM_TN 8
#define GC_GEMM_VW 2
#define GC_GEMM_MINB 1
#include "../common/gemm.h"

#define GC_GEMM_CFG s
#define GC_GEMM_BM 64
#define GC_GEMM_BN 64
#define GC_GEMM_BK 16
#define GC_GEMM_TM 4
#define GC_GEMM_TN 4
#define GC_GEMM_VW 2
#define GC_GEMM_MINB 2
#include "../common/gemm.h"

#undef T
#undef GC_SFX

#include "gemm_tc_configs.cuh"
