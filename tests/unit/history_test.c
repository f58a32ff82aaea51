/* Unit tests of history_ring and history: points at 1 s with their times
 * (a missing second is a gap, not a zero), minute averages (the current
 * minute read as its average so far), the bounds of both rings, reads after
 * a time, a clock set back; and the streams' table: a stream gone keeps its
 * history HISTORY_GONE_KEEP_S and is then freed, at most
 * HISTORY_STREAMS_MAX streams have one (a new stream takes the slot of the
 * one gone longest, and gets none while every slot is live). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "history.h"
#include "history_ring.h"

#define T0 1800000000u /* a Unix second at a minute's start (1800000000 / 60 = 30000000) */

static void push1(history_ring_t *r, uint32_t t, float a, float b)
{
    float v[2] = {a, b};
    history_ring_push(r, t, v);
}

static void test_ring_points_and_gaps(void **state)
{
    (void)state;
    history_ring_t r;
    assert_int_equal(history_ring_init(&r, 2, 4, 3), 0);
    push1(&r, T0, 1, 10);
    push1(&r, T0 + 1, 2, 20);
    push1(&r, T0 + 5, 3, 30); /* seconds 2..4 are a gap */
    push1(&r, T0 + 5, 99, 99); /* the same second again: ignored */
    uint32_t t[8];
    float v[16];
    assert_int_equal(history_ring_read(&r, HISTORY_1S, 0, t, v, 8), 3);
    assert_int_equal(t[0], T0);
    assert_int_equal(t[1], T0 + 1);
    assert_int_equal(t[2], T0 + 5);
    assert_true(v[4] == 3 && v[5] == 30);
    /* since: only later points; max bounds the copy */
    assert_int_equal(history_ring_read(&r, HISTORY_1S, T0, t, v, 8), 2);
    assert_int_equal(t[0], T0 + 1);
    assert_int_equal(history_ring_read(&r, HISTORY_1S, 0, t, v, 1), 1);
    /* the ring keeps its last 4 */
    push1(&r, T0 + 6, 4, 40);
    push1(&r, T0 + 7, 5, 50);
    assert_int_equal(history_ring_read(&r, HISTORY_1S, 0, t, v, 8), 4);
    assert_int_equal(t[0], T0 + 1);
    assert_int_equal(t[3], T0 + 7);
    assert_true(v[6] == 5);
    history_ring_free(&r);
    history_ring_free(&r); /* harmless twice */
    assert_int_equal(history_ring_init(&r, 0, 4, 3), -1);
    assert_int_equal(history_ring_init(&r, HISTORY_RING_FIELDS_MAX + 1, 4, 3), -1);
    assert_int_equal(history_ring_init(&r, 1, 0, 3), -1);
    history_ring_free(&r);
}

static void test_ring_minutes(void **state)
{
    (void)state;
    history_ring_t r;
    assert_int_equal(history_ring_init(&r, 2, 1000, 2), 0);
    uint32_t t[8];
    float v[16];
    assert_int_equal(history_ring_read(&r, HISTORY_1M, 0, t, v, 8), 0);
    push1(&r, T0 + 10, 1, 100);
    push1(&r, T0 + 20, 3, 300);
    /* the minute under way, averaged so far */
    assert_int_equal(history_ring_count(&r, HISTORY_1M), 1);
    assert_int_equal(history_ring_read(&r, HISTORY_1M, 0, t, v, 8), 1);
    assert_int_equal(t[0], T0);
    assert_true(v[0] == 2 && v[1] == 200);
    /* the next minute closes it; minute T0+120 is skipped (a gap) */
    push1(&r, T0 + 60, 10, 0);
    push1(&r, T0 + 180, 20, 0);
    assert_int_equal(history_ring_read(&r, HISTORY_1M, 0, t, v, 8), 3);
    assert_int_equal(t[0], T0);
    assert_int_equal(t[1], T0 + 60);
    assert_int_equal(t[2], T0 + 180);
    assert_true(v[2] == 10 && v[4] == 20);
    /* two minutes kept, plus the one under way */
    push1(&r, T0 + 240, 30, 0);
    assert_int_equal(history_ring_read(&r, HISTORY_1M, 0, t, v, 8), 3);
    assert_int_equal(t[0], T0 + 60);
    assert_int_equal(history_ring_read(&r, HISTORY_1M, T0 + 60, t, v, 8), 2);
    history_ring_free(&r);
}

static void test_ring_clock_back(void **state)
{
    (void)state;
    history_ring_t r;
    assert_int_equal(history_ring_init(&r, 2, 10, 10), 0);
    uint32_t t[16];
    float v[32];
    push1(&r, T0 + 100, 1, 1);
    push1(&r, T0 + 98, 2, 2); /* a small step back: ignored */
    assert_int_equal(history_ring_read(&r, HISTORY_1S, 0, t, v, 16), 1);
    push1(&r, T0 + 10, 3, 3); /* set back: starts over */
    assert_int_equal(history_ring_read(&r, HISTORY_1S, 0, t, v, 16), 1);
    assert_int_equal(t[0], T0 + 10);
    assert_int_equal(history_ring_read(&r, HISTORY_1M, 0, t, v, 16), 1);
    assert_true(v[0] == 3);
    history_ring_free(&r);
    assert_true(history_ring_bytes(3, HISTORY_1S_POINTS, HISTORY_1M_POINTS) < 40 * 1024);
}

static void feed(history_t *h, const char *name, uint32_t t, float players)
{
    float v[HISTORY_STREAM_FIELDS] = {1000, 25, players};
    history_feed_stream(h, "live", name, t, v);
}

static void test_streams_gone_and_freed(void **state)
{
    (void)state;
    history_t *h = history_new_detached();
    assert_non_null(h);
    history_sample(h, T0, 0); /* detached: samples nothing */
    assert_int_equal(history_ring_count(history_node(h), HISTORY_1S), 0);
    feed(h, "a", T0, 1);
    feed(h, "b", T0, 2);
    history_feed_end(h, T0);
    assert_int_equal(history_streams(h), 2);
    assert_null(history_stream(h, "live", "c"));
    assert_null(history_stream(h, "other", "a"));
    /* b goes; a stays */
    for (uint32_t s = 1; s < HISTORY_GONE_KEEP_S; s++) {
        feed(h, "a", T0 + s, 1);
        history_feed_end(h, T0 + s);
    }
    const history_ring_t *b = history_stream(h, "live", "b");
    assert_non_null(b);
    assert_int_equal(history_ring_count(b, HISTORY_1S), 1);
    feed(h, "a", T0 + HISTORY_GONE_KEEP_S + 1, 1);
    history_feed_end(h, T0 + HISTORY_GONE_KEEP_S + 1);
    assert_null(history_stream(h, "live", "b"));
    assert_int_equal(history_streams(h), 1);
    /* a republish within the keep continues the history, with a gap */
    const history_ring_t *a = history_stream(h, "live", "a");
    assert_int_equal(history_ring_count(a, HISTORY_1S), HISTORY_1S_POINTS);
    history_free(h);
    history_free(NULL);
}

static void test_streams_bound(void **state)
{
    (void)state;
    history_t *h = history_new_detached();
    assert_non_null(h);
    char name[32];
    for (int i = 0; i < HISTORY_STREAMS_MAX; i++) {
        snprintf(name, sizeof name, "s%d", i);
        feed(h, name, T0, 0);
    }
    feed(h, "extra", T0, 0); /* every slot live */
    history_feed_end(h, T0);
    assert_int_equal(history_streams(h), HISTORY_STREAMS_MAX);
    assert_int_equal(history_untracked(h), 1);
    assert_null(history_stream(h, "live", "extra"));
    /* s7 goes at T0+1, s3 at T0+2: a newcomer takes s7's slot first */
    for (int i = 0; i < HISTORY_STREAMS_MAX; i++) {
        snprintf(name, sizeof name, "s%d", i);
        if (i != 7)
            feed(h, name, T0 + 1, 0);
    }
    history_feed_end(h, T0 + 1);
    for (int i = 0; i < HISTORY_STREAMS_MAX; i++) {
        snprintf(name, sizeof name, "s%d", i);
        if (i != 7 && i != 3)
            feed(h, name, T0 + 2, 0);
    }
    history_feed_end(h, T0 + 2);
    feed(h, "new", T0 + 3, 5);
    assert_non_null(history_stream(h, "live", "new"));
    assert_null(history_stream(h, "live", "s7"));
    assert_non_null(history_stream(h, "live", "s3"));
    assert_non_null(history_stream(h, "live", "s1000"));
    assert_int_equal(history_streams(h), HISTORY_STREAMS_MAX);
    history_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_points_and_gaps),
        cmocka_unit_test(test_ring_minutes),
        cmocka_unit_test(test_ring_clock_back),
        cmocka_unit_test(test_streams_gone_and_freed),
        cmocka_unit_test(test_streams_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
