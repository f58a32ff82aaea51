/* tls_io: a TLS connection's record layer after its handshake (tls_io.h). */
#include "tls_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "log.h"

/* -1 with errno for a write that did not complete (SSL_get_error() e). */
static int write_blocked(tls_io_t *t, int e)
{
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        t->write_wants_read = e == SSL_ERROR_WANT_READ;
        errno = EAGAIN;
        return -1;
    }
    t->failed = 1;
    if (e == SSL_ERROR_SSL)
        log_info(t->id, "%s: TLS write error with %s: %s", t->what, t->remote,
                 ERR_reason_error_string(ERR_peek_error()));
    ERR_clear_error();
    errno = EIO;
    return -1;
}

int tls_io_flush(tls_io_t *t)
{
    while (t->rec_len) {
        size_t w = 0;
        ERR_clear_error();
        int r = SSL_write_ex(t->ssl, t->rec, t->rec_len, &w);
        if (r != 1)
            return write_blocked(t, SSL_get_error(t->ssl, r));
        t->write_wants_read = 0;
        t->rec_len -= w;
        memmove(t->rec, t->rec + w, t->rec_len);
    }
    return 0;
}

/* Gathers left bytes at p into the record buffer, sending each full
 * record. Returns 0, or -1 (blocked or failed: *taken says what was taken). */
static int write_piece(tls_io_t *t, const uint8_t *p, size_t left, size_t *taken)
{
    if (!t->rec && !(t->rec = malloc(TLS_IO_RECORD))) {
        errno = EIO;
        return -1;
    }
    while (left) {
        size_t len = TLS_IO_RECORD - t->rec_len;
        len = left < len ? left : len;
        memcpy(t->rec + t->rec_len, p, len);
        t->rec_len += len;
        *taken += len;
        p += len;
        left -= len;
        if (t->rec_len == TLS_IO_RECORD && tls_io_flush(t) != 0)
            return -1;
    }
    return 0;
}

ssize_t tls_io_writev(tls_io_t *t, const struct iovec *iov, int n)
{
    if (tls_io_flush(t) != 0)
        return -1;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (write_piece(t, iov[i].iov_base, iov[i].iov_len, &total) != 0)
            return total ? (ssize_t)total : -1; /* blocked, or the error shows next call */
    if (tls_io_flush(t) != 0 && !total)
        return -1;
    return (ssize_t)total;
}

ssize_t tls_io_read(tls_io_t *t, uint8_t *buf, size_t cap, int *ssl_err)
{
    size_t n = 0;
    ERR_clear_error();
    int r = SSL_read_ex(t->ssl, buf, cap, &n);
    if (r == 1)
        return (ssize_t)n;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        return 0;
    if (e == SSL_ERROR_WANT_WRITE) {
        t->read_wants_write = 1;
        return 0;
    }
    if (e != SSL_ERROR_ZERO_RETURN)
        t->failed = 1;
    *ssl_err = e;
    return -1;
}

int tls_io_read_error(tls_io_t *t, int ssl_err, const char **why)
{
    int peer = ssl_err == SSL_ERROR_ZERO_RETURN;
    if (peer)
        *why = "peer closed the connection";
    else if (ssl_err == SSL_ERROR_SYSCALL)
        *why = errno == ECONNRESET ? "connection reset by peer" : "read error";
    else
        *why = "TLS error";
    if (!peer && ssl_err != SSL_ERROR_SYSCALL)
        log_info(t->id, "%s: TLS error with %s: %s", t->what, t->remote,
                 ERR_reason_error_string(ERR_peek_error()));
    ERR_clear_error();
    return peer;
}

void tls_io_release(tls_io_t *t, int notify)
{
    if (!t->ssl)
        return;
    if (notify && !t->failed)
        SSL_shutdown(t->ssl); /* a close_notify, best effort (non-blocking) */
    ERR_clear_error();
    SSL_free(t->ssl);
    t->ssl = NULL;
    free(t->rec);
    t->rec = NULL;
    t->rec_len = 0;
}
