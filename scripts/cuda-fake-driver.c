/* A fake libcuda.so.1 that runs gpucalc's kernels on the CPU, to test the host
 * side of gpucalc's CUDA backend (argument passing, launch splitting, chunking,
 * partial sums, copies, context push/pop balance, freeing, error messages) on
 * machines without a GPU. It emulates gc_pi_hits, the gc_stream_* and gc_map
 * kernels, the gc_rng_* kernels and the gc_gemm_* kernels (a plain triple loop:
 * their tiling is tested on PoCL and by scripts/check-cuda-emulator.sh), each
 * written out here independently of kernels/common; streams run in order at once
 * (every async call completes before it returns), and every event reads
 * about 1.5 ms.
 * It says nothing about the GPU kernel itself: scripts/check-kernels.sh and a
 * real GPU (scripts/gpu-bundle.sh) do that.
 *
 * Build and use (see scripts/cuda-fake-driver.sh):
 *   scripts/cuda-fake-driver.sh .tools/cuda-fake
 *   LD_LIBRARY_PATH=.tools/cuda-fake gpucalc --device cuda pi 1e7 --verify
 *   LD_LIBRARY_PATH=.tools/cuda-fake cargo test --features cuda -- --skip large_run
 *
 * Knobs (environment): FAKE_CUDA_SMS (4), FAKE_CUDA_COUNT (1 device),
 * FAKE_CUDA_DRIVER (13000), FAKE_CUDA_FREE_KIB (1 GiB), and error codes to
 * return: FAKE_CUDA_INIT (cuInit), FAKE_CUDA_LOAD (cuModuleLoadData),
 * FAKE_CUDA_OOM (cuMemAlloc: 2), FAKE_CUDA_FAULT (cuStreamSynchronize and
 *   cuEventSynchronize, then every call that needs a context, as a kernel's
 *   fault leaves the context unusable),
 * FAKE_CUDA_LAZY (cuModuleGetFunction: a lazily loaded module failing at first use);
 * FAKE_CUDA_FAST=<kernel name>: events around that kernel read 0.5 ms;
 * FAKE_CUDA_SKIP=<kernel name>: that kernel gets its output's last element wrong
 *   (a matmul kernel leaves it unwritten; map and rng kernels write -2x - 1 for x);
 * FAKE_CUDA_CC (90): compute capability, as 10·major + minor.
 * FAKE_CUDA_REPORT=1 prints resource counts at exit (every create matched by a
 * destroy, every context push by a pop). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
#define CTX ((void *)0x1234)
#define NO_CONTEXT 201 /* CUDA_ERROR_INVALID_CONTEXT */
/* The fault a synchronize reported (FAKE_CUDA_FAULT), which every later call returns. */
static volatile int faulted;
/* Refuses a call made with no context current on the calling thread, saying
 * which, and any call after a fault. */
#define NEED_CONTEXT()                                                                   \
    do {                                                                                 \
        if (depth == 0) {                                                                \
            fprintf(stderr, "[fake cuda] %s with no context current on this thread\n", \
                    __func__);                                                           \
            return NO_CONTEXT;                                                           \
        }                                                                                \
        if (faulted)                                                                     \
            return faulted;                                                              \
    } while (0)

/* Pushes are per thread, as the driver's context stack is: a call from a
 * thread that has not made a context current fails as it would there. */
static _Thread_local int depth;
/* Counts for FAKE_CUDA_REPORT, updated from every thread that calls in. */
static _Atomic int retains, releases, pushed, max_depth, bad_pops, allocs, frees, loads, unloads;
static _Atomic int streams, streams_freed, events, events_freed, launches, pinned, pinned_freed;

static int knob(const char *name, int fallback)
{
    const char *v = getenv(name);
    return v ? atoi(v) : fallback;
}

__attribute__((destructor)) static void report(void)
{
    if (!getenv("FAKE_CUDA_REPORT"))
        return;
    fprintf(stderr,
            "[fake cuda] context retain %d release %d; pushes not popped %d (deepest stack %d, "
            "bad pops %d); "
            "alloc %d free %d; pinned %d/%d; module %d/%d; stream %d/%d; event %d/%d; launches %d\n",
            retains, releases, pushed, max_depth, bad_pops, allocs, frees, pinned, pinned_freed,
            loads, unloads, streams, streams_freed, events, events_freed, launches);
}

CUresult cuInit(unsigned flags) { return flags ? 1 : knob("FAKE_CUDA_INIT", 0); }
CUresult cuDriverGetVersion(int *v) { *v = knob("FAKE_CUDA_DRIVER", 13000); return 0; }
CUresult cuDeviceGetCount(int *c) { *c = knob("FAKE_CUDA_COUNT", 1); return 0; }
CUresult cuDeviceGet(int *d, int ordinal)
{
    if (ordinal < 0 || ordinal >= knob("FAKE_CUDA_COUNT", 1))
        return 101;
    *d = ordinal;
    return 0;
}
CUresult cuDeviceGetName(char *name, int len, int d) { snprintf(name, len, "Fake GPU %d", d); return 0; }
CUresult cuDeviceGetAttribute(int *v, int attribute, int d)
{
    (void)d;
    switch (attribute) {
    case 16: *v = knob("FAKE_CUDA_SMS", 4); break; /* multiprocessors */
    case 8: *v = 49152; break;
    case 13: *v = 1980000; break;                  /* clock, kHz */
    case 75: *v = knob("FAKE_CUDA_CC", 90) / 10; break; /* compute capability */
    case 76: *v = knob("FAKE_CUDA_CC", 90) % 10; break;
    default: *v = 0;
    }
    return 0;
}
CUresult cuDeviceTotalMem_v2(size_t *bytes, int d) { (void)d; *bytes = (size_t)80 << 30; return 0; }
CUresult cuDevicePrimaryCtxRetain(void **c, int d) { (void)d; retains++; *c = CTX; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(int d) { (void)d; releases++; return 0; }
CUresult cuCtxPushCurrent_v2(void *c)
{
    if (c != CTX)
        return NO_CONTEXT;
    pushed++;
    if (++depth > max_depth)
        max_depth = depth;
    return 0;
}
CUresult cuCtxPopCurrent_v2(void **c)
{
    if (depth == 0) {
        bad_pops++;
        return NO_CONTEXT;
    }
    depth--;
    pushed--;
    if (c)
        *c = CTX;
    return 0;
}
CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total)
{
    NEED_CONTEXT();
    *free_bytes = (size_t)knob("FAKE_CUDA_FREE_KIB", 1 << 20) << 10;
    *total = (size_t)80 << 30;
    return 0;
}
CUresult cuMemAlloc_v2(uint64_t *p, size_t n)
{
    NEED_CONTEXT();
    if (knob("FAKE_CUDA_OOM", 0))
        return 2;
    allocs++;
    *p = (uint64_t)(uintptr_t)malloc(n);
    return 0;
}
CUresult cuMemFree_v2(uint64_t p)
{
    NEED_CONTEXT();
    frees++;
    free((void *)(uintptr_t)p);
    return 0;
}
CUresult cuMemcpyDtoHAsync_v2(void *host, uint64_t dev, size_t n, void *s)
{
    NEED_CONTEXT();
    (void)s;
    memcpy(host, (void *)(uintptr_t)dev, n);
    return 0;
}
CUresult cuMemcpyHtoDAsync_v2(uint64_t dev, const void *host, size_t n, void *s)
{
    NEED_CONTEXT();
    (void)s;
    memcpy((void *)(uintptr_t)dev, host, n);
    return 0;
}
CUresult cuMemHostAlloc(void **p, size_t n, unsigned flags)
{
    (void)flags;
    NEED_CONTEXT();
    if (knob("FAKE_CUDA_OOM", 0))
        return 2;
    pinned++;
    *p = malloc(n);
    return *p ? 0 : 2;
}
CUresult cuMemFreeHost(void *p)
{
    pinned_freed++;
    free(p);
    return 0;
}
CUresult cuModuleLoadData(void **m, const void *image)
{
    uint32_t magic;
    NEED_CONTEXT();
    memcpy(&magic, image, 4);
    if (((uintptr_t)image & 7) != 0 || magic != 0xBA55ED50u) /* an aligned fatbin */
        return 200;
    if (knob("FAKE_CUDA_LOAD", 0))
        return knob("FAKE_CUDA_LOAD", 0);
    loads++;
    *m = (void *)0x5678;
    return 0;
}
CUresult cuModuleUnload(void *m) { (void)m; NEED_CONTEXT(); unloads++; return 0; }
/* The kernels this fake runs; a function handle is 0x9000 + its index here. */
static const char *const KERNELS[] = {
    "gc_pi_hits",
    "gc_stream_init_f32", "gc_stream_copy_f32", "gc_stream_mul_f32", "gc_stream_add_f32",
    "gc_stream_triad_f32", "gc_stream_dot_f32",
    "gc_stream_init_f64", "gc_stream_copy_f64", "gc_stream_mul_f64", "gc_stream_add_f64",
    "gc_stream_triad_f64", "gc_stream_dot_f64",
    "gc_map_f32", "gc_map_f64",
    "gc_rng_raw", "gc_rng_uniform_f32", "gc_rng_uniform_f64", "gc_rng_normal_f32",
    "gc_rng_normal_f64",
    "gc_gemm_f32_l", "gc_gemm_f32_s", "gc_gemm_f64_l", "gc_gemm_f64_s",
    "gc_gemm_f64_tc_l", "gc_gemm_f64_tc_s",
};
#define KERNEL_COUNT ((int)(sizeof(KERNELS) / sizeof(KERNELS[0])))
CUresult cuModuleGetFunction(void **f, void *m, const char *name)
{
    NEED_CONTEXT();
    (void)m;
    if (knob("FAKE_CUDA_LAZY", 0))
        return knob("FAKE_CUDA_LAZY", 0);
    for (int i = 0; i < KERNEL_COUNT; i++) {
        if (strcmp(name, KERNELS[i]) == 0) {
            *f = (void *)(uintptr_t)(0x9000 + i);
            return 0;
        }
    }
    return 500;
}
/* Suggests 768 threads (not a power of two) to exercise the host's rounding. */
CUresult cuOccupancyMaxPotentialBlockSize(int *grid, int *block, void *f, void *cb, size_t smem, int limit)
{
    NEED_CONTEXT();
    (void)f; (void)cb; (void)smem;
    *block = limit < 768 ? limit : 768;
    *grid = 2 * knob("FAKE_CUDA_SMS", 4);
    return 0;
}
CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *n, void *f, int block, size_t smem)
{
    NEED_CONTEXT();
    (void)f; (void)smem;
    *n = 2048 / block;
    return 0;
}
CUresult cuStreamCreate(void **s, unsigned flags) { (void)flags; NEED_CONTEXT(); streams++; *s = (void *)0x1111; return 0; }
/* A wait on the GPU: where the knob says a kernel faulted, the context is lost from here on. */
static CUresult wait_for_gpu(void)
{
    NEED_CONTEXT();
    faulted = knob("FAKE_CUDA_FAULT", 0);
    return faulted;
}
CUresult cuStreamSynchronize(void *s) { (void)s; return wait_for_gpu(); }
CUresult cuStreamDestroy_v2(void *s) { (void)s; NEED_CONTEXT(); streams_freed++; return 0; }
CUresult cuEventCreate(void **e, unsigned flags) { (void)flags; NEED_CONTEXT(); events++; *e = (void *)0x2222; return 0; }
CUresult cuEventRecord(void *e, void *s) { NEED_CONTEXT(); (void)e; (void)s; return 0; }
CUresult cuEventSynchronize(void *e) { (void)e; return wait_for_gpu(); }
/* The kernel launched last, for FAKE_CUDA_FAST (see cuLaunchKernel). */
static int last_kernel = -1;
/* 1.5 ms (0.5 for FAKE_CUDA_FAST's kernel), plus 0.01 µs per launch so far,
 * modulo 1000: no two nearby timings are equal (a test can tell a fresh
 * measurement from a remembered one), yet all are within 1% of each other. */
CUresult cuEventElapsedTime(float *ms, void *a, void *b)
{
    NEED_CONTEXT();
    (void)a;
    (void)b;
    const char *fast = getenv("FAKE_CUDA_FAST");
    int is_fast = fast && last_kernel >= 0 && last_kernel < KERNEL_COUNT &&
                  strcmp(fast, KERNELS[last_kernel]) == 0;
    *ms = (is_fast ? 0.5f : 1.5f) + 1e-5f * (float)(launches % 1000);
    return 0;
}
CUresult cuEventDestroy_v2(void *e) { (void)e; NEED_CONTEXT(); events_freed++; return 0; }

/* Philox4x32-10 and the hit rule of DESIGN.md, written out independently of kernels/common. */
static void philox(uint32_t c[4], uint32_t k0, uint32_t k1)
{
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c[0], p1 = (uint64_t)0xCD9E8D57u * c[2];
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
        c[0] = n0;
        c[1] = (uint32_t)p1;
        c[2] = n2;
        c[3] = (uint32_t)p0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}
static uint32_t hit(uint32_t x, uint32_t y)
{
    uint64_t a = x >> 8, b = y >> 8;
    return a * a + b * b < ((uint64_t)1 << 48);
}
/* gc_pi_hits(seed, first_sample, count, partials): every thread of the grid, one after another. */
static void pi_hits(unsigned gx, unsigned bx, void **params)
{
    uint64_t seed = *(uint64_t *)params[0], first = *(uint64_t *)params[1];
    uint64_t count = *(uint64_t *)params[2];
    uint64_t *partials = (uint64_t *)(uintptr_t) * (uint64_t *)params[3];
    uint64_t first_block = first >> 1, end = first + count;
    uint64_t end_block = first_block + ((count + 1) >> 1), stride = (uint64_t)gx * bx;
    for (unsigned g = 0; g < gx; g++) {
        uint64_t total = 0;
        for (unsigned t = 0; t < bx; t++) {
            for (uint64_t b = first_block + (uint64_t)g * bx + t; b < end_block; b += stride) {
                uint32_t c[4] = {(uint32_t)b, (uint32_t)(b >> 32), 0, 0};
                philox(c, (uint32_t)seed, (uint32_t)(seed >> 32));
                total += hit(c[0], c[1]) + ((2 * b + 1 < end) ? hit(c[2], c[3]) : 0);
            }
        }
        partials[g] = total;
    }
}

#define PTR(T, i) ((T *)(uintptr_t) * (uint64_t *)params[i])
#define U64(i) (*(uint64_t *)params[i])

/* BabelStream's kernels over T; kind 0..5 = init, copy, mul, add, triad, dot. Dot
 * sums as the kernel does: each thread its elements in a grid-stride loop, then
 * each block its threads' sums as a tree into partials[g]. */
#define STREAM_KERNELS(T, name)                                                                   \
    static void name(int kind, unsigned gx, unsigned bx, void **params)                           \
    {                                                                                             \
        uint64_t i, n, stride = (uint64_t)gx * bx;                                                \
        switch (kind) {                                                                           \
        case 0:                                                                                   \
            n = U64(6);                                                                           \
            for (i = 0; i < n; i++) {                                                             \
                PTR(T, 0)[i] = *(T *)params[3];                                                   \
                PTR(T, 1)[i] = *(T *)params[4];                                                   \
                PTR(T, 2)[i] = *(T *)params[5];                                                   \
            }                                                                                     \
            break;                                                                                \
        case 1:                                                                                   \
            for (i = 0, n = U64(2); i < n; i++) PTR(T, 1)[i] = PTR(T, 0)[i];                      \
            break;                                                                                \
        case 2:                                                                                   \
            for (i = 0, n = U64(3); i < n; i++) PTR(T, 0)[i] = *(T *)params[2] * PTR(T, 1)[i];    \
            break;                                                                                \
        case 3:                                                                                   \
            for (i = 0, n = U64(3); i < n; i++) PTR(T, 2)[i] = PTR(T, 0)[i] + PTR(T, 1)[i];       \
            break;                                                                                \
        case 4:                                                                                   \
            for (i = 0, n = U64(4); i < n; i++)                                                   \
                PTR(T, 0)[i] = PTR(T, 1)[i] + *(T *)params[3] * PTR(T, 2)[i];                     \
            break;                                                                                \
        default: {                                                                                \
            T sums[1024];                                                                         \
            n = U64(3);                                                                           \
            for (unsigned g = 0; g < gx; g++) {                                                   \
                for (unsigned t = 0; t < bx; t++) {                                               \
                    sums[t] = 0;                                                                  \
                    for (i = (uint64_t)g * bx + t; i < n; i += stride)                            \
                        sums[t] += PTR(T, 0)[i] * PTR(T, 1)[i];                                   \
                }                                                                                 \
                for (unsigned half = bx / 2; half > 0; half /= 2)                                 \
                    for (unsigned t = 0; t < half; t++) sums[t] += sums[t + half];                \
                PTR(T, 2)[g] = sums[0];                                                           \
            }                                                                                     \
        }                                                                                         \
        }                                                                                         \
    }
STREAM_KERNELS(float, stream_f32)
STREAM_KERNELS(double, stream_f64)

/* FAKE_CUDA_SKIP names the kernel being launched (set by cuLaunchKernel). */
static int wrong_last;

/* gc_map: the codes of MapFn::code(). */
#define MAP_KERNEL(T, name, SQRT, EXP, LOG, SIN, COS, ABS)                                        \
    static void name(void **params)                                                               \
    {                                                                                             \
        const T *x = PTR(const T, 0);                                                             \
        T *y = PTR(T, 1);                                                                         \
        uint64_t n = U64(2);                                                                      \
        uint32_t code = *(uint32_t *)params[3];                                                   \
        for (uint64_t i = 0; i < n; i++) {                                                        \
            T v = x[i];                                                                           \
            y[i] = code == 0 ? SQRT(v) : code == 1 ? EXP(v) : code == 2 ? LOG(v)                  \
                 : code == 3 ? SIN(v) : code == 4 ? COS(v) : code == 5 ? ABS(v)                   \
                 : code == 6 ? v * v : (T)1 / v;                                                  \
        }                                                                                         \
        if (wrong_last && n > 0)                                                                  \
            y[n - 1] = isfinite(y[n - 1]) ? -2 * y[n - 1] - 1 : 0;                                \
    }
MAP_KERNEL(float, map_f32, sqrtf, expf, logf, sinf, cosf, fabsf)
MAP_KERNEL(double, map_f64, sqrt, exp, log, sin, cos, fabs)

/* gc_rng_*(seed, first, n, out): element k of the sequence into out[k - first].
 * kind: 0 raw, 1 uniform f32, 2 uniform f64, 3 normal f32, 4 normal f64. */
static void rng(int kind, void **params)
{
    uint64_t seed = U64(0), first = U64(1), n = U64(2);
    void *out = PTR(void, 3);
    unsigned per = (kind == 2 || kind == 4) ? 2 : 4;
    for (uint64_t k = first; k - first < n; k++) {
        uint64_t b = k / per;
        unsigned j = (unsigned)(k % per);
        uint32_t c[4] = {(uint32_t)b, (uint32_t)(b >> 32), 0, 0};
        philox(c, (uint32_t)seed, (uint32_t)(seed >> 32));
        float f[4];
        double d[2];
        for (int w = 0; w < 4; w++)
            f[w] = (float)(c[w] >> 8) * 0x1p-24f;
        for (int w = 0; w < 2; w++)
            d[w] = (double)((((uint64_t)c[2 * w] << 32) | c[2 * w + 1]) >> 11) * 0x1p-53;
        switch (kind) {
        case 0: ((uint32_t *)out)[k - first] = c[j]; break;
        case 1: ((float *)out)[k - first] = f[j]; break;
        case 2: ((double *)out)[k - first] = d[j]; break;
        case 3: {
            float r = sqrtf(-2.0f * logf(1.0f - f[j & 2u])), t = 6.2831853071795864f * f[j | 1u];
            ((float *)out)[k - first] = (j & 1u) ? r * sinf(t) : r * cosf(t);
            break;
        }
        default: {
            double r = sqrt(-2.0 * log(1.0 - d[0])), t = 6.283185307179586 * d[1];
            ((double *)out)[k - first] = j ? r * sin(t) : r * cos(t);
        }
        }
    }
    if (wrong_last && n > 0) {
        if (kind == 0) ((uint32_t *)out)[n - 1] += 1;
        else if (kind == 1 || kind == 3) ((float *)out)[n - 1] = -2 * ((float *)out)[n - 1] - 1;
        else ((double *)out)[n - 1] = -2 * ((double *)out)[n - 1] - 1;
    }
}

/* Runs the kernel whole, at once, on the calling thread. */
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned smem, void *s, void **params, void **extra)
{
    (void)s;
    int id = (int)((uintptr_t)f - 0x9000);
    NEED_CONTEXT();
    last_kernel = id;
    if (id < 0 || id >= KERNEL_COUNT || gy != 1 || gz != 1 || by != 1 || bz != 1 || smem != 0 ||
        extra || gx == 0 || bx == 0 || (bx & (bx - 1)) || bx > 1024)
        return 1;
    launches++;
    const char *skip = getenv("FAKE_CUDA_SKIP");
    wrong_last = skip && strcmp(skip, KERNELS[id]) == 0;
    if (id == 0)
        pi_hits(gx, bx, params);
    else if (id <= 6)
        stream_f32(id - 1, gx, bx, params);
    else if (id <= 12)
        stream_f64(id - 7, gx, bx, params);
    else if (id == 13)
        map_f32(params);
    else if (id == 14)
        map_f64(params);
    else if (id <= 19)
        rng(id - 15, params);
    else {
        /* 20..23: gemm.h f32 l, s, f64 l, s; 24, 25: gemm_tc.cuh f64 l, s (even k and n only). */
        int g = id - 20, dbl = g >= 2, tile = (g % 2) ? 64 : 128;
        unsigned threads = id == 25 ? 128 : 256;
        unsigned m = *(unsigned *)params[3], n = *(unsigned *)params[4], k = *(unsigned *)params[5];
        unsigned want = ((m + tile - 1) / tile) * ((n + tile - 1) / tile);
        if (gx != want || bx != threads) { fprintf(stderr, "[fake] bad gemm grid %u (want %u) block %u\n", gx, want, bx); return 1; }
        if (id >= 24 && (k % 2 || n % 2)) { fprintf(stderr, "[fake] tensor-core gemm with odd k %u or n %u\n", k, n); return 1; }
        void *a = (void *)(uintptr_t) * (uint64_t *)params[0], *b = (void *)(uintptr_t) * (uint64_t *)params[1];
        void *c = (void *)(uintptr_t) * (uint64_t *)params[2];
        int skip_last = wrong_last;
        for (unsigned i = 0; i < m; i++) for (unsigned j = 0; j < n; j++) {
            if (skip_last && i == m - 1 && j == n - 1)
                continue;
            double acc = 0;
            for (unsigned p = 0; p < k; p++)
                acc += dbl ? ((double *)a)[(size_t)i * k + p] * ((double *)b)[(size_t)p * n + j]
                           : (double)((float *)a)[(size_t)i * k + p] * ((float *)b)[(size_t)p * n + j];
            if (dbl) ((double *)c)[(size_t)i * n + j] = acc; else ((float *)c)[(size_t)i * n + j] = (float)acc;
        }
    }
    return 0;
}
