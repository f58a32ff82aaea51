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
