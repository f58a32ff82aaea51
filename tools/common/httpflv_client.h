/* httpflv_client: a small blocking HTTP/1.1 GET client for HTTP-FLV and
 * WebSocket-FLV playback in the tools.
 *
 * Plain sockets and poll() against deadlines, like rtmp_client: nothing
 * blocks forever (except getaddrinfo()). One client makes one request:
 * httpflv_client_open() connects, sends "GET path HTTP/1.1" and reads the
 * response head with the node's http_resp parser (at most HTTPFLV_MAX_HEAD
 * bytes, else an error); a status other than 200 is an error naming it
 * ("HTTP 404 Not Found"). The body, chunked (the node's http_chunked
 * decoder) or plain (Content-Length or until close), is then read with
 * httpflv_client_read(), which returns decoded body bytes.
 *
 * ws:// and wss:// (WebSocket-FLV, RFC 6455 through wsc.h): the GET is an
 * upgrade with a random key, the answer must be 101 with the right
 * Sec-WebSocket-Accept (else an error: "WebSocket handshake: ..."; another
 * status is a refusal naming it), and the body is the server's frames:
 * httpflv_client_read() returns the payloads of binary messages, one after
 * the other (the node sends the FLV header, then one tag a frame), answers
 * pings with pongs, echoes the server's close (then EOF) and refuses a
 * message over HTTPFLV_WS_MAX_MESSAGE bytes, a text message or a malformed
 * frame with a close frame of its code (1009, 1002) and an error.
 * httpflv_client_close() sends a close frame with code 1000 (unless a
 * close was already exchanged) and waits at most HTTPFLV_WS_CLOSE_WAIT_MS
 * for the server's.
 *
 * Errors: NULL or a negative code, with the text in the caller's err buffer
 * or in httpflv_client_error().
 */
#ifndef WEIR_TOOLS_HTTPFLV_CLIENT_H
#define WEIR_TOOLS_HTTPFLV_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "url.h"

#define HTTPFLV_MAX_HEAD 16384 /* response line plus headers */
#define HTTPFLV_ERR_MAX 256
#define HTTPFLV_WS_MAX_MESSAGE (16u * 1024 * 1024 + 16) /* the largest FLV tag: 11 + 2^24-1 + 4 */
#define HTTPFLV_WS_CLOSE_WAIT_MS 2000

/* A parsed http://, https://, ws:// or wss:// URL (port 80 or 443 when
 * absent; path "/app/name.flv?query"). https:// and wss:// are TLS first
 * (tool_tls.h). */
typedef url_t httpflv_url_t;

/* Parses "http[s]://host[:port]/path" (or ws[s]://) with url_parse().
 * Returns 0, or NODE_EINVAL with a message in err (not http://, bad port,
 * no path, a part over its bound). */
int httpflv_url_parse(const char *url, httpflv_url_t *out, char *err, size_t errlen);

typedef struct httpflv_client httpflv_client_t;

/* Connects to url, sends the GET request and reads the response head, all
 * within timeout_ms. Returns the client (status 200; ws://: 101), or NULL
 * with a message in err; *status is set to the HTTP status when a response
 * head arrived, else 0 (bad URL, resolution, refused, timeout, a 101 that
 * breaks the WebSocket handshake). Close with httpflv_client_close(). */
httpflv_client_t *httpflv_client_open(const char *url, int timeout_ms, int *status, char *err,
                                      size_t errlen);

typedef enum {
    HTTPFLV_DATA = 1,    /* *got body bytes are in buf */
    HTTPFLV_TIMEOUT = 0, /* nothing within timeout_ms */
    HTTPFLV_EOF = -1,    /* the body ended (last chunk, Content-Length, or close) */
    HTTPFLV_ERROR = -2   /* I/O or framing error: httpflv_client_error() */
} httpflv_rc_t;

/* Waits up to timeout_ms for body bytes and copies at most cap of them into
 * buf. A connection closed before a chunked or Content-Length body ended is
 * an error ("connection closed inside the body"). */
httpflv_rc_t httpflv_client_read(httpflv_client_t *c, uint8_t *buf, size_t cap, size_t *got,
                                 int timeout_ms);

/* "websocket", "chunked", "content-length" or "close": how the body is
 * delimited. */
const char *httpflv_client_framing(const httpflv_client_t *c);
/* ws://: the code of the server's close frame, 0 when none came (or it had
 * no code). */
uint16_t httpflv_client_ws_close_code(const httpflv_client_t *c);
const char *httpflv_client_error(const httpflv_client_t *c);
/* Closes (ws://: the close handshake first) and frees; NULL is a no-op. */
void httpflv_client_close(httpflv_client_t *c);

#endif
