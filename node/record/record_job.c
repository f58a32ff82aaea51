/* record_job: one recording on the writer thread: when files start and
 * are cut, what goes into them, failures and retries (see
 * record_writer.h). Writer thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "flv.h"
#include "log.h"
#include "msg.h"
#include "record_internal.h"

record_job_t *record_job_new(uint64_t rec_id, const record_spec_t *spec, const char *app,
                             const char *name, const char *root)
{
    record_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->rec_id = rec_id;
    j->spec = *spec;
    snprintf(j->app, sizeof j->app, "%s", app);
    snprintf(j->name, sizeof j->name, "%s", name);
    snprintf(j->root, sizeof j->root, "%s", root);
    j->backoff_ms = RECORD_RETRY_MIN_MS;
    return j;
}

static void fourcc_str(uint32_t f, char *out)
{
    for (int i = 0; i < 4; i++)
        out[i] = (char)(f >> (24 - 8 * i));
    out[4] = '\0';
}

/* "avc1,mp4a" from the cached sequence headers. */
static void codecs_of(const record_job_t *j, char *out, size_t outlen)
{
    char v[8] = "", a[8] = "";
    flv_video_info_t vi;
    flv_audio_info_t ai;
    if (j->hdr[1] && flv_video_inspect(j->hdr[1], j->hdr_len[1], &vi) == 0 && vi.fourcc)
        fourcc_str(vi.fourcc, v);
    if (j->hdr[0] && flv_audio_inspect(j->hdr[0], j->hdr_len[0], &ai) == 0)
        snprintf(a, sizeof a, "%s", ai.fourcc ? "" : ai.sound_format == FLV_ACODEC_AAC ? "mp4a"
                                                     : ai.sound_format == FLV_ACODEC_MP3 ? "mp3"
                                                                                         : "");
    if (j->hdr[0] && ai.fourcc)
        fourcc_str(ai.fourcc, a);
    snprintf(out, outlen, "%s%s%s", v, v[0] && a[0] ? "," : "", a);
}

static record_result_t result_of(const record_job_t *j, record_res_kind_t kind)
{
    record_result_t r = {.kind = kind, .rec_id = j->rec_id, .format = j->spec.format};
    memcpy(r.recorder, j->spec.id, sizeof r.recorder);
    memcpy(r.app, j->app, sizeof r.app);
    memcpy(r.name, j->name, sizeof r.name);
    return r;
}

/* Enters (or stays in) a failure episode: reported once. */
static void job_fail(record_writer_t *w, record_job_t *j, record_err_t e, const char *why)
{
    if (!j->failed) {
        record_result_t r = result_of(j, RECORD_RES_FAIL);
        r.reason = e;
        snprintf(r.err, sizeof r.err, "%s", why);
        record_writer_result(w, &r);
        log_warn(0, "record: %s/%s: %s (%s); retrying", j->app, j->name, why,
                 record_err_name(e));
    }
    j->failed = 1;
    j->retry_at_ms = weir_mono_ms() + j->backoff_ms;
    j->backoff_ms = j->backoff_ms * 2 > RECORD_RETRY_MAX_MS ? RECORD_RETRY_MAX_MS : j->backoff_ms * 2;
}

static record_err_t write_tag(record_writer_t *w, record_job_t *j, uint8_t type, uint32_t ts,
                              const uint8_t *p, uint32_t len);

/* fmp4: writes the fragment gathered so far (next_video_dts: see
 * record_fmp4_cut) and flushes it, so a crash loses at most the fragment
 * being gathered. */
static record_err_t job_fmp4_cut(record_writer_t *w, record_job_t *j, int64_t next_video_dts)
{
    fmp4_iov_t iov[3];
    size_t n = 0;
    if (record_fmp4_cut(j->fmp4, next_video_dts, iov, &n) != 0)
        log_warn(0, "record: %s/%s: an fMP4 fragment could not be made; left out", j->app,
                 j->name);
    record_err_t e = RECORD_OK;
    for (size_t i = 0; i < n && e == RECORD_OK; i++)
        e = write_tag(w, j, 0, 0, iov[i].p, (uint32_t)iov[i].len);
    return e == RECORD_OK && n ? record_file_flush(j->file) : e; /* on disk whole */
}

/* Finishes the open file (if any) and reports it. */
static void job_finish(record_writer_t *w, record_job_t *j, int clean)
{
    if (!j->file)
        return;
    if (j->fmp4 && clean && job_fmp4_cut(w, j, FMP4_DTS_NONE) != RECORD_OK)
        clean = 0;
    record_fmp4_free(j->fmp4);
    j->fmp4 = NULL;
    record_result_t r = result_of(j, RECORD_RES_FILE);
    r.duration_ms = j->last_ts - j->base_ts;
    record_err_t e = record_file_finish(j->file, r.duration_ms, &r.bytes);
    j->file = NULL;
    snprintf(r.path, sizeof r.path, "%s", j->rel);
    r.start_wall_ms = j->start_wall_ms;
    r.end_wall_ms = j->start_wall_ms + r.duration_ms;
    r.closed_cleanly = clean && e == RECORD_OK;
    codecs_of(j, r.codecs, sizeof r.codecs);
    record_writer_result(w, &r);
    if (e != RECORD_OK)
        job_fail(w, j, e, "finishing the file failed");
}

static record_err_t write_tag(record_writer_t *w, record_job_t *j, uint8_t type, uint32_t ts,
                              const uint8_t *p, uint32_t len)
{
    uint64_t before = record_file_bytes(j->file);
    record_err_t e = record_file_tag(j->file, type, ts, p, len);
    record_writer_count_bytes(w, record_file_bytes(j->file) - before);
    return e;
}

/* A free relative path for the next file (a "-N" suffix when taken). */
static int next_path(record_job_t *j, int64_t now, char *abs, size_t abslen)
{
    if (record_path_expand(&j->spec, j->app, j->name, now, j->seq, j->rel, sizeof j->rel) != 0)
        return -1;
    size_t n = strlen(j->rel), ext = strlen(record_fmt_ext(j->spec.format)) + 1;
    char base[RECORD_FILE_MAX];
    snprintf(base, sizeof base, "%.*s", (int)(n - ext), j->rel);
    for (int k = 1; k < 100; k++) {
        snprintf(abs, abslen, "%s/%s", j->root, j->rel);
        char part[4200];
        snprintf(part, sizeof part, "%s.part", abs);
        if (access(abs, F_OK) != 0 && access(part, F_OK) != 0)
            return 0;
        int w = snprintf(j->rel, sizeof j->rel, "%s-%d.%s", base, k,
                         record_fmt_ext(j->spec.format));
        if (w < 0 || (size_t)w >= sizeof j->rel)
            return -1;
    }
    return -1;
}

/* Starts a file at this message (ts): headers first. */
static void job_start_file(record_writer_t *w, record_job_t *j, uint32_t ts)
{
    if (j->failed && weir_mono_ms() < j->retry_at_ms)
        return;
    int64_t now = weir_wall_ms();
    char abs[4096], err[512];
    record_err_t e = RECORD_E_IO;
    if (next_path(j, now, abs, sizeof abs) != 0) {
        job_fail(w, j, RECORD_E_IO, "the path template gives no free file name");
        return;
    }
    /* TS packets carry their headers; fMP4 has its init segment */
    int raw = j->spec.format != RECORD_FMT_FLV;
    const char *why = NULL;
    if (j->spec.format == RECORD_FMT_FMP4 &&
        !(j->fmp4 = record_fmp4_new(j->hdr[0], j->hdr_len[0], j->hdr[1], j->hdr_len[1], &why))) {
        job_fail(w, j, RECORD_E_IO, why);
        return;
    }
    j->fmp4_left_out = 0;
    j->file = record_file_open(abs, raw, j->hdr[0] != NULL, j->has_video, &e, err, sizeof err);
    for (int i = 1; !raw && j->file && e == RECORD_OK && i >= 0; i--)
        if (j->hdr[i])
            e = write_tag(w, j, i ? FLV_TAG_VIDEO : FLV_TAG_AUDIO, 0, j->hdr[i], j->hdr_len[i]);
    if (j->fmp4 && j->file && e == RECORD_OK) {
        const uint8_t *init;
        size_t init_len;
        record_fmp4_init_segment(j->fmp4, &init, &init_len);
        e = write_tag(w, j, 0, 0, init, (uint32_t)init_len);
    }
    if (!j->file) {
        record_fmp4_free(j->fmp4);
        j->fmp4 = NULL;
    }
    if (!j->file || e != RECORD_OK) {
        if (j->file)
            job_finish(w, j, 0);
        job_fail(w, j, e, j->file ? "writing the headers failed" : err);
        return;
    }
    if (j->failed) {
        record_result_t r = result_of(j, RECORD_RES_RESUMED);
        record_writer_result(w, &r);
        log_info(0, "record: %s/%s: writing again (%s)", j->app, j->name, j->rel);
    }
    j->failed = 0;
    j->backoff_ms = RECORD_RETRY_MIN_MS;
    j->seq++;
    j->start_wall_ms = now;
    j->base_ts = j->last_ts = ts;
    record_result_t r = result_of(j, RECORD_RES_OPENED);
    snprintf(r.path, sizeof r.path, "%s", j->rel);
    r.start_wall_ms = now;
    record_writer_result(w, &r);
}

/* A sequence header: cached; a different one ends the file (new codec
 * parameters: the next file starts with it). */
static void job_header(record_writer_t *w, record_job_t *j, const record_item_t *it)
{
    int v = it->type == FLV_TAG_VIDEO;
    if (j->hdr[v] && j->hdr_len[v] == it->len && memcmp(j->hdr[v], it->data, it->len) == 0)
        return;
    uint8_t *copy = malloc(it->len ? it->len : 1);
    if (!copy)
        return;
    memcpy(copy, it->data, it->len);
    if (j->hdr[v] || j->fmp4) /* fMP4: a new track needs a new init segment */
        job_finish(w, j, 1);
    free(j->hdr[v]);
    j->hdr[v] = copy;
    j->hdr_len[v] = it->len;
}

/* fmp4: a coded frame into the fragment, which is cut before it when due. */
static record_err_t job_fmp4_frame(record_writer_t *w, record_job_t *j, const record_item_t *it)
{
    uint32_t dts = it->ts - j->base_ts;
    if (dts >= 0x80000000u)
        dts = 0; /* audio just before the file's first key frame: not before the start */
    record_err_t e = RECORD_OK;
    if (record_fmp4_cut_due(j->fmp4, it->type, (it->flags & MSG_F_KEY) != 0, dts, it->len))
        e = job_fmp4_cut(w, j, it->type == FLV_TAG_VIDEO ? (int64_t)dts : FMP4_DTS_NONE);
    int rc = e == RECORD_OK ? record_fmp4_add(j->fmp4, it->type, dts, it->data, it->len) : 0;
    if (rc < 0)
        log_warn(0, "record: %s/%s: out of memory; a frame is left out", j->app, j->name);
    if (rc == RECORD_FMP4_NO_TRACK && !j->fmp4_left_out) {
        j->fmp4_left_out = 1; /* once a file */
        log_warn(0, "record: %s/%s: %s: the %s has no track in this fMP4 file (it carries H.264, "
                    "H.265, AV1 and AAC; e.g. MP3 audio is not): its frames are left out",
                 j->app, j->name, j->rel, it->type == FLV_TAG_VIDEO ? "video" : "audio");
    }
    return e;
}

static void job_msg(record_writer_t *w, record_job_t *j, const record_item_t *it)
{
    if (it->type != FLV_TAG_AUDIO && it->type != FLV_TAG_VIDEO)
        return; /* the file has its own metadata */
    if (it->flags & MSG_F_SEQHDR) {
        job_header(w, j, it);
        return;
    }
    int video = it->type == FLV_TAG_VIDEO;
    j->has_video |= video;
    int start = video ? (it->flags & MSG_F_KEY) != 0 : !j->has_video && !j->hdr[1];
    if (j->file && start && j->spec.segment_s &&
        it->ts - j->base_ts >= j->spec.segment_s * 1000u)
        job_finish(w, j, 1);
    if (!j->file && start)
        job_start_file(w, j, it->ts);
    if (!j->file)
        return;
    record_err_t e = j->fmp4 ? job_fmp4_frame(w, j, it)
                             : write_tag(w, j, it->type, it->ts - j->base_ts, it->data, it->len);
    if (e != RECORD_OK) {
        job_finish(w, j, 0);
        job_fail(w, j, e, "write failed");
        return;
    }
    if (it->ts - j->last_ts < 0x80000000u)
        j->last_ts = it->ts;
}

void record_job_handle(record_writer_t *w, record_job_t *j, const record_item_t *it)
{
    switch (it->kind) {
    case RECORD_ITEM_MSG: job_msg(w, j, it); break;
    case RECORD_ITEM_OPEN: break;
    case RECORD_ITEM_CUT: job_finish(w, j, 1); break;
    case RECORD_ITEM_CLOSE:
        job_finish(w, j, 1);
        free(j->hdr[0]);
        free(j->hdr[1]);
        free(j);
        break;
    }
}
