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
 * the range check inside (PoCL vectorises such loops across work-items). */
#ifndef GPUCALC_RNG_H
#define GPUCALC_RNG_H

#include "philox.h"

/* (w >> 8) * 2^-24, exact in float. */
#define GC_UNIFORM_F32(w) ((float)((w) >> 8) * (1.0f / 16777216.0f))

/* One 16-byte store of a whole block's elements at p. */
#if defined(__CUDACC__)
#define GC_STORE_U32X4(p, a, b, c, d) (*(uint4 *)(p) = make_uint4((a), (b), (c), (d)))
#define GC_STORE_F32X4(p, a, b, c, d) (*(float4 *)(p) = make_float4((a), (b), (c), (d)))
#define GC_STORE_F64X2(p, a, b) (*(double2 *)(p) = make_double2((a), (b)))
#else
#define GC_STORE_U32X4(p, a, b, c, d) (vstore4((uint4)((a), (b), (c), (d)), 0, (p)))
#define GC_STORE_F32X4(p, a, b, c, d) (vstore4((float4)((a), (b), (c), (d)), 0, (p)))
#define GC_STORE_F64X2(p, a, b) (vstore2((double2)((a), (b)), 0, (p)))
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

GC_KERNEL void gc_rng_raw(gc_u64 seed, gc_u64 first, gc_u64 n, GC_GLOBAL gc_u32 *out)
{
    gc_u64 begin = first / 4u, end = gc_rng_end_block(first, n, 4u);
    gc_u64 rounds = gc_rng_rounds(begin, end);
    int aligned = (first % 4u) == 0u;
    gc_u64 block = begin + GC_GLOBAL_ID();
    for (gc_u64 r = 0u; r < rounds; ++r, block += GC_GLOBAL_SIZE()) {
        if (block >= end) {
            continue;
        }
        gc_philox_out w = gc_stream_block(seed, block);
        gc_u64 at = 4u * block - first; /* used only when aligned */
        if (aligned && at + 4u <= n) {
            GC_STORE_U32X4(out + at, w.w[0], w.w[1], w.w[2], w.w[3]);
        } else {
            for (gc_u32 j = 0u; j < 4u; ++j) {
                GC_RNG_STORE(out, first, n, 4u * block + j, w.w[j]);
            }
        }
    }
}

GC_KERNEL void gc_rng_uniform_f32(gc_u64 seed, gc_u64 first, gc_u64 n, GC_GLOBAL float *out)
{
    gc_u64 begin = first / 4u, end = gc_rng_end_block(first, n, 4u);
    gc_u64 rounds = gc_rng_rounds(begin, end);
    int aligned = (first % 4u) == 0u;
    gc_u64 block = begin + GC_GLOBAL_ID();
    for (gc_u64 r = 0u; r < rounds; ++r, block += GC_GLOBAL_SIZE()) {
        if (block >= end) {
            continue;
        }
        gc_philox_out w = gc_stream_block(seed, block);
        float u0 = GC_UNIFORM_F32(w.w[0]), u1 = GC_UNIFORM_F32(w.w[1]);
        float u2 = GC_UNIFORM_F32(w.w[2]), u3 = GC_UNIFORM_F32(w.w[3]);
        gc_u64 at = 4u * block - first;
        if (aligned && at + 4u <= n) {
            GC_STORE_F32X4(out + at, u0, u1, u2, u3);
        } else {
            GC_RNG_STORE(out, first, n, 4u * block, u0);
            GC_RNG_STORE(out, first, n, 4u * block + 1u, u1);
            GC_RNG_STORE(out, first, n, 4u * block + 2u, u2);
            GC_RNG_STORE(out, first, n, 4u * block + 3u, u3);
        }
    }
}

/* Box–Muller in float: r = sqrt(-2 log(1 - u1)), t = 2 pi u2. */
GC_KERNEL void gc_rng_normal_f32(gc_u64 seed, gc_u64 first, gc_u64 n, GC_GLOBAL float *out)
{
    gc_u64 begin = first / 4u, end = gc_rng_end_block(first, n, 4u);
    gc_u64 rounds = gc_rng_rounds(begin, end);
    int aligned = (first % 4u) == 0u;
    gc_u64 block = begin + GC_GLOBAL_ID();
    for (gc_u64 r = 0u; r < rounds; ++r, block += GC_GLOBAL_SIZE()) {
        if (block >= end) {
            continue;
        }
        gc_philox_out w = gc_stream_block(seed, block);
        float z[4];
        for (gc_u32 pair = 0u; pair < 2u; ++pair) {
            float u1 = GC_UNIFORM_F32(w.w[2u * pair]);
            float u2 = GC_UNIFORM_F32(w.w[2u * pair + 1u]);
            float radius = sqrt(-2.0f * log(1.0f - u1));
            float t = 6.28318530717958647692f * u2;
            z[2u * pair] = radius * cos(t);
            z[2u * pair + 1u] = radius * sin(t);
        }
        gc_u64 at = 4u * block - first;
        if (aligned && at + 4u <= n) {
            GC_STORE_F32X4(out + at, z[0], z[1], z[2], z[3]);
        } else {
            for (gc_u32 j = 0u; j < 4u; ++j) {
                GC_RNG_STORE(out, first, n, 4u * block + j, z[j]);
            }
        }
    }
}

/* ---- Whole blocks, without range checks ------------------------------------
 * Work-item i writes the E elements of block first_block + i to
 * out[E i .. E i + E). The host launches one work-item per block it needs,
 * sizes `out` to E elements per work-item of the launch (the last group's
 * extra work-items write into that padding), and takes the elements it asked
 * for from offset first % E. Same elements as the kernels above; branch-free,
 * which lets PoCL vectorise them across work-items (the range-checked kernels
 * above run one work-item at a time there). With GC_SCALAR_STORES (CPU devices)
 * each element is its own store, which PoCL vectorises and vstore it does not. */
#if defined(GC_SCALAR_STORES)
#define GC_BLOCK_STORE_U32X4(p, a, b, c, d) ((p)[0] = (a), (p)[1] = (b), (p)[2] = (c), (p)[3] = (d))
#define GC_BLOCK_STORE_F32X4(p, a, b, c, d) ((p)[0] = (a), (p)[1] = (b), (p)[2] = (c), (p)[3] = (d))
#define GC_BLOCK_STORE_F64X2(p, a, b) ((p)[0] = (a), (p)[1] = (b))
#else
#define GC_BLOCK_STORE_U32X4(p, a, b, c, d) GC_STORE_U32X4(p, a, b, c, d)
#define GC_BLOCK_STORE_F32X4(p, a, b, c, d) GC_STORE_F32X4(p, a, b, c, d)
#define GC_BLOCK_STORE_F64X2(p, a, b) GC_STORE_F64X2(p, a, b)
#endif

GC_KERNEL void gc_rng_raw_blocks(gc_u64 seed, gc_u64 first_block, GC_GLOBAL gc_u32 *out)
{
    gc_u64 i = GC_GLOBAL_ID();
    gc_philox_out w = gc_stream_block(seed, first_block + i);
    GC_BLOCK_STORE_U32X4(out + 4u * i, w.w[0], w.w[1], w.w[2], w.w[3]);
}

GC_KERNEL void gc_rng_uniform_f32_blocks(gc_u64 seed, gc_u64 first_block, GC_GLOBAL float *out)
{
    gc_u64 i = GC_GLOBAL_ID();
    gc_philox_out w = gc_stream_block(seed, first_block + i);
    GC_BLOCK_STORE_F32X4(out + 4u * i, GC_UNIFORM_F32(w.w[0]), GC_UNIFORM_F32(w.w[1]),
                         GC_UNIFORM_F32(w.w[2]), GC_UNIFORM_F32(w.w[3]));
}

/* Box–Muller in float, as gc_rng_normal_f32. */
GC_KERNEL void gc_rng_normal_f32_blocks(gc_u64 seed, gc_u64 first_block, GC_GLOBAL float *out)
{
    gc_u64 i = GC_GLOBAL_ID();
    gc_philox_out w = gc_stream_block(seed, first_block + i);
    float u0 = GC_UNIFORM_F32(w.w[0]), u1 = GC_UNIFORM_F32(w.w[1]);
    float u2 = GC_UNIFORM_F32(w.w[2]), u3 = GC_UNIFORM_F32(w.w[3]);
    float r0 = sqrt(-2.0f * log(1.0f - u0)), t0 = 6.28318530717958647692f * u1;
    float r1 = sqrt(-2.0f * log(1.0f - u2)), t1 = 6.28318530717958647692f * u3;
    GC_BLOCK_STORE_F32X4(out + 4u * i, r0 * cos(t0), r0 * sin(t0), r1 * cos(t1), r1 * sin(t1));
}

#if defined(GC_FP64) || defined(__CUDACC__)

/* (((w0 << 32) | w1) >> 11) * 2^-53, exact in double. */
#define GC_UNIFORM_F64(w0, w1)                                                                   \
    ((double)(((((gc_u64)(w0)) << 32) | (gc_u64)(w1)) >> 11) * (1.0 / 9007199254740992.0))

GC_KERNEL void gc_rng_uniform_f64(gc_u64 seed, gc_u64 first, gc_u64 n, GC_GLOBAL double *out)
{
    gc_u64 begin = first / 2u, end = gc_rng_end_block(first, n, 2u);
    gc_u64 rounds = gc_rng_rounds(begin, end);
    int aligned = (first % 2u) == 0u;
    gc_u64 block = begin + GC_GLOBAL_ID();
    for (gc_u64 r = 0u; r < rounds; ++r, block += GC_GLOBAL_SIZE()) {
        if (block >= end) {
            continue;
        }
        gc_philox_out w = gc_stream_block(seed, block);
        double u0 = GC_UNIFORM_F64(w.w[0], w.w[1]);
        double u1 = GC_UNIFORM_F64(w.w[2], w.w[3]);
        gc_u64 at = 2u * block - first;
        if (aligned && at + 2u <= n) {
            GC_STORE_F64X2(out + at, u0, u1);
        } else {
            GC_RNG_STORE(out, first, n, 2u * block, u0);
            GC_RNG_STORE(out, first, n, 2u * block + 1u, u1);
        }
    }
}

GC_KERNEL void gc_rng_normal_f64(gc_u64 seed, gc_u64 first, gc_u64 n, GC_GLOBAL double *out)
{
    gc_u64 begin = first / 2u, end = gc_rng_end_block(first, n, 2u);
    gc_u64 rounds = gc_rng_rounds(begin, end);
    int aligned = (first % 2u) == 0u;
    gc_u64 block = begin + GC_GLOBAL_ID();
    for (gc_u64 r = 0u; r < rounds; ++r, block += GC_GLOBAL_SIZE()) {
        if (block >= end) {
            continue;
        }
        gc_philox_out w = gc_stream_block(seed, block);
        double u1 = GC_UNIFORM_F64(w.w[0], w.w[1]);
        double u2 = GC_UNIFORM_F64(w.w[2], w.w[3]);
        double radius = sqrt(-2.0 * log(1.0 - u1));
        double t = 6.28318530717958647692 * u2;
        double z0 = radius * cos(t), z1 = radius * sin(t);
        gc_u64 at = 2u * block - first;
        if (aligned && at + 2u <= n) {
            GC_STORE_F64X2(out + at, z0, z1);
        } else {
            GC_RNG_STORE(out, first, n, 2u * block, z0);
            GC_RNG_STORE(out, first, n, 2u * block + 1u, z1);
        }
    }
}

GC_KERNEL void gc_rng_uniform_f64_blocks(gc_u64 seed, gc_u64 first_block, GC_GLOBAL double *out)
{
    gc_u64 i = GC_GLOBAL_ID();
    gc_philox_out w = gc_stream_block(seed, first_block + i);
    GC_BLOCK_STORE_F64X2(out + 2u * i, GC_UNIFORM_F64(w.w[0], w.w[1]),
                         GC_UNIFORM_F64(w.w[2], w.w[3]));
}

/* Box–Muller in double, as gc_rng_normal_f64. */
GC_KERNEL void gc_rng_normal_f64_blocks(gc_u64 seed, gc_u64 first_block, GC_GLOBAL double *out)
{
    gc_u64 i = GC_GLOBAL_ID();
    gc_philox_out w = gc_stream_block(seed, first_block + i);
    double u1 = GC_UNIFORM_F64(w.w[0], w.w[1]);
    double u2 = GC_UNIFORM_F64(w.w[2], w.w[3]);
    double radius = sqrt(-2.0 * log(1.0 - u1));
    double t = 6.28318530717958647692 * u2;
    GC_BLOCK_STORE_F64X2(out + 2u * i, radius * cos(t), radius * sin(t));
}

#endif

#endif /* GPUCALC_RNG_H */
