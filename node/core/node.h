/* node: the process-wide media plane: the libevent loop, the listeners, the
 * connection table and the hub. One node_t per process, passed explicitly. */
#ifndef WEIR_NODE_H
#define WEIR_NODE_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <stdint.h>
#include <sys/queue.h>

#include "conf.h"
#include "heartbeat.h"
#include "conn_limits.h"
#include "rate.h"
#include "stream.h"

typedef struct conn conn_t;
struct storage;
struct api;
struct relay_mgr;
struct hook_mgr;
struct evdns_base;
TAILQ_HEAD(conn_list, conn);

#define NODE_READ_BUF (64 * 1024)

/* A listener's pause while accept() fails (out of fds, ...): the listener is
 * disabled and ev enables it again after delay_ms, which doubles per failure
 * up to NODE_ACCEPT_PAUSE_MAX_MS and is reset by an accept. Loop thread. */
typedef struct node_accept_pause {
    struct node *node;
    struct evconnlistener *lis; /* borrowed: the node's rtmp_lis or http_lis */
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
    node_accept_pause_t rtmp_pause, http_pause;
    int reserve_fd;    /* /dev/null, closed for a moment to shed connections when out of fds */
    uint64_t fd_limit; /* RLIMIT_NOFILE in force (0: unknown); see fdlimit.h */
    struct event tick_ev;
    struct event reap_ev;
    struct event sigint_ev, sigterm_ev;
    struct event sighup_ev, sigusr1_ev, sigusr2_ev; /* reload.h; USR1/2 only logged */
    struct conn_list conns;
    struct conn_list reap;
    size_t nconns;
    uint64_t next_sess_id;
    int stopping;
    int64_t stop_deadline_ms; /* stopping: exit at the latest then (webhook flush) */

    struct storage *st; /* event log and state; NULL in tests without storage */
    int storage_lost;   /* its file was deleted or replaced: API writes refused (main.c) */
    struct api *api;    /* REST API; NULL when api.listen is empty */
    struct relay_mgr *relays; /* relay manager; NULL until node_start_relays() */
    struct evdns_base *dns;   /* name resolution for outgoing connections, made on first use */
    struct hook_mgr *hooks;   /* webhooks; NULL until node_start_hooks() */
    /* Drain (POST /api/v1/node/drain): no new publishers or players; kept
     * in storage (setting "node.drain") across restarts. */
    int draining;
    char drain_redirect[CONF_PATH_MAX]; /* HTTP-FLV 302 target prefix, or "" (503) */
    uint32_t drain_retry_after_s;       /* Retry-After of the 503 */
    int64_t drain_since_wall_ms;
    heartbeat_t heartbeat; /* node.heartbeat state (heartbeat.h) */
    /* SIGHUP (reload.h), loop thread: the config file (-c, owned by the
     * caller; NULL: built-in defaults) and whether log.level was set over
     * the API (then the file's level is not applied, as at a restart). */
    const char *conf_path;
    int log_level_by_api;
    uint64_t next_event_id;
    uint64_t events_lost; /* events that could not be queued to storage */
    int64_t start_ms, start_wall_ms;
    /* Traffic totals: closed sessions, plus the open ones at the last tick. */
    uint64_t closed_bytes_in, closed_bytes_out, closed_dropped_frames;
    uint64_t bytes_in, bytes_out, dropped_frames;
    rate_t rate_in, rate_out;
    /* Publishes and plays refused by the "apps" rules (app_auth.h), by
     * point and result (APP_AUTH_OK unused): weir_auth_refused_total. */
    uint64_t auth_refused[APP_AUTH_POINTS][APP_AUTH_NRESULTS];
    /* limits.* admission of accepted connections and every limit's refusal
     * counter (weir_limit_refused_total); see node_limit_hit(). */
    limits_t *limits;

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
/* Attaches the storage (owned by the caller, closed after node_free()):
 * events are recorded from now on, numbered after the last stored one. */
void node_set_storage(node_t *node, struct storage *st);
/* Starts the relay manager (config-file relays, then those in storage).
 * Call after node_set_storage(). Returns 0 or -1 with a message in err. */
int node_start_relays(node_t *node, char *err, size_t errlen);
/* Starts the webhook manager (config-file hooks, then those in storage).
 * Call after node_set_storage() and before the node.start event, so that
 * event is delivered. Returns 0 or -1 with a message in err. */
int node_start_hooks(node_t *node, char *err, size_t errlen);
/* The node's persistent id (from storage), or "" without storage. */
const char *node_id(const node_t *node);
/* The evdns base for outgoing connections (created on first use), or NULL
 * when it cannot be created. */
struct evdns_base *node_dns(node_t *node);
/* Runs until SIGINT/SIGTERM; then closes every session. Returns 0. */
int node_run(node_t *node);
void node_free(node_t *node);

/* Called by the reaper for each closed connection: adds its traffic to the
 * totals. */
void node_conn_closed(node_t *node, conn_t *c);
/* Counts a refusal or close by limit k at its enforcement point (the
 * session logs it). */
void node_limit_hit(node_t *node, limit_kind_t k);
/* Calls cb for every open session (not closing). cb must not close any. */
void node_foreach_session(node_t *node, void (*cb)(conn_t *c, void *arg), void *arg);
/* The open session with that id (not closing), or NULL. */
conn_t *node_find_session(node_t *node, uint64_t id);
/* Kicks a session now (connection closed, gone from the lists), recording a
 * session.kick event with `by`. Returns 0 or NODE_ENOTFOUND. */
int node_kick_session(node_t *node, uint64_t id, const char *by);

#endif
