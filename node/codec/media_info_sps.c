/* media_info: H.264 and H.265 decoder configuration records (avcC, hvcC)
 * and the SPS they carry (see media_info.c). */
#include <string.h>

#include "bitreader.h"
#include "media_cfg.h"
#include "media_info_internal.h"

#define MI_RBSP_MAX 1024     /* SPS bytes unescaped; the fields read come first */
#define MI_MAX_POC_CYCLE 255 /* num_ref_frames_in_pic_order_cnt_cycle bound */

enum { H264_NAL_SPS = 7, HEVC_NAL_SPS = 33 };

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
        media_info_set_str(dst, cap, name);
    else
        snprintf(dst, cap, "profile %u", profile_idc);
}

/* level_idc 9, or 11 with constraint_set3 in the profiles that allow it,
 * is level 1b (A.3.1, A.3.2). */
static void h264_level_name(char *dst, size_t cap, const h264_sps_t *s)
{
    int low_profile = s->profile_idc == 66 || s->profile_idc == 77 || s->profile_idc == 88;
    if (s->level_idc == 9 || (s->level_idc == 11 && (s->constraints & 0x10) && low_profile))
        media_info_set_str(dst, cap, "1b");
    else if (s->level_idc)
        media_info_set_level(dst, cap, s->level_idc / 10, s->level_idc % 10);
}

void media_info_avcc(media_info_t *mi, const uint8_t *rec, size_t len)
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
            media_info_video_size(mi, s.width, s.height);
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
    case 1: media_info_set_str(dst, cap, "Main"); break;
    case 2: media_info_set_str(dst, cap, "Main 10"); break;
    case 3: media_info_set_str(dst, cap, "Main Still Picture"); break;
    case 4: media_info_set_str(dst, cap, "Rext"); break;
    default: snprintf(dst, cap, "profile %u", profile_idc); break;
    }
}

/* general_level_idc is 30 times the level (A.4.1). */
static void hevc_level_name(char *dst, size_t cap, unsigned level_idc)
{
    dst[0] = 0;
    if (level_idc)
        media_info_set_level(dst, cap, level_idc / 30, level_idc % 30 / 3);
}

void media_info_hvcc(media_info_t *mi, const uint8_t *rec, size_t len)
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
            media_info_video_size(mi, s.width, s.height);
        return;
    }
}
