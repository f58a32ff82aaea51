/* fmp4_mux: the init segment (see fmp4_mux.h): ftyp, then moov with mvhd,
 * one trak per track (tkhd, mdia: mdhd, hdlr, minf: vmhd/smhd, dinf,
 * stbl with the sample entry and empty sample tables) and mvex (a trex
 * per track). ISO/IEC 14496-12 8.x; sample entries per 14496-15 (avc1,
 * hvc1), AV1-ISOBMFF (av01) and 14496-14 (mp4a + esds). */
#include "fmp4_mux.h"

#include "common.h"
#include "fmp4_box.h"

#define MOVIE_TIMESCALE 1000
#define LANGUAGE_UND 0x55c4 /* "und", packed ISO 639-2/T */
#define HDLR_VIDE "VideoHandler"
#define HDLR_SOUN "SoundHandler"

static int is_video(const fmp4_track_t *t)
{
    return t->codec != FMP4_AAC;
}

static void matrix(fmp4_box_t *w)
{
    static const uint32_t UNITY[9] = {0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000};
    for (int i = 0; i < 9; i++)
        fmp4_box_u32(w, UNITY[i]);
}

/* major iso6; compatible iso6, cmfc (CMAF), and the video codec's brand
 * where its spec defines one (avc1: 14496-15; av01: AV1-ISOBMFF). */
static void ftyp(fmp4_box_t *w, const fmp4_track_t *tracks, size_t n)
{
    size_t b = fmp4_box_open(w, "ftyp");
    fmp4_box_cc(w, "iso6");
    fmp4_box_u32(w, 0);
    fmp4_box_cc(w, "iso6");
    fmp4_box_cc(w, "cmfc");
    int avc = 0, av1 = 0;
    for (size_t i = 0; i < n; i++) {
        avc |= tracks[i].codec == FMP4_H264;
        av1 |= tracks[i].codec == FMP4_AV1;
    }
    if (avc)
        fmp4_box_cc(w, "avc1");
    if (av1)
        fmp4_box_cc(w, "av01");
    fmp4_box_end(w, b);
}

static void mvhd(fmp4_box_t *w, uint32_t next_track_id)
{
    size_t b = fmp4_box_open_full(w, "mvhd", 0, 0);
    fmp4_box_zeros(w, 8); /* creation, modification time */
    fmp4_box_u32(w, MOVIE_TIMESCALE);
    fmp4_box_u32(w, 0);          /* duration: fragmented */
    fmp4_box_u32(w, 0x00010000); /* rate 1.0 */
    fmp4_box_u16(w, 0x0100);     /* volume 1.0 */
    fmp4_box_zeros(w, 2 + 8);
    matrix(w);
    fmp4_box_zeros(w, 24); /* pre_defined */
    fmp4_box_u32(w, next_track_id);
    fmp4_box_end(w, b);
}

static void tkhd(fmp4_box_t *w, const fmp4_track_t *t)
{
    size_t b = fmp4_box_open_full(w, "tkhd", 0, 0x000003); /* enabled, in movie */
    fmp4_box_zeros(w, 8);
    fmp4_box_u32(w, t->id);
    fmp4_box_u32(w, 0); /* reserved */
    fmp4_box_u32(w, 0); /* duration */
    fmp4_box_zeros(w, 8);
    fmp4_box_u16(w, 0); /* layer */
    fmp4_box_u16(w, 0); /* alternate_group */
    fmp4_box_u16(w, is_video(t) ? 0 : 0x0100);
    fmp4_box_u16(w, 0);
    matrix(w);
    fmp4_box_u32(w, (t->width & 0xffff) << 16);
    fmp4_box_u32(w, (t->height & 0xffff) << 16);
    fmp4_box_end(w, b);
}

static void mdhd_hdlr(fmp4_box_t *w, const fmp4_track_t *t)
{
    size_t b = fmp4_box_open_full(w, "mdhd", 0, 0);
    fmp4_box_zeros(w, 8);
    fmp4_box_u32(w, t->timescale);
    fmp4_box_u32(w, 0);
    fmp4_box_u16(w, LANGUAGE_UND);
    fmp4_box_u16(w, 0);
    fmp4_box_end(w, b);

    const char *name = is_video(t) ? HDLR_VIDE : HDLR_SOUN;
    b = fmp4_box_open_full(w, "hdlr", 0, 0);
    fmp4_box_u32(w, 0);
    fmp4_box_cc(w, is_video(t) ? "vide" : "soun");
    fmp4_box_zeros(w, 12);
    fmp4_box_bytes(w, (const uint8_t *)name, sizeof HDLR_VIDE); /* with its NUL */
    fmp4_box_end(w, b);
}

static void visual_entry(fmp4_box_t *w, const fmp4_track_t *t)
{
    static const char *const ENTRY[] = {"avc1", "avc1", "hvc1", "av01"};
    static const char *const CONFIG[] = {"avcC", "avcC", "hvcC", "av1C"};
    size_t b = fmp4_box_open(w, ENTRY[t->codec]);
    fmp4_box_zeros(w, 6);
    fmp4_box_u16(w, 1); /* data_reference_index */
    fmp4_box_zeros(w, 16);
    fmp4_box_u16(w, t->width & 0xffff);
    fmp4_box_u16(w, t->height & 0xffff);
    fmp4_box_u32(w, 0x00480000); /* 72 dpi */
    fmp4_box_u32(w, 0x00480000);
    fmp4_box_u32(w, 0);
    fmp4_box_u16(w, 1);    /* frame_count */
    fmp4_box_zeros(w, 32); /* compressorname */
    fmp4_box_u16(w, 0x0018);
    fmp4_box_u16(w, 0xffff);
    size_t c = fmp4_box_open(w, CONFIG[t->codec]);
    fmp4_box_bytes(w, t->record, t->record_len);
    fmp4_box_end(w, c);
    fmp4_box_end(w, b);
}

/* An MPEG-4 descriptor header: tag and the 4-byte form of its size. */
static void descriptor(fmp4_box_t *w, unsigned tag, size_t len)
{
    fmp4_box_u8(w, tag);
    fmp4_box_u8(w, 0x80 | ((len >> 21) & 0x7f));
    fmp4_box_u8(w, 0x80 | ((len >> 14) & 0x7f));
    fmp4_box_u8(w, 0x80 | ((len >> 7) & 0x7f));
    fmp4_box_u8(w, len & 0x7f);
}

/* esds: ES_Descriptor { DecoderConfigDescriptor { DecoderSpecificInfo
 * (the AudioSpecificConfig) }, SLConfigDescriptor } (14496-1 7.2.6). */
static void esds(fmp4_box_t *w, const fmp4_track_t *t)
{
    size_t dcd_len = 13 + 5 + t->record_len;
    size_t b = fmp4_box_open_full(w, "esds", 0, 0);
    descriptor(w, 0x03, 3 + 5 + dcd_len + 5 + 1);
    fmp4_box_u16(w, 0); /* ES_ID */
    fmp4_box_u8(w, 0);  /* no dependency, URL, OCR */
    descriptor(w, 0x04, dcd_len);
    fmp4_box_u8(w, 0x40);            /* objectTypeIndication: MPEG-4 Audio */
    fmp4_box_u8(w, (0x05 << 2) | 1); /* streamType audio, upStream 0, reserved 1 */
    fmp4_box_u24(w, 0);              /* bufferSizeDB */
    fmp4_box_u32(w, 0);              /* maxBitrate */
    fmp4_box_u32(w, 0);              /* avgBitrate */
    descriptor(w, 0x05, t->record_len);
    fmp4_box_bytes(w, t->record, t->record_len);
    descriptor(w, 0x06, 1);
    fmp4_box_u8(w, 0x02); /* predefined: MP4 */
    fmp4_box_end(w, b);
}

static void audio_entry(fmp4_box_t *w, const fmp4_track_t *t)
{
    size_t b = fmp4_box_open(w, "mp4a");
    fmp4_box_zeros(w, 6);
    fmp4_box_u16(w, 1); /* data_reference_index */
    fmp4_box_zeros(w, 8);
    fmp4_box_u16(w, t->channels & 0xffff);
    fmp4_box_u16(w, 16); /* samplesize */
    fmp4_box_zeros(w, 4);
    fmp4_box_u32(w, t->sample_rate <= 0xffff ? t->sample_rate << 16 : 0);
    esds(w, t);
    fmp4_box_end(w, b);
}

/* stbl: the sample entry, and empty stts, stsc, stsz, stco. */
static void stbl(fmp4_box_t *w, const fmp4_track_t *t)
{
    size_t b = fmp4_box_open(w, "stbl");
    size_t d = fmp4_box_open_full(w, "stsd", 0, 0);
    fmp4_box_u32(w, 1);
    if (is_video(t))
        visual_entry(w, t);
    else
        audio_entry(w, t);
    fmp4_box_end(w, d);
    static const char *const EMPTY[] = {"stts", "stsc", "stco"};
    for (int i = 0; i < 3; i++) {
        d = fmp4_box_open_full(w, EMPTY[i], 0, 0);
        fmp4_box_u32(w, 0);
        fmp4_box_end(w, d);
    }
    d = fmp4_box_open_full(w, "stsz", 0, 0);
    fmp4_box_u32(w, 0); /* sample_size */
    fmp4_box_u32(w, 0); /* sample_count */
    fmp4_box_end(w, d);
    fmp4_box_end(w, b);
}

static void minf(fmp4_box_t *w, const fmp4_track_t *t)
{
    size_t b = fmp4_box_open(w, "minf");
    size_t h =
        is_video(t) ? fmp4_box_open_full(w, "vmhd", 0, 1) : fmp4_box_open_full(w, "smhd", 0, 0);
    fmp4_box_zeros(w, is_video(t) ? 8 : 4);
    fmp4_box_end(w, h);
    size_t d = fmp4_box_open(w, "dinf");
    size_t r = fmp4_box_open_full(w, "dref", 0, 0);
    fmp4_box_u32(w, 1);
    fmp4_box_end(w, fmp4_box_open_full(w, "url ", 0, 1)); /* self-contained */
    fmp4_box_end(w, r);
    fmp4_box_end(w, d);
    stbl(w, t);
    fmp4_box_end(w, b);
}

static void trak(fmp4_box_t *w, const fmp4_track_t *t)
{
    size_t b = fmp4_box_open(w, "trak");
    tkhd(w, t);
    size_t m = fmp4_box_open(w, "mdia");
    mdhd_hdlr(w, t);
    minf(w, t);
    fmp4_box_end(w, m);
    fmp4_box_end(w, b);
}

static void mvex(fmp4_box_t *w, const fmp4_track_t *tracks, size_t n)
{
    size_t b = fmp4_box_open(w, "mvex");
    for (size_t i = 0; i < n; i++) {
        size_t x = fmp4_box_open_full(w, "trex", 0, 0);
        fmp4_box_u32(w, tracks[i].id);
        fmp4_box_u32(w, 1);    /* default_sample_description_index */
        fmp4_box_zeros(w, 12); /* default duration, size, flags: trun has them */
        fmp4_box_end(w, x);
    }
    fmp4_box_end(w, b);
}

static int track_ok(const fmp4_track_t *tracks, size_t i)
{
    const fmp4_track_t *t = &tracks[i];
    if (t->codec < FMP4_H264 || t->codec > FMP4_AAC || t->id == 0 || t->timescale == 0 ||
        t->timescale > FMP4_MAX_TIMESCALE || !t->record || t->record_len == 0 ||
        t->record_len > FMP4_MAX_RECORD)
        return 0;
    for (size_t j = 0; j < i; j++)
        if (tracks[j].id == t->id)
            return 0;
    return 1;
}

static void init_segment(fmp4_box_t *w, const fmp4_track_t *tracks, size_t n, uint32_t next_id)
{
    ftyp(w, tracks, n);
    size_t b = fmp4_box_open(w, "moov");
    mvhd(w, next_id);
    for (size_t i = 0; i < n; i++)
        trak(w, &tracks[i]);
    mvex(w, tracks, n);
    fmp4_box_end(w, b);
}

int fmp4_mux_init(const fmp4_track_t *tracks, size_t ntracks, uint8_t *buf, size_t cap, size_t *len)
{
    *len = 0;
    if (ntracks > FMP4_MAX_TRACKS)
        return NODE_ELIMIT;
    if (ntracks == 0)
        return NODE_EINVAL;
    uint32_t max_id = 0;
    for (size_t i = 0; i < ntracks; i++) {
        if (!track_ok(tracks, i))
            return NODE_EINVAL;
        max_id = tracks[i].id > max_id ? tracks[i].id : max_id;
    }
    uint32_t next_id = max_id == UINT32_MAX ? UINT32_MAX : max_id + 1;
    fmp4_box_t w;
    fmp4_box_init(&w, NULL, 0);
    init_segment(&w, tracks, ntracks, next_id);
    *len = w.pos;
    if (w.err)
        return NODE_ELIMIT;
    if (!buf)
        return 0;
    if (cap < *len)
        return NODE_ELIMIT;
    fmp4_box_init(&w, buf, cap);
    init_segment(&w, tracks, ntracks, next_id);
    return 0;
}
