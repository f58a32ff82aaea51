/* Tag sessions: GET /api/v1/sessions, GET and DELETE /api/v1/sessions/{id}. */
#include <string.h>

#include "api_internal.h"
#include "common.h"
#include "conn.h"
#include "ban.h"
#include "evlog.h"
#include "hls_sess.h"
#include "log.h"
#include "page.h"
#include "render.h"

static const char *const ROLES[] = {"publisher", "player", "relay", "connecting", NULL};
static const char *const PROTOCOLS[] = {"rtmp", "http-flv", "ws-flv", "http-ts", "hls", NULL};

typedef struct {
    int64_t now;
    const char *app, *name, *role, *protocol;
    api_page_t page;
    uint64_t last;     /* the id of the page's last session */
    uint64_t hls_seen; /* HLS sessions (hls_sess.h) merged in by id up to this one */
    uint64_t bound;    /* merge those below this id now */
    int full;
} filter_ctx_t;

static int eq_or_unset(const char *want, const char *have)
{
    return !want || (have && strcmp(want, have) == 0);
}

/* Adds si if it passes the filter: 1 (stop) once the page is full. */
static int add_info(filter_ctx_t *f, const sess_info_t *si)
{
    if (!eq_or_unset(f->app, si->app) || !eq_or_unset(f->name, si->name) ||
        !eq_or_unset(f->role, sess_role_name(si->role)) || !eq_or_unset(f->protocol, si->protocol))
        return 0;
    if (api_page_full(&f->page))
        return f->full = 1;
    api_page_add(&f->page, api_render_session(si));
    f->last = si->id;
    return 0;
}

typedef struct {
    int64_t now;
    int (*cb)(const sess_info_t *si, void *arg);
    void *arg;
    int stop;
} each_info_t;

static void each_conn_info(conn_t *c, void *arg)
{
    each_info_t *e = arg;
    sess_info_t si;
    if (e->stop || c->proto->carrier)
        return;
    conn_info(c, e->now, &si);
    e->stop = e->cb(&si, e->arg);
}

void api_foreach_session_info(node_t *node, int64_t now,
                              int (*cb)(const sess_info_t *si, void *arg), void *arg)
{
    each_info_t e = {now, cb, arg, 0};
    node_foreach_session(node, each_conn_info, &e);
    if (!e.stop)
        hls_sess_after(0, cb, arg);
}

/* hls_sess_after() callback: the HLS sessions below the bound, in id order. */
static int add_hls(const sess_info_t *si, void *arg)
{
    filter_ctx_t *f = arg;
    if (si->id >= f->bound)
        return 1;
    if (add_info(f, si))
        return 1;
    f->hls_seen = si->id;
    return 0;
}

/* node_sessions_after() callback: 1 (stop) once the page is full. */
static int add_session(conn_t *c, void *arg)
{
    filter_ctx_t *f = arg;
    f->bound = c->id;
    hls_sess_after(f->hls_seen, add_hls, f);
    if (f->full)
        return 1;
    if (c->proto->carrier) /* its HLS sessions are listed instead */
        return 0;
    sess_info_t si;
    conn_info(c, f->now, &si);
    return add_info(f, &si);
}

/* Sessions in id order after ?after= (ids only grow: a walk sees each
 * session that stays open once, and new ones at its end). */
void api_get_sessions(api_req_t *r)
{
    filter_ctx_t f = {
        .now = weir_mono_ms(), .app = api_query(r, "app"), .name = api_query(r, "name")};
    uint64_t after;
    if (api_query_enum(r, "role", ROLES, &f.role) != 0 ||
        api_query_enum(r, "protocol", PROTOCOLS, &f.protocol) != 0 ||
        api_query_u64(r, "after", 0, 0, API_ID_MAX, &after) != 0 || api_page_begin(r, &f.page) != 0)
        return;
    f.hls_seen = after;
    node_sessions_after(r->api->node, after, add_session, &f);
    f.bound = UINT64_MAX;
    if (!f.full)
        hls_sess_after(f.hls_seen, add_hls, &f);
    api_page_reply(r, &f.page, "sessions", api_page_u64(f.last));
}

/* The session named by the path: a connection (*c) or an HLS session (*h),
 * with its snapshot; -1 after a 400/404 (a carrier connection, not listed,
 * is not found either). */
static int find_session(api_req_t *r, conn_t **c, hls_sess_t **h, sess_info_t *si)
{
    uint64_t id;
    if (api_parse_u64(r->pp.params[0], 1, UINT64_MAX, &id) != 0) {
        api_reply_error(r, 400, "invalid_field", "id: expected a positive integer");
        return -1;
    }
    *c = node_find_session(r->api->node, id);
    if (*c && (*c)->proto->carrier) /* not a session of its own: its HLS sessions are */
        *c = NULL;
    *h = *c ? NULL : hls_sess_by_id(id);
    if (*c)
        conn_info(*c, weir_mono_ms(), si);
    else if (*h)
        hls_sess_info(*h, weir_mono_ms(), si);
    else
        api_reply_error(r, 404, "not_found", "no session %llu", (unsigned long long)id);
    return *c || *h ? 0 : -1;
}

void api_get_session(api_req_t *r)
{
    conn_t *c;
    hls_sess_t *h;
    sess_info_t si;
    if (find_session(r, &c, &h, &si) == 0)
        api_reply_json(r, 200, api_render_session(&si));
}

/* Kicks a session now (connection closed, or HLS session ended: gone from
 * the lists), recording a session.kick event with `by` and, with ban_s > 0,
 * banning its address from its stream that long (ban.h). */
static void kick_session(node_t *node, conn_t *c, hls_sess_t *h, const sess_info_t *si,
                         const char *by, uint32_t ban_s)
{
    int64_t now = weir_mono_ms();
    if (ban_s && ban_add(node, si->app, si->name, si->remote, ban_s, now) != 0)
        ban_s = 0; /* no stream yet, or no address: nothing to ban */
    cJSON *f = conn_event_fields(si);
    if (f) {
        cJSON_AddStringToObject(f, "role", sess_role_name(si->role));
        cJSON_AddStringToObject(f, "by", by);
        cJSON_AddStringToObject(f, "reason", reason_name(REASON_KICKED));
        cJSON_AddStringToObject(f, "message", "kicked by the API");
        if (ban_s)
            cJSON_AddNumberToObject(f, "ban_s", ban_s);
    }
    evlog_emit(node, "session.kick", f);
    log_info(si->id, "%s: kicked by %s", si->protocol, by);
    if (c)
        conn_kick(c, REASON_KICKED, "kicked by the API");
    else
        hls_sess_kick(node, h, REASON_KICKED, "kicked by the API");
}

void api_delete_session(api_req_t *r)
{
    conn_t *c;
    hls_sess_t *h;
    sess_info_t si;
    if (find_session(r, &c, &h, &si) != 0)
        return;
    uint64_t ban_s = 0;
    if (api_query_u64(r, "ban_s", 0, 0, BAN_MAX_S, &ban_s) != 0)
        return;
    if (si.relay == SESS_RELAY_OUT) { /* it would only come back: its relay decides */
        api_reply_error(r, 409, "conflict",
                        "session %llu is a link of this node's relay for %s/%s: disable or "
                        "delete the relay instead (GET /api/v1/relays: streams[].session_id)",
                        (unsigned long long)si.id, si.app ? si.app : "-", si.name ? si.name : "-");
        return;
    }
    if (si.relay == SESS_RELAY_IN && !ban_s) /* held off, or it reconnects at once */
        ban_s = r->api->node->conf.relay_kick_hold_s;
    cJSON *s = api_render_session(&si);
    kick_session(r->api->node, c, h, &si, "api", (uint32_t)ban_s);
    cJSON *o = s ? cJSON_CreateObject() : NULL;
    if (o)
        cJSON_AddItemToObject(o, "kicked", s);
    else
        cJSON_Delete(s);
    api_reply_json(r, 200, o);
}
