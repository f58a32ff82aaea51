/* Tag relays: GET and POST /api/v1/relays, GET, PUT, PATCH and DELETE
 * /api/v1/relays/{id}. Bodies are read by relay_spec_from_json(); changes go
 * through the relay manager (node/relay.h), which stores them before they
 * are acknowledged: the request is suspended until the write is committed. */
#include <string.h>

#include "api_internal.h"
#include "change.h"
#include "common.h"
#include "relay.h"

_Static_assert(RELAY_ID_MAX == API_CHANGE_ID_MAX, "api/change.h holds relay ids");

static relay_mgr_t *relays(api_req_t *r)
{
    return r->api->node->relays;
}

static cJSON *render_relay(api_req_t *r, const char *id)
{
    relay_mgr_t *m = relays(r);
    return m ? relay_mgr_render(m, id, weir_mono_ms()) : NULL;
}

/* Hands spec (POST, PUT, PATCH) or id (DELETE) to the manager and suspends
 * the request until the change is stored (api/change.h). */
static void submit(api_req_t *r, api_change_op_t op, const relay_spec_t *spec, const char *id)
{
    relay_mgr_t *m = relays(r);
    if (!m) {
        api_reply_error(r, 503, "unavailable", "relays are not running");
        return;
    }
    api_change_t *c = api_change_new(r, op, "relay", spec ? spec->id : id, render_relay);
    if (!c)
        return;
    char err[256] = "";
    int rc = op == API_CHANGE_DELETE
                 ? relay_mgr_delete(m, c->id, api_change_done, c, err, sizeof err)
                 : relay_mgr_put(m, spec, &c->created, api_change_done, c, err, sizeof err);
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

void api_get_relays(api_req_t *r)
{
    relay_mgr_t *m = relays(r);
    api_reply_list(r, "relays", m ? relay_mgr_render_all(m, weir_mono_ms()) : cJSON_CreateArray());
}

void api_post_relay(api_req_t *r)
{
    relay_spec_t s;
    if (api_change_body(r, parse_relay, NULL, &s) != 0)
        return;
    relay_mgr_t *m = relays(r);
    if (m && !s.id[0])
        relay_mgr_new_id(m, s.id);
    if (api_change_post_check(r, "relay", s.id, m && relay_mgr_spec(m, s.id)) == 0)
        submit(r, API_CHANGE_POST, &s, s.id); /* 503 without a manager */
}

void api_get_relay(api_req_t *r)
{
    relay_spec_t s;
    if (find_relay(r, &s) != 0)
        return;
    api_reply_json(r, 200, render_relay(r, s.id));
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
    submit(r, API_CHANGE_PUT, &s, id);
}

/* A string member of a body (exact name), or NULL. */
static const char *body_string(const cJSON *body, const char *key)
{
    for (const cJSON *v = body->child; v; v = v->next)
        if (v->string && strcmp(v->string, key) == 0)
            return cJSON_IsString(v) ? v->valuestring : NULL;
    return NULL;
}

void api_patch_relay(api_req_t *r)
{
    relay_spec_t cur, s;
    if (find_relay(r, &cur) != 0)
        return;
    cJSON *body = api_body_object(r);
    if (!body)
        return;
    /* Checked before the merge, whose validation would otherwise complain
     * about what the new direction does not allow (its URLs, its mode). */
    const char *dir = body_string(body, "direction");
    const char *id = body_string(body, "id");
    const char *msg = NULL;
    if (dir && strcmp(dir, cur.direction == RELAY_PUSH ? "push" : "pull") != 0)
        msg = "direction: cannot change; delete and create the relay";
    else if (id && strcmp(id, cur.id) != 0)
        msg = "id: does not match the path";
    char err[256];
    if (!msg && relay_spec_from_json(body, &cur, &s, err, sizeof err) != 0)
        msg = err;
    if (msg) {
        api_reply_error(r, 400, "invalid_field", "%s", msg);
        cJSON_Delete(body);
        return;
    }
    cJSON_Delete(body);
    submit(r, API_CHANGE_PATCH, &s, cur.id);
}

void api_delete_relay(api_req_t *r)
{
    relay_spec_t cur;
    if (find_relay(r, &cur) != 0)
        return;
    submit(r, API_CHANGE_DELETE, NULL, cur.id);
}
