/* hls_stream: the node's HLS state per stream (see hls_stream.h). */
#include "hls_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common.h"
#include "hls_fmp4.h"
#include "hls_sess.h"
#include "log.h"
#include "stream_tap.h"

struct hls_stream {
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    stream_tap_t tap;
    hls_seg_t *seg;
    hls_fmp4_t *fmp4;     /* the fMP4 rendition, made on its first request; NULL: none */
    int64_t last_fmp4_ms; /* monotonic ms of the last fMP4 request */
    int ended;
    int64_t ended_ms;    /* monotonic ms of the end */
    int64_t last_req_ms; /* monotonic ms of the last request */
    TAILQ_HEAD(, hls_waiter) waiters;
    LIST_ENTRY(hls_stream) link;
};

static struct {
    LIST_HEAD(, hls_stream) streams;
    size_t nstreams;
} HLS;

/* Wakes every request held on st (each may wait again). */
static void wake_all(hls_stream_t *st)
{
    TAILQ_HEAD(, hls_waiter) woken = TAILQ_HEAD_INITIALIZER(woken);
    TAILQ_CONCAT(&woken, &st->waiters, link);
    hls_waiter_t *w;
    while ((w = TAILQ_FIRST(&woken)) != NULL) {
        TAILQ_REMOVE(&woken, w, link);
        w->st = NULL;
        w->wake(w);
    }
}

static void seg_update(void *arg, uint64_t msn, unsigned nparts)
{
    (void)msn;
    (void)nparts;
    wake_all(arg);
}

void hls_stream_wait(hls_stream_t *st, hls_waiter_t *w)
{
    w->st = st;
    TAILQ_INSERT_TAIL(&st->waiters, w, link);
}

void hls_stream_unwait(hls_waiter_t *w)
{
    if (w->st)
        TAILQ_REMOVE(&w->st->waiters, w, link);
    w->st = NULL;
}

static void tap_msg(stream_tap_t *t, msg_t *m)
{
    hls_stream_t *st = t->owner;
    hls_seg_push(st->seg, m, weir_wall_ms());
}

static void tap_event(stream_tap_t *t, stream_tap_ev_t ev)
{
    hls_stream_t *st = t->owner;
    switch (ev) {
    case STREAM_TAP_RESTART: hls_seg_break(st->seg); break;
    case STREAM_TAP_SPLICE_RESTAMPED: hls_seg_discontinuity(st->seg); break;
    case STREAM_TAP_SPLICE_EXACT:
    case STREAM_TAP_SPLICE_SAME: break; /* the same source: no tag */
    case STREAM_TAP_MEMORY: break;      /* its segments are bounded by hls.window */
    case STREAM_TAP_END:
        hls_seg_end(st->seg);
        st->ended = 1;
        st->ended_ms = weir_mono_ms();
        log_info(0, "hls: %s/%s ended", st->app, st->name);
        wake_all(st); /* the final playlist */
        break;
    }
}

static void stream_free(hls_stream_t *st)
{
    LIST_REMOVE(st, link);
    HLS.nstreams--;
    wake_all(st); /* it is no longer found: they answer 404 */
    stream_tap_remove(&st->tap);
    hls_fmp4_free(st->fmp4);
    hls_seg_free(st->seg);
    free(st);
}

static hls_stream_t *stream_find(const char *app, const char *name)
{
    hls_stream_t *st;
    LIST_FOREACH(st, &HLS.streams, link)
    if (strcmp(st->app, app) == 0 && strcmp(st->name, name) == 0)
        return st;
    return NULL;
}

static hls_stream_t *stream_create(node_t *node, stream_t *s, int *rc)
{
    const conf_t *c = &node->conf;
    hls_seg_cfg_t cfg = {c->hls_segment_ms, c->hls_part_ms, c->hls_window,
                         (uint64_t)weir_wall_ms() / HLS_MSN_UNIT_MS};
    hls_stream_t *st = calloc(1, sizeof *st);
    if (st) {
        TAILQ_INIT(&st->waiters);
        st->seg = hls_seg_new(&cfg, seg_update, st);
    }
    if (!st || !st->seg) {
        free(st);
        *rc = NODE_ENOMEM;
        return NULL;
    }
    snprintf(st->app, sizeof st->app, "%s", stream_app(s));
    snprintf(st->name, sizeof st->name, "%s", stream_name(s));
    st->tap = (stream_tap_t){.msg = tap_msg, .event = tap_event, .owner = st};
    LIST_INSERT_HEAD(&HLS.streams, st, link);
    HLS.nstreams++;
    *rc = stream_tap_add(s, &st->tap);
    if (*rc != 0) {
        stream_free(st);
        return NULL;
    }
    log_info(0, "hls: %s/%s started", st->app, st->name);
    return st;
}

hls_stream_t *hls_stream_get(node_t *node, const char *app, const char *name, int create, int *rc)
{
    hls_stream_t *st = stream_find(app, name);
    stream_t *s = hub_lookup(node->hub, app, name);
    size_t players = 0;
    if (st && st->ended && create && s && stream_is_live(s)) {
        players = st->tap.players; /* its sessions go on with the new one */
        stream_free(st);           /* a new publish after the end: a new timeline */
        st = NULL;
    }
    *rc = NODE_ENOTFOUND;
    if (!st && create && s && stream_is_live(s)) {
        if (HLS.nstreams >= HLS_STREAMS_MAX) {
            *rc = NODE_ELIMIT;
            return NULL;
        }
        st = stream_create(node, s, rc);
        if (st)
            st->tap.players = players;
    }
    if (st)
        st->last_req_ms = weir_mono_ms();
    return st;
}

int hls_stream_ended(const hls_stream_t *st)
{
    return st->ended;
}

size_t hls_stream_playlist(const hls_stream_t *st, hls_container_t container, const char *token,
                           int skip, char *out, size_t cap)
{
    static hls_seg_desc_t descs[HLS_SEG_WINDOW_MAX + 1];
    static hls_part_desc_t parts[(HLS_SEG_WINDOW_MAX + 1) * HLS_SEG_MAX_PARTS];
    hls_playlist_t pl;
    memset(&pl, 0, sizeof pl);
    unsigned listed = hls_seg_describe(st->seg, descs, parts, &pl);
    if (listed == 0 || descs[0].dur_ms == 0)
        return 0; /* no complete segment yet: players without LL-HLS would see none */
    pl.container = container;
    pl.in_dir = container == HLS_FMP4;
    pl.name = st->name;
    pl.token = token;
    pl.skip = skip ? hls_skippable(&pl) : 0;
    size_t n = hls_playlist_write(&pl, out, cap);
    return n >= cap ? (size_t)-1 : n;
}

int hls_stream_ready(const hls_stream_t *st, uint64_t msn, int part)
{
    return hls_seg_ready(st->seg, msn, part);
}

/* The messages [first, first + count) of a segment or part, or an error. */
static int64_t part_range(const hls_stream_t *st, uint64_t msn, int part, uint32_t *first,
                          uint32_t *count, const hls_segment_t **out)
{
    const hls_segment_t *sg = hls_seg_get(st->seg, msn);
    *out = sg;
    if (part < 0) {
        if (!sg || !sg->complete)
            return sg || msn != hls_seg_next_msn(st->seg) ? HLS_GONE : HLS_NOT_YET;
        *first = 0;
        *count = sg->nmsgs;
        return 0;
    }
    if (sg && (unsigned)part < sg->nparts) {
        *first = sg->parts[part].first;
        *count = sg->parts[part].count;
        return 0;
    }
    int next = sg ? !sg->complete && (unsigned)part == sg->nparts
                  : part == 0 && msn == hls_seg_next_msn(st->seg);
    return next && !st->ended ? HLS_NOT_YET : HLS_GONE;
}

/* The fMP4 rendition, made on first use; NULL when out of memory. */
static hls_fmp4_t *fmp4_of(hls_stream_t *st)
{
    st->last_fmp4_ms = weir_mono_ms();
    if (!st->fmp4 && (st->fmp4 = hls_fmp4_new()) != NULL)
        log_info(0, "hls: %s/%s fMP4 rendition started", st->app, st->name);
    return st->fmp4;
}

static int64_t fmp4_rc(int64_t rc)
{
    return rc == NODE_EPROTO ? HLS_NO_TRACK : rc == NODE_ENOTFOUND ? HLS_GONE : rc;
}

int64_t hls_stream_init(hls_stream_t *st, uint64_t id, struct evbuffer *out)
{
    hls_fmp4_t *f = fmp4_of(st);
    return f ? fmp4_rc(hls_fmp4_init(f, st->seg, id, out)) : NODE_ENOMEM;
}

int hls_stream_fmp4_ok(hls_stream_t *st)
{
    hls_fmp4_t *f = fmp4_of(st);
    const hls_segment_t *sg = hls_seg_get(st->seg, hls_seg_next_msn(st->seg) - 1);
    return f && (!sg || hls_fmp4_init(f, st->seg, sg->map_id, NULL) >= 0);
}

int64_t hls_stream_bytes(hls_stream_t *st, hls_container_t container, uint64_t msn, int part,
                         struct evbuffer *out)
{
    const hls_segment_t *sg;
    uint32_t first, count;
    int64_t rc = part_range(st, msn, part, &first, &count, &sg);
    if (rc < 0)
        return rc;
    if (container == HLS_FMP4) {
        hls_fmp4_t *f = fmp4_of(st);
        return f ? fmp4_rc(hls_fmp4_bytes(f, st->seg, sg, part, out)) : NODE_ENOMEM;
    }
    int64_t n = 0;
    for (uint32_t i = first; i < first + count; i++) {
        msg_t *m = sg->msgs[i];
        if (!m->mpegts_len)
            continue;
        n += m->mpegts_len;
        if (!out)
            continue;
        msg_ref(m);
        if (evbuffer_add_reference(out, m->mpegts, m->mpegts_len, hls_msg_unref_cb, m) != 0) {
            msg_unref(m);
            return NODE_ENOMEM;
        }
    }
    return n;
}

void hls_stream_count_out(hls_stream_t *st, uint64_t bytes)
{
    stream_tap_count_out(&st->tap, bytes);
}

void hls_stream_players(const char *app, const char *name, int delta)
{
    hls_stream_t *st = stream_find(app, name);
    if (st && (delta > 0 || st->tap.players > 0))
        st->tap.players = (size_t)((int64_t)st->tap.players + delta);
}

static void hls_tick(void *arg, int64_t now_ms)
{
    node_t *node = arg;
    hls_sess_tick(node, now_ms);
    int64_t idle = (int64_t)node->conf.hls_idle_timeout_s * 1000;
    hls_stream_t *st, *next;
    for (st = LIST_FIRST(&HLS.streams); st; st = next) {
        next = LIST_NEXT(st, link);
        if (st->fmp4 && now_ms - st->last_fmp4_ms > idle) {
            hls_fmp4_free(st->fmp4); /* no fMP4 player any more */
            st->fmp4 = NULL;
            log_info(0, "hls: %s/%s fMP4 rendition stopped (no requests)", st->app, st->name);
        }
        if (st->tap.players)
            continue;
        if (now_ms - st->last_req_ms > idle ||
            (st->ended && now_ms - st->ended_ms > HLS_STREAM_LINGER_MS)) {
            log_info(0, "hls: %s/%s stopped (no requests)", st->app, st->name);
            stream_free(st);
        }
    }
}

/* The node stops: every session ends (play.stop). */
static void hls_before_close(void *arg)
{
    hls_sess_end_all(arg);
}

static void hls_after_close(void *arg)
{
    (void)arg;
    hls_sess_free_all();
    while (!LIST_EMPTY(&HLS.streams))
        stream_free(LIST_FIRST(&HLS.streams));
}

static const node_module_t HLS_MODULE = {.name = "hls",
                                         .tick = hls_tick,
                                         .before_close = hls_before_close,
                                         .after_close = hls_after_close};

int hls_install(node_t *node)
{
    LIST_INIT(&HLS.streams);
    return node_add_module(node, &HLS_MODULE, node);
}
