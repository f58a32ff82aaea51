/* tool_tls: TLS for the tools' clients (rtmps://, https://, wss://), with OpenSSL:
 * TLS 1.2 or later, the server verified against the system CA store (or
 * the file given with --ca) and the URL's host name or IP address, unless
 * --insecure. The tools' sockets are non-blocking: tool_io_send() and
 * tool_io_recv() behave like send() and recv() (-1 with errno EAGAIN when
 * they would block) whether the connection has TLS (ssl set) or not.
 *
 * Threads: tool_tls_configure() once, before any connection; sessions
 * belong to the thread that made them.
 */
#ifndef WEIR_TOOLS_TOOL_TLS_H
#define WEIR_TOOLS_TOOL_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

/* Sets how servers are verified: ca a PEM file (NULL: the system store),
 * insecure: not at all. Returns 0, or -1 with a message in err (a CA file
 * that does not load). Without a call, the defaults apply. */
int tool_tls_configure(const char *ca, int insecure, char *err, size_t errlen);

/* The tools' shared options, for their getopt_long() tables and --help. */
#define TOOL_OPT_CA 0x1001
#define TOOL_OPT_INSECURE 0x1002
#define TOOL_TLS_OPTIONS                                                                           \
    {"ca", required_argument, NULL, TOOL_OPT_CA},                                                  \
    {                                                                                              \
        "insecure", no_argument, NULL, TOOL_OPT_INSECURE                                           \
    }
#define TOOL_TLS_HELP                                                                              \
    "  --ca FILE       TLS URLs (rtmps://, https://, wss://): trust the CAs in FILE\n"            \
    "                  (PEM) instead of the system store\n"                                        \
    "  --insecure      TLS URLs: do not verify the server's certificate\n"
/* getopt_long()'s option opt with arg: 1 when it was one of
 * TOOL_TLS_OPTIONS (noted for tool_tls_apply()), else 0. */
int tool_tls_option(int opt, const char *arg);
/* Configures what the options said (tool_tls_configure()); on error
 * prints "<tool>: --ca: ..." to stderr and returns -1. */
int tool_tls_apply(const char *tool);

/* The TLS handshake on connected non-blocking socket fd with host (SNI
 * for a name; verified), offering alpn if not NULL, before deadline
 * (weir_mono_ms()). Returns the session or NULL with a message in err
 * ("certificate verify failed: ...", "TLS handshake timed out"). */
SSL *tool_tls_connect(int fd, const char *host, const char *alpn, int64_t deadline, char *err,
                      size_t errlen);
/* For event loops (weir-bench): a client session on fd for host (as
 * above), NULL with err; then tool_tls_step() on each readiness until it
 * returns 1 (done); 0: wait for readability, or writability when
 * *want_write is set; -1: failed (err). */
SSL *tool_tls_new(int fd, const char *host, const char *alpn, char *err, size_t errlen);
int tool_tls_step(SSL *ssl, int *want_write, char *err, size_t errlen);
/* Sends a close_notify (best effort) and frees; NULL is a no-op. */
void tool_tls_close(SSL *ssl);
/* 1 when ssl holds decrypted bytes not read yet (poll() would not see them). */
int tool_tls_pending(const SSL *ssl);

/* send() / recv() through ssl when not NULL. recv returns 0 when the peer
 * closed; errors are -1 with errno (EAGAIN, ECONNRESET, EIO). */
ssize_t tool_io_send(int fd, SSL *ssl, const void *p, size_t n);
ssize_t tool_io_recv(int fd, SSL *ssl, void *p, size_t n);

#endif
