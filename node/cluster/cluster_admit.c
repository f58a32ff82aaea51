/* cluster_admit: drain, rules and hooks steps of admission (see
 * cluster_admit.h and admit.h). */
#include "cluster_admit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "app_auth.h"
#include "ban.h"
#include "common.h"
#include "hooks.h"
#include "log.h"
#include "node.h"

/* The hooks step's wait: the hooks' decision, and who asked, for the log
 * line of a denial (the request is gone by then). */
typedef struct hook_wait {
    hook_decision_t *d;
    admit_done_cb cb;
    void *arg;
    admit_point_t point;
    uint64_t id;
    char protocol[16];
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    char remote[64];
} hook_wait_t;

static const char *point_name(admit_point_t p)
{
    return app_auth_point_name((app_auth_point_t)p);
}

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

/* The drain step: a draining node admits nothing new. */
static admit_code_t check_drain(void *arg, node_t *node, const admit_req_t *req, admit_done_cb cb,
                                void *cb_arg, void **wait, admit_result_t *out)
{
    (void)arg, (void)req, (void)cb, (void)cb_arg, (void)wait;
    if (node->draining)
        return admit_deny(out, ADMIT_DRAINING, "node is draining");
    return ADMIT_OK;
}

/* The "apps" rules step: a refusal is counted and logged. */
static admit_code_t check_rules(void *arg, node_t *node, const admit_req_t *req, admit_done_cb cb,
                                void *cb_arg, void **wait, admit_result_t *out)
{
    static const admit_code_t CODES[APP_AUTH_NRESULTS] = {
        [APP_AUTH_ADDRESS] = ADMIT_ADDRESS,
        [APP_AUTH_MISSING] = ADMIT_SIGN_MISSING,
        [APP_AUTH_BAD] = ADMIT_SIGN_BAD,
        [APP_AUTH_EXPIRED] = ADMIT_SIGN_EXPIRED,
    };
    (void)arg, (void)cb, (void)cb_arg, (void)wait;
    const sess_info_t *si = req->si;
    app_auth_point_t p = (app_auth_point_t)req->point;
    app_auth_result_t r = app_auth_check(&node->conf.apps, p, si->app, si->name, req->query,
                                         weir_wall_ms() / 1000, si->remote);
    if (r == APP_AUTH_OK)
        return ADMIT_OK;
    node->auth_refused[p][r]++;
    log_info(si->id, "%s: %s %s/%s from %s refused: %s", si->protocol, app_auth_point_name(p),
             si->app, si->name, si->remote, app_auth_why(r));
    admit_deny(out, CODES[r], app_auth_why(r));
    snprintf(out->desc, sizeof out->desc, "%s", app_auth_describe(r));
    out->logged = 1;
    return out->code;
}

static void decided(void *arg, int allow, const char *reason)
{
    hook_wait_t *w = arg;
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
        admit_deny(&r, policy ? ADMIT_HOOK_TIMEOUT : ADMIT_HOOK_DENIED, reason);
        log_warn(w->id, "%s: %s %s/%s from %s refused: %s", w->protocol, point_name(w->point),
                 w->app, w->name, w->remote, reason);
        r.logged = 1;
    }
    admit_done_cb cb = w->cb;
    void *cb_arg = w->arg;
    free(w);
    cb(cb_arg, &r);
}

static hook_wait_t *wait_new(const admit_req_t *req, admit_done_cb cb, void *arg)
{
    hook_wait_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    const sess_info_t *si = req->si;
    w->cb = cb;
    w->arg = arg;
    w->point = req->point;
    w->id = si->id;
    snprintf(w->protocol, sizeof w->protocol, "%s", str_or_empty(si->protocol));
    snprintf(w->app, sizeof w->app, "%s", str_or_empty(si->app));
    snprintf(w->name, sizeof w->name, "%s", str_or_empty(si->name));
    snprintf(w->remote, sizeof w->remote, "%s", str_or_empty(si->remote));
    return w;
}

/* The hooks step: asks the authorizing hooks of the point, and waits. */
static admit_code_t ask_hooks(void *arg, node_t *node, const admit_req_t *req, admit_done_cb cb,
                              void *cb_arg, void **wait, admit_result_t *out)
{
    (void)arg;
    const char *hook_point = req->point == ADMIT_PUBLISH ? "on_publish" : "on_play";
    hook_wait_t *w = cb ? wait_new(req, cb, cb_arg) : NULL;
    cJSON *f = w ? conn_event_fields(req->si) : NULL;
    if (f) {
        cJSON_AddStringToObject(f, "query", str_or_empty(req->query));
        cJSON_AddNumberToObject(f, "hops", req->hops);
    }
    hook_decision_t *d = NULL;
    int rc = f ? hook_decide(node->hooks, hook_point, f, decided, w, &d) : NODE_ENOMEM;
    if (rc == 0 && d) {
        w->d = d;
        *wait = w;
        log_debug(req->si->id, "%s: %s %s/%s: waiting for the hooks' decision", req->si->protocol,
                  point_name(req->point), req->si->app, req->si->name);
        return ADMIT_PENDING;
    }
    free(w);
    if (rc != 0 && !hook_timeout_allows(node, hook_point)) {
        if (rc == NODE_ELIMIT)
            return admit_deny(out, ADMIT_HOOK_BUSY, "too many decisions pending");
        return admit_deny(out, ADMIT_NOMEM, "out of memory");
    }
    return ADMIT_OK;
}

static void cancel_hooks(void *wait)
{
    hook_wait_t *w = wait;
    hook_decision_cancel(w->d);
    free(w);
}

static const admit_step_t DRAIN_STEP = {"drain", ADMIT_ORDER_DRAIN, check_drain, NULL};
static const admit_step_t RULES_STEP = {"apps", ADMIT_ORDER_RULES, check_rules, NULL};
static const admit_step_t HOOKS_STEP = {"hooks", ADMIT_ORDER_HOOKS, ask_hooks, cancel_hooks};

int cluster_admit_install(node_t *node)
{
    if (admit_add_step(node, &DRAIN_STEP, NULL) != 0 ||
        admit_add_step(node, &RULES_STEP, NULL) != 0 ||
        admit_add_step(node, &HOOKS_STEP, NULL) != 0 || ban_install(node) != 0)
        return -1;
    return 0;
}
