/* Tag metrics: GET /metrics, the Prometheus text exposition (0.0.4). */
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "app_auth.h"
#include "common.h"
#include "conn.h"
#include "hooks.h"
#include "procmem.h"
#include "conn_limits.h"
#include "msg.h"
#include "relay.h"
#include "storage.h"
#include "tls.h"
#include "worker.h"

#define NROLES 4
#define NPROTOS 5

static const char *const PROTOS[NPROTOS] = {"rtmp", "http-flv", "ws-flv", "http-ts", "hls"};

typedef struct {
    struct evbuffer *b;
    int64_t now;
    uint64_t sessions[NROLES][NPROTOS];
    uint64_t tls_sessions[NPROTOS];
} metrics_ctx_t;

static void help(struct evbuffer *b, const char *name, const char *type, const char *text)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* One unlabelled integer sample with its HELP and TYPE lines. */
static void metric_u64(struct evbuffer *b, const char *name, const char *type, const char *text,
                       uint64_t v)
{
    help(b, name, type, text);
    evbuffer_add_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* A label value: backslash, double quote and newline escaped. */
static void label(struct evbuffer *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            evbuffer_add_printf(b, "\\%c", *v);
        else if (*v == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, v, 1);
    }
}

static int count_info(const sess_info_t *info, void *arg)
{
    metrics_ctx_t *m = arg;
    const sess_info_t si = *info;
    int p = 1; /* http-flv, and anything unknown */
    for (int i = 0; i < NPROTOS; i++)
        if (strcmp(si.protocol, PROTOS[i]) == 0)
            p = i;
    if ((unsigned)si.role < NROLES)
        m->sessions[si.role][p]++;
    m->tls_sessions[p] += si.tls ? 1 : 0;
    return 0;
}

typedef enum { PS_IN, PS_OUT, PS_PLAYERS } per_stream_t;

typedef struct {
    metrics_ctx_t *m;
    per_stream_t what;
    const char *name;
} stream_metric_t;

static void stream_line(stream_t *s, void *arg)
{
    stream_metric_t *sm = arg;
    stream_info_t si;
    stream_info(s, sm->m->now, &si);
    struct evbuffer *b = sm->m->b;
    evbuffer_add_printf(b, "%s{app=\"", sm->name);
    label(b, si.app);
    evbuffer_add(b, "\",name=\"", 8);
    label(b, si.name);
    if (sm->what == PS_PLAYERS)
        evbuffer_add_printf(b, "\"} %zu\n", si.players + si.waiters);
    else
        evbuffer_add_printf(b, "\"} %.0f\n",
                            sm->what == PS_IN ? si.bitrate_in_bps : si.bitrate_out_bps);
}

static void per_stream(metrics_ctx_t *m, node_t *node, per_stream_t what, const char *name,
                       const char *text)
{
    help(m->b, name, "gauge", text);
    stream_metric_t sm = {m, what, name};
    hub_foreach(node->hub, stream_line, &sm);
}

/* ---- per relay and per hook ------------------------------------------------- */

/* One metric with a series per relay (label id) or per hook (label hook). */
typedef struct {
    int what; /* RM_* or HM_* */
    const char *name, *type, *text;
} series_def_t;

typedef struct {
    struct evbuffer *b;
    const series_def_t *def;
    const char *key; /* the label's name */
} series_ctx_t;

/* Writes name{key="id"} and a space: the caller adds the value. */
static void series_head(const series_ctx_t *sc, const char *id)
{
    evbuffer_add_printf(sc->b, "%s{%s=\"", sc->def->name, sc->key);
    label(sc->b, id);
    evbuffer_add(sc->b, "\"} ", 3);
}

typedef enum { RM_STARTS, RM_FAILURES, RM_FAILOVERS, RM_BYTES, RM_BITRATE } relay_metric_t;

static const series_def_t RELAY_SERIES[] = {
    {RM_STARTS, "weir_relay_starts_total", "counter", "Relay links that came up, per relay."},
    {RM_FAILURES, "weir_relay_failures_total", "counter", "Relay links that failed, per relay."},
    {RM_FAILOVERS, "weir_relay_failovers_total", "counter",
     "Switches of a relay to its next URL, per relay."},
    {RM_BYTES, "weir_relay_bytes_total", "counter",
     "Bytes relayed (sent by push, received by pull), per relay."},
    {RM_BITRATE, "weir_relay_bitrate_bps", "gauge",
     "Bitrate relayed over the last 5 s in bits per second, per relay."},
};

static void relay_line(const relay_stat_t *st, void *arg)
{
    const series_ctx_t *sc = arg;
    series_head(sc, st->spec->id);
    relay_metric_t what = (relay_metric_t)sc->def->what;
    uint64_t v = what == RM_STARTS      ? st->starts
                 : what == RM_FAILURES  ? st->failures
                 : what == RM_FAILOVERS ? st->failovers
                                        : st->bytes;
    if (what == RM_BITRATE)
        evbuffer_add_printf(sc->b, "%.0f\n", st->bitrate_bps);
    else
        evbuffer_add_printf(sc->b, "%llu\n", (unsigned long long)v);
}

/* Relay totals, instances by status and per-relay counters; m may be NULL
 * (no relay manager: zeros and no per-relay lines). */
static void relay_metrics(struct evbuffer *b, const relay_mgr_t *m)
{
    relay_counts_t rc = {0};
    if (m)
        relay_mgr_counts(m, &rc);
    metric_u64(b, "weir_relays", "gauge", "Configured relays (config file and API).", rc.relays);
    help(b, "weir_relay_instances", "gauge",
         "Relay instances (one per stream of a relay) by status.");
    const struct {
        const char *status;
        size_t n;
    } st[] = {{"idle", rc.idle},
              {"connecting", rc.connecting},
              {"active", rc.active},
              {"backoff", rc.backoff},
              {"failed", rc.failed}};
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
        evbuffer_add_printf(b, "weir_relay_instances{status=\"%s\"} %zu\n", st[i].status, st[i].n);
    for (size_t i = 0; i < sizeof RELAY_SERIES / sizeof RELAY_SERIES[0]; i++) {
        series_ctx_t sc = {b, &RELAY_SERIES[i], "id"};
        help(b, sc.def->name, sc.def->type, sc.def->text);
        if (m)
            relay_mgr_foreach(m, relay_line, &sc);
    }
}

/* ---- webhooks ------------------------------------------------------------- */

typedef enum { HM_DELIVERED, HM_FAILED, HM_DROPPED, HM_RETRIES, HM_QUEUED } hook_metric_t;

static const series_def_t HOOK_SERIES[] = {
    {HM_DELIVERED, "weir_webhook_delivered_total", "counter",
     "Notifications delivered (answered 2xx), per hook."},
    {HM_FAILED, "weir_webhook_failed_total", "counter",
     "Notification attempts that failed (not 2xx, timeout, connection error), per hook."},
    {HM_DROPPED, "weir_webhook_dropped_total", "counter",
     "Notifications given up (queue overflow or attempts exhausted), per hook."},
    {HM_RETRIES, "weir_webhook_retries_total", "counter",
     "Notification attempts after the first, per hook."},
    {HM_QUEUED, "weir_webhook_queued", "gauge",
     "Notifications waiting for delivery (or in flight), per hook."},
};

static void hook_line(const hook_stat_t *st, void *arg)
{
    const series_ctx_t *sc = arg;
    hook_metric_t what = (hook_metric_t)sc->def->what;
    uint64_t v = what == HM_DELIVERED ? st->delivered
                 : what == HM_FAILED  ? st->failed
                 : what == HM_DROPPED ? st->dropped
                 : what == HM_RETRIES ? st->retries
                                      : (uint64_t)st->queued;
    series_head(sc, st->spec->id);
    evbuffer_add_printf(sc->b, "%llu\n", (unsigned long long)v);
}

/* Per-hook delivery counters and decision totals; m may be NULL (no
 * webhook manager: no per-hook lines, decisions all 0). */
static void hook_metrics(struct evbuffer *b, const hook_mgr_t *m)
{
    for (size_t i = 0; i < sizeof HOOK_SERIES / sizeof HOOK_SERIES[0]; i++) {
        series_ctx_t sc = {b, &HOOK_SERIES[i], "hook"};
        help(b, sc.def->name, sc.def->type, sc.def->text);
        if (m)
            hook_mgr_foreach(m, hook_line, &sc);
    }
    hook_decision_counts_t dc = {{0}, {0}, {0}, {0}};
    if (m)
        hook_mgr_decision_counts(m, &dc);
    help(b, "weir_webhook_decisions_total", "counter",
         "Authorizing decisions (on_publish, on_play) by result.");
    static const char *const points[2] = {"on_publish", "on_play"};
    for (int p = 0; p < 2; p++) {
        const struct {
            const char *result;
            uint64_t n;
        } res[] = {{"allow", dc.allow[p]},
                   {"deny", dc.deny[p]},
                   {"timeout_allow", dc.timeout_allow[p]},
                   {"timeout_deny", dc.timeout_deny[p]}};
        for (size_t i = 0; i < sizeof res / sizeof res[0]; i++)
            evbuffer_add_printf(b,
                                "weir_webhook_decisions_total{point=\"%s\",result=\"%s\"} %llu\n",
                                points[p], res[i].result, (unsigned long long)res[i].n);
    }
}

/* ---- per-app auth ---------------------------------------------------------- */

/* Publishes and plays refused by the "apps" rules (app_auth.h), every
 * point and reason listed (0 included). */
static void auth_metrics(struct evbuffer *b, const node_t *node)
{
    help(b, "weir_auth_refused_total", "counter",
         "Publishes and plays refused by the per-app rules (address ranges, signed URLs).");
    for (int p = 0; p < APP_AUTH_POINTS; p++)
        for (int r = APP_AUTH_OK + 1; r < APP_AUTH_NRESULTS; r++)
            evbuffer_add_printf(b, "weir_auth_refused_total{point=\"%s\",reason=\"%s\"} %llu\n",
                                app_auth_point_name((app_auth_point_t)p),
                                app_auth_reason((app_auth_result_t)r),
                                (unsigned long long)node->auth_refused[p][r]);
}

/* ---- limits ---------------------------------------------------------------- */

/* Connections, publishes and plays refused or closed by a limit, every
 * limit listed (0 included). */
static void limit_metrics(struct evbuffer *b, const node_t *node)
{
    help(b, "weir_limit_refused_total", "counter",
         "Connections, publishes and plays refused or closed by a limit (limits.*, rtmp.*, "
         "http_flv.*, player.*).");
    for (int k = 0; k < LIMIT_KINDS; k++)
        evbuffer_add_printf(
            b, "weir_limit_refused_total{limit=\"%s\"} %llu\n",
            conn_limits_kind_name((limit_kind_t)k),
            (unsigned long long)conn_limits_refused_total(node->limits, (limit_kind_t)k));
}

/* ---- TLS ------------------------------------------------------------------- */

/* Handshakes, their failures by reason, certificate reloads and the TLS
 * sessions by protocol (zeros without a TLS listener). session_metrics()
 * counted the sessions. */
static void tls_metrics(const metrics_ctx_t *m, const node_t *node)
{
    struct evbuffer *b = m->b;
    static const tls_stats_t none;
    const tls_stats_t *st = node->tls ? tls_server_stats(node->tls) : &none;
    metric_u64(b, "weir_tls_handshakes_total", "counter",
               "TLS handshakes completed on rtmps.listen, https.listen and the API (api.tls).", st->handshakes);
    metric_u64(b, "weir_tls_handshakes_in_progress", "gauge",
               "Accepted TLS connections still in their handshake (tls.max_handshakes).",
               node->tls_handshaking);
    help(b, "weir_tls_handshake_failures_total", "counter",
         "TLS handshakes that failed, by reason (not_tls: a plaintext client on a TLS port).");
    for (int k = 0; k < TLS_FAIL_KINDS; k++)
        evbuffer_add_printf(b, "weir_tls_handshake_failures_total{reason=\"%s\"} %llu\n",
                            tls_fail_name((tls_fail_t)k), (unsigned long long)st->failures[k]);
    help(b, "weir_tls_cert_reloads_total", "counter",
         "Certificate reloads (SIGHUP, POST /api/v1/node/reload-certs) by result.");
    evbuffer_add_printf(b, "weir_tls_cert_reloads_total{result=\"ok\"} %llu\n",
                        (unsigned long long)st->reloads);
    evbuffer_add_printf(b, "weir_tls_cert_reloads_total{result=\"refused\"} %llu\n",
                        (unsigned long long)st->reload_failures);
    help(b, "weir_tls_ktls_total", "counter",
         "With tls.ktls: completed handshakes whose sending the kernel took (offload=\"send\") "
         "or that stayed in user space (offload=\"none\").");
    evbuffer_add_printf(b, "weir_tls_ktls_total{offload=\"send\"} %llu\n",
                        (unsigned long long)st->ktls_send);
    evbuffer_add_printf(b, "weir_tls_ktls_total{offload=\"none\"} %llu\n",
                        (unsigned long long)st->ktls_fallback);
    help(b, "weir_tls_sessions", "gauge", "Open sessions over TLS by protocol.");
    for (int p = 0; p < NPROTOS; p++)
        evbuffer_add_printf(b, "weir_tls_sessions{protocol=\"%s\"} %llu\n", PROTOS[p],
                            (unsigned long long)m->tls_sessions[p]);
}

/* ---- node, sessions, streams ---------------------------------------------- */

/* Build, uptime, streams and the media memory bound. */
static void node_metrics(metrics_ctx_t *m, const node_t *node)
{
    struct evbuffer *b = m->b;
    help(b, "weir_build_info", "gauge", "Build information.");
    evbuffer_add_printf(b, "weir_build_info{version=\"%s\"} 1\n", WEIR_VERSION);
    help(b, "weir_uptime_seconds", "gauge", "Seconds since the node started.");
    evbuffer_add_printf(b, "weir_uptime_seconds %.3f\n", (double)(m->now - node->start_ms) / 1000);

    size_t streams, publishers, players;
    hub_counts(node->hub, &streams, &publishers, &players, NULL);
    metric_u64(b, "weir_streams", "gauge", "Streams live or in their unpublish grace period.",
               streams);
    metric_u64(b, "weir_media_memory_bytes", "gauge",
               "Bytes held by media messages (rings, cached headers, RTMP encodings).",
               msg_mem_bytes());
    metric_u64(b, "weir_media_memory_limit_bytes", "gauge",
               "limits.max_memory_mb in bytes (auto resolved); 0: no bound.",
               hub_memory_bound(node->hub));
    metric_u64(b, "weir_gop_cache_dropped_total", "counter",
               "GOP caches dropped to the live edge at stream.gop_cache_max_* or "
               "limits.max_memory_mb.",
               hub_gop_drops(node->hub));
}

/* Open sessions by role and protocol, and the node's byte and frame counts. */
static void session_metrics(metrics_ctx_t *m, node_t *node)
{
    struct evbuffer *b = m->b;
    api_foreach_session_info(node, m->now, count_info, m);
    help(b, "weir_sessions", "gauge", "Open sessions by role and protocol.");
    for (int role = 0; role < NROLES; role++)
        for (int p = 0; p < NPROTOS; p++)
            evbuffer_add_printf(b, "weir_sessions{role=\"%s\",protocol=\"%s\"} %llu\n",
                                sess_role_name((sess_role_t)role), PROTOS[p],
                                (unsigned long long)m->sessions[role][p]);

    metric_u64(b, "weir_bytes_in_total", "counter", "Bytes received from every session.",
               node->bytes_in);
    metric_u64(b, "weir_bytes_out_total", "counter", "Bytes sent to every session.",
               node->bytes_out);
    metric_u64(b, "weir_dropped_frames_total", "counter",
               "Video frames skipped for slow players (until their next key frame).",
               node->dropped_frames);
    uint64_t writes, msgs, passes, wwrites, wmsgs;
    hub_player_counts(node->hub, &writes, &msgs, &passes);
    worker_player_counts(node, &wwrites, &wmsgs); /* players on worker loops */
    writes += wwrites;
    msgs += wmsgs;
    metric_u64(b, "weir_player_writes_total", "counter",
               "Writes (writev) that carried stream media to players.", writes);
    metric_u64(b, "weir_player_messages_total", "counter",
               "Stream messages written whole to players (one per message and player).", msgs);
}

static void stream_metrics(metrics_ctx_t *m, node_t *node)
{
    per_stream(m, node, PS_IN, "weir_stream_bitrate_in_bits_per_second",
               "Bitrate received for a stream over the last 5 s.");
    per_stream(m, node, PS_OUT, "weir_stream_bitrate_out_bits_per_second",
               "Bitrate sent to a stream's players over the last 5 s.");
    per_stream(m, node, PS_PLAYERS, "weir_stream_players", "Players of a stream.");
}

/* API requests answered, by status (statuses never answered left out). */
static void request_metrics(struct evbuffer *b, const api_t *a)
{
    help(b, "weir_api_requests_total", "counter", "API requests answered, by status.");
    for (int s = 100; s < API_STATUS_MAX; s++)
        if (a->requests[s])
            evbuffer_add_printf(b, "weir_api_requests_total{status=\"%d\"} %llu\n", s,
                                (unsigned long long)a->requests[s]);
}

/* ---- storage and process ------------------------------------------------- */

static void storage_metrics(struct evbuffer *b, const node_t *node)
{
    storage_stats_t ss = {0};
    if (node->st)
        storage_stats(node->st, &ss);
    metric_u64(b, "weir_storage_write_errors_total", "counter",
               "Failed storage writes (disk full, I/O errors); streaming goes on.",
               ss.write_errors);
    metric_u64(b, "weir_events_dropped_total", "counter",
               "Events not recorded because the storage queue was full.",
               ss.events_dropped + node->events_lost);
    metric_u64(b, "weir_events_failed_total", "counter",
               "Events lost because their batch could not be written (see write errors).",
               ss.events_failed);
    metric_u64(b, "weir_storage_queue_depth", "gauge", "Storage jobs queued or running.",
               ss.queue_depth);
    metric_u64(
        b, "weir_storage_sqlite_memory_bytes", "gauge",
        "Memory SQLite holds now: its page cache (bounded by storage.cache_kb) and statements.",
        ss.sqlite_memory);
}

/* Resident memory, and the heap when glibc tells. */
static void process_metrics(struct evbuffer *b)
{
    procmem_t pm;
    procmem_read(&pm);
    metric_u64(b, "weir_process_resident_memory_bytes", "gauge", "Resident memory of the process.",
               pm.rss_bytes);
    if (pm.heap_known) {
        metric_u64(b, "weir_process_heap_in_use_bytes", "gauge",
                   "Bytes allocated with malloc and not yet freed (glibc's count).",
                   pm.heap_in_use);
        metric_u64(b, "weir_process_heap_free_bytes", "gauge",
                   "Bytes malloc keeps but has not handed out (freed or never used).",
                   pm.heap_free);
    }
}

/* ---- the route ------------------------------------------------------------- */

/* Replies with the text in b (freed here), or 500. */
static void reply_metrics(api_req_t *r, struct evbuffer *b)
{
    size_t len = evbuffer_get_length(b);
    char *text = malloc(len + 1);
    if (!text) {
        evbuffer_free(b);
        api_reply_json(r, 500, NULL);
        return;
    }
    evbuffer_remove(b, text, len);
    text[len] = '\0';
    evbuffer_free(b);
    api_reply_text(r, 200, "text/plain; version=0.0.4", text, len);
}

void api_get_metrics(api_req_t *r)
{
    api_t *a = r->api;
    node_t *node = a->node;
    metrics_ctx_t m = {.b = evbuffer_new(), .now = weir_mono_ms()};
    if (!m.b) {
        api_reply_json(r, 500, NULL);
        return;
    }
    node_metrics(&m, node);
    session_metrics(&m, node);
    stream_metrics(&m, node);
    request_metrics(m.b, a);
    storage_metrics(m.b, node);
    process_metrics(m.b);
    relay_metrics(m.b, node->relays);
    hook_metrics(m.b, node->hooks);
    auth_metrics(m.b, node);
    limit_metrics(m.b, node);
    tls_metrics(&m, node);
    api_record_metrics(m.b, node);
    metric_u64(m.b, "weir_node_draining", "gauge",
               "1 while the node is drained (no new publishers or players), else 0.",
               node->draining ? 1 : 0);
    reply_metrics(r, m.b);
}
