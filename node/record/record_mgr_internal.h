/* record_mgr_internal: what the files of the recording manager share
 * (record_mgr.c: recordings and taps; record_recorders.c: the recorders;
 * record_index.c: the index of finished files and retention). Loop thread
 * only. */
#ifndef WEIR_RECORD_MGR_INTERNAL_H
#define WEIR_RECORD_MGR_INTERNAL_H

#include <sys/queue.h>

#include "record_mgr.h"
#include "record_writer.h"
#include "spec_store.h"
#include "stream_tap.h"

#define RECORD_INDEX_MAX 100000 /* indexed files at most (then the oldest is forgotten) */
#define RECORD_RETAIN_PER_TICK 16 /* files deleted by retention per tick at most */

typedef enum { RECORDER_API = 0, RECORDER_CONFIG = 1, RECORDER_ONEOFF = 2 } recorder_source_t;

typedef struct {
    record_spec_t spec;
    recorder_source_t source;
} recorder_t;

typedef struct recording {
    TAILQ_ENTRY(recording) link;
    struct record_mgr *m;
    uint64_t id;
    char recorder[RECORD_ID_MAX];
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    stream_tap_t tap;
    record_job_t *job; /* the writer's: a handle only */
    int ended;         /* the stream ended (STREAM_TAP_END): reaped by the tick */
    int dropping;      /* the queue refused a message: wait for a key frame */
    int has_video;
    int ts; /* format ts: the messages' MPEG-TS packets are recorded */
    uint64_t drops, drops_episode;
} recording_t;

/* One indexed file (record_index.c). */
typedef struct {
    uint64_t id;
    char *recorder, *app, *name, *path; /* malloc'd; path relative to root */
    record_fmt_t format;
    int64_t start_ms, end_ms; /* Unix ms */
    uint32_t duration_ms;
    uint64_t bytes;
    char codecs[32];
    int closed_cleanly;
    int open; /* the file is being written (".part"): not listed */
} record_entry_t;

struct record_mgr {
    node_t *node;
    char root[CONF_PATH_MAX];
    record_writer_t *writer;
    recorder_t *specs; /* RECORD_RECORDERS_MAX, the first nspecs used, by id */
    size_t nspecs;
    TAILQ_HEAD(, recording) recs;
    size_t nrecs;
    uint64_t next_rec_id;
    uint64_t dropped_msgs, queue_fails;
    int limit_logged;
    uint64_t rng;
    spec_store_t store; /* the API's changes to recorders (record_recorders.c) */
    /* the index, by id */
    record_entry_t *idx;
    size_t nidx;
    uint64_t next_file_id;
    int64_t retain_ms; /* the last retention pass (monotonic) */
};

/* record_recorders.c */
int record_mgr_load(record_mgr_t *m, char *err, size_t errlen);
extern const spec_store_ops_t RECORD_STORE_OPS;

/* record_index.c */
int record_index_open(record_mgr_t *m, char *err, size_t errlen);
void record_index_close(record_mgr_t *m);
uint64_t record_index_add(record_mgr_t *m, const record_result_t *r);
void record_retention_tick(record_mgr_t *m, int64_t now_ms);
/* Deletes entry i's file and row. */
void record_index_remove(record_mgr_t *m, size_t i);

#endif
