/* tls_pump: a TLS server session relayed to a plaintext socket (contract
 * in tls_pump.h). */
#include "tls_pump.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>

#include "log.h"
#include "tls.h"

struct tls_pump {
    node_t *node;
    SSL *ssl;
    int fd;  /* the client's socket (TLS) */
    int pfd; /* the plaintext socket, -1 until the handshake is done */
    struct event tcp_r, tcp_w, pl_r, pl_w;
    struct event timer; /* the handshake's deadline */
    struct event again; /* more to move after TLS_PUMP_ROUNDS */
    tls_pump_ready_fn ready;
    tls_pump_end_fn end;
    void *arg;
    const char *what;
    char remote[80];
    short hs_want;          /* the handshake waits for EV_READ or EV_WRITE */
    short rd_want, wr_want; /* SSL_read / SSL_write wait for EV_READ or EV_WRITE (0: not) */
    unsigned handshaking : 1;
    unsigned tls_eof : 1;    /* the client ended its stream */
    unsigned plain_eof : 1;  /* the plaintext side closed */
    unsigned plain_shut : 1; /* the plaintext side was half-closed (after tls_eof) */
    unsigned failed : 1;     /* a TLS or socket error: no close_notify */
    unsigned busy : 1;       /* in one of its callbacks: freed at its end */
    unsigned dead : 1;       /* ended: freed when not busy */
    size_t in_len, in_off;   /* decrypted bytes not yet passed on, from in + in_off */
    size_t out_len;          /* plaintext bytes not yet encrypted (kept for SSL_write's retry) */
    uint8_t in[TLS_PUMP_BUF];
    uint8_t out[TLS_PUMP_BUF];
};

/* Stops both sides: events off, sockets closed, the session freed (after
 * a close_notify, best effort, when it was up and did not fail). */
static void release(tls_pump_t *p)
{
    event_del(&p->tcp_r);
    event_del(&p->tcp_w);
    event_del(&p->timer);
    event_del(&p->again);
    if (p->pfd >= 0) {
        event_del(&p->pl_r);
        event_del(&p->pl_w);
        close(p->pfd);
        p->pfd = -1;
    }
    if (p->handshaking)
        p->node->tls_handshaking--;
    else if (!p->failed)
        SSL_shutdown(p->ssl);
    p->handshaking = 0;
    ERR_clear_error();
    SSL_free(p->ssl);
    p->ssl = NULL;
    close(p->fd);
}

/* Ends p: the owner hears why; the memory goes when the callback returns. */
static void finish(tls_pump_t *p, const char *why)
{
    if (p->dead)
        return;
    p->dead = 1;
    release(p);
    p->end(p, p->arg, why);
}

static void set_event(struct event *ev, int want)
{
    int pending = event_pending(ev, EV_READ | EV_WRITE, NULL) != 0;
    if (want && !pending)
        event_add(ev, NULL);
    else if (!want && pending)
        event_del(ev);
}

/* The events the pump waits for, from its state. */
static void arm(tls_pump_t *p)
{
    short tcp = p->hs_want;
    if (!p->handshaking) {
        tcp = 0;
        if (!p->in_len && !p->tls_eof)
            tcp |= p->rd_want;
        if (p->out_len)
            tcp |= p->wr_want;
    }
    set_event(&p->tcp_r, tcp & EV_READ);
    set_event(&p->tcp_w, tcp & EV_WRITE);
    if (p->pfd >= 0) {
        set_event(&p->pl_r, !p->out_len && !p->plain_eof);
        set_event(&p->pl_w, p->in_len > 0);
    }
}

/* A failed SSL_read or SSL_write (SSL_get_error() code e): logged, ended. */
static void tls_failed(tls_pump_t *p, int e)
{
    p->failed = 1;
    if (e == SSL_ERROR_SSL)
        log_info(0, "%s: TLS error with %s: %s", p->what, p->remote, tls_error_text());
    ERR_clear_error();
    finish(p, e == SSL_ERROR_SYSCALL && errno == ECONNRESET ? "connection reset by peer"
                                                            : "TLS error");
}

/* What waits for the client's socket after an SSL call that wants more. */
static short ssl_want(int e)
{
    return e == SSL_ERROR_WANT_READ ? EV_READ : e == SSL_ERROR_WANT_WRITE ? EV_WRITE : 0;
}

/* Client to plaintext side: 1 when bytes moved, 0 when waiting, -1 ended. */
static int from_client(tls_pump_t *p)
{
    int moved = 0;
    if (!p->in_len && !p->tls_eof) {
        size_t n = 0;
        ERR_clear_error();
        int r = SSL_read_ex(p->ssl, p->in, sizeof p->in, &n);
        int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(p->ssl, r);
        p->rd_want = ssl_want(e);
        if (r == 1) {
            p->in_len = n;
            p->in_off = 0;
            moved = 1;
        } else if (e == SSL_ERROR_ZERO_RETURN) {
            p->tls_eof = 1; /* SSL_OP_IGNORE_UNEXPECTED_EOF: a bare EOF too */
            moved = 1;
        } else if (!p->rd_want) {
            tls_failed(p, e);
            return -1;
        }
    }
    if (p->in_len) {
        ssize_t w = send(p->pfd, p->in + p->in_off, p->in_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            p->in_off += (size_t)w;
            p->in_len -= (size_t)w;
            moved = 1;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            finish(p, "the plaintext side closed");
            return -1;
        }
    }
    if (p->tls_eof && !p->in_len && !p->plain_shut) {
        p->plain_shut = 1;
        shutdown(p->pfd, SHUT_WR);
    }
    return moved;
}

/* Plaintext side to client: 1 when bytes moved, 0 when waiting, -1 ended. */
static int to_client(tls_pump_t *p)
{
    int moved = 0;
    if (!p->out_len && !p->plain_eof) {
        ssize_t n = recv(p->pfd, p->out, sizeof p->out, MSG_DONTWAIT);
        if (n > 0) {
            p->out_len = (size_t)n;
            moved = 1;
        } else if (n == 0) {
            p->plain_eof = 1;
            moved = 1;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            finish(p, "the plaintext side failed");
            return -1;
        }
    }
    if (p->out_len) {
        size_t w = 0;
        ERR_clear_error();
        int r = SSL_write_ex(p->ssl, p->out, p->out_len, &w);
        int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(p->ssl, r);
        p->wr_want = ssl_want(e);
        if (r == 1) {
            p->out_len -= w;
            memmove(p->out, p->out + w, p->out_len);
            moved = 1;
        } else if (!p->wr_want) {
            tls_failed(p, e);
            return -1;
        }
    }
    return moved;
}

/* Moves bytes both ways until both wait, or TLS_PUMP_ROUNDS. */
static void relay(tls_pump_t *p)
{
    for (int i = 0; i < TLS_PUMP_ROUNDS; i++) {
        int a = from_client(p);
        if (a < 0)
            return;
        int b = to_client(p);
        if (b < 0)
            return;
        if (p->plain_eof && !p->out_len) {
            finish(p, p->tls_eof ? "closed" : "closed by the server");
            return;
        }
        if (!a && !b) {
            arm(p);
            return;
        }
    }
    arm(p);
    event_active(&p->again, EV_TIMEOUT, 0);
}

static void handshake_failed(tls_pump_t *p, tls_fail_t why, const char *detail)
{
    p->failed = 1;
    tls_count_failure(p->node->tls, why);
    log_info(0, "%s: TLS handshake with %s failed (%s): %s", p->what, p->remote, tls_fail_name(why),
             detail);
    ERR_clear_error();
    finish(p, why == TLS_FAIL_TIMEOUT ? "TLS handshake timed out" : "TLS handshake failed");
}

static void ev_cb(evutil_socket_t fd, short what, void *arg);

/* The handshake is done: the owner gives the plaintext socket. 0, or -1
 * (ended). */
static int handshake_done(tls_pump_t *p)
{
    p->handshaking = 0;
    p->hs_want = 0;
    p->node->tls_handshaking--;
    tls_count_handshake(p->node->tls, p->ssl);
    event_del(&p->timer);
    const char *sni = SSL_get_servername(p->ssl, TLSEXT_NAMETYPE_host_name);
    log_debug(0, "%s: TLS with %s: %s %s, server name %s", p->what, p->remote,
              SSL_get_version(p->ssl), SSL_get_cipher_name(p->ssl), sni ? sni : "(none)");
    int pfd = p->ready(p, p->arg);
    if (pfd < 0) {
        finish(p, "not taken after the handshake");
        return -1;
    }
    p->pfd = pfd;
    struct event_base *base = p->node->base;
    event_assign(&p->pl_r, base, pfd, EV_READ | EV_PERSIST, ev_cb, p);
    event_assign(&p->pl_w, base, pfd, EV_WRITE | EV_PERSIST, ev_cb, p);
    return 0;
}

/* One handshake step: 1 when it is done, 0 waiting, -1 ended. */
static int handshake_step(tls_pump_t *p)
{
    ERR_clear_error();
    int r = SSL_do_handshake(p->ssl);
    if (r == 1)
        return handshake_done(p) == 0 ? 1 : -1;
    int e = SSL_get_error(p->ssl, r);
    p->hs_want = ssl_want(e);
    if (p->hs_want)
        return 0;
    unsigned long err = ERR_peek_error();
    handshake_failed(p, tls_fail_classify(e, err), tls_fail_detail(e, err));
    return -1;
}

/* Every event: one step of whatever can move, then free p if it ended. */
static void run(tls_pump_t *p)
{
    p->busy = 1;
    if (!p->handshaking || handshake_step(p) == 1)
        relay(p);
    else if (!p->dead)
        arm(p);
    p->busy = 0;
    if (p->dead)
        free(p);
}

/* Either socket's readiness, or the rest of a relay cut at its bound. */
static void ev_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run(arg);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tls_pump_t *p = arg;
    if (!p->handshaking)
        return;
    p->busy = 1;
    node_limit_hit(p->node, LIMIT_TLS_HANDSHAKE_TIMEOUT);
    handshake_failed(p, TLS_FAIL_TIMEOUT, "no handshake within tls.handshake_timeout_ms");
    p->busy = 0;
    free(p);
}

tls_pump_t *tls_pump_new(node_t *node, int fd, const char *what, const char *remote,
                         tls_pump_ready_fn ready, tls_pump_end_fn end, void *arg)
{
    tls_pump_t *p = calloc(1, sizeof *p);
    SSL *ssl = p ? tls_server_session(node->tls, 1) : NULL;
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        free(p);
        close(fd);
        ERR_clear_error();
        return NULL;
    }
    p->node = node;
    p->fd = fd;
    p->pfd = -1;
    p->ssl = ssl;
    SSL_set_accept_state(ssl);
    p->handshaking = 1;
    p->hs_want = EV_READ;
    node->tls_handshaking++;
    p->ready = ready;
    p->end = end;
    p->arg = arg;
    p->what = what;
    snprintf(p->remote, sizeof p->remote, "%s", remote);
    struct event_base *base = node->base;
    event_assign(&p->tcp_r, base, fd, EV_READ | EV_PERSIST, ev_cb, p);
    event_assign(&p->tcp_w, base, fd, EV_WRITE | EV_PERSIST, ev_cb, p);
    event_assign(&p->again, base, -1, 0, ev_cb, p);
    evtimer_assign(&p->timer, base, timer_cb, p);
    uint32_t ms = node->conf.tls_handshake_timeout_ms;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(&p->timer, &tv);
    arm(p);
    return p;
}

void tls_pump_free(tls_pump_t *p)
{
    if (!p)
        return;
    if (!p->dead)
        release(p);
    free(p);
}

int tls_pump_handshaking(const tls_pump_t *p)
{
    return p->handshaking;
}
