#include "sess_wsflv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flv.h"
#include "log.h"
#include "ws.h"
#include "worker.h"

struct wsflv {
    ws_parser_t parser;
    char accept[WS_ACCEPT_LEN + 1];
    int upgraded;        /* 101 queued: frames flow both ways */
    int close_sent;      /* our close frame is queued */
    int echo;            /* the client closed: echo its close */
    uint16_t close_code; /* the code to send (0: by the end's reason, or none for an echo) */
    int64_t last_rx_ms;  /* last complete frame from the client */
    int64_t last_ping_ms;
    uint32_t ping_ms, idle_ms; /* http_flv.ws_ping_ms, ws_idle_timeout_ms */
};

int wsflv_check(const http_req_t *req, wsflv_t **out, const char **why)
{
    char accept[WS_ACCEPT_LEN + 1];
    *out = NULL;
    ws_hs_t rc = ws_handshake_check(req->method, req->headers, req->nheaders, accept, why);
    if (rc != WS_HS_OK)
        return (int)rc; /* WS_HS_NONE is 0, the others their status */
    wsflv_t *ws = calloc(1, sizeof *ws);
    if (!ws) {
        *why = "out of memory";
        return 503;
    }
    ws_parser_init(&ws->parser, WSFLV_MAX_DATA);
    memcpy(ws->accept, accept, sizeof accept);
    *out = ws;
    return 1;
}

void wsflv_free(wsflv_t *ws)
{
    free(ws);
}

void wsflv_respond(wsflv_t *ws, const sink_t *out, const conf_t *conf, int64_t now_ms)
{
    char head[256];
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 101 Switching Protocols\r\n"
                        "Server: weir/" WEIR_VERSION "\r\n"
                        "Upgrade: websocket\r\n"
                        "Connection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: %s\r\n\r\n",
                        ws->accept);
    out->send(out->arg, head, (size_t)hlen);
    uint8_t frame[WS_HDR_MAX + FLV_HEADER_SIZE + FLV_PREV_SIZE];
    size_t n = ws_frame_header(frame, WS_OP_BINARY, FLV_HEADER_SIZE + FLV_PREV_SIZE);
    n += flv_write_file_header(frame + n, 1, 1);
    out->send(out->arg, frame, n);
    ws->upgraded = 1;
    ws->ping_ms = conf->http_flv_ws_ping_ms;
    ws->idle_ms = conf->http_flv_ws_idle_timeout_ms;
    ws->last_rx_ms = ws->last_ping_ms = now_ms;
}

/* Queues a control frame with payload (at most WS_CONTROL_MAX bytes). */
static void send_control(const sink_t *out, uint8_t opcode, const uint8_t *payload, size_t len)
{
    uint8_t frame[WS_HDR_MAX + WS_CONTROL_MAX];
    size_t n = ws_frame_header(frame, opcode, len);
    if (len)
        memcpy(frame + n, payload, len);
    out->send(out->arg, frame, n + len);
}

static int end_with(wsflv_end_t *end, reason_t why, const char *reason)
{
    end->why = why;
    end->reason = reason;
    return 1;
}

/* One complete frame: 1 when it ends the session. */
static int on_frame(wsflv_t *ws, const sink_t *out, const ws_frame_t *f, wsflv_end_t *end)
{
    switch (f->opcode) {
    case WS_OP_PING: send_control(out, WS_OP_PONG, f->payload, (size_t)f->len); return 0;
    case WS_OP_CLOSE:
        ws->echo = 1;
        ws->close_code = f->close_code;
        log_debug(out->sess_id, "ws-flv: client closed (code %u)", f->close_code);
        return end_with(end, REASON_EOF, "the client closed the WebSocket");
    default: return 0; /* pongs; data frames are read and ignored */
    }
}

int wsflv_on_read(wsflv_t *ws, const sink_t *out, const uint8_t *data, size_t len, int64_t now_ms,
                  wsflv_end_t *end)
{
    if (!ws->upgraded) /* RFC 6455 4.1: a client sends frames only after the 101 */
        return end_with(end, REASON_PROTOCOL, "WebSocket frames before the upgrade");
    while (len) {
        size_t used = 0;
        ws_frame_t f;
        const char *err = NULL;
        parse_rc_t rc = ws_parser_feed(&ws->parser, data, len, &used, &f, &err);
        if (rc < 0) {
            ws->close_code = ws_parser_close_code(&ws->parser);
            log_info(out->sess_id, "ws-flv: %s from %s (close %u)", err, out->remote,
                     ws->close_code);
            return end_with(end, REASON_PROTOCOL, err);
        }
        data += used;
        len -= used;
        if (rc != PARSE_OK)
            break;
        ws->last_rx_ms = now_ms;
        if (on_frame(ws, out, &f, end))
            return 1;
    }
    return 0;
}

int wsflv_on_tick(wsflv_t *ws, const sink_t *out, int64_t now_ms, wsflv_end_t *end)
{
    if (!ws->upgraded || ws->close_sent)
        return 0;
    if (now_ms - ws->last_rx_ms > (int64_t)ws->idle_ms) {
        log_info(out->sess_id, "ws-flv: %s sent no frame for %u ms, closing", out->remote,
                 ws->idle_ms);
        return end_with(end, REASON_TIMEOUT, "no frame from the WebSocket client in time");
    }
    if (now_ms - ws->last_ping_ms >= (int64_t)ws->ping_ms) {
        send_control(out, WS_OP_PING, NULL, 0);
        ws->last_ping_ms = now_ms;
    }
    return 0;
}

static uint16_t close_code_for(reason_t why)
{
    switch (why) {
    case REASON_STREAM_ENDED: return WS_CLOSE_NORMAL;
    case REASON_KICKED: return WS_CLOSE_POLICY;
    case REASON_PROTOCOL: return WS_CLOSE_PROTOCOL;
    default: return WS_CLOSE_GOING_AWAY; /* shutdown, drain, idle cut */
    }
}

/* Queues the rest of the media frame partly written, if any: 0, or -1 when
 * it cannot be finished (then no close frame may follow). */
static int finish_frame(const sink_t *out)
{
    player_t *p = out->player;
    if (!p || !p->offset)
        return 0;
    struct iovec iov[4];
    int n = stream_player_iov(p, iov, 4, 1, weir_mono_ms());
    log_debug(out->sess_id, "ws-flv: finishing a frame %u bytes in before the close", p->offset);
    if (n <= 0)
        return -1;
    /* ahead of any control frame queued while it was half out (a pong) */
    for (int i = n - 1; i >= 0; i--)
        if (out->send_first(out->arg, iov[i].iov_base, iov[i].iov_len) != 0)
            return -1;
    return 0;
}

void wsflv_send_close(wsflv_t *ws, const sink_t *out, reason_t why)
{
    if (!ws->upgraded || ws->close_sent)
        return;
    ws->close_sent = 1;
    if (finish_frame(out) != 0)
        return;
    if (ws->echo && !ws->close_code) { /* the client's close had no code: none back */
        send_control(out, WS_OP_CLOSE, NULL, 0);
        return;
    }
    uint8_t frame[4];
    out->send(out->arg, frame,
              ws_frame_close(frame, ws->close_code ? ws->close_code : close_code_for(why)));
}

/* ---- on a worker thread (worker.h) --------------------------------------- */

static int worker_on_read(void *state, const sink_t *out, const uint8_t *data, size_t len,
                          int64_t now_ms, reason_t *why, const char **reason)
{
    wsflv_end_t end;
    if (!wsflv_on_read(state, out, data, len, now_ms, &end))
        return 0;
    *why = end.why;
    *reason = end.reason;
    return 1;
}

static int worker_on_tick(void *state, const sink_t *out, int64_t now_ms, reason_t *why,
                          const char **reason)
{
    wsflv_end_t end;
    if (!wsflv_on_tick(state, out, now_ms, &end))
        return 0;
    *why = end.why;
    *reason = end.reason;
    return 1;
}

static void worker_on_end(void *state, const sink_t *out, reason_t why)
{
    wsflv_send_close(state, out, why);
}

static void worker_free(void *state)
{
    wsflv_free(state);
}

const worker_proto_t WSFLV_WORKER_PROTO = {
    .name = WSFLV_PROTOCOL,
    .on_read = worker_on_read,
    .on_tick = worker_on_tick,
    .on_end = worker_on_end,
    .free = worker_free,
};
