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
    fmp4_scan_box_t here = {s->pos, box};
    if (type == FOURCC('m', 'o', 'o', 'v'))
        s->moov = here;
    else if (type == FOURCC('m', 'o', 'o', 'f'))
        s->cur_moof = here;
    else if (type == FOURCC('m', 'd', 'a', 't') && s->state == S_MDAT) {
        s->last_moof = s->cur_moof;
        if (s->frags == 0)
            s->first_moof = s->cur_moof;
    }
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

/* ---- the times in a moov and a moof ------------------------------------ */

#define TFHD_BASE_OFFSET 0x000001
#define TFHD_DESC_INDEX 0x000002
#define TFHD_DEFAULT_DURATION 0x000008
#define TRUN_DATA_OFFSET 0x000001
#define TRUN_FIRST_FLAGS 0x000004
#define TRUN_DURATION 0x000100
#define TRUN_SIZE 0x000200
#define TRUN_FLAGS 0x000400
#define TRUN_CTS 0x000800

/* A box inside a parent's payload: type, payload and its length. */
typedef struct {
    uint32_t type;
    const uint8_t *body;
    size_t len;
} kid_t;

/* The box at *off in p[0..len) (children of one parent): 1 with *k filled
 * and *off past it; 0 at the end or at a size that does not fit. */
static int next_kid(const uint8_t *p, size_t len, size_t *off, kid_t *k)
{
    if (*off > len || len - *off < 8)
        return 0;
    const uint8_t *b = p + *off;
    uint64_t size = be32(b), hlen = 8, left = len - *off;
    if (size == 1) {
        if (left < 16)
            return 0;
        size = ((uint64_t)be32(b + 8) << 32) | be32(b + 12);
        hlen = 16;
    } else if (size == 0) {
        size = left; /* to the end of the parent */
    }
    if (size < hlen || size > left)
        return 0;
    k->type = be32(b + 4);
    k->body = b + hlen;
    k->len = (size_t)(size - hlen);
    *off += (size_t)size;
    return 1;
}

/* The payload of the whole box p[0..len) if it is of type, else NULL. */
static const uint8_t *whole_box(const uint8_t *p, size_t len, uint32_t type, size_t *blen)
{
    size_t off = 0;
    kid_t k;
    if (!next_kid(p, len, &off, &k) || k.type != type)
        return NULL;
    *blen = k.len;
    return k.body;
}

static uint64_t be64(const uint8_t *p)
{
    return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

/* The index of track id in tr, or -1. */
static int track_index(const fmp4_scan_tracks_t *tr, uint32_t id)
{
    for (size_t i = 0; i < tr->n; i++)
        if (tr->t[i].id == id)
            return (int)i;
    return -1;
}

/* A trak: its tkhd's track_ID and its mdia/mdhd's timescale. */
static void trak(const uint8_t *p, size_t len, fmp4_scan_tracks_t *out)
{
    uint32_t id = 0, timescale = 0;
    size_t off = 0, moff = 0;
    kid_t k, m;
    while (next_kid(p, len, &off, &k)) {
        if (k.type == FOURCC('t', 'k', 'h', 'd') && k.len >= 4)
            id = k.body[0] == 1 ? (k.len >= 24 ? be32(k.body + 20) : 0)
                                : (k.len >= 16 ? be32(k.body + 12) : 0);
        if (k.type != FOURCC('m', 'd', 'i', 'a'))
            continue;
        while (next_kid(k.body, k.len, &moff, &m))
            if (m.type == FOURCC('m', 'd', 'h', 'd') && m.len >= 4)
                timescale = m.body[0] == 1 ? (m.len >= 24 ? be32(m.body + 20) : 0)
                                           : (m.len >= 16 ? be32(m.body + 12) : 0);
    }
    if (id && timescale && out->n < FMP4_SCAN_TRACKS && track_index(out, id) < 0) {
        out->t[out->n].id = id;
        out->t[out->n].timescale = timescale;
        out->t[out->n].default_duration = 0;
        out->n++;
    }
}

/* mvex: each trex's default sample duration onto its track. */
static void mvex(const uint8_t *p, size_t len, fmp4_scan_tracks_t *out)
{
    size_t off = 0;
    kid_t k;
    while (next_kid(p, len, &off, &k)) {
        int i = k.len >= 16 && k.type == FOURCC('t', 'r', 'e', 'x')
                    ? track_index(out, be32(k.body + 4))
                    : -1;
        if (i >= 0)
            out->t[i].default_duration = be32(k.body + 12);
    }
}

int fmp4_scan_moov(const uint8_t *p, size_t len, fmp4_scan_tracks_t *out)
{
    memset(out, 0, sizeof *out);
    size_t blen = 0, off = 0;
    const uint8_t *b = whole_box(p, len, FOURCC('m', 'o', 'o', 'v'), &blen);
    if (!b)
        return -1;
    kid_t k;
    while (next_kid(b, blen, &off, &k))
        if (k.type == FOURCC('t', 'r', 'a', 'k'))
            trak(k.body, k.len, out);
    off = 0;
    while (next_kid(b, blen, &off, &k))
        if (k.type == FOURCC('m', 'v', 'e', 'x'))
            mvex(k.body, k.len, out);
    return out->n ? 0 : -1;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* The sum of a trun's sample durations (dflt when it has none); 0 with
 * *ok cleared when it is cut short. */
static uint64_t trun_ticks(const uint8_t *p, size_t len, uint32_t dflt, int *ok)
{
    *ok = 0;
    if (len < 8)
        return 0;
    uint32_t flags = be32(p) & 0xffffff, count = be32(p + 4);
    size_t off = 8 + (flags & TRUN_DATA_OFFSET ? 4 : 0) + (flags & TRUN_FIRST_FLAGS ? 4 : 0);
    size_t each = 4 * (size_t)(!!(flags & TRUN_DURATION) + !!(flags & TRUN_SIZE) +
                               !!(flags & TRUN_FLAGS) + !!(flags & TRUN_CTS));
    if (off > len || (each && count > (len - off) / each))
        return 0;
    *ok = 1;
    if (!(flags & TRUN_DURATION))
        return dflt && count > UINT64_MAX / dflt ? UINT64_MAX : (uint64_t)dflt * count;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < count; i++, off += each)
        sum = sat_add(sum, be32(p + off));
    return sum;
}

/* A traf: its track's index in tr (-1: none) and times. */
static int traf(const uint8_t *p, size_t len, const fmp4_scan_tracks_t *tr, uint64_t *start,
                uint64_t *end)
{
    int i = -1, have_tfdt = 0, ok = 1;
    uint32_t dflt = 0;
    uint64_t ticks = 0;
    size_t off = 0;
    kid_t k;
    while (ok && next_kid(p, len, &off, &k)) {
        if (k.type == FOURCC('t', 'f', 'h', 'd') && k.len >= 8) {
            uint32_t flags = be32(k.body) & 0xffffff;
            size_t at = 8 + (flags & TFHD_BASE_OFFSET ? 8 : 0) + (flags & TFHD_DESC_INDEX ? 4 : 0);
            i = track_index(tr, be32(k.body + 4));
            dflt = i >= 0 ? tr->t[i].default_duration : 0;
            if ((flags & TFHD_DEFAULT_DURATION) && k.len < at + 4)
                ok = 0;
            else if (flags & TFHD_DEFAULT_DURATION)
                dflt = be32(k.body + at);
        } else if (k.type == FOURCC('t', 'f', 'd', 't') && k.len >= 8) {
            have_tfdt = k.body[0] != 1 || k.len >= 12;
            *start = k.body[0] == 1 ? (have_tfdt ? be64(k.body + 4) : 0) : be32(k.body + 4);
        } else if (k.type == FOURCC('t', 'r', 'u', 'n')) {
            ticks = sat_add(ticks, trun_ticks(k.body, k.len, dflt, &ok));
        }
    }
    if (!ok || !have_tfdt || i < 0)
        return -1;
    *end = sat_add(*start, ticks);
    return i;
}

int fmp4_scan_moof(const uint8_t *p, size_t len, const fmp4_scan_tracks_t *tr,
                   fmp4_scan_times_t *out)
{
    memset(out, 0, sizeof *out);
    size_t blen = 0, off = 0;
    const uint8_t *b = whole_box(p, len, FOURCC('m', 'o', 'o', 'f'), &blen);
    kid_t k;
    int n = 0;
    while (b && next_kid(b, blen, &off, &k)) {
        uint64_t start = 0, end = 0;
        int i = k.type == FOURCC('t', 'r', 'a', 'f') ? traf(k.body, k.len, tr, &start, &end) : -1;
        if (i < 0 || out->have[i])
            continue;
        out->have[i] = 1;
        out->start[i] = start;
        out->end[i] = end;
        n++;
    }
    return n;
}

uint32_t fmp4_scan_duration_ms(const fmp4_scan_tracks_t *tr, const fmp4_scan_times_t *first,
                               const fmp4_scan_times_t *last)
{
    uint64_t best = 0;
    for (size_t i = 0; i < tr->n && i < FMP4_SCAN_TRACKS; i++) {
        uint64_t ts = tr->t[i].timescale;
        if (!first->have[i] || !last->have[i] || !ts || last->end[i] < first->start[i])
            continue;
        uint64_t d = last->end[i] - first->start[i];
        uint64_t ms = d / ts > UINT32_MAX ? UINT32_MAX : d / ts * 1000 + d % ts * 1000 / ts;
        if (ms > best)
            best = ms;
    }
    return best > UINT32_MAX ? UINT32_MAX : (uint32_t)best;
}
