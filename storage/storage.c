/* storage: SQLite state on its own thread. See storage.h and README.md.
 *
 * Open (storage_open, loop thread): open, check, migrate (storage_db.c),
 * load identity, settings, relays and hooks (storage_load.c), prepare the
 * statements, note the files (storage_health.c), then start the thread
 * (storage_queue.c); from then on only the storage thread touches the
 * connection, until storage_close() has joined it (pthread_create and
 * pthread_join order those hand-overs, so the connection is opened
 * SQLITE_OPEN_NOMUTEX). Loop thread only.
 */
#include "storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "storage_internal.h"

static void storage_free(storage_t *st)
{
    if (st->ev)
        event_free(st->ev);
    if (st->efd >= 0)
        close(st->efd);
    storage_db_finalize(st);
    sqlite3_close_v2(st->db);
    storage_load_free(st);
    free(st->path);
    pthread_cond_destroy(&st->done_cv);
    pthread_cond_destroy(&st->work_cv);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

static void cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

/* The storage_t of path, its locks and options, with nothing opened. */
static storage_t *storage_new(const char *path, const storage_opts_t *opts, char *err,
                              size_t errlen)
{
    storage_t *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    st->efd = -1;
    pthread_mutex_init(&st->mu, NULL);
    cond_init_monotonic(&st->work_cv); /* wait_for_work() waits on CLOCK_MONOTONIC */
    pthread_cond_init(&st->done_cv, NULL);
    if (opts)
        st->opts = *opts;
    if (!st->opts.queue_max)
        st->opts.queue_max = STORAGE_QUEUE_DEFAULT;
    st->path = strdup(path);
    if (!st->path) {
        snprintf(err, errlen, "%s: out of memory", path);
        storage_free(st);
        return NULL;
    }
    return st;
}

/* Opens, checks and migrates the file, sets its bounds, loads what open
 * loads and prepares the statements. Returns 0 or -1 with err. */
static int storage_prepare_db(storage_t *st, char *err, size_t errlen)
{
    int version = 0;
    st->db = storage_db_open(st->path, &version, err, errlen);
    if (!st->db)
        return -1;
    if (storage_db_migrate(st->db, st->path, version, STORAGE_SCHEMA_VERSION, err, errlen) != 0 ||
        storage_db_limits(st, err, errlen) != 0 || storage_load(st, err, errlen) != 0 ||
        storage_db_prepare(st, err, errlen) != 0)
        return -1;
    return 0;
}

storage_t *storage_open(const char *path, struct event_base *base, const storage_opts_t *opts,
                        char *err, size_t errlen)
{
    storage_t *st = storage_new(path, opts, err, errlen);
    if (!st)
        return NULL;
    if (storage_prepare_db(st, err, errlen) != 0 ||
        storage_health_note_files(st, err, errlen) != 0 ||
        storage_queue_start(st, base, err, errlen) != 0) {
        storage_free(st);
        return NULL;
    }
    return st;
}

void storage_close(storage_t *st)
{
    if (!st)
        return;
    storage_queue_stop(st);
    storage_health_log_close(st);
    storage_queue_deliver(st);
    storage_free(st);
}
