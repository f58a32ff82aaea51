/* Unit tests for media_info: codec, size, profile and level from real
 * sequence headers, audio parameters from real audio tags, onMetaData
 * filling (and never overriding) record values, and truncated input at
 * every length.
 *
 * Every body is fed from an exact-size heap copy, so ASan catches any read
 * past it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "amf0.h"
#include "flv.h"
#include "media_info.h"

/* ---- vectors ------------------------------------------------------------ */

/* Tag bodies and records written by FFmpeg 5.1 (Debian 12) from lavfi
 * sources, cut out of the files by a small Python FLV/MP4 walker (the first
 * video, audio and script tag of each FLV; the hvcC/av1C/vpcC box of each
 * MP4, since this FFmpeg cannot put H.265, AV1 or VP9 in FLV). Sizes,
 * profiles and levels were checked with ffprobe and the trace_headers
 * bitstream filter.
 *
 *   V_H264_HIGH_720P_AAC, A_AAC_44K_STEREO, META_H264_AAC_720P:
 *     -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=...:sample_rate=44100
 *     -t 1 -c:v libx264 -profile:v high -level 3.1 -c:a aac -ac 2 -f flv
 *   V_H264_BASELINE_320X240: 320x240, libx264 -profile:v baseline -level 3.0
 *     (constraint_set0/1: Constrained Baseline; pic_order_cnt_type 2)
 *   V_H264_MAIN_854X480: 854x480, -profile:v main -level 3.1 (crop right 5 x 2)
 *   V_H264_INTERLACED_1080: 1920x1080, -profile:v high -flags +ildct+ilme
 *     -x264-params tff=1 (frame_mbs_only 0, MBAFF, crop bottom 2 x 4 rows)
 *   V_H264_444_CQM_640X360: -pix_fmt yuv444p -profile:v high444 -x264-params
 *     cqm=jvt (High 4:4:4 Predictive, crop unit 1: bottom offset 8)
 *   V_H264_HIGH10: 640x360, -pix_fmt yuv420p10le -profile:v high10
 *   V_H264_422_640X362: -pix_fmt yuv422p -profile:v high422 (vertical crop unit 1)
 *   HVCC_HEVC_1080: 1920x1080, libx265 -x265-params info=0, -f mp4
 *   HVCC_HEVC_854X480: 854x480 (coded 856, conformance window right 1 x 2)
 *   HVCC_HEVC_MAIN10_720P_TL: 1280x720, -pix_fmt yuv420p10le
 *     -x265-params temporal-layers=1 (sps_max_sub_layers_minus1 1)
 *   HVCC_HEVC_444_642X362: -pix_fmt yuv444p (Rext, level 2.1, window unit 1)
 *   AV1C_AV1_640X480: libaom-av1 -cpu-used 8, -f mp4 (Main, level 3.0)
 *   AV1C_AV1_444_642X362: libaom-av1 -pix_fmt yuv444p (High, level 2.1)
 *   AV1C_AV1_SVT_720P: libsvtav1 1280x720 (Main, level 3.1)
 *   VPCC_VP9_640X480: libvpx-vp9, -f mp4 (vpcC with version 1 and flags)
 *   A_AAC_48K_MONO, META_AAC_48K_MONO: sine=...:sample_rate=48000 -c:a aac -ac 1
 *     (its ASC ends with sync extension 0x2b7, SBR absent)
 *   A_MP3_44K_STEREO / A_MP3_22K_MONO: libmp3lame -ac 2 at 44100 / -ac 1 at 22050
 *   A_ADPCM_11K_STEREO: adpcm_swf -ac 2 at 11025; A_MULAW_8K / A_ALAW_8K:
 *     pcm_mulaw / pcm_alaw at 8000; A_NELLY_8K: nellymoser at 8000 (sound
 *     format 5); A_SPEEX_16K: libspeex at 16000; A_PCM_44K_STEREO: pcm_s16le.
 *     Only the first 8 bytes of these first audio tags are kept. */

static const uint8_t V_H264_HIGH_720P_AAC[52] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x1a,
    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00,
    0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60,
    0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8, 0xf8, 0x00,
};
static const uint8_t V_H264_BASELINE_320X240[45] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0x00, 0x18, 0x67, 0x42,
    0xc0, 0x1e, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00,
    0x03, 0x03, 0x20, 0xf1, 0x62, 0xe4, 0x80, 0x01, 0x00, 0x05, 0x68, 0xcb, 0x83, 0xcb, 0x20,
};
static const uint8_t V_H264_MAIN_854X480[45] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x4d, 0x40, 0x1f, 0xff, 0xe1, 0x00, 0x18, 0x67, 0x4d,
    0x40, 0x1f, 0xec, 0xa0, 0x6c, 0x1e, 0xf3, 0x78, 0x08, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80,
    0x00, 0x00, 0x19, 0x07, 0x8c, 0x18, 0xcb, 0x01, 0x00, 0x05, 0x68, 0xeb, 0xe3, 0xcb, 0x20,
};
static const uint8_t V_H264_INTERLACED_1080[52] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x28, 0xff, 0xe1, 0x00, 0x1a,
    0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x04, 0x4f, 0xde, 0x02, 0x20,
    0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x06, 0x43, 0xe2, 0xc5, 0xb2, 0xc0,
    0x01, 0x00, 0x06, 0x68, 0xfb, 0xa3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8, 0xf8, 0x00,
};
static const uint8_t V_H264_444_CQM_640X360[55] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0xf4, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x1b, 0x67,
    0xf4, 0x00, 0x1e, 0x91, 0x9b, 0x28, 0x14, 0x05, 0xff, 0x13, 0x80, 0x88, 0x00, 0x00,
    0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x01, 0x90, 0x78, 0xb1, 0x6c, 0xb0, 0x01, 0x00,
    0x08, 0x68, 0xeb, 0xe3, 0xc4, 0x4c, 0x00, 0x04, 0x40, 0xff, 0xf8, 0xf8, 0x00,
};
static const uint8_t V_H264_HIGH10[53] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x6e, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x1b, 0x67,
    0x6e, 0x00, 0x1e, 0xa6, 0xcd, 0x94, 0x0a, 0x02, 0xff, 0x97, 0x01, 0x10, 0x00, 0x00,
    0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x62, 0xd9, 0x60, 0x01, 0x00,
    0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xfa, 0xfa, 0x00,
};
static const uint8_t V_H264_422_640X362[52] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x7a, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x1a,
    0x67, 0x7a, 0x00, 0x1e, 0xbc, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0xf0, 0x11, 0x00,
    0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x16, 0x2d, 0x96,
    0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfe, 0xf8, 0xf8, 0x00,
};
static const uint8_t HVCC_HEVC_1080[111] = {
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x78, 0xf0, 0x00, 0xfc,
    0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03, 0x20, 0x00, 0x01, 0x00, 0x18, 0x40, 0x01, 0x0c, 0x01,
    0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00,
    0x78, 0x95, 0x98, 0x09, 0x21, 0x00, 0x01, 0x00, 0x2a, 0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00,
    0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0xa0, 0x03, 0xc0, 0x80, 0x10,
    0xe5, 0x96, 0x56, 0x69, 0x24, 0xca, 0xf0, 0x16, 0x80, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00,
    0x00, 0x0c, 0x84, 0x22, 0x00, 0x01, 0x00, 0x07, 0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};
static const uint8_t HVCC_HEVC_854X480[111] = {
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5a, 0xf0, 0x00, 0xfc,
    0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03, 0x20, 0x00, 0x01, 0x00, 0x18, 0x40, 0x01, 0x0c, 0x01,
    0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00,
    0x5a, 0x95, 0x98, 0x09, 0x21, 0x00, 0x01, 0x00, 0x2a, 0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00,
    0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x5a, 0xa0, 0x06, 0xb2, 0x01, 0xe1,
    0xd7, 0x96, 0x56, 0x69, 0x24, 0xca, 0xf0, 0x16, 0x80, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00,
    0x00, 0x0c, 0x84, 0x22, 0x00, 0x01, 0x00, 0x07, 0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};
static const uint8_t HVCC_HEVC_MAIN10_720P_TL[120] = {
    0x01, 0x02, 0x20, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d, 0xf0, 0x00,
    0xfc, 0xfd, 0xfa, 0xfa, 0x00, 0x00, 0x13, 0x03, 0x20, 0x00, 0x01, 0x00, 0x1c, 0x40, 0x01,
    0x0c, 0x02, 0xff, 0xff, 0x02, 0x20, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00,
    0x00, 0x03, 0x00, 0x5d, 0x00, 0x00, 0x95, 0x98, 0xac, 0xc0, 0x48, 0x21, 0x00, 0x01, 0x00,
    0x2f, 0x42, 0x01, 0x02, 0x02, 0x20, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00,
    0x00, 0x03, 0x00, 0x5d, 0x00, 0x00, 0xa0, 0x02, 0x80, 0x80, 0x2d, 0x13, 0x65, 0x95, 0x98,
    0xac, 0xd2, 0x49, 0x95, 0xe0, 0x2d, 0x01, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03,
    0x00, 0x19, 0x08, 0x22, 0x00, 0x01, 0x00, 0x07, 0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};
static const uint8_t HVCC_HEVC_444_642X362[111] = {
    0x01, 0x04, 0x08, 0x00, 0x00, 0x00, 0x9e, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3f, 0xf0, 0x00, 0xfc,
    0xff, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03, 0x20, 0x00, 0x01, 0x00, 0x17, 0x40, 0x01, 0x0c, 0x01,
    0xff, 0xff, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9e, 0x08, 0x00, 0x00, 0x03, 0x00, 0x00, 0x3f,
    0x95, 0x98, 0x09, 0x21, 0x00, 0x01, 0x00, 0x2a, 0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03,
    0x00, 0x9e, 0x08, 0x00, 0x00, 0x03, 0x00, 0x00, 0x3f, 0x90, 0x00, 0xa2, 0x40, 0x2e, 0x39, 0xe7,
    0xcb, 0x2b, 0x34, 0x92, 0x65, 0x78, 0x0b, 0x40, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00,
    0x06, 0x42, 0x22, 0x00, 0x01, 0x00, 0x08, 0x44, 0x01, 0xc1, 0x72, 0x86, 0x0c, 0x46, 0x24,
};
static const uint8_t AV1C_AV1_640X480[17] = {
    0x81, 0x04, 0x0c, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00,
    0x24, 0xc4, 0xff, 0xdf, 0x36, 0xbe, 0x40, 0x10,
};
static const uint8_t AV1C_AV1_444_642X362[17] = {
    0x81, 0x21, 0x00, 0x00, 0x0a, 0x0b, 0x20, 0x00, 0x00,
    0x0c, 0xc5, 0x03, 0x69, 0x36, 0xbe, 0x40, 0x80,
};
static const uint8_t AV1C_AV1_SVT_720P[17] = {
    0x81, 0x05, 0x0c, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00,
    0x2d, 0x4c, 0xff, 0xb3, 0xc0, 0x2f, 0x80, 0x04,
};
static const uint8_t VPCC_VP9_640X480[12] = {
    0x01, 0x00, 0x00, 0x00, 0x00, 0x1e, 0x82, 0x02, 0x02, 0x02, 0x00, 0x00,
};
static const uint8_t A_AAC_44K_STEREO[7] = {
    0xaf, 0x00, 0x12, 0x10, 0x56, 0xe5, 0x00,
};
static const uint8_t A_AAC_48K_MONO[7] = {
    0xaf, 0x00, 0x11, 0x88, 0x56, 0xe5, 0x00,
};
static const uint8_t A_MP3_44K_STEREO[8] = {
    0x2f, 0xff, 0xfb, 0x90, 0x64, 0x00, 0x00, 0x02,
};
static const uint8_t A_MP3_22K_MONO[8] = {
    0x2a, 0xff, 0xf3, 0x40, 0xc4, 0x00, 0x13, 0x30,
};
static const uint8_t A_ADPCM_11K_STEREO[8] = {
    0x17, 0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0xdd,
};
static const uint8_t A_MULAW_8K[8] = {
    0x82, 0xff, 0xc8, 0xba, 0xb3, 0xaf, 0xaf, 0xb2,
};
static const uint8_t A_NELLY_8K[8] = {
    0x52, 0xa2, 0x8c, 0x73, 0xd2, 0x3d, 0xc9, 0x62,
};
static const uint8_t A_SPEEX_16K[8] = {
    0xb6, 0x30, 0x54, 0x98, 0x22, 0xd2, 0x00, 0x00,
};
static const uint8_t A_ALAW_8K[8] = {
    0x72, 0xd5, 0xe0, 0x91, 0x9e, 0x9a, 0x9a, 0x99,
};
static const uint8_t A_PCM_44K_STEREO[8] = {
    0x3f, 0x00, 0x00, 0x00, 0x00, 0xb5, 0x00, 0xb5,
};
static const uint8_t META_H264_AAC_720P[293] = {
    0x02, 0x00, 0x0a, 0x6f, 0x6e, 0x4d, 0x65, 0x74, 0x61, 0x44, 0x61, 0x74, 0x61, 0x08, 0x00, 0x00,
    0x00, 0x0d, 0x00, 0x08, 0x64, 0x75, 0x72, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x00, 0x3f, 0xf1, 0x12,
    0x6e, 0x97, 0x8d, 0x4f, 0xdf, 0x00, 0x05, 0x77, 0x69, 0x64, 0x74, 0x68, 0x00, 0x40, 0x94, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x68, 0x65, 0x69, 0x67, 0x68, 0x74, 0x00, 0x40, 0x86,
    0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x76, 0x69, 0x64, 0x65, 0x6f, 0x64, 0x61, 0x74,
    0x61, 0x72, 0x61, 0x74, 0x65, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
    0x66, 0x72, 0x61, 0x6d, 0x65, 0x72, 0x61, 0x74, 0x65, 0x00, 0x40, 0x3e, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x0c, 0x76, 0x69, 0x64, 0x65, 0x6f, 0x63, 0x6f, 0x64, 0x65, 0x63, 0x69, 0x64,
    0x00, 0x40, 0x1c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x61, 0x75, 0x64, 0x69, 0x6f,
    0x64, 0x61, 0x74, 0x61, 0x72, 0x61, 0x74, 0x65, 0x00, 0x40, 0x5f, 0x40, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x0f, 0x61, 0x75, 0x64, 0x69, 0x6f, 0x73, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x72, 0x61,
    0x74, 0x65, 0x00, 0x40, 0xe5, 0x88, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x61, 0x75, 0x64,
    0x69, 0x6f, 0x73, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x73, 0x69, 0x7a, 0x65, 0x00, 0x40, 0x30, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x73, 0x74, 0x65, 0x72, 0x65, 0x6f, 0x01, 0x01, 0x00,
    0x0c, 0x61, 0x75, 0x64, 0x69, 0x6f, 0x63, 0x6f, 0x64, 0x65, 0x63, 0x69, 0x64, 0x00, 0x40, 0x24,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x6e, 0x63, 0x6f, 0x64, 0x65, 0x72, 0x02,
    0x00, 0x0d, 0x4c, 0x61, 0x76, 0x66, 0x35, 0x39, 0x2e, 0x32, 0x37, 0x2e, 0x31, 0x30, 0x30, 0x00,
    0x08, 0x66, 0x69, 0x6c, 0x65, 0x73, 0x69, 0x7a, 0x65, 0x00, 0x41, 0x18, 0x32, 0xb4, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x09,
};
static const uint8_t META_AAC_48K_MONO[193] = {
    0x02, 0x00, 0x0a, 0x6f, 0x6e, 0x4d, 0x65, 0x74, 0x61, 0x44, 0x61, 0x74, 0x61, 0x08, 0x00,
    0x00, 0x00, 0x08, 0x00, 0x08, 0x64, 0x75, 0x72, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x00, 0x3f,
    0xf0, 0x56, 0x04, 0x18, 0x93, 0x74, 0xbc, 0x00, 0x0d, 0x61, 0x75, 0x64, 0x69, 0x6f, 0x64,
    0x61, 0x74, 0x61, 0x72, 0x61, 0x74, 0x65, 0x00, 0x40, 0x50, 0xd8, 0x80, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x0f, 0x61, 0x75, 0x64, 0x69, 0x6f, 0x73, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x72,
    0x61, 0x74, 0x65, 0x00, 0x40, 0xe7, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x61,
    0x75, 0x64, 0x69, 0x6f, 0x73, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x73, 0x69, 0x7a, 0x65, 0x00,
    0x40, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x73, 0x74, 0x65, 0x72, 0x65,
    0x6f, 0x01, 0x00, 0x00, 0x0c, 0x61, 0x75, 0x64, 0x69, 0x6f, 0x63, 0x6f, 0x64, 0x65, 0x63,
    0x69, 0x64, 0x00, 0x40, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x6e,
    0x63, 0x6f, 0x64, 0x65, 0x72, 0x02, 0x00, 0x0d, 0x4c, 0x61, 0x76, 0x66, 0x35, 0x39, 0x2e,
    0x32, 0x37, 0x2e, 0x31, 0x30, 0x30, 0x00, 0x08, 0x66, 0x69, 0x6c, 0x65, 0x73, 0x69, 0x7a,
    0x65, 0x00, 0x40, 0xc3, 0xa2, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
};

/* Parameter sets no encoder at hand writes, built bit by bit from the
 * syntax tables (H.264 7.3.2.1.1, H.265 7.3.2.2.1 and 7.3.3, AV1 5.5) by a
 * Python writer. Each was spliced into a real x264/x265/libaom stream in
 * place of the encoder's own and parsed by FFmpeg's trace_headers, which
 * read back the values written.
 *
 *   SPS_SCALING_POC1: High 4.0, seq_scaling_matrix_present_flag with lists 0
 *     (16 deltas), 2 (useDefault: first delta -8) and 6 (64 deltas);
 *     pic_order_cnt_type 1 with 3 offsets; 120x68 MBs cropped to 1920x1080.
 *   SPS_444_PLANES: High 4:4:4 3.1, separate_colour_plane_flag (crop unit 1),
 *     10 bit, all 12 scaling lists; frame_mbs_only 0 with MBAFF; 40x12 map
 *     units (640x384), crop right 3 and bottom 2 x 2 rows: 637x380.
 *   HEVC_SPS_SUB_LAYER_PTL: the x265 Main 10 SPS of HVCC_HEVC_MAIN10_720P_TL
 *     with sub_layer_profile_present_flag[0] and sub_layer_level_present_flag[0]
 *     set (88 + 8 more profile_tier_level bits), the rest copied: 1280x720.
 *   AV1C_TIMING_INFO: av1C of AV1C_AV1_640X480 whose sequence header gains
 *     timing info (uvlc), a decoder model, initial display delays and two
 *     operating points (levels 5.0 and 4.0 with tier bits), 1920x1080. */
static const uint8_t SPS_SCALING_POC1[96] = {
    0x67, 0x64, 0x00, 0x28, 0xad, 0x84, 0x0e, 0x2a, 0x46, 0x20, 0xc5, 0x43, 0x05, 0x90, 0x70, 0x44,
    0x24, 0x84, 0x44, 0x14, 0x82, 0x20, 0xd0, 0x48, 0x52, 0x38, 0xf0, 0xb8, 0x7c, 0x13, 0x82, 0x40,
    0xe0, 0x50, 0x61, 0x0a, 0x34, 0x2a, 0x1d, 0x04, 0xa0, 0x98, 0x3c, 0x16, 0x1c, 0x66, 0x2c, 0x26,
    0x1b, 0x04, 0x60, 0xa0, 0x10, 0x06, 0x02, 0x02, 0x22, 0x42, 0x21, 0x90, 0x42, 0x0a, 0x41, 0x10,
    0x68, 0x24, 0x29, 0x1c, 0x78, 0x5c, 0x3e, 0x09, 0xc1, 0x20, 0x70, 0x28, 0x30, 0x85, 0x1a, 0x15,
    0x0e, 0x82, 0x50, 0x4c, 0x1e, 0x50, 0xa8, 0x82, 0x04, 0x90, 0xa0, 0x3c, 0x01, 0x13, 0xf2, 0xa0,
};
static const uint8_t SPS_444_PLANES[301] = {
    0x67, 0xf4, 0x00, 0x1f, 0x92, 0xdb, 0x39, 0x5d, 0x10, 0xc7, 0x2b, 0xa2, 0x18, 0xe5, 0x9c, 0xae,
    0x88, 0x63, 0x95, 0xd1, 0x0c, 0x72, 0xce, 0x57, 0x44, 0x31, 0xca, 0xe8, 0x86, 0x39, 0x67, 0x2b,
    0xa2, 0x18, 0xe5, 0x74, 0x43, 0x1c, 0xb3, 0x95, 0xd1, 0x0c, 0x72, 0xba, 0x21, 0x8e, 0x59, 0xca,
    0xe8, 0x86, 0x39, 0x5d, 0x10, 0xc7, 0x2c, 0x5c, 0x53, 0x10, 0x53, 0x1c, 0x82, 0x50, 0xb8, 0xa6,
    0x20, 0xa6, 0x39, 0x04, 0xa1, 0x71, 0x4c, 0x41, 0x4c, 0x72, 0x09, 0x42, 0xe2, 0x98, 0x82, 0x98,
    0xe4, 0x12, 0x85, 0xc5, 0x31, 0x05, 0x31, 0xc8, 0x25, 0x0b, 0x8a, 0x62, 0x0a, 0x63, 0x92, 0x2e,
    0x29, 0x88, 0x29, 0x8e, 0x41, 0x28, 0x5c, 0x53, 0x10, 0x53, 0x1c, 0x82, 0x50, 0xb8, 0xa6, 0x20,
    0xa6, 0x39, 0x04, 0xa1, 0x71, 0x4c, 0x41, 0x4c, 0x72, 0x09, 0x42, 0xe2, 0x98, 0x82, 0x98, 0xe4,
    0x12, 0x85, 0xc5, 0x31, 0x05, 0x31, 0xc9, 0x17, 0x14, 0xc4, 0x14, 0xc7, 0x20, 0x94, 0x2e, 0x29,
    0x88, 0x29, 0x8e, 0x41, 0x28, 0x5c, 0x53, 0x10, 0x53, 0x1c, 0x82, 0x50, 0xb8, 0xa6, 0x20, 0xa6,
    0x39, 0x04, 0xa1, 0x71, 0x4c, 0x41, 0x4c, 0x72, 0x09, 0x42, 0xe2, 0x98, 0x82, 0x98, 0xe4, 0x8b,
    0x8a, 0x62, 0x0a, 0x63, 0x90, 0x4a, 0x17, 0x14, 0xc4, 0x14, 0xc7, 0x20, 0x94, 0x2e, 0x29, 0x88,
    0x29, 0x8e, 0x41, 0x28, 0x5c, 0x53, 0x10, 0x53, 0x1c, 0x82, 0x50, 0xb8, 0xa6, 0x20, 0xa6, 0x39,
    0x04, 0xa1, 0x71, 0x4c, 0x41, 0x4c, 0x72, 0x45, 0xc5, 0x31, 0x05, 0x31, 0xc8, 0x25, 0x0b, 0x8a,
    0x62, 0x0a, 0x63, 0x90, 0x4a, 0x17, 0x14, 0xc4, 0x14, 0xc7, 0x20, 0x94, 0x2e, 0x29, 0x88, 0x29,
    0x8e, 0x41, 0x28, 0x5c, 0x53, 0x10, 0x53, 0x1c, 0x82, 0x50, 0xb8, 0xa6, 0x20, 0xa6, 0x39, 0x22,
    0xe2, 0x98, 0x82, 0x98, 0xe4, 0x12, 0x85, 0xc5, 0x31, 0x05, 0x31, 0xc8, 0x25, 0x0b, 0x8a, 0x62,
    0x0a, 0x63, 0x90, 0x4a, 0x17, 0x14, 0xc4, 0x14, 0xc7, 0x20, 0x94, 0x2e, 0x29, 0x88, 0x29, 0x8e,
    0x41, 0x28, 0x5c, 0x53, 0x10, 0x53, 0x1c, 0x8e, 0xd8, 0x14, 0x0c, 0x79, 0x2d,
};
static const uint8_t HEVC_SPS_SUB_LAYER_PTL[62] = {
    0x42, 0x01, 0x02, 0x02, 0x20, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03,
    0x00, 0x5d, 0xc0, 0x00, 0x02, 0x20, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x03, 0x00, 0x5a, 0xa0, 0x02, 0x80, 0x80, 0x2d, 0x13, 0x65, 0x95, 0x98, 0xac, 0xd2, 0x49, 0x95,
    0xe0, 0x2d, 0x01, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x19, 0x08,
};
static const uint8_t AV1C_TIMING_INFO[39] = {
    0x81, 0x0c, 0x0c, 0x00, 0x0a, 0x21, 0x04, 0x00, 0x00, 0x0f, 0xa4, 0x00, 0x03,
    0xa9, 0x82, 0x5a, 0x40, 0x00, 0x00, 0xfa, 0x52, 0x98, 0x44, 0x0d, 0x8a, 0x58,
    0x64, 0x32, 0x20, 0x28, 0x95, 0x5d, 0xfe, 0x1b, 0x9b, 0x5f, 0x20, 0x08, 0x00,
};

/* ---- helpers ------------------------------------------------------------ */

#define FOURCC_MP4A FLV_FOURCC('m', 'p', '4', 'a')
#define BODY_MAX 1024

typedef enum { FEED_VIDEO, FEED_AUDIO, FEED_META } feed_t;

/* Feeds an exact-size heap copy of data[0..n). */
static void feed(media_info_t *mi, feed_t kind, const uint8_t *data, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n)
        memcpy(copy, data, n);
    switch (kind) {
    case FEED_VIDEO: media_info_video(mi, copy, n); break;
    case FEED_AUDIO: media_info_audio(mi, copy, n); break;
    case FEED_META: media_info_meta(mi, copy, n); break;
    }
    free(copy);
}

static media_info_t fed(feed_t kind, const uint8_t *data, size_t n)
{
    media_info_t mi;
    media_info_init(&mi);
    feed(&mi, kind, data, n);
    return mi;
}

/* A legacy AVC/HEVC sequence header body around a record. */
static size_t wrap_legacy(uint8_t *out, int codec_id, const uint8_t *rec, size_t n)
{
    assert_true(n + 5 <= BODY_MAX);
    out[0] = (uint8_t)(0x10 | codec_id); /* key frame */
    memset(out + 1, 0, 4);               /* sequence header, composition time 0 */
    memcpy(out + 5, rec, n);
    return n + 5;
}

/* An Enhanced RTMP SequenceStart (video) around a record. */
static size_t wrap_ex_video(uint8_t *out, uint32_t fourcc, const uint8_t *rec, size_t n)
{
    assert_true(n + 5 <= BODY_MAX);
    out[0] = 0x90; /* IsExHeader, key frame, SequenceStart */
    wr_be32(out + 1, fourcc);
    memcpy(out + 5, rec, n);
    return n + 5;
}

/* An Enhanced RTMP audio body: packet type pt, FourCC, data. */
static size_t wrap_ex_audio(uint8_t *out, uint32_t fourcc, int pt, const uint8_t *d, size_t n)
{
    assert_true(n + 5 <= BODY_MAX);
    out[0] = (uint8_t)(0x90 | pt);
    wr_be32(out + 1, fourcc);
    memcpy(out + 5, d, n);
    return n + 5;
}

/* An avcC holding one SPS and no PPS. */
static size_t make_avcc(uint8_t *out, const uint8_t *sps, size_t n)
{
    assert_true(n + 9 <= BODY_MAX);
    out[0] = 1;
    memcpy(out + 1, sps + 1, 3); /* profile, compatibility, level */
    out[4] = 0xff;               /* 4-byte NAL lengths */
    out[5] = 0xe1;               /* one SPS */
    wr_be16(out + 6, (uint32_t)n);
    memcpy(out + 8, sps, n);
    out[8 + n] = 0; /* no PPS */
    return n + 9;
}

/* An hvcC holding one SPS array (the fixed part zeroed but for the version
 * and the NAL length size). */
static size_t make_hvcc(uint8_t *out, const uint8_t *sps, size_t n)
{
    assert_true(n + 28 <= BODY_MAX);
    memset(out, 0, 23);
    out[0] = 1;
    out[21] = 0x03; /* lengthSizeMinusOne */
    out[22] = 1;    /* numOfArrays */
    out[23] = 33;   /* NAL unit type SPS */
    wr_be16(out + 24, 1);
    wr_be16(out + 26, (uint32_t)n);
    memcpy(out + 28, sps, n);
    return n + 28;
}

typedef struct {
    const char *codec;
    int width, height;
    const char *profile, *level;
} vexp_t;

static void check_video(const media_info_t *mi, const vexp_t *e)
{
    assert_int_equal(mi->has_video, 1);
    assert_string_equal(mi->vcodec, e->codec);
    assert_int_equal(mi->width, e->width);
    assert_int_equal(mi->height, e->height);
    assert_string_equal(mi->vprofile, e->profile);
    assert_string_equal(mi->vlevel, e->level);
}

static void check_audio(const media_info_t *mi, const char *codec, int rate, int channels,
                        const char *profile)
{
    assert_int_equal(mi->has_audio, 1);
    assert_string_equal(mi->acodec, codec);
    assert_int_equal(mi->sample_rate, rate);
    assert_int_equal(mi->channels, channels);
    assert_string_equal(mi->aprofile, profile);
}

/* Every string field is terminated inside its array. */
static void check_terminated(const media_info_t *mi)
{
    assert_non_null(memchr(mi->vcodec, 0, sizeof mi->vcodec));
    assert_non_null(memchr(mi->vprofile, 0, sizeof mi->vprofile));
    assert_non_null(memchr(mi->vlevel, 0, sizeof mi->vlevel));
    assert_non_null(memchr(mi->acodec, 0, sizeof mi->acodec));
    assert_non_null(memchr(mi->aprofile, 0, sizeof mi->aprofile));
}

/* A value is unknown or the right one, never anything else. */
static void check_partial_video(const media_info_t *mi, const vexp_t *e)
{
    check_terminated(mi);
    assert_true(mi->width == 0 || mi->width == e->width);
    assert_true(mi->height == 0 || mi->height == e->height);
    assert_true((mi->width == 0) == (mi->height == 0));
    assert_true(mi->vprofile[0] == 0 || strcmp(mi->vprofile, e->profile) == 0);
    assert_true(mi->vlevel[0] == 0 || strcmp(mi->vlevel, e->level) == 0);
    assert_true(mi->vcodec[0] == 0 || strcmp(mi->vcodec, e->codec) == 0);
    assert_int_equal(mi->video_from_record, mi->width != 0);
}

/* ---- H.264 -------------------------------------------------------------- */

typedef struct {
    const uint8_t *body;
    size_t len;
    vexp_t want;
} vcase_t;

#define VCASE(v, ...)                                                                              \
    {                                                                                              \
        v, sizeof v,                                                                               \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

static const vcase_t H264_CASES[] = {
    VCASE(V_H264_HIGH_720P_AAC, "h264", 1280, 720, "High", "3.1"),
    VCASE(V_H264_BASELINE_320X240, "h264", 320, 240, "Constrained Baseline", "3"),
    VCASE(V_H264_MAIN_854X480, "h264", 854, 480, "Main", "3.1"),
    VCASE(V_H264_INTERLACED_1080, "h264", 1920, 1080, "High", "4"),
    VCASE(V_H264_444_CQM_640X360, "h264", 640, 360, "High 4:4:4 Predictive", "3"),
    VCASE(V_H264_HIGH10, "h264", 640, 360, "High 10", "3"),
    VCASE(V_H264_422_640X362, "h264", 640, 362, "High 4:2:2", "3"),
};

#define NCASES(a) (sizeof(a) / sizeof(a)[0])

static void test_h264_legacy(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCASES(H264_CASES); i++) {
        media_info_t mi = fed(FEED_VIDEO, H264_CASES[i].body, H264_CASES[i].len);
        check_video(&mi, &H264_CASES[i].want);
        assert_int_equal(mi.video_from_record, 1);
        assert_int_equal(mi.has_audio, 0);
    }
}

static void test_h264_enhanced(void **state)
{
    (void)state;
    uint8_t body[BODY_MAX];
    for (size_t i = 0; i < NCASES(H264_CASES); i++) {
        const vcase_t *c = &H264_CASES[i];
        size_t n = wrap_ex_video(body, FLV_FOURCC_AVC1, c->body + 5, c->len - 5);
        media_info_t mi = fed(FEED_VIDEO, body, n);
        check_video(&mi, &c->want);
    }
}

static void test_h264_hand_built_sps(void **state)
{
    (void)state;
    uint8_t rec[BODY_MAX], body[BODY_MAX];
    size_t n = make_avcc(rec, SPS_SCALING_POC1, sizeof SPS_SCALING_POC1);
    media_info_t mi = fed(FEED_VIDEO, body, wrap_legacy(body, FLV_VCODEC_AVC, rec, n));
    check_video(&mi, &(vexp_t){"h264", 1920, 1080, "High", "4"});

    n = make_avcc(rec, SPS_444_PLANES, sizeof SPS_444_PLANES);
    mi = fed(FEED_VIDEO, body, wrap_legacy(body, FLV_VCODEC_AVC, rec, n));
    check_video(&mi, &(vexp_t){"h264", 637, 380, "High 4:4:4 Predictive", "3.1"});
}

/* The baseline SPS with its constraint and level bytes changed. */
static void test_h264_level_1b_and_names(void **state)
{
    (void)state;
    static const struct {
        uint8_t profile, constraints, level;
        const char *name, *lvl;
    } CASES[] = {
        {66, 0xd0, 11, "Constrained Baseline", "1b"}, /* constraint_set3 */
        {66, 0x80, 9, "Baseline", "1b"},
        {66, 0x80, 11, "Baseline", "1.1"},
        {88, 0x00, 21, "Extended", "2.1"},
        {66, 0xc0, 52, "Constrained Baseline", "5.2"},
        {99, 0x00, 10, "profile 99", "1"},
    };
    const uint8_t *sps = V_H264_BASELINE_320X240 + 13;
    size_t sps_len = rd_be16(V_H264_BASELINE_320X240 + 11);
    uint8_t copy[64], rec[BODY_MAX], body[BODY_MAX];
    assert_true(sps_len <= sizeof copy);
    for (size_t i = 0; i < NCASES(CASES); i++) {
        memcpy(copy, sps, sps_len);
        copy[1] = CASES[i].profile;
        copy[2] = CASES[i].constraints;
        copy[3] = CASES[i].level;
        size_t n = make_avcc(rec, copy, sps_len);
        media_info_t mi = fed(FEED_VIDEO, body, wrap_legacy(body, FLV_VCODEC_AVC, rec, n));
        assert_string_equal(mi.vprofile, CASES[i].name);
        assert_string_equal(mi.vlevel, CASES[i].lvl);
        /* None of these profiles carries chroma_format_idc: the rest of
         * the SPS reads as before. */
        assert_int_equal(mi.width, 320);
        assert_int_equal(mi.height, 240);
    }
}

/* ---- H.265 -------------------------------------------------------------- */

static const vcase_t HEVC_CASES[] = {
    VCASE(HVCC_HEVC_1080, "hevc", 1920, 1080, "Main", "4"),
    VCASE(HVCC_HEVC_854X480, "hevc", 854, 480, "Main", "3"),
    VCASE(HVCC_HEVC_MAIN10_720P_TL, "hevc", 1280, 720, "Main 10", "3.1"),
    VCASE(HVCC_HEVC_444_642X362, "hevc", 642, 362, "Rext", "2.1"),
};

static void test_hevc_legacy_and_enhanced(void **state)
{
    (void)state;
    uint8_t body[BODY_MAX];
    for (size_t i = 0; i < NCASES(HEVC_CASES); i++) {
        const vcase_t *c = &HEVC_CASES[i];
        media_info_t mi =
            fed(FEED_VIDEO, body, wrap_legacy(body, FLV_VCODEC_HEVC, c->body, c->len));
        check_video(&mi, &c->want);
        assert_int_equal(mi.video_from_record, 1);
        mi = fed(FEED_VIDEO, body, wrap_ex_video(body, FLV_FOURCC_HVC1, c->body, c->len));
        check_video(&mi, &c->want);
    }
}

static void test_hevc_sub_layer_profile_level(void **state)
{
    (void)state;
    uint8_t rec[BODY_MAX], body[BODY_MAX];
    size_t n = make_hvcc(rec, HEVC_SPS_SUB_LAYER_PTL, sizeof HEVC_SPS_SUB_LAYER_PTL);
    media_info_t mi = fed(FEED_VIDEO, body, wrap_ex_video(body, FLV_FOURCC_HVC1, rec, n));
    check_video(&mi, &(vexp_t){"hevc", 1280, 720, "Main 10", "3.1"});
}

/* ---- AV1 and VP9 -------------------------------------------------------- */

static const vcase_t AV1_CASES[] = {
    VCASE(AV1C_AV1_640X480, "av1", 640, 480, "Main", "3"),
    VCASE(AV1C_AV1_444_642X362, "av1", 642, 362, "High", "2.1"),
    VCASE(AV1C_AV1_SVT_720P, "av1", 1280, 720, "Main", "3.1"),
    VCASE(AV1C_TIMING_INFO, "av1", 1920, 1080, "Main", "5"),
};

static void test_av1(void **state)
{
    (void)state;
    uint8_t body[BODY_MAX];
    for (size_t i = 0; i < NCASES(AV1_CASES); i++) {
        const vcase_t *c = &AV1_CASES[i];
        media_info_t mi =
            fed(FEED_VIDEO, body, wrap_ex_video(body, FLV_FOURCC_AV01, c->body, c->len));
        check_video(&mi, &c->want);
        /* The sequence header's largest frame size is a hint only. */
        assert_int_equal(mi.video_from_record, 0);
    }
    /* Without configOBUs: profile and level only. */
    media_info_t mi =
        fed(FEED_VIDEO, body, wrap_ex_video(body, FLV_FOURCC_AV01, AV1C_AV1_SVT_720P, 4));
    check_video(&mi, &(vexp_t){"av1", 0, 0, "Main", "3.1"});
}

static void test_vp9(void **state)
{
    (void)state;
    uint8_t body[BODY_MAX];
    const vexp_t want = {"vp9", 0, 0, "Profile 0", "3"};
    media_info_t mi =
        fed(FEED_VIDEO, body,
            wrap_ex_video(body, FLV_FOURCC_VP09, VPCC_VP9_640X480, sizeof VPCC_VP9_640X480));
    check_video(&mi, &want);
    /* The bare record, without the box's version and flags. */
    mi = fed(
        FEED_VIDEO, body,
        wrap_ex_video(body, FLV_FOURCC_VP09, VPCC_VP9_640X480 + 4, sizeof VPCC_VP9_640X480 - 4));
    check_video(&mi, &want);
}

static void test_video_codec_names(void **state)
{
    (void)state;
    static const struct {
        uint8_t body[9];
        size_t len;
        const char *codec;
    } CASES[] = {
        {{0x91, 'a', 'v', '0', '1', 0x12, 0x00}, 7, "av1"}, /* CodedFrames */
        {{0xa3, 'v', 'p', '0', '9', 0x00}, 6, "vp9"},       /* inter, CodedFramesX */
        {{0x93, 'h', 'v', 'c', '1', 0x00}, 6, "hevc"},
        {{0x90, 'v', 'p', '0', '8', 0x00}, 6, "vp08"}, /* a FourCC we do not know */
        {{0x22, 0x00, 0x00, 0x84}, 4, "h263"},         /* legacy Sorenson H.263 */
        {{0x14, 0x00, 0x00}, 3, "vp6"},
        {{0x27, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01}, 9, "h264"},
        {{0x96, 0x00, 'a', 'v', '0', '1', 0x00}, 7, "av1"}, /* multitrack, one track */
    };
    for (size_t i = 0; i < NCASES(CASES); i++) {
        media_info_t mi = fed(FEED_VIDEO, CASES[i].body, CASES[i].len);
        assert_string_equal(mi.vcodec, CASES[i].codec);
        assert_int_equal(mi.width, 0);
        assert_string_equal(mi.vprofile, "");
    }
    /* An enhanced video command carries no FourCC: nothing but has_video. */
    const uint8_t cmd[] = {0xd0, 0x01};
    media_info_t mi = fed(FEED_VIDEO, cmd, sizeof cmd);
    assert_int_equal(mi.has_video, 1);
    assert_string_equal(mi.vcodec, "");
    mi = fed(FEED_VIDEO, cmd, 0);
    assert_int_equal(mi.has_video, 1);
    assert_string_equal(mi.vcodec, "");
}

/* A later tag of another codec forgets the old record's values. */
static void test_codec_change_forgets(void **state)
{
    (void)state;
    uint8_t body[BODY_MAX];
    media_info_t mi;
    media_info_init(&mi);
    feed(&mi, FEED_VIDEO, V_H264_HIGH_720P_AAC, sizeof V_H264_HIGH_720P_AAC);
    const uint8_t h264_frame[] = {0x27, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x41};
    feed(&mi, FEED_VIDEO, h264_frame, sizeof h264_frame);
    check_video(&mi, &H264_CASES[0].want);
    feed(&mi, FEED_VIDEO, body,
         wrap_ex_video(body, FLV_FOURCC_HVC1, HVCC_HEVC_854X480, sizeof HVCC_HEVC_854X480));
    check_video(&mi, &HEVC_CASES[1].want);
    const uint8_t vp9_frame[] = {0x91, 'v', 'p', '0', '9', 0x82};
    feed(&mi, FEED_VIDEO, vp9_frame, sizeof vp9_frame);
    check_video(&mi, &(vexp_t){"vp9", 0, 0, "", ""});
    assert_int_equal(mi.video_from_record, 0);
    /* A new record replaces the old one's values. */
    feed(&mi, FEED_VIDEO, V_H264_BASELINE_320X240, sizeof V_H264_BASELINE_320X240);
    feed(&mi, FEED_VIDEO, V_H264_MAIN_854X480, sizeof V_H264_MAIN_854X480);
    check_video(&mi, &H264_CASES[2].want);
}

/* ---- audio -------------------------------------------------------------- */

static void test_aac_legacy(void **state)
{
    (void)state;
    media_info_t mi = fed(FEED_AUDIO, A_AAC_44K_STEREO, sizeof A_AAC_44K_STEREO);
    check_audio(&mi, "aac", 44100, 2, "LC");
    assert_int_equal(mi.audio_from_record, 1);
    assert_int_equal(mi.has_video, 0);
    mi = fed(FEED_AUDIO, A_AAC_48K_MONO, sizeof A_AAC_48K_MONO);
    check_audio(&mi, "aac", 48000, 1, "LC");
    /* A raw AAC frame names the codec only. */
    const uint8_t raw[] = {0xaf, 0x01, 0x21, 0x10};
    mi = fed(FEED_AUDIO, raw, sizeof raw);
    check_audio(&mi, "aac", 0, 0, "");
}

/* AudioSpecificConfigs written from ISO/IEC 14496-3 1.6.2.1 (FFmpeg's
 * encoder makes LC only). */
static void test_aac_asc_variants(void **state)
{
    (void)state;
    static const struct {
        uint8_t asc[8];
        size_t len;
        int rate, channels;
        const char *profile;
    } CASES[] = {
        /* explicit SBR: type 5, 22050 core, stereo, 44100 SBR, core LC */
        {{0x2b, 0x92, 0x08, 0x00}, 4, 44100, 2, "HE-AAC"},
        /* explicit PS: type 29, 22050 core, mono, 44100 SBR, core LC */
        {{0xeb, 0x8a, 0x08, 0x00}, 4, 44100, 2, "HE-AACv2"},
        /* backward compatible: LC 22050 stereo, 0x2b7, SBR, 44100 */
        {{0x13, 0x90, 0x56, 0xe5, 0xa0}, 5, 44100, 2, "HE-AAC"},
        /* ... then 0x548 and PS over a mono core */
        {{0x13, 0x88, 0x56, 0xe5, 0xa5, 0x48, 0x80}, 7, 44100, 2, "HE-AACv2"},
        /* LC with the rate written out (index 15, 44100) */
        {{0x17, 0x80, 0x56, 0x22, 0x10}, 5, 44100, 2, "LC"},
        /* escaped object type 39 (ELD), 48000, mono */
        {{0xf8, 0xe6, 0x20}, 3, 48000, 1, "ELD"},
        /* Main, 32000, 5.1 */
        {{0x0a, 0xb0}, 2, 32000, 6, "Main"},
        /* LC, 48000, channel configuration 7: 7.1 */
        {{0x11, 0xb8}, 2, 48000, 8, "LC"},
        /* LC with channel configuration 0 (a PCE): channels unknown */
        {{0x11, 0x80, 0x00}, 3, 48000, 0, "LC"},
        /* object type 42 */
        {{0xf9, 0x46, 0x20}, 3, 48000, 1, "AOT 42"},
    };
    uint8_t body[BODY_MAX];
    for (size_t i = 0; i < NCASES(CASES); i++) {
        body[0] = 0xaf;
        body[1] = 0;
        memcpy(body + 2, CASES[i].asc, CASES[i].len);
        media_info_t mi = fed(FEED_AUDIO, body, CASES[i].len + 2);
        check_audio(&mi, "aac", CASES[i].rate, CASES[i].channels, CASES[i].profile);
        /* The same over Enhanced RTMP mp4a. */
        size_t n = wrap_ex_audio(body, FOURCC_MP4A, 0, CASES[i].asc, CASES[i].len);
        mi = fed(FEED_AUDIO, body, n);
        check_audio(&mi, "aac", CASES[i].rate, CASES[i].channels, CASES[i].profile);
    }
}

static void test_legacy_audio(void **state)
{
    (void)state;
    static const struct {
        const uint8_t *body;
        const char *codec;
        int rate, channels;
    } CASES[] = {
        {A_MP3_44K_STEREO, "mp3", 44100, 2},     {A_MP3_22K_MONO, "mp3", 22050, 1},
        {A_ADPCM_11K_STEREO, "adpcm", 11025, 2}, {A_MULAW_8K, "g711u", 8000, 1},
        {A_ALAW_8K, "g711a", 8000, 1},           {A_NELLY_8K, "nellymoser", 8000, 1},
        {A_SPEEX_16K, "speex", 16000, 1},        {A_PCM_44K_STEREO, "pcm", 44100, 2},
    };
    for (size_t i = 0; i < NCASES(CASES); i++) {
        media_info_t mi = fed(FEED_AUDIO, CASES[i].body, 8);
        check_audio(&mi, CASES[i].codec, CASES[i].rate, CASES[i].channels, "");
        assert_int_equal(mi.audio_from_record, 1);
    }
}

/* An MP3 tag too short for a frame header gives the FLV header's values
 * as a hint, which metadata may correct; the first frame header decides. */
static void test_mp3_header_hint(void **state)
{
    (void)state;
    media_info_t mi = fed(FEED_AUDIO, A_MP3_44K_STEREO, 3);
    check_audio(&mi, "mp3", 44100, 2, "");
    assert_int_equal(mi.audio_from_record, 0);
    feed(&mi, FEED_META, META_AAC_48K_MONO, sizeof META_AAC_48K_MONO);
    assert_int_equal(mi.sample_rate, 48000);
    assert_int_equal(mi.channels, 1);
    feed(&mi, FEED_AUDIO, A_MP3_44K_STEREO, 8);
    check_audio(&mi, "mp3", 44100, 2, "");
    assert_int_equal(mi.audio_from_record, 1);
    feed(&mi, FEED_META, META_AAC_48K_MONO, sizeof META_AAC_48K_MONO);
    assert_int_equal(mi.sample_rate, 44100);
    assert_int_equal(mi.channels, 2);
}

static void test_enhanced_audio(void **state)
{
    (void)state;
    uint8_t body[BODY_MAX];
    /* An Opus ID header (RFC 7845 5.1): 2 channels, input rate 44100. */
    static const uint8_t OPUS_HEAD[19] = {'O',  'p',  'u',  's',  'H',  'e',  'a', 'd', 1, 2,
                                          0x38, 0x01, 0x44, 0xac, 0x00, 0x00, 0,   0,   0};
    media_info_t mi = fed(FEED_AUDIO, body,
                          wrap_ex_audio(body, FLV_FOURCC('O', 'p', 'u', 's'), 0, OPUS_HEAD, 19));
    check_audio(&mi, "opus", 48000, 2, "");
    /* The MP3 frame header of A_MP3_22K_MONO in .mp3 CodedFrames. */
    mi = fed(FEED_AUDIO, body,
             wrap_ex_audio(body, FLV_FOURCC('.', 'm', 'p', '3'), 1, A_MP3_22K_MONO + 1, 7));
    check_audio(&mi, "mp3", 22050, 1, "");
    static const struct {
        uint32_t fourcc;
        const char *codec;
    } NAMES[] = {
        {FLV_FOURCC('f', 'L', 'a', 'C'), "flac"},
        {FLV_FOURCC('a', 'c', '-', '3'), "ac3"},
        {FLV_FOURCC('e', 'c', '-', '3'), "eac3"},
        {FLV_FOURCC('O', 'p', 'u', 's'), "opus"},
        {FOURCC_MP4A, "aac"},
    };
    const uint8_t frame[] = {0x01, 0x02, 0x03};
    for (size_t i = 0; i < NCASES(NAMES); i++) {
        mi = fed(FEED_AUDIO, body, wrap_ex_audio(body, NAMES[i].fourcc, 1, frame, sizeof frame));
        check_audio(&mi, NAMES[i].codec, 0, 0, "");
    }
}

/* ---- metadata ----------------------------------------------------------- */

static void test_metadata_only(void **state)
{
    (void)state;
    media_info_t mi = fed(FEED_META, META_H264_AAC_720P, sizeof META_H264_AAC_720P);
    assert_int_equal(mi.has_video, 0);
    assert_int_equal(mi.has_audio, 0);
    assert_string_equal(mi.vcodec, "h264"); /* videocodecid 7 */
    assert_int_equal(mi.width, 1280);
    assert_int_equal(mi.height, 720);
    assert_true(mi.meta_fps == 30.0);
    assert_string_equal(mi.vprofile, "");
    assert_int_equal(mi.video_from_record, 0);
    assert_string_equal(mi.acodec, "aac"); /* audiocodecid 10 */
    assert_int_equal(mi.sample_rate, 44100);
    assert_int_equal(mi.channels, 2); /* stereo true */
    assert_int_equal(mi.audio_from_record, 0);

    mi = fed(FEED_META, META_AAC_48K_MONO, sizeof META_AAC_48K_MONO);
    assert_string_equal(mi.vcodec, "");
    assert_int_equal(mi.width, 0);
    assert_int_equal(mi.sample_rate, 48000);
    assert_int_equal(mi.channels, 1); /* stereo false */
}

static void test_metadata_never_overrides_records(void **state)
{
    (void)state;
    /* Metadata first (1280x720, 44100 stereo), then records that say
     * otherwise (320x240; 48000 mono), then the metadata again. */
    media_info_t mi;
    media_info_init(&mi);
    feed(&mi, FEED_META, META_H264_AAC_720P, sizeof META_H264_AAC_720P);
    feed(&mi, FEED_VIDEO, V_H264_BASELINE_320X240, sizeof V_H264_BASELINE_320X240);
    feed(&mi, FEED_AUDIO, A_AAC_48K_MONO, sizeof A_AAC_48K_MONO);
    feed(&mi, FEED_META, META_H264_AAC_720P, sizeof META_H264_AAC_720P);
    check_video(&mi, &H264_CASES[1].want);
    check_audio(&mi, "aac", 48000, 1, "LC");
    assert_true(mi.meta_fps == 30.0);

    /* An ASC with channel configuration 0 (a program config element)
     * leaves the channels unknown: metadata fills them. */
    uint8_t body[8] = {0xaf, 0x00, 0x11, 0x80, 0x00};
    media_info_init(&mi);
    feed(&mi, FEED_AUDIO, body, 5);
    feed(&mi, FEED_META, META_H264_AAC_720P, sizeof META_H264_AAC_720P);
    check_audio(&mi, "aac", 48000, 2, "LC");
}

/* The metadata codec ids count only while no tag has told. */
static void test_metadata_codec_after_tags(void **state)
{
    (void)state;
    media_info_t mi;
    media_info_init(&mi);
    feed(&mi, FEED_AUDIO, A_MP3_44K_STEREO, 8);
    const uint8_t vp6[] = {0x14, 0x00, 0x00};
    feed(&mi, FEED_VIDEO, vp6, sizeof vp6);
    feed(&mi, FEED_META, META_H264_AAC_720P, sizeof META_H264_AAC_720P);
    assert_string_equal(mi.vcodec, "vp6");
    assert_string_equal(mi.acodec, "mp3");
    assert_int_equal(mi.width, 1280); /* a size nothing else gave */
}

static size_t meta_payload(amf0_buf_t *b, int set_data_frame, int ecma)
{
    amf0_buf_init(b);
    if (set_data_frame)
        amf0_put_cstr(b, "@setDataFrame");
    amf0_put_cstr(b, "onMetaData");
    if (ecma)
        amf0_put_ecma_start(b, 7);
    else
        amf0_put_object_start(b);
    amf0_put_key(b, "width");
    amf0_put_number(b, 3840);
    amf0_put_key(b, "height");
    amf0_put_number(b, 2160);
    amf0_put_key(b, ecma ? "fps" : "videoframerate");
    amf0_put_number(b, 59.94);
    amf0_put_key(b, "videocodecid");
    if (ecma)
        amf0_put_number(b, (double)FLV_FOURCC_AV01); /* E-RTMP: the FourCC as a number */
    else
        amf0_put_cstr(b, "hvc1");
    amf0_put_key(b, "audiocodecid");
    if (ecma)
        amf0_put_cstr(b, "Opus");
    else
        amf0_put_number(b, 2);
    amf0_put_key(b, "audiochannels");
    amf0_put_number(b, 6);
    amf0_put_key(b, "audiosamplerate");
    amf0_put_number(b, 48000);
    amf0_put_object_end(b);
    assert_int_equal(b->oom, 0);
    return b->len;
}

static void test_metadata_forms(void **state)
{
    (void)state;
    static const struct {
        int set_data_frame, ecma;
        const char *vcodec, *acodec;
        double fps;
    } CASES[] = {
        {0, 0, "hevc", "mp3", 59.94},
        {1, 0, "hevc", "mp3", 59.94},
        {0, 1, "av1", "opus", 59.94},
        {1, 1, "av1", "opus", 59.94},
    };
    for (size_t i = 0; i < NCASES(CASES); i++) {
        amf0_buf_t b;
        size_t n = meta_payload(&b, CASES[i].set_data_frame, CASES[i].ecma);
        media_info_t mi = fed(FEED_META, b.data, n);
        assert_string_equal(mi.vcodec, CASES[i].vcodec);
        assert_string_equal(mi.acodec, CASES[i].acodec);
        assert_int_equal(mi.width, 3840);
        assert_int_equal(mi.height, 2160);
        assert_true(mi.meta_fps == CASES[i].fps);
        assert_int_equal(mi.channels, 6);
        assert_int_equal(mi.sample_rate, 48000);
        /* Trailing bytes after the object do not matter. */
        uint8_t *longer = malloc(n + 3);
        assert_non_null(longer);
        memcpy(longer, b.data, n);
        memset(longer + n, 0xff, 3);
        mi = fed(FEED_META, longer, n + 3);
        assert_int_equal(mi.width, 3840);
        assert_string_equal(mi.vcodec, CASES[i].vcodec);
        free(longer);
        amf0_buf_free(&b);
    }
}

static void test_metadata_ignored(void **state)
{
    (void)state;
    amf0_buf_t b;
    /* Another script name; nonsense values; an unknown codec id. */
    amf0_buf_init(&b);
    amf0_put_cstr(&b, "onCuePoint");
    amf0_put_object_start(&b);
    amf0_put_key(&b, "width");
    amf0_put_number(&b, 640);
    amf0_put_object_end(&b);
    amf0_put_cstr(&b, "onMetaData");
    amf0_put_object_start(&b);
    amf0_put_key(&b, "width");
    amf0_put_number(&b, -5);
    amf0_put_key(&b, "height");
    amf0_put_number(&b, 1e300);
    amf0_put_key(&b, "framerate");
    amf0_put_number(&b, NAN);
    amf0_put_key(&b, "videocodecid");
    amf0_put_number(&b, 99);
    amf0_put_key(&b, "audiocodecid");
    amf0_put_number(&b, 9);
    amf0_put_key(&b, "audiosamplerate");
    amf0_put_number(&b, 44);
    amf0_put_key(&b, "stereo");
    amf0_put_number(&b, 1);
    amf0_put_object_end(&b);
    assert_int_equal(b.oom, 0);
    media_info_t mi = fed(FEED_META, b.data, b.len);
    media_info_t zero;
    media_info_init(&zero);
    assert_memory_equal(&mi, &zero, sizeof mi);
    /* The second payload alone: its values are all rejected too. */
    size_t skip = 3 + 10 + 1 + 2 + 5 + 1 + 8 + 3;
    mi = fed(FEED_META, b.data + skip, b.len - skip);
    assert_memory_equal(&mi, &zero, sizeof mi);
    amf0_buf_free(&b);
}

/* ---- truncation --------------------------------------------------------- */

/* Every prefix of every body: values are unknown or right, never garbage. */
static void test_truncated_bodies(void **state)
{
    (void)state;
    uint8_t body[BODY_MAX];
    for (size_t i = 0; i < NCASES(H264_CASES); i++)
        for (size_t n = 0; n <= H264_CASES[i].len; n++) {
            media_info_t mi = fed(FEED_VIDEO, H264_CASES[i].body, n);
            check_partial_video(&mi, &H264_CASES[i].want);
        }
    for (size_t i = 0; i < NCASES(HEVC_CASES); i++) {
        size_t len = wrap_ex_video(body, FLV_FOURCC_HVC1, HEVC_CASES[i].body, HEVC_CASES[i].len);
        for (size_t n = 0; n <= len; n++) {
            media_info_t mi = fed(FEED_VIDEO, body, n);
            check_partial_video(&mi, &HEVC_CASES[i].want);
        }
    }
    for (size_t i = 0; i < NCASES(AV1_CASES); i++) {
        size_t len = wrap_ex_video(body, FLV_FOURCC_AV01, AV1_CASES[i].body, AV1_CASES[i].len);
        for (size_t n = 0; n <= len; n++) {
            media_info_t mi = fed(FEED_VIDEO, body, n);
            check_terminated(&mi);
            assert_true(mi.width == 0 || mi.width == AV1_CASES[i].want.width);
            assert_true(mi.height == 0 || mi.height == AV1_CASES[i].want.height);
            assert_true(mi.vlevel[0] == 0 || strcmp(mi.vlevel, AV1_CASES[i].want.level) == 0);
        }
    }
    for (size_t n = 0; n <= sizeof A_AAC_44K_STEREO; n++) {
        media_info_t mi = fed(FEED_AUDIO, A_AAC_44K_STEREO, n);
        check_terminated(&mi);
        assert_true(mi.sample_rate == 0 || mi.sample_rate == 44100);
        assert_true(mi.channels == 0 || mi.channels == 2);
        assert_true(mi.aprofile[0] == 0 || strcmp(mi.aprofile, "LC") == 0);
    }
    for (size_t n = 0; n <= sizeof META_H264_AAC_720P; n++) {
        media_info_t mi = fed(FEED_META, META_H264_AAC_720P, n);
        check_terminated(&mi);
        assert_true(mi.width == 0 || mi.width == 1280);
        assert_true(mi.sample_rate == 0 || mi.sample_rate == 44100);
    }
}

/* Parameter sets cut inside a well-formed record: once the header bytes
 * are in, profile and level are known; the size only with everything up to
 * the cropping fields. */
static void test_truncated_parameter_sets(void **state)
{
    (void)state;
    uint8_t rec[BODY_MAX], body[BODY_MAX];
    const vexp_t scaling = {"h264", 1920, 1080, "High", "4"};
    int sized = 0;
    for (size_t n = 1; n <= sizeof SPS_SCALING_POC1; n++) {
        size_t r = make_avcc(rec, SPS_SCALING_POC1, n);
        media_info_t mi = fed(FEED_VIDEO, body, wrap_legacy(body, FLV_VCODEC_AVC, rec, r));
        check_partial_video(&mi, &scaling);
        assert_int_equal(mi.vprofile[0] != 0, n >= 4);
        sized |= mi.width != 0;
        assert_true(mi.width == 0 || n > 90); /* the crop fields sit near the end */
    }
    assert_true(sized);
    for (size_t n = 1; n <= sizeof HEVC_SPS_SUB_LAYER_PTL; n++) {
        size_t r = make_hvcc(rec, HEVC_SPS_SUB_LAYER_PTL, n);
        media_info_t mi = fed(FEED_VIDEO, body, wrap_legacy(body, FLV_VCODEC_HEVC, rec, r));
        check_partial_video(&mi, &(vexp_t){"hevc", 1280, 720, "Main 10", "3.1"});
        /* 2 header bytes, 12 for the general profile and level, 3 of them
         * emulation prevention. */
        assert_int_equal(mi.vprofile[0] != 0, n >= 18);
    }
}

/* Arbitrary bytes through every entry point; the fuzz target does more. */
static void test_noise(void **state)
{
    (void)state;
    uint32_t x = 12345;
    uint8_t buf[256];
    for (int round = 0; round < 3000; round++) {
        size_t n = (size_t)(round % 256);
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (uint8_t)(x >> 16);
        }
        if (n > 0 && round % 3 == 0)
            buf[0] = (uint8_t)(0x90 | (buf[0] & 0x0f)); /* enhanced */
        media_info_t mi;
        media_info_init(&mi);
        feed(&mi, FEED_VIDEO, buf, n);
        feed(&mi, FEED_AUDIO, buf, n);
        feed(&mi, FEED_META, buf, n);
        check_terminated(&mi);
        assert_true(mi.width >= 0 && mi.width <= 65536 && mi.height >= 0 && mi.height <= 65536);
        assert_true(mi.sample_rate >= 0 && mi.channels >= 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h264_legacy),
        cmocka_unit_test(test_h264_enhanced),
        cmocka_unit_test(test_h264_hand_built_sps),
        cmocka_unit_test(test_h264_level_1b_and_names),
        cmocka_unit_test(test_hevc_legacy_and_enhanced),
        cmocka_unit_test(test_hevc_sub_layer_profile_level),
        cmocka_unit_test(test_av1),
        cmocka_unit_test(test_vp9),
        cmocka_unit_test(test_video_codec_names),
        cmocka_unit_test(test_codec_change_forgets),
        cmocka_unit_test(test_aac_legacy),
        cmocka_unit_test(test_aac_asc_variants),
        cmocka_unit_test(test_legacy_audio),
        cmocka_unit_test(test_mp3_header_hint),
        cmocka_unit_test(test_enhanced_audio),
        cmocka_unit_test(test_metadata_only),
        cmocka_unit_test(test_metadata_never_overrides_records),
        cmocka_unit_test(test_metadata_codec_after_tags),
        cmocka_unit_test(test_metadata_forms),
        cmocka_unit_test(test_metadata_ignored),
        cmocka_unit_test(test_truncated_bodies),
        cmocka_unit_test(test_truncated_parameter_sets),
        cmocka_unit_test(test_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
