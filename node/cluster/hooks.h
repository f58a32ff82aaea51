/* hooks: the webhook manager. It owns every hook target (config-file ones
 * and API ones kept in SQLite) and delivers, from the event loop with
 * libevent's HTTP client, never blocking media:
 *   notifications  every event of the log (evlog_emit()) whose type a hook
 *                  wants is POSTed to it as JSON: {"id", "type", "node_id",
 *                  "time", ...the event's own fields}. Per hook: a bounded
 *                  FIFO (webhooks.queue_max; overflow drops the oldest,
 *                  counted and logged), one request in flight (order kept),
 *                  retries with exponential backoff (webhooks.retry_initial_ms
 *                  .. retry_max_ms) up to webhooks.max_attempts, then the
 *                  event is dropped (counted, logged).
 *   decisions      on_publish / on_play: before a client may publish or play,
 *                  every enabled hook that decides that point is asked at
 *                  once (no retries, the hook's timeout_ms); all must answer
 *                  2xx. Any other status denies at once. A timeout or a
 *                  failed request follows webhooks.on_publish_timeout
 *                  (default "deny") / webhooks.on_play_timeout ("allow").
 * Every request carries Content-Type: application/json, User-Agent
 * weir/VERSION, X-Weir-Event (the type), X-Weir-Delivery (the event id, or
 * the decision's id), X-Weir-Node (node id) and, when the hook has a secret,
 * X-Weir-Signature: sha256=<lowercase hex HMAC-SHA256(secret, body)>.
 *
 * Changes from the API are stored first (storage thread) and applied when
 * committed, like relays (relay.h), so a 2xx survives kill -9.
 * The manager (node->hooks) owns its hooks, their queues and requests, and
 * the pending decisions; the API reads it through snapshot structs
 * (hook_stat_t) and renders them itself. Files: hooks.c (manager, changes,
 * snapshots), hook_notify.c, hook_decide.c, hook_call.c (hooks_internal.h).
 * Everything here runs on the loop thread only.
 */
#ifndef WEIR_HOOKS_H
#define WEIR_HOOKS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "hook_spec.h"
#include "spec_store.h" /* spec_done_cb */

struct node;
typedef struct hook_mgr hook_mgr_t;
typedef struct hook_decision hook_decision_t;

/* Creates the manager: loads the config-file hooks (node->conf.hooks_json)
 * and the API hooks from storage. Returns NULL with a message in err. */
hook_mgr_t *hook_mgr_new(struct node *node, char *err, size_t errlen);
/* Cancels every request in flight (decisions pending are not called back:
 * their sessions are gone first), drops the queues and frees. NULL: no-op. */
void hook_mgr_free(hook_mgr_t *m);
/* Every ~250 ms: retry deadlines. */
void hook_mgr_tick(hook_mgr_t *m, int64_t now_ms);
/* The daemon's start (main.c), after node_set_storage() and before the
 * node.start event (so that it is delivered): makes the manager
 * (node->hooks) and adds it to the node's tick and shutdown (node.h: the
 * exit waits for hook_mgr_pending(); freed after the sessions close, at
 * node_free()). Returns 0 or -1 with a message in err. */
int hook_mgr_start(struct node *node, char *err, size_t errlen);

/* Notifications not delivered yet (waiting, in flight or waiting for a
 * retry), over every hook. The node's shutdown waits for them to reach 0,
 * up to webhooks.shutdown_flush_ms. m may be NULL (0). */
size_t hook_mgr_pending(const hook_mgr_t *m);

/* A new event of the log: payload is the complete JSON object ("id",
 * "type", "node_id", "time" and the fields), borrowed; queued to every
 * enabled hook whose events list holds type (or "*"). Called by
 * evlog_emit() only. */
void hook_mgr_notify(hook_mgr_t *m, const char *type, const cJSON *payload);

/* ---- decisions ---------------------------------------------------------- */

/* allow: 1 or 0. reason (valid during the call): why, for logs and the
 * client ("denied by hook h1 (HTTP 403)", "hook h1 timed out: denied by
 * policy"). */
typedef void (*hook_decide_cb)(void *arg, int allow, const char *reason);

/* Asks the hooks that decide point ("on_publish" or "on_play"). fields (taken
 * over, freed here): the request's own fields (session_id, app, name, query,
 * protocol, remote, hops); the manager adds id, type (= point), node_id and
 * time. Returns:
 *   0 with *out NULL: no enabled hook decides this point: go ahead now;
 *   0 with *out set:  wait; cb is called exactly once, later (never inside
 *                     this call), unless hook_decision_cancel() comes first;
 *   NODE_ELIMIT / NODE_ENOMEM: too many decisions pending
 *                     (webhooks.max_pending_decisions) or out of memory; the
 *                     caller applies the point's timeout policy
 *                     (hook_timeout_allows()).
 * m may be NULL (no hooks): 0 with *out NULL. */
int hook_decide(hook_mgr_t *m, const char *point, cJSON *fields, hook_decide_cb cb, void *arg,
                hook_decision_t **out);
/* The session went away: cb will not be called. d may be NULL. */
void hook_decision_cancel(hook_decision_t *d);
/* The configured policy of point on timeout: 1 allow, 0 deny. */
int hook_timeout_allows(const struct node *node, const char *point);

/* ---- the API ------------------------------------------------------------ */

/* A change's result (spec_store.h): called once, on the loop thread, right
 * after the change was applied (rc 0; created 1 when a put made the hook)
 * or came to nothing (rc non-zero, err says why), before any later change
 * is applied. */
typedef spec_done_cb hook_done_cb;

/* Changes from the API are queued and taken one at a time, in the order
 * submitted: at its turn a change is checked against the committed hooks,
 * written to storage, and applied once committed. Refusals, with err:
 * NODE_ENOTFOUND (DELETE: "no hook h1"), NODE_EBUSY (a config-file hook:
 * "id: hook h1 comes from the config file and is read-only"; POST
 * (create_only): "id: hook h1 already exists"), NODE_EINVAL (a spec that is
 * not valid; checked at once), NODE_ELIMIT / NODE_ENOMEM (too many hooks or
 * changes waiting, storage busy, out of memory), NODE_EPRECOND (if_match,
 * an HTTP If-Match value, NULL or "" for none, does not match
 * hook_spec_etag() of the hook as committed, or it does not exist). A PUT
 * of the committed spec again is not written and changes nothing. When nothing else is
 * queued a refusal is returned at once and done is never called; else the
 * call returns 0 and done hears the result, never inside the call. */

/* Creates or replaces the API hook spec->id (id required; create_only: a
 * POST, refused when the id exists). */
int hook_mgr_put(hook_mgr_t *m, const hook_spec_t *spec, int create_only, const char *if_match,
                 hook_done_cb done, void *arg, char *err, size_t errlen);
/* Deletes the API hook id (its queue is dropped). */
int hook_mgr_delete(hook_mgr_t *m, const char *id, const char *if_match, hook_done_cb done,
                    void *arg, char *err, size_t errlen);
/* The entity tag (spec_etag(), the node's key, the secret included) of a
 * hook's spec: 0, or -1 out of memory. Needs no manager. */
int hook_spec_etag(const struct node *node, const hook_spec_t *spec, char out[SPEC_ETAG_MAX]);
/* Changes queued or in flight (0 for NULL): at shutdown, storage is synced
 * until none is left, since each is written only after the one before. */
size_t hook_mgr_changes_waiting(const hook_mgr_t *m);
/* The hook's spec, or NULL. Valid until the loop runs again. */
const hook_spec_t *hook_mgr_spec(hook_mgr_t *m, const char *id);
/* A new id not in use ("h-" and 12 hex digits), for POST without an id. */
void hook_mgr_new_id(hook_mgr_t *m, char out[HOOK_ID_MAX]);

/* ---- snapshots and counters --------------------------------------------- */

/* One hook as the manager sees it now: its spec and its delivery state.
 * The pointers are borrowed: valid until the loop runs again (for
 * hook_mgr_foreach(), during the callback). api/ turns it into JSON; a
 * zeroed one with only spec set is a hook that has delivered nothing. */
typedef struct {
    const hook_spec_t *spec;
    size_t queued; /* waiting, in flight or waiting for a retry */
    uint64_t delivered, failed, dropped, retries;
    int last_status;        /* HTTP status of the last attempt; 0: none */
    const char *last_error; /* the last attempt's error; NULL or "": none */
    int64_t last_wall_ms;   /* the last attempt's end, Unix ms; 0: none */
    /* Not filled by the manager (an HMAC per hook would be paid by every
     * /metrics scrape): the API sets it with hook_spec_etag() for the hooks
     * it renders. "": none. */
    char etag[SPEC_ETAG_MAX];
} hook_stat_t;
/* The hook id: 0 with *out set, or NODE_ENOTFOUND (also for m NULL). */
int hook_mgr_stat(const hook_mgr_t *m, const char *id, hook_stat_t *out);
/* Every hook, ordered by id (for the API's list and /metrics). */
void hook_mgr_foreach(const hook_mgr_t *m, void (*cb)(const hook_stat_t *st, void *arg), void *arg);
/* Decision totals, for /metrics: by point (0 on_publish, 1 on_play) and
 * outcome. */
typedef struct {
    uint64_t allow[2], deny[2], timeout_allow[2], timeout_deny[2];
} hook_decision_counts_t;
void hook_mgr_decision_counts(const hook_mgr_t *m, hook_decision_counts_t *out);

#endif
