/* Tag relays: GET and POST /api/v1/relays, GET, PUT, PATCH and DELETE
 * /api/v1/relays/{id}. Bodies are read by relay_spec_from_json(); changes go
 * through the relay manager (node/relay.h), which stores them before they
 * are acknowledged: the request is suspended until the write is committed. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "common.h"
#include "relay.h"

typedef enum { OP_POST, OP_PUT, OP_PATCH, OP_DELETE } relay_op_t;

/* One change waiting for its storage write. */
typedef struct {
    api_req_t *r;
    relay_op_t op;
    char id[RELAY_ID_MAX];
    int created;
    int in_call; /* inside relay_mgr_put/delete: done must not answer yet */
    int finished;
    int rc;
} change_ctx_t;

static relay_mgr_t *relays(api_req_t *r)
{
    return r->api->node->relays;
}

/* The relay's JSON after a change (or 500 when it cannot be rendered). */
static void reply_relay(api_req_t *r, int status, const char *id)
{
    relay_mgr_t *m = relays(r);
    api_reply_json(r, status, m ? relay_mgr_render(m, id, weir_mono_ms()) : NULL);
}

/* The write is committed (rc 0) or failed (NODE_EIO): answer. */
static void change_reply(change_ctx_t *c)
{
    api_req_t *r = c->r;
    if (c->rc != 0) {
        api_reply_error(r, 503, "unavailable", "the relay could not be stored; nothing changed");
    } else if (c->op == OP_DELETE) {
        api_reply_text(r, 204, "application/json", NULL, 0);
    } else {
        int status = c->op == OP_PATCH ? 200 : c->op == OP_POST || c->created ? 201 : 200;
        reply_relay(r, status, c->id);
    }
    free(c);
}

static void change_done(void *arg, int rc)
{
    change_ctx_t *c = arg;
    c->rc = rc;
    c->finished = 1;
    if (!c->in_call)
        change_reply(c); /* else the handler answers once the call returns */
}

/* Answers a refusal of relay_mgr_put/delete. */
static void reply_refused(api_req_t *r, int rc, const char *id, const char *err)
{
    switch (rc) {
    case NODE_ENOTFOUND: api_reply_error(r, 404, "not_found", "no relay %s", id); break;
    case NODE_EBUSY: api_reply_error(r, 409, "conflict", "%s", err); break;
    case NODE_EINVAL: api_reply_error(r, 400, "invalid_field", "%s", err); break;
    case NODE_ELIMIT:
    case NODE_ENOMEM:
        api_reply_error(r, 503, "unavailable", "%s", err[0] ? err : "the node is busy; retry");
        break;
    default: api_reply_error(r, 500, "internal", "relay change failed (%d)", rc); break;
    }
}

/* Hands spec (POST, PUT, PATCH) or id (DELETE) to the manager and suspends
 * the request until the change is stored. */
static void submit(api_req_t *r, relay_op_t op, const relay_spec_t *spec, const char *id)
{
    relay_mgr_t *m = relays(r);
    change_ctx_t *c = m ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        api_reply_error(r, 503, "unavailable", m ? "out of memory" : "relays are not running");
        return;
    }
    c->r = r;
    c->op = op;
    snprintf(c->id, sizeof c->id, "%s", spec ? spec->id : id);
    c->in_call = 1;
    char err[256] = "";
    int rc = op == OP_DELETE ? relay_mgr_delete(m, c->id, change_done, c, err, sizeof err)
                             : relay_mgr_put(m, spec, &c->created, change_done, c, err, sizeof err);
    c->in_call = 0;
    if (rc != 0) {
        free(c); /* done is not called on a refusal */
        reply_refused(r, rc, id, err);
        return;
    }
    if (c->finished) { /* done already ran (no storage): answer now */
        change_reply(c);
        return;
    }
    api_suspend(r);
}

/* The body read as a relay spec (base NULL: a whole one), or -1 after a 400. */
static int body_spec(api_req_t *r, const relay_spec_t *base, relay_spec_t *out)
{
    cJSON *body = api_body_object(r);
    if (!body)
        return -1;
    char err[256];
    int rc = relay_spec_from_json(body, base, out, err, sizeof err);
    cJSON_Delete(body);
    if (rc != 0) {
        api_reply_error(r, 400, "invalid_field", "%s", err);
        return -1;
    }
    return 0;
}

/* The relay named by the path (a copy), or -1 after a 404. */
static int find_relay(api_req_t *r, relay_spec_t *out)
{
    const char *id = r->pp.params[0];
    relay_mgr_t *m = relays(r);
    const relay_spec_t *s = m && relay_id_valid(id) ? relay_mgr_spec(m, id) : NULL;
    if (!s) {
        api_reply_error(r, 404, "not_found", "no relay %.64s", id);
        return -1;
    }
    *out = *s;
    return 0;
}

void api_get_relays(api_req_t *r)
{
    relay_mgr_t *m = relays(r);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = m ? relay_mgr_render_all(m, weir_mono_ms()) : cJSON_CreateArray();
    if (!o || !arr || !cJSON_AddItemToObject(o, "relays", arr)) {
        cJSON_Delete(o);
        cJSON_Delete(arr);
        o = NULL;
    }
    api_reply_json(r, 200, o);
}

void api_post_relay(api_req_t *r)
{
    relay_spec_t s;
    if (body_spec(r, NULL, &s) != 0)
        return;
    relay_mgr_t *m = relays(r);
    if (!m) {
        api_reply_error(r, 503, "unavailable", "relays are not running");
        return;
    }
    if (!s.id[0]) {
        relay_mgr_new_id(m, s.id);
    } else if (relay_mgr_spec(m, s.id)) {
        api_reply_error(r, 409, "conflict", "id: relay %s already exists", s.id);
        return;
    }
    submit(r, OP_POST, &s, s.id);
}

void api_get_relay(api_req_t *r)
{
    relay_spec_t s;
    if (find_relay(r, &s) != 0)
        return;
    reply_relay(r, 200, s.id);
}

void api_put_relay(api_req_t *r)
{
    const char *id = r->pp.params[0];
    if (!relay_id_valid(id)) {
        api_reply_error(r, 400, "invalid_field",
                        "id: expected 1 to %d characters of A-Z a-z 0-9 . _ -", RELAY_ID_MAX - 1);
        return;
    }
    relay_mgr_t *m = relays(r);
    const relay_spec_t *cur = m ? relay_mgr_spec(m, id) : NULL;
    if (cur && cur->source == RELAY_SRC_CONFIG) {
        /* Before the body: a config-file relay cannot be replaced by any. */
        api_reply_error(r, 409, "conflict",
                        "id: relay %s comes from the config file and is read-only", id);
        return;
    }
    relay_spec_t s;
    if (body_spec(r, NULL, &s) != 0)
        return;
    if (s.id[0] && strcmp(s.id, id) != 0) {
        api_reply_error(r, 400, "invalid_field", "id: does not match the path");
        return;
    }
    snprintf(s.id, sizeof s.id, "%s", id);
    submit(r, OP_PUT, &s, id);
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
    submit(r, OP_PATCH, &s, cur.id);
}

void api_delete_relay(api_req_t *r)
{
    relay_spec_t cur;
    if (find_relay(r, &cur) != 0)
        return;
    submit(r, OP_DELETE, NULL, cur.id);
}
