/* tls_io: the record layer of a TLS connection once its handshake is done,
 * for whichever thread owns the connection: the event loop (conn_tls.c
 * embeds one) or a worker thread that took a player over (worker.h). It
 * owns the SSL object and a bounded record buffer, and knows nothing of
 * conn_t or of events: its caller arms them from the want flags.
 *
 * Writes: the iovecs are gathered into one record buffer of TLS_IO_RECORD
 * bytes (allocated at the first write) and each full record, and the rest
 * at the end of a call, goes out with one SSL_write_ex (conn_tls.h says
 * why: a record per iovec costs 14x). When the socket blocks, OpenSSL
 * wants the same record again: it stays in the buffer (already counted as
 * taken) and goes first at the next call. A write that wants a read sets
 * write_wants_read (wait for readability, then write again); a read that
 * wants a write sets read_wants_write.
 *
 * Threads: one thread at a time, the connection's owner; handing it to
 * another thread (a message, worker.h) hands over the SSL object with it.
 */
#ifndef WEIR_TLS_IO_H
#define WEIR_TLS_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

#define TLS_IO_RECORD 16384 /* plaintext bytes a TLS record holds at most */

typedef struct tls_io {
    SSL *ssl;       /* owned */
    uint8_t *rec;   /* TLS_IO_RECORD bytes (allocated at first use), or NULL */
    size_t rec_len; /* bytes in rec: gathered, or a blocked record's */
    unsigned read_wants_write : 1;
    unsigned write_wants_read : 1;
    unsigned failed : 1; /* a fatal TLS or socket error: no close_notify */
    /* For log lines, borrowed (valid while the owner uses it). */
    uint64_t id;
    const char *what;   /* the protocol ("http-flv") */
    const char *remote; /* the peer */
} tls_io_t;

/* Encrypts and sends from iov: the count of bytes taken (written, or held
 * in the record buffer), or -1 with errno EAGAIN (nothing taken: wait, for
 * readability when write_wants_read) or EIO (failed: close it). */
ssize_t tls_io_writev(tls_io_t *t, const struct iovec *iov, int n);
/* Sends what the record buffer holds: 0 when empty, -1 with errno as above. */
int tls_io_flush(tls_io_t *t);
/* One SSL_read_ex into buf: the bytes read (> 0), 0 when it would block
 * (read_wants_write set when it waits for writability), or -1 when the
 * connection ended (*ssl_err: SSL_ERROR_ZERO_RETURN for the peer's
 * close_notify, else an error; failed set for an error). The OpenSSL error
 * queue is left for the caller's log line (tls_io_read_error()). */
ssize_t tls_io_read(tls_io_t *t, uint8_t *buf, size_t cap, int *ssl_err);
/* The reason text for a read that ended with ssl_err (logged at info for a
 * TLS error) and whether it was the peer's end (1) or an error (0); clears
 * the error queue. */
int tls_io_read_error(tls_io_t *t, int ssl_err, const char **why);
/* Frees everything: a close_notify first (best effort, non-blocking) when
 * notify and nothing failed. The socket is the caller's (close it after). */
void tls_io_release(tls_io_t *t, int notify);

#endif
