/* hls_fmp4: the fMP4/CMAF rendition of one stream's HLS timeline
 * (hls_seg.h), built once per stream and served to every fMP4 player by
 * reference:
 *  - init segments (ftyp + moov, fmp4_mux_init()), one per codec
 *    configuration: id = the segment's map_id (the msn of the first segment
 *    with those sequence headers), so a new configuration has a new URI;
 *  - fragments (moof + mdat): one per LL-HLS part, or one per segment
 *    without parts; a segment with parts is its parts' fragments in order,
 *    so a segment's bytes are its parts' bytes joined.
 * Built lazily, on the first request for each, and cached: the init bytes
 * and each fragment's header in a refcounted block, the fragment's sample
 * bytes as (message, offset, length) pieces inside the segment's shared
 * messages. Serving adds the header block and the pieces to the player's
 * evbuffer by reference (each holding its block or message), never a copy.
 *
 * Bounds: fragments of the HLS_FMP4_SLOTS segments last asked for (more
 * than the timeline holds), HLS_FMP4_INITS init segments. The owner (the
 * stream's HLS state) owns the hls_fmp4_t; it must free it before the
 * timeline. Everything here runs on the event loop thread only.
 */
#ifndef WEIR_HLS_FMP4_H
#define WEIR_HLS_FMP4_H

#include <event2/buffer.h>
#include <stdint.h>

#include "hls_seg.h"

#define HLS_FMP4_SLOTS 64 /* > the segments a timeline holds (window + spare + open) */
#define HLS_FMP4_INITS 4
#define HLS_FMP4_VIDEO_TRACK 1
#define HLS_FMP4_AUDIO_TRACK 2

typedef struct hls_fmp4 hls_fmp4_t;

/* An empty cache, or NULL when out of memory. */
hls_fmp4_t *hls_fmp4_new(void);
/* Frees the cache (blocks still referenced by evbuffers live until sent).
 * NULL is a no-op. */
void hls_fmp4_free(hls_fmp4_t *f);

/* The init segment id of timeline h (a segment's map_id that h still
 * holds): its bytes added to out by reference (out NULL: the length only).
 * Returns the byte count; NODE_ENOTFOUND when no held segment has that
 * map_id; NODE_EPROTO when its sequence headers give no track fMP4
 * carries (H.264, H.265, AV1, AAC); NODE_ENOMEM. */
int64_t hls_fmp4_init(hls_fmp4_t *f, const hls_seg_t *h, uint64_t id, struct evbuffer *out);

/* The fMP4 bytes of sg (held by h): part < 0 the whole segment (it must be
 * complete), else its complete part `part`; added to out by reference (out
 * NULL: the length only). Returns the byte count (0 for a part without a
 * sample fMP4 carries), NODE_EPROTO (no track), NODE_ENOMEM. */
int64_t hls_fmp4_bytes(hls_fmp4_t *f, const hls_seg_t *h, const hls_segment_t *sg, int part,
                       struct evbuffer *out);

/* evbuffer_add_reference() cleanup for a message reference (arg: msg_t). */
void hls_msg_unref_cb(const void *data, size_t len, void *arg);

#endif
