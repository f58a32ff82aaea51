/* weir-bench, util.c: small helpers: clocks, content hash, percentiles,
 * names. Shared types and calls: bench.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

/* ---- small helpers ------------------------------------------------------ */

int64_t bench_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double bench_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* 64-bit FNV-1a over the message type and its payload. */
uint64_t bench_content_hash(uint8_t type, const uint8_t *p, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    h = (h ^ type) * 1099511628211ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentiles of v[0..n) (sorted in place). */
pct_t bench_percentiles(double *v, size_t n)
{
    pct_t r = {0, 0, 0, n};
    if (n == 0)
        return r;
    qsort(v, n, sizeof *v, bench_cmp_double);
    size_t k50 = (size_t)ceil(0.50 * (double)n), k99 = (size_t)ceil(0.99 * (double)n);
    r.p50 = v[k50 ? k50 - 1 : 0];
    r.p99 = v[k99 ? k99 - 1 : 0];
    r.max = v[n - 1];
    return r;
}

/* Percentiles of a slice, without reordering it. */
pct_t bench_percentiles_copy(const double *v, size_t n)
{
    pct_t r = {0, 0, 0, 0};
    if (n == 0)
        return r;
    double *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return r;
    memcpy(tmp, v, n * sizeof *tmp);
    r = bench_percentiles(tmp, n);
    free(tmp);
    return r;
}

double bench_round3(double v)
{
    return round(v * 1000.0) / 1000.0;
}

const char *bench_state_name(uint8_t st)
{
    static const char *const names[] = {"idle",    "connecting",   "tls",   "handshake",
                                        "connect", "createStream", "start", "http head",
                                        "live",    "closed"};
    return st < sizeof names / sizeof names[0] ? names[st] : "?";
}

const char *const PHASE_NAMES[] = {"publish", "warmup",  "ramp",  "settle",
                                   "drain",   "measure", "drain", "done"};
