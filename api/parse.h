/* parse: the API's own handling of request input, pure (no I/O, no MHD):
 * route matching of the path, unsigned integers in query strings and paths,
 * the JSON object body, the PATCH /api/v1/node body and the drain body. HTTP framing and
 * JSON syntax are libmicrohttpd's and cJSON's; what is here is what Weir
 * adds on top, and tests/fuzz/fuzz_api_input.c fuzzes it.
 * Threads: pure, no globals: any thread may call it on its own objects.
 */
#ifndef WEIR_API_PARSE_H
#define WEIR_API_PARSE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "drain.h"
#include "log.h"

#define API_MAX_PARAMS 2

typedef struct {
    const char *params[API_MAX_PARAMS]; /* point into buf */
    int nparams;
    char *buf; /* caller-owned, at least strlen(path) + API_MAX_PARAMS + 1 bytes */
} api_path_params_t;

/* Matches path against pattern: literal bytes, "{}" for one non-empty
 * segment, "{*}" for the non-empty rest. Returns 1 (parameters copied into
 * out) or 0. */
int api_path_match(const char *pattern, const char *path, api_path_params_t *out);

/* Decodes the %XX escapes of s in place (a URL's path or a query value, as
 * MHD hands them over: MHD_OPTION_UNESCAPE_CALLBACK) and returns the new
 * length. "%00" and a '%' not followed by two hex digits are kept as they
 * are: a decoded NUL would cut the string short, so that "/a.js%00.txt"
 * would name "/a.js". Never lengthens s. */
size_t api_unescape(char *s);

/* A decimal integer in [min, max]: digits only (no sign, no spaces, no
 * leading '+'). Returns 0 or -1. */
int api_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* ?after= of GET /api/v1/streams: a stream's "<app>/<name>", both parts
 * non-empty (the app holds no '/'; the name may). Returns 0 with *app_len
 * (the bytes of the app) set, or -1. */
int api_parse_stream_cursor(const char *s, size_t *app_len);
/* The order of the streams list: by app, then by name (bytewise). < 0, 0
 * or > 0 as the stream app/name sorts before, with or after the cursor c
 * (api_parse_stream_cursor() gave c_app_len). */
int api_stream_cursor_cmp(const char *app, const char *name, const char *c, size_t c_app_len);

#define API_EVENT_TYPES_MAX 32 /* types in one ?type= */
#define API_EVENT_TYPE_LEN 64  /* bytes of one type, at most */
/* api_parse_event_types()' out: room for the longest list accepted */
#define API_EVENT_TYPES_LEN (API_EVENT_TYPES_MAX * (API_EVENT_TYPE_LEN + 1) + 2)
/* ?type= of GET /api/v1/events: one event type or a comma-separated list of
 * them, each 1..API_EVENT_TYPE_LEN bytes of a-z, 0-9, '.', '_' and '-', at
 * most API_EVENT_TYPES_MAX of them. Writes ",t1,t2," (the form the event
 * log's query matches) into out (API_EVENT_TYPES_LEN bytes). Returns 0, or
 * -1 with a message in err. */
int api_parse_event_types(const char *s, char *out, char *err, size_t errlen);

/* The body as a JSON object (only whitespace may follow it). Returns the
 * object (caller frees), or NULL with a message in err. */
cJSON *api_parse_object(const char *body, size_t len, char *err, size_t errlen);

/* PATCH /api/v1/node: known fields only (log_level). Returns 0 with
 * *have_level and *level set, or -1 with a message that starts with the
 * offending field's name. */
int api_parse_node_patch(const cJSON *body, int *have_level, log_level_t *level, char *err,
                         size_t errlen);

#define API_DRAIN_RETRY_AFTER_DEFAULT 30

/* POST /api/v1/node/drain: body NULL (no body) or an object with the
 * optional fields redirect_url (null, or a URL drain_redirect_valid()
 * accepts: it becomes a Location header prefix) and retry_after_s (integer
 * 1..DRAIN_RETRY_AFTER_MAX, default API_DRAIN_RETRY_AFTER_DEFAULT).
 * Returns 0 with redirect ("" when none) and *retry_after_s set, or -1 with
 * a message that starts with the field's name. */
int api_parse_drain(const cJSON *body, char *redirect, size_t redirect_len, uint32_t *retry_after_s,
                    char *err, size_t errlen);

#endif
