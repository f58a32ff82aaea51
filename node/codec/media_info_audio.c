/* media_info: audio tags and records: AAC AudioSpecificConfig, MP3 frame
 * headers, OpusHead, legacy FLV audio headers (see media_info.c). */
#include <string.h>

#include "bitreader.h"
#include "flv.h"
#include "media_cfg.h"
#include "media_info.h"
#include "media_info_internal.h"

#define FOURCC_MP4A FLV_FOURCC('m', 'p', '4', 'a')
#define FOURCC_OPUS FLV_FOURCC('O', 'p', 'u', 's')
#define FOURCC_MP3 FLV_FOURCC('.', 'm', 'p', '3')

enum { APKT_SEQ_START = 0, APKT_CODED = 1 }; /* Enhanced RTMP audio packet types */

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
        media_info_set_str(dst, cap, "HE-AACv2");
        return;
    }
    if (a->sbr) {
        media_info_set_str(dst, cap, "HE-AAC");
        return;
    }
    switch (a->aot) {
    case 1: media_info_set_str(dst, cap, "Main"); break;
    case 2: media_info_set_str(dst, cap, "LC"); break;
    case 3: media_info_set_str(dst, cap, "SSR"); break;
    case 4: media_info_set_str(dst, cap, "LTP"); break;
    case 23: media_info_set_str(dst, cap, "LD"); break;
    case 39: media_info_set_str(dst, cap, "ELD"); break;
    default: snprintf(dst, cap, "AOT %u", a->aot); break;
    }
}

static void audio_asc(media_info_t *mi, const uint8_t *p, size_t len)
{
    asc_t a;
    if (asc_parse(p, len, &a) != 0)
        return;
    asc_profile_name(mi->aprofile, sizeof mi->aprofile, &a);
    media_info_audio_record(mi, a.rate, a.channels);
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
        media_info_audio_record(mi, rate, channels);
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
    media_info_audio_record(mi, 48000, p[9]);
}

/* Legacy sound formats (FLV 10.1 E.4.2.1); NULL for 9 (the extended
 * header) and the reserved or device-specific ones. */
static const char *const LEGACY_ACODECS[16] = {
    "pcm",   "adpcm", "mp3", "pcm",   "nellymoser", "nellymoser", "nellymoser", "g711a",
    "g711u", NULL,    "aac", "speex", NULL,         NULL,         "mp3",        NULL};

const char *media_info_legacy_acodec(int fmt)
{
    return fmt >= 0 && fmt < 16 ? LEGACY_ACODECS[fmt] : NULL;
}

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
    media_info_audio_record(mi, rate, channels);
}

static void audio_legacy(media_info_t *mi, const uint8_t *body, size_t len, int fmt)
{
    char buf[16];
    if (LEGACY_ACODECS[fmt]) {
        media_info_set_acodec(mi, LEGACY_ACODECS[fmt]);
    } else {
        snprintf(buf, sizeof buf, "codec-%d", fmt);
        media_info_set_acodec(mi, buf);
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
    media_info_set_acodec(mi, media_audio_codec_name(a, buf, sizeof buf));
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
