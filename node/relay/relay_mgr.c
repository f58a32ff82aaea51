/* relay: the relay manager (see relay.h). */
#include "relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "conn.h"
#include "evlog.h"
#include "log.h"
#include "node.h"
#include "relay_link.h"
#include "fmt.h"
#include "spec_store.h"
#include "storage.h"
#include "url.h"

#define RELAY_MAX 1024      /* relays configured at most */
#define RELAY_RUNS_MAX 1024 /* instances of one "*" relay at most */

typedef enum { RS_IDLE = 0, RS_CONNECTING, RS_ACTIVE, RS_BACKOFF, RS_FAILED } run_status_t;

static const char *const STATUS_NAMES[] = {"idle", "connecting", "active", "backoff", "failed"};

typedef struct relay relay_t;

/* One instance of a relay: the relay applied to one stream. */
typedef struct relay_run {
    relay_t *relay;
    struct relay_run *next;
    char name[STREAM_NAME_MAX]; /* the local stream */
    run_status_t status;
    conn_t *conn;         /* the current link, or NULL */
    unsigned url_idx;     /* URL of the current (or next) attempt */
    unsigned round_fails; /* failed URLs since the last success or backoff */
    unsigned round_refusals;
    unsigned hops;
    char via[RELAY_VIA_MAX];
    uint32_t retries; /* failed attempts since the last time it was up */
    uint64_t failovers;
    uint64_t bytes_done; /* bytes of earlier links */
    int64_t next_try_ms;
    int64_t up_ms, up_wall_ms; /* when the current link came up (0: not up) */
    int64_t idle_since_ms;     /* on_demand: no players since (0: has players) */
    char url[RELAY_URL_MAX];   /* of the current or last attempt */
    char last_error[RELAY_ERR_MAX];
} relay_run_t;

struct relay {
    relay_spec_t spec;
    relay_t *next; /* sorted by id */
    relay_run_t *runs;
    size_t nruns;
    relay_mgr_t *mgr;
    uint64_t starts, failures, failovers, bytes_closed;
    char last_error[RELAY_ERR_MAX];
    char last_url[RELAY_URL_MAX];
};

struct relay_mgr {
    node_t *node;
    relay_t *relays;
    size_t nrelays;
    uint64_t starts, failures, failovers, bytes_closed;
    uint64_t rng;
    hub_hooks_t hooks;
    spec_store_t store; /* pending API changes */
};

static void run_start(relay_run_t *run, int64_t now_ms);
static void hook_published(void *arg, stream_t *s, const publisher_t *pub);
static uint32_t hook_missing(void *arg, const char *app, const char *name, const player_t *p);

/* ---- small helpers ------------------------------------------------------ */

static uint64_t rng_next(relay_mgr_t *m)
{
    return spec_store_rng(&m->rng);
}

static const conf_t *mconf(const relay_mgr_t *m)
{
    return &m->node->conf;
}

static relay_t *relay_find(relay_mgr_t *m, const char *id)
{
    for (relay_t *r = m->relays; r; r = r->next)
        if (strcmp(r->spec.id, id) == 0)
            return r;
    return NULL;
}

static relay_run_t *run_find(relay_t *r, const char *name)
{
    for (relay_run_t *run = r->runs; run; run = run->next)
        if (strcmp(run->name, name) == 0)
            return run;
    return NULL;
}

/* Bytes relayed by the current link (in for pulls, out for pushes). */
static uint64_t link_bytes(const relay_run_t *run)
{
    if (!run->conn)
        return 0;
    return run->relay->spec.direction == RELAY_PULL ? run->conn->bytes_in : run->conn->bytes_out;
}

static cJSON *event_fields(const relay_run_t *run)
{
    const relay_t *r = run->relay;
    cJSON *f = cJSON_CreateObject();
    if (!f)
        return NULL;
    cJSON_AddStringToObject(f, "relay_id", r->spec.id);
    cJSON_AddStringToObject(f, "direction", r->spec.direction == RELAY_PUSH ? "push" : "pull");
    cJSON_AddStringToObject(f, "app", r->spec.app);
    cJSON_AddStringToObject(f, "name", run->name);
    cJSON_AddStringToObject(f, "url", run->url);
    return f;
}

/* Players (viewers and push relays) attached to or waiting for app/name. */
static size_t run_watchers(relay_mgr_t *m, const char *app, const char *name)
{
    size_t n = hub_waiters(m->node->hub, app, name);
    stream_t *s = hub_lookup(m->node->hub, app, name);
    if (s) {
        stream_info_t si;
        stream_info(s, weir_mono_ms(), &si);
        n += si.players + si.relay_players;
    }
    return n;
}

/* 1 if the relay should be running for this stream now. */
static int run_wanted(const relay_run_t *run)
{
    const relay_t *r = run->relay;
    relay_mgr_t *m = r->mgr;
    if (!r->spec.enabled)
        return 0;
    if (r->spec.direction == RELAY_PUSH) {
        stream_t *s = hub_lookup(m->node->hub, r->spec.app, run->name);
        return s && stream_is_live(s);
    }
    if (r->spec.mode == RELAY_MODE_ALWAYS)
        return 1;
    /* on_demand: wanted while someone watches or waits (the idle timeout
     * is the tick's business). */
    return run_watchers(m, r->spec.app, run->name) > 0;
}

/* ---- instances ---------------------------------------------------------- */

static relay_run_t *run_new(relay_t *r, const char *name)
{
    if (r->nruns >= RELAY_RUNS_MAX) {
        log_warn(0, "relay %s: too many streams (%d), not relaying %s/%s", r->spec.id,
                 RELAY_RUNS_MAX, r->spec.app, name);
        return NULL;
    }
    relay_run_t *run = calloc(1, sizeof *run);
    if (!run)
        return NULL;
    run->relay = r;
    snprintf(run->name, sizeof run->name, "%s", name);
    run->next = r->runs;
    r->runs = run;
    r->nruns++;
    return run;
}

/* Stops the instance's link, if any, recording relay.stop when it was up. */
static void run_stop_link(relay_run_t *run, const char *reason, int64_t now_ms)
{
    relay_t *r = run->relay;
    if (!run->conn)
        return;
    uint64_t b = link_bytes(run);
    if (run->up_ms) {
        cJSON *f = event_fields(run);
        if (f) {
            cJSON_AddNumberToObject(f, "session_id", (double)run->conn->id);
            cJSON_AddNumberToObject(f, "bytes", (double)b);
            cJSON_AddNumberToObject(f, "duration_ms", (double)(now_ms - run->up_ms));
            cJSON_AddStringToObject(f, "reason", reason);
        }
        evlog_emit(r->mgr->node, "relay.stop", f);
        log_info(run->conn->id, "relay %s: %s/%s stopped: %s", r->spec.id, r->spec.app, run->name,
                 reason);
    }
    run->bytes_done += b;
    r->bytes_closed += b;
    r->mgr->bytes_closed += b;
    relay_link_stop(run->conn, reason);
    run->conn = NULL;
    run->up_ms = run->up_wall_ms = 0;
}

static void run_free(relay_run_t *run, const char *reason, int64_t now_ms)
{
    relay_t *r = run->relay;
    run_stop_link(run, reason, now_ms);
    for (relay_run_t **pp = &r->runs; *pp; pp = &(*pp)->next) {
        if (*pp == run) {
            *pp = run->next;
            break;
        }
    }
    r->nruns--;
    free(run);
}

static void link_up(void *owner, conn_t *c)
{
    relay_run_t *run = owner;
    relay_t *r = run->relay;
    relay_mgr_t *m = r->mgr;
    run->status = RS_ACTIVE;
    run->retries = 0;
    run->round_fails = run->round_refusals = 0;
    run->up_ms = weir_mono_ms();
    run->up_wall_ms = weir_wall_ms();
    run->idle_since_ms = 0;
    run->last_error[0] = '\0';
    r->starts++;
    m->starts++;
    snprintf(r->last_url, sizeof r->last_url, "%s", run->url);
    char ub[URL_LOG_MAX];
    log_info(c->id, "relay %s: %s %s/%s %s %s is up", r->spec.id,
             r->spec.direction == RELAY_PUSH ? "push" : "pull", r->spec.app, run->name,
             r->spec.direction == RELAY_PUSH ? "to" : "from", url_for_log(run->url, ub, sizeof ub));
    cJSON *f = event_fields(run);
    if (f) {
        cJSON_AddNumberToObject(f, "session_id", (double)c->id);
        cJSON_AddNumberToObject(f, "hops", run->hops);
    }
    evlog_emit(m->node, "relay.start", f);
}

/* Backoff before the next round: initial * 2^(rounds-1), capped, with
 * jitter (a random value in [d/2, d]). */
static int64_t backoff_ms(relay_mgr_t *m, const relay_spec_t *s, uint32_t rounds)
{
    uint64_t d = s->retry_initial_ms;
    for (uint32_t i = 1; i < rounds && d < s->retry_max_ms; i++)
        d *= 2;
    if (d > s->retry_max_ms)
        d = s->retry_max_ms;
    uint64_t half = d / 2;
    return (int64_t)(half + (half ? rng_next(m) % (half + 1) : 0));
}

static int is_loop_refusal(const char *err)
{
    return strstr(err, "relay loop") || strstr(err, "hop limit") || strstr(err, "HTTP 508");
}

static void link_down(void *owner, conn_t *c, const char *err, int refused)
{
    relay_run_t *run = owner;
    relay_t *r = run->relay;
    relay_mgr_t *m = r->mgr;
    int64_t now = weir_mono_ms();
    uint64_t b = run->relay->spec.direction == RELAY_PULL ? c->bytes_in : c->bytes_out;
    int was_up = run->up_ms != 0;
    int64_t up_for_ms = was_up ? now - run->up_ms : 0;
    if (was_up) {
        cJSON *f = event_fields(run);
        if (f) {
            cJSON_AddNumberToObject(f, "session_id", (double)c->id);
            cJSON_AddNumberToObject(f, "bytes", (double)b);
            cJSON_AddNumberToObject(f, "duration_ms", (double)(now - run->up_ms));
            cJSON_AddStringToObject(f, "reason", err);
        }
        evlog_emit(m->node, "relay.stop", f);
    }
    run->bytes_done += b;
    r->bytes_closed += b;
    m->bytes_closed += b;
    run->conn = NULL;
    run->up_ms = run->up_wall_ms = 0;

    if (m->node->stopping)
        return;
    if (!run_wanted(run)) {
        /* Ended because it is no longer needed (the local stream ended, no
         * players): not a failure. */
        log_info(c->id, "relay %s: %s/%s ended: %s", r->spec.id, r->spec.app, run->name, err);
        if (strcmp(r->spec.name, "*") == 0 || r->spec.mode == RELAY_MODE_ON_DEMAND ||
            r->spec.direction == RELAY_PUSH)
            run_free(run, err, now);
        else
            run->status = RS_IDLE;
        return;
    }

    run->retries++;
    r->failures++;
    m->failures++;
    snprintf(run->last_error, sizeof run->last_error, "%s", err);
    snprintf(r->last_error, sizeof r->last_error, "%s", err);
    char ub[URL_LOG_MAX];
    log_warn(c->id, "relay %s: %s/%s via %s failed: %s", r->spec.id, r->spec.app, run->name,
             url_for_log(run->url, ub, sizeof ub), err);
    int loop = refused && is_loop_refusal(err);
    cJSON *f = event_fields(run);
    if (f) {
        cJSON_AddNumberToObject(f, "session_id", (double)c->id);
        cJSON_AddStringToObject(f, "error", err);
        cJSON_AddBoolToObject(f, "refused", refused);
        cJSON_AddNumberToObject(f, "retries", run->retries);
    }
    evlog_emit(m->node, "relay.fail", f);

    if (loop) {
        /* Retrying cannot help: the path loops or is too long. */
        run->status = RS_FAILED;
        stream_fail_waiters(m->node->hub, r->spec.app, run->name);
        return;
    }
    run->round_fails++;
    if (refused)
        run->round_refusals++;
    if (r->spec.nurls > 1) {
        unsigned from = run->url_idx;
        run->url_idx = (run->url_idx + 1) % r->spec.nurls;
        char to[RELAY_URL_MAX];
        if (relay_spec_url_for(&r->spec, run->url_idx, run->name, to, sizeof to) == 0) {
            r->failovers++;
            m->failovers++;
            run->failovers++;
            log_info(c->id, "relay %s: %s/%s fails over from URL %u to URL %u (%s)", r->spec.id,
                     r->spec.app, run->name, from, run->url_idx, url_for_log(to, ub, sizeof ub));
            cJSON *g = event_fields(run);
            if (g) {
                cJSON_AddStringToObject(g, "from_url", run->url);
                cJSON_AddStringToObject(g, "to_url", to);
                cJSON_AddStringToObject(g, "error", err);
            }
            evlog_emit(m->node, "relay.failover", g);
        }
    }
    /* A link that had been up for a while starts a new round at once (its
     * players are held through the grace period: reconnect now, even to
     * the only URL); one that flaps faster than retry_initial_ms does not. */
    if (was_up && up_for_ms >= (int64_t)r->spec.retry_initial_ms)
        run->round_fails = run->round_refusals = 0;
    if (run->round_fails < r->spec.nurls) {
        run_start(run, now); /* the next URL (or the same again) at once */
        return;
    }
    /* Every URL failed this round. */
    int all_refused = run->round_refusals >= r->spec.nurls;
    run->round_fails = run->round_refusals = 0;
    if (all_refused && r->spec.direction == RELAY_PULL && r->spec.mode == RELAY_MODE_ON_DEMAND &&
        !was_up) {
        /* Every upstream said it does not have the stream: the waiting
         * players learn it now rather than at the end of their wait. */
        size_t n = stream_fail_waiters(m->node->hub, r->spec.app, run->name);
        log_info(0, "relay %s: no upstream has %s/%s; %zu waiting players told", r->spec.id,
                 r->spec.app, run->name, n);
        run->status = RS_FAILED;
        return;
    }
    run->status = RS_BACKOFF;
    int64_t delay = backoff_ms(m, &r->spec, run->retries);
    /* Players held through the grace period get at least one more try
     * before it ends them. */
    const stream_t *held =
        r->spec.direction == RELAY_PULL ? hub_lookup(m->node->hub, r->spec.app, run->name) : NULL;
    int64_t hold_ms = (int64_t)m->node->conf.stream_unpublish_grace_ms / 2;
    if (held && !stream_is_live(held) && delay > hold_ms)
        delay = hold_ms > 100 ? hold_ms : 100;
    run->next_try_ms = now + delay;
}

static const relay_link_ops_t LINK_OPS = {link_up, link_down};

/* Starts an attempt on the current URL. */
static void run_start(relay_run_t *run, int64_t now_ms)
{
    relay_t *r = run->relay;
    relay_mgr_t *m = r->mgr;
    const conf_t *conf = mconf(m);
    if (run->hops > conf->relay_max_hops) {
        snprintf(run->last_error, sizeof run->last_error, "relay hop limit %u reached",
                 conf->relay_max_hops);
        snprintf(r->last_error, sizeof r->last_error, "%s", run->last_error);
        log_warn(0, "relay %s: not relaying %s/%s: %s", r->spec.id, r->spec.app, run->name,
                 run->last_error);
        run->status = RS_FAILED;
        r->failures++;
        m->failures++;
        cJSON *f = event_fields(run);
        if (f) {
            cJSON_AddStringToObject(f, "error", run->last_error);
            cJSON_AddBoolToObject(f, "refused", 1);
            cJSON_AddNumberToObject(f, "retries", run->retries);
            cJSON_AddNumberToObject(f, "hops", run->hops);
        }
        evlog_emit(m->node, "relay.fail", f);
        return;
    }
    if (run->url_idx >= r->spec.nurls)
        run->url_idx = 0;
    if (relay_spec_url_for(&r->spec, run->url_idx, run->name, run->url, sizeof run->url) != 0) {
        snprintf(run->last_error, sizeof run->last_error, "URL too long for this stream name");
        run->status = RS_FAILED;
        return;
    }
    relay_link_cfg_t cfg = {
        .dir = r->spec.direction,
        .url = run->url,
        .app = r->spec.app,
        .name = run->name,
        .hops = run->hops,
        .via = run->via,
        .timeout_ms = conf->relay_connect_timeout_ms,
    };
    char err[RELAY_ERR_MAX];
    conn_t *c = relay_link_start(m->node, &cfg, &LINK_OPS, run, err, sizeof err);
    if (!c) {
        snprintf(run->last_error, sizeof run->last_error, "%s", err);
        snprintf(r->last_error, sizeof r->last_error, "%s", err);
        log_warn(0, "relay %s: cannot start %s/%s: %s", r->spec.id, r->spec.app, run->name, err);
        run->status = RS_BACKOFF;
        run->retries++;
        run->next_try_ms = now_ms + backoff_ms(m, &r->spec, run->retries);
        return;
    }
    run->conn = c;
    run->status = RS_CONNECTING;
    char ub[URL_LOG_MAX];
    log_info(c->id, "relay %s: %s %s/%s %s %s (hops %u)", r->spec.id,
             r->spec.direction == RELAY_PUSH ? "pushing" : "pulling", r->spec.app, run->name,
             r->spec.direction == RELAY_PUSH ? "to" : "from", url_for_log(run->url, ub, sizeof ub),
             run->hops);
}

/* Sets the loop information of an instance from the request that caused
 * it (hops/via of the publisher or player; 0/NULL for none). */
static void run_set_path(relay_run_t *run, unsigned hops, const char *via)
{
    const char *me = node_id(run->relay->mgr->node);
    run->hops = hops + 1;
    if (via && via[0])
        snprintf(run->via, sizeof run->via, "%s,%s", via, me);
    else
        snprintf(run->via, sizeof run->via, "%s", me);
}

/* Starts an idle, failed or new instance (not one already running). */
static void run_kick_off(relay_run_t *run, unsigned hops, const char *via, int64_t now_ms)
{
    if (run->status == RS_CONNECTING || run->status == RS_ACTIVE)
        return;
    run_set_path(run, hops, via);
    run->retries = 0;
    run->round_fails = run->round_refusals = 0;
    run->url_idx = 0;
    run->idle_since_ms = 0;
    run_start(run, now_ms);
}

/* ---- relays ------------------------------------------------------------- */

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

/* Starts what a relay should run now (after load, create or replace). */
static void relay_activate(relay_t *r, int64_t now_ms)
{
    relay_mgr_t *m = r->mgr;
    if (!r->spec.enabled)
        return;
    if (r->spec.direction == RELAY_PULL && r->spec.mode == RELAY_MODE_ALWAYS) {
        if (strcmp(r->spec.name, "*") == 0)
            return; /* refused by relay_spec_validate(); nothing to keep up */
        relay_run_t *run = run_find(r, r->spec.name);
        if (!run)
            run = run_new(r, r->spec.name);
        if (run)
            run_kick_off(run, 0, NULL, now_ms);
        return;
    }
    if (r->spec.direction == RELAY_PUSH) {
        /* Streams already live here: collected first, started after the
         * walk. */
        struct collect col = {r, NULL, 0, 0};
        hub_foreach(m->node->hub, collect_live, &col);
        for (size_t i = 0; i < col.n; i++) {
            const publisher_t *pub = col.v[i].pub;
            relay_run_t *run = run_find(r, stream_name(col.v[i].s));
            if (!run)
                run = run_new(r, stream_name(col.v[i].s));
            if (run)
                run_kick_off(run, pub ? pub->hops : 0, pub ? pub->via : NULL, now_ms);
        }
        free(col.v);
    }
    /* Pulls on demand start when a player asks (hook_missing). */
}

static void relay_deactivate(relay_t *r, const char *reason, int64_t now_ms)
{
    while (r->runs)
        run_free(r->runs, reason, now_ms);
}

static void relay_insert(relay_mgr_t *m, relay_t *r)
{
    relay_t **pp = &m->relays;
    while (*pp && strcmp((*pp)->spec.id, r->spec.id) < 0)
        pp = &(*pp)->next;
    r->next = *pp;
    *pp = r;
    m->nrelays++;
}

static void relay_unlink(relay_mgr_t *m, relay_t *r)
{
    for (relay_t **pp = &m->relays; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            m->nrelays--;
            return;
        }
    }
}

static relay_t *relay_new(relay_mgr_t *m, const relay_spec_t *spec)
{
    relay_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->spec = *spec;
    r->mgr = m;
    return r;
}

static void relay_destroy(relay_t *r, const char *reason, int64_t now_ms)
{
    relay_deactivate(r, reason, now_ms);
    free(r);
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
        relay_run_t *run = run_find(r, stream_name(s));
        if (run && (run->status == RS_CONNECTING || run->status == RS_ACTIVE))
            continue; /* a push of the previous publish is still closing */
        if (!run)
            run = run_new(r, stream_name(s));
        if (run)
            run_kick_off(run, pub->hops, pub->via, now);
    }
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
        relay_run_t *run = run_find(r, name);
        if (r->spec.mode == RELAY_MODE_ALWAYS) {
            /* Coming: an ordinary player waits for it. A relay request does
             * not wait on a pull that is not up, so that two nodes pulling
             * from each other refuse at once instead of waiting on each
             * other. */
            if (run && p->hops == 0)
                wait = mconf(m)->relay_on_demand_wait_ms;
            continue;
        }
        if (!run)
            run = run_new(r, name);
        if (!run)
            continue;
        if (run->status != RS_CONNECTING && run->status != RS_ACTIVE && run->status != RS_BACKOFF) {
            log_info(0, "relay %s: %s/%s asked for by s%llu: pulling on demand", r->spec.id, app,
                     name, (unsigned long long)p->sess_id);
            run_kick_off(run, p->hops, p->via, now);
        }
        run->idle_since_ms = 0;
        if (run->status != RS_FAILED)
            wait = mconf(m)->relay_on_demand_wait_ms;
    }
    return wait;
}

/* ---- tick --------------------------------------------------------------- */

void relay_mgr_tick(relay_mgr_t *m, int64_t now_ms)
{
    for (relay_t *r = m->relays; r; r = r->next) {
        relay_run_t *run, *next;
        for (run = r->runs; run; run = next) {
            next = run->next;
            int on_demand = r->spec.direction == RELAY_PULL && r->spec.mode == RELAY_MODE_ON_DEMAND;
            if (on_demand) {
                if (run_watchers(m, r->spec.app, run->name) > 0) {
                    run->idle_since_ms = 0;
                } else {
                    if (!run->idle_since_ms)
                        run->idle_since_ms = now_ms;
                    /* Up: kept for idle_timeout_s. Not up: nobody waits for
                     * it any more. */
                    int up = run->status == RS_ACTIVE;
                    int64_t limit = up ? (int64_t)r->spec.idle_timeout_s * 1000 : 0;
                    if (now_ms - run->idle_since_ms >= limit) {
                        log_info(0, "relay %s: %s/%s: no players for %lld ms, stopping", r->spec.id,
                                 r->spec.app, run->name, (long long)(now_ms - run->idle_since_ms));
                        run_free(run, up ? "idle timeout" : "no players left", now_ms);
                        continue;
                    }
                }
            } else if (r->spec.direction == RELAY_PUSH && !run_wanted(run) &&
                       run->status != RS_ACTIVE && run->status != RS_CONNECTING) {
                run_free(run, "local stream ended", now_ms);
                continue;
            }
            if (run->status == RS_BACKOFF && now_ms >= run->next_try_ms)
                run_start(run, now_ms);
        }
    }
}

/* ---- creation, loading -------------------------------------------------- */

/* 1 if a URL of spec points at one of this node's own listeners. */
static int url_is_self(const relay_mgr_t *m, const char *url_text)
{
    const conf_t *conf = mconf(m);
    url_t u;
    char err[128];
    int http = strncmp(url_text, "http://", 7) == 0;
    if (url_parse(url_text, http ? "http" : "rtmp", http ? 80 : 1935, &u, err, sizeof err) != 0)
        return 0;
    const char *listen = http ? conf->http_flv_listen : conf->rtmp_listen;
    char host[CONF_LISTEN_MAX];
    uint16_t port = 0;
    if (!listen[0] || conf_parse_listen(listen, host, sizeof host, &port) != 0 || port != u.port)
        return 0;
    if (strcmp(host, u.host) == 0)
        return 1;
    int wildcard = !host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
    int loop_listen = strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
    int loop_url = strncmp(u.host, "127.", 4) == 0 || strcmp(u.host, "::1") == 0 ||
                   strcmp(u.host, "localhost") == 0;
    if (loop_url && (wildcard || (loop_listen && strcmp(host, u.host) == 0)))
        return 1;
    if (loop_url && loop_listen && strcmp(u.host, "localhost") == 0)
        return 1;
    return 0;
}

/* Checks spec against the node and the other relays (see relay_mgr_put). */
static int spec_check(relay_mgr_t *m, const relay_spec_t *spec, char *err, size_t errlen)
{
    for (unsigned i = 0; i < spec->nurls; i++) {
        if (url_is_self(m, spec->urls[i])) {
            snprintf(err, errlen, "urls[%u]: points at this node's own %s listener", i,
                     strncmp(spec->urls[i], "http://", 7) == 0 ? "HTTP-FLV" : "RTMP");
            return NODE_EINVAL;
        }
    }
    if (spec->direction != RELAY_PULL)
        return 0;
    for (const relay_t *r = m->relays; r; r = r->next) {
        if (r->spec.direction != RELAY_PULL || strcmp(r->spec.id, spec->id) == 0 ||
            strcmp(r->spec.app, spec->app) != 0)
            continue;
        if (strcmp(r->spec.name, spec->name) == 0 || strcmp(r->spec.name, "*") == 0 ||
            strcmp(spec->name, "*") == 0) {
            snprintf(err, errlen, "name: pull relay %s already feeds %s/%s", r->spec.id,
                     r->spec.app, r->spec.name);
            return NODE_EBUSY;
        }
    }
    return 0;
}

/* Adds a relay that passed its checks and starts it. */
static relay_t *relay_add(relay_mgr_t *m, const relay_spec_t *spec)
{
    relay_t *r = relay_new(m, spec);
    if (!r)
        return NULL;
    relay_insert(m, r);
    relay_activate(r, weir_mono_ms());
    return r;
}

/* spec_load_fn: one config-file or stored relay. */
static int load_one(void *owner, const cJSON *obj, int from_config, char *err, size_t errlen)
{
    relay_mgr_t *m = owner;
    relay_spec_t spec;
    if (relay_spec_from_json(obj, NULL, &spec, err, errlen) != 0)
        return -1;
    spec.source = from_config ? RELAY_SRC_CONFIG : RELAY_SRC_API;
    if (!spec.id[0]) {
        snprintf(err, errlen, "id: missing");
        return -1;
    }
    if (relay_find(m, spec.id)) {
        snprintf(err, errlen, "id: relay %s is already defined%s", spec.id,
                 from_config ? "" : " in the config file");
        return -1;
    }
    if (spec_check(m, &spec, err, errlen) != 0)
        return -1;
    if (m->nrelays >= RELAY_MAX || !relay_add(m, &spec)) {
        snprintf(err, errlen, "too many relays or out of memory");
        return -1;
    }
    return 0;
}

typedef enum { CH_PUT, CH_POST, CH_PATCH, CH_DELETE } change_kind_t;

/* An API change waiting for its turn and its storage write (spec_store.h):
 * checked against the committed relays at its turn, applied once committed.
 * Owned by the store; loop thread. */
typedef struct {
    spec_change_t base;
    change_kind_t kind;
    relay_spec_t spec; /* PUT, POST: the new spec; PATCH: merged at its turn */
    cJSON *patch;      /* PATCH: the body (owned) */
    relay_t *fresh;    /* a new relay made at its turn, so that applying it
                        * cannot fail; owned until settle inserts it */
} change_t;

static int change_prepare(void *owner, spec_change_t *base, cJSON **spec, char *err, size_t errlen);
static void change_settle(void *owner, spec_change_t *base, int rc);
static void change_release(spec_change_t *base);

static const spec_store_ops_t STORE_OPS = {storage_relay_put, storage_relay_delete,
                                           change_prepare,    change_settle,
                                           change_release,    sizeof(change_t)};

relay_mgr_t *relay_mgr_new(node_t *node, char *err, size_t errlen)
{
    relay_mgr_t *m = calloc(1, sizeof *m);
    if (!m || spec_store_init(&m->store, node->base, node->st, &STORE_OPS, m) != 0) {
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->node = node;
    m->rng = ((uint64_t)weir_wall_ms() << 16) ^ (uint64_t)getpid() ^ 0x9E3779B97F4A7C15ULL;
    m->hooks.published = hook_published;
    m->hooks.missing = hook_missing;
    hub_set_hooks(node->hub, &m->hooks, m);

    /* Config-file relays, then the API relays from SQLite. */
    const storage_relay_t *rows = NULL;
    size_t nrows = node->st ? storage_relays(node->st, &rows) : 0;
    if (spec_store_load(node->conf.relays_json, "relays", "relay", rows, nrows, load_one, m, err,
                        errlen) != 0) {
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
                relay_link_stop(run->conn, "node shutting down");
            run->conn = NULL;
            run->up_ms = 0;
            run_free(run, "node shutting down", now);
        }
        free(r);
    }
    /* Changes still waiting for storage: their done still comes, nothing is
     * undone. */
    spec_store_close(&m->store);
    free(m);
}

/* ---- changes from the API ----------------------------------------------- */

static void remove_relay(relay_mgr_t *m, const char *id, const char *reason)
{
    relay_t *r = relay_find(m, id);
    if (!r)
        return;
    relay_unlink(m, r);
    relay_destroy(r, reason, weir_mono_ms());
}

/* The new spec of a put at its turn (r: the relay it replaces, or NULL):
 * a PATCH is merged over r now, so that it keeps what was committed before
 * it. Checked against the node and the other relays. */
static int change_spec(relay_mgr_t *m, change_t *ch, const relay_t *r, char *err, size_t errlen)
{
    if (ch->kind == CH_POST && r) {
        snprintf(err, errlen, "id: relay %s already exists", ch->base.id);
        return NODE_EBUSY;
    }
    if (ch->kind == CH_PATCH && relay_spec_patch(ch->patch, &r->spec, &ch->spec, err, errlen) != 0)
        return NODE_EINVAL;
    ch->spec.source = RELAY_SRC_API;
    return spec_check(m, &ch->spec, err, errlen);
}

/* spec_store prepare: nothing else is in flight, so the relays are what is
 * committed. */
static int change_prepare(void *owner, spec_change_t *base, cJSON **spec, char *err, size_t errlen)
{
    relay_mgr_t *m = owner;
    change_t *ch = (change_t *)base;
    relay_t *r = relay_find(m, base->id);
    if (!r && (ch->kind == CH_DELETE || ch->kind == CH_PATCH)) {
        snprintf(err, errlen, "no relay %s", base->id);
        return NODE_ENOTFOUND;
    }
    if (r && r->spec.source == RELAY_SRC_CONFIG)
        return spec_store_read_only("relay", base->id, err, errlen);
    if (ch->kind == CH_DELETE)
        return 0;
    int rc = change_spec(m, ch, r, err, errlen);
    if (rc != 0)
        return rc;
    if (!r && m->nrelays >= RELAY_MAX) {
        snprintf(err, errlen, "too many relays (%d)", RELAY_MAX);
        return NODE_ELIMIT;
    }
    if (!r && !(ch->fresh = relay_new(m, &ch->spec))) {
        snprintf(err, errlen, "out of memory");
        return NODE_ENOMEM;
    }
    base->created = !r;
    base->spec = &ch->spec;
    *spec = relay_spec_to_json(&ch->spec);
    return 0;
}

/* spec_store settle: a committed change is applied (it cannot fail: a new
 * relay was made at prepare); a failed one changed nothing. */
static void change_settle(void *owner, spec_change_t *base, int rc)
{
    relay_mgr_t *m = owner;
    change_t *ch = (change_t *)base;
    if (rc != 0) {
        log_warn(0, "relay %s: change not stored (storage write failed); nothing changed",
                 base->id);
        return;
    }
    if (base->del) {
        remove_relay(m, base->id, "relay deleted");
        log_info(0, "relay %s deleted over the API", base->id);
        return;
    }
    int64_t now = weir_mono_ms();
    relay_t *r = relay_find(m, base->id);
    if (r) {
        relay_deactivate(r, "relay changed", now);
        r->spec = ch->spec;
    } else if (ch->fresh) {
        r = ch->fresh;
        ch->fresh = NULL;
        relay_insert(m, r);
    } else { /* not reached: prepare made it, and only settle adds relays */
        log_error(0, "relay %s: stored but not applied: no relay made for it", base->id);
        return;
    }
    relay_activate(r, now);
    log_info(0, "relay %s %s over the API", base->id, base->created ? "created" : "replaced");
}

static void change_release(spec_change_t *base)
{
    change_t *ch = (change_t *)base;
    free(ch->fresh);
    cJSON_Delete(ch->patch);
}

/* Queues a change of id (spec: PUT, POST; patch: PATCH, copied). */
static int change_submit(relay_mgr_t *m, change_kind_t kind, const char *id,
                         const relay_spec_t *spec, const cJSON *patch, relay_done_cb done,
                         void *arg, char *err, size_t errlen)
{
    change_t *ch =
        (change_t *)spec_store_change_new(&m->store, kind == CH_DELETE, id, done, arg, err, errlen);
    if (!ch)
        return NODE_ENOMEM;
    ch->kind = kind;
    if (spec)
        ch->spec = *spec;
    if (patch && !(ch->patch = cJSON_Duplicate(patch, 1))) {
        spec_store_change_free(&ch->base);
        snprintf(err, errlen, "out of memory");
        return NODE_ENOMEM;
    }
    return spec_store_submit(&m->store, &ch->base, err, errlen);
}

int relay_mgr_put(relay_mgr_t *m, const relay_spec_t *spec, int create_only, relay_done_cb done,
                  void *arg, char *err, size_t errlen)
{
    if (!spec->id[0]) {
        snprintf(err, errlen, "id: missing");
        return NODE_EINVAL;
    }
    return change_submit(m, create_only ? CH_POST : CH_PUT, spec->id, spec, NULL, done, arg, err,
                         errlen);
}

int relay_mgr_patch(relay_mgr_t *m, const char *id, const cJSON *patch, relay_done_cb done,
                    void *arg, char *err, size_t errlen)
{
    return change_submit(m, CH_PATCH, id, NULL, patch, done, arg, err, errlen);
}

int relay_mgr_delete(relay_mgr_t *m, const char *id, relay_done_cb done, void *arg, char *err,
                     size_t errlen)
{
    return change_submit(m, CH_DELETE, id, NULL, NULL, done, arg, err, errlen);
}

size_t relay_mgr_changes_waiting(const relay_mgr_t *m)
{
    return m ? m->store.count : 0;
}

const relay_spec_t *relay_mgr_spec(relay_mgr_t *m, const char *id)
{
    relay_t *r = relay_find(m, id);
    return r ? &r->spec : NULL;
}

static int id_taken(void *owner, const char *id)
{
    return relay_find(owner, id) != NULL;
}

void relay_mgr_new_id(relay_mgr_t *m, char out[RELAY_ID_MAX])
{
    spec_store_new_id(out, RELAY_ID_MAX, "r-", &m->rng, id_taken, m);
}

/* ---- rendering and counters --------------------------------------------- */

static double run_bitrate_bps(const relay_run_t *run, int64_t now_ms)
{
    if (!run->conn)
        return 0;
    sess_info_t si;
    conn_info(run->conn, now_ms, &si);
    return run->relay->spec.direction == RELAY_PULL ? si.bitrate_in_bps : si.bitrate_out_bps;
}

static void add_time(cJSON *o, const char *key, int64_t wall_ms)
{
    if (!wall_ms) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    char buf[40];
    fmt_time(wall_ms, buf, sizeof buf);
    cJSON_AddStringToObject(o, key, buf);
}

static void add_str_or_null(cJSON *o, const char *key, const char *v)
{
    if (v && v[0])
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static run_status_t relay_status(const relay_t *r)
{
    static const run_status_t order[] = {RS_ACTIVE, RS_CONNECTING, RS_BACKOFF, RS_FAILED};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        for (const relay_run_t *run = r->runs; run; run = run->next)
            if (run->status == order[i])
                return order[i];
    return RS_IDLE;
}

static cJSON *render_relay(const relay_t *r, int64_t now_ms)
{
    cJSON *o = relay_spec_to_json(&r->spec);
    cJSON *streams = cJSON_CreateArray();
    if (!o || !streams) {
        cJSON_Delete(o);
        cJSON_Delete(streams);
        return NULL;
    }
    uint64_t bytes = r->bytes_closed, retries = 0, failovers = r->failovers;
    double bitrate = 0;
    const relay_run_t *shown = NULL; /* whose URL, error and start are shown */
    for (const relay_run_t *run = r->runs; run; run = run->next) {
        cJSON *s = cJSON_CreateObject();
        if (!s)
            continue;
        double bps = run_bitrate_bps(run, now_ms);
        cJSON_AddStringToObject(s, "name", run->name);
        cJSON_AddStringToObject(s, "status", STATUS_NAMES[run->status]);
        add_str_or_null(s, "current_url", run->status == RS_IDLE ? NULL : run->url);
        add_str_or_null(s, "last_error", run->last_error);
        cJSON_AddNumberToObject(s, "retries", run->retries);
        cJSON_AddNumberToObject(s, "failovers", (double)run->failovers);
        cJSON_AddNumberToObject(s, "bytes", (double)(run->bytes_done + link_bytes(run)));
        cJSON_AddNumberToObject(s, "bitrate_kbps", fmt_kbps(bps));
        add_time(s, "started_at", run->up_wall_ms);
        if (run->conn)
            cJSON_AddNumberToObject(s, "session_id", (double)run->conn->id);
        else
            cJSON_AddNullToObject(s, "session_id");
        cJSON_AddNumberToObject(s, "hops", run->hops);
        cJSON_AddItemToArray(streams, s);
        bytes += link_bytes(run);
        bitrate += bps;
        retries += run->retries;
        if (!shown || run->status == RS_ACTIVE)
            shown = run;
    }
    run_status_t st = relay_status(r);
    cJSON_AddStringToObject(o, "status", STATUS_NAMES[st]);
    add_str_or_null(o, "current_url", shown && shown->status != RS_IDLE ? shown->url : NULL);
    /* The shown instance's error (none once it is up again); with no
     * instance, the relay's last one. */
    add_str_or_null(o, "last_error", shown ? shown->last_error : r->last_error);
    cJSON_AddNumberToObject(o, "retries", (double)retries);
    cJSON_AddNumberToObject(o, "failovers", (double)failovers);
    cJSON_AddNumberToObject(o, "bytes", (double)bytes);
    cJSON_AddNumberToObject(o, "bitrate_kbps", fmt_kbps(bitrate));
    add_time(o, "started_at", shown ? shown->up_wall_ms : 0);
    cJSON_AddItemToObject(o, "streams", streams);
    return o;
}

cJSON *relay_mgr_render(relay_mgr_t *m, const char *id, int64_t now_ms)
{
    relay_t *r = relay_find(m, id);
    return r ? render_relay(r, now_ms) : NULL;
}

cJSON *relay_render_spec(const relay_spec_t *spec, int64_t now_ms)
{
    relay_t r;
    memset(&r, 0, sizeof r);
    r.spec = *spec;
    return render_relay(&r, now_ms);
}

cJSON *relay_mgr_render_all(relay_mgr_t *m, int64_t now_ms)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    for (relay_t *r = m->relays; r; r = r->next) {
        cJSON *o = render_relay(r, now_ms);
        if (!o) {
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

void relay_mgr_counts(const relay_mgr_t *m, relay_counts_t *out)
{
    memset(out, 0, sizeof *out);
    out->relays = m->nrelays;
    out->starts = m->starts;
    out->failures = m->failures;
    out->failovers = m->failovers;
    out->bytes = m->bytes_closed;
    for (const relay_t *r = m->relays; r; r = r->next) {
        for (const relay_run_t *run = r->runs; run; run = run->next) {
            out->bytes += link_bytes(run);
            switch (run->status) {
            case RS_IDLE: out->idle++; break;
            case RS_CONNECTING: out->connecting++; break;
            case RS_ACTIVE: out->active++; break;
            case RS_BACKOFF: out->backoff++; break;
            case RS_FAILED: out->failed++; break;
            }
        }
    }
}

void relay_mgr_foreach(const relay_mgr_t *m, void (*cb)(const relay_stat_t *st, void *arg),
                       void *arg)
{
    int64_t now = weir_mono_ms();
    for (const relay_t *r = m->relays; r; r = r->next) {
        relay_stat_t st = {0};
        st.spec = &r->spec;
        st.status = STATUS_NAMES[relay_status(r)];
        st.starts = r->starts;
        st.failures = r->failures;
        st.failovers = r->failovers;
        st.bytes = r->bytes_closed;
        for (const relay_run_t *run = r->runs; run; run = run->next) {
            st.bytes += link_bytes(run);
            st.bitrate_bps += run_bitrate_bps(run, now);
        }
        cb(&st, arg);
    }
}

/* ---- loop protection, serving side -------------------------------------- */

int relay_check_request(node_t *node, unsigned hops, const char *via, char *err, size_t errlen)
{
    unsigned max = node->conf.relay_max_hops;
    if (hops > max) {
        snprintf(err, errlen, "relay hop limit %u reached (request carries %u hops)", max, hops);
        return -1;
    }
    const char *me = node_id(node);
    size_t ml = strlen(me);
    if (via && ml) {
        for (const char *p = via; *p;) {
            const char *comma = strchr(p, ',');
            size_t l = comma ? (size_t)(comma - p) : strlen(p);
            if (l == ml && memcmp(p, me, ml) == 0) {
                snprintf(err, errlen, "relay loop: this node (%s) is already on the path", me);
                return -1;
            }
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    return 0;
}

void relay_refused_event(node_t *node, const sess_info_t *si, unsigned hops, const char *via,
                         const char *reason)
{
    cJSON *f = conn_event_fields(si);
    if (f) {
        cJSON_AddNumberToObject(f, "hops", hops);
        cJSON_AddStringToObject(f, "via", via);
        cJSON_AddStringToObject(f, "reason", reason);
    }
    evlog_emit(node, "relay.refused", f);
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
    node->relays = relay_mgr_new(node, err, errlen);
    if (!node->relays)
        return -1;
    if (node_add_module(node, &RELAY_MODULE, node) != 0) {
        relay_module_close(node);
        snprintf(err, errlen, "too many node modules");
        return -1;
    }
    return 0;
}
