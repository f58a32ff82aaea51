#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "log.h"
#include "tls_sni.h"

/* One complete set of certificates, as loaded from one configuration. */
typedef struct {
    SSL_CTX *dflt;
    SSL_CTX *sni[CONF_TLS_SNI_MAX];
    const char *patterns[CONF_TLS_SNI_MAX]; /* into info[1 + i].host */
    size_t n;
    tls_cert_info_t info[TLS_CERTS_MAX];
} tls_certset_t;

struct tls_server {
    tls_certset_t *cur;
    tls_stats_t stats;
    int ktls; /* tls.ktls, read at start (a restart applies a change) */
};

/* The marker of sessions on the HTTPS listener (SSL app data). */
static const char HTTP_MARK = 'h';

static void certset_free(tls_certset_t *s)
{
    if (!s)
        return;
    SSL_CTX_free(s->dflt);
    for (size_t i = 0; i < s->n; i++)
        SSL_CTX_free(s->sni[i]);
    free(s);
}

const char *tls_error_text(void)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "unknown error";
}

static void cert_info(SSL_CTX *ctx, const char *host, tls_cert_info_t *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->host, sizeof out->host, "%s", host);
    X509 *x = SSL_CTX_get0_certificate(ctx);
    if (!x)
        return;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    snprintf(out->serial, sizeof out->serial, "%s", hex ? hex : "");
    OPENSSL_free(hex);
    BN_free(bn);
    X509_NAME_oneline(X509_get_subject_name(x), out->subject, sizeof out->subject);
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
        out->not_after = (int64_t)timegm(&tm);
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)arg;
    static const unsigned char http11[] = "\x08http/1.1";
    if (SSL_get_app_data(ssl) != &HTTP_MARK)
        return SSL_TLSEXT_ERR_NOACK;
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, http11, sizeof http11 - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* The client's server name picks a tls.sni certificate (the running set's:
 * a handshake after a reload gets the new one). */
static int servername_cb(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    tls_server_t *t = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name || !t->cur->n)
        return SSL_TLSEXT_ERR_OK;
    int i = tls_sni_pick(t->cur->patterns, t->cur->n, name, strlen(name));
    if (i >= 0)
        SSL_set_SSL_CTX(ssl, t->cur->sni[i]);
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *ctx_policy(tls_server_t *t)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_security_level(ctx, 2);
    /* A peer that closes without close_notify is an end of file (EOF
     * carries no meaning in a live stream: there is no length to truncate). */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Kernel TLS: after the handshake OpenSSL hands the record layer to
     * the kernel when the socket and the cipher allow it (the socket BIO of
     * SSL_set_fd), and stays in user space otherwise. */
    if (t->ktls)
        SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
    /* conn_tls.c writes at most one record a call, from its record buffer
     * (the retry comes from the same buffer). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    SSL_CTX_set_dh_auto(ctx, 1);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"weir", 4);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, t);
    if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* A context with the policy and the certificate chain at cert (key at key);
 * ck and kk name the keys in errors ("tls.cert", "tls.sni[0].cert"). */
static SSL_CTX *ctx_load(tls_server_t *t, const char *ck, const char *cert, const char *kk,
                         const char *key, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = ctx_policy(t);
    if (!ctx) {
        snprintf(err, errlen, "%s: cannot set up TLS: %s", ck, tls_error_text());
        return NULL;
    }
    const char *what = NULL, *path = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        what = ck, path = cert;
    else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        what = kk, path = key;
    if (what) {
        snprintf(err, errlen, "%s: cannot load %s: %s", what, path, tls_error_text());
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "%s: %s does not match %s (%s)", kk, key, ck, cert);
        SSL_CTX_free(ctx);
        return NULL;
    }
    const ASN1_TIME *na = X509_get0_notAfter(SSL_CTX_get0_certificate(ctx));
    if (X509_cmp_current_time(na) <= 0) {
        snprintf(err, errlen, "%s: %s: the certificate has expired", ck, cert);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static tls_certset_t *certset_load(tls_server_t *t, const conf_t *conf, char *err, size_t errlen)
{
    tls_certset_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "tls: out of memory");
        return NULL;
    }
    s->dflt = ctx_load(t, "tls.cert", conf->tls_cert, "tls.key", conf->tls_key, err, errlen);
    if (!s->dflt) {
        free(s);
        return NULL;
    }
    cert_info(s->dflt, "", &s->info[0]);
    for (unsigned i = 0; i < conf->tls_sni_n; i++) {
        const conf_tls_sni_t *e = &conf->tls_sni[i];
        char ck[32], kk[32];
        snprintf(ck, sizeof ck, "tls.sni[%u].cert", i);
        snprintf(kk, sizeof kk, "tls.sni[%u].key", i);
        s->sni[i] = ctx_load(t, ck, e->cert, kk, e->key, err, errlen);
        if (!s->sni[i]) {
            certset_free(s);
            return NULL;
        }
        s->n = i + 1;
        cert_info(s->sni[i], e->host, &s->info[1 + i]);
        s->patterns[i] = s->info[1 + i].host;
    }
    return s;
}

tls_server_t *tls_server_new(const conf_t *conf, char *err, size_t errlen)
{
    tls_server_t *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "tls: out of memory");
        return NULL;
    }
    t->ktls = conf->tls_ktls;
    t->cur = certset_load(t, conf, err, errlen);
    if (!t->cur) {
        free(t);
        return NULL;
    }
    return t;
}

int tls_server_reload(tls_server_t *t, const conf_t *conf, char *err, size_t errlen)
{
    tls_certset_t *s = certset_load(t, conf, err, errlen);
    if (!s) {
        t->stats.reload_failures++;
        return -1;
    }
    certset_free(t->cur); /* sessions keep their own references */
    t->cur = s;
    t->stats.reloads++;
    return 0;
}

void tls_server_free(tls_server_t *t)
{
    if (!t)
        return;
    certset_free(t->cur);
    free(t);
}

SSL *tls_server_session(tls_server_t *t, int http)
{
    SSL *ssl = SSL_new(t->cur->dflt);
    if (ssl && http)
        SSL_set_app_data(ssl, (void *)&HTTP_MARK);
    return ssl;
}

size_t tls_server_certs(const tls_server_t *t, tls_cert_info_t *out, size_t max)
{
    size_t n = 1 + t->cur->n;
    if (n > max)
        n = max;
    memcpy(out, t->cur->info, n * sizeof *out);
    return n;
}

const tls_stats_t *tls_server_stats(const tls_server_t *t)
{
    return &t->stats;
}

void tls_count_handshake(tls_server_t *t, SSL *ssl)
{
    t->stats.handshakes++;
    if (!t->ktls)
        return;
    if (BIO_get_ktls_send(SSL_get_wbio(ssl))) {
        t->stats.ktls_send++;
        return;
    }
    if (t->stats.ktls_fallback++ == 0)
        log_warn(0, "tls: tls.ktls is on but the kernel did not take a session's sending (no tls "
                    "kernel module, or the cipher %s): OpenSSL encrypts in user space "
                    "(weir_tls_ktls_total{offload=\"none\"})",
                 SSL_get_cipher_name(ssl));
}

void tls_count_failure(tls_server_t *t, tls_fail_t why)
{
    t->stats.failures[why < TLS_FAIL_KINDS ? why : TLS_FAIL_OTHER]++;
}

tls_fail_t tls_fail_classify(int ssl_error, unsigned long err)
{
    if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN)
        return TLS_FAIL_EOF;
    if (ERR_GET_LIB(err) != ERR_LIB_SSL)
        return TLS_FAIL_OTHER;
    switch (ERR_GET_REASON(err)) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_UNEXPECTED_MESSAGE:
    case SSL_R_UNEXPECTED_RECORD: return TLS_FAIL_NOT_TLS;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION: return TLS_FAIL_VERSION;
    case SSL_R_NO_SHARED_CIPHER: return TLS_FAIL_CIPHER;
    default: break;
    }
    /* Alerts the peer sent: reasons SSL_AD_REASON_OFFSET + the alert. */
    if (ERR_GET_REASON(err) >= SSL_AD_REASON_OFFSET)
        return TLS_FAIL_PEER_ALERT;
    return TLS_FAIL_OTHER;
}

const char *tls_fail_detail(int ssl_error, unsigned long err)
{
    const char *r = err ? ERR_reason_error_string(err) : NULL;
    if (r)
        return r;
    return ssl_error == SSL_ERROR_SYSCALL && errno ? strerror(errno) : "connection closed";
}

const char *tls_fail_name(tls_fail_t why)
{
    static const char *const NAMES[TLS_FAIL_KINDS] = {
        "not_tls", "version", "cipher", "peer_alert", "eof", "timeout", "other",
    };
    return (unsigned)why < TLS_FAIL_KINDS ? NAMES[why] : "other";
}
