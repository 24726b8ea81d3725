// CUDA entry points: thin wrappers over the bodies in kernels/common/.
#include "../common/pi.h"
#include "../common/rng.h"

// Hits of pi samples first_sample .. first_sample + count; one partial sum per block.
GC_KERNEL void gc_pi_hits(gc_u64 seed, gc_u64 first_sample, gc_u64 count, gc_u64 *partials)
{
    GC_LOCAL_DECL gc_u64 scratch[32];
    gc_pi_hits_body(seed, first_sample, count, partials, scratch);
}

// The typed bodies, once per element type: gc_stream_*_f32/_f64 and gc_map_f32/_f64.
// rng.h defines its entry points itself: gc_rng_raw, gc_rng_{uniform,normal}_{f32,f64}.
#define T float
#define GC_SFX f32
#include "../common/stream.h"
#include "../common/map.h"
#undef T
#undef GC_SFX

#define T double
#define GC_SFX f64
#include "../common/stream.h"
#include "../common/map.h"
#undef T
#undef GC_SFX
