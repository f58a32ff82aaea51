/* flv: FLV container writing and bounded incremental reading, and codec
 * inspection of audio/video tag bodies (pure: no I/O).
 *
 * The tag body of an FLV tag and the payload of an RTMP audio/video message
 * are the same bytes, so the inspection functions serve both.
 * Threads: pure, no globals: any thread may call it on its own objects.
 */
#ifndef WEIR_FLV_H
#define WEIR_FLV_H

#include "common.h"

#define FLV_HEADER_SIZE 9
#define FLV_TAG_HEADER_SIZE 11
#define FLV_PREV_SIZE 4

enum { FLV_TAG_AUDIO = 8, FLV_TAG_VIDEO = 9, FLV_TAG_SCRIPT = 18 };

/* Legacy video codec ids (low nibble of the first byte). */
enum { FLV_VCODEC_H263 = 2, FLV_VCODEC_VP6 = 4, FLV_VCODEC_AVC = 7, FLV_VCODEC_HEVC = 12 };
/* Audio sound formats (high nibble of the first byte). */
enum { FLV_ACODEC_MP3 = 2, FLV_ACODEC_AAC = 10, FLV_ACODEC_EX = 9 };

#define FLV_FOURCC(a, b, c, d)                                                                     \
    (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define FLV_FOURCC_HVC1 FLV_FOURCC('h', 'v', 'c', '1')
#define FLV_FOURCC_AV01 FLV_FOURCC('a', 'v', '0', '1')
#define FLV_FOURCC_VP09 FLV_FOURCC('v', 'p', '0', '9')
#define FLV_FOURCC_AVC1 FLV_FOURCC('a', 'v', 'c', '1')

typedef struct {
    int enhanced;    /* Enhanced RTMP extended header (IsExHeader bit) */
    uint32_t fourcc; /* enhanced: the FourCC; legacy AVC/HEVC: avc1/hvc1; else 0 */
    int codec_id;    /* legacy codec id (low nibble), 0 when enhanced */
    int frame_type;  /* 1 key, 2 inter, 3 disposable, 4 generated key, 5 command */
    int keyframe;    /* a coded key frame (not a sequence header, not a command) */
    int seq_header;  /* AVC/HEVC seq header, or enhanced SequenceStart */
    int seq_end;     /* end of sequence */
    int is_command;  /* video info/command frame (frame type 5) */
} flv_video_info_t;

typedef struct {
    int sound_format; /* high nibble; FLV_ACODEC_EX for enhanced audio */
    uint32_t fourcc;  /* enhanced audio: the FourCC, else 0 */
    int seq_header;   /* AAC AudioSpecificConfig (packet type 0) or enhanced SequenceStart */
} flv_audio_info_t;

/* Inspects a video tag body. Returns 0, or NODE_EPROTO if too short to
 * tell (then *out is zeroed). Unknown codecs are passed through: neither key
 * nor sequence header unless the legacy frame type says key (frame type 1). */
int flv_video_inspect(const uint8_t *body, size_t len, flv_video_info_t *out);
/* Inspects an audio tag body; same conventions. */
int flv_audio_inspect(const uint8_t *body, size_t len, flv_audio_info_t *out);

/* Writes the 9-byte FLV header plus the 4-byte PreviousTagSize0 (13 bytes). */
size_t flv_write_file_header(uint8_t out[FLV_HEADER_SIZE + FLV_PREV_SIZE], int has_audio,
                             int has_video);
/* Writes an 11-byte tag header (timestamp with its extension byte, stream id 0). */
void flv_write_tag_header(uint8_t out[FLV_TAG_HEADER_SIZE], uint8_t type, uint32_t body_len,
                          uint32_t ts);
/* Writes the 4-byte PreviousTagSize that follows a tag of body_len bytes. */
void flv_write_prev_size(uint8_t out[FLV_PREV_SIZE], uint32_t body_len);

/* Incremental FLV reader: file header, then tags. */
typedef struct flv_reader flv_reader_t;

typedef struct {
    uint8_t type; /* 8, 9, 18 (others passed through as read) */
    uint32_t ts;  /* with the extension byte */
    uint32_t len;
    const uint8_t *body; /* valid until the next feed */
} flv_tag_t;

/* max_tag: largest tag body accepted. */
flv_reader_t *flv_reader_new(uint32_t max_tag);
void flv_reader_free(flv_reader_t *r);
/* Consumes up to len bytes, sets *used; PARSE_OK when a tag is complete (in
 * *tag), PARSE_NEED_MORE when all input is consumed, PARSE_ERR_* with *err
 * (bad signature, tag over max_tag). The file header's flags are available
 * through flv_reader_flags() once read. */
parse_rc_t flv_reader_feed(flv_reader_t *r, const uint8_t *src, size_t len, size_t *used,
                           flv_tag_t *tag, const char **err);
/* Header flags byte (bit 2 audio, bit 0 video), or -1 before the header. */
int flv_reader_flags(const flv_reader_t *r);

#endif
