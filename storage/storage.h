/* storage: the node's SQLite state (node identity, settings, event log,
 * relays and webhook targets). The only module that includes sqlite3.h.
 *
 * One database file in WAL mode, schema versioned with PRAGMA user_version
 * and forward migrations. storage_open() does everything synchronously at
 * start-up (open, check, migrate, load identity and settings); after that
 * every SQLite call happens on the storage thread, which owns the write
 * connection. The event loop only queues jobs (a bounded queue) and gets the
 * results back as callbacks on the loop thread, through an eventfd watched by
 * the loop. Nothing on the media path waits for the disk.
 *
 * Event inserts are fire-and-forget and batched: consecutive inserts go into
 * one transaction. Jobs run in the order they were queued, so a read queued
 * after an insert sees it, and a done callback means committed (synchronous
 * = FULL: the commit survives kill -9 and power loss).
 *
 * Threading: storage_t is owned by the loop thread that opened it. Every
 * function here is called from the loop thread only, except storage_stats(),
 * which any thread may call, and storage_migrate_file() (tests, no thread).
 * What runs on the storage thread: the queued jobs (event inserts in
 * batches, retention, event reads, setting/relay/hook writes) and the
 * checks that the file is still there; it never calls back itself. Callbacks
 * run on the loop thread, from the libevent callback or from
 * storage_sync() / storage_close().
 * Files: storage.c (open, close), storage_db.c (the file, schema,
 * migrations), storage_load.c (what open loads), storage_queue.c (the
 * thread and its queue), storage_events.c, storage_write.c (the tables),
 * storage_health.c (lost files, errors, stop budget, stats);
 * storage_internal.h holds what they share.
 */
#ifndef WEIR_STORAGE_H
#define WEIR_STORAGE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct storage storage_t;

/* Current schema version (the highest migration). */
#define STORAGE_SCHEMA_VERSION 5

/* Called once on the loop thread (a message from the storage thread) when
 * the database file or its WAL was deleted or replaced while open: why is
 * e.g. "data/weir.db was deleted" (valid during the call). From then on
 * every write fails (NODE_EIO, nothing written) and reads go on from the
 * open file. */
typedef void (*storage_lost_cb)(void *arg, const char *why);

typedef struct {
    uint32_t events_max_rows;     /* events kept at most; 0: no limit */
    uint32_t events_max_age_days; /* older events deleted; 0: no limit */
    uint32_t max_size_mb;         /* database size cap (max_page_count); 0: none */
    uint32_t queue_max;           /* jobs queued at most; 0: default 8192 */
    uint32_t cache_kb;       /* page cache bound (PRAGMA cache_size), KiB; 0: SQLite's default */
    uint32_t stop_budget_ms; /* storage_stopping()'s budget; 0: STORAGE_STOP_BUDGET_MS */
    storage_lost_cb on_lost; /* or NULL; not called after storage_detach() */
    void *lost_arg;
} storage_opts_t;

/* Opens or creates the database at path (creating its parent folder), sets
 * WAL, checks it (quick_check), runs the migrations up to
 * STORAGE_SCHEMA_VERSION, loads the node id (creating it on first start),
 * the settings and the last event id, starts the storage thread and
 * registers its completion event on base. Returns NULL with a message naming
 * the file in err when the file cannot be opened or created, is not a
 * database, is corrupt, or has a newer schema than this build. A refused
 * file is left untouched. With base NULL (tests), done callbacks run only
 * from storage_sync(). */
storage_t *storage_open(const char *path, struct event_base *base, const storage_opts_t *opts,
                        char *err, size_t errlen);
/* Runs every queued job, stops the thread, closes. NULL is a no-op. Pending
 * done callbacks are run before it returns. */
void storage_close(storage_t *st);
/* Takes storage's completion event off the loop, before the loop's base is
 * freed (storage_close() may run after it: the sessions' stop events are
 * written while the node is freed). From then on done callbacks run only
 * from storage_sync() and storage_close(). NULL is a no-op. */
void storage_detach(storage_t *st);
/* The node is stopping (SIGTERM): from now on the writes share a budget of
 * STORAGE_STOP_BUDGET_MS (the busy timeout of each is what is left of it),
 * and once one fails with SQLITE_BUSY (the database is locked by another
 * process) the rest fail at once, without waiting. What is lost that way is
 * logged by storage_close(). Loop thread. NULL is a no-op. */
void storage_stopping(storage_t *st);
#define STORAGE_STOP_BUDGET_MS 5000

/* Waits until every job queued so far has run and its done callback (if
 * any) has been called on this thread. */
void storage_sync(storage_t *st);

/* The SQLite library's version as linked ("3.40.1"; weir --version). Any
 * thread. */
const char *storage_sqlite_version(void);

/* The node's persistent id: a UUID (36 characters), valid until close. */
const char *storage_node_id(const storage_t *st);
/* The highest event id in the database when it was opened (0 if none). */
uint64_t storage_last_event_id(const storage_t *st);
/* A setting loaded at open (key such as "log.level"), or NULL. Settings
 * written later with storage_setting_put() are not reflected here. */
const char *storage_setting(const storage_t *st, const char *key);

/* One event-log row. data is the JSON object text of the event's own
 * fields (without id, type, time), or NULL for none. */
typedef struct {
    uint64_t id;     /* assigned by the caller, increasing */
    int64_t time_ms; /* Unix time in ms */
    const char *type;
    const char *app;  /* or NULL */
    const char *name; /* or NULL */
    const char *data; /* or NULL */
} storage_event_t;

/* Queues an insert of ev (every string copied). Returns 0, NODE_ELIMIT when
 * the queue is full (the event is dropped and counted), NODE_ENOMEM, or
 * NODE_EINVAL (NULL ev or type, id over INT64_MAX). A failed write is logged
 * and counted by the storage thread. */
int storage_event_put(storage_t *st, const storage_event_t *ev);

/* Called on the loop thread with rc 0 and the rows (valid only during the
 * call), or rc < 0 (NODE_EIO, NODE_ENOMEM) and no rows. */
typedef void (*storage_events_cb)(void *arg, int rc, const storage_event_t *rows, size_t n);
/* Queues a read of the events with id > after, oldest first, at most limit
 * (1..1000); types NULL for every type, else only those it lists as
 * ",type1,type2," (copied). Returns 0 (done will be called exactly once) or
 * NODE_ELIMIT / NODE_ENOMEM / NODE_EINVAL (done will not be called). */
int storage_events_get(storage_t *st, uint64_t after, uint32_t limit, const char *types,
                       storage_events_cb done, void *arg);

/* Called on the loop thread: rc 0 once committed, or NODE_EIO. */
typedef void (*storage_done_cb)(void *arg, int rc);
/* Queues a durable write of a setting (key and value copied). Returns 0
 * (done, unless NULL, will be called exactly once) or NODE_ELIMIT /
 * NODE_ENOMEM / NODE_EINVAL (NULL key or value). */
int storage_setting_put(storage_t *st, const char *key, const char *value, storage_done_cb done,
                        void *arg);

/* ---- relays (schema v3: table relays(id TEXT PRIMARY KEY, spec TEXT NOT
 * NULL, updated_ms INTEGER NOT NULL)) ------------------------------------ */

/* One stored spec row (a relay or a hook): its id and its spec as JSON
 * text. */
typedef struct {
    const char *id;
    const char *spec;
} storage_spec_t;

/* One stored relay: its spec is relay_spec.h JSON. */
typedef storage_spec_t storage_relay_t;

/* The relays loaded at open, ordered by id; valid until close. Later puts
 * and deletes are not reflected here. Returns the count. */
size_t storage_relays(const storage_t *st, const storage_relay_t **out);
/* Queues a durable insert-or-replace of relay id (strings copied). Returns 0
 * (done, unless NULL, will be called exactly once: rc 0 once committed, or
 * NODE_EIO) or NODE_ELIMIT / NODE_ENOMEM / NODE_EINVAL (NULL id or spec). */
int storage_relay_put(storage_t *st, const char *id, const char *spec_json, storage_done_cb done,
                      void *arg);
/* Queues a durable delete of relay id (deleting a missing id is rc 0).
 * Same return and callback rules as storage_relay_put(). */
int storage_relay_delete(storage_t *st, const char *id, storage_done_cb done, void *arg);

/* ---- hooks (schema v4: table hooks(id TEXT PRIMARY KEY, spec TEXT NOT NULL,
 * updated_ms INTEGER NOT NULL)) ------------------------------------------ */

/* One stored webhook target: its spec is hook_spec_to_storage_json() text
 * (the secret included: the database is as sensitive as the config file). */
typedef storage_spec_t storage_hook_t;

/* The hooks loaded at open, ordered by id; valid until close. Later puts
 * and deletes are not reflected here. Returns the count. */
size_t storage_hooks(const storage_t *st, const storage_hook_t **out);
/* Queues a durable insert-or-replace of hook id; same rules as
 * storage_relay_put(). */
int storage_hook_put(storage_t *st, const char *id, const char *spec_json, storage_done_cb done,
                     void *arg);
/* Queues a durable delete of hook id (a missing id is rc 0); same rules as
 * storage_relay_delete(). */
int storage_hook_delete(storage_t *st, const char *id, storage_done_cb done, void *arg);

/* ---- recorders and recordings (schema v5: tables recorders and
 * recordings, both (id TEXT PRIMARY KEY, spec TEXT NOT NULL, updated_ms
 * INTEGER NOT NULL)) ----------------------------------------------------- */

/* A recorder: record_spec.h JSON. A recording (an indexed file): its row
 * as JSON (node/record/record_index.c). Loaded at open, ordered by id;
 * valid until close; later writes are not reflected here. */
size_t storage_recorders(const storage_t *st, const storage_spec_t **out);
size_t storage_recordings(const storage_t *st, const storage_spec_t **out);
/* Durable insert-or-replace and delete; same rules as storage_relay_put()
 * and storage_relay_delete(). */
int storage_recorder_put(storage_t *st, const char *id, const char *spec_json,
                         storage_done_cb done, void *arg);
int storage_recorder_delete(storage_t *st, const char *id, storage_done_cb done, void *arg);
int storage_recording_put(storage_t *st, const char *id, const char *row_json,
                          storage_done_cb done, void *arg);
int storage_recording_delete(storage_t *st, const char *id, storage_done_cb done, void *arg);

typedef struct {
    uint64_t events_written; /* rows committed */
    uint64_t events_dropped; /* queue full */
    uint64_t events_failed;  /* lost with a batch whose write failed */
    uint64_t write_errors;   /* failed operations (BEGIN, insert, COMMIT...: disk full, I/O) */
    uint64_t queue_depth;    /* jobs queued or running now */
    int thread_alive;        /* 0 if the storage thread is gone */
    int lost;                /* the database file was deleted or replaced (storage_lost_cb) */
    uint64_t sqlite_memory;  /* bytes SQLite holds now (page cache, statements), process-wide */
} storage_stats_t;
/* Counters, readable from any thread. */
void storage_stats(const storage_t *st, storage_stats_t *out);

/* For tests: creates or migrates the database file at path up to version
 * (1..STORAGE_SCHEMA_VERSION) synchronously, with no thread. Returns 0 or
 * -1 with err (also for a file already past version: no downgrades). */
int storage_migrate_file(const char *path, int version, char *err, size_t errlen);

#endif
