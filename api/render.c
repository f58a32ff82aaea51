#include "render.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void add_time(cJSON *o, const char *key, int64_t wall_ms)
{
    char t[40];
    fmt_time(wall_ms, t, sizeof t);
    cJSON_AddStringToObject(o, key, t);
}

static void add_time_or_null(cJSON *o, const char *key, int64_t wall_ms)
{
    if (wall_ms)
        add_time(o, key, wall_ms);
    else
        cJSON_AddNullToObject(o, key);
}

static void add_u64(cJSON *o, const char *key, uint64_t v)
{
    cJSON_AddNumberToObject(o, key, (double)v);
}

/* NULL for an address that is off (""). */
static const char *off(const char *listen)
{
    return listen && listen[0] ? listen : NULL;
}

static void add_str_or_null(cJSON *o, const char *key, const char *v)
{
    if (v && *v)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static void add_int_or_null(cJSON *o, const char *key, long v)
{
    if (v > 0)
        cJSON_AddNumberToObject(o, key, (double)v);
    else
        cJSON_AddNullToObject(o, key);
}

/* cJSON's Add* functions fail only on allocation; one check at the end
 * catches any of them (a missing member). */
static cJSON *checked(cJSON *o, int members)
{
    if (o && cJSON_GetArraySize(o) != members) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static void add_u64_or_null(cJSON *o, const char *key, uint64_t v)
{
    if (v)
        add_u64(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

/* {"used": used, "limit": limit, or null for 0}: 1, or 0 when a member is
 * missing. */
static int add_use(cJSON *o, const char *key, double used, uint64_t limit)
{
    cJSON *u = cJSON_AddObjectToObject(o, key);
    if (!u)
        return 0;
    cJSON_AddNumberToObject(u, "used", used);
    add_u64_or_null(u, "limit", limit);
    return cJSON_GetArraySize(u) == 2;
}

static int render_cpu_memory_fds(cJSON *o, const api_node_info_t *ni)
{
    const procload_t *pl = &ni->load;
    cJSON *c = cJSON_AddObjectToObject(o, "cpu");
    if (c) {
        cJSON_AddNumberToObject(c, "process_percent", round(pl->process_percent * 10) / 10);
        cJSON_AddNumberToObject(c, "process_seconds", round(pl->process_seconds * 100) / 100);
        cJSON_AddNumberToObject(c, "machine_percent", round(pl->machine_percent * 10) / 10);
        add_u64(c, "cores", pl->cores);
    }
    cJSON *m = cJSON_AddObjectToObject(o, "memory");
    if (m) {
        add_u64(m, "rss_bytes", pl->rss_bytes);
        add_u64(m, "media_bytes", ni->media_bytes);
        add_u64_or_null(m, "media_limit_bytes", ni->media_limit_bytes);
    }
    cJSON *f = cJSON_AddObjectToObject(o, "fds");
    if (f) {
        add_u64(f, "open", pl->fds_open);
        add_u64_or_null(f, "limit", ni->fd_limit);
    }
    return c && m && f && cJSON_GetArraySize(c) == 4 && cJSON_GetArraySize(m) == 3 &&
                   cJSON_GetArraySize(f) == 2
               ? 0
               : -1;
}

/* cpu, memory, fds, limits, headroom, headroom_by: 0, or -1 when a member
 * is missing (out of memory). */
static int render_placement(cJSON *o, const api_node_info_t *ni)
{
    if (render_cpu_memory_fds(o, ni) != 0)
        return -1;
    cJSON *l = cJSON_AddObjectToObject(o, "limits");
    int uses = l && add_use(l, "connections", (double)ni->connections, ni->max_connections) &&
               add_use(l, "streams", (double)ni->streams, ni->max_streams) &&
               add_use(l, "bandwidth_in_kbps", fmt_kbps(ni->bitrate_in_bps), 0) &&
               add_use(l, "bandwidth_out_kbps", fmt_kbps(ni->bitrate_out_bps), 0);
    cJSON_AddNumberToObject(o, "headroom", round(ni->headroom * 1000) / 1000);
    add_str_or_null(o, "headroom_by", ni->headroom_by);
    return uses ? 0 : -1;
}

static cJSON *render_drain(cJSON *o, const api_node_info_t *ni)
{
    cJSON_AddBoolToObject(o, "draining", ni->draining);
    if (!ni->draining)
        return cJSON_AddNullToObject(o, "drain");
    cJSON *d = cJSON_AddObjectToObject(o, "drain");
    if (!d)
        return NULL;
    add_str_or_null(d, "redirect_url", ni->drain_redirect);
    cJSON_AddNumberToObject(d, "retry_after_s", ni->drain_retry_after_s);
    add_time(d, "since", ni->drain_since_wall_ms);
    add_u64(d, "remaining", ni->drain_remaining);
    return cJSON_GetArraySize(d) == 4 ? d : NULL;
}

cJSON *api_render_node(const api_node_info_t *ni)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", ni->id);
    cJSON_AddStringToObject(o, "version", ni->version);
    add_time(o, "start_time", ni->start_wall_ms);
    cJSON_AddNumberToObject(o, "uptime_s", round(ni->uptime_s * 10) / 10);
    cJSON_AddStringToObject(o, "log_level", ni->log_level);
    cJSON *l = cJSON_AddObjectToObject(o, "listen");
    if (l) {
        cJSON_AddStringToObject(l, "rtmp", ni->listen_rtmp);
        cJSON_AddStringToObject(l, "http_flv", ni->listen_http_flv);
        cJSON_AddStringToObject(l, "api", ni->listen_api);
        add_str_or_null(l, "rtmps", off(ni->listen_rtmps));
        add_str_or_null(l, "https", off(ni->listen_https));
    }
    cJSON *c = cJSON_AddObjectToObject(o, "counts");
    if (c) {
        add_u64(c, "streams", ni->streams);
        add_u64(c, "publishers", ni->publishers);
        add_u64(c, "players", ni->players);
        add_u64(c, "relay_links", ni->relay_links);
        add_u64(c, "relays", ni->relays);
        add_u64(c, "sessions", ni->sessions);
    }
    add_u64(o, "bytes_in", ni->bytes_in);
    add_u64(o, "bytes_out", ni->bytes_out);
    cJSON_AddNumberToObject(o, "bitrate_in_kbps", fmt_kbps(ni->bitrate_in_bps));
    cJSON_AddNumberToObject(o, "bitrate_out_kbps", fmt_kbps(ni->bitrate_out_bps));
    cJSON *s = cJSON_AddObjectToObject(o, "storage");
    if (s) {
        cJSON_AddStringToObject(s, "path", ni->storage_path);
        add_u64(s, "write_errors", ni->storage_write_errors);
        add_u64(s, "events_dropped", ni->events_dropped);
    }
    int placed = render_placement(o, ni);
    cJSON *d = render_drain(o, ni);
    if ((l && cJSON_GetArraySize(l) != 5) || (c && cJSON_GetArraySize(c) != 6) ||
        (s && cJSON_GetArraySize(s) != 3) || placed != 0 || !d) {
        cJSON_Delete(o);
        return NULL;
    }
    return checked(o, 20);
}

cJSON *api_render_session_summary(const sess_info_t *si)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    add_u64(o, "id", si->id);
    cJSON_AddStringToObject(o, "protocol", si->protocol);
    cJSON_AddStringToObject(o, "remote", si->remote);
    add_time(o, "start_time", si->start_wall_ms);
    return checked(o, 4);
}

cJSON *api_render_session(const sess_info_t *si)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    add_u64(o, "id", si->id);
    cJSON_AddStringToObject(o, "role", sess_role_name(si->role));
    cJSON_AddStringToObject(o, "protocol", si->protocol);
    cJSON_AddStringToObject(o, "remote", si->remote);
    add_str_or_null(o, "app", si->app);
    add_str_or_null(o, "name", si->name);
    add_time(o, "start_time", si->start_wall_ms);
    add_u64(o, "bytes_in", si->bytes_in);
    add_u64(o, "bytes_out", si->bytes_out);
    cJSON_AddNumberToObject(o, "bitrate_in_kbps", fmt_kbps(si->bitrate_in_bps));
    cJSON_AddNumberToObject(o, "bitrate_out_kbps", fmt_kbps(si->bitrate_out_bps));
    add_u64(o, "dropped_frames", si->dropped_frames);
    add_u64(o, "queued_bytes", si->queued_bytes);
    cJSON *rl = sess_relay_json(si);
    if (rl)
        cJSON_AddItemToObject(o, "relay", rl);
    else
        cJSON_AddNullToObject(o, "relay");
    cJSON_AddBoolToObject(o, "tls", si->tls);
    return checked(o, 15);
}

static cJSON *render_video(const media_info_t *m, double measured_fps)
{
    cJSON *v = cJSON_CreateObject();
    if (!v)
        return NULL;
    cJSON_AddStringToObject(v, "codec", m->vcodec[0] ? m->vcodec : "unknown");
    add_int_or_null(v, "width", m->width);
    add_int_or_null(v, "height", m->height);
    /* Measured over the window when frames flow; onMetaData's otherwise. */
    double fps = measured_fps > 0 ? measured_fps : m->meta_fps;
    if (fps > 0)
        cJSON_AddNumberToObject(v, "frame_rate", round(fps * 100) / 100);
    else
        cJSON_AddNullToObject(v, "frame_rate");
    add_str_or_null(v, "profile", m->vprofile);
    add_str_or_null(v, "level", m->vlevel);
    return checked(v, 6);
}

static cJSON *render_audio(const media_info_t *m)
{
    cJSON *a = cJSON_CreateObject();
    if (!a)
        return NULL;
    cJSON_AddStringToObject(a, "codec", m->acodec[0] ? m->acodec : "unknown");
    add_int_or_null(a, "sample_rate", m->sample_rate);
    add_int_or_null(a, "channels", m->channels);
    add_str_or_null(a, "profile", m->aprofile);
    return checked(a, 4);
}

cJSON *api_render_stream(const stream_info_t *st, const sess_info_t *pub)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "app", st->app);
    cJSON_AddStringToObject(o, "name", st->name);
    cJSON_AddStringToObject(o, "state", st->live ? "live" : "unpublished");
    const char *source = st->pub && st->pub->source ? st->pub->source : "rtmp";
    cJSON_AddStringToObject(o, "source", source);
    if (pub)
        cJSON_AddItemToObject(o, "publisher", api_render_session_summary(pub));
    else
        cJSON_AddNullToObject(o, "publisher");
    const media_info_t *m = st->media;
    if (m && m->has_video)
        cJSON_AddItemToObject(o, "video", render_video(m, st->frame_rate));
    else
        cJSON_AddNullToObject(o, "video");
    if (m && m->has_audio)
        cJSON_AddItemToObject(o, "audio", render_audio(m));
    else
        cJSON_AddNullToObject(o, "audio");
    cJSON_AddNumberToObject(o, "bitrate_in_kbps", fmt_kbps(st->bitrate_in_bps));
    cJSON_AddNumberToObject(o, "bitrate_out_kbps", fmt_kbps(st->bitrate_out_bps));
    add_u64(o, "bytes_in", st->bytes_in);
    add_u64(o, "bytes_out", st->bytes_out);
    add_u64(o, "player_count", st->players + st->waiters);
    add_u64(o, "relay_links", st->relay_players);
    cJSON *g = cJSON_AddObjectToObject(o, "gop_cache");
    if (g) {
        add_u64(g, "gops", st->gops);
        add_u64(g, "messages", st->gop_cache_msgs);
        add_u64(g, "bytes", st->gop_cache_bytes);
        add_u64(g, "drops", st->gop_cache_drops);
    }
    cJSON *k = cJSON_AddObjectToObject(o, "continuity");
    if (k) {
        add_u64(k, "continuations", st->continuations);
        if (st->continuations)
            cJSON_AddNumberToObject(k, "last_gap_ms", (double)st->last_gap_ms);
        else
            cJSON_AddNullToObject(k, "last_gap_ms");
        add_u64(k, "skipped_messages", st->continuation_dropped);
        add_str_or_null(k, "last_splice", st->last_splice);
        add_str_or_null(k, "source_id", st->source_id && st->source_id[0] ? st->source_id : NULL);
    }
    add_time(o, "start_time", st->start_wall_ms);
    /* A failed nested render leaves a member out (cJSON_AddItemToObject
     * refuses NULL). */
    if ((g && cJSON_GetArraySize(g) != 4) || (k && cJSON_GetArraySize(k) != 5)) {
        cJSON_Delete(o);
        return NULL;
    }
    return checked(o, 16);
}

cJSON *api_render_event(const storage_event_t *row)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    add_u64(o, "id", row->id);
    cJSON_AddStringToObject(o, "type", row->type ? row->type : "");
    add_time(o, "time", row->time_ms);
    cJSON *data = row->data ? cJSON_Parse(row->data) : NULL;
    if (cJSON_IsObject(data)) {
        cJSON *f = data->child;
        while (f) {
            cJSON *next = f->next;
            /* The three keys above are the event's own; stored fields never
             * replace them. */
            if (f->string && strcmp(f->string, "id") != 0 && strcmp(f->string, "type") != 0 &&
                strcmp(f->string, "time") != 0)
                cJSON_AddItemToObject(o, f->string, cJSON_DetachItemViaPointer(data, f));
            f = next;
        }
    }
    cJSON_Delete(data);
    if (!cJSON_GetObjectItemCaseSensitive(o, "time")) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *api_render_hook(const hook_stat_t *st)
{
    cJSON *o = hook_spec_to_json(st->spec);
    if (!o)
        return NULL;
    int members = cJSON_GetArraySize(o) + 8 + (st->etag[0] != '\0');
    add_u64(o, "queued", st->queued);
    add_u64(o, "delivered", st->delivered);
    add_u64(o, "failed", st->failed);
    add_u64(o, "dropped", st->dropped);
    add_u64(o, "retries", st->retries);
    add_int_or_null(o, "last_status", st->last_status);
    add_str_or_null(o, "last_error", st->last_error);
    if (st->last_wall_ms)
        add_time(o, "last_delivery_at", st->last_wall_ms);
    else
        cJSON_AddNullToObject(o, "last_delivery_at");
    if (st->etag[0])
        cJSON_AddStringToObject(o, "etag", st->etag);
    return checked(o, members);
}

cJSON *api_render_error(const char *code, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = o ? cJSON_AddObjectToObject(o, "error") : NULL;
    if (!e) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message);
    if (cJSON_GetArraySize(e) != 2) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* last_error (the reason code, reason.h) and last_error_message (the
 * human text), both null when there is no error. */
static void add_error(cJSON *o, reason_t why, const char *message)
{
    int none = !message || !message[0];
    if (!none && why == REASON_NONE)
        why = REASON_ERROR;
    add_str_or_null(o, "last_error", none ? NULL : reason_name(why));
    add_str_or_null(o, "last_error_message", none ? NULL : message);
}

static cJSON *render_relay_stream(const relay_stream_view_t *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", s->name);
    cJSON_AddStringToObject(o, "status", relay_status_name(s->status));
    add_str_or_null(o, "current_url", s->current_url);
    add_error(o, s->last_reason, s->last_error);
    add_u64(o, "retries", s->retries);
    add_u64(o, "failovers", s->failovers);
    add_u64(o, "bytes", s->bytes);
    cJSON_AddNumberToObject(o, "bitrate_kbps", fmt_kbps(s->bitrate_bps));
    add_time_or_null(o, "started_at", s->started_wall_ms);
    if (s->session_id)
        add_u64(o, "session_id", s->session_id);
    else
        cJSON_AddNullToObject(o, "session_id");
    add_u64(o, "hops", s->hops);
    return o;
}

cJSON *api_render_relay(const relay_view_t *v)
{
    cJSON *o = relay_spec_to_json(v->spec);
    cJSON *streams = cJSON_CreateArray();
    if (!o || !streams) {
        cJSON_Delete(o);
        cJSON_Delete(streams);
        return NULL;
    }
    for (size_t i = 0; i < v->nstreams; i++) {
        cJSON *s = render_relay_stream(&v->streams[i]);
        if (s)
            cJSON_AddItemToArray(streams, s);
    }
    cJSON_AddStringToObject(o, "status", relay_status_name(v->status));
    add_str_or_null(o, "current_url", v->current_url);
    add_error(o, v->last_reason, v->last_error);
    add_u64(o, "retries", v->retries);
    add_u64(o, "failovers", v->failovers);
    add_u64(o, "bytes", v->bytes);
    cJSON_AddNumberToObject(o, "bitrate_kbps", fmt_kbps(v->bitrate_bps));
    add_time_or_null(o, "started_at", v->started_wall_ms);
    cJSON_AddItemToObject(o, "streams", streams);
    if (v->etag[0])
        cJSON_AddStringToObject(o, "etag", v->etag);
    return o;
}
