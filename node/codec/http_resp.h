/* http_resp: bounded incremental HTTP/1.x response-head parser (pure: no
 * I/O), the client-side twin of http_req.
 *
 * Parses the status line and the header fields of the response to a GET
 * and says how its body is delimited (RFC 9112 6.3). Buffers at most
 * max_bytes of head: a head not complete within that bound gives
 * PARSE_ERR_TOO_BIG, as do more than HTTP_RESP_MAX_HEADERS header lines.
 * Malformed input gives PARSE_ERR_PROTO. Strict where two parties could
 * disagree on the framing: accepts CRLF and bare LF line ends; rejects a
 * version other than HTTP/1.0 and HTTP/1.1, a status code that is not three
 * digits 100..599, control bytes in the reason or in header values,
 * obs-fold, header names that are not tokens, Content-Length values that
 * are not digits or that differ from one another, any transfer coding
 * other than a single "chunked", and Content-Length together with
 * Transfer-Encoding. Interim 1xx responses (other than 101) are skipped:
 * the result is the final response, and their bytes count against
 * max_bytes.
 *
 * Ownership: the parser owns its buffer; the http_resp_t it returns points
 * into it and is valid until the next reset or free.
 * Threads: pure, no globals: any thread may call it on its own objects.
 */
#ifndef WEIR_HTTP_RESP_H
#define WEIR_HTTP_RESP_H

#include "common.h"
#include "http_head.h" /* http_header_t */

#define HTTP_RESP_MAX_HEADERS HTTP_HEAD_MAX_HEADERS

/* How the body after the head is delimited. */
typedef enum {
    HTTP_BODY_NONE = 0,    /* 1xx, 204, 304: no body */
    HTTP_BODY_LENGTH = 1,  /* exactly content_length bytes */
    HTTP_BODY_CHUNKED = 2, /* chunked transfer coding (http_chunked.h) */
    HTTP_BODY_CLOSE = 3    /* until the server closes the connection */
} http_body_t;

typedef struct {
    /* After PARSE_OK; strings NUL-terminated, inside the parser. */
    int version_minor;  /* HTTP/1.x */
    int status;         /* 100..599 */
    const char *reason; /* may be "" */
    http_header_t headers[HTTP_RESP_MAX_HEADERS];
    size_t nheaders;
    http_body_t body;
    int64_t content_length; /* -1 if absent */
    int keep_alive;         /* per version and Connection (ignored for BODY_CLOSE) */
} http_resp_t;

typedef struct http_resp_parser http_resp_parser_t;

/* max_bytes: the bound on the head (1..SIZE_MAX/2). NULL on a bad bound or
 * out of memory. */
http_resp_parser_t *http_resp_parser_new(size_t max_bytes);
/* NULL is a no-op. */
void http_resp_parser_free(http_resp_parser_t *p);
/* Ready to parse another response head. */
void http_resp_parser_reset(http_resp_parser_t *p);

/* Consumes up to len bytes, sets *used. PARSE_OK once the final head is
 * complete (bytes after its blank line, the body, are not consumed) and
 * *resp points at the parsed response. PARSE_NEED_MORE when all len bytes
 * were consumed. PARSE_ERR_* with *err, a static string; after an error or
 * PARSE_OK, further calls return the same result and consume nothing. */
parse_rc_t http_resp_feed(http_resp_parser_t *p, const uint8_t *src, size_t len, size_t *used,
                          const http_resp_t **resp, const char **err);

/* Case-insensitive header lookup; first match or NULL. */
const char *http_resp_header(const http_resp_t *resp, const char *name);

/* "none", "content-length", "chunked", "close". */
const char *http_body_name(http_body_t body);

#endif
