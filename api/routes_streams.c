/* Tag streams: GET /api/v1/streams, GET and DELETE /api/v1/streams/{app}/{name}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "common.h"
#include "conn.h"
#include "evlog.h"
#include "hls_sess.h"
#include "log.h"
#include "page.h"
#include "parse.h"
#include "render.h"

typedef struct {
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

/* The streams a page may hold: those after the cursor that pass the
 * filters (pointers only: nothing is rendered yet). */
typedef struct {
    const char *app, *name; /* filters, or NULL */
    const char *after;      /* cursor, or NULL */
    size_t after_app_len;
    stream_t **v;
    size_t n, cap;
    int oom;
} candidates_t;

static void add_candidate(stream_t *s, void *arg)
{
    candidates_t *c = arg;
    if ((c->app && strcmp(c->app, stream_app(s)) != 0) ||
        (c->name && strcmp(c->name, stream_name(s)) != 0) ||
        (c->after &&
         api_stream_cursor_cmp(stream_app(s), stream_name(s), c->after, c->after_app_len) <= 0))
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        stream_t **v = realloc(c->v, cap * sizeof *v);
        if (!v) {
            c->oom = 1;
            return;
        }
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = s;
}

static int stream_order(const void *a, const void *b)
{
    stream_t *x = *(stream_t *const *)a, *y = *(stream_t *const *)b;
    int d = strcmp(stream_app(x), stream_app(y));
    return d ? d : strcmp(stream_name(x), stream_name(y));
}

/* The cursor of a page that ends with s: "<app>/<name>". */
static cJSON *stream_cursor(const stream_t *s)
{
    char key[STREAM_APP_MAX + STREAM_NAME_MAX + 1];
    snprintf(key, sizeof key, "%s/%s", stream_app(s), stream_name(s));
    return cJSON_CreateString(key);
}

/* Streams ordered by app, then name, after ?after= ("<app>/<name>"): the
 * hub is a hash table, so the matching pointers are gathered and sorted;
 * only the page's streams are rendered. */
void api_get_streams(api_req_t *r)
{
    candidates_t c = {
        .app = api_query(r, "app"), .name = api_query(r, "name"), .after = api_query(r, "after")};
    if (c.after && api_parse_stream_cursor(c.after, &c.after_app_len) != 0) {
        api_reply_error(r, 400, "invalid_field",
                        "after: expected a stream's <app>/<name> (next_after of the last page)");
        return;
    }
    api_page_t page;
    if (api_page_begin(r, &page) != 0)
        return;
    node_t *node = r->api->node;
    hub_foreach(node->hub, add_candidate, &c);
    page.oom = c.oom;
    if (c.n)
        qsort(c.v, c.n, sizeof *c.v, stream_order);
    int64_t now = weir_mono_ms();
    size_t i = 0;
    for (; i < c.n && !api_page_full(&page); i++)
        api_page_add(&page, stream_json(node, c.v[i], now));
    api_page_reply(r, &page, "streams", i ? stream_cursor(c.v[i - 1]) : NULL);
    free(c.v);
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
static int add_player_info(const sess_info_t *si, void *arg)
{
    list_ctx_t *l = arg;
    if (si->role != SESS_ROLE_PLAYER || !si->app || !si->name || strcmp(si->app, l->app) != 0 ||
        strcmp(si->name, l->name) != 0)
        return 0;
    cJSON *o = api_render_session(si);
    if (!o || !cJSON_AddItemToArray(l->arr, o)) {
        cJSON_Delete(o);
        l->oom = 1;
    }
    return 0;
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
    list_ctx_t l = {arr, arr == NULL, stream_app(s), stream_name(s)};
    if (arr)
        api_foreach_session_info(node, now, add_player_info, &l);
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
    /* its HLS players end as its other players do (stream_ended; their
     * held requests: 403 at the end's wake) */
    size_t n = hls_sess_end_stream(node, stream_app(s), stream_name(s), REASON_STREAM_ENDED,
                                   "stream closed by the API");
    n += stream_close(s, REASON_KICKED, "stream closed by the API");
    if (f) {
        cJSON_AddNumberToObject(f, "sessions", (double)n);
        cJSON_AddStringToObject(f, "by", "api");
    }
    evlog_emit(node, "stream.close", f);
    if (res)
        cJSON_AddNumberToObject(res, "sessions", (double)n);
    api_reply_json(r, 200, res);
}
