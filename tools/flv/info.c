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

#define FLV_MAX_LISTED 1000 /* gaps/jumps listed; all are counted */
#define FLV_CODEC_NAME_MAX 16

/* True for a video body that is a coded frame. */
static int is_coded_video(const flv_video_info_t *v)
{
    return !v->seq_header && !v->seq_end && !v->is_command;
}

/* ---- info --------------------------------------------------------------- */

typedef struct {
    uint32_t gap_ms;
    int json, list;
    unsigned long tags, vtags, atags, stags, otags;
    unsigned long vframes, aframes, keyframes;
    char vcodec[FLV_CODEC_NAME_MAX], acodec[FLV_CODEC_NAME_MAX];
    int have_vcodec, have_acodec;
    flv_meta_t meta;
    int have_meta;
    /* GOPs */
    unsigned long gops, gop_frames, leading_frames;
    uint32_t gop_key_ts;
    unsigned long min_gf, max_gf, sum_gf;
    uint32_t min_gms, max_gms;
    uint64_t sum_gms;
    uint32_t first_video_ts, last_video_ts; /* of coded frames */
    /* timestamps */
    int have_ts;
    uint32_t first_ts, last_ts;
    flvtool_ivl_t ivl[2]; /* 0 video, 1 audio */
    unsigned long gap_count, jump_count;
    cJSON *gaps, *jumps;
} info_t;

/* to - from, or 0 when the timestamps went backwards. */
static uint32_t span_ms(uint32_t from, uint32_t to)
{
    return to >= from ? to - from : 0;
}

static void gop_close(info_t *s, uint32_t ms)
{
    unsigned long f = s->gop_frames;
    if (s->gops == 0 || f < s->min_gf)
        s->min_gf = f;
    if (f > s->max_gf)
        s->max_gf = f;
    if (s->gops == 0 || ms < s->min_gms)
        s->min_gms = ms;
    if (ms > s->max_gms)
        s->max_gms = ms;
    s->sum_gf += f;
    s->sum_gms += ms;
    s->gops++;
}

static void info_video(info_t *s, const flv_tag_t *t)
{
    flv_video_info_t v;
    s->vtags++;
    if (flv_video_inspect(t->body, t->len, &v) != 0)
        return;
    if (!s->have_vcodec) {
        char buf[FLV_CODEC_NAME_MAX];
        snprintf(s->vcodec, sizeof s->vcodec, "%s", media_video_codec_name(&v, buf, sizeof buf));
        s->have_vcodec = 1;
    }
    if (!is_coded_video(&v))
        return;
    if (s->vframes++ == 0)
        s->first_video_ts = t->ts;
    if (v.keyframe) {
        s->keyframes++;
        if (s->keyframes > 1)
            gop_close(s, span_ms(s->gop_key_ts, t->ts));
        s->gop_key_ts = t->ts;
        s->gop_frames = 0;
    }
    if (s->keyframes == 0)
        s->leading_frames++;
    else
        s->gop_frames++;
    s->last_video_ts = t->ts;
}

static void info_audio(info_t *s, const flv_tag_t *t)
{
    flv_audio_info_t a;
    s->atags++;
    if (flv_audio_inspect(t->body, t->len, &a) != 0)
        return;
    if (!s->have_acodec) {
        char buf[FLV_CODEC_NAME_MAX];
        snprintf(s->acodec, sizeof s->acodec, "%s", media_audio_codec_name(&a, buf, sizeof buf));
        s->have_acodec = 1;
    }
    if (!a.seq_header)
        s->aframes++;
}

/* Records a gap or a backward jump of one stream. */
static void info_event(info_t *s, cJSON *list, const char *kind, const char *stream,
                       unsigned long index, uint64_t offset, uint32_t from, uint32_t to)
{
    int64_t delta = (int64_t)to - (int64_t)from;
    if (!s->json && cJSON_GetArraySize(list) < FLV_MAX_LISTED)
        printf("%s: %s tag #%lu at offset %" PRIu64 ": %u -> %u ms (%+" PRId64 ")\n", kind, stream,
               index, offset, from, to, delta);
    if (cJSON_GetArraySize(list) >= FLV_MAX_LISTED)
        return;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "stream", stream);
    cJSON_AddNumberToObject(e, "index", (double)index);
    cJSON_AddNumberToObject(e, "offset", (double)offset);
    cJSON_AddNumberToObject(e, "from_ms", from);
    cJSON_AddNumberToObject(e, "to_ms", to);
    cJSON_AddNumberToObject(e, "delta_ms", (double)delta);
    cJSON_AddItemToArray(list, e);
}

static void info_timing(info_t *s, const flv_tag_t *t, uint64_t off)
{
    int k = t->type == FLV_TAG_VIDEO ? 0 : 1;
    const char *name = k == 0 ? "video" : "audio";
    flvtool_ivl_t *iv = &s->ivl[k];
    if (iv->have && t->ts < iv->last) {
        s->jump_count++;
        info_event(s, s->jumps, "jump", name, s->tags - 1, off, iv->last, t->ts);
    } else if (iv->have && t->ts - iv->last > s->gap_ms) {
        s->gap_count++;
        info_event(s, s->gaps, "gap", name, s->tags - 1, off, iv->last, t->ts);
    }
    flvtool_ivl_add(iv, t->ts);
    if (!s->have_ts || t->ts < s->first_ts)
        s->first_ts = t->ts;
    if (!s->have_ts || t->ts > s->last_ts)
        s->last_ts = t->ts;
    s->have_ts = 1;
}

static void list_tag(const flv_tag_t *t, unsigned long index, uint64_t off)
{
    char buf[FLV_CODEC_NAME_MAX];
    printf("#%lu @%" PRIu64 " ", index, off);
    if (t->type == FLV_TAG_VIDEO) {
        flv_video_info_t v;
        int ok = flv_video_inspect(t->body, t->len, &v) == 0;
        printf("video ts=%u len=%u %s%s\n", t->ts, t->len,
               ok ? media_video_codec_name(&v, buf, sizeof buf) : "(malformed)",
               !ok            ? ""
               : v.seq_header ? " sequence-header"
               : v.seq_end    ? " end-of-sequence"
               : v.is_command ? " command"
               : v.keyframe   ? " key"
                              : " inter");
    } else if (t->type == FLV_TAG_AUDIO) {
        flv_audio_info_t a;
        int ok = flv_audio_inspect(t->body, t->len, &a) == 0;
        printf("audio ts=%u len=%u %s%s\n", t->ts, t->len,
               ok ? media_audio_codec_name(&a, buf, sizeof buf) : "(empty)",
               ok && a.seq_header ? " sequence-header" : "");
    } else if (t->type == FLV_TAG_SCRIPT) {
        printf("script ts=%u len=%u%s\n", t->ts, t->len,
               flv_is_onmetadata(t->body, t->len) ? " onMetaData" : "");
    } else {
        printf("type-%u ts=%u len=%u\n", t->type, t->ts, t->len);
    }
}

/* duration: the coded video frames' timestamp span plus one frame interval
 * (without video: all media timestamps plus one audio frame interval). */
static double info_duration(const info_t *s, uint32_t vivl, uint32_t aivl)
{
    if (s->vframes > 0)
        return (double)s->last_video_ts - (double)s->first_video_ts + vivl;
    if (!s->have_ts)
        return 0;
    return (double)(s->last_ts - s->first_ts) + aivl;
}

static void info_json(info_t *s)
{
    uint32_t vivl = flvtool_ivl_mode(&s->ivl[0]), aivl = flvtool_ivl_mode(&s->ivl[1]);
    cJSON *o = cJSON_CreateObject();
    if (s->have_vcodec)
        cJSON_AddStringToObject(o, "video_codec", s->vcodec);
    else
        cJSON_AddNullToObject(o, "video_codec");
    if (s->have_acodec)
        cJSON_AddStringToObject(o, "audio_codec", s->acodec);
    else
        cJSON_AddNullToObject(o, "audio_codec");
    tool_json_num_or_null(o, "width", s->meta.has_width, s->meta.width);
    tool_json_num_or_null(o, "height", s->meta.has_height, s->meta.height);
    tool_json_num_or_null(o, "framerate", s->meta.has_framerate, s->meta.framerate);
    cJSON_AddNumberToObject(o, "tags", (double)s->tags);
    cJSON_AddNumberToObject(o, "video_tags", (double)s->vtags);
    cJSON_AddNumberToObject(o, "audio_tags", (double)s->atags);
    cJSON_AddNumberToObject(o, "script_tags", (double)s->stags);
    cJSON_AddNumberToObject(o, "other_tags", (double)s->otags);
    cJSON_AddNumberToObject(o, "video_frames", (double)s->vframes);
    cJSON_AddNumberToObject(o, "audio_frames", (double)s->aframes);
    cJSON_AddNumberToObject(o, "keyframes", (double)s->keyframes);
    cJSON_AddNumberToObject(o, "frames_before_first_key", (double)s->leading_frames);
    cJSON *g = cJSON_AddObjectToObject(o, "gops");
    cJSON_AddNumberToObject(g, "count", (double)s->gops);
    tool_json_num_or_null(g, "min_frames", s->gops > 0, (double)s->min_gf);
    tool_json_num_or_null(g, "avg_frames", s->gops > 0,
                          s->gops ? (double)s->sum_gf / (double)s->gops : 0);
    tool_json_num_or_null(g, "max_frames", s->gops > 0, (double)s->max_gf);
    tool_json_num_or_null(g, "min_ms", s->gops > 0, s->min_gms);
    tool_json_num_or_null(g, "avg_ms", s->gops > 0,
                          s->gops ? (double)s->sum_gms / (double)s->gops : 0);
    tool_json_num_or_null(g, "max_ms", s->gops > 0, s->max_gms);
    tool_json_num_or_null(o, "video_interval_ms", vivl > 0, vivl);
    tool_json_num_or_null(o, "audio_interval_ms", aivl > 0, aivl);
    tool_json_num_or_null(o, "first_ts", s->have_ts, s->first_ts);
    tool_json_num_or_null(o, "last_ts", s->have_ts, s->last_ts);
    cJSON_AddNumberToObject(o, "duration_ms", info_duration(s, vivl, aivl));
    cJSON_AddNumberToObject(o, "gap_threshold_ms", s->gap_ms);
    cJSON_AddNumberToObject(o, "gap_count", (double)s->gap_count);
    cJSON_AddNumberToObject(o, "jump_count", (double)s->jump_count);
    cJSON_AddItemToObject(o, "gaps", s->gaps);
    cJSON_AddItemToObject(o, "jumps", s->jumps);
    s->gaps = s->jumps = NULL;
    if (tool_json_emit(stdout, o) != 0)
        fprintf(stderr, "weir-flv: cannot write the JSON report\n");
}

static void info_text(const info_t *s, const char *path)
{
    uint32_t vivl = flvtool_ivl_mode(&s->ivl[0]), aivl = flvtool_ivl_mode(&s->ivl[1]);
    printf("file: %s\n", path);
    printf("tags: %lu (video %lu, audio %lu, script %lu, other %lu)\n", s->tags, s->vtags, s->atags,
           s->stags, s->otags);
    if (s->have_vcodec) {
        printf("video: %s", s->vcodec);
        if (s->meta.has_width && s->meta.has_height)
            printf(" %.0fx%.0f", s->meta.width, s->meta.height);
        printf(", %lu frames, %lu key frames, frame interval %u ms\n", s->vframes, s->keyframes,
               vivl);
    } else {
        printf("video: none\n");
    }
    if (s->have_acodec)
        printf("audio: %s, %lu frames, frame interval %u ms\n", s->acodec, s->aframes, aivl);
    else
        printf("audio: none\n");
    if (s->gops > 0)
        printf("gops: %lu, frames min/avg/max %lu/%.1f/%lu, ms min/avg/max %u/%.1f/%u\n", s->gops,
               s->min_gf, (double)s->sum_gf / (double)s->gops, s->max_gf, s->min_gms,
               (double)s->sum_gms / (double)s->gops, s->max_gms);
    else
        printf("gops: 0\n");
    if (s->leading_frames)
        printf("frames before the first key frame: %lu\n", s->leading_frames);
    printf("duration: %.0f ms (timestamps %u..%u)\n", info_duration(s, vivl, aivl), s->first_ts,
           s->last_ts);
    printf("gaps over %u ms: %lu\njumps backwards: %lu\n", s->gap_ms, s->gap_count, s->jump_count);
}

int flvtool_info(const char *path, int json, int list, uint32_t gap_ms)
{
    char err[FLV_FILE_ERR_MAX];
    flv_file_t *f = flv_file_open(path, err, sizeof err);
    if (!f) {
        fprintf(stderr, "weir-flv: %s\n", err);
        return TOOL_EXIT_LOCAL;
    }
    info_t *s = calloc(1, sizeof *s);
    if (!s || !(s->gaps = cJSON_CreateArray()) || !(s->jumps = cJSON_CreateArray())) {
        fprintf(stderr, "weir-flv: out of memory\n");
        if (s) {
            cJSON_Delete(s->gaps);
            free(s);
        }
        flv_file_close(f);
        return TOOL_EXIT_LOCAL;
    }
    s->gap_ms = gap_ms;
    s->json = json;
    s->list = list && !json;
    flv_tag_t t;
    uint64_t off;
    int rc;
    while ((rc = flv_file_next(f, &t, &off)) == 1) {
        s->tags++;
        if (s->list)
            list_tag(&t, s->tags - 1, off);
        if (t.type == FLV_TAG_VIDEO) {
            info_video(s, &t);
            info_timing(s, &t, off);
        } else if (t.type == FLV_TAG_AUDIO) {
            info_audio(s, &t);
            info_timing(s, &t, off);
        } else if (t.type == FLV_TAG_SCRIPT) {
            s->stags++;
            flv_meta_t m;
            if (!s->have_meta && flv_meta_parse(t.body, t.len, &m) == 1) {
                s->meta = m;
                s->have_meta = 1;
            }
        } else {
            s->otags++;
        }
    }
    int status = 0;
    if (rc < 0) {
        fprintf(stderr, "weir-flv: %s\n", flv_file_error(f));
        status = TOOL_EXIT_LOCAL;
    } else {
        if (flv_file_truncated(f))
            fprintf(stderr, "weir-flv: %s: the last tag is truncated (%" PRIu64 " bytes)\n", path,
                    flv_file_truncated(f));
        if (s->keyframes > 0)
            gop_close(s, span_ms(s->gop_key_ts, s->last_video_ts) + flvtool_ivl_mode(&s->ivl[0]));
        if (json)
            info_json(s);
        else
            info_text(s, path);
    }
    cJSON_Delete(s->gaps);
    cJSON_Delete(s->jumps);
    free(s);
    flv_file_close(f);
    return status;
}
