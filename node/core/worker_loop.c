/* worker_loop: the thread side of a worker (worker_internal.h, worker.h).
 *
 * A worker runs its own event base and its own hub (stream.h) over a copy
 * of the node's conf. Each stream the loop feeds it (WK_FEED_START) is
 * published on that hub by a publisher of the worker's, and the loop's
 * copies of the stream's messages (WK_MEDIA) are pushed to it: the
 * worker's ring, GOP cache, fan-out passes and slow-player policy are the
 * hub's own code, run on this thread only. Handed-over HTTP-FLV, HTTP-TS,
 * WebSocket-FLV and RTMP players (WK_PLAYER_ADD: the socket, the bytes the
 * loop had queued, and for WebSocket and RTMP the session state with its
 * worker_proto_t, whose rules run here: client frames or chunks read,
 * replies, timers, notices, the last bytes) play the worker's copy of the stream and are written
 * here; their bytes and
 * drops go back to the loop as WK_REP_STATS every WORKER_REPORT_MS, and
 * their end as WK_REP_CLOSED; what each copy's ring holds goes back as
 * WK_REP_FEED, so that the loop's stream counts it against
 * limits.max_memory_mb (the worker's hub has no bound of its own), and
 * when the loop's stream drops its GOP cache for memory the copy drops its
 * own (WK_FEED_GOP_DROP). Nothing here touches the loop's structs.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "common.h"
#include "log.h"
#include "reason.h"
#include "stream.h"
#include "stream_internal.h"
#include "worker_thread.h"

#define WORKER_IN_SLOTS 4096
#define WORKER_OUT_SLOTS 8192
#define WORKER_POP_BATCH 256
#define WORKER_TICK_MS 250
#define WORKER_REPORT_TICKS 4 /* stats every second */
/* A copy's retained bytes are reported when they moved by this much since
 * the last report, and every report tick when they moved at all. */
#define WORKER_RETAIN_STEP (64 * 1024)

/* ---- reports ------------------------------------------------------------- */

/* Reports what f's copy of the stream holds (its ring's bytes: it counts
 * in the stream's share of limits.max_memory_mb on the loop) when it moved
 * by WORKER_RETAIN_STEP, or at all when tick. A refused item is retried at
 * the next call. */
static void feed_report(worker_t *w, wfeed_t *f, int tick)
{
    uint64_t r = f->live && f->pub.stream ? stream_retained_bytes(f->pub.stream) : 0;
    uint64_t moved = r > f->retained_reported ? r - f->retained_reported : f->retained_reported - r;
    if (!moved || (!tick && moved < WORKER_RETAIN_STEP))
        return;
    wq_item_t it = {.kind = WK_REP_FEED, .fd = -1, .id = f->id, .a = r};
    if (wq_push(w->out, &it, WQ_CONTROL) == 0)
        f->retained_reported = r;
}

wfeed_t *worker_feed_find(worker_t *w, uint64_t id)
{
    for (wfeed_t *f = w->feeds; f; f = f->next)
        if (f->id == id)
            return f;
    return NULL;
}

/* ---- feeds --------------------------------------------------------------- */

static void feed_kick(publisher_t *pub, reason_t why, const char *reason)
{
    (void)why;
    (void)reason;
    wfeed_t *f = pub->owner;
    if (f->live)
        stream_unpublish(pub, weir_mono_ms());
    f->live = 0;
}

static const publisher_ops_t FEED_OPS = {feed_kick};

static void feed_start(worker_t *w, wq_item_t *it)
{
    const char *app = it->ptr;
    const char *name = app ? app + strlen(app) + 1 : NULL;
    wfeed_t *f = calloc(1, sizeof *f);
    if (!f || !app) {
        log_error(0, "worker %u: out of memory for a stream", w->slot);
        free(f);
        free(it->ptr);
        return;
    }
    f->w = w;
    f->id = it->id;
    f->pub = (publisher_t){.ops = &FEED_OPS, .owner = f, .source = "worker"};
    int rc = stream_publish(w->hub, app, name, &f->pub);
    if (rc != 0)
        log_error(0, "worker %u: cannot mirror %s/%s (%d): its players end", w->slot, app, name,
                  rc);
    f->live = rc == 0;
    f->next = w->feeds;
    w->feeds = f;
    free(it->ptr);
}

static void feed_end(worker_t *w, uint64_t id)
{
    for (wfeed_t **pp = &w->feeds; *pp; pp = &(*pp)->next) {
        wfeed_t *f = *pp;
        if (f->id != id)
            continue;
        if (f->live && f->pub.stream)
            stream_close(f->pub.stream, REASON_STREAM_ENDED, "stream ended");
        if (f->live) /* stream_close() kicked it: unpublished by feed_kick() */
            stream_unpublish(&f->pub, weir_mono_ms());
        *pp = f->next;
        free(f);
        return;
    }
}

/* WK_FEED_GOP_DROP: the loop's stream dropped its GOP cache (memory). */
static void feed_gop_drop(worker_t *w, uint64_t id)
{
    wfeed_t *f = worker_feed_find(w, id);
    if (f && f->live && f->pub.stream)
        stream_drop_gop_cache(f->pub.stream);
}

static void feed_media(worker_t *w, wq_item_t *it)
{
    wfeed_t *f = worker_feed_find(w, it->id);
    if (!f || !f->live) {
        free(it->ptr);
        return;
    }
    if (stream_push(&f->pub, it->type, it->ts, it->ptr, it->len, weir_mono_ms()) == 0)
        f->dirty = 1;
}

/* WK_FEED_UNPUBLISHED / REPUBLISHED: the event goes into the copy's ring,
 * after the messages before it, as on the loop's stream. */
static void feed_player_event(worker_t *w, uint64_t id, player_event_t ev)
{
    wfeed_t *f = worker_feed_find(w, id);
    if (!f || !f->live || !f->pub.stream)
        return;
    stream_push_event(f->pub.stream, ev);
    f->dirty = 1; /* flushed after the batch */
}

/* ---- the thread's events --------------------------------------------------- */

static int handle_item(worker_t *w, wq_item_t *it)
{
    switch (it->kind) {
    case WK_FEED_START: feed_start(w, it); break;
    case WK_MEDIA: feed_media(w, it); break;
    case WK_FEED_END: feed_end(w, it->id); break;
    case WK_PLAYER_ADD: worker_player_add(w, it); break;
    case WK_PLAYER_DROP: worker_player_drop(w, it); break;
    case WK_FEED_GOP_DROP: feed_gop_drop(w, it->id); break;
    case WK_FEED_UNPUBLISHED: feed_player_event(w, it->id, PLAYER_EV_UNPUBLISHED); break;
    case WK_FEED_REPUBLISHED: feed_player_event(w, it->id, PLAYER_EV_REPUBLISHED); break;
    case WK_STOP: return 1;
    default: free(it->ptr); break;
    }
    return 0;
}

/* An item not handled (the worker stops): its socket and buffers go. */
static void drop_item(wq_item_t *it)
{
    if (it->kind == WK_PLAYER_ADD) {
        close(it->fd);
        worker_handoff_free(it->ptr);
    } else {
        free(it->ptr);
    }
}

static void stop_all(worker_t *w)
{
    wplayer_t *wp;
    while ((wp = TAILQ_FIRST(&w->players)) != NULL)
        wplayer_close(wp, REASON_SHUTDOWN, "node stopping");
    while (w->feeds)
        feed_end(w, w->feeds->id);
    worker_reap_cb(-1, 0, w);
    event_base_loopbreak(w->base);
}

static void in_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *w = arg;
    wq_item_t items[WORKER_POP_BATCH];
    wq_drain_fd(w->in);
    size_t n = wq_pop(w->in, items, WORKER_POP_BATCH);
    int stop = 0;
    for (size_t i = 0; i < n; i++) {
        if (stop)
            drop_item(&items[i]);
        else
            stop = handle_item(w, &items[i]);
    }
    for (wfeed_t *f = w->feeds; f; f = f->next) {
        if (f->dirty && f->live && f->pub.stream)
            stream_flush(f->pub.stream);
        if (f->dirty)
            feed_report(w, f, 0);
        f->dirty = 0;
    }
    if (stop)
        stop_all(w);
    else if (n == WORKER_POP_BATCH)
        event_active(&w->in_ev, EV_READ, 0); /* more: after this iteration's writes */
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *w = arg;
    int64_t now = weir_mono_ms();
    hub_tick(w->hub, now);
    worker_players_tick(w, now);
    if (++w->ticks % WORKER_REPORT_TICKS)
        return;
    wplayer_t *wp;
    TAILQ_FOREACH(wp, &w->players, link)
    wplayer_report(wp, 0);
    for (wfeed_t *f = w->feeds; f; f = f->next)
        feed_report(w, f, 1);
    uint64_t writes, msgs, passes;
    hub_player_counts(w->hub, &writes, &msgs, &passes);
    if (writes == w->writes_reported && msgs == w->msgs_reported)
        return;
    wq_item_t it = {.kind = WK_REP_HUB,
                    .fd = -1,
                    .a = writes - w->writes_reported,
                    .b = msgs - w->msgs_reported};
    if (wq_push(w->out, &it, WQ_CONTROL) == 0) {
        w->writes_reported = writes;
        w->msgs_reported = msgs;
    }
}

/* The worker hub's fan-out pass, as the node's (node.c): requested by
 * stream_flush(), run at the end of the iteration, continued after the
 * next poll when cut at its bound. */
static void fanout_request(void *arg)
{
    worker_t *w = arg;
    if (w->fanout_pending)
        return;
    w->fanout_pending = 1;
    uint32_t ms = w->conf.player_merge_ms; /* merged writes, as on the event loop */
    if (ms) {
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        event_add(&w->fanout_ev, &tv);
    } else {
        event_active(&w->fanout_ev, EV_TIMEOUT, 0);
    }
}

static void fanout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *w = arg;
    int more = hub_fanout(w->hub);
    w->fanout_pending = 0;
    if (more) {
        struct timeval zero = {0, 0};
        w->fanout_pending = 1;
        event_add(&w->fanout_ev, &zero);
    }
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

/* ---- the loop's side ------------------------------------------------------ */

worker_t *worker_thread_new(unsigned slot, const conf_t *conf, uint32_t chunk_size)
{
    worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->slot = slot;
    w->conf = *conf;
    TAILQ_INIT(&w->players);
    TAILQ_INIT(&w->reap);
    w->base = event_base_new();
    w->in = wq_new(WORKER_IN_SLOTS, conf->player_max_queue_bytes);
    w->out = wq_new(WORKER_OUT_SLOTS, 0);
    w->hub = w->base ? hub_new(&w->conf, chunk_size) : NULL;
    if (!w->hub || !w->in || !w->out) {
        worker_thread_stop(w);
        return NULL;
    }
    hub_set_scheduler(w->hub, fanout_request, w);
    hub_no_memory_bound(w->hub); /* the loop's hub bounds the node, counting this copy */
    struct timeval tick = {0, WORKER_TICK_MS * 1000};
    event_assign(&w->in_ev, w->base, wq_fd(w->in), EV_READ | EV_PERSIST, in_cb, w);
    event_assign(&w->tick_ev, w->base, -1, EV_PERSIST, tick_cb, w);
    event_assign(&w->fanout_ev, w->base, -1, 0, fanout_cb, w);
    event_assign(&w->reap_ev, w->base, -1, 0, worker_reap_cb, w);
    w->assigned = 1;
    event_add(&w->in_ev, NULL);
    event_add(&w->tick_ev, &tick);
    return w;
}

wq_t *worker_thread_in(worker_t *w)
{
    return w->in;
}

wq_t *worker_thread_out(worker_t *w)
{
    return w->out;
}

int worker_thread_start(worker_t *w)
{
    /* Signals are the event loop's (SIGHUP, SIGTERM ...): the thread starts
     * with them blocked (it inherits the mask), so none runs a handler on it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->th, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    w->started = 1;
    return 0;
}

void worker_thread_stop(worker_t *w)
{
    if (!w)
        return;
    if (w->started) {
        wq_item_t stop = {.kind = WK_STOP, .fd = -1};
        while (wq_push(w->in, &stop, WQ_CONTROL) != 0)
            usleep(1000); /* full: the worker is popping (bounded by its ring) */
        pthread_join(w->th, NULL);
    }
    wq_item_t left[WORKER_POP_BATCH];
    size_t n;
    while (w->in && (n = wq_pop(w->in, left, WORKER_POP_BATCH)) > 0)
        for (size_t i = 0; i < n; i++)
            drop_item(&left[i]); /* (handed over after the stop: their sockets close) */
    if (w->hub)
        hub_free(w->hub);
    if (w->assigned) {
        event_del(&w->in_ev);
        event_del(&w->tick_ev);
        event_del(&w->fanout_ev);
        event_del(&w->reap_ev);
    }
    if (w->base)
        event_base_free(w->base);
    wq_free(w->in);
    wq_free(w->out);
    free(w);
}
