/* worker_player: a worker's handed-over players (worker_thread.h): the
 * private bytes (the response head, a protocol's replies, the last chunk or
 * close frame) and the player's messages written to the socket, the
 * client's bytes read and given to its protocol (worker_proto_t), the
 * reports of bytes and drops to the loop, and the end: the protocol's last
 * bytes, then the close, bounded by player.slow_timeout_ms. Worker thread
 * only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "reason.h"
#include "tls_io.h"
#include "worker_thread.h"

#define WORKER_MAX_IOV 64
#define WORKER_WRITE_BATCH (256 * 1024)
#define WORKER_FLUSH_ROUNDS 4
#define WORKER_TLS_READS 4 /* records read per readable event at most */
#define WORKER_OUT_MIN 512 /* the first size of a player's private bytes' buffer */

static void wp_flush(wplayer_t *wp);

/* ---- reports ------------------------------------------------------------- */

/* The bytes queued for wp: its private bytes and what its player has due
 * from the ring (as conn_info() counts a loop's player), at most
 * UINT32_MAX. */
static uint32_t wp_queued(const wplayer_t *wp)
{
    uint64_t n = (uint64_t)(wp->out_len - wp->out_off) + stream_player_queued(&wp->player);
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* Reports wp's bytes, drops and queued bytes (closed: its end too). A
 * refused stats item stays unreported until the next try; a refused close
 * is logged. */
void wplayer_report(wplayer_t *wp, int closed)
{
    uint64_t dropped = wp->player.dropped_frames;
    uint32_t queued = closed ? 0 : wp_queued(wp);
    if (!closed && wp->bytes_out == wp->bytes_reported && dropped == wp->dropped_reported &&
        wp->bytes_in == wp->bytes_in_reported && queued == wp->queued_reported)
        return;
    wq_item_t it = {.kind = closed ? WK_REP_CLOSED : WK_REP_STATS,
                    .flags = closed && wp->unread ? WK_CLOSED_UNREAD : 0,
                    .fd = closed ? (int)wp->why : -1,
                    .len = queued,
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
    wp->queued_reported = queued;
}

/* ---- players ------------------------------------------------------------- */

/* Ends wp: off the hub and the socket, reported and freed by the reaper
 * (never inside the hub's callbacks). */
void wplayer_close(wplayer_t *wp, reason_t why, const char *reason)
{
    if (wp->closing)
        return;
    wp->closing = 1;
    wp->why = why;
    wp->reason = reason;
    stream_player_stop(&wp->player);
    event_del(&wp->rev);
    event_del(&wp->wev);
    if (wp->tls) { /* a close_notify unless the connection failed */
        tls_io_release(wp->tls, why != REASON_ERROR);
        free(wp->tls);
        wp->tls = NULL;
    }
    close(wp->fd);
    wp->fd = -1;
    worker_t *w = wp->w;
    TAILQ_REMOVE(&w->players, wp, link);
    TAILQ_INSERT_TAIL(&w->reap, wp, link);
    event_active(&w->reap_ev, EV_TIMEOUT, 0);
}

void worker_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *w = arg;
    wplayer_t *wp;
    while ((wp = TAILQ_FIRST(&w->reap)) != NULL) {
        TAILQ_REMOVE(&w->reap, wp, link);
        wplayer_report(wp, 1);
        if (wp->proto)
            wp->proto->free(wp->state);
        free(wp->remote);
        free(wp->out);
        free(wp);
    }
}

/* Makes room for len more private bytes: 0, or NODE_ENOMEM (logged). The
 * buffer grows by doubling and is compacted only when what was written is
 * at least what is left, so a client that makes the worker reply a little
 * at a time costs it linear work, not a copy of everything queued per
 * reply. */
static int wp_reserve(wplayer_t *wp, size_t len)
{
    uint32_t left = wp->out_len - wp->out_off;
    if ((size_t)wp->out_len + len > wp->out_cap && wp->out_off && wp->out_off >= left) {
        memmove(wp->out, wp->out + wp->out_off, left);
        wp->out_len = left;
        wp->out_off = 0;
    }
    if ((size_t)wp->out_len + len <= wp->out_cap)
        return 0;
    size_t cap = wp->out_cap ? (size_t)wp->out_cap * 2 : WORKER_OUT_MIN;
    while (cap < (size_t)wp->out_len + len)
        cap *= 2;
    uint8_t *buf = realloc(wp->out, cap);
    if (!buf) {
        log_error(wp->id, "worker %u: out of memory for a player's private bytes", wp->w->slot);
        return NODE_ENOMEM;
    }
    wp->out = buf;
    wp->out_cap = (uint32_t)cap;
    return 0;
}

/* Adds data to the private bytes (what is left of them): after them, or
 * before them when first. 0, or NODE_ENOMEM (the bytes are not sent;
 * logged). */
static int wp_append(wplayer_t *wp, const void *data, size_t len, int first)
{
    if (wp_reserve(wp, len) != 0)
        return NODE_ENOMEM;
    uint8_t *at = wp->out + (first ? wp->out_off : wp->out_len);
    if (first)
        memmove(at + len, at, wp->out_len - wp->out_off);
    memcpy(at, data, len);
    wp->out_len += (uint32_t)len;
    return 0;
}

/* The private bytes were all written: their buffer goes (most players
 * never have any again). */
static void wp_written(wplayer_t *wp)
{
    free(wp->out);
    wp->out = NULL;
    wp->out_len = wp->out_off = wp->out_cap = 0;
}

/* sink.h's send and send_first for wp's protocol: bounded as conn_send()
 * (CONN_OUT_MAX: a client that makes the node reply and reads nothing is
 * closed, and the loop counts it as unread_replies). */
static int wp_queue(wplayer_t *wp, const void *data, size_t len, int first)
{
    if (wp->closing)
        return 0;
    size_t queued = (size_t)(wp->out_len - wp->out_off);
    if (queued + len > CONN_OUT_MAX) {
        log_warn(wp->id, "%s: %s reads no replies (%zu bytes queued), closing", wp->proto->name,
                 wp->remote, queued + len);
        wp->unread = 1;
        wplayer_close(wp, REASON_SLOW, "replies not read");
        return NODE_ELIMIT;
    }
    return wp_append(wp, data, len, first);
}

static int wp_sink_send(void *arg, const void *data, size_t len)
{
    return wp_queue(arg, data, len, 0);
}

static int wp_sink_send_first(void *arg, const void *data, size_t len)
{
    return wp_queue(arg, data, len, 1);
}

static sink_t wp_sink(wplayer_t *wp)
{
    return (sink_t){wp_sink_send, wp_sink_send_first,           wp, &wp->player,
                    wp->id,       wp->remote ? wp->remote : "?"};
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
    } else if (wp->player.enc == MSG_ENC_FLV_CHUNKED || wp->player.enc == MSG_ENC_TS_CHUNKED) {
        (void)wp_append(wp, "0\r\n\r\n", 5, 0);
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
        wplayer_close(wp, REASON_SLOW, "slow player disconnected");
    } else if (ev == PLAYER_EV_ENDED || ev == PLAYER_EV_NOT_FOUND) {
        wp_end(wp, REASON_STREAM_ENDED, "stream ended");
    } else if (wp->proto && wp->proto->on_event && !wp->ending) {
        sink_t out = wp_sink(wp); /* UNPUBLISHED, REPUBLISHED: the player stays */
        wp->proto->on_event(wp->state, &out, ev);
    }
}

static const player_ops_t WP_OPS = {wp_wake, wp_event};

static void wp_block(wplayer_t *wp)
{
    if (wp->tls && wp->tls->write_wants_read)
        return; /* readability flushes (wp_tls_read()) */
    if (!wp->wblocked) {
        wp->wblocked = 1;
        event_add(&wp->wev, NULL);
    }
}

/* A write returned -1: wait (EAGAIN: writability, or for TLS perhaps
 * readability), or close (an error). */
static void wp_write_failed(wplayer_t *wp)
{
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        wp_block(wp);
    else
        wplayer_close(wp, REASON_ERROR, "write error");
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
        if (wp->closing)
            return 0;
        if (wp->out_off < wp->out_len && !wp->player.offset)
            return 1; /* an event queued private bytes: they go first (as conn_flush()) */
        if (n <= 0)
            return -1;
    }
    size_t want = 0;
    for (int i = 0; i < n; i++)
        want += iov[i].iov_len;
    ssize_t w = wp->tls ? tls_io_writev(wp->tls, iov, n) : writev(wp->fd, iov, n);
    if (w < 0) {
        wp_write_failed(wp);
        return 0;
    }
    wp->bytes_out += (uint64_t)w;
    if (priv && (wp->out_off += (uint32_t)w) == wp->out_len)
        wp_written(wp);
    else if (!priv)
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
            if (wp->tls && tls_io_flush(wp->tls) != 0) { /* a record held back */
                wp_write_failed(wp);
                return;
            }
            if (wp->wblocked) {
                wp->wblocked = 0;
                event_del(&wp->wev);
            }
            if (wp->ending)
                wplayer_close(wp, wp->why, wp->reason);
            return;
        }
    }
    wp_block(wp); /* more: when writable, so one fast reader cannot hold the loop */
}

static void wp_tls_read(wplayer_t *wp);

static void wp_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wplayer_t *wp = arg;
    if (wp->tls && wp->tls->read_wants_write) {
        wp->tls->read_wants_write = 0;
        wp_tls_read(wp);
    }
    if (!wp->closing)
        wp_flush(wp);
}

/* n bytes from the client: its protocol's (WebSocket frames); a plain
 * HTTP-FLV client's are ignored. */
static void wp_got(wplayer_t *wp, const uint8_t *buf, size_t n)
{
    wp->bytes_in += (uint64_t)n;
    if (!wp->proto || wp->ending || wp->closing)
        return;
    sink_t out = wp_sink(wp);
    reason_t why;
    const char *reason;
    if (wp->proto->on_read(wp->state, &out, buf, n, weir_mono_ms(), &why, &reason))
        wp_end(wp, why, reason);
    else if (!wp->closing && wp->out_off < wp->out_len && !wp->wblocked)
        wp_flush(wp);
}

/* A TLS player's socket is readable: a write waiting for it goes first,
 * then a few records are read (as conn_tls.c's read path). */
static void wp_tls_read(wplayer_t *wp)
{
    tls_io_t *t = wp->tls;
    if (t->write_wants_read) {
        t->write_wants_read = 0;
        wp_flush(wp);
    }
    for (int i = 0; i < WORKER_TLS_READS && !wp->closing; i++) {
        int e = 0;
        ssize_t n = tls_io_read(t, wp->w->rbuf, WORKER_READ_BUF, &e);
        if (n > 0) {
            wp_got(wp, wp->w->rbuf, (size_t)n);
            continue;
        }
        if (n == 0) {
            if (t->read_wants_write && !wp->wblocked) {
                wp->wblocked = 1;
                event_add(&wp->wev, NULL);
            }
            return;
        }
        const char *why;
        int peer = tls_io_read_error(t, e, &why);
        wplayer_close(wp, peer ? REASON_EOF : REASON_ERROR, why);
        return;
    }
    if (!wp->closing && SSL_has_pending(t->ssl))
        event_active(&wp->rev, EV_READ, 0);
}

/* A client's bytes after its request, read until the session ends. The end
 * of file or an error ends the session. */
static void wp_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    wplayer_t *wp = arg;
    if (wp->closing)
        return;
    if (wp->tls) {
        wp_tls_read(wp);
        return;
    }
    uint8_t *buf = wp->w->rbuf;
    ssize_t n = recv(fd, buf, wp->proto ? WORKER_READ_BUF : 512, 0);
    if (n > 0)
        wp_got(wp, buf, (size_t)n);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
        return;
    if (n == 0)
        wplayer_close(wp, REASON_EOF, "peer closed the connection");
    else
        wplayer_close(wp, REASON_ERROR,
                      errno == ECONNRESET ? "connection reset by peer" : "read error");
}

/* WK_PLAYER_ADD: the player starts on the worker's copy of its stream. */
void worker_player_add(worker_t *w, wq_item_t *it)
{
    wfeed_t *f = worker_feed_find(w, it->a);
    worker_handoff_t *h = it->ptr;
    wplayer_t *wp = calloc(1, sizeof *wp);
    uint8_t *out = wp ? malloc(h->head_len ? h->head_len : 1) : NULL;
    int named = h->proto || h->tls; /* log lines name the peer */
    char *remote = out && named ? strdup(h->remote) : NULL;
    if (!out || (named && !remote)) {
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
    wp->out_cap = h->head_len ? h->head_len : 1;
    wp->proto = h->proto;
    wp->state = h->state; /* ours now */
    wp->remote = remote;
    wp->tls = h->tls; /* ours now, with any record it held back */
    if (wp->tls) {
        wp->tls->id = wp->id;
        wp->tls->what = h->proto                              ? h->proto->name
                        : msg_enc_is_ts((msg_enc_t)it->b) ? "http-ts"
                                                          : "http-flv";
        wp->tls->remote = remote;
    }
    free(h);
    wp->player =
        (player_t){.ops = &WP_OPS, .owner = wp, .sess_id = it->id, .enc = (msg_enc_t)it->b};
    TAILQ_INSERT_TAIL(&w->players, wp, link);
    event_assign(&wp->rev, w->base, wp->fd, EV_READ | EV_PERSIST, wp_read_cb, wp);
    event_assign(&wp->wev, w->base, wp->fd, EV_WRITE | EV_PERSIST, wp_write_cb, wp);
    event_add(&wp->rev, NULL);
    if (wp->tls && SSL_has_pending(wp->tls->ssl))
        event_active(&wp->rev, EV_READ, 0); /* decrypted before the handover */
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
void worker_player_drop(worker_t *w, const wq_item_t *it)
{
    wplayer_t *wp;
    reason_t why = (reason_t)it->fd;
    const char *reason = it->str ? it->str : "kicked";
    TAILQ_FOREACH(wp, &w->players, link)
    if (wp->id == it->id) {
        if (wp->proto)
            wp_end(wp, why, reason);
        else
            wplayer_close(wp, why, reason);
        return;
    }
}

/* Every tick: a protocol's timers (pings, the idle cut), and the bound on
 * the last bytes of an ending response (as sess_httpflv's tick). */
void worker_players_tick(worker_t *w, int64_t now)
{
    wplayer_t *wp, *next;
    for (wp = TAILQ_FIRST(&w->players); wp; wp = next) {
        next = TAILQ_NEXT(wp, link);
        if (wp->ending && now - wp->ending_ms > (int64_t)w->conf.player_slow_timeout_ms) {
            log_warn(wp->id,
                     "worker %u: a player does not read the end of its response, "
                     "disconnecting",
                     w->slot);
            wplayer_close(wp, REASON_SLOW, "slow player disconnected");
            continue;
        }
        if (!wp->proto || !wp->proto->on_tick || wp->ending)
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
