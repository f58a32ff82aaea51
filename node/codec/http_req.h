/* http_req: bounded incremental HTTP/1.x request-head parser (pure: no I/O).
 *
 * Buffers at most max_bytes of request line plus headers: a head that is not
 * complete within that bound gives PARSE_ERR_TOO_BIG (answer 431). Malformed
 * input gives PARSE_ERR_PROTO (answer 400). Accepts CRLF and bare LF line
 * ends, rejects obs-fold, control bytes in the request line, header names
 * that are not tokens, duplicate Content-Length, Content-Length together
 * with Transfer-Encoding, and non-numeric Content-Length.
 * Threads: pure, no globals: any thread may call it on its own objects.
 */
#ifndef WEIR_HTTP_REQ_H
#define WEIR_HTTP_REQ_H

#include "common.h"
#include "http_head.h" /* http_header_t */

#define HTTP_REQ_MAX_HEADERS HTTP_HEAD_MAX_HEADERS

typedef struct {
    /* After PARSE_OK; all strings NUL-terminated, inside the parser. */
    const char *method;
    const char *target; /* as sent */
    const char *path;   /* target up to '?', not decoded */
    const char *query;  /* after '?', or "" */
    int version_minor;  /* HTTP/1.x */
    http_header_t headers[HTTP_REQ_MAX_HEADERS];
    size_t nheaders;
    int64_t content_length; /* -1 if absent */
    int chunked;            /* Transfer-Encoding: chunked */
    int keep_alive;         /* per version and Connection header */
} http_req_t;

typedef struct http_req_parser http_req_parser_t;

http_req_parser_t *http_req_parser_new(size_t max_bytes);
void http_req_parser_free(http_req_parser_t *p);
/* Ready to parse the next request on the same connection. */
void http_req_parser_reset(http_req_parser_t *p);

/* Consumes up to len bytes, sets *used. PARSE_OK once the head is complete
 * (bytes after the blank line are not consumed) and *req points at the
 * parsed request, valid until the next reset/free. */
parse_rc_t http_req_feed(http_req_parser_t *p, const uint8_t *src, size_t len, size_t *used,
                         const http_req_t **req, const char **err);

/* Case-insensitive header lookup; first match or NULL. */
const char *http_req_header(const http_req_t *req, const char *name);

/* Percent-decodes src[0..len) into dst (size dstsz, NUL-terminated). Fails
 * (NODE_EINVAL) on bad escapes, decoded NUL bytes, or if dst is too small. */
int http_url_decode(const char *src, size_t len, char *dst, size_t dstsz);

#endif
