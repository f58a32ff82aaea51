/* heartbeat: the node.heartbeat event, every events.heartbeat_interval_s
 * (0: none), for the scheduler's view of the node's load: streams,
 * publishers, players, sessions, relays_active, bitrate_in_kbps,
 * bitrate_out_kbps, cpu_percent (this process over the last interval; 100 =
 * one core busy), rss_bytes, draining, uptime_s, version. Like every event
 * it is recorded in the log and delivered to the hooks that want it.
 * Runs from the node's tick (a node module, node.h) on the loop thread;
 * every function here is called on the loop thread. */
#ifndef WEIR_HEARTBEAT_H
#define WEIR_HEARTBEAT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct node;
typedef struct heartbeat heartbeat_t;

/* How many relays are active now (relays_active): the relay layer's count,
 * handed in by the daemon (main.c) so that the heartbeat names no relay. */
typedef size_t (*heartbeat_count_fn)(void *arg);

/* Adds the heartbeat to the node's tick (node_add_module()); its state is
 * freed by node_free(). relays_active may be NULL (0). Returns 0 or -1 with
 * a message in err. */
int heartbeat_start(struct node *node, heartbeat_count_fn relays_active, void *arg, char *err,
                    size_t errlen);

/* The fields of a heartbeat now (also used by tests); advances hb's CPU
 * sample. NULL when out of memory. */
cJSON *heartbeat_fields(heartbeat_t *hb, int64_t now_ms);

#endif
