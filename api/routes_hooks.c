/* Tag hooks: GET and POST /api/v1/hooks, GET, PUT and DELETE
 * /api/v1/hooks/{id}. Bodies are read by hook_spec_from_json() (a whole
 * hook: PUT replaces, there is no PATCH); changes go through the webhook
 * manager (node/cluster/hooks.h), which stores them before they are acknowledged:
 * the request is suspended until the write is committed and applied
 * (api/change.h).
 * Hooks from the config file are read-only (409). */
#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "change.h"
#include "common.h"
#include "hooks.h"
#include "page.h"
#include "render.h"
#include "relay_spec.h" /* relay_id_valid(): hook ids follow the same rules */

_Static_assert(HOOK_ID_MAX == API_CHANGE_ID_MAX, "api/change.h holds hook ids");

static hook_mgr_t *hooks(api_req_t *r)
{
    return r->api->node->hooks;
}

/* A hook's JSON, with its entity tag (computed here, for the hooks that
 * are rendered only). */
static cJSON *render_stat(api_req_t *r, hook_stat_t st)
{
    if (hook_spec_etag(r->api->node, st.spec, st.etag) != 0)
        st.etag[0] = '\0';
    return api_render_hook(&st);
}

/* The hook id as the manager shows it now, or NULL (no such hook, out of
 * memory). */
static cJSON *render_hook(api_req_t *r, const char *id)
{
    hook_stat_t st;
    return hook_mgr_stat(hooks(r), id, &st) == 0 ? render_stat(r, st) : NULL;
}

/* api_change_render_fn: the hook as the change left it (done runs right
 * after it was applied); when the manager is gone, a hook with the
 * committed spec that has delivered nothing. */
static cJSON *render_change(api_req_t *r, const char *id, const void *spec)
{
    hook_stat_t st;
    if (hook_mgr_stat(hooks(r), id, &st) != 0)
        st = (hook_stat_t){.spec = spec};
    return render_stat(r, st);
}

static const char *const BOOLS[] = {"true", "false", NULL};

/* A page of hooks: ?enabled= and the cursor ?after= (an id). */
typedef struct {
    api_req_t *r;
    const char *enabled, *after; /* or NULL */
    api_page_t page;
    const char *last; /* the page's last id (valid until the loop runs again) */
} list_t;

static void list_add(const hook_stat_t *st, void *arg)
{
    list_t *l = arg;
    const hook_spec_t *s = st->spec;
    if ((l->after && strcmp(s->id, l->after) <= 0) ||
        (l->enabled && (strcmp(l->enabled, "true") == 0) != !!s->enabled) ||
        api_page_full(&l->page))
        return;
    api_page_add(&l->page, render_stat(l->r, *st));
    l->last = s->id;
}

/* Hands spec (POST, PUT) or id (DELETE) to the manager; the request waits
 * until the change is stored. */
static void submit(api_req_t *r, api_change_op_t op, const hook_spec_t *spec, const char *id)
{
    hook_mgr_t *m = hooks(r);
    if (!m) {
        api_reply_error(r, 503, "unavailable", "webhooks are not running");
        return;
    }
    api_change_t *c = api_change_new(r, op, "hook", spec ? spec->id : id, render_change);
    if (!c)
        return;
    char err[SPEC_STORE_ERR_MAX] = "";
    int rc = op == API_CHANGE_DELETE
                 ? hook_mgr_delete(m, c->id, c->if_match, api_change_done, c, err, sizeof err)
                 : hook_mgr_put(m, spec, op == API_CHANGE_POST, c->if_match, api_change_done, c,
                                err, sizeof err);
    api_change_submitted(c, rc, err);
}

/* hook_spec_from_json() for api_change_body(): a whole hook (no base). */
static int parse_hook(const cJSON *body, const void *base, void *out, char *err, size_t errlen)
{
    (void)base;
    return hook_spec_from_json(body, out, err, errlen);
}

/* The hook named by the path, or NULL after a 404. Valid until the loop
 * runs again. */
static const hook_spec_t *find_hook(api_req_t *r)
{
    const char *id = r->pp.params[0];
    hook_mgr_t *m = hooks(r);
    const hook_spec_t *s = m && relay_id_valid(id) ? hook_mgr_spec(m, id) : NULL;
    if (!s)
        api_change_not_found(r, "hook", id);
    return s;
}

void api_get_hooks(api_req_t *r)
{
    list_t l = {.r = r, .after = api_query(r, "after")};
    if (api_query_enum(r, "enabled", BOOLS, &l.enabled) != 0 || api_page_begin(r, &l.page) != 0)
        return;
    if (hooks(r))
        hook_mgr_foreach(hooks(r), list_add, &l);
    api_page_reply(r, &l.page, "hooks", l.last ? cJSON_CreateString(l.last) : NULL);
}

void api_post_hook(api_req_t *r)
{
    hook_spec_t s;
    if (api_change_body(r, parse_hook, NULL, &s) != 0)
        return;
    hook_mgr_t *m = hooks(r);
    if (m && !s.id[0])
        hook_mgr_new_id(m, s.id);
    /* An id in use is a 409 at the change's turn; 503 without a manager. */
    submit(r, API_CHANGE_POST, &s, s.id);
}

void api_get_hook(api_req_t *r)
{
    const hook_spec_t *s = find_hook(r);
    if (s)
        api_reply_entity(r, 200, render_hook(r, s->id));
}

void api_put_hook(api_req_t *r)
{
    const char *id = r->pp.params[0];
    hook_mgr_t *m = hooks(r);
    const hook_spec_t *cur = m && relay_id_valid(id) ? hook_mgr_spec(m, id) : NULL;
    hook_spec_t s;
    if (api_change_put_check(r, "hook", id, relay_id_valid(id),
                             cur && cur->source == HOOK_SRC_CONFIG) != 0 ||
        api_change_body(r, parse_hook, NULL, &s) != 0 ||
        api_change_put_id(r, s.id, sizeof s.id, id) != 0)
        return;
    submit(r, API_CHANGE_PUT, &s, id);
}

/* A hook that is not there is a 404 at the change's turn (a change
 * submitted before this one may create it). */
void api_delete_hook(api_req_t *r)
{
    const char *id = r->pp.params[0];
    if (!relay_id_valid(id)) {
        api_change_not_found(r, "hook", id);
        return;
    }
    submit(r, API_CHANGE_DELETE, NULL, id);
}
