/* weir-bench, ws.c: the WebSocket-FLV client role (ws://, wss://): the
 * upgrade request, the 101 checked with wsc_response_check() (the node's
 * http_resp parses the head), then the server's frames (wsc.h): binary
 * payloads to the FLV reader (http.c), pings answered with pongs, and a
 * close frame when the player ends (1000 at the end of the run, the
 * server's code echoed, 1002/1009 after a protocol error). Shared types and
 * calls: bench.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "http_resp.h"

/* A WebSocket player's state; freed by bench_ws_release(). */
struct bench_ws {
    char key[WSC_KEY_LEN + 1];
    http_resp_parser_t *hp; /* until the 101 is read */
    wsc_parser_t parser;
    uint16_t bye_code; /* the close code to send when the player ends */
    uint8_t close_sent;
};

int bench_ws_begin(bench_t *b, conn_t *c)
{
    char req[BENCH_PATH_MAX + BENCH_HOSTHDR_MAX + 256];
    c->ws = calloc(1, sizeof *c->ws);
    if (!c->ws || !(c->ws->hp = http_resp_parser_new(BENCH_MAX_HEAD)))
        return bench_conn_fail(b, c, ERR_NOMEM, "out of memory");
    c->ws->bye_code = WS_CLOSE_NORMAL;
    if (wsc_key_new(c->ws->key) != 0)
        return bench_conn_fail(b, c, ERR_NOMEM, "no random bytes for the WebSocket key");
    int n = wsc_request(req, sizeof req, b->url.path, b->url.host_hdr, c->ws->key,
                        "weir-bench/" WEIR_VERSION);
    if (n < 0)
        return bench_conn_fail(b, c, ERR_NOMEM, "request too long");
    c->state = ST_HTTP_HEAD;
    return bench_out_write(b, c, (const uint8_t *)req, (size_t)n);
}

/* Queues a masked control frame; 0 or -1 (failed). */
static int queue_control(bench_t *b, conn_t *c, uint8_t opcode, const uint8_t *p, size_t len)
{
    uint8_t frame[WSC_CONTROL_FRAME_MAX];
    size_t n = wsc_frame_control(frame, opcode, p, len);
    if (n == 0)
        return bench_conn_fail(b, c, ERR_NOMEM, "no random bytes for a frame mask");
    return bench_out_write(b, c, frame, n);
}

/* The response head: 101 and a valid upgrade, or the player fails.
 * *used: the head's bytes of p. */
static int ws_head(bench_t *b, conn_t *c, const uint8_t *p, size_t len, size_t *used,
                   int64_t now_us)
{
    const http_resp_t *resp = NULL;
    const char *err = NULL;
    parse_rc_t rc = http_resp_feed(c->ws->hp, p, len, used, &resp, &err);
    if (rc == PARSE_NEED_MORE)
        return 0;
    if (rc != PARSE_OK)
        return bench_conn_fail(b, c, ERR_PROTOCOL, "response head: %s", err);
    int wrc = wsc_response_check(resp, c->ws->key, &err);
    if (wrc == WSC_REFUSED)
        return bench_conn_fail(b, c, ERR_HTTP_STATUS, "HTTP %d %s%s", resp->status, resp->reason,
                               resp->status < 300 ? " (not a WebSocket upgrade)" : "");
    if (wrc != 0)
        return bench_conn_fail(b, c, ERR_HANDSHAKE, "WebSocket handshake: %s", err);
    http_resp_parser_free(c->ws->hp);
    c->ws->hp = NULL;
    wsc_parser_init(&c->ws->parser, BENCH_MAX_MSG + FLV_TAG_HEADER_SIZE + FLV_PREV_SIZE);
    c->flv = flv_reader_new(BENCH_MAX_MSG);
    if (!c->flv)
        return bench_conn_fail(b, c, ERR_NOMEM, "out of memory for the FLV reader");
    bench_go_live(b, c, now_us);
    return 0;
}

/* One event of the server's frames. */
static int ws_event(bench_t *b, conn_t *c, const wsc_event_t *ev, int64_t now_us)
{
    if (ev->kind == WSC_EV_DATA) {
        if (ev->opcode == WS_OP_BINARY)
            return bench_flv_input(b, c, ev->data, ev->len, now_us);
        c->ws->bye_code = WS_CLOSE_PROTOCOL;
        return bench_conn_fail(b, c, ERR_PROTOCOL, "a text message (FLV comes in binary ones)");
    }
    if (ev->opcode == WS_OP_PING)
        return queue_control(b, c, WS_OP_PONG, ev->data, ev->len);
    if (ev->opcode != WS_OP_CLOSE)
        return 0;
    c->ws->bye_code = ev->close_code; /* echoed (none if it had none) */
    return bench_conn_fail(b, c, ERR_CLOSED, "the server closed the WebSocket (code %u)",
                           ev->close_code);
}

int bench_ws_input(bench_t *b, conn_t *c, const uint8_t *p, size_t len, int64_t now_us)
{
    if (c->state != ST_LIVE) {
        size_t used = 0;
        if (ws_head(b, c, p, len, &used, now_us) != 0 || c->state != ST_LIVE)
            return c->state == ST_CLOSED ? -1 : 0;
        p += used;
        len -= used;
    }
    while (len > 0) {
        size_t used = 0;
        wsc_event_t ev;
        const char *err = NULL;
        parse_rc_t rc = wsc_parser_feed(&c->ws->parser, p, len, &used, &ev, &err);
        if (rc < 0) {
            c->ws->bye_code = wsc_parser_close_code(&c->ws->parser);
            return bench_conn_fail(b, c, ERR_PROTOCOL, "WebSocket: %s", err);
        }
        p += used;
        len -= used;
        if (rc == PARSE_NEED_MORE)
            break;
        if (ws_event(b, c, &ev, now_us) != 0)
            return -1;
    }
    return 0;
}

void bench_ws_release(conn_t *c)
{
    struct bench_ws *ws = c->ws;
    if (!ws)
        return;
    /* The close frame, best effort, when no frame is partly queued. */
    if (c->state == ST_LIVE && c->fd >= 0 && c->out_off == c->out_len && !ws->close_sent) {
        uint8_t frame[WSC_CONTROL_FRAME_MAX];
        size_t n = wsc_frame_close(frame, ws->bye_code);
        if (n)
            tool_io_send(c->fd, c->ssl, frame, n);
        ws->close_sent = 1;
    }
    http_resp_parser_free(ws->hp);
    free(ws);
    c->ws = NULL;
}
