/* fmp4_mux: the RFC 6381 codecs parameter of a track (see fmp4_mux.h),
 * read from the decoder configuration record the init segment carries. */
#include "fmp4_mux.h"

#include <stdio.h>

#include "common.h"

/* snprintf's result as this module's return code. */
static int fit(int n, size_t cap)
{
    return n >= 0 && (size_t)n < cap ? 0 : NODE_ELIMIT;
}

/* avcC: configurationVersion, then profile, compatibility, level. */
static int codec_avc(const uint8_t *r, size_t len, char *buf, size_t cap)
{
    if (len < 4)
        return NODE_EPROTO;
    return fit(snprintf(buf, cap, "avc1.%02x%02x%02x", r[1], r[2], r[3]), cap);
}

/* The 32 compatibility flags of hvcC bytes 2..5 in reverse bit order. */
static uint32_t reverse32(uint32_t v)
{
    uint32_t out = 0;
    for (int i = 0; i < 32; i++, v >>= 1)
        out = (out << 1) | (v & 1);
    return out;
}

/* hvcC (14496-15 E.3): profile space (A-C) and idc, the compatibility
 * flags reversed in hex, tier (L/H) and level, then the six constraint
 * bytes in hex without the trailing zero ones. */
static int codec_hevc(const uint8_t *r, size_t len, char *buf, size_t cap)
{
    static const char *const SPACE[4] = {"", "A", "B", "C"};
    if (len < 13)
        return NODE_EPROTO;
    int n = snprintf(buf, cap, "hvc1.%s%u.%x.%c%u", SPACE[r[1] >> 6], r[1] & 0x1fu,
                     reverse32(rd_be32(r + 2)), (r[1] & 0x20) ? 'H' : 'L', r[12]);
    int last = 5;
    while (last >= 0 && r[6 + last] == 0)
        last--;
    for (int i = 0; i <= last && fit(n, cap) == 0; i++)
        n += snprintf(buf + n, cap - (size_t)n, ".%02x", r[6 + i]);
    return fit(n, cap);
}

/* av1C: seq_profile, seq_level_idx_0, seq_tier_0, and the bit depth
 * from high_bitdepth and twelve_bit. */
static int codec_av1(const uint8_t *r, size_t len, char *buf, size_t cap)
{
    if (len < 4)
        return NODE_EPROTO;
    unsigned depth = (r[2] & 0x40) ? ((r[2] & 0x20) ? 12 : 10) : 8;
    return fit(snprintf(buf, cap, "av01.%u.%02u%c.%02u", r[1] >> 5, r[1] & 0x1fu,
                        (r[2] & 0x80) ? 'H' : 'M', depth),
               cap);
}

/* AudioSpecificConfig: audioObjectType (5 bits; 31 escapes to 32 + 6). */
static int codec_aac(const uint8_t *r, size_t len, char *buf, size_t cap)
{
    if (len < 1)
        return NODE_EPROTO;
    unsigned aot = r[0] >> 3;
    if (aot == 31) {
        if (len < 2)
            return NODE_EPROTO;
        aot = 32 + (((r[0] & 0x07u) << 3) | (r[1] >> 5));
    }
    return fit(snprintf(buf, cap, "mp4a.40.%u", aot), cap);
}

int fmp4_mux_codec_string(const fmp4_track_t *t, char *buf, size_t cap)
{
    if (cap > 0)
        buf[0] = 0;
    if (!t->record)
        return NODE_EPROTO;
    switch (t->codec) {
    case FMP4_H264: return codec_avc(t->record, t->record_len, buf, cap);
    case FMP4_H265: return codec_hevc(t->record, t->record_len, buf, cap);
    case FMP4_AV1: return codec_av1(t->record, t->record_len, buf, cap);
    case FMP4_AAC: return codec_aac(t->record, t->record_len, buf, cap);
    default: return NODE_EPROTO;
    }
}
