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
 *
 * The parts live in media_info_video.c, media_info_sps.c and
 * media_info_audio.c (media_info_internal.h); this file has the fields they
 * share and onMetaData.
 */
#include "media_info.h"

#include <stdio.h>
#include <string.h>

#include "amf0.h"
#include "flv.h"
#include "media_cfg.h"
#include "media_info_internal.h"

#define MI_MAX_RATE 768000 /* largest audio sample rate believed */
#define MI_MAX_CHANNELS 64
#define MI_MAX_FPS 1000.0

/* ---- fields ------------------------------------------------------------- */

/* "3.1", or "4" when the minor number is 0. */
void media_info_set_level(char *dst, size_t cap, unsigned major, unsigned minor)
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

void media_info_set_vcodec(media_info_t *mi, const char *name)
{
    if (strcmp(mi->vcodec, name) == 0)
        return;
    if (mi->vcodec[0])
        video_forget(mi);
    media_info_set_str(mi->vcodec, sizeof mi->vcodec, name);
}

void media_info_set_acodec(media_info_t *mi, const char *name)
{
    if (strcmp(mi->acodec, name) == 0)
        return;
    if (mi->acodec[0])
        audio_forget(mi);
    media_info_set_str(mi->acodec, sizeof mi->acodec, name);
}

void media_info_video_size(media_info_t *mi, unsigned w, unsigned h)
{
    mi->width = (int)w;
    mi->height = (int)h;
    mi->video_from_record = 1;
}

void media_info_audio_record(media_info_t *mi, int rate, int channels)
{
    mi->sample_rate = rate;
    mi->channels = channels;
    mi->audio_from_record = 1;
}

void media_info_init(media_info_t *mi)
{
    memset(mi, 0, sizeof *mi);
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
        media_info_set_str(mi->vcodec, sizeof mi->vcodec, name);
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
        const char *legacy = media_info_legacy_acodec(id);
        if (legacy)
            media_info_set_str(mi->acodec, sizeof mi->acodec, legacy);
        return;
    }
    ai.sound_format = FLV_ACODEC_EX;
    const char *name = media_audio_codec_name(&ai, buf, sizeof buf);
    if (name != buf)
        media_info_set_str(mi->acodec, sizeof mi->acodec, name);
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
