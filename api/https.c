/* https: the API over TLS (contract in https.h). */
#include "https.h"

#include <errno.h>
#include <event2/listener.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "tls_pump.h"

/* One accepted connection, from its accept to the end of its pump. */
struct api_https_conn {
    api_t *a;
    tls_pump_t *pump;
    conn_limits_addr_t addr;
    int has_addr;
    struct sockaddr_storage sa;
    socklen_t salen;
    char remote[80];
    TAILQ_ENTRY(api_https_conn) link;
};

/* The handshake is done: MHD gets one end of a socketpair, the pump the
 * other. */
static int pump_ready(tls_pump_t *p, void *arg)
{
    (void)p;
    struct api_https_conn *h = arg;
    api_t *a = h->a;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        log_warn(0, "api: connection from %s: socketpair: %s", h->remote, strerror(errno));
        return -1;
    }
    int sz = API_HTTPS_PAIR_BUF;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    /* MHD closes sv[1] whatever happens. It gets the client's address: its
     * connection info and accept policy see the real peer. */
    if (MHD_add_connection(a->mhd, sv[1], (const struct sockaddr *)&h->sa, h->salen) != MHD_YES) {
        log_warn(0, "api: connection from %s not taken by the HTTP server: %s", h->remote,
                 strerror(errno));
        close(sv[0]);
        return -1;
    }
    api_run_soon(a);
    return sv[0];
}

static void pump_end(tls_pump_t *p, void *arg, const char *why)
{
    (void)p;
    struct api_https_conn *h = arg;
    api_t *a = h->a;
    log_debug(0, "api: TLS connection from %s ended: %s", h->remote, why);
    conn_limits_release(a->conns, h->has_addr ? &h->addr : NULL);
    TAILQ_REMOVE(&a->https_conns, h, link);
    free(h);
}

/* A connection over tls.max_handshakes: counted and logged like the media
 * listeners' (at most once per LIMITS_LOG_INTERVAL_MS; the node's tick
 * logs the rest). */
static void refuse_handshake(api_t *a, const char *remote)
{
    node_t *node = a->node;
    uint64_t suppressed = 0;
    if (!conn_limits_refused(node->limits, LIMIT_TLS_HANDSHAKES, weir_mono_ms(), &suppressed))
        return;
    log_warn(0, "api: connection from %s refused: %s (%u) reached", remote,
             conn_limits_kind_name(LIMIT_TLS_HANDSHAKES), node->conf.tls_max_handshakes);
}

/* Admits an accepted connection (the API's table, then the TLS handshakes
 * in progress). 0, or -1 (fd left to the caller to close). */
static int admit(api_t *a, const struct sockaddr *sa, struct api_https_conn *h)
{
    node_t *node = a->node;
    h->has_addr = conn_limits_addr_from_sockaddr(sa, &h->addr) == 0;
    limit_kind_t why;
    if (conn_limits_admit(a->conns, h->has_addr ? &h->addr : NULL, weir_mono_ms(), &why) != 0) {
        if (why == LIMIT_MAX_CONNECTIONS)
            log_debug(0, "api: connection from %s refused: %u API connections open", h->remote,
                      (unsigned)CONF_API_CONNECTIONS_MAX);
        else
            api_conn_refused(a, sa);
        return -1;
    }
    if (node->conf.tls_max_handshakes && node->tls_handshaking >= node->conf.tls_max_handshakes) {
        conn_limits_release(a->conns, h->has_addr ? &h->addr : NULL);
        refuse_handshake(a, h->remote);
        return -1;
    }
    return 0;
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)lis;
    api_t *a = arg;
    node_accept_ok(&a->https_pause);
    struct api_https_conn *h = calloc(1, sizeof *h);
    if (!h || a->node->stopping || (size_t)salen > sizeof h->sa) {
        if (!h)
            log_error(0, "api: out of memory accepting a connection");
        free(h);
        close(fd);
        return;
    }
    h->a = a;
    memcpy(&h->sa, sa, (size_t)salen);
    h->salen = (socklen_t)salen;
    api_addr_text(sa, 1, h->remote, sizeof h->remote);
    if (admit(a, sa, h) != 0) {
        free(h);
        close(fd);
        return;
    }
    h->pump = tls_pump_new(a->node, fd, "api", h->remote, pump_ready, pump_end, h);
    if (!h->pump) {
        log_error(0, "api: out of memory accepting a connection");
        conn_limits_release(a->conns, h->has_addr ? &h->addr : NULL);
        free(h);
        return;
    }
    TAILQ_INSERT_TAIL(&a->https_conns, h, link);
}

/* accept() failed (EMFILE, ...): the listener pauses as the node's media
 * listeners do (node_accept_failed()) instead of failing again as fast as
 * the loop turns. */
static void accept_error_cb(struct evconnlistener *lis, void *arg)
{
    (void)lis;
    api_t *a = arg;
    node_accept_failed(&a->https_pause, EVUTIL_SOCKET_ERROR());
}

int api_https_start(api_t *a, int lfd, char *err, size_t errlen)
{
    TAILQ_INIT(&a->https_conns);
    a->https_lis = evconnlistener_new(a->node->base, accept_cb, a,
                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, lfd);
    if (!a->https_lis) {
        snprintf(err, errlen, "api: cannot listen on %s: out of memory", a->node->conf.api_listen);
        close(lfd);
        return -1;
    }
    evconnlistener_set_error_cb(a->https_lis, accept_error_cb);
    node_accept_pause_init(&a->https_pause, a->node, a->https_lis, "api");
    return 0;
}

void api_https_stop(api_t *a)
{
    if (!a->https_lis)
        return;
    event_del(&a->https_pause.ev);
    evconnlistener_free(a->https_lis);
    a->https_lis = NULL;
    struct api_https_conn *h;
    while ((h = TAILQ_FIRST(&a->https_conns)) != NULL) {
        TAILQ_REMOVE(&a->https_conns, h, link);
        tls_pump_free(h->pump);
        conn_limits_release(a->conns, h->has_addr ? &h->addr : NULL);
        free(h);
    }
}
