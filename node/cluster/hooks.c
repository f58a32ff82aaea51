/* hooks: the webhook manager (see hooks.h).
 *
 * Requests ("calls"). Every request, notification or decision, is one
 * call_t with its own evhttp_connection (Connection: close; no reuse, so a
 * call owns everything libevent holds for it) and two events of ours: a
 * deadline timer (the hook's timeout_ms, authoritative) and a "fin" event.
 *
 * Ownership with libevent 2.1 (checked in its http.c):
 *   - evhttp_make_request() hands the request to the connection. When the
 *     request completes or fails, libevent calls our request callback and
 *     frees the request right after it returns (we never call
 *     evhttp_request_own()); on failure the callback gets NULL (after the
 *     error callback, which names the error) or, when the connect fails, a
 *     request with response code 0. The callback may even run inside
 *     evhttp_make_request() (ECONNREFUSED on loopback is reported at once).
 *   - evhttp_connection_free() frees the requests still queued on it
 *     WITHOUT calling their callbacks, and must not be called from inside
 *     one of that connection's own callbacks (libevent still uses the
 *     connection after the request callback returns).
 *   - evhttp_make_request() returning -1 may or may not have freed the
 *     request (2.1 frees it when strdup fails, not when the socket cannot
 *     be made): we never touch it again; at worst one request leaks in
 *     that out-of-memory / out-of-descriptors case.
 * So the request callback only records the result and activates "fin";
 * everything else (freeing the connection, deciding, calling the session
 * back) happens in fin's or the timer's callback, which are plain events
 * of ours. Cancelling a call (call_free) frees its connection, which drops
 * the pending request silently, and frees both events: nothing of ours is
 * referenced by libevent afterwards, whatever was pending.
 *
 * Notifications: per hook a FIFO of waiting events (at most
 * webhooks.queue_max; a new event when full drops the oldest waiting one)
 * plus the one being delivered ("cur", in flight or waiting for its retry
 * deadline, checked by hook_mgr_tick()). Payload texts are encoded once per
 * event and shared (refcounted) by every hook's queue.
 * Counters per hook: delivered (2xx), failed (attempts that got no 2xx),
 * retries (attempts after the first), dropped (events given up: queue
 * overflow or max_attempts reached).
 *
 * Decisions: one call per deciding hook, all at once; the first non-2xx
 * status denies; a timeout or failed request denies at once when the
 * point's policy is deny, else counts as an allow. The result is delivered
 * from the decision's own event, never inside hook_decide().
 */
#include "hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common.h"
#include "evlog.h"
#include "log.h"
#include "node.h"
#include "fmt.h"
#include "spec_store.h"
#include "storage.h"

#define HOOK_MAX 256               /* hooks at most (config and API) */
#define HOOK_LOG_INTERVAL_MS 10000 /* drop messages per hook at most this often */
#define HOOK_RESP_HEADERS_MAX 8192 /* a hook's answer: headers */
#define HOOK_RESP_BODY_MAX 65536   /* a hook's answer: body (ignored) */
#define HOOK_ERR_MAX 128

/* ---- types -------------------------------------------------------------- */

typedef struct call call_t;
typedef void (*call_done_fn)(call_t *c);

struct call {
    hook_mgr_t *m;
    struct evhttp_connection *evcon;
    struct event *timer; /* deadline */
    struct event *fin;   /* runs done after the request callback */
    int finished;        /* status or err is final */
    int status;          /* HTTP status, 0 when none */
    char err[HOOK_ERR_MAX];
    call_done_fn done; /* frees the call (call_free) */
    void *owner;
};

/* One event's payload, shared by the hooks' queues. */
typedef struct body {
    unsigned refs;
    uint64_t id;
    char type[32];
    size_t len;
    char text[];
} body_t;

typedef struct item {
    struct item *next;
    body_t *body;
    uint32_t attempts; /* made so far */
} item_t;

/* Rate-limited warning: one line per interval, with the count held back. */
typedef struct {
    int64_t last_ms;
    uint64_t held;
} limiter_t;

typedef struct hook {
    hook_spec_t spec;
    struct hook *next; /* sorted by id */
    hook_mgr_t *m;
    item_t *q_head, *q_tail; /* waiting */
    size_t nq;
    item_t *cur;         /* being delivered */
    call_t *call;        /* cur's request in flight, or NULL */
    int64_t retry_at_ms; /* cur waits until then (when no call) */
    uint64_t delivered, failed, dropped, retries;
    int last_status; /* 0: none */
    char last_error[HOOK_ERR_MAX];
    int64_t last_wall_ms; /* last attempt's end, 0: none */
    limiter_t overflow_log, giveup_log;
} hook_t;

/* A decision's request to one hook. */
typedef struct {
    hook_decision_t *d;
    call_t *call; /* NULL once answered */
    char hook_id[HOOK_ID_MAX];
} slot_t;

struct hook_decision {
    hook_mgr_t *m;
    hook_decision_t *prev, *next;
    int point; /* 0 on_publish, 1 on_play */
    hook_decide_cb cb;
    void *arg;
    struct event *fin; /* delivers the result */
    unsigned nslots, outstanding;
    int decided, allow, timeout; /* result once decided */
    int failed_allowed;          /* a hook failed and the policy allowed */
    int in_cb;
    char reason[192];
    slot_t slots[];
};

/* An API change waiting for its turn and its storage write (spec_store.h):
 * checked against the committed hooks at its turn, applied once committed.
 * Owned by the store; loop thread. */
typedef struct {
    spec_change_t base;
    int create_only;  /* POST: refused when the id exists */
    hook_spec_t spec; /* put: the new spec */
    hook_t *fresh;    /* a new hook made at its turn, so that applying it
                       * cannot fail; owned until settle inserts it */
} change_t;

struct hook_mgr {
    node_t *node;
    hook_t *hooks;
    size_t nhooks;
    hook_decision_t *decisions;
    size_t ndecisions;
    uint64_t next_decision;
    spec_store_t store; /* pending API changes */
    struct event *kick; /* deferred work: starting deliveries */
    uint64_t rng;
    hook_decision_counts_t counts;
};

static const char *const POINT_NAMES[] = {"on_publish", "on_play"};

/* ---- small helpers ------------------------------------------------------ */

/* Delay before attempt n+1 after n failed ones: retry_initial_ms doubled per
 * failure, capped at retry_max_ms, with jitter (a value in [d/2, d]). */
static int64_t backoff_ms(hook_mgr_t *m, uint32_t failures)
{
    const conf_t *c = &m->node->conf;
    uint64_t d = c->webhooks_retry_initial_ms;
    for (uint32_t i = 1; i < failures && d < c->webhooks_retry_max_ms; i++)
        d *= 2;
    if (d > c->webhooks_retry_max_ms)
        d = c->webhooks_retry_max_ms;
    uint64_t half = d / 2;
    return (int64_t)(d - half + (half ? spec_store_rng(&m->rng) % (half + 1) : 0));
}

/* 1 if the line may be logged now, with note set to "" or to " (N more
 * since the last message)"; else counts it as held back. */
static int limiter_pass(limiter_t *l, int64_t now_ms, char *note, size_t notelen)
{
    if (l->last_ms && now_ms - l->last_ms < HOOK_LOG_INTERVAL_MS) {
        l->held++;
        return 0;
    }
    note[0] = '\0';
    if (l->held)
        snprintf(note, notelen, " (%llu more since the last message)", (unsigned long long)l->held);
    l->held = 0;
    l->last_ms = now_ms;
    return 1;
}

static hook_t *hook_find(hook_mgr_t *m, const char *id)
{
    for (hook_t *h = m->hooks; h; h = h->next)
        if (strcmp(h->spec.id, id) == 0)
            return h;
    return NULL;
}

static void body_unref(body_t *b)
{
    if (b && --b->refs == 0)
        free(b);
}

static void item_free(item_t *it)
{
    if (!it)
        return;
    body_unref(it->body);
    free(it);
}

static void kick(hook_mgr_t *m)
{
    event_active(m->kick, EV_TIMEOUT, 1);
}

/* ---- calls -------------------------------------------------------------- */

static void call_free(call_t *c)
{
    if (!c)
        return;
    if (c->timer)
        event_free(c->timer);
    if (c->fin)
        event_free(c->fin);
    if (c->evcon)
        evhttp_connection_free(c->evcon); /* drops a pending request, no callback */
    free(c);
}

static void call_error_cb(enum evhttp_request_error e, void *arg)
{
    call_t *c = arg;
    const char *what = "request failed";
    switch (e) {
    case EVREQ_HTTP_TIMEOUT: what = "timed out"; break;
    case EVREQ_HTTP_EOF: what = "connection closed before the answer"; break;
    case EVREQ_HTTP_INVALID_HEADER: what = "invalid answer"; break;
    case EVREQ_HTTP_BUFFER_ERROR: what = "connection error"; break;
    case EVREQ_HTTP_REQUEST_CANCEL: what = "cancelled"; break;
    case EVREQ_HTTP_DATA_TOO_LONG: what = "answer too long"; break;
    }
    if (!c->err[0])
        snprintf(c->err, sizeof c->err, "%s", what);
}

/* libevent's request callback: record only (see the top of this file). */
static void call_req_cb(struct evhttp_request *req, void *arg)
{
    call_t *c = arg;
    if (c->finished)
        return;
    c->status = req ? evhttp_request_get_response_code(req) : 0;
    if (c->status <= 0) {
        c->status = 0;
        if (!c->err[0])
            snprintf(c->err, sizeof c->err, "cannot connect");
    } else {
        c->err[0] = '\0';
    }
    c->finished = 1;
    event_active(c->fin, EV_TIMEOUT, 1);
}

static void call_fin_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    call_t *c = arg;
    c->done(c);
}

static void call_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    call_t *c = arg;
    if (c->finished)
        return; /* fin is on its way */
    c->finished = 1;
    c->status = 0;
    snprintf(c->err, sizeof c->err, "timed out");
    c->done(c);
}

/* X-Weir-Signature value for body under secret: "sha256=" + hex. */
static int sign(const char *secret, const char *body, size_t len, char out[80])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, md,
              &mdlen) ||
        mdlen != 32)
        return -1;
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256=", 7);
    for (unsigned i = 0; i < mdlen; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[7 + 2 * mdlen] = '\0';
    return 0;
}

/* Starts a POST of body to spec's URL. Returns the call (done will be called
 * once, from one of our events, unless call_free() comes first), or NULL
 * with err set. */
static call_t *call_start(hook_mgr_t *m, const hook_spec_t *spec, const char *event_type,
                          const char *delivery, const char *body, size_t len, call_done_fn done,
                          void *owner, char *err, size_t errlen)
{
    url_t u;
    if (hook_spec_url(spec->url, &u, err, errlen) != 0)
        return NULL;
    char auth[URL_HOST_MAX + 16], sig[80] = "";
    if (url_authority(&u, auth, sizeof auth) < 0) {
        snprintf(err, errlen, "url: host too long");
        return NULL;
    }
    if (spec->secret[0] && sign(spec->secret, body, len, sig) != 0) {
        snprintf(err, errlen, "cannot compute the signature");
        return NULL;
    }
    call_t *c = calloc(1, sizeof *c);
    struct event_base *base = m->node->base;
    if (c) {
        c->m = m;
        c->done = done;
        c->owner = owner;
        c->timer = evtimer_new(base, call_timer_cb, c);
        c->fin = event_new(base, -1, 0, call_fin_cb, c);
        c->evcon = evhttp_connection_base_new(base, node_dns(m->node), u.host, u.port);
    }
    struct evhttp_request *req = c ? evhttp_request_new(call_req_cb, c) : NULL;
    if (!req) {
        call_free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* libevent's own timeouts are a backstop: ours fires first. */
    struct timeval backstop = {(time_t)(spec->timeout_ms / 1000 + 2), 0};
    evhttp_connection_set_timeout_tv(c->evcon, &backstop);
    evhttp_connection_set_retries(c->evcon, 0);
    evhttp_connection_set_max_headers_size(c->evcon, HOOK_RESP_HEADERS_MAX);
    evhttp_connection_set_max_body_size(c->evcon, HOOK_RESP_BODY_MAX);
    evhttp_request_set_error_cb(req, call_error_cb);
    struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
    int ok = evhttp_add_header(hd, "Host", auth) == 0 &&
             evhttp_add_header(hd, "Content-Type", "application/json") == 0 &&
             evhttp_add_header(hd, "User-Agent", "weir/" WEIR_VERSION) == 0 &&
             evhttp_add_header(hd, "Connection", "close") == 0 &&
             evhttp_add_header(hd, "X-Weir-Event", event_type) == 0 &&
             evhttp_add_header(hd, "X-Weir-Delivery", delivery) == 0 &&
             evhttp_add_header(hd, "X-Weir-Node", node_id(m->node)) == 0 &&
             (!sig[0] || evhttp_add_header(hd, "X-Weir-Signature", sig) == 0) &&
             evbuffer_add(evhttp_request_get_output_buffer(req), body, len) == 0 && c->timer &&
             c->fin && c->evcon;
    if (!ok) {
        evhttp_request_free(req); /* not handed over yet: ours */
        call_free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct timeval tv = {(time_t)(spec->timeout_ms / 1000),
                         (suseconds_t)(spec->timeout_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    /* From here the request belongs to the connection (even on -1). */
    if (evhttp_make_request(c->evcon, req, EVHTTP_REQ_POST, u.path) != 0 && !c->finished) {
        c->finished = 1;
        snprintf(c->err, sizeof c->err, "cannot start the request");
        event_active(c->fin, EV_TIMEOUT, 1);
    }
    return c;
}

static int status_ok(int status)
{
    return status >= 200 && status <= 299;
}

/* "HTTP 503" or the error text, for logs and state. */
static void call_result(const call_t *c, char *out, size_t outlen)
{
    if (c->status)
        snprintf(out, outlen, "HTTP %d", c->status);
    else
        snprintf(out, outlen, "%s", c->err[0] ? c->err : "failed");
}

/* ---- notifications ------------------------------------------------------ */

static void hook_pump(hook_t *h, int64_t now_ms);

static void notify_done(call_t *c)
{
    hook_t *h = c->owner;
    hook_mgr_t *m = h->m;
    int64_t now = weir_mono_ms();
    h->call = NULL;
    h->last_status = c->status;
    h->last_wall_ms = weir_wall_ms();
    item_t *it = h->cur;
    if (status_ok(c->status)) {
        h->last_error[0] = '\0';
        h->delivered++;
        h->cur = NULL;
        item_free(it);
    } else {
        call_result(c, h->last_error, sizeof h->last_error);
        h->failed++;
        if (it->attempts >= m->node->conf.webhooks_max_attempts) {
            char note[64];
            h->dropped++;
            if (limiter_pass(&h->giveup_log, now, note, sizeof note))
                log_warn(0, "webhook %s: event %llu (%s) dropped after %u attempts: %s%s",
                         h->spec.id, (unsigned long long)it->body->id, it->body->type,
                         (unsigned)it->attempts, h->last_error, note);
            h->cur = NULL;
            item_free(it);
        } else {
            h->retry_at_ms = now + backoff_ms(m, it->attempts);
            log_debug(0, "webhook %s: event %llu attempt %u failed: %s", h->spec.id,
                      (unsigned long long)it->body->id, (unsigned)it->attempts, h->last_error);
        }
    }
    call_free(c);
    hook_pump(h, now);
}

/* Starts the next attempt when nothing is in flight and cur's time came. */
static void hook_pump(hook_t *h, int64_t now_ms)
{
    while (!h->call) {
        if (!h->cur) {
            item_t *it = h->q_head;
            if (!it)
                return;
            h->q_head = it->next;
            if (!h->q_head)
                h->q_tail = NULL;
            h->nq--;
            it->next = NULL;
            h->cur = it;
            h->retry_at_ms = 0;
        }
        if (h->retry_at_ms > now_ms)
            return;
        item_t *it = h->cur;
        char delivery[24], err[HOOK_ERR_MAX];
        snprintf(delivery, sizeof delivery, "%llu", (unsigned long long)it->body->id);
        it->attempts++;
        if (it->attempts > 1)
            h->retries++;
        h->call = call_start(h->m, &h->spec, it->body->type, delivery, it->body->text,
                             it->body->len, notify_done, h, err, sizeof err);
        if (h->call)
            return;
        /* Could not even start: a failed attempt, retried later. */
        h->failed++;
        snprintf(h->last_error, sizeof h->last_error, "%s", err);
        h->last_status = 0;
        if (it->attempts >= h->m->node->conf.webhooks_max_attempts) {
            h->dropped++;
            log_warn(0, "webhook %s: event %llu dropped: %s", h->spec.id,
                     (unsigned long long)it->body->id, err);
            h->cur = NULL;
            item_free(it);
            continue;
        }
        h->retry_at_ms = now_ms + backoff_ms(h->m, it->attempts);
        return;
    }
}

static void hook_enqueue(hook_t *h, body_t *b, int64_t now_ms)
{
    item_t *it = calloc(1, sizeof *it);
    if (!it) {
        h->dropped++;
        log_warn(0, "webhook %s: event %llu dropped: out of memory", h->spec.id,
                 (unsigned long long)b->id);
        return;
    }
    it->body = b;
    b->refs++;
    uint32_t max = h->m->node->conf.webhooks_queue_max;
    if (h->nq >= max && h->q_head) {
        item_t *old = h->q_head;
        h->q_head = old->next;
        if (!h->q_head)
            h->q_tail = NULL;
        h->nq--;
        h->dropped++;
        char note[64];
        if (limiter_pass(&h->overflow_log, now_ms, note, sizeof note))
            log_warn(0,
                     "webhook %s: queue full (%u waiting): dropped the oldest, event %llu (%s)%s",
                     h->spec.id, (unsigned)max, (unsigned long long)old->body->id, old->body->type,
                     note);
        item_free(old);
    }
    if (h->q_tail)
        h->q_tail->next = it;
    else
        h->q_head = it;
    h->q_tail = it;
    h->nq++;
}

void hook_mgr_notify(hook_mgr_t *m, const char *type, const cJSON *payload)
{
    if (!m || !type || !payload)
        return;
    int any = 0;
    for (hook_t *h = m->hooks; h && !any; h = h->next)
        any = h->spec.enabled && hook_spec_wants(&h->spec, type);
    if (!any)
        return;
    char *text = cJSON_PrintUnformatted(payload);
    size_t len = text ? strlen(text) : 0;
    body_t *b = text ? malloc(sizeof *b + len + 1) : NULL;
    if (!b) {
        cJSON_free(text);
        log_warn(0, "webhooks: %s not delivered: out of memory", type);
        return;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(payload, "id");
    b->refs = 1; /* ours until the loop ends */
    b->id = cJSON_IsNumber(id) && id->valuedouble > 0 ? (uint64_t)id->valuedouble : 0;
    snprintf(b->type, sizeof b->type, "%s", type);
    b->len = len;
    memcpy(b->text, text, len + 1);
    cJSON_free(text);
    int64_t now = weir_mono_ms();
    for (hook_t *h = m->hooks; h; h = h->next)
        if (h->spec.enabled && hook_spec_wants(&h->spec, type))
            hook_enqueue(h, b, now);
    body_unref(b);
    kick(m); /* deliveries start from the loop, not inside the emitter */
}

size_t hook_mgr_pending(const hook_mgr_t *m)
{
    size_t n = 0;
    for (const hook_t *h = m ? m->hooks : NULL; h; h = h->next)
        n += h->nq + (h->cur ? 1 : 0);
    return n;
}

void hook_mgr_tick(hook_mgr_t *m, int64_t now_ms)
{
    if (!m)
        return;
    for (hook_t *h = m->hooks; h; h = h->next)
        if (h->cur && !h->call && h->retry_at_ms <= now_ms)
            hook_pump(h, now_ms);
}

/* ---- hooks: add, replace, remove ---------------------------------------- */

static void hook_destroy(hook_t *h)
{
    if (!h)
        return;
    call_free(h->call);
    item_free(h->cur);
    item_t *it;
    while ((it = h->q_head) != NULL) {
        h->q_head = it->next;
        item_free(it);
    }
    free(h);
}

static hook_t *hook_new(hook_mgr_t *m, const hook_spec_t *spec)
{
    hook_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->spec = *spec;
    h->m = m;
    return h;
}

static void hook_insert(hook_mgr_t *m, hook_t *h)
{
    hook_t **pp = &m->hooks;
    while (*pp && strcmp((*pp)->spec.id, h->spec.id) < 0)
        pp = &(*pp)->next;
    h->next = *pp;
    *pp = h;
    m->nhooks++;
}

static hook_t *hook_add(hook_mgr_t *m, const hook_spec_t *spec)
{
    hook_t *h = hook_new(m, spec);
    if (h)
        hook_insert(m, h);
    return h;
}

static void hook_remove(hook_mgr_t *m, const char *id)
{
    for (hook_t **pp = &m->hooks; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->spec.id, id) == 0) {
            hook_t *h = *pp;
            *pp = h->next;
            m->nhooks--;
            hook_destroy(h);
            return;
        }
    }
}

/* spec_load_fn: one config-file or stored hook. */
static int load_one(void *owner, const cJSON *obj, int from_config, char *err, size_t errlen)
{
    hook_mgr_t *m = owner;
    hook_spec_t spec;
    if (hook_spec_from_json(obj, &spec, err, errlen) != 0)
        return -1;
    spec.source = from_config ? HOOK_SRC_CONFIG : HOOK_SRC_API;
    if (!spec.id[0]) {
        snprintf(err, errlen, "id: missing");
        return -1;
    }
    if (hook_find(m, spec.id)) {
        snprintf(err, errlen, "id: hook %s is already defined%s", spec.id,
                 from_config ? "" : " in the config file");
        return -1;
    }
    if (m->nhooks >= HOOK_MAX || !hook_add(m, &spec)) {
        snprintf(err, errlen, "too many hooks or out of memory");
        return -1;
    }
    return 0;
}

static void kick_cb(evutil_socket_t fd, short what, void *arg);
static int change_prepare(void *owner, spec_change_t *base, cJSON **spec, char *err, size_t errlen);
static void change_settle(void *owner, spec_change_t *base, int rc);
static void change_release(spec_change_t *base);

static const spec_store_ops_t STORE_OPS = {storage_hook_put, storage_hook_delete, change_prepare,
                                           change_settle,    change_release,      sizeof(change_t)};

hook_mgr_t *hook_mgr_new(node_t *node, char *err, size_t errlen)
{
    hook_mgr_t *m = calloc(1, sizeof *m);
    if (!m || !(m->kick = event_new(node->base, -1, 0, kick_cb, m)) ||
        spec_store_init(&m->store, node->base, node->st, &STORE_OPS, m) != 0) {
        if (m && m->kick)
            event_free(m->kick);
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->node = node;
    m->rng = ((uint64_t)weir_wall_ms() << 16) ^ (uint64_t)getpid() ^ 0xD1B54A32D192ED03ULL;
    /* Config-file hooks, then the API hooks from SQLite. */
    const storage_hook_t *rows = NULL;
    size_t nrows = node->st ? storage_hooks(node->st, &rows) : 0;
    if (spec_store_load(node->conf.hooks_json, "hooks", "hook", rows, nrows, load_one, m, err,
                        errlen) != 0) {
        hook_mgr_free(m);
        return NULL;
    }
    if (m->nhooks)
        log_info(0, "webhooks: %zu hooks loaded", m->nhooks);
    return m;
}

static void decision_free(hook_decision_t *d);

void hook_mgr_free(hook_mgr_t *m)
{
    if (!m)
        return;
    while (m->decisions)
        decision_free(m->decisions);
    hook_t *h;
    while ((h = m->hooks) != NULL) {
        m->hooks = h->next;
        hook_destroy(h);
    }
    /* Changes still waiting for storage: their done still comes (the write
     * may commit) but nothing is applied; local ones end now. */
    spec_store_close(&m->store);
    event_free(m->kick);
    free(m);
}

/* ---- changes from the API ----------------------------------------------- */

/* spec_store prepare: nothing else is in flight, so the hooks are what is
 * committed. */
static int change_prepare(void *owner, spec_change_t *base, cJSON **spec, char *err, size_t errlen)
{
    hook_mgr_t *m = owner;
    change_t *ch = (change_t *)base;
    hook_t *h = hook_find(m, base->id);
    if (!h && base->del) {
        snprintf(err, errlen, "no hook %s", base->id);
        return NODE_ENOTFOUND;
    }
    if (h && h->spec.source == HOOK_SRC_CONFIG)
        return spec_store_read_only("hook", base->id, err, errlen);
    if (base->del)
        return 0;
    if (h && ch->create_only) {
        snprintf(err, errlen, "id: hook %s already exists", base->id);
        return NODE_EBUSY;
    }
    if (!h && m->nhooks >= HOOK_MAX) {
        snprintf(err, errlen, "too many hooks (%d)", HOOK_MAX);
        return NODE_ELIMIT;
    }
    if (!h && !(ch->fresh = hook_new(m, &ch->spec))) {
        snprintf(err, errlen, "out of memory");
        return NODE_ENOMEM;
    }
    base->created = !h;
    base->spec = &ch->spec;
    *spec = hook_spec_to_storage_json(&ch->spec);
    return 0;
}

/* spec_store settle: a committed change is applied (it cannot fail: a new
 * hook was made at prepare); a failed one changed nothing. */
static void change_settle(void *owner, spec_change_t *base, int rc)
{
    hook_mgr_t *m = owner;
    change_t *ch = (change_t *)base;
    const char *id = base->id;
    if (rc != 0) {
        log_warn(0, "webhook %s: change not stored (storage write failed); nothing changed", id);
        return;
    }
    if (base->del) {
        hook_remove(m, id);
        log_info(0, "webhook %s deleted over the API", id);
        return;
    }
    hook_t *h = hook_find(m, id);
    if (h) {
        h->spec = ch->spec; /* queue and counters kept */
    } else if (ch->fresh) {
        hook_insert(m, ch->fresh);
        ch->fresh = NULL;
    } else { /* not reached: prepare made it, and only settle adds hooks */
        log_error(0, "webhook %s: stored but not applied: no hook made for it", id);
        return;
    }
    log_info(0, "webhook %s %s over the API", id, base->created ? "created" : "replaced");
}

static void change_release(spec_change_t *base)
{
    hook_destroy(((change_t *)base)->fresh);
}

int hook_mgr_put(hook_mgr_t *m, const hook_spec_t *spec, int create_only, hook_done_cb done,
                 void *arg, char *err, size_t errlen)
{
    if (!spec->id[0] || hook_spec_validate(spec, err, errlen) != 0)
        return NODE_EINVAL;
    change_t *ch =
        (change_t *)spec_store_change_new(&m->store, 0, spec->id, done, arg, err, errlen);
    if (!ch)
        return NODE_ENOMEM;
    ch->create_only = create_only;
    ch->spec = *spec;
    ch->spec.source = HOOK_SRC_API;
    return spec_store_submit(&m->store, &ch->base, err, errlen);
}

int hook_mgr_delete(hook_mgr_t *m, const char *id, hook_done_cb done, void *arg, char *err,
                    size_t errlen)
{
    spec_change_t *ch = spec_store_change_new(&m->store, 1, id, done, arg, err, errlen);
    return ch ? spec_store_submit(&m->store, ch, err, errlen) : NODE_ENOMEM;
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hook_mgr_t *m = arg;
    int64_t now = weir_mono_ms();
    for (hook_t *h = m->hooks; h; h = h->next)
        hook_pump(h, now);
}

size_t hook_mgr_changes_waiting(const hook_mgr_t *m)
{
    return m ? m->store.count : 0;
}

const hook_spec_t *hook_mgr_spec(hook_mgr_t *m, const char *id)
{
    hook_t *h = m ? hook_find(m, id) : NULL;
    return h ? &h->spec : NULL;
}

static int id_taken(void *owner, const char *id)
{
    return hook_find(owner, id) != NULL;
}

void hook_mgr_new_id(hook_mgr_t *m, char out[HOOK_ID_MAX])
{
    spec_store_new_id(out, HOOK_ID_MAX, "h-", &m->rng, id_taken, m);
}

/* ---- rendering and counters --------------------------------------------- */

static cJSON *render_hook(const hook_t *h)
{
    cJSON *o = hook_spec_to_json(&h->spec);
    if (!o)
        return NULL;
    char when[40];
    if (h->last_wall_ms)
        fmt_time(h->last_wall_ms, when, sizeof when);
    int ok = cJSON_AddNumberToObject(o, "queued", (double)(h->nq + (h->cur != NULL))) &&
             cJSON_AddNumberToObject(o, "delivered", (double)h->delivered) &&
             cJSON_AddNumberToObject(o, "failed", (double)h->failed) &&
             cJSON_AddNumberToObject(o, "dropped", (double)h->dropped) &&
             cJSON_AddNumberToObject(o, "retries", (double)h->retries) &&
             (h->last_status ? cJSON_AddNumberToObject(o, "last_status", h->last_status)
                             : cJSON_AddNullToObject(o, "last_status")) &&
             (h->last_error[0] ? cJSON_AddStringToObject(o, "last_error", h->last_error)
                               : cJSON_AddNullToObject(o, "last_error")) &&
             (h->last_wall_ms ? cJSON_AddStringToObject(o, "last_delivery_at", when)
                              : cJSON_AddNullToObject(o, "last_delivery_at"));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *hook_mgr_render(hook_mgr_t *m, const char *id)
{
    hook_t *h = m ? hook_find(m, id) : NULL;
    return h ? render_hook(h) : NULL;
}

cJSON *hook_render_spec(const hook_spec_t *spec)
{
    hook_t h;
    memset(&h, 0, sizeof h);
    h.spec = *spec;
    return render_hook(&h);
}

cJSON *hook_mgr_render_all(hook_mgr_t *m)
{
    cJSON *arr = cJSON_CreateArray();
    for (hook_t *h = m ? m->hooks : NULL; arr && h; h = h->next) {
        cJSON *o = render_hook(h);
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

void hook_mgr_foreach(const hook_mgr_t *m, void (*cb)(const hook_stat_t *st, void *arg), void *arg)
{
    for (const hook_t *h = m ? m->hooks : NULL; h; h = h->next) {
        hook_stat_t st = {&h->spec,  h->nq + (h->cur != NULL), h->delivered, h->failed, h->dropped,
                          h->retries};
        cb(&st, arg);
    }
}

void hook_mgr_decision_counts(const hook_mgr_t *m, hook_decision_counts_t *out)
{
    if (m)
        *out = m->counts;
    else
        memset(out, 0, sizeof *out);
}

/* ---- decisions ---------------------------------------------------------- */

int hook_timeout_allows(const node_t *node, const char *point)
{
    if (point && strcmp(point, POINT_NAMES[0]) == 0)
        return node->conf.webhooks_on_publish_timeout_allow != 0;
    if (point && strcmp(point, POINT_NAMES[1]) == 0)
        return node->conf.webhooks_on_play_timeout_allow != 0;
    return 0;
}

static void decision_unlink(hook_decision_t *d)
{
    hook_mgr_t *m = d->m;
    if (d->prev)
        d->prev->next = d->next;
    else
        m->decisions = d->next;
    if (d->next)
        d->next->prev = d->prev;
    m->ndecisions--;
}

/* Cancels what is still in flight and frees d (no callback). */
static void decision_free(hook_decision_t *d)
{
    for (unsigned i = 0; i < d->nslots; i++) {
        call_free(d->slots[i].call);
        d->slots[i].call = NULL;
    }
    if (d->fin)
        event_free(d->fin);
    decision_unlink(d);
    free(d);
}

/* Sets the result (first one wins) and schedules its delivery. */
static void decision_settle(hook_decision_t *d, int allow, int timeout, const char *reason)
{
    if (d->decided)
        return;
    d->decided = 1;
    d->allow = allow;
    d->timeout = timeout;
    if (reason != d->reason)
        snprintf(d->reason, sizeof d->reason, "%s", reason);
    for (unsigned i = 0; i < d->nslots; i++) {
        call_free(d->slots[i].call); /* the others' answers no longer matter */
        d->slots[i].call = NULL;
    }
    event_active(d->fin, EV_TIMEOUT, 1);
}

/* A hook failed (timeout, no connection, no answer): the point's policy. */
static void decision_hook_failed(hook_decision_t *d, const char *hook_id, const char *what)
{
    char reason[192];
    int allow = hook_timeout_allows(d->m->node, POINT_NAMES[d->point]);
    snprintf(reason, sizeof reason, "hook %s %s: %s by policy", hook_id, what,
             allow ? "allowed" : "denied");
    if (!allow) {
        decision_settle(d, 0, 1, reason);
        return;
    }
    if (!d->failed_allowed)
        snprintf(d->reason, sizeof d->reason, "%s", reason);
    d->failed_allowed = 1;
    if (--d->outstanding == 0)
        decision_settle(d, 1, 1, d->reason);
}

static void decision_call_done(call_t *c)
{
    slot_t *s = c->owner;
    hook_decision_t *d = s->d;
    s->call = NULL;
    if (status_ok(c->status)) {
        call_free(c);
        if (--d->outstanding == 0)
            decision_settle(d, 1, d->failed_allowed, d->failed_allowed ? d->reason : "allowed");
        return;
    }
    char what[HOOK_ERR_MAX + 16];
    if (c->status) {
        snprintf(what, sizeof what, "denied by hook %s (HTTP %d)", s->hook_id, c->status);
        call_free(c);
        decision_settle(d, 0, 0, what);
        return;
    }
    const char *e = c->err[0] ? c->err : "no answer";
    if (strcmp(e, "timed out") == 0)
        snprintf(what, sizeof what, "%s", e);
    else
        snprintf(what, sizeof what, "failed (%s)", e);
    call_free(c);
    log_warn(0, "webhook %s: %s %s", s->hook_id, POINT_NAMES[d->point], what);
    decision_hook_failed(d, s->hook_id, what);
}

static void decision_fin_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hook_decision_t *d = arg;
    hook_mgr_t *m = d->m;
    int p = d->point;
    if (d->allow)
        (d->timeout ? m->counts.timeout_allow : m->counts.allow)[p]++;
    else
        (d->timeout ? m->counts.timeout_deny : m->counts.deny)[p]++;
    d->in_cb = 1; /* a cancel from inside cb is a no-op: d is freed below */
    d->cb(d->arg, d->allow, d->reason);
    decision_free(d);
}

/* The request body: {"id", "type", "node_id", "time", ...fields}. */
static char *decision_body(hook_mgr_t *m, const char *id, const char *point, cJSON *fields)
{
    cJSON *o =
        evlog_payload(cJSON_CreateString(id), point, node_id(m->node), weir_wall_ms(), fields);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

int hook_decide(hook_mgr_t *m, const char *point, cJSON *fields, hook_decide_cb cb, void *arg,
                hook_decision_t **out)
{
    *out = NULL;
    int p = point && strcmp(point, POINT_NAMES[0]) == 0   ? 0
            : point && strcmp(point, POINT_NAMES[1]) == 0 ? 1
                                                          : -1;
    unsigned n = 0;
    for (hook_t *h = m && p >= 0 ? m->hooks : NULL; h; h = h->next)
        n += h->spec.enabled && hook_spec_decides(&h->spec, point);
    if (n == 0) {
        cJSON_Delete(fields);
        return 0;
    }
    if (m->ndecisions >= m->node->conf.webhooks_max_pending_decisions) {
        cJSON_Delete(fields);
        (hook_timeout_allows(m->node, point) ? m->counts.timeout_allow
                                             : m->counts.timeout_deny)[p]++;
        return NODE_ELIMIT;
    }
    char id[32];
    snprintf(id, sizeof id, "d-%llu", (unsigned long long)++m->next_decision);
    char *body = decision_body(m, id, point, fields); /* fields taken */
    hook_decision_t *d = body ? calloc(1, sizeof *d + n * sizeof(slot_t)) : NULL;
    if (d)
        d->fin = event_new(m->node->base, -1, 0, decision_fin_cb, d);
    if (!d || !d->fin) {
        free(d);
        cJSON_free(body);
        (hook_timeout_allows(m->node, point) ? m->counts.timeout_allow
                                             : m->counts.timeout_deny)[p]++;
        return NODE_ENOMEM;
    }
    d->m = m;
    d->point = p;
    d->cb = cb;
    d->arg = arg;
    d->nslots = n;
    d->outstanding = n;
    d->next = m->decisions;
    if (m->decisions)
        m->decisions->prev = d;
    m->decisions = d;
    m->ndecisions++;
    unsigned i = 0;
    size_t len = strlen(body);
    for (hook_t *h = m->hooks; h && i < n; h = h->next) {
        if (!h->spec.enabled || !hook_spec_decides(&h->spec, point))
            continue;
        slot_t *s = &d->slots[i++];
        s->d = d;
        snprintf(s->hook_id, sizeof s->hook_id, "%s", h->spec.id);
    }
    /* Start every request; a failure to start counts as a failed hook (the
     * result is delivered from d->fin, never here). */
    i = 0;
    for (hook_t *h = m->hooks; h && i < n && !d->decided; h = h->next) {
        if (!h->spec.enabled || !hook_spec_decides(&h->spec, point))
            continue;
        slot_t *s = &d->slots[i++];
        char err[HOOK_ERR_MAX];
        s->call =
            call_start(m, &h->spec, point, id, body, len, decision_call_done, s, err, sizeof err);
        if (!s->call) {
            log_warn(0, "webhook %s: %s: %s", h->spec.id, point, err);
            decision_hook_failed(d, h->spec.id, "failed (cannot start the request)");
        }
    }
    cJSON_free(body);
    *out = d;
    return 0;
}

void hook_decision_cancel(hook_decision_t *d)
{
    if (!d || d->in_cb)
        return;
    decision_free(d);
}

static void hook_module_tick(void *arg, int64_t now_ms)
{
    node_t *node = arg;
    hook_mgr_tick(node->hooks, now_ms);
}

static size_t hook_module_pending(void *arg)
{
    node_t *node = arg;
    return hook_mgr_pending(node->hooks);
}

/* After the sessions: they cancel their pending decisions. */
static void hook_module_close(void *arg)
{
    node_t *node = arg;
    hook_mgr_free(node->hooks);
    node->hooks = NULL;
}

static const node_module_t HOOK_MODULE = {.name = "webhooks",
                                          .tick = hook_module_tick,
                                          .pending = hook_module_pending,
                                          .after_close = hook_module_close};

int hook_mgr_start(node_t *node, char *err, size_t errlen)
{
    node->hooks = hook_mgr_new(node, err, errlen);
    if (!node->hooks)
        return -1;
    if (node_add_module(node, &HOOK_MODULE, node) != 0) {
        hook_module_close(node);
        snprintf(err, errlen, "too many node modules");
        return -1;
    }
    return 0;
}
