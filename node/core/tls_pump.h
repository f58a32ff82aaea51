/* tls_pump: a TLS server session on an accepted socket, relayed to a
 * plaintext socket (the API over HTTPS, api/https.c: the other end of that
 * socket is libmicrohttpd's). It owns both sockets, the session and its
 * two buffers.
 *
 * The handshake is the media listeners' (tls.h): the node's certificates,
 * SNI choice, policy, ALPN "http/1.1" and reload (a new handshake uses the
 * certificates in use then), counted in the same /metrics counters
 * (tls_count_handshake(), tls_count_failure()) and in
 * node->tls_handshaking (tls.max_handshakes), cut at
 * tls.handshake_timeout_ms (LIMIT_TLS_HANDSHAKE_TIMEOUT).
 *
 * Then bytes go both ways. Bounds: one TLS_PUMP_BUF buffer each way, and a
 * side is read only when the buffer it fills is empty: a peer that does not
 * read stops the other side (backpressure through the socket buffers),
 * never a growing queue. At most TLS_PUMP_ROUNDS buffers each way per loop
 * event, then the pump yields to the loop. The client's end of the TLS
 * stream (close_notify or EOF) half-closes the plaintext socket once what
 * it sent is passed on, so an answer under way still goes out; the
 * plaintext side's end of file sends a close_notify and ends the pump; an
 * error on either side ends it at once.
 *
 * Loop thread only.
 */
#ifndef WEIR_TLS_PUMP_H
#define WEIR_TLS_PUMP_H

#include "node.h"

#define TLS_PUMP_BUF 16384 /* bytes buffered each way (one TLS record) */
#define TLS_PUMP_ROUNDS 16 /* buffers moved each way per loop event at most */

typedef struct tls_pump tls_pump_t;

/* The handshake is done: returns the plaintext socket to relay to (taken:
 * closed with the pump), or -1 to end the pump (end is called). */
typedef int (*tls_pump_ready_fn)(tls_pump_t *p, void *arg);
/* The pump ended (why: a static text, for the logs); it is freed right
 * after this returns: the owner drops its pointer. */
typedef void (*tls_pump_end_fn)(tls_pump_t *p, void *arg, const char *why);

/* Starts the server handshake on the accepted socket fd (taken) with a
 * session of node->tls (which must exist); what ("api") and remote
 * ("1.2.3.4:5678") name it in the logs. NULL when out of memory (fd
 * closed, nothing counted). */
tls_pump_t *tls_pump_new(node_t *node, int fd, const char *what, const char *remote,
                         tls_pump_ready_fn ready, tls_pump_end_fn end, void *arg);
/* Ends p at once without calling its end (the owner stops); never from
 * p's own callbacks. NULL is a no-op. */
void tls_pump_free(tls_pump_t *p);
/* 1 while the handshake is not done. */
int tls_pump_handshaking(const tls_pump_t *p);

#endif
