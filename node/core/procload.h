/* procload: the figures a scheduler places by (GET /api/v1/node, and the
 * node.heartbeat event): the process's CPU time and its share of one core,
 * the machine's busy share of all its cores and their number (from
 * /proc/self/stat and /proc/stat), the resident set size and the open fds;
 * and the headroom, one number to compare across nodes.
 *
 * procload_sample() runs in the node's tick and reads /proc at most once per
 * PROCLOAD_SAMPLE_MS: requests read the last sample, never /proc. Reads are
 * bounded (PROCLOAD_READ_MAX bytes of a file; /proc/stat's cpu lines come
 * first) and do not block (procfs text is made in memory on read). The open
 * fds are the size of /proc/self/fd (Linux 6.2 and later); before, the
 * directory is read PROCLOAD_FDS_SCAN_MAX entries per sample (reading one
 * costs about a microsecond: a full read at 10k fds stalled the loop 13 ms).
 * The parsers and procload_headroom() are pure (any thread); procload_sample()
 * writes its procload_t: the loop thread, for the node's.
 */
#ifndef WEIR_PROCLOAD_H
#define WEIR_PROCLOAD_H

#include <stddef.h>
#include <stdint.h>

#define PROCLOAD_SAMPLE_MS 1000
#define PROCLOAD_READ_MAX (64 * 1024)
#define PROCLOAD_FDS_SCAN_MAX 1024 /* fd entries read per sample before Linux 6.2 */

typedef struct {
    int64_t at_ms;          /* monotonic ms of the last sample; 0: none yet */
    double process_seconds; /* user + system CPU time of the process since it started */
    double process_percent; /* its CPU over the last window, % of one core (0..100 x cores) */
    double machine_percent; /* the machine's busy share of all cores over the window, 0..100 */
    unsigned cores;         /* cores online (cpuN lines of /proc/stat); 0: unknown */
    uint64_t rss_bytes;     /* resident set size; 0: unknown */
    uint64_t fds_open;      /* open fds (/proc/self/fd); 0: unknown */
    /* The counters at the last sample, the start of the next window. */
    uint64_t proc_ticks, machine_busy, machine_total;
    /* A scan of /proc/self/fd under way (kernels before 6.2). */
    long fd_scan_pos;
    uint64_t fd_scan_count;
} procload_t;

/* The text of /proc/self/stat: utime + stime (fields 14 and 15; the command
 * name, field 2, may hold spaces and parentheses) in clock ticks. Returns 0,
 * or -1 when the text is not such a line. */
int procload_parse_self_stat(const char *text, uint64_t *ticks);

/* The text of /proc/stat (or its first PROCLOAD_READ_MAX bytes): the "cpu"
 * line's busy and total jiffies (user, nice, system, irq, softirq and steal
 * are busy; idle and iowait are not; guest time is counted in user already)
 * and the number of "cpuN" lines in *cores. Returns 0, or -1 without a
 * "cpu" line. */
int procload_parse_stat(const char *text, uint64_t *busy, uint64_t *total, unsigned *cores);

/* Takes a sample when none was taken in the last PROCLOAD_SAMPLE_MS (the
 * first call fills the counters; the percentages need a second one).
 * Figures that cannot be read keep their last value. */
void procload_sample(procload_t *pl, int64_t now_ms);

/* One use against its limit; limit 0 (no limit) is left out. */
typedef struct {
    double used, limit;
} procload_use_t;

/* The headroom: 1 - the highest used/limit of the uses with a limit,
 * within [0, 1] (1: idle, 0: a limit is reached). *by is the index of that
 * use, or -1 when no use has a limit (headroom 1). */
double procload_headroom(const procload_use_t *uses, size_t n, int *by);

#endif
