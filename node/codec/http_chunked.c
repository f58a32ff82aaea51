/* http_chunked: see http_chunked.h. Moved unchanged from the tools'
 * HTTP-FLV client, so the relay link and the tools share one decoder.
 *
 * One state per syntactic position; each byte is looked at once, chunk data
 * is moved in runs. The size line is SIZE (hex digits), then EXT (anything
 * up to the line end, counted against HTTP_CHUNKED_MAX_LINE), then the
 * LF; data is followed by CRLF (or a bare LF); the last chunk (size 0) is
 * followed by trailer lines up to an empty one. */
#include "http_chunked.h"

#include <string.h>

#include "common.h"

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_DONE };

void http_chunked_init(http_chunked_t *d)
{
    memset(d, 0, sizeof *d);
    d->state = CH_SIZE;
}

static int chunked_fail(const char *msg, const char **err)
{
    *err = msg;
    return NODE_EPROTO;
}

/* End of a chunk-size line: data follows, or the trailer for size 0. */
static void size_line_done(http_chunked_t *d)
{
    d->state = d->remaining ? CH_DATA : CH_TRAILER;
    d->line_len = 0;
}

int http_chunked_decode(http_chunked_t *d, uint8_t *buf, size_t len, size_t *out_len,
                        const char **err)
{
    size_t in = 0, out = 0;
    *out_len = 0;
    while (in < len && d->state != CH_DONE) {
        uint8_t ch = buf[in];
        switch (d->state) {
        case CH_SIZE: {
            int v = hex_digit(ch);
            in++;
            if (v >= 0) {
                if (++d->size_digits > HTTP_CHUNKED_MAX_DIGITS)
                    return chunked_fail("chunk size too big", err);
                d->remaining = (d->remaining << 4) | (uint64_t)v;
            } else if (d->size_digits == 0) {
                return chunked_fail("bad chunk size line", err);
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                d->state = CH_EXT;
                d->line_len = (size_t)d->size_digits + 1;
            } else if (ch == '\r') {
                d->state = CH_SIZE_LF;
            } else if (ch == '\n') {
                size_line_done(d);
            } else {
                return chunked_fail("bad chunk size line", err);
            }
            break;
        }
        case CH_EXT:
            in++;
            if (++d->line_len > HTTP_CHUNKED_MAX_LINE)
                return chunked_fail("chunk size line too long", err);
            if (ch == '\r')
                d->state = CH_SIZE_LF;
            else if (ch == '\n')
                size_line_done(d);
            break;
        case CH_SIZE_LF:
            in++;
            if (ch != '\n')
                return chunked_fail("chunk size line not ended by CRLF", err);
            size_line_done(d);
            break;
        case CH_DATA: {
            size_t k = len - in;
            if (k > d->remaining)
                k = (size_t)d->remaining;
            memmove(buf + out, buf + in, k);
            out += k;
            in += k;
            d->remaining -= k;
            if (d->remaining == 0)
                d->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            in++;
            if (ch == '\r')
                d->state = CH_DATA_LF;
            else if (ch == '\n')
                d->state = CH_SIZE; /* bare LF tolerated */
            else
                return chunked_fail("chunk data not followed by CRLF", err);
            d->size_digits = 0;
            break;
        case CH_DATA_LF:
            in++;
            if (ch != '\n')
                return chunked_fail("chunk data not followed by CRLF", err);
            d->state = CH_SIZE;
            d->size_digits = 0;
            break;
        case CH_TRAILER:
            in++;
            if (++d->trailer_len > HTTP_CHUNKED_MAX_TRAILER)
                return chunked_fail("chunked trailer too long", err);
            if (ch == '\n') {
                if (d->line_len == 0)
                    d->state = CH_DONE;
                d->line_len = 0;
            } else if (ch != '\r') {
                d->line_len++;
            }
            break;
        }
    }
    *out_len = out;
    return d->state == CH_DONE ? 1 : 0;
}
