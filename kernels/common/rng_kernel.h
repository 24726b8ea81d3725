/* One distribution's two rng kernels (see rng.h). No include guard: rng.h
 * defines these, includes this file, and it undefines them again:
 *   GC_RNG_NAME             kernel name, e.g. gc_rng_uniform_f32 (the
 *                           whole-block kernel is GC_RNG_NAME_blocks)
 *   GC_RNG_T                element type
 *   GC_RNG_E                elements per Philox block, (4u) or (2u)
 *   GC_RNG_ELEMENTS         gc_rng_elements_*(gc_philox_out w, GC_RNG_T *z)
 *   GC_RNG_WHOLE(p, z)      one vector store of z[0 .. E) at p
 *   GC_RNG_BLOCK_WHOLE(p, z) the same for the whole-block kernel */

/* Elements first .. first + n into out[0 .. n), any alignment. */
GC_KERNEL void GC_RNG_NAME(gc_u64 seed, gc_u64 first, gc_u64 n, GC_GLOBAL GC_RNG_T *out)
{
    gc_u64 begin = first / GC_RNG_E, end = gc_rng_end_block(first, n, GC_RNG_E);
    gc_u64 rounds = gc_rng_rounds(begin, end);
    int aligned = (first % GC_RNG_E) == 0u;
    gc_u64 block = begin + GC_GLOBAL_ID();
    for (gc_u64 r = 0u; r < rounds; ++r, block += GC_GLOBAL_SIZE()) {
        if (block >= end) {
            continue;
        }
        GC_RNG_T z[GC_RNG_E];
        GC_RNG_ELEMENTS(gc_stream_block(seed, block), z);
        gc_u64 at = GC_RNG_E * block - first; /* used only when aligned */
        if (aligned && at + GC_RNG_E <= n) {
            GC_RNG_WHOLE(out + at, z);
        } else {
            for (gc_u32 j = 0u; j < GC_RNG_E; ++j) {
                GC_RNG_STORE(out, first, n, GC_RNG_E * block + j, z[j]);
            }
        }
    }
}

/* Work-item i: the elements of block first_block + i into out[E i .. E i + E). */
GC_KERNEL void GC_PASTE(GC_RNG_NAME, blocks)(gc_u64 seed, gc_u64 first_block,
                                             GC_GLOBAL GC_RNG_T *out)
{
    gc_u64 i = GC_GLOBAL_ID();
    GC_RNG_T z[GC_RNG_E];
    GC_RNG_ELEMENTS(gc_stream_block(seed, first_block + i), z);
    GC_RNG_BLOCK_WHOLE(out + GC_RNG_E * i, z);
}

#undef GC_RNG_NAME
#undef GC_RNG_T
#undef GC_RNG_E
#undef GC_RNG_ELEMENTS
#undef GC_RNG_WHOLE
#undef GC_RNG_BLOCK_WHOLE
