#include "conf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hook_spec.h"
#include "log.h"
#include "record_spec.h"
#include "relay_spec.h"
#include "tls_sni.h"

/* F_POLICY: "allow" (1) or "deny" (0), stored as an int. */
typedef enum { F_STR, F_U32, F_BOOL, F_LISTEN, F_LEVEL, F_POLICY } field_type_t;

typedef struct {
    const char *path; /* "section.key" */
    field_type_t type;
    size_t off;
    size_t size;      /* F_STR/F_LISTEN/F_LEVEL: buffer size */
    const char *dstr; /* default for strings */
    uint32_t dnum;    /* default for numbers and booleans */
    uint32_t min, max;
} field_t;

#define STR(p, f, d)                                                                               \
    {                                                                                              \
        p, F_STR, offsetof(conf_t, f), sizeof(((conf_t *)0)->f), d, 0, 0, 0                        \
    }
#define LISTEN(p, f, d)                                                                            \
    {                                                                                              \
        p, F_LISTEN, offsetof(conf_t, f), sizeof(((conf_t *)0)->f), d, 0, 0, 0                     \
    }
#define U32(p, f, d, lo, hi)                                                                       \
    {                                                                                              \
        p, F_U32, offsetof(conf_t, f), 0, NULL, d, lo, hi                                          \
    }
#define BOOL(p, f, d)                                                                              \
    {                                                                                              \
        p, F_BOOL, offsetof(conf_t, f), 0, NULL, d, 0, 1                                           \
    }
#define POLICY(p, f, d)                                                                            \
    {                                                                                              \
        p, F_POLICY, offsetof(conf_t, f), 0, NULL, d, 0, 1                                         \
    }

static const field_t FIELDS[] = {
    LISTEN("rtmp.listen", rtmp_listen, "0.0.0.0:1935"),
    U32("rtmp.chunk_size", rtmp_chunk_size, 4096, 128, 65536),
    U32("rtmp.max_message_size", rtmp_max_message_size, 8u << 20, 4096, 64u << 20),
    U32("rtmp.max_chunk_streams", rtmp_max_chunk_streams, 64, 4, 1024),
    U32("rtmp.handshake_timeout_ms", rtmp_handshake_timeout_ms, 10000, 100, 600000),
    U32("rtmp.idle_timeout_ms", rtmp_idle_timeout_ms, 30000, 1000, 3600000),
    LISTEN("http_flv.listen", http_flv_listen, "0.0.0.0:8080"),
    U32("http_flv.max_header_bytes", http_flv_max_header_bytes, 8192, 256, 1u << 20),
    U32("http_flv.request_timeout_ms", http_flv_request_timeout_ms, 10000, 100, 600000),
    BOOL("http_flv.wait_for_stream", http_flv_wait_for_stream, 0),
    STR("http_flv.cors_origin", http_flv_cors_origin, "*"),
    U32("http_flv.ws_ping_ms", http_flv_ws_ping_ms, 10000, 100, 600000),
    U32("http_flv.ws_idle_timeout_ms", http_flv_ws_idle_timeout_ms, 30000, 500, 3600000),
    STR("tls.cert", tls_cert, ""),
    STR("tls.key", tls_key, ""),
    STR("tls.ca", tls_ca, ""),
    U32("tls.handshake_timeout_ms", tls_handshake_timeout_ms, 10000, 100, 600000),
    U32("tls.max_handshakes", tls_max_handshakes, 256, 0, 1000000),
    BOOL("tls.ktls", tls_ktls, 0),
    LISTEN("rtmps.listen", rtmps_listen, ""),
    LISTEN("https.listen", https_listen, ""),
    BOOL("api.tls", api_tls, 0),
    U32("hls.segment_ms", hls_segment_ms, 2000, 100, 60000),
    U32("hls.window", hls_window, 6, 1, 60),
    U32("hls.part_ms", hls_part_ms, 0, 0, 60000),
    U32("hls.idle_timeout_s", hls_idle_timeout_s, 30, 1, 3600),
    LISTEN("api.listen", api_listen, "127.0.0.1:8090"),
    STR("api.token", api_token, ""),
    BOOL("api.health_public", api_health_public, 1),
    U32("relay.kick_hold_s", relay_kick_hold_s, 10, 1, 86400),
    U32("api.max_body_bytes", api_max_body_bytes, 65536, 256, 16u << 20),
    STR("api.web_root", api_web_root, "web/dist"),
    U32("api.max_connections_per_address", api_max_connections_per_address, 16, 0,
        CONF_API_CONNECTIONS_MAX),
    U32("api.connection_timeout_s", api_connection_timeout_s, 30, 1, 3600),
    STR("storage.path", storage_path, "data/weir.db"),
    U32("storage.max_size_mb", storage_max_size_mb, 0, 0, 1u << 20),
    U32("storage.cache_kb", storage_cache_kb, 2048, 64, 1u << 20),
    U32("events.max_rows", events_max_rows, 100000, 0, 1000000000),
    U32("events.max_age_days", events_max_age_days, 30, 0, 36500),
    U32("events.heartbeat_interval_s", events_heartbeat_interval_s, 10, 0, 3600),
    {"log.level", F_LEVEL, offsetof(conf_t, log_level), sizeof(((conf_t *)0)->log_level), "info", 0,
     0, 0},
    STR("log.file", log_file, ""),
    U32("stream.gop_cache", stream_gop_cache, 1, 0, 16),
    U32("stream.gop_cache_max_bytes", stream_gop_cache_max_bytes, 64u << 20, 1u << 20, 1u << 30),
    U32("stream.gop_cache_max_ms", stream_gop_cache_max_ms, 30000, 1000, 600000),
    BOOL("stream.publish_takeover", stream_publish_takeover, 0),
    U32("stream.play_wait_ms", stream_play_wait_ms, 10000, 0, 3600000),
    U32("stream.unpublish_grace_ms", stream_unpublish_grace_ms, 5000, 0, 3600000),
    U32("player.queue_ms", player_queue_ms, 3000, 100, 600000),
    U32("player.max_queue_bytes", player_max_queue_bytes, 16u << 20, 65536, 1u << 30),
    U32("player.slow_timeout_ms", player_slow_timeout_ms, 10000, 100, 3600000),
    U32("player.merge_ms", player_merge_ms, 0, 0, 1000),
    U32("limits.max_connections", limits_max_connections, 10000, 0, 1000000),
    U32("limits.max_connections_per_address", limits_max_connections_per_address, 256, 0, 1000000),
    U32("limits.new_connections_per_address_per_s", limits_new_connections_per_address_per_s, 0, 0,
        100000),
    U32("limits.max_streams", limits_max_streams, 10000, 0, 1000000),
    U32("limits.max_memory_mb", limits_max_memory_mb, 0, 0, 1u << 24),
    U32("relay.max_hops", relay_max_hops, 8, 1, 32),
    U32("relay.connect_timeout_ms", relay_connect_timeout_ms, 10000, 100, 600000),
    U32("relay.on_demand_wait_ms", relay_on_demand_wait_ms, 10000, 0, 600000),
    U32("webhooks.queue_max", webhooks_queue_max, 1000, 1, 100000),
    U32("webhooks.max_attempts", webhooks_max_attempts, 6, 1, 100),
    U32("webhooks.retry_initial_ms", webhooks_retry_initial_ms, 1000, 100, 3600000),
    U32("webhooks.retry_max_ms", webhooks_retry_max_ms, 30000, 100, 3600000),
    POLICY("webhooks.on_publish_timeout", webhooks_on_publish_timeout_allow, 0),
    POLICY("webhooks.on_play_timeout", webhooks_on_play_timeout_allow, 1),
    U32("webhooks.max_pending_decisions", webhooks_max_pending_decisions, 1000, 1, 100000),
    U32("webhooks.shutdown_flush_ms", webhooks_shutdown_flush_ms, 2000, 0, 60000),
    STR("record.root", record_root, ""),
    U32("record.queue_max_bytes", record_queue_max_bytes, 64u << 20, 1u << 20, 1u << 30),
    U32("record.queue_max_msgs", record_queue_max_msgs, 100000, 100, 10000000),
};
#define NFIELDS (sizeof FIELDS / sizeof FIELDS[0])

void conf_defaults(conf_t *c)
{
    memset(c, 0, sizeof *c);
    c->workers = 1;
    for (size_t i = 0; i < NFIELDS; i++) {
        const field_t *f = &FIELDS[i];
        char *base = (char *)c + f->off;
        switch (f->type) {
        case F_STR:
        case F_LISTEN:
        case F_LEVEL: snprintf(base, f->size, "%s", f->dstr); break;
        case F_U32: *(uint32_t *)base = f->dnum; break;
        case F_BOOL:
        case F_POLICY: *(int *)base = (int)f->dnum; break;
        }
    }
}

const char *conf_changed_key(const conf_t *a, const conf_t *b, const char *const *skip)
{
    for (size_t i = 0; i < NFIELDS; i++) {
        const field_t *f = &FIELDS[i];
        int skipped = 0;
        for (const char *const *k = skip; k && *k; k++)
            skipped |= strcmp(*k, f->path) == 0;
        const char *pa = (const char *)a + f->off, *pb = (const char *)b + f->off;
        int same = f->type == F_U32 ? *(const uint32_t *)pa == *(const uint32_t *)pb
                   : f->type == F_BOOL || f->type == F_POLICY ? *(const int *)pa == *(const int *)pb
                                                              : strcmp(pa, pb) == 0;
        if (!skipped && !same)
            return f->path;
    }
    if (a->workers != b->workers)
        return "workers";
    if (strcmp(a->relays_json, b->relays_json) != 0)
        return "relays";
    if (strcmp(a->hooks_json, b->hooks_json) != 0)
        return "hooks";
    if (strcmp(a->recorders_json, b->recorders_json) != 0)
        return "recorders";
    int skip_sni = 0;
    for (const char *const *k = skip; k && *k; k++)
        skip_sni |= strcmp(*k, "tls.sni") == 0;
    if (!skip_sni && (a->tls_sni_n != b->tls_sni_n ||
                      memcmp(a->tls_sni, b->tls_sni, sizeof a->tls_sni) != 0))
        return "tls.sni";
    /* both filled from zeroed memory by the same loader: equal rules are equal bytes */
    if (memcmp(&a->apps, &b->apps, sizeof a->apps) != 0)
        return "apps";
    return NULL;
}

int conf_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return -1;
        h = s + 1;
        hlen = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= hostlen)
        return -1;
    char *endp;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &endp, 10);
    if (errno || *endp || endp == colon + 1 || p > 65535)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return 0;
}

static const field_t *field_find(const char *path)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(FIELDS[i].path, path) == 0)
            return &FIELDS[i];
    return NULL;
}

static int set_field(conf_t *c, const field_t *f, const cJSON *v, char *err, size_t errlen)
{
    char *base = (char *)c + f->off;
    switch (f->type) {
    case F_STR:
    case F_LISTEN:
    case F_LEVEL: {
        if (!cJSON_IsString(v)) {
            snprintf(err, errlen, "%s: expected a string", f->path);
            return -1;
        }
        size_t n = strlen(v->valuestring);
        if (n >= f->size) {
            snprintf(err, errlen, "%s: longer than %zu bytes", f->path, f->size - 1);
            return -1;
        }
        if (f->type == F_LISTEN && !(n == 0 && !f->dstr[0])) { /* "" turns an optional one off */
            char host[CONF_LISTEN_MAX];
            uint16_t port;
            if (conf_parse_listen(v->valuestring, host, sizeof host, &port) != 0) {
                snprintf(err, errlen, "%s: expected \"host:port\", got \"%s\"", f->path,
                         v->valuestring);
                return -1;
            }
            if (port == 0) { /* the kernel would pick one nobody knows */
                snprintf(err, errlen, "%s: port 0 is not allowed, got \"%s\"", f->path,
                         v->valuestring);
                return -1;
            }
        }
        if (f->type == F_LEVEL) {
            log_level_t lv;
            if (log_level_parse(v->valuestring, &lv) != 0) {
                snprintf(err, errlen, "%s: expected one of debug, info, warn, error", f->path);
                return -1;
            }
        }
        memcpy(base, v->valuestring, n + 1);
        return 0;
    }
    case F_U32: {
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
            snprintf(err, errlen, "%s: expected an integer", f->path);
            return -1;
        }
        double d = v->valuedouble;
        if (d < f->min || d > f->max) {
            snprintf(err, errlen, "%s: must be between %u and %u", f->path, f->min, f->max);
            return -1;
        }
        *(uint32_t *)base = (uint32_t)d;
        return 0;
    }
    case F_BOOL:
        if (!cJSON_IsBool(v)) {
            snprintf(err, errlen, "%s: expected true or false", f->path);
            return -1;
        }
        *(int *)base = cJSON_IsTrue(v) ? 1 : 0;
        return 0;
    case F_POLICY:
        if (!cJSON_IsString(v) ||
            (strcmp(v->valuestring, "allow") != 0 && strcmp(v->valuestring, "deny") != 0)) {
            snprintf(err, errlen, "%s: expected \"allow\" or \"deny\"", f->path);
            return -1;
        }
        *(int *)base = strcmp(v->valuestring, "allow") == 0;
        return 0;
    }
    return -1;
}

/* 1 if msg starts with a field path followed by ':' ("urls[0]: ...",
 * "id: ..."), so that "relays[2]." can be put in front of it. */
static int starts_with_path(const char *msg)
{
    size_t n = strspn(msg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.[]");
    return n > 0 && msg[n] == ':';
}

/* Reads one element of a spec array: 0 and its id in id (size HOOK_ID_MAX),
 * or -1 with the parser's message in err. */
typedef int (*spec_read_fn)(const cJSON *e, char *id, char *err, size_t errlen);

static int read_relay(const cJSON *e, char *id, char *err, size_t errlen)
{
    relay_spec_t spec;
    if (relay_spec_from_json(e, NULL, &spec, err, errlen) != 0)
        return -1;
    memcpy(id, spec.id, RELAY_ID_MAX);
    return 0;
}

static int read_hook(const cJSON *e, char *id, char *err, size_t errlen)
{
    hook_spec_t spec;
    if (hook_spec_from_json(e, &spec, err, errlen) != 0)
        return -1;
    memcpy(id, spec.id, HOOK_ID_MAX);
    return 0;
}

static int read_recorder(const cJSON *e, char *id, char *err, size_t errlen)
{
    record_spec_t spec;
    if (record_spec_from_json(e, NULL, 1, &spec, err, errlen) != 0)
        return -1;
    memcpy(id, spec.id, RECORD_ID_MAX);
    return 0;
}

_Static_assert(RELAY_ID_MAX == HOOK_ID_MAX, "one id buffer for both arrays");
_Static_assert(RECORD_ID_MAX == HOOK_ID_MAX, "one id buffer for every array");
_Static_assert(CONF_RECORDERS_MAX == CONF_RELAYS_MAX, "one id table for every array");
_Static_assert(CONF_HOOKS_MAX == CONF_RELAYS_MAX, "one id table for both arrays");

/* A top-level spec array ("relays", "hooks"): at most max objects, each
 * valid for read() and with an id unique in the array. Kept as compact JSON
 * in out (size outlen; "" for an empty array). Errors name the element
 * ("relays[2].urls[0]: ...", "hooks[1].id: duplicate id ..."). */
static int load_spec_array(const char *name, const cJSON *arr, int max, spec_read_fn read,
                           char *out, size_t outlen, char *err, size_t errlen)
{
    if (!cJSON_IsArray(arr)) {
        snprintf(err, errlen, "%s: expected an array", name);
        return -1;
    }
    const char *noun = strcmp(name, "relays") == 0 ? "relay"
                       : strcmp(name, "hooks") == 0 ? "hook"
                                                    : "recorder";
    int n = cJSON_GetArraySize(arr);
    if (n > max) {
        snprintf(err, errlen, "%s: more than %d %ss", name, max, noun);
        return -1;
    }
    char ids[CONF_RELAYS_MAX][RELAY_ID_MAX];
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        if (!cJSON_IsObject(e)) {
            snprintf(err, errlen, "%s[%d]: expected an object", name, i);
            return -1;
        }
        char inner[384];
        int missing = !cJSON_GetObjectItemCaseSensitive(e, "id");
        if (!missing && read(e, ids[i], inner, sizeof inner) != 0) {
            snprintf(err, errlen, "%s[%d]%s%s", name, i, starts_with_path(inner) ? "." : ": ",
                     inner);
            return -1;
        }
        if (missing || !ids[i][0]) {
            snprintf(err, errlen, "%s[%d].id: required (a config %s needs a stable id)", name, i,
                     noun);
            return -1;
        }
        for (int k = 0; k < i; k++) {
            if (strcmp(ids[k], ids[i]) == 0) {
                snprintf(err, errlen, "%s[%d].id: duplicate id \"%s\" (also %s[%d])", name, i,
                         ids[i], name, k);
                return -1;
            }
        }
    }
    if (n == 0) {
        out[0] = '\0';
        return 0;
    }
    char *text = cJSON_PrintUnformatted(arr);
    if (!text) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    size_t tl = strlen(text);
    if (tl >= outlen) {
        cJSON_free(text);
        snprintf(err, errlen, "%s: too large (over %zu bytes as compact JSON)", name, outlen - 1);
        return -1;
    }
    memcpy(out, text, tl + 1);
    cJSON_free(text);
    return 0;
}

/* The top-level "apps" array into c->apps: at most APP_AUTH_APPS_MAX
 * entries, each valid for app_auth_entry_from_json() and with an "app"
 * unique in the array. Errors name the element ("apps[1].play_allow[0]: ..."). */
static int load_apps(conf_t *c, const cJSON *arr, char *err, size_t errlen)
{
    if (!cJSON_IsArray(arr)) {
        snprintf(err, errlen, "apps: expected an array");
        return -1;
    }
    if (cJSON_GetArraySize(arr) > APP_AUTH_APPS_MAX) {
        snprintf(err, errlen, "apps: more than %d apps", APP_AUTH_APPS_MAX);
        return -1;
    }
    app_auth_table_t *t = &c->apps;
    t->n = 0;
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        char inner[384];
        if (app_auth_entry_from_json(e, &t->apps[i], inner, sizeof inner) != 0) {
            snprintf(err, errlen, "apps[%d]%s%s", i, starts_with_path(inner) ? "." : ": ", inner);
            return -1;
        }
        for (int k = 0; k < i; k++) {
            if (strcmp(t->apps[k].app, t->apps[i].app) == 0) {
                snprintf(err, errlen, "apps[%d].app: duplicate app \"%s\" (also apps[%d])", i,
                         t->apps[i].app, k);
                return -1;
            }
        }
        t->n = (unsigned)i + 1;
    }
    return 0;
}

/* One string member of a tls.sni element into out (size outlen). */
static int sni_string(const cJSON *e, int i, const char *key, char *out, size_t outlen, char *err,
                      size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        snprintf(err, errlen, "tls.sni[%d].%s: expected a non-empty string", i, key);
        return -1;
    }
    if (strlen(v->valuestring) >= outlen) {
        snprintf(err, errlen, "tls.sni[%d].%s: longer than %zu bytes", i, key, outlen - 1);
        return -1;
    }
    snprintf(out, outlen, "%s", v->valuestring);
    return 0;
}

/* "tls.sni": at most CONF_TLS_SNI_MAX {host, cert, key}, hosts valid
 * (tls_sni_pattern_valid()) and unique without regard to case. */
static int load_tls_sni(conf_t *c, const cJSON *arr, char *err, size_t errlen)
{
    if (!cJSON_IsArray(arr)) {
        snprintf(err, errlen, "tls.sni: expected an array");
        return -1;
    }
    if (cJSON_GetArraySize(arr) > CONF_TLS_SNI_MAX) {
        snprintf(err, errlen, "tls.sni: more than %d entries", CONF_TLS_SNI_MAX);
        return -1;
    }
    c->tls_sni_n = 0;
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        conf_tls_sni_t *s = &c->tls_sni[i];
        if (!cJSON_IsObject(e)) {
            snprintf(err, errlen, "tls.sni[%d]: expected an object", i);
            return -1;
        }
        for (const cJSON *k = e->child; k; k = k->next) {
            if (strcmp(k->string, "host") && strcmp(k->string, "cert") &&
                strcmp(k->string, "key")) {
                snprintf(err, errlen, "tls.sni[%d].%s: unknown key", i, k->string);
                return -1;
            }
        }
        if (sni_string(e, i, "host", s->host, sizeof s->host, err, errlen) != 0 ||
            sni_string(e, i, "cert", s->cert, sizeof s->cert, err, errlen) != 0 ||
            sni_string(e, i, "key", s->key, sizeof s->key, err, errlen) != 0)
            return -1;
        if (!tls_sni_pattern_valid(s->host)) {
            snprintf(err, errlen, "tls.sni[%d].host: \"%s\" is not a host name or \"*.\" one", i,
                     s->host);
            return -1;
        }
        for (int k = 0; k < i; k++) {
            if (strcasecmp(c->tls_sni[k].host, s->host) == 0) {
                snprintf(err, errlen, "tls.sni[%d].host: duplicate host \"%s\" (also tls.sni[%d])",
                         i, s->host, k);
                return -1;
            }
        }
        c->tls_sni_n = (unsigned)i + 1;
    }
    return 0;
}

/* "workers": an integer 1..CONF_WORKERS_MAX, or "auto" (stored as 0). */
static int load_workers(conf_t *c, const cJSON *v, char *err, size_t errlen)
{
    if (cJSON_IsString(v) && strcmp(v->valuestring, "auto") == 0) {
        c->workers = 0;
        return 0;
    }
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (d < 1 || d > CONF_WORKERS_MAX || d != (double)(uint32_t)d) {
        snprintf(err, errlen, "workers: expected \"auto\" or an integer 1..%d", CONF_WORKERS_MAX);
        return -1;
    }
    c->workers = (uint32_t)d;
    return 0;
}

/* The rules between TLS keys, once all are read. */
static int check_tls(const conf_t *c, char *err, size_t errlen)
{
    if (!c->tls_cert[0] != !c->tls_key[0]) {
        snprintf(err, errlen, "%s: required with %s", c->tls_cert[0] ? "tls.key" : "tls.cert",
                 c->tls_cert[0] ? "tls.cert" : "tls.key");
        return -1;
    }
    const char *listener = c->rtmps_listen[0]   ? "rtmps.listen"
                           : c->https_listen[0] ? "https.listen"
                           : c->api_tls         ? "api.tls"
                                                : NULL;
    if (listener && !c->tls_cert[0]) {
        snprintf(err, errlen, "%s: needs tls.cert and tls.key (the node's certificate)", listener);
        return -1;
    }
    if (c->tls_sni_n && !c->tls_cert[0]) {
        snprintf(err, errlen, "tls.sni: needs tls.cert and tls.key (the default certificate)");
        return -1;
    }
    return 0;
}

/* The rules that tie keys together, once every key is read. Returns 0, or
 * -1 with err naming the key. */
static int check_cross_keys(const conf_t *c, char *err, size_t errlen)
{
    if (c->webhooks_retry_max_ms < c->webhooks_retry_initial_ms) {
        snprintf(err, errlen, "webhooks.retry_max_ms: must be >= webhooks.retry_initial_ms (%u)",
                 c->webhooks_retry_initial_ms);
        return -1;
    }
    if (check_tls(c, err, errlen) != 0)
        return -1;
    if (c->hls_part_ms && (c->hls_part_ms < 50 || c->hls_part_ms > c->hls_segment_ms)) {
        snprintf(err, errlen, "hls.part_ms: must be 0 (off) or between 50 and hls.segment_ms (%u)",
                 c->hls_segment_ms);
        return -1;
    }
    return 0;
}

int conf_load_json(conf_t *c, const char *json, size_t len, char *err, size_t errlen)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at ? (long)(at - json) : -1;
        snprintf(err, errlen, "invalid JSON near byte %ld", off);
        return -1;
    }
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "top level: expected an object");
        goto out;
    }
    for (const cJSON *sec = root->child; sec; sec = sec->next) {
        if (strcmp(sec->string, "relays") == 0) {
            if (load_spec_array("relays", sec, CONF_RELAYS_MAX, read_relay, c->relays_json,
                                sizeof c->relays_json, err, errlen) != 0)
                goto out;
            continue;
        }
        if (strcmp(sec->string, "hooks") == 0) {
            if (load_spec_array("hooks", sec, CONF_HOOKS_MAX, read_hook, c->hooks_json,
                                sizeof c->hooks_json, err, errlen) != 0)
                goto out;
            continue;
        }
        if (strcmp(sec->string, "recorders") == 0) {
            if (load_spec_array("recorders", sec, CONF_RECORDERS_MAX, read_recorder,
                                c->recorders_json, sizeof c->recorders_json, err, errlen) != 0)
                goto out;
            continue;
        }
        if (strcmp(sec->string, "workers") == 0) {
            if (load_workers(c, sec, err, errlen) != 0)
                goto out;
            continue;
        }
        if (strcmp(sec->string, "apps") == 0) {
            if (load_apps(c, sec, err, errlen) != 0)
                goto out;
            continue;
        }
        if (!cJSON_IsObject(sec)) {
            snprintf(err, errlen, "%s: expected an object", sec->string);
            goto out;
        }
        for (const cJSON *v = sec->child; v; v = v->next) {
            char path[256];
            snprintf(path, sizeof path, "%s.%s", sec->string, v->string);
            if (strcmp(path, "tls.sni") == 0) {
                if (load_tls_sni(c, v, err, errlen) != 0)
                    goto out;
                continue;
            }
            const field_t *f = field_find(path);
            if (!f) {
                snprintf(err, errlen, "%s: unknown key", path);
                goto out;
            }
            if (set_field(c, f, v, err, errlen) != 0)
                goto out;
        }
        /* A section name that matches no key at all is unknown too. */
        if (!sec->child) {
            size_t n = strlen(sec->string);
            int known = 0;
            for (size_t i = 0; i < NFIELDS; i++)
                if (strncmp(FIELDS[i].path, sec->string, n) == 0 && FIELDS[i].path[n] == '.')
                    known = 1;
            if (!known) {
                snprintf(err, errlen, "%s: unknown section", sec->string);
                goto out;
            }
        }
    }
    rc = check_cross_keys(c, err, errlen);
out:
    cJSON_Delete(root);
    return rc;
}

/* Opens path for reading only if it is a regular file (a FIFO, a device or
 * a folder would block or never end) of at most CONF_FILE_MAX bytes.
 * Returns the fd, or -1 with a message naming the file in err. */
static int conf_open_regular(const char *path, off_t *size, char *err, size_t errlen)
{
    /* O_NONBLOCK: opening a FIFO with no writer must not wait for one */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    const char *why = NULL;
    if (fstat(fd, &sb) != 0)
        why = strerror(errno);
    else if (!S_ISREG(sb.st_mode))
        why = S_ISDIR(sb.st_mode) ? "is a folder, not a file" : "is not a regular file";
    else if (sb.st_size > CONF_FILE_MAX)
        why = "larger than 1 MiB";
    if (why) {
        snprintf(err, errlen, "%s: %s", path, why);
        close(fd);
        return -1;
    }
    *size = sb.st_size;
    return fd;
}

int conf_load_file(conf_t *c, const char *path, char *err, size_t errlen)
{
    off_t size = 0;
    int fd = conf_open_regular(path, &size, err, errlen);
    if (fd < 0)
        return -1;
    /* One byte more than fstat said: a file that grew since is refused. */
    char *buf = malloc((size_t)size + 2);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t len = 0;
    ssize_t n = 0;
    while (len <= (size_t)size && (n = read(fd, buf + len, (size_t)size + 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        len += (size_t)n;
    }
    int rerr = n < 0 ? errno : 0;
    close(fd);
    if (rerr || len > (size_t)size || len > CONF_FILE_MAX) {
        free(buf);
        snprintf(err, errlen, "%s: %s", path, rerr ? strerror(rerr) : "changed while it was read");
        return -1;
    }
    char inner[512];
    int rc = conf_load_json(c, buf, len, inner, sizeof inner);
    free(buf);
    if (rc != 0)
        snprintf(err, errlen, "%s: %s", path, inner);
    return rc;
}
