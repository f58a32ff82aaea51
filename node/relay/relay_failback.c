/* relay_failback: the background probe of a relay with failback (see
 * relay_spec.h). While an instance of a pull relay with failback runs
 * (active) on a later URL than the first, it probes the earlier URLs, one
 * at a time from the first, every retry_max_ms: a probe is a link with
 * cfg.probe that plays the URL without publishing. When a probe has the
 * upstream's first video key frame it becomes the instance's link (it takes
 * the local stream over, so the players continue: stream_publish()) and the
 * old link is stopped (relay_run_adopt(): relay.failover, relay.stop,
 * relay.start). A probe that fails, or has no key frame within
 * retry_max_ms plus relay.connect_timeout_ms of its start, is only logged
 * or stopped (no event, no error on the relay); the next earlier URL is
 * probed after the interval. The probe
 * stops when the instance's link goes down, the URLs change, failback is
 * turned off or the instance goes. Loop thread only. */
#include <stdio.h>

#include "common.h"
#include "log.h"
#include "relay_internal.h"
#include "url.h"

/* 1 if the instance should have a probe now. */
static int failback_wanted(const relay_run_t *run)
{
    const relay_spec_t *s = &run->relay->spec;
    return s->failback && s->enabled && s->direction == RELAY_PULL &&
           run->status == RELAY_ST_ACTIVE && run->conn && run->url_idx > 0 &&
           run->url_idx < s->nurls;
}

void relay_failback_stop(relay_run_t *run)
{
    conn_t *c = run->probe;
    run->probe = NULL;
    run->probe_next_ms = 0;
    if (c)
        run->relay->mgr->links->stop(c, "failback probe stopped");
}

/* Starts the probe of URL run->probe_idx. */
static void probe_start(relay_run_t *run, int64_t now_ms)
{
    const relay_t *r = run->relay;
    char err[RELAY_ERR_MAX], ub[URL_LOG_MAX];
    run->probe_next_ms = now_ms + r->spec.retry_max_ms;
    if (relay_spec_url_for(&r->spec, run->probe_idx, run->name, run->probe_url,
                           sizeof run->probe_url) != 0)
        return;
    conn_t *c = relay_run_link_start(run, run->probe_url, 1, err, sizeof err);
    if (!c) {
        log_warn(0, "relay %s: %s/%s: cannot probe URL %u: %s", r->spec.id, r->spec.app,
                 run->name, run->probe_idx, err);
        return;
    }
    run->probe = c;
    log_info(c->id, "relay %s: %s/%s: probing URL %u (%s) for failback", r->spec.id, r->spec.app,
             run->name, run->probe_idx, url_for_log(run->probe_url, ub, sizeof ub));
}

void relay_failback_tick(relay_run_t *run, int64_t now_ms)
{
    if (!failback_wanted(run)) {
        relay_failback_stop(run);
        return;
    }
    if (run->probe) {
        /* No key frame in time (an audio-only stream, a stalled start):
         * give up on this probe; the next URL after the interval. */
        const relay_mgr_t *m = run->relay->mgr;
        if (now_ms < run->probe_next_ms + (int64_t)m->node->conf.relay_connect_timeout_ms)
            return;
        conn_t *c = run->probe;
        run->probe = NULL;
        run->probe_idx++;
        run->probe_next_ms = now_ms + run->relay->spec.retry_max_ms;
        m->links->stop(c, "failback probe: no key frame in time");
        return;
    }
    if (!run->probe_next_ms) { /* failed over just now: probe after the interval */
        run->probe_idx = 0;
        run->probe_next_ms = now_ms + run->relay->spec.retry_max_ms;
        return;
    }
    if (now_ms < run->probe_next_ms)
        return;
    if (run->probe_idx >= run->url_idx)
        run->probe_idx = 0;
    probe_start(run, now_ms);
}

void relay_failback_probe_down(relay_run_t *run, relay_fail_t why, const char *err)
{
    const relay_t *r = run->relay;
    log_info(run->probe ? run->probe->id : 0, "relay %s: %s/%s: failback probe of URL %u: %s (%s)",
             r->spec.id, r->spec.app, run->name, run->probe_idx, err, relay_fail_name(why));
    run->probe = NULL;
    run->probe_idx++; /* the next earlier URL, after the interval */
}

int relay_failback_ready(relay_run_t *run, conn_t *c)
{
    if (c != run->probe || !failback_wanted(run))
        return 0;
    relay_run_adopt(run, c, run->probe_idx, weir_mono_ms());
    run->probe_next_ms = 0;
    return 1;
}
