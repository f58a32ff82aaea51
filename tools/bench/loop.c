/* weir-bench, loop.c: the timeline (publish, warmup, ramp, settle, drain,
 * measure) and the event loop. Shared types and calls: bench.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "bench.h"
#include "tool_util.h"

/* ---- the loop ----------------------------------------------------------- */

static void open_window(bench_t *b)
{
    bench_batch_tick(b); /* what arrived before the window is not counted in it */
    int64_t now = bench_mono_us();
    b->in_window = 1;
    b->pub_hold = 0;
    b->window_start_us = now;
    b->phase = PH_MEASURE;
    b->phase_deadline_us = now + (int64_t)(b->duration_s * 1e6);
}

static void close_window(bench_t *b)
{
    if (!b->has_pub)
        b->window_end_us = bench_mono_us();
    bench_batch_tick(b); /* count what arrived up to the end */
    b->in_window = 0;
    b->phase = PH_DONE;
}

static void drain_start(bench_t *b, phase_t ph, int64_t now)
{
    b->pub_hold = 1;
    b->phase = ph;
    b->phase_deadline_us = now + (int64_t)BENCH_DRAIN_MAX_MS * 1000;
    b->drain_bytes = b->total_bytes;
    b->drain_change_us = now;
}

/* 1 once no media arrived for two batch periods (or the drain bound
 * passed). */
static int drained(bench_t *b, int64_t now)
{
    if (b->total_bytes != b->drain_bytes) {
        b->drain_bytes = b->total_bytes;
        b->drain_change_us = now;
    }
    int64_t quiet_us = (int64_t)b->batch_ms * 2000 + 10000;
    return now - b->drain_change_us >= quiet_us || now >= b->phase_deadline_us;
}

/* Phase changes and the ramp. */
static void advance(bench_t *b, int64_t now)
{
    switch (b->phase) {
    case PH_PUB_SETUP:
        if (b->pub.state == ST_LIVE) {
            b->phase = PH_WARMUP;
            b->phase_deadline_us = now + (int64_t)(b->warmup_s * 1e6);
        } else if (now >= b->phase_deadline_us) {
            bench_conn_fail(b, &b->pub, ERR_SETUP_TIMEOUT, "not publishing within %d ms (%s)",
                            b->setup_timeout_ms, bench_state_name(b->pub.state));
        }
        break;
    case PH_WARMUP:
        if (now < b->phase_deadline_us)
            break;
        b->phase = PH_RAMP;
        b->ramp_start_us = now;
        /* fall through */
    case PH_RAMP: {
        double due = 1.0 + (double)(now - b->ramp_start_us) / 1e6 * b->ramp;
        int n = due >= b->nplayers ? b->nplayers : (int)due;
        while (b->n_started < n)
            bench_player_start(b, &b->players[b->n_started], bench_mono_us());
        if (b->n_started < b->nplayers)
            break;
        b->phase = PH_SETTLE;
        b->phase_deadline_us = now + (int64_t)b->setup_timeout_ms * 1000;
    }
        /* fall through */
    case PH_SETTLE:
        if (b->n_settled < b->nplayers && now < b->phase_deadline_us)
            break;
        if (b->has_pub)
            drain_start(b, PH_DRAIN_IN, now);
        else
            open_window(b);
        break;
    case PH_DRAIN_IN:
        if (drained(b, now))
            open_window(b);
        break;
    case PH_MEASURE:
        if (now < b->phase_deadline_us)
            break;
        if (b->has_pub) {
            b->window_end_us = now; /* the publisher's sends end here */
            drain_start(b, PH_DRAIN_OUT, now);
        } else {
            close_window(b);
        }
        break;
    case PH_DRAIN_OUT:
        if (drained(b, now))
            close_window(b);
        break;
    case PH_DONE: break;
    }
}

/* When the loop must wake up next for the timeline. */
static int64_t next_wakeup(const bench_t *b)
{
    int64_t t = b->next_report_us;
    if (b->next_batch_us < t)
        t = b->next_batch_us;
    int64_t pub = bench_pub_next_due(b);
    if (pub < t)
        t = pub;
    if (b->phase == PH_RAMP) {
        int64_t r = b->ramp_start_us + (int64_t)((double)b->n_started / b->ramp * 1e6);
        if (r < t)
            t = r;
    } else if (b->phase != PH_DONE && b->phase_deadline_us < t) {
        t = b->phase_deadline_us;
    }
    return t < b->hard_deadline_us ? t : b->hard_deadline_us;
}

/* Runs the timeline. Returns 0 when the run completed, else 1. */
int bench_run(bench_t *b)
{
    struct epoll_event ev[BENCH_FAST_EVENTS];
    int64_t batch_us = (int64_t)b->batch_ms * 1000;
    while (b->phase != PH_DONE && !b->fatal && !tool_stop_requested()) {
        int64_t now = bench_mono_us();
        if (now >= b->hard_deadline_us) {
            snprintf(b->fatal_msg, sizeof b->fatal_msg, "time bound reached in phase %s",
                     PHASE_NAMES[b->phase]);
            b->fatal = 1;
            break;
        }
        int64_t wake = next_wakeup(b);
        int timeout = wake <= now ? 0 : (int)((wake - now + 999) / 1000);
        int n = epoll_wait(b->ep_fast, ev, BENCH_FAST_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            snprintf(b->fatal_msg, sizeof b->fatal_msg, "epoll_wait: %s", strerror(errno));
            b->fatal = 1;
            break;
        }
        for (int i = 0; i < n; i++)
            bench_conn_event(b, ev[i].data.ptr, ev[i].events);
        now = bench_mono_us();
        if (now >= b->next_batch_us) {
            bench_batch_tick(b);
            b->next_batch_us += batch_us;
            if (b->next_batch_us <= now)
                b->next_batch_us = now + batch_us;
        }
        bench_pub_pump(b, now);
        advance(b, now);
        now = bench_mono_us();
        if (now >= b->next_report_us) {
            bench_check_setup_timeouts(b, now);
            bench_report_second(b, now);
            b->next_report_us += 1000000;
            if (b->next_report_us <= now)
                b->next_report_us = now + 1000000;
        }
    }
    if (tool_stop_requested() && !b->fatal) {
        snprintf(b->fatal_msg, sizeof b->fatal_msg, "interrupted in phase %s",
                 PHASE_NAMES[b->phase]);
        b->fatal = 1;
    }
    return b->fatal ? 1 : 0;
}
