/* http_chunked: incremental decoder of the HTTP/1.1 chunked transfer coding
 * (RFC 9112 7.1), pure: no I/O, no allocation.
 *
 * Decodes in place: the caller hands it the raw body bytes as they arrive
 * (any split), and gets back the chunk data moved to the front of the same
 * buffer. Bounded: a chunk-size line (size plus extensions) is at most
 * HTTP_CHUNKED_MAX_LINE bytes, the trailer section at most
 * HTTP_CHUNKED_MAX_TRAILER bytes, and a chunk size at most 15 hex digits
 * (below 2^60). Chunk extensions and trailer fields are skipped, not
 * interpreted. A bare LF is accepted where CRLF is expected after the size
 * line, the chunk data and the trailer lines.
 *
 * Users: the HTTP-FLV relay link (relay_httpflv_link.c) and the tools'
 * HTTP-FLV client (tools/common/httpflv_client.c). The state is a plain
 * struct owned by the caller (no free needed).
 * Threads: pure, no globals: any thread may call it on its own objects.
 */
#ifndef WEIR_HTTP_CHUNKED_H
#define WEIR_HTTP_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_CHUNKED_MAX_LINE 1024    /* chunk-size line with extensions */
#define HTTP_CHUNKED_MAX_TRAILER 8192 /* all trailer lines */
#define HTTP_CHUNKED_MAX_DIGITS 15    /* chunk sizes below 2^60 */

/* Decoder state; fields are private to http_chunked.c. */
typedef struct {
    int state;
    uint64_t remaining; /* bytes left in the current chunk */
    size_t line_len;    /* bytes of the current size or trailer line */
    size_t trailer_len;
    int size_digits;
} http_chunked_t;

/* Ready to decode a new body. */
void http_chunked_init(http_chunked_t *d);

/* Decodes buf[0..len) in place: the body bytes it carries are moved to the
 * front of buf and *out_len says how many. Returns 0 (need more), 1 (the
 * last chunk and trailers are complete; bytes after them are ignored, and
 * later calls return 1 with *out_len 0), or NODE_EPROTO with *err, a static
 * string (bad size line, missing CRLF, a line over its bound, a size over
 * 2^60). After an error the decoder must not be fed again. */
int http_chunked_decode(http_chunked_t *d, uint8_t *buf, size_t len, size_t *out_len,
                        const char **err);

#endif
