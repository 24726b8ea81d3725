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

#endif /* GPUCALC_TYPED_H */
