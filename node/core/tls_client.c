/* tls_client: client contexts and sessions (contract in tls_client.h). */
#include "tls_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "tls.h"

typedef struct {
    SSL_CTX *ctx;
    int verify;
    char ca[512]; /* "" : the system store */
} tls_client_ctx_t;

struct tls_client {
    char default_ca[512];
    tls_client_ctx_t ctx[TLS_CLIENT_CTX_MAX];
    size_t n; /* in use, oldest first */
};

tls_client_t *tls_client_new(const char *default_ca)
{
    tls_client_t *t = calloc(1, sizeof *t);
    if (t)
        snprintf(t->default_ca, sizeof t->default_ca, "%s", default_ca ? default_ca : "");
    return t;
}

void tls_client_flush(tls_client_t *t)
{
    for (size_t i = 0; t && i < t->n; i++)
        SSL_CTX_free(t->ctx[i].ctx);
    if (t)
        t->n = 0;
}

void tls_client_free(tls_client_t *t)
{
    tls_client_flush(t);
    free(t);
}

/* A new context with the policy, verifying against ca ("": the system
 * store) when verify is set. */
static SSL_CTX *ctx_new(int verify, const char *ca, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "tls: cannot set up a client context: %s", tls_error_text());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_security_level(ctx, 2);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    int ok = SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) == 1;
    if (ok && verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        ok = ca[0] ? SSL_CTX_load_verify_locations(ctx, ca, NULL) == 1
                   : SSL_CTX_set_default_verify_paths(ctx) == 1;
    } else if (ok) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (!ok) {
        snprintf(err, errlen, "tls_ca: cannot load %s: %s", ca[0] ? ca : "the system CA store",
                 tls_error_text());
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int tls_client_set_default_ca(tls_client_t *t, const char *ca, char *err, size_t errlen)
{
    if (strlen(ca) >= sizeof t->default_ca) {
        snprintf(err, errlen, "tls.ca: path longer than %zu bytes", sizeof t->default_ca - 1);
        return -1;
    }
    SSL_CTX *ctx = ctx_new(1, ca, err, errlen);
    if (!ctx) {
        if (strncmp(err, "tls_ca:", 7) == 0) /* ctx_new() names the relay's key */
            memcpy(err, "tls.ca:", 7);
        return -1;
    }
    SSL_CTX_free(ctx);
    tls_client_flush(t);
    snprintf(t->default_ca, sizeof t->default_ca, "%s", ca);
    return 0;
}

const char *tls_client_default_ca(const tls_client_t *t)
{
    return t->default_ca;
}

/* The cached context for (verify, ca), made when missing. */
static SSL_CTX *ctx_get(tls_client_t *t, int verify, const char *ca, char *err, size_t errlen)
{
    if (!verify)
        ca = "";
    for (size_t i = 0; i < t->n; i++)
        if (t->ctx[i].verify == verify && strcmp(t->ctx[i].ca, ca) == 0)
            return t->ctx[i].ctx;
    if (strlen(ca) >= sizeof t->ctx[0].ca) {
        snprintf(err, errlen, "tls_ca: path longer than %zu bytes", sizeof t->ctx[0].ca - 1);
        return NULL;
    }
    SSL_CTX *ctx = ctx_new(verify, ca, err, errlen);
    if (!ctx)
        return NULL;
    if (t->n == TLS_CLIENT_CTX_MAX) {
        SSL_CTX_free(t->ctx[0].ctx);
        memmove(&t->ctx[0], &t->ctx[1], (TLS_CLIENT_CTX_MAX - 1) * sizeof t->ctx[0]);
        t->n--;
    }
    tls_client_ctx_t *e = &t->ctx[t->n++];
    e->ctx = ctx;
    e->verify = verify;
    snprintf(e->ca, sizeof e->ca, "%s", ca);
    return ctx;
}

static int is_ip(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Sets the name or address the peer's certificate must carry, and SNI. */
static int session_peer(SSL *ssl, const char *host, int verify, const char *alpn)
{
    int ip = is_ip(host);
    if (!ip && SSL_set_tlsext_host_name(ssl, host) != 1)
        return -1;
    if (verify) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        if (ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1 : SSL_set1_host(ssl, host) != 1)
            return -1;
    }
    if (alpn) {
        unsigned char wire[32];
        size_t n = strlen(alpn);
        if (n == 0 || n >= sizeof wire)
            return -1;
        wire[0] = (unsigned char)n;
        memcpy(wire + 1, alpn, n);
        if (SSL_set_alpn_protos(ssl, wire, (unsigned)n + 1) != 0)
            return -1;
    }
    return 0;
}

SSL *tls_client_session(tls_client_t *t, const char *host, int verify, const char *ca,
                        const char *alpn, char *err, size_t errlen)
{
    SSL_CTX *ctx = ctx_get(t, verify != 0, ca && ca[0] ? ca : t->default_ca, err, errlen);
    if (!ctx)
        return NULL;
    SSL *ssl = SSL_new(ctx);
    if (!ssl || session_peer(ssl, host, verify, alpn) != 0) {
        snprintf(err, errlen, "tls: cannot set up a session for %s: %s", host, tls_error_text());
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

int tls_client_failure(const SSL *ssl, char *err, size_t errlen)
{
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE) {
        snprintf(err, errlen, "certificate verify failed: %s", X509_verify_cert_error_string(v));
        return 1;
    }
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(err, errlen, "TLS handshake failed: %s", r ? r : "connection closed");
    return 0;
}
