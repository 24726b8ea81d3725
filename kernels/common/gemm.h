/* `matmul`: C = A·B for row-major A (m×k), B (k×n) and C (m×n), element type T
 * (see typed.h): one tiled GEMM body for CUDA and OpenCL.
 *
 * Each work-group (thread block) computes a BM×BN tile of C. It walks k in
 * steps of BK: the BM×BK slice of A and the BK×BN slice of B are staged in
 * local (shared) memory, A transposed (k-major) so that both are read along
 * the tile's rows and columns; every work-item then accumulates its own TM×TN
 * outputs in registers from TM values of A and TN values of B per k (an outer
 * product: TM·TN multiply-adds for TM+TN local reads). The next slices are
 * fetched from global memory into registers while the current ones are used,
 * into the other of two local buffers, so each step needs one barrier.
 *
 * Layout. A work-item's outputs are not a contiguous TM×TN block: its rows
 * come in TM/VW runs of VW, run g at g·(BM/TM)·VW + ty·VW, and its columns
 * likewise, so that neighbouring work-items read neighbouring VW-wide vectors
 * from local memory (conflict-free 16-byte reads on NVIDIA GPUs, contiguous
 * lanes for CPU vectorisers at VW = 1) and write neighbouring vectors of C.
 * The A tile's rows are padded by VW elements: work-items storing one
 * transposed vector of A each then hit different banks.
 *
 * Edges. In the general loop every global load is bounds-checked and stores
 * zero into the tile outside the matrices, so the same code is right for any
 * m, n, k ≥ 1; loads and stores of C are VW-wide vectors where the row length
 * (k for A, n for B and C) is a multiple of VW, which with the buffers' own
 * alignment makes every vector aligned, and element by element otherwise and
 * at the edges. Groups whose tile lies wholly inside C, with VW-aligned rows,
 * first run an interior loop without checks over their whole k steps.
 *
 * Work-group order: see tile_order.h (shared with kernels/cuda/gemm_tc.cuh).
 *
 * Parameters: the including file (CUDA) or the build options (OpenCL) define
 *   T, GC_SFX             the element type and its suffix (typed.h);
 *   GC_GEMM_BM, _BN, _BK  the block tile of C and the depth of one k step;
 *   GC_GEMM_TM, _TN       each work-item's register tile of C;
 *   GC_GEMM_VW            elements per vector access: 1, 2 or 4 (16 bytes
 *                         is the aim: 4 floats, 2 doubles);
 *   GC_GEMM_MINB          (CUDA) blocks per multiprocessor to fit registers for;
 *   GC_GEMM_CFG           the kernel name's last part: gc_gemm_<SFX>_<CFG>.
 * The work-group is 1-D, (BM/TM)·(BN/TN) work-items, one group per tile of C
 * (a 1-D grid of ceil(m/BM)·ceil(n/BN) groups). This file has no include guard
 * (like stream.h): include it once per configuration; it undefines the
 * parameters above, except T and GC_SFX, at its end. */
#include "typed.h"
#include "tile_order.h"

#ifndef GPUCALC_GEMM_H_ONCE
#define GPUCALC_GEMM_H_ONCE

#define GC_CAT2(a, b) a##b
#define GC_CAT(a, b) GC_CAT2(a, b)

#if defined(__CUDACC__)
#define GC_RESTRICT __restrict__
#else
#define GC_RESTRICT restrict
#endif

#endif /* GPUCALC_GEMM_H_ONCE */

#if !defined(GC_GEMM_BM) || !defined(GC_GEMM_BN) || !defined(GC_GEMM_BK) || !defined(GC_GEMM_TM) ||  \
    !defined(GC_GEMM_TN) || !defined(GC_GEMM_VW) || !defined(GC_GEMM_CFG)
#error "gemm.h: define GC_GEMM_BM, _BN, _BK, _TM, _TN, _VW and _CFG before including it"
#endif

/* Derived sizes (undefined again at the end of the file). */
#define GC_GEMM_TX (GC_GEMM_BN / GC_GEMM_TN)          /* work-items across the tile */
#define GC_GEMM_TY (GC_GEMM_BM / GC_GEMM_TM)          /* work-items down the tile */
#define GC_GEMM_NT (GC_GEMM_TX * GC_GEMM_TY)          /* work-items per group */
#define GC_GEMM_SA (GC_GEMM_BM + GC_GEMM_VW)          /* row stride of the (k-major) A tile */
#define GC_GEMM_SB (GC_GEMM_BN)                       /* row stride of the B tile */
#define GC_GEMM_KV (GC_GEMM_BK / GC_GEMM_VW)          /* vectors per row of the A tile */
#define GC_GEMM_NV (GC_GEMM_BN / GC_GEMM_VW)          /* vectors per row of the B tile */
#define GC_GEMM_LA (GC_GEMM_BM * GC_GEMM_KV / GC_GEMM_NT) /* A vectors each work-item loads */
#define GC_GEMM_LB (GC_GEMM_BK * GC_GEMM_NV / GC_GEMM_NT) /* B vectors each work-item loads */
#define GC_GEMM_RW (GC_GEMM_TY * GC_GEMM_VW)          /* rows between a work-item's runs */
#define GC_GEMM_CW (GC_GEMM_TX * GC_GEMM_VW)          /* columns between a work-item's runs */
#define GC_GEMM_NAME(name) GC_PASTE(GC_T(name), GC_GEMM_CFG)

#if (GC_GEMM_BM % GC_GEMM_TM) != 0 || (GC_GEMM_BN % GC_GEMM_TN) != 0 ||                          \
    (GC_GEMM_TM % GC_GEMM_VW) != 0 || (GC_GEMM_TN % GC_GEMM_VW) != 0 ||                          \
    (GC_GEMM_BK % GC_GEMM_VW) != 0 || (GC_GEMM_BM * GC_GEMM_KV) % GC_GEMM_NT != 0 ||             \
    (GC_GEMM_BK * GC_GEMM_NV) % GC_GEMM_NT != 0 || GC_GEMM_LA < 1 || GC_GEMM_LB < 1 ||           \
    GC_GEMM_NT > GC_MAX_GROUP_SIZE
#error "gemm.h: tile sizes must divide evenly (see the parameters at the top of the file)"
#endif

/* The VW-wide vector type and its accesses. Loads and stores of vectors need
 * VW-element alignment, which callers check. */
#if GC_GEMM_VW == 1
#define GC_GEMM_VT T
#define GC_GEMM_UNPACK(s, v) ((s)[0] = (v))
#define GC_GEMM_PACK(v, s) ((v) = (s)[0])
#elif GC_GEMM_VW == 2
#define GC_GEMM_VT GC_CAT(T, 2)
#define GC_GEMM_UNPACK(s, v) ((s)[0] = (v).x, (s)[1] = (v).y)
#define GC_GEMM_PACK(v, s) ((v).x = (s)[0], (v).y = (s)[1])
#elif GC_GEMM_VW == 4
#define GC_GEMM_VT GC_CAT(T, 4)
#define GC_GEMM_UNPACK(s, v) ((s)[0] = (v).x, (s)[1] = (v).y, (s)[2] = (v).z, (s)[3] = (v).w)
#define GC_GEMM_PACK(v, s) ((v).x = (s)[0], (v).y = (s)[1], (v).z = (s)[2], (v).w = (s)[3])
#else
#error "gemm.h: GC_GEMM_VW must be 1, 2 or 4"
#endif

#if defined(__CUDACC__)
#define GC_GEMM_LOAD(p) (*(const GC_GEMM_VT *)(p))
#define GC_GEMM_STORE(p, v) (*(GC_GEMM_VT *)(p) = (v))
#define GC_GEMM_BOUNDS __launch_bounds__(GC_GEMM_NT, GC_GEMM_MINB)
#ifndef GC_GEMM_MINB
#define GC_GEMM_MINB (1)
#endif
#else
#if GC_GEMM_VW == 1
#define GC_GEMM_LOAD(p) (*(p))
#define GC_GEMM_STORE(p, v) (*(p) = (v))
#else
#define GC_GEMM_LOAD(p) (GC_CAT(vload, GC_GEMM_VW)(0, (p)))
#define GC_GEMM_STORE(p, v) (GC_CAT(vstore, GC_GEMM_VW)((v), 0, (p)))
#endif
#define GC_GEMM_BOUNDS __attribute__((reqd_work_group_size(GC_GEMM_NT, 1, 1)))
#endif
/* A VW-wide vector in local memory (its alignment comes from the tile's type). */
#define GC_GEMM_LOCAL_VEC(p) (*(GC_LOCAL_PTR GC_GEMM_VT *)(p))

/* Fetches this work-item's part of the A slice rows row0.., columns k0.. into
 * `ra`: LA vectors of VW elements, zeros outside the matrix. `vec` says rows
 * are VW-aligned (k % VW == 0). */
GC_FN void GC_GEMM_NAME(gc_gemm_fetch_a)(const GC_GLOBAL T *GC_RESTRICT a, gc_u32 m, gc_u32 k,
                                          gc_u32 row0, gc_u32 k0, gc_u32 tid, int vec, T *ra)
{
    GC_UNROLL
    for (gc_u32 l = 0u; l < GC_GEMM_LA; ++l) {
        gc_u32 idx = tid + l * GC_GEMM_NT;
        gc_u32 row = row0 + idx / GC_GEMM_KV;
        gc_u32 col = k0 + (idx % GC_GEMM_KV) * GC_GEMM_VW;
        if (vec && row < m && col < k) {
            GC_GEMM_VT v = GC_GEMM_LOAD(a + (gc_u64)row * k + col);
            GC_GEMM_UNPACK(ra + l * GC_GEMM_VW, v);
        } else {
            GC_UNROLL
            for (gc_u32 e = 0u; e < GC_GEMM_VW; ++e) {
                ra[l * GC_GEMM_VW + e] =
                    (row < m && col + e < k) ? a[(gc_u64)row * k + col + e] : (T)0;
            }
        }
    }
}

/* The same for the B slice rows k0.., columns col0.. (`vec`: n % VW == 0). */
GC_FN void GC_GEMM_NAME(gc_gemm_fetch_b)(const GC_GLOBAL T *GC_RESTRICT b, gc_u32 n, gc_u32 k,
                                          gc_u32 k0, gc_u32 col0, gc_u32 tid, int vec, T *rb)
{
    GC_UNROLL
    for (gc_u32 l = 0u; l < GC_GEMM_LB; ++l) {
        gc_u32 idx = tid + l * GC_GEMM_NT;
        gc_u32 row = k0 + idx / GC_GEMM_NV;
        gc_u32 col = col0 + (idx % GC_GEMM_NV) * GC_GEMM_VW;
        if (vec && row < k && col < n) {
            GC_GEMM_VT v = GC_GEMM_LOAD(b + (gc_u64)row * n + col);
            GC_GEMM_UNPACK(rb + l * GC_GEMM_VW, v);
        } else {
            GC_UNROLL
            for (gc_u32 e = 0u; e < GC_GEMM_VW; ++e) {
                rb[l * GC_GEMM_VW + e] =
                    (row < k && col + e < n) ? b[(gc_u64)row * n + col + e] : (T)0;
            }
        }
    }
}

/* Stores fetched slices into one local buffer: A transposed (a_tile[k][m]), B as is. */
GC_FN void GC_GEMM_NAME(gc_gemm_stage)(GC_LOCAL_PTR T *a_tile, GC_LOCAL_PTR T *b_tile, gc_u32 tid,
                                        const T *ra, const T *rb)
{
    GC_UNROLL
    for (gc_u32 l = 0u; l < GC_GEMM_LA; ++l) {
        gc_u32 idx = tid + l * GC_GEMM_NT;
        gc_u32 row = idx / GC_GEMM_KV;
        gc_u32 col = (idx % GC_GEMM_KV) * GC_GEMM_VW;
        GC_UNROLL
        for (gc_u32 e = 0u; e < GC_GEMM_VW; ++e) {
            a_tile[(col + e) * GC_GEMM_SA + row] = ra[l * GC_GEMM_VW + e];
        }
    }
    GC_UNROLL
    for (gc_u32 l = 0u; l < GC_GEMM_LB; ++l) {
        gc_u32 idx = tid + l * GC_GEMM_NT;
        gc_u32 row = idx / GC_GEMM_NV;
        gc_u32 col = (idx % GC_GEMM_NV) * GC_GEMM_VW;
        GC_GEMM_VT v;
        GC_GEMM_PACK(v, rb + l * GC_GEMM_VW);
        GC_GEMM_LOCAL_VEC(b_tile + row * GC_GEMM_SB + col) = v;
    }
}

/* Multiplies one staged pair of slices, at local `a_tile` and `b_tile`, into
 * the kernel's `acc` (TM×TN outputs of this work-item, at tx, ty): per k, TM
 * values of A and TN of B, read as vectors. A macro, not a function: PoCL 3.1
 * keeps `acc` in memory when a function takes it (f64 on PoCL: 26 against 42
 * GFLOP/s at 1024³). */
#define GC_GEMM_MULTIPLY(a_tile, b_tile)                                                           \
    do {                                                                                           \
        GC_UNROLL                                                                                  \
        for (gc_u32 kk_ = 0u; kk_ < GC_GEMM_BK; ++kk_) {                                           \
            T af_[GC_GEMM_TM];                                                                     \
            T bf_[GC_GEMM_TN];                                                                     \
            GC_UNROLL                                                                              \
            for (gc_u32 g_ = 0u; g_ < GC_GEMM_TM / GC_GEMM_VW; ++g_) {                             \
                GC_GEMM_VT v_ = GC_GEMM_LOCAL_VEC((a_tile) + kk_ * GC_GEMM_SA + g_ * GC_GEMM_RW +  \
                                                  ty * GC_GEMM_VW);                                \
                GC_GEMM_UNPACK(af_ + g_ * GC_GEMM_VW, v_);                                         \
            }                                                                                      \
            GC_UNROLL                                                                              \
            for (gc_u32 g_ = 0u; g_ < GC_GEMM_TN / GC_GEMM_VW; ++g_) {                             \
                GC_GEMM_VT v_ = GC_GEMM_LOCAL_VEC((b_tile) + kk_ * GC_GEMM_SB + g_ * GC_GEMM_CW +  \
                                                  tx * GC_GEMM_VW);                                \
                GC_GEMM_UNPACK(bf_ + g_ * GC_GEMM_VW, v_);                                         \
            }                                                                                      \
            GC_UNROLL                                                                              \
            for (gc_u32 i_ = 0u; i_ < GC_GEMM_TM; ++i_) {                                          \
                GC_UNROLL                                                                          \
                for (gc_u32 j_ = 0u; j_ < GC_GEMM_TN; ++j_) {                                      \
                    acc[i_][j_] = fma(af_[i_], bf_[j_], acc[i_][j_]);                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#if (GC_GEMM_NT % GC_GEMM_KV) == 0 && (GC_GEMM_NT % GC_GEMM_NV) == 0
/* Interior groups (see the kernel) take a loop of their own where each
 * work-item's vectors of a slice lie a fixed stride apart: work-item `tid`
 * loads vector l of the A slice from row tid/KV + l·NT/KV, column (tid%KV)·VW,
 * and of the B slice from row tid/NV + l·NT/NV, column (tid%NV)·VW. (Tiny
 * groups, with fewer work-items than vectors in a row, use the general loop.) */
#define GC_GEMM_INTERIOR 1
/* Steps per trip of the interior loop. CUDA takes two, so that the local
 * buffers are constants: on sm_90 the f32 loop is then 91% FFMA (1,024 of
 * 1,124 instructions) against 85% with one step and the buffer in a register.
 * OpenCL takes one: PoCL 3.1 (Debian 12) miscompiles the loop with two
 * barriers per trip when two or more groups take it (each group then stages
 * another group's slices), while CUDA's form passes
 * scripts/cuda-emulator.cpp. */
#if defined(__CUDACC__)
#define GC_GEMM_TRIP (2u)
#else
#define GC_GEMM_TRIP (1u)
#endif
#else
#define GC_GEMM_INTERIOR 0
#endif

GC_KERNEL GC_GEMM_BOUNDS void GC_GEMM_NAME(gc_gemm)(const GC_GLOBAL T *GC_RESTRICT a,
                                                    const GC_GLOBAL T *GC_RESTRICT b,
                                                    GC_GLOBAL T *GC_RESTRICT c, gc_u32 m, gc_u32 n,
                                                    gc_u32 k)
{
    /* Two buffers each, declared as vectors so that vector reads are aligned. */
    GC_LOCAL_DECL GC_GEMM_VT a_store[2 * GC_GEMM_BK * GC_GEMM_SA / GC_GEMM_VW];
    GC_LOCAL_DECL GC_GEMM_VT b_store[2 * GC_GEMM_BK * GC_GEMM_SB / GC_GEMM_VW];
    GC_LOCAL_PTR T *a_tiles = (GC_LOCAL_PTR T *)a_store;
    GC_LOCAL_PTR T *b_tiles = (GC_LOCAL_PTR T *)b_store;

    const gc_u32 tid = GC_LOCAL_ID();
    const gc_u32 tx = tid % GC_GEMM_TX;
    const gc_u32 ty = tid / GC_GEMM_TX;

    /* This group's tile of C (tile_order.h). */
    gc_u32 row0, col0;
    gc_tile_origin(GC_GROUP_ID(), m, n, GC_GEMM_BM, GC_GEMM_BN, &row0, &col0);

    const int vec_a = (k % GC_GEMM_VW) == 0u;
    const int vec_b = (n % GC_GEMM_VW) == 0u;

    T acc[GC_GEMM_TM][GC_GEMM_TN];
    GC_UNROLL
    for (gc_u32 i = 0u; i < GC_GEMM_TM; ++i) {
        GC_UNROLL
        for (gc_u32 j = 0u; j < GC_GEMM_TN; ++j) {
            acc[i][j] = (T)0;
        }
    }

    T ra[GC_GEMM_LA * GC_GEMM_VW];
    T rb[GC_GEMM_LB * GC_GEMM_VW];
    const gc_u32 steps = (k + (GC_GEMM_BK - 1u)) / GC_GEMM_BK;
    GC_GEMM_NAME(gc_gemm_fetch_a)(a, m, k, row0, 0u, tid, vec_a, ra);
    GC_GEMM_NAME(gc_gemm_fetch_b)(b, n, k, 0u, col0, tid, vec_b, rb);
    GC_GEMM_NAME(gc_gemm_stage)(a_tiles, b_tiles, tid, ra, rb);
    GC_BARRIER();

    gc_u32 step = 0u;
#if GC_GEMM_INTERIOR
    /* Interior groups. Where the tile of C lies wholly inside C and rows are
     * VW-aligned, every slice but a short last one lies wholly inside A and B,
     * and each work-item loads whole vectors at addresses that move by BK
     * elements (A) or BK rows (B) per step. Computed once here, they leave
     * this loop nothing but the loads, the multiply, the staging stores and
     * the barrier: on GPUs the general loop's bounds checks take about one
     * issue slot in eight from the FMAs. The general loop below takes the
     * last steps. */
    if (vec_a && vec_b && row0 + GC_GEMM_BM <= m && col0 + GC_GEMM_BN <= n) {
        const GC_GLOBAL T *pa = a + (gc_u64)(row0 + tid / GC_GEMM_KV) * k +
                                (tid % GC_GEMM_KV) * GC_GEMM_VW;
        const GC_GLOBAL T *pb =
            b + (gc_u64)(tid / GC_GEMM_NV) * n + col0 + (tid % GC_GEMM_NV) * GC_GEMM_VW;
        const gc_u64 sa = (gc_u64)(GC_GEMM_NT / GC_GEMM_KV) * k;
        const gc_u64 sb = (gc_u64)(GC_GEMM_NT / GC_GEMM_NV) * n;
        const gc_u64 b_step = (gc_u64)GC_GEMM_BK * n;
        /* Slices 0 .. whole-1 are whole; slice 0 is staged. */
        const gc_u32 whole = k / GC_GEMM_BK;
        for (; step + GC_GEMM_TRIP < whole; step += GC_GEMM_TRIP) {
            GC_UNROLL
            for (gc_u32 s = 0u; s < GC_GEMM_TRIP; ++s) {
                /* With two steps per trip, step is even: buffer s. */
                const gc_u32 now = (GC_GEMM_TRIP == 2u) ? s : ((step + s) & 1u);
                pa += GC_GEMM_BK;
                pb += b_step;
                GC_UNROLL
                for (gc_u32 l = 0u; l < GC_GEMM_LA; ++l) {
                    GC_GEMM_VT v = GC_GEMM_LOAD(pa + l * sa);
                    GC_GEMM_UNPACK(ra + l * GC_GEMM_VW, v);
                }
                GC_UNROLL
                for (gc_u32 l = 0u; l < GC_GEMM_LB; ++l) {
                    GC_GEMM_VT v = GC_GEMM_LOAD(pb + l * sb);
                    GC_GEMM_UNPACK(rb + l * GC_GEMM_VW, v);
                }
                GC_GEMM_MULTIPLY(a_tiles + now * (GC_GEMM_BK * GC_GEMM_SA),
                                 b_tiles + now * (GC_GEMM_BK * GC_GEMM_SB));
                GC_GEMM_NAME(gc_gemm_stage)(a_tiles + (now ^ 1u) * (GC_GEMM_BK * GC_GEMM_SA),
                                            b_tiles + (now ^ 1u) * (GC_GEMM_BK * GC_GEMM_SB),
                                            tid, ra, rb);
                GC_BARRIER();
            }
        }
    }
#endif

    /* The general loop: bounds-checked fetches, any shape. */
    for (; step < steps; ++step) {
        const gc_u32 buffer = step & 1u;
        const int more = step + 1u < steps;
        if (more) {
            const gc_u32 k0 = (step + 1u) * GC_GEMM_BK;
            GC_GEMM_NAME(gc_gemm_fetch_a)(a, m, k, row0, k0, tid, vec_a, ra);
            GC_GEMM_NAME(gc_gemm_fetch_b)(b, n, k, k0, col0, tid, vec_b, rb);
        }
        GC_GEMM_MULTIPLY(a_tiles + buffer * (GC_GEMM_BK * GC_GEMM_SA),
                         b_tiles + buffer * (GC_GEMM_BK * GC_GEMM_SB));
        if (more) {
            GC_GEMM_NAME(gc_gemm_stage)(a_tiles + (buffer ^ 1u) * (GC_GEMM_BK * GC_GEMM_SA),
                                        b_tiles + (buffer ^ 1u) * (GC_GEMM_BK * GC_GEMM_SB), tid,
                                        ra, rb);
        }
        GC_BARRIER();
    }

    GC_UNROLL
    for (gc_u32 i = 0u; i < GC_GEMM_TM; ++i) {
        const gc_u32 row =
            row0 + (i / GC_GEMM_VW) * GC_GEMM_RW + ty * GC_GEMM_VW + i % GC_GEMM_VW;
        if (row < m) {
            GC_GLOBAL T *out = c + (gc_u64)row * n;
            GC_UNROLL
            for (gc_u32 g = 0u; g < GC_GEMM_TN / GC_GEMM_VW; ++g) {
                const gc_u32 col = col0 + g * GC_GEMM_CW + tx * GC_GEMM_VW;
                if (vec_b && col < n) {
                    GC_GEMM_VT v;
                    GC_GEMM_PACK(v, acc[i] + g * GC_GEMM_VW);
                    GC_GEMM_STORE(out + col, v);
                } else {
                    GC_UNROLL
                    for (gc_u32 e = 0u; e < GC_GEMM_VW; ++e) {
                        if (col + e < n) {
                            out[col + e] = acc[i][g * GC_GEMM_VW + e];
                        }
                    }
                }
            }
        }
    }
}

#undef GC_GEMM_TX
#undef GC_GEMM_TY
#undef GC_GEMM_NT
#undef GC_GEMM_SA
#undef GC_GEMM_SB
#undef GC_GEMM_KV
#undef GC_GEMM_NV
#undef GC_GEMM_LA
#undef GC_GEMM_LB
#undef GC_GEMM_RW
#undef GC_GEMM_CW
#undef GC_GEMM_NAME
#undef GC_GEMM_VT
#undef GC_GEMM_UNPACK
#undef GC_GEMM_PACK
#undef GC_GEMM_LOAD
#undef GC_GEMM_STORE
#undef GC_GEMM_BOUNDS
#undef GC_GEMM_LOCAL_VEC
#undef GC_GEMM_INTERIOR
#undef GC_GEMM_TRIP
#undef GC_GEMM_MULTIPLY
#undef GC_GEMM_BM
#undef GC_GEMM_BN
#undef GC_GEMM_BK
#undef GC_GEMM_TM
#undef GC_GEMM_TN
#undef GC_GEMM_VW
#undef GC_GEMM_MINB
#undef GC_GEMM_CFG
