/* rtmp_client: a small blocking RTMP client (see rtmp_client.h).
 *
 * The socket is non-blocking; every wait is a poll() bounded by a deadline
 * on the monotonic clock. Input goes through a fixed buffer into the chunk
 * parser; protocol control is answered as it arrives (next_msg), commands
 * are decoded into a reply (dispatch), and media lands in a bounded queue
 * that rtmp_client_read() empties.
 */
#include "rtmp_client.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "amf0.h"
#include "common.h"
#include "flv.h"
#include "rtmp_handshake.h"
#include "url.h"

#define CSID_PROTO 2
#define CSID_CMD 3
#define RBUF_SIZE 65536
#define MAX_CMD_VALUES 16
#define MAX_CHUNK_STREAMS 16
#define CLOSE_DRAIN_MAX_MS 2000
#define PLAY_BUFFER_MS 3000
#define TXN_CONNECT 1
#define TXN_CREATE_STREAM 2
#define FLASH_VER "FMLE/3.0 (compatible; weir/" WEIR_VERSION ")"

typedef enum { ROLE_NONE, ROLE_PUBLISH, ROLE_PLAY } role_t;

struct rtmp_client {
    int fd;
    int timeout_ms;
    rtmp_client_url_t url;
    rtmp_chunk_parser_t *parser;
    uint32_t out_chunk_size;
    uint32_t stream_id;
    double txn; /* last transaction id used */
    role_t role;
    rtmp_client_rc_t dead; /* RTMP_CLIENT_EOF / _ERROR once the session is over, else 0 */
    int dead_code;         /* the NODE_E* that goes with it */

    /* Acknowledgements: the server's window and what we acknowledged. */
    uint32_t window;
    uint64_t bytes_in;
    uint64_t acked;

    uint8_t rbuf[RBUF_SIZE];
    size_t rpos, rlen;

    /* Encoded output, reused; grows to the largest message sent. */
    uint8_t *wbuf;
    size_t wcap;

    /* Media received but not yet returned by rtmp_client_read(). */
    rtmp_msg_t pending[RTMP_CLIENT_MAX_PENDING];
    unsigned phead, pcount;
    size_t pbytes;

    char status[RTMP_CLIENT_STATUS_MAX];
    unsigned nstatus;
    char err[RTMP_CLIENT_ERR_MAX];
};

/* A decoded command, as far as the waits below care. */
typedef enum { CMD_OTHER, CMD_RESULT, CMD_ERROR, CMD_STATUS } cmd_kind_t;

typedef struct {
    cmd_kind_t kind;
    double txn;
    int has_num; /* _result carried a number after the command object */
    double num;
    char level[32];
    char code[RTMP_CLIENT_STATUS_MAX];
    char desc[160];
} cmd_reply_t;

/* ---- small helpers ------------------------------------------------------ */

static void fmt_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fmt_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void set_err(rtmp_client_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(rtmp_client_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

/* Ends the session: later reads return `how`, and calls that fail because
 * of it return `code` (a NODE_E*). Returns how. */
static int kill_session(rtmp_client_t *c, rtmp_client_rc_t how, int code)
{
    c->dead = how;
    c->dead_code = code;
    return how;
}

/* The NODE_E* for a failed wait: why the session died, else a timeout. */
static int fail_code(const rtmp_client_t *c)
{
    return c->dead ? c->dead_code : NODE_EIO;
}

static int64_t deadline_in(int timeout_ms)
{
    return weir_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
}

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - weir_mono_ms();
    if (left <= 0)
        return 0;
    return left > INT_MAX ? INT_MAX : (int)left;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- URL ---------------------------------------------------------------- */

int rtmp_client_url_parse(const char *url, rtmp_client_url_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    url_t u;
    if (url_parse(url, "rtmp", RTMP_CLIENT_DEFAULT_PORT, &u, err, errlen) != 0)
        return NODE_EINVAL;
    if (strlen(u.host) >= sizeof out->host) {
        fmt_err(err, errlen, "url: host longer than %zu bytes", sizeof out->host - 1);
        return NODE_EINVAL;
    }
    copy_str(out->host, sizeof out->host, u.host);
    out->port = u.port;
    const char *p = u.path + 1; /* after the '/' url_parse guarantees */
    size_t alen = strcspn(p, "/");
    if (alen == 0) {
        fmt_err(err, errlen, "url: missing application name");
        return NODE_EINVAL;
    }
    if (alen >= sizeof out->app) {
        fmt_err(err, errlen, "url: application name longer than %zu bytes", sizeof out->app - 1);
        return NODE_EINVAL;
    }
    memcpy(out->app, p, alen);
    out->app[alen] = '\0';
    p += alen;
    if (*p != '/' || p[1] == '\0') {
        fmt_err(err, errlen, "url: missing stream name after /%s", out->app);
        return NODE_EINVAL;
    }
    p++;
    if (strlen(p) >= sizeof out->name) {
        fmt_err(err, errlen, "url: stream name longer than %zu bytes", sizeof out->name - 1);
        return NODE_EINVAL;
    }
    copy_str(out->name, sizeof out->name, p);
    char authority[URL_HOST_MAX + 16];
    int n = url_authority(&u, authority, sizeof authority);
    if (n >= 0)
        n = snprintf(out->tc_url, sizeof out->tc_url, "rtmp://%s/%s", authority, out->app);
    if (n < 0 || (size_t)n >= sizeof out->tc_url) {
        fmt_err(err, errlen, "url: tcUrl longer than %zu bytes", sizeof out->tc_url - 1);
        return NODE_EINVAL;
    }
    return 0;
}

/* ---- socket I/O --------------------------------------------------------- */

/* Connects to the URL's host within the deadline, trying every address. */
static int tcp_connect(rtmp_client_t *c, int64_t deadline)
{
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)c->url.port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(c->url.host, port, &hints, &res);
    if (gai != 0) {
        set_err(c, "resolve %s: %s", c->url.host, gai_strerror(gai));
        return NODE_EIO;
    }
    set_err(c, "connect %s:%s: no address", c->url.host, port);
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            set_err(c, "socket: %s", strerror(errno));
            continue;
        }
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            do
                rc = poll(&pfd, 1, remaining_ms(deadline));
            while (rc < 0 && errno == EINTR);
            if (rc == 0) {
                set_err(c, "connect %s:%s: timed out", c->url.host, port);
                close(fd);
                continue;
            }
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
                soerr = errno;
            errno = soerr;
            rc = soerr ? -1 : 0;
        }
        if (rc != 0) {
            set_err(c, "connect %s:%s: %s", c->url.host, port, strerror(errno));
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        break;
    }
    freeaddrinfo(res);
    return c->fd >= 0 ? 0 : NODE_EIO;
}

/* Writes all n bytes before the deadline. Returns 0, or NODE_EIO with the
 * session marked dead. */
static int write_all(rtmp_client_t *c, const uint8_t *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {c->fd, POLLOUT, 0};
            int rc = poll(&pfd, 1, remaining_ms(deadline));
            if (rc > 0 || (rc < 0 && errno == EINTR))
                continue;
            if (rc == 0)
                set_err(c, "send: timed out (the server does not read)");
            else
                set_err(c, "poll: %s", strerror(errno));
        } else if (c->status[0]) {
            set_err(c, "send: %s (last status %s)", strerror(errno), c->status);
        } else {
            set_err(c, "send: %s", strerror(errno));
        }
        kill_session(c, RTMP_CLIENT_ERROR, NODE_EIO);
        return NODE_EIO;
    }
    return 0;
}

/* Reads what is available into the (empty) input buffer, waiting until
 * the deadline. Returns 1 (bytes read), RTMP_CLIENT_TIMEOUT, RTMP_CLIENT_EOF
 * or RTMP_CLIENT_ERROR (the last two end the session). */
static int fill(rtmp_client_t *c, int64_t deadline)
{
    c->rpos = c->rlen = 0;
    for (;;) {
        ssize_t r = recv(c->fd, c->rbuf, sizeof c->rbuf, 0);
        if (r > 0) {
            c->rlen = (size_t)r;
            c->bytes_in += (uint64_t)r;
            return 1;
        }
        if (r == 0) {
            if (c->status[0])
                set_err(c, "server closed the connection (last status %s)", c->status);
            else
                set_err(c, "server closed the connection");
            return kill_session(c, RTMP_CLIENT_EOF, NODE_EIO);
        }
        if (errno == EINTR)
            continue;
        if (errno == ECONNRESET) {
            if (c->status[0])
                set_err(c, "server reset the connection (last status %s)", c->status);
            else
                set_err(c, "server reset the connection");
            return kill_session(c, RTMP_CLIENT_EOF, NODE_EIO);
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            set_err(c, "recv: %s", strerror(errno));
            return kill_session(c, RTMP_CLIENT_ERROR, NODE_EIO);
        }
        struct pollfd pfd = {c->fd, POLLIN, 0};
        int rc = poll(&pfd, 1, remaining_ms(deadline));
        if (rc < 0 && errno != EINTR) {
            set_err(c, "poll: %s", strerror(errno));
            return kill_session(c, RTMP_CLIENT_ERROR, NODE_EIO);
        }
        if (rc == 0)
            return RTMP_CLIENT_TIMEOUT;
    }
}

/* ---- output ------------------------------------------------------------- */

static int send_msg(rtmp_client_t *c, uint32_t csid, uint8_t type, uint32_t stream_id, uint32_t ts,
                    const uint8_t *payload, uint32_t len, int64_t deadline)
{
    size_t n = rtmp_chunk_encoded_size(csid, ts, len, c->out_chunk_size);
    if (n > c->wcap) {
        uint8_t *nb = realloc(c->wbuf, n);
        if (!nb) {
            set_err(c, "out of memory for a %u-byte message", len);
            kill_session(c, RTMP_CLIENT_ERROR, NODE_ENOMEM);
            return NODE_ENOMEM;
        }
        c->wbuf = nb;
        c->wcap = n;
    }
    rtmp_chunk_encode(c->wbuf, csid, type, stream_id, ts, payload, len, c->out_chunk_size);
    return write_all(c, c->wbuf, n, deadline);
}

static int send_u32(rtmp_client_t *c, uint8_t type, uint32_t v, int64_t deadline)
{
    uint8_t b[4];
    wr_be32(b, v);
    return send_msg(c, CSID_PROTO, type, 0, 0, b, 4, deadline);
}

static int send_user_control(rtmp_client_t *c, uint16_t ev, const uint8_t *data, uint32_t dlen,
                             int64_t deadline)
{
    uint8_t b[10];
    wr_be16(b, ev);
    memcpy(b + 2, data, dlen);
    return send_msg(c, CSID_PROTO, RTMP_MSG_USER_CONTROL, 0, 0, b, 2 + dlen, deadline);
}

/* Sends an encoded command and frees the buffer. */
static int send_command(rtmp_client_t *c, uint32_t stream_id, amf0_buf_t *b, int64_t deadline)
{
    int rc;
    if (b->oom) {
        set_err(c, "out of memory encoding a command");
        rc = NODE_ENOMEM;
    } else {
        rc = send_msg(c, CSID_CMD, RTMP_MSG_COMMAND_AMF0, stream_id, 0, b->data, (uint32_t)b->len,
                      deadline);
    }
    amf0_buf_free(b);
    return rc;
}

/* name(txn, null, arg) on stream_id. */
static int send_simple_command(rtmp_client_t *c, const char *name, uint32_t stream_id,
                               const char *arg, int64_t deadline)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, name);
    amf0_put_number(&b, ++c->txn);
    amf0_put_null(&b);
    amf0_put_cstr(&b, arg);
    return send_command(c, stream_id, &b, deadline);
}

/* ---- input -------------------------------------------------------------- */

/* Acknowledges per the server's window. */
static int maybe_ack(rtmp_client_t *c)
{
    if (!c->window || c->bytes_in - c->acked < c->window)
        return 0;
    c->acked = c->bytes_in;
    return send_u32(c, RTMP_MSG_ACK, (uint32_t)c->bytes_in, deadline_in(c->timeout_ms));
}

/* Handles a protocol control message (and frees it). Returns 1 if m was
 * one, 0 if not (m untouched), or RTMP_CLIENT_ERROR. */
static int handle_control(rtmp_client_t *c, rtmp_msg_t *m)
{
    int rc = 0;
    const uint8_t *p = m->payload;
    switch (m->type) {
    case RTMP_MSG_SET_CHUNK_SIZE:
        if (m->len < 4 ||
            rtmp_chunk_parser_set_chunk_size(c->parser, rd_be32(p) & 0x7fffffff) != 0) {
            set_err(c, "protocol error: bad Set Chunk Size from the server");
            rc = kill_session(c, RTMP_CLIENT_ERROR, NODE_EPROTO);
        }
        break;
    case RTMP_MSG_ABORT:
        if (m->len >= 4)
            rtmp_chunk_parser_abort(c->parser, rd_be32(p));
        break;
    case RTMP_MSG_WINDOW_ACK_SIZE:
        if (m->len >= 4)
            c->window = rd_be32(p);
        break;
    case RTMP_MSG_USER_CONTROL:
        if (m->len >= 6 && rd_be16(p) == RTMP_UC_PING_REQUEST &&
            send_user_control(c, RTMP_UC_PING_RESPONSE, p + 2, 4, deadline_in(c->timeout_ms)))
            rc = RTMP_CLIENT_ERROR;
        break;
    case RTMP_MSG_ACK:
    case RTMP_MSG_SET_PEER_BW: break;
    default: return 0;
    }
    free(m->payload);
    m->payload = NULL;
    return rc < 0 ? rc : 1;
}

/* The next message that is not protocol control, parsed from the input
 * buffer or read before the deadline (a deadline already past only takes
 * what the socket holds now). Returns RTMP_CLIENT_MESSAGE (caller owns
 * m->payload), RTMP_CLIENT_TIMEOUT, RTMP_CLIENT_EOF or RTMP_CLIENT_ERROR. */
static int next_msg(rtmp_client_t *c, int64_t deadline, rtmp_msg_t *m)
{
    for (;;) {
        if (c->dead)
            return c->dead;
        /* Fed even with no new bytes: the parser may hold look-ahead bytes
         * that complete a message. NEED_MORE means it truly needs input. */
        {
            size_t used = 0;
            const char *perr = NULL;
            parse_rc_t rc =
                rtmp_chunk_feed(c->parser, c->rbuf + c->rpos, c->rlen - c->rpos, &used, m, &perr);
            c->rpos += used;
            if (rc == PARSE_OK) {
                int h = handle_control(c, m);
                if (h < 0)
                    return h;
                if (h == 0)
                    return RTMP_CLIENT_MESSAGE;
                continue;
            }
            if (rc != PARSE_NEED_MORE) {
                set_err(c, "protocol error: %s", perr ? perr : "bad chunk stream");
                return kill_session(c, RTMP_CLIENT_ERROR,
                                    rc == PARSE_ERR_TOO_BIG ? NODE_ELIMIT : NODE_EPROTO);
            }
        }
        int r = fill(c, deadline);
        if (r != 1)
            return r;
        if (maybe_ack(c) != 0)
            return RTMP_CLIENT_ERROR;
    }
}

/* ---- commands and media ------------------------------------------------- */

static void prop_str(const amf0_value_t *obj, const char *key, char *dst, size_t cap)
{
    copy_str(dst, cap, amf0_str(amf0_get(obj, key)));
}

/* Decodes a command into *reply; onStatus codes are recorded. Returns 0 or
 * RTMP_CLIENT_ERROR (undecodable). */
static int parse_command(rtmp_client_t *c, const uint8_t *p, uint32_t len, cmd_reply_t *reply)
{
    amf0_value_t vals[MAX_CMD_VALUES];
    size_t n = 0;
    const char *aerr = NULL;
    memset(reply, 0, sizeof *reply);
    if (amf0_decode_all(p, len, vals, MAX_CMD_VALUES, &n, &aerr) != 0) {
        set_err(c, "protocol error: bad command from the server: %s", aerr ? aerr : "amf0");
        return kill_session(c, RTMP_CLIENT_ERROR, NODE_EPROTO);
    }
    const char *name = n > 0 ? amf0_str(&vals[0]) : NULL;
    reply->txn = n > 1 ? amf0_num(&vals[1], 0) : 0;
    const amf0_value_t *info = n > 3 ? &vals[3] : NULL;
    if (!name) {
        reply->kind = CMD_OTHER;
    } else if (strcmp(name, "_result") == 0 || strcmp(name, "_error") == 0) {
        reply->kind = name[1] == 'r' ? CMD_RESULT : CMD_ERROR;
        if (info && info->type == AMF0_NUMBER) {
            reply->has_num = 1;
            reply->num = info->num;
        }
        prop_str(info, "level", reply->level, sizeof reply->level);
        prop_str(info, "code", reply->code, sizeof reply->code);
        prop_str(info, "description", reply->desc, sizeof reply->desc);
    } else if (strcmp(name, "onStatus") == 0) {
        reply->kind = CMD_STATUS;
        prop_str(info, "level", reply->level, sizeof reply->level);
        prop_str(info, "code", reply->code, sizeof reply->code);
        prop_str(info, "description", reply->desc, sizeof reply->desc);
        copy_str(c->status, sizeof c->status, reply->code);
        c->nstatus++;
    } else {
        reply->kind = CMD_OTHER; /* onBWDone, onFCPublish, close, ... */
    }
    amf0_values_free(vals, n);
    return 0;
}

/* Queues a media message, taking ownership of payload. */
static int pending_push(rtmp_client_t *c, uint8_t type, uint32_t ts, uint32_t stream_id,
                        uint8_t *payload, uint32_t len)
{
    if (c->pcount == RTMP_CLIENT_MAX_PENDING || len > RTMP_CLIENT_MAX_PENDING_BYTES - c->pbytes) {
        free(payload);
        set_err(c, "more than %d media messages (or %u bytes) queued", RTMP_CLIENT_MAX_PENDING,
                RTMP_CLIENT_MAX_PENDING_BYTES);
        return kill_session(c, RTMP_CLIENT_ERROR, NODE_ELIMIT);
    }
    rtmp_msg_t *m = &c->pending[(c->phead + c->pcount) % RTMP_CLIENT_MAX_PENDING];
    m->csid = type == RTMP_MSG_AUDIO   ? RTMP_CLIENT_CSID_AUDIO
              : type == RTMP_MSG_VIDEO ? RTMP_CLIENT_CSID_VIDEO
                                       : RTMP_CLIENT_CSID_DATA;
    m->type = type;
    m->stream_id = stream_id;
    m->timestamp = ts;
    m->len = len;
    m->payload = payload;
    c->pcount++;
    c->pbytes += len;
    return 0;
}

static int pending_pop(rtmp_client_t *c, rtmp_msg_t *out)
{
    if (!c->pcount)
        return 0;
    *out = c->pending[c->phead];
    c->phead = (c->phead + 1) % RTMP_CLIENT_MAX_PENDING;
    c->pcount--;
    c->pbytes -= out->len;
    return 1;
}

/* Aggregate: FLV-tag-like parts with timestamps relative to the first
 * part, rebased onto the aggregate's own timestamp. Frees m's payload. */
static int split_aggregate(rtmp_client_t *c, rtmp_msg_t *m)
{
    const uint8_t *p = m->payload;
    uint32_t off = 0, first_ts = 0;
    int first = 1, rc = 0;
    while (rc == 0 && m->len - off >= FLV_TAG_HEADER_SIZE) {
        const uint8_t *h = p + off;
        uint8_t type = h[0] & 0x1f;
        uint32_t size = rd_be24(h + 1);
        uint32_t sts = rd_be24(h + 4) | ((uint32_t)h[7] << 24);
        if (size > m->len - off - FLV_TAG_HEADER_SIZE) {
            set_err(c, "protocol error: truncated aggregate message");
            rc = kill_session(c, RTMP_CLIENT_ERROR, NODE_EPROTO);
            break;
        }
        if (first) {
            first_ts = sts;
            first = 0;
        }
        if (type == RTMP_MSG_AUDIO || type == RTMP_MSG_VIDEO || type == RTMP_MSG_DATA_AMF0) {
            uint8_t *copy = NULL;
            if (size) {
                copy = malloc(size);
                if (!copy) {
                    set_err(c, "out of memory splitting an aggregate message");
                    rc = kill_session(c, RTMP_CLIENT_ERROR, NODE_ENOMEM);
                    break;
                }
                memcpy(copy, h + FLV_TAG_HEADER_SIZE, size);
            }
            rc = pending_push(c, type, m->timestamp + (sts - first_ts), m->stream_id, copy, size);
        }
        off += FLV_TAG_HEADER_SIZE + size;
        off += (m->len - off >= FLV_PREV_SIZE) ? FLV_PREV_SIZE : m->len - off;
    }
    free(m->payload);
    m->payload = NULL;
    return rc;
}

/* Handles a non-control message and takes its payload. Commands are decoded
 * into *reply (returns 1 for a _result, _error or onStatus); media is queued
 * for rtmp_client_read() (a publisher has no reader: media from the server
 * is dropped). Returns 0, 1, or RTMP_CLIENT_ERROR. */
static int dispatch(rtmp_client_t *c, rtmp_msg_t *m, cmd_reply_t *reply)
{
    int rc = 0;
    uint8_t *p = m->payload;
    int media = m->type == RTMP_MSG_AUDIO || m->type == RTMP_MSG_VIDEO ||
                m->type == RTMP_MSG_DATA_AMF0 || m->type == RTMP_MSG_DATA_AMF3 ||
                m->type == RTMP_MSG_AGGREGATE;
    if (m->type == RTMP_MSG_COMMAND_AMF0 || m->type == RTMP_MSG_COMMAND_AMF3) {
        uint32_t skip = (m->type == RTMP_MSG_COMMAND_AMF3 && m->len && p[0] == 0) ? 1 : 0;
        rc = parse_command(c, p + skip, m->len - skip, reply);
        if (rc == 0 && reply->kind != CMD_OTHER)
            rc = 1;
    } else if (media && c->role != ROLE_PUBLISH) {
        if (m->type == RTMP_MSG_AGGREGATE)
            return split_aggregate(c, m);
        uint8_t type = m->type;
        if (type == RTMP_MSG_DATA_AMF3 && m->len && p[0] == 0) {
            memmove(p, p + 1, m->len - 1);
            m->len--;
            type = RTMP_MSG_DATA_AMF0;
        }
        m->payload = NULL;
        return pending_push(c, type, m->timestamp, m->stream_id, p, m->len);
    }
    free(p);
    m->payload = NULL;
    return rc;
}

/* Waits for the next _result, _error or onStatus before the deadline.
 * Returns 1 with *reply, or RTMP_CLIENT_TIMEOUT / RTMP_CLIENT_EOF /
 * RTMP_CLIENT_ERROR with the error text set. */
static int await_reply(rtmp_client_t *c, int64_t deadline, const char *what, cmd_reply_t *reply)
{
    for (;;) {
        rtmp_msg_t m;
        int r = next_msg(c, deadline, &m);
        if (r == RTMP_CLIENT_MESSAGE) {
            r = dispatch(c, &m, reply);
            if (r != 0)
                return r;
            if (remaining_ms(deadline) > 0)
                continue;
            r = RTMP_CLIENT_TIMEOUT; /* messages keep coming, but not the reply */
        }
        if (r == RTMP_CLIENT_TIMEOUT)
            set_err(c, "no reply to %s in time", what);
        return r;
    }
}

/* Reads replies until the one to transaction txn; statuses are recorded
 * on the way. Returns 0 with *reply (a _result or _error), or a NODE_E*
 * with the error text set. */
static int await_txn(rtmp_client_t *c, double txn, int64_t deadline, const char *what,
                     cmd_reply_t *reply)
{
    for (;;) {
        int r = await_reply(c, deadline, what, reply);
        if (r != 1)
            return fail_code(c);
        if ((reply->kind == CMD_RESULT || reply->kind == CMD_ERROR) && reply->txn == txn)
            return 0;
    }
}

/* ---- connect ------------------------------------------------------------ */

static int handshake(rtmp_client_t *c, int complex, int64_t deadline)
{
    rtmp_hs_t *hs = rtmp_hs_new(RTMP_HS_CLIENT, complex);
    if (!hs) {
        set_err(c, "handshake: out of memory");
        return NODE_ENOMEM;
    }
    int rc = 0, done = 0;
    for (;;) {
        const uint8_t *out;
        size_t outlen;
        rtmp_hs_output(hs, &out, &outlen);
        if (outlen) {
            if ((rc = write_all(c, out, outlen, deadline)) != 0)
                break;
            rtmp_hs_output_done(hs);
        }
        if (done)
            break;
        if (c->rpos == c->rlen) {
            int r = fill(c, deadline);
            if (r != 1) {
                if (r == RTMP_CLIENT_TIMEOUT)
                    set_err(c, "handshake: timed out");
                else if (r == RTMP_CLIENT_EOF)
                    set_err(c, "handshake: server closed the connection");
                rc = NODE_EIO;
                break;
            }
        }
        size_t used = 0;
        const char *herr = NULL;
        parse_rc_t prc = rtmp_hs_feed(hs, c->rbuf + c->rpos, c->rlen - c->rpos, &used, &herr);
        c->rpos += used;
        if (prc == PARSE_OK) {
            done = 1;
        } else if (prc != PARSE_NEED_MORE) {
            set_err(c, "%s", herr ? herr : "handshake: failed");
            rc = NODE_EPROTO;
            break;
        }
    }
    rtmp_hs_free(hs);
    return rc;
}

static int send_connect(rtmp_client_t *c, int64_t deadline)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, "connect");
    amf0_put_number(&b, TXN_CONNECT);
    amf0_put_object_start(&b);
    amf0_put_key(&b, "app");
    amf0_put_cstr(&b, c->url.app);
    amf0_put_key(&b, "type");
    amf0_put_cstr(&b, "nonprivate");
    amf0_put_key(&b, "flashVer");
    amf0_put_cstr(&b, FLASH_VER);
    amf0_put_key(&b, "tcUrl");
    amf0_put_cstr(&b, c->url.tc_url);
    amf0_put_key(&b, "objectEncoding");
    amf0_put_number(&b, 0);
    amf0_put_object_end(&b);
    c->txn = TXN_CONNECT;
    return send_command(c, 0, &b, deadline);
}

static int send_create_stream(rtmp_client_t *c, int64_t deadline)
{
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, "createStream");
    amf0_put_number(&b, TXN_CREATE_STREAM);
    amf0_put_null(&b);
    c->txn = TXN_CREATE_STREAM;
    return send_command(c, 0, &b, deadline);
}

/* Everything after the TCP connect: handshake, connect, createStream. */
static int open_session(rtmp_client_t *c, int complex, int64_t deadline)
{
    int rc = handshake(c, complex, deadline);
    if (rc != 0)
        return rc;
    c->parser = rtmp_chunk_parser_new(RTMP_CLIENT_MAX_MESSAGE, MAX_CHUNK_STREAMS);
    if (!c->parser) {
        set_err(c, "out of memory");
        return NODE_ENOMEM;
    }
    if ((rc = send_u32(c, RTMP_MSG_SET_CHUNK_SIZE, RTMP_CLIENT_CHUNK_SIZE, deadline)) != 0)
        return rc;
    c->out_chunk_size = RTMP_CLIENT_CHUNK_SIZE;
    if ((rc = send_connect(c, deadline)) != 0)
        return rc;
    cmd_reply_t reply;
    if ((rc = await_txn(c, TXN_CONNECT, deadline, "connect", &reply)) != 0)
        return rc;
    if (reply.kind == CMD_ERROR) {
        set_err(c, "connect rejected: %s (%s)", reply.code[0] ? reply.code : "_error", reply.desc);
        return NODE_EPROTO;
    }
    if ((rc = send_create_stream(c, deadline)) != 0)
        return rc;
    if ((rc = await_txn(c, TXN_CREATE_STREAM, deadline, "createStream", &reply)) != 0)
        return rc;
    if (reply.kind == CMD_ERROR || !reply.has_num || reply.num < 0 || reply.num > UINT32_MAX) {
        set_err(c, "createStream failed: %s", reply.code[0] ? reply.code : "no stream id");
        return NODE_EPROTO;
    }
    c->stream_id = (uint32_t)reply.num;
    return 0;
}

static void client_free(rtmp_client_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    rtmp_msg_t m;
    while (pending_pop(c, &m))
        free(m.payload);
    rtmp_chunk_parser_free(c->parser);
    free(c->wbuf);
    free(c);
}

rtmp_client_t *rtmp_client_connect(const char *url, int timeout_ms, int complex_handshake,
                                   char *err, size_t errlen)
{
    if (timeout_ms <= 0) {
        fmt_err(err, errlen, "timeout must be positive (got %d ms)", timeout_ms);
        return NULL;
    }
    rtmp_client_t *c = calloc(1, sizeof *c);
    if (!c) {
        fmt_err(err, errlen, "out of memory");
        return NULL;
    }
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    c->out_chunk_size = RTMP_DEFAULT_CHUNK_SIZE;
    if (rtmp_client_url_parse(url, &c->url, err, errlen) != 0) {
        client_free(c);
        return NULL;
    }
    int64_t deadline = deadline_in(timeout_ms);
    if (tcp_connect(c, deadline) != 0 || open_session(c, complex_handshake, deadline) != 0) {
        fmt_err(err, errlen, "%s", c->err);
        client_free(c);
        return NULL;
    }
    c->err[0] = '\0';
    return c;
}

/* ---- publish / play ----------------------------------------------------- */

static int start_role(rtmp_client_t *c, role_t role, char *err, size_t errlen)
{
    if (c->role != ROLE_NONE) {
        set_err(c, "already %s", c->role == ROLE_PUBLISH ? "publishing" : "playing");
        fmt_err(err, errlen, "%s", c->err);
        return NODE_EINVAL;
    }
    if (c->dead) {
        fmt_err(err, errlen, "%s", c->err);
        return fail_code(c);
    }
    c->role = role;
    return 0;
}

/* A status that refuses a publish or play: error level, or a code that
 * says so even when a server labels it "status". */
static int is_refusal(const cmd_reply_t *r)
{
    return strcmp(r->level, "error") == 0 || strstr(r->code, "NotFound") ||
           strstr(r->code, "Failed") || strstr(r->code, "BadName") || strstr(r->code, "Denied") ||
           strstr(r->code, "Rejected");
}

/* Waits for the onStatus that answers publish or play: 0 on ok_code,
 * refused_rc on a refusal (status or an _error to txn); other statuses
 * (NetStream.Play.Reset, ...) are passed over. */
static int await_start(rtmp_client_t *c, double txn, int64_t deadline, const char *what,
                       const char *ok_code, int refused_rc)
{
    cmd_reply_t reply;
    for (;;) {
        if (await_reply(c, deadline, what, &reply) != 1)
            return fail_code(c);
        int refused = 0;
        if (reply.kind == CMD_STATUS) {
            if (strcmp(reply.code, ok_code) == 0)
                return 0;
            refused = is_refusal(&reply);
        } else if (reply.kind == CMD_ERROR && reply.txn == txn) {
            refused = 1;
        }
        if (refused) {
            set_err(c, "%s refused: %s (%s)", what, reply.code[0] ? reply.code : "_error",
                    reply.desc);
            return refused_rc;
        }
    }
}

int rtmp_client_publish(rtmp_client_t *c, int timeout_ms, char *err, size_t errlen)
{
    int rc = start_role(c, ROLE_PUBLISH, err, errlen);
    if (rc != 0)
        return rc;
    int64_t deadline = deadline_in(timeout_ms);
    const char *name = c->url.name;
    if ((rc = send_simple_command(c, "releaseStream", 0, name, deadline)) == 0 &&
        (rc = send_simple_command(c, "FCPublish", 0, name, deadline)) == 0) {
        amf0_buf_t b;
        amf0_buf_init(&b);
        amf0_put_cstr(&b, "publish");
        amf0_put_number(&b, ++c->txn);
        amf0_put_null(&b);
        amf0_put_cstr(&b, name);
        amf0_put_cstr(&b, "live");
        rc = send_command(c, c->stream_id, &b, deadline);
    }
    if (rc == 0)
        rc = await_start(c, c->txn, deadline, "publish", "NetStream.Publish.Start", NODE_EBUSY);
    if (rc != 0)
        fmt_err(err, errlen, "%s", c->err);
    return rc;
}

int rtmp_client_play(rtmp_client_t *c, int timeout_ms, char *err, size_t errlen)
{
    int rc = start_role(c, ROLE_PLAY, err, errlen);
    if (rc != 0)
        return rc;
    int64_t deadline = deadline_in(timeout_ms);
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, "play");
    amf0_put_number(&b, ++c->txn);
    amf0_put_null(&b);
    amf0_put_cstr(&b, c->url.name);
    amf0_put_number(&b, -2);
    rc = send_command(c, c->stream_id, &b, deadline);
    if (rc == 0) {
        /* Set Buffer Length, as FFmpeg sends after play. */
        uint8_t sbl[8];
        wr_be32(sbl, c->stream_id);
        wr_be32(sbl + 4, PLAY_BUFFER_MS);
        rc = send_user_control(c, RTMP_UC_SET_BUFFER_LENGTH, sbl, 8, deadline);
    }
    if (rc == 0)
        rc = await_start(c, c->txn, deadline, "play", "NetStream.Play.Start", NODE_ENOTFOUND);
    if (rc != 0)
        fmt_err(err, errlen, "%s", c->err);
    return rc;
}

/* ---- media -------------------------------------------------------------- */

/* Processes what has already arrived, without waiting. */
static int drain_input(rtmp_client_t *c)
{
    for (;;) {
        rtmp_msg_t m;
        cmd_reply_t reply;
        int r = next_msg(c, 0, &m);
        if (r == RTMP_CLIENT_TIMEOUT)
            return 0;
        if (r == RTMP_CLIENT_MESSAGE)
            r = dispatch(c, &m, &reply);
        if (r < 0)
            return r;
    }
}

int rtmp_client_send(rtmp_client_t *c, uint8_t type, uint32_t ts, const uint8_t *payload,
                     uint32_t len)
{
    uint32_t csid;
    switch (type) {
    case RTMP_MSG_AUDIO: csid = RTMP_CLIENT_CSID_AUDIO; break;
    case RTMP_MSG_VIDEO: csid = RTMP_CLIENT_CSID_VIDEO; break;
    case RTMP_MSG_DATA_AMF0: csid = RTMP_CLIENT_CSID_DATA; break;
    default: set_err(c, "cannot send message type %u", type); return NODE_EINVAL;
    }
    if (len > RTMP_CLIENT_MAX_MESSAGE) {
        set_err(c, "message of %u bytes over the %u-byte limit", len, RTMP_CLIENT_MAX_MESSAGE);
        return NODE_EINVAL;
    }
    if (c->dead)
        return fail_code(c);
    if (drain_input(c) < 0)
        return fail_code(c);
    return send_msg(c, csid, type, c->stream_id, ts, payload, len, deadline_in(c->timeout_ms));
}

rtmp_client_rc_t rtmp_client_read(rtmp_client_t *c, rtmp_msg_t *out, int timeout_ms)
{
    int64_t deadline = deadline_in(timeout_ms);
    for (;;) {
        if (pending_pop(c, out))
            return RTMP_CLIENT_MESSAGE;
        rtmp_msg_t m;
        cmd_reply_t reply;
        int r = next_msg(c, deadline, &m);
        if (r != RTMP_CLIENT_MESSAGE)
            return (rtmp_client_rc_t)r;
        if (dispatch(c, &m, &reply) < 0)
            return c->dead;
    }
}

/* ---- accessors and close ------------------------------------------------ */

const char *rtmp_client_last_status(const rtmp_client_t *c)
{
    return c->status;
}
unsigned rtmp_client_status_count(const rtmp_client_t *c)
{
    return c->nstatus;
}
const char *rtmp_client_error(const rtmp_client_t *c)
{
    return c->err;
}
uint32_t rtmp_client_stream_id(const rtmp_client_t *c)
{
    return c->stream_id;
}
const rtmp_client_url_t *rtmp_client_url(const rtmp_client_t *c)
{
    return &c->url;
}

/* A publisher's goodbye: FCUnpublish and deleteStream, then a half-close
 * and a bounded wait for the server's close, so that the server reads
 * everything before our socket goes (closing with unread input would reset
 * the connection and could lose the tail of the stream). */
static void end_publishing(rtmp_client_t *c)
{
    int ms = c->timeout_ms < CLOSE_DRAIN_MAX_MS ? c->timeout_ms : CLOSE_DRAIN_MAX_MS;
    int64_t deadline = deadline_in(ms);
    if (send_simple_command(c, "FCUnpublish", 0, c->url.name, deadline) != 0)
        return;
    amf0_buf_t b;
    amf0_buf_init(&b);
    amf0_put_cstr(&b, "deleteStream");
    amf0_put_number(&b, ++c->txn);
    amf0_put_null(&b);
    amf0_put_number(&b, c->stream_id);
    if (send_command(c, 0, &b, deadline) != 0)
        return;
    shutdown(c->fd, SHUT_WR);
    while (fill(c, deadline) == 1)
        ;
}

void rtmp_client_close(rtmp_client_t *c)
{
    if (!c)
        return;
    if (c->fd >= 0 && !c->dead && c->role == ROLE_PUBLISH)
        end_publishing(c);
    client_free(c);
}
