/* ws: the server side of the WebSocket protocol (RFC 6455), pure: no I/O.
 *
 * ws_handshake_check() reads an HTTP request head and tells whether it asks
 * for a WebSocket upgrade, and if so whether the upgrade is well formed; it
 * computes the Sec-WebSocket-Accept value (SHA-1 and base64 from OpenSSL's
 * libcrypto). ws_parser_feed() reads the client's frames incrementally with
 * every bound of section 5: frames must be masked, control frames carry at
 * most 125 bytes and are not fragmented, reserved bits and unknown opcodes
 * are protocol errors (close code 1002), a data message over max_data is
 * too big (1009). Data payloads are counted, not kept (the node ignores
 * them); control payloads (at most 125 bytes) are kept, unmasked, in the
 * parser. The ws_frame_* builders write the server's unmasked frame
 * headers (2, 4 or 10 bytes).
 * Threads: pure, no globals: any thread may call it on its own objects.
 */
#ifndef WEIR_WS_H
#define WEIR_WS_H

#include "common.h"
#include "http_head.h" /* http_header_t */

#define WS_ACCEPT_LEN 28   /* base64 of a SHA-1 digest */
#define WS_HDR_MAX 10      /* a server frame header: 2, 4 or 10 bytes */
#define WS_CONTROL_MAX 125 /* payload of a control frame */

enum {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xa
};

/* Close codes (RFC 6455 7.4.1) the node sends. */
enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009
};

/* Outcome of ws_handshake_check(). */
typedef enum {
    WS_HS_NONE = 0,       /* no "Upgrade: websocket": not a WebSocket request */
    WS_HS_OK = 1,         /* a valid upgrade; the accept value is filled */
    WS_HS_BAD = 400,      /* a malformed upgrade: answer 400 */
    WS_HS_VERSION = 426   /* not version 13: answer 426 with Sec-WebSocket-Version: 13 */
} ws_hs_t;

/* Checks a request for a WebSocket upgrade (RFC 6455 4.2.1): method GET,
 * Upgrade containing the token "websocket", Connection containing
 * "upgrade", Sec-WebSocket-Version 13, and exactly one Sec-WebSocket-Key
 * that is the base64 of 16 bytes. On WS_HS_OK, accept holds the
 * NUL-terminated Sec-WebSocket-Accept value; on WS_HS_BAD and
 * WS_HS_VERSION, *err is a static string. */
ws_hs_t ws_handshake_check(const char *method, const http_header_t *headers, size_t n,
                           char accept[WS_ACCEPT_LEN + 1], const char **err);

/* The Sec-WebSocket-Accept value of a key: base64(SHA-1(key + GUID)).
 * 0, or NODE_ENOMEM when libcrypto fails. */
int ws_accept_value(const char *key, char accept[WS_ACCEPT_LEN + 1]);

/* A frame read by ws_parser_feed(). */
typedef struct {
    uint8_t opcode;         /* WS_OP_*: a continuation keeps WS_OP_CONT */
    int fin;                /* the last frame of its message */
    uint64_t len;           /* payload length */
    const uint8_t *payload; /* control frames: the unmasked payload, inside
                             * the parser until the next feed; data: NULL */
    uint16_t close_code;    /* a close frame's status code, 0 when it has none */
    size_t reason_len;      /* a close frame's reason: payload + 2, reason_len bytes */
} ws_frame_t;

typedef enum {
    WS_ST_HEAD,    /* the first two bytes */
    WS_ST_EXTLEN,  /* 2 or 8 bytes of extended length */
    WS_ST_MASK,    /* the 4-byte masking key */
    WS_ST_PAYLOAD, /* payload bytes */
    WS_ST_FAILED   /* further feeds give the same error */
} ws_stage_t;

typedef struct {
    uint64_t max_data; /* largest data message (sum of its fragments) */
    ws_stage_t stage;
    uint8_t hdr[8]; /* extended length or mask bytes being gathered */
    size_t hlen, hneed;
    uint8_t b0, b1;   /* the first two bytes of the frame being read */
    uint64_t plen;    /* payload length of the frame */
    uint64_t got;     /* payload bytes read */
    uint8_t mask[4];
    int in_message;   /* a fragmented data message continues */
    uint64_t msg_len; /* bytes of that message so far */
    uint8_t ctl[WS_CONTROL_MAX];
    parse_rc_t fail_rc;
    const char *fail_err;
    uint16_t fail_code; /* the close code an error asks for */
} ws_parser_t;

/* Ready for frames; data messages over max_data give PARSE_ERR_TOO_BIG. */
void ws_parser_init(ws_parser_t *p, uint64_t max_data);

/* Consumes up to len bytes and sets *used. PARSE_OK when a frame is
 * complete (*out filled; bytes after it are not consumed), PARSE_NEED_MORE
 * when all len bytes were consumed, PARSE_ERR_PROTO (close code 1002) or
 * PARSE_ERR_TOO_BIG (1009) with *err, a static string: further calls give
 * the same error and consume nothing. A close frame whose payload is one
 * byte or whose code may not be sent (1004-1006, 1015, under 1000, 1016 to
 * 2999, over 4999) is a protocol error. */
parse_rc_t ws_parser_feed(ws_parser_t *p, const uint8_t *src, size_t len, size_t *used,
                          ws_frame_t *out, const char **err);

/* The close code the parser's error asks for (1002, 1009), 0 if none. */
uint16_t ws_parser_close_code(const ws_parser_t *p);

/* Whether a close frame may carry code (RFC 6455 7.4). */
int ws_close_code_valid(uint16_t code);

/* Writes the header of an unmasked final frame of opcode with a payload of
 * len bytes; returns its size (2, 4 or 10). */
size_t ws_frame_header(uint8_t out[WS_HDR_MAX], uint8_t opcode, uint64_t len);

/* Writes a whole close frame with code and no reason; returns 4. */
size_t ws_frame_close(uint8_t out[4], uint16_t code);

#endif
