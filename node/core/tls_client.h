/* tls_client: the node's TLS client side (relay links to rtmps:// and
 * https:// upstreams, webhooks to https://). It owns the client contexts:
 * one per (verification, CA file) pair in use, cached (at most
 * TLS_CLIENT_CTX_MAX; the oldest goes when full: sessions keep their own
 * reference) and dropped by tls_client_flush() (certificate reload, so a
 * replaced CA file is read again).
 *
 * Policy: TLS 1.2 and 1.3 only, OpenSSL security level 2, the server's
 * TLS 1.2 suites (tls.h). Verification (the default): the peer's chain
 * against the CA file given (a relay's tls_ca, else the node's tls.ca), or
 * the system store (SSL_CTX_set_default_verify_paths()) when there is none,
 * and the host name (or IP address) of the URL against the certificate
 * (SSL_set1_host(), X509_VERIFY_PARAM_set1_ip_asc()). The server name is
 * sent (SNI) when the host is a name.
 *
 * Everything here runs on the loop thread only (webhook delivery included).
 */
#ifndef WEIR_TLS_CLIENT_H
#define WEIR_TLS_CLIENT_H

#include <stddef.h>

#include <openssl/ssl.h>

#define TLS_CLIENT_CTX_MAX 8

typedef struct tls_client tls_client_t;

/* A client side; default_ca: the node's tls.ca ("" or NULL: the system
 * store). NULL when out of memory. */
tls_client_t *tls_client_new(const char *default_ca);
void tls_client_free(tls_client_t *t);
/* Drops the cached contexts (new sessions read the CA files again). */
void tls_client_flush(tls_client_t *t);
/* Makes ca ("" : the system store) the default CA file of the sessions to
 * come (a changed tls.ca at SIGHUP), after checking that it loads; the
 * cached contexts are dropped. Returns 0, or -1 with a message in err
 * ("tls.ca: cannot load /x.pem: no start line"): the default in use stays.
 * Sessions up keep their context. */
int tls_client_set_default_ca(tls_client_t *t, const char *ca, char *err, size_t errlen);
/* The default CA file in use ("": the system store). */
const char *tls_client_default_ca(const tls_client_t *t);

/* A client session to host (a name or an IP literal, without brackets),
 * owned by the caller (SSL_free()); verify 0: the peer is not checked
 * (tls_verify: false); ca: a CA file in PEM (NULL or "": the default
 * above); alpn: a protocol to offer ("http/1.1") or NULL. NULL with a
 * message in err ("tls_ca: cannot load /x.pem: no start line"). */
SSL *tls_client_session(tls_client_t *t, const char *host, int verify, const char *ca,
                        const char *alpn, char *err, size_t errlen);

/* Why a client handshake failed: 1 when the peer's certificate did not
 * verify (the text in err: "certificate verify failed: self-signed
 * certificate in certificate chain", "... hostname mismatch"), else 0 with
 * OpenSSL's reason (or "connection closed") in err. Call before SSL_free(). */
int tls_client_failure(const SSL *ssl, char *err, size_t errlen);

#endif
