/* media_info: video tags, and the AV1 and VP9 records (see media_info.c). */
#include <string.h>

#include "bitreader.h"
#include "flv.h"
#include "media_cfg.h"
#include "media_info.h"
#include "media_info_internal.h"

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
        media_info_set_str(mi->vprofile, sizeof mi->vprofile, PROFILES[profile]);
    else
        snprintf(mi->vprofile, sizeof mi->vprofile, "profile %u", profile);
    mi->vlevel[0] = 0;
    if (idx < 24)
        media_info_set_level(mi->vlevel, sizeof mi->vlevel, 2 + (idx >> 2), idx & 3);
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
        media_info_set_level(mi->vlevel, sizeof mi->vlevel, level / 10, level % 10);
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
            media_info_hvcc(mi, pk.data, pk.len);
        else
            media_info_avcc(mi, pk.data, pk.len);
        break;
    /* Enhanced SequenceStart: the record follows the 5-byte header. */
    case FLV_FOURCC_AV01: video_av1c(mi, body + 5, len - 5); break;
    case FLV_FOURCC_VP09: video_vpcc(mi, body + 5, len - 5); break;
    default: break;
    }
}

void media_info_video(media_info_t *mi, const uint8_t *body, size_t len)
{
    flv_video_info_t v;
    char buf[16];
    mi->has_video = 1;
    if (flv_video_inspect(body, len, &v) != 0 || (v.enhanced && v.fourcc == 0))
        return; /* too short, or an enhanced command or cut-off multitrack header */
    media_info_set_vcodec(mi, media_video_codec_name(&v, buf, sizeof buf));
    if (v.seq_header)
        video_seq_header(mi, body, len, &v);
}
