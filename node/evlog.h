/* evlog: the node's event log (publish.start, play.stop, session.kick ...).
 *
 * An event gets the next id (increasing across restarts), the wall time and
 * its own fields, and is queued to storage (batched, off the loop thread; see
 * storage.h). Called on the loop thread at session starts and stops and on
 * API actions, never per media message. Issue 6 adds webhook delivery here.
 */
#ifndef WEIR_EVLOG_H
#define WEIR_EVLOG_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "conn.h"
#include "node.h"

/* Appends an event. fields: a cJSON object with the event's own fields,
 * taken over (freed here), or NULL. Returns the event id, or 0 when the node
 * has no storage or the event could not be queued (logged and counted). */
uint64_t evlog_emit(node_t *node, const char *type, cJSON *fields);

/* The fields every session event carries: session_id, app, name (when
 * known), protocol, remote. NULL when out of memory. */
cJSON *evlog_session_fields(const sess_info_t *si);

/* A session event: session_id, app, name, protocol, remote from si. With
 * stop set, also bytes_in, bytes_out, duration_ms (duration_ms argument),
 * dropped_frames for players, and reason (if not NULL). */
uint64_t evlog_session(node_t *node, const char *type, const sess_info_t *si, int stop,
                       int64_t duration_ms, const char *reason);

#endif
