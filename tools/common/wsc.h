/* wsc: the client side of the WebSocket protocol (RFC 6455) for the tools'
 * ws:// and wss:// players, pure: no I/O.
 *
 * The opening handshake: wsc_key_new() draws the Sec-WebSocket-Key from
 * OpenSSL's RAND_bytes(), wsc_request() writes the upgrade request, and
 * wsc_response_check() checks the server's response head (parsed by the
 * node's http_resp) as section 4.1 asks of a client: status 101, Upgrade
 * "websocket", Connection "upgrade", Sec-WebSocket-Accept equal to the
 * value of our key (SHA-1 and base64 from libcrypto, ws_accept_value()),
 * and no extension or subprotocol (none was offered).
 *
 * Frames from the server: wsc_parser_feed() reads them incrementally with
 * the bounds of section 5: a masked server frame, reserved bits, unknown
 * opcodes, fragmented or over-long (125) control frames, a continuation
 * without a message or a new message inside one, a length not in its
 * shortest form, and a bad close payload are protocol errors (close code
 * 1002); a data message (its fragments summed) over max_message bytes is
 * too big (1009), refused at its frame header, before any of its payload
 * is read. Data payloads are not copied: each event points into the bytes
 * fed; control payloads (at most 125 bytes) are gathered in the parser.
 *
 * Frames to the server: wsc_frame_control() writes a whole masked control
 * frame (ping, pong, close), the masking key from RAND_bytes().
 *
 * Threads: no globals (OpenSSL's RAND is thread-safe): any thread may call
 * it on its own objects.
 */
#ifndef WEIR_TOOLS_WSC_H
#define WEIR_TOOLS_WSC_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "http_resp.h"
#include "ws.h"

#define WSC_KEY_LEN 24                                 /* base64 of 16 random bytes */
#define WSC_CONTROL_FRAME_MAX (2 + 4 + WS_CONTROL_MAX) /* header, mask, payload */

/* A new Sec-WebSocket-Key: 0, or NODE_ENOMEM when RAND_bytes() fails. */
int wsc_key_new(char key[WSC_KEY_LEN + 1]);

/* Writes "GET target HTTP/1.1" with Host (host_hdr), the upgrade headers,
 * key and User-Agent agent into out. Returns the length, or -1 if it does
 * not fit in cap bytes. */
int wsc_request(char *out, size_t cap, const char *target, const char *host_hdr, const char *key,
                const char *agent);

#define WSC_REFUSED 1 /* wsc_response_check(): the status is not 101 */

/* Checks a complete response head to the upgrade request sent with key.
 * 0 when it accepts the upgrade; WSC_REFUSED when the status is not 101
 * (the caller names the status); NODE_EPROTO with *err, a static string,
 * for a 101 that breaks the handshake. */
int wsc_response_check(const http_resp_t *resp, const char *key, const char **err);

/* What wsc_parser_feed() found. */
typedef enum {
    WSC_EV_DATA,   /* len bytes of a data message at data (may be 0); end: its last bytes */
    WSC_EV_CONTROL /* a complete ping, pong or close frame, payload in data */
} wsc_ev_kind_t;

typedef struct {
    wsc_ev_kind_t kind;
    /* DATA: the message's opcode (WS_OP_BINARY, WS_OP_TEXT); CONTROL: the frame's. */
    uint8_t opcode;
    int end; /* DATA: these bytes end the message */
    /* DATA: inside the bytes fed; CONTROL: inside the parser until the next feed. */
    const uint8_t *data;
    size_t len;
    uint16_t close_code; /* a close frame's status code, 0 when it has none */
    size_t reason_len;   /* a close frame's reason: data + 2, reason_len bytes */
} wsc_event_t;

typedef enum {
    WSC_ST_HEAD,    /* the first two bytes */
    WSC_ST_EXTLEN,  /* 2 or 8 bytes of extended length */
    WSC_ST_PAYLOAD, /* payload bytes */
    WSC_ST_FAILED   /* further feeds give the same error */
} wsc_stage_t;

typedef struct {
    uint64_t max_message; /* largest data message (the sum of its fragments) */
    wsc_stage_t stage;
    uint8_t b0, b1; /* the frame's first two bytes */
    uint8_t ext[8]; /* extended length being gathered */
    size_t ext_have, ext_need;
    uint8_t head[2];
    size_t head_have;
    uint64_t plen;      /* the frame's payload length */
    uint64_t got;       /* payload bytes read */
    uint8_t msg_opcode; /* the data message in progress, 0 if none */
    uint64_t msg_len;   /* its bytes in earlier frames */
    uint8_t ctl[WS_CONTROL_MAX];
    parse_rc_t fail_rc;
    const char *fail_err;
} wsc_parser_t;

/* Ready for the server's frames; data messages over max_message (> 0) give
 * PARSE_ERR_TOO_BIG. */
void wsc_parser_init(wsc_parser_t *p, uint64_t max_message);

/* Consumes up to len bytes and sets *used. PARSE_OK with *ev filled when
 * there is an event (bytes after it are not consumed); PARSE_NEED_MORE when
 * all len bytes were consumed without one; PARSE_ERR_PROTO or
 * PARSE_ERR_TOO_BIG with *err, a static string: further calls give the same
 * error and consume nothing. */
parse_rc_t wsc_parser_feed(wsc_parser_t *p, const uint8_t *src, size_t len, size_t *used,
                           wsc_event_t *ev, const char **err);

/* The close code the parser's error asks to send (1002, 1009), 0 if none. */
uint16_t wsc_parser_close_code(const wsc_parser_t *p);

/* Writes a masked final control frame (WS_OP_PING, WS_OP_PONG, WS_OP_CLOSE)
 * with len <= WS_CONTROL_MAX payload bytes. Returns its size, or 0 when
 * len is over the bound or RAND_bytes() fails. */
size_t wsc_frame_control(uint8_t out[WSC_CONTROL_FRAME_MAX], uint8_t opcode, const uint8_t *payload,
                         size_t len);

/* A masked close frame with code (0: no code). Returns its size, or 0. */
size_t wsc_frame_close(uint8_t out[WSC_CONTROL_FRAME_MAX], uint16_t code);

#endif
