/* media_info: what a stream carries, for the API: video codec, size, frame
 * rate, profile and level; audio codec, sample rate, channels, profile.
 *
 * Pure (no I/O): fed the bodies of a stream's FLV video and audio tags and
 * its onMetaData payload as they arrive (sequence headers and metadata are
 * parsed; for coded frames only the codec is noted, so the per-frame cost is
 * a few byte compares). Decoder configuration records are read for the
 * truth: H.264 SPS (from avcC) and H.265 SPS (from hvcC) give size, profile
 * and level; AV1 (av1C) gives profile and level, and its sequence header a
 * size hint; VP9 (vpcC) gives profile and level; AAC's AudioSpecificConfig
 * gives object type, rate and channels; an MP3 frame header or an OpusHead
 * gives rate and channels. onMetaData fills what the records do not (width,
 * height, framerate, audiosamplerate, stereo/audiochannels, and the codecs
 * while no tag has named them), never overriding a parsed record. A later
 * record replaces an earlier one; a tag of another codec forgets the old
 * codec's record values. Malformed input is ignored: a record cut short
 * fills only the fields it reached (an SPS header names profile and level),
 * others stay as they were; nothing is ever read out of bounds.
 *
 * Pure: no shared state; any thread. The caller owns each media_info_t
 * (the hub keeps one per stream) and must not feed one from two threads.
 */
#ifndef WEIR_MEDIA_INFO_H
#define WEIR_MEDIA_INFO_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    /* video; has_video is set by any video tag */
    int has_video;
    /* "h264", "hevc", "av1", "vp9", "vp6", "h263", ...; an unknown Enhanced
     * RTMP FourCC as its 4 characters, an unknown legacy id as "codec-N";
     * or "" */
    char vcodec[16];
    int width;       /* pixels, 0 unknown */
    int height;      /* pixels, 0 unknown */
    double meta_fps; /* onMetaData framerate, 0 unknown */
    /* "Constrained Baseline", "Main", "High", "Main 10", "Rext" (H.265),
     * "Professional" (AV1), "Profile 0" (VP9), "profile N", or "" */
    char vprofile[24];
    char vlevel[8]; /* "3.1", "4" (no ".0"), "1b", ... or "" */
    /* width/height came from a parsed H.264/H.265 SPS (metadata must not
     * override them); an AV1 sequence header's largest frame size is only a
     * hint and leaves this 0 */
    int video_from_record;

    /* audio; has_audio is set by any audio tag */
    int has_audio;
    /* "aac", "mp3", "opus", "flac", "ac3", "eac3", "pcm", "adpcm", "speex",
     * "nellymoser", "g711a", "g711u", ... or "" */
    char acodec[16];
    int sample_rate;   /* Hz, 0 unknown; HE-AAC: the SBR (output) rate */
    int channels;      /* 0 unknown; HE-AACv2: 2 */
    char aprofile[16]; /* AAC only: "LC", "HE-AAC", "HE-AACv2", "Main", "AOT N", or "" */
    /* sample_rate/channels came from an AudioSpecificConfig, an MP3 frame
     * header, an OpusHead, or a legacy header whose values are exact
     * (metadata may fill a 0, never override) */
    int audio_from_record;
} media_info_t;

void media_info_init(media_info_t *mi);
/* An FLV video tag body (legacy or Enhanced RTMP). */
void media_info_video(media_info_t *mi, const uint8_t *body, size_t len);
/* An FLV audio tag body (legacy or Enhanced RTMP). */
void media_info_audio(media_info_t *mi, const uint8_t *body, size_t len);
/* A script data payload: AMF0 "onMetaData" (or "@setDataFrame",
 * "onMetaData") followed by an object or ECMA array. Other names ignored.
 * Keys read: width, height, framerate (else videoframerate, fps),
 * audiosamplerate, audiochannels (else stereo), and videocodecid /
 * audiocodecid (a legacy id, or a FourCC as a number or string) while no
 * tag has named the codec. */
void media_info_meta(media_info_t *mi, const uint8_t *payload, size_t len);

#endif
