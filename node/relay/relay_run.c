/* relay_run: the instances of a relay (see relay_internal.h) and the policy
 * of their links: start on the current URL, and when a link goes down,
 * decide by its reason (relay_fail_t) whether to try the next URL at once
 * (URL 0 again with failback, run_next_url()), back off, or give up. Records relay.start, relay.stop, relay.fail and
 * relay.failover through the node's event sink. Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common.h"
#include "conn.h"
#include "log.h"
#include "relay_internal.h"
#include "spec_store.h"
#include "url.h"

static void run_start(relay_run_t *run, int64_t now_ms);

/* ---- small helpers ------------------------------------------------------ */

relay_run_t *relay_run_find(relay_t *r, const char *name)
{
    for (relay_run_t *run = r->runs; run; run = run->next)
        if (strcmp(run->name, name) == 0)
            return run;
    return NULL;
}

int relay_run_busy(const relay_run_t *run)
{
    return run->status == RELAY_ST_CONNECTING || run->status == RELAY_ST_ACTIVE;
}

static uint64_t conn_bytes(const relay_run_t *run, const conn_t *c)
{
    return run->relay->spec.direction == RELAY_PULL ? c->bytes_in : c->bytes_out;
}

uint64_t relay_run_link_bytes(const relay_run_t *run)
{
    return run->conn ? conn_bytes(run, run->conn) : 0;
}

static const char *dir_name(const relay_t *r)
{
    return r->spec.direction == RELAY_PUSH ? "push" : "pull";
}

/* "to" a push target, "from" a pull upstream. */
static const char *dir_prep(const relay_t *r)
{
    return r->spec.direction == RELAY_PUSH ? "to" : "from";
}

/* The fields every relay event starts with. */
static cJSON *event_fields(const relay_run_t *run)
{
    const relay_t *r = run->relay;
    cJSON *f = cJSON_CreateObject();
    if (!f)
        return NULL;
    cJSON_AddStringToObject(f, "relay_id", r->spec.id);
    cJSON_AddStringToObject(f, "direction", dir_name(r));
    cJSON_AddStringToObject(f, "app", r->spec.app);
    cJSON_AddStringToObject(f, "name", run->name);
    cJSON_AddStringToObject(f, "url", run->url);
    return f;
}

static void record(relay_run_t *run, const char *type, cJSON *f)
{
    node_event(run->relay->mgr->node, type, f);
}

size_t relay_run_watchers(relay_mgr_t *m, const char *app, const char *name)
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
    return relay_run_watchers(m, r->spec.app, run->name) > 0;
}

/* ---- instances ---------------------------------------------------------- */

relay_run_t *relay_run_new(relay_t *r, const char *name)
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

/* The current link c is gone or going: relay.stop when it was up (why,
 * with reason as its message), its bytes added to the totals, the instance
 * without a link. */
static void run_link_gone(relay_run_t *run, const conn_t *c, reason_t why, const char *reason,
                          int64_t now_ms)
{
    relay_t *r = run->relay;
    uint64_t b = conn_bytes(run, c);
    if (run->up_ms) {
        cJSON *f = event_fields(run);
        if (f) {
            cJSON_AddNumberToObject(f, "session_id", (double)c->id);
            cJSON_AddNumberToObject(f, "bytes", (double)b);
            cJSON_AddNumberToObject(f, "duration_ms", (double)(now_ms - run->up_ms));
            cJSON_AddStringToObject(f, "reason", reason_name(why));
            cJSON_AddStringToObject(f, "message", reason);
        }
        record(run, "relay.stop", f);
    }
    run->bytes_done += b;
    r->bytes_closed += b;
    r->mgr->bytes_closed += b;
    run->conn = NULL;
    run->up_ms = run->up_wall_ms = 0;
}

/* Stops the instance's link, if any, recording relay.stop when it was up. */
static void run_stop_link(relay_run_t *run, reason_t why, const char *reason, int64_t now_ms)
{
    relay_t *r = run->relay;
    conn_t *c = run->conn;
    if (!c)
        return;
    if (run->up_ms)
        log_info(c->id, "relay %s: %s/%s stopped: %s", r->spec.id, r->spec.app, run->name, reason);
    run_link_gone(run, c, why, reason, now_ms);
    r->mgr->links->stop(c, reason);
}

void relay_run_free(relay_run_t *run, reason_t why, const char *reason, int64_t now_ms)
{
    relay_t *r = run->relay;
    relay_failback_stop(run);
    run_stop_link(run, why, reason, now_ms);
    for (relay_run_t **pp = &r->runs; *pp; pp = &(*pp)->next) {
        if (*pp == run) {
            *pp = run->next;
            break;
        }
    }
    r->nruns--;
    free(run);
}

/* ---- a link's reports ---------------------------------------------------- */

static void link_up(void *owner, conn_t *c)
{
    relay_run_t *run = owner;
    relay_t *r = run->relay;
    relay_mgr_t *m = r->mgr;
    if (c == run->probe)
        return; /* up, waiting for its first key frame */
    run->status = RELAY_ST_ACTIVE;
    run->retries = 0;
    run->round_fails = run->round_refusals = 0;
    run->up_ms = weir_mono_ms();
    run->up_wall_ms = weir_wall_ms();
    run->idle_since_ms = 0;
    run->last_error[0] = '\0';
    run->last_reason = REASON_NONE;
    r->starts++;
    m->starts++;
    snprintf(r->last_url, sizeof r->last_url, "%s", run->url);
    char ub[URL_LOG_MAX];
    log_info(c->id, "relay %s: %s %s/%s %s %s is up", r->spec.id, dir_name(r), r->spec.app,
             run->name, dir_prep(r), url_for_log(run->url, ub, sizeof ub));
    cJSON *f = event_fields(run);
    if (f) {
        cJSON_AddNumberToObject(f, "session_id", (double)c->id);
        cJSON_AddNumberToObject(f, "hops", run->hops);
    }
    record(run, "relay.start", f);
}

/* Backoff before the next round (the relay's retry_*_ms). */
static int64_t backoff_ms(relay_mgr_t *m, const relay_spec_t *s, uint32_t rounds)
{
    return spec_store_backoff_ms(s->retry_initial_ms, s->retry_max_ms, rounds, &m->rng);
}

/* A link ended because it is no longer needed (the local stream ended, no
 * players): not a failure. */
static void run_ended(relay_run_t *run, const conn_t *c, reason_t why, const char *err,
                      int64_t now_ms)
{
    relay_t *r = run->relay;
    log_info(c->id, "relay %s: %s/%s ended: %s", r->spec.id, r->spec.app, run->name, err);
    if (strcmp(r->spec.name, "*") == 0 || r->spec.mode == RELAY_MODE_ON_DEMAND ||
        r->spec.direction == RELAY_PUSH)
        relay_run_free(run, why, err, now_ms);
    else
        run->status = RELAY_ST_IDLE;
}

/* Keeps an error of the instance (and of its relay) for the API. */
static void run_note_error(relay_run_t *run, reason_t why, const char *err)
{
    relay_t *r = run->relay;
    run->last_reason = r->last_reason = why;
    snprintf(run->last_error, sizeof run->last_error, "%s", err);
    snprintf(r->last_error, sizeof r->last_error, "%s", err);
}

/* Counts a failure of the instance, keeps its error and records
 * relay.fail: with the session id of link c (NULL: none) and, for a
 * refusal here, the hops after the retries. */
static void run_record_fail(relay_run_t *run, const conn_t *c, reason_t why, const char *err,
                            int refused, int with_hops)
{
    relay_t *r = run->relay;
    r->failures++;
    r->mgr->failures++;
    run_note_error(run, why, err);
    cJSON *f = event_fields(run);
    if (f) {
        if (c)
            cJSON_AddNumberToObject(f, "session_id", (double)c->id);
        cJSON_AddStringToObject(f, "error", err);
        cJSON_AddStringToObject(f, "reason", reason_name(why));
        cJSON_AddStringToObject(f, "message", err);
        cJSON_AddBoolToObject(f, "refused", refused);
        cJSON_AddNumberToObject(f, "retries", run->retries);
        if (with_hops)
            cJSON_AddNumberToObject(f, "hops", run->hops);
    }
    record(run, "relay.fail", f);
}

/* The URL after a failure of URL i: the next one; with failback, URL 0
 * when a link on a later URL that had been up went down (the earliest
 * comes first again; attempts that never came up go on down the list, so
 * a round still reaches every URL). */
static unsigned run_next_url(const relay_spec_t *s, unsigned i, int was_up)
{
    if (s->failback && was_up && i > 0)
        return 0;
    return (i + 1) % s->nurls;
}

/* Moves the instance to its next URL (when it has more than one),
 * recording relay.failover. */
static void run_fail_over(relay_run_t *run, const conn_t *c, const char *err, int was_up)
{
    relay_t *r = run->relay;
    relay_mgr_t *m = r->mgr;
    if (r->spec.nurls < 2)
        return;
    unsigned from = run->url_idx;
    run->url_idx = run_next_url(&r->spec, run->url_idx, was_up);
    char to[RELAY_URL_MAX], ub[URL_LOG_MAX];
    if (relay_spec_url_for(&r->spec, run->url_idx, run->name, to, sizeof to) != 0)
        return;
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
    record(run, "relay.failover", g);
}

/* Waits before the next round. Players held through the grace period get
 * at least one more try before it ends them. */
static void run_back_off(relay_run_t *run, int64_t now_ms)
{
    relay_t *r = run->relay;
    relay_mgr_t *m = r->mgr;
    run->status = RELAY_ST_BACKOFF;
    int64_t delay = backoff_ms(m, &r->spec, run->retries);
    const stream_t *held =
        r->spec.direction == RELAY_PULL ? hub_lookup(m->node->hub, r->spec.app, run->name) : NULL;
    int64_t hold_ms = (int64_t)m->node->conf.stream_unpublish_grace_ms / 2;
    if (held && !stream_is_live(held) && delay > hold_ms)
        delay = hold_ms > 100 ? hold_ms : 100;
    run->next_try_ms = now_ms + delay;
}

/* The instance gives up: a loop, or every upstream refused an on-demand
 * pull; the players waiting for the stream learn it now rather than at the
 * end of their wait. Returns how many were told. */
static size_t run_give_up(relay_run_t *run)
{
    relay_t *r = run->relay;
    run->status = RELAY_ST_FAILED;
    return stream_fail_waiters(r->mgr->node->hub, r->spec.app, run->name);
}

/* After a failure that retrying may mend (why is no loop): the next URL (or
 * the same again) at once while the round lasts, else a backoff, or giving
 * up when every upstream refused an on-demand pull that was never up. */
static void run_retry(relay_run_t *run, relay_fail_t why, int was_up, int64_t up_for_ms,
                      int64_t now_ms)
{
    relay_t *r = run->relay;
    run->round_fails++;
    if (relay_fail_is_refusal(why))
        run->round_refusals++;
    /* A link that had been up for a while starts a new round at once (its
     * players are held through the grace period: reconnect now, even to
     * the only URL); one that flaps faster than retry_initial_ms does not. */
    if (was_up && up_for_ms >= (int64_t)r->spec.retry_initial_ms)
        run->round_fails = run->round_refusals = 0;
    if (run->round_fails < r->spec.nurls) {
        run_start(run, now_ms);
        return;
    }
    int all_refused = run->round_refusals >= r->spec.nurls;
    run->round_fails = run->round_refusals = 0;
    if (all_refused && r->spec.direction == RELAY_PULL && r->spec.mode == RELAY_MODE_ON_DEMAND &&
        !was_up) {
        size_t n = run_give_up(run);
        log_info(0, "relay %s: no upstream has %s/%s; %zu waiting players told", r->spec.id,
                 r->spec.app, run->name, n);
        return;
    }
    run_back_off(run, now_ms);
}

/* relay_link_ops_t down: accounts for the link, then, while the relay is
 * still wanted, counts the failure and chooses by why: a loop gives up
 * (retrying cannot help); anything else fails over and retries. */
static void link_down(void *owner, conn_t *c, relay_fail_t why, const char *err)
{
    relay_run_t *run = owner;
    relay_t *r = run->relay;
    if (c == run->probe) {
        relay_failback_probe_down(run, why, err);
        return;
    }
    relay_failback_stop(run);
    int64_t now = weir_mono_ms();
    int was_up = run->up_ms != 0;
    int64_t up_for_ms = was_up ? now - run->up_ms : 0;
    reason_t code = relay_fail_reason(why);
    run_link_gone(run, c, code, err, now);
    if (r->mgr->node->stopping)
        return;
    if (!run_wanted(run)) {
        run_ended(run, c, code, err, now);
        return;
    }
    run->retries++;
    char ub[URL_LOG_MAX];
    log_warn(c->id, "relay %s: %s/%s via %s failed (%s): %s", r->spec.id, r->spec.app, run->name,
             url_for_log(run->url, ub, sizeof ub), relay_fail_name(why), err);
    run_record_fail(run, c, code, err, relay_fail_is_refusal(why), 0);
    if (why == RELAY_FAIL_LOOP) {
        run_give_up(run);
        return;
    }
    run_fail_over(run, c, err, was_up);
    run_retry(run, why, was_up, up_for_ms, now);
}

static int link_ready(void *owner, conn_t *c)
{
    return relay_failback_ready(owner, c);
}

static const relay_link_ops_t LINK_OPS = {link_up, link_down, link_ready};

/* ---- starting a link ----------------------------------------------------- */

/* The request that made the instance is past relay.max_hops already:
 * relaying it would only be refused upstream. */
static void run_refuse_hops(relay_run_t *run)
{
    relay_t *r = run->relay;
    char err[RELAY_ERR_MAX];
    snprintf(err, sizeof err, RELAY_HOPS_LIMIT_TEXT " %u reached",
             r->mgr->node->conf.relay_max_hops);
    log_warn(0, "relay %s: not relaying %s/%s: %s", r->spec.id, r->spec.app, run->name, err);
    run->status = RELAY_ST_FAILED;
    run_record_fail(run, NULL, REASON_HOP_LIMIT, err, 1, 1);
}

/* The link could not even start (a bad URL, out of memory): back off. */
static void run_start_failed(relay_run_t *run, const char *err, int64_t now_ms)
{
    relay_t *r = run->relay;
    run_note_error(run, REASON_ERROR, err);
    log_warn(0, "relay %s: cannot start %s/%s: %s", r->spec.id, r->spec.app, run->name, err);
    run->status = RELAY_ST_BACKOFF;
    run->retries++;
    run->next_try_ms = now_ms + backoff_ms(r->mgr, &r->spec, run->retries);
}

conn_t *relay_run_link_start(relay_run_t *run, const char *url, int probe, char *err,
                             size_t errlen)
{
    relay_t *r = run->relay;
    relay_mgr_t *m = r->mgr;
    relay_link_cfg_t cfg = {
        .dir = r->spec.direction,
        .url = url,
        .app = r->spec.app,
        .name = run->name,
        .hops = run->hops,
        .via = run->via,
        .timeout_ms = m->node->conf.relay_connect_timeout_ms,
        .silence_ms = r->spec.silence_timeout_ms,
        .probe = probe,
        .tls_verify = r->spec.tls_verify,
        .tls_ca = r->spec.tls_ca,
    };
    return m->links->start(m->node, &cfg, &LINK_OPS, run, err, errlen);
}

void relay_run_adopt(relay_run_t *run, conn_t *c, unsigned idx, int64_t now_ms)
{
    relay_t *r = run->relay;
    char from[RELAY_URL_MAX];
    snprintf(from, sizeof from, "%s", run->url);
    r->failovers++;
    r->mgr->failovers++;
    run->failovers++;
    log_info(c->id, "relay %s: %s/%s fails back from URL %u to URL %u", r->spec.id, r->spec.app,
             run->name, run->url_idx, idx);
    cJSON *g = event_fields(run);
    if (g) {
        cJSON_AddStringToObject(g, "from_url", from);
        cJSON_AddStringToObject(g, "to_url", run->probe_url);
        cJSON_AddStringToObject(g, "error", "failback: an earlier URL is healthy again");
    }
    record(run, "relay.failover", g);
    run_stop_link(run, REASON_REPLACED, "failback to an earlier URL", now_ms);
    run->probe = NULL;
    run->conn = c;
    run->url_idx = idx;
    snprintf(run->url, sizeof run->url, "%s", run->probe_url);
    link_up(run, c);
}

/* Starts an attempt on the current URL. */
static void run_start(relay_run_t *run, int64_t now_ms)
{
    relay_t *r = run->relay;
    relay_mgr_t *m = r->mgr;
    const conf_t *conf = &m->node->conf;
    if (run->hops > conf->relay_max_hops) {
        run_refuse_hops(run);
        return;
    }
    if (run->url_idx >= r->spec.nurls)
        run->url_idx = 0;
    if (relay_spec_url_for(&r->spec, run->url_idx, run->name, run->url, sizeof run->url) != 0) {
        run_note_error(run, REASON_ERROR, "URL too long for this stream name");
        run->status = RELAY_ST_FAILED;
        return;
    }
    char err[RELAY_ERR_MAX];
    conn_t *c = relay_run_link_start(run, run->url, 0, err, sizeof err);
    if (!c) {
        run_start_failed(run, err, now_ms);
        return;
    }
    run->conn = c;
    run->status = RELAY_ST_CONNECTING;
    char ub[URL_LOG_MAX];
    log_info(c->id, "relay %s: %s %s/%s %s %s (hops %u)", r->spec.id,
             r->spec.direction == RELAY_PUSH ? "pushing" : "pulling", r->spec.app, run->name,
             dir_prep(r), url_for_log(run->url, ub, sizeof ub), run->hops);
}

/* The new place of the instance's URL in the relay's list, or -1. */
static int run_url_index(const relay_run_t *run)
{
    const relay_spec_t *s = &run->relay->spec;
    char u[RELAY_URL_MAX];
    for (unsigned i = 0; i < s->nurls; i++)
        if (relay_spec_url_for(s, i, run->name, u, sizeof u) == 0 && strcmp(u, run->url) == 0)
            return (int)i;
    return -1;
}

void relay_run_urls_changed(relay_run_t *run, int64_t now_ms)
{
    relay_t *r = run->relay;
    relay_failback_stop(run); /* the URLs' places changed */
    int at = run->url[0] ? run_url_index(run) : -1;
    run->round_fails = run->round_refusals = 0;
    if (at >= 0) {
        run->url_idx = (unsigned)at;
        return;
    }
    run->url_idx = 0;
    if (!run->conn)
        return; /* idle, failed or backing off: the next attempt takes URL 0 */
    char to[RELAY_URL_MAX];
    if (relay_spec_url_for(&r->spec, 0, run->name, to, sizeof to) != 0)
        to[0] = '\0';
    r->failovers++;
    r->mgr->failovers++;
    run->failovers++;
    log_info(run->conn->id, "relay %s: %s/%s: its upstream left the URL list: fails over to URL 0",
             r->spec.id, r->spec.app, run->name);
    cJSON *g = event_fields(run);
    if (g) {
        cJSON_AddStringToObject(g, "from_url", run->url);
        cJSON_AddStringToObject(g, "to_url", to);
        cJSON_AddStringToObject(g, "error", "upstream removed from the relay");
    }
    record(run, "relay.failover", g);
    run_stop_link(run, REASON_RELAY_CHANGED, "upstream removed from the relay", now_ms);
    run_start(run, now_ms);
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

void relay_run_kick_off(relay_run_t *run, unsigned hops, const char *via, int64_t now_ms)
{
    if (relay_run_busy(run))
        return;
    run_set_path(run, hops, via);
    run->relay->refused = 0;
    run->retries = 0;
    run->round_fails = run->round_refusals = 0;
    run->url_idx = 0;
    run->idle_since_ms = 0;
    run_start(run, now_ms);
}

/* ---- tick ---------------------------------------------------------------- */

/* An on-demand pull without players: kept idle_timeout_s while up; one not
 * up has nobody waiting for it any more. Returns 1 when it was freed. */
static int run_idle_check(relay_run_t *run, int64_t now_ms)
{
    relay_t *r = run->relay;
    if (relay_run_watchers(r->mgr, r->spec.app, run->name) > 0) {
        run->idle_since_ms = 0;
        return 0;
    }
    if (!run->idle_since_ms)
        run->idle_since_ms = now_ms;
    int up = run->status == RELAY_ST_ACTIVE;
    int64_t limit = up ? (int64_t)r->spec.idle_timeout_s * 1000 : 0;
    if (now_ms - run->idle_since_ms < limit)
        return 0;
    log_info(0, "relay %s: %s/%s: no players for %lld ms, stopping", r->spec.id, r->spec.app,
             run->name, (long long)(now_ms - run->idle_since_ms));
    if (run->status == RELAY_ST_FAILED)
        r->refused = 1; /* shown as failed until asked again */
    relay_run_free(run, REASON_IDLE, up ? "idle timeout" : "no players left", now_ms);
    return 1;
}

void relay_run_tick(relay_run_t *run, int64_t now_ms)
{
    const relay_spec_t *s = &run->relay->spec;
    if (s->direction == RELAY_PULL && s->mode == RELAY_MODE_ON_DEMAND) {
        if (run_idle_check(run, now_ms))
            return;
    } else if (s->direction == RELAY_PUSH && !run_wanted(run) && !relay_run_busy(run)) {
        relay_run_free(run, REASON_LOCAL_ENDED, "local stream ended", now_ms);
        return;
    }
    if (run->status == RELAY_ST_BACKOFF && now_ms >= run->next_try_ms)
        run_start(run, now_ms);
    relay_failback_tick(run, now_ms);
}
