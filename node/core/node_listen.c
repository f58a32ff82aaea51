/* node_listen: the node's listening sockets and what happens at accept()
 * (node_listen.h, and node.h's node_listen_socket / node_accept_*):
 * admission of each accepted connection (conn_limits: total, per address,
 * new per second; the fd reserve; TLS handshakes), the refusal answered
 * (an HTTP 503 or a close), and a listener's pause while accept() fails.
 * Loop thread only.
 */
#include "node_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/listener.h>
#include <event2/util.h>

#include "common.h"
#include "conn.h"
#include "conn_tls.h"
#include "fdlimit.h"
#include "log.h"
#include "tls.h"

#define NODE_ACCEPT_PAUSE_MIN_MS 100  /* a listener's first pause after a failed accept */
#define NODE_ACCEPT_PAUSE_MAX_MS 1000 /* ... doubling up to this */
#define NODE_SHED_MAX 64              /* pending connections closed per failed accept at most */

/* "1.2.3.4:5678" or "[2001:db8::1]:5678" for a log line. */
static void addr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(out, outlen, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(out, outlen, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(out, outlen, "unknown");
    }
}

/* The configured value of an admission limit, for the log line. */
static uint32_t limit_value(const node_t *node, limit_kind_t k)
{
    const conf_t *conf = &node->conf;
    switch (k) {
    case LIMIT_MAX_CONNECTIONS: return conf->limits_max_connections;
    case LIMIT_MAX_CONNECTIONS_PER_ADDRESS: return conf->limits_max_connections_per_address;
    case LIMIT_NEW_CONNECTIONS_PER_ADDRESS: return conf->limits_new_connections_per_address_per_s;
    case LIMIT_API_CONNECTIONS_PER_ADDRESS: return conf->api_max_connections_per_address;
    case LIMIT_FILE_DESCRIPTORS: return (uint32_t)node->fd_limit;
    case LIMIT_TLS_HANDSHAKES: return conf->tls_max_handshakes;
    default: return 0;
    }
}

/* A connection over an admission limit: a 503 for HTTP-FLV when it can be
 * written at once (the socket is new: its send buffer is empty), then
 * closed; no session, no handshake. Logged at most once per limit every
 * LIMITS_LOG_INTERVAL_MS, with the count of the refusals not logged. */
static void refuse_accepted(node_t *node, evutil_socket_t fd, const struct sockaddr *sa,
                            const node_accept_pause_t *p, limit_kind_t why)
{
    const conn_proto_t *proto = p->proto;
    if (p->which == NODE_LISTENER_HTTP_FLV && !p->tls) {
        static const char resp[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                   "Retry-After: 1\r\n"
                                   "Content-Length: 0\r\n"
                                   "Connection: close\r\n\r\n";
        /* What the client already sent is read first: closing with unread
         * input would send a reset instead of the answer. */
        (void)!recv(fd, node->rbuf, sizeof node->rbuf, MSG_DONTWAIT);
        (void)!send(fd, resp, sizeof resp - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    evutil_closesocket(fd);
    uint64_t suppressed = 0;
    if (!conn_limits_refused(node->limits, why, weir_mono_ms(), &suppressed))
        return;
    char remote[80];
    addr_text(sa, remote, sizeof remote);
    if (suppressed)
        log_warn(0,
                 "%s: connection from %s refused: %s (%u) reached (%llu more refused since "
                 "the last such line)",
                 proto->name, remote, conn_limits_kind_name(why), limit_value(node, why),
                 (unsigned long long)suppressed);
    else
        log_warn(0, "%s: connection from %s refused: %s (%u) reached", proto->name, remote,
                 conn_limits_kind_name(why), limit_value(node, why));
}

/* The pause state of one of the node's listeners. */
static node_accept_pause_t *pause_of(node_t *node, struct evconnlistener *lis)
{
    if (lis == node->rtmps_lis)
        return &node->rtmps_pause;
    if (lis == node->https_lis)
        return &node->https_pause;
    return lis == node->rtmp_lis ? &node->rtmp_pause : &node->http_pause;
}

/* A client connection on one of the last fdlimit_spare() fds: they are
 * kept for the API, relays and hooks. The kernel hands out the lowest free
 * fd, so every fd below this one is in use. */
static int near_fd_limit(const node_t *node, evutil_socket_t fd)
{
    return node->fd_limit && (uint64_t)fd + fdlimit_spare(node->fd_limit) >= node->fd_limit;
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    node_t *node = arg;
    node_accept_pause_t *p = pause_of(node, lis);
    if (node->stopping || !p->start) {
        evutil_closesocket(fd);
        return;
    }
    const conn_proto_t *proto = p->proto;
    node_accept_ok(p);
    if (near_fd_limit(node, fd)) {
        refuse_accepted(node, fd, sa, p, LIMIT_FILE_DESCRIPTORS);
        return;
    }
    conn_limits_addr_t addr;
    int has_addr = conn_limits_addr_from_sockaddr(sa, &addr) == 0;
    limit_kind_t why;
    if (conn_limits_admit(node->limits, has_addr ? &addr : NULL, weir_mono_ms(), &why) != 0) {
        refuse_accepted(node, fd, sa, p, why);
        return;
    }
    if (p->tls && node->conf.tls_max_handshakes &&
        node->tls_handshaking >= node->conf.tls_max_handshakes) {
        conn_limits_release(node->limits, has_addr ? &addr : NULL);
        refuse_accepted(node, fd, sa, p, LIMIT_TLS_HANDSHAKES);
        return;
    }
    conn_t *c = conn_new(node, fd, sa, salen, proto);
    int http = p->which == NODE_LISTENER_HTTP_FLV;
    SSL *ssl = c && p->tls ? tls_server_session(node->tls, http) : NULL;
    if (!c || (p->tls && (!ssl || conn_tls_attach(c, ssl) != 0))) {
        if (c)
            conn_close(c, REASON_ERROR, "out of memory");
        else
            conn_limits_release(node->limits, has_addr ? &addr : NULL);
        log_error(0, "%s: out of memory accepting a connection", proto->name);
        return;
    }
    log_debug(c->id, "%s: connection from %s", proto->name, c->remote);
    p->start(c);
}

/* Out of fds: the reserve fd is closed so that accept() can work again for
 * a moment, each pending connection is taken and refused
 * (file_descriptors: its client sees a close, or a 503 for HTTP-FLV,
 * instead of waiting), and the reserve is opened again. Returns how many. */
static uint64_t shed_pending(node_accept_pause_t *p)
{
    node_t *node = p->node;
    if (node->reserve_fd < 0)
        node->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (node->reserve_fd < 0)
        return 0;
    close(node->reserve_fd);
    uint64_t n = 0;
    while (n < NODE_SHED_MAX) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(evconnlistener_get_fd(p->lis), (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            break;
        if (p->proto)
            refuse_accepted(node, fd, (struct sockaddr *)&ss, p, LIMIT_FILE_DESCRIPTORS);
        else
            evutil_closesocket(fd);
        n++;
    }
    node->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return n;
}

/* One line per listener at most every LIMITS_LOG_INTERVAL_MS, with what
 * happened since the last one. */
static void log_accept_failures(node_accept_pause_t *p, const char *what, int err, int64_t now)
{
    if (p->logged_ms && now - p->logged_ms < LIMITS_LOG_INTERVAL_MS)
        return;
    log_error(0,
              "%s: accept failed: %s (%llu times in %lld ms, %llu pending connections closed); "
              "accepting again in %u ms",
              what, evutil_socket_error_to_string(err), (unsigned long long)p->failures,
              (long long)(now - p->since_ms), (unsigned long long)p->shed, p->delay_ms);
    p->logged_ms = now;
    p->failures = 0;
    p->shed = 0;
}

void node_accept_failed(node_accept_pause_t *p, int err)
{
    int64_t now = weir_mono_ms();
    if (!p->failures)
        p->since_ms = now;
    p->failures++;
    if (err == EMFILE || err == ENFILE)
        p->shed += shed_pending(p);
    evconnlistener_disable(p->lis);
    struct timeval tv = {(time_t)(p->delay_ms / 1000), (suseconds_t)(p->delay_ms % 1000) * 1000};
    event_add(&p->ev, &tv);
    log_accept_failures(p, p->what, err, now);
    p->delay_ms =
        p->delay_ms * 2 < NODE_ACCEPT_PAUSE_MAX_MS ? p->delay_ms * 2 : NODE_ACCEPT_PAUSE_MAX_MS;
}

/* accept() failed with something other than EAGAIN or ECONNABORTED (EMFILE,
 * ENFILE, ENOBUFS, ...): retrying at once would fail the same way as fast
 * as the loop turns, so the listener pauses (pause_cb resumes it). */
static void accept_error_cb(struct evconnlistener *lis, void *arg)
{
    node_accept_failed(pause_of(arg, lis), EVUTIL_SOCKET_ERROR());
}

/* The end of a pause: accepting again, unless the node is stopping (its
 * listeners stay disabled then). */
static void pause_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node_accept_pause_t *p = arg;
    if (!p->node->stopping)
        evconnlistener_enable(p->lis);
}

void node_accept_pause_init(node_accept_pause_t *p, node_t *node, struct evconnlistener *lis,
                            const char *what)
{
    p->node = node;
    p->lis = lis;
    p->what = what;
    p->delay_ms = NODE_ACCEPT_PAUSE_MIN_MS;
    event_assign(&p->ev, node->base, -1, 0, pause_cb, p);
}

void node_accept_ok(node_accept_pause_t *p)
{
    p->delay_ms = NODE_ACCEPT_PAUSE_MIN_MS;
}

int node_listen_socket(const char *what, const char *addr, int backlog, char *err, size_t errlen)
{
    char host[CONF_LISTEN_MAX];
    uint16_t port;
    if (conf_parse_listen(addr, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "%s: bad listen address %s", what, addr);
        return -1;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", port);
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "%s: cannot resolve %s: %s", what, addr, gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
        snprintf(err, errlen, "%s: cannot listen on %s: %s", what, addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

struct evconnlistener *node_listen_on(node_t *node, const char *what, const char *addr,
                                      node_accept_pause_t *p, char *err, size_t errlen)
{
    int fd = node_listen_socket(what, addr, 1024, err, errlen);
    if (fd < 0)
        return NULL;
    /* Backlog 0: the socket is already listening. */
    struct evconnlistener *lis = evconnlistener_new(
        node->base, accept_cb, node, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (!lis) {
        snprintf(err, errlen, "%s: cannot listen on %s: out of memory", what, addr);
        close(fd);
        return NULL;
    }
    evconnlistener_set_error_cb(lis, accept_error_cb);
    node_accept_pause_init(p, node, lis, what);
    log_info(0, "%s: listening on %s", what, addr);
    return lis;
}

void node_listen_log_refusals(node_t *node, int64_t now_ms)
{
    static const limit_kind_t ADMISSION[] = {LIMIT_MAX_CONNECTIONS,
                                             LIMIT_MAX_CONNECTIONS_PER_ADDRESS,
                                             LIMIT_NEW_CONNECTIONS_PER_ADDRESS,
                                             LIMIT_API_CONNECTIONS_PER_ADDRESS,
                                             LIMIT_FILE_DESCRIPTORS,
                                             LIMIT_TLS_HANDSHAKES};
    for (size_t i = 0; i < sizeof ADMISSION / sizeof ADMISSION[0]; i++) {
        limit_kind_t k = ADMISSION[i];
        uint64_t n = conn_limits_unlogged(node->limits, k, now_ms);
        if (n)
            log_warn(0, "%llu more connections refused by %s (%u)", (unsigned long long)n,
                     conn_limits_kind_name(k), limit_value(node, k));
    }
}
