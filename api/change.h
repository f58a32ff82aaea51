/* change: one API change (POST, PUT, PATCH or DELETE of a relay or a hook)
 * waiting for its turn and its storage write. The managers (node/relay/relay.h,
 * node/cluster/hooks.h) take changes one at a time in the order submitted, check
 * each against what is committed, store it, apply it once committed and
 * call a done callback, once, on the loop thread, right after; the request
 * is suspended until then, so a 2xx survives kill -9 and says what the
 * change did. The route file makes an api_change_t, hands api_change_done
 * and the change to its manager, then calls api_change_submitted(), which
 * answers a refusal, answers at once when done already ran, or suspends.
 * The change owns itself: it is freed when it has answered. */
#ifndef WEIR_API_CHANGE_H
#define WEIR_API_CHANGE_H

#include <cjson/cJSON.h>

#include "api_internal.h"
#include "spec_store.h" /* spec_result_t */

#define API_CHANGE_ID_MAX 64 /* RELAY_ID_MAX, HOOK_ID_MAX */

typedef enum {
    API_CHANGE_POST,
    API_CHANGE_PUT,
    API_CHANGE_PATCH,
    API_CHANGE_DELETE
} api_change_op_t;

/* The object ("relay", "hook") as the committed change left it, or NULL
 * (logged, 500). Called from done, right after the manager applied the
 * change and before any other change is applied; spec is the committed
 * spec (spec_result_t), to render from when the manager is gone. */
typedef cJSON *(*api_change_render_fn)(api_req_t *r, const char *id, const void *spec);

typedef struct {
    api_req_t *r;
    api_change_op_t op;
    const char *what; /* "relay", "hook": for messages; static */
    api_change_render_fn render;
    char id[API_CHANGE_ID_MAX];
    int in_call; /* inside the manager's call: done must not answer yet */
    int finished;
    int rc; /* the result (spec_result_t), kept for a late answer */
    int created;
    cJSON *body; /* rendered in done when it cannot answer yet */
    char err[SPEC_STORE_ERR_MAX];
    /* The request's If-Match header ("" for none): the manager checks it at
     * the change's turn (412 precondition_failed when it does not match). */
    char if_match[SPEC_IF_MATCH_MAX];
} api_change_t;

/* When the node's storage file is lost (node_t.storage_lost): answers 503
 * "storage lost: ..." and returns -1, so that nothing is acknowledged that
 * a restart would lose; else 0. For every route whose change is stored. */
int api_storage_lost_refuse(api_req_t *r);

/* A new change for request r, or NULL after answering 503 (out of memory,
 * storage lost) or 400 (an If-Match header over SPEC_IF_MATCH_MAX - 1
 * bytes).
 * The caller then passes it to its manager with api_change_done. */
api_change_t *api_change_new(api_req_t *r, api_change_op_t op, const char *what, const char *id,
                             api_change_render_fn render);
/* The managers' done callback (arg: the change): res->rc 0 committed and
 * applied (201 when res->created, else 200, with the object's ETag; DELETE
 * 204); NODE_EIO the write failed (503, nothing changed); a refusal at the
 * change's turn (404, 409, 400, 412, 503). */
void api_change_done(void *arg, const spec_result_t *res);
/* After the manager's put/delete returned rc (err: its message): a refusal
 * is answered (404, 409, 400, 503, 500) and the change freed; else the
 * request is answered now (done already ran) or suspended. */
void api_change_submitted(api_change_t *c, int rc, const char *err);

/* ---- request checks shared by the relay and hook routes ---------------- */

/* A module's body reader (relay_spec_from_json(), hook_spec_from_json()):
 * fills out from body (base: the current object for a PATCH, else NULL),
 * or returns non-zero with a message naming the field in err. */
typedef int (*api_spec_parse_fn)(const cJSON *body, const void *base, void *out, char *err,
                                 size_t errlen);
/* Reads the JSON object body with parse. Returns 0, or -1 after a 400. */
int api_change_body(api_req_t *r, api_spec_parse_fn parse, const void *base, void *out);
/* PUT before its body: 400 naming id when valid is 0 (the path id is not
 * an id), 409 when from_config (the object comes from the config file and
 * is read-only). Returns 0, or -1 after answering. */
int api_change_put_check(api_req_t *r, const char *what, const char *id, int valid,
                         int from_config);
/* PUT after its body: spec_id (the body's id, "" if none) must be the path's
 * id; it is then set to it. Returns 0, or -1 after a 400. */
int api_change_put_id(api_req_t *r, char *spec_id, size_t len, const char *path_id);
/* A 404 "no <what> <id>". */
void api_change_not_found(api_req_t *r, const char *what, const char *id);

#endif
