#include "fdlimit.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"

uint64_t fdlimit_need(uint32_t max_connections)
{
    return max_connections ? (uint64_t)max_connections + FDLIMIT_OVERHEAD : UINT64_MAX;
}

uint64_t fdlimit_target(uint64_t soft, uint64_t hard, uint64_t need)
{
    if (hard > FDLIMIT_NR_OPEN)
        hard = FDLIMIT_NR_OPEN; /* setrlimit refuses more (Linux's fs.nr_open) */
    if (need <= soft)
        return soft;
    return need < hard ? need : hard;
}

uint64_t fdlimit_spare(uint64_t limit)
{
    return limit / 4 < FDLIMIT_SPARE_MAX ? limit / 4 : FDLIMIT_SPARE_MAX;
}

/* rlim_t as a number; RLIM_INFINITY as UINT64_MAX. */
static uint64_t rl(rlim_t v)
{
    return v == RLIM_INFINITY ? UINT64_MAX : (uint64_t)v;
}

uint64_t fdlimit_apply(uint32_t max_connections)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) {
        log_warn(0, "open files: cannot read RLIMIT_NOFILE: %s", strerror(errno));
        return 0;
    }
    uint64_t soft = rl(r.rlim_cur), hard = rl(r.rlim_max);
    uint64_t need = fdlimit_need(max_connections);
    uint64_t want = fdlimit_target(soft, hard, need);
    if (want > soft) {
        struct rlimit nr = {want == UINT64_MAX ? RLIM_INFINITY : (rlim_t)want, r.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &nr) == 0) {
            log_info(0, "open files: soft limit raised from %llu to %llu", (unsigned long long)soft,
                     (unsigned long long)want);
            soft = want;
        } else {
            log_warn(0, "open files: cannot raise the soft limit from %llu to %llu: %s",
                     (unsigned long long)soft, (unsigned long long)want, strerror(errno));
        }
    }
    if (max_connections && hard < need)
        log_warn(0,
                 "open files: the hard limit %llu is below the %llu the configuration may need "
                 "(limits.max_connections %u + %u for the node, relays, hooks and the API); "
                 "client connections are refused (file_descriptors) when fewer than %llu of "
                 "the %llu are left",
                 (unsigned long long)hard, (unsigned long long)need, max_connections,
                 (unsigned)FDLIMIT_OVERHEAD, (unsigned long long)fdlimit_spare(soft),
                 (unsigned long long)soft);
    return soft == UINT64_MAX ? 0 : soft;
}
