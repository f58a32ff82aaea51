/* record_mgr: recorders, recordings and their taps (see record_mgr.h). */
#include "record_mgr.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "msg.h"
#include "record_mgr_internal.h"
#include "stream_tap.h"

void record_root_of(const conf_t *c, char *out, size_t outlen)
{
    char rel[CONF_PATH_MAX + 16];
    if (c->record_root[0]) {
        snprintf(rel, sizeof rel, "%s", c->record_root);
    } else {
        const char *slash = strrchr(c->storage_path, '/');
        int dir = slash ? (int)(slash - c->storage_path) : 0;
        snprintf(rel, sizeof rel, "%.*s%srecordings", dir, c->storage_path, dir ? "/" : "");
    }
    char cwd[CONF_PATH_MAX];
    if (rel[0] != '/' && getcwd(cwd, sizeof cwd))
        snprintf(out, outlen, "%s/%s", cwd, rel);
    else
        snprintf(out, outlen, "%s", rel);
}

/* ---- events ----------------------------------------------------------------- */

static cJSON *event_base(const char *recorder, const char *app, const char *name)
{
    cJSON *f = cJSON_CreateObject();
    if (f) {
        cJSON_AddStringToObject(f, "recorder", recorder);
        cJSON_AddStringToObject(f, "app", app);
        cJSON_AddStringToObject(f, "name", name);
    }
    return f;
}

static void emit_rec(record_mgr_t *m, const char *type, const recording_t *r, cJSON *extra)
{
    cJSON *f = event_base(r->recorder, r->app, r->name);
    if (f && extra)
        for (cJSON *c = extra->child; c; c = extra->child)
            cJSON_AddItemToObject(f, c->string, cJSON_DetachItemViaPointer(extra, c));
    cJSON_Delete(extra);
    node_event(m->node, type, f);
}

/* ---- recordings ------------------------------------------------------------- */

static void tap_msg(stream_tap_t *t, msg_t *msg)
{
    recording_t *r = t->owner;
    record_mgr_t *m = r->m;
    if (msg->type != 8 && msg->type != 9)
        return; /* metadata: the file has its own; events are not media */
    int video = msg->type == 9;
    r->has_video |= video;
    if (r->dropping && !(msg->flags & MSG_F_SEQHDR)) {
        int key = video ? (msg->flags & MSG_F_KEY) != 0 : !r->has_video;
        if (!key) {
            m->dropped_msgs++;
            r->drops++;
            return;
        }
    }
    const uint8_t *body = msg->payload;
    uint32_t len = msg->len;
    uint8_t flags = msg->flags;
    if (r->ts && !(flags & MSG_F_SEQHDR)) { /* headers still go: codec changes cut files */
        if (!msg->mpegts_len)
            return;
        body = msg->mpegts;
        len = msg->mpegts_len;
        flags = (uint8_t)((flags & ~MSG_F_KEY) | (video && msg->mpegts_rap ? MSG_F_KEY : 0));
    }
    if (record_writer_msg(m->writer, r->job, msg->type, flags, msg->ts, body, len) == 0) {
        if (r->dropping)
            log_info(0, "record: %s/%s: writing again after %llu dropped messages", r->app,
                     r->name, (unsigned long long)r->drops_episode);
        r->dropping = 0;
        return;
    }
    m->dropped_msgs++;
    r->drops++;
    if (!r->dropping) {
        r->dropping = 1;
        r->drops_episode = 0;
        m->queue_fails++;
        log_warn(0, "record: %s/%s: the writer's queue is full (slow disk?): dropping until "
                    "the next key frame", r->app, r->name);
        cJSON *x = cJSON_CreateObject();
        if (x) {
            cJSON_AddStringToObject(x, "reason", "queue_full");
            cJSON_AddStringToObject(x, "error", "the writer's queue is full");
        }
        emit_rec(m, "record.fail", r, x);
    }
    r->drops_episode++;
}

static void tap_event(stream_tap_t *t, stream_tap_ev_t ev)
{
    recording_t *r = t->owner;
    switch (ev) {
    case STREAM_TAP_RESTART: record_writer_cut(r->m->writer, r->job); break;
    case STREAM_TAP_END: r->ended = 1; break; /* reaped by the tick */
    default: break; /* a continuation: the same file goes on */
    }
}

static void recording_stop(record_mgr_t *m, recording_t *r, const char *why)
{
    stream_tap_remove(&r->tap);
    record_writer_close(m->writer, r->job);
    cJSON *x = cJSON_CreateObject();
    if (x) {
        cJSON_AddStringToObject(x, "reason", why);
        cJSON_AddNumberToObject(x, "dropped_msgs", (double)r->drops);
    }
    emit_rec(m, "record.stop", r, x);
    log_info(0, "record: %s/%s stopped (%s, recorder %s)", r->app, r->name, why, r->recorder);
    TAILQ_REMOVE(&m->recs, r, link);
    m->nrecs--;
    free(r);
}

static recording_t *recording_find(record_mgr_t *m, const char *rec_id, const char *app,
                                   const char *name)
{
    recording_t *r;
    TAILQ_FOREACH(r, &m->recs, link)
    if (strcmp(r->recorder, rec_id) == 0 && strcmp(r->app, app) == 0 &&
        strcmp(r->name, name) == 0)
        return r;
    return NULL;
}

static void recording_start(record_mgr_t *m, const record_spec_t *spec, stream_t *s)
{
    if (m->nrecs >= RECORD_RECORDINGS_MAX) {
        if (!m->limit_logged)
            log_warn(0, "record: %d recordings at once: %s/%s not recorded",
                     RECORD_RECORDINGS_MAX, stream_app(s), stream_name(s));
        m->limit_logged = 1;
        return;
    }
    recording_t *r = calloc(1, sizeof *r);
    if (r)
        r->job = record_job_new(++m->next_rec_id, spec, stream_app(s), stream_name(s), m->root);
    if (!r || !r->job) {
        free(r);
        log_error(0, "record: out of memory");
        return;
    }
    r->m = m;
    r->id = m->next_rec_id;
    snprintf(r->recorder, sizeof r->recorder, "%s", spec->id);
    snprintf(r->app, sizeof r->app, "%s", stream_app(s));
    snprintf(r->name, sizeof r->name, "%s", stream_name(s));
    r->ts = spec->format == RECORD_FMT_TS;
    r->tap = (stream_tap_t){.msg = tap_msg, .event = tap_event, .owner = r};
    TAILQ_INSERT_TAIL(&m->recs, r, link);
    m->nrecs++;
    record_writer_open(m->writer, r->job); /* before the tap feeds the GOP cache */
    if (stream_tap_add(s, &r->tap) != 0) {
        log_warn(0, "record: %s/%s: the stream has too many taps: not recorded", r->app, r->name);
        record_writer_close(m->writer, r->job);
        TAILQ_REMOVE(&m->recs, r, link);
        m->nrecs--;
        free(r);
        return;
    }
    cJSON *x = cJSON_CreateObject();
    if (x)
        cJSON_AddStringToObject(x, "format", record_fmt_name(spec->format));
    emit_rec(m, "record.start", r, x);
    log_info(0, "record: %s/%s started (recorder %s)", r->app, r->name, r->recorder);
}

static void scan_stream(stream_t *s, void *arg)
{
    record_mgr_t *m = arg;
    if (!stream_is_live(s))
        return;
    for (size_t i = 0; i < m->nspecs; i++) {
        const record_spec_t *spec = &m->specs[i].spec;
        if (spec->enabled && record_spec_matches(spec, stream_app(s), stream_name(s)) &&
            !recording_find(m, spec->id, stream_app(s), stream_name(s)))
            recording_start(m, spec, s);
    }
}

/* Stops the recordings whose stream ended or whose recorder is gone or
 * disabled. */
static void reap(record_mgr_t *m)
{
    recording_t *r, *next;
    for (r = TAILQ_FIRST(&m->recs); r; r = next) {
        next = TAILQ_NEXT(r, link);
        const record_spec_t *spec = record_mgr_spec(m, r->recorder);
        if (!r->ended && spec && spec->enabled)
            continue;
        int oneoff = record_mgr_source(m, r->recorder) == 2;
        char app[STREAM_APP_MAX], name[STREAM_NAME_MAX];
        snprintf(app, sizeof app, "%s", r->app);
        snprintf(name, sizeof name, "%s", r->name);
        recording_stop(m, r, r->ended ? "stream_ended" : "recorder_deleted");
        if (oneoff)
            record_mgr_oneoff_stop(m, app, name); /* a one-off ends with its stream */
    }
}

static void record_tick(void *arg, int64_t now_ms)
{
    record_mgr_t *m = arg;
    if (!m->writer)
        return; /* stopping */
    reap(m);
    hub_foreach(m->node->hub, scan_stream, m);
    record_retention_tick(m, now_ms);
}

/* ---- results from the writer -------------------------------------------------- */

static void on_result(void *arg, const record_result_t *res)
{
    record_mgr_t *m = arg;
    recording_t fake = {0};
    snprintf(fake.recorder, sizeof fake.recorder, "%s", res->recorder);
    snprintf(fake.app, sizeof fake.app, "%s", res->app);
    snprintf(fake.name, sizeof fake.name, "%s", res->name);
    if (res->kind == RECORD_RES_OPENED) {
        record_index_add(m, res); /* the row of a ".part": found again after a crash */
        return;
    }
    cJSON *x = cJSON_CreateObject();
    if (res->kind == RECORD_RES_FILE) {
        uint64_t id = record_index_add(m, res);
        if (x) {
            cJSON_AddNumberToObject(x, "recording_id", (double)id);
            cJSON_AddStringToObject(x, "path", res->path);
            cJSON_AddStringToObject(x, "format", record_fmt_name(res->format));
            cJSON_AddNumberToObject(x, "duration_ms", res->duration_ms);
            cJSON_AddNumberToObject(x, "bytes", (double)res->bytes);
            cJSON_AddBoolToObject(x, "closed_cleanly", res->closed_cleanly);
        }
        emit_rec(m, "record.segment", &fake, x);
    } else if (res->kind == RECORD_RES_FAIL) {
        if (x) {
            cJSON_AddStringToObject(x, "reason", record_err_name(res->reason));
            cJSON_AddStringToObject(x, "error", res->err);
        }
        emit_rec(m, "record.fail", &fake, x);
    } else {
        cJSON_Delete(x);
    }
}

/* ---- the manager -------------------------------------------------------------- */

/* Stops every recording and the writer (it finishes the files; their
 * last results are indexed while storage still takes writes). */
static void record_before_close(void *arg)
{
    record_mgr_t *m = arg;
    if (!m->writer)
        return;
    while (!TAILQ_EMPTY(&m->recs))
        recording_stop(m, TAILQ_FIRST(&m->recs), "shutdown");
    record_writer_free(m->writer);
    m->writer = NULL;
}

static void record_after_close(void *arg)
{
    record_mgr_t *m = arg;
    record_before_close(m);
    record_index_close(m);
    spec_store_close(&m->store);
    m->node->records = NULL;
    free(m->specs);
    free(m);
}

static const node_module_t RECORD_MODULE = {.name = "record",
                                            .tick = record_tick,
                                            .before_close = record_before_close,
                                            .after_close = record_after_close};

int record_mgr_start(node_t *node, char *err, size_t errlen)
{
    record_mgr_t *m = calloc(1, sizeof *m);
    if (!m || !(m->specs = calloc(RECORD_RECORDERS_MAX, sizeof *m->specs))) {
        free(m);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->node = node;
    m->rng = ((uint64_t)weir_wall_ms() << 16) ^ (uint64_t)getpid() ^ 0x2545F4914F6CDD1DULL;
    TAILQ_INIT(&m->recs);
    if (spec_store_init(&m->store, node->base, node->st, &RECORD_STORE_OPS, m) != 0) {
        free(m->specs);
        free(m);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    record_root_of(&node->conf, m->root, sizeof m->root);
    if (record_mgr_load(m, err, errlen) != 0 || record_index_open(m, err, errlen) != 0) {
        record_index_close(m);
        spec_store_close(&m->store);
        free(m->specs);
        free(m);
        return -1;
    }
    m->writer = record_writer_new(node->base, node->conf.record_queue_max_bytes,
                                  node->conf.record_queue_max_msgs, on_result, m, err, errlen);
    if (!m->writer || node_add_module(node, &RECORD_MODULE, m) != 0) {
        if (m->writer)
            snprintf(err, errlen, "too many node modules");
        record_writer_free(m->writer);
        record_index_close(m);
        spec_store_close(&m->store);
        free(m->specs);
        free(m);
        return -1;
    }
    node->records = m;
    log_info(0, "record: %zu recorders, files under %s", m->nspecs, m->root);
    return 0;
}

void record_mgr_stats(record_mgr_t *m, record_mgr_stats_t *out)
{
    record_writer_stats_t ws;
    memset(out, 0, sizeof *out);
    if (!m->writer)
        return;
    record_writer_stats(m->writer, &ws);
    out->bytes = ws.bytes;
    out->files = ws.files;
    memcpy(out->fails, ws.fails, sizeof out->fails);
    out->fails[0] = m->queue_fails;
    out->dropped_msgs = m->dropped_msgs;
    out->recordings = m->nrecs;
    record_writer_depth(m->writer, &out->queue_items, &out->queue_bytes);
}

int record_mgr_recording(record_mgr_t *m, const char *app, const char *name)
{
    recording_t *r;
    TAILQ_FOREACH(r, &m->recs, link)
    if (strcmp(r->app, app) == 0 && strcmp(r->name, name) == 0)
        return 1;
    return 0;
}

size_t record_mgr_changes_waiting(const record_mgr_t *m)
{
    return m ? m->store.count : 0;
}

int record_spec_etag(record_mgr_t *m, const record_spec_t *s, char out[SPEC_ETAG_MAX])
{
    cJSON *j = record_spec_to_json(s);
    int rc = j ? spec_etag(m->node->etag_key, j, out) : -1;
    cJSON_Delete(j);
    return rc;
}
