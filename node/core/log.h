/* log: leveled, line-oriented logging to stderr and/or a file.
 *
 * One line per event: time, level, session id ("s42", or "node"), message.
 * The session id is the one the API reports for that session. The logger is
 * process-wide state opened once at start-up by log_open(); any thread may
 * log (the storage thread does), and the level may change at run time.
 */
#ifndef WEIR_LOG_H
#define WEIR_LOG_H

#include <stddef.h>
#include <stdint.h>

#define LOG_PATH_MAX 1024 /* log.file, with its NUL (CONF_PATH_MAX) */

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level_t;

/* Parses "debug", "info", "warn", "error". Returns 0 or -1. */
int log_level_parse(const char *s, log_level_t *out);

/* Sets the level and opens path for appending ("" or NULL: stderr only;
 * with a file, warnings and errors still go to stderr too). Returns 0, or -1
 * with a message in err. */
int log_open(log_level_t level, const char *path, char *err, size_t errlen);
/* Reopens the log file (SIGHUP, after logrotate moved it): path, or the
 * current file's path when NULL; "" logs to stderr only from now on. The
 * new file is opened before the old one is closed: on failure (-1, message
 * in err) logging goes on to the old file. Any thread may be logging. */
int log_reopen(const char *path, char *err, size_t errlen);
/* The log file's path now, "" without a file (copied into out). */
void log_file_path(char *out, size_t outlen);
void log_close(void);
int log_enabled(log_level_t level);
/* Changes the level at run time (PATCH /api/v1/node). */
void log_set_level(log_level_t level);
log_level_t log_get_level(void);
/* "debug", "info", "warn", "error". */
const char *log_level_name(log_level_t level);

void log_write(log_level_t level, uint64_t sess_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(sid, ...)                                                                        \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_write(LOG_DEBUG, (sid), __VA_ARGS__);                                              \
    } while (0)
#define log_info(sid, ...) log_write(LOG_INFO, (sid), __VA_ARGS__)
#define log_warn(sid, ...) log_write(LOG_WARN, (sid), __VA_ARGS__)
#define log_error(sid, ...) log_write(LOG_ERROR, (sid), __VA_ARGS__)

#endif
