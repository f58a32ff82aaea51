/* Unit tests of the fMP4 rendition of an HLS timeline (node/hls/hls_fmp4.h):
 * init segments by map_id (a new one after new codec parameters, the old
 * one served while held, an unknown id refused), a segment is its parts'
 * fragments joined, the bytes are the same on every request (built once)
 * and the sample bytes are the published ones, a stream without a track
 * fMP4 carries is refused. Messages are made as the hub makes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <string.h>

#include "common.h"
#include "flv.h"
#include "fmp4_fixtures.h"
#include "hls_fmp4.h"

#define MSN0 5000

static void push(hls_seg_t *h, uint8_t type, uint8_t flags, uint32_t ts, const uint8_t *body,
                 size_t len)
{
    msg_t *m = msg_new_copy(type, ts, body, (uint32_t)len);
    assert_non_null(m);
    m->flags = flags;
    assert_int_equal(hls_seg_push(h, m, 0), 0);
    msg_unref(m);
}

/* 25 fps H.264 (a key frame a second) and AAC every 40 ms, frames [from, to):
 * each body carries its frame number, so that its bytes can be found. */
static void feed(hls_seg_t *h, unsigned from, unsigned to)
{
    for (unsigned i = from; i < to; i++) {
        int key = i % 25 == 0;
        uint8_t v[] = {key ? 0x17 : 0x27, 0x01, 0, 0, 0, 0, 0, 0, 3, key ? 0x65 : 0x41,
                       (uint8_t)i, (uint8_t)(i >> 8)};
        uint8_t a[] = {0xaf, 0x01, 0x21, (uint8_t)i, (uint8_t)(i >> 8)};
        push(h, FLV_TAG_VIDEO, key ? MSG_F_KEY : MSG_F_DROPPABLE, i * 40, v, sizeof v);
        push(h, FLV_TAG_AUDIO, 0, i * 40 + 20, a, sizeof a);
    }
}

static hls_seg_t *timeline(uint32_t part_ms)
{
    hls_seg_cfg_t cfg = {.segment_ms = 1000, .part_ms = part_ms, .window = 6, .first_msn = MSN0};
    hls_seg_t *h = hls_seg_new(&cfg, NULL, NULL);
    assert_non_null(h);
    push(h, FLV_TAG_VIDEO, MSG_F_SEQHDR, 0, V_H264_SEQ, sizeof V_H264_SEQ);
    push(h, FLV_TAG_AUDIO, MSG_F_SEQHDR, 0, A_AAC_SEQ, sizeof A_AAC_SEQ);
    return h;
}

/* The bytes of a segment (part < 0) or part, flat. */
static size_t bytes(hls_fmp4_t *f, hls_seg_t *h, uint64_t msn, int part, uint8_t *out,
                    size_t cap)
{
    struct evbuffer *b = evbuffer_new();
    const hls_segment_t *sg = hls_seg_get(h, msn);
    assert_non_null(sg);
    int64_t n = hls_fmp4_bytes(f, h, sg, part, b);
    assert_true(n > 0);
    assert_int_equal(hls_fmp4_bytes(f, h, sg, part, NULL), n);
    assert_int_equal(evbuffer_get_length(b), (size_t)n);
    assert_true((size_t)n <= cap);
    evbuffer_remove(b, out, (size_t)n);
    evbuffer_free(b);
    return (size_t)n;
}

static size_t init(hls_fmp4_t *f, hls_seg_t *h, uint64_t id, uint8_t *out, size_t cap)
{
    struct evbuffer *b = evbuffer_new();
    int64_t n = hls_fmp4_init(f, h, id, b);
    if (n > 0) {
        assert_true((size_t)n <= cap);
        evbuffer_remove(b, out, (size_t)n);
    }
    evbuffer_free(b);
    return n > 0 ? (size_t)n : 0;
}

static void test_segment_is_its_parts(void **state)
{
    (void)state;
    static uint8_t seg[1 << 16], again[1 << 16], joined[1 << 16];
    hls_seg_t *h = timeline(250);
    hls_fmp4_t *f = hls_fmp4_new();
    feed(h, 0, 60); /* MSN0, MSN0+1 complete; MSN0+2 open */
    const hls_segment_t *sg = hls_seg_get(h, MSN0 + 1);
    assert_true(sg->complete && sg->nparts >= 3);
    size_t n = bytes(f, h, MSN0 + 1, -1, seg, sizeof seg);
    assert_memory_equal(seg + 4, "moof", 4);
    assert_int_equal(bytes(f, h, MSN0 + 1, -1, again, sizeof again), n);
    assert_memory_equal(seg, again, n);
    size_t k = 0;
    for (unsigned p = 0; p < sg->nparts; p++)
        k += bytes(f, h, MSN0 + 1, (int)p, joined + k, sizeof joined - k);
    assert_int_equal(k, n);
    assert_memory_equal(joined, seg, n);
    /* the samples are the published bytes: frame 30's coded slice is there */
    static const uint8_t slice30[] = {0, 0, 0, 3, 0x41, 30, 0};
    assert_non_null(memmem(seg, n, slice30, sizeof slice30));
    /* the open segment's complete part is served; the whole is not complete */
    const hls_segment_t *open = hls_seg_get(h, MSN0 + 2);
    assert_false(open->complete);
    assert_true(open->nparts >= 1);
    assert_true(bytes(f, h, MSN0 + 2, 0, again, sizeof again) > 0);
    hls_fmp4_free(f);
    hls_seg_free(h);
}

static void test_init_per_configuration(void **state)
{
    (void)state;
    static uint8_t a[4096], b[4096];
    hls_seg_t *h = timeline(0);
    hls_fmp4_t *f = hls_fmp4_new();
    feed(h, 0, 30);
    size_t n = init(f, h, MSN0, a, sizeof a);
    assert_true(n > 0);
    assert_memory_equal(a + 4, "ftyp", 4);
    assert_non_null(memmem(a, n, "avc1", 4));
    assert_non_null(memmem(a, n, "mp4a", 4));
    assert_int_equal(init(f, h, MSN0 + 1, b, sizeof b), 0); /* no segment has that map */
    assert_int_equal(hls_fmp4_init(f, h, MSN0 + 1, NULL), NODE_ENOTFOUND);
    /* new video parameters (another level): a new init at the next key frame */
    uint8_t seq[sizeof V_H264_SEQ];
    memcpy(seq, V_H264_SEQ, sizeof seq);
    seq[8] = 0x1e;
    push(h, FLV_TAG_VIDEO, MSG_F_SEQHDR, 1200, seq, sizeof seq);
    feed(h, 30, 80);
    const hls_segment_t *sg = hls_seg_get(h, MSN0 + 2);
    assert_non_null(sg);
    assert_true(sg->discontinuity);
    assert_int_equal(sg->map_id, MSN0 + 2);
    size_t m = init(f, h, MSN0 + 2, b, sizeof b);
    assert_true(m > 0);
    assert_false(m == n && memcmp(a, b, n) == 0);
    assert_int_equal(init(f, h, MSN0, b, sizeof b), n); /* the old one, still held */
    assert_memory_equal(a, b, n);
    hls_fmp4_free(f);
    hls_seg_free(h);
}

static void test_no_track_fmp4_carries(void **state)
{
    (void)state;
    hls_seg_cfg_t cfg = {.segment_ms = 1000, .window = 3, .first_msn = MSN0};
    hls_seg_t *h = hls_seg_new(&cfg, NULL, NULL);
    hls_fmp4_t *f = hls_fmp4_new();
    for (unsigned i = 0; i < 60; i++) { /* MP3 only: no sequence header, no track */
        uint8_t mp3[] = {0x2f, 0xff, 0xfb, (uint8_t)i};
        push(h, FLV_TAG_AUDIO, 0, i * 26, mp3, sizeof mp3);
    }
    const hls_segment_t *sg = hls_seg_get(h, MSN0);
    assert_non_null(sg);
    assert_int_equal(hls_fmp4_init(f, h, MSN0, NULL), NODE_EPROTO);
    assert_int_equal(hls_fmp4_bytes(f, h, sg, -1, NULL), NODE_EPROTO);
    hls_fmp4_free(f);
    hls_seg_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segment_is_its_parts),
        cmocka_unit_test(test_init_per_configuration),
        cmocka_unit_test(test_no_track_fmp4_carries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
