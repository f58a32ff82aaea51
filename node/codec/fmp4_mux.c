/* fmp4_mux: tracks and samples from FLV tag bodies (see fmp4_mux.h).
 * The init segment is written in fmp4_mux_init.c, fragments in
 * fmp4_mux_frag.c.
 *
 * Bodies are read with the repo's FLV parsers: media_video_parse /
 * media_audio_parse (H.264, H.265, AAC; legacy and Enhanced RTMP),
 * flv_video_inspect (AV1); records are checked with media_avcc_parse /
 * media_hvcc_parse, and width, height, sample rate and channels come from
 * media_info, which reads the SPS, the AV1 sequence header and the
 * AudioSpecificConfig. */
#include "fmp4_mux.h"

#include <string.h>

#include "common.h"
#include "flv.h"
#include "media_cfg.h"
#include "media_info.h"

#define FMP4_DEFAULT_FPS 25
#define FMP4_AAC_FRAME 1024 /* samples per AAC frame (HE-AAC: twice, at the output rate) */

enum { EX_PKT_CODED = 1, EX_PKT_CODED_X = 3 };
enum { AV1_OBU_TEMPORAL_DELIMITER = 2 };

static void track_clear(fmp4_track_t *t, fmp4_codec_t codec, uint32_t id)
{
    memset(t, 0, sizeof *t);
    t->codec = codec;
    t->id = id;
}

static int set_record(fmp4_track_t *t, const uint8_t *rec, size_t len, const char **err)
{
    if (len == 0) {
        *err = "decoder configuration record is empty";
        return NODE_EPROTO;
    }
    if (len > FMP4_MAX_RECORD) {
        *err = "decoder configuration record over FMP4_MAX_RECORD";
        return NODE_ELIMIT;
    }
    t->record = rec;
    t->record_len = len;
    return 0;
}

/* Width and height as media_info reads them from the record's SPS (or the
 * AV1 sequence header), and the video timescale. */
static void video_finish(fmp4_track_t *t, const uint8_t *body, size_t len)
{
    media_info_t mi;
    media_info_init(&mi);
    media_info_video(&mi, body, len);
    t->width = (uint32_t)mi.width;
    t->height = (uint32_t)mi.height;
    t->timescale = FMP4_VIDEO_TIMESCALE;
    t->default_duration = FMP4_VIDEO_TIMESCALE / FMP4_DEFAULT_FPS;
}

static int track_av1(fmp4_track_t *t, const uint8_t *body, size_t len, const char **err)
{
    /* SequenceStart: the AV1CodecConfigurationRecord after the 5-byte
     * header: marker 1 and version 1 (0x81), then 3 more bytes. */
    if (len < 9 || body[5] != 0x81) {
        *err = "AV1 sequence start has no av1C record";
        return NODE_EPROTO;
    }
    return set_record(t, body + 5, len - 5, err);
}

int fmp4_mux_track_video(fmp4_track_t *t, uint32_t id, const uint8_t *body, size_t len,
                         const char **err)
{
    flv_video_info_t v;
    track_clear(t, FMP4_H264, id);
    if (flv_video_inspect(body, len, &v) != 0 || !v.seq_header) {
        *err = "not a video sequence header";
        return NODE_EINVAL;
    }
    int rc;
    if (v.fourcc == FLV_FOURCC_AV01) {
        t->codec = FMP4_AV1;
        rc = track_av1(t, body, len, err);
    } else {
        media_video_pkt_t pk;
        media_vcfg_t cfg;
        rc = media_video_parse(body, len, &pk, err);
        if (rc == 0 && pk.kind != MEDIA_PKT_CONFIG) {
            *err = "not a video sequence header";
            rc = NODE_EINVAL;
        }
        if (rc == 0) {
            t->codec = pk.hevc ? FMP4_H265 : FMP4_H264;
            rc = pk.hevc ? media_hvcc_parse(pk.data, pk.len, &cfg, err)
                         : media_avcc_parse(pk.data, pk.len, &cfg, err);
        }
        if (rc == 0)
            rc = set_record(t, pk.data, pk.len, err);
    }
    if (rc == 0)
        video_finish(t, body, len);
    return rc;
}

int fmp4_mux_track_audio(fmp4_track_t *t, uint32_t id, const uint8_t *body, size_t len,
                         const char **err)
{
    media_audio_pkt_t pk;
    track_clear(t, FMP4_AAC, id);
    int rc = media_audio_parse(body, len, &pk, err);
    if (rc != 0)
        return rc;
    if (pk.kind != MEDIA_PKT_CONFIG) {
        *err = "not an AAC sequence header";
        return NODE_EINVAL;
    }
    media_info_t mi;
    media_info_init(&mi);
    media_info_audio(&mi, body, len);
    if (!mi.audio_from_record || mi.sample_rate <= 0 ||
        (uint32_t)mi.sample_rate > FMP4_MAX_TIMESCALE) {
        *err = "AudioSpecificConfig malformed (no sample rate, or over 1 MHz)";
        return NODE_EPROTO;
    }
    rc = set_record(t, pk.data, pk.len, err);
    if (rc != 0)
        return rc;
    t->sample_rate = (uint32_t)mi.sample_rate;
    t->channels = mi.channels > 0 ? (uint32_t)mi.channels : 2;
    t->timescale = t->sample_rate;
    t->default_duration =
        strncmp(mi.aprofile, "HE-AAC", 6) == 0 ? 2 * FMP4_AAC_FRAME : FMP4_AAC_FRAME;
    return 0;
}

/* Bytes of a leading temporal delimiter OBU (AV1 5.3: header, optional
 * extension byte, leb128 size), or 0. MP4 samples carry none (AV1-ISOBMFF
 * 2.4); it is always first, so leaving it out is a pointer move. */
static size_t av1_leading_td(const uint8_t *p, size_t len)
{
    if (len < 1 || ((p[0] >> 3) & 0x0f) != AV1_OBU_TEMPORAL_DELIMITER || !(p[0] & 0x02))
        return 0;
    size_t off = (p[0] & 0x04) ? 2 : 1;
    uint64_t size = 0;
    for (unsigned i = 0; i < 8; i++) {
        if (off >= len)
            return 0;
        uint8_t b = p[off++];
        size |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            return size <= len - off ? off + (size_t)size : 0;
    }
    return 0;
}

static int sample_av1(const uint8_t *body, size_t len, fmp4_sample_t *out)
{
    flv_video_info_t v;
    if (flv_video_inspect(body, len, &v) != 0)
        return NODE_EPROTO;
    if (v.fourcc != FLV_FOURCC_AV01)
        return NODE_EINVAL;
    unsigned pt = body[0] & 0x0f;
    if (v.is_command || (pt != EX_PKT_CODED && pt != EX_PKT_CODED_X))
        return 1;
    size_t td = av1_leading_td(body + 5, len - 5);
    out->data = body + 5 + td;
    out->len = len - 5 - td;
    out->key = v.keyframe;
    return out->len > 0 ? 0 : 1;
}

int fmp4_mux_sample_video(const fmp4_track_t *t, const uint8_t *body, size_t len, int64_t dts_ms,
                          fmp4_sample_t *out)
{
    memset(out, 0, sizeof *out);
    out->dts_ms = dts_ms;
    if (t->codec == FMP4_AV1)
        return sample_av1(body, len, out);
    media_video_pkt_t pk;
    const char *err;
    int rc = media_video_parse(body, len, &pk, &err);
    if (rc != 0)
        return rc;
    if ((t->codec == FMP4_H265) != (pk.hevc != 0) || t->codec == FMP4_AAC)
        return NODE_EINVAL;
    if (pk.kind != MEDIA_PKT_FRAME || pk.len == 0)
        return 1;
    out->data = pk.data;
    out->len = pk.len;
    out->cts_ms = pk.cts;
    out->key = pk.key;
    return 0;
}

int fmp4_mux_sample_audio(const fmp4_track_t *t, const uint8_t *body, size_t len, int64_t dts_ms,
                          fmp4_sample_t *out)
{
    memset(out, 0, sizeof *out);
    out->dts_ms = dts_ms;
    if (t->codec != FMP4_AAC)
        return NODE_EINVAL;
    media_audio_pkt_t pk;
    const char *err;
    int rc = media_audio_parse(body, len, &pk, &err);
    if (rc != 0)
        return rc;
    if (pk.kind != MEDIA_PKT_FRAME || pk.len == 0)
        return 1;
    out->data = pk.data;
    out->len = pk.len;
    out->key = 1;
    return 0;
}
