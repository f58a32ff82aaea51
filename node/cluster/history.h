/* history: the node's recent figures kept in memory, for the dashboard's
 * charts (GET /api/v1/history, GET /api/v1/streams/{app}/{name}/history):
 * once a second, from the node's tick, a point of the node's figures
 * (history_node_field_t) and one per live stream (history_stream_field_t),
 * each in a history_ring_t: HISTORY_1S_POINTS seconds at 1 s and
 * HISTORY_1M_POINTS minutes at 1 min.
 *
 * Bounds: the node's ring is about 100 KB. A stream's ring (about 37 KB) is
 * made when it is first seen live, for at most HISTORY_STREAMS_MAX streams
 * (about 38 MB when all are in use); one that is no longer live is kept
 * HISTORY_GONE_KEEP_S (so that a republish continues its chart, with a gap)
 * and then freed; a new stream takes the slot of the one gone longest when
 * all are used, and has no history while every slot is live (counted in
 * history_untracked(), logged once per HISTORY_LOG_INTERVAL_S).
 * Everything here runs on the loop thread; the node owns the history
 * (node->history, freed by node_free()).
 */
#ifndef WEIR_HISTORY_H
#define WEIR_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "history_ring.h"

struct node;
struct stream;
typedef struct history history_t;

#define HISTORY_1S_POINTS 900     /* 15 min at 1 s */
#define HISTORY_1M_POINTS 1440    /* 24 h at 1 min */
#define HISTORY_STREAMS_MAX 1024  /* streams with a history at once */
#define HISTORY_GONE_KEEP_S 900   /* a stream's history after it went off the air */
#define HISTORY_LOG_INTERVAL_S 60 /* the "no history for a stream" warning, at most */

/* The node's figures, in each point's order. */
typedef enum {
    HISTORY_NODE_BITRATE_IN,  /* kbit/s received (all sessions) */
    HISTORY_NODE_BITRATE_OUT, /* kbit/s sent */
    HISTORY_NODE_CONNECTIONS, /* open connections (limits.max_connections counts them) */
    HISTORY_NODE_PLAYERS,     /* attached players, relay links not counted */
    HISTORY_NODE_STREAMS,     /* live streams */
    HISTORY_NODE_CPU,         /* this process's CPU, % of one core */
    HISTORY_NODE_RSS,         /* resident set size, bytes */
    HISTORY_NODE_FIELDS
} history_node_field_t;

/* A stream's figures, in each point's order. */
typedef enum {
    HISTORY_STREAM_BITRATE, /* kbit/s received from its publisher */
    HISTORY_STREAM_FPS,     /* video frames per second */
    HISTORY_STREAM_PLAYERS, /* attached players, relay links not counted */
    HISTORY_STREAM_FIELDS
} history_stream_field_t;

/* Makes the history and adds its sampling to the node's tick
 * (node_add_module()); sets node->history. Returns 0 or -1 with a message
 * in err. */
int history_start(struct node *node, char *err, size_t errlen);

/* Takes the samples of wall second t_s now (the tick does, once a second;
 * tests call it directly). now_ms: the monotonic clock (the rates). */
void history_sample(history_t *h, uint32_t t_s, int64_t now_ms);

/* The node's ring; never NULL. */
const history_ring_t *history_node(const history_t *h);
/* The ring of app/name, or NULL when the stream has no history (never
 * seen live, freed, or not tracked). */
const history_ring_t *history_stream(const history_t *h, const char *app, const char *name);
/* Streams with a history now, and live streams that got none (all slots
 * live) since the start. */
size_t history_streams(const history_t *h);
uint64_t history_untracked(const history_t *h);

/* For tests without a node: a history sampling nothing (history_sample()
 * is then a no-op) fed by history_feed_*(); free with history_free(). */
history_t *history_new_detached(void);
void history_feed_stream(history_t *h, const char *app, const char *name, uint32_t t_s,
                         const float *v);
/* The end of one sampling round at t_s: streams not fed in it are gone
 * since then; ones gone longer than HISTORY_GONE_KEEP_S are freed. */
void history_feed_end(history_t *h, uint32_t t_s);
void history_free(history_t *h);

#endif
