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

int flvtool_extract(const char *path, const char *vname, const char *aname)
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
