/* Unit tests of the hub's taps (stream_tap.h): a tap starts at the GOP
 * cache after the headers, gets every message pushed after, is told of a
 * continuation before its first message and of the end (detached then),
 * keeps the stream through the grace period, counts its players, and is
 * bounded per stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flv.h"
#include "stream.h"
#include "stream_tap.h"

#define MAX_SEEN 256

typedef struct {
    stream_tap_t tap;
    int nmsgs;
    uint8_t type[MAX_SEEN], flags[MAX_SEEN];
    uint32_t ts[MAX_SEEN];
    int nevents;
    stream_tap_ev_t events[16];
    int events_at[16]; /* nmsgs when each event came */
} fake_tap_t;

static void ft_msg(stream_tap_t *t, msg_t *m)
{
    fake_tap_t *ft = t->owner;
    assert_true(ft->nmsgs < MAX_SEEN);
    ft->type[ft->nmsgs] = m->type;
    ft->flags[ft->nmsgs] = m->flags;
    ft->ts[ft->nmsgs++] = m->ts;
}

static void ft_event(stream_tap_t *t, stream_tap_ev_t ev)
{
    fake_tap_t *ft = t->owner;
    assert_true(ft->nevents < 16);
    ft->events_at[ft->nevents] = ft->nmsgs;
    ft->events[ft->nevents++] = ev;
}

static void ft_init(fake_tap_t *ft)
{
    memset(ft, 0, sizeof *ft);
    ft->tap.msg = ft_msg;
    ft->tap.event = ft_event;
    ft->tap.owner = ft;
}

static void kick(publisher_t *pub, reason_t why, const char *reason)
{
    (void)pub;
    (void)why;
    (void)reason;
}

static const publisher_ops_t PUB_OPS = {kick};

static int64_t g_now = 1000000;

static void push(publisher_t *pub, uint8_t type, uint8_t b0, uint32_t ts, size_t len)
{
    uint8_t *p = calloc(1, len);
    assert_non_null(p);
    p[0] = b0;
    p[1] = 1; /* a coded frame (AVC NALU / AAC raw), not a header */
    assert_int_equal(stream_push(pub, type, ts, p, (uint32_t)len, g_now), 0);
}

static void push_headers(publisher_t *pub)
{
    uint8_t *v = calloc(1, 40), *a = calloc(1, 4);
    v[0] = 0x17; /* AVC sequence header (packet type 0) */
    a[0] = 0xaf; /* AAC sequence header (packet type 0) */
    assert_int_equal(stream_push(pub, FLV_TAG_VIDEO, 0, v, 40, g_now), 0);
    assert_int_equal(stream_push(pub, FLV_TAG_AUDIO, 0, a, 4, g_now), 0);
}

/* A key frame, an audio frame, an inter frame. */
static void push_gop(publisher_t *pub, uint32_t *ts)
{
    push(pub, FLV_TAG_VIDEO, 0x17, *ts, 200);
    push(pub, FLV_TAG_AUDIO, 0xaf, *ts, 8);
    push(pub, FLV_TAG_VIDEO, 0x27, *ts + 40, 50);
    *ts += 80;
}

typedef struct {
    conf_t conf;
    hub_t *hub;
    publisher_t pub;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    conf_defaults(&f->conf);
    f->hub = hub_new(&f->conf, 4096);
    assert_non_null(f->hub);
    f->pub.ops = &PUB_OPS;
    f->pub.sess_id = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    hub_free(f->hub);
    free(f);
    return 0;
}

static size_t players(hub_t *hub, const char *name)
{
    stream_info_t si;
    stream_info(hub_lookup(hub, "live", name), g_now, &si);
    return si.players;
}

/* Registration feeds the headers and the GOP cache; later pushes follow. */
static void test_tap_starts_at_gop_cache(void **state)
{
    fixture_t *f = *state;
    uint32_t ts = 1000;
    assert_int_equal(stream_publish(f->hub, "live", "t", &f->pub), 0);
    push_headers(&f->pub);
    push_gop(&f->pub, &ts);
    push_gop(&f->pub, &ts);
    fake_tap_t ft;
    ft_init(&ft);
    assert_int_equal(stream_tap_add(hub_lookup(f->hub, "live", "t"), &ft.tap), 0);
    assert_int_equal(ft.nmsgs, 2 + 3); /* the two headers, then the last GOP */
    assert_true(ft.flags[0] & MSG_F_SEQHDR);
    assert_int_equal(ft.type[0], FLV_TAG_VIDEO);
    assert_int_equal(ft.type[1], FLV_TAG_AUDIO);
    assert_true(ft.flags[2] & MSG_F_KEY);
    assert_int_equal(ft.ts[2], 1080);
    push_gop(&f->pub, &ts);
    assert_int_equal(ft.nmsgs, 8);
    assert_int_equal(ft.ts[5], 1160);
    ft.tap.players = 3;
    assert_int_equal(players(f->hub, "t"), 3);
    stream_tap_remove(&ft.tap);
    assert_null(ft.tap.stream);
    push_gop(&f->pub, &ts);
    assert_int_equal(ft.nmsgs, 8);
    assert_int_equal(players(f->hub, "t"), 0);
    stream_tap_remove(&ft.tap); /* harmless twice */
    assert_int_equal(ft.nevents, 0);
    stream_unpublish(&f->pub, g_now);
}

/* A tap keeps the stream through the grace period; a different source is a
 * restamped continuation, told before its first message; the grace's end
 * ends the tap (detached), and the stream goes at the next tick. */
static void test_tap_grace_continuation_and_end(void **state)
{
    fixture_t *f = *state;
    uint32_t ts = 50000;
    assert_int_equal(stream_publish(f->hub, "live", "g", &f->pub), 0);
    push_headers(&f->pub);
    push_gop(&f->pub, &ts);
    fake_tap_t ft;
    ft_init(&ft);
    assert_int_equal(stream_tap_add(hub_lookup(f->hub, "live", "g"), &ft.tap), 0);
    int before = ft.nmsgs;
    stream_unpublish(&f->pub, g_now);
    hub_tick(f->hub, g_now + 10);
    assert_non_null(hub_lookup(f->hub, "live", "g")); /* in grace, not gone */
    publisher_t b = {.ops = &PUB_OPS, .sess_id = 2};
    assert_int_equal(stream_publish(f->hub, "live", "g", &b), 0);
    ts = 0; /* another timeline */
    push_gop(&b, &ts);
    assert_int_equal(ft.nevents, 1);
    assert_int_equal(ft.events[0], STREAM_TAP_SPLICE_RESTAMPED);
    assert_int_equal(ft.events_at[0], before);
    assert_true(ft.nmsgs > before);
    assert_true(ft.ts[before] > 50000); /* restamped on the old timeline */
    stream_unpublish(&b, g_now);
    hub_tick(f->hub, g_now + f->conf.stream_unpublish_grace_ms + 100);
    assert_int_equal(ft.nevents, 2);
    assert_int_equal(ft.events[1], STREAM_TAP_END);
    assert_null(ft.tap.stream);
    hub_tick(f->hub, g_now + f->conf.stream_unpublish_grace_ms + 400);
    assert_int_equal(hub_stream_count(f->hub), 0);
}

/* Without players or taps an unpublish ends the stream at once: a fresh
 * publish; with a tap and a takeover the stream continues. At most
 * STREAM_TAPS_MAX taps per stream. */
static void test_tap_bound_and_takeover(void **state)
{
    fixture_t *f = *state;
    uint32_t ts = 0;
    assert_int_equal(stream_publish(f->hub, "live", "b", &f->pub), 0);
    push_gop(&f->pub, &ts);
    stream_t *s = hub_lookup(f->hub, "live", "b");
    fake_tap_t ft[STREAM_TAPS_MAX + 1];
    for (int i = 0; i < STREAM_TAPS_MAX; i++) {
        ft_init(&ft[i]);
        assert_int_equal(stream_tap_add(s, &ft[i].tap), 0);
    }
    ft_init(&ft[STREAM_TAPS_MAX]);
    assert_int_equal(stream_tap_add(s, &ft[STREAM_TAPS_MAX].tap), NODE_ELIMIT);
    f->conf.stream_publish_takeover = 1;
    publisher_t b = {.ops = &PUB_OPS, .sess_id = 2};
    assert_int_equal(stream_publish(f->hub, "live", "b", &b), 0);
    assert_int_equal(ft[0].nevents, 0); /* a continuation, not a restart */
    for (int i = 0; i < STREAM_TAPS_MAX; i++)
        stream_tap_remove(&ft[i].tap);
    stream_unpublish(&b, g_now);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tap_starts_at_gop_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tap_grace_continuation_and_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tap_bound_and_takeover, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
