/* storage_write: the durable writes (storage_internal.h): settings,
 * relays and hooks. The loop thread queues them (storage_setting_put(),
 * storage_relay_put() ...; the done callback runs on the loop thread); the
 * storage thread runs each as one statement in its own transaction
 * (storage_write_run()).
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "storage_internal.h"

/* Queues a durable write job: key and value (NULL for a delete) copied. */
static int write_job(storage_t *st, job_kind_t kind, const char *key, const char *value,
                     storage_done_cb done, void *arg)
{
    size_t kl = strlen(key) + 1, vl = value ? strlen(value) + 1 : 0;
    job_t *j = malloc(sizeof *j + kl + vl);
    if (!j)
        return NODE_ENOMEM;
    j->kind = kind;
    j->rc = 0;
    char *p = j->buf;
    j->u.set.key = storage_queue_copy(&p, key);
    j->u.set.value = storage_queue_copy(&p, value);
    j->u.set.done = done;
    j->u.set.arg = arg;
    int rc = storage_queue_push(st, j);
    if (rc != 0)
        free(j);
    return rc;
}

int storage_setting_put(storage_t *st, const char *key, const char *value, storage_done_cb done,
                        void *arg)
{
    if (!key || !value)
        return NODE_EINVAL;
    return write_job(st, JOB_SETTING, key, value, done, arg);
}

int storage_relay_put(storage_t *st, const char *id, const char *spec_json, storage_done_cb done,
                      void *arg)
{
    if (!st || !id || !spec_json)
        return NODE_EINVAL;
    return write_job(st, JOB_RELAY_PUT, id, spec_json, done, arg);
}

int storage_relay_delete(storage_t *st, const char *id, storage_done_cb done, void *arg)
{
    if (!st || !id)
        return NODE_EINVAL;
    return write_job(st, JOB_RELAY_DEL, id, NULL, done, arg);
}

int storage_hook_put(storage_t *st, const char *id, const char *spec_json, storage_done_cb done,
                     void *arg)
{
    if (!st || !id || !spec_json)
        return NODE_EINVAL;
    return write_job(st, JOB_HOOK_PUT, id, spec_json, done, arg);
}

int storage_hook_delete(storage_t *st, const char *id, storage_done_cb done, void *arg)
{
    if (!st || !id)
        return NODE_EINVAL;
    return write_job(st, JOB_HOOK_DEL, id, NULL, done, arg);
}

int storage_recorder_put(storage_t *st, const char *id, const char *spec_json,
                         storage_done_cb done, void *arg)
{
    if (!st || !id || !spec_json)
        return NODE_EINVAL;
    return write_job(st, JOB_RECORDER_PUT, id, spec_json, done, arg);
}

int storage_recorder_delete(storage_t *st, const char *id, storage_done_cb done, void *arg)
{
    if (!st || !id)
        return NODE_EINVAL;
    return write_job(st, JOB_RECORDER_DEL, id, NULL, done, arg);
}

int storage_recording_put(storage_t *st, const char *id, const char *row_json,
                          storage_done_cb done, void *arg)
{
    if (!st || !id || !row_json)
        return NODE_EINVAL;
    return write_job(st, JOB_RECORDING_PUT, id, row_json, done, arg);
}

int storage_recording_delete(storage_t *st, const char *id, storage_done_cb done, void *arg)
{
    if (!st || !id)
        return NODE_EINVAL;
    return write_job(st, JOB_RECORDING_DEL, id, NULL, done, arg);
}

/* ---- on the storage thread ---------------------------------------------- */

/* A durable write (setting, relay or hook put or delete): one statement in its own
 * (autocommit) transaction, so SQLITE_DONE means committed and a failure
 * leaves nothing behind. */
void storage_write_run(storage_t *st, job_t *j)
{
    static const struct {
        job_kind_t kind;
        size_t off;
        const char *what;
    } KINDS[] = {
        {JOB_RELAY_PUT, offsetof(storage_t, s_relay_put), "write relay"},
        {JOB_RELAY_DEL, offsetof(storage_t, s_relay_del), "delete relay"},
        {JOB_HOOK_PUT, offsetof(storage_t, s_hook_put), "write hook"},
        {JOB_HOOK_DEL, offsetof(storage_t, s_hook_del), "delete hook"},
        {JOB_RECORDER_PUT, offsetof(storage_t, s_recorder_put), "write recorder"},
        {JOB_RECORDER_DEL, offsetof(storage_t, s_recorder_del), "delete recorder"},
        {JOB_RECORDING_PUT, offsetof(storage_t, s_recording_put), "write recording"},
        {JOB_RECORDING_DEL, offsetof(storage_t, s_recording_del), "delete recording"},
    };
    sqlite3_stmt *s = st->s_setting;
    const char *what = "write setting";
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++) {
        if (KINDS[i].kind == j->kind) {
            s = *(sqlite3_stmt **)((char *)st + KINDS[i].off);
            what = KINDS[i].what;
        }
    }
    int del = j->kind == JOB_RELAY_DEL || j->kind == JOB_HOOK_DEL ||
              j->kind == JOB_RECORDER_DEL || j->kind == JOB_RECORDING_DEL;
    if (!storage_health_write_allowed(st)) {
        j->rc = NODE_EIO; /* nothing written: the file is lost, or stopping and locked */
        if (atomic_load(&st->stop_deadline_ms))
            st->stop_lost_writes++;
        return;
    }
    sqlite3_bind_text(s, 1, j->u.set.key, -1, SQLITE_STATIC);
    if (!del) {
        sqlite3_bind_text(s, 2, j->u.set.value, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, weir_wall_ms());
    }
    int rc = storage_health_step_done(st, s);
    if (rc == SQLITE_DONE) {
        j->rc = 0;
    } else {
        storage_health_write_error(st, what, rc);
        j->rc = NODE_EIO;
        if (atomic_load(&st->stop_deadline_ms))
            st->stop_lost_writes++;
        if (!sqlite3_get_autocommit(st->db)) /* not expected: autocommit undoes it */
            storage_health_step_done(st, st->s_rollback);
        if ((rc & 0xff) == SQLITE_FULL)
            storage_events_retain(st);
    }
}
