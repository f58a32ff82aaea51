/* relay_internal: what the relay manager's files (relay_mgr.c, relay_run.c,
 * relay_mgr_changes.c, relay_view.c) share: the manager, its relays and
 * their instances, and the functions one file offers the others. Owned by
 * the manager (relay_mgr_t owns its relays, a relay its instances, an
 * instance its current link). Everything here runs on the loop thread only.
 */
#ifndef WEIR_RELAY_INTERNAL_H
#define WEIR_RELAY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "node.h"
#include "relay.h"
#include "relay_link.h"

#define RELAY_MAX 1024      /* relays configured at most */
#define RELAY_RUNS_MAX 1024 /* instances of one "*" relay at most */

typedef struct relay relay_t;

/* One instance of a relay: the relay applied to one stream. */
typedef struct relay_run {
    relay_t *relay;
    struct relay_run *next;
    char name[STREAM_NAME_MAX]; /* the local stream */
    relay_status_t status;
    conn_t *conn;         /* the current link, or NULL */
    unsigned url_idx;     /* URL of the current (or next) attempt */
    unsigned round_fails; /* failed URLs since the last success or backoff */
    unsigned round_refusals;
    unsigned hops;
    char via[RELAY_VIA_MAX];
    uint32_t retries; /* failed attempts since the last time it was up */
    uint64_t failovers;
    uint64_t bytes_done; /* bytes of earlier links */
    int64_t next_try_ms;
    int64_t up_ms, up_wall_ms; /* when the current link came up (0: not up) */
    int64_t idle_since_ms;     /* on_demand: no players since (0: has players) */
    char url[RELAY_URL_MAX];   /* of the current or last attempt */
    char last_error[RELAY_ERR_MAX];
    reason_t last_reason; /* last_error's code (REASON_NONE with no error) */
    /* failback (relay_failback.c): a probe of URL probe_idx (< url_idx)
     * while the current link runs on a later URL; the next one at
     * probe_next_ms (0: not planned). */
    conn_t *probe;
    unsigned probe_idx;
    int64_t probe_next_ms;
    char probe_url[RELAY_URL_MAX];
} relay_run_t;

struct relay {
    relay_spec_t spec;
    relay_t *next; /* sorted by id */
    relay_run_t *runs;
    size_t nruns;
    relay_mgr_t *mgr;
    uint64_t starts, failures, failovers, bytes_closed;
    char last_error[RELAY_ERR_MAX];
    reason_t last_reason;
    char last_url[RELAY_URL_MAX];
    /* An instance gave up on a loop or the hop limit and is gone (no
     * players left): the relay shows failed until it is asked again. */
    int refused;
};

struct relay_mgr {
    node_t *node;
    const relay_links_t *links; /* how links start and stop */
    relay_t *relays;            /* sorted by id */
    size_t nrelays;
    uint64_t starts, failures, failovers, bytes_closed;
    uint64_t rng;
    hub_hooks_t hooks;
    spec_store_t store; /* pending API changes */
};

/* ---- relay_mgr.c: the relays --------------------------------------------- */

relay_t *relay_find(relay_mgr_t *m, const char *id);
/* A new relay of m with spec, not yet listed (NULL: out of memory). */
relay_t *relay_new(relay_mgr_t *m, const relay_spec_t *spec);
/* Lists r in m (sorted by id). */
void relay_insert(relay_mgr_t *m, relay_t *r);
/* Unlists, stops and frees the relay id (no-op when there is none). */
void relay_remove(relay_mgr_t *m, const char *id, reason_t why, const char *reason);
/* Starts what a relay should run now (after load, create or replace). */
void relay_activate(relay_t *r, int64_t now_ms);
/* Stops and frees every instance of r. */
void relay_deactivate(relay_t *r, reason_t why, const char *reason, int64_t now_ms);
/* A committed change of r's spec to *spec, applied as relay_spec_diff()
 * says: nothing for the same spec, no link touched for quiet fields, only
 * the links whose upstream left the list for new URLs, else a restart. */
void relay_replace(relay_t *r, const relay_spec_t *spec, int64_t now_ms);

/* ---- relay_run.c: the instances ------------------------------------------ */

relay_run_t *relay_run_find(relay_t *r, const char *name);
/* A new instance of r for the local stream name (NULL: too many or out of
 * memory). */
relay_run_t *relay_run_new(relay_t *r, const char *name);
/* Stops its link (relay.stop when it was up) and frees the instance. */
void relay_run_free(relay_run_t *run, reason_t why, const char *reason, int64_t now_ms);
/* Starts an idle, failed or new instance (not one already running) for a
 * request with hops and via (0/NULL: none), from its first URL. */
void relay_run_kick_off(relay_run_t *run, unsigned hops, const char *via, int64_t now_ms);
/* The tick of one instance: the on-demand idle timeout, a push whose stream
 * ended, a backoff that is over. May free run. */
void relay_run_tick(relay_run_t *run, int64_t now_ms);
/* The relay's URL list changed: an instance whose upstream is still
 * listed keeps its link (at the URL's new place); one whose upstream left
 * fails over to the new list's first URL (relay.failover; the local
 * stream's players are kept as in any failover). */
void relay_run_urls_changed(relay_run_t *run, int64_t now_ms);
/* Starts a link of the instance to url (a probe when probe is set) with
 * the instance's hops and via. Returns it, or NULL with err. */
conn_t *relay_run_link_start(relay_run_t *run, const char *url, int probe, char *err,
                             size_t errlen);
/* The probe c of URL idx is live: it becomes the instance's link; the old
 * one is stopped (relay.failover from/to, relay.stop, relay.start). */
void relay_run_adopt(relay_run_t *run, conn_t *c, unsigned idx, int64_t now_ms);
/* Bytes relayed by the current link (in for pulls, out for pushes). */
uint64_t relay_run_link_bytes(const relay_run_t *run);
/* Players (viewers and push relays) attached to or waiting for app/name. */
size_t relay_run_watchers(relay_mgr_t *m, const char *app, const char *name);
/* 1 if a running status (connecting, active). */
int relay_run_busy(const relay_run_t *run);

/* ---- relay_failback.c: the background probe of failback ---------------- */

/* From the instance's tick: starts, stops or leaves its probe as its
 * relay and state ask (relay_failback.c says when). */
void relay_failback_tick(relay_run_t *run, int64_t now_ms);
/* Stops the instance's probe, if any (no event). */
void relay_failback_stop(relay_run_t *run);
/* The probe link's reports (relay_run.c's link ops pass them on). */
void relay_failback_probe_down(relay_run_t *run, relay_fail_t why, const char *err);
int relay_failback_ready(relay_run_t *run, conn_t *c);

/* ---- relay_mgr_changes.c: loading and the API's changes ------------------- */

/* The spec_store operations of the relays (storage, prepare, settle). */
extern const spec_store_ops_t RELAY_STORE_OPS;
/* spec_load_fn: one config-file or stored relay, checked and started. */
int relay_mgr_load_one(void *owner, const cJSON *obj, int from_config, char *err, size_t errlen);

#endif
