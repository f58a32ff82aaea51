/* storage_db: the database file at open (storage_internal.h): open and
 * check it (nothing is written to a refused file), the schema and its
 * migrations, the size and cache bounds, and the prepared statements.
 * Runs on the loop thread inside storage_open(), before the storage thread
 * exists, and in storage_migrate_file() (tests; no thread at all).
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "storage_internal.h"

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
    /* 5: recorders (spec: record_spec.h JSON) and the recorded files (spec:
     * their index row as JSON, node/record/record_index.c) */
    "CREATE TABLE recorders (id TEXT PRIMARY KEY, spec TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL);"
    "CREATE TABLE recordings (id TEXT PRIMARY KEY, spec TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL);",
};

_Static_assert(sizeof MIGRATIONS / sizeof MIGRATIONS[0] == STORAGE_SCHEMA_VERSION,
               "one migration per schema version");

void storage_db_fail(char *err, size_t errlen, const char *path, sqlite3 *db, int rc,
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

int storage_db_query_int(sqlite3 *db, const char *sql, int64_t *out)
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

/* The checks before anything is written: the schema version is one this
 * build knows, and quick_check passes. */
static int db_check(sqlite3 *db, const char *path, int64_t *uv, char *err, size_t errlen)
{
    int rc = storage_db_query_int(db, "PRAGMA user_version", uv);
    if (rc != SQLITE_OK) {
        storage_db_fail(err, errlen, path, db, rc, "reading the schema version");
        return -1;
    }
    if (*uv > STORAGE_SCHEMA_VERSION || *uv < 0) {
        snprintf(err, errlen,
                 "%s: database was written by a newer weir (schema %lld, this build knows %d)",
                 path, (long long)*uv, STORAGE_SCHEMA_VERSION);
        return -1;
    }
    char line[256];
    rc = query_text(db, "PRAGMA quick_check", line, sizeof line);
    if (rc != SQLITE_OK) {
        storage_db_fail(err, errlen, path, db, rc, "quick_check");
        return -1;
    }
    if (strcmp(line, "ok") != 0) {
        /* the first row may be "*** in database main ***\nPage 5: ...\n..." */
        const char *first = line;
        if (strncmp(first, "*** ", 4) == 0 && strchr(first, '\n'))
            first = strchr(first, '\n') + 1;
        snprintf(err, errlen, "%s: database is corrupt: %.*s", path, (int)strcspn(first, "\n"),
                 first);
        return -1;
    }
    return 0;
}

/* WAL (checked: the answer must be "wal"), synchronous=FULL, foreign keys. */
static int db_modes(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    char mode[32];
    int rc = query_text(db, "PRAGMA journal_mode=WAL", mode, sizeof mode);
    if (rc != SQLITE_OK) {
        storage_db_fail(err, errlen, path, db, rc, "setting WAL mode");
        return -1;
    }
    if (strcmp(mode, "wal") != 0) {
        snprintf(err, errlen, "%s: cannot use WAL mode (journal_mode is %s)", path, mode);
        return -1;
    }
    rc = sqlite3_exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        storage_db_fail(err, errlen, path, db, rc, "setting pragmas");
        return -1;
    }
    return 0;
}

sqlite3 *storage_db_open(const char *path, int *version, char *err, size_t errlen)
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
        storage_db_fail(err, errlen, path, db, rc, "cannot open");
        sqlite3_close_v2(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, STORAGE_BUSY_TIMEOUT_MS);
    int64_t uv = 0;
    if (db_check(db, path, &uv, err, errlen) != 0 || db_modes(db, path, err, errlen) != 0) {
        sqlite3_close_v2(db);
        return NULL;
    }
    *version = (int)uv;
    return db;
}

int storage_db_migrate(sqlite3 *db, const char *path, int version, int target, char *err,
                       size_t errlen)
{
    for (int v = version + 1; v <= target; v++) {
        char sql[64];
        int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            storage_db_fail(err, errlen, path, db, rc, "migration: begin");
            return -1;
        }
        /* re-read under the write lock: another process may have migrated */
        int64_t uv = 0;
        rc = storage_db_query_int(db, "PRAGMA user_version", &uv);
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
            storage_db_fail(err, errlen, path, db, rc, what);
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
    sqlite3 *db = storage_db_open(path, &cur, err, errlen);
    if (!db)
        return -1;
    int rc = 0;
    if (cur > version) {
        snprintf(err, errlen, "%s: schema %d is newer than the requested %d", path, cur, version);
        rc = -1;
    } else {
        rc = storage_db_migrate(db, path, cur, version, err, errlen);
    }
    sqlite3_close_v2(db);
    return rc;
}

int storage_db_limits(storage_t *st, char *err, size_t errlen)
{
    char sql[64];
    int rc = SQLITE_OK;
    if (st->opts.cache_kb) {
        /* a negative cache_size is a bound in KiB, whatever the page size */
        snprintf(sql, sizeof sql, "PRAGMA cache_size = -%u", (unsigned)st->opts.cache_kb);
        rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            storage_db_fail(err, errlen, st->path, st->db, rc, "cache_size");
            return -1;
        }
    }
    if (!st->opts.max_size_mb)
        return 0;
    int64_t page = 0;
    rc = storage_db_query_int(st->db, "PRAGMA page_size", &page);
    if (rc != SQLITE_OK || page <= 0) {
        storage_db_fail(err, errlen, st->path, st->db, rc, "page_size");
        return -1;
    }
    int64_t pages = (int64_t)st->opts.max_size_mb * 1024 * 1024 / page;
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)pages);
    rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        storage_db_fail(err, errlen, st->path, st->db, rc, "max_page_count");
        return -1;
    }
    return 0;
}

int storage_db_prepare(storage_t *st, char *err, size_t errlen)
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
        /* ?3: NULL, or ",type1,type2," (storage_events_get()) */
        {offsetof(storage_t, s_get),
         "SELECT id, time_ms, type, app, name, data FROM events WHERE id > ?1"
         " AND (?3 IS NULL OR instr(?3, ',' || type || ',') > 0) ORDER BY id LIMIT ?2"},
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
        {offsetof(storage_t, s_recorder_put),
         "INSERT INTO recorders (id, spec, updated_ms) VALUES (?1, ?2, ?3) ON CONFLICT (id)"
         " DO UPDATE SET spec = excluded.spec, updated_ms = excluded.updated_ms"},
        {offsetof(storage_t, s_recorder_del), "DELETE FROM recorders WHERE id = ?1"},
        {offsetof(storage_t, s_recording_put),
         "INSERT INTO recordings (id, spec, updated_ms) VALUES (?1, ?2, ?3) ON CONFLICT (id)"
         " DO UPDATE SET spec = excluded.spec, updated_ms = excluded.updated_ms"},
        {offsetof(storage_t, s_recording_del), "DELETE FROM recordings WHERE id = ?1"},
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
            storage_db_fail(err, errlen, st->path, st->db, rc, "preparing statements");
            return -1;
        }
    }
    return 0;
}

void storage_db_finalize(storage_t *st)
{
    sqlite3_stmt **all[] = {&st->s_begin,    &st->s_commit,   &st->s_rollback,  &st->s_insert,
                            &st->s_get,      &st->s_setting,  &st->s_relay_put, &st->s_relay_del,
                            &st->s_hook_put, &st->s_hook_del, &st->s_keep_rows, &st->s_keep_age,
                            &st->s_recorder_put, &st->s_recorder_del, &st->s_recording_put,
                            &st->s_recording_del};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        sqlite3_finalize(*all[i]);
        *all[i] = NULL;
    }
}
