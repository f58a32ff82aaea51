/* worker: the loop's side of the worker threads (see worker.h). */
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common.h"
#include "conn_tls.h"
#include "cpus.h"
#include "log.h"
#include "stream_internal.h"
#include "stream_tap.h"
#include "tls_io.h"
#include "worker_internal.h"

#define WORKER_REPORT_BATCH 256
#define WORKER_END_WAIT_MS 1000 /* a closed record waits this long for its worker's last report */

/* A stream with handed-over players: its tap copies each message to the
 * workers that have players of it. */
typedef struct feed {
    struct feed *next;
    stream_tap_t tap; /* tap.players: the handed-over players (all workers) */
    worker_pool_t *pool;
    uint64_t id;
    int ended;                      /* the stream ended: the tap is detached */
    uint32_t count[WORKERS_MAX];    /* handed-over players per slot */
    uint8_t need_key[WORKERS_MAX];  /* a message was lost: skip to the next key frame */
    uint64_t retained[WORKERS_MAX]; /* what each worker's copy holds (its last WK_REP_FEED) */
    uint64_t drops;                 /* messages a full queue refused */
    int drop_logged;
} feed_t;

/* Per handed-over connection (c->worker). */
struct worker_sess {
    unsigned slot;
    uint64_t feed_id;
    uint64_t dropped; /* the worker's last report */
    uint32_t queued;  /* the bytes queued for the player (the worker's last report) */
    int gone;         /* the worker ended it (its last report came, or none will) */
    int released;     /* closing on the loop (worker_conn_release()) */
    int64_t released_ms;
};

struct worker_ctx {
    worker_pool_t *pool;
    unsigned slot;
};

struct worker_pool {
    node_t *node;
    unsigned n; /* loops, the event loop's slot 0 included */
    unsigned rr;
    int stopped;
    worker_t *w[WORKERS_MAX];         /* slots 1..n-1 */
    struct event rep_ev[WORKERS_MAX]; /* a worker's reports are readable */
    struct worker_ctx ctx[WORKERS_MAX];
    feed_t *feeds;
    uint64_t next_feed_id;
    uint64_t writes, msgs; /* the workers' hubs' (WK_REP_HUB) */
};

unsigned worker_count(uint32_t conf_workers)
{
    long n = conf_workers;
    if (!n) {
        cpus_t c;
        cpus_usable(&c);
        n = c.usable;
    }
    if (n < 1)
        n = 1;
    return n > WORKERS_MAX ? WORKERS_MAX : (unsigned)n;
}

/* ---- feeds --------------------------------------------------------------- */

static feed_t *feed_by_id(worker_pool_t *pool, uint64_t id)
{
    for (feed_t *f = pool->feeds; f; f = f->next)
        if (f->id == id)
            return f;
    return NULL;
}

/* Logs the first loss of a feed; counts every one. */
static void feed_lost(feed_t *f, unsigned slot)
{
    f->drops++;
    if (!f->drop_logged) {
        f->drop_logged = 1;
        log_warn(0, "worker %u falls behind on %s/%s: its queue is full, messages dropped", slot,
                 f->tap.stream ? stream_app(f->tap.stream) : "?",
                 f->tap.stream ? stream_name(f->tap.stream) : "?");
    }
}

/* A copy of m to the worker in slot: droppable video is refused first
 * (the media bound of the queue), and after any other loss the worker gets
 * nothing but headers until the next key frame. */
static void feed_send(feed_t *f, unsigned slot, const msg_t *m)
{
    int header = (m->flags & (MSG_F_SEQHDR | MSG_F_META)) != 0;
    if (m->type == MSG_TYPE_EVENT || (f->need_key[slot] && !header && !(m->flags & MSG_F_KEY)))
        return;
    uint8_t *copy = malloc(m->len ? m->len : 1);
    wq_item_t it = {.kind = WK_MEDIA,
                    .type = m->type,
                    .flags = m->flags,
                    .fd = -1,
                    .ts = m->ts,
                    .len = m->len,
                    .id = f->id,
                    .ptr = copy};
    if (copy && m->len)
        memcpy(copy, m->payload, m->len);
    if (!copy || wq_push(worker_thread_in(f->pool->w[slot]), &it, header ? WQ_CONTROL : WQ_MEDIA)) {
        free(copy);
        if (!(m->flags & MSG_F_DROPPABLE))
            f->need_key[slot] = 1;
        feed_lost(f, slot);
        return;
    }
    if (m->flags & MSG_F_KEY)
        f->need_key[slot] = 0;
}

static void feed_msg(stream_tap_t *t, msg_t *m)
{
    feed_t *f = t->owner;
    if (f->pool->stopped)
        return; /* the node stops: the workers are gone */
    for (unsigned slot = 1; slot < f->pool->n; slot++)
        if (f->count[slot])
            feed_send(f, slot, m);
}

static int feed_control(feed_t *f, unsigned slot, wq_item_t *it)
{
    if (f->pool->stopped)
        return -1; /* the node stops: the workers are gone (no queue to push to) */
    if (wq_push(worker_thread_in(f->pool->w[slot]), it, WQ_CONTROL) == 0)
        return 0;
    log_error(0, "worker %u: its queue is full (%s)", slot,
              it->kind == WK_FEED_END        ? "a stream's end is lost"
              : it->kind == WK_FEED_GOP_DROP ? "a GOP cache drop is lost"
              : it->kind == WK_PLAYER_ADD    ? "a player stays on the loop"
                                             : "an unpublish or republish notice is lost");
    return -1;
}

/* The stream's share of the memory bound counts what the copies hold. */
static void feed_set_retained(feed_t *f, unsigned slot, uint64_t bytes)
{
    f->retained[slot] = bytes;
    uint64_t n = 0;
    for (unsigned i = 1; i < f->pool->n; i++)
        n += f->retained[i];
    f->tap.retained = n;
}

static void feed_event(stream_tap_t *t, stream_tap_ev_t ev)
{
    feed_t *f = t->owner;
    if (ev == STREAM_TAP_MEMORY) { /* the copies drop their GOP caches too */
        for (unsigned slot = 1; slot < f->pool->n; slot++) {
            wq_item_t it = {.kind = WK_FEED_GOP_DROP, .fd = -1, .id = f->id};
            if (f->count[slot])
                (void)feed_control(f, slot, &it);
        }
        return;
    }
    if (ev != STREAM_TAP_END)
        return; /* a restart or a splice: the messages go on in ring order */
    f->ended = 1;
    for (unsigned slot = 1; slot < f->pool->n; slot++) {
        wq_item_t it = {.kind = WK_FEED_END, .fd = -1, .id = f->id};
        if (f->count[slot])
            (void)feed_control(f, slot, &it);
    }
}

/* The stream's publisher left within the grace period, or came back: the
 * copies' players are told, in the order of the messages. */
static void feed_player_event(stream_tap_t *t, player_event_t ev)
{
    feed_t *f = t->owner;
    uint8_t kind = ev == PLAYER_EV_UNPUBLISHED ? WK_FEED_UNPUBLISHED : WK_FEED_REPUBLISHED;
    for (unsigned slot = 1; slot < f->pool->n; slot++) {
        wq_item_t it = {.kind = kind, .fd = -1, .id = f->id};
        if (f->count[slot])
            (void)feed_control(f, slot, &it);
    }
}

/* The feed of s, made (and its tap added) if there is none. */
static feed_t *feed_get(worker_pool_t *pool, stream_t *s)
{
    for (feed_t *f = pool->feeds; f; f = f->next)
        if (!f->ended && f->tap.stream == s)
            return f;
    feed_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->pool = pool;
    f->id = ++pool->next_feed_id;
    f->tap.msg = feed_msg;
    f->tap.event = feed_event;
    f->tap.player_event = feed_player_event;
    f->tap.owner = f;
    f->tap.no_ts = 1;
    f->tap.players_end = 1;
    if (stream_tap_add(s, &f->tap) != 0) { /* no slot: its players stay on the loop */
        free(f);
        return NULL;
    }
    f->next = pool->feeds;
    pool->feeds = f;
    return f;
}

/* Frees f once no worker has its players. */
static void feed_maybe_free(feed_t *f)
{
    if (f->tap.players)
        return;
    stream_tap_remove(&f->tap);
    for (feed_t **pp = &f->pool->feeds; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    free(f);
}

/* The worker in slot starts mirroring f's stream: its name, then the
 * headers and the GOP cache, as a tap's registration gets them. */
static int feed_subscribe(feed_t *f, unsigned slot)
{
    const stream_t *s = f->tap.stream;
    size_t alen = strlen(s->app), nlen = strlen(s->name);
    char *names = malloc(alen + nlen + 2);
    if (!names)
        return -1;
    memcpy(names, s->app, alen + 1);
    memcpy(names + alen + 1, s->name, nlen + 1);
    wq_item_t it = {.kind = WK_FEED_START, .fd = -1, .id = f->id, .ptr = names};
    if (feed_control(f, slot, &it) != 0) {
        free(names);
        return -1;
    }
    f->need_key[slot] = 0;
    const msg_t *hdr[3] = {s->meta, s->vseq, s->aseq};
    for (int i = 0; i < 3; i++)
        if (hdr[i])
            feed_send(f, slot, hdr[i]);
    for (uint64_t q = stream_gop_start(s); q < s->head; q++)
        feed_send(f, slot, stream_ring_at(s, q));
    return 0;
}

/* One handed-over player of f on slot is gone. */
static void feed_release(feed_t *f, unsigned slot)
{
    f->count[slot]--;
    f->tap.players--;
    if (!f->count[slot])
        feed_set_retained(f, slot, 0);  /* the copy ends: what it holds goes */
    if (!f->count[slot] && !f->ended) { /* the worker's copy is no longer needed */
        wq_item_t it = {.kind = WK_FEED_END, .fd = -1, .id = f->id};
        (void)feed_control(f, slot, &it);
    }
    feed_maybe_free(f);
}

/* ---- players ------------------------------------------------------------- */

/* The loop's turn, or the slot of the worker to take the next player. */
static unsigned next_slot(worker_pool_t *pool)
{
    unsigned slot = pool->rr;
    pool->rr = (pool->rr + 1) % pool->n;
    return slot;
}

/* What the worker takes over with c: the private output queued (the
 * response head, taken out of c->out), the protocol and its state, the
 * peer's address. NULL when out of memory (c->out untouched). */
static worker_handoff_t *take_out(conn_t *c, const worker_proto_t *proto, void *state)
{
    size_t n = evbuffer_get_length(c->out);
    worker_handoff_t *h = malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->proto = proto;
    h->state = state;
    h->tls = NULL;
    snprintf(h->remote, sizeof h->remote, "%s", c->remote);
    h->head_len = (uint32_t)n;
    if (n)
        evbuffer_remove(c->out, h->head, n);
    return h;
}

void worker_handoff_free(worker_handoff_t *h)
{
    if (h && h->proto && h->state)
        h->proto->free(h->state);
    if (h && h->tls) {
        tls_io_release(h->tls, 0);
        free(h->tls);
    }
    free(h);
}

int worker_handover(conn_t *c, player_t *p, const worker_proto_t *proto, void *state)
{
    worker_pool_t *pool = c->node->workers;
    if (!pool || pool->stopped || conn_tls_handshaking(c) || c->fd < 0 || !p->attached ||
        !p->stream || evbuffer_get_length(c->out) > CONN_OUT_MAX)
        return -1;
    unsigned slot = next_slot(pool);
    feed_t *f = slot ? feed_get(pool, p->stream) : NULL;
    if (!f)
        return -1;
    struct worker_sess *ws = calloc(1, sizeof *ws);
    int fresh = f->count[slot] == 0;
    if (!ws || (fresh && feed_subscribe(f, slot) != 0)) {
        free(ws);
        feed_maybe_free(f);
        return -1;
    }
    worker_handoff_t *h = take_out(c, proto, state);
    if (h && c->tls) /* TLS: the SSL object goes too (conn_tls.h) */
        h->tls = conn_tls_detach(c);
    wq_item_t it = {.kind = WK_PLAYER_ADD,
                    .fd = c->fd,
                    .id = c->id,
                    .a = f->id,
                    .b = (uint64_t)p->enc,
                    .ptr = h};
    /* The loop lets go of the socket before the worker may use (and close) it. */
    event_del(&c->rev);
    event_del(&c->wev);
    if (!h || (c->tls && !h->tls) || feed_control(f, slot, &it) != 0) {
        /* state stays the caller's */
        event_add(&c->rev, NULL);
        if (c->wblocked)
            event_add(&c->wev, NULL);
        if (h)
            evbuffer_add(c->out, h->head, h->head_len); /* back, in order: nothing was written */
        if (h && h->tls)
            conn_tls_reattach(c, h->tls);
        free(h);
        free(ws);
        if (fresh) {
            f->count[slot] = 1; /* balanced by feed_release(): the worker's copy ends */
            f->tap.players++;
            feed_release(f, slot);
        }
        return -1;
    }
    ws->slot = slot;
    ws->feed_id = f->id;
    f->count[slot]++;
    f->tap.players++;
    stream_player_stop(p);
    c->player = NULL;
    c->wblocked = 0;
    c->fd = -1; /* the worker's now: it closes it */
    c->worker = ws;
    log_debug(c->id, "%s: handed to worker %u",
              proto                   ? proto->name
              : msg_enc_is_ts(p->enc) ? "http-ts"
                                      : "http-flv",
              slot);
    return 0;
}

void worker_conn_release(conn_t *c)
{
    struct worker_sess *ws = c->worker;
    worker_pool_t *pool = c->node->workers;
    if (!ws || ws->released)
        return;
    ws->released = 1;
    ws->released_ms = weir_mono_ms();
    if (!pool || pool->stopped)
        return;
    if (!ws->gone) {
        wq_item_t it = {
            .kind = WK_PLAYER_DROP, .fd = (int)c->why, .id = c->id, .str = c->close_reason};
        if (wq_push(worker_thread_in(pool->w[ws->slot]), &it, WQ_CONTROL) != 0) {
            log_error(c->id, "worker %u: its queue is full, a kick is lost", ws->slot);
            ws->gone = 1; /* no report will come */
        }
    }
    feed_t *f = feed_by_id(pool, ws->feed_id);
    if (f)
        feed_release(f, ws->slot);
}

int worker_conn_reapable(const conn_t *c)
{
    const struct worker_sess *ws = c->worker;
    const worker_pool_t *pool = c->node->workers;
    return !ws || ws->gone || !pool || pool->stopped ||
           weir_mono_ms() - ws->released_ms >= WORKER_END_WAIT_MS;
}

void worker_conn_free(conn_t *c)
{
    free(c->worker);
    c->worker = NULL;
}

uint64_t worker_conn_dropped(const conn_t *c)
{
    return c->worker ? c->worker->dropped : 0;
}

uint64_t worker_conn_queued(const conn_t *c)
{
    return c->worker ? c->worker->queued : 0;
}

void worker_player_counts(const node_t *node, uint64_t *writes, uint64_t *msgs)
{
    const worker_pool_t *pool = node->workers;
    *writes = pool ? pool->writes : 0;
    *msgs = pool ? pool->msgs : 0;
}

/* ---- reports from the workers -------------------------------------------- */

/* The session id's record: open, or closing and waiting for this report. */
static conn_t *find_record(node_t *node, uint64_t id)
{
    conn_t *c = node_find_session(node, id);
    if (c)
        return c;
    TAILQ_FOREACH(c, &node->reap, link)
    if (c->id == id)
        return c;
    return NULL;
}

static void handle_report(worker_pool_t *pool, unsigned slot, const wq_item_t *it)
{
    if (it->kind == WK_REP_HUB) {
        pool->writes += it->a;
        pool->msgs += it->b;
        return;
    }
    if (it->kind == WK_REP_FEED) {
        feed_t *f = feed_by_id(pool, it->id);
        if (f && f->count[slot]) /* (a report after the copy ended is stale) */
            feed_set_retained(f, slot, it->a);
        return;
    }
    conn_t *c = find_record(pool->node, it->id);
    if (!c || !c->worker || c->worker->gone)
        return; /* its record went (after WORKER_END_WAIT_MS) */
    struct worker_sess *ws = c->worker;
    feed_t *f = feed_by_id(pool, ws->feed_id);
    c->bytes_out += it->a;
    c->bytes_in += it->c;
    ws->dropped = it->b;
    ws->queued = it->kind == WK_REP_CLOSED ? 0 : it->len;
    if (f)
        stream_tap_count_out(&f->tap, it->a);
    if (it->kind != WK_REP_CLOSED)
        return;
    ws->gone = 1;
    if (c->closing) { /* the loop closed it first (a kick): now it may go */
        event_active(&pool->node->reap_ev, EV_TIMEOUT, 0);
        return;
    }
    reason_t why = (reason_t)it->fd;
    if (why == REASON_SLOW) /* the limit the loop counts for its own players */
        node_limit_hit(pool->node,
                       it->flags & WK_CLOSED_UNREAD ? LIMIT_UNREAD_REPLIES : LIMIT_SLOW_PLAYER);
    conn_close(c, why, it->str ? it->str : "closed");
}

static void report_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker_ctx *ctx = arg;
    worker_pool_t *pool = ctx->pool;
    wq_t *q = worker_thread_out(pool->w[ctx->slot]);
    wq_item_t items[WORKER_REPORT_BATCH];
    wq_drain_fd(q);
    size_t n = wq_pop(q, items, WORKER_REPORT_BATCH);
    for (size_t i = 0; i < n && !pool->stopped; i++)
        handle_report(pool, ctx->slot, &items[i]);
    if (n == WORKER_REPORT_BATCH)
        event_active(&pool->rep_ev[ctx->slot], EV_READ, 0); /* more: next iteration */
}

/* ---- the pool ------------------------------------------------------------ */

/* Node module, before the sessions close: the workers close their sockets
 * and stop; the loop's records of their players are closed by the node. */
static void pool_stop(void *arg)
{
    worker_pool_t *pool = arg;
    if (pool->stopped)
        return;
    pool->stopped = 1;
    for (unsigned slot = 1; slot < pool->n; slot++) {
        if (!pool->w[slot])
            continue;
        event_del(&pool->rep_ev[slot]);
        worker_thread_stop(pool->w[slot]);
        pool->w[slot] = NULL;
    }
}

/* Node module, after the sessions closed. */
static void pool_free(void *arg)
{
    worker_pool_t *pool = arg;
    pool_stop(pool);
    while (pool->feeds) {
        feed_t *f = pool->feeds;
        pool->feeds = f->next;
        stream_tap_remove(&f->tap);
        free(f);
    }
    if (pool->node->workers == pool)
        pool->node->workers = NULL;
    free(pool);
}

/* Node module, every tick: records waiting for a last report are reaped
 * once it came or their wait is over. */
static void pool_tick(void *arg, int64_t now_ms)
{
    (void)now_ms;
    worker_pool_t *pool = arg;
    if (!TAILQ_EMPTY(&pool->node->reap))
        event_active(&pool->node->reap_ev, EV_TIMEOUT, 0);
}

static const node_module_t WORKER_MODULE = {
    .name = "workers",
    .tick = pool_tick,
    .before_close = pool_stop,
    .after_close = pool_free,
};

int worker_pool_start(node_t *node, char *err, size_t errlen)
{
    unsigned n = worker_count(node->conf.workers);
    if (!node->conf.workers) {
        cpus_t c;
        cpus_usable(&c);
        log_info(0,
                 "workers: \"auto\": %u loops for %u usable CPUs (online %u, affinity %u, cgroup "
                 "quota %u; 0: none)",
                 n, c.usable, c.online, c.affinity, c.quota);
    }
    if (n <= 1)
        return 0; /* one loop: nothing changes */
    worker_pool_t *pool = calloc(1, sizeof *pool);
    if (!pool) {
        snprintf(err, errlen, "workers: out of memory");
        return -1;
    }
    pool->node = node;
    pool->n = n;
    for (unsigned slot = 1; slot < n; slot++) {
        worker_t *w = worker_thread_new(slot, &node->conf, node->conf.rtmp_chunk_size);
        pool->w[slot] = w;
        pool->ctx[slot] = (struct worker_ctx){pool, slot};
        if (!w || worker_thread_start(w) != 0) {
            snprintf(err, errlen, "workers: cannot start worker %u: %s", slot,
                     w ? strerror(errno) : "out of memory");
            worker_thread_stop(w);
            pool->w[slot] = NULL;
            pool->n = slot; /* pool_free() stops the ones started */
            pool_free(pool);
            return -1;
        }
        event_assign(&pool->rep_ev[slot], node->base, wq_fd(worker_thread_out(w)),
                     EV_READ | EV_PERSIST, report_cb, &pool->ctx[slot]);
        event_add(&pool->rep_ev[slot], NULL);
    }
    if (node_add_module(node, &WORKER_MODULE, pool) != 0) {
        snprintf(err, errlen, "workers: too many node modules");
        pool_free(pool);
        return -1;
    }
    node->workers = pool;
    log_info(0,
             "workers: %u loops (the event loop and %u worker threads) serve HTTP-FLV, "
             "HTTP-TS, WebSocket-FLV and RTMP players",
             n, n - 1);
    return 0;
}
