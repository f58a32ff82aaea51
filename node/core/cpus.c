/* cpus: the CPUs this process may use (cpus.h). */
#include "cpus.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

unsigned cpus_from_cfs(long long quota_us, long long period_us)
{
    if (quota_us <= 0 || period_us <= 0)
        return 0;
    long long n = (quota_us + period_us - 1) / period_us;
    return n > 4096 ? 4096 : (unsigned)n;
}

unsigned cpus_from_cpu_max(const char *text)
{
    char quota[32];
    long long period = 0;
    if (sscanf(text, "%31s %lld", quota, &period) != 2 || strcmp(quota, "max") == 0)
        return 0;
    char *end = NULL;
    long long q = strtoll(quota, &end, 10);
    if (!end || *end)
        return 0;
    return cpus_from_cfs(q, period);
}

/* The first line of path into buf: 0, or -1 when it cannot be read. */
static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    return ok ? 0 : -1;
}

static unsigned cgroup_quota(void)
{
    char line[128];
    if (read_line("/sys/fs/cgroup/cpu.max", line, sizeof line) == 0)
        return cpus_from_cpu_max(line);
    char period[64];
    if (read_line("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", line, sizeof line) == 0 &&
        read_line("/sys/fs/cgroup/cpu/cpu.cfs_period_us", period, sizeof period) == 0)
        return cpus_from_cfs(atoll(line), atoll(period));
    return 0;
}

void cpus_usable(cpus_t *out)
{
    long on = sysconf(_SC_NPROCESSORS_ONLN);
    out->online = on < 1 ? 1 : (unsigned)on;
    cpu_set_t set;
    CPU_ZERO(&set);
    out->affinity = sched_getaffinity(0, sizeof set, &set) == 0 ? (unsigned)CPU_COUNT(&set) : 0;
    out->quota = cgroup_quota();
    unsigned n = out->online;
    if (out->affinity && out->affinity < n)
        n = out->affinity;
    if (out->quota && out->quota < n)
        n = out->quota;
    out->usable = n ? n : 1;
}
