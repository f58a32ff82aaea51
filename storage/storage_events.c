/* storage_events: the events table (storage_internal.h): the loop
 * thread's storage_event_put() and storage_events_get() queue jobs; on the
 * storage thread, consecutive inserts share one transaction (a batch, up to
 * STORAGE_BATCH_MAX rows) with retention at its end, and reads fill the
 * job's rows for its callback.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "log.h"
#include "storage_internal.h"

void storage_events_rows_free(storage_event_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)rows[i].type);
        free((char *)rows[i].app);
        free((char *)rows[i].name);
        free((char *)rows[i].data);
    }
    free(rows);
}

int storage_event_put(storage_t *st, const storage_event_t *ev)
{
    if (!ev || !ev->type || ev->id > INT64_MAX)
        return NODE_EINVAL;
    size_t len = strlen(ev->type) + 1;
    len += ev->app ? strlen(ev->app) + 1 : 0;
    len += ev->name ? strlen(ev->name) + 1 : 0;
    len += ev->data ? strlen(ev->data) + 1 : 0;
    job_t *j = malloc(sizeof *j + len);
    if (!j)
        return NODE_ENOMEM;
    j->kind = JOB_EVENT;
    j->rc = 0;
    char *p = j->buf;
    j->u.put.id = ev->id;
    j->u.put.time_ms = ev->time_ms;
    j->u.put.type = storage_queue_copy(&p, ev->type);
    j->u.put.app = storage_queue_copy(&p, ev->app);
    j->u.put.name = storage_queue_copy(&p, ev->name);
    j->u.put.data = storage_queue_copy(&p, ev->data);
    int rc = storage_queue_push(st, j);
    if (rc != 0) {
        free(j);
        atomic_fetch_add(&st->events_dropped, 1);
    }
    return rc;
}

int storage_events_get(storage_t *st, uint64_t after, uint32_t limit, const char *types,
                       storage_events_cb done, void *arg)
{
    if (!done || limit < 1 || limit > STORAGE_GET_MAX)
        return NODE_EINVAL;
    job_t *j = calloc(1, sizeof *j);
    if (j && types && !(j->u.get.types = strdup(types))) {
        free(j);
        j = NULL;
    }
    if (!j)
        return NODE_ENOMEM;
    j->kind = JOB_GET;
    j->u.get.after = after;
    j->u.get.limit = limit;
    j->u.get.done = done;
    j->u.get.arg = arg;
    int rc = storage_queue_push(st, j);
    if (rc != 0) {
        free(j->u.get.types);
        free(j);
    }
    return rc;
}

/* ---- on the storage thread ---------------------------------------------- */

static void batch_rollback(storage_t *st, batch_t *b)
{
    if (!sqlite3_get_autocommit(st->db))
        storage_health_step_done(st, st->s_rollback);
    b->nlost += b->rows;
    b->open = 0;
    b->lost = 1;
    b->rows = 0;
}

/* Deletes what the retention rules say, inside the batch transaction.
 * Returns 0, or -1 when the transaction is gone. */
static int retain(storage_t *st)
{
    if (st->opts.events_max_rows) {
        sqlite3_bind_int64(st->s_keep_rows, 1, st->opts.events_max_rows);
        sqlite3_bind_int(st->s_keep_rows, 2, STORAGE_RETAIN_DELETE_MAX);
        int rc = storage_health_step_done(st, st->s_keep_rows);
        if (rc != SQLITE_DONE) {
            storage_health_write_error(st, "retention (max rows)", rc);
            if (sqlite3_get_autocommit(st->db))
                return -1;
        }
    }
    if (st->opts.events_max_age_days) {
        int64_t cut = weir_wall_ms() - (int64_t)st->opts.events_max_age_days * 86400000;
        sqlite3_bind_int64(st->s_keep_age, 1, cut);
        sqlite3_bind_int(st->s_keep_age, 2, STORAGE_RETAIN_DELETE_MAX);
        int rc = storage_health_step_done(st, st->s_keep_age);
        if (rc != SQLITE_DONE) {
            storage_health_write_error(st, "retention (max age)", rc);
            if (sqlite3_get_autocommit(st->db))
                return -1;
        }
    }
    return 0;
}

/* Retention in a transaction of its own: after a batch was lost to a full
 * database, so that rows past the limits (aged out since the last commit)
 * still make room for the next batch. */
void storage_events_retain(storage_t *st)
{
    if ((!st->opts.events_max_rows && !st->opts.events_max_age_days) || !storage_health_write_allowed(st))
        return;
    int rc = storage_health_step_done(st, st->s_begin);
    if (rc != SQLITE_DONE) {
        storage_health_write_error(st, "begin (retention)", rc);
        return;
    }
    if (retain(st) == 0) {
        rc = storage_health_step_done(st, st->s_commit);
        if (rc != SQLITE_DONE)
            storage_health_write_error(st, "commit (retention)", rc);
    }
    if (!sqlite3_get_autocommit(st->db))
        storage_health_step_done(st, st->s_rollback);
}

void storage_events_commit(storage_t *st, batch_t *b)
{
    if (b->open) {
        int ok = b->rows == 0 || retain(st) == 0;
        if (ok) {
            int rc = storage_health_step_done(st, st->s_commit);
            if (rc == SQLITE_DONE) {
                atomic_fetch_add(&st->events_written, b->rows);
            } else {
                storage_health_write_error(st, "commit", rc);
                if ((rc & 0xff) == SQLITE_FULL)
                    b->full = 1;
                ok = 0;
            }
        }
        if (!ok)
            batch_rollback(st, b);
    }
    if (b->nlost) {
        atomic_fetch_add(&st->events_failed, b->nlost);
        if (atomic_load(&st->stop_deadline_ms))
            st->stop_lost_events += b->nlost;
        log_debug(0, "storage: %u events lost with a rolled-back batch", b->nlost);
    }
    int full = b->full;
    memset(b, 0, sizeof *b);
    if (full)
        storage_events_retain(st);
}

void storage_events_insert(storage_t *st, batch_t *b, const storage_event_t *ev)
{
    if (b->jobs == STORAGE_BATCH_MAX)
        storage_events_commit(st, b);
    b->jobs++;
    if (b->lost) {
        b->nlost++;
        return;
    }
    if (!b->open && !storage_health_write_allowed(st)) {
        b->lost = 1; /* the file is lost, or stopping with the database locked */
        b->nlost++;
        return;
    }
    if (!b->open) {
        int rc = storage_health_step_done(st, st->s_begin);
        if (rc != SQLITE_DONE) {
            storage_health_write_error(st, "begin", rc);
            b->lost = 1;
            b->nlost++;
            return;
        }
        b->open = 1;
    }
    sqlite3_stmt *s = st->s_insert;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)ev->id);
    sqlite3_bind_int64(s, 2, ev->time_ms);
    sqlite3_bind_text(s, 3, ev->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, ev->app, -1, SQLITE_STATIC); /* NULL binds NULL */
    sqlite3_bind_text(s, 5, ev->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, ev->data, -1, SQLITE_STATIC);
    int rc = storage_health_step(st, s);
    if (rc == SQLITE_DONE) {
        b->rows++;
    } else {
        storage_health_write_error(st, "insert event", rc);
        if ((rc & 0xff) == SQLITE_FULL)
            b->full = 1;
        /* a constraint (duplicate id) undoes only this row; anything else
         * (disk full, I/O) loses the batch */
        if ((rc & 0xff) != SQLITE_CONSTRAINT || sqlite3_get_autocommit(st->db)) {
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
            batch_rollback(st, b);
            b->nlost++;
            return;
        }
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static char *col_dup(sqlite3_stmt *s, int col, int *oom)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    if (!t)
        return NULL;
    char *d = strdup((const char *)t);
    if (!d)
        *oom = 1;
    return d;
}

void storage_events_read(storage_t *st, job_t *j)
{
    sqlite3_stmt *s = st->s_get;
    uint64_t after = j->u.get.after > INT64_MAX ? INT64_MAX : j->u.get.after;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)after);
    sqlite3_bind_int(s, 2, (int)j->u.get.limit);
    if (j->u.get.types) /* else ?3 stays NULL: every type */
        sqlite3_bind_text(s, 3, j->u.get.types, -1, SQLITE_STATIC);
    storage_event_t *rows = calloc(j->u.get.limit, sizeof *rows);
    size_t n = 0;
    int rc = rows ? SQLITE_OK : SQLITE_NOMEM, oom = 0;
    while (rows && (rc = sqlite3_step(s)) == SQLITE_ROW && n < j->u.get.limit) {
        storage_event_t *r = &rows[n++];
        r->id = (uint64_t)sqlite3_column_int64(s, 0);
        r->time_ms = sqlite3_column_int64(s, 1);
        r->type = col_dup(s, 2, &oom);
        r->app = col_dup(s, 3, &oom);
        r->name = col_dup(s, 4, &oom);
        r->data = col_dup(s, 5, &oom);
        if (oom || !r->type) {
            oom = 1;
            break;
        }
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW && rows)
        log_error(0, "storage: reading events: %s", sqlite3_errmsg(st->db));
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (oom || !rows) {
        storage_events_rows_free(rows, n);
        j->rc = NODE_ENOMEM;
    } else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        storage_events_rows_free(rows, n);
        j->rc = NODE_EIO;
    } else {
        j->u.get.rows = rows;
        j->u.get.n = n;
        j->rc = 0;
    }
}
