/* Unit tests of the hub: GOP cache, waiting players, unpublish ordering,
 * slow-player bounds, zero-copy sharing, and continuations (seamless
 * failover: silent hold, headers, drop to the key frame, restamping). Players here are driven by
 * hand through stream_player_iov()/stream_player_consumed(), as conn.c does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "flv.h"
#include "stream.h"

/* ---- fakes -------------------------------------------------------------- */

#define MAX_EVENTS 16

typedef struct {
    player_t p;
    int wakes;
    player_event_t events[MAX_EVENTS];
    int nevents;
    /* what the player received, as (type, first payload byte, ts) */
    int ntags;
    uint8_t tag_type[4096];
    uint8_t tag_b0[4096];
    uint8_t tag_b1[4096];
    uint32_t tag_len[4096];
    uint32_t tag_ts[4096];
    int events_at_tag[MAX_EVENTS]; /* ntags when each event came */
} fake_player_t;

static void fp_wake(player_t *p)
{
    ((fake_player_t *)p->owner)->wakes++;
}

static void fp_event(player_t *p, player_event_t ev)
{
    fake_player_t *fp = p->owner;
    assert_true(fp->nevents < MAX_EVENTS);
    fp->events_at_tag[fp->nevents] = fp->ntags;
    fp->events[fp->nevents++] = ev;
}

static const player_ops_t FP_OPS = {fp_wake, fp_event};

static void fp_init(fake_player_t *fp, msg_enc_t enc)
{
    memset(fp, 0, sizeof *fp);
    fp->p.ops = &FP_OPS;
    fp->p.owner = fp;
    fp->p.enc = enc;
}

typedef struct {
    publisher_t pub;
    int kicked;
} fake_pub_t;

static void fpub_kick(publisher_t *pub, reason_t why, const char *reason)
{
    (void)why;
    (void)reason;
    ((fake_pub_t *)pub->owner)->kicked++;
}

static const publisher_ops_t FPUB_OPS = {fpub_kick};

static void fpub_init(fake_pub_t *fp)
{
    memset(fp, 0, sizeof *fp);
    fp->pub.ops = &FPUB_OPS;
    fp->pub.owner = fp;
}

/* Parses the complete FLV tags in buf[*parsed..len) (FLV encoding only). */
static void fp_absorb(fake_player_t *fp, const uint8_t *buf, size_t len, size_t *parsed)
{
    size_t off = *parsed;
    while (off + FLV_TAG_HEADER_SIZE <= len) {
        uint32_t body = rd_be24(buf + off + 1);
        uint32_t ts = rd_be24(buf + off + 4) | ((uint32_t)buf[off + 7] << 24);
        if (off + FLV_TAG_HEADER_SIZE + body + FLV_PREV_SIZE > len)
            break;
        assert_true(fp->ntags < 4096);
        fp->tag_type[fp->ntags] = buf[off];
        fp->tag_b0[fp->ntags] = body ? buf[off + FLV_TAG_HEADER_SIZE] : 0;
        fp->tag_b1[fp->ntags] = body > 1 ? buf[off + FLV_TAG_HEADER_SIZE + 1] : 0;
        fp->tag_len[fp->ntags] = body;
        fp->tag_ts[fp->ntags] = ts;
        fp->ntags++;
        assert_int_equal(rd_be32(buf + off + FLV_TAG_HEADER_SIZE + body), body + 11);
        off += FLV_TAG_HEADER_SIZE + body + FLV_PREV_SIZE;
    }
    *parsed = off;
}

/* Drains a player the way conn.c does, writing at most `step` bytes per
 * "write" (0: everything offered), so events are seen between the tags they
 * followed. Returns the bytes drained. */
static size_t fp_drain(fake_player_t *fp, size_t step, int64_t now)
{
    static uint8_t buf[1 << 22];
    size_t len = 0, parsed = 0;
    for (;;) {
        struct iovec iov[64];
        int n = stream_player_iov(&fp->p, iov, 64, 256 * 1024, now);
        if (n == 0)
            break;
        size_t offered = 0;
        for (int i = 0; i < n; i++)
            offered += iov[i].iov_len;
        size_t w = step && step < offered ? step : offered;
        size_t left = w;
        for (int i = 0; i < n && left; i++) {
            size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
            assert_true(len + k <= sizeof buf);
            memcpy(buf + len, iov[i].iov_base, k);
            len += k;
            left -= k;
        }
        stream_player_consumed(&fp->p, w);
        if (fp->p.enc == MSG_ENC_FLV)
            fp_absorb(fp, buf, len, &parsed);
    }
    if (fp->p.enc == MSG_ENC_FLV)
        assert_int_equal(parsed, len); /* nothing left half-sent */
    return len;
}

/* ---- media -------------------------------------------------------------- */

enum { V_SEQ = 0x17, V_KEY = 0x17, V_INTER = 0x27, A_AAC = 0xaf };

static int64_t g_now = 1000000;

static void push(fake_pub_t *fp, uint8_t type, uint8_t b0, uint8_t b1, uint32_t ts, size_t len)
{
    uint8_t *p = calloc(1, len);
    assert_non_null(p);
    p[0] = b0;
    if (len > 1)
        p[1] = b1;
    assert_int_equal(stream_push(&fp->pub, type, ts, p, (uint32_t)len, g_now), 0);
}

static void push_meta(fake_pub_t *fp)
{
    static const uint8_t meta[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a',
                                   't',  'a',  0x08, 0,   0,   0,   0,   0,   0,   9};
    uint8_t *p = malloc(sizeof meta);
    memcpy(p, meta, sizeof meta);
    assert_int_equal(stream_push(&fp->pub, FLV_TAG_SCRIPT, 0, p, sizeof meta, g_now), 0);
}

static void push_headers(fake_pub_t *fp)
{
    push_meta(fp);
    push(fp, FLV_TAG_VIDEO, V_SEQ, 0, 0, 40); /* AVC sequence header */
    push(fp, FLV_TAG_AUDIO, A_AAC, 0, 0, 4);  /* AAC sequence header */
}

/* One GOP: a key frame then `inter` inter frames, an audio frame after each. */
static void push_gop(fake_pub_t *fp, uint32_t *ts, int inter, size_t frame_len)
{
    push(fp, FLV_TAG_VIDEO, V_KEY, 1, *ts, frame_len);
    push(fp, FLV_TAG_AUDIO, A_AAC, 1, *ts, 8);
    for (int i = 0; i < inter; i++) {
        *ts += 40;
        push(fp, FLV_TAG_VIDEO, V_INTER, 1, *ts, frame_len / 4 + 1);
        push(fp, FLV_TAG_AUDIO, A_AAC, 1, *ts, 8);
    }
    *ts += 40;
}

typedef struct {
    conf_t conf;
    hub_t *hub;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    conf_defaults(&f->conf);
    f->hub = hub_new(&f->conf, 4096);
    assert_non_null(f->hub);
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

/* ---- tests -------------------------------------------------------------- */

static void test_gop_cache_starts_new_player_on_latest_key(void **state)
{
    fixture_t *f = *state;
    fake_pub_t pub;
    fpub_init(&pub);
    assert_int_equal(stream_publish(f->hub, "live", "a", &pub.pub), 0);
    uint32_t ts = 0;
    push_headers(&pub);
    push_gop(&pub, &ts, 3, 1000);
    uint32_t second_key_ts = ts;
    push_gop(&pub, &ts, 2, 1000);

    fake_player_t pl;
    fp_init(&pl, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "a", &pl.p, 0, g_now), 0);
    fp_drain(&pl, 0, g_now);
    /* metadata, both sequence headers, then the second GOP from its key frame */
    assert_int_equal(pl.ntags, 3 + 2 + 2 * 2);
    assert_int_equal(pl.tag_type[0], FLV_TAG_SCRIPT);
    assert_int_equal(pl.tag_type[1], FLV_TAG_VIDEO);
    assert_int_equal(pl.tag_type[2], FLV_TAG_AUDIO);
    assert_int_equal(pl.tag_type[3], FLV_TAG_VIDEO);
    assert_int_equal(pl.tag_b0[3], V_KEY);
    assert_int_equal(pl.tag_ts[3], second_key_ts);
    /* live data continues after the cache */
    push_gop(&pub, &ts, 1, 1000);
    fp_drain(&pl, 0, g_now);
    assert_int_equal(pl.ntags, 9 + 4);
    stream_player_stop(&pl.p);
    stream_unpublish(&pub.pub, g_now);
}

/* What a WebSocket-FLV close after a kick relies on (sess_wsflv.c): with a
 * message partly written, stream_player_iov(p, iov, 4, 1, now) offers
 * exactly the rest of it, in the prelude and in the ring. */
static void test_rest_of_partly_written_message(void **state)
{
    fixture_t *f = *state;
    fake_pub_t pub;
    fpub_init(&pub);
    assert_int_equal(stream_publish(f->hub, "live", "r", &pub.pub), 0);
    uint32_t ts = 0;
    push_headers(&pub);
    push_gop(&pub, &ts, 2, 1000);
    fake_player_t pl;
    fp_init(&pl, MSG_ENC_WS_FLV);
    assert_int_equal(stream_play(f->hub, "live", "r", &pl.p, 0, g_now), 0);
    struct iovec iov[4];
    int messages = 0;
    for (;;) {
        int n = stream_player_iov(&pl.p, iov, 4, 1, g_now);
        if (n == 0)
            break;
        assert_int_equal(((uint8_t *)iov[0].iov_base)[0], 0x82); /* a frame starts */
        size_t whole = 0;
        for (int i = 0; i < n; i++)
            whole += iov[i].iov_len;
        stream_player_consumed(&pl.p, 5);
        n = stream_player_iov(&pl.p, iov, 4, 1, g_now);
        size_t rest = 0;
        for (int i = 0; i < n; i++)
            rest += iov[i].iov_len;
        assert_int_equal(rest, whole - 5);
        stream_player_consumed(&pl.p, rest);
        assert_int_equal(pl.p.offset, 0);
        messages++;
    }
    assert_int_equal(messages, 3 + 6);
    stream_player_stop(&pl.p);
    stream_unpublish(&pub.pub, g_now);
}

static void test_gop_cache_two_gops(void **state)
{
    fixture_t *f = *state;
    f->conf.stream_gop_cache = 2;
    fake_pub_t pub;
    fpub_init(&pub);
    assert_int_equal(stream_publish(f->hub, "live", "b", &pub.pub), 0);
    uint32_t ts = 0;
    push_headers(&pub);
    push_gop(&pub, &ts, 1, 500);
    uint32_t second = ts;
    push_gop(&pub, &ts, 1, 500);
    push_gop(&pub, &ts, 1, 500);
    fake_player_t pl;
    fp_init(&pl, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "b", &pl.p, 0, g_now), 0);
    fp_drain(&pl, 0, g_now);
    assert_int_equal(pl.ntags, 3 + 2 * 4);
    assert_int_equal(pl.tag_b0[3], V_KEY);
    assert_int_equal(pl.tag_ts[3], second);
    stream_player_stop(&pl.p);
    stream_unpublish(&pub.pub, g_now);
}

static void test_no_gop_cache_waits_for_next_key(void **state)
{
    fixture_t *f = *state;
    f->conf.stream_gop_cache = 0;
    fake_pub_t pub;
    fpub_init(&pub);
    assert_int_equal(stream_publish(f->hub, "live", "c", &pub.pub), 0);
    uint32_t ts = 0;
    push_headers(&pub);
    push_gop(&pub, &ts, 2, 500);
    fake_player_t pl;
    fp_init(&pl, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "c", &pl.p, 0, g_now), 0);
    /* inter frames and audio arrive before the next key frame */
    push(&pub, FLV_TAG_VIDEO, V_INTER, 1, ts, 100);
    push(&pub, FLV_TAG_AUDIO, A_AAC, 1, ts, 8);
    ts += 40;
    push_gop(&pub, &ts, 0, 500);
    fp_drain(&pl, 0, g_now);
    /* meta + 2 seq headers, the audio frame, then the key frame and its audio */
    assert_int_equal(pl.ntags, 3 + 1 + 2);
    assert_int_equal(pl.tag_type[3], FLV_TAG_AUDIO);
    assert_int_equal(pl.tag_type[4], FLV_TAG_VIDEO);
    assert_int_equal(pl.tag_b0[4], V_KEY);
    assert_int_equal(pl.p.dropped_frames, 1);
    stream_player_stop(&pl.p);
    stream_unpublish(&pub.pub, g_now);
}

static void test_waiting_player_starts_or_times_out(void **state)
{
    fixture_t *f = *state;
    fake_player_t early, late;
    fp_init(&early, MSG_ENC_FLV);
    fp_init(&late, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "w", &early.p, 0, g_now), NODE_ENOTFOUND);
    assert_int_equal(stream_play(f->hub, "live", "w", &early.p, 5000, g_now), 1);
    assert_int_equal(stream_play(f->hub, "live", "never", &late.p, 500, g_now), 1);
    hub_tick(f->hub, g_now + 100);
    assert_int_equal(late.nevents, 0);
    hub_tick(f->hub, g_now + 600);
    assert_int_equal(late.nevents, 1);
    assert_int_equal(late.events[0], PLAYER_EV_NOT_FOUND);
    assert_null(late.p.stream);

    fake_pub_t pub;
    fpub_init(&pub);
    assert_int_equal(stream_publish(f->hub, "live", "w", &pub.pub), 0);
    assert_int_equal(early.nevents, 1);
    assert_int_equal(early.events[0], PLAYER_EV_STARTED);
    assert_true(early.p.attached);
    uint32_t ts = 0;
    push_headers(&pub);
    push_gop(&pub, &ts, 1, 300);
    stream_flush(pub.pub.stream);
    assert_true(early.wakes > 0);
    fp_drain(&early, 0, g_now);
    assert_int_equal(early.ntags, 3 + 4);
    stream_player_stop(&early.p);
    stream_unpublish(&pub.pub, g_now);
}

static void test_second_publisher_refused_or_takes_over(void **state)
{
    fixture_t *f = *state;
    fake_pub_t a, b;
    fpub_init(&a);
    fpub_init(&b);
    assert_int_equal(stream_publish(f->hub, "live", "x", &a.pub), 0);
    assert_int_equal(stream_publish(f->hub, "live", "x", &b.pub), NODE_EBUSY);
    assert_null(b.pub.stream);
    assert_int_equal(a.kicked, 0);
    f->conf.stream_publish_takeover = 1;
    assert_int_equal(stream_publish(f->hub, "live", "x", &b.pub), 0);
    assert_int_equal(a.kicked, 1);
    assert_null(a.pub.stream);
    assert_non_null(b.pub.stream);
    stream_unpublish(&a.pub, g_now); /* the kicked one: a no-op */
    assert_true(stream_is_live(b.pub.stream));
    stream_unpublish(&b.pub, g_now);
}

/* A publisher with its takeover flag (a relay's failback) takes the stream
 * over even with stream.publish_takeover off; others are still refused. */
static void test_publisher_takeover_flag(void **state)
{
    fixture_t *f = *state;
    fake_pub_t a, b, c;
    fpub_init(&a);
    fpub_init(&b);
    fpub_init(&c);
    assert_int_equal(f->conf.stream_publish_takeover, 0);
    assert_int_equal(stream_publish(f->hub, "live", "y", &a.pub), 0);
    b.pub.takeover = 1;
    assert_int_equal(stream_publish(f->hub, "live", "y", &b.pub), 0);
    assert_int_equal(a.kicked, 1);
    assert_null(a.pub.stream);
    assert_int_equal(stream_publish(f->hub, "live", "y", &c.pub), NODE_EBUSY);
    assert_int_equal(b.kicked, 0);
    stream_unpublish(&b.pub, g_now);
}

static void test_unpublish_event_after_data_then_grace_end(void **state)
{
    fixture_t *f = *state;
    fake_pub_t pub;
    fpub_init(&pub);
    assert_int_equal(stream_publish(f->hub, "live", "u", &pub.pub), 0);
    fake_player_t pl;
    fp_init(&pl, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "u", &pl.p, 0, g_now), 0);
    uint32_t ts = 0;
    push_headers(&pub);
    push_gop(&pub, &ts, 2, 300);
    stream_unpublish(&pub.pub, g_now);
    assert_int_equal(pl.nevents, 0); /* in-band: not before the data */
    fp_drain(&pl, 0, g_now);
    assert_int_equal(pl.nevents, 1);
    assert_int_equal(pl.events[0], PLAYER_EV_UNPUBLISHED);
    assert_int_equal(pl.events_at_tag[0], 3 + 6);
    hub_tick(f->hub, g_now + f->conf.stream_unpublish_grace_ms - 1);
    assert_int_equal(pl.nevents, 1);
    hub_tick(f->hub, g_now + f->conf.stream_unpublish_grace_ms + 1);
    assert_int_equal(pl.nevents, 2);
    assert_int_equal(pl.events[1], PLAYER_EV_ENDED);
    assert_false(pl.p.attached);
    hub_tick(f->hub, g_now + f->conf.stream_unpublish_grace_ms + 2);
    assert_int_equal(hub_stream_count(f->hub), 0);
}

static void test_republish_within_grace(void **state)
{
    fixture_t *f = *state;
    fake_pub_t a, b;
    fpub_init(&a);
    fpub_init(&b);
    assert_int_equal(stream_publish(f->hub, "live", "r", &a.pub), 0);
    fake_player_t pl;
    fp_init(&pl, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "r", &pl.p, 0, g_now), 0);
    uint32_t ts = 50000; /* b restarts at 0: another timeline */
    push_headers(&a);
    push_gop(&a, &ts, 1, 300);
    stream_unpublish(&a.pub, g_now);
    assert_int_equal(stream_publish(f->hub, "live", "r", &b.pub), 0);
    ts = 0;
    push_headers(&b);
    push_gop(&b, &ts, 1, 300);
    hub_tick(f->hub, g_now + f->conf.stream_unpublish_grace_ms + 100);
    fp_drain(&pl, 0, g_now);
    assert_int_equal(pl.nevents, 2);
    assert_int_equal(pl.events[0], PLAYER_EV_UNPUBLISHED);
    assert_int_equal(pl.events[1], PLAYER_EV_REPUBLISHED);
    assert_true(pl.p.attached);
    /* a continuation: b's identical headers are not sent again, its media
     * goes on after a's (last video ts 50040, no wall-clock gap: its key
     * frame after a's last frame's 40 ms) */
    assert_int_equal(pl.ntags, 3 + 4 + 4);
    assert_int_equal(pl.events_at_tag[1], 3 + 4);
    assert_int_equal(pl.tag_b0[7], V_KEY);
    assert_int_equal(pl.tag_b1[7], 1);
    assert_int_equal(pl.tag_ts[7], 50080);
    assert_int_equal(pl.tag_ts[10], 50120);
    stream_player_stop(&pl.p);
    stream_unpublish(&b.pub, g_now);
}

/* ---- continuations (seamless failover) ----------------------------------- */

/* Checks that each track's timestamps never go back in tags [from, ntags)
 * (mod 2^32). */
static void assert_monotonic(const fake_player_t *fp, int from)
{
    for (uint8_t type = FLV_TAG_AUDIO; type <= FLV_TAG_SCRIPT; type++) {
        int prev = -1;
        for (int i = from; i < fp->ntags; i++) {
            if (fp->tag_type[i] != type)
                continue;
            if (prev >= 0 && (int32_t)(fp->tag_ts[i] - fp->tag_ts[prev]) < 0)
                fail_msg("track %u goes back at tag %d: %u after %u", type, i, fp->tag_ts[i],
                         fp->tag_ts[prev]);
            prev = i;
        }
    }
}

static uint64_t conts(fake_pub_t *fp, uint64_t *dropped, int64_t *gap)
{
    stream_info_t si;
    stream_info(fp->pub.stream, g_now, &si);
    if (dropped)
        *dropped = si.continuation_dropped;
    if (gap)
        *gap = si.last_gap_ms;
    return si.continuations;
}

/* Two relay publishers that hold their players (a publishing live/name)
 * and an FLV player attached to it: how every continuation test starts. */
static void held_setup(fixture_t *f, const char *name, fake_pub_t *a, fake_pub_t *b,
                       fake_player_t *pl)
{
    fpub_init(a);
    fpub_init(b);
    a->pub.hold_players = b->pub.hold_players = 1;
    assert_int_equal(stream_publish(f->hub, "live", name, &a->pub), 0);
    fp_init(pl, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", name, &pl->p, 0, g_now), 0);
}

/* A relay publisher (hold_players) leaves: no event for the players, and
 * none when the next one comes; the stream simply goes on. */
static void test_relay_loss_is_silent(void **state)
{
    fixture_t *f = *state;
    fake_pub_t a, b;
    fake_player_t pl;
    held_setup(f, "h", &a, &b, &pl);
    uint32_t ts = 100000;
    push_headers(&a);
    push_gop(&a, &ts, 2, 300);
    stream_unpublish(&a.pub, g_now);
    fp_drain(&pl, 0, g_now);
    assert_int_equal(pl.nevents, 0);
    assert_int_equal(pl.ntags, 3 + 6);
    stream_t *s = hub_lookup(f->hub, "live", "h");
    assert_non_null(s);
    stream_info_t si;
    stream_info(s, g_now, &si);
    assert_true(si.unpublished);
    assert_int_equal(si.players, 1);

    g_now += 700;
    assert_int_equal(stream_publish(f->hub, "live", "h", &b.pub), 0);
    ts = 0;
    push_headers(&b);
    push_gop(&b, &ts, 1, 300);
    fp_drain(&pl, 0, g_now);
    assert_int_equal(pl.nevents, 0);
    assert_true(pl.p.attached);
    assert_int_equal(pl.ntags, 3 + 6 + 4);
    /* a's last ts was 100080; the gap was 700 ms */
    assert_int_equal(pl.tag_ts[9], 100080 + 700);
    assert_int_equal(pl.tag_ts[11], 100080 + 700 + 40);
    assert_monotonic(&pl, 0);
    int64_t gap = 0;
    assert_int_equal(conts(&b, NULL, &gap), 1);
    assert_int_equal(gap, 700);

    /* an ordinary publisher after a silent loss: players were never told of
     * the loss, so they get no REPUBLISHED either */
    fake_pub_t c;
    fpub_init(&c);
    stream_unpublish(&b.pub, g_now);
    assert_int_equal(stream_publish(f->hub, "live", "h", &c.pub), 0);
    ts = 70000;
    push_gop(&c, &ts, 0, 300);
    fp_drain(&pl, 0, g_now);
    assert_int_equal(pl.nevents, 0);
    assert_int_equal(pl.ntags, 3 + 6 + 4 + 2);
    /* and an ordinary publisher's loss is announced */
    stream_unpublish(&c.pub, g_now);
    fp_drain(&pl, 0, g_now);
    assert_int_equal(pl.nevents, 1);
    assert_int_equal(pl.events[0], PLAYER_EV_UNPUBLISHED);
    stream_player_stop(&pl.p);
}

static void push_meta_variant(fake_pub_t *fp, uint8_t last)
{
    static const uint8_t meta[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a',
                                   't',  'a',  0x08, 0,   0,   0,   0,   0,   0,   9};
    uint8_t *p = malloc(sizeof meta + 1);
    memcpy(p, meta, sizeof meta);
    p[sizeof meta] = last;
    assert_int_equal(stream_push(&fp->pub, FLV_TAG_SCRIPT, 0, p, sizeof meta + 1, g_now), 0);
}

/* New sequence headers reach the players in band only when they differ;
 * new players get the current ones. */
static void test_continuation_sends_changed_headers_only(void **state)
{
    fixture_t *f = *state;
    fake_pub_t a, b;
    fake_player_t pl;
    held_setup(f, "hd", &a, &b, &pl);
    uint32_t ts = 0;
    push_headers(&a);
    push_gop(&a, &ts, 1, 300);
    fp_drain(&pl, 0, g_now);
    assert_int_equal(pl.ntags, 3 + 4);
    stream_unpublish(&a.pub, g_now);

    g_now += 100;
    assert_int_equal(stream_publish(f->hub, "live", "hd", &b.pub), 0);
    push_meta_variant(&b, 1);                 /* differs */
    push(&b, FLV_TAG_VIDEO, V_SEQ, 0, 0, 41); /* differs: another size */
    push(&b, FLV_TAG_AUDIO, A_AAC, 0, 0, 4);  /* identical */
    push(&b, FLV_TAG_VIDEO, V_SEQ, 0, 0, 41); /* repeated: identical now */
    push_gop(&b, &ts, 1, 300);
    fp_drain(&pl, 0, g_now);
    assert_int_equal(pl.nevents, 0);
    assert_int_equal(pl.ntags, 3 + 4 + 2 + 4);
    assert_int_equal(pl.tag_type[7], FLV_TAG_SCRIPT);
    assert_int_equal(pl.tag_len[7], 22);
    assert_int_equal(pl.tag_type[8], FLV_TAG_VIDEO);
    assert_int_equal(pl.tag_b1[8], 0); /* a sequence header */
    assert_int_equal(pl.tag_len[8], 41);
    assert_int_equal(pl.tag_b1[9], 1); /* then the key frame */
    assert_monotonic(&pl, 0);
    /* the headers do not go back in time, and the key frame follows them */
    assert_true(pl.tag_ts[8] >= 40 && pl.tag_ts[8] < pl.tag_ts[9]);

    /* a new player: the current headers, then b's GOP */
    fake_player_t late;
    fp_init(&late, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "hd", &late.p, 0, g_now), 0);
    fp_drain(&late, 0, g_now);
    assert_int_equal(late.ntags, 3 + 4);
    assert_int_equal(late.tag_len[0], 22);
    assert_int_equal(late.tag_len[1], 41);
    assert_int_equal(late.tag_type[2], FLV_TAG_AUDIO);
    assert_int_equal(late.tag_b1[3], 1);
    assert_int_equal(late.tag_ts[3], pl.tag_ts[9]);
    stream_player_stop(&pl.p);
    stream_player_stop(&late.p);
    stream_unpublish(&b.pub, g_now);
}

/* The new publisher's media before its first key frame is dropped and
 * counted; an audio-only stream continues at the first audio frame. */
static void test_continuation_drops_until_key(void **state)
{
    fixture_t *f = *state;
    fake_pub_t a, b;
    fake_player_t pl;
    held_setup(f, "k", &a, &b, &pl);
    uint32_t ts = 0;
    push_headers(&a);
    push_gop(&a, &ts, 2, 300);
    stream_unpublish(&a.pub, g_now);
    g_now += 50;
    assert_int_equal(stream_publish(f->hub, "live", "k", &b.pub), 0);
    ts = 9000; /* joined mid-GOP: inter frames and audio first */
    for (int i = 0; i < 3; i++) {
        push(&b, FLV_TAG_AUDIO, A_AAC, 1, ts, 8);
        push(&b, FLV_TAG_VIDEO, V_INTER, 1, ts, 100);
        ts += 40;
    }
    push_gop(&b, &ts, 1, 300);
    fp_drain(&pl, 0, g_now);
    assert_int_equal(pl.ntags, 3 + 6 + 4);
    assert_int_equal(pl.tag_type[9], FLV_TAG_VIDEO);
    assert_int_equal(pl.tag_b0[9], V_KEY);
    assert_int_equal(pl.tag_b1[9], 1);
    assert_int_equal(pl.tag_ts[9], 80 + 50);
    uint64_t dropped = 0;
    assert_int_equal(conts(&b, &dropped, NULL), 1);
    assert_int_equal(dropped, 6);
    assert_monotonic(&pl, 0);
    stream_player_stop(&pl.p);
    stream_unpublish(&b.pub, g_now);

    /* audio only */
    fake_pub_t c, d;
    fpub_init(&c);
    fpub_init(&d);
    c.pub.hold_players = d.pub.hold_players = 1;
    assert_int_equal(stream_publish(f->hub, "live", "ao", &c.pub), 0);
    fake_player_t ap;
    fp_init(&ap, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "ao", &ap.p, 0, g_now), 0);
    push(&c, FLV_TAG_AUDIO, A_AAC, 0, 0, 4);
    for (uint32_t i = 0; i < 5; i++)
        push(&c, FLV_TAG_AUDIO, A_AAC, 1, i * 23, 8);
    stream_unpublish(&c.pub, g_now);
    g_now += 200;
    assert_int_equal(stream_publish(f->hub, "live", "ao", &d.pub), 0);
    push(&d, FLV_TAG_AUDIO, A_AAC, 0, 0, 4);
    for (uint32_t i = 0; i < 5; i++)
        push(&d, FLV_TAG_AUDIO, A_AAC, 1, 50000 + i * 23, 8);
    fp_drain(&ap, 0, g_now);
    assert_int_equal(ap.ntags, 6 + 5);
    assert_int_equal(ap.tag_ts[6], 92 + 200);
    assert_int_equal(ap.tag_ts[10], 92 + 200 + 4 * 23);
    assert_int_equal(conts(&d, &dropped, NULL), 1);
    assert_int_equal(dropped, 0);
    stream_player_stop(&ap.p);
    stream_unpublish(&d.pub, g_now);
}

/* Several continuations in a row, with upstream timestamps far lower, far
 * higher and about to wrap: the output never goes back, each jump is the
 * wall-clock gap (capped; at least the last frame's interval), and spacing within a publisher is kept. */
static void test_continuation_restamps_monotonic(void **state)
{
    fixture_t *f = *state;
    f->conf.stream_unpublish_grace_ms = 120000;
    fake_player_t pl;
    fp_init(&pl, MSG_ENC_FLV);
    static const uint32_t starts[] = {5000000, 0, 3000000000u, 0xffffff00u, 12345};
    static const int64_t gaps[] = {0, 300, 2500, 60000, 1};
    uint32_t expect_first = 0;
    fake_pub_t pubs[5];
    int first_tag[5];
    for (int k = 0; k < 5; k++) {
        fake_pub_t *p = &pubs[k];
        fpub_init(p);
        p->pub.hold_players = 1;
        g_now += gaps[k];
        assert_int_equal(stream_publish(f->hub, "live", "mono", &p->pub), 0);
        if (k == 0)
            assert_int_equal(stream_play(f->hub, "live", "mono", &pl.p, 0, g_now), 0);
        uint32_t ts = starts[k];
        push_headers(p);
        fp_drain(&pl, 0, g_now);
        first_tag[k] = pl.ntags; /* the headers, if sent, came before */
        /* key frame; audio 10 ms behind the video (interleaving skew) */
        push(p, FLV_TAG_VIDEO, V_KEY, 1, ts, 300);
        push(p, FLV_TAG_AUDIO, A_AAC, 1, ts - 10, 8);
        for (int i = 1; i <= 4; i++) {
            push(p, FLV_TAG_VIDEO, V_INTER, 1, ts + 40u * i, 100);
            push(p, FLV_TAG_AUDIO, A_AAC, 1, ts + 40u * i - 10, 8);
        }
        fp_drain(&pl, 0, g_now);
        assert_int_equal(pl.ntags - first_tag[k], 10);
        uint32_t key_ts = pl.tag_ts[first_tag[k]];
        if (k == 0) {
            assert_int_equal(key_ts, starts[0]);
        } else {
            uint32_t jump = gaps[k] > 10000 ? 10000 : gaps[k] < 1 ? 1 : (uint32_t)gaps[k];
            if (jump < 40) /* at least the last video frame's interval */
                jump = 40;
            assert_int_equal(key_ts, expect_first + jump);
            int64_t gap = 0;
            assert_int_equal(conts(p, NULL, &gap), (uint64_t)k);
            assert_int_equal(gap, gaps[k]);
        }
        /* spacing kept within the publisher */
        assert_int_equal(pl.tag_ts[first_tag[k] + 8], key_ts + 160);
        expect_first = key_ts + 160; /* the last video ts (the highest output) */
        assert_monotonic(&pl, 0);
        stream_unpublish(&p->pub, g_now);
    }
    assert_int_equal(pl.nevents, 0);
    stream_player_stop(&pl.p);
}

/* After a continuation the GOP cache holds only the new publisher's frames:
 * a player attaching (or waiting) then starts at its first key frame. */
static void test_continuation_resets_gop_cache(void **state)
{
    fixture_t *f = *state;
    f->conf.stream_gop_cache = 2;
    fake_pub_t a, b;
    fake_player_t pl;
    held_setup(f, "g", &a, &b, &pl);
    uint32_t ts = 0;
    push_headers(&a);
    push_gop(&a, &ts, 2, 300);
    push_gop(&a, &ts, 2, 300);
    stream_unpublish(&a.pub, g_now);
    /* a player asking during the grace period waits for the new publisher */
    fake_player_t waiter;
    fp_init(&waiter, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "g", &waiter.p, 5000, g_now), 1);
    g_now += 20;
    assert_int_equal(stream_publish(f->hub, "live", "g", &b.pub), 0);
    assert_int_equal(waiter.nevents, 1);
    assert_int_equal(waiter.events[0], PLAYER_EV_STARTED);
    push(&b, FLV_TAG_VIDEO, V_SEQ, 0, 0, 44); /* new size */
    /* a player attaching before b's key frame: nothing old */
    fake_player_t early;
    fp_init(&early, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "g", &early.p, 0, g_now), 0);
    fp_drain(&early, 0, g_now);
    for (int i = 0; i < early.ntags; i++)
        assert_true(early.tag_type[i] != FLV_TAG_VIDEO || early.tag_b1[i] == 0);
    ts = 77777;
    push(&b, FLV_TAG_VIDEO, V_INTER, 1, ts, 100); /* dropped: before the key */
    push_gop(&b, &ts, 2, 300);
    fake_player_t late;
    fp_init(&late, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "g", &late.p, 0, g_now), 0);
    fake_player_t *ps[] = {&waiter, &early, &late};
    for (int k = 0; k < 3; k++) {
        fake_player_t *p = ps[k];
        fp_drain(p, 0, g_now);
        int v = 0;
        uint32_t hdr = 0;
        for (int i = 0; i < p->ntags; i++) {
            if (p->tag_type[i] != FLV_TAG_VIDEO)
                continue;
            if (p->tag_b1[i] == 0) {
                hdr = p->tag_len[i]; /* the waiter's prelude has the old one first */
                continue;
            }
            if (v++ == 0) {
                assert_int_equal(hdr, 44); /* the new header before any frame */
                assert_int_equal(p->tag_b0[i], V_KEY);
                assert_int_equal(p->tag_ts[i], 200 + 40); /* gap 20, interval 40 */
            }
        }
        assert_int_equal(v, 3);
        assert_monotonic(p, 0);
        stream_player_stop(&p->p);
    }
    stream_info_t si;
    stream_info(b.pub.stream, g_now, &si);
    assert_int_equal(si.gops, 1);
    fp_drain(&pl, 0, g_now);
    assert_int_equal(pl.ntags, 3 + 12 + 1 + 6);
    stream_player_stop(&pl.p);
    stream_unpublish(&b.pub, g_now);
}

/* Same source (two relays of one origin): the new upstream starts with its
 * GOP cache, on the old one's timeline. What the players already have is
 * not sent again; the stream goes on at the next key frame, with the
 * publisher's own timestamps (no jump). */
static void test_continuation_same_source_skips_replay(void **state)
{
    fixture_t *f = *state;
    fake_pub_t a, b;
    fake_player_t pl;
    held_setup(f, "ss", &a, &b, &pl);
    uint32_t ts = 0;
    push_headers(&a);
    push_gop(&a, &ts, 24, 300);
    push_gop(&a, &ts, 24, 300);
    /* a is lost 10 frames into the GOP at 2000 */
    push(&a, FLV_TAG_VIDEO, V_KEY, 1, 2000, 300);
    push(&a, FLV_TAG_AUDIO, A_AAC, 1, 2000, 8);
    for (uint32_t t = 2040; t <= 2400; t += 40) {
        push(&a, FLV_TAG_VIDEO, V_INTER, 1, t, 100);
        push(&a, FLV_TAG_AUDIO, A_AAC, 1, t, 8);
    }
    fp_drain(&pl, 0, g_now);
    int before = pl.ntags;
    stream_unpublish(&a.pub, g_now);
    g_now += 80;
    assert_int_equal(stream_publish(f->hub, "live", "ss", &b.pub), 0);
    push_headers(&b);
    /* b's GOP cache: 2000..2960 (the players have up to 2400), then live */
    ts = 2000;
    push_gop(&b, &ts, 24, 300);
    push_gop(&b, &ts, 4, 300);
    fp_drain(&pl, 0, g_now);
    /* only the GOP at 3000: key, 4 inter frames, an audio frame after each */
    assert_int_equal(pl.ntags - before, 10);
    assert_int_equal(pl.tag_b0[before], V_KEY);
    assert_int_equal(pl.tag_ts[before], 3000);
    assert_int_equal(pl.tag_ts[pl.ntags - 1], 3160);
    assert_monotonic(&pl, 0);
    uint64_t dropped = 0;
    int64_t gap = 0;
    assert_int_equal(conts(&b, &dropped, &gap), 1);
    assert_int_equal(dropped, 50); /* 11 + 11 replayed, 14 + 14 new before the key */
    assert_int_equal(gap, 80);
    assert_int_equal(pl.nevents, 0);
    stream_player_stop(&pl.p);
    stream_unpublish(&b.pub, g_now);
}

/* The grace period still ends held players, and the next publisher then
 * starts a fresh stream (its own timestamps, its own headers). */
static void test_held_players_end_after_grace(void **state)
{
    fixture_t *f = *state;
    fake_pub_t a;
    fpub_init(&a);
    a.pub.hold_players = 1;
    assert_int_equal(stream_publish(f->hub, "live", "e", &a.pub), 0);
    fake_player_t pl;
    fp_init(&pl, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "e", &pl.p, 0, g_now), 0);
    uint32_t ts = 0;
    push_headers(&a);
    push_gop(&a, &ts, 1, 300);
    stream_unpublish(&a.pub, g_now);
    fp_drain(&pl, 0, g_now);
    hub_tick(f->hub, g_now + f->conf.stream_unpublish_grace_ms - 1);
    assert_int_equal(pl.nevents, 0);
    assert_true(pl.p.attached);
    hub_tick(f->hub, g_now + f->conf.stream_unpublish_grace_ms + 1);
    assert_int_equal(pl.nevents, 1);
    assert_int_equal(pl.events[0], PLAYER_EV_ENDED);
    assert_false(pl.p.attached);
    hub_tick(f->hub, g_now + f->conf.stream_unpublish_grace_ms + 2);
    assert_int_equal(hub_stream_count(f->hub), 0);

    fake_pub_t b;
    fpub_init(&b);
    b.pub.hold_players = 1;
    assert_int_equal(stream_publish(f->hub, "live", "e", &b.pub), 0);
    fake_player_t np;
    fp_init(&np, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "e", &np.p, 0, g_now), 0);
    ts = 7;
    push_headers(&b);
    push_gop(&b, &ts, 0, 300);
    fp_drain(&np, 0, g_now);
    assert_int_equal(np.ntags, 3 + 2);
    assert_int_equal(np.tag_ts[3], 7);
    assert_int_equal(conts(&b, NULL, NULL), 0);
    stream_player_stop(&np.p);
    stream_unpublish(&b.pub, g_now);
}

/* A takeover with players attached continues the stream as well. */
static void test_takeover_continues(void **state)
{
    fixture_t *f = *state;
    f->conf.stream_publish_takeover = 1;
    fake_pub_t a, b;
    fpub_init(&a);
    fpub_init(&b);
    assert_int_equal(stream_publish(f->hub, "live", "t", &a.pub), 0);
    fake_player_t pl;
    fp_init(&pl, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "t", &pl.p, 0, g_now), 0);
    uint32_t ts = 90000;
    push_headers(&a);
    push_gop(&a, &ts, 1, 300);
    g_now += 30;
    assert_int_equal(stream_publish(f->hub, "live", "t", &b.pub), 0);
    assert_int_equal(a.kicked, 1);
    ts = 0;
    push_headers(&b);
    push_gop(&b, &ts, 1, 300);
    fp_drain(&pl, 0, g_now);
    assert_int_equal(pl.nevents, 0);
    assert_int_equal(pl.ntags, 3 + 4 + 4);
    assert_int_equal(pl.tag_ts[7], 90040 + 40); /* gap 30, last frame interval 40 */
    assert_monotonic(&pl, 0);
    stream_player_stop(&pl.p);
    stream_unpublish(&b.pub, g_now);
}

/* A player that never reads: memory stays bounded, it is cut off, and a
 * reading player beside it gets everything. */
static void test_stalled_player_bounded_and_disconnected(void **state)
{
    fixture_t *f = *state;
    f->conf.player_max_queue_bytes = 256 * 1024;
    f->conf.player_queue_ms = 500;
    f->conf.player_slow_timeout_ms = 2000;
    fake_pub_t pub;
    fpub_init(&pub);
    assert_int_equal(stream_publish(f->hub, "live", "s", &pub.pub), 0);
    fake_player_t stalled, reader;
    fp_init(&stalled, MSG_ENC_FLV);
    fp_init(&reader, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "s", &stalled.p, 0, g_now), 0);
    assert_int_equal(stream_play(f->hub, "live", "s", &reader.p, 0, g_now), 0);
    uint32_t ts = 0;
    push_headers(&pub);
    int64_t start = g_now;
    uint64_t max_retained = 0;
    int gops = 0;
    /* 25 fps, 1 s GOPs of ~100 KB, for 20 s of media time */
    for (int sec = 0; sec < 20; sec++) {
        push_gop(&pub, &ts, 24, 4000);
        gops++;
        fp_drain(&reader, 0, g_now);
        g_now += 1000;
        hub_tick(f->hub, g_now);
        uint64_t r = stream_retained_bytes(pub.pub.stream);
        if (r > max_retained)
            max_retained = r;
    }
    /* the GOP cache (~100 KB) plus at most max_queue_bytes for the slow one */
    assert_true(max_retained <= 256 * 1024 + 2 * 110 * 1000);
    assert_int_equal(stalled.nevents, 1);
    assert_int_equal(stalled.events[0], PLAYER_EV_SLOW);
    assert_false(stalled.p.attached);
    assert_int_equal(reader.nevents, 0);
    assert_int_equal(reader.ntags, 3 + gops * 50);
    assert_int_equal(reader.p.dropped_frames, 0);
    (void)start;
    stream_player_stop(&reader.p);
    stream_unpublish(&pub.pub, g_now);
}

/* A player far behind in time drops inter frames until a key frame but keeps
 * audio and key frames. */
static void test_lagging_player_drops_to_next_key(void **state)
{
    fixture_t *f = *state;
    f->conf.player_queue_ms = 1000;
    f->conf.stream_gop_cache = 1;
    fake_pub_t pub;
    fpub_init(&pub);
    assert_int_equal(stream_publish(f->hub, "live", "d", &pub.pub), 0);
    fake_player_t pl;
    fp_init(&pl, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "d", &pl.p, 0, g_now), 0);
    int64_t t0 = g_now;
    push_headers(&pub);
    push(&pub, FLV_TAG_VIDEO, V_KEY, 1, 0, 2000);
    push(&pub, FLV_TAG_AUDIO, A_AAC, 1, 0, 8);
    fp_drain(&pl, 0, g_now);
    assert_int_equal(pl.ntags, 5);
    /* the rest of the GOP arrives while the player reads nothing */
    for (uint32_t i = 1; i <= 9; i++) {
        push(&pub, FLV_TAG_VIDEO, V_INTER, 1, i * 40, 500);
        push(&pub, FLV_TAG_AUDIO, A_AAC, 1, i * 40, 8);
    }
    g_now = t0 + 3000; /* the next key frame: last GOP span 3 s */
    push(&pub, FLV_TAG_VIDEO, V_KEY, 1, 3000, 2000);
    push(&pub, FLV_TAG_AUDIO, A_AAC, 1, 3000, 8);
    /* 5 s behind > queue_ms (1 s) + GOP span (3 s): drop to the key frame */
    fp_drain(&pl, 0, t0 + 5000);
    assert_int_equal(pl.p.dropped_frames, 9);
    assert_int_equal(pl.ntags, 5 + 9 + 2);
    int videos = 0;
    for (int i = 3; i < pl.ntags; i++)
        if (pl.tag_type[i] == FLV_TAG_VIDEO) {
            assert_int_equal(pl.tag_b0[i], V_KEY);
            videos++;
        }
    assert_int_equal(videos, 2);
    /* within the bound nothing is dropped */
    push(&pub, FLV_TAG_VIDEO, V_INTER, 1, 3040, 500);
    fp_drain(&pl, 0, g_now + 100);
    assert_int_equal(pl.p.dropped_frames, 9);
    assert_int_equal(pl.ntags, 17);
    stream_player_stop(&pl.p);
    stream_unpublish(&pub.pub, g_now);
}

/* Every player gets the same bytes by reference, whatever its write sizes. */
static void test_zero_copy_and_partial_writes(void **state)
{
    fixture_t *f = *state;
    fake_pub_t pub;
    fpub_init(&pub);
    assert_int_equal(stream_publish(f->hub, "live", "z", &pub.pub), 0);
    uint32_t ts = 0;
    push_headers(&pub);
    push_gop(&pub, &ts, 4, 9000);
    fake_player_t a, b, c;
    fp_init(&a, MSG_ENC_RTMP);
    fp_init(&b, MSG_ENC_RTMP);
    fp_init(&c, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "z", &a.p, 0, g_now), 0);
    assert_int_equal(stream_play(f->hub, "live", "z", &b.p, 0, g_now), 0);
    assert_int_equal(stream_play(f->hub, "live", "z", &c.p, 0, g_now), 0);
    struct iovec ia[64], ib[64];
    int na = stream_player_iov(&a.p, ia, 64, 1 << 20, g_now);
    int nb = stream_player_iov(&b.p, ib, 64, 1 << 20, g_now);
    assert_true(na > 0);
    assert_int_equal(na, nb);
    for (int i = 0; i < na; i++) {
        assert_ptr_equal(ia[i].iov_base, ib[i].iov_base);
        assert_int_equal(ia[i].iov_len, ib[i].iov_len);
    }
    /* whole writes vs 7-byte writes: same byte count for RTMP, same tags for FLV */
    size_t whole = fp_drain(&a, 0, g_now);
    size_t bits = fp_drain(&b, 7, g_now);
    assert_int_equal(whole, bits);
    fake_player_t d;
    fp_init(&d, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "z", &d.p, 0, g_now), 0);
    fp_drain(&c, 0, g_now);
    fp_drain(&d, 13, g_now);
    assert_int_equal(c.ntags, d.ntags);
    assert_memory_equal(c.tag_b0, d.tag_b0, (size_t)c.ntags);
    assert_memory_equal(c.tag_ts, d.tag_ts, sizeof c.tag_ts[0] * (size_t)c.ntags);
    stream_player_stop(&a.p);
    stream_player_stop(&b.p);
    stream_player_stop(&c.p);
    stream_player_stop(&d.p);
    stream_unpublish(&pub.pub, g_now);
}

/* ---- memory bounds (issue 16) ------------------------------------------ */

static void gop_info(fake_pub_t *pub, stream_info_t *st)
{
    stream_info(pub->pub.stream, g_now, st);
}

/* One key frame, then only large inter frames: the cache stops at
 * stream.gop_cache_max_bytes, drops to the live edge once (counted), and
 * never grows again; a reading player is untouched, a new one starts at the
 * next key frame, which restarts the cache. */
static void test_gop_cache_bounded_in_bytes(void **state)
{
    fixture_t *f = *state;
    f->conf.stream_gop_cache_max_bytes = 1u << 20;
    fake_pub_t pub;
    fpub_init(&pub);
    assert_int_equal(stream_publish(f->hub, "live", "gb", &pub.pub), 0);
    fake_player_t reader;
    fp_init(&reader, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "gb", &reader.p, 0, g_now), 0);
    uint32_t ts = 0;
    push_headers(&pub);
    push(&pub, FLV_TAG_VIDEO, V_KEY, 1, ts, 1000);
    uint64_t max_cache = 0, max_retained = 0;
    stream_info_t st;
    for (int i = 0; i < 100; i++) {
        ts += 40;
        push(&pub, FLV_TAG_VIDEO, V_INTER, 1, ts, 64 * 1024);
        fp_drain(&reader, 0, g_now);
        hub_tick(f->hub, g_now); /* the node's tick: the players' cursors */
        gop_info(&pub, &st);
        if (st.gop_cache_bytes > max_cache)
            max_cache = st.gop_cache_bytes;
        if (stream_retained_bytes(pub.pub.stream) > max_retained)
            max_retained = stream_retained_bytes(pub.pub.stream);
    }
    assert_true(max_cache <= (1u << 20));
    assert_true(max_retained <= (1u << 20) + 64 * 1024);
    gop_info(&pub, &st);
    assert_int_equal(st.gop_cache_drops, 1);
    assert_int_equal(st.gops, 0);
    assert_int_equal(hub_gop_drops(f->hub), 1);
    /* the reader got every frame: headers, the key frame, 100 inter frames */
    assert_int_equal(reader.ntags, 3 + 1 + 100);
    assert_int_equal(reader.p.dropped_frames, 0);

    fake_player_t late;
    fp_init(&late, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "gb", &late.p, 0, g_now), 0);
    push(&pub, FLV_TAG_VIDEO, V_INTER, 1, ts += 40, 1000);
    push(&pub, FLV_TAG_VIDEO, V_KEY, 1, ts += 40, 1000);
    fp_drain(&late, 0, g_now);
    assert_int_equal(late.ntags, 3 + 1); /* headers, then the new key frame */
    assert_int_equal(late.tag_b0[3], V_KEY);
    gop_info(&pub, &st);
    assert_int_equal(st.gops, 1);
    stream_player_stop(&late.p);
    stream_player_stop(&reader.p);
    stream_unpublish(&pub.pub, g_now);
}

/* A GOP longer than stream.gop_cache_max_ms drops the cache too. */
static void test_gop_cache_bounded_in_time(void **state)
{
    fixture_t *f = *state;
    f->conf.stream_gop_cache_max_ms = 1000;
    fake_pub_t pub;
    fpub_init(&pub);
    assert_int_equal(stream_publish(f->hub, "live", "gt", &pub.pub), 0);
    uint32_t ts = 0;
    push_headers(&pub);
    push(&pub, FLV_TAG_VIDEO, V_KEY, 1, ts, 1000);
    stream_info_t st;
    for (int i = 0; i < 9; i++) {
        g_now += 100;
        push(&pub, FLV_TAG_VIDEO, V_INTER, 1, ts += 100, 500);
    }
    gop_info(&pub, &st);
    assert_int_equal(st.gops, 1);
    assert_int_equal(st.gop_cache_drops, 0);
    g_now += 200;
    push(&pub, FLV_TAG_VIDEO, V_INTER, 1, ts += 200, 500);
    gop_info(&pub, &st);
    assert_int_equal(st.gops, 0);
    assert_int_equal(st.gop_cache_drops, 1);
    assert_int_equal(st.gop_cache_bytes, 0);
    stream_unpublish(&pub.pub, g_now);
}

/* With several GOPs cached, the oldest go first: no drop to the live edge
 * while the newest GOP alone fits. */
static void test_gop_cache_bound_drops_oldest_gops_first(void **state)
{
    fixture_t *f = *state;
    f->conf.stream_gop_cache = 4;
    f->conf.stream_gop_cache_max_bytes = 1u << 20;
    fake_pub_t pub;
    fpub_init(&pub);
    assert_int_equal(stream_publish(f->hub, "live", "go", &pub.pub), 0);
    uint32_t ts = 0;
    push_headers(&pub);
    stream_info_t st;
    for (int g = 0; g < 8; g++) {
        push_gop(&pub, &ts, 4, 100 * 1000); /* ~200 KB video + audio per GOP */
        gop_info(&pub, &st);
        assert_true(st.gop_cache_bytes <= (1u << 20));
    }
    gop_info(&pub, &st);
    assert_true(st.gops >= 3 && st.gops <= 4);
    assert_int_equal(st.gop_cache_drops, 0);
    stream_unpublish(&pub.pub, g_now);
}

/* limits.max_memory_mb: over it, new publishers are refused and a stream
 * over its share drops its GOP cache; once players let go, publishing works
 * again. */
static void test_node_memory_bound(void **state)
{
    fixture_t *f = *state;
    hub_free(f->hub);
    f->conf.limits_max_memory_mb = 1;
    f->hub = hub_new(&f->conf, 4096);
    assert_non_null(f->hub);
    assert_int_equal(hub_memory_bound(f->hub), 1u << 20);
    fake_pub_t a, b;
    fpub_init(&a);
    fpub_init(&b);
    assert_int_equal(stream_publish(f->hub, "live", "ma", &a.pub), 0);
    fake_player_t stalled;
    fp_init(&stalled, MSG_ENC_FLV);
    assert_int_equal(stream_play(f->hub, "live", "ma", &stalled.p, 0, g_now), 0);
    uint32_t ts = 0;
    push_headers(&a);
    push(&a, FLV_TAG_VIDEO, V_KEY, 1, ts, 1000);
    for (int i = 0; i < 24; i++)
        push(&a, FLV_TAG_VIDEO, V_INTER, 1, ts += 40, 64 * 1024);
    assert_true(hub_over_memory(f->hub));
    stream_info_t st;
    gop_info(&a, &st);
    assert_int_equal(st.gop_cache_drops, 1);
    assert_int_equal(st.gops, 0);
    assert_int_equal(stream_publish(f->hub, "live", "mb", &b.pub), NODE_EMEMORY);
    assert_null(b.pub.stream);
    /* the stalled player held it all; without it the ring is trimmed */
    stream_player_stop(&stalled.p);
    hub_tick(f->hub, g_now);
    assert_false(hub_over_memory(f->hub));
    assert_int_equal(stream_publish(f->hub, "live", "mb", &b.pub), 0);
    stream_unpublish(&b.pub, g_now);
    stream_unpublish(&a.pub, g_now);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(stream_name_valid("live", STREAM_APP_MAX));
    assert_true(stream_name_valid("cam-1_a.b~", STREAM_NAME_MAX));
    assert_false(stream_name_valid("", STREAM_NAME_MAX));
    assert_false(stream_name_valid("../etc", STREAM_NAME_MAX));
    assert_false(stream_name_valid("/abs", STREAM_NAME_MAX));
    assert_false(stream_name_valid("a/b", STREAM_NAME_MAX));
    assert_false(stream_name_valid("a/", STREAM_NAME_MAX));
    assert_false(stream_name_valid("..", STREAM_NAME_MAX));
    assert_false(stream_name_valid("a..b", STREAM_NAME_MAX));
    assert_true(stream_name_valid("a.b", STREAM_NAME_MAX));
    assert_false(stream_name_valid("a b", STREAM_NAME_MAX));
    assert_false(stream_name_valid("a\x01", STREAM_NAME_MAX));
    assert_false(stream_name_valid("caf\xc3\xa9", STREAM_NAME_MAX));
    char big[STREAM_NAME_MAX + 1];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(stream_name_valid(big, STREAM_NAME_MAX));
    big[STREAM_NAME_MAX - 1] = '\0';
    assert_true(stream_name_valid(big, STREAM_NAME_MAX));
}

/* ---- MPEG-TS players ---------------------------------------------------- */

/* Valid H.264 + AAC payloads (the TS muxer parses them). */
static void push_bytes(fake_pub_t *fp, uint8_t type, uint32_t ts, const uint8_t *b, size_t n)
{
    uint8_t *p = malloc(n);
    assert_non_null(p);
    memcpy(p, b, n);
    assert_int_equal(stream_push(&fp->pub, type, ts, p, (uint32_t)n, g_now), 0);
}

/* The SPS says level `level` (its 4th byte), so headers can differ. */
static void push_ts_headers(fake_pub_t *fp, uint8_t level)
{
    uint8_t avc[] = {0x17, 0, 0,    0,    0, 1,    0x64, 0, 0x1f, 0xff, 0xe1,
                     0,    4, 0x67, 0x64, 0, 0x1f, 1,    0, 2,    0x68, 0xeb};
    static const uint8_t aac[] = {0xaf, 0, 0x12, 0x10};
    push_meta(fp);
    avc[16] = level;
    push_bytes(fp, FLV_TAG_VIDEO, 0, avc, sizeof avc);
    push_bytes(fp, FLV_TAG_AUDIO, 0, aac, sizeof aac);
}

static void push_ts_gop(fake_pub_t *fp, uint32_t *ts, int inter)
{
    uint8_t v[400] = {0x17, 1, 0, 0, 0, 0, 0, 1, 0x87, 0x65}; /* one NAL of 391 bytes */
    uint8_t a[60] = {0xaf, 1};
    for (int i = 0; i <= inter; i++, *ts += 40) {
        v[0] = i ? 0x27 : 0x17;
        v[9] = i ? 0x41 : 0x65;
        push_bytes(fp, FLV_TAG_VIDEO, *ts, v, sizeof v);
        push_bytes(fp, FLV_TAG_AUDIO, *ts, a, sizeof a);
    }
}

/* Drains a TS player into out (cap bytes); returns the length. */
static size_t ts_drain(fake_player_t *fp, uint8_t *out, size_t cap)
{
    size_t len = 0;
    struct iovec iov[64];
    int n;
    while ((n = stream_player_iov(&fp->p, iov, 64, 256 * 1024, g_now)) > 0) {
        size_t w = 0;
        for (int i = 0; i < n; i++) {
            assert_true(len + iov[i].iov_len <= cap);
            memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
            len += iov[i].iov_len;
            w += iov[i].iov_len;
        }
        stream_player_consumed(&fp->p, w);
    }
    return len;
}

/* Whole packets; continuity counters run on per PID (cc[] carries them
 * from one call to the next, -1: unknown). Returns the PAT count. */
static int ts_check(const uint8_t *p, size_t len, int cc[3])
{
    static const unsigned pids[3] = {0x100, 0x101, 0};
    int pats = 0;
    assert_int_equal(len % 188, 0);
    for (size_t i = 0; i < len; i += 188) {
        assert_int_equal(p[i], 0x47);
        unsigned pid = ((p[i + 1] & 0x1fu) << 8) | p[i + 2];
        pats += pid == 0;
        for (int k = 0; k < 3; k++) {
            if (pid != pids[k])
                continue;
            if (cc[k] >= 0)
                assert_int_equal(p[i + 3] & 15, (cc[k] + 1) & 15);
            cc[k] = p[i + 3] & 15;
        }
    }
    return pats;
}

static void test_ts_players_share_one_encoding(void **state)
{
    fixture_t *f = *state;
    fake_pub_t pub;
    fpub_init(&pub);
    assert_int_equal(stream_publish(f->hub, "live", "ts", &pub.pub), 0);
    uint32_t ts = 0;
    push_ts_headers(&pub, 0x1f);
    push_ts_gop(&pub, &ts, 4);
    uint64_t before = msg_mem_bytes();
    static uint8_t a_out[1 << 16], b_out[1 << 16];
    fake_player_t a, b, flv;
    fp_init(&a, MSG_ENC_TS);
    fp_init(&b, MSG_ENC_TS_CHUNKED);
    fp_init(&flv, MSG_ENC_FLV);
    /* the first TS player encodes the GOP cache: PAT, PMT, the key frame */
    assert_int_equal(stream_play(f->hub, "live", "ts", &a.p, 0, g_now), 0);
    assert_true(msg_mem_bytes() > before + 5 * 3 * 188);
    assert_int_equal(stream_play(f->hub, "live", "ts", &flv.p, 0, g_now), 0);
    int cc[3] = {-1, -1, -1};
    size_t n = ts_drain(&a, a_out, sizeof a_out);
    assert_int_equal(ts_check(a_out, n, cc), 1);
    assert_int_equal(a_out[2], 0);                             /* PAT first */
    assert_int_equal((a_out[2 * 188 + 1] & 0x1f) << 8, 0x100); /* then video */
    /* key frame: PAT, PMT and 3 packets; inter frames 3; audio 1 */
    assert_int_equal(n, (5 + 3 * 4 + 5) * 188);
    /* a second GOP: both TS players get the same bytes, by reference */
    push_ts_gop(&pub, &ts, 2);
    assert_int_equal(stream_play(f->hub, "live", "ts", &b.p, 0, g_now), 0);
    struct iovec ia[4], ib[4];
    assert_true(stream_player_iov(&a.p, ia, 4, 1 << 20, g_now) > 0);
    assert_true(stream_player_iov(&b.p, ib, 4, 1 << 20, g_now) > 0);
    assert_ptr_equal(ia[0].iov_base, ib[1].iov_base); /* b: chunk size line first */
    n = ts_drain(&a, a_out, sizeof a_out);
    assert_int_equal(ts_check(a_out, n, cc), 1); /* counters go on across messages */
    size_t nb = ts_drain(&b, b_out, sizeof b_out);
    assert_true(nb > n);
    /* the FLV player got FLV: the file's tags, headers first */
    fp_drain(&flv, 0, g_now);
    assert_int_equal(flv.tag_type[0], FLV_TAG_SCRIPT);
    assert_int_equal(flv.ntags, 3 + 10 + 6);
    stream_player_stop(&a.p);
    stream_player_stop(&b.p);
    stream_player_stop(&flv.p);
    stream_unpublish(&pub.pub, g_now);
}

/* Where the SPS of level `level` is in buf (after its start code), or -1. */
static long find_sps(const uint8_t *buf, size_t len, uint8_t level)
{
    const uint8_t sps[] = {0, 0, 0, 1, 0x67, 0x64, 0, level};
    for (size_t i = 0; i + sizeof sps <= len; i++)
        if (memcmp(buf + i, sps, sizeof sps) == 0)
            return (long)i;
    return -1;
}

/* A continuation (a relay's new upstream) with other parameter sets: the
 * TS player's bytes go on with the same counters, and the next key frame
 * carries the new SPS. */
static void test_ts_continuation_new_parameter_sets(void **state)
{
    fixture_t *f = *state;
    fake_pub_t a, b;
    fake_player_t flv, tsp;
    held_setup(f, "tsc", &a, &b, &flv);
    fp_init(&tsp, MSG_ENC_TS);
    assert_int_equal(stream_play(f->hub, "live", "tsc", &tsp.p, 0, g_now), 0);
    static uint8_t out[1 << 16];
    uint32_t ts = 0;
    push_ts_headers(&a, 0x1f);
    push_ts_gop(&a, &ts, 2);
    int cc[3] = {-1, -1, -1};
    size_t n = ts_drain(&tsp, out, sizeof out);
    assert_int_equal(ts_check(out, n, cc), 1);
    assert_true(find_sps(out, n, 0x1f) >= 0);
    stream_unpublish(&a.pub, g_now);
    g_now += 100;
    assert_int_equal(stream_publish(f->hub, "live", "tsc", &b.pub), 0);
    push_ts_headers(&b, 0x28);
    push_ts_gop(&b, &ts, 2);
    n = ts_drain(&tsp, out, sizeof out);
    assert_int_equal(ts_check(out, n, cc), 1); /* no counter jumps at the splice */
    assert_true(find_sps(out, n, 0x28) >= 0);
    assert_int_equal(find_sps(out, n, 0x1f), -1);
    stream_player_stop(&tsp.p);
    stream_player_stop(&flv.p);
    stream_unpublish(&b.pub, g_now);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gop_cache_starts_new_player_on_latest_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gop_cache_two_gops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_gop_cache_waits_for_next_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiting_player_starts_or_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_publisher_refused_or_takes_over, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unpublish_event_after_data_then_grace_end, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_republish_within_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relay_loss_is_silent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continuation_sends_changed_headers_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_continuation_drops_until_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continuation_restamps_monotonic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continuation_resets_gop_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continuation_same_source_skips_replay, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_held_players_end_after_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_takeover_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publisher_takeover_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stalled_player_bounded_and_disconnected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lagging_player_drops_to_next_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_copy_and_partial_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gop_cache_bounded_in_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gop_cache_bounded_in_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gop_cache_bound_drops_oldest_gops_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_memory_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_of_partly_written_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ts_players_share_one_encoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ts_continuation_new_parameter_sets, setup, teardown),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
