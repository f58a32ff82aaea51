/* media_cfg: see media_cfg.h. */
#include "media_cfg.h"

#include <stdio.h>
#include <string.h>

/* Legacy AVC/HEVC packet types and Enhanced RTMP video packet types. */
enum { AVC_SEQ_HEADER = 0, AVC_NALU = 1 };
enum { VPKT_SEQ_START = 0, VPKT_CODED = 1, VPKT_CODED_X = 3, VPKT_MULTITRACK = 6, VPKT_MODEX = 7 };
enum { APKT_SEQ_START = 0, APKT_CODED = 1, APKT_MULTITRACK = 5, APKT_MODEX = 7 };

#define FOURCC_MP4A FLV_FOURCC('m', 'p', '4', 'a')

static int is_key(int ft)
{
    return ft == 1 || ft == 4;
}

static int32_t rd_si24(const uint8_t *p)
{
    uint32_t v = rd_be24(p);
    return (v & 0x800000u) ? (int32_t)(v | 0xff000000u) : (int32_t)v;
}

static int video_parse_ex(const uint8_t *body, size_t len, media_video_pkt_t *out, const char **err)
{
    unsigned pt = body[0] & 0x0f;
    out->key = is_key((body[0] >> 4) & 7);
    if (pt == VPKT_MULTITRACK || pt == VPKT_MODEX) {
        *err = "Enhanced RTMP multitrack/ModEx video is not supported";
        return NODE_EINVAL;
    }
    if (((body[0] >> 4) & 7) == 5) {
        out->kind = MEDIA_PKT_OTHER; /* a video command */
        return 0;
    }
    if (len < 5) {
        *err = "video tag too short";
        return NODE_EPROTO;
    }
    uint32_t fourcc = rd_be32(body + 1);
    if (fourcc != FLV_FOURCC_AVC1 && fourcc != FLV_FOURCC_HVC1) {
        *err = "video codec is not H.264 or H.265";
        return NODE_EINVAL;
    }
    out->hevc = fourcc == FLV_FOURCC_HVC1;
    size_t off = 5;
    switch (pt) {
    case VPKT_SEQ_START: out->kind = MEDIA_PKT_CONFIG; break;
    case VPKT_CODED:
        if (len < 8) {
            *err = "video tag too short for its composition time";
            return NODE_EPROTO;
        }
        out->kind = MEDIA_PKT_FRAME;
        out->cts = rd_si24(body + 5);
        off = 8;
        break;
    case VPKT_CODED_X: out->kind = MEDIA_PKT_FRAME; break;
    default: out->kind = MEDIA_PKT_OTHER; break;
    }
    out->data = body + off;
    out->len = len - off;
    return 0;
}

int media_video_parse(const uint8_t *body, size_t len, media_video_pkt_t *out, const char **err)
{
    memset(out, 0, sizeof *out);
    if (len < 1) {
        *err = "empty video tag";
        return NODE_EPROTO;
    }
    if (body[0] & 0x80)
        return video_parse_ex(body, len, out, err);
    int codec = body[0] & 0x0f, ft = body[0] >> 4;
    if (codec != FLV_VCODEC_AVC && codec != FLV_VCODEC_HEVC) {
        *err = "video codec is not H.264 or H.265";
        return NODE_EINVAL;
    }
    out->hevc = codec == FLV_VCODEC_HEVC;
    out->key = is_key(ft);
    if (ft == 5) {
        out->kind = MEDIA_PKT_OTHER;
        return 0;
    }
    if (len < 5) {
        *err = "video tag too short";
        return NODE_EPROTO;
    }
    out->kind = body[1] == AVC_SEQ_HEADER ? MEDIA_PKT_CONFIG
                : body[1] == AVC_NALU     ? MEDIA_PKT_FRAME
                                          : MEDIA_PKT_OTHER;
    out->cts = rd_si24(body + 2);
    out->data = body + 5;
    out->len = len - 5;
    return 0;
}

int media_audio_parse(const uint8_t *body, size_t len, media_audio_pkt_t *out, const char **err)
{
    memset(out, 0, sizeof *out);
    if (len < 1) {
        *err = "empty audio tag";
        return NODE_EPROTO;
    }
    int fmt = body[0] >> 4;
    if (fmt == FLV_ACODEC_EX) {
        unsigned pt = body[0] & 0x0f;
        if (pt == APKT_MULTITRACK || pt == APKT_MODEX) {
            *err = "Enhanced RTMP multitrack/ModEx audio is not supported";
            return NODE_EINVAL;
        }
        if (len < 5) {
            *err = "audio tag too short";
            return NODE_EPROTO;
        }
        if (rd_be32(body + 1) != FOURCC_MP4A) {
            *err = "audio codec is not AAC";
            return NODE_EINVAL;
        }
        out->kind = pt == APKT_SEQ_START ? MEDIA_PKT_CONFIG
                    : pt == APKT_CODED   ? MEDIA_PKT_FRAME
                                         : MEDIA_PKT_OTHER;
        out->data = body + 5;
        out->len = len - 5;
        return 0;
    }
    if (fmt != FLV_ACODEC_AAC) {
        *err = "audio codec is not AAC";
        return NODE_EINVAL;
    }
    if (len < 2) {
        *err = "audio tag too short";
        return NODE_EPROTO;
    }
    out->kind = body[1] == 0 ? MEDIA_PKT_CONFIG : body[1] == 1 ? MEDIA_PKT_FRAME : MEDIA_PKT_OTHER;
    out->data = body + 2;
    out->len = len - 2;
    return 0;
}

/* Appends one parameter set of n bytes at p (already bounds-checked). */
static int add_set(media_vcfg_t *c, const uint8_t *p, size_t n, const char **err)
{
    if (n == 0) {
        *err = "empty parameter set in the configuration record";
        return NODE_EPROTO;
    }
    if (c->nsets == MEDIA_MAX_PARAM_SETS) {
        *err = "too many parameter sets in the configuration record";
        return NODE_EPROTO;
    }
    c->sets[c->nsets] = p;
    c->set_len[c->nsets] = n;
    c->nsets++;
    return 0;
}

/* Reads count (UI16 length, bytes) entries at *off. */
static int read_sets(media_vcfg_t *c, const uint8_t *rec, size_t len, size_t *off, unsigned count,
                     const char **err)
{
    for (unsigned i = 0; i < count; i++) {
        if (len - *off < 2) {
            *err = "configuration record truncated (parameter set length)";
            return NODE_EPROTO;
        }
        size_t n = rd_be16(rec + *off);
        *off += 2;
        if (len - *off < n) {
            *err = "configuration record truncated (parameter set)";
            return NODE_EPROTO;
        }
        int rc = add_set(c, rec + *off, n, err);
        if (rc != 0)
            return rc;
        *off += n;
    }
    return 0;
}

int media_avcc_parse(const uint8_t *rec, size_t len, media_vcfg_t *out, const char **err)
{
    memset(out, 0, sizeof *out);
    if (len < 6) {
        *err = "avcC too short";
        return NODE_EPROTO;
    }
    if (rec[0] != 1) {
        *err = "avcC: configurationVersion is not 1";
        return NODE_EPROTO;
    }
    out->nal_len_size = (rec[4] & 3) + 1;
    size_t off = 6;
    int rc = read_sets(out, rec, len, &off, rec[5] & 0x1f, err);
    if (rc != 0)
        return rc;
    if (off >= len) {
        *err = "avcC truncated (no PPS count)";
        return NODE_EPROTO;
    }
    unsigned npps = rec[off++];
    return read_sets(out, rec, len, &off, npps, err);
}

#define HVCC_FIXED_SIZE 23 /* through numOfArrays */

int media_hvcc_parse(const uint8_t *rec, size_t len, media_vcfg_t *out, const char **err)
{
    memset(out, 0, sizeof *out);
    if (len < HVCC_FIXED_SIZE) {
        *err = "hvcC too short";
        return NODE_EPROTO;
    }
    if (rec[0] != 1) {
        *err = "hvcC: configurationVersion is not 1";
        return NODE_EPROTO;
    }
    out->nal_len_size = (rec[21] & 3) + 1;
    unsigned narrays = rec[22];
    size_t off = HVCC_FIXED_SIZE;
    for (unsigned a = 0; a < narrays; a++) {
        if (len - off < 3) {
            *err = "hvcC truncated (NAL unit array header)";
            return NODE_EPROTO;
        }
        unsigned count = rd_be16(rec + off + 1);
        off += 3;
        int rc = read_sets(out, rec, len, &off, count, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int media_nal_type(const uint8_t *nal, int hevc)
{
    return hevc ? (nal[0] >> 1) & 0x3f : nal[0] & 0x1f;
}

int media_nal_is_param_set(int type, int hevc)
{
    return hevc ? type >= 32 && type <= 34 : type == 7 || type == 8;
}

void media_nal_iter_init(media_nal_iter_t *it, const uint8_t *data, size_t len, int len_size)
{
    it->p = data;
    it->left = len;
    it->len_size = len_size;
}

int media_nal_next(media_nal_iter_t *it, const uint8_t **nal, size_t *nal_len, const char **err)
{
    if (it->left == 0)
        return 0;
    if (it->left < (size_t)it->len_size) {
        *err = "NAL unit length field truncated";
        return NODE_EPROTO;
    }
    size_t n = 0;
    for (int i = 0; i < it->len_size; i++)
        n = (n << 8) | it->p[i];
    it->p += it->len_size;
    it->left -= (size_t)it->len_size;
    if (n == 0 || n > it->left) {
        *err = n == 0 ? "empty NAL unit" : "NAL unit length runs past the tag";
        return NODE_EPROTO;
    }
    *nal = it->p;
    *nal_len = n;
    it->p += n;
    it->left -= n;
    return 1;
}

/* MSB-first bit reader over a bounded buffer. */
typedef struct {
    const uint8_t *p;
    size_t len;
    size_t bit;
} bits_t;

static int bits_get(bits_t *b, int n, unsigned *v)
{
    if (b->bit + (size_t)n > b->len * 8)
        return -1;
    unsigned x = 0;
    for (int i = 0; i < n; i++, b->bit++)
        x = (x << 1) | ((b->p[b->bit >> 3] >> (7 - (b->bit & 7))) & 1);
    *v = x;
    return 0;
}

static int asc_object_type(bits_t *b, unsigned *aot)
{
    if (bits_get(b, 5, aot) != 0)
        return -1;
    if (*aot == 31) {
        unsigned ext;
        if (bits_get(b, 6, &ext) != 0)
            return -1;
        *aot = 32 + ext;
    }
    return 0;
}

static const unsigned AAC_RATES[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                       22050, 16000, 12000, 11025, 8000,  7350};

/* samplingFrequencyIndex, or an explicit 24-bit frequency after index 15. */
static int asc_freq_index(bits_t *b, unsigned *idx)
{
    if (bits_get(b, 4, idx) != 0)
        return -1;
    if (*idx != 15)
        return 0;
    unsigned hz;
    if (bits_get(b, 24, &hz) != 0)
        return -1;
    for (unsigned i = 0; i < 13; i++)
        if (AAC_RATES[i] == hz) {
            *idx = i;
            return 0;
        }
    *idx = 15;
    return 0;
}

int media_aac_asc_parse(const uint8_t *asc, size_t len, media_aac_cfg_t *out, const char **err)
{
    bits_t b = {asc, len, 0};
    unsigned aot, idx, chan;
    memset(out, 0, sizeof *out);
    if (asc_object_type(&b, &aot) != 0 || asc_freq_index(&b, &idx) != 0 ||
        bits_get(&b, 4, &chan) != 0) {
        *err = "AudioSpecificConfig truncated";
        return NODE_EPROTO;
    }
    if (aot == 5 || aot == 29) {
        /* Explicit SBR/PS: the extension rate, then the core object type;
         * the first index is the core rate. */
        unsigned ext_idx;
        if (asc_freq_index(&b, &ext_idx) != 0 || asc_object_type(&b, &aot) != 0) {
            *err = "AudioSpecificConfig truncated (SBR extension)";
            return NODE_EPROTO;
        }
    }
    if (aot < 1 || aot > 4) {
        *err = "AAC object type cannot be written as ADTS (only Main, LC, SSR, LTP)";
        return NODE_EINVAL;
    }
    if (idx > 12) {
        *err = "AAC sampling frequency cannot be written as ADTS";
        return NODE_EINVAL;
    }
    if (chan < 1 || chan > 7) {
        *err = "AAC channel configuration 0 (program config element) is not supported";
        return NODE_EINVAL;
    }
    out->object_type = (int)aot;
    out->freq_index = (int)idx;
    out->channels = (int)chan;
    return 0;
}

#define ADTS_MAX_FRAME 8191 /* 13-bit aac_frame_length */

int media_adts_header(const media_aac_cfg_t *cfg, size_t payload_len,
                      uint8_t out[MEDIA_ADTS_HEADER_SIZE])
{
    if (payload_len > ADTS_MAX_FRAME - MEDIA_ADTS_HEADER_SIZE)
        return NODE_EINVAL;
    unsigned flen = (unsigned)payload_len + MEDIA_ADTS_HEADER_SIZE;
    unsigned profile = (unsigned)cfg->object_type - 1;
    out[0] = 0xff;
    out[1] = 0xf1; /* MPEG-4, layer 0, no CRC */
    out[2] = (uint8_t)((profile << 6) | ((unsigned)cfg->freq_index << 2) |
                       (((unsigned)cfg->channels >> 2) & 1));
    out[3] = (uint8_t)((((unsigned)cfg->channels & 3) << 6) | (flen >> 11));
    out[4] = (uint8_t)((flen >> 3) & 0xff);
    out[5] = (uint8_t)(((flen & 7) << 5) | 0x1f); /* buffer fullness 0x7ff: VBR */
    out[6] = 0xfc;                                /* ... and one raw data block */
    return 0;
}

static const char *fourcc_name(uint32_t fourcc, char *buf, size_t buflen)
{
    char s[5];
    for (int i = 0; i < 4; i++) {
        char ch = (char)(fourcc >> (24 - 8 * i));
        s[i] = ch >= 0x20 && ch < 0x7f ? ch : '?';
    }
    s[4] = 0;
    snprintf(buf, buflen, "%s", s);
    return buf;
}

const char *media_video_codec_name(const flv_video_info_t *v, char *buf, size_t buflen)
{
    switch (v->fourcc) {
    case FLV_FOURCC_AVC1: return "h264";
    case FLV_FOURCC_HVC1: return "hevc";
    case FLV_FOURCC_AV01: return "av1";
    case FLV_FOURCC_VP09: return "vp9";
    case 0: break;
    default: return fourcc_name(v->fourcc, buf, buflen);
    }
    switch (v->codec_id) {
    case FLV_VCODEC_H263: return "h263";
    case 3: return "screen";
    case FLV_VCODEC_VP6: return "vp6";
    case 5: return "vp6a";
    case 6: return "screen2";
    default: snprintf(buf, buflen, "codec-%d", v->codec_id); return buf;
    }
}

const char *media_audio_codec_name(const flv_audio_info_t *a, char *buf, size_t buflen)
{
    if (a->sound_format == FLV_ACODEC_EX) {
        switch (a->fourcc) {
        case FOURCC_MP4A: return "aac";
        case FLV_FOURCC('O', 'p', 'u', 's'): return "opus";
        case FLV_FOURCC('f', 'L', 'a', 'C'): return "flac";
        case FLV_FOURCC('.', 'm', 'p', '3'): return "mp3";
        case FLV_FOURCC('a', 'c', '-', '3'): return "ac3";
        case FLV_FOURCC('e', 'c', '-', '3'): return "eac3";
        default: return fourcc_name(a->fourcc, buf, buflen);
        }
    }
    switch (a->sound_format) {
    case 0:
    case 3: return "pcm";
    case 1: return "adpcm";
    case FLV_ACODEC_MP3:
    case 14: return "mp3";
    case 4:
    case 5:
    case 6: return "nellymoser";
    case 7: return "pcm_alaw";
    case 8: return "pcm_mulaw";
    case FLV_ACODEC_AAC: return "aac";
    case 11: return "speex";
    default: snprintf(buf, buflen, "codec-%d", a->sound_format); return buf;
    }
}
