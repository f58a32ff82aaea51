/* hooks_internal: what the webhook manager's files share (hooks.c: the
 * manager, its hooks and the API's changes; hook_call.c: one HTTP request;
 * hook_notify.c: the notification queues; hook_decide.c: the decisions).
 * The types are owned by the manager (hook_mgr_t): a hook_t by its manager,
 * a call_t by whoever started it (a hook's delivery or a decision's slot).
 * Everything here runs on the loop thread only.
 */
#ifndef WEIR_HOOKS_INTERNAL_H
#define WEIR_HOOKS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>

#include "hooks.h"
#include "spec_store.h"

struct node;

#define HOOK_MAX 256               /* hooks at most (config and API) */
#define HOOK_LOG_INTERVAL_MS 10000 /* drop messages per hook at most this often */
#define HOOK_RESP_HEADERS_MAX 8192 /* a hook's answer: headers */
#define HOOK_RESP_BODY_MAX 65536   /* a hook's answer: body (ignored) */
#define HOOK_ERR_MAX 128

/* ---- requests (hook_call.c) --------------------------------------------- */

typedef struct call call_t;
typedef void (*call_done_fn)(call_t *c);

struct call {
    hook_mgr_t *m;
    struct evhttp_connection *evcon;
    struct event *timer; /* deadline */
    struct event *fin;   /* runs done after the request callback */
    int finished;        /* status or err is final */
    int status;          /* HTTP status, 0 when none */
    struct ssl_st *ssl;  /* https://: the session (owned by evcon's bufferevent), else NULL */
    int tls_state;       /* https://: 0 no handshake yet, 1 started, 2 done */
    char err[HOOK_ERR_MAX];
    call_done_fn done; /* frees the call (call_free) */
    void *owner;
};

/* Starts a POST of body to spec's URL with the headers of hooks.h (over
 * TLS for https://, verified as tls_client.h says: a failure's text starts
 * with its reason code, "tls_verify: certificate verify failed: ..." or
 * "tls_handshake: ...").
 * Returns the call (done will be called once, from one of the call's own
 * events, never inside this call, unless hook_call_free() comes first), or
 * NULL with err set. */
call_t *hook_call_start(hook_mgr_t *m, const hook_spec_t *spec, const char *event_type,
                        const char *delivery, const char *body, size_t len, call_done_fn done,
                        void *owner, char *err, size_t errlen);
/* Cancels the call if still in flight (no callback) and frees it. NULL:
 * no-op. */
void hook_call_free(call_t *c);
/* 1 if the call got a 2xx answer. */
int hook_call_ok(const call_t *c);
/* "HTTP 503" or the error text, for logs and state. */
void hook_call_result(const call_t *c, char *out, size_t outlen);

/* ---- notifications (hook_notify.c) -------------------------------------- */

/* One event's payload, shared by the hooks' queues. */
typedef struct body {
    unsigned refs;
    uint64_t id;
    char type[32];
    size_t len;
    char text[];
} body_t;

typedef struct item {
    struct item *next;
    body_t *body;
    uint32_t attempts; /* made so far */
} item_t;

/* Rate-limited warning: one line per interval, with the count held back. */
typedef struct {
    int64_t last_ms;
    uint64_t held;
} limiter_t;

typedef struct hook {
    hook_spec_t spec;
    struct hook *next; /* sorted by id */
    hook_mgr_t *m;
    item_t *q_head, *q_tail; /* waiting */
    size_t nq;
    item_t *cur;         /* being delivered */
    call_t *call;        /* cur's request in flight, or NULL */
    int64_t retry_at_ms; /* cur waits until then (when no call) */
    uint64_t delivered, failed, dropped, retries;
    int last_status; /* 0: none */
    char last_error[HOOK_ERR_MAX];
    int64_t last_wall_ms; /* last attempt's end, 0: none */
    limiter_t overflow_log, giveup_log;
} hook_t;

/* Starts the next attempt of h when nothing is in flight and the time of
 * the event being delivered came. */
void hook_notify_pump(hook_t *h, int64_t now_ms);
/* Drops what h has waiting or in flight (no callback). */
void hook_notify_clear(hook_t *h);
/* The manager's kick event: starts the deliveries queued by
 * hook_mgr_notify(), from the loop rather than inside the emitter. */
void hook_notify_kick_cb(evutil_socket_t fd, short what, void *arg);

/* ---- decisions (hook_decide.c) ------------------------------------------ */

/* Cancels every pending decision of m (no callback) and frees them. */
void hook_decide_free_all(hook_mgr_t *m);

/* ---- the manager (hooks.c) ---------------------------------------------- */

struct hook_mgr {
    struct node *node;
    hook_t *hooks;
    size_t nhooks;
    hook_decision_t *decisions;
    size_t ndecisions;
    uint64_t next_decision;
    spec_store_t store; /* pending API changes */
    struct event *kick; /* deferred work: starting deliveries */
    uint64_t rng;
    hook_decision_counts_t counts;
};

#endif
