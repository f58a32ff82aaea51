#include "conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <event2/dns.h>
#include <event2/util.h>

#include "common.h"
#include "conn_tls.h"
#include "log.h"
#include "worker.h"

#define CONN_MAX_IOV 64
#define CONN_WRITE_BATCH (256 * 1024)
#define CONN_FLUSH_ROUNDS 4

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void conn_write_cb(evutil_socket_t fd, short what, void *arg);

static void format_addr(const struct sockaddr *sa, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        snprintf(out, outlen, "%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(out, outlen, "[%s]:%u", host, port);
    } else {
        snprintf(out, outlen, "unknown");
    }
}

conn_t *conn_new(node_t *node, int fd, const struct sockaddr *sa, int salen,
                 const conn_proto_t *proto)
{
    (void)salen;
    conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        return NULL;
    }
    c->out = evbuffer_new();
    if (!c->out) {
        free(c);
        evutil_closesocket(fd);
        return NULL;
    }
    evutil_make_socket_nonblocking(fd);
    int one = 1;
    /* Without TCP_NODELAY, Nagle plus delayed ACKs stall small writes. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->node = node;
    c->fd = fd;
    c->id = node_new_session_id(node);
    c->proto = proto;
    c->start_ms = c->last_read_ms = weir_mono_ms();
    c->start_wall_ms = weir_wall_ms();
    rate_init(&c->rate_in, 0, c->start_ms);
    rate_init(&c->rate_out, 0, c->start_ms);
    format_addr(sa, c->remote, sizeof c->remote);
    event_assign(&c->rev, node->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    event_assign(&c->wev, node->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
    event_add(&c->rev, NULL);
    TAILQ_INSERT_TAIL(&node->conns, c, link);
    node->nconns++;
    return c;
}

/* ---- outgoing connections ---------------------------------------------- */

/* A name resolution in flight. The request outlives its connection when the
 * connection is closed first: conn is then NULL and the answer is dropped. */
struct conn_resolve {
    conn_t *conn;
    uint16_t port;
};

/* conn_close() by the network: end says how (conn_end_t). */
static void conn_close_net(conn_t *c, conn_end_t end, const char *reason)
{
    static const reason_t WHY[] = {
        [CONN_END_NONE] = REASON_ERROR,
        [CONN_END_RESOLVE] = REASON_UPSTREAM_UNREACHABLE,
        [CONN_END_CONNECT] = REASON_UPSTREAM_UNREACHABLE,
        [CONN_END_PEER] = REASON_EOF,
        [CONN_END_IO] = REASON_ERROR,
    };
    if (!c->closing)
        c->end = end;
    conn_close(c, WHY[end], reason);
}

static const char *connect_error_reason(int err)
{
    switch (err) {
    case ECONNREFUSED: return "connection refused";
    case ETIMEDOUT: return "connect timed out";
    case EHOSTUNREACH: return "host unreachable";
    case ENETUNREACH: return "network unreachable";
    case EADDRNOTAVAIL: return "address not available";
    default: return "connect failed";
    }
}

static void conn_start_connect(conn_t *c, const struct sockaddr *sa, socklen_t salen)
{
    node_t *node = c->node;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        conn_close_net(c, CONN_END_CONNECT, "cannot create a socket");
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    event_assign(&c->rev, node->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    event_assign(&c->wev, node->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
    if (connect(fd, sa, salen) != 0 && errno != EINPROGRESS) {
        conn_close_net(c, CONN_END_CONNECT, connect_error_reason(errno));
        return;
    }
    /* Writable means connected (or failed: SO_ERROR says which). */
    c->wblocked = 1;
    event_add(&c->wev, NULL);
}

/* The write event of a connecting socket fired. */
static void conn_connected(conn_t *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return;
    if (err) {
        conn_close_net(c, CONN_END_CONNECT, connect_error_reason(err));
        return;
    }
    c->connecting = 0;
    c->wblocked = 0;
    event_del(&c->wev);
    event_add(&c->rev, NULL);
    c->last_read_ms = weir_mono_ms();
    log_debug(c->id, "%s: connected to %s", c->proto->name, c->remote);
    if (c->proto->on_connect)
        c->proto->on_connect(c);
}

static void resolve_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    struct conn_resolve *r = arg;
    conn_t *c = r->conn;
    if (c) {
        c->resolve = NULL;
        if (result != 0 || !res) {
            log_warn(c->id, "%s: cannot resolve %s: %s", c->proto->name, c->remote,
                     evutil_gai_strerror(result));
            conn_close_net(c, CONN_END_RESOLVE, "cannot resolve host");
        } else {
            struct sockaddr_storage ss;
            socklen_t sl = (socklen_t)res->ai_addrlen;
            if (sl > sizeof ss)
                sl = sizeof ss;
            memcpy(&ss, res->ai_addr, sl);
            if (ss.ss_family == AF_INET)
                ((struct sockaddr_in *)&ss)->sin_port = htons(r->port);
            else if (ss.ss_family == AF_INET6)
                ((struct sockaddr_in6 *)&ss)->sin6_port = htons(r->port);
            conn_start_connect(c, (struct sockaddr *)&ss, sl);
        }
    }
    if (res)
        evutil_freeaddrinfo(res);
    free(r);
}

conn_t *conn_connect(node_t *node, const char *host, uint16_t port, const conn_proto_t *proto,
                     void *ps, char *err, size_t errlen)
{
    conn_t *c = calloc(1, sizeof *c);
    if (!c || !(c->out = evbuffer_new())) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->node = node;
    c->fd = -1;
    c->id = node_new_session_id(node);
    c->proto = proto;
    c->ps = ps;
    c->outgoing = 1;
    c->connecting = 1;
    c->start_ms = c->last_read_ms = weir_mono_ms();
    c->start_wall_ms = weir_wall_ms();
    rate_init(&c->rate_in, 0, c->start_ms);
    rate_init(&c->rate_out, 0, c->start_ms);
    if (strchr(host, ':'))
        snprintf(c->remote, sizeof c->remote, "[%s]:%u", host, (unsigned)port);
    else
        snprintf(c->remote, sizeof c->remote, "%s:%u", host, (unsigned)port);
    TAILQ_INSERT_TAIL(&node->conns, c, link);
    node->nconns++;

    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    memset(&in4, 0, sizeof in4);
    memset(&in6, 0, sizeof in6);
    if (inet_pton(AF_INET, host, &in4.sin_addr) == 1) {
        in4.sin_family = AF_INET;
        in4.sin_port = htons(port);
        conn_start_connect(c, (struct sockaddr *)&in4, sizeof in4);
        return c;
    }
    if (inet_pton(AF_INET6, host, &in6.sin6_addr) == 1) {
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(port);
        conn_start_connect(c, (struct sockaddr *)&in6, sizeof in6);
        return c;
    }
    struct evdns_base *dns = node_dns(node);
    struct conn_resolve *r = calloc(1, sizeof *r);
    if (!dns || !r) {
        free(r);
        conn_close_net(c, CONN_END_RESOLVE, "cannot resolve host");
        return c;
    }
    r->conn = c;
    r->port = port;
    c->resolve = r;
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    /* May answer at once (hosts file), calling resolve_cb before it returns. */
    evdns_getaddrinfo(dns, host, NULL, &hints, resolve_cb, r);
    return c;
}

/* conn_send(), at the front of c->out (first) or its end. */
static int conn_queue(conn_t *c, const void *data, size_t len, int first)
{
    if (c->closing)
        return 0;
    /* Every reply goes through here (command results, pings, acks), so a
     * peer that provokes replies and never reads is bounded here, whatever
     * it sends. */
    size_t queued = evbuffer_get_length(c->out);
    if (queued + len > CONN_OUT_MAX) {
        log_warn(c->id, "%s: %s reads no replies (%zu bytes queued), closing", c->proto->name,
                 c->remote, queued + len);
        node_limit_hit(c->node, LIMIT_UNREAD_REPLIES);
        conn_close(c, REASON_SLOW, "replies not read");
        return NODE_ELIMIT;
    }
    int rc = first ? evbuffer_prepend(c->out, data, len) : evbuffer_add(c->out, data, len);
    return rc == 0 ? 0 : NODE_ENOMEM;
}

int conn_send(conn_t *c, const void *data, size_t len)
{
    return conn_queue(c, data, len, 0);
}

static int conn_sink_send(void *arg, const void *data, size_t len)
{
    return conn_queue(arg, data, len, 0);
}

static int conn_sink_send_first(void *arg, const void *data, size_t len)
{
    return conn_queue(arg, data, len, 1);
}

sink_t conn_sink(conn_t *c)
{
    return (sink_t){conn_sink_send, conn_sink_send_first, c, c->player, c->id, c->remote};
}

static void conn_block(conn_t *c)
{
    if (conn_tls_write_waits_read(c))
        return; /* the read event flushes (conn_tls.h) */
    if (!c->wblocked) {
        c->wblocked = 1;
        event_add(&c->wev, NULL);
    }
}

static int would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

void conn_flush(conn_t *c)
{
    if (c->closing || c->connecting || conn_tls_handshaking(c))
        return; /* connecting, TLS handshake: output waits for them */
    int64_t now = weir_mono_ms();
    for (int round = 0; round < CONN_FLUSH_ROUNDS; round++) {
        player_t *p = c->player;
        size_t pending = evbuffer_get_length(c->out);
        if (pending && (!p || p->offset == 0)) {
            int w = c->tls ? (int)conn_tls_write_out(c) : evbuffer_write(c->out, c->fd);
            if (w < 0) {
                if (would_block()) {
                    conn_block(c);
                    return;
                }
                {
                    conn_close_net(c, CONN_END_IO, "write error");
                    return;
                }
            }
            c->bytes_out += (uint64_t)w;
            if ((size_t)w < pending) {
                conn_block(c);
                return;
            }
            continue;
        }
        if (!p || !p->attached)
            goto drained;
        struct iovec iov[CONN_MAX_IOV];
        int n = stream_player_iov(p, iov, CONN_MAX_IOV, CONN_WRITE_BATCH, now);
        if (c->closing)
            return;
        if (evbuffer_get_length(c->out) && p->offset == 0)
            continue; /* an event queued a reply: it goes first */
        if (n <= 0)
            goto drained;
        size_t want = 0;
        for (int i = 0; i < n; i++)
            want += iov[i].iov_len;
        ssize_t w = c->tls ? conn_tls_writev(c, iov, n) : writev(c->fd, iov, n);
        if (w < 0) {
            if (would_block()) {
                conn_block(c);
                return;
            }
            {
                conn_close_net(c, CONN_END_IO, "write error");
                return;
            }
        }
        c->bytes_out += (uint64_t)w;
        stream_player_consumed(p, (size_t)w);
        if ((size_t)w < want) {
            conn_block(c);
            return;
        }
    }
    /* More to send after a few rounds: come back when writable, so one fast
     * consumer cannot monopolize the loop. */
    {
        conn_block(c);
        return;
    }
drained:
    if (c->tls && conn_tls_flush_retry(c) != 0) {
        if (would_block())
            conn_block(c);
        else
            conn_close_net(c, CONN_END_IO, "write error");
        return;
    }
    if (c->wblocked) {
        c->wblocked = 0;
        event_del(&c->wev);
    }
    if (c->close_after_flush)
        conn_close(c, c->why, c->close_reason ? c->close_reason : "done");
}

void conn_close_after_flush(conn_t *c, reason_t why, const char *reason)
{
    if (c->closing)
        return;
    c->close_after_flush = 1;
    c->close_reason = reason;
    c->why = why;
    if (c->player)
        stream_player_stop(c->player);
    c->player = NULL;
    conn_flush(c);
}

void conn_kick(conn_t *c, reason_t why, const char *reason)
{
    if (c->proto->kick && !c->closing)
        c->proto->kick(c, why, reason);
    else
        conn_close(c, why, reason);
}

void conn_close(conn_t *c, reason_t why, const char *reason)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->close_reason = reason;
    c->why = why;
    if (c->worker)
        worker_conn_release(c); /* the worker closes the socket (worker.h) */
    if (c->fd >= 0) {
        event_del(&c->rev);
        event_del(&c->wev);
    }
    if (c->resolve) {
        c->resolve->conn = NULL; /* the answer, when it comes, is dropped */
        c->resolve = NULL;
    }
    node_t *node = c->node;
    TAILQ_REMOVE(&node->conns, c, link);
    TAILQ_INSERT_TAIL(&node->reap, c, link);
    event_active(&node->reap_ev, EV_TIMEOUT, 0);
}

const char *sess_role_name(sess_role_t role)
{
    switch (role) {
    case SESS_ROLE_PUBLISHER: return "publisher";
    case SESS_ROLE_PLAYER: return "player";
    case SESS_ROLE_RELAY: return "relay";
    default: return "connecting";
    }
}

void conn_info(const conn_t *c, int64_t now_ms, sess_info_t *out)
{
    memset(out, 0, sizeof *out);
    out->id = c->id;
    out->protocol = c->proto->name;
    out->remote = c->remote;
    out->start_wall_ms = c->start_wall_ms;
    out->tls = c->tls != NULL || c->tls_moved;
    out->duration_ms = now_ms - c->start_ms;
    out->bytes_in = c->bytes_in;
    out->bytes_out = c->bytes_out;
    out->bitrate_in_bps = rate_per_sec(&c->rate_in, c->bytes_in, now_ms) * 8;
    out->bitrate_out_bps = rate_per_sec(&c->rate_out, c->bytes_out, now_ms) * 8;
    if (c->player) {
        out->dropped_frames = c->player->dropped_frames;
        out->queued_bytes = stream_player_queued(c->player) + evbuffer_get_length(c->out);
    } else {
        out->queued_bytes = evbuffer_get_length(c->out);
    }
    if (c->proto->info)
        c->proto->info(c, out);
    out->dropped_frames += worker_conn_dropped(c); /* 0 unless handed to a worker */
}

void conn_reap_all(node_t *node)
{
    conn_t *c;
    struct conn_list wait = TAILQ_HEAD_INITIALIZER(wait);
    while ((c = TAILQ_FIRST(&node->reap)) != NULL) {
        TAILQ_REMOVE(&node->reap, c, link);
        /* A player handed to a worker waits (bounded) for the worker's
         * last report, so that its stop event counts every byte (worker.h). */
        if (c->worker && !worker_conn_reapable(c)) {
            TAILQ_INSERT_TAIL(&wait, c, link);
            continue;
        }
        node->nconns--;
        node_conn_closed(node, c);
        if (c->proto->on_close)
            c->proto->on_close(c);
        log_info(c->id, "%s: closed: %s (from %s, %llu bytes in, %llu bytes out, %.1f s)",
                 c->proto->name, c->close_reason ? c->close_reason : "closed", c->remote,
                 (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out,
                 (double)(weir_mono_ms() - c->start_ms) / 1000.0);
        worker_conn_free(c);
        conn_tls_free(c);
        evbuffer_free(c->out);
        if (c->fd >= 0)
            evutil_closesocket(c->fd);
        free(c);
    }
    TAILQ_CONCAT(&node->reap, &wait, link);
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    conn_t *c = arg;
    node_t *node = c->node;
    if (c->tls) {
        conn_tls_on_readable(c);
        return;
    }
    ssize_t n = recv(fd, node->rbuf, sizeof node->rbuf, 0);
    if (n > 0) {
        c->bytes_in += (uint64_t)n;
        c->last_read_ms = weir_mono_ms();
        c->proto->on_read(c, node->rbuf, (size_t)n);
        return;
    }
    if (n == 0) {
        conn_close_net(c, CONN_END_PEER, "peer closed the connection");
        return;
    }
    if (would_block())
        return;
    if (errno == ECONNRESET)
        conn_close_net(c, CONN_END_IO, "connection reset by peer");
    else
        conn_close_net(c, CONN_END_IO, "read error");
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_t *c = arg;
    if (c->connecting)
        conn_connected(c);
    else if (!c->tls || conn_tls_on_writable(c))
        conn_flush(c);
}

/* ---- session events ------------------------------------------------------ */

cJSON *conn_event_fields(const sess_info_t *si)
{
    cJSON *f = cJSON_CreateObject();
    if (!f)
        return NULL;
    cJSON_AddNumberToObject(f, "session_id", (double)si->id);
    if (si->app)
        cJSON_AddStringToObject(f, "app", si->app);
    if (si->name)
        cJSON_AddStringToObject(f, "name", si->name);
    cJSON_AddStringToObject(f, "protocol", si->protocol);
    cJSON_AddStringToObject(f, "remote", si->remote);
    cJSON *rl = sess_relay_json(si);
    if (rl)
        cJSON_AddItemToObject(f, "relay", rl);
    return f;
}

const char *sess_relay_peer(const char *via)
{
    if (!via || !via[0])
        return NULL;
    const char *last = strrchr(via, ',');
    return last ? last + 1 : via;
}

cJSON *sess_relay_json(const sess_info_t *si)
{
    if (si->relay == SESS_RELAY_NONE)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "direction", si->relay == SESS_RELAY_IN ? "in" : "out");
    cJSON_AddNumberToObject(o, "hops", si->relay_hops);
    const char *peer = si->relay == SESS_RELAY_IN ? sess_relay_peer(si->relay_via) : NULL;
    if (peer)
        cJSON_AddStringToObject(o, "peer", peer);
    else
        cJSON_AddNullToObject(o, "peer");
    return o;
}

uint64_t conn_event(node_t *node, const char *type, const sess_info_t *si, int stop,
                    int64_t duration_ms, reason_t why, const char *message)
{
    cJSON *f = conn_event_fields(si);
    if (f && stop) {
        cJSON_AddNumberToObject(f, "bytes_in", (double)si->bytes_in);
        cJSON_AddNumberToObject(f, "bytes_out", (double)si->bytes_out);
        cJSON_AddNumberToObject(f, "duration_ms", (double)(duration_ms > 0 ? duration_ms : 0));
        if (si->role == SESS_ROLE_PLAYER)
            cJSON_AddNumberToObject(f, "dropped_frames", (double)si->dropped_frames);
        cJSON_AddStringToObject(f, "reason", reason_name(why != REASON_NONE ? why : REASON_ERROR));
        cJSON_AddStringToObject(f, "message", message ? message : "");
    }
    return node_event(node, type, f);
}
