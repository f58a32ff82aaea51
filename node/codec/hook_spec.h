/* hook_spec: what a webhook target is (its configuration), pure: parsing
 * and validation from JSON, rendering to JSON (for the API, without the
 * secret, and for storage, with it), and matching event types. Used by the
 * config loader (config-file hooks), the API (request bodies) and the hook
 * manager (hooks restored from SQLite). tests/fuzz/fuzz_hook_spec.c fuzzes
 * hook_spec_from_json() (API bodies are network input).
 *
 * JSON fields (the API's and the config file's, same names):
 *   id          string [A-Za-z0-9._-]{1,63}, not "." or ".."
 *   url         http://host[:port]/path[?query] or https://..., at most 511
 *               bytes (required)
 *   events      1..HOOK_EVENTS_MAX notification types (HOOK_EVENT_TYPES), no
 *               duplicates, or exactly ["*"] for all (required)
 *   decide      subset of ["on_publish", "on_play"] (default [])
 *   timeout_ms  100..60000 (default 5000)
 *   secret      1..256 bytes, or null / absent for none
 *   enabled     boolean (default true)
 *   tls_verify  boolean (default true): an https:// target's certificate is
 *               verified (chain and host name); false: not checked (tests)
 *   tls_ca      a CA file (PEM) to verify it against, or null (the
 *               default): the node's tls.ca, else the system CA store
 * Rendered only: "source" ("config" | "api") and "secret_set"; the manager
 * adds the live state (HOOK_STATE_FIELDS). Those are accepted and ignored in
 * bodies, so a GET body can be PUT back (minus the secret).
 * Threads: pure, no globals: any thread may call it on its own objects.
 */
#ifndef WEIR_HOOK_SPEC_H
#define WEIR_HOOK_SPEC_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "url.h"

#define HOOK_ID_MAX 64      /* with its NUL */
#define HOOK_URL_MAX 512    /* with its NUL */
#define HOOK_SECRET_MAX 257 /* with its NUL */
#define HOOK_EVENTS_MAX 32  /* items of "events" at most */
#define HOOK_TLS_CA_MAX 512 /* with its NUL */

#define HOOK_DEFAULT_TIMEOUT_MS 5000
#define HOOK_TIMEOUT_MS_MIN 100
#define HOOK_TIMEOUT_MS_MAX 60000

typedef enum { HOOK_SRC_API = 0, HOOK_SRC_CONFIG = 1 } hook_source_t;

/* Decision points (bits of hook_spec_t.decide). */
#define HOOK_DECIDE_PUBLISH 1u /* "on_publish" */
#define HOOK_DECIDE_PLAY 2u    /* "on_play" */

typedef struct {
    char id[HOOK_ID_MAX];
    char url[HOOK_URL_MAX];
    int all_events;  /* events ["*"] */
    uint32_t events; /* else: bit i = HOOK_EVENT_TYPES[i] */
    unsigned decide; /* HOOK_DECIDE_* bits */
    uint32_t timeout_ms;
    char secret[HOOK_SECRET_MAX]; /* "" for none */
    int enabled;
    int tls_verify;               /* default 1 */
    char tls_ca[HOOK_TLS_CA_MAX]; /* "": the node's tls.ca or the system store */
    hook_source_t source;
} hook_spec_t;

/* The notification types, NULL-terminated (node.start ... relay.refused). */
extern const char *const HOOK_EVENT_TYPES[];
/* The read-only fields of a rendered hook besides source and secret_set,
 * NULL-terminated: queued, delivered, failed, dropped, retries, last_status,
 * last_error, last_delivery_at. */
extern const char *const HOOK_STATE_FIELDS[];

/* Index of type in HOOK_EVENT_TYPES, or -1. */
int hook_event_type_index(const char *type);

/* Every default; id, url empty, no events. */
void hook_spec_defaults(hook_spec_t *s);

/* Builds out from a JSON object: a whole hook (full replace semantics: the
 * fields absent get their defaults, a missing secret means none). url and
 * events are required. Unknown fields are errors; the rendered-only fields
 * are accepted and ignored. The result is validated whole. Returns 0, or -1
 * with a message in err that starts with the field's path ("events[2]:
 * unknown event type 'x'", "url: expected http://host[:port]/path (or
 * https://)", "hook: expected a JSON object") and out untouched. out->source is HOOK_SRC_API. */
int hook_spec_from_json(const cJSON *obj, hook_spec_t *out, char *err, size_t errlen);

/* Checks a whole spec: id (when not empty), url, events, decide, timeout,
 * secret length, tls_ca length, source. Returns 0 or -1 with err naming the field. */
int hook_spec_validate(const hook_spec_t *s, char *err, size_t errlen);

/* The spec as the API shows it: id, url, events, decide, timeout_ms,
 * enabled, tls_verify, tls_ca, secret_set, source; never the secret. NULL when out of memory. */
cJSON *hook_spec_to_json(const hook_spec_t *s);
/* The spec as stored in SQLite: the fields hook_spec_from_json() reads back,
 * the secret included (no source, no secret_set). NULL when out of memory. */
cJSON *hook_spec_to_storage_json(const hook_spec_t *s);

/* 1 if the hook's events list holds type (a known notification type) or is
 * ["*"]. Does not look at enabled. */
int hook_spec_wants(const hook_spec_t *s, const char *type);
/* 1 if the hook decides point ("on_publish" or "on_play"). Does not look at
 * enabled. */
int hook_spec_decides(const hook_spec_t *s, const char *point);

/* The parsed url (a bare "/" path allowed). Returns 0, or -1 with a message
 * in err starting "url: ". */
int hook_spec_url(const char *url, url_t *out, char *err, size_t errlen);

#endif
