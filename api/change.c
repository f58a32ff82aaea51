/* change: the suspended-until-stored API change shared by relays and hooks
 * (see change.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "change.h"
#include "common.h"
#include "log.h"

int api_storage_lost_refuse(api_req_t *r)
{
    node_t *node = r->api->node;
    if (!node->storage_lost)
        return 0;
    api_reply_error(r, 503, "unavailable",
                    "storage lost: the database file %s was deleted or replaced while the node "
                    "runs; nothing changed (restart the node)",
                    node->conf.storage_path);
    return -1;
}

api_change_t *api_change_new(api_req_t *r, api_change_op_t op, const char *what, const char *id,
                             api_change_render_fn render)
{
    if (api_storage_lost_refuse(r) != 0)
        return NULL;
    const char *im = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-Match");
    if (im && strlen(im) >= SPEC_IF_MATCH_MAX) {
        api_reply_error(r, 400, "bad_request", "If-Match: longer than %d bytes",
                        SPEC_IF_MATCH_MAX - 1);
        return NULL;
    }
    api_change_t *c = calloc(1, sizeof *c);
    if (!c) {
        api_reply_error(r, 503, "unavailable", "out of memory");
        return NULL;
    }
    snprintf(c->if_match, sizeof c->if_match, "%s", im ? im : "");
    c->r = r;
    c->op = op;
    c->what = what;
    c->render = render;
    snprintf(c->id, sizeof c->id, "%s", id);
    c->in_call = 1;
    return c;
}

/* Answers a refusal of the manager, at once or at the change's turn. */
static void reply_refused(api_req_t *r, int rc, const char *what, const char *id, const char *err)
{
    switch (rc) {
    case NODE_ENOTFOUND: api_reply_error(r, 404, "not_found", "no %s %s", what, id); break;
    case NODE_EBUSY: api_reply_error(r, 409, "conflict", "%s", err); break;
    case NODE_EINVAL: api_reply_error(r, 400, "invalid_field", "%s", err); break;
    case NODE_EPRECOND: api_reply_error(r, 412, "precondition_failed", "%s", err); break;
    case NODE_EIO:
        api_reply_error(r, 503, "unavailable", "the %s could not be stored; nothing changed", what);
        break;
    case NODE_ELIMIT:
    case NODE_ENOMEM:
        api_reply_error(r, 503, "unavailable", "%s", err[0] ? err : "the node is busy; retry");
        break;
    default: api_reply_error(r, 500, "internal", "%s change failed (%d)", what, rc); break;
    }
}

/* The object after the committed change c, rendered now (in done, right
 * after it was applied); NULL is logged. */
static cJSON *change_render(api_change_t *c, const void *spec)
{
    if (c->op == API_CHANGE_DELETE)
        return NULL;
    cJSON *o = spec ? c->render(c->r, c->id, spec) : NULL;
    if (!o)
        log_error(0, "api: %s %s: the %s was changed and stored, but could not be rendered",
                  c->r->method, c->r->path, c->what);
    return o;
}

/* Answers the result kept on c (c->body: the rendered object) and frees c. */
static void change_reply(api_change_t *c)
{
    api_req_t *r = c->r;
    if (c->rc != 0) {
        reply_refused(r, c->rc, c->what, c->id, c->err);
    } else if (c->op == API_CHANGE_DELETE) {
        api_reply_text(r, 204, "application/json", NULL, 0);
    } else if (!c->body) {
        /* Committed: not a 503 (a retry of a POST would be a 409), not an
         * "out of memory" in disguise. */
        api_reply_error(r, 500, "internal",
                        "the %s %s was changed, but its state could not be shown", c->what, c->id);
    } else {
        int status = c->op == API_CHANGE_POST || c->created ? 201 : 200;
        api_reply_entity(r, status, c->body);
        c->body = NULL;
    }
    cJSON_Delete(c->body);
    free(c);
}

void api_change_done(void *arg, const spec_result_t *res)
{
    api_change_t *c = arg;
    c->rc = res->rc;
    c->created = res->created;
    snprintf(c->err, sizeof c->err, "%s", res->err);
    if (c->rc == 0)
        c->body = change_render(c, res->spec); /* now: what this change left */
    c->finished = 1;
    if (!c->in_call)
        change_reply(c); /* else api_change_submitted() answers */
}

void api_change_submitted(api_change_t *c, int rc, const char *err)
{
    c->in_call = 0;
    if (rc != 0) { /* done is not called on a refusal */
        reply_refused(c->r, rc, c->what, c->id, err);
        free(c);
        return;
    }
    if (c->finished) { /* done already ran: answer now */
        change_reply(c);
        return;
    }
    api_suspend(c->r);
}

int api_change_body(api_req_t *r, api_spec_parse_fn parse, const void *base, void *out)
{
    cJSON *body = api_body_object(r);
    if (!body)
        return -1;
    char err[256];
    int rc = parse(body, base, out, err, sizeof err);
    cJSON_Delete(body);
    if (rc != 0) {
        api_reply_error(r, 400, "invalid_field", "%s", err);
        return -1;
    }
    return 0;
}

int api_change_put_check(api_req_t *r, const char *what, const char *id, int valid, int from_config)
{
    if (!valid) {
        api_reply_error(r, 400, "invalid_field",
                        "id: expected 1 to %d characters of A-Z a-z 0-9 . _ -",
                        API_CHANGE_ID_MAX - 1);
        return -1;
    }
    if (from_config) {
        /* Before the body: an object of the config file cannot be replaced by any. */
        api_reply_error(r, 409, "conflict", "id: %s %s comes from the config file and is read-only",
                        what, id);
        return -1;
    }
    return 0;
}

int api_change_put_id(api_req_t *r, char *spec_id, size_t len, const char *path_id)
{
    if (spec_id[0] && strcmp(spec_id, path_id) != 0) {
        api_reply_error(r, 400, "invalid_field", "id: does not match the path");
        return -1;
    }
    snprintf(spec_id, len, "%s", path_id);
    return 0;
}

void api_change_not_found(api_req_t *r, const char *what, const char *id)
{
    api_reply_error(r, 404, "not_found", "no %s %.64s", what, id);
}
