/* wsc: the client side of WebSocket (contract in wsc.h). */
#include "wsc.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- opening handshake -------------------------------------------------- */

int wsc_key_new(char key[WSC_KEY_LEN + 1])
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return NODE_ENOMEM;
    if (EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw) != WSC_KEY_LEN)
        return NODE_ENOMEM;
    key[WSC_KEY_LEN] = '\0';
    return 0;
}

int wsc_request(char *out, size_t cap, const char *target, const char *host_hdr, const char *key,
                const char *agent)
{
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     target, host_hdr, agent, key);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* Whether header name of resp is a list holding token tok (any case). */
static int header_has_token(const http_resp_t *resp, const char *name, const char *tok)
{
    const char *v = http_resp_header(resp, name), *e;
    size_t n, tlen = strlen(tok);
    while (v && (e = http_list_next(&v, &n)) != NULL)
        if (n == tlen && strncasecmp(e, tok, n) == 0)
            return 1;
    return 0;
}

int wsc_response_check(const http_resp_t *resp, const char *key, const char **err)
{
    char expect[WS_ACCEPT_LEN + 1];
    *err = NULL;
    if (resp->status != 101)
        return WSC_REFUSED;
    if (!header_has_token(resp, "Upgrade", "websocket"))
        *err = "the 101 response has no Upgrade: websocket";
    else if (!header_has_token(resp, "Connection", "upgrade"))
        *err = "the 101 response has no Connection: Upgrade";
    else if (!http_resp_header(resp, "Sec-WebSocket-Accept"))
        *err = "the 101 response has no Sec-WebSocket-Accept";
    else if (ws_accept_value(key, expect) != 0)
        *err = "cannot compute Sec-WebSocket-Accept";
    else if (strcmp(http_resp_header(resp, "Sec-WebSocket-Accept"), expect) != 0)
        *err = "Sec-WebSocket-Accept does not match the key sent";
    else if (http_resp_header(resp, "Sec-WebSocket-Extensions"))
        *err = "the server chose an extension that was not offered";
    else if (http_resp_header(resp, "Sec-WebSocket-Protocol"))
        *err = "the server chose a subprotocol that was not offered";
    return *err ? NODE_EPROTO : 0;
}

/* ---- frames from the server --------------------------------------------- */

void wsc_parser_init(wsc_parser_t *p, uint64_t max_message)
{
    memset(p, 0, sizeof *p);
    p->max_message = max_message;
    p->stage = WSC_ST_HEAD;
}

uint16_t wsc_parser_close_code(const wsc_parser_t *p)
{
    if (p->stage != WSC_ST_FAILED)
        return 0;
    return p->fail_rc == PARSE_ERR_TOO_BIG ? WS_CLOSE_TOO_BIG : WS_CLOSE_PROTOCOL;
}

static parse_rc_t failed(wsc_parser_t *p, parse_rc_t rc, const char *msg)
{
    p->stage = WSC_ST_FAILED;
    p->fail_rc = rc;
    p->fail_err = msg;
    return rc;
}

static int is_control(uint8_t op)
{
    return (op & 0x8) != 0;
}

/* The frame's length is known: the data bound, then its payload. */
static parse_rc_t start_payload(wsc_parser_t *p)
{
    uint8_t op = p->b0 & 0x0f;
    if (!is_control(op)) {
        if (p->plen > p->max_message - p->msg_len)
            return failed(p, PARSE_ERR_TOO_BIG, "data message over the size bound");
        if (op != WS_OP_CONT)
            p->msg_opcode = op;
    }
    p->got = 0;
    p->stage = WSC_ST_PAYLOAD;
    return PARSE_NEED_MORE;
}

/* The first two bytes are in: checks them, picks the next stage. */
static parse_rc_t on_head(wsc_parser_t *p)
{
    p->b0 = p->head[0];
    p->b1 = p->head[1];
    uint8_t op = p->b0 & 0x0f, len7 = p->b1 & 0x7f;
    if (p->b0 & 0x70)
        return failed(p, PARSE_ERR_PROTO, "reserved bits set (no extension was negotiated)");
    if (op > WS_OP_PONG || (op > WS_OP_BINARY && op < WS_OP_CLOSE))
        return failed(p, PARSE_ERR_PROTO, "unknown opcode");
    if (p->b1 & 0x80)
        return failed(p, PARSE_ERR_PROTO, "a server frame must not be masked");
    if (is_control(op) && (!(p->b0 & 0x80) || len7 > WS_CONTROL_MAX))
        return failed(p, PARSE_ERR_PROTO, "fragmented or over-long control frame");
    if (op == WS_OP_CONT && !p->msg_opcode)
        return failed(p, PARSE_ERR_PROTO, "continuation frame without a message");
    if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && p->msg_opcode)
        return failed(p, PARSE_ERR_PROTO, "new data message inside a fragmented one");
    p->head_have = 0;
    if (len7 < 126) {
        p->plen = len7;
        return start_payload(p);
    }
    p->ext_have = 0;
    p->ext_need = len7 == 126 ? 2 : 8;
    p->stage = WSC_ST_EXTLEN;
    return PARSE_NEED_MORE;
}

/* The extended length is in: 63 bits, in its shortest form. */
static parse_rc_t on_extlen(wsc_parser_t *p)
{
    uint64_t v = 0;
    for (size_t k = 0; k < p->ext_need; k++)
        v = (v << 8) | p->ext[k];
    if (v >> 63)
        return failed(p, PARSE_ERR_PROTO, "payload length over 2^63");
    if (v < (p->ext_need == 2 ? 126u : 65536u))
        return failed(p, PARSE_ERR_PROTO, "payload length not in its shortest form");
    p->plen = v;
    return start_payload(p);
}

/* A control frame's payload is complete: the event, a close checked. */
static parse_rc_t control_done(wsc_parser_t *p, wsc_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = WSC_EV_CONTROL;
    ev->opcode = p->b0 & 0x0f;
    ev->data = p->ctl;
    ev->len = (size_t)p->plen;
    if (ev->opcode == WS_OP_CLOSE && p->plen == 1)
        return failed(p, PARSE_ERR_PROTO, "close frame with a one-byte payload");
    if (ev->opcode == WS_OP_CLOSE && p->plen >= 2) {
        ev->close_code = (uint16_t)(p->ctl[0] << 8 | p->ctl[1]);
        ev->reason_len = (size_t)p->plen - 2;
        if (!ws_close_code_valid(ev->close_code))
            return failed(p, PARSE_ERR_PROTO, "close frame with an invalid code");
    }
    p->stage = WSC_ST_HEAD;
    return PARSE_OK;
}

/* Payload bytes at src[*i..len): control ones gathered, data ones handed
 * out where they are. PARSE_OK with an event, or PARSE_NEED_MORE. */
static parse_rc_t on_payload(wsc_parser_t *p, const uint8_t *src, size_t len, size_t *i,
                             wsc_event_t *ev)
{
    uint64_t n = p->plen - p->got;
    if (n > len - *i)
        n = len - *i;
    if (is_control(p->b0 & 0x0f)) {
        memcpy(p->ctl + p->got, src + *i, (size_t)n);
        p->got += n;
        *i += (size_t)n;
        return p->got == p->plen ? control_done(p, ev) : PARSE_NEED_MORE;
    }
    if (n == 0 && p->got < p->plen)
        return PARSE_NEED_MORE;
    memset(ev, 0, sizeof *ev);
    ev->kind = WSC_EV_DATA;
    ev->opcode = p->msg_opcode;
    ev->data = src + *i;
    ev->len = (size_t)n;
    p->got += n;
    *i += (size_t)n;
    if (p->got == p->plen) {
        int fin = (p->b0 & 0x80) != 0;
        ev->end = fin;
        p->msg_len = fin ? 0 : p->msg_len + p->plen;
        if (fin)
            p->msg_opcode = 0;
        p->stage = WSC_ST_HEAD;
    }
    return PARSE_OK;
}

/* One header byte into the stage that gathers it. */
static parse_rc_t header_byte(wsc_parser_t *p, uint8_t b)
{
    if (p->stage == WSC_ST_HEAD) {
        p->head[p->head_have++] = b;
        return p->head_have == 2 ? on_head(p) : PARSE_NEED_MORE;
    }
    p->ext[p->ext_have++] = b;
    return p->ext_have == p->ext_need ? on_extlen(p) : PARSE_NEED_MORE;
}

parse_rc_t wsc_parser_feed(wsc_parser_t *p, const uint8_t *src, size_t len, size_t *used,
                           wsc_event_t *ev, const char **err)
{
    size_t i = 0;
    parse_rc_t rc = PARSE_NEED_MORE;
    *used = 0;
    while (p->stage != WSC_ST_FAILED) {
        if (p->stage == WSC_ST_PAYLOAD)
            rc = on_payload(p, src, len, &i, ev);
        else if (i < len)
            rc = header_byte(p, src[i++]);
        if (rc == PARSE_OK) {
            *used = i;
            return PARSE_OK;
        }
        if (i == len && (p->stage != WSC_ST_PAYLOAD || p->got < p->plen))
            break;
    }
    if (p->stage == WSC_ST_FAILED) {
        *err = p->fail_err;
        return p->fail_rc;
    }
    *used = i;
    return PARSE_NEED_MORE;
}

/* ---- frames to the server ----------------------------------------------- */

size_t wsc_frame_control(uint8_t out[WSC_CONTROL_FRAME_MAX], uint8_t opcode, const uint8_t *payload,
                         size_t len)
{
    if (len > WS_CONTROL_MAX || !is_control(opcode))
        return 0;
    size_t h = ws_frame_header(out, opcode, len); /* 2 bytes: len < 126 */
    out[1] |= 0x80;                               /* masked, as a client must */
    uint8_t *mask = out + h;
    if (RAND_bytes(mask, 4) != 1)
        return 0;
    for (size_t k = 0; k < len; k++)
        out[h + 4 + k] = payload[k] ^ mask[k & 3];
    return h + 4 + len;
}

size_t wsc_frame_close(uint8_t out[WSC_CONTROL_FRAME_MAX], uint16_t code)
{
    uint8_t pl[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    return wsc_frame_control(out, WS_OP_CLOSE, pl, code ? 2 : 0);
}
