/* stream_cont: the stream's output timeline and its continuations (see
 * stream_publish() in stream.h): a publisher that comes back within the
 * grace period, or a relay's new upstream, continues the stream for the
 * attached players. This module owns the timeline state (stream_cont_t,
 * one per stream) and decides, message by message, what the hub passes and
 * with which timestamp:
 *  - stream_cont_drop(): media dropped while waiting for a key frame, and
 *    media of the same source that the players already have (with a named
 *    source, an exact splice: no key-frame wait when the new publisher
 *    overlaps what the players have);
 *  - stream_cont_source(): the source identity of the stream and of a
 *    continuing publisher (relay_hops.h), which decides the splice;
 *  - stream_cont_same_header(): an identical header is not pushed again;
 *  - stream_cont_out_ts() / stream_cont_note(): the output timestamp (the
 *    first media message anchors the continuation) and its record.
 * The hub keeps everything else (headers, GOP cache, ring, players): it
 * tells this module when a stream restarts or continues, and passes it each
 * message's FLV type, MSG_F_* flags and publisher timestamp.
 *
 * Internal to the hub (node/core/stream*.c); not a public API. Everything
 * here runs on the event loop thread only.
 */
#ifndef WEIR_STREAM_CONT_H
#define WEIR_STREAM_CONT_H

#include <stdint.h>

#include "msg.h"
#include "relay_hops.h" /* RELAY_SOURCE_ID_MAX */

/* Tracks of the output timeline: audio, video, data. */
enum { STREAM_TRACK_AUDIO, STREAM_TRACK_VIDEO, STREAM_TRACK_DATA, STREAM_TRACKS };

/* How the last continuation went on (stream_cont_splice_name()). */
typedef enum {
    STREAM_SPLICE_NONE,        /* no continuation yet */
    STREAM_SPLICE_EXACT,       /* the same named source, overlapping: nothing missing or repeated */
    STREAM_SPLICE_SAME_SOURCE, /* the same source, from its next key frame (no overlap, or
                                  a source without a name) */
    STREAM_SPLICE_RESTAMPED    /* another source: from its key frame, restamped */
} stream_splice_t;

/* Continuation statistics, kept for the stream's life (stream_info_t). */
typedef struct {
    stream_splice_t last_splice;
    uint64_t count;      /* continuations */
    uint64_t dropped;    /* audio/video messages dropped by stream_cont_drop() */
    int64_t last_gap_ms; /* the last continuation's gap */
} stream_cont_stats_t;

/* The output timeline, cleared when the stream restarts. */
typedef struct {
    int pending;          /* a continuation began: the offset is set by its first media */
    int restamp;          /* ts_offset applies and tracks are clamped */
    int dedup;            /* the publisher continues: identical headers are not pushed */
    int wait_key;         /* dropping audio/video until the first key frame */
    int wait_video;       /* ...a video key frame (0: the first audio frame will do) */
    int64_t wait_from_ms; /* arrival of the first media dropped (0: none yet) */
    uint32_t ts_offset;
    int track_seen[STREAM_TRACKS];
    uint32_t track_last[STREAM_TRACKS]; /* last output ts per track */
    int media_seen;
    uint32_t media_last;   /* highest output ts of audio/video (mod 2^32) */
    int64_t media_last_ms; /* arrival of the last audio/video pushed */
    /* input (publisher) ts of the current publisher's audio/video */
    int in_seen[STREAM_TRACKS];
    uint32_t in_last[STREAM_TRACKS];
    /* the last interval between two media messages of a track (input ts,
     * 1..STREAM_CONT_STEP_MAX_MS; 0 unknown), kept across a continuation:
     * the old track's last frame lasts that long, and a restamped splice
     * starts the track after it */
    uint32_t in_step[STREAM_TRACKS];
    /* Same source: the new publisher's timestamps continue the old one's
     * (two relays of one origin): what the players already have is dropped
     * and the old offset kept. Decided at the new publisher's first media. */
    int source_decided, same_source;
    int old_in_seen;
    uint32_t old_in_last;   /* the old publisher's highest audio/video input ts */
    int64_t back_ms;        /* how far before it a same source may start */
    int dup[STREAM_TRACKS]; /* same source: drop this track's media up to dup_until */
    uint32_t dup_until[STREAM_TRACKS];
    /* Exact splice: the old and the new publisher name the same source
     * timeline (stream_cont_source()); the new one's ts are the old one's
     * plus shift. When its first media confirms it (the window above), what
     * the players have is dropped and the rest goes on at once, without a
     * key-frame wait (a track waits only if the new publisher does not
     * overlap it: its first message after the dropped ones is then no
     * successor of the players' last, and video waits for a key frame). */
    int exact_named, exact;
    int named_other; /* both publishers name their source, and not the same */
    uint32_t shift;
    int overlap[STREAM_TRACKS]; /* a message was dropped as one the players have */
    int resumed[STREAM_TRACKS]; /* exact: the track passes again */
} stream_timeline_t;

/* The stream's source identity (relay_hops.h): the timeline its output is
 * on. A stream published here has its own id (own_id, offset 0); one fed
 * by a relay link is on its upstream's timeline (in_id, with the output
 * ts = the upstream's + ts_offset, so the offset it answers is in_off plus
 * ts_offset). Exactly one of own_id and in_id is set while live. */
typedef struct {
    char own_id[RELAY_SOURCE_ID_MAX];
    char in_id[RELAY_SOURCE_ID_MAX];
    uint32_t in_off;
    /* of the continuing publisher, taken over when its first media anchors */
    char next_id[RELAY_SOURCE_ID_MAX];
    uint32_t next_off;
    char next_own[RELAY_SOURCE_ID_MAX];
} stream_source_t;

typedef struct {
    const char *app, *name; /* the stream's (for logs; they outlive this) */
    uint64_t sess_id;       /* the continuing publisher's (for logs) */
    stream_cont_stats_t stats;
    stream_timeline_t tl;
    stream_source_t src;
} stream_cont_t;

/* A new stream app/name: its own timestamps, no statistics. */
void stream_cont_init(stream_cont_t *c, const char *app, const char *name);
/* The stream starts afresh (a new publisher, no continuation): the
 * publisher's own timestamps. The statistics are kept. */
void stream_cont_restart(stream_cont_t *c);
/* A continuation begins (publisher sess_id): media waits for a key frame
 * (a video one if has_video), and the first media message passed anchors
 * the timeline. cached_span_ms is how much media the GOP cache held before
 * the loss (a same-source upstream starts at most that far back). */
void stream_cont_begin(stream_cont_t *c, uint64_t sess_id, int64_t cached_span_ms, int has_video);
/* The publisher's source (its upstream's wire identity: src_id NULL or ""
 * for none) and the id its timeline gets when it has none (own_id: unique
 * per publish). After stream_cont_restart(), the stream takes it at once;
 * after stream_cont_begin(), at the first media message, and the source
 * decides the splice: the same src_id as the old publisher's is an exact
 * splice (see stream_timeline_t). */
void stream_cont_source(stream_cont_t *c, const char *src_id, uint32_t src_off,
                        const char *own_id);
/* The stream's identity now: its id ("" when none) and in *off the
 * offset of its output ts on that timeline. */
const char *stream_cont_source_id(const stream_cont_t *c, uint32_t *off);
/* "exact", "same_source", "restamped"; NULL for STREAM_SPLICE_NONE. */
const char *stream_cont_splice_name(stream_splice_t k);
/* Every message of the publisher (FLV type, MSG_F_* flags, its ts), before
 * it is pushed: 1 to drop it (counted in stats.dropped), 0 to pass it. */
int stream_cont_drop(stream_cont_t *c, uint8_t type, uint8_t flags, uint32_t ts, int64_t now_ms);
/* 1 if a header (payload, len) needs no push: the publisher continues and
 * it is byte-wise the cached one (NULL: none cached). */
int stream_cont_same_header(const stream_cont_t *c, const msg_t *cached, const uint8_t *payload,
                            uint32_t len);
/* The output ts of a message about to be pushed; the first media message
 * of a continuation anchors the timeline (and is logged). */
uint32_t stream_cont_out_ts(stream_cont_t *c, uint8_t type, uint8_t flags, uint32_t ts,
                            int64_t now_ms);
/* Records a pushed message (input ts in, output ts out) on the timeline. */
void stream_cont_note(stream_cont_t *c, uint8_t type, uint8_t flags, uint32_t in, uint32_t out,
                      int64_t now_ms);

#endif
