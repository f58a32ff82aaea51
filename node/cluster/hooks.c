/* hooks: the webhook manager (see hooks.h): its hooks (config-file and API
 * ones, a list sorted by id), the API's changes (spec_store.h), the
 * snapshots and counters, and its place in the node (tick, shutdown).
 * Delivery is in hook_notify.c, decisions in hook_decide.c, the HTTP
 * requests of both in hook_call.c (hooks_internal.h).
 */
#include "hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common.h"
#include "hooks_internal.h"
#include "log.h"
#include "node.h"
#include "spec_store.h"
#include "storage.h"

/* An API change waiting for its turn and its storage write (spec_store.h):
 * checked against the committed hooks at its turn, applied once committed.
 * Owned by the store; loop thread. */
typedef struct {
    spec_change_t base;
    int create_only;  /* POST: refused when the id exists */
    hook_spec_t spec; /* put: the new spec */
    hook_t *fresh;    /* a new hook made at its turn, so that applying it
                       * cannot fail; owned until settle inserts it */
} change_t;

static hook_t *hook_find(const hook_mgr_t *m, const char *id)
{
    for (hook_t *h = m->hooks; h; h = h->next)
        if (strcmp(h->spec.id, id) == 0)
            return h;
    return NULL;
}

/* ---- hooks: add, replace, remove ---------------------------------------- */

static void hook_destroy(hook_t *h)
{
    if (!h)
        return;
    hook_notify_clear(h);
    free(h);
}

static hook_t *hook_new(hook_mgr_t *m, const hook_spec_t *spec)
{
    hook_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->spec = *spec;
    h->m = m;
    return h;
}

static void hook_insert(hook_mgr_t *m, hook_t *h)
{
    hook_t **pp = &m->hooks;
    while (*pp && strcmp((*pp)->spec.id, h->spec.id) < 0)
        pp = &(*pp)->next;
    h->next = *pp;
    *pp = h;
    m->nhooks++;
}

static hook_t *hook_add(hook_mgr_t *m, const hook_spec_t *spec)
{
    hook_t *h = hook_new(m, spec);
    if (h)
        hook_insert(m, h);
    return h;
}

static void hook_remove(hook_mgr_t *m, const char *id)
{
    for (hook_t **pp = &m->hooks; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->spec.id, id) == 0) {
            hook_t *h = *pp;
            *pp = h->next;
            m->nhooks--;
            hook_destroy(h);
            return;
        }
    }
}

/* spec_load_fn: one config-file or stored hook. */
static int load_one(void *owner, const cJSON *obj, int from_config, char *err, size_t errlen)
{
    hook_mgr_t *m = owner;
    hook_spec_t spec;
    if (hook_spec_from_json(obj, &spec, err, errlen) != 0)
        return -1;
    spec.source = from_config ? HOOK_SRC_CONFIG : HOOK_SRC_API;
    if (!spec.id[0]) {
        snprintf(err, errlen, "id: missing");
        return -1;
    }
    if (hook_find(m, spec.id)) {
        snprintf(err, errlen, "id: hook %s is already defined%s", spec.id,
                 from_config ? "" : " in the config file");
        return -1;
    }
    if (m->nhooks >= HOOK_MAX || !hook_add(m, &spec)) {
        snprintf(err, errlen, "too many hooks or out of memory");
        return -1;
    }
    return 0;
}

static int change_prepare(void *owner, spec_change_t *base, cJSON **spec, char *err, size_t errlen);
static void change_settle(void *owner, spec_change_t *base, int rc);
static void change_release(spec_change_t *base);

static int change_etag(void *owner, const char *id, char out[SPEC_ETAG_MAX]);

static const spec_store_ops_t STORE_OPS = {.put = storage_hook_put,
                                           .del = storage_hook_delete,
                                           .prepare = change_prepare,
                                           .settle = change_settle,
                                           .release = change_release,
                                           .change_size = sizeof(change_t),
                                           .etag = change_etag};

hook_mgr_t *hook_mgr_new(node_t *node, char *err, size_t errlen)
{
    hook_mgr_t *m = calloc(1, sizeof *m);
    if (!m || !(m->kick = event_new(node->base, -1, 0, hook_notify_kick_cb, m)) ||
        spec_store_init(&m->store, node->base, node->st, &STORE_OPS, m) != 0) {
        if (m && m->kick)
            event_free(m->kick);
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->node = node;
    m->rng = ((uint64_t)weir_wall_ms() << 16) ^ (uint64_t)getpid() ^ 0xD1B54A32D192ED03ULL;
    /* Config-file hooks, then the API hooks from SQLite. */
    const storage_hook_t *rows = NULL;
    size_t nrows = node->st ? storage_hooks(node->st, &rows) : 0;
    if (spec_store_load(node->conf.hooks_json, "hooks", "hook", rows, nrows, load_one, m, err,
                        errlen) != 0) {
        hook_mgr_free(m);
        return NULL;
    }
    if (m->nhooks)
        log_info(0, "webhooks: %zu hooks loaded", m->nhooks);
    return m;
}

void hook_mgr_free(hook_mgr_t *m)
{
    if (!m)
        return;
    hook_decide_free_all(m);
    hook_t *h;
    while ((h = m->hooks) != NULL) {
        m->hooks = h->next;
        hook_destroy(h);
    }
    /* Changes still waiting for storage: their done still comes (the write
     * may commit) but nothing is applied; local ones end now. */
    spec_store_close(&m->store);
    event_free(m->kick);
    free(m);
}

/* ---- changes from the API ----------------------------------------------- */

/* 1 if spec (committed) renders for storage as j does: a PUT of the same
 * hook again, which changes nothing. */
static int same_spec(const hook_spec_t *spec, const cJSON *j)
{
    cJSON *cur = hook_spec_to_storage_json(spec);
    int same = cur && cJSON_Compare(cur, j, 1);
    cJSON_Delete(cur);
    return same;
}

/* spec_store prepare: nothing else is in flight, so the hooks are what is
 * committed. */
static int change_prepare(void *owner, spec_change_t *base, cJSON **spec, char *err, size_t errlen)
{
    hook_mgr_t *m = owner;
    change_t *ch = (change_t *)base;
    hook_t *h = hook_find(m, base->id);
    if (!h && base->del) {
        snprintf(err, errlen, "no hook %s", base->id);
        return NODE_ENOTFOUND;
    }
    if (h && h->spec.source == HOOK_SRC_CONFIG)
        return spec_store_read_only("hook", base->id, err, errlen);
    if (base->del)
        return 0;
    if (h && ch->create_only) {
        snprintf(err, errlen, "id: hook %s already exists", base->id);
        return NODE_EBUSY;
    }
    if (!h && m->nhooks >= HOOK_MAX) {
        snprintf(err, errlen, "too many hooks (%d)", HOOK_MAX);
        return NODE_ELIMIT;
    }
    if (!h && !(ch->fresh = hook_new(m, &ch->spec))) {
        snprintf(err, errlen, "out of memory");
        return NODE_ENOMEM;
    }
    base->created = !h;
    base->spec = &ch->spec;
    *spec = hook_spec_to_storage_json(&ch->spec);
    base->unchanged = h && *spec && same_spec(&h->spec, *spec);
    return 0;
}

static int change_etag(void *owner, const char *id, char out[SPEC_ETAG_MAX])
{
    hook_mgr_t *m = owner;
    hook_t *h = hook_find(m, id);
    return h ? hook_spec_etag(m->node, &h->spec, out) : -1;
}

/* spec_store settle: a committed change is applied (it cannot fail: a new
 * hook was made at prepare); a failed one changed nothing. */
static void change_settle(void *owner, spec_change_t *base, int rc)
{
    hook_mgr_t *m = owner;
    change_t *ch = (change_t *)base;
    const char *id = base->id;
    if (rc != 0) {
        log_warn(0, "webhook %s: change not stored (storage write failed); nothing changed", id);
        return;
    }
    if (base->del) {
        hook_remove(m, id);
        log_info(0, "webhook %s deleted over the API", id);
        return;
    }
    hook_t *h = hook_find(m, id);
    if (h && base->unchanged) {
        log_debug(0, "webhook %s: the same spec again over the API: nothing changed", id);
        return;
    }
    if (h) {
        h->spec = ch->spec; /* queue and counters kept */
    } else if (ch->fresh) {
        hook_insert(m, ch->fresh);
        ch->fresh = NULL;
    } else { /* not reached: prepare made it, and only settle adds hooks */
        log_error(0, "webhook %s: stored but not applied: no hook made for it", id);
        return;
    }
    log_info(0, "webhook %s %s over the API", id, base->created ? "created" : "replaced");
}

static void change_release(spec_change_t *base)
{
    hook_destroy(((change_t *)base)->fresh);
}

int hook_mgr_put(hook_mgr_t *m, const hook_spec_t *spec, int create_only, const char *if_match,
                 hook_done_cb done, void *arg, char *err, size_t errlen)
{
    if (!spec->id[0] || hook_spec_validate(spec, err, errlen) != 0)
        return NODE_EINVAL;
    change_t *ch =
        (change_t *)spec_store_change_new(&m->store, 0, spec->id, if_match, done, arg, err, errlen);
    if (!ch)
        return NODE_ENOMEM;
    ch->create_only = create_only;
    ch->spec = *spec;
    ch->spec.source = HOOK_SRC_API;
    return spec_store_submit(&m->store, &ch->base, err, errlen);
}

int hook_mgr_delete(hook_mgr_t *m, const char *id, const char *if_match, hook_done_cb done,
                    void *arg, char *err, size_t errlen)
{
    spec_change_t *ch = spec_store_change_new(&m->store, 1, id, if_match, done, arg, err, errlen);
    return ch ? spec_store_submit(&m->store, ch, err, errlen) : NODE_ENOMEM;
}

size_t hook_mgr_changes_waiting(const hook_mgr_t *m)
{
    return m ? m->store.count : 0;
}

const hook_spec_t *hook_mgr_spec(hook_mgr_t *m, const char *id)
{
    hook_t *h = m ? hook_find(m, id) : NULL;
    return h ? &h->spec : NULL;
}

static int id_taken(void *owner, const char *id)
{
    return hook_find(owner, id) != NULL;
}

void hook_mgr_new_id(hook_mgr_t *m, char out[HOOK_ID_MAX])
{
    spec_store_new_id(out, HOOK_ID_MAX, "h-", &m->rng, id_taken, m);
}

/* ---- snapshots and counters --------------------------------------------- */

static void hook_stat(const hook_t *h, hook_stat_t *out)
{
    *out = (hook_stat_t){.spec = &h->spec,
                         .queued = h->nq + (h->cur != NULL),
                         .delivered = h->delivered,
                         .failed = h->failed,
                         .dropped = h->dropped,
                         .retries = h->retries,
                         .last_status = h->last_status,
                         .last_error = h->last_error,
                         .last_wall_ms = h->last_wall_ms};
}

int hook_mgr_stat(const hook_mgr_t *m, const char *id, hook_stat_t *out)
{
    const hook_t *h = m ? hook_find(m, id) : NULL;
    if (!h)
        return NODE_ENOTFOUND;
    hook_stat(h, out);
    return 0;
}

void hook_mgr_foreach(const hook_mgr_t *m, void (*cb)(const hook_stat_t *st, void *arg), void *arg)
{
    for (const hook_t *h = m ? m->hooks : NULL; h; h = h->next) {
        hook_stat_t st;
        hook_stat(h, &st);
        cb(&st, arg);
    }
}

void hook_mgr_decision_counts(const hook_mgr_t *m, hook_decision_counts_t *out)
{
    if (m)
        *out = m->counts;
    else
        memset(out, 0, sizeof *out);
}

static void hook_module_tick(void *arg, int64_t now_ms)
{
    node_t *node = arg;
    hook_mgr_tick(node->hooks, now_ms);
}

static size_t hook_module_pending(void *arg)
{
    node_t *node = arg;
    return hook_mgr_pending(node->hooks);
}

/* After the sessions: they cancel their pending decisions. */
static void hook_module_close(void *arg)
{
    node_t *node = arg;
    hook_mgr_free(node->hooks);
    node->hooks = NULL;
}

static const node_module_t HOOK_MODULE = {.name = "webhooks",
                                          .tick = hook_module_tick,
                                          .pending = hook_module_pending,
                                          .after_close = hook_module_close};

int hook_mgr_start(node_t *node, char *err, size_t errlen)
{
    node->hooks = hook_mgr_new(node, err, errlen);
    if (!node->hooks)
        return -1;
    if (node_add_module(node, &HOOK_MODULE, node) != 0) {
        hook_module_close(node);
        snprintf(err, errlen, "too many node modules");
        return -1;
    }
    return 0;
}

int hook_spec_etag(const node_t *node, const hook_spec_t *spec, char out[SPEC_ETAG_MAX])
{
    cJSON *j = hook_spec_to_storage_json(spec); /* the secret too: a new secret, a new tag */
    int rc = j ? spec_etag(node->etag_key, j, out) : -1;
    cJSON_Delete(j);
    return rc;
}
