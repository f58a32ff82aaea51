/* ts_mux: an MPEG-TS muxer fed FLV audio/video tag bodies (ISO/IEC 13818-1).
 *
 * One muxer per stream turns each tag body (as a publisher sends it: legacy
 * AVC, codec id 7; legacy HEVC, codec id 12; Enhanced RTMP avc1/hvc1;
 * AAC, legacy or Enhanced mp4a) into whole 188-byte TS packets:
 *  - video: length-prefixed NAL units become Annex B, an access unit
 *    delimiter first, and the parameter sets of the last sequence header
 *    before each key frame that carries none; a PES on PID TS_PID_VIDEO
 *    (stream type 0x1b H.264, 0x24 H.265) with DTS = tag ts and PTS = ts +
 *    composition time (90 kHz, 33 bits, the 32-bit RTMP ms unwrapped), PCR
 *    in its first packet, random_access_indicator on key frames;
 *  - audio: a raw AAC frame gets its ADTS header; a PES on TS_PID_AUDIO
 *    (stream type 0x0f) with PTS = ts; PCR there when the stream has no
 *    video;
 *  - PAT and PMT (program 1 on TS_PID_PMT) before the first packet, before
 *    every key frame, when the PMT changes (its version goes up), and for
 *    a stream without video before an audio frame every
 *    TS_MUX_AUDIO_PSI_MS;
 *  - continuity counters per PID run across tags; stuffing goes in the
 *    adaptation field.
 * Sequence headers (avcC, hvcC, AudioSpecificConfig) update the state and
 * become no packets; so do script data, end-of-sequence and command
 * packets, and a frame before its codec's sequence header. Each key frame's
 * bytes (and, without video, each audio frame's that carries PAT/PMT) can
 * start a player or a segment: the plan says so (rap).
 *
 * Output: ts_mux_plan() parses a tag and computes the exact size of its
 * output; ts_mux_write() then writes exactly that many bytes into a buffer
 * of the caller's; ts_mux_tag() does both into a malloc'd buffer. The plan
 * points into the tag body, which must not change between the two calls;
 * only ts_mux_write() advances the counters, so a plan that is never
 * written costs nothing (a sequence header's new state is kept, though).
 *
 * Pure: no I/O, no globals; any thread may use its own muxer. The caller
 * owns the muxer (ts_mux_free()) and every buffer it passes or receives.
 */
#ifndef WEIR_TS_MUX_H
#define WEIR_TS_MUX_H

#include <stddef.h>
#include <stdint.h>

#define TS_PACKET_SIZE 188
#define TS_PID_PMT 0x1000
#define TS_PID_VIDEO 0x100
#define TS_PID_AUDIO 0x101
#define TS_STREAM_TYPE_AAC 0x0f
#define TS_STREAM_TYPE_H264 0x1b
#define TS_STREAM_TYPE_H265 0x24
/* Without video, PAT/PMT go before an audio frame this often (by ts). */
#define TS_MUX_AUDIO_PSI_MS 1000

typedef struct ts_mux ts_mux_t;

/* What one tag becomes (see ts_mux_plan()). */
typedef struct {
    size_t size; /* exact bytes of output, a multiple of TS_PACKET_SIZE; 0: none */
    int rap;     /* the output starts with PAT/PMT and a random access point */
    int key;     /* a video key frame */
    /* private to ts_mux.c */
    int kind, psi, pcr, insert_ps, aud_in_frame;
    uint64_t dts, pts;
    int64_t ext_ts;
    const uint8_t *data; /* NAL units or the raw AAC frame, in the tag body */
    size_t data_len, es_len, npes;
} ts_mux_plan_t;

/* NULL when out of memory. */
ts_mux_t *ts_mux_new(void);
/* NULL is a no-op. */
void ts_mux_free(ts_mux_t *m);
/* Forgets the codec configurations (a stream that starts afresh): PAT/PMT
 * go out again before the next output; counters and timeline go on. */
void ts_mux_reset(ts_mux_t *m);

/* Parses one tag body (type 8 audio, 9 video; other types become nothing)
 * with FLV timestamp ts. Returns 0 with *plan filled (plan->size 0 for
 * nothing to write); NODE_EINVAL for a codec MPEG-TS does not carry here
 * (not H.264, H.265 or AAC; Enhanced multitrack), an AAC configuration
 * ADTS cannot carry or a frame too long for ADTS; NODE_EPROTO for a
 * malformed body or configuration record; NODE_ENOMEM. *err is then a
 * static string. A failed sequence header leaves the old configuration. */
int ts_mux_plan(ts_mux_t *m, uint8_t type, uint32_t ts, const uint8_t *body, size_t len,
                ts_mux_plan_t *plan, const char **err);
/* Writes exactly plan->size bytes at out and advances the muxer. The plan
 * must be the muxer's latest and its tag body unchanged. */
void ts_mux_write(ts_mux_t *m, const ts_mux_plan_t *plan, uint8_t *out);
/* ts_mux_plan(), then ts_mux_write() into a malloc'd buffer of exactly
 * plan->size bytes: *out (the caller frees it; NULL when the size is 0) and
 * *out_len; *rap as plan->rap. Same returns as ts_mux_plan(). */
int ts_mux_tag(ts_mux_t *m, uint8_t type, uint32_t ts, const uint8_t *body, size_t len,
               uint8_t **out, size_t *out_len, int *rap, const char **err);

/* The MPEG-2 CRC-32 of PSI sections (polynomial 0x04c11db7, initial value
 * all ones, no reflection). */
uint32_t ts_crc32(const uint8_t *p, size_t len);

#endif
