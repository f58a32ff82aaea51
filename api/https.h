/* https: the API and dashboard over TLS (api.tls). The node terminates
 * TLS itself rather than with libmicrohttpd's GnuTLS: one TLS stack
 * (OpenSSL), so the API has the media listeners' certificates, SNI choice,
 * policy, reload, handshake limits and counters (tls.h, tls_pump.h).
 *
 * It owns the listening socket on api.listen and the connections in
 * flight. Each accepted connection is admitted against the API's own
 * table (api.max_connections_per_address, 256 in all: counted here for its
 * whole life, so MHD's accept policy does not count it again) and
 * tls.max_handshakes, runs its handshake, then libmicrohttpd gets one end
 * of a socketpair (MHD_add_connection(), with the client's address: its
 * accept policy and the connection's info see the real address) and the
 * pump relays bytes between the TLS session and the other end (bounded:
 * tls_pump.h; each socketpair end's send buffer is API_HTTPS_PAIR_BUF).
 * libmicrohttpd runs without a listening socket then
 * (MHD_USE_NO_LISTEN_SOCKET); its connection timeout closes its end, which
 * ends the pump.
 *
 * Loop thread only.
 */
#ifndef WEIR_API_HTTPS_H
#define WEIR_API_HTTPS_H

#include <stddef.h>

#include "api_internal.h"

#define API_HTTPS_PAIR_BUF 65536 /* SO_SNDBUF of each socketpair end */

/* Accepts TLS connections on the listening socket lfd (taken: closed on
 * failure too) for a's MHD. Returns 0, or -1 with a message in err. */
int api_https_start(api_t *a, int lfd, char *err, size_t errlen);
/* Closes the listener and every connection in flight. */
void api_https_stop(api_t *a);

#endif
