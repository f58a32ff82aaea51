/* storage_health: what keeps storage honest about what it wrote
 * (storage_internal.h): a database file or WAL deleted or replaced while
 * open (then every write fails and the loop is told once), the stop
 * budget, the rate-limited log of failed writes, and the counters.
 * storage_health_note_files() runs on the loop thread at open,
 * storage_stopping() and storage_health_log_close() on the loop thread;
 * the checks, steps and error counts on the storage thread;
 * storage_stats() on any thread (atomics).
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "log.h"
#include "storage_internal.h"

/* ---- lost files (storage thread; note_files at open) -------------------- */

int storage_health_note_files(storage_t *st, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(st->path, &sb) != 0) {
        snprintf(err, errlen, "%s: %s", st->path, strerror(errno));
        return -1;
    }
    st->db_dev = sb.st_dev;
    st->db_ino = sb.st_ino;
    char wal[PATH_MAX];
    snprintf(wal, sizeof wal, "%s-wal", st->path);
    if (stat(wal, &sb) == 0) {
        st->wal_dev = sb.st_dev;
        st->wal_ino = sb.st_ino;
        st->track_wal = 1;
    }
    st->checked_ms = weir_mono_ms();
    return 0;
}

/* The file is lost: every write fails from now on; the loop hears of it
 * through a JOB_LOST on the done list (unless detached). */
static void file_lost(storage_t *st, const char *file, const char *how)
{
    atomic_store(&st->lost, 1);
    char why[PATH_MAX + 64];
    snprintf(why, sizeof why, "%s was %s", file, how);
    job_t *j = st->opts.on_lost ? calloc(1, sizeof *j + strlen(why) + 1) : NULL;
    if (!j)
        return;
    j->kind = JOB_LOST;
    j->u.lost.why = strcpy(j->buf, why);
    j->u.lost.cb = st->opts.on_lost;
    j->u.lost.arg = st->opts.lost_arg;
    pthread_mutex_lock(&st->mu);
    if (st->detached)
        free(j);
    else
        storage_queue_done(st, j);
    pthread_mutex_unlock(&st->mu);
}

/* 0 while path leads to the file opened as (dev, ino); else "deleted" or
 * "replaced". Another stat error (a folder made unreadable) is not taken as
 * a loss: it says nothing about the file. */
static const char *file_moved(const char *path, dev_t dev, ino_t ino)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return errno == ENOENT || errno == ENOTDIR ? "deleted" : NULL;
    return sb.st_dev != dev || sb.st_ino != ino ? "replaced" : NULL;
}

/* Checks that the database and its WAL are still the files at their paths
 * (deleting them while the node runs loses every later write at the next
 * start). Returns 0, or -1 once lost. */
int storage_health_check(storage_t *st)
{
    if (atomic_load(&st->lost))
        return -1;
    st->checked_ms = weir_mono_ms();
    const char *how = file_moved(st->path, st->db_dev, st->db_ino);
    if (how) {
        file_lost(st, st->path, how);
        return -1;
    }
    if (!st->track_wal)
        return 0;
    char wal[PATH_MAX];
    snprintf(wal, sizeof wal, "%s-wal", st->path);
    how = file_moved(wal, st->wal_dev, st->wal_ino);
    if (how) {
        file_lost(st, wal, how);
        return -1;
    }
    return 0;
}

/* ---- writes: the stop budget, steps and errors (storage thread) --------- */

/* Before a write transaction: 1 if it may run. Not once the file is lost,
 * nor when stopping past the budget or after a write met the lock; else,
 * when stopping, its busy timeout is what is left of the budget. */
int storage_health_write_allowed(storage_t *st)
{
    if (storage_health_check(st) != 0)
        return 0;
    int64_t deadline = atomic_load(&st->stop_deadline_ms);
    if (!deadline)
        return 1;
    int64_t left = deadline - weir_mono_ms();
    if (st->stop_busy || left <= 0)
        return 0;
    sqlite3_busy_timeout(st->db,
                         (int)(left < STORAGE_BUSY_TIMEOUT_MS ? left : STORAGE_BUSY_TIMEOUT_MS));
    return 1;
}

/* Counts a failed statement or commit and logs it, at most one line per
 * STORAGE_ERRLOG_INTERVAL_MS (with the number of lines held back). */
void storage_health_write_error(storage_t *st, const char *what, int rc)
{
    atomic_fetch_add(&st->write_errors, 1);
    if ((rc & 0xff) == SQLITE_BUSY && atomic_load(&st->stop_deadline_ms))
        st->stop_busy = 1; /* locked by another process: the rest fail at once */
    int64_t now = weir_mono_ms();
    if (st->errlog_any && now - st->errlog_last_ms < STORAGE_ERRLOG_INTERVAL_MS) {
        st->errlog_suppressed++;
        return;
    }
    const char *msg = st->errmsg[0] ? st->errmsg : sqlite3_errstr(rc);
    if (st->errlog_suppressed)
        log_error(0, "storage: %s: %s (%llu similar errors not logged)", what, msg,
                  (unsigned long long)st->errlog_suppressed);
    else
        log_error(0, "storage: %s: %s", what, msg);
    st->errlog_any = 1;
    st->errlog_last_ms = now;
    st->errlog_suppressed = 0;
}

/* Keeps the message of a failed step for storage_health_write_error(),
 * before a reset or a rollback replaces it. */
int storage_health_step(storage_t *st, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        snprintf(st->errmsg, sizeof st->errmsg, "%s", sqlite3_errmsg(st->db));
    return rc;
}

int storage_health_step_done(storage_t *st, sqlite3_stmt *s)
{
    int rc = storage_health_step(st, s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

/* ---- the loop's side ---------------------------------------------------- */

uint32_t storage_stop_budget_ms(const storage_t *st)
{
    return st->opts.stop_budget_ms ? st->opts.stop_budget_ms : STORAGE_STOP_BUDGET_MS;
}

void storage_stopping(storage_t *st)
{
    if (st && !atomic_load(&st->stop_deadline_ms))
        atomic_store(&st->stop_deadline_ms, weir_mono_ms() + storage_stop_budget_ms(st));
}

void storage_health_log_close(storage_t *st)
{
    if (st->errlog_suppressed) /* the thread is gone: its fields are ours */
        log_error(0, "storage: write errors not logged (rate limit): %llu",
                  (unsigned long long)st->errlog_suppressed);
    if (st->stop_lost_events || st->stop_lost_writes)
        log_error(0,
                  "storage: stopping: %llu events and %llu changes not written (%s; the stop "
                  "waits at most %d ms for the database)",
                  (unsigned long long)st->stop_lost_events,
                  (unsigned long long)st->stop_lost_writes,
                  atomic_load(&st->lost) ? "the database file is lost"
                  : st->stop_busy        ? "the database is locked by another process"
                                         : "write errors",
                  (int)storage_stop_budget_ms(st));
}

void storage_stats(const storage_t *st, storage_stats_t *out)
{
    storage_t *m = (storage_t *)st; /* atomics: loads only */
    out->events_written = atomic_load(&m->events_written);
    out->events_dropped = atomic_load(&m->events_dropped);
    out->events_failed = atomic_load(&m->events_failed);
    out->write_errors = atomic_load(&m->write_errors);
    out->queue_depth = atomic_load(&m->queue_depth);
    out->thread_alive = atomic_load(&m->thread_alive);
    out->lost = atomic_load(&m->lost);
    /* SQLite's own counter, thread-safe (SQLITE_DEFAULT_MEMSTATUS is on in
     * Debian's build; with it off it reads 0) */
    out->sqlite_memory = (uint64_t)sqlite3_memory_used();
}
