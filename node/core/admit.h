/* admit: the admission chain of a publish or a play, one for every server
 * session (whatever its wire format). Core owns the chain and its types;
 * the layers above fill it with steps (admit_add_step(), at start-up, by
 * main.c through each layer's install function), so that a session calls
 * admit_check() without naming the layers that decide. The steps, by
 * order (ADMIT_ORDER_*):
 *   1. relay loop protection (node/relay/relay_admit.c): a request that
 *      carries relay parameters (hop count, via list) is checked; a refusal
 *      is recorded as a relay.refused event;
 *   2. drain (node/cluster/cluster_admit.c): a draining node admits nothing
 *      new;
 *   3. the "apps" rules (app_auth.h): address ranges, then a signed URL; a
 *      refusal is counted (node->auth_refused, weir_auth_refused_total) and
 *      logged at info;
 *   4. the authorizing hooks (hooks.h, on_publish / on_play): the request
 *      may wait for their decision; a denial is logged as a warning.
 * The first refusal ends the chain. With no step added, everything is
 * admitted (the fuzz target and unit tests that run no cluster).
 * The session turns the result into its protocol's answer; admit knows no
 * wire format.
 *
 * Ownership: admit_check() borrows the request (a step copies what it
 * keeps). A pending decision (admit_pending_t) belongs to admit: it is
 * freed by admit right before the callback runs, or by admit_cancel(); the
 * caller only keeps the pointer to cancel it and forgets it when the
 * callback comes. Steps are static tables owned by their layer.
 * Everything here runs on the loop thread only. */
#ifndef WEIR_ADMIT_H
#define WEIR_ADMIT_H

#include <stddef.h>

#include "conn.h" /* sess_info_t */

struct node;

/* The order of the steps that main.c installs (admit_step_t.order). */
enum {
    ADMIT_ORDER_RELAY = 10,
    ADMIT_ORDER_DRAIN = 20,
    ADMIT_ORDER_BAN = 25,
    ADMIT_ORDER_RULES = 30,
    ADMIT_ORDER_HOOKS = 40
};

#define ADMIT_WHY_MAX 256                   /* why, with its NUL */
#define ADMIT_DESC_MAX (ADMIT_WHY_MAX + 16) /* desc, with its NUL */

/* What is asked for; the values are app_auth_point_t's. */
typedef enum { ADMIT_PUBLISH = 0, ADMIT_PLAY = 1 } admit_point_t;

/* The outcome of the chain. */
typedef enum {
    ADMIT_OK = 0,       /* go ahead */
    ADMIT_PENDING,      /* waiting for the hooks: the callback will tell */
    ADMIT_RELAY_BAD,    /* the relay parameters could not be read */
    ADMIT_RELAY_HOPS,   /* too many relay hops */
    ADMIT_RELAY_LOOP,   /* relay loop: this node is already on the via list */
    ADMIT_DRAINING,     /* the node is draining */
    ADMIT_ADDRESS,      /* the remote address is not allowed */
    ADMIT_SIGN_MISSING, /* a signed URL is required and absent */
    ADMIT_SIGN_BAD,     /* wrong or malformed signature */
    ADMIT_SIGN_EXPIRED, /* a correct signature, expired */
    ADMIT_HOOK_DENIED,  /* a hook answered a non-2xx status */
    ADMIT_HOOK_TIMEOUT, /* a hook timed out or failed and the policy denies */
    ADMIT_HOOK_BUSY,    /* too many decisions pending, and the policy denies */
    ADMIT_NOMEM,        /* out of memory asking the hooks, and the policy denies */
    ADMIT_BANNED,       /* the address was kicked from this stream with a ban (ban.h) */
    ADMIT_NCODES
} admit_code_t;

/* A publish or play to admit. */
typedef struct {
    admit_point_t point;
    /* Who asks: conn_info() with app and name set; protocol names the log
     * lines ("<protocol>: play live/cam from ... refused: ..."). */
    const sess_info_t *si;
    const char *query; /* the request's query, for signed URLs and hooks ("" for none) */
    /* Relay parameters: 0 and "" for an ordinary client. */
    unsigned hops;
    const char *via;
    /* Not NULL: the relay parameters could not be read, and why. */
    const char *relay_error;
} admit_req_t;

typedef struct {
    admit_code_t code;
    /* Why, for logs and short answers: "node is draining", "bad signature",
     * "denied by hook h1 (HTTP 403)", "relay hop limit 8 reached (...)";
     * on ADMIT_OK after the hooks, their reason ("allowed"). */
    char why[ADMIT_WHY_MAX];
    /* A sentence for the client: "Denied: node is draining.",
     * "Unauthorized: bad signature", "Forbidden: address not allowed"; a
     * relay refusal is why itself. "" on ADMIT_OK and ADMIT_PENDING. */
    char desc[ADMIT_DESC_MAX];
    /* 1: admit has written the refusal's log line (app rules, hook
     * decisions); 0: the caller logs it as its protocol does. */
    int logged;
} admit_result_t;

typedef struct admit_pending admit_pending_t;

/* The hooks decided a pending request: r->code is ADMIT_OK,
 * ADMIT_HOOK_DENIED or ADMIT_HOOK_TIMEOUT (valid during the call). The
 * pending decision is already freed. */
typedef void (*admit_done_cb)(void *arg, const admit_result_t *r);

/* One step of the chain (a static table of its layer). */
typedef struct admit_step {
    const char *name; /* for logs: "relay", "drain", "apps", "hooks" */
    int order;        /* steps run by ascending order */
    /* Decides req: ADMIT_OK to go on with the next step; a refusal code
     * with out filled (admit_deny() helps); or, for a step with a wait
     * function, ADMIT_PENDING with *wait set: then cb(cb_arg, result) is
     * called exactly once, later (never inside check), unless cancel(*wait)
     * comes first. cb is NULL when admit could not allocate the pending
     * decision: the step must decide now (as if its decider were out of
     * memory). arg is admit_add_step()'s. */
    admit_code_t (*check)(void *arg, struct node *node, const admit_req_t *req, admit_done_cb cb,
                          void *cb_arg, void **wait, admit_result_t *out);
    /* Only for a step that may wait: forgets *wait; cb will not be called. */
    void (*cancel)(void *wait);
} admit_step_t;

/* Adds step (static, the layer's) with its arg to node's chain. A step that
 * may wait (cancel set) must come last: its answer ends the chain. Returns
 * 0; -1 when NODE_ADMIT_STEPS_MAX are added, or the order would put a step after
 * one that may wait. */
int admit_add_step(struct node *node, const admit_step_t *step, void *arg);

/* Fills out with a refusal: code, why, desc "Denied: <why>.", logged 0.
 * Returns code. */
admit_code_t admit_deny(admit_result_t *out, admit_code_t code, const char *why);

/* Runs the chain for req and fills out. Returns out->code:
 *   ADMIT_OK       admitted now;
 *   ADMIT_PENDING  *pending is set; cb(arg, ...) is called exactly once,
 *                  later (never inside this call), unless admit_cancel()
 *                  comes first;
 *   otherwise      refused (*pending NULL). */
admit_code_t admit_check(struct node *node, const admit_req_t *req, admit_done_cb cb, void *arg,
                         admit_pending_t **pending, admit_result_t *out);

/* The session went away: cb will not be called; p is freed. NULL: no-op. */
void admit_cancel(admit_pending_t *p);

/* 1 for the relay refusals (ADMIT_RELAY_*), else 0. */
int admit_is_relay(admit_code_t code);
/* 1 for the "apps" rule refusals (ADMIT_ADDRESS, ADMIT_SIGN_*), else 0. */
int admit_is_rule(admit_code_t code);
/* The reason code (reason.h) of a refusal that ends a session: drain,
 * loop, hop_limit, protocol (unreadable relay parameters) or refused;
 * REASON_NONE for ADMIT_OK and ADMIT_PENDING. */
reason_t admit_reason(admit_code_t code);
/* A name for logs and tests: "ok", "pending", "draining", "hook_denied"... */
const char *admit_code_name(admit_code_t code);

#endif
