/* flv: FLV container writing, bounded incremental reading, and codec
 * inspection of audio/video tag bodies (see flv.h).
 *
 * Inspection reads only the tag header bytes at the front of a body: the
 * legacy VIDEODATA/AUDIODATA headers of the FLV spec (v10.1, E.4.2, E.4.3)
 * and the extended headers of Enhanced RTMP (veovera, v1 and v2), where bit
 * 0x80 of a video body's first byte (IsExHeader) or sound format 9 of an
 * audio body announces a packet type and a FourCC instead of a codec id.
 *
 * Multitrack and ModEx packets are not decoded track by track: their FourCC
 * is reported when the header names one (for ManyTracksManyCodecs that is
 * the first track's), a video one is a key frame when its frame type says
 * so, and neither is ever a sequence header or a sequence end. A single
 * cached sequence header cannot stand for several tracks, so such streams
 * rely on the GOP cache instead.
 *
 * The reader treats a file as the 9-byte header (plus any extra header bytes
 * its data offset announces) followed by (PreviousTagSize, tag) pairs, so a
 * tag is returned as soon as its body is complete. PreviousTagSize values are
 * read and ignored: many writers get them wrong, and the tag header alone
 * delimits the tag.
 */
#include "flv.h"

#include <stdlib.h>
#include <string.h>

/* Extra FLV header bytes (data offset beyond 9) the reader skips. */
#define FLV_MAX_HEADER_EXTRA 1024
/* Smallest tag buffer allocated, so small tags do not realloc each time. */
#define FLV_MIN_BUF 4096

/* Video frame types (legacy high nibble, enhanced bits 4-6). */
enum { VFRAME_KEY = 1, VFRAME_GENERATED_KEY = 4, VFRAME_COMMAND = 5 };
/* Legacy AVC/HEVC packet types (second byte). */
enum { AVC_SEQ_HEADER = 0, AVC_NALU = 1, AVC_END_OF_SEQ = 2 };
/* Enhanced RTMP video packet types. */
enum {
    VPKT_SEQ_START = 0,
    VPKT_CODED_FRAMES = 1,
    VPKT_SEQ_END = 2,
    VPKT_CODED_FRAMES_X = 3,
    VPKT_METADATA = 4,
    VPKT_MPEG2TS_SEQ_START = 5,
    VPKT_MULTITRACK = 6,
    VPKT_MODEX = 7
};
/* Enhanced RTMP audio packet types. */
enum {
    APKT_SEQ_START = 0,
    APKT_CODED_FRAMES = 1,
    APKT_SEQ_END = 2,
    APKT_MULTICHANNEL_CONFIG = 4,
    APKT_MULTITRACK = 5,
    APKT_MODEX = 7
};

static int is_key_frame_type(int ft)
{
    return ft == VFRAME_KEY || ft == VFRAME_GENERATED_KEY;
}

/* Finds the FourCC of an enhanced header whose first byte carries packet
 * type pt, walking ModEx prefixes (size UI8 + 1, or UI16 + 1 after 0xff;
 * data; then a byte whose low nibble is the next packet type) and a
 * Multitrack byte. Returns 0 when the body ends first, or when the resolved
 * header is a video command (it carries a command byte, not a FourCC). */
static uint32_t ex_fourcc(const uint8_t *body, size_t len, unsigned pt, unsigned pt_modex,
                          unsigned pt_multitrack, int command)
{
    size_t off = 1;
    while (pt == pt_modex) {
        if (off >= len)
            return 0;
        size_t n = (size_t)body[off++] + 1;
        if (n == 256) {
            if (len - off < 2)
                return 0;
            n = (size_t)rd_be16(body + off) + 1;
            off += 2;
        }
        if (len - off < n + 1)
            return 0;
        off += n;
        pt = body[off++] & 0x0f;
    }
    if (command && pt != VPKT_METADATA)
        return 0;
    if (pt == pt_multitrack) {
        if (off >= len)
            return 0;
        off++; /* multitrack type (high nibble) | packet type (low nibble) */
    }
    if (len - off < 4)
        return 0;
    return rd_be32(body + off);
}

static int video_fail(flv_video_info_t *out)
{
    memset(out, 0, sizeof *out);
    return NODE_EPROTO;
}

static int inspect_video_ex(const uint8_t *body, size_t len, flv_video_info_t *out)
{
    int ft = (body[0] >> 4) & 7;
    unsigned pt = body[0] & 0x0f;
    out->enhanced = 1;
    out->frame_type = ft;
    out->is_command = ft == VFRAME_COMMAND;
    if (pt == VPKT_MULTITRACK || pt == VPKT_MODEX) {
        if (len < 2)
            return video_fail(out);
        out->fourcc = ex_fourcc(body, len, pt, VPKT_MODEX, VPKT_MULTITRACK, out->is_command);
        out->keyframe = is_key_frame_type(ft);
        return 0;
    }
    if (out->is_command && pt != VPKT_METADATA) {
        /* The header is followed by a VideoCommand byte, no FourCC. */
        if (len < 2)
            return video_fail(out);
        return 0;
    }
    if (len < 5)
        return video_fail(out);
    out->fourcc = rd_be32(body + 1);
    switch (pt) {
    case VPKT_SEQ_START: out->seq_header = 1; break;
    case VPKT_SEQ_END: out->seq_end = 1; break;
    case VPKT_CODED_FRAMES:
    case VPKT_CODED_FRAMES_X: out->keyframe = is_key_frame_type(ft); break;
    default:
        /* Metadata, MPEG2TSSequenceStart and reserved types: no flags. */
        break;
    }
    return 0;
}

int flv_video_inspect(const uint8_t *body, size_t len, flv_video_info_t *out)
{
    memset(out, 0, sizeof *out);
    if (len < 1)
        return NODE_EPROTO;
    if (body[0] & 0x80)
        return inspect_video_ex(body, len, out);
    int ft = body[0] >> 4;
    int codec = body[0] & 0x0f;
    out->frame_type = ft;
    out->codec_id = codec;
    if (codec == FLV_VCODEC_AVC)
        out->fourcc = FLV_FOURCC_AVC1;
    else if (codec == FLV_VCODEC_HEVC)
        out->fourcc = FLV_FOURCC_HVC1;
    if (ft == VFRAME_COMMAND) {
        /* A one-byte command instead of video data. */
        if (len < 2)
            return video_fail(out);
        out->is_command = 1;
        return 0;
    }
    if (codec != FLV_VCODEC_AVC && codec != FLV_VCODEC_HEVC) {
        out->keyframe = is_key_frame_type(ft);
        return 0;
    }
    /* AVCPacketType UI8 and CompositionTime SI24 precede the data. */
    if (len < 5)
        return video_fail(out);
    switch (body[1]) {
    case AVC_SEQ_HEADER: out->seq_header = 1; break;
    case AVC_NALU: out->keyframe = is_key_frame_type(ft); break;
    case AVC_END_OF_SEQ: out->seq_end = 1; break;
    default: break;
    }
    return 0;
}

static int audio_fail(flv_audio_info_t *out)
{
    memset(out, 0, sizeof *out);
    return NODE_EPROTO;
}

int flv_audio_inspect(const uint8_t *body, size_t len, flv_audio_info_t *out)
{
    memset(out, 0, sizeof *out);
    /* An empty body is RTMP's "audio silence" message: nothing to tell. */
    if (len < 1)
        return NODE_EPROTO;
    int fmt = body[0] >> 4;
    out->sound_format = fmt;
    if (fmt == FLV_ACODEC_EX) {
        unsigned pt = body[0] & 0x0f;
        if (pt == APKT_MULTITRACK || pt == APKT_MODEX) {
            if (len < 2)
                return audio_fail(out);
            out->fourcc = ex_fourcc(body, len, pt, APKT_MODEX, APKT_MULTITRACK, 0);
            return 0;
        }
        if (len < 5)
            return audio_fail(out);
        out->fourcc = rd_be32(body + 1);
        out->seq_header = pt == APKT_SEQ_START;
        return 0;
    }
    if (fmt == FLV_ACODEC_AAC) {
        /* AACPacketType: 0 AudioSpecificConfig, 1 raw. */
        if (len < 2)
            return audio_fail(out);
        out->seq_header = body[1] == 0;
    }
    return 0;
}

size_t flv_write_file_header(uint8_t out[FLV_HEADER_SIZE + FLV_PREV_SIZE], int has_audio,
                             int has_video)
{
    out[0] = 'F';
    out[1] = 'L';
    out[2] = 'V';
    out[3] = 1;
    out[4] = (uint8_t)((has_audio ? 0x04 : 0) | (has_video ? 0x01 : 0));
    wr_be32(out + 5, FLV_HEADER_SIZE);
    wr_be32(out + FLV_HEADER_SIZE, 0);
    return FLV_HEADER_SIZE + FLV_PREV_SIZE;
}

void flv_write_tag_header(uint8_t out[FLV_TAG_HEADER_SIZE], uint8_t type, uint32_t body_len,
                          uint32_t ts)
{
    out[0] = type;
    wr_be24(out + 1, body_len & 0xffffffu);
    wr_be24(out + 4, ts & 0xffffffu);
    out[7] = (uint8_t)(ts >> 24);
    wr_be24(out + 8, 0);
}

void flv_write_prev_size(uint8_t out[FLV_PREV_SIZE], uint32_t body_len)
{
    wr_be32(out, FLV_TAG_HEADER_SIZE + body_len);
}

/* ---- reader ------------------------------------------------------------ */

typedef enum {
    ST_FILE_HDR,  /* the 9-byte file header */
    ST_HDR_EXTRA, /* header bytes beyond 9 (data offset), skipped */
    ST_PREV_SIZE, /* a PreviousTagSize (ignored) */
    ST_TAG_HDR,   /* an 11-byte tag header */
    ST_BODY,      /* tag body bytes into buf */
    ST_FAILED     /* an error was returned; the reader is dead */
} stage_t;

struct flv_reader {
    stage_t stage;
    uint32_t max_tag;
    int flags;                        /* file header flags, -1 until read */
    uint8_t hdr[FLV_TAG_HEADER_SIZE]; /* header bytes gathered so far */
    size_t have;
    uint32_t skip; /* ST_HDR_EXTRA: bytes left to skip */
    uint8_t type;  /* the tag being read */
    uint32_t ts;
    uint32_t len;
    uint32_t got; /* body bytes received */
    uint8_t *buf;
    uint32_t cap;
    parse_rc_t fail_rc;
    const char *fail_err;
};

static const uint8_t empty_body[1];

flv_reader_t *flv_reader_new(uint32_t max_tag)
{
    flv_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->stage = ST_FILE_HDR;
    r->max_tag = max_tag;
    r->flags = -1;
    return r;
}

void flv_reader_free(flv_reader_t *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}

int flv_reader_flags(const flv_reader_t *r)
{
    return r->flags;
}

static parse_rc_t reader_fail(flv_reader_t *r, parse_rc_t rc, const char *msg, const char **err)
{
    r->stage = ST_FAILED;
    r->fail_rc = rc;
    r->fail_err = msg;
    *err = msg;
    return rc;
}

/* Copies input into hdr until it holds need bytes. Returns 1 when full. */
static int gather(flv_reader_t *r, const uint8_t *src, size_t len, size_t *off, size_t need)
{
    size_t k = need - r->have;
    if (k > len - *off)
        k = len - *off;
    if (k == 0)
        return r->have == need;
    memcpy(r->hdr + r->have, src + *off, k);
    r->have += k;
    *off += k;
    return r->have == need;
}

/* Makes room for a body of r->len bytes (already checked against max_tag). */
static int reserve_body(flv_reader_t *r)
{
    if (r->len <= r->cap)
        return 0;
    uint32_t cap = r->cap ? r->cap : FLV_MIN_BUF;
    while (cap < r->len)
        cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
    if (cap > r->max_tag)
        cap = r->max_tag;
    uint8_t *nb = realloc(r->buf, cap);
    if (!nb)
        return -1;
    r->buf = nb;
    r->cap = cap;
    return 0;
}

static void emit_tag(flv_reader_t *r, flv_tag_t *tag)
{
    tag->type = r->type;
    tag->ts = r->ts;
    tag->len = r->len;
    tag->body = r->len ? r->buf : empty_body;
    r->stage = ST_PREV_SIZE;
    r->have = 0;
}

/* Consumes up to len bytes; returns PARSE_OK as soon as a tag body is
 * complete, so the bytes after it stay unconsumed. After an error the
 * reader keeps returning it and consumes nothing. */
parse_rc_t flv_reader_feed(flv_reader_t *r, const uint8_t *src, size_t len, size_t *used,
                           flv_tag_t *tag, const char **err)
{
    size_t off = 0;
    parse_rc_t rc = PARSE_NEED_MORE;
    *err = NULL;
    for (;;) {
        switch (r->stage) {
        case ST_FILE_HDR: {
            int full = gather(r, src, len, &off, FLV_HEADER_SIZE);
            size_t sig = r->have < 3 ? r->have : 3;
            if (memcmp(r->hdr, "FLV", sig) != 0) {
                rc = reader_fail(r, PARSE_ERR_PROTO, "flv: bad signature", err);
                goto out;
            }
            if (!full)
                goto out;
            uint32_t data_off = rd_be32(r->hdr + 5);
            if (data_off < FLV_HEADER_SIZE) {
                rc = reader_fail(r, PARSE_ERR_PROTO, "flv: bad header size", err);
                goto out;
            }
            if (data_off - FLV_HEADER_SIZE > FLV_MAX_HEADER_EXTRA) {
                rc = reader_fail(r, PARSE_ERR_TOO_BIG, "flv: header too big", err);
                goto out;
            }
            r->flags = r->hdr[4];
            r->skip = data_off - FLV_HEADER_SIZE;
            r->have = 0;
            r->stage = ST_HDR_EXTRA;
            break;
        }
        case ST_HDR_EXTRA: {
            size_t k = len - off < r->skip ? len - off : r->skip;
            off += k;
            r->skip -= (uint32_t)k;
            if (r->skip > 0)
                goto out;
            r->stage = ST_PREV_SIZE;
            break;
        }
        case ST_PREV_SIZE:
            if (!gather(r, src, len, &off, FLV_PREV_SIZE))
                goto out;
            r->have = 0;
            r->stage = ST_TAG_HDR;
            break;
        case ST_TAG_HDR:
            if (!gather(r, src, len, &off, FLV_TAG_HEADER_SIZE))
                goto out;
            /* Bits 7-6 are reserved and bit 5 is the filter (encryption)
             * flag: the type is the low 5 bits. */
            r->type = r->hdr[0] & 0x1f;
            r->len = rd_be24(r->hdr + 1);
            r->ts = rd_be24(r->hdr + 4) | ((uint32_t)r->hdr[7] << 24);
            r->have = 0;
            if (r->len > r->max_tag) {
                rc = reader_fail(r, PARSE_ERR_TOO_BIG, "flv: tag too big", err);
                goto out;
            }
            if (reserve_body(r) != 0) {
                rc = reader_fail(r, PARSE_ERR_TOO_BIG, "flv: out of memory for tag", err);
                goto out;
            }
            r->got = 0;
            if (r->len == 0) {
                emit_tag(r, tag);
                rc = PARSE_OK;
                goto out;
            }
            r->stage = ST_BODY;
            break;
        case ST_BODY: {
            size_t k = len - off;
            if (k > r->len - r->got)
                k = r->len - r->got;
            if (k > 0)
                memcpy(r->buf + r->got, src + off, k);
            r->got += (uint32_t)k;
            off += k;
            if (r->got < r->len)
                goto out;
            emit_tag(r, tag);
            rc = PARSE_OK;
            goto out;
        }
        case ST_FAILED:
            *err = r->fail_err;
            rc = r->fail_rc;
            goto out;
        }
    }
out:
    *used = off;
    return rc;
}
