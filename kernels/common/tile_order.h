/* The order in which a GEMM's work-groups (thread blocks) take the tiles of C,
 * shared by gemm.h (CUDA and OpenCL) and kernels/cuda/gemm_tc.cuh.
 *
 * Group i takes a tile in groups of GC_TILE_GROUP tile-rows, column by column
 * within each, so that the groups running at once share slices of A and B in
 * the cache (L2 on GPUs). Needs gc_u32 and GC_FN (portable.h, or the host
 * emulator's own definitions). */
#ifndef GPUCALC_TILE_ORDER_H
#define GPUCALC_TILE_ORDER_H

/* Rows of tiles per group in the order above. */
#define GC_TILE_GROUP (8u)

/* The first row and column of C in the bm×bn tile that group `id` computes,
 * for an m×n C: one group per tile, ceil(m/bm)·ceil(n/bn) in all. */
GC_FN void gc_tile_origin(gc_u32 id, gc_u32 m, gc_u32 n, gc_u32 bm, gc_u32 bn, gc_u32 *row0,
                          gc_u32 *col0)
{
    const gc_u32 tiles_m = (m + (bm - 1u)) / bm;
    const gc_u32 tiles_n = (n + (bn - 1u)) / bn;
    const gc_u32 per_group = GC_TILE_GROUP * tiles_n;
    const gc_u32 first_m = (id / per_group) * GC_TILE_GROUP;
    const gc_u32 rows_here =
        (tiles_m - first_m < GC_TILE_GROUP) ? (tiles_m - first_m) : GC_TILE_GROUP;
    *row0 = (first_m + (id % per_group) % rows_here) * bm;
    *col0 = ((id % per_group) / rows_here) * bn;
}

#endif /* GPUCALC_TILE_ORDER_H */
