/* worker_loop: the thread side of a worker (worker_internal.h, worker.h).
 *
 * A worker runs its own event base and its own hub (stream.h) over a copy
 * of the node's conf. Each stream the loop feeds it (WK_FEED_START) is
 * published on that hub by a publisher of the worker's, and the loop's
 * copies of the stream's messages (WK_MEDIA) are pushed to it: the
 * worker's ring, GOP cache, fan-out passes and slow-player policy are the
 * hub's own code, run on this thread only. Handed-over HTTP-FLV and
 * WebSocket-FLV players (WK_PLAYER_ADD: the socket, the bytes the loop had
 * queued, and for WebSocket the session state with its worker_proto_t,
 * whose rules run here: client frames read, pongs, pings, the idle cut,
 * the close frame) play the worker's copy of the stream and are written
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
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "common.h"
#include "log.h"
#include "reason.h"
#include "stream.h"
#include "worker_internal.h"

#define WORKER_IN_SLOTS 4096
#define WORKER_OUT_SLOTS 8192
#define WORKER_POP_BATCH 256
#define WORKER_TICK_MS 250
#define WORKER_REPORT_TICKS 4 /* stats every second */
#define WORKER_MAX_IOV 64
#define WORKER_WRITE_BATCH (256 * 1024)
#define WORKER_FLUSH_ROUNDS 4
#define WORKER_READ_BUF (16 * 1024)
/* A copy's retained bytes are reported when they moved by this much since
 * the last report, and every report tick when they moved at all. */
#define WORKER_RETAIN_STEP (64 * 1024)

/* A stream the loop feeds this worker. */
typedef struct wfeed {
    struct wfeed *next;
    worker_t *w;
    uint64_t id;
    publisher_t pub;
    int live;  /* published on the worker's hub */
    int dirty; /* got media since the last stream_flush() */
    uint64_t retained_reported; /* the ring's bytes, as the loop last heard */
} wfeed_t;

/* A handed-over player. */
typedef struct wplayer {
    TAILQ_ENTRY(wplayer) link;
    worker_t *w;
    uint64_t id;
    int fd;
    struct event rev, wev;
    player_t player;
    /* Private bytes (the response head, a protocol's replies, the last
     * chunk or close frame), written before the player's next message. */
    uint8_t *out;
    uint32_t out_len, out_off;
    int wblocked, ending, closing;
    int64_t ending_ms; /* when ending began: its last bytes are bounded in time */
    uint64_t bytes_out, bytes_reported, dropped_reported;
    uint64_t bytes_in, bytes_in_reported; /* read after the handover */
    reason_t why; /* closing: the end's; ending: the end to come */
    const char *reason;
    const worker_proto_t *proto; /* the client's protocol (WebSocket-FLV), or NULL */
    void *state;                 /* proto's */
    char *remote;                /* with proto: the peer, for its log lines */
} wplayer_t;

TAILQ_HEAD(wplayer_list, wplayer);

struct worker {
    unsigned slot;
    pthread_t th;
    int started;
    conf_t conf; /* the hub's (a copy: the loop's may be reloaded) */
    struct event_base *base;
    hub_t *hub;
    wq_t *in, *out;
    struct event in_ev, tick_ev, fanout_ev, reap_ev;
    uint8_t rbuf[WORKER_READ_BUF]; /* protocol players' reads */
    int fanout_pending;
    int assigned; /* the events above are assigned */
    unsigned ticks;
    uint64_t writes_reported, msgs_reported; /* the hub's player counts, as the loop heard */
    wfeed_t *feeds;
    struct wplayer_list players, reap;
};

static void wp_flush(wplayer_t *wp);

/* ---- reports ------------------------------------------------------------- */

/* Reports wp's bytes and drops (closed: its end too). A refused stats item
 * stays unreported until the next try; a refused close is logged. */
static void wp_report(wplayer_t *wp, int closed)
{
    uint64_t dropped = wp->player.dropped_frames;
    if (!closed && wp->bytes_out == wp->bytes_reported && dropped == wp->dropped_reported &&
        wp->bytes_in == wp->bytes_in_reported)
        return;
    wq_item_t it = {.kind = closed ? WK_REP_CLOSED : WK_REP_STATS,
                    .fd = closed ? (int)wp->why : -1,
                    .id = wp->id,
                    .a = wp->bytes_out - wp->bytes_reported,
                    .b = dropped,
                    .c = wp->bytes_in - wp->bytes_in_reported,
                    .str = wp->reason};
    if (wq_push(wp->w->out, &it, WQ_CONTROL) != 0) {
        if (closed)
            log_error(wp->id, "worker %u: report queue full, the end of a session is lost",
                      wp->w->slot);
        return;
    }
    wp->bytes_reported = wp->bytes_out;
    wp->bytes_in_reported = wp->bytes_in;
    wp->dropped_reported = dropped;
}

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

/* ---- players ------------------------------------------------------------- */

/* Ends wp: off the hub and the socket, reported and freed by the reaper
 * (never inside the hub's callbacks). */
static void wp_close(wplayer_t *wp, reason_t why, const char *reason)
{
    if (wp->closing)
        return;
    wp->closing = 1;
    wp->why = why;
    wp->reason = reason;
    stream_player_stop(&wp->player);
    event_del(&wp->rev);
    event_del(&wp->wev);
    close(wp->fd);
    wp->fd = -1;
    worker_t *w = wp->w;
    TAILQ_REMOVE(&w->players, wp, link);
    TAILQ_INSERT_TAIL(&w->reap, wp, link);
    event_active(&w->reap_ev, EV_TIMEOUT, 0);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *w = arg;
    wplayer_t *wp;
    while ((wp = TAILQ_FIRST(&w->reap)) != NULL) {
        TAILQ_REMOVE(&w->reap, wp, link);
        wp_report(wp, 1);
        if (wp->proto)
            wp->proto->free(wp->state);
        free(wp->remote);
        free(wp->out);
        free(wp);
    }
}

/* Appends to the private bytes (what is left of them, then data): 0, or
 * NODE_ENOMEM (the bytes are not sent; logged). */
static int wp_append(wplayer_t *wp, const void *data, size_t len)
{
    uint32_t left = wp->out_len - wp->out_off;
    uint8_t *buf = malloc((size_t)left + len);
    if (!buf) {
        log_error(wp->id, "worker %u: out of memory for a player's private bytes", wp->w->slot);
        return NODE_ENOMEM;
    }
    if (left)
        memcpy(buf, wp->out + wp->out_off, left);
    memcpy(buf + left, data, len);
    free(wp->out);
    wp->out = buf;
    wp->out_len = left + (uint32_t)len;
    wp->out_off = 0;
    return 0;
}

/* sink.h's send for wp's protocol: bounded as conn_send() (CONN_OUT_MAX:
 * a client that makes the node reply and reads nothing is closed). */
static int wp_sink_send(void *arg, const void *data, size_t len)
{
    wplayer_t *wp = arg;
    if (wp->closing)
        return 0;
    size_t queued = (size_t)(wp->out_len - wp->out_off);
    if (queued + len > CONN_OUT_MAX) {
        log_warn(wp->id, "%s: %s reads no replies (%zu bytes queued), closing", wp->proto->name,
                 wp->remote, queued + len);
        wp_close(wp, REASON_SLOW, "replies not read");
        return NODE_ELIMIT;
    }
    return wp_append(wp, data, len);
}

static sink_t wp_sink(wplayer_t *wp)
{
    return (sink_t){wp_sink_send, wp, &wp->player, wp->id, wp->remote ? wp->remote : "?"};
}

/* Ends wp's response (as sess_httpflv's end_stream()): its protocol's last
 * bytes (a close frame) or the last chunk, then the close once they are
 * written (by the next flush; bounded by player.slow_timeout_ms). */
static void wp_end(wplayer_t *wp, reason_t why, const char *reason)
{
    if (wp->ending || wp->closing)
        return;
    wp->ending = 1;
    wp->ending_ms = weir_mono_ms();
    wp->why = why;
    wp->reason = reason;
    if (wp->proto) {
        sink_t out = wp_sink(wp);
        wp->proto->on_end(wp->state, &out, why); /* reads the player's frame in flight */
    } else if (wp->player.enc == MSG_ENC_FLV_CHUNKED) {
        (void)wp_append(wp, "0\r\n\r\n", 5);
    }
    stream_player_stop(&wp->player);
    if (!wp->wblocked && !wp->closing)
        event_active(&wp->wev, EV_WRITE, 0);
}

static void wp_wake(player_t *p)
{
    wplayer_t *wp = p->owner;
    if (!wp->wblocked && !wp->closing)
        wp_flush(wp);
}

static void wp_event(player_t *p, player_event_t ev)
{
    wplayer_t *wp = p->owner;
    if (ev == PLAYER_EV_SLOW) {
        log_info(wp->id, "worker %u: slow player disconnected", wp->w->slot);
        wp_close(wp, REASON_SLOW, "slow player disconnected");
    } else if (ev == PLAYER_EV_ENDED || ev == PLAYER_EV_NOT_FOUND) {
        wp_end(wp, REASON_STREAM_ENDED, "stream ended");
    } /* UNPUBLISHED, REPUBLISHED: the player stays through the grace period */
}

static const player_ops_t WP_OPS = {wp_wake, wp_event};

static void wp_block(wplayer_t *wp)
{
    if (!wp->wblocked) {
        wp->wblocked = 1;
        event_add(&wp->wev, NULL);
    }
}

/* One write of the private bytes or of the player's due messages: 1 when
 * everything offered went out, 0 blocked or closed, -1 nothing to write. */
static int wp_write_once(wplayer_t *wp, int64_t now)
{
    struct iovec iov[WORKER_MAX_IOV];
    int n;
    /* Private bytes wait for the message in flight (its frame stays whole). */
    int priv = wp->out_off < wp->out_len && (!wp->player.attached || !wp->player.offset);
    if (priv) {
        iov[0].iov_base = wp->out + wp->out_off;
        iov[0].iov_len = wp->out_len - wp->out_off;
        n = 1;
    } else {
        n = stream_player_iov(&wp->player, iov, WORKER_MAX_IOV, WORKER_WRITE_BATCH, now);
        if (wp->closing || n <= 0)
            return wp->closing ? 0 : -1;
    }
    size_t want = 0;
    for (int i = 0; i < n; i++)
        want += iov[i].iov_len;
    ssize_t w = writev(wp->fd, iov, n);
    if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            wp_block(wp);
        else
            wp_close(wp, REASON_ERROR, "write error");
        return 0;
    }
    wp->bytes_out += (uint64_t)w;
    if (priv)
        wp->out_off += (uint32_t)w;
    else
        stream_player_consumed(&wp->player, (size_t)w);
    if ((size_t)w < want) {
        wp_block(wp);
        return 0;
    }
    return 1;
}

/* Writes what can go now (as conn_flush() does for the loop's players). */
static void wp_flush(wplayer_t *wp)
{
    int64_t now = weir_mono_ms();
    for (int round = 0; round < WORKER_FLUSH_ROUNDS; round++) {
        int rc = wp_write_once(wp, now);
        if (rc == 0)
            return;
        if (rc < 0 && wp->out_off < wp->out_len)
            continue; /* an event (the end) queued private bytes */
        if (rc < 0) {
            if (wp->wblocked) {
                wp->wblocked = 0;
                event_del(&wp->wev);
            }
            if (wp->ending)
                wp_close(wp, wp->why, wp->reason);
            return;
        }
    }
    wp_block(wp); /* more: when writable, so one fast reader cannot hold the loop */
}

static void wp_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wplayer_t *wp = arg;
    if (!wp->closing)
        wp_flush(wp);
}

/* A client's bytes after its request: its protocol's (WebSocket frames),
 * read until the session ends; a plain HTTP-FLV client sends nothing
 * (bytes are ignored). The end of file or an error ends the session. */
static void wp_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    wplayer_t *wp = arg;
    uint8_t *buf = wp->w->rbuf;
    ssize_t n = recv(fd, buf, wp->proto ? WORKER_READ_BUF : 512, 0);
    if (n > 0)
        wp->bytes_in += (uint64_t)n;
    if (n > 0 && wp->proto && !wp->ending && !wp->closing) {
        sink_t out = wp_sink(wp);
        reason_t why;
        const char *reason;
        if (wp->proto->on_read(wp->state, &out, buf, (size_t)n, weir_mono_ms(), &why, &reason))
            wp_end(wp, why, reason);
        else if (!wp->closing && wp->out_off < wp->out_len && !wp->wblocked)
            wp_flush(wp);
    }
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
        return;
    if (n == 0)
        wp_close(wp, REASON_EOF, "peer closed the connection");
    else
        wp_close(wp, REASON_ERROR, errno == ECONNRESET ? "connection reset by peer" : "read error");
}

static wfeed_t *feed_find(worker_t *w, uint64_t id)
{
    for (wfeed_t *f = w->feeds; f; f = f->next)
        if (f->id == id)
            return f;
    return NULL;
}

/* WK_PLAYER_ADD: the player starts on the worker's copy of its stream. */
static void player_add(worker_t *w, wq_item_t *it)
{
    wfeed_t *f = feed_find(w, it->a);
    worker_handoff_t *h = it->ptr;
    wplayer_t *wp = calloc(1, sizeof *wp);
    uint8_t *out = wp ? malloc(h->head_len ? h->head_len : 1) : NULL;
    char *remote = out && h->proto ? strdup(h->remote) : NULL;
    if (!out || (h->proto && !remote)) {
        log_error(it->id, "worker %u: out of memory for a player", w->slot);
        close(it->fd);
        worker_handoff_free(h);
        free(wp);
        free(out);
        free(remote);
        wq_item_t rep = {
            .kind = WK_REP_CLOSED, .fd = REASON_ERROR, .id = it->id, .str = "out of memory"};
        (void)wq_push(w->out, &rep, WQ_CONTROL);
        return;
    }
    wp->w = w;
    wp->id = it->id;
    wp->fd = it->fd;
    memcpy(out, h->head, h->head_len);
    wp->out = out;
    wp->out_len = h->head_len;
    wp->proto = h->proto;
    wp->state = h->state; /* ours now */
    wp->remote = remote;
    free(h);
    wp->player =
        (player_t){.ops = &WP_OPS, .owner = wp, .sess_id = it->id, .enc = (msg_enc_t)it->b};
    TAILQ_INSERT_TAIL(&w->players, wp, link);
    event_assign(&wp->rev, w->base, wp->fd, EV_READ | EV_PERSIST, wp_read_cb, wp);
    event_assign(&wp->wev, w->base, wp->fd, EV_WRITE | EV_PERSIST, wp_write_cb, wp);
    event_add(&wp->rev, NULL);
    if (!f || !f->live || !f->pub.stream ||
        stream_play(w->hub, stream_app(f->pub.stream), stream_name(f->pub.stream), &wp->player, 0,
                    weir_mono_ms()) != 0) {
        wp_event(&wp->player, PLAYER_EV_ENDED); /* what it has, then the end */
        return;
    }
    wp_flush(wp);
}

/* WK_PLAYER_DROP: a protocol's player gets its last bytes (the close frame
 * of the loop's reason), a plain one is closed at once. */
static void player_drop(worker_t *w, const wq_item_t *it)
{
    wplayer_t *wp;
    reason_t why = (reason_t)it->fd;
    const char *reason = it->str ? it->str : "kicked";
    TAILQ_FOREACH(wp, &w->players, link)
    if (wp->id == it->id) {
        if (wp->proto)
            wp_end(wp, why, reason);
        else
            wp_close(wp, why, reason);
        return;
    }
}

/* Every tick: a protocol's timers (pings, the idle cut), and the bound on
 * the last bytes of an ending response (as sess_httpflv's tick). */
static void players_tick(worker_t *w, int64_t now)
{
    wplayer_t *wp, *next;
    for (wp = TAILQ_FIRST(&w->players); wp; wp = next) {
        next = TAILQ_NEXT(wp, link);
        if (wp->ending && now - wp->ending_ms > (int64_t)w->conf.player_slow_timeout_ms) {
            log_warn(wp->id,
                     "worker %u: a player does not read the end of its response, "
                     "disconnecting",
                     w->slot);
            wp_close(wp, REASON_SLOW, "slow player disconnected");
            continue;
        }
        if (!wp->proto || wp->ending)
            continue;
        sink_t out = wp_sink(wp);
        reason_t why;
        const char *reason;
        if (wp->proto->on_tick(wp->state, &out, now, &why, &reason))
            wp_end(wp, why, reason);
        else if (!wp->closing && wp->out_off < wp->out_len && !wp->wblocked)
            wp_flush(wp);
    }
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
    wfeed_t *f = feed_find(w, id);
    if (f && f->live && f->pub.stream)
        stream_drop_gop_cache(f->pub.stream);
}

static void feed_media(worker_t *w, wq_item_t *it)
{
    wfeed_t *f = feed_find(w, it->id);
    if (!f || !f->live) {
        free(it->ptr);
        return;
    }
    if (stream_push(&f->pub, it->type, it->ts, it->ptr, it->len, weir_mono_ms()) == 0)
        f->dirty = 1;
}

/* ---- the thread's events --------------------------------------------------- */

static int handle_item(worker_t *w, wq_item_t *it)
{
    switch (it->kind) {
    case WK_FEED_START: feed_start(w, it); break;
    case WK_MEDIA: feed_media(w, it); break;
    case WK_FEED_END: feed_end(w, it->id); break;
    case WK_PLAYER_ADD: player_add(w, it); break;
    case WK_PLAYER_DROP: player_drop(w, it); break;
    case WK_FEED_GOP_DROP: feed_gop_drop(w, it->id); break;
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
        wp_close(wp, REASON_SHUTDOWN, "node stopping");
    while (w->feeds)
        feed_end(w, w->feeds->id);
    reap_cb(-1, 0, w);
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
    players_tick(w, now);
    if (++w->ticks % WORKER_REPORT_TICKS)
        return;
    wplayer_t *wp;
    TAILQ_FOREACH(wp, &w->players, link)
    wp_report(wp, 0);
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
    if (!w->fanout_pending) {
        w->fanout_pending = 1;
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
    event_assign(&w->reap_ev, w->base, -1, 0, reap_cb, w);
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
