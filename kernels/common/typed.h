/* Helpers for the typed kernel bodies (stream.h, map.h).
 *
 * Those bodies have no include guard: a file defines T (float or double) and
 * GC_SFX (f32 or f64), includes the body, then undefines both, once per type.
 * CUDA instantiates both types in one file; OpenCL builds one program per type
 * with -DT=... -DGC_SFX=... as build options. */
#ifndef GPUCALC_TYPED_H
#define GPUCALC_TYPED_H

#include "portable.h"

#define GC_PASTE2(a, b) a##_##b
#define GC_PASTE(a, b) GC_PASTE2(a, b)
/* `name` suffixed with the element type: gc_stream_copy_f32. */
#define GC_T(name) GC_PASTE(name, GC_SFX)

/* The grid-stride loops of stream.h and map.h take GC_ILP elements per
 * work-item per trip, a grid apart, and load all of them before storing any:
 * a plain loop has one load in flight per work-item, which at full
 * occupancy is less data in flight than a GPU's memory needs to stay busy
 * (bandwidth × latency: roughly 3.35 TB/s × 700 ns, 18 KiB per
 * multiprocessor on an H100, against 8 KiB from 2048 threads' 4-byte loads).
 * Each work-item still visits the elements gid, gid + size, gid + 2·size, ...
 * in that order. CPU OpenCL devices build with GC_ILP 1 (see the host's
 * Session::options). A first-principles choice, not yet measured on a GPU. */
#ifndef GC_ILP
#define GC_ILP (4)
#endif
/* Trips of the loop: `base` is the trip's first element. */
#define GC_ILP_FOR(base, n)                                                                        \
    for (gc_u64 base = GC_GLOBAL_ID(); base < (n); base += (gc_u64)GC_ILP * GC_GLOBAL_SIZE())
/* Element `j` (< GC_ILP) of the trip at `base` (check it against n). */
#define GC_ILP_AT(base, j) ((base) + (gc_u64)(j) * GC_GLOBAL_SIZE())
/* The trip's loads, issued together: v[j] = p[element j of the trip at
 * `base`] for every j < GC_ILP, and zero for elements past n. */
#define GC_ILP_LOAD(v, p, base, n)                                                                 \
    do {                                                                                           \
        GC_UNROLL                                                                                  \
        for (gc_u32 gc_j_ = 0u; gc_j_ < GC_ILP; ++gc_j_) {                                         \
            const gc_u64 gc_i_ = GC_ILP_AT((base), gc_j_);                                         \
            (v)[gc_j_] = gc_i_ < (n) ? (p)[gc_i_] : 0;                                             \
        }                                                                                          \
    } while (0)

#endif /* GPUCALC_TYPED_H */
