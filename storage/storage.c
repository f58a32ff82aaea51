/* storage: SQLite state on its own thread. See storage.h and README.md.
 *
 * Open (storage_open, loop thread): open, check, migrate, load identity,
 * settings, relays and hooks, prepare the statements, then start the thread; from
 * then on only the storage thread touches the connection, until
 * storage_close() has joined it (pthread_create/pthread_join order those
 * hand-overs, so the connection is opened SQLITE_OPEN_NOMUTEX).
 *
 * Jobs: the loop thread appends to a bounded FIFO (mu, work_cv). The thread
 * takes the whole list at once and runs it in order: consecutive event
 * inserts share one transaction, committed before any other job runs; a
 * setting, relay or hook write is one statement in its own transaction. Jobs
 * with a callback go to the done list (mu) and the thread pokes the eventfd;
 * the loop (or storage_sync) takes the done list and calls back.
 */
#include "storage.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "common.h"
#include "log.h"

#define STORAGE_QUEUE_DEFAULT 8192u
#define STORAGE_BUSY_TIMEOUT_MS 5000
#define STORAGE_BATCH_MAX 1024u         /* inserts per transaction at most */
#define STORAGE_RETAIN_DELETE_MAX 10000 /* rows deleted per rule per batch at most */
#define STORAGE_ERRLOG_INTERVAL_MS 10000
#define STORAGE_GET_MAX 1000u
#define STORAGE_NODE_ID_LEN 36
#define STORAGE_CHECK_MS 1000 /* an idle thread checks the files this often */

/* ---- schema ------------------------------------------------------------- */

/* MIGRATIONS[i] takes the schema from version i to i + 1. Append only. */
static const char *const MIGRATIONS[] = {
    /* 1: identity and event log */
    "CREATE TABLE node (id TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE events (id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,"
    " type TEXT NOT NULL, app TEXT, name TEXT, data TEXT);"
    "CREATE INDEX events_time_ms ON events (time_ms);",
    /* 2: settings */
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL);",
    /* 3: relays (spec: relay_spec.h JSON) */
    "CREATE TABLE relays (id TEXT PRIMARY KEY, spec TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL);",
    /* 4: webhook targets (spec: hook_spec.h storage JSON, secret included) */
    "CREATE TABLE hooks (id TEXT PRIMARY KEY, spec TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL);",
};

_Static_assert(sizeof MIGRATIONS / sizeof MIGRATIONS[0] == STORAGE_SCHEMA_VERSION,
               "one migration per schema version");

/* ---- types -------------------------------------------------------------- */

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

    /* prepared once at open, used by the storage thread */
    sqlite3_stmt *s_begin, *s_commit, *s_rollback;
    sqlite3_stmt *s_insert, *s_get, *s_setting;
    sqlite3_stmt *s_relay_put, *s_relay_del;
    sqlite3_stmt *s_hook_put, *s_hook_del;
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
     * replaced (file_check(), storage thread). */
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

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- open, check, migrate (synchronous) --------------------------------- */

/* Describes a failed SQLite call on the file at path. */
static void db_fail(char *err, size_t errlen, const char *path, sqlite3 *db, int rc,
                    const char *what)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_NOTADB: snprintf(err, errlen, "%s: file is not a database", path); break;
    case SQLITE_CORRUPT:
        snprintf(err, errlen, "%s: database is corrupt: %s: %s", path, what, msg);
        break;
    default: snprintf(err, errlen, "%s: %s: %s", path, what, msg); break;
    }
}

/* mkdir -p of the folder holding path. */
static int mkdir_parent(const char *path, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof dir) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "%s: cannot create folder %s: %s", path, dir, strerror(errno));
            return -1;
        }
        if (c == '\0')
            return 0;
        *p = c;
    }
}

/* Runs a statement returning one integer row. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        *out = 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

/* Runs a statement returning one text row, copied into out. */
static int query_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    out[0] = '\0';
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        snprintf(out, outlen, "%s", t ? (const char *)t : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

/* Opens path and checks it: a database, not from a newer build, not corrupt;
 * then WAL, synchronous=FULL, foreign keys. Nothing is written to a file that
 * is refused. Sets *version to its user_version. */
static sqlite3 *db_open(const char *path, int *version, char *err, size_t errlen)
{
    if (!*path) { /* SQLite would open a private temporary database */
        snprintf(err, errlen, "storage: empty database path");
        return NULL;
    }
    if (mkdir_parent(path, err, errlen) != 0)
        return NULL;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(
        path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        db_fail(err, errlen, path, db, rc, "cannot open");
        sqlite3_close_v2(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, STORAGE_BUSY_TIMEOUT_MS);

    int64_t uv = 0;
    rc = query_int(db, "PRAGMA user_version", &uv);
    if (rc != SQLITE_OK) {
        db_fail(err, errlen, path, db, rc, "reading the schema version");
        goto fail;
    }
    if (uv > STORAGE_SCHEMA_VERSION || uv < 0) {
        snprintf(err, errlen,
                 "%s: database was written by a newer weir (schema %lld, this build knows %d)",
                 path, (long long)uv, STORAGE_SCHEMA_VERSION);
        goto fail;
    }

    char line[256];
    rc = query_text(db, "PRAGMA quick_check", line, sizeof line);
    if (rc != SQLITE_OK) {
        db_fail(err, errlen, path, db, rc, "quick_check");
        goto fail;
    }
    if (strcmp(line, "ok") != 0) {
        /* the first row may be "*** in database main ***\nPage 5: ...\n..." */
        const char *first = line;
        if (strncmp(first, "*** ", 4) == 0 && strchr(first, '\n'))
            first = strchr(first, '\n') + 1;
        snprintf(err, errlen, "%s: database is corrupt: %.*s", path, (int)strcspn(first, "\n"),
                 first);
        goto fail;
    }

    char mode[32];
    rc = query_text(db, "PRAGMA journal_mode=WAL", mode, sizeof mode);
    if (rc != SQLITE_OK) {
        db_fail(err, errlen, path, db, rc, "setting WAL mode");
        goto fail;
    }
    if (strcmp(mode, "wal") != 0) {
        snprintf(err, errlen, "%s: cannot use WAL mode (journal_mode is %s)", path, mode);
        goto fail;
    }
    rc = sqlite3_exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        db_fail(err, errlen, path, db, rc, "setting pragmas");
        goto fail;
    }
    *version = (int)uv;
    return db;
fail:
    sqlite3_close_v2(db);
    return NULL;
}

/* Applies the migrations after *version up to target, each in its own
 * transaction together with its user_version. */
static int db_migrate(sqlite3 *db, const char *path, int version, int target, char *err,
                      size_t errlen)
{
    for (int v = version + 1; v <= target; v++) {
        char sql[64];
        int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            db_fail(err, errlen, path, db, rc, "migration: begin");
            return -1;
        }
        /* re-read under the write lock: another process may have migrated */
        int64_t uv = 0;
        rc = query_int(db, "PRAGMA user_version", &uv);
        if (rc == SQLITE_OK && uv < v)
            rc = sqlite3_exec(db, MIGRATIONS[v - 1], NULL, NULL, NULL);
        if (rc == SQLITE_OK && uv < v) {
            /* a PRAGMA takes no parameters; v is our own constant */
            snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
            rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        }
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            char what[48];
            snprintf(what, sizeof what, "migration to schema %d", v);
            db_fail(err, errlen, path, db, rc, what);
            if (!sqlite3_get_autocommit(db))
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    return 0;
}

int storage_migrate_file(const char *path, int version, char *err, size_t errlen)
{
    if (version < 1 || version > STORAGE_SCHEMA_VERSION) {
        snprintf(err, errlen, "%s: no schema version %d (1..%d)", path, version,
                 STORAGE_SCHEMA_VERSION);
        return -1;
    }
    int cur = 0;
    sqlite3 *db = db_open(path, &cur, err, errlen);
    if (!db)
        return -1;
    int rc = 0;
    if (cur > version) {
        snprintf(err, errlen, "%s: schema %d is newer than the requested %d", path, cur, version);
        rc = -1;
    } else {
        rc = db_migrate(db, path, cur, version, err, errlen);
    }
    sqlite3_close_v2(db);
    return rc;
}

static void uuid_v4(const uint8_t b[16], char out[STORAGE_NODE_ID_LEN + 1])
{
    uint8_t u[16];
    memcpy(u, b, 16);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[u[i] >> 4];
        *o++ = hex[u[i] & 0x0f];
    }
    *o = '\0';
}

/* Reads the node id, creating it on first start. */
static int load_node_id(storage_t *st, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(st->db, "SELECT id FROM node ORDER BY rowid LIMIT 1", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            const unsigned char *id = sqlite3_column_text(s, 0);
            if (!id || strlen((const char *)id) != STORAGE_NODE_ID_LEN) {
                snprintf(err, errlen, "%s: database is corrupt: malformed node id", st->path);
                sqlite3_finalize(s);
                sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
                return -1;
            }
            memcpy(st->node_id, id, STORAGE_NODE_ID_LEN + 1);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            uint8_t b[16];
            if (RAND_bytes(b, sizeof b) != 1) {
                snprintf(err, errlen, "%s: cannot generate the node id (RAND_bytes)", st->path);
                sqlite3_finalize(s);
                sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
                return -1;
            }
            uuid_v4(b, st->node_id);
            sqlite3_finalize(s);
            s = NULL;
            rc = sqlite3_prepare_v2(st->db, "INSERT INTO node (id, created_ms) VALUES (?1, ?2)", -1,
                                    &s, NULL);
            if (rc == SQLITE_OK) {
                sqlite3_bind_text(s, 1, st->node_id, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 2, wall_ms());
                rc = sqlite3_step(s);
                if (rc == SQLITE_DONE)
                    rc = SQLITE_OK;
            }
        }
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        db_fail(err, errlen, st->path, st->db, rc, "node id");
        if (!sqlite3_get_autocommit(st->db))
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static int load_settings(storage_t *st, char *err, size_t errlen)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(st->db, "SELECT key, value FROM settings", -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(s, 0);
        const char *v = (const char *)sqlite3_column_text(s, 1);
        setting_t *ns = realloc(st->settings, (st->nsettings + 1) * sizeof *ns);
        if (!ns) {
            rc = SQLITE_NOMEM;
            break;
        }
        st->settings = ns;
        setting_t *e = &st->settings[st->nsettings];
        e->key = strdup(k ? k : "");
        e->value = strdup(v ? v : "");
        if (!e->key || !e->value) {
            free(e->key);
            free(e->value);
            rc = SQLITE_NOMEM;
            break;
        }
        st->nsettings++;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        db_fail(err, errlen, st->path, st->db, rc, "loading settings");
        return -1;
    }
    return 0;
}

/* Loads the rows of a spec table (relays, hooks: id, spec) ordered by id
 * into *rows / *n (strings malloc'ed). */
static int load_specs(storage_t *st, const char *table, storage_spec_t **rows, size_t *n, char *err,
                      size_t errlen)
{
    char sql[64], what[32];
    snprintf(sql, sizeof sql, "SELECT id, spec FROM %s ORDER BY id", table);
    snprintf(what, sizeof what, "loading %s", table);
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(s, 0);
        const char *spec = (const char *)sqlite3_column_text(s, 1);
        storage_spec_t *nr = realloc(*rows, (*n + 1) * sizeof *nr);
        if (!nr) {
            rc = SQLITE_NOMEM;
            break;
        }
        *rows = nr;
        char *i = strdup(id ? id : ""), *v = strdup(spec ? spec : "");
        if (!i || !v) {
            free(i);
            free(v);
            rc = SQLITE_NOMEM;
            break;
        }
        nr[*n].id = i;
        nr[*n].spec = v;
        (*n)++;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        db_fail(err, errlen, st->path, st->db, rc, what);
        return -1;
    }
    return 0;
}

static void free_specs(storage_spec_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)rows[i].id);
        free((char *)rows[i].spec);
    }
    free(rows);
}

static int prepare_all(storage_t *st, char *err, size_t errlen)
{
    static const struct {
        size_t off;
        const char *sql;
    } STMTS[] = {
        {offsetof(storage_t, s_begin), "BEGIN IMMEDIATE"},
        {offsetof(storage_t, s_commit), "COMMIT"},
        {offsetof(storage_t, s_rollback), "ROLLBACK"},
        {offsetof(storage_t, s_insert), "INSERT INTO events (id, time_ms, type, app, name, data)"
                                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
        {offsetof(storage_t, s_get), "SELECT id, time_ms, type, app, name, data FROM events"
                                     " WHERE id > ?1 ORDER BY id LIMIT ?2"},
        {offsetof(storage_t, s_setting),
         "INSERT OR REPLACE INTO settings (key, value, updated_ms) VALUES (?1, ?2, ?3)"},
        {offsetof(storage_t, s_relay_put),
         "INSERT INTO relays (id, spec, updated_ms) VALUES (?1, ?2, ?3) ON CONFLICT (id)"
         " DO UPDATE SET spec = excluded.spec, updated_ms = excluded.updated_ms"},
        {offsetof(storage_t, s_relay_del), "DELETE FROM relays WHERE id = ?1"},
        {offsetof(storage_t, s_hook_put),
         "INSERT INTO hooks (id, spec, updated_ms) VALUES (?1, ?2, ?3) ON CONFLICT (id)"
         " DO UPDATE SET spec = excluded.spec, updated_ms = excluded.updated_ms"},
        {offsetof(storage_t, s_hook_del), "DELETE FROM hooks WHERE id = ?1"},
        /* bounded work per batch: at most ?2 rows per rule */
        {offsetof(storage_t, s_keep_rows),
         "DELETE FROM events WHERE id IN (SELECT id FROM events"
         " WHERE id <= (SELECT max(id) FROM events) - ?1 ORDER BY id LIMIT ?2)"},
        {offsetof(storage_t, s_keep_age), "DELETE FROM events WHERE id IN (SELECT id FROM events"
                                          " WHERE time_ms < ?1 ORDER BY time_ms LIMIT ?2)"},
    };
    for (size_t i = 0; i < sizeof STMTS / sizeof STMTS[0]; i++) {
        sqlite3_stmt **sp = (sqlite3_stmt **)((char *)st + STMTS[i].off);
        int rc = sqlite3_prepare_v3(st->db, STMTS[i].sql, -1, SQLITE_PREPARE_PERSISTENT, sp, NULL);
        if (rc != SQLITE_OK) {
            db_fail(err, errlen, st->path, st->db, rc, "preparing statements");
            return -1;
        }
    }
    return 0;
}

static void finalize_all(storage_t *st)
{
    sqlite3_stmt **all[] = {&st->s_begin,    &st->s_commit,   &st->s_rollback,  &st->s_insert,
                            &st->s_get,      &st->s_setting,  &st->s_relay_put, &st->s_relay_del,
                            &st->s_hook_put, &st->s_hook_del, &st->s_keep_rows, &st->s_keep_age};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        sqlite3_finalize(*all[i]);
        *all[i] = NULL;
    }
}

/* ---- jobs --------------------------------------------------------------- */

static void rows_free(storage_event_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)rows[i].type);
        free((char *)rows[i].app);
        free((char *)rows[i].name);
        free((char *)rows[i].data);
    }
    free(rows);
}

static void job_free(job_t *j)
{
    if (j->kind == JOB_GET)
        rows_free(j->u.get.rows, j->u.get.n);
    free(j);
}

/* Appends j to the queue, or returns NODE_ELIMIT when it is full. */
static int enqueue(storage_t *st, job_t *j)
{
    pthread_mutex_lock(&st->mu);
    if (st->pending >= st->opts.queue_max || st->stop) {
        pthread_mutex_unlock(&st->mu);
        return NODE_ELIMIT;
    }
    j->next = NULL;
    if (st->q_tail)
        st->q_tail->next = j;
    else
        st->q_head = j;
    st->q_tail = j;
    st->pending++;
    st->seq_queued++;
    atomic_store(&st->queue_depth, st->pending);
    pthread_cond_signal(&st->work_cv);
    pthread_mutex_unlock(&st->mu);
    return 0;
}

/* Calls back and frees every job of list, in order, on this thread. */
static void deliver(job_t *list)
{
    while (list) {
        job_t *j = list;
        list = j->next;
        if (j->kind == JOB_GET && j->u.get.done)
            j->u.get.done(j->u.get.arg, j->rc, j->rc == 0 ? j->u.get.rows : NULL,
                          j->rc == 0 ? j->u.get.n : 0);
        else if (j->kind == JOB_LOST && j->u.lost.cb)
            j->u.lost.cb(j->u.lost.arg, j->u.lost.why);
        else if (j->kind != JOB_GET && j->kind != JOB_LOST && j->u.set.done)
            j->u.set.done(j->u.set.arg, j->rc);
        job_free(j);
    }
}

static void drain_efd(storage_t *st)
{
    uint64_t v;
    ssize_t r = read(st->efd, &v, sizeof v);
    (void)r; /* EAGAIN: nothing signalled since the last drain */
}

/* Under mu. The eventfd is drained first: the thread pokes it (under mu)
 * after every addition, so nothing added later goes unsignalled. */
static job_t *take_done(storage_t *st)
{
    drain_efd(st);
    job_t *list = st->d_head;
    st->d_head = st->d_tail = NULL;
    return list;
}

static void on_done_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    storage_t *st = arg;
    pthread_mutex_lock(&st->mu);
    job_t *list = take_done(st);
    pthread_mutex_unlock(&st->mu);
    deliver(list); /* st is not touched from here: a callback may close it */
}

static char *copy_str(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = memcpy(*p, s, n);
    *p += n;
    return d;
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
    j->u.put.type = copy_str(&p, ev->type);
    j->u.put.app = copy_str(&p, ev->app);
    j->u.put.name = copy_str(&p, ev->name);
    j->u.put.data = copy_str(&p, ev->data);
    int rc = enqueue(st, j);
    if (rc != 0) {
        free(j);
        atomic_fetch_add(&st->events_dropped, 1);
    }
    return rc;
}

int storage_events_get(storage_t *st, uint64_t after, uint32_t limit, storage_events_cb done,
                       void *arg)
{
    if (!done || limit < 1 || limit > STORAGE_GET_MAX)
        return NODE_EINVAL;
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NODE_ENOMEM;
    j->kind = JOB_GET;
    j->u.get.after = after;
    j->u.get.limit = limit;
    j->u.get.done = done;
    j->u.get.arg = arg;
    int rc = enqueue(st, j);
    if (rc != 0)
        free(j);
    return rc;
}

/* Queues a durable write job: key and value (NULL for a delete) copied. */
static int write_put(storage_t *st, job_kind_t kind, const char *key, const char *value,
                     storage_done_cb done, void *arg)
{
    size_t kl = strlen(key) + 1, vl = value ? strlen(value) + 1 : 0;
    job_t *j = malloc(sizeof *j + kl + vl);
    if (!j)
        return NODE_ENOMEM;
    j->kind = kind;
    j->rc = 0;
    char *p = j->buf;
    j->u.set.key = copy_str(&p, key);
    j->u.set.value = copy_str(&p, value);
    j->u.set.done = done;
    j->u.set.arg = arg;
    int rc = enqueue(st, j);
    if (rc != 0)
        free(j);
    return rc;
}

int storage_setting_put(storage_t *st, const char *key, const char *value, storage_done_cb done,
                        void *arg)
{
    if (!key || !value)
        return NODE_EINVAL;
    return write_put(st, JOB_SETTING, key, value, done, arg);
}

int storage_relay_put(storage_t *st, const char *id, const char *spec_json, storage_done_cb done,
                      void *arg)
{
    if (!st || !id || !spec_json)
        return NODE_EINVAL;
    return write_put(st, JOB_RELAY_PUT, id, spec_json, done, arg);
}

int storage_relay_delete(storage_t *st, const char *id, storage_done_cb done, void *arg)
{
    if (!st || !id)
        return NODE_EINVAL;
    return write_put(st, JOB_RELAY_DEL, id, NULL, done, arg);
}

int storage_hook_put(storage_t *st, const char *id, const char *spec_json, storage_done_cb done,
                     void *arg)
{
    if (!st || !id || !spec_json)
        return NODE_EINVAL;
    return write_put(st, JOB_HOOK_PUT, id, spec_json, done, arg);
}

int storage_hook_delete(storage_t *st, const char *id, storage_done_cb done, void *arg)
{
    if (!st || !id)
        return NODE_EINVAL;
    return write_put(st, JOB_HOOK_DEL, id, NULL, done, arg);
}

/* ---- the storage thread ------------------------------------------------- */

/* ---- lost files and the stop budget (storage thread) -------------------- */

/* Appends j to the done list and pokes the loop. Under mu. */
static void done_push(storage_t *st, job_t *j)
{
    j->next = NULL;
    if (st->d_tail)
        st->d_tail->next = j;
    else
        st->d_head = j;
    st->d_tail = j;
    uint64_t one = 1;
    ssize_t w = write(st->efd, &one, sizeof one);
    (void)w; /* EAGAIN only if the counter is saturated: still readable */
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
        done_push(st, j);
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
static int file_check(storage_t *st)
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

/* Before a write transaction: 1 if it may run. Not once the file is lost,
 * nor when stopping past the budget or after a write met the lock; else,
 * when stopping, its busy timeout is what is left of the budget. */
static int write_allowed(storage_t *st)
{
    if (file_check(st) != 0)
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
static void write_error(storage_t *st, const char *what, int rc)
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

/* Keeps the message of a failed step for write_error(), before a reset or
 * a rollback replaces it. */
static int step_checked(storage_t *st, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        snprintf(st->errmsg, sizeof st->errmsg, "%s", sqlite3_errmsg(st->db));
    return rc;
}

/* Steps a statement that returns no rows; resets it. Returns the step rc. */
static int step_done(storage_t *st, sqlite3_stmt *s)
{
    int rc = step_checked(st, s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

static void batch_rollback(storage_t *st, batch_t *b)
{
    if (!sqlite3_get_autocommit(st->db))
        step_done(st, st->s_rollback);
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
        int rc = step_done(st, st->s_keep_rows);
        if (rc != SQLITE_DONE) {
            write_error(st, "retention (max rows)", rc);
            if (sqlite3_get_autocommit(st->db))
                return -1;
        }
    }
    if (st->opts.events_max_age_days) {
        int64_t cut = wall_ms() - (int64_t)st->opts.events_max_age_days * 86400000;
        sqlite3_bind_int64(st->s_keep_age, 1, cut);
        sqlite3_bind_int(st->s_keep_age, 2, STORAGE_RETAIN_DELETE_MAX);
        int rc = step_done(st, st->s_keep_age);
        if (rc != SQLITE_DONE) {
            write_error(st, "retention (max age)", rc);
            if (sqlite3_get_autocommit(st->db))
                return -1;
        }
    }
    return 0;
}

/* Retention in a transaction of its own: after a batch was lost to a full
 * database, so that rows past the limits (aged out since the last commit)
 * still make room for the next batch. */
static void retain_alone(storage_t *st)
{
    if ((!st->opts.events_max_rows && !st->opts.events_max_age_days) || !write_allowed(st))
        return;
    int rc = step_done(st, st->s_begin);
    if (rc != SQLITE_DONE) {
        write_error(st, "begin (retention)", rc);
        return;
    }
    if (retain(st) == 0) {
        rc = step_done(st, st->s_commit);
        if (rc != SQLITE_DONE)
            write_error(st, "commit (retention)", rc);
    }
    if (!sqlite3_get_autocommit(st->db))
        step_done(st, st->s_rollback);
}

/* Commits the batch (after retention) and starts a new one. */
static void batch_end(storage_t *st, batch_t *b)
{
    if (b->open) {
        int ok = b->rows == 0 || retain(st) == 0;
        if (ok) {
            int rc = step_done(st, st->s_commit);
            if (rc == SQLITE_DONE) {
                atomic_fetch_add(&st->events_written, b->rows);
            } else {
                write_error(st, "commit", rc);
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
        retain_alone(st);
}

static void batch_insert(storage_t *st, batch_t *b, const storage_event_t *ev)
{
    if (b->jobs == STORAGE_BATCH_MAX)
        batch_end(st, b);
    b->jobs++;
    if (b->lost) {
        b->nlost++;
        return;
    }
    if (!b->open && !write_allowed(st)) {
        b->lost = 1; /* the file is lost, or stopping with the database locked */
        b->nlost++;
        return;
    }
    if (!b->open) {
        int rc = step_done(st, st->s_begin);
        if (rc != SQLITE_DONE) {
            write_error(st, "begin", rc);
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
    int rc = step_checked(st, s);
    if (rc == SQLITE_DONE) {
        b->rows++;
    } else {
        write_error(st, "insert event", rc);
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

static void run_get(storage_t *st, job_t *j)
{
    sqlite3_stmt *s = st->s_get;
    uint64_t after = j->u.get.after > INT64_MAX ? INT64_MAX : j->u.get.after;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)after);
    sqlite3_bind_int(s, 2, (int)j->u.get.limit);
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
        rows_free(rows, n);
        j->rc = NODE_ENOMEM;
    } else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        rows_free(rows, n);
        j->rc = NODE_EIO;
    } else {
        j->u.get.rows = rows;
        j->u.get.n = n;
        j->rc = 0;
    }
}

/* A durable write (setting, relay or hook put or delete): one statement in its own
 * (autocommit) transaction, so SQLITE_DONE means committed and a failure
 * leaves nothing behind. */
static void run_write(storage_t *st, job_t *j)
{
    sqlite3_stmt *s;
    const char *what;
    switch (j->kind) {
    case JOB_RELAY_PUT:
        s = st->s_relay_put;
        what = "write relay";
        break;
    case JOB_RELAY_DEL:
        s = st->s_relay_del;
        what = "delete relay";
        break;
    case JOB_HOOK_PUT:
        s = st->s_hook_put;
        what = "write hook";
        break;
    case JOB_HOOK_DEL:
        s = st->s_hook_del;
        what = "delete hook";
        break;
    default:
        s = st->s_setting;
        what = "write setting";
        break;
    }
    if (!write_allowed(st)) {
        j->rc = NODE_EIO; /* nothing written: the file is lost, or stopping and locked */
        if (atomic_load(&st->stop_deadline_ms))
            st->stop_lost_writes++;
        return;
    }
    sqlite3_bind_text(s, 1, j->u.set.key, -1, SQLITE_STATIC);
    if (j->kind != JOB_RELAY_DEL && j->kind != JOB_HOOK_DEL) {
        sqlite3_bind_text(s, 2, j->u.set.value, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, wall_ms());
    }
    int rc = step_done(st, s);
    if (rc == SQLITE_DONE) {
        j->rc = 0;
    } else {
        write_error(st, what, rc);
        j->rc = NODE_EIO;
        if (atomic_load(&st->stop_deadline_ms))
            st->stop_lost_writes++;
        if (!sqlite3_get_autocommit(st->db)) /* not expected: autocommit undoes it */
            step_done(st, st->s_rollback);
        if ((rc & 0xff) == SQLITE_FULL)
            retain_alone(st);
    }
}

/* Runs list in order. Inserts are freed here; the other jobs are returned,
 * in order, for their callbacks. */
static job_t *run_jobs(storage_t *st, job_t *list)
{
    job_t *done = NULL, **dtail = &done;
    batch_t b;
    memset(&b, 0, sizeof b);
    while (list) {
        job_t *j = list;
        list = j->next;
        j->next = NULL;
        if (j->kind == JOB_EVENT) {
            batch_insert(st, &b, &j->u.put);
            free(j);
            continue;
        }
        batch_end(st, &b); /* inserts before this job are committed first */
        if (j->kind == JOB_GET)
            run_get(st, j);
        else
            run_write(st, j);
        *dtail = j;
        dtail = &j->next;
    }
    batch_end(st, &b);
    return done;
}

/* Waits (under mu) for jobs or stop; while idle, checks the files every
 * STORAGE_CHECK_MS (mu released for the check). */
static void wait_for_work(storage_t *st)
{
    while (!st->q_head && !st->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += STORAGE_CHECK_MS / 1000;
        if (pthread_cond_timedwait(&st->work_cv, &st->mu, &ts) != ETIMEDOUT)
            continue;
        if (weir_mono_ms() - st->checked_ms < STORAGE_CHECK_MS)
            continue;
        pthread_mutex_unlock(&st->mu);
        file_check(st);
        pthread_mutex_lock(&st->mu);
    }
}

static void *storage_thread(void *arg)
{
    storage_t *st = arg;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        wait_for_work(st);
        if (!st->q_head)
            break; /* stop, and nothing left */
        job_t *list = st->q_head;
        st->q_head = st->q_tail = NULL;
        pthread_mutex_unlock(&st->mu);

        uint32_t n = 0;
        for (job_t *j = list; j; j = j->next)
            n++;
        job_t *done = run_jobs(st, list);

        pthread_mutex_lock(&st->mu);
        while (done) {
            job_t *next = done->next;
            done_push(st, done);
            done = next;
        }
        st->pending -= n;
        st->seq_done += n;
        atomic_store(&st->queue_depth, st->pending);
        pthread_cond_broadcast(&st->done_cv);
    }
    pthread_mutex_unlock(&st->mu);
    atomic_store(&st->thread_alive, 0);
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void storage_free(storage_t *st)
{
    if (st->ev)
        event_free(st->ev);
    if (st->efd >= 0)
        close(st->efd);
    finalize_all(st);
    sqlite3_close_v2(st->db);
    for (size_t i = 0; i < st->nsettings; i++) {
        free(st->settings[i].key);
        free(st->settings[i].value);
    }
    free(st->settings);
    free_specs(st->relays, st->nrelays);
    free_specs(st->hooks, st->nhooks);
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

/* Notes which files the database and its WAL are (file_check()). */
static int note_files(storage_t *st, char *err, size_t errlen)
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

storage_t *storage_open(const char *path, struct event_base *base, const storage_opts_t *opts,
                        char *err, size_t errlen)
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
        goto fail;
    }

    int version = 0;
    st->db = db_open(path, &version, err, errlen);
    if (!st->db)
        goto fail;
    if (db_migrate(st->db, path, version, STORAGE_SCHEMA_VERSION, err, errlen) != 0)
        goto fail;
    if (st->opts.cache_kb) {
        /* a negative cache_size is a bound in KiB, whatever the page size */
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA cache_size = -%u", (unsigned)st->opts.cache_kb);
        int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            db_fail(err, errlen, path, st->db, rc, "cache_size");
            goto fail;
        }
    }
    if (st->opts.max_size_mb) {
        int64_t page = 0;
        int rc = query_int(st->db, "PRAGMA page_size", &page);
        if (rc != SQLITE_OK || page <= 0) {
            db_fail(err, errlen, path, st->db, rc, "page_size");
            goto fail;
        }
        char sql[64];
        int64_t pages = (int64_t)st->opts.max_size_mb * 1024 * 1024 / page;
        snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)pages);
        rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            db_fail(err, errlen, path, st->db, rc, "max_page_count");
            goto fail;
        }
    }
    if (load_node_id(st, err, errlen) != 0 || load_settings(st, err, errlen) != 0 ||
        load_specs(st, "relays", &st->relays, &st->nrelays, err, errlen) != 0 ||
        load_specs(st, "hooks", &st->hooks, &st->nhooks, err, errlen) != 0)
        goto fail;
    int64_t last = 0;
    int rc = query_int(st->db, "SELECT max(id) FROM events", &last);
    if (rc != SQLITE_OK) {
        db_fail(err, errlen, path, st->db, rc, "reading the last event id");
        goto fail;
    }
    st->last_event_id = last > 0 ? (uint64_t)last : 0;
    if (prepare_all(st, err, errlen) != 0)
        goto fail;

    if (note_files(st, err, errlen) != 0)
        goto fail;
    st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (st->efd < 0) {
        snprintf(err, errlen, "%s: eventfd: %s", path, strerror(errno));
        goto fail;
    }
    if (base) {
        st->ev = event_new(base, st->efd, EV_READ | EV_PERSIST, on_done_event, st);
        if (!st->ev || event_add(st->ev, NULL) != 0) {
            snprintf(err, errlen, "%s: cannot register the completion event", path);
            goto fail;
        }
    }

    /* the thread takes no signals: they stay with the loop thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    atomic_store(&st->thread_alive, 1);
    rc = pthread_create(&st->thread, NULL, storage_thread, st);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        atomic_store(&st->thread_alive, 0);
        snprintf(err, errlen, "%s: cannot start the storage thread: %s", path, strerror(rc));
        goto fail;
    }
    st->thread_started = 1;
    pthread_setname_np(st->thread, "weir-storage");
    return st;
fail:
    storage_free(st);
    return NULL;
}

void storage_sync(storage_t *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    uint64_t target = st->seq_queued;
    while (st->seq_done < target && atomic_load(&st->thread_alive))
        pthread_cond_wait(&st->done_cv, &st->mu);
    job_t *list = take_done(st);
    pthread_mutex_unlock(&st->mu);
    deliver(list);
}

void storage_detach(storage_t *st)
{
    if (!st)
        return;
    if (st->ev) {
        event_free(st->ev);
        st->ev = NULL;
    }
    /* the lost callback's argument (the node) may be freed from now on */
    pthread_mutex_lock(&st->mu);
    st->detached = 1;
    for (job_t *j = st->d_head; j; j = j->next)
        if (j->kind == JOB_LOST)
            j->u.lost.cb = NULL;
    pthread_mutex_unlock(&st->mu);
}

void storage_stopping(storage_t *st)
{
    if (st && !atomic_load(&st->stop_deadline_ms))
        atomic_store(&st->stop_deadline_ms, weir_mono_ms() + STORAGE_STOP_BUDGET_MS);
}

void storage_close(storage_t *st)
{
    if (!st)
        return;
    /* callbacks run by a sync may queue more jobs: sync until quiet */
    for (;;) {
        storage_sync(st);
        pthread_mutex_lock(&st->mu);
        int quiet = st->seq_done == st->seq_queued && !st->d_head;
        if (quiet)
            st->stop = 1; /* from now on enqueue refuses */
        pthread_cond_signal(&st->work_cv);
        pthread_mutex_unlock(&st->mu);
        if (quiet)
            break;
    }
    if (st->thread_started)
        pthread_join(st->thread, NULL);
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
                  STORAGE_STOP_BUDGET_MS);
    pthread_mutex_lock(&st->mu);
    job_t *list = take_done(st);
    pthread_mutex_unlock(&st->mu);
    deliver(list);
    storage_free(st);
}

/* ---- accessors ---------------------------------------------------------- */

const char *storage_node_id(const storage_t *st)
{
    return st->node_id;
}

uint64_t storage_last_event_id(const storage_t *st)
{
    return st->last_event_id;
}

const char *storage_setting(const storage_t *st, const char *key)
{
    for (size_t i = 0; i < st->nsettings; i++)
        if (strcmp(st->settings[i].key, key) == 0)
            return st->settings[i].value;
    return NULL;
}

size_t storage_relays(const storage_t *st, const storage_relay_t **out)
{
    if (out)
        *out = st->relays;
    return st->nrelays;
}

size_t storage_hooks(const storage_t *st, const storage_hook_t **out)
{
    if (out)
        *out = st->hooks;
    return st->nhooks;
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
