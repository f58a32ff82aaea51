/* sess_hls: HLS requests on the media HTTP port (see sess_hls.h). */
#include "sess_hls.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "admit.h"
#include "common.h"
#include "hls_playlist.h"
#include "hls_sess.h"
#include "hls_stream.h"
#include "http_status.h"
#include "log.h"

#define HLS_PLAYLIST_MAX (256u << 10)
#define HLS_OUT_MAX (32u << 20) /* a client that does not read its answers */
#define HLS_PEND_MAX (16u << 10) /* pipelined request bytes read ahead of the answers */
#define HLS_HELD_MAX 10000      /* requests held at once (blocking reloads, parts, cold starts) */

static size_t HELD; /* requests held now, every stream */

/* READING a request; AUTHORIZING: the hooks decide; WAITING for the first
 * segment; DONE: closing. */
typedef enum { HLS_READING, HLS_AUTHORIZING, HLS_STARTING, HLS_WAITING, HLS_DONE } hls_state_t;

typedef struct {
    conn_t *conn;
    hls_state_t state;
    http_req_parser_t *parser;
    sess_hls_back_fn back; /* a later request that is not HLS */
    const http_req_t *req; /* the request being answered (inside parser) */
    hls_req_t hr;
    hls_query_t q;
    int head, keep_alive;
    admit_pending_t *auth;
    uint64_t sess_id; /* the request's session (looked up again after a wait) */
    int64_t since_ms; /* READING: since the last answer; WAITING: since the request */
    int64_t stall_ms; /* output pending and not moving since then (0: none) */
    int64_t answer_ms; /* when the last answer was queued */
    int64_t hold_ms;  /* WAITING: the longest wait for this request */
    hls_waiter_t waiter;
    /* STARTING: a player of the hub waits for the stream (a relay's
     * on-demand pull, http_flv.wait_for_stream), then the session starts */
    player_t starter;
    int starting, started, waited;
    uint64_t last_out;
    /* Bytes read past the request being answered (pipelined requests),
     * at most HLS_PEND_MAX; served in order once its answer is queued. */
    struct evbuffer *pend;
    /* Serves pend once a held answer is queued (made with pend): at once,
     * outside the hub's call that woke the held request. */
    struct event *resume_ev;
} hls_conn_t;

/* The next request, or the end of the connection. */
/* The request is no longer held. */
static void unhold(hls_conn_t *hc)
{
    if (hc->state != HLS_WAITING)
        return;
    hls_stream_unwait(&hc->waiter);
    HELD--;
    hc->state = HLS_READING;
}

static void answered(hls_conn_t *hc, int keep)
{
    conn_t *c = hc->conn;
    unhold(hc);
    hc->answer_ms = weir_mono_ms();
    if (!c->closing && evbuffer_get_length(c->out) && !c->wblocked)
        conn_flush(c);
    if (!keep || !hc->keep_alive) {
        hc->state = HLS_DONE;
        conn_close_after_flush(c, REASON_DONE, "answered");
        return;
    }
    http_req_parser_reset(hc->parser);
    hc->req = NULL;
    hc->state = HLS_READING;
    hc->since_ms = weir_mono_ms();
    if (hc->pend && evbuffer_get_length(hc->pend) && hc->resume_ev)
        event_active(hc->resume_ev, EV_TIMEOUT, 0); /* the pipelined requests: resume() */
}

static void respond_head(hls_conn_t *hc, int code, const char *type, uint64_t len,
                         const char *extra)
{
    const conf_t *conf = &hc->conn->node->conf;
    evbuffer_add_printf(hc->conn->out,
                        "HTTP/1.1 %d %s\r\nServer: weir/" WEIR_VERSION "\r\n"
                        "Content-Type: %s\r\nContent-Length: %llu\r\n"
                        "Cache-Control: no-cache\r\n%s%s%s%s"
                        "Connection: %s\r\n\r\n",
                        code, http_status_text(code), type, (unsigned long long)len,
                        conf->http_flv_cors_origin[0] ? "Access-Control-Allow-Origin: " : "",
                        conf->http_flv_cors_origin, conf->http_flv_cors_origin[0] ? "\r\n" : "",
                        extra, code == 200 && hc->keep_alive ? "keep-alive" : "close");
}

static void respond_error(hls_conn_t *hc, int code, const char *why, const char *extra)
{
    char body[ADMIT_DESC_MAX + 64];
    int n = snprintf(body, sizeof body, "%d %s: %s\n", code, http_status_text(code), why);
    n = n < 0 ? 0 : n >= (int)sizeof body ? (int)sizeof body - 1 : n;
    respond_head(hc, code, "text/plain", (uint64_t)n, extra);
    if (!hc->head)
        evbuffer_add(hc->conn->out, body, (size_t)n);
    log_info(hc->conn->id, "hls: %d %s", code, why);
    answered(hc, 0);
}

/* Holds the request on st until the timeline moves (at most wait_ms in
 * all), or answers 503 when too many are held. */
static void hold(hls_conn_t *hc, hls_stream_t *st, int64_t wait_ms)
{
    if (hc->state != HLS_WAITING) {
        if (HELD >= HLS_HELD_MAX) {
            respond_error(hc, 503, "too many requests held", "Retry-After: 1\r\n");
            return;
        }
        HELD++;
        hc->state = HLS_WAITING;
        hc->since_ms = weir_mono_ms();
        hc->hold_ms = wait_ms;
    }
    hls_stream_wait(st, &hc->waiter);
}

/* The longest hold of a blocking request: three target durations. */
static int64_t block_ms(const hls_conn_t *hc)
{
    return 3 * (int64_t)hc->conn->node->conf.hls_segment_ms;
}

/* The playlist; a blocking reload (_HLS_msn) is held until the playlist
 * holds it, and the first request until there is something to list. */
static void serve_playlist(hls_conn_t *hc)
{
    static char text[HLS_PLAYLIST_MAX];
    int rc;
    hls_sess_t *sess = hls_sess_by_id(hc->sess_id);
    if (!sess) { /* kicked while this request waited */
        respond_error(hc, 403, "session ended", "");
        return;
    }
    hls_sess_touch(sess, 0); /* a waiting request keeps its session */
    hls_stream_t *st = hls_stream_get(hc->conn->node, hc->hr.app, hc->hr.name, 0, &rc);
    int ready = st && hc->q.has_msn
                    ? hls_stream_ready(st, hc->q.msn, hc->q.has_part ? (int)hc->q.part : -1)
                    : 1;
    if (ready < 0) {
        respond_error(hc, 400, "_HLS_msn is more than two segments ahead", "");
        return;
    }
    if (st && hc->hr.container == HLS_FMP4 && !hls_stream_fmp4_ok(st)) {
        respond_error(hc, 404, "the stream has no track fMP4 carries (H.264, H.265, AV1, AAC)", "");
        return;
    }
    size_t n = st && ready ? hls_stream_playlist(st, hc->hr.container, hls_sess_token(sess),
                                                 hc->q.skip, text, sizeof text)
                           : 0;
    if (st && n == 0 && !hls_stream_ended(st)) {
        hold(hc, st,
             ready ? (int64_t)hc->conn->node->conf.hls_segment_ms * 4 + 10000 : block_ms(hc));
        return;
    }
    if (!st || n == 0 || n == (size_t)-1) {
        respond_error(hc, 404, "stream not found", "");
        return;
    }
    respond_head(hc, 200, "application/vnd.apple.mpegurl", n, "");
    if (!hc->head) {
        evbuffer_add(hc->conn->out, text, n);
        hls_sess_touch(sess, n);
        hls_stream_count_out(st, n);
    }
    answered(hc, 1);
}

/* The request's init segment, segment or part (hls_stream_bytes()). */
static int64_t media_bytes(hls_conn_t *hc, hls_stream_t *st, int part, struct evbuffer *out)
{
    if (!st)
        return HLS_GONE;
    if (hc->hr.kind == HLS_REQ_INIT)
        return hls_stream_init(st, hc->hr.msn, out);
    return hls_stream_bytes(st, hc->hr.container, hc->hr.msn, part, out);
}

/* Why a media request is 404. */
static const char *media_missing(const hls_conn_t *hc, int64_t rc)
{
    if (rc == HLS_NO_TRACK)
        return "the stream has no track fMP4 carries (H.264, H.265, AV1, AAC)";
    return hc->hr.kind == HLS_REQ_INIT      ? "init segment not held"
           : hc->hr.kind == HLS_REQ_SEGMENT ? "segment not held"
                                            : "part not held";
}

/* An init segment, segment or part; the next part to come is held until it exists. */
static void serve_media(hls_conn_t *hc)
{
    int rc;
    hls_sess_t *sess = hls_sess_by_id(hc->sess_id);
    if (!sess) {
        respond_error(hc, 403, "session ended", "");
        return;
    }
    hls_sess_touch(sess, 0);
    int part = hc->hr.kind == HLS_REQ_PART ? (int)hc->hr.part : -1;
    hls_stream_t *st = hls_stream_get(hc->conn->node, hc->hr.app, hc->hr.name, 0, &rc);
    int64_t len = media_bytes(hc, st, part, NULL);
    if (len == HLS_NOT_YET && part >= 0) {
        hold(hc, st, block_ms(hc));
        return;
    }
    if (len < 0) {
        respond_error(hc, 404, media_missing(hc, len), "");
        return;
    }
    respond_head(hc, 200, hc->hr.container == HLS_FMP4 ? "video/mp4" : "video/mp2t", (uint64_t)len,
                 "");
    if (!hc->head && media_bytes(hc, st, part, hc->conn->out) < 0) {
        conn_close(hc->conn, REASON_ERROR, "out of memory");
        return;
    }
    hls_sess_touch(sess, hc->head ? 0 : (uint64_t)len);
    if (!hc->head)
        hls_stream_count_out(st, (uint64_t)len);
    answered(hc, 1);
}

/* The timeline moved (or the state went away): try the request again. */
static void waiter_wake(hls_waiter_t *w)
{
    hls_conn_t *hc = (hls_conn_t *)((char *)w - offsetof(hls_conn_t, waiter));
    if (hc->state != HLS_WAITING)
        return;
    if (hc->hr.kind == HLS_REQ_PLAYLIST)
        serve_playlist(hc);
    else
        serve_media(hc);
    conn_t *c = hc->conn;
    if (!c->closing && evbuffer_get_length(c->out) && !c->wblocked)
        conn_flush(c);
}

/* 302 to the drain redirect plus the request target (its query too: a
 * signed URL), or 503 with Retry-After (node_drain_answer()). */
static void respond_draining(hls_conn_t *hc)
{
    char *header;
    /* the parser keeps the target until the answer */
    int code = node_drain_answer(hc->conn->node, hc->req->target, &header);
    respond_error(hc, code, code == 302 ? "node is draining, try the Location" : "node is draining",
                  header ? header : "");
    free(header);
}

/* An admission refusal: as HTTP-FLV answers it (sess_httpflv.c). */
static void refuse(hls_conn_t *hc, const admit_result_t *r)
{
    if (r->code == ADMIT_DRAINING)
        respond_draining(hc);
    else if (admit_is_rule(r->code))
        respond_error(hc, 401, r->why, "WWW-Authenticate: Signed-URL\r\n");
    else
        respond_error(hc, 403, r->why, "");
}

/* Admitted: the session starts, then its first playlist. */
static void starter_wake(player_t *p)
{
    (void)p;
}

static void starter_event(player_t *p, player_event_t ev)
{
    hls_conn_t *hc = p->owner;
    if (ev == PLAYER_EV_STARTED) {
        hc->started = 1; /* the tick starts the session, outside the hub's call */
        return;
    }
    if (ev == PLAYER_EV_UNPUBLISHED || ev == PLAYER_EV_REPUBLISHED)
        return;
    hc->starting = 0; /* NOT_FOUND, ENDED, SLOW: detached */
    respond_error(hc, 404, "stream not found", "");
}

static const player_ops_t STARTER_OPS = {starter_wake, starter_event};

/* The stream is not live: waits for it as an HTTP-FLV request would (the
 * hub asks the relays for an on-demand pull). 0 waiting; -1 not. */
static int wait_for_stream(hls_conn_t *hc)
{
    conn_t *c = hc->conn;
    const conf_t *conf = &c->node->conf;
    if (hc->waited)
        return -1;
    hc->waited = 1;
    hc->starter =
        (player_t){.ops = &STARTER_OPS, .owner = hc, .sess_id = c->id, .enc = MSG_ENC_FLV};
    uint32_t wait = conf->http_flv_wait_for_stream && !hc->head ? conf->stream_play_wait_ms : 0;
    int rc = stream_play(c->node->hub, hc->hr.app, hc->hr.name, &hc->starter, wait, weir_mono_ms());
    if (rc == 0)
        stream_player_stop(&hc->starter);
    if (rc != 1)
        return -1;
    hc->starting = 1;
    hc->state = HLS_STARTING;
    return 0;
}

static void start_session(hls_conn_t *hc)
{
    int rc;
    conn_t *c = hc->conn;
    hls_stream_t *st = hls_stream_get(c->node, hc->hr.app, hc->hr.name, 1, &rc);
    if (!st && rc == NODE_ENOTFOUND && wait_for_stream(hc) == 0)
        return;
    if (!st || hls_stream_ended(st)) {
        respond_error(hc, rc == NODE_ELIMIT ? 503 : 404,
                      rc == NODE_ELIMIT ? "too many HLS streams" : "stream not found",
                      rc == NODE_ELIMIT ? "Retry-After: 1\r\n" : "");
        return;
    }
    hls_sess_t *sess = hls_sess_new(c->node, hc->hr.app, hc->hr.name, c->remote,
                                 http_req_header(hc->req, "User-Agent"));
    if (!sess) {
        respond_error(hc, 503, "too many HLS sessions", "Retry-After: 1\r\n");
        return;
    }
    hc->sess_id = hls_sess_id(sess);
    serve_playlist(hc);
}

static void admit_done(void *arg, const admit_result_t *r)
{
    hls_conn_t *hc = arg;
    hc->auth = NULL;
    if (r->code != ADMIT_OK)
        refuse(hc, r);
    else
        start_session(hc);
}

static void admit(hls_conn_t *hc)
{
    conn_t *c = hc->conn;
    sess_info_t si;
    conn_info(c, weir_mono_ms(), &si);
    si.protocol = HLS_SESS_PROTOCOL;
    si.role = SESS_ROLE_PLAYER;
    si.app = hc->hr.app;
    si.name = hc->hr.name;
    admit_req_t ar = {ADMIT_PLAY, &si, hc->req->query, 0, "", NULL};
    admit_result_t r;
    admit_code_t code = admit_check(c->node, &ar, admit_done, hc, &hc->auth, &r);
    if (code == ADMIT_PENDING)
        hc->state = HLS_AUTHORIZING;
    else if (code != ADMIT_OK)
        refuse(hc, &r);
    else
        start_session(hc);
}

/* The session of the request's token, or for a playlist request without
 * one, the client's (hls_sess_find_client()); NULL: none. Answered (403)
 * with *refused set when that session was kicked or plays another stream. */
static hls_sess_t *find_session(hls_conn_t *hc, int *refused)
{
    hls_sess_t *s = NULL;
    if (hc->q.token[0])
        s = hls_sess_find(hc->q.token);
    else if (hc->hr.kind == HLS_REQ_PLAYLIST)
        s = hls_sess_find_client(hc->hr.app, hc->hr.name, hc->conn->remote,
                                 http_req_header(hc->req, "User-Agent"));
    *refused = 1;
    if (s && hls_sess_kicked(s))
        respond_error(hc, 403, "session ended", "");
    else if (s && !hls_sess_plays(s, hc->hr.app, hc->hr.name))
        respond_error(hc, 403, "the session plays another stream", "");
    else
        *refused = 0;
    hc->sess_id = s && !*refused ? hls_sess_id(s) : 0;
    return *refused ? NULL : s;
}

static void hls_on_close(conn_t *c);

/* req is not an HLS resource: c goes back to the media port's session (hc
 * is freed, with any pipelined bytes after req: the media port's session
 * serves one request per connection). */
static void give_back(hls_conn_t *hc, const http_req_t *req)
{
    conn_t *c = hc->conn;
    http_req_parser_t *parser = hc->parser;
    sess_hls_back_fn back = hc->back;
    hc->parser = NULL;
    hls_on_close(c); /* frees hc */
    back(c, parser, req);
}

/* Answers req (or starts to); 1 when c was handed back (hc is freed). */
static int handle(hls_conn_t *hc, const http_req_t *req)
{
    if (hc->back && hls_path_parse(req->path, &hc->hr) == 0) {
        give_back(hc, req);
        return 1;
    }
    hc->req = req;
    hc->head = strcmp(req->method, "HEAD") == 0;
    hc->keep_alive = req->keep_alive;
    const char *err = NULL;
    hls_sess_t *sess = NULL;
    int refused = 0;
    if (!hc->head && strcmp(req->method, "GET") != 0)
        respond_error(hc, 405, "only GET and HEAD are served here", "Allow: GET, HEAD\r\n");
    else if (req->chunked || req->content_length > 0)
        respond_error(hc, 400, "a request body is not accepted here", "");
    else if (hls_path_parse(req->path, &hc->hr) != 1)
        respond_error(hc, 400, "malformed HLS path", "");
    else if (hls_query_parse(req->query, &hc->q, &err) != 0)
        respond_error(hc, 400, err ? err : "malformed HLS query", "");
    else if ((sess = find_session(hc, &refused)) == NULL && refused)
        return 0;
    else if (hc->hr.kind != HLS_REQ_PLAYLIST && !sess)
        respond_error(hc, 403, "no HLS session: request the playlist first", "");
    else if (hc->hr.kind != HLS_REQ_PLAYLIST)
        serve_media(hc);
    else if (!sess)
        admit(hc);
    else
        serve_playlist(hc);
    return 0;
}

#define HLS_HANDED_BACK SIZE_MAX /* serve(): c was handed back, hc is freed */

/* Feeds data to the parser and answers each complete request while the
 * connection is ready for one (a held answer stops it); returns the bytes
 * consumed, or HLS_HANDED_BACK. */
static size_t serve(hls_conn_t *hc, const uint8_t *data, size_t len)
{
    size_t done = 0;
    while (done < len && hc->state == HLS_READING && !hc->conn->closing) {
        size_t used = 0;
        const http_req_t *req = NULL;
        const char *err = NULL;
        parse_rc_t rc = http_req_feed(hc->parser, data + done, len - done, &used, &req, &err);
        done += used;
        if (rc == PARSE_NEED_MORE)
            break;
        if (rc != PARSE_OK)
            respond_error(hc, 400, err ? err : "malformed request", "");
        else if (handle(hc, req))
            return HLS_HANDED_BACK;
    }
    return done;
}

static void resume_cb(evutil_socket_t fd, short what, void *arg);

/* Keeps bytes read past the request being answered (made on first use).
 * -1 (closed or to close) over HLS_PEND_MAX. */
static int keep_pending(hls_conn_t *hc, const uint8_t *data, size_t len)
{
    conn_t *c = hc->conn;
    size_t have = hc->pend ? evbuffer_get_length(hc->pend) : 0;
    if (have + len > HLS_PEND_MAX) {
        log_warn(c->id, "hls: more than %u bytes of pipelined requests", HLS_PEND_MAX);
        hc->keep_alive = 0; /* close after the answer being made */
        if (hc->state == HLS_READING)
            conn_close(c, REASON_ERROR, "pipelined requests over the bound");
        return -1;
    }
    if (!hc->pend) {
        hc->pend = evbuffer_new();
        hc->resume_ev = event_new(c->node->base, -1, 0, resume_cb, hc);
    }
    if (!hc->pend || !hc->resume_ev || evbuffer_add(hc->pend, data, len) != 0) {
        conn_close(c, REASON_ERROR, "out of memory");
        return -1;
    }
    return 0;
}

/* Answers the kept requests in order while the connection is ready; 1 when
 * c was handed back (hc is freed). */
static int serve_pending(hls_conn_t *hc)
{
    size_t len = hc->pend ? evbuffer_get_length(hc->pend) : 0;
    if (!len)
        return 0;
    size_t used = serve(hc, evbuffer_pullup(hc->pend, -1), len);
    if (used == HLS_HANDED_BACK)
        return 1;
    evbuffer_drain(hc->pend, used);
    return 0;
}

/* An answer was queued after its request was held (or decided later: a
 * hook, the stream's start): the kept requests are served now, from the
 * loop (not inside the hub's call that woke the held one). */
static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    hls_conn_t *hc = arg;
    conn_t *c = hc->conn;
    (void)fd;
    (void)what;
    if (c->closing || hc->state != HLS_READING || serve_pending(hc))
        return;
    if (!c->closing && evbuffer_get_length(c->out) && !c->wblocked)
        conn_flush(c);
}

static void hls_on_read(conn_t *c, const uint8_t *data, size_t len)
{
    hls_conn_t *hc = c->ps;
    if (evbuffer_get_length(c->out) > HLS_OUT_MAX) {
        conn_close(c, REASON_SLOW, "replies not read");
        return;
    }
    if (hc->pend && evbuffer_get_length(hc->pend)) { /* in order: after the kept ones */
        if (keep_pending(hc, data, len) == 0)
            serve_pending(hc);
        return;
    }
    size_t used = serve(hc, data, len);
    if (used == HLS_HANDED_BACK)
        return;
    if (used < len && !c->closing)
        keep_pending(hc, data + used, len - used);
}

/* Output that does not move for player.slow_timeout_ms, or an answer not
 * taken within hls.idle_timeout_s / 2: a slow client. The second bound
 * keeps a segment's bytes (references to the messages, and so to their
 * MPEG-TS packets, which msg_set_mpegts() keeps while referenced) from
 * outliving the stream's HLS state by long. */
static int stalled(hls_conn_t *hc, int64_t now_ms)
{
    conn_t *c = hc->conn;
    int64_t answer_max = (int64_t)c->node->conf.hls_idle_timeout_s * 500;
    if (evbuffer_get_length(c->out) && hc->answer_ms && now_ms - hc->answer_ms > answer_max)
        return 1;
    if (!evbuffer_get_length(c->out) || c->bytes_out != hc->last_out) {
        hc->last_out = c->bytes_out;
        hc->stall_ms = 0;
        return 0;
    }
    if (!hc->stall_ms)
        hc->stall_ms = now_ms;
    return now_ms - hc->stall_ms > (int64_t)c->node->conf.player_slow_timeout_ms;
}

static void hls_on_tick(conn_t *c, int64_t now_ms)
{
    hls_conn_t *hc = c->ps;
    const conf_t *conf = &c->node->conf;
    if (stalled(hc, now_ms)) {
        node_limit_hit(c->node, LIMIT_SLOW_PLAYER);
        conn_close(c, REASON_SLOW, "slow player disconnected");
    } else if (hc->state == HLS_READING && !evbuffer_get_length(c->out) &&
               now_ms - hc->since_ms > (int64_t)conf->http_flv_request_timeout_ms) {
        conn_close(c, REASON_TIMEOUT, "keep-alive idle");
    } else if (hc->state == HLS_STARTING && hc->started) {
        stream_player_stop(&hc->starter);
        hc->starting = hc->started = 0;
        hc->state = HLS_READING;
        start_session(hc);
        if (!c->closing && evbuffer_get_length(c->out) && !c->wblocked)
            conn_flush(c);
    } else if (hc->state == HLS_WAITING && now_ms - hc->since_ms > hc->hold_ms) {
        respond_error(hc, 503, "not available in time", "Retry-After: 1\r\n");
    } else if (hc->state == HLS_WAITING) {
        hls_sess_t *sess = hls_sess_by_id(hc->sess_id);
        if (sess)
            hls_sess_touch(sess, 0);
    }
}

static void hls_on_close(conn_t *c)
{
    hls_conn_t *hc = c->ps;
    if (!hc)
        return;
    admit_cancel(hc->auth);
    unhold(hc);
    if (hc->starting)
        stream_player_stop(&hc->starter);
    http_req_parser_free(hc->parser);
    if (hc->pend)
        evbuffer_free(hc->pend);
    if (hc->resume_ev)
        event_free(hc->resume_ev);
    free(hc);
    c->ps = NULL;
}

static const conn_proto_t SESS_HLS_PROTO = {
    .name = "http-flv", /* the media port's connection; the HLS session is hls_sess.h's */
    .on_read = hls_on_read,
    .on_tick = hls_on_tick,
    .on_close = hls_on_close,
    .carrier = 1, /* the HLS sessions are listed, not their connections */
};

int sess_hls_wants(const http_req_t *req)
{
    hls_req_t hr;
    return hls_path_parse(req->path, &hr) != 0;
}

void sess_hls_take(conn_t *c, http_req_parser_t *parser, const http_req_t *req, const uint8_t *rest,
                   size_t rest_len, sess_hls_back_fn back)
{
    hls_conn_t *hc = calloc(1, sizeof *hc);
    if (!hc) {
        http_req_parser_free(parser);
        c->ps = NULL;
        conn_close(c, REASON_ERROR, "out of memory");
        return;
    }
    hc->conn = c;
    hc->parser = parser;
    hc->back = back;
    hc->waiter.wake = waiter_wake;
    c->proto = &SESS_HLS_PROTO;
    c->ps = hc;
    if (rest_len && keep_pending(hc, rest, rest_len) != 0)
        return;
    if (handle(hc, req) || serve_pending(hc))
        return;
    if (!c->closing && evbuffer_get_length(c->out) && !c->wblocked)
        conn_flush(c);
}
