/* Unit tests of the relay manager (node/relay/relay_mgr.c, relay_run.c)
 * driven through fake links (relay_links_t): no sockets. Each fake link is
 * a conn_t the test owns; the test says when it comes up and why it goes
 * down, and reads the manager's choice back from the links it starts, its
 * snapshots (relay_mgr_view()) and the events it records (the node's event
 * sink). Time is the tick's argument: backoffs and idle timeouts pass
 * without sleeping. Covered: every failure reason's choice (retry after a
 * backoff, or give up on a loop) and its relay.fail event; failover to the
 * next URL and back; an on-demand pull started by a player, given up when
 * every upstream refuses, and stopped after its idle timeout; a link that
 * cannot start; silence_timeout_ms handed to the links (and changed on a
 * running one without reconnecting); failback to the first URL, at a
 * failure and through the background probe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "common.h"
#include "conn.h"
#include "node.h"
#include "relay.h"
#include "relay_link.h"

#define MAX_LINKS 64
#define MAX_EVENTS 64
#define LATER_MS (10 * 60 * 1000) /* past any backoff of the tests' relays */

typedef struct {
    conn_t c; /* first: the manager holds &c */
    const relay_link_ops_t *ops;
    void *owner;
    char url[RELAY_URL_MAX];
    uint32_t silence_ms;     /* cfg.silence_ms, then fake_set_silence() */
    int probe;               /* cfg.probe */
    const char *stop_reason; /* set by fake_stop() */
    int gone;                /* stopped or reported down */
} fake_link_t;

typedef struct {
    char type[32];
    cJSON *fields;
} event_t;

typedef struct {
    struct event_base *base;
    node_t *node;
    relay_mgr_t *m;
    fake_link_t *links[MAX_LINKS];
    int nlinks;
    int refuse_start; /* fake_start() fails */
    event_t events[MAX_EVENTS];
    int nevents;
} fx_t;

static fx_t *FX; /* the fakes' way back to the fixture */

static const conn_proto_t FAKE_PROTO = {.name = "fake"};

static conn_t *fake_start(node_t *node, const relay_link_cfg_t *cfg, const relay_link_ops_t *ops,
                          void *owner, char *err, size_t errlen)
{
    if (FX->refuse_start) {
        snprintf(err, errlen, "unsupported URL (test)");
        return NULL;
    }
    assert_true(FX->nlinks < MAX_LINKS);
    fake_link_t *l = calloc(1, sizeof *l);
    assert_non_null(l);
    l->c.node = node;
    l->c.id = ++node->next_sess_id;
    l->c.proto = &FAKE_PROTO;
    l->c.fd = -1;
    l->c.out = evbuffer_new();
    l->ops = ops;
    l->owner = owner;
    snprintf(l->url, sizeof l->url, "%s", cfg->url);
    l->silence_ms = cfg->silence_ms;
    l->probe = cfg->probe;
    FX->links[FX->nlinks++] = l;
    return &l->c;
}

static void fake_stop(conn_t *c, const char *reason)
{
    fake_link_t *l = (fake_link_t *)c;
    assert_false(l->gone);
    l->gone = 1;
    l->stop_reason = reason;
}

static void fake_set_silence(conn_t *c, uint32_t silence_ms)
{
    fake_link_t *l = (fake_link_t *)c;
    assert_false(l->gone);
    l->silence_ms = silence_ms;
}

static const relay_links_t FAKE_LINKS = {fake_start, fake_stop, fake_set_silence};

static uint64_t capture(node_t *node, const char *type, cJSON *fields)
{
    (void)node;
    assert_true(FX->nevents < MAX_EVENTS);
    event_t *e = &FX->events[FX->nevents++];
    snprintf(e->type, sizeof e->type, "%s", type);
    e->fields = fields;
    return (uint64_t)FX->nevents;
}

/* The newest link, which must be running. */
static fake_link_t *last_link(void)
{
    assert_true(FX->nlinks > 0);
    fake_link_t *l = FX->links[FX->nlinks - 1];
    assert_false(l->gone);
    return l;
}

static void link_up(fake_link_t *l)
{
    l->ops->up(l->owner, &l->c);
}

static void link_down(fake_link_t *l, relay_fail_t why, const char *err)
{
    l->gone = 1;
    l->ops->down(l->owner, &l->c, why, err);
}

/* The newest event, which must be of type. */
static const cJSON *last_event(const char *type)
{
    assert_true(FX->nevents > 0);
    const event_t *e = &FX->events[FX->nevents - 1];
    assert_string_equal(e->type, type);
    return e->fields;
}

static const char *str_field(const cJSON *f, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f, key);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static int bool_field(const cJSON *f, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f, key);
    assert_true(cJSON_IsBool(v));
    return cJSON_IsTrue(v);
}

/* The relay's aggregate status now. */
static relay_status_t status_of(const char *id)
{
    relay_view_t v;
    assert_int_equal(relay_mgr_view(FX->m, id, weir_mono_ms(), &v), 0);
    relay_status_t st = v.status;
    relay_view_release(&v);
    return st;
}

/* A manager with the relays of relays_json (a JSON array). */
static void start_mgr(const char *relays_json)
{
    snprintf(FX->node->conf.relays_json, sizeof FX->node->conf.relays_json, "%s", relays_json);
    char err[256] = "";
    FX->m = relay_mgr_new(FX->node, &FAKE_LINKS, err, sizeof err);
    if (!FX->m)
        fail_msg("relay_mgr_new: %s", err);
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->base = event_base_new();
    fx->node = calloc(1, sizeof *fx->node);
    assert_non_null(fx->base);
    assert_non_null(fx->node);
    conf_defaults(&fx->node->conf);
    fx->node->base = fx->base;
    fx->node->hub = hub_new(&fx->node->conf, 4096);
    assert_non_null(fx->node->hub);
    node_set_event_sink(fx->node, capture);
    FX = fx;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    relay_mgr_free(fx->m);
    hub_free(fx->node->hub);
    for (int i = 0; i < fx->nlinks; i++) {
        evbuffer_free(fx->links[i]->c.out);
        free(fx->links[i]);
    }
    for (int i = 0; i < fx->nevents; i++)
        cJSON_Delete(fx->events[i].fields);
    free(fx->node);
    event_base_free(fx->base);
    free(fx);
    FX = NULL;
    return 0;
}

#define PULL_ONE                                                                                   \
    "[{\"id\":\"p1\",\"direction\":\"pull\",\"app\":\"live\",\"name\":\"cam\","                    \
    "\"urls\":[\"rtmp://up1/live/cam\"],\"retry_initial_ms\":1000,\"retry_max_ms\":4000}]"

/* Every reason but a loop: relay.fail (refused for the refusals), then a
 * backoff (one URL, a round is over), and a new link once it is over. */
static void test_fail_reasons_retry(void **state)
{
    (void)state;
    static const relay_fail_t WHY[] = {
        RELAY_FAIL_OTHER,     RELAY_FAIL_DNS,    RELAY_FAIL_CONNECT,  RELAY_FAIL_TIMEOUT,
        RELAY_FAIL_SILENCE,   RELAY_FAIL_CLOSED, RELAY_FAIL_PROTOCOL, RELAY_FAIL_LOCAL,
        RELAY_FAIL_NOT_FOUND, RELAY_FAIL_REFUSED};
    /* The documented code each carries (openapi.yaml: Reason). */
    static const char *const CODE[] = {"error",
                                       "upstream_unreachable",
                                       "upstream_unreachable",
                                       "timeout",
                                       "upstream_silent",
                                       "upstream_closed",
                                       "protocol",
                                       "error",
                                       "not_found",
                                       "upstream_refused"};
    start_mgr(PULL_ONE);
    assert_int_equal(FX->nlinks, 1);
    assert_int_equal(status_of("p1"), RELAY_ST_CONNECTING);
    for (size_t i = 0; i < sizeof WHY / sizeof WHY[0]; i++) {
        fake_link_t *l = last_link();
        assert_string_equal(l->url, "rtmp://up1/live/cam");
        char err[64];
        snprintf(err, sizeof err, "failure %s", relay_fail_name(WHY[i]));
        int links = FX->nlinks;
        link_down(l, WHY[i], err);
        const cJSON *f = last_event("relay.fail");
        assert_string_equal(str_field(f, "error"), err);
        assert_string_equal(str_field(f, "message"), err);
        assert_string_equal(str_field(f, "reason"), CODE[i]);
        relay_view_t v;
        assert_int_equal(relay_mgr_view(FX->m, "p1", weir_mono_ms(), &v), 0);
        assert_int_equal(v.last_reason, relay_fail_reason(WHY[i]));
        assert_string_equal(v.last_error, err);
        relay_view_release(&v);
        assert_int_equal(bool_field(f, "refused"), relay_fail_is_refusal(WHY[i]));
        assert_string_equal(str_field(f, "relay_id"), "p1");
        assert_int_equal(FX->nlinks, links); /* no retry at once */
        assert_int_equal(status_of("p1"), RELAY_ST_BACKOFF);
        relay_mgr_tick(FX->m, weir_mono_ms());
        assert_int_equal(FX->nlinks, links); /* not before the backoff is over */
        relay_mgr_tick(FX->m, weir_mono_ms() + LATER_MS);
        assert_int_equal(FX->nlinks, links + 1);
        assert_int_equal(status_of("p1"), RELAY_ST_CONNECTING);
    }
    relay_counts_t rc;
    relay_mgr_counts(FX->m, &rc);
    assert_int_equal(rc.failures, sizeof WHY / sizeof WHY[0]);
    assert_int_equal(rc.connecting, 1);
}

/* A loop refusal: relay.fail (refused), failed, and no retry ever. */
static void test_fail_loop_gives_up(void **state)
{
    (void)state;
    start_mgr(PULL_ONE);
    link_down(last_link(), RELAY_FAIL_LOOP,
              "play refused: NetStream.Play.StreamNotFound (relay loop: this node (b) is already "
              "on the path)");
    const cJSON *f = last_event("relay.fail");
    assert_true(bool_field(f, "refused"));
    assert_int_equal(status_of("p1"), RELAY_ST_FAILED);
    relay_mgr_tick(FX->m, weir_mono_ms() + LATER_MS);
    assert_int_equal(FX->nlinks, 1);
    relay_view_t v;
    assert_int_equal(relay_mgr_view(FX->m, "p1", weir_mono_ms(), &v), 0);
    assert_int_equal(v.nstreams, 1);
    assert_non_null(strstr(v.last_error, "relay loop"));
    assert_int_equal(v.streams[0].retries, 1);
    relay_view_release(&v);
}

/* A link that came up and went down: relay.start, then relay.stop with the
 * error as its reason before relay.fail. */
static void test_up_then_down_records_stop(void **state)
{
    (void)state;
    start_mgr(PULL_ONE);
    fake_link_t *l = last_link();
    link_up(l);
    const cJSON *f = last_event("relay.start");
    assert_string_equal(str_field(f, "url"), "rtmp://up1/live/cam");
    assert_int_equal(status_of("p1"), RELAY_ST_ACTIVE);
    link_down(l, RELAY_FAIL_CLOSED, "upstream unpublished");
    assert_true(FX->nevents >= 3);
    assert_string_equal(FX->events[FX->nevents - 2].type, "relay.stop");
    assert_string_equal(str_field(FX->events[FX->nevents - 2].fields, "reason"), "upstream_closed");
    assert_string_equal(str_field(FX->events[FX->nevents - 2].fields, "message"),
                        "upstream unpublished");
    assert_false(bool_field(last_event("relay.fail"), "refused"));
    assert_string_equal(str_field(last_event("relay.fail"), "reason"), "upstream_closed");
    assert_string_equal(str_field(last_event("relay.fail"), "message"), "upstream unpublished");
}

#define PULL_TWO                                                                                   \
    "[{\"id\":\"p2\",\"direction\":\"pull\",\"app\":\"live\",\"name\":\"cam\","                    \
    "\"urls\":[\"rtmp://up1/live/cam\",\"http://up2/live/cam.flv\"],"                              \
    "\"retry_initial_ms\":1000,\"retry_max_ms\":4000}]"

/* A failure moves to the next URL at once (relay.failover); when every URL
 * failed, a backoff, then the first URL again. */
static void test_failover_to_next_url(void **state)
{
    (void)state;
    start_mgr(PULL_TWO);
    assert_string_equal(last_link()->url, "rtmp://up1/live/cam");
    link_down(last_link(), RELAY_FAIL_CONNECT, "connection refused");
    const cJSON *f = last_event("relay.failover");
    assert_string_equal(str_field(f, "from_url"), "rtmp://up1/live/cam");
    assert_string_equal(str_field(f, "to_url"), "http://up2/live/cam.flv");
    assert_string_equal(str_field(f, "error"), "connection refused");
    assert_int_equal(FX->nlinks, 2);
    assert_string_equal(last_link()->url, "http://up2/live/cam.flv");
    assert_int_equal(status_of("p2"), RELAY_ST_CONNECTING);

    link_down(last_link(), RELAY_FAIL_TIMEOUT, "timeout (connecting)");
    f = last_event("relay.failover");
    assert_string_equal(str_field(f, "to_url"), "rtmp://up1/live/cam");
    assert_int_equal(FX->nlinks, 2); /* the round is over: back off */
    assert_int_equal(status_of("p2"), RELAY_ST_BACKOFF);
    relay_mgr_tick(FX->m, weir_mono_ms() + LATER_MS);
    assert_int_equal(FX->nlinks, 3);
    assert_string_equal(last_link()->url, "rtmp://up1/live/cam");

    relay_view_t v;
    assert_int_equal(relay_mgr_view(FX->m, "p2", weir_mono_ms(), &v), 0);
    assert_int_equal(v.failovers, 2);
    assert_string_equal(v.current_url, "rtmp://up1/live/cam");
    relay_view_release(&v);
}

/* ---- API changes: reconciliation keeps what did not change -------------- */

static void change_done(void *arg, const spec_result_t *res)
{
    int *rc = arg;
    *rc = res->rc;
}

/* PUTs the relay of json (an API change; no storage: the store settles on
 * the loop's next turn) and waits for its answer; returns its rc. */
static int api_put(const char *json)
{
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    relay_spec_t spec;
    char err[256] = "";
    if (relay_spec_from_json(o, NULL, &spec, err, sizeof err) != 0)
        fail_msg("%s: %s", json, err);
    cJSON_Delete(o);
    int rc = -12345;
    assert_int_equal(relay_mgr_put(FX->m, &spec, 0, NULL, change_done, &rc, err, sizeof err), 0);
    for (int i = 0; i < 100 && rc == -12345; i++)
        event_base_loop(FX->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_not_equal(rc, -12345);
    return rc;
}

#define API_PULL(urls, retry_max)                                                                  \
    "{\"id\":\"a1\",\"direction\":\"pull\",\"app\":\"live\",\"name\":\"cam\",\"urls\":" urls       \
    ",\"retry_initial_ms\":1000,\"retry_max_ms\":" retry_max "}"

/* Issue 18: a scheduler re-applies its desired state every pass. The same
 * spec again changes nothing (no event, the link stays); retry bounds apply
 * without touching the link; a new URL list keeps a link whose upstream is
 * still listed, and moves one whose upstream left (relay.failover). */
static void test_reconcile_keeps_links(void **state)
{
    (void)state;
    start_mgr("[]");
    assert_int_equal(api_put(API_PULL("[\"rtmp://up1/live/cam\",\"rtmp://up2/live/cam\"]", "4000")),
                     0);
    fake_link_t *l = last_link();
    link_up(l);
    int links = FX->nlinks, events = FX->nevents;

    assert_int_equal(api_put(API_PULL("[\"rtmp://up1/live/cam\",\"rtmp://up2/live/cam\"]", "4000")),
                     0);
    assert_int_equal(FX->nlinks, links);
    assert_int_equal(FX->nevents, events);
    assert_false(l->gone);

    assert_int_equal(api_put(API_PULL("[\"rtmp://up1/live/cam\",\"rtmp://up2/live/cam\"]", "9000")),
                     0);
    assert_int_equal(FX->nlinks, links);
    assert_int_equal(FX->nevents, events);
    assert_false(l->gone);
    assert_int_equal(relay_mgr_spec(FX->m, "a1")->retry_max_ms, 9000);

    /* up1 moves to second place: kept, and its place follows it */
    assert_int_equal(api_put(API_PULL("[\"rtmp://up3/live/cam\",\"rtmp://up1/live/cam\"]", "9000")),
                     0);
    assert_int_equal(FX->nlinks, links);
    assert_int_equal(FX->nevents, events);
    assert_false(l->gone);
    relay_view_t v;
    assert_int_equal(relay_mgr_view(FX->m, "a1", weir_mono_ms(), &v), 0);
    assert_string_equal(v.current_url, "rtmp://up1/live/cam");
    relay_view_release(&v);
    /* up1 leaves the list: the link moves to the new first URL */
    assert_int_equal(api_put(API_PULL("[\"rtmp://up4/live/cam\",\"rtmp://up3/live/cam\"]", "9000")),
                     0);
    assert_true(l->gone);
    assert_int_equal(FX->nlinks, links + 1);
    assert_string_equal(last_link()->url, "rtmp://up4/live/cam");
    const cJSON *f = FX->events[events].fields;
    assert_string_equal(FX->events[events].type, "relay.failover");
    assert_string_equal(str_field(f, "from_url"), "rtmp://up1/live/cam");
    assert_string_equal(str_field(f, "to_url"), "rtmp://up4/live/cam");
    assert_string_equal(FX->events[events + 1].type, "relay.stop");
    assert_string_equal(str_field(FX->events[events + 1].fields, "reason"), "relay_changed");
    assert_string_equal(str_field(FX->events[events + 1].fields, "message"),
                        "upstream removed from the relay");
    assert_int_equal(FX->nevents, events + 2);

    /* a change of what the link is (here: disabled) restarts */
    events = FX->nevents;
    assert_int_equal(api_put("{\"id\":\"a1\",\"direction\":\"pull\",\"app\":\"live\","
                             "\"name\":\"cam\",\"urls\":[\"rtmp://up4/live/cam\"],"
                             "\"enabled\":false}"),
                     0);
    assert_true(FX->links[FX->nlinks - 1]->gone);
    assert_int_equal(status_of("a1"), RELAY_ST_IDLE);
}

#define PULL_SILENT                                                                                \
    "[{\"id\":\"s2\",\"direction\":\"pull\",\"app\":\"live\",\"name\":\"cam\","                    \
    "\"urls\":[\"rtmp://up1/live/cam\",\"rtmp://up2/live/cam\"],\"silence_timeout_ms\":1000}]"

/* Issue 18: a link takes the relay's silence_timeout_ms (0, the node's
 * connect timeout, when not set); a link that is up and silent for it
 * fails with upstream_silent and fails over to the next URL at once. */
static void test_silence_fails_over(void **state)
{
    (void)state;
    start_mgr(PULL_SILENT);
    fake_link_t *l = last_link();
    assert_int_equal(l->silence_ms, 1000);
    link_up(l);
    link_down(l, RELAY_FAIL_SILENCE, "upstream silent for 1001 ms");
    const cJSON *f = last_event("relay.failover");
    assert_string_equal(str_field(f, "from_url"), "rtmp://up1/live/cam");
    assert_string_equal(str_field(f, "to_url"), "rtmp://up2/live/cam");
    assert_string_equal(FX->events[FX->nevents - 2].type, "relay.fail");
    assert_string_equal(str_field(FX->events[FX->nevents - 2].fields, "reason"), "upstream_silent");
    assert_string_equal(FX->events[FX->nevents - 3].type, "relay.stop");
    assert_string_equal(str_field(FX->events[FX->nevents - 3].fields, "reason"), "upstream_silent");
    assert_int_equal(FX->nlinks, 2);
    assert_string_equal(last_link()->url, "rtmp://up2/live/cam");
    assert_int_equal(last_link()->silence_ms, 1000);
    assert_int_equal(status_of("s2"), RELAY_ST_CONNECTING);
    relay_view_t v;
    assert_int_equal(relay_mgr_view(FX->m, "s2", weir_mono_ms(), &v), 0);
    assert_int_equal(v.last_reason, REASON_UPSTREAM_SILENT);
    relay_view_release(&v);

    relay_mgr_free(FX->m);
    start_mgr(PULL_TWO);
    assert_int_equal(last_link()->silence_ms, 0); /* the link uses its timeout */
}

#define API_SILENCE(silence)                                                                       \
    "{\"id\":\"a2\",\"direction\":\"pull\",\"app\":\"live\",\"name\":\"cam\","                     \
    "\"urls\":[\"rtmp://up1/live/cam\"],\"silence_timeout_ms\":" silence "}"

/* A change of only silence_timeout_ms (or failback) keeps the running link
 * and hands it the new silence: no event, no reconnect. */
static void test_silence_change_keeps_link(void **state)
{
    (void)state;
    start_mgr("[]");
    assert_int_equal(api_put(API_SILENCE("5000")), 0);
    fake_link_t *l = last_link();
    assert_int_equal(l->silence_ms, 5000);
    link_up(l);
    int links = FX->nlinks, events = FX->nevents;
    assert_int_equal(api_put(API_SILENCE("1500")), 0);
    assert_int_equal(l->silence_ms, 1500);
    assert_int_equal(relay_mgr_spec(FX->m, "a2")->silence_timeout_ms, 1500);
    assert_int_equal(api_put(API_SILENCE("null")), 0);
    assert_int_equal(l->silence_ms, 0);
    assert_int_equal(api_put("{\"id\":\"a2\",\"direction\":\"pull\",\"app\":\"live\","
                             "\"name\":\"cam\",\"urls\":[\"rtmp://up1/live/cam\"],"
                             "\"failback\":true}"),
                     0);
    assert_true(relay_mgr_spec(FX->m, "a2")->failback);
    assert_false(l->gone);
    assert_int_equal(FX->nlinks, links);
    assert_int_equal(FX->nevents, events);
}

#define PULL_THREE(failback)                                                                       \
    "[{\"id\":\"f3\",\"direction\":\"pull\",\"app\":\"live\",\"name\":\"cam\","                    \
    "\"urls\":[\"rtmp://up1/live/cam\",\"rtmp://up2/live/cam\",\"rtmp://up3/live/cam\"],"            \
    "\"failback\":" failback "}]"

/* Failback at a safe point: with failback, a link on a later URL that was
 * up and goes down starts again at URL 0 (relay.failover up2 -> up1); an
 * attempt that never came up goes on down the list, so a round still
 * reaches every URL. Without failback: the next URL. */
static void test_failback_to_first_url(void **state)
{
    (void)state;
    start_mgr(PULL_THREE("true"));
    link_down(last_link(), RELAY_FAIL_CONNECT, "connection refused");
    assert_string_equal(last_link()->url, "rtmp://up2/live/cam");
    link_up(last_link());
    link_down(last_link(), RELAY_FAIL_SILENCE, "upstream silent for 1001 ms");
    const cJSON *f = last_event("relay.failover");
    assert_string_equal(str_field(f, "from_url"), "rtmp://up2/live/cam");
    assert_string_equal(str_field(f, "to_url"), "rtmp://up1/live/cam");
    assert_string_equal(last_link()->url, "rtmp://up1/live/cam");
    link_down(last_link(), RELAY_FAIL_CONNECT, "connection refused"); /* never up */
    assert_string_equal(last_link()->url, "rtmp://up2/live/cam");
    /* up2 was up for less than retry_initial_ms: its failure counts in the
     * round, which is over now (a link that flaps does not loop at once) */
    int n = FX->nlinks;
    link_down(last_link(), RELAY_FAIL_CONNECT, "connection refused");
    assert_int_equal(FX->nlinks, n);
    assert_int_equal(status_of("f3"), RELAY_ST_BACKOFF);
    relay_mgr_tick(FX->m, weir_mono_ms() + LATER_MS);
    assert_string_equal(last_link()->url, "rtmp://up3/live/cam");
    link_up(last_link());
    link_down(last_link(), RELAY_FAIL_CLOSED, "upstream unpublished");
    assert_string_equal(last_link()->url, "rtmp://up1/live/cam");

    relay_mgr_free(FX->m);
    n = FX->nlinks;
    start_mgr(PULL_THREE("false"));
    link_down(last_link(), RELAY_FAIL_CONNECT, "connection refused");
    link_up(last_link());
    link_down(last_link(), RELAY_FAIL_SILENCE, "upstream silent for 1001 ms");
    assert_string_equal(last_link()->url, "rtmp://up3/live/cam");
    assert_int_equal(FX->nlinks, n + 3);
}

#define PULL_FAILBACK                                                                              \
    "[{\"id\":\"fb\",\"direction\":\"pull\",\"app\":\"live\",\"name\":\"cam\","                    \
    "\"urls\":[\"rtmp://up1/live/cam\",\"rtmp://up2/live/cam\"],\"failback\":true,"                 \
    "\"retry_initial_ms\":500,\"retry_max_ms\":1000}]"

/* Failback in the background: running on URL 1, the relay probes URL 0
 * every retry_max_ms (a probe link: cfg.probe); a probe that fails changes
 * nothing; one that is up and has its first key frame (ready) becomes the
 * link: relay.failover up2 -> up1, the old link stopped (relay.stop,
 * replaced), relay.start; then no more probes. */
static void test_failback_probe(void **state)
{
    (void)state;
    start_mgr(PULL_FAILBACK);
    int64_t t = weir_mono_ms();
    link_down(last_link(), RELAY_FAIL_CONNECT, "connection refused");
    fake_link_t *cur = last_link();
    assert_string_equal(cur->url, "rtmp://up2/live/cam");
    assert_false(cur->probe);
    link_up(cur);
    relay_mgr_tick(FX->m, t + 100); /* plans the first probe */
    relay_mgr_tick(FX->m, t + 600);
    assert_true(FX->links[FX->nlinks - 1] == cur); /* not before retry_max_ms */
    relay_mgr_tick(FX->m, t + 1200);
    fake_link_t *p = last_link();
    assert_true(p->probe);
    assert_string_equal(p->url, "rtmp://up1/live/cam");
    int events = FX->nevents;
    link_down(p, RELAY_FAIL_CONNECT, "connection refused"); /* still down: nothing happens */
    assert_int_equal(FX->nevents, events);
    assert_false(cur->gone);
    assert_int_equal(status_of("fb"), RELAY_ST_ACTIVE);
    relay_mgr_tick(FX->m, t + 1300);
    assert_true(FX->links[FX->nlinks - 1] == p); /* the next probe waits */
    relay_mgr_tick(FX->m, t + 2400);
    p = last_link();
    assert_true(p->probe);
    link_up(p); /* up, but no key frame yet: nothing */
    assert_int_equal(FX->nevents, events);
    assert_int_equal(p->ops->ready(p->owner, &p->c), 1);
    assert_true(cur->gone);
    assert_string_equal(cur->stop_reason, "failback to an earlier URL");
    assert_string_equal(FX->events[events].type, "relay.failover");
    assert_string_equal(str_field(FX->events[events].fields, "from_url"), "rtmp://up2/live/cam");
    assert_string_equal(str_field(FX->events[events].fields, "to_url"), "rtmp://up1/live/cam");
    assert_string_equal(FX->events[events + 1].type, "relay.stop");
    assert_string_equal(str_field(FX->events[events + 1].fields, "reason"), "replaced");
    assert_string_equal(str_field(last_event("relay.start"), "url"), "rtmp://up1/live/cam");
    relay_view_t v;
    assert_int_equal(relay_mgr_view(FX->m, "fb", weir_mono_ms(), &v), 0);
    assert_string_equal(v.current_url, "rtmp://up1/live/cam");
    assert_int_equal(v.status, RELAY_ST_ACTIVE);
    relay_view_release(&v);
    int n = FX->nlinks;
    relay_mgr_tick(FX->m, t + LATER_MS);
    assert_int_equal(FX->nlinks, n); /* on URL 0: no probe */
    /* the adopted probe is the link now: its failure is the relay's */
    link_down(p, RELAY_FAIL_CLOSED, "upstream unpublished");
    assert_string_equal(str_field(last_event("relay.failover"), "to_url"), "rtmp://up2/live/cam");
    assert_string_equal(last_link()->url, "rtmp://up2/live/cam");
    assert_false(last_link()->probe);
}

/* A probe is stopped when the relay's link goes down, and when failback
 * is turned off. */
static void test_failback_probe_stops(void **state)
{
    (void)state;
    start_mgr(PULL_FAILBACK);
    int64_t t = weir_mono_ms();
    link_down(last_link(), RELAY_FAIL_CONNECT, "connection refused");
    fake_link_t *cur = last_link();
    link_up(cur);
    relay_mgr_tick(FX->m, t + 100);
    relay_mgr_tick(FX->m, t + 1200);
    fake_link_t *p = last_link();
    assert_true(p->probe);
    link_down(cur, RELAY_FAIL_CLOSED, "upstream unpublished");
    assert_true(p->gone);
    assert_string_equal(p->stop_reason, "failback probe stopped");

    /* a probe without a key frame in time is stopped; the next comes later */
    relay_mgr_free(FX->m);
    start_mgr(PULL_FAILBACK);
    t = weir_mono_ms();
    link_down(last_link(), RELAY_FAIL_CONNECT, "connection refused");
    cur = last_link();
    link_up(cur);
    relay_mgr_tick(FX->m, t + 100);
    relay_mgr_tick(FX->m, t + 1200);
    p = last_link();
    assert_true(p->probe);
    link_up(p);
    /* started at t + 1200: retry_max_ms (1000) plus the connect timeout */
    int64_t limit = 2200 + (int64_t)FX->node->conf.relay_connect_timeout_ms;
    relay_mgr_tick(FX->m, t + limit - 50);
    assert_false(p->gone);
    relay_mgr_tick(FX->m, t + limit + 50);
    assert_true(p->gone);
    assert_string_equal(p->stop_reason, "failback probe: no key frame in time");
    assert_false(cur->gone);
    relay_mgr_tick(FX->m, t + limit + 2000);
    assert_true(last_link()->probe);
    assert_false(last_link()->gone);
}

/* A player of the on-demand pull. */
typedef struct {
    player_t p;
    int not_found;
} fake_player_t;

static void player_wake(player_t *p)
{
    (void)p;
}

static void player_event(player_t *p, player_event_t ev)
{
    fake_player_t *fp = p->owner;
    if (ev == PLAYER_EV_NOT_FOUND)
        fp->not_found++;
}

static const player_ops_t PLAYER_OPS = {player_wake, player_event};

/* Asks the hub for live/name, which is not live: the player waits for the
 * pull the manager starts. */
static void play(fake_player_t *fp, const char *name)
{
    memset(fp, 0, sizeof *fp);
    fp->p.ops = &PLAYER_OPS;
    fp->p.owner = fp;
    fp->p.sess_id = 99;
    fp->p.enc = MSG_ENC_RTMP;
    assert_int_equal(stream_play(FX->node->hub, "live", name, &fp->p, 0, weir_mono_ms()), 1);
}

#define PULL_ON_DEMAND                                                                             \
    "[{\"id\":\"od\",\"direction\":\"pull\",\"app\":\"live\",\"name\":\"*\",\"mode\":"             \
    "\"on_demand\",\"urls\":[\"rtmp://up1/live\",\"rtmp://up2/live\"],\"idle_timeout_s\":2,"       \
    "\"retry_initial_ms\":1000,\"retry_max_ms\":4000}]"

/* A player starts the pull; once up and without players it stops after
 * idle_timeout_s (relay.stop "idle timeout"), and the instance is gone. */
static void test_on_demand_start_and_idle_stop(void **state)
{
    (void)state;
    start_mgr(PULL_ON_DEMAND);
    assert_int_equal(FX->nlinks, 0);
    assert_int_equal(status_of("od"), RELAY_ST_IDLE);
    fake_player_t fp;
    play(&fp, "cam7");
    assert_int_equal(FX->nlinks, 1);
    fake_link_t *l = last_link();
    assert_string_equal(l->url, "rtmp://up1/live/cam7");
    link_up(l);
    assert_int_equal(status_of("od"), RELAY_ST_ACTIVE);
    int64_t now = weir_mono_ms();
    relay_mgr_tick(FX->m, now); /* a player waits: kept */
    assert_false(l->gone);

    stream_player_stop(&fp.p);
    relay_mgr_tick(FX->m, now); /* idle from now */
    assert_false(l->gone);
    relay_mgr_tick(FX->m, now + 1000);
    assert_false(l->gone);
    relay_mgr_tick(FX->m, now + 2000);
    assert_true(l->gone);
    assert_string_equal(l->stop_reason, "idle timeout");
    assert_string_equal(str_field(last_event("relay.stop"), "reason"), "idle");
    assert_string_equal(str_field(last_event("relay.stop"), "message"), "idle timeout");
    relay_view_t v;
    assert_int_equal(relay_mgr_view(FX->m, "od", weir_mono_ms(), &v), 0);
    assert_int_equal(v.nstreams, 0);
    assert_int_equal(v.status, RELAY_ST_IDLE);
    relay_view_release(&v);
}

/* Every upstream says it has no such stream: the pull fails and the
 * waiting player learns it at once. */
static void test_on_demand_all_refused(void **state)
{
    (void)state;
    start_mgr(PULL_ON_DEMAND);
    fake_player_t fp;
    play(&fp, "gone");
    link_down(last_link(), RELAY_FAIL_NOT_FOUND, "play refused: NetStream.Play.StreamNotFound");
    assert_int_equal(FX->nlinks, 2); /* the next upstream at once */
    assert_int_equal(fp.not_found, 0);
    link_down(last_link(), RELAY_FAIL_NOT_FOUND, "HTTP 404 Not Found");
    assert_int_equal(fp.not_found, 1);
    assert_int_equal(status_of("od"), RELAY_ST_FAILED);
    assert_int_equal(FX->nlinks, 2);
}

/* A loop refusal of an on-demand pull tells the waiting player at once. */
static void test_on_demand_loop(void **state)
{
    (void)state;
    start_mgr(PULL_ON_DEMAND);
    fake_player_t fp;
    play(&fp, "cam");
    link_down(last_link(), RELAY_FAIL_LOOP, "HTTP 508 Loop Detected");
    assert_int_equal(fp.not_found, 1);
    assert_int_equal(FX->nlinks, 1); /* no failover: the path loops */
    assert_int_equal(status_of("od"), RELAY_ST_FAILED);
    /* The player is gone, and so is the instance: the relay still shows
     * failed (issue 18: it showed idle) until a player asks again. */
    stream_player_stop(&fp.p);
    relay_mgr_tick(FX->m, weir_mono_ms() + LATER_MS);
    relay_view_t v;
    assert_int_equal(relay_mgr_view(FX->m, "od", weir_mono_ms(), &v), 0);
    assert_int_equal(v.nstreams, 0);
    assert_int_equal(v.status, RELAY_ST_FAILED);
    relay_view_release(&v);
    play(&fp, "cam");
    assert_int_equal(FX->nlinks, 2);
    assert_int_equal(status_of("od"), RELAY_ST_CONNECTING);
    stream_player_stop(&fp.p);
}

/* A connection failure of an on-demand pull is retried, not given up. */
static void test_on_demand_network_failure_retries(void **state)
{
    (void)state;
    start_mgr(PULL_ON_DEMAND);
    fake_player_t fp;
    play(&fp, "cam");
    link_down(last_link(), RELAY_FAIL_DNS, "cannot resolve host");
    link_down(last_link(), RELAY_FAIL_CONNECT, "connection refused");
    assert_int_equal(fp.not_found, 0);
    assert_int_equal(status_of("od"), RELAY_ST_BACKOFF);
    relay_mgr_tick(FX->m, weir_mono_ms() + 500); /* still waited for */
    stream_player_stop(&fp.p);
}

/* A link that cannot start: backoff with its error, then a new try. */
static void test_start_failure_backs_off(void **state)
{
    (void)state;
    FX->refuse_start = 1;
    start_mgr(PULL_ONE);
    assert_int_equal(FX->nlinks, 0);
    relay_view_t v;
    assert_int_equal(relay_mgr_view(FX->m, "p1", weir_mono_ms(), &v), 0);
    assert_int_equal(v.status, RELAY_ST_BACKOFF);
    assert_string_equal(v.last_error, "unsupported URL (test)");
    relay_view_release(&v);
    FX->refuse_start = 0;
    relay_mgr_tick(FX->m, weir_mono_ms() + LATER_MS);
    assert_int_equal(FX->nlinks, 1);
}

/* The views of every relay, and of a spec the manager does not hold. */
static void test_views(void **state)
{
    (void)state;
    start_mgr(PULL_ON_DEMAND);
    relay_view_t *v;
    size_t n;
    assert_int_equal(relay_mgr_views(FX->m, weir_mono_ms(), &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].spec->id, "od");
    relay_views_free(v, n);
    relay_view_t one;
    assert_int_equal(relay_mgr_view(FX->m, "nope", weir_mono_ms(), &one), NODE_ENOTFOUND);
    relay_view_idle(relay_mgr_spec(FX->m, "od"), &one);
    assert_int_equal(one.status, RELAY_ST_IDLE);
    assert_int_equal(one.nstreams, 0);
    relay_view_release(&one);
    assert_string_equal(relay_status_name(RELAY_ST_BACKOFF), "backoff");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fail_reasons_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_loop_gives_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_up_then_down_records_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failover_to_next_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_demand_start_and_idle_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_demand_all_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_demand_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_demand_network_failure_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_failure_backs_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_keeps_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silence_fails_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silence_change_keeps_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failback_to_first_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failback_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failback_probe_stops, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
