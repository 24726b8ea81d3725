/* Philox4x32-10 (Salmon et al., SC11) and DESIGN.md's stream layout, for
 * CUDA C and OpenCL C. Must agree bit for bit with src/philox.rs. */
#ifndef GPUCALC_PHILOX_H
#define GPUCALC_PHILOX_H

#include "portable.h"

#define GC_PHILOX_M0 (0xD2511F53u)
#define GC_PHILOX_M1 (0xCD9E8D57u)
#define GC_PHILOX_W0 (0x9E3779B9u)
#define GC_PHILOX_W1 (0xBB67AE85u)

typedef struct {
    gc_u32 w[4];
} gc_philox_out;

/* One round: two 32x32->64 multiplies, xors with the key. */
#define GC_PHILOX_ROUND(c0, c1, c2, c3, k0, k1)                                      \
    do {                                                                             \
        gc_u32 gc_hi0_, gc_lo0_, gc_hi1_, gc_lo1_;                                   \
        GC_MULHILO(GC_PHILOX_M0, (c0), gc_hi0_, gc_lo0_);                            \
        GC_MULHILO(GC_PHILOX_M1, (c2), gc_hi1_, gc_lo1_);                            \
        (c0) = gc_hi1_ ^ (c1) ^ (k0);                                                \
        (c1) = gc_lo1_;                                                              \
        (c2) = gc_hi0_ ^ (c3) ^ (k1);                                                \
        (c3) = gc_lo0_;                                                              \
    } while (0)

/* Encrypts counter (c0, c1, c2, c3) under key (k0, k1) with 10 rounds. */
GC_FN gc_philox_out gc_philox4x32_10(gc_u32 c0, gc_u32 c1, gc_u32 c2, gc_u32 c3, gc_u32 k0,
                                     gc_u32 k1)
{
    GC_PHILOX_ROUND(c0, c1, c2, c3, k0, k1);
    /* Unrolled so that no loop is left inside the work-item loop PoCL vectorises. */
#pragma unroll
    for (int round = 1; round < 10; ++round) {
        k0 += GC_PHILOX_W0;
        k1 += GC_PHILOX_W1;
        GC_PHILOX_ROUND(c0, c1, c2, c3, k0, k1);
    }
    gc_philox_out out;
    out.w[0] = c0;
    out.w[1] = c1;
    out.w[2] = c2;
    out.w[3] = c3;
    return out;
}

/* Stream words 4b .. 4b+3 for `seed`: key (seed mod 2^32, seed >> 32),
 * counter (b mod 2^32, b >> 32, 0, 0). */
GC_FN gc_philox_out gc_stream_block(gc_u64 seed, gc_u64 block)
{
    return gc_philox4x32_10((gc_u32)block, (gc_u32)(block >> 32), 0u, 0u, (gc_u32)seed,
                            (gc_u32)(seed >> 32));
}

#endif /* GPUCALC_PHILOX_H */
