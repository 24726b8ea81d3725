/* `map`: y[i] = f(x[i]) for element type T (see typed.h). The function code is
 * the same for every work-item, so the switch costs nothing per element.
 * Codes match MapFn::code() in src/workloads/map.rs. */
#include "typed.h"

#ifndef GC_MAP_CODES
#define GC_MAP_CODES
#define GC_MAP_SQRT (0u)
#define GC_MAP_EXP (1u)
#define GC_MAP_LOG (2u)
#define GC_MAP_SIN (3u)
#define GC_MAP_COS (4u)
#define GC_MAP_ABS (5u)
#define GC_MAP_SQUARE (6u)
#define GC_MAP_RECIPROCAL (7u)
#endif

/* f(v) for the function `code`. */
GC_FN T GC_T(gc_map_one)(T v, gc_u32 code)
{
    T r;
    switch (code) {
    case GC_MAP_SQRT: r = sqrt(v); break;
    case GC_MAP_EXP: r = exp(v); break;
    case GC_MAP_LOG: r = log(v); break;
    case GC_MAP_SIN: r = sin(v); break;
    case GC_MAP_COS: r = cos(v); break;
    case GC_MAP_ABS: r = fabs(v); break;
    case GC_MAP_SQUARE: r = v * v; break;
    default: r = (T)1 / v; break;
    }
    return r;
}

/* GC_ILP loads in flight per work-item (typed.h). */
GC_KERNEL void GC_T(gc_map)(const GC_GLOBAL T *x, GC_GLOBAL T *y, gc_u64 n, gc_u32 code)
{
    GC_ILP_FOR(base, n)
    {
        T v[GC_ILP];
        GC_ILP_LOAD(v, x, base, n);
        GC_UNROLL
        for (gc_u32 j = 0u; j < GC_ILP; ++j) {
            const gc_u64 i = GC_ILP_AT(base, j);
            if (i < n) {
                y[i] = GC_T(gc_map_one)(v[j], code);
            }
        }
    }
}
