/* fmp4_scan: the good length of a recorded fragmented MP4 (see fmp4_scan.h). */
#include "fmp4_scan.h"

#include <string.h>

enum { S_FTYP = 0, S_MOOV, S_MOOF, S_MDAT };

#define FOURCC(a, b, c, d) \
    (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void fmp4_scan_init(fmp4_scan_t *s)
{
    memset(s, 0, sizeof *s);
}

static int stop(fmp4_scan_t *s)
{
    s->done = 1;
    return 0;
}

/* The next state after a box of this type in state st; -1 out of order.
 * Boxes that may sit between fragments (free, skip, styp, sidx, prft,
 * emsg) keep the state, except inside a fragment (between moof and mdat). */
static int next_state(int st, uint32_t type)
{
    switch (type) {
    case FOURCC('f', 't', 'y', 'p'): return st == S_FTYP ? S_MOOV : -1;
    case FOURCC('m', 'o', 'o', 'v'): return st == S_MOOV ? S_MOOF : -1;
    case FOURCC('m', 'o', 'o', 'f'): return st == S_MOOF ? S_MDAT : -1;
    case FOURCC('m', 'd', 'a', 't'): return st == S_MDAT ? S_MOOF : -1;
    case FOURCC('f', 'r', 'e', 'e'):
    case FOURCC('s', 'k', 'i', 'p'):
    case FOURCC('s', 't', 'y', 'p'):
    case FOURCC('s', 'i', 'd', 'x'):
    case FOURCC('p', 'r', 'f', 't'):
    case FOURCC('e', 'm', 's', 'g'): return st == S_MOOF ? S_MOOF : -1;
    default: return -1;
    }
}

int fmp4_scan_box(fmp4_scan_t *s, const uint8_t *hdr, size_t n, uint64_t size)
{
    if (s->done || n < 8 || s->pos > size || size - s->pos < 8)
        return stop(s);
    uint64_t left = size - s->pos;
    uint64_t box = be32(hdr);
    uint32_t type = be32(hdr + 4);
    uint64_t hlen = 8;
    if (box == 1) {
        if (n < 16)
            return stop(s);
        box = ((uint64_t)be32(hdr + 8) << 32) | be32(hdr + 12);
        hlen = 16;
    }
    if (box < hlen || box > left) /* size 0 (to the end) lands here too */
        return stop(s);
    int st = next_state(s->state, type);
    if (st < 0)
        return stop(s);
    s->pos += box;
    if (type == FOURCC('m', 'o', 'o', 'v') ||
        (type == FOURCC('m', 'd', 'a', 't') && s->state == S_MDAT) ||
        (st == S_MOOF && s->state == S_MOOF && s->good_end)) {
        s->good_end = s->pos;
        if (type == FOURCC('m', 'd', 'a', 't'))
            s->frags++;
    }
    s->state = st;
    if (s->pos == size)
        return stop(s);
    return 1;
}

uint64_t fmp4_scan_buf(const uint8_t *p, size_t len, uint32_t *frags)
{
    fmp4_scan_t s;
    fmp4_scan_init(&s);
    while (fmp4_scan_box(&s, p + s.pos, len - s.pos < FMP4_SCAN_HDR_MAX ? len - s.pos
                                                                        : FMP4_SCAN_HDR_MAX,
                         len))
        ;
    if (frags)
        *frags = s.frags;
    return s.good_end;
}
