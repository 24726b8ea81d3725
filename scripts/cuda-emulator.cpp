// Runs gpucalc's CUDA kernels on the CPU, one POSIX thread per CUDA thread,
// and checks them against references computed here:
//  - every matmul kernel of kernels/cuda/matmul.cu, C against a long-double
//    reference: the tiled FMA GEMM of kernels/common/gemm.h (f32 and f64, each
//    configuration matmul.cu builds) and the FP64 tensor-core GEMM of
//    kernels/cuda/gemm_tc.cuh, their indexing, staging, edges, barriers and
//    fragment use;
//  - gc_pi_hits of kernels/cuda/gpucalc.cu, whose group sum (portable.h)
//    reduces by warp shuffles on CUDA only, against hits counted sample by
//    sample; the rest of gpucalc.cu is the OpenCL code that CI runs on PoCL.
// The file defines __CUDACC__ so that portable.h gives the kernels its CUDA
// dialect, and writes the CUDA built-ins they use out below.
//
// Warp-wide primitives are written out from the CUDA and PTX documentation,
// independently of the kernels' use of them: every lane posts its values, the
// warp meets at a barrier, and each lane computes its result from all 32
// posts (__shfl_down_sync; the tensor cores' mma.m16n8k8 and mma.m8n8k4 for
// .f64 from the PTX ISA's fragment layouts). cp.async is modelled as late as
// the PTX allows: a copy lands when a wait_group lets it (its destination
// holds NaN until then), every source must lie inside A or B, and nothing may
// still be in flight when the kernel returns.
//
// Build with -DGC_TC_EMULATE=900 (one m16n8k8 per unit, as on sm_90),
// 800 (four m8n8k4, sm_80..89) or 0 (warp shuffles, the fallback); see
// scripts/check-cuda-emulator.sh. The kernels that do not depend on it (gemm.h's
// and pi) run in the 900 build. Exit status 0 when every check passes.
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <type_traits>
#include <vector>

#ifndef GC_TC_EMULATE
#error "build with -DGC_TC_EMULATE=900, 800 or 0"
#endif

// --- CUDA built-ins -----------------------------------------------------------
#define __CUDACC__ 1
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(threads, blocks)
#define __shared__ static
#define __restrict__ __restrict

struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(16) double2 {
    double x, y;
};
struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
typedef unsigned uint;
static inline double2 make_double2(double x, double y) { return double2{x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w)
{
    return uint4{x, y, z, w};
}
using std::fma;
struct Index {
    unsigned x;
};
static thread_local Index threadIdx, blockIdx;
static Index blockDim, gridDim;

static pthread_barrier_t block_barrier;
static inline void __syncthreads() { pthread_barrier_wait(&block_barrier); }

// --- Warps --------------------------------------------------------------------
struct Warp {
    pthread_barrier_t barrier;
    double a[32][4], b[32][2], c[32][4];
    unsigned long long post[32]; // warp_exchange's
};
static Warp *warps;

static inline Warp &my_warp() { return warps[threadIdx.x / 32]; }
static inline unsigned my_lane() { return threadIdx.x % 32; }
static inline void warp_sync() { pthread_barrier_wait(&my_warp().barrier); }

// Every lane of the warp posts `value` and gets lane `from`'s post (from < 32),
// bit for bit: the exchange each emulated warp shuffle is made of.
template <class V> static V warp_exchange(V value, unsigned from)
{
    static_assert(std::is_trivially_copyable_v<V> && sizeof(V) <= 8, "values of at most 8 bytes");
    Warp &w = my_warp();
    memcpy(&w.post[my_lane()], &value, sizeof value);
    warp_sync();
    V got;
    memcpy(&got, &w.post[from], sizeof got);
    warp_sync();
    return got;
}

// The value of lane + delta, or the lane's own where that is past the warp.
// Every lane of the warp must call it (mask 0xffffffff), as CUDA requires of a
// full mask; V is an integer type of at most 8 bytes.
template <class V> static V __shfl_down_sync(unsigned mask, V value, int delta)
{
    static_assert(std::is_integral_v<V> && sizeof(V) <= 8, "integers of at most 8 bytes");
    if (mask != 0xffffffffu) {
        fprintf(stderr, "cuda-emulator: __shfl_down_sync with a partial mask\n");
        exit(2);
    }
    const unsigned lane = my_lane();
    return warp_exchange(value, lane + (unsigned)delta < 32 ? lane + delta : lane);
}

// m16n8k8, f64: a[v] = A[g + 8(v%2)][t + 4(v/2)], b[v] = B[t + 4v][g],
// c[v] = C[g + 8(v/2)][2t + v%2], with g = lane / 4, t = lane % 4.
[[maybe_unused]] static void gc_tc_m16n8k8(double d[4], const double a[4], const double b[2])
{
    Warp &w = my_warp();
    const unsigned lane = my_lane();
    memcpy(w.a[lane], a, 4 * sizeof(double));
    memcpy(w.b[lane], b, 2 * sizeof(double));
    warp_sync();
    const unsigned g = lane / 4, t = lane % 4;
    for (unsigned v = 0; v < 4; v++) {
        const unsigned row = g + 8 * (v / 2), col = 2 * t + v % 2;
        double sum = d[v];
        for (unsigned kk = 0; kk < 8; kk++) {
            const double a_rk = w.a[4 * (row % 8) + kk % 4][(row / 8) + 2 * (kk / 4)];
            const double b_kc = w.b[4 * col + kk % 4][kk / 4];
            sum = std::fma(a_rk, b_kc, sum);
        }
        d[v] = sum;
    }
    warp_sync();
}

// m8n8k4, f64: a = A[g][t], b = B[t][g], c[v] = C[g][2t + v].
[[maybe_unused]] static void gc_tc_m8n8k4(double *d0, double *d1, double a, double b)
{
    Warp &w = my_warp();
    const unsigned lane = my_lane();
    w.a[lane][0] = a;
    w.b[lane][0] = b;
    warp_sync();
    const unsigned g = lane / 4, t = lane % 4;
    double *d[2] = {d0, d1};
    for (unsigned v = 0; v < 2; v++) {
        double sum = *d[v];
        for (unsigned kk = 0; kk < 4; kk++)
            sum = std::fma(w.a[4 * g + kk][0], w.b[4 * (2 * t + v) + kk][0], sum);
        *d[v] = sum;
    }
    warp_sync();
}

[[maybe_unused]] static double gc_tc_shfl(double value, unsigned from)
{
    return warp_exchange(value, from % 32);
}

// The matrices of the current launch, for the bounds check.
static const double *matrix_a, *matrix_b;
static size_t matrix_a_len, matrix_b_len;

struct Copy {
    double2 *to;
    double2 value;
    unsigned group;
};
static thread_local std::vector<Copy> in_flight;
static thread_local unsigned open_group;

static bool inside_of(const double *p, const double *base, size_t len)
{
    return p >= base && p + 2 <= base + len;
}

static void gc_tc_copy16(double2 *shared, const double *global, int inside)
{
    if (inside && !inside_of(global, matrix_a, matrix_a_len) &&
        !inside_of(global, matrix_b, matrix_b_len)) {
        fprintf(stderr, "cuda-emulator: thread %u reads outside A and B\n", threadIdx.x);
        exit(2);
    }
    in_flight.push_back(
        Copy{shared, inside ? double2{global[0], global[1]} : double2{0.0, 0.0}, open_group});
    *shared = double2{NAN, NAN}; // not there yet
}
static void gc_tc_commit(void) { open_group++; }
// Lands every copy of a group older than the newest `keep` committed ones.
static void land(unsigned keep)
{
    std::vector<Copy> still;
    for (const Copy &c : in_flight) {
        if (c.group + keep < open_group)
            *c.to = c.value;
        else
            still.push_back(c);
    }
    in_flight.swap(still);
}
template <unsigned pending> static void gc_tc_wait(void) { land(pending); }

// --- The kernels, as build.rs builds them -----------------------------------------
#include "../kernels/cuda/matmul.cu"
#include "../kernels/cuda/gpucalc.cu"

// --- Launching ------------------------------------------------------------------
// One CUDA thread of a launch: it runs `body` for each block in turn, as the
// thread of that index, and meets the block's other threads between blocks.
struct Thread {
    unsigned grid, index;
    const std::function<void()> *body;
};

static void *run_thread(void *arg)
{
    const Thread *t = (const Thread *)arg;
    threadIdx.x = t->index;
    for (unsigned block = 0; block < t->grid; block++) {
        blockIdx.x = block;
        (*t->body)();
        if (!in_flight.empty()) {
            fprintf(stderr, "cuda-emulator: thread %u left %zu copies in flight\n", t->index,
                    in_flight.size());
            exit(2);
        }
        __syncthreads(); // the next block reuses the shared arrays
    }
    return nullptr;
}

// Runs `body` (a kernel call) as `grid` blocks of `threads` threads.
static void run_grid(unsigned grid, unsigned threads, const std::function<void()> &body)
{
    if (threads % 32 != 0) { // whole warps, or the warp barriers would wait forever
        fprintf(stderr, "cuda-emulator: %u threads is not a whole number of warps\n", threads);
        exit(2);
    }
    blockDim.x = threads;
    gridDim.x = grid;
    pthread_barrier_init(&block_barrier, nullptr, threads);
    std::vector<Warp> warp_state((threads + 31) / 32);
    warps = warp_state.data();
    for (Warp &w : warp_state)
        pthread_barrier_init(&w.barrier, nullptr, 32);
    std::vector<Thread> args(threads);
    std::vector<pthread_t> ids(threads);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    for (unsigned i = 0; i < threads; i++) {
        args[i] = Thread{grid, i, &body};
        if (pthread_create(&ids[i], &attr, run_thread, &args[i]) != 0) {
            perror("pthread_create");
            exit(2);
        }
    }
    for (pthread_t id : ids)
        pthread_join(id, nullptr);
    for (Warp &w : warp_state)
        pthread_barrier_destroy(&w.barrier);
    pthread_barrier_destroy(&block_barrier);
}

template <class T> using Kernel = void (*)(const T *, const T *, T *, unsigned, unsigned, unsigned);

template <class T>
static void launch(Kernel<T> kernel, unsigned grid, unsigned threads, const T *a, const T *b, T *c,
                   unsigned m, unsigned n, unsigned k)
{
    if constexpr (sizeof(T) == sizeof(double)) {
        matrix_a = a;
        matrix_b = b;
        matrix_a_len = (size_t)m * k;
        matrix_b_len = (size_t)k * n;
    }
    run_grid(grid, threads, [&] { kernel(a, b, c, m, n, k); });
}

// --- Checking ---------------------------------------------------------------------
// An input matrix that ends (to within 15 bytes, so that it starts 16-byte
// aligned for vector loads) where an inaccessible page begins, and starts just
// after another: a kernel that reads past either end stops the emulator with
// SIGSEGV, which the handler below reports.
template <class T> struct Guarded {
    size_t len, bytes;
    char *map;
    T *data;
    explicit Guarded(size_t n) : len(n)
    {
        const size_t page = (size_t)sysconf(_SC_PAGESIZE);
        const size_t used = (n * sizeof(T) + 15) / 16 * 16;
        const size_t body = (used + page - 1) / page * page;
        bytes = body + 2 * page;
        map = (char *)mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED || mprotect(map, page, PROT_NONE) != 0 ||
            mprotect(map + page + body, page, PROT_NONE) != 0) {
            perror("cuda-emulator: mmap");
            exit(2);
        }
        data = (T *)(map + page + body - used);
    }
    ~Guarded() { munmap(map, bytes); }
    Guarded(const Guarded &) = delete;
    Guarded &operator=(const Guarded &) = delete;
};

static void out_of_bounds(int)
{
    static const char message[] = "cuda-emulator: a kernel read outside A or B (SIGSEGV)\n";
    ssize_t ignored = write(2, message, sizeof message - 1);
    (void)ignored;
    _exit(2);
}

// One product: A and B uniform in [-1, 1); C poisoned with NaN and followed by
// guard values that must survive; every element within 2·k·ε·(|A|·|B|) + tiny
// of the long-double reference, ε that of T.
template <class T>
static int check(const char *name, Kernel<T> kernel, unsigned tile, unsigned threads, unsigned m,
                 unsigned n, unsigned k, unsigned seed)
{
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);
    Guarded<T> a((size_t)m * k), b((size_t)k * n);
    for (size_t i = 0; i < a.len; i++)
        a.data[i] = (T)uniform(rng);
    for (size_t i = 0; i < b.len; i++)
        b.data[i] = (T)uniform(rng);
    const size_t guard = 64;
    std::vector<T> c((size_t)m * n + guard, (T)NAN);
    for (size_t i = 0; i < guard; i++)
        c[(size_t)m * n + i] = (T)(12345.0 + (double)i);

    const unsigned grid = ((m + tile - 1) / tile) * ((n + tile - 1) / tile);
    launch<T>(kernel, grid, threads, a.data, b.data, c.data(), m, n, k);

    const long double eps = sizeof(T) == sizeof(float) ? 0x1p-24L : 0x1p-53L;
    size_t bad = 0;
    double worst = 0.0;
    for (unsigned i = 0; i < m; i++) {
        for (unsigned j = 0; j < n; j++) {
            long double ref = 0.0L, mag = 0.0L;
            for (unsigned p = 0; p < k; p++) {
                const long double product =
                    (long double)a.data[(size_t)i * k + p] * b.data[(size_t)p * n + j];
                ref += product;
                mag += std::fabs(product);
            }
            const double got = (double)c[(size_t)i * n + j];
            const long double bound = 2.0L * k * eps * mag + 1e-300L;
            const long double err = std::fabs((long double)got - ref);
            if (!(err <= bound)) {
                if (bad < 5)
                    fprintf(stderr, "  %s %ux%ux%u: C[%u][%u] = %.17g, want %.17Lg\n", name, m, n, k,
                            i, j, got, ref);
                bad++;
            } else if (mag > 0 && (double)(err / mag) > worst) {
                worst = (double)(err / mag);
            }
        }
    }
    for (size_t i = 0; i < guard; i++) {
        if (c[(size_t)m * n + i] != (T)(12345.0 + (double)i)) {
            fprintf(stderr, "  %s %ux%ux%u: wrote past C (guard %zu)\n", name, m, n, k, i);
            bad++;
            break;
        }
    }
    printf("%-7s arch %3d  %4u x %4u x %4u  %s (worst |err|/(|A||B|) %.2e)\n", name,
           GC_TC_EMULATE, m, n, k, bad ? "FAILED" : "ok", worst);
    return bad ? 1 : 0;
}

// The gemm.h kernels of matmul.cu, with their tiles and threads (as
// src/backend/cuda/matmul/ launches them), on shapes that take every path:
// edge tiles (rows and columns not whole, k or n not whole vectors), interior
// tiles with whole k steps only, and interior tiles with many whole steps, in
// odd and even numbers, then a short one (the interior loop, then the general
// loop for the last steps).
static int check_fma_kernels()
{
    const unsigned shapes[][3] = {
        {1, 1, 1},      {7, 13, 5},     {129, 65, 257}, {64, 128, 33},  {128, 128, 16},
        {256, 128, 24}, {256, 256, 40}, {129, 132, 64}, {200, 260, 100}, {256, 192, 136},
    };
    int failed = 0;
    for (const auto &s : shapes) {
        const unsigned seed = s[0] * 7919u + s[1] * 31u + s[2];
        failed |= check<float>("f32_l", gc_gemm_f32_l, 128, 256, s[0], s[1], s[2], seed);
        failed |= check<float>("f32_s", gc_gemm_f32_s, 64, 256, s[0], s[1], s[2], seed);
        failed |= check<double>("f64_l", gc_gemm_f64_l, 128, 256, s[0], s[1], s[2], seed);
        failed |= check<double>("f64_s", gc_gemm_f64_s, 64, 256, s[0], s[1], s[2], seed);
    }
    return failed;
}

// The emulated __shfl_down_sync itself, as the CUDA Programming Guide defines
// it: lane l gets lane l + delta's value, or its own where l + delta is past
// the warp; 64-bit values whole.
static int check_shuffle()
{
    int failed = 0;
    for (int delta : {1, 16, 31}) {
        std::vector<unsigned long long> got(64);
        run_grid(1, 64, [&] {
            const unsigned long long mine = (threadIdx.x + 1ull) << 40 | threadIdx.x;
            got[threadIdx.x] = __shfl_down_sync(0xffffffffu, mine, delta);
        });
        for (unsigned t = 0; t < 64; t++) {
            const unsigned source = t % 32 + delta < 32 ? t + delta : t;
            failed |= got[t] != ((source + 1ull) << 40 | source);
        }
    }
    printf("shuffle __shfl_down_sync, deltas 1, 16, 31, 64-bit values: %s\n",
           failed ? "FAILED" : "ok");
    return failed;
}

// gc_pi_hits with the block sizes src/backend/cuda/pi.rs can choose (powers of
// two, 32 to 1024), grids of one block to more blocks than the samples need,
// and ranges that start past 0 and end inside a Philox block: the partial sums
// must add up to the hits counted here, sample by sample. A reduction that
// dropped a lane or a warp would lose hits.
static int check_pi()
{
    struct Case {
        unsigned block, grid;
        unsigned long long seed, first, count;
    };
    const Case cases[] = {
        {32, 1, 0, 0, 1},          {32, 3, 1, 0, 1001},       {64, 5, 7, 2, 4097},
        {128, 7, 9, 0, 0},         {256, 2, 42, 1000, 1541},  {512, 3, 0xfedcba9876543210ull, 6, 9999},
        {1024, 1, 12345, 0, 5000}, {1024, 2, 3, 4, 3 * 2048 + 3},
        // More blocks than Philox blocks: the last ones have no samples.
        {256, 4, 5, 0, 300},
        // Whole blocks an exact multiple of the grid: no checked round, then half a block in it.
        {64, 1, 11, 0, 2 * 64 * 3}, {64, 1, 11, 0, 2 * 64 * 3 + 1},
    };
    int failed = 0;
    for (const Case &c : cases) {
        std::vector<gc_u64> partials(c.grid, 0xdeadbeefull);
        run_grid(c.grid, c.block,
                 [&] { gc_pi_hits(c.seed, c.first, c.count, partials.data()); });
        unsigned long long got = 0, want = 0;
        for (gc_u64 p : partials)
            got += p;
        // DESIGN.md's rule written out here, not pi.h's gc_pi_miss.
        for (unsigned long long s = c.first; s < c.first + c.count; s++) {
            const gc_philox_out w = gc_stream_block(c.seed, s / 2);
            const unsigned long long x = w.w[s % 2 == 0 ? 0 : 2] >> 8, y = w.w[s % 2 == 0 ? 1 : 3] >> 8;
            want += x * x + y * y < (1ull << 48);
        }
        printf("pi      block %4u grid %u  samples %llu..+%llu: %llu hits, want %llu  %s\n", c.block,
               c.grid, c.first, c.count, got, want, got == want ? "ok" : "FAILED");
        failed |= got != want;
    }
    return failed;
}

int main()
{
    setvbuf(stdout, nullptr, _IOLBF, 0);
    signal(SIGSEGV, out_of_bounds);
    // Shapes: one element, one k step, partial tiles in every direction, k not
    // a multiple of 8, several tiles and groups of tiles, tall-skinny, wide.
    const unsigned shapes[][3] = {
        {1, 2, 2},    {16, 8, 8},     {64, 64, 8},  {67, 130, 30}, {130, 66, 18},
        {129, 258, 10}, {200, 16, 64}, {1, 256, 6},  {300, 2, 4},  {33, 34, 136},
    };
    int failed = GC_TC_EMULATE == 900 ? check_fma_kernels() | check_shuffle() | check_pi() : 0;
    for (const auto &s : shapes) {
        failed |= check<double>("tc_l", gc_gemm_f64_tc_l, 128, 256, s[0], s[1], s[2], s[0] * 7919u + s[2]);
        failed |= check("tc_s", gc_gemm_f64_tc_s, 64, 128, s[0], s[1], s[2], s[1] * 104729u + s[2]);
    }
    // Enough tile-rows for two groups of 8 in the block order (m > 8·64).
    failed |= check<double>("tc_s", gc_gemm_f64_tc_s, 64, 128, 9 * 64 + 5, 130, 8, 42);
    if (failed)
        fprintf(stderr, "cuda-emulator: FAILED\n");
    return failed;
}
