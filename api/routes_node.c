/* Tag node: GET and PATCH /api/v1/node, POST /api/v1/node/drain,
 * /api/v1/node/undrain and /api/v1/node/reload-certs. Changes are stored
 * before they are applied and acknowledged (the request is suspended until
 * the write commits); a certificate reload is not stored (the files are). */
#include <event2/event.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "change.h"
#include "common.h"
#include "drain.h"
#include "evlog.h"
#include "log.h"
#include "msg.h"
#include "relay.h"
#include "reload.h"
#include "tls.h"
#include "render.h"
#include "static.h"
#include "storage.h"

static void count_session(conn_t *c, void *arg)
{
    (void)c;
    (*(size_t *)arg)++;
}

/* The uses the headroom is made of, in the order of their names
 * (openapi Node.headroom_by). */
static const char *const HEADROOM_USES[] = {"connections", "streams", "memory", "fds", "cpu"};

/* The placement figures: the node's last sample, its uses against
 * limits.* and the headroom over them. */
static void placement(const node_t *node, api_node_info_t *ni)
{
    ni->load = node->load;
    ni->fd_limit = node->fd_limit;
    ni->media_bytes = msg_mem_bytes();
    ni->media_limit_bytes = hub_memory_bound(node->hub);
    ni->connections = node->limits ? conn_limits_open(node->limits) : 0;
    ni->max_connections = node->conf.limits_max_connections;
    ni->max_streams = node->conf.limits_max_streams;
    /* The process's CPU against one core: the media plane is one loop thread. */
    const procload_use_t uses[] = {
        {(double)ni->connections, ni->max_connections},
        {(double)ni->streams, ni->max_streams},
        {(double)ni->media_bytes, (double)ni->media_limit_bytes},
        {(double)ni->load.fds_open, (double)ni->fd_limit},
        {ni->load.process_percent / 100.0, 1},
    };
    _Static_assert(sizeof uses / sizeof uses[0] == sizeof HEADROOM_USES / sizeof HEADROOM_USES[0],
                   "one name per use");
    int by;
    ni->headroom = procload_headroom(uses, sizeof uses / sizeof uses[0], &by);
    ni->headroom_by = by >= 0 ? HEADROOM_USES[by] : NULL;
}

static cJSON *node_json(api_t *a)
{
    node_t *node = a->node;
    int64_t now = weir_mono_ms();
    api_node_info_t ni = {0};
    ni.id = node->st ? storage_node_id(node->st) : "";
    ni.version = WEIR_VERSION;
    ni.log_level = log_level_name(log_get_level());
    ni.start_wall_ms = node->start_wall_ms;
    ni.uptime_s = (double)(now - node->start_ms) / 1000.0;
    ni.listen_rtmp = node->conf.rtmp_listen;
    ni.listen_http_flv = node->conf.http_flv_listen;
    ni.listen_api = node->conf.api_listen;
    ni.listen_rtmps = node->conf.rtmps_listen;
    ni.listen_https = node->conf.https_listen;
    hub_counts(node->hub, &ni.streams, &ni.publishers, &ni.players, &ni.relay_links);
    node_foreach_session(node, count_session, &ni.sessions);
    if (node->relays) {
        relay_counts_t rc;
        relay_mgr_counts(node->relays, &rc);
        ni.relays = rc.relays;
    }
    ni.bytes_in = node->bytes_in;
    ni.bytes_out = node->bytes_out;
    ni.bitrate_in_bps = rate_per_sec(&node->rate_in, node->bytes_in, now) * 8;
    ni.bitrate_out_bps = rate_per_sec(&node->rate_out, node->bytes_out, now) * 8;
    ni.storage_path = node->conf.storage_path;
    if (node->st) {
        storage_stats_t ss;
        storage_stats(node->st, &ss);
        ni.storage_write_errors = ss.write_errors;
        ni.events_dropped = ss.events_dropped + node->events_lost;
    }
    ni.draining = node->draining;
    ni.drain_redirect = node->drain_redirect;
    ni.drain_retry_after_s = node->drain_retry_after_s;
    ni.drain_since_wall_ms = node->drain_since_wall_ms;
    ni.drain_remaining = node->draining ? drain_remaining(node) : 0;
    placement(node, &ni);
    return api_render_node(&ni);
}

void api_get_node(api_req_t *r)
{
    api_reply_json(r, 200, node_json(r->api));
}

typedef struct {
    api_req_t *r;
    log_level_t level;
} patch_ctx_t;

/* The setting is committed: apply it, record it, answer. */
static void patch_done(void *arg, int rc)
{
    patch_ctx_t *p = arg;
    api_req_t *r = p->r;
    if (rc != 0) {
        api_reply_error(r, 503, "unavailable",
                        "the setting could not be stored (storage write failed); nothing changed");
    } else {
        log_set_level(p->level);
        r->api->node->log_level_by_api = 1; /* SIGHUP leaves it (reload.h) */
        log_info(0, "api: log.level set to %s", log_level_name(p->level));
        cJSON *f = cJSON_CreateObject();
        if (f) {
            cJSON_AddStringToObject(f, "key", "log.level");
            cJSON_AddStringToObject(f, "value", log_level_name(p->level));
            cJSON_AddStringToObject(f, "by", "api");
        }
        evlog_emit(r->api->node, "config.change", f);
        api_reply_json(r, 200, node_json(r->api));
    }
    free(p);
}

void api_patch_node(api_req_t *r)
{
    cJSON *body = api_body_object(r);
    if (!body)
        return;
    log_level_t level = log_get_level();
    int have = 0;
    char err[160];
    int rc = api_parse_node_patch(body, &have, &level, err, sizeof err);
    cJSON_Delete(body);
    if (rc != 0) {
        api_reply_error(r, 400, "invalid_field", "%s", err);
        return;
    }
    if (!have) {
        api_reply_json(r, 200, node_json(r->api));
        return;
    }
    node_t *node = r->api->node;
    if (api_storage_lost_refuse(r) != 0)
        return;
    patch_ctx_t *p = node->st ? malloc(sizeof *p) : NULL;
    if (!p) {
        api_reply_error(r, 503, "unavailable", "storage is not available");
        return;
    }
    p->r = r;
    p->level = level;
    rc = storage_setting_put(node->st, "log.level", log_level_name(level), patch_done, p);
    if (rc != 0) {
        free(p);
        api_reply_error(r, 503, "unavailable", "storage is busy, retry");
        return;
    }
    api_suspend(r);
}

/* ---- version ------------------------------------------------------------ */

/* What a scheduler may rely on, by name: a name is added when its feature
 * lands and never changes meaning (openapi.yaml, Version). */
static const char *const CAPABILITIES[] = {
    "rtmp.publish",    "rtmp.play",       "http_flv.play",   "relays.pull",
    "relays.push",     "relays.on_demand", "relays.failover", "relays.hops",
    "hooks.notify",    "hooks.decide",     "apps.signed_urls", "drain",
    "events.cursor",   "metrics",          "head",            "health.public",
};

void api_build_info(api_build_t *b)
{
    b->type = WEIR_BUILD_TYPE;
#if defined(__clang__)
    b->compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
    b->compiler = "gcc " __VERSION__;
#else
    b->compiler = NULL;
#endif
    b->libevent = event_get_version();
    b->libmicrohttpd = MHD_get_version();
    b->openssl = OpenSSL_version(OPENSSL_VERSION);
    b->share_dir = WEIR_SHARE_DIR;
}

void api_get_version(api_req_t *r)
{
    cJSON *o = cJSON_CreateObject(), *b = cJSON_CreateObject(), *caps = cJSON_CreateArray();
    if (!o || !b || !caps) {
        cJSON_Delete(o);
        cJSON_Delete(b);
        cJSON_Delete(caps);
        api_reply_json(r, 500, NULL);
        return;
    }
    api_build_t bi;
    api_build_info(&bi);
    cJSON_AddStringToObject(o, "version", WEIR_VERSION);
    cJSON_AddStringToObject(o, "api_version", API_VERSION);
    cJSON_AddStringToObject(b, "type", bi.type);
    if (bi.compiler)
        cJSON_AddStringToObject(b, "compiler", bi.compiler);
    cJSON_AddStringToObject(b, "libevent", bi.libevent);
    cJSON_AddStringToObject(b, "libmicrohttpd", bi.libmicrohttpd);
    cJSON_AddStringToObject(b, "openssl", bi.openssl);
    cJSON_AddItemToObject(o, "build", b);
    for (size_t i = 0; i < sizeof CAPABILITIES / sizeof CAPABILITIES[0]; i++)
        cJSON_AddItemToArray(caps, cJSON_CreateString(CAPABILITIES[i]));
    cJSON_AddItemToObject(o, "capabilities", caps);
    api_reply_json(r, 200, o);
}

/* ---- drain -------------------------------------------------------------- */

typedef struct {
    api_req_t *r;
    int on;
    char redirect[DRAIN_URL_MAX];
    uint32_t retry_after_s;
    int64_t since_wall_ms;
} drain_ctx_t;

static void drain_done(void *arg, int rc)
{
    drain_ctx_t *d = arg;
    api_req_t *r = d->r;
    if (rc != 0) {
        api_reply_error(r, 503, "unavailable",
                        "the drain state could not be stored (storage write failed); "
                        "nothing changed");
    } else {
        drain_set(r->api->node, d->on, d->redirect, d->retry_after_s, d->since_wall_ms, "api");
        api_reply_json(r, 200, node_json(r->api));
    }
    free(d);
}

/* Stores the new state, then applies it and answers (drain_done). */
static void drain_change(api_req_t *r, drain_ctx_t *d)
{
    node_t *node = r->api->node;
    if (api_storage_lost_refuse(r) != 0) {
        free(d);
        return;
    }
    d->r = r;
    /* Draining again keeps the time it started. */
    d->since_wall_ms = node->draining ? node->drain_since_wall_ms : weir_wall_ms();
    char *text =
        node->st ? drain_to_setting(d->on, d->redirect, d->retry_after_s, d->since_wall_ms) : NULL;
    int rc = text ? storage_setting_put(node->st, DRAIN_SETTING, text, drain_done, d) : -1;
    free(text);
    if (rc != 0) {
        free(d);
        api_reply_error(r, 503, "unavailable",
                        node->st ? "storage is busy, retry" : "storage is not available");
        return;
    }
    api_suspend(r);
}

void api_post_node_drain(api_req_t *r)
{
    cJSON *body = NULL;
    if (r->body_len) {
        body = api_body_object(r);
        if (!body)
            return;
    }
    drain_ctx_t *d = calloc(1, sizeof *d);
    char err[192];
    int rc = d ? api_parse_drain(body, d->redirect, sizeof d->redirect, &d->retry_after_s, err,
                                 sizeof err)
               : 0;
    cJSON_Delete(body);
    if (!d) {
        api_reply_json(r, 500, NULL);
        return;
    }
    if (rc != 0) {
        free(d);
        api_reply_error(r, 400, "invalid_field", "%s", err);
        return;
    }
    d->on = 1;
    drain_change(r, d);
}

void api_post_node_undrain(api_req_t *r)
{
    if (!r->api->node->draining) { /* nothing to store, no event */
        api_reply_json(r, 200, node_json(r->api));
        return;
    }
    drain_ctx_t *d = calloc(1, sizeof *d);
    if (!d) {
        api_reply_json(r, 500, NULL);
        return;
    }
    drain_change(r, d);
}

/* ---- certificates ------------------------------------------------------- */

static cJSON *certs_json(const tls_server_t *t)
{
    tls_cert_info_t info[TLS_CERTS_MAX];
    size_t n = tls_server_certs(t, info, TLS_CERTS_MAX);
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "certificates");
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        if (!e)
            break;
        if (info[i].host[0])
            cJSON_AddStringToObject(e, "host", info[i].host);
        else
            cJSON_AddNullToObject(e, "host");
        cJSON_AddStringToObject(e, "serial", info[i].serial);
        cJSON_AddStringToObject(e, "subject", info[i].subject);
        cJSON_AddNumberToObject(e, "not_after", (double)info[i].not_after);
        cJSON_AddItemToArray(arr, e);
    }
    return o;
}

void api_post_node_reload_certs(api_req_t *r)
{
    node_t *node = r->api->node;
    char err[768];
    int rc = node_reload_certs(node, &node->conf, "API", err, sizeof err);
    if (rc == NODE_RELOAD_NO_TLS) {
        api_reply_error(r, 409, "conflict", "%s", err);
        return;
    }
    if (rc != 0) {
        api_reply_error(r, 409, "conflict",
                        "%s; the certificates in use stay", err);
        return;
    }
    api_reply_json(r, 200, certs_json(node->tls));
}
