#include "procload.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procmem.h"

int procload_parse_self_stat(const char *text, uint64_t *ticks)
{
    /* The command name is between the first '(' and the last ')'. */
    const char *p = strrchr(text, ')');
    unsigned long long utime, stime;
    if (!p || sscanf(p + 1, " %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &utime,
                     &stime) != 2)
        return -1;
    *ticks = (uint64_t)utime + (uint64_t)stime;
    return 0;
}

/* The aggregate "cpu" line's figures (after "cpu"). 0 or -1. */
static int parse_cpu_line(const char *s, uint64_t *busy, uint64_t *total)
{
    unsigned long long v[8] = {0}; /* user nice system idle iowait irq softirq steal */
    int n = sscanf(s, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                   &v[5], &v[6], &v[7]);
    if (n < 4)
        return -1;
    *busy = (uint64_t)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
    *total = *busy + (uint64_t)(v[3] + v[4]);
    return 0;
}

int procload_parse_stat(const char *text, uint64_t *busy, uint64_t *total, unsigned *cores)
{
    int found = 0;
    *cores = 0;
    for (const char *line = text; line && *line;) {
        if (strncmp(line, "cpu", 3) == 0) {
            if (line[3] == ' ' || line[3] == '\t')
                found = found || parse_cpu_line(line + 3, busy, total) == 0;
            else if (line[3] >= '0' && line[3] <= '9')
                (*cores)++;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return found ? 0 : -1;
}

/* The first cap - 1 bytes of a file, NUL-terminated: its length, or -1. */
static ssize_t read_text(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < cap - 1) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* Scans up to max entries of the fd directory path from offset *pos (0: the
 * start), adding them to *count (the directory's own fd is not counted).
 * Returns 1 when the scan reached the end, 0 when it stopped at max (*pos
 * is where to go on; procfs offsets stay valid across opens), -1 when the
 * directory cannot be read. */
static int scan_fds(const char *path, long *pos, uint64_t *count, unsigned max)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int own = dirfd(d);
    if (*pos)
        seekdir(d, *pos);
    unsigned seen = 0;
    struct dirent *e;
    while (seen < max && (e = readdir(d))) {
        seen++;
        if (e->d_name[0] != '.' && atoi(e->d_name) != own)
            (*count)++;
        *pos = telldir(d);
    }
    int done = seen < max;
    closedir(d);
    return done;
}

/* Open fds: the size of /proc/self/fd (Linux 6.2 and later, O(1)); else
 * counted by scanning the directory, PROCLOAD_FDS_SCAN_MAX entries per
 * sample (about a millisecond), the count published when a scan ends. */
static void sample_fds(procload_t *pl)
{
    struct stat st;
    if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0) {
        pl->fds_open = (uint64_t)st.st_size;
        return;
    }
    int rc = scan_fds("/proc/self/fd", &pl->fd_scan_pos, &pl->fd_scan_count, PROCLOAD_FDS_SCAN_MAX);
    if (rc == 0)
        return;
    if (rc > 0)
        pl->fds_open = pl->fd_scan_count;
    pl->fd_scan_pos = 0;
    pl->fd_scan_count = 0;
}

static void sample_process(procload_t *pl, int64_t now_ms)
{
    char buf[1024];
    uint64_t ticks;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0 || read_text("/proc/self/stat", buf, sizeof buf) < 0 ||
        procload_parse_self_stat(buf, &ticks) != 0)
        return;
    if (pl->at_ms && now_ms > pl->at_ms && ticks >= pl->proc_ticks)
        pl->process_percent = (double)(ticks - pl->proc_ticks) * 100.0 * 1000.0 / (double)hz /
                              (double)(now_ms - pl->at_ms);
    pl->proc_ticks = ticks;
    pl->process_seconds = (double)ticks / (double)hz;
}

static void sample_machine(procload_t *pl)
{
    char *buf = malloc(PROCLOAD_READ_MAX);
    uint64_t busy, total;
    unsigned cores;
    int ok = buf && read_text("/proc/stat", buf, PROCLOAD_READ_MAX) >= 0 &&
             procload_parse_stat(buf, &busy, &total, &cores) == 0;
    free(buf);
    if (!ok)
        return;
    if (pl->at_ms && total > pl->machine_total && busy >= pl->machine_busy)
        pl->machine_percent =
            (double)(busy - pl->machine_busy) * 100.0 / (double)(total - pl->machine_total);
    pl->machine_busy = busy;
    pl->machine_total = total;
    if (cores)
        pl->cores = cores;
}

void procload_sample(procload_t *pl, int64_t now_ms)
{
    if (pl->at_ms && now_ms - pl->at_ms < PROCLOAD_SAMPLE_MS)
        return;
    sample_process(pl, now_ms);
    sample_machine(pl);
    sample_fds(pl);
    uint64_t rss = procmem_rss_bytes();
    if (rss)
        pl->rss_bytes = rss;
    pl->at_ms = now_ms;
}

double procload_headroom(const procload_use_t *uses, size_t n, int *by)
{
    double most = 0;
    *by = -1;
    for (size_t i = 0; i < n; i++) {
        if (uses[i].limit <= 0)
            continue;
        double f = uses[i].used / uses[i].limit;
        if (*by < 0 || f > most) {
            most = f;
            *by = (int)i;
        }
    }
    if (most > 1)
        most = 1;
    if (most < 0)
        most = 0;
    return 1.0 - most;
}
