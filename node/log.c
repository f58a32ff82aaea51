#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

/* The level may change at run time (API); any thread may log: stdio locks
 * each stream per call and a line is written by one fprintf. */
static _Atomic int g_level = LOG_INFO;
static FILE *g_file;

static const char *const LEVEL_NAMES[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s, log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, LEVEL_NAMES[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -1;
}

int log_open(log_level_t level, const char *path, char *err, size_t errlen)
{
    atomic_store(&g_level, (int)level);
    if (path && *path) {
        FILE *f = fopen(path, "a");
        if (!f) {
            snprintf(err, errlen, "log.file: cannot open %s: %s", path, strerror(errno));
            return -1;
        }
        setvbuf(f, NULL, _IOLBF, 0);
        g_file = f;
    }
    return 0;
}

void log_close(void)
{
    if (g_file) {
        fclose(g_file);
        g_file = NULL;
    }
}

int log_enabled(log_level_t level)
{
    return (int)level >= atomic_load_explicit(&g_level, memory_order_relaxed);
}

void log_set_level(log_level_t level)
{
    atomic_store(&g_level, (int)level);
}

log_level_t log_get_level(void)
{
    return (log_level_t)atomic_load(&g_level);
}

const char *log_level_name(log_level_t level)
{
    return (unsigned)level < 4 ? LEVEL_NAMES[level] : "info";
}

void log_write(log_level_t level, uint64_t sess_id, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char line[1024];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), LEVEL_NAMES[level]);
    if (sess_id)
        n += snprintf(line + n, sizeof line - (size_t)n, "[s%llu] ", (unsigned long long)sess_id);
    else
        n += snprintf(line + n, sizeof line - (size_t)n, "[node] ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* Control bytes from peers (stream names...) never reach the log raw. */
    for (char *p = line + n; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    if (g_file) {
        fprintf(g_file, "%s\n", line);
        if (level >= LOG_WARN)
            fprintf(stderr, "%s\n", line);
    } else {
        fprintf(stderr, "%s\n", line);
    }
}
