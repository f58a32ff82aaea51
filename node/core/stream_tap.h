/* stream_tap: in-process consumers of a stream ("taps"), for wire formats
 * that are built once per stream rather than sent per player (HLS): the
 * hub calls a tap with every message as it is pushed to the ring
 * (output ts and MSG_F_* flags set, its MPEG-TS encoding done), and with
 * the stream's lifecycle events. A tap (unless no_ts) holds the stream's
 * MPEG-TS encoding active while it is registered (stream_ts.c), and on
 * registration it is fed the cached sequence headers and the GOP cache, so
 * that it starts at the cached key frame.
 *
 * A stream with a tap stays through the unpublish grace period like one
 * with players; the tap's `players` (set by its owner) count as players of
 * the stream in stream_info() and hub_counts().
 *
 * Bounded: at most STREAM_TAPS_MAX taps per stream. The owner owns the
 * tap struct and keeps it valid until stream_tap_remove() or the END
 * event (after which the hub forgets it). Callbacks must not add or remove
 * taps of the same stream nor call other stream_* functions of the hub.
 * Everything here runs on the event loop thread only.
 */
#ifndef WEIR_STREAM_TAP_H
#define WEIR_STREAM_TAP_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "stream.h"

#define STREAM_TAPS_MAX 4

typedef enum {
    STREAM_TAP_RESTART,          /* a new publisher starts the stream afresh (its own timeline) */
    STREAM_TAP_SPLICE_EXACT,     /* a continuation of the same named source, nothing missing */
    STREAM_TAP_SPLICE_SAME,      /* a continuation of the same source, from its key frame */
    STREAM_TAP_SPLICE_RESTAMPED, /* a different source took over (restamped) */
    STREAM_TAP_END,              /* the stream ended: the tap is detached (stream NULL) */
    STREAM_TAP_MEMORY            /* over limits.max_memory_mb the stream dropped its GOP cache:
                                  * the owner drops what it holds of the stream that it can */
} stream_tap_ev_t;

typedef struct stream_tap stream_tap_t;
struct stream_tap {
    /* A message of the stream's output, in ring order (take a reference to
     * keep it). */
    void (*msg)(stream_tap_t *t, msg_t *m);
    /* A lifecycle event; a continuation's comes right before the first
     * message it passes. */
    void (*event)(stream_tap_t *t, stream_tap_ev_t ev);
    /* Optional (NULL: none): an event the stream's players get in the
     * order of its messages, PLAYER_EV_UNPUBLISHED (the publisher left, the
     * grace period begins) or PLAYER_EV_REPUBLISHED (one came back within
     * it), right after the messages before it (worker.c's copies pass it
     * to their players). */
    void (*player_event)(stream_tap_t *t, player_event_t ev);
    void *owner;
    size_t players; /* owner-set: viewers this tap serves (counted as the stream's players) */
    int no_ts;      /* owner-set before stream_tap_add(): the tap uses no MPEG-TS encoding, so it
                     * does not hold the stream's muxer (worker.c's copies for FLV players) */
    int players_end; /* owner-set: its players end with the stream (stream_close() counts
                      * them among the sessions it told) */
    uint64_t retained; /* owner-set: bytes of the stream's media the owner holds elsewhere (a
                        * worker's copy of the ring), counted in the stream's share of
                        * limits.max_memory_mb */
    /* hub-managed */
    stream_t *stream;
    uint64_t cont_seen; /* the stream's continuation count last told */
};

/* Registers t on s (live or in grace) and feeds it the headers and the GOP
 * cache at once. Returns 0, or NODE_ELIMIT when s has STREAM_TAPS_MAX taps. */
int stream_tap_add(stream_t *s, stream_tap_t *t);
/* Unregisters t (no event). Safe on a detached tap. */
void stream_tap_remove(stream_tap_t *t);
/* Bytes the tap's owner sent to its viewers (e.g. HLS answers): added to
 * the stream's bytes_out, as a player's written bytes are. A no-op on a
 * detached tap. */
void stream_tap_count_out(stream_tap_t *t, uint64_t bytes);

#endif
