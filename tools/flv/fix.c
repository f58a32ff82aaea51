#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flv_file.h"
#include "flvtool.h"
#include "media_cfg.h"
#include "tool_util.h"

#define FLV_FIX_MAX_TAGS (64u << 20) /* tags fix keeps timestamps of */

/* ---- fix ---------------------------------------------------------------- */

typedef struct {
    uint32_t gap_ms, jitter_ms;
    uint32_t *out_ts; /* per tag; FIX_DROP for a dropped onMetaData */
    size_t ntags, cap;
    uint8_t *types;
    flv_meta_t old_meta;
    int have_old_meta, has_audio, has_video;
    double videocodecid, audiocodecid;
    int have_vcodec, have_acodec;
    flvtool_ivl_t ivl[2];
    unsigned long discontinuities, clamped;
    uint32_t last_out;
} fix_t;

#define FIX_DROP UINT32_MAX

static int fix_push(fix_t *x, uint8_t type, uint32_t ts)
{
    if (x->ntags == x->cap) {
        if (x->cap >= FLV_FIX_MAX_TAGS)
            return -1;
        size_t cap = x->cap ? x->cap * 2 : 4096;
        uint32_t *nt = realloc(x->out_ts, cap * sizeof *nt);
        if (!nt)
            return -1;
        x->out_ts = nt;
        uint8_t *ty = realloc(x->types, cap);
        if (!ty)
            return -1;
        x->types = ty;
        x->cap = cap;
    }
    x->out_ts[x->ntags] = ts;
    x->types[x->ntags] = type;
    x->ntags++;
    return 0;
}

/* Pass 1: timestamps, codecs, intervals and the old metadata. */
static int fix_scan(fix_t *x, flv_file_t *f)
{
    flv_tag_t t;
    uint64_t off;
    int r;
    while ((r = flv_file_next(f, &t, &off)) == 1) {
        uint32_t ts = t.ts;
        if (t.type == FLV_TAG_SCRIPT && flv_is_onmetadata(t.body, t.len)) {
            if (!x->have_old_meta && flv_meta_parse(t.body, t.len, &x->old_meta) == 1)
                x->have_old_meta = 1;
            ts = FIX_DROP;
        } else if (t.type == FLV_TAG_VIDEO) {
            flv_video_info_t v;
            x->has_video = 1;
            if (!x->have_vcodec && flv_video_inspect(t.body, t.len, &v) == 0) {
                x->videocodecid = v.enhanced ? (double)v.fourcc : v.codec_id;
                x->have_vcodec = 1;
            }
            flvtool_ivl_add(&x->ivl[0], t.ts);
        } else if (t.type == FLV_TAG_AUDIO) {
            flv_audio_info_t a;
            x->has_audio = 1;
            if (!x->have_acodec && flv_audio_inspect(t.body, t.len, &a) == 0) {
                x->audiocodecid = a.fourcc ? (double)a.fourcc : a.sound_format;
                x->have_acodec = 1;
            }
            flvtool_ivl_add(&x->ivl[1], t.ts);
        }
        if (fix_push(x, t.type, ts) != 0) {
            fprintf(stderr, "weir-flv: too many tags or out of memory\n");
            return TOOL_EXIT_LOCAL;
        }
    }
    if (r < 0) {
        fprintf(stderr, "weir-flv: %s\n", flv_file_error(f));
        return TOOL_EXIT_LOCAL;
    }
    return 0;
}

/* Maps the input timestamps to output ones, in place. */
static void fix_retime(fix_t *x)
{
    uint32_t vivl = flvtool_ivl_mode(&x->ivl[0]), aivl = flvtool_ivl_mode(&x->ivl[1]);
    if (!vivl)
        vivl = aivl ? aivl : 40;
    if (!aivl)
        aivl = vivl;
    int have = 0;
    int64_t offset = 0, last_in = 0, last_out = 0;
    for (size_t i = 0; i < x->ntags; i++) {
        uint32_t in = x->out_ts[i];
        uint8_t type = x->types[i];
        if (in == FIX_DROP)
            continue;
        if (type != FLV_TAG_VIDEO && type != FLV_TAG_AUDIO) {
            x->out_ts[i] = (uint32_t)last_out;
            continue;
        }
        int64_t out;
        if (!have) {
            offset = -(int64_t)in;
            have = 1;
        } else {
            int64_t d = (int64_t)in - last_in;
            if (d > (int64_t)x->gap_ms || d < -(int64_t)x->jitter_ms) {
                offset = last_out + (type == FLV_TAG_VIDEO ? vivl : aivl) - (int64_t)in;
                x->discontinuities++;
            }
        }
        out = (int64_t)in + offset;
        if (out < last_out) {
            out = last_out;
            x->clamped++;
        }
        if (out > UINT32_MAX - 1)
            out = UINT32_MAX - 1;
        x->out_ts[i] = (uint32_t)out;
        last_in = in;
        last_out = out;
    }
    x->last_out = (uint32_t)last_out;
    x->old_meta.has_duration = 1;
    x->old_meta.duration = (double)(x->last_out + (x->has_video ? vivl : aivl)) / 1000.0;
    if (!x->old_meta.has_framerate && x->has_video) {
        x->old_meta.has_framerate = 1;
        x->old_meta.framerate = 1000.0 / vivl;
    }
}

/* Pass 2: the header, fresh metadata, then every tag but the old metadata. */
static int fix_write(fix_t *x, flv_file_t *f, FILE *out, const char *outname)
{
    flv_meta_t m = x->old_meta;
    m.has_videocodecid = x->have_vcodec;
    m.videocodecid = x->videocodecid;
    m.has_audiocodecid = x->have_acodec;
    m.audiocodecid = x->audiocodecid;
    amf0_buf_t b;
    amf0_buf_init(&b);
    if (flv_meta_encode(&m, "weir-flv fix", &b) != 0) {
        amf0_buf_free(&b);
        fprintf(stderr, "weir-flv: out of memory\n");
        return TOOL_EXIT_LOCAL;
    }
    int werr = flv_file_write_header(out, x->has_audio, x->has_video) ||
               flv_file_write_tag(out, FLV_TAG_SCRIPT, 0, b.data, (uint32_t)b.len);
    amf0_buf_free(&b);
    if (flv_file_rewind(f) != 0) {
        fprintf(stderr, "weir-flv: %s\n", flv_file_error(f));
        return TOOL_EXIT_LOCAL;
    }
    flv_tag_t t;
    uint64_t off;
    size_t i = 0;
    int r = 0;
    while (!werr && i < x->ntags && (r = flv_file_next(f, &t, &off)) == 1) {
        uint32_t ts = x->out_ts[i++];
        if (ts != FIX_DROP)
            werr = flv_file_write_tag(out, t.type, ts, t.body, t.len);
    }
    if (r < 0) {
        fprintf(stderr, "weir-flv: %s\n", flv_file_error(f));
        return TOOL_EXIT_LOCAL;
    }
    if (werr) {
        fprintf(stderr, "weir-flv: %s: %s\n", outname, strerror(errno));
        return TOOL_EXIT_LOCAL;
    }
    if (i != x->ntags) {
        fprintf(stderr, "weir-flv: the input changed while it was being read\n");
        return TOOL_EXIT_LOCAL;
    }
    return 0;
}

int flvtool_fix(const char *in, const char *outname, uint32_t gap_ms, uint32_t jitter_ms)
{
    char err[FLV_FILE_ERR_MAX];
    flv_file_t *f = flv_file_open(in, err, sizeof err);
    if (!f) {
        fprintf(stderr, "weir-flv: %s\n", err);
        return TOOL_EXIT_LOCAL;
    }
    fix_t *x = calloc(1, sizeof *x);
    if (!x) {
        fprintf(stderr, "weir-flv: out of memory\n");
        flv_file_close(f);
        return TOOL_EXIT_LOCAL;
    }
    x->gap_ms = gap_ms;
    x->jitter_ms = jitter_ms;
    int rc = fix_scan(x, f);
    if (rc == 0 && x->ntags == 0) {
        fprintf(stderr, "weir-flv: %s: no FLV tags\n", in);
        rc = TOOL_EXIT_LOCAL;
    }
    FILE *out = NULL;
    if (rc == 0 && !(out = fopen(outname, "wb"))) {
        fprintf(stderr, "weir-flv: %s: %s\n", outname, strerror(errno));
        rc = TOOL_EXIT_LOCAL;
    }
    if (rc == 0) {
        fix_retime(x);
        rc = fix_write(x, f, out, outname);
    }
    if (out && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "weir-flv: %s: %s\n", outname, strerror(errno));
        rc = TOOL_EXIT_LOCAL;
    }
    if (rc == 0)
        printf("fixed: %zu tags, %lu discontinuities closed, %lu timestamps clamped, "
               "duration %.3f s -> %s\n",
               x->ntags, x->discontinuities, x->clamped, x->old_meta.duration, outname);
    free(x->out_ts);
    free(x->types);
    free(x);
    flv_file_close(f);
    return rc;
}
