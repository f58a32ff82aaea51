/* conn_tls: TLS on a connection (conn.h) accepted on a TLS listener: the
 * handshake (bounded in time by tls.handshake_timeout_ms and in number by
 * tls.max_handshakes, node.c), then plaintext into the protocol's on_read
 * and encryption of the output read from the shared iovecs.
 *
 * Writes and reads after the handshake are tls_io's (tls_io.h: one
 * record buffer, gathered iovecs, one SSL_write_ex per record; the want
 * flags); this module arms the connection's events from them: a write that
 * wants a read waits for readability (and the read path flushes); a read
 * that wants a write waits for writability. A player handed to a worker
 * thread (worker.h) takes its tls_io with it (conn_tls_detach()).
 *
 * Everything here runs on the loop thread only; conn.c calls it.
 */
#ifndef WEIR_CONN_TLS_H
#define WEIR_CONN_TLS_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

#include "conn.h"
#include "tls_io.h"

/* Starts the server handshake on accepted c with ssl (taken over, freed
 * with c). Returns 0, or -1 (out of memory: ssl freed, c untouched). */
int conn_tls_attach(conn_t *c, SSL *ssl);
/* Starts the client handshake on outgoing c, once TCP is up (the
 * protocol's on_connect), with ssl from tls_client_session() (taken over,
 * freed with c). What the protocol writes meanwhile goes out when the
 * handshake is done. Bounded by tls.handshake_timeout_ms from the
 * connection's start too. Returns 0 (c may be closing already: a failure
 * is reported as below), or -1 (out of memory: ssl freed, c untouched). */
int conn_tls_attach_client(conn_t *c, SSL *ssl);
/* After an outgoing handshake failed (from the protocol's on_close): its
 * text in err ("certificate verify failed: ...", "TLS handshake failed:
 * ...", "TLS handshake timed out") and 1 when the peer's certificate did
 * not verify, 0 otherwise; -1 when no handshake failed on c. */
int conn_tls_client_error(const conn_t *c, char *err, size_t errlen);
/* 1 while the handshake is not done. */
int conn_tls_handshaking(const conn_t *c);
/* The socket is readable (conn.c's read callback). */
void conn_tls_on_readable(conn_t *c);
/* The socket is writable: 1 when conn_flush() should run, 0 when the
 * event was the handshake's or a read's. */
int conn_tls_on_writable(conn_t *c);
/* Encrypts and sends from iov: the count of bytes taken (written, or held
 * in the record buffer), or -1 with errno EAGAIN (nothing taken: wait) or
 * EIO (the connection failed; the caller closes it). */
ssize_t conn_tls_writev(conn_t *c, const struct iovec *iov, int n);
/* The same from the connection's private output (drained by what was
 * taken). */
ssize_t conn_tls_write_out(conn_t *c);
/* Sends what the record buffer holds: 0 when empty, -1 with errno as above. */
int conn_tls_flush_retry(conn_t *c);
/* 1 when the last write wanted a read: the write event must not be armed. */
int conn_tls_write_waits_read(const conn_t *c);
/* Cuts a handshake older than tls.handshake_timeout_ms (the node's tick). */
void conn_tls_tick(conn_t *c, int64_t now_ms);
/* Moves c's TLS state (handshake done, a server connection) out of c for
 * a worker thread (worker_handover()): the SSL object and any blocked
 * record go with the returned tls_io_t (malloc'd, the caller's; c->tls is
 * NULL and c->tls_moved 1 after). NULL (nothing moved) when c is not such
 * a connection or out of memory. */
tls_io_t *conn_tls_detach(conn_t *c);
/* Puts io (from conn_tls_detach() on c, taken) back: the handover did not
 * happen. Out of memory: io is released and c closed. */
void conn_tls_reattach(conn_t *c, tls_io_t *io);
/* Releases the TLS state (the reaper), after a close_notify when the
 * session was up and the socket did not fail. */
void conn_tls_free(conn_t *c);

#endif
