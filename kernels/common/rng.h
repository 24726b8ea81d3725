/* `rng`: elements first .. first + n of a distribution's sequence, laid out as
 * src/workloads/rng.rs documents: Philox block b yields E elements
 * (E = 4 for u32 and f32, 2 for f64). One work-item per block, so the
 * generator runs once per block; consecutive work-items write consecutive
 * elements. Bit-identical to the CPU for raw and uniform.
 *
 * When `first` is a multiple of E (and `out` is 16-byte aligned, as device
 * allocations are) a whole block is one 16-byte store; the partial blocks at
 * either end, and every block of an unaligned request, store element by
 * element. Grid-stride loops with the same trip count for every work-item and
 * the range check inside (PoCL vectorises such loops across work-items).
 *
 * Each distribution is one gc_rng_elements_* function (a block's words to its
 * elements) and one instantiation of rng_kernel.h, which gives it both
 * kernels: range-checked (CUDA) and whole-block (OpenCL). So the conversion
 * PoCL runs in CI is the one CUDA runs. */
#ifndef GPUCALC_RNG_H
#define GPUCALC_RNG_H

#include "philox.h"
#include "typed.h"

/* (w >> 8) * 2^-24, exact in float. */
#define GC_UNIFORM_F32(w) ((float)((w) >> 8) * (1.0f / 16777216.0f))

/* One 16-byte store of a block's elements z[0..3] (or z[0..1]) at p, for the
 * vector type V4 (V2): V is uint, float or double. */
#if defined(__CUDACC__)
#define GC_STORE_X4(V, p, z) (*(V##4 *)(p) = make_##V##4((z)[0], (z)[1], (z)[2], (z)[3]))
#define GC_STORE_X2(V, p, z) (*(V##2 *)(p) = make_##V##2((z)[0], (z)[1]))
#else
#define GC_STORE_X4(V, p, z) (vstore4((V##4)((z)[0], (z)[1], (z)[2], (z)[3]), 0, (p)))
#define GC_STORE_X2(V, p, z) (vstore2((V##2)((z)[0], (z)[1]), 0, (p)))
#endif

/* One past the last block holding an element of first .. first + n. Cannot
 * overflow: first + n may be 2^64 - 1 for raw words. */
GC_FN gc_u64 gc_rng_end_block(gc_u64 first, gc_u64 n, gc_u32 e)
{
    return (n == 0u) ? first / e : (first + n - 1u) / e + 1u;
}

/* Grid-stride rounds that cover blocks begin .. end. */
GC_FN gc_u64 gc_rng_rounds(gc_u64 begin, gc_u64 end)
{
    gc_u64 stride = GC_GLOBAL_SIZE();
    return (end - begin + stride - 1u) / stride;
}

/* Writes element `index` (absolute) if it lies in first .. first + n. */
#define GC_RNG_STORE(out, first, n, index, value)                                                \
    do {                                                                                         \
        gc_u64 gc_i_ = (index);                                                                  \
        if (gc_i_ >= (first) && gc_i_ - (first) < (n)) {                                         \
            (out)[gc_i_ - (first)] = (value);                                                    \
        }                                                                                        \
    } while (0)

/* The whole-block kernels' store. With GC_SCALAR_STORES (CPU devices) each
 * element is its own store, which PoCL vectorises across work-items and vstore
 * it does not. */
#if defined(GC_SCALAR_STORES)
#define GC_BLOCK_STORE_X4(V, p, z) ((p)[0] = (z)[0], (p)[1] = (z)[1], (p)[2] = (z)[2], (p)[3] = (z)[3])
#define GC_BLOCK_STORE_X2(V, p, z) ((p)[0] = (z)[0], (p)[1] = (z)[1])
#else
#define GC_BLOCK_STORE_X4(V, p, z) GC_STORE_X4(V, p, z)
#define GC_BLOCK_STORE_X2(V, p, z) GC_STORE_X2(V, p, z)
#endif

/* ---- Each distribution's elements of one block ------------------------------
 * Written out element by element: PoCL vectorised the loop forms of these
 * 1.5x slower (raw: 2.2 against 3.4 GB/s). */

/* raw: the four words. */
GC_FN void gc_rng_elements_raw(gc_philox_out w, gc_u32 *z)
{
    z[0] = w.w[0];
    z[1] = w.w[1];
    z[2] = w.w[2];
    z[3] = w.w[3];
}

GC_FN void gc_rng_elements_uniform_f32(gc_philox_out w, float *z)
{
    z[0] = GC_UNIFORM_F32(w.w[0]);
    z[1] = GC_UNIFORM_F32(w.w[1]);
    z[2] = GC_UNIFORM_F32(w.w[2]);
    z[3] = GC_UNIFORM_F32(w.w[3]);
}

/* Box–Muller in float: r = sqrt(-2 log(1 - u1)), t = 2 pi u2, on words (0, 1)
 * and (2, 3). */
GC_FN void gc_rng_elements_normal_f32(gc_philox_out w, float *z)
{
    float u0 = GC_UNIFORM_F32(w.w[0]), u1 = GC_UNIFORM_F32(w.w[1]);
    float u2 = GC_UNIFORM_F32(w.w[2]), u3 = GC_UNIFORM_F32(w.w[3]);
    float r0 = sqrt(-2.0f * log(1.0f - u0)), t0 = 6.28318530717958647692f * u1;
    float r1 = sqrt(-2.0f * log(1.0f - u2)), t1 = 6.28318530717958647692f * u3;
    z[0] = r0 * cos(t0);
    z[1] = r0 * sin(t0);
    z[2] = r1 * cos(t1);
    z[3] = r1 * sin(t1);
}

#define GC_RNG_NAME gc_rng_raw
#define GC_RNG_T gc_u32
#define GC_RNG_E (4u)
#define GC_RNG_ELEMENTS gc_rng_elements_raw
#define GC_RNG_WHOLE(p, z) GC_STORE_X4(uint, p, z)
#define GC_RNG_BLOCK_WHOLE(p, z) GC_BLOCK_STORE_X4(uint, p, z)
#include "rng_kernel.h"

#define GC_RNG_NAME gc_rng_uniform_f32
#define GC_RNG_T float
#define GC_RNG_E (4u)
#define GC_RNG_ELEMENTS gc_rng_elements_uniform_f32
#define GC_RNG_WHOLE(p, z) GC_STORE_X4(float, p, z)
#define GC_RNG_BLOCK_WHOLE(p, z) GC_BLOCK_STORE_X4(float, p, z)
#include "rng_kernel.h"

#define GC_RNG_NAME gc_rng_normal_f32
#define GC_RNG_T float
#define GC_RNG_E (4u)
#define GC_RNG_ELEMENTS gc_rng_elements_normal_f32
#define GC_RNG_WHOLE(p, z) GC_STORE_X4(float, p, z)
#define GC_RNG_BLOCK_WHOLE(p, z) GC_BLOCK_STORE_X4(float, p, z)
#include "rng_kernel.h"

#if defined(GC_FP64) || defined(__CUDACC__)

/* (((w0 << 32) | w1) >> 11) * 2^-53, exact in double. */
#define GC_UNIFORM_F64(w0, w1)                                                                   \
    ((double)(((((gc_u64)(w0)) << 32) | (gc_u64)(w1)) >> 11) * (1.0 / 9007199254740992.0))

GC_FN void gc_rng_elements_uniform_f64(gc_philox_out w, double *z)
{
    z[0] = GC_UNIFORM_F64(w.w[0], w.w[1]);
    z[1] = GC_UNIFORM_F64(w.w[2], w.w[3]);
}

/* Box–Muller in double on the two uniforms of the block. */
GC_FN void gc_rng_elements_normal_f64(gc_philox_out w, double *z)
{
    double u1 = GC_UNIFORM_F64(w.w[0], w.w[1]);
    double u2 = GC_UNIFORM_F64(w.w[2], w.w[3]);
    double radius = sqrt(-2.0 * log(1.0 - u1));
    double t = 6.28318530717958647692 * u2;
    z[0] = radius * cos(t);
    z[1] = radius * sin(t);
}

#define GC_RNG_NAME gc_rng_uniform_f64
#define GC_RNG_T double
#define GC_RNG_E (2u)
#define GC_RNG_ELEMENTS gc_rng_elements_uniform_f64
#define GC_RNG_WHOLE(p, z) GC_STORE_X2(double, p, z)
#define GC_RNG_BLOCK_WHOLE(p, z) GC_BLOCK_STORE_X2(double, p, z)
#include "rng_kernel.h"

#define GC_RNG_NAME gc_rng_normal_f64
#define GC_RNG_T double
#define GC_RNG_E (2u)
#define GC_RNG_ELEMENTS gc_rng_elements_normal_f64
#define GC_RNG_WHOLE(p, z) GC_STORE_X2(double, p, z)
#define GC_RNG_BLOCK_WHOLE(p, z) GC_BLOCK_STORE_X2(double, p, z)
#include "rng_kernel.h"

#endif

#endif /* GPUCALC_RNG_H */
