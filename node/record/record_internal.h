/* record_internal: what record_writer.c and record_job.c share: a
 * recording's writer-side state and the writer's result and counter hooks.
 * Writer thread only (but record_job_new(), on the loop before the job is
 * handed over). */
#ifndef WEIR_RECORD_INTERNAL_H
#define WEIR_RECORD_INTERNAL_H

#include "record_fmp4.h"
#include "record_queue.h"
#include "record_writer.h"

struct record_job {
    uint64_t rec_id;
    record_spec_t spec;
    char app[STREAM_APP_MAX];
    char name[STREAM_NAME_MAX];
    char root[CONF_PATH_MAX];
    record_file_t *file;
    record_fmp4_t *fmp4; /* fmp4 format: the open file's tracks and fragment */
    int fmp4_left_out;   /* a frame without a track in the open fMP4 file was logged */
    char rel[RECORD_FILE_MAX]; /* the open file's path under root */
    int64_t start_wall_ms;
    uint32_t base_ts, last_ts; /* the file's first and last stream timestamps */
    uint32_t seq;              /* files started */
    uint8_t *hdr[2];           /* sequence headers: [0] audio, [1] video (malloc'd) */
    uint32_t hdr_len[2];
    int has_video;
    int failed;          /* in a failure episode: waiting to retry */
    int64_t retry_at_ms; /* monotonic */
    uint32_t backoff_ms;
};

/* Sends a result to the loop (record_writer.c). */
void record_writer_result(record_writer_t *w, const record_result_t *r);
/* Counts bytes written. */
void record_writer_count_bytes(record_writer_t *w, uint64_t n);

/* Handles one item of the job (record_job.c); CLOSE frees the job. */
void record_job_handle(record_writer_t *w, record_job_t *job, const record_item_t *it);

#endif
