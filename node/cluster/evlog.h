/* evlog: the node's event log (publish.start, play.stop, session.kick ...).
 *
 * An event gets the next id (increasing across restarts), the wall time and
 * its own fields, and is queued to storage (batched, off the loop thread; see
 * storage.h). Called on the loop thread at session starts and stops and on
 * API actions, never per media message. Every event is also handed to the
 * webhooks (hooks.h) as {"id", "type", "node_id", "time", ...fields}.
 */
#ifndef WEIR_EVLOG_H
#define WEIR_EVLOG_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "conn.h"
#include "node.h"

/* Appends an event. fields: a cJSON object with the event's own fields,
 * taken over (freed here), or NULL. Returns the event id, or 0 when the node
 * has no storage or the event could not be queued (logged and counted).
 * The event goes to the webhooks (hook_mgr_notify()) in every case: an event
 * that could not be recorded still uses up its id (the log has a gap there)
 * so that receivers can drop duplicates by id. */
uint64_t evlog_emit(node_t *node, const char *type, cJSON *fields);

/* A webhook payload: {"id": id, "type": type, "node_id": node_id, "time":
 * RFC 3339 UTC with ms, ...fields' members}. id and fields are taken over
 * (fields may be NULL; its members named like the first four are dropped).
 * NULL when out of memory (everything freed). Shared by notifications and
 * decisions (hooks.c). */
cJSON *evlog_payload(cJSON *id, const char *type, const char *node_id, int64_t wall_ms,
                     cJSON *fields);

/* Session events are built in core (conn_event(), conn_event_fields()) and
 * reach evlog_emit() through the node's event sink. */

#endif
