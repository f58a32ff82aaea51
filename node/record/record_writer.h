/* record_writer: the recording writer thread. It owns every recorded file:
 * the loop hands it copies of a recording's messages through a bounded
 * record_queue (a full queue refuses at once: the loop drops and counts),
 * and it hands back what happened (a file finished, a failure) as results
 * delivered on the loop thread through an eventfd; nothing mutable is
 * shared but the queue, the result list (each under its mutex) and the
 * relaxed-atomic counters.
 *
 * A recording's state (record_job_t) is made by the loop and given to the
 * writer with record_writer_open(); from then on the loop only passes the
 * pointer back as a handle (never reads it) until record_writer_close(),
 * after which the writer frees it.
 *
 * Files: a new file starts at a video key frame (the first audio frame for
 * a stream without video), with the cached sequence headers first; it is
 * cut at the first key frame after segment_s, when a sequence header
 * changes (new codec parameters), and at record_writer_cut() (a new
 * timeline). A failed write or open finishes what was written (not
 * cleanly), reports RECORD_RES_FAIL once, and retries at a key frame after
 * a backoff (1 s doubling to 30 s) until it works: recording resumes by
 * itself when space comes back.
 * Threads: record_writer_* on the loop thread; the callback on the loop.
 */
#ifndef WEIR_RECORD_WRITER_H
#define WEIR_RECORD_WRITER_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "record_file.h"
#include "record_spec.h"

#define RECORD_RETRY_MIN_MS 1000
#define RECORD_RETRY_MAX_MS 30000
#define RECORD_RESULTS_MAX 4096 /* undelivered results at most (then dropped, counted) */

typedef struct record_job record_job_t;
typedef struct record_writer record_writer_t;

/* OPENED: a file was started (path, format, start_wall_ms); FILE: it
 * finished (or was left after a failure); FAIL: a failure episode began;
 * RESUMED: it ended (a file could be started again). */
typedef enum {
    RECORD_RES_OPENED,
    RECORD_RES_FILE,
    RECORD_RES_FAIL,
    RECORD_RES_RESUMED
} record_res_kind_t;

typedef struct {
    record_res_kind_t kind;
    uint64_t rec_id; /* the loop's recording id (record_job_new()) */
    char recorder[RECORD_ID_MAX];
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    /* RECORD_RES_FILE: a file finished (or left after a failure) */
    char path[RECORD_FILE_MAX]; /* relative to record.root */
    record_fmt_t format;
    int64_t start_wall_ms, end_wall_ms;
    uint32_t duration_ms;
    uint64_t bytes;
    int closed_cleanly;
    char codecs[32]; /* "avc1,mp4a" */
    /* RECORD_RES_FAIL */
    record_err_t reason;
    char err[256];
} record_result_t;

typedef struct {
    uint64_t bytes;           /* written to files */
    uint64_t files;           /* finished */
    uint64_t fails[4];        /* by record_err_t */
    uint64_t results_dropped; /* over RECORD_RESULTS_MAX */
} record_writer_stats_t;

typedef void (*record_result_fn)(void *arg, const record_result_t *r);

/* Starts the thread. qbytes/qitems bound the queue. NULL with err. */
record_writer_t *record_writer_new(struct event_base *base, size_t qbytes, size_t qitems,
                                   record_result_fn cb, void *arg, char *err, size_t errlen);
/* Closes the queue, lets the thread finish what is queued (every open
 * recording must have been closed), joins it and delivers the last
 * results. NULL is a no-op. */
void record_writer_free(record_writer_t *w);

/* A recording's state for the writer: root (absolute) + the spec's path. */
record_job_t *record_job_new(uint64_t rec_id, const record_spec_t *spec, const char *app,
                             const char *name, const char *root);
/* Hands job to the writer (always taken). */
void record_writer_open(record_writer_t *w, record_job_t *job);
/* A copy of a message for job. Returns 0, or -1 when the queue is full or
 * out of memory (dropped; the caller counts). */
int record_writer_msg(record_writer_t *w, record_job_t *job, uint8_t type, uint8_t flags,
                      uint32_t ts, const uint8_t *payload, uint32_t len);
/* A new timeline: the current file ends, the next starts at a key frame. */
void record_writer_cut(record_writer_t *w, record_job_t *job);
/* The recording ends: its file is finished and job freed by the writer. */
void record_writer_close(record_writer_t *w, record_job_t *job);

void record_writer_stats(record_writer_t *w, record_writer_stats_t *out);
void record_writer_depth(record_writer_t *w, size_t *items, size_t *bytes);

#endif
