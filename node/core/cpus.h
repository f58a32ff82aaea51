/* cpus: how many CPUs this process may use, for `workers: "auto"`
 * (worker.h): the online CPUs, narrowed by the process's affinity mask
 * (taskset, a cpuset) and by a cgroup CPU quota (cgroup v2 cpu.max, or v1
 * cpu.cfs_quota_us / cpu.cfs_period_us), a fractional quota rounded up. A
 * container given 2 CPUs of a 64-core host gets 2 loops, not 64.
 * Threads: any (it reads files; called once at start).
 */
#ifndef WEIR_CPUS_H
#define WEIR_CPUS_H

typedef struct {
    unsigned online;   /* sysconf(_SC_NPROCESSORS_ONLN), at least 1 */
    unsigned affinity; /* CPUs in the affinity mask; 0: unknown */
    unsigned quota;    /* the cgroup quota in CPUs, rounded up; 0: none */
    unsigned usable;   /* the least of the three known, at least 1 */
} cpus_t;

void cpus_usable(cpus_t *out);

/* The CPUs a cgroup v2 cpu.max text allows ("150000 100000\n" -> 2), 0 for
 * "max ..." (no quota) or text that does not parse. */
unsigned cpus_from_cpu_max(const char *text);
/* The same for cgroup v1's quota and period in µs (quota <= 0: none). */
unsigned cpus_from_cfs(long long quota_us, long long period_us);

#endif
