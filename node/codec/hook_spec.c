/* hook_spec: a webhook target's configuration from and to JSON and its
 * validation (contract in hook_spec.h). Pure: no I/O, no globals beyond
 * constant tables. */
#include "hook_spec.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "relay_spec.h"
#include "spec_json.h"

_Static_assert(HOOK_ID_MAX == RELAY_ID_MAX, "hook and relay ids follow the same rule");

const char *const HOOK_EVENT_TYPES[] = {"node.start",
                                        "node.heartbeat",
                                        "node.drain",
                                        "node.undrain",
                                        "publish.start",
                                        "publish.stop",
                                        "play.start",
                                        "play.stop",
                                        "session.kick",
                                        "stream.close",
                                        "config.change",
                                        "relay.start",
                                        "relay.stop",
                                        "relay.fail",
                                        "relay.failover",
                                        "relay.refused",
                                        "storage.lost",
                                        "node.drained",
                                        "record.start",
                                        "record.segment",
                                        "record.stop",
                                        "record.fail",
                                        NULL};
#define HOOK_NTYPES 22
_Static_assert(sizeof HOOK_EVENT_TYPES / sizeof HOOK_EVENT_TYPES[0] == HOOK_NTYPES + 1,
               "one bit per type");

const char *const HOOK_STATE_FIELDS[] = {"queued",     "delivered",        "failed",
                                         "dropped",    "retries",          "last_status",
                                         "last_error", "last_delivery_at", "etag",
                                         NULL};

static const char *const POINTS[] = {"on_publish", "on_play"};
static const char *const SOURCES[] = {"api", "config"};

int hook_event_type_index(const char *type)
{
    for (int i = 0; type && HOOK_EVENT_TYPES[i]; i++)
        if (strcmp(type, HOOK_EVENT_TYPES[i]) == 0)
            return i;
    return -1;
}

static int point_bit(const char *point)
{
    if (point && strcmp(point, POINTS[0]) == 0)
        return HOOK_DECIDE_PUBLISH;
    if (point && strcmp(point, POINTS[1]) == 0)
        return HOOK_DECIDE_PLAY;
    return 0;
}

void hook_spec_defaults(hook_spec_t *s)
{
    memset(s, 0, sizeof *s);
    s->timeout_ms = HOOK_DEFAULT_TIMEOUT_MS;
    s->enabled = 1;
    s->tls_verify = 1;
    s->source = HOOK_SRC_API;
}

/* ---- validation ------------------------------------------------------------ */

int hook_spec_url(const char *url, url_t *out, char *err, size_t errlen)
{
    if (!memchr(url, '\0', HOOK_URL_MAX))
        return spec_fail(err, errlen, "url: longer than %d bytes", HOOK_URL_MAX - 1);
    if (spec_url_bytes(url, "url", err, errlen) != 0)
        return -1;
    url_scheme_t sch = url_scheme(url);
    if (sch != URL_SCHEME_HTTP && sch != URL_SCHEME_HTTPS)
        return spec_fail(err, errlen, "url: expected http://host[:port]/path (or https://)");
    /* url_parse() wants a path of at least one byte after '/': a bare "/",
     * or no path at all ("http://host:port", taken as "/"), with or without
     * a query, is parsed with a placeholder byte, then put back. */
    char tmp[HOOK_URL_MAX + 1];
    const char *auth = url + strlen(url_scheme_name(sch)) + 3;
    size_t alen = auth[0] == '[' ? strcspn(auth, "]") : 0;
    alen += strcspn(auth + alen, "/?");
    const char *rest = auth + alen;
    const char *after = rest[0] == '/' ? rest + 1 : rest; /* the query, or "" */
    int root = after[0] == '\0' || after[0] == '?';
    if (root) {
        snprintf(tmp, sizeof tmp, "%.*s/_%s", (int)(rest - url), url, after);
        url = tmp;
    }
    char uerr[96];
    if (url_parse(url, url_scheme_name(sch), url_scheme_port(sch), out, uerr, sizeof uerr) != 0)
        return spec_fail(err, errlen, "url: %s", strncmp(uerr, "url: ", 5) == 0 ? uerr + 5 : uerr);
    if (root) /* "/_..." back to "/..." */
        memmove(out->path + 1, out->path + 2, strlen(out->path + 2) + 1);
    return 0;
}

int hook_spec_validate(const hook_spec_t *s, char *err, size_t errlen)
{
    if (!memchr(s->id, '\0', sizeof s->id) || (s->id[0] && !relay_id_valid(s->id)))
        return spec_fail(err, errlen,
                         "id: expected 1 to %d characters of A-Z a-z 0-9 . _ - (not . or ..)",
                         HOOK_ID_MAX - 1);
    if (!memchr(s->url, '\0', sizeof s->url))
        return spec_fail(err, errlen, "url: longer than %d bytes", HOOK_URL_MAX - 1);
    if (!s->url[0])
        return spec_fail(err, errlen, "url: required");
    url_t u;
    if (hook_spec_url(s->url, &u, err, errlen) != 0)
        return -1;
    if (!s->all_events && (s->events == 0 || (s->events >> HOOK_NTYPES) != 0))
        return spec_fail(err, errlen, "events: at least one event type (or \"*\") is required");
    if (s->decide & ~(HOOK_DECIDE_PUBLISH | HOOK_DECIDE_PLAY))
        return spec_fail(err, errlen, "decide: expected on_publish and/or on_play");
    if (s->timeout_ms < HOOK_TIMEOUT_MS_MIN || s->timeout_ms > HOOK_TIMEOUT_MS_MAX)
        return spec_fail(err, errlen, "timeout_ms: expected an integer from %d to %d",
                         HOOK_TIMEOUT_MS_MIN, HOOK_TIMEOUT_MS_MAX);
    if (!memchr(s->secret, '\0', sizeof s->secret))
        return spec_fail(err, errlen, "secret: expected 1 to %d bytes", HOOK_SECRET_MAX - 1);
    if (!memchr(s->tls_ca, '\0', sizeof s->tls_ca))
        return spec_fail(err, errlen, "tls_ca: longer than %d bytes", HOOK_TLS_CA_MAX - 1);
    if (s->source != HOOK_SRC_API && s->source != HOOK_SRC_CONFIG)
        return spec_fail(err, errlen, "source: expected api or config");
    return 0;
}

/* ---- from JSON --------------------------------------------------------------- */

enum {
    F_ID,
    F_URL,
    F_EVENTS,
    F_DECIDE,
    F_TIMEOUT,
    F_SECRET,
    F_ENABLED,
    F_TLS_VERIFY,
    F_TLS_CA,
    F_SOURCE,
    F_SECRET_SET,
    F_COUNT
};

static const char *const FIELDS[F_COUNT] = {"id",         "url",    "events",    "decide",
                                            "timeout_ms", "secret", "enabled",   "tls_verify",
                                            "tls_ca",     "source", "secret_set"};

static int take_events(const cJSON *v, hook_spec_t *s, char *err, size_t errlen)
{
    if (!cJSON_IsArray(v))
        return spec_fail(err, errlen, "events: expected an array of event types");
    int n = cJSON_GetArraySize(v);
    if (n == 0)
        return spec_fail(err, errlen, "events: at least one event type (or \"*\") is required");
    if (n > HOOK_EVENTS_MAX)
        return spec_fail(err, errlen, "events: at most %d items", HOOK_EVENTS_MAX);
    s->all_events = 0;
    s->events = 0;
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e) || !e->valuestring)
            return spec_fail(err, errlen, "events[%d]: expected a string", i);
        if (strcmp(e->valuestring, "*") == 0) {
            if (n != 1)
                return spec_fail(err, errlen, "events[%d]: \"*\" must be the only item", i);
            s->all_events = 1;
            return 0;
        }
        int t = hook_event_type_index(e->valuestring);
        char shown[65];
        spec_print_key(e->valuestring, shown, sizeof shown);
        if (t < 0)
            return spec_fail(err, errlen, "events[%d]: unknown event type '%s'", i, shown);
        if (s->events & (1u << t))
            return spec_fail(err, errlen, "events[%d]: '%s' is listed twice", i, shown);
        s->events |= 1u << t;
    }
    return 0;
}

static int take_decide(const cJSON *v, hook_spec_t *s, char *err, size_t errlen)
{
    if (!cJSON_IsArray(v))
        return spec_fail(err, errlen, "decide: expected an array (on_publish, on_play)");
    s->decide = 0;
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        int bit = cJSON_IsString(e) ? point_bit(e->valuestring) : 0;
        if (!bit)
            return spec_fail(err, errlen, "decide[%d]: expected on_publish or on_play", i);
        if (s->decide & (unsigned)bit)
            return spec_fail(err, errlen, "decide[%d]: '%s' is listed twice", i, e->valuestring);
        s->decide |= (unsigned)bit;
    }
    return 0;
}

static int take_field(int f, const cJSON *v, hook_spec_t *s, char *err, size_t errlen)
{
    switch (f) {
    case F_ID:
        if (spec_take_string(v, "id", s->id, sizeof s->id, err, errlen) != 0)
            return -1;
        if (!relay_id_valid(s->id))
            return spec_fail(err, errlen,
                             "id: expected 1 to %d characters of A-Z a-z 0-9 . _ - (not . or ..)",
                             HOOK_ID_MAX - 1);
        return 0;
    case F_URL: return spec_take_string(v, "url", s->url, sizeof s->url, err, errlen);
    case F_EVENTS: return take_events(v, s, err, errlen);
    case F_DECIDE: return take_decide(v, s, err, errlen);
    case F_TIMEOUT:
        return spec_take_u32(v, "timeout_ms", HOOK_TIMEOUT_MS_MIN, HOOK_TIMEOUT_MS_MAX,
                             &s->timeout_ms, err, errlen);
    case F_SECRET:
        if (cJSON_IsNull(v)) {
            s->secret[0] = '\0';
            return 0;
        }
        if (spec_take_string(v, "secret", s->secret, sizeof s->secret, err, errlen) != 0)
            return -1;
        if (!s->secret[0])
            return spec_fail(err, errlen, "secret: expected 1 to %d bytes (null for none)",
                             HOOK_SECRET_MAX - 1);
        return 0;
    case F_ENABLED: return spec_take_bool(v, "enabled", &s->enabled, err, errlen);
    case F_TLS_VERIFY: return spec_take_bool(v, "tls_verify", &s->tls_verify, err, errlen);
    case F_TLS_CA: return spec_take_tls_ca(v, s->tls_ca, sizeof s->tls_ca, err, errlen);
    case F_SOURCE: /* rendered only: checked for shape, ignored */
        if (!cJSON_IsString(v) || !v->valuestring ||
            (strcmp(v->valuestring, SOURCES[0]) != 0 && strcmp(v->valuestring, SOURCES[1]) != 0))
            return spec_fail(err, errlen, "source: read-only; expected api or config");
        return 0;
    case F_SECRET_SET:
        if (!cJSON_IsBool(v))
            return spec_fail(err, errlen, "secret_set: read-only; expected a boolean");
        return 0;
    default: return spec_fail(err, errlen, "hook: internal error");
    }
}

int hook_spec_from_json(const cJSON *obj, hook_spec_t *out, char *err, size_t errlen)
{
    if (!cJSON_IsObject(obj))
        return spec_fail(err, errlen, "hook: expected a JSON object");
    hook_spec_t s;
    hook_spec_defaults(&s);
    unsigned seen = 0;
    for (const cJSON *v = obj->child; v; v = v->next) {
        int f = spec_member(v->string, FIELDS, F_COUNT, HOOK_STATE_FIELDS, &seen, err, errlen);
        if (f == SPEC_MEMBER_STATE)
            continue; /* rendered live state: a GET body may be sent back */
        if (f < 0 || take_field(f, v, &s, err, errlen) != 0)
            return -1;
    }
    static const int required[] = {F_URL, F_EVENTS};
    if (spec_required(seen, FIELDS, required, sizeof required / sizeof required[0], err, errlen) !=
        0)
        return -1;
    if (hook_spec_validate(&s, err, errlen) != 0)
        return -1;
    *out = s;
    return 0;
}

/* ---- to JSON, matching ------------------------------------------------------- */

/* The fields both renderings share: id, url, events, decide, timeout_ms,
 * enabled, tls_verify, tls_ca. Returns the object or NULL. */
static cJSON *render_common(const hook_spec_t *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int ok = cJSON_AddStringToObject(o, "id", s->id) && cJSON_AddStringToObject(o, "url", s->url);
    cJSON *ev = ok ? cJSON_AddArrayToObject(o, "events") : NULL;
    cJSON *dc = ev ? cJSON_AddArrayToObject(o, "decide") : NULL;
    ok = dc != NULL;
    for (int i = 0; ok && i < HOOK_NTYPES; i++) {
        const char *t = s->all_events ? (i == 0 ? "*" : NULL)
                                      : ((s->events >> i) & 1u ? HOOK_EVENT_TYPES[i] : NULL);
        if (t)
            ok = cJSON_AddItemToArray(ev, cJSON_CreateString(t));
    }
    for (int i = 0; ok && i < 2; i++)
        if (s->decide & (1u << i))
            ok = cJSON_AddItemToArray(dc, cJSON_CreateString(POINTS[i]));
    ok = ok && cJSON_AddNumberToObject(o, "timeout_ms", (double)s->timeout_ms) &&
         cJSON_AddBoolToObject(o, "enabled", s->enabled != 0) &&
         spec_add_tls(o, s->tls_verify, s->tls_ca);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *hook_spec_to_json(const hook_spec_t *s)
{
    cJSON *o = render_common(s);
    if (o && (!cJSON_AddBoolToObject(o, "secret_set", s->secret[0] != '\0') ||
              !cJSON_AddStringToObject(o, "source", SOURCES[s->source == HOOK_SRC_CONFIG]))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *hook_spec_to_storage_json(const hook_spec_t *s)
{
    cJSON *o = render_common(s);
    if (o && s->secret[0] && !cJSON_AddStringToObject(o, "secret", s->secret)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int hook_spec_wants(const hook_spec_t *s, const char *type)
{
    int t = hook_event_type_index(type);
    return t >= 0 && (s->all_events || ((s->events >> t) & 1u));
}

int hook_spec_decides(const hook_spec_t *s, const char *point)
{
    return (s->decide & (unsigned)point_bit(point)) != 0;
}
