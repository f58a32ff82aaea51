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
#include "wsc.h"

#define HTTPFLV_DEFAULT_PORT 80

/* ---- URL ---------------------------------------------------------------- */

int httpflv_url_parse(const char *url, httpflv_url_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    url_scheme_t s = url_scheme(url);
    if (s != URL_SCHEME_HTTPS && s != URL_SCHEME_WS && s != URL_SCHEME_WSS)
        s = URL_SCHEME_HTTP; /* url_parse() names the scheme expected */
    if (url_parse(url, url_scheme_name(s), url_scheme_port(s), out, err, errlen) != 0)
        return NODE_EINVAL;
    return 0;
}

/* ---- client ------------------------------------------------------------- */

typedef enum { BODY_CLOSE, BODY_LENGTH, BODY_CHUNKED, BODY_WS } body_mode_t;

struct httpflv_client {
    int fd;
    SSL *ssl; /* https://, wss://: the TLS session, else NULL */
    body_mode_t mode;
    int ws;                        /* ws://, wss://: the body is WebSocket frames */
    char ws_key[WSC_KEY_LEN + 1];  /* the Sec-WebSocket-Key sent */
    wsc_parser_t wsp;              /* BODY_WS: the server's frames */
    int ws_close_sent;             /* our close frame went out */
    uint16_t ws_close_code;        /* the server's close code (0: none or not yet) */
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

/* A complete response head: *status, the reason and the body framing;
 * for ws:// the upgrade checked (wsc_response_check()). Returns 0, or -1
 * with err for a 101 that breaks the WebSocket handshake (*status stays
 * 0: a protocol error, not a refusal). */
static int take_head(httpflv_client_t *c, const http_resp_t *resp, int *status, char *reason,
                     size_t reason_len, char *err, size_t errlen)
{
    const char *werr = NULL;
    if (c->ws && wsc_response_check(resp, c->ws_key, &werr) == NODE_EPROTO) {
        snprintf(err, errlen, "WebSocket handshake: %s", werr);
        return -1;
    }
    *status = resp->status;
    snprintf(reason, reason_len, "%s", resp->reason);
    c->mode = c->ws && resp->status == 101        ? BODY_WS
              : resp->body == HTTP_BODY_CHUNKED ? BODY_CHUNKED
              : resp->body == HTTP_BODY_LENGTH  ? BODY_LENGTH
                                                : BODY_CLOSE;
    c->remaining = resp->content_length > 0 ? (uint64_t)resp->content_length : 0;
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
        rc = take_head(c, resp, status, reason, reason_len, err, errlen);
        c->left_off = have + used;
        c->left_len = (size_t)r - used;
        break;
    }
    http_resp_parser_free(hp);
    return rc;
}

/* The GET request of url into req: a WebSocket upgrade for ws:// and
 * wss:// (a new key kept in c). Returns its length, or -1 (no key). */
static int build_request(httpflv_client_t *c, const char *url, const httpflv_url_t *u, char *req,
                         size_t cap)
{
    char authority[URL_HOST_MAX + 16];
    url_authority(u, authority, sizeof authority);
    url_scheme_t s = url_scheme(url);
    c->ws = s == URL_SCHEME_WS || s == URL_SCHEME_WSS;
    if (!c->ws)
        return snprintf(req, cap,
                        "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weir-pull/" WEIR_VERSION
                        "\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                        u->path, authority);
    wsc_parser_init(&c->wsp, HTTPFLV_WS_MAX_MESSAGE);
    if (wsc_key_new(c->ws_key) != 0)
        return -1;
    return wsc_request(req, cap, u->path, authority, c->ws_key, "weir-pull/" WEIR_VERSION);
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
    int n = build_request(c, url, &u, req, sizeof req);
    if (n < 0) {
        snprintf(err, errlen, "cannot build the request (WebSocket key)");
        httpflv_client_close(c);
        return NULL;
    }
    if (url_scheme_tls(url_scheme(url)) &&
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
    if (*status != (c->ws ? 101 : 200)) {
        snprintf(err, errlen, "HTTP %d %s%s", *status, reason,
                 c->ws && *status < 300 ? " (not a WebSocket upgrade)" : "");
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

/* ---- WebSocket-FLV (BODY_WS) -------------------------------------------- */

/* Sends a masked control frame; 0, or -1 (errno set). */
static int ws_send_control(httpflv_client_t *c, uint8_t opcode, const uint8_t *payload,
                           size_t len, int64_t deadline)
{
    uint8_t frame[WSC_CONTROL_FRAME_MAX];
    size_t n = wsc_frame_control(frame, opcode, payload, len);
    if (opcode == WS_OP_CLOSE)
        c->ws_close_sent = 1;
    if (n == 0) {
        errno = ENOMEM;
        return -1;
    }
    return send_all(c->fd, c->ssl, (const char *)frame, n, deadline);
}

/* A close frame with code (0: none). */
static int ws_send_close(httpflv_client_t *c, uint16_t code, int64_t deadline)
{
    uint8_t pl[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    return ws_send_control(c, WS_OP_CLOSE, pl, code ? 2 : 0, deadline);
}

/* A ping is answered with a pong (same payload); the server's close is
 * echoed (its code) and ends the body. 0, or -1 with c->err. */
static int ws_control(httpflv_client_t *c, const wsc_event_t *ev, int64_t deadline)
{
    if (ev->opcode == WS_OP_PING && ws_send_control(c, WS_OP_PONG, ev->data, ev->len, deadline)) {
        snprintf(c->err, sizeof c->err, "WebSocket: sending a pong: %s", strerror(errno));
        return -1;
    }
    if (ev->opcode == WS_OP_CLOSE) {
        c->ws_close_code = ev->close_code;
        c->done = 1;
        if (!c->ws_close_sent)
            ws_send_close(c, ev->close_code, deadline); /* best effort: the server closes */
    }
    return 0;
}

/* The frames in buf[0..n): binary payloads moved to the front of buf
 * (*got bytes: they never overtake the bytes still to parse), control
 * frames handled. 0, or -1 with c->err (a protocol error is answered with
 * a close frame of its code). */
static int ws_decode(httpflv_client_t *c, uint8_t *buf, size_t n, size_t *got, int64_t deadline)
{
    size_t in = 0, out = 0;
    while (in < n && !c->done) {
        size_t used = 0;
        wsc_event_t ev;
        const char *err = NULL;
        parse_rc_t rc = wsc_parser_feed(&c->wsp, buf + in, n - in, &used, &ev, &err);
        if (rc < 0) {
            snprintf(c->err, sizeof c->err, "WebSocket: %s", err);
            ws_send_close(c, wsc_parser_close_code(&c->wsp), deadline);
            return -1;
        }
        in += used;
        if (rc == PARSE_NEED_MORE)
            break;
        if (ev.kind == WSC_EV_CONTROL && ws_control(c, &ev, deadline) != 0)
            return -1;
        if (ev.kind == WSC_EV_DATA && ev.opcode != WS_OP_BINARY) {
            snprintf(c->err, sizeof c->err, "WebSocket: a text message (FLV comes in binary ones)");
            ws_send_close(c, WS_CLOSE_PROTOCOL, deadline);
            return -1;
        }
        if (ev.kind == WSC_EV_DATA) {
            memmove(buf + out, ev.data, ev.len);
            out += ev.len;
        }
    }
    *got = out;
    return 0;
}

/* At close: our close frame (1000), then the server's echo awaited for at
 * most HTTPFLV_WS_CLOSE_WAIT_MS (media still in flight is discarded). */
static void ws_close_handshake(httpflv_client_t *c)
{
    int64_t deadline = weir_mono_ms() + HTTPFLV_WS_CLOSE_WAIT_MS;
    if (ws_send_close(c, WS_CLOSE_NORMAL, deadline) != 0)
        return;
    uint8_t buf[4096];
    for (;;) {
        ssize_t r = read_raw(c, buf, sizeof buf, deadline);
        if (r <= 0)
            return;
        for (size_t in = 0; in < (size_t)r;) {
            size_t used = 0;
            wsc_event_t ev;
            const char *err = NULL;
            parse_rc_t rc = wsc_parser_feed(&c->wsp, buf + in, (size_t)r - in, &used, &ev, &err);
            if (rc < 0 || (rc == PARSE_OK && ev.kind == WSC_EV_CONTROL &&
                           ev.opcode == WS_OP_CLOSE))
                return;
            in += used;
            if (rc == PARSE_NEED_MORE)
                break;
        }
    }
}

/* ---- the body ----------------------------------------------------------- */

/* Decodes r raw body bytes in buf by the framing (in place). */
static httpflv_rc_t decode_body(httpflv_client_t *c, uint8_t *buf, size_t r, size_t *got,
                                int64_t deadline)
{
    if (c->mode == BODY_LENGTH) {
        c->remaining -= (uint64_t)r;
        c->done = c->remaining == 0;
        *got = r;
        return HTTPFLV_DATA;
    }
    if (c->mode == BODY_CLOSE) {
        *got = r;
        return HTTPFLV_DATA;
    }
    const char *err = NULL;
    if (c->mode == BODY_WS && ws_decode(c, buf, r, got, deadline) != 0) {
        c->done = -1;
        return HTTPFLV_ERROR;
    }
    if (c->mode == BODY_CHUNKED) {
        int drc = http_chunked_decode(&c->chunked, buf, r, got, &err);
        if (drc < 0)
            return client_fail(c, err);
        if (drc == 1)
            c->done = 1;
    }
    if (*got > 0)
        return HTTPFLV_DATA;
    return c->done ? HTTPFLV_EOF : HTTPFLV_TIMEOUT; /* TIMEOUT: nothing yet, read on */
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
            if (c->mode == BODY_WS)
                return client_fail(c, "WebSocket: connection closed without a close frame");
            if (c->mode != BODY_CLOSE)
                return client_fail(c, "connection closed inside the body");
            c->done = 1;
            return HTTPFLV_EOF;
        }
        httpflv_rc_t rc = decode_body(c, buf, (size_t)r, got, deadline);
        if (rc != HTTPFLV_TIMEOUT)
            return rc;
    }
}

const char *httpflv_client_framing(const httpflv_client_t *c)
{
    return c->mode == BODY_WS        ? "websocket"
           : c->mode == BODY_CHUNKED ? "chunked"
           : c->mode == BODY_LENGTH  ? "content-length"
                                     : "close";
}

uint16_t httpflv_client_ws_close_code(const httpflv_client_t *c)
{
    return c->ws_close_code;
}

const char *httpflv_client_error(const httpflv_client_t *c)
{
    return c->err;
}

void httpflv_client_close(httpflv_client_t *c)
{
    if (!c)
        return;
    if (c->mode == BODY_WS && !c->ws_close_sent && c->done >= 0)
        ws_close_handshake(c);
    tool_tls_close(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}
