/* Unit tests for fmp4_scan: the good length of a recorded fragmented MP4
 * (box headers only): whole files, every truncation of one (the good
 * length is always the end of the init segment or of a fragment, never
 * past the cut), 64-bit box sizes, boxes between fragments, and files
 * that are not ours (out of order, size 0, sizes too small or too large);
 * the duration read back from the moov and the first and last complete
 * moof of what fmp4_mux writes (whole, and cut inside a fragment), from a
 * trun without sample durations (tfhd's or trex's default), and not from
 * a trun cut short or a traf without tfdt. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fmp4_fixtures.h"
#include "fmp4_mux.h"
#include "fmp4_scan.h"

typedef struct {
    uint8_t b[4096];
    size_t len;
} file_t;

/* Appends a box of type with payload bytes of payload (8-byte header, or
 * a 16-byte one with large set). Returns the offset after it. */
static size_t box(file_t *f, const char *type, size_t payload, int large)
{
    size_t hl = large ? 16 : 8, size = hl + payload;
    uint8_t *p = f->b + f->len;
    assert_true(f->len + size <= sizeof f->b);
    memset(p, 0, size);
    uint32_t s32 = large ? 1 : (uint32_t)size;
    p[0] = (uint8_t)(s32 >> 24), p[1] = (uint8_t)(s32 >> 16), p[2] = (uint8_t)(s32 >> 8),
    p[3] = (uint8_t)s32;
    memcpy(p + 4, type, 4);
    if (large)
        for (int i = 0; i < 8; i++)
            p[8 + i] = (uint8_t)((uint64_t)size >> (56 - 8 * i));
    for (size_t i = hl; i < size; i++)
        p[i] = (uint8_t)(i * 7); /* contents are never read */
    f->len += size;
    return f->len;
}

static void test_whole_file(void **state)
{
    (void)state;
    file_t f = {.len = 0};
    box(&f, "ftyp", 16, 0);
    size_t init = box(&f, "moov", 300, 0);
    uint32_t frags = 9;
    assert_int_equal(fmp4_scan_buf(f.b, f.len, &frags), init);
    assert_int_equal(frags, 0);
    box(&f, "moof", 100, 0);
    size_t one = box(&f, "mdat", 500, 0);
    box(&f, "free", 4, 0);
    box(&f, "moof", 100, 0);
    size_t two = box(&f, "mdat", 700, 1);
    assert_int_equal(fmp4_scan_buf(f.b, f.len, &frags), two);
    assert_int_equal(frags, 2);
    assert_true(one < two);
}

/* Every cut of a file of three fragments: good up to the last whole one. */
static void test_every_truncation(void **state)
{
    (void)state;
    file_t f = {.len = 0};
    size_t ends[5];
    box(&f, "ftyp", 16, 0);
    ends[0] = box(&f, "moov", 200, 0);
    for (int i = 1; i <= 3; i++) {
        box(&f, "moof", 40 + (size_t)i, 0);
        ends[i] = box(&f, "mdat", 300 * (size_t)i, i == 2);
    }
    for (size_t cut = 0; cut <= f.len; cut++) {
        uint32_t frags = 0;
        uint64_t good = fmp4_scan_buf(f.b, cut, &frags);
        size_t want = 0;
        uint32_t want_frags = 0;
        for (int i = 0; i <= 3; i++)
            if (ends[i] <= cut) {
                want = ends[i];
                want_frags = (uint32_t)i;
            }
        if (good != want || frags != want_frags)
            fail_msg("cut %zu: good %llu frags %u, want %zu and %u", cut,
                     (unsigned long long)good, frags, want, want_frags);
    }
}

static void test_not_ours(void **state)
{
    (void)state;
    file_t f = {.len = 0};
    /* an FLV header */
    memcpy(f.b, "FLV\x01\x05\0\0\0\x09\0\0\0\0", 13);
    assert_int_equal(fmp4_scan_buf(f.b, 13, NULL), 0);
    /* moov first */
    f.len = 0;
    box(&f, "moov", 20, 0);
    box(&f, "ftyp", 20, 0);
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), 0);
    /* mdat without its moof: good up to the init segment */
    f.len = 0;
    box(&f, "ftyp", 16, 0);
    size_t init = box(&f, "moov", 20, 0);
    box(&f, "mdat", 20, 0);
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), init);
    /* a box of size 0 ("to the end") and one smaller than its header */
    f.len = init;
    box(&f, "moof", 20, 0);
    box(&f, "mdat", 20, 0);
    size_t good = f.len;
    box(&f, "moof", 20, 0);
    f.b[good] = f.b[good + 1] = f.b[good + 2] = f.b[good + 3] = 0;
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), good);
    f.b[good + 3] = 7;
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), good);
    /* a 64-bit size smaller than its 16-byte header, and one past the end */
    f.len = good;
    box(&f, "moof", 8, 1);
    f.b[good + 15] = 12;
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), good);
    f.b[good + 8] = 0x80;
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), good);
    /* a moof after a moof */
    f.len = good;
    box(&f, "moof", 8, 0);
    box(&f, "moof", 8, 0);
    box(&f, "mdat", 8, 0);
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), good);
}

/* Fed box by box with short headers (a file ending inside a header). */
static void test_incremental_short_header(void **state)
{
    (void)state;
    file_t f = {.len = 0};
    box(&f, "ftyp", 16, 0);
    size_t init = box(&f, "moov", 20, 0);
    fmp4_scan_t s;
    fmp4_scan_init(&s);
    assert_int_equal(fmp4_scan_box(&s, f.b, 16, f.len + 4), 1);
    assert_int_equal(s.pos, 24);
    assert_int_equal(fmp4_scan_box(&s, f.b + s.pos, 16, f.len + 4), 1);
    assert_int_equal(s.good_end, init);
    assert_int_equal(fmp4_scan_box(&s, f.b + s.pos, 4, f.len + 4), 0);
    assert_true(s.done);
    assert_int_equal(fmp4_scan_box(&s, f.b, 16, f.len + 4), 0);
    assert_int_equal(s.good_end, init);
}

/* ---- durations --------------------------------------------------------- */

typedef struct {
    uint8_t b[262144];
    size_t len;
} big_t;

/* Three fragments of a second: 25 fps video and AAC every 20 ms (ending
 * at 2980 ms), the video's last sample lasting as the one before it. */
static void muxed_file(big_t *f, size_t ends[4])
{
    fmp4_track_t tr[2];
    const char *err = NULL;
    assert_int_equal(fmp4_mux_track_video(&tr[0], 1, V_H264_SEQ, sizeof V_H264_SEQ, &err), 0);
    assert_int_equal(fmp4_mux_track_audio(&tr[1], 2, A_AAC_SEQ, sizeof A_AAC_SEQ, &err), 0);
    size_t n = 0;
    assert_int_equal(fmp4_mux_init(tr, 2, f->b, sizeof f->b, &n), 0);
    f->len = ends[0] = n;
    static const uint8_t data[64];
    for (int k = 0; k < 3; k++) {
        fmp4_sample_t v[25], a[50];
        for (int i = 0; i < 25; i++)
            v[i] = (fmp4_sample_t){data, 64, k * 1000 + i * 40, 0, i == 0};
        for (int i = 0; i < 50; i++)
            a[i] = (fmp4_sample_t){data, 8, k * 1000 + i * 20, 0, 1};
        int64_t next = k < 2 ? (k + 1) * 1000 : FMP4_DTS_NONE;
        fmp4_run_t runs[2] = {{&tr[0], v, 25, next}, {&tr[1], a, 50, next}};
        assert_int_equal(fmp4_mux_frag_write((uint32_t)k + 1, runs, 2, f->b + f->len,
                                             sizeof f->b - f->len, &n), 0);
        f->len += n;
        ends[k + 1] = f->len;
    }
}

/* The duration of f's first len bytes as the repair reads it back. */
static uint32_t duration_of(const uint8_t *b, size_t len)
{
    fmp4_scan_t s;
    fmp4_scan_init(&s);
    while (fmp4_scan_box(&s, b + s.pos, len - s.pos < 16 ? len - s.pos : 16, len))
        ;
    fmp4_scan_tracks_t tr;
    fmp4_scan_times_t first, last;
    if (!s.frags || fmp4_scan_moov(b + s.moov.pos, s.moov.len, &tr) != 0)
        return 0;
    assert_true(fmp4_scan_moof(b + s.first_moof.pos, s.first_moof.len, &tr, &first) > 0);
    assert_true(fmp4_scan_moof(b + s.last_moof.pos, s.last_moof.len, &tr, &last) > 0);
    return fmp4_scan_duration_ms(&tr, &first, &last);
}

static void test_muxed_duration(void **state)
{
    (void)state;
    static big_t f;
    size_t ends[4];
    muxed_file(&f, ends);
    fmp4_scan_tracks_t tr;
    fmp4_scan_t s;
    fmp4_scan_init(&s);
    assert_int_equal(fmp4_scan_buf(f.b, f.len, NULL), f.len);
    assert_int_equal(fmp4_scan_moov(f.b, ends[0], &tr), -1); /* the ftyp is no moov */
    assert_int_equal(duration_of(f.b, f.len), 3000);
    assert_int_equal(duration_of(f.b, ends[3] - 1), 2000); /* the last fragment torn */
    assert_int_equal(duration_of(f.b, ends[2]), 2000);
    assert_int_equal(duration_of(f.b, ends[1] + 30), 1000);
    assert_int_equal(duration_of(f.b, ends[0] + 30), 0); /* no fragment */
    /* the moov's tracks */
    while (fmp4_scan_box(&s, f.b + s.pos, 16, f.len))
        ;
    assert_int_equal(s.moov.pos + s.moov.len, ends[0]);
    assert_int_equal(fmp4_scan_moov(f.b + s.moov.pos, s.moov.len, &tr), 0);
    assert_int_equal(tr.n, 2);
    assert_int_equal(tr.t[0].id, 1);
    assert_int_equal(tr.t[0].timescale, FMP4_VIDEO_TIMESCALE);
    assert_int_equal(tr.t[1].timescale, 44100);
    assert_int_equal(fmp4_scan_moov(f.b + s.moov.pos, s.moov.len - 1, &tr), -1);
}

/* A big-endian u32 at p. */
static uint8_t *u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
    return p + 4;
}

/* A moof with one traf of track 1: tfhd (with a default duration when
 * dflt), tfdt version 0 at base (none when base is ~0), and a trun of
 * count samples without durations (trun_len cuts its payload). */
static size_t handmade_moof(uint8_t *b, uint32_t dflt, uint32_t base, uint32_t count,
                            uint32_t trun_flags, size_t trun_len)
{
    uint8_t *p = b + 16; /* moof header, traf header */
    uint8_t *tfhd = p;
    p = u32(p + 4, 0x74666864); /* "tfhd" */
    p = u32(p, dflt ? 0x000008 : 0);
    p = u32(p, 1);
    if (dflt)
        p = u32(p, dflt);
    u32(tfhd, (uint32_t)(p - tfhd));
    if (base != ~0u) {
        p = u32(u32(p, 16), 0x74666474); /* "tfdt" */
        p = u32(u32(p, 0), base);
    }
    uint8_t *trun = p;
    p = u32(p + 4, 0x7472756e); /* "trun" */
    p = u32(p, trun_flags);
    p = u32(p, count);
    for (uint32_t i = 0; i < count && (trun_flags & 0x200); i++)
        p = u32(p, 10);
    if (trun_len)
        p = trun + 8 + trun_len;
    u32(trun, (uint32_t)(p - trun));
    u32(u32(b + 8, (uint32_t)(p - b - 8)), 0x74726166); /* traf */
    u32(u32(b, (uint32_t)(p - b)), 0x6d6f6f66);         /* moof */
    return (size_t)(p - b);
}

static void test_default_durations(void **state)
{
    (void)state;
    fmp4_scan_tracks_t tr = {.n = 1};
    tr.t[0].id = 1, tr.t[0].timescale = 1000, tr.t[0].default_duration = 20;
    uint8_t b[512];
    fmp4_scan_times_t first, last;
    size_t n = handmade_moof(b, 0, 500, 10, 0, 0); /* trex's 20 */
    assert_int_equal(fmp4_scan_moof(b, n, &tr, &first), 1);
    assert_int_equal(first.start[0], 500);
    assert_int_equal(first.end[0], 700);
    n = handmade_moof(b, 40, 1000, 10, 0x200, 0); /* tfhd's 40, sizes only */
    assert_int_equal(fmp4_scan_moof(b, n, &tr, &last), 1);
    assert_int_equal(last.end[0], 1400);
    assert_int_equal(fmp4_scan_duration_ms(&tr, &first, &last), 900);
    n = handmade_moof(b, 40, 1000, 10, 0x200, 20); /* 10 sizes in 12 bytes */
    assert_int_equal(fmp4_scan_moof(b, n, &tr, &last), 0);
    n = handmade_moof(b, 40, ~0u, 10, 0, 0); /* no tfdt */
    assert_int_equal(fmp4_scan_moof(b, n, &tr, &last), 0);
    n = handmade_moof(b, 0xffffffffu, 0, 0xffffffffu, 0, 0); /* huge: no overflow */
    assert_int_equal(fmp4_scan_moof(b, n, &tr, &last), 1);
    assert_true(last.end[0] > 0xfffffffeULL * 0xffffffffULL / 2);
    tr.t[0].timescale = 1;
    assert_int_equal(fmp4_scan_duration_ms(&tr, &first, &last), UINT32_MAX);
    tr.t[0].id = 2; /* another track's traf */
    assert_int_equal(fmp4_scan_moof(b, n, &tr, &last), 0);
    assert_int_equal(fmp4_scan_moof(b, n - 1, &tr, &last), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_file),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_not_ours),
        cmocka_unit_test(test_incremental_short_header),
        cmocka_unit_test(test_muxed_duration),
        cmocka_unit_test(test_default_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
