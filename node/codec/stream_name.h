/* stream_name: what an app or stream name may be (the limits and the
 * validation), shared by the hub (stream.c) and the pure parsers of the
 * config and the API (app_auth, relay_spec). Pure: no I/O, no state;
 * callable from any thread. */
#ifndef WEIR_STREAM_NAME_H
#define WEIR_STREAM_NAME_H

#include <stddef.h>

#define STREAM_APP_MAX 128
#define STREAM_NAME_MAX 256

/* Validates an app or stream name: 1..max-1 bytes of printable ASCII
 * without spaces, '/', '?', '#', '%', '\\', '"', and no "..": one path
 * segment, safe in a URL, a log line and a file name. */
int stream_name_valid(const char *s, size_t max);

#endif
