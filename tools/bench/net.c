/* weir-bench, net.c: connections: output queue, epoll registration, connect,
 * read, teardown. Shared types and calls: bench.h. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/* ---- connections: output, epoll, teardown ------------------------------- */

void bench_conn_release(conn_t *c)
{
    bench_ws_release(c);
    tool_tls_close(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0)
        close(c->fd); /* also leaves its epoll set */
    c->fd = -1;
    c->epfd = -1;
    rtmp_hs_free(c->hs);
    c->hs = NULL;
    rtmp_proto_client_free(c->pc);
    c->pc = NULL;
    flv_reader_free(c->flv);
    c->flv = NULL;
    free(c->head);
    c->head = NULL;
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
    c->state = ST_CLOSED;
}

/* Ends a connection for a reason: counted (players) or fatal (publisher).
 * Returns -1 so that callers can `return bench_conn_fail(...)`. */
int bench_conn_fail(bench_t *b, conn_t *c, err_reason_t why, const char *fmt, ...)
{
    if (c->state == ST_CLOSED)
        return -1;
    char text[BENCH_ERR_TEXT];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (c->is_pub) {
        if (!b->fatal)
            snprintf(b->fatal_msg, sizeof b->fatal_msg, "publisher: %s", text);
        b->fatal = 1;
    } else {
        b->errors[why]++;
        if (!b->err_example[why][0])
            snprintf(b->err_example[why], sizeof b->err_example[why], "player %u (%s): %s", c->id,
                     bench_state_name(c->state), text);
        if (c->state == ST_LIVE)
            b->n_live--;
        if (!c->got_video)
            b->n_settled++;
    }
    c->err = (uint8_t)(why + 1);
    bench_conn_release(c);
    return -1;
}

/* Registers the events the connection needs now: EPOLLOUT while connecting
 * or while output is pending, EPOLLIN once connected. */
static int conn_watch(bench_t *b, conn_t *c)
{
    uint32_t want = c->state == ST_CONNECTING                 ? EPOLLOUT
                    : c->state == ST_TLS && c->tls_want_write ? EPOLLOUT
                                                              : EPOLLIN;
    if (c->out_len > c->out_off)
        want |= EPOLLOUT;
    if (want == c->events)
        return 0;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        return bench_conn_fail(b, c, ERR_IO, "epoll_ctl: %s", strerror(errno));
    c->events = want;
    return 0;
}

/* Room for n more output bytes; NULL (connection failed) over the bound. */
uint8_t *bench_out_reserve(bench_t *b, conn_t *c, size_t n)
{
    size_t max = c->is_pub ? BENCH_PUB_OUT_MAX : BENCH_PLAYER_OUT_MAX;
    if (c->out_off > 0 && c->out_cap - c->out_len < n) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_cap - c->out_len < n) {
        size_t need = c->out_len + n;
        if (need > max) {
            bench_conn_fail(b, c, ERR_OVERFLOW,
                            "output queue over %zu bytes (the server does not read)", max);
            return NULL;
        }
        size_t cap = c->out_cap ? c->out_cap : 512;
        while (cap < need)
            cap *= 2;
        if (cap > max)
            cap = max;
        uint8_t *nb = realloc(c->out, cap);
        if (!nb) {
            bench_conn_fail(b, c, ERR_NOMEM, "out of memory for %zu output bytes", cap);
            return NULL;
        }
        c->out = nb;
        c->out_cap = cap;
    }
    return c->out + c->out_len;
}

int bench_out_write(bench_t *b, conn_t *c, const uint8_t *p, size_t n)
{
    if (n == 0)
        return 0;
    uint8_t *dst = bench_out_reserve(b, c, n);
    if (!dst)
        return -1;
    memcpy(dst, p, n);
    c->out_len += n;
    return 0;
}

int bench_conn_flush(bench_t *b, conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = tool_io_send(c->fd, c->ssl, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return bench_conn_fail(b, c, ERR_IO, "send: %s", n < 0 ? strerror(errno) : "no progress");
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    return conn_watch(b, c);
}

/* The protocol starts (after TCP, or after TLS). */
static int conn_begin(bench_t *b, conn_t *c)
{
    int rc = c->proto == PROTO_RTMP   ? bench_rtmp_begin(b, c)
             : c->proto == PROTO_WS ? bench_ws_begin(b, c)
                                    : bench_http_begin(b, c);
    if (rc != 0)
        return -1;
    return bench_conn_flush(b, c);
}

/* One TLS handshake step; the protocol begins when it is done. */
static int conn_tls_step(bench_t *b, conn_t *c)
{
    char err[BENCH_ERR_TEXT];
    int want_write = 0;
    int r = tool_tls_step(c->ssl, &want_write, err, sizeof err);
    if (r < 0)
        return bench_conn_fail(b, c, ERR_HANDSHAKE, "%s", err);
    c->tls_want_write = (uint8_t)want_write;
    return r == 1 ? conn_begin(b, c) : conn_watch(b, c);
}

/* TCP is up: TLS first for rtmps:// and https://, else the protocol. */
static int conn_connected(bench_t *b, conn_t *c)
{
    const bench_url_t *u = bench_conn_url(b, c);
    if (!u->tls)
        return conn_begin(b, c);
    char err[BENCH_ERR_TEXT];
    c->ssl =
        tool_tls_new(c->fd, u->host, u->proto != PROTO_RTMP ? "http/1.1" : NULL, err, sizeof err);
    if (!c->ssl)
        return bench_conn_fail(b, c, ERR_HANDSHAKE, "%s", err);
    c->state = ST_TLS;
    return conn_tls_step(b, c);
}

/* Opens c's TCP connection to u (non-blocking, in the fast set). */
int bench_conn_open(bench_t *b, conn_t *c, const bench_url_t *u)
{
    int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bench_conn_fail(b, c, ERR_CONNECT, "socket: %s", strerror(errno));
    c->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = ST_CONNECTING;
    c->epfd = b->ep_fast;
    c->events = EPOLLOUT;
    struct epoll_event ev = {.events = c->events, .data.ptr = c};
    if (epoll_ctl(b->ep_fast, EPOLL_CTL_ADD, fd, &ev) != 0)
        return bench_conn_fail(b, c, ERR_IO, "epoll_ctl: %s", strerror(errno));
    if (connect(fd, (const struct sockaddr *)&u->addr, u->addrlen) == 0)
        return conn_connected(b, c);
    if (errno != EINPROGRESS)
        return bench_conn_fail(b, c, ERR_CONNECT, "connect to %s:%u: %s", u->host, u->port,
                               strerror(errno));
    return 0;
}

static void conn_read(bench_t *b, conn_t *c)
{
    for (int i = 0; i < BENCH_READS_PER_EVENT; i++) {
        ssize_t n = tool_io_recv(c->fd, c->ssl, b->scratch, BENCH_SCRATCH_SIZE);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            bench_conn_fail(b, c, ERR_IO, "recv: %s", strerror(errno));
            return;
        }
        if (n == 0) {
            bench_conn_fail(b, c, ERR_CLOSED, "the server closed the connection");
            return;
        }
        int64_t now = bench_mono_us();
        int r = c->proto == PROTO_RTMP ? bench_rtmp_input(b, c, b->scratch, (size_t)n, now)
                : c->proto == PROTO_WS ? bench_ws_input(b, c, b->scratch, (size_t)n, now)
                                       : bench_http_input(b, c, b->scratch, (size_t)n, now);
        if (r != 0 || c->state == ST_CLOSED)
            return;
        /* A short plain read emptied the socket; a TLS read returns one
         * record (<= 16 KB) whatever is queued, so read on until EAGAIN:
         * stopping at one record a readiness event held every TLS player
         * to ~16 KB per batch tick (below 2.6 Mbit/s with 500 players). */
        if (!c->ssl && (size_t)n < BENCH_SCRATCH_SIZE)
            break;
    }
    if (c->out_len > c->out_off)
        bench_conn_flush(b, c);
}

void bench_conn_event(bench_t *b, conn_t *c, uint32_t ev)
{
    if (c->state == ST_CLOSED || c->fd < 0)
        return;
    if (c->state == ST_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
            err = errno;
        const bench_url_t *u = bench_conn_url(b, c);
        if (err) {
            bench_conn_fail(b, c, ERR_CONNECT, "connect to %s:%u: %s", u->host, u->port,
                            strerror(err));
            return;
        }
        conn_connected(b, c);
        return;
    }
    if (c->state == ST_TLS) {
        conn_tls_step(b, c);
        return;
    }
    if ((ev & EPOLLOUT) && bench_conn_flush(b, c) != 0)
        return;
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
        conn_read(b, c);
}
