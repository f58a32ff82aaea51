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

#define HTTPFLV_DEFAULT_PORT 80
#define HTTPFLV_MAX_SIZE_DIGITS 15 /* chunk sizes below 2^60 */

/* ---- URL ---------------------------------------------------------------- */

int httpflv_url_parse(const char *url, httpflv_url_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (strncasecmp(url, "https://", 8) == 0) {
        snprintf(err, errlen, "https is not supported: %s", url);
        return NODE_EINVAL;
    }
    if (url_parse(url, "http", HTTPFLV_DEFAULT_PORT, out, err, errlen) != 0)
        return NODE_EINVAL;
    return 0;
}

/* ---- chunked decoding --------------------------------------------------- */

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_DONE };

void http_chunked_init(http_chunked_t *d)
{
    memset(d, 0, sizeof *d);
    d->state = CH_SIZE;
}

static int hex_value(uint8_t ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int chunked_fail(const char *msg, const char **err)
{
    *err = msg;
    return NODE_EPROTO;
}

/* End of a chunk-size line: data follows, or the trailer for size 0. */
static void size_line_done(http_chunked_t *d)
{
    d->state = d->remaining ? CH_DATA : CH_TRAILER;
    d->line_len = 0;
}

int http_chunked_decode(http_chunked_t *d, uint8_t *buf, size_t len, size_t *out_len,
                        const char **err)
{
    size_t in = 0, out = 0;
    while (in < len && d->state != CH_DONE) {
        uint8_t ch = buf[in];
        switch (d->state) {
        case CH_SIZE: {
            int v = hex_value(ch);
            in++;
            if (v >= 0) {
                if (++d->size_digits > HTTPFLV_MAX_SIZE_DIGITS)
                    return chunked_fail("chunk size too big", err);
                d->remaining = (d->remaining << 4) | (uint64_t)v;
            } else if (d->size_digits == 0) {
                return chunked_fail("bad chunk size line", err);
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                d->state = CH_EXT;
                d->line_len = (size_t)d->size_digits + 1;
            } else if (ch == '\r') {
                d->state = CH_SIZE_LF;
            } else if (ch == '\n') {
                size_line_done(d);
            } else {
                return chunked_fail("bad chunk size line", err);
            }
            break;
        }
        case CH_EXT:
            in++;
            if (++d->line_len > HTTPFLV_MAX_CHUNK_LINE)
                return chunked_fail("chunk size line too long", err);
            if (ch == '\r')
                d->state = CH_SIZE_LF;
            else if (ch == '\n')
                size_line_done(d);
            break;
        case CH_SIZE_LF:
            in++;
            if (ch != '\n')
                return chunked_fail("chunk size line not ended by CRLF", err);
            size_line_done(d);
            break;
        case CH_DATA: {
            size_t k = len - in;
            if (k > d->remaining)
                k = (size_t)d->remaining;
            memmove(buf + out, buf + in, k);
            out += k;
            in += k;
            d->remaining -= k;
            if (d->remaining == 0)
                d->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            in++;
            if (ch == '\r')
                d->state = CH_DATA_LF;
            else if (ch == '\n')
                d->state = CH_SIZE; /* bare LF tolerated */
            else
                return chunked_fail("chunk data not followed by CRLF", err);
            d->size_digits = 0;
            break;
        case CH_DATA_LF:
            in++;
            if (ch != '\n')
                return chunked_fail("chunk data not followed by CRLF", err);
            d->state = CH_SIZE;
            d->size_digits = 0;
            break;
        case CH_TRAILER:
            in++;
            if (++d->trailer_len > HTTPFLV_MAX_TRAILER)
                return chunked_fail("chunked trailer too long", err);
            if (ch == '\n') {
                if (d->line_len == 0)
                    d->state = CH_DONE;
                d->line_len = 0;
            } else if (ch != '\r') {
                d->line_len++;
            }
            break;
        }
    }
    *out_len = out;
    return d->state == CH_DONE ? 1 : 0;
}

/* ---- client ------------------------------------------------------------- */

typedef enum { BODY_CLOSE, BODY_LENGTH, BODY_CHUNKED } body_mode_t;

struct httpflv_client {
    int fd;
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

static int send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
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

/* Position just past the blank line ending the head, or 0 if not there. */
static size_t head_end(const uint8_t *b, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (b[i] == '\n' && b[i + 1] == '\n')
            return i + 2;
        if (i + 3 < len && b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n')
            return i + 4;
    }
    return 0;
}

/* Parses the status line and the framing headers of head[0..hlen). */
static int parse_head(httpflv_client_t *c, size_t hlen, int *status, char *reason,
                      size_t reason_len)
{
    char *h = (char *)c->head;
    h[hlen - 1] = 0; /* the final LF: the head is one string */
    char *line = h, *eol = strchr(line, '\n');
    if (eol)
        *eol = 0;
    size_t ll = strlen(line);
    if (ll && line[ll - 1] == '\r')
        line[--ll] = 0;
    if (strncmp(line, "HTTP/1.", 7) != 0 || ll < 12 || line[8] != ' ' ||
        hex_value((uint8_t)line[9]) < 0)
        return -1;
    char *end;
    long st = strtol(line + 9, &end, 10);
    if (end != line + 12 || st < 100 || st > 999)
        return -1;
    *status = (int)st;
    snprintf(reason, reason_len, "%s", *end == ' ' ? end + 1 : "");
    c->mode = BODY_CLOSE;
    for (line = eol ? eol + 1 : NULL; line && *line; line = eol ? eol + 1 : NULL) {
        eol = strchr(line, '\n');
        if (eol)
            *eol = 0;
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = 0;
        char *v = colon + 1;
        v += strspn(v, " \t");
        if (strcasecmp(line, "Transfer-Encoding") == 0 && strcasestr(v, "chunked")) {
            c->mode = BODY_CHUNKED;
        } else if (strcasecmp(line, "Content-Length") == 0 && c->mode != BODY_CHUNKED) {
            unsigned long long n = strtoull(v, &end, 10);
            if (end == v || (*end && *end != '\r' && *end != ' '))
                return -1;
            c->mode = BODY_LENGTH;
            c->remaining = n;
        }
    }
    return 0;
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
    if (send_all(c->fd, req, (size_t)n, deadline) != 0) {
        snprintf(err, errlen, "sending the request: %s",
                 remaining_ms(deadline) ? strerror(errno) : "timed out");
        httpflv_client_close(c);
        return NULL;
    }
    size_t have = 0, hlen = 0;
    while ((hlen = head_end(c->head, have)) == 0) {
        if (have == sizeof c->head) {
            snprintf(err, errlen, "response head over %d bytes", HTTPFLV_MAX_HEAD);
            httpflv_client_close(c);
            return NULL;
        }
        int w = wait_fd(c->fd, POLLIN, deadline);
        ssize_t r = w == 1 ? recv(c->fd, c->head + have, sizeof c->head - have, 0) : -1;
        if (r > 0) {
            have += (size_t)r;
            continue;
        }
        if (r < 0 && w == 1 && (errno == EINTR || errno == EAGAIN))
            continue;
        snprintf(err, errlen, "no response head: %s",
                 r == 0   ? "connection closed"
                 : w == 0 ? "timed out"
                          : strerror(errno));
        httpflv_client_close(c);
        return NULL;
    }
    char reason[128];
    if (parse_head(c, hlen, status, reason, sizeof reason) != 0) {
        snprintf(err, errlen, "malformed HTTP response head");
        *status = 0;
        httpflv_client_close(c);
        return NULL;
    }
    if (*status != 200) {
        snprintf(err, errlen, "HTTP %d %s", *status, reason);
        httpflv_client_close(c);
        return NULL;
    }
    c->left_off = hlen;
    c->left_len = have - hlen;
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
        ssize_t r = recv(c->fd, buf, cap, 0);
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
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}
