/* hls_stream: the node's HLS state per stream: the stream's one HLS
 * timeline (hls_seg.h; its first msn is the Unix time in HLS_MSN_UNIT_MS
 * units, so that a timeline made again after an idle drop or a restart
 * starts above any msn the previous one served, as long as its segments
 * averaged HLS_MSN_UNIT_MS or more), fed by a tap on the hub's stream (stream_tap.h),
 * created on the first playlist request for a live stream and removed
 * after hls.idle_timeout_s without a request, or HLS_STREAM_LINGER_MS
 * after the stream ended. It serves every HLS player of the stream: the
 * playlist text, and a segment's bytes as references to the messages'
 * cached MPEG-TS packets (msg.h), or to its fMP4 rendition (hls_fmp4.h,
 * made on the first fMP4 request and dropped after hls.idle_timeout_s
 * without one), never copied per player.
 *
 * hls_install() adds the module (its tick) to the node; the states live in
 * the module (at most HLS_STREAMS_MAX). Everything here runs on the event
 * loop thread only. Pointers returned stay valid until the loop runs
 * again (a tick may free an idle state).
 */
#ifndef WEIR_HLS_STREAM_H
#define WEIR_HLS_STREAM_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "hls_seg.h"
#include "node.h"

#define HLS_STREAMS_MAX 4096
#define HLS_STREAM_LINGER_MS 10000 /* an ended stream's last playlist stays that long */
#define HLS_MSN_UNIT_MS 100         /* the first msn: Unix ms / this */

typedef struct hls_stream hls_stream_t;

/* A request held until the timeline moves (a blocking playlist reload, a
 * part not cut yet, the first segment): wake() is called, unlinked, when
 * a part or segment completes or the state goes away; it may wait again. */
typedef struct hls_waiter {
    void (*wake)(struct hls_waiter *w);
    hls_stream_t *st; /* set while waiting */
    TAILQ_ENTRY(hls_waiter) link;
} hls_waiter_t;

/* Adds the HLS module to the node (before node_run()). Returns 0 or -1. */
int hls_install(node_t *node);

/* The state of app/name, created for a live stream (its tap registered).
 * NULL with *rc: NODE_ENOTFOUND (not live and no state), NODE_ELIMIT (too
 * many states, or the stream's taps are full), NODE_ENOMEM. A request
 * marks it used (the idle timeout restarts). */
hls_stream_t *hls_stream_get(node_t *node, const char *app, const char *name, int create, int *rc);
/* The stream is gone for good (ended): no new session should start on it. */
int hls_stream_ended(const hls_stream_t *st);
/* Writes the media playlist of the container (URIs carrying the token, "" for none; skip:
 * a delta update, _HLS_skip) into out. Returns its length, 0 while there
 * is no complete segment to list (wait: a player without LL-HLS would see
 * none), or (size_t)-1 when it does not fit in cap. */
size_t hls_stream_playlist(const hls_stream_t *st, hls_container_t container, const char *token,
                           int skip, char *out, size_t cap);
/* A blocking reload's _HLS_msn / _HLS_part (part < 0: none): hls_seg_ready(). */
int hls_stream_ready(const hls_stream_t *st, uint64_t msn, int part);
/* Adds the bytes (MPEG-TS or fMP4) of segment msn (part < 0) or of its
 * part `part` to out by reference (each reference holds its message or
 * block until written; out NULL: the length only). Returns the byte count;
 * HLS_GONE when not held (or, for a segment, not complete); HLS_NOT_YET
 * for the next part to come (the open segment's next, or the next
 * segment's first: wait); HLS_NO_TRACK (fMP4: no track it carries);
 * NODE_ENOMEM. */
#define HLS_GONE (-1)
#define HLS_NOT_YET (-3)
#define HLS_NO_TRACK (-20)
int64_t hls_stream_bytes(hls_stream_t *st, hls_container_t container, uint64_t msn, int part,
                         struct evbuffer *out);
/* The fMP4 init segment id (init-{id}.mp4) added to out by reference (out
 * NULL: the length only). Returns the byte count, HLS_GONE (no held
 * segment uses it), HLS_NO_TRACK, NODE_ENOMEM. */
int64_t hls_stream_init(hls_stream_t *st, uint64_t id, struct evbuffer *out);
/* 1 when the stream's newest segment has a track fMP4 carries (or there is
 * no segment yet); 0 (logged once) when an fMP4 playlist would be useless. */
int hls_stream_fmp4_ok(hls_stream_t *st);
/* HLS bytes answered to players: added to the stream's bytes_out. */
void hls_stream_count_out(hls_stream_t *st, uint64_t bytes);
/* Holds w until the timeline moves (w must not be waiting already). */
void hls_stream_wait(hls_stream_t *st, hls_waiter_t *w);
/* Stops waiting (no wake). Safe on a waiter that is not waiting. */
void hls_stream_unwait(hls_waiter_t *w);
/* A session of app/name starts (+1) or ends (-1): counted as a player of
 * the stream (the state of app/name now, which may have replaced the one
 * the session started on; an ended one hands its count on). */
void hls_stream_players(const char *app, const char *name, int delta);

#endif
