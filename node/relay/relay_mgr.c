/* relay_mgr: the relay manager (see relay.h): the list of relays, what each
 * runs when (activation, the hub's hooks: a push follows a publish, an
 * on-demand pull a player's request), the tick, and the manager's life as a
 * node module. The instances are relay_run.c's. Loop thread only. */
#include "relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "conn.h"
#include "log.h"
#include "node.h"
#include "relay_internal.h"
#include "relay_link.h"
#include "spec_store.h"
#include "storage.h"

/* ---- the relays --------------------------------------------------------- */

relay_t *relay_find(relay_mgr_t *m, const char *id)
{
    for (relay_t *r = m->relays; r; r = r->next)
        if (strcmp(r->spec.id, id) == 0)
            return r;
    return NULL;
}

relay_t *relay_new(relay_mgr_t *m, const relay_spec_t *spec)
{
    relay_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->spec = *spec;
    r->mgr = m;
    return r;
}

void relay_insert(relay_mgr_t *m, relay_t *r)
{
    relay_t **pp = &m->relays;
    while (*pp && strcmp((*pp)->spec.id, r->spec.id) < 0)
        pp = &(*pp)->next;
    r->next = *pp;
    *pp = r;
    m->nrelays++;
}

void relay_deactivate(relay_t *r, reason_t why, const char *reason, int64_t now_ms)
{
    while (r->runs)
        relay_run_free(r->runs, why, reason, now_ms);
}

void relay_remove(relay_mgr_t *m, const char *id, reason_t why, const char *reason)
{
    relay_t *r = relay_find(m, id);
    if (!r)
        return;
    for (relay_t **pp = &m->relays; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            m->nrelays--;
            break;
        }
    }
    relay_deactivate(r, why, reason, weir_mono_ms());
    free(r);
}

/* The instance of r for the stream name, made when missing (NULL: too
 * many or out of memory). */
static relay_run_t *run_get(relay_t *r, const char *name)
{
    relay_run_t *run = relay_run_find(r, name);
    return run ? run : relay_run_new(r, name);
}

struct collect {
    relay_t *r;
    struct {
        stream_t *s;
        const publisher_t *pub;
    } * v;
    size_t n, cap;
};

static void collect_live(stream_t *s, void *arg)
{
    struct collect *col = arg;
    stream_info_t si;
    if (!stream_is_live(s) || !relay_spec_matches(&col->r->spec, stream_app(s), stream_name(s)))
        return;
    if (col->n == col->cap) {
        size_t cap = col->cap ? col->cap * 2 : 8;
        void *v = realloc(col->v, cap * sizeof *col->v);
        if (!v)
            return;
        col->v = v;
        col->cap = cap;
    }
    stream_info(s, 0, &si);
    col->v[col->n].s = s;
    col->v[col->n].pub = si.pub;
    col->n++;
}

/* A push: the streams already live here, collected first, started after
 * the walk. */
static void push_activate(relay_t *r, int64_t now_ms)
{
    struct collect col = {r, NULL, 0, 0};
    hub_foreach(r->mgr->node->hub, collect_live, &col);
    for (size_t i = 0; i < col.n; i++) {
        const publisher_t *pub = col.v[i].pub;
        relay_run_t *run = run_get(r, stream_name(col.v[i].s));
        if (run)
            relay_run_kick_off(run, pub ? pub->hops : 0, pub ? pub->via : NULL, now_ms);
    }
    free(col.v);
}

void relay_activate(relay_t *r, int64_t now_ms)
{
    if (!r->spec.enabled)
        return;
    if (r->spec.direction == RELAY_PUSH) {
        push_activate(r, now_ms);
        return;
    }
    if (r->spec.mode != RELAY_MODE_ALWAYS)
        return; /* pulls on demand start when a player asks (hook_missing) */
    if (strcmp(r->spec.name, "*") == 0)
        return; /* refused by relay_spec_validate(); nothing to keep up */
    relay_run_t *run = run_get(r, r->spec.name);
    if (run)
        relay_run_kick_off(run, 0, NULL, now_ms);
}

/* The running links of r take its (new) silence_timeout_ms now. */
static void relay_retune_links(relay_t *r)
{
    for (relay_run_t *run = r->runs; run; run = run->next)
        if (run->conn && r->mgr->links->set_silence)
            r->mgr->links->set_silence(run->conn, r->spec.silence_timeout_ms);
}

void relay_replace(relay_t *r, const relay_spec_t *spec, int64_t now_ms)
{
    relay_diff_t d = relay_spec_diff(&r->spec, spec);
    switch (d) {
    case RELAY_DIFF_NONE:
        log_debug(0, "relay %s: the same spec again over the API: nothing changed", r->spec.id);
        return;
    case RELAY_DIFF_QUIET:
        r->spec = *spec;
        relay_retune_links(r);
        log_info(0, "relay %s changed over the API (retry, idle, silence or failback; links kept)",
                 r->spec.id);
        return;
    case RELAY_DIFF_URLS:
        r->spec = *spec;
        relay_retune_links(r);
        log_info(0, "relay %s: URLs changed over the API (links to a listed URL kept)", r->spec.id);
        for (relay_run_t *run = r->runs, *next; run; run = next) {
            next = run->next;
            relay_run_urls_changed(run, now_ms);
        }
        return;
    case RELAY_DIFF_RESTART: break;
    }
    if (spec->enabled)
        relay_deactivate(r, REASON_RELAY_CHANGED, "relay changed", now_ms);
    else
        relay_deactivate(r, REASON_RELAY_DELETED, "relay disabled", now_ms);
    r->spec = *spec;
    relay_activate(r, now_ms);
    log_info(0, "relay %s replaced over the API (links restarted)", r->spec.id);
}

/* ---- hub hooks ---------------------------------------------------------- */

static void hook_published(void *arg, stream_t *s, const publisher_t *pub)
{
    relay_mgr_t *m = arg;
    int64_t now = weir_mono_ms();
    for (relay_t *r = m->relays; r; r = r->next) {
        if (r->spec.direction != RELAY_PUSH || !r->spec.enabled ||
            !relay_spec_matches(&r->spec, stream_app(s), stream_name(s)))
            continue;
        relay_run_t *run = relay_run_find(r, stream_name(s));
        if (run && relay_run_busy(run))
            continue; /* a push of the previous publish is still closing */
        if (!run)
            run = relay_run_new(r, stream_name(s));
        if (run)
            relay_run_kick_off(run, pub->hops, pub->via, now);
    }
}

/* An on-demand pull r of app/name asked for by p: started unless it runs
 * or waits to retry. Returns how long p may wait for it (0: not coming). */
static uint32_t pull_on_demand(relay_t *r, const char *app, const char *name, const player_t *p,
                               int64_t now_ms)
{
    relay_run_t *run = run_get(r, name);
    if (!run)
        return 0;
    if (!relay_run_busy(run) && run->status != RELAY_ST_BACKOFF) {
        log_info(0, "relay %s: %s/%s asked for by s%llu: pulling on demand", r->spec.id, app, name,
                 (unsigned long long)p->sess_id);
        relay_run_kick_off(run, p->hops, p->via, now_ms);
    }
    run->idle_since_ms = 0;
    return run->status != RELAY_ST_FAILED ? r->mgr->node->conf.relay_on_demand_wait_ms : 0;
}

static uint32_t hook_missing(void *arg, const char *app, const char *name, const player_t *p)
{
    relay_mgr_t *m = arg;
    int64_t now = weir_mono_ms();
    uint32_t wait = 0;
    for (relay_t *r = m->relays; r; r = r->next) {
        if (r->spec.direction != RELAY_PULL || !r->spec.enabled ||
            !relay_spec_matches(&r->spec, app, name))
            continue;
        if (r->spec.mode == RELAY_MODE_ALWAYS) {
            /* Coming: an ordinary player waits for it. A relay request does
             * not wait on a pull that is not up, so that two nodes pulling
             * from each other refuse at once instead of waiting on each
             * other. */
            if (relay_run_find(r, name) && p->hops == 0)
                wait = m->node->conf.relay_on_demand_wait_ms;
            continue;
        }
        uint32_t w = pull_on_demand(r, app, name, p, now);
        if (w)
            wait = w;
    }
    return wait;
}

/* ---- the manager ---------------------------------------------------------- */

void relay_mgr_tick(relay_mgr_t *m, int64_t now_ms)
{
    for (relay_t *r = m->relays; r; r = r->next) {
        relay_run_t *run, *next;
        for (run = r->runs; run; run = next) {
            next = run->next;
            relay_run_tick(run, now_ms);
        }
    }
}

relay_mgr_t *relay_mgr_new(node_t *node, const relay_links_t *links, char *err, size_t errlen)
{
    relay_mgr_t *m = calloc(1, sizeof *m);
    if (!m || spec_store_init(&m->store, node->base, node->st, &RELAY_STORE_OPS, m) != 0) {
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->node = node;
    m->links = links ? links : &RELAY_LINKS_NET;
    m->rng = ((uint64_t)weir_wall_ms() << 16) ^ (uint64_t)getpid() ^ 0x9E3779B97F4A7C15ULL;
    m->hooks.published = hook_published;
    m->hooks.missing = hook_missing;
    hub_set_hooks(node->hub, &m->hooks, m);

    /* Config-file relays, then the API relays from SQLite. */
    const storage_relay_t *rows = NULL;
    size_t nrows = node->st ? storage_relays(node->st, &rows) : 0;
    if (spec_store_load(node->conf.relays_json, "relays", "relay", rows, nrows, relay_mgr_load_one,
                        m, err, errlen) != 0) {
        relay_mgr_free(m);
        return NULL;
    }
    if (m->nrelays)
        log_info(0, "relays: %zu loaded", m->nrelays);
    return m;
}

void relay_mgr_free(relay_mgr_t *m)
{
    if (!m)
        return;
    hub_set_hooks(m->node->hub, NULL, NULL);
    int64_t now = weir_mono_ms();
    relay_t *r;
    while ((r = m->relays) != NULL) {
        m->relays = r->next;
        /* Links close without events: the node is stopping. */
        while (r->runs) {
            relay_run_t *run = r->runs;
            if (run->conn)
                m->links->stop(run->conn, "node shutting down");
            run->conn = NULL;
            run->up_ms = 0;
            relay_run_free(run, REASON_SHUTDOWN, "node shutting down", now);
        }
        free(r);
    }
    /* Changes still waiting for storage: their done still comes, nothing is
     * undone. */
    spec_store_close(&m->store);
    free(m);
}

static void relay_module_tick(void *arg, int64_t now_ms)
{
    node_t *node = arg;
    if (node->relays)
        relay_mgr_tick(node->relays, now_ms);
}

/* Relays first, so that closing their links does not schedule retries. */
static void relay_module_close(void *arg)
{
    node_t *node = arg;
    relay_mgr_free(node->relays);
    node->relays = NULL;
}

static const node_module_t RELAY_MODULE = {
    .name = "relays", .tick = relay_module_tick, .before_close = relay_module_close};

int relay_mgr_start(node_t *node, char *err, size_t errlen)
{
    node->relays = relay_mgr_new(node, NULL, err, errlen);
    if (!node->relays)
        return -1;
    if (node_add_module(node, &RELAY_MODULE, node) != 0) {
        relay_module_close(node);
        snprintf(err, errlen, "too many node modules");
        return -1;
    }
    return 0;
}
