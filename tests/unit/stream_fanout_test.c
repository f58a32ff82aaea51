/* Unit tests of the fan-out pass (stream_fanout.c): stream_flush() only asks
 * for a pass; a pass wakes each player with data once per round, at most
 * HUB_PASS_PLAYERS per pass, turning the order by one each round, new
 * players first; one write carries every message since the last. Players
 * are drained by hand in their wake, as conn.c does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "flv.h"
#include "stream.h"

#define NPLAYERS 300
#define MAX_WAKES 4096

typedef struct {
    player_t p;
    int id;
    int wakes;
} light_player_t;

static int g_order[MAX_WAKES]; /* ids of the players woken, in order */
static int g_nwoken;
static int g_requests; /* scheduler requests */

/* Writes everything the player is due in one "writev" (conn_flush()). */
static void lp_wake(player_t *p)
{
    light_player_t *lp = p->owner;
    lp->wakes++;
    assert_true(g_nwoken < MAX_WAKES);
    g_order[g_nwoken++] = lp->id;
    struct iovec iov[64];
    int n = stream_player_iov(p, iov, 64, 1 << 20, 0);
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += iov[i].iov_len;
    if (len)
        stream_player_consumed(p, len);
}

static void lp_event(player_t *p, player_event_t ev)
{
    (void)p;
    (void)ev;
}

static const player_ops_t LP_OPS = {lp_wake, lp_event};

static void request(void *arg)
{
    (void)arg;
    g_requests++;
}

static void no_kick(publisher_t *pub, reason_t why, const char *reason)
{
    (void)pub;
    (void)why;
    (void)reason;
}

static const publisher_ops_t PUB_OPS = {no_kick};

typedef struct {
    conf_t conf;
    hub_t *hub;
    publisher_t pub;
    light_player_t players[NPLAYERS + 1];
    uint32_t ts;
} fixture_t;

static void push(fixture_t *f, uint8_t type, uint8_t b0, size_t len)
{
    uint8_t *p = calloc(1, len);
    assert_non_null(p);
    p[0] = b0;
    p[1] = 1;
    assert_int_equal(stream_push(&f->pub, type, f->ts, p, (uint32_t)len, 0), 0);
    f->ts += 20;
}

static void play(fixture_t *f, int i)
{
    light_player_t *lp = &f->players[i];
    lp->p.ops = &LP_OPS;
    lp->p.owner = lp;
    lp->p.enc = MSG_ENC_FLV;
    lp->id = i;
    assert_int_equal(stream_play(f->hub, "live", "f", &lp->p, 0, 0), 0);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    conf_defaults(&f->conf);
    f->hub = hub_new(&f->conf, 4096);
    assert_non_null(f->hub);
    hub_set_scheduler(f->hub, request, NULL);
    f->pub.ops = &PUB_OPS;
    assert_int_equal(stream_publish(f->hub, "live", "f", &f->pub), 0);
    push(f, FLV_TAG_VIDEO, 0x17, 40); /* a key frame opens the GOP cache */
    for (int i = 0; i < NPLAYERS; i++)
        play(f, i);
    g_nwoken = g_requests = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i <= NPLAYERS; i++)
        stream_player_stop(&f->players[i].p);
    stream_unpublish(&f->pub, 0);
    hub_free(f->hub);
    free(f);
    return 0;
}

/* Runs passes until none is left; returns how many ran. */
static int run_passes(fixture_t *f)
{
    int n = 0;
    for (int more = 1; more; n++) {
        more = hub_fanout(f->hub);
        assert_true(n < 100);
    }
    return n;
}

static void test_flush_defers_and_bounds_each_pass(void **state)
{
    fixture_t *f = *state;
    push(f, FLV_TAG_VIDEO, 0x27, 1000);
    stream_flush(hub_lookup(f->hub, "live", "f"));
    assert_int_equal(g_requests, 1);
    assert_int_equal(g_nwoken, 0); /* nothing written before the pass */
    assert_int_equal(hub_fanout(f->hub), 1);
    assert_int_equal(g_nwoken, HUB_PASS_PLAYERS);
    run_passes(f);
    assert_int_equal(g_nwoken, NPLAYERS);
    for (int i = 0; i < NPLAYERS; i++)
        assert_int_equal(f->players[i].wakes, 1);
    /* Nothing new: a pass wakes nobody. */
    assert_int_equal(hub_fanout(f->hub), 0);
    assert_int_equal(g_nwoken, NPLAYERS);
}

static void test_order_turns_and_new_players_go_first(void **state)
{
    fixture_t *f = *state;
    int first[2], last[2];
    for (int round = 0; round < 2; round++) {
        g_nwoken = 0;
        push(f, FLV_TAG_AUDIO, 0xaf, 8);
        stream_flush(hub_lookup(f->hub, "live", "f"));
        run_passes(f);
        assert_int_equal(g_nwoken, NPLAYERS);
        first[round] = g_order[0];
        last[round] = g_order[NPLAYERS - 1];
    }
    assert_int_not_equal(first[0], first[1]);
    assert_int_not_equal(last[0], last[1]);
    /* A player attached now is served before every established one. */
    play(f, NPLAYERS);
    g_nwoken = 0;
    push(f, FLV_TAG_AUDIO, 0xaf, 8);
    stream_flush(hub_lookup(f->hub, "live", "f"));
    run_passes(f);
    assert_int_equal(g_nwoken, NPLAYERS + 1);
    assert_int_equal(g_order[0], NPLAYERS);
}

static void test_one_write_carries_what_came_since_the_last(void **state)
{
    fixture_t *f = *state;
    uint64_t w0, m0, p0, w1, m1, p1;
    stream_flush(hub_lookup(f->hub, "live", "f"));
    run_passes(f); /* the GOP cache out first */
    hub_player_counts(f->hub, &w0, &m0, &p0);
    /* Five messages and flushes before one pass: one write per player. */
    for (int i = 0; i < 5; i++) {
        push(f, FLV_TAG_AUDIO, 0xaf, 8);
        stream_flush(hub_lookup(f->hub, "live", "f"));
    }
    g_nwoken = 0;
    run_passes(f);
    hub_player_counts(f->hub, &w1, &m1, &p1);
    assert_int_equal(g_nwoken, NPLAYERS);
    assert_int_equal(w1 - w0, NPLAYERS);
    assert_int_equal(m1 - m0, 5 * NPLAYERS);
    assert_true(p1 > p0);
}

/* A round cut at the pass bound goes on where it stopped; data that came
 * meanwhile reaches the rest in the same write, and the ones already
 * served in a new round. */
static void test_data_during_a_cut_round(void **state)
{
    fixture_t *f = *state;
    run_passes(f);
    for (int i = 0; i < NPLAYERS; i++)
        f->players[i].wakes = 0;
    push(f, FLV_TAG_AUDIO, 0xaf, 8);
    stream_flush(hub_lookup(f->hub, "live", "f"));
    assert_int_equal(hub_fanout(f->hub), 1);
    push(f, FLV_TAG_AUDIO, 0xaf, 8);
    stream_flush(hub_lookup(f->hub, "live", "f"));
    run_passes(f);
    int once = 0, twice = 0;
    for (int i = 0; i < NPLAYERS; i++) {
        once += f->players[i].wakes == 1;
        twice += f->players[i].wakes == 2;
        assert_int_equal(stream_player_queued(&f->players[i].p), 0);
    }
    assert_int_equal(twice, HUB_PASS_PLAYERS);
    assert_int_equal(once, NPLAYERS - HUB_PASS_PLAYERS);
}

/* Every test gets a fresh hub with NPLAYERS attached players. */
#define FANOUT_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FANOUT_TEST(test_flush_defers_and_bounds_each_pass),
        FANOUT_TEST(test_order_turns_and_new_players_go_first),
        FANOUT_TEST(test_one_write_carries_what_came_since_the_last),
        FANOUT_TEST(test_data_during_a_cut_round),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
