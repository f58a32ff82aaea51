/* weir-flv: FLV file inspection and repair with the node's FLV codec.
 *   info     tags, codecs, GOPs, timestamp gaps and backward jumps;
 *   extract  H.264/H.265 as Annex B and AAC as ADTS;
 *   fix      timestamps from zero and monotonic, fresh onMetaData.
 * Codec payload parsing is in node/codec/media_cfg.c, file reading and
 * writing in tools/common/flv_file.c. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flv_file.h"
#include "media_cfg.h"
#include "tool_util.h"

#define FLV_DEFAULT_GAP_MS 1000
#define FLV_DEFAULT_JITTER_MS 500
#define FLV_MAX_LISTED 1000          /* gaps/jumps listed; all are counted */
#define FLV_IVL_MAX 1000             /* frame intervals considered, ms */
#define FLV_FIX_MAX_TAGS (64u << 20) /* tags fix keeps timestamps of */
#define FLV_CODEC_NAME_MAX 16

static void usage(FILE *out)
{
    fprintf(out,
            "usage: weir-flv info FILE.flv [--json] [--tags] [--gap MS]\n"
            "       weir-flv extract FILE.flv [--video OUT.h264|OUT.h265] [--audio OUT.aac]\n"
            "       weir-flv fix IN.flv OUT.flv [--gap MS] [--jitter MS]\n"
            "\n"
            "info     summarizes the file: tags per type, video and audio codecs (H.264,\n"
            "         H.265 legacy and Enhanced RTMP FourCCs, AAC, ...), width/height\n"
            "         from onMetaData, frames, key frames, GOPs (count, min/avg/max in\n"
            "         frames and ms), duration (video timestamp span plus one frame\n"
            "         interval), timestamp gaps over --gap ms (default %d) and backward\n"
            "         jumps within the video or the audio, with tag index and byte offset.\n"
            "         --tags lists every tag first; --json prints one JSON object:\n"
            "         video_codec, audio_codec, width, height, tags, video_tags,\n"
            "         audio_tags, script_tags, video_frames, audio_frames, keyframes,\n"
            "         gops {count, min_frames, avg_frames, max_frames, min_ms, avg_ms,\n"
            "         max_ms}, video_interval_ms, audio_interval_ms, first_ts, last_ts,\n"
            "         duration_ms, gaps [...], jumps [...] (each {stream, index, offset,\n"
            "         from_ms, to_ms, delta_ms}), gap_count, jump_count.\n"
            "extract  writes the video as an Annex B elementary stream (parameter sets\n"
            "         from the sequence header before every key frame that lacks them)\n"
            "         and AAC as ADTS. At least one of --video/--audio.\n"
            "fix      rewrites timestamps to start at 0 and never decrease: a jump\n"
            "         forward over --gap ms (default %d) or backward over --jitter ms\n"
            "         (default %d) is closed to one frame interval; smaller backward\n"
            "         steps are clamped. Tag order is kept; the old onMetaData is\n"
            "         replaced by a fresh one first (duration, width/height, framerate,\n"
            "         videocodecid, audiocodecid).\n"
            "\n"
            "Exit status: 0 success; 1 file error (missing, not FLV, corrupt, unsupported\n"
            "codec for extract, write error); 2 usage error.\n",
            FLV_DEFAULT_GAP_MS, FLV_DEFAULT_GAP_MS, FLV_DEFAULT_JITTER_MS);
}

/* ---- frame intervals ---------------------------------------------------- */

/* The most common positive timestamp step of one stream (bounded memory). */
typedef struct {
    uint32_t hist[FLV_IVL_MAX + 1];
    int have;
    uint32_t last;
} ivl_t;

static void ivl_add(ivl_t *s, uint32_t ts)
{
    if (s->have && ts > s->last && ts - s->last <= FLV_IVL_MAX)
        s->hist[ts - s->last]++;
    s->last = ts;
    s->have = 1;
}

static uint32_t ivl_mode(const ivl_t *s)
{
    uint32_t best = 0;
    for (uint32_t d = 1; d <= FLV_IVL_MAX; d++)
        if (s->hist[d] > s->hist[best])
            best = d;
    return s->hist[best] ? best : 0;
}

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
    ivl_t ivl[2]; /* 0 video, 1 audio */
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
    ivl_t *iv = &s->ivl[k];
    if (iv->have && t->ts < iv->last) {
        s->jump_count++;
        info_event(s, s->jumps, "jump", name, s->tags - 1, off, iv->last, t->ts);
    } else if (iv->have && t->ts - iv->last > s->gap_ms) {
        s->gap_count++;
        info_event(s, s->gaps, "gap", name, s->tags - 1, off, iv->last, t->ts);
    }
    ivl_add(iv, t->ts);
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
    uint32_t vivl = ivl_mode(&s->ivl[0]), aivl = ivl_mode(&s->ivl[1]);
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
    uint32_t vivl = ivl_mode(&s->ivl[0]), aivl = ivl_mode(&s->ivl[1]);
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

static int cmd_info(const char *path, int json, int list, uint32_t gap_ms)
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
            gop_close(s, span_ms(s->gop_key_ts, s->last_video_ts) + ivl_mode(&s->ivl[0]));
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

/* ---- extract ------------------------------------------------------------ */

typedef struct {
    const char *path;
    FILE *vout, *aout;
    const char *vname, *aname;
    uint8_t *vrec; /* copy of the last video configuration record */
    size_t vrec_len;
    media_vcfg_t vcfg;
    int have_vcfg, hevc;
    media_aac_cfg_t acfg;
    int have_acfg;
    unsigned long vframes, keyframes, aframes, vskipped, askipped;
} extract_t;

static int ex_fail(const extract_t *x, uint64_t off, const char *what, const char *err)
{
    fprintf(stderr, "weir-flv: %s: offset %" PRIu64 ": %s: %s\n", x->path, off, what, err);
    return TOOL_EXIT_LOCAL;
}

static int ex_write(FILE *out, const char *name, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, out) != n) {
        fprintf(stderr, "weir-flv: %s: %s\n", name, strerror(errno));
        return TOOL_EXIT_LOCAL;
    }
    return 0;
}

static const uint8_t START_CODE[4] = {0, 0, 0, 1};

static int ex_video_config(extract_t *x, const media_video_pkt_t *pk, uint64_t off)
{
    uint8_t *copy = malloc(pk->len ? pk->len : 1);
    if (!copy) {
        fprintf(stderr, "weir-flv: out of memory\n");
        return TOOL_EXIT_LOCAL;
    }
    memcpy(copy, pk->data, pk->len);
    media_vcfg_t cfg;
    const char *err = NULL;
    int rc = pk->hevc ? media_hvcc_parse(copy, pk->len, &cfg, &err)
                      : media_avcc_parse(copy, pk->len, &cfg, &err);
    if (rc != 0) {
        free(copy);
        return ex_fail(x, off, "video sequence header", err);
    }
    free(x->vrec);
    x->vrec = copy;
    x->vrec_len = pk->len;
    x->vcfg = cfg;
    x->have_vcfg = 1;
    x->hevc = pk->hevc;
    return 0;
}

static int ex_video_frame(extract_t *x, const media_video_pkt_t *pk, uint64_t off)
{
    if (!x->have_vcfg) {
        x->vskipped++; /* no NAL length size before the sequence header */
        return 0;
    }
    media_nal_iter_t it;
    const uint8_t *nal;
    size_t n;
    const char *err = NULL;
    int r, has_ps = 0;
    media_nal_iter_init(&it, pk->data, pk->len, x->vcfg.nal_len_size);
    while ((r = media_nal_next(&it, &nal, &n, &err)) == 1)
        has_ps |= media_nal_is_param_set(media_nal_type(nal, x->hevc), x->hevc);
    if (r < 0)
        return ex_fail(x, off, "video frame", err);
    if (pk->key && !has_ps)
        for (size_t i = 0; i < x->vcfg.nsets; i++)
            if (ex_write(x->vout, x->vname, START_CODE, 4) ||
                ex_write(x->vout, x->vname, x->vcfg.sets[i], x->vcfg.set_len[i]))
                return TOOL_EXIT_LOCAL;
    media_nal_iter_init(&it, pk->data, pk->len, x->vcfg.nal_len_size);
    while (media_nal_next(&it, &nal, &n, &err) == 1)
        if (ex_write(x->vout, x->vname, START_CODE, 4) || ex_write(x->vout, x->vname, nal, n))
            return TOOL_EXIT_LOCAL;
    x->vframes++;
    x->keyframes += pk->key != 0;
    return 0;
}

static int ex_video(extract_t *x, const flv_tag_t *t, uint64_t off)
{
    media_video_pkt_t pk;
    const char *err = NULL;
    int rc = media_video_parse(t->body, t->len, &pk, &err);
    if (rc != 0)
        return ex_fail(x, off, "video tag", err);
    if (pk.kind == MEDIA_PKT_CONFIG)
        return ex_video_config(x, &pk, off);
    if (pk.kind == MEDIA_PKT_FRAME)
        return ex_video_frame(x, &pk, off);
    return 0;
}

static int ex_audio(extract_t *x, const flv_tag_t *t, uint64_t off)
{
    media_audio_pkt_t pk;
    const char *err = NULL;
    int rc = media_audio_parse(t->body, t->len, &pk, &err);
    if (rc != 0)
        return ex_fail(x, off, "audio tag", err);
    if (pk.kind == MEDIA_PKT_CONFIG) {
        if (media_aac_asc_parse(pk.data, pk.len, &x->acfg, &err) != 0)
            return ex_fail(x, off, "AAC sequence header", err);
        x->have_acfg = 1;
        return 0;
    }
    if (pk.kind != MEDIA_PKT_FRAME)
        return 0;
    if (!x->have_acfg) {
        x->askipped++;
        return 0;
    }
    uint8_t hdr[MEDIA_ADTS_HEADER_SIZE];
    if (media_adts_header(&x->acfg, pk.len, hdr) != 0)
        return ex_fail(x, off, "AAC frame", "too long for ADTS");
    if (ex_write(x->aout, x->aname, hdr, sizeof hdr) ||
        ex_write(x->aout, x->aname, pk.data, pk.len))
        return TOOL_EXIT_LOCAL;
    x->aframes++;
    return 0;
}

static int ex_close(FILE *f, const char *name, int rc)
{
    if (f && fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "weir-flv: %s: %s\n", name, strerror(errno));
        return TOOL_EXIT_LOCAL;
    }
    return rc;
}

static int cmd_extract(const char *path, const char *vname, const char *aname)
{
    extract_t x;
    memset(&x, 0, sizeof x);
    x.path = path;
    x.vname = vname;
    x.aname = aname;
    char err[FLV_FILE_ERR_MAX];
    flv_file_t *f = flv_file_open(path, err, sizeof err);
    if (!f) {
        fprintf(stderr, "weir-flv: %s\n", err);
        return TOOL_EXIT_LOCAL;
    }
    int rc = 0;
    if ((vname && !(x.vout = fopen(vname, "wb"))) || (aname && !(x.aout = fopen(aname, "wb")))) {
        fprintf(stderr, "weir-flv: %s: %s\n", vname && !x.vout ? vname : aname, strerror(errno));
        rc = TOOL_EXIT_LOCAL;
    }
    flv_tag_t t;
    uint64_t off;
    int r = 0;
    while (rc == 0 && (r = flv_file_next(f, &t, &off)) == 1) {
        if (t.type == FLV_TAG_VIDEO && x.vout)
            rc = ex_video(&x, &t, off);
        else if (t.type == FLV_TAG_AUDIO && x.aout)
            rc = ex_audio(&x, &t, off);
    }
    if (rc == 0 && r < 0) {
        fprintf(stderr, "weir-flv: %s\n", flv_file_error(f));
        rc = TOOL_EXIT_LOCAL;
    }
    rc = ex_close(x.vout, vname, rc);
    rc = ex_close(x.aout, aname, rc);
    if (rc == 0 && vname && x.vframes == 0) {
        fprintf(stderr, "weir-flv: %s: no H.264/H.265 frames after a sequence header\n", path);
        rc = TOOL_EXIT_LOCAL;
    }
    if (rc == 0 && aname && x.aframes == 0) {
        fprintf(stderr, "weir-flv: %s: no AAC frames after a sequence header\n", path);
        rc = TOOL_EXIT_LOCAL;
    }
    if (rc == 0 && vname)
        printf("video: %s, %lu frames (%lu key)%s -> %s\n", x.hevc ? "hevc" : "h264", x.vframes,
               x.keyframes, x.vskipped ? ", frames before the sequence header skipped" : "", vname);
    if (rc == 0 && aname)
        printf("audio: aac, %lu frames%s -> %s\n", x.aframes,
               x.askipped ? ", frames before the sequence header skipped" : "", aname);
    free(x.vrec);
    flv_file_close(f);
    return rc;
}

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
    ivl_t ivl[2];
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
            ivl_add(&x->ivl[0], t.ts);
        } else if (t.type == FLV_TAG_AUDIO) {
            flv_audio_info_t a;
            x->has_audio = 1;
            if (!x->have_acodec && flv_audio_inspect(t.body, t.len, &a) == 0) {
                x->audiocodecid = a.fourcc ? (double)a.fourcc : a.sound_format;
                x->have_acodec = 1;
            }
            ivl_add(&x->ivl[1], t.ts);
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
    uint32_t vivl = ivl_mode(&x->ivl[0]), aivl = ivl_mode(&x->ivl[1]);
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

static int cmd_fix(const char *in, const char *outname, uint32_t gap_ms, uint32_t jitter_ms)
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

/* ---- main --------------------------------------------------------------- */

static int parse_ms(const char *opt, const char *arg, uint32_t *out)
{
    long v;
    if (tool_parse_long(arg, 1, 86400000L, &v) != 0) {
        fprintf(stderr, "weir-flv: %s: expected milliseconds (1..86400000)\n", opt);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},        {"tags", no_argument, NULL, 'T'},
        {"gap", required_argument, NULL, 'g'},   {"jitter", required_argument, NULL, 'J'},
        {"video", required_argument, NULL, 'v'}, {"audio", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    int json = 0, list = 0, o;
    uint32_t gap_ms = FLV_DEFAULT_GAP_MS, jitter_ms = FLV_DEFAULT_JITTER_MS;
    const char *vout = NULL, *aout = NULL;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'j': json = 1; break;
        case 'T': list = 1; break;
        case 'g':
            if (parse_ms("--gap", optarg, &gap_ms) != 0)
                return TOOL_EXIT_USAGE;
            break;
        case 'J':
            if (parse_ms("--jitter", optarg, &jitter_ms) != 0)
                return TOOL_EXIT_USAGE;
            break;
        case 'v': vout = optarg; break;
        case 'a': aout = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return TOOL_EXIT_USAGE;
        }
    }
    int nargs = argc - optind;
    const char *cmd = nargs > 0 ? argv[optind] : "";
    if (strcmp(cmd, "info") == 0 && nargs == 2)
        return cmd_info(argv[optind + 1], json, list, gap_ms);
    if (strcmp(cmd, "extract") == 0 && nargs == 2) {
        if (!vout && !aout) {
            fprintf(stderr, "weir-flv: extract: give --video OUT and/or --audio OUT\n");
            return TOOL_EXIT_USAGE;
        }
        return cmd_extract(argv[optind + 1], vout, aout);
    }
    if (strcmp(cmd, "fix") == 0 && nargs == 3)
        return cmd_fix(argv[optind + 1], argv[optind + 2], gap_ms, jitter_ms);
    fprintf(stderr, "weir-flv: expected info FILE, extract FILE or fix IN OUT (see --help)\n");
    return TOOL_EXIT_USAGE;
}
