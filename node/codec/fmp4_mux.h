/* fmp4_mux: fragmented MP4 (CMAF) from FLV tag bodies: the init segment
 * (ftyp + moov) and fragments (moof + mdat), for HLS's fMP4 segments and
 * LL-HLS parts, and for recording. Pure (no I/O, no clock, no allocation).
 *
 * Codecs: H.264 (avc1 + avcC), H.265 (hvc1 + hvcC; legacy FLV codec id 12
 * or Enhanced RTMP hvc1), AV1 (av01 + av1C; Enhanced RTMP av01), AAC
 * (mp4a + esds). A track is made from the stream's sequence header tag body
 * (fmp4_mux_track_video/audio); samples from its coded frame tag bodies
 * (fmp4_mux_sample_video/audio), which only locate the coded bytes inside
 * the body: length-prefixed NAL units and raw AAC frames are what MP4
 * stores, so sample bytes are never rewritten.
 *
 * Timescales: video 90000 (a millisecond is exactly 90 ticks, and it is
 * MPEG-TS's clock, so TS and fMP4 renditions of a stream carry the same
 * times); audio the sample rate (the usual choice, which players expect).
 * Input times are FLV milliseconds; a time t becomes floor(t * timescale /
 * 1000) ticks. A sample lasts until the next sample's DTS (in ticks, so
 * durations add up exactly to the next fragment's tfdt when the caller
 * gives the next DTS, see fmp4_run_t). FLV's millisecond rounding shows:
 * an AAC frame lasts 1014..1059 ticks at 44.1 kHz rather than 1024, which
 * decoders ignore (they play frames in order) and which never drifts.
 *
 * Tracks per fragment: a CMAF track is one track per file (separate audio
 * and video renditions: an init segment with one track, fragments with one
 * run); HLS also plays both tracks multiplexed (one init segment with both,
 * fragments with a run each). The API does either.
 *
 * A typical HLS segmenter per stream:
 *   - on a (new) sequence header: fmp4_mux_track_video/audio, then
 *     fmp4_mux_init() into a buffer it keeps (the init segment, EXT-X-MAP);
 *   - per sample: fmp4_mux_sample_video/audio, appending to the open part;
 *   - on cutting a part (when the first sample past the cut arrives, so its
 *     DTS is the run's next_dts_ms): fmp4_mux_frag_header() into a small
 *     buffer, then either fmp4_mux_frag_iov() (header + references to the
 *     sample bytes: zero copy, the tag bodies must stay alive, e.g. by
 *     holding the hub's refcounted messages) or fmp4_mux_frag_write() (one
 *     flat copy, built once per stream and served to every player by
 *     reference). A segment is its parts in order (each a moof + mdat).
 *
 * Ownership: nothing is allocated; every pointer in a struct here points
 * into the caller's memory and must stay valid while the struct is used
 * (a track's record points into its sequence header body; a sample's data
 * into its tag body). Bounds: FMP4_MAX_TRACKS tracks, FMP4_MAX_SAMPLES per
 * run, records up to FMP4_MAX_RECORD, a fragment under 2 GiB (trun's data
 * offsets are signed 32-bit); over them NODE_ELIMIT.
 *
 * Pure: no shared state; any thread.
 */
#ifndef WEIR_FMP4_MUX_H
#define WEIR_FMP4_MUX_H

#include <stddef.h>
#include <stdint.h>

#define FMP4_MAX_TRACKS 4
#define FMP4_MAX_SAMPLES 16384        /* per track per fragment (16 header bytes each) */
#define FMP4_MAX_RECORD 65535         /* largest decoder configuration record */
#define FMP4_MAX_DTS_MS (1LL << 40)   /* ~34 years: DTS in [0, this) */
#define FMP4_MAX_TIMESCALE (1u << 20) /* so that DTS x timescale fits 64 bits */
#define FMP4_VIDEO_TIMESCALE 90000
#define FMP4_CODEC_STRING_MAX 48 /* fmp4_mux_codec_string's longest, with its NUL */
#define FMP4_DTS_NONE INT64_MIN  /* fmp4_run_t.next_dts_ms: not known */

typedef enum { FMP4_H264 = 1, FMP4_H265 = 2, FMP4_AV1 = 3, FMP4_AAC = 4 } fmp4_codec_t;

/* One track of the init segment. Filled by fmp4_mux_track_*; the caller
 * may adjust id (1..) before writing the init segment. */
typedef struct {
    fmp4_codec_t codec;
    uint32_t id;        /* track_ID, unique, >= 1 */
    uint32_t timescale; /* ticks per second, 1..FMP4_MAX_TIMESCALE */
    uint32_t width;     /* video: from the SPS (AV1: the sequence header), 0 unknown */
    uint32_t height;
    uint32_t sample_rate; /* audio: Hz */
    uint32_t channels;    /* audio */
    /* Duration in ticks of a run's only sample when the next DTS is not
     * known (video: 1/25 s; AAC: one frame). */
    uint32_t default_duration;
    const uint8_t *record; /* avcC, hvcC, av1C or AudioSpecificConfig */
    size_t record_len;
} fmp4_track_t;

/* One sample: coded bytes inside a tag body, and its times. */
typedef struct {
    const uint8_t *data;
    size_t len;
    int64_t dts_ms; /* decode time, 0 <= dts < FMP4_MAX_DTS_MS, non-decreasing in a run */
    int32_t cts_ms; /* composition offset (PTS - DTS), may be negative */
    int key;        /* a sync sample (video key frame; every audio frame) */
} fmp4_sample_t;

/* The samples of one track in one fragment. */
typedef struct {
    const fmp4_track_t *track;
    const fmp4_sample_t *samples;
    size_t n; /* 0: the track is left out of this fragment */
    /* DTS of the sample that follows the last one (the next fragment's
     * first sample of this track): the last sample lasts until then, so
     * tfdt stays continuous. FMP4_DTS_NONE: the last sample lasts as long
     * as the one before it (or the track's default_duration when alone).
     * An LL-HLS segmenter cutting a part at the first sample past the cut
     * knows it; at a stream's end it does not. */
    int64_t next_dts_ms;
} fmp4_run_t;

/* A piece of a fragment's bytes (header, or one sample's bytes). */
typedef struct {
    const uint8_t *p;
    size_t len;
} fmp4_iov_t;

/* A track from a video sequence header tag body: legacy AVC (7) or HEVC
 * (12) AVCPacketType 0, or Enhanced RTMP SequenceStart of avc1, hvc1 or
 * av01. Returns 0; NODE_EINVAL when the body is not such a sequence header
 * (another codec, a coded frame), NODE_EPROTO when its record is
 * malformed, NODE_ELIMIT when it is over FMP4_MAX_RECORD; *err says which.
 * id becomes t->id. */
int fmp4_mux_track_video(fmp4_track_t *t, uint32_t id, const uint8_t *body, size_t len,
                         const char **err);
/* A track from an AAC sequence header (AudioSpecificConfig) tag body;
 * same returns. */
int fmp4_mux_track_audio(fmp4_track_t *t, uint32_t id, const uint8_t *body, size_t len,
                         const char **err);

/* The sample in a video tag body of track t's codec. Returns 0 with *out
 * filled (data points into body; a leading AV1 temporal delimiter OBU is
 * left out); 1 when the body carries no sample (sequence header, end of
 * sequence, command, empty frame); NODE_EINVAL when it is another codec;
 * NODE_EPROTO when truncated. */
int fmp4_mux_sample_video(const fmp4_track_t *t, const uint8_t *body, size_t len, int64_t dts_ms,
                          fmp4_sample_t *out);
/* The raw AAC frame in an audio tag body; same returns (1 for the
 * sequence header). */
int fmp4_mux_sample_audio(const fmp4_track_t *t, const uint8_t *body, size_t len, int64_t dts_ms,
                          fmp4_sample_t *out);

/* The RFC 6381 codecs parameter of a track, for an HLS playlist's CODECS
 * attribute and MSE: "avc1.64001e" (avcC profile, compatibility, level),
 * "hvc1.1.6.L93.90" (ISO/IEC 14496-15 E.3), "av01.0.04M.08"
 * (AV1-ISOBMFF's codecs parameter), "mp4a.40.2" (the AudioSpecificConfig's
 * object type). Returns 0; NODE_EPROTO when the record is too short;
 * NODE_ELIMIT when cap is too small (FMP4_CODEC_STRING_MAX always fits). */
int fmp4_mux_codec_string(const fmp4_track_t *t, char *buf, size_t cap);

/* Writes the init segment (ftyp + moov with one trak per track, in order,
 * and mvex) into buf (cap bytes); *len is its size. buf NULL: only *len;
 * a buffer too small is not written.
 * Returns 0; NODE_ELIMIT when cap is too small (*len says how much is
 * needed) or too many tracks; NODE_EINVAL for no track, a bad track (id 0
 * or repeated, no record, timescale 0 or over FMP4_MAX_TIMESCALE). */
int fmp4_mux_init(const fmp4_track_t *tracks, size_t ntracks, uint8_t *buf, size_t cap,
                  size_t *len);

/* Writes a fragment's header: moof (mfhd with sequence number seq; one
 * traf per run with samples: tfhd default-base-is-moof, tfdt version 1,
 * trun version 1 with data offset and per-sample duration, size, flags and
 * (video) composition offset) and the mdat box header. The fragment is
 * this header followed by the sample bytes of every run in order
 * (fmp4_mux_frag_iov). buf NULL: only *len; a buffer too small is not
 * written. Returns 0; NODE_ELIMIT when cap is too small (*len needed),
 * over FMP4_MAX_SAMPLES or 2 GiB;
 * NODE_EINVAL for no sample at all, a DTS out of range or decreasing, a
 * track in two runs, more than FMP4_MAX_TRACKS runs. */
int fmp4_mux_frag_header(uint32_t seq, const fmp4_run_t *runs, size_t nruns, uint8_t *buf,
                         size_t cap, size_t *len);
/* The sample bytes of a fragment (what follows its header). */
size_t fmp4_mux_frag_payload_len(const fmp4_run_t *runs, size_t nruns);
/* The pieces of a fragment: iov[0] the header (hdr, hdr_len, as written
 * by fmp4_mux_frag_header), then each sample's bytes; needs 1 + the
 * number of samples entries (*count). Returns 0, or NODE_ELIMIT when cap
 * is too small (*count needed). */
int fmp4_mux_frag_iov(const uint8_t *hdr, size_t hdr_len, const fmp4_run_t *runs, size_t nruns,
                      fmp4_iov_t *iov, size_t cap, size_t *count);
/* The whole fragment flat in buf: fmp4_mux_frag_header plus a copy of the
 * sample bytes. Same returns as fmp4_mux_frag_header. */
int fmp4_mux_frag_write(uint32_t seq, const fmp4_run_t *runs, size_t nruns, uint8_t *buf,
                        size_t cap, size_t *len);

#endif
