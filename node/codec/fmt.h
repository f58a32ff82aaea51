/* fmt: how the node writes times and rates wherever they appear (API
 * responses, the event log, webhooks, relay status), in one place below
 * both the media plane and api/, so neither has to include the other for
 * it. Pure: no I/O, no globals; any thread may call it. */
#ifndef WEIR_FMT_H
#define WEIR_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Longest fmt_time() output with its NUL ("2026-11-24T10:00:00.123Z"). */
#define FMT_TIME_LEN 25

/* RFC 3339 UTC with milliseconds of a Unix time in ms, into buf (len >=
 * FMT_TIME_LEN; shorter is truncated). Years past 9999 wrap. */
void fmt_time(int64_t wall_ms, char *buf, size_t len);
/* bits/s -> kbit/s with one decimal, as the JSON API reports rates. */
double fmt_kbps(double bps);

#endif
