/* tool_tls: the tools' TLS client (contract in tool_tls.h). */
#include "tool_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common.h"

static SSL_CTX *tls_ctx;
static int tls_insecure;
static const char *opt_ca; /* the options, until tool_tls_apply() */
static int opt_insecure;

static const char *ssl_err_text(void)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "connection closed";
}

int tool_tls_configure(const char *ca, int insecure, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "TLS: %s", ssl_err_text());
        return -1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    int ok = ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL) == 1
                : SSL_CTX_set_default_verify_paths(ctx) == 1;
    if (!ok) {
        snprintf(err, errlen, "--ca: cannot load %s: %s", ca ? ca : "the system CA store",
                 ssl_err_text());
        SSL_CTX_free(ctx);
        return -1;
    }
    SSL_CTX_free(tls_ctx);
    tls_ctx = ctx;
    tls_insecure = insecure;
    return 0;
}

int tool_tls_option(int opt, const char *arg)
{
    if (opt == TOOL_OPT_CA)
        opt_ca = arg;
    else if (opt == TOOL_OPT_INSECURE)
        opt_insecure = 1;
    return opt == TOOL_OPT_CA || opt == TOOL_OPT_INSECURE;
}

int tool_tls_apply(const char *tool)
{
    char err[512];
    if (!opt_ca && !opt_insecure)
        return 0; /* the defaults, set up at the first TLS connection */
    if (tool_tls_configure(opt_ca, opt_insecure, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", tool, err);
        return -1;
    }
    return 0;
}

static int is_ip(const char *host)
{
    unsigned char b[16];
    return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

/* A session for host on fd: SNI, the name or address to verify, ALPN. */
static SSL *session_new(int fd, const char *host, const char *alpn)
{
    SSL *ssl = SSL_new(tls_ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    int ip = is_ip(host), ok = 1;
    if (!ip)
        ok = SSL_set_tlsext_host_name(ssl, host) == 1;
    if (ok && !tls_insecure)
        ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1
                : SSL_set1_host(ssl, host) == 1;
    if (ok && alpn) {
        unsigned char wire[32];
        size_t n = strlen(alpn);
        ok = n > 0 && n < sizeof wire;
        if (ok) {
            wire[0] = (unsigned char)n;
            memcpy(wire + 1, alpn, n);
            ok = SSL_set_alpn_protos(ssl, wire, (unsigned)n + 1) == 0;
        }
    }
    if (!ok) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

SSL *tool_tls_new(int fd, const char *host, const char *alpn, char *err, size_t errlen)
{
    if (!tls_ctx && tool_tls_configure(NULL, 0, err, errlen) != 0)
        return NULL;
    SSL *ssl = session_new(fd, host, alpn);
    if (!ssl)
        snprintf(err, errlen, "TLS: cannot set up a session for %s: %s", host, ssl_err_text());
    return ssl;
}

int tool_tls_step(SSL *ssl, int *want_write, char *err, size_t errlen)
{
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return 1;
    int e = SSL_get_error(ssl, r);
    *want_write = e == SSL_ERROR_WANT_WRITE;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    if (SSL_get_verify_result(ssl) != X509_V_OK)
        snprintf(err, errlen, "TLS: certificate verify failed: %s",
                 X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
    else
        snprintf(err, errlen, "TLS handshake failed: %s", ssl_err_text());
    ERR_clear_error();
    return -1;
}

SSL *tool_tls_connect(int fd, const char *host, const char *alpn, int64_t deadline, char *err,
                      size_t errlen)
{
    SSL *ssl = tool_tls_new(fd, host, alpn, err, errlen);
    int want_write = 0, r;
    while (ssl && (r = tool_tls_step(ssl, &want_write, err, errlen)) != 1) {
        int64_t left = deadline - weir_mono_ms();
        struct pollfd p = {fd, want_write ? POLLOUT : POLLIN, 0};
        if (r == 0 && left > 0 && (poll(&p, 1, (int)left) > 0 || errno == EINTR))
            continue;
        if (r == 0)
            snprintf(err, errlen, "TLS handshake with %s timed out", host);
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

void tool_tls_close(SSL *ssl)
{
    if (!ssl)
        return;
    SSL_shutdown(ssl);
    ERR_clear_error();
    SSL_free(ssl);
}

int tool_tls_pending(const SSL *ssl)
{
    return ssl && SSL_pending(ssl) > 0;
}

/* -1 with errno for SSL_get_error() code e. */
static ssize_t io_error(int e)
{
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        errno = EAGAIN;
    else if (e != SSL_ERROR_SYSCALL || !errno)
        errno = e == SSL_ERROR_SYSCALL ? ECONNRESET : EIO;
    return -1;
}

ssize_t tool_io_send(int fd, SSL *ssl, const void *p, size_t n)
{
    if (!ssl)
        return send(fd, p, n, MSG_NOSIGNAL);
    size_t w = 0;
    int r = SSL_write_ex(ssl, p, n, &w);
    return r == 1 ? (ssize_t)w : io_error(SSL_get_error(ssl, r));
}

ssize_t tool_io_recv(int fd, SSL *ssl, void *p, size_t n)
{
    if (!ssl)
        return recv(fd, p, n, 0);
    size_t got = 0;
    int r = SSL_read_ex(ssl, p, n, &got);
    if (r == 1)
        return (ssize_t)got;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        return 0;
    }
    return io_error(e);
}
