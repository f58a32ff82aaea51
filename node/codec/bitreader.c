#include "bitreader.h"

void br_init(br_t *b, const uint8_t *p, size_t len)
{
    b->p = p;
    b->len = len;
    b->pos = 0;
    b->err = 0;
}

size_t br_left(const br_t *b)
{
    return b->len * 8 - b->pos;
}

/* n <= 32 bits. */
uint32_t br_u(br_t *b, unsigned n)
{
    if (b->err || n > br_left(b)) {
        b->err = 1;
        return 0;
    }
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++, b->pos++)
        v = (v << 1) | ((b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1u);
    return v;
}

void br_skip(br_t *b, size_t n)
{
    if (b->err || n > br_left(b))
        b->err = 1;
    else
        b->pos += n;
}

/* ue(v) (H.264 9.1); 32 or more leading zeros are an error. */
uint32_t br_ue(br_t *b)
{
    unsigned lz = 0;
    while (br_u(b, 1) == 0) {
        if (b->err || ++lz > 31) {
            b->err = 1;
            return 0;
        }
    }
    return lz ? (uint32_t)((1ull << lz) - 1 + br_u(b, lz)) : 0;
}

uint32_t br_ue_max(br_t *b, uint32_t max)
{
    uint32_t v = br_ue(b);
    if (v > max)
        b->err = 1;
    return v;
}

/* se(v) (H.264 9.1.1). */
int32_t br_se(br_t *b)
{
    uint32_t k = br_ue(b);
    return (k & 1) ? (int32_t)((k + 1) / 2) : -(int32_t)(k / 2);
}
