/* drain: the node's drain state (POST /api/v1/node/drain and /undrain).
 *
 * A draining node accepts no new publishers or players: RTMP connect (and
 * publish/play on a connection made before) is rejected with
 * NetConnection.Connect.Rejected "node is draining"; HTTP-FLV answers 302 to
 * redirect + the request target when a redirect is set, else 503 with
 * Retry-After. Relay requests from other nodes are refused the same way, so
 * their links fail over. Sessions already running go on. /readyz says
 * "draining", and so does node.heartbeat.
 *
 * The state lives in node_t (draining, drain_redirect, drain_retry_after_s,
 * drain_since_wall_ms), is changed on the loop thread only, and is kept in
 * storage as the setting "node.drain" (drain_to_setting()) so that a node
 * drained by its scheduler stays drained across a restart.
 *
 * drain.remaining (GET /api/v1/node) counts the client sessions still open
 * (drain_remaining()); at the first tick of a drain where it is 0, a
 * node.drained event is recorded, once per drain (a new drain after an
 * undrain records it again; draining again with new settings does not).
 */
#ifndef WEIR_DRAIN_H
#define WEIR_DRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "node.h"

#define DRAIN_SETTING "node.drain"
#define DRAIN_RETRY_AFTER_MAX 3600

/* Sets the drain state (on 0: undrained; redirect and retry_after_s are
 * then ignored), logs it and records a node.drain / node.undrain event
 * (with by: "api", "restart"). Ending a drain that is not on changes
 * nothing and records no event. */
void drain_set(node_t *node, int on, const char *redirect, uint32_t retry_after_s,
               int64_t since_wall_ms, const char *by);

/* The setting text for a state: "" when not draining, else a JSON object
 * {"redirect_url", "retry_after_s", "since_ms"}. Returns a malloc'd string
 * or NULL when out of memory. */
char *drain_to_setting(int on, const char *redirect, uint32_t retry_after_s, int64_t since_wall_ms);

/* Restores the state from the setting's text (NULL or "" leaves the node
 * undrained). Returns 0, or -1 for text it cannot read (logged; the node
 * stays undrained). */
int drain_restore(node_t *node, const char *text);

/* The client sessions open: every accepted connection not closing (RTMP,
 * HTTP-FLV; one still in its handshake; an inbound relay link from another
 * node, whose players depend on it). The node's own outgoing relay links
 * are not counted: they only feed sessions counted here, and an always-on
 * pull would never let the count reach 0. */
size_t drain_remaining(node_t *node);

/* Adds the drain's tick (node.drained, with duration_ms: from the drain's
 * start, drain.since, to then) to the node. Returns 0, or -1 with a message
 * in err. */
int drain_start(node_t *node, char *err, size_t errlen);

/* 1 if u can be a redirect: an http:// or https:// URL of printable ASCII
 * without spaces (it becomes a Location header prefix), shorter than
 * DRAIN_URL_MAX. */
int drain_redirect_valid(const char *u);

#endif
