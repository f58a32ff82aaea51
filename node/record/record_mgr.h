/* record_mgr: the node's recording on the loop thread: the recorders (the
 * config file's "recorders", the API's, and one-off recordings of one
 * stream), a recording per (recorder, live stream) fed by a stream tap
 * (stream_tap.h), and the writer thread (record_writer.h) that owns the
 * files. The tap copies each message into the writer's bounded queue; a
 * full queue drops (counted, logged once per episode, a record.fail with
 * reason "queue_full") and the recording goes on at the next key frame: a
 * slow disk never delays the publisher or the players.
 * Events: record.start, record.segment, record.stop, record.fail
 * (node_event(): the event log and the webhooks).
 * Owned by the node (node->records); loop thread only.
 */
#ifndef WEIR_RECORD_MGR_H
#define WEIR_RECORD_MGR_H

#include <stddef.h>
#include <stdint.h>

#include "node.h"
#include "record_spec.h"
#include "spec_store.h"

typedef struct record_mgr record_mgr_t;

#define RECORD_RECORDERS_MAX 256 /* recorders of every source at once */
#define RECORD_RECORDINGS_MAX 4096 /* recordings (recorder, stream) at once */

/* The folder of the files (absolute): record.root, or "recordings"
 * beside storage.path when it is "". */
void record_root_of(const conf_t *c, char *out, size_t outlen);

/* Makes node->records from the config (and storage), starts the writer
 * and registers the tick that attaches recordings to live streams.
 * Returns 0, or -1 with err. */
int record_mgr_start(node_t *node, char *err, size_t errlen);

typedef struct {
    uint64_t bytes, files;
    uint64_t fails[4];     /* record_err_t order: 0 is the queue (dropped messages episodes) */
    uint64_t dropped_msgs; /* refused by the full queue */
    uint64_t recordings;   /* active now */
    size_t queue_items, queue_bytes;
} record_mgr_stats_t;

void record_mgr_stats(record_mgr_t *m, record_mgr_stats_t *out);

/* ---- recorders (the API: loop thread) --------------------------------------
 * Changes go through spec_store (storage/spec_store.h): checked at their
 * turn (404 no such recorder, 409 a config-file one or an id in use, 400
 * "path: ..." when another recorder would write the same files), stored,
 * then applied; done is called once, later. Recordings of a deleted or
 * disabled recorder stop at the next tick. */
int record_mgr_put(record_mgr_t *m, const record_spec_t *spec, int create_only,
                   const char *if_match, spec_done_cb done, void *arg, char *err, size_t errlen);
int record_mgr_delete(record_mgr_t *m, const char *id, const char *if_match, spec_done_cb done,
                      void *arg, char *err, size_t errlen);
void record_mgr_new_id(record_mgr_t *m, char out[RECORD_ID_MAX]);
const record_spec_t *record_mgr_spec(record_mgr_t *m, const char *id);
/* RECORDER_API 0, RECORDER_CONFIG 1, RECORDER_ONEOFF 2; -1 when unknown. */
int record_mgr_source(record_mgr_t *m, const char *id);
/* Every recorder in id order. */
void record_mgr_foreach(record_mgr_t *m, void (*cb)(const record_spec_t *s, int source, void *arg),
                        void *arg);
/* Changes waiting for storage. */
size_t record_mgr_changes_waiting(const record_mgr_t *m);
/* The entity tag of a spec (spec_etag() of its JSON). 0 or -1. */
int record_spec_etag(record_mgr_t *m, const record_spec_t *s, char out[SPEC_ETAG_MAX]);

/* One-off recording of one stream (POST/DELETE /api/v1/streams/{app}/{name}/record):
 * a recorder of source RECORDER_ONEOFF, not stored, gone when stopped or
 * when its stream ends. start: 0 with the new recorder's id in err;
 * NODE_EBUSY (one is running: its id in err); NODE_EINVAL (path clash, err
 * says so); NODE_ELIMIT. stop: 0 or NODE_ENOTFOUND. */
int record_mgr_oneoff_start(record_mgr_t *m, const record_spec_t *spec, char *err, size_t errlen);
int record_mgr_oneoff_stop(record_mgr_t *m, const char *app, const char *name);

/* ---- the index of recorded files (the API: loop thread) ----------------- */

typedef struct {
    uint64_t id;
    const char *recorder, *app, *name, *path; /* valid until the loop runs again */
    const char *format;
    int64_t start_ms, end_ms; /* Unix ms */
    uint32_t duration_ms;
    uint64_t bytes;
    const char *codecs;
    int closed_cleanly;
} record_file_info_t;

/* The finished files with an id above after, in id order, that match
 * app/name (NULL: any) and overlap [from_ms, to_ms] (0: open), until cb
 * returns nonzero. */
void record_mgr_files(record_mgr_t *m, uint64_t after, const char *app, const char *name,
                      int64_t from_ms, int64_t to_ms,
                      int (*cb)(const record_file_info_t *f, void *arg), void *arg);
/* One finished file. 0, or NODE_ENOTFOUND. */
int record_mgr_file(record_mgr_t *m, uint64_t id, record_file_info_t *out);
/* Its absolute path into out. */
void record_mgr_file_path(record_mgr_t *m, const record_file_info_t *f, char *out, size_t outlen);
/* Deletes its file and row. 0, or NODE_ENOTFOUND. */
int record_mgr_file_delete(record_mgr_t *m, uint64_t id);
/* 1 when app/name is being recorded now. */
int record_mgr_recording(record_mgr_t *m, const char *app, const char *name);

#endif
