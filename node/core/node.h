/* node: the process-wide media plane: the libevent loop, the listeners, the
 * connection table and the hub. One node_t per process, passed explicitly;
 * every function here runs on the loop thread. The layers above core
 * (storage, relays, webhooks, heartbeat) hook into the node's tick and
 * shutdown through node_add_module(): core names none of them. */
#ifndef WEIR_NODE_H
#define WEIR_NODE_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <stdint.h>
#include <sys/queue.h>

#include "conf.h"
#include "conn_limits.h"
#include "procload.h"
#include "rate.h"
#include "spec_json.h" /* SPEC_ETAG_KEY_LEN */
#include "stream.h"

typedef struct conn conn_t;
struct conn_proto;
struct node;
struct cJSON;
struct storage;
struct api;
struct relay_mgr;
struct hook_mgr;
struct ban_table;
struct admit_step;
struct evdns_base;
TAILQ_HEAD(conn_list, conn);

#define NODE_READ_BUF (64 * 1024)
/* The drain redirect's bound, with its NUL: the drain state lives in node_t
 * (drain.h sets it; the sessions read it when they admit). */
#define DRAIN_URL_MAX 1024
#define NODE_MODULES_MAX 12
#define NODE_ADMIT_STEPS_MAX 8 /* admission steps (admit.h) */
/* A session id is (the node's start time in Unix ms << 8) + a counter
 * from 1: unique across restarts while the node makes fewer than 256
 * sessions per ms of its life (on average) and its clock does not step
 * back across a restart. Below 10^15 until the year 2093, so that every
 * JSON printer (cJSON's %.15g among them) writes it as a plain integer:
 * a 16-digit id ending in 0 came out as 1.83966330226689e+15. */
#define NODE_SESS_ID_COUNTER_BITS 8

/* The event log's entry point (node_set_event_sink()). */
typedef uint64_t (*node_event_fn)(struct node *node, const char *type, struct cJSON *fields);

/* A layer above core in the node's life. Every callback may be NULL and gets
 * the arg given to node_add_module(); all run on the loop thread. */
typedef struct node_module {
    const char *name;
    /* Every tick (NODE_TICK_MS), after the hub's, in the order added. */
    void (*tick)(void *arg, int64_t now_ms);
    /* SIGINT/SIGTERM, first thing (storage bounds the writes still to come). */
    void (*stopping)(void *arg);
    /* SIGINT/SIGTERM and node_free(), before the sessions are closed (the
     * relays, so that closing their links schedules no retries). */
    void (*before_close)(void *arg);
    /* While stopping, after the sessions closed: the work the exit waits for
     * (queued webhook notifications), at most webhooks.shutdown_flush_ms. */
    size_t (*pending)(void *arg);
    /* node_free(), after the sessions are closed (they cancel their pending
     * decisions first). */
    void (*after_close)(void *arg);
} node_module_t;

/* The node's listeners (node_new()). */
typedef enum { NODE_LISTENER_RTMP, NODE_LISTENER_HTTP_FLV } node_listener_t;

/* A listener's session and its pause while accept() fails (out of fds, ...):
 * the listener is disabled and ev enables it again after delay_ms, which
 * doubles per failure up to NODE_ACCEPT_PAUSE_MAX_MS and is reset by an
 * accept. The node's media listeners have one each; another listener on the
 * loop (the API's over TLS) uses the same with node_accept_pause_init().
 * Loop thread. */
typedef struct node_accept_pause {
    struct node *node;
    struct evconnlistener *lis;     /* borrowed: the listener it pauses */
    node_listener_t which;          /* NODE_LISTENER_HTTP_FLV: a refusal is answered with a 503 */
    int tls;                        /* rtmps.listen, https.listen: TLS first (conn_tls.h) */
    const char *what;               /* "rtmp", "http-flv", "rtmps", "https" (logs) */
    const struct conn_proto *proto; /* node_set_session(); NULL: connections are closed */
    void (*start)(conn_t *c);
    struct event ev;
    uint32_t delay_ms;
    uint64_t failures, shed; /* failed accepts, pending connections closed: since the last line */
    int64_t since_ms;        /* the first of those failures */
    int64_t logged_ms;       /* the last line (0: none yet) */
} node_accept_pause_t;

typedef struct node {
    struct event_base *base;
    conf_t conf;
    hub_t *hub;
    struct evconnlistener *rtmp_lis;
    struct evconnlistener *http_lis;
    struct evconnlistener *rtmps_lis, *https_lis; /* NULL when not configured */
    node_accept_pause_t rtmp_pause, http_pause, rtmps_pause, https_pause;
    struct tls_server *tls;  /* the certificates (tls.h); NULL without a TLS listener */
    uint32_t tls_handshaking; /* accepted TLS connections still in their handshake */
    struct tls_client *tls_client; /* the client contexts (tls_client.h), made at first use */
    int reserve_fd;    /* /dev/null, closed for a moment to shed connections when out of fds */
    uint64_t fd_limit; /* RLIMIT_NOFILE in force (0: unknown); see fdlimit.h */
    struct event tick_ev;
    struct event reap_ev;
    /* The hub's fan-out pass (hub_fanout()): activated by stream_flush()
     * to run at the end of this loop iteration (player.merge_ms: that much
     * later), and for the rest of a pass cut at its bound, in the next. */
    struct event fanout_ev;
    int fanout_pending; /* fanout_ev is active or its timer added */
    struct event sigint_ev, sigterm_ev;
    struct event sighup_ev, sigusr1_ev, sigusr2_ev; /* reload.h; USR1/2 only logged */
    struct conn_list conns;
    struct conn_list reap;
    size_t nconns;
    uint64_t next_sess_id; /* the last session id given (node_new_session_id()) */
    int stopping;
    int64_t stop_deadline_ms; /* stopping: exit at the latest then (webhook flush) */

    struct storage *st;       /* event log and state (opaque here); NULL in tests without storage */
    const char *id;           /* persistent node id (storage's, borrowed); NULL without storage */
    int storage_lost;         /* its file was deleted or replaced: API writes refused (main.c) */
    struct api *api;          /* REST API; NULL when api.listen is empty */
    struct relay_mgr *relays; /* relay manager (relay.h); NULL until relay_mgr_start() */
    struct evdns_base *dns;   /* name resolution for outgoing connections, made on first use */
    struct hook_mgr *hooks;   /* webhooks (hooks.h); NULL until hook_mgr_start() */
    struct record_mgr *records; /* recording (record_mgr.h); NULL until record_mgr_start() */
    struct ban_table *bans;   /* kicks with a ban (ban.h); NULL until ban_install() */
    struct history *history;  /* recent figures (history.h); NULL until history_start() */
    struct worker_pool *workers; /* worker threads (worker.h); NULL with workers = 1 */
    /* Drain (POST /api/v1/node/drain): no new publishers or players; kept
     * in storage (setting "node.drain") across restarts. */
    int draining;
    char drain_redirect[DRAIN_URL_MAX]; /* HTTP-FLV 302 target prefix, or "" (503) */
    uint32_t drain_retry_after_s;       /* Retry-After of the 503 */
    int64_t drain_since_wall_ms;
    int drained_reported; /* node.drained recorded for this drain (drain.h) */
    /* SIGHUP (reload.h), loop thread: the config file (-c, owned by the
     * caller; NULL: built-in defaults) and whether log.level was set over
     * the API (then the file's level is not applied, as at a restart). */
    const char *conf_path;
    int log_level_by_api;
    /* The key of the relays' and hooks' entity tags (spec_etag()): random
     * at node_new(); main.c replaces it with the one kept in storage
     * (setting "api.etag_key"), so that tags survive restarts. */
    uint8_t etag_key[SPEC_ETAG_KEY_LEN];
    uint64_t next_event_id;
    uint64_t events_lost; /* events that could not be queued to storage */
    int64_t start_ms, start_wall_ms;
    /* Traffic totals: closed sessions, plus the open ones at the last tick. */
    uint64_t closed_bytes_in, closed_bytes_out, closed_dropped_frames;
    uint64_t bytes_in, bytes_out, dropped_frames;
    rate_t rate_in, rate_out;
    /* CPU, RSS and open fds, sampled by the tick (procload.h): GET
     * /api/v1/node and node.heartbeat read it. */
    procload_t load;
    /* Publishes and plays refused by the "apps" rules (app_auth.h), by
     * point and result (APP_AUTH_OK unused): weir_auth_refused_total. */
    uint64_t auth_refused[APP_AUTH_POINTS][APP_AUTH_NRESULTS];
    /* limits.* admission of accepted connections and every limit's refusal
     * counter (weir_limit_refused_total); see node_limit_hit(). */
    conn_limits_t *limits;

    struct {
        const node_module_t *m; /* static, the module's */
        void *arg;
    } modules[NODE_MODULES_MAX]; /* node_add_module() */
    size_t nmodules;
    node_event_fn emit; /* node_set_event_sink(); NULL: events are dropped */
    struct {
        const struct admit_step *step; /* static, its layer's */
        void *arg;
    } admit_steps[NODE_ADMIT_STEPS_MAX]; /* admit_add_step(), by order */
    size_t nadmit_steps;

    int events_ready;            /* tick, reap and signal events are assigned */
    uint8_t rbuf[NODE_READ_BUF]; /* shared read buffer: parsers copy what they keep */
} node_t;

/* Creates the loop, binds the listeners and installs signal handlers.
 * Returns NULL with a message in err (e.g. "cannot listen on ...: Address
 * already in use"). The node keeps its own copy of conf. */
node_t *node_new(const conf_t *conf, char *err, size_t errlen);
/* A TCP socket bound to addr ("host:port") and listening, non-blocking and
 * close-on-exec, or -1 with a message in err naming `what` and the address
 * ("api: cannot listen on 127.0.0.1:8090: Address already in use"). */
int node_listen_socket(const char *what, const char *addr, int backlog, char *err, size_t errlen);
/* Sets up p (zeroed, owned by the caller, valid while lis is) as the pause
 * of lis; `what` names it in logs (a static string). Only the media
 * listeners' fields of p (which, tls, proto, start) are left unset. */
void node_accept_pause_init(node_accept_pause_t *p, node_t *node, struct evconnlistener *lis,
                            const char *what);
/* lis's accept() failed with errno err (not EAGAIN or ECONNABORTED):
 * the listener pauses for p's delay (then doubled), pending connections are
 * closed on EMFILE/ENFILE (through the node's reserve fd; refused as the
 * listener refuses when it has a session), and one line is logged per
 * LIMITS_LOG_INTERVAL_MS with what happened since the last one. */
void node_accept_failed(node_accept_pause_t *p, int err);
/* An accept worked: the next pause starts at its shortest again. */
void node_accept_ok(node_accept_pause_t *p);
/* Attaches the storage (owned by the caller, closed after node_free()) with
 * its node id (borrowed, valid while st is open) and the last event id it
 * holds: events are recorded from now on, numbered after that one. */
void node_set_storage(node_t *node, struct storage *st, const char *id, uint64_t last_event_id);
/* The session that the connections accepted on a listener start (main.c:
 * the rtmp room's and the httpflv room's), so that core names no session.
 * Set before node_run(); until then that listener's connections are closed
 * at accept. */
void node_set_session(node_t *node, node_listener_t which, const struct conn_proto *proto,
                      void (*start)(conn_t *c));
/* The event log's entry point (the cluster's evlog_emit(), set by main.c):
 * fields (a cJSON object, or NULL) are taken over; returns the event id or
 * 0. Core records its events (config.change) through node_event(). */
void node_set_event_sink(node_t *node, node_event_fn emit);
/* Records an event through the sink; without one, fields are freed and 0
 * returned. */
uint64_t node_event(node_t *node, const char *type, struct cJSON *fields);
/* Adds a module (m static, arg the module's) to the tick and the shutdown.
 * Returns 0, or -1 when NODE_MODULES_MAX are added already. */
int node_add_module(node_t *node, const node_module_t *m, void *arg);
/* The node's persistent id (from storage), or "" without storage. */
const char *node_id(const node_t *node);
/* The HTTP answer to a media request refused because the node drains: 302
 * with "Location: <drain redirect><target>" (one '/' between them), or 503
 * with "Retry-After: <drain.retry_after_s>" when there is no redirect.
 * *header gets that header line with its CRLF (malloc'd, the caller frees
 * it; NULL when out of memory: then 503 without it). Returns the status. */
int node_drain_answer(const node_t *node, const char *target, char **header);
/* The evdns base for outgoing connections (created on first use), or NULL
 * when it cannot be created. */
struct evdns_base *node_dns(node_t *node);
/* The TLS client side (tls_client.h; created on first use with tls.ca), or
 * NULL when out of memory. */
struct tls_client *node_tls_client(node_t *node);
/* Runs until SIGINT/SIGTERM; then closes every session. Returns 0. */
int node_run(node_t *node);
void node_free(node_t *node);

/* Called by the reaper for each closed connection: adds its traffic to the
 * totals. */
void node_conn_closed(node_t *node, conn_t *c);
/* Counts a refusal or close by limit k at its enforcement point (the
 * session logs it). */
void node_limit_hit(node_t *node, limit_kind_t k);
/* A new session's id (NODE_SESS_ID_COUNTER_BITS). */
uint64_t node_new_session_id(node_t *node);
/* Calls cb for every open session (not closing). cb must not close any. */
void node_foreach_session(node_t *node, void (*cb)(conn_t *c, void *arg), void *arg);
/* Calls cb for the open sessions with an id above after, in id order (a
 * session is listed when its id is taken, and ids grow), until cb returns
 * nonzero. The sessions up to after are skipped by comparing ids only. cb
 * must not close any. */
void node_sessions_after(node_t *node, uint64_t after, int (*cb)(conn_t *c, void *arg), void *arg);
/* The open session with that id (not closing), or NULL. */
conn_t *node_find_session(node_t *node, uint64_t id);

#endif
