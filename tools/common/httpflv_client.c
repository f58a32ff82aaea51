/* httpflv_client: see httpflv_client.h. */
#include "httpflv_client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "http_chunked.h"
#include "http_resp.h"
#include "tool_tls.h"

#define HTTPFLV_DEFAULT_PORT 80

/* ---- URL ---------------------------------------------------------------- */

int httpflv_url_parse(const char *url, httpflv_url_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    url_scheme_t s = url_scheme(url) == URL_SCHEME_HTTPS ? URL_SCHEME_HTTPS : URL_SCHEME_HTTP;
    if (url_parse(url, url_scheme_name(s), url_scheme_port(s), out, err, errlen) != 0)
        return NODE_EINVAL;
    return 0;
}

/* ---- client ------------------------------------------------------------- */

typedef enum { BODY_CLOSE, BODY_LENGTH, BODY_CHUNKED } body_mode_t;

struct httpflv_client {
    int fd;
    SSL *ssl; /* https://: the TLS session, else NULL */
    body_mode_t mode;
    uint64_t remaining; /* BODY_LENGTH: body bytes still expected */
    http_chunked_t chunked;
    int done;                       /* the body ended */
    uint8_t head[HTTPFLV_MAX_HEAD]; /* the response head, then leftover body bytes */
    size_t left_off, left_len;      /* leftover body bytes in head[] */
    char err[HTTPFLV_ERR_MAX];
};

static int remaining_ms(int64_t deadline)
{
    int64_t r = deadline - weir_mono_ms();
    return r < 0 ? 0 : (int)r;
}

/* Waits for events on fd until deadline. Returns 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, remaining_ms(deadline));
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
        if (remaining_ms(deadline) == 0)
            return 0;
    }
}

static int tcp_connect(const httpflv_url_t *u, int64_t deadline, char *err, size_t errlen)
{
    char port[8];
    snprintf(port, sizeof port, "%u", u->port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(u->host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", u->host, gai_strerror(gai));
        return -1;
    }
    int fd = -1, last_errno = 0, timed_out = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            last_errno = errno;
        } else {
            int w = wait_fd(fd, POLLOUT, deadline);
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            last_errno = w == 1 ? soerr : errno;
            timed_out = w == 0;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot connect to %s:%u: %s", u->host, u->port,
                 timed_out ? "timed out" : strerror(last_errno));
    return fd;
}

static int send_all(int fd, SSL *ssl, const char *buf, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = tool_io_send(fd, ssl, buf, len);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(fd, POLLOUT, deadline) != 1)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Reads the response head into c->head with the http_resp parser, before
 * deadline. Returns 0 with *status, the reason, the body framing set and
 * any body bytes that came with the head left in c->head (left_off,
 * left_len); else -1 with err (*status stays 0 when no valid head came). */
static int read_head(httpflv_client_t *c, int64_t deadline, int *status, char *reason,
                     size_t reason_len, char *err, size_t errlen)
{
    http_resp_parser_t *hp = http_resp_parser_new(HTTPFLV_MAX_HEAD);
    if (!hp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t have = 0;
    int rc = -1;
    for (;;) {
        if (have == sizeof c->head) {
            snprintf(err, errlen, "response head over %d bytes", HTTPFLV_MAX_HEAD);
            break;
        }
        int w = tool_tls_pending(c->ssl) ? 1 : wait_fd(c->fd, POLLIN, deadline);
        ssize_t r =
            w == 1 ? tool_io_recv(c->fd, c->ssl, c->head + have, sizeof c->head - have) : -1;
        if (r < 0 && w == 1 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "no response head: %s",
                     r == 0   ? "connection closed"
                     : w == 0 ? "timed out"
                              : strerror(errno));
            break;
        }
        size_t used = 0;
        const http_resp_t *resp = NULL;
        const char *perr = NULL;
        parse_rc_t prc = http_resp_feed(hp, c->head + have, (size_t)r, &used, &resp, &perr);
        if (prc == PARSE_NEED_MORE) {
            have += (size_t)r;
            continue;
        }
        if (prc == PARSE_ERR_TOO_BIG) {
            snprintf(err, errlen, "response head over %d bytes", HTTPFLV_MAX_HEAD);
            break;
        }
        if (prc != PARSE_OK) {
            snprintf(err, errlen, "malformed HTTP response head: %s", perr);
            break;
        }
        *status = resp->status;
        snprintf(reason, reason_len, "%s", resp->reason);
        c->mode = resp->body == HTTP_BODY_CHUNKED  ? BODY_CHUNKED
                  : resp->body == HTTP_BODY_LENGTH ? BODY_LENGTH
                                                   : BODY_CLOSE;
        c->remaining = resp->content_length > 0 ? (uint64_t)resp->content_length : 0;
        c->left_off = have + used;
        c->left_len = (size_t)r - used;
        rc = 0;
        break;
    }
    http_resp_parser_free(hp);
    return rc;
}

httpflv_client_t *httpflv_client_open(const char *url, int timeout_ms, int *status, char *err,
                                      size_t errlen)
{
    httpflv_url_t u;
    *status = 0;
    if (httpflv_url_parse(url, &u, err, errlen) != 0)
        return NULL;
    httpflv_client_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    http_chunked_init(&c->chunked);
    int64_t deadline = weir_mono_ms() + timeout_ms;
    c->fd = tcp_connect(&u, deadline, err, errlen);
    if (c->fd < 0) {
        free(c);
        return NULL;
    }
    char req[URL_PATH_MAX + URL_HOST_MAX + 256];
    char authority[URL_HOST_MAX + 16];
    url_authority(&u, authority, sizeof authority);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weir-pull/" WEIR_VERSION
                     "\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                     u.path, authority);
    if (url_scheme(url) == URL_SCHEME_HTTPS &&
        !(c->ssl = tool_tls_connect(c->fd, u.host, "http/1.1", deadline, err, errlen))) {
        httpflv_client_close(c);
        return NULL;
    }
    if (send_all(c->fd, c->ssl, req, (size_t)n, deadline) != 0) {
        snprintf(err, errlen, "sending the request: %s",
                 remaining_ms(deadline) ? strerror(errno) : "timed out");
        httpflv_client_close(c);
        return NULL;
    }
    char reason[128];
    if (read_head(c, deadline, status, reason, sizeof reason, err, errlen) != 0) {
        httpflv_client_close(c);
        return NULL;
    }
    if (*status != 200) {
        snprintf(err, errlen, "HTTP %d %s", *status, reason);
        httpflv_client_close(c);
        return NULL;
    }
    c->done = c->mode == BODY_LENGTH && c->remaining == 0;
    return c;
}

static httpflv_rc_t client_fail(httpflv_client_t *c, const char *msg)
{
    snprintf(c->err, sizeof c->err, "%s", msg);
    c->done = -1;
    return HTTPFLV_ERROR;
}

/* Raw body bytes: leftovers from the head read first, then the socket.
 * Returns bytes (> 0), 0 on EOF, -1 on error, -2 on timeout. */
static ssize_t read_raw(httpflv_client_t *c, uint8_t *buf, size_t cap, int64_t deadline)
{
    if (c->left_len > 0) {
        size_t k = c->left_len < cap ? c->left_len : cap;
        memcpy(buf, c->head + c->left_off, k);
        c->left_off += k;
        c->left_len -= k;
        return (ssize_t)k;
    }
    for (;;) {
        ssize_t r = tool_io_recv(c->fd, c->ssl, buf, cap);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        int w = wait_fd(c->fd, POLLIN, deadline);
        if (w == 0)
            return -2;
        if (w < 0)
            return -1;
    }
}

httpflv_rc_t httpflv_client_read(httpflv_client_t *c, uint8_t *buf, size_t cap, size_t *got,
                                 int timeout_ms)
{
    *got = 0;
    if (c->done < 0)
        return HTTPFLV_ERROR;
    if (c->done)
        return HTTPFLV_EOF;
    int64_t deadline = weir_mono_ms() + timeout_ms;
    for (;;) {
        size_t want = cap;
        if (c->mode == BODY_LENGTH && c->remaining < want)
            want = (size_t)c->remaining;
        ssize_t r = read_raw(c, buf, want, deadline);
        if (r == -2)
            return HTTPFLV_TIMEOUT;
        if (r < 0) {
            snprintf(c->err, sizeof c->err, "reading the body: %s", strerror(errno));
            c->done = -1;
            return HTTPFLV_ERROR;
        }
        if (r == 0) {
            if (c->mode != BODY_CLOSE)
                return client_fail(c, "connection closed inside the body");
            c->done = 1;
            return HTTPFLV_EOF;
        }
        if (c->mode == BODY_LENGTH) {
            c->remaining -= (uint64_t)r;
            c->done = c->remaining == 0;
            *got = (size_t)r;
            return HTTPFLV_DATA;
        }
        if (c->mode == BODY_CLOSE) {
            *got = (size_t)r;
            return HTTPFLV_DATA;
        }
        const char *err = NULL;
        int drc = http_chunked_decode(&c->chunked, buf, (size_t)r, got, &err);
        if (drc < 0)
            return client_fail(c, err);
        if (drc == 1)
            c->done = 1;
        if (*got > 0)
            return HTTPFLV_DATA;
        if (c->done)
            return HTTPFLV_EOF;
    }
}

const char *httpflv_client_framing(const httpflv_client_t *c)
{
    return c->mode == BODY_CHUNKED  ? "chunked"
           : c->mode == BODY_LENGTH ? "content-length"
                                    : "close";
}

const char *httpflv_client_error(const httpflv_client_t *c)
{
    return c->err;
}

void httpflv_client_close(httpflv_client_t *c)
{
    if (!c)
        return;
    tool_tls_close(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}
