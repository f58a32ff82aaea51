#include "conn_tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "common.h"
#include "log.h"
#include "tls.h"
#include "tls_client.h"
#include "tls_io.h"

#define CONN_TLS_READS 4 /* records read per readable event at most */

struct conn_tls {
    tls_io_t io; /* the SSL object, the record buffer, the want flags */
    unsigned handshaking : 1;
    unsigned client : 1;        /* an outgoing connection (conn_tls_attach_client()) */
    unsigned hs_failed : 1;     /* client: the handshake failed (hs_err says why) */
    unsigned verify_failed : 1; /* client: ... because the peer's certificate did not verify */
    char *hs_err;               /* client: malloc'd text of the failure, or NULL */
};

/* The TLS state of c with ssl (taken over): the handshake starts. */
static int attach(conn_t *c, SSL *ssl, int client)
{
    struct conn_tls *t = calloc(1, sizeof *t);
    if (!t || SSL_set_fd(ssl, c->fd) != 1) {
        free(t);
        SSL_free(ssl);
        return -1;
    }
    if (client)
        SSL_set_connect_state(ssl);
    else
        SSL_set_accept_state(ssl);
    t->io.ssl = ssl;
    t->io.id = c->id;
    t->io.what = c->proto ? c->proto->name : "tls";
    t->io.remote = c->remote;
    t->handshaking = 1;
    t->client = client != 0;
    c->tls = t;
    return 0;
}

int conn_tls_attach(conn_t *c, SSL *ssl)
{
    if (attach(c, ssl, 0) != 0)
        return -1;
    c->node->tls_handshaking++;
    return 0;
}

static int handshake_step(conn_t *c);

int conn_tls_attach_client(conn_t *c, SSL *ssl)
{
    if (attach(c, ssl, 1) != 0)
        return -1;
    handshake_step(c); /* the ClientHello */
    return 0;
}

int conn_tls_client_error(const conn_t *c, char *err, size_t errlen)
{
    const struct conn_tls *t = c->tls;
    if (!t || !t->hs_failed)
        return -1;
    snprintf(err, errlen, "%s", t->hs_err ? t->hs_err : "TLS handshake failed");
    return t->verify_failed;
}

int conn_tls_handshaking(const conn_t *c)
{
    return c->tls && c->tls->handshaking;
}

static void arm_write(conn_t *c)
{
    if (!c->wblocked) {
        c->wblocked = 1;
        event_add(&c->wev, NULL);
    }
}

static void disarm_write(conn_t *c)
{
    if (c->wblocked) {
        c->wblocked = 0;
        event_del(&c->wev);
    }
}

/* Closes c for a read that ended (tls_io_read()'s ssl_err). */
static void io_failed(conn_t *c, int e)
{
    const char *why;
    int peer = tls_io_read_error(&c->tls->io, e, &why);
    if (!c->closing)
        c->end = peer ? CONN_END_PEER : CONN_END_IO;
    conn_close(c, peer ? REASON_EOF : REASON_ERROR, why);
}

/* An outgoing handshake failed: keeps why for the protocol
 * (conn_tls_client_error(), read from its on_close) and closes. */
static void client_failed(conn_t *c, tls_fail_t why, const char *detail)
{
    struct conn_tls *t = c->tls;
    char err[256];
    if (why == TLS_FAIL_TIMEOUT)
        snprintf(err, sizeof err, "TLS handshake timed out");
    else
        t->verify_failed = tls_client_failure(t->io.ssl, err, sizeof err) == 1;
    if (!t->verify_failed && why != TLS_FAIL_TIMEOUT && detail && !ERR_peek_error())
        snprintf(err, sizeof err, "TLS handshake failed: %s", detail);
    t->hs_failed = 1;
    free(t->hs_err);
    t->hs_err = strdup(err);
    log_info(c->id, "%s: TLS handshake with %s failed (%s): %s", c->proto->name, c->remote,
             t->verify_failed ? "verify" : tls_fail_name(why), err);
    ERR_clear_error();
    conn_close(c, why == TLS_FAIL_TIMEOUT ? REASON_TIMEOUT : REASON_PROTOCOL, err);
}

static void handshake_failed(conn_t *c, tls_fail_t why, const char *detail)
{
    static const char *const TEXT[TLS_FAIL_KINDS] = {
        [TLS_FAIL_NOT_TLS] = "TLS handshake failed: the client does not speak TLS",
        [TLS_FAIL_VERSION] = "TLS handshake failed: protocol version below TLS 1.2",
        [TLS_FAIL_CIPHER] = "TLS handshake failed: no cipher suite in common",
        [TLS_FAIL_PEER_ALERT] = "TLS handshake failed: the client refused it",
        [TLS_FAIL_EOF] = "TLS handshake failed: the client left",
        [TLS_FAIL_TIMEOUT] = "TLS handshake timed out",
        [TLS_FAIL_OTHER] = "TLS handshake failed",
    };
    struct conn_tls *t = c->tls;
    t->io.failed = 1;
    if (t->client) {
        client_failed(c, why, detail);
        return;
    }
    tls_count_failure(c->node->tls, why);
    log_info(c->id, "%s: TLS handshake with %s failed (%s): %s", c->proto->name, c->remote,
             tls_fail_name(why), detail ? detail : "-");
    ERR_clear_error();
    conn_close(c, why == TLS_FAIL_TIMEOUT ? REASON_TIMEOUT : REASON_PROTOCOL, TEXT[why]);
}

static void handshake_done(conn_t *c)
{
    struct conn_tls *t = c->tls;
    t->handshaking = 0;
    if (!t->client) {
        c->node->tls_handshaking--;
        tls_count_handshake(c->node->tls, t->io.ssl);
    }
    disarm_write(c);
    const char *sni = SSL_get_servername(t->io.ssl, TLSEXT_NAMETYPE_host_name);
    log_debug(c->id, "%s: TLS with %s: %s %s, server name %s", c->proto->name, c->remote,
              SSL_get_version(t->io.ssl), SSL_get_cipher_name(t->io.ssl), sni ? sni : "(none)");
    conn_flush(c); /* what the protocol queued meanwhile */
}

/* One handshake step; 1 when it is done. */
static int handshake_step(conn_t *c)
{
    struct conn_tls *t = c->tls;
    ERR_clear_error();
    int r = SSL_do_handshake(t->io.ssl);
    if (r == 1) {
        handshake_done(c);
        return 1;
    }
    int e = SSL_get_error(t->io.ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        disarm_write(c);
        return 0;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        arm_write(c);
        return 0;
    }
    unsigned long err = ERR_peek_error();
    handshake_failed(c, tls_fail_classify(e, err), tls_fail_detail(e, err));
    return 0;
}

static void read_records(conn_t *c)
{
    struct conn_tls *t = c->tls;
    node_t *node = c->node;
    for (int i = 0; i < CONN_TLS_READS && !c->closing; i++) {
        int e = 0;
        ssize_t n = tls_io_read(&t->io, node->rbuf, sizeof node->rbuf, &e);
        if (n > 0) {
            c->bytes_in += (uint64_t)n;
            c->last_read_ms = weir_mono_ms();
            c->proto->on_read(c, node->rbuf, (size_t)n);
            if (c->tls != t) { /* its player went to a worker with the TLS state (worker.h) */
                if (c->tls && !c->closing) /* ... or came back (a failed handover): go on */
                    event_active(&c->rev, EV_READ, 0);
                return;
            }
            continue;
        }
        if (n == 0) {
            if (t->io.read_wants_write)
                arm_write(c);
            return;
        }
        io_failed(c, e);
        return;
    }
    /* Records already decrypted or read from the socket: come back soon. */
    if (!c->closing && SSL_has_pending(t->io.ssl))
        event_active(&c->rev, EV_READ, 0);
}

void conn_tls_on_readable(conn_t *c)
{
    struct conn_tls *t = c->tls;
    if (t->handshaking && !handshake_step(c))
        return;
    if (c->closing)
        return;
    if (t->io.write_wants_read) {
        t->io.write_wants_read = 0;
        conn_flush(c);
        if (c->closing)
            return;
    }
    read_records(c);
}

int conn_tls_on_writable(conn_t *c)
{
    struct conn_tls *t = c->tls;
    if (t->handshaking) {
        handshake_step(c);
        return 0;
    }
    if (t->io.read_wants_write) {
        t->io.read_wants_write = 0;
        read_records(c);
        if (c->closing || c->tls != t) /* or handed to a worker */
            return 0;
    }
    return 1;
}

int conn_tls_flush_retry(conn_t *c)
{
    return tls_io_flush(&c->tls->io);
}

ssize_t conn_tls_writev(conn_t *c, const struct iovec *iov, int n)
{
    return tls_io_writev(&c->tls->io, iov, n);
}

ssize_t conn_tls_write_out(conn_t *c)
{
    struct evbuffer_iovec v[16];
    struct iovec iov[16];
    int n = evbuffer_peek(c->out, -1, NULL, v, 16);
    if (n > 16)
        n = 16;
    for (int i = 0; i < n; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    ssize_t w = conn_tls_writev(c, iov, n);
    if (w > 0)
        evbuffer_drain(c->out, (size_t)w);
    return w;
}

int conn_tls_write_waits_read(const conn_t *c)
{
    return c->tls && c->tls->io.write_wants_read;
}

void conn_tls_tick(conn_t *c, int64_t now_ms)
{
    if (!c->tls || !c->tls->handshaking || c->closing)
        return;
    if (now_ms - c->start_ms < (int64_t)c->node->conf.tls_handshake_timeout_ms)
        return;
    if (!c->tls->client)
        node_limit_hit(c->node, LIMIT_TLS_HANDSHAKE_TIMEOUT);
    handshake_failed(c, TLS_FAIL_TIMEOUT, "no handshake within tls.handshake_timeout_ms");
}

void conn_tls_free(conn_t *c)
{
    struct conn_tls *t = c->tls;
    if (!t)
        return;
    int server_handshaking = t->handshaking && !t->client;
    if (server_handshaking)
        c->node->tls_handshaking--;
    tls_io_release(&t->io, !server_handshaking && c->end != CONN_END_IO);
    free(t->hs_err);
    free(t);
    c->tls = NULL;
}

tls_io_t *conn_tls_detach(conn_t *c)
{
    struct conn_tls *t = c->tls;
    if (!t || t->handshaking || t->client)
        return NULL;
    tls_io_t *io = malloc(sizeof *io);
    if (!io)
        return NULL;
    *io = t->io; /* the SSL object and a blocked record move with it */
    free(t->hs_err);
    free(t);
    c->tls = NULL;
    c->tls_moved = 1;
    return io;
}

void conn_tls_reattach(conn_t *c, tls_io_t *io)
{
    struct conn_tls *t = calloc(1, sizeof *t);
    if (!t) {
        tls_io_release(io, 0);
        free(io);
        c->tls_moved = 0;
        conn_close(c, REASON_ERROR, "out of memory");
        return;
    }
    t->io = *io;
    free(io);
    c->tls = t;
    c->tls_moved = 0;
}
