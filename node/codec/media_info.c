/* media_info: see media_info.h.
 *
 * What each input yields:
 *   H.264 (legacy codec id 7, Enhanced RTMP avc1): the first SPS of the
 *     avcC gives profile, level and the cropped size (ITU-T H.264 7.3.2.1.1;
 *     scaling matrices and the pic_order_cnt_type 1 cycle, at most 255
 *     entries, are read and dropped).
 *   H.265 (legacy codec id 12, hvc1): the first SPS of the hvcC gives
 *     profile, level and the size inside the conformance window (H.265
 *     7.3.2.2.1, profile_tier_level 7.3.3 with its sub-layer fields).
 *   AV1 (av01): the av1C gives profile and level; its sequence header OBU,
 *     when present, gives the largest frame size, which counts as a hint
 *     (it fills an unknown size and metadata may replace it).
 *   VP9 (vp09): the vpcC gives profile and level.
 *   Other video: the codec name only.
 *   AAC (sound format 10, mp4a): the AudioSpecificConfig gives the object
 *     type, with explicit (types 5 and 29) and backward-compatible (sync
 *     extension 0x2b7 / 0x548) SBR and PS signalling, the output sample rate
 *     (the SBR rate for HE-AAC) and the channels (2 for PS).
 *   MP3 (sound formats 2 and 14, .mp3): the first parseable MPEG audio frame
 *     header gives rate and channels; until then the FLV header's rate and
 *     channel bits fill unknown values.
 *   Opus: the OpusHead sequence start gives the channels (rate 48000).
 *   Other legacy audio: the FLV header's rate and channel bits, or the rate
 *     the format fixes (Nellymoser 8/16 kHz, G.711 8 kHz, Speex 16 kHz).
 *   Other Enhanced RTMP audio (fLaC, ac-3, ec-3, ...): the codec name only.
 * Multitrack and ModEx packets give the codec of their first track only.
 *
 * A record parsed whole replaces what an older one said. A record cut
 * short leaves the fields it did not reach as they were: an SPS whose
 * header survives still names profile and level. A different codec on a
 * later tag forgets the old codec's profile, level and record values.
 * Metadata fills a field that is unknown, or not from a record; the
 * frame rate comes from metadata only.
 */
#include "media_info.h"

#include <stdio.h>
#include <string.h>

#include "amf0.h"
#include "flv.h"
#include "media_cfg.h"

#define MI_MAX_DIM 65536     /* largest width or height believed */
#define MI_RBSP_MAX 1024     /* SPS bytes unescaped; the fields read come first */
#define MI_MAX_POC_CYCLE 255 /* num_ref_frames_in_pic_order_cnt_cycle bound */
#define MI_MAX_RATE 768000   /* largest audio sample rate believed */
#define MI_MAX_CHANNELS 64
#define MI_MAX_FPS 1000.0

enum { H264_NAL_SPS = 7, HEVC_NAL_SPS = 33 };
enum { APKT_SEQ_START = 0, APKT_CODED = 1 }; /* Enhanced RTMP audio packet types */

#define FOURCC_MP4A FLV_FOURCC('m', 'p', '4', 'a')
#define FOURCC_OPUS FLV_FOURCC('O', 'p', 'u', 's')
#define FOURCC_MP3 FLV_FOURCC('.', 'm', 'p', '3')

/* ---- bit reader --------------------------------------------------------- */

/* MSB-first reader. A read past the end, or a value out of its range,
 * sets the sticky err and yields 0; callers check err at their
 * checkpoints, so nothing read after an error is ever used. */
typedef struct {
    const uint8_t *p;
    size_t len; /* bytes */
    size_t pos; /* bits consumed */
    int err;
} br_t;

static void br_init(br_t *b, const uint8_t *p, size_t len)
{
    b->p = p;
    b->len = len;
    b->pos = 0;
    b->err = 0;
}

static size_t br_left(const br_t *b)
{
    return b->len * 8 - b->pos;
}

/* n <= 32 bits. */
static uint32_t br_u(br_t *b, unsigned n)
{
    if (b->err || n > br_left(b)) {
        b->err = 1;
        return 0;
    }
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++, b->pos++)
        v = (v << 1) | ((b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1u);
    return v;
}

static void br_skip(br_t *b, size_t n)
{
    if (b->err || n > br_left(b))
        b->err = 1;
    else
        b->pos += n;
}

/* ue(v) (H.264 9.1); 32 or more leading zeros are an error. */
static uint32_t br_ue(br_t *b)
{
    unsigned lz = 0;
    while (br_u(b, 1) == 0) {
        if (b->err || ++lz > 31) {
            b->err = 1;
            return 0;
        }
    }
    return lz ? (uint32_t)((1ull << lz) - 1 + br_u(b, lz)) : 0;
}

static uint32_t br_ue_max(br_t *b, uint32_t max)
{
    uint32_t v = br_ue(b);
    if (v > max)
        b->err = 1;
    return v;
}

/* se(v) (H.264 9.1.1). */
static int32_t br_se(br_t *b)
{
    uint32_t k = br_ue(b);
    return (k & 1) ? (int32_t)((k + 1) / 2) : -(int32_t)(k / 2);
}

/* Copies a NAL unit without its emulation prevention bytes (the 03 of
 * each 00 00 03) into dst, at most cap bytes; returns the bytes written. */
static size_t rbsp_unescape(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
    size_t n = 0;
    int zeros = 0;
    for (size_t i = 0; i < len && n < cap; i++) {
        if (zeros >= 2 && src[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = src[i] == 0 ? zeros + 1 : 0;
        dst[n++] = src[i];
    }
    return n;
}

/* ---- fields ------------------------------------------------------------- */

static void set_str(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s);
}

/* "3.1", or "4" when the minor number is 0. */
static void set_level(char *dst, size_t cap, unsigned major, unsigned minor)
{
    if (minor)
        snprintf(dst, cap, "%u.%u", major % 100, minor % 10);
    else
        snprintf(dst, cap, "%u", major % 100);
}

/* What one codec's records said means nothing for another. */
static void video_forget(media_info_t *mi)
{
    mi->vprofile[0] = 0;
    mi->vlevel[0] = 0;
    if (mi->video_from_record) {
        mi->width = 0;
        mi->height = 0;
        mi->video_from_record = 0;
    }
}

static void audio_forget(media_info_t *mi)
{
    mi->aprofile[0] = 0;
    if (mi->audio_from_record) {
        mi->sample_rate = 0;
        mi->channels = 0;
        mi->audio_from_record = 0;
    }
}

static void set_vcodec(media_info_t *mi, const char *name)
{
    if (strcmp(mi->vcodec, name) == 0)
        return;
    if (mi->vcodec[0])
        video_forget(mi);
    set_str(mi->vcodec, sizeof mi->vcodec, name);
}

static void set_acodec(media_info_t *mi, const char *name)
{
    if (strcmp(mi->acodec, name) == 0)
        return;
    if (mi->acodec[0])
        audio_forget(mi);
    set_str(mi->acodec, sizeof mi->acodec, name);
}

static void video_record_size(media_info_t *mi, unsigned w, unsigned h)
{
    mi->width = (int)w;
    mi->height = (int)h;
    mi->video_from_record = 1;
}

static void audio_record(media_info_t *mi, int rate, int channels)
{
    mi->sample_rate = rate;
    mi->channels = channels;
    mi->audio_from_record = 1;
}

/* ---- H.264 SPS ---------------------------------------------------------- */

typedef struct {
    unsigned profile_idc, constraints, level_idc;
    unsigned chroma_format_idc; /* 1 when the profile does not say */
    unsigned separate_planes;
    unsigned width, height;
} h264_sps_t;

/* Profiles whose SPS carries chroma_format_idc and the rest (7.3.2.1.1). */
static int h264_has_chroma_info(unsigned profile_idc)
{
    switch (profile_idc) {
    case 44:
    case 83:
    case 86:
    case 100:
    case 110:
    case 118:
    case 122:
    case 128:
    case 134:
    case 135:
    case 138:
    case 139:
    case 244: return 1;
    default: return 0;
    }
}

/* scaling_list() (7.3.2.1.1.1), read and dropped. */
static void h264_skip_scaling_list(br_t *b, int size)
{
    int last = 8, next = 8;
    for (int j = 0; j < size && !b->err; j++) {
        if (next != 0) {
            int32_t delta = br_se(b);
            if (delta < -128 || delta > 127) {
                b->err = 1;
                return;
            }
            next = (last + delta + 256) % 256;
        }
        last = next == 0 ? last : next;
    }
}

static void h264_skip_scaling_matrices(br_t *b, unsigned chroma_format_idc)
{
    int lists = chroma_format_idc != 3 ? 8 : 12;
    for (int i = 0; i < lists && !b->err; i++)
        if (br_u(b, 1)) /* seq_scaling_list_present_flag[i] */
            h264_skip_scaling_list(b, i < 6 ? 16 : 64);
}

/* chroma_format_idc through the scaling matrices. */
static void h264_sps_chroma(br_t *b, h264_sps_t *s)
{
    s->chroma_format_idc = br_ue_max(b, 3);
    if (s->chroma_format_idc == 3)
        s->separate_planes = br_u(b, 1);
    br_ue_max(b, 6); /* bit_depth_luma_minus8 */
    br_ue_max(b, 6); /* bit_depth_chroma_minus8 */
    br_u(b, 1);      /* qpprime_y_zero_transform_bypass_flag */
    if (br_u(b, 1))  /* seq_scaling_matrix_present_flag */
        h264_skip_scaling_matrices(b, s->chroma_format_idc);
}

/* log2_max_frame_num_minus4 through gaps_in_frame_num_value_allowed_flag. */
static void h264_skip_frame_num_poc(br_t *b)
{
    br_ue_max(b, 12); /* log2_max_frame_num_minus4 */
    uint32_t poc_type = br_ue_max(b, 2);
    if (poc_type == 0) {
        br_ue_max(b, 12); /* log2_max_pic_order_cnt_lsb_minus4 */
    } else if (poc_type == 1) {
        br_u(b, 1); /* delta_pic_order_always_zero_flag */
        br_se(b);   /* offset_for_non_ref_pic */
        br_se(b);   /* offset_for_top_to_bottom_field */
        uint32_t cycle = br_ue_max(b, MI_MAX_POC_CYCLE);
        for (uint32_t i = 0; i < cycle && !b->err; i++)
            br_se(b); /* offset_for_ref_frame[i] */
    }
    br_ue(b);   /* max_num_ref_frames */
    br_u(b, 1); /* gaps_in_frame_num_value_allowed_flag */
}

/* Crop units (7.4.2.1.1): horizontal, then vertical. */
static void h264_crop_units(const h264_sps_t *s, unsigned frame_mbs_only, unsigned *cx,
                            unsigned *cy)
{
    unsigned array_type = s->separate_planes ? 0 : s->chroma_format_idc;
    unsigned sub_w = array_type == 1 || array_type == 2 ? 2 : 1;
    unsigned sub_h = array_type == 1 ? 2 : 1;
    *cx = sub_w;
    *cy = sub_h * (2 - frame_mbs_only);
}

/* pic_width_in_mbs_minus1 through the frame cropping offsets. */
static void h264_sps_size(br_t *b, h264_sps_t *s)
{
    uint64_t w = ((uint64_t)br_ue(b) + 1) * 16; /* pic_width_in_mbs_minus1 */
    uint64_t h = ((uint64_t)br_ue(b) + 1) * 16; /* pic_height_in_map_units_minus1 */
    unsigned frame_mbs_only = br_u(b, 1);
    if (!frame_mbs_only)
        br_u(b, 1); /* mb_adaptive_frame_field_flag */
    br_u(b, 1);     /* direct_8x8_inference_flag */
    uint64_t crop[4] = {0, 0, 0, 0};
    if (br_u(b, 1)) /* frame_cropping_flag */
        for (int i = 0; i < 4; i++)
            crop[i] = br_ue(b);
    unsigned cx, cy;
    h264_crop_units(s, frame_mbs_only, &cx, &cy);
    h *= 2 - frame_mbs_only;
    uint64_t cw = cx * (crop[0] + crop[1]), ch = cy * (crop[2] + crop[3]);
    if (b->err || w > MI_MAX_DIM || h > MI_MAX_DIM || cw >= w || ch >= h) {
        b->err = 1;
        return;
    }
    s->width = (unsigned)(w - cw);
    s->height = (unsigned)(h - ch);
}

/* Returns 2 with profile, level and size; 1 with profile and level only
 * (the SPS broke off or is inconsistent after them); 0 with nothing. */
static int h264_sps_parse(const uint8_t *nal, size_t len, h264_sps_t *s)
{
    uint8_t rbsp[MI_RBSP_MAX];
    br_t b;
    memset(s, 0, sizeof *s);
    s->chroma_format_idc = 1;
    br_init(&b, rbsp, rbsp_unescape(nal, len, rbsp, sizeof rbsp));
    uint32_t hdr = br_u(&b, 8);
    s->profile_idc = br_u(&b, 8);
    s->constraints = br_u(&b, 8);
    s->level_idc = br_u(&b, 8);
    if (b.err || (hdr & 0x9f) != H264_NAL_SPS)
        return 0;
    br_ue_max(&b, 31); /* seq_parameter_set_id */
    if (h264_has_chroma_info(s->profile_idc))
        h264_sps_chroma(&b, s);
    h264_skip_frame_num_poc(&b);
    h264_sps_size(&b, s);
    return b.err ? 1 : 2;
}

static void h264_profile_name(char *dst, size_t cap, unsigned profile_idc, unsigned constraints)
{
    const char *name = NULL;
    switch (profile_idc) {
    case 66: name = (constraints & 0x40) ? "Constrained Baseline" : "Baseline"; break;
    case 77: name = "Main"; break;
    case 88: name = "Extended"; break;
    case 100: name = "High"; break;
    case 110: name = "High 10"; break;
    case 122: name = "High 4:2:2"; break;
    case 244: name = "High 4:4:4 Predictive"; break;
    default: break;
    }
    if (name)
        set_str(dst, cap, name);
    else
        snprintf(dst, cap, "profile %u", profile_idc);
}

/* level_idc 9, or 11 with constraint_set3 in the profiles that allow it,
 * is level 1b (A.3.1, A.3.2). */
static void h264_level_name(char *dst, size_t cap, const h264_sps_t *s)
{
    int low_profile = s->profile_idc == 66 || s->profile_idc == 77 || s->profile_idc == 88;
    if (s->level_idc == 9 || (s->level_idc == 11 && (s->constraints & 0x10) && low_profile))
        set_str(dst, cap, "1b");
    else if (s->level_idc)
        set_level(dst, cap, s->level_idc / 10, s->level_idc % 10);
}

static void video_avcc(media_info_t *mi, const uint8_t *rec, size_t len)
{
    media_vcfg_t cfg;
    const char *err;
    if (media_avcc_parse(rec, len, &cfg, &err) != 0)
        return;
    for (size_t i = 0; i < cfg.nsets; i++) {
        if (media_nal_type(cfg.sets[i], 0) != H264_NAL_SPS)
            continue;
        h264_sps_t s;
        int got = h264_sps_parse(cfg.sets[i], cfg.set_len[i], &s);
        if (got >= 1) {
            h264_profile_name(mi->vprofile, sizeof mi->vprofile, s.profile_idc, s.constraints);
            mi->vlevel[0] = 0;
            h264_level_name(mi->vlevel, sizeof mi->vlevel, &s);
        }
        if (got == 2)
            video_record_size(mi, s.width, s.height);
        return;
    }
}

/* ---- H.265 SPS ---------------------------------------------------------- */

typedef struct {
    unsigned profile_idc, level_idc;
    unsigned width, height;
} hevc_sps_t;

/* The general part of profile_tier_level() (7.3.3). */
static void hevc_ptl_general(br_t *b, hevc_sps_t *s)
{
    br_u(b, 2); /* general_profile_space */
    br_u(b, 1); /* general_tier_flag */
    s->profile_idc = br_u(b, 5);
    br_skip(b, 32 + 48); /* compatibility flags; source and constraint flags */
    s->level_idc = br_u(b, 8);
}

/* The sub-layer part: presence flags, alignment, then 88 profile bits and
 * 8 level bits for each sub-layer that has them. */
static void hevc_ptl_sub_layers(br_t *b, unsigned max_sub_layers_minus1)
{
    unsigned profile_present = 0, level_present = 0;
    for (unsigned i = 0; i < max_sub_layers_minus1; i++) {
        profile_present |= br_u(b, 1) << i;
        level_present |= br_u(b, 1) << i;
    }
    if (max_sub_layers_minus1 > 0)
        br_skip(b, 2 * (8 - max_sub_layers_minus1)); /* reserved_zero_2bits */
    for (unsigned i = 0; i < max_sub_layers_minus1; i++) {
        if ((profile_present >> i) & 1)
            br_skip(b, 88);
        if ((level_present >> i) & 1)
            br_skip(b, 8);
    }
}

/* sps_seq_parameter_set_id through the conformance window (7.4.3.2.1). */
static void hevc_sps_size(br_t *b, hevc_sps_t *s)
{
    br_ue_max(b, 15); /* sps_seq_parameter_set_id */
    uint32_t chroma = br_ue_max(b, 3);
    unsigned separate = chroma == 3 ? br_u(b, 1) : 0;
    uint64_t w = br_ue(b), h = br_ue(b);
    uint64_t win[4] = {0, 0, 0, 0};
    if (br_u(b, 1)) /* conformance_window_flag */
        for (int i = 0; i < 4; i++)
            win[i] = br_ue(b);
    unsigned sub_w = !separate && (chroma == 1 || chroma == 2) ? 2 : 1;
    unsigned sub_h = !separate && chroma == 1 ? 2 : 1;
    uint64_t cw = sub_w * (win[0] + win[1]), ch = sub_h * (win[2] + win[3]);
    if (b->err || w > MI_MAX_DIM || h > MI_MAX_DIM || cw >= w || ch >= h) {
        b->err = 1;
        return;
    }
    s->width = (unsigned)(w - cw);
    s->height = (unsigned)(h - ch);
}

/* Returns 2, 1 or 0 as h264_sps_parse(). */
static int hevc_sps_parse(const uint8_t *nal, size_t len, hevc_sps_t *s)
{
    uint8_t rbsp[MI_RBSP_MAX];
    br_t b;
    memset(s, 0, sizeof *s);
    br_init(&b, rbsp, rbsp_unescape(nal, len, rbsp, sizeof rbsp));
    uint32_t hdr = br_u(&b, 16);
    br_u(&b, 4); /* sps_video_parameter_set_id */
    unsigned max_sub_layers_minus1 = br_u(&b, 3);
    br_u(&b, 1); /* sps_temporal_id_nesting_flag */
    hevc_ptl_general(&b, s);
    if (b.err || (hdr & 0x8000) || ((hdr >> 9) & 0x3f) != HEVC_NAL_SPS || max_sub_layers_minus1 > 6)
        return 0;
    hevc_ptl_sub_layers(&b, max_sub_layers_minus1);
    hevc_sps_size(&b, s);
    return b.err ? 1 : 2;
}

static void hevc_profile_name(char *dst, size_t cap, unsigned profile_idc)
{
    switch (profile_idc) {
    case 1: set_str(dst, cap, "Main"); break;
    case 2: set_str(dst, cap, "Main 10"); break;
    case 3: set_str(dst, cap, "Main Still Picture"); break;
    case 4: set_str(dst, cap, "Rext"); break;
    default: snprintf(dst, cap, "profile %u", profile_idc); break;
    }
}

/* general_level_idc is 30 times the level (A.4.1). */
static void hevc_level_name(char *dst, size_t cap, unsigned level_idc)
{
    dst[0] = 0;
    if (level_idc)
        set_level(dst, cap, level_idc / 30, level_idc % 30 / 3);
}

static void video_hvcc(media_info_t *mi, const uint8_t *rec, size_t len)
{
    media_vcfg_t cfg;
    const char *err;
    if (media_hvcc_parse(rec, len, &cfg, &err) != 0)
        return;
    for (size_t i = 0; i < cfg.nsets; i++) {
        if (media_nal_type(cfg.sets[i], 1) != HEVC_NAL_SPS)
            continue;
        hevc_sps_t s;
        int got = hevc_sps_parse(cfg.sets[i], cfg.set_len[i], &s);
        if (got >= 1) {
            hevc_profile_name(mi->vprofile, sizeof mi->vprofile, s.profile_idc);
            hevc_level_name(mi->vlevel, sizeof mi->vlevel, s.level_idc);
        }
        if (got == 2)
            video_record_size(mi, s.width, s.height);
        return;
    }
}

/* ---- AV1 and VP9 -------------------------------------------------------- */

/* uvlc() (AV1 4.10.3), dropped. */
static void av1_skip_uvlc(br_t *b)
{
    unsigned lz = 0;
    while (!br_u(b, 1) && !b->err)
        lz++;
    if (lz < 32)
        br_skip(b, lz);
}

/* timing_info_present_flag through the operating points (AV1 5.5.1). */
static void av1_skip_operating_points(br_t *b)
{
    unsigned decoder_model = 0, delay_len = 0;
    if (br_u(b, 1)) {               /* timing_info_present_flag */
        br_skip(b, 64);             /* num_units_in_display_tick, time_scale */
        if (br_u(b, 1))             /* equal_picture_interval */
            av1_skip_uvlc(b);       /* num_ticks_per_picture_minus_1 */
        decoder_model = br_u(b, 1); /* decoder_model_info_present_flag */
        if (decoder_model) {
            delay_len = br_u(b, 5) + 1; /* buffer_delay_length_minus_1 */
            br_skip(b, 32 + 5 + 5);
        }
    }
    unsigned display_delay = br_u(b, 1); /* initial_display_delay_present_flag */
    unsigned points = br_u(b, 5) + 1;    /* operating_points_cnt_minus_1 */
    for (unsigned i = 0; i < points && !b->err; i++) {
        br_skip(b, 12);     /* operating_point_idc */
        if (br_u(b, 5) > 7) /* seq_level_idx */
            br_u(b, 1);     /* seq_tier */
        if (decoder_model && br_u(b, 1))
            br_skip(b, 2 * (size_t)delay_len + 1); /* operating_parameters_info */
        if (display_delay && br_u(b, 1))
            br_skip(b, 4); /* initial_display_delay_minus_1 */
    }
}

/* The sequence header OBU that opens the av1C's configOBUs, if any, gives
 * max_frame_width/height (AV1 5.3, 5.5). */
static void av1_config_obus(media_info_t *mi, const uint8_t *p, size_t len)
{
    br_t b;
    br_init(&b, p, len);
    uint32_t hdr = br_u(&b, 8);
    if (b.err || (hdr & 0x80) || ((hdr >> 3) & 0x0f) != 1) /* OBU_SEQUENCE_HEADER */
        return;
    if (hdr & 0x04)
        br_u(&b, 8); /* obu_extension_header */
    if (hdr & 0x02)  /* obu_size, leb128 */
        for (int i = 0; i < 8 && (br_u(&b, 8) & 0x80); i++)
            ;
    br_u(&b, 4); /* seq_profile, still_picture */
    if (br_u(&b, 1))
        br_u(&b, 5); /* reduced_still_picture_header: seq_level_idx[0] */
    else
        av1_skip_operating_points(&b);
    unsigned wbits = br_u(&b, 4) + 1, hbits = br_u(&b, 4) + 1;
    uint32_t w = br_u(&b, wbits) + 1, h = br_u(&b, hbits) + 1;
    if (b.err || mi->width != 0 || w > MI_MAX_DIM || h > MI_MAX_DIM)
        return;
    mi->width = (int)w;
    mi->height = (int)h;
}

/* AV1CodecConfigurationRecord: marker and version 1, seq_profile,
 * seq_level_idx_0 (level 2 + idx / 4 . idx % 4, A.3), then configOBUs. */
static void video_av1c(media_info_t *mi, const uint8_t *rec, size_t len)
{
    static const char *const PROFILES[3] = {"Main", "High", "Professional"};
    if (len < 4 || rec[0] != 0x81)
        return;
    unsigned profile = rec[1] >> 5, idx = rec[1] & 0x1f;
    if (profile < 3)
        set_str(mi->vprofile, sizeof mi->vprofile, PROFILES[profile]);
    else
        snprintf(mi->vprofile, sizeof mi->vprofile, "profile %u", profile);
    mi->vlevel[0] = 0;
    if (idx < 24)
        set_level(mi->vlevel, sizeof mi->vlevel, 2 + (idx >> 2), idx & 3);
    av1_config_obus(mi, rec + 4, len - 4);
}

/* VPCodecConfigurationRecord: profile, level (10 times the level), ...;
 * FFmpeg sends it with the vpcC box's version 1 and flags in front. */
static void video_vpcc(media_info_t *mi, const uint8_t *rec, size_t len)
{
    size_t off = len >= 6 && rec[0] == 1 && rec[1] == 0 && rec[2] == 0 && rec[3] == 0 ? 4 : 0;
    if (len < off + 2 || rec[off] > 3)
        return;
    snprintf(mi->vprofile, sizeof mi->vprofile, "Profile %u", rec[off]);
    unsigned level = rec[off + 1];
    mi->vlevel[0] = 0;
    if (level >= 10 && level <= 62)
        set_level(mi->vlevel, sizeof mi->vlevel, level / 10, level % 10);
}

/* ---- video tags --------------------------------------------------------- */

static void video_seq_header(media_info_t *mi, const uint8_t *body, size_t len,
                             const flv_video_info_t *v)
{
    media_video_pkt_t pk;
    const char *err;
    switch (v->fourcc) {
    case FLV_FOURCC_AVC1:
    case FLV_FOURCC_HVC1:
        if (media_video_parse(body, len, &pk, &err) != 0 || pk.kind != MEDIA_PKT_CONFIG)
            return;
        if (pk.hevc)
            video_hvcc(mi, pk.data, pk.len);
        else
            video_avcc(mi, pk.data, pk.len);
        break;
    /* Enhanced SequenceStart: the record follows the 5-byte header. */
    case FLV_FOURCC_AV01: video_av1c(mi, body + 5, len - 5); break;
    case FLV_FOURCC_VP09: video_vpcc(mi, body + 5, len - 5); break;
    default: break;
    }
}

void media_info_init(media_info_t *mi)
{
    memset(mi, 0, sizeof *mi);
}

void media_info_video(media_info_t *mi, const uint8_t *body, size_t len)
{
    flv_video_info_t v;
    char buf[16];
    mi->has_video = 1;
    if (flv_video_inspect(body, len, &v) != 0 || (v.enhanced && v.fourcc == 0))
        return; /* too short, or an enhanced command or cut-off multitrack header */
    set_vcodec(mi, media_video_codec_name(&v, buf, sizeof buf));
    if (v.seq_header)
        video_seq_header(mi, body, len, &v);
}

/* ---- audio -------------------------------------------------------------- */

static const int AAC_RATES[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                  22050, 16000, 12000, 11025, 8000,  7350};
/* channelConfiguration (ISO/IEC 14496-3 1.6.3.5, Table 1.19); 0 unknown. */
static const int AAC_CHANNELS[16] = {0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 24, 8, 0};

typedef struct {
    unsigned aot; /* audio object type; the core type under explicit SBR */
    int rate;     /* output rate (SBR's for HE-AAC), 0 unknown */
    int channels; /* 0 unknown (program config element) */
    int sbr, ps;
} asc_t;

static unsigned asc_aot(br_t *b)
{
    unsigned aot = br_u(b, 5);
    return aot == 31 ? 32 + br_u(b, 6) : aot;
}

/* samplingFrequencyIndex, or the explicit 24-bit rate after index 15. */
static int asc_rate(br_t *b)
{
    unsigned idx = br_u(b, 4);
    if (idx == 15)
        return (int)br_u(b, 24);
    return idx < 13 ? AAC_RATES[idx] : 0;
}

/* Backward-compatible SBR/PS signalling after an LC GASpecificConfig
 * (1.6.2.1, 4.4.1): syncExtensionType 0x2b7, SBR, then 0x548, PS. A
 * program config element (channel configuration 0) is not walked. */
static void asc_sync_extension(br_t *b, asc_t *a, unsigned chan_cfg)
{
    if (chan_cfg == 0)
        return;
    br_u(b, 1);     /* frameLengthFlag */
    if (br_u(b, 1)) /* dependsOnCoreCoder */
        br_skip(b, 14);
    br_u(b, 1); /* extensionFlag */
    if (b->err || br_left(b) < 16 || br_u(b, 11) != 0x2b7)
        return;
    if (asc_aot(b) != 5 || !br_u(b, 1)) /* sbrPresentFlag */
        return;
    int rate = asc_rate(b);
    if (b->err)
        return;
    a->sbr = 1;
    if (rate)
        a->rate = rate;
    if (br_left(b) >= 12 && br_u(b, 11) == 0x548 && br_u(b, 1))
        a->ps = 1;
}

/* AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1). Returns 0 or NODE_EPROTO. */
static int asc_parse(const uint8_t *p, size_t len, asc_t *a)
{
    br_t b;
    br_init(&b, p, len);
    memset(a, 0, sizeof *a);
    a->aot = asc_aot(&b);
    a->rate = asc_rate(&b);
    unsigned chan_cfg = br_u(&b, 4);
    if (a->aot == 5 || a->aot == 29) {
        a->sbr = 1;
        a->ps = a->aot == 29;
        int ext_rate = asc_rate(&b);
        a->aot = asc_aot(&b);
        if (ext_rate)
            a->rate = ext_rate;
    } else if (a->aot == 2 && !b.err) {
        asc_sync_extension(&b, a, chan_cfg);
        b.err = 0; /* what the extension lacks, it does not signal */
    }
    if (b.err)
        return NODE_EPROTO;
    a->channels = AAC_CHANNELS[chan_cfg];
    if (a->ps && a->channels == 1)
        a->channels = 2;
    return 0;
}

static void asc_profile_name(char *dst, size_t cap, const asc_t *a)
{
    if (a->ps) {
        set_str(dst, cap, "HE-AACv2");
        return;
    }
    if (a->sbr) {
        set_str(dst, cap, "HE-AAC");
        return;
    }
    switch (a->aot) {
    case 1: set_str(dst, cap, "Main"); break;
    case 2: set_str(dst, cap, "LC"); break;
    case 3: set_str(dst, cap, "SSR"); break;
    case 4: set_str(dst, cap, "LTP"); break;
    case 23: set_str(dst, cap, "LD"); break;
    case 39: set_str(dst, cap, "ELD"); break;
    default: snprintf(dst, cap, "AOT %u", a->aot); break;
    }
}

static void audio_asc(media_info_t *mi, const uint8_t *p, size_t len)
{
    asc_t a;
    if (asc_parse(p, len, &a) != 0)
        return;
    asc_profile_name(mi->aprofile, sizeof mi->aprofile, &a);
    audio_record(mi, a.rate, a.channels);
}

/* An MPEG-1/2/2.5 audio frame header (ISO/IEC 11172-3 2.4.1.3). Returns 0
 * or NODE_EPROTO. */
static int mp3_header(const uint8_t *p, size_t len, int *rate, int *channels)
{
    static const int BASE[3] = {44100, 48000, 32000};
    if (len < 4 || p[0] != 0xff || (p[1] & 0xe0) != 0xe0)
        return NODE_EPROTO;
    unsigned version = (p[1] >> 3) & 3, layer = (p[1] >> 1) & 3, idx = (p[2] >> 2) & 3;
    if (version == 1 || layer == 0 || idx == 3)
        return NODE_EPROTO;
    *rate = BASE[idx] >> (version == 3 ? 0 : version == 2 ? 1 : 2);
    *channels = (p[3] >> 6) == 3 ? 1 : 2;
    return 0;
}

/* An MP3 frame: its header once; the FLV header's values (hint_*, 0 for
 * none) only fill what is unknown. */
static void audio_mp3(media_info_t *mi, const uint8_t *p, size_t len, int hint_rate,
                      int hint_channels)
{
    int rate, channels;
    if (mi->audio_from_record)
        return;
    if (mp3_header(p, len, &rate, &channels) == 0) {
        audio_record(mi, rate, channels);
        return;
    }
    if (mi->sample_rate == 0)
        mi->sample_rate = hint_rate;
    if (mi->channels == 0)
        mi->channels = hint_channels;
}

/* The Opus ID header (RFC 7845 5.1): channel count at byte 9; Opus always
 * decodes at 48 kHz. */
static void audio_opus_head(media_info_t *mi, const uint8_t *p, size_t len)
{
    if (len < 10 || memcmp(p, "OpusHead", 8) != 0 || p[9] == 0)
        return;
    audio_record(mi, 48000, p[9]);
}

/* Legacy sound formats (FLV 10.1 E.4.2.1); NULL for 9 (the extended
 * header) and the reserved or device-specific ones. */
static const char *const LEGACY_ACODECS[16] = {
    "pcm",   "adpcm", "mp3", "pcm",   "nellymoser", "nellymoser", "nellymoser", "g711a",
    "g711u", NULL,    "aac", "speex", NULL,         NULL,         "mp3",        NULL};

/* Rate and channels of a legacy header: the rate and type bits, or what
 * the format fixes. AAC's bits are meaningless (its ASC says). */
static void audio_legacy_params(media_info_t *mi, const uint8_t *body, size_t len, int fmt)
{
    static const int RATES[4] = {5512, 11025, 22050, 44100};
    int rate = RATES[(body[0] >> 2) & 3], channels = (body[0] & 1) + 1;
    switch (fmt) {
    case 0:
    case 1:
    case 3:
    case 6: break;
    case 4: rate = 16000, channels = 1; break;
    case 5: rate = 8000, channels = 1; break;
    case 7:
    case 8: rate = 8000; break;
    case 11: rate = 16000, channels = 1; break;
    case 2: audio_mp3(mi, body + 1, len - 1, rate, channels); return;
    case 14: audio_mp3(mi, body + 1, len - 1, 8000, channels); return;
    default: return;
    }
    audio_record(mi, rate, channels);
}

static void audio_legacy(media_info_t *mi, const uint8_t *body, size_t len, int fmt)
{
    char buf[16];
    if (LEGACY_ACODECS[fmt]) {
        set_acodec(mi, LEGACY_ACODECS[fmt]);
    } else {
        snprintf(buf, sizeof buf, "codec-%d", fmt);
        set_acodec(mi, buf);
    }
    if (fmt == FLV_ACODEC_AAC) {
        if (body[1] == 0) /* AACPacketType: sequence header (len >= 2 checked) */
            audio_asc(mi, body + 2, len - 2);
        return;
    }
    audio_legacy_params(mi, body, len, fmt);
}

/* Enhanced RTMP audio: the FourCC names the codec; single-track sequence
 * starts and coded frames follow the 5-byte header. */
static void audio_ex(media_info_t *mi, const uint8_t *body, size_t len, const flv_audio_info_t *a)
{
    char buf[16];
    if (a->fourcc == 0)
        return;
    set_acodec(mi, media_audio_codec_name(a, buf, sizeof buf));
    unsigned pt = body[0] & 0x0f;
    if (pt == APKT_SEQ_START && a->fourcc == FOURCC_MP4A)
        audio_asc(mi, body + 5, len - 5);
    else if (pt == APKT_SEQ_START && a->fourcc == FOURCC_OPUS)
        audio_opus_head(mi, body + 5, len - 5);
    else if (pt == APKT_CODED && a->fourcc == FOURCC_MP3)
        audio_mp3(mi, body + 5, len - 5, 0, 0);
}

void media_info_audio(media_info_t *mi, const uint8_t *body, size_t len)
{
    flv_audio_info_t a;
    mi->has_audio = 1;
    if (flv_audio_inspect(body, len, &a) != 0)
        return;
    if (a.sound_format == FLV_ACODEC_EX)
        audio_ex(mi, body, len, &a);
    else
        audio_legacy(mi, body, len, a.sound_format);
}

/* ---- metadata ----------------------------------------------------------- */

static int is_str(const amf0_value_t *v, const char *s)
{
    size_t n = strlen(s);
    return v->type == AMF0_STRING && v->str_len == n && memcmp(v->str, s, n) == 0;
}

static int is_container(const amf0_value_t *v)
{
    return v->type == AMF0_OBJECT || v->type == AMF0_ECMA_ARRAY;
}

/* videocodecid / audiocodecid: a legacy id (a number 0..15), or a FourCC
 * as a number or a 4-character string. Returns 1 with one of them set. */
static int meta_codec_id(const amf0_value_t *v, int *id, uint32_t *fourcc)
{
    *id = -1;
    *fourcc = 0;
    if (v && v->type == AMF0_STRING && v->str_len == 4) {
        const uint8_t *s = (const uint8_t *)v->str;
        *fourcc = FLV_FOURCC(s[0], s[1], s[2], s[3]);
        return 1;
    }
    if (!v || v->type != AMF0_NUMBER)
        return 0;
    if (v->num >= 0 && v->num < 16 && v->num == (double)(int)v->num) {
        *id = (int)v->num;
        return 1;
    }
    if (v->num >= 0x01000000 && v->num <= 0xffffffffu && v->num == (double)(uint32_t)v->num) {
        *fourcc = (uint32_t)v->num;
        return 1;
    }
    return 0;
}

/* Only a codec the tables know is believed from metadata. */
static void meta_vcodec(media_info_t *mi, const amf0_value_t *v)
{
    flv_video_info_t vi;
    char buf[16];
    int id;
    memset(&vi, 0, sizeof vi);
    if (!meta_codec_id(v, &id, &vi.fourcc))
        return;
    if (id >= 0) {
        vi.codec_id = id;
        vi.fourcc = id == FLV_VCODEC_AVC    ? FLV_FOURCC_AVC1
                    : id == FLV_VCODEC_HEVC ? FLV_FOURCC_HVC1
                                            : 0;
    }
    const char *name = media_video_codec_name(&vi, buf, sizeof buf);
    if (name != buf)
        set_str(mi->vcodec, sizeof mi->vcodec, name);
}

static void meta_acodec(media_info_t *mi, const amf0_value_t *v)
{
    flv_audio_info_t ai;
    char buf[16];
    int id;
    memset(&ai, 0, sizeof ai);
    if (!meta_codec_id(v, &id, &ai.fourcc))
        return;
    if (id >= 0) {
        if (LEGACY_ACODECS[id])
            set_str(mi->acodec, sizeof mi->acodec, LEGACY_ACODECS[id]);
        return;
    }
    ai.sound_format = FLV_ACODEC_EX;
    const char *name = media_audio_codec_name(&ai, buf, sizeof buf);
    if (name != buf)
        set_str(mi->acodec, sizeof mi->acodec, name);
}

/* A positive finite number no larger than max, else 0. */
static double meta_num(const amf0_value_t *obj, const char *key, double max)
{
    double v = amf0_num(amf0_get(obj, key), 0);
    return v > 0 && v <= max ? v : 0;
}

static void meta_video(media_info_t *mi, const amf0_value_t *o)
{
    double w = meta_num(o, "width", MI_MAX_DIM), h = meta_num(o, "height", MI_MAX_DIM);
    if (w >= 1 && h >= 1 && (mi->width == 0 || !mi->video_from_record)) {
        mi->width = (int)w;
        mi->height = (int)h;
    }
    double fps = meta_num(o, "framerate", MI_MAX_FPS);
    if (fps == 0)
        fps = meta_num(o, "videoframerate", MI_MAX_FPS);
    if (fps == 0)
        fps = meta_num(o, "fps", MI_MAX_FPS);
    if (fps > 0)
        mi->meta_fps = fps;
    if (mi->vcodec[0] == 0)
        meta_vcodec(mi, amf0_get(o, "videocodecid"));
}

static int meta_channels(const amf0_value_t *o)
{
    double n = meta_num(o, "audiochannels", MI_MAX_CHANNELS);
    if (n >= 1)
        return (int)n;
    const amf0_value_t *stereo = amf0_get(o, "stereo");
    if (stereo && stereo->type == AMF0_BOOLEAN)
        return stereo->boolean ? 2 : 1;
    return 0;
}

static void meta_audio(media_info_t *mi, const amf0_value_t *o)
{
    double rate = meta_num(o, "audiosamplerate", MI_MAX_RATE);
    if (rate >= 1000 && (mi->sample_rate == 0 || !mi->audio_from_record))
        mi->sample_rate = (int)rate;
    int channels = meta_channels(o);
    if (channels > 0 && (mi->channels == 0 || !mi->audio_from_record))
        mi->channels = channels;
    if (mi->acodec[0] == 0)
        meta_acodec(mi, amf0_get(o, "audiocodecid"));
}

void media_info_meta(media_info_t *mi, const uint8_t *payload, size_t len)
{
    amf0_value_t vals[3];
    size_t n;
    const amf0_value_t *obj = NULL;
    /* Two values first: trailing bytes after them are none of our business. */
    if (amf0_decode_all(payload, len, vals, 2, &n, NULL) != 0)
        return;
    if (n == 2 && is_str(&vals[0], "onMetaData") && is_container(&vals[1])) {
        obj = &vals[1];
    } else if (n == 2 && is_str(&vals[0], "@setDataFrame") && is_str(&vals[1], "onMetaData")) {
        amf0_values_free(vals, n);
        if (amf0_decode_all(payload, len, vals, 3, &n, NULL) != 0)
            return;
        if (n == 3 && is_container(&vals[2]))
            obj = &vals[2];
    }
    if (obj) {
        meta_video(mi, obj);
        meta_audio(mi, obj);
    }
    amf0_values_free(vals, n);
}
