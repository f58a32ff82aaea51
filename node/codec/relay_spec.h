/* relay_spec: what a relay is (its configuration), pure: parsing and
 * validation from JSON, rendering to JSON, and the URL for a stream. Used by
 * the config loader (config-file relays), the API (request bodies) and the
 * relay manager (relays restored from SQLite, stored as this JSON).
 * tests/fuzz/fuzz_relay_spec.c fuzzes relay_spec_from_json(). Layer codec:
 * no I/O, no state; callable from any thread.
 *
 * JSON fields (the API's and the config file's, same names):
 *   id                string [A-Za-z0-9._-]{1,63}
 *   direction         "push" | "pull"                       (required)
 *   app               stream app name                        (required)
 *   name              exact stream name, or "*"              (required)
 *   urls              1..RELAY_URLS_MAX URLs, tried in order (required)
 *                     push: rtmp:// or rtmps://; pull: those or http://,
 *                     https:// (HTTP-FLV); name "*": the URL ends at the
 *                     app level and "/name" is appended ("/name.flv" for
 *                     http:// and https://)
 *   mode              "always" | "on_demand" (pull; push: absent or null);
 *                     a pull of "*" must be on_demand (its default)
 *   idle_timeout_s    on_demand: stop after this long without players
 *   retry_initial_ms  first backoff delay (doubles, with jitter)
 *   retry_max_ms      backoff cap (>= retry_initial_ms)
 *   silence_timeout_ms pull, once up: fail over when the upstream sends no
 *                     media for this long (RELAY_SILENCE_MS_MIN..MAX); null
 *                     (stored as 0): the node's relay.connect_timeout_ms
 *   failback          boolean (default false), pull: while running on a
 *                     later URL, probe the earlier ones every retry_max_ms
 *                     and return to one once its probe has a key frame
 *                     (relay_failback.c); and when a link on a later URL
 *                     that had been up goes down, the next attempt is URL 0
 *                     again (not the next URL; relay_run.c)
 *   enabled           boolean
 *   tls_verify        boolean (default true): rtmps:// and https:// upstreams'
 *                     certificates are verified (chain and host name);
 *                     false: not checked (test setups only)
 *   tls_ca            a CA file (PEM) to verify them against, or null (the
 *                     default): the node's tls.ca, else the system store
 * Rendered only: "source" ("config" | "api").
 */
#ifndef WEIR_RELAY_SPEC_H
#define WEIR_RELAY_SPEC_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "stream_name.h"

#define RELAY_ID_MAX 64 /* with its NUL */
#define RELAY_URLS_MAX 8
#define RELAY_URL_MAX 512 /* with its NUL */
#define RELAY_TLS_CA_MAX 512 /* with its NUL */

#define RELAY_DEFAULT_IDLE_TIMEOUT_S 30
#define RELAY_DEFAULT_RETRY_INITIAL_MS 1000
#define RELAY_DEFAULT_RETRY_MAX_MS 30000
#define RELAY_IDLE_TIMEOUT_S_MIN 1
#define RELAY_IDLE_TIMEOUT_S_MAX 86400
#define RELAY_RETRY_MS_MIN 100
#define RELAY_RETRY_MS_MAX 3600000
#define RELAY_SILENCE_MS_MIN 200
#define RELAY_SILENCE_MS_MAX 600000

typedef enum { RELAY_PUSH = 0, RELAY_PULL = 1 } relay_dir_t;
typedef enum { RELAY_MODE_ALWAYS = 0, RELAY_MODE_ON_DEMAND = 1 } relay_mode_t;
typedef enum { RELAY_SRC_API = 0, RELAY_SRC_CONFIG = 1 } relay_source_t;

typedef struct {
    char id[RELAY_ID_MAX];
    relay_dir_t direction;
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX]; /* exact, or "*" */
    char urls[RELAY_URLS_MAX][RELAY_URL_MAX];
    unsigned nurls;
    relay_mode_t mode; /* RELAY_MODE_ALWAYS for push */
    uint32_t idle_timeout_s;
    uint32_t retry_initial_ms;
    uint32_t retry_max_ms;
    uint32_t silence_timeout_ms; /* 0: the node's relay.connect_timeout_ms */
    int failback;
    int enabled;
    int tls_verify;                /* default 1 */
    char tls_ca[RELAY_TLS_CA_MAX]; /* "": the node's tls.ca or the system store */
    relay_source_t source;
} relay_spec_t;

/* The read-only live-state fields of a rendered relay, NULL-terminated:
 * status, current_url, last_error, retries, bytes, bitrate_kbps,
 * started_at, streams, failovers, etag, last_error_message. */
extern const char *const RELAY_STATE_FIELDS[];

/* What a change of spec means for the running links (relay_spec_diff()). */
typedef enum {
    RELAY_DIFF_NONE = 0, /* the same effective spec: nothing to do */
    RELAY_DIFF_QUIET,    /* only fields that apply without reconnecting (retry
                          * and backoff bounds, idle_timeout_s, failback,
                          * silence_timeout_ms: the manager hands the new
                          * silence to the running links): keep links */
    RELAY_DIFF_URLS,     /* the URL list (and maybe quiet fields): links whose
                          * upstream is still listed stay */
    RELAY_DIFF_RESTART,  /* direction, app, name, mode, enabled, source,
                          * tls_verify or tls_ca:
                          * the links restart */
} relay_diff_t;

/* How b differs from a (ids are not compared). */
relay_diff_t relay_spec_diff(const relay_spec_t *a, const relay_spec_t *b);

/* Every default; id, app, name and urls empty. */
void relay_spec_defaults(relay_spec_t *s);

/* 1 if id is 1..63 bytes of [A-Za-z0-9._-] and not "." or "..", else 0. */
int relay_id_valid(const char *id);

/* Builds out from a JSON object. base NULL: a new relay (direction, app,
 * name, urls required; the rest default). base non-NULL (PATCH): out starts
 * as a copy of *base and only the fields present change (a null mode on a
 * pull relay is an error). Unknown fields are errors; "source" is accepted
 * only if it equals the current value (so a GET body can be PUT back), and
 * the live-state fields the API renders (RELAY_STATE_FIELDS) are accepted
 * and ignored. The result is
 * validated whole (relay_spec_validate()). Returns 0, or -1 with a message in
 * err that starts with the field's path ("urls[1]: ...",
 * "mode: on_demand applies to pull relays only"). out->source is kept from
 * base, else RELAY_SRC_API. */
int relay_spec_from_json(const cJSON *obj, const relay_spec_t *base, relay_spec_t *out, char *err,
                         size_t errlen);

/* A PATCH body merged over cur into out: "direction" cannot change and an
 * "id" must be cur's (checked first, before the merge's own validation
 * complains about what another direction does not allow), then
 * relay_spec_from_json(body, cur, out). Returns 0, or -1 with err naming
 * the field ("direction: cannot change; delete and create the relay"). */
int relay_spec_patch(const cJSON *body, const relay_spec_t *cur, relay_spec_t *out, char *err,
                     size_t errlen);

/* Checks a whole spec: id (when not empty), app valid, name valid or "*",
 * 1..RELAY_URLS_MAX URLs each parseable with the right scheme for the
 * direction (rtmp:// or rtmps:// push; those or http://, https:// pull),
 * each URL naming a stream when name is exact (rtmp: app and
 * name segments; http: a path ending in ".flv") and ending at the app level
 * when name is "*" (rtmp: exactly one path segment, no query; http: one
 * segment), mode on_demand only for pull, ranges of the numbers,
 * retry_max_ms >= retry_initial_ms. Returns 0 or -1 with err naming the
 * field. */
int relay_spec_validate(const relay_spec_t *s, char *err, size_t errlen);

/* The spec as a JSON object (every field above plus "source"; "mode" null
 * for push). NULL when out of memory. */
cJSON *relay_spec_to_json(const relay_spec_t *s);

/* The URL to use for the i-th URL and a local stream name: the URL itself
 * for an exact name, else the URL plus "/" stream (plus ".flv" for http://).
 * Returns 0, or -1 if it does not fit in outlen or i is out of range. */
int relay_spec_url_for(const relay_spec_t *s, unsigned i, const char *stream, char *out,
                       size_t outlen);

/* 1 if the spec applies to app/name (same app; same name or "*"). */
int relay_spec_matches(const relay_spec_t *s, const char *app, const char *name);

#endif
