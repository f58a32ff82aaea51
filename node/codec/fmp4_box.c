/* fmp4_box: the counting box writer (see fmp4_box.h). */
#include "fmp4_box.h"

#include <string.h>

void fmp4_box_init(fmp4_box_t *w, uint8_t *buf, size_t cap)
{
    w->p = buf;
    w->cap = buf ? cap : 0;
    w->pos = 0;
    w->err = 0;
}

/* Writes b (n bytes) at pos, as far as the buffer goes. */
static void put(fmp4_box_t *w, const uint8_t *b, size_t n)
{
    if (w->p && w->pos < w->cap) {
        size_t room = w->cap - w->pos;
        memcpy(w->p + w->pos, b, n < room ? n : room);
    }
    w->pos += n;
}

static void put_be(fmp4_box_t *w, uint64_t v, unsigned bytes)
{
    uint8_t b[8];
    for (unsigned i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    put(w, b, bytes);
}

void fmp4_box_u8(fmp4_box_t *w, uint32_t v)
{
    put_be(w, v, 1);
}

void fmp4_box_u16(fmp4_box_t *w, uint32_t v)
{
    put_be(w, v, 2);
}

void fmp4_box_u24(fmp4_box_t *w, uint32_t v)
{
    put_be(w, v, 3);
}

void fmp4_box_u32(fmp4_box_t *w, uint32_t v)
{
    put_be(w, v, 4);
}

void fmp4_box_u64(fmp4_box_t *w, uint64_t v)
{
    put_be(w, v, 8);
}

void fmp4_box_cc(fmp4_box_t *w, const char *cc)
{
    put(w, (const uint8_t *)cc, 4);
}

void fmp4_box_bytes(fmp4_box_t *w, const uint8_t *p, size_t len)
{
    if (len)
        put(w, p, len);
}

void fmp4_box_zeros(fmp4_box_t *w, size_t n)
{
    static const uint8_t zeros[32];
    while (n > 0) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        put(w, zeros, k);
        n -= k;
    }
}

size_t fmp4_box_open(fmp4_box_t *w, const char *cc)
{
    size_t start = w->pos;
    fmp4_box_u32(w, 0);
    fmp4_box_cc(w, cc);
    return start;
}

size_t fmp4_box_open_full(fmp4_box_t *w, const char *cc, unsigned version, uint32_t flags)
{
    size_t start = fmp4_box_open(w, cc);
    fmp4_box_u8(w, version);
    fmp4_box_u24(w, flags);
    return start;
}

void fmp4_box_patch_u32(fmp4_box_t *w, size_t at, uint32_t v)
{
    if (w->p && at + 4 <= w->cap) {
        w->p[at] = (uint8_t)(v >> 24);
        w->p[at + 1] = (uint8_t)(v >> 16);
        w->p[at + 2] = (uint8_t)(v >> 8);
        w->p[at + 3] = (uint8_t)v;
    }
}

void fmp4_box_end(fmp4_box_t *w, size_t start)
{
    size_t size = w->pos - start;
    if (size > UINT32_MAX) {
        w->err = 1;
        return;
    }
    fmp4_box_patch_u32(w, start, (uint32_t)size);
}
