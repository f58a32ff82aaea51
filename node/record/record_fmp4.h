/* record_fmp4: a recorded file's fragmented-MP4 state: the tracks made
 * from the stream's sequence headers (copied here), the init segment
 * (ftyp + moov), and the fragment being gathered (copies of its samples'
 * coded bytes, a buffer per track) until it is cut: at a video key frame,
 * after RECORD_FMP4_FRAG_MS, before RECORD_FMP4_FRAG_BYTES or
 * FMP4_MAX_SAMPLES, and when the file ends. The bytes themselves go
 * through record_file (a raw file), so a file is its init segment then
 * whole moof + mdat pairs.
 * Ownership: the caller owns the state (record_fmp4_free); pointers it
 * returns point into it and last until the next call on it.
 * Threads: the recording writer thread only (one job's state).
 */
#ifndef WEIR_RECORD_FMP4_H
#define WEIR_RECORD_FMP4_H

#include <stddef.h>
#include <stdint.h>

#include "fmp4_mux.h"

#define RECORD_FMP4_FRAG_MS 2000              /* a fragment lasts at most this long */
#define RECORD_FMP4_FRAG_BYTES (16u << 20)    /* and holds at most this many sample bytes */

typedef struct record_fmp4 record_fmp4_t;

/* The state for one file from the sequence header tag bodies (audio,
 * video; either may be NULL). NULL when neither makes a track (no AAC,
 * H.264, H.265 or AV1 header), with the reason in *err. */
record_fmp4_t *record_fmp4_new(const uint8_t *audio_hdr, uint32_t audio_len,
                               const uint8_t *video_hdr, uint32_t video_len, const char **err);
void record_fmp4_free(record_fmp4_t *m);

/* The init segment (valid while m lives). */
void record_fmp4_init_segment(const record_fmp4_t *m, const uint8_t **p, size_t *len);

/* Whether the fragment gathered so far must be cut before this frame
 * (type 8 or 9, key, dts in ms from the file's start, len body bytes). */
int record_fmp4_cut_due(const record_fmp4_t *m, uint8_t type, int key, uint32_t dts,
                        uint32_t len);

/* Adds a coded frame's tag body to the fragment. Returns 0; 1 when it
 * carries no sample (left out); RECORD_FMP4_NO_TRACK when its track is not
 * in the file (an audio codec fMP4 recording does not carry, e.g. MP3:
 * left out); -1 out of memory. */
#define RECORD_FMP4_NO_TRACK 2
int record_fmp4_add(record_fmp4_t *m, uint8_t type, uint32_t dts, const uint8_t *body,
                    uint32_t len);

/* Cuts the fragment gathered so far: iov[0..*n) are its bytes (header,
 * then the sample bytes; valid until the next call on m); *n is 0 when
 * there is nothing to cut. next_video_dts: the DTS (ms from the file's
 * start) of the video frame that follows, or FMP4_DTS_NONE. Returns 0, or
 * -1 (memory, or the muxer refused; the fragment is dropped). */
int record_fmp4_cut(record_fmp4_t *m, int64_t next_video_dts, fmp4_iov_t iov[3], size_t *n);

#endif
