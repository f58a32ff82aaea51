/* admit: the admission chain of a publish or a play (see admit.h). */
#include "admit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

/* A decision that a waiting step will give: the session's callback, and
 * the step's own wait state to cancel. */
struct admit_pending {
    const admit_step_t *step;
    void *wait;
    admit_done_cb cb;
    void *arg;
};

static const char *const CODE_NAMES[ADMIT_NCODES] = {
    "ok",          "pending",      "relay_bad",    "relay_hops", "relay_loop",
    "draining",    "address",      "sign_missing", "sign_bad",   "sign_expired",
    "hook_denied", "hook_timeout", "hook_busy",    "nomem",      "banned",
};

const char *admit_code_name(admit_code_t code)
{
    return code < ADMIT_NCODES ? CODE_NAMES[code] : "?";
}

int admit_is_relay(admit_code_t code)
{
    return code == ADMIT_RELAY_BAD || code == ADMIT_RELAY_HOPS || code == ADMIT_RELAY_LOOP;
}

int admit_is_rule(admit_code_t code)
{
    return code == ADMIT_ADDRESS || code == ADMIT_SIGN_MISSING || code == ADMIT_SIGN_BAD ||
           code == ADMIT_SIGN_EXPIRED;
}

reason_t admit_reason(admit_code_t code)
{
    switch (code) {
    case ADMIT_OK:
    case ADMIT_PENDING: return REASON_NONE;
    case ADMIT_DRAINING: return REASON_DRAIN;
    case ADMIT_RELAY_LOOP: return REASON_LOOP;
    case ADMIT_RELAY_HOPS: return REASON_HOP_LIMIT;
    case ADMIT_RELAY_BAD: return REASON_PROTOCOL;
    default: return REASON_REFUSED;
    }
}

admit_code_t admit_deny(admit_result_t *out, admit_code_t code, const char *why)
{
    out->code = code;
    snprintf(out->why, sizeof out->why, "%s", why);
    snprintf(out->desc, sizeof out->desc, "Denied: %s.", why);
    out->logged = 0;
    return code;
}

int admit_add_step(node_t *node, const admit_step_t *step, void *arg)
{
    size_t n = node->nadmit_steps, at = n;
    if (n == NODE_ADMIT_STEPS_MAX)
        return -1;
    while (at > 0 && node->admit_steps[at - 1].step->order > step->order)
        at--;
    /* A step that may wait ends the chain: nothing may follow it. */
    if (at > 0 && node->admit_steps[at - 1].step->cancel)
        return -1;
    if (at < n && step->cancel)
        return -1;
    memmove(&node->admit_steps[at + 1], &node->admit_steps[at],
            (n - at) * sizeof node->admit_steps[0]);
    node->admit_steps[at].step = step;
    node->admit_steps[at].arg = arg;
    node->nadmit_steps = n + 1;
    return 0;
}

/* The waiting step decided: the pending decision is freed before the
 * session hears of it (admit.h). */
static void decided(void *arg, const admit_result_t *r)
{
    admit_pending_t *p = arg;
    admit_done_cb cb = p->cb;
    void *cb_arg = p->arg;
    free(p);
    cb(cb_arg, r);
}

/* Runs one step that may wait. */
static admit_code_t check_waiting(node_t *node, size_t i, const admit_req_t *req, admit_done_cb cb,
                                  void *arg, admit_pending_t **pending, admit_result_t *out)
{
    const admit_step_t *step = node->admit_steps[i].step;
    admit_pending_t *p = calloc(1, sizeof *p);
    if (p) {
        p->step = step;
        p->cb = cb;
        p->arg = arg;
    }
    admit_code_t code = step->check(node->admit_steps[i].arg, node, req, p ? decided : NULL, p,
                                    p ? &p->wait : NULL, out);
    if (code == ADMIT_PENDING && p) {
        out->code = ADMIT_PENDING;
        *pending = p;
        return code;
    }
    free(p);
    return code == ADMIT_PENDING ? admit_deny(out, ADMIT_NOMEM, "out of memory") : code;
}

admit_code_t admit_check(node_t *node, const admit_req_t *req, admit_done_cb cb, void *arg,
                         admit_pending_t **pending, admit_result_t *out)
{
    memset(out, 0, sizeof *out);
    *pending = NULL;
    for (size_t i = 0; i < node->nadmit_steps; i++) {
        const admit_step_t *step = node->admit_steps[i].step;
        admit_code_t code;
        if (step->cancel)
            code = check_waiting(node, i, req, cb, arg, pending, out);
        else
            code = step->check(node->admit_steps[i].arg, node, req, NULL, NULL, NULL, out);
        if (code != ADMIT_OK)
            return code;
    }
    out->code = ADMIT_OK;
    return ADMIT_OK;
}

void admit_cancel(admit_pending_t *p)
{
    if (!p)
        return;
    p->step->cancel(p->wait);
    free(p);
}
