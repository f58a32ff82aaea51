#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

/* The level may change at run time (API, SIGHUP); any thread may log. A
 * line is written by one fprintf under g_mu, which also guards g_file and
 * g_path: log_reopen() (loop thread, SIGHUP) swaps the file while the
 * storage thread may be writing. */
static _Atomic int g_level = LOG_INFO;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *g_file;
static char g_path[LOG_PATH_MAX]; /* g_file's path, "" without a file */

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

/* Opens path for appending, line-buffered, close-on-exec. */
static FILE *open_append(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "ae");
    if (!f) {
        snprintf(err, errlen, "log.file: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    return f;
}

int log_open(log_level_t level, const char *path, char *err, size_t errlen)
{
    atomic_store(&g_level, (int)level);
    if (path && strlen(path) >= sizeof g_path) {
        snprintf(err, errlen, "log.file: path longer than %zu bytes", sizeof g_path - 1);
        return -1;
    }
    if (path && *path) {
        FILE *f = open_append(path, err, errlen);
        if (!f)
            return -1;
        pthread_mutex_lock(&g_mu);
        g_file = f;
        snprintf(g_path, sizeof g_path, "%s", path);
        pthread_mutex_unlock(&g_mu);
    }
    return 0;
}

int log_reopen(const char *path, char *err, size_t errlen)
{
    char want[LOG_PATH_MAX];
    if (path && strlen(path) >= sizeof want) {
        snprintf(err, errlen, "log.file: path longer than %zu bytes", sizeof want - 1);
        return -1;
    }
    if (path)
        snprintf(want, sizeof want, "%s", path);
    else
        log_file_path(want, sizeof want);
    /* The new file is opened first: on failure the old one stays. */
    FILE *f = want[0] ? open_append(want, err, errlen) : NULL;
    if (want[0] && !f)
        return -1;
    pthread_mutex_lock(&g_mu);
    FILE *old = g_file;
    g_file = f;
    snprintf(g_path, sizeof g_path, "%s", want);
    pthread_mutex_unlock(&g_mu);
    if (old)
        fclose(old);
    return 0;
}

void log_file_path(char *out, size_t outlen)
{
    pthread_mutex_lock(&g_mu);
    snprintf(out, outlen, "%s", g_path);
    pthread_mutex_unlock(&g_mu);
}

void log_close(void)
{
    pthread_mutex_lock(&g_mu);
    FILE *f = g_file;
    g_file = NULL;
    g_path[0] = '\0';
    pthread_mutex_unlock(&g_mu);
    if (f)
        fclose(f);
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
    pthread_mutex_lock(&g_mu);
    if (g_file) {
        fprintf(g_file, "%s\n", line);
        if (level >= LOG_WARN)
            fprintf(stderr, "%s\n", line);
    } else {
        fprintf(stderr, "%s\n", line);
    }
    pthread_mutex_unlock(&g_mu);
}
