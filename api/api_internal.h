/* api_internal: what the route files (api/<tag>.c) share with the server
 * (api/http.c). Everything runs on the loop thread. */
#ifndef WEIR_API_INTERNAL_H
#define WEIR_API_INTERNAL_H

#include <cjson/cJSON.h>
#include <event2/event_struct.h>
#include <stdint.h>
#include <sys/queue.h>

#include "api.h"
#include "conn.h" /* sess_info_t */
#include "node.h"
#include "parse.h"
#include "static.h"

/* The contract's version (GET /api/v1/version): the major is the path's
 * (/api/v1); the minor grows with each change that adds to the contract
 * without breaking a client of an earlier minor. */
#define API_VERSION "1.1"

#define API_STATUS_MAX 600

/* The largest session or event id a query may name (2^53: exact in JSON). */
#define API_ID_MAX (UINT64_C(1) << 53)

struct MHD_Daemon;
struct sockaddr;
struct evconnlistener;
struct MHD_Connection;

struct api {
    node_t *node;
    struct MHD_Daemon *mhd;
    struct event mhd_ev, timer_ev;
    int events_ready;
    unsigned char token_hash[32]; /* SHA-256 of api.token */
    int has_token;
    size_t max_body;
    uint64_t requests[API_STATUS_MAX]; /* answered, by status */
    api_static_t *web;                 /* the dashboard's files; NULL: none loaded */
    char web_root[4096];               /* their folder: api.web_root resolved (static.h) */
    /* Open connections per address (api.max_connections_per_address),
     * owned; admitted by MHD's accept policy callback, released when MHD
     * reports the connection closed. */
    conn_limits_t *conns;
    /* The last address admitted whose connection MHD has not reported
     * started yet: released at the next accept or run if MHD dropped it
     * (an allocation failure after the policy callback). */
    conn_limits_addr_t pending;
    int pending_set, pending_has_addr;
    /* MHD's own log lines: a repeat of the last one within
     * LIMITS_LOG_INTERVAL_MS is counted, not logged. */
    char mhd_last[128];
    int64_t mhd_last_ms;
    uint64_t mhd_repeats;
    /* api.tls (https.h): the node accepts on api.listen and terminates
     * TLS; MHD has no listening socket and counts nothing per address. */
    int tls;
    struct evconnlistener *https_lis;
    TAILQ_HEAD(api_https_list, api_https_conn) https_conns; /* the connections in flight */
    node_accept_pause_t https_pause; /* the listener's pause after a failed accept() */
};

typedef struct api_req api_req_t;

/* One request, from its headers to its completion. */
struct api_req {
    api_t *api;
    struct MHD_Connection *conn;
    char method[16];
    char *path;
    api_path_params_t pp; /* path parameters */
    char *body;
    size_t body_len;
    int has_body;
    int too_large;
    int suspended;
    int queued; /* the reply is handed to MHD */
    const struct api_route *route;
    const struct api_op *op;
    /* the response, once made */
    int status;
    char *resp;
    size_t resp_len;
    int resp_borrowed; /* resp outlives the request: not ours to free */
    const char *ctype;
    const char *allow;          /* the Allow header of a 405 (allow_buf) */
    char allow_buf[48];         /* "GET, HEAD, PUT, PATCH, DELETE" at most */
    char etag[SPEC_ETAG_MAX];   /* the reply's ETag header ("": none); api_reply_entity() */
    const char *const *headers; /* extra: name, value, ..., NULL (api_reply_headers) */
    /* api_reply_fd(): the body is resp_len bytes of the file fd_fd from
     * fd_off (MHD reads it as it sends; it closes the fd) */
    int has_fd;
    int fd_fd;
    uint64_t fd_off;
    char fd_hdr[2][96]; /* Content-Range, Content-Disposition */
    const char *fd_headers[7];
};

typedef void (*api_handler_fn)(api_req_t *r);

typedef struct api_op {
    const char *method;
    api_handler_fn fn;
    int takes_body;
    /* The query parameters the operation accepts: NULL-terminated names,
     * NULL for none, API_QUERY_ANY for any (ignored). Any other name is
     * refused before the handler runs: 400 invalid_field "<name>: unknown
     * query parameter". */
    const char *const *query;
} api_op_t;

/* api_op_t.query of an operation that ignores its query string (the
 * dashboard's files: a browser may add anything to a page's URL). */
extern const char *const API_QUERY_ANY[];

/* 1 if the path matched (r->pp) names something that exists. */
typedef int (*api_exists_fn)(const api_req_t *r);

/* api_route_t.public: whether a route needs api.token. */
enum {
    API_AUTH_TOKEN = 0,  /* the token, when api.token is set */
    API_AUTH_PUBLIC = 1, /* never (the dashboard's files: no secret in them) */
    API_AUTH_HEALTH = 2, /* never while api.health_public (the default): the probes */
};

typedef struct api_route {
    const char *pattern; /* "/api/v1/streams/{}/{*}": {} one segment, {*} the rest */
    int public;          /* API_AUTH_*: who may call it */
    api_op_t ops[4];
    /* NULL, or the route exists only for paths this accepts (the dashboard's
     * files: only loaded names); other paths fall through as unknown (401
     * without the token, 404 with it) */
    api_exists_fn exists;
} api_route_t;

/* The i-th route's pattern, NULL past the end (the fuzz target matches
 * paths against the real table). */
const char *api_route_pattern(size_t i);
/* The route of r's path (api/routes.c; its path parameters filled in r->pp),
 * or NULL. */
const api_route_t *api_route_find(api_req_t *r);

/* ---- replies (each request gets exactly one) ---------------------------- */

/* Takes body (may be NULL: a render failed; logged, 500 "the answer could
 * not be rendered"). */
void api_reply_json(api_req_t *r, int status, cJSON *body);
/* code: "not_found"...; message printf-style. */
void api_reply_error(api_req_t *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Takes text (malloc'd). */
void api_reply_text(api_req_t *r, int status, const char *ctype, char *text, size_t len);
/* Replies with data that outlives the request (the dashboard's files, owned
 * by api_t): neither copied nor freed. */
void api_reply_static(api_req_t *r, int status, const char *ctype, const void *data, size_t len);
/* A 2xx answer that is one relay or hook: its "etag" member (if any)
 * becomes the ETag header; then as api_reply_json(). */
void api_reply_entity(api_req_t *r, int status, cJSON *body);
/* (routes_recordings.c) Replies with len bytes of the open file fd from off (taken: closed after
 * the answer, or at once when it cannot be sent), read by MHD as it sends,
 * never the whole file in memory; range ("" for none) is the
 * Content-Range header, disposition the Content-Disposition one (or ""). */
void api_reply_fd(api_req_t *r, int status, const char *ctype, int fd, uint64_t off, uint64_t len,
                  const char *range, const char *disposition);
/* Extra headers for the reply about to be made: NULL or name, value, ...,
 * NULL, all of it outliving the request (static). A "Cache-Control" among
 * them replaces the default "no-store". Call before the api_reply_*(). */
void api_reply_headers(api_req_t *r, const char *const *headers);
/* The request waits for an asynchronous answer (a storage callback), which
 * calls an api_reply_*() later. */
void api_suspend(api_req_t *r);

/* MHD runs at the loop's next turn (a connection added or resumed). */
void api_run_soon(api_t *a);
/* sa as text for the logs: "1.2.3.4" or, with port set, "1.2.3.4:5678"
 * ("[::1]:5678"); "?" for another family. */
void api_addr_text(const struct sockaddr *sa, int port, char *out, size_t outlen);
/* Counts and logs (at most once per LIMITS_LOG_INTERVAL_MS; the node's
 * tick logs the rest) a connection from sa refused by
 * api.max_connections_per_address. */
void api_conn_refused(api_t *a, const struct sockaddr *sa);

/* ---- request helpers ---------------------------------------------------- */

/* A query parameter, or NULL. Valid during the handler call only. */
const char *api_query(api_req_t *r, const char *key);
/* Parses an unsigned integer query parameter in [min, max] (def when
 * absent). Returns 0, or replies 400 invalid_field and returns -1. */
int api_query_u64(api_req_t *r, const char *key, uint64_t def, uint64_t min, uint64_t max,
                  uint64_t *out);
/* A query parameter from a closed list (vals, NULL-terminated): 0 with
 * *out the value (NULL when absent), or -1 after a 400 invalid_field that
 * lists vals. */
int api_query_enum(api_req_t *r, const char *key, const char *const *vals, const char **out);
/* Refuses (r->status set: 400 invalid_field) a query parameter that
 * r->op does not accept (api_op_t.query). */
void api_query_check(api_req_t *r);
/* The JSON object body, or NULL after replying 400. */
cJSON *api_body_object(api_req_t *r);

/* Calls cb with every open session's info, at time now: the connections'
 * (conn_info()), then the HLS sessions' (they are no connections), until cb
 * returns nonzero. routes_sessions.c. */
void api_foreach_session_info(node_t *node, int64_t now,
                              int (*cb)(const sess_info_t *si, void *arg), void *arg);

/* ---- handlers (api/<tag>.c) -------------------------------------------- */

void api_get_healthz(api_req_t *r);
void api_get_readyz(api_req_t *r);
void api_get_node(api_req_t *r);
void api_get_version(api_req_t *r);
void api_patch_node(api_req_t *r);
void api_post_node_drain(api_req_t *r);
void api_post_node_undrain(api_req_t *r);
void api_post_node_reload_certs(api_req_t *r);
void api_get_streams(api_req_t *r);
void api_get_stream(api_req_t *r);
void api_delete_stream(api_req_t *r);
void api_get_sessions(api_req_t *r);
void api_get_history(api_req_t *r);
void api_get_stream_history(api_req_t *r);
void api_get_session(api_req_t *r);
void api_delete_session(api_req_t *r);
void api_get_events(api_req_t *r);
void api_get_metrics(api_req_t *r);
void api_get_relays(api_req_t *r);
void api_post_relay(api_req_t *r);
void api_get_relay(api_req_t *r);
void api_put_relay(api_req_t *r);
void api_patch_relay(api_req_t *r);
void api_delete_relay(api_req_t *r);
void api_get_recorders(api_req_t *r);
void api_post_recorder(api_req_t *r);
void api_get_recorder(api_req_t *r);
void api_put_recorder(api_req_t *r);
void api_patch_recorder(api_req_t *r);
void api_delete_recorder(api_req_t *r);
void api_get_recordings(api_req_t *r);
void api_get_recording(api_req_t *r);
void api_delete_recording(api_req_t *r);
void api_get_recording_file(api_req_t *r);
void api_post_stream_record(api_req_t *r);
void api_delete_stream_record(api_req_t *r);
/* The recording lines of /metrics (routes_record.c). */
struct evbuffer;
void api_record_metrics(struct evbuffer *b, node_t *node);
void api_get_hooks(api_req_t *r);
void api_post_hook(api_req_t *r);
void api_get_hook(api_req_t *r);
void api_put_hook(api_req_t *r);
void api_delete_hook(api_req_t *r);
/* tag dashboard (api/static.c) */
void api_get_dashboard(api_req_t *r);
void api_get_dashboard_asset(api_req_t *r);
void api_get_dashboard_file(api_req_t *r);
int api_dashboard_asset_exists(const api_req_t *r);
int api_dashboard_file_exists(const api_req_t *r);

#endif
