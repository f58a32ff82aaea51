/* Tag metrics: GET /metrics, the Prometheus text exposition (0.0.4). */
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "common.h"
#include "conn.h"
#include "relay.h"
#include "storage.h"

#define NROLES 4
#define NPROTOS 2

static const char *const PROTOS[NPROTOS] = {"rtmp", "http-flv"};

typedef struct {
    struct evbuffer *b;
    int64_t now;
    uint64_t sessions[NROLES][NPROTOS];
} metrics_ctx_t;

static void help(struct evbuffer *b, const char *name, const char *type, const char *text)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
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

static void count_session(conn_t *c, void *arg)
{
    metrics_ctx_t *m = arg;
    sess_info_t si;
    conn_info(c, m->now, &si);
    int p = strcmp(si.protocol, PROTOS[0]) == 0 ? 0 : 1;
    if ((unsigned)si.role < NROLES)
        m->sessions[si.role][p]++;
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

/* ---- relays ---------------------------------------------------------------- */

typedef enum { RM_STARTS, RM_FAILURES, RM_FAILOVERS, RM_BYTES, RM_BITRATE } relay_metric_t;

typedef struct {
    struct evbuffer *b;
    relay_metric_t what;
    const char *name;
} relay_line_t;

static void relay_line(const relay_stat_t *st, void *arg)
{
    relay_line_t *rl = arg;
    evbuffer_add_printf(rl->b, "%s{id=\"", rl->name);
    label(rl->b, st->spec->id);
    evbuffer_add(rl->b, "\"} ", 3);
    switch (rl->what) {
    case RM_STARTS: evbuffer_add_printf(rl->b, "%llu\n", (unsigned long long)st->starts); break;
    case RM_FAILURES: evbuffer_add_printf(rl->b, "%llu\n", (unsigned long long)st->failures); break;
    case RM_FAILOVERS:
        evbuffer_add_printf(rl->b, "%llu\n", (unsigned long long)st->failovers);
        break;
    case RM_BYTES: evbuffer_add_printf(rl->b, "%llu\n", (unsigned long long)st->bytes); break;
    case RM_BITRATE: evbuffer_add_printf(rl->b, "%.0f\n", st->bitrate_bps); break;
    }
}

static void per_relay(struct evbuffer *b, const relay_mgr_t *m, relay_metric_t what,
                      const char *name, const char *type, const char *text)
{
    help(b, name, type, text);
    relay_line_t rl = {b, what, name};
    if (m)
        relay_mgr_foreach(m, relay_line, &rl);
}

/* Relay totals, instances by status and per-relay counters; m may be NULL
 * (no relay manager: zeros and no per-relay lines). */
static void relay_metrics(struct evbuffer *b, const relay_mgr_t *m)
{
    relay_counts_t rc = {0};
    if (m)
        relay_mgr_counts(m, &rc);
    help(b, "weir_relays", "gauge", "Configured relays (config file and API).");
    evbuffer_add_printf(b, "weir_relays %zu\n", rc.relays);
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
    per_relay(b, m, RM_STARTS, "weir_relay_starts_total", "counter",
              "Relay links that came up, per relay.");
    per_relay(b, m, RM_FAILURES, "weir_relay_failures_total", "counter",
              "Relay links that failed, per relay.");
    per_relay(b, m, RM_FAILOVERS, "weir_relay_failovers_total", "counter",
              "Switches of a relay to its next URL, per relay.");
    per_relay(b, m, RM_BYTES, "weir_relay_bytes_total", "counter",
              "Bytes relayed (sent by push, received by pull), per relay.");
    per_relay(b, m, RM_BITRATE, "weir_relay_bitrate_bps", "gauge",
              "Bitrate relayed over the last 5 s in bits per second, per relay.");
}

void api_get_metrics(api_req_t *r)
{
    api_t *a = r->api;
    node_t *node = a->node;
    metrics_ctx_t m = {evbuffer_new(), weir_mono_ms(), {{0}}};
    if (!m.b) {
        api_reply_json(r, 500, NULL);
        return;
    }
    struct evbuffer *b = m.b;
    help(b, "weir_build_info", "gauge", "Build information.");
    evbuffer_add_printf(b, "weir_build_info{version=\"%s\"} 1\n", WEIR_VERSION);
    help(b, "weir_uptime_seconds", "gauge", "Seconds since the node started.");
    evbuffer_add_printf(b, "weir_uptime_seconds %.3f\n", (double)(m.now - node->start_ms) / 1000);

    size_t streams, publishers, players;
    hub_counts(node->hub, &streams, &publishers, &players);
    help(b, "weir_streams", "gauge", "Streams live or in their unpublish grace period.");
    evbuffer_add_printf(b, "weir_streams %zu\n", streams);

    node_foreach_session(node, count_session, &m);
    help(b, "weir_sessions", "gauge", "Open sessions by role and protocol.");
    for (int role = 0; role < NROLES; role++)
        for (int p = 0; p < NPROTOS; p++)
            evbuffer_add_printf(b, "weir_sessions{role=\"%s\",protocol=\"%s\"} %llu\n",
                                sess_role_name((sess_role_t)role), PROTOS[p],
                                (unsigned long long)m.sessions[role][p]);

    help(b, "weir_bytes_in_total", "counter", "Bytes received from every session.");
    evbuffer_add_printf(b, "weir_bytes_in_total %llu\n", (unsigned long long)node->bytes_in);
    help(b, "weir_bytes_out_total", "counter", "Bytes sent to every session.");
    evbuffer_add_printf(b, "weir_bytes_out_total %llu\n", (unsigned long long)node->bytes_out);
    help(b, "weir_dropped_frames_total", "counter",
         "Video frames skipped for slow players (until their next key frame).");
    evbuffer_add_printf(b, "weir_dropped_frames_total %llu\n",
                        (unsigned long long)node->dropped_frames);

    per_stream(&m, node, PS_IN, "weir_stream_bitrate_in_bits_per_second",
               "Bitrate received for a stream over the last 5 s.");
    per_stream(&m, node, PS_OUT, "weir_stream_bitrate_out_bits_per_second",
               "Bitrate sent to a stream's players over the last 5 s.");
    per_stream(&m, node, PS_PLAYERS, "weir_stream_players", "Players of a stream.");

    help(b, "weir_api_requests_total", "counter", "API requests answered, by status.");
    for (int s = 100; s < API_STATUS_MAX; s++)
        if (a->requests[s])
            evbuffer_add_printf(b, "weir_api_requests_total{status=\"%d\"} %llu\n", s,
                                (unsigned long long)a->requests[s]);

    storage_stats_t ss = {0};
    if (node->st)
        storage_stats(node->st, &ss);
    help(b, "weir_storage_write_errors_total", "counter",
         "Failed storage writes (disk full, I/O errors); streaming goes on.");
    evbuffer_add_printf(b, "weir_storage_write_errors_total %llu\n",
                        (unsigned long long)ss.write_errors);
    help(b, "weir_events_dropped_total", "counter",
         "Events not recorded because the storage queue was full.");
    evbuffer_add_printf(b, "weir_events_dropped_total %llu\n",
                        (unsigned long long)(ss.events_dropped + node->events_lost));
    help(b, "weir_events_failed_total", "counter",
         "Events lost because their batch could not be written (see write errors).");
    evbuffer_add_printf(b, "weir_events_failed_total %llu\n", (unsigned long long)ss.events_failed);
    help(b, "weir_storage_queue_depth", "gauge", "Storage jobs queued or running.");
    evbuffer_add_printf(b, "weir_storage_queue_depth %llu\n", (unsigned long long)ss.queue_depth);

    relay_metrics(b, node->relays);

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
    api_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
