/* Tag node: GET and PATCH /api/v1/node. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "common.h"
#include "evlog.h"
#include "log.h"
#include "relay.h"
#include "render.h"
#include "storage.h"

static void count_session(conn_t *c, void *arg)
{
    (void)c;
    (*(size_t *)arg)++;
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
    hub_counts(node->hub, &ni.streams, &ni.publishers, &ni.players);
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
