/* hook_decide: the webhook manager's decisions (hooks.h: on_publish,
 * on_play).
 *
 *
 * Decisions: one call per deciding hook, all at once; the first non-2xx
 * status denies; a timeout or failed request denies at once when the
 * point's policy is deny, else counts as an allow. The result is delivered
 * from the decision's own event, never inside hook_decide().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common.h"
#include "evlog.h"
#include "hooks_internal.h"
#include "log.h"
#include "node.h"

/* A decision's request to one hook. */
typedef struct {
    hook_decision_t *d;
    call_t *call; /* NULL once answered */
    char hook_id[HOOK_ID_MAX];
} slot_t;

struct hook_decision {
    hook_mgr_t *m;
    hook_decision_t *prev, *next;
    int point; /* 0 on_publish, 1 on_play */
    hook_decide_cb cb;
    void *arg;
    struct event *fin; /* delivers the result */
    unsigned nslots, outstanding;
    int decided, allow, timeout; /* result once decided */
    int failed_allowed;          /* a hook failed and the policy allowed */
    int in_cb;
    char reason[192];
    slot_t slots[];
};

static const char *const POINT_NAMES[] = {"on_publish", "on_play"};

int hook_timeout_allows(const node_t *node, const char *point)
{
    if (point && strcmp(point, POINT_NAMES[0]) == 0)
        return node->conf.webhooks_on_publish_timeout_allow != 0;
    if (point && strcmp(point, POINT_NAMES[1]) == 0)
        return node->conf.webhooks_on_play_timeout_allow != 0;
    return 0;
}

static void decision_unlink(hook_decision_t *d)
{
    hook_mgr_t *m = d->m;
    if (d->prev)
        d->prev->next = d->next;
    else
        m->decisions = d->next;
    if (d->next)
        d->next->prev = d->prev;
    m->ndecisions--;
}

/* Cancels what is still in flight and frees d (no callback). */
static void decision_free(hook_decision_t *d)
{
    for (unsigned i = 0; i < d->nslots; i++) {
        hook_call_free(d->slots[i].call);
        d->slots[i].call = NULL;
    }
    if (d->fin)
        event_free(d->fin);
    decision_unlink(d);
    free(d);
}

/* Sets the result (first one wins) and schedules its delivery. */
static void decision_settle(hook_decision_t *d, int allow, int timeout, const char *reason)
{
    if (d->decided)
        return;
    d->decided = 1;
    d->allow = allow;
    d->timeout = timeout;
    if (reason != d->reason)
        snprintf(d->reason, sizeof d->reason, "%s", reason);
    for (unsigned i = 0; i < d->nslots; i++) {
        hook_call_free(d->slots[i].call); /* the others' answers no longer matter */
        d->slots[i].call = NULL;
    }
    event_active(d->fin, EV_TIMEOUT, 1);
}

/* A hook failed (timeout, no connection, no answer): the point's policy. */
static void decision_hook_failed(hook_decision_t *d, const char *hook_id, const char *what)
{
    char reason[192];
    int allow = hook_timeout_allows(d->m->node, POINT_NAMES[d->point]);
    snprintf(reason, sizeof reason, "hook %s %s: %s by policy", hook_id, what,
             allow ? "allowed" : "denied");
    if (!allow) {
        decision_settle(d, 0, 1, reason);
        return;
    }
    if (!d->failed_allowed)
        snprintf(d->reason, sizeof d->reason, "%s", reason);
    d->failed_allowed = 1;
    if (--d->outstanding == 0)
        decision_settle(d, 1, 1, d->reason);
}

static void decision_call_done(call_t *c)
{
    slot_t *s = c->owner;
    hook_decision_t *d = s->d;
    s->call = NULL;
    if (hook_call_ok(c)) {
        hook_call_free(c);
        if (--d->outstanding == 0)
            decision_settle(d, 1, d->failed_allowed, d->failed_allowed ? d->reason : "allowed");
        return;
    }
    char what[HOOK_ERR_MAX + 16];
    if (c->status) {
        snprintf(what, sizeof what, "denied by hook %s (HTTP %d)", s->hook_id, c->status);
        hook_call_free(c);
        decision_settle(d, 0, 0, what);
        return;
    }
    const char *e = c->err[0] ? c->err : "no answer";
    if (strcmp(e, "timed out") == 0)
        snprintf(what, sizeof what, "%s", e);
    else
        snprintf(what, sizeof what, "failed (%s)", e);
    hook_call_free(c);
    log_warn(0, "webhook %s: %s %s", s->hook_id, POINT_NAMES[d->point], what);
    decision_hook_failed(d, s->hook_id, what);
}

static void decision_fin_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hook_decision_t *d = arg;
    hook_mgr_t *m = d->m;
    int p = d->point;
    if (d->allow)
        (d->timeout ? m->counts.timeout_allow : m->counts.allow)[p]++;
    else
        (d->timeout ? m->counts.timeout_deny : m->counts.deny)[p]++;
    d->in_cb = 1; /* a cancel from inside cb is a no-op: d is freed below */
    d->cb(d->arg, d->allow, d->reason);
    decision_free(d);
}

/* The request body: {"id", "type", "node_id", "time", ...fields}. */
static char *decision_body(hook_mgr_t *m, const char *id, const char *point, cJSON *fields)
{
    cJSON *o =
        evlog_payload(cJSON_CreateString(id), point, node_id(m->node), weir_wall_ms(), fields);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

static int decides(const hook_t *h, const char *point)
{
    return h->spec.enabled && hook_spec_decides(&h->spec, point);
}

/* A decision refused before any request (too many pending, out of memory)
 * counts as a timeout: the caller applies the point's policy. */
static void count_refused(hook_mgr_t *m, int p)
{
    (hook_timeout_allows(m->node, POINT_NAMES[p]) ? m->counts.timeout_allow
                                                  : m->counts.timeout_deny)[p]++;
}

/* A decision of point p with one slot per deciding hook (n of them),
 * linked into m; NULL when out of memory. */
static hook_decision_t *decision_new(hook_mgr_t *m, int p, unsigned n, hook_decide_cb cb,
                                     void *arg)
{
    hook_decision_t *d = calloc(1, sizeof *d + n * sizeof(slot_t));
    if (d)
        d->fin = event_new(m->node->base, -1, 0, decision_fin_cb, d);
    if (!d || !d->fin) {
        free(d);
        return NULL;
    }
    d->m = m;
    d->point = p;
    d->cb = cb;
    d->arg = arg;
    d->nslots = n;
    d->outstanding = n;
    d->next = m->decisions;
    if (m->decisions)
        m->decisions->prev = d;
    m->decisions = d;
    m->ndecisions++;
    unsigned i = 0;
    for (hook_t *h = m->hooks; h && i < n; h = h->next) {
        if (!decides(h, POINT_NAMES[p]))
            continue;
        slot_t *s = &d->slots[i++];
        s->d = d;
        snprintf(s->hook_id, sizeof s->hook_id, "%s", h->spec.id);
    }
    return d;
}

/* Starts every request; a failure to start counts as a failed hook (the
 * result is delivered from d->fin, never here). */
static void decision_start(hook_decision_t *d, const char *id, const char *body)
{
    hook_mgr_t *m = d->m;
    const char *point = POINT_NAMES[d->point];
    size_t len = strlen(body);
    unsigned i = 0;
    for (hook_t *h = m->hooks; h && i < d->nslots && !d->decided; h = h->next) {
        if (!decides(h, point))
            continue;
        slot_t *s = &d->slots[i++];
        char err[HOOK_ERR_MAX];
        s->call = hook_call_start(m, &h->spec, point, id, body, len, decision_call_done, s, err,
                                  sizeof err);
        if (!s->call) {
            log_warn(0, "webhook %s: %s: %s", h->spec.id, point, err);
            decision_hook_failed(d, h->spec.id, "failed (cannot start the request)");
        }
    }
}

int hook_decide(hook_mgr_t *m, const char *point, cJSON *fields, hook_decide_cb cb, void *arg,
                hook_decision_t **out)
{
    *out = NULL;
    int p = point && strcmp(point, POINT_NAMES[0]) == 0   ? 0
            : point && strcmp(point, POINT_NAMES[1]) == 0 ? 1
                                                          : -1;
    unsigned n = 0;
    for (hook_t *h = m && p >= 0 ? m->hooks : NULL; h; h = h->next)
        n += decides(h, point);
    if (n == 0) {
        cJSON_Delete(fields);
        return 0;
    }
    if (m->ndecisions >= m->node->conf.webhooks_max_pending_decisions) {
        cJSON_Delete(fields);
        count_refused(m, p);
        return NODE_ELIMIT;
    }
    char id[32];
    snprintf(id, sizeof id, "d-%llu", (unsigned long long)++m->next_decision);
    char *body = decision_body(m, id, point, fields); /* fields taken */
    hook_decision_t *d = body ? decision_new(m, p, n, cb, arg) : NULL;
    if (!d) {
        cJSON_free(body);
        count_refused(m, p);
        return NODE_ENOMEM;
    }
    decision_start(d, id, body);
    cJSON_free(body);
    *out = d;
    return 0;
}

void hook_decision_cancel(hook_decision_t *d)
{
    if (!d || d->in_cb)
        return;
    decision_free(d);
}

void hook_decide_free_all(hook_mgr_t *m)
{
    while (m->decisions)
        decision_free(m->decisions);
}
