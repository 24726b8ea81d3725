/* `rng`: elements first .. first + n of a distribution's sequence, laid out as
 * src/workloads/rng.rs documents: Philox block b yields E elements
 * (E = 4 for u32 and f32, 2 for f64). One work-item per block, so the
 * generator runs once per block; consecutive work-items write consecutive
 * elements. Bit-identical to the CPU for raw and uniform. */
#ifndef GPUCALC_RNG_H
#define GPUCALC_RNG_H

#include "philox.h"

/* (w >> 8) * 2^-24, exact in float. */
#define GC_UNIFORM_F32(w) ((float)((w) >> 8) * (1.0f / 16777216.0f))

/* Blocks covering elements first .. first + n with E elements per block. */
#define GC_RNG_BLOCK_LOOP(E, first, n, block)                                                    \
    for (gc_u64 block = (first) / (E) + GC_GLOBAL_ID(); block < ((first) + (n) + (E) - 1u) / (E); \
         block += GC_GLOBAL_SIZE())

/* Writes element `index` (absolute) if it lies in first .. first + n. */
#define GC_RNG_STORE(out, first, n, index, value)                                                \
    do {                                                                                         \
        gc_u64 gc_i_ = (index);                                                                  \
        if (gc_i_ >= (first) && gc_i_ - (first) < (n)) {                                         \
            (out)[gc_i_ - (first)] = (value);                                                    \
        }                                                                                        \
    } while (0)

GC_KERNEL void gc_rng_raw(gc_u64 seed, gc_u64 first, gc_u64 n, GC_GLOBAL gc_u32 *out)
{
    GC_RNG_BLOCK_LOOP(4u, first, n, block)
    {
        gc_philox_out w = gc_stream_block(seed, block);
        for (gc_u32 j = 0u; j < 4u; ++j) {
            GC_RNG_STORE(out, first, n, 4u * block + j, w.w[j]);
        }
    }
}

GC_KERNEL void gc_rng_uniform_f32(gc_u64 seed, gc_u64 first, gc_u64 n, GC_GLOBAL float *out)
{
    GC_RNG_BLOCK_LOOP(4u, first, n, block)
    {
        gc_philox_out w = gc_stream_block(seed, block);
        for (gc_u32 j = 0u; j < 4u; ++j) {
            GC_RNG_STORE(out, first, n, 4u * block + j, GC_UNIFORM_F32(w.w[j]));
        }
    }
}

/* Box–Muller in float: r = sqrt(-2 log(1 - u1)), t = 2 pi u2. */
GC_KERNEL void gc_rng_normal_f32(gc_u64 seed, gc_u64 first, gc_u64 n, GC_GLOBAL float *out)
{
    GC_RNG_BLOCK_LOOP(4u, first, n, block)
    {
        gc_philox_out w = gc_stream_block(seed, block);
        for (gc_u32 pair = 0u; pair < 2u; ++pair) {
            float u1 = GC_UNIFORM_F32(w.w[2u * pair]);
            float u2 = GC_UNIFORM_F32(w.w[2u * pair + 1u]);
            float r = sqrt(-2.0f * log(1.0f - u1));
            float t = 6.28318530717958647692f * u2;
            GC_RNG_STORE(out, first, n, 4u * block + 2u * pair, r * cos(t));
            GC_RNG_STORE(out, first, n, 4u * block + 2u * pair + 1u, r * sin(t));
        }
    }
}

#if defined(GC_FP64) || defined(__CUDACC__)

/* (((w0 << 32) | w1) >> 11) * 2^-53, exact in double. */
#define GC_UNIFORM_F64(w0, w1)                                                                   \
    ((double)(((((gc_u64)(w0)) << 32) | (gc_u64)(w1)) >> 11) * (1.0 / 9007199254740992.0))

GC_KERNEL void gc_rng_uniform_f64(gc_u64 seed, gc_u64 first, gc_u64 n, GC_GLOBAL double *out)
{
    GC_RNG_BLOCK_LOOP(2u, first, n, block)
    {
        gc_philox_out w = gc_stream_block(seed, block);
        GC_RNG_STORE(out, first, n, 2u * block, GC_UNIFORM_F64(w.w[0], w.w[1]));
        GC_RNG_STORE(out, first, n, 2u * block + 1u, GC_UNIFORM_F64(w.w[2], w.w[3]));
    }
}

GC_KERNEL void gc_rng_normal_f64(gc_u64 seed, gc_u64 first, gc_u64 n, GC_GLOBAL double *out)
{
    GC_RNG_BLOCK_LOOP(2u, first, n, block)
    {
        gc_philox_out w = gc_stream_block(seed, block);
        double u1 = GC_UNIFORM_F64(w.w[0], w.w[1]);
        double u2 = GC_UNIFORM_F64(w.w[2], w.w[3]);
        double r = sqrt(-2.0 * log(1.0 - u1));
        double t = 6.28318530717958647692 * u2;
        GC_RNG_STORE(out, first, n, 2u * block, r * cos(t));
        GC_RNG_STORE(out, first, n, 2u * block + 1u, r * sin(t));
    }
}

#endif

#endif /* GPUCALC_RNG_H */
