/* BabelStream's five kernels, shared by CUDA and OpenCL, for element type T
 * (see typed.h: define T and GC_SFX, then include). Grid-stride loops, so any
 * launch size covers any n, with GC_ILP loads in flight per work-item
 * (typed.h). */
#include "typed.h"

/* a = ia, b = ib, c = ic */
GC_KERNEL void GC_T(gc_stream_init)(GC_GLOBAL T *a, GC_GLOBAL T *b, GC_GLOBAL T *c, T ia, T ib, T ic,
                                     gc_u64 n)
{
    for (gc_u64 i = GC_GLOBAL_ID(); i < n; i += GC_GLOBAL_SIZE()) {
        a[i] = ia;
        b[i] = ib;
        c[i] = ic;
    }
}

/* c = a */
GC_KERNEL void GC_T(gc_stream_copy)(const GC_GLOBAL T *a, GC_GLOBAL T *c, gc_u64 n)
{
    GC_ILP_FOR(base, n)
    {
        T va[GC_ILP];
        GC_ILP_LOAD(va, a, base, n);
        GC_UNROLL
        for (gc_u32 j = 0u; j < GC_ILP; ++j) {
            const gc_u64 i = GC_ILP_AT(base, j);
            if (i < n) {
                c[i] = va[j];
            }
        }
    }
}

/* b = s * c */
GC_KERNEL void GC_T(gc_stream_mul)(GC_GLOBAL T *b, const GC_GLOBAL T *c, T s, gc_u64 n)
{
    GC_ILP_FOR(base, n)
    {
        T vc[GC_ILP];
        GC_ILP_LOAD(vc, c, base, n);
        GC_UNROLL
        for (gc_u32 j = 0u; j < GC_ILP; ++j) {
            const gc_u64 i = GC_ILP_AT(base, j);
            if (i < n) {
                b[i] = s * vc[j];
            }
        }
    }
}

/* c = a + b */
GC_KERNEL void GC_T(gc_stream_add)(const GC_GLOBAL T *a, const GC_GLOBAL T *b, GC_GLOBAL T *c, gc_u64 n)
{
    GC_ILP_FOR(base, n)
    {
        T va[GC_ILP], vb[GC_ILP];
        GC_ILP_LOAD(va, a, base, n);
        GC_ILP_LOAD(vb, b, base, n);
        GC_UNROLL
        for (gc_u32 j = 0u; j < GC_ILP; ++j) {
            const gc_u64 i = GC_ILP_AT(base, j);
            if (i < n) {
                c[i] = va[j] + vb[j];
            }
        }
    }
}

/* a = b + s * c */
GC_KERNEL void GC_T(gc_stream_triad)(GC_GLOBAL T *a, const GC_GLOBAL T *b, const GC_GLOBAL T *c, T s,
                                      gc_u64 n)
{
    GC_ILP_FOR(base, n)
    {
        T vb[GC_ILP], vc[GC_ILP];
        GC_ILP_LOAD(vb, b, base, n);
        GC_ILP_LOAD(vc, c, base, n);
        GC_UNROLL
        for (gc_u32 j = 0u; j < GC_ILP; ++j) {
            const gc_u64 i = GC_ILP_AT(base, j);
            if (i < n) {
                a[i] = vb[j] + s * vc[j];
            }
        }
    }
}

/* partials[group] = sum over the group's elements of a * b. Each work-item adds
 * its ceil(n / global size) products in sequence (the loop's element order), then the group adds its
 * work-items' sums as a tree (local size a power of two, at most
 * GC_MAX_GROUP_SIZE); the host adds the partials. */
GC_KERNEL void GC_T(gc_stream_dot)(const GC_GLOBAL T *a, const GC_GLOBAL T *b, GC_GLOBAL T *partials,
                                    gc_u64 n)
{
    GC_LOCAL_DECL T scratch[GC_MAX_GROUP_SIZE];
    T sum = (T)0;
    GC_ILP_FOR(base, n)
    {
        T va[GC_ILP], vb[GC_ILP];
        GC_ILP_LOAD(va, a, base, n);
        GC_ILP_LOAD(vb, b, base, n);
        /* In element order; the elements past n add 0 · 0. */
        GC_UNROLL
        for (gc_u32 j = 0u; j < GC_ILP; ++j) {
            sum += va[j] * vb[j];
        }
    }
    gc_u32 lid = GC_LOCAL_ID();
    scratch[lid] = sum;
    GC_BARRIER();
    for (gc_u32 stride = GC_LOCAL_SIZE() >> 1; stride > 0u; stride >>= 1) {
        if (lid < stride) {
            scratch[lid] += scratch[lid + stride];
        }
        GC_BARRIER();
    }
    if (lid == 0u) {
        partials[GC_GROUP_ID()] = scratch[0];
    }
}
