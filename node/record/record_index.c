/* record_index: the index of recorded files (record_mgr_internal.h): kept
 * in memory on the loop for the API, each row written to SQLite
 * (storage_recording_put()) as it changes and loaded at start; a file's
 * row is written when it starts (open, as ".part") and again when it is
 * finished, so that after a crash the next start finds the ".part" files
 * of the open rows, repairs them (record_file_repair()) and indexes them
 * as not closed cleanly. Retention deletes the oldest files first, at most
 * RECORD_RETAIN_PER_TICK per tick. Loop thread only. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "record_file.h"
#include "record_mgr_internal.h"
#include "storage.h"

#define RETAIN_EVERY_MS 1000

static void entry_free(record_entry_t *e)
{
    free(e->recorder);
    free(e->app);
    free(e->name);
    free(e->path);
}

static cJSON *entry_row(const record_entry_t *e)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "id", (double)e->id);
    cJSON_AddStringToObject(o, "recorder", e->recorder);
    cJSON_AddStringToObject(o, "app", e->app);
    cJSON_AddStringToObject(o, "name", e->name);
    cJSON_AddStringToObject(o, "path", e->path);
    cJSON_AddStringToObject(o, "format", record_fmt_name(e->format));
    cJSON_AddNumberToObject(o, "start_ms", (double)e->start_ms);
    cJSON_AddNumberToObject(o, "end_ms", (double)e->end_ms);
    cJSON_AddNumberToObject(o, "duration_ms", e->duration_ms);
    cJSON_AddNumberToObject(o, "bytes", (double)e->bytes);
    cJSON_AddStringToObject(o, "codecs", e->codecs);
    cJSON_AddBoolToObject(o, "closed_cleanly", e->closed_cleanly);
    cJSON_AddBoolToObject(o, "open", e->open);
    return o;
}

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static int entry_from_row(const cJSON *o, record_entry_t *e)
{
    memset(e, 0, sizeof *e);
    e->id = (uint64_t)num_of(o, "id");
    e->recorder = strdup(str_of(o, "recorder"));
    e->app = strdup(str_of(o, "app"));
    e->name = strdup(str_of(o, "name"));
    e->path = strdup(str_of(o, "path"));
    const char *f = str_of(o, "format");
    e->format = strcmp(f, "ts") == 0 ? RECORD_FMT_TS
                : strcmp(f, "fmp4") == 0 ? RECORD_FMT_FMP4
                                         : RECORD_FMT_FLV;
    e->start_ms = (int64_t)num_of(o, "start_ms");
    e->end_ms = (int64_t)num_of(o, "end_ms");
    e->duration_ms = (uint32_t)num_of(o, "duration_ms");
    e->bytes = (uint64_t)num_of(o, "bytes");
    snprintf(e->codecs, sizeof e->codecs, "%s", str_of(o, "codecs"));
    e->closed_cleanly = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "closed_cleanly"));
    e->open = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "open"));
    if (!e->recorder || !e->app || !e->name || !e->path || !e->id) {
        entry_free(e);
        return -1;
    }
    return 0;
}

static void persist(record_mgr_t *m, const record_entry_t *e)
{
    if (!m->node->st)
        return;
    char id[24];
    snprintf(id, sizeof id, "%020" PRIu64, e->id); /* text order is id order */
    cJSON *row = entry_row(e);
    char *text = row ? cJSON_PrintUnformatted(row) : NULL;
    cJSON_Delete(row);
    if (!text || storage_recording_put(m->node->st, id, text, NULL, NULL) != 0)
        log_warn(0, "record: %s: the index row could not be queued for storage", e->path);
    cJSON_free(text);
}

static void unpersist(record_mgr_t *m, uint64_t file_id)
{
    char id[24];
    snprintf(id, sizeof id, "%020" PRIu64, file_id);
    if (m->node->st && storage_recording_delete(m->node->st, id, NULL, NULL) != 0)
        log_warn(0, "record: index row %s could not be queued for deletion", id);
}

/* Drops entry i from memory (not its file or row). */
static void forget(record_mgr_t *m, size_t i)
{
    entry_free(&m->idx[i]);
    memmove(&m->idx[i], &m->idx[i + 1], (m->nidx - i - 1) * sizeof *m->idx);
    m->nidx--;
}

static record_entry_t *append(record_mgr_t *m, const record_entry_t *e)
{
    if (m->nidx == RECORD_INDEX_MAX) {
        log_warn(0, "record: the index holds %d files: forgetting the oldest (%s; its file stays)",
                 RECORD_INDEX_MAX, m->idx[0].path);
        unpersist(m, m->idx[0].id);
        forget(m, 0);
    }
    m->idx[m->nidx] = *e;
    return &m->idx[m->nidx++];
}

/* A file left open by a crash: repaired and closed (not cleanly). */
static void recover(record_mgr_t *m, record_entry_t *e)
{
    char part[CONF_PATH_MAX + RECORD_FILE_MAX + 8], fin[sizeof part];
    snprintf(part, sizeof part, "%s/%s.part", m->root, e->path);
    uint32_t dur = 0;
    uint64_t bytes = 0;
    e->open = 0;
    e->closed_cleanly = 0;
    if (record_file_repair(part, fin, sizeof fin, &dur, &bytes) != 0) {
        log_warn(0, "record: %s could not be repaired (kept as it is)", part);
    } else {
        e->duration_ms = dur;
        e->bytes = bytes;
        e->end_ms = e->start_ms + dur;
        log_info(0, "record: %s repaired after an unclean stop (%u ms, %" PRIu64 " bytes)",
                 e->path, dur, bytes);
    }
    persist(m, e);
}

static int by_id(const void *a, const void *b)
{
    const record_entry_t *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

int record_index_open(record_mgr_t *m, char *err, size_t errlen)
{
    m->idx = calloc(RECORD_INDEX_MAX, sizeof *m->idx);
    if (!m->idx) {
        snprintf(err, errlen, "record: out of memory");
        return -1;
    }
    const storage_spec_t *rows = NULL;
    size_t n = m->node->st ? storage_recordings(m->node->st, &rows) : 0;
    for (size_t i = 0; i < n && m->nidx < RECORD_INDEX_MAX; i++) {
        cJSON *o = cJSON_Parse(rows[i].spec);
        record_entry_t e;
        if (o && entry_from_row(o, &e) == 0)
            m->idx[m->nidx++] = e;
        else
            log_error(0, "record: stored recording %s: not a valid row; skipped", rows[i].id);
        cJSON_Delete(o);
    }
    qsort(m->idx, m->nidx, sizeof *m->idx, by_id);
    m->next_file_id = m->nidx ? m->idx[m->nidx - 1].id + 1 : 1;
    for (size_t i = 0; i < m->nidx; i++)
        if (m->idx[i].open)
            recover(m, &m->idx[i]);
    return 0;
}

void record_index_close(record_mgr_t *m)
{
    for (size_t i = 0; i < m->nidx; i++)
        entry_free(&m->idx[i]);
    free(m->idx);
    m->idx = NULL;
    m->nidx = 0;
}

static record_entry_t *find_open(record_mgr_t *m, const char *path)
{
    for (size_t i = m->nidx; i-- > 0;)
        if (m->idx[i].open && strcmp(m->idx[i].path, path) == 0)
            return &m->idx[i];
    return NULL;
}

uint64_t record_index_add(record_mgr_t *m, const record_result_t *r)
{
    record_entry_t *e = find_open(m, r->path);
    if (!e) {
        record_entry_t n = {.id = m->next_file_id++, .format = r->format};
        n.recorder = strdup(r->recorder);
        n.app = strdup(r->app);
        n.name = strdup(r->name);
        n.path = strdup(r->path);
        if (!n.recorder || !n.app || !n.name || !n.path) {
            entry_free(&n);
            log_error(0, "record: out of memory: %s not indexed", r->path);
            return 0;
        }
        n.start_ms = r->start_wall_ms;
        e = append(m, &n);
    }
    e->open = r->kind == RECORD_RES_OPENED;
    if (!e->open) {
        e->end_ms = r->end_wall_ms;
        e->duration_ms = r->duration_ms;
        e->bytes = r->bytes;
        e->closed_cleanly = r->closed_cleanly;
        snprintf(e->codecs, sizeof e->codecs, "%s", r->codecs);
    }
    persist(m, e);
    return e->id;
}

void record_index_remove(record_mgr_t *m, size_t i)
{
    char abs[CONF_PATH_MAX + RECORD_FILE_MAX + 2];
    snprintf(abs, sizeof abs, "%s/%s", m->root, m->idx[i].path);
    if (unlink(abs) != 0)
        log_warn(0, "record: deleting %s: %m", abs);
    unpersist(m, m->idx[i].id);
    forget(m, i);
}

/* The recorder's oldest file to delete under its retention, or -1. */
static long retention_victim(record_mgr_t *m, const record_spec_t *s, int64_t now_wall)
{
    uint64_t total = 0;
    long oldest = -1;
    for (size_t i = 0; i < m->nidx; i++) {
        const record_entry_t *e = &m->idx[i];
        if (e->open || strcmp(e->recorder, s->id) != 0)
            continue;
        if (oldest < 0)
            oldest = (long)i;
        total += e->bytes;
    }
    if (oldest < 0)
        return -1;
    const record_entry_t *o = &m->idx[oldest];
    if (s->max_age_h && o->end_ms < now_wall - (int64_t)s->max_age_h * 3600000)
        return oldest;
    if (s->max_bytes && total > s->max_bytes)
        return oldest;
    return -1;
}

void record_retention_tick(record_mgr_t *m, int64_t now_ms)
{
    if (now_ms - m->retain_ms < RETAIN_EVERY_MS)
        return;
    m->retain_ms = now_ms;
    int64_t now_wall = weir_wall_ms();
    int budget = RECORD_RETAIN_PER_TICK;
    for (size_t k = 0; k < m->nspecs && budget > 0; k++) {
        const record_spec_t *s = &m->specs[k].spec;
        long v;
        while (budget > 0 && (s->max_age_h || s->max_bytes) &&
               (v = retention_victim(m, s, now_wall)) >= 0) {
            log_info(0, "record: retention of %s deletes %s", s->id, m->idx[v].path);
            record_index_remove(m, (size_t)v);
            budget--;
        }
    }
}

/* ---- the API's view ------------------------------------------------------- */

static void info_of(const record_entry_t *e, record_file_info_t *f)
{
    *f = (record_file_info_t){e->id,          e->recorder, e->app,    e->name,
                              e->path,        record_fmt_name(e->format), e->start_ms,
                              e->end_ms,      e->duration_ms, e->bytes, e->codecs,
                              e->closed_cleanly};
}

/* The first entry with an id above after (binary search: ids grow). */
static size_t first_after(record_mgr_t *m, uint64_t after)
{
    size_t lo = 0, hi = m->nidx;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->idx[mid].id <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void record_mgr_files(record_mgr_t *m, uint64_t after, const char *app, const char *name,
                      int64_t from_ms, int64_t to_ms,
                      int (*cb)(const record_file_info_t *f, void *arg), void *arg)
{
    for (size_t i = first_after(m, after); i < m->nidx; i++) {
        const record_entry_t *e = &m->idx[i];
        if (e->open || (app && strcmp(app, e->app) != 0) || (name && strcmp(name, e->name) != 0) ||
            (from_ms && e->end_ms < from_ms) || (to_ms && e->start_ms > to_ms))
            continue;
        record_file_info_t f;
        info_of(e, &f);
        if (cb(&f, arg))
            return;
    }
}

static long find_id(record_mgr_t *m, uint64_t id)
{
    size_t i = first_after(m, id - 1);
    return i < m->nidx && m->idx[i].id == id && !m->idx[i].open ? (long)i : -1;
}

int record_mgr_file(record_mgr_t *m, uint64_t id, record_file_info_t *out)
{
    long i = id ? find_id(m, id) : -1;
    if (i < 0)
        return NODE_ENOTFOUND;
    info_of(&m->idx[i], out);
    return 0;
}

void record_mgr_file_path(record_mgr_t *m, const record_file_info_t *f, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", m->root, f->path);
}

int record_mgr_file_delete(record_mgr_t *m, uint64_t id)
{
    long i = id ? find_id(m, id) : -1;
    if (i < 0)
        return NODE_ENOTFOUND;
    log_info(0, "record: %s deleted over the API", m->idx[i].path);
    record_index_remove(m, (size_t)i);
    return 0;
}
