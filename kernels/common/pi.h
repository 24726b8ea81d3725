/* The `pi` kernel body shared by CUDA and OpenCL: DESIGN.md's hit rule.
 *
 * Sample j uses stream words 2j (x) and 2j+1 (y); with x' = x >> 8 and
 * y' = y >> 8 it is a hit iff x'^2 + y'^2 < 2^48, exactly, in 64-bit integers.
 * Philox block b therefore holds samples 2b and 2b+1. */
#ifndef GPUCALC_PI_H
#define GPUCALC_PI_H

#include "philox.h"

/* 1 for a miss, 0 for a hit: x'^2 + y'^2 < 2^49 always, so bit 48 of the sum
 * is set iff it is 2^48 or more. Counting misses costs a shift and a shared add
 * per sample, where counting hits costs a compare and a select. */
GC_FN gc_u32 gc_pi_miss(gc_u32 x, gc_u32 y)
{
    gc_u64 xs = (gc_u64)(x >> 8);
    gc_u64 ys = (gc_u64)(y >> 8);
    return (gc_u32)((xs * xs + ys * ys) >> 48);
}

/* Hits among samples first_sample .. first_sample + count (first_sample even),
 * reduced over the work-group; work-item 0 writes the group's sum to
 * partials[group]. Every block index is visited by exactly one work-item
 * (grid-stride loop), so any launch size gives the same total. */
GC_FN void gc_pi_hits_body(gc_u64 seed, gc_u64 first_sample, gc_u64 count,
                           GC_GLOBAL gc_u64 *partials, GC_LOCAL_PTR gc_u64 *scratch)
{
    gc_u64 first_block = first_sample >> 1;
    gc_u64 whole_end = first_block + (count >> 1); /* blocks with both samples */
    gc_u64 end_block = first_block + ((count + 1) >> 1);
    gc_u64 stride = GC_GLOBAL_SIZE();
    /* The same trip count for every work-item, with the range check inside: PoCL
     * vectorises across work-items only around loops whose trip count does not
     * depend on the work-item id. */
    gc_u64 rounds = (end_block - first_block + stride - 1u) / stride;
    gc_u64 block = first_block + GC_GLOBAL_ID();
    gc_u32 hits = 0u;
    for (gc_u64 r = 0u; r < rounds; ++r, block += stride) {
        gc_philox_out w = gc_stream_block(seed, block);
        /* The second sample of the last block may lie past the end: not a hit. */
        gc_u32 m = gc_pi_miss(w.w[0], w.w[1]) +
                   ((block < whole_end) ? gc_pi_miss(w.w[2], w.w[3]) : 1u);
        hits += (block < end_block) ? 2u - m : 0u;
    }
    gc_u64 total = gc_group_sum_u64((gc_u64)hits, scratch);
    if (GC_LOCAL_ID() == 0u) {
        partials[GC_GROUP_ID()] = total;
    }
}

#endif /* GPUCALC_PI_H */
