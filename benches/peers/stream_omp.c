/* The C/OpenMP peer of `gpucalc stream` on the CPU: BabelStream's five kernels
 * with the same initial values, byte counts and statistics (first iteration
 * dropped, bandwidth from the fastest call), printed as BabelStream's CSV.
 *
 * build: gcc -O3 -march=native -fopenmp -o stream_omp stream_omp.c
 * run:   OMP_PROC_BIND=true ./stream_omp [arraysize] [numtimes] [f32|f64] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFINE_RUN(T, NAME)                                                                      \
    static void NAME(long n, int times)                                                          \
    {                                                                                            \
        T *a = malloc(n * sizeof(T)), *b = malloc(n * sizeof(T)), *c = malloc(n * sizeof(T));    \
        const T s = (T)0.4;                                                                      \
        double t[5][times];                                                                      \
        _Pragma("omp parallel for") for (long i = 0; i < n; i++)                                 \
        {                                                                                        \
            a[i] = (T)0.1;                                                                       \
            b[i] = (T)0.2;                                                                       \
            c[i] = (T)0.0;                                                                       \
        }                                                                                        \
        T sum = 0;                                                                               \
        for (int k = 0; k < times; k++) {                                                        \
            double t0 = omp_get_wtime();                                                         \
            _Pragma("omp parallel for") for (long i = 0; i < n; i++) c[i] = a[i];                \
            double t1 = omp_get_wtime();                                                         \
            _Pragma("omp parallel for") for (long i = 0; i < n; i++) b[i] = s * c[i];            \
            double t2 = omp_get_wtime();                                                         \
            _Pragma("omp parallel for") for (long i = 0; i < n; i++) c[i] = a[i] + b[i];         \
            double t3 = omp_get_wtime();                                                         \
            _Pragma("omp parallel for") for (long i = 0; i < n; i++) a[i] = b[i] + s * c[i];     \
            double t4 = omp_get_wtime();                                                         \
            sum = 0;                                                                             \
            _Pragma("omp parallel for reduction(+ : sum)") for (long i = 0; i < n; i++) sum +=   \
                a[i] * b[i];                                                                     \
            double t5 = omp_get_wtime();                                                         \
            t[0][k] = t1 - t0, t[1][k] = t2 - t1, t[2][k] = t3 - t2, t[3][k] = t4 - t3;          \
            t[4][k] = t5 - t4;                                                                   \
        }                                                                                        \
        report(n, times, sizeof(T), t);                                                          \
        fprintf(stderr, "dot = %g\n", (double)sum);                                              \
        free(a), free(b), free(c);                                                               \
    }

static void report(long n, int times, int size, double t[5][times])
{
    const char *names[5] = {"Copy", "Mul", "Add", "Triad", "Dot"};
    const int arrays[5] = {2, 2, 3, 3, 2};
    printf("function,num_times,n_elements,sizeof,max_mbytes_per_sec,min_runtime,max_runtime,avg_runtime\n");
    for (int f = 0; f < 5; f++) {
        double mn = 1e30, mx = 0, avg = 0;
        for (int k = 1; k < times; k++) {
            mn = t[f][k] < mn ? t[f][k] : mn;
            mx = t[f][k] > mx ? t[f][k] : mx;
            avg += t[f][k];
        }
        avg /= times - 1;
        printf("%s,%d,%ld,%d,%.3f,%.5f,%.5f,%.5f\n", names[f], times, n, size,
               1e-6 * arrays[f] * size * (double)n / mn, mn, mx, avg);
    }
}

DEFINE_RUN(double, run_f64)
DEFINE_RUN(float, run_f32)

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 33554432L;
    int times = argc > 2 ? atoi(argv[2]) : 100;
    if (n < 1 || times < 2) {
        fprintf(stderr, "usage: stream_omp [arraysize >= 1] [numtimes >= 2] [f32|f64]\n");
        return 2;
    }
    if (argc > 3 && strcmp(argv[3], "f32") == 0)
        run_f32(n, times);
    else
        run_f64(n, times);
    return 0;
}
