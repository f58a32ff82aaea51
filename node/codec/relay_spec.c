/* relay_spec: a relay's configuration from and to JSON, its validation and
 * the URL of one of its streams (contract in relay_spec.h). Pure: no I/O, no
 * globals beyond constant tables. */
#include "relay_spec.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "spec_json.h"
#include "url.h"

const char *const RELAY_STATE_FIELDS[] = {
    "status",    "current_url",  "last_error",         "retries",
    "bytes",     "bitrate_kbps", "started_at",         "streams",
    "failovers", "etag",         "last_error_message", NULL};

static const char *const DIRECTIONS[] = {"push", "pull"};
static const char *const MODES[] = {"always", "on_demand"};
static const char *const SOURCES[] = {"api", "config"};

void relay_spec_defaults(relay_spec_t *s)
{
    memset(s, 0, sizeof *s);
    s->direction = RELAY_PULL;
    s->mode = RELAY_MODE_ALWAYS;
    s->idle_timeout_s = RELAY_DEFAULT_IDLE_TIMEOUT_S;
    s->retry_initial_ms = RELAY_DEFAULT_RETRY_INITIAL_MS;
    s->retry_max_ms = RELAY_DEFAULT_RETRY_MAX_MS;
    s->enabled = 1;
    s->tls_verify = 1;
    s->source = RELAY_SRC_API;
}

int relay_id_valid(const char *id)
{
    return spec_id_valid(id, RELAY_ID_MAX);
}

/* ---- validation ------------------------------------------------------------ */

/* One URL of s (index i) for its direction and name. */
static int validate_url(const relay_spec_t *s, unsigned i, char *err, size_t errlen)
{
    const char *url = s->urls[i];
    if (!memchr(url, '\0', RELAY_URL_MAX))
        return spec_fail(err, errlen, "urls[%u]: longer than %d bytes", i, RELAY_URL_MAX - 1);
    char field[16];
    snprintf(field, sizeof field, "urls[%u]", i);
    if (spec_url_bytes(url, field, err, errlen) != 0)
        return -1;
    url_scheme_t sch = url_scheme(url);
    int http = sch == URL_SCHEME_HTTP || sch == URL_SCHEME_HTTPS;
    const char *scheme = url_scheme_name(sch);
    if (!http && sch != URL_SCHEME_RTMP && sch != URL_SCHEME_RTMPS) {
        const char *sep = strstr(url, "://");
        if (!sep || sep == url)
            return spec_fail(err, errlen, "urls[%u]: expected %s", i,
                             s->direction == RELAY_PUSH
                                 ? "rtmp:// or rtmps://host[:port]/app/..."
                                 : "rtmp:// or rtmps://host[:port]/app/..., or http[s]://...");
        return spec_fail(err, errlen, "urls[%u]: scheme %.*s is not supported", i,
                         (int)(sep - url < 16 ? sep - url : 16), url);
    }
    if (http && s->direction == RELAY_PUSH)
        return spec_fail(err, errlen, "urls[%u]: push relays need an rtmp:// URL (or rtmps://)", i);

    url_t u;
    char uerr[128];
    if (url_parse(url, scheme, url_scheme_port(sch), &u, uerr, sizeof uerr) != 0) {
        const char *m = strncmp(uerr, "url: ", 5) == 0 ? uerr + 5 : uerr;
        return spec_fail(err, errlen, "urls[%u]: %s", i, m);
    }
    /* u.path starts with '/' and has at least one byte after it. */
    const char *path = u.path + 1;
    const char *query = strchr(path, '?');
    size_t plen = query ? (size_t)(query - path) : strlen(path);
    const char *slash = memchr(path, '/', plen);
    int wildcard = strcmp(s->name, "*") == 0;
    if (wildcard) {
        if (query || slash || plen == 0)
            return spec_fail(
                err, errlen,
                "urls[%u]: with name \"*\" the URL must end at the app (%s://host/app, "
                "no query): /<name>%s is appended",
                i, scheme, http ? ".flv" : "");
        return 0;
    }
    if (http) {
        const char *last = path;
        for (const char *p = path; p < path + plen; p++)
            if (*p == '/')
                last = p + 1;
        size_t llen = (size_t)(path + plen - last);
        if (llen <= 4 || strncmp(last + llen - 4, ".flv", 4) != 0)
            return spec_fail(err, errlen,
                             "urls[%u]: an %s:// URL must name a stream ending in .flv", i, scheme);
        return 0;
    }
    if (!slash || slash == path || slash + 1 >= path + plen)
        return spec_fail(err, errlen,
                         "urls[%u]: an %s:// URL must name the app and the stream "
                         "(%s://host/app/name)",
                         i, scheme, scheme);
    return 0;
}

static int check_range(const char *field, uint32_t v, uint32_t min, uint32_t max, char *err,
                       size_t errlen)
{
    if (v < min || v > max)
        return spec_fail(err, errlen, "%s: expected an integer from %u to %u", field, (unsigned)min,
                         (unsigned)max);
    return 0;
}

int relay_spec_validate(const relay_spec_t *s, char *err, size_t errlen)
{
    if (!memchr(s->id, '\0', sizeof s->id) || (s->id[0] && !relay_id_valid(s->id)))
        return spec_fail(err, errlen, "id: expected 1 to %d characters of A-Z a-z 0-9 . _ -",
                         RELAY_ID_MAX - 1);
    if (s->direction != RELAY_PUSH && s->direction != RELAY_PULL)
        return spec_fail(err, errlen, "direction: expected push or pull");
    if (!memchr(s->app, '\0', sizeof s->app) || !stream_name_valid(s->app, STREAM_APP_MAX))
        return spec_fail(err, errlen,
                         "app: expected 1 to %d printable ASCII characters without spaces, / ? # "
                         "%% \\ \" or ..",
                         STREAM_APP_MAX - 1);
    if (!memchr(s->name, '\0', sizeof s->name) ||
        (strcmp(s->name, "*") != 0 && !stream_name_valid(s->name, STREAM_NAME_MAX)))
        return spec_fail(
            err, errlen,
            "name: expected \"*\" or 1 to %d printable ASCII characters without spaces, "
            "/ ? # %% \\ \" or ..",
            STREAM_NAME_MAX - 1);
    if (s->nurls == 0)
        return spec_fail(err, errlen, "urls: at least one URL is required");
    if (s->nurls > RELAY_URLS_MAX)
        return spec_fail(err, errlen, "urls: at most %d URLs", RELAY_URLS_MAX);
    for (unsigned i = 0; i < s->nurls; i++)
        if (validate_url(s, i, err, errlen) != 0)
            return -1;
    if (s->mode != RELAY_MODE_ALWAYS && s->mode != RELAY_MODE_ON_DEMAND)
        return spec_fail(err, errlen, "mode: expected always or on_demand");
    if (s->mode == RELAY_MODE_ON_DEMAND && s->direction == RELAY_PUSH)
        return spec_fail(err, errlen, "mode: on_demand applies to pull relays only");
    if (s->mode == RELAY_MODE_ALWAYS && s->direction == RELAY_PULL && strcmp(s->name, "*") == 0)
        return spec_fail(
            err, errlen,
            "mode: always needs an exact stream name (a pull of \"*\" runs on_demand)");
    if (check_range("idle_timeout_s", s->idle_timeout_s, RELAY_IDLE_TIMEOUT_S_MIN,
                    RELAY_IDLE_TIMEOUT_S_MAX, err, errlen) != 0 ||
        check_range("retry_initial_ms", s->retry_initial_ms, RELAY_RETRY_MS_MIN, RELAY_RETRY_MS_MAX,
                    err, errlen) != 0 ||
        check_range("retry_max_ms", s->retry_max_ms, RELAY_RETRY_MS_MIN, RELAY_RETRY_MS_MAX, err,
                    errlen) != 0 ||
        (s->silence_timeout_ms &&
         check_range("silence_timeout_ms", s->silence_timeout_ms, RELAY_SILENCE_MS_MIN,
                     RELAY_SILENCE_MS_MAX, err, errlen) != 0))
        return -1;
    if (s->retry_max_ms < s->retry_initial_ms)
        return spec_fail(err, errlen, "retry_max_ms: must be >= retry_initial_ms");
    if (!memchr(s->tls_ca, '\0', sizeof s->tls_ca))
        return spec_fail(err, errlen, "tls_ca: longer than %d bytes", RELAY_TLS_CA_MAX - 1);
    if (s->source != RELAY_SRC_API && s->source != RELAY_SRC_CONFIG)
        return spec_fail(err, errlen, "source: expected api or config");
    return 0;
}

/* ---- from JSON --------------------------------------------------------------- */

enum {
    F_ID,
    F_DIRECTION,
    F_APP,
    F_NAME,
    F_URLS,
    F_MODE,
    F_IDLE,
    F_RETRY_INITIAL,
    F_RETRY_MAX,
    F_SILENCE,
    F_FAILBACK,
    F_ENABLED,
    F_TLS_VERIFY,
    F_TLS_CA,
    F_SOURCE,
    F_COUNT
};

static const char *const FIELDS[F_COUNT] = {
    "id",
    "direction",
    "app",
    "name",
    "urls",
    "mode",
    "idle_timeout_s",
    "retry_initial_ms",
    "retry_max_ms",
    "silence_timeout_ms",
    "failback",
    "enabled",
    "tls_verify",
    "tls_ca",
    "source",
};

/* A string member that must be one of vals[0..n-1]; *out its index. */
static int take_enum(const cJSON *v, const char *field, const char *const *vals, int n, int *out,
                     char *err, size_t errlen)
{
    if (!cJSON_IsString(v) || !v->valuestring)
        return spec_fail(err, errlen, "%s: expected a string", field);
    for (int i = 0; i < n; i++) {
        if (strcmp(v->valuestring, vals[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return spec_fail(err, errlen, "%s: expected %s or %s", field, vals[0], vals[1]);
}

static int take_urls(const cJSON *v, relay_spec_t *out, char *err, size_t errlen)
{
    if (!cJSON_IsArray(v))
        return spec_fail(err, errlen, "urls: expected an array");
    int n = cJSON_GetArraySize(v);
    if (n == 0)
        return spec_fail(err, errlen, "urls: at least one URL is required");
    if (n > RELAY_URLS_MAX)
        return spec_fail(err, errlen, "urls: at most %d URLs", RELAY_URLS_MAX);
    unsigned i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        char field[16];
        snprintf(field, sizeof field, "urls[%u]", i);
        if (spec_take_string(e, field, out->urls[i], RELAY_URL_MAX, err, errlen) != 0)
            return -1;
    }
    for (unsigned k = i; k < RELAY_URLS_MAX; k++)
        out->urls[k][0] = '\0';
    out->nurls = i;
    return 0;
}

/* One known member. *mode_null is set for "mode": null. */
static int take_field(int f, const cJSON *v, relay_source_t source, relay_spec_t *out,
                      int *mode_null, char *err, size_t errlen)
{
    int e = 0;
    switch (f) {
    case F_ID:
        if (spec_take_string(v, "id", out->id, sizeof out->id, err, errlen) != 0)
            return -1;
        if (!relay_id_valid(out->id))
            return spec_fail(err, errlen, "id: expected 1 to %d characters of A-Z a-z 0-9 . _ -",
                             RELAY_ID_MAX - 1);
        return 0;
    case F_DIRECTION:
        if (take_enum(v, "direction", DIRECTIONS, 2, &e, err, errlen) != 0)
            return -1;
        out->direction = (relay_dir_t)e;
        return 0;
    case F_APP: return spec_take_string(v, "app", out->app, sizeof out->app, err, errlen);
    case F_NAME: return spec_take_string(v, "name", out->name, sizeof out->name, err, errlen);
    case F_URLS: return take_urls(v, out, err, errlen);
    case F_MODE:
        if (cJSON_IsNull(v)) {
            *mode_null = 1;
            out->mode = RELAY_MODE_ALWAYS;
            return 0;
        }
        if (take_enum(v, "mode", MODES, 2, &e, err, errlen) != 0)
            return -1;
        *mode_null = 0;
        out->mode = (relay_mode_t)e;
        return 0;
    case F_IDLE:
        return spec_take_u32(v, "idle_timeout_s", RELAY_IDLE_TIMEOUT_S_MIN,
                             RELAY_IDLE_TIMEOUT_S_MAX, &out->idle_timeout_s, err, errlen);
    case F_RETRY_INITIAL:
        return spec_take_u32(v, "retry_initial_ms", RELAY_RETRY_MS_MIN, RELAY_RETRY_MS_MAX,
                             &out->retry_initial_ms, err, errlen);
    case F_RETRY_MAX:
        return spec_take_u32(v, "retry_max_ms", RELAY_RETRY_MS_MIN, RELAY_RETRY_MS_MAX,
                             &out->retry_max_ms, err, errlen);
    case F_SILENCE:
        if (cJSON_IsNull(v)) {
            out->silence_timeout_ms = 0; /* the node's relay.connect_timeout_ms */
            return 0;
        }
        return spec_take_u32(v, "silence_timeout_ms", RELAY_SILENCE_MS_MIN, RELAY_SILENCE_MS_MAX,
                             &out->silence_timeout_ms, err, errlen);
    case F_FAILBACK: return spec_take_bool(v, "failback", &out->failback, err, errlen);
    case F_ENABLED: return spec_take_bool(v, "enabled", &out->enabled, err, errlen);
    case F_TLS_VERIFY: return spec_take_bool(v, "tls_verify", &out->tls_verify, err, errlen);
    case F_TLS_CA: return spec_take_tls_ca(v, out->tls_ca, sizeof out->tls_ca, err, errlen);
    case F_SOURCE:
        if (!cJSON_IsString(v) || !v->valuestring)
            return spec_fail(err, errlen, "source: expected a string");
        if (strcmp(v->valuestring, SOURCES[source]) != 0)
            return spec_fail(err, errlen, "source: read-only (this relay's is \"%s\")",
                             SOURCES[source]);
        return 0;
    default: return spec_fail(err, errlen, "relay: internal error");
    }
}

int relay_spec_from_json(const cJSON *obj, const relay_spec_t *base, relay_spec_t *out, char *err,
                         size_t errlen)
{
    relay_spec_t s;
    if (base)
        s = *base;
    else
        relay_spec_defaults(&s);
    if (!cJSON_IsObject(obj))
        return spec_fail(err, errlen, "relay: expected a JSON object");
    unsigned seen = 0;
    int mode_null = 0;
    for (const cJSON *v = obj->child; v; v = v->next) {
        int f = spec_member(v->string, FIELDS, F_COUNT, RELAY_STATE_FIELDS, &seen, err, errlen);
        if (f == SPEC_MEMBER_STATE)
            continue; /* rendered live state: a GET body may be sent back */
        if (f < 0 || take_field(f, v, s.source, &s, &mode_null, err, errlen) != 0)
            return -1;
    }
    static const int required[] = {F_DIRECTION, F_APP, F_NAME, F_URLS};
    if (!base && spec_required(seen, FIELDS, required, sizeof required / sizeof required[0], err,
                               errlen) != 0)
        return -1;
    if ((seen & (1u << F_MODE)) && !mode_null && s.direction == RELAY_PUSH &&
        s.mode == RELAY_MODE_ALWAYS)
        return spec_fail(err, errlen, "mode: a push relay has no mode (null or absent)");
    if (mode_null && s.direction == RELAY_PULL)
        return spec_fail(err, errlen,
                         "mode: expected always or on_demand for a pull relay (null is "
                         "for push relays)");
    if (s.direction == RELAY_PUSH && !(seen & (1u << F_MODE)) && base &&
        base->direction == RELAY_PULL)
        s.mode = RELAY_MODE_ALWAYS; /* a push relay has no mode */
    if (!base && s.direction == RELAY_PULL && !(seen & (1u << F_MODE)) && strcmp(s.name, "*") == 0)
        s.mode = RELAY_MODE_ON_DEMAND; /* the only mode a pull of every stream can have */
    if (relay_spec_validate(&s, err, errlen) != 0)
        return -1;
    *out = s;
    return 0;
}

/* A string member of obj (exact name), or NULL. */
static const char *member_string(const cJSON *obj, const char *key)
{
    for (const cJSON *v = obj->child; v; v = v->next)
        if (v->string && strcmp(v->string, key) == 0)
            return cJSON_IsString(v) ? v->valuestring : NULL;
    return NULL;
}

int relay_spec_patch(const cJSON *body, const relay_spec_t *cur, relay_spec_t *out, char *err,
                     size_t errlen)
{
    if (!cJSON_IsObject(body))
        return spec_fail(err, errlen, "relay: expected a JSON object");
    const char *dir = member_string(body, "direction");
    const char *id = member_string(body, "id");
    if (dir && strcmp(dir, cur->direction == RELAY_PUSH ? "push" : "pull") != 0)
        return spec_fail(err, errlen, "direction: cannot change; delete and create the relay");
    if (id && strcmp(id, cur->id) != 0)
        return spec_fail(err, errlen, "id: does not match the path");
    return relay_spec_from_json(body, cur, out, err, errlen);
}

/* ---- to JSON, URLs, matching ------------------------------------------------ */

cJSON *relay_spec_to_json(const relay_spec_t *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddStringToObject(o, "direction", DIRECTIONS[s->direction == RELAY_PULL]);
    cJSON_AddStringToObject(o, "app", s->app);
    cJSON_AddStringToObject(o, "name", s->name);
    cJSON *urls = cJSON_AddArrayToObject(o, "urls");
    unsigned n = s->nurls < RELAY_URLS_MAX ? s->nurls : RELAY_URLS_MAX;
    for (unsigned i = 0; urls && i < n; i++) {
        cJSON *u = cJSON_CreateString(s->urls[i]);
        if (!u || !cJSON_AddItemToArray(urls, u)) {
            cJSON_Delete(u);
            break;
        }
    }
    if (s->direction == RELAY_PUSH)
        cJSON_AddNullToObject(o, "mode");
    else
        cJSON_AddStringToObject(o, "mode", MODES[s->mode == RELAY_MODE_ON_DEMAND]);
    cJSON_AddNumberToObject(o, "idle_timeout_s", (double)s->idle_timeout_s);
    cJSON_AddNumberToObject(o, "retry_initial_ms", (double)s->retry_initial_ms);
    cJSON_AddNumberToObject(o, "retry_max_ms", (double)s->retry_max_ms);
    if (s->silence_timeout_ms)
        cJSON_AddNumberToObject(o, "silence_timeout_ms", (double)s->silence_timeout_ms);
    else
        cJSON_AddNullToObject(o, "silence_timeout_ms");
    cJSON_AddBoolToObject(o, "failback", s->failback != 0);
    cJSON_AddBoolToObject(o, "enabled", s->enabled != 0);
    spec_add_tls(o, s->tls_verify, s->tls_ca);
    cJSON_AddStringToObject(o, "source", SOURCES[s->source == RELAY_SRC_CONFIG]);
    /* cJSON's Add* fail only on allocation: one count check catches any. */
    if (cJSON_GetArraySize(o) != F_COUNT || !urls || cJSON_GetArraySize(urls) != (int)n) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int relay_spec_url_for(const relay_spec_t *s, unsigned i, const char *stream, char *out,
                       size_t outlen)
{
    if (i >= s->nurls || i >= RELAY_URLS_MAX || outlen == 0)
        return -1;
    int n;
    if (strcmp(s->name, "*") != 0)
        n = snprintf(out, outlen, "%s", s->urls[i]);
    else
        n = snprintf(out, outlen, "%s/%s%s", s->urls[i], stream,
                     url_scheme(s->urls[i]) == URL_SCHEME_HTTP ||
                             url_scheme(s->urls[i]) == URL_SCHEME_HTTPS
                         ? ".flv"
                         : "");
    if (n < 0 || (size_t)n >= outlen) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

int relay_spec_matches(const relay_spec_t *s, const char *app, const char *name)
{
    return strcmp(s->app, app) == 0 && (strcmp(s->name, "*") == 0 || strcmp(s->name, name) == 0);
}

relay_diff_t relay_spec_diff(const relay_spec_t *a, const relay_spec_t *b)
{
    if (a->direction != b->direction || strcmp(a->app, b->app) != 0 ||
        strcmp(a->name, b->name) != 0 || a->mode != b->mode || a->enabled != b->enabled ||
        a->source != b->source || a->tls_verify != b->tls_verify ||
        strcmp(a->tls_ca, b->tls_ca) != 0)
        return RELAY_DIFF_RESTART;
    int urls = a->nurls != b->nurls;
    for (unsigned i = 0; !urls && i < a->nurls; i++)
        urls = strcmp(a->urls[i], b->urls[i]) != 0;
    if (urls)
        return RELAY_DIFF_URLS;
    if (a->idle_timeout_s != b->idle_timeout_s || a->retry_initial_ms != b->retry_initial_ms ||
        a->retry_max_ms != b->retry_max_ms || a->silence_timeout_ms != b->silence_timeout_ms ||
        a->failback != b->failback)
        return RELAY_DIFF_QUIET;
    return RELAY_DIFF_NONE;
}
