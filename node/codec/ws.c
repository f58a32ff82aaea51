#include "ws.h"

#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

/* RFC 6455 1.3: appended to the key before hashing. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_LEN 24 /* base64 of 16 bytes: 22 symbols and "==" */

/* ---- handshake --------------------------------------------------------- */

/* Whether the comma-separated list v holds token tok (case-insensitive). */
static int list_has(const char *v, const char *tok)
{
    size_t n, tlen = strlen(tok);
    const char *e;
    while (v && (e = http_list_next(&v, &n)) != NULL)
        if (n == tlen && strncasecmp(e, tok, n) == 0)
            return 1;
    return 0;
}

/* How many headers are called name; *value: the first one's value. */
static size_t header_count(const http_header_t *h, size_t n, const char *name, const char **value)
{
    size_t count = 0;
    *value = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(h[i].name, name) != 0)
            continue;
        if (!count++)
            *value = h[i].value;
    }
    return count;
}

static int is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* 24 characters: 22 base64 symbols and "==", which decode to 16 bytes. */
static int key_valid(const char *k)
{
    if (strlen(k) != WS_KEY_LEN || k[22] != '=' || k[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(k[i]))
            return 0;
    return 1;
}

int ws_accept_value(const char *key, char accept[WS_ACCEPT_LEN + 1])
{
    char buf[WS_KEY_LEN + sizeof WS_GUID];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t klen = strlen(key);
    if (klen > WS_KEY_LEN)
        return NODE_EINVAL;
    memcpy(buf, key, klen);
    memcpy(buf + klen, WS_GUID, sizeof WS_GUID - 1);
    if (!EVP_Digest(buf, klen + sizeof WS_GUID - 1, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
        return NODE_ENOMEM;
    if (EVP_EncodeBlock((unsigned char *)accept, md, 20) != WS_ACCEPT_LEN)
        return NODE_ENOMEM;
    accept[WS_ACCEPT_LEN] = '\0';
    return 0;
}

static ws_hs_t hs_fail(ws_hs_t rc, const char *msg, const char **err)
{
    *err = msg;
    return rc;
}

ws_hs_t ws_handshake_check(const char *method, const http_header_t *headers, size_t n,
                           char accept[WS_ACCEPT_LEN + 1], const char **err)
{
    const char *upgrade, *conn, *version, *key;
    *err = NULL;
    header_count(headers, n, "Upgrade", &upgrade);
    if (!list_has(upgrade, "websocket"))
        return WS_HS_NONE;
    if (strcmp(method, "GET") != 0)
        return hs_fail(WS_HS_BAD, "a WebSocket upgrade must be a GET", err);
    header_count(headers, n, "Connection", &conn);
    if (!list_has(conn, "upgrade"))
        return hs_fail(WS_HS_BAD, "a WebSocket upgrade needs Connection: Upgrade", err);
    size_t nv = header_count(headers, n, "Sec-WebSocket-Version", &version);
    if (nv != 1 || strcmp(version, "13") != 0)
        return hs_fail(WS_HS_VERSION, "Sec-WebSocket-Version must be 13", err);
    size_t nk = header_count(headers, n, "Sec-WebSocket-Key", &key);
    if (nk != 1 || !key_valid(key))
        return hs_fail(WS_HS_BAD, "a WebSocket upgrade needs one Sec-WebSocket-Key of 16 bytes",
                       err);
    if (ws_accept_value(key, accept) != 0)
        return hs_fail(WS_HS_BAD, "cannot compute Sec-WebSocket-Accept", err);
    return WS_HS_OK;
}

/* ---- frame parser ------------------------------------------------------ */

void ws_parser_init(ws_parser_t *p, uint64_t max_data)
{
    memset(p, 0, sizeof *p);
    p->max_data = max_data;
    p->stage = WS_ST_HEAD;
    p->hneed = 2;
}

uint16_t ws_parser_close_code(const ws_parser_t *p)
{
    return p->fail_code;
}

int ws_close_code_valid(uint16_t code)
{
    if (code >= 3000 && code <= 4999)
        return 1;
    if (code < 1000 || code > 1014)
        return 0;
    return code != 1004 && code != 1005 && code != 1006;
}

static parse_rc_t fail(ws_parser_t *p, parse_rc_t rc, const char *msg)
{
    p->stage = WS_ST_FAILED;
    p->fail_rc = rc;
    p->fail_err = msg;
    p->fail_code = rc == PARSE_ERR_TOO_BIG ? WS_CLOSE_TOO_BIG : WS_CLOSE_PROTOCOL;
    return rc;
}

static int opcode_known(uint8_t op)
{
    return op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
}

/* Gathers bytes into p->hdr until p->hneed are there: 1 when complete. */
static int gather(ws_parser_t *p, const uint8_t *src, size_t len, size_t *i)
{
    while (p->hlen < p->hneed && *i < len)
        p->hdr[p->hlen++] = src[(*i)++];
    return p->hlen == p->hneed;
}

static void next_stage(ws_parser_t *p, ws_stage_t stage, size_t need)
{
    p->stage = stage;
    p->hlen = 0;
    p->hneed = need;
}

/* The first two bytes are in: checks them, picks the next stage. */
static parse_rc_t on_head(ws_parser_t *p)
{
    p->b0 = p->hdr[0];
    p->b1 = p->hdr[1];
    uint8_t op = p->b0 & 0x0f, len7 = p->b1 & 0x7f;
    int fin = p->b0 & 0x80;
    if (p->b0 & 0x70)
        return fail(p, PARSE_ERR_PROTO, "reserved bits set (no extension was negotiated)");
    if (!opcode_known(op))
        return fail(p, PARSE_ERR_PROTO, "unknown opcode");
    if (!(p->b1 & 0x80))
        return fail(p, PARSE_ERR_PROTO, "a client frame must be masked");
    if ((op & 0x8) && !fin)
        return fail(p, PARSE_ERR_PROTO, "fragmented control frame");
    if ((op & 0x8) && len7 > WS_CONTROL_MAX)
        return fail(p, PARSE_ERR_PROTO, "control frame over 125 bytes");
    if (op == WS_OP_CONT && !p->in_message)
        return fail(p, PARSE_ERR_PROTO, "continuation frame without a message");
    if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && p->in_message)
        return fail(p, PARSE_ERR_PROTO, "new data message inside a fragmented one");
    p->got = 0;
    if (len7 == 126)
        next_stage(p, WS_ST_EXTLEN, 2);
    else if (len7 == 127)
        next_stage(p, WS_ST_EXTLEN, 8);
    else
        p->plen = len7;
    if (len7 < 126)
        next_stage(p, WS_ST_MASK, 4);
    return PARSE_NEED_MORE;
}

/* The extended length is in: minimal encoding, 63 bits. */
static parse_rc_t on_extlen(ws_parser_t *p)
{
    uint64_t v = 0;
    for (size_t i = 0; i < p->hneed; i++)
        v = (v << 8) | p->hdr[i];
    if (p->hneed == 8 && (v >> 63))
        return fail(p, PARSE_ERR_PROTO, "payload length over 2^63");
    if (v < (p->hneed == 2 ? 126u : 65536u))
        return fail(p, PARSE_ERR_PROTO, "payload length not in its shortest form");
    p->plen = v;
    next_stage(p, WS_ST_MASK, 4);
    return PARSE_NEED_MORE;
}

/* The mask is in: the data bound, then the payload (or the frame's end). */
static parse_rc_t on_mask(ws_parser_t *p)
{
    memcpy(p->mask, p->hdr, 4);
    if (!(p->b0 & 0x8) && p->plen > p->max_data - p->msg_len)
        return fail(p, PARSE_ERR_TOO_BIG, "data message too big");
    next_stage(p, WS_ST_PAYLOAD, 0);
    return p->plen ? PARSE_NEED_MORE : PARSE_OK;
}

/* Payload bytes: control ones unmasked into p->ctl, data ones counted. */
static parse_rc_t on_payload(ws_parser_t *p, const uint8_t *src, size_t len, size_t *i)
{
    uint64_t n = p->plen - p->got;
    if (n > len - *i)
        n = len - *i;
    if (p->b0 & 0x8)
        for (uint64_t k = 0; k < n; k++)
            p->ctl[p->got + k] = src[*i + k] ^ p->mask[(p->got + k) & 3];
    p->got += n;
    *i += (size_t)n;
    return p->got == p->plen ? PARSE_OK : PARSE_NEED_MORE;
}

/* A frame is complete: fills out, checks a close frame, starts over. */
static parse_rc_t complete(ws_parser_t *p, ws_frame_t *out)
{
    uint8_t op = p->b0 & 0x0f;
    memset(out, 0, sizeof *out);
    out->opcode = op;
    out->fin = (p->b0 & 0x80) != 0;
    out->len = p->plen;
    if (op & 0x8) {
        out->payload = p->ctl;
    } else {
        p->in_message = !out->fin;
        p->msg_len = out->fin ? 0 : p->msg_len + p->plen;
    }
    if (op == WS_OP_CLOSE && p->plen == 1)
        return fail(p, PARSE_ERR_PROTO, "close frame with a one-byte payload");
    if (op == WS_OP_CLOSE && p->plen >= 2) {
        out->close_code = (uint16_t)(p->ctl[0] << 8 | p->ctl[1]);
        out->reason_len = (size_t)p->plen - 2;
        if (!ws_close_code_valid(out->close_code))
            return fail(p, PARSE_ERR_PROTO, "close frame with an invalid code");
    }
    next_stage(p, WS_ST_HEAD, 2);
    return PARSE_OK;
}

/* One step of the stage machine over src[*i..len). */
static parse_rc_t step(ws_parser_t *p, const uint8_t *src, size_t len, size_t *i)
{
    switch (p->stage) {
    case WS_ST_HEAD: return gather(p, src, len, i) ? on_head(p) : PARSE_NEED_MORE;
    case WS_ST_EXTLEN: return gather(p, src, len, i) ? on_extlen(p) : PARSE_NEED_MORE;
    case WS_ST_MASK: return gather(p, src, len, i) ? on_mask(p) : PARSE_NEED_MORE;
    case WS_ST_PAYLOAD: return on_payload(p, src, len, i);
    case WS_ST_FAILED: break;
    }
    return p->fail_rc;
}

parse_rc_t ws_parser_feed(ws_parser_t *p, const uint8_t *src, size_t len, size_t *used,
                          ws_frame_t *out, const char **err)
{
    size_t i = 0;
    parse_rc_t rc = PARSE_NEED_MORE;
    *used = 0;
    while (p->stage != WS_ST_FAILED) {
        rc = step(p, src, len, &i);
        if (rc == PARSE_OK)
            rc = complete(p, out);
        if (rc != PARSE_NEED_MORE || i == len)
            break;
    }
    if (p->stage == WS_ST_FAILED) {
        *err = p->fail_err;
        return p->fail_rc;
    }
    *used = i;
    return rc;
}

/* ---- server frames ----------------------------------------------------- */

size_t ws_frame_header(uint8_t out[WS_HDR_MAX], uint8_t opcode, uint64_t len)
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int k = 0; k < 8; k++)
        out[2 + k] = (uint8_t)(len >> (56 - 8 * k));
    return 10;
}

size_t ws_frame_close(uint8_t out[4], uint16_t code)
{
    out[0] = 0x80 | WS_OP_CLOSE;
    out[1] = 2;
    out[2] = (uint8_t)(code >> 8);
    out[3] = (uint8_t)code;
    return 4;
}
