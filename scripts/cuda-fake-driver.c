/* A fake libcuda.so.1 that runs gc_pi_hits on the CPU, to test the host side of
 * gpucalc's CUDA backend (argument passing, launch splitting, partial sums,
 * context push/pop balance, freeing, error messages) on machines without a GPU.
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
 * FAKE_CUDA_OOM (cuMemAlloc: 2), FAKE_CUDA_FAULT (cuStreamSynchronize).
 * FAKE_CUDA_REPORT=1 prints resource counts at exit (every create matched by a
 * destroy, every context push by a pop). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
#define CTX ((void *)0x1234)
#define NO_CONTEXT 201 /* CUDA_ERROR_INVALID_CONTEXT */

static int retains, releases, depth, max_depth, bad_pops, allocs, frees, loads, unloads;
static int streams, streams_freed, events, events_freed, launches;

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
            "[fake cuda] context retain %d release %d; push depth %d (max %d, bad pops %d); "
            "alloc %d free %d; module %d/%d; stream %d/%d; event %d/%d; launches %d\n",
            retains, releases, depth, max_depth, bad_pops, allocs, frees, loads, unloads, streams,
            streams_freed, events, events_freed, launches);
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
    case 13: *v = 1980000; break;                  /* clock, kHz */
    case 75: *v = 9; break;                        /* compute capability */
    case 76: *v = 0; break;
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
    if (c)
        *c = CTX;
    return 0;
}
CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total)
{
    if (depth == 0)
        return NO_CONTEXT;
    *free_bytes = (size_t)knob("FAKE_CUDA_FREE_KIB", 1 << 20) << 10;
    *total = (size_t)80 << 30;
    return 0;
}
CUresult cuMemAlloc_v2(uint64_t *p, size_t n)
{
    if (depth == 0)
        return NO_CONTEXT;
    if (knob("FAKE_CUDA_OOM", 0))
        return 2;
    allocs++;
    *p = (uint64_t)(uintptr_t)malloc(n);
    return 0;
}
CUresult cuMemFree_v2(uint64_t p)
{
    if (depth == 0)
        return NO_CONTEXT;
    frees++;
    free((void *)(uintptr_t)p);
    return 0;
}
CUresult cuMemcpyDtoHAsync_v2(void *host, uint64_t dev, size_t n, void *s)
{
    (void)s;
    memcpy(host, (void *)(uintptr_t)dev, n);
    return 0;
}
CUresult cuModuleLoadData(void **m, const void *image)
{
    uint32_t magic;
    if (depth == 0)
        return NO_CONTEXT;
    memcpy(&magic, image, 4);
    if (((uintptr_t)image & 7) != 0 || magic != 0xBA55ED50u) /* an aligned fatbin */
        return 200;
    if (knob("FAKE_CUDA_LOAD", 0))
        return knob("FAKE_CUDA_LOAD", 0);
    loads++;
    *m = (void *)0x5678;
    return 0;
}
CUresult cuModuleUnload(void *m) { (void)m; if (depth == 0) return NO_CONTEXT; unloads++; return 0; }
CUresult cuModuleGetFunction(void **f, void *m, const char *name)
{
    (void)m;
    if (strcmp(name, "gc_pi_hits") != 0)
        return 500;
    *f = (void *)0x9abc;
    return 0;
}
/* Suggests 768 threads (not a power of two) to exercise the host's rounding. */
CUresult cuOccupancyMaxPotentialBlockSize(int *grid, int *block, void *f, void *cb, size_t smem, int limit)
{
    (void)f; (void)cb; (void)smem;
    *block = limit < 768 ? limit : 768;
    *grid = 2 * knob("FAKE_CUDA_SMS", 4);
    return 0;
}
CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *n, void *f, int block, size_t smem)
{
    (void)f; (void)smem;
    *n = 2048 / block;
    return 0;
}
CUresult cuStreamCreate(void **s, unsigned flags) { (void)flags; if (depth == 0) return NO_CONTEXT; streams++; *s = (void *)0x1111; return 0; }
CUresult cuStreamSynchronize(void *s) { (void)s; return knob("FAKE_CUDA_FAULT", 0); }
CUresult cuStreamDestroy_v2(void *s) { (void)s; if (depth == 0) return NO_CONTEXT; streams_freed++; return 0; }
CUresult cuEventCreate(void **e, unsigned flags) { (void)flags; if (depth == 0) return NO_CONTEXT; events++; *e = (void *)0x2222; return 0; }
CUresult cuEventRecord(void *e, void *s) { (void)e; (void)s; return 0; }
CUresult cuEventElapsedTime(float *ms, void *a, void *b) { (void)a; (void)b; *ms = 1.5f; return 0; }
CUresult cuEventDestroy_v2(void *e) { (void)e; if (depth == 0) return NO_CONTEXT; events_freed++; return 0; }

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
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned smem, void *s, void **params, void **extra)
{
    (void)f; (void)s;
    if (depth == 0)
        return NO_CONTEXT;
    if (gy != 1 || gz != 1 || by != 1 || bz != 1 || smem != 0 || extra || gx == 0 || bx == 0 ||
        (bx & (bx - 1)) || bx > 1024)
        return 1;
    launches++;
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
    return 0;
}
