/* Tag relays: GET and POST /api/v1/relays, GET, PUT, PATCH and DELETE
 * /api/v1/relays/{id}. Bodies are read by relay_spec_from_json(); changes go
 * through the relay manager (node/relay/relay.h), which stores them before they
 * are acknowledged: the request is suspended until the write is committed.
 * Answers render the manager's snapshots (relay_view_t, api_render_relay()). */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "change.h"
#include "common.h"
#include "page.h"
#include "relay.h"
#include "render.h"

_Static_assert(RELAY_ID_MAX == API_CHANGE_ID_MAX, "api/change.h holds relay ids");

static relay_mgr_t *relays(api_req_t *r)
{
    return r->api->node->relays;
}

/* The relay id as it is now; NULL when there is none or out of memory. */
static cJSON *render_relay(api_req_t *r, const char *id)
{
    relay_mgr_t *m = relays(r);
    relay_view_t v;
    if (!m || relay_mgr_view(m, id, weir_mono_ms(), &v) != 0)
        return NULL;
    cJSON *o = api_render_relay(&v);
    relay_view_release(&v);
    return o;
}

/* api_change_render_fn: the relay as the change left it (done runs right
 * after it was applied); from the committed spec when the manager is gone. */
static cJSON *render_change(api_req_t *r, const char *id, const void *spec)
{
    relay_mgr_t *m = relays(r);
    if (m && relay_mgr_spec(m, id))
        return render_relay(r, id);
    relay_view_t v;
    relay_view_idle(spec, &v);
    if (relay_spec_etag(r->api->node, spec, v.etag) != 0)
        v.etag[0] = '\0';
    return api_render_relay(&v);
}

/* Hands the change to the manager and suspends the request until it is
 * stored (api/change.h): spec for POST and PUT, patch (a PATCH body) for
 * PATCH, neither for DELETE. */
static void submit(api_req_t *r, api_change_op_t op, const char *id, const relay_spec_t *spec,
                   const cJSON *patch)
{
    relay_mgr_t *m = relays(r);
    if (!m) {
        api_reply_error(r, 503, "unavailable", "relays are not running");
        return;
    }
    api_change_t *c = api_change_new(r, op, "relay", id, render_change);
    if (!c)
        return;
    char err[SPEC_STORE_ERR_MAX] = "";
    int rc;
    if (op == API_CHANGE_DELETE)
        rc = relay_mgr_delete(m, c->id, c->if_match, api_change_done, c, err, sizeof err);
    else if (op == API_CHANGE_PATCH)
        rc = relay_mgr_patch(m, c->id, patch, c->if_match, api_change_done, c, err, sizeof err);
    else
        rc = relay_mgr_put(m, spec, op == API_CHANGE_POST, c->if_match, api_change_done, c, err,
                           sizeof err);
    api_change_submitted(c, rc, err);
}

static int parse_relay(const cJSON *body, const void *base, void *out, char *err, size_t errlen)
{
    return relay_spec_from_json(body, base, out, err, errlen);
}

/* The relay named by the path (a copy), or -1 after a 404. */
static int find_relay(api_req_t *r, relay_spec_t *out)
{
    const char *id = r->pp.params[0];
    relay_mgr_t *m = relays(r);
    const relay_spec_t *s = m && relay_id_valid(id) ? relay_mgr_spec(m, id) : NULL;
    if (!s) {
        api_change_not_found(r, "relay", id);
        return -1;
    }
    *out = *s;
    return 0;
}

static const char *const STATUSES[] = {"idle", "connecting", "active", "backoff", "failed", NULL};
static const char *const DIRECTIONS[] = {"push", "pull", NULL};

/* The ids of a page of relays, picked from the manager's cheap per-relay
 * figures (relay_mgr_foreach(): no view, no ETag computed) before anything
 * is rendered. */
typedef struct {
    const char *app, *name, *status, *direction; /* filters, or NULL */
    const char *after;                           /* cursor, or NULL */
    api_page_t *page;
    char (*ids)[RELAY_ID_MAX]; /* page->limit of them */
    size_t n;
} pick_t;

static void pick_relay(const relay_stat_t *st, void *arg)
{
    pick_t *p = arg;
    const relay_spec_t *s = st->spec;
    const char *dir = s->direction == RELAY_PULL ? "pull" : "push";
    if ((p->after && strcmp(s->id, p->after) <= 0) || (p->app && strcmp(p->app, s->app) != 0) ||
        (p->name && strcmp(p->name, s->name) != 0) ||
        (p->status && strcmp(p->status, st->status) != 0) ||
        (p->direction && strcmp(p->direction, dir) != 0))
        return;
    if (p->n < p->page->limit)
        memcpy(p->ids[p->n++], s->id, RELAY_ID_MAX);
    else
        p->page->more = 1;
}

/* Relays in id order after ?after= (an id); the manager walks its list
 * (ordered by id) once, and only the page's relays are viewed and
 * rendered. */
void api_get_relays(api_req_t *r)
{
    pick_t p = {
        .app = api_query(r, "app"), .name = api_query(r, "name"), .after = api_query(r, "after")};
    api_page_t page;
    if (api_query_enum(r, "status", STATUSES, &p.status) != 0 ||
        api_query_enum(r, "direction", DIRECTIONS, &p.direction) != 0 ||
        api_page_begin(r, &page) != 0)
        return;
    p.page = &page;
    p.ids = malloc(page.limit * sizeof *p.ids);
    page.oom = !p.ids;
    relay_mgr_t *m = relays(r);
    if (m && p.ids)
        relay_mgr_foreach(m, pick_relay, &p);
    for (size_t i = 0; i < p.n; i++)
        api_page_add(&page, render_relay(r, p.ids[i]));
    api_page_reply(r, &page, "relays", p.n ? cJSON_CreateString(p.ids[p.n - 1]) : NULL);
    free(p.ids);
}

void api_post_relay(api_req_t *r)
{
    relay_spec_t s;
    if (api_change_body(r, parse_relay, NULL, &s) != 0)
        return;
    relay_mgr_t *m = relays(r);
    if (m && !s.id[0])
        relay_mgr_new_id(m, s.id);
    /* An id in use is a 409 at the change's turn; 503 without a manager. */
    submit(r, API_CHANGE_POST, s.id, &s, NULL);
}

void api_get_relay(api_req_t *r)
{
    relay_spec_t s;
    if (find_relay(r, &s) != 0)
        return;
    api_reply_entity(r, 200, render_relay(r, s.id));
}

void api_put_relay(api_req_t *r)
{
    const char *id = r->pp.params[0];
    relay_mgr_t *m = relays(r);
    const relay_spec_t *cur = m && relay_id_valid(id) ? relay_mgr_spec(m, id) : NULL;
    relay_spec_t s;
    if (api_change_put_check(r, "relay", id, relay_id_valid(id),
                             cur && cur->source == RELAY_SRC_CONFIG) != 0 ||
        api_change_body(r, parse_relay, NULL, &s) != 0 ||
        api_change_put_id(r, s.id, sizeof s.id, id) != 0)
        return;
    submit(r, API_CHANGE_PUT, id, &s, NULL);
}

/* Checked against the relay now (400 before anything is submitted), then
 * merged again over the relay as committed at the change's turn, so that
 * a change submitted before it is kept. */
void api_patch_relay(api_req_t *r)
{
    relay_spec_t cur, s;
    if (find_relay(r, &cur) != 0)
        return;
    cJSON *body = api_body_object(r);
    if (!body)
        return;
    char err[256];
    if (relay_spec_patch(body, &cur, &s, err, sizeof err) != 0)
        api_reply_error(r, 400, "invalid_field", "%s", err);
    else
        submit(r, API_CHANGE_PATCH, cur.id, NULL, body);
    cJSON_Delete(body);
}

/* A relay that is not there is a 404 at the change's turn (a change
 * submitted before this one may create it). */
void api_delete_relay(api_req_t *r)
{
    const char *id = r->pp.params[0];
    if (!relay_id_valid(id)) {
        api_change_not_found(r, "relay", id);
        return;
    }
    submit(r, API_CHANGE_DELETE, id, NULL, NULL);
}
