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
/* 1 when app/name is being recorded now. */
int record_mgr_recording(record_mgr_t *m, const char *app, const char *name);

#endif
