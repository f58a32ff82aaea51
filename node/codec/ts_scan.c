/* ts_scan: the PTS span of MPEG-TS packets (see ts_scan.h). */
#include "ts_scan.h"

#include <string.h>

#define PTS_MASK ((1ULL << 33) - 1)
#define PTS_HALF (1ULL << 32)

void ts_scan_init(ts_scan_t *s)
{
    memset(s, 0, sizeof *s);
}

/* The PTS of the PES header at p (n bytes); 0 when there is none, 1 with
 * *pts. */
static int pes_pts(const uint8_t *p, size_t n, uint64_t *pts)
{
    if (n < 14 || p[0] != 0 || p[1] != 0 || p[2] != 1)
        return 0;
    uint8_t sid = p[3];
    if (sid < 0xbd || sid == 0xbe || sid == 0xbf) /* no optional header */
        return 0;
    if ((p[6] & 0xc0) != 0x80 || !(p[7] & 0x80) || p[8] < 5)
        return 0;
    const uint8_t *t = p + 9;
    if ((t[0] & 0x20) != 0x20 || !(t[0] & 1) || !(t[2] & 1) || !(t[4] & 1))
        return 0; /* '001x' prefix and marker bits */
    *pts = ((uint64_t)(t[0] & 0x0e) << 29) | ((uint64_t)t[1] << 22) |
           ((uint64_t)(t[2] & 0xfe) << 14) | ((uint64_t)t[3] << 7) | (t[4] >> 1);
    return 1;
}

static void add_pts(ts_scan_t *s, uint64_t pts)
{
    s->pts_seen++;
    if (!s->have) {
        s->have = 1;
        s->first = pts;
        return;
    }
    uint64_t ahead = (pts - s->first) & PTS_MASK;
    if (ahead < PTS_HALF) {
        if (ahead > s->span)
            s->span = ahead;
        return;
    }
    uint64_t behind = (s->first - pts) & PTS_MASK; /* an earlier PTS: the span grows back */
    if (s->span + behind >= PTS_HALF)
        return; /* a span of half the clock: not one file's */
    s->first = pts;
    s->span += behind;
}

void ts_scan_feed(ts_scan_t *s, const uint8_t *p, size_t len)
{
    for (size_t off = 0; len - off >= TS_SCAN_PACKET; off += TS_SCAN_PACKET) {
        const uint8_t *k = p + off;
        if (k[0] != 0x47 || !(k[1] & 0x40) || !(k[3] & 0x10))
            continue; /* no sync, no unit start, or no payload */
        size_t at = 4;
        if (k[3] & 0x20)
            at += 1 + (size_t)k[4];
        uint64_t pts;
        if (at < TS_SCAN_PACKET && pes_pts(k + at, TS_SCAN_PACKET - at, &pts))
            add_pts(s, pts);
    }
}

uint32_t ts_scan_ms(const ts_scan_t *s)
{
    return (uint32_t)(s->span / 90);
}
