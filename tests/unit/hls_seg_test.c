/* Unit tests of the HLS segmenter (node/hls/hls_seg.h): where segments and
 * parts are cut, the window, discontinuities, blocking-request readiness,
 * the playlist description, and the bounds. Messages are made as the hub
 * makes them (msg_new_copy() with MSG_F_* flags). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "flv.h"
#include "hls_seg.h"

#define WALL0 1733480000000LL

static uint64_t updates;
static void on_update(void *arg, uint64_t msn, unsigned nparts)
{
    (void)arg;
    (void)msn;
    (void)nparts;
    updates++;
}

static void push(hls_seg_t *h, uint8_t type, uint8_t flags, uint32_t ts, uint8_t first_byte)
{
    msg_t *m = msg_new_copy(type, ts, &first_byte, 1);
    assert_non_null(m);
    m->flags = flags;
    assert_int_equal(hls_seg_push(h, m, WALL0 + ts), 0);
    msg_unref(m);
}

/* 25 fps video with a key frame every `gop` frames, from frame `from` to
 * `to` (exclusive); audio every 40 ms too, 20 ms after each frame. */
static void feed(hls_seg_t *h, unsigned from, unsigned to, unsigned gop)
{
    for (unsigned i = from; i < to; i++) {
        push(h, FLV_TAG_VIDEO, i % gop == 0 ? MSG_F_KEY : MSG_F_DROPPABLE, i * 40, 0x17);
        push(h, FLV_TAG_AUDIO, 0, i * 40 + 20, 0xaf);
    }
}

static void headers(hls_seg_t *h, uint8_t vbyte)
{
    push(h, FLV_TAG_VIDEO, MSG_F_SEQHDR, 0, vbyte);
    push(h, FLV_TAG_AUDIO, MSG_F_SEQHDR, 0, 0xaf);
}

static void test_cuts_at_key_frames(void **state)
{
    (void)state;
    hls_seg_cfg_t cfg = {.segment_ms = 2000, .part_ms = 0, .window = 3};
    hls_seg_t *h = hls_seg_new(&cfg, NULL, NULL);
    headers(h, 0x17);
    /* audio before the first key frame is skipped; so is non-key video */
    push(h, FLV_TAG_AUDIO, 0, 1, 0xaf);
    assert_null(hls_seg_get(h, 0));
    feed(h, 0, 250, 25); /* 10 s, 1 s GOP */
    /* segments of 2 s: 0..4 complete, 5 open (8 s..) */
    for (uint64_t msn = 0; msn < 4; msn++) {
        const hls_segment_t *s = hls_seg_get(h, msn);
        assert_non_null(s);
        assert_true(s->complete);
        assert_int_equal(s->dur_ms, 2000);
        assert_int_equal(s->start_ts, msn * 2000);
        assert_int_equal(s->nmsgs, 100); /* 50 frames + 50 audio */
        assert_int_equal(s->msgs[0]->flags & MSG_F_KEY, MSG_F_KEY);
        assert_non_null(s->vseq);
        assert_int_equal(s->wall_ms, WALL0 + msn * 2000);
    }
    const hls_segment_t *o = hls_seg_get(h, 4);
    assert_false(o->complete);
    assert_null(hls_seg_get(h, 5));
    /* the playlist: 3 complete segments (the window), no open one */
    hls_seg_desc_t d[HLS_SEG_WINDOW_MAX + 1];
    static hls_part_desc_t p[(HLS_SEG_WINDOW_MAX + 1) * HLS_SEG_MAX_PARTS];
    hls_playlist_t pl = {.name = "cam"};
    assert_int_equal(hls_seg_describe(h, d, p, &pl), 3);
    assert_int_equal(d[0].msn, 1);
    assert_int_equal(d[2].msn, 3);
    assert_int_equal(pl.target_ms, 2000);
    assert_int_equal(pl.part_target_ms, 0);
    assert_int_equal(hls_target_duration_s(&pl), 2);
    /* readiness: complete 0..3, open 4 (wait), 5 (wait), 6 too far */
    assert_int_equal(hls_seg_ready(h, 3, -1), 1);
    assert_int_equal(hls_seg_ready(h, 4, -1), 0);
    assert_int_equal(hls_seg_ready(h, 6, -1), 0);
    assert_int_equal(hls_seg_ready(h, 7, -1), -1);
    hls_seg_end(h);
    assert_true(hls_seg_get(h, 4)->complete);
    assert_int_equal(hls_seg_ready(h, 9, -1), 1);
    hls_seg_free(h);
}

static void test_parts(void **state)
{
    (void)state;
    updates = 0;
    hls_seg_cfg_t cfg = {.segment_ms = 2000, .part_ms = 500, .window = 6};
    hls_seg_t *h = hls_seg_new(&cfg, on_update, NULL);
    headers(h, 0x17);
    feed(h, 0, 110, 25); /* 4.4 s */
    const hls_segment_t *s = hls_seg_get(h, 0);
    assert_true(s->complete);
    /* parts end before they would pass 500 ms: [0,480) [480,960) [960,1440)
     * [1440,1920) [1920,2000) */
    assert_int_equal(s->nparts, 5);
    uint32_t total = 0, count = 0;
    for (unsigned j = 0; j < s->nparts; j++) {
        assert_true(s->parts[j].dur_ms <= 500);
        if (j + 1 < s->nparts)
            assert_true(s->parts[j].dur_ms >= 425); /* 85% of the target */
        assert_int_equal(s->parts[j].first, count);
        total += s->parts[j].dur_ms;
        count += s->parts[j].count;
    }
    assert_int_equal(total, 2000);
    assert_int_equal(count, s->nmsgs);
    /* only the first part starts with a key frame (the next is at 1.0 s,
     * inside part 2 [920, 1380)) */
    assert_true(s->parts[0].independent);
    for (unsigned j = 1; j < s->nparts; j++)
        assert_false(s->parts[j].independent);
    assert_int_equal(s->parts[2].dur_ms, 460);
    /* the open segment 2 (4.0 s..): part 0 still open */
    const hls_segment_t *o = hls_seg_get(h, 2);
    assert_int_equal(o->nparts, 0);
    assert_int_equal(hls_seg_ready(h, 2, 0), 0);
    assert_int_equal(hls_seg_ready(h, 1, 4), 1);
    assert_int_equal(hls_seg_ready(h, 1, 63), 1); /* past its last part: the segment is there */
    feed(h, 110, 113, 25); /* 4.46 s: part 0 of segment 2 closes */
    assert_int_equal(hls_seg_ready(h, 2, 0), 1);
    assert_int_equal(hls_seg_ready(h, 2, 1), 0);
    assert_int_equal(hls_seg_ready(h, 4, 0), 0);
    assert_int_equal(hls_seg_ready(h, 5, 0), -1);
    assert_true(updates >= 12); /* every part and segment */
    /* the description lists the open segment with its part */
    hls_seg_desc_t d[HLS_SEG_WINDOW_MAX + 1];
    static hls_part_desc_t p[(HLS_SEG_WINDOW_MAX + 1) * HLS_SEG_MAX_PARTS];
    hls_playlist_t pl = {.container = HLS_FMP4, .name = "cam"};
    assert_int_equal(hls_seg_describe(h, d, p, &pl), 3);
    assert_int_equal(d[2].msn, 2);
    assert_int_equal(d[2].dur_ms, 0);
    assert_int_equal(d[2].nparts, 1);
    assert_int_equal(d[0].nparts, 5);
    char text[4096];
    hls_playlist_write(&pl, text, sizeof text);
    assert_non_null(strstr(text, "#EXT-X-PART:DURATION=0.460,URI=\"cam/2.0.m4s\",INDEPENDENT=YES\n"
                                 "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"cam/2.1.m4s\"\n"));
    hls_seg_free(h);
}

static void test_discontinuities(void **state)
{
    (void)state;
    hls_seg_cfg_t cfg = {.segment_ms = 1000, .part_ms = 0, .window = 2};
    hls_seg_t *h = hls_seg_new(&cfg, NULL, NULL);
    headers(h, 0x17);
    feed(h, 0, 60, 25); /* segments 0, 1 complete; 2 open from 2.0 s */
    /* the same headers again: nothing; new codec parameters: a cut at the
     * next key frame, marked */
    headers(h, 0x17);
    headers(h, 0x18);
    feed(h, 60, 75, 25); /* no key frame yet */
    assert_null(hls_seg_get(h, 3));
    feed(h, 75, 76, 25); /* key frame at 3.0 s */
    const hls_segment_t *s = hls_seg_get(h, 3);
    assert_non_null(s);
    assert_true(s->discontinuity);
    assert_false(hls_seg_get(h, 2)->discontinuity);
    assert_int_equal(s->vseq->payload[0], 0x18);
    /* a different source, then another window: DISCONTINUITY-SEQUENCE
     * counts what left the playlist */
    hls_seg_discontinuity(h);
    feed(h, 100, 101, 25);
    assert_true(hls_seg_get(h, 4)->discontinuity);
    feed(h, 101, 250, 25);
    hls_seg_desc_t d[HLS_SEG_WINDOW_MAX + 1];
    static hls_part_desc_t p[(HLS_SEG_WINDOW_MAX + 1) * HLS_SEG_MAX_PARTS];
    hls_playlist_t pl = {.name = "cam"};
    assert_int_equal(hls_seg_describe(h, d, p, &pl), 2);
    assert_int_equal(pl.disc_seq, 2);
    hls_seg_stats_t st;
    hls_seg_stats(h, &st);
    assert_int_equal(st.discontinuities, 2);
    /* only window + spare complete segments are held */
    assert_null(hls_seg_get(h, d[0].msn - HLS_SEG_SPARE - 1));
    assert_non_null(hls_seg_get(h, d[0].msn - HLS_SEG_SPARE));
    hls_seg_free(h);
}

/* The first msn is the configured one (the node's: from the wall clock);
 * map_id names each codec configuration by the msn of its first segment:
 * the same headers again keep it, new ones (or a new track) change it,
 * with a discontinuity. */
static void test_first_msn_and_map_ids(void **state)
{
    (void)state;
    hls_seg_cfg_t cfg = {.segment_ms = 1000, .part_ms = 0, .window = 6,
                         .first_msn = 17334800000ull};
    hls_seg_t *h = hls_seg_new(&cfg, NULL, NULL);
    const uint64_t m0 = cfg.first_msn;
    push(h, FLV_TAG_VIDEO, MSG_F_SEQHDR, 0, 0x17);
    feed(h, 0, 60, 25); /* 0, 1 complete; 2 open */
    assert_null(hls_seg_get(h, 0));
    assert_int_equal(hls_seg_get(h, m0)->map_id, m0);
    assert_int_equal(hls_seg_get(h, m0 + 1)->map_id, m0);
    push(h, FLV_TAG_VIDEO, MSG_F_SEQHDR, 0, 0x17); /* the same: nothing */
    feed(h, 60, 76, 25);
    assert_false(hls_seg_get(h, m0 + 2)->discontinuity);
    assert_int_equal(hls_seg_get(h, m0 + 2)->map_id, m0);
    /* a first audio header once segments exist: a new track */
    push(h, FLV_TAG_AUDIO, MSG_F_SEQHDR, 0, 0xaf);
    feed(h, 76, 101, 25); /* 3 (from 3.0 s) ends at the key frame at 4.0 s */
    assert_false(hls_seg_get(h, m0 + 3)->discontinuity);
    assert_int_equal(hls_seg_get(h, m0 + 3)->map_id, m0);
    const hls_segment_t *s = hls_seg_get(h, m0 + 4);
    assert_non_null(s);
    assert_true(s->discontinuity);
    assert_int_equal(s->map_id, m0 + 4);
    assert_non_null(s->aseq);
    /* new video parameters: another */
    push(h, FLV_TAG_VIDEO, MSG_F_SEQHDR, 0, 0x18);
    feed(h, 101, 126, 25);
    s = hls_seg_get(h, m0 + 5);
    assert_true(s->discontinuity);
    assert_int_equal(s->map_id, m0 + 5);
    assert_int_equal(hls_seg_get(h, m0 + 4)->map_id, m0 + 4);
    /* the playlist description carries them */
    hls_seg_desc_t d[HLS_SEG_WINDOW_MAX + 1];
    static hls_part_desc_t p[(HLS_SEG_WINDOW_MAX + 1) * HLS_SEG_MAX_PARTS];
    hls_playlist_t pl = {.name = "cam"};
    unsigned n = hls_seg_describe(h, d, p, &pl);
    assert_int_equal(n, 5);
    assert_int_equal(d[0].msn, m0);
    assert_int_equal(d[0].map_id, m0);
    assert_int_equal(d[3].map_id, m0);
    assert_int_equal(d[4].map_id, m0 + 4);
    hls_seg_free(h);
}

static void test_bounds(void **state)
{
    (void)state;
    hls_seg_cfg_t cfg = {.segment_ms = 1000, .part_ms = 0, .window = 3};
    hls_seg_t *h = hls_seg_new(&cfg, NULL, NULL);
    assert_int_equal(hls_seg_max_ms(h), 10000);
    headers(h, 0x17);
    feed(h, 0, 400, 1000); /* one key frame, then 16 s without */
    const hls_segment_t *s = hls_seg_get(h, 0);
    assert_true(s->complete);
    assert_int_equal(s->dur_ms, 10000);
    hls_seg_stats_t st;
    hls_seg_stats(h, &st);
    assert_int_equal(st.forced_cuts, 1);
    hls_seg_free(h);
    /* audio only: cut at any frame */
    h = hls_seg_new(&cfg, NULL, NULL);
    push(h, FLV_TAG_AUDIO, MSG_F_SEQHDR, 0, 0xaf);
    for (uint32_t t = 0; t < 3000; t += 23)
        push(h, FLV_TAG_AUDIO, 0, t, 0xaf);
    assert_true(hls_seg_get(h, 1)->complete);
    assert_true(hls_seg_get(h, 0)->dur_ms >= 1000 && hls_seg_get(h, 0)->dur_ms < 1023);
    hls_seg_free(h);
    hls_seg_free(NULL);
    /* a part target too small for the longest segment's HLS_SEG_MAX_PARTS */
    hls_seg_cfg_t tiny = {.segment_ms = 2000, .part_ms = 10, .window = 3};
    h = hls_seg_new(&tiny, NULL, NULL);
    hls_seg_desc_t d[HLS_SEG_WINDOW_MAX + 1];
    static hls_part_desc_t p[(HLS_SEG_WINDOW_MAX + 1) * HLS_SEG_MAX_PARTS];
    hls_playlist_t pl = {.name = "cam"};
    assert_int_equal(hls_seg_describe(h, d, p, &pl), 0);
    assert_int_equal(pl.part_target_ms, (10000 + 62) / 63);
    hls_seg_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cuts_at_key_frames),
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_discontinuities),
        cmocka_unit_test(test_first_msn_and_map_ids),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
