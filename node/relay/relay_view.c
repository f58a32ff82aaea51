/* relay_view: snapshots of the relays for the API (relay_view_t, see
 * relay.h) and the counters /metrics and the node's summary read. Nothing
 * here builds JSON: api/render_relays.c turns views into the API's objects.
 * Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "conn.h"
#include "relay_internal.h"

const char *relay_status_name(relay_status_t st)
{
    static const char *const NAMES[] = {"idle", "connecting", "active", "backoff", "failed"};
    return (size_t)st < sizeof NAMES / sizeof NAMES[0] ? NAMES[st] : "?";
}

static double run_bitrate_bps(const relay_run_t *run, int64_t now_ms)
{
    if (!run->conn)
        return 0;
    sess_info_t si;
    conn_info(run->conn, now_ms, &si);
    return run->relay->spec.direction == RELAY_PULL ? si.bitrate_in_bps : si.bitrate_out_bps;
}

/* Aggregate: active if any instance is, else connecting, backoff, failed,
 * idle in that order. */
static relay_status_t relay_status(const relay_t *r)
{
    static const relay_status_t order[] = {RELAY_ST_ACTIVE, RELAY_ST_CONNECTING, RELAY_ST_BACKOFF,
                                           RELAY_ST_FAILED};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        for (const relay_run_t *run = r->runs; run; run = run->next)
            if (run->status == order[i])
                return order[i];
    return r->refused ? RELAY_ST_FAILED : RELAY_ST_IDLE;
}

static void view_stream(const relay_run_t *run, int64_t now_ms, relay_stream_view_t *out)
{
    out->name = run->name;
    out->status = run->status;
    out->current_url = run->status == RELAY_ST_IDLE ? NULL : run->url;
    out->last_error = run->last_error;
    out->last_reason = run->last_error[0] ? run->last_reason : REASON_NONE;
    out->retries = run->retries;
    out->failovers = run->failovers;
    out->bytes = run->bytes_done + relay_run_link_bytes(run);
    out->bitrate_bps = run_bitrate_bps(run, now_ms);
    out->started_wall_ms = run->up_wall_ms;
    out->session_id = run->conn ? run->conn->id : 0;
    out->hops = run->hops;
}

void relay_view_idle(const relay_spec_t *spec, relay_view_t *out)
{
    memset(out, 0, sizeof *out);
    out->spec = spec;
    out->status = RELAY_ST_IDLE;
}

/* Fills out from r; 0 or NODE_ENOMEM. */
static int view_relay(const relay_t *r, int64_t now_ms, relay_view_t *out)
{
    relay_view_idle(&r->spec, out);
    if (relay_spec_etag(r->mgr->node, &r->spec, out->etag) != 0 ||
        (r->nruns && !(out->streams = calloc(r->nruns, sizeof *out->streams))))
        return NODE_ENOMEM;
    out->bytes = r->bytes_closed;
    out->failovers = r->failovers;
    const relay_run_t *shown = NULL; /* whose URL, error and start are shown */
    for (const relay_run_t *run = r->runs; run && out->nstreams < r->nruns; run = run->next) {
        relay_stream_view_t *s = &out->streams[out->nstreams++];
        view_stream(run, now_ms, s);
        out->bytes += relay_run_link_bytes(run);
        out->bitrate_bps += s->bitrate_bps;
        out->retries += run->retries;
        if (!shown || run->status == RELAY_ST_ACTIVE)
            shown = run;
    }
    out->status = relay_status(r);
    out->current_url = shown && shown->status != RELAY_ST_IDLE ? shown->url : NULL;
    /* The shown instance's error (none once it is up again); with no
     * instance, the relay's last one. */
    out->last_error = shown ? shown->last_error : r->last_error;
    out->last_reason = shown ? shown->last_reason : r->last_reason;
    if (!out->last_error || !out->last_error[0])
        out->last_reason = REASON_NONE;
    out->started_wall_ms = shown ? shown->up_wall_ms : 0;
    return 0;
}

int relay_mgr_view(relay_mgr_t *m, const char *id, int64_t now_ms, relay_view_t *out)
{
    const relay_t *r = relay_find(m, id);
    if (!r)
        return NODE_ENOTFOUND;
    return view_relay(r, now_ms, out);
}

int relay_mgr_views(relay_mgr_t *m, int64_t now_ms, relay_view_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!m->nrelays)
        return 0;
    relay_view_t *v = calloc(m->nrelays, sizeof *v);
    if (!v)
        return NODE_ENOMEM;
    size_t k = 0;
    for (const relay_t *r = m->relays; r && k < m->nrelays; r = r->next) {
        if (view_relay(r, now_ms, &v[k++]) != 0) {
            relay_views_free(v, k);
            return NODE_ENOMEM;
        }
    }
    *out = v;
    *n = k;
    return 0;
}

void relay_view_release(relay_view_t *v)
{
    free(v->streams);
    v->streams = NULL;
    v->nstreams = 0;
}

void relay_views_free(relay_view_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        relay_view_release(&v[i]);
    free(v);
}

void relay_mgr_counts(const relay_mgr_t *m, relay_counts_t *out)
{
    memset(out, 0, sizeof *out);
    out->relays = m->nrelays;
    out->starts = m->starts;
    out->failures = m->failures;
    out->failovers = m->failovers;
    out->bytes = m->bytes_closed;
    size_t *by_status[] = {&out->idle, &out->connecting, &out->active, &out->backoff, &out->failed};
    for (const relay_t *r = m->relays; r; r = r->next) {
        for (const relay_run_t *run = r->runs; run; run = run->next) {
            out->bytes += relay_run_link_bytes(run);
            (*by_status[run->status])++;
        }
    }
}

void relay_mgr_foreach(const relay_mgr_t *m, void (*cb)(const relay_stat_t *st, void *arg),
                       void *arg)
{
    int64_t now = weir_mono_ms();
    for (const relay_t *r = m->relays; r; r = r->next) {
        relay_stat_t st = {0};
        st.spec = &r->spec;
        st.status = relay_status_name(relay_status(r));
        st.starts = r->starts;
        st.failures = r->failures;
        st.failovers = r->failovers;
        st.bytes = r->bytes_closed;
        for (const relay_run_t *run = r->runs; run; run = run->next) {
            st.bytes += relay_run_link_bytes(run);
            st.bitrate_bps += run_bitrate_bps(run, now);
        }
        cb(&st, arg);
    }
}
