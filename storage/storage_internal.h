/* storage_internal: what storage's files share. storage_t is owned by
 * the loop thread that opened it (storage_open() .. storage_close()); its
 * SQLite connection and the prepared statements belong to the storage
 * thread while it runs (see each field's note and README.md "Threading").
 *
 * Which thread calls what:
 *   loop thread     storage.c (open, close), storage_load.c (what was
 *                   loaded at open), storage_queue_push() and the public
 *                   puts and gets that build jobs (storage_events.c,
 *                   storage_write.c), storage_sync(), storage_detach(),
 *                   storage_stopping();
 *   storage thread  the thread's loop (storage_queue.c), the runners
 *                   (storage_events_insert/commit/read(),
 *                   storage_write_run()) and the checks and error counts
 *                   of storage_health.c;
 *   loop thread, before the storage thread exists (storage_open(), and
 *                   storage_migrate_file() for tests)  storage_db.c;
 *   any thread      storage_stats().
 */
#ifndef WEIR_STORAGE_INTERNAL_H
#define WEIR_STORAGE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/util.h>
#include <sqlite3.h>

#include "storage.h"

#define STORAGE_QUEUE_DEFAULT 8192u
#define STORAGE_BUSY_TIMEOUT_MS 5000
#define STORAGE_BATCH_MAX 1024u         /* inserts per transaction at most */
#define STORAGE_RETAIN_DELETE_MAX 10000 /* rows deleted per rule per batch at most */
#define STORAGE_ERRLOG_INTERVAL_MS 10000
#define STORAGE_GET_MAX 1000u
#define STORAGE_NODE_ID_LEN 36
#define STORAGE_CHECK_MS 1000 /* an idle thread checks the files this often */

/* JOB_SETTING and the spec puts and deletes (JOB_RELAY_*, JOB_HOOK_*) are
 * durable writes with a storage_done_cb (u.set; a delete has no value). */
typedef enum {
    JOB_EVENT,
    JOB_GET,
    JOB_SETTING,
    JOB_RELAY_PUT,
    JOB_RELAY_DEL,
    JOB_HOOK_PUT,
    JOB_HOOK_DEL,
    JOB_RECORDER_PUT,
    JOB_RECORDER_DEL,
    JOB_RECORDING_PUT,
    JOB_RECORDING_DEL,
    JOB_LOST /* not queued: the thread's "file lost" message to the loop */
} job_kind_t;

typedef struct job job_t;
struct job {
    job_t *next;
    job_kind_t kind;
    int rc;
    union {
        storage_event_t put; /* strings point into buf */
        struct {
            uint64_t after;
            uint32_t limit;
            char *types; /* NULL, or ",type1,type2," (owned) */
            storage_events_cb done;
            void *arg;
            storage_event_t *rows; /* each row's strings malloc'ed */
            size_t n;
        } get;
        struct {
            const char *key, *value; /* into buf; value NULL for a delete */
            storage_done_cb done;
            void *arg;
        } set;
        struct {
            const char *why;    /* into buf */
            storage_lost_cb cb; /* NULL once detached */
            void *arg;
        } lost;
    } u;
    char buf[];
};

typedef struct {
    char *key, *value;
} setting_t;

struct storage {
    char *path;
    sqlite3 *db;
    storage_opts_t opts;
    char node_id[STORAGE_NODE_ID_LEN + 1];
    uint64_t last_event_id;
    setting_t *settings;
    size_t nsettings;
    storage_spec_t *relays; /* loaded at open, by id; strings malloc'ed */
    size_t nrelays;
    storage_spec_t *hooks; /* same, hooks */
    size_t nhooks;
    storage_spec_t *recorders, *recordings; /* same, recorders and recordings */
    size_t nrecorders, nrecordings;

    /* prepared once at open, used by the storage thread */
    sqlite3_stmt *s_begin, *s_commit, *s_rollback;
    sqlite3_stmt *s_insert, *s_get, *s_setting;
    sqlite3_stmt *s_relay_put, *s_relay_del;
    sqlite3_stmt *s_hook_put, *s_hook_del;
    sqlite3_stmt *s_recorder_put, *s_recorder_del, *s_recording_put, *s_recording_del;
    sqlite3_stmt *s_keep_rows, *s_keep_age;

    /* queue and done list, under mu */
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* the thread waits for jobs or stop */
    pthread_cond_t done_cv; /* storage_sync waits for seq_done */
    job_t *q_head, *q_tail;
    job_t *d_head, *d_tail;
    uint64_t seq_queued; /* jobs ever queued */
    uint64_t seq_done;   /* jobs ever run (their callbacks are on the done list) */
    uint32_t pending;    /* queued or being run: the bound is on this */
    int stop;

    int detached; /* under mu: storage_detach() ran, no more lost messages */

    /* The files as opened (set before the thread starts, then read-only):
     * a path that no longer leads to them means they were deleted or
     * replaced (storage_health_check(), storage thread). */
    dev_t db_dev, wal_dev;
    ino_t db_ino, wal_ino;
    int track_wal; /* the WAL existed at open */
    /* storage thread only */
    int64_t checked_ms;
    int stop_busy; /* stopping, and a write met the lock: the rest fail at once */
    uint64_t stop_lost_events, stop_lost_writes;

    pthread_t thread;
    int thread_started;
    int efd;
    struct event *ev;

    /* storage thread only: rate-limited error log */
    int64_t errlog_last_ms;
    int errlog_any;
    uint64_t errlog_suppressed;
    char errmsg[256]; /* sqlite3_errmsg() of the last failed step */

    /* any thread (storage_stats) */
    _Atomic uint64_t events_written;
    _Atomic uint64_t events_dropped;
    _Atomic uint64_t events_failed;
    _Atomic uint64_t write_errors;
    _Atomic uint64_t queue_depth;
    _Atomic int thread_alive;
    _Atomic int lost;                 /* set by the storage thread, once */
    _Atomic int64_t stop_deadline_ms; /* storage_stopping(): 0, or the budget's end */
};

/* One run of consecutive inserts on the storage thread. */
typedef struct {
    int open;       /* BEGIN IMMEDIATE done */
    int lost;       /* rolled back: the rest of this batch is dropped */
    int full;       /* lost to SQLITE_FULL */
    uint32_t jobs;  /* inserts seen in this batch */
    uint32_t rows;  /* rows inserted, not yet committed */
    uint32_t nlost; /* inserts discarded by a rollback */
} batch_t;

/* ---- the database file (storage_db.c; at open, before the thread) ------- */

/* Describes a failed SQLite call on the file at path into err. */
void storage_db_fail(char *err, size_t errlen, const char *path, sqlite3 *db, int rc,
                     const char *what);
/* Runs a statement returning one integer row (0 when no row). */
int storage_db_query_int(sqlite3 *db, const char *sql, int64_t *out);
/* Opens path (creating its folder) and checks it: a database, not from a
 * newer build, not corrupt; then WAL, synchronous=FULL, foreign keys.
 * Nothing is written to a file that is refused. Sets *version to its
 * user_version. Returns NULL with err. */
sqlite3 *storage_db_open(const char *path, int *version, char *err, size_t errlen);
/* Applies the migrations after version up to target, each in its own
 * transaction together with its user_version. Returns 0 or -1 with err. */
int storage_db_migrate(sqlite3 *db, const char *path, int version, int target, char *err,
                       size_t errlen);
/* The stop budget in force (opts.stop_budget_ms, or STORAGE_STOP_BUDGET_MS). */
uint32_t storage_stop_budget_ms(const storage_t *st);
/* The bounds of opts: cache_kb (cache_size) and max_size_mb
 * (max_page_count). Returns 0 or -1 with err. */
int storage_db_limits(storage_t *st, char *err, size_t errlen);
/* Prepares every statement of st (SQLITE_PREPARE_PERSISTENT), or -1 with
 * err; storage_db_finalize() finalizes them (NULL ones too). */
int storage_db_prepare(storage_t *st, char *err, size_t errlen);
void storage_db_finalize(storage_t *st);

/* ---- what open loads (storage_load.c; loop thread, before the thread) --- */

/* The node id (made on first start), the settings, the relays, the hooks
 * and the last event id. Returns 0 or -1 with err. */
int storage_load(storage_t *st, char *err, size_t errlen);
/* Frees what storage_load() loaded. */
void storage_load_free(storage_t *st);

/* ---- the queue and the thread (storage_queue.c) ------------------------- */

/* Loop thread: appends j to the queue, or returns NODE_ELIMIT when it is
 * full or closing (j is then still the caller's). */
int storage_queue_push(storage_t *st, job_t *j);
/* Copies s (NULL: none) to *p and moves *p past it; returns the copy. */
char *storage_queue_copy(char **p, const char *s);
/* Storage thread, under mu: appends j to the done list and pokes the loop. */
void storage_queue_done(storage_t *st, job_t *j);
/* Loop thread, at open: the eventfd, its event on base (unless NULL) and
 * the thread. Returns 0 or -1 with err. */
int storage_queue_start(storage_t *st, struct event_base *base, char *err, size_t errlen);
/* Loop thread, at close: syncs until no callback queues more work, then
 * stops and joins the thread. */
void storage_queue_stop(storage_t *st);
/* Loop thread: calls back and frees the jobs done so far. */
void storage_queue_deliver(storage_t *st);

/* ---- the events table (storage_events.c; storage thread) ---------------- */

/* Adds ev to the batch b (opening its transaction first). */
void storage_events_insert(storage_t *st, batch_t *b, const storage_event_t *ev);
/* Commits the batch (after retention) and starts a new one. */
void storage_events_commit(storage_t *st, batch_t *b);
/* Runs a JOB_GET: sets j->rc and its rows. */
void storage_events_read(storage_t *st, job_t *j);
/* Retention in a transaction of its own (after SQLITE_FULL). */
void storage_events_retain(storage_t *st);
/* Frees the rows of a JOB_GET (any thread that owns the job). */
void storage_events_rows_free(storage_event_t *rows, size_t n);

/* ---- settings, relays and hooks (storage_write.c; storage thread) ------- */

/* Runs a durable write job: sets j->rc. */
void storage_write_run(storage_t *st, job_t *j);

/* ---- files, errors and the stop budget (storage_health.c) --------------- */

/* Loop thread, at open: notes which files the database and its WAL are. */
int storage_health_note_files(storage_t *st, char *err, size_t errlen);
/* Storage thread: checks that the database and its WAL are still the files
 * at their paths; returns 0, or -1 once lost (the loop hears of it). */
int storage_health_check(storage_t *st);
/* Storage thread, before a write transaction: 1 if it may run. */
int storage_health_write_allowed(storage_t *st);
/* Storage thread: counts a failed statement or commit and logs it, rate
 * limited. */
void storage_health_write_error(storage_t *st, const char *what, int rc);
/* Storage thread: sqlite3_step() keeping the message of a failure for
 * storage_health_write_error(); _done also resets the statement (for
 * statements returning no rows). */
int storage_health_step(storage_t *st, sqlite3_stmt *s);
int storage_health_step_done(storage_t *st, sqlite3_stmt *s);
/* Loop thread, at close after the join: logs what was held back or lost. */
void storage_health_log_close(storage_t *st);

#endif
