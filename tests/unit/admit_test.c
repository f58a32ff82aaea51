/* Unit tests of the admission chain (node/core/admit.c, with the relay and
 * cluster steps), driven directly: an
 * ordinary request, drain, relay hop limits and unreadable relay parameters
 * (and their place before drain), the "apps" rules with an address range
 * and a signed URL (counted), and the hooks' decisions (allow, deny, timeout
 * by policy, the pending limit, cancel) through a real hook manager and an
 * in-process libevent HTTP server on 127.0.0.1 (the seam hooks.h offers:
 * hooks_test.c does the same). Every wait is bounded. Run under ASan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>

#include "admit.h"
#include "app_auth.h"
#include "ban.h"
#include "cluster_admit.h"
#include "common.h"
#include "hooks.h"
#include "node.h"
#include "relay_admit.h"

#define MAXREQ 16
#define WAIT_MS 5000 /* every wait is bounded by this */
#define SECRET "0123456789abcdef0123"

typedef struct {
    struct event_base *base;
    struct event *tick;
    node_t *node;
    struct evhttp *http;
    uint16_t port;
    struct evhttp_request *held[MAXREQ]; /* "/hang": answered at teardown */
    int nheld, nreq;
    char last_body[1024];
    /* the admit callback */
    int ncb;
    admit_result_t last;
} fx_t;

/* "/no..." answers 403, "/hang..." never (held), anything else 200. */
static void server_cb(struct evhttp_request *req, void *arg)
{
    fx_t *fx = arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len >= sizeof fx->last_body)
        len = sizeof fx->last_body - 1;
    evbuffer_remove(in, fx->last_body, len);
    fx->last_body[len] = '\0';
    fx->nreq++;
    if (strncmp(uri, "/hang", 5) == 0 && fx->nheld < MAXREQ) {
        fx->held[fx->nheld++] = req;
        return;
    }
    evhttp_send_reply(req, strncmp(uri, "/no", 3) == 0 ? 403 : 200, "X", NULL);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fx_t *fx = arg;
    hook_mgr_tick(fx->node->hooks, weir_mono_ms());
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
    fx->node->next_event_id = 1;
    assert_int_equal(relay_admit_install(fx->node), 0);
    assert_int_equal(cluster_admit_install(fx->node), 0);
    fx->http = evhttp_new(fx->base);
    assert_non_null(fx->http);
    evhttp_set_gencb(fx->http, server_cb, fx);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(fx->http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &sl), 0);
    fx->port = ntohs(sin.sin_port);
    fx->tick = event_new(fx->base, -1, EV_PERSIST, tick_cb, fx);
    struct timeval tv = {0, 20000};
    event_add(fx->tick, &tv);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    hook_mgr_free(fx->node->hooks);
    for (int i = 0; i < fx->nheld; i++)
        evhttp_send_reply(fx->held[i], 200, "late", NULL); /* frees a detached request */
    evhttp_free(fx->http);
    event_free(fx->tick);
    if (fx->node->dns)
        evdns_base_free(fx->node->dns, 0);
    free(fx->node->bans); /* ban.h: its module would free it in node_free() */
    free(fx->node);
    event_base_free(fx->base);
    free(fx);
    return 0;
}

/* Runs the loop until fx->ncb >= target or WAIT_MS passed; 1 if reached. */
static int run_until(fx_t *fx, int target)
{
    int64_t end = weir_mono_ms() + WAIT_MS;
    while (fx->ncb < target) {
        if (weir_mono_ms() > end)
            return 0;
        event_base_loop(fx->base, EVLOOP_ONCE); /* the 20 ms tick wakes it */
    }
    return 1;
}

static void done_cb(void *arg, const admit_result_t *r)
{
    fx_t *fx = arg;
    fx->ncb++;
    fx->last = *r;
}

static const sess_info_t SI = {
    .id = 7, .protocol = "test", .remote = "127.0.0.1:5555", .app = "live", .name = "cam"};

/* Runs the chain for point with query, relay hops and via. */
static admit_code_t check(fx_t *fx, admit_point_t point, const char *query, unsigned hops,
                          const char *via, admit_pending_t **p, admit_result_t *r)
{
    admit_req_t req = {point, &SI, query, hops, via, NULL};
    return admit_check(fx->node, &req, done_cb, fx, p, r);
}

static void test_ordinary_and_drain(void **state)
{
    fx_t *fx = *state;
    admit_pending_t *p = (admit_pending_t *)1;
    admit_result_t r;
    assert_int_equal(check(fx, ADMIT_PUBLISH, "", 0, "", &p, &r), ADMIT_OK);
    assert_null(p);
    assert_int_equal(r.code, ADMIT_OK);
    fx->node->draining = 1;
    assert_int_equal(check(fx, ADMIT_PLAY, "", 0, NULL, &p, &r), ADMIT_DRAINING);
    assert_null(p);
    assert_string_equal(r.why, "node is draining");
    assert_string_equal(r.desc, "Denied: node is draining.");
    assert_false(r.logged);
    assert_string_equal(admit_code_name(r.code), "draining");
    fx->node->draining = 0;
    assert_int_equal(check(fx, ADMIT_PLAY, "", 0, NULL, &p, &r), ADMIT_OK);
    assert_int_equal(fx->ncb, 0);
}

static void test_relay(void **state)
{
    fx_t *fx = *state;
    fx->node->conf.relay_max_hops = 2;
    admit_pending_t *p = NULL;
    admit_result_t r;
    assert_int_equal(check(fx, ADMIT_PLAY, "", 2, "a,b", &p, &r), ADMIT_OK);
    assert_int_equal(check(fx, ADMIT_PLAY, "", 3, "a,b,c", &p, &r), ADMIT_RELAY_HOPS);
    assert_string_equal(r.why, "relay hop limit 2 reached (request carries 3 hops)");
    assert_string_equal(r.desc, r.why);
    assert_true(admit_is_relay(r.code));
    assert_false(admit_is_rule(r.code));
    /* before drain */
    fx->node->draining = 1;
    assert_int_equal(check(fx, ADMIT_PUBLISH, "", 9, "", &p, &r), ADMIT_RELAY_HOPS);
    admit_req_t req = {ADMIT_PUBLISH, &SI, "", 1, "a", "relay parameters too long"};
    assert_int_equal(admit_check(fx->node, &req, done_cb, fx, &p, &r), ADMIT_RELAY_BAD);
    assert_string_equal(r.why, "relay parameters too long");
    assert_null(p);
    assert_int_equal(fx->ncb, 0);
}

/* An "apps" entry from JSON text. */
static void add_app(fx_t *fx, const char *json)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    app_auth_table_t *t = &fx->node->conf.apps;
    char err[256];
    assert_int_equal(app_auth_entry_from_json(j, &t->apps[t->n++], err, sizeof err), 0);
    cJSON_Delete(j);
}

static void test_rules_signed_url(void **state)
{
    fx_t *fx = *state;
    add_app(fx, "{\"app\": \"live\", \"play_secret\": \"" SECRET "\","
                " \"publish_deny\": [\"127.0.0.0/8\"]}");
    admit_pending_t *p = NULL;
    admit_result_t r;
    char exp[32], sign[APP_AUTH_SIGN_HEX_LEN + 1], q[128];
    snprintf(exp, sizeof exp, "%lld", (long long)(weir_wall_ms() / 1000 + 60));
    assert_int_equal(app_auth_sign(SECRET, "live", "cam", exp, sign), 0);
    snprintf(q, sizeof q, "expires=%s&sign=%s", exp, sign);
    assert_int_equal(check(fx, ADMIT_PLAY, q, 0, "", &p, &r), ADMIT_OK);
    assert_int_equal(check(fx, ADMIT_PLAY, "", 0, "", &p, &r), ADMIT_SIGN_MISSING);
    assert_string_equal(r.why, "signature missing");
    assert_string_equal(r.desc, "Unauthorized: signature missing");
    assert_true(r.logged);
    assert_true(admit_is_rule(r.code));
    snprintf(q, sizeof q, "expires=%s&sign=%s", exp, "00");
    assert_int_equal(check(fx, ADMIT_PLAY, q, 0, "", &p, &r), ADMIT_SIGN_BAD);
    assert_int_equal(app_auth_sign(SECRET, "live", "cam", "1000", sign), 0);
    snprintf(q, sizeof q, "expires=1000&sign=%s", sign);
    assert_int_equal(check(fx, ADMIT_PLAY, q, 0, "", &p, &r), ADMIT_SIGN_EXPIRED);
    assert_int_equal(check(fx, ADMIT_PUBLISH, "", 0, "", &p, &r), ADMIT_ADDRESS);
    assert_string_equal(r.desc, "Forbidden: address not allowed");
    assert_int_equal(fx->node->auth_refused[APP_AUTH_PLAY][APP_AUTH_MISSING], 1);
    assert_int_equal(fx->node->auth_refused[APP_AUTH_PLAY][APP_AUTH_BAD], 1);
    assert_int_equal(fx->node->auth_refused[APP_AUTH_PLAY][APP_AUTH_EXPIRED], 1);
    assert_int_equal(fx->node->auth_refused[APP_AUTH_PUBLISH][APP_AUTH_ADDRESS], 1);
    /* drain comes first */
    fx->node->draining = 1;
    assert_int_equal(check(fx, ADMIT_PLAY, "", 0, "", &p, &r), ADMIT_DRAINING);
    assert_int_equal(fx->node->auth_refused[APP_AUTH_PLAY][APP_AUTH_MISSING], 1);
}

#define DECIDER(path, points, timeout)                                                             \
    "{\"id\": \"d" path "\", \"url\": \"http://127.0.0.1:%d/" path                                 \
    "\", \"events\": [\"node.start\"], \"decide\": " points ", \"timeout_ms\": " timeout "}"

/* Starts the hook manager with one decider (a JSON object text with %d for
 * the server's port). */
static void start_hooks(fx_t *fx, const char *hook_fmt)
{
    char arr[512];
    snprintf(arr, sizeof arr, "[%s]", hook_fmt);
    snprintf(fx->node->conf.hooks_json, sizeof fx->node->conf.hooks_json, arr, fx->port);
    char err[256] = "";
    fx->node->hooks = hook_mgr_new(fx->node, err, sizeof err);
    if (!fx->node->hooks)
        fail_msg("hook_mgr_new: %s", err);
}

/* A request that waits: PENDING, the callback not called inside. */
static admit_pending_t *pend(fx_t *fx, admit_point_t point)
{
    admit_pending_t *p = NULL;
    admit_result_t r;
    int n = fx->ncb;
    assert_int_equal(check(fx, point, "token=abc", 1, "n1", &p, &r), ADMIT_PENDING);
    assert_non_null(p);
    assert_int_equal(fx->ncb, n);
    return p;
}

/* A request that waits, then its decision: the callback's result. */
static const admit_result_t *decide(fx_t *fx, admit_point_t point)
{
    int n = fx->ncb;
    pend(fx, point);
    assert_true(run_until(fx, n + 1));
    return &fx->last;
}

static void test_hook_allow(void **state)
{
    fx_t *fx = *state;
    start_hooks(fx, DECIDER("ok", "[\"on_publish\"]", "1000"));
    assert_string_equal(decide(fx, ADMIT_PUBLISH)->why, "allowed");
    assert_int_equal(fx->last.code, ADMIT_OK);
    cJSON *b = cJSON_Parse(fx->last_body);
    assert_non_null(b);
    assert_string_equal(cJSON_GetObjectItem(b, "type")->valuestring, "on_publish");
    assert_string_equal(cJSON_GetObjectItem(b, "query")->valuestring, "token=abc");
    assert_string_equal(cJSON_GetObjectItem(b, "app")->valuestring, "live");
    assert_int_equal(cJSON_GetObjectItem(b, "hops")->valuedouble, 1);
    assert_int_equal(cJSON_GetObjectItem(b, "session_id")->valuedouble, 7);
    cJSON_Delete(b);
    /* no hook decides on_play: admitted now */
    admit_pending_t *p = NULL;
    admit_result_t r;
    assert_int_equal(check(fx, ADMIT_PLAY, "", 0, "", &p, &r), ADMIT_OK);
    assert_null(p);
}

static void test_hook_deny(void **state)
{
    fx_t *fx = *state;
    start_hooks(fx, DECIDER("no", "[\"on_play\"]", "1000"));
    const admit_result_t *r = decide(fx, ADMIT_PLAY);
    assert_int_equal(r->code, ADMIT_HOOK_DENIED);
    assert_string_equal(r->why, "denied by hook dno (HTTP 403)");
    assert_string_equal(r->desc, "Denied: denied by hook dno (HTTP 403).");
    assert_true(r->logged);
}

static void test_hook_timeout(void **state)
{
    fx_t *fx = *state;
    start_hooks(fx, DECIDER("hang", "[\"on_publish\", \"on_play\"]", "150"));
    const admit_result_t *r = decide(fx, ADMIT_PUBLISH); /* default policy: deny a publish */
    assert_int_equal(r->code, ADMIT_HOOK_TIMEOUT);
    assert_string_equal(r->why, "hook dhang timed out: denied by policy");
    assert_string_equal(r->desc, "Denied: hook dhang timed out: denied by policy.");
    r = decide(fx, ADMIT_PLAY); /* default policy: allow a play */
    assert_int_equal(r->code, ADMIT_OK);
    assert_string_equal(r->why, "hook dhang timed out: allowed by policy");
}

static void test_hook_busy_and_cancel(void **state)
{
    fx_t *fx = *state;
    fx->node->conf.webhooks_max_pending_decisions = 1;
    start_hooks(fx, DECIDER("hang", "[\"on_publish\", \"on_play\"]", "5000"));
    admit_pending_t *p1 = pend(fx, ADMIT_PLAY);
    admit_pending_t *p = NULL;
    admit_result_t r;
    assert_int_equal(check(fx, ADMIT_PUBLISH, "", 0, "", &p, &r), ADMIT_HOOK_BUSY);
    assert_null(p);
    assert_string_equal(r.desc, "Denied: too many decisions pending.");
    assert_false(r.logged);
    assert_int_equal(check(fx, ADMIT_PLAY, "", 0, "", &p, &r), ADMIT_OK); /* play: allowed */
    admit_cancel(p1);
    admit_cancel(NULL);
    p1 = pend(fx, ADMIT_PUBLISH); /* the slot is free again */
    admit_cancel(p1);
    int64_t end = weir_mono_ms() + 100;
    while (weir_mono_ms() < end)
        event_base_loop(fx->base, EVLOOP_ONCE);
    assert_int_equal(fx->ncb, 0);
}

/* A kick with a ban: that address's publishes and plays of that stream are
 * refused until it expires; other streams and addresses are not. */
static void test_ban(void **state)
{
    fx_t *fx = *state;
    admit_pending_t *p = NULL;
    admit_result_t r;
    int64_t now = weir_mono_ms();
    assert_int_equal(ban_add(fx->node, "live", "cam", "127.0.0.1:6000", 60, now), 0);
    assert_int_equal(check(fx, ADMIT_PLAY, "", 0, "", &p, &r), ADMIT_BANNED);
    assert_string_equal(admit_code_name(r.code), "banned");
    assert_non_null(strstr(r.why, "banned after a kick for 60 s more"));
    assert_int_equal(admit_reason(r.code), REASON_REFUSED);
    assert_int_equal(ban_count(fx->node, now), 1);
    /* another stream of the same address, the same stream of another address */
    sess_info_t other = SI;
    other.name = "cam2";
    admit_req_t req = {ADMIT_PUBLISH, &other, "", 0, "", NULL};
    assert_int_equal(admit_check(fx->node, &req, done_cb, fx, &p, &r), ADMIT_OK);
    other = SI;
    other.remote = "127.0.0.2:5555";
    assert_int_equal(admit_check(fx->node, &req, done_cb, fx, &p, &r), ADMIT_OK);
    /* not shortened by a shorter one; an expired one refuses nothing */
    assert_int_equal(ban_add(fx->node, "live", "cam", "127.0.0.1:1", 5, now), 0);
    assert_int_equal(ban_count(fx->node, now + 30000), 1);
    assert_int_equal(ban_add(fx->node, "live", "old", "127.0.0.1:1", 1, now - 5000), 0);
    assert_int_equal(ban_count(fx->node, now), 1);
    assert_int_equal(ban_add(fx->node, "live", "cam", "not an address", 5, now), -1);
}

/* ---- the chain itself (core's admit.c), with fake steps ---------------- */

typedef struct {
    admit_code_t answer; /* what the steps answer (ADMIT_PENDING: the waiting one) */
    int calls;
    char trace[16];   /* the order steps ran in: one letter each */
    admit_done_cb cb; /* a waiting step: how to answer later */
    void *cb_arg;
    int cancelled;
} fake_t;

static fake_t FAKE;

static admit_code_t fake_check(void *arg, node_t *node, const admit_req_t *req, admit_done_cb cb,
                               void *cb_arg, void **wait, admit_result_t *out)
{
    (void)node, (void)req;
    const char *letter = arg;
    strncat(FAKE.trace, letter, sizeof FAKE.trace - strlen(FAKE.trace) - 1);
    FAKE.calls++;
    if (FAKE.answer == ADMIT_PENDING && strcmp(letter, "w") != 0)
        return ADMIT_OK; /* only the waiting step waits */
    if (FAKE.answer == ADMIT_PENDING) {
        assert_non_null(cb);
        FAKE.cb = cb;
        FAKE.cb_arg = cb_arg;
        *wait = &FAKE;
        return ADMIT_PENDING;
    }
    if (FAKE.answer != ADMIT_OK)
        return admit_deny(out, FAKE.answer, "fake says no");
    return ADMIT_OK;
}

static void fake_cancel(void *wait)
{
    assert_ptr_equal(wait, &FAKE);
    FAKE.cancelled++;
}

static const admit_step_t STEP_30 = {"c", 30, fake_check, NULL};
static const admit_step_t STEP_10 = {"a", 10, fake_check, NULL};
static const admit_step_t STEP_20 = {"b", 20, fake_check, NULL};
static const admit_step_t WAIT_40 = {"w", 40, fake_check, fake_cancel};
static const admit_step_t STEP_50 = {"d", 50, fake_check, NULL};

static void test_chain_order_and_bounds(void **state)
{
    (void)state;
    node_t *node = calloc(1, sizeof *node);
    assert_non_null(node);
    admit_req_t req = {ADMIT_PLAY, &SI, "", 0, "", NULL};
    admit_pending_t *p = (admit_pending_t *)1;
    admit_result_t r;
    /* No step: everything is admitted. */
    assert_int_equal(admit_check(node, &req, done_cb, NULL, &p, &r), ADMIT_OK);
    assert_null(p);
    /* Steps run by order, whatever the order they were added in. */
    assert_int_equal(admit_add_step(node, &STEP_30, "c"), 0);
    assert_int_equal(admit_add_step(node, &STEP_10, "a"), 0);
    assert_int_equal(admit_add_step(node, &STEP_20, "b"), 0);
    memset(&FAKE, 0, sizeof FAKE);
    assert_int_equal(admit_check(node, &req, done_cb, NULL, &p, &r), ADMIT_OK);
    assert_string_equal(FAKE.trace, "abc");
    /* The first refusal ends the chain. */
    memset(&FAKE, 0, sizeof FAKE);
    FAKE.answer = ADMIT_ADDRESS;
    assert_int_equal(admit_check(node, &req, done_cb, NULL, &p, &r), ADMIT_ADDRESS);
    assert_string_equal(FAKE.trace, "a");
    assert_string_equal(r.why, "fake says no");
    assert_string_equal(r.desc, "Denied: fake says no.");
    /* A waiting step must come last: none after it, it after no other. */
    assert_int_equal(admit_add_step(node, &WAIT_40, "w"), 0);
    assert_int_equal(admit_add_step(node, &STEP_50, "d"), -1);
    assert_int_equal(admit_add_step(node, &WAIT_40, "w"), -1);
    /* The chain is bounded. */
    for (size_t i = node->nadmit_steps; i < NODE_ADMIT_STEPS_MAX; i++)
        assert_int_equal(admit_add_step(node, &STEP_10, "a"), 0);
    assert_int_equal(admit_add_step(node, &STEP_10, "a"), -1);
    free(node);
}

static void test_chain_waiting_step(void **state)
{
    (void)state;
    fx_t fx = {0};
    node_t *node = calloc(1, sizeof *node);
    assert_non_null(node);
    assert_int_equal(admit_add_step(node, &STEP_10, "a"), 0);
    assert_int_equal(admit_add_step(node, &WAIT_40, "w"), 0);
    admit_req_t req = {ADMIT_PUBLISH, &SI, "", 0, "", NULL};
    admit_pending_t *p = NULL;
    admit_result_t r;
    /* Waits: the session's callback comes once, from the step's answer. */
    memset(&FAKE, 0, sizeof FAKE);
    FAKE.answer = ADMIT_PENDING;
    assert_int_equal(admit_check(node, &req, done_cb, &fx, &p, &r), ADMIT_PENDING);
    assert_non_null(p);
    assert_int_equal(r.code, ADMIT_PENDING);
    assert_string_equal(FAKE.trace, "aw");
    assert_int_equal(fx.ncb, 0);
    admit_result_t later = {.code = ADMIT_HOOK_DENIED};
    snprintf(later.why, sizeof later.why, "later");
    FAKE.cb(FAKE.cb_arg, &later); /* frees p */
    assert_int_equal(fx.ncb, 1);
    assert_int_equal(fx.last.code, ADMIT_HOOK_DENIED);
    assert_string_equal(fx.last.why, "later");
    /* Cancelled: the step forgets its wait, no callback. */
    memset(&FAKE, 0, sizeof FAKE);
    FAKE.answer = ADMIT_PENDING;
    assert_int_equal(admit_check(node, &req, done_cb, &fx, &p, &r), ADMIT_PENDING);
    admit_cancel(p);
    assert_int_equal(FAKE.cancelled, 1);
    assert_int_equal(fx.ncb, 1);
    admit_cancel(NULL);
    free(node);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ordinary_and_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rules_signed_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hook_allow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hook_deny, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hook_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hook_busy_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ban, setup, teardown),
        cmocka_unit_test(test_chain_order_and_bounds),
        cmocka_unit_test(test_chain_waiting_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
