/* ban: publishes and plays refused for a while after a kick
 * (DELETE /api/v1/sessions/{id}?ban_s=N, and the hold time of a kicked
 * relay link, relay.kick_hold_s). An entry is one stream (app, name) and
 * one remote address (the port is not kept: a client reconnects from
 * another one); it refuses that address's publishes and plays of that
 * stream until it expires. The table is bounded (BAN_MAX entries; when it
 * is full, the entry that expires first gives way) and lives in memory
 * only: bans do not survive a restart. Its admission step (order
 * ADMIT_ORDER_BAN, after drain, before the app rules) answers ADMIT_BANNED.
 * Owned by the node (ban_install() ties it to the node's module list,
 * which frees it); everything here runs on the loop thread only. */
#ifndef WEIR_BAN_H
#define WEIR_BAN_H

#include <stdint.h>

struct node;

#define BAN_MAX 256
#define BAN_MAX_S 86400 /* the longest ban (a day) */

/* Makes the node's ban table and adds its admission step. Returns 0, or -1
 * (out of memory, the chain or the module list full). */
int ban_install(struct node *node);
/* Refuses remote's (a "host:port" or "[v6]:port" text) publishes and plays
 * of app/name for secs seconds (1..BAN_MAX_S) from now_ms (monotonic).
 * A ban of the same address and stream is extended, never shortened.
 * Returns 0, or -1 when remote is no address or the node has no table. */
int ban_add(struct node *node, const char *app, const char *name, const char *remote, uint32_t secs,
            int64_t now_ms);
/* Bans in force now (for tests and /metrics). */
unsigned ban_count(struct node *node, int64_t now_ms);

#endif
