/* tool_util: small helpers shared by the operator tools (weir-push,
 * weir-pull, weir-flv): option parsing, interruptible sleeps, stop signals
 * and one-line JSON output.
 *
 * Exit codes shared by the tools (each tool's --help lists the ones it
 * uses).
 */
#ifndef WEIR_TOOL_UTIL_H
#define WEIR_TOOL_UTIL_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

enum {
    TOOL_EXIT_OK = 0,
    TOOL_EXIT_LOCAL = 1,   /* a local file: missing, not FLV, corrupt, write error */
    TOOL_EXIT_USAGE = 2,   /* bad options or arguments, bad URL */
    TOOL_EXIT_NET = 3,     /* connection, handshake, timeout, lost connection */
    TOOL_EXIT_REFUSED = 4, /* the server refused: an RTMP status code, an HTTP status */
    TOOL_EXIT_STALLED = 5  /* nothing received for the timeout while playing */
};

/* Parses a decimal integer in [min, max]. Returns 0, or -1 if s is not one. */
int tool_parse_long(const char *s, long min, long max, long *out);
/* Parses a decimal number of seconds in (0, max]. Returns 0 or -1. */
int tool_parse_seconds(const char *s, double max, double *out);

/* Installs SIGINT/SIGTERM handlers (without SA_RESTART, so sleeps and
 * blocking calls return early) that set the flag tool_stop_requested()
 * reads, and ignores SIGPIPE. */
void tool_install_stop_signals(void);
/* The signal that asked the tool to stop, or 0. */
int tool_stop_requested(void);

/* Sleeps ms milliseconds, returning early when a stop signal arrives. */
void tool_sleep_ms(int64_t ms);

/* Prints obj on one line followed by a newline and flushes out; deletes obj.
 * Returns 0, or -1 if obj is NULL (cJSON ran out of memory) or the write
 * failed. */
int tool_json_emit(FILE *out, cJSON *obj);

/* v rounded to `decimals` places, for readable JSON numbers. */
double tool_round(double v, int decimals);

/* Adds a number member, or null when have is 0. NULL-safe like cJSON. */
void tool_json_num_or_null(cJSON *obj, const char *name, int have, double v);

#endif
