/* media_cfg: codec payloads inside FLV tag bodies, for the node and the
 * tools (pure: no I/O). Locates the coded data in H.264/H.265 video bodies
 * (legacy codec ids 7 and 12, Enhanced RTMP avc1/hvc1 single-track packets)
 * and AAC audio bodies (legacy sound format 10, Enhanced RTMP mp4a); parses
 * the decoder configuration records (avcC, hvcC, AudioSpecificConfig); walks
 * length-prefixed NAL units; builds ADTS headers; names codecs.
 *
 * Every length is checked against the bytes present: truncated or
 * inconsistent input gives NODE_EPROTO with a static message, never a read
 * out of bounds.
 * Threads: pure, no globals: any thread may call it on its own objects.
 */
#ifndef WEIR_MEDIA_CFG_H
#define WEIR_MEDIA_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "flv.h"

/* What a video or audio tag body carries. */
typedef enum {
    MEDIA_PKT_CONFIG = 1, /* decoder configuration (avcC, hvcC, AudioSpecificConfig) */
    MEDIA_PKT_FRAME = 2,  /* coded frame(s) */
    MEDIA_PKT_OTHER = 3   /* end of sequence, command, metadata, ... */
} media_pkt_kind_t;

typedef struct {
    media_pkt_kind_t kind;
    int hevc;            /* 1 H.265, 0 H.264 */
    int key;             /* frame type key (1) or generated key (4) */
    int32_t cts;         /* composition time offset in ms (0 when absent) */
    const uint8_t *data; /* config record or length-prefixed NAL units; points into body */
    size_t len;
} media_video_pkt_t;

/* Parses an H.264 or H.265 video body. Returns 0; NODE_EINVAL if the body
 * is another codec or an Enhanced RTMP multitrack/ModEx packet (*err says
 * which); NODE_EPROTO if it is too short. */
int media_video_parse(const uint8_t *body, size_t len, media_video_pkt_t *out, const char **err);

typedef struct {
    media_pkt_kind_t kind;
    const uint8_t *data; /* AudioSpecificConfig or one raw AAC frame; points into body */
    size_t len;
} media_audio_pkt_t;

/* Parses an AAC audio body. Returns 0, NODE_EINVAL for another codec,
 * NODE_EPROTO if too short. */
int media_audio_parse(const uint8_t *body, size_t len, media_audio_pkt_t *out, const char **err);

/* Most parameter sets kept from one configuration record. */
#define MEDIA_MAX_PARAM_SETS 32

/* A parsed avcC or hvcC: the NAL length size and the parameter sets (SPS,
 * PPS; for H.265 VPS, SPS, PPS and any SEI arrays), pointing into the
 * record, which must outlive it. */
typedef struct {
    int nal_len_size; /* 1, 2, 3 or 4 */
    size_t nsets;
    const uint8_t *sets[MEDIA_MAX_PARAM_SETS];
    size_t set_len[MEDIA_MAX_PARAM_SETS];
} media_vcfg_t;

/* Parses an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1). */
int media_avcc_parse(const uint8_t *rec, size_t len, media_vcfg_t *out, const char **err);
/* Parses an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1). */
int media_hvcc_parse(const uint8_t *rec, size_t len, media_vcfg_t *out, const char **err);

/* NAL unit type of a NAL unit's first byte(s) (nal_len >= 1; H.265 needs 1). */
int media_nal_type(const uint8_t *nal, int hevc);
/* True for a parameter set NAL type (H.264 SPS/PPS, H.265 VPS/SPS/PPS). */
int media_nal_is_param_set(int type, int hevc);

/* Walks length-prefixed NAL units. */
typedef struct {
    const uint8_t *p;
    size_t left;
    int len_size;
} media_nal_iter_t;

void media_nal_iter_init(media_nal_iter_t *it, const uint8_t *data, size_t len, int len_size);
/* Returns 1 with the next NAL unit, 0 at the end, NODE_EPROTO when a length
 * runs past the data or a NAL unit is empty. */
int media_nal_next(media_nal_iter_t *it, const uint8_t **nal, size_t *nal_len, const char **err);

/* The fields of an AudioSpecificConfig that ADTS carries. */
typedef struct {
    int object_type; /* 1 Main, 2 LC, 3 SSR, 4 LTP (HE-AAC's core object type) */
    int freq_index;  /* 0..12 */
    int channels;    /* channel configuration 1..7 */
} media_aac_cfg_t;

/* Parses an AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1). Explicit SBR/PS
 * signalling (object type 5 or 29) yields its core object type. Returns 0,
 * NODE_EPROTO (truncated), or NODE_EINVAL for what ADTS cannot carry
 * (object type over 4, an explicit frequency that is not one of the 13,
 * channel configuration 0). */
int media_aac_asc_parse(const uint8_t *asc, size_t len, media_aac_cfg_t *out, const char **err);

#define MEDIA_ADTS_HEADER_SIZE 7
/* Writes the 7-byte ADTS header (no CRC) of a raw frame of payload_len
 * bytes. Returns 0, or NODE_EINVAL if the frame is too long for ADTS. */
int media_adts_header(const media_aac_cfg_t *cfg, size_t payload_len,
                      uint8_t out[MEDIA_ADTS_HEADER_SIZE]);

/* Codec names for reports ("h264", "hevc", "av1", "vp9", "h263", "vp6",
 * "aac", "mp3", "opus", ...; "codec-N" / the FourCC otherwise). buf holds at
 * least 16 bytes; the result is buf or a static string. */
const char *media_video_codec_name(const flv_video_info_t *v, char *buf, size_t buflen);
const char *media_audio_codec_name(const flv_audio_info_t *a, char *buf, size_t buflen);

#endif
