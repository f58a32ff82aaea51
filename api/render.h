/* render: the API's JSON objects (openapi.yaml components) from the media
 * plane's snapshots. Pure: no I/O, no globals; unit-tested on hand-built
 * snapshots. Every function returns a new cJSON object (the caller owns it)
 * or NULL when out of memory.
 * Threads: any (the API calls it on the loop thread).
 */
#ifndef WEIR_API_RENDER_H
#define WEIR_API_RENDER_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "fmt.h"
#include "hooks.h"
#include "relay.h"
#include "storage.h"
#include "stream.h"


typedef struct {
    const char *id, *version, *log_level;
    int64_t start_wall_ms;
    double uptime_s;
    const char *listen_rtmp, *listen_http_flv, *listen_api;
    const char *listen_rtmps, *listen_https; /* NULL or "": off (rendered null) */
    size_t streams, publishers, players, relays, sessions;
    size_t relay_links; /* relay links playing our streams (ours and other nodes') */
    uint64_t bytes_in, bytes_out;
    double bitrate_in_bps, bitrate_out_bps;
    const char *storage_path;
    uint64_t storage_write_errors, events_dropped;
    /* drain state: "draining" and "drain" (null when not draining) */
    int draining;
    const char *drain_redirect; /* "" or NULL: none */
    uint32_t drain_retry_after_s;
    int64_t drain_since_wall_ms;
    size_t drain_remaining; /* client sessions open (drain_remaining()) */
    /* Placement: the node's last sample (procload.h) and its uses against
     * limits.*; a limit of 0 is none (null in JSON). */
    procload_t load;
    uint64_t fd_limit;
    uint64_t media_bytes, media_limit_bytes;
    size_t connections; /* client connections admitted (limits.max_connections counts them) */
    uint32_t max_connections, max_streams;
    double headroom;         /* procload_headroom() of the uses */
    const char *headroom_by; /* the use it comes from, NULL: none has a limit */
} api_node_info_t;

/* Node: identity, counts, traffic, storage, the placement figures (cpu,
 * memory, fds, limits, headroom, headroom_by) and the drain state. */
cJSON *api_render_node(const api_node_info_t *ni);
/* Session (openapi Session). */
cJSON *api_render_session(const sess_info_t *si);
/* SessionSummary: id, protocol, remote, start_time. */
cJSON *api_render_session_summary(const sess_info_t *si);
/* Stream; pub is the publisher's session or NULL. */
cJSON *api_render_stream(const stream_info_t *st, const sess_info_t *pub);
/* Event: id, type, time and the fields of row->data (a JSON object; other
 * data is ignored). */
cJSON *api_render_event(const storage_event_t *row);
/* Hook: hook_spec_to_json() (never the secret) plus the delivery state:
 * queued, delivered, failed, dropped, retries, last_status (HTTP status or
 * null), last_error (or null), last_delivery_at (RFC 3339 or null). */
cJSON *api_render_hook(const hook_stat_t *st);
/* Relay: relay_spec_to_json() of v->spec plus its live state: status,
 * current_url, last_error, retries, failovers, bytes, bitrate_kbps,
 * started_at (RFC 3339 or null) and streams, one object per instance
 * (name, status, current_url, last_error, retries, failovers, bytes,
 * bitrate_kbps, started_at, session_id or null, hops). */
cJSON *api_render_relay(const relay_view_t *v);
/* {"error": {"code": code, "message": message}} */
cJSON *api_render_error(const char *code, const char *message);

#endif
