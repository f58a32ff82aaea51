/* hls_seg: one stream's HLS timeline, built once for every HLS player of
 * the stream: it cuts the stream's output messages into segments at video
 * key frames (at least hls.segment_ms long; audio-only streams at any
 * frame) and, for LL-HLS, each segment into partial segments of about
 * hls.part_ms (a part may start on any frame; INDEPENDENT when it starts
 * with a key frame). It keeps a sliding window of hls.window complete
 * segments for the playlist, plus HLS_SEG_SPARE older ones for players
 * still fetching them, and the open segment being cut.
 *
 * Segments hold references to the stream's shared messages (msg_t), never
 * copies: the serving side builds a segment's or part's bytes from them in
 * one container (the TS encoding cached on each message, or fMP4 fragments
 * built once per part) and sends them to every player by reference.
 *
 * Discontinuities: a sequence header that differs from the one in effect
 * (new codec parameters), a track's first one after the first segment (a
 * new track), or hls_seg_discontinuity() (a different source
 * took over the stream), closes the open segment at the next key frame and
 * marks the next one EXT-X-DISCONTINUITY. A same-source splice calls
 * nothing: the timeline goes on without a tag.
 *
 * Bounds: at most HLS_SEG_MAX_MSGS messages and HLS_SEG_MAX_PARTS parts per
 * segment, and a segment is cut at any frame after hls_seg_max_ms() without
 * a key frame (logged once per stream); window + HLS_SEG_SPARE + 1
 * segments. The owner (the stream's HLS state) owns the hls_seg_t; it owns
 * its segments and their message references. Everything here runs on the
 * event loop thread only.
 */
#ifndef WEIR_HLS_SEG_H
#define WEIR_HLS_SEG_H

#include <stdint.h>

#include "hls_playlist.h"
#include "msg.h"

#define HLS_SEG_SPARE 2
#define HLS_SEG_MAX_PARTS 64
#define HLS_SEG_MAX_MSGS 8192
#define HLS_SEG_WINDOW_MAX 60

typedef struct {
    uint32_t segment_ms; /* hls.segment_ms: the shortest segment cut at a key frame */
    uint32_t part_ms;    /* hls.part_ms: the part target; 0: no parts (classic HLS) */
    unsigned window;     /* hls.window: complete segments in the playlist (1..HLS_SEG_WINDOW_MAX) */
    uint64_t first_msn;  /* the first segment's media sequence number (< 2^52) */
} hls_seg_cfg_t;

typedef struct {
    uint32_t first, count; /* the part's messages: msgs[first .. first+count) */
    uint32_t dur_ms;
    int independent;
} hls_part_t;

typedef struct {
    uint64_t msn;
    msg_t **msgs; /* owned references, in output order */
    uint32_t nmsgs, cap;
    hls_part_t parts[HLS_SEG_MAX_PARTS];
    unsigned nparts;   /* complete parts (the open segment's open part is not counted) */
    uint32_t start_ts; /* output ts of its first message */
    uint32_t dur_ms;   /* 0 while open */
    int complete;
    int discontinuity;
    int64_t wall_ms;      /* Unix ms of its first message (EXT-X-PROGRAM-DATE-TIME) */
    msg_t *vseq, *aseq;   /* the sequence headers in effect (references; NULL: none) */
    uint64_t map_id;      /* the msn of the first segment with these headers (fMP4's init) */
} hls_segment_t;

typedef struct hls_seg hls_seg_t;

/* Called when a part or a segment completes (blocked playlist requests
 * may be answered): msn and the part count of that segment now. */
typedef void (*hls_seg_update_fn)(void *arg, uint64_t msn, unsigned nparts);

/* A new timeline (msn from cfg->first_msn), or NULL when out of memory. The config is
 * copied (window clamped to 1..HLS_SEG_WINDOW_MAX, segment_ms to at least
 * 100, part_ms to 0 or 50..segment_ms and at least hls_seg_max_ms() /
 * (HLS_SEG_MAX_PARTS - 1), so that the longest segment fits its parts).
 * on_update may be NULL. */
hls_seg_t *hls_seg_new(const hls_seg_cfg_t *cfg, hls_seg_update_fn on_update, void *arg);
/* Frees every segment and reference. NULL is a no-op. */
void hls_seg_free(hls_seg_t *h);

/* One message of the stream's output, in order (the hub's ring order, with
 * its output ts and MSG_F_* flags); the segmenter takes a reference if it
 * keeps it. Media before the first video key frame (a stream with video)
 * is skipped. wall_ms: the Unix time of its arrival. Returns 0, or
 * NODE_ENOMEM (the message is not kept; the timeline goes on). */
int hls_seg_push(hls_seg_t *h, msg_t *m, int64_t wall_ms);
/* A different source took the stream over: the next segment starts at its
 * next key frame with EXT-X-DISCONTINUITY. */
void hls_seg_discontinuity(hls_seg_t *h);
/* The stream restarted afresh (a new publisher, its own timestamps): the
 * open segment is closed now, at its last message, and the next one starts
 * with EXT-X-DISCONTINUITY at the next key frame. */
void hls_seg_break(hls_seg_t *h);
/* The stream ended: the open segment is closed (EXT-X-ENDLIST follows in
 * the playlist) and nothing more is cut until hls_seg_restart(). */
void hls_seg_end(hls_seg_t *h);

/* The longest segment: a stream without a key frame that long is cut at
 * any frame (4 segment targets, at least 10 s). */
uint32_t hls_seg_max_ms(const hls_seg_t *h);

/* The msn the next segment to start will get. */
uint64_t hls_seg_next_msn(const hls_seg_t *h);
/* The segment msn if it is still held (complete or open), else NULL. */
const hls_segment_t *hls_seg_get(const hls_seg_t *h, uint64_t msn);
/* For a blocking playlist request (_HLS_msn, _HLS_part; part < 0: none):
 * 1 when the playlist holds it (or the stream ended: answer the final
 * playlist now), 0 when it is near enough to wait for (the open segment's
 * next parts, or the next segments), -1 when it is more than two segments
 * past the playlist's last (RFC 8216bis 6.2.5.2: answer 400). */
int hls_seg_ready(const hls_seg_t *h, uint64_t msn, int part);

/* Fills *pl for hls_playlist_write() (container, name, token and skip are
 * the caller's to set): the last `window` complete segments and, with
 * parts, the open one; parts are listed for the segments within three
 * target durations of the live edge. descs must hold HLS_SEG_WINDOW_MAX + 1
 * entries and parts (HLS_SEG_WINDOW_MAX + 1) * HLS_SEG_MAX_PARTS. Returns
 * the number of segments described (0: nothing to play yet). */
unsigned hls_seg_describe(const hls_seg_t *h, hls_seg_desc_t *descs, hls_part_desc_t *parts,
                          hls_playlist_t *pl);

/* Counters for the API and logs. */
typedef struct {
    uint64_t segments;       /* completed */
    uint64_t discontinuities;
    uint64_t forced_cuts;    /* cut without a key frame (hls_seg_max_ms()) */
    uint64_t dropped_msgs;   /* not kept: over HLS_SEG_MAX_MSGS or out of memory */
} hls_seg_stats_t;
void hls_seg_stats(const hls_seg_t *h, hls_seg_stats_t *out);

#endif
