/* fdlimit: the open-file limit (RLIMIT_NOFILE) against what the configuration
 * may need, and the fds that client connections leave free.
 *
 * The need is limits.max_connections + FDLIMIT_OVERHEAD: FDLIMIT_BASE for the
 * node itself (the loop, listeners, storage, log, name resolution), one per
 * config-file relay link (CONF_RELAYS_MAX) and hook delivery
 * (CONF_HOOKS_MAX), and the API's connections (CONF_API_CONNECTIONS_MAX).
 * At start the soft limit is raised toward it, up to the hard limit; with
 * limits.max_connections 0 (no limit) it is raised to the hard limit.
 *
 * At accept, a client connection whose fd is within fdlimit_spare() of the
 * limit is refused (limit file_descriptors), so that the API, relays and
 * hooks still find fds when clients have taken the rest.
 * Threads: main() and the loop thread (no state of its own). */
#ifndef WEIR_FDLIMIT_H
#define WEIR_FDLIMIT_H

#include <stdint.h>

#include "conf.h"

#define FDLIMIT_BASE 64
#define FDLIMIT_OVERHEAD                                                                           \
    (FDLIMIT_BASE + CONF_RELAYS_MAX + CONF_HOOKS_MAX + CONF_API_CONNECTIONS_MAX)
#define FDLIMIT_NR_OPEN 1048576 /* the most a soft limit is raised to */
#define FDLIMIT_SPARE_MAX 64    /* fds kept free at most: a quarter of a smaller limit */

/* The fds the configuration may need; UINT64_MAX when max_connections is 0. */
uint64_t fdlimit_need(uint32_t max_connections);
/* The soft limit to ask for: need, within [soft, min(hard, FDLIMIT_NR_OPEN)]
 * (never lowered). */
uint64_t fdlimit_target(uint64_t soft, uint64_t hard, uint64_t need);
/* The fds client connections leave free under a limit of limit. */
uint64_t fdlimit_spare(uint64_t limit);
/* Raises the soft RLIMIT_NOFILE toward fdlimit_need(max_connections) and
 * logs what it did: info, or a warning with the numbers when the hard limit
 * is below the need. Returns the soft limit in force, or 0 when it cannot be
 * read. Call at start and when SIGHUP raises limits.max_connections (reload.h),
 * on the main thread. */
uint64_t fdlimit_apply(uint32_t max_connections);

#endif
