#include "node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/dns.h>
#include <event2/util.h>

#include "common.h"
#include "conn.h"
#include "fdlimit.h"
#include "log.h"
#include "conn_tls.h"
#include "tls.h"
#include "tls_client.h"
#include "reload.h"
#include "sdnotify.h"

#define NODE_TICK_MS 250
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

/* A listener on addr with its pause state p (set up here). */
static struct evconnlistener *listen_on(node_t *node, const char *what, const char *addr,
                                        evconnlistener_cb cb, node_accept_pause_t *p, char *err,
                                        size_t errlen)
{
    int fd = node_listen_socket(what, addr, 1024, err, errlen);
    if (fd < 0)
        return NULL;
    /* Backlog 0: the socket is already listening. */
    struct evconnlistener *lis = evconnlistener_new(
        node->base, cb, node, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
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

/* The refusals of each admission limit not logged yet, once their interval
 * is over. */
static void log_unlogged_refusals(node_t *node, int64_t now_ms)
{
    static const limit_kind_t ADMISSION[] = {
        LIMIT_MAX_CONNECTIONS, LIMIT_MAX_CONNECTIONS_PER_ADDRESS, LIMIT_NEW_CONNECTIONS_PER_ADDRESS,
        LIMIT_API_CONNECTIONS_PER_ADDRESS, LIMIT_FILE_DESCRIPTORS, LIMIT_TLS_HANDSHAKES};
    for (size_t i = 0; i < sizeof ADMISSION / sizeof ADMISSION[0]; i++) {
        limit_kind_t k = ADMISSION[i];
        uint64_t n = conn_limits_unlogged(node->limits, k, now_ms);
        if (n)
            log_warn(0, "%llu more connections refused by %s (%u)", (unsigned long long)n,
                     conn_limits_kind_name(k), limit_value(node, k));
    }
}

static void stop_tick(node_t *node, int64_t now_ms);

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node_t *node = arg;
    int64_t now = weir_mono_ms();
    conn_t *c, *next;
    uint64_t in = node->closed_bytes_in, out = node->closed_bytes_out;
    uint64_t dropped = node->closed_dropped_frames;
    for (c = TAILQ_FIRST(&node->conns); c; c = next) {
        next = TAILQ_NEXT(c, link);
        rate_sample(&c->rate_in, c->bytes_in, now);
        rate_sample(&c->rate_out, c->bytes_out, now);
        in += c->bytes_in;
        out += c->bytes_out;
        if (c->player)
            dropped += c->player->dropped_frames;
        conn_tls_tick(c, now);
        if (c->proto->on_tick && !c->closing)
            c->proto->on_tick(c, now);
    }
    node->bytes_in = in;
    node->bytes_out = out;
    node->dropped_frames = dropped;
    rate_sample(&node->rate_in, in, now);
    rate_sample(&node->rate_out, out, now);
    hub_tick(node->hub, now);
    procload_sample(&node->load, now);
    for (size_t i = 0; i < node->nmodules; i++)
        if (node->modules[i].m->tick)
            node->modules[i].m->tick(node->modules[i].arg, now);
    if (node->stopping && node->stop_deadline_ms)
        stop_tick(node, now);
    log_unlogged_refusals(node, now);
}

void node_limit_hit(node_t *node, limit_kind_t k)
{
    conn_limits_count(node->limits, k);
}

void node_conn_closed(node_t *node, conn_t *c)
{
    if (!c->outgoing) {
        /* Accepted: admitted by conn_limits_admit() from the same address. */
        conn_limits_addr_t addr;
        int has_addr = conn_limits_addr_from_remote(c->remote, &addr) == 0;
        conn_limits_release(node->limits, has_addr ? &addr : NULL);
    }
    node->closed_bytes_in += c->bytes_in;
    node->closed_bytes_out += c->bytes_out;
    sess_info_t si;
    conn_info(c, weir_mono_ms(), &si);
    node->closed_dropped_frames += si.dropped_frames;
}

void node_foreach_session(node_t *node, void (*cb)(conn_t *c, void *arg), void *arg)
{
    conn_t *c;
    TAILQ_FOREACH(c, &node->conns, link)
    cb(c, arg);
}

void node_sessions_after(node_t *node, uint64_t after, int (*cb)(conn_t *c, void *arg), void *arg)
{
    conn_t *c;
    TAILQ_FOREACH(c, &node->conns, link)
    if (c->id > after && cb(c, arg))
        return;
}

conn_t *node_find_session(node_t *node, uint64_t id)
{
    conn_t *c;
    TAILQ_FOREACH(c, &node->conns, link)
    if (c->id == id)
        return c; /* closing connections are on the reap list, not here */
    return NULL;
}

void node_set_storage(node_t *node, struct storage *st, const char *id, uint64_t last_event_id)
{
    node->st = st;
    node->id = st ? id : NULL;
    node->next_event_id = st ? last_event_id + 1 : 1;
}

const char *node_id(const node_t *node)
{
    return node->id ? node->id : "";
}

int node_drain_answer(const node_t *node, const char *target, char **header)
{
    *header = NULL;
    if (!node->drain_redirect[0]) {
        char ra[48];
        snprintf(ra, sizeof ra, "Retry-After: %u\r\n", node->drain_retry_after_s);
        *header = strdup(ra);
        return 503;
    }
    /* The redirect is a base URL: one '/' between it and the target. */
    size_t rl = strlen(node->drain_redirect);
    if (rl && node->drain_redirect[rl - 1] == '/')
        rl--;
    size_t cap = rl + strlen(target) + 16;
    char *loc = malloc(cap);
    if (!loc)
        return 503;
    snprintf(loc, cap, "Location: %.*s%s\r\n", (int)rl, node->drain_redirect, target);
    *header = loc;
    return 302;
}

void node_set_session(node_t *node, node_listener_t which, const conn_proto_t *proto,
                      void (*start)(conn_t *c))
{
    int rtmp = which == NODE_LISTENER_RTMP;
    node_accept_pause_t *p = rtmp ? &node->rtmp_pause : &node->http_pause;
    node_accept_pause_t *tp = rtmp ? &node->rtmps_pause : &node->https_pause;
    p->proto = tp->proto = proto;
    p->start = tp->start = start;
}

void node_set_event_sink(node_t *node, node_event_fn emit)
{
    node->emit = emit;
}

uint64_t node_event(node_t *node, const char *type, cJSON *fields)
{
    if (!node->emit) {
        cJSON_Delete(fields);
        return 0;
    }
    return node->emit(node, type, fields);
}

int node_add_module(node_t *node, const node_module_t *m, void *arg)
{
    if (node->nmodules == NODE_MODULES_MAX)
        return -1;
    node->modules[node->nmodules].m = m;
    node->modules[node->nmodules].arg = arg;
    node->nmodules++;
    return 0;
}

/* Calls each module's cb (a void (*)(void *) member of node_module_t), in
 * the order added. */
#define MODULES_CALL(node, cb)                                                                     \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (node)->nmodules; i_++)                                           \
            if ((node)->modules[i_].m->cb)                                                         \
                (node)->modules[i_].m->cb((node)->modules[i_].arg);                                \
    } while (0)

/* The work the modules still have before the exit. */
static size_t modules_pending(node_t *node)
{
    size_t n = 0;
    for (size_t i = 0; i < node->nmodules; i++)
        if (node->modules[i].m->pending)
            n += node->modules[i].m->pending(node->modules[i].arg);
    return n;
}

struct evdns_base *node_dns(node_t *node)
{
    if (!node->dns) {
        /* Reads /etc/resolv.conf and /etc/hosts; without a resolv.conf it
         * falls back to a local name server. */
        node->dns = evdns_base_new(node->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                                   EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (!node->dns)
            log_error(0, "cannot set up name resolution for outgoing connections");
    }
    return node->dns;
}

/* The hub has players to write (stream_flush()). Without player.merge_ms
 * the pass runs at the end of this loop iteration: an activated event goes
 * to the tail of the queue of active events, after the reads and writes
 * the poll returned. It shares their priority on purpose: a lower one would
 * wait while any socket is ready, which at saturation is always. */
static void fanout_request(void *arg)
{
    node_t *node = arg;
    if (node->fanout_pending)
        return;
    node->fanout_pending = 1;
    uint32_t ms = node->conf.player_merge_ms;
    if (ms) {
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        event_add(&node->fanout_ev, &tv);
    } else {
        event_active(&node->fanout_ev, EV_TIMEOUT, 0);
    }
}

static void fanout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node_t *node = arg;
    node->fanout_pending = 1; /* a stream_flush() from a wake waits for this pass */
    int more = hub_fanout(node->hub);
    node->fanout_pending = 0;
    if (more) {
        /* A timer of 0: due after the next poll, so the sockets ready by
         * then (joins, handshakes, the publisher) go before the rest. */
        struct timeval zero = {0, 0};
        node->fanout_pending = 1;
        event_add(&node->fanout_ev, &zero);
    }
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_reap_all(arg);
}

/* Stops accepting on every listener; with free_them, frees them. */
static void listeners_stop(node_t *node, int free_them)
{
    struct evconnlistener **lis[] = {&node->rtmp_lis, &node->http_lis, &node->rtmps_lis,
                                     &node->https_lis};
    node_accept_pause_t *pause[] = {&node->rtmp_pause, &node->http_pause, &node->rtmps_pause,
                                    &node->https_pause};
    for (size_t i = 0; i < sizeof lis / sizeof lis[0]; i++) {
        if (!*lis[i])
            continue;
        event_del(&pause[i]->ev);
        if (free_them) {
            evconnlistener_free(*lis[i]);
            *lis[i] = NULL;
        } else {
            evconnlistener_disable(*lis[i]);
        }
    }
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    node_t *node = arg;
    if (node->stopping) {
        log_info(0, "received %s again, exiting now", sig == SIGINT ? "SIGINT" : "SIGTERM");
        event_base_loopexit(node->base, NULL);
        return;
    }
    node->stopping = 1;
    sdnotify_send("STOPPING=1");
    /* The modules first (storage: the writes still to come, stop events and
     * pending API changes, share a bounded budget), then the relays go. */
    MODULES_CALL(node, stopping);
    log_info(0, "received %s, closing %zu sessions", sig == SIGINT ? "SIGINT" : "SIGTERM",
             node->nconns);
    MODULES_CALL(node, before_close);
    listeners_stop(node, 0);
    conn_t *c;
    while ((c = TAILQ_FIRST(&node->conns)) != NULL)
        conn_close(c, REASON_SHUTDOWN, "node shutting down");
    conn_reap_all(node);
    /* The sessions' stop events are queued to the webhooks: deliver them
     * (bounded by webhooks.shutdown_flush_ms; the tick checks). */
    size_t pending = modules_pending(node);
    if (pending && node->conf.webhooks_shutdown_flush_ms) {
        log_info(0, "delivering %zu webhook notifications before exiting (up to %u ms)", pending,
                 node->conf.webhooks_shutdown_flush_ms);
        node->stop_deadline_ms = weir_mono_ms() + node->conf.webhooks_shutdown_flush_ms;
        return;
    }
    event_base_loopexit(node->base, NULL);
}

/* SIGHUP reloads (reload.h); SIGUSR1 and SIGUSR2 have no use: logged and
 * ignored (their default action would kill the node). */
static void other_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    if (sig == SIGHUP) {
        node_reload(arg);
        return;
    }
    log_warn(0, "received %s, which has no use: ignored", sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
}

/* The signal events (loop thread); removed by signals_del(). */
static void signals_add(node_t *node)
{
    struct {
        struct event *ev;
        int sig;
        event_callback_fn cb;
    } const sigs[] = {
        {&node->sigint_ev, SIGINT, signal_cb},
        {&node->sigterm_ev, SIGTERM, signal_cb},
        {&node->sighup_ev, SIGHUP, other_signal_cb},
        {&node->sigusr1_ev, SIGUSR1, other_signal_cb},
        {&node->sigusr2_ev, SIGUSR2, other_signal_cb},
    };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        event_assign(sigs[i].ev, node->base, sigs[i].sig, EV_SIGNAL | EV_PERSIST, sigs[i].cb, node);
        event_add(sigs[i].ev, NULL);
    }
}

/* Back to the dispositions from before node_new() (main.c ignores SIGHUP,
 * SIGUSR1 and SIGUSR2 until then and after). */
static void signals_del(node_t *node)
{
    event_del(&node->sigint_ev);
    event_del(&node->sigterm_ev);
    event_del(&node->sighup_ev);
    event_del(&node->sigusr1_ev);
    event_del(&node->sigusr2_ev);
}

/* While stopping: exits once the webhooks are delivered or the flush time
 * is over. */
static void stop_tick(node_t *node, int64_t now_ms)
{
    size_t pending = modules_pending(node);
    if (pending && now_ms < node->stop_deadline_ms)
        return;
    if (pending)
        log_warn(0,
                 "exiting with %zu webhook notifications not delivered (they stay in the "
                 "event log)",
                 pending);
    event_base_loopexit(node->base, NULL);
}

/* rtmps.listen and https.listen, with the certificates they and api.tls use. */
static int tls_listeners(node_t *node, char *err, size_t errlen)
{
    const conf_t *conf = &node->conf;
    if (!conf->rtmps_listen[0] && !conf->https_listen[0] && !conf->api_tls)
        return 0; /* api.tls: the API listens itself (api/https.h) with these certificates */
    node->tls = tls_server_new(conf, err, errlen);
    if (!node->tls)
        return -1;
    node->rtmps_pause.tls = node->https_pause.tls = 1;
    node->rtmps_pause.which = NODE_LISTENER_RTMP;
    node->https_pause.which = NODE_LISTENER_HTTP_FLV;
    if (conf->rtmps_listen[0] &&
        !(node->rtmps_lis = listen_on(node, "rtmps", conf->rtmps_listen, accept_cb,
                                      &node->rtmps_pause, err, errlen)))
        return -1;
    if (conf->https_listen[0] &&
        !(node->https_lis = listen_on(node, "https", conf->https_listen, accept_cb,
                                      &node->https_pause, err, errlen)))
        return -1;
    return 0;
}

node_t *node_new(const conf_t *conf, char *err, size_t errlen)
{
    node_t *node = calloc(1, sizeof *node);
    if (!node) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    node->conf = *conf;
    node->fd_limit = fdlimit_apply(conf->limits_max_connections);
    node->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    node->start_ms = weir_mono_ms();
    node->start_wall_ms = weir_wall_ms();
    /* Session ids: the start time in ms, then a counter (node.h). */
    node->next_sess_id = (uint64_t)node->start_wall_ms << NODE_SESS_ID_COUNTER_BITS;
    node->next_event_id = 1;
    if (RAND_bytes(node->etag_key, sizeof node->etag_key) != 1)
        memset(node->etag_key, 0, sizeof node->etag_key); /* tags still work, per process */
    rate_init(&node->rate_in, 0, node->start_ms);
    rate_init(&node->rate_out, 0, node->start_ms);
    TAILQ_INIT(&node->conns);
    TAILQ_INIT(&node->reap);
    uint64_t seed = 0;
    evutil_secure_rng_get_bytes(&seed, sizeof seed);
    node->limits =
        conn_limits_new(conf->limits_max_connections, conf->limits_max_connections_per_address,
                        conf->limits_new_connections_per_address_per_s, seed);
    node->base = event_base_new();
    node->hub = hub_new(&node->conf, node->conf.rtmp_chunk_size);
    if (!node->base || !node->hub || !node->limits) {
        snprintf(err, errlen, "cannot create the event loop");
        node_free(node);
        return NULL;
    }
    log_info(0, "media memory bound: %llu MB (limits.max_memory_mb%s)",
             (unsigned long long)(hub_memory_bound(node->hub) >> 20),
             conf->limits_max_memory_mb ? "" : " 0: half of the memory the node may use");
    node->rtmp_lis =
        listen_on(node, "rtmp", conf->rtmp_listen, accept_cb, &node->rtmp_pause, err, errlen);
    if (!node->rtmp_lis) {
        node_free(node);
        return NULL;
    }
    node->http_pause.which = NODE_LISTENER_HTTP_FLV;
    node->http_lis = listen_on(node, "http-flv", conf->http_flv_listen, accept_cb,
                               &node->http_pause, err, errlen);
    if (!node->http_lis || tls_listeners(node, err, errlen) != 0) {
        node_free(node);
        return NULL;
    }
    event_assign(&node->tick_ev, node->base, -1, EV_PERSIST, tick_cb, node);
    struct timeval tv = {0, NODE_TICK_MS * 1000};
    event_add(&node->tick_ev, &tv);
    event_assign(&node->reap_ev, node->base, -1, 0, reap_cb, node);
    event_assign(&node->fanout_ev, node->base, -1, 0, fanout_cb, node);
    hub_set_scheduler(node->hub, fanout_request, node);
    signals_add(node);
    node->events_ready = 1;
    return node;
}

int node_run(node_t *node)
{
    event_base_dispatch(node->base);
    return 0;
}

void node_free(node_t *node)
{
    if (!node)
        return;
    MODULES_CALL(node, before_close);
    conn_t *c;
    while ((c = TAILQ_FIRST(&node->conns)) != NULL)
        conn_close(c, REASON_SHUTDOWN, "node shutting down");
    conn_reap_all(node);
    MODULES_CALL(node, after_close);
    if (node->events_ready) {
        event_del(&node->tick_ev);
        event_del(&node->reap_ev);
        event_del(&node->fanout_ev);
        hub_set_scheduler(node->hub, NULL, NULL);
        signals_del(node);
    }
    listeners_stop(node, 1);
    tls_server_free(node->tls);
    tls_client_free(node->tls_client);
    if (node->reserve_fd >= 0)
        close(node->reserve_fd);
    hub_free(node->hub);
    if (node->dns)
        evdns_base_free(node->dns, 1);
    if (node->base)
        event_base_free(node->base);
    conn_limits_free(node->limits);
    free(node);
}

struct tls_client *node_tls_client(node_t *node)
{
    if (!node->tls_client)
        node->tls_client = tls_client_new(node->conf.tls_ca);
    return node->tls_client;
}

uint64_t node_new_session_id(node_t *node)
{
    return ++node->next_sess_id;
}
