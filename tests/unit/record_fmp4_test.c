/* Unit tests for record_fmp4 (a recorded file's fMP4 state): the init
 * segment and fragments it makes form a file that fmp4_scan finds whole
 * (ftyp, moov, moof + mdat pairs); when a fragment is due (a video key
 * frame, RECORD_FMP4_FRAG_MS, nothing pending); frames of a track the
 * file does not have are left out; no usable header: no state. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "flv.h"
#include "fmp4_fixtures.h"
#include "fmp4_scan.h"
#include "record_fmp4.h"

/* A legacy AVC frame body: one NAL unit of n bytes. */
static size_t avc_frame(uint8_t *b, int key, size_t n)
{
    b[0] = key ? 0x17 : 0x27;
    b[1] = 1, b[2] = b[3] = b[4] = 0;
    b[5] = b[6] = 0, b[7] = (uint8_t)(n >> 8), b[8] = (uint8_t)n;
    memset(b + 9, key ? 0x65 : 0x41, n);
    return 9 + n;
}

typedef struct {
    uint8_t b[65536];
    size_t len;
} out_t;

/* Appends the pieces in order (a fragment as record_fmp4_cut gives it). */
static void append(out_t *o, const fmp4_iov_t *iov, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_true(o->len + iov[i].len <= sizeof o->b);
        memcpy(o->b + o->len, iov[i].p, iov[i].len);
        o->len += iov[i].len;
    }
}

static void cut(record_fmp4_t *m, int64_t next, out_t *o)
{
    fmp4_iov_t iov[3];
    size_t n = 0;
    assert_int_equal(record_fmp4_cut(m, next, iov, &n), 0);
    assert_true(n >= 2);
    append(o, iov, n);
}

static void test_file_of_two_gops(void **state)
{
    (void)state;
    const char *err = NULL;
    record_fmp4_t *m = record_fmp4_new(A_AAC_SEQ, sizeof A_AAC_SEQ, V_H264_SEQ,
                                       sizeof V_H264_SEQ, &err);
    assert_non_null(m);
    static out_t o;
    o.len = 0;
    fmp4_iov_t init;
    record_fmp4_init_segment(m, &init.p, &init.len);
    append(&o, &init, 1);
    assert_int_equal(fmp4_scan_buf(o.b, o.len, NULL), init.len);
    uint8_t f[512];
    const uint8_t aac[] = {0xaf, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c};
    for (uint32_t t = 0; t < 2000; t += 40) {
        int key = t % 1000 == 0;
        size_t n = avc_frame(f, key, 100 + t / 40);
        assert_int_equal(record_fmp4_cut_due(m, FLV_TAG_VIDEO, key, t, (uint32_t)n),
                         key && t > 0);
        if (key && t > 0)
            cut(m, t, &o);
        assert_int_equal(record_fmp4_add(m, FLV_TAG_VIDEO, t, f, (uint32_t)n), 0);
        assert_int_equal(record_fmp4_add(m, FLV_TAG_AUDIO, t + 3, aac, sizeof aac), 0);
    }
    /* a sequence header carries no sample */
    assert_int_equal(record_fmp4_add(m, FLV_TAG_VIDEO, 1990, V_H264_SEQ, sizeof V_H264_SEQ), 1);
    cut(m, FMP4_DTS_NONE, &o);
    fmp4_iov_t iov[3];
    size_t n = 9;
    assert_int_equal(record_fmp4_cut(m, FMP4_DTS_NONE, iov, &n), 0);
    assert_int_equal(n, 0); /* nothing pending */
    uint32_t frags = 0;
    assert_int_equal(fmp4_scan_buf(o.b, o.len, &frags), o.len);
    assert_int_equal(frags, 2);
    record_fmp4_free(m);
}

static void test_audio_only_duration_bound(void **state)
{
    (void)state;
    const char *err = NULL;
    record_fmp4_t *m = record_fmp4_new(A_AAC_SEQ, sizeof A_AAC_SEQ, NULL, 0, &err);
    assert_non_null(m);
    const uint8_t aac[] = {0xaf, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c};
    uint8_t f[64];
    size_t vn = avc_frame(f, 1, 8);
    assert_int_equal(record_fmp4_add(m, FLV_TAG_VIDEO, 0, f, (uint32_t)vn),
                     RECORD_FMP4_NO_TRACK); /* no track: its frames are left out */
    assert_int_equal(record_fmp4_cut_due(m, FLV_TAG_AUDIO, 1, 0, sizeof aac), 0);
    assert_int_equal(record_fmp4_add(m, FLV_TAG_AUDIO, 100, aac, sizeof aac), 0);
    assert_int_equal(record_fmp4_cut_due(m, FLV_TAG_VIDEO, 1, 200, (uint32_t)vn), 0);
    assert_int_equal(record_fmp4_cut_due(m, FLV_TAG_AUDIO, 1, 100 + RECORD_FMP4_FRAG_MS - 1,
                                         sizeof aac),
                     0);
    assert_int_equal(
        record_fmp4_cut_due(m, FLV_TAG_AUDIO, 1, 100 + RECORD_FMP4_FRAG_MS, sizeof aac), 1);
    record_fmp4_free(m);
}

static void test_no_usable_header(void **state)
{
    (void)state;
    const char *err = NULL;
    const uint8_t mp3[] = {0x2f, 0xff, 0xfb};
    assert_null(record_fmp4_new(mp3, sizeof mp3, NULL, 0, &err));
    assert_non_null(err);
    assert_null(record_fmp4_new(NULL, 0, NULL, 0, &err));
    record_fmp4_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_of_two_gops),
        cmocka_unit_test(test_audio_only_duration_bound),
        cmocka_unit_test(test_no_usable_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
