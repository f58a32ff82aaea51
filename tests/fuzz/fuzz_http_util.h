/* fuzz_http_util: what the HTTP head fuzz targets (fuzz_http_req.c,
 * fuzz_http_resp.c) share: hashing a parsed message so that runs with
 * different splits can be compared, cutting the input into pieces, and the
 * invariants every parsed header field holds. */
#ifndef WEIR_FUZZ_HTTP_UTIL_H
#define WEIR_FUZZ_HTTP_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_head.h"

static inline uint64_t mix_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;
}

static inline uint64_t mix_int(uint64_t h, int64_t v)
{
    return (h ^ (uint64_t)v) * 0x100000001b3ull;
}

static inline uint64_t mix_headers(uint64_t h, const http_header_t *headers, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = mix_str(h, headers[i].name);
        h = mix_str(h, headers[i].value);
    }
    return h;
}

/* An exact-size copy of the next piece at data[pos]: step bytes, or if step
 * is 0 a size taken from the input (1..mod); *n is its size. */
static inline uint8_t *fuzz_piece(const uint8_t *data, size_t size, size_t pos, size_t step,
                                  size_t mod, size_t *n)
{
    *n = step ? step : (size_t)(data[pos] % mod) + 1;
    if (*n > size - pos)
        *n = size - pos;
    uint8_t *piece = malloc(*n);
    if (!piece)
        abort();
    memcpy(piece, data + pos, *n);
    return piece;
}

static inline int fuzz_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static inline int fuzz_is_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!fuzz_is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

/* HTAB, SP, VCHAR, obs-text only. */
static inline void check_text(const char *s)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            abort();
}

/* Header i: a token name, a trimmed text value; found is what the parser's
 * lookup gives for its name, which must be the first header of that name. */
static inline void check_header(const http_header_t *headers, size_t i, const char *found)
{
    const char *v = headers[i].value;
    size_t vlen = strlen(v);
    if (!fuzz_is_token(headers[i].name))
        abort();
    if (vlen && (v[0] == ' ' || v[0] == '\t' || v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        abort();
    check_text(v);
    size_t first = 0;
    while (strcasecmp(headers[first].name, headers[i].name) != 0)
        first++;
    if (found != headers[first].value)
        abort();
}

#endif
