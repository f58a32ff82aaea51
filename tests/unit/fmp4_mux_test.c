/* Unit tests for fmp4_mux: the init segment and fragments are parsed back
 * box by box (every container's children fill it exactly, sizes add up to
 * the length returned), with versions, flags, track ids, timescales, sample
 * entries, sample counts, durations, sizes, flags and composition offsets
 * checked; tfdt continuity across fragments; the zero-copy and flat
 * outputs; every bound and refusal; truncated sequence headers at every
 * length. Outputs are written into exact-size heap buffers, so ASan
 * catches a write past the size announced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fmp4_fixtures.h"
#include "fmp4_mux.h"

/* Sequence header tag bodies: H.264 and AAC in fmp4_fixtures.h; H.265
 * Main 320x240 (x265) and AV1 320x240 (libsvtav1) as Enhanced RTMP
 * SequenceStart bodies, built by tests/integration/test_fmp4_mux.py (hvcC
 * from the SPS, av1C from FFmpeg's MP4). */
static const uint8_t V_HEVC_SEQ[] = {
    0x90, 0x68, 0x76, 0x63, 0x31, 0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x3c, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03, 0xa0, 0x00,
    0x01, 0x00, 0x18, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00,
    0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x92, 0x80, 0x90, 0xa1, 0x00, 0x01,
    0x00, 0x29, 0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03,
    0x00, 0x00, 0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x2a, 0x49, 0x32, 0xbc,
    0x05, 0xa0, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0x21, 0xa2, 0x00,
    0x01, 0x00, 0x07, 0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40};
static const uint8_t V_AV1_SEQ[] = {0x90, 0x61, 0x76, 0x30, 0x31, 0x81, 0x00, 0x0c,
                                    0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x04, 0x3c,
                                    0xff, 0xbc, 0xfb, 0xf9, 0x00, 0x40};

/* ---- a box reader ------------------------------------------------------- */

typedef struct {
    const uint8_t *p; /* the box's first byte (its size) */
    size_t len;       /* whole box */
} box_t;

static uint32_t be32(const uint8_t *p)
{
    return rd_be32(p);
}

/* The boxes in p[0..len): asserts they fill it exactly; returns how many
 * (at most max into out). */
static size_t boxes(const uint8_t *p, size_t len, box_t *out, size_t max)
{
    size_t off = 0, n = 0;
    while (off < len) {
        assert_true(len - off >= 8);
        uint32_t size = be32(p + off);
        assert_true(size >= 8 && size <= len - off);
        if (n < max)
            out[n] = (box_t){p + off, size};
        n++;
        off += size;
    }
    assert_int_equal(off, len);
    return n;
}

static int is(box_t b, const char *cc)
{
    return memcmp(b.p + 4, cc, 4) == 0;
}

/* The child box cc of b, whose children start skip bytes into its payload;
 * fails when absent. */
static box_t child(box_t b, size_t skip, const char *cc)
{
    box_t kids[16];
    assert_true(b.len >= 8 + skip);
    size_t n = boxes(b.p + 8 + skip, b.len - 8 - skip, kids, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (is(kids[i], cc))
            return kids[i];
    fail_msg("no %s box", cc);
    return b;
}

static size_t count_children(box_t b, size_t skip, const char *cc)
{
    box_t kids[16];
    size_t n = boxes(b.p + 8 + skip, b.len - 8 - skip, kids, 16), k = 0;
    for (size_t i = 0; i < n && i < 16; i++)
        k += is(kids[i], cc);
    return k;
}

static box_t path(box_t b, const char *const *names)
{
    for (; *names; names++)
        b = child(b, 0, *names);
    return b;
}

/* version and flags of a full box */
static uint32_t vflags(box_t b)
{
    return be32(b.p + 8);
}

/* ---- helpers ------------------------------------------------------------ */

static uint8_t *heap_copy(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    assert_non_null(c);
    memcpy(c, p, n);
    return c;
}

/* Writes the init segment into an exact-size buffer (size asked first). */
static uint8_t *init_segment(const fmp4_track_t *t, size_t n, size_t *len)
{
    size_t need;
    assert_int_equal(fmp4_mux_init(t, n, NULL, 0, &need), 0);
    uint8_t *buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(fmp4_mux_init(t, n, buf, need, len), 0);
    assert_int_equal(*len, need);
    return buf;
}

static void make_av_tracks(fmp4_track_t *v, fmp4_track_t *a)
{
    const char *err = NULL;
    assert_int_equal(fmp4_mux_track_video(v, 1, V_H264_SEQ, sizeof V_H264_SEQ, &err), 0);
    assert_int_equal(fmp4_mux_track_audio(a, 2, A_AAC_SEQ, sizeof A_AAC_SEQ, &err), 0);
}

/* ---- init segment ------------------------------------------------------- */

static void test_init_h264_aac(void **state)
{
    (void)state;
    fmp4_track_t t[2];
    make_av_tracks(&t[0], &t[1]);
    assert_int_equal(t[0].codec, FMP4_H264);
    assert_int_equal(t[0].width, 320);
    assert_int_equal(t[0].height, 240);
    assert_int_equal(t[0].timescale, 90000);
    assert_int_equal(t[1].timescale, 44100);
    assert_int_equal(t[1].channels, 2);
    assert_int_equal(t[1].default_duration, 1024);

    size_t len;
    uint8_t *buf = init_segment(t, 2, &len);
    box_t top[2];
    assert_int_equal(boxes(buf, len, top, 2), 2);
    assert_true(is(top[0], "ftyp") && is(top[1], "moov"));
    assert_memory_equal(top[0].p + 8, "iso6\0\0\0\0iso6cmfcavc1", 20);
    assert_int_equal(top[0].len, 28);

    box_t moov = top[1];
    assert_int_equal(count_children(moov, 0, "trak"), 2);
    box_t mvhd = child(moov, 0, "mvhd");
    assert_int_equal(vflags(mvhd), 0);
    assert_int_equal(be32(mvhd.p + 8 + 4 + 8), 1000); /* timescale */
    assert_int_equal(be32(mvhd.p + mvhd.len - 4), 3); /* next_track_ID */
    box_t mvex = child(moov, 0, "mvex");
    assert_int_equal(count_children(mvex, 0, "trex"), 2);
    box_t trex = child(mvex, 0, "trex");
    assert_int_equal(be32(trex.p + 12), 1);

    box_t trak = child(moov, 0, "trak");
    box_t tkhd = child(trak, 0, "tkhd");
    assert_int_equal(vflags(tkhd), 3);
    assert_int_equal(be32(tkhd.p + 20), 1);                   /* track_ID */
    assert_int_equal(be32(tkhd.p + tkhd.len - 8), 320 << 16); /* width */
    static const char *const MDHD[] = {"mdia", "mdhd", NULL};
    assert_int_equal(be32(path(trak, MDHD).p + 20), 90000);
    static const char *const HDLR[] = {"mdia", "hdlr", NULL};
    assert_memory_equal(path(trak, HDLR).p + 16, "vide", 4);
    static const char *const STBL[] = {"mdia", "minf", "stbl", NULL};
    box_t stbl = path(trak, STBL);
    assert_int_equal(be32(child(stbl, 0, "stts").p + 12), 0);
    assert_int_equal(be32(child(stbl, 0, "stsz").p + 16), 0);
    box_t stsd = child(stbl, 0, "stsd");
    assert_int_equal(be32(stsd.p + 12), 1);
    box_t avc1 = child(stsd, 8, "avc1");
    assert_int_equal(rd_be16(avc1.p + 32), 320);
    assert_int_equal(rd_be16(avc1.p + 34), 240);
    box_t avcc = child(avc1, 78, "avcC");
    assert_int_equal(avcc.len - 8, sizeof V_H264_SEQ - 5);
    assert_memory_equal(avcc.p + 8, V_H264_SEQ + 5, sizeof V_H264_SEQ - 5);
    free(buf);
}

static void test_init_aac_esds(void **state)
{
    (void)state;
    fmp4_track_t t[2];
    make_av_tracks(&t[0], &t[1]);
    size_t len;
    uint8_t *buf = init_segment(&t[1], 1, &len);
    box_t top[2];
    assert_int_equal(boxes(buf, len, top, 2), 2);
    assert_memory_equal(top[0].p + 8, "iso6\0\0\0\0iso6cmfc", 16);
    assert_int_equal(top[0].len, 24); /* no video brand */
    static const char *const STSD[] = {"trak", "mdia", "minf", "stbl", "stsd", NULL};
    box_t stsd = path(top[1], STSD);
    box_t mp4a = child(stsd, 8, "mp4a");
    assert_int_equal(rd_be16(mp4a.p + 24), 2);         /* channelcount */
    assert_int_equal(be32(mp4a.p + 32), 44100u << 16); /* samplerate */
    box_t esds = child(mp4a, 28, "esds");
    const uint8_t *d = esds.p + 12;
    assert_int_equal(d[0], 0x03);
    size_t es_len = (size_t)(d[4] & 0x7f);
    assert_int_equal(es_len, esds.len - 12 - 5);
    assert_int_equal(d[8], 0x04);
    assert_int_equal(d[13], 0x40); /* MPEG-4 Audio */
    assert_int_equal(d[14], 0x15);
    assert_int_equal(d[26], 0x05);
    assert_int_equal(d[30], 5); /* DecoderSpecificInfo: the ASC */
    assert_memory_equal(d + 31, A_AAC_SEQ + 2, 5);
    assert_int_equal(d[36], 0x06);
    static const char *const HDLR[] = {"trak", "mdia", "hdlr", NULL};
    assert_memory_equal(path(top[1], HDLR).p + 16, "soun", 4);
    free(buf);
}

static void test_init_hevc_av1(void **state)
{
    (void)state;
    fmp4_track_t t[2];
    const char *err = NULL;
    assert_int_equal(fmp4_mux_track_video(&t[0], 1, V_HEVC_SEQ, sizeof V_HEVC_SEQ, &err), 0);
    assert_int_equal(t[0].codec, FMP4_H265);
    assert_int_equal(t[0].width, 320);
    assert_int_equal(t[0].height, 240);
    assert_int_equal(fmp4_mux_track_video(&t[1], 2, V_AV1_SEQ, sizeof V_AV1_SEQ, &err), 0);
    assert_int_equal(t[1].codec, FMP4_AV1);
    assert_int_equal(t[1].width, 320);
    assert_int_equal(t[1].height, 240);
    static const struct {
        int i;
        const char *entry, *cfg;
        const uint8_t *rec;
        size_t len;
    } CASES[] = {{0, "hvc1", "hvcC", V_HEVC_SEQ + 5, sizeof V_HEVC_SEQ - 5},
                 {1, "av01", "av1C", V_AV1_SEQ + 5, sizeof V_AV1_SEQ - 5}};
    for (size_t c = 0; c < 2; c++) {
        size_t len;
        uint8_t *buf = init_segment(&t[CASES[c].i], 1, &len);
        box_t top[2];
        assert_int_equal(boxes(buf, len, top, 2), 2);
        static const char *const STSD[] = {"trak", "mdia", "minf", "stbl", "stsd", NULL};
        box_t entry = child(path(top[1], STSD), 8, CASES[c].entry);
        box_t cfg = child(entry, 78, CASES[c].cfg);
        assert_int_equal(cfg.len - 8, CASES[c].len);
        assert_memory_equal(cfg.p + 8, CASES[c].rec, CASES[c].len);
        free(buf);
    }
}

static void test_init_refusals(void **state)
{
    (void)state;
    fmp4_track_t t[FMP4_MAX_TRACKS + 1];
    make_av_tracks(&t[0], &t[1]);
    size_t len, need;
    assert_int_equal(fmp4_mux_init(t, 0, NULL, 0, &len), NODE_EINVAL);
    t[1].id = 1; /* repeated */
    assert_int_equal(fmp4_mux_init(t, 2, NULL, 0, &len), NODE_EINVAL);
    t[1].id = 0;
    assert_int_equal(fmp4_mux_init(t, 2, NULL, 0, &len), NODE_EINVAL);
    t[1].id = 2;
    for (int i = 2; i <= FMP4_MAX_TRACKS; i++) {
        t[i] = t[0];
        t[i].id = (uint32_t)i + 1;
    }
    assert_int_equal(fmp4_mux_init(t, FMP4_MAX_TRACKS, NULL, 0, &len), 0);
    assert_int_equal(fmp4_mux_init(t, FMP4_MAX_TRACKS + 1, NULL, 0, &len), NODE_ELIMIT);
    /* A buffer one byte short: refused, the size needed said, nothing
     * written past it. */
    assert_int_equal(fmp4_mux_init(t, 2, NULL, 0, &need), 0);
    uint8_t *buf = malloc(need - 1);
    assert_int_equal(fmp4_mux_init(t, 2, buf, need - 1, &len), NODE_ELIMIT);
    assert_int_equal(len, need);
    free(buf);
}

/* ---- tracks and samples from tag bodies ---------------------------------- */

static void test_track_truncated(void **state)
{
    (void)state;
    static const struct {
        const uint8_t *p;
        size_t len;
        int video;
    } SEQ[] = {{V_H264_SEQ, sizeof V_H264_SEQ, 1},
               {V_HEVC_SEQ, sizeof V_HEVC_SEQ, 1},
               {V_AV1_SEQ, sizeof V_AV1_SEQ, 1},
               {A_AAC_SEQ, sizeof A_AAC_SEQ, 0}};
    for (size_t s = 0; s < 4; s++)
        for (size_t n = 0; n < SEQ[s].len; n++) {
            uint8_t *c = heap_copy(SEQ[s].p, n);
            fmp4_track_t t;
            const char *err = NULL;
            int rc = SEQ[s].video ? fmp4_mux_track_video(&t, 1, c, n, &err)
                                  : fmp4_mux_track_audio(&t, 1, c, n, &err);
            if (rc == 0) { /* a record cut after its last array still parses */
                assert_true(t.record >= c && t.record + t.record_len <= c + n);
            } else {
                assert_non_null(err);
            }
            free(c);
        }
    fmp4_track_t t;
    const char *err = NULL;
    assert_int_equal(fmp4_mux_track_video(&t, 1, A_AAC_SEQ, sizeof A_AAC_SEQ, &err), NODE_EINVAL);
    assert_int_equal(fmp4_mux_track_audio(&t, 1, V_H264_SEQ, sizeof V_H264_SEQ, &err), NODE_EINVAL);
    static const uint8_t CODED[] = {0x17, 0x01, 0, 0, 0, 0, 0, 0, 1, 0x65};
    assert_int_equal(fmp4_mux_track_video(&t, 1, CODED, sizeof CODED, &err), NODE_EINVAL);
}

static void test_samples_from_tags(void **state)
{
    (void)state;
    fmp4_track_t v, a, av1;
    make_av_tracks(&v, &a);
    const char *err;
    assert_int_equal(fmp4_mux_track_video(&av1, 1, V_AV1_SEQ, sizeof V_AV1_SEQ, &err), 0);
    fmp4_sample_t s;
    /* H.264 inter frame, composition time 80 ms */
    static const uint8_t P[] = {0x27, 0x01, 0x00, 0x00, 0x50, 0, 0, 0, 2, 0x41, 0x9a};
    assert_int_equal(fmp4_mux_sample_video(&v, P, sizeof P, 40, &s), 0);
    assert_ptr_equal(s.data, P + 5);
    assert_int_equal(s.len, 6);
    assert_int_equal(s.cts_ms, 80);
    assert_int_equal(s.dts_ms, 40);
    assert_false(s.key);
    assert_int_equal(fmp4_mux_sample_video(&v, V_H264_SEQ, sizeof V_H264_SEQ, 0, &s), 1);
    assert_int_equal(fmp4_mux_sample_video(&v, V_HEVC_SEQ, sizeof V_HEVC_SEQ, 0, &s), NODE_EINVAL);
    assert_int_equal(fmp4_mux_sample_video(&v, P, 3, 0, &s), NODE_EPROTO);
    /* AAC raw frame; its sequence header is no sample */
    static const uint8_t RAW[] = {0xaf, 0x01, 0x21, 0x10, 0x04};
    assert_int_equal(fmp4_mux_sample_audio(&a, RAW, sizeof RAW, 23, &s), 0);
    assert_ptr_equal(s.data, RAW + 2);
    assert_true(s.key);
    assert_int_equal(fmp4_mux_sample_audio(&a, A_AAC_SEQ, sizeof A_AAC_SEQ, 0, &s), 1);
    assert_int_equal(fmp4_mux_sample_audio(&v, RAW, sizeof RAW, 0, &s), NODE_EINVAL);
    /* AV1 key CodedFrames: the leading temporal delimiter (12 00) is left out */
    static const uint8_t K[] = {0x91, 'a', 'v', '0', '1', 0x12, 0x00, 0x32, 0x01, 0xaa};
    assert_int_equal(fmp4_mux_sample_video(&av1, K, sizeof K, 0, &s), 0);
    assert_ptr_equal(s.data, K + 7);
    assert_int_equal(s.len, 3);
    assert_true(s.key);
    static const uint8_t X[] = {0xa3, 'a', 'v', '0', '1', 0x32, 0x01, 0xbb};
    assert_int_equal(fmp4_mux_sample_video(&av1, X, sizeof X, 40, &s), 0);
    assert_ptr_equal(s.data, X + 5);
    assert_false(s.key);
    static const uint8_t TD_ONLY[] = {0x91, 'a', 'v', '0', '1', 0x12, 0x00};
    assert_int_equal(fmp4_mux_sample_video(&av1, TD_ONLY, sizeof TD_ONLY, 0, &s), 1);
    assert_int_equal(fmp4_mux_sample_video(&av1, P, sizeof P, 0, &s), NODE_EINVAL);
}

/* ---- fragments ---------------------------------------------------------- */

#define NV 5
#define NA 9

typedef struct {
    fmp4_track_t v, a;
    uint8_t vbytes[NV][8], abytes[NA][4];
    fmp4_sample_t vs[NV], as[NA];
} av_t;

/* 5 video samples, 40 ms apart from 1000 ms, key first, composition
 * offsets 80, 0, -40...; 9 AAC frames 23 ms apart. */
static void make_samples(av_t *x)
{
    static const int32_t CTS[NV] = {80, 0, 120, -40, 40};
    make_av_tracks(&x->v, &x->a);
    for (int i = 0; i < NV; i++) {
        memset(x->vbytes[i], 0x10 + i, sizeof x->vbytes[i]);
        x->vs[i] = (fmp4_sample_t){x->vbytes[i], (size_t)(3 + i), 1000 + 40 * i, CTS[i], i == 0};
    }
    for (int i = 0; i < NA; i++) {
        memset(x->abytes[i], 0xa0 + i, sizeof x->abytes[i]);
        x->as[i] = (fmp4_sample_t){x->abytes[i], 4, 1000 + 23 * i, 0, 1};
    }
}

typedef struct {
    uint32_t seq;
    uint32_t track;
    uint64_t tfdt;
    uint32_t n;
    int32_t data_offset;
    uint32_t dur[16], size[16], flags[16];
    int32_t cts[16];
    int has_cts;
} traf_t;

/* Parses one traf of a moof. */
static void parse_traf(box_t traf, traf_t *out)
{
    box_t tfhd = child(traf, 0, "tfhd");
    assert_int_equal(vflags(tfhd), 0x020000);
    assert_int_equal(tfhd.len, 16);
    out->track = be32(tfhd.p + 12);
    box_t tfdt = child(traf, 0, "tfdt");
    assert_int_equal(vflags(tfdt), 0x01000000);
    out->tfdt = ((uint64_t)be32(tfdt.p + 12) << 32) | be32(tfdt.p + 16);
    box_t trun = child(traf, 0, "trun");
    uint32_t vf = vflags(trun);
    assert_int_equal(vf >> 24, 1);
    out->has_cts = (vf & 0x800) != 0;
    assert_int_equal(vf & 0xfff7ff, 0x000701);
    out->n = be32(trun.p + 12);
    out->data_offset = (int32_t)be32(trun.p + 16);
    size_t per = out->has_cts ? 16 : 12;
    assert_int_equal(trun.len, 20 + per * out->n);
    for (uint32_t i = 0; i < out->n && i < 16; i++) {
        const uint8_t *e = trun.p + 20 + per * i;
        out->dur[i] = be32(e);
        out->size[i] = be32(e + 4);
        out->flags[i] = be32(e + 8);
        out->cts[i] = out->has_cts ? (int32_t)be32(e + 12) : 0;
    }
}

/* Parses a fragment: moof (mfhd, trafs) then mdat filling the rest;
 * checks each run's data offset lands on its samples' bytes. */
static size_t parse_frag(const uint8_t *buf, size_t len, traf_t *out, size_t max,
                         const fmp4_run_t *runs)
{
    box_t top[2];
    assert_int_equal(boxes(buf, len, top, 2), 2);
    assert_true(is(top[0], "moof") && is(top[1], "mdat"));
    box_t mfhd = child(top[0], 0, "mfhd");
    box_t kids[8];
    size_t n = boxes(top[0].p + 8, top[0].len - 8, kids, 8), t = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is(kids[i], "traf"))
            continue;
        assert_true(t < max);
        out[t].seq = be32(mfhd.p + 12);
        parse_traf(kids[i], &out[t]);
        const uint8_t *d = buf + out[t].data_offset;
        for (uint32_t k = 0; k < out[t].n; k++) {
            assert_true(d + out[t].size[k] <= buf + len);
            assert_memory_equal(d, runs[t].samples[k].data, out[t].size[k]);
            d += out[t].size[k];
        }
        t++;
    }
    return t;
}

static uint8_t *frag(uint32_t seq, const fmp4_run_t *runs, size_t nruns, size_t *len)
{
    size_t need;
    assert_int_equal(fmp4_mux_frag_write(seq, runs, nruns, NULL, 0, &need), 0);
    uint8_t *buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(fmp4_mux_frag_write(seq, runs, nruns, buf, need, len), 0);
    assert_int_equal(*len, need);
    return buf;
}

static void test_frag_boxes(void **state)
{
    (void)state;
    av_t x;
    make_samples(&x);
    fmp4_run_t runs[2] = {{&x.v, x.vs, NV, 1200}, {&x.a, x.as, NA, 1207}};
    size_t len;
    uint8_t *buf = frag(7, runs, 2, &len);
    traf_t t[2];
    assert_int_equal(parse_frag(buf, len, t, 2, runs), 2);
    assert_int_equal(t[0].seq, 7);
    assert_int_equal(t[0].track, 1);
    assert_int_equal(t[0].tfdt, 90000);
    assert_int_equal(t[0].n, NV);
    assert_true(t[0].has_cts);
    static const int32_t CTS[NV] = {7200, 0, 10800, -3600, 3600};
    for (int i = 0; i < NV; i++) {
        assert_int_equal(t[0].dur[i], 3600);
        assert_int_equal(t[0].size[i], 3 + i);
        assert_int_equal(t[0].flags[i], i == 0 ? 0x02000000 : 0x01010000);
        assert_int_equal(t[0].cts[i], CTS[i]);
    }
    assert_int_equal(t[1].track, 2);
    assert_int_equal(t[1].tfdt, 44100);
    assert_false(t[1].has_cts);
    uint64_t sum = 0;
    for (int i = 0; i < NA; i++) {
        assert_int_equal(t[1].flags[i], 0x02000000);
        sum += t[1].dur[i];
    }
    assert_int_equal(sum, 1207 * 441 / 10 - 44100); /* up to the next DTS, in ticks */
    assert_int_equal(be32(buf + len - fmp4_mux_frag_payload_len(runs, 2) - 8),
                     8 + fmp4_mux_frag_payload_len(runs, 2));
    free(buf);
}

/* Fragments cut from one sample sequence, each told the next one's first
 * DTS: tfdt + durations of one equal the next one's tfdt, per track. */
static void test_frag_tfdt_continuity(void **state)
{
    (void)state;
    av_t x;
    make_samples(&x);
    static const size_t VCUT[] = {0, 2, 3, NV}, ACUT[] = {0, 4, 5, NA};
    uint64_t end[2] = {0, 0};
    for (int f = 0; f < 3; f++) {
        fmp4_run_t runs[2] = {{&x.v, x.vs + VCUT[f], VCUT[f + 1] - VCUT[f], FMP4_DTS_NONE},
                              {&x.a, x.as + ACUT[f], ACUT[f + 1] - ACUT[f], FMP4_DTS_NONE}};
        if (f < 2) {
            runs[0].next_dts_ms = x.vs[VCUT[f + 1]].dts_ms;
            runs[1].next_dts_ms = x.as[ACUT[f + 1]].dts_ms;
        }
        size_t len;
        uint8_t *buf = frag((uint32_t)f + 1, runs, 2, &len);
        traf_t t[2];
        assert_int_equal(parse_frag(buf, len, t, 2, runs), 2);
        for (int k = 0; k < 2; k++) {
            if (f > 0)
                assert_int_equal(t[k].tfdt, end[k]);
            end[k] = t[k].tfdt;
            for (uint32_t i = 0; i < t[k].n; i++)
                end[k] += t[k].dur[i];
        }
        if (f == 2) /* no next DTS: the last sample lasts as long as the one before */
            assert_int_equal(t[1].dur[t[1].n - 1], t[1].dur[t[1].n - 2]);
        free(buf);
    }
    /* A lone sample with no next DTS lasts the track's default duration. */
    fmp4_run_t one = {&x.a, x.as, 1, FMP4_DTS_NONE};
    size_t len;
    uint8_t *buf = frag(9, &one, 1, &len);
    traf_t t;
    assert_int_equal(parse_frag(buf, len, &t, 1, &one), 1);
    assert_int_equal(t.dur[0], 1024);
    free(buf);
}

static void test_frag_iov(void **state)
{
    (void)state;
    av_t x;
    make_samples(&x);
    fmp4_run_t runs[2] = {{&x.v, x.vs, NV, 1200}, {&x.a, x.as, NA, 1207}};
    size_t hlen, count, flen;
    assert_int_equal(fmp4_mux_frag_header(3, runs, 2, NULL, 0, &hlen), 0);
    uint8_t *hdr = malloc(hlen);
    assert_int_equal(fmp4_mux_frag_header(3, runs, 2, hdr, hlen - 1, &hlen), NODE_ELIMIT);
    assert_int_equal(fmp4_mux_frag_header(3, runs, 2, hdr, hlen, &hlen), 0);
    fmp4_iov_t iov[1 + NV + NA];
    assert_int_equal(fmp4_mux_frag_iov(hdr, hlen, runs, 2, iov, 3, &count), NODE_ELIMIT);
    assert_int_equal(count, 1 + NV + NA);
    assert_int_equal(fmp4_mux_frag_iov(hdr, hlen, runs, 2, iov, count, &count), 0);
    assert_ptr_equal(iov[0].p, hdr);
    assert_ptr_equal(iov[1].p, x.vs[0].data); /* references, not copies */
    assert_ptr_equal(iov[1 + NV].p, x.as[0].data);
    uint8_t *flat = frag(3, runs, 2, &flen);
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        assert_memory_equal(flat + off, iov[i].p, iov[i].len);
        off += iov[i].len;
    }
    assert_int_equal(off, flen);
    /* A run without samples leaves its track out of the moof. */
    runs[0].n = 0;
    size_t len;
    uint8_t *buf = frag(4, runs, 2, &len);
    traf_t t[2];
    assert_int_equal(parse_frag(buf, len, t, 2, runs + 1), 1);
    assert_int_equal(t[0].track, 2);
    free(buf);
    free(flat);
    free(hdr);
}

static void test_frag_refusals(void **state)
{
    (void)state;
    av_t x;
    make_samples(&x);
    size_t len;
    fmp4_run_t r = {&x.v, x.vs, NV, FMP4_DTS_NONE};
    assert_int_equal(fmp4_mux_frag_header(1, &r, 1, NULL, 0, &len), 0);
    r.n = 0;
    assert_int_equal(fmp4_mux_frag_header(1, &r, 1, NULL, 0, &len), NODE_EINVAL); /* empty */
    r.n = NV;
    x.vs[2].dts_ms = 900; /* decreasing */
    assert_int_equal(fmp4_mux_frag_header(1, &r, 1, NULL, 0, &len), NODE_EINVAL);
    x.vs[2].dts_ms = -1;
    assert_int_equal(fmp4_mux_frag_header(1, &r, 1, NULL, 0, &len), NODE_EINVAL);
    x.vs[2].dts_ms = 1080;
    r.next_dts_ms = FMP4_MAX_DTS_MS;
    assert_int_equal(fmp4_mux_frag_header(1, &r, 1, NULL, 0, &len), NODE_EINVAL);
    r.next_dts_ms = FMP4_DTS_NONE;
    fmp4_run_t two[2] = {r, r}; /* one track twice */
    assert_int_equal(fmp4_mux_frag_header(1, two, 2, NULL, 0, &len), NODE_EINVAL);
    fmp4_run_t many[FMP4_MAX_TRACKS + 1];
    for (int i = 0; i <= FMP4_MAX_TRACKS; i++)
        many[i] = r;
    assert_int_equal(fmp4_mux_frag_header(1, many, FMP4_MAX_TRACKS + 1, NULL, 0, &len),
                     NODE_EINVAL);
    fmp4_sample_t *lots = calloc(FMP4_MAX_SAMPLES + 1, sizeof *lots);
    for (size_t i = 0; i <= FMP4_MAX_SAMPLES; i++)
        lots[i] = (fmp4_sample_t){x.vbytes[0], 1, (int64_t)i, 0, 1};
    fmp4_run_t big = {&x.v, lots, FMP4_MAX_SAMPLES, FMP4_DTS_NONE};
    assert_int_equal(fmp4_mux_frag_header(1, &big, 1, NULL, 0, &len), 0);
    big.n++;
    assert_int_equal(fmp4_mux_frag_header(1, &big, 1, NULL, 0, &len), NODE_ELIMIT);
    free(lots);
    /* A DTS going backwards by the next sample gives a zero duration, not
     * a huge one. */
    r = (fmp4_run_t){&x.v, x.vs, 1, 500};
    uint8_t *buf = frag(1, &r, 1, &len);
    traf_t t;
    parse_frag(buf, len, &t, 1, &r);
    assert_int_equal(t.dur[0], 0);
    free(buf);
}

/* ---- codecs parameter -------------------------------------------------- */

static void test_codec_strings(void **state)
{
    (void)state;
    fmp4_track_t t[4];
    const char *err;
    make_av_tracks(&t[0], &t[1]);
    assert_int_equal(fmp4_mux_track_video(&t[2], 3, V_HEVC_SEQ, sizeof V_HEVC_SEQ, &err), 0);
    assert_int_equal(fmp4_mux_track_video(&t[3], 4, V_AV1_SEQ, sizeof V_AV1_SEQ, &err), 0);
    /* H.264 High level 1.3; AAC-LC; H.265 Main (compatibility 0x60000000
     * reversed is 6), level 60, constraint byte 0x90 then zeros; AV1 Main
     * level index 0, 8-bit. */
    static const char *const WANT[4] = {"avc1.64000d", "mp4a.40.2", "hvc1.1.6.L60.90",
                                        "av01.0.00M.08"};
    char buf[FMP4_CODEC_STRING_MAX];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(fmp4_mux_codec_string(&t[i], buf, sizeof buf), 0);
        assert_string_equal(buf, WANT[i]);
        assert_int_equal(fmp4_mux_codec_string(&t[i], buf, strlen(WANT[i])), NODE_ELIMIT);
    }
    /* An escaped object type (31: 32 + the next 6 bits); short records. */
    static const uint8_t ASC_ESC[] = {0xf8, 0x20};
    fmp4_track_t a = t[1];
    a.record = ASC_ESC;
    a.record_len = 2;
    assert_int_equal(fmp4_mux_codec_string(&a, buf, sizeof buf), 0);
    assert_string_equal(buf, "mp4a.40.33");
    a.record_len = 1;
    assert_int_equal(fmp4_mux_codec_string(&a, buf, sizeof buf), NODE_EPROTO);
    t[2].record_len = 12;
    assert_int_equal(fmp4_mux_codec_string(&t[2], buf, sizeof buf), NODE_EPROTO);
    /* The longest H.265 string fits FMP4_CODEC_STRING_MAX. */
    uint8_t hvcc[13];
    memset(hvcc, 0xff, sizeof hvcc);
    t[2].record = hvcc;
    t[2].record_len = sizeof hvcc;
    assert_int_equal(fmp4_mux_codec_string(&t[2], buf, sizeof buf), 0);
    assert_string_equal(buf, "hvc1.C31.ffffffff.H255.ff.ff.ff.ff.ff.ff");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_h264_aac),   cmocka_unit_test(test_init_aac_esds),
        cmocka_unit_test(test_init_hevc_av1),   cmocka_unit_test(test_init_refusals),
        cmocka_unit_test(test_track_truncated), cmocka_unit_test(test_samples_from_tags),
        cmocka_unit_test(test_frag_boxes),      cmocka_unit_test(test_frag_tfdt_continuity),
        cmocka_unit_test(test_frag_iov),        cmocka_unit_test(test_frag_refusals),
        cmocka_unit_test(test_codec_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
