/* tls: the node's TLS server side. It owns the certificates (tls.cert and
 * tls.key, and tls.sni's, chosen by the client's server name with
 * tls_sni_pick()), the policy every TLS listener shares, the server
 * sessions of accepted connections, certificate reload and the handshake
 * counters (/metrics).
 *
 * Policy: TLS 1.2 and 1.3 only; OpenSSL security level 2 (keys of 2048
 * bits RSA or 224 bits EC at least, no SHA-1 signatures); for TLS 1.2 only
 * forward-secret AEAD suites (ECDHE/DHE with AES-GCM or ChaCha20-Poly1305),
 * TLS 1.3's suites as OpenSSL has them; no renegotiation, no compression;
 * ALPN "http/1.1" on the HTTPS listener (nothing else is selected there,
 * nothing at all on RTMPS).
 *
 * Reload builds a whole new set of certificates and swaps it in only when
 * every one loaded: new handshakes use it, established sessions keep the
 * context they hold a reference to; on any error the running set stays.
 *
 * Everything here runs on the loop thread only.
 */
#ifndef WEIR_TLS_H
#define WEIR_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "conf.h"

typedef struct tls_server tls_server_t;

/* TLS 1.2: forward secrecy and AEAD only (Mozilla's "intermediate" list);
 * the client side (tls_client.h) offers the same. */
#define TLS_CIPHERS_12 "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"

/* Why a handshake failed, in /metrics order (tls_fail_name()). */
typedef enum {
    TLS_FAIL_NOT_TLS = 0, /* the peer spoke something else (plaintext HTTP, RTMP) */
    TLS_FAIL_VERSION,     /* a protocol version below TLS 1.2 */
    TLS_FAIL_CIPHER,      /* no cipher suite in common */
    TLS_FAIL_PEER_ALERT,  /* the peer refused us (e.g. it does not trust the certificate) */
    TLS_FAIL_EOF,         /* the peer closed or reset during the handshake */
    TLS_FAIL_TIMEOUT,     /* not done within tls.handshake_timeout_ms */
    TLS_FAIL_OTHER,
    TLS_FAIL_KINDS
} tls_fail_t;

typedef struct {
    uint64_t handshakes; /* completed */
    uint64_t failures[TLS_FAIL_KINDS];
    uint64_t reloads, reload_failures;
    /* tls.ktls: completed handshakes whose sending OpenSSL handed to the
     * kernel (ktls_send), and those left in user space (ktls_fallback: no
     * tls kernel module, or a cipher the kernel lacks) */
    uint64_t ktls_send, ktls_fallback;
} tls_stats_t;

/* One loaded certificate, for the API and the logs. */
typedef struct {
    char host[256];    /* "" for the default certificate, else tls.sni's host */
    char serial[96];   /* hexadecimal */
    char subject[256]; /* one line */
    int64_t not_after; /* Unix seconds */
} tls_cert_info_t;

#define TLS_CERTS_MAX (1 + CONF_TLS_SNI_MAX)

/* Loads conf's certificates. Returns NULL with a message in err naming the
 * key ("tls.cert: cannot load /etc/weir/cert.pem: no start line",
 * "tls.sni[1].key: does not match tls.sni[1].cert", "tls.cert: ...: the
 * certificate expired on ..."). */
tls_server_t *tls_server_new(const conf_t *conf, char *err, size_t errlen);
/* Loads conf's certificates again (the files may have been replaced).
 * Returns 0 (the new set is in use), or -1 with a message as above: the
 * running set stays. Counted in the stats. */
int tls_server_reload(tls_server_t *t, const conf_t *conf, char *err, size_t errlen);
void tls_server_free(tls_server_t *t);
/* A server session for an accepted connection (http: on the HTTPS
 * listener, for ALPN), owned by the caller (SSL_free()); NULL when out of
 * memory. */
SSL *tls_server_session(tls_server_t *t, int http);
/* The certificates in use: the default first, then tls.sni's in order.
 * Returns how many were written (at most max). */
size_t tls_server_certs(const tls_server_t *t, tls_cert_info_t *out, size_t max);

const tls_stats_t *tls_server_stats(const tls_server_t *t);
/* Counts a completed handshake of ssl, and with tls.ktls whether the
 * kernel took its sending (the first session left in user space is
 * logged). */
void tls_count_handshake(tls_server_t *t, SSL *ssl);
void tls_count_failure(tls_server_t *t, tls_fail_t why);
/* The failure of a handshake from SSL_get_error()'s code and the first
 * error on OpenSSL's queue (0: none). */
tls_fail_t tls_fail_classify(int ssl_error, unsigned long err);
/* The detail of a failed handshake for the logs, from SSL_get_error()'s
 * code and the first error on OpenSSL's queue (0: none): OpenSSL's reason,
 * else the socket's error (errno), else "connection closed". */
const char *tls_fail_detail(int ssl_error, unsigned long err);
/* The text of OpenSSL's oldest queued error ("unknown error" when none);
 * the queue is cleared. Server and client sides (tls_client.h). */
const char *tls_error_text(void);
/* "not_tls", "version", "cipher", "peer_alert", "eof", "timeout", "other". */
const char *tls_fail_name(tls_fail_t why);

#endif
