/* gpucalc portability layer: lets one kernel body compile as CUDA C and as OpenCL C.
 *
 * Every macro is parenthesised; kernel bodies use only these names for anything
 * that differs between the two languages. */
#ifndef GPUCALC_PORTABLE_H
#define GPUCALC_PORTABLE_H

#if defined(__CUDACC__)

typedef unsigned int gc_u32;
typedef unsigned long long gc_u64;

#define GC_KERNEL extern "C" __global__
#define GC_FN static __device__ __forceinline__
#define GC_GLOBAL
#define GC_LOCAL_DECL __shared__
#define GC_LOCAL_PTR
#define GC_LOCAL_ID() ((gc_u32)threadIdx.x)
#define GC_LOCAL_SIZE() ((gc_u32)blockDim.x)
#define GC_GROUP_ID() ((gc_u32)blockIdx.x)
#define GC_NUM_GROUPS() ((gc_u32)gridDim.x)
#define GC_BARRIER() (__syncthreads())
/* 32x32 -> 64 multiply: one IMAD.WIDE.U32 on NVIDIA GPUs. Written in C, NVVM
 * widens the xors that use the halves to 64 bits and ptxas then spends a move
 * per half (105 instructions per Philox block in pi's sm_90 loop against 71
 * with mul.wide.u32 in PTX). The C form serves the host pass and the CPU
 * emulator (scripts/cuda-emulator.cpp), which have no PTX. */
#if defined(__CUDA_ARCH__)
#define GC_MULHILO(a, b, hi, lo)                                                     \
    do {                                                                             \
        gc_u64 gc_product_;                                                          \
        asm("mul.wide.u32 %0, %1, %2;"                                               \
            : "=l"(gc_product_)                                                      \
            : "r"((gc_u32)(a)), "r"((gc_u32)(b)));                                   \
        asm("mov.b64 {%0, %1}, %2;" : "=r"(lo), "=r"(hi) : "l"(gc_product_));        \
    } while (0)
#else
#define GC_MULHILO(a, b, hi, lo)                                                     \
    do {                                                                             \
        gc_u64 gc_product_ = (gc_u64)(a) * (gc_u64)(b);                              \
        (hi) = (gc_u32)(gc_product_ >> 32);                                          \
        (lo) = (gc_u32)(gc_product_);                                                \
    } while (0)
#endif

#elif defined(__OPENCL_VERSION__)

typedef uint gc_u32;
typedef ulong gc_u64;

#define GC_KERNEL __kernel
#define GC_FN static inline
#define GC_GLOBAL __global
#define GC_LOCAL_DECL __local
#define GC_LOCAL_PTR __local
#define GC_LOCAL_ID() ((gc_u32)get_local_id(0))
#define GC_LOCAL_SIZE() ((gc_u32)get_local_size(0))
#define GC_GROUP_ID() ((gc_u32)get_group_id(0))
#define GC_NUM_GROUPS() ((gc_u32)get_num_groups(0))
#define GC_BARRIER() (barrier(CLK_LOCAL_MEM_FENCE))
/* One 64-bit product rather than mul_hi: PoCL leaves mul_hi an opaque call until
 * after its work-group vectoriser has run, which then gives up on the loop. */
#define GC_MULHILO(a, b, hi, lo)                                                     \
    do {                                                                             \
        gc_u64 gc_product_ = (gc_u64)(a) * (gc_u64)(b);                              \
        (hi) = (gc_u32)(gc_product_ >> 32);                                          \
        (lo) = (gc_u32)(gc_product_);                                                \
    } while (0)

#else
#error "kernels/common/portable.h: compile as CUDA C (nvcc) or OpenCL C"
#endif

/* Largest work-group (thread block) any gpucalc kernel is launched with;
 * sizes local-memory scratch arrays. Hosts clamp their choice to this. */
#define GC_MAX_GROUP_SIZE (1024)

/* Global index and size of the launch, as 64-bit values. */
#define GC_GLOBAL_ID() ((gc_u64)GC_GROUP_ID() * (gc_u64)GC_LOCAL_SIZE() + (gc_u64)GC_LOCAL_ID())
#define GC_GLOBAL_SIZE() ((gc_u64)GC_NUM_GROUPS() * (gc_u64)GC_LOCAL_SIZE())

/* Asks the compiler to unroll the loop that follows completely. */
#define GC_UNROLL _Pragma("unroll")

/* Sum of `value` over the work-group; the result is valid in work-item 0.
 * `scratch` holds GC_MAX_GROUP_SIZE values; the group size is a power of two.
 * CUDA reduces within each warp by shuffles first, then across warps. */
GC_FN gc_u64 gc_group_sum_u64(gc_u64 value, GC_LOCAL_PTR gc_u64 *scratch)
{
    gc_u32 lid = GC_LOCAL_ID();
    gc_u32 size = GC_LOCAL_SIZE();
#if defined(__CUDACC__)
    for (int offset = 16; offset > 0; offset >>= 1) {
        value += __shfl_down_sync(0xffffffffu, value, offset);
    }
    if ((lid & 31u) == 0u) {
        scratch[lid >> 5] = value;
    }
    __syncthreads();
    gc_u32 warps = (size + 31u) >> 5;
    if (lid < 32u) {
        value = (lid < warps) ? scratch[lid] : 0ull;
        for (int offset = 16; offset > 0; offset >>= 1) {
            value += __shfl_down_sync(0xffffffffu, value, offset);
        }
    }
    return value;
#else
    scratch[lid] = value;
    GC_BARRIER();
    for (gc_u32 stride = size >> 1; stride > 0u; stride >>= 1) {
        if (lid < stride) {
            scratch[lid] += scratch[lid + stride];
        }
        GC_BARRIER();
    }
    return scratch[0];
#endif
}

#endif /* GPUCALC_PORTABLE_H */
