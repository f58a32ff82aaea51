/* rtmp_client: a small blocking RTMP client (see rtmp_client.h).
 *
 * The socket is non-blocking; every wait is a poll() bounded by a deadline
 * on the monotonic clock. Input goes through a fixed buffer into the
 * node's pure client state machine (rtmp_proto_client.h), which answers
 * protocol control and runs the command sequence; what it queues is
 * written at once (flush_output). Media lands in a bounded queue that
 * rtmp_client_read() empties.
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

#include "common.h"
#include "rtmp_handshake.h"
#include "rtmp_proto.h"
#include "rtmp_proto_client.h"
#include "tool_tls.h"
#include "url.h"

#define RBUF_SIZE 65536
#define MAX_CHUNK_STREAMS 16
#define CLOSE_DRAIN_MAX_MS 2000
#define PLAY_BUFFER_MS 3000
#define FLASH_VER "FMLE/3.0 (compatible; weir/" WEIR_VERSION ")"

typedef enum { ROLE_NONE, ROLE_PUBLISH, ROLE_PLAY } role_t;

struct rtmp_client {
    int fd;
    SSL *ssl; /* rtmps://: the TLS session, else NULL */
    int timeout_ms;
    url_rtmp_t url;
    rtmp_proto_client_t *pc; /* command sequence, protocol control, chunk parser */
    role_t role;
    rtmp_client_rc_t dead; /* RTMP_CLIENT_EOF / _ERROR once the session is over, else 0 */
    int dead_code;         /* the NODE_E* that goes with it */

    uint64_t bytes_in; /* everything read, handshake included */

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
        ssize_t w = tool_io_send(c->fd, c->ssl, p, n);
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
        ssize_t r = tool_io_recv(c->fd, c->ssl, c->rbuf, sizeof c->rbuf);
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

/* Writes what the state machine has queued (commands, control replies,
 * Acknowledgements). Returns 0 or NODE_EIO. */
static int flush_output(rtmp_client_t *c, int64_t deadline)
{
    const uint8_t *p;
    size_t len;
    rtmp_proto_client_output(c->pc, &p, &len);
    if (!len)
        return 0;
    int rc = write_all(c, p, len, deadline);
    rtmp_proto_client_output_done(c->pc, len);
    return rc;
}

/* A state machine call's result: 0, or the session ends (NODE_ENOMEM /
 * NODE_ELIMIT / NODE_EPROTO with the text). Returns rc. */
static int proto_failed(rtmp_client_t *c, int rc, const char *what)
{
    if (rc != 0) {
        set_err(c, "%s", what);
        kill_session(c, RTMP_CLIENT_ERROR, rc);
    }
    return rc;
}

static int send_msg(rtmp_client_t *c, uint32_t csid, uint8_t type, uint32_t stream_id, uint32_t ts,
                    const uint8_t *payload, uint32_t len, int64_t deadline)
{
    uint32_t cs = rtmp_proto_client_chunk_size(c->pc);
    size_t n = rtmp_chunk_encoded_size(csid, ts, len, cs);
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
    rtmp_chunk_encode(c->wbuf, csid, type, stream_id, ts, payload, len, cs);
    return write_all(c, c->wbuf, n, deadline);
}

/* ---- input -------------------------------------------------------------- */

/* The next message off the chunk stream, parsed from the input buffer or
 * read before the deadline (a deadline already past only takes what the
 * socket holds now). Acknowledgements owed are sent after each read.
 * Returns RTMP_CLIENT_MESSAGE (caller owns m->payload),
 * RTMP_CLIENT_TIMEOUT, RTMP_CLIENT_EOF or RTMP_CLIENT_ERROR. */
static int next_msg(rtmp_client_t *c, int64_t deadline, rtmp_msg_t *m)
{
    for (;;) {
        if (c->dead)
            return c->dead;
        /* Fed even with no new bytes: the parser may hold look-ahead bytes
         * that complete a message. NEED_MORE means it truly needs input. */
        size_t used = 0;
        const char *perr = NULL;
        parse_rc_t rc =
            rtmp_proto_client_input(c->pc, c->rbuf + c->rpos, c->rlen - c->rpos, &used, m, &perr);
        c->rpos += used;
        if (rc == PARSE_OK)
            return RTMP_CLIENT_MESSAGE;
        if (rc != PARSE_NEED_MORE) {
            set_err(c, "protocol error: %s", perr ? perr : "bad chunk stream");
            return kill_session(c, RTMP_CLIENT_ERROR,
                                rc == PARSE_ERR_TOO_BIG ? NODE_ELIMIT : NODE_EPROTO);
        }
        int r = fill(c, deadline);
        if (r != 1)
            return r;
        if (proto_failed(c, rtmp_proto_client_ack(c->pc, c->bytes_in), "out of memory") != 0 ||
            flush_output(c, deadline_in(c->timeout_ms)) != 0)
            return RTMP_CLIENT_ERROR;
    }
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

/* Queues the audio, video and AMF0 data parts of an aggregate message. */
static int split_aggregate(rtmp_client_t *c, const rtmp_msg_t *m)
{
    rtmp_proto_agg_t it;
    uint8_t type;
    uint32_t ts, size;
    const uint8_t *body;
    int r;
    rtmp_proto_agg_init(&it, m->payload, m->len, m->timestamp);
    while ((r = rtmp_proto_agg_next(&it, &type, &ts, &body, &size)) == 1) {
        uint8_t *copy = NULL;
        if (size) {
            copy = malloc(size);
            if (!copy) {
                set_err(c, "out of memory splitting an aggregate message");
                return kill_session(c, RTMP_CLIENT_ERROR, NODE_ENOMEM);
            }
            memcpy(copy, body, size);
        }
        if (pending_push(c, type, ts, m->stream_id, copy, size) != 0)
            return RTMP_CLIENT_ERROR;
    }
    if (r < 0) {
        set_err(c, "protocol error: truncated aggregate message");
        return kill_session(c, RTMP_CLIENT_ERROR, NODE_EPROTO);
    }
    return 0;
}

/* Media for rtmp_client_read(); takes m->payload. An AMF3 data message
 * with its leading 0 byte becomes AMF0 data. */
static int queue_media(rtmp_client_t *c, rtmp_msg_t *m)
{
    if (m->type == RTMP_MSG_AGGREGATE)
        return split_aggregate(c, m);
    uint8_t *p = m->payload;
    uint8_t type = m->type;
    if (type == RTMP_MSG_DATA_AMF3 && m->len && p[0] == 0) {
        memmove(p, p + 1, m->len - 1);
        m->len--;
        type = RTMP_MSG_DATA_AMF0;
    }
    m->payload = NULL;
    return pending_push(c, type, m->timestamp, m->stream_id, p, m->len);
}

/* Takes one message (and its payload) through the state machine: onStatus
 * codes are recorded, what it queued is written, media is queued for
 * rtmp_client_read() (a publisher has no reader: media from the server is
 * dropped). Returns 0 with *ev, or RTMP_CLIENT_ERROR. */
static int process(rtmp_client_t *c, rtmp_msg_t *m, rtmp_proto_ev_t *ev)
{
    const char *perr = NULL;
    int rc = rtmp_proto_client_feed(c->pc, m, ev, &perr);
    if (rc != 0) {
        set_err(c, "protocol error: %s", perr ? perr : "bad message from the server");
        kill_session(c, RTMP_CLIENT_ERROR, rc);
    } else {
        if (ev->status) {
            snprintf(c->status, sizeof c->status, "%s", ev->code);
            c->nstatus++;
        }
        if (flush_output(c, deadline_in(c->timeout_ms)) != 0)
            rc = RTMP_CLIENT_ERROR;
        else if (ev->kind == RTMP_PROTO_EV_MEDIA && c->role != ROLE_PUBLISH)
            rc = queue_media(c, m);
    }
    free(m->payload);
    m->payload = NULL;
    return rc < 0 ? RTMP_CLIENT_ERROR : 0;
}

/* Runs the session until the state machine reaches state `until` (READY,
 * LIVE) before the deadline. Returns 0, refused_rc with the refusal's text,
 * or a NODE_E* with the error text set. */
static int await_state(rtmp_client_t *c, rtmp_proto_client_state_t until, int64_t deadline,
                       const char *what, int refused_rc)
{
    while (rtmp_proto_client_state(c->pc) != until) {
        rtmp_msg_t m;
        rtmp_proto_ev_t ev;
        int r = next_msg(c, deadline, &m);
        if (r == RTMP_CLIENT_MESSAGE && process(c, &m, &ev) == 0) {
            if (ev.kind == RTMP_PROTO_EV_REFUSED) {
                rtmp_proto_refusal(c->pc, &ev, c->err, sizeof c->err);
                return refused_rc;
            }
            if (remaining_ms(deadline) > 0 || rtmp_proto_client_state(c->pc) == until)
                continue;
            r = RTMP_CLIENT_TIMEOUT; /* messages keep coming, but not the reply */
        }
        if (r == RTMP_CLIENT_TIMEOUT)
            set_err(c, "no reply to %s in time", what);
        return fail_code(c);
    }
    return 0;
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

/* Everything after the TCP connect: handshake, Set Chunk Size, connect,
 * createStream. */
static int open_session(rtmp_client_t *c, int complex, int64_t deadline)
{
    if (c->url.tls) {
        char err[RTMP_CLIENT_ERR_MAX];
        c->ssl = tool_tls_connect(c->fd, c->url.host, NULL, deadline, err, sizeof err);
        if (!c->ssl) {
            set_err(c, "%s", err);
            return NODE_EIO;
        }
    }
    int rc = handshake(c, complex, deadline);
    if (rc != 0)
        return rc;
    rc = proto_failed(c, rtmp_proto_client_begin(c->pc), "out of memory");
    if (rc == 0)
        rc = flush_output(c, deadline);
    if (rc == 0)
        rc = await_state(c, RTMP_PROTO_CL_READY, deadline, "connect", NODE_EPROTO);
    return rc;
}

static void client_free(rtmp_client_t *c)
{
    tool_tls_close(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    rtmp_msg_t m;
    while (pending_pop(c, &m))
        free(m.payload);
    rtmp_proto_client_free(c->pc);
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
    if (url_rtmp_parse(url, &c->url, err, errlen) != 0) {
        client_free(c);
        return NULL;
    }
    rtmp_proto_client_cfg_t pc = {.app = c->url.app,
                                  .tc_url = c->url.tc_url,
                                  .name = c->url.name,
                                  .flash_ver = FLASH_VER,
                                  .chunk_size = RTMP_CLIENT_CHUNK_SIZE,
                                  .play_buffer_ms = PLAY_BUFFER_MS,
                                  .max_msg = RTMP_CLIENT_MAX_MESSAGE,
                                  .max_csids = MAX_CHUNK_STREAMS};
    c->pc = rtmp_proto_client_new(&pc);
    if (!c->pc) {
        fmt_err(err, errlen, "out of memory");
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

/* Starts publishing or playing and waits for its NetStream.*.Start: 0,
 * refused_rc on a refusal, or a NODE_E*; err gets the text. */
static int start_role(rtmp_client_t *c, role_t role, int timeout_ms, int refused_rc, char *err,
                      size_t errlen)
{
    const char *what = role == ROLE_PUBLISH ? "publish" : "play";
    int rc;
    if (c->role != ROLE_NONE) {
        set_err(c, "already %s", c->role == ROLE_PUBLISH ? "publishing" : "playing");
        rc = NODE_EINVAL;
    } else if (c->dead) {
        rc = fail_code(c);
    } else {
        int64_t deadline = deadline_in(timeout_ms);
        c->role = role;
        rc = rtmp_proto_client_start(c->pc,
                                     role == ROLE_PUBLISH ? RTMP_PROTO_PUBLISH : RTMP_PROTO_PLAY);
        rc = proto_failed(c, rc, "out of memory");
        if (rc == 0)
            rc = flush_output(c, deadline);
        if (rc == 0)
            rc = await_state(c, RTMP_PROTO_CL_LIVE, deadline, what, refused_rc);
    }
    if (rc != 0)
        fmt_err(err, errlen, "%s", c->err);
    return rc;
}

int rtmp_client_publish(rtmp_client_t *c, int timeout_ms, char *err, size_t errlen)
{
    return start_role(c, ROLE_PUBLISH, timeout_ms, NODE_EBUSY, err, errlen);
}

int rtmp_client_play(rtmp_client_t *c, int timeout_ms, char *err, size_t errlen)
{
    return start_role(c, ROLE_PLAY, timeout_ms, NODE_ENOTFOUND, err, errlen);
}

/* ---- media -------------------------------------------------------------- */

/* Processes what has already arrived, without waiting. */
static int drain_input(rtmp_client_t *c)
{
    for (;;) {
        rtmp_msg_t m;
        rtmp_proto_ev_t ev;
        int r = next_msg(c, 0, &m);
        if (r == RTMP_CLIENT_TIMEOUT)
            return 0;
        if (r == RTMP_CLIENT_MESSAGE)
            r = process(c, &m, &ev);
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
    return send_msg(c, csid, type, rtmp_proto_client_stream_id(c->pc), ts, payload, len,
                    deadline_in(c->timeout_ms));
}

rtmp_client_rc_t rtmp_client_read(rtmp_client_t *c, rtmp_msg_t *out, int timeout_ms)
{
    int64_t deadline = deadline_in(timeout_ms);
    for (;;) {
        if (pending_pop(c, out))
            return RTMP_CLIENT_MESSAGE;
        rtmp_msg_t m;
        rtmp_proto_ev_t ev;
        int r = next_msg(c, deadline, &m);
        if (r != RTMP_CLIENT_MESSAGE)
            return (rtmp_client_rc_t)r;
        if (process(c, &m, &ev) < 0)
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
    return rtmp_proto_client_stream_id(c->pc);
}
const url_rtmp_t *rtmp_client_url(const rtmp_client_t *c)
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
    if (rtmp_proto_client_goodbye(c->pc) != 0 || flush_output(c, deadline) != 0)
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
