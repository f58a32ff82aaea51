/* admit: the admission chain of a publish or a play (see admit.h). */
#include "admit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_auth.h"
#include "common.h"
#include "evlog.h"
#include "hooks.h"
#include "log.h"
#include "node.h"
#include "relay.h"

struct admit_pending {
    hook_decision_t *d;
    admit_done_cb cb;
    void *arg;
    admit_point_t point;
    /* Who asked, for the log line of a denial (the request is gone). */
    uint64_t id;
    char protocol[16];
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    char remote[64];
};

static const char *const CODE_NAMES[ADMIT_NCODES] = {
    "ok",          "pending",      "relay_bad",    "relay_hops", "relay_loop",
    "draining",    "address",      "sign_missing", "sign_bad",   "sign_expired",
    "hook_denied", "hook_timeout", "hook_busy",    "nomem",
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

static const char *point_name(admit_point_t p)
{
    return app_auth_point_name((app_auth_point_t)p);
}

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

/* A refusal that admit does not log: why, and desc "Denied: <why>.". */
static admit_code_t deny(admit_result_t *out, admit_code_t code, const char *why)
{
    out->code = code;
    snprintf(out->why, sizeof out->why, "%s", why);
    snprintf(out->desc, sizeof out->desc, "Denied: %s.", why);
    out->logged = 0;
    return code;
}

/* Step 1: relay loop protection. 0, or -1 with out filled and the
 * relay.refused event recorded. */
static int check_relay(node_t *node, const admit_req_t *req, admit_result_t *out)
{
    const char *via = str_or_empty(req->via);
    char err[ADMIT_WHY_MAX];
    admit_code_t code = ADMIT_RELAY_BAD;
    if (req->relay_error) {
        snprintf(err, sizeof err, "%s", req->relay_error);
    } else if (req->hops == 0 && !via[0]) {
        return 0; /* an ordinary client */
    } else if (relay_check_request(node, req->hops, via, err, sizeof err) == 0) {
        return 0;
    } else {
        code = req->hops > node->conf.relay_max_hops ? ADMIT_RELAY_HOPS : ADMIT_RELAY_LOOP;
    }
    deny(out, code, err);
    snprintf(out->desc, sizeof out->desc, "%s", err);
    relay_refused_event(node, req->si, req->hops, via, err);
    return -1;
}

/* Step 3: the "apps" rules. 0, or -1 with out filled, counted and logged. */
static int check_rules(node_t *node, const admit_req_t *req, admit_result_t *out)
{
    static const admit_code_t CODES[APP_AUTH_NRESULTS] = {
        [APP_AUTH_ADDRESS] = ADMIT_ADDRESS,
        [APP_AUTH_MISSING] = ADMIT_SIGN_MISSING,
        [APP_AUTH_BAD] = ADMIT_SIGN_BAD,
        [APP_AUTH_EXPIRED] = ADMIT_SIGN_EXPIRED,
    };
    const sess_info_t *si = req->si;
    app_auth_point_t p = (app_auth_point_t)req->point;
    app_auth_result_t r = app_auth_check(&node->conf.apps, p, si->app, si->name, req->query,
                                         weir_wall_ms() / 1000, si->remote);
    if (r == APP_AUTH_OK)
        return 0;
    node->auth_refused[p][r]++;
    log_info(si->id, "%s: %s %s/%s from %s refused: %s", si->protocol, app_auth_point_name(p),
             si->app, si->name, si->remote, app_auth_why(r));
    deny(out, CODES[r], app_auth_why(r));
    snprintf(out->desc, sizeof out->desc, "%s", app_auth_describe(r));
    out->logged = 1;
    return -1;
}

static void decided(void *arg, int allow, const char *reason)
{
    admit_pending_t *p = arg;
    admit_result_t r;
    if (allow) {
        r.code = ADMIT_OK;
        snprintf(r.why, sizeof r.why, "%s", reason);
        r.desc[0] = '\0';
        r.logged = 0;
    } else {
        /* hooks.h: a timeout or a failed request is "... by policy". */
        size_t rl = strlen(reason), pl = strlen(" by policy");
        int policy = rl >= pl && strcmp(reason + rl - pl, " by policy") == 0;
        deny(&r, policy ? ADMIT_HOOK_TIMEOUT : ADMIT_HOOK_DENIED, reason);
        log_warn(p->id, "%s: %s %s/%s from %s refused: %s", p->protocol, point_name(p->point),
                 p->app, p->name, p->remote, reason);
        r.logged = 1;
    }
    admit_done_cb cb = p->cb;
    void *cb_arg = p->arg;
    free(p);
    cb(cb_arg, &r);
}

static admit_pending_t *pending_new(const admit_req_t *req, admit_done_cb cb, void *arg)
{
    admit_pending_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    const sess_info_t *si = req->si;
    p->cb = cb;
    p->arg = arg;
    p->point = req->point;
    p->id = si->id;
    snprintf(p->protocol, sizeof p->protocol, "%s", str_or_empty(si->protocol));
    snprintf(p->app, sizeof p->app, "%s", str_or_empty(si->app));
    snprintf(p->name, sizeof p->name, "%s", str_or_empty(si->name));
    snprintf(p->remote, sizeof p->remote, "%s", str_or_empty(si->remote));
    return p;
}

/* Step 4: the hooks. */
static admit_code_t ask_hooks(node_t *node, const admit_req_t *req, admit_done_cb cb, void *arg,
                              admit_pending_t **pending, admit_result_t *out)
{
    const char *hook_point = req->point == ADMIT_PUBLISH ? "on_publish" : "on_play";
    admit_pending_t *p = pending_new(req, cb, arg);
    cJSON *f = p ? conn_event_fields(req->si) : NULL;
    if (f) {
        cJSON_AddStringToObject(f, "query", str_or_empty(req->query));
        cJSON_AddNumberToObject(f, "hops", req->hops);
    }
    hook_decision_t *d = NULL;
    int rc = f ? hook_decide(node->hooks, hook_point, f, decided, p, &d) : NODE_ENOMEM;
    if (rc == 0 && d) {
        p->d = d;
        *pending = p;
        out->code = ADMIT_PENDING;
        log_debug(req->si->id, "%s: %s %s/%s: waiting for the hooks' decision", req->si->protocol,
                  point_name(req->point), req->si->app, req->si->name);
        return ADMIT_PENDING;
    }
    free(p);
    if (rc != 0 && !hook_timeout_allows(node, hook_point)) {
        if (rc == NODE_ELIMIT)
            return deny(out, ADMIT_HOOK_BUSY, "too many decisions pending");
        return deny(out, ADMIT_NOMEM, "out of memory");
    }
    return ADMIT_OK;
}

admit_code_t admit_check(node_t *node, const admit_req_t *req, admit_done_cb cb, void *arg,
                         admit_pending_t **pending, admit_result_t *out)
{
    memset(out, 0, sizeof *out);
    *pending = NULL;
    if (check_relay(node, req, out) != 0)
        return out->code;
    if (node->draining)
        return deny(out, ADMIT_DRAINING, "node is draining");
    if (check_rules(node, req, out) != 0)
        return out->code;
    return ask_hooks(node, req, cb, arg, pending, out);
}

void admit_cancel(admit_pending_t *p)
{
    if (!p)
        return;
    hook_decision_cancel(p->d);
    free(p);
}
