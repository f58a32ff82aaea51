/* stream: the hub. Streams keyed by app/name, each with at most one
 * publisher, any number of players, and the shared message ring.
 *
 * Fan-out without copies: a stream appends each message once to its ring (a
 * circular array of refcounted msg_t). A player is a cursor into the ring:
 * it holds no queue of its own, so N players cost the shared data plus a
 * small fixed struct each. The ring keeps the GOP cache (from the oldest of
 * the last `stream.gop_cache` key frames, at most stream.gop_cache_max_bytes
 * and stream.gop_cache_max_ms) and whatever older messages some player
 * still needs, up to `player.max_queue_bytes` beyond the GOP cache.
 *
 * Slow players: a player whose cursor is more than `player.queue_ms` (plus
 * the GOP cache span) behind the live edge skips non-key video until the next
 * key frame, counting the dropped frames; one that stays behind for
 * `player.slow_timeout_ms`, or whose cursor falls out of the ring, is told
 * PLAYER_EV_SLOW and its owner disconnects it.
 *
 * Everything here runs on the event loop thread; nothing else touches it.
 * A publisher or player is owned by its session (or, later, a relay); the
 * hub only links to it and calls back through its ops.
 */
#ifndef WEIR_STREAM_H
#define WEIR_STREAM_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include "reason.h"
#include "conf.h"
#include "media_info.h"
#include "msg.h"
#include "stream_name.h" /* STREAM_APP_MAX, STREAM_NAME_MAX, stream_name_valid() */

typedef struct hub hub_t;
typedef struct stream stream_t;
typedef struct player player_t;
typedef struct publisher publisher_t;

typedef enum {
    PLAYER_EV_STARTED,     /* the stream is live; the player is attached from now on */
    PLAYER_EV_NOT_FOUND,   /* waited play_wait_ms and no publisher came */
    PLAYER_EV_UNPUBLISHED, /* publisher left; grace period runs */
    PLAYER_EV_REPUBLISHED, /* a publisher came back within the grace period */
    PLAYER_EV_ENDED,       /* grace over or stream closed: the player is detached */
    PLAYER_EV_SLOW         /* too far behind: the player is detached, disconnect it */
} player_event_t;

typedef struct {
    /* New data is available for a player that had caught up. */
    void (*wake)(player_t *p);
    /* Lifecycle events. ENDED, NOT_FOUND and SLOW come after the player was
     * detached from the stream. Must not free the player synchronously. */
    void (*event)(player_t *p, player_event_t ev);
} player_ops_t;

typedef struct {
    /* The hub wants this publisher gone (takeover by a new publisher, stream
     * closed). Must not free the publisher synchronously; it calls
     * stream_unpublish() (now or later). */
    void (*kick)(publisher_t *pub, reason_t why, const char *reason);
} publisher_ops_t;

struct publisher {
    const publisher_ops_t *ops;
    void *owner;
    uint64_t sess_id;
    const char *source; /* "rtmp", "relay" (static string; the API's stream source) */
    stream_t *stream;   /* set by the hub while publishing */
    /* Relay loop information of the publish request (weir_hops/weir_via),
     * kept valid by the owner while it publishes. via may be NULL. */
    unsigned hops;
    const char *via;
    /* The source identity of what it publishes (relay_hops.h): a relay
     * link's upstream's answer; NULL or "" for none (the stream gets an id
     * of its own). Read by stream_publish() only. */
    const char *src_id;
    uint32_t src_off;
    /* Set by the owner before stream_publish() (relay pull links do): when
     * this publisher unpublishes, the grace period runs silently (players
     * get no PLAYER_EV_UNPUBLISHED, and no PLAYER_EV_REPUBLISHED when a
     * publisher comes back), so that a replacement upstream continues the
     * stream for them as if nothing happened. */
    int hold_players;
    /* Takes the stream over from a live publisher even when
     * stream.publish_takeover is off (a relay's failback: the old link is
     * stopped by its owner, the players continue). */
    int takeover;
    /* Owner (the RTMP glue, rtmp_ctrl.h): data messages (onMetaData)
     * dropped over the AMF0 bounds, and whether that was logged (once per
     * publisher). The hub does not use them. */
    uint32_t data_over_bounds;
    int data_over_logged;
};

struct player {
    const player_ops_t *ops;
    void *owner;
    uint64_t sess_id;
    msg_enc_t enc;
    int relay; /* a relay link (our push, another node's pull): counted apart from viewers */
    /* Relay loop information of the play request (weir_hops/weir_via):
     * read by the hub hooks during stream_play() only. via may be NULL. */
    unsigned hops;
    const char *via;
    /* hub-managed state */
    stream_t *stream;
    int attached;      /* cursor is live */
    int waiting;       /* linked, waiting for a publisher */
    int wait_key;      /* skip non-key video until the next key frame */
    uint64_t cursor;   /* ring sequence of the next message */
    uint32_t offset;   /* bytes of the current message already written */
    msg_t *prelude[3]; /* metadata and sequence headers sent before the cursor */
    int nprelude;
    int64_t wait_deadline_ms;
    int64_t behind_since_ms; /* 0 when not behind */
    uint64_t dropped_frames;
    TAILQ_ENTRY(player) link;
};

hub_t *hub_new(const conf_t *conf, uint32_t rtmp_chunk_size);

/* What the relay manager learns from the hub. Both run inside a stream_*
 * call and must not call stream_* functions on this hub themselves. */
typedef struct {
    /* A publisher has just been attached to s (pub->hops and pub->via are
     * readable now). */
    void (*published)(void *arg, stream_t *s, const publisher_t *pub);
    /* A player asks for app/name, which is not live. Returns how long (ms)
     * the player may wait for a relay to bring it, 0 for no relay; the hub
     * waits max(wait_ms, that). p->hops and p->via are readable now. */
    uint32_t (*missing)(void *arg, const char *app, const char *name, const player_t *p);
} hub_hooks_t;
/* Sets the hooks (hooks must outlive the hub, or be reset to NULL). */
void hub_set_hooks(hub_t *hub, const hub_hooks_t *hooks, void *arg);
/* Detaches every player and publisher (events are not sent) and frees. */
void hub_free(hub_t *hub);
/* Periodic work: waiting-player and grace deadlines, slow players, ring
 * trimming, freeing empty streams. Call every ~250 ms with monotonic ms. */
void hub_tick(hub_t *hub, int64_t now_ms);
size_t hub_stream_count(const hub_t *hub);

/* Memory bounds (limits.max_memory_mb, stream.gop_cache_max_bytes and
 * stream.gop_cache_max_ms). A stream's GOP cache over its own bound drops
 * to the live edge (new players start at the next key frame; counted per
 * stream and in hub_gop_drops(), logged once per stream). Over the node's
 * bound, measured as msg_mem_bytes() (every message alive: ring, cached
 * headers, RTMP encodings), new publishers are refused (NODE_EMEMORY) and
 * each stream holding more than its share drops its GOP cache as it
 * pushes. The bound in bytes (0: none), the drops so far, and whether the
 * node is over it now. */
uint64_t hub_memory_bound(const hub_t *hub);
/* No bound for hub (a worker's, whose streams are copies: the loop's hub
 * bounds the node, counting the copies; worker.h). */
void hub_no_memory_bound(hub_t *hub);
/* The node's bound again from the conf given to hub_new() (SIGHUP changed
 * its limits.max_memory_mb). */
void hub_reload_memory_bound(hub_t *hub);
uint64_t hub_gop_drops(const hub_t *hub);
int hub_over_memory(const hub_t *hub);

/* Starts publishing app/name. Returns 0, or NODE_EBUSY when another
 * publisher holds the stream and takeover is off (stream.publish_takeover,
 * or pub->takeover for this publisher; with takeover, the old publisher is
 * kicked and detached), or NODE_EINVAL for a bad name.
 *
 * Continuation: a publish while the stream is in its grace period (or a
 * takeover while players are attached) continues the stream for the
 * attached players instead of restarting it:
 *  - the previous sequence headers and metadata stay cached until new ones
 *    arrive; a new one that differs byte-wise goes to the players in band,
 *    an identical one only replaces the cached copy;
 *  - audio and video are dropped (counted) until the new publisher's first
 *    video key frame, or its first audio frame when the stream had no
 *    video (or after STREAM_CONT_KEY_WAIT_MS without a key frame);
 *  - output timestamps go on: the first media message passed gets the last
 *    output timestamp plus the wall-clock gap since the last media message
 *    (1 ms .. STREAM_CONT_GAP_MAX_MS), and no sooner than its track's last
 *    plus that track's last frame interval (a new upstream that answers
 *    within a frame does not land inside the old last frame), later ones
 *    keep their spacing, and
 *    no track's timestamp ever goes back (audio and video never repeat one:
 *    a clamped frame gets the track's last plus 1 ms; 32-bit RTMP time);
 *  - same source: when the new publisher's first timestamp lies on the old
 *    one's timeline (two relays of one origin: the new upstream starts with
 *    its GOP cache, which the players have partly seen), media at or before
 *    the old publisher's last timestamp of its track is dropped, and the
 *    old offset is kept. When both publishers name the same source id
 *    (pub->src_id), the splice is exact: no key-frame wait, the stream goes
 *    on with the message after the players' last (timestamps compared less
 *    the difference of the src_off); otherwise at the next key frame;
 *  - the GOP cache restarts: new players start at the new publisher's
 *    first key frame, never at old frames with new headers.
 * The gap and a count are kept (stream_info_t) and logged at info level.
 * Returns 0; NODE_EBUSY (a publisher is live, no takeover); NODE_EINVAL (a
 * bad name); NODE_ELIMIT (a new stream over limits.max_streams);
 * NODE_EMEMORY (media memory over limits.max_memory_mb); NODE_ENOMEM. */
int stream_publish(hub_t *hub, const char *app, const char *name, publisher_t *pub);
/* The source identity of p's stream (relay_hops.h), for the answer to a
 * relay request: its id ("" when none: p is not attached) and in *off the
 * offset of the stream's output timestamps on it. */
const char *stream_player_source(const player_t *p, uint32_t *off);
/* The same for a live or unpublished stream (a push relay's publish). */
const char *stream_source(const stream_t *s, uint32_t *off);
/* The prefix of the ids of streams published here ("<prefix>.<session
 * id>"): the node id once known; a random one until then. */
void hub_set_source_prefix(hub_t *hub, const char *prefix);
/* Stops publishing. With players attached the grace period runs (they get
 * UNPUBLISHED first unless pub->hold_players); without, the stream ends. */
void stream_unpublish(publisher_t *pub, int64_t now_ms);

/* Longest timestamp jump at a continuation, and how long a continuation
 * drops audio waiting for a video key frame (see stream_publish()). */
#define STREAM_CONT_GAP_MAX_MS 10000u
/* A frame interval longer than this is a pause, not a frame duration. */
#define STREAM_CONT_STEP_MAX_MS 1000u
#define STREAM_CONT_KEY_WAIT_MS 10000
/* Same source (see stream_publish()): how far before the old publisher's
 * last ts (at most; the GOP cache's span plus 0.5 s, at least 1.5 s), or
 * after it beyond the wall-clock gap, the new publisher's first ts may lie. */
#define STREAM_SAME_SOURCE_BACK_MS 10000
#define STREAM_SAME_SOURCE_AHEAD_MS 1000

/* Media from the publisher. Takes ownership of payload (malloc'd). type is
 * 8 audio, 9 video or 18 data (metadata: payload starts with "onMetaData").
 * ts is the publisher's; the players get it restamped after a continuation.
 * Returns 0 or NODE_ENOMEM. Players are woken by stream_flush(). */
int stream_push(publisher_t *pub, uint8_t type, uint32_t ts, uint8_t *payload, uint32_t len,
                int64_t now_ms);
/* The players have new data; call after a batch of stream_push() (e.g. at
 * the end of the publisher's read). With a scheduler (hub_set_scheduler())
 * the stream is listed for the next fan-out pass, which wakes its players;
 * without one, every attached player with data is woken at once. */
void stream_flush(stream_t *s);

/* The fan-out pass (stream_fanout.c): request(arg) asks the loop to call
 * hub_fanout() soon (once per loop iteration, or player.merge_ms later);
 * it is called by stream_flush() and must not call back into the hub. */
void hub_set_scheduler(hub_t *hub, void (*request)(void *arg), void *arg);
/* Wakes the players of the listed streams in rounds (each player once per
 * round, the order turning by one each round, new players first), at most
 * HUB_PASS_PLAYERS wakes or HUB_PASS_BYTES written per call. Returns 1
 * when work is left for another pass (the caller runs it after the loop
 * polled its sockets again), 0 when done. */
int hub_fanout(hub_t *hub);
#define HUB_PASS_PLAYERS 128
#define HUB_PASS_BYTES (2u << 20)
/* Writes that carried media to players, messages written whole to players
 * (ring and prelude), and fan-out passes run, since the hub was made
 * (weir_player_writes_total, weir_player_messages_total). */
void hub_player_counts(const hub_t *hub, uint64_t *writes, uint64_t *msgs, uint64_t *passes);

/* Starts playing app/name. If the stream is live the player is attached
 * (cursor at the GOP cache) and this returns 0; the caller sends its "play
 * started" reply before any media. If not, and wait_ms > 0, the player waits
 * (returns 1) and gets PLAYER_EV_STARTED or PLAYER_EV_NOT_FOUND later.
 * NODE_ENOTFOUND if not live and wait_ms == 0, or for another node's relay
 * link (p->hops > 0) when nothing brings the stream (no publisher in its
 * grace period, no pull of ours); NODE_EINVAL for a bad name;
 * NODE_ELIMIT when waiting would make one stream more than limits.max_streams. */
int stream_play(hub_t *hub, const char *app, const char *name, player_t *p, uint32_t wait_ms,
                int64_t now_ms);
/* How many players wait for app/name (not live yet). */
size_t hub_waiters(hub_t *hub, const char *app, const char *name);
/* Tells every player waiting for app/name (not live) PLAYER_EV_NOT_FOUND
 * now, e.g. when the relay that was to bring it gave up. Returns how many. */
size_t stream_fail_waiters(hub_t *hub, const char *app, const char *name);
/* Detaches a player (no event). Safe to call on a detached player. */
void stream_player_stop(player_t *p);

/* The next bytes for a player: fills at most maxiov iovecs with whole or
 * partial messages from its prelude and cursor, up to about max_bytes.
 * Returns the iovec count; 0 when caught up. */
int stream_player_iov(player_t *p, struct iovec *iov, int maxiov, size_t max_bytes, int64_t now_ms);
/* Advances the player past n written bytes (n <= what the iovecs held). */
void stream_player_consumed(player_t *p, size_t n);
/* Bytes of media a player is behind the live edge (its queue). */
uint64_t stream_player_queued(const player_t *p);

/* Bytes of media the stream's ring holds (GOP cache plus what slow players
 * still need), and its message count. */
uint64_t stream_retained_bytes(const stream_t *s);
uint64_t stream_retained_msgs(const stream_t *s);
/* Forgets s's GOP cache at once (new players start at its next key
 * frame), neither counted nor logged: a copy of a stream (worker_loop.c)
 * follows its original's drop over limits.max_memory_mb. */
void stream_drop_gop_cache(stream_t *s);

const char *stream_app(const stream_t *s);
const char *stream_name(const stream_t *s);
int stream_is_live(const stream_t *s);

/* ---- introspection and control (the API, on the loop thread) ---------- */

/* A snapshot of one stream; pointers are valid until the loop runs again. */
typedef struct {
    const char *app, *name;
    int live;                  /* has a publisher */
    int unpublished;           /* publisher gone, grace period running */
    const publisher_t *pub;    /* or NULL */
    const media_info_t *media; /* what the publisher sends */
    double frame_rate;         /* video frames per second over the window, 0 unknown */
    uint64_t bytes_in;         /* payload bytes received (all publishers, dropped included) */
    uint64_t bytes_out;        /* bytes written to players */
    double bitrate_in_bps, bitrate_out_bps;
    size_t players;       /* attached players, relay links not counted */
    size_t relay_players; /* relay links playing it (our pushes, other nodes' pulls), attached
                             or waiting */
    size_t waiters;       /* players waiting for a publisher, relay links not counted */
    unsigned gops;        /* key frames in the GOP cache */
    uint64_t gop_cache_msgs, gop_cache_bytes;
    uint64_t gop_cache_drops; /* dropped to the live edge at a bound (stream.gop_cache_max_*,
                               * limits.max_memory_mb) */
    int64_t start_wall_ms;    /* Unix ms of the current (or last) publish */
    /* Continuations (see stream_publish()): how many, the last one's gap
     * (ms from the last media message before the loss to the first one
     * passed after it; 0 before any), and the audio/video messages dropped
     * waiting for a key frame (all continuations). */
    uint64_t continuations;
    int64_t last_gap_ms;
    uint64_t continuation_dropped;
    const char *last_splice; /* stream_cont_splice_name(); NULL before any */
    const char *source_id;   /* the stream's source identity ("" none); valid until the
                              * stream changes */
} stream_info_t;

/* The hash of app/name the hub's table uses (FNV-1a over "app/name"); pure
 * (the history's table of streams uses it too). */
uint32_t hub_key_hash(const char *app, const char *name);
/* Live or unpublished (grace) streams only; NULL otherwise. */
stream_t *hub_lookup(hub_t *hub, const char *app, const char *name);
/* Calls cb for every live or unpublished stream. cb must not add or remove
 * streams (it may read them). */
void hub_foreach(hub_t *hub, void (*cb)(stream_t *s, void *arg), void *arg);
/* Counts of live streams (with a publisher), attached players and waiting
 * players (relay links not counted: they are in *relay_links, which may
 * be NULL). */
void hub_counts(const hub_t *hub, size_t *streams, size_t *publishers, size_t *players,
                size_t *relay_links);
void stream_info(const stream_t *s, int64_t now_ms, stream_info_t *out);
/* Closes the stream: the publisher is kicked (why, reason) and every player
 * ended at once (attached players get PLAYER_EV_ENDED, waiters
 * PLAYER_EV_NOT_FOUND), with no grace period. Returns how many sessions
 * were told. */
size_t stream_close(stream_t *s, reason_t why, const char *reason);

#endif
