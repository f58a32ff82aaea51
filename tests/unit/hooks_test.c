/* Unit tests of the webhook manager (node/cluster/hooks.c) with a real event loop
 * and an in-process libevent HTTP server on 127.0.0.1 (ephemeral port):
 * ordered delivery through evlog_emit(), the HMAC-SHA256 signature checked
 * with libcrypto, retries, giving up after max_attempts, queue overflow,
 * timeouts, decisions (allow, deny, timeout policy for both points, several
 * hooks, cancel before the answer, the pending limit) and API changes
 * without storage. Every wait is bounded. Run under ASan (WEIR_SANITIZE). */
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
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common.h"
#include "evlog.h"
#include "hooks.h"
#include "node.h"
#include "render.h" /* the hooks as the API shows them */

#define MAXREQ 64
#define WAIT_MS 5000 /* every wait is bounded by this */

/* ---- the test server ----------------------------------------------------- */

typedef struct {
    char uri[128];
    char event[32], delivery[32], node[64], sig[80], ctype[64], agent[32];
    char *body;
    int64_t at_ms;
} got_req_t;

typedef struct {
    struct event_base *base;
    struct event *tick;
    node_t *node;
    struct evhttp *http;
    uint16_t port;
    /* what the server answers: script[i] for request i, else dflt; -1:
     * never answer (held until teardown) */
    int script[MAXREQ];
    int nscript;
    int dflt;
    got_req_t reqs[MAXREQ];
    int nreq;
    struct evhttp_request *held[MAXREQ];
    int nheld;
    /* decision callbacks */
    int ncb, last_allow;
    char last_reason[256];
    int in_decide;
    int cb_inside_decide;
    /* API done callbacks */
    int ndone, last_rc, last_created;
    int rcs[16], createds[16]; /* every result, in order */
    char last_err[256];
} fx_t;

static void copy_header(struct evkeyvalq *h, const char *name, char *out, size_t outlen)
{
    const char *v = evhttp_find_header(h, name);
    snprintf(out, outlen, "%s", v ? v : "");
}

static void server_cb(struct evhttp_request *req, void *arg)
{
    fx_t *fx = arg;
    int i = fx->nreq;
    if (i >= MAXREQ) {
        evhttp_send_reply(req, 500, "Too many", NULL);
        return;
    }
    got_req_t *g = &fx->reqs[i];
    fx->nreq++;
    snprintf(g->uri, sizeof g->uri, "%s", evhttp_request_get_uri(req));
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    copy_header(h, "X-Weir-Event", g->event, sizeof g->event);
    copy_header(h, "X-Weir-Delivery", g->delivery, sizeof g->delivery);
    copy_header(h, "X-Weir-Node", g->node, sizeof g->node);
    copy_header(h, "X-Weir-Signature", g->sig, sizeof g->sig);
    copy_header(h, "Content-Type", g->ctype, sizeof g->ctype);
    copy_header(h, "User-Agent", g->agent, sizeof g->agent);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    g->body = calloc(1, len + 1);
    assert_non_null(g->body);
    evbuffer_remove(in, g->body, len);
    g->at_ms = weir_mono_ms();
    int status = i < fx->nscript ? fx->script[i] : fx->dflt;
    if (strncmp(g->uri, "/no", 3) == 0)
        status = 403;
    if (strncmp(g->uri, "/hang", 5) == 0)
        status = -1;
    if (status < 0) {
        fx->held[fx->nheld++] = req;
        return;
    }
    evhttp_send_reply(req, status, "X", NULL);
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
    assert_non_null(fx->base);
    fx->node = calloc(1, sizeof *fx->node);
    assert_non_null(fx->node);
    conf_defaults(&fx->node->conf);
    fx->node->base = fx->base;
    fx->node->next_event_id = 1;
    fx->dflt = 200;
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
    for (int i = 0; i < fx->nreq; i++)
        free(fx->reqs[i].body);
    evhttp_free(fx->http);
    event_free(fx->tick);
    if (fx->node->dns)
        evdns_base_free(fx->node->dns, 0);
    free(fx->node);
    event_base_free(fx->base);
    free(fx);
    return 0;
}

/* Runs the loop until *counter >= target or WAIT_MS passed; returns 1 if
 * reached. */
static int run_until(fx_t *fx, const int *counter, int target)
{
    int64_t end = weir_mono_ms() + WAIT_MS;
    while (*counter < target) {
        if (weir_mono_ms() > end)
            return 0;
        event_base_loop(fx->base, EVLOOP_ONCE); /* the 20 ms tick wakes it */
    }
    return 1;
}

static void run_for(fx_t *fx, int ms)
{
    int64_t end = weir_mono_ms() + ms;
    while (weir_mono_ms() < end)
        event_base_loop(fx->base, EVLOOP_ONCE);
}

/* Starts the manager with config hooks (a JSON array text with %d for the
 * server's port, used up to 3 times). */
static void start(fx_t *fx, const char *hooks_fmt)
{
    snprintf(fx->node->conf.hooks_json, sizeof fx->node->conf.hooks_json, hooks_fmt, fx->port,
             fx->port, fx->port);
    char err[256] = "";
    fx->node->hooks = hook_mgr_new(fx->node, err, sizeof err);
    if (!fx->node->hooks)
        fail_msg("hook_mgr_new: %s", err);
}

typedef struct {
    size_t queued;
    uint64_t delivered, failed, dropped, retries;
    char id[HOOK_ID_MAX];
} stat_t;

static void stat_cb(const hook_stat_t *st, void *arg)
{
    stat_t *s = arg;
    if (strcmp(st->spec->id, s->id) != 0)
        return;
    s->queued = st->queued;
    s->delivered = st->delivered;
    s->failed = st->failed;
    s->dropped = st->dropped;
    s->retries = st->retries;
}

static stat_t stats(fx_t *fx, const char *id)
{
    stat_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.id, sizeof s.id, "%s", id);
    s.queued = (size_t)-1;
    hook_mgr_foreach(fx->node->hooks, stat_cb, &s);
    return s;
}

/* The hook as GET /api/v1/hooks/{id} shows it, or NULL. */
static cJSON *render(hook_mgr_t *m, const char *id)
{
    hook_stat_t st;
    return hook_mgr_stat(m, id, &st) == 0 ? api_render_hook(&st) : NULL;
}

static void render_add(const hook_stat_t *st, void *arg)
{
    assert_true(cJSON_AddItemToArray(arg, api_render_hook(st)));
}

/* Every hook as GET /api/v1/hooks lists them. */
static cJSON *render_all(hook_mgr_t *m)
{
    cJSON *arr = cJSON_CreateArray();
    hook_mgr_foreach(m, render_add, arr);
    return arr;
}

static cJSON *fields(const char *app, const char *name)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "app", app);
    cJSON_AddStringToObject(f, "name", name);
    return f;
}

/* ---- notifications ------------------------------------------------------- */

static void test_ordered_signed_delivery(void **state)
{
    fx_t *fx = *state;
    start(fx, "[{\"id\": \"all\", \"url\": \"http://127.0.0.1:%d/in?k=1\", \"events\": [\"*\"],"
              " \"secret\": \"s3cr3t\"},"
              " {\"id\": \"plays\", \"url\": \"http://127.0.0.1:%d/plays\","
              " \"events\": [\"play.start\"]},"
              " {\"id\": \"off\", \"url\": \"http://127.0.0.1:%d/off\", \"events\": [\"*\"],"
              " \"enabled\": false}]");
    const char *types[] = {"node.start", "publish.start", "play.start", "play.stop", "node.drain"};
    for (int i = 0; i < 5; i++)
        evlog_emit(fx->node, types[i], fields("live", "cam"));
    assert_int_equal(fx->nreq, 0); /* nothing sent from inside the emitter */
    assert_true(run_until(fx, &fx->nreq, 6));
    run_for(fx, 100); /* nothing more comes */
    assert_int_equal(fx->nreq, 6);
    int seen = 0;
    for (int i = 0; i < fx->nreq; i++) {
        got_req_t *g = &fx->reqs[i];
        assert_string_equal(g->ctype, "application/json");
        assert_string_equal(g->agent, "weir/" WEIR_VERSION);
        cJSON *b = cJSON_Parse(g->body);
        assert_non_null(b);
        if (strcmp(g->uri, "/plays") == 0) {
            assert_string_equal(g->event, "play.start");
            assert_string_equal(g->delivery, "3");
            assert_string_equal(g->sig, ""); /* no secret, no signature */
            cJSON_Delete(b);
            continue;
        }
        assert_string_equal(g->uri, "/in?k=1");
        /* in order, one per event, ids 1..5 */
        char want[16];
        snprintf(want, sizeof want, "%d", seen + 1);
        assert_string_equal(g->delivery, want);
        assert_string_equal(g->event, types[seen]);
        assert_int_equal(cJSON_GetObjectItem(b, "id")->valuedouble, seen + 1);
        assert_string_equal(cJSON_GetObjectItem(b, "type")->valuestring, types[seen]);
        assert_non_null(cJSON_GetObjectItem(b, "node_id"));
        const char *t = cJSON_GetObjectItem(b, "time")->valuestring;
        assert_int_equal(strlen(t), 24); /* 2026-01-02T03:04:05.678Z */
        assert_int_equal(t[23], 'Z');
        assert_string_equal(cJSON_GetObjectItem(b, "app")->valuestring, "live");
        assert_string_equal(cJSON_GetObjectItem(b, "name")->valuestring, "cam");
        cJSON_Delete(b);
        /* the signature, recomputed here with libcrypto */
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        assert_non_null(HMAC(EVP_sha256(), "s3cr3t", 6, (const unsigned char *)g->body,
                             strlen(g->body), md, &mdlen));
        char hex[80] = "sha256=";
        for (unsigned k = 0; k < mdlen; k++)
            snprintf(hex + 7 + 2 * k, 3, "%02x", md[k]);
        assert_string_equal(g->sig, hex);
        seen++;
    }
    assert_int_equal(seen, 5);
    stat_t s = stats(fx, "all");
    assert_int_equal(s.delivered, 5);
    assert_int_equal(s.queued, 0);
    assert_int_equal(s.failed + s.dropped + s.retries, 0);
    assert_int_equal(stats(fx, "off").delivered, 0);
    cJSON *r = render(fx->node->hooks, "all");
    assert_non_null(r);
    assert_int_equal(cJSON_GetObjectItem(r, "last_status")->valuedouble, 200);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "last_error")));
    assert_true(cJSON_IsString(cJSON_GetObjectItem(r, "last_delivery_at")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "secret_set")));
    assert_null(cJSON_GetObjectItem(r, "secret"));
    assert_string_equal(cJSON_GetObjectItem(r, "source")->valuestring, "config");
    cJSON_Delete(r);
}

static void test_retries_then_success(void **state)
{
    fx_t *fx = *state;
    fx->node->conf.webhooks_retry_initial_ms = 100;
    fx->node->conf.webhooks_retry_max_ms = 150;
    fx->script[0] = 500;
    fx->script[1] = 502;
    fx->nscript = 2;
    start(fx, "[{\"id\": \"h\", \"url\": \"http://127.0.0.1:%d/x\", \"events\": [\"*\"]}]");
    evlog_emit(fx->node, "publish.start", fields("live", "a"));
    evlog_emit(fx->node, "publish.stop", fields("live", "a"));
    assert_true(run_until(fx, &fx->nreq, 4));
    run_for(fx, 100);
    assert_int_equal(fx->nreq, 4);
    /* event 1 three times (two failures), then event 2: order kept */
    assert_string_equal(fx->reqs[0].delivery, "1");
    assert_string_equal(fx->reqs[1].delivery, "1");
    assert_string_equal(fx->reqs[2].delivery, "1");
    assert_string_equal(fx->reqs[3].delivery, "2");
    assert_string_equal(fx->reqs[0].body, fx->reqs[2].body); /* the same payload */
    /* backoff: [d/2, d] of 100 ms, then of 150 ms (tick granularity 20 ms) */
    int64_t gap1 = fx->reqs[1].at_ms - fx->reqs[0].at_ms;
    int64_t gap2 = fx->reqs[2].at_ms - fx->reqs[1].at_ms;
    assert_true(gap1 >= 50 && gap1 < 1000);
    assert_true(gap2 >= 75 && gap2 < 1000);
    stat_t s = stats(fx, "h");
    assert_int_equal(s.delivered, 2);
    assert_int_equal(s.failed, 2);
    assert_int_equal(s.retries, 2);
    assert_int_equal(s.dropped, 0);
}

static void test_max_attempts_then_drop(void **state)
{
    fx_t *fx = *state;
    fx->node->conf.webhooks_retry_initial_ms = 100;
    fx->node->conf.webhooks_retry_max_ms = 100;
    fx->node->conf.webhooks_max_attempts = 3;
    fx->dflt = 503;
    start(fx, "[{\"id\": \"h\", \"url\": \"http://127.0.0.1:%d/x\", \"events\": [\"*\"]}]");
    evlog_emit(fx->node, "play.start", NULL);
    evlog_emit(fx->node, "play.stop", NULL);
    assert_true(run_until(fx, &fx->nreq, 6));
    run_for(fx, 300);
    assert_int_equal(fx->nreq, 6); /* 3 attempts each, no more */
    for (int i = 0; i < 6; i++)
        assert_string_equal(fx->reqs[i].delivery, i < 3 ? "1" : "2");
    stat_t s = stats(fx, "h");
    assert_int_equal(s.delivered, 0);
    assert_int_equal(s.failed, 6);
    assert_int_equal(s.retries, 4);
    assert_int_equal(s.dropped, 2);
    assert_int_equal(s.queued, 0);
    cJSON *r = render(fx->node->hooks, "h");
    assert_int_equal(cJSON_GetObjectItem(r, "last_status")->valuedouble, 503);
    assert_string_equal(cJSON_GetObjectItem(r, "last_error")->valuestring, "HTTP 503");
    cJSON_Delete(r);
}

static void test_overflow_drops_oldest(void **state)
{
    fx_t *fx = *state;
    fx->node->conf.webhooks_queue_max = 2;
    start(fx, "[{\"id\": \"h\", \"url\": \"http://127.0.0.1:%d/x\", \"events\": [\"*\"]}]");
    for (int i = 0; i < 5; i++)
        evlog_emit(fx->node, "play.start", NULL);
    /* all five queued before the loop runs: 1, 2, 3 were pushed out */
    stat_t s = stats(fx, "h");
    assert_int_equal(s.queued, 2);
    assert_int_equal(s.dropped, 3);
    assert_true(run_until(fx, &fx->nreq, 2));
    run_for(fx, 100);
    assert_int_equal(fx->nreq, 2);
    assert_string_equal(fx->reqs[0].delivery, "4");
    assert_string_equal(fx->reqs[1].delivery, "5");
    s = stats(fx, "h");
    assert_int_equal(s.delivered, 2);
    assert_int_equal(s.dropped, 3);
    assert_int_equal(s.queued, 0);
}

static void test_timeout_then_retry(void **state)
{
    fx_t *fx = *state;
    fx->node->conf.webhooks_retry_initial_ms = 100;
    fx->script[0] = -1; /* never answered */
    fx->nscript = 1;
    start(fx, "[{\"id\": \"h\", \"url\": \"http://127.0.0.1:%d/x\", \"events\": [\"*\"],"
              " \"timeout_ms\": 200}]");
    int64_t t0 = weir_mono_ms();
    evlog_emit(fx->node, "node.start", NULL);
    assert_true(run_until(fx, &fx->nreq, 1));
    stat_t s = stats(fx, "h");
    assert_int_equal(s.queued, 1); /* in flight */
    assert_true(run_until(fx, &fx->nreq, 2));
    assert_true(fx->reqs[1].at_ms - t0 >= 200 + 50); /* timeout, then backoff */
    run_for(fx, 50);
    s = stats(fx, "h");
    assert_int_equal(s.delivered, 1);
    assert_int_equal(s.failed, 1);
    assert_int_equal(s.retries, 1);
    assert_string_equal(fx->reqs[1].delivery, "1");
    cJSON *r = render(fx->node->hooks, "h");
    assert_int_equal(cJSON_GetObjectItem(r, "last_status")->valuedouble, 200);
    cJSON_Delete(r);
}

static void test_connection_refused_counts(void **state)
{
    fx_t *fx = *state;
    fx->node->conf.webhooks_max_attempts = 2;
    fx->node->conf.webhooks_retry_initial_ms = 100;
    /* a port nothing listens on: bind one, close it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sin;
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    close(fd);
    char hooks[256];
    snprintf(hooks, sizeof hooks,
             "[{\"id\": \"h\", \"url\": \"http://127.0.0.1:%u/x\", \"events\": [\"*\"]}]",
             (unsigned)ntohs(sin.sin_port));
    start(fx, hooks);
    evlog_emit(fx->node, "node.start", NULL);
    int64_t end = weir_mono_ms() + WAIT_MS;
    while (stats(fx, "h").dropped == 0 && weir_mono_ms() < end)
        event_base_loop(fx->base, EVLOOP_ONCE);
    stat_t s = stats(fx, "h");
    assert_int_equal(s.dropped, 1);
    assert_int_equal(s.failed, 2);
    cJSON *r = render(fx->node->hooks, "h");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "last_status")));
    assert_true(cJSON_IsString(cJSON_GetObjectItem(r, "last_error")));
    cJSON_Delete(r);
}

/* ---- decisions ---------------------------------------------------------- */

static void decide_cb(void *arg, int allow, const char *reason)
{
    fx_t *fx = arg;
    if (fx->in_decide)
        fx->cb_inside_decide = 1;
    fx->ncb++;
    fx->last_allow = allow;
    snprintf(fx->last_reason, sizeof fx->last_reason, "%s", reason);
}

static cJSON *decision_fields(void)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "session_id", 42);
    cJSON_AddStringToObject(f, "app", "live");
    cJSON_AddStringToObject(f, "name", "cam");
    cJSON_AddStringToObject(f, "query", "token=abc");
    cJSON_AddStringToObject(f, "protocol", "rtmp");
    cJSON_AddStringToObject(f, "remote", "127.0.0.1:5555");
    cJSON_AddNumberToObject(f, "hops", 0);
    return f;
}

static int decide(fx_t *fx, const char *point, hook_decision_t **d)
{
    fx->in_decide = 1;
    int rc = hook_decide(fx->node->hooks, point, decision_fields(), decide_cb, fx, d);
    fx->in_decide = 0;
    return rc;
}

#define DECIDER(path, points, timeout)                                                             \
    "{\"id\": \"d" path "\", \"url\": \"http://127.0.0.1:%d/" path                                 \
    "\", \"events\": [\"node.start\"],"                                                            \
    " \"decide\": " points ", \"timeout_ms\": " timeout "}"

static void test_decision_allow(void **state)
{
    fx_t *fx = *state;
    start(fx, "[" DECIDER("ok", "[\"on_publish\"]", "1000") "]");
    hook_decision_t *d = NULL;
    assert_int_equal(decide(fx, "on_publish", &d), 0);
    assert_non_null(d);
    assert_int_equal(fx->ncb, 0);
    assert_true(run_until(fx, &fx->ncb, 1));
    assert_false(fx->cb_inside_decide);
    assert_int_equal(fx->last_allow, 1);
    assert_string_equal(fx->last_reason, "allowed");
    assert_int_equal(fx->nreq, 1);
    got_req_t *g = &fx->reqs[0];
    assert_string_equal(g->event, "on_publish");
    assert_string_equal(g->delivery, "d-1");
    cJSON *b = cJSON_Parse(g->body);
    assert_non_null(b);
    assert_string_equal(cJSON_GetObjectItem(b, "id")->valuestring, "d-1");
    assert_string_equal(cJSON_GetObjectItem(b, "type")->valuestring, "on_publish");
    assert_non_null(cJSON_GetObjectItem(b, "node_id"));
    assert_non_null(cJSON_GetObjectItem(b, "time"));
    assert_string_equal(cJSON_GetObjectItem(b, "query")->valuestring, "token=abc");
    assert_int_equal(cJSON_GetObjectItem(b, "session_id")->valuedouble, 42);
    assert_int_equal(cJSON_GetObjectItem(b, "hops")->valuedouble, 0);
    cJSON_Delete(b);
    /* not a notification: the hook's events list does not matter */
    assert_int_equal(stats(fx, "dok").delivered, 0);
    /* no hook decides on_play: go ahead now */
    d = (hook_decision_t *)1;
    assert_int_equal(decide(fx, "on_play", &d), 0);
    assert_null(d);
    run_for(fx, 50);
    assert_int_equal(fx->ncb, 1);
    hook_decision_counts_t c;
    hook_mgr_decision_counts(fx->node->hooks, &c);
    assert_int_equal(c.allow[0], 1);
    assert_int_equal(c.deny[0] + c.timeout_allow[0] + c.timeout_deny[0] + c.allow[1], 0);
}

static void test_decision_no_manager(void **state)
{
    fx_t *fx = *state;
    hook_decision_t *d = (hook_decision_t *)1;
    assert_int_equal(hook_decide(NULL, "on_publish", decision_fields(), decide_cb, fx, &d), 0);
    assert_null(d);
    start(fx, "[]");
    d = (hook_decision_t *)1;
    assert_int_equal(decide(fx, "on_publish", &d), 0);
    assert_null(d);
    hook_decision_cancel(NULL);
    assert_int_equal(hook_timeout_allows(fx->node, "on_publish"), 0);
    assert_int_equal(hook_timeout_allows(fx->node, "on_play"), 1);
}

static void test_decision_deny(void **state)
{
    fx_t *fx = *state;
    start(fx, "[" DECIDER("no", "[\"on_play\"]", "1000") "]");
    hook_decision_t *d = NULL;
    assert_int_equal(decide(fx, "on_play", &d), 0);
    assert_non_null(d);
    assert_true(run_until(fx, &fx->ncb, 1));
    assert_int_equal(fx->last_allow, 0);
    assert_string_equal(fx->last_reason, "denied by hook dno (HTTP 403)");
    hook_decision_counts_t c;
    hook_mgr_decision_counts(fx->node->hooks, &c);
    assert_int_equal(c.deny[1], 1);
}

static void test_decision_timeout_policy(void **state)
{
    fx_t *fx = *state;
    start(fx, "[" DECIDER("hang", "[\"on_publish\", \"on_play\"]", "200") "]");
    hook_decision_t *d1 = NULL, *d2 = NULL;
    int64_t t0 = weir_mono_ms();
    assert_int_equal(decide(fx, "on_publish", &d1), 0);
    assert_true(run_until(fx, &fx->ncb, 1));
    assert_true(weir_mono_ms() - t0 >= 190);
    assert_int_equal(fx->last_allow, 0); /* default: deny publish */
    assert_string_equal(fx->last_reason, "hook dhang timed out: denied by policy");
    assert_int_equal(decide(fx, "on_play", &d2), 0);
    assert_true(run_until(fx, &fx->ncb, 2));
    assert_int_equal(fx->last_allow, 1); /* default: allow play */
    assert_string_equal(fx->last_reason, "hook dhang timed out: allowed by policy");
    /* the policy is configurable */
    fx->node->conf.webhooks_on_publish_timeout_allow = 1;
    fx->node->conf.webhooks_on_play_timeout_allow = 0;
    assert_int_equal(decide(fx, "on_publish", &d1), 0);
    assert_true(run_until(fx, &fx->ncb, 3));
    assert_int_equal(fx->last_allow, 1);
    assert_int_equal(decide(fx, "on_play", &d2), 0);
    assert_true(run_until(fx, &fx->ncb, 4));
    assert_int_equal(fx->last_allow, 0);
    hook_decision_counts_t c;
    hook_mgr_decision_counts(fx->node->hooks, &c);
    assert_int_equal(c.timeout_deny[0], 1);
    assert_int_equal(c.timeout_allow[0], 1);
    assert_int_equal(c.timeout_allow[1], 1);
    assert_int_equal(c.timeout_deny[1], 1);
    assert_int_equal(fx->nreq, 4);
}

static void test_decision_several_hooks(void **state)
{
    fx_t *fx = *state;
    start(fx,
          "[" DECIDER("ok", "[\"on_play\"]", "1000") ", " DECIDER(
              "no", "[\"on_play\"]", "1000") ", " DECIDER("ok2", "[\"on_publish\"]", "1000") "]");
    hook_decision_t *d = NULL;
    assert_int_equal(decide(fx, "on_play", &d), 0);
    assert_true(run_until(fx, &fx->ncb, 1));
    assert_int_equal(fx->last_allow, 0);
    assert_string_equal(fx->last_reason, "denied by hook dno (HTTP 403)");
    run_for(fx, 100);
    assert_int_equal(fx->ncb, 1); /* exactly once */
    /* both on_play hooks were asked (the ok one may be cut short), never
     * the on_publish one */
    int asked_no = 0;
    for (int i = 0; i < fx->nreq; i++) {
        assert_string_not_equal(fx->reqs[i].uri, "/ok2");
        asked_no += strcmp(fx->reqs[i].uri, "/no") == 0;
        assert_string_equal(fx->reqs[i].delivery, "d-1"); /* one decision, one id */
    }
    assert_int_equal(asked_no, 1);
    /* all allow: allowed */
    fx->ncb = 0;
    assert_int_equal(decide(fx, "on_publish", &d), 0);
    assert_true(run_until(fx, &fx->ncb, 1));
    assert_int_equal(fx->last_allow, 1);
}

static void test_decision_cancel(void **state)
{
    fx_t *fx = *state;
    start(fx, "[" DECIDER("hang", "[\"on_publish\"]", "200") ", " DECIDER("ok", "[\"on_publish\"]",
                                                                          "200") "]");
    /* cancelled at once, before any request went out */
    hook_decision_t *d = NULL;
    assert_int_equal(decide(fx, "on_publish", &d), 0);
    hook_decision_cancel(d);
    /* cancelled while one answer is in and one request hangs */
    assert_int_equal(decide(fx, "on_publish", &d), 0);
    int64_t end = weir_mono_ms() + WAIT_MS;
    while (fx->nheld < 1 && weir_mono_ms() < end)
        event_base_loop(fx->base, EVLOOP_ONCE);
    assert_int_equal(fx->nheld >= 1, 1);
    run_for(fx, 30);
    hook_decision_cancel(d);
    run_for(fx, 400); /* past the hooks' timeout */
    assert_int_equal(fx->ncb, 0);
    /* one pending at manager free: freed without a callback */
    assert_int_equal(decide(fx, "on_publish", &d), 0);
    run_for(fx, 20);
    hook_mgr_free(fx->node->hooks);
    fx->node->hooks = NULL;
    run_for(fx, 300);
    assert_int_equal(fx->ncb, 0);
}

static void cancel_inside_cb(void *arg, int allow, const char *reason)
{
    fx_t *fx = arg;
    decide_cb(arg, allow, reason);
    /* a session closing itself from its callback: harmless */
    hook_decision_cancel((hook_decision_t *)fx->held[MAXREQ - 1]);
}

static void test_decision_pending_limit(void **state)
{
    fx_t *fx = *state;
    fx->node->conf.webhooks_max_pending_decisions = 1;
    start(fx, "[" DECIDER("ok", "[\"on_play\"]", "1000") "]");
    hook_decision_t *d1 = NULL, *d2 = (hook_decision_t *)1;
    assert_int_equal(
        hook_decide(fx->node->hooks, "on_play", decision_fields(), cancel_inside_cb, fx, &d1), 0);
    fx->held[MAXREQ - 1] = (struct evhttp_request *)d1; /* the callback cancels it */
    assert_int_equal(decide(fx, "on_play", &d2), NODE_ELIMIT);
    assert_null(d2);
    assert_true(run_until(fx, &fx->ncb, 1));
    fx->held[MAXREQ - 1] = NULL;
    assert_int_equal(fx->last_allow, 1);
    /* the slot is free again */
    assert_int_equal(decide(fx, "on_play", &d2), 0);
    assert_non_null(d2);
    assert_true(run_until(fx, &fx->ncb, 2));
    hook_decision_counts_t c;
    hook_mgr_decision_counts(fx->node->hooks, &c);
    assert_int_equal(c.allow[1], 2);
    assert_int_equal(c.timeout_allow[1], 1); /* the refused one, by policy */
}

/* ---- API changes (no storage) ------------------------------------------- */

static void done_cb(void *arg, const spec_result_t *res)
{
    fx_t *fx = arg;
    fx->ndone++;
    fx->last_rc = res->rc;
    fx->last_created = res->created;
    if (fx->ndone <= 16) {
        fx->rcs[fx->ndone - 1] = res->rc;
        fx->createds[fx->ndone - 1] = res->created;
    }
    snprintf(fx->last_err, sizeof fx->last_err, "%s", res->err);
}

static void test_api_put_delete(void **state)
{
    fx_t *fx = *state;
    start(fx, "[{\"id\": \"cfg\", \"url\": \"http://127.0.0.1:%d/c\", \"events\": [\"*\"]}]");
    hook_mgr_t *m = fx->node->hooks;
    hook_spec_t s;
    hook_spec_defaults(&s);
    char err[256] = "";
    snprintf(s.url, sizeof s.url, "http://127.0.0.1:%u/api", (unsigned)fx->port);
    s.events = 1u << hook_event_type_index("play.start");
    hook_mgr_new_id(m, s.id);
    assert_int_equal(strlen(s.id), 14);
    assert_int_equal(strncmp(s.id, "h-", 2), 0);
    assert_int_equal(hook_mgr_put(m, &s, 1, NULL, done_cb, fx, err, sizeof err), 0);
    assert_int_equal(fx->ndone, 0);      /* never inside the call */
    assert_null(hook_mgr_spec(m, s.id)); /* applied once done */
    assert_true(run_until(fx, &fx->ndone, 1));
    assert_int_equal(fx->last_rc, 0);
    assert_int_equal(fx->last_created, 1);
    assert_non_null(hook_mgr_spec(m, s.id));
    /* replace */
    s.timeout_ms = 700;
    assert_int_equal(hook_mgr_put(m, &s, 0, NULL, done_cb, fx, err, sizeof err), 0);
    assert_true(run_until(fx, &fx->ndone, 2));
    assert_int_equal(fx->last_created, 0);
    assert_int_equal(hook_mgr_spec(m, s.id)->timeout_ms, 700);
    /* POST of an id in use */
    assert_int_equal(hook_mgr_put(m, &s, 1, NULL, done_cb, fx, err, sizeof err), NODE_EBUSY);
    assert_non_null(strstr(err, "already exists"));
    /* render_all: ordered by id, sources */
    cJSON *all = render_all(m);
    assert_int_equal(cJSON_GetArraySize(all), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(all, 0), "id")->valuestring, "cfg");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(all, 1), "source")->valuestring,
                        "api");
    cJSON_Delete(all);
    /* the config-file hook is read-only */
    hook_spec_t c = s;
    strcpy(c.id, "cfg");
    assert_int_equal(hook_mgr_put(m, &c, 0, NULL, done_cb, fx, err, sizeof err), NODE_EBUSY);
    assert_string_equal(err, "id: hook cfg comes from the config file and is read-only");
    assert_int_equal(hook_mgr_delete(m, "cfg", NULL, done_cb, fx, err, sizeof err), NODE_EBUSY);
    assert_int_equal(hook_mgr_delete(m, "nope", NULL, done_cb, fx, err, sizeof err), NODE_ENOTFOUND);
    /* the new hook gets its events */
    evlog_emit(fx->node, "play.start", NULL);
    assert_true(run_until(fx, &fx->nreq, 2));
    /* delete */
    assert_int_equal(hook_mgr_delete(m, s.id, NULL, done_cb, fx, err, sizeof err), 0);
    assert_true(run_until(fx, &fx->ndone, 3));
    assert_null(hook_mgr_spec(m, s.id));
    assert_null(render(m, s.id));
    /* a change still waiting when the manager goes: done with NODE_EIO */
    assert_int_equal(hook_mgr_put(m, &s, 0, NULL, done_cb, fx, err, sizeof err), 0);
    hook_mgr_free(m);
    fx->node->hooks = NULL;
    assert_int_equal(fx->ndone, 4);
    assert_int_equal(fx->last_rc, NODE_EIO);
}

/* Changes submitted before the earlier ones committed are judged at their
 * turn, against what those left: a POST after a DELETE of the same id
 * creates, a second POST is a conflict, a DELETE after a DELETE finds
 * nothing; each result says what that change did. */
static void test_api_changes_in_order(void **state)
{
    fx_t *fx = *state;
    start(fx, "[]");
    hook_mgr_t *m = fx->node->hooks;
    hook_spec_t s;
    hook_spec_defaults(&s);
    char err[256] = "";
    snprintf(s.url, sizeof s.url, "http://127.0.0.1:%u/api", (unsigned)fx->port);
    s.events = 1u << hook_event_type_index("play.start");
    strcpy(s.id, "h1");
    assert_int_equal(hook_mgr_put(m, &s, 1, NULL, done_cb, fx, err, sizeof err), 0);
    assert_int_equal(hook_mgr_put(m, &s, 1, NULL, done_cb, fx, err, sizeof err), 0); /* queued */
    assert_int_equal(fx->ndone, 0);
    assert_true(run_until(fx, &fx->ndone, 2));
    assert_int_equal(fx->rcs[0], 0);
    assert_int_equal(fx->createds[0], 1);
    assert_int_equal(fx->rcs[1], NODE_EBUSY);
    assert_string_equal(fx->last_err, "id: hook h1 already exists");
    assert_int_equal(hook_mgr_delete(m, "h1", NULL, done_cb, fx, err, sizeof err), 0);
    assert_int_equal(hook_mgr_delete(m, "h1", NULL, done_cb, fx, err, sizeof err), 0);
    assert_int_equal(hook_mgr_put(m, &s, 1, NULL, done_cb, fx, err, sizeof err), 0);
    assert_true(run_until(fx, &fx->ndone, 5));
    assert_int_equal(fx->rcs[2], 0);
    assert_int_equal(fx->rcs[3], NODE_ENOTFOUND);
    assert_int_equal(fx->rcs[4], 0);
    assert_int_equal(fx->createds[4], 1);
    assert_non_null(hook_mgr_spec(m, "h1"));
}

static void test_bad_config_hooks(void **state)
{
    fx_t *fx = *state;
    char err[256] = "";
    snprintf(fx->node->conf.hooks_json, sizeof fx->node->conf.hooks_json,
             "[{\"id\": \"a\", \"url\": \"http://h/x\", \"events\": [\"*\"]},"
             " {\"id\": \"a\", \"url\": \"http://h/y\", \"events\": [\"*\"]}]");
    assert_null(hook_mgr_new(fx->node, err, sizeof err));
    assert_string_equal(err, "hooks[1]: id: hook a is already defined");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ordered_signed_delivery), T(test_retries_then_success),
        T(test_max_attempts_then_drop),  T(test_overflow_drops_oldest),
        T(test_timeout_then_retry),      T(test_connection_refused_counts),
        T(test_decision_allow),          T(test_decision_no_manager),
        T(test_decision_deny),           T(test_decision_timeout_policy),
        T(test_decision_several_hooks),  T(test_decision_cancel),
        T(test_decision_pending_limit),  T(test_api_put_delete),
        T(test_api_changes_in_order),    T(test_bad_config_hooks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
