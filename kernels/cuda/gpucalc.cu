// CUDA entry points: thin wrappers over the bodies in kernels/common/.
#include "../common/pi.h"

// Hits of pi samples first_sample .. first_sample + count; one partial sum per block.
GC_KERNEL void gc_pi_hits(gc_u64 seed, gc_u64 first_sample, gc_u64 count, gc_u64 *partials)
{
    GC_LOCAL_DECL gc_u64 scratch[32];
    gc_pi_hits_body(seed, first_sample, count, partials, scratch);
}
