#include "node.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/dns.h>
#include <event2/util.h>

#include "common.h"
#include "conn.h"
#include "fdlimit.h"
#include "node_listen.h"
#include "log.h"
#include "conn_tls.h"
#include "tls.h"
#include "tls_client.h"
#include "reload.h"
#include "sdnotify.h"

#define NODE_TICK_MS 250

static void stop_tick(node_t *node, int64_t now_ms);

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node_t *node = arg;
    int64_t now = weir_mono_ms();
    conn_t *c, *next;
    uint64_t in = node->closed_bytes_in, out = node->closed_bytes_out;
    uint64_t dropped = node->closed_dropped_frames;
    for (c = TAILQ_FIRST(&node->conns); c; c = next) {
        next = TAILQ_NEXT(c, link);
        rate_sample(&c->rate_in, c->bytes_in, now);
        rate_sample(&c->rate_out, c->bytes_out, now);
        in += c->bytes_in;
        out += c->bytes_out;
        if (c->player)
            dropped += c->player->dropped_frames;
        conn_tls_tick(c, now);
        if (c->proto->on_tick && !c->closing)
            c->proto->on_tick(c, now);
    }
    node->bytes_in = in;
    node->bytes_out = out;
    node->dropped_frames = dropped;
    rate_sample(&node->rate_in, in, now);
    rate_sample(&node->rate_out, out, now);
    hub_tick(node->hub, now);
    procload_sample(&node->load, now);
    for (size_t i = 0; i < node->nmodules; i++)
        if (node->modules[i].m->tick)
            node->modules[i].m->tick(node->modules[i].arg, now);
    if (node->stopping && node->stop_deadline_ms)
        stop_tick(node, now);
    node_listen_log_refusals(node, now);
}

void node_limit_hit(node_t *node, limit_kind_t k)
{
    conn_limits_count(node->limits, k);
}

void node_conn_closed(node_t *node, conn_t *c)
{
    if (!c->outgoing) {
        /* Accepted: admitted by conn_limits_admit() from the same address. */
        conn_limits_addr_t addr;
        int has_addr = conn_limits_addr_from_remote(c->remote, &addr) == 0;
        conn_limits_release(node->limits, has_addr ? &addr : NULL);
    }
    node->closed_bytes_in += c->bytes_in;
    node->closed_bytes_out += c->bytes_out;
    sess_info_t si;
    conn_info(c, weir_mono_ms(), &si);
    node->closed_dropped_frames += si.dropped_frames;
}

void node_foreach_session(node_t *node, void (*cb)(conn_t *c, void *arg), void *arg)
{
    conn_t *c;
    TAILQ_FOREACH(c, &node->conns, link)
    cb(c, arg);
}

void node_sessions_after(node_t *node, uint64_t after, int (*cb)(conn_t *c, void *arg), void *arg)
{
    conn_t *c;
    TAILQ_FOREACH(c, &node->conns, link)
    if (c->id > after && cb(c, arg))
        return;
}

conn_t *node_find_session(node_t *node, uint64_t id)
{
    conn_t *c;
    TAILQ_FOREACH(c, &node->conns, link)
    if (c->id == id)
        return c; /* closing connections are on the reap list, not here */
    return NULL;
}

void node_set_storage(node_t *node, struct storage *st, const char *id, uint64_t last_event_id)
{
    node->st = st;
    node->id = st ? id : NULL;
    node->next_event_id = st ? last_event_id + 1 : 1;
}

const char *node_id(const node_t *node)
{
    return node->id ? node->id : "";
}

int node_drain_answer(const node_t *node, const char *target, char **header)
{
    *header = NULL;
    if (!node->drain_redirect[0]) {
        char ra[48];
        snprintf(ra, sizeof ra, "Retry-After: %u\r\n", node->drain_retry_after_s);
        *header = strdup(ra);
        return 503;
    }
    /* The redirect is a base URL: one '/' between it and the target. */
    size_t rl = strlen(node->drain_redirect);
    if (rl && node->drain_redirect[rl - 1] == '/')
        rl--;
    size_t cap = rl + strlen(target) + 16;
    char *loc = malloc(cap);
    if (!loc)
        return 503;
    snprintf(loc, cap, "Location: %.*s%s\r\n", (int)rl, node->drain_redirect, target);
    *header = loc;
    return 302;
}

void node_set_session(node_t *node, node_listener_t which, const conn_proto_t *proto,
                      void (*start)(conn_t *c))
{
    int rtmp = which == NODE_LISTENER_RTMP;
    node_accept_pause_t *p = rtmp ? &node->rtmp_pause : &node->http_pause;
    node_accept_pause_t *tp = rtmp ? &node->rtmps_pause : &node->https_pause;
    p->proto = tp->proto = proto;
    p->start = tp->start = start;
}

void node_set_event_sink(node_t *node, node_event_fn emit)
{
    node->emit = emit;
}

uint64_t node_event(node_t *node, const char *type, cJSON *fields)
{
    if (!node->emit) {
        cJSON_Delete(fields);
        return 0;
    }
    return node->emit(node, type, fields);
}

int node_add_module(node_t *node, const node_module_t *m, void *arg)
{
    if (node->nmodules == NODE_MODULES_MAX)
        return -1;
    node->modules[node->nmodules].m = m;
    node->modules[node->nmodules].arg = arg;
    node->nmodules++;
    return 0;
}

/* Calls each module's cb (a void (*)(void *) member of node_module_t), in
 * the order added. */
#define MODULES_CALL(node, cb)                                                                     \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (node)->nmodules; i_++)                                           \
            if ((node)->modules[i_].m->cb)                                                         \
                (node)->modules[i_].m->cb((node)->modules[i_].arg);                                \
    } while (0)

/* The work the modules still have before the exit. */
static size_t modules_pending(node_t *node)
{
    size_t n = 0;
    for (size_t i = 0; i < node->nmodules; i++)
        if (node->modules[i].m->pending)
            n += node->modules[i].m->pending(node->modules[i].arg);
    return n;
}

struct evdns_base *node_dns(node_t *node)
{
    if (!node->dns) {
        /* Reads /etc/resolv.conf and /etc/hosts; without a resolv.conf it
         * falls back to a local name server. */
        node->dns = evdns_base_new(node->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                                   EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (!node->dns)
            log_error(0, "cannot set up name resolution for outgoing connections");
    }
    return node->dns;
}

/* The hub has players to write (stream_flush()). Without player.merge_ms
 * the pass runs at the end of this loop iteration: an activated event goes
 * to the tail of the queue of active events, after the reads and writes
 * the poll returned. It shares their priority on purpose: a lower one would
 * wait while any socket is ready, which at saturation is always. */
static void fanout_request(void *arg)
{
    node_t *node = arg;
    if (node->fanout_pending)
        return;
    node->fanout_pending = 1;
    uint32_t ms = node->conf.player_merge_ms;
    if (ms) {
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        event_add(&node->fanout_ev, &tv);
    } else {
        event_active(&node->fanout_ev, EV_TIMEOUT, 0);
    }
}

static void fanout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node_t *node = arg;
    node->fanout_pending = 1; /* a stream_flush() from a wake waits for this pass */
    int more = hub_fanout(node->hub);
    node->fanout_pending = 0;
    if (more) {
        /* A timer of 0: due after the next poll, so the sockets ready by
         * then (joins, handshakes, the publisher) go before the rest. */
        struct timeval zero = {0, 0};
        node->fanout_pending = 1;
        event_add(&node->fanout_ev, &zero);
    }
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_reap_all(arg);
}

/* Stops accepting on every listener; with free_them, frees them. */
static void listeners_stop(node_t *node, int free_them)
{
    struct evconnlistener **lis[] = {&node->rtmp_lis, &node->http_lis, &node->rtmps_lis,
                                     &node->https_lis};
    node_accept_pause_t *pause[] = {&node->rtmp_pause, &node->http_pause, &node->rtmps_pause,
                                    &node->https_pause};
    for (size_t i = 0; i < sizeof lis / sizeof lis[0]; i++) {
        if (!*lis[i])
            continue;
        event_del(&pause[i]->ev);
        if (free_them) {
            evconnlistener_free(*lis[i]);
            *lis[i] = NULL;
        } else {
            evconnlistener_disable(*lis[i]);
        }
    }
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    node_t *node = arg;
    if (node->stopping) {
        log_info(0, "received %s again, exiting now", sig == SIGINT ? "SIGINT" : "SIGTERM");
        event_base_loopexit(node->base, NULL);
        return;
    }
    node->stopping = 1;
    sdnotify_send("STOPPING=1");
    /* The modules first (storage: the writes still to come, stop events and
     * pending API changes, share a bounded budget), then the relays go. */
    MODULES_CALL(node, stopping);
    log_info(0, "received %s, closing %zu sessions", sig == SIGINT ? "SIGINT" : "SIGTERM",
             node->nconns);
    MODULES_CALL(node, before_close);
    listeners_stop(node, 0);
    conn_t *c;
    while ((c = TAILQ_FIRST(&node->conns)) != NULL)
        conn_close(c, REASON_SHUTDOWN, "node shutting down");
    conn_reap_all(node);
    /* The sessions' stop events are queued to the webhooks: deliver them
     * (bounded by webhooks.shutdown_flush_ms; the tick checks). */
    size_t pending = modules_pending(node);
    if (pending && node->conf.webhooks_shutdown_flush_ms) {
        log_info(0, "delivering %zu webhook notifications before exiting (up to %u ms)", pending,
                 node->conf.webhooks_shutdown_flush_ms);
        node->stop_deadline_ms = weir_mono_ms() + node->conf.webhooks_shutdown_flush_ms;
        return;
    }
    event_base_loopexit(node->base, NULL);
}

/* SIGHUP reloads (reload.h); SIGUSR1 and SIGUSR2 have no use: logged and
 * ignored (their default action would kill the node). */
static void other_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    if (sig == SIGHUP) {
        node_reload(arg);
        return;
    }
    log_warn(0, "received %s, which has no use: ignored", sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
}

/* The signal events (loop thread); removed by signals_del(). */
static void signals_add(node_t *node)
{
    struct {
        struct event *ev;
        int sig;
        event_callback_fn cb;
    } const sigs[] = {
        {&node->sigint_ev, SIGINT, signal_cb},
        {&node->sigterm_ev, SIGTERM, signal_cb},
        {&node->sighup_ev, SIGHUP, other_signal_cb},
        {&node->sigusr1_ev, SIGUSR1, other_signal_cb},
        {&node->sigusr2_ev, SIGUSR2, other_signal_cb},
    };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        event_assign(sigs[i].ev, node->base, sigs[i].sig, EV_SIGNAL | EV_PERSIST, sigs[i].cb, node);
        event_add(sigs[i].ev, NULL);
    }
}

/* Back to the dispositions from before node_new() (main.c ignores SIGHUP,
 * SIGUSR1 and SIGUSR2 until then and after). */
static void signals_del(node_t *node)
{
    event_del(&node->sigint_ev);
    event_del(&node->sigterm_ev);
    event_del(&node->sighup_ev);
    event_del(&node->sigusr1_ev);
    event_del(&node->sigusr2_ev);
}

/* While stopping: exits once the webhooks are delivered or the flush time
 * is over. */
static void stop_tick(node_t *node, int64_t now_ms)
{
    size_t pending = modules_pending(node);
    if (pending && now_ms < node->stop_deadline_ms)
        return;
    if (pending)
        log_warn(0,
                 "exiting with %zu webhook notifications not delivered (they stay in the "
                 "event log)",
                 pending);
    event_base_loopexit(node->base, NULL);
}

/* rtmps.listen and https.listen, with the certificates they and api.tls use. */
static int tls_listeners(node_t *node, char *err, size_t errlen)
{
    const conf_t *conf = &node->conf;
    if (!conf->rtmps_listen[0] && !conf->https_listen[0] && !conf->api_tls)
        return 0; /* api.tls: the API listens itself (api/https.h) with these certificates */
    node->tls = tls_server_new(conf, err, errlen);
    if (!node->tls)
        return -1;
    node->rtmps_pause.tls = node->https_pause.tls = 1;
    node->rtmps_pause.which = NODE_LISTENER_RTMP;
    node->https_pause.which = NODE_LISTENER_HTTP_FLV;
    if (conf->rtmps_listen[0] &&
        !(node->rtmps_lis =
              node_listen_on(node, "rtmps", conf->rtmps_listen, &node->rtmps_pause, err, errlen)))
        return -1;
    if (conf->https_listen[0] &&
        !(node->https_lis =
              node_listen_on(node, "https", conf->https_listen, &node->https_pause, err, errlen)))
        return -1;
    return 0;
}

node_t *node_new(const conf_t *conf, char *err, size_t errlen)
{
    node_t *node = calloc(1, sizeof *node);
    if (!node) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    node->conf = *conf;
    node->fd_limit = fdlimit_apply(conf->limits_max_connections);
    node->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    node->start_ms = weir_mono_ms();
    node->start_wall_ms = weir_wall_ms();
    /* Session ids: the start time in ms, then a counter (node.h). */
    node->next_sess_id = (uint64_t)node->start_wall_ms << NODE_SESS_ID_COUNTER_BITS;
    node->next_event_id = 1;
    if (RAND_bytes(node->etag_key, sizeof node->etag_key) != 1)
        memset(node->etag_key, 0, sizeof node->etag_key); /* tags still work, per process */
    rate_init(&node->rate_in, 0, node->start_ms);
    rate_init(&node->rate_out, 0, node->start_ms);
    TAILQ_INIT(&node->conns);
    TAILQ_INIT(&node->reap);
    uint64_t seed = 0;
    evutil_secure_rng_get_bytes(&seed, sizeof seed);
    node->limits =
        conn_limits_new(conf->limits_max_connections, conf->limits_max_connections_per_address,
                        conf->limits_new_connections_per_address_per_s, seed);
    node->base = event_base_new();
    node->hub = hub_new(&node->conf, node->conf.rtmp_chunk_size);
    if (!node->base || !node->hub || !node->limits) {
        snprintf(err, errlen, "cannot create the event loop");
        node_free(node);
        return NULL;
    }
    log_info(0, "media memory bound: %llu MB (limits.max_memory_mb%s)",
             (unsigned long long)(hub_memory_bound(node->hub) >> 20),
             conf->limits_max_memory_mb ? "" : " 0: half of the memory the node may use");
    node->rtmp_lis =
        node_listen_on(node, "rtmp", conf->rtmp_listen, &node->rtmp_pause, err, errlen);
    if (!node->rtmp_lis) {
        node_free(node);
        return NULL;
    }
    node->http_pause.which = NODE_LISTENER_HTTP_FLV;
    node->http_lis =
        node_listen_on(node, "http-flv", conf->http_flv_listen, &node->http_pause, err, errlen);
    if (!node->http_lis || tls_listeners(node, err, errlen) != 0) {
        node_free(node);
        return NULL;
    }
    event_assign(&node->tick_ev, node->base, -1, EV_PERSIST, tick_cb, node);
    struct timeval tv = {0, NODE_TICK_MS * 1000};
    event_add(&node->tick_ev, &tv);
    event_assign(&node->reap_ev, node->base, -1, 0, reap_cb, node);
    event_assign(&node->fanout_ev, node->base, -1, 0, fanout_cb, node);
    hub_set_scheduler(node->hub, fanout_request, node);
    signals_add(node);
    node->events_ready = 1;
    return node;
}

int node_run(node_t *node)
{
    event_base_dispatch(node->base);
    return 0;
}

void node_free(node_t *node)
{
    if (!node)
        return;
    MODULES_CALL(node, before_close);
    conn_t *c;
    while ((c = TAILQ_FIRST(&node->conns)) != NULL)
        conn_close(c, REASON_SHUTDOWN, "node shutting down");
    conn_reap_all(node);
    MODULES_CALL(node, after_close);
    if (node->events_ready) {
        event_del(&node->tick_ev);
        event_del(&node->reap_ev);
        event_del(&node->fanout_ev);
        hub_set_scheduler(node->hub, NULL, NULL);
        signals_del(node);
    }
    listeners_stop(node, 1);
    tls_server_free(node->tls);
    tls_client_free(node->tls_client);
    if (node->reserve_fd >= 0)
        close(node->reserve_fd);
    hub_free(node->hub);
    if (node->dns)
        evdns_base_free(node->dns, 1);
    if (node->base)
        event_base_free(node->base);
    conn_limits_free(node->limits);
    free(node);
}

struct tls_client *node_tls_client(node_t *node)
{
    if (!node->tls_client)
        node->tls_client = tls_client_new(node->conf.tls_ca);
    return node->tls_client;
}

uint64_t node_new_session_id(node_t *node)
{
    return ++node->next_sess_id;
}
