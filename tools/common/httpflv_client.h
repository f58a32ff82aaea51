/* httpflv_client: a small blocking HTTP/1.1 GET client for HTTP-FLV
 * playback in the tools.
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

/* A parsed http:// or https:// URL (port 80 or 443 when absent; path
 * "/app/name.flv?query"). https:// is TLS first (tool_tls.h). */
typedef url_t httpflv_url_t;

/* Parses "http[s]://host[:port]/path" with url_parse(). Returns 0, or
 * NODE_EINVAL with a message in err (not http://, bad port, no path, a part
 * over its bound). */
int httpflv_url_parse(const char *url, httpflv_url_t *out, char *err, size_t errlen);

typedef struct httpflv_client httpflv_client_t;

/* Connects to url, sends the GET request and reads the response head, all
 * within timeout_ms. Returns the client (status 200), or NULL with a message
 * in err; *status is set to the HTTP status when a response head arrived,
 * else 0 (bad URL, resolution, refused, timeout). Close with
 * httpflv_client_close(). */
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

/* "chunked", "content-length" or "close": how the body is delimited. */
const char *httpflv_client_framing(const httpflv_client_t *c);
const char *httpflv_client_error(const httpflv_client_t *c);
/* Closes the socket and frees; NULL is a no-op. */
void httpflv_client_close(httpflv_client_t *c);

#endif
