/* Tag streams: GET /api/v1/streams, GET and DELETE /api/v1/streams/{app}/{name}. */
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
    list_ctx_t l = {node, weir_mono_ms(), arr, 0};
    hub_foreach(node->hub, add_stream, &l);
    if (l.oom) {
        cJSON_Delete(o);
        o = NULL;
    }
    api_reply_json(r, 200, o);
}

static stream_t *find_stream(api_req_t *r)
{
    stream_t *s = hub_lookup(r->api->node->hub, r->params[0], r->params[1]);
    if (!s)
        api_reply_error(r, 404, "not_found", "no stream %.128s/%.256s", r->params[0], r->params[1]);
    return s;
}

static void add_player(player_t *p, void *arg)
{
    list_ctx_t *l = arg;
    conn_t *c = node_find_session(l->node, p->sess_id);
    if (!c)
        return; /* not a session (a relay, later) */
    sess_info_t si;
    conn_info(c, l->now, &si);
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
    list_ctx_t l = {node, now, arr, arr == NULL};
    if (arr)
        stream_foreach_player(s, add_player, &l);
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
    size_t n = stream_close(s, "stream closed by the API");
    if (f) {
        cJSON_AddNumberToObject(f, "sessions", (double)n);
        cJSON_AddStringToObject(f, "by", "api");
    }
    evlog_emit(node, "stream.close", f);
    if (res)
        cJSON_AddNumberToObject(res, "sessions", (double)n);
    api_reply_json(r, 200, res);
}
