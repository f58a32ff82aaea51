#include "procmem.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

uint64_t procmem_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (!f)
        return 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (uint64_t)resident * (uint64_t)page : 0;
}

/* The first number in path, or 0 ("max", missing, unreadable). */
static uint64_t read_limit(const char *path)
{
    FILE *f = fopen(path, "r");
    unsigned long long v = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%llu", &v) != 1)
        v = 0;
    fclose(f);
    return (uint64_t)v;
}

uint64_t procmem_available_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t phys = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    const char *const cg[] = {"/sys/fs/cgroup/memory.max",
                              "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < sizeof cg / sizeof cg[0]; i++) {
        uint64_t lim = read_limit(cg[i]);
        if (lim && (!phys || lim < phys))
            phys = lim; /* v1 reports "no limit" as a huge number: phys wins */
    }
    return phys;
}

void procmem_read(procmem_t *out)
{
    memset(out, 0, sizeof *out);
    out->rss_bytes = procmem_rss_bytes();
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    /* mallinfo2 walks every arena under its lock: fine once per scrape. Under
     * a sanitizer the counters describe glibc's heap, not the sanitizer's,
     * and stay near 0; that is harmless. */
    struct mallinfo2 mi = mallinfo2();
    out->heap_in_use = (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
    out->heap_free = (uint64_t)mi.fordblks;
    out->heap_known = 1;
#endif
}
