/* heartbeat: the node.heartbeat event, every events.heartbeat_interval_s
 * (0: none), for the scheduler's view of the node's load: streams,
 * publishers, players, sessions, relays_active, bitrate_in_kbps,
 * bitrate_out_kbps, cpu_percent (this process over the last interval; 100 =
 * one core busy), rss_bytes, draining, uptime_s, version. Like every event
 * it is recorded in the log and delivered to the hooks that want it.
 * Runs from the node's tick on the loop thread. */
#ifndef WEIR_HEARTBEAT_H
#define WEIR_HEARTBEAT_H

#include <cjson/cJSON.h>
#include <stdint.h>

struct node;

typedef struct {
    int64_t next_ms;   /* when the next one is due (0: not started) */
    int64_t last_ms;   /* monotonic time of the last CPU sample */
    double last_cpu_s; /* process CPU time at the last sample */
} heartbeat_t;

/* Emits a heartbeat when one is due. */
void heartbeat_tick(struct node *node, heartbeat_t *hb, int64_t now_ms);

/* The fields of a heartbeat now (also used by tests); advances hb's CPU
 * sample. NULL when out of memory. */
cJSON *heartbeat_fields(struct node *node, heartbeat_t *hb, int64_t now_ms);

#endif
