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
 * Everything runs on the loop thread. Changes from the API are stored first
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

/* Creates the manager, installs the hub hooks, loads the config-file relays
 * (node->conf.relays_json) and the API relays from storage, and starts what
 * should run. Returns NULL with a message in err. */
relay_mgr_t *relay_mgr_new(struct node *node, char *err, size_t errlen);
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
 *                   queue full, out of memory.
 * When nothing else is queued, a refusal is returned at once and done is
 * never called; else the call returns 0 and done hears the result, never
 * inside the call. */

/* Creates or replaces the API relay spec->id (id required; create_only: a
 * POST, refused when the id exists). */
int relay_mgr_put(relay_mgr_t *m, const relay_spec_t *spec, int create_only, relay_done_cb done,
                  void *arg, char *err, size_t errlen);
/* Changes the fields of the API relay id that patch (a PATCH body) gives,
 * merged over the relay as committed at its turn (relay_spec_patch()). */
int relay_mgr_patch(relay_mgr_t *m, const char *id, const cJSON *patch, relay_done_cb done,
                    void *arg, char *err, size_t errlen);
/* Deletes the API relay id (its links stop). */
int relay_mgr_delete(relay_mgr_t *m, const char *id, relay_done_cb done, void *arg, char *err,
                     size_t errlen);
/* Changes queued or in flight (0 for NULL): at shutdown, storage is synced
 * until none is left, since each is written only after the one before. */
size_t relay_mgr_changes_waiting(const relay_mgr_t *m);

/* The relay's spec, or NULL. Valid until the loop runs again. */
const relay_spec_t *relay_mgr_spec(relay_mgr_t *m, const char *id);
/* A new id not in use ("r-" and 12 hex digits), for POST without an id. */
void relay_mgr_new_id(relay_mgr_t *m, char out[RELAY_ID_MAX]);

/* The relay as the API shows it: relay_spec_to_json() plus live state:
 *   status        aggregate: active if any instance is, else connecting,
 *                 backoff, failed, idle in that order
 *   current_url, last_error, started_at (RFC 3339 or null), retries,
 *   failovers, bytes, bitrate_kbps: of the single instance for an exact
 *   name; for "*" the sums, and the most recent error/URL
 *   streams        one object per instance: name, status, current_url,
 *                  last_error, retries, failovers, bytes, bitrate_kbps,
 *                  started_at, session_id (or null), hops
 * NULL if there is no such relay or out of memory. */
cJSON *relay_mgr_render(relay_mgr_t *m, const char *id, int64_t now_ms);
/* A relay with this spec that runs nothing (status idle, counters 0), as
 * relay_mgr_render() shows it: the answer to a change committed after its
 * manager went away (node stopping). NULL when out of memory. */
cJSON *relay_render_spec(const relay_spec_t *spec, int64_t now_ms);
/* Every relay, ordered by id, as a JSON array. NULL when out of memory. */
cJSON *relay_mgr_render_all(relay_mgr_t *m, int64_t now_ms);

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
    const char *status; /* aggregate, as rendered */
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

/* Records a relay.refused event: the session fields of si (evlog), then
 * the request's hops and via and why it was refused. */
void relay_refused_event(struct node *node, const sess_info_t *si, unsigned hops, const char *via,
                         const char *reason);

#endif
