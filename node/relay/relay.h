/* relay: the relay manager. It owns every relay (config-file ones and API
 * ones kept in SQLite), decides when each runs, and drives its links
 * (relay_link.h) on the event loop:
 *   push            runs while a matching stream is published here;
 *   pull always     runs while enabled;
 *   pull on_demand  starts when a player asks for a missing stream of the
 *                   app (one pull shared by every player that asks), stops
 *                   idle_timeout_s after the last player left.
 * A relay whose name is "*" runs one instance per stream. An instance tries
 * the URLs in order; after a failure it waits (exponential backoff from
 * retry_initial_ms to retry_max_ms, with jitter) and tries the next URL.
 *
 * Status of an instance: idle (not wanted now), connecting, active, backoff
 * (waiting to retry), failed (stopped trying: a loop or hop-limit refusal,
 * or an on-demand pull whose waiting players were all given up on).
 *
 * Files: relay_mgr.c (the manager, its hub hooks and tick), relay_run.c
 * (an instance's links: start, failure, failover, backoff),
 * relay_mgr_changes.c (loading and the API's changes), relay_view.c (status
 * snapshots and counters), relay_check.c (the serving side of loop
 * protection); relay_internal.h holds what they share. Events are recorded
 * through the node's event sink (node_event()).
 *
 * Everything runs on the loop thread only. Changes from the API are stored first
 * (storage thread), one at a time, and applied when committed, so what a
 * 2xx acknowledged survives kill -9 and memory never holds what SQLite
 * does not.
 */
#ifndef WEIR_RELAY_H
#define WEIR_RELAY_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h" /* sess_info_t */
#include "relay_spec.h"
#include "spec_store.h" /* spec_done_cb */

struct node;
typedef struct relay_mgr relay_mgr_t;

struct relay_links;
/* Creates the manager, installs the hub hooks, loads the config-file relays
 * (node->conf.relays_json) and the API relays from storage, and starts what
 * should run, through links (relay_link.h: NULL for RELAY_LINKS_NET, the
 * network links; a unit test passes fakes). Returns NULL with a message in
 * err. */
relay_mgr_t *relay_mgr_new(struct node *node, const struct relay_links *links, char *err,
                           size_t errlen);
/* Stops every link (no events) and frees. NULL is a no-op. */
void relay_mgr_free(relay_mgr_t *m);
/* Every ~250 ms: backoff deadlines, idle timeouts. */
void relay_mgr_tick(relay_mgr_t *m, int64_t now_ms);
/* The daemon's start (main.c), after node_set_storage(): makes the manager
 * (node->relays) and adds it to the node's tick and shutdown (node.h: ticked
 * after the hub; freed before the sessions close, at SIGINT/SIGTERM or
 * node_free()). Returns 0 or -1 with a message in err. */
int relay_mgr_start(struct node *node, char *err, size_t errlen);

/* A change's result (spec_store.h): called once, on the loop thread, right
 * after the change was applied (rc 0; created 1 when a put made the relay)
 * or came to nothing (rc non-zero, err says why), before any later change
 * is applied. */
typedef spec_done_cb relay_done_cb;

/* Changes from the API. They are queued and taken one at a time, in the
 * order submitted: at its turn a change is checked against the committed
 * relays, written to storage, and applied once committed. The checks, each
 * a refusal with err:
 *   NODE_ENOTFOUND  PATCH, DELETE: no relay id ("no relay r1");
 *   NODE_EBUSY      the id belongs to a config-file relay ("id: relay r1
 *                   comes from the config file and is read-only"); POST
 *                   (create_only): the id exists ("id: relay r1 already
 *                   exists"); another pull relay already feeds a stream
 *                   this one would ("name: pull relay r2 already feeds
 *                   live/cam1");
 *   NODE_EINVAL     with err naming the field: a URL points at this node
 *                   itself ("urls[0]: points at this node's own RTMP
 *                   listener"); PATCH: the merged relay is not valid;
 *   NODE_ELIMIT / NODE_ENOMEM  too many relays or changes waiting, storage
 *                   queue full, out of memory;
 *   NODE_EPRECOND   if_match (an HTTP If-Match value; NULL or "": none)
 *                   does not match relay_spec_etag() of the relay as
 *                   committed, or the relay does not exist.
 * When nothing else is queued, a refusal is returned at once and done is
 * never called; else the call returns 0 and done hears the result, never
 * inside the call. */

/* Creates or replaces the API relay spec->id (id required; create_only: a
 * POST, refused when the id exists). */
int relay_mgr_put(relay_mgr_t *m, const relay_spec_t *spec, int create_only, const char *if_match,
                  relay_done_cb done, void *arg, char *err, size_t errlen);
/* Changes the fields of the API relay id that patch (a PATCH body) gives,
 * merged over the relay as committed at its turn (relay_spec_patch()). */
int relay_mgr_patch(relay_mgr_t *m, const char *id, const cJSON *patch, const char *if_match,
                    relay_done_cb done, void *arg, char *err, size_t errlen);
/* Deletes the API relay id (its links stop). */
int relay_mgr_delete(relay_mgr_t *m, const char *id, const char *if_match, relay_done_cb done,
                     void *arg, char *err, size_t errlen);
/* The entity tag (spec_etag(), the node's key) of a relay's spec: 0, or -1
 * out of memory. Needs no manager (the API renders a committed change
 * with it when the manager is gone). */
int relay_spec_etag(const struct node *node, const relay_spec_t *spec, char out[SPEC_ETAG_MAX]);
/* Changes queued or in flight (0 for NULL): at shutdown, storage is synced
 * until none is left, since each is written only after the one before. */
size_t relay_mgr_changes_waiting(const relay_mgr_t *m);

/* The relay's spec, or NULL. Valid until the loop runs again. */
const relay_spec_t *relay_mgr_spec(relay_mgr_t *m, const char *id);
/* A new id not in use ("r-" and 12 hex digits), for POST without an id. */
void relay_mgr_new_id(relay_mgr_t *m, char out[RELAY_ID_MAX]);

/* ---- status snapshots (the API renders them: api/render_relays.c) ---- */

/* An instance's status: idle (not wanted now), connecting, active, backoff
 * (waiting to retry), failed (stopped trying). */
typedef enum {
    RELAY_ST_IDLE = 0,
    RELAY_ST_CONNECTING,
    RELAY_ST_ACTIVE,
    RELAY_ST_BACKOFF,
    RELAY_ST_FAILED
} relay_status_t;

/* "idle", "connecting", "active", "backoff", "failed". */
const char *relay_status_name(relay_status_t st);

/* One instance (the relay applied to one stream). Strings point into the
 * manager: valid until the loop runs again. */
typedef struct {
    const char *name; /* the local stream */
    relay_status_t status;
    const char *current_url; /* of the current or last attempt; NULL when idle */
    const char *last_error;  /* "" when none (cleared once up again) */
    reason_t last_reason;    /* last_error's code; REASON_NONE when none */
    uint32_t retries;        /* failed attempts since it was last up */
    uint64_t failovers;
    uint64_t bytes; /* relayed: in for pulls, out for pushes */
    double bitrate_bps;
    int64_t started_wall_ms; /* when the current link came up; 0: not up */
    uint64_t session_id;     /* the current link's session; 0: none */
    unsigned hops;
} relay_stream_view_t;

/* A relay and its live state. For an exact name the single instance's
 * values; for "*" the sums, and the URL, error and start of the active
 * instance (else the first one). */
typedef struct {
    const relay_spec_t *spec; /* the manager's (or relay_view_idle()'s argument) */
    relay_status_t status;    /* active if any instance is, else connecting,
                                 backoff, failed, idle in that order */
    const char *current_url;  /* NULL: none */
    reason_t last_reason;     /* last_error's code; REASON_NONE when none */
    const char *last_error;   /* the shown instance's; with no instance, the
                                 relay's last one; "" or NULL: none */
    uint64_t retries, failovers, bytes;
    double bitrate_bps;
    int64_t started_wall_ms; /* 0: not up */
    size_t nstreams;
    relay_stream_view_t *streams; /* owned by the view (relay_view_release()) */
    char etag[SPEC_ETAG_MAX];     /* relay_spec_etag(); "" from relay_view_idle() */
} relay_view_t;

/* The relay id now. Returns 0, NODE_ENOTFOUND or NODE_ENOMEM (nothing to
 * release then). */
int relay_mgr_view(relay_mgr_t *m, const char *id, int64_t now_ms, relay_view_t *out);
/* Every relay, ordered by id: *out a new array of *n views (NULL, 0 for
 * none), freed with relay_views_free(). Returns 0 or NODE_ENOMEM. */
int relay_mgr_views(relay_mgr_t *m, int64_t now_ms, relay_view_t **out, size_t *n);
/* A relay with this spec that runs nothing (status idle, counters 0): the
 * answer to a change committed after its manager went away (node
 * stopping). spec must outlive the view. */
void relay_view_idle(const relay_spec_t *spec, relay_view_t *out);
/* Frees what a view holds. */
void relay_view_release(relay_view_t *v);
void relay_views_free(relay_view_t *v, size_t n);

typedef struct {
    size_t relays;                                    /* configured */
    size_t idle, connecting, active, backoff, failed; /* instances by status */
    uint64_t starts, failures, failovers;             /* totals since start */
    uint64_t bytes;                                   /* relayed, totals */
} relay_counts_t;
void relay_mgr_counts(const relay_mgr_t *m, relay_counts_t *out);

/* Per relay, for /metrics: cb gets the spec and its counters. */
typedef struct {
    const relay_spec_t *spec;
    const char *status; /* aggregate, as in relay_view_t (relay_status_name()) */
    uint64_t starts, failures, failovers, bytes;
    double bitrate_bps;
} relay_stat_t;
void relay_mgr_foreach(const relay_mgr_t *m, void (*cb)(const relay_stat_t *st, void *arg),
                       void *arg);

/* ---- the serving side of loop protection ------------------------------- */

/* Checks a relay request arriving here (play or publish) with its hop count
 * and via list (NULL/0 when the client sent none: an ordinary client).
 * Returns 0, or -1 with a reason in err ("relay hop limit 8 reached",
 * "relay loop: this node is already on the path"); the caller refuses the
 * client, logs and records a relay.refused event. */
int relay_check_request(struct node *node, unsigned hops, const char *via, char *err,
                        size_t errlen);

/* Records a relay.refused event (node_event()): the session fields of si
 * (conn_event_fields()), then the request's hops and via and why it was
 * refused. */
void relay_refused_event(struct node *node, const sess_info_t *si, unsigned hops, const char *via,
                         reason_t why, const char *reason);

#endif
