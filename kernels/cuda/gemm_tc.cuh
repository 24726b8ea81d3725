/* `matmul` f64 on the FP64 tensor cores (DMMA, compute capability 8.0 and up):
 * C = A·B for row-major A (m×k), B (k×n), C (m×n), all double.
 *
 * CUDA only, unlike kernels/common/gemm.h: OpenCL has no tensor-core
 * instructions. gemm.h stays the f64 kernel of GPUs without them and of the
 * shapes this one does not take (odd k or n, below).
 *
 * Why: an FP64 FFMA kernel tops out at the GPU's FP64 vector rate, which on
 * A100 and H100 is half the FP64 tensor-core rate that cuBLAS's DGEMM uses.
 *
 * Each block computes a BM×BN tile of C with WM×WN warps; each warp a
 * (BM/WM)×(BN/WN) part of it as a grid of 16×8 units, the shape of one
 * m16n8k8 f64 MMA (PTX ISA, "Matrix fragments for mma.m16n8k8 .f64"): per lane
 * (group g = lane/4, thread-in-group t = lane%4)
 *   A 16×8: a[v] = A[g + 8·(v%2)][t + 4·(v/2)], v < 4
 *   B 8×8:  b[v] = B[t + 4·v][g],               v < 2
 *   C 16×8: c[v] = C[g + 8·(v/2)][2t + v%2],    v < 4
 * On sm_90 that is one instruction; on sm_80..89 four m8n8k4 (A 8×4: a =
 * A[g][t]; B 4×8: b = B[t][g]; C 8×8: c[v] = C[g][2t + v]) on the same
 * registers; below sm_80 (only reached through a PTX JIT; the host does not
 * pick this kernel there) the m8n8k4 products come from warp shuffles, slowly
 * but right.
 *
 * k advances in steps of BK = 8, one unit deep, through STAGES shared
 * buffers of the A and B slices: the slices of step s + STAGES - 1 are copied
 * global → shared with cp.async (16 bytes each, zero-filled outside the
 * matrices) while step s feeds the MMAs, so each copy has STAGES - 1 steps to
 * land; one barrier per step (it both publishes step s's copies and frees
 * the buffer step s - 1 read, which the next copies fill).
 *
 * Shared layout: slices are stored unpadded, with 16-byte chunks permuted
 * within each row (an XOR swizzle) so that the fragment reads of each
 * half-warp hit 32 different banks and every 8 consecutive copies fill one
 * 128-byte line:
 *   A slice, BM rows × 8: element (r, c) at r·8 + (c ^ ((r & 2) << 1));
 *     a half-warp reads rows g = 0..3 at columns t = 0..3 (or 4..7).
 *   B slice, 8 rows × BN: element (r, c) at r·BN + (c ^ ((r & 3) << 2));
 *     a half-warp reads rows t = 0..3 (or 4..7) at 4 neighbouring columns.
 * A stage is 64·(BM + BN) bytes (Config::tensor in src/backend/cuda/matmul/choice.rs
 * has the same formula), so three stages of 128×128 fit the 48 KiB of static
 * shared memory.
 *
 * Shapes: k and n even (the host checks), so every 16-byte copy of A or B and
 * every pair of C columns is either wholly inside the matrix or wholly out,
 * and aligned; any m ≥ 1.
 *
 * Parameters, defined by the including file:
 *   GC_TC_BM, GC_TC_BN  the block tile of C;
 *   GC_TC_WM, GC_TC_WN  warps down and across it (each warp's part a multiple
 *                       of 16 rows and 8 columns);
 *   GC_TC_STAGES        shared buffers of the slices (2 or more);
 *   GC_TC_MINB          blocks per multiprocessor to fit registers for;
 *   GC_TC_NAME          the kernel's name.
 * The block is 1-D, 32·WM·WN threads; the grid 1-D, one block per tile of C.
 * Include once per configuration, after portable.h (for tile_order.h); the
 * parameters are undefined at the end.
 *
 * Off the GPU, scripts/cuda-emulator.cpp compiles this file as C++ with its
 * own definitions of the gc_tc_* primitives below and of the CUDA
 * built-ins, and checks it against a reference
 * (scripts/check-cuda-emulator.sh). */

#ifndef GPUCALC_GEMM_TC_ONCE
#define GPUCALC_GEMM_TC_ONCE

#include "../common/tile_order.h"

#define GC_TC_BK (8)
#define GC_TC_CAT2(a, b) a##b
#define GC_TC_CAT(a, b) GC_TC_CAT2(a, b)

/* The architecture the body is compiled for: the device's, or the emulator's. */
#if defined(__CUDA_ARCH__)
#define GC_TC_ARCH (__CUDA_ARCH__)
#elif defined(GC_TC_EMULATE)
#define GC_TC_ARCH (GC_TC_EMULATE)
#else
#define GC_TC_ARCH (0)
#endif

#if defined(__CUDA_ARCH__)
/* The primitives on the GPU. */
#if __CUDA_ARCH__ >= 900
/* d += a·b for one 16×8×8 unit (layout above). */
__device__ __forceinline__ void gc_tc_m16n8k8(double d[4], const double a[4], const double b[2])
{
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f64.f64.f64.f64 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+d"(d[0]), "+d"(d[1]), "+d"(d[2]), "+d"(d[3])
                 : "d"(a[0]), "d"(a[1]), "d"(a[2]), "d"(a[3]), "d"(b[0]), "d"(b[1]));
}
#endif
#if __CUDA_ARCH__ >= 800
/* (d0, d1) += a·b for one 8×8×4 product (layout above). */
__device__ __forceinline__ void gc_tc_m8n8k4(double *d0, double *d1, double a, double b)
{
    asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 "
                 "{%0, %1}, {%2}, {%3}, {%0, %1};\n"
                 : "+d"(*d0), "+d"(*d1)
                 : "d"(a), "d"(b));
}
#endif
/* Copies 16 bytes global → shared, or writes 16 zero bytes if !inside. */
__device__ __forceinline__ void gc_tc_copy16(double2 *shared, const double *global, int inside)
{
#if __CUDA_ARCH__ >= 800
    const unsigned to = (unsigned)__cvta_generic_to_shared(shared);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(to), "l"(global),
                 "r"(inside ? 16 : 0)
                 : "memory");
#else
    *shared = inside ? *(const double2 *)global : make_double2(0.0, 0.0);
#endif
}
/* Ends a group of copies (an empty group if none were started since the last). */
__device__ __forceinline__ void gc_tc_commit(void)
{
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
/* Waits until at most `pending` groups, the newest, are still in flight. */
template <unsigned pending> __device__ __forceinline__ void gc_tc_wait(void)
{
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(pending) : "memory");
#endif
}
/* `value` of lane `from` of the warp. */
__device__ __forceinline__ double gc_tc_shfl(double value, unsigned from)
{
    return __shfl_sync(0xffffffffu, value, (int)from);
}
#endif /* __CUDA_ARCH__ */

/* Starts copying the slice_rows×slice_cols slice of the row-major rows×cols
 * matrix `src` at (r0, c0) into `dst`, a slice_cols-wide buffer whose row r
 * has its columns XOR-permuted by ((r & row_mask) << shift) (see the top), in
 * 16-byte copies shared by `threads` threads, `per_thread` each. Copies outside
 * the matrix read nothing (`src` itself stands in) and write zeros. cols and
 * slice_cols are even; the permutation moves whole 16-byte chunks. */
__device__ __forceinline__ void gc_tc_stage(double *dst, const double *src, unsigned rows,
                                            unsigned cols, unsigned r0, unsigned c0,
                                            unsigned slice_cols, unsigned row_mask,
                                            unsigned shift, unsigned per_thread,
                                            unsigned threads, unsigned tid)
{
#pragma unroll
    for (unsigned l = 0u; l < per_thread; ++l) {
        const unsigned idx = tid + l * threads;
        const unsigned r = idx / (slice_cols / 2u), q = (idx % (slice_cols / 2u)) * 2u;
        const int inside = r0 + r < rows && c0 + q < cols;
        gc_tc_copy16((double2 *)(dst + r * slice_cols + (q ^ ((r & row_mask) << shift))),
                     inside ? src + (unsigned long long)(r0 + r) * cols + c0 + q : src, inside);
    }
}

/* d += a·b for one 16×8×8 unit, whatever the architecture (see the top). */
__device__ __forceinline__ void gc_tc_unit(double d[4], const double a[4], const double b[2],
                                           unsigned lane)
{
#if GC_TC_ARCH >= 900
    (void)lane;
    gc_tc_m16n8k8(d, a, b);
#elif GC_TC_ARCH >= 800
    (void)lane;
    /* Rows 0..7 take a[0] (k 0..3) and a[2] (k 4..7); rows 8..15 a[1] and a[3]. */
    gc_tc_m8n8k4(&d[0], &d[1], a[0], b[0]);
    gc_tc_m8n8k4(&d[0], &d[1], a[2], b[1]);
    gc_tc_m8n8k4(&d[2], &d[3], a[1], b[0]);
    gc_tc_m8n8k4(&d[2], &d[3], a[3], b[1]);
#else
    /* Lane 4·g + t holds A[g][t] (+ 4 in k for a[2], a[3]) and B[t][g]: the
     * m8n8k4 products by shuffles; every lane takes part in every shuffle. */
    const unsigned g = lane / 4u, t = lane % 4u;
#pragma unroll 1
    for (unsigned half = 0u; half < 2u; ++half) {
#pragma unroll 1
        for (unsigned kk = 0u; kk < 4u; ++kk) {
            const double top = gc_tc_shfl(a[2u * half], 4u * g + kk);
            const double bottom = gc_tc_shfl(a[2u * half + 1u], 4u * g + kk);
            const double left = gc_tc_shfl(b[half], 4u * (2u * t) + kk);
            const double right = gc_tc_shfl(b[half], 4u * (2u * t + 1u) + kk);
            d[0] = fma(top, left, d[0]);
            d[1] = fma(top, right, d[1]);
            d[2] = fma(bottom, left, d[2]);
            d[3] = fma(bottom, right, d[3]);
        }
    }
#endif
}

#endif /* GPUCALC_GEMM_TC_ONCE */

#if !defined(GC_TC_BM) || !defined(GC_TC_BN) || !defined(GC_TC_WM) || !defined(GC_TC_WN) ||      \
    !defined(GC_TC_STAGES) || !defined(GC_TC_MINB) || !defined(GC_TC_NAME)
#error "gemm_tc.cuh: define GC_TC_BM, _BN, _WM, _WN, _STAGES, _MINB and _NAME before including it"
#endif

#define GC_TC_NT (32 * GC_TC_WM * GC_TC_WN)     /* threads per block */
#define GC_TC_WTM (GC_TC_BM / GC_TC_WM)         /* rows of C per warp */
#define GC_TC_WTN (GC_TC_BN / GC_TC_WN)         /* columns of C per warp */
#define GC_TC_UM (GC_TC_WTM / 16)               /* units down a warp's part */
#define GC_TC_UN (GC_TC_WTN / 8)                /* units across it */
#define GC_TC_LA (GC_TC_BM * GC_TC_BK)          /* doubles in an A slice */
#define GC_TC_LB (GC_TC_BK * GC_TC_BN)          /* doubles in a B slice */
#define GC_TC_FN(name) GC_TC_CAT(GC_TC_NAME, name) /* this configuration's helpers */

#if GC_TC_WTM % 16 != 0 || GC_TC_WTN % 8 != 0 || (GC_TC_LA / 2) % GC_TC_NT != 0 ||              \
    (GC_TC_LB / 2) % GC_TC_NT != 0 || GC_TC_BN % 16 != 0 || GC_TC_STAGES < 2
#error "gemm_tc.cuh: each warp's part must be whole 16x8 units, the slices whole chunks per thread, BN a multiple of 16 (the B swizzle) and STAGES at least 2"
#endif

/* Starts copying the A and B slices of k step `step` into stage `stage`, as
 * one group of copies. */
__device__ __forceinline__ void GC_TC_FN(_fetch)(double *a_slices, double *b_slices,
                                                 const double *a, const double *b, unsigned m,
                                                 unsigned n, unsigned k, unsigned row0,
                                                 unsigned col0, unsigned step, unsigned stage,
                                                 unsigned tid)
{
    const unsigned k0 = step * GC_TC_BK;
    gc_tc_stage(a_slices + stage * GC_TC_LA, a, m, k, row0, k0, GC_TC_BK, 2u, 1u,
                GC_TC_LA / 2 / GC_TC_NT, GC_TC_NT, tid);
    gc_tc_stage(b_slices + stage * GC_TC_LB, b, k, n, k0, col0, GC_TC_BN, 3u, 2u,
                GC_TC_LB / 2 / GC_TC_NT, GC_TC_NT, tid);
    gc_tc_commit();
}

extern "C" __global__ void __launch_bounds__(GC_TC_NT, GC_TC_MINB)
    GC_TC_NAME(const double *__restrict__ a, const double *__restrict__ b, double *__restrict__ c,
               unsigned m, unsigned n, unsigned k)
{
    /* STAGES buffers of each slice, as double2 for 16-byte alignment. */
    __shared__ double2 a_store[GC_TC_STAGES * GC_TC_LA / 2];
    __shared__ double2 b_store[GC_TC_STAGES * GC_TC_LB / 2];
    double *const a_slices = (double *)a_store;
    double *const b_slices = (double *)b_store;

    const unsigned tid = threadIdx.x;
    const unsigned lane = tid % 32u, warp = tid / 32u;
    const unsigned g = lane / 4u, t = lane % 4u;
    const unsigned warp_row = (warp / GC_TC_WN) * GC_TC_WTM;
    const unsigned warp_col = (warp % GC_TC_WN) * GC_TC_WTN;
    /* Where this lane's fragment elements sit in the swizzled rows (see the
     * top): every A row it reads, g + 16i (+ 8), has bit 1 of g, and every B
     * row, t (+ 4), has the low bits of t; warp_col + 8j is a multiple of 8. */
    const unsigned a_at = t ^ ((g & 2u) << 1);
    const unsigned b_at = g ^ (t << 2);

    /* This block's tile of C (tile_order.h). */
    unsigned row0, col0;
    gc_tile_origin(blockIdx.x, m, n, GC_TC_BM, GC_TC_BN, &row0, &col0);

    double acc[GC_TC_UM][GC_TC_UN][4];
#pragma unroll
    for (unsigned i = 0u; i < GC_TC_UM; ++i) {
#pragma unroll
        for (unsigned j = 0u; j < GC_TC_UN; ++j) {
#pragma unroll
            for (unsigned v = 0u; v < 4u; ++v) {
                acc[i][j][v] = 0.0;
            }
        }
    }

    const unsigned steps = (k + (GC_TC_BK - 1u)) / GC_TC_BK;

    /* Steps 0 .. STAGES - 2 in flight; one group per step (empty past the end)
     * keeps the count of groups in step with the count of steps. */
#pragma unroll
    for (unsigned s = 0u; s + 1u < GC_TC_STAGES; ++s) {
        if (s < steps) {
            GC_TC_FN(_fetch)(a_slices, b_slices, a, b, m, n, k, row0, col0, s, s, tid);
        } else {
            gc_tc_commit();
        }
    }
    unsigned read = 0u, write = GC_TC_STAGES - 1u;
    for (unsigned step = 0u; step < steps; ++step) {
        /* Groups 0 .. step + STAGES - 2 are committed: this step's has landed
         * once at most STAGES - 2 are in flight. */
        gc_tc_wait<GC_TC_STAGES - 2u>();
        /* Every thread's copies for this step are visible, and every thread is
         * done with step - 1, whose stage `write` is. */
        __syncthreads();
        if (step + GC_TC_STAGES - 1u < steps) {
            GC_TC_FN(_fetch)(a_slices, b_slices, a, b, m, n, k, row0, col0,
                             step + GC_TC_STAGES - 1u, write, tid);
        } else {
            gc_tc_commit();
        }

        const double *const as = a_slices + read * GC_TC_LA;
        const double *const bs = b_slices + read * GC_TC_LB;
        double af[GC_TC_UM][4];
        double bf[GC_TC_UN][2];
#pragma unroll
        for (unsigned i = 0u; i < GC_TC_UM; ++i) {
            const double *const row = as + (warp_row + i * 16u + g) * GC_TC_BK;
            af[i][0] = row[a_at];
            af[i][1] = row[8u * GC_TC_BK + a_at];
            af[i][2] = row[a_at ^ 4u];
            af[i][3] = row[8u * GC_TC_BK + (a_at ^ 4u)];
        }
#pragma unroll
        for (unsigned j = 0u; j < GC_TC_UN; ++j) {
            const double *const col = bs + t * GC_TC_BN + ((warp_col + j * 8u) ^ b_at);
            bf[j][0] = col[0];
            bf[j][1] = col[4u * GC_TC_BN];
        }
#pragma unroll
        for (unsigned i = 0u; i < GC_TC_UM; ++i) {
#pragma unroll
            for (unsigned j = 0u; j < GC_TC_UN; ++j) {
                gc_tc_unit(acc[i][j], af[i], bf[j], lane);
            }
        }
        read = read + 1u == GC_TC_STAGES ? 0u : read + 1u;
        write = write + 1u == GC_TC_STAGES ? 0u : write + 1u;
    }
    gc_tc_wait<0u>(); /* nothing in flight at exit (the last groups are empty) */

    /* Each lane holds pairs of neighbouring columns: one 16-byte store each. */
#pragma unroll
    for (unsigned i = 0u; i < GC_TC_UM; ++i) {
#pragma unroll
        for (unsigned j = 0u; j < GC_TC_UN; ++j) {
            const unsigned col = col0 + warp_col + j * 8u + 2u * t;
            if (col < n) {
#pragma unroll
                for (unsigned half = 0u; half < 2u; ++half) {
                    const unsigned row = row0 + warp_row + i * 16u + 8u * half + g;
                    if (row < m) {
                        *(double2 *)(c + (unsigned long long)row * n + col) =
                            make_double2(acc[i][j][2u * half], acc[i][j][2u * half + 1u]);
                    }
                }
            }
        }
    }
}

#undef GC_TC_NT
#undef GC_TC_WTM
#undef GC_TC_WTN
#undef GC_TC_UM
#undef GC_TC_UN
#undef GC_TC_LA
#undef GC_TC_LB
#undef GC_TC_FN
#undef GC_TC_BM
#undef GC_TC_BN
#undef GC_TC_WM
#undef GC_TC_WN
#undef GC_TC_STAGES
#undef GC_TC_MINB
#undef GC_TC_NAME
