// OpenCL entry points: thin wrappers over the bodies in kernels/common/.
// The host resolves the #include lines against the copies embedded in the binary
// (src/backend/opencl/program.rs) and passes types as build options (-DT=float).
#if defined(GC_FP64)
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#include "../common/pi.h"

// Hits of pi samples first_sample .. first_sample + count; one partial sum per work-group.
__kernel void gc_pi_hits(ulong seed, ulong first_sample, ulong count, __global ulong *partials)
{
    __local ulong scratch[GC_MAX_GROUP_SIZE];
    gc_pi_hits_body(seed, first_sample, count, partials, scratch);
}

// The array workloads, only in programs built with an element type (-DT=float
// -DGC_SFX=f32, or double with -DGC_FP64=1): gc_stream_*_f32, gc_map_f32, and the
// rng kernels (the f64 ones need GC_FP64). The program `pi` builds when a device
// opens has no type, and stays small; matmul's programs (below) leave them out too.
#if defined(T) && !defined(GC_GEMM_CFG)
#include "../common/stream.h"
#include "../common/map.h"
#include "../common/rng.h"
#endif

// matmul: the tiled GEMM of gemm.h, only in programs built with its tile sizes
// as well as a type (-DGC_GEMM_CFG=cl -DGC_GEMM_BM=... ; src/backend/opencl/matmul.rs).
#if defined(T) && defined(GC_GEMM_CFG)
#include "../common/gemm.h"
#endif
