/* Unit tests of the continuation module on its own (stream_cont.h): what
 * it drops, the output timestamps it gives, and its statistics, driven by
 * message type, flags and timestamps as the hub passes them. The hub's
 * side (headers, GOP cache, players) is in stream_test.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "flv.h"
#include "stream.h"
#include "stream_cont.h"

#define V FLV_TAG_VIDEO
#define A FLV_TAG_AUDIO

/* Passes one message through the module as stream_push() does; returns its
 * output ts, or UINT32_MAX when dropped. */
static uint32_t pass(stream_cont_t *c, uint8_t type, uint8_t flags, uint32_t ts, int64_t now)
{
    if (stream_cont_drop(c, type, flags, ts, now))
        return UINT32_MAX;
    uint32_t out = stream_cont_out_ts(c, type, flags, ts, now);
    stream_cont_note(c, type, flags, ts, out, now);
    return out;
}

/* A first publisher: its own timestamps, nothing dropped. */
static void test_fresh_stream_keeps_timestamps(void **state)
{
    (void)state;
    stream_cont_t c;
    stream_cont_init(&c, "live", "a");
    assert_int_equal(pass(&c, V, MSG_F_SEQHDR, 0, 100), 0);
    assert_int_equal(pass(&c, V, MSG_F_KEY, 40, 100), 40);
    assert_int_equal(pass(&c, A, 0, 30, 100), 30); /* no clamp without a continuation */
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 80, 140), 80);
    assert_int_equal(c.stats.count, 0);
    assert_int_equal(c.stats.dropped, 0);
}

/* A continuation drops media until the video key frame, then goes on at
 * the last output ts plus the wall-clock gap, keeping the spacing. */
static void test_continuation_restamps_after_key(void **state)
{
    (void)state;
    stream_cont_t c;
    stream_cont_init(&c, "live", "a");
    assert_int_equal(pass(&c, V, MSG_F_KEY, 1000, 5000), 1000);
    assert_int_equal(pass(&c, A, 0, 1010, 5010), 1010);
    stream_cont_begin(&c, 7, 0, 1);
    /* a new upstream far away in time: not the same source */
    assert_int_equal(pass(&c, A, 0, 90000, 5500), UINT32_MAX);
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 90010, 5510), UINT32_MAX);
    assert_int_equal(pass(&c, V, MSG_F_KEY, 90040, 5600), 1010 + 590);
    assert_int_equal(pass(&c, A, 0, 90060, 5620), 1010 + 590 + 20);
    assert_int_equal(c.stats.count, 1);
    assert_int_equal(c.stats.dropped, 2);
    assert_int_equal(c.stats.last_gap_ms, 590);
    /* a restart keeps the statistics and drops the offset */
    stream_cont_restart(&c);
    assert_int_equal(pass(&c, V, MSG_F_KEY, 5, 9000), 5);
    assert_int_equal(c.stats.count, 1);
}

/* The gap is at least 1 ms and at most STREAM_CONT_GAP_MAX_MS; no track's
 * timestamp goes back. */
static void test_continuation_gap_bounds_and_clamp(void **state)
{
    (void)state;
    stream_cont_t c;
    stream_cont_init(&c, "live", "a");
    assert_int_equal(pass(&c, V, MSG_F_KEY, 500, 1000), 500);
    assert_int_equal(pass(&c, A, 0, 520, 1000), 520);
    stream_cont_begin(&c, 7, 0, 1);
    assert_int_equal(pass(&c, V, MSG_F_KEY, 900000, 1000 + 60000), 520 + STREAM_CONT_GAP_MAX_MS);
    /* audio of the new publisher a little before its key frame; then one
     * going back on its track is clamped, to 1 ms after the track's last
     * (audio and video never repeat a timestamp) */
    assert_int_equal(pass(&c, A, 0, 899990, 61010), 520 + STREAM_CONT_GAP_MAX_MS - 10);
    assert_int_equal(pass(&c, A, 0, 899980, 61020), 520 + STREAM_CONT_GAP_MAX_MS - 9);
    assert_int_equal(pass(&c, A, 0, 899991, 61020), 520 + STREAM_CONT_GAP_MAX_MS - 8);
    stream_cont_begin(&c, 8, 0, 1);
    uint32_t last = 520 + STREAM_CONT_GAP_MAX_MS;
    assert_int_equal(pass(&c, V, MSG_F_KEY, 30, 61020), last + 1);
}

/* A new upstream that answers within a frame interval: its key frame
 * starts after the old last video frame's interval (40 ms), not the 15 ms
 * wall-clock gap, so that decode times keep a frame's spacing (MPEG-TS,
 * MP4 and players at a constant rate); audio's own spacing is its own. */
static void test_continuation_within_a_frame(void **state)
{
    (void)state;
    stream_cont_t c;
    stream_cont_init(&c, "live", "a");
    assert_int_equal(pass(&c, V, MSG_F_KEY, 1000, 5000), 1000);
    assert_int_equal(pass(&c, A, 0, 1003, 5003), 1003);
    assert_int_equal(pass(&c, V, 0, 1040, 5040), 1040);
    assert_int_equal(pass(&c, A, 0, 1026, 5041), 1026);
    stream_cont_begin(&c, 7, 0, 1);
    assert_int_equal(pass(&c, V, MSG_F_SEQHDR, 0, 5050), 1040);
    assert_int_equal(pass(&c, V, MSG_F_KEY, 900000, 5055), 1040 + 40);
    assert_int_equal(pass(&c, A, 0, 900010, 5056), 1040 + 40 + 10);
    assert_int_equal(pass(&c, V, 0, 900040, 5095), 1040 + 80);
    /* a gap longer than the interval is the gap, as before */
    stream_cont_begin(&c, 8, 0, 1);
    assert_int_equal(pass(&c, V, MSG_F_KEY, 7000, 5095 + 300), 1040 + 80 + 300);
    /* a pause longer than STREAM_CONT_STEP_MAX_MS is no frame interval */
    stream_cont_restart(&c);
    assert_int_equal(pass(&c, V, MSG_F_KEY, 0, 9000), 0);
    assert_int_equal(pass(&c, V, MSG_F_KEY, STREAM_CONT_STEP_MAX_MS + 1, 9000), STREAM_CONT_STEP_MAX_MS + 1);
    stream_cont_begin(&c, 9, 0, 1);
    assert_int_equal(pass(&c, V, MSG_F_KEY, 900000, 9005), STREAM_CONT_STEP_MAX_MS + 1 + 5);
}

/* Audio only: the first audio frame ends the wait; a video sequence header
 * of the new publisher makes it wait for a video key frame after all. */
static void test_continuation_audio_only(void **state)
{
    (void)state;
    stream_cont_t c;
    stream_cont_init(&c, "live", "a");
    assert_int_equal(pass(&c, A, 0, 100, 1000), 100);
    stream_cont_begin(&c, 7, 0, 0);
    assert_int_not_equal(pass(&c, A, 0, 50000, 1100), UINT32_MAX);
    stream_cont_begin(&c, 8, 0, 0);
    assert_int_equal(pass(&c, V, MSG_F_SEQHDR, 0, 1200), 200);
    assert_int_equal(pass(&c, A, 0, 60000, 1210), UINT32_MAX);
    assert_int_not_equal(pass(&c, V, MSG_F_KEY, 60010, 1220), UINT32_MAX);
    /* no key frame within STREAM_CONT_KEY_WAIT_MS: audio goes on */
    stream_cont_begin(&c, 9, 0, 1);
    assert_int_equal(pass(&c, A, 0, 100, 2000), UINT32_MAX);
    assert_int_not_equal(pass(&c, A, 0, 200, 2000 + STREAM_CONT_KEY_WAIT_MS), UINT32_MAX);
}

/* Same source: the new publisher's first ts lies just before the old one's
 * last; what the players have is dropped and the timestamps are kept. */
static void test_continuation_same_source(void **state)
{
    (void)state;
    stream_cont_t c;
    stream_cont_init(&c, "live", "a");
    assert_int_equal(pass(&c, V, MSG_F_KEY, 4000, 1000), 4000);
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 5000, 2000), 5000);
    assert_int_equal(pass(&c, A, 0, 5010, 2010), 5010);
    stream_cont_begin(&c, 7, 1000, 1);
    assert_int_equal(pass(&c, V, MSG_F_KEY, 4000, 2300), UINT32_MAX); /* replayed GOP */
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 5000, 2300), UINT32_MAX);
    assert_int_equal(pass(&c, A, 0, 5010, 2300), UINT32_MAX);
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 5040, 2340), UINT32_MAX); /* waits for key */
    assert_int_equal(pass(&c, V, MSG_F_KEY, 6000, 3300), 6000);
    assert_int_equal(pass(&c, A, 0, 6010, 3310), 6010);
    assert_int_equal(c.stats.count, 1);
    assert_int_equal(c.stats.dropped, 4);
}

/* Identical headers are left out only while a publisher continues. */
static void test_same_header(void **state)
{
    (void)state;
    static const uint8_t hdr[] = {0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64};
    uint8_t other[sizeof hdr];
    memcpy(other, hdr, sizeof hdr);
    other[6] = 0x4d;
    msg_t *cached = msg_new_copy(V, 0, hdr, sizeof hdr);
    assert_non_null(cached);
    stream_cont_t c;
    stream_cont_init(&c, "live", "a");
    assert_false(stream_cont_same_header(&c, cached, hdr, sizeof hdr));
    stream_cont_begin(&c, 7, 0, 1);
    assert_true(stream_cont_same_header(&c, cached, hdr, sizeof hdr));
    assert_false(stream_cont_same_header(&c, cached, other, sizeof other));
    assert_false(stream_cont_same_header(&c, cached, hdr, sizeof hdr - 1));
    assert_false(stream_cont_same_header(&c, NULL, hdr, sizeof hdr));
    msg_unref(cached);
}

/* The stream's identity as a relay answer names it. */
static void assert_source(const stream_cont_t *c, const char *id, uint32_t off)
{
    uint32_t got = 7;
    assert_string_equal(stream_cont_source_id(c, &got), id);
    assert_int_equal(got, off);
}

/* A stream fed by an upstream named "o.1": 4000 key, 4040, audio 4050,
 * 4080 delivered. */
static void named_stream(stream_cont_t *c)
{
    stream_cont_init(c, "live", "a");
    stream_cont_restart(c);
    stream_cont_source(c, "o.1", 0, "me.1");
    assert_source(c, "o.1", 0);
    assert_int_equal(pass(c, V, MSG_F_KEY, 4000, 1000), 4000);
    assert_int_equal(pass(c, V, MSG_F_DROPPABLE, 4040, 1040), 4040);
    assert_int_equal(pass(c, A, 0, 4050, 1050), 4050);
    assert_int_equal(pass(c, V, MSG_F_DROPPABLE, 4080, 1080), 4080);
}

/* The same named source: what the players have is dropped, and the very
 * next message goes on at once (no key-frame wait), with its own ts. */
static void test_exact_splice_named_source(void **state)
{
    (void)state;
    stream_cont_t c;
    named_stream(&c);
    stream_cont_begin(&c, 7, 1000, 1);
    stream_cont_source(&c, "o.1", 0, "me.7");
    assert_int_equal(pass(&c, V, MSG_F_SEQHDR, 0, 1110), 4080); /* headers first */
    assert_int_equal(pass(&c, V, MSG_F_KEY, 4000, 1110), UINT32_MAX);
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 4040, 1110), UINT32_MAX);
    assert_int_equal(pass(&c, A, 0, 4050, 1110), UINT32_MAX);
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 4080, 1110), UINT32_MAX);
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 4120, 1111), 4120); /* the successor */
    assert_int_equal(pass(&c, A, 0, 4130, 1111), 4130);
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 4160, 1160), 4160);
    assert_int_equal(c.stats.count, 1);
    assert_int_equal(c.stats.dropped, 4);
    assert_source(&c, "o.1", 0);
}

/* The new upstream's timestamps are the old ones plus 500 (its own offset
 * on the source): compared less the shift, and the output is unchanged. */
static void test_exact_splice_shifted(void **state)
{
    (void)state;
    stream_cont_t c;
    named_stream(&c);
    stream_cont_begin(&c, 7, 1000, 1);
    stream_cont_source(&c, "o.1", 500, "me.7");
    assert_int_equal(pass(&c, V, MSG_F_KEY, 4500, 1110), UINT32_MAX);
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 4580, 1110), UINT32_MAX);
    assert_int_equal(pass(&c, A, 0, 4630, 1111), 4130);
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 4620, 1111), 4120);
    assert_source(&c, "o.1", 0); /* 500 in, -500 here */
    /* a downstream of this node is told the same timeline */
    stream_cont_begin(&c, 8, 1000, 1);
    stream_cont_source(&c, "o.1", 0, "me.8");
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 4120, 1200), UINT32_MAX);
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 4160, 1200), 4160);
}

/* The same source without overlap (its first video comes after the
 * players' last): audio goes on, video waits for a key frame. */
static void test_exact_splice_without_overlap(void **state)
{
    (void)state;
    stream_cont_t c;
    named_stream(&c);
    stream_cont_begin(&c, 7, 1000, 1);
    stream_cont_source(&c, "o.1", 0, "me.7");
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 4200, 1300), UINT32_MAX);
    assert_int_equal(pass(&c, A, 0, 4210, 1300), 4210);
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 4240, 1340), UINT32_MAX);
    assert_int_equal(pass(&c, V, MSG_F_KEY, 4280, 1380), 4280);
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 4320, 1420), 4320);
}

/* A different source, or the same name whose timestamps do not fit (a
 * stale identity): key-frame wait and restamp, and the identity follows
 * the new upstream (its offset plus this node's). */
static void test_named_different_source(void **state)
{
    (void)state;
    stream_cont_t c;
    named_stream(&c);
    stream_cont_begin(&c, 7, 1000, 1);
    stream_cont_source(&c, "o.2", 100, "me.7");
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 4120, 1200), UINT32_MAX);
    assert_int_equal(pass(&c, V, MSG_F_KEY, 20000, 1300), 4080 + 220);
    assert_source(&c, "o.2", (uint32_t)(100 + 4300 - 20000));
    named_stream(&c);
    stream_cont_begin(&c, 7, 1000, 1);
    stream_cont_source(&c, "o.1", 0, "me.7");
    assert_int_equal(pass(&c, V, MSG_F_DROPPABLE, 900000, 1200), UINT32_MAX);
    assert_int_equal(pass(&c, V, MSG_F_KEY, 900040, 1300), 4080 + 220);
}

/* Streams published here have their own id, kept through a continuation
 * by a local publisher and new at a restart; a relay publisher's id is
 * its upstream's. */
static void test_own_source_ids(void **state)
{
    (void)state;
    stream_cont_t c;
    stream_cont_init(&c, "live", "a");
    stream_cont_source(&c, NULL, 0, "node.5");
    assert_source(&c, "node.5", 0);
    assert_int_equal(pass(&c, V, MSG_F_KEY, 100, 1000), 100);
    stream_cont_begin(&c, 6, 0, 1);
    stream_cont_source(&c, "", 0, "node.6");
    assert_int_equal(pass(&c, V, MSG_F_KEY, 50000, 1100), 200);
    assert_source(&c, "node.5", 0); /* one timeline: its output */
    stream_cont_restart(&c);
    stream_cont_source(&c, NULL, 0, "node.7");
    assert_source(&c, "node.7", 0);
    stream_cont_restart(&c);
    stream_cont_source(&c, "bad id!", 3, "node.8"); /* invalid: treated as none */
    assert_source(&c, "node.8", 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_stream_keeps_timestamps),
        cmocka_unit_test(test_continuation_restamps_after_key),
        cmocka_unit_test(test_continuation_gap_bounds_and_clamp),
        cmocka_unit_test(test_continuation_within_a_frame),
        cmocka_unit_test(test_continuation_audio_only),
        cmocka_unit_test(test_continuation_same_source),
        cmocka_unit_test(test_same_header),
        cmocka_unit_test(test_exact_splice_named_source),
        cmocka_unit_test(test_exact_splice_shifted),
        cmocka_unit_test(test_exact_splice_without_overlap),
        cmocka_unit_test(test_named_different_source),
        cmocka_unit_test(test_own_source_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
