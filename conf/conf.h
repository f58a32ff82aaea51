/* conf: the node's configuration, loaded once from a JSON file into an
 * immutable conf_t. Every key is listed in a field table (name, type, offset,
 * default, range); unknown keys, wrong types and out-of-range values are
 * errors that name the key by its dotted path. README.md documents each key.
 *
 * The top-level "relays" and "hooks" arrays (the config-file relays and
 * webhook targets) are the values that are not a "section.key": each element
 * is checked at load time with relay_spec_from_json() (node/codec/relay_spec.h) or
 * hook_spec_from_json() (node/codec/hook_spec.h), must carry an "id" unique in its
 * array, and the array is kept as compact JSON text in relays_json /
 * hooks_json for the manager to parse again at start. The top-level "apps"
 * array (per-app signed URLs and address ranges, node/codec/app_auth.h) is read
 * into the apps table: each element with app_auth_entry_from_json(), its
 * "app" unique in the array. conf_t is a plain value (no pointers): copying
 * it copies everything. Built into layer core. Loaded on the main thread
 * before the loop starts (and by SIGHUP's reload on the loop thread, into
 * a copy); after start only the node's two log keys change (reload.h).
 */
#ifndef WEIR_CONF_H
#define WEIR_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "app_auth.h"

#define CONF_LISTEN_MAX 128
#define CONF_PATH_MAX 1024
#define CONF_RELAYS_JSON_MAX 32768   /* relays_json, with its NUL */
#define CONF_RELAYS_MAX 64           /* elements of "relays" at most */
#define CONF_WORKERS_MAX 64          /* "workers" at most (worker.h: WORKERS_MAX) */
#define CONF_HOOKS_JSON_MAX 65536    /* hooks_json, with its NUL */
#define CONF_HOOKS_MAX 64            /* elements of "hooks" at most */
#define CONF_FILE_MAX (1 << 20)      /* bytes of a config file at most */
#define CONF_API_CONNECTIONS_MAX 256 /* API connections open at once, in all (api/http.c) */
#define CONF_TLS_SNI_MAX 16          /* elements of "tls.sni" at most */
#define CONF_RECORDERS_JSON_MAX 32768 /* recorders_json, with its NUL */
#define CONF_RECORDERS_MAX 64        /* elements of "recorders" at most */

/* One element of tls.sni: the certificate chosen when a client names host. */
typedef struct {
    char host[256]; /* a name or "*.name" (tls_sni.h) */
    char cert[CONF_PATH_MAX];
    char key[CONF_PATH_MAX];
} conf_tls_sni_t;

typedef struct {
    char rtmp_listen[CONF_LISTEN_MAX];
    uint32_t rtmp_chunk_size;
    uint32_t rtmp_max_message_size;
    uint32_t rtmp_max_chunk_streams;
    uint32_t rtmp_handshake_timeout_ms;
    uint32_t rtmp_idle_timeout_ms;

    char http_flv_listen[CONF_LISTEN_MAX];
    uint32_t http_flv_max_header_bytes;
    uint32_t http_flv_request_timeout_ms;
    int http_flv_wait_for_stream;
    /* HLS (node/hls): segment target, playlist window, LL-HLS part target
     * (0: off; else 50..hls.segment_ms), session idle timeout. */
    uint32_t hls_segment_ms;
    uint32_t hls_window;
    uint32_t hls_part_ms;
    uint32_t hls_idle_timeout_s;
    char http_flv_cors_origin[256];
    uint32_t http_flv_ws_ping_ms;         /* WebSocket-FLV: a ping this often */
    uint32_t http_flv_ws_idle_timeout_ms; /* WebSocket-FLV: silent client cut after this */

    /* TLS (node/core/tls.h): the default certificate (PEM, chain allowed)
     * and key, the per-name ones, and the TLS listeners ("": off) */
    char tls_cert[CONF_PATH_MAX];
    char tls_key[CONF_PATH_MAX];
    char tls_ca[CONF_PATH_MAX]; /* clients (relays, webhooks): CA file; "": the system store */
    conf_tls_sni_t tls_sni[CONF_TLS_SNI_MAX];
    unsigned tls_sni_n;
    uint32_t tls_handshake_timeout_ms; /* a TLS handshake not done by then is cut */
    uint32_t tls_max_handshakes;       /* TLS handshakes in progress at once; 0: no limit */
    int tls_ktls; /* ask OpenSSL for kernel TLS (SSL_OP_ENABLE_KTLS) on the listeners */
    char rtmps_listen[CONF_LISTEN_MAX];
    char https_listen[CONF_LISTEN_MAX];
    int api_tls; /* the API and dashboard over HTTPS (tls.cert, tls.sni: api/https.h) */

    char api_listen[CONF_LISTEN_MAX];
    char api_token[256];
    int api_health_public; /* /healthz and /readyz answer without api.token */
    uint32_t relay_kick_hold_s; /* a kicked inbound relay link's peer is refused this long */
    uint32_t api_max_body_bytes;
    char api_web_root[CONF_PATH_MAX];         /* the dashboard's files (api/static.h); "": none */
    uint32_t api_max_connections_per_address; /* open API connections per address; 0: no limit */
    uint32_t api_connection_timeout_s;        /* an API connection idle this long is closed */

    char storage_path[CONF_PATH_MAX];
    uint32_t storage_max_size_mb;
    uint32_t storage_cache_kb;

    uint32_t events_max_rows;
    uint32_t events_max_age_days;
    uint32_t events_heartbeat_interval_s; /* node.heartbeat period; 0: none */

    char log_level[16];
    char log_file[CONF_PATH_MAX];

    uint32_t stream_gop_cache;
    uint32_t stream_gop_cache_max_bytes; /* a stream's GOP cache, in payload bytes */
    uint32_t stream_gop_cache_max_ms;    /* ...and in arrival time */
    int stream_publish_takeover;
    uint32_t stream_play_wait_ms;
    uint32_t stream_unpublish_grace_ms;

    uint32_t player_queue_ms;
    uint32_t player_max_queue_bytes;
    uint32_t player_slow_timeout_ms;
    uint32_t player_merge_ms; /* 0: players written once per loop iteration */

    /* "workers" (top level): loops serving HTTP-FLV, HTTP-TS, WebSocket-FLV
     * and RTMP players, 1..64 (worker.h); 0 for "auto" (one per CPU the
     * node may use: cpus.h). 1: the event loop alone. */
    uint32_t workers;

    /* limits (node/core/conn_limits.h); 0: no limit */
    uint32_t limits_max_connections;                   /* RTMP + HTTP-FLV clients in total */
    uint32_t limits_max_connections_per_address;       /* the same from one address */
    uint32_t limits_new_connections_per_address_per_s; /* token bucket, burst 2 x */
    uint32_t limits_max_streams;                       /* stream entries in the hub */
    uint32_t limits_max_memory_mb; /* media held by the hub, all streams; 0: auto (half the RAM) */

    uint32_t relay_max_hops;           /* most relay hops a request may carry */
    uint32_t relay_connect_timeout_ms; /* link up within; pulls: longest upstream silence */
    uint32_t relay_on_demand_wait_ms;  /* a player waits this long for an on-demand pull */
    /* "relays" as compact JSON text (a validated array of 1..CONF_RELAYS_MAX
     * relay objects, each with a unique id), or "" when absent or empty */
    char relays_json[CONF_RELAYS_JSON_MAX];

    /* webhooks (node/cluster/hooks.h) */
    uint32_t webhooks_queue_max;           /* waiting events per hook */
    uint32_t webhooks_max_attempts;        /* per notification, then dropped */
    uint32_t webhooks_retry_initial_ms;    /* first retry delay (doubles, jitter) */
    uint32_t webhooks_retry_max_ms;        /* cap, >= retry_initial_ms */
    int webhooks_on_publish_timeout_allow; /* "allow" 1, "deny" 0 (default) */
    int webhooks_on_play_timeout_allow;    /* "allow" 1 (default), "deny" 0 */
    uint32_t webhooks_max_pending_decisions;
    uint32_t webhooks_shutdown_flush_ms; /* at SIGTERM, wait this long for notifications */
    /* "hooks" as compact JSON text (a validated array of 1..CONF_HOOKS_MAX
     * hook objects, each with a unique id), or "" when absent or empty */
    char hooks_json[CONF_HOOKS_JSON_MAX];

    /* recording (node/record): the files' folder ("": "recordings" beside
     * storage.path), the writer queue's bounds, and "recorders" as compact
     * JSON text (a validated array of record_spec.h objects, each with a
     * unique id), or "" when absent or empty */
    char record_root[CONF_PATH_MAX];
    uint32_t record_queue_max_bytes;
    uint32_t record_queue_max_msgs;
    char recorders_json[CONF_RECORDERS_JSON_MAX];

    /* "apps": per-app publish/play auth (app_auth.h); n == 0 when absent */
    app_auth_table_t apps;
} conf_t;

/* Fills c with every default. */
void conf_defaults(conf_t *c);

/* Loads path over the defaults. path must be a regular file of at most
 * CONF_FILE_MAX bytes (a FIFO, device or folder is refused at once, never
 * waited on). Returns 0, or -1 with a message in err naming the file and,
 * for a bad value, the key ("rtmp.chunk_size: expected an integer",
 * "relays[2].urls[0]: ...", "hooks[0].events[1]: ...",
 * "apps[1].publish_allow[0]: ...", "tls.sni[0].host: ..."). */
int conf_load_file(conf_t *c, const char *path, char *err, size_t errlen);
/* Same, from a JSON text (used by the file loader and by tests). */
int conf_load_json(conf_t *c, const char *json, size_t len, char *err, size_t errlen);

/* The first key (dotted path, or "relays", "hooks", "recorders", "apps", "tls.sni") whose value
 * differs between a and b, leaving out the keys listed in skip (a
 * NULL-terminated array, or NULL); NULL when none differs. Both must come
 * from conf_defaults() and the loaders (SIGHUP compares the file it re-read
 * with the running configuration). */
const char *conf_changed_key(const conf_t *a, const conf_t *b, const char *const *skip);

/* Splits "host:port" ("[v6]:port" too). Returns 0 or -1. */
int conf_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
