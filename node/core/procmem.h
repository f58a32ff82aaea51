/* procmem: the process's memory, for /metrics and the heartbeat, so an
 * operator (and the soak script) can tell a leak from a cache filling up.
 * Callable from any thread; each call reads /proc and the allocator's
 * counters afresh (a few microseconds). */
#ifndef WEIR_PROCMEM_H
#define WEIR_PROCMEM_H

#include <stdint.h>

typedef struct {
    uint64_t rss_bytes;   /* resident set size (/proc/self/statm); 0 when unknown */
    uint64_t heap_in_use; /* bytes handed out by malloc and not freed (glibc) */
    uint64_t heap_free;   /* bytes malloc holds but has not handed out (glibc) */
    int heap_known;       /* 0: not glibc, heap_* are 0 */
} procmem_t;

void procmem_read(procmem_t *out);

/* Only the resident set size (procmem_t.rss_bytes), without walking malloc's
 * arenas: for the heartbeat. */
uint64_t procmem_rss_bytes(void);

/* The memory this process may use: the machine's physical memory, or the
 * cgroup's memory.max (v2) or memory.limit_in_bytes (v1) when that is
 * smaller. 0 when unknown. */
uint64_t procmem_available_bytes(void);

#endif
