/* sess_httpflv: HTTP-FLV playback, GET /APP/NAME.flv, and HTTP-TS
 * playback, GET /APP/NAME.ts, on the media plane. The two differ only in
 * the bytes sent (the FLV tags, or the stream's MPEG-TS packets: msg.h)
 * and in the protocol name of the session ("http-flv", "http-ts").
 *
 * One request per connection: the response streams until the stream ends
 * (chunked transfer for HTTP/1.1 clients, plain body with Connection: close
 * for HTTP/1.0). The request head is read by the bounded http_req parser and
 * must arrive within http_flv.request_timeout_ms of the connection.
 *
 * The request goes through the admission chain (admit.h), which may wait for
 * the hooks' decision: no 200 before it. Its refusals are answered here:
 * a relay's request carries X-Weir-Hops (1..999) and X-Weir-Via (node ids),
 * and a loop is answered 508 Loop Detected; a draining node (drain.h)
 * answers 302 to its redirect URL plus the request target, or 503 with
 * Retry-After; the "apps" rules 403 for an address not allowed and 401 for
 * a missing, bad or expired signed URL; the hooks 403.
 *
 * A request with "Upgrade: websocket" becomes a WebSocket-FLV player
 * (sess_wsflv.h) after the same admission: 101, then binary frames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admit.h"
#include "common.h"
#include "conn.h"
#include "flv.h"
#include "http_req.h"
#include "http_status.h"
#include "log.h"
#include "relay_hops.h"
#include "sess_hls.h"
#include "sess_httpflv.h"
#include "sess_wsflv.h"
#include "worker.h"

#define HTTP_RELAY_MAX_HOPS 999 /* largest X-Weir-Hops accepted */

/* READING the request; AUTHORIZING: waiting for the hooks' decision;
 * WAITING for a publisher; STREAMING; DONE (closing). */
typedef enum { HS_READING, HS_AUTHORIZING, HS_WAITING, HS_STREAMING, HS_DONE } http_state_t;

typedef struct {
    conn_t *conn;
    http_state_t state;
    http_req_parser_t *parser;
    int chunked;
    int head;
    int ts; /* GET /APP/NAME.ts: MPEG-TS */
    /* The stream named by the request's path: "" until it is read, then
     * into names (owned: one allocation, "app\0name\0"; not inline arrays
     * of the largest names, which cost 384 bytes a player). */
    const char *app, *name;
    char *names;
    player_t player;
    char *via; /* X-Weir-Via, for player.via: owned, NULL unless sent (< RELAY_VIA_MAX) */
    admit_pending_t *auth;   /* while HS_AUTHORIZING */
    int playing;
    int ev_play;           /* play.start recorded: play.stop is owed */
    int64_t ev_start_ms;   /* when play started */
    int64_t done_since_ms; /* when the tick first saw the connection closing after flush */
    reason_t refusal;      /* an admission refusal's code for the next response (or NONE) */
    wsflv_t *ws;           /* a WebSocket-FLV player (sess_wsflv.h), or NULL */
    int ws_handed;         /* a WebSocket-FLV player handed to a worker (ws: the worker's) */
} http_sess_t;

/* The reason code (reason.h) of a response that ends the session. */
static reason_t status_reason(const http_sess_t *hs, int code)
{
    if (hs->refusal != REASON_NONE)
        return hs->refusal;
    switch (code) {
    case 302: return REASON_DRAIN;
    case 401:
    case 403: return REASON_REFUSED;
    case 404: return REASON_NOT_FOUND;
    case 408: return REASON_TIMEOUT;
    case 503: return hs->conn->node->draining ? REASON_DRAIN : REASON_REFUSED;
    case 508: return REASON_LOOP;
    default: return code >= 500 ? REASON_ERROR : REASON_PROTOCOL;
    }
}

/* A complete non-streaming response with extra header lines (each ending
 * in CRLF, or ""); the connection closes once it is written. */
static void respond_with(http_sess_t *hs, int code, const char *why, const char *extra)
{
    conn_t *c = hs->conn;
    char body[256];
    int blen = snprintf(body, sizeof body, "%d %s: %s\n", code, http_status_text(code), why);
    if (blen < 0)
        blen = 0;
    else if ((size_t)blen >= sizeof body)
        blen = (int)sizeof body - 1; /* truncated */
    evbuffer_add_printf(c->out,
                        "HTTP/1.1 %d %s\r\n"
                        "Server: weir/" WEIR_VERSION "\r\n"
                        "Content-Type: text/plain\r\n"
                        "Content-Length: %d\r\n"
                        "%s%s"
                        "Connection: close\r\n\r\n",
                        code, http_status_text(code), blen, code == 405 ? "Allow: GET, HEAD\r\n" : "",
                        extra);
    if (!hs->head)
        conn_send(c, body, (size_t)blen);
    hs->state = HS_DONE;
    log_info(c->id, "http-flv: %d %s", code, why);
    conn_close_after_flush(c, status_reason(hs, code), http_status_text(code));
}

/* A complete error response; the connection closes once it is written. */
static void respond_error(http_sess_t *hs, int code, const char *why)
{
    respond_with(hs, code, why, "");
}

/* The node is draining: 302 to the redirect URL plus the request target, or
 * 503 with Retry-After (node_drain_answer()). */
static void respond_draining(http_sess_t *hs, const char *target)
{
    char *header;
    int code = node_drain_answer(hs->conn->node, target, &header);
    respond_with(hs, code, code == 302 ? "node is draining, try the Location" : "node is draining",
                 header ? header : "");
    free(header);
}
/* The HTTP-FLV status line, headers and FLV file header; 0, or -1 when the
 * response is complete (HEAD). */
static int respond_flv_head(http_sess_t *hs)
{
    conn_t *c = hs->conn;
    const conf_t *conf = &c->node->conf;
    char head[1024];
    char cors[320] = "";
    if (conf->http_flv_cors_origin[0])
        snprintf(cors, sizeof cors, "Access-Control-Allow-Origin: %s\r\n",
                 conf->http_flv_cors_origin);
    /* Another node's relay link learns the stream's source identity. */
    char src[RELAY_SOURCE_MAX] = "", srch[RELAY_SOURCE_MAX + 32] = "";
    uint32_t off = 0;
    const char *id = hs->player.hops > 0 ? stream_player_source(&hs->player, &off) : "";
    if (id[0] && relay_source_format(src, id, off) == 0)
        snprintf(srch, sizeof srch, RELAY_SOURCE_HEADER ": %s\r\n", src);
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 200 OK\r\n"
                        "Server: weir/" WEIR_VERSION "\r\n"
                        "Content-Type: %s\r\n"
                        "%s"
                        "Cache-Control: no-cache, no-store\r\n"
                        "%s%s"
                        "Connection: close\r\n\r\n",
                        hs->ts ? "video/mp2t" : "video/x-flv",
                        hs->chunked ? "Transfer-Encoding: chunked\r\n" : "", cors, srch);
    conn_send(c, head, (size_t)hlen);
    if (hs->head) {
        hs->state = HS_DONE;
        conn_close_after_flush(c, REASON_DONE, "HEAD done");
        return -1;
    }
    uint8_t fh[FLV_HEADER_SIZE + FLV_PREV_SIZE];
    size_t n = flv_write_file_header(fh, 1, 1);
    if (hs->ts) {
        /* MPEG-TS has no file header */
    } else if (hs->chunked) {
        char pfx[16];
        int plen = snprintf(pfx, sizeof pfx, "%zx\r\n", n);
        conn_send(c, pfx, (size_t)plen);
        conn_send(c, fh, n);
        conn_send(c, "\r\n", 2);
    } else {
        conn_send(c, fh, n);
    }
    return 0;
}

/* The response head (HTTP-FLV's, or WebSocket-FLV's 101), then streaming. */
static void respond_stream(http_sess_t *hs)
{
    conn_t *c = hs->conn;
    sink_t out = conn_sink(c);
    if (hs->ws)
        wsflv_respond(hs->ws, &out, &c->node->conf, weir_mono_ms());
    else if (respond_flv_head(hs) != 0)
        return;
    hs->state = HS_STREAMING;
    c->player = &hs->player;
    log_info(c->id, "%s: play %s/%s from %s",
             hs->ws   ? WSFLV_PROTOCOL
             : hs->ts ? "http-ts"
                      : "http-flv",
             hs->app, hs->name, c->remote);
    sess_info_t si;
    hs->ev_start_ms = weir_mono_ms();
    conn_info(c, hs->ev_start_ms, &si);
    hs->ev_play = 1;
    conn_event(c->node, "play.start", &si, 0, 0, REASON_NONE, NULL);
    /* workers > 1: an HTTP-FLV, HTTP-TS or WebSocket-FLV player may be
     * written by a worker thread from here on (worker.h), which takes the
     * WebSocket state; the session stays listed here. */
    if (hs->player.hops == 0 &&
        worker_handover(c, &hs->player, hs->ws ? &WSFLV_WORKER_PROTO : NULL, hs->ws) == 0) {
        hs->playing = 0;
        hs->ws_handed = hs->ws != NULL;
        hs->ws = NULL; /* the worker's now */
    }
}

/* play.stop, once, if play.start was recorded. */
static void play_stop_event(http_sess_t *hs, reason_t why, const char *reason)
{
    if (!hs->ev_play)
        return;
    hs->ev_play = 0;
    sess_info_t si;
    int64_t now = weir_mono_ms();
    conn_info(hs->conn, now, &si);
    si.role = SESS_ROLE_PLAYER;
    si.dropped_frames = hs->player.dropped_frames + worker_conn_dropped(hs->conn);
    conn_event(hs->conn->node, "play.stop", &si, 1, now - hs->ev_start_ms, why, reason);
}

static void player_wake(player_t *p)
{
    http_sess_t *hs = p->owner;
    if (!hs->conn->wblocked)
        conn_flush(hs->conn);
}

/* Ends the response (the last chunk, or a WebSocket close frame) and the
 * session once it is written. */
static void end_stream(http_sess_t *hs, reason_t why, const char *reason)
{
    conn_t *c = hs->conn;
    if (hs->ws && hs->state == HS_STREAMING) {
        sink_t out = conn_sink(c);
        wsflv_send_close(hs->ws, &out, why); /* reads the player's frame in flight */
    }
    if (hs->playing)
        stream_player_stop(&hs->player);
    hs->playing = 0;
    c->player = NULL;
    if (hs->chunked && hs->state == HS_STREAMING)
        conn_send(c, "0\r\n\r\n", 5);
    hs->state = HS_DONE;
    conn_close_after_flush(c, why, reason);
}

static void player_event(player_t *p, player_event_t ev)
{
    http_sess_t *hs = p->owner;
    conn_t *c = hs->conn;
    switch (ev) {
    case PLAYER_EV_STARTED:
        respond_stream(hs);
        conn_flush(c);
        break;
    case PLAYER_EV_NOT_FOUND:
        hs->playing = 0;
        respond_error(hs, 404, "stream not found");
        break;
    case PLAYER_EV_UNPUBLISHED:
    case PLAYER_EV_REPUBLISHED: break; /* the player stays through the grace period */
    case PLAYER_EV_ENDED: end_stream(hs, REASON_STREAM_ENDED, "stream ended"); break;
    case PLAYER_EV_SLOW:
        hs->playing = 0;
        c->player = NULL;
        node_limit_hit(c->node, LIMIT_SLOW_PLAYER);
        conn_close(c, REASON_SLOW, "slow player disconnected");
        break;
    }
}

static const player_ops_t HTTP_PLAYER_OPS = {player_wake, player_event};

/* "/app/name.flv" or "/app/name.ts" -> app, name (percent-decoded).
 * 0 for .flv, 1 for .ts, or -1. */
static int parse_path(const char *path, char *app, size_t applen, char *name, size_t namelen);

/* Reads the stream's app and name from the path into hs->names (a former
 * request's are freed). 0 for .flv, 1 for .ts, -1 when the path names no
 * stream, -2 when out of memory. */
static int take_path(http_sess_t *hs, const char *path)
{
    char app[STREAM_APP_MAX], name[STREAM_NAME_MAX];
    int ts = parse_path(path, app, sizeof app, name, sizeof name);
    if (ts < 0)
        return -1;
    size_t al = strlen(app) + 1, nl = strlen(name) + 1;
    char *names = malloc(al + nl);
    if (!names)
        return -2;
    memcpy(names, app, al);
    memcpy(names + al, name, nl);
    free(hs->names);
    hs->names = names;
    hs->app = names;
    hs->name = names + al;
    return ts;
}

static int parse_path(const char *path, char *app, size_t applen, char *name, size_t namelen)
{
    if (path[0] != '/')
        return -1;
    const char *a = path + 1;
    const char *slash = strchr(a, '/');
    size_t plen = strlen(path);
    int ts = plen >= 4 && strcmp(path + plen - 3, ".ts") == 0;
    size_t slen = ts ? 3 : 4;
    if (!slash || plen < slen + 1 || (!ts && strcmp(path + plen - 4, ".flv") != 0))
        return -1;
    const char *n = slash + 1;
    if (path + plen - slen < n)
        return -1;
    size_t nlen = (size_t)(path + plen - slen - n);
    if (http_url_decode(a, (size_t)(slash - a), app, applen) != 0 ||
        http_url_decode(n, nlen, name, namelen) != 0)
        return -1;
    return ts;
}

/* The value of the only header called name: 0 with *value (NULL when
 * absent), or -1 when it appears more than once. */
static int single_header(const http_req_t *req, const char *name, const char **value)
{
    *value = NULL;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (strcasecmp(req->headers[i].name, name) != 0)
            continue;
        if (*value)
            return -1;
        *value = req->headers[i].value;
    }
    return 0;
}

/* X-Weir-Hops: 1 to 3 digits, 1..HTTP_RELAY_MAX_HOPS. */
static int parse_hops(const char *v, unsigned *out)
{
    unsigned n = 0;
    size_t len = strlen(v);
    if (len == 0 || len > 3)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (unsigned)(v[i] - '0');
    }
    if (n < 1 || n > HTTP_RELAY_MAX_HOPS)
        return -1;
    *out = n;
    return 0;
}

/* The relay headers into player.hops/via (checked by admit), or answers
 * 400 and returns -1. */
static int read_relay_headers(http_sess_t *hs, const http_req_t *req)
{
    const char *hops_v, *via_v;
    unsigned hops = 0;
    if (single_header(req, "X-Weir-Hops", &hops_v) != 0 ||
        single_header(req, "X-Weir-Via", &via_v) != 0) {
        respond_error(hs, 400, "repeated X-Weir-Hops or X-Weir-Via header");
        return -1;
    }
    if (hops_v && parse_hops(hops_v, &hops) != 0) {
        respond_error(hs, 400, "bad X-Weir-Hops header (expected 1..999)");
        return -1;
    }
    if (via_v && strlen(via_v) >= RELAY_VIA_MAX) {
        respond_error(hs, 400, "X-Weir-Via header too long");
        return -1;
    }
    free(hs->via);
    hs->via = via_v && via_v[0] ? strdup(via_v) : NULL;
    if (via_v && via_v[0] && !hs->via) {
        respond_error(hs, 503, "out of memory");
        return -1;
    }
    if (hops_v || via_v) { /* else an ordinary player */
        hs->player.hops = hops;
        hs->player.via = hs->via;
    }
    return 0;
}

static void start_play(http_sess_t *hs);

/* A WebSocket upgrade sets hs->ws (sess_wsflv.h); a malformed one is
 * answered (400, 426) and gives -1. */
static int check_upgrade(http_sess_t *hs, const http_req_t *req)
{
    const char *why = NULL;
    int rc = wsflv_check(req, &hs->ws, &why);
    if (rc == 1 && req->version_minor < 1) {
        wsflv_free(hs->ws);
        hs->ws = NULL;
        rc = 400;
        why = "a WebSocket upgrade needs HTTP/1.1";
    }
    if (rc == 1 && hs->ts) { /* WebSocket carries FLV tags only */
        wsflv_free(hs->ws);
        hs->ws = NULL;
        rc = 400;
        why = "a WebSocket upgrade is for /APP/NAME.flv only";
    }
    if (rc <= 1) {
        hs->chunked = hs->chunked && !hs->ws;
        return 0;
    }
    respond_with(hs, rc, why, rc == 426 ? "Sec-WebSocket-Version: 13\r\n" : "");
    return -1;
}

/* Answers a refusal of admit (admit.h): 508 for a relay loop, 302 or 503
 * when draining (target: the request's), 403 for an address not allowed,
 * 401 for a signed URL, 403 "denied: ..." for the hooks. */
static void refuse(http_sess_t *hs, const admit_result_t *r, const char *target)
{
    conn_t *c = hs->conn;
    char why[ADMIT_WHY_MAX + 16];
    hs->refusal = admit_reason(r->code);
    if (admit_is_relay(r->code)) {
        log_warn(c->id, "http-flv: relay request for %s/%s from %s refused: %s (hops %u, via %s)",
                 hs->app, hs->name, c->remote, r->why, hs->player.hops, hs->via ? hs->via : "-");
        respond_error(hs, 508, r->why);
    } else if (r->code == ADMIT_DRAINING) {
        respond_draining(hs, target);
    } else if (r->code == ADMIT_ADDRESS) {
        respond_error(hs, 403, r->why);
    } else if (admit_is_rule(r->code)) {
        respond_with(hs, 401, r->why, "WWW-Authenticate: Signed-URL\r\n");
    } else {
        snprintf(why, sizeof why, "denied: %s", r->why);
        respond_error(hs, 403, why);
    }
}

static void admit_done(void *arg, const admit_result_t *r)
{
    http_sess_t *hs = arg;
    conn_t *c = hs->conn;
    hs->auth = NULL;
    if (r->code != ADMIT_OK)
        refuse(hs, r, "");
    else
        start_play(hs);
    if (!c->closing && evbuffer_get_length(c->out) && !c->wblocked)
        conn_flush(c);
}

static void handle_request(http_sess_t *hs, const http_req_t *req)
{
    conn_t *c = hs->conn;
    hs->head = strcmp(req->method, "HEAD") == 0;
    if (!hs->head && strcmp(req->method, "GET") != 0) {
        respond_error(hs, 405, "only GET and HEAD are served here");
        return;
    }
    /* A GET carries no body here; one announced would be read as the next
     * request's bytes. Refused, as a request smuggling attempt would be. */
    if (req->chunked || req->content_length > 0) {
        respond_error(hs, 400, "a request body is not accepted here");
        return;
    }
    hs->chunked = req->version_minor >= 1;
    hs->ts = take_path(hs, req->path);
    if (hs->ts < 0) {
        int oom = hs->ts == -2;
        hs->ts = 0;
        if (oom)
            respond_error(hs, 503, "out of memory");
        else
            respond_error(hs, 404, "not a stream path (expected /APP/NAME.flv or /APP/NAME.ts)");
        return;
    }
    if (check_upgrade(hs, req) != 0)
        return;
    /* The query is not logged: it may hold a signed URL's signature. */
    log_debug(c->id, "http-flv: %s %s%s", req->method, req->path, req->query[0] ? "?..." : "");
    if (read_relay_headers(hs, req) != 0)
        return;
    sess_info_t si;
    conn_info(c, weir_mono_ms(), &si);
    si.app = hs->app;
    si.name = hs->name;
    admit_req_t ar = {ADMIT_PLAY, &si, req->query, hs->player.hops, hs->via ? hs->via : "", NULL};
    admit_result_t r;
    admit_code_t code = admit_check(c->node, &ar, admit_done, hs, &hs->auth, &r);
    if (code == ADMIT_PENDING)
        hs->state = HS_AUTHORIZING;
    else if (code != ADMIT_OK)
        refuse(hs, &r, req->target);
    else
        start_play(hs);
}

/* Attaches the player (or waits for the stream) and answers. */
static void start_play(http_sess_t *hs)
{
    conn_t *c = hs->conn;
    const conf_t *conf = &c->node->conf;
    hs->player.ops = &HTTP_PLAYER_OPS;
    hs->player.owner = hs;
    hs->player.sess_id = c->id;
    hs->player.enc = hs->ws   ? MSG_ENC_WS_FLV
                     : hs->ts ? (hs->chunked ? MSG_ENC_TS_CHUNKED : MSG_ENC_TS)
                              : (hs->chunked ? MSG_ENC_FLV_CHUNKED : MSG_ENC_FLV);
    hs->player.relay = hs->player.hops > 0; /* counted as a relay link, not a viewer */
    uint32_t wait = (conf->http_flv_wait_for_stream && !hs->head) ? conf->stream_play_wait_ms : 0;
    int rc = stream_play(c->node->hub, hs->app, hs->name, &hs->player, wait, weir_mono_ms());
    if (rc == 0) {
        hs->playing = 1;
        if (hs->head) {
            stream_player_stop(&hs->player);
            hs->playing = 0;
        }
        respond_stream(hs);
    } else if (rc == 1) {
        hs->playing = 1;
        hs->state = HS_WAITING;
    } else if (rc == NODE_EINVAL) {
        respond_error(hs, 404, "invalid stream name");
    } else if (rc == NODE_ELIMIT) {
        node_limit_hit(c->node, LIMIT_MAX_STREAMS);
        respond_with(hs, 503, "too many streams", "Retry-After: 1\r\n");
    } else {
        respond_error(hs, 404, "stream not found");
    }
}

/* A WebSocket client's bytes (after its request). */
static void ws_read(http_sess_t *hs, const uint8_t *data, size_t len)
{
    conn_t *c = hs->conn;
    wsflv_end_t end;
    if (hs->state == HS_DONE)
        return;
    sink_t out = conn_sink(c);
    if (wsflv_on_read(hs->ws, &out, data, len, weir_mono_ms(), &end))
        end_stream(hs, end.why, end.reason);
    else if (!c->closing && evbuffer_get_length(c->out) && !c->wblocked)
        conn_flush(c);
}

/* The request is answered (or being streamed): its parser goes, and what
 * the answer queued is written. */
static void request_done(http_sess_t *hs)
{
    conn_t *c = hs->conn;
    http_req_parser_free(hs->parser);
    hs->parser = NULL;
    if (!c->closing && evbuffer_get_length(c->out) && !c->wblocked)
        conn_flush(c);
}

static http_sess_t *sess_new(conn_t *c, http_req_parser_t *parser);

/* sess_hls_back_fn: a request that is not HLS on a connection HLS took
 * (a browser's pooled keep-alive connection) is served as on a new one. */
static void http_take_back(conn_t *c, http_req_parser_t *parser, const http_req_t *req)
{
    http_sess_t *hs = sess_new(c, parser);
    if (!hs)
        return;
    handle_request(hs, req);
    request_done(hs);
}

static void http_on_read(conn_t *c, const uint8_t *data, size_t len)
{
    http_sess_t *hs = c->ps;
    if (hs->ws && hs->state != HS_READING) {
        ws_read(hs, data, len);
        return;
    }
    if (hs->state != HS_READING)
        return; /* one request per connection: later bytes are ignored */
    size_t used = 0;
    const http_req_t *req = NULL;
    const char *err = NULL;
    parse_rc_t rc = http_req_feed(hs->parser, data, len, &used, &req, &err);
    if (rc == PARSE_NEED_MORE)
        return;
    if (rc == PARSE_ERR_TOO_BIG) {
        node_limit_hit(c->node, LIMIT_HEADER_TOO_LARGE);
        respond_error(hs, 431, err ? err : "request head too large");
    } else if (rc != PARSE_OK) {
        respond_error(hs, 400, err ? err : "malformed request");
    } else if (sess_hls_wants(req)) { /* HLS: its own session takes c and the parser */
        sess_hls_take(c, hs->parser, req, data + used, len - used, http_take_back);
        free(hs);
        return;
    } else {
        handle_request(hs, req);
    }
    request_done(hs);
}

static void http_on_tick(conn_t *c, int64_t now_ms)
{
    http_sess_t *hs = c->ps;
    if (hs->state == HS_READING &&
        now_ms - c->start_ms > (int64_t)c->node->conf.http_flv_request_timeout_ms) {
        log_info(c->id, "http-flv: request timeout from %s", c->remote);
        node_limit_hit(c->node, LIMIT_REQUEST_TIMEOUT);
        /* The client may still be sending: answer 408 and close. */
        respond_error(hs, 408, "request not received in time");
        return;
    }
    wsflv_end_t end;
    if (hs->ws && hs->state == HS_STREAMING) {
        sink_t out = conn_sink(c);
        if (wsflv_on_tick(hs->ws, &out, now_ms, &end))
            end_stream(hs, end.why, end.reason);
        else if (!c->closing && evbuffer_get_length(c->out) && !c->wblocked)
            conn_flush(c);
    }
    /* The last bytes of a response (an error, the end of the stream) that
     * the client does not take: cut off like a slow player. */
    if (c->close_after_flush) {
        if (!hs->done_since_ms) {
            hs->done_since_ms = now_ms;
        } else if (now_ms - hs->done_since_ms > (int64_t)c->node->conf.player_slow_timeout_ms) {
            log_warn(c->id, "http-flv: %s does not read the end of its response, disconnecting",
                     c->remote);
            node_limit_hit(c->node, LIMIT_SLOW_PLAYER);
            conn_close(c, REASON_SLOW, "slow player disconnected");
        }
    }
}

static void http_on_close(conn_t *c)
{
    http_sess_t *hs = c->ps;
    if (!hs)
        return;
    admit_cancel(hs->auth);
    hs->auth = NULL;
    play_stop_event(hs, c->why, c->close_reason);
    if (hs->playing)
        stream_player_stop(&hs->player);
    http_req_parser_free(hs->parser);
    wsflv_free(hs->ws);
    free(hs->via);
    free(hs->names);
    free(hs);
    c->ps = NULL;
}

static void http_info(const conn_t *c, sess_info_t *out)
{
    const http_sess_t *hs = c->ps;
    if (!hs)
        return;
    out->dropped_frames = hs->player.dropped_frames;
    if (hs->ws || hs->ws_handed)
        out->protocol = WSFLV_PROTOCOL;
    else if (hs->ts)
        out->protocol = "http-ts";
    if (hs->app[0] && hs->name[0]) {
        out->role = SESS_ROLE_PLAYER;
        out->app = hs->app;
        out->name = hs->name;
    }
    if (hs->player.hops > 0) { /* another node's relay link */
        out->role = SESS_ROLE_RELAY;
        out->relay = SESS_RELAY_IN;
        out->relay_hops = hs->player.hops;
        out->relay_via = hs->via ? hs->via : "";
    }
}

/* A kick: a WebSocket player gets its close frame first. */
static void http_kick(conn_t *c, reason_t why, const char *reason)
{
    http_sess_t *hs = c->ps;
    if (hs && hs->ws && hs->state == HS_STREAMING)
        end_stream(hs, why, reason);
    else
        conn_close(c, why, reason);
}

const conn_proto_t SESS_HTTPFLV_PROTO = {
    .name = "http-flv",
    .on_read = http_on_read,
    .on_tick = http_on_tick,
    .on_close = http_on_close,
    .info = http_info,
    .on_connect = NULL, /* accepted connections only */
    .kick = http_kick,
};

/* c's session with parser (NULL: a new one), c->proto and c->ps set; NULL
 * (parser freed, c closed) when out of memory. */
static http_sess_t *sess_new(conn_t *c, http_req_parser_t *parser)
{
    http_sess_t *hs = calloc(1, sizeof *hs);
    if (hs) {
        hs->conn = c;
        hs->app = hs->name = "";
        hs->parser = parser ? parser : http_req_parser_new(c->node->conf.http_flv_max_header_bytes);
    }
    c->proto = &SESS_HTTPFLV_PROTO;
    c->ps = hs;
    if (!hs || !hs->parser) {
        if (!hs)
            http_req_parser_free(parser);
        log_error(c->id, "http-flv: out of memory for a new session");
        conn_close(c, REASON_ERROR, "out of memory");
        return NULL;
    }
    return hs;
}

void sess_httpflv_start(conn_t *c)
{
    sess_new(c, NULL);
}
