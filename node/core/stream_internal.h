/* stream_internal: the hub's structs, shared by its files (not a public
 * API; stream.h is):
 *   stream.c       registry, publishing, playing (the fan-out), ticks, API
 *   stream_ring.c  the ring of messages a stream holds for its players
 *   stream_gop.c   the GOP cache inside the ring and its bounds
 *   stream_cont.c  the output timeline and continuations (stream_cont.h)
 *   stream_source.c the source identity of streams published here
 *   stream_ts.c    the stream's MPEG-TS encoding for its TS consumers
 *   stream_tap.c   in-process consumers of the stream (stream_tap.h)
 *   stream_fanout.c the fan-out pass: when the players are written
 * The ring accessors the fan-out uses per message and player are static
 * inline here, so the split costs the hot path no call.
 *
 * The hub owns its streams; a stream owns its ring's messages and cached
 * headers. Everything here runs on the event loop thread only.
 */
#ifndef WEIR_STREAM_INTERNAL_H
#define WEIR_STREAM_INTERNAL_H

#include <string.h>

#include "rate.h"
#include "stream.h"
#include "stream_cont.h"
#include "stream_tap.h"
#include "ts_mux.h"

#define HUB_BUCKETS 1024
#define STREAM_GOP_MAX 16 /* key frames the GOP cache tracks at most */

typedef enum { STREAM_IDLE, STREAM_LIVE, STREAM_GRACE } stream_state_t;

TAILQ_HEAD(player_list, player);
TAILQ_HEAD(stream_list, stream);

struct stream {
    hub_t *hub;
    struct stream *hnext;
    uint32_t hash;
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    stream_state_t state;
    publisher_t *pub;
    int64_t grace_deadline_ms;
    struct player_list players; /* attached */
    struct player_list waiters; /* waiting for a publisher */
    size_t nplayers, nwaiters;
    size_t nrelay;         /* attached players that are relay links (in nplayers): our push
                            * relays and other nodes' pulls */
    size_t nrelay_waiting; /* waiting players that are relay links (in nwaiters) */

    /* The ring: sequences [tail, head) are held in slots[seq & (cap-1)]. */
    msg_t **slots;
    uint32_t cap;
    uint64_t head, tail;
    uint64_t bytes_total; /* payload bytes ever pushed (stream_off of the next message) */
    uint64_t min_cursor;  /* lower bound of attached players' cursors (refreshed by tick) */

    uint64_t gop_seqs[STREAM_GOP_MAX]; /* key frames still cached, oldest first */
    unsigned ngop;
    int64_t last_key_ms;
    int64_t last_gop_ms; /* span of the last complete GOP, by arrival */
    uint64_t gop_drops;  /* GOP cache dropped to the live edge at a bound */
    int gop_drop_logged; /* the first drop was logged (once per stream) */

    msg_t *meta, *vseq, *aseq;
    ts_mux_t *tsmux;                     /* while the stream has TS consumers (stream_ts.c) */
    size_t ts_users;                     /* attached TS players and taps (stream_ts_hold()) */
    unsigned ts_refused;                 /* bit 0 audio, bit 1 video: a refusal was logged */
    stream_tap_t *taps[STREAM_TAPS_MAX]; /* stream_tap.c */
    unsigned ntaps;
    int unpub_notified; /* players were told UNPUBLISHED for this grace period */
    stream_cont_t cont;

    /* The fan-out pass (stream_fanout.c). */
    TAILQ_ENTRY(stream) dirty_link; /* on hub->dirty while dirty */
    int dirty;                      /* has players to visit */
    int again;                      /* data came during the current round */
    size_t round_left;              /* players still to visit in the current round */

    /* statistics for the API */
    media_info_t media;
    uint64_t bytes_in; /* payload bytes received, dropped ones included */
    uint64_t bytes_out;
    uint64_t video_frames;
    rate_t rate_in, rate_out, rate_fps;
    int64_t start_wall_ms;
};

struct hub {
    const conf_t *conf;
    uint32_t chunk_size;
    const hub_hooks_t *hooks;
    void *hooks_arg;
    stream_t *buckets[HUB_BUCKETS];
    size_t nstreams;
    uint64_t max_memory;   /* limits.max_memory_mb in bytes, auto resolved; 0: none */
    uint64_t gop_drops;    /* GOP cache drops, every stream, ever */
    int64_t mem_logged_ms; /* last "over the memory bound" line */
    char src_prefix[48];   /* hub_set_source_prefix() */
    uint64_t mem_unlogged; /* GOP caches dropped for memory since that line */
    /* The fan-out pass (stream_fanout.c): the streams with players to
     * visit, the scheduler that runs hub_fanout(), and its counts. */
    struct stream_list dirty;
    void (*sched)(void *arg);
    void *sched_arg;
    uint64_t written;       /* bytes written to players (stream_player_consumed()) */
    uint64_t player_writes; /* writes that carried media to a player */
    uint64_t player_msgs;   /* messages written whole to a player */
    uint64_t passes;        /* fan-out passes run */
};

/* ---- the ring (stream_ring.c) ------------------------------------------ */

static inline msg_t *stream_ring_at(const stream_t *s, uint64_t seq)
{
    return s->slots[seq & (s->cap - 1)];
}

/* Allocates an empty ring (0 or NODE_ENOMEM); frees it and its messages. */
int stream_ring_init(stream_t *s);
void stream_ring_free(stream_t *s);
/* Appends m (the ring takes the reference); full at its bound, the oldest
 * message goes, even from the GOP cache. Trims what no player needs. */
void stream_ring_push(stream_t *s, msg_t *m);
/* Drops what no player needs: everything before the GOP cache that is
 * behind every attached player, and, whatever the players need, everything
 * more than player.max_queue_bytes before the GOP cache. */
void stream_ring_trim(stream_t *s);

/* ---- the GOP cache (stream_gop.c) -------------------------------------- */

/* Sequence of the oldest cached key frame (the head when none). */
static inline uint64_t stream_gop_start(const stream_t *s)
{
    return s->ngop ? s->gop_seqs[0] : s->head;
}

/* Forgets the oldest cached key frame (its messages stay in the ring). */
static inline void stream_gop_pop_oldest(stream_t *s)
{
    memmove(s->gop_seqs, s->gop_seqs + 1, (s->ngop - 1) * sizeof s->gop_seqs[0]);
    s->ngop--;
}

/* Forgets the GOP cache bookkeeping: new players start at the next key
 * frame (the messages stay in the ring for the players still reading them). */
void stream_gop_reset(stream_t *s);
/* How much media the cache spans (the last GOP's span times the GOPs it
 * keeps), in ms by arrival. */
int64_t stream_gop_span_ms(const stream_t *s);
/* Pushes a media message m (flags set, stream_off and arrival_ms too) into
 * the ring: a video key frame starts a GOP in the cache; then the cache is
 * kept within stream.gop_cache_max_bytes / _max_ms and the node's memory
 * bound. */
void stream_gop_push(stream_t *s, msg_t *m, int64_t now_ms);

/* ---- the source identity (stream_source.c) ----------------------------- */

/* pub starts publishing s (fresh or continuing): tells the timeline its
 * source, or the id of its own ("<prefix>.<session id>"). */
void stream_source_publish(stream_t *s, const publisher_t *pub);

/* ---- MPEG-TS (stream_ts.c) --------------------------------------------- */

/* The stream encodes MPEG-TS while it has TS consumers: the first one to
 * attach starts its muxer, which is fed the cached sequence headers and
 * then encodes the GOP cache (from its oldest key frame on); from then on
 * stream_ts_push() encodes each message as it is pushed, in ring order,
 * so the continuity counters run across messages and every consumer sends
 * the same bytes by reference (msg_set_mpegts()). The last one to leave
 * stops it (a later first one starts afresh). A header that changed
 * inside the GOP cache before the muxer started is not seen by it: the
 * frames before that header get the newer parameter sets.
 *
 * A player p attaches or leaves (nothing unless p->enc is a TS encoding). */
void stream_ts_attach(stream_t *s, const player_t *p);
void stream_ts_detach(stream_t *s, const player_t *p);
/* A consumer that is no player (a tap) holds the encoding active, as a TS
 * player does, and releases it. */
void stream_ts_hold(stream_t *s);
void stream_ts_release(stream_t *s);
/* A message about to be pushed to the ring (encoded while active). */
void stream_ts_push(stream_t *s, msg_t *m);
/* The stream starts afresh: the muxer forgets its codec configurations. */
void stream_ts_restart(stream_t *s);
/* The stream is freed. */
void stream_ts_free(stream_t *s);

/* ---- events (stream.c) ------------------------------------------------- */

/* Pushes the marker of ev (PLAYER_EV_UNPUBLISHED, PLAYER_EV_REPUBLISHED)
 * into s's ring: each player gets the event when its cursor reaches it;
 * the taps are told at once (stream_tap_player_event()). Call
 * stream_flush() after. Used by stream.c, and by a worker for its copy of
 * a stream (worker_loop.c). */
void stream_push_event(stream_t *s, player_event_t ev);

/* ---- taps (stream_tap.c) ----------------------------------------------- */

/* m is being pushed (flags, output ts and MPEG-TS set; stream_gop_push(),
 * right before the ring, which may drop it at once): the taps get it (after
 * a continuation's event). */
void stream_tap_push(stream_t *s, msg_t *m);
/* The stream's headers were cleared: with a publisher, it starts afresh
 * (STREAM_TAP_RESTART); without, it ended (STREAM_TAP_END, taps detached). */
void stream_tap_restart(stream_t *s);
/* A player event in s's ring (UNPUBLISHED, REPUBLISHED): the taps with a
 * player_event callback are told. */
void stream_tap_player_event(stream_t *s, player_event_t ev);
/* What the taps' owners hold of s elsewhere (stream_tap_t.retained,
 * summed). */
uint64_t stream_tap_retained(const stream_t *s);
/* s dropped its GOP cache over the node's memory bound: each tap is told
 * (STREAM_TAP_MEMORY). */
void stream_tap_memory(stream_t *s);
/* The players the taps serve (stream_tap_t.players, summed). */
size_t stream_tap_players(const stream_t *s);

/* ---- the fan-out pass (stream_fanout.c) -------------------------------- */

/* s is freed: off the hub's list of streams to visit. */
void stream_fanout_forget(stream_t *s);

/* ---- player read side (stream_player.c) -------------------------------- */

/* How far behind the live edge a player may fall before its droppable
 * video is skipped: player.queue_ms plus one GOP when the cache is on. */
int64_t stream_allowed_lag_ms(const stream_t *s);
/* How old the message at p's cursor is (0 at the edge or out of the ring). */
int64_t stream_player_lag_ms(const player_t *p, int64_t now_ms);

#endif
