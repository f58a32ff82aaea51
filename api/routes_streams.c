/* Tag streams: GET /api/v1/streams, GET and DELETE /api/v1/streams/{app}/{name}. */
#include <string.h>

#include "api_internal.h"
#include "common.h"
#include "conn.h"
#include "evlog.h"
#include "log.h"
#include "render.h"

typedef struct {
    node_t *node;
    int64_t now;
    cJSON *arr;
    int oom;
    const char *app, *name; /* the stream whose players are listed */
} list_ctx_t;

/* The stream with its publisher's session summary. */
static cJSON *stream_json(node_t *node, stream_t *s, int64_t now)
{
    stream_info_t si;
    stream_info(s, now, &si);
    sess_info_t pub;
    conn_t *pc = si.pub ? node_find_session(node, si.pub->sess_id) : NULL;
    if (pc)
        conn_info(pc, now, &pub);
    return api_render_stream(&si, pc ? &pub : NULL);
}

static void add_stream(stream_t *s, void *arg)
{
    list_ctx_t *l = arg;
    cJSON *o = stream_json(l->node, s, l->now);
    if (!o || !cJSON_AddItemToArray(l->arr, o)) {
        cJSON_Delete(o);
        l->oom = 1;
    }
}

void api_get_streams(api_req_t *r)
{
    node_t *node = r->api->node;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "streams") : NULL;
    if (!arr) {
        cJSON_Delete(o);
        api_reply_json(r, 500, NULL);
        return;
    }
    list_ctx_t l = {node, weir_mono_ms(), arr, 0, NULL, NULL};
    hub_foreach(node->hub, add_stream, &l);
    if (l.oom) {
        cJSON_Delete(o);
        o = NULL;
    }
    api_reply_json(r, 200, o);
}

static stream_t *find_stream(api_req_t *r)
{
    stream_t *s = hub_lookup(r->api->node->hub, r->pp.params[0], r->pp.params[1]);
    if (!s)
        api_reply_error(r, 404, "not_found", "no stream %.128s/%.256s", r->pp.params[0],
                        r->pp.params[1]);
    return s;
}

/* One pass over the sessions (not a lookup per player): the players of
 * l->app/l->name, attached or waiting. */
static void add_player(conn_t *c, void *arg)
{
    list_ctx_t *l = arg;
    sess_info_t si;
    conn_info(c, l->now, &si);
    if (si.role != SESS_ROLE_PLAYER || !si.app || !si.name || strcmp(si.app, l->app) != 0 ||
        strcmp(si.name, l->name) != 0)
        return;
    cJSON *o = api_render_session(&si);
    if (!o || !cJSON_AddItemToArray(l->arr, o)) {
        cJSON_Delete(o);
        l->oom = 1;
    }
}

void api_get_stream(api_req_t *r)
{
    stream_t *s = find_stream(r);
    if (!s)
        return;
    node_t *node = r->api->node;
    int64_t now = weir_mono_ms();
    cJSON *o = stream_json(node, s, now);
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "players") : NULL;
    list_ctx_t l = {node, now, arr, arr == NULL, stream_app(s), stream_name(s)};
    if (arr)
        node_foreach_session(node, add_player, &l);
    if (l.oom) {
        cJSON_Delete(o);
        o = NULL;
    }
    api_reply_json(r, 200, o);
}

void api_delete_stream(api_req_t *r)
{
    stream_t *s = find_stream(r);
    if (!s)
        return;
    node_t *node = r->api->node;
    cJSON *res = cJSON_CreateObject();
    cJSON *closed = res ? cJSON_AddObjectToObject(res, "closed") : NULL;
    if (closed) {
        cJSON_AddStringToObject(closed, "app", stream_app(s));
        cJSON_AddStringToObject(closed, "name", stream_name(s));
    }
    cJSON *f = cJSON_CreateObject();
    if (f) {
        cJSON_AddStringToObject(f, "app", stream_app(s));
        cJSON_AddStringToObject(f, "name", stream_name(s));
    }
    log_info(0, "api: closing stream %s/%s", stream_app(s), stream_name(s));
    size_t n = stream_close(s, REASON_KICKED, "stream closed by the API");
    if (f) {
        cJSON_AddNumberToObject(f, "sessions", (double)n);
        cJSON_AddStringToObject(f, "by", "api");
    }
    evlog_emit(node, "stream.close", f);
    if (res)
        cJSON_AddNumberToObject(res, "sessions", (double)n);
    api_reply_json(r, 200, res);
}
